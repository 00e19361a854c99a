//! The planner side of the columnar scan node: a path for every plain read of a columnar
//! table, offered beside PostgreSQL's own (sequential, index, bitmap) and chosen on cost.
//!
//! The node reads only the columns the query uses, so its cost counts the pages of those
//! columns (a share of the table's pages by column count) and a smaller per-row CPU charge
//! than a sequential scan's (no tuple is formed or deformed). It is not offered where rows
//! must carry what only a whole tuple has: the target of UPDATE, DELETE or MERGE, rows locked
//! with FOR UPDATE/SHARE (row marks), TABLESAMPLE, and references to system columns other
//! than `ctid` and `tableoid`. Those read through the table access method as before.
//! `enable_seqscan = off` discourages the node as it does a sequential scan.

use super::exec;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// `omendb.enable_columnar_scan`: whether the planner may use the columnar scan node.
pub static ENABLE: GucSetting<bool> = GucSetting::<bool>::new(true);
/// `omendb.enable_columnar_zone_maps`: whether the scan and aggregate nodes skip vectors
/// whose zone maps refute a WHERE clause.
pub static ZONE_MAPS: GucSetting<bool> = GucSetting::<bool>::new(true);

/// `omendb.enable_columnar_vectorization`: whether the scan and aggregate nodes evaluate the
/// WHERE clauses (and the aggregate node the numeric arithmetic in aggregate arguments) they
/// can over column vectors (when off, PostgreSQL evaluates every clause and expression on
/// every row).
pub static VECTORIZE: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Cost tunables: the node's per-row CPU charge as a share of `cpu_tuple_cost` (a row is
/// stored as datums pointing into decoded vectors, not formed as a tuple), and the least
/// share of the table's pages counted when the query reads few of its columns.
const CPU_TUPLE_SHARE: f64 = 0.5;
const MIN_PAGE_SHARE: f64 = 0.05;
/// Per row read when a node judges it by clauses over vectors alone (the rows those fail are
/// never stored), a share of `cpu_tuple_cost`; per clause evaluated over vectors and row
/// read, a share of `cpu_operator_cost` (the scan and aggregate nodes).
pub const CPU_VECTOR_ROW_SHARE: f64 = 0.05;
pub const CPU_VECTOR_QUAL_SHARE: f64 = 0.1;
/// What an index or bitmap scan pays per row it fetches on top of the index AM's estimate: a
/// fetch judges the row's header and forms the columns the query reads from compressed
/// vectors (`scan_setup.rs`); an index-only scan forms none.
const FETCH_ROW_COST: f64 = 0.1;
const FETCH_COLUMN_COST: f64 = 0.2;

static mut PREVIOUS: pg_sys::set_rel_pathlist_hook_type = None;

/// A custom path's methods, kept in a static.
pub struct PathMethods(pub pg_sys::CustomPathMethods);
// SAFETY: immutable, read only by the backend's single thread.
unsafe impl Sync for PathMethods {}

static PATH_METHODS: PathMethods = PathMethods(pg_sys::CustomPathMethods {
    CustomName: exec::NAME.as_ptr(),
    PlanCustomPath: Some(plan_path),
    ReparameterizeCustomPathByChild: None,
});

