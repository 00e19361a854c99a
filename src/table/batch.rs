//! Batches of visible rows for the columnar scan node (`exec.rs`), read a *slice* of a segment
//! at a time: the rows of a row group come as positions into its decoded column vectors, and
//! only the columns the query reads are decoded; rows of delta pages come as tuple copies.
//!
//! A slice is loaded under the locks a reader of its pages needs (the segment page, then each
//! overlay page in turn) and handed out after they are released: visibility is decided on the
//! headers while they are locked, the values stay in vectors no writer changes (a group is
//! immutable) or in copies in the batch's memory context, reset at the next slice.
//!
//! Rows of a group block without an overlay page are visible to every snapshot (a fold takes
//! only settled rows, and a change of a row's header first gives its block an overlay, under
//! the segment page's exclusive lock); so a scan of a folded table decides visibility without
//! looking at a single header until rows are deleted, updated or locked.

use super::group::{Decoded, Loaded};
use super::page::Buf;
use super::tuple::{self, TupleCopy};
use super::vecqual::{VecQual, Verdict};
use super::{rows, serializable, store};
use crate::storage::Lock;
use super::agg_state::varlena_content;
use columnar_core::encode::{VECTOR_SIZE, validity};
use columnar_core::numeric::{Numeric, parse_numeric};
use columnar_core::layout::{NO_BLOCK, PageKind};
use columnar_core::segment::{self, State};
use columnar_core::{map, rownum};
use pgrx::pg_sys;
use std::rc::Rc;

/// Slices per segment: a slice of a full segment is 63 logical blocks (about 18,000 rows,
/// nine vectors), the unit parallel workers take.
pub const SLICES: u32 = 32;

/// An attribute the scan reads.
#[derive(Clone, Copy)]
pub struct Attr {
    /// Zero-based attribute number.
    pub index: usize,
    byval: bool,
    len: i16,
    align: usize,
}

/// What a scan did, for EXPLAIN ANALYZE.
#[derive(Default, Clone, Copy)]
pub struct Counts {
    /// Rows returned from row groups and from delta pages.
    pub group_rows: u64,
    pub delta_rows: u64,
    /// Column vectors read (decoded or found decoded).
    pub vectors: u64,
    /// Group vectors (of every column read) whose rows were skipped because a zone map
    /// refuted a clause.
    pub skipped_vectors: u64,
    /// Group rows dropped because a hash join's inner side holds no row with their key.
    pub join_filtered: u64,
}

enum Part {
    Empty,
    /// Visible rows of a group, (position, TID), with the vectors of the columns read for the
    /// vectors from `first_vector` on (`vectors[v][k]` for attribute k, None past the group's
    /// stored columns).
    Group { rows: Vec<(u32, pg_sys::ItemPointerData)>, first_vector: usize, vectors: Vec<Vec<Option<Rc<Decoded>>>> },
    /// Visible tuple copies in the reader's memory context.
    Tuples(Vec<TupleCopy>),
}

/// A batch of group rows read from its vectors (`Reader::group_view`).
pub struct GroupView<'a> {
    reader: &'a Reader,
    /// The rows' positions in the group, and their TIDs.
    pub rows: &'a [(u32, pg_sys::ItemPointerData)],
    first_vector: usize,
    vectors: &'a [Vec<Option<Rc<Decoded>>>],
}

