//! Reading and writing the parts shared by every vector: a bounds-checked cursor, the header
//! (tag, row count, validity) and bit-packed arrays.

use super::bitpack::{self, Packed};
use super::validity;
use super::{DecodeError, HAS_VALIDITY, VECTOR_SIZE, corrupt};

/// A cursor over a vector's bytes whose every read is checked against their end.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let remaining = self.bytes.len() - self.pos;
        if len > remaining {
            corrupt!("{what}: needs {len} bytes at offset {}, {remaining} left", self.pos);
        }
        let taken = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], DecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N, what)?);
        Ok(array)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// A bit width byte, then `count` values packed in that width.
    pub fn packed(&mut self, count: usize, what: &str) -> Result<Packed<'a>, DecodeError> {
        let width = self.u8(what)? as u32;
        if width > 64 {
            corrupt!("{what}: bit width {width} > 64");
        }
        let bytes = self.take(bitpack::packed_len(count, width), what)?;
        match Packed::new(bytes, width, count) {
            Some(packed) => Ok(packed),
            None => corrupt!("{what}: {count} values of {width} bits in {} bytes", bytes.len()),
        }
    }

    /// The offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Every byte left.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        rest
    }

    /// Ends the reading: a vector must use its bytes exactly.
    pub fn finish(self) -> Result<(), DecodeError> {
        let trailing = self.bytes.len() - self.pos;
        if trailing != 0 {
            corrupt!("{trailing} trailing bytes after the vector");
        }
        Ok(())
    }
}

/// Appends a bit width byte, then `values` packed in it.
pub(crate) fn write_packed(out: &mut Vec<u8>, values: impl IntoIterator<Item = u64>, width: u32) {
    out.push(width as u8);
    bitpack::pack(values, width, out);
}

/// The bytes [`write_packed`] appends for `count` values of `width` bits.
pub(crate) fn packed_size(count: usize, width: u32) -> usize {
    1 + bitpack::packed_len(count, width)
}

/// The header of a vector, read and checked.
pub(crate) struct Header<'a> {
    /// The encoding, without [`HAS_VALIDITY`].
    pub tag: u8,
    pub rows: usize,
    /// None when no row is NULL.
    pub validity: Option<&'a [u8]>,
    /// The number of non-NULL rows: the values the payload holds.
    pub non_null: usize,
}

impl Header<'_> {
    /// The index among the payload's values of row `row`, or None for a NULL row.
    pub fn value_index(&self, row: usize) -> Result<Option<usize>, DecodeError> {
        if row >= self.rows {
            corrupt!("row {row} out of range: the vector has {} rows", self.rows);
        }
        Ok(match self.validity {
            None => Some(row),
            Some(bitmap) => validity::is_valid(bitmap, row).then(|| validity::rank(bitmap, row)),
        })
    }
}

/// The header of `bytes`, and a reader positioned at the payload.
pub(crate) fn read_header(bytes: &[u8]) -> Result<(Header<'_>, Reader<'_>), DecodeError> {
    let mut reader = Reader::new(bytes);
    let tag_byte = reader.u8("tag")?;
    let rows = reader.u16("row count")? as usize;
    if rows > VECTOR_SIZE {
        corrupt!("{rows} rows > {VECTOR_SIZE}");
    }
    let (validity, non_null) = if tag_byte & HAS_VALIDITY != 0 {
        let bitmap = reader.take(validity::bitmap_len(rows), "validity bitmap")?;
        if !validity::padding_is_clear(bitmap, rows) {
            corrupt!("validity bitmap has bits set past row {rows}");
        }
        (Some(bitmap), validity::count_valid(bitmap, rows))
    } else {
        (None, rows)
    };
    Ok((Header { tag: tag_byte & !HAS_VALIDITY, rows, validity, non_null }, reader))
}

/// Appends a vector's header; the bitmap is written only when some row is NULL.
///
/// # Panics
/// When `rows > VECTOR_SIZE` or the bitmap is shorter than `rows` bits: callers' bugs.
pub(crate) fn write_header(out: &mut Vec<u8>, tag: u8, rows: usize, validity: Option<&[u8]>) {
    assert!(rows <= VECTOR_SIZE, "a vector holds at most {VECTOR_SIZE} rows, got {rows}");
    if let Some(bitmap) = validity {
        assert!(bitmap.len() >= validity::bitmap_len(rows), "validity bitmap shorter than {rows} rows");
    }
    let bitmap = validity.filter(|bitmap| validity::has_null(bitmap, rows));
    out.push(if bitmap.is_some() { tag | HAS_VALIDITY } else { tag });
    out.extend_from_slice(&(rows as u16).to_le_bytes());
    if let Some(bitmap) = bitmap {
        let start = out.len();
        out.extend_from_slice(&bitmap[..validity::bitmap_len(rows)]);
        validity::clear_padding(&mut out[start..], rows);
    }
}
