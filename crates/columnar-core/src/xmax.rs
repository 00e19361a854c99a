//! How a row version's xmax and infomask bits change when a transaction locks, updates or
//! deletes it: the `static` parts of PostgreSQL 15's `heapam.c` that the `columnar` table must
//! reproduce to write the same `HeapTupleHeaderData` fields as the heap would.
//!
//! [`compute_new_xmax_infomask`] combines an existing xmax (a plain xid or a MultiXactId) with a
//! new locker or updater, creating or expanding a MultiXact when needed, and
//! [`does_multixact_conflict`] decides whether a MultiXact xmax blocks a tuple lock. Everything
//! only the server can answer (transaction status, MultiXact membership, creating MultiXacts) goes
//! through the [`Transactions`] trait, so the logic runs, and is tested, without PostgreSQL.
//!
//! Each function mirrors its C counterpart branch for branch; the C name is given in its doc.
//! The constants carry PostgreSQL's values so the extension can assert them against `pg_sys`.

/// `InvalidTransactionId`.
pub const INVALID_TRANSACTION_ID: u32 = 0;
/// `InvalidMultiXactId`.
pub const INVALID_MULTIXACT_ID: u32 = 0;

/// `TransactionIdIsValid`.
pub fn transaction_id_is_valid(xid: u32) -> bool {
    xid != INVALID_TRANSACTION_ID
}

/// `MultiXactIdIsValid`.
pub fn multixact_id_is_valid(multi: u32) -> bool {
    multi != INVALID_MULTIXACT_ID
}

// t_infomask bits (htup_details.h).
pub const HEAP_HASNULL: u16 = 0x0001;
pub const HEAP_HASVARWIDTH: u16 = 0x0002;
pub const HEAP_HASEXTERNAL: u16 = 0x0004;
pub const HEAP_HASOID_OLD: u16 = 0x0008;
pub const HEAP_XMAX_KEYSHR_LOCK: u16 = 0x0010;
pub const HEAP_COMBOCID: u16 = 0x0020;
pub const HEAP_XMAX_EXCL_LOCK: u16 = 0x0040;
pub const HEAP_XMAX_LOCK_ONLY: u16 = 0x0080;
/// A share lock is encoded as both lock bits at once.
pub const HEAP_XMAX_SHR_LOCK: u16 = HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_KEYSHR_LOCK;
pub const HEAP_LOCK_MASK: u16 = HEAP_XMAX_SHR_LOCK | HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_KEYSHR_LOCK;
pub const HEAP_XMIN_COMMITTED: u16 = 0x0100;
pub const HEAP_XMIN_INVALID: u16 = 0x0200;
pub const HEAP_XMIN_FROZEN: u16 = HEAP_XMIN_COMMITTED | HEAP_XMIN_INVALID;
pub const HEAP_XMAX_COMMITTED: u16 = 0x0400;
pub const HEAP_XMAX_INVALID: u16 = 0x0800;
pub const HEAP_XMAX_IS_MULTI: u16 = 0x1000;
pub const HEAP_UPDATED: u16 = 0x2000;
pub const HEAP_MOVED_OFF: u16 = 0x4000;
pub const HEAP_MOVED_IN: u16 = 0x8000;
pub const HEAP_MOVED: u16 = HEAP_MOVED_OFF | HEAP_MOVED_IN;
pub const HEAP_XACT_MASK: u16 = 0xFFF0;
/// The t_infomask bits describing xmax: all cleared before a new xmax's bits are or-ed in.
pub const HEAP_XMAX_BITS: u16 =
    HEAP_XMAX_COMMITTED | HEAP_XMAX_INVALID | HEAP_XMAX_IS_MULTI | HEAP_LOCK_MASK | HEAP_XMAX_LOCK_ONLY;

// t_infomask2 bits (htup_details.h).
pub const HEAP_NATTS_MASK: u16 = 0x07FF;
pub const HEAP_KEYS_UPDATED: u16 = 0x2000;
pub const HEAP_HOT_UPDATED: u16 = 0x4000;
pub const HEAP_ONLY_TUPLE: u16 = 0x8000;
pub const HEAP2_XACT_MASK: u16 = 0xE000;

// Heavyweight lock modes (lockdefs.h `LOCKMODE` values: `NoLock`, `AccessShareLock`, ...).
pub const NO_LOCK: u32 = 0;
pub const ACCESS_SHARE_LOCK: u32 = 1;
pub const ROW_SHARE_LOCK: u32 = 2;
pub const ROW_EXCLUSIVE_LOCK: u32 = 3;
pub const SHARE_UPDATE_EXCLUSIVE_LOCK: u32 = 4;
pub const SHARE_LOCK: u32 = 5;
pub const SHARE_ROW_EXCLUSIVE_LOCK: u32 = 6;
pub const EXCLUSIVE_LOCK: u32 = 7;
pub const ACCESS_EXCLUSIVE_LOCK: u32 = 8;
/// `MaxLockMode`.
pub const MAX_LOCK_MODE: u32 = 8;

/// Tuple lock strength, weakest first (lockoptions.h `LockTupleMode`); the order matters, as
/// PostgreSQL compares modes with `<`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum LockTupleMode {
    /// SELECT FOR KEY SHARE
    KeyShare = 0,
    /// SELECT FOR SHARE
    Share = 1,
    /// SELECT FOR NO KEY UPDATE, and UPDATEs that don't modify key columns
    NoKeyExclusive = 2,
    /// SELECT FOR UPDATE, UPDATEs that modify key columns, and DELETE
    Exclusive = 3,
}

impl TryFrom<u32> for LockTupleMode {
    type Error = String;
    fn try_from(value: u32) -> Result<Self, String> {
        match value {
            0 => Ok(Self::KeyShare),
            1 => Ok(Self::Share),
            2 => Ok(Self::NoKeyExclusive),
            3 => Ok(Self::Exclusive),
            _ => Err(format!("invalid LockTupleMode {value}")),
        }
    }
}

impl From<LockTupleMode> for u32 {
    fn from(mode: LockTupleMode) -> u32 {
        mode as u32
    }
}

/// What a MultiXact member does to the tuple (multixact.h `MultiXactStatus`): the first four
/// only lock it, the last two update or delete it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum MultiXactStatus {
    ForKeyShare = 0,
    ForShare = 1,
    ForNoKeyUpdate = 2,
    ForUpdate = 3,
    /// An UPDATE that does not modify key columns.
    NoKeyUpdate = 4,
    /// An UPDATE that modifies key columns, or a DELETE.
    Update = 5,
}

impl TryFrom<u32> for MultiXactStatus {
    type Error = String;
    fn try_from(value: u32) -> Result<Self, String> {
        match value {
            0 => Ok(Self::ForKeyShare),
            1 => Ok(Self::ForShare),
            2 => Ok(Self::ForNoKeyUpdate),
            3 => Ok(Self::ForUpdate),
            4 => Ok(Self::NoKeyUpdate),
            5 => Ok(Self::Update),
            _ => Err(format!("invalid MultiXactStatus {value}")),
        }
    }
}

impl From<MultiXactStatus> for u32 {
    fn from(status: MultiXactStatus) -> u32 {
        status as u32
    }
}

/// What only the server knows: transaction status and the MultiXact store. The extension
/// implements each method with the PostgreSQL function named in its doc.
pub trait Transactions {
    /// `TransactionIdIsCurrentTransactionId(xid)`.
    fn is_current(&self, xid: u32) -> bool;
    /// `TransactionIdIsInProgress(xid)` (true for our own transaction too).
    fn is_in_progress(&self, xid: u32) -> bool;
    /// `TransactionIdDidCommit(xid)`.
    fn did_commit(&self, xid: u32) -> bool;
    /// `TransactionIdDidAbort(xid)`.
    fn did_abort(&self, xid: u32) -> bool;
    /// `GetMultiXactIdMembers(multi, &members, false, is_lock_only)`: every caller here passes
    /// `allow_old` (`from_pgupgrade` in multixact.c) = false. Empty when PostgreSQL returns 0 or
    /// -1 members.
    fn members(&self, multi: u32, is_lock_only: bool) -> Vec<(u32, MultiXactStatus)>;
    /// `MultiXactIdIsRunning(multi, is_lock_only)`.
    fn multi_is_running(&self, multi: u32, is_lock_only: bool) -> bool;
    /// `MultiXactIdCreate(xid1, status1, xid2, status2)`.
    fn create_multi(&mut self, xid1: u32, status1: MultiXactStatus, xid2: u32, status2: MultiXactStatus) -> u32;
    /// `MultiXactIdExpand(multi, xid, status)`.
    fn expand_multi(&mut self, multi: u32, xid: u32, status: MultiXactStatus) -> u32;
    /// Where PostgreSQL would `elog(WARNING, ...)` and carry on. Ignored by default.
    fn warning(&self, _message: &str) {}
}

