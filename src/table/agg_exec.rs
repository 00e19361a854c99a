//! The executor side of the columnar aggregate node: it reads the table a segment slice at a
//! time through `batch.rs`, adds each visible row to its group's transition states
//! (`agg_state.rs`), and then returns one row per group, through ExecScan, which applies HAVING
//! and the projection.
//!
//! The clauses `vecqual.rs` knows are judged over a row group's vectors first. When no other
//! clause remains and every argument is a column or numeric arithmetic, the rows that pass go
//! from the decoded vectors straight into the states (column by column without group keys,
//! row by row with them). Otherwise, and for rows of delta pages, each row is stored in the
//! scan slot first (only the columns the node reads), and PostgreSQL evaluates the other
//! clauses and the expression arguments on it.

use super::agg_state::{Input, Kind, State, varlena_content};
use super::batch::{self, Counts, Reader};
use super::exec::{self, ExecMethods, ScanMethods};
use super::group::Decoded;
use columnar_core::encode::{VECTOR_SIZE, validity};
use super::plan::{VECTORIZE, list_of, list_pointers, referenced};
use super::vecqual::{self, VecQual, Verdict};
use columnar_core::aggregate::{Calc, Fallback, Lane, ScaledColumn};
use columnar_core::layout::PageKind;
use columnar_core::{map, segment};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The node's name in EXPLAIN and in the registry of custom scan methods.
pub const NAME: &std::ffi::CStr = c"ColumnarAggregate";

static SCAN_METHODS: ScanMethods = ScanMethods(pg_sys::CustomScanMethods { CustomName: NAME.as_ptr(), CreateCustomScanState: Some(create_state) });

static EXEC_METHODS: ExecMethods = ExecMethods(pg_sys::CustomExecMethods {
    CustomName: NAME.as_ptr(),
    BeginCustomScan: Some(begin),
    ExecCustomScan: Some(exec),
    EndCustomScan: Some(exec::end),
    ReScanCustomScan: Some(rescan),
    MarkPosCustomScan: None,
    RestrPosCustomScan: None,
    EstimateDSMCustomScan: None,
    InitializeDSMCustomScan: None,
    ReInitializeDSMCustomScan: None,
    InitializeWorkerCustomScan: None,
    ShutdownCustomScan: None,
    ExplainCustomScan: Some(explain),
});

pub fn scan_methods() -> *mut pg_sys::CustomScanMethods {
    SCAN_METHODS.as_ptr()
}

pub fn init() {
    SCAN_METHODS.register();
}

/// Where an aggregate's input comes from.
enum Arg {
    /// count(*).
    None,
    /// A column: the reader's attribute `k`, zero-based attribute `index`.
    Column { k: usize, index: usize },
    /// Numeric arithmetic computed from the vectors; PostgreSQL evaluates `state` on a row
    /// whose values it cannot compute exactly.
    Calc { calc: Calc, state: *mut pg_sys::ExprState },
    /// An expression PostgreSQL evaluates on the scan slot.
    Expr(*mut pg_sys::ExprState),
}

/// The memory one group takes besides its text keys: its entry in the hash table (key bytes
/// and index), its key datums and its states.
pub fn group_bytes(keys: usize, aggregates: usize) -> usize {
    64 + keys * (8 + std::mem::size_of::<Option<pg_sys::Datum>>()) + aggregates * std::mem::size_of::<State>()
}

/// The memory the groups may take at run time, when the planner expected them to fit in
/// `hash_mem` and there are many more: the least of what PostgreSQL's HashAggregate could take
/// before spilling, and 1 GB, times a margin for estimates that are off.
fn memory_limit() -> usize {
    // SAFETY: reads GUC variables on the backend's thread.
    (unsafe { pg_sys::get_hash_memory_limit() }.saturating_mul(16)).max(1 << 30)
}

/// How a group key's bytes are compared.
#[derive(Clone, Copy)]
struct Key {
    /// Zero-based attribute number, and the reader's attribute holding it.
    index: usize,
    k: usize,
    text: bool,
    bpchar: bool,
    len: i16,
}

/// The groups and their states.
struct Groups {
    keys: Vec<Key>,
    kinds: Vec<Kind>,
    /// Groups by their keys' bytes; each group's key datums and states.
    index: HashMap<Vec<u8>, usize, foldhash::fast::RandomState>,
    list: Vec<(Vec<Option<pg_sys::Datum>>, Vec<State>)>,
    /// Memory of key copies and of numeric sums beyond 128 bits, reset at a rescan.
    cxt: pg_sys::MemoryContext,
    /// A group key's bytes, reused from row to row.
    scratch: Vec<u8>,
    /// The key bytes of the previous row and its group: neighbouring rows often share a group
    /// (data loaded in the order of a correlated column), and a comparison is cheaper than a
    /// hash lookup.
    last: Option<(Vec<u8>, usize)>,
    /// Memory the groups take (`group_bytes` and key text).
    bytes: usize,
    /// When groups are returned in key order as the scan goes (one integer key): the groups
    /// by key, the group of the NULL key, and the slots of groups returned and forgotten.
    by_key: Option<BTreeMap<i64, usize>>,
    null_group: Option<usize>,
    free: Vec<usize>,
    /// The most groups held at once.
    peak: usize,
}

