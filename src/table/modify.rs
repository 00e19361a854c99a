//! DELETE, UPDATE and row locks: the header of a row version changes as `heap_delete`,
//! `heap_update` and `heap_lock_tuple` change it, with heap's waits on the transactions and
//! MultiXacts that hold it, and heap's results (`TM_Result`, `TM_FailureData`) for the executor's
//! EvalPlanQual and serialization-failure logic.

use super::group::Columns;
use super::page::Buf;
use super::store::Target;
use super::tuple::{self, TupleCopy};
use super::{fetch, insert, store};
use columnar_core::layout::PageKind;
use columnar_core::xmax::{self, LockTupleMode, MultiXactStatus, Transactions};
use pgrx::pg_sys;
use pgrx::prelude::*;

unsafe extern "C-unwind" {
    // utils/datum.h; not in pgrx's bindings. Called through pg_guard_ffi_boundary.
    fn datumIsEqual(value1: pg_sys::Datum, value2: pg_sys::Datum, typ_by_val: bool, typ_len: i32) -> bool;
}

/// The server's answers to the questions of `columnar_core::xmax`.
struct Server;

impl Transactions for Server {
    fn is_current(&self, xid: u32) -> bool {
        // SAFETY: plain transaction-status lookups.
        unsafe { pg_sys::TransactionIdIsCurrentTransactionId(tuple::xid(xid)) }
    }
    fn is_in_progress(&self, xid: u32) -> bool {
        // SAFETY: as above.
        unsafe { pg_sys::TransactionIdIsInProgress(tuple::xid(xid)) }
    }
    fn did_commit(&self, xid: u32) -> bool {
        // SAFETY: as above.
        unsafe { pg_sys::TransactionIdDidCommit(tuple::xid(xid)) }
    }
    fn did_abort(&self, xid: u32) -> bool {
        // SAFETY: as above.
        unsafe { pg_sys::TransactionIdDidAbort(tuple::xid(xid)) }
    }
    fn members(&self, multi: u32, is_lock_only: bool) -> Vec<(u32, MultiXactStatus)> {
        let mut members: *mut pg_sys::MultiXactMember = std::ptr::null_mut();
        // SAFETY: GetMultiXactIdMembers pallocs an array of the returned length (or returns -1).
        unsafe {
            let n = pg_sys::GetMultiXactIdMembers(tuple::xid(multi), &mut members, false, is_lock_only);
            let out = (0..n.max(0) as usize)
                .map(|i| {
                    let m = &*members.add(i);
                    (m.xid.into_inner(), MultiXactStatus::try_from(m.status as u32).unwrap_or_else(|e| pgrx::error!("{e}")))
                })
                .collect();
            if n > 0 {
                pg_sys::pfree(members as *mut _);
            }
            out
        }
    }
    fn multi_is_running(&self, multi: u32, is_lock_only: bool) -> bool {
        // SAFETY: as above.
        unsafe { pg_sys::MultiXactIdIsRunning(tuple::xid(multi), is_lock_only) }
    }
    fn create_multi(&mut self, xid1: u32, status1: MultiXactStatus, xid2: u32, status2: MultiXactStatus) -> u32 {
        // SAFETY: MultiXactIdSetOldestMember was called before (see `new_xmax`).
        unsafe { pg_sys::MultiXactIdCreate(tuple::xid(xid1), u32::from(status1) as _, tuple::xid(xid2), u32::from(status2) as _).into_inner() }
    }
    fn expand_multi(&mut self, multi: u32, xid: u32, status: MultiXactStatus) -> u32 {
        // SAFETY: as above.
        unsafe { pg_sys::MultiXactIdExpand(tuple::xid(multi), tuple::xid(xid), u32::from(status) as _).into_inner() }
    }
    fn warning(&self, message: &str) {
        pgrx::warning!("{message}");
    }
}

fn lock_mode(mode: pg_sys::LockTupleMode::Type) -> LockTupleMode {
    LockTupleMode::try_from(mode as u32).unwrap_or_else(|e| pgrx::error!("{e}"))
}

/// The heavyweight tuple lock of heap's protocol (`heap_acquire_tuplock`), held while waiting
/// for a row's holder so that waiters queue fairly; released on drop.
struct TupleLock {
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointerData,
    mode: i32,
}

impl TupleLock {
    fn acquire(rel: pg_sys::Relation, tid: &pg_sys::ItemPointerData, mode: LockTupleMode, policy: pg_sys::LockWaitPolicy::Type) -> Option<TupleLock> {
        let hw = xmax::tuple_lock_hwlock(mode) as i32;
        let mut tid = *tid;
        // SAFETY: an open relation and a TID; the lock is released in Drop (or with the
        // transaction on ERROR).
        unsafe {
            match policy {
                pg_sys::LockWaitPolicy::LockWaitBlock => pg_sys::LockTuple(rel, &mut tid, hw),
                _ => {
                    if !crate::compat::conditional_lock_tuple(rel, &mut tid, hw) {
                        if policy == pg_sys::LockWaitPolicy::LockWaitError {
                            not_available(rel);
                        }
                        return None;
                    }
                }
            }
        }
        Some(TupleLock { rel, tid, mode: hw })
    }
}

