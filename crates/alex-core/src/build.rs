//! Distributing sorted entries over data pages: the bulk load and page splits.

use crate::data::{Encoding, TidStats};
use crate::entry::Entry;

/// Cuts a sorted stream of entries into runs, one per data page, so that each run fills its
/// page's slots to `density` under the encoding the run itself needs. Pages of narrow keys get
/// more entries than pages of wide ones.
pub struct Chunker {
    density: f64,
    run: Vec<Entry>,
    stats: TidStats,
    /// Low fence of the current run: Entry::MIN for the first, else its first entry.
    low: Entry,
}

impl Chunker {
    pub fn new(density: f64) -> Chunker {
        Chunker { density, run: Vec::new(), stats: TidStats::default(), low: Entry::MIN }
    }

    fn fits(&self, count: usize, enc: &Encoding) -> bool {
        count <= crate::data::entries_at_density(enc, self.density)
    }

    /// Adds the next entry (entries must arrive in strictly increasing order). Returns a finished
    /// run `(low fence, entries, high fence)` when `e` starts a new one.
    pub fn push(&mut self, e: Entry) -> Option<(Entry, Vec<Entry>, Entry)> {
        if let Some(first) = self.run.first() {
            let mut stats = self.stats;
            stats.add(e.tid);
            // The run's high fence is not known yet; its encoding reserves at most twice the
            // key span (see Encoding::for_entries), so check against that.
            let base = if self.low == Entry::MIN { first.code } else { self.low.code };
            let top = e.code.saturating_add((e.code - base).max(1));
            let enc = Encoding::from_stats(base, top, &stats);
            if !self.fits(self.run.len() + 1, &enc) {
                return Some(self.close(e));
            }
        }
        self.run.push(e);
        self.stats.add(e.tid);
        None
    }

    /// Finishes the run before `next`, which becomes the first entry of the next run.
    fn close(&mut self, next: Entry) -> (Entry, Vec<Entry>, Entry) {
        let run = std::mem::take(&mut self.run);
        let low = self.low;
        self.low = next;
        self.stats = TidStats::default();
        self.run.push(next);
        self.stats.add(next.tid);
        (low, run, next)
    }

    /// Returns the last run, the rightmost, with an infinite high fence.
    pub fn finish(self) -> Option<(Entry, Vec<Entry>, Option<Entry>)> {
        if self.run.is_empty() {
            return None;
        }
        debug_assert!(self.run.len() <= Encoding::for_entries(&self.run, self.low, None).capacity());
        Some((self.low, self.run, None))
    }
}

/// What to do with a data page that cannot take one more entry in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitPlan {
    /// Lay the page out again (new encoding, retrained model, gaps redistributed).
    Rebuild,
    /// Split into pieces starting at these indexes of the entries (the first piece starts at 0
    /// and stays in the page; each later piece goes to a new page to its right).
    Split(Vec<usize>),
}

/// Whether `entries` fit one page between `low` and `high` at `density`.
pub fn fits_page(entries: &[Entry], low: Entry, high: Option<Entry>, density: f64) -> bool {
    let enc = Encoding::for_entries(entries, low, high);
    entries.len() <= ((enc.capacity() as f64) * density) as usize
}

/// Where to split `all` when `all[inserted]` overflows the page.
///
/// An insert at the right end of a page leaves the left page 90% full (one at the left end, the
/// right page), as btree does for its rightmost page: appends, and ascending runs that reach a
/// page's high fence, leave full pages behind; so does a "local" ascending run: an
/// insert much closer to its left neighbour than to its right one, in the page's right half,
/// splits just after itself, so the run goes on in the new right page and the left page stays
/// full (nbtree's "split after new item" heuristic, for the same reason). Otherwise split in the
/// middle.
fn split_point(all: &[Entry], inserted: usize) -> usize {
    let n = all.len();
    if inserted == n - 1 {
        return n * 9 / 10;
    }
    if inserted == 0 {
        return n / 10;
    }
    if inserted > 0 && inserted + 1 < n {
        let left_gap = all[inserted].code - all[inserted - 1].code;
        let right_gap = all[inserted + 1].code - all[inserted].code;
        if inserted >= n / 2 && right_gap / 16 > left_gap {
            return inserted + 1;
        }
        if inserted <= n / 2 && left_gap / 16 > right_gap {
            return inserted;
        }
    }
    n / 2
}

