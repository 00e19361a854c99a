//! The aggregates the columnar aggregate node computes itself, as transition states over
//! datums, and their results as PostgreSQL's functions would give them. Which aggregate is
//! which is decided once, from the Aggref (`Kind::of`); the arithmetic is columnar-core's
//! `aggregate` module. A numeric too large for 128 bits is added with PostgreSQL's
//! `numeric_add`, so every sum stays exact.

use columnar_core::aggregate::{self as arith, DecimalSum, FloatAccum, SumResult};
use columnar_core::numeric::{Numeric, parse_numeric};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The width and kind of an aggregate's input.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Input {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
}

impl Input {
    fn int(self, d: pg_sys::Datum) -> i64 {
        match self {
            Input::Int2 => d.value() as i16 as i64,
            Input::Int4 => d.value() as i32 as i64,
            _ => d.value() as i64,
        }
    }

    fn float(self, d: pg_sys::Datum) -> f64 {
        match self {
            Input::Float4 => f32::from_bits(d.value() as u32) as f64,
            _ => f64::from_bits(d.value() as u64),
        }
    }
}

/// An aggregate the node computes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    CountStar,
    Count,
    Sum(Input),
    Avg(Input),
    Min(Input),
    Max(Input),
}

const PG_CATALOG_NAMESPACE: u32 = 11;

impl Kind {
    /// The aggregate `aggref` computes, if the node computes it exactly as PostgreSQL does:
    /// a built-in count, sum, avg, min or max of one argument (or count(*)), with no
    /// DISTINCT, ORDER BY or FILTER, of this query level.
    ///
    /// # Safety
    /// `aggref` is a valid Aggref.
    pub unsafe fn of(aggref: *const pg_sys::Aggref) -> Option<Kind> {
        // SAFETY: per the contract; catalog lookups by OID.
        unsafe {
            let a = &*aggref;
            if !a.aggorder.is_null()
                || !a.aggdistinct.is_null()
                || !a.aggfilter.is_null()
                || !a.aggdirectargs.is_null()
                || a.aggvariadic
                || a.aggkind as u8 != b'n'
                || a.agglevelsup != 0
                || a.aggsplit != pg_sys::AggSplit::AGGSPLIT_SIMPLE
                || pg_sys::get_func_namespace(a.aggfnoid) != pg_sys::Oid::from(PG_CATALOG_NAMESPACE)
            {
                return None;
            }
            let name = pg_sys::get_func_name(a.aggfnoid);
            if name.is_null() {
                return None;
            }
            let name = std::ffi::CStr::from_ptr(name).to_bytes().to_vec();
            let nargs = if a.args.is_null() { 0 } else { (*a.args).length };
            if a.aggstar {
                return (name == b"count" && nargs == 0).then_some(Kind::CountStar);
            }
            if nargs != 1 {
                return None;
            }
            let argtype = u32::from((*(*a.aggargtypes).elements).oid_value);
            if name == b"count" {
                return Some(Kind::Count);
            }
            let number = match argtype {
                21 => Some(Input::Int2),
                23 => Some(Input::Int4),
                20 => Some(Input::Int8),
                700 => Some(Input::Float4),
                701 => Some(Input::Float8),
                1700 => Some(Input::Numeric),
                _ => None,
            };
            // date, time, timestamp, timestamptz: integers ordered as their values.
            let ordered_int = match argtype {
                1082 => Some(Input::Int4),
                1083 | 1114 | 1184 => Some(Input::Int8),
                _ => number.filter(|n| *n != Input::Numeric),
            };
            match name.as_slice() {
                b"sum" => number.map(Kind::Sum),
                b"avg" => number.map(Kind::Avg),
                b"min" => ordered_int.map(Kind::Min),
                b"max" => ordered_int.map(Kind::Max),
                _ => None,
            }
        }
    }

    pub fn state(self) -> State {
        match self {
            Kind::CountStar | Kind::Count => State::Count(0),
            Kind::Sum(Input::Float4 | Input::Float8) => State::FloatSum(None),
            Kind::Avg(Input::Float4 | Input::Float8) => State::FloatAvg(FloatAccum::default()),
            Kind::Sum(Input::Numeric) | Kind::Avg(Input::Numeric) => State::Numeric(Box::default()),
            Kind::Sum(_) | Kind::Avg(_) => State::Int { sum: 0, count: 0 },
            Kind::Min(_) | Kind::Max(_) => State::Extreme(None),
        }
    }
}

