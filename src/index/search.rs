//! Descending the tree (as nbtsearch.c): from the root through model pages to the page of a
//! given level whose key range holds an entry, moving right past pages that split or were
//! deleted after their parent was read (Lehman & Yao). No lock is held on a parent while its
//! child is locked.

use super::{meta, route_cache};
use crate::index::page::Buf;
use crate::storage::Lock;
use alex_core::entry::Entry;
use alex_core::page::{NO_BLOCK, PageKind, node};
use alex_core::tree;
use pgrx::prelude::*;
use pgrx::pg_sys;

fn kind_of_level(level: u16) -> PageKind {
    if level == 0 { PageKind::Data } else { PageKind::Inner }
}

/// A page that a descent reached only through its left sibling's right link although its
/// parent should route to it: its separator `sep` (the page's low fence) is missing at `level`,
/// or is being posted by the backend that split the page.
#[derive(Clone, Copy, Debug)]
pub struct Unposted {
    pub level: u16,
    pub sep: Entry,
    pub child: u32,
}

/// Returns the page at `level` whose range `low <= e < high` holds `e`, locked in `mode`: for a
/// data page, straight from the route cache when it knows the page.
pub fn descend(rel: pg_sys::Relation, e: Entry, level: u16, mode: Lock) -> Buf {
    if level == 0 {
        if let Some(b) = route_cache::read_data_page(rel, e, mode, false) {
            return b;
        }
    }
    descend_tree(rel, e, level, mode)
}

/// The data page holding `e`, exclusively locked, for an insert, which also learns of the first
/// page it found unposted (to repair after a crash between a split and the post of its separator).
pub fn descend_to_insert(rel: pg_sys::Relation, e: Entry) -> (Buf, Option<Unposted>) {
    if let Some(b) = route_cache::read_data_page(rel, e, Lock::Exclusive, true) {
        return (b, None);
    }
    let mut unposted = None;
    let b = descend_from_root(rel, e, 0, Lock::Exclusive, Some(&mut unposted));
    (b, unposted)
}

/// As `descend`, always from the root.
pub fn descend_tree(rel: pg_sys::Relation, e: Entry, level: u16, mode: Lock) -> Buf {
    descend_from_root(rel, e, level, mode, None)
}

fn descend_from_root(rel: pg_sys::Relation, e: Entry, level: u16, mode: Lock, mut unposted: Option<&mut Option<Unposted>>) -> Buf {
    // Each restart needs a page recycled between reading its parent and locking it: many in a
    // row mean a separator that does not match its child's fences.
    let mut restarts = 0;
    'from_root: loop {
        let (mut root, mut root_level) = meta::root(rel);
        if root_level < level {
            // The cached root predates a new root that another backend just made: read the metapage.
            meta::forget_root(rel);
            (root, root_level) = meta::root(rel);
            if root_level < level {
                error!("alex: descent to level {level} in a tree of height {root_level}");
            }
        }
        let (mut blk, mut lvl) = (root, root_level);
        loop {
            let b = Buf::read(rel, blk, if lvl == level { mode } else { Lock::Share });
            let (kind, c) = b.page();
            // A deleted model page is a deleted data page (see pagedel.rs): move right from it too.
            let deleted = kind == PageKind::Data && node::is_deleted(c);
            // A page deleted and recycled since its parent (or our cached root, which may be an
            // old root since deleted) was read holds another level or other keys; a standby gets
            // no recovery conflict to stop that. Start over from the metapage's root.
            let recycled = if !deleted && (kind != kind_of_level(lvl) || node::level(c) != lvl) {
                Some(format!("is a {kind:?} page of level {}, expected level {lvl}", node::level(c)))
            } else if !deleted && e < node::low(c) {
                Some("has a low fence above the key its parent routes to it".to_string())
            } else if deleted && node::right(c) == NO_BLOCK {
                // An unlinked NULL page (see null_chain.rs).
                Some("is a deleted page without a right sibling".to_string())
            } else {
                None
            };
            if let Some(what) = recycled {
                meta::forget_root(rel);
                restarts += 1;
                if restarts > 100 {
                    b.corrupted(&format!("the page {what}, again after {restarts} descents from the root"));
                }
                continue 'from_root;
            }
            if deleted || node::beyond_high(c, e) {
                // The page split (or was merged into its right sibling) after we, or our cached
                // root, learned of it: its right sibling now holds e. At the top this means the
                // cached root is stale.
                if lvl == root_level {
                    meta::forget_root(rel);
                }
                let right = move_right_target(&b, c);
                if let Some(slot) = unposted.as_deref_mut().filter(|u| u.is_none() && !node::is_deleted(c)) {
                    *slot = Some(Unposted { level: lvl + 1, sep: node::high(c).unwrap(), child: right });
                }
                blk = right;
                continue;
            }
            if lvl == level {
                // Invariant 5: the descent ends at the page whose fences hold `e`.
                debug_assert!(node::low(c) <= e && node::level(c) == level);
                return b;
            }
            if lvl == 1 && level == 0 {
                route_cache::remember(rel, c);
            }
            debug_assert!(node::count(c) > 0);
            blk = tree::child(c, e);
            debug_assert!(blk != NO_BLOCK);
            lvl -= 1;
        }
    }
}

/// The page at `level` holding `e`, locked in `mode`, starting from block `blk`, reached by a
/// link that may be stale (a right link or page remembered after its lock was released): moves
/// right past pages that split or were deleted, and descends from the root when `blk` has since
/// been recycled for other keys.
pub fn settle(rel: pg_sys::Relation, blk: u32, e: Entry, level: u16, mode: Lock) -> Buf {
    let mut blk = blk;
    loop {
        let b = Buf::read(rel, blk, mode);
        // Recycled since as a page of another kind (a NULL page): start over, as below.
        if b.is_new() || b.kind() != kind_of_level(level) {
            drop(b);
            return descend_tree(rel, e, level, mode);
        }
        let c = b.content_of(kind_of_level(level));
        if node::is_deleted(c) && node::right(c) == NO_BLOCK {
            // An unlinked NULL page: no right sibling to move to.
            drop(b);
            return descend_tree(rel, e, level, mode);
        }
        if node::is_deleted(c) || node::beyond_high(c, e) {
            blk = move_right_target(&b, c);
            continue;
        }
        if e < node::low(c) || node::level(c) != level {
            drop(b);
            return descend_tree(rel, e, level, mode);
        }
        debug_assert!(!node::beyond_high(c, e));
        return b;
    }
}

fn move_right_target(b: &Buf, c: &[u8]) -> u32 {
    let right = node::right(c);
    if right == NO_BLOCK {
        b.corrupted("the page has a high fence but no right sibling");
    }
    right
}
