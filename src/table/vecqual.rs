//! WHERE clauses evaluated over a row group's column vectors, before any row is stored in a
//! slot: a comparison of a column with a constant by a btree operator of the column type's
//! default family (integers with each other, dates, timestamps and timestamptz with their own
//! type, a date with a timestamp either way round, numerics), `= ANY` of a constant array of
//! such integers (IN lists), the same comparisons of two such columns of one type (`l_commitdate
//! < l_receiptdate`), equality of text, varchar or character(n) with a constant or a constant
//! array under a deterministic collation (by bytes), and IS [NOT] NULL on any column. The same
//! clauses, also with the statement's parameters in place of constants (read at the executor's
//! start), are tested against zone maps.
//! Every other clause, and each clause whose answer the vectors cannot give exactly (a numeric
//! beyond 128 bits), is left to PostgreSQL. Aggregate arguments that are numeric arithmetic
//! (`+`, `-`, `*` over numeric columns and constants) are computed from the vectors too.

use super::agg_state::varlena_content;
use super::batch::GroupView;
use super::group::Decoded;
use columnar_core::encode::{VECTOR_SIZE, validity};
use columnar_core::aggregate::Calc;
use columnar_core::numeric::{Numeric, parse_numeric};
use columnar_core::compare::{self, Op};
use columnar_core::rowgroup::{VectorMeta, Zone};
use pgrx::pg_sys;

/// Type OIDs the vector clauses, the aggregate node and the join key filters know.
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const INT8: u32 = 20;
pub const DATE: u32 = 1082;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;
pub const NUMERIC: u32 = 1700;
pub const TEXT: u32 = 25;
pub const BPCHAR: u32 = 1042;
pub const VARCHAR: u32 = 1043;

/// `node` without binary-compatible relabelling (a varchar column compared as text, a
/// parameter of a domain type).
///
/// # Safety
/// A valid expression.
pub unsafe fn unrelabeled(mut node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    // SAFETY: per the contract.
    unsafe {
        while !node.is_null() && (*node).type_ == pg_sys::NodeTag::T_RelabelType {
            node = (*(node as *mut pg_sys::RelabelType)).arg.cast();
        }
    }
    node
}

/// How a stored value is compared with the constant.
#[derive(Clone, Debug)]
enum Test {
    /// An integer-stored value (a date as a timestamp when `date_vs_timestamp`) against an
    /// integer.
    Int { op: Op, constant: i128, date_vs_timestamp: bool },
    /// `= ANY` of a list of integers (sorted, without NULLs), compared as `Int` is.
    InList { values: Vec<i128>, date_vs_timestamp: bool },
    Numeric { op: Op, constant: Numeric },
    /// Equality with one of `values` (sorted; without trailing spaces when `bpchar`).
    Text { values: Vec<Vec<u8>>, bpchar: bool },
    /// An integer-stored value against the reader's attribute `other` of the same type.
    Columns { op: Op, other: usize },
    IsNull(bool),
}

/// A clause over the reader's `k`th attribute.
#[derive(Clone, Debug)]
pub struct VecQual {
    pub k: usize,
    test: Test,
}

/// A row's verdict.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    Pass,
    Fail,
    /// PostgreSQL must evaluate the clauses on this row.
    Unknown,
}

/// The clause `node` as a vector clause, over the attribute `k_of(attribute index)` names: a
/// comparison of a column with a constant, `column = ANY (constant array)` (IN lists), or IS
/// [NOT] NULL.
///
/// # Safety
/// `node` is a valid expression whose Vars are the node's scan tuple's (at attribute numbers).
pub unsafe fn compile(node: *mut pg_sys::Node, k_of: impl Fn(usize) -> usize) -> Option<VecQual> {
    // SAFETY: per the contract.
    unsafe { compile_with(node, k_of, None) }
}

/// As [`compile`], with the operand that is not the column also taken when it is a parameter of
/// the statement (fixed for the whole query), read now in `parent`'s expression context. For
/// zone maps, which the executor tests before PostgreSQL evaluates the clause itself.
///
/// # Safety
/// As for `compile`; `parent` is the plan state the clause belongs to, initialised.
pub unsafe fn compile_bound(node: *mut pg_sys::Node, k_of: impl Fn(usize) -> usize, parent: *mut pg_sys::PlanState) -> Option<VecQual> {
    // SAFETY: per the contract.
    unsafe { compile_with(node, k_of, Some(parent)) }
}