impl GroupView<'_> {
    /// The value of the reader's `k`th attribute at group position `position` (None for
    /// NULL); a by-reference datum points into a vector and may be unaligned.
    pub fn datum(&self, k: usize, position: u32) -> Option<pg_sys::Datum> {
        let (v, i) = (position as usize / VECTOR_SIZE - self.first_vector, position as usize % VECTOR_SIZE);
        match &self.vectors[v][k] {
            Some(vector) => vector.datum(i),
            None => (!self.reader.missing[k].1).then_some(self.reader.missing[k].0),
        }
    }

    /// The vector of the reader's `k`th attribute holding group position `position` (None
    /// where the group has no such column).
    pub fn vector(&self, k: usize, position: u32) -> Option<&Decoded> {
        self.vectors[position as usize / VECTOR_SIZE - self.first_vector][k].as_deref()
    }

    /// Whether the reader's `k`th attribute is NULL at group position `position` (without
    /// forming a datum).
    pub fn is_null(&self, k: usize, position: u32) -> bool {
        match self.scaled(k, position) {
            Some(value) => value.is_none(),
            None => self.datum(k, position).is_none(),
        }
    }

    /// The value of the reader's `k`th attribute at group position `position` when its vector
    /// is a scaled numeric one: `Some(None)` for NULL, else `Some(Some((value, scale)))`.
    pub fn scaled(&self, k: usize, position: u32) -> Option<Option<(i64, u16)>> {
        let (v, i) = (position as usize / VECTOR_SIZE - self.first_vector, position as usize % VECTOR_SIZE);
        let Some(Decoded::Scaled { values, scale, .. }) = self.vectors[v][k].as_deref() else { return None };
        let valid = values.validity.as_deref().is_none_or(|b| validity::is_valid(b, i));
        Some(valid.then(|| (values.values[i], *scale)))
    }

    /// The numeric value of the reader's `k`th attribute (a numeric column) at group position
    /// `position`: from the integers of a scaled vector, else parsed from the datum's bytes
    /// (TooBig when they are not a plain inline numeric: PostgreSQL's code must judge it).
    pub fn numeric(&self, k: usize, position: u32) -> Option<Numeric> {
        if let Some(scaled) = self.scaled(k, position) {
            return scaled.map(|(value, scale)| Numeric::Finite { value: value as i128, scale });
        }
        // SAFETY: a numeric datum of the column, in a vector or the relcache's missing value.
        self.datum(k, position).map(|d| parse_numeric(unsafe { varlena_content(d) }).unwrap_or(Numeric::TooBig))
    }

    /// `rows` (some of the batch's, in order) by the group vector they are in, each run with
    /// that vector of the reader's `k`th attribute (None where the group has no such column).
    pub fn runs<'r>(&'r self, k: usize, rows: &'r [(u32, pg_sys::ItemPointerData)]) -> impl Iterator<Item = (&'r [(u32, pg_sys::ItemPointerData)], Option<&'r Decoded>)> {
        rows.chunk_by(|a, b| a.0 as usize / VECTOR_SIZE == b.0 as usize / VECTOR_SIZE).map(move |run| {
            let v = run[0].0 as usize / VECTOR_SIZE - self.first_vector;
            (run, self.vectors[v][k].as_deref())
        })
    }
}

pub struct Reader {
    rel: pg_sys::Relation,
    snapshot: pg_sys::Snapshot,
    attrs: Vec<Attr>,
    /// Each attribute's value for rows stored without it (added by ALTER TABLE ADD COLUMN).
    missing: Vec<(pg_sys::Datum, bool)>,
    cxt: pg_sys::MemoryContext,
    /// For deforming tuple copies.
    heap_slot: *mut pg_sys::TupleTableSlot,
    part: Part,
    /// The row group the batch's rows come from.
    group: Option<Rc<Loaded>>,
    /// Group rows the batch had when loaded, before clauses and join filters dropped some.
    loaded: usize,
    pos: usize,
    /// Clauses (all must hold) whose zone-map refutation skips a group vector's rows.
    zone_quals: Vec<VecQual>,
    pub counts: Counts,
}

