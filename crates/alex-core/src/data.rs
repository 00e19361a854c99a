//! Data nodes: one per page. A linear model predicts the slot of a key in a gapped array of
//! bit-packed `(code, tid)` entries; an occupancy bitmap tells entries from gaps.
//!
//! Layout of the content area (after the [`node`] header):
//! ```text
//! 64  key_base u64 | 72 blk_base u32 | 76 key_bits u8 | 77 blk_bits u8 | 78 off_bits u8 | 79 0
//! 80  dict_len u16 | 82..96 0
//! 96  occupancy bitmap: one bit per slot, u64 words
//!     dictionary: dict_len u64 codes, ascending (none in an affine page)
//!     key array: capacity x key_bits, the key's *stored value*: code - key_base (affine), or
//!                the index of the code in the dictionary
//!     tid array: capacity x (blk_bits + off_bits), (block - blk_base) << off_bits | offset
//!     16 bytes of padding for the bit-packed readers
//! ```
//! Widths are chosen per page when it is laid out (see [`Encoding`]): a page of dense sequential
//! keys stores a few bits per entry, a page of random int8 keys about 7 bytes, a page of a few
//! distinct keys repeated many times (a dictionary) a few bits plus 8 bytes per distinct key. An
//! entry that does not fit the encoding makes the page be laid out again (or split).
//!
//! Stored values order as their codes, so searches and gap fills work on stored values alone;
//! only an entry read back, or a key's neighbours compared by distance, decode them.
//!
//! Invariants (checked by [`check`]): entries strictly increase with the slot; every gap holds
//! a stored value between those of the entries either side (trailing gaps the largest), so the
//! key array never decreases and a search needs no bitmap; a dictionary strictly increases and
//! every stored value indexes it; `count` equals the bitmap's population; every entry lies
//! within the fences `low <= e < high`.

use crate::bits;
use crate::entry::{Entry, PackedTid, pack_tid, tid_block, tid_offset};
use crate::model::LinearModel;
use crate::page::node::{self, Header};
use crate::page::{CONTENT_SIZE, rd_u32, rd_u64, wr_u32, wr_u64};

const KEY_BASE: usize = 64;
const BLK_BASE: usize = 72;
const KEY_BITS: usize = 76;
const BLK_BITS: usize = 77;
const OFF_BITS: usize = 78;
const DICT_LEN: usize = 80;
const BITMAP: usize = 96;
/// In a deleted page, where its transaction id horizon is kept.
const DELETED_XID: usize = 64;

/// How many slots on each side of a predicted slot a search loads ahead (about the model's
/// typical error on random keys).
const PREFETCH_SLOTS: usize = 48;

/// Upper bound on slots per page (keeps per-page work and scan batches bounded).
pub const MAX_SLOTS: usize = 8192;

/// How many entries per distinct code a page needs, on average, to take a dictionary.
const DICT_MIN_RUN: usize = 8;

/// How entries are packed in one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    /// An affine page's smallest code (stored as 0); a dictionary page's first code.
    pub key_base: u64,
    pub key_bits: u32,
    pub blk_base: u32,
    pub blk_bits: u32,
    pub off_bits: u32,
    /// The number of codes in the page's dictionary; 0 for an affine page.
    pub dict_len: u16,
}

impl Encoding {
    #[inline]
    fn tid_bits(&self) -> u32 {
        self.blk_bits + self.off_bits
    }

    /// Whether `e`'s TID can be stored under this encoding, and in an affine one its code. A
    /// dictionary's codes are on its page: [`DataPage::fits`] checks those.
    pub(crate) fn fits(&self, e: Entry) -> bool {
        let blk = tid_block(e.tid);
        let off = tid_offset(e.tid) as u64;
        let code_fits = self.dict_len > 0 || (e.code >= self.key_base && bits::width_of(e.code - self.key_base) <= self.key_bits);
        code_fits && blk >= self.blk_base && bits::width_of((blk - self.blk_base) as u64) <= self.blk_bits && bits::width_of(off) <= self.off_bits
    }

    /// The encoding for a page holding `entries` (sorted) between fences `low` and `high`: the
    /// affine one ([`Encoding::affine_for`]), or a dictionary of the entries' codes (see
    /// [`Encoding::or_dictionary`]). Only a page with both fences finite takes a dictionary:
    /// a code outside it lays the page out again, and the pages at the ends of the index are
    /// where new keys arrive in order.
    pub fn for_entries(entries: &[Entry], low: Entry, high: Option<Entry>) -> Encoding {
        let affine = Encoding::affine_for(entries, low, high);
        if low == Entry::MIN || high.is_none() || entries.is_empty() {
            return affine;
        }
        let distinct = entries.windows(2).filter(|w| w[0].code != w[1].code).count() + 1;
        affine.or_dictionary(entries[0].code, distinct, entries.len())
    }

    /// The affine encoding for a page holding `entries` (sorted) between fences `low` and
    /// `high`. It leaves room for the inserts a page can expect: keys as in [`key_range`] and
    /// heap blocks up to twice theirs.
    pub fn affine_for(entries: &[Entry], low: Entry, high: Option<Entry>) -> Encoding {
        let (first, last) = match (entries.first(), entries.last()) {
            (Some(f), Some(l)) => (f.code, l.code),
            _ => (low.code, low.code),
        };
        let (key_base, key_top) = key_range(first, last, low, high);
        let mut stats = TidStats::default();
        for e in entries {
            stats.add(e.tid);
        }
        Encoding::from_stats(key_base, key_top, &stats)
    }

    /// This affine encoding for `entries` entries, or a dictionary of their `distinct` codes
    /// (from `first` up) with the same TIDs: when each code repeats [`DICT_MIN_RUN`] times on
    /// average and the dictionary gives a quarter more slots, or when only it holds the
    /// entries. A new code lays a dictionary page out again, so a page of distinct keys, which
    /// would gain a few slots, keeps its affine encoding. The second rule makes any subset of
    /// a page's entries within narrower fences fit a page, as splits require (a dictionary
    /// holds more entries of fewer codes, and so does an affine encoding of a narrower range).
    pub fn or_dictionary(self, first: u64, distinct: usize, entries: usize) -> Encoding {
        let Ok(dict_len) = u16::try_from(distinct) else {
            return self;
        };
        let dict = Encoding { key_base: first, key_bits: bits::width_of(distinct.saturating_sub(1) as u64), dict_len, ..self };
        let (affine_cap, dict_cap) = (self.capacity(), dict.capacity());
        let worth = distinct > 0 && entries >= DICT_MIN_RUN * distinct && dict_cap >= affine_cap + affine_cap / 4;
        let needed = entries > affine_cap && dict_cap >= entries;
        if worth || needed { dict } else { self }
    }

    /// The encoding for codes `key_base..=key_top` and the TIDs summarised by `tids`.
    pub fn from_stats(key_base: u64, key_top: u64, tids: &TidStats) -> Encoding {
        let (bmin, bmax) = if tids.max_blk < tids.min_blk { (0, 0) } else { (tids.min_blk, tids.max_blk) };
        let key_bits = bits::width_of(key_top - key_base);
        // Every code of the encoding, up to key_base + 2^key_bits - 1 (the gaps' fill at the
        // end), must exist: near the top of the code space, lower the base.
        let span = if key_bits == 64 { u64::MAX } else { (1u64 << key_bits) - 1 };
        let key_base = key_base.min(u64::MAX - span);
        Encoding {
            key_base,
            key_bits,
            blk_base: bmin,
            blk_bits: (bits::width_of((bmax - bmin) as u64) + 1).min(32),
            off_bits: bits::width_of(tids.max_off as u64).max(8),
            dict_len: 0,
        }
    }

    /// The number of slots a page with this encoding holds.
    pub fn capacity(&self) -> usize {
        let per_slot = (self.key_bits + self.tid_bits() + 1) as usize;
        let room = (CONTENT_SIZE - BITMAP - bits::PADDING - 8).saturating_sub(self.dict_bytes());
        let mut cap = (room * 8 / per_slot).min(MAX_SLOTS);
        while cap > 0 && self.layout_end(cap) > CONTENT_SIZE {
            cap -= 1;
        }
        cap
    }

    fn dict_bytes(&self) -> usize {
        self.dict_len as usize * 8
    }

    fn layout_end(&self, cap: usize) -> usize {
        BITMAP + cap.div_ceil(64) * 8 + self.dict_bytes() + bits::region_bytes(cap, self.key_bits) + bits::region_bytes(cap, self.tid_bits()) + bits::PADDING
    }
}

/// The codes the encoding of a page whose keys run from `first` to `last` covers: as far below
/// `first` as the keys span (not past the low fence) and as far above `last` (not past the high
/// fence). Keys beyond it re-encode the page, so a run of ascending or descending inserts at
/// either end of a page re-encodes it once each time the span doubles, not at every insert; and
/// a page whose low fence lies far below its keys (a split at a jump puts it halfway) still
/// encodes its keys in few bits.
pub fn key_range(first: u64, last: u64, low: Entry, high: Option<Entry>) -> (u64, u64) {
    let span = (last - first).max(1);
    let key_base = first.saturating_sub(span).max(low.code);
    let doubled = last.saturating_add(span);
    let key_top = match high {
        Some(h) => h.code.min(doubled).max(last),
        None => doubled,
    };
    (key_base, key_top)
}

/// Whether a key `code` between neighbours `prev` and `next` looks like a run of ascending keys
/// into one place: far closer to the key before it than to the one after (or equal to the one
/// before: duplicates get ascending TIDs).
fn is_local_append(prev: u64, code: u64, next: u64) -> bool {
    (code == prev && next > code) || code - prev < (next - code) / 16
}

/// The mirror of [`is_local_append`]: a run of descending keys into one place.
fn is_local_prepend(prev: u64, code: u64, next: u64) -> bool {
    next - code < (code - prev) / 16
}

/// The first `i` in `0..n` for which the monotone predicate `pred` (true, then false) is false.
fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) { lo = mid + 1 } else { hi = mid }
    }
    lo
}

