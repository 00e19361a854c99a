//! Distributing sorted entries over data pages: the bulk load and page splits.

use crate::data::{Encoding, TidStats};
use crate::entry::{Entry, MIN_TID};
use crate::model::LinearModel;

/// One data page's worth of entries from a bulk load: `(low fence, entries, high fence)`, the high
/// fence `None` for the last page.
pub type Run = (Entry, Vec<Entry>, Option<Entry>);

/// Cuts a sorted stream of entries (strictly increasing) into runs, one per data page. A run
/// grows until one more entry would take its page's slots beyond `density` under the encoding
/// the run itself needs (so pages of narrow keys get more entries than pages of wide ones); then
/// [`best_cut`] decides where the page ends, and what follows the cut starts the next run.
pub fn chunks(entries: impl Iterator<Item = Entry>, density: f64) -> impl Iterator<Item = Run> {
    let mut chunker = Chunker { density, run: Vec::new(), stats: TidStats::default(), low: Entry::MIN, ready: Vec::new() };
    let mut entries = entries.fuse();
    std::iter::from_fn(move || {
        while chunker.ready.is_empty() {
            match entries.next() {
                Some(e) => chunker.push(e),
                None => return chunker.finish(),
            }
        }
        Some(chunker.ready.remove(0))
    })
}

struct Chunker {
    density: f64,
    run: Vec<Entry>,
    stats: TidStats,
    /// Low fence of the current run: Entry::MIN for the first, else its first entry.
    low: Entry,
    /// Finished runs not yet returned (at most two).
    ready: Vec<Run>,
}

impl Chunker {
    fn push(&mut self, e: Entry) {
        while let Some(first) = self.run.first() {
            let mut stats = self.stats;
            stats.add(e.tid);
            // The run's high fence is not known yet: check against the widest key range its
            // encoding can take (the one with no high fence).
            let (base, top) = crate::data::key_range(first.code, e.code, self.low, None);
            let enc = Encoding::from_stats(base, top, &stats);
            if self.run.len() < crate::data::entries_at_density(&enc, self.density) {
                break;
            }
            self.close(best_cut(&self.run, self.density), e);
        }
        self.run.push(e);
        self.stats.add(e.tid);
    }

    /// Ends the current page after `cut` entries; the rest of the run starts the next one.
    fn close(&mut self, cut: usize, next: Entry) {
        let rest = self.run.split_off(cut);
        let high = rest.first().copied().unwrap_or(next);
        let page = std::mem::replace(&mut self.run, rest);
        self.ready.push((self.low, page, Some(high)));
        self.low = high;
        self.stats = TidStats::default();
        for e in &self.run {
            self.stats.add(e.tid);
        }
    }

    /// The last run, the rightmost, with an infinite high fence.
    fn finish(&mut self) -> Option<Run> {
        if self.run.is_empty() {
            return None;
        }
        debug_assert!(self.run.len() <= Encoding::for_entries(&self.run, self.low, None).capacity());
        Some((self.low, std::mem::take(&mut self.run), None))
    }
}

