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
//!
//! The code is split by job: `encoding.rs` chooses how entries are packed, `geometry.rs` finds
//! things in a page (the searches), `insert.rs` plans and applies inserts, `layout.rs` lays a
//! page out from scratch, `deleted.rs` turns a page into a deleted one, `check.rs` verifies one.

mod check;
mod deleted;
mod encoding;
mod geometry;
mod insert;
mod layout;
#[cfg(test)]
mod tests;

pub use check::{check, check_header};
pub use deleted::{deleted_xid, mark_deleted, write_deleted};
pub use encoding::{CapacityCache, Encoding, MAX_SLOTS, TidStats, entries_at_density, entries_of_capacity, key_range};
pub use geometry::SearchHint;
pub use insert::{InsertError, InsertPlan};
pub use layout::{Slack, layout, layout_with};

use crate::bits;
use crate::entry::Entry;
use crate::page::node::{self, Header};
use crate::page::{rd_u64, wr_u16, wr_u64};
use crate::prefetch::{NoPrefetch, Prefetch};
use geometry::Geometry;

// Offsets in the content area, after the node header.
const KEY_BASE: usize = 64;
const BLK_BASE: usize = 72;
const KEY_BITS: usize = 76;
const BLK_BITS: usize = 77;
const OFF_BITS: usize = 78;
const DICT_LEN: usize = 80;
const BITMAP: usize = 96;

/// Read access to a data page's content area. Its searches prefetch through `P` (see
/// [`DataPage::with_prefetch`]).
#[derive(Clone, Copy)]
pub struct DataPage<'a, P: Prefetch = NoPrefetch> {
    b: &'a [u8],
    g: Geometry,
    prefetch: P,
}

impl<'a> DataPage<'a> {
    pub fn new(b: &'a [u8]) -> DataPage<'a> {
        DataPage { b, g: Geometry::read(b), prefetch: NoPrefetch }
    }
}

impl<'a, P: Prefetch> DataPage<'a, P> {
    /// This page, its searches loading ahead through `prefetch`.
    pub fn with_prefetch<Q: Prefetch>(self, prefetch: Q) -> DataPage<'a, Q> {
        DataPage { b: self.b, g: self.g, prefetch }
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
        self.g.seek(self.b, e, self.prefetch)
    }
    /// What lets a later search of this page start loading before it reads the header.
    pub fn search_hint(&self) -> SearchHint {
        self.g.search_hint()
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
        wr_u16(self.b, node::COUNT, count as u16);
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
