//! Join key filters: the integer keys a hash join's inner side holds, collected as its Hash
//! node reads them, tested by a columnar scan on the join's outer side against each row group
//! row's key before the row is formed (a Bloom filter, `columnar_core::join_filter`: it may let
//! a row without a match through, never drops one with a match).
//!
//! The executor-start hook (`scan_setup.rs`) links each hash join whose outer side is the
//! columnar scan node: an inner, semi or right join, or on PostgreSQL 18 a right semi or right
//! anti join (an outer row without a match yields nothing and decides nothing), not a
//! parallel-aware Hash (each process's Hash reads part of the inner rows), with
//! a hash clause between a column of the scanned table and a column of the inner rows, both
//! integers (int2, int4, int8) or both dates, by an integer or date equality. It puts a
//! collector in front of the Hash node's input (its `ExecProcNodeReal`) that adds each row's
//! key to a fresh filter at every read of the input; the filter is ready once a read has
//! reached its end. The scan uses it only when it is ready and no rescan of the scan came
//! after: at a rescan the join may keep its hash table, read before, or read its inner side
//! again after the scan's first rows, so the scan stops filtering until the next full read.

use super::plan::list_pointers;
use super::vecqual::{DATE, INT2, INT4, INT8, unrelabeled};
use columnar_core::join_filter::KeyFilter;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::cell::RefCell;
use std::rc::Rc;

/// `omendb.enable_columnar_join_filter`: whether hash joins over the columnar scan node get a
/// join key filter. Read at executor start.
pub static ENABLE: GucSetting<bool> = GucSetting::<bool>::new(true);


