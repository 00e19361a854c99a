//! What PostgreSQL's own scans of a columnar table are told at executor start: the columns
//! their fetches by TID form, and, for bitmap heap scans, not to prefetch.
//!
//! **No prefetch.** `BitmapHeapScan` prefetches the bitmap's block numbers with
//! `PrefetchBuffer` on the relation, and md.c fails ("previous segment is only N blocks") for a
//! block of a 1 GB segment past the file's last. A bitmap's blocks are logical blocks, which
//! outrun the file's pages (every fold starts a new range of row numbers, and a page holds many
//! rows' worth of compressed values), so the hook sets every such node's `prefetch_maximum` to
//! 0, in the leader and in each worker (both run it). A plan initialised without the hook
//! (EvalPlanQual's copy of a subplan) still prefetches. PostgreSQL 18 leaves prefetching to
//! the table AM, which does none, so there the node has nothing to turn off.
//!
//! **Projection.** PostgreSQL's index, index-only and bitmap heap scans ask the table AM for
//! whole rows, and a row of a row group is formed from compressed vectors a column at a time.
//! The plan node's expressions (target list, quals, rechecks, ORDER BY) name every column anyone
//! reads from its scan slot: a node above reads what the target list projects, and a node that
//! hands its scan slot up unprojected has every column in its target list. So after
//! ExecutorStart this hook marks, for each such node over a columnar table, the columns its
//! fetches form:
//!
//! - a bitmap heap scan: on its scan descriptor, which exists from executor start in 15; in 18
//!   the descriptor is made at the first row, so as for index scans, by its scan slot;
//! - an index scan, whose descriptor is made at its first row: by the address of the node's
//!   scan slot, in a table whose entries go when the query's memory does (a reset callback on
//!   `es_query_cxt`, which also holds the slots, so an address is never seen reused);
//! - an index-only scan: its table slot serves only the visibility check and carries none.
//!
//! Any other fetch (EvalPlanQual's slots, triggers, uniqueness and exclusion checks, a plan
//! started without this hook) forms every column. A whole-row reference marks nothing.
//!
//! **Join key filters.** The hook also links hash joins to the columnar scans on their outer
//! side (`join_filter.rs`), under EXPLAIN alone too, so that EXPLAIN shows them.

use super::group::Columns;
use super::plan::referenced;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// `omendb.enable_columnar_fetch_projection`: whether fetches form only the columns read.
/// Read at executor start (and by the planner, which then keeps scans' target lists narrow).
pub static ENABLE: GucSetting<bool> = GucSetting::<bool>::new(true);

static mut PREVIOUS: pg_sys::ExecutorStart_hook_type = None;

/// The columns an index scan's slot carries: `len` flags in a query's memory; for an index
/// or bitmap scan, also those of rows its original index clauses do not recheck (the index
/// says none is needed, as btree's does), which leave out the columns only those clauses read.
/// An index scan's descriptor, made at its first row, tells that per row.
#[derive(Clone, Copy)]
struct Marked {
    query: usize,
    columns: *const bool,
    unrechecked: *const bool,
    len: usize,
    index_scan: *mut pg_sys::IndexScanState,
}

thread_local! {
    /// Index scans' slots by address.
    static SLOTS: RefCell<HashMap<usize, Marked, foldhash::fast::RandomState>> = RefCell::default();
    static QUERIES: Cell<usize> = const { Cell::new(0) };
}