/// What a node returning groups in key order as it goes (`agg_plan::streams`) keeps of its
/// scan: it reads delta segments first (their keys are known only once read), then folded
/// ones in the map's order. After each slice, the groups whose key is below every key the
/// rest of the table can hold (the zone maps of the vectors not read yet) are returned and
/// forgotten, so a table stored in key order holds a few groups at a time.
#[derive(Default)]
struct Stream {
    /// Segments in reading order (made at the first row), and for each, the least key of
    /// the row groups after it (i64::MIN when a delta segment comes after it).
    order: Vec<map::Entry>,
    later_min: Vec<i64>,
    started: bool,
    /// The next segment and slice to read, and a position of the current segment's group
    /// from which its rows not read yet come.
    at: usize,
    slice: u32,
    position: usize,
    /// Groups to return, and the one returned last (forgotten at the next row: its results
    /// may point into its states).
    ready: VecDeque<usize>,
    returned: Option<usize>,
}

struct Aggregate {
    reader: Reader,
    natts: usize,
    /// All the WHERE clauses (for rows of delta pages and rows the vectors cannot judge), the
    /// clauses evaluated over vectors, and the others, evaluated by PostgreSQL on rows the
    /// vector clauses pass.
    quals: *mut pg_sys::ExprState,
    vec_quals: Vec<VecQual>,
    rest_quals: *mut pg_sys::ExprState,
    /// The clauses of each kind, for EXPLAIN.
    vec_nodes: Vec<*mut pg_sys::Node>,
    rest_nodes: Vec<*mut pg_sys::Node>,
    args: Vec<Arg>,
    groups: Groups,
    stream: Option<Stream>,
    done: bool,
    next_group: usize,
    /// Rows that passed the clauses, for EXPLAIN ANALYZE.
    rows: u64,
    /// Zero-based attribute numbers read, for EXPLAIN.
    attrs: Vec<usize>,
}

#[pg_guard]
unsafe extern "C-unwind" fn create_state(_cscan: *mut pg_sys::CustomScan) -> *mut pg_sys::Node {
    // SAFETY: a CreateCustomScanState callback.
    unsafe { exec::new_state(&EXEC_METHODS.0) }
}

unsafe fn agg_of<'a>(node: *mut pg_sys::CustomScanState) -> &'a mut Aggregate {
    // SAFETY: a node of this kind whose `begin` ran.
    unsafe { exec::own::<Aggregate>(node) }
}

#[pg_guard]
unsafe extern "C-unwind" fn begin(node: *mut pg_sys::CustomScanState, estate: *mut pg_sys::EState, eflags: i32) {
    // SAFETY: ExecInitCustomScan opened the relation and made the scan slot (virtual, shaped
    // by custom_scan_tlist: the relation's attributes, then the aggregates) and the
    // expression context before calling this; the plan is the one agg_plan made.
    unsafe {
        let rel = (*node).ss.ss_currentRelation;
        let plan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
        let parent = &raw mut (*node).ss.ps;
        let private: Vec<i32> = (0..(*(*plan).custom_private).length as usize).map(|i| (*(*(*plan).custom_private).elements.add(i)).int_value).collect();
        let natts = private[0] as usize;
        let stream = private[1] != 0;
        let exprs = list_pointers::<pg_sys::Node>((*plan).custom_exprs);
        let tlist = list_pointers::<pg_sys::TargetEntry>((*plan).custom_scan_tlist);
        let aggrefs: Vec<*mut pg_sys::Aggref> = tlist[natts..].iter().map(|&t| (*t).expr.cast()).collect();
        let kinds: Vec<Kind> = aggrefs.iter().map(|&a| Kind::of(a).expect("the planner checked the aggregate")).collect();

        let mut attnos: Vec<i32> = referenced(&exprs, pg_sys::INDEX_VAR as u32);
        attnos.extend(private[2..].iter());
        attnos.sort_unstable();
        attnos.dedup();
        let attrs: Vec<usize> = attnos.iter().map(|&a| a as usize - 1).collect();
        let k_of = |index: usize| attrs.iter().position(|&i| i == index).expect("every attribute read is in attrs");

        let quals = if exprs[0].is_null() { std::ptr::null_mut() } else { pg_sys::ExecInitQual(exprs[0].cast(), parent) };
        let vecqual::Split { vec_quals, vec_nodes, rest_nodes } = vecqual::split(exprs[0].cast(), k_of);
        let rest_quals = if rest_nodes.is_empty() { std::ptr::null_mut() } else { pg_sys::ExecInitQual(list_of(&rest_nodes), parent) };
        let args: Vec<Arg> = exprs[1..]
            .iter()
            .map(|&e| {
                if e.is_null() {
                    Arg::None
                } else if (*e).type_ == pg_sys::NodeTag::T_Var {
                    let index = (*(e as *mut pg_sys::Var)).varattno as usize - 1;
                    Arg::Column { k: k_of(index), index }
                } else {
                    let state = pg_sys::ExecInitExpr(e.cast(), parent);
                    match vecqual::compile_calc(e, k_of) {
                        Some(calc) if VECTORIZE.get() => Arg::Calc { calc, state },
                        _ => Arg::Expr(state),
                    }
                }
            })
            .collect();
        let desc = (*rel).rd_att;
        let keys = private[2..]
            .iter()
            .map(|&attno| {
                let index = attno as usize - 1;
                let att = crate::compat::attr(desc, index);
                let t = u32::from(att.atttypid);
                Key { index, k: k_of(index), text: att.attlen == -1, bpchar: t == vecqual::BPCHAR, len: att.attlen }
            })
            .collect();

        let slot = (*node).ss.ss_ScanTupleSlot;
        std::slice::from_raw_parts_mut((*slot).tts_isnull, (*(*slot).tts_tupleDescriptor).natts as usize).fill(true);
        let snapshot = (*estate).es_snapshot;
        if eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as i32 == 0 {
            super::serializable::lock_relation(rel, snapshot);
        }
        let heap_slot = pg_sys::ExecInitExtraTupleSlot(estate, desc, &pg_sys::TTSOpsHeapTuple);
        let mut reader = Reader::new(rel, snapshot, &attrs, heap_slot);
        reader.skip_by_zone_maps(exprs[0].cast(), parent, eflags);
        let cxt = pg_sys::AllocSetContextCreateInternal((*estate).es_query_cxt, c"columnar aggregate".as_ptr(), 0, 8 * 1024, 8 * 1024 * 1024);
        let by_key = stream.then(BTreeMap::new);
        let groups = Groups { keys, kinds, index: HashMap::default(), list: Vec::new(), cxt, scratch: Vec::new(), last: None, bytes: 0, by_key, null_group: None, free: Vec::new(), peak: 0 };
        let stream = stream.then(Stream::default);
        let agg = Aggregate { reader, natts, quals, vec_quals, rest_quals, vec_nodes, rest_nodes, args, groups, stream, done: false, next_group: 0, rows: 0, attrs };
        exec::set_own(node, estate, agg);
    }
}

