//! What DDL asks of the table: new and truncated files, copies to another tablespace,
//! VACUUM FULL and CLUSTER, sizes and estimates.

use super::tuple::{self, TupleCopy};
use super::{insert, store};
use columnar_core::{delta, layout};
use pgrx::pg_sys;
use pgrx::prelude::*;

unsafe extern "C-unwind" {
    // storage.h; not in pgrx's bindings. Called through pg_guard_ffi_boundary.
    fn log_smgrcreate(rnode: *const crate::compat::RelFile, fork: pg_sys::ForkNumber::Type);
}

/// A new, empty file: a relation of zero blocks is an empty table, so nothing is written (an
/// unlogged table gets an empty init fork, as heap's).
#[pg_guard]
pub unsafe extern "C-unwind" fn relation_set_new_filenode(
    rel: pg_sys::Relation,
    newrnode: *const crate::compat::RelFile,
    persistence: std::ffi::c_char,
    freeze_xid: *mut pg_sys::TransactionId,
    minmulti: *mut pg_sys::MultiXactId,
) {
    // Rows buffered for the old file go to it first (a rollback to a savepoint restores it).
    super::bulk::seal_own(rel);
    // SAFETY: called by PostgreSQL with the relation locked and a new file's identity.
    unsafe {
        *freeze_xid = pg_sys::RecentXmin;
        *minmulti = pg_sys::GetOldestMultiXactId();
        let srel = pg_sys::RelationCreateStorage(*newrnode, persistence, true);
        if persistence as u8 == pg_sys::RELPERSISTENCE_UNLOGGED {
            pg_sys::smgrcreate(srel, pg_sys::ForkNumber::INIT_FORKNUM, false);
            pg_sys::ffi::pg_guard_ffi_boundary(|| log_smgrcreate(newrnode, pg_sys::ForkNumber::INIT_FORKNUM));
            pg_sys::smgrimmedsync(srel, pg_sys::ForkNumber::INIT_FORKNUM);
        }
        pg_sys::smgrclose(srel);
    }
    store::forget_all();
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_nontransactional_truncate(rel: pg_sys::Relation) {
    super::bulk::seal_own(rel);
    // SAFETY: called for a file created in this transaction, under AccessExclusiveLock.
    unsafe { pg_sys::RelationTruncate(rel, 0) };
    store::forget(rel);
}

/// SET TABLESPACE: the file is copied page by page (WAL-logged as full images when needed).
#[pg_guard]
pub unsafe extern "C-unwind" fn relation_copy_data(rel: pg_sys::Relation, newrnode: *const crate::compat::RelFile) {
    super::bulk::seal_own(rel);
    // SAFETY: as heapam_relation_copy_data: the relation is locked AccessExclusive; its buffers
    // are flushed before the files are copied.
    unsafe {
        pg_sys::FlushRelationBuffers(rel);
        let persistence = (*(*rel).rd_rel).relpersistence;
        let dst = pg_sys::RelationCreateStorage(*newrnode, persistence, true);
        let src = pg_sys::RelationGetSmgr(rel);
        pg_sys::RelationCopyStorage(src, dst, pg_sys::ForkNumber::MAIN_FORKNUM, persistence);
        for fork in [pg_sys::ForkNumber::FSM_FORKNUM, pg_sys::ForkNumber::INIT_FORKNUM] {
            if pg_sys::smgrexists(pg_sys::RelationGetSmgr(rel), fork) {
                pg_sys::smgrcreate(dst, fork, false);
                let log = persistence as u8 == pg_sys::RELPERSISTENCE_PERMANENT
                    || (persistence as u8 == pg_sys::RELPERSISTENCE_UNLOGGED && fork == pg_sys::ForkNumber::INIT_FORKNUM);
                if log {
                    pg_sys::ffi::pg_guard_ffi_boundary(|| log_smgrcreate(newrnode, fork));
                }
                pg_sys::RelationCopyStorage(pg_sys::RelationGetSmgr(rel), dst, fork, persistence);
            }
        }
        pg_sys::RelationDropStorage(rel);
        pg_sys::smgrclose(dst);
    }
    store::forget_all();
}

/// A row version formed again for the new file, as heap's rewrite does: every column of the new
/// descriptor present (missing ones with their defaults, which the rewrite's end forgets),
/// dropped ones NULL, and the old header's transaction fields.
///
/// # Safety
/// Open relations of the same row type; `t` a whole version of `old`.
unsafe fn reform(old: pg_sys::Relation, new: pg_sys::Relation, t: &TupleCopy) -> TupleCopy {
    // SAFETY: per the contract; the formed tuple is allocated in the current context.
    unsafe {
        let desc = (*new).rd_att;
        let natts = (*desc).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0); natts];
        let mut isnull = vec![true; natts];
        pg_sys::heap_deform_tuple(t.0, (*old).rd_att, values.as_mut_ptr(), isnull.as_mut_ptr());
        for (i, null) in isnull.iter_mut().enumerate() {
            if crate::compat::attr(desc, i).attisdropped {
                *null = true;
            }
        }
        let formed = pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), isnull.as_mut_ptr());
        super::group::lay_header(&mut *(*formed).t_data, t.header_bytes());
        (*formed).t_self = (*t.0).t_self;
        TupleCopy(formed)
    }
}