/// Block and offset ranges of a set of TIDs.
#[derive(Clone, Copy, Debug)]
pub struct TidStats {
    pub min_blk: u32,
    pub max_blk: u32,
    pub max_off: u16,
}

impl Default for TidStats {
    fn default() -> Self {
        TidStats { min_blk: u32::MAX, max_blk: 0, max_off: 0 }
    }
}

impl TidStats {
    #[inline]
    pub fn add(&mut self, tid: PackedTid) {
        self.min_blk = self.min_blk.min(tid_block(tid));
        self.max_blk = self.max_blk.max(tid_block(tid));
        self.max_off = self.max_off.max(tid_offset(tid));
    }
}

fn read_encoding(b: &[u8]) -> Encoding {
    Encoding {
        key_base: rd_u64(b, KEY_BASE),
        key_bits: b[KEY_BITS] as u32,
        blk_base: rd_u32(b, BLK_BASE),
        blk_bits: b[BLK_BITS] as u32,
        off_bits: b[OFF_BITS] as u32,
        dict_len: crate::page::rd_u16(b, DICT_LEN),
    }
}

/// Where a data page keeps things: decoded once from the header, then used for every access.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    cap: usize,
    enc: Encoding,
    dict: usize,
    keys: usize,
    tids: usize,
    model: LinearModel,
}

impl Geometry {
    fn read(b: &[u8]) -> Geometry {
        let enc = read_encoding(b);
        let cap = crate::page::rd_u16(b, node::CAPACITY) as usize;
        let dict = BITMAP + cap.div_ceil(64) * 8;
        let keys = dict + enc.dict_bytes();
        let tids = keys + bits::region_bytes(cap, enc.key_bits);
        let model = LinearModel { slope: crate::page::rd_f64(b, node::SLOPE), intercept: crate::page::rd_f64(b, node::INTERCEPT) };
        Geometry { cap, enc, dict, keys, tids, model }
    }

    #[inline]
    fn is_occupied(&self, b: &[u8], slot: usize) -> bool {
        rd_u64(b, BITMAP + (slot / 64) * 8) & (1u64 << (slot % 64)) != 0
    }

    /// The stored value of the key in a slot (entry or gap).
    #[inline]
    fn stored(&self, b: &[u8], slot: usize) -> u64 {
        bits::get(&b[self.keys..], slot, self.enc.key_bits)
    }

    /// The code a stored value stands for.
    #[inline]
    fn code_of(&self, b: &[u8], v: u64) -> u64 {
        if self.enc.dict_len == 0 { self.enc.key_base + v } else { rd_u64(b, self.dict + v as usize * 8) }
    }

    #[inline]
    fn key_code(&self, b: &[u8], slot: usize) -> u64 {
        self.code_of(b, self.stored(b, slot))
    }

    /// The smallest stored value whose code is `>= code`, past the largest there is when none
    /// is: a search for `code` compares stored values with it.
    #[inline]
    fn rank(&self, b: &[u8], code: u64) -> u64 {
        if self.enc.dict_len == 0 {
            code.saturating_sub(self.enc.key_base)
        } else {
            partition_point(self.enc.dict_len as usize, |i| rd_u64(b, self.dict + i * 8) < code) as u64
        }
    }

    /// The stored value of `e`'s code, if the encoding holds `e` (its code and TID).
    fn stored_for(&self, b: &[u8], e: Entry) -> Option<u64> {
        self.stored_of(b, e.code).filter(|_| self.enc.fits(e))
    }

    /// The stored value of `code`, if the encoding has one.
    fn stored_of(&self, b: &[u8], code: u64) -> Option<u64> {
        if self.enc.dict_len == 0 {
            let v = code.checked_sub(self.enc.key_base)?;
            (bits::width_of(v) <= self.enc.key_bits).then_some(v)
        } else {
            let v = self.rank(b, code);
            (v < self.enc.dict_len as u64 && self.code_of(b, v) == code).then_some(v)
        }
    }

    /// The largest stored value, which trailing gaps hold.
    fn max_stored(&self) -> u64 {
        match (self.enc.dict_len, self.enc.key_bits) {
            (0, 64) => u64::MAX,
            (0, bits) => (1u64 << bits) - 1,
            (len, _) => len as u64 - 1,
        }
    }

    /// A slot's stored key and TID as stored, for moving an entry without decoding it.
    #[inline]
    fn raw(&self, b: &[u8], slot: usize) -> (u64, u64) {
        (self.stored(b, slot), bits::get(&b[self.tids..], slot, self.enc.tid_bits()))
    }

    /// `e`'s TID as stored.
    fn raw_tid(&self, e: Entry) -> u64 {
        (((tid_block(e.tid) - self.enc.blk_base) as u64) << self.enc.off_bits) | tid_offset(e.tid) as u64
    }

    #[inline]
    fn tid(&self, b: &[u8], slot: usize) -> PackedTid {
        let v = bits::get(&b[self.tids..], slot, self.enc.tid_bits());
        let off = (v & ((1u64 << self.enc.off_bits) - 1)) as u16;
        let blk = (v >> self.enc.off_bits) as u32 + self.enc.blk_base;
        pack_tid(blk, off)
    }

    #[inline]
    fn entry(&self, b: &[u8], slot: usize) -> Entry {
        debug_assert!(self.is_occupied(b, slot));
        Entry::new(self.key_code(b, slot), self.tid(b, slot))
    }

    fn next_occupied(&self, b: &[u8], slot: usize) -> usize {
        let mut s = slot;
        while s < self.cap {
            let w = rd_u64(b, BITMAP + (s / 64) * 8) >> (s % 64);
            if w != 0 {
                return (s + w.trailing_zeros() as usize).min(self.cap);
            }
            s = (s / 64 + 1) * 64;
        }
        self.cap
    }

    fn prev_occupied(&self, b: &[u8], slot: usize) -> Option<usize> {
        let mut s = slot.min(self.cap);
        while s > 0 {
            let last = s - 1;
            let w = rd_u64(b, BITMAP + (last / 64) * 8) << (63 - last % 64);
            if w != 0 {
                return Some(last - w.leading_zeros() as usize);
            }
            s = (last / 64) * 64;
        }
        None
    }

    /// The first gap at or after `slot`, a word of the bitmap at a time.
    fn next_free(&self, b: &[u8], slot: usize) -> Option<usize> {
        let mut s = slot;
        while s < self.cap {
            let w = !rd_u64(b, BITMAP + (s / 64) * 8) >> (s % 64);
            if w != 0 {
                let free = s + w.trailing_zeros() as usize;
                // Bits past the capacity, in the last word, are not slots.
                return (free < self.cap).then_some(free);
            }
            s = (s / 64 + 1) * 64;
        }
        None
    }

    /// The last gap strictly before `slot`, a word of the bitmap at a time.
    fn prev_free(&self, b: &[u8], slot: usize) -> Option<usize> {
        let mut s = slot.min(self.cap);
        while s > 0 {
            let last = s - 1;
            let w = !rd_u64(b, BITMAP + (last / 64) * 8) << (63 - last % 64);
            if w != 0 {
                return Some(last - w.leading_zeros() as usize);
            }
            s = (last / 64) * 64;
        }
        None
    }

    /// The slot the model predicts for stored value `v` (the model maps stored values to slots).
    #[inline]
    fn predict_stored(&self, v: u64) -> usize {
        self.model.predict_index(v, self.cap.max(1))
    }

    #[inline]
    fn predict(&self, b: &[u8], code: u64) -> usize {
        self.predict_stored(self.rank(b, code))
    }

    /// The first slot whose key array value is `>= code` (gap or entry), or `cap`: exponential
    /// search outward from the model's prediction.
    fn lower_bound_code(&self, b: &[u8], code: u64) -> usize {
        let v = self.rank(b, code);
        let hint = self.predict_stored(v);
        // Load what the search will read, all at once.
        for (start, end) in first_reads(hint, self.cap, self.keys, self.enc.key_bits, self.tids, self.enc.tid_bits()) {
            bits::prefetch(b, start, end);
        }
        crate::model::search_from(self.cap, hint, |s| self.stored(b, s) >= v)
    }

    fn search_hint(&self) -> SearchHint {
        // The hint predicts from codes, with no dictionary at hand: none for a dictionary page.
        if self.enc.dict_len > 0 {
            return SearchHint::default();
        }
        SearchHint {
            model: self.model,
            key_base: self.enc.key_base,
            cap: self.cap as u16,
            keys: self.keys as u16,
            tids: self.tids as u16,
            key_bits: self.enc.key_bits as u8,
            tid_bits: self.enc.tid_bits() as u8,
        }
    }

    fn seek(&self, b: &[u8], e: Entry) -> usize {
        let first = self.next_occupied(b, self.lower_bound_code(b, e.code));
        if first >= self.cap || self.entry(b, first) >= e {
            return first;
        }
        // Entries with e's code come before e: binary search their slots by TID. The entry at
        // or after slot m never decreases with m, and past the code's slots it is >= e.
        let end = if e.code == u64::MAX { self.cap } else { self.lower_bound_code(b, e.code + 1) };
        // Inserts of a duplicate key come with the largest TID (heap appends): check the end of
        // the run first.
        if let Some(last) = self.prev_occupied(b, end)
            && self.entry(b, last) < e
        {
            return self.next_occupied(b, last + 1);
        }
        let (mut lo, mut hi) = (first + 1, end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let n = self.next_occupied(b, mid);
            if n >= self.cap || self.entry(b, n) >= e { hi = mid } else { lo = mid + 1 }
        }
        self.next_occupied(b, lo)
    }
}

/// The content byte ranges a search starting at slot `hint` reads first: the keys around it
/// (where the exponential search looks), the bitmap word and the TID the entry found needs.
fn first_reads(hint: usize, cap: usize, keys: usize, key_bits: u32, tids: usize, tid_bits: u32) -> [(usize, usize); 3] {
    let (lo, hi) = (hint.saturating_sub(PREFETCH_SLOTS), (hint + PREFETCH_SLOTS).min(cap));
    let key_bits = key_bits as usize;
    let tid_byte = tids + hint * tid_bits as usize / 8;
    [
        (keys + lo * key_bits / 8, keys + hi * key_bits / 8 + 1),
        (BITMAP + hint / 64 * 8, BITMAP + hint / 64 * 8 + 1),
        (tid_byte, tid_byte + 1),
    ]
}