/// A node's WHERE clauses, split into those evaluated over column vectors and the others.
pub struct Split {
    pub vec_quals: Vec<VecQual>,
    /// The clauses of `vec_quals`, in order, and the others (for EXPLAIN and PostgreSQL).
    pub vec_nodes: Vec<*mut pg_sys::Node>,
    pub rest_nodes: Vec<*mut pg_sys::Node>,
}

/// The clauses of `quals` (a List, implicitly ANDed) split as [`compile`] takes them: none over
/// vectors when `omendb.enable_columnar_vectorization` is off.
///
/// # Safety
/// As for `compile`, for each clause.
pub unsafe fn split(quals: *mut pg_sys::List, k_of: impl Fn(usize) -> usize + Copy) -> Split {
    let mut s = Split { vec_quals: Vec::new(), vec_nodes: Vec::new(), rest_nodes: Vec::new() };
    let vectorize = super::plan::VECTORIZE.get();
    // SAFETY: per the contract.
    for q in unsafe { super::plan::list_pointers::<pg_sys::Node>(quals) } {
        match vectorize.then(|| unsafe { compile(q, k_of) }).flatten() {
            Some(v) => {
                s.vec_quals.push(v);
                s.vec_nodes.push(q);
            }
            None => s.rest_nodes.push(q),
        }
    }
    s
}

/// What the clauses of a base relation cost a node that evaluates those it can over vectors.
pub struct Costs {
    /// Whether any clause is evaluated over vectors, and their cost per row read.
    pub vectorized: bool,
    pub per_row_read: f64,
    /// The share of rows those pass, and the other clauses, which PostgreSQL evaluates on them
    /// (text equality, judged over vectors row by row, is costed among them).
    pub selectivity: f64,
    pub rest: pg_sys::QualCost,
    /// Whether every clause is judged over vectors.
    pub all_vectorized: bool,
}

/// The [`Costs`] of clauses `quals` of base relation `rti`.
///
/// # Safety
/// The planner's structures; `quals` are clauses of relation `rti` at attribute numbers.
pub unsafe fn costs(root: *mut pg_sys::PlannerInfo, quals: &[*mut pg_sys::Node], rti: pg_sys::Index) -> Costs {
    // SAFETY: per the contract; the lists are made in the planner's memory context.
    unsafe {
        let vectorize = super::plan::VECTORIZE.get();
        let (mut vector, mut rest, mut all_vectorized) = (Vec::new(), Vec::new(), true);
        for &q in quals {
            match vectorize.then(|| compile(q, |i| i)).flatten() {
                Some(v) if !matches!(v.test, Test::Text { .. }) => vector.push(q),
                compiled => {
                    all_vectorized &= compiled.is_some();
                    rest.push(q);
                }
            }
        }
        let mut rest_cost = pg_sys::QualCost::default();
        pg_sys::cost_qual_eval(&mut rest_cost, super::plan::list_of(&rest), root);
        Costs {
            vectorized: !vector.is_empty(),
            per_row_read: vector.len() as f64 * pg_sys::cpu_operator_cost * super::plan::CPU_VECTOR_QUAL_SHARE,
            selectivity: pg_sys::clauselist_selectivity(root, super::plan::list_of(&vector), rti as i32, pg_sys::JoinType::JOIN_INNER, std::ptr::null_mut()),
            rest: rest_cost,
            all_vectorized,
        }
    }
}

/// The value of `operand` if it is a constant, or (with `parent`) a parameter of the statement:
/// (datum, type, is NULL). A by-reference datum lives in the expression
/// context's per-tuple memory: the caller reads it at once.
///
/// # Safety
/// As for `compile_bound`.
unsafe fn constant_of(operand: *mut pg_sys::Node, parent: Option<*mut pg_sys::PlanState>) -> Option<(pg_sys::Datum, u32, bool)> {
    // SAFETY: per the contract; the expression is initialised and evaluated in `parent`'s
    // context, as the executor would evaluate it.
    unsafe {
        if (*operand).type_ == pg_sys::NodeTag::T_Const {
            let c = operand as *mut pg_sys::Const;
            return Some(((*c).constvalue, u32::from((*c).consttype), (*c).constisnull));
        }
        let parent = parent?;
        // A parameter of the statement (a generic plan's `$1`, a PL/pgSQL variable), maybe
        // relabelled to a binary-compatible type: its value is fixed for the query, and reading
        // it cannot fail. Anything computed may raise an error that PostgreSQL, which evaluates
        // a clause only on rows that reach it, would never raise; an executor parameter may
        // change at a rescan.
        let inner = unrelabeled(operand);
        if (*inner).type_ != pg_sys::NodeTag::T_Param || (*(inner as *mut pg_sys::Param)).paramkind != pg_sys::ParamKind::PARAM_EXTERN {
            return None;
        }
        let econtext = (*parent).ps_ExprContext;
        if econtext.is_null() {
            return None;
        }
        let state = pg_sys::ExecInitExpr(operand.cast(), parent);
        let mut isnull = false;
        let value = pg_sys::ExecEvalExprSwitchContext(state, econtext, &mut isnull);
        Some((value, u32::from(pg_sys::exprType(operand)), isnull))
    }
}