/// VACUUM FULL and CLUSTER: every version some snapshot may still see is copied to the new file,
/// with headers frozen as the rewrite's cutoffs allow; in the index's order for CLUSTER (sorted
/// with tuplesort, as heap does when it sorts: only btree indexes are clusterable), else in the
/// old file's order. Update chains are not kept: a copied version points at itself.
#[pg_guard]
pub unsafe extern "C-unwind" fn relation_copy_for_cluster(
    old: pg_sys::Relation,
    new: pg_sys::Relation,
    old_index: pg_sys::Relation,
    _use_sort: bool,
    oldest_xmin: pg_sys::TransactionId,
    xid_cutoff: *mut pg_sys::TransactionId,
    multi_cutoff: *mut pg_sys::MultiXactId,
    num_tuples: *mut f64,
    tups_vacuumed: *mut f64,
    tups_recently_dead: *mut f64,
) {
    // SAFETY: both relations are locked AccessExclusive by the caller; the cutoffs are valid; a
    // tuple handed to tuplesort is copied by it.
    unsafe {
        let sort = (!old_index.is_null())
            .then(|| pg_sys::tuplesort_begin_cluster((*old).rd_att, old_index, pg_sys::maintenance_work_mem, std::ptr::null_mut(), 0));
        let write = |t: pg_sys::HeapTuple| {
            pg_sys::heap_freeze_tuple((*t).t_data, (*(*old).rd_rel).relfrozenxid, (*(*old).rd_rel).relminmxid, *xid_cutoff, *multi_cutoff);
            insert::place_tuple(new, t);
            *num_tuples += 1.0;
        };
        let mut kept: Vec<TupleCopy> = Vec::new();
        let blocks = super::store::read_meta(old).map_or(0, |m| m.next_row.div_ceil(columnar_core::rownum::ROWS_PER_BLOCK) as u32);
        for logical in 0..blocks {
            let Some(b) = super::store::read_block(old, logical, crate::storage::Lock::Share) else { continue };
            super::rows::for_each(old, logical, &b, pg_sys::CurrentMemoryContext, None, super::group::Columns::All, |_, t, page| match tuple::vacuum_state(&t, oldest_xmin, page) {
                pg_sys::HTSV_Result::HEAPTUPLE_DEAD => {
                    *tups_vacuumed += 1.0;
                    t.free();
                }
                state => {
                    if state == pg_sys::HTSV_Result::HEAPTUPLE_RECENTLY_DEAD {
                        *tups_recently_dead += 1.0;
                    }
                    kept.push(t);
                }
            });
            drop(b);
            for old_version in kept.drain(..) {
                let t = reform(old, new, &old_version);
                old_version.free();
                // The new file gets its own copies of the values stored out of line.
                super::toast::copy_chains(old, new, t.0);
                match sort {
                    Some(ts) => pg_sys::tuplesort_putheaptuple(ts, t.0),
                    None => write(t.0),
                }
                t.free();
            }
        }
        if let Some(ts) = sort {
            pg_sys::tuplesort_performsort(ts);
            loop {
                let t = pg_sys::tuplesort_getheaptuple(ts, true);
                if t.is_null() {
                    break;
                }
                write(t);
            }
            pg_sys::tuplesort_end(ts);
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_size(rel: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> u64 {
    // SAFETY: an open relation.
    unsafe { pg_sys::table_block_relation_size(rel, fork) }
}

/// A columnar table keeps its large values in its own value pages, but gets a (never used)
/// toast relation when it has varlena columns: PostgreSQL gives a table rewritten into heap
/// (`SET ACCESS METHOD heap`, any AM change) a toast relation only if the old table had one
/// (`make_new_heap`), and heap cannot store wide rows without it.
#[pg_guard]
pub unsafe extern "C-unwind" fn relation_needs_toast_table(rel: pg_sys::Relation) -> bool {
    // SAFETY: an open relation's tuple descriptor.
    unsafe {
        let desc = (*rel).rd_att;
        (0..(*desc).natts as usize).any(|i| {
            let att = crate::compat::attr(desc, i);
            !att.attisdropped && att.attlen == -1
        })
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_toast_am(_rel: pg_sys::Relation) -> pg_sys::Oid {
    pg_sys::HEAP_TABLE_AM_OID
}

/// As heap: the row density of the last VACUUM or ANALYZE applied to the file's pages now.
#[pg_guard]
pub unsafe extern "C-unwind" fn relation_estimate_size(
    rel: pg_sys::Relation,
    attr_widths: *mut i32,
    pages: *mut pg_sys::BlockNumber,
    tuples: *mut f64,
    allvisfrac: *mut f64,
) {
    const TUPLE_OVERHEAD: usize = 4 + tuple::HEADER_SIZE;
    const USABLE: usize = layout::CONTENT_SIZE - delta::HEADER_SIZE;
    // SAFETY: valid output pointers from the planner.
    unsafe { pg_sys::table_block_relation_estimate_size(rel, attr_widths, pages, tuples, allvisfrac, TUPLE_OVERHEAD, USABLE) }
}
