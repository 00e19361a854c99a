//! The executor side of the columnar scan node: it reads a columnar table a segment slice at a
//! time through `batch.rs`, storing each visible row in a virtual slot that holds only the
//! columns the plan references. The clauses `vecqual.rs` knows are judged over a row group's
//! vectors first: rows they fail are never stored, and on rows they pass PostgreSQL evaluates
//! only the other clauses. Rows of delta pages, and rows the vectors cannot judge, get every
//! clause. A parallel scan hands out the slices of the segments that existed when it began
//! (rows in later segments are invisible to its snapshot) through a counter in shared memory.

use super::batch::{self, Counts, Reader};
use super::plan::{list_of, referenced};
use super::vecqual::{self, VecQual, Verdict};
use super::{group::Decoded, join_filter};
use columnar_core::encode::{VECTOR_SIZE, validity};
use columnar_core::map;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The node's name in EXPLAIN and in the registry of custom scan methods.
pub const NAME: &std::ffi::CStr = c"ColumnarScan";

/// A custom scan node's methods, kept in a static (PostgreSQL keeps pointers to them, and plans
/// copied to parallel workers name them by CustomName).
pub struct ScanMethods(pub pg_sys::CustomScanMethods);
// SAFETY: immutable, read only by the backend's single thread.
unsafe impl Sync for ScanMethods {}
pub struct ExecMethods(pub pg_sys::CustomExecMethods);
// SAFETY: as above.
unsafe impl Sync for ExecMethods {}

impl ScanMethods {
    /// The pointer a CustomScan plan node keeps.
    pub fn as_ptr(&'static self) -> *mut pg_sys::CustomScanMethods {
        &self.0 as *const _ as *mut _
    }

    /// Registers the methods by name; called once from _PG_init.
    pub fn register(&'static self) {
        // SAFETY: the methods are a static, registered before any plan names them.
        unsafe { pg_sys::RegisterCustomScanMethods(&self.0) }
    }
}

static SCAN_METHODS: ScanMethods = ScanMethods(pg_sys::CustomScanMethods { CustomName: NAME.as_ptr(), CreateCustomScanState: Some(create_state) });

static EXEC_METHODS: ExecMethods = ExecMethods(pg_sys::CustomExecMethods {
    CustomName: NAME.as_ptr(),
    BeginCustomScan: Some(begin),
    ExecCustomScan: Some(exec),
    EndCustomScan: Some(end),
    ReScanCustomScan: Some(rescan),
    MarkPosCustomScan: None,
    RestrPosCustomScan: None,
    EstimateDSMCustomScan: Some(estimate_dsm),
    InitializeDSMCustomScan: Some(initialize_dsm),
    ReInitializeDSMCustomScan: Some(reinitialize_dsm),
    InitializeWorkerCustomScan: Some(initialize_worker),
    ShutdownCustomScan: Some(shutdown),
    ExplainCustomScan: Some(explain),
});

pub fn scan_methods() -> *mut pg_sys::CustomScanMethods {
    SCAN_METHODS.as_ptr()
}

pub fn init() {
    SCAN_METHODS.register();
}

/// A parallel scan's shared state: the next slice to hand out, the number of segments it
/// covers, and the counts of every process (for EXPLAIN ANALYZE); the segments' ranges follow
/// (`segments` of them). Every process reads the ranges the leader read: VACUUM may merge two
/// entries of the map meanwhile, and the slices are numbered over one list.
#[repr(C)]
struct Shared {
    next: AtomicU32,
    segments: u32,
    group_rows: AtomicU64,
    delta_rows: AtomicU64,
    vectors: AtomicU64,
    skipped_vectors: AtomicU64,
    join_filtered: AtomicU64,
}

/// One segment's range of row numbers, in a parallel scan's shared state.
#[repr(C)]
#[derive(Clone, Copy)]
struct SharedRange {
    first_row: u64,
    rows: u64,
}

impl Shared {
    /// Where the ranges start, after the header.
    ///
    /// # Safety
    /// `shared` is a parallel scan's shared state, sized by `estimate_dsm`.
    unsafe fn ranges(shared: *mut Shared) -> *mut SharedRange {
        // SAFETY: per the contract the ranges follow the header; Shared's size is a multiple of
        // 8, SharedRange's alignment.
        unsafe { (shared as *mut u8).add(std::mem::size_of::<Shared>()) as *mut SharedRange }
    }
}