/// An integer-stored column of `column_type` compared with `value` of `const_type`: the
/// constant as the column's stored integers compare with it, and whether each stored value is a
/// date to compare as a timestamp. None for other types.
fn int_constant(column_type: u32, const_type: u32, value: pg_sys::Datum) -> Option<(i128, bool)> {
    let ints = [INT2, INT4, INT8];
    Some(match (column_type, const_type) {
        (x, y) if ints.contains(&x) && ints.contains(&y) => match y {
            INT2 => (value.value() as i16 as i128, false),
            INT4 => (value.value() as i32 as i128, false),
            _ => (value.value() as i64 as i128, false),
        },
        (DATE, DATE) => (value.value() as i32 as i128, false),
        (TIMESTAMP, TIMESTAMP) | (TIMESTAMPTZ, TIMESTAMPTZ) => (value.value() as i64 as i128, false),
        (DATE, TIMESTAMP) => (value.value() as i64 as i128, true),
        (TIMESTAMP, DATE) => (compare::date_as_timestamp(value.value() as i32 as i64), false),
        _ => return None,
    })
}

/// For a text-like column of `column_type` compared with a value of `value_type` under
/// collation `collation`: Some(whether it is character(n)) when equality is equality of bytes
/// (a deterministic collation), None otherwise.
///
/// # Safety
/// Catalog lookups by OID.
unsafe fn text_kind(column_type: u32, value_type: u32, collation: pg_sys::Oid) -> Option<bool> {
    let texts = [TEXT, VARCHAR, BPCHAR];
    // SAFETY: per the contract.
    let deterministic = collation != pg_sys::InvalidOid && unsafe { pg_sys::get_collation_isdeterministic(collation) };
    (texts.contains(&column_type) && texts.contains(&value_type) && deterministic).then_some(column_type == BPCHAR)
}

/// A text constant's bytes as the vectors' values are compared with them.
///
/// # Safety
/// `value` is a varlena datum, possibly toasted.
unsafe fn text_value(value: pg_sys::Datum, bpchar: bool) -> Vec<u8> {
    // SAFETY: per the contract.
    let bytes = unsafe { varlena_content(value) };
    if bpchar { compare::bpchar_trimmed(bytes).to_vec() } else { bytes.to_vec() }
}

