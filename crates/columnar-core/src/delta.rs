//! A delta page: the row-format tuples of one logical block of a delta segment.
//!
//! Layout of the content area: a header (slots used, start of the tuple area), then an array of
//! slots `(offset, length)`, then free space, then tuples placed downward from the end at 8-byte
//! aligned offsets. The row in slot `s` has TID `(logical block, s + 1)`, so a page has at most
//! [`MAX_SLOTS`] slots. A removed row leaves a slot of length 0, which a later insert may take,
//! as heap reuses a line pointer once VACUUM has removed the index entries that pointed at it;
//! [`compact`] packs the tuples together again so that their space is reused too.
//!
//! The same format holds the *overlay* of a logical block of a row group: there a slot holds
//! the header of one row of the group (a tuple of [`MIN_TUPLE`] bytes, no values) once it was
//! deleted, updated or locked, and a row VACUUM removed is marked *gone* ([`mark_gone`]) rather
//! than freed, because the row group still holds its values. The header is 4 bytes so that a
//! header for each of the [`MAX_SLOTS`] rows fits one page.
//! Tuples are opaque bytes here; the extension stores heap-format tuples (header, null bitmap,
//! data), whose headers it changes in place.

use crate::layout::{CONTENT_SIZE, put_u16, u16_at};
use std::ops::Range;

/// Rows per logical block.
pub const MAX_SLOTS: usize = crate::rownum::ROWS_PER_BLOCK as usize;
/// The smallest tuple: a heap tuple header (`SizeofHeapTupleHeader`, 23 bytes) padded to 8.
pub const MIN_TUPLE: usize = 24;
const COUNT_AT: usize = 0;
const UPPER_AT: usize = 2;
pub const HEADER_SIZE: usize = 4;
/// The offset field of a gone slot (its length field is 0, as a free slot's).
const GONE: u16 = u16::MAX;
pub const SLOT_SIZE: usize = 4;
const ALIGN: usize = 8;

pub fn init(content: &mut [u8]) {
    content[..HEADER_SIZE].fill(0);
    put_u16(content, UPPER_AT, CONTENT_SIZE as u16);
}

pub fn slot_count(content: &[u8]) -> usize {
    u16_at(content, COUNT_AT) as usize
}

fn upper(content: &[u8]) -> usize {
    u16_at(content, UPPER_AT) as usize
}

fn slots_end(count: usize) -> usize {
    HEADER_SIZE + count * SLOT_SIZE
}

/// Where an insert of a tuple of `len` bytes goes, planned before the page is changed (so that
/// the change can be logged as exactly the bytes it writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsertPlan {
    pub slot: usize,
    pub at: usize,
    pub len: usize,
}

impl InsertPlan {
    /// The content bytes the insert writes: header, slot, tuple.
    pub fn ranges(&self) -> [Range<usize>; 3] {
        let s = slots_end(self.slot);
        [0..HEADER_SIZE, s..s + SLOT_SIZE, self.at..self.at + self.len]
    }
}

/// The plan for inserting a tuple of `len` bytes, in the first free slot or a new one; None
/// when the page has no room or no slot.
pub fn plan_insert(content: &[u8], len: usize) -> Option<InsertPlan> {
    let count = slot_count(content);
    if len < MIN_TUPLE {
        return None;
    }
    let free = (0..count).find(|&s| is_free(content, s));
    let (slot, slots_needed) = match free {
        Some(s) => (s, count),
        None if count < MAX_SLOTS => (count, count + 1),
        None => return None,
    };
    let at = upper(content).checked_sub(len)? / ALIGN * ALIGN;
    (at >= slots_end(slots_needed)).then_some(InsertPlan { slot, at, len })
}

/// Bytes an insert may use on this page (tuple and, if no slot is free, a new slot), as the
/// free space map records it.
pub fn free_space(content: &[u8]) -> usize {
    let count = slot_count(content);
    let slot_free = (0..count).any(|s| is_free(content, s));
    let slots = if slot_free { count } else if count < MAX_SLOTS { count + 1 } else { return 0 };
    (upper(content).saturating_sub(slots_end(slots))) / ALIGN * ALIGN
}

fn is_free(content: &[u8], slot: usize) -> bool {
    let s = slots_end(slot);
    u16_at(content, s + 2) == 0 && u16_at(content, s) != GONE
}

/// Whether `slot` was marked gone.
pub fn is_gone(content: &[u8], slot: usize) -> bool {
    slot < slot_count(content) && u16_at(content, slots_end(slot)) == GONE && u16_at(content, slots_end(slot) + 2) == 0
}

