//! The tree, without PostgreSQL: a descent from the root through model pages to the data page
//! whose fences hold an entry, over any store of pages ([`Pages`]), and [`MemTree`], an in-memory
//! store built by a bulk load as CREATE INDEX builds one, for tests and benches.
//!
//! The extension descends with locks held one page at a time and copes with pages split, merged
//! or recycled under it (src/index/search.rs); it takes the per-page step, [`child`], from here.

use crate::bulk::{Run, chunks};
use crate::data::{self, DataPage, Encoding};
use crate::entry::Entry;
use crate::inner::{self, InnerPage};
use crate::meta::Meta;
use crate::page::node::{self, Header};
use crate::page::{CONTENT_SIZE, NO_BLOCK};
use crate::policy::INNER_BUILD_FILL;
use crate::prefetch::Prefetch;

/// Read access to an index's pages by block number.
pub trait Pages {
    /// The content area of page `blk`.
    fn content(&self, blk: u32) -> &[u8];
}

/// The child of the model page `c` whose range holds `e` (which must lie within the page's
/// fences): the last separator `<= e` leads to it.
#[inline]
pub fn child(c: &[u8], e: Entry) -> u32 {
    let p = InnerPage::new(c);
    p.child(p.route(e))
}

/// Where a descent towards `e` goes from a page: right when the page was deleted or `e` lies at
/// or beyond its high fence (it split after its parent was read), else down to [`child`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    MoveRight(u32),
    Down(u32),
}

/// One step of a descent towards `e` from the model page `c`.
#[inline]
pub fn step(c: &[u8], e: Entry) -> Step {
    if node::is_deleted(c) || node::beyond_high(c, e) { Step::MoveRight(node::right(c)) } else { Step::Down(child(c, e)) }
}

/// Where a lookup ends: the data page whose fences hold the entry looked for, and the slot of
/// its first entry `>=` it (the page's capacity when there is none in the page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub block: u32,
    pub slot: usize,
}

/// Looks `e` up in the tree whose root `meta` names: descends to its data page, moving right
/// past pages that split, and searches the page, loading ahead through `prefetch`.
pub fn lookup(pages: &impl Pages, meta: &Meta, e: Entry, prefetch: impl Prefetch) -> Position {
    let (mut blk, mut level) = (meta.root, meta.root_level);
    loop {
        let c = pages.content(blk);
        let moved_right = node::is_deleted(c) || node::beyond_high(c, e);
        if level == 0 && !moved_right {
            return Position { block: blk, slot: DataPage::new(c).with_prefetch(prefetch).seek(e) };
        }
        match step(c, e) {
            Step::MoveRight(right) => blk = right,
            Step::Down(below) => (blk, level) = (below, level - 1),
        }
    }
}

/// An index in memory: block 0 holds the metapage, the others data and model pages, as
/// CREATE INDEX lays them out (data pages in key order from block 1, then each model level).
pub struct MemTree {
    pages: Vec<Vec<u8>>,
}

impl Pages for MemTree {
    fn content(&self, blk: u32) -> &[u8] {
        &self.pages[blk as usize]
    }
}

impl MemTree {
    /// Bulk-loads the sorted, distinct `entries`: data pages cut by [`chunks`] at `density`,
    /// model pages filled to [`INNER_BUILD_FILL`] of their capacity (at most `max_fanout`
    /// children each, at least 2) up to a single root.
    pub fn bulk_load(entries: impl Iterator<Item = Entry>, density: f64, max_fanout: usize) -> MemTree {
        let mut tree = MemTree { pages: vec![vec![0u8; CONTENT_SIZE]] };
        let mut items: Vec<(Entry, u32)> = Vec::new();
        let write_data_page = |(low, entries, high): Run, tree: &mut MemTree, items: &mut Vec<(Entry, u32)>| {
            let blk = tree.pages.len() as u32;
            let left = items.last().map_or(NO_BLOCK, |&(_, prev)| prev);
            let header = Header::new(0, low, high).linked(left, if high.is_some() { blk + 1 } else { NO_BLOCK });
            let mut b = vec![0u8; CONTENT_SIZE];
            data::layout(&mut b, &entries, Encoding::for_entries(&entries, low, high), header);
            tree.pages.push(b);
            items.push((low, blk));
        };
        for run in chunks(entries, density) {
            write_data_page(run, &mut tree, &mut items);
        }
        if items.is_empty() {
            write_data_page((Entry::MIN, Vec::new(), None), &mut tree, &mut items);
        }
        let per_page = (((inner::CAPACITY as f64) * INNER_BUILD_FILL) as usize).min(max_fanout).max(2);
        let mut level = 0;
        while items.len() > 1 {
            level += 1;
            let groups: Vec<&[(Entry, u32)]> = items.chunks(per_page).collect();
            let first = tree.pages.len() as u32;
            let mut next = Vec::with_capacity(groups.len());
            for (i, g) in groups.iter().enumerate() {
                let blk = first + i as u32;
                let left = if i == 0 { NO_BLOCK } else { blk - 1 };
                let right = if i + 1 < groups.len() { blk + 1 } else { NO_BLOCK };
                let mut b = vec![0u8; CONTENT_SIZE];
                inner::layout(&mut b, g, Header::new(level, g[0].0, groups.get(i + 1).map(|n| n[0].0)).linked(left, right));
                tree.pages.push(b);
                next.push((g[0].0, blk));
            }
            items = next;
        }
        Meta::new(items[0].1, level).write(&mut tree.pages[0]);
        tree
    }

