use super::*;
use crate::entry::pack_tid;
use crate::page::CONTENT_SIZE;
use crate::policy::PREFETCH_SLOTS;
use proptest::prelude::*;
use std::collections::BTreeSet;

fn header(low: Entry, high: Option<Entry>) -> Header {
    Header::new(0, low, high)
}

fn build(entries: &[Entry], low: Entry, high: Option<Entry>) -> Vec<u8> {
    let mut b = vec![0u8; CONTENT_SIZE];
    let enc = Encoding::for_entries(entries, low, high);
    layout(&mut b, entries, enc, header(low, high));
    check(&b).unwrap();
    b
}

fn e(code: u64, blk: u32, off: u16) -> Entry {
    Entry::new(code, pack_tid(blk, off))
}

#[test]
fn a_deleted_page_keeps_fences_links_and_its_xid() {
    let entries: Vec<Entry> = (0..50u64).map(|i| e(1000 + i, 1, (i + 1) as u16)).collect();
    let (low, high) = (Entry::first_of(900), Some(Entry::first_of(2000)));
    let mut b = build(&entries, low, high);
    node::set_left(&mut b, 7);
    node::set_right(&mut b, 9);
    mark_deleted(&mut b, 123_456_789_012);
    let h = Header::read(&b);
    assert!(node::is_deleted(&b));
    assert_eq!((h.low, h.high, h.left, h.right, h.count), (low, high, 7, 9, 0));
    assert_eq!(deleted_xid(&b), 123_456_789_012);
}

#[test]
fn layout_and_search_sequential() {
    let entries: Vec<Entry> = (0..500u64).map(|i| e(1000 + i * 3, (i / 100) as u32, (i % 100 + 1) as u16)).collect();
    let b = build(&entries, Entry::MIN, None);
    let p = DataPage::new(&b);
    assert_eq!(p.entries(), entries);
    assert!(p.capacity() > 1500, "narrow keys pack densely: capacity {}", p.capacity());
    for (i, x) in entries.iter().enumerate() {
        let s = p.seek(Entry::first_of(x.code));
        assert_eq!(p.entry(s), *x, "entry {i}");
    }
    assert_eq!(p.seek(Entry::first_of(1)), p.next_occupied(0));
    assert_eq!(p.seek(Entry::first_of(10_000)), p.capacity());
    let (mean, _) = p.model_error();
    assert!(mean < 1.0, "linear keys are predicted exactly, mean error {mean}");
}

#[test]
fn random_int8_codes_pack_below_fourteen_bytes() {
    let mut codes: Vec<u64> = (0..600u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 14).collect();
    codes.sort();
    codes.dedup();
    let entries: Vec<Entry> = codes.iter().enumerate().map(|(i, c)| e(*c, 50_000 + (i as u32 * 7919) % 60_000, 1 + (i % 180) as u16)).collect();
    let enc = Encoding::for_entries(&entries, Entry::MIN, None);
    let bytes_per_slot = CONTENT_SIZE as f64 / enc.capacity() as f64;
    assert!(bytes_per_slot < 11.0, "{bytes_per_slot} bytes per slot with {enc:?}");
}

#[test]
fn search_hint_names_what_the_search_reads() {
    // Random keys, so that the model is off by some slots and the search moves.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut codes: Vec<u64> = (0..600)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x >> 8
        })
        .collect();
    codes.sort_unstable();
    let entries: Vec<Entry> = codes.iter().enumerate().map(|(i, &c)| e(c, 1 + i as u32, 1)).collect();
    let b = build(&entries, Entry::first_of(0), None);
    let p = DataPage::new(&b);
    let hint = p.search_hint();
    assert_eq!(SearchHint::default().first_reads(codes[0]), [(0, 0); 3]);
    let g = &p.g;
    for &c in &codes {
        let reads = hint.first_reads(c);
        assert!(reads.iter().all(|&(s, e)| s <= e && e <= CONTENT_SIZE));
        // The predicted slot's key, bitmap word and TID are among the bytes named.
        let slot = p.predict(c);
        let key_byte = g.keys + slot * g.enc.key_bits as usize / 8;
        let tid_byte = g.tids + slot * g.enc.tid_bits() as usize / 8;
        assert!(reads[0].0 <= key_byte && key_byte < reads[0].1, "{c}");
        assert!(reads[1].0 <= BITMAP + slot / 64 * 8 && BITMAP + slot / 64 * 8 < reads[1].1);
        assert!(reads[2].0 <= tid_byte && tid_byte < reads[2].1);
        // The slot found is within the keys named when the model is close.
        let found = p.seek(Entry::first_of(c));
        if found.abs_diff(slot) < PREFETCH_SLOTS {
            let found_byte = g.keys + found * g.enc.key_bits as usize / 8;
            assert!(reads[0].0 <= found_byte && found_byte < reads[0].1);
        }
    }
}