impl Aggregate {
    /// Reads the whole table into the groups.
    unsafe fn run(&mut self, node: *mut pg_sys::CustomScanState) {
        // SAFETY: the node's relation, valid while it runs.
        unsafe {
            if self.groups.keys.is_empty() {
                self.groups.new_group(&[]);
            }
            let rel = (*node).ss.ss_currentRelation;
            self.reading(node, |agg, read| {
                for e in super::store::segments(rel) {
                    for slice in 0..batch::SLICES {
                        read(agg, &e, slice);
                    }
                }
            });
        }
    }

    /// Reads slices of the table in the order `Stream` says until some groups are ready to
    /// be returned, or to the end of the table (when all are).
    unsafe fn read_stream(&mut self, node: *mut pg_sys::CustomScanState) {
        // SAFETY: the node's relation, valid while it runs.
        let rel = unsafe { (*node).ss.ss_currentRelation };
        let key = self.groups.keys[0].index;
        let s = self.stream.as_mut().expect("a streaming node");
        if !s.started {
            s.started = true;
            (s.order, s.later_min) = stream_order(rel, key);
        }
        // SAFETY: as above.
        unsafe {
            self.reading(node, |agg, read| {
                loop {
                    let s = agg.stream.as_mut().expect("a streaming node");
                    if !s.ready.is_empty() || s.at == s.order.len() {
                        break;
                    }
                    let (at, slice, e) = (s.at, s.slice, s.order[s.at]);
                    let last_slice = slice + 1 == batch::SLICES;
                    (s.at, s.slice) = if last_slice { (at + 1, 0) } else { (at, slice + 1) };
                    let last_position = read(agg, &e, slice);
                    let s = agg.stream.as_mut().expect("a streaming node");
                    if let Some(p) = last_position {
                        s.position = p as usize;
                    }
                    // The least key the rest of the table can hold: the later segments' and,
                    // in a row group, its vectors' from the last row read on.
                    let rest = match agg.reader.group() {
                        Some(g) if !last_slice => (s.position / VECTOR_SIZE..g.group.rows.div_ceil(VECTOR_SIZE as u32) as usize).map(|v| key_min(g, key, v)).min().unwrap_or(i64::MAX),
                        None if !last_slice => i64::MIN,
                        _ => i64::MAX,
                    };
                    if last_slice {
                        s.position = 0;
                    }
                    let below = s.later_min[at].min(rest);
                    let by_key = agg.groups.by_key.as_mut().expect("a streaming node");
                    while let Some(entry) = by_key.first_entry().filter(|e| *e.key() < below) {
                        s.ready.push_back(entry.remove());
                    }
                }
                // At the end of the table every group left is complete.
                let s = agg.stream.as_mut().expect("a streaming node");
                if s.at == s.order.len() {
                    s.ready.extend(std::mem::take(agg.groups.by_key.as_mut().expect("a streaming node")).into_values());
                    s.ready.extend(agg.groups.null_group.take());
                }
            });
        }
    }

