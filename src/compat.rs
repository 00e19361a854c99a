//! The server APIs that differ between the PostgreSQL majors OmenDB builds for: 15 (feature
//! `pg15`) and 18 (feature `pg18`). Helpers here hide a renamed field or an added argument;
//! callbacks whose whole signature changed carry their own `cfg` where they are defined.

use pgrx::pg_sys;

/// The physical identity of a relation's files: `RelFileNode` in 15, `RelFileLocator` in 16+.
#[cfg(feature = "pg15")]
pub type RelFile = pg_sys::RelFileNode;
#[cfg(feature = "pg18")]
pub type RelFile = pg_sys::RelFileLocator;

/// `rel->rd_node` (15) or `rel->rd_locator` (16+).
///
/// # Safety
/// `rel` is an open relation.
pub unsafe fn rel_file(rel: pg_sys::Relation) -> RelFile {
    #[cfg(feature = "pg15")]
    // SAFETY: the caller's.
    return unsafe { (*rel).rd_node };
    #[cfg(feature = "pg18")]
    // SAFETY: the caller's.
    return unsafe { (*rel).rd_locator };
}

/// The relation's files as (tablespace, database, file number): a key for per-backend caches
/// that must forget a relation whose file was replaced (TRUNCATE, VACUUM FULL, REINDEX).
///
/// # Safety
/// `rel` is an open relation.
pub unsafe fn rel_file_key(rel: pg_sys::Relation) -> (u32, u32, u32) {
    // SAFETY: the caller's.
    let f = unsafe { rel_file(rel) };
    #[cfg(feature = "pg15")]
    return (f.spcNode.to_u32(), f.dbNode.to_u32(), f.relNode.to_u32());
    #[cfg(feature = "pg18")]
    return (f.spcOid.to_u32(), f.dbOid.to_u32(), f.relNumber.to_u32());
}

/// The subtransaction that gave `rel` its current file, if this transaction did.
///
/// # Safety
/// `rel` is an open relation.
pub unsafe fn first_file_subid(rel: pg_sys::Relation) -> pg_sys::SubTransactionId {
    #[cfg(feature = "pg15")]
    // SAFETY: the caller's.
    return unsafe { (*rel).rd_firstRelfilenodeSubid };
    #[cfg(feature = "pg18")]
    // SAFETY: the caller's.
    return unsafe { (*rel).rd_firstRelfilelocatorSubid };
}

/// `TupleDescAttr(desc, i)`: the `i`th attribute (from 0). PostgreSQL 18 keeps the full
/// attributes after an array of compact ones.
///
/// # Safety
/// `desc` is a valid tuple descriptor and `i < desc->natts`; the result lives as long as it.
pub unsafe fn attr<'a>(desc: pg_sys::TupleDesc, i: usize) -> &'a pg_sys::FormData_pg_attribute {
    #[cfg(feature = "pg15")]
    // SAFETY: the caller's; 15 stores the attributes inline.
    return unsafe { &*(*desc).attrs.as_ptr().add(i) };
    #[cfg(feature = "pg18")]
    // SAFETY: the caller's; 18 stores `natts` compact attributes, then the full ones
    // (TupleDescAttrAddress in access/tupdesc.h).
    return unsafe {
        let full = (*desc).compact_attrs.as_ptr().add((*desc).natts as usize) as *const pg_sys::FormData_pg_attribute;
        &*full.add(i)
    };
}

/// `vacuum_delay_point()` for VACUUM (18 asks whether it is ANALYZE's).
pub fn vacuum_delay_point() {
    // SAFETY: honours vacuum_cost_delay and interrupts; callers hold no buffer lock.
    #[cfg(feature = "pg15")]
    unsafe {
        pg_sys::vacuum_delay_point()
    };
    // SAFETY: as above.
    #[cfg(feature = "pg18")]
    unsafe {
        pg_sys::vacuum_delay_point(false)
    };
}