/// A few wide keys repeated many times, in a page with both fences finite: a dictionary of
/// the codes, and a few bits a slot for the key instead of some 60.
#[test]
fn a_page_of_a_few_wide_keys_takes_a_dictionary() {
    let mut codes: Vec<u64> = (1..=5u64).map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
    codes.sort_unstable();
    let entries: Vec<Entry> = codes.iter().flat_map(|&c| (0..300u32).map(move |i| e(c, 1000 + i / 100, 1 + (i % 100) as u16))).collect();
    let (low, high) = (Entry::first_of(1), Some(Entry::first_of(u64::MAX)));
    let enc = Encoding::for_entries(&entries, low, high);
    assert_eq!(enc.dict_len, 5);
    assert!(enc.capacity() > 2 * Encoding::affine_for(&entries, low, high).capacity(), "{enc:?}");
    // Not at the ends of the index, nor with few rows a key.
    assert_eq!(Encoding::for_entries(&entries, Entry::MIN, high).dict_len, 0);
    assert_eq!(Encoding::for_entries(&entries, low, None).dict_len, 0);
    let few: Vec<Entry> = entries.iter().step_by(60).copied().collect();
    assert_eq!(Encoding::for_entries(&few, low, high).dict_len, 0);

    let mut b = build(&entries, low, high);
    let p = DataPage::new(&b);
    assert_eq!(p.entries(), entries);
    assert_eq!(p.search_hint(), SearchHint::default());
    for (i, x) in entries.iter().enumerate() {
        assert_eq!(p.entry(p.seek(*x)), *x, "entry {i}");
    }
    for (k, &c) in codes.iter().enumerate() {
        let first_of_run = entries[k * 300];
        assert_eq!(p.entry(p.seek(Entry::first_of(c))), first_of_run);
        // Between two codes: the next code's first entry.
        let s = p.seek(Entry::first_of(c.wrapping_sub(1)));
        assert_eq!(p.entry(s), first_of_run);
        let s = p.seek(Entry::first_of(c + 1));
        assert_eq!(if s < p.capacity() { Some(p.entry(s)) } else { None }, entries.get(k * 300 + 300).copied());
    }
    // A row of a known key goes in place; a new key does not fit the dictionary.
    let known = e(codes[2], 1003, 7);
    assert!(DataPage::new(&b).fits(known));
    DataPageMut::new(&mut b).insert(known).unwrap();
    let new_code = e(codes[2] + 1, 1003, 8);
    assert!(!DataPage::new(&b).fits(new_code));
    assert_eq!(DataPageMut::new(&mut b).insert(new_code), Err(InsertError::Encoding));
    // Deleting every row of a key leaves its code in the dictionary, unused.
    let p = DataPage::new(&b);
    let slots: Vec<usize> = (0..p.capacity()).filter(|&s| p.is_occupied(s) && p.entry(s).code == codes[0]).collect();
    DataPageMut::new(&mut b).delete_slots(&slots);
    check(&b).unwrap();
    let mut expect: Vec<Entry> = entries[300..].to_vec();
    expect.insert(expect.partition_point(|x| *x < known), known);
    assert_eq!(DataPage::new(&b).entries(), expect);
    assert_eq!(DataPage::new(&b).entry(DataPage::new(&b).seek(Entry::MIN)), expect[0]);
}

#[test]
fn seek_finds_each_of_many_equal_keys() {
    let entries: Vec<Entry> = (0..1500u32).map(|i| e(if i < 1400 { 7 } else { 8 }, i / 7, (i % 7) as u16 + 1)).collect();
    let mut b = build(&entries, Entry::MIN, None);
    for (i, x) in entries.iter().enumerate() {
        let p = DataPage::new(&b);
        assert_eq!(p.entry(p.seek(*x)), *x, "entry {i}");
    }
    // Inserts among them land in order.
    for i in 0..200u32 {
        DataPageMut::new(&mut b).insert(e(7, 220 + i / 100, (i % 100) as u16 + 1)).unwrap();
    }
    check(&b).unwrap();
    assert_eq!(DataPage::new(&b).count(), 1700);
}

