//! Verifying a data page: every invariant of the format (see the module documentation).

use super::geometry::read_encoding;
use super::{DataPage, MAX_SLOTS};
use crate::entry::Entry;
use crate::page::node::{self, Header};
use crate::page::{CONTENT_SIZE, rd_f64, rd_u16};

/// The checks a data page passes each time it is read, in constant time: its header and
/// encoding are possible, and every region they place lies within the page, so that no read of
/// its content can go out of bounds. (The entries themselves are verified by [`check`].)
///
/// Every probe runs this on its data page, so the test itself ([`header_ok`]) reads the few
/// header fields it needs straight into registers and is inlined into the caller; only a page
/// that fails it goes through [`header_error`], which tests the same things again in order to
/// say which one failed.
#[inline]
pub fn check_header(b: &[u8]) -> Result<(), String> {
    if header_ok(b) { Ok(()) } else { header_error(b) }
}

/// Whether a data page passes the checks of [`header_error`] (tests/corrupted_pages.rs and the
/// unit tests check that both agree).
#[inline]
pub(super) fn header_ok(b: &[u8]) -> bool {
    let flags = rd_u16(b, node::FLAGS);
    // A high fence at or below the low fence (the node header of every page is in bounds).
    if node::beyond_high(b, node::low(b)) {
        return false;
    }
    if flags & node::FLAG_DELETED != 0 {
        return true;
    }
    let enc = read_encoding(b);
    let cap = rd_u16(b, node::CAPACITY) as usize;
    // `|` rather than `||`: a few compares, no branch each.
    let bad = (node::level(b) != 0)
        | (enc.key_bits > 64)
        | (enc.blk_bits > 32)
        | (enc.off_bits > 16)
        | (enc.off_bits == 0)
        | (cap > MAX_SLOTS)
        | (node::count(b) > cap)
        | !(rd_f64(b, node::SLOPE).is_finite() & rd_f64(b, node::INTERCEPT).is_finite());
    // Only with the widths bounded are the sizes below free of overflow.
    !bad && enc.layout_end(cap) <= CONTENT_SIZE && (enc.dict_len != 0 || enc.key_base.checked_add(enc.max_stored()).is_some())
}

/// The first check of [`check_header`] that the data page in `b` fails.
#[cold]
#[inline(never)]
pub(super) fn header_error(b: &[u8]) -> Result<(), String> {
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
    header_error(b)?;
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