impl Reader {
    /// A reader of `rel` under `snapshot` returning attributes `indexes` (zero-based, in
    /// order), deforming tuple copies in `heap_slot`. Its memory lives in the current memory
    /// context.
    ///
    /// # Safety
    /// `rel` stays open, `snapshot` registered and `heap_slot` (a heap tuple slot of the
    /// relation's descriptor) valid while the reader is used.
    pub unsafe fn new(rel: pg_sys::Relation, snapshot: pg_sys::Snapshot, indexes: &[usize], heap_slot: *mut pg_sys::TupleTableSlot) -> Reader {
        // SAFETY: per the contract; the tuple descriptor has natts attributes, of which
        // `indexes` are some; getmissingattr's datums live in the relcache entry, which the
        // open relation keeps.
        unsafe {
            let desc = (*rel).rd_att;
            let attrs: Vec<Attr> = indexes
                .iter()
                .map(|&index| {
                    let a = crate::compat::attr(desc, index);
                    let align = match a.attalign as u8 {
                        b'd' => 8,
                        b'i' => 4,
                        b's' => 2,
                        _ => 1,
                    };
                    Attr { index, byval: a.attbyval, len: a.attlen, align }
                })
                .collect();
            let missing = attrs
                .iter()
                .map(|a| {
                    let mut isnull = true;
                    let d = pg_sys::getmissingattr(desc, a.index as i32 + 1, &mut isnull);
                    (d, isnull)
                })
                .collect();
            let cxt = pg_sys::AllocSetContextCreateInternal(pg_sys::CurrentMemoryContext, c"columnar scan batch".as_ptr(), 0, 8 * 1024, 8 * 1024 * 1024);
            Reader { rel, snapshot, attrs, missing, cxt, heap_slot, part: Part::Empty, group: None, loaded: 0, pos: 0, zone_quals: Vec::new(), counts: Counts::default() }
        }
    }

    /// Skips the rows of every group vector whose zone map refutes one of `quals` (the
    /// implicitly ANDed clauses over the relation's attributes of plan state `parent`, which
    /// PostgreSQL still evaluates on the rows returned), unless `omendb.enable_columnar_zone_maps`
    /// is off. Not for EXPLAIN alone (`eflags`): a generic plan's parameters have no values
    /// there.
    ///
    /// # Safety
    /// `quals` is a valid List of expressions whose Vars read only attributes of the reader;
    /// `parent` is initialised.
    pub unsafe fn skip_by_zone_maps(&mut self, quals: *mut pg_sys::List, parent: *mut pg_sys::PlanState, eflags: i32) {
        if !super::plan::ZONE_MAPS.get() || eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as i32 != 0 {
            return;
        }
        let k_of = |index: usize| self.attrs.iter().position(|a| a.index == index).expect("every attribute a qual reads is read");
        // SAFETY: per the contract.
        let compiled = unsafe { super::plan::list_pointers::<pg_sys::Node>(quals).into_iter().filter_map(|q| super::vecqual::compile_bound(q, k_of, parent)).collect() };
        self.zone_quals = compiled;
    }

    /// Whether a zone map of group vector `v` refutes a clause.
    fn refuted(&self, group: &Loaded, v: usize) -> bool {
        let stored = group.stored_columns();
        self.zone_quals.iter().any(|q| {
            let index = self.attrs[q.k].index;
            // A column added after the group was written holds its default: not refuted here.
            index < stored && q.refutes(group.vector_meta(index, v))
        })
    }

    /// Forgets the current batch (a rescan).
    pub fn reset(&mut self) {
        self.part = Part::Empty;
        self.group = None;
        self.pos = 0;
    }

    /// Loads the visible rows of slice `slice` of the segment `e`.
    pub fn load(&mut self, e: &map::Entry, slice: u32) {
        self.reset();
        // SAFETY: the reader's own context; nothing of the previous batch is referenced any
        // more (the executor is done with the row returned last when it asks for the next).
        unsafe { pg_sys::MemoryContextReset(self.cxt) };
        let first = (e.first_row / rownum::ROWS_PER_BLOCK) as u32;
        let per_slice = (segment::BLOCKS as u32).div_ceil(SLICES);
        // Within the entry's range: a group VACUUM merged since the scan read the map also holds
        // the rows of the next entry, which the scan reads through that entry.
        let end = ((slice + 1) * per_slice).min(segment::BLOCKS as u32).min((e.rows / rownum::ROWS_PER_BLOCK) as u32);
        let blocks = first + slice * per_slice..first + end.max(slice * per_slice);
        let Some(sb) = store::segment_page(self.rel, first, Lock::Share) else { return };
        let c = sb.content_of(PageKind::Segment);
        if segment::state(c) == State::Folded {
            let group = super::group::load(self.rel, &sb);
            self.load_group(&sb, &group, blocks);
            self.group = Some(group);
            return;
        }
        let used = first + segment::used(c) as u32;
        drop(sb);
        self.load_delta(blocks.start..blocks.end.min(used));
    }

