//! The encodings of one *vector*: up to [`VECTOR_SIZE`] values of one column.
//!
//! The encoder of a family tries its candidate encodings on the vector and keeps the smallest
//! (ties go to the one cheaper to decode), so vectors of one chunk may use different encodings.
//! Every vector is self-describing:
//!
//! ```text
//! u8   tag            the encoding (TAG_*), | HAS_VALIDITY when a validity bitmap follows
//! u16  rows           little-endian, at most VECTOR_SIZE
//! [u8; (rows+7)/8]    validity bitmap, only with HAS_VALIDITY: bit i (LSB first) = row i not NULL
//! ...                 the encoding's payload, covering only the non-NULL rows
//! ```
//!
//! All integers in the format are little-endian; bit-packed arrays are LSB-first bit streams
//! ([`bitpack`]). Decoders check every tag, length and offset against the bytes they are given
//! and return a [`DecodeError`] rather than panicking, whatever the input: a damaged page must
//! surface as a corruption error, never a crash. A vector must use its bytes exactly: trailing
//! bytes are an error too.

pub mod bitpack;
mod bytes;
pub mod int;
pub mod numeric;
pub mod validity;
pub mod varlena;

pub use int::{IntVector, decode_ints, encode_ints, int_value_at, int_value_ranges};
pub use numeric::{NumericVector, decode_numeric, encode_numeric, numeric_value_at, numeric_value_ranges};

/// The first bytes of a vector that hold its header whatever it is (tag, row count, validity
/// bitmap, and an encoding's fixed fields): what `int_value_ranges` and
/// `numeric_value_ranges` are given to find the few bytes one row's value is read from.
pub const HEAD_BYTES: usize = 64 + VECTOR_SIZE / 8;
pub use varlena::{VarlenaVector, decode_varlena, encode_varlena, varlena_value_at};

/// The number of rows of a full vector: the unit of encoding and of decoding.
pub const VECTOR_SIZE: usize = 2048;

/// A varlena vector uses a dictionary only when it has at most this many distinct values: past
/// that, codes of 11 bits or more plus the dictionary itself rarely beat offsets + lz4.
pub const DICT_MAX_DISTINCT: usize = 1024;

/// Varlena bytes are stored lz4-compressed only when that saves at least this share (percent)
/// of them: a smaller gain does not pay for decompressing on every read.
pub const LZ4_MIN_SAVING_PERCENT: usize = 10;

/// Set in the tag byte when a validity bitmap follows the row count.
pub const HAS_VALIDITY: u8 = 0x80;

/// Either family: the vector has no non-NULL value (empty, or all NULL); no payload.
pub const TAG_NONE: u8 = 0x00;
/// Integers: every non-NULL value is the same; payload `i64 value`.
pub const TAG_INT_CONSTANT: u8 = 0x01;
/// Integers: frame of reference + bit-packing; payload `i64 min, u8 width, packed[n]` of
/// `value - min` (wrapping) in `width` bits.
pub const TAG_INT_FOR_BITPACKED: u8 = 0x02;
/// Integers: run-length; payload `u16 runs, i64 min, u8 value_width, packed[runs]` of
/// `run value - min`, then `u8 end_width, packed[runs]` of run ends (exclusive, strictly
/// ascending, the last one = n).
pub const TAG_INT_RLE: u8 = 0x03;
/// Integers: delta; payload `i64 first, i64 min_delta, u8 width, packed[n - 1]` of
/// `(value[i] - value[i - 1]) - min_delta` (all wrapping).
pub const TAG_INT_DELTA: u8 = 0x04;
/// Varlena: lengths and raw bytes; payload `lengths`, then `sum(lengths)` bytes.
pub const TAG_VARLENA_PLAIN: u8 = 0x11;
/// Varlena: lengths and lz4-compressed bytes; payload `lengths, u32 compressed_len`, then an
/// lz4 block that decompresses to exactly `sum(lengths)` bytes.
pub const TAG_VARLENA_LZ4: u8 = 0x12;
/// Varlena: dictionary; payload `u16 entries, u8 offset_width, packed[entries + 1]` of entry
/// offsets (the first 0, ascending), the entries' bytes (distinct, sorted by bytes), then
/// `u8 code_width, packed[n]` of codes (each < entries).
pub const TAG_VARLENA_DICT: u8 = 0x13;

/// Numeric: every non-NULL value is a finite numeric of one display scale that fits in 64
/// bits when scaled by 10^scale, stored as PostgreSQL stores it (see `crate::numeric`);
/// payload `u8 scale`, then an integer vector (header included, no NULL) of the non-NULL
/// values times 10^scale. A numeric vector that is not one of these is a varlena vector.
pub const TAG_NUMERIC_SCALED: u8 = 0x21;

/// The name of an encoding tag, as `columnar_column_stats` reports it.
pub fn encoding_name(tag: u8) -> &'static str {
    match tag {
        TAG_NONE => "null",
        TAG_INT_CONSTANT => "constant",
        TAG_INT_FOR_BITPACKED => "bitpacked",
        TAG_INT_RLE => "rle",
        TAG_INT_DELTA => "delta",
        TAG_VARLENA_PLAIN => "plain",
        TAG_VARLENA_LZ4 => "lz4",
        TAG_VARLENA_DICT => "dictionary",
        TAG_NUMERIC_SCALED => "scaled",
        _ => "unknown",
    }
}

/// The encoding tag of an encoded vector (one of the `TAG_*`, without [`HAS_VALIDITY`]).
pub fn encoding_of(vector: &[u8]) -> Result<u8, DecodeError> {
    Ok(bytes::read_header(vector)?.0.tag)
}

/// Why a vector could not be decoded: the bytes are not a vector this crate could have written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    message: String,
}

impl DecodeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        DecodeError { message: message.into() }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "corrupt columnar vector: {}", self.message)
    }
}

impl std::error::Error for DecodeError {}

/// Returns `Err(DecodeError)` built from a format string.
macro_rules! corrupt {
    ($($arg:tt)*) => {
        return Err($crate::encode::DecodeError::new(format!($($arg)*)))
    };
}
pub(crate) use corrupt;

#[cfg(test)]
mod robustness;
