//! WHERE clauses evaluated over a row group's column vectors, before any row is stored in a
//! slot: a comparison of a column with a constant by a btree operator of the column type's
//! default family (integers with each other, dates, timestamps and timestamptz with their own
//! type, a date with a timestamp either way round, numerics), and IS [NOT] NULL on any column.
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

const INT2: u32 = 21;
const INT4: u32 = 23;
const INT8: u32 = 20;
const DATE: u32 = 1082;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
const NUMERIC: u32 = 1700;

/// How a stored value is compared with the constant.
#[derive(Clone, Copy, Debug)]
enum Test {
    /// An integer-stored value (a date as a timestamp when `date_vs_timestamp`) against an
    /// integer.
    Int { op: Op, constant: i128, date_vs_timestamp: bool },
    Numeric { op: Op, constant: Numeric },
    IsNull(bool),
}

/// A clause over the reader's `k`th attribute.
#[derive(Clone, Copy, Debug)]
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

/// The clause `node` as a vector clause, over the attribute `k_of(attribute index)` names.
///
/// # Safety
/// `node` is a valid expression whose Vars are the node's scan tuple's (at attribute numbers).
pub unsafe fn compile(node: *mut pg_sys::Node, k_of: impl Fn(usize) -> usize) -> Option<VecQual> {
    // SAFETY: per the contract; catalog lookups by OID.
    unsafe {
        let var_index = |n: *mut pg_sys::Node| -> Option<(usize, u32)> {
            let v = n as *mut pg_sys::Var;
            ((*n).type_ == pg_sys::NodeTag::T_Var && (*v).varlevelsup == 0 && (*v).varattno > 0).then(|| ((*v).varattno as usize - 1, u32::from((*v).vartype)))
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
                let (var, constant, commuted) = match (var_index(a), var_index(b)) {
                    (Some(v), None) => (v, b, false),
                    (None, Some(v)) => (v, a, true),
                    _ => return None,
                };
                let c = constant as *mut pg_sys::Const;
                if (*constant).type_ != pg_sys::NodeTag::T_Const || (*c).constisnull {
                    return None;
                }
                let (index, column_type) = var;
                let const_type = u32::from((*c).consttype);
                let family = pg_sys::get_opclass_family(pg_sys::GetDefaultOpClass(column_type.into(), pg_sys::BTREE_AM_OID));
                let mut op = Op::from_strategy(pg_sys::get_op_opfamily_strategy((*e).opno, family))?;
                if commuted {
                    op = op.commuted();
                }
                let ints = [INT2, INT4, INT8];
                let value = (*c).constvalue;
                let test = match (column_type, const_type) {
                    (x, y) if ints.contains(&x) && ints.contains(&y) => {
                        let v = match y {
                            INT2 => value.value() as i16 as i128,
                            INT4 => value.value() as i32 as i128,
                            _ => value.value() as i64 as i128,
                        };
                        Test::Int { op, constant: v, date_vs_timestamp: false }
                    }
                    (DATE, DATE) => Test::Int { op, constant: value.value() as i32 as i128, date_vs_timestamp: false },
                    (TIMESTAMP, TIMESTAMP) | (TIMESTAMPTZ, TIMESTAMPTZ) => Test::Int { op, constant: value.value() as i64 as i128, date_vs_timestamp: false },
                    (DATE, TIMESTAMP) => Test::Int { op, constant: value.value() as i64 as i128, date_vs_timestamp: true },
                    (TIMESTAMP, DATE) => Test::Int { op, constant: compare::date_as_timestamp(value.value() as i32 as i64), date_vs_timestamp: false },
                    (NUMERIC, NUMERIC) => match parse_numeric(varlena_content(value)) {
                        Some(n) if n != Numeric::TooBig => Test::Numeric { op, constant: n },
                        _ => return None,
                    },
                    _ => return None,
                };
                Some(VecQual { k: k_of(index), test })
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
        match (self.test, &vector.zone) {
            (Test::IsNull(true), _) => vector.nulls == 0,
            (Test::IsNull(false), _) | (Test::Int { .. } | Test::Numeric { .. }, None) => vector.nulls == vector.rows,
            (Test::Int { op, constant, date_vs_timestamp }, Some(Zone::Int { min, max })) => {
                let (min, max) = if date_vs_timestamp { (compare::date_as_timestamp(*min), compare::date_as_timestamp(*max)) } else { (*min as i128, *max as i128) };
                op.refuted_by_zone(min, max, constant)
            }
            // A numeric's zone bounds its datum's bytes, which do not order as its values.
            (Test::Int { .. } | Test::Numeric { .. }, Some(_)) => false,
        }
    }

    /// The clause's verdict on the row at group position `position`.
    fn verdict(&self, view: &GroupView<'_>, position: u32) -> Verdict {
        let holds = match self.test {
            Test::IsNull(is_null) => view.is_null(self.k, position) == is_null,
            Test::Int { op, constant, date_vs_timestamp } => match view.datum(self.k, position) {
                None => false,
                Some(d) => {
                    let v = if date_vs_timestamp { compare::date_as_timestamp(d.value() as i32 as i64) } else { d.value() as i64 as i128 };
                    op.holds(v.cmp(&constant))
                }
            },
            Test::Numeric { op, constant } => match view.numeric(self.k, position) {
                None => false,
                Some(n) => match compare::numeric_cmp(n, constant) {
                    Some(o) => op.holds(o),
                    None => return Verdict::Unknown,
                },
            },
        };
        if holds { Verdict::Pass } else { Verdict::Fail }
    }

    /// Keeps in `live` (indexes into `rows`, rows of one group vector whose column of the
    /// clause is `vector`) the rows the clause passes, in one loop over the vector's values;
    /// false, with `live` unchanged, when the vector has no such loop.
    fn judge_run(&self, rows: &[(u32, pg_sys::ItemPointerData)], vector: Option<&Decoded>, live: &mut Vec<u32>) -> bool {
        fn keep(rows: &[(u32, pg_sys::ItemPointerData)], live: &mut Vec<u32>, holds: impl Fn(usize) -> bool) {
            live.retain(|&r| holds(rows[r as usize].0 as usize % VECTOR_SIZE));
        }
        let valid = |validity: &Option<Vec<u8>>, i: usize| validity.as_deref().is_none_or(|b| validity::is_valid(b, i));
        match (self.test, vector) {
            (Test::IsNull(is_null), Some(Decoded::Int(v) | Decoded::Scaled { values: v, .. })) => keep(rows, live, |i| valid(&v.validity, i) != is_null),
            (Test::Int { op, constant, date_vs_timestamp: false }, Some(Decoded::Int(v))) => {
                keep(rows, live, |i| valid(&v.validity, i) && op.holds((v.values[i] as i128).cmp(&constant)))
            }
            (Test::Int { op, constant, date_vs_timestamp: true }, Some(Decoded::Int(v))) => {
                keep(rows, live, |i| valid(&v.validity, i) && op.holds(compare::date_as_timestamp(v.values[i]).cmp(&constant)))
            }
            (Test::Numeric { op, constant: Numeric::Finite { value, scale: cs } }, Some(Decoded::Scaled { values, scale, .. })) => {
                let Some(c) = compare::ScaledConstant::new(value, cs, *scale) else { return false };
                keep(rows, live, |i| valid(&values.validity, i) && op.holds(c.cmp(values.values[i])))
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
            if q.judge_run(run, view.vector(q.k, run[0].0), &mut live) {
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