    pub fn meta(&self) -> Meta {
        Meta::read(&self.pages[0])
    }

}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::pack_tid;
    use crate::prefetch::NoPrefetch;

    fn entries_of(codes: &[u64]) -> Vec<Entry> {
        let mut v: Vec<Entry> = codes.iter().enumerate().map(|(i, &c)| Entry::new(c, pack_tid(i as u32 / 100, 1 + (i % 100) as u16))).collect();
        v.sort_unstable();
        v
    }

    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Checks that `pos` is where `e` belongs: in the page whose fences hold it, after every
    /// entry below it and at the first entry `>=` it.
    fn assert_position(tree: &MemTree, pos: Position, e: Entry) {
        let c = tree.content(pos.block);
        let (h, p) = (Header::read(c), DataPage::new(c));
        assert!(h.level == 0 && h.low <= e && !h.beyond_high(e), "{e:?} outside the fences of page {}", pos.block);
        assert!(pos.slot == p.capacity() || p.entry(pos.slot) >= e, "{e:?}: slot {} holds a smaller entry", pos.slot);
        if let Some(before) = p.prev_occupied(pos.slot) {
            assert!(p.entry(before) < e, "{e:?}: an entry >= it precedes slot {}", pos.slot);
        }
    }

    /// Every entry is found, and probes between them land where they belong, in trees of one,
    /// two and several levels.
    #[test]
    fn lookups_find_every_entry_and_place_absent_ones() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let n = 20_000;
        let distributions: Vec<(&str, Vec<u64>)> = vec![
            ("sequential", (0..n).map(|i| 1000 + 3 * i).collect()),
            ("uniform", (0..n).map(|_| next() >> 1).collect()),
            ("clustered", (0..n).map(|i| ((i % 7) << 40) | ((i * 31) % 5000)).collect()),
            ("duplicates", (0..n).map(|i| (i % 50) * 1_000_003).collect()),
            ("one key", vec![42; 300]),
            ("empty", vec![]),
        ];
        for (name, codes) in distributions {
            let entries = entries_of(&codes);
            for max_fanout in [3, 16, usize::MAX] {
                let tree = MemTree::bulk_load(entries.iter().copied(), 0.8, max_fanout);
                let meta = tree.meta();
                for &e in &entries {
                    let pos = lookup(&tree, &meta, e, NoPrefetch);
                    assert_eq!(DataPage::new(tree.content(pos.block)).entry(pos.slot), e, "{name}, fanout {max_fanout}");
                }
                let mut probe = xorshift(7);
                let absent = (0..2000).map(|_| Entry::new(probe() >> 1, 0)).chain(entries.iter().map(|e| Entry::new(e.code.wrapping_add(1), 0)));
                for e in absent.chain([Entry::MIN, Entry::last_of(u64::MAX)]) {
                    assert_position(&tree, lookup(&tree, &meta, e, NoPrefetch), e);
                }
            }
        }
    }

    #[test]
    fn small_fanouts_grow_several_levels() {
        let entries = entries_of(&(0..20_000u64).collect::<Vec<_>>());
        assert_eq!(MemTree::bulk_load(entries.iter().copied(), 0.8, usize::MAX).meta().root_level, 1);
        assert!(MemTree::bulk_load(entries.iter().copied(), 0.8, 3).meta().root_level >= 2);
    }

    /// A page that split after its parent was written is reached by a move right.
    #[test]
    fn a_step_moves_right_beyond_the_high_fence() {
        let entries = entries_of(&(0..20_000u64).collect::<Vec<_>>());
        let tree = MemTree::bulk_load(entries.iter().copied(), 0.8, 4);
        let meta = tree.meta();
        let root = tree.content(meta.root);
        let Step::Down(first_child) = step(root, Entry::MIN) else { panic!("the root has no high fence") };
        let beyond = node::high(tree.content(first_child)).unwrap();
        assert_eq!(step(tree.content(first_child), beyond), Step::MoveRight(node::right(tree.content(first_child))));
    }
}