impl Drop for TupleLock {
    fn drop(&mut self) {
        // SAFETY: taken in `acquire`.
        unsafe { pg_sys::UnlockTuple(self.rel, &mut self.tid, self.mode) };
    }
}

fn not_available(rel: pg_sys::Relation) -> ! {
    crate::error::raise(
        PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE,
        format!("could not obtain lock on row in relation \"{}\"", crate::storage::rel::name(rel)),
        None,
    )
}

/// Waits for the holders of a row's xmax that conflict with `mode`: `XactLockTableWait` on a
/// transaction, on each conflicting member of a MultiXact (as `MultiXactIdWait`). With
/// `wait = false` returns false instead of waiting (NOWAIT raises, SKIP LOCKED skips).
fn wait_for_holders(rel: pg_sys::Relation, tid: &pg_sys::ItemPointerData, xwait: u32, infomask: u16, mode: LockTupleMode, policy: pg_sys::LockWaitPolicy::Type) -> bool {
    let mut tid = *tid;
    let oper = pg_sys::XLTW_Oper::XLTW_Lock;
    let holders: Vec<u32> = if infomask as u32 & pg_sys::HEAP_XMAX_IS_MULTI != 0 {
        Server
            .members(xwait, xmax::heap_xmax_is_locked_only(infomask))
            .into_iter()
            .filter(|&(xid, status)| {
                !Server.is_current(xid) && xmax::tuple_lock_modes_conflict(xmax::tuplock_from_mxstatus(status), mode)
            })
            .map(|(xid, _)| xid)
            .collect()
    } else {
        vec![xwait]
    };
    for xid in holders {
        // SAFETY: waits on a transaction's lock; an open relation and TID for the message.
        unsafe {
            match policy {
                pg_sys::LockWaitPolicy::LockWaitBlock => pg_sys::XactLockTableWait(tuple::xid(xid), rel, &mut tid, oper),
                _ => {
                    if !crate::compat::conditional_xact_lock_wait(tuple::xid(xid)) {
                        if policy == pg_sys::LockWaitPolicy::LockWaitError {
                            not_available(rel);
                        }
                        return false;
                    }
                }
            }
        }
    }
    true
}

/// A row version's header, read under the exclusive lock of its page (a delta page, or the
/// overlay of a row group's block), with its segment page locked too (the gate a fold takes).
struct Locked {
    b: Buf,
    /// Where the header is on `b`.
    at: usize,
    /// The whole row version, its header as on the page.
    t: TupleCopy,
    _gate: Buf,
}

/// `columns`: what the caller reads of a row group's row besides its header (a delete or an
/// update reads nothing else; a lock hands the row to the executor).
fn read_locked(rel: pg_sys::Relation, tid: &pg_sys::ItemPointerData, columns: Columns) -> Option<Locked> {
    let (block, slot) = tuple::block_slot(tid)?;
    // SAFETY: an open relation.
    let (relid, cxt) = unsafe { ((*rel).rd_id, pg_sys::CurrentMemoryContext) };
    match store::write_block(rel, block)? {
        Target::Delta { page, gate } => {
            let c = page.content_of(PageKind::Delta);
            let r = columnar_core::delta::tuple(c, slot).unwrap_or_else(|why| page.corrupted(&why))?;
            let t = TupleCopy::new(&c[r.clone()], *tid, relid, cxt);
            Some(Locked { b: page, at: r.start, t, _gate: gate })
        }
        Target::Group { overlay, group, seg } => {
            let position = group.position(block, slot)?;
            let c = overlay.content_of(PageKind::Delta);
            if columnar_core::delta::is_gone(c, slot) {
                return None;
            }
            let at = match columnar_core::delta::tuple(c, slot).unwrap_or_else(|why| overlay.corrupted(&why)) {
                Some(r) => r.start,
                None => {
                    // The row's first header of its own: the stamp's, in the overlay.
                    let header = super::group::stamp_header(super::group::stamp_of(&seg), tid);
                    let plan = columnar_core::delta::plan_insert_at(c, slot, header.len()).unwrap_or_else(|| overlay.corrupted("no room for a row's header in an overlay page"));
                    super::page::WalRecord::change_in_place(rel, &overlay, &plan.ranges(), |c| columnar_core::delta::apply_insert(c, &plan, &header));
                    plan.at
                }
            };
            let header = &overlay.content_of(PageKind::Delta)[at..at + columnar_core::delta::MIN_TUPLE];
            let t = group.form_row(rel, position, header, *tid, cxt, columns);
            Some(Locked { b: overlay, at, t, _gate: seg })
        }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: the copy was allocated by TupleCopy::new for this row and is not stored
        // anywhere else (slots get copies of their own).
        unsafe { pg_sys::pfree(self.t.0 as *mut _) };
    }
}

impl Locked {
    /// A copy of the whole row version in the memory of `slot`, for the slot to own.
    fn copy_into(&self, rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot) -> TupleCopy {
        // SAFETY: an open relation and a valid slot; the copy holds t_len bytes at t_data.
        unsafe {
            let bytes = std::slice::from_raw_parts((*self.t.0).t_data as *const u8, (*self.t.0).t_len as usize);
            TupleCopy::new(bytes, (*self.t.0).t_self, (*rel).rd_id, (*slot).tts_mcxt)
        }
    }