/// ALEX's cost model, for a page of fixed size: where a full run of `n` entries should end its
/// page.
///
/// A page's linear model is fitted to its entries' positions, and a lookup searches
/// exponentially from the prediction: about `log2(error + 1)` steps, the error counted in slots.
/// Where the keys jump (from one dense cluster to the next), a least-squares line is pulled
/// towards the few keys on one side and misses the many on the other by hundreds of slots.
/// Ending the page at the jump leaves a shorter page (more space per entry) and starts the next
/// one at the jump. The cost of covering the run's entries is compared both ways, a page
/// counted as [`PAGE_COST`] search steps and the entries after a cut charged the share of a full
/// page they will fill. Only the widest gaps, far wider than the run's mean gap, are tried: a
/// line fits evenly spread keys however they are cut, and a run without a jump costs one pass.
pub fn best_cut(run: &[Entry], density: f64) -> usize {
    let n = run.len();
    if n < 16 {
        return n;
    }
    let mut gaps: Vec<(u64, usize)> = (1..n).map(|j| (run[j].code - run[j - 1].code, j)).filter(|&(gap, _)| is_jump(run, gap)).collect();
    if gaps.is_empty() {
        return n;
    }
    gaps.sort_unstable_by(|a, b| b.cmp(a));
    // Total search steps to find each entry of `part` once, in a page of `slots` slots.
    let steps = |part: &[Entry], slots: f64| {
        let ranks = || part.iter().enumerate().map(|(i, e)| (e.code - part[0].code, i as f64));
        let m = LinearModel::fit(ranks());
        let rank_error = ranks().map(|(x, i)| (m.predict(x) - i).abs()).sum::<f64>() / part.len() as f64;
        part.len() as f64 * (rank_error * slots / part.len() as f64 + 1.0).log2()
    };
    let slots = n as f64 / density;
    let whole = steps(run, slots) + PAGE_COST;
    let mut best = (whole, n);
    for &(_, j) in gaps.iter().take(TRIED_GAPS) {
        let rest = &run[j..];
        let cut = steps(&run[..j], slots) + PAGE_COST + steps(rest, rest.len() as f64 / density) + PAGE_COST * rest.len() as f64 / n as f64;
        if cut < best.0 {
            best = (cut, j);
        }
    }
    best.1
}

/// Whether a gap between two of the sorted `entries` (at least two) is a jump in the keys: 16
/// times their mean gap or more, which no line over the entries on both sides can fit.
fn is_jump(entries: &[Entry], gap: u64) -> bool {
    let span = entries[entries.len() - 1].code - entries[0].code;
    gap as f64 > 16.0 * span as f64 / (entries.len() - 1) as f64
}

/// What a page costs in [`best_cut`], in search steps: about one step per 4 bytes of a page.
const PAGE_COST: f64 = 2048.0;
/// How many of a run's widest gaps [`best_cut`] tries.
const TRIED_GAPS: usize = 3;

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
/// middle, or at a jump in the keys in the middle half, so that neither page's model has to
/// span it (as the build's [`best_cut`]).
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
    let (gap, at) = ((n / 4).max(1)..n * 3 / 4).map(|j| (all[j].code - all[j - 1].code, j)).max().unwrap_or((0, n / 2));
    if is_jump(all, gap) { at } else { n / 2 }
}

