//! The planner side of the columnar aggregate node: for a query that aggregates one columnar
//! table, a path that computes the aggregates while it reads the table, offered beside
//! PostgreSQL's Agg plans and chosen on cost.
//!
//! The node is a CustomScan of the table whose scan tuple (`custom_scan_tlist`) is the table's
//! attributes, in attribute order, followed by the Aggrefs: the group keys and the aggregates'
//! results come out in it, and PostgreSQL's setrefs points the target list and HAVING at them.
//! The WHERE clauses and the aggregates' arguments are `custom_exprs`, so parameters in them
//! make the node rescan as any plan's do; their Vars point into the same scan tuple at their
//! attribute numbers, where the node stores each row's columns.
//!
//! It is offered when every aggregate is one the node computes exactly as PostgreSQL does
//! (`agg_state::Kind::of`) and every group key is a column whose equality is its bytes
//! (integers, dates and times, booleans, and text types under a deterministic collation):
//! no grouping sets, no set-returning functions, no subplans in the clauses or arguments, no
//! system columns.

use super::agg_exec;
use super::agg_state::Kind;
use super::vecqual;
use super::plan::{CPU_VECTOR_ROW_SHARE, PathMethods, VECTORIZE, list_of, list_pointers, readable, referenced};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// `omendb.enable_columnar_aggregate`: whether the planner may use the aggregate node.
pub static ENABLE: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Cost tunables (besides the vector ones in `plan.rs`): per row stored in a slot, as a share
/// of `cpu_tuple_cost` (one that passes the clauses over vectors, when other clauses,
/// expression arguments or group keys need it: less than the scan node's, as no row is
/// projected and passed on); and per aggregate input and group key of a row that passes
/// every clause, a share of `cpu_operator_cost` (an Agg charges it all).
const CPU_SLOT_ROW_SHARE: f64 = 0.4;
const CPU_AGGREGATE_SHARE: f64 = 0.5;
const MIN_PAGE_SHARE: f64 = 0.05;
/// How closely a group key must follow the table's physical order (`pg_stats.correlation`)
/// for the node to return groups as its scan passes them, holding only the groups the rest
/// of the table may still add to, when all of them would not fit in `hash_mem`.
const STREAM_MIN_CORRELATION: f64 = 0.99;

static mut PREVIOUS: pg_sys::create_upper_paths_hook_type = None;

static PATH_METHODS: PathMethods = PathMethods(pg_sys::CustomPathMethods {
    CustomName: agg_exec::NAME.as_ptr(),
    PlanCustomPath: Some(plan_path),
    ReparameterizeCustomPathByChild: None,
});