/// `tupleLockExtraInfo[mode].hwlock`: the heavyweight lock taken on a tuple for a lock mode.
pub fn tuple_lock_hwlock(mode: LockTupleMode) -> u32 {
    match mode {
        LockTupleMode::KeyShare => ACCESS_SHARE_LOCK,
        LockTupleMode::Share => ROW_SHARE_LOCK,
        LockTupleMode::NoKeyExclusive => EXCLUSIVE_LOCK,
        LockTupleMode::Exclusive => ACCESS_EXCLUSIVE_LOCK,
    }
}

/// `get_mxact_status_for_lock`: the MultiXact status recording a lock (or, with `is_update`, an
/// update) of the given strength. Key share and share locks cannot update, which PostgreSQL
/// reports as an ERROR.
pub fn get_mxact_status_for_lock(mode: LockTupleMode, is_update: bool) -> Result<MultiXactStatus, String> {
    // tupleLockExtraInfo[mode].lockstatus / .updstatus
    let status = match (mode, is_update) {
        (LockTupleMode::KeyShare, false) => Some(MultiXactStatus::ForKeyShare),
        (LockTupleMode::Share, false) => Some(MultiXactStatus::ForShare),
        (LockTupleMode::NoKeyExclusive, false) => Some(MultiXactStatus::ForNoKeyUpdate),
        (LockTupleMode::Exclusive, false) => Some(MultiXactStatus::ForUpdate),
        (LockTupleMode::KeyShare | LockTupleMode::Share, true) => None,
        (LockTupleMode::NoKeyExclusive, true) => Some(MultiXactStatus::NoKeyUpdate),
        (LockTupleMode::Exclusive, true) => Some(MultiXactStatus::Update),
    };
    status.ok_or_else(|| format!("invalid lock tuple mode {}/{}", mode as u32, is_update))
}

/// `TUPLOCK_from_mxstatus`: the tuple lock strength a MultiXact status holds.
pub fn tuplock_from_mxstatus(status: MultiXactStatus) -> LockTupleMode {
    match status {
        MultiXactStatus::ForKeyShare => LockTupleMode::KeyShare,
        MultiXactStatus::ForShare => LockTupleMode::Share,
        MultiXactStatus::ForNoKeyUpdate | MultiXactStatus::NoKeyUpdate => LockTupleMode::NoKeyExclusive,
        MultiXactStatus::ForUpdate | MultiXactStatus::Update => LockTupleMode::Exclusive,
    }
}

/// `ISUPDATE_from_mxstatus`: whether the member updated or deleted the tuple (rather than only
/// locking it).
pub fn isupdate_from_mxstatus(status: MultiXactStatus) -> bool {
    status > MultiXactStatus::ForUpdate
}

/// `LOCKMODE_from_mxstatus`: the heavyweight lock mode matching a MultiXact status.
pub fn lockmode_from_mxstatus(status: MultiXactStatus) -> u32 {
    tuple_lock_hwlock(tuplock_from_mxstatus(status))
}

/// `DoLockModesConflict` for the default lock method: whether heavyweight lock modes `mode1`
/// and `mode2` conflict (lock.c's `LockConflicts` table). Modes outside `1..=MAX_LOCK_MODE`
/// conflict with nothing.
pub fn do_lock_modes_conflict(mode1: u32, mode2: u32) -> bool {
    const fn bit(mode: u32) -> u32 {
        1 << mode
    }
    const CONFLICTS: [u32; MAX_LOCK_MODE as usize + 1] = [
        0, // NoLock
        bit(ACCESS_EXCLUSIVE_LOCK),
        bit(EXCLUSIVE_LOCK) | bit(ACCESS_EXCLUSIVE_LOCK),
        bit(SHARE_LOCK) | bit(SHARE_ROW_EXCLUSIVE_LOCK) | bit(EXCLUSIVE_LOCK) | bit(ACCESS_EXCLUSIVE_LOCK),
        bit(SHARE_UPDATE_EXCLUSIVE_LOCK)
            | bit(SHARE_LOCK)
            | bit(SHARE_ROW_EXCLUSIVE_LOCK)
            | bit(EXCLUSIVE_LOCK)
            | bit(ACCESS_EXCLUSIVE_LOCK),
        bit(ROW_EXCLUSIVE_LOCK)
            | bit(SHARE_UPDATE_EXCLUSIVE_LOCK)
            | bit(SHARE_ROW_EXCLUSIVE_LOCK)
            | bit(EXCLUSIVE_LOCK)
            | bit(ACCESS_EXCLUSIVE_LOCK),
        bit(ROW_EXCLUSIVE_LOCK)
            | bit(SHARE_UPDATE_EXCLUSIVE_LOCK)
            | bit(SHARE_LOCK)
            | bit(SHARE_ROW_EXCLUSIVE_LOCK)
            | bit(EXCLUSIVE_LOCK)
            | bit(ACCESS_EXCLUSIVE_LOCK),
        bit(ROW_SHARE_LOCK)
            | bit(ROW_EXCLUSIVE_LOCK)
            | bit(SHARE_UPDATE_EXCLUSIVE_LOCK)
            | bit(SHARE_LOCK)
            | bit(SHARE_ROW_EXCLUSIVE_LOCK)
            | bit(EXCLUSIVE_LOCK)
            | bit(ACCESS_EXCLUSIVE_LOCK),
        bit(ACCESS_SHARE_LOCK)
            | bit(ROW_SHARE_LOCK)
            | bit(ROW_EXCLUSIVE_LOCK)
            | bit(SHARE_UPDATE_EXCLUSIVE_LOCK)
            | bit(SHARE_LOCK)
            | bit(SHARE_ROW_EXCLUSIVE_LOCK)
            | bit(EXCLUSIVE_LOCK)
            | bit(ACCESS_EXCLUSIVE_LOCK),
    ];
    match CONFLICTS.get(mode1 as usize) {
        Some(conflicts) if mode2 <= MAX_LOCK_MODE => conflicts & bit(mode2) != 0,
        _ => false,
    }
}

/// Whether two tuple lock strengths conflict: `DoLockModesConflict` on their heavyweight locks
/// (README.tuplock's conflict table).
pub fn tuple_lock_modes_conflict(mode1: LockTupleMode, mode2: LockTupleMode) -> bool {
    do_lock_modes_conflict(tuple_lock_hwlock(mode1), tuple_lock_hwlock(mode2))
}

/// `HEAP_XMAX_IS_LOCKED_ONLY`: xmax only locked the tuple. Besides the LOCK_ONLY bit, a plain
/// (non-multi) xmax with just the exclusive-lock bit is how pre-9.3 clusters marked a lock.
pub fn heap_xmax_is_locked_only(infomask: u16) -> bool {
    infomask & HEAP_XMAX_LOCK_ONLY != 0 || infomask & (HEAP_XMAX_IS_MULTI | HEAP_LOCK_MASK) == HEAP_XMAX_EXCL_LOCK
}

/// `HEAP_LOCKED_UPGRADED`: a MultiXact with LOCK_ONLY but no lock-strength bit, i.e. a share
/// lock written before pg_upgrade; such a MultiXact can no longer be running.
pub fn heap_locked_upgraded(infomask: u16) -> bool {
    infomask & HEAP_XMAX_IS_MULTI != 0
        && infomask & HEAP_XMAX_LOCK_ONLY != 0
        && infomask & (HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_KEYSHR_LOCK) == 0
}

