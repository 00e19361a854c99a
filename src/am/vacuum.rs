//! VACUUM (as nbtree.c's btvacuumscan): visit every page in physical order; on data pages and
//! NULL pages remove the entries whose heap TIDs VACUUM reports dead, one WAL record per page.
//!
//! Each data page is taken with a cleanup lock, so a scan still holding a pin on the page (and
//! returning its TIDs) finishes with it first. Splits only move entries to new pages at the end
//! of the relation, so re-reading the relation size until it stops growing visits every entry,
//! including those a concurrent split moved past the first size read. Emptied pages stay in the
//! tree and take new entries for their key range; they are not yet returned to a free list.

use crate::storage::{Buf, Lock, WalRecord};
use alex_core::data::{DataPage, DataPageMut};
use alex_core::entry::PackedTid;
use alex_core::nulls;
use alex_core::page::PageKind;
use pgrx::pg_sys;
use pgrx::prelude::*;

type Callback = pg_sys::IndexBulkDeleteCallback;

fn is_dead(callback: Callback, state: *mut std::ffi::c_void, tid: PackedTid) -> bool {
    let mut ip = super::item_pointer(tid);
    // SAFETY: VACUUM's callback and its state, called as ambulkdelete's contract allows.
    unsafe { callback.unwrap()(&mut ip, state) }
}

fn nblocks(rel: pg_sys::Relation) -> u32 {
    // SAFETY: an open relation.
    unsafe { pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM) }
}

/// Visits every page; with a callback removes dead entries. Returns (live entries, removed).
fn scan_all(rel: pg_sys::Relation, callback: Callback, state: *mut std::ffi::c_void) -> (f64, f64) {
    let (mut live, mut removed) = (0f64, 0f64);
    let mut blk = 1u32;
    loop {
        let n = nblocks(rel);
        if blk >= n {
            break;
        }
        while blk < n {
            // SAFETY: honours vacuum_cost_delay and interrupts between pages, holding no lock.
            unsafe { pg_sys::vacuum_delay_point() };
            let (l, r) = vacuum_page(rel, blk, callback, state);
            live += l;
            removed += r;
            blk += 1;
        }
    }
    (live, removed)
}

fn vacuum_page(rel: pg_sys::Relation, blk: u32, callback: Callback, state: *mut std::ffi::c_void) -> (f64, f64) {
    let mut b = Buf::read(rel, blk, Lock::Share);
    if b.is_new() {
        return (0.0, 0.0);
    }
    match b.kind() {
        PageKind::Data => {
            if callback.is_none() {
                return (DataPage::new(b.content_of(PageKind::Data)).count() as f64, 0.0);
            }
            b.unlock();
            b.lock_for_cleanup();
            let (dead, count) = {
                let p = DataPage::new(b.content_of(PageKind::Data));
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
                for s in &dead {
                    page.delete_slot(*s);
                }
                drop(img);
                wal.finish();
            }
            ((count - dead.len()) as f64, dead.len() as f64)
        }
        PageKind::Nulls => {
            let count = nulls::count(b.content_of(PageKind::Nulls));
            if callback.is_none() {
                return (count as f64, 0.0);
            }
            b.unlock();
            b.lock_for_cleanup();
            let any_dead = nulls::tids(b.content_of(PageKind::Nulls)).into_iter().any(|t| is_dead(callback, state, t));
            if !any_dead {
                return (count as f64, 0.0);
            }
            let wal = WalRecord::start(rel);
            let removed = nulls::retain(wal.register(&b).content(), |t| is_dead(callback, state, t));
            wal.finish();
            ((count - removed) as f64, removed as f64)
        }
        PageKind::Meta | PageKind::Inner => (0.0, 0.0),
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
        let (live, removed) = scan_all(rel, callback, callback_state);
        (*stats).num_pages = nblocks(rel);
        (*stats).num_index_tuples = live;
        (*stats).tuples_removed += removed;
        (*stats).estimated_count = false;
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
        let (live, _) = scan_all(rel, None, std::ptr::null_mut());
        (*stats).num_pages = nblocks(rel);
        (*stats).num_index_tuples = live;
        (*stats).estimated_count = false;
        stats
    }
}
