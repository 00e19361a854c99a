//! The row-number map: which range of row numbers each page describes.
//!
//! Ranges start at multiples of [`ROWS_PER_BLOCK`](crate::rownum::ROWS_PER_BLOCK), so that each
//! logical block belongs to one range, and are listed by their first row number across a chain of
//! map pages linked from the metapage. Row numbers only grow, so entries are appended in order;
//! VACUUM merges two neighbours on one page into one ([`merge_next`]), which keeps the order.
//! The map is small (one entry per row group or delta segment) and cached by each backend.

use crate::layout::{CONTENT_SIZE, NO_BLOCK, put_u32, put_u64, u32_at, u64_at};

const NEXT_AT: usize = 0;
const COUNT_AT: usize = 4;
const ENTRIES_AT: usize = 8;
const ENTRY_SIZE: usize = 16;
/// Entries per map page.
pub const CAPACITY: usize = (CONTENT_SIZE - ENTRIES_AT) / ENTRY_SIZE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RangeKind {
    /// A delta segment: row-format tuples, one page per logical block.
    Segment = 1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub first_row: u64,
    /// Row numbers in the range.
    pub rows: u64,
    pub kind: RangeKind,
    /// The page describing the range (a segment page).
    pub page: u32,
}

impl Entry {
    pub fn end_row(&self) -> u64 {
        self.first_row + self.rows
    }

    pub fn contains(&self, row: u64) -> bool {
        (self.first_row..self.end_row()).contains(&row)
    }
}

pub fn init(content: &mut [u8]) {
    content[..ENTRIES_AT].fill(0);
    put_u32(content, NEXT_AT, NO_BLOCK);
}

pub fn next(content: &[u8]) -> u32 {
    u32_at(content, NEXT_AT)
}

pub fn set_next(content: &mut [u8], page: u32) {
    put_u32(content, NEXT_AT, page);
}

pub fn count(content: &[u8]) -> usize {
    u32_at(content, COUNT_AT) as usize
}

/// The page's entries (after `check`).
pub fn entries(content: &[u8]) -> impl Iterator<Item = Result<Entry, String>> + '_ {
    (0..count(content).min(CAPACITY)).map(move |i| read_entry(content, ENTRIES_AT + i * ENTRY_SIZE))
}

fn read_entry(content: &[u8], at: usize) -> Result<Entry, String> {
    let kind = match content[at + 12] {
        1 => RangeKind::Segment,
        k => return Err(format!("map entry of unknown kind {k}")),
    };
    let packed = u64_at(content, at);
    // First row in the low 40 bits (within MAX_ROWS < 2^40), rows in the next 24 bits / 291.
    Ok(Entry { first_row: packed & ((1 << 40) - 1), rows: (packed >> 40) * crate::rownum::ROWS_PER_BLOCK, kind, page: u32_at(content, at + 8) })
}

/// Points entry `i` of the page at `page` (its range's page moved).
pub fn set_page(content: &mut [u8], i: usize, page: u32) {
    assert!(i < count(content));
    put_u32(content, ENTRIES_AT + i * ENTRY_SIZE + 8, page);
}

/// Makes entry `i` of the page also hold the range of entry `i + 1` (their groups were merged)
/// and removes that one, the entries after it moving up.
pub fn merge_next(content: &mut [u8], i: usize) {
    let n = count(content);
    assert!(i + 1 < n, "no entry after entry {i} of {n}");
    let (a, b) = (read_entry(content, ENTRIES_AT + i * ENTRY_SIZE), read_entry(content, ENTRIES_AT + (i + 1) * ENTRY_SIZE));
    let (Ok(a), Ok(b)) = (a, b) else { panic!("merging unreadable map entries") };
    assert_eq!(a.end_row(), b.first_row, "merging map entries that are not neighbours");
    let blocks = (a.rows + b.rows) / crate::rownum::ROWS_PER_BLOCK;
    assert!(blocks < 1 << 24, "merged map entry too long");
    put_u64(content, ENTRIES_AT + i * ENTRY_SIZE, a.first_row | blocks << 40);
    content.copy_within(ENTRIES_AT + (i + 2) * ENTRY_SIZE..ENTRIES_AT + n * ENTRY_SIZE, ENTRIES_AT + (i + 1) * ENTRY_SIZE);
    content[ENTRIES_AT + (n - 1) * ENTRY_SIZE..ENTRIES_AT + n * ENTRY_SIZE].fill(0);
    put_u32(content, COUNT_AT, n as u32 - 1);
}