pub fn init() {
    GucRegistry::define_bool_guc(
        c"omendb.enable_columnar_aggregate",
        c"Enables the planner's use of the columnar aggregate node on columnar tables.",
        c"When off, aggregates over columnar tables are computed by PostgreSQL's Agg node.",
        &ENABLE,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SAFETY: called once from _PG_init, before any query is planned; the previous hook is
    // kept and called first.
    unsafe {
        PREVIOUS = pg_sys::create_upper_paths_hook;
        pg_sys::create_upper_paths_hook = Some(upper_paths);
    }
    agg_exec::init();
}

/// Type OIDs of group keys compared by their bytes: bool, "char", int8, int2, int4, oid,
/// date, time, timestamp, timestamptz; and text types (bpchar without trailing spaces).
const INT_KEYS: [u32; 10] = [16, 18, 20, 21, 23, 26, 1082, 1083, 1114, 1184];
/// Of those, the types whose stored integers (and zone maps) order as the type does: int8,
/// int2, int4, date, timestamp, timestamptz.
const ORDERED_KEYS: [u32; 6] = [20, 21, 23, 1082, 1114, 1184];
const TEXT_KEYS: [u32; 3] = [vecqual::TEXT, vecqual::VARCHAR, vecqual::BPCHAR];

/// What the node computes for a query, found the same way by the path and the plan.
pub struct Analysis {
    /// Distinct Aggrefs of the target list and HAVING.
    pub aggrefs: Vec<*mut pg_sys::Aggref>,
    /// Group keys, as attribute numbers.
    pub keys: Vec<i16>,
    /// The WHERE clauses (all of the relation's restrictions).
    pub quals: Vec<*mut pg_sys::Node>,
    /// Each Aggref's argument (None for count(*)).
    pub args: Vec<Option<*mut pg_sys::Node>>,
}

/// The aggregation of base relation `rti` that `target` and `having` ask for, if the node
/// computes it.
///
/// # Safety
/// The planner's structures of a query grouping relation `rti`, alone.
unsafe fn analyze(root: *mut pg_sys::PlannerInfo, rti: pg_sys::Index, target: *mut pg_sys::List, having: *mut pg_sys::List) -> Option<Analysis> {
    // SAFETY: per the contract; planner nodes are read, lists are built in the planner's
    // context.
    unsafe {
        let parse = (*root).parse;
        if !(*parse).groupingSets.is_null() || (*parse).hasTargetSRFs {
            return None;
        }
        let rel = *(*root).simple_rel_array.add(rti as usize);
        let mut keys = Vec::new();
        for sgc in list_pointers::<pg_sys::SortGroupClause>((*parse).groupClause) {
            let tle = pg_sys::get_sortgroupclause_tle(sgc, (*root).processed_tlist);
            let var = (*tle).expr as *mut pg_sys::Var;
            if (*var).xpr.type_ != pg_sys::NodeTag::T_Var || (*var).varno as u32 != rti || (*var).varlevelsup != 0 || (*var).varattno <= 0 {
                return None;
            }
            let t = u32::from((*var).vartype);
            let text = TEXT_KEYS.contains(&t);
            if !(INT_KEYS.contains(&t) || text && pg_sys::get_collation_isdeterministic((*var).varcollid)) {
                return None;
            }
            keys.push((*var).varattno);
        }
        let flags = pg_sys::PVC_INCLUDE_AGGREGATES as i32;
        let mut items = list_pointers::<pg_sys::Node>(pg_sys::pull_var_clause(target.cast(), flags));
        items.extend(list_pointers::<pg_sys::Node>(pg_sys::pull_var_clause(having.cast(), flags)));
        let mut aggrefs: Vec<*mut pg_sys::Aggref> = Vec::new();
        for item in items {
            match (*item).type_ {
                pg_sys::NodeTag::T_Aggref => {
                    let a = item as *mut pg_sys::Aggref;
                    Kind::of(a)?;
                    if !aggrefs.iter().any(|&b| pg_sys::equal(a.cast(), b.cast())) {
                        aggrefs.push(a);
                    }
                }
                // A column outside aggregates: it must be a group key (a column functionally
                // dependent on a grouped primary key is not one the node returns).
                pg_sys::NodeTag::T_Var if keys.contains(&(*(item as *mut pg_sys::Var)).varattno) => {}
                _ => return None,
            }
        }
        // Clauses of a lower security level (row security policies, security barrier views)
        // run first, so that no other clause sees a row they reject.
        let mut restrictions = list_pointers::<pg_sys::RestrictInfo>((*rel).baserestrictinfo);
        restrictions.sort_by_key(|&r| (*r).security_level);
        let quals: Vec<*mut pg_sys::Node> = restrictions.iter().map(|&r| (*r).clause.cast()).collect();
        let args: Vec<Option<*mut pg_sys::Node>> =
            aggrefs.iter().map(|&a| list_pointers::<pg_sys::TargetEntry>((*a).args).first().map(|&tle| (*tle).expr.cast())).collect();
        let mut exprs = quals.clone();
        exprs.extend(args.iter().flatten());
        if exprs.iter().any(|&e| pg_sys::contain_subplans(e)) || referenced(&exprs, rti).iter().any(|&a| a <= 0) {
            return None;
        }
        Some(Analysis { aggrefs, keys, quals, args })
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn upper_paths(
    root: *mut pg_sys::PlannerInfo,
    stage: pg_sys::UpperRelationKind::Type,
    input_rel: *mut pg_sys::RelOptInfo,
    output_rel: *mut pg_sys::RelOptInfo,
    extra: *mut std::ffi::c_void,
) {
    // SAFETY: the planner's structures at `stage`; at UPPERREL_GROUP_AGG `extra` is the
    // grouping's GroupPathExtraData.
    unsafe {
        if let Some(previous) = PREVIOUS {
            previous(root, stage, input_rel, output_rel, extra);
        }
        if stage != pg_sys::UpperRelationKind::UPPERREL_GROUP_AGG || !ENABLE.get() || !super::plan::ENABLE.get() || (*input_rel).reloptkind != pg_sys::RelOptKind::RELOPT_BASEREL {
            return;
        }
        let rti = (*input_rel).relid;
        let rte = *(*root).simple_rte_array.add(rti as usize);
        if (*rte).inh || !readable(root, input_rel, rti, rte) {
            return;
        }
        let extra = extra as *mut pg_sys::GroupPathExtraData;
        let having = (*extra).havingQual as *mut pg_sys::List;
        let target = (*output_rel).reltarget;
        let Some(a) = analyze(root, rti, (*target).exprs, having) else { return };
        if let Some(path) = new_path(root, input_rel, output_rel, rti, &a, having) {
            pg_sys::add_path(output_rel, path.cast());
        }
    }
}

/// The node's path: the whole aggregation, costed as a scan of the columns read; None when
/// the groups the planner expects would not fit in `hash_mem`.
unsafe fn new_path(
    root: *mut pg_sys::PlannerInfo,
    input_rel: *mut pg_sys::RelOptInfo,
    output_rel: *mut pg_sys::RelOptInfo,
    rti: pg_sys::Index,
    a: &Analysis,
    having: *mut pg_sys::List,
) -> Option<*mut pg_sys::CustomPath> {
    // SAFETY: planner structures of a sized base relation; the path is allocated zeroed in
    // the planner's memory context, as makeNode does.
    unsafe {
        let mut nodes: Vec<*mut pg_sys::Node> = a.quals.clone();
        nodes.extend(a.args.iter().flatten());
        let mut attnos = referenced(&nodes, rti);
        attnos.extend(a.keys.iter().map(|&k| k as i32));
        attnos.sort_unstable();
        attnos.dedup();
        let natts = (*input_rel).max_attr.max(1) as f64;
        let page_share = (attnos.len() as f64 / natts).max(MIN_PAGE_SHARE);
        let tuples = (*input_rel).tuples;
        let quals = (*input_rel).baserestrictcost;
        // Clauses over vectors cost a share of an operator per row; the others are
        // evaluated by PostgreSQL on the rows those pass, stored in a slot first.
        let clauses = vecqual::costs(root, &a.quals, rti);
        // Arguments that are columns or numeric arithmetic are computed from the vectors.
        let computed = |e: *mut pg_sys::Node| (*e).type_ == pg_sys::NodeTag::T_Var || (VECTORIZE.get() && vecqual::compile_calc(e, |i| i).is_some());
        let by_vector = clauses.all_vectorized && a.args.iter().flatten().all(|&e| computed(e));
        let per_tuple = clauses.per_row_read
            + if by_vector { pg_sys::cpu_tuple_cost * CPU_VECTOR_ROW_SHARE } else { clauses.selectivity * (pg_sys::cpu_tuple_cost * CPU_SLOT_ROW_SHARE + clauses.rest.per_tuple) };
        // Per row that passes the clauses: each aggregate input and key.
        let mut per_row = (a.aggrefs.len() + a.keys.len()) as f64 * pg_sys::cpu_operator_cost * CPU_AGGREGATE_SHARE;
        for &arg in a.args.iter().flatten().filter(|&&e| !computed(e)) {
            let mut c = pg_sys::QualCost::default();
            pg_sys::cost_qual_eval_node(&mut c, arg, root);
            per_row += c.per_tuple;
        }
        let groups = if a.keys.is_empty() {
            1.0
        } else {
            let exprs = list_pointers::<pg_sys::SortGroupClause>((*(*root).parse).groupClause)
                .iter()
                .fold(std::ptr::null_mut(), |l, &sgc| pg_sys::lappend(l, (*pg_sys::get_sortgroupclause_tle(sgc, (*root).processed_tlist)).expr.cast()));
            pg_sys::estimate_num_groups(root, exprs, (*input_rel).rows, std::ptr::null_mut(), std::ptr::null_mut())
        };
        // The groups must fit in the memory a HashAggregate may take before it spills, unless
        // the node can return them in key order as it goes.
        let key_text: f64 = a.keys.iter().map(|&k| *(*input_rel).attr_widths.add((k as i32 - (*input_rel).min_attr as i32) as usize) as f64).sum();
        let stream = groups * (agg_exec::group_bytes(a.keys.len(), a.aggrefs.len()) as f64 + key_text) > pg_sys::get_hash_memory_limit() as f64;
        if stream && !streams(root, rti, &a.keys) {
            return None;
        }
        let mut having_cost = pg_sys::QualCost::default();
        pg_sys::cost_qual_eval(&mut having_cost, having, root);
        let target = (*(*output_rel).reltarget).cost;

        let p = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomPath>()) as *mut pg_sys::CustomPath;
        (*p).path.type_ = pg_sys::NodeTag::T_CustomPath;
        (*p).path.pathtype = pg_sys::NodeTag::T_CustomScan;
        (*p).path.parent = output_rel;
        (*p).path.pathtarget = (*output_rel).reltarget;
        (*p).path.rows = pg_sys::clamp_row_est(groups * pg_sys::clauselist_selectivity(root, having, 0, pg_sys::JoinType::JOIN_INNER, std::ptr::null_mut()));
        // It computes the whole aggregate wherever it runs (a worker reads the whole table
        // under the same snapshot), so it is as parallel-safe as the grouping.
        (*p).path.parallel_safe = (*output_rel).consider_parallel;
        (*p).flags = pg_sys::CUSTOMPATH_SUPPORT_PROJECTION;
        (*p).methods = &PATH_METHODS.0;
        (*p).custom_private = pg_sys::lappend_int(pg_sys::lappend_int(std::ptr::null_mut(), rti as i32), stream as i32);
        // The node reads the table sequentially: enable_seqscan = off discourages it too.
        let disabled = crate::compat::disabled_by_enable_seqscan(&mut (*p).path);
        (*p).path.startup_cost = disabled + quals.startup + pg_sys::seq_page_cost * (*input_rel).pages as f64 * page_share + per_tuple * tuples + per_row * (*input_rel).rows + having_cost.startup + target.startup;
        (*p).path.total_cost = (*p).path.startup_cost + groups * (pg_sys::cpu_tuple_cost + having_cost.per_tuple + target.per_tuple);
        Some(p)
    }
}

/// Whether the groups of `keys` can be returned as the scan passes them: one key, of a type
/// whose zone maps order as it does, stored in nearly its own order (ANALYZE's correlation).
unsafe fn streams(root: *mut pg_sys::PlannerInfo, rti: pg_sys::Index, keys: &[i16]) -> bool {
    let &[attno] = keys else { return false };
    // SAFETY: a base relation of the query; the statistics tuple is released below, and the
    // slot's arrays freed.
    unsafe {
        let relid = (**(*root).simple_rte_array.add(rti as usize)).relid;
        if !ORDERED_KEYS.contains(&u32::from(pg_sys::get_atttype(relid, attno))) {
            return false;
        }
        let tuple = pg_sys::SearchSysCache3(pg_sys::SysCacheIdentifier::STATRELATTINH as i32, pg_sys::Datum::from(relid), pg_sys::Datum::from(attno as i32), pg_sys::Datum::from(false));
        if tuple.is_null() {
            return false;
        }
        let mut slot = pg_sys::AttStatsSlot::default();
        let found = pg_sys::get_attstatsslot(&mut slot, tuple, pg_sys::STATISTIC_KIND_CORRELATION as i32, pg_sys::InvalidOid, pg_sys::ATTSTATSSLOT_NUMBERS as i32);
        let correlation = (found && slot.nnumbers == 1).then(|| *slot.numbers as f64);
        if found {
            pg_sys::free_attstatsslot(&mut slot);
        }
        pg_sys::ReleaseSysCache(tuple);
        correlation.is_some_and(|c| c >= STREAM_MIN_CORRELATION)
    }
}

/// The `custom_private` of the plan: the number of attributes of the relation, whether
/// groups are returned in key order as the scan goes (1) or after it (0), then the group
/// keys' attribute numbers.
pub fn private_layout(natts: i32, stream: bool, keys: &[i16]) -> Vec<i32> {
    [natts, stream as i32].into_iter().chain(keys.iter().map(|&k| k as i32)).collect()
}

#[pg_guard]
unsafe extern "C-unwind" fn plan_path(
    root: *mut pg_sys::PlannerInfo,
    _rel: *mut pg_sys::RelOptInfo,
    best_path: *mut pg_sys::CustomPath,
    tlist: *mut pg_sys::List,
    _clauses: *mut pg_sys::List,
    _custom_plans: *mut pg_sys::List,
) -> *mut pg_sys::Plan {
    // SAFETY: the path made above; the relation is locked by the planner; nodes are allocated
    // in the planner's memory context.
    unsafe {
        let rti = (*(*(*best_path).custom_private).elements).int_value as pg_sys::Index;
        let having = (*(*root).parse).havingQual as *mut pg_sys::List;
        let a = analyze(root, rti, (*(*best_path).path.pathtarget).exprs, having).expect("the path was made for it");
        let rte = *(*root).simple_rte_array.add(rti as usize);
        let r = pg_sys::RelationIdGetRelation((*rte).relid);
        let desc = (*r).rd_att;
        let natts = (*desc).natts;
        let mut scan_tlist: *mut pg_sys::List = std::ptr::null_mut();
        for i in 0..natts {
            let att = crate::compat::attr(desc, i as usize);
            let expr: *mut pg_sys::Expr = if att.attisdropped {
                pg_sys::makeNullConst(pg_sys::INT4OID, -1, pg_sys::InvalidOid).cast()
            } else {
                pg_sys::makeVar(rti as _, att.attnum, att.atttypid, att.atttypmod, att.attcollation, 0).cast()
            };
            scan_tlist = pg_sys::lappend(scan_tlist, pg_sys::makeTargetEntry(expr, (i + 1) as i16, std::ptr::null_mut(), false).cast());
        }
        pg_sys::RelationClose(r);
        for (j, &aggref) in a.aggrefs.iter().enumerate() {
            scan_tlist = pg_sys::lappend(scan_tlist, pg_sys::makeTargetEntry(aggref.cast(), (natts as usize + j + 1) as i16, std::ptr::null_mut(), false).cast());
        }
        let mut exprs = pg_sys::lappend(std::ptr::null_mut(), list_of(&a.quals).cast());
        for arg in &a.args {
            exprs = pg_sys::lappend(exprs, arg.map_or(std::ptr::null_mut(), |e| e.cast()));
        }
        let stream = (*(*(*best_path).custom_private).elements.add(1)).int_value != 0;
        let private = private_layout(natts, stream, &a.keys).into_iter().fold(std::ptr::null_mut(), |l, v| pg_sys::lappend_int(l, v));

        let cs = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomScan>()) as *mut pg_sys::CustomScan;
        (*cs).scan.plan.type_ = pg_sys::NodeTag::T_CustomScan;
        (*cs).scan.plan.targetlist = tlist;
        (*cs).scan.plan.qual = having;
        (*cs).scan.scanrelid = rti;
        (*cs).flags = (*best_path).flags;
        (*cs).custom_scan_tlist = scan_tlist;
        (*cs).custom_exprs = exprs;
        (*cs).custom_private = private;
        (*cs).methods = agg_exec::scan_methods();
        cs.cast()
    }
}
