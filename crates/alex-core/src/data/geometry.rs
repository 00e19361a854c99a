//! Where a data page keeps things, decoded once from its header, and the searches over its
//! slots; [`SearchHint`], the geometry kept apart so that a search can start loading early.

use super::{BITMAP, BLK_BASE, BLK_BITS, DICT_LEN, Encoding, KEY_BASE, KEY_BITS, OFF_BITS};
use crate::bits;
use crate::entry::{Entry, PackedTid, pack_tid, tid_block, tid_offset};
use crate::model::LinearModel;
use crate::page::node;
use crate::policy::PREFETCH_SLOTS;
use crate::prefetch::Prefetch;
use crate::page::{CONTENT_SIZE, rd_f64, rd_u16, rd_u32, rd_u64};

/// The first `i` in `0..n` for which the monotone predicate `pred` (true, then false) is false.
pub(super) fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) { lo = mid + 1 } else { hi = mid }
    }
    lo
}

#[inline]
pub(super) fn read_encoding(b: &[u8]) -> Encoding {
    Encoding {
        key_base: rd_u64(b, KEY_BASE),
        key_bits: b[KEY_BITS] as u32,
        blk_base: rd_u32(b, BLK_BASE),
        blk_bits: b[BLK_BITS] as u32,
        off_bits: b[OFF_BITS] as u32,
        dict_len: rd_u16(b, DICT_LEN),
    }
}

/// Where a data page keeps things: decoded once from the header, then used for every access.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) cap: usize,
    pub(super) enc: Encoding,
    pub(super) dict: usize,
    pub(super) keys: usize,
    pub(super) tids: usize,
    pub(super) model: LinearModel,
}

impl Geometry {
    pub(super) fn read(b: &[u8]) -> Geometry {
        let enc = read_encoding(b);
        let cap = rd_u16(b, node::CAPACITY) as usize;
        let dict = BITMAP + cap.div_ceil(64) * 8;
        let keys = dict + enc.dict_bytes();
        let tids = keys + bits::region_bytes(cap, enc.key_bits);
        let model = LinearModel { slope: rd_f64(b, node::SLOPE), intercept: rd_f64(b, node::INTERCEPT) };
        Geometry { cap, enc, dict, keys, tids, model }
    }

    #[inline]
    pub(super) fn is_occupied(&self, b: &[u8], slot: usize) -> bool {
        rd_u64(b, BITMAP + (slot / 64) * 8) & (1u64 << (slot % 64)) != 0
    }

    /// The stored value of the key in a slot (entry or gap).
    #[inline]
    pub(super) fn stored(&self, b: &[u8], slot: usize) -> u64 {
        bits::get(&b[self.keys..], slot, self.enc.key_bits)
    }

    /// The code a stored value stands for.
    #[inline]
    pub(super) fn code_of(&self, b: &[u8], v: u64) -> u64 {
        // A stored value beyond the dictionary (only a corrupted page has one) reads its last
        // code: reads stay within the page, and `check` reports the value.
        if self.enc.dict_len == 0 { self.enc.key_base.wrapping_add(v) } else { rd_u64(b, self.dict + v.min(self.enc.dict_len as u64 - 1) as usize * 8) }
    }

    #[inline]
    pub(super) fn key_code(&self, b: &[u8], slot: usize) -> u64 {
        self.code_of(b, self.stored(b, slot))
    }

    /// The smallest stored value whose code is `>= code`, past the largest there is when none
    /// is: a search for `code` compares stored values with it.
    #[inline]
    pub(super) fn rank(&self, b: &[u8], code: u64) -> u64 {
        if self.enc.dict_len == 0 {
            code.saturating_sub(self.enc.key_base)
        } else {
            partition_point(self.enc.dict_len as usize, |i| rd_u64(b, self.dict + i * 8) < code) as u64
        }
    }

    /// The stored value of `e`'s code, if the encoding holds `e` (its code and TID).
    pub(super) fn stored_for(&self, b: &[u8], e: Entry) -> Option<u64> {
        self.stored_of(b, e.code).filter(|_| self.enc.fits(e))
    }