/// Appends `e`; false when the page is full.
pub fn push(content: &mut [u8], e: Entry) -> bool {
    let n = count(content);
    if n >= CAPACITY {
        return false;
    }
    let blocks = e.rows / crate::rownum::ROWS_PER_BLOCK;
    assert!(e.first_row < 1 << 40 && blocks < 1 << 24 && e.rows % crate::rownum::ROWS_PER_BLOCK == 0, "map entry out of range: {e:?}");
    let at = ENTRIES_AT + n * ENTRY_SIZE;
    content[at..at + ENTRY_SIZE].fill(0);
    put_u64(content, at, e.first_row | blocks << 40);
    put_u32(content, at + 8, e.page);
    content[at + 12] = e.kind as u8;
    put_u32(content, COUNT_AT, n as u32 + 1);
    true
}

/// Checked on every read: the count fits; entries are aligned, ordered and disjoint.
pub fn check(content: &[u8]) -> Result<(), String> {
    let n = count(content);
    if n > CAPACITY {
        return Err(format!("map page with {n} entries, at most {CAPACITY}"));
    }
    let mut end = 0;
    for e in entries(content) {
        let e = e?;
        if e.first_row % crate::rownum::ROWS_PER_BLOCK != 0 || e.first_row < end || e.rows == 0 {
            return Err(format!("map entry {e:?} is unaligned, empty or overlaps the one before"));
        }
        end = e.end_row();
    }
    Ok(())
}

/// The entry of a sorted, disjoint list whose range holds `row`.
pub fn find(entries: &[Entry], row: u64) -> Option<&Entry> {
    let i = entries.partition_point(|e| e.first_row <= row);
    entries[..i].last().filter(|e| e.contains(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_read_find() {
        let mut c = vec![0u8; CONTENT_SIZE];
        init(&mut c);
        let e1 = Entry { first_row: 0, rows: 291 * 10, kind: RangeKind::Segment, page: 3 };
        let e2 = Entry { first_row: 291 * 20, rows: 291 * 10, kind: RangeKind::Segment, page: 9 };
        assert!(push(&mut c, e1) && push(&mut c, e2));
        check(&c).unwrap();
        let all: Vec<Entry> = entries(&c).map(Result::unwrap).collect();
        assert_eq!(all, vec![e1, e2]);
        assert_eq!(find(&all, 0), Some(&e1));
        assert_eq!(find(&all, 291 * 10), None);
        assert_eq!(find(&all, 291 * 25), Some(&e2));
        assert_eq!(find(&all, 291 * 30), None);
    }

    #[test]
    fn merge_next_joins_neighbours() {
        let mut c = vec![0u8; CONTENT_SIZE];
        init(&mut c);
        let e = |first: u64, blocks: u64, page: u32| Entry { first_row: 291 * first, rows: 291 * blocks, kind: RangeKind::Segment, page };
        for x in [e(0, 29, 3), e(29, 57, 4), e(86, 113, 5), e(199, 2023, 6)] {
            assert!(push(&mut c, x));
        }
        merge_next(&mut c, 1);
        check(&c).unwrap();
        assert_eq!(entries(&c).map(Result::unwrap).collect::<Vec<_>>(), vec![e(0, 29, 3), e(29, 170, 4), e(199, 2023, 6)]);
        merge_next(&mut c, 0);
        assert_eq!(entries(&c).map(Result::unwrap).collect::<Vec<_>>(), vec![e(0, 199, 3), e(199, 2023, 6)]);
        assert!(push(&mut c, e(2222, 29, 7)));
        assert_eq!(count(&c), 3);
        let all: Vec<Entry> = entries(&c).map(Result::unwrap).collect();
        assert_eq!(find(&all, 291 * 100), Some(&e(0, 199, 3)));
    }

    #[test]
    fn full_page_and_damage() {
        let mut c = vec![0u8; CONTENT_SIZE];
        init(&mut c);
        for i in 0..CAPACITY as u64 {
            assert!(push(&mut c, Entry { first_row: i * 291, rows: 291, kind: RangeKind::Segment, page: 1 }));
        }
        assert!(!push(&mut c, Entry { first_row: CAPACITY as u64 * 291, rows: 291, kind: RangeKind::Segment, page: 1 }));
        check(&c).unwrap();
        put_u32(&mut c, COUNT_AT, CAPACITY as u32 + 1);
        assert!(check(&c).is_err());
        put_u32(&mut c, COUNT_AT, 2);
        c[ENTRIES_AT + ENTRY_SIZE + 12] = 99;
        assert!(check(&c).is_err());
        c[ENTRIES_AT + ENTRY_SIZE + 12] = 1;
        put_u64(&mut c, ENTRIES_AT + ENTRY_SIZE, 0 | 1 << 40);
        assert!(check(&c).is_err(), "overlap");
    }
}