/// `HEAP_XMAX_IS_SHR_LOCKED`.
pub fn heap_xmax_is_shr_locked(infomask: u16) -> bool {
    infomask & HEAP_LOCK_MASK == HEAP_XMAX_SHR_LOCK
}

/// `HEAP_XMAX_IS_EXCL_LOCKED`.
pub fn heap_xmax_is_excl_locked(infomask: u16) -> bool {
    infomask & HEAP_LOCK_MASK == HEAP_XMAX_EXCL_LOCK
}

/// `HEAP_XMAX_IS_KEYSHR_LOCKED`.
pub fn heap_xmax_is_keyshr_locked(infomask: u16) -> bool {
    infomask & HEAP_LOCK_MASK == HEAP_XMAX_KEYSHR_LOCK
}

/// `GetMultiXactIdHintBits`: the t_infomask and t_infomask2 bits describing a (freshly made)
/// MultiXact xmax: IS_MULTI, the strongest member's lock bits, LOCK_ONLY unless a member
/// updated, and KEYS_UPDATED when a member holds or did a key update.
pub fn get_multixact_id_hint_bits(txns: &impl Transactions, multi: u32) -> (u16, u16) {
    let mut bits = HEAP_XMAX_IS_MULTI;
    let mut bits2 = 0;
    let mut has_update = false;
    let mut strongest = LockTupleMode::KeyShare;

    // Only called on MultiXacts just created, which cannot predate pg_upgrade.
    for (_, status) in txns.members(multi, false) {
        strongest = strongest.max(tuplock_from_mxstatus(status));
        match status {
            MultiXactStatus::ForKeyShare | MultiXactStatus::ForShare | MultiXactStatus::ForNoKeyUpdate => {}
            MultiXactStatus::ForUpdate => bits2 |= HEAP_KEYS_UPDATED,
            MultiXactStatus::NoKeyUpdate => has_update = true,
            MultiXactStatus::Update => {
                bits2 |= HEAP_KEYS_UPDATED;
                has_update = true;
            }
        }
    }

    bits |= match strongest {
        LockTupleMode::Exclusive | LockTupleMode::NoKeyExclusive => HEAP_XMAX_EXCL_LOCK,
        LockTupleMode::Share => HEAP_XMAX_SHR_LOCK,
        LockTupleMode::KeyShare => HEAP_XMAX_KEYSHR_LOCK,
    };
    if !has_update {
        bits |= HEAP_XMAX_LOCK_ONLY;
    }
    (bits, bits2)
}

/// `MultiXactIdGetUpdateXid`: the updating member of a MultiXact xmax whose infomask lacks
/// LOCK_ONLY, or [`INVALID_TRANSACTION_ID`] if none. The caller checks that member's status.
pub fn multixact_id_get_update_xid(txns: &impl Transactions, xmax: u32, infomask: u16) -> u32 {
    debug_assert!(infomask & HEAP_XMAX_LOCK_ONLY == 0);
    debug_assert!(infomask & HEAP_XMAX_IS_MULTI != 0);

    // Without LOCK_ONLY the MultiXact cannot predate pg_upgrade. There is at most one updater
    // (PostgreSQL asserts it), so the first one found is the one.
    txns.members(xmax, false)
        .into_iter()
        .find(|&(_, status)| isupdate_from_mxstatus(status))
        .map_or(INVALID_TRANSACTION_ID, |(xid, _)| xid)
}

/// The MultiXact status a plain-xid updater holds, by whether it modified key columns.
fn update_status(infomask2: u16) -> MultiXactStatus {
    if infomask2 & HEAP_KEYS_UPDATED != 0 { MultiXactStatus::Update } else { MultiXactStatus::NoKeyUpdate }
}

/// The MultiXact status a plain-xid locker holds, from the lock bits; None for LOCK_ONLY with no
/// strength bit (a share lock from before pg_upgrade).
fn lock_status(infomask: u16, infomask2: u16) -> Option<MultiXactStatus> {
    if heap_xmax_is_keyshr_locked(infomask) {
        Some(MultiXactStatus::ForKeyShare)
    } else if heap_xmax_is_shr_locked(infomask) {
        Some(MultiXactStatus::ForShare)
    } else if heap_xmax_is_excl_locked(infomask) {
        if infomask2 & HEAP_KEYS_UPDATED != 0 {
            Some(MultiXactStatus::ForUpdate)
        } else {
            Some(MultiXactStatus::ForNoKeyUpdate)
        }
    } else {
        None
    }
}

/// The new xmax and bits when `add_to_xmax` becomes the only locker or updater.
fn sole_xmax(add_to_xmax: u32, mode: LockTupleMode, is_update: bool) -> (u32, u16, u16) {
    if is_update {
        // An updater's strength is told by KEYS_UPDATED alone; no lock bits.
        let infomask2 = if mode == LockTupleMode::Exclusive { HEAP_KEYS_UPDATED } else { 0 };
        return (add_to_xmax, 0, infomask2);
    }
    let (lock_bits, infomask2) = match mode {
        LockTupleMode::KeyShare => (HEAP_XMAX_KEYSHR_LOCK, 0),
        LockTupleMode::Share => (HEAP_XMAX_SHR_LOCK, 0),
        LockTupleMode::NoKeyExclusive => (HEAP_XMAX_EXCL_LOCK, 0),
        LockTupleMode::Exclusive => (HEAP_XMAX_EXCL_LOCK, HEAP_KEYS_UPDATED),
    };
    (add_to_xmax, HEAP_XMAX_LOCK_ONLY | lock_bits, infomask2)
}

/// A new MultiXact of a finished or running `xmax` holding `old_status` and ourselves.
fn new_multi_with(
    txns: &mut impl Transactions,
    xmax: u32,
    old_status: MultiXactStatus,
    add_to_xmax: u32,
    mode: LockTupleMode,
    is_update: bool,
) -> Result<(u32, u16, u16), String> {
    let new_status = get_mxact_status_for_lock(mode, is_update)?;
    let new_xmax = txns.create_multi(xmax, old_status, add_to_xmax, new_status);
    let (infomask, infomask2) = get_multixact_id_hint_bits(txns, new_xmax);
    Ok((new_xmax, infomask, infomask2))
}

