//! Page deletion and reuse (as nbtpage.c): VACUUM merges an underfull data page into its right
//! sibling, which takes over its key range and entries, and unlinks it (or, for the last child
//! of a model page, merges its left sibling into it the same way); a deleted page is
//! recycled by a later data page split once no transaction that could still reach it runs.
//!
//! A merge of data page A into its right sibling B locks, left to right, A's left sibling L,
//! A and B, then A's parent X (the order splits use: left to right within a level, child before
//! parent), and changes all four in one generic-WAL record: L's right link and B's left link
//! skip A, B's low fence becomes A's and B holds both pages' entries, X's separator for A now
//! leads to B and B's own separator goes away, and A is marked deleted with the next transaction
//! id. A keeps its fences and right link, so a search that read X (or L) before the merge and
//! reaches A moves right to B, which holds its key. Only pages whose right sibling has the same
//! parent are merged, so no model page above X changes. A model page left with a single child
//! first hands it to its right sibling and is deleted (`hand_off_only_child`, at any level below
//! the root), so that emptied key ranges do not keep model pages and a data page behind.
//!
//! A deleted page is recyclable once every transaction running when it was deleted has ended
//! (no search that started before the merge can still be on its way to it); VACUUM then records
//! it in the free space map. Splits take pages from the free space map, except while a VACUUM is
//! removing entries (a flag in the metapage): entries moved to a recycled page behind VACUUM's
//! physical scan would escape it. Standbys get no recovery conflict for a recycled page, so a
//! search must not trust a link it followed: every arrival checks the page's fences and starts
//! over from the root when the page now holds other keys (search::settle).

use super::meta;
use super::search;
use crate::index::page::{Buf, WalRecord};
use crate::storage::{Lock, freespace};
use alex_core::split::fits_page;
use alex_core::data::{self, DataPage, Encoding};
use alex_core::entry::Entry;
use alex_core::inner::{self, InnerPage};
use alex_core::page::node::{self, Header};
use alex_core::page::{NO_BLOCK, PageKind};
use alex_core::policy::MERGE_BELOW;
use pgrx::pg_sys;

pub fn is_underfull(c: &[u8]) -> bool {
    let p = DataPage::new(c);
    (p.count() as f64) < p.capacity() as f64 * MERGE_BELOW
}

/// Merges data page `a` into its right sibling if either is underfull and the pair fits one
/// page at `density`. Returns the right sibling when it did. The caller holds no lock.
pub fn try_merge(rel: pg_sys::Relation, a: u32, density: f64) -> Option<u32> {
    let left_hint = {
        let b = Buf::read(rel, a, Lock::Share);
        let c = b.content_of(PageKind::Data);
        if node::is_deleted(c) || node::right(c) == NO_BLOCK {
            return None;
        }
        node::left(c)
    };
    // A page without a parent (a one-page level) has no separator to remove.
    if meta::read(&Buf::read(rel, meta::META_BLOCK, Lock::Share)).root_level == 0 {
        return None;
    }
    let Some(left) = lock_left_sibling(rel, PageKind::Data, left_hint, a) else {
        return None;
    };
    let a_buf = Buf::read(rel, a, Lock::Exclusive);
    let (ah, a_entries) = {
        let c = a_buf.content_of(PageKind::Data);
        let h = Header::read(c);
        if node::is_deleted(c) || h.right == NO_BLOCK || h.left != left.as_ref().map_or(NO_BLOCK, Buf::block) {
            return None;
        }
        (h, DataPage::new(c).entries())
    };
    let a_underfull = is_underfull(a_buf.content_of(PageKind::Data));
    let b_buf = Buf::read(rel, ah.right, Lock::Exclusive);
    let (bh, merged) = {
        let c = b_buf.content_of(PageKind::Data);
        let h = Header::read(c);
        if node::is_deleted(c) || h.left != a || Some(h.low) != ah.high || !(a_underfull || is_underfull(c)) {
            return None;
        }
        let mut merged = a_entries;
        merged.extend(DataPage::new(c).entries());
        (h, merged)
    };
    debug_assert!(super::strictly_increasing(&merged) && ah.high == Some(bh.low));
    if !fits_page(&merged, ah.low, bh.high, density) {
        return None;
    }
    let Some((parent, at)) = lock_parent_of_pair(rel, 1, (a, ah.low), (ah.right, bh.low)) else {
        return None;
    };
    let safe_xid = freespace::next_full_xid();
    let wal = WalRecord::start(rel);
    if let Some(l) = &left {
        node::set_right(wal.register(l).content(), ah.right);
    }
    data::mark_deleted(wal.register(&a_buf).content(), safe_xid);
    let header = Header { left: ah.left, low: ah.low, ..bh };
    data::layout(wal.register(&b_buf).content(), &merged, Encoding::for_entries(&merged, ah.low, bh.high), header);
    inner::merge_children(wal.register(&parent).content(), at);
    wal.finish();
    Some(ah.right)
}

