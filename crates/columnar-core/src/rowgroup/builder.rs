//! Builds a group stream row by row. Each vector is encoded as soon as its rows are in, so the
//! builder holds at most a few vectors of raw values per column besides the encoded chunks.
//! Encoding can run on a thread of the builder's own while the caller fills the next vector.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::{
    BytesBound, ColumnKind, Directory, FORMAT_VERSION, GroupError, HEADER_LEN, MAGIC, MAX_COLUMNS,
    MAX_ROWS, Value, ZONE_MAX_TRUNCATED, ZONE_MIN_TRUNCATED, ZONE_PRESENT, Zone, write_varint, zigzag,
};
use crate::encode::validity::from_bools;
use crate::encode::{VECTOR_SIZE, encode_ints, encode_numeric, encode_varlena};

/// Filled vectors waiting for the encoder thread, besides the one it encodes: past them the
/// caller waits, so a slow encoder bounds the memory held.
const QUEUED_VECTORS: usize = 2;

/// The values of the vector being filled.
enum Pending {
    Int(Vec<i64>),
    /// All values' bytes back to back, and where each ends (NULLs are empty).
    Bytes {
        data: Vec<u8>,
        ends: Vec<usize>,
    },
}

/// One column's vector being filled.
struct Filling {
    kind: ColumnKind,
    pending: Pending,
    valid: Vec<bool>,
}

/// One encoded vector's directory entry.
struct BuiltVector {
    len: usize,
    nulls: usize,
    zone: Option<Zone>,
}

/// One column's encoded vectors.
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    vectors: Vec<BuiltVector>,
}

impl Filling {
    fn new(kind: ColumnKind) -> Filling {
        let pending = match kind {
            ColumnKind::Int => Pending::Int(Vec::with_capacity(VECTOR_SIZE)),
            ColumnKind::Bytes | ColumnKind::Numeric => {
                Pending::Bytes { data: Vec::new(), ends: Vec::with_capacity(VECTOR_SIZE) }
            }
        };
        Filling { kind, pending, valid: Vec::with_capacity(VECTOR_SIZE) }
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

    /// Encodes the values as one vector appended to `chunk`, and empties them.
    fn encode_into(&mut self, chunk: &mut Chunk) {
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
        chunk.bytes.extend_from_slice(&encoded);
        chunk.vectors.push(BuiltVector { len: encoded.len(), nulls, zone });
    }
}

/// Who encodes filled vectors.
enum Encoder {
    /// The caller, as each vector fills.
    Inline(Vec<Chunk>),
    /// A thread of the builder's, fed filled vectors over a bounded channel; it returns the
    /// chunks once the channel closes.
    Thread { filled: SyncSender<Vec<Filling>>, worker: JoinHandle<Vec<Chunk>> },
}

impl Encoder {
    fn thread(columns: usize) -> Option<Encoder> {
        let (filled, vectors) = sync_channel::<Vec<Filling>>(QUEUED_VECTORS);
        let worker = std::thread::Builder::new()
            .name("columnar-encode".into())
            .spawn(move || {
                let mut chunks: Vec<Chunk> = (0..columns).map(|_| Chunk::default()).collect();
                for mut vector in vectors {
                    for (filling, chunk) in vector.iter_mut().zip(&mut chunks) {
                        filling.encode_into(chunk);
                    }
                }
                chunks
            })
            .ok()?;
        Some(Encoder::Thread { filled, worker })
    }

