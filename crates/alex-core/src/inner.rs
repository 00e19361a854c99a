//! Model nodes: one per page. A linear model predicts where a key falls in a sorted array of
//! separators; each separator is the low fence of the child page it points to.
//!
//! Layout after the [`node`] header: `codes: [u64; CAPACITY]`, `tids: [u64; CAPACITY]`,
//! `children: [u32; CAPACITY]`. Separator 0 equals the page's low fence. A search for `e` follows
//! the last separator `<= e`, then moves right in the child level while `e` is beyond the child's
//! high fence (a child may have split after the separator was written, see the design document).

use crate::entry::Entry;
use crate::model::LinearModel;
use crate::page::node::{self, Header};
use crate::page::{CONTENT_SIZE, rd_u32, rd_u64, wr_u16, wr_u32, wr_u64};

pub const CAPACITY: usize = (CONTENT_SIZE - node::SIZE) / 20;
/// No tree is this tall: even with three children a model page, 2^64 entries need fewer levels.
pub const MAX_LEVEL: u16 = 48;
const CODES: usize = node::SIZE;
const TIDS: usize = CODES + 8 * CAPACITY;
const CHILDREN: usize = TIDS + 8 * CAPACITY;

#[derive(Clone, Copy)]
pub struct InnerPage<'a> {
    b: &'a [u8],
}

