//! Page splits: what a data page that cannot take one more entry in place does (lay itself out
//! again, or split into two or three pages), where it splits, and the separators between the
//! pieces.

use crate::bulk::is_jump;
use crate::data::Encoding;
use crate::entry::{Entry, MIN_TID};
use crate::policy::{APPEND_SPLIT_TENTHS, ISOLATION_WINDOW, LOCAL_RUN_RATIO};

/// What to do with a data page that cannot take one more entry in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitPlan {
    /// Lay the page out again with this encoding (retrained model, gaps redistributed).
    Rebuild(Encoding),
    /// Split into pieces starting at these indexes of the entries (the first piece starts at 0
    /// and stays in the page; each later piece goes to a new page to its right), each laid out
    /// with [`Encoding::for_entries`], or with [`Encoding::affine_for`] when `affine`.
    Split { cuts: Vec<usize>, affine: bool },
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
/// span it (as the bulk load's [`best_cut`](crate::bulk::best_cut)).
///
/// A duplicate (it joins its key's run, normally at the end: its heap TID is the largest) is
/// judged by its run. A run far closer to the key below it than to the key above is the head of
/// an ascending stream of repeated keys: split after the run (or nine tenths in, at the page's
/// end); the mirror case, the head of a descending stream, keeps the run at the start of the
/// right page (or alone in the left page, at the page's start). Any other duplicate splits in the
/// middle: the rules for appends would give a key that has stopped growing a page of its own
/// (nbtree does not apply "split after new item" to duplicates either). A run of more than half
/// the page is one value's and splits as appends do.
fn split_point(all: &[Entry], inserted: usize, low: Entry, high: Option<Entry>) -> usize {
    let n = all.len();
    let code = all[inserted].code;
    if inserted > 0 && all[inserted - 1].code == code {
        let start = all[..inserted].partition_point(|e| e.code < code);
        let end = inserted + all[inserted..].partition_point(|e| e.code == code);
        if end - start <= n / 2 {
            let below = if start > 0 { all[start - 1].code } else { low.code };
            let above = if end < n { all[end].code } else { high.map_or(u64::MAX, |h| h.code) };
            let (left_gap, right_gap) = (code - below, above - code);
            if right_gap / LOCAL_RUN_RATIO > left_gap {
                return if end == n { n * APPEND_SPLIT_TENTHS / 10 } else { end };
            }
            if left_gap / LOCAL_RUN_RATIO > right_gap {
                return if start == 0 { end } else { start };
            }
            return middle_split(all);
        }
    }
    if inserted == n - 1 {
        return n * APPEND_SPLIT_TENTHS / 10;
    }
    if inserted == 0 {
        return n * (10 - APPEND_SPLIT_TENTHS) / 10;
    }
    if inserted > 0 && inserted + 1 < n {
        let left_gap = all[inserted].code - all[inserted - 1].code;
        let right_gap = all[inserted + 1].code - all[inserted].code;
        if inserted >= n / 2 && right_gap / LOCAL_RUN_RATIO > left_gap {
            return inserted + 1;
        }
        if inserted <= n / 2 && left_gap / LOCAL_RUN_RATIO > right_gap {
            return inserted;
        }
    }
    middle_split(all)
}

