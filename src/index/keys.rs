//! SQL values to key codes and back, per indexed type, without fmgr calls.
//!
//! The code spaces are defined in `alex_core::keys`: int2/int4/int8 share one space (so do
//! float4/float8), which is what lets one operator family hold cross-type operators.

use alex_core::keys::{EqualCodes, code_from_f64, code_from_i64, f64_equal_codes, f64_from_code, i64_from_code};
use pgrx::pg_sys::{self, Datum, Oid};
use pgrx::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Date,
    Timestamp,
    TimestampTz,
}

/// Types whose codes can be compared with each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Space {
    Integer,
    Float,
    Date,
    Timestamp,
    TimestampTz,
}

impl KeyType {
    pub fn from_oid(oid: Oid) -> Option<KeyType> {
        Some(match oid {
            pg_sys::INT2OID => KeyType::Int2,
            pg_sys::INT4OID => KeyType::Int4,
            pg_sys::INT8OID => KeyType::Int8,
            pg_sys::FLOAT4OID => KeyType::Float4,
            pg_sys::FLOAT8OID => KeyType::Float8,
            pg_sys::DATEOID => KeyType::Date,
            pg_sys::TIMESTAMPOID => KeyType::Timestamp,
            pg_sys::TIMESTAMPTZOID => KeyType::TimestampTz,
            _ => return None,
        })
    }

    /// The key type of an index's only column, or an ERROR naming the unsupported type.
    pub fn of_index(index: pg_sys::Relation) -> KeyType {
        // SAFETY: `index` is an open index relation; rd_opcintype has one entry per key column.
        let oid = unsafe { *(*index).rd_opcintype };
        KeyType::from_oid(oid).unwrap_or_else(|| {
            crate::error::raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("alex indexes do not support type {}", type_name(oid)), Some("alex supports int2, int4, int8, float4, float8, date, timestamp and timestamptz."))
        })
    }

    fn space(self) -> Space {
        match self {
            KeyType::Int2 | KeyType::Int4 | KeyType::Int8 => Space::Integer,
            KeyType::Float4 | KeyType::Float8 => Space::Float,
            KeyType::Date => Space::Date,
            KeyType::Timestamp => Space::Timestamp,
            KeyType::TimestampTz => Space::TimestampTz,
        }
    }

    /// The code of a (non-NULL) value of this type.
    #[inline]
    pub fn encode(self, d: Datum) -> u64 {
        let v = d.value();
        match self {
            KeyType::Int2 => code_from_i64(v as i16 as i64),
            KeyType::Int4 | KeyType::Date => code_from_i64(v as i32 as i64),
            KeyType::Int8 | KeyType::Timestamp | KeyType::TimestampTz => code_from_i64(v as i64),
            KeyType::Float4 => code_from_f64(f32::from_bits(v as u32) as f64),
            KeyType::Float8 => code_from_f64(f64::from_bits(v as u64)),
        }
    }

    /// The value of this type that a code stands for (for index-only scans).
    pub fn decode(self, code: u64) -> Datum {
        match self {
            KeyType::Int2 => Datum::from(i64_from_code(code) as i16),
            KeyType::Int4 | KeyType::Date => Datum::from(i64_from_code(code) as i32),
            KeyType::Int8 | KeyType::Timestamp | KeyType::TimestampTz => Datum::from(i64_from_code(code)),
            KeyType::Float4 => Datum::from((f64_from_code(code) as f32).to_bits()),
            KeyType::Float8 => Datum::from(f64_from_code(code).to_bits()),
        }
    }

    /// The codes equal to a (non-NULL) value of this type: one code, or two for a float zero
    /// (-0 and 0 are equal in SQL).
    pub fn equal_range(self, d: Datum) -> (u64, u64) {
        match self {
            KeyType::Float4 => f64_equal_codes(f32::from_bits(d.value() as u32) as f64),
            KeyType::Float8 => f64_equal_codes(f64::from_bits(d.value() as u64)),
            _ => {
                let c = self.encode(d);
                (c, c)
            }
        }
    }

    /// Where `arg`, a value of type `arg_type`, falls among the codes of this column type.
    ///
    /// Types sharing a code space compare by code. date, timestamp and timestamptz do not (their
    /// comparisons convert through the session time zone): the bounds are found by binary search
    /// over the column type's valid values with the operator family's own cross-type comparison
    /// function, so they agree with the operators by construction. That costs about 64 calls per
    /// scan key, paid at rescan.
    pub fn arg_codes(self, index: pg_sys::Relation, arg: Datum, arg_type: KeyType) -> EqualCodes {
        if self.space() == arg_type.space() {
            let (lo, hi) = arg_type.equal_range(arg);
            return EqualCodes::inclusive(lo, hi);
        }
        let (Some(domain), Some(_)) = (self.datetime_domain(), arg_type.datetime_domain()) else {
            crate::error::raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("alex cannot compare {self:?} keys with {arg_type:?} values"), None)
        };
        let cmp = CrossTypeCmp::new(index, self, arg_type);
        let compare = |v: i64| cmp.call(self.decode(code_from_i64(v)), arg);
        EqualCodes { start: first_satisfying(domain, |v| compare(v) >= 0), end: first_satisfying(domain, |v| compare(v) > 0) }
    }

    /// The valid values of a date or timestamp type, in order: -infinity, the finite range,
    /// infinity (PostgreSQL's IS_VALID_DATE / IS_VALID_TIMESTAMP).
    fn datetime_domain(self) -> Option<&'static [(i64, i64)]> {
        const DATE: [(i64, i64); 3] = [(i32::MIN as i64, i32::MIN as i64), (-2_451_545, 2_145_031_948), (i32::MAX as i64, i32::MAX as i64)];
        const TIMESTAMP: [(i64, i64); 3] = [(i64::MIN, i64::MIN), (-211_813_488_000_000_000, 9_223_371_331_199_999_999), (i64::MAX, i64::MAX)];
        match self {
            KeyType::Date => Some(&DATE),
            KeyType::Timestamp | KeyType::TimestampTz => Some(&TIMESTAMP),
            _ => None,
        }
    }
}