#[test]
fn codes_at_the_top_of_the_space_fit() {
    for codes in [vec![1u64, u64::MAX], vec![u64::MAX - 5, u64::MAX - 1, u64::MAX], vec![1 << 63, u64::MAX], vec![0, 1, u64::MAX]] {
        let entries: Vec<Entry> = codes.iter().enumerate().map(|(i, c)| e(*c, 0, 1 + i as u16)).collect();
        let b = build(&entries, Entry::MIN, None);
        let p = DataPage::new(&b);
        assert_eq!(p.entries(), entries);
        for x in &entries {
            assert_eq!(p.entry(p.seek(*x)), *x);
        }
        let mut b2 = b.clone();
        let _ = DataPageMut::new(&mut b2).insert(e(u64::MAX - 2, 0, 99));
        check(&b2).unwrap();
    }
}

/// Runs of inserts below the smallest key of the leftmost page, or above the largest of the
/// rightmost, re-encode the page once per doubling of its key span, not at every insert.
#[test]
fn runs_at_either_end_of_the_index_rarely_re_encode() {
    let start: Vec<Entry> = (0..100u64).map(|i| e(1_000_000 + i, 1, 1 + i as u16)).collect();
    for descending in [true, false] {
        let mut b = build(&start, Entry::MIN, None);
        let mut re_encoded = 0;
        for i in 1..=1000u64 {
            let x = if descending { e(1_000_000 - i, 2, 1 + (i % 200) as u16) } else { e(1_000_099 + i, 2, 1 + (i % 200) as u16) };
            if let Err(err) = DataPageMut::new(&mut b).insert(x) {
                assert_eq!(err, InsertError::Encoding);
                re_encoded += 1;
                let mut all = DataPage::new(&b).entries();
                all.push(x);
                all.sort();
                b = build(&all, Entry::MIN, None);
            }
        }
        assert_eq!(DataPage::new(&b).count(), 1100);
        assert!(re_encoded <= 6, "descending {descending}: {re_encoded} re-encodings for 1000 inserts");
    }
}

/// Appends to a rightmost page laid out with its slack at the end take the next free slot:
/// no shift, one slot written, also when a late key lands between the last few.
#[test]
fn appends_to_a_page_with_slack_at_the_end_write_one_slot() {
    let start: Vec<Entry> = (0..300u64).map(|i| e(1000 * i, 1, 1 + (i % 200) as u16)).collect();
    let mut b = vec![0u8; CONTENT_SIZE];
    layout_with(&mut b, &start, Encoding::for_entries(&start, Entry::MIN, None), header(Entry::MIN, None), Slack::After(start.len() - 1));
    check(&b).unwrap();
    let mut shifted = 0;
    // The appended keys are spaced three times wider than the page's: the model predicts
    // slots far beyond the last entry.
    let key = |i: u64| 3000 * i - 600_000;
    for i in 300..390u64 {
        // Every tenth key arrives late, just below the previous one.
        let code = if i % 10 == 0 { key(i - 1) - 7 } else { key(i) };
        let plan = DataPage::new(&b).plan_insert(e(code, 2, 1 + (i % 200) as u16)).unwrap();
        if i % 10 != 0 {
            assert_eq!((plan.first, plan.last, plan.shifted), (plan.slot, plan.slot, 0), "append {i}");
        }
        shifted += plan.shifted;
        DataPageMut::new(&mut b).apply_insert(&plan);
    }
    check(&b).unwrap();
    assert!(shifted <= 18, "{shifted} entries shifted for 9 late keys");
    let ten: Vec<Entry> = (0..10u64).map(|i| e(100 * i + 100, 0, 1)).collect();
    assert_eq!(Slack::after_insert(&ten, 9, e(1, 0, 1), None), Slack::After(9));
    assert_eq!(Slack::after_insert(&ten, 8, e(1, 0, 1), None), Slack::Spread);
    assert_eq!(Slack::after_insert(&ten, 9, Entry::MIN, Some(e(1050, 0, 1))), Slack::Spread);
    assert_eq!(Slack::after_insert(&ten, 0, Entry::MIN, Some(e(1050, 0, 1))), Slack::Before(0));
    let close_after: Vec<Entry> = [100, 29900, 30000, 40000].iter().map(|c| e(*c, 0, 1)).collect();
    assert_eq!(Slack::after_insert(&close_after, 1, e(1, 0, 1), None), Slack::Before(1));
    assert_eq!(Slack::after_insert(&ten, 0, e(1, 0, 1), None), Slack::Spread);
    // One of a few duplicate keys, and a key right after its neighbour inside the page.
    let dups: Vec<Entry> = [100, 200, 200, 200, 201].iter().enumerate().map(|(i, c)| e(*c, 0, 1 + i as u16)).collect();
    assert_eq!(Slack::after_insert(&dups, 3, e(1, 0, 1), Some(e(1000, 0, 1))), Slack::AfterRuns(3));
    let close: Vec<Entry> = [100, 200, 201, 30000].iter().map(|c| e(*c, 0, 1)).collect();
    assert_eq!(Slack::after_insert(&close, 2, e(1, 0, 1), None), Slack::AfterRuns(2));
}

