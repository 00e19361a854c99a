//! Laying a data page out from scratch, and where its free slots go ([`Slack`]).

use super::insert::{is_local_append, is_local_prepend};
use super::geometry::Geometry;
use super::{BLK_BASE, BLK_BITS, DICT_LEN, DataPageMut, Encoding, KEY_BASE, KEY_BITS, OFF_BITS};
use crate::bits;
use crate::entry::Entry;
use crate::model::LinearModel;
use crate::page::node::Header;
use crate::page::{wr_u16, wr_u32, wr_u64};
use crate::policy::{JUMP_MEAN_GAPS, LOCAL_RUN_RATIO};

/// Lays out a data page from scratch: header, encoding, model and the sorted `entries` spread
/// evenly over all the slots the encoding allows (the rest are gaps for inserts). Callers decide
/// how full a page starts by how many entries they give it.
///
/// `entries.len()` must not exceed `enc.capacity()`, and every entry must fit `enc`.
pub fn layout(b: &mut [u8], entries: &[Entry], enc: Encoding, header: Header) {
    layout_with(b, entries, enc, header, Slack::Spread)
}

/// Where a layout leaves a page's free slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slack {
    /// Among the entries, evenly: every entry has gaps nearby, whatever the keys.
    Spread,
    /// After the entry at this index (the entries after it packed at the end of the page): an
    /// append point, where keys arrive in ascending order (the end of the index, or a run
    /// into one place inside it), so that each takes the next slot with no shift.
    After(usize),
    /// Before the entry at this index (the entries before it packed at the start of the page),
    /// the gaps holding the code of the entry before them: a prepend point, where keys arrive
    /// in descending order (the start of the index, or a run into one place inside it), so
    /// that each takes the slot before the last one with no shift and no gap to rewrite.
    Before(usize),
    /// Half spread after every entry, the rest shared out after the entry at this index, after
    /// every run of two or more equal codes and before every jump (a gap [`JUMP_MEAN_GAPS`] times the page's
    /// mean gap): one page can hold several append points, such as the ends of several keys'
    /// runs of duplicates (equal keys come with ascending TIDs), or of several streams of
    /// ascending keys, and an insert just above its neighbour may be one of many all over the
    /// page. Some of the rest goes after each of the entries that follow a repeated key, or
    /// before the first entry, when the insert looks like a row added for every key in key
    /// order, or like the head of a descending stream of repeated keys.
    AfterRuns(usize),
}

impl Slack {
    /// How to lay out a page between fences `low` and `high` holding `entries`, the one at
    /// `at` just inserted: when it repeats the code before it, with the slack shared among the
    /// ends of all runs of equal codes; right after it when it looks like an append point (the
    /// largest entry of the rightmost page, or one [`is_local_append`] says so of); before the
    /// entries when it is the smallest of the leftmost page; else spread. A run of appends (or
    /// prepends) thus costs a layout per split rather than one every few inserts; an insert
    /// elsewhere in such a page shifts far and lays it out spread again.
    pub fn after_insert(entries: &[Entry], at: usize, low: Entry, high: Option<Entry>) -> Slack {
        let n = entries.len();
        let prev = if at > 0 { Some(entries[at - 1].code) } else { (low != Entry::MIN).then_some(low.code) };
        let next = entries.get(at + 1).or(high.as_ref()).map(|x| x.code);
        if high.is_none() && at + 1 == n {
            Slack::After(at)
        } else if prev.zip(next).is_some_and(|(p, x)| is_local_append(p, entries[at].code, x)) {
            Slack::AfterRuns(at)
        } else if (low == Entry::MIN && at == 0 && n > 1) || prev.zip(next).is_some_and(|(p, x)| is_local_prepend(p, entries[at].code, x)) {
            // Before a key with several rows, it heads a descending stream of repeated keys,
            // whose own rows follow it.
            if at + 2 < n && entries[at + 1].code == entries[at + 2].code { Slack::AfterRuns(at) } else { Slack::Before(at) }
        } else {
            Slack::Spread
        }
    }
}

