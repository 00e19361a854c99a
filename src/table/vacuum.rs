//! VACUUM: dead row versions are found, their index entries deleted, then the versions
//! themselves; every remaining header older than the freeze limit is frozen, and relfrozenxid
//! advances. Readers and writers go on meanwhile (VACUUM holds ShareUpdateExclusiveLock).

use super::page::{Buf, WalRecord};
use super::tuple::{self, TupleCopy};
use crate::storage::{Lock, conflict, rel};
use columnar_core::{delta, layout::PageKind, rownum};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::BTreeSet;

struct DeadRows(BTreeSet<u64>);

#[pg_guard]
unsafe extern "C-unwind" fn is_dead(tid: pg_sys::ItemPointer, state: *mut std::ffi::c_void) -> bool {
    // SAFETY: `state` is the DeadRows passed to index_bulk_delete below; `tid` a valid TID.
    unsafe {
        let dead = &*(state as *const DeadRows);
        tuple::block_slot(&*tid).is_some_and(|(b, s)| dead.0.contains(&(b as u64 * rownum::ROWS_PER_BLOCK + s as u64)))
    }
}

/// The delta pages of the file, each visited with `f` under a lock of `mode`.
fn for_each_delta_page(rel: pg_sys::Relation, mode: Lock, mut f: impl FnMut(&Buf, u32)) {
    for blk in 0..rel::main_fork_blocks(rel) {
        let b = Buf::read(rel, blk, mode);
        if b.is_new() || b.kind() != PageKind::Delta {
            continue;
        }
        let logical = super::page::owner(&b);
        f(&b, logical);
        drop(b);
        // SAFETY: lets VACUUM's cost-based delay and interrupts act between pages (with no
        // page locked).
        unsafe { pg_sys::vacuum_delay_point() };
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_vacuum(rel: pg_sys::Relation, params: *mut pg_sys::VacuumParams, strategy: pg_sys::BufferAccessStrategy) {
    // SAFETY: called by vacuum.c with the relation locked (ShareUpdateExclusiveLock) and valid
    // parameters; the horizons are computed here, after the lock is held.
    unsafe {
        let mut oldest_xmin = pg_sys::InvalidTransactionId;
        let mut oldest_mxact = pg_sys::InvalidTransactionId;
        let mut freeze_limit = pg_sys::InvalidTransactionId;
        let mut multi_cutoff = pg_sys::InvalidTransactionId;
        pg_sys::vacuum_set_xid_limits(
            rel,
            (*params).freeze_min_age,
            (*params).freeze_table_age,
            (*params).multixact_freeze_min_age,
            (*params).multixact_freeze_table_age,
            &mut oldest_xmin,
            &mut oldest_mxact,
            &mut freeze_limit,
            &mut multi_cutoff,
        );
        let relid = (*rel).rd_id;

        // 1. Dead row versions.
        let mut dead = DeadRows(BTreeSet::new());
        for_each_delta_page(rel, Lock::Share, |b, logical| {
            for slot in 0..delta::slot_count(b.content_of(PageKind::Delta)) {
                let Some(bytes) = tuple::tuple_bytes(b, slot) else { continue };
                let t = TupleCopy::new(bytes, tuple::item_pointer(logical, slot as u16 + 1), relid, pg_sys::CurrentMemoryContext);
                if tuple::vacuum_state(&t, oldest_xmin, b) == pg_sys::HTSV_Result::HEAPTUPLE_DEAD {
                    dead.0.insert(logical as u64 * rownum::ROWS_PER_BLOCK + slot as u64);
                }
                t.free();
            }
        });

        // 2. Their index entries, then cleanup of every index.
        let mut nindexes = 0;
        let mut indexes: *mut pg_sys::Relation = std::ptr::null_mut();
        pg_sys::vac_open_indexes(rel, pg_sys::RowExclusiveLock as i32, &mut nindexes, &mut indexes);
        let mut live = 0.0;
        for i in 0..nindexes as usize {
            let mut info = pg_sys::IndexVacuumInfo {
                index: *indexes.add(i),
                analyze_only: false,
                report_progress: false,
                estimated_count: true,
                message_level: pg_sys::DEBUG2 as i32,
                num_heap_tuples: (*(*rel).rd_rel).reltuples as f64,
                strategy,
            };
            let mut stats = std::ptr::null_mut();
            if !dead.0.is_empty() {
                stats = pg_sys::index_bulk_delete(&mut info, stats, Some(is_dead), &mut dead as *mut DeadRows as *mut _);
            }
            let stats = pg_sys::index_vacuum_cleanup(&mut info, stats);
            if !stats.is_null() {
                pg_sys::pfree(stats as *mut _);
            }
        }

        // 3. The dead versions themselves, and their space: the page is compacted and its
        // free space recorded, so that inserts reuse it (and the slots, whose index entries
        // are gone). 4. Freezing of the rest.
        for_each_delta_page(rel, Lock::Exclusive, |b, logical| {
            let mut removed: Vec<usize> = Vec::new();
            let mut chains: Vec<(u32, usize)> = Vec::new();
            let mut frozen: Vec<(usize, Vec<u8>)> = Vec::new();
            let c = b.content_of(PageKind::Delta);
            // The newest transaction whose effects this page's changes hide from a standby.
            let mut horizon = pg_sys::InvalidTransactionId;
            for slot in 0..delta::slot_count(c) {
                let Some(r) = delta::tuple(c, slot).unwrap_or_else(|why| b.corrupted(&why)) else { continue };
                let row = logical as u64 * rownum::ROWS_PER_BLOCK + slot as u64;
                let t = TupleCopy::new(&c[r.clone()], tuple::item_pointer(logical, slot as u16 + 1), relid, pg_sys::CurrentMemoryContext);
                if dead.0.contains(&row) {
                    removed.push(slot);
                    chains.extend(super::toast::chains_in(rel, t.0));
                    horizon = tuple::later(horizon, tuple::removed_horizon(&t));
                } else {
                    if pg_sys::heap_freeze_tuple((*t.0).t_data, (*(*rel).rd_rel).relfrozenxid, (*(*rel).rd_rel).relminmxid, freeze_limit, multi_cutoff) {
                        frozen.push((slot, t.header_bytes()[tuple::XACT_FIELDS].to_vec()));
                        // As heap's freeze records: conflicts with snapshots older than the limit.
                        horizon = tuple::later(horizon, tuple::xid(freeze_limit.into_inner().wrapping_sub(1)));
                    }
                    live += 1.0;
                }
                t.free();
            }
            let mut free = delta::free_space(c);
            if !removed.is_empty() || !frozen.is_empty() {
                conflict::log_horizon(rel, horizon);
                let rec = WalRecord::start(rel);
                let mut img = rec.register(b);
                let page = img.content();
                for (slot, header) in &frozen {
                    let at = delta::tuple(page, *slot).ok().flatten().expect("checked above").start;
                    page[at + tuple::XACT_FIELDS.start..at + tuple::XACT_FIELDS.end].copy_from_slice(header);
                }
                for &slot in &removed {
                    delta::remove(page, slot);
                }
                if !removed.is_empty() {
                    free = delta::compact(page);
                }
                drop(img);
                rec.finish();
            }
            pg_sys::RecordPageWithFreeSpace(rel, b.block(), free);
            // The values the removed versions stored out of line go with them.
            for (first, _) in chains {
                super::toast::free(rel, first);
            }
        });
        pg_sys::FreeSpaceMapVacuum(rel);
        pg_sys::vac_close_indexes(nindexes, indexes, pg_sys::NoLock as i32);

        // 5. Statistics and horizons: every header older than the limits is now frozen.
        let mut frozen_updated = false;
        let mut minmulti_updated = false;
        pg_sys::vac_update_relstats(rel, rel::main_fork_blocks(rel), live, 0, nindexes > 0, freeze_limit, multi_cutoff, &mut frozen_updated, &mut minmulti_updated, false);
        pg_sys::pgstat_report_vacuum(relid, (*(*rel).rd_rel).relisshared, live as i64, 0);
    }
}
