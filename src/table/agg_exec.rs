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
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::HashMap;

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
        let exprs = list_pointers::<pg_sys::Node>((*plan).custom_exprs);
        let tlist = list_pointers::<pg_sys::TargetEntry>((*plan).custom_scan_tlist);
        let aggrefs: Vec<*mut pg_sys::Aggref> = tlist[natts..].iter().map(|&t| (*t).expr.cast()).collect();
        let kinds: Vec<Kind> = aggrefs.iter().map(|&a| Kind::of(a).expect("the planner checked the aggregate")).collect();

        let mut attnos: Vec<i32> = referenced(&exprs, pg_sys::INDEX_VAR as u32);
        attnos.extend(private[1..].iter());
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
        let keys = private[1..]
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
        let groups = Groups { keys, kinds, index: HashMap::default(), list: Vec::new(), cxt, scratch: Vec::new(), last: None, bytes: 0 };
        let agg = Aggregate { reader, natts, quals, vec_quals, rest_quals, vec_nodes, rest_nodes, args, groups, done: false, next_group: 0, rows: 0, attrs };
        exec::set_own(node, estate, agg);
    }
}

impl Aggregate {
    /// Reads the whole table into the groups.
    unsafe fn run(&mut self, node: *mut pg_sys::CustomScanState) {
        // SAFETY: the node's relation, slot and expression context, valid while it runs.
        unsafe {
            let rel = (*node).ss.ss_currentRelation;
            let slot = (*node).ss.ss_ScanTupleSlot;
            let econtext = (*node).ss.ps.ps_ExprContext;
            if self.groups.keys.is_empty() {
                self.groups.new_group(&[]);
            }
            // Rows go from vectors straight into the states when nothing but vector clauses
            // decides which rows count and PostgreSQL evaluates no argument.
            let by_vector = self.rest_quals.is_null() && self.args.iter().all(|a| !matches!(a, Arg::Expr(_)));
            // Detoasted copies of values are made in the per-tuple memory, reset as rows go.
            let per_tuple = (*econtext).ecxt_per_tuple_memory;
            let old = pg_sys::MemoryContextSwitchTo(per_tuple);
            for e in super::store::segments(rel) {
                for slice in 0..batch::SLICES {
                    self.reader.load(&e, slice);
                    if self.reader.is_empty() {
                        continue;
                    }
                    let verdicts = match self.reader.group_view() {
                        Some(view) if !self.vec_quals.is_empty() => Some(vecqual::verdicts(&self.vec_quals, &view)),
                        _ => None,
                    };
                    let judged = verdicts.as_ref().is_none_or(|v| !v.contains(&Verdict::Unknown));
                    if by_vector && judged && self.add_vectors(verdicts.as_deref(), slot, econtext) {
                        pg_sys::MemoryContextReset(per_tuple);
                        continue;
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
                }
            }
            pg_sys::MemoryContextSwitchTo(old);
            pg_sys::MemoryContextReset(per_tuple);
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
        for key in &self.keys {
            let Some(d) = datum(key) else {
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
                let v = match key.len {
                    1 => d.value() as i8 as i64,
                    2 => d.value() as i16 as i64,
                    4 => d.value() as i32 as i64,
                    _ => d.value() as i64,
                };
                bytes.extend(v.to_le_bytes());
            }
        }
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
        self.list.push((keys.to_vec(), self.kinds.iter().map(|k| k.state()).collect()));
        self.list.len() - 1
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
        // SAFETY: the node's own context; nothing points into it once the groups are gone.
        unsafe { pg_sys::MemoryContextReset(self.cxt) };
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn next(ss: *mut pg_sys::ScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: called by ExecScan on this node, which has just reset the per-tuple memory the
    // results are made in.
    unsafe {
        let node = ss as *mut pg_sys::CustomScanState;
        let agg = agg_of(node);
        if !agg.done {
            agg.run(node);
            agg.done = true;
        }
        let slot = (*ss).ss_ScanTupleSlot;
        pg_sys::ExecClearTuple(slot);
        let Some((keys, states)) = agg.groups.list.get(agg.next_group) else { return slot };
        agg.next_group += 1;
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
        // they are returned again, as a hashed Agg does.
        if agg.done && (*node).ss.ps.chgParam.is_null() {
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
            pg_sys::ExplainPropertyInteger(c"Rows From Row Groups".as_ptr(), std::ptr::null(), c.group_rows as i64, es);
            pg_sys::ExplainPropertyInteger(c"Rows From Delta Pages".as_ptr(), std::ptr::null(), c.delta_rows as i64, es);
            pg_sys::ExplainPropertyInteger(c"Vectors Read".as_ptr(), std::ptr::null(), c.vectors as i64, es);
            pg_sys::ExplainPropertyInteger(c"Vectors Skipped By Zone Maps".as_ptr(), std::ptr::null(), c.skipped_vectors as i64, es);
        }
    }
}