    fn xmax(&self) -> u32 {
        // SAFETY: a stored tuple's header is a HeapTupleFields (t_heap), never a datum header.
        unsafe { self.t.header().t_choice.t_heap.t_xmax.into_inner() }
    }
    fn infomask(&self) -> u16 {
        self.t.header().t_infomask
    }
    fn satisfies_update(&self, cid: pg_sys::CommandId) -> pg_sys::TM_Result::Type {
        // SAFETY: a valid copy; the page is locked.
        unsafe { pg_sys::HeapTupleSatisfiesUpdate(self.t.0, cid, self.b.raw()) }
    }
    fn fill_failure(&self, result: pg_sys::TM_Result::Type, tmfd: *mut pg_sys::TM_FailureData) {
        let h = self.t.0;
        // SAFETY: a valid copy and a TM_FailureData to fill.
        unsafe {
            (*tmfd).ctid = (*(*h).t_data).t_ctid;
            (*tmfd).xmax = tuple::update_xid(&*(*h).t_data);
            (*tmfd).cmax = if result == pg_sys::TM_Result::TM_SelfModified { pg_sys::HeapTupleHeaderGetCmax((*h).t_data) } else { pg_sys::InvalidCommandId };
            (*tmfd).traversed = false;
        }
    }
    /// Writes the copy's xmax, cid, ctid and infomasks back to the page.
    fn write_header(&self, rel: pg_sys::Relation) {
        let range = self.at + tuple::XACT_FIELDS.start..self.at + tuple::XACT_FIELDS.end;
        let bytes = self.t.header_bytes()[tuple::XACT_FIELDS].to_vec();
        super::page::WalRecord::change_in_place(rel, &self.b, &[range.clone()], |c| c[range].copy_from_slice(&bytes));
    }
}

/// The result of the waiting phase shared by delete, update and lock: the locked row and heap's
/// verdict, after waiting for conflicting holders when `policy` allows.
enum Checked {
    Row(Locked, pg_sys::TM_Result::Type, Option<TupleLock>),
    /// SKIP LOCKED found the row locked.
    WouldBlock(Locked),
}

#[allow(clippy::too_many_arguments)]
fn check_and_wait(rel: pg_sys::Relation, tid: &pg_sys::ItemPointerData, cid: pg_sys::CommandId, mode: LockTupleMode, policy: pg_sys::LockWaitPolicy::Type, what: &str, columns: Columns) -> Checked {
    let mut tuple_lock: Option<TupleLock> = None;
    // After a wait for a MultiXact's members, the xmax that was waited for: if the row still
    // has it, it is judged without HeapTupleSatisfiesUpdate, which would say "being modified"
    // as long as any member (a locker, or we ourselves) runs (heap's MultiXactIdWait path).
    let mut waited_multi: Option<(u32, u16)> = None;
    loop {
        let row = read_locked(rel, tid, columns).unwrap_or_else(|| pgrx::error!("attempted to {what} invisible tuple"));
        let (xwait, infomask) = (row.xmax(), row.infomask());
        let same_multi = waited_multi == Some((xwait, infomask & pg_sys::HEAP_XMAX_BITS as u16));
        let result = if same_multi { pg_sys::TM_Result::TM_BeingModified } else { row.satisfies_update(cid) };
        if result != pg_sys::TM_Result::TM_BeingModified {
            return Checked::Row(row, result, tuple_lock);
        }
        let multi = infomask as u32 & pg_sys::HEAP_XMAX_IS_MULTI != 0;
        let (must_wait, member) = if same_multi {
            (false, false)
        } else if multi {
            xmax::does_multixact_conflict(&Server, xwait, infomask, mode)
        } else if Server.is_current(xwait) {
            (false, false)
        } else {
            // A single locker or updater of another transaction: a weaker lock than ours that
            // does not conflict (two key-share lockers) need not be waited for.
            let infomask2 = row.t.header().t_infomask2;
            (!(xmax::heap_xmax_is_locked_only(infomask) && !lock_conflicts_single(infomask, infomask2, mode)), false)
        };
        if !must_wait {
            let verdict = if infomask as u32 & pg_sys::HEAP_XMAX_INVALID != 0
                || xmax::heap_xmax_is_locked_only(infomask)
                // SAFETY: a valid header copy.
                || unsafe { pg_sys::HeapTupleHeaderIsOnlyLocked((*row.t.0).t_data) }
            {
                pg_sys::TM_Result::TM_Ok
            } else if tuple::block_slot(&row.t.header().t_ctid) != tuple::block_slot(tid) {
                pg_sys::TM_Result::TM_Updated
            } else {
                pg_sys::TM_Result::TM_Deleted
            };
            return Checked::Row(row, verdict, tuple_lock);
        }
        drop(row);
        // A member of the MultiXact does not queue on the tuple lock: another waiter holding
        // it may be waiting for us (heap_delete's `current_is_member`).
        if tuple_lock.is_none() && !member {
            match TupleLock::acquire(rel, tid, mode, policy) {
                Some(l) => tuple_lock = Some(l),
                None => return Checked::WouldBlock(read_locked(rel, tid, columns).expect("row seen above")),
            }
        }
        if !wait_for_holders(rel, tid, xwait, infomask, mode, policy) {
            return Checked::WouldBlock(read_locked(rel, tid, columns).expect("row seen above"));
        }
        waited_multi = multi.then_some((xwait, infomask & pg_sys::HEAP_XMAX_BITS as u16));
        // The holders are gone: judge the row again (as heap's `goto l1`).
    }
}

