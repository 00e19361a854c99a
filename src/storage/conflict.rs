//! Recovery conflicts for changes logged with generic WAL.
//!
//! Heap's prune and freeze records make a hot standby cancel the queries whose snapshots could
//! still see what they remove or freeze; generic WAL records raise no such conflict. Before such
//! a change, an access method logs [`log_horizon`]: a record whose replay does nothing but resolve
//! the conflict for a horizon. It borrows nbtree's `XLOG_BTREE_REUSE_PAGE`, whose redo
//! (`btree_xlog_reuse_page`) only calls `ResolveRecoveryConflictWithSnapshotFullXid` and touches
//! no page. Its layout is `xl_btree_reuse_page`'s, which 16 extends by `isCatalogRel`.

use super::rel;
use pgrx::pg_sys;

/// `XLOG_BTREE_REUSE_PAGE` (access/nbtxlog.h).
const XLOG_BTREE_REUSE_PAGE: u8 = 0xD0;

/// `xl_btree_reuse_page` (access/nbtxlog.h).
#[repr(C)]
struct ReusePage {
    node: crate::compat::RelFile,
    block: pg_sys::BlockNumber,
    latest_removed_full_xid: u64,
    /// Conflicts for logical decoding on a standby (16+); our relations are never catalogs.
    #[cfg(feature = "pg18")]
    is_catalog_rel: bool,
}

/// The record's length: `SizeOfBtreeReusePage`, which stops after `isCatalogRel` in 16+.
#[cfg(feature = "pg15")]
const RECORD_LEN: usize = 24;
#[cfg(feature = "pg18")]
const RECORD_LEN: usize = 25;

const _: () = assert!(std::mem::offset_of!(ReusePage, latest_removed_full_xid) == 16 && std::mem::size_of::<ReusePage>() >= RECORD_LEN);

/// The full transaction id of `xid`, a transaction of the current epoch or the one before
/// (every xid still in a table is, since wraparound protection keeps them within 2^31).
fn full_xid(xid: pg_sys::TransactionId) -> u64 {
    // SAFETY: reads the shared next-xid counter.
    let next = unsafe { pg_sys::ReadNextFullTransactionId() }.value;
    let (epoch, next_xid) = (next >> 32, next as u32);
    let x = xid.into_inner();
    if x <= next_xid || epoch == 0 { epoch << 32 | x as u64 } else { (epoch - 1) << 32 | x as u64 }
}

/// Logs, when a hot standby could be reading `rel`, that the change about to be logged removes
/// or freezes row versions whose deleting (or inserting) transactions are at most `horizon`:
/// the standby's replay cancels queries whose snapshots could still see them.
pub fn log_horizon(rel: pg_sys::Relation, horizon: pg_sys::TransactionId) {
    // SAFETY: reads the wal_level setting.
    let standby_info = unsafe { pg_sys::wal_level } >= pg_sys::WalLevel::WAL_LEVEL_REPLICA as i32;
    if !standby_info || !rel::needs_wal(rel) || horizon.into_inner() < pg_sys::FirstNormalTransactionId.into_inner() {
        return;
    }
    let mut record = ReusePage {
        // SAFETY: an open relation.
        node: unsafe { crate::compat::rel_file(rel) },
        block: 0,
        latest_removed_full_xid: full_xid(horizon),
        #[cfg(feature = "pg18")]
        is_catalog_rel: false,
    };
    // SAFETY: a WAL record of a fixed-size struct that lives until XLogInsert returns; it
    // registers no buffer.
    unsafe {
        pg_sys::XLogBeginInsert();
        pg_sys::XLogRegisterData(&raw mut record as _, RECORD_LEN as _);
        pg_sys::XLogInsert(pg_sys::RmgrIds::RM_BTREE_ID as u8, XLOG_BTREE_REUSE_PAGE);
    }
}
