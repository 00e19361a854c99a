//! Row groups as the table sees them: a folded segment's rows, column by column in data pages.
//!
//! A group is immutable once written. Its rows have no header of their own until one is
//! needed: a row without one is described by the *frozen stamp* (inserted by a frozen
//! transaction, never deleted or locked), which is true of every row a fold takes (see
//! `vacuum.rs`), and a row that is deleted, updated or locked first gets its header
//! materialised in the overlay page of its logical block (a delta-format page of headers only,
//! named by the folded segment's table). So every visibility decision is still heap's, on a
//! header: the overlay's or the stamp.
//!
//! Values are stored as the tuple held them: by-value types of 1, 2, 4 or 8 bytes as integers
//! (sign-extended, as `fetch_att` makes their datums), numeric as its datum's bytes in the
//! numeric family (kept as scaled integers where a vector allows), every other type as the
//! bytes of its datum (a varlena with its header, which may be a compressed value or a TOAST
//! pointer to a value chain of the table, a fixed-length value, or a C string with its
//! terminator). A row is handed out as a heap tuple formed from those datums, with the header
//! laid over it.

use super::page::{self, Buf};
use super::tuple::{self, TupleCopy};
use crate::storage::Lock;
use columnar_core::encode::{IntVector, NumericVector, TAG_INT_DELTA, TAG_VARLENA_LZ4, VECTOR_SIZE, VarlenaVector, encoding_of};
use columnar_core::group::{self as format, Group};
use columnar_core::layout::{PageKind, Special};
use columnar_core::rowgroup::{ColumnKind, Directory, GroupBuilder, PresentSet, StreamPages, Value, pages_for};
use columnar_core::segment::{self, Stamp};
use columnar_core::{delta, rownum};
use pgrx::pg_sys;
use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;

/// Decoded vectors a backend keeps (fetches by TID and scans hit the same vectors again).
const VECTOR_CACHE_BYTES: usize = 16 << 20;
/// Rows of one block a reader must want before it decodes their vectors whole rather than
/// reading each value alone (a bitmap scan's exact pages often want one or two).
pub const WHOLE_VECTORS_FROM_ROWS: usize = 16;
/// Vectors remembered as read once by a fetch, the latest: one read again soon after (the
/// next rows of an index scan in the table's order) is decoded and cached. A longer memory
/// would decode vectors that random lookups meet twice, more than the cache keeps.
const TOUCHED_VECTORS: usize = 32;

/// How one column's values are stored.
#[derive(Clone, Copy)]
pub struct Column {
    kind: ColumnKind,
    len: i16,
    dropped: bool,
    not_null: bool,
}

fn columns(rel: pg_sys::Relation) -> Vec<Column> {
    // SAFETY: an open relation; its tuple descriptor has natts attributes.
    unsafe {
        let desc = (*rel).rd_att;
        (0..(*desc).natts as usize)
            .map(|i| {
                let a = crate::compat::attr(desc, i);
                let kind = if a.attbyval && matches!(a.attlen, 1 | 2 | 4 | 8) {
                    ColumnKind::Int
                } else if a.atttypid == pg_sys::NUMERICOID {
                    ColumnKind::Numeric
                } else {
                    ColumnKind::Bytes
                };
                Column { kind, len: a.attlen, dropped: a.attisdropped, not_null: a.attnotnull }
            })
            .collect()
    }
}

/// The stored form of one datum of `col`.
///
/// # Safety
/// `d` is a valid datum of the column's type (a pointer to its bytes when not by value).
unsafe fn value_of<'a>(col: &Column, d: pg_sys::Datum) -> Value<'a> {
    // SAFETY: per the contract; the bytes live as long as the tuple the datum came from, which
    // outlives the builder's copy (push_row copies).
    unsafe {
        match (col.kind, col.len) {
            (ColumnKind::Int, 1) => Value::Int(d.value() as i8 as i64),
            (ColumnKind::Int, 2) => Value::Int(d.value() as i16 as i64),
            (ColumnKind::Int, 4) => Value::Int(d.value() as i32 as i64),
            (ColumnKind::Int, _) => Value::Int(d.value() as i64),
            (ColumnKind::Bytes | ColumnKind::Numeric, -1) => {
                let p = d.cast_mut_ptr::<pg_sys::varlena>();
                Value::Bytes(std::slice::from_raw_parts(p as *const u8, pgrx::varlena::varsize_any(p)))
            }
            (ColumnKind::Bytes, -2) => {
                let p = d.cast_mut_ptr::<std::ffi::c_char>();
                Value::Bytes(std::ffi::CStr::from_ptr(p).to_bytes_with_nul())
            }
            (_, n) => Value::Bytes(std::slice::from_raw_parts(d.cast_mut_ptr::<u8>(), n as usize)),
        }
    }
}

/// A decoded vector of one column.
pub enum Decoded {
    Int(IntVector),
    Bytes(VarlenaVector),
    /// Numerics as integers scaled by 10^scale, and their datums' bytes once a row needs them.
    Scaled { values: IntVector, scale: u16, datums: OnceCell<VarlenaVector> },
}