pub fn init() {
    GucRegistry::define_bool_guc(
        c"omendb.enable_columnar_scan",
        c"Enables the planner's use of the columnar scan node on columnar tables.",
        c"When off, columnar tables are read by sequential, index and bitmap scans only (and the columnar aggregate node is off too).",
        &ENABLE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"omendb.enable_columnar_zone_maps",
        c"Enables skipping row group vectors whose min/max refute a WHERE clause.",
        c"The columnar scan and aggregate nodes read a vector's zone map (min, max, NULL count) before decoding it and skip its rows when a comparison with a constant or IS [NOT] NULL cannot hold for any of them.",
        &ZONE_MAPS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"omendb.enable_columnar_vectorization",
        c"Lets the columnar scan and aggregate nodes evaluate simple WHERE clauses and numeric arithmetic over column vectors.",
        c"Comparisons of a column with a constant or another column, IN lists, text equality, IS [NOT] NULL, and numeric +, -, * in aggregate arguments; when off, PostgreSQL evaluates them on every row.",
        &VECTORIZE,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SAFETY: called once from _PG_init, before any query is planned; the previous hook is
    // kept and called first.
    unsafe {
        PREVIOUS = pg_sys::set_rel_pathlist_hook;
        pg_sys::set_rel_pathlist_hook = Some(rel_pathlist);
    }
    exec::init();
}

/// Whether relation `relid` (locked by the planner) is a columnar table.
unsafe fn is_columnar(relid: pg_sys::Oid) -> bool {
    // SAFETY: the planner holds a lock on every relation it plans; the relcache reference is
    // released before returning.
    unsafe {
        let r = pg_sys::RelationIdGetRelation(relid);
        if r.is_null() {
            return false;
        }
        let columnar = std::ptr::eq((*r).rd_tableam, super::routine());
        pg_sys::RelationClose(r);
        columnar
    }
}

/// The elements of a pointer list.
///
/// # Safety
/// `list` is NIL or a valid List of pointers.
pub unsafe fn list_pointers<T>(list: *mut pg_sys::List) -> Vec<*mut T> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: per the contract, `length` cells follow.
    unsafe { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).ptr_value as *mut T).collect() }
}

/// A List of `nodes`, in order (NIL when empty).
///
/// # Safety
/// Valid node pointers; the list is allocated in the current memory context.
pub unsafe fn list_of<T>(nodes: &[*mut T]) -> *mut pg_sys::List {
    // SAFETY: per the contract.
    nodes.iter().fold(std::ptr::null_mut(), |l, &n| unsafe { pg_sys::lappend(l, n.cast()) })
}

/// The attributes of relation `varno` that `nodes` reference, as attribute numbers offset by
/// FirstLowInvalidHeapAttributeNumber (pull_varattnos's form).
///
/// # Safety
/// `nodes` are valid expression trees.
pub unsafe fn referenced(nodes: &[*mut pg_sys::Node], varno: u32) -> Vec<i32> {
    // SAFETY: per the contract; the bitmapset is allocated in the current context.
    unsafe {
        let mut set: *mut pg_sys::Bitmapset = std::ptr::null_mut();
        for &n in nodes {
            pg_sys::pull_varattnos(n, varno, &mut set);
        }
        let mut out = Vec::new();
        let mut x = -1;
        loop {
            x = pg_sys::bms_next_member(set, x);
            if x < 0 {
                break;
            }
            out.push(x + pg_sys::FirstLowInvalidHeapAttributeNumber);
        }
        out
    }
}