    /// Calls `f` with a function that reads one slice of a segment into the groups and
    /// returns the position of the last row group row it loaded (None when it loaded none).
    unsafe fn reading(&mut self, node: *mut pg_sys::CustomScanState, f: impl FnOnce(&mut Self, &mut dyn FnMut(&mut Self, &map::Entry, u32) -> Option<u32>)) {
        // SAFETY: the node's slot and expression context, valid while it runs.
        unsafe {
            let slot = (*node).ss.ss_ScanTupleSlot;
            let econtext = (*node).ss.ps.ps_ExprContext;
            // Rows go from vectors straight into the states when nothing but vector clauses
            // decides which rows count and PostgreSQL evaluates no argument.
            let by_vector = self.rest_quals.is_null() && self.args.iter().all(|a| !matches!(a, Arg::Expr(_)));
            // Detoasted copies of values are made in the per-tuple memory, reset as rows go.
            let per_tuple = (*econtext).ecxt_per_tuple_memory;
            let old = pg_sys::MemoryContextSwitchTo(per_tuple);
            f(self, &mut |agg: &mut Self, e: &map::Entry, slice: u32| agg.read_slice(e, slice, slot, econtext, by_vector));
            pg_sys::MemoryContextSwitchTo(old);
            pg_sys::MemoryContextReset(per_tuple);
        }
    }

    /// Reads slice `slice` of segment `e` into the groups (see `reading`).
    unsafe fn read_slice(&mut self, e: &map::Entry, slice: u32, slot: *mut pg_sys::TupleTableSlot, econtext: *mut pg_sys::ExprContext, by_vector: bool) -> Option<u32> {
        // SAFETY: the node's slot and expression context, in its per-tuple memory.
        unsafe {
            let per_tuple = (*econtext).ecxt_per_tuple_memory;
            self.reader.load(e, slice);
            let last_position = self.reader.group_view().and_then(|v| v.rows.last().map(|r| r.0));
            if self.reader.is_empty() {
                return last_position;
            }
            let verdicts = match self.reader.group_view() {
                Some(view) if !self.vec_quals.is_empty() => Some(vecqual::verdicts(&self.vec_quals, &view)),
                _ => None,
            };
            let judged = verdicts.as_ref().is_none_or(|v| !v.contains(&Verdict::Unknown));
            if by_vector && judged && self.add_vectors(verdicts.as_deref(), slot, econtext) {
                pg_sys::MemoryContextReset(per_tuple);
                return last_position;
            }
            let mut i = 0;
            loop {
                // Past the batch's last row, skip() ends the loop.
                let verdict = verdicts.as_ref().map(|v| v.get(i).copied().unwrap_or(Verdict::Fail));
                i += 1;
                if verdict == Some(Verdict::Fail) {
                    if !self.reader.skip() {
                        break;
                    }
                    continue;
                }
                if !self.reader.next(slot) {
                    break;
                }
                pg_sys::MemoryContextReset(per_tuple);
                (*econtext).ecxt_scantuple = slot;
                // Rows the vector clauses passed need only the other clauses.
                let quals = if verdict == Some(Verdict::Pass) { self.rest_quals } else { self.quals };
                if !quals.is_null() && !pg_sys::ExecQual(quals, econtext) {
                    continue;
                }
                self.add_row(slot, econtext);
            }
            last_position
        }
    }

