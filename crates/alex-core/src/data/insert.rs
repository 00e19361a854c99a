//! Inserts into a data page: planned first ([`DataPage::plan_insert`]: the slot, the shift and
//! the bytes it changes), then applied.

use super::geometry::{Geometry, partition_point};
use super::{BITMAP, DataPage, DataPageMut};
use crate::entry::Entry;
use crate::page::node;
use crate::policy::LOCAL_RUN_RATIO;
use crate::prefetch::Prefetch;

/// Whether a key `code` between neighbours `prev` and `next` looks like a run of ascending keys
/// into one place: far closer to the key before it than to the one after (or equal to the one
/// before: duplicates get ascending TIDs).
pub(super) fn is_local_append(prev: u64, code: u64, next: u64) -> bool {
    (code == prev && next > code) || code - prev < (next - code) / LOCAL_RUN_RATIO
}

/// The mirror of [`is_local_append`]: a run of descending keys into one place.
pub(super) fn is_local_prepend(prev: u64, code: u64, next: u64) -> bool {
    next - code < (code - prev) / LOCAL_RUN_RATIO
}

impl<P: Prefetch> DataPage<'_, P> {
    /// Decides where `e` goes (see [`DataPageMut::insert`]) without changing the page.
    pub fn plan_insert(&self, e: Entry) -> Result<InsertPlan, InsertError> {
        let (g, b) = (&self.g, self.b);
        let Some(stored) = g.stored_for(b, e) else {
            return Err(InsertError::Encoding);
        };
        if self.count() >= g.cap {
            return Err(InsertError::Full);
        }
        let next = g.seek(b, e, self.prefetch);
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
    pub(super) stored: u64,
    pub(super) tid: u64,
    pub(super) slot: usize,
    shift: Shift,
    /// The slots whose key, TID or bitmap bit the insert may write: `first..=last`.
    pub(super) first: usize,
    pub(super) last: usize,
    /// Entries moved to make room.
    pub shifted: usize,
    pub(super) geometry: Geometry,
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

impl DataPageMut<'_> {
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
}