/// The plan for putting a tuple of `len` bytes in `slot` (an overlay's slot is its row's), which
/// must hold none; None when the page has no room without [`compact`].
pub fn plan_insert_at(content: &[u8], slot: usize, len: usize) -> Option<InsertPlan> {
    if len < MIN_TUPLE || slot >= MAX_SLOTS || (slot < slot_count(content) && !is_free(content, slot)) {
        return None;
    }
    let at = upper(content).checked_sub(len)? / ALIGN * ALIGN;
    (at >= slots_end(slot_count(content).max(slot + 1))).then_some(InsertPlan { slot, at, len })
}

/// Marks the tuple of `slot` removed for good: the slot is never reused, and its row (of a row
/// group) no longer exists. Returns the content range written.
pub fn mark_gone(content: &mut [u8], slot: usize) -> Range<usize> {
    assert!(slot < slot_count(content));
    let s = slots_end(slot);
    put_u16(content, s, GONE);
    put_u16(content, s + 2, 0);
    s..s + SLOT_SIZE
}

/// Packs the tuples against the end of the page, in slot order, keeping each in its slot (so
/// every TID still names its row), and drops trailing free slots. The space of removed tuples
/// becomes free. Returns the bytes an insert may now use.
pub fn compact(content: &mut [u8]) -> usize {
    let mut count = slot_count(content);
    let tuples: Vec<(usize, Vec<u8>)> =
        (0..count).filter_map(|s| tuple(content, s).ok().flatten().map(|r| (s, content[r].to_vec()))).collect();
    let gone: Vec<usize> = (0..count).filter(|&s| is_gone(content, s)).collect();
    while count > 0 && !tuples.iter().any(|&(s, _)| s == count - 1) && !gone.contains(&(count - 1)) {
        count -= 1;
    }
    let mut upper = CONTENT_SIZE;
    for s in 0..count {
        put_u16(content, slots_end(s), if gone.contains(&s) { GONE } else { 0 });
        put_u16(content, slots_end(s) + 2, 0);
    }
    for (s, t) in &tuples {
        upper = (upper - t.len()) / ALIGN * ALIGN;
        content[upper..upper + t.len()].copy_from_slice(t);
        put_u16(content, slots_end(*s), upper as u16);
        put_u16(content, slots_end(*s) + 2, t.len() as u16);
    }
    content[slots_end(count)..upper].fill(0);
    put_u16(content, COUNT_AT, count as u16);
    put_u16(content, UPPER_AT, upper as u16);
    free_space(content)
}

/// Whether a tuple of `len` bytes would fit an empty page.
pub fn fits_empty_page(len: usize) -> bool {
    len >= MIN_TUPLE && len <= CONTENT_SIZE - slots_end(1)
}

/// Writes `tuple` as planned by `plan_insert` on the same page.
pub fn apply_insert(content: &mut [u8], plan: &InsertPlan, tuple: &[u8]) {
    assert_eq!(tuple.len(), plan.len);
    content[plan.at..plan.at + plan.len].copy_from_slice(tuple);
    let s = slots_end(plan.slot);
    put_u16(content, s, plan.at as u16);
    put_u16(content, s + 2, plan.len as u16);
    let count = slot_count(content).max(plan.slot + 1);
    put_u16(content, COUNT_AT, count as u16);
    put_u16(content, UPPER_AT, plan.at as u16);
}

/// The content range of the tuple in `slot`: None for a slot never used, removed or gone, an error
/// when the slot points outside the tuple area.
pub fn tuple(content: &[u8], slot: usize) -> Result<Option<Range<usize>>, String> {
    let count = slot_count(content);
    if slot >= count {
        return Ok(None);
    }
    let s = slots_end(slot);
    let (at, len) = (u16_at(content, s) as usize, u16_at(content, s + 2) as usize);
    if len == 0 {
        return Ok(None);
    }
    if len < MIN_TUPLE || at % ALIGN != 0 || at < slots_end(count) || at + len > CONTENT_SIZE {
        return Err(format!("slot {slot} holds {len} bytes at {at}, outside the tuple area"));
    }
    Ok(Some(at..at + len))
}

/// The content bytes of `slot`'s length: a removal writes zeroes there.
pub fn length_field(slot: usize) -> Range<usize> {
    let s = slots_end(slot);
    s + 2..s + 4
}