/// Keys in descending order in front of a leftmost page laid out with its slack before the
/// entries take the slot before the first entry: no shift, one slot written.
#[test]
fn prepends_to_a_page_with_slack_at_the_start_write_one_slot() {
    let start: Vec<Entry> = (0..300u64).map(|i| e(1_000_000 + 1000 * i, 1, 1 + (i % 200) as u16)).collect();
    let mut b = vec![0u8; CONTENT_SIZE];
    layout_with(&mut b, &start, Encoding::for_entries(&start, Entry::MIN, None), header(Entry::MIN, None), Slack::Before(0));
    check(&b).unwrap();
    for i in 1..200u64 {
        let plan = DataPage::new(&b).plan_insert(e(1_000_000 - 1000 * i, 2, 1 + (i % 200) as u16)).unwrap();
        assert_eq!((plan.first, plan.last, plan.shifted), (plan.slot, plan.slot, 0), "prepend {i}");
        DataPageMut::new(&mut b).apply_insert(&plan);
        check(&b).unwrap();
    }
    assert_eq!(DataPage::new(&b).count(), 499);
}

/// Runs of deleted entries, scattered ones, and all of them, in one call each.
#[test]
fn delete_slots_leaves_the_other_entries_and_a_valid_page() {
    let all: Vec<Entry> = (0..2000u64).map(|i| e(3 * i, 1, 1 + (i % 200) as u16)).collect();
    for (lay, pick) in [(Slack::Spread, 0), (Slack::Before(0), 1), (Slack::After(999), 2), (Slack::AfterRuns(5), 3), (Slack::Before(1200), 1)] {
        let mut b = vec![0u8; CONTENT_SIZE];
        layout_with(&mut b, &all, Encoding::for_entries(&all, Entry::MIN, None), header(Entry::MIN, None), lay);
        let dead = |i: usize| match pick {
            0 => (500..1500).contains(&i),
            1 => i < 1000 || i % 7 == 0,
            2 => i >= 1000 || i % 3 == 0,
            _ => true,
        };
        let p = DataPage::new(&b);
        let slots: Vec<usize> = all.iter().enumerate().filter(|(i, _)| dead(*i)).map(|(_, x)| p.seek(*x)).collect();
        DataPageMut::new(&mut b).delete_slots(&slots);
        check(&b).unwrap();
        let kept: Vec<Entry> = all.iter().enumerate().filter(|(i, _)| !dead(*i)).map(|(_, x)| *x).collect();
        let p = DataPage::new(&b);
        assert_eq!(p.entries(), kept);
        for x in &all {
            let s = p.seek(*x);
            assert_eq!(s < p.capacity() && p.entry(s) == *x, kept.contains(x));
        }
    }
}

/// Inserts `x` into the page `b` (between `low` and `high`) as the tree does: in place when
/// the plan shifts at most 64 entries (returning the plan), else by laying the page out again
/// with the slack `Slack::after_insert` picks (returning None).
fn insert_as_the_tree_does(b: &mut Vec<u8>, x: Entry, low: Entry, high: Option<Entry>) -> Option<InsertPlan> {
    match DataPage::new(b).plan_insert(x) {
        Ok(plan) if plan.shifted <= 64 => {
            DataPageMut::new(b).apply_insert(&plan);
            Some(plan)
        }
        _ => {
            let mut all = DataPage::new(b).entries();
            let at = all.partition_point(|y| *y < x);
            all.insert(at, x);
            b.fill(0);
            layout_with(b, &all, Encoding::for_entries(&all, low, high), header(low, high), Slack::after_insert(&all, at, low, high));
            None
        }
    }
}

/// Inserts `xs` as the tree does; returns how many of them laid the page out again.
fn layouts_for(b: &mut Vec<u8>, xs: impl IntoIterator<Item = Entry>, low: Entry, high: Option<Entry>) -> usize {
    xs.into_iter().filter(|&x| insert_as_the_tree_does(b, x, low, high).is_none()).count()
}