/// The widest jump in the keys in the middle half of `all`, else the middle.
fn middle_split(all: &[Entry]) -> usize {
    let n = all.len();
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
///
/// `dictionary_miss` says that the page has a dictionary and that `all[inserted]`'s key is not
/// in it (a TID beyond the page's encoding only lays it out again). Laid out again with the new key in its dictionary, the page would be laid out again at
/// every new key that follows: it turns affine when that holds its entries (it takes a
/// dictionary again when it fills up), or splits into two or three affine pages; failing that,
/// it splits in the middle, and its halves do the same at their next new key. (Never after the
/// new key, as for an ascending run: the run's next key would split the new right page again,
/// a page each.)
pub fn plan_split(all: &[Entry], inserted: usize, low: Entry, high: Option<Entry>, max_density: f64, dictionary_miss: bool) -> SplitPlan {
    let holds = |part: &[Entry], enc: Encoding| part.len() <= ((enc.capacity() as f64) * max_density) as usize;
    if dictionary_miss {
        let affine = Encoding::affine_for(all, low, high);
        if holds(all, affine) {
            return SplitPlan::Rebuild(affine);
        }
        let n = all.len();
        for pieces in [2, 3] {
            let cuts: Vec<usize> = (1..pieces).map(|i| i * n / pieces).collect();
            let affine_pieces = pieces_of(all, &cuts, low, high).all(|(_, part, lo, hi)| holds(part, Encoding::affine_for(part, lo, hi)));
            if affine_pieces {
                return SplitPlan::Split { cuts, affine: true };
            }
        }
        return split_at(all, middle_split(all), inserted, low, high);
    }
    let enc = Encoding::for_entries(all, low, high);
    if holds(all, enc) {
        return SplitPlan::Rebuild(enc);
    }
    split_at(all, split_point(all, inserted, low, high), inserted, low, high)
}

/// The pieces of `all` (between `low` and `high`) that start at 0 and at each of `cuts`: each
/// piece's start, entries and fences.
pub fn pieces_of<'a>(all: &'a [Entry], cuts: &'a [usize], low: Entry, high: Option<Entry>) -> impl Iterator<Item = (usize, &'a [Entry], Entry, Option<Entry>)> + 'a {
    let starts = std::iter::once(0).chain(cuts.iter().copied());
    let ends = cuts.iter().copied().chain(std::iter::once(all.len()));
    starts.zip(ends).map(move |(s, end)| {
        let piece_low = if s == 0 { low } else { separator(all[s - 1], all[s]) };
        let piece_high = if end == all.len() { high } else { Some(separator(all[end - 1], all[end])) };
        (s, &all[s..end], piece_low, piece_high)
    })
}

/// Splits `all` before index `k`, or, when a piece would not fit its page, in three.
fn split_at(all: &[Entry], k: usize, inserted: usize, low: Entry, high: Option<Entry>) -> SplitPlan {
    let n = all.len();
    let k = k.clamp(1, n - 1);
    let sep = separator(all[k - 1], all[k]);
    if fits_page(&all[..k], low, Some(sep), 1.0) && fits_page(&all[k..], sep, high, 1.0) {
        return SplitPlan::Split { cuts: vec![k], affine: false };
    }
    // Only the inserted entry can make a half too wide for its page (say, a TID far from the
    // others in a page of narrow entries): put a small window around it in a page of its own.
    // The pieces either side hold entries of the old page only, so they fit.
    let a = inserted.saturating_sub(ISOLATION_WINDOW);
    let b = (inserted + ISOLATION_WINDOW).min(n);
    let cuts: Vec<usize> = [a, b].into_iter().filter(|&c| c > 0 && c < n).collect();
    SplitPlan::Split { cuts, affine: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::pack_tid;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn split_pieces_fit(codes in prop::collection::btree_set(0u64..1_000_000, 2..3000), far_block in any::<bool>(), shape in 0..3u8) {
            // Random keys, clusters, or a few wide keys repeated in a page with both fences
            // finite (a dictionary page).
            let mut keys: Vec<u64> = codes.iter().map(|c| match shape { 0 => *c, 1 => (c % 3) << 30 | c / 3, _ => (c % 9 + 1) << 40 }).collect();
            keys.sort_unstable();
            let mut all: Vec<Entry> = keys.iter().enumerate().map(|(i, c)| Entry::new(*c, pack_tid(7 + i as u32 / 200, (i % 200) as u16 + 1))).collect();
            let (low, high) = if shape == 2 { (Entry::first_of(1), Some(Entry::first_of(u64::MAX))) } else { (Entry::MIN, None) };
            // A page's entries (they fit it at 0.9) and the one being inserted.
            let old_page_fits = |all: &[Entry]| {
                let mut old = all.to_vec();
                old.remove(all.len() / 3);
                fits_page(&old, low, high, 0.9)
            };
            while all.len() > 2 && !old_page_fits(&all) {
                all.truncate(all.len() * 9 / 10);
            }
            let inserted = all.len() / 3;
            if far_block { all[inserted].tid = pack_tid(4_000_000_000, 1); }
            match plan_split(&all, inserted, low, high, 0.9, false) {
                SplitPlan::Rebuild(enc) => prop_assert!(all.len() as f64 <= enc.capacity() as f64 * 0.9),
                SplitPlan::Split { cuts, .. } => {
                    prop_assert!(cuts.windows(2).all(|w| w[0] < w[1]) && cuts[0] > 0 && cuts[cuts.len() - 1] < all.len());
                    for (_, piece, low, high) in pieces_of(&all, &cuts, low, high) {
                        prop_assert!(low <= piece[0] && high.is_none_or(|h| piece[piece.len() - 1] < h));
                        prop_assert!(fits_page(piece, low, high, 1.0));
                    }
                }
            }
        }
    }


    #[test]
    fn a_local_ascending_run_splits_after_the_new_entry() {
        let mut all: Vec<Entry> = (0..2000u64).map(|i| Entry::new(i, pack_tid(1, 1 + (i % 200) as u16))).collect();
        all.push(Entry::new(1 << 40, pack_tid(2, 1)));
        assert_eq!(split_point(&all, 1999, Entry::MIN, None), 2000);
    }

    #[test]
    fn a_split_ends_the_left_page_at_a_jump_in_the_middle_half() {
        let mut all: Vec<Entry> = (0..2000u64).map(|i| Entry::new(if i < 700 { i } else { (1 << 30) + i }, tid(i as usize))).collect();
        assert_eq!(split_point(&all, 1000, Entry::MIN, None), 700);
        all[700..].iter_mut().for_each(|e| e.code -= (1 << 30) - 2); // no wider than the rest
        assert_eq!(split_point(&all, 1000, Entry::MIN, None), 1000);
    }

    #[test]
    fn appends_leave_the_left_page_nine_tenths_full() {
        let all: Vec<Entry> = (0..2000u64).map(|i| Entry::new(i * 10, pack_tid(i as u32 / 100, 1 + (i % 100) as u16))).collect();
        assert!(!fits_page(&all, Entry::MIN, None, 0.9));
        match plan_split(&all, all.len() - 1, Entry::MIN, None, 0.9, false) {
            SplitPlan::Split { cuts, .. } => assert_eq!(cuts, vec![1800]),
            p => panic!("{p:?}"),
        }
    }

    fn tid(i: usize) -> u64 {
        pack_tid(i as u32 / 100, 1 + (i % 100) as u16)
    }

}