    /// The group's visible rows of `blocks`, with the page of its folded segment `sb` locked.
    fn load_group(&mut self, sb: &Buf, group: &Loaded, blocks: std::ops::Range<u32>) {
        let rel = self.rel;
        // SAFETY: an open relation.
        let relid = unsafe { (*rel).rd_id };
        let c = sb.content_of(PageKind::Segment);
        let stored = group.stored_columns();
        group.checked_columns(rel);
        let mut overlay: Option<(u32, Option<Buf>)> = None;
        let mut rows = Vec::new();
        // Rows without a header of their own share their segment's stamp: judged once. A
        // group without one is frozen, so visible to every snapshot.
        let stamp = super::group::stamp_of(sb);
        let mut stamp_visible: Option<bool> = stamp.is_none().then_some(true);
        // Per vector of the group, once looked at: whether a zone map refutes a clause.
        let mut refuted: Vec<Option<bool>> = vec![None; if self.zone_quals.is_empty() { 0 } else { group.group.rows.div_ceil(VECTOR_SIZE as u32) as usize }];
        for (block, slot, position) in group.rows_in(blocks) {
            if let Some(r) = refuted.get_mut(position / VECTOR_SIZE) {
                if *r.get_or_insert_with(|| self.refuted(group, position / VECTOR_SIZE)) {
                    continue;
                }
            }
            if overlay.as_ref().is_none_or(|(b, _)| *b != block) {
                // One overlay page locked at a time.
                drop(overlay.take());
                let p = segment::page_of(c, (block - group.group.first_block) as usize);
                let page = (p != NO_BLOCK).then(|| Buf::read(rel, p, Lock::Share)).filter(|b| store::is_overlay_of(b, block));
                overlay = Some((block, page));
            }
            let page = overlay.as_ref().and_then(|(_, b)| b.as_ref());
            let tid = tuple::item_pointer(block, slot as u16 + 1);
            let visible = match rows::overlay_header(page, slot) {
                None => false,
                Some(None) => *stamp_visible.get_or_insert_with(|| {
                    let t = TupleCopy::new(&super::group::stamp_header(stamp, &tid), tid, relid, self.cxt);
                    let visible = serializable::read_visible(rel, &t, self.snapshot, sb, false);
                    t.free();
                    visible
                }),
                Some(Some(header)) => {
                    let page = page.expect("the header came from it");
                    let t = TupleCopy::new(header, tid, relid, self.cxt);
                    let visible = serializable::read_visible(rel, &t, self.snapshot, page, false);
                    t.free();
                    visible
                }
            };
            if visible {
                rows.push((position as u32, tid));
            }
        }
        drop(overlay);
        self.counts.skipped_vectors += refuted.iter().filter(|&&r| r == Some(true)).count() as u64;
        let (Some(&(first, _)), Some(&(last, _))) = (rows.first(), rows.last()) else { return };
        let first_vector = first as usize / VECTOR_SIZE;
        // A refuted vector has no row here: it is not decoded.
        let vectors: Vec<Vec<Option<Rc<Decoded>>>> = (first_vector..=last as usize / VECTOR_SIZE)
            .map(|v| self.attrs.iter().map(|a| (a.index < stored && refuted.get(v) != Some(&Some(true))).then(|| group.vector(rel, a.index, v))).collect())
            .collect();
        self.counts.vectors += vectors.iter().map(|v| v.iter().flatten().count() as u64).sum::<u64>();
        self.counts.group_rows += rows.len() as u64;
        self.loaded = rows.len();
        self.part = Part::Group { rows, first_vector, vectors };
    }

    /// The visible rows of delta blocks `blocks` (a fold may replace them while they are read:
    /// each block is looked up as it is visited, as the table AM's scan does).
    fn load_delta(&mut self, blocks: std::ops::Range<u32>) {
        let (rel, snapshot) = (self.rel, self.snapshot);
        let mut tuples = Vec::new();
        for logical in blocks {
            let Some(block) = store::read_block(rel, logical, Lock::Share) else { continue };
            rows::for_each(rel, logical, &block, self.cxt, None, super::group::Columns::All, |_, t, b| {
                if serializable::read_visible(rel, &t, snapshot, b, false) {
                    tuples.push(t);
                }
            });
        }
        self.counts.delta_rows += tuples.len() as u64;
        self.part = Part::Tuples(tuples);
    }