/// Bytes a scaled numeric's datum takes at most (varlena header, numeric header, six
/// base-10000 digits) and its offset: what the cache counts for the datums a scaled vector may
/// write.
const SCALED_DATUM_BYTES: usize = 15 + 4;

impl Decoded {
    fn of_numeric(vector: NumericVector) -> Decoded {
        match vector {
            NumericVector::Scaled { values, scale } => Decoded::Scaled { values, scale, datums: OnceCell::new() },
            NumericVector::Bytes(v) => Decoded::Bytes(v),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Decoded::Int(v) => v.values.len() * 8,
            Decoded::Bytes(v) => v.bytes.len() + v.offsets.len() * 4,
            Decoded::Scaled { values, .. } => values.values.len() * (8 + SCALED_DATUM_BYTES),
        }
    }

    /// Row `i` of a scaled numeric vector whose datums are not written yet (`Some(None)` for
    /// NULL, else its integer and scale): writing one row's datum costs a vector's worth less
    /// when few rows are read. None for any other vector.
    pub fn unwritten_scaled(&self, i: usize) -> Option<Option<(i64, u16)>> {
        let Decoded::Scaled { values, scale, datums } = self else { return None };
        if datums.get().is_some() {
            return None;
        }
        let valid = values.validity.as_deref().is_none_or(|b| columnar_core::encode::validity::is_valid(b, i));
        Some(valid.then(|| (values.values[i], *scale)))
    }

    /// The datum of row `i` (None for NULL); a by-reference datum points into the vector.
    pub fn datum(&self, i: usize) -> Option<pg_sys::Datum> {
        match self {
            Decoded::Int(v) => {
                let valid = v.validity.as_deref().is_none_or(|b| columnar_core::encode::validity::is_valid(b, i));
                valid.then(|| pg_sys::Datum::from(v.values[i] as usize))
            }
            Decoded::Bytes(v) => v.value(i).map(|b| pg_sys::Datum::from(b.as_ptr())),
            Decoded::Scaled { values, scale, datums } => {
                datums.get_or_init(|| columnar_core::encode::numeric::scaled_datums(values, *scale)).value(i).map(|b| pg_sys::Datum::from(b.as_ptr()))
            }
        }
    }
}

/// Row `i` of a decoded vector for a fetch of one row: a scaled numeric vector whose datums
/// are not written yet writes only this row's (writing all of them costs a vector's worth).
fn one_cell(d: Rc<Decoded>, i: usize) -> (Option<pg_sys::Datum>, Kept) {
    match d.unwritten_scaled(i) {
        Some(None) => (None, Kept::Nothing),
        Some(Some((value, scale))) => {
            let out = scaled_datum(value, scale);
            (Some(pg_sys::Datum::from(out.as_ptr())), Kept::Bytes(out))
        }
        None => (d.datum(i), Kept::Vector(d)),
    }
}

/// The datum bytes of the numeric `value / 10^scale`.
pub fn scaled_datum(value: i64, scale: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(SCALED_DATUM_BYTES);
    columnar_core::numeric::write_short(&mut out, value, scale).expect("a scale a vector holds");
    out
}

/// What a datum handed to heap_form_tuple points into, kept (not read) until the tuple is
/// formed.
#[allow(dead_code)]
enum Kept {
    Nothing,
    Vector(Rc<Decoded>),
    Bytes(Vec<u8>),
}

/// The columns a formed row must carry. The others hold NULL, or in a NOT NULL column a
/// placeholder of the type's shape (JIT-compiled deforming trusts NOT NULL and skips the null
/// bitmap): nobody reads them, since the plan node that fetches the row reads only the
/// columns it names (see `scan_setup.rs`).
#[derive(Clone, Copy)]
pub enum Columns<'a> {
    All,
    /// Indexed by attribute number - 1.
    Only(&'a [bool]),
    /// Only the header is read (visibility checks).
    Header,
}

impl Columns<'_> {
    fn wants(&self, c: usize) -> bool {
        match self {
            Columns::All => true,
            Columns::Only(w) => w.get(c).copied().unwrap_or(true),
            Columns::Header => false,
        }
    }
}

/// A placeholder datum of column `col`'s shape: zero for by-value types, an empty varlena, an
/// empty C string, or `zeros` (at least `col.len` zero bytes) for fixed-length types.
fn placeholder(col: &Column, zeros: &[u8]) -> pg_sys::Datum {
    /// A one-byte varlena holding nothing (the short header of length 1).
    static EMPTY_VARLENA: [u8; 1] = [if cfg!(target_endian = "little") { 0x03 } else { 0x81 }];
    match (col.kind, col.len) {
        (ColumnKind::Int, _) => pg_sys::Datum::from(0usize),
        (_, -1) => pg_sys::Datum::from(EMPTY_VARLENA.as_ptr()),
        (_, -2) => pg_sys::Datum::from(c"".as_ptr()),
        _ => pg_sys::Datum::from(zeros.as_ptr()),
    }
}