/// Whether a single transaction's lock-only xmax (strength in `infomask`) conflicts with `mode`.
fn lock_conflicts_single(infomask: u16, infomask2: u16, mode: LockTupleMode) -> bool {
    let held = if xmax::heap_xmax_is_keyshr_locked(infomask) {
        LockTupleMode::KeyShare
    } else if xmax::heap_xmax_is_shr_locked(infomask) {
        LockTupleMode::Share
    } else if infomask2 as u32 & pg_sys::HEAP_KEYS_UPDATED != 0 {
        LockTupleMode::Exclusive
    } else {
        LockTupleMode::NoKeyExclusive
    };
    xmax::tuple_lock_modes_conflict(held, mode)
}

/// Sets the copy's xmax for an updater or locker and, for an update or delete, its cmax and ctid.
fn new_xmax(row: &mut Locked, mode: LockTupleMode, is_update: bool, cid: pg_sys::CommandId, ctid: pg_sys::ItemPointerData) {
    // SAFETY: a valid header copy of a row we hold the page lock of.
    unsafe {
        pg_sys::MultiXactIdSetOldestMember();
        let xid = pg_sys::GetCurrentTransactionId();
        let h = &mut *(*row.t.0).t_data;
        let (xmax, infomask, infomask2) =
            xmax::compute_new_xmax_infomask(&mut Server, h.t_choice.t_heap.t_xmax.into_inner(), h.t_infomask, h.t_infomask2, xid.into_inner(), mode, is_update)
                .unwrap_or_else(|e| pgrx::error!("{e}"));
        if is_update {
            let mut cid = cid;
            let mut combo = false;
            pg_sys::HeapTupleHeaderAdjustCmax(h, &mut cid, &mut combo);
            h.t_choice.t_heap.t_field3.t_cid = cid;
            if combo {
                h.t_infomask |= pg_sys::HEAP_COMBOCID as u16;
            } else {
                h.t_infomask &= !(pg_sys::HEAP_COMBOCID as u16);
            }
            h.t_ctid = ctid;
        }
        h.t_infomask &= !((pg_sys::HEAP_XMAX_BITS | pg_sys::HEAP_MOVED) as u16);
        h.t_infomask2 &= !(pg_sys::HEAP_KEYS_UPDATED as u16);
        h.t_infomask |= infomask;
        h.t_infomask2 |= infomask2;
        h.t_choice.t_heap.t_xmax = tuple::xid(xmax);
        if !is_update && xmax::heap_xmax_is_locked_only(infomask) {
            // As heap_lock_tuple: a lock-only xmax points the row at itself (an aborted
            // updater's ctid is forgotten).
            h.t_ctid = ctid;
        }
    }
}

