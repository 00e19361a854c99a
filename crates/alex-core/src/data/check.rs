//! Verifying a data page: every invariant of the format (see the module documentation).

use super::{DataPage, MAX_SLOTS};
use crate::entry::Entry;
use crate::page::CONTENT_SIZE;
use crate::page::node::{self, Header};

/// The checks a data page passes each time it is read, in constant time: its header and
/// encoding are possible, and every region they place lies within the page, so that no read of
/// its content can go out of bounds. (The entries themselves are verified by [`check`].)
pub fn check_header(b: &[u8]) -> Result<(), String> {
    let h = Header::read(b);
    if h.beyond_high(h.low) {
        return Err(format!("low fence {:?} at or above the high fence {:?}", h.low, h.high));
    }
    if node::is_deleted(b) {
        // A deleted page keeps its header and transaction id only; a deleted model page keeps
        // its level too.
        return Ok(());
    }
    if h.level != 0 {
        return Err(format!("data page has level {}", h.level));
    }
    let p = DataPage::new(b);
    let enc = p.encoding();
    if enc.key_bits > 64 || enc.blk_bits > 32 || enc.off_bits > 16 || enc.off_bits == 0 {
        return Err(format!("impossible encoding {enc:?}"));
    }
    // Enough for reads to stay within the page; `check` also compares with `enc.capacity()`,
    // which costs a loop on every read.
    if p.capacity() > MAX_SLOTS || enc.layout_end(p.capacity()) > CONTENT_SIZE {
        return Err(format!("capacity {} does not fit the page under {enc:?}", p.capacity()));
    }
    if p.count() > p.capacity() {
        return Err(format!("count {} exceeds the capacity {}", p.count(), p.capacity()));
    }
    if enc.dict_len == 0 && enc.key_base.checked_add(p.g.max_stored()).is_none() {
        return Err(format!("key base {} leaves no room for {}-bit keys", enc.key_base, enc.key_bits));
    }
    if !(h.model.slope.is_finite() && h.model.intercept.is_finite()) {
        return Err(format!("model {:?} is not finite", h.model));
    }
    Ok(())
}

/// Verifies every invariant of a data page; returns the first violation.
pub fn check(b: &[u8]) -> Result<(), String> {
    check_header(b)?;
    let h = Header::read(b);
    let p = DataPage::new(b);
    let g = p.g;
    let enc = p.encoding();
    if p.capacity() != enc.capacity() {
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