pub fn init() {
    GucRegistry::define_bool_guc(
        c"omendb.enable_columnar_join_filter",
        c"Lets a hash join pass the keys of its inner side to a columnar scan on its outer side.",
        c"The scan then forms no row whose integer or date join key the inner side does not hold.",
        &ENABLE,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// The keys read from one Hash node's input.
pub struct Collector {
    /// The key's attribute number in the input rows and its type.
    attno: i32,
    key_type: u32,
    /// Rows the planner expects the input to have (the filter's size).
    expected: usize,
    filter: Option<KeyFilter>,
    reading: bool,
    ready: bool,
}

impl Collector {
    /// Takes one row returned by the input (an empty slot at its end).
    ///
    /// # Safety
    /// `slot` is null or a valid slot whose descriptor has the key attribute.
    unsafe fn take(&mut self, slot: *mut pg_sys::TupleTableSlot) {
        if !self.reading {
            self.reading = true;
            self.ready = false;
            self.filter = Some(KeyFilter::with_capacity(self.expected));
        }
        // SAFETY: per the contract.
        unsafe {
            if slot.is_null() || (*slot).tts_flags as u32 & pg_sys::TTS_FLAG_EMPTY != 0 {
                self.reading = false;
                self.ready = self.filter.as_ref().is_some_and(KeyFilter::is_selective);
                return;
            }
            if ((*slot).tts_nvalid as i32) < self.attno {
                pg_sys::slot_getsomeattrs(slot, self.attno);
            }
            let i = self.attno as usize - 1;
            if *(*slot).tts_isnull.add(i) {
                return;
            }
            let d = (*(*slot).tts_values.add(i)).value();
            let key = match self.key_type {
                INT2 => d as i16 as i64,
                INT8 => d as i64,
                _ => d as i32 as i64,
            };
            self.filter.as_mut().expect("made at the read's first row").insert(key);
        }
    }

    /// The filter of the last complete read, unless the scan was rescanned since.
    pub fn ready(&self) -> Option<&KeyFilter> {
        self.filter.as_ref().filter(|_| self.ready)
    }

    /// A rescan of the outer scan: the join may keep what the filter was made from or not.
    pub fn forget(&mut self) {
        self.ready = false;
    }
}

/// What a scan node holds of a join key filter: the collector, and its key column (the
/// reader's attribute `k`, named `column`).
pub struct Link {
    pub collector: Rc<RefCell<Collector>>,
    pub k: usize,
    pub column: String,
}

/// A node whose input function the collector stands in front of.
struct Wrapped {
    node: usize,
    query: usize,
    real: pg_sys::ExecProcNodeMtd,
    collector: Rc<RefCell<Collector>>,
}

thread_local! {
    static WRAPPED: RefCell<Vec<Wrapped>> = const { RefCell::new(Vec::new()) };
}

/// Forgets the nodes of query `query`, whose memory goes.
pub fn forget_query(query: usize) {
    WRAPPED.with(|w| w.borrow_mut().retain(|x| x.query != query));
}

/// The input function of a wrapped node: the node's own, then the collector.
#[pg_guard]
unsafe extern "C-unwind" fn collect(node: *mut pg_sys::PlanState) -> *mut pg_sys::TupleTableSlot {
    let (real, collector) = WRAPPED.with(|w| {
        let w = w.borrow();
        let x = w.iter().find(|x| x.node == node as usize).expect("a wrapped node is registered until its query's memory goes");
        (x.real.expect("a node has an input function"), x.collector.clone())
    });
    // SAFETY: the node's own function, called as the executor would have; the slot it returns
    // is the node's, valid until its next call.
    unsafe {
        let slot = real(node);
        collector.borrow_mut().take(slot);
        slot
    }
}

/// A Var under binary-compatible relabelling, if `node` is one.
///
/// # Safety
/// A valid expression.
unsafe fn var_of(node: *mut pg_sys::Node) -> Option<*mut pg_sys::Var> {
    // SAFETY: per the contract.
    unsafe {
        let node = unrelabeled(node);
        (!node.is_null() && (*node).type_ == pg_sys::NodeTag::T_Var).then_some(node as *mut pg_sys::Var)
    }
}

/// Whether `opno` is an equality of integers or of dates.
///
/// # Safety
/// Catalog lookups by OID.
unsafe fn is_integer_equality(opno: pg_sys::Oid) -> bool {
    // SAFETY: per the contract.
    unsafe {
        let f = pg_sys::get_opcode(opno);
        if f == pg_sys::InvalidOid || pg_sys::get_func_namespace(f) != pg_sys::Oid::from(11) {
            return false;
        }
        let name = std::ffi::CStr::from_ptr(pg_sys::get_func_name(f)).to_bytes();
        matches!(name, b"int2eq" | b"int4eq" | b"int8eq" | b"int24eq" | b"int42eq" | b"int28eq" | b"int82eq" | b"int48eq" | b"int84eq" | b"date_eq")
    }
}

/// Links hash join `ps` to the columnar scan on its outer side, if it qualifies (see the
/// module's comment); `query` gives the query's number, for forgetting its nodes.
///
/// # Safety
/// An initialised node of a plan state tree that has not run.
pub unsafe fn link(ps: *mut pg_sys::PlanState, query: impl FnOnce() -> usize) {
    // SAFETY: per the contract; the plan nodes are those the states were made from.
    unsafe {
        if (*ps).type_ != pg_sys::NodeTag::T_HashJoinState || !ENABLE.get() {
            return;
        }
        let plan = (*ps).plan as *mut pg_sys::HashJoin;
        // Joins where an outer row without a match yields nothing and changes nothing: a right
        // semi or anti join (PostgreSQL 18) returns inner rows by whether some outer row matches.
        use pg_sys::JoinType::*;
        #[cfg(feature = "pg18")]
        let filtered = [JOIN_INNER, JOIN_SEMI, JOIN_RIGHT, JOIN_RIGHT_SEMI, JOIN_RIGHT_ANTI];
        #[cfg(not(feature = "pg18"))]
        let filtered = [JOIN_INNER, JOIN_SEMI, JOIN_RIGHT];
        if !filtered.contains(&(*plan).join.jointype) {
            return;
        }
        let (outer, hash) = ((*ps).lefttree, (*ps).righttree);
        if outer.is_null() || hash.is_null() || !super::exec::is_scan(outer) || (*(*hash).plan).parallel_aware || (*hash).lefttree.is_null() {
            return;
        }
        let input = (*hash).lefttree;
        let outer_plan = (*outer).plan as *mut pg_sys::Scan;
        let outer_tlist = list_pointers::<pg_sys::TargetEntry>((*outer_plan).plan.targetlist);
        let outer_keys = list_pointers::<pg_sys::Node>((*plan).hashkeys);
        let inner_keys = list_pointers::<pg_sys::Node>((*((*hash).plan as *mut pg_sys::Hash)).hashkeys);
        let ops = (*plan).hashoperators;
        let types = [INT2, INT4, INT8];
        for (i, (&o, &n)) in outer_keys.iter().zip(&inner_keys).enumerate() {
            let (Some(o), Some(n)) = (var_of(o), var_of(n)) else { continue };
            if (*o).varno != pg_sys::OUTER_VAR || (*n).varno != pg_sys::OUTER_VAR || (*o).varattno < 1 || (*o).varattno as usize > outer_tlist.len() {
                continue;
            }
            // The outer key is a column the scan reads, returned as is.
            let Some(column) = var_of((*outer_tlist[(*o).varattno as usize - 1]).expr.cast()) else { continue };
            if (*column).varno as u32 != (*outer_plan).scanrelid || (*column).varattno < 1 || (*n).varattno < 1 {
                continue;
            }
            let (outer_type, inner_type) = (u32::from((*column).vartype), u32::from((*n).vartype));
            let comparable = (types.contains(&outer_type) && types.contains(&inner_type)) || (outer_type == DATE && inner_type == DATE);
            if !comparable || !is_integer_equality((*(*ops).elements.add(i)).oid_value) {
                continue;
            }
            let Some((k, name)) = super::exec::scan_column(outer, (*column).varattno as usize - 1) else { continue };
            let expected = (*(*input).plan).plan_rows.clamp(0.0, 1e9) as usize;
            let collector = Rc::new(RefCell::new(Collector { attno: (*n).varattno as i32, key_type: inner_type, expected, filter: None, reading: false, ready: false }));
            let query = query();
            WRAPPED.with(|w| w.borrow_mut().push(Wrapped { node: input as usize, query, real: (*input).ExecProcNodeReal, collector: collector.clone() }));
            (*input).ExecProcNodeReal = Some(collect);
            super::exec::set_join_filter(outer, Link { collector, k, column: name });
            return;
        }
    }
}
