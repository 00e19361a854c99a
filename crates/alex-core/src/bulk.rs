//! The bulk load: cutting a sorted stream of entries into runs, one per data page, where ALEX's
//! cost model says a page should end.

use crate::data::{CapacityCache, Encoding, TidStats, entries_of_capacity};
use crate::entry::Entry;
use crate::model::LinearModel;
use crate::policy::{JUMP_MEAN_GAPS, PAGE_COST, TRIED_GAPS};
use crate::split::fits_page;

/// One data page's worth of entries from a bulk load: `(low fence, entries, high fence)`, the high
/// fence `None` for the last page.
pub type Run = (Entry, Vec<Entry>, Option<Entry>);

/// Cuts a sorted stream of entries (strictly increasing) into runs, one per data page. A run
/// grows until one more entry would take its page's slots beyond `density` under the encoding
/// the run itself needs (so pages of narrow keys, or of a few keys repeated many times, get more
/// entries than pages of wide ones); then [`best_cut`] decides where the page ends, and what
/// follows the cut starts the next run.
pub fn chunks(entries: impl Iterator<Item = Entry>, density: f64) -> impl Iterator<Item = Run> {
    let mut chunker = Chunker { density, run: Vec::new(), stats: TidStats::default(), distinct: 0, low: Entry::MIN, ready: Vec::new(), capacities: CapacityCache::default(), always_fit: entries_of_capacity(Encoding::widest().capacity(), density) };
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
    /// Distinct codes in the run.
    distinct: usize,
    /// Low fence of the current run: Entry::MIN for the first, else its first entry.
    low: Entry,
    /// Finished runs not yet returned (at most two).
    ready: Vec<Run>,
    capacities: CapacityCache,
    /// Runs shorter than this fit a page whatever their encoding, which need not be worked out.
    always_fit: usize,
}

impl Chunker {
    fn push(&mut self, e: Entry) {
        while let Some(first) = self.run.first() {
            if self.run.len() < self.always_fit {
                break;
            }
            let mut stats = self.stats;
            stats.add(e.tid);
            // The run's high fence is not known yet: check against the widest key range its
            // encoding can take (the one with no high fence).
            let (base, top) = crate::data::key_range(first.code, e.code, self.low, None);
            let enc = Encoding::from_stats(base, top, &stats);
            let mut capacity = self.capacities.capacity(&enc);
            // Every page but the first gets a finite low fence, and all but the last a high
            // one (the last is cut again in `finish`): a dictionary is theirs to choose.
            if self.low != Entry::MIN {
                let distinct = self.distinct + usize::from(self.run[self.run.len() - 1].code != e.code);
                capacity = enc.or_dictionary_with_capacity(capacity, first.code, distinct, self.run.len() + 1).1;
            }
            if self.run.len() < entries_of_capacity(capacity, self.density) {
                break;
            }
            // A cut before the run's end keeps fewer entries, but may lose the dictionary that
            // the whole run has: then the page takes the whole run.
            let cut = best_cut(&self.run, self.density);
            let cut = if cut == self.run.len() || fits_page(&self.run[..cut], self.low, Some(self.run[cut]), self.density) { cut } else { self.run.len() };
            self.close(cut, e);
        }
        self.push_to_run(e);
    }

    fn push_to_run(&mut self, e: Entry) {
        self.distinct += usize::from(self.run.last().is_none_or(|last| last.code != e.code));
        self.run.push(e);
        self.stats.add(e.tid);
    }

    /// Ends the current page after `cut` entries; the rest of the run starts the next one.
    fn close(&mut self, cut: usize, next: Entry) {
        let rest = self.run.split_off(cut);
        let high = rest.first().copied().unwrap_or(next);
        let page = std::mem::replace(&mut self.run, Vec::with_capacity(rest.len()));
        self.ready.push((self.low, page, Some(high)));
        self.low = high;
        self.stats = TidStats::default();
        self.distinct = 0;
        for e in rest {
            self.push_to_run(e);
        }
    }

    /// The last runs: the rightmost has an infinite high fence, so no dictionary, and ends where
    /// an affine page fills up.
    fn finish(&mut self) -> Option<Run> {
        while !self.run.is_empty() {
            let fit = crate::data::entries_at_density(&Encoding::affine_for(&self.run, self.low, None), self.density);
            if self.run.len() <= fit {
                self.ready.push((self.low, std::mem::take(&mut self.run), None));
                break;
            }
            self.close(fit, self.run[fit]);
        }
        (!self.ready.is_empty()).then(|| self.ready.remove(0))
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

/// Whether a gap between two of the sorted `entries` (at least two) is a jump in the keys:
/// [`JUMP_MEAN_GAPS`] times their mean gap or more, which no line over the entries on both sides can fit.
pub(crate) fn is_jump(entries: &[Entry], gap: u64) -> bool {
    let span = entries[entries.len() - 1].code - entries[0].code;
    gap as f64 > JUMP_MEAN_GAPS as f64 * span as f64 / (entries.len() - 1) as f64
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
        fn chunker_covers_everything_and_every_run_fits(codes in prop::collection::btree_set(any::<u64>(), 1..5000), density in prop_oneof![Just(1.0f64), 0.5f64..1.0], shape in 0..5u8) {
            // Random keys, dense keys, dense clusters far apart (where the cost model cuts), a
            // few wide keys repeated (dictionary pages), or those among random keys.
            let mut keys: Vec<u64> = codes
                .iter()
                .enumerate()
                .map(|(i, c)| match shape {
                    0 => *c,
                    1 => i as u64 * 3,
                    2 => (c % 5) << 40 | (c >> 20) % 3000,
                    3 => (c % 11) << 58,
                    _ => if c % 3 == 0 { *c } else { (c % 11) << 58 },
                })
                .collect();
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
            crate::data::layout(&mut page, run, Encoding::for_entries(run, *low, *high), crate::page::node::Header::new(0, *low, *high));
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