#[cfg(test)]
mod split_policy {
    //! Whole-index effects of the split policy: a simulated leaf level, pages split by
    //! [`plan_split`] as `src/index/insert.rs` does, fed the insert orders users produce.
    use super::*;
    use crate::bulk::chunks;
    use crate::entry::pack_tid;

    /// A simulated data page: fences, entries and the encoding it is laid out with.
    struct Page {
        low: Entry,
        entries: Vec<Entry>,
        high: Option<Entry>,
        enc: Encoding,
    }

    /// The data pages left by inserting `codes` in order, each with the next heap TID (rows
    /// appended to the heap, as an INSERT ... SELECT does), into a bulk load of `built` (each
    /// row with a TID after those), and how many inserts laid a page out again or split it.
    fn leaf_level_after(built: &[u64], codes: impl IntoIterator<Item = u64>) -> (Vec<Page>, usize) {
        let mut sorted: Vec<Entry> = built.iter().enumerate().map(|(i, c)| Entry::new(*c, heap_tid(i))).collect();
        sorted.sort_unstable();
        let mut pages: Vec<Page> = chunks(sorted.into_iter(), 0.8).map(|(low, entries, high)| Page { enc: Encoding::for_entries(&entries, low, high), low, entries, high }).collect();
        if pages.is_empty() {
            pages.push(Page { low: Entry::MIN, entries: Vec::new(), high: None, enc: Encoding::for_entries(&[], Entry::MIN, None) });
        }
        let mut writes = 0;
        for (i, code) in codes.into_iter().enumerate() {
            let e = Entry::new(code, heap_tid(built.len() + i));
            let p = pages.partition_point(|page| page.low <= e) - 1;
            let page = &mut pages[p];
            // In place when the encoding holds it (a dictionary holds the codes of its entries)
            // and the page is below the tree's maximum density.
            let in_dictionary = page.enc.dict_len == 0 || page.entries.binary_search_by(|x| x.code.cmp(&e.code)).is_ok();
            let miss = !(page.enc.fits(e) && in_dictionary);
            let at = page.entries.partition_point(|x| *x < e);
            page.entries.insert(at, e);
            if !miss && page.entries.len() as f64 <= page.enc.capacity() as f64 * 0.9 {
                continue;
            }
            writes += 1;
            let all = std::mem::take(&mut page.entries);
            let (cuts, affine) = match plan_split(&all, at, page.low, page.high, 0.9, !in_dictionary) {
                SplitPlan::Rebuild(enc) => {
                    page.entries = all;
                    page.enc = enc;
                    continue;
                }
                SplitPlan::Split { cuts, affine } => (cuts, affine),
            };
            let pieces: Vec<Page> = pieces_of(&all, &cuts, page.low, page.high)
                .map(|(_, entries, low, high)| {
                    let enc = if affine { Encoding::affine_for(entries, low, high) } else { Encoding::for_entries(entries, low, high) };
                    Page { low, entries: entries.to_vec(), high, enc }
                })
                .collect();
            pages.splice(p..=p, pieces);
        }
        (pages, writes)
    }

