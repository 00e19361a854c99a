//! The `columnar` table access method: the handler and the public interface routines. Each
//! group of callbacks lives in its own file: `scan` (sequential, parallel, TID range, sample,
//! bitmap, ANALYZE and index-build scans), `fetch` (by TID, forming the columns `scan_setup` marks), `insert`, `modify` (delete, update,
//! row locks), `bulk` (the write buffer of COPY and rewrites), `vacuum`, `ddl` (files, rewrites, sizes); `store` finds rows in the relation's
//! pages, `tuple` judges their headers, `toast` keeps values stored out of line. The columnar
//! scan node is `plan` (its path) and `exec` (its executor) over `batch`; the aggregate node
//! is `agg_plan`, `agg_exec` and `agg_state` (its transition states). The design is
//! `src/table/README.md`.

pub mod agg_exec;
pub mod agg_plan;
pub mod agg_state;
pub mod batch;
pub mod bulk;
pub mod ddl;
pub mod exec;
pub mod fetch;
pub mod group;
pub mod insert;
pub mod join_filter;
pub mod inspect;
pub mod modify;
pub mod page;
pub mod plan;
pub mod scan_setup;
pub mod publication;
pub mod rows;
pub mod scan;
pub mod serializable;
pub mod space;
pub mod store;
pub mod toast;
pub mod vecqual;
pub mod tuple;
pub mod vacuum;

use pgrx::pg_sys;
use pgrx::prelude::*;

#[pg_guard]
unsafe extern "C-unwind" fn slot_callbacks(_rel: pg_sys::Relation) -> *const pg_sys::TupleTableSlotOps {
    &raw const pg_sys::TTSOpsHeapTuple
}

#[pg_extern(sql = "
CREATE FUNCTION columnar_tableam_handler(internal) RETURNS table_am_handler
    PARALLEL SAFE IMMUTABLE STRICT LANGUAGE c AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
CREATE ACCESS METHOD columnar TYPE TABLE HANDLER columnar_tableam_handler;
COMMENT ON ACCESS METHOD columnar IS 'columnar table: rows in the relation''s own pages, WAL-logged, with PostgreSQL''s MVCC';
")]
fn columnar_tableam_handler(_fcinfo: pg_sys::FunctionCallInfo) -> PgBox<pg_sys::TableAmRoutine> {
    // SAFETY: the routine is a static that lives as long as the library and is never written;
    // PostgreSQL only reads it (and never frees what a table AM handler returns).
    unsafe { PgBox::from_pg(&ROUTINE.0 as *const _ as *mut _) }
}

/// The routine of the columnar access method (relations using it point to it).
pub fn routine() -> *const pg_sys::TableAmRoutine {
    &ROUTINE.0
}

/// The routine PostgreSQL keeps a pointer to for the life of the backend.
struct Routine(pg_sys::TableAmRoutine);
// SAFETY: the routine is immutable and only read by the backend's single thread.
unsafe impl Sync for Routine {}

static ROUTINE: Routine = Routine(pg_sys::TableAmRoutine {
    type_: pg_sys::NodeTag::T_TableAmRoutine,
    slot_callbacks: Some(slot_callbacks),
    scan_begin: Some(scan::scan_begin),
    scan_end: Some(scan::scan_end),
    scan_rescan: Some(scan::scan_rescan),
    scan_getnextslot: Some(scan::scan_getnextslot),
    scan_set_tidrange: Some(scan::scan_set_tidrange),
    scan_getnextslot_tidrange: Some(scan::scan_getnextslot_tidrange),
    parallelscan_estimate: Some(scan::parallelscan_estimate),
    parallelscan_initialize: Some(scan::parallelscan_initialize),
    parallelscan_reinitialize: Some(scan::parallelscan_reinitialize),
    index_fetch_begin: Some(fetch::index_fetch_begin),
    index_fetch_reset: Some(fetch::index_fetch_reset),
    index_fetch_end: Some(fetch::index_fetch_end),
    index_fetch_tuple: Some(fetch::index_fetch_tuple),
    tuple_fetch_row_version: Some(fetch::tuple_fetch_row_version),
    tuple_tid_valid: Some(fetch::tuple_tid_valid),
    tuple_get_latest_tid: Some(fetch::tuple_get_latest_tid),
    tuple_satisfies_snapshot: Some(fetch::tuple_satisfies_snapshot),
    index_delete_tuples: Some(fetch::index_delete_tuples),
    tuple_insert: Some(insert::tuple_insert),
    tuple_insert_speculative: Some(insert::tuple_insert_speculative),
    tuple_complete_speculative: Some(insert::tuple_complete_speculative),
    multi_insert: Some(insert::multi_insert),
    tuple_delete: Some(modify::tuple_delete),
    tuple_update: Some(modify::tuple_update),
    tuple_lock: Some(modify::tuple_lock),
    finish_bulk_insert: Some(insert::finish_bulk_insert),
    #[cfg(feature = "pg15")]
    relation_set_new_filenode: Some(ddl::relation_set_new_filenode),
    #[cfg(feature = "pg18")]
    relation_set_new_filelocator: Some(ddl::relation_set_new_filenode),
    relation_nontransactional_truncate: Some(ddl::relation_nontransactional_truncate),
    relation_copy_data: Some(ddl::relation_copy_data),
    relation_copy_for_cluster: Some(ddl::relation_copy_for_cluster),
    relation_vacuum: Some(vacuum::relation_vacuum),
    scan_analyze_next_block: Some(scan::scan_analyze_next_block),
    scan_analyze_next_tuple: Some(scan::scan_analyze_next_tuple),
    index_build_range_scan: Some(scan::index_build_range_scan),
    index_validate_scan: Some(scan::index_validate_scan),
    relation_size: Some(ddl::relation_size),
    relation_needs_toast_table: Some(ddl::relation_needs_toast_table),
    relation_toast_am: Some(ddl::relation_toast_am),
    relation_fetch_toast_slice: Some(toast::relation_fetch_toast_slice),
    relation_estimate_size: Some(ddl::relation_estimate_size),
    #[cfg(feature = "pg15")]
    scan_bitmap_next_block: Some(scan::scan_bitmap_next_block),
    scan_bitmap_next_tuple: Some(scan::scan_bitmap_next_tuple),
    scan_sample_next_block: Some(scan::scan_sample_next_block),
    scan_sample_next_tuple: Some(scan::scan_sample_next_tuple),
});