/// # Safety
/// As for `compile_bound` (`parent` None: constants only).
unsafe fn compile_with(node: *mut pg_sys::Node, k_of: impl Fn(usize) -> usize, parent: Option<*mut pg_sys::PlanState>) -> Option<VecQual> {
    // SAFETY: per the contract; catalog lookups by OID.
    unsafe {
        let var_index = |n: *mut pg_sys::Node| -> Option<(usize, u32)> {
            // A varchar column compared as text is relabelled; the Var's own type decides.
            let n = unrelabeled(n);
            let v = n as *mut pg_sys::Var;
            ((*n).type_ == pg_sys::NodeTag::T_Var && (*v).varlevelsup == 0 && (*v).varattno > 0).then(|| ((*v).varattno as usize - 1, u32::from((*v).vartype)))
        };
        // The btree strategy of `opno` in the default family of the column's type.
        let op_of = |opno: pg_sys::Oid, column_type: u32| {
            let family = pg_sys::get_opclass_family(pg_sys::GetDefaultOpClass(column_type.into(), pg_sys::BTREE_AM_OID));
            Op::from_strategy(pg_sys::get_op_opfamily_strategy(opno, family))
        };
        match (*node).type_ {
            pg_sys::NodeTag::T_NullTest => {
                let t = node as *mut pg_sys::NullTest;
                let (index, _) = var_index((*t).arg.cast()).filter(|_| !(*t).argisrow)?;
                Some(VecQual { k: k_of(index), test: Test::IsNull((*t).nulltesttype == pg_sys::NullTestType::IS_NULL) })
            }
            pg_sys::NodeTag::T_OpExpr => {
                let e = node as *mut pg_sys::OpExpr;
                let args = super::plan::list_pointers::<pg_sys::Node>((*e).args);
                let [a, b] = args[..] else { return None };
                let (var, operand, commuted) = match (var_index(a), var_index(b)) {
                    (Some(v), None) => (v, b, false),
                    (None, Some(v)) => (v, a, true),
                    (Some((index, left)), Some((other, right))) => {
                        let int_stored = |t| [INT2, INT4, INT8].contains(&t);
                        let same_kind = (int_stored(left) && int_stored(right)) || (left == right && [DATE, TIMESTAMP, TIMESTAMPTZ].contains(&left));
                        let op = op_of((*e).opno, left).filter(|_| same_kind && index != other)?;
                        return Some(VecQual { k: k_of(index), test: Test::Columns { op, other: k_of(other) } });
                    }
                    _ => return None,
                };
                let (index, column_type) = var;
                let mut op = op_of((*e).opno, column_type)?;
                if commuted {
                    op = op.commuted();
                }
                let (value, const_type, isnull) = constant_of(operand, parent)?;
                if isnull {
                    return None;
                }
                if let Some(bpchar) = text_kind(column_type, const_type, (*e).inputcollid) {
                    let values = vec![text_value(value, bpchar)];
                    return matches!(op, Op::Eq).then(|| VecQual { k: k_of(index), test: Test::Text { values, bpchar } });
                }
                let test = match (column_type, const_type) {
                    (NUMERIC, NUMERIC) => match parse_numeric(varlena_content(value)) {
                        Some(n) if n != Numeric::TooBig => Test::Numeric { op, constant: n },
                        _ => return None,
                    },
                    _ => {
                        let (constant, date_vs_timestamp) = int_constant(column_type, const_type, value)?;
                        Test::Int { op, constant, date_vs_timestamp }
                    }
                };
                Some(VecQual { k: k_of(index), test })
            }
            pg_sys::NodeTag::T_ScalarArrayOpExpr => {
                let e = node as *mut pg_sys::ScalarArrayOpExpr;
                let args = super::plan::list_pointers::<pg_sys::Node>((*e).args);
                let [a, b] = args[..] else { return None };
                let (index, column_type) = var_index(a)?;
                if !(*e).useOr || !matches!(op_of((*e).opno, column_type)?, Op::Eq) {
                    return None;
                }
                let (array, array_type, isnull) = constant_of(b, parent)?;
                if isnull {
                    return None;
                }
                let elem_type = pg_sys::get_element_type(array_type.into());
                let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
                pg_sys::get_typlenbyvalalign(elem_type, &mut len, &mut byval, &mut align);
                let (mut elems, mut nulls, mut n) = (std::ptr::null_mut(), std::ptr::null_mut(), 0);
                let arr = pg_sys::pg_detoast_datum(array.cast_mut_ptr()) as *mut pg_sys::ArrayType;
                pg_sys::deconstruct_array(arr, elem_type, len as i32, byval, align, &mut elems, &mut nulls, &mut n);
                if let Some(bpchar) = text_kind(column_type, u32::from(elem_type), (*e).inputcollid) {
                    let mut values: Vec<Vec<u8>> = (0..n as usize).filter(|&i| !*nulls.add(i)).map(|i| text_value(*elems.add(i), bpchar)).collect();
                    values.sort_unstable();
                    values.dedup();
                    return Some(VecQual { k: k_of(index), test: Test::Text { values, bpchar } });
                }
                let mut values = Vec::with_capacity(n as usize);
                let mut date_vs_timestamp = false;
                for i in 0..n as usize {
                    // A NULL element never equals: in a WHERE clause, `x IN (.., NULL)` holds for
                    // the other elements only.
                    if *nulls.add(i) {
                        continue;
                    }
                    let (v, d) = int_constant(column_type, u32::from(elem_type), *elems.add(i))?;
                    values.push(v);
                    date_vs_timestamp = d;
                }
                values.sort_unstable();
                values.dedup();
                Some(VecQual { k: k_of(index), test: Test::InList { values, date_vs_timestamp } })
            }
            _ => None,
        }
    }
}