/// The separator between two pieces of a split page, the low fence of the right one: halfway
/// between the keys either side (with the smallest TID), or the right piece's first entry when
/// it repeats the left piece's last key. Halfway, inserts into a jump in the keys go to the page
/// whose keys they are near: an ascending run after the left piece's keys and a descending run
/// before the right piece's each stay in their own page, instead of both landing in the left one
/// and making it span the jump.
pub fn separator(last_left: Entry, first_right: Entry) -> Entry {
    debug_assert!(last_left < first_right);
    if last_left.code == first_right.code {
        return first_right;
    }
    Entry::new(last_left.code + (first_right.code - last_left.code).div_ceil(2), MIN_TID)
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
    let sep = separator(all[k - 1], all[k]);
    if fits_page(&all[..k], low, Some(sep), 1.0) && fits_page(&all[k..], sep, high, 1.0) {
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

    fn runs(entries: &[Entry], density: f64) -> Vec<Run> {
        chunks(entries.iter().copied(), density).collect()
    }

    proptest! {
        #[test]
        fn chunker_covers_everything_and_every_run_fits(codes in prop::collection::btree_set(any::<u64>(), 1..5000), density in prop_oneof![Just(1.0f64), 0.5f64..1.0], shape in 0..3u8) {
            // Random keys, dense keys, or dense clusters far apart (where the cost model cuts).
            let mut keys: Vec<u64> = codes.iter().enumerate().map(|(i, c)| match shape { 0 => *c, 1 => i as u64 * 3, _ => (c % 5) << 40 | (c >> 20) % 3000 }).collect();
            keys.sort_unstable();
            let entries: Vec<Entry> = keys.iter().enumerate().map(|(i, c)| Entry::new(*c, pack_tid(i as u32 / 50, (i % 50) as u16 + 1))).collect();
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
        fn split_pieces_fit(codes in prop::collection::btree_set(0u64..1_000_000, 2..3000), far_block in any::<bool>(), clusters in any::<bool>()) {
            let mut keys: Vec<u64> = codes.iter().map(|c| if clusters { (c % 3) << 30 | c / 3 } else { *c }).collect();
            keys.sort_unstable();
            let mut all: Vec<Entry> = keys.iter().enumerate().map(|(i, c)| Entry::new(*c, pack_tid(7, (i % 200) as u16 + 1))).collect();
            // A page's entries (they fit it at 0.9) and the one being inserted.
            let old_page_fits = |all: &[Entry]| {
                let mut old = all.to_vec();
                old.remove(all.len() / 3);
                fits_page(&old, Entry::MIN, None, 0.9)
            };
            while all.len() > 2 && !old_page_fits(&all) {
                all.truncate(all.len() * 9 / 10);
            }
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
                        let low = if i == 0 { Entry::MIN } else { separator(all[s - 1], all[s]) };
                        let high = if end == all.len() { None } else { Some(separator(all[end - 1], all[end])) };
                        prop_assert!(low <= all[s] && high.is_none_or(|h| all[end - 1] < h));
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
    fn a_split_ends_the_left_page_at_a_jump_in_the_middle_half() {
        let mut all: Vec<Entry> = (0..2000u64).map(|i| Entry::new(if i < 700 { i } else { (1 << 30) + i }, tid(i as usize))).collect();
        assert_eq!(split_point(&all, 1000), 700);
        all[700..].iter_mut().for_each(|e| e.code -= (1 << 30) - 2); // no wider than the rest
        assert_eq!(split_point(&all, 1000), 1000);
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

    fn tid(i: usize) -> u64 {
        pack_tid(i as u32 / 100, 1 + (i % 100) as u16)
    }

    #[test]
    fn a_page_ends_where_one_dense_cluster_jumps_to_the_next() {
        // Clusters of 1000 dense keys, 2^20 apart: pages that hold more than 1000 keys would
        // hold the end of one cluster and the start of the next. None may, and every page's
        // model then fits its keys closely.
        let entries: Vec<Entry> = (0..8000usize).map(|i| Entry::new((i / 1000) as u64 * (1 << 20) + (i % 1000) as u64, tid(i))).collect();
        let rs = runs(&entries, 0.8);
        for (_, run, _) in &rs {
            assert_eq!(run[0].code >> 20, run[run.len() - 1].code >> 20, "a page spans a jump: {:?}..{:?}", run[0], run[run.len() - 1]);
        }
        let mut page = vec![0u8; crate::page::CONTENT_SIZE];
        for (low, run, high) in &rs {
            crate::data::layout(&mut page, run, Encoding::for_entries(run, *low, *high), crate::page::node::Header { flags: 0, level: 0, count: 0, capacity: 0, left: crate::page::NO_BLOCK, right: crate::page::NO_BLOCK, low: *low, high: *high, model: LinearModel::default() });
            let (mean, max) = crate::data::DataPage::new(&page).model_error();
            assert!(mean < 1.0 && max < 4, "model error {mean}/{max} on a page of {} keys", run.len());
        }
    }

    #[test]
    fn evenly_spread_keys_fill_every_page() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut codes: Vec<u64> = (0..4000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect();
        codes.sort_unstable();
        for keys in [codes, (0..4000u64).collect(), (0..4000u64).map(|i| i * 1000).collect()] {
            let run: Vec<Entry> = keys.iter().enumerate().map(|(i, c)| Entry::new(*c, tid(i))).collect();
            assert_eq!(best_cut(&run, 0.8), run.len());
        }
    }
}