/// A run of ascending keys into one place inside a page (between two of its keys) shifts
/// until the page is laid out again, with the slack after the run; from then on each takes
/// the next slot.
#[test]
fn a_run_into_one_place_inside_a_page_stops_shifting_after_one_layout() {
    let start: Vec<Entry> = (0..300u64).map(|i| e(1_000_000 * i + 1, 1, 1 + (i % 200) as u16)).collect();
    let (low, high) = (e(1, 0, 1), Some(e(300_000_001, 0, 1)));
    let mut b = build(&start, low, high);
    let (mut layouts, mut shifted_since_layout) = (0, 0);
    for j in 1..=500u64 {
        let x = e(150_000_001 + j, 2, 1 + (j % 200) as u16);
        match insert_as_the_tree_does(&mut b, x, low, high) {
            Some(plan) => shifted_since_layout += if layouts > 0 { plan.shifted } else { 0 },
            None => layouts += 1,
        }
    }
    check(&b).unwrap();
    assert_eq!(DataPage::new(&b).count(), 800);
    assert_eq!((layouts, shifted_since_layout), (1, 0));
}

/// A key just above every key of a page, in random order (`INSERT ... SELECT k + 1`, or an
/// ascending stream per key): each looks like a local append, but the next one lands
/// elsewhere. The spread half of the slack takes them, in place (with all of it after one
/// entry, 400 inserts laid the page out 295 times).
#[test]
fn a_key_next_to_every_key_in_random_order_rarely_lays_the_page_out() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut start: Vec<Entry> = (0..600).map(|i| e(next() % 1_000_000_000_000, 1, 1 + (i % 200) as u16)).collect();
    start.sort_unstable();
    start.dedup_by_key(|x| x.code);
    let (low, high) = (Entry::MIN, None);
    // As a split leaves the page when one of these inserts overflowed it.
    let mut b = vec![0u8; CONTENT_SIZE];
    layout_with(&mut b, &start, Encoding::for_entries(&start, low, high), header(low, high), Slack::AfterRuns(start.len() / 2));
    let mut order: Vec<Entry> = start.iter().map(|s| e(s.code + 1, 2, s.tid as u16 % 200 + 1)).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, next() as usize % (i + 1));
    }
    let layouts = layouts_for(&mut b, order.into_iter().take(400), low, high);
    check(&b).unwrap();
    assert!(layouts <= 5, "{layouts} layouts for 400 inserts");
}

/// Inserts `xs` as the tree does until the page is as full as the tree lets it get; returns
/// how many were inserted and how many of them laid the page out again.
fn layouts_until_full(b: &mut Vec<u8>, xs: impl IntoIterator<Item = Entry>, low: Entry, high: Option<Entry>) -> (usize, usize) {
    let (mut inserted, mut layouts) = (0, 0);
    for x in xs {
        let p = DataPage::new(b);
        if (p.count() + 1) as f64 > p.capacity() as f64 * 0.9 {
            break;
        }
        inserted += 1;
        layouts += usize::from(insert_as_the_tree_does(b, x, low, high).is_none());
    }
    check(b).unwrap();
    (inserted, layouts)
}

/// A row for every key of a built page, in key order (an UPDATE that cannot stay on the heap
/// page, of a table stored in key order): each new entry repeats a key and lands just after
/// it. A layout leaves a gap after each of the keys next in line, so that layouts are few
/// (with the slack only after runs and spread, 11 for these 258 inserts; with half of it
/// spread, 3).
#[test]
fn a_row_again_for_every_key_in_key_order_rarely_lays_the_page_out() {
    let keys: Vec<Entry> = (0..4000u64).map(|i| e(1000 + 10 * i, 1 + i as u32 / 100, 1 + (i % 100) as u16)).collect();
    let (low, high) = (e(1000, 0, 1), Some(e(50_000, 0, 1)));
    let n = (Encoding::for_entries(&keys, low, high).capacity() as f64 * 0.8) as usize;
    let mut b = build(&keys[..n], low, high);
    let again = (0..n).map(|i| e(keys[i].code, 60 + i as u32 / 100, 1 + (i % 100) as u16));
    let (inserted, layouts) = layouts_until_full(&mut b, again, low, high);
    assert!(inserted > 200 && layouts <= 1, "{layouts} layouts for {inserted} inserts");
}

/// Descending keys, 100 rows each, into the start of a page: each key's rows go after its
/// first, each new key before them all. A layout for a row of the page's first key leaves
/// gaps before the page's first entry (with none there, 54 layouts for these inserts) and
/// the rest after the first key's run, and a new key leaves as many gaps after it as the key
/// after it has rows (21 layouts with neither, 13 with the second alone).
#[test]
fn descending_keys_with_many_rows_each_rarely_lay_the_page_out() {
    let (low, high) = (e(1, 0, 1), Some(e(2_000_000, 0, 1)));
    let mut b = build(&[e(1_000_000, 1, 1)], low, high);
    let rows = (0..).map(|i: u64| e(999_999 - i / 100, 2 + i as u32 / 100, 1 + (i % 100) as u16));
    let (inserted, layouts) = layouts_until_full(&mut b, rows, low, high);
    assert!(inserted > 2000 && layouts <= 8, "{layouts} layouts for {inserted} inserts");
}