    /// Adds the batch's group rows (those `verdicts` pass, if given) from the vectors (no
    /// clauses but vector ones, no argument PostgreSQL evaluates); false when the batch holds
    /// tuples. A row whose arithmetic the vectors cannot compute is stored in `slot` and its
    /// argument evaluated by PostgreSQL.
    unsafe fn add_vectors(&mut self, verdicts: Option<&[Verdict]>, slot: *mut pg_sys::TupleTableSlot, econtext: *mut pg_sys::ExprContext) -> bool {
        let Some(view) = self.reader.group_view() else { return false };
        let selected: Vec<(u32, pg_sys::ItemPointerData)>;
        let rows = match verdicts {
            None => view.rows,
            Some(v) => {
                selected = view.rows.iter().zip(v).filter(|(_, v)| **v == Verdict::Pass).map(|(r, _)| *r).collect();
                &selected[..]
            }
        };
        self.rows += rows.len() as u64;
        let groups = &mut self.groups;
        if groups.keys.is_empty() && self.args.iter().all(|a| !matches!(a, Arg::Calc { .. })) {
            // Column by column, one dispatch per vector.
            let states = &mut groups.list[0].1;
            for (j, arg) in self.args.iter().enumerate() {
                let kind = groups.kinds[j];
                match *arg {
                    Arg::None => states[j].add_rows(rows.len() as i64),
                    Arg::Column { k, .. } => {
                        for (run, vector) in view.runs(k, rows) {
                            match vector {
                                Some(Decoded::Int(v)) => {
                                    let valid = |i: usize| v.validity.as_deref().is_none_or(|b| validity::is_valid(b, i));
                                    states[j].add_ints(kind, run.iter().map(|r| r.0 as usize % VECTOR_SIZE).filter(|&i| valid(i)).map(|i| v.values[i]));
                                }
                                Some(Decoded::Scaled { values, scale, .. }) => {
                                    let valid = |i: &usize| values.validity.as_deref().is_none_or(|b| validity::is_valid(b, *i));
                                    let run_values = run.iter().map(|r| r.0 as usize % VECTOR_SIZE).filter(valid).map(|i| values.values[i]);
                                    states[j].add_scaled_run(kind, run_values, *scale, groups.cxt);
                                }
                                Some(Decoded::Bytes(v)) if matches!(kind, Kind::Sum(Input::Numeric) | Kind::Avg(Input::Numeric)) => {
                                    for bytes in run.iter().filter_map(|r| v.value(r.0 as usize % VECTOR_SIZE)) {
                                        states[j].add_numeric_bytes(kind, bytes, groups.cxt);
                                    }
                                }
                                _ => {
                                    for &(position, _) in run {
                                        if let Some(d) = view.datum(k, position) {
                                            // SAFETY: a datum of the column, the aggregate's input type.
                                            unsafe { states[j].add(kind, d, groups.cxt) };
                                        }
                                    }
                                }
                            }
                        }
                    }
                    Arg::Calc { .. } | Arg::Expr(_) => unreachable!("only columns are read column by column"),
                }
            }
            return true;
        }
        // Vector by vector: each row's group first, then each argument over the vector's rows,
        // arithmetic a column at a time where its columns are scaled vectors. Each state still
        // takes its rows in order (float sums depend on it).
        let (mut gids, mut at, mut lanes) = (Vec::new(), Vec::new(), Vec::new());
        for run in rows.chunk_by(|a, b| a.0 as usize / VECTOR_SIZE == b.0 as usize / VECTOR_SIZE) {
            gids.clear();
            gids.extend(run.iter().map(|&(position, _)| if groups.keys.is_empty() { 0 } else { groups.group_of(|key| view.datum(key.k, position)) }));
            at.clear();
            at.extend(run.iter().map(|r| r.0 as usize % VECTOR_SIZE));
            for (j, arg) in self.args.iter().enumerate() {
                let kind = groups.kinds[j];
                match arg {
                    Arg::None => gids.iter().for_each(|&g| groups.list[g].1[j].add_rows(1)),
                    Arg::Column { k, .. } => {
                        for (&(position, _), &g) in run.iter().zip(&gids) {
                            let state = &mut groups.list[g].1[j];
                            match view.scaled(*k, position) {
                                Some(Some((value, scale))) => state.add_scaled(kind, value as i128, scale, groups.cxt),
                                Some(None) => {}
                                None => {
                                    if let Some(d) = view.datum(*k, position) {
                                        // SAFETY: a datum of the column, the aggregate's input type.
                                        unsafe { state.add(kind, d, groups.cxt) };
                                    }
                                }
                            }
                        }
                    }
                    Arg::Calc { calc, state: expr } => {
                        let column = |k: usize| match view.vector(k, run[0].0) {
                            Some(Decoded::Scaled { values, scale, .. }) => Some(ScaledColumn { values: &values.values, scale: *scale, validity: values.validity.as_deref() }),
                            _ => None,
                        };
                        let scale = calc.eval_rows(&column, &at, &mut lanes);
                        for (r, (&(position, _), &g)) in run.iter().zip(&gids).enumerate() {
                            let result = match (scale, lanes.get(r)) {
                                (Some(s), Some(Lane::Value(v))) => Ok(Some((*v as i128, s))),
                                (Some(_), Some(Lane::Null)) => Ok(None),
                                _ => calc.eval(&|k| view.numeric(k, position)),
                            };
                            let state = &mut groups.list[g].1[j];
                            match result {
                                Ok(Some((value, scale))) => state.add_scaled(kind, value, scale, groups.cxt),
                                Ok(None) => {}
                                Err(Fallback) => {
                                    let index = view.rows.binary_search_by_key(&position, |r| r.0).expect("a row of the batch");
                                    // SAFETY: the node's scan slot and expression context; the
                                    // row's values stay in the batch while it is evaluated.
                                    unsafe {
                                        self.reader.store(slot, index);
                                        (*econtext).ecxt_scantuple = slot;
                                        let mut isnull = false;
                                        let d = pg_sys::ExecEvalExprSwitchContext(*expr, econtext, &mut isnull);
                                        if !isnull {
                                            state.add(kind, d, groups.cxt);
                                        }
                                    }
                                }
                            }
                        }
                    }
                    Arg::Expr(_) => unreachable!("no expression PostgreSQL evaluates is read from vectors"),
                }
            }
        }
        true
    }

