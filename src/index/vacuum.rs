//! VACUUM (as nbtree.c's btvacuumscan): visit every page in physical order; on data pages and
//! NULL pages remove the entries whose heap TIDs VACUUM reports dead, one WAL record per page.
//!
//! Each data page is taken with a cleanup lock, so a scan still holding a pin on the page (and
//! returning its TIDs) finishes with it first. While the scan runs, a flag in the metapage keeps
//! splits from reusing free pages, so they only move entries to new pages at the end of the
//! relation, and re-reading the relation size until it stops growing visits every entry,
//! including those a concurrent split moved past the first size read. A data page left underfull
//! is merged into its right sibling (pagedel.rs), and emptied NULL pages leave their chain
//! (null_chain.rs); deleted pages old enough to be recycled, and pages never initialised, go to
//! the free space map.

use super::{null_chain, pagedel};
use crate::index::page::{Buf, WalRecord};
use crate::storage::{Lock, freespace, rel, tid};
use alex_core::data::{self, DataPage, DataPageMut};
use alex_core::entry::PackedTid;
use alex_core::nulls;
use alex_core::page::{PageKind, node};
use pgrx::pg_sys;
use pgrx::prelude::*;

type Callback = pg_sys::IndexBulkDeleteCallback;

fn is_dead(callback: Callback, state: *mut std::ffi::c_void, tid: PackedTid) -> bool {
    let mut ip = tid::item_pointer(tid);
    // SAFETY: VACUUM's callback and its state, called as ambulkdelete's contract allows.
    unsafe { callback.unwrap()(&mut ip, state) }
}

#[derive(Default)]
struct Totals {
    live: f64,
    removed: f64,
    pages_deleted: u32,
    pages_newly_deleted: u32,
    pages_free: u32,
}

/// Visits every page; with a callback removes dead entries and merges underfull data pages.
fn scan_all(rel: pg_sys::Relation, callback: Callback, state: *mut std::ffi::c_void) -> Totals {
    let mut t = Totals::default();
    let density = super::options::density(rel);
    let mut underfull_pages = Vec::new();
    let (mut nulls_freed, mut nulls_emptied) = (false, false);
    let mut blk = 1u32;
    loop {
        let n = rel::main_fork_blocks(rel);
        if blk >= n {
            break;
        }
        while blk < n {
            crate::compat::vacuum_delay_point();
            match vacuum_page(rel, blk, callback, state) {
                Page::Live { live, removed, underfull } => {
                    t.live += live as f64;
                    t.removed += removed as f64;
                    if underfull && callback.is_some() {
                        underfull_pages.push(blk);
                    }
                }
                Page::Nulls { live, removed } => {
                    t.live += live as f64;
                    t.removed += removed as f64;
                    nulls_freed |= removed > 0;
                    nulls_emptied |= live == 0;
                }
                Page::Free { recyclable } => {
                    t.pages_deleted += 1;
                    if recyclable {
                        freespace::record(rel, blk);
                        t.pages_free += 1;
                    }
                }
                Page::Other => {}
            }
            blk += 1;
        }
    }
    if nulls_emptied {
        let unlinked = null_chain::unlink_empty_pages(rel);
        t.pages_deleted += unlinked;
        t.pages_newly_deleted += unlinked;
    }
    if nulls_freed {
        // Appends fill the NULL chain's emptied room again, from its head on.
        super::meta::update(rel, |m| m.null_fill = m.null_head);
    }
    // Merges wait for the end of the pass: by then the right siblings have lost their dead
    // entries too. Block order is close to key order, so merges cascade to the right.
    for blk in underfull_pages {
        crate::compat::vacuum_delay_point();
        let deleted = pagedel::merge_underfull(rel, blk, density);
        t.pages_deleted += deleted;
        t.pages_newly_deleted += deleted;
    }
    if t.pages_free > 0 {
        freespace::publish(rel);
    }
    t
}

enum Page {
    /// A data page: its entries left, the entries removed, whether it is underfull.
    Live { live: usize, removed: usize, underfull: bool },
    /// A page of the NULL chain: its TIDs left, the TIDs removed.
    Nulls { live: usize, removed: usize },
    /// A deleted data page, or one never initialised (an extension whose first write did not
    /// happen), which is always recyclable.
    Free { recyclable: bool },
    Other,
}