/// Deletes (or, with `new_tid`, marks as updated) the row version `tid`.
#[allow(clippy::too_many_arguments)]
fn end_version(
    rel: pg_sys::Relation,
    tid: &pg_sys::ItemPointerData,
    cid: pg_sys::CommandId,
    crosscheck: pg_sys::Snapshot,
    wait: bool,
    tmfd: *mut pg_sys::TM_FailureData,
    mode: LockTupleMode,
    new_ctid: pg_sys::ItemPointerData,
    what: &str,
) -> (pg_sys::TM_Result::Type, Option<(u32, u16)>) {
    super::publication::refuse_if_published(rel);
    let policy = if wait { pg_sys::LockWaitPolicy::LockWaitBlock } else { pg_sys::LockWaitPolicy::LockWaitSkip };
    let (mut row, mut result, _tuple_lock) = match check_and_wait(rel, tid, cid, mode, policy, what, Columns::Header) {
        Checked::Row(r, res, l) => (r, res, l),
        Checked::WouldBlock(r) => (r, pg_sys::TM_Result::TM_BeingModified, None),
    };
    if result == pg_sys::TM_Result::TM_Invisible {
        // As heap_delete and heap_update: the executor never asks this of a row it cannot see.
        crate::error::raise(PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, format!("attempted to {what} invisible tuple"), None);
    }
    // SAFETY: a valid copy and page; a crosscheck snapshot is valid when not null.
    if result == pg_sys::TM_Result::TM_Ok && !crosscheck.is_null() && !tuple::visible(&row.t, crosscheck, &row.b) {
        result = pg_sys::TM_Result::TM_Updated;
    }
    if result != pg_sys::TM_Result::TM_Ok {
        row.fill_failure(result, tmfd);
        return (result, None);
    }
    // As heap_delete: after the waits, with the page locked until the new xmax is written, so
    // that no serializable reader can lock the row in between unseen.
    super::serializable::check_write(rel, Some(tid));
    let old = (row.xmax(), row.infomask());
    new_xmax(&mut row, mode, true, cid, new_ctid);
    row.write_header(rel);
    (result, Some(old))
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_delete(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    cid: pg_sys::CommandId,
    _snapshot: pg_sys::Snapshot,
    crosscheck: pg_sys::Snapshot,
    wait: bool,
    tmfd: *mut pg_sys::TM_FailureData,
    changing_part: bool,
) -> pg_sys::TM_Result::Type {
    // SAFETY: a valid TID from the executor.
    unsafe {
        let ctid = if changing_part {
            tuple::item_pointer(pg_sys::InvalidBlockNumber, pg_sys::MovedPartitionsOffsetNumber as u16)
        } else {
            *tid
        };
        let (result, _) = end_version(rel, &*tid, cid, crosscheck, wait, tmfd, LockTupleMode::Exclusive, ctid, "delete");
        if result == pg_sys::TM_Result::TM_Ok {
            pg_sys::pgstat_count_heap_delete(rel);
        }
        result
    }
}

/// An update writes the new version into the delta store first (invisible to others until
/// commit), then ends the old one pointing at it; if the old one cannot be updated, the new one
/// is killed as an aborted speculative insert is. Every index gets an entry for the new TID.
#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_update(
    rel: pg_sys::Relation,
    otid: pg_sys::ItemPointer,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    _snapshot: pg_sys::Snapshot,
    crosscheck: pg_sys::Snapshot,
    wait: bool,
    tmfd: *mut pg_sys::TM_FailureData,
    lockmode: *mut pg_sys::LockTupleMode::Type,
    update_indexes: *mut crate::compat::UpdateIndexes,
) -> pg_sys::TM_Result::Type {
    // SAFETY: valid arguments from the executor.
    unsafe {
        let keys_changed = keys_changed(rel, &*otid, slot);
        let mode = if keys_changed { LockTupleMode::Exclusive } else { LockTupleMode::NoKeyExclusive };
        *lockmode = u32::from(mode) as _;
        insert::insert_slot(rel, slot, cid, 0, None, true);
        let new_tid = (*slot).tts_tid;
        let (result, old) = end_version(rel, &*otid, cid, crosscheck, wait, tmfd, mode, new_tid, "update");
        *update_indexes = crate::compat::update_indexes(result == pg_sys::TM_Result::TM_Ok);
        match old {
            Some((old_xmax, old_infomask)) => {
                carry_lockers(rel, old_xmax, old_infomask, &new_tid);
                crate::compat::count_update(rel);
            }
            None => insert::kill_version(rel, &new_tid),
        }
        result
    }
}

/// Whether the update changes a column of a unique index or a foreign key's referenced columns
/// (`INDEX_ATTR_BITMAP_KEY`): such an update conflicts with FOR KEY SHARE lockers.
unsafe fn keys_changed(rel: pg_sys::Relation, otid: &pg_sys::ItemPointerData, slot: *mut pg_sys::TupleTableSlot) -> bool {
    // SAFETY: an open relation; the old row is read with SnapshotAny (it exists: the executor
    // just found it).
    unsafe {
        let keys = pg_sys::RelationGetIndexAttrBitmap(rel, pg_sys::IndexAttrBitmapKind::INDEX_ATTR_BITMAP_KEY);
        if keys.is_null() {
            return false;
        }
        let Some(old) = fetch::fetch(rel, otid, &raw mut pg_sys::SnapshotAnyData, pg_sys::CurrentMemoryContext, None, false, super::group::Columns::All) else { return true };
        let desc = (*rel).rd_att;
        pg_sys::slot_getallattrs(slot);
        let mut changed = false;
        let mut member = -1;
        loop {
            member = pg_sys::bms_next_member(keys, member);
            if member < 0 {
                break;
            }
            let attno = member + pg_sys::FirstLowInvalidHeapAttributeNumber;
            if attno <= 0 {
                changed = true;
                break;
            }
            let att = crate::compat::attr(desc, attno as usize - 1);
            let mut old_null = false;
            let old_value = pg_sys::heap_getattr(old.0, attno, desc, &mut old_null);
            let new_null = *(*slot).tts_isnull.add(attno as usize - 1);
            let new_value = *(*slot).tts_values.add(attno as usize - 1);
            if old_null != new_null || (!old_null && !pg_sys::ffi::pg_guard_ffi_boundary(|| datumIsEqual(old_value, new_value, att.attbyval, att.attlen as i32))) {
                changed = true;
                break;
            }
        }
        old.free();
        changed
    }
}

/// Lockers of the old version that an update did not have to wait for (FOR KEY SHARE lockers of
/// an update that changes no key) keep their lock on the new version: as heap_update, the new
/// version gets the old xmax, as a key-share lock or with the MultiXact's own bits.
fn carry_lockers(rel: pg_sys::Relation, old_xmax: u32, old_infomask: u16, new_tid: &pg_sys::ItemPointerData) {
    if old_infomask as u32 & pg_sys::HEAP_XMAX_INVALID != 0 || xmax::heap_locked_upgraded(old_infomask) || old_xmax == 0 {
        return;
    }
    let (bits, bits2) = if old_infomask as u32 & pg_sys::HEAP_XMAX_IS_MULTI != 0 {
        xmax::get_multixact_id_hint_bits(&Server, old_xmax)
    } else {
        ((pg_sys::HEAP_XMAX_KEYSHR_LOCK | pg_sys::HEAP_XMAX_LOCK_ONLY) as u16, 0)
    };
    insert::rewrite_header(rel, new_tid, |h| {
        h[4..8].copy_from_slice(&old_xmax.to_ne_bytes());
        let infomask = u16::from_ne_bytes([h[20], h[21]]) & !(pg_sys::HEAP_XMAX_BITS as u16) | bits;
        h[20..22].copy_from_slice(&infomask.to_ne_bytes());
        let infomask2 = u16::from_ne_bytes([h[18], h[19]]) & !(pg_sys::HEAP_KEYS_UPDATED as u16) | bits2;
        h[18..20].copy_from_slice(&infomask2.to_ne_bytes());
    });
}