/// The mirror: a run of descending keys into one place inside a page.
#[test]
fn a_descending_run_into_one_place_inside_a_page_stops_shifting_after_one_layout() {
    let start: Vec<Entry> = (0..300u64).map(|i| e(1_000_000 * i + 1, 1, 1 + (i % 200) as u16)).collect();
    let (low, high) = (e(1, 0, 1), Some(e(300_000_001, 0, 1)));
    let mut b = build(&start, low, high);
    let (mut layouts, mut written_since_layout) = (0, 0);
    for j in 1..=500u64 {
        let x = e(151_000_001 - j, 2, 1 + (j % 200) as u16);
        match insert_as_the_tree_does(&mut b, x, low, high) {
            Some(plan) => written_since_layout += if layouts > 0 { plan.last + 1 - plan.first } else { 0 },
            None => layouts += 1,
        }
    }
    check(&b).unwrap();
    assert_eq!(DataPage::new(&b).count(), 800);
    assert_eq!(layouts, 1);
    // One slot per insert after the layout.
    assert!(written_since_layout < 500, "{written_since_layout} slots written");
}

/// Several streams of ascending keys, each far from the others, in one page: a layout
/// leaves slack before every jump, so that each stream goes on without shifting.
#[test]
fn a_page_with_several_streams_keeps_slack_after_each() {
    let stream = |c: u64, i: u64| c * 1_000_000_000 + 10 * i;
    let start: Vec<Entry> = (0..4u64).flat_map(|c| (0..100u64).map(move |i| (c, i))).map(|(c, i)| e(stream(c, i), 1, 1 + i as u16)).collect();
    let (low, high) = (Entry::MIN, Some(e(10_000_000_000, 0, 1)));
    let mut b = build(&start, low, high);
    let mut x_state = 7u64;
    let mut next_i = [100u64; 4];
    let inserts = (0..800u64).map(|j| {
        x_state = x_state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let c = (x_state >> 62) as usize;
        next_i[c] += 1;
        e(stream(c as u64, next_i[c] - 1), 2 + (j / 200) as u32, 1 + (j % 200) as u16)
    });
    let layouts = layouts_for(&mut b, inserts, low, high);
    check(&b).unwrap();
    assert_eq!(DataPage::new(&b).count(), 1200);
    assert!(layouts <= 3, "{layouts} layouts for 800 inserts");
}

/// Rows with one of a few keys, in turn: every key's run is an append point, and a layout
/// leaves slack after each, so that the page is not laid out again at every few inserts.
#[test]
fn a_page_with_several_duplicate_runs_keeps_slack_after_each() {
    let start: Vec<Entry> = (0..400u64).map(|i| e(i / 100, 1 + (i % 100) as u32, 1)).collect();
    let (low, high) = (Entry::MIN, Some(e(10, 0, 1)));
    let mut b = build(&start, low, high);
    let layouts = layouts_for(&mut b, (0..800u64).map(|j| e(j % 4, 200 + (j / 4) as u32, 1)), low, high);
    check(&b).unwrap();
    assert_eq!(DataPage::new(&b).count(), 1200);
    assert!(layouts <= 3, "{layouts} layouts for 800 inserts");
}

#[test]
fn insert_into_full_page_reports_full() {
    let entries: Vec<Entry> = (0..10u64).map(|i| e(i, 0, 1 + i as u16)).collect();
    let mut b = build(&entries, Entry::MIN, None);
    let cap = DataPage::new(&b).capacity();
    let mut p = DataPageMut::new(&mut b);
    let mut inserted = 10;
    for i in 10..cap as u64 + 5 {
        match p.insert(e(5, 0, 20 + (i % 200) as u16)) {
            Ok(_) => inserted += 1,
            Err(InsertError::Duplicate) => {}
            Err(InsertError::Full) => break,
            Err(InsertError::Encoding) => break,
        }
    }
    check(&b).unwrap();
    assert!(inserted > 10);
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u64, u32, u16),
    Delete(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0u64..5000, 0u32..64, 1u16..200).prop_map(|(c, b, o)| Op::Insert(c, b, o)),
            1 => (0usize..10_000).prop_map(Op::Delete),
        ],
        0..400,
    )
}