/// `compute_new_xmax_infomask`: given a row version's xmax and infomasks, and our transaction
/// `add_to_xmax` taking a lock of strength `mode` (or, with `is_update`, updating or deleting the
/// row), the new xmax and the xmax-related bits to store. The caller clears [`HEAP_XMAX_BITS`]
/// from t_infomask and [`HEAP_KEYS_UPDATED`] from t_infomask2, then ors these in.
///
/// May create a MultiXact. `Err` where PostgreSQL raises an ERROR: a key share or share "update"
/// that has to be recorded in a MultiXact.
pub fn compute_new_xmax_infomask(
    txns: &mut impl Transactions,
    xmax: u32,
    old_infomask: u16,
    old_infomask2: u16,
    add_to_xmax: u32,
    mode: LockTupleMode,
    is_update: bool,
) -> Result<(u32, u16, u16), String> {
    debug_assert!(txns.is_current(add_to_xmax));
    let mut old_infomask = old_infomask;
    let mut mode = mode;

    // Each `continue` restarts the decision with a simplified xmax (the C code's `goto l5`),
    // always ending in the first branch, which does not loop.
    loop {
        if old_infomask & HEAP_XMAX_INVALID != 0 {
            // No previous locker or updater (or none that still matters). This must be tested
            // first: the restarts below leave other stale xmax bits set.
            return Ok(sole_xmax(add_to_xmax, mode, is_update));
        }

        if old_infomask & HEAP_XMAX_IS_MULTI != 0 {
            // A MultiXact xmax never has XMAX_COMMITTED.
            debug_assert!(old_infomask & HEAP_XMAX_COMMITTED == 0);

            // A pre-pg_upgrade share-locking MultiXact cannot be running, and must not reach
            // the MultiXact routines below.
            if heap_locked_upgraded(old_infomask) {
                old_infomask &= !HEAP_XMAX_IS_MULTI;
                old_infomask |= HEAP_XMAX_INVALID;
                continue;
            }

            // If every member is gone and none left a committed update, drop the MultiXact and
            // become the sole xmax; a committed updater must be kept, so we expand instead.
            let locked_only = heap_xmax_is_locked_only(old_infomask);
            if !txns.multi_is_running(xmax, locked_only)
                && (locked_only || !txns.did_commit(multixact_id_get_update_xid(txns, xmax, old_infomask)))
            {
                old_infomask &= !HEAP_XMAX_IS_MULTI;
                old_infomask |= HEAP_XMAX_INVALID;
                continue;
            }

            let new_status = get_mxact_status_for_lock(mode, is_update)?;
            let new_xmax = txns.expand_multi(xmax, add_to_xmax, new_status);
            let (infomask, infomask2) = get_multixact_id_hint_bits(txns, new_xmax);
            return Ok((new_xmax, infomask, infomask2));
        }

        if old_infomask & HEAP_XMAX_COMMITTED != 0 {
            // A committed updater (the hint bit says so): it must stay recorded as the updater.
            // It has finished, so it cannot be us.
            return new_multi_with(txns, xmax, update_status(old_infomask2), add_to_xmax, mode, is_update);
        }

        if txns.is_in_progress(xmax) {
            // A running locker or updater: it and we share the xmax through a new MultiXact,
            // unless it is us.
            let old_status = if heap_xmax_is_locked_only(old_infomask) {
                match lock_status(old_infomask, old_infomask2) {
                    Some(status) => status,
                    None => {
                        // Only pg_upgrade leaves LOCK_ONLY alone, and such a locker cannot
                        // still be running; treat the tuple as unlocked.
                        txns.warning(&format!("LOCK_ONLY found for Xid in progress {xmax}"));
                        old_infomask |= HEAP_XMAX_INVALID;
                        old_infomask &= !HEAP_XMAX_LOCK_ONLY;
                        continue;
                    }
                }
            } else {
                update_status(old_infomask2)
            };

            if xmax == add_to_xmax {
                // We already lock it: keep only the stronger of the two locks. (We cannot have
                // updated it, or we would not see it to lock it again.) `is_update` stays.
                debug_assert!(heap_xmax_is_locked_only(old_infomask));
                mode = mode.max(tuplock_from_mxstatus(old_status));
                old_infomask |= HEAP_XMAX_INVALID;
                continue;
            }

            return new_multi_with(txns, xmax, old_status, add_to_xmax, mode, is_update);
        }

        if !heap_xmax_is_locked_only(old_infomask) && txns.did_commit(xmax) {
            // A committed updater not yet hinted: kept as the updater, as above.
            return new_multi_with(txns, xmax, update_status(old_infomask2), add_to_xmax, mode, is_update);
        }

        // The locker finished, or the updater aborted or crashed, after the caller read the
        // infomask: as if there were no xmax.
        old_infomask |= HEAP_XMAX_INVALID;
    }
}

/// `DoesMultiXactIdConflict` with a non-NULL `current_is_member`, as heap_delete and heap_update
/// call it: whether MultiXact xmax `multi` (with `infomask`) holds something that conflicts with
/// our taking a tuple lock of strength `mode`, and whether our transaction is one of its members.
/// Conflicting are running lockers of a conflicting strength and non-aborted updaters of one;
/// our own members never conflict.
pub fn does_multixact_conflict(txns: &impl Transactions, multi: u32, infomask: u16, mode: LockTupleMode) -> (bool, bool) {
    multixact_conflict(txns, multi, infomask, mode, true)
}

/// `DoesMultiXactIdConflict` with `current_is_member = NULL`, as heap_lock_tuple calls it: the
/// same answer as [`does_multixact_conflict`], but the scan stops at the first conflict.
pub fn does_multixact_conflict_ignoring_membership(
    txns: &impl Transactions,
    multi: u32,
    infomask: u16,
    mode: LockTupleMode,
) -> bool {
    multixact_conflict(txns, multi, infomask, mode, false).0
}

fn multixact_conflict(
    txns: &impl Transactions,
    multi: u32,
    infomask: u16,
    mode: LockTupleMode,
    track_membership: bool,
) -> (bool, bool) {
    let wanted = tuple_lock_hwlock(mode);
    let mut conflict = false;
    let mut current_is_member = false;

    // A pre-pg_upgrade MultiXact has no running members.
    if heap_locked_upgraded(infomask) {
        return (false, false);
    }

    for (xid, status) in txns.members(multi, heap_xmax_is_locked_only(infomask)) {
        // Once a conflict is found, keep going only to learn whether we are a member.
        if conflict && (!track_membership || current_is_member) {
            break;
        }

        // Our own members never conflict, but are noted.
        if txns.is_current(xid) {
            if track_membership {
                current_is_member = true;
            }
            continue;
        } else if conflict {
            continue;
        }

        if !do_lock_modes_conflict(lockmode_from_mxstatus(status), wanted) {
            continue;
        }
        if isupdate_from_mxstatus(status) {
            // An aborted update is no update.
            if txns.did_abort(xid) {
                continue;
            }
        } else if !txns.is_in_progress(xid) {
            // A finished locker holds nothing.
            continue;
        }
        conflict = true;
    }
    (conflict, current_is_member)
}

#[cfg(test)]
mod tests {
    use super::LockTupleMode::*;
    use super::MultiXactStatus::*;
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    /// Our transaction.
    const ME: u32 = 10;
    /// Another transaction that is still running.
    const OTHER: u32 = 20;
    /// A third running transaction.
    const OTHER2: u32 = 21;
    /// A transaction that committed.
    const COMMITTED: u32 = 30;
    /// A transaction that aborted.
    const ABORTED: u32 = 40;
    /// A transaction that neither committed nor aborted and is not running: it crashed.
    const CRASHED: u32 = 50;

    /// The server, as multixact.c and the transaction status routines behave.
    struct Mock {
        running: Vec<u32>,
        committed: Vec<u32>,
        aborted: Vec<u32>,
        multis: BTreeMap<u32, Vec<(u32, MultiXactStatus)>>,
        next_multi: u32,
        /// Every members() call's (multi, is_lock_only).
        members_calls: RefCell<Vec<(u32, bool)>>,
        /// Every multi_is_running() call's (multi, is_lock_only).
        running_calls: RefCell<Vec<(u32, bool)>>,
        is_current_calls: Cell<usize>,
        expand_calls: Cell<usize>,
        warnings: RefCell<Vec<String>>,
    }

    impl Mock {
        fn new() -> Self {
            Mock {
                running: vec![OTHER, OTHER2],
                committed: vec![COMMITTED],
                aborted: vec![ABORTED],
                multis: BTreeMap::new(),
                next_multi: 1000,
                members_calls: RefCell::default(),
                running_calls: RefCell::default(),
                is_current_calls: Cell::new(0),
                expand_calls: Cell::new(0),
                warnings: RefCell::default(),
            }
        }

        /// A MultiXact with these members, as if created earlier.
        fn with_multi(&mut self, members: &[(u32, MultiXactStatus)]) -> u32 {
            self.store(members.to_vec())
        }

        fn store(&mut self, members: Vec<(u32, MultiXactStatus)>) -> u32 {
            // MultiXactIdCreateFromMembers raises an ERROR on a second updater.
            assert!(members.iter().filter(|&&(_, s)| isupdate_from_mxstatus(s)).count() <= 1);
            let multi = self.next_multi;
            self.next_multi += 1;
            self.multis.insert(multi, members);
            multi
        }

        fn members_of(&self, multi: u32) -> Vec<(u32, MultiXactStatus)> {
            self.multis.get(&multi).cloned().unwrap_or_default()
        }
    }