/// A row group as a reader needs it: its description, present set and directory.
pub struct Loaded {
    pub group: Group,
    present: PresentSet,
    directory: Directory,
    /// Where the row-group stream starts within the group's stream (after the present set).
    base: usize,
}

type RelKey = (u32, u32, u32);
/// The caches are probed for every value a fetch reads: a fast hash, not SipHash.
type Hasher = foldhash::fast::RandomState;
/// A vector: its relation, its group's whole description, column and vector. A rewrite or a
/// merge by VACUUM gives a range a group of other vectors under the same first block, and a
/// backend inside a transaction does not take VACUUM's relcache invalidation: the description
/// (rows, stream length, data pages) tells the groups apart. Two that agree in all of it hold
/// the same rows encoded the same way (encoding is deterministic), so the same vectors.
type VectorKey = (RelKey, Group, usize, usize);

/// Groups are cached by their first logical block (their identity; their data may move).
#[derive(Default)]
struct Caches {
    groups: HashMap<(RelKey, u32), Rc<Loaded>, Hasher>,
    vectors: HashMap<VectorKey, Rc<Decoded>, Hasher>,
    order: VecDeque<VectorKey>,
    bytes: usize,
    /// Vectors a fetch read one value of without decoding them, the oldest first.
    touched: HashSet<VectorKey, Hasher>,
    touched_order: VecDeque<VectorKey>,
}

impl Caches {
    /// Whether vector `k` was read before without being decoded; remembers it.
    fn touch(&mut self, k: VectorKey) -> bool {
        if self.touched.contains(&k) {
            return true;
        }
        self.touched.insert(k);
        self.touched_order.push_back(k);
        if self.touched_order.len() > TOUCHED_VECTORS {
            let old = self.touched_order.pop_front().expect("not empty");
            self.touched.remove(&old);
        }
        false
    }
}

thread_local! {
    static CACHES: RefCell<Caches> = RefCell::new(Caches::default());
}

fn key(rel: pg_sys::Relation) -> RelKey {
    // SAFETY: an open relation.
    unsafe { crate::compat::rel_file_key(rel) }
}

/// Forgets every cached group and vector (a relation file may have been replaced).
pub fn forget_all() {
    CACHES.with(|c| *c.borrow_mut() = Caches::default());
}

/// The description of the group whose range starts at logical block `first_block`, as its
/// segment page says now.
fn current(rel: pg_sys::Relation, first_block: u32) -> Option<Group> {
    let sb = super::store::segment_page(rel, first_block, Lock::Share)?;
    let c = sb.content_of(PageKind::Segment);
    (segment::state(c) == segment::State::Folded).then(|| segment::group(c))
}

/// Bytes `range` of the stream of group `g`, read from its data pages (where `g` says they
/// are, or, if VACUUM moved them since, where the group's segment page says now).
pub fn read_stream(rel: pg_sys::Relation, g: &Group, range: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(range.len());
    check_range(rel, g, &range);
    for (k, within) in StreamPages::new(range.clone()) {
        let b = match data_page(rel, g, k) {
            Ok(b) => b,
            Err(found) => return read_stream(rel, &moved(rel, g, k, found), range),
        };
        out.extend_from_slice(&b.content_of(PageKind::Data)[within]);
    }
    out
}

/// `f` of the bytes `range` of group `g`'s stream (a vector) that one row's value is read
/// from: read in place, the page share-locked meanwhile, when they lie in one data page (a
/// vector mostly does). Else from a copy: of only the ranges `needed(head, len)` names given
/// the vector's first bytes (zeros elsewhere), or of all of it when it names none.
fn with_row_bytes<T>(rel: pg_sys::Relation, g: &Group, range: std::ops::Range<usize>, needed: Option<impl Fn(&[u8], usize) -> Option<[std::ops::Range<usize>; 2]>>, f: impl FnOnce(&[u8]) -> T) -> T {
    check_range(rel, g, &range);
    let mut pages = StreamPages::new(range.clone());
    if let (Some((k, within)), None) = (pages.next(), pages.next()) {
        if let Ok(b) = data_page(rel, g, k) {
            return f(&b.content_of(PageKind::Data)[within]);
        }
    }
    let len = range.len();
    if let Some(needed) = needed {
        let head = read_stream(rel, g, range.start..range.start + len.min(columnar_core::encode::HEAD_BYTES));
        if let Some(parts) = needed(&head, len) {
            let mut bytes = vec![0u8; len];
            for part in parts.into_iter().filter(|p| !p.is_empty()) {
                let copy = if part.end <= head.len() { head[part.clone()].to_vec() } else { read_stream(rel, g, range.start + part.start..range.start + part.end) };
                bytes[part].copy_from_slice(&copy);
            }
            return f(&bytes);
        }
    }
    f(&read_stream(rel, g, range))
}

fn check_range(rel: pg_sys::Relation, g: &Group, range: &std::ops::Range<usize>) {
    if range.end > g.stream_len as usize {
        crate::error::corrupted_page::<page::ColumnarPages>(rel, g.data_first, &format!("row group stream of {} bytes read up to {}", g.stream_len, range.end));
    }
}