/// Locks the row version `tid` (SELECT FOR UPDATE/SHARE, foreign keys, EvalPlanQual), following
/// its update chain to the newest version when asked.
#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_lock(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    _snapshot: pg_sys::Snapshot,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    mode: pg_sys::LockTupleMode::Type,
    wait_policy: pg_sys::LockWaitPolicy::Type,
    flags: u8,
    tmfd: *mut pg_sys::TM_FailureData,
) -> pg_sys::TM_Result::Type {
    let mode = lock_mode(mode);
    // SAFETY: valid arguments from the executor.
    unsafe {
        let mut tid_now = *tid;
        let mut traversed = false;
        loop {
            if mode == LockTupleMode::KeyShare {
                match key_share_of_updated(rel, &tid_now, cid, flags) {
                    KeyShare::NotApplicable => {}
                    KeyShare::Restart => continue,
                    KeyShare::Failed(result) => {
                        // As heap's `failed:` path: the failure data of this version; a newer
                        // version whose key changed is then followed as any update is.
                        let Some(row) = read_locked(rel, &tid_now, Columns::All) else { return pg_sys::TM_Result::TM_Deleted };
                        row.fill_failure(result, tmfd);
                        let t = row.copy_into(rel, slot);
                        drop(row);
                        pg_sys::ExecStoreHeapTuple(t.0, slot, true);
                        (*tmfd).traversed = traversed;
                        if result != pg_sys::TM_Result::TM_Updated || flags as u32 & pg_sys::TUPLE_LOCK_FLAG_FIND_LAST_VERSION == 0 {
                            return result;
                        }
                        match follow(rel, &(*tmfd).ctid, (*tmfd).xmax, cid) {
                            Follow::Next => {
                                tid_now = (*tmfd).ctid;
                                traversed = true;
                                continue;
                            }
                            Follow::SelfModified(cmax) => {
                                (*tmfd).cmax = cmax;
                                return pg_sys::TM_Result::TM_SelfModified;
                            }
                            Follow::Gone => return pg_sys::TM_Result::TM_Deleted,
                        }
                    }
                    KeyShare::Locked(row) => {
                        let t = row.copy_into(rel, slot);
                        drop(row);
                        pg_sys::ExecStoreHeapTuple(t.0, slot, true);
                        (*slot).tts_tableOid = (*rel).rd_id;
                        (*tmfd).traversed = traversed;
                        *tid = tid_now;
                        return pg_sys::TM_Result::TM_Ok;
                    }
                }
            }
            let (mut row, mut result, _tl) = match check_and_wait(rel, &tid_now, cid, mode, wait_policy, "lock", Columns::All) {
                Checked::Row(r, res, l) => (r, res, l),
                Checked::WouldBlock(r) => (r, pg_sys::TM_Result::TM_WouldBlock, None),
            };
            if result == pg_sys::TM_Result::TM_Ok && !already_locked(&row, mode) {
                new_xmax(&mut row, mode, false, cid, tid_now);
                row.write_header(rel);
            }
            // As heapam_tuple_lock, the slot gets the version examined whatever the result:
            // callers read it after a failure too (ON CONFLICT reads its xmin on TM_Invisible).
            let t = row.copy_into(rel, slot);
            if result != pg_sys::TM_Result::TM_Ok {
                row.fill_failure(result, tmfd);
            }
            drop(row);
            pg_sys::ExecStoreHeapTuple(t.0, slot, true);
            (*slot).tts_tableOid = (*rel).rd_id;
            (*tmfd).traversed = traversed;
            if result == pg_sys::TM_Result::TM_Ok {
                // The caller goes on with the version it locked (the newest, when it followed).
                *tid = tid_now;
                return result;
            }
            let next = (*tmfd).ctid;
            if result == pg_sys::TM_Result::TM_Updated && flags as u32 & pg_sys::TUPLE_LOCK_FLAG_FIND_LAST_VERSION != 0 {
                if next.ip_posid as u32 == pg_sys::MovedPartitionsOffsetNumber {
                    crate::error::raise(PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE, "tuple to be locked was already moved to another partition due to concurrent update", None);
                }
                // Follow to the next version, checking it continues this chain.
                match follow(rel, &next, (*tmfd).xmax, cid) {
                    Follow::Next => {
                        tid_now = next;
                        traversed = true;
                        continue;
                    }
                    Follow::SelfModified(cmax) => {
                        (*tmfd).cmax = cmax;
                        return pg_sys::TM_Result::TM_SelfModified;
                    }
                    Follow::Gone => {
                        result = pg_sys::TM_Result::TM_Deleted;
                    }
                }
            }
            return result;
        }
    }
}