/// [`layout`], with the free slots where `slack` says.
pub fn layout_with(b: &mut [u8], entries: &[Entry], enc: Encoding, header: Header, slack: Slack) {
    debug_assert!(entries.windows(2).all(|w| w[0] < w[1]));
    debug_assert!(entries.iter().all(|e| enc.fits(*e)));
    let max_cap = enc.capacity();
    assert!(entries.len() <= max_cap, "{} entries exceed capacity {}", entries.len(), max_cap);
    // Use all the slots the page has: fewer slots would only waste the page.
    let cap = max_cap;
    let n = entries.len();
    b.fill(0);
    // Entries are spread evenly over the slots (unless `slack` asks otherwise), so that every
    // entry has gaps nearby whatever the key distribution; the model is fitted to those
    // positions and serves as the search hint (exact for linear keys, an exponential search
    // away otherwise).
    let slots: Vec<usize> = match slack {
        Slack::Spread => (0..n).map(|i| i * cap / n.max(1)).collect(),
        Slack::After(at) => (0..n).map(|i| if i <= at { i } else { cap - (n - i) }).collect(),
        Slack::Before(at) => (0..n).map(|i| if i < at { i } else { cap - (n - i) }).collect(),
        Slack::AfterRuns(at) => {
            // A jump: wider than JUMP_MEAN_GAPS mean gaps (with all codes equal, none is).
            let span = entries.last().map_or(0, |l| l.code - entries[0].code) as u128;
            let is_jump = |i: usize| (entries[i + 1].code - entries[i].code) as u128 * (n as u128 - 1) > JUMP_MEAN_GAPS as u128 * span;
            // The end of a run of two or more equal codes, too.
            let ends_duplicates = |i: usize| i > 0 && entries[i - 1].code == entries[i].code && entries[i + 1].code != entries[i].code;
            // When it repeats the page's first key and that key is far closer to the next key
            // than to the low fence, it is the head of a descending stream of repeated keys:
            // half of the non-spread slack goes before the first entry, for the stream's next
            // keys, and the rest after the first key's run, for its own rows.
            let first_run = entries.partition_point(|e| e.code == entries[0].code);
            let prepend_point = at < first_run && first_run < n && (entries[0].code - header.low.code) / LOCAL_RUN_RATIO > entries[first_run].code - entries[0].code;
            let run_ends: Vec<bool> = if prepend_point {
                (0..n).map(|i| i + 1 == first_run).collect()
            } else {
                (0..n).map(|i| i == at || i + 1 == n || is_jump(i) || ends_duplicates(i)).collect()
            };
            let runs = run_ends.iter().filter(|&&end| end).count().max(1);
            // When the new entry repeats a key held only a few times, it may be one of a row
            // added for every key in key order (a table stored in key order, updated): half
            // of the non-spread slack is one gap after each of the entries next in line. When
            // the key before it was repeated too, that is what is going on: all of it is, as
            // the gaps behind the insert would go unused.
            let repeats_a_few = at > 0 && at < n && entries[at - 1].code == entries[at].code && (at < 4 || entries[at - 4].code != entries[at].code);
            let sweep = repeats_a_few && at >= 3 && entries[at - 3].code == entries[at - 2].code && entries[at - 2].code != entries[at].code;
            // Half the free slots follow every entry evenly (but in a sweep), so that inserts
            // next to other entries (a key just above each existing one, or thousands of
            // streams, one per key) find a gap nearby instead of shifting far and laying the
            // page out again.
            let spread = if sweep { 0 } else { (cap - n) / 2 };
            let ahead = match (repeats_a_few, sweep) {
                (true, true) => (cap - n).min(n - 1 - at),
                (true, false) => ((cap - n - spread) / 2).min(n - 1 - at),
                _ => 0,
            };
            let lead = if prepend_point { (cap - n - spread - ahead) / 2 } else { 0 };
            // The rest goes to the run ends.
            let focused = cap - n - spread - ahead - lead;
            let (mut slot, mut run) = (lead, 0);
            let mut slots = Vec::with_capacity(n);
            for (i, &end) in run_ends.iter().enumerate() {
                slots.push(slot);
                // Entry i's share of the spread slots (and its gap if next in line), and run
                // r's of the focused ones.
                slot += 1 + (i + 1) * spread / n - i * spread / n + usize::from(i > at && i <= at + ahead);
                if end {
                    slot += (run + 1) * focused / runs - run * focused / runs;
                    run += 1;
                }
                debug_assert!(i + 1 == n || slot < cap);
            }
            slots
        }
    };
    // Stored values: offsets from the base, or indexes into the dictionary of distinct codes.
    let stored: Vec<u64> = if enc.dict_len == 0 {
        entries.iter().map(|e| e.code - enc.key_base).collect()
    } else {
        let mut index = 0;
        (0..n).map(|i| {
            index += u64::from(i > 0 && entries[i - 1].code != entries[i].code);
            index
        }).collect()
    };
    debug_assert!(enc.dict_len == 0 || stored.last().map_or(0, |v| v + 1) == enc.dict_len as u64);
    let model = LinearModel::fit(stored.iter().zip(&slots).map(|(v, s)| (*v, *s as f64 + 0.5)));
    let mut h = header;
    h.level = 0;
    h.count = n as u16;
    h.capacity = cap as u16;
    h.model = model;
    h.write(b);
    wr_u64(b, KEY_BASE, enc.key_base);
    wr_u32(b, BLK_BASE, enc.blk_base);
    b[KEY_BITS] = enc.key_bits as u8;
    b[BLK_BITS] = enc.blk_bits as u8;
    b[OFF_BITS] = enc.off_bits as u8;
    wr_u16(b, DICT_LEN, enc.dict_len);

    let g = Geometry::read(b);
    if enc.dict_len > 0 {
        for (i, e) in entries.iter().enumerate().filter(|&(i, e)| i == 0 || entries[i - 1].code != e.code) {
            wr_u64(b, g.dict + stored[i] as usize * 8, e.code);
        }
    }
    // A gap holds the value of the entry after it, the encoding's largest after the last entry,
    // and its smallest before the first (or, before a prepend point, the value of the entry
    // before it), so that inserts in front of the first entry (or the prepend point) write
    // only their own slot. A gap's TID stays zero.
    let (mut keys, mut tids) = (vec![0u64; cap], vec![0u64; cap]);
    let mut w = DataPageMut::new(b);
    let mut fill = g.max_stored();
    let mut placed = n;
    for s in (0..cap).rev() {
        if placed > 0 && slots[placed - 1] == s {
            placed -= 1;
            (keys[s], tids[s]) = (stored[placed], g.raw_tid(entries[placed]));
            w.set_occupied(s, true);
            fill = match placed {
                0 => 0,
                i if slack == Slack::Before(i) => stored[i - 1],
                i => stored[i],
            };
        } else {
            keys[s] = fill;
        }
    }
    bits::pack(&mut b[g.keys..], enc.key_bits, keys);
    bits::pack(&mut b[g.tids..], enc.tid_bits(), tids);
}