/// Data page `k` of group `g`, share-locked, if it is where `g` says; else what the page is.
fn data_page(rel: pg_sys::Relation, g: &Group, k: usize) -> Result<Buf, Option<Special>> {
    let b = Buf::read_remembered(rel, g.data_first + k as u32, Lock::Share);
    let s = (!b.is_new()).then(|| Special::read(b.special())).flatten();
    match s {
        Some(s) if s.kind == PageKind::Data && s.owner == g.first_block && s.seq == k as u32 => Ok(b),
        _ => Err(s),
    }
}

/// Where group `g` is now, its data pages moved by VACUUM since `g` was read: data page `k`
/// was `found` instead, which is corruption unless the group moved.
fn moved(rel: pg_sys::Relation, g: &Group, k: usize, found: Option<Special>) -> Group {
    current(rel, g.first_block).filter(|now| now.data_first != g.data_first && now.stream_len == g.stream_len).unwrap_or_else(|| {
        crate::error::corrupted_page::<page::ColumnarPages>(rel, g.data_first + k as u32, &format!("data page {k} of the row group from logical block {} belongs to {found:?}", g.first_block))
    })
}

/// The group a folded segment's page (locked by the caller) describes; cached, and read again
/// when VACUUM moved its data.
pub fn load(rel: pg_sys::Relation, sb: &Buf) -> Rc<Loaded> {
    let group = segment::group(sb.content_of(PageKind::Segment));
    let k = (key(rel), group.first_block);
    if let Some(l) = CACHES.with(|c| c.borrow().groups.get(&k).cloned()).filter(|l| l.group == group) {
        return l;
    }
    let corrupt = |why: &str| -> ! { sb.corrupted(why) };
    let head = read_stream(rel, &group, 0..4.min(group.stream_len as usize));
    let present_len = head.get(..4).map_or(0, |h| u32::from_le_bytes(h.try_into().unwrap()) as usize);
    let prefix_len = 4 + present_len + columnar_core::rowgroup::HEADER_LEN;
    let prefix = read_stream(rel, &group, 0..prefix_len.min(group.stream_len as usize));
    let dir_len = columnar_core::rowgroup::directory_len(prefix.get(4 + present_len..).unwrap_or(&[])).unwrap_or_else(|e| corrupt(e.message()));
    let whole = read_stream(rel, &group, 0..(4 + present_len + dir_len).min(group.stream_len as usize));
    let (present, rg) = format::split(&whole, group.rows, group.blocks).unwrap_or_else(|e| corrupt(e.message()));
    let directory = Directory::parse(rg).unwrap_or_else(|e| corrupt(e.message()));
    if directory.rows() != group.rows as usize || 4 + present_len + directory.stream_len() != group.stream_len as usize {
        corrupt("the row group's directory disagrees with its description");
    }
    let l = Rc::new(Loaded { group, present, directory, base: 4 + present_len });
    CACHES.with(|c| c.borrow_mut().groups.insert(k, l.clone()));
    l
}

/// The group whose range starts at logical block `first_block`, if its data pages include
/// `data_page` (a crash or an error in the middle of a fold can leave data pages no group names).
pub fn group_with_page(rel: pg_sys::Relation, first_block: u32, data_page: u32) -> Option<Group> {
    current(rel, first_block).filter(|g| g.data_blocks().contains(&data_page))
}

impl Loaded {
    /// The position of the row in `slot` of logical block `block`, if the group has that row.
    pub fn position(&self, block: u32, slot: usize) -> Option<usize> {
        let offset = (block.checked_sub(self.group.first_block)? as u64 * rownum::ROWS_PER_BLOCK + slot as u64) as u32;
        self.present.position_of(offset).map(|p| p as usize)
    }

    /// The rows of logical block `block`: (slot, position), in slot order.
    pub fn rows_of(&self, block: u32) -> Vec<(usize, usize)> {
        self.rows_in(block..block + 1).map(|(_, slot, position)| (slot, position)).collect()
    }