/// What the node keeps besides PostgreSQL's state; dropped with the query's memory.
struct Scan {
    reader: Reader,
    /// Zero-based attribute numbers read, for EXPLAIN.
    attrs: Vec<usize>,
    /// The segments to read (read at the first row and kept across rescans: later segments
    /// hold only rows the query's snapshot cannot see), and the next slice of a serial scan.
    segments: Option<Vec<map::Entry>>,
    next: u32,
    shared: *mut Shared,
    /// Ranges the shared state has room for (the map's entries when the plan was sized).
    shared_capacity: usize,
    /// Counts of all processes, taken from shared memory before it goes.
    totals: Option<Counts>,
    /// The clauses judged over vectors (and their nodes, for EXPLAIN), the verdicts of the
    /// batch's group rows (empty for tuples), and the other clauses, which are all PostgreSQL
    /// evaluates on a row the vector clauses pass (null when there are none).
    vec_quals: Vec<VecQual>,
    vec_nodes: Vec<*mut pg_sys::Node>,
    verdicts: Vec<Verdict>,
    rest_quals: *mut pg_sys::ExprState,
    /// The join key filter of the hash join above, if the executor-start hook linked one.
    join_filter: Option<join_filter::Link>,
}

/// Whether plan state `ps` is a columnar scan node.
///
/// # Safety
/// An initialised plan state.
pub unsafe fn is_scan(ps: *mut pg_sys::PlanState) -> bool {
    // SAFETY: per the contract; a CustomScanState's methods say whose it is.
    unsafe { (*ps).type_ == pg_sys::NodeTag::T_CustomScanState && std::ptr::eq((*(ps as *mut pg_sys::CustomScanState)).methods, &EXEC_METHODS.0) }
}

/// The reader's attribute of zero-based attribute `index` of scan node `ps`, and its name;
/// None when the scan does not read it.
///
/// # Safety
/// A scan node (`is_scan`) whose `begin` ran.
pub unsafe fn scan_column(ps: *mut pg_sys::PlanState, index: usize) -> Option<(usize, String)> {
    // SAFETY: per the contract.
    unsafe {
        let node = ps as *mut pg_sys::CustomScanState;
        let k = scan_of(node).attrs.iter().position(|&i| i == index)?;
        let desc = (*(*node).ss.ss_currentRelation).rd_att;
        Some((k, std::ffi::CStr::from_ptr(crate::compat::attr(desc, index).attname.data.as_ptr()).to_string_lossy().into_owned()))
    }
}

/// Gives scan node `ps` a join key filter.
///
/// # Safety
/// As for `scan_column`.
pub unsafe fn set_join_filter(ps: *mut pg_sys::PlanState, link: join_filter::Link) {
    // SAFETY: per the contract.
    unsafe { scan_of(ps as *mut pg_sys::CustomScanState).join_filter = Some(link) }
}

/// Deparses expressions of node `node`'s plan as EXPLAIN shows them.
///
/// # Safety
/// A custom scan node being explained, with EXPLAIN's `ancestors` and state, whose deparse
/// context names the plan's relations.
pub unsafe fn deparser(node: *mut pg_sys::CustomScanState, ancestors: *mut pg_sys::List, es: *mut pg_sys::ExplainState) -> impl Fn(*mut pg_sys::Node) -> String {
    // SAFETY: per the contract; the deparse context lives as long as EXPLAIN's state.
    unsafe {
        let context = pg_sys::set_deparse_context_plan((*es).deparse_cxt, (*node).ss.ps.plan, ancestors);
        let prefix = (*(*es).rtable).length > 1 && (*es).verbose;
        move |n| std::ffi::CStr::from_ptr(pg_sys::deparse_expression(n, context, prefix, false)).to_string_lossy().into_owned()
    }
}

/// A custom scan node's state: PostgreSQL's, then the node's own part (`T`, made by its
/// `begin` and dropped with the query's memory context).
#[repr(C)]
struct NodeState<T> {
    css: pg_sys::CustomScanState,
    own: *mut T,
}

/// A zeroed node state with `methods`, as makeNode makes one; ExecInitCustomScan fills in the
/// rest.
///
/// # Safety
/// Called from a CreateCustomScanState callback, in the executor's memory context.
pub unsafe fn new_state(methods: &'static pg_sys::CustomExecMethods) -> *mut pg_sys::Node {
    // SAFETY: per the contract; the size is the same for every `T` (it is behind a pointer).
    unsafe {
        let s = pg_sys::palloc0(std::mem::size_of::<NodeState<()>>()) as *mut NodeState<()>;
        (*s).css.ss.ps.type_ = pg_sys::NodeTag::T_CustomScanState;
        (*s).css.methods = methods;
        s.cast()
    }
}