    /// The stored value of `code`, if the encoding has one.
    pub(super) fn stored_of(&self, b: &[u8], code: u64) -> Option<u64> {
        if self.enc.dict_len == 0 {
            let v = code.checked_sub(self.enc.key_base)?;
            (bits::width_of(v) <= self.enc.key_bits).then_some(v)
        } else {
            let v = self.rank(b, code);
            (v < self.enc.dict_len as u64 && self.code_of(b, v) == code).then_some(v)
        }
    }

    /// The largest stored value, which trailing gaps hold.
    pub(super) fn max_stored(&self) -> u64 {
        self.enc.max_stored()
    }

    /// A slot's stored key and TID as stored, for moving an entry without decoding it.
    #[inline]
    pub(super) fn raw(&self, b: &[u8], slot: usize) -> (u64, u64) {
        (self.stored(b, slot), bits::get(&b[self.tids..], slot, self.enc.tid_bits()))
    }

    /// `e`'s TID as stored.
    pub(super) fn raw_tid(&self, e: Entry) -> u64 {
        (((tid_block(e.tid) - self.enc.blk_base) as u64) << self.enc.off_bits) | tid_offset(e.tid) as u64
    }

    #[inline]
    pub(super) fn tid(&self, b: &[u8], slot: usize) -> PackedTid {
        let v = bits::get(&b[self.tids..], slot, self.enc.tid_bits());
        let off = (v & ((1u64 << self.enc.off_bits) - 1)) as u16;
        let blk = ((v >> self.enc.off_bits) as u32).wrapping_add(self.enc.blk_base);
        pack_tid(blk, off)
    }

    #[inline]
    pub(super) fn entry(&self, b: &[u8], slot: usize) -> Entry {
        debug_assert!(self.is_occupied(b, slot));
        Entry::new(self.key_code(b, slot), self.tid(b, slot))
    }

    pub(super) fn next_occupied(&self, b: &[u8], slot: usize) -> usize {
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

    pub(super) fn prev_occupied(&self, b: &[u8], slot: usize) -> Option<usize> {
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
    pub(super) fn next_free(&self, b: &[u8], slot: usize) -> Option<usize> {
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
    pub(super) fn prev_free(&self, b: &[u8], slot: usize) -> Option<usize> {
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
    pub(super) fn predict_stored(&self, v: u64) -> usize {
        self.model.predict_index(v, self.cap.max(1))
    }

    #[inline]
    pub(super) fn predict(&self, b: &[u8], code: u64) -> usize {
        self.predict_stored(self.rank(b, code))
    }

    /// The first slot whose key array value is `>= code` (gap or entry), or `cap`: exponential
    /// search outward from the model's prediction.
    pub(super) fn lower_bound_code(&self, b: &[u8], code: u64, prefetch: impl Prefetch) -> usize {
        let v = self.rank(b, code);
        let hint = self.predict_stored(v);
        // Load what the search will read, all at once.
        for (start, end) in first_reads(hint, self.cap, self.keys, self.enc.key_bits, self.tids, self.enc.tid_bits()) {
            prefetch.prefetch(b, start, end);
        }
        crate::model::search_from(self.cap, hint, |s| self.stored(b, s) >= v)
    }

    pub(super) fn search_hint(&self) -> SearchHint {
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

    pub(super) fn seek(&self, b: &[u8], e: Entry, prefetch: impl Prefetch) -> usize {
        let first = self.next_occupied(b, self.lower_bound_code(b, e.code, prefetch));
        if first >= self.cap || self.entry(b, first) >= e {
            return first;
        }
        // Entries with e's code come before e: binary search their slots by TID. The entry at
        // or after slot m never decreases with m, and past the code's slots it is >= e.
        let end = if e.code == u64::MAX { self.cap } else { self.lower_bound_code(b, e.code + 1, prefetch) };
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

