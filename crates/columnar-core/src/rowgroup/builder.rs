//! Builds a group stream row by row. Each vector is encoded as soon as its rows are in, so the
//! builder holds at most one vector of raw values per column besides the encoded chunks.

use super::{
    BytesBound, ColumnKind, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_COLUMNS, MAX_ROWS, Value,
    ZONE_MAX_TRUNCATED, ZONE_MIN_TRUNCATED, ZONE_PRESENT, Zone, write_varint, zigzag,
};
use crate::encode::validity::from_bools;
use crate::encode::{VECTOR_SIZE, encode_ints, encode_numeric, encode_varlena};

/// The values of the vector being filled.
enum Pending {
    Int(Vec<i64>),
    /// All values' bytes back to back, and where each ends (NULLs are empty).
    Bytes {
        data: Vec<u8>,
        ends: Vec<usize>,
    },
}

/// One encoded vector's directory entry.
struct BuiltVector {
    len: usize,
    nulls: usize,
    zone: Option<Zone>,
}

struct ColumnBuilder {
    kind: ColumnKind,
    pending: Pending,
    valid: Vec<bool>,
    chunk: Vec<u8>,
    vectors: Vec<BuiltVector>,
}

impl ColumnBuilder {
    fn new(kind: ColumnKind) -> ColumnBuilder {
        let pending = match kind {
            ColumnKind::Int => Pending::Int(Vec::with_capacity(VECTOR_SIZE)),
            ColumnKind::Bytes | ColumnKind::Numeric => {
                Pending::Bytes { data: Vec::new(), ends: Vec::with_capacity(VECTOR_SIZE) }
            }
        };
        ColumnBuilder {
            kind,
            pending,
            valid: Vec::with_capacity(VECTOR_SIZE),
            chunk: Vec::new(),
            vectors: Vec::new(),
        }
    }

    fn pending_bytes(&self) -> usize {
        match &self.pending {
            Pending::Int(_) => 0,
            Pending::Bytes { data, .. } => data.len(),
        }
    }

    /// Appends a value already checked to be of the column's kind (or NULL).
    fn push(&mut self, value: &Value) {
        self.valid.push(!matches!(value, Value::Null));
        match (&mut self.pending, value) {
            (Pending::Int(values), Value::Int(v)) => values.push(*v),
            (Pending::Int(values), _) => values.push(0),
            (Pending::Bytes { data, ends }, value) => {
                if let Value::Bytes(bytes) = value {
                    data.extend_from_slice(bytes);
                }
                ends.push(data.len());
            }
        }
    }

    /// Encodes the pending values as one vector and appends it to the chunk.
    fn flush(&mut self) {
        if self.valid.is_empty() {
            return;
        }
        let nulls = self.valid.iter().filter(|&&valid| !valid).count();
        let validity = (nulls > 0).then(|| from_bools(self.valid.iter().copied()));
        let (encoded, zone) = match &mut self.pending {
            Pending::Int(values) => {
                let mut non_null =
                    values.iter().zip(&self.valid).filter(|(_, valid)| **valid).map(|(v, _)| *v);
                let zone = non_null.next().map(|first| {
                    let (min, max) = non_null.fold((first, first), |(min, max), v| (min.min(v), max.max(v)));
                    Zone::Int { min, max }
                });
                let encoded = encode_ints(values, validity.as_deref());
                values.clear();
                (encoded, zone)
            }
            Pending::Bytes { data, ends } => {
                let mut start = 0;
                let slices: Vec<&[u8]> = ends
                    .iter()
                    .map(|&end| {
                        let slice = &data[start..end];
                        start = end;
                        slice
                    })
                    .collect();
                let mut non_null =
                    slices.iter().zip(&self.valid).filter(|(_, valid)| **valid).map(|(v, _)| *v);
                let zone = non_null.next().map(|first| {
                    let (min, max) = non_null.fold((first, first), |(min, max), v| (min.min(v), max.max(v)));
                    Zone::Bytes { min: BytesBound::of(min), max: BytesBound::of(max) }
                });
                let encoded = if self.kind == ColumnKind::Numeric {
                    encode_numeric(&slices, validity.as_deref())
                } else {
                    encode_varlena(&slices, validity.as_deref())
                };
                data.clear();
                ends.clear();
                (encoded, zone)
            }
        };
        self.valid.clear();
        self.chunk.extend_from_slice(&encoded);
        self.vectors.push(BuiltVector { len: encoded.len(), nulls, zone });
    }
}