    impl Transactions for Mock {
        fn is_current(&self, xid: u32) -> bool {
            self.is_current_calls.set(self.is_current_calls.get() + 1);
            xid == ME
        }
        fn is_in_progress(&self, xid: u32) -> bool {
            xid == ME || self.running.contains(&xid)
        }
        fn did_commit(&self, xid: u32) -> bool {
            self.committed.contains(&xid)
        }
        fn did_abort(&self, xid: u32) -> bool {
            self.aborted.contains(&xid)
        }
        fn members(&self, multi: u32, is_lock_only: bool) -> Vec<(u32, MultiXactStatus)> {
            self.members_calls.borrow_mut().push((multi, is_lock_only));
            self.members_of(multi)
        }
        fn multi_is_running(&self, multi: u32, is_lock_only: bool) -> bool {
            // MultiXactIdIsRunning: any member of ours, or any member still in progress.
            self.running_calls.borrow_mut().push((multi, is_lock_only));
            let members = self.members_of(multi);
            members.iter().any(|&(xid, _)| xid == ME) || members.iter().any(|&(xid, _)| self.is_in_progress(xid))
        }
        fn create_multi(&mut self, xid1: u32, status1: MultiXactStatus, xid2: u32, status2: MultiXactStatus) -> u32 {
            assert_ne!(xid1, xid2);
            self.store(vec![(xid1, status1), (xid2, status2)])
        }
        fn expand_multi(&mut self, multi: u32, xid: u32, status: MultiXactStatus) -> u32 {
            // MultiXactIdExpand: a singleton if the multi has no members; the same multi if xid
            // is already a member with that status; else the running members and committed
            // updaters, plus xid.
            self.expand_calls.set(self.expand_calls.get() + 1);
            let members = self.members_of(multi);
            if members.is_empty() {
                return self.store(vec![(xid, status)]);
            }
            if members.contains(&(xid, status)) {
                return multi;
            }
            let mut kept: Vec<_> = members
                .into_iter()
                .filter(|&(m, s)| self.is_in_progress(m) || (isupdate_from_mxstatus(s) && self.did_commit(m)))
                .collect();
            kept.push((xid, status));
            self.store(kept)
        }
        fn warning(&self, message: &str) {
            self.warnings.borrow_mut().push(message.to_string());
        }
    }

    fn compute(
        txns: &mut Mock,
        xmax: u32,
        infomask: u16,
        infomask2: u16,
        mode: LockTupleMode,
        is_update: bool,
    ) -> (u32, u16, u16) {
        compute_new_xmax_infomask(txns, xmax, infomask, infomask2, ME, mode, is_update).unwrap()
    }

    const LOCKED_ONLY_KEYSHR: u16 = HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_KEYSHR_LOCK;
    const LOCKED_ONLY_SHR: u16 = HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_SHR_LOCK;
    const LOCKED_ONLY_EXCL: u16 = HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_EXCL_LOCK;
    const MULTI: u16 = HEAP_XMAX_IS_MULTI;

    #[test]
    fn constants_have_postgres_values() {
        assert_eq!(HEAP_XMAX_SHR_LOCK, 0x0050);
        assert_eq!(HEAP_LOCK_MASK, 0x0050);
        assert_eq!(HEAP_XMAX_BITS, 0x1CD0);
        assert_eq!(HEAP_XMIN_FROZEN, 0x0300);
        assert_eq!(HEAP_MOVED, 0xC000);
        assert_eq!(u32::from(Exclusive), 3);
        assert_eq!(u32::from(Update), 5);
        for value in 0..4 {
            assert_eq!(u32::from(LockTupleMode::try_from(value).unwrap()), value);
        }
        for value in 0..6 {
            assert_eq!(u32::from(MultiXactStatus::try_from(value).unwrap()), value);
        }
        assert!(LockTupleMode::try_from(4).is_err());
        assert!(MultiXactStatus::try_from(6).is_err());
    }

    #[test]
    fn infomask_predicates() {
        assert!(heap_xmax_is_locked_only(HEAP_XMAX_LOCK_ONLY));
        assert!(heap_xmax_is_locked_only(LOCKED_ONLY_KEYSHR | MULTI));
        // A pre-9.3 exclusive lock: EXCL alone on a plain xid, but not on a MultiXact.
        assert!(heap_xmax_is_locked_only(HEAP_XMAX_EXCL_LOCK));
        assert!(!heap_xmax_is_locked_only(HEAP_XMAX_EXCL_LOCK | MULTI));
        assert!(!heap_xmax_is_locked_only(HEAP_XMAX_SHR_LOCK));
        assert!(!heap_xmax_is_locked_only(0));

        assert!(heap_locked_upgraded(MULTI | HEAP_XMAX_LOCK_ONLY));
        assert!(!heap_locked_upgraded(MULTI | LOCKED_ONLY_KEYSHR));
        assert!(!heap_locked_upgraded(MULTI | LOCKED_ONLY_EXCL));
        assert!(!heap_locked_upgraded(HEAP_XMAX_LOCK_ONLY));

        assert!(heap_xmax_is_shr_locked(HEAP_XMAX_SHR_LOCK));
        assert!(!heap_xmax_is_excl_locked(HEAP_XMAX_SHR_LOCK));
        assert!(!heap_xmax_is_keyshr_locked(HEAP_XMAX_SHR_LOCK));
        assert!(heap_xmax_is_excl_locked(HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_LOCK_ONLY));
        assert!(heap_xmax_is_keyshr_locked(HEAP_XMAX_KEYSHR_LOCK));
    }

    #[test]
    fn status_and_mode_tables() {
        assert_eq!(get_mxact_status_for_lock(KeyShare, false), Ok(ForKeyShare));
        assert_eq!(get_mxact_status_for_lock(Share, false), Ok(ForShare));
        assert_eq!(get_mxact_status_for_lock(NoKeyExclusive, false), Ok(ForNoKeyUpdate));
        assert_eq!(get_mxact_status_for_lock(Exclusive, false), Ok(ForUpdate));
        assert_eq!(get_mxact_status_for_lock(NoKeyExclusive, true), Ok(NoKeyUpdate));
        assert_eq!(get_mxact_status_for_lock(Exclusive, true), Ok(Update));
        assert!(get_mxact_status_for_lock(KeyShare, true).is_err());
        assert!(get_mxact_status_for_lock(Share, true).is_err());

        let statuses = [ForKeyShare, ForShare, ForNoKeyUpdate, ForUpdate, NoKeyUpdate, Update];
        let modes = [KeyShare, Share, NoKeyExclusive, Exclusive, NoKeyExclusive, Exclusive];
        for (status, mode) in statuses.into_iter().zip(modes) {
            assert_eq!(tuplock_from_mxstatus(status), mode);
            assert_eq!(isupdate_from_mxstatus(status), matches!(status, NoKeyUpdate | Update));
            assert_eq!(lockmode_from_mxstatus(status), tuple_lock_hwlock(mode));
        }
        assert_eq!(tuple_lock_hwlock(KeyShare), ACCESS_SHARE_LOCK);
        assert_eq!(tuple_lock_hwlock(Share), ROW_SHARE_LOCK);
        assert_eq!(tuple_lock_hwlock(NoKeyExclusive), EXCLUSIVE_LOCK);
        assert_eq!(tuple_lock_hwlock(Exclusive), ACCESS_EXCLUSIVE_LOCK);
    }

    #[test]
    fn tuple_lock_conflicts_match_readme_tuplock() {
        // Rows and columns KeyShare, Share, NoKeyExclusive, Exclusive.
        let expected = [
            [false, false, false, true],
            [false, false, true, true],
            [false, true, true, true],
            [true, true, true, true],
        ];
        let modes = [KeyShare, Share, NoKeyExclusive, Exclusive];
        for (i, &a) in modes.iter().enumerate() {
            for (j, &b) in modes.iter().enumerate() {
                assert_eq!(tuple_lock_modes_conflict(a, b), expected[i][j], "{a:?} vs {b:?}");
            }
        }
        // The whole table is symmetric, and NoLock or out-of-range modes conflict with nothing.
        for a in 0..=MAX_LOCK_MODE {
            for b in 0..=MAX_LOCK_MODE {
                assert_eq!(do_lock_modes_conflict(a, b), do_lock_modes_conflict(b, a));
            }
            assert!(!do_lock_modes_conflict(NO_LOCK, a));
            assert!(!do_lock_modes_conflict(a, 9));
        }
        assert!(do_lock_modes_conflict(ROW_EXCLUSIVE_LOCK, SHARE_LOCK));
        assert!(!do_lock_modes_conflict(ROW_EXCLUSIVE_LOCK, ROW_EXCLUSIVE_LOCK));
        assert!(do_lock_modes_conflict(SHARE_UPDATE_EXCLUSIVE_LOCK, SHARE_UPDATE_EXCLUSIVE_LOCK));
        assert!(!do_lock_modes_conflict(SHARE_LOCK, SHARE_LOCK));
    }