/// Gives node `node` its own part `own`, kept until the query's memory context goes.
///
/// # Safety
/// `node` was made by `new_state`; `estate` is its executor state.
pub unsafe fn set_own<T>(node: *mut pg_sys::CustomScanState, estate: *mut pg_sys::EState, own: T) {
    // SAFETY: per the contract.
    unsafe { (*(node as *mut NodeState<T>)).own = pgrx::PgMemoryContexts::For((*estate).es_query_cxt).leak_and_drop_on_delete(own) }
}

/// The node's own part.
///
/// # Safety
/// `node` was given a `T` by `set_own`; it lives as long as the query's memory context,
/// longer than any call on the node.
pub unsafe fn own<'a, T>(node: *mut pg_sys::CustomScanState) -> &'a mut T {
    // SAFETY: per the contract.
    unsafe { &mut *(*(node as *mut NodeState<T>)).own }
}

#[pg_guard]
unsafe extern "C-unwind" fn create_state(_cscan: *mut pg_sys::CustomScan) -> *mut pg_sys::Node {
    // SAFETY: a CreateCustomScanState callback.
    unsafe { new_state(&EXEC_METHODS.0) }
}

unsafe fn scan_of<'a>(node: *mut pg_sys::CustomScanState) -> &'a mut Scan {
    // SAFETY: a node of this kind whose `begin` ran.
    unsafe { own::<Scan>(node) }
}

#[pg_guard]
unsafe extern "C-unwind" fn begin(node: *mut pg_sys::CustomScanState, estate: *mut pg_sys::EState, eflags: i32) {
    // SAFETY: ExecInitCustomScan opened the relation and made the scan slot (virtual, of the
    // relation's descriptor) before calling this.
    unsafe {
        let rel = (*node).ss.ss_currentRelation;
        let plan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
        let varno = (*plan).scan.scanrelid;
        let attnos = referenced(&[(*plan).scan.plan.targetlist.cast(), (*plan).scan.plan.qual.cast()], varno);
        let desc = (*rel).rd_att;
        let natts = (*desc).natts as usize;
        let attrs: Vec<usize> = if attnos.contains(&0) {
            (0..natts).filter(|&i| !crate::compat::attr(desc, i).attisdropped).collect()
        } else {
            attnos.iter().filter(|&&a| a > 0).map(|&a| a as usize - 1).collect()
        };
        let slot = (*node).ss.ss_ScanTupleSlot;
        std::slice::from_raw_parts_mut((*slot).tts_isnull, natts).fill(true);
        let snapshot = (*estate).es_snapshot;
        if eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as i32 == 0 {
            super::serializable::lock_relation(rel, snapshot);
        }
        // In the executor's tuple table, which releases it (and its descriptor) at the end.
        let heap_slot = pg_sys::ExecInitExtraTupleSlot(estate, desc, &pg_sys::TTSOpsHeapTuple);
        let mut reader = Reader::new(rel, snapshot, &attrs, heap_slot);
        let parent = &raw mut (*node).ss.ps;
        reader.skip_by_zone_maps((*plan).scan.plan.qual, parent, eflags);
        let k_of = |index: usize| attrs.iter().position(|&i| i == index).expect("every attribute a qual reads is read");
        let vecqual::Split { vec_quals, vec_nodes, rest_nodes } = vecqual::split((*plan).scan.plan.qual, k_of);
        let rest_quals = if vec_nodes.is_empty() || rest_nodes.is_empty() { std::ptr::null_mut() } else { pg_sys::ExecInitQual(list_of(&rest_nodes), parent) };
        let scan = Scan {
            reader,
            attrs,
            segments: None,
            next: 0,
            shared: std::ptr::null_mut(),
            shared_capacity: 0,
            totals: None,
            vec_quals,
            vec_nodes,
            verdicts: Vec::new(),
            rest_quals,
            join_filter: None,
        };
        set_own(node, estate, scan);
    }
}