    /// The chunks of every vector handed over, once encoded.
    fn chunks(self) -> Vec<Chunk> {
        match self {
            Encoder::Inline(chunks) => chunks,
            Encoder::Thread { filled, worker } => {
                drop(filled);
                worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }
}

/// Builds one row group: [`push_row`](Self::push_row) up to [`MAX_ROWS`] rows, then
/// [`finish`](Self::finish) for the stream (directory, then chunks).
pub struct GroupBuilder {
    rows: usize,
    columns: Vec<Filling>,
    /// None only once finished.
    encoder: Option<Encoder>,
}

impl GroupBuilder {
    /// # Panics
    /// With more than [`MAX_COLUMNS`] columns: a reader would refuse the stream.
    pub fn new(kinds: Vec<ColumnKind>) -> GroupBuilder {
        assert!(kinds.len() <= MAX_COLUMNS, "a row group holds at most {MAX_COLUMNS} columns");
        let encoder = Encoder::Inline(kinds.iter().map(|_| Chunk::default()).collect());
        GroupBuilder { rows: 0, columns: kinds.into_iter().map(Filling::new).collect(), encoder: Some(encoder) }
    }

    /// A builder whose vectors are encoded on a thread of its own while the caller fills the
    /// next (as [`new`](Self::new) when no thread can be started). The stream is the same.
    /// The thread takes the signal mask of the caller's.
    ///
    /// # Panics
    /// As [`new`](Self::new).
    pub fn with_encoder_thread(kinds: Vec<ColumnKind>) -> GroupBuilder {
        let mut builder = GroupBuilder::new(kinds);
        if let Some(thread) = Encoder::thread(builder.columns.len()) {
            builder.encoder = Some(thread);
        }
        builder
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
        for (column, (filling, value)) in self.columns.iter().zip(row).enumerate() {
            match (filling.kind, value) {
                (_, Value::Null) | (ColumnKind::Int, Value::Int(_)) => {}
                // The varlena encoding's offsets are u32: a vector's bytes must stay under 4 GB.
                (ColumnKind::Bytes | ColumnKind::Numeric, Value::Bytes(bytes))
                    if filling.pending_bytes().saturating_add(bytes.len()) <= u32::MAX as usize => {}
                (kind, value) => return Err(format!("column {column} is {kind:?}, got {value:?}")),
            }
        }
        for (filling, value) in self.columns.iter_mut().zip(row) {
            filling.push(value);
        }
        self.rows += 1;
        if self.rows.is_multiple_of(VECTOR_SIZE) {
            self.flush();
        }
        Ok(())
    }

    /// Hands the vector being filled, if it has rows, to the encoder.
    fn flush(&mut self) {
        if self.columns.first().is_none_or(|c| c.valid.is_empty()) {
            return;
        }
        match self.encoder.as_mut().expect("not finished") {
            Encoder::Inline(chunks) => {
                self.columns.iter_mut().zip(chunks).for_each(|(filling, chunk)| filling.encode_into(chunk));
            }
            Encoder::Thread { filled, .. } => {
                let fresh = self.columns.iter().map(|c| Filling::new(c.kind)).collect();
                if filled.send(std::mem::replace(&mut self.columns, fresh)).is_err() {
                    // The thread is gone: it panicked, and joining it passes its panic on.
                    self.encoder.take().expect("not finished").chunks();
                    unreachable!("an encoder thread that stops early has panicked");
                }
            }
        }
    }

    /// The group's stream: the directory, then every column's chunk.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        let chunks = self.encoder.take().expect("not finished").chunks();
        let mut body = Vec::new();
        write_varint(&mut body, self.rows as u64);
        write_varint(&mut body, self.columns.len() as u64);
        for (column, chunk) in self.columns.iter().zip(&chunks) {
            body.push(column.kind.code());
            write_varint(&mut body, chunk.vectors.iter().map(|v| v.nulls as u64).sum());
            let zone =
                chunk.vectors.iter().filter_map(|v| v.zone.as_ref()).fold(None::<Zone>, |acc, zone| {
                    Some(
                        acc.map_or_else(|| zone.clone(), |acc| acc.merge(zone).expect("one kind per column")),
                    )
                });
            write_zone(&mut body, zone.as_ref());
            for vector in &chunk.vectors {
                write_varint(&mut body, vector.len as u64);
                write_varint(&mut body, vector.nulls as u64);
                write_zone(&mut body, vector.zone.as_ref());
            }
        }
        let directory_len = HEADER_LEN + body.len();
        let total: usize = chunks.iter().map(|c| c.bytes.len()).sum();
        let mut stream = Vec::with_capacity(directory_len + total);
        stream.extend_from_slice(&MAGIC);
        stream.push(FORMAT_VERSION);
        stream.extend_from_slice(&u32::try_from(directory_len).expect("directory under 4 GB").to_le_bytes());
        stream.extend_from_slice(&body);
        for chunk in &chunks {
            stream.extend_from_slice(&chunk.bytes);
        }
        stream
    }
}

impl Drop for GroupBuilder {
    /// A builder dropped unfinished (its rows abandoned) stops its thread before going.
    fn drop(&mut self) {
        if let Some(Encoder::Thread { filled, worker }) = self.encoder.take() {
            drop(filled);
            let _ = worker.join();
        }
    }
}

/// The stream of a group holding the rows of group stream `a`, then those of `b`, without
/// decoding a vector: the same bytes the builder writes for those rows, since each vector is
/// encoded on its own. Needs `a`'s rows to fill whole vectors (so that `b`'s vectors start on a
/// vector boundary) and both to have the same column kinds; None otherwise.
pub fn concat(a: &[u8], b: &[u8]) -> Result<Option<Vec<u8>>, GroupError> {
    let (da, db) = (Directory::parse(a)?, Directory::parse(b)?);
    if da.stream_len() != a.len() || db.stream_len() != b.len() {
        return Err(GroupError::new("a row group stream of another length than its directory says".to_string()));
    }
    let kinds = |d: &Directory| d.column_metas().iter().map(|c| c.kind).collect::<Vec<_>>();
    let rows = da.rows() + db.rows();
    if !da.rows().is_multiple_of(VECTOR_SIZE) || kinds(&da) != kinds(&db) || rows > MAX_ROWS {
        return Ok(None);
    }
    let mut body = Vec::new();
    write_varint(&mut body, rows as u64);
    write_varint(&mut body, da.columns() as u64);
    for (ca, cb) in da.column_metas().iter().zip(db.column_metas()) {
        body.push(ca.kind.code());
        write_varint(&mut body, (ca.nulls + cb.nulls) as u64);
        let zone = match (&ca.zone, &cb.zone) {
            (Some(x), Some(y)) => Some(x.merge(y).expect("one kind per column")),
            (x, y) => x.clone().or_else(|| y.clone()),
        };
        write_zone(&mut body, zone.as_ref());
        for vector in ca.vectors.iter().chain(&cb.vectors) {
            write_varint(&mut body, vector.range.len() as u64);
            write_varint(&mut body, vector.nulls as u64);
            write_zone(&mut body, vector.zone.as_ref());
        }
    }
    let directory_len = HEADER_LEN + body.len();
    let mut stream = Vec::with_capacity(directory_len + a.len() + b.len());
    stream.extend_from_slice(&MAGIC);
    stream.push(FORMAT_VERSION);
    stream.extend_from_slice(&u32::try_from(directory_len).expect("directory under 4 GB").to_le_bytes());
    stream.extend_from_slice(&body);
    for (ca, cb) in da.column_metas().iter().zip(db.column_metas()) {
        stream.extend_from_slice(&a[ca.chunk.clone()]);
        stream.extend_from_slice(&b[cb.chunk.clone()]);
    }
    Ok(Some(stream))
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