    #[test]
    fn hint_bits_of_multis() {
        let mut txns = Mock::new();
        type Members = [(u32, MultiXactStatus)];
        let cases: [(&Members, u16, u16); 7] = [
            (&[(OTHER, ForKeyShare), (ME, ForKeyShare)], MULTI | LOCKED_ONLY_KEYSHR, 0),
            (&[(OTHER, ForKeyShare), (ME, ForShare)], MULTI | LOCKED_ONLY_SHR, 0),
            (&[(OTHER, ForShare), (ME, ForNoKeyUpdate)], MULTI | LOCKED_ONLY_EXCL, 0),
            (&[(OTHER, ForKeyShare), (ME, ForUpdate)], MULTI | LOCKED_ONLY_EXCL, HEAP_KEYS_UPDATED),
            (&[(OTHER, ForShare), (ME, NoKeyUpdate)], MULTI | HEAP_XMAX_EXCL_LOCK, 0),
            (&[(OTHER, ForKeyShare), (ME, Update)], MULTI | HEAP_XMAX_EXCL_LOCK, HEAP_KEYS_UPDATED),
            // An updater is not a lock: a key share locker beside a non-key update.
            (&[(COMMITTED, NoKeyUpdate), (ME, ForKeyShare)], MULTI | HEAP_XMAX_EXCL_LOCK, 0),
        ];
        for (members, infomask, infomask2) in cases {
            let multi = txns.with_multi(members);
            assert_eq!(get_multixact_id_hint_bits(&txns, multi), (infomask, infomask2), "{members:?}");
        }
        // GetMultiXactIdHintBits never takes the lock-only shortcut.
        assert!(txns.members_calls.borrow().iter().all(|&(_, lock_only)| !lock_only));
        // No members (PostgreSQL's -1): just the multi and key share bits, lock-only.
        assert_eq!(get_multixact_id_hint_bits(&txns, 9999), (MULTI | LOCKED_ONLY_KEYSHR, 0));
    }

    #[test]
    fn update_xid_of_multis() {
        let mut txns = Mock::new();
        let with_updater = txns.with_multi(&[(OTHER, ForKeyShare), (COMMITTED, NoKeyUpdate), (OTHER2, ForShare)]);
        let lockers_only = txns.with_multi(&[(OTHER, ForKeyShare), (OTHER2, ForUpdate)]);
        assert_eq!(multixact_id_get_update_xid(&txns, with_updater, MULTI | HEAP_XMAX_EXCL_LOCK), COMMITTED);
        assert_eq!(multixact_id_get_update_xid(&txns, lockers_only, MULTI | HEAP_XMAX_EXCL_LOCK), INVALID_TRANSACTION_ID);
        assert_eq!(multixact_id_get_update_xid(&txns, 9999, MULTI), INVALID_TRANSACTION_ID);
    }

    // compute_new_xmax_infomask, branch by branch.

    #[test]
    fn invalid_xmax_locks() {
        let mut txns = Mock::new();
        // The old xmax is ignored entirely, as are the other stale bits.
        let old = HEAP_XMAX_INVALID | HEAP_XMAX_IS_MULTI | LOCKED_ONLY_EXCL;
        assert_eq!(compute(&mut txns, 77, old, HEAP_KEYS_UPDATED, KeyShare, false), (ME, LOCKED_ONLY_KEYSHR, 0));
        assert_eq!(compute(&mut txns, 77, HEAP_XMAX_INVALID, 0, Share, false), (ME, LOCKED_ONLY_SHR, 0));
        assert_eq!(compute(&mut txns, 0, HEAP_XMAX_INVALID, 0, NoKeyExclusive, false), (ME, LOCKED_ONLY_EXCL, 0));
        assert_eq!(
            compute(&mut txns, 0, HEAP_XMAX_INVALID, 0, Exclusive, false),
            (ME, LOCKED_ONLY_EXCL, HEAP_KEYS_UPDATED)
        );
        assert!(txns.multis.is_empty());
    }

    #[test]
    fn invalid_xmax_updates() {
        let mut txns = Mock::new();
        // Delete or key update: KEYS_UPDATED, no lock bits.
        assert_eq!(compute(&mut txns, 0, HEAP_XMAX_INVALID, 0, Exclusive, true), (ME, 0, HEAP_KEYS_UPDATED));
        // Non-key update: nothing at all besides the xid.
        assert_eq!(compute(&mut txns, 0, HEAP_XMAX_INVALID, 0, NoKeyExclusive, true), (ME, 0, 0));
        // A share "update" is no error on this path: the C code does not consult the table here.
        assert_eq!(compute(&mut txns, 0, HEAP_XMAX_INVALID, 0, KeyShare, true), (ME, 0, 0));
        assert_eq!(compute(&mut txns, 0, HEAP_XMAX_INVALID, 0, Share, true), (ME, 0, 0));
    }

    #[test]
    fn locked_by_ourselves_keeps_the_stronger_lock() {
        let mut txns = Mock::new();
        // Stronger request wins.
        assert_eq!(
            compute(&mut txns, ME, LOCKED_ONLY_KEYSHR, 0, Exclusive, false),
            (ME, LOCKED_ONLY_EXCL, HEAP_KEYS_UPDATED)
        );
        assert_eq!(compute(&mut txns, ME, LOCKED_ONLY_SHR, 0, NoKeyExclusive, false), (ME, LOCKED_ONLY_EXCL, 0));
        // Weaker request keeps the lock held: FOR UPDATE (EXCL + KEYS_UPDATED), FOR NO KEY
        // UPDATE (EXCL alone), FOR SHARE.
        assert_eq!(
            compute(&mut txns, ME, LOCKED_ONLY_EXCL, HEAP_KEYS_UPDATED, KeyShare, false),
            (ME, LOCKED_ONLY_EXCL, HEAP_KEYS_UPDATED)
        );
        assert_eq!(compute(&mut txns, ME, LOCKED_ONLY_EXCL, 0, Share, false), (ME, LOCKED_ONLY_EXCL, 0));
        assert_eq!(compute(&mut txns, ME, LOCKED_ONLY_SHR, 0, KeyShare, false), (ME, LOCKED_ONLY_SHR, 0));
        // A pre-9.3 exclusive lock (EXCL without LOCK_ONLY) by ourselves reads as FOR NO KEY UPDATE.
        assert_eq!(compute(&mut txns, ME, HEAP_XMAX_EXCL_LOCK, 0, KeyShare, false), (ME, LOCKED_ONLY_EXCL, 0));
        assert!(txns.multis.is_empty());
    }

    #[test]
    fn locked_by_ourselves_then_updated() {
        let mut txns = Mock::new();
        // FOR SHARE, then a non-key update: a plain non-key update.
        assert_eq!(compute(&mut txns, ME, LOCKED_ONLY_SHR, 0, NoKeyExclusive, true), (ME, 0, 0));
        // FOR UPDATE, then a non-key update: the held Exclusive strength wins, so the update is
        // recorded as a key update.
        assert_eq!(
            compute(&mut txns, ME, LOCKED_ONLY_EXCL, HEAP_KEYS_UPDATED, NoKeyExclusive, true),
            (ME, 0, HEAP_KEYS_UPDATED)
        );
        // FOR KEY SHARE, then delete.
        assert_eq!(compute(&mut txns, ME, LOCKED_ONLY_KEYSHR, 0, Exclusive, true), (ME, 0, HEAP_KEYS_UPDATED));
        assert!(txns.multis.is_empty());
    }