proptest! {
    /// No encoding holds fewer slots than the widest (the bulk load skips working out the
    /// encoding of runs shorter than that), and a dictionary is only chosen with more slots
    /// than the affine encoding it replaces, and its capacity is reported with it.
    #[test]
    fn the_widest_encoding_holds_the_fewest_slots(key_bits in 0u32..=64, blk_bits in 1u32..=32, off_bits in 8u32..=16, distinct in 1usize..3000, repeats in 1usize..20) {
        let affine = Encoding { key_base: 0, key_bits, blk_base: 0, blk_bits, off_bits, dict_len: 0 };
        let cap = affine.capacity();
        prop_assert!(cap >= Encoding::widest().capacity());
        let entries = distinct * repeats;
        let (chosen, chosen_cap) = affine.or_dictionary_with_capacity(cap, 0, distinct, entries);
        // The rule in full, with the dictionary always laid out.
        let dict = Encoding { key_bits: crate::bits::width_of(distinct as u64 - 1), dict_len: distinct as u16, ..affine };
        let worth = entries >= crate::policy::DICT_MIN_RUN * distinct && dict.capacity() >= cap + cap / 4;
        let needed = entries > cap && dict.capacity() >= entries;
        prop_assert_eq!(chosen, if worth || needed { dict } else { affine });
        prop_assert_eq!(chosen_cap, chosen.capacity());
        prop_assert!(chosen_cap >= cap);
    }
}

proptest! {
    /// The word-at-a-time gap searches agree with a slot-by-slot scan, in packed and spread
    /// layouts and across the bitmap's last, partly used word.
    #[test]
    fn free_slot_searches_match_a_scan(codes in prop::collection::btree_set(0u64..1_000_000, 1..2000), slack_at in 0usize..2000, kind in 0..3u8) {
        let entries: Vec<Entry> = codes.iter().map(|&c| e(c, 1, 1)).collect();
        let at = slack_at % entries.len();
        let slack = [Slack::Spread, Slack::After(at), Slack::Before(at)][kind as usize];
        let mut b = vec![0u8; CONTENT_SIZE];
        layout_with(&mut b, &entries, Encoding::for_entries(&entries, Entry::MIN, None), header(Entry::MIN, None), slack);
        let p = DataPage::new(&b);
        let cap = p.capacity();
        for s in 0..=cap {
            prop_assert_eq!(p.g.next_free(&b, s), (s..cap).find(|&x| !p.is_occupied(x)));
            prop_assert_eq!(p.g.prev_free(&b, s), (0..s).rev().find(|&x| !p.is_occupied(x)));
        }
    }
}