impl Scan {
    /// The next slice to read: (segment, slice).
    unsafe fn claim(&mut self, rel: pg_sys::Relation) -> Option<(usize, u32)> {
        // SAFETY: `shared` is null or the shared state of this parallel scan.
        let shared = unsafe { self.shared.as_ref() };
        let segments = self.segments.get_or_insert_with(|| match shared {
            Some(s) => {
                // SAFETY: the leader wrote `segments` ranges there before any worker started.
                let ranges = unsafe { std::slice::from_raw_parts(Shared::ranges(self.shared), s.segments as usize) };
                ranges.iter().map(|r| map::Entry { first_row: r.first_row, rows: r.rows, kind: map::RangeKind::Segment, page: columnar_core::layout::NO_BLOCK }).collect()
            }
            None => super::store::segments(rel),
        });
        let units = segments.len() as u32 * batch::SLICES;
        let unit = match shared {
            Some(s) => s.next.fetch_add(1, Ordering::Relaxed),
            None => {
                self.next += 1;
                self.next - 1
            }
        };
        (unit < units).then_some(((unit / batch::SLICES) as usize, unit % batch::SLICES))
    }

    /// Drops the group rows of the batch just loaded whose join key the join key filter
    /// refutes, then judges the others by the vector clauses, dropping those that fail
    /// (counted as removed by the filter, as PostgreSQL counts the rows its quals fail). The
    /// filter goes first: it is meant to drop most rows, and a probe costs less than the
    /// clauses' verdicts and the rows they keep.
    ///
    /// # Safety
    /// `ps` is the node's plan state.
    unsafe fn judge(&mut self, ps: *mut pg_sys::PlanState) {
        self.verdicts.clear();
        if let Some(link) = &self.join_filter {
            let collector = link.collector.borrow();
            if let (Some(filter), Some(view)) = (collector.ready(), self.reader.group_view()) {
                // A row whose key is NULL, or in a column added after its group, is left to
                // the join.
                let keep: Vec<bool> = view
                    .rows
                    .iter()
                    .map(|&(position, _)| match view.vector(link.k, position) {
                        Some(Decoded::Int(v)) => {
                            let i = position as usize % VECTOR_SIZE;
                            !v.validity.as_deref().is_none_or(|b| validity::is_valid(b, i)) || filter.may_contain(v.values[i])
                        }
                        _ => true,
                    })
                    .collect();
                drop(collector);
                self.reader.counts.join_filtered += self.reader.retain(&keep, &mut self.verdicts) as u64;
            }
        }
        if !self.vec_quals.is_empty() {
            let Some(view) = self.reader.group_view() else { return };
            self.verdicts = vecqual::verdicts(&self.vec_quals, &view);
            let keep: Vec<bool> = self.verdicts.iter().map(|&v| v != Verdict::Fail).collect();
            let dropped = self.reader.retain(&keep, &mut self.verdicts);
            // SAFETY: per the contract; `instrument` is null or the node's instrumentation.
            if let Some(instrument) = unsafe { (*ps).instrument.as_mut() } {
                instrument.nfiltered1 += dropped as f64;
            }
        }
    }