    /// The row group the batch's rows come from (None for rows of delta pages).
    pub fn group(&self) -> Option<&Rc<Loaded>> {
        self.group.as_ref()
    }

    /// The batch's rows when they come from a row group, to be read from its vectors.
    pub fn group_view(&self) -> Option<GroupView<'_>> {
        match &self.part {
            Part::Group { rows, first_vector, vectors } if self.pos == 0 => Some(GroupView { reader: self, rows, first_vector: *first_vector, vectors }),
            _ => None,
        }
    }

    /// Keeps the batch's group rows that `keep` (one flag per row) keeps, and their verdicts
    /// (none, or one per row); the number of rows dropped.
    pub fn retain(&mut self, keep: &[bool], verdicts: &mut Vec<Verdict>) -> usize {
        let Part::Group { rows, .. } = &mut self.part else { return 0 };
        debug_assert!(self.pos == 0 && keep.len() == rows.len() && (verdicts.is_empty() || verdicts.len() == rows.len()));
        let before = rows.len();
        let mut each = keep.iter();
        rows.retain(|_| *each.next().expect("a flag per row"));
        if !verdicts.is_empty() {
            let mut each = keep.iter();
            verdicts.retain(|_| *each.next().expect("a flag per row"));
        }
        before - rows.len()
    }

    /// The index in the batch of the row `next` stores next.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether the batch has rows (an empty one reads no vector).
    pub fn is_empty(&self) -> bool {
        match &self.part {
            Part::Empty => true,
            Part::Group { rows, .. } => rows.is_empty(),
            Part::Tuples(t) => t.is_empty(),
        }
    }

    /// Passes over the next row of the batch; false when the batch is done.
    pub fn skip(&mut self) -> bool {
        let len = match &self.part {
            Part::Empty => 0,
            Part::Group { rows, .. } => rows.len(),
            Part::Tuples(t) => t.len(),
        };
        let more = self.pos < len;
        self.pos += more as usize;
        more
    }

    /// Stores the next row of the batch in `slot` (a virtual slot of the relation's
    /// descriptor whose unread attributes are NULL); false when the batch is done.
    ///
    /// # Safety
    /// `slot` is such a slot.
    pub unsafe fn next(&mut self, slot: *mut pg_sys::TupleTableSlot) -> bool {
        // SAFETY: per the contract.
        let stored = unsafe { self.store(slot, self.pos) };
        self.pos += stored as usize;
        stored
    }

    /// Stores row `index` of the batch in `slot`, as `next` does; false past the last row.
    ///
    /// # Safety
    /// As for `next`.
    pub unsafe fn store(&self, slot: *mut pg_sys::TupleTableSlot, index: usize) -> bool {
        // SAFETY: per the contract; datums point into vectors the batch holds or into copies
        // in its context, both kept until the next load.
        unsafe {
            let values = (*slot).tts_values;
            let nulls = (*slot).tts_isnull;
            match &self.part {
                Part::Group { rows, first_vector, vectors } => {
                    let Some(&(position, tid)) = rows.get(index) else { return false };
                    let (v, i) = (position as usize / VECTOR_SIZE - first_vector, position as usize % VECTOR_SIZE);
                    // Most rows dropped (by clauses or a join filter): a scaled numeric's datum is
                    // written for each row stored, not for its whole vector.
                    let sparse = rows.len() * 2 < self.loaded;
                    clear_virtual(slot);
                    for (k, a) in self.attrs.iter().enumerate() {
                        let datum = match &vectors[v][k] {
                            Some(vector) => match vector.unwritten_scaled(i) {
                                Some(value) if sparse => value.map(|(value, scale)| self.copied(&super::group::scaled_datum(value, scale))),
                                _ => vector.datum(i).map(|d| self.aligned(a, d)),
                            },
                            None => (!self.missing[k].1).then_some(self.missing[k].0),
                        };
                        *nulls.add(a.index) = datum.is_none();
                        *values.add(a.index) = datum.unwrap_or(pg_sys::Datum::from(0));
                    }
                    (*slot).tts_tid = tid;
                }
                Part::Tuples(tuples) => {
                    let Some(t) = tuples.get(index) else { return false };
                    pg_sys::ExecStoreHeapTuple(t.0, self.heap_slot, false);
                    if let Some(last) = self.attrs.last() {
                        pg_sys::slot_getsomeattrs(self.heap_slot, last.index as i32 + 1);
                    }
                    clear_virtual(slot);
                    for a in &self.attrs {
                        *nulls.add(a.index) = *(*self.heap_slot).tts_isnull.add(a.index);
                        *values.add(a.index) = *(*self.heap_slot).tts_values.add(a.index);
                    }
                    (*slot).tts_tid = (*t.0).t_self;
                }
                Part::Empty => return false,
            }
            (*slot).tts_tableOid = (*self.rel).rd_id;
            store_virtual(slot);
            true
        }
    }

    /// `d` (a datum from a vector) where its type's alignment lets functions read it: values
    /// are stored back to back, and a value with a 4-byte varlena header or a fixed-length
    /// value of an aligned type may start anywhere, so such a value is copied when misaligned.
    fn aligned(&self, a: &Attr, d: pg_sys::Datum) -> pg_sys::Datum {
        if a.byval || a.align == 1 || d.value().is_multiple_of(a.align) {
            return d;
        }
        let p = d.cast_mut_ptr::<u8>();
        // SAFETY: a by-reference datum of the attribute's type, pointing into a vector: a
        // varlena (its first byte says whether its header is the 1-byte kind, which needs no
        // alignment) or `len` bytes.
        unsafe {
            let len = match a.len {
                -1 if *p & 0x01 == 0x01 => return d,
                // A 4-byte header (plain or compressed): the size in its upper 30 bits
                // (little-endian), read without assuming alignment.
                -1 => (u32::from_le_bytes(std::ptr::read_unaligned(p as *const [u8; 4])) >> 2) as usize,
                n => n as usize,
            };
            self.copied(std::slice::from_raw_parts(p, len))
        }
    }

    /// A copy of `bytes` in the batch's memory context, as a datum.
    fn copied(&self, bytes: &[u8]) -> pg_sys::Datum {
        // SAFETY: the reader's context, reset only at the next load, after the row is used.
        unsafe {
            let copy = pg_sys::MemoryContextAlloc(self.cxt, bytes.len()) as *mut u8;
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len());
            pg_sys::Datum::from(copy)
        }
    }
}