    /// The rows of logical blocks `blocks` (within the group's range): (block, slot, position),
    /// in row-number order.
    pub fn rows_in(&self, blocks: std::ops::Range<u32>) -> impl Iterator<Item = (u32, usize, usize)> + '_ {
        let per_block = rownum::ROWS_PER_BLOCK as u32;
        let offsets = (blocks.start - self.group.first_block) * per_block..(blocks.end - self.group.first_block) * per_block;
        self.present.positions_in(offsets).map(move |(o, p)| (self.group.first_block + o / per_block, (o % per_block) as usize, p as usize))
    }

    /// Columns the group stores (columns added to the table since read as missing).
    /// The directory entry of vector `v` of stored column `c`.
    pub fn vector_meta(&self, c: usize, v: usize) -> &columnar_core::rowgroup::VectorMeta {
        &self.directory.column(c).vectors[v]
    }

    pub fn stored_columns(&self) -> usize {
        self.directory.columns()
    }

    fn decode(&self, rel: pg_sys::Relation, c: usize, v: usize) -> Result<Decoded, columnar_core::rowgroup::GroupError> {
        let r = self.directory.vector_range(c, v);
        self.decode_bytes(c, v, &read_stream(rel, &self.group, self.base + r.start..self.base + r.end))
    }

    /// Vector `v` of column `c` decoded from its `bytes`.
    fn decode_bytes(&self, c: usize, v: usize, bytes: &[u8]) -> Result<Decoded, columnar_core::rowgroup::GroupError> {
        match self.directory.column(c).kind {
            ColumnKind::Int => self.directory.decode_int_vector(c, v, bytes).map(Decoded::Int),
            ColumnKind::Bytes => self.directory.decode_bytes_vector(c, v, bytes).map(Decoded::Bytes),
            ColumnKind::Numeric => self.directory.decode_numeric_vector(c, v, bytes).map(Decoded::of_numeric),
        }
    }

    /// The table's columns, each checked to be stored as its type requires.
    pub fn checked_columns(&self, rel: pg_sys::Relation) -> Vec<Column> {
        let cols = columns(rel);
        for (c, col) in cols.iter().enumerate().take(self.directory.columns()) {
            if !col.dropped && self.directory.column(c).kind != col.kind {
                crate::error::corrupted_page::<page::ColumnarPages>(rel, self.group.data_first, &format!("column {} is stored as {:?}", c + 1, self.directory.column(c).kind));
            }
        }
        cols
    }

    /// What the directory says of stored column `c`: its kind, chunk bytes and NULLs, and the
    /// encoding of each vector (the first byte of each, read from the data pages).
    pub fn column_stats(&self, rel: pg_sys::Relation, c: usize) -> (ColumnKind, usize, usize, Vec<u8>) {
        let column = self.directory.column(c);
        let tags = (0..column.vectors.len())
            .map(|v| {
                let r = self.directory.vector_range(c, v);
                let first = read_stream(rel, &self.group, self.base + r.start..self.base + r.start + 1);
                first[0] & !columnar_core::encode::HAS_VALIDITY
            })
            .collect();
        (column.kind, column.chunk.len(), column.nulls, tags)
    }

    /// Decodes every vector of every column (columnar_check): the first failure.
    pub fn check(&self, rel: pg_sys::Relation) -> Result<(), String> {
        for c in 0..self.directory.columns() {
            for v in 0..self.directory.vectors() {
                self.decode(rel, c, v).map_err(|e| format!("column {} vector {v}: {}", c + 1, e.message()))?;
            }
        }
        Ok(())
    }

    /// Vector `v` of column `c`, decoded (and cached).
    pub fn vector(&self, rel: pg_sys::Relation, c: usize, v: usize) -> Rc<Decoded> {
        let k = (key(rel), self.group, c, v);
        if let Some(d) = CACHES.with(|cache| cache.borrow().vectors.get(&k).cloned()) {
            return d;
        }
        let d = self.decode(rel, c, v).unwrap_or_else(|e| crate::error::corrupted_page::<page::ColumnarPages>(rel, self.group.data_first, e.message()));
        cache_vector(k, d)
    }

    /// The value of row `i` of vector `v` of column `c`, without decoding the vector when it
    /// is not cached and one value can be read alone (a fetch by TID reads one row): the datum,
    /// and what it points into. A vector whose values cannot (lz4, delta) is decoded and
    /// cached: the rows a fetch reads next are often in it.
    fn cell(&self, rel: pg_sys::Relation, c: usize, v: usize, i: usize) -> (Option<pg_sys::Datum>, Kept) {
        let k = (key(rel), self.group, c, v);
        if let Some(d) = CACHES.with(|cache| cache.borrow().vectors.get(&k).cloned()) {
            return one_cell(d, i);
        }
        // A vector read again soon (an index scan in the table's order, a join probing the
        // rows of one order) is decoded and kept; one read once (a point lookup) is not.
        if CACHES.with(|cache| cache.borrow_mut().touch(k)) {
            return one_cell(self.vector(rel, c, v), i);
        }
        let r = self.directory.vector_range(c, v);
        let corrupt = |e: columnar_core::encode::DecodeError| -> ! {
            crate::error::corrupted_page::<page::ColumnarPages>(rel, self.group.data_first, &format!("column {} vector {v}: {}", c + 1, e.message()))
        };
        // Of a vector split over data pages, only the header and the row's value are copied.
        let ranges: Option<fn(&[u8], usize, usize) -> Option<[std::ops::Range<usize>; 2]>> = match self.directory.column(c).kind {
            ColumnKind::Int => Some(columnar_core::encode::int_value_ranges),
            ColumnKind::Numeric => Some(columnar_core::encode::numeric_value_ranges),
            ColumnKind::Bytes => None,
        };
        let read = with_row_bytes(rel, &self.group, self.base + r.start..self.base + r.end, ranges.map(|f| move |head: &[u8], len| f(head, len, i)), |bytes| {
            if matches!(encoding_of(bytes), Ok(TAG_VARLENA_LZ4 | TAG_INT_DELTA)) {
                return Err(self.decode_bytes(c, v, bytes).unwrap_or_else(|e| crate::error::corrupted_page::<page::ColumnarPages>(rel, self.group.data_first, e.message())));
            }
            Ok(match self.directory.column(c).kind {
                ColumnKind::Int => {
                    let value = columnar_core::encode::int_value_at(bytes, i).unwrap_or_else(|e| corrupt(e));
                    (value.map(|x| pg_sys::Datum::from(x as usize)), Kept::Nothing)
                }
                kind => {
                    let value_at = if kind == ColumnKind::Numeric { columnar_core::encode::numeric_value_at } else { columnar_core::encode::varlena_value_at };
                    match value_at(bytes, i).unwrap_or_else(|e| corrupt(e)) {
                        Some(value) => {
                            let owned = value.into_owned();
                            (Some(pg_sys::Datum::from(owned.as_ptr())), Kept::Bytes(owned))
                        }
                        None => (None, Kept::Nothing),
                    }
                }
            })
        });
        read.unwrap_or_else(|d| one_cell(cache_vector(k, d), i))
    }
    /// The row at `position` as a heap tuple in `cxt`, named `tid`, with `header` (a stored
    /// header: the overlay's, or the frozen stamp) laid over it, carrying `columns`. A fetch
    /// by TID takes the one value of each column it needs; a scan forms its rows with a
    /// [`RowFormer`].
    pub fn form_row(&self, rel: pg_sys::Relation, position: usize, header: &[u8], tid: pg_sys::ItemPointerData, cxt: pg_sys::MemoryContext, columns: Columns) -> TupleCopy {
        self.former(rel, false, columns).form(rel, position, header, tid, cxt)
    }

    /// Forms rows of this group carrying `columns`; with `whole_vectors` (a scan, reading rows
    /// in order) it decodes and keeps the vectors the rows are in.
    pub fn former<'a>(&'a self, rel: pg_sys::Relation, whole_vectors: bool, columns: Columns<'a>) -> RowFormer<'a> {
        let cols = self.checked_columns(rel);
        let n = cols.len();
        let zeros = vec![0u8; cols.iter().enumerate().filter(|&(c, _)| !columns.wants(c)).map(|(_, col)| col.len.max(0) as usize).max().unwrap_or(0)];
        RowFormer { group: self, cols, columns, zeros, whole_vectors, v: usize::MAX, vectors: Vec::new(), values: vec![pg_sys::Datum::from(0); n], nulls: vec![true; n] }
    }
}