/// What `heap_lock_tuple` does for a key-share lock on a row that another transaction updated
/// without changing its key (a foreign-key check against a parent row whose other columns
/// changed).
enum KeyShare {
    /// Not that case: the general protocol applies.
    NotApplicable,
    /// The row changed meanwhile: start over.
    Restart,
    /// A newer version could not be locked (its key was changed or it was deleted).
    Failed(pg_sys::TM_Result::Type),
    /// Locked, with no wait for the updater, as heap: this version and every newer one.
    Locked(Locked),
}

fn key_share_of_updated(rel: pg_sys::Relation, tid: &pg_sys::ItemPointerData, cid: pg_sys::CommandId, flags: u8) -> KeyShare {
    let Some(row) = read_locked(rel, tid, Columns::Header) else { return KeyShare::NotApplicable };
    let result = row.satisfies_update(cid);
    let h = row.t.header();
    let keys_updated = h.t_infomask2 as u32 & pg_sys::HEAP_KEYS_UPDATED != 0;
    if !(result == pg_sys::TM_Result::TM_BeingModified || result == pg_sys::TM_Result::TM_Updated)
        || keys_updated
        || xmax::heap_xmax_is_locked_only(h.t_infomask)
    {
        return KeyShare::NotApplicable;
    }
    let (next, updater) = (h.t_ctid, tuple::update_xid(h));
    drop(row);
    // Newer versions first, without this page locked (they may need waits), as heap does.
    if flags as u32 & pg_sys::TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS != 0 {
        let result = lock_newer_versions(rel, next, updater.into_inner(), LockTupleMode::KeyShare);
        if result != pg_sys::TM_Result::TM_Ok {
            return KeyShare::Failed(result);
        }
    }
    let Some(mut row) = read_locked(rel, tid, Columns::All) else { return KeyShare::Restart };
    // SAFETY: a valid header copy.
    let only_locked = unsafe { pg_sys::HeapTupleHeaderIsOnlyLocked((*row.t.0).t_data) };
    if !only_locked && row.t.header().t_infomask2 as u32 & pg_sys::HEAP_KEYS_UPDATED != 0 {
        return KeyShare::Restart;
    }
    if !already_locked(&row, LockTupleMode::KeyShare) {
        new_xmax(&mut row, LockTupleMode::KeyShare, false, cid, *tid);
        row.write_header(rel);
    }
    KeyShare::Locked(row)
}

/// The holder of a row version's xmax as a MultiXact status.
fn holder_status(infomask: u16, infomask2: u16) -> MultiXactStatus {
    let keys = infomask2 as u32 & pg_sys::HEAP_KEYS_UPDATED != 0;
    if !xmax::heap_xmax_is_locked_only(infomask) {
        if keys { MultiXactStatus::Update } else { MultiXactStatus::NoKeyUpdate }
    } else if xmax::heap_xmax_is_keyshr_locked(infomask) {
        MultiXactStatus::ForKeyShare
    } else if xmax::heap_xmax_is_shr_locked(infomask) {
        MultiXactStatus::ForShare
    } else if keys {
        MultiXactStatus::ForUpdate
    } else {
        MultiXactStatus::ForNoKeyUpdate
    }
}

/// `test_lockmode_for_conflict`: what a holder of a newer version means for our lock.
enum Holder {
    Compatible,
    Wait,
    /// Our own transaction already holds it: this version is done.
    Ours,
    Fail(pg_sys::TM_Result::Type),
}

fn test_holder(xid: u32, status: MultiXactStatus, wanted: MultiXactStatus, deleted: bool) -> Holder {
    let conflict = || xmax::do_lock_modes_conflict(xmax::lockmode_from_mxstatus(status), xmax::lockmode_from_mxstatus(wanted));
    if Server.is_current(xid) {
        Holder::Ours
    } else if Server.is_in_progress(xid) {
        if conflict() { Holder::Wait } else { Holder::Compatible }
    } else if Server.did_abort(xid) || !Server.did_commit(xid) || !xmax::isupdate_from_mxstatus(status) || !conflict() {
        Holder::Compatible
    } else if deleted {
        Holder::Fail(pg_sys::TM_Result::TM_Deleted)
    } else {
        Holder::Fail(pg_sys::TM_Result::TM_Updated)
    }
}

