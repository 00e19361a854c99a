//! One *row group*: up to [`MAX_ROWS`] rows stored column by column, as one byte stream that the
//! extension lays over the content areas of consecutive data pages ([`pages`]).
//!
//! Each column is one *chunk*: its vectors ([`VECTOR_SIZE`] rows each, the last one shorter)
//! encoded by [`crate::encode`], back to back. The stream starts with a *directory* holding the
//! row and column counts and, per column and per vector, the byte lengths, null counts and zone
//! maps (min/max) that let a scan skip chunks and vectors without reading them. The
//! [`present`] set (which row numbers of the group's range have rows) lives on the rowgroup page,
//! not in the stream.
//!
//! ```text
//! header, fixed width, little-endian
//!   [u8; 2]  MAGIC "RG"
//!   u8       FORMAT_VERSION
//!   u32      directory length: bytes from the stream's start to the first chunk
//! directory body: v = unsigned LEB128 varint (canonical, at most 64 bits), z = zigzag varint
//!   v rows                       at most MAX_ROWS
//!   v columns                    at most MAX_COLUMNS
//!   per column:
//!     u8 kind                    KIND_INT, KIND_BYTES or KIND_NUMERIC
//!     v  null count
//!     zone                       of the whole column
//!     per vector (rows.div_ceil(VECTOR_SIZE) of them):
//!       v  length                bytes of the encoded vector
//!       v  null count
//!       zone
//! chunks: column 0's vectors back to back, then column 1's, ...; nothing else, nothing after
//!
//! zone:
//!   u8 flags                     0: no non-NULL value, nothing follows; else ZONE_PRESENT
//!                                (| ZONE_MIN_TRUNCATED | ZONE_MAX_TRUNCATED, bytes only)
//!   Int:   z min, z max
//!   Bytes, Numeric: u8 min length, min bytes, u8 max length, max bytes (each at most
//!                  ZONE_PREFIX_LEN; of a numeric, of its datum's bytes)
//! ```
//!
//! Offsets are not stored: a chunk starts where the previous one ends (the first at the
//! directory's end) and a vector where the previous vector of its chunk ends, so chunks can
//! neither overlap nor leave gaps. Bytes are ordered as unsigned byte strings (memcmp), not by
//! any collation; a truncated bound is the first [`ZONE_PREFIX_LEN`] bytes of the value.
//!
//! A group of 0 rows is valid (no vectors, empty chunks): the builder never needs a special
//! case, though the extension has no reason to write one.

mod builder;
pub mod pages;
pub mod present;
mod reader;
#[cfg(test)]
mod tests;

pub use builder::{GroupBuilder, concat};
pub use pages::{StreamPages, page_slice, pages_for};
pub use present::PresentSet;
pub use reader::{CellValue, Directory, GroupReader, directory_len};

use crate::encode::{DecodeError, VECTOR_SIZE};
use std::ops::Range;

/// The most rows of a group: enough for every row number of a delta segment, which VACUUM
/// folds into one group (290 vectors; a segment's tuples take at most 16 MB of pages, so a group
/// is at most about that much before encoding).
pub const MAX_ROWS: usize = 290 * VECTOR_SIZE;
const _: () = assert!(MAX_ROWS >= crate::segment::BLOCKS * crate::rownum::ROWS_PER_BLOCK as usize);
/// The most vectors of a chunk.
pub const MAX_VECTORS: usize = MAX_ROWS / VECTOR_SIZE;
/// The most columns of a group: PostgreSQL's `MaxHeapAttributeNumber`.
pub const MAX_COLUMNS: usize = 1600;
/// Bytes zone maps keep this many leading bytes of the smallest and largest value: enough to
/// refute most equality and range quals on keys and codes, small enough for the rowgroup page.
pub const ZONE_PREFIX_LEN: usize = 16;

/// The first bytes of every stream.
pub const MAGIC: [u8; 2] = *b"RG";
/// The version of the stream format; a reader refuses any other.
pub const FORMAT_VERSION: u8 = 2;
/// Magic, version and the u32 directory length: what [`directory_len`] needs.
pub const HEADER_LEN: usize = 7;

pub const KIND_INT: u8 = 1;
pub const KIND_BYTES: u8 = 2;
pub const KIND_NUMERIC: u8 = 3;