/// Adds `n` index scans to `idx_scan` of `pg_stat_user_indexes` (pgstat_count_index_scan) and,
/// from 18 on, to the "Index Searches" EXPLAIN ANALYZE shows.
///
/// # Safety
/// `scan` is a live index scan.
pub unsafe fn count_index_scans(scan: pg_sys::IndexScanDesc, n: i64) {
    // SAFETY: the caller's; pgstat_assoc_relation sets pgstat_info when stats are enabled.
    unsafe {
        let rel = (*scan).indexRelation;
        if (*rel).pgstat_info.is_null() && (*rel).pgstat_enabled {
            pg_sys::pgstat_assoc_relation(rel);
        }
        if !(*rel).pgstat_info.is_null() {
            #[cfg(feature = "pg15")]
            {
                (*(*rel).pgstat_info).t_counts.t_numscans += n;
            }
            #[cfg(feature = "pg18")]
            {
                (*(*rel).pgstat_info).counts.numscans += n;
            }
        }
        #[cfg(feature = "pg18")]
        if !(*scan).instrument.is_null() {
            (*(*scan).instrument).nsearches += n as u64;
        }
    }
}

/// The horizons of a VACUUM of one relation (`vacuum_set_xid_limits` in 15,
/// `vacuum_get_cutoffs` in 16+).
pub struct VacuumCutoffs {
    /// Row versions deleted by transactions before this are dead to everyone.
    pub oldest_xmin: pg_sys::TransactionId,
    /// The relation's new relfrozenxid once every header older than it is frozen.
    pub freeze_limit: pg_sys::TransactionId,
    /// The same for MultiXacts (relminmxid).
    pub multi_cutoff: pg_sys::MultiXactId,
}

/// # Safety
/// `rel` is locked for VACUUM and `params` are vacuum.c's.
pub unsafe fn vacuum_cutoffs(rel: pg_sys::Relation, params: *mut pg_sys::VacuumParams) -> VacuumCutoffs {
    // SAFETY: the caller's.
    unsafe {
        #[cfg(feature = "pg15")]
        {
            let mut c = VacuumCutoffs { oldest_xmin: pg_sys::InvalidTransactionId, freeze_limit: pg_sys::InvalidTransactionId, multi_cutoff: pg_sys::InvalidTransactionId };
            let mut oldest_mxact = pg_sys::InvalidTransactionId;
            let p = &*params;
            pg_sys::vacuum_set_xid_limits(
                rel,
                p.freeze_min_age,
                p.freeze_table_age,
                p.multixact_freeze_min_age,
                p.multixact_freeze_table_age,
                &mut c.oldest_xmin,
                &mut oldest_mxact,
                &mut c.freeze_limit,
                &mut c.multi_cutoff,
            );
            c
        }
        #[cfg(feature = "pg18")]
        {
            let mut c = pg_sys::VacuumCutoffs::default();
            pg_sys::vacuum_get_cutoffs(rel, params, &mut c);
            VacuumCutoffs { oldest_xmin: c.OldestXmin, freeze_limit: c.FreezeLimit, multi_cutoff: c.MultiXactCutoff }
        }
    }
}

/// `vac_update_relstats` for a table with no visibility map (18 adds the all-frozen count).
///
/// # Safety
/// `rel` is locked for VACUUM, outside a transaction block.
pub unsafe fn update_relstats(rel: pg_sys::Relation, pages: pg_sys::BlockNumber, tuples: f64, has_index: bool, frozen: pg_sys::TransactionId, minmulti: pg_sys::MultiXactId) {
    let (mut frozen_updated, mut minmulti_updated) = (false, false);
    // SAFETY: the caller's.
    unsafe {
        #[cfg(feature = "pg15")]
        pg_sys::vac_update_relstats(rel, pages, tuples, 0, has_index, frozen, minmulti, &mut frozen_updated, &mut minmulti_updated, false);
        #[cfg(feature = "pg18")]
        pg_sys::vac_update_relstats(rel, pages, tuples, 0, 0, has_index, frozen, minmulti, &mut frozen_updated, &mut minmulti_updated, false);
    }
}

/// `pgstat_report_vacuum` of `live` rows and no dead ones; 18 also records when it started.
///
/// # Safety
/// An open relation.
pub unsafe fn report_vacuum(rel: pg_sys::Relation, live: f64, start: pg_sys::TimestampTz) {
    // SAFETY: the caller's.
    unsafe {
        let shared = (*(*rel).rd_rel).relisshared;
        #[cfg(feature = "pg15")]
        {
            let _ = start;
            pg_sys::pgstat_report_vacuum((*rel).rd_id, shared, live as i64, 0);
        }
        #[cfg(feature = "pg18")]
        pg_sys::pgstat_report_vacuum((*rel).rd_id, shared, live as i64, 0, start);
    }
}