/// The code of the first value of `domain` (ordered, disjoint inclusive intervals) for which the
/// monotone `pred` holds, or one past the code of the last value.
fn first_satisfying(domain: &[(i64, i64)], pred: impl Fn(i64) -> bool) -> u128 {
    for &(lo, hi) in domain {
        if pred(hi) {
            let (mut a, mut b) = (lo as i128, hi as i128);
            while a < b {
                let m = a + (b - a) / 2;
                if pred(m as i64) { b = m } else { a = m + 1 }
            }
            return code_from_i64(a as i64) as u128;
        }
    }
    code_from_i64(domain.last().unwrap().1) as u128 + 1
}

/// The btree comparison function between the column type and another type of its family.
struct CrossTypeCmp {
    flinfo: pg_sys::FmgrInfo,
}

impl CrossTypeCmp {
    fn new(index: pg_sys::Relation, column: KeyType, arg_type: KeyType) -> CrossTypeCmp {
        // SAFETY: an open index with one key column; fmgr_info fills the FmgrInfo for a valid
        // function OID, allocating in the current memory context.
        unsafe {
            let family = *(*index).rd_opfamily;
            let proc_oid = pg_sys::get_opfamily_proc(family, oid_of(column), oid_of(arg_type), 1);
            if proc_oid == pg_sys::InvalidOid {
                error!("alex: missing support function 1 ({:?}, {:?}) in operator family {family:?}", column, arg_type);
            }
            let mut flinfo = std::mem::zeroed::<pg_sys::FmgrInfo>();
            pg_sys::fmgr_info(proc_oid, &mut flinfo);
            CrossTypeCmp { flinfo }
        }
    }

    fn call(&self, a: Datum, b: Datum) -> i32 {
        // SAFETY: a btree comparison function of (column type, argument type), both by value,
        // called with two non-NULL values of those types; it returns an int4.
        unsafe {
            let f = &self.flinfo as *const pg_sys::FmgrInfo as *mut pg_sys::FmgrInfo;
            pg_sys::FunctionCall2Coll(f, pg_sys::InvalidOid, a, b).value() as i32
        }
    }
}

pub fn oid_of(t: KeyType) -> Oid {
    match t {
        KeyType::Int2 => pg_sys::INT2OID,
        KeyType::Int4 => pg_sys::INT4OID,
        KeyType::Int8 => pg_sys::INT8OID,
        KeyType::Float4 => pg_sys::FLOAT4OID,
        KeyType::Float8 => pg_sys::FLOAT8OID,
        KeyType::Date => pg_sys::DATEOID,
        KeyType::Timestamp => pg_sys::TIMESTAMPOID,
        KeyType::TimestampTz => pg_sys::TIMESTAMPTZOID,
    }
}

pub fn type_name(oid: Oid) -> String {
    // SAFETY: format_type_be accepts any OID and returns a palloc'd C string.
    unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be(oid)).to_string_lossy().into_owned() }
}