    /// Adds the row in `slot` (which passed the clauses) to its group.
    unsafe fn add_row(&mut self, slot: *mut pg_sys::TupleTableSlot, econtext: *mut pg_sys::ExprContext) {
        // SAFETY: a virtual slot the reader filled, and the node's expression context.
        unsafe {
            self.rows += 1;
            let values = (*slot).tts_values;
            let nulls = (*slot).tts_isnull;
            let groups = &mut self.groups;
            let g = if groups.keys.is_empty() { 0 } else { groups.group_of(|key| (!*nulls.add(key.index)).then(|| *values.add(key.index))) };
            for (j, arg) in self.args.iter().enumerate() {
                let d = match *arg {
                    Arg::None => {
                        groups.list[g].1[j].add_rows(1);
                        continue;
                    }
                    Arg::Column { index, .. } => (!*nulls.add(index)).then(|| *values.add(index)),
                    Arg::Calc { state, .. } | Arg::Expr(state) => {
                        let mut isnull = false;
                        let d = pg_sys::ExecEvalExprSwitchContext(state, econtext, &mut isnull);
                        (!isnull).then_some(d)
                    }
                };
                if let Some(d) = d {
                    groups.list[g].1[j].add(groups.kinds[j], d, groups.cxt);
                }
            }
        }
    }

    /// Forgets every group (a rescan).
    fn reset(&mut self) {
        self.groups.reset();
        if let Some(s) = &mut self.stream {
            *s = Stream::default();
        }
        self.done = false;
        self.next_group = 0;
        self.reader.reset();
    }
}

impl Groups {
    /// The index of the group of the key datums `datum(key)` gives, made if new.
    fn group_of(&mut self, datum: impl Fn(&Key) -> Option<pg_sys::Datum>) -> usize {
        let mut bytes = std::mem::take(&mut self.scratch);
        bytes.clear();
        key_bytes(&self.keys, &mut bytes, |_, key| datum(key));
        if let Some((last, g)) = &self.last
            && *last == bytes
        {
            let g = *g;
            self.scratch = bytes;
            return g;
        }
        let g = match self.index.get(bytes.as_slice()) {
            Some(&g) => g,
            None => {
                let keys = self.keys.clone();
                let copies: Vec<Option<pg_sys::Datum>> = keys.iter().map(|key| datum(key).map(|d| if key.text { self.copy_text(d) } else { d })).collect();
                let g = self.new_group(&copies);
                self.index.insert(bytes.clone(), g);
                if let Some(by_key) = &mut self.by_key {
                    match copies[0] {
                        Some(d) => _ = by_key.insert(int_key(&self.keys[0], d), g),
                        None => self.null_group = Some(g),
                    }
                }
                g
            }
        };
        match &mut self.last {
            Some((last, last_g)) => {
                last.clone_from(&bytes);
                *last_g = g;
            }
            None => self.last = Some((bytes.clone(), g)),
        }
        self.scratch = bytes;
        g
    }

    fn new_group(&mut self, keys: &[Option<pg_sys::Datum>]) -> usize {
        self.bytes += group_bytes(self.keys.len(), self.kinds.len());
        if self.bytes > memory_limit() {
            crate::error::raise_with_detail(
                PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
                "the columnar aggregate has more groups than it can hold in memory",
                Some(&format!("{} groups take {} bytes.", self.list.len(), self.bytes)),
                Some("The planner expected fewer groups: ANALYZE the table, or SET omendb.enable_columnar_aggregate = off for this query."),
            );
        }
        let group = (keys.to_vec(), self.kinds.iter().map(|k| k.state()).collect());
        let g = match self.free.pop() {
            Some(g) => {
                self.list[g] = group;
                g
            }
            None => {
                self.list.push(group);
                self.list.len() - 1
            }
        };
        self.peak = self.peak.max(self.list.len() - self.free.len());
        g
    }

    /// Forgets group `g` (returned by a streaming node), its slot free for a new group.
    fn forget(&mut self, g: usize) {
        let (keys, _) = std::mem::take(&mut self.list[g]);
        let mut bytes = std::mem::take(&mut self.scratch);
        bytes.clear();
        key_bytes(&self.keys, &mut bytes, |i, _| keys[i]);
        self.index.remove(&bytes);
        self.scratch = bytes;
        self.last = None;
        self.free.push(g);
        self.bytes -= group_bytes(self.keys.len(), self.kinds.len());
    }

    /// A copy of text datum `d` in the node's memory, detoasted, with a 4-byte header.
    fn copy_text(&mut self, d: pg_sys::Datum) -> pg_sys::Datum {
        // SAFETY: a text datum; the copy is allocated in the node's context and filled.
        unsafe {
            let content = varlena_content(d);
            let size = content.len() + 4;
            self.bytes += size;
            let p = pg_sys::MemoryContextAlloc(self.cxt, size) as *mut u8;
            std::ptr::write_unaligned(p as *mut u32, (size as u32) << 2);
            std::ptr::copy_nonoverlapping(content.as_ptr(), p.add(4), content.len());
            pg_sys::Datum::from(p)
        }
    }