/// Whether base relation `rti` is a columnar table the columnar nodes may read: a plain read
/// (not the target of a modification, no row marks, no TABLESAMPLE, no lateral reference).
///
/// # Safety
/// The planner's structures for base relation `rti`.
pub unsafe fn readable(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo, rti: pg_sys::Index, rte: *mut pg_sys::RangeTblEntry) -> bool {
    // SAFETY: per the contract.
    unsafe {
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION || !(*rte).tablesample.is_null() || !(*rel).lateral_relids.is_null() || !is_columnar((*rte).relid) {
            return false;
        }
        let parse = (*root).parse;
        if (*parse).resultRelation == rti as i32 || pg_sys::bms_is_member(rti as i32, (*root).all_result_relids) {
            return false;
        }
        !list_pointers::<pg_sys::PlanRowMark>((*root).rowMarks).iter().any(|&m| (*m).rti == rti)
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn rel_pathlist(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo, rti: pg_sys::Index, rte: *mut pg_sys::RangeTblEntry) {
    // SAFETY: the planner's structures for base relation `rti`, whose standard paths are set.
    unsafe {
        if let Some(previous) = PREVIOUS {
            previous(root, rel, rti, rte);
        }
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION || !is_columnar((*rte).relid) {
            return;
        }
        let mut nodes: Vec<*mut pg_sys::Node> = vec![(*(*rel).reltarget).exprs.cast()];
        nodes.extend(list_pointers::<pg_sys::RestrictInfo>((*rel).baserestrictinfo).iter().map(|&r| (*r).clause.cast::<pg_sys::Node>()));
        let attnos = referenced(&nodes, rti);
        let natts = (*rel).max_attr.max(1) as f64;
        let read = if attnos.contains(&0) { natts } else { attnos.iter().filter(|&&a| a > 0).count() as f64 };
        if super::scan_setup::ENABLE.get() {
            charge_fetches(rel, read);
            keep_scans_narrow(rel);
        } else {
            charge_fetches(rel, natts);
        }
        if !ENABLE.get() || !readable(root, rel, rti, rte) {
            return;
        }
        let system_column = |a: i32| a < 0 && a != pg_sys::SelfItemPointerAttributeNumber && a != pg_sys::TableOidAttributeNumber;
        if attnos.iter().any(|&a| system_column(a)) {
            return;
        }
        let page_share = (read / natts).max(MIN_PAGE_SHARE);
        let clauses: Vec<*mut pg_sys::Node> =
            list_pointers::<pg_sys::RestrictInfo>((*rel).baserestrictinfo).iter().filter(|&&r| !(*r).pseudoconstant).map(|&r| (*r).clause.cast()).collect();
        let per_row = row_cost(&super::vecqual::costs(root, &clauses, rti));
        pg_sys::add_path(rel, new_path(rel, page_share, per_row, 0).cast());
        if (*rel).consider_parallel {
            let workers = pg_sys::compute_parallel_worker(rel, (*rel).pages as f64, -1.0, pg_sys::max_parallel_workers_per_gather);
            if workers > 0 {
                pg_sys::add_partial_path(rel, new_path(rel, page_share, per_row, workers).cast());
            }
        }
    }
}

/// Adds to the index and bitmap scan paths of columnar table `rel` what their fetches by TID
/// cost when they form `columns` columns (see FETCH_COLUMN_COST); set_cheapest runs after
/// this hook.
///
/// # Safety
/// A base relation whose paths are built and not yet compared by set_cheapest.
unsafe fn charge_fetches(rel: *mut pg_sys::RelOptInfo, columns: f64) {
    // SAFETY: per the contract; the paths are nodes of the planner's memory context.
    unsafe {
        for list in [(*rel).pathlist, (*rel).partial_pathlist] {
            for path in list_pointers::<pg_sys::Path>(list) {
                let (fetched, columns) = match (*path).type_ {
                    pg_sys::NodeTag::T_IndexPath if (*path).pathtype == pg_sys::NodeTag::T_IndexOnlyScan => ((*path.cast::<pg_sys::IndexPath>()).indexselectivity * (*rel).tuples, 0.0),
                    pg_sys::NodeTag::T_IndexPath => ((*path.cast::<pg_sys::IndexPath>()).indexselectivity * (*rel).tuples, columns),
                    pg_sys::NodeTag::T_BitmapHeapPath => ((*path).rows, columns),
                    _ => continue,
                };
                (*path).total_cost += (FETCH_ROW_COST + FETCH_COLUMN_COST * columns) * fetched.max(1.0);
            }
        }
    }
}

/// Keeps PostgreSQL's scans of columnar table `rel` from emitting every column (a "physical"
/// target list, which saves a projection on heap): fetches form only the columns a scan node
/// names (`scan_setup.rs`). createplan.c's use_physical_tlist declines when a system column
/// is needed; the `ctid` entry of `attr_needed` is read nowhere else once paths are being made
/// (joins take their target lists from `reltarget`, which this leaves alone).
///
/// # Safety
/// A base relation whose paths are being made.
unsafe fn keep_scans_narrow(rel: *mut pg_sys::RelOptInfo) {
    // SAFETY: per the contract; attr_needed has an entry per attribute from min_attr to
    // max_attr, and ctid (-1) lies in that range for a table.
    unsafe {
        let i = (pg_sys::SelfItemPointerAttributeNumber - (*rel).min_attr as i32) as usize;
        let needed = (*rel).attr_needed.add(i);
        if (*needed).is_null() {
            *needed = pg_sys::bms_make_singleton((*rel).relid as i32);
        }
    }
}

/// The share of a parallel scan's rows each process handles (costsize.c's rule: the leader
/// does less the more workers it has).
fn parallel_divisor(workers: i32) -> f64 {
    let mut divisor = workers as f64;
    // SAFETY: a GUC variable, read on the backend's thread.
    if unsafe { pg_sys::parallel_leader_participation } {
        let leader = 1.0 - 0.3 * workers as f64;
        if leader > 0.0 {
            divisor += leader;
        }
    }
    divisor
}

/// The node's CPU cost per row read, with the clauses `clauses` cost: without clauses over
/// vectors, its charge and the clauses on every row; with them, reading the row and those
/// clauses on every row, its charge and the other clauses on the rows they pass.
fn row_cost(clauses: &super::vecqual::Costs) -> f64 {
    // SAFETY: a GUC variable, read on the backend's thread.
    let tuple = unsafe { pg_sys::cpu_tuple_cost };
    let read = if clauses.vectorized { tuple * CPU_VECTOR_ROW_SHARE + clauses.per_row_read } else { 0.0 };
    read + clauses.selectivity * (tuple * CPU_TUPLE_SHARE + clauses.rest.per_tuple)
}

/// A path reading `page_share` of the relation's pages at CPU cost `per_row` per row read,
/// parallel-aware with `workers`.
unsafe fn new_path(rel: *mut pg_sys::RelOptInfo, page_share: f64, per_row: f64, workers: i32) -> *mut pg_sys::CustomPath {
    // SAFETY: a base relation whose size and restriction costs are estimated; the node is
    // allocated zeroed in the planner's memory context, as makeNode does.
    unsafe {
        let p = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomPath>()) as *mut pg_sys::CustomPath;
        (*p).path.type_ = pg_sys::NodeTag::T_CustomPath;
        (*p).path.pathtype = pg_sys::NodeTag::T_CustomScan;
        (*p).path.parent = rel;
        (*p).path.pathtarget = (*rel).reltarget;
        (*p).path.parallel_aware = workers > 0;
        (*p).path.parallel_safe = (*rel).consider_parallel;
        (*p).path.parallel_workers = workers;
        (*p).flags = pg_sys::CUSTOMPATH_SUPPORT_PROJECTION;
        (*p).methods = &PATH_METHODS.0;

        let quals = (*rel).baserestrictcost;
        let target = (*(*rel).reltarget).cost;
        let disk = pg_sys::seq_page_cost * (*rel).pages as f64 * page_share;
        let mut cpu = per_row * (*rel).tuples;
        let mut rows = (*rel).rows;
        if workers > 0 {
            let divisor = parallel_divisor(workers);
            cpu /= divisor;
            rows = pg_sys::clamp_row_est(rows / divisor);
        }
        cpu += target.per_tuple * rows;
        (*p).path.rows = rows;
        // The node is a sequential scan to the user: enable_seqscan = off discourages it too.
        let disabled = crate::compat::disabled_by_enable_seqscan(&mut (*p).path);
        (*p).path.startup_cost = disabled + quals.startup + target.startup;
        (*p).path.total_cost = (*p).path.startup_cost + cpu + disk;
        p
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn plan_path(
    _root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    best_path: *mut pg_sys::CustomPath,
    tlist: *mut pg_sys::List,
    clauses: *mut pg_sys::List,
    _custom_plans: *mut pg_sys::List,
) -> *mut pg_sys::Plan {
    // SAFETY: the path made above for `rel`; the plan node is allocated zeroed in the
    // planner's memory context. Pseudoconstant quals are left to the gating Result the
    // planner puts above the scan.
    unsafe {
        let cs = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomScan>()) as *mut pg_sys::CustomScan;
        (*cs).scan.plan.type_ = pg_sys::NodeTag::T_CustomScan;
        (*cs).scan.plan.targetlist = tlist;
        (*cs).scan.plan.qual = pg_sys::extract_actual_clauses(clauses, false);
        (*cs).scan.scanrelid = (*rel).relid;
        (*cs).flags = (*best_path).flags;
        (*cs).methods = exec::scan_methods();
        cs.cast()
    }
}