    #[test]
    fn another_running_locker_makes_a_multi() {
        let mut txns = Mock::new();
        let cases = [
            // (old infomask, old infomask2, our mode, is_update, expected members, bits, bits2)
            (LOCKED_ONLY_KEYSHR, 0, Share, false, [(OTHER, ForKeyShare), (ME, ForShare)], MULTI | LOCKED_ONLY_SHR, 0),
            (LOCKED_ONLY_SHR, 0, KeyShare, false, [(OTHER, ForShare), (ME, ForKeyShare)], MULTI | LOCKED_ONLY_SHR, 0),
            (
                LOCKED_ONLY_EXCL,
                0,
                KeyShare,
                false,
                [(OTHER, ForNoKeyUpdate), (ME, ForKeyShare)],
                MULTI | LOCKED_ONLY_EXCL,
                0,
            ),
            (
                LOCKED_ONLY_EXCL,
                HEAP_KEYS_UPDATED,
                KeyShare,
                false,
                [(OTHER, ForUpdate), (ME, ForKeyShare)],
                MULTI | LOCKED_ONLY_EXCL,
                HEAP_KEYS_UPDATED,
            ),
            // We update while others key-share lock.
            (
                LOCKED_ONLY_KEYSHR,
                0,
                NoKeyExclusive,
                true,
                [(OTHER, ForKeyShare), (ME, NoKeyUpdate)],
                MULTI | HEAP_XMAX_EXCL_LOCK,
                0,
            ),
            (
                LOCKED_ONLY_KEYSHR,
                0,
                Exclusive,
                true,
                [(OTHER, ForKeyShare), (ME, Update)],
                MULTI | HEAP_XMAX_EXCL_LOCK,
                HEAP_KEYS_UPDATED,
            ),
            // A pre-9.3 exclusive lock by another running transaction.
            (
                HEAP_XMAX_EXCL_LOCK,
                0,
                KeyShare,
                false,
                [(OTHER, ForNoKeyUpdate), (ME, ForKeyShare)],
                MULTI | LOCKED_ONLY_EXCL,
                0,
            ),
        ];
        for (infomask, infomask2, mode, is_update, members, bits, bits2) in cases {
            let (xmax, got, got2) = compute(&mut txns, OTHER, infomask, infomask2, mode, is_update);
            assert_eq!(txns.members_of(xmax), members.to_vec());
            assert_eq!((got, got2), (bits, bits2), "{infomask:#x} {mode:?} {is_update}");
        }
    }

    #[test]
    fn another_running_updater_makes_a_multi() {
        let mut txns = Mock::new();
        // A running key updater (or deleter) and our key share lock.
        let (xmax, bits, bits2) = compute(&mut txns, OTHER, 0, HEAP_KEYS_UPDATED, KeyShare, false);
        assert_eq!(txns.members_of(xmax), vec![(OTHER, Update), (ME, ForKeyShare)]);
        assert_eq!((bits, bits2), (MULTI | HEAP_XMAX_EXCL_LOCK, HEAP_KEYS_UPDATED));
        // A running non-key updater and our key share lock.
        let (xmax, bits, bits2) = compute(&mut txns, OTHER, 0, 0, KeyShare, false);
        assert_eq!(txns.members_of(xmax), vec![(OTHER, NoKeyUpdate), (ME, ForKeyShare)]);
        assert_eq!((bits, bits2), (MULTI | HEAP_XMAX_EXCL_LOCK, 0));
    }

    #[test]
    fn running_xid_with_bare_lock_only_is_ignored_with_a_warning() {
        let mut txns = Mock::new();
        assert_eq!(compute(&mut txns, OTHER, HEAP_XMAX_LOCK_ONLY, 0, KeyShare, false), (ME, LOCKED_ONLY_KEYSHR, 0));
        assert_eq!(txns.warnings.borrow().as_slice(), ["LOCK_ONLY found for Xid in progress 20"]);
        assert!(txns.multis.is_empty());
    }

    #[test]
    fn running_xmax_and_a_share_update_is_an_error() {
        let mut txns = Mock::new();
        let result = compute_new_xmax_infomask(&mut txns, OTHER, LOCKED_ONLY_KEYSHR, 0, ME, Share, true);
        assert_eq!(result, Err("invalid lock tuple mode 1/true".to_string()));
        assert!(txns.multis.is_empty());
    }

    #[test]
    fn committed_updater_is_kept_in_a_multi() {
        // With the XMAX_COMMITTED hint, and without it (found committed in clog).
        for hint in [HEAP_XMAX_COMMITTED, 0] {
            let mut txns = Mock::new();
            let (xmax, bits, bits2) = compute(&mut txns, COMMITTED, hint, 0, KeyShare, false);
            assert_eq!(txns.members_of(xmax), vec![(COMMITTED, NoKeyUpdate), (ME, ForKeyShare)]);
            assert_eq!((bits, bits2), (MULTI | HEAP_XMAX_EXCL_LOCK, 0));

            let (xmax, bits, bits2) = compute(&mut txns, COMMITTED, hint, HEAP_KEYS_UPDATED, KeyShare, false);
            assert_eq!(txns.members_of(xmax), vec![(COMMITTED, Update), (ME, ForKeyShare)]);
            assert_eq!((bits, bits2), (MULTI | HEAP_XMAX_EXCL_LOCK, HEAP_KEYS_UPDATED));

        }
    }

    #[test]
    fn committed_hint_is_trusted_before_the_lock_bits() {
        // The C code tests XMAX_COMMITTED before LOCK_ONLY: such a tuple (which heapam never
        // writes: a committed locker gets XMAX_INVALID) is taken for a committed updater.
        let mut txns = Mock::new();
        let (xmax, bits, _) = compute(&mut txns, COMMITTED, HEAP_XMAX_COMMITTED | LOCKED_ONLY_KEYSHR, 0, KeyShare, false);
        assert_eq!(txns.members_of(xmax), vec![(COMMITTED, NoKeyUpdate), (ME, ForKeyShare)]);
        assert_eq!(bits, MULTI | HEAP_XMAX_EXCL_LOCK);
    }

    #[test]
    fn finished_locker_or_failed_updater_is_forgotten() {
        let mut txns = Mock::new();
        // A committed locker holds nothing any more.
        assert_eq!(compute(&mut txns, COMMITTED, LOCKED_ONLY_EXCL, HEAP_KEYS_UPDATED, Share, false), (ME, LOCKED_ONLY_SHR, 0));
        // Aborted and crashed updaters, and an aborted locker.
        assert_eq!(compute(&mut txns, ABORTED, 0, HEAP_KEYS_UPDATED, KeyShare, false), (ME, LOCKED_ONLY_KEYSHR, 0));
        assert_eq!(compute(&mut txns, CRASHED, 0, 0, Exclusive, true), (ME, 0, HEAP_KEYS_UPDATED));
        assert_eq!(compute(&mut txns, ABORTED, LOCKED_ONLY_SHR, 0, NoKeyExclusive, true), (ME, 0, 0));
        assert!(txns.multis.is_empty());
    }

    #[test]
    fn running_multi_is_expanded() {
        let mut txns = Mock::new();
        let multi = txns.with_multi(&[(OTHER, ForKeyShare)]);
        let (xmax, bits, bits2) = compute(&mut txns, multi, MULTI | LOCKED_ONLY_KEYSHR, 0, Share, false);
        assert_eq!(txns.members_of(xmax), vec![(OTHER, ForKeyShare), (ME, ForShare)]);
        assert_eq!((bits, bits2), (MULTI | LOCKED_ONLY_SHR, 0));
        // The running test may use the lock-only shortcut.
        assert_eq!(txns.running_calls.borrow().as_slice(), [(multi, true)]);

        // Two key share lockers and our non-key update.
        let multi = txns.with_multi(&[(OTHER, ForKeyShare), (OTHER2, ForKeyShare)]);
        let (xmax, bits, bits2) = compute(&mut txns, multi, MULTI | LOCKED_ONLY_KEYSHR, 0, NoKeyExclusive, true);
        assert_eq!(txns.members_of(xmax), vec![(OTHER, ForKeyShare), (OTHER2, ForKeyShare), (ME, NoKeyUpdate)]);
        assert_eq!((bits, bits2), (MULTI | HEAP_XMAX_EXCL_LOCK, 0));

        // A running updater in the multi, and our key share lock; finished lockers drop out.
        let multi = txns.with_multi(&[(COMMITTED, ForShare), (OTHER, NoKeyUpdate)]);
        let (xmax, bits, bits2) = compute(&mut txns, multi, MULTI | HEAP_XMAX_EXCL_LOCK, 0, KeyShare, false);
        assert_eq!(txns.members_of(xmax), vec![(OTHER, NoKeyUpdate), (ME, ForKeyShare)]);
        assert_eq!((bits, bits2), (MULTI | HEAP_XMAX_EXCL_LOCK, 0));
        assert_eq!(txns.running_calls.borrow().last(), Some(&(multi, false)));
    }