    fn reset(&mut self) {
        self.index.clear();
        self.last = None;
        self.list.clear();
        self.bytes = 0;
        if let Some(by_key) = &mut self.by_key {
            by_key.clear();
        }
        self.null_group = None;
        self.free.clear();
        // SAFETY: the node's own context; nothing points into it once the groups are gone.
        unsafe { pg_sys::MemoryContextReset(self.cxt) };
    }
}

/// Appends the bytes that identify a group by its key datums (`datum(i, key)`, None for NULL)
/// to `bytes`.
fn key_bytes(keys: &[Key], bytes: &mut Vec<u8>, datum: impl Fn(usize, &Key) -> Option<pg_sys::Datum>) {
    for (i, key) in keys.iter().enumerate() {
        let Some(d) = datum(i, key) else {
            bytes.push(0);
            continue;
        };
        bytes.push(1);
        if key.text {
            // SAFETY: a text datum of the key column.
            let mut content = unsafe { varlena_content(d) };
            if key.bpchar {
                while let [rest @ .., b' '] = content {
                    content = rest;
                }
            }
            bytes.extend((content.len() as u32).to_le_bytes());
            bytes.extend(content);
        } else {
            bytes.extend(int_key(key, d).to_le_bytes());
        }
    }
}

/// The integer an integer key's datum holds (as its zone maps store it).
fn int_key(key: &Key, d: pg_sys::Datum) -> i64 {
    match key.len {
        1 => d.value() as i8 as i64,
        2 => d.value() as i16 as i64,
        4 => d.value() as i32 as i64,
        _ => d.value() as i64,
    }
}

/// The segments of `rel` in a streaming node's reading order (delta segments first), and for
/// each the least key (zero-based attribute `key`) of the row groups after it.
fn stream_order(rel: pg_sys::Relation, key: usize) -> (Vec<map::Entry>, Vec<i64>) {
    let mut order: Vec<(map::Entry, i64)> = super::store::segments(rel)
        .into_iter()
        .map(|e| {
            let first = (e.first_row / columnar_core::rownum::ROWS_PER_BLOCK) as u32;
            let folded = super::store::segment_page(rel, first, crate::storage::Lock::Share).filter(|sb| segment::state(sb.content_of(PageKind::Segment)) == segment::State::Folded);
            // A delta segment's keys are known only once read.
            let least = folded.map_or(i64::MIN, |sb| {
                let g = super::group::load(rel, &sb);
                (0..g.group.rows.div_ceil(VECTOR_SIZE as u32) as usize).map(|v| key_min(&g, key, v)).min().unwrap_or(i64::MAX)
            });
            (e, least)
        })
        .collect();
    order.sort_by_key(|&(_, least)| least != i64::MIN);
    let mut later_min = vec![i64::MAX; order.len()];
    for i in (0..order.len().saturating_sub(1)).rev() {
        later_min[i] = later_min[i + 1].min(order[i + 1].1);
    }
    (order.into_iter().map(|(e, _)| e).collect(), later_min)
}