/// Zone flags: the vector or column has a non-NULL value, and a min and max follow.
pub const ZONE_PRESENT: u8 = 0x01;
/// Zone flags: the bytes min is a prefix of the smallest value, which is longer.
pub const ZONE_MIN_TRUNCATED: u8 = 0x02;
/// Zone flags: the bytes max is a prefix of the largest value, which is longer.
pub const ZONE_MAX_TRUNCATED: u8 = 0x04;

/// The family of a column: integers (anything the caller maps to `i64`), byte strings, or
/// PostgreSQL numerics as their datums' bytes ([`crate::encode::numeric`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    Int,
    Bytes,
    Numeric,
}

impl ColumnKind {
    pub fn code(self) -> u8 {
        match self {
            ColumnKind::Int => KIND_INT,
            ColumnKind::Bytes => KIND_BYTES,
            ColumnKind::Numeric => KIND_NUMERIC,
        }
    }

    pub fn from_code(code: u8) -> Option<ColumnKind> {
        match code {
            KIND_INT => Some(ColumnKind::Int),
            KIND_BYTES => Some(ColumnKind::Bytes),
            KIND_NUMERIC => Some(ColumnKind::Numeric),
            _ => None,
        }
    }
}

/// One value of a row handed to [`GroupBuilder::push_row`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Bytes(&'a [u8]),
}

/// One end of a bytes zone map: the first [`ZONE_PREFIX_LEN`] bytes of the value, and whether
/// the value was longer. The derived order (prefix, then truncated) is the order of the values
/// the bounds stand for: of two equal prefixes, the untruncated one is the shorter value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BytesBound {
    pub prefix: Vec<u8>,
    pub truncated: bool,
}

impl BytesBound {
    pub fn of(value: &[u8]) -> BytesBound {
        let len = value.len().min(ZONE_PREFIX_LEN);
        BytesBound { prefix: value[..len].to_vec(), truncated: value.len() > ZONE_PREFIX_LEN }
    }
}

/// The min and max of the non-NULL values of a vector or a column; None (in the metadata)
/// when there is none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Zone {
    Int { min: i64, max: i64 },
    Bytes { min: BytesBound, max: BytesBound },
}

impl Zone {
    /// The zone covering both; None when they are of different kinds.
    fn merge(&self, other: &Zone) -> Option<Zone> {
        Some(match (self, other) {
            (Zone::Int { min, max }, Zone::Int { min: min2, max: max2 }) => {
                Zone::Int { min: *min.min(min2), max: *max.max(max2) }
            }
            (Zone::Bytes { min, max }, Zone::Bytes { min: min2, max: max2 }) => {
                Zone::Bytes { min: min.min(min2).clone(), max: max.max(max2).clone() }
            }
            _ => return None,
        })
    }
}

/// What the directory says of one vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorMeta {
    /// Its bytes within its chunk.
    pub range: Range<usize>,
    /// VECTOR_SIZE, or fewer for the last vector.
    pub rows: usize,
    pub nulls: usize,
    pub zone: Option<Zone>,
}

/// What the directory says of one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnMeta {
    pub kind: ColumnKind,
    /// Its chunk's bytes within the stream.
    pub chunk: Range<usize>,
    pub nulls: usize,
    pub zone: Option<Zone>,
    pub vectors: Vec<VectorMeta>,
}

/// Why a row group stream or a present set could not be read: the bytes are not something
/// this crate could have written, or a caller asked for a column or row that is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupError {
    message: String,
}

impl GroupError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        GroupError { message: message.into() }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "corrupt columnar row group: {}", self.message)
    }
}

impl std::error::Error for GroupError {}

impl From<DecodeError> for GroupError {
    fn from(error: DecodeError) -> Self {
        GroupError::new(format!("vector: {}", error.message()))
    }
}

/// Returns `Err(GroupError)` built from a format string.
macro_rules! bad {
    ($($arg:tt)*) => {
        return Err($crate::rowgroup::GroupError::new(format!($($arg)*)))
    };
}
pub(crate) use bad;

/// The number of rows of vector `vector` of a group of `rows` rows.
fn vector_rows(rows: usize, vector: usize) -> usize {
    rows.saturating_sub(vector * VECTOR_SIZE).min(VECTOR_SIZE)
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    (value >> 1) as i64 ^ -((value & 1) as i64)
}