/// A data page's search geometry, kept apart from the page (32 bytes) so that a search can start
/// loading the bytes it will read before it has the page's header: the route cache keeps one
/// per cached child. Only a hint: a stale one costs useless loads, never a wrong answer, as the
/// search itself always uses the page's own header.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SearchHint {
    model: LinearModel,
    key_base: u64,
    cap: u16,
    keys: u16,
    tids: u16,
    key_bits: u8,
    tid_bits: u8,
}

impl SearchHint {
    /// The content byte ranges a search for `code` reads first, within `0..CONTENT_SIZE`; none for
    /// the default hint.
    pub fn first_reads(&self, code: u64) -> [(usize, usize); 3] {
        if self.cap == 0 {
            return [(0, 0); 3];
        }
        let cap = self.cap as usize;
        let hint = self.model.predict_index(code.saturating_sub(self.key_base), cap);
        first_reads(hint, cap, self.keys as usize, self.key_bits as u32, self.tids as usize, self.tid_bits as u32)
            .map(|(start, end)| (start.min(CONTENT_SIZE), end.min(CONTENT_SIZE)))
    }
}

/// Read access to a data page's content area.
#[derive(Clone, Copy)]
pub struct DataPage<'a> {
    b: &'a [u8],
    g: Geometry,
}

impl<'a> DataPage<'a> {
    pub fn new(b: &'a [u8]) -> DataPage<'a> {
        DataPage { b, g: Geometry::read(b) }
    }

    pub fn header(&self) -> Header {
        Header::read(self.b)
    }
    pub fn encoding(&self) -> Encoding {
        self.g.enc
    }
    #[inline]
    pub fn capacity(&self) -> usize {
        self.g.cap
    }
    #[inline]
    pub fn count(&self) -> usize {
        node::count(self.b)
    }
    #[inline]
    pub fn is_occupied(&self, slot: usize) -> bool {
        self.g.is_occupied(self.b, slot)
    }
    /// The entry in an occupied slot.
    #[inline]
    pub fn entry(&self, slot: usize) -> Entry {
        self.g.entry(self.b, slot)
    }
    /// The first occupied slot at or after `slot`, or `capacity()`.
    #[inline]
    pub fn next_occupied(&self, slot: usize) -> usize {
        self.g.next_occupied(self.b, slot)
    }
    /// The last occupied slot strictly before `slot`, if any.
    #[inline]
    pub fn prev_occupied(&self, slot: usize) -> Option<usize> {
        self.g.prev_occupied(self.b, slot)
    }
    /// The slot the model predicts for `code`.
    #[inline]
    pub fn predict(&self, code: u64) -> usize {
        self.g.predict(self.b, code)
    }
    /// Whether `e` can be stored in this page as it is encoded (its code and TID).
    pub fn fits(&self, e: Entry) -> bool {
        self.g.stored_for(self.b, e).is_some()
    }
    /// Whether `code` can be stored in this page as it is encoded (a dictionary page: whether
    /// its dictionary has it).
    pub fn holds_code(&self, code: u64) -> bool {
        self.g.stored_of(self.b, code).is_some()
    }
    /// The first occupied slot whose entry is `>= e`, or `capacity()`.
    #[inline]
    pub fn seek(&self, e: Entry) -> usize {
        self.g.seek(self.b, e)
    }
    /// What lets a later search of this page start loading before it reads the header.
    pub fn search_hint(&self) -> SearchHint {
        self.g.search_hint()
    }

    /// Decides where `e` goes (see [`DataPageMut::insert`]) without changing the page.
    pub fn plan_insert(&self, e: Entry) -> Result<InsertPlan, InsertError> {
        let (g, b) = (&self.g, self.b);
        let Some(stored) = g.stored_for(b, e) else {
            return Err(InsertError::Encoding);
        };
        if self.count() >= g.cap {
            return Err(InsertError::Full);
        }
        let next = g.seek(b, e);
        if next < g.cap && g.entry(b, next) == e {
            return Err(InsertError::Duplicate);
        }
        let prev = g.prev_occupied(b, next);
        let first_gap = prev.map_or(0, |a| a + 1);
        let plan = |slot, shift, first, last, shifted| InsertPlan { stored, tid: g.raw_tid(e), slot, shift, first, last, shifted, geometry: *g };
        if first_gap < next {
            // A run of gaps between the neighbours: take the predicted one. A prediction beyond
            // the run's right end takes the run's leftmost gap instead, and one before its left
            // end the rightmost, so that ascending (or descending) inserts into one place, the
            // pattern that makes gapped arrays shift the most, fill the run without shifting.
            // So does an entry beyond the page's last one, or one far closer to the entry before
            // it than to the one after (the next append then finds the rest of the run free),
            // and, mirrored, one before the page's first or far closer to the entry after it.
            let pred = g.predict_stored(stored);
            let neighbours = prev.filter(|_| next < g.cap).map(|a| (g.key_code(b, a), g.key_code(b, next)));
            let local_append = neighbours.is_some_and(|(p, x)| is_local_append(p, e.code, x));
            let local_prepend = neighbours.is_some_and(|(p, x)| is_local_prepend(p, e.code, x));
            // Before the page's first entry, or before a key far closer to it than the one
            // before, a key heads a descending stream; when that key has several rows, of
            // repeated keys, whose own rows follow it: it leaves as many gaps after it as that
            // key has rows (counted up to the gaps there are).
            let next_rows = || {
                let (code, mut rows, mut s) = (g.stored(b, next), 1, g.next_occupied(b, next + 1));
                while s < g.cap && g.stored(b, s) == code && rows < next - first_gap {
                    (rows, s) = (rows + 1, g.next_occupied(b, s + 1));
                }
                rows
            };
            let repeated_stream_rows = if prev.is_none() || local_prepend { next_rows() } else { 1 };
            let slot = if next == g.cap || local_append {
                first_gap
            } else if repeated_stream_rows > 1 {
                (next - 1).saturating_sub(repeated_stream_rows).max(first_gap)
            } else if (prev.is_none() && pred >= next) || local_prepend {
                next - 1
            } else if pred >= next {
                first_gap
            } else if pred < first_gap {
                next - 1
            } else {
                pred
            };
            // Gaps before the slot holding values above the new entry's, and gaps after it
            // holding values below (in a run before the first entry), take its value, so that
            // the key array never decreases. The values never decrease, so those gaps are the
            // end of the run before the slot and the start of the run after it.
            let first = first_gap + partition_point(slot - first_gap, |i| g.stored(b, first_gap + i) <= stored);
            let last = slot + partition_point(next - slot - 1, |i| g.stored(b, slot + 1 + i) < stored);
            return Ok(plan(slot, Shift::None, first, last, 0));
        }
        // No gap between the neighbours: shift toward the nearest gap.
        let right_gap = g.next_free(b, next);
        let left_gap = prev.and_then(|a| g.prev_free(b, a));
        let go_right = match (left_gap, right_gap) {
            (Some(l), Some(r)) => r - next <= prev.unwrap() - l,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (None, None) => return Err(InsertError::Full),
        };
        Ok(if go_right {
            let r = right_gap.unwrap();
            plan(next, Shift::Right, next, r, r - next)
        } else {
            let (l, a) = (left_gap.unwrap(), prev.unwrap());
            plan(a, Shift::Left, l, a, a - l)
        })
    }

    /// All entries in order.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::with_capacity(self.count());
        let mut s = self.next_occupied(0);
        while s < self.g.cap {
            out.push(self.entry(s));
            s = self.next_occupied(s + 1);
        }
        out
    }

    /// Mean and maximum |predicted slot - actual slot| over the entries.
    pub fn model_error(&self) -> (f64, usize) {
        let (mut sum, mut max, mut n) = (0usize, 0usize, 0usize);
        let mut s = self.next_occupied(0);
        while s < self.g.cap {
            let d = self.g.predict_stored(self.g.stored(self.b, s)).abs_diff(s);
            sum += d;
            max = max.max(d);
            n += 1;
            s = self.next_occupied(s + 1);
        }
        (if n == 0 { 0.0 } else { sum as f64 / n as f64 }, max)
    }
}

/// Why an insert could not be done in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// Every slot is taken: split the page.
    Full,
    /// The entry does not fit the page's encoding: lay the page out again (or split it).
    Encoding,
    /// The exact entry is already present.
    Duplicate,
}

/// How an insert moves entries: none (it takes a gap), or those between its slot and the gap
/// it fills, one slot right or left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shift {
    None,
    Right,
    Left,
}

/// An insert decided on a page before changing it ([`DataPage::plan_insert`]): where the entry
/// goes and which bytes of the content area it will change, so that a caller can change the
/// page in place and log just those bytes.
#[derive(Clone, Copy, Debug)]
pub struct InsertPlan {
    /// The new entry's key and TID as stored.
    stored: u64,
    tid: u64,
    slot: usize,
    shift: Shift,
    /// The slots whose key, TID or bitmap bit the insert may write: `first..=last`.
    first: usize,
    last: usize,
    /// Entries moved to make room.
    pub shifted: usize,
    geometry: Geometry,
}

impl InsertPlan {
    /// Byte ranges of the content area that the insert may change (in increasing order):
    /// the entry count, the bitmap words, key bits and TID bits of the touched slots.
    pub fn changed_ranges(&self) -> [std::ops::Range<usize>; 4] {
        let g = &self.geometry;
        let (first, last) = (self.first, self.last);
        let bits_of = |base: usize, width: u32| {
            let w = width as usize;
            base + first * w / 8..base + ((last + 1) * w).div_ceil(8)
        };
        [
            node::COUNT..node::COUNT + 2,
            BITMAP + first / 64 * 8..BITMAP + (last / 64 + 1) * 8,
            bits_of(g.keys, g.enc.key_bits),
            bits_of(g.tids, g.enc.tid_bits()),
        ]
    }
}