impl VecQual {
    /// Whether no row of a vector can pass the clause, by the vector's directory entry: its
    /// zone map (min and max of its non-NULL values) and NULL count. A comparison never holds
    /// for NULL.
    pub fn refutes(&self, vector: &VectorMeta) -> bool {
        let all_null = vector.nulls == vector.rows;
        let bounds = |date_vs_timestamp: bool| match &vector.zone {
            Some(Zone::Int { min, max }) if date_vs_timestamp => Some((compare::date_as_timestamp(*min), compare::date_as_timestamp(*max))),
            Some(Zone::Int { min, max }) => Some((*min as i128, *max as i128)),
            _ => None,
        };
        match &self.test {
            Test::IsNull(true) => vector.nulls == 0,
            Test::IsNull(false) => all_null,
            Test::Int { op, constant, date_vs_timestamp } => all_null || bounds(*date_vs_timestamp).is_some_and(|(min, max)| op.refuted_by_zone(min, max, *constant)),
            Test::InList { values, date_vs_timestamp } => {
                all_null || bounds(*date_vs_timestamp).is_some_and(|(min, max)| values.iter().all(|&v| Op::Eq.refuted_by_zone(min, max, v)))
            }
            // A numeric's zone bounds its datum's bytes, which do not order as its values; a
            // text zone is not read here.
            Test::Numeric { .. } | Test::Text { .. } | Test::Columns { .. } => all_null,
        }
    }

    /// The clause's verdict on the row at group position `position`.
    fn verdict(&self, view: &GroupView<'_>, position: u32) -> Verdict {
        let stored_at = |k: usize, date_vs_timestamp: bool| {
            view.datum(k, position).map(|d| if date_vs_timestamp { compare::date_as_timestamp(d.value() as i32 as i64) } else { d.value() as i64 as i128 })
        };
        let stored = |date_vs_timestamp: bool| stored_at(self.k, date_vs_timestamp);
        let holds = match &self.test {
            Test::IsNull(is_null) => view.is_null(self.k, position) == *is_null,
            Test::Int { op, constant, date_vs_timestamp } => stored(*date_vs_timestamp).is_some_and(|v| op.holds(v.cmp(constant))),
            Test::InList { values, date_vs_timestamp } => stored(*date_vs_timestamp).is_some_and(|v| values.binary_search(&v).is_ok()),
            Test::Numeric { op, constant } => match view.numeric(self.k, position) {
                None => false,
                Some(n) => match compare::numeric_cmp(n, *constant) {
                    Some(o) => op.holds(o),
                    None => return Verdict::Unknown,
                },
            },
            Test::Columns { op, other } => match (stored(false), stored_at(*other, false)) {
                (Some(a), Some(b)) => op.holds(a.cmp(&b)),
                _ => false,
            },
            // A column added after the group was written (its default) is PostgreSQL's to judge.
            Test::Text { values, bpchar } => match view.vector(self.k, position) {
                Some(Decoded::Bytes(v)) => match v.value(position as usize % VECTOR_SIZE) {
                    None => false,
                    Some(datum) => match compare::text_in(datum, values, *bpchar) {
                        Some(holds) => holds,
                        None => return Verdict::Unknown,
                    },
                },
                _ => return Verdict::Unknown,
            },
        };
        if holds { Verdict::Pass } else { Verdict::Fail }
    }

    /// Keeps in `live` (indexes into `rows`, rows of one group vector of `view`) the rows the
    /// clause passes, in one loop over the vector's values; false, with `live` unchanged, when
    /// the vector has no such loop.
    fn judge_run(&self, view: &GroupView<'_>, rows: &[(u32, pg_sys::ItemPointerData)], live: &mut Vec<u32>) -> bool {
        let vector = view.vector(self.k, rows[0].0);
        fn keep(rows: &[(u32, pg_sys::ItemPointerData)], live: &mut Vec<u32>, holds: impl Fn(usize) -> bool) {
            live.retain(|&r| holds(rows[r as usize].0 as usize % VECTOR_SIZE));
        }
        let valid = |validity: &Option<Vec<u8>>, i: usize| validity.as_deref().is_none_or(|b| validity::is_valid(b, i));
        let stored = |v: &columnar_core::encode::IntVector, i: usize, date_vs_timestamp: bool| {
            if date_vs_timestamp { compare::date_as_timestamp(v.values[i]) } else { v.values[i] as i128 }
        };
        match (&self.test, vector) {
            (Test::IsNull(is_null), Some(Decoded::Int(v) | Decoded::Scaled { values: v, .. })) => keep(rows, live, |i| valid(&v.validity, i) != *is_null),
            (Test::Int { op, constant, date_vs_timestamp }, Some(Decoded::Int(v))) => {
                keep(rows, live, |i| valid(&v.validity, i) && op.holds(stored(v, i, *date_vs_timestamp).cmp(constant)))
            }
            (Test::InList { values, date_vs_timestamp }, Some(Decoded::Int(v))) => {
                keep(rows, live, |i| valid(&v.validity, i) && values.binary_search(&stored(v, i, *date_vs_timestamp)).is_ok())
            }
            (Test::Numeric { op, constant: Numeric::Finite { value, scale: cs } }, Some(Decoded::Scaled { values, scale, .. })) => {
                let Some(c) = compare::ScaledConstant::new(*value, *cs, *scale) else { return false };
                keep(rows, live, |i| valid(&values.validity, i) && op.holds(c.cmp(values.values[i])))
            }
            (Test::Columns { op, other }, Some(Decoded::Int(a))) => {
                let Some(Decoded::Int(b)) = view.vector(*other, rows[0].0) else { return false };
                keep(rows, live, |i| valid(&a.validity, i) && valid(&b.validity, i) && op.holds(a.values[i].cmp(&b.values[i])))
            }
            _ => return false,
        }
        true
    }
}

