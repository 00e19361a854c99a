//! The page delta of a PostgreSQL generic-WAL record, computed fast.
//!
//! A generic-WAL record carries, for each registered page, a list of *fragments*: a 2-byte
//! offset, a 2-byte length and that many bytes to copy into the page at that offset (core's
//! `generic_redo` applies them, then zeroes the hole between `pd_lower` and `pd_upper`). Core's
//! own encoder (`GenericXLogFinish`) finds the changed bytes with a byte-at-a-time loop over the
//! whole page, which costs more than all the rest of an alex insert. [`encode`] produces the
//! same fragments (same merging rule: changed runs separated by at most [`MATCH_THRESHOLD`]
//! unchanged bytes share a fragment) but skips equal bytes 64 at a time.
//!
//! Pages here are whole `BLCKSZ` images, PostgreSQL's header included.

use crate::page::BLCKSZ;

/// Bytes of a fragment header: offset and length, two native-endian u16.
pub const FRAGMENT_HEADER_SIZE: usize = 4;

/// Unchanged runs up to this long are carried inside a fragment rather than splitting it.
pub const MATCH_THRESHOLD: usize = FRAGMENT_HEADER_SIZE;

/// The largest delta [`encode`] can produce: every byte, in two fragments (below and above the hole).
pub const MAX_DELTA_SIZE: usize = BLCKSZ + 2 * FRAGMENT_HEADER_SIZE;

/// `pd_lower` and `pd_upper` of a page image: the hole between them is not logged.
pub fn hole(page: &[u8]) -> (usize, usize) {
    let lower = u16::from_ne_bytes([page[12], page[13]]) as usize;
    let upper = u16::from_ne_bytes([page[14], page[15]]) as usize;
    (lower.min(BLCKSZ), upper.clamp(lower.min(BLCKSZ), BLCKSZ))
}

/// Appends to `out` the fragments that turn page `old` into page `new` outside `new`'s hole.
/// Bytes inside `old`'s hole count as changed, as for core's encoder.
pub fn encode(old: &[u8], new: &[u8], out: &mut Vec<u8>) {
    assert!(old.len() == BLCKSZ && new.len() == BLCKSZ);
    let (new_lower, new_upper) = hole(new);
    let (old_lower, old_upper) = hole(old);
    let mut w = FragmentWriter { new, out, pending: None };
    region(&mut w, old, 0, new_lower, 0, old_lower);
    w.flush();
    region(&mut w, old, new_upper, BLCKSZ, old_upper, BLCKSZ);
    w.flush();
}

/// Applies a delta to a page image, as core's redo does (the hole is left to the caller).
pub fn apply(page: &mut [u8], mut delta: &[u8]) {
    while !delta.is_empty() {
        let offset = u16::from_ne_bytes([delta[0], delta[1]]) as usize;
        let len = u16::from_ne_bytes([delta[2], delta[3]]) as usize;
        page[offset..offset + len].copy_from_slice(&delta[FRAGMENT_HEADER_SIZE..FRAGMENT_HEADER_SIZE + len]);
        delta = &delta[FRAGMENT_HEADER_SIZE + len..];
    }
}

/// Appends one fragment to `out`: `bytes` are to be copied into the page at `offset`.
pub fn push_fragment(out: &mut Vec<u8>, offset: usize, bytes: &[u8]) {
    debug_assert!(offset + bytes.len() <= BLCKSZ);
    out.extend_from_slice(&(offset as u16).to_ne_bytes());
    out.extend_from_slice(&(bytes.len() as u16).to_ne_bytes());
    out.extend_from_slice(bytes);
}

struct FragmentWriter<'a> {
    new: &'a [u8],
    out: &'a mut Vec<u8>,
    /// The fragment being grown: [start, end).
    pending: Option<(usize, usize)>,
}

impl FragmentWriter<'_> {
    /// Records that bytes [start, end) changed; ranges come in increasing order.
    fn changed(&mut self, start: usize, end: usize) {
        match &mut self.pending {
            Some((_, pend)) if start - *pend <= MATCH_THRESHOLD => *pend = end,
            _ => {
                self.flush();
                self.pending = Some((start, end));
            }
        }
    }

    fn flush(&mut self) {
        if let Some((start, end)) = self.pending.take() {
            push_fragment(self.out, start, &self.new[start..end]);
        }
    }
}

/// Changed runs of [start, end), where only old bytes within [valid_start, valid_end) can match.
fn region(w: &mut FragmentWriter, old: &[u8], start: usize, end: usize, valid_start: usize, valid_end: usize) {
    if start >= end {
        return;
    }
    let lo = start.max(valid_start).min(end);
    let hi = end.min(valid_end).max(lo);
    if start < lo {
        w.changed(start, lo);
    }
    let new = w.new;
    let mut i = lo;
    loop {
        i = skip_equal(old, new, i, hi);
        if i == hi {
            break;
        }
        let begin = i;
        while i < hi && old[i] != new[i] {
            i += 1;
        }
        w.changed(begin, i);
    }
    if hi < end {
        w.changed(hi, end);
    }
}