    fn leaf_level(codes: impl IntoIterator<Item = u64>) -> Vec<Page> {
        leaf_level_after(&[], codes).0
    }

    /// The TID of the `i`th row appended to a heap of 100 rows a block.
    fn heap_tid(i: usize) -> u64 {
        pack_tid(i as u32 / 100, 1 + (i % 100) as u16)
    }

    fn shuffled(mut v: Vec<u64>, mut x: u64) -> Vec<u64> {
        for i in (1..v.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.swap(i, (x % (i as u64 + 1)) as usize);
        }
        v
    }

    fn wide_keys(n: usize) -> Vec<u64> {
        shuffled((0..n as u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect(), 7)
    }

    /// Rows in the order a table gets them and the most pages inserting them may take, against
    /// the pages a bulk load of the same entries takes at 90%: random orders leave pages between
    /// half and fully dense; streams and single values leave them as full as a bulk load. Wide
    /// keys repeated in random order fill dictionary pages of some 2,700 slots: the bulk load
    /// takes 15, the inserts 22.
    #[test]
    fn no_insert_order_takes_many_more_pages_than_a_bulk_load() {
        let keys = wide_keys(300);
        let orders: Vec<(&str, Vec<u64>, f64)> = vec![
            ("300 wide keys x 100, random", shuffled(keys.iter().flat_map(|k| [*k; 100]).collect(), 3), 1.6),
            ("300 narrow keys x 100, random", shuffled((0..30000u64).map(|i| i % 300).collect(), 3), 1.6),
            ("5 keys in turn", (0..30000u64).map(|i| (i % 5) << 50).collect(), 1.6),
            ("random distinct keys", wide_keys(30000), 1.6),
            ("all equal", vec![42; 30000], 1.2),
            ("ascending", (0..30000u64).collect(), 1.2),
            ("ascending, 100 each", (0..30000u64).map(|i| i / 100).collect(), 1.2),
            ("ascending, 100 each, between two keys", [0, u64::MAX].into_iter().chain((0..30000u64).map(|i| (1 << 40) + i / 100)).collect(), 1.2),
            ("descending, 100 each", (0..30000u64).map(|i| 1_000_000 - i / 100).collect(), 1.2),
        ];
        for (name, codes, bound) in orders {
            let mut sorted: Vec<Entry> = codes.iter().enumerate().map(|(i, c)| Entry::new(*c, heap_tid(i))).collect();
            sorted.sort_unstable();
            let built = chunks(sorted.into_iter(), 0.9).count();
            let inserted = leaf_level(codes).len();
            assert!(inserted as f64 <= bound * built as f64, "{name}: {inserted} pages against {built} built");
        }
    }

    /// New keys into pages of a few keys repeated many times (dictionary pages, which a new key
    /// does not fit): a page turns affine, or splits when an affine page would not hold it, at
    /// its first new key, so new keys then go in place. With the page laid out again with the
    /// new key in its dictionary, nearly every insert would rewrite its page.
    #[test]
    fn new_keys_into_dictionary_pages_rarely_rewrite_them() {
        let built: Vec<u64> = wide_keys(300).iter().flat_map(|k| [*k; 100]).collect();
        let new_keys = wide_keys(30_000).into_iter().map(|k| k ^ 1).take(10_000);
        let (pages, writes) = leaf_level_after(&built, new_keys);
        let dictionaries = chunks({
            let mut s: Vec<Entry> = built.iter().enumerate().map(|(i, c)| Entry::new(*c, heap_tid(i))).collect();
            s.sort_unstable();
            s.into_iter()
        }, 0.8)
        .filter(|(low, run, high)| Encoding::for_entries(run, *low, *high).dict_len > 0)
        .count();
        assert!(dictionaries > 5, "{dictionaries} dictionary pages built");
        assert!(writes < 200, "{writes} page writes for 10000 new keys into {} pages", pages.len());
    }
}
