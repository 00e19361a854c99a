//! How a data page packs its entries: an affine encoding (codes as offsets from a base) or a
//! dictionary of the page's codes, and the widths of keys and TIDs.

use super::BITMAP;
use crate::bits;
use crate::entry::{Entry, PackedTid, tid_block, tid_offset};
use crate::page::CONTENT_SIZE;
use crate::policy::DICT_MIN_RUN;

/// Upper bound on slots per page (keeps per-page work and scan batches bounded).
pub const MAX_SLOTS: usize = 8192;


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
    pub(super) fn tid_bits(&self) -> u32 {
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
        self.or_dictionary_with_capacity(self.capacity(), first, distinct, entries).0
    }

    /// [`Encoding::or_dictionary`] for a caller that knows this encoding's capacity
    /// (`affine_cap`), with the chosen encoding's capacity. The bulk load asks at every entry,
    /// and most entries rule the dictionary out before its capacity is worked out.
    pub fn or_dictionary_with_capacity(self, affine_cap: usize, first: u64, distinct: usize, entries: usize) -> (Encoding, usize) {
        let Ok(dict_len) = u16::try_from(distinct) else {
            return (self, affine_cap);
        };
        let may_be_worth = distinct > 0 && entries >= DICT_MIN_RUN * distinct;
        if !may_be_worth && entries <= affine_cap {
            return (self, affine_cap);
        }
        let dict = Encoding { key_base: first, key_bits: bits::width_of(distinct.saturating_sub(1) as u64), dict_len, ..self };
        let dict_cap = dict.capacity();
        let worth = may_be_worth && dict_cap >= affine_cap + affine_cap / 4;
        let needed = entries > affine_cap && dict_cap >= entries;
        if worth || needed { (dict, dict_cap) } else { (self, affine_cap) }
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

    /// The affine encoding with the widest keys and TIDs there are: no page holds fewer
    /// slots than it does.
    pub fn widest() -> Encoding {
        Encoding { key_base: 0, key_bits: 64, blk_base: 0, blk_bits: 32, off_bits: u16::BITS, dict_len: 0 }
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

    #[inline]
    pub(super) fn dict_bytes(&self) -> usize {
        self.dict_len as usize * 8
    }

    /// The largest stored value (`key_bits <= 64`), which trailing gaps hold.
    #[inline]
    pub(super) fn max_stored(&self) -> u64 {
        match (self.dict_len, self.key_bits) {
            (0, 64) => u64::MAX,
            (0, bits) => (1u64 << bits) - 1,
            (len, _) => len as u64 - 1,
        }
    }

    #[inline]
    pub(super) fn layout_end(&self, cap: usize) -> usize {
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

/// How many entries a page with encoding `enc` takes at a given target density.
pub fn entries_at_density(enc: &Encoding, density: f64) -> usize {
    entries_of_capacity(enc.capacity(), density)
}

/// How many entries a page of `capacity` slots takes at a given target density.
#[inline]
pub fn entries_of_capacity(capacity: usize, density: f64) -> usize {
    // A float-to-integer cast truncates, which for these non-negative values is the floor
    // (without a call to libm's floor).
    ((capacity as f64 * density) as usize).max(1)
}

/// The capacity of the affine encodings a bulk load tries entry after entry: it depends only on
/// their key and TID widths, which change a few times per page.
#[derive(Clone, Copy, Debug, Default)]
pub struct CapacityCache {
    widths: Option<(u32, u32)>,
    capacity: usize,
}

impl CapacityCache {
    pub fn capacity(&mut self, enc: &Encoding) -> usize {
        debug_assert_eq!(enc.dict_len, 0);
        let widths = (enc.key_bits, enc.tid_bits());
        if self.widths != Some(widths) {
            *self = CapacityCache { widths: Some(widths), capacity: enc.capacity() };
        }
        self.capacity
    }
}