/// The verdicts of `quals` (all must hold) on the rows of a group batch, one per row. Each
/// clause looks only at the rows the clauses before it left.
pub fn verdicts(quals: &[VecQual], view: &GroupView<'_>) -> Vec<Verdict> {
    let mut out = vec![Verdict::Fail; view.rows.len()];
    let (mut live, mut base) = (Vec::new(), 0);
    for run in view.rows.chunk_by(|a, b| a.0 as usize / VECTOR_SIZE == b.0 as usize / VECTOR_SIZE) {
        live.clear();
        live.extend(0..run.len() as u32);
        let mut unknown = Vec::new();
        for q in quals {
            if live.is_empty() {
                break;
            }
            if q.judge_run(view, run, &mut live) {
                continue;
            }
            live.retain(|&r| match q.verdict(view, run[r as usize].0) {
                Verdict::Pass => true,
                Verdict::Fail => false,
                Verdict::Unknown => {
                    unknown.push(r);
                    true
                }
            });
        }
        for &r in &live {
            out[base + r as usize] = Verdict::Pass;
        }
        // A row some clause could not judge and none failed is PostgreSQL's to judge.
        for r in unknown {
            if out[base + r as usize] == Verdict::Pass {
                out[base + r as usize] = Verdict::Unknown;
            }
        }
        base += run.len();
    }
    out
}

/// `node` as numeric arithmetic over the reader's attributes (`k_of(attribute index)`), if it
/// is one: numeric columns and non-null finite constants combined by numeric's `+`, `-`, `*`.
///
/// # Safety
/// As for `compile`.
pub unsafe fn compile_calc(node: *mut pg_sys::Node, k_of: impl Fn(usize) -> usize + Copy) -> Option<Calc> {
    // SAFETY: per the contract; catalog lookups by OID.
    unsafe {
        match (*node).type_ {
            pg_sys::NodeTag::T_Var => {
                let v = node as *mut pg_sys::Var;
                (u32::from((*v).vartype) == NUMERIC && (*v).varlevelsup == 0 && (*v).varattno > 0).then(|| Calc::Column(k_of((*v).varattno as usize - 1)))
            }
            pg_sys::NodeTag::T_Const => {
                let c = node as *mut pg_sys::Const;
                if u32::from((*c).consttype) != NUMERIC || (*c).constisnull {
                    return None;
                }
                match parse_numeric(varlena_content((*c).constvalue))? {
                    Numeric::Finite { value, scale } => Some(Calc::Const(value, scale)),
                    _ => None,
                }
            }
            pg_sys::NodeTag::T_OpExpr => {
                let e = node as *mut pg_sys::OpExpr;
                let args = super::plan::list_pointers::<pg_sys::Node>((*e).args);
                let [a, b] = args[..] else { return None };
                let f = pg_sys::get_opcode((*e).opno);
                if u32::from((*e).opresulttype) != NUMERIC || pg_sys::get_func_namespace(f) != pg_sys::Oid::from(11) {
                    return None;
                }
                let name = std::ffi::CStr::from_ptr(pg_sys::get_func_name(f)).to_bytes();
                let (a, b) = (Box::new(compile_calc(a, k_of)?), Box::new(compile_calc(b, k_of)?));
                match name {
                    b"numeric_add" => Some(Calc::Add(a, b)),
                    b"numeric_sub" => Some(Calc::Sub(a, b)),
                    b"numeric_mul" => Some(Calc::Mul(a, b)),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}