/// The least key (zero-based attribute `key`) vector `v` of group `g` holds, by its zone map:
/// i64::MAX when it holds only NULLs, i64::MIN when unknown (a column added after the group).
fn key_min(g: &super::group::Loaded, key: usize, v: usize) -> i64 {
    if key >= g.stored_columns() {
        return i64::MIN;
    }
    let m = g.vector_meta(key, v);
    match &m.zone {
        Some(columnar_core::rowgroup::Zone::Int { min, .. }) => *min,
        None if m.nulls == m.rows => i64::MAX,
        _ => i64::MIN,
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn next(ss: *mut pg_sys::ScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: called by ExecScan on this node, which has just reset the per-tuple memory the
    // results are made in.
    unsafe {
        let node = ss as *mut pg_sys::CustomScanState;
        let agg = agg_of(node);
        let slot = (*ss).ss_ScanTupleSlot;
        // The slot holds table rows while they are read, and is emptied for the result.
        let g = if agg.stream.is_some() {
            if let Some(g) = agg.stream.as_mut().and_then(|s| s.returned.take()) {
                agg.groups.forget(g);
            }
            loop {
                let s = agg.stream.as_mut().expect("a streaming node");
                if let Some(g) = s.ready.pop_front() {
                    s.returned = Some(g);
                    break g;
                }
                if s.started && s.at == s.order.len() {
                    break usize::MAX;
                }
                agg.read_stream(node);
            }
        } else {
            if !agg.done {
                agg.run(node);
                agg.done = true;
            }
            agg.next_group += 1;
            agg.next_group - 1
        };
        pg_sys::ExecClearTuple(slot);
        let Some((keys, states)) = agg.groups.list.get(g) else { return slot };
        let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, (*(*slot).tts_tupleDescriptor).natts as usize);
        let values = std::slice::from_raw_parts_mut((*slot).tts_values, nulls.len());
        nulls.fill(true);
        for (key, d) in agg.groups.keys.iter().zip(keys) {
            nulls[key.index] = d.is_none();
            values[key.index] = d.unwrap_or(pg_sys::Datum::from(0));
        }
        let old = pg_sys::MemoryContextSwitchTo((*(*ss).ps.ps_ExprContext).ecxt_per_tuple_memory);
        for (j, (state, &kind)) in states.iter().zip(&agg.groups.kinds).enumerate() {
            let (d, isnull) = state.result(kind);
            values[agg.natts + j] = d;
            nulls[agg.natts + j] = isnull;
        }
        pg_sys::MemoryContextSwitchTo(old);
        pg_sys::ExecStoreVirtualTuple(slot)
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn exec(node: *mut pg_sys::CustomScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: ExecScan on this node's ScanState, with the callbacks above.
    unsafe { pg_sys::ExecScan(&mut (*node).ss, Some(next), Some(exec::recheck)) }
}

#[pg_guard]
unsafe extern "C-unwind" fn rescan(node: *mut pg_sys::CustomScanState) {
    // SAFETY: a node whose `begin` ran.
    unsafe {
        let agg = agg_of(node);
        // With no parameter changed the groups are the same (the snapshot is the query's):
        // they are returned again, as a hashed Agg does (a streaming node forgot them).
        if agg.done && agg.stream.is_none() && (*node).ss.ps.chgParam.is_null() {
            agg.next_group = 0;
        } else {
            agg.reset();
        }
        pg_sys::ExecScanReScan(&mut (*node).ss);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn explain(node: *mut pg_sys::CustomScanState, ancestors: *mut pg_sys::List, es: *mut pg_sys::ExplainState) {
    // SAFETY: a node whose `begin` ran, and EXPLAIN's state, whose deparse context names the
    // plan's relations.
    unsafe {
        let agg = agg_of(node);
        let cs = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
        let deparse = exec::deparser(node, ancestors, es);
        let tlist = list_pointers::<pg_sys::TargetEntry>((*cs).custom_scan_tlist);
        let keys: Vec<String> = agg.groups.keys.iter().map(|k| deparse((*tlist[k.index]).expr.cast())).collect();
        let aggs: Vec<String> = tlist[agg.natts..].iter().map(|&t| deparse((*t).expr.cast())).collect();
        let desc = (*(*node).ss.ss_currentRelation).rd_att;
        let names: Vec<String> = agg
            .attrs
            .iter()
            .map(|&i| std::ffi::CStr::from_ptr(crate::compat::attr(desc, i).attname.data.as_ptr()).to_string_lossy().into_owned())
            .collect();
        let text = |label: &std::ffi::CStr, s: String| {
            let s = std::ffi::CString::new(s).expect("deparsed text has no NUL");
            pg_sys::ExplainPropertyText(label.as_ptr(), s.as_ptr(), es);
        };
        if !keys.is_empty() {
            text(c"Group Key", keys.join(", "));
        }
        if agg.stream.is_some() {
            text(c"Grouping", "in key order, groups returned as the scan passes them".into());
        }
        text(c"Aggregates", if aggs.is_empty() { "none".into() } else { aggs.join(", ") });
        let computed: Vec<&str> = agg.args.iter().zip(&aggs).filter(|(a, _)| matches!(a, Arg::Calc { .. })).map(|(_, s)| s.as_str()).collect();
        if !computed.is_empty() {
            text(c"Arithmetic From Vectors", computed.join(", "));
        }
        let clauses = |nodes: &[*mut pg_sys::Node]| deparse(pg_sys::make_ands_explicit(list_of(nodes)).cast());
        if !agg.vec_nodes.is_empty() {
            text(c"Vectorized Filter", clauses(&agg.vec_nodes));
        }
        if !agg.rest_nodes.is_empty() {
            text(c"Scan Filter", clauses(&agg.rest_nodes));
        }
        text(c"Columns Read", if names.is_empty() { "none".into() } else { names.join(", ") });
        if (*es).analyze {
            let c: Counts = agg.reader.counts;
            pg_sys::ExplainPropertyInteger(c"Rows Aggregated".as_ptr(), std::ptr::null(), agg.rows as i64, es);
            if agg.stream.is_some() {
                pg_sys::ExplainPropertyInteger(c"Peak Groups Held".as_ptr(), std::ptr::null(), agg.groups.peak as i64, es);
            }
            pg_sys::ExplainPropertyInteger(c"Rows From Row Groups".as_ptr(), std::ptr::null(), c.group_rows as i64, es);
            pg_sys::ExplainPropertyInteger(c"Rows From Delta Pages".as_ptr(), std::ptr::null(), c.delta_rows as i64, es);
            pg_sys::ExplainPropertyInteger(c"Vectors Read".as_ptr(), std::ptr::null(), c.vectors as i64, es);
            pg_sys::ExplainPropertyInteger(c"Vectors Skipped By Zone Maps".as_ptr(), std::ptr::null(), c.skipped_vectors as i64, es);
        }
    }
}