proptest! {
    /// A page behaves as a sorted set of entries, whatever the inserts and deletes.
    #[test]
    fn page_matches_sorted_set_oracle(initial in prop::collection::btree_set((0u64..5000, 0u32..64, 1u16..200), 0..300), script in ops(), fenced in any::<bool>(), top in any::<bool>(), few_codes in any::<bool>(), slack in prop_oneof![Just(Slack::Spread), Just(Slack::After(usize::MAX)), (0usize..300).prop_map(Slack::After), (0usize..300).prop_map(Slack::Before), (0usize..300).prop_map(Slack::AfterRuns)]) {
        // `top` moves every code to the top of the code space; `few_codes` maps them to 7
        // codes far apart (a fenced page of them takes a dictionary), and inserts to an
        // eighth as well (not in the dictionary).
        let shift = if top { u64::MAX - 5000 } else { 0 };
        let code = move |c: u64, initial: bool| if few_codes { c % if initial { 7 } else { 8 } * 621 + 1 } else { c };
        let e = |c: u64, b: u32, o: u16| Entry::new(c + shift, pack_tid(b, o));
        let initial: BTreeSet<(u64, u32, u16)> = initial.into_iter().map(|(c, b, o)| (code(c, true), b, o)).collect();
        let mut oracle: BTreeSet<Entry> = initial.iter().map(|&(c, b, o)| e(c, b, o)).collect();
        let (low, high) = if fenced { (e(0, 0, 1), Some(e(5000, 0, 1))) } else { (Entry::MIN, None) };
        let _ = top;
        let sorted: Vec<Entry> = oracle.iter().copied().collect();
        let build = |entries: &[Entry]| {
            let mut b = vec![0u8; CONTENT_SIZE];
            layout_with(&mut b, entries, Encoding::for_entries(entries, low, high), header(low, high), slack);
            check(&b).unwrap();
            b
        };
        let mut b = build(&sorted);
        for op in script {
            match op {
                Op::Insert(c, blk, off) => {
                    let x = e(code(c, false), blk, off);
                    // Planned, then applied: only the bytes the plan names may change.
                    let before = b.clone();
                    let r = DataPage::new(&b).plan_insert(x).map(|plan| {
                        DataPageMut::new(&mut b).apply_insert(&plan);
                        plan.changed_ranges()
                    });
                    if let Ok(ranges) = &r {
                        let stray = (0..b.len()).find(|&i| b[i] != before[i] && !ranges.iter().any(|r| r.contains(&i)));
                        prop_assert!(stray.is_none(), "byte {:?} changed outside {:?}", stray, ranges);
                    }
                    match r {
                        Ok(_) => { prop_assert!(oracle.insert(x)); }
                        Err(InsertError::Duplicate) => prop_assert!(oracle.contains(&x)),
                        Err(InsertError::Full) | Err(InsertError::Encoding) => {
                            // What the tree does: lay the page out again with room for x.
                            prop_assert!(!oracle.contains(&x));
                            oracle.insert(x);
                            let all: Vec<Entry> = oracle.iter().copied().collect();
                            let enc = Encoding::for_entries(&all, low, high);
                            prop_assume!(all.len() <= enc.capacity());
                            b = build(&all);
                        }
                    }
                }
                Op::Delete(i) => {
                    let p = DataPage::new(&b);
                    if p.count() > 0 {
                        let victim = oracle.iter().nth(i % oracle.len()).copied().unwrap();
                        let s = p.seek(victim);
                        prop_assert_eq!(p.entry(s), victim);
                        DataPageMut::new(&mut b).delete_slots(&[s]);
                        oracle.remove(&victim);
                    }
                }
            }
            if let Err(msg) = check(&b) { prop_assert!(false, "{}", msg); }
        }
        let p = DataPage::new(&b);
        let expect: Vec<Entry> = oracle.iter().copied().collect();
        prop_assert_eq!(p.entries(), expect.clone());
        // Every seek lands on the first entry >= the probe.
        for probe in [0u64, 1, 17, 622, 623, 2500, 4348, 4349, 4999, 5000].map(|x| x + shift) {
            let s = p.seek(Entry::first_of(probe));
            let want = expect.iter().find(|x| x.code >= probe).copied();
            prop_assert_eq!(if s < p.capacity() { Some(p.entry(s)) } else { None }, want);
        }
    }
}

/// Asserts that the inlined test of the check on read and the test that names the failure agree.
fn assert_checks_agree(b: &[u8]) {
    assert_eq!(check::header_ok(b), check::header_error(b).is_ok(), "{:?}", check::header_error(b));
}

#[test]
fn the_fast_check_on_read_agrees_with_the_named_one_on_damaged_headers() {
    let affine: Vec<Entry> = (0..500u64).map(|i| e(1000 + i * 3, (i / 100) as u32, (i % 100 + 1) as u16)).collect();
    // Few distinct codes far apart, each on many rows: a dictionary page.
    let dict: Vec<Entry> = (0..600u64).map(|i| e((i / 120) << 50 | 7, (i / 100) as u32, (i % 100 + 1) as u16)).collect();
    let mut pages = vec![build(&affine, Entry::MIN, Some(Entry::first_of(5000))), build(&dict, Entry::first_of(1), Some(Entry::first_of(6 << 50)))];
    assert!(Encoding::for_entries(&dict, Entry::first_of(1), Some(Entry::first_of(6 << 50))).dict_len > 0);
    let mut deleted = build(&affine, Entry::first_of(900), Some(Entry::first_of(3000)));
    mark_deleted(&mut deleted, 42);
    pages.push(deleted);
    for page in &pages {
        assert!(check::header_ok(page));
        for at in 0..BITMAP {
            for v in [0u8, 1, 2, 0x3f, 0x40, 0x41, 0x7f, 0x80, 0xf0, 0xff, page[at] ^ 1, page[at] ^ 0x10] {
                let mut b = page.clone();
                b[at] = v;
                assert_checks_agree(&b);
            }
        }
    }
}

proptest! {
    #[test]
    fn the_fast_check_on_read_agrees_with_the_named_one(bytes in proptest::collection::vec(any::<u8>(), BITMAP), keep in proptest::collection::vec(any::<bool>(), BITMAP)) {
        // Random header bytes over a valid page, some fields kept: both tests see the same page.
        let entries: Vec<Entry> = (0..300u64).map(|i| e(10_000 + i * 7, 1, (i % 200 + 1) as u16)).collect();
        let mut b = build(&entries, Entry::MIN, None);
        for at in 0..BITMAP {
            if !keep[at] {
                b[at] = bytes[at];
            }
        }
        prop_assert_eq!(check::header_ok(&b), check::header_error(&b).is_ok());
    }
}