/// Forms heap tuples from a group's rows (see [`Loaded::former`]).
pub struct RowFormer<'a> {
    group: &'a Loaded,
    cols: Vec<Column>,
    columns: Columns<'a>,
    /// What fixed-length placeholders point to.
    zeros: Vec<u8>,
    whole_vectors: bool,
    /// The vector index whose vectors `vectors` holds (one per stored column, None if dropped).
    v: usize,
    vectors: Vec<Option<Rc<Decoded>>>,
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
}

impl RowFormer<'_> {
    pub fn form(&mut self, rel: pg_sys::Relation, position: usize, header: &[u8], tid: pg_sys::ItemPointerData, cxt: pg_sys::MemoryContext) -> TupleCopy {
        let (v, i) = (position / VECTOR_SIZE, position % VECTOR_SIZE);
        let g = self.group;
        let stored = g.directory.columns().min(self.cols.len());
        if self.whole_vectors && v != self.v {
            self.vectors = (0..stored).map(|c| (!self.cols[c].dropped && self.columns.wants(c)).then(|| g.vector(rel, c, v))).collect();
            self.v = v;
        }
        self.nulls.fill(true);
        let mut keep = Vec::new();
        for c in 0..stored {
            if self.cols[c].dropped {
                continue;
            }
            if !self.columns.wants(c) {
                if self.cols[c].not_null {
                    self.values[c] = placeholder(&self.cols[c], &self.zeros);
                    self.nulls[c] = false;
                }
                continue;
            }
            let datum = if self.whole_vectors {
                self.vectors[c].as_ref().expect("read above").datum(i)
            } else {
                let (datum, kept) = g.cell(rel, c, v, i);
                keep.push(kept);
                datum
            };
            if let Some(datum) = datum {
                self.values[c] = datum;
                self.nulls[c] = false;
            }
        }
        // SAFETY: the datums point into vectors or bytes kept alive until the tuple is formed
        // (which copies them); the tuple is formed in `cxt`.
        unsafe {
            let old = pg_sys::MemoryContextSwitchTo(cxt);
            let formed = pg_sys::heap_form_tuple((*rel).rd_att, self.values.as_mut_ptr(), self.nulls.as_mut_ptr());
            pg_sys::MemoryContextSwitchTo(old);
            drop(keep);
            let h = &mut *(*formed).t_data;
            // Columns added after the group was written read as missing (their defaults).
            if stored < self.cols.len() {
                h.t_infomask2 = (h.t_infomask2 & !(pg_sys::HEAP_NATTS_MASK as u16)) | stored as u16;
            }
            lay_header(h, header);
            (*formed).t_self = tid;
            (*formed).t_tableOid = (*rel).rd_id;
            TupleCopy(formed)
        }
    }
}