/// Write access to a data page's content area.
pub struct DataPageMut<'a> {
    b: &'a mut [u8],
}

impl<'a> DataPageMut<'a> {
    pub fn new(b: &'a mut [u8]) -> DataPageMut<'a> {
        DataPageMut { b }
    }

    pub fn read(&self) -> DataPage<'_> {
        DataPage::new(self.b)
    }

    fn set_occupied(&mut self, slot: usize, on: bool) {
        let off = BITMAP + (slot / 64) * 8;
        let mut w = rd_u64(self.b, off);
        if on { w |= 1 << (slot % 64) } else { w &= !(1 << (slot % 64)) }
        wr_u64(self.b, off, w);
    }

    fn set_key(&mut self, g: &Geometry, slot: usize, stored: u64) {
        bits::set(&mut self.b[g.keys..], slot, g.enc.key_bits, stored);
    }

    /// Writes a slot's key and TID, both as stored.
    fn set_raw(&mut self, g: &Geometry, slot: usize, (stored, tid): (u64, u64)) {
        self.set_key(g, slot, stored);
        bits::set(&mut self.b[g.tids..], slot, g.enc.tid_bits(), tid);
    }

    fn set_count(&mut self, count: usize) {
        crate::page::wr_u16(self.b, node::COUNT, count as u16);
    }

    /// Inserts `e`, which must lie within the page's fences. Places it in the gap the model
    /// predicts, or shifts entries toward the nearest gap. Returns the number of entries shifted.
    pub fn insert(&mut self, e: Entry) -> Result<usize, InsertError> {
        let plan = self.read().plan_insert(e)?;
        self.apply_insert(&plan);
        Ok(plan.shifted)
    }

    /// Carries out an insert planned on this very page (unchanged since).
    pub fn apply_insert(&mut self, plan: &InsertPlan) {
        let g = Geometry::read(self.b);
        match plan.shift {
            Shift::None => {
                for s in (plan.first..=plan.last).filter(|&s| s != plan.slot) {
                    self.set_key(&g, s, plan.stored);
                }
            }
            Shift::Right => {
                for s in (plan.slot..plan.last).rev() {
                    let moved = g.raw(self.b, s);
                    self.set_raw(&g, s + 1, moved);
                }
                self.set_occupied(plan.last, true);
            }
            Shift::Left => {
                for s in plan.first + 1..=plan.slot {
                    let moved = g.raw(self.b, s);
                    self.set_raw(&g, s - 1, moved);
                }
                self.set_occupied(plan.first, true);
            }
        }
        self.set_raw(&g, plan.slot, (plan.stored, plan.tid));
        self.set_occupied(plan.slot, true);
        let count = node::count(self.b);
        self.set_count(count + 1);
    }

    /// Removes the entries in `slots` (ascending). Their slots become gaps, and every gap from
    /// the one after the entry before the first to the last takes the code of the slot after
    /// it, in one pass from the right: deleting a run of entries one at a time would rewrite
    /// the gaps before each again and again.
    pub fn delete_slots(&mut self, slots: &[usize]) {
        let (Some(&first), Some(&last)) = (slots.first(), slots.last()) else {
            return;
        };
        debug_assert!(slots.windows(2).all(|w| w[0] < w[1]));
        let g = Geometry::read(self.b);
        for &s in slots {
            debug_assert!(g.is_occupied(self.b, s));
            self.set_occupied(s, false);
        }
        let from = g.prev_occupied(self.b, first).map_or(0, |a| a + 1);
        let mut fill = if last + 1 < g.cap { g.stored(self.b, last + 1) } else { g.max_stored() };
        for s in (from..=last).rev() {
            if g.is_occupied(self.b, s) {
                fill = g.stored(self.b, s);
            } else {
                self.set_key(&g, s, fill);
            }
        }
        let count = node::count(self.b);
        self.set_count(count - slots.len());
    }
}

/// Lays out a data page from scratch: header, encoding, model and the sorted `entries` spread
/// evenly over all the slots the encoding allows (the rest are gaps for inserts). Callers decide
/// how full a page starts by how many entries they give it.
///
/// `entries.len()` must not exceed `enc.capacity()`, and every entry must fit `enc`.
pub fn layout(b: &mut [u8], entries: &[Entry], enc: Encoding, header: Header) {
    layout_with(b, entries, enc, header, Slack::Spread)
}

/// Where a layout leaves a page's free slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slack {
    /// Among the entries, evenly: every entry has gaps nearby, whatever the keys.
    Spread,
    /// After the entry at this index (the entries after it packed at the end of the page): an
    /// append point, where keys arrive in ascending order (the end of the index, or a run
    /// into one place inside it), so that each takes the next slot with no shift.
    After(usize),
    /// Before the entry at this index (the entries before it packed at the start of the page),
    /// the gaps holding the code of the entry before them: a prepend point, where keys arrive
    /// in descending order (the start of the index, or a run into one place inside it), so
    /// that each takes the slot before the last one with no shift and no gap to rewrite.
    Before(usize),
    /// Half spread after every entry, the rest shared out after the entry at this index, after
    /// every run of two or more equal codes and before every jump (a gap 16 times the page's
    /// mean gap): one page can hold several append points, such as the ends of several keys'
    /// runs of duplicates (equal keys come with ascending TIDs), or of several streams of
    /// ascending keys, and an insert just above its neighbour may be one of many all over the
    /// page. Some of the rest goes after each of the entries that follow a repeated key, or
    /// before the first entry, when the insert looks like a row added for every key in key
    /// order, or like the head of a descending stream of repeated keys.
    AfterRuns(usize),
}

impl Slack {
    /// How to lay out a page between fences `low` and `high` holding `entries`, the one at
    /// `at` just inserted: when it repeats the code before it, with the slack shared among the
    /// ends of all runs of equal codes; right after it when it looks like an append point (the
    /// largest entry of the rightmost page, or one [`is_local_append`] says so of); before the
    /// entries when it is the smallest of the leftmost page; else spread. A run of appends (or
    /// prepends) thus costs a layout per split rather than one every few inserts; an insert
    /// elsewhere in such a page shifts far and lays it out spread again.
    pub fn after_insert(entries: &[Entry], at: usize, low: Entry, high: Option<Entry>) -> Slack {
        let n = entries.len();
        let prev = if at > 0 { Some(entries[at - 1].code) } else { (low != Entry::MIN).then_some(low.code) };
        let next = entries.get(at + 1).or(high.as_ref()).map(|x| x.code);
        if high.is_none() && at + 1 == n {
            Slack::After(at)
        } else if prev.zip(next).is_some_and(|(p, x)| is_local_append(p, entries[at].code, x)) {
            Slack::AfterRuns(at)
        } else if (low == Entry::MIN && at == 0 && n > 1) || prev.zip(next).is_some_and(|(p, x)| is_local_prepend(p, entries[at].code, x)) {
            // Before a key with several rows, it heads a descending stream of repeated keys,
            // whose own rows follow it.
            if at + 2 < n && entries[at + 1].code == entries[at + 2].code { Slack::AfterRuns(at) } else { Slack::Before(at) }
        } else {
            Slack::Spread
        }
    }
}