/// The first offset in [i, end) where `a` and `b` differ, or `end`.
fn skip_equal(a: &[u8], b: &[u8], mut i: usize, end: usize) -> usize {
    const CHUNK: usize = 64;
    while i + CHUNK <= end && chunk_equal(&a[i..i + CHUNK], &b[i..i + CHUNK]) {
        i += CHUNK;
    }
    while i < end && a[i] == b[i] {
        i += 1;
    }
    i
}

#[inline(always)]
fn chunk_equal(a: &[u8], b: &[u8]) -> bool {
    let mut diff = 0u64;
    for k in 0..8 {
        let x = u64::from_ne_bytes(a[8 * k..8 * k + 8].try_into().unwrap());
        let y = u64::from_ne_bytes(b[8 * k..8 * k + 8].try_into().unwrap());
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Core's encoder, byte by byte, as its comments specify it: the reference [`encode`] must
    /// match byte for byte.
    fn reference(old: &[u8], new: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let (nl, nu) = hole(new);
        let (ol, ou) = hole(old);
        for (start, end, vs, ve) in [(0, nl, 0, ol), (nu, BLCKSZ, ou, BLCKSZ)] {
            let changed = |i: usize| i < vs || i >= ve || old[i] != new[i];
            let mut frag: Option<(usize, usize)> = None;
            let write = |f: (usize, usize), out: &mut Vec<u8>| {
                out.extend_from_slice(&(f.0 as u16).to_ne_bytes());
                out.extend_from_slice(&((f.1 - f.0) as u16).to_ne_bytes());
                out.extend_from_slice(&new[f.0..f.1]);
            };
            for i in start..end {
                if !changed(i) {
                    continue;
                }
                frag = match frag {
                    Some((s, e)) if i - e <= MATCH_THRESHOLD => Some((s, i + 1)),
                    Some(f) => {
                        write(f, &mut out);
                        Some((i, i + 1))
                    }
                    None => Some((i, i + 1)),
                };
            }
            if let Some(f) = frag {
                write(f, &mut out);
            }
        }
        out
    }

    fn set_hole(page: &mut [u8], lower: u16, upper: u16) {
        page[12..14].copy_from_slice(&lower.to_ne_bytes());
        page[14..16].copy_from_slice(&upper.to_ne_bytes());
    }

    fn check(old: &[u8], new: &[u8]) {
        let mut delta = Vec::new();
        encode(old, new, &mut delta);
        assert_eq!(delta, reference(old, new));
        assert!(delta.len() <= MAX_DELTA_SIZE);
        let mut replayed = old.to_vec();
        apply(&mut replayed, &delta);
        let (l, u) = hole(new);
        assert_eq!(replayed[..l], new[..l]);
        assert_eq!(replayed[u..], new[u..]);
    }

    #[test]
    fn unchanged_page_has_an_empty_delta() {
        let mut page = vec![7u8; BLCKSZ];
        set_hole(&mut page, 8184, 8184);
        let mut delta = Vec::new();
        encode(&page, &page, &mut delta);
        assert!(delta.is_empty());
    }

    #[test]
    fn nearby_changes_share_a_fragment() {
        let mut old = vec![0u8; BLCKSZ];
        set_hole(&mut old, 8184, 8184);
        let mut new = old.clone();
        new[100] = 1;
        new[105] = 1; // 4 equal bytes between: one fragment
        new[200] = 1;
        new[206] = 1; // 5 equal bytes between: two fragments
        let mut delta = Vec::new();
        encode(&old, &new, &mut delta);
        assert_eq!(delta.len(), 3 * FRAGMENT_HEADER_SIZE + 6 + 1 + 1);
        check(&old, &new);
    }

    #[test]
    fn whole_page_rewrite() {
        let mut old = vec![0u8; BLCKSZ];
        set_hole(&mut old, 8184, 8184);
        let mut new: Vec<u8> = (0..BLCKSZ).map(|i| (i % 251) as u8 + 1).collect();
        set_hole(&mut new, 8184, 8184);
        check(&old, &new);
    }

    proptest! {
        #[test]
        fn matches_core_encoder(
            seed in any::<u64>(),
            edits in proptest::collection::vec((0usize..BLCKSZ, 1usize..80, any::<u8>()), 0..12),
            holes in (0u16..=BLCKSZ as u16, 0u16..=BLCKSZ as u16, 0u16..=BLCKSZ as u16, 0u16..=BLCKSZ as u16),
        ) {
            let mut x = seed | 1;
            let mut old: Vec<u8> = (0..BLCKSZ).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x % 3) as u8 }).collect();
            let mut new = old.clone();
            for (at, len, v) in edits {
                for b in &mut new[at..(at + len).min(BLCKSZ)] {
                    *b = v;
                }
            }
            let (a, b, c, d) = holes;
            let (ol, ou) = (a.min(b).max(16), a.max(b).max(16));
            let (nl, nu) = (c.min(d).max(16), c.max(d).max(16));
            set_hole(&mut old, ol, ou);
            set_hole(&mut new, nl, nu);
            check(&old, &new);
        }
    }
}