/// Plans how a page holding `all` (its entries plus the one being inserted, at index `inserted`)
/// between `low` and `high` makes room. Pages are kept at or below `max_density`; a split of the
/// rightmost page by an append keeps the left page 90% full (and likewise for the leftmost page
/// and descending inserts), as btree does, so that sequential loads leave dense pages behind.
pub fn plan_split(all: &[Entry], inserted: usize, low: Entry, high: Option<Entry>, max_density: f64) -> SplitPlan {
    if fits_page(all, low, high, max_density) {
        return SplitPlan::Rebuild;
    }
    let n = all.len();
    let k = split_point(all, inserted).clamp(1, n - 1);
    if fits_page(&all[..k], low, Some(all[k]), 1.0) && fits_page(&all[k..], all[k], high, 1.0) {
        return SplitPlan::Split(vec![k]);
    }
    // Only the inserted entry can make a half too wide for its page (say, a TID far from the
    // others in a page of narrow entries): put a small window around it in a page of its own.
    // The pieces either side hold entries of the old page only, so they fit.
    const WINDOW: usize = 128;
    let a = inserted.saturating_sub(WINDOW);
    let b = (inserted + WINDOW).min(n);
    let cuts: Vec<usize> = [a, b].into_iter().filter(|&c| c > 0 && c < n).collect();
    SplitPlan::Split(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::pack_tid;
    use proptest::prelude::*;

    fn runs(entries: &[Entry], density: f64) -> Vec<(Entry, Vec<Entry>, Option<Entry>)> {
        let mut c = Chunker::new(density);
        let mut out = Vec::new();
        for e in entries {
            if let Some((lo, run, hi)) = c.push(*e) {
                out.push((lo, run, Some(hi)));
            }
        }
        out.extend(c.finish());
        out
    }

    proptest! {
        #[test]
        fn chunker_covers_everything_and_every_run_fits(codes in prop::collection::btree_set(any::<u64>(), 1..5000), density in prop_oneof![Just(1.0f64), 0.5f64..1.0], dense_keys in any::<bool>()) {
            let entries: Vec<Entry> = codes.iter().enumerate().map(|(i, c)| Entry::new(if dense_keys { i as u64 * 3 } else { *c }, pack_tid(i as u32 / 50, (i % 50) as u16 + 1))).collect();
            let rs = runs(&entries, density);
            let mut all = Vec::new();
            let mut prev_high: Option<Entry> = None;
            for (i, (lo, run, hi)) in rs.iter().enumerate() {
                prop_assert!(!run.is_empty());
                if i == 0 { prop_assert_eq!(*lo, Entry::MIN) } else { prop_assert_eq!(Some(*lo), prev_high) }
                prop_assert_eq!(run[0] >= *lo, true);
                let enc = Encoding::for_entries(run, *lo, *hi);
                prop_assert!(run.len() <= enc.capacity(), "run of {} > capacity {}", run.len(), enc.capacity());
                prev_high = *hi;
                all.extend_from_slice(run);
            }
            prop_assert!(prev_high.is_none());
            prop_assert_eq!(all, entries);
        }

        #[test]
        fn split_pieces_fit(codes in prop::collection::btree_set(0u64..1_000_000, 2..3000), far_block in any::<bool>()) {
            let mut all: Vec<Entry> = codes.iter().enumerate().map(|(i, c)| Entry::new(*c, pack_tid(7, (i % 200) as u16 + 1))).collect();
            let inserted = all.len() / 3;
            if far_block { all[inserted].tid = pack_tid(4_000_000_000, 1); }
            match plan_split(&all, inserted, Entry::MIN, None, 0.9) {
                SplitPlan::Rebuild => prop_assert!(fits_page(&all, Entry::MIN, None, 0.9)),
                SplitPlan::Split(cuts) => {
                    let mut starts = vec![0];
                    starts.extend(cuts.iter().copied());
                    prop_assert!(starts.windows(2).all(|w| w[0] < w[1]));
                    for (i, &s) in starts.iter().enumerate() {
                        let end = starts.get(i + 1).copied().unwrap_or(all.len());
                        let low = if i == 0 { Entry::MIN } else { all[s] };
                        let high = if end == all.len() { None } else { Some(all[end]) };
                        prop_assert!(fits_page(&all[s..end], low, high, 1.0));
                    }
                }
            }
        }
    }

    #[test]
    fn a_local_ascending_run_splits_after_the_new_entry() {
        let mut all: Vec<Entry> = (0..2000u64).map(|i| Entry::new(i, pack_tid(1, 1 + (i % 200) as u16))).collect();
        all.push(Entry::new(1 << 40, pack_tid(2, 1)));
        assert_eq!(split_point(&all, 1999), 2000);
    }

    #[test]
    fn appends_leave_the_left_page_nine_tenths_full() {
        let all: Vec<Entry> = (0..2000u64).map(|i| Entry::new(i * 10, pack_tid(i as u32 / 100, 1 + (i % 100) as u16))).collect();
        assert!(!fits_page(&all, Entry::MIN, None, 0.9));
        match plan_split(&all, all.len() - 1, Entry::MIN, None, 0.9) {
            SplitPlan::Split(c) => assert_eq!(c, vec![1800]),
            p => panic!("{p:?}"),
        }
    }
}