/// Discourages `path`, a node that reads a table sequentially, when `enable_seqscan` is off:
/// 15 adds `disable_cost` to its startup cost (returned here); 18 counts it in the path's
/// `disabled_nodes`, which the planner compares before costs (returns 0).
///
/// # Safety
/// A path being built.
pub unsafe fn disabled_by_enable_seqscan(path: *mut pg_sys::Path) -> f64 {
    // SAFETY: reads a setting.
    if unsafe { pg_sys::enable_seqscan } {
        return 0.0;
    }
    #[cfg(feature = "pg15")]
    {
        let _ = path;
        // SAFETY: reads a constant of the planner.
        unsafe { pg_sys::disable_cost }
    }
    #[cfg(feature = "pg18")]
    {
        // SAFETY: the caller's.
        unsafe { (*path).disabled_nodes += 1 };
        0.0
    }
}

/// `ConditionalLockTuple`; 18 adds whether to log a failure (`log_lock_failures`).
///
/// # Safety
/// An open relation and a valid TID.
pub unsafe fn conditional_lock_tuple(rel: pg_sys::Relation, tid: pg_sys::ItemPointer, mode: pg_sys::LOCKMODE) -> bool {
    #[cfg(feature = "pg15")]
    // SAFETY: the caller's.
    return unsafe { pg_sys::ConditionalLockTuple(rel, tid, mode) };
    #[cfg(feature = "pg18")]
    // SAFETY: the caller's; reads a setting.
    return unsafe { pg_sys::ConditionalLockTuple(rel, tid, mode, pg_sys::log_lock_failures) };
}

/// `ConditionalXactLockTableWait`; 18 adds whether to log a failure.
pub fn conditional_xact_lock_wait(xid: pg_sys::TransactionId) -> bool {
    #[cfg(feature = "pg15")]
    // SAFETY: tries a transaction's lock without waiting.
    return unsafe { pg_sys::ConditionalXactLockTableWait(xid) };
    #[cfg(feature = "pg18")]
    // SAFETY: as above; reads a setting.
    return unsafe { pg_sys::ConditionalXactLockTableWait(xid, pg_sys::log_lock_failures) };
}

/// What `tuple_update` tells the executor about index entries for the new version: a bool in
/// 15, `TU_UpdateIndexes` in 16+ (summarizing-only updates are a HOT variant, which a row group
/// never does).
#[cfg(feature = "pg15")]
pub type UpdateIndexes = bool;
#[cfg(feature = "pg18")]
pub type UpdateIndexes = pg_sys::TU_UpdateIndexes::Type;

/// Every index gets an entry for the new version, or (the update failed) none.
pub fn update_indexes(all: bool) -> UpdateIndexes {
    #[cfg(feature = "pg15")]
    return all;
    #[cfg(feature = "pg18")]
    return if all { pg_sys::TU_UpdateIndexes::TU_All } else { pg_sys::TU_UpdateIndexes::TU_None };
}

/// `pgstat_count_heap_update` of a non-HOT update (17 adds whether it went to a new page).
///
/// # Safety
/// An open relation.
pub unsafe fn count_update(rel: pg_sys::Relation) {
    #[cfg(feature = "pg15")]
    // SAFETY: the caller's.
    unsafe {
        pg_sys::pgstat_count_heap_update(rel, false)
    };
    #[cfg(feature = "pg18")]
    // SAFETY: the caller's.
    unsafe {
        pg_sys::pgstat_count_heap_update(rel, false, true)
    };
}

/// The next datum of a datum tuplesort, not copied (16 adds the `copy` flag; 15 copied only
/// by-reference values, which callers here do not sort).
///
/// # Safety
/// A datum tuplesort that has been performed.
pub unsafe fn tuplesort_next_datum(state: *mut pg_sys::Tuplesortstate, value: &mut pg_sys::Datum, isnull: &mut bool) -> bool {
    #[cfg(feature = "pg15")]
    // SAFETY: the caller's.
    return unsafe { pg_sys::tuplesort_getdatum(state, true, value, isnull, std::ptr::null_mut()) };
    #[cfg(feature = "pg18")]
    // SAFETY: the caller's.
    return unsafe { pg_sys::tuplesort_getdatum(state, true, false, value, isnull, std::ptr::null_mut()) };
}