/// ExecClearTuple on a virtual slot, done here when the slot owns no memory (only its flags
/// change): the scan fills a slot per row, and each call into C costs a guarded crossing.
///
/// # Safety
/// A valid slot.
unsafe fn clear_virtual(slot: *mut pg_sys::TupleTableSlot) {
    // SAFETY: per the contract; tts_virtual_clear does exactly this when TTS_FLAG_SHOULDFREE
    // is unset.
    unsafe {
        if !std::ptr::eq((*slot).tts_ops, &raw const pg_sys::TTSOpsVirtual) || (*slot).tts_flags as u32 & pg_sys::TTS_FLAG_SHOULDFREE != 0 {
            pg_sys::ExecClearTuple(slot);
            return;
        }
        (*slot).tts_nvalid = 0;
        (*slot).tts_flags |= pg_sys::TTS_FLAG_EMPTY as u16;
        (*slot).tts_tid = pg_sys::ItemPointerData { ip_blkid: pg_sys::BlockIdData { bi_hi: u16::MAX, bi_lo: u16::MAX }, ip_posid: 0 };
    }
}

/// ExecStoreVirtualTuple, done here: marks the values of an emptied virtual slot as set.
///
/// # Safety
/// A virtual slot emptied by `clear_virtual` whose values and nulls are set.
unsafe fn store_virtual(slot: *mut pg_sys::TupleTableSlot) {
    // SAFETY: per the contract; what execTuples.c's ExecStoreVirtualTuple does.
    unsafe {
        (*slot).tts_flags &= !(pg_sys::TTS_FLAG_EMPTY as u16);
        (*slot).tts_nvalid = (*(*slot).tts_tupleDescriptor).natts as i16;
    }
}
