//! Facts about an open relation that both access methods need.

use pgrx::pg_sys;

/// `RELATION_IS_LOCAL(rel)`: created in this transaction, so invisible to other backends.
pub fn is_local(rel: pg_sys::Relation) -> bool {
    // SAFETY: `rel` is a valid open relation.
    unsafe { (*rel).rd_islocaltemp || (*rel).rd_createSubid != 0 }
}

/// `RelationNeedsWAL(rel)`: permanent, and either WAL is needed for archiving/replication or the
/// relation's file was not created in this transaction (wal_level = minimal then syncs it at commit).
pub fn needs_wal(rel: pg_sys::Relation) -> bool {
    const INVALID_SUBXACT: pg_sys::SubTransactionId = 0; // InvalidSubTransactionId
    // SAFETY: `rel` is a valid open relation with its pg_class row loaded.
    unsafe {
        (*(*rel).rd_rel).relpersistence as u8 == pg_sys::RELPERSISTENCE_PERMANENT
            && (pg_sys::wal_level as u32 >= pg_sys::WalLevel::WAL_LEVEL_REPLICA
                || ((*rel).rd_createSubid == INVALID_SUBXACT && crate::compat::first_file_subid(rel) == INVALID_SUBXACT))
    }
}

/// `RelationGetRelationName(rel)`.
pub fn name(rel: pg_sys::Relation) -> String {
    // SAFETY: an open relation's pg_class row holds its NUL-terminated name.
    unsafe { std::ffi::CStr::from_ptr((*(*rel).rd_rel).relname.data.as_ptr()).to_string_lossy().into_owned() }
}

/// Pages in the relation's main fork.
pub fn main_fork_blocks(rel: pg_sys::Relation) -> u32 {
    // SAFETY: an open relation.
    unsafe { pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM) }
}

/// Runs the table AM's `index_build_range_scan` over the whole of `heap` for `index`, feeding each
/// tuple to `callback` with `state`: CREATE INDEX's scan (`scan` null, `anyvisible` false) or, with
/// a scan of the caller's snapshot, amcheck's heapallindexed check. Returns the heap tuples seen.
///
/// # Safety
/// `heap` and `index` are open and locked, `info` is the index's IndexInfo, `state` is what
/// `callback` expects, and `scan` is null or a scan of `heap` begun by the caller.
pub unsafe fn index_build_scan<S>(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    progress: bool,
    callback: pg_sys::IndexBuildCallback,
    state: &mut S,
    scan: pg_sys::TableScanDesc,
) -> f64 {
    // SAFETY: per the contract; every table AM sets index_build_range_scan (tableam.c checks).
    unsafe {
        let build_scan = (*(*heap).rd_tableam).index_build_range_scan.expect("table AM without index_build_range_scan");
        build_scan(heap, index, info, true, false, progress, 0, pg_sys::InvalidBlockNumber, callback, state as *mut S as *mut std::ffi::c_void, scan)
    }
}
