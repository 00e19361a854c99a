//! SQL values to key codes and back, per indexed type, without fmgr calls.
//!
//! The code spaces are defined in `alex_core::keys`: int2/int4/int8 share one space (so do
//! float4/float8), which is what lets one operator family hold cross-type operators.

use alex_core::keys::{code_from_f64, code_from_i64, f64_equal_codes, f64_from_code, i64_from_code};
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

    /// The codes of this column type's space that equal `arg`, a value of type `arg_type`:
    /// one code, or two for a float zero (-0 and 0 are equal in SQL).
    pub fn equal_codes(self, arg: Datum, arg_type: KeyType) -> (u64, u64) {
        if self.space() != arg_type.space() {
            crate::error::raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("alex cannot compare {self:?} keys with {arg_type:?} values"),
                None,
            );
        }
        match arg_type {
            KeyType::Float4 => f64_equal_codes(f32::from_bits(arg.value() as u32) as f64),
            KeyType::Float8 => f64_equal_codes(f64::from_bits(arg.value() as u64)),
            _ => {
                let c = arg_type.encode(arg);
                (c, c)
            }
        }
    }
}

pub fn type_name(oid: Oid) -> String {
    // SAFETY: format_type_be accepts any OID and returns a palloc'd C string.
    unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be(oid)).to_string_lossy().into_owned() }
}