/// [`layout`], with the free slots where `slack` says.
pub fn layout_with(b: &mut [u8], entries: &[Entry], enc: Encoding, header: Header, slack: Slack) {
    debug_assert!(entries.windows(2).all(|w| w[0] < w[1]));
    debug_assert!(entries.iter().all(|e| enc.fits(*e)));
    let max_cap = enc.capacity();
    assert!(entries.len() <= max_cap, "{} entries exceed capacity {}", entries.len(), max_cap);
    // Use all the slots the page has: fewer slots would only waste the page.
    let cap = max_cap;
    let n = entries.len();
    b.fill(0);
    // Entries are spread evenly over the slots (unless `slack` asks otherwise), so that every
    // entry has gaps nearby whatever the key distribution; the model is fitted to those
    // positions and serves as the search hint (exact for linear keys, an exponential search
    // away otherwise).
    let slots: Vec<usize> = match slack {
        Slack::Spread => (0..n).map(|i| i * cap / n.max(1)).collect(),
        Slack::After(at) => (0..n).map(|i| if i <= at { i } else { cap - (n - i) }).collect(),
        Slack::Before(at) => (0..n).map(|i| if i < at { i } else { cap - (n - i) }).collect(),
        Slack::AfterRuns(at) => {
            // A jump: wider than 16 mean gaps (with all codes equal, none is).
            let span = entries.last().map_or(0, |l| l.code - entries[0].code) as u128;
            let is_jump = |i: usize| (entries[i + 1].code - entries[i].code) as u128 * (n as u128 - 1) > 16 * span;
            // The end of a run of two or more equal codes, too.
            let ends_duplicates = |i: usize| i > 0 && entries[i - 1].code == entries[i].code && entries[i + 1].code != entries[i].code;
            // When it repeats the page's first key and that key is far closer to the next key
            // than to the low fence, it is the head of a descending stream of repeated keys:
            // half of the non-spread slack goes before the first entry, for the stream's next
            // keys, and the rest after the first key's run, for its own rows.
            let first_run = entries.partition_point(|e| e.code == entries[0].code);
            let prepend_point = at < first_run && first_run < n && (entries[0].code - header.low.code) / 16 > entries[first_run].code - entries[0].code;
            let run_ends: Vec<bool> = if prepend_point {
                (0..n).map(|i| i + 1 == first_run).collect()
            } else {
                (0..n).map(|i| i == at || i + 1 == n || is_jump(i) || ends_duplicates(i)).collect()
            };
            let runs = run_ends.iter().filter(|&&end| end).count().max(1);
            // When the new entry repeats a key held only a few times, it may be one of a row
            // added for every key in key order (a table stored in key order, updated): half
            // of the non-spread slack is one gap after each of the entries next in line. When
            // the key before it was repeated too, that is what is going on: all of it is, as
            // the gaps behind the insert would go unused.
            let repeats_a_few = at > 0 && at < n && entries[at - 1].code == entries[at].code && (at < 4 || entries[at - 4].code != entries[at].code);
            let sweep = repeats_a_few && at >= 3 && entries[at - 3].code == entries[at - 2].code && entries[at - 2].code != entries[at].code;
            // Half the free slots follow every entry evenly (but in a sweep), so that inserts
            // next to other entries (a key just above each existing one, or thousands of
            // streams, one per key) find a gap nearby instead of shifting far and laying the
            // page out again.
            let spread = if sweep { 0 } else { (cap - n) / 2 };
            let ahead = match (repeats_a_few, sweep) {
                (true, true) => (cap - n).min(n - 1 - at),
                (true, false) => ((cap - n - spread) / 2).min(n - 1 - at),
                _ => 0,
            };
            let lead = if prepend_point { (cap - n - spread - ahead) / 2 } else { 0 };
            // The rest goes to the run ends.
            let focused = cap - n - spread - ahead - lead;
            let (mut slot, mut run) = (lead, 0);
            let mut slots = Vec::with_capacity(n);
            for (i, &end) in run_ends.iter().enumerate() {
                slots.push(slot);
                // Entry i's share of the spread slots (and its gap if next in line), and run
                // r's of the focused ones.
                slot += 1 + (i + 1) * spread / n - i * spread / n + usize::from(i > at && i <= at + ahead);
                if end {
                    slot += (run + 1) * focused / runs - run * focused / runs;
                    run += 1;
                }
                debug_assert!(i + 1 == n || slot < cap);
            }
            slots
        }
    };
    // Stored values: offsets from the base, or indexes into the dictionary of distinct codes.
    let stored: Vec<u64> = if enc.dict_len == 0 {
        entries.iter().map(|e| e.code - enc.key_base).collect()
    } else {
        let mut index = 0;
        (0..n).map(|i| {
            index += u64::from(i > 0 && entries[i - 1].code != entries[i].code);
            index
        }).collect()
    };
    debug_assert!(enc.dict_len == 0 || stored.last().map_or(0, |v| v + 1) == enc.dict_len as u64);
    let model = LinearModel::fit(stored.iter().zip(&slots).map(|(v, s)| (*v, *s as f64 + 0.5)));
    let mut h = header;
    h.level = 0;
    h.count = n as u16;
    h.capacity = cap as u16;
    h.model = model;
    h.write(b);
    wr_u64(b, KEY_BASE, enc.key_base);
    wr_u32(b, BLK_BASE, enc.blk_base);
    b[KEY_BITS] = enc.key_bits as u8;
    b[BLK_BITS] = enc.blk_bits as u8;
    b[OFF_BITS] = enc.off_bits as u8;
    crate::page::wr_u16(b, DICT_LEN, enc.dict_len);

    let g = Geometry::read(b);
    if enc.dict_len > 0 {
        for (i, e) in entries.iter().enumerate().filter(|&(i, e)| i == 0 || entries[i - 1].code != e.code) {
            wr_u64(b, g.dict + stored[i] as usize * 8, e.code);
        }
    }
    let mut w = DataPageMut::new(b);
    // A gap holds the value of the entry after it, the encoding's largest after the last entry,
    // and its smallest before the first (or, before a prepend point, the value of the entry
    // before it), so that inserts in front of the first entry (or the prepend point) write
    // only their own slot.
    let mut fill = g.max_stored();
    let mut placed = n;
    for s in (0..cap).rev() {
        if placed > 0 && slots[placed - 1] == s {
            placed -= 1;
            w.set_raw(&g, s, (stored[placed], g.raw_tid(entries[placed])));
            w.set_occupied(s, true);
            fill = match placed {
                0 => 0,
                i if slack == Slack::Before(i) => stored[i - 1],
                i => stored[i],
            };
        } else {
            w.set_key(&g, s, fill);
        }
    }
}

/// Turns the data page in `b` into a deleted page: no entries, the same fences and links, and
/// `safe_xid`, the next transaction id when it was unlinked (it may be reused once no running
/// transaction is older).
pub fn mark_deleted(b: &mut [u8], safe_xid: u64) {
    write_deleted(b, Header::read(b), safe_xid);
}

/// Writes over `b` a deleted page with the fences and links of header `h` (of a data page, or
/// of a model page formatted anew as a data page, so that it is recycled like one).
pub fn write_deleted(b: &mut [u8], h: Header, safe_xid: u64) {
    b.fill(0);
    Header { flags: h.flags | node::FLAG_DELETED, count: 0, capacity: 0, model: LinearModel::default(), ..h }.write(b);
    wr_u64(b, DELETED_XID, safe_xid);
}

/// The transaction id stored by [`mark_deleted`].
pub fn deleted_xid(b: &[u8]) -> u64 {
    debug_assert!(node::is_deleted(b));
    rd_u64(b, DELETED_XID)
}

/// How many entries a page with encoding `enc` takes at a given target density.
pub fn entries_at_density(enc: &Encoding, density: f64) -> usize {
    ((enc.capacity() as f64 * density).floor() as usize).max(1)
}