pub fn init() {
    GucRegistry::define_bool_guc(
        c"omendb.enable_columnar_fetch_projection",
        c"Makes index and bitmap scans of columnar tables form only the columns the query reads.",
        c"When off, every fetch by TID forms whole rows.",
        &ENABLE,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SAFETY: called once from _PG_init; the previous hook is kept and called instead of the
    // standard routine.
    unsafe {
        PREVIOUS = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
    }
}

/// The columns a fetch into `slot` must form.
pub fn of_slot<'a>(slot: *mut pg_sys::TupleTableSlot) -> Columns<'a> {
    SLOTS.with(|s| {
        let s = s.borrow();
        match s.get(&(slot as usize)) {
            // SAFETY: the flags live in the memory of the query that owns the slot; its entry
            // goes when that memory does, and the caller uses them within one fetch.
            Some(m) => {
                // SAFETY: the index scan's node lives in the same query's memory; its
                // descriptor is made before its first fetch and set for the row fetched.
                let rechecked = m.index_scan.is_null() || unsafe { (*m.index_scan).iss_ScanDesc.as_ref().is_none_or(|d| d.xs_recheck) };
                let flags = if rechecked || m.unrechecked.is_null() { m.columns } else { m.unrechecked };
                Columns::Only(unsafe { std::slice::from_raw_parts(flags, m.len) })
            }
            None => Columns::All,
        }
    })
}

/// The columns a bitmap scan's fetches into `slot` must form, and those of rows not rechecked.
pub fn bitmap_columns_of_slot<'a>(slot: *mut pg_sys::TupleTableSlot) -> Option<(&'a [bool], &'a [bool])> {
    SLOTS.with(|s| {
        let m = *s.borrow().get(&(slot as usize))?;
        // SAFETY: as in `of_slot`.
        (!m.unrechecked.is_null()).then(|| unsafe { (std::slice::from_raw_parts(m.columns, m.len), std::slice::from_raw_parts(m.unrechecked, m.len)) })
    })
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_start(query_desc: *mut pg_sys::QueryDesc, eflags: i32) {
    // SAFETY: the executor's arguments; after ExecutorStart the plan state tree and the
    // executor state are built.
    unsafe {
        // Parallel workers cannot see this backend's write buffers.
        if (*(*query_desc).plannedstmt).parallelModeNeeded {
            super::bulk::seal_all();
        }
        match PREVIOUS {
            Some(previous) => previous(query_desc, eflags),
            None => pg_sys::standard_ExecutorStart(query_desc, eflags),
        }
        if (*query_desc).planstate.is_null() {
            return;
        }
        let explain_only = eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as i32 != 0;
        let mut query = Query { estate: (*query_desc).estate, id: None, project: ENABLE.get(), explain_only };
        visit((*query_desc).planstate, (&raw mut query).cast());
    }
}

/// One query's setup: its executor state, its number once it has marked a slot or linked a
/// join, whether fetches form only the columns read, and whether it is only explained.
struct Query {
    estate: *mut pg_sys::EState,
    id: Option<usize>,
    project: bool,
    explain_only: bool,
}

#[pg_guard]
unsafe extern "C-unwind" fn visit(ps: *mut pg_sys::PlanState, query: *mut std::ffi::c_void) -> bool {
    // SAFETY: a node of the tree ExecutorStart built; `query` is the walk's Query.
    unsafe {
        set_up(ps, &mut *query.cast::<Query>());
        pg_sys::planstate_tree_walker(ps, Some(visit), query)
    }
}

/// Sets up node `ps`, if it fetches rows of a columnar table.
unsafe fn set_up(ps: *mut pg_sys::PlanState, query: &mut Query) {
    // SAFETY: an initialised node; its type names its struct and its plan's.
    unsafe {
        super::join_filter::link(ps, || query_id(query));
        if query.explain_only {
            return;
        }
        let tag = (*ps).type_;
        if !matches!(tag, pg_sys::NodeTag::T_IndexScanState | pg_sys::NodeTag::T_IndexOnlyScanState | pg_sys::NodeTag::T_BitmapHeapScanState) {
            return;
        }
        let ss = ps.cast::<pg_sys::ScanState>();
        let rel = (*ss).ss_currentRelation;
        if rel.is_null() || !std::ptr::eq((*rel).rd_tableam, super::routine()) {
            return;
        }
        #[cfg(feature = "pg15")]
        if tag == pg_sys::NodeTag::T_BitmapHeapScanState {
            (*ps.cast::<pg_sys::BitmapHeapScanState>()).prefetch_maximum = 0;
        }
        if !query.project {
            return;
        }
        let plan = (*ps).plan;
        let scan = plan.cast::<pg_sys::Scan>();
        let mut exprs = vec![(*plan).targetlist.cast::<pg_sys::Node>(), (*plan).qual.cast()];
        let mut recheck = std::ptr::null_mut();
        match tag {
            pg_sys::NodeTag::T_IndexScanState => {
                let p = plan.cast::<pg_sys::IndexScan>();
                exprs.push((*p).indexorderbyorig.cast());
                recheck = (*p).indexqualorig.cast();
            }
            pg_sys::NodeTag::T_BitmapHeapScanState => recheck = (*plan.cast::<pg_sys::BitmapHeapScan>()).bitmapqualorig.cast(),
            _ => exprs.clear(),
        }
        let scanrelid = (*scan).scanrelid;
        let mut attnos = referenced(&exprs, scanrelid);
        let recheck_attnos = referenced(&[recheck], scanrelid);
        if attnos.contains(&0) || recheck_attnos.contains(&0) {
            return;
        }
        let natts = (*(*rel).rd_att).natts as usize;
        let cxt = (*query.estate).es_query_cxt;
        let flags_of = |attnos: &[i32]| {
            let columns = pg_sys::MemoryContextAllocZero(cxt, natts.max(1)) as *mut bool;
            for &a in attnos.iter().filter(|&&a| a > 0 && a as usize <= natts) {
                *columns.add(a as usize - 1) = true;
            }
            std::slice::from_raw_parts(columns, natts)
        };
        let unrechecked = flags_of(&attnos);
        attnos.extend(recheck_attnos);
        let flags = flags_of(&attnos);
        match tag {
            #[cfg(feature = "pg15")]
            pg_sys::NodeTag::T_BitmapHeapScanState => {
                let desc = (*ss).ss_currentScanDesc;
                if !desc.is_null() {
                    super::scan::set_columns(desc, flags, unrechecked);
                }
            }
            #[cfg(feature = "pg18")]
            pg_sys::NodeTag::T_BitmapHeapScanState => remember(query, (*ss).ss_ScanTupleSlot, flags, unrechecked.as_ptr(), std::ptr::null_mut()),
            pg_sys::NodeTag::T_IndexScanState => remember(query, (*ss).ss_ScanTupleSlot, flags, unrechecked.as_ptr(), ps.cast()),
            _ => remember(query, (*ps.cast::<pg_sys::IndexOnlyScanState>()).ioss_TableSlot, flags, std::ptr::null(), std::ptr::null_mut()),
        }
    }
}

/// Records the columns of `slot`, a slot of the query's, until the query's memory goes
/// (`unrechecked` and `index_scan` as in `Marked`, or null).
unsafe fn remember(query: &mut Query, slot: *mut pg_sys::TupleTableSlot, columns: &[bool], unrechecked: *const bool, index_scan: *mut pg_sys::IndexScanState) {
    if slot.is_null() {
        return;
    }
    let id = query_id(query);
    SLOTS.with(|s| s.borrow_mut().insert(slot as usize, Marked { query: id, columns: columns.as_ptr(), unrechecked, len: columns.len(), index_scan }));
}

/// The query's number, given at its first use with a callback that forgets what it recorded
/// when its memory goes.
fn query_id(query: &mut Query) -> usize {
    *query.id.get_or_insert_with(|| {
        let id = QUERIES.with(|q| {
            q.set(q.get() + 1);
            q.get()
        });
        // SAFETY: the callback is allocated in the context it watches, and runs once when that
        // context is reset or deleted.
        unsafe {
            let cxt = (*query.estate).es_query_cxt;
            let cb = pg_sys::MemoryContextAllocZero(cxt, std::mem::size_of::<pg_sys::MemoryContextCallback>()) as *mut pg_sys::MemoryContextCallback;
            (*cb).func = Some(forget);
            (*cb).arg = id as *mut std::ffi::c_void;
            pg_sys::MemoryContextRegisterResetCallback(cxt, cb);
        }
        id
    })
}

#[pg_guard]
unsafe extern "C-unwind" fn forget(query: *mut std::ffi::c_void) {
    SLOTS.with(|s| s.borrow_mut().retain(|_, m| m.query != query as usize));
    super::join_filter::forget_query(query as usize);
}
