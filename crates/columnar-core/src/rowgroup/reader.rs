//! Reads a group stream: the directory alone ([`Directory::parse`], from the first pages of the
//! stream) or the whole stream ([`GroupReader`]). Every count, length and zone is checked
//! against the format's bounds and against the others (null counts and zones of a column are
//! those of its vectors, chunks end where the stream ends), so a damaged stream is an error.

use super::{
    BytesBound, ColumnKind, ColumnMeta, FORMAT_VERSION, GroupError, HEADER_LEN, MAGIC, MAX_COLUMNS, MAX_ROWS,
    Value, VectorMeta, ZONE_MAX_TRUNCATED, ZONE_MIN_TRUNCATED, ZONE_PREFIX_LEN, ZONE_PRESENT, Zone, bad,
    unzigzag, vector_rows,
};
use crate::encode::validity::count_valid;
use crate::encode::{
    IntVector, NumericVector, VECTOR_SIZE, VarlenaVector, decode_ints, decode_numeric, decode_varlena, int_value_at,
    numeric_value_at, varlena_value_at,
};
use std::borrow::Cow;
use std::ops::Range;

/// The length of the directory (header included), read from the stream's first
/// [`HEADER_LEN`] bytes: how much a reader must fetch before [`Directory::parse`].
pub fn directory_len(stream_prefix: &[u8]) -> Result<usize, GroupError> {
    let Some(header) = stream_prefix.get(..HEADER_LEN) else {
        bad!("{} bytes, shorter than the {HEADER_LEN}-byte header", stream_prefix.len())
    };
    if header[..2] != MAGIC {
        bad!("bad magic {:02x}{:02x}", header[0], header[1])
    }
    if header[2] != FORMAT_VERSION {
        bad!("format version {}, this library reads {FORMAT_VERSION}", header[2])
    }
    let len = u32::from_le_bytes([header[3], header[4], header[5], header[6]]) as usize;
    if len < HEADER_LEN {
        bad!("directory length {len} is shorter than the header")
    }
    Ok(len)
}

/// Reads the directory body: varints and zones, each checked against the bytes left.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], GroupError> {
        let Some((taken, rest)) = self.bytes.split_at_checked(len) else {
            bad!("directory ends inside {what}")
        };
        self.bytes = rest;
        Ok(taken)
    }

    fn u8(&mut self, what: &str) -> Result<u8, GroupError> {
        Ok(self.take(1, what)?[0])
    }

    /// A canonical LEB128 varint of at most 64 bits.
    fn varint(&mut self, what: &str) -> Result<u64, GroupError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8(what)?;
            let bits = u64::from(byte & 0x7F);
            if shift == 63 && bits > 1 {
                bad!("{what} overflows 64 bits")
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    bad!("{what} is not a canonical varint")
                }
                return Ok(value);
            }
        }
        bad!("{what} is longer than 10 bytes")
    }

    /// A varint that must be at most `max`.
    fn count(&mut self, max: usize, what: &str) -> Result<usize, GroupError> {
        let value = self.varint(what)?;
        if value > max as u64 {
            bad!("{what} {value} exceeds {max}")
        }
        Ok(value as usize)
    }

    fn zone(&mut self, kind: ColumnKind, what: &str) -> Result<Option<Zone>, GroupError> {
        let flags = self.u8(what)?;
        if flags == 0 {
            return Ok(None);
        }
        let allowed = match kind {
            ColumnKind::Int => ZONE_PRESENT,
            ColumnKind::Bytes | ColumnKind::Numeric => ZONE_PRESENT | ZONE_MIN_TRUNCATED | ZONE_MAX_TRUNCATED,
        };
        if flags & ZONE_PRESENT == 0 || flags & !allowed != 0 {
            bad!("{what}: zone flags {flags:#04x}")
        }
        let zone = match kind {
            ColumnKind::Int => {
                Zone::Int { min: unzigzag(self.varint(what)?), max: unzigzag(self.varint(what)?) }
            }
            ColumnKind::Bytes | ColumnKind::Numeric => Zone::Bytes {
                min: self.bound(flags & ZONE_MIN_TRUNCATED != 0, what)?,
                max: self.bound(flags & ZONE_MAX_TRUNCATED != 0, what)?,
            },
        };
        let ordered = match &zone {
            Zone::Int { min, max } => min <= max,
            Zone::Bytes { min, max } => min <= max,
        };
        if !ordered {
            bad!("{what}: zone min above max")
        }
        Ok(Some(zone))
    }

    fn bound(&mut self, truncated: bool, what: &str) -> Result<BytesBound, GroupError> {
        let len = self.u8(what)? as usize;
        // A truncated bound keeps exactly ZONE_PREFIX_LEN bytes, an untruncated one the value.
        if len > ZONE_PREFIX_LEN || (truncated && len != ZONE_PREFIX_LEN) {
            bad!("{what}: zone bound of {len} bytes (truncated: {truncated})")
        }
        Ok(BytesBound { prefix: self.take(len, what)?.to_vec(), truncated })
    }
}