/// Builds one row group: [`push_row`](Self::push_row) up to [`MAX_ROWS`] rows, then
/// [`finish`](Self::finish) for the stream (directory, then chunks).
pub struct GroupBuilder {
    rows: usize,
    columns: Vec<ColumnBuilder>,
}

impl GroupBuilder {
    /// # Panics
    /// With more than [`MAX_COLUMNS`] columns: a reader would refuse the stream.
    pub fn new(kinds: Vec<ColumnKind>) -> GroupBuilder {
        assert!(kinds.len() <= MAX_COLUMNS, "a row group holds at most {MAX_COLUMNS} columns");
        GroupBuilder { rows: 0, columns: kinds.into_iter().map(ColumnBuilder::new).collect() }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn is_full(&self) -> bool {
        self.rows == MAX_ROWS
    }

    /// Appends one row; on error (group full, wrong arity, a value of the wrong kind) the
    /// builder is unchanged.
    pub fn push_row(&mut self, row: &[Value]) -> Result<(), String> {
        if self.rows >= MAX_ROWS {
            return Err(format!("a row group holds at most {MAX_ROWS} rows"));
        }
        if row.len() != self.columns.len() {
            return Err(format!(
                "row has {} values, the group has {} columns",
                row.len(),
                self.columns.len()
            ));
        }
        for (column, (builder, value)) in self.columns.iter().zip(row).enumerate() {
            match (builder.kind, value) {
                (_, Value::Null) | (ColumnKind::Int, Value::Int(_)) => {}
                // The varlena encoding's offsets are u32: a vector's bytes must stay under 4 GB.
                (ColumnKind::Bytes | ColumnKind::Numeric, Value::Bytes(bytes))
                    if builder.pending_bytes().saturating_add(bytes.len()) <= u32::MAX as usize => {}
                (kind, value) => return Err(format!("column {column} is {kind:?}, got {value:?}")),
            }
        }
        for (builder, value) in self.columns.iter_mut().zip(row) {
            builder.push(value);
        }
        self.rows += 1;
        if self.rows.is_multiple_of(VECTOR_SIZE) {
            self.columns.iter_mut().for_each(ColumnBuilder::flush);
        }
        Ok(())
    }

    /// The group's stream: the directory, then every column's chunk.
    pub fn finish(mut self) -> Vec<u8> {
        self.columns.iter_mut().for_each(ColumnBuilder::flush);
        let mut body = Vec::new();
        write_varint(&mut body, self.rows as u64);
        write_varint(&mut body, self.columns.len() as u64);
        for column in &self.columns {
            body.push(column.kind.code());
            write_varint(&mut body, column.vectors.iter().map(|v| v.nulls as u64).sum());
            let zone =
                column.vectors.iter().filter_map(|v| v.zone.as_ref()).fold(None::<Zone>, |acc, zone| {
                    Some(
                        acc.map_or_else(|| zone.clone(), |acc| acc.merge(zone).expect("one kind per column")),
                    )
                });
            write_zone(&mut body, zone.as_ref());
            for vector in &column.vectors {
                write_varint(&mut body, vector.len as u64);
                write_varint(&mut body, vector.nulls as u64);
                write_zone(&mut body, vector.zone.as_ref());
            }
        }
        let directory_len = HEADER_LEN + body.len();
        let chunks: usize = self.columns.iter().map(|c| c.chunk.len()).sum();
        let mut stream = Vec::with_capacity(directory_len + chunks);
        stream.extend_from_slice(&MAGIC);
        stream.push(FORMAT_VERSION);
        stream.extend_from_slice(&u32::try_from(directory_len).expect("directory under 4 GB").to_le_bytes());
        stream.extend_from_slice(&body);
        for column in &self.columns {
            stream.extend_from_slice(&column.chunk);
        }
        stream
    }
}

fn write_zone(out: &mut Vec<u8>, zone: Option<&Zone>) {
    match zone {
        None => out.push(0),
        Some(Zone::Int { min, max }) => {
            out.push(ZONE_PRESENT);
            write_varint(out, zigzag(*min));
            write_varint(out, zigzag(*max));
        }
        Some(Zone::Bytes { min, max }) => {
            let mut flags = ZONE_PRESENT;
            if min.truncated {
                flags |= ZONE_MIN_TRUNCATED;
            }
            if max.truncated {
                flags |= ZONE_MAX_TRUNCATED;
            }
            out.push(flags);
            for bound in [min, max] {
                out.push(bound.prefix.len() as u8);
                out.extend_from_slice(&bound.prefix);
            }
        }
    }
}