    /// Adds this process's counts to the shared ones (a parallel scan, at its end).
    fn publish_counts(&mut self) {
        // SAFETY: as in `claim`.
        if let Some(s) = unsafe { self.shared.as_ref() } {
            let c = std::mem::take(&mut self.reader.counts);
            s.group_rows.fetch_add(c.group_rows, Ordering::Relaxed);
            s.delta_rows.fetch_add(c.delta_rows, Ordering::Relaxed);
            s.vectors.fetch_add(c.vectors, Ordering::Relaxed);
            s.skipped_vectors.fetch_add(c.skipped_vectors, Ordering::Relaxed);
            s.join_filtered.fetch_add(c.join_filtered, Ordering::Relaxed);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn next(ss: *mut pg_sys::ScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: called by ExecScan on this node (a CustomScanState is a ScanState first), which
    // evaluates every clause on the row.
    unsafe { next_row(ss).0 }
}

/// The node's next row in its scan slot (empty at the end), not failed by a vector clause,
/// and its verdict by the vector clauses (None when they did not judge it).
///
/// # Safety
/// The ScanState of a columnar scan node whose `begin` ran.
unsafe fn next_row(ss: *mut pg_sys::ScanState) -> (*mut pg_sys::TupleTableSlot, Option<Verdict>) {
    // SAFETY: per the contract.
    unsafe {
        let node = ss as *mut pg_sys::CustomScanState;
        let scan = scan_of(node);
        let slot = (*ss).ss_ScanTupleSlot;
        loop {
            let verdict = scan.verdicts.get(scan.reader.position()).copied();
            if scan.reader.next(slot) {
                return (slot, verdict);
            }
            let Some((segment, slice)) = scan.claim((*ss).ss_currentRelation) else {
                scan.publish_counts();
                pg_sys::ExecClearTuple(slot);
                return (slot, None);
            };
            let e = scan.segments.as_ref().expect("claimed from them")[segment];
            scan.reader.load(&e, slice);
            scan.judge(&raw mut (*ss).ps);
        }
    }
}

/// EvalPlanQual's recheck: ExecScan evaluates the quals again on the row it substitutes (the
/// aggregate node has no row marks, so it is never asked).
#[pg_guard]
pub unsafe extern "C-unwind" fn recheck(_ss: *mut pg_sys::ScanState, _slot: *mut pg_sys::TupleTableSlot) -> bool {
    true
}

/// ExecScan's loop without EvalPlanQual, done here so that a row the vector clauses passed
/// is given only the other clauses (and a row with no clause to evaluate and no projection
/// costs no crossing between Rust and C).
#[pg_guard]
unsafe extern "C-unwind" fn exec(node: *mut pg_sys::CustomScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: this node's ScanState, with the callbacks above; its expression context,
    // quals and projection were made by ExecInitCustomScan.
    unsafe {
        let ps = &raw mut (*node).ss.ps;
        if !(*(*ps).state).es_epq_active.is_null() {
            return pg_sys::ExecScan(&mut (*node).ss, Some(next), Some(recheck));
        }
        let rest_quals = scan_of(node).rest_quals;
        let (econtext, projection) = ((*ps).ps_ExprContext, (*ps).ps_ProjInfo);
        loop {
            pg_sys::check_for_interrupts!();
            let (slot, verdict) = next_row(&mut (*node).ss);
            if (*slot).tts_flags as u32 & pg_sys::TTS_FLAG_EMPTY != 0 {
                return if projection.is_null() { slot } else { pg_sys::ExecClearTuple((*projection).pi_state.resultslot) };
            }
            let quals = if verdict == Some(Verdict::Pass) { rest_quals } else { (*ps).qual };
            if quals.is_null() && projection.is_null() {
                return slot;
            }
            pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
            (*econtext).ecxt_scantuple = slot;
            if quals.is_null() || pg_sys::ExecQual(quals, econtext) {
                return if projection.is_null() { slot } else { pg_sys::ExecProject(projection) };
            }
            if let Some(instrument) = (*ps).instrument.as_mut() {
                instrument.nfiltered1 += 1.0;
            }
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn end(_node: *mut pg_sys::CustomScanState) {
    // A node's own part is dropped with the query's memory context (also when the query
    // fails), and holds no buffer pin or lock between calls.
}

#[pg_guard]
unsafe extern "C-unwind" fn rescan(node: *mut pg_sys::CustomScanState) {
    // SAFETY: a node whose `begin` ran. A parallel scan's counter is reset by
    // reinitialize_dsm, which the Gather calls before its workers start again.
    unsafe {
        let scan = scan_of(node);
        scan.reader.reset();
        scan.verdicts.clear();
        if let Some(link) = &scan.join_filter {
            link.collector.borrow_mut().forget();
        }
        scan.next = 0;
        pg_sys::ExecScanReScan(&mut (*node).ss);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn estimate_dsm(node: *mut pg_sys::CustomScanState, _pcxt: *mut pg_sys::ParallelContext) -> pg_sys::Size {
    // SAFETY: a node whose `begin` ran.
    unsafe {
        let scan = scan_of(node);
        scan.shared_capacity = super::store::segments((*node).ss.ss_currentRelation).len();
        std::mem::size_of::<Shared>() + scan.shared_capacity * std::mem::size_of::<SharedRange>()
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn initialize_dsm(node: *mut pg_sys::CustomScanState, _pcxt: *mut pg_sys::ParallelContext, coordinate: *mut std::ffi::c_void) {
    // SAFETY: `coordinate` is shared memory of the size estimated above, written before any
    // worker starts; the segments are those of the map now (the leader's snapshot is older),
    // up to the room estimated (entries added since hold only rows the snapshot cannot see;
    // merged ones only shorten the list).
    unsafe {
        let scan = scan_of(node);
        let mut entries = super::store::segments((*node).ss.ss_currentRelation);
        entries.truncate(scan.shared_capacity);
        let shared = coordinate as *mut Shared;
        let ranges = Shared::ranges(shared);
        for (i, e) in entries.iter().enumerate() {
            ranges.add(i).write(SharedRange { first_row: e.first_row, rows: e.rows });
        }
        shared.write(Shared { next: AtomicU32::new(0), segments: entries.len() as u32, group_rows: AtomicU64::new(0), delta_rows: AtomicU64::new(0), vectors: AtomicU64::new(0), skipped_vectors: AtomicU64::new(0), join_filtered: AtomicU64::new(0) });
        scan.shared = shared;
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn reinitialize_dsm(_node: *mut pg_sys::CustomScanState, _pcxt: *mut pg_sys::ParallelContext, coordinate: *mut std::ffi::c_void) {
    // SAFETY: the shared state initialized above; no worker runs while the Gather rescans.
    unsafe { (*(coordinate as *const Shared)).next.store(0, Ordering::Relaxed) }
}

#[pg_guard]
unsafe extern "C-unwind" fn initialize_worker(node: *mut pg_sys::CustomScanState, _toc: *mut pg_sys::shm_toc, coordinate: *mut std::ffi::c_void) {
    // SAFETY: the shared state the leader initialized, mapped in this worker.
    unsafe { scan_of(node).shared = coordinate as *mut Shared }
}

#[pg_guard]
unsafe extern "C-unwind" fn shutdown(node: *mut pg_sys::CustomScanState) {
    // SAFETY: called before the parallel context (and the shared state) goes away.
    unsafe {
        let scan = scan_of(node);
        if let Some(s) = scan.shared.as_ref() {
            scan.publish_counts();
            scan.totals = Some(Counts {
                group_rows: s.group_rows.load(Ordering::Relaxed),
                delta_rows: s.delta_rows.load(Ordering::Relaxed),
                vectors: s.vectors.load(Ordering::Relaxed),
                skipped_vectors: s.skipped_vectors.load(Ordering::Relaxed),
                join_filtered: s.join_filtered.load(Ordering::Relaxed),
            });
            scan.shared = std::ptr::null_mut();
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn explain(node: *mut pg_sys::CustomScanState, ancestors: *mut pg_sys::List, es: *mut pg_sys::ExplainState) {
    // SAFETY: a node whose `begin` ran, and EXPLAIN's state.
    unsafe {
        let scan = scan_of(node);
        if !scan.vec_nodes.is_empty() {
            let clauses = deparser(node, ancestors, es)(pg_sys::make_ands_explicit(list_of(&scan.vec_nodes)).cast());
            let clauses = std::ffi::CString::new(clauses).expect("deparsed text has no NUL");
            pg_sys::ExplainPropertyText(c"Vectorized Filter".as_ptr(), clauses.as_ptr(), es);
        }
        let desc = (*(*node).ss.ss_currentRelation).rd_att;
        let names: Vec<String> = scan
            .attrs
            .iter()
            .map(|&i| std::ffi::CStr::from_ptr(crate::compat::attr(desc, i).attname.data.as_ptr()).to_string_lossy().into_owned())
            .collect();
        let columns = std::ffi::CString::new(if names.is_empty() { "none".to_string() } else { names.join(", ") }).expect("attribute names have no NUL");
        pg_sys::ExplainPropertyText(c"Columns Read".as_ptr(), columns.as_ptr(), es);
        if let Some(link) = &scan.join_filter {
            let column = std::ffi::CString::new(link.column.as_str()).expect("attribute names have no NUL");
            pg_sys::ExplainPropertyText(c"Join Key Filter".as_ptr(), column.as_ptr(), es);
        }
        if (*es).analyze {
            let c = scan.totals.unwrap_or(scan.reader.counts);
            pg_sys::ExplainPropertyInteger(c"Rows From Row Groups".as_ptr(), std::ptr::null(), c.group_rows as i64, es);
            pg_sys::ExplainPropertyInteger(c"Rows From Delta Pages".as_ptr(), std::ptr::null(), c.delta_rows as i64, es);
            pg_sys::ExplainPropertyInteger(c"Vectors Read".as_ptr(), std::ptr::null(), c.vectors as i64, es);
            pg_sys::ExplainPropertyInteger(c"Vectors Skipped By Zone Maps".as_ptr(), std::ptr::null(), c.skipped_vectors as i64, es);
            if scan.join_filter.is_some() {
                pg_sys::ExplainPropertyInteger(c"Rows Removed by Join Key Filter".as_ptr(), std::ptr::null(), c.join_filtered as i64, es);
            }
        }
    }
}