/// Lays a stored header's transaction fields (xmin to infomask) over a formed tuple's header,
/// keeping the formed tuple's own layout bits (nulls, varwidth, external, attribute count).
pub fn lay_header(h: &mut pg_sys::HeapTupleHeaderData, header: &[u8]) {
    const LAYOUT: u16 = (pg_sys::HEAP_HASNULL | pg_sys::HEAP_HASVARWIDTH | pg_sys::HEAP_HASEXTERNAL | pg_sys::HEAP_HASOID_OLD) as u16;
    let formed = (h.t_infomask & LAYOUT, h.t_infomask2 & pg_sys::HEAP_NATTS_MASK as u16, h.t_hoff);
    // SAFETY: HeapTupleHeaderData is plain bytes; `header` holds at least its transaction
    // fields (up to t_hoff).
    unsafe {
        let dst = std::slice::from_raw_parts_mut(h as *mut _ as *mut u8, tuple::XACT_FIELDS.end);
        dst.copy_from_slice(&header[..tuple::XACT_FIELDS.end]);
    }
    h.t_infomask = (h.t_infomask & !LAYOUT) | formed.0;
    h.t_infomask2 = (h.t_infomask2 & !(pg_sys::HEAP_NATTS_MASK as u16)) | formed.1;
    h.t_hoff = formed.2;
}

/// The header of a group row that has none of its own: its segment's `stamp` (inserted by
/// the stamp's transaction and command; with no stamp, by a frozen transaction), never deleted
/// or locked, its ctid its own TID. As stored in an overlay: no attributes.
pub fn stamp_header(stamp: Option<Stamp>, tid: &pg_sys::ItemPointerData) -> [u8; delta::MIN_TUPLE] {
    let mut h: pg_sys::HeapTupleHeaderData = unsafe {
        // SAFETY: all-zero bytes are a valid HeapTupleHeaderData (plain integers and unions).
        std::mem::zeroed()
    };
    match stamp {
        Some(stamp) => {
            h.t_choice.t_heap.t_xmin = tuple::xid(stamp.xmin);
            h.t_choice.t_heap.t_field3.t_cid = stamp.cid;
            h.t_infomask = stamp.infomask;
        }
        None => {
            h.t_choice.t_heap.t_xmin = pg_sys::FrozenTransactionId;
            h.t_infomask = (pg_sys::HEAP_XMIN_FROZEN | pg_sys::HEAP_XMAX_INVALID) as u16;
        }
    }
    h.t_ctid = *tid;
    h.t_hoff = delta::MIN_TUPLE as u8;
    let mut out = [0u8; delta::MIN_TUPLE];
    // SAFETY: the header is tuple::HEADER_SIZE (23) plain bytes, within the 24 copied into.
    out[..tuple::HEADER_SIZE].copy_from_slice(unsafe { std::slice::from_raw_parts(&h as *const _ as *const u8, tuple::HEADER_SIZE) });
    out
}

/// A row of NULLs in `cxt`, named `tid`, with `header` laid over it.
pub fn placeholder_row(rel: pg_sys::Relation, header: &[u8], tid: pg_sys::ItemPointerData, cxt: pg_sys::MemoryContext) -> TupleCopy {
    // SAFETY: an open relation; the tuple is formed in `cxt` from NULLs only.
    unsafe {
        let n = (*(*rel).rd_att).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0); n];
        let mut nulls = vec![true; n];
        let old = pg_sys::MemoryContextSwitchTo(cxt);
        let formed = pg_sys::heap_form_tuple((*rel).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
        pg_sys::MemoryContextSwitchTo(old);
        lay_header(&mut *(*formed).t_data, header);
        (*formed).t_self = tid;
        (*formed).t_tableOid = (*rel).rd_id;
        TupleCopy(formed)
    }
}

/// The stamp of the segment whose page `seg` is (locked by the caller).
pub fn stamp_of(seg: &Buf) -> Option<Stamp> {
    segment::stamp(seg.content_of(PageKind::Segment))
}

/// Collects rows, in row-number order, into a group stream: the rows of a segment being
/// folded, or a write buffer's.
pub struct Fold {
    cols: Vec<Column>,
    builder: GroupBuilder,
    offsets: Vec<u32>,
    first_block: u32,
    /// For `push`, made on its first call (a write buffer pushes datums and needs none).
    slot: Option<*mut pg_sys::TupleTableSlot>,
    desc: pg_sys::TupleDesc,
}

impl Fold {
    /// A fold whose vectors are encoded, as they fill, on a thread of its own while the caller
    /// fills the next (`omendb.columnar_encoder_thread`), or on the caller's thread.
    pub fn new(rel: pg_sys::Relation, first_block: u32) -> Fold {
        let cols = columns(rel);
        let kinds = cols.iter().map(|c| c.kind).collect();
        let builder = if super::bulk::ENCODER_THREAD.get() {
            let _blocked = SignalsBlocked::new();
            GroupBuilder::with_encoder_thread(kinds)
        } else {
            GroupBuilder::new(kinds)
        };
        // SAFETY: an open relation.
        let desc = unsafe { (*rel).rd_att };
        Fold { cols, builder, offsets: Vec::new(), first_block, slot: None, desc }
    }