/// Verifies every invariant of a data page; returns the first violation.
pub fn check(b: &[u8]) -> Result<(), String> {
    let h = Header::read(b);
    if h.level != 0 {
        return Err(format!("data page has level {}", h.level));
    }
    let p = DataPage::new(b);
    let g = p.g;
    let enc = p.encoding();
    if enc.key_bits > 64 || enc.blk_bits > 32 || enc.off_bits > 16 {
        return Err(format!("impossible encoding {enc:?}"));
    }
    if p.capacity() != enc.capacity() || enc.layout_end(p.capacity()) > CONTENT_SIZE {
        return Err(format!("capacity {} differs from the encoding's {}", p.capacity(), enc.capacity()));
    }
    if enc.dict_len > 0 {
        let codes: Vec<u64> = (0..enc.dict_len as u64).map(|i| g.code_of(b, i)).collect();
        if let Some(i) = (1..codes.len()).find(|&i| codes[i - 1] >= codes[i]) {
            return Err(format!("dictionary does not increase at index {i}"));
        }
    }
    let mut seen = 0usize;
    let mut prev: Option<Entry> = None;
    let mut prev_key = 0u64;
    for s in 0..p.capacity() {
        let k = g.stored(b, s);
        if k < prev_key {
            return Err(format!("key array decreases at slot {s}"));
        }
        if enc.dict_len > 0 && k >= enc.dict_len as u64 {
            return Err(format!("slot {s} holds {k}, beyond the dictionary of {}", enc.dict_len));
        }
        prev_key = k;
        if p.is_occupied(s) {
            let e = p.entry(s);
            seen += 1;
            if let Some(pe) = prev
                && pe >= e
            {
                return Err(format!("entries out of order at slot {s}: {pe:?} then {e:?}"));
            }
            if e < h.low || h.beyond_high(e) {
                return Err(format!("entry {e:?} at slot {s} lies outside the fences"));
            }
            prev = Some(e);
        } else {
            // A gap's code lies between its neighbours' (the array never decreases, checked
            // above): layouts give it the next entry's, or the smallest code before the first
            // entry, and inserts in front of the first entry leave such codes behind them.
            let next = p.next_occupied(s);
            if next < p.capacity() && k > g.stored(b, next) {
                return Err(format!("gap at slot {s} holds {k}, above the next key's {}", g.stored(b, next)));
            }
        }
    }
    if seen != p.count() {
        return Err(format!("count {} but {} entries in the bitmap", p.count(), seen));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::NO_BLOCK;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn header(low: Entry, high: Option<Entry>) -> Header {
        Header {
            flags: 0,
            level: 0,
            count: 0,
            capacity: 0,
            left: NO_BLOCK,
            right: NO_BLOCK,
            low,
            high,
            model: LinearModel::default(),
        }
    }

    fn build(entries: &[Entry], low: Entry, high: Option<Entry>) -> Vec<u8> {
        let mut b = vec![0u8; CONTENT_SIZE];
        let enc = Encoding::for_entries(entries, low, high);
        layout(&mut b, entries, enc, header(low, high));
        check(&b).unwrap();
        b
    }

    fn e(code: u64, blk: u32, off: u16) -> Entry {
        Entry::new(code, pack_tid(blk, off))
    }

    #[test]
    fn a_deleted_page_keeps_fences_links_and_its_xid() {
        let entries: Vec<Entry> = (0..50u64).map(|i| e(1000 + i, 1, (i + 1) as u16)).collect();
        let (low, high) = (Entry::first_of(900), Some(Entry::first_of(2000)));
        let mut b = build(&entries, low, high);
        node::set_left(&mut b, 7);
        node::set_right(&mut b, 9);
        mark_deleted(&mut b, 123_456_789_012);
        let h = Header::read(&b);
        assert!(node::is_deleted(&b));
        assert_eq!((h.low, h.high, h.left, h.right, h.count), (low, high, 7, 9, 0));
        assert_eq!(deleted_xid(&b), 123_456_789_012);
    }

    #[test]
    fn layout_and_search_sequential() {
        let entries: Vec<Entry> = (0..500u64).map(|i| e(1000 + i * 3, (i / 100) as u32, (i % 100 + 1) as u16)).collect();
        let b = build(&entries, Entry::MIN, None);
        let p = DataPage::new(&b);
        assert_eq!(p.entries(), entries);
        assert!(p.capacity() > 1500, "narrow keys pack densely: capacity {}", p.capacity());
        for (i, x) in entries.iter().enumerate() {
            let s = p.seek(Entry::first_of(x.code));
            assert_eq!(p.entry(s), *x, "entry {i}");
        }
        assert_eq!(p.seek(Entry::first_of(1)), p.next_occupied(0));
        assert_eq!(p.seek(Entry::first_of(10_000)), p.capacity());
        let (mean, _) = p.model_error();
        assert!(mean < 1.0, "linear keys are predicted exactly, mean error {mean}");
    }

    #[test]
    fn random_int8_codes_pack_below_fourteen_bytes() {
        let mut codes: Vec<u64> = (0..600u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 14).collect();
        codes.sort();
        codes.dedup();
        let entries: Vec<Entry> = codes.iter().enumerate().map(|(i, c)| e(*c, 50_000 + (i as u32 * 7919) % 60_000, 1 + (i % 180) as u16)).collect();
        let enc = Encoding::for_entries(&entries, Entry::MIN, None);
        let bytes_per_slot = CONTENT_SIZE as f64 / enc.capacity() as f64;
        assert!(bytes_per_slot < 11.0, "{bytes_per_slot} bytes per slot with {enc:?}");
    }

    #[test]
    fn search_hint_names_what_the_search_reads() {
        // Random keys, so that the model is off by some slots and the search moves.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut codes: Vec<u64> = (0..600)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x >> 8
            })
            .collect();
        codes.sort_unstable();
        let entries: Vec<Entry> = codes.iter().enumerate().map(|(i, &c)| e(c, 1 + i as u32, 1)).collect();
        let b = build(&entries, Entry::first_of(0), None);
        let p = DataPage::new(&b);
        let hint = p.search_hint();
        assert_eq!(SearchHint::default().first_reads(codes[0]), [(0, 0); 3]);
        let g = &p.g;
        for &c in &codes {
            let reads = hint.first_reads(c);
            assert!(reads.iter().all(|&(s, e)| s <= e && e <= CONTENT_SIZE));
            // The predicted slot's key, bitmap word and TID are among the bytes named.
            let slot = p.predict(c);
            let key_byte = g.keys + slot * g.enc.key_bits as usize / 8;
            let tid_byte = g.tids + slot * g.enc.tid_bits() as usize / 8;
            assert!(reads[0].0 <= key_byte && key_byte < reads[0].1, "{c}");
            assert!(reads[1].0 <= BITMAP + slot / 64 * 8 && BITMAP + slot / 64 * 8 < reads[1].1);
            assert!(reads[2].0 <= tid_byte && tid_byte < reads[2].1);
            // The slot found is within the keys named when the model is close.
            let found = p.seek(Entry::first_of(c));
            if found.abs_diff(slot) < PREFETCH_SLOTS {
                let found_byte = g.keys + found * g.enc.key_bits as usize / 8;
                assert!(reads[0].0 <= found_byte && found_byte < reads[0].1);
            }
        }
    }

    /// A few wide keys repeated many times, in a page with both fences finite: a dictionary of
    /// the codes, and a few bits a slot for the key instead of some 60.
    #[test]
    fn a_page_of_a_few_wide_keys_takes_a_dictionary() {
        let mut codes: Vec<u64> = (1..=5u64).map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
        codes.sort_unstable();
        let entries: Vec<Entry> = codes.iter().flat_map(|&c| (0..300u32).map(move |i| e(c, 1000 + i / 100, 1 + (i % 100) as u16))).collect();
        let (low, high) = (Entry::first_of(1), Some(Entry::first_of(u64::MAX)));
        let enc = Encoding::for_entries(&entries, low, high);
        assert_eq!(enc.dict_len, 5);
        assert!(enc.capacity() > 2 * Encoding::affine_for(&entries, low, high).capacity(), "{enc:?}");
        // Not at the ends of the index, nor with few rows a key.
        assert_eq!(Encoding::for_entries(&entries, Entry::MIN, high).dict_len, 0);
        assert_eq!(Encoding::for_entries(&entries, low, None).dict_len, 0);
        let few: Vec<Entry> = entries.iter().step_by(60).copied().collect();
        assert_eq!(Encoding::for_entries(&few, low, high).dict_len, 0);

        let mut b = build(&entries, low, high);
        let p = DataPage::new(&b);
        assert_eq!(p.entries(), entries);
        assert_eq!(p.search_hint(), SearchHint::default());
        for (i, x) in entries.iter().enumerate() {
            assert_eq!(p.entry(p.seek(*x)), *x, "entry {i}");
        }
        for (k, &c) in codes.iter().enumerate() {
            let first_of_run = entries[k * 300];
            assert_eq!(p.entry(p.seek(Entry::first_of(c))), first_of_run);
            // Between two codes: the next code's first entry.
            let s = p.seek(Entry::first_of(c.wrapping_sub(1)));
            assert_eq!(p.entry(s), first_of_run);
            let s = p.seek(Entry::first_of(c + 1));
            assert_eq!(if s < p.capacity() { Some(p.entry(s)) } else { None }, entries.get(k * 300 + 300).copied());
        }
        // A row of a known key goes in place; a new key does not fit the dictionary.
        let known = e(codes[2], 1003, 7);
        assert!(DataPage::new(&b).fits(known));
        DataPageMut::new(&mut b).insert(known).unwrap();
        let new_code = e(codes[2] + 1, 1003, 8);
        assert!(!DataPage::new(&b).fits(new_code));
        assert_eq!(DataPageMut::new(&mut b).insert(new_code), Err(InsertError::Encoding));
        // Deleting every row of a key leaves its code in the dictionary, unused.
        let p = DataPage::new(&b);
        let slots: Vec<usize> = (0..p.capacity()).filter(|&s| p.is_occupied(s) && p.entry(s).code == codes[0]).collect();
        DataPageMut::new(&mut b).delete_slots(&slots);
        check(&b).unwrap();
        let mut expect: Vec<Entry> = entries[300..].to_vec();
        expect.insert(expect.partition_point(|x| *x < known), known);
        assert_eq!(DataPage::new(&b).entries(), expect);
        assert_eq!(DataPage::new(&b).entry(DataPage::new(&b).seek(Entry::MIN)), expect[0]);
    }

    #[test]
    fn seek_finds_each_of_many_equal_keys() {
        let entries: Vec<Entry> = (0..1500u32).map(|i| e(if i < 1400 { 7 } else { 8 }, i / 7, (i % 7) as u16 + 1)).collect();
        let mut b = build(&entries, Entry::MIN, None);
        for (i, x) in entries.iter().enumerate() {
            let p = DataPage::new(&b);
            assert_eq!(p.entry(p.seek(*x)), *x, "entry {i}");
        }
        // Inserts among them land in order.
        for i in 0..200u32 {
            DataPageMut::new(&mut b).insert(e(7, 220 + i / 100, (i % 100) as u16 + 1)).unwrap();
        }
        check(&b).unwrap();
        assert_eq!(DataPage::new(&b).count(), 1700);
    }

    #[test]
    fn codes_at_the_top_of_the_space_fit() {
        for codes in [vec![1u64, u64::MAX], vec![u64::MAX - 5, u64::MAX - 1, u64::MAX], vec![1 << 63, u64::MAX], vec![0, 1, u64::MAX]] {
            let entries: Vec<Entry> = codes.iter().enumerate().map(|(i, c)| e(*c, 0, 1 + i as u16)).collect();
            let b = build(&entries, Entry::MIN, None);
            let p = DataPage::new(&b);
            assert_eq!(p.entries(), entries);
            for x in &entries {
                assert_eq!(p.entry(p.seek(*x)), *x);
            }
            let mut b2 = b.clone();
            let _ = DataPageMut::new(&mut b2).insert(e(u64::MAX - 2, 0, 99));
            check(&b2).unwrap();
        }
    }

    /// Runs of inserts below the smallest key of the leftmost page, or above the largest of the
    /// rightmost, re-encode the page once per doubling of its key span, not at every insert.
    #[test]
    fn runs_at_either_end_of_the_index_rarely_re_encode() {
        let start: Vec<Entry> = (0..100u64).map(|i| e(1_000_000 + i, 1, 1 + i as u16)).collect();
        for descending in [true, false] {
            let mut b = build(&start, Entry::MIN, None);
            let mut re_encoded = 0;
            for i in 1..=1000u64 {
                let x = if descending { e(1_000_000 - i, 2, 1 + (i % 200) as u16) } else { e(1_000_099 + i, 2, 1 + (i % 200) as u16) };
                if let Err(err) = DataPageMut::new(&mut b).insert(x) {
                    assert_eq!(err, InsertError::Encoding);
                    re_encoded += 1;
                    let mut all = DataPage::new(&b).entries();
                    all.push(x);
                    all.sort();
                    b = build(&all, Entry::MIN, None);
                }
            }
            assert_eq!(DataPage::new(&b).count(), 1100);
            assert!(re_encoded <= 6, "descending {descending}: {re_encoded} re-encodings for 1000 inserts");
        }
    }

    /// Appends to a rightmost page laid out with its slack at the end take the next free slot:
    /// no shift, one slot written, also when a late key lands between the last few.
    #[test]
    fn appends_to_a_page_with_slack_at_the_end_write_one_slot() {
        let start: Vec<Entry> = (0..300u64).map(|i| e(1000 * i, 1, 1 + (i % 200) as u16)).collect();
        let mut b = vec![0u8; CONTENT_SIZE];
        layout_with(&mut b, &start, Encoding::for_entries(&start, Entry::MIN, None), header(Entry::MIN, None), Slack::After(start.len() - 1));
        check(&b).unwrap();
        let mut shifted = 0;
        // The appended keys are spaced three times wider than the page's: the model predicts
        // slots far beyond the last entry.
        let key = |i: u64| 3000 * i - 600_000;
        for i in 300..390u64 {
            // Every tenth key arrives late, just below the previous one.
            let code = if i % 10 == 0 { key(i - 1) - 7 } else { key(i) };
            let plan = DataPage::new(&b).plan_insert(e(code, 2, 1 + (i % 200) as u16)).unwrap();
            if i % 10 != 0 {
                assert_eq!((plan.first, plan.last, plan.shifted), (plan.slot, plan.slot, 0), "append {i}");
            }
            shifted += plan.shifted;
            DataPageMut::new(&mut b).apply_insert(&plan);
        }
        check(&b).unwrap();
        assert!(shifted <= 18, "{shifted} entries shifted for 9 late keys");
        let ten: Vec<Entry> = (0..10u64).map(|i| e(100 * i + 100, 0, 1)).collect();
        assert_eq!(Slack::after_insert(&ten, 9, e(1, 0, 1), None), Slack::After(9));
        assert_eq!(Slack::after_insert(&ten, 8, e(1, 0, 1), None), Slack::Spread);
        assert_eq!(Slack::after_insert(&ten, 9, Entry::MIN, Some(e(1050, 0, 1))), Slack::Spread);
        assert_eq!(Slack::after_insert(&ten, 0, Entry::MIN, Some(e(1050, 0, 1))), Slack::Before(0));
        let close_after: Vec<Entry> = [100, 29900, 30000, 40000].iter().map(|c| e(*c, 0, 1)).collect();
        assert_eq!(Slack::after_insert(&close_after, 1, e(1, 0, 1), None), Slack::Before(1));
        assert_eq!(Slack::after_insert(&ten, 0, e(1, 0, 1), None), Slack::Spread);
        // One of a few duplicate keys, and a key right after its neighbour inside the page.
        let dups: Vec<Entry> = [100, 200, 200, 200, 201].iter().enumerate().map(|(i, c)| e(*c, 0, 1 + i as u16)).collect();
        assert_eq!(Slack::after_insert(&dups, 3, e(1, 0, 1), Some(e(1000, 0, 1))), Slack::AfterRuns(3));
        let close: Vec<Entry> = [100, 200, 201, 30000].iter().map(|c| e(*c, 0, 1)).collect();
        assert_eq!(Slack::after_insert(&close, 2, e(1, 0, 1), None), Slack::AfterRuns(2));
    }

    /// Keys in descending order in front of a leftmost page laid out with its slack before the
    /// entries take the slot before the first entry: no shift, one slot written.
    #[test]
    fn prepends_to_a_page_with_slack_at_the_start_write_one_slot() {
        let start: Vec<Entry> = (0..300u64).map(|i| e(1_000_000 + 1000 * i, 1, 1 + (i % 200) as u16)).collect();
        let mut b = vec![0u8; CONTENT_SIZE];
        layout_with(&mut b, &start, Encoding::for_entries(&start, Entry::MIN, None), header(Entry::MIN, None), Slack::Before(0));
        check(&b).unwrap();
        for i in 1..200u64 {
            let plan = DataPage::new(&b).plan_insert(e(1_000_000 - 1000 * i, 2, 1 + (i % 200) as u16)).unwrap();
            assert_eq!((plan.first, plan.last, plan.shifted), (plan.slot, plan.slot, 0), "prepend {i}");
            DataPageMut::new(&mut b).apply_insert(&plan);
            check(&b).unwrap();
        }
        assert_eq!(DataPage::new(&b).count(), 499);
    }

    /// Runs of deleted entries, scattered ones, and all of them, in one call each.
    #[test]
    fn delete_slots_leaves_the_other_entries_and_a_valid_page() {
        let all: Vec<Entry> = (0..2000u64).map(|i| e(3 * i, 1, 1 + (i % 200) as u16)).collect();
        for (lay, pick) in [(Slack::Spread, 0), (Slack::Before(0), 1), (Slack::After(999), 2), (Slack::AfterRuns(5), 3), (Slack::Before(1200), 1)] {
            let mut b = vec![0u8; CONTENT_SIZE];
            layout_with(&mut b, &all, Encoding::for_entries(&all, Entry::MIN, None), header(Entry::MIN, None), lay);
            let dead = |i: usize| match pick {
                0 => (500..1500).contains(&i),
                1 => i < 1000 || i % 7 == 0,
                2 => i >= 1000 || i % 3 == 0,
                _ => true,
            };
            let p = DataPage::new(&b);
            let slots: Vec<usize> = all.iter().enumerate().filter(|(i, _)| dead(*i)).map(|(_, x)| p.seek(*x)).collect();
            DataPageMut::new(&mut b).delete_slots(&slots);
            check(&b).unwrap();
            let kept: Vec<Entry> = all.iter().enumerate().filter(|(i, _)| !dead(*i)).map(|(_, x)| *x).collect();
            let p = DataPage::new(&b);
            assert_eq!(p.entries(), kept);
            for x in &all {
                let s = p.seek(*x);
                assert_eq!(s < p.capacity() && p.entry(s) == *x, kept.contains(x));
            }
        }
    }

    /// Inserts `x` into the page `b` (between `low` and `high`) as the tree does: in place when
    /// the plan shifts at most 64 entries (returning the plan), else by laying the page out again
    /// with the slack `Slack::after_insert` picks (returning None).
    fn insert_as_the_tree_does(b: &mut Vec<u8>, x: Entry, low: Entry, high: Option<Entry>) -> Option<InsertPlan> {
        match DataPage::new(b).plan_insert(x) {
            Ok(plan) if plan.shifted <= 64 => {
                DataPageMut::new(b).apply_insert(&plan);
                Some(plan)
            }
            _ => {
                let mut all = DataPage::new(b).entries();
                let at = all.partition_point(|y| *y < x);
                all.insert(at, x);
                b.fill(0);
                layout_with(b, &all, Encoding::for_entries(&all, low, high), header(low, high), Slack::after_insert(&all, at, low, high));
                None
            }
        }
    }

    /// Inserts `xs` as the tree does; returns how many of them laid the page out again.
    fn layouts_for(b: &mut Vec<u8>, xs: impl IntoIterator<Item = Entry>, low: Entry, high: Option<Entry>) -> usize {
        xs.into_iter().filter(|&x| insert_as_the_tree_does(b, x, low, high).is_none()).count()
    }

    /// A run of ascending keys into one place inside a page (between two of its keys) shifts
    /// until the page is laid out again, with the slack after the run; from then on each takes
    /// the next slot.
    #[test]
    fn a_run_into_one_place_inside_a_page_stops_shifting_after_one_layout() {
        let start: Vec<Entry> = (0..300u64).map(|i| e(1_000_000 * i + 1, 1, 1 + (i % 200) as u16)).collect();
        let (low, high) = (e(1, 0, 1), Some(e(300_000_001, 0, 1)));
        let mut b = build(&start, low, high);
        let (mut layouts, mut shifted_since_layout) = (0, 0);
        for j in 1..=500u64 {
            let x = e(150_000_001 + j, 2, 1 + (j % 200) as u16);
            match insert_as_the_tree_does(&mut b, x, low, high) {
                Some(plan) => shifted_since_layout += if layouts > 0 { plan.shifted } else { 0 },
                None => layouts += 1,
            }
        }
        check(&b).unwrap();
        assert_eq!(DataPage::new(&b).count(), 800);
        assert_eq!((layouts, shifted_since_layout), (1, 0));
    }

    /// A key just above every key of a page, in random order (`INSERT ... SELECT k + 1`, or an
    /// ascending stream per key): each looks like a local append, but the next one lands
    /// elsewhere. The spread half of the slack takes them, in place (with all of it after one
    /// entry, 400 inserts laid the page out 295 times).
    #[test]
    fn a_key_next_to_every_key_in_random_order_rarely_lays_the_page_out() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut start: Vec<Entry> = (0..600).map(|i| e(next() % 1_000_000_000_000, 1, 1 + (i % 200) as u16)).collect();
        start.sort_unstable();
        start.dedup_by_key(|x| x.code);
        let (low, high) = (Entry::MIN, None);
        // As a split leaves the page when one of these inserts overflowed it.
        let mut b = vec![0u8; CONTENT_SIZE];
        layout_with(&mut b, &start, Encoding::for_entries(&start, low, high), header(low, high), Slack::AfterRuns(start.len() / 2));
        let mut order: Vec<Entry> = start.iter().map(|s| e(s.code + 1, 2, s.tid as u16 % 200 + 1)).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, next() as usize % (i + 1));
        }
        let layouts = layouts_for(&mut b, order.into_iter().take(400), low, high);
        check(&b).unwrap();
        assert!(layouts <= 5, "{layouts} layouts for 400 inserts");
    }

    /// Inserts `xs` as the tree does until the page is as full as the tree lets it get; returns
    /// how many were inserted and how many of them laid the page out again.
    fn layouts_until_full(b: &mut Vec<u8>, xs: impl IntoIterator<Item = Entry>, low: Entry, high: Option<Entry>) -> (usize, usize) {
        let (mut inserted, mut layouts) = (0, 0);
        for x in xs {
            let p = DataPage::new(b);
            if (p.count() + 1) as f64 > p.capacity() as f64 * 0.9 {
                break;
            }
            inserted += 1;
            layouts += usize::from(insert_as_the_tree_does(b, x, low, high).is_none());
        }
        check(b).unwrap();
        (inserted, layouts)
    }

    /// A row for every key of a built page, in key order (an UPDATE that cannot stay on the heap
    /// page, of a table stored in key order): each new entry repeats a key and lands just after
    /// it. A layout leaves a gap after each of the keys next in line, so that layouts are few
    /// (with the slack only after runs and spread, 11 for these 258 inserts; with half of it
    /// spread, 3).
    #[test]
    fn a_row_again_for_every_key_in_key_order_rarely_lays_the_page_out() {
        let keys: Vec<Entry> = (0..4000u64).map(|i| e(1000 + 10 * i, 1 + i as u32 / 100, 1 + (i % 100) as u16)).collect();
        let (low, high) = (e(1000, 0, 1), Some(e(50_000, 0, 1)));
        let n = (Encoding::for_entries(&keys, low, high).capacity() as f64 * 0.8) as usize;
        let mut b = build(&keys[..n], low, high);
        let again = (0..n).map(|i| e(keys[i].code, 60 + i as u32 / 100, 1 + (i % 100) as u16));
        let (inserted, layouts) = layouts_until_full(&mut b, again, low, high);
        assert!(inserted > 200 && layouts <= 1, "{layouts} layouts for {inserted} inserts");
    }

    /// Descending keys, 100 rows each, into the start of a page: each key's rows go after its
    /// first, each new key before them all. A layout for a row of the page's first key leaves
    /// gaps before the page's first entry (with none there, 54 layouts for these inserts) and
    /// the rest after the first key's run, and a new key leaves as many gaps after it as the key
    /// after it has rows (21 layouts with neither, 13 with the second alone).
    #[test]
    fn descending_keys_with_many_rows_each_rarely_lay_the_page_out() {
        let (low, high) = (e(1, 0, 1), Some(e(2_000_000, 0, 1)));
        let mut b = build(&[e(1_000_000, 1, 1)], low, high);
        let rows = (0..).map(|i: u64| e(999_999 - i / 100, 2 + i as u32 / 100, 1 + (i % 100) as u16));
        let (inserted, layouts) = layouts_until_full(&mut b, rows, low, high);
        assert!(inserted > 2000 && layouts <= 8, "{layouts} layouts for {inserted} inserts");
    }

    /// The mirror: a run of descending keys into one place inside a page.
    #[test]
    fn a_descending_run_into_one_place_inside_a_page_stops_shifting_after_one_layout() {
        let start: Vec<Entry> = (0..300u64).map(|i| e(1_000_000 * i + 1, 1, 1 + (i % 200) as u16)).collect();
        let (low, high) = (e(1, 0, 1), Some(e(300_000_001, 0, 1)));
        let mut b = build(&start, low, high);
        let (mut layouts, mut written_since_layout) = (0, 0);
        for j in 1..=500u64 {
            let x = e(151_000_001 - j, 2, 1 + (j % 200) as u16);
            match insert_as_the_tree_does(&mut b, x, low, high) {
                Some(plan) => written_since_layout += if layouts > 0 { plan.last + 1 - plan.first } else { 0 },
                None => layouts += 1,
            }
        }
        check(&b).unwrap();
        assert_eq!(DataPage::new(&b).count(), 800);
        assert_eq!(layouts, 1);
        // One slot per insert after the layout.
        assert!(written_since_layout < 500, "{written_since_layout} slots written");
    }

    /// Several streams of ascending keys, each far from the others, in one page: a layout
    /// leaves slack before every jump, so that each stream goes on without shifting.
    #[test]
    fn a_page_with_several_streams_keeps_slack_after_each() {
        let stream = |c: u64, i: u64| c * 1_000_000_000 + 10 * i;
        let start: Vec<Entry> = (0..4u64).flat_map(|c| (0..100u64).map(move |i| (c, i))).map(|(c, i)| e(stream(c, i), 1, 1 + i as u16)).collect();
        let (low, high) = (Entry::MIN, Some(e(10_000_000_000, 0, 1)));
        let mut b = build(&start, low, high);
        let mut x_state = 7u64;
        let mut next_i = [100u64; 4];
        let inserts = (0..800u64).map(|j| {
            x_state = x_state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let c = (x_state >> 62) as usize;
            next_i[c] += 1;
            e(stream(c as u64, next_i[c] - 1), 2 + (j / 200) as u32, 1 + (j % 200) as u16)
        });
        let layouts = layouts_for(&mut b, inserts, low, high);
        check(&b).unwrap();
        assert_eq!(DataPage::new(&b).count(), 1200);
        assert!(layouts <= 3, "{layouts} layouts for 800 inserts");
    }

    /// Rows with one of a few keys, in turn: every key's run is an append point, and a layout
    /// leaves slack after each, so that the page is not laid out again at every few inserts.
    #[test]
    fn a_page_with_several_duplicate_runs_keeps_slack_after_each() {
        let start: Vec<Entry> = (0..400u64).map(|i| e(i / 100, 1 + (i % 100) as u32, 1)).collect();
        let (low, high) = (Entry::MIN, Some(e(10, 0, 1)));
        let mut b = build(&start, low, high);
        let layouts = layouts_for(&mut b, (0..800u64).map(|j| e(j % 4, 200 + (j / 4) as u32, 1)), low, high);
        check(&b).unwrap();
        assert_eq!(DataPage::new(&b).count(), 1200);
        assert!(layouts <= 3, "{layouts} layouts for 800 inserts");
    }

    #[test]
    fn insert_into_full_page_reports_full() {
        let entries: Vec<Entry> = (0..10u64).map(|i| e(i, 0, 1 + i as u16)).collect();
        let mut b = build(&entries, Entry::MIN, None);
        let cap = DataPage::new(&b).capacity();
        let mut p = DataPageMut::new(&mut b);
        let mut inserted = 10;
        for i in 10..cap as u64 + 5 {
            match p.insert(e(5, 0, 20 + (i % 200) as u16)) {
                Ok(_) => inserted += 1,
                Err(InsertError::Duplicate) => {}
                Err(InsertError::Full) => break,
                Err(InsertError::Encoding) => break,
            }
        }
        check(&b).unwrap();
        assert!(inserted > 10);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32, u16),
        Delete(usize),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                3 => (0u64..5000, 0u32..64, 1u16..200).prop_map(|(c, b, o)| Op::Insert(c, b, o)),
                1 => (0usize..10_000).prop_map(Op::Delete),
            ],
            0..400,
        )
    }

    proptest! {
        /// The word-at-a-time gap searches agree with a slot-by-slot scan, in packed and spread
        /// layouts and across the bitmap's last, partly used word.
        #[test]
        fn free_slot_searches_match_a_scan(codes in prop::collection::btree_set(0u64..1_000_000, 1..2000), slack_at in 0usize..2000, kind in 0..3u8) {
            let entries: Vec<Entry> = codes.iter().map(|&c| e(c, 1, 1)).collect();
            let at = slack_at % entries.len();
            let slack = [Slack::Spread, Slack::After(at), Slack::Before(at)][kind as usize];
            let mut b = vec![0u8; CONTENT_SIZE];
            layout_with(&mut b, &entries, Encoding::for_entries(&entries, Entry::MIN, None), header(Entry::MIN, None), slack);
            let p = DataPage::new(&b);
            let cap = p.capacity();
            for s in 0..=cap {
                prop_assert_eq!(p.g.next_free(&b, s), (s..cap).find(|&x| !p.is_occupied(x)));
                prop_assert_eq!(p.g.prev_free(&b, s), (0..s).rev().find(|&x| !p.is_occupied(x)));
            }
        }
    }

    proptest! {
        /// A page behaves as a sorted set of entries, whatever the inserts and deletes.
        #[test]
        fn page_matches_sorted_set_oracle(initial in prop::collection::btree_set((0u64..5000, 0u32..64, 1u16..200), 0..300), script in ops(), fenced in any::<bool>(), top in any::<bool>(), few_codes in any::<bool>(), slack in prop_oneof![Just(Slack::Spread), Just(Slack::After(usize::MAX)), (0usize..300).prop_map(Slack::After), (0usize..300).prop_map(Slack::Before), (0usize..300).prop_map(Slack::AfterRuns)]) {
            // `top` moves every code to the top of the code space; `few_codes` maps them to 7
            // codes far apart (a fenced page of them takes a dictionary), and inserts to an
            // eighth as well (not in the dictionary).
            let shift = if top { u64::MAX - 5000 } else { 0 };
            let code = move |c: u64, initial: bool| if few_codes { c % if initial { 7 } else { 8 } * 621 + 1 } else { c };
            let e = |c: u64, b: u32, o: u16| Entry::new(c + shift, pack_tid(b, o));
            let initial: BTreeSet<(u64, u32, u16)> = initial.into_iter().map(|(c, b, o)| (code(c, true), b, o)).collect();
            let mut oracle: BTreeSet<Entry> = initial.iter().map(|&(c, b, o)| e(c, b, o)).collect();
            let (low, high) = if fenced { (e(0, 0, 1), Some(e(5000, 0, 1))) } else { (Entry::MIN, None) };
            let _ = top;
            let sorted: Vec<Entry> = oracle.iter().copied().collect();
            let build = |entries: &[Entry]| {
                let mut b = vec![0u8; CONTENT_SIZE];
                layout_with(&mut b, entries, Encoding::for_entries(entries, low, high), header(low, high), slack);
                check(&b).unwrap();
                b
            };
            let mut b = build(&sorted);
            for op in script {
                match op {
                    Op::Insert(c, blk, off) => {
                        let x = e(code(c, false), blk, off);
                        // Planned, then applied: only the bytes the plan names may change.
                        let before = b.clone();
                        let r = DataPage::new(&b).plan_insert(x).map(|plan| {
                            DataPageMut::new(&mut b).apply_insert(&plan);
                            plan.changed_ranges()
                        });
                        if let Ok(ranges) = &r {
                            let stray = (0..b.len()).find(|&i| b[i] != before[i] && !ranges.iter().any(|r| r.contains(&i)));
                            prop_assert!(stray.is_none(), "byte {:?} changed outside {:?}", stray, ranges);
                        }
                        match r {
                            Ok(_) => { prop_assert!(oracle.insert(x)); }
                            Err(InsertError::Duplicate) => prop_assert!(oracle.contains(&x)),
                            Err(InsertError::Full) | Err(InsertError::Encoding) => {
                                // What the tree does: lay the page out again with room for x.
                                prop_assert!(!oracle.contains(&x));
                                oracle.insert(x);
                                let all: Vec<Entry> = oracle.iter().copied().collect();
                                let enc = Encoding::for_entries(&all, low, high);
                                prop_assume!(all.len() <= enc.capacity());
                                b = build(&all);
                            }
                        }
                    }
                    Op::Delete(i) => {
                        let p = DataPage::new(&b);
                        if p.count() > 0 {
                            let victim = oracle.iter().nth(i % oracle.len()).copied().unwrap();
                            let s = p.seek(victim);
                            prop_assert_eq!(p.entry(s), victim);
                            DataPageMut::new(&mut b).delete_slots(&[s]);
                            oracle.remove(&victim);
                        }
                    }
                }
                if let Err(msg) = check(&b) { prop_assert!(false, "{}", msg); }
            }
            let p = DataPage::new(&b);
            let expect: Vec<Entry> = oracle.iter().copied().collect();
            prop_assert_eq!(p.entries(), expect.clone());
            // Every seek lands on the first entry >= the probe.
            for probe in [0u64, 1, 17, 622, 623, 2500, 4348, 4349, 4999, 5000].map(|x| x + shift) {
                let s = p.seek(Entry::first_of(probe));
                let want = expect.iter().find(|x| x.code >= probe).copied();
                prop_assert_eq!(if s < p.capacity() { Some(p.entry(s)) } else { None }, want);
            }
        }
    }
}