/// A group's directory, parsed: row count, and per column its chunk, null count, zone and
/// vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    rows: usize,
    directory_len: usize,
    stream_len: usize,
    columns: Vec<ColumnMeta>,
}

impl Directory {
    /// Parses the directory at the start of `stream_prefix`, which must hold at least
    /// [`directory_len`] bytes (the rest, if any, is not looked at).
    pub fn parse(stream_prefix: &[u8]) -> Result<Directory, GroupError> {
        let directory_len = directory_len(stream_prefix)?;
        let Some(body) = stream_prefix.get(HEADER_LEN..directory_len) else {
            bad!("directory of {directory_len} bytes, {} given", stream_prefix.len())
        };
        let mut cursor = Cursor { bytes: body };
        let rows = cursor.count(MAX_ROWS, "row count")?;
        let column_count = cursor.count(MAX_COLUMNS, "column count")?;
        let vector_count = rows.div_ceil(VECTOR_SIZE);
        let mut columns = Vec::with_capacity(column_count);
        let mut offset = directory_len;
        for c in 0..column_count {
            let code = cursor.u8("column kind")?;
            let Some(kind) = ColumnKind::from_code(code) else { bad!("column {c}: kind {code}") };
            let nulls = cursor.count(rows, "column null count")?;
            let zone = cursor.zone(kind, "column zone")?;
            let chunk_start = offset;
            let mut vectors = Vec::with_capacity(vector_count);
            let (mut vector_nulls, mut vector_zone) = (0, None::<Zone>);
            for v in 0..vector_count {
                let len = cursor.count(u32::MAX as usize, "vector length")?;
                let vector_rows = vector_rows(rows, v);
                let nulls = cursor.count(vector_rows, "vector null count")?;
                let zone = cursor.zone(kind, "vector zone")?;
                if zone.is_some() != (nulls < vector_rows) {
                    bad!("column {c} vector {v}: {nulls} NULLs of {vector_rows} rows, zone {zone:?}")
                }
                let start = offset - chunk_start;
                let Some(end) = offset.checked_add(len) else {
                    bad!("column {c} vector {v}: length overflows")
                };
                offset = end;
                vector_nulls += nulls;
                if let Some(zone) = &zone {
                    vector_zone = Some(
                        vector_zone.map_or_else(|| zone.clone(), |acc| acc.merge(zone).expect("one kind")),
                    );
                }
                vectors.push(VectorMeta { range: start..start + len, rows: vector_rows, nulls, zone });
            }
            if nulls != vector_nulls || zone != vector_zone {
                bad!("column {c}: null count or zone differs from its vectors'")
            }
            columns.push(ColumnMeta { kind, chunk: chunk_start..offset, nulls, zone, vectors });
        }
        if !cursor.bytes.is_empty() {
            bad!("{} bytes after the directory's last column", cursor.bytes.len())
        }
        Ok(Directory { rows, directory_len, stream_len: offset, columns })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn columns(&self) -> usize {
        self.columns.len()
    }

    /// The metadata of column `c`.
    ///
    /// # Panics
    /// When `c >= columns()`.
    pub fn column(&self, c: usize) -> &ColumnMeta {
        &self.columns[c]
    }

    pub fn column_metas(&self) -> &[ColumnMeta] {
        &self.columns
    }

    /// The number of vectors of every chunk.
    pub fn vectors(&self) -> usize {
        self.rows.div_ceil(VECTOR_SIZE)
    }

    pub fn directory_len(&self) -> usize {
        self.directory_len
    }

    /// The length of the whole stream: where the last chunk ends.
    pub fn stream_len(&self) -> usize {
        self.stream_len
    }

    /// The bytes of vector `v` of column `c` within the stream: what a reader fetches (see
    /// [`super::StreamPages`]) to decode it.
    ///
    /// # Panics
    /// When `c >= columns()` or `v >= vectors()`.
    pub fn vector_range(&self, c: usize, v: usize) -> Range<usize> {
        let column = &self.columns[c];
        let range = &column.vectors[v].range;
        column.chunk.start + range.start..column.chunk.start + range.end
    }

    /// Vector `v` of column `c`, after checking both exist and the column is of `kind`.
    fn vector(&self, c: usize, v: usize, kind: ColumnKind) -> Result<&VectorMeta, GroupError> {
        let Some(column) = self.columns.get(c) else { bad!("no column {c} of {}", self.columns.len()) };
        if column.kind != kind {
            bad!("column {c} is {:?}, read as {kind:?}", column.kind)
        }
        let Some(vector) = column.vectors.get(v) else { bad!("no vector {v} of {}", column.vectors.len()) };
        Ok(vector)
    }

    /// Decodes vector `v` of int column `c` from its bytes (`vector_range(c, v)` of the stream),
    /// checking its row and null counts against the directory.
    pub fn decode_int_vector(&self, c: usize, v: usize, bytes: &[u8]) -> Result<IntVector, GroupError> {
        let meta = self.vector(c, v, ColumnKind::Int)?;
        let vector = decode_ints(bytes)?;
        check_counts(meta, vector.values.len(), vector.validity.as_deref())?;
        Ok(vector)
    }

    /// Decodes vector `v` of numeric column `c` from its bytes (`vector_range(c, v)` of the
    /// stream), checking its row and null counts against the directory.
    pub fn decode_numeric_vector(&self, c: usize, v: usize, bytes: &[u8]) -> Result<NumericVector, GroupError> {
        let meta = self.vector(c, v, ColumnKind::Numeric)?;
        let vector = decode_numeric(bytes)?;
        let (rows, validity) = match &vector {
            NumericVector::Scaled { values, .. } => (values.values.len(), values.validity.as_deref()),
            NumericVector::Bytes(v) => (v.rows(), v.validity.as_deref()),
        };
        check_counts(meta, rows, validity)?;
        Ok(vector)
    }

    /// Decodes vector `v` of bytes column `c` from its bytes (`vector_range(c, v)` of the
    /// stream), checking its row and null counts against the directory.
    pub fn decode_bytes_vector(&self, c: usize, v: usize, bytes: &[u8]) -> Result<VarlenaVector, GroupError> {
        let meta = self.vector(c, v, ColumnKind::Bytes)?;
        let vector = decode_varlena(bytes)?;
        check_counts(meta, vector.rows(), vector.validity.as_deref())?;
        Ok(vector)
    }
}

fn check_counts(meta: &VectorMeta, rows: usize, validity: Option<&[u8]>) -> Result<(), GroupError> {
    let nulls = rows - validity.map_or(rows, |bitmap| count_valid(bitmap, rows));
    if rows != meta.rows || nulls != meta.nulls {
        bad!("vector of {rows} rows and {nulls} NULLs, the directory says {} and {}", meta.rows, meta.nulls)
    }
    Ok(())
}

/// The row count in an encoded vector's header (`u8 tag, u16 rows`).
fn header_rows(vector: &[u8]) -> Result<usize, GroupError> {
    match vector.get(1..3) {
        Some(rows) => Ok(u16::from_le_bytes([rows[0], rows[1]]) as usize),
        None => bad!("vector of {} bytes has no header", vector.len()),
    }
}

/// One value read back: bytes are borrowed from the stream where the encoding stores them as
/// they are, owned where it had to decompress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CellValue<'a> {
    Null,
    Int(i64),
    Bytes(Cow<'a, [u8]>),
}

impl CellValue<'_> {
    pub fn as_value(&self) -> Value<'_> {
        match self {
            CellValue::Null => Value::Null,
            CellValue::Int(v) => Value::Int(*v),
            CellValue::Bytes(bytes) => Value::Bytes(bytes),
        }
    }
}