/// Removes the tuple of `slot` (its bytes stay until the page is rewritten), freeing the slot;
/// returns the content range written.
pub fn remove(content: &mut [u8], slot: usize) -> Range<usize> {
    assert!(slot < slot_count(content));
    let r = length_field(slot);
    content[r.clone()].fill(0);
    r
}

/// Rows with a tuple.
pub fn live_slots(content: &[u8]) -> usize {
    (0..slot_count(content)).filter(|&s| matches!(tuple(content, s), Ok(Some(_)))).count()
}

/// Checked on every read (constant time): the slot array and the tuple area fit the page.
pub fn check_header(content: &[u8]) -> Result<(), String> {
    let (count, upper) = (slot_count(content), upper(content));
    if count > MAX_SLOTS || upper > CONTENT_SIZE || upper < slots_end(count) || upper % ALIGN != 0 {
        return Err(format!("delta page with {count} slots and tuple area from {upper}"));
    }
    Ok(())
}

/// Every invariant: the header's, and tuples inside the tuple area without overlapping.
pub fn check(content: &[u8]) -> Result<(), String> {
    check_header(content)?;
    let mut ranges = Vec::new();
    for s in 0..slot_count(content) {
        if let Some(r) = tuple(content, s)? {
            if r.start < upper(content) {
                return Err(format!("slot {s} starts at {} before the tuple area at {}", r.start, upper(content)));
            }
            ranges.push(r);
        }
    }
    ranges.sort_by_key(|r| r.start);
    if let Some(w) = ranges.windows(2).find(|w| w[0].end > w[1].start) {
        return Err(format!("tuples at {:?} and {:?} overlap", w[0], w[1]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn page() -> Vec<u8> {
        let mut c = vec![0u8; CONTENT_SIZE];
        init(&mut c);
        c
    }

    fn insert(c: &mut [u8], t: &[u8]) -> Option<usize> {
        let plan = plan_insert(c, t.len())?;
        let before = c.to_vec();
        apply_insert(c, &plan, t);
        let ranges = plan.ranges();
        for i in 0..c.len() {
            assert!(c[i] == before[i] || ranges.iter().any(|r| r.contains(&i)), "byte {i} changed outside the plan");
        }
        Some(plan.slot)
    }

    #[test]
    fn insert_read_remove() {
        let mut c = page();
        assert_eq!(tuple(&c, 0), Ok(None));
        assert_eq!(insert(&mut c, &[7u8; 30]), Some(0));
        assert_eq!(insert(&mut c, &[8u8; 24]), Some(1));
        assert_eq!(insert(&mut c, &[1u8; 3]), None, "shorter than a header");
        let r0 = tuple(&c, 0).unwrap().unwrap();
        assert_eq!(&c[r0], &[7u8; 30][..]);
        assert_eq!(remove(&mut c, 0), 6..8);
        assert_eq!(tuple(&c, 0), Ok(None));
        assert_eq!(live_slots(&c), 1);
        check(&c).unwrap();
        // The free slot is taken again, before a new one.
        assert_eq!(insert(&mut c, &[9u8; 40]), Some(0));
        assert_eq!(insert(&mut c, &[9u8; 40]), Some(2));
    }

    #[test]
    fn overlay_slots_in_any_order_and_gone_ones_stay() {
        let mut c = page();
        let put = |c: &mut Vec<u8>, slot: usize, byte: u8| {
            let plan = plan_insert_at(c, slot, MIN_TUPLE).unwrap();
            assert_eq!(plan.slot, slot);
            apply_insert(c, &plan, &[byte; MIN_TUPLE]);
        };
        put(&mut c, 200, 1);
        put(&mut c, 3, 2);
        assert_eq!(slot_count(&c), 201);
        assert!(plan_insert_at(&c, 3, MIN_TUPLE).is_none(), "slot 3 is taken");
        assert_eq!(tuple(&c, 100), Ok(None));
        assert_eq!(mark_gone(&mut c, 200), 804..808);
        assert!(is_gone(&c, 200) && !is_gone(&c, 3) && !is_gone(&c, 100));
        assert_eq!(tuple(&c, 200), Ok(None));
        assert!(plan_insert_at(&c, 200, MIN_TUPLE).is_none(), "a gone slot is never reused");
        assert_eq!(plan_insert(&c, MIN_TUPLE).unwrap().slot, 0, "free slots are, gone ones not");
        check(&c).unwrap();
        compact(&mut c);
        check(&c).unwrap();
        assert!(is_gone(&c, 200) && slot_count(&c) == 201, "compaction keeps gone slots");
        assert_eq!(&c[tuple(&c, 3).unwrap().unwrap()], &[2u8; MIN_TUPLE][..]);
        // Every row of the block gets its header, whatever the order.
        let mut c = page();
        for s in (0..MAX_SLOTS).rev() {
            put(&mut c, s, s as u8);
        }
        check(&c).unwrap();
        assert!((0..MAX_SLOTS).all(|s| c[tuple(&c, s).unwrap().unwrap()][0] == s as u8));
    }

    #[test]
    fn compact_keeps_slots_and_frees_space() {
        let mut c = page();
        for i in 0..20u8 {
            insert(&mut c, &[i; 200]).unwrap();
        }
        let full = free_space(&c);
        for s in (0..20).filter(|s| s % 3 != 0) {
            remove(&mut c, s);
        }
        remove(&mut c, 19);
        let free = compact(&mut c);
        check(&c).unwrap();
        assert!(free > full + 12 * 200, "{free} > {full} + 2400");
        for s in 0..20 {
            match tuple(&c, s).unwrap() {
                Some(r) => assert_eq!(&c[r], &[s as u8; 200][..], "slot {s} keeps its tuple"),
                None => assert!(s % 3 != 0),
            }
        }
        assert_eq!(slot_count(&c), 19, "the trailing free slot is dropped");
        assert_eq!(free_space(&c), free);
    }

    #[test]
    fn fills_up() {
        let mut c = page();
        let mut n = 0;
        while insert(&mut c, &[n as u8; 100]).is_some() {
            n += 1;
        }
        assert_eq!(n, (CONTENT_SIZE - HEADER_SIZE) / (104 + SLOT_SIZE));
        check(&c).unwrap();
        // A header for every row of a logical block fits exactly: an overlay never runs out.
        let mut c = page();
        let mut n = 0;
        while insert(&mut c, &[0u8; MIN_TUPLE]).is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_SLOTS);
        assert_eq!(free_space(&c), 0);
        assert!(fits_empty_page(CONTENT_SIZE - slots_end(1)) && !fits_empty_page(CONTENT_SIZE - slots_end(1) + 1));
    }

    #[test]
    fn damage_is_reported() {
        let mut c = page();
        insert(&mut c, &[1u8; 40]).unwrap();
        put_u16(&mut c, COUNT_AT, MAX_SLOTS as u16 + 1);
        assert!(check_header(&c).is_err());
        put_u16(&mut c, COUNT_AT, 1);
        put_u16(&mut c, slots_end(0) + 2, 9000);
        assert!(tuple(&c, 0).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), CONTENT_SIZE)) {
            if check_header(&bytes).is_ok() {
                for s in 0..MAX_SLOTS {
                    if let Ok(Some(r)) = tuple(&bytes, s) {
                        let _ = &bytes[r];
                    }
                }
                let _ = check(&bytes);
            }
        }

        #[test]
        fn compaction_keeps_every_live_tuple(lens in proptest::collection::vec(24usize..400, 1..60), removed in proptest::collection::vec(any::<bool>(), 60)) {
            let mut c = page();
            let mut stored = Vec::new();
            for (i, len) in lens.iter().enumerate() {
                if let Some(s) = insert(&mut c, &vec![i as u8; *len]) {
                    stored.push((s, vec![i as u8; *len]));
                }
            }
            stored.retain(|(s, _)| {
                if removed[*s] { remove(&mut c, *s); false } else { true }
            });
            let free = compact(&mut c);
            check(&c).unwrap();
            prop_assert_eq!(free, free_space(&c));
            for (s, t) in &stored {
                let r = tuple(&c, *s).unwrap().unwrap();
                prop_assert_eq!(&c[r], &t[..]);
            }
            prop_assert_eq!(live_slots(&c), stored.len());
            // What compact says is free can be used.
            if free >= MIN_TUPLE {
                prop_assert!(plan_insert(&c, free.min(CONTENT_SIZE) / ALIGN * ALIGN).is_some());
            }
        }

        #[test]
        fn random_inserts_keep_invariants(lens in proptest::collection::vec(24usize..600, 1..100)) {
            let mut c = page();
            let mut stored = Vec::new();
            for (i, len) in lens.iter().enumerate() {
                let t = vec![i as u8; *len];
                if let Some(s) = insert(&mut c, &t) {
                    stored.push((s, t));
                }
            }
            check(&c).unwrap();
            for (s, t) in &stored {
                let r = tuple(&c, *s).unwrap().unwrap();
                prop_assert_eq!(&c[r], &t[..]);
            }
        }
    }
}