impl<'a> InnerPage<'a> {
    pub fn new(b: &'a [u8]) -> InnerPage<'a> {
        InnerPage { b }
    }
    pub fn header(&self) -> Header {
        Header::read(self.b)
    }
    #[inline]
    pub fn count(&self) -> usize {
        node::count(self.b)
    }
    #[inline]
    pub fn code(&self, i: usize) -> u64 {
        rd_u64(self.b, CODES + 8 * i)
    }
    #[inline]
    pub fn separator(&self, i: usize) -> Entry {
        Entry::new(self.code(i), rd_u64(self.b, TIDS + 8 * i))
    }
    #[inline]
    pub fn child(&self, i: usize) -> u32 {
        rd_u32(self.b, CHILDREN + 4 * i)
    }

    /// The index of the last separator `<= e` (0 when `e` is below them all).
    pub fn route(&self, e: Entry) -> usize {
        let n = self.count();
        if n <= 1 {
            return 0;
        }
        let hint = Header::read(self.b).model.predict_index(e.code.saturating_sub(self.code(0)), n);
        // One before the first separator > e. The TID is read only on equal codes: its array is
        // another cache line, which a descent rarely needs.
        let is_after = |i| {
            let code = self.code(i);
            code > e.code || (code == e.code && rd_u64(self.b, TIDS + 8 * i) > e.tid)
        };
        crate::model::search_from(n, hint, is_after).saturating_sub(1)
    }

    /// All (separator, child) pairs.
    pub fn items(&self) -> Vec<(Entry, u32)> {
        (0..self.count()).map(|i| (self.separator(i), self.child(i))).collect()
    }

    /// Mean and maximum |predicted index - actual index| over the separators.
    pub fn model_error(&self) -> (f64, usize) {
        let n = self.count();
        if n == 0 {
            return (0.0, 0);
        }
        let m = Header::read(self.b).model;
        let base = self.code(0);
        let (mut sum, mut max) = (0usize, 0usize);
        for i in 0..n {
            let d = m.predict_index(self.code(i).wrapping_sub(base), n).abs_diff(i);
            sum += d;
            max = max.max(d);
        }
        (sum as f64 / n as f64, max)
    }
}

fn fit(b: &[u8], n: usize) -> LinearModel {
    let p = InnerPage::new(b);
    let base = if n > 0 { p.code(0) } else { 0 };
    LinearModel::fit((0..n).map(|i| (p.code(i) - base, i as f64)))
}

fn write_item(b: &mut [u8], i: usize, sep: Entry, child: u32) {
    wr_u64(b, CODES + 8 * i, sep.code);
    wr_u64(b, TIDS + 8 * i, sep.tid);
    wr_u32(b, CHILDREN + 4 * i, child);
}

/// Lays out a model page holding `items` (sorted by separator; the first is the low fence).
pub fn layout(b: &mut [u8], items: &[(Entry, u32)], header: Header) {
    assert!(!items.is_empty() && items.len() <= CAPACITY);
    debug_assert!(items.windows(2).all(|w| w[0].0 < w[1].0));
    b.fill(0);
    for (i, (sep, child)) in items.iter().enumerate() {
        write_item(b, i, *sep, *child);
    }
    let mut h = header;
    h.count = items.len() as u16;
    h.capacity = CAPACITY as u16;
    h.low = items[0].0;
    h.model = fit(b, items.len());
    h.write(b);
}

/// Child `i` was merged into child `i + 1`, its right sibling: separator `i` now leads to that
/// child, whose range starts there, and separator `i + 1` goes away.
pub fn merge_children(b: &mut [u8], i: usize) {
    let mut items = InnerPage::new(b).items();
    assert!(i + 1 < items.len());
    let (_, right_child) = items.remove(i + 1);
    items[i].1 = right_child;
    let h = Header::read(b);
    layout(b, &items, h);
}

/// Inserts separator `sep` for `child` in order. Returns false when the page is full.
pub fn insert(b: &mut [u8], sep: Entry, child: u32) -> bool {
    let p = InnerPage::new(b);
    let n = p.count();
    if n >= CAPACITY {
        return false;
    }
    let at = p.route(sep) + 1;
    let at = if n > 0 && sep < p.separator(0) { 0 } else { at.min(n) };
    // Shift the tail of each array one place right.
    b.copy_within(CODES + 8 * at..CODES + 8 * n, CODES + 8 * (at + 1));
    b.copy_within(TIDS + 8 * at..TIDS + 8 * n, TIDS + 8 * (at + 1));
    b.copy_within(CHILDREN + 4 * at..CHILDREN + 4 * n, CHILDREN + 4 * (at + 1));
    write_item(b, at, sep, child);
    wr_u16(b, node::COUNT, (n + 1) as u16);
    let mut h = Header::read(b);
    h.model = fit(b, n + 1);
    h.write(b);
    true
}

/// The checks a model page passes each time it is read, in constant time: a possible level and
/// separator count (so every read of its arrays stays within the page) and ordered fences.
pub fn check_header(b: &[u8]) -> Result<(), String> {
    let h = Header::read(b);
    if h.level == 0 || h.level > MAX_LEVEL {
        return Err(format!("model page has level {}", h.level));
    }
    if h.count == 0 || h.count as usize > CAPACITY {
        return Err(format!("model page holds {} separators", h.count));
    }
    if h.beyond_high(h.low) {
        return Err(format!("low fence {:?} at or above the high fence {:?}", h.low, h.high));
    }
    Ok(())
}

/// Verifies a model page: separators strictly increase, the first is the low fence, all lie
/// below the high fence.
pub fn check(b: &[u8]) -> Result<(), String> {
    let h = Header::read(b);
    let p = InnerPage::new(b);
    let n = p.count();
    if h.level == 0 {
        return Err("model page has level 0".into());
    }
    if n == 0 || n > CAPACITY {
        return Err(format!("model page holds {n} separators"));
    }
    if p.separator(0) != h.low {
        return Err(format!("first separator {:?} differs from the low fence {:?}", p.separator(0), h.low));
    }
    for i in 1..n {
        if p.separator(i - 1) >= p.separator(i) {
            return Err(format!("separators out of order at {i}"));
        }
    }
    if h.beyond_high(p.separator(n - 1)) {
        return Err("last separator lies beyond the high fence".into());
    }
    for i in 0..n {
        if p.child(i) == crate::page::NO_BLOCK || p.child(i) == 0 {
            return Err(format!("separator {i} points to invalid block {}", p.child(i)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hdr(level: u16) -> Header {
        Header::new(level, Entry::MIN, None)
    }

    proptest! {
        #[test]
        fn route_finds_last_separator_not_above(codes in prop::collection::btree_set(1u64..1_000_000, 1..300), extra in prop::collection::btree_set(1u64..1_000_000, 0..50), probes in prop::collection::vec((0u64..1_100_000, 0u64..10), 1..50)) {
            let mut items: Vec<(Entry, u32)> = vec![(Entry::MIN, 1)];
            items.extend(codes.iter().enumerate().map(|(i, c)| (Entry::new(*c, 5), i as u32 + 2)));
            let mut b = vec![0u8; CONTENT_SIZE];
            layout(&mut b, &items, hdr(1));
            for x in extra {
                let sep = Entry::new(x, 7);
                if insert(&mut b, sep, 99_999) {
                    let at = items.partition_point(|(s, _)| *s < sep);
                    items.insert(at, (sep, 99_999));
                }
            }
            check(&b).unwrap();
            let p = InnerPage::new(&b);
            prop_assert_eq!(p.items(), items.clone());
            for (code, tid) in probes {
                // Codes shared by several separators are told apart by the TID.
                let e = Entry::new(code, tid);
                let want = items.partition_point(|(s, _)| *s <= e) - 1;
                prop_assert_eq!(p.route(e), want);
            }
        }
    }

    #[test]
    fn merge_children_hands_the_range_to_the_right_child() {
        let items: Vec<(Entry, u32)> = vec![(Entry::MIN, 10), (Entry::first_of(100), 11), (Entry::first_of(200), 12), (Entry::first_of(300), 13)];
        let mut b = vec![0u8; CONTENT_SIZE];
        layout(&mut b, &items, hdr(1));
        merge_children(&mut b, 1);
        check(&b).unwrap();
        let p = InnerPage::new(&b);
        assert_eq!(p.items(), vec![(Entry::MIN, 10), (Entry::first_of(100), 12), (Entry::first_of(300), 13)]);
        assert_eq!(p.child(p.route(Entry::first_of(150))), 12);
        assert_eq!(p.child(p.route(Entry::first_of(250))), 12);
        merge_children(&mut b, 0);
        assert_eq!(InnerPage::new(&b).items(), vec![(Entry::MIN, 12), (Entry::first_of(300), 13)]);
    }
}