/// Merges the underfull data page `blk` away: into its right sibling, or, when that fails
/// (it is its level's rightmost page, or the last child of its model page), its left sibling
/// into it; the only child of a model page is first handed to the next model page. A page that
/// took in another and is still underfull goes on the same way (it may now be its model page's
/// only child). Returns how many pages were deleted.
pub fn merge_underfull(rel: pg_sys::Relation, blk: u32, density: f64) -> u32 {
    let mut deleted = 0;
    let mut blk = blk;
    loop {
        let Some((survivor, n)) = merge_once(rel, blk, density) else {
            return deleted;
        };
        deleted += n;
        blk = survivor;
    }
}

/// One step of [`merge_underfull`]: the page that holds `blk`'s entries now, and how many pages
/// were deleted; None when nothing could be done.
fn merge_once(rel: pg_sys::Relation, blk: u32, density: f64) -> Option<(u32, u32)> {
    if let Some(survivor) = try_merge(rel, blk, density) {
        return Some((survivor, 1));
    }
    let (left, low) = {
        let b = Buf::read(rel, blk, Lock::Share);
        let c = b.content_of(PageKind::Data);
        if node::is_deleted(c) || !is_underfull(c) {
            return None;
        }
        (node::left(c), node::low(c))
    };
    if left != NO_BLOCK && try_merge(rel, left, density).is_some() {
        return Some((blk, 1));
    }
    if !hand_off_only_child(rel, blk, low, 1) {
        return None;
    }
    Some(match try_merge(rel, blk, density) {
        Some(survivor) => (survivor, 2),
        None => (blk, 1),
    })
}

/// When page `child` (low fence `low`) is the only child of its model page X at `level`, X hands
/// it to its right sibling Y and is deleted: Y takes over X's key range with `child` as its first
/// child, so that `child` can then merge into its new right sibling (or, a level down, hand its
/// own only child over). When Y has another parent, X is the last child of its own parent P, and
/// when it is P's only child, P hands X over first, a level up, so that X and Y share a parent.
/// Returns whether `child` was handed over.
///
/// Locks X's left sibling W, X and Y, left to right, then their parent P (the order of merges
/// and splits), and changes all four in one generic-WAL record: W's right link and Y's left link
/// skip X, Y's low fence becomes X's and its first separator leads to `child`, P's separator for
/// X now leads to Y and Y's own separator goes away, and X, formatted anew as a deleted data
/// page, keeps its fences and its right link to Y. A search that read P (or W) before and reaches
/// X moves right to Y, which now routes its key. X is recycled later like any deleted data page.
/// Only pages whose right sibling has the same parent are handed over, so no model page above P
/// changes; the root, which has no sibling, is never deleted. Like merges, this runs only in
/// VACUUM, one at a time per index: X's left sibling found by its left link is then a live page.
fn hand_off_only_child(rel: pg_sys::Relation, child: u32, low: Entry, level: u16) -> bool {
    match hand_off(rel, child, low, level) {
        HandOff::Done => true,
        HandOff::No => false,
        HandOff::OtherParent(x) => hand_off_only_child(rel, x, low, level + 1) && matches!(hand_off(rel, child, low, level), HandOff::Done),
    }
}

enum HandOff {
    Done,
    No,
    /// X (this block) could hand its child over but for its right sibling's parent.
    OtherParent(u32),
}

fn hand_off(rel: pg_sys::Relation, child: u32, low: Entry, level: u16) -> HandOff {
    if meta::read(&Buf::read(rel, meta::META_BLOCK, Lock::Share)).root_level <= level {
        return HandOff::No;
    }
    let (x, left_hint) = {
        let b = search::descend(rel, low, level, Lock::Share);
        let c = b.content_of(PageKind::Inner);
        let p = InnerPage::new(c);
        // The child's low fence is X's (its separator is X's first), which Y takes over.
        if p.count() != 1 || p.child(0) != child || node::right(c) == NO_BLOCK || node::low(c) != low {
            return HandOff::No;
        }
        (b.block(), node::left(c))
    };
    let Some(left) = lock_left_sibling(rel, PageKind::Inner, left_hint, x) else {
        return HandOff::No;
    };
    let x_buf = Buf::read(rel, x, Lock::Exclusive);
    let xh = {
        let c = x_buf.content_of(PageKind::Inner);
        let h = Header::read(c);
        let p = InnerPage::new(c);
        if node::is_deleted(c) || h.right == NO_BLOCK || h.left != left.as_ref().map_or(NO_BLOCK, Buf::block) || p.count() != 1 || p.child(0) != child || h.low != low {
            return HandOff::No;
        }
        h
    };
    let y_buf = Buf::read(rel, xh.right, Lock::Exclusive);
    let (yh, y_items) = {
        let c = y_buf.content_of(PageKind::Inner);
        let h = Header::read(c);
        if node::is_deleted(c) || h.left != x || Some(h.low) != xh.high || node::count(c) >= inner::CAPACITY {
            return HandOff::No;
        }
        (h, InnerPage::new(c).items())
    };
    let Some((parent, at)) = lock_parent_of_pair(rel, level + 1, (x, xh.low), (xh.right, yh.low)) else {
        return HandOff::OtherParent(x);
    };
    let safe_xid = freespace::next_full_xid();
    let wal = WalRecord::start(rel);
    if let Some(l) = &left {
        node::set_right(wal.register(l).content(), xh.right);
    }
    data::write_deleted(wal.register_new(&x_buf, PageKind::Data).content(), xh, safe_xid);
    let mut items = vec![(xh.low, child)];
    items.extend(y_items);
    debug_assert!(xh.level == level && xh.high == Some(yh.low));
    debug_assert!(super::strictly_increasing(&items.iter().map(|(s, _)| *s).collect::<Vec<_>>()));
    inner::layout(wal.register(&y_buf).content(), &items, Header { left: xh.left, ..yh });
    inner::merge_children(wal.register(&parent).content(), at);
    wal.finish();
    HandOff::Done
}