    #[test]
    fn running_multi_already_holding_our_lock_is_kept() {
        let mut txns = Mock::new();
        let multi = txns.with_multi(&[(OTHER, ForShare), (ME, ForKeyShare)]);
        assert_eq!(compute(&mut txns, multi, MULTI | LOCKED_ONLY_SHR, 0, KeyShare, false), (multi, MULTI | LOCKED_ONLY_SHR, 0));
        assert_eq!(txns.expand_calls.get(), 1);
    }

    #[test]
    fn multi_of_finished_lockers_is_dropped() {
        let mut txns = Mock::new();
        let multi = txns.with_multi(&[(COMMITTED, ForShare), (ABORTED, ForKeyShare), (CRASHED, ForUpdate)]);
        assert_eq!(compute(&mut txns, multi, MULTI | LOCKED_ONLY_SHR, 0, KeyShare, false), (ME, LOCKED_ONLY_KEYSHR, 0));
        assert_eq!(compute(&mut txns, multi, MULTI | LOCKED_ONLY_SHR, 0, Exclusive, true), (ME, 0, HEAP_KEYS_UPDATED));
        assert_eq!(txns.expand_calls.get(), 0);
    }

    #[test]
    fn finished_multi_with_committed_updater_is_expanded() {
        let mut txns = Mock::new();
        let multi = txns.with_multi(&[(ABORTED, ForKeyShare), (COMMITTED, NoKeyUpdate)]);
        let (xmax, bits, bits2) = compute(&mut txns, multi, MULTI | HEAP_XMAX_EXCL_LOCK, 0, KeyShare, false);
        // Expansion keeps the committed updater, drops the finished locker, adds us.
        assert_eq!(txns.members_of(xmax), vec![(COMMITTED, NoKeyUpdate), (ME, ForKeyShare)]);
        assert_eq!((bits, bits2), (MULTI | HEAP_XMAX_EXCL_LOCK, 0));
        assert_eq!(txns.running_calls.borrow().as_slice(), [(multi, false)]);
    }

    #[test]
    fn finished_multi_with_aborted_or_crashed_updater_is_dropped() {
        for updater in [ABORTED, CRASHED] {
            let mut txns = Mock::new();
            let multi = txns.with_multi(&[(COMMITTED, ForKeyShare), (updater, Update)]);
            let old = MULTI | HEAP_XMAX_EXCL_LOCK;
            assert_eq!(compute(&mut txns, multi, old, HEAP_KEYS_UPDATED, Share, false), (ME, LOCKED_ONLY_SHR, 0));
            assert_eq!(txns.expand_calls.get(), 0);
        }
    }

    #[test]
    fn upgraded_multi_is_dropped_without_looking_at_it() {
        let mut txns = Mock::new();
        let multi = txns.with_multi(&[(OTHER, ForShare)]);
        let old = MULTI | HEAP_XMAX_LOCK_ONLY;
        assert_eq!(compute(&mut txns, multi, old, 0, NoKeyExclusive, false), (ME, LOCKED_ONLY_EXCL, 0));
        assert!(txns.running_calls.borrow().is_empty());
        assert!(txns.members_calls.borrow().is_empty());
    }

    #[test]
    fn running_multi_and_a_share_update_is_an_error() {
        let mut txns = Mock::new();
        let multi = txns.with_multi(&[(OTHER, ForShare)]);
        let result = compute_new_xmax_infomask(&mut txns, multi, MULTI | LOCKED_ONLY_SHR, 0, ME, KeyShare, true);
        assert!(result.is_err());
        assert_eq!(txns.expand_calls.get(), 0);
    }

    // does_multixact_conflict

    #[test]
    fn multixact_conflicts() {
        let mut txns = Mock::new();
        let lockers_only = MULTI | LOCKED_ONLY_SHR;

        // Running key share lockers block only Exclusive.
        let multi = txns.with_multi(&[(OTHER, ForKeyShare), (OTHER2, ForKeyShare)]);
        assert_eq!(does_multixact_conflict(&txns, multi, MULTI | LOCKED_ONLY_KEYSHR, NoKeyExclusive), (false, false));
        assert_eq!(does_multixact_conflict(&txns, multi, MULTI | LOCKED_ONLY_KEYSHR, Exclusive), (true, false));
        assert_eq!(txns.members_calls.borrow().last(), Some(&(multi, true)));

        // A running share locker blocks NoKeyExclusive; a finished one blocks nothing.
        let multi = txns.with_multi(&[(OTHER, ForShare)]);
        assert_eq!(does_multixact_conflict(&txns, multi, lockers_only, NoKeyExclusive), (true, false));
        let multi = txns.with_multi(&[(COMMITTED, ForShare), (ABORTED, ForUpdate), (CRASHED, ForShare)]);
        assert_eq!(does_multixact_conflict(&txns, multi, lockers_only, Exclusive), (false, false));

        // Updaters conflict unless aborted, whether running, committed or crashed.
        let with_update = MULTI | HEAP_XMAX_EXCL_LOCK;
        for (updater, conflicts) in [(OTHER, true), (COMMITTED, true), (CRASHED, true), (ABORTED, false)] {
            let multi = txns.with_multi(&[(updater, NoKeyUpdate)]);
            assert_eq!(does_multixact_conflict(&txns, multi, with_update, Share), (conflicts, false), "{updater}");
            assert_eq!(txns.members_calls.borrow().last(), Some(&(multi, false)));
            // A non-key update does not block a key share lock.
            assert_eq!(does_multixact_conflict(&txns, multi, with_update, KeyShare), (false, false));
        }

        // Our own members never conflict, but are reported, before or after the conflict.
        let multi = txns.with_multi(&[(ME, ForUpdate), (OTHER, ForShare)]);
        assert_eq!(does_multixact_conflict(&txns, multi, lockers_only, Exclusive), (true, true));
        let multi = txns.with_multi(&[(OTHER, ForShare), (OTHER2, ForShare), (ME, ForKeyShare)]);
        assert_eq!(does_multixact_conflict(&txns, multi, lockers_only, Exclusive), (true, true));
        let multi = txns.with_multi(&[(ME, ForUpdate), (OTHER, ForKeyShare)]);
        assert_eq!(does_multixact_conflict(&txns, multi, lockers_only, NoKeyExclusive), (false, true));

        // A pre-pg_upgrade multi conflicts with nothing and is not read.
        let calls = txns.members_calls.borrow().len();
        assert_eq!(does_multixact_conflict(&txns, multi, MULTI | HEAP_XMAX_LOCK_ONLY, Exclusive), (false, false));
        assert_eq!(txns.members_calls.borrow().len(), calls);
    }

    #[test]
    fn multixact_conflict_ignoring_membership_stops_at_the_first_conflict() {
        let mut txns = Mock::new();
        let lockers_only = MULTI | LOCKED_ONLY_SHR;
        let multi = txns.with_multi(&[(OTHER, ForShare), (OTHER2, ForShare), (ME, ForKeyShare)]);

        txns.is_current_calls.set(0);
        assert!(does_multixact_conflict_ignoring_membership(&txns, multi, lockers_only, Exclusive));
        assert_eq!(txns.is_current_calls.get(), 1);

        // With membership tracked, the scan runs on (skipping conflict tests) to find us.
        txns.is_current_calls.set(0);
        assert_eq!(does_multixact_conflict(&txns, multi, lockers_only, Exclusive), (true, true));
        assert_eq!(txns.is_current_calls.get(), 3);

        let multi = txns.with_multi(&[(ME, ForUpdate), (OTHER, ForKeyShare)]);
        assert!(!does_multixact_conflict_ignoring_membership(&txns, multi, lockers_only, NoKeyExclusive));
    }
}