fn vacuum_page(rel: pg_sys::Relation, blk: u32, callback: Callback, state: *mut std::ffi::c_void) -> Page {
    let mut b = Buf::read(rel, blk, Lock::Share);
    if b.is_new() {
        return Page::Free { recyclable: true };
    }
    match b.kind() {
        PageKind::Data => {
            if node::is_deleted(b.content_of(PageKind::Data)) {
                return Page::Free { recyclable: pagedel::is_recyclable(&b) };
            }
            if callback.is_none() {
                return Page::Live { live: DataPage::new(b.content_of(PageKind::Data)).count(), removed: 0, underfull: false };
            }
            b.unlock();
            b.lock_for_cleanup();
            let c = b.content_of(PageKind::Data);
            if node::is_deleted(c) {
                return Page::Free { recyclable: false };
            }
            // VACUUM reads every entry of the page anyway: all of them are verified before any
            // is removed, so that a damaged page is reported, not written into.
            if let Err(why) = data::check(c) {
                b.corrupted(&why);
            }
            let (dead, count) = {
                let p = DataPage::new(c);
                let mut dead = Vec::new();
                let mut s = p.next_occupied(0);
                while s < p.capacity() {
                    if is_dead(callback, state, p.entry(s).tid) {
                        dead.push(s);
                    }
                    s = p.next_occupied(s + 1);
                }
                (dead, p.count())
            };
            if !dead.is_empty() {
                let wal = WalRecord::start(rel);
                let mut img = wal.register(&b);
                let mut page = DataPageMut::new(img.content());
                page.delete_slots(&dead);
                debug_assert_eq!(DataPage::new(img.content()).count(), count - dead.len());
                drop(img);
                wal.finish();
            }
            let underfull = pagedel::is_underfull(b.content_of(PageKind::Data));
            Page::Live { live: count - dead.len(), removed: dead.len(), underfull }
        }
        PageKind::Nulls => {
            let count = nulls::count(b.content_of(PageKind::Nulls));
            if callback.is_none() {
                return Page::Nulls { live: count, removed: 0 };
            }
            b.unlock();
            b.lock_for_cleanup();
            let any_dead = nulls::tids(b.content_of(PageKind::Nulls)).into_iter().any(|t| is_dead(callback, state, t));
            if !any_dead {
                return Page::Nulls { live: count, removed: 0 };
            }
            let wal = WalRecord::start(rel);
            let removed = nulls::retain(wal.register(&b).content(), |t| is_dead(callback, state, t));
            wal.finish();
            Page::Nulls { live: count - removed, removed }
        }
        PageKind::Meta | PageKind::Inner => Page::Other,
    }
}

fn fill_stats(stats: *mut pg_sys::IndexBulkDeleteResult, rel: pg_sys::Relation, t: &Totals) {
    // SAFETY: `stats` is VACUUM's (or our palloc'd) IndexBulkDeleteResult.
    unsafe {
        (*stats).num_pages = rel::main_fork_blocks(rel);
        (*stats).num_index_tuples = t.live;
        (*stats).tuples_removed += t.removed;
        (*stats).estimated_count = false;
        (*stats).pages_deleted = t.pages_deleted;
        (*stats).pages_newly_deleted += t.pages_newly_deleted;
        (*stats).pages_free = t.pages_free;
    }
}

fn stats_or_new(stats: *mut pg_sys::IndexBulkDeleteResult) -> *mut pg_sys::IndexBulkDeleteResult {
    if stats.is_null() {
        // SAFETY: palloc0 in the current (VACUUM's) memory context.
        unsafe { PgBox::<pg_sys::IndexBulkDeleteResult>::alloc0().into_pg() }
    } else {
        stats
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: VACUUM passes a valid info (with the open index) and a stats struct or NULL.
    unsafe {
        let rel = (*info).index;
        let stats = stats_or_new(stats);
        pagedel::set_vacuum_active(rel, true);
        let totals = scan_all(rel, callback, callback_state);
        pagedel::set_vacuum_active(rel, false);
        fill_stats(stats, rel, &totals);
        stats
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: as in ambulkdelete.
    unsafe {
        if (*info).analyze_only {
            return stats;
        }
        if !stats.is_null() {
            return stats;
        }
        // No bulk delete ran: count the entries for the statistics.
        let rel = (*info).index;
        let stats = stats_or_new(stats);
        fill_stats(stats, rel, &scan_all(rel, None, std::ptr::null_mut()));
        stats
    }
}