/// The model page at `level` holding the separators of siblings `left` and `right` (block, low
/// fence), exclusively locked, with the index of `left`'s. Both separators must be there, exact
/// and adjacent: one lost in a crash between a split and its post (the page is then reached by
/// moving right) leaves the pair alone.
fn lock_parent_of_pair(rel: pg_sys::Relation, level: u16, left: (u32, Entry), right: (u32, Entry)) -> Option<(Buf, usize)> {
    let parent = search::descend(rel, left.1, level, Lock::Exclusive);
    let p = InnerPage::new(parent.content_of(PageKind::Inner));
    let i = p.route(left.1);
    let exact = (p.child(i), p.separator(i)) == left && i + 1 < p.count() && (p.child(i + 1), p.separator(i + 1)) == right;
    debug_assert!(!exact || node::level(parent.content_of(PageKind::Inner)) == level);
    exact.then_some((parent, i))
}

/// The left sibling of page `blk` (of `kind`), exclusively locked: `Some(None)` when `hint`, its
/// left link read without a lock, is NO_BLOCK; else the page whose right link is `blk`, walking
/// right from `hint` (the left sibling may have split since); None when there is no such page.
fn lock_left_sibling(rel: pg_sys::Relation, kind: PageKind, hint: u32, blk: u32) -> Option<Option<Buf>> {
    if hint == NO_BLOCK {
        return Some(None);
    }
    let mut cur = hint;
    while cur != blk && cur != NO_BLOCK {
        let b = Buf::read(rel, cur, Lock::Exclusive);
        let c = b.content_of(kind);
        if !node::is_deleted(c) && node::right(c) == blk {
            return Some(Some(b));
        }
        cur = node::right(c);
    }
    None
}

/// Whether a page can be reused: never initialised, or deleted before every running
/// transaction began.
pub fn is_recyclable(b: &Buf) -> bool {
    if b.is_new() {
        return true;
    }
    if b.kind() != PageKind::Data {
        return false;
    }
    let c = b.content_of(PageKind::Data);
    if !node::is_deleted(c) {
        return false;
    }
    freespace::is_past_horizon(data::deleted_xid(c))
}

/// `n` pages for the new right halves of a data page split, exclusively locked: recycled pages
/// from the free space map when there are some, else new pages at the end of the relation.
/// When pages were recycled, the returned metapage guard (share-locked) must be held until the
/// split is WAL-logged, so that no VACUUM starts meanwhile (see the module comment).
pub fn new_data_pages(rel: pg_sys::Relation, n: usize) -> (Option<Buf>, Vec<Buf>) {
    let meta_buf = Buf::read(rel, meta::META_BLOCK, Lock::Share);
    let mut pages = Vec::with_capacity(n);
    if !meta::read(&meta_buf).vacuum_active {
        pages.extend(std::iter::from_fn(|| recycled_page(rel)).take(n));
    }
    let guard = if pages.is_empty() { None } else { Some(meta_buf) };
    while pages.len() < n {
        pages.push(Buf::extend(rel));
    }
    (guard, pages)
}

/// A recyclable page from the free space map, exclusively locked; None when it has none.
pub fn recycled_page(rel: pg_sys::Relation) -> Option<Buf> {
    loop {
        let blk = freespace::take(rel)?;
        // A page locked by someone else is in use (or being looked at): leave it.
        if let Some(b) = Buf::try_read_exclusive(rel, blk) {
            if is_recyclable(&b) {
                return Some(b);
            }
        }
    }
}

/// Sets or clears the metapage's VACUUM flag (waiting for splits that are reusing pages).
pub fn set_vacuum_active(rel: pg_sys::Relation, active: bool) {
    meta::update(rel, |m| m.vacuum_active = active);
}