/// `heap_lock_updated_tuple`: adds our lock of `mode` to every newer version of an updated row,
/// from `first` (inserted by `prior_xmax`), waiting for holders that conflict with it.
fn lock_newer_versions(rel: pg_sys::Relation, first: pg_sys::ItemPointerData, prior_xmax: u32, mode: LockTupleMode) -> pg_sys::TM_Result::Type {
    let wanted = xmax::get_mxact_status_for_lock(mode, false).unwrap_or_else(|e| pgrx::error!("{e}"));
    let (mut tid, mut prior) = (first, prior_xmax);
    'versions: loop {
        let Some(mut row) = read_locked(rel, &tid, Columns::Header) else { return pg_sys::TM_Result::TM_Ok };
        let h = row.t.header();
        // SAFETY: stored headers are HeapTupleFields.
        let xmin = unsafe { h.t_choice.t_heap.t_xmin }.into_inner();
        if xmin != prior || Server.did_abort(xmin) {
            return pg_sys::TM_Result::TM_Ok;
        }
        let (xwait, infomask, infomask2) = (row.xmax(), h.t_infomask, h.t_infomask2);
        let deleted = tuple::block_slot(&h.t_ctid) == tuple::block_slot(&tid);
        let mut ours = false;
        if infomask as u32 & pg_sys::HEAP_XMAX_INVALID == 0 && !xmax::heap_locked_upgraded(infomask) {
            let holders = if infomask as u32 & pg_sys::HEAP_XMAX_IS_MULTI != 0 {
                Server.members(xwait, xmax::heap_xmax_is_locked_only(infomask))
            } else {
                vec![(xwait, holder_status(infomask, infomask2))]
            };
            for (xid, status) in holders {
                match test_holder(xid, status, wanted, deleted) {
                    Holder::Compatible => {}
                    Holder::Ours => {
                        ours = true;
                        break;
                    }
                    Holder::Wait => {
                        drop(row);
                        let mut t = tid;
                        // SAFETY: waits on a transaction's lock; the TID names the row in messages.
                        unsafe { pg_sys::XactLockTableWait(tuple::xid(xid), rel, &mut t, pg_sys::XLTW_Oper::XLTW_LockUpdated) };
                        continue 'versions;
                    }
                    Holder::Fail(result) => return result,
                }
            }
        }
        if !ours {
            new_xmax(&mut row, mode, false, pg_sys::InvalidCommandId, tid);
            row.write_header(rel);
        }
        let h = row.t.header();
        // SAFETY: a valid header copy.
        let end = h.t_infomask as u32 & pg_sys::HEAP_XMAX_INVALID != 0
            || unsafe { pg_sys::HeapTupleHeaderIsOnlyLocked((*row.t.0).t_data) }
            || h.t_ctid.ip_posid as u32 == pg_sys::MovedPartitionsOffsetNumber
            || tuple::block_slot(&h.t_ctid) == tuple::block_slot(&tid);
        if end {
            return pg_sys::TM_Result::TM_Ok;
        }
        prior = tuple::update_xid(h).into_inner();
        tid = h.t_ctid;
    }
}

enum Follow {
    Next,
    SelfModified(pg_sys::CommandId),
    Gone,
}

/// Whether the version at `next` continues the chain of an update by `prior_xmax` (its xmin).
unsafe fn follow(rel: pg_sys::Relation, next: &pg_sys::ItemPointerData, prior_xmax: pg_sys::TransactionId, cid: pg_sys::CommandId) -> Follow {
    // SAFETY: an open relation; SnapshotAny returns any stored version.
    unsafe {
        let Some(t) = fetch::fetch(rel, next, &raw mut pg_sys::SnapshotAnyData, pg_sys::CurrentMemoryContext, None, false, super::group::Columns::Header) else { return Follow::Gone };
        let h = t.header();
        let xmin = h.t_choice.t_heap.t_xmin;
        if xmin == prior_xmax && !pg_sys::TransactionIdIsCurrentTransactionId(xmin) && pg_sys::TransactionIdIsInProgress(xmin) {
            // The updater is still running (heapam_tuple_lock's dirty-snapshot wait): wait
            // for it, then judge the version again.
            let mut tid = *next;
            t.free();
            pg_sys::XactLockTableWait(xmin, rel, &mut tid, pg_sys::XLTW_Oper::XLTW_FetchUpdated);
            return follow(rel, next, prior_xmax, cid);
        }
        let result = if xmin != prior_xmax || pg_sys::TransactionIdDidAbort(xmin) {
            Follow::Gone
        } else if pg_sys::TransactionIdIsCurrentTransactionId(xmin) && pg_sys::HeapTupleHeaderGetCmin((*t.0).t_data) >= cid {
            Follow::SelfModified(pg_sys::HeapTupleHeaderGetCmin((*t.0).t_data))
        } else {
            Follow::Next
        };
        t.free();
        result
    }
}

/// Whether our transaction already holds a lock on the row at least as strong as `mode`.
fn already_locked(row: &Locked, mode: LockTupleMode) -> bool {
    let (xmax, infomask) = (row.xmax(), row.infomask());
    if infomask as u32 & (pg_sys::HEAP_XMAX_INVALID | pg_sys::HEAP_XMAX_IS_MULTI) != 0 || !Server.is_current(xmax) {
        return false;
    }
    if !xmax::heap_xmax_is_locked_only(infomask) {
        return true; // we updated or deleted it: the strongest lock
    }
    let held = if xmax::heap_xmax_is_excl_locked(infomask) {
        if row.t.header().t_infomask2 as u32 & pg_sys::HEAP_KEYS_UPDATED != 0 { LockTupleMode::Exclusive } else { LockTupleMode::NoKeyExclusive }
    } else if xmax::heap_xmax_is_shr_locked(infomask) {
        LockTupleMode::Share
    } else {
        LockTupleMode::KeyShare
    };
    u32::from(held) >= u32::from(mode)
}