    /// Adds a row (a whole heap tuple of the table) at `block`, `slot`.
    pub fn push(&mut self, t: &TupleCopy, block: u32, slot: usize) {
        // SAFETY: the relation (and its descriptor) stays open while the fold runs; the slot
        // is dropped in Drop.
        let s = *self.slot.get_or_insert_with(|| unsafe { pg_sys::MakeSingleTupleTableSlot(self.desc, &pg_sys::TTSOpsHeapTuple) });
        // SAFETY: a valid tuple of the relation's descriptor; slot_getallattrs fills every
        // attribute (missing ones with their defaults), whose by-reference datums point into
        // the tuple, alive until the slot is cleared below.
        unsafe {
            pg_sys::ExecStoreHeapTuple(t.0, s, false);
            pg_sys::slot_getallattrs(s);
            let n = self.cols.len();
            self.push_datums(std::slice::from_raw_parts((*s).tts_values, n), std::slice::from_raw_parts((*s).tts_isnull, n), block, slot);
            pg_sys::ExecClearTuple(s);
        }
    }

    /// Adds a row given as one datum per column of the table, at `block`, `slot`.
    ///
    /// # Safety
    /// `values` and `nulls` have an entry per column; every non-null datum is a valid datum of
    /// its column's type, in its stored form (no expanded or external value but a TOAST pointer
    /// to a value chain of this table).
    pub unsafe fn push_datums(&mut self, values: &[pg_sys::Datum], nulls: &[bool], block: u32, slot: usize) {
        // SAFETY: per the contract; push_row copies the bytes.
        let row: Vec<Value> = self.cols.iter().enumerate().map(|(c, col)| if col.dropped || nulls[c] { Value::Null } else { unsafe { value_of(col, values[c]) } }).collect();
        self.builder.push_row(&row).unwrap_or_else(|why| pgrx::error!("adding a row to a row group: {why}"));
        self.offsets.push(((block - self.first_block) as u64 * rownum::ROWS_PER_BLOCK + slot as u64) as u32);
    }

    pub fn rows(&self) -> usize {
        self.offsets.len()
    }

    /// The group's stream.
    pub fn finish(mut self) -> Vec<u8> {
        let present = PresentSet::from_offsets(std::mem::take(&mut self.offsets)).expect("offsets of one segment, in order");
        let builder = std::mem::replace(&mut self.builder, GroupBuilder::new(Vec::new()));
        format::compose(&present, &builder.finish())
    }
}

impl Drop for Fold {
    fn drop(&mut self) {
        if let Some(s) = self.slot {
            // SAFETY: made in `push`, dropped once.
            unsafe { pg_sys::ExecDropSingleTupleTableSlot(s) };
        }
    }
}

/// Every signal blocked in this thread while it lives, so that a thread started meanwhile
/// inherits a mask that keeps PostgreSQL's signal handlers on the backend's own thread (they
/// set the backend's flags and latch; a signal arriving meanwhile waits and is then handled).
struct SignalsBlocked(libc::sigset_t);

impl SignalsBlocked {
    fn new() -> SignalsBlocked {
        // SAFETY: sigset_t is plain data, initialised by sigfillset and by pthread_sigmask
        // (which writes the old mask); only this thread's mask changes, and Drop restores it.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            SignalsBlocked(old)
        }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: the mask saved by `new`, a valid sigset_t.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// Writes `stream` as the data pages of a new group of the given range and rows, recorded as
/// pending in its segment page `sb` (exclusively locked) until the caller links it; returns its
/// description.
pub fn write(rel: pg_sys::Relation, sb: &Buf, stream: &[u8], first_block: u32, blocks: u32, rows: u32, pool: &mut super::space::FreePages) -> Group {
    let g = Group { first_block, blocks, rows, stream_len: stream.len() as u32, data_first: 0, data_pages: pages_for(stream.len()) as u32 };
    let data_first = super::space::write_group_data(rel, sb, stream, g, pool, u32::MAX, true).expect("the file can be extended");
    Group { data_first, ..g }
}

/// Puts decoded vector `d` in the backend's cache under `k`, evicting the oldest past the
/// cache's size.
fn cache_vector(k: VectorKey, d: Decoded) -> Rc<Decoded> {
    let d = Rc::new(d);
    CACHES.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.bytes += d.bytes();
        cache.vectors.insert(k, d.clone());
        cache.order.push_back(k);
        while cache.bytes > VECTOR_CACHE_BYTES && cache.order.len() > 1 {
            let old = cache.order.pop_front().expect("not empty");
            if let Some(gone) = cache.vectors.remove(&old) {
                cache.bytes -= gone.bytes();
            }
        }
    });
    d
}