/// Numeric sums: the exact 128-bit part and what PostgreSQL's code added beside it.
#[derive(Default)]
pub struct NumericState {
    sum: DecimalSum,
    rest: Option<pg_sys::Datum>,
    rest_count: i64,
}

/// One aggregate's transition state for one group.
pub enum State {
    Count(i64),
    /// Integer sums and averages: sum and count of non-null inputs (int8's sum is numeric in
    /// PostgreSQL, kept in 128 bits as there).
    Int { sum: i128, count: i64 },
    FloatSum(Option<f64>),
    FloatAvg(FloatAccum),
    Numeric(Box<NumericState>),
    /// The least or greatest value so far, as its datum.
    Extreme(Option<pg_sys::Datum>),
}

fn overflow() -> ! {
    crate::error::raise(PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: overflow", None)
}

// PostgreSQL's numeric functions, called through fmgr as its own aggregates call them.
unsafe extern "C-unwind" {
    fn numeric_in(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum;
    fn numeric_add(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum;
    fn numeric_div(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum;
}

/// The bytes of a varlena after its header, detoasting a compressed or external one into the
/// current memory context.
///
/// # Safety
/// `d` points to a varlena, possibly unaligned.
pub unsafe fn varlena_content<'a>(d: pg_sys::Datum) -> &'a [u8] {
    // SAFETY: per the contract; the header says how many bytes follow, and a detoasted copy
    // is a plain varlena in the current context.
    unsafe {
        let p = d.cast_mut_ptr::<u8>();
        let first = *p;
        if first & 0x01 == 0x01 && first != 0x01 {
            let len = (first >> 1) as usize;
            return std::slice::from_raw_parts(p.add(1), len - 1);
        }
        if first & 0x03 == 0x00 {
            let len = (u32::from_le_bytes(std::ptr::read_unaligned(p as *const [u8; 4])) >> 2) as usize;
            return std::slice::from_raw_parts(p.add(4), len - 4);
        }
        // Compressed or stored out of line: PostgreSQL detoasts an aligned copy of the header.
        let size = if first == 0x01 {
            // A TOAST pointer: 2 header bytes, then an on-disk pointer (tag 18) or an 8-byte one.
            2 + if *p.add(1) == 18 { 16 } else { 8 }
        } else { (u32::from_le_bytes(std::ptr::read_unaligned(p as *const [u8; 4])) >> 2) as usize };
        let copy = pg_sys::palloc(size) as *mut u8;
        std::ptr::copy_nonoverlapping(p, copy, size);
        let plain = pg_sys::pg_detoast_datum_packed(copy.cast()) as *const u8;
        varlena_content(pg_sys::Datum::from(plain))
    }
}

/// PostgreSQL's numeric from its text form.
fn numeric_from_text(text: &str) -> pg_sys::Datum {
    let c = std::ffi::CString::new(text).expect("digits have no NUL");
    // SAFETY: numeric_in with a C string, no type OID and no typmod, as the input function is
    // called for a numeric without a declared scale.
    unsafe {
        pg_sys::DirectFunctionCall3Coll(Some(numeric_in), pg_sys::InvalidOid, pg_sys::Datum::from(c.as_ptr()), pg_sys::Datum::from(pg_sys::InvalidOid), pg_sys::Datum::from(-1i32))
    }
}

fn numeric_of_int(n: i64) -> pg_sys::Datum {
    // SAFETY: allocates a numeric in the current context.
    pg_sys::Datum::from(unsafe { pg_sys::int64_to_numeric(n) })
}

fn numeric_call(f: unsafe extern "C-unwind" fn(pg_sys::FunctionCallInfo) -> pg_sys::Datum, a: pg_sys::Datum, b: pg_sys::Datum) -> pg_sys::Datum {
    // SAFETY: a strict numeric function of two numerics.
    unsafe { pg_sys::DirectFunctionCall2Coll(Some(f), pg_sys::InvalidOid, a, b) }
}

impl State {
    /// Adds one non-null input of aggregate `kind` (nothing for count(*), which counts rows).
    /// Memory the state keeps (a numeric sum beyond 128 bits) is allocated in `cxt`.
    ///
    /// # Safety
    /// `d` is a datum of the aggregate's input type.
    pub unsafe fn add(&mut self, kind: Kind, d: pg_sys::Datum, cxt: pg_sys::MemoryContext) {
        match (self, kind) {
            (State::Count(n), _) => *n += 1,
            (State::Int { sum, count }, Kind::Sum(i) | Kind::Avg(i)) => {
                *sum += i.int(d) as i128;
                *count += 1;
            }
            (State::FloatSum(sum), Kind::Sum(i)) => {
                let x = i.float(d);
                *sum = Some(match (*sum, i) {
                    (None, _) => x,
                    (Some(s), Input::Float4) => arith::float_add(s as f32, x as f32).unwrap_or_else(|_| overflow()) as f64,
                    (Some(s), _) => arith::float_add(s, x).unwrap_or_else(|_| overflow()),
                });
            }
            (State::FloatAvg(a), Kind::Avg(i)) => a.add(i.float(d)).unwrap_or_else(|_| overflow()),
            (State::Numeric(s), _) => {
                // SAFETY: a numeric datum, per the contract.
                match parse_numeric(unsafe { varlena_content(d) }) {
                    Some(Numeric::Finite { value, scale }) if s.sum.add(value, scale) => {}
                    Some(n @ (Numeric::NaN | Numeric::PosInf | Numeric::NegInf)) => s.sum.add_special(n),
                    Some(Numeric::Finite { .. } | Numeric::TooBig) => {
                        // SAFETY: the state's context outlives the state.
                        let old = unsafe { pg_sys::MemoryContextSwitchTo(cxt) };
                        s.rest = Some(match s.rest {
                            None => numeric_call(numeric_add, d, numeric_from_text("0")),
                            Some(r) => numeric_call(numeric_add, r, d),
                        });
                        // SAFETY: restores the caller's context.
                        unsafe { pg_sys::MemoryContextSwitchTo(old) };
                        s.rest_count += 1;
                    }
                    None => crate::error::raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, "invalid numeric value in a columnar table", None),
                }
            }
            (State::Extreme(e), Kind::Min(i) | Kind::Max(i)) => {
                let max = matches!(kind, Kind::Max(_));
                *e = Some(match *e {
                    None => d,
                    Some(cur) => match i {
                        Input::Float4 => {
                            let (a, b) = (f32::from_bits(cur.value() as u32), f32::from_bits(d.value() as u32));
                            let r = if max { arith::float_max(a, b) } else { arith::float_min(a, b) };
                            pg_sys::Datum::from(r.to_bits() as i32)
                        }
                        Input::Float8 => {
                            let (a, b) = (f64::from_bits(cur.value() as u64), f64::from_bits(d.value() as u64));
                            pg_sys::Datum::from(if max { arith::float_max(a, b) } else { arith::float_min(a, b) }.to_bits() as usize)
                        }
                        _ => {
                            let (a, b) = (i.int(cur), i.int(d));
                            if (max && b > a) || (!max && b < a) { d } else { cur }
                        }
                    },
                });
            }
            _ => unreachable!("a state is made for its kind"),
        }
    }

    /// Adds the non-null values of an integer-stored column (integers, dates and times, and
    /// floats as their bits), each as its datum's bits: one dispatch per vector, not per row.
    pub fn add_ints(&mut self, kind: Kind, values: impl Iterator<Item = i64>) {
        match (self, kind) {
            (State::Count(n), _) => *n += values.count() as i64,
            (State::Int { sum, count }, _) => {
                // Stored values are sign-extended, as the datums are.
                for v in values {
                    *sum += v as i128;
                    *count += 1;
                }
            }
            (state, kind) => {
                for v in values {
                    // SAFETY: the bits of a datum of the input type, which is by value.
                    unsafe { state.add(kind, pg_sys::Datum::from(v as usize), std::ptr::null_mut()) };
                }
            }
        }
    }

    /// Adds the stored numeric `bytes` (a datum's bytes, header included, in a vector) to a
    /// numeric sum or average: parsed in place when it is a plain inline value, else as its
    /// datum.
    pub fn add_numeric_bytes(&mut self, kind: Kind, bytes: &[u8], cxt: pg_sys::MemoryContext) {
        let payload = || match *bytes.first()? {
            b if b & 0x01 == 0x01 && b != 0x01 => bytes.get(1..(b >> 1) as usize),
            b if b & 0x03 == 0x00 => bytes.get(4..(u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) >> 2) as usize),
            _ => None,
        };
        if let State::Numeric(s) = self {
            match payload().and_then(parse_numeric) {
                Some(Numeric::Finite { value, scale }) if s.sum.add(value, scale) => return,
                Some(n @ (Numeric::NaN | Numeric::PosInf | Numeric::NegInf)) => return s.sum.add_special(n),
                _ => {}
            }
        }
        // SAFETY: the bytes of a numeric datum, which stay put while it is added.
        unsafe { self.add(kind, pg_sys::Datum::from(bytes.as_ptr()), cxt) }
    }

    /// Adds the non-null numerics `values / 10^scale` of a scaled vector to a numeric sum or
    /// average, or counts them: one 128-bit addition per run when the sum has room.
    pub fn add_scaled_run(&mut self, kind: Kind, values: impl Iterator<Item = i64> + Clone, scale: u16, cxt: pg_sys::MemoryContext) {
        match self {
            State::Count(n) => *n += values.count() as i64,
            State::Numeric(s) => {
                let (total, count) = values.clone().fold((0i128, 0i64), |(t, c), v| (t + v as i128, c + 1));
                if count == 0 || s.sum.add_many(total, count, scale) {
                    return;
                }
                values.for_each(|v| self.add_scaled(kind, v as i128, scale, cxt));
            }
            _ => values.for_each(|v| self.add_scaled(kind, v as i128, scale, cxt)),
        }
    }

    /// Adds the numeric `value / 10^scale` (computed from vectors) to a numeric sum or
    /// average, or counts it.
    pub fn add_scaled(&mut self, kind: Kind, value: i128, scale: u16, cxt: pg_sys::MemoryContext) {
        if let State::Count(n) = self {
            *n += 1;
            return;
        }
        if let State::Numeric(s) = self
            && s.sum.add(value, scale)
        {
            return;
        }
        // Beyond the 128-bit sum: added as PostgreSQL's numeric.
        // SAFETY: a numeric datum made here.
        unsafe { self.add(kind, numeric_from_text(&arith::format_scaled(value, scale)), cxt) }
    }

    /// Adds `rows` rows to a count(*).
    pub fn add_rows(&mut self, rows: i64) {
        if let State::Count(n) = self {
            *n += rows;
        }
    }

    /// The aggregate's result in the current memory context: (datum, is null).
    pub fn result(&self, kind: Kind) -> (pg_sys::Datum, bool) {
        let null = (pg_sys::Datum::from(0), true);
        match (self, kind) {
            (State::Count(n), _) => (pg_sys::Datum::from(*n), false),
            (State::Int { count: 0, .. }, _) => null,
            (State::Int { sum, .. }, Kind::Sum(Input::Int8)) => (numeric_from_text(&sum.to_string()), false),
            // int2 and int4 sums are int8 (PostgreSQL adds them in 64 bits without a check).
            (State::Int { sum, .. }, Kind::Sum(_)) => (pg_sys::Datum::from(*sum as i64), false),
            (State::Int { sum, count }, Kind::Avg(Input::Int8)) => (numeric_call(numeric_div, numeric_from_text(&sum.to_string()), numeric_of_int(*count)), false),
            // int2 and int4 averages keep a 64-bit sum, also without a check.
            (State::Int { sum, count }, _) => (numeric_call(numeric_div, numeric_of_int(*sum as i64), numeric_of_int(*count)), false),
            (State::FloatSum(None), _) => null,
            (State::FloatSum(Some(s)), Kind::Sum(Input::Float4)) => (pg_sys::Datum::from((*s as f32).to_bits() as i32), false),
            (State::FloatSum(Some(s)), _) => (pg_sys::Datum::from(s.to_bits() as usize), false),
            (State::FloatAvg(a), _) => a.avg().map_or(null, |v| (pg_sys::Datum::from(v.to_bits() as usize), false)),
            (State::Numeric(s), _) => {
                let special = match s.sum.result(s.rest_count) {
                    SumResult::Null => return null,
                    SumResult::NaN => "NaN",
                    SumResult::PosInf => "Infinity",
                    SumResult::NegInf => "-Infinity",
                    SumResult::Finite => "",
                };
                if !special.is_empty() {
                    return (numeric_from_text(special), false);
                }
                let mut sum = numeric_from_text(&arith::format_scaled(s.sum.value, s.sum.scale));
                if let Some(rest) = s.rest {
                    sum = numeric_call(numeric_add, sum, rest);
                }
                if matches!(kind, Kind::Avg(_)) {
                    sum = numeric_call(numeric_div, sum, numeric_of_int(s.sum.count + s.rest_count));
                }
                (sum, false)
            }
            (State::Extreme(e), _) => e.map_or(null, |d| (d, false)),
        }
    }
}