/// A whole group stream in memory: its directory, checked to end where the stream ends, and
/// decoders of its vectors and values.
#[derive(Clone, Debug)]
pub struct GroupReader<'a> {
    stream: &'a [u8],
    directory: Directory,
}

impl<'a> GroupReader<'a> {
    pub fn open(stream: &'a [u8]) -> Result<GroupReader<'a>, GroupError> {
        let directory = Directory::parse(stream)?;
        if directory.stream_len != stream.len() {
            bad!("chunks end at byte {}, the stream has {}", directory.stream_len, stream.len())
        }
        Ok(GroupReader { stream, directory })
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn rows(&self) -> usize {
        self.directory.rows
    }

    pub fn columns(&self) -> usize {
        self.directory.columns()
    }

    /// # Panics
    /// When `c >= columns()`.
    pub fn column(&self, c: usize) -> &ColumnMeta {
        self.directory.column(c)
    }

    /// # Panics
    /// When `c >= columns()` or `v` is not one of its vectors.
    pub fn vector_range(&self, c: usize, v: usize) -> Range<usize> {
        self.directory.vector_range(c, v)
    }

    fn vector_bytes(&self, c: usize, v: usize, kind: ColumnKind) -> Result<&'a [u8], GroupError> {
        self.directory.vector(c, v, kind)?;
        // In bounds: open checked that the chunks end where the stream ends.
        Ok(&self.stream[self.directory.vector_range(c, v)])
    }

    pub fn decode_int_vector(&self, c: usize, v: usize) -> Result<IntVector, GroupError> {
        let bytes = self.vector_bytes(c, v, ColumnKind::Int)?;
        self.directory.decode_int_vector(c, v, bytes)
    }

    pub fn decode_bytes_vector(&self, c: usize, v: usize) -> Result<VarlenaVector, GroupError> {
        let bytes = self.vector_bytes(c, v, ColumnKind::Bytes)?;
        self.directory.decode_bytes_vector(c, v, bytes)
    }

    pub fn decode_numeric_vector(&self, c: usize, v: usize) -> Result<NumericVector, GroupError> {
        let bytes = self.vector_bytes(c, v, ColumnKind::Numeric)?;
        self.directory.decode_numeric_vector(c, v, bytes)
    }

    /// The value of column `c` at `row` (a position: the rank of the row's offset in the
    /// present set), read straight from its encoded vector.
    pub fn value(&self, c: usize, row: usize) -> Result<CellValue<'a>, GroupError> {
        if row >= self.rows() {
            bad!("no row {row} of {}", self.rows())
        }
        let Some(column) = self.directory.columns.get(c) else { bad!("no column {c} of {}", self.columns()) };
        let (v, at) = (row / VECTOR_SIZE, row % VECTOR_SIZE);
        let bytes = self.vector_bytes(c, v, column.kind)?;
        // The encoded vector must have the rows the directory says, or `at` means another row.
        let rows = header_rows(bytes)?;
        if rows != column.vectors[v].rows {
            bad!("vector of {rows} rows, the directory says {}", column.vectors[v].rows)
        }
        Ok(match column.kind {
            ColumnKind::Int => int_value_at(bytes, at)?.map_or(CellValue::Null, CellValue::Int),
            ColumnKind::Bytes => varlena_value_at(bytes, at)?.map_or(CellValue::Null, CellValue::Bytes),
            ColumnKind::Numeric => numeric_value_at(bytes, at)?.map_or(CellValue::Null, CellValue::Bytes),
        })
    }
}
