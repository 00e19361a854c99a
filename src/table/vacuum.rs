//! VACUUM: dead row versions are found, their index entries deleted, then the versions
//! themselves; every remaining header older than the freeze limit is frozen, and relfrozenxid
//! advances; then delta segments whose rows are all settled are folded into row groups.
//! Readers and writers go on meanwhile (VACUUM holds ShareUpdateExclusiveLock).

use super::group::{self, Loaded};
use super::page::{Buf, WalRecord};
use super::store::{self, Block};
use super::{rows, space};
use super::tuple::{self, TupleCopy};
use crate::storage::{Lock, conflict, rel};
use columnar_core::layout::{NO_BLOCK, PageKind};
use columnar_core::segment::{self, State};
use columnar_core::{delta, map, rownum, xmax};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::collections::BTreeSet;
use std::rc::Rc;

/// `omendb.columnar_fold_min_rows`: the settled rows the open delta segment must hold before
/// VACUUM closes it and folds it into a row group (a closed segment is folded whatever its
/// size). Smaller groups compress less and cost a group page each.
pub static FOLD_MIN_ROWS: GucSetting<i32> = GucSetting::<i32>::new(10_000);

/// Developer option `omendb.columnar_fail_fold`: a fold raises an ERROR after writing its
/// group's data pages and before linking them, the state an error or a crash there leaves, so
/// that tests can check that the next VACUUM frees those pages.
pub static FAIL_FOLD: GucSetting<bool> = GucSetting::<bool>::new(false);

pub fn init_gucs() {
    GucRegistry::define_bool_guc(
        c"omendb.columnar_fail_fold",
        c"Developer option: a fold of a columnar segment fails after writing its data pages.",
        c"Leaves pending data pages for the next VACUUM to free. For testing only.",
        &FAIL_FOLD,
        GucContext::Suset,
        GucFlags::NO_SHOW_ALL,
    );
    GucRegistry::define_int_guc(
        c"omendb.columnar_fold_min_rows",
        c"Rows the open delta segment of a columnar table must hold before VACUUM folds it into a row group.",
        c"A closed segment (one that filled up) is folded whatever its size.",
        &FOLD_MIN_ROWS,
        0,
        columnar_core::rowgroup::MAX_ROWS as i32,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// Row numbers of dead versions, and ranges whose every row number is dead (bulk loads whose
/// transaction aborted).
struct DeadRows(BTreeSet<u64>, Vec<std::ops::Range<u64>>);

#[pg_guard]
unsafe extern "C-unwind" fn is_dead(tid: pg_sys::ItemPointer, state: *mut std::ffi::c_void) -> bool {
    // SAFETY: `state` is the DeadRows passed to index_bulk_delete below; `tid` a valid TID.
    unsafe {
        let dead = &*(state as *const DeadRows);
        tuple::block_slot(&*tid).is_some_and(|(b, s)| {
            let row = b as u64 * rownum::ROWS_PER_BLOCK + s as u64;
            dead.0.contains(&row) || dead.1.iter().any(|r| r.contains(&row))
        })
    }
}

/// Judges the stamp of every stamped segment (bulk loads): one whose transaction every snapshot
/// sees as committed is dropped (its rows' stamp is the frozen one from now on); the map entries
/// of those whose transaction aborted (or crashed) are returned: all their rows are dead.
fn settle_stamps(rel: pg_sys::Relation, oldest_xmin: pg_sys::TransactionId) -> Vec<map::Entry> {
    let mut dead = Vec::new();
    // SAFETY: an open relation; the current memory context is VACUUM's.
    let (relid, cxt) = unsafe { ((*rel).rd_id, pg_sys::CurrentMemoryContext) };
    for e in store::segments(rel) {
        let sb = Buf::read(rel, e.page, Lock::Share);
        let Some(stamp) = segment::stamp(sb.content_of(PageKind::Segment)) else { continue };
        let tid = tuple::tid_of_row(e.first_row);
        let t = TupleCopy::new(&group::stamp_header(Some(stamp), &tid), tid, relid, cxt);
        let state = tuple::vacuum_state(&t, oldest_xmin, &sb);
        let reserved = segment::is_reserved(sb.content_of(PageKind::Segment));
        let settled = !reserved && settled(&t, oldest_xmin, &sb);
        t.free();
        drop(sb);
        if state == pg_sys::HTSV_Result::HEAPTUPLE_DEAD {
            dead.push(e);
        } else if settled {
            let sb = Buf::read(rel, e.page, Lock::Exclusive);
            if segment::stamp(sb.content_of(PageKind::Segment)) == Some(stamp) {
                // As heap's freeze records: conflicts with standby snapshots that could still
                // see the rows as in progress.
                conflict::log_horizon(rel, tuple::xid(stamp.xmin));
                let rec = WalRecord::start(rel);
                segment::freeze(rec.register(&sb).content());
                rec.finish();
            }
        }
        crate::compat::vacuum_delay_point();
    }
    dead
}

/// Empties the segment of map entry `e`, whose stamp's transaction aborted: the values its rows
/// stored out of line, its overlay pages, its data pages (also any a crash left pending) are
/// freed, and it becomes a closed segment of no blocks. The rows' index entries are gone.
fn empty_dead(rel: pg_sys::Relation, e: &map::Entry, pool: &mut space::FreePages) {
    // SAFETY: the current memory context is VACUUM's.
    let cxt = unsafe { pg_sys::CurrentMemoryContext };
    let sb = Buf::read(rel, e.page, Lock::Share);
    let c = sb.content_of(PageKind::Segment);
    let (first, used) = (segment::first_block(c), segment::used(c));
    let sealed = segment::state(c) == State::Folded;
    drop(sb);
    // Nobody changes the rows any more: no snapshot sees them.
    let mut chains = Vec::new();
    for logical in first..first + used as u32 {
        let Some(block) = store::read_block(rel, logical, Lock::Share) else { continue };
        rows::for_each(rel, logical, &block, cxt, None, super::group::Columns::All, |_, t, _| {
            // SAFETY: a row of the table.
            chains.extend(unsafe { super::toast::chains_in(rel, t.0) });
            t.free();
        });
    }
    let sb = Buf::read(rel, e.page, Lock::Exclusive);
    space::free_pending(rel, &sb, pool);
    if sealed {
        free_pages(rel, &sb, pool, true);
        for p in segment::group(sb.content_of(PageKind::Segment)).data_blocks() {
            space::free_page(rel, &Buf::read(rel, p, Lock::Exclusive));
            pool.add(p);
        }
    }
    let rec = WalRecord::start(rel);
    segment::empty(rec.register(&sb).content());
    rec.finish();
    drop(sb);
    for (first, _) in chains {
        super::toast::free(rel, first);
    }
}

/// Every page holding row headers, each visited with `f` under a lock of `mode`, with its
/// logical block and, for an overlay, its row group: the delta pages of every segment and the
/// overlay pages of every folded one.
fn for_each_header_page(rel: pg_sys::Relation, mode: Lock, mut f: impl FnMut(&Buf, u32, Option<&Rc<Loaded>>)) {
    for e in store::segments(rel) {
        let sb = Buf::read(rel, e.page, Lock::Share);
        let c = sb.content_of(PageKind::Segment);
        let group = (segment::state(c) == State::Folded).then(|| group::load(rel, &sb));
        let first = segment::first_block(c);
        let pages: Vec<(u32, u32)> = (0..segment::used(c)).map(|i| (first + i as u32, segment::page_of(c, i))).filter(|&(_, p)| p != NO_BLOCK).collect();
        drop(sb);
        for (logical, p) in pages {
            let b = Buf::read(rel, p, mode);
            let ok = if group.is_some() { store::is_overlay_of(&b, logical) } else { store::is_delta_of(&b, logical) };
            if ok {
                f(&b, logical, group.as_ref());
            }
            drop(b);
            crate::compat::vacuum_delay_point();
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_vacuum(rel: pg_sys::Relation, params: *mut pg_sys::VacuumParams, strategy: pg_sys::BufferAccessStrategy) {
    // SAFETY: called by vacuum.c with the relation locked (ShareUpdateExclusiveLock) and valid
    // parameters; the horizons are computed here, after the lock is held.
    unsafe {
        let start = pg_sys::GetCurrentTimestamp();
        let crate::compat::VacuumCutoffs { oldest_xmin, freeze_limit, multi_cutoff } = crate::compat::vacuum_cutoffs(rel, params);
        let relid = (*rel).rd_id;

        // 0. Bulk loads: stamps every snapshot sees as committed are dropped; the rows of those
        // whose transaction aborted are all dead.
        let dead_ranges = settle_stamps(rel, oldest_xmin);

        // 1. Dead row versions (on overlays, the headers alone are judged).
        let mut dead = DeadRows(BTreeSet::new(), dead_ranges.iter().map(|e| e.first_row..e.end_row()).collect());
        for_each_header_page(rel, Lock::Share, |b, logical, _| {
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
                #[cfg(feature = "pg18")]
                heaprel: rel,
                analyze_only: false,
                report_progress: false,
                estimated_count: true,
                message_level: pg_sys::DEBUG2 as i32,
                num_heap_tuples: (*(*rel).rd_rel).reltuples as f64,
                strategy,
            };
            let mut stats = std::ptr::null_mut();
            if !dead.0.is_empty() || !dead.1.is_empty() {
                stats = pg_sys::index_bulk_delete(&mut info, stats, Some(is_dead), &mut dead as *mut DeadRows as *mut _);
            }
            let stats = pg_sys::index_vacuum_cleanup(&mut info, stats);
            if !stats.is_null() {
                pg_sys::pfree(stats as *mut _);
            }
        }
        let mut pool = space::FreePages::of(rel);
        for e in &dead_ranges {
            empty_dead(rel, e, &mut pool);
        }

        // 3. The dead versions themselves, and their space: the page is compacted and its
        // free space recorded, so that inserts reuse it (and the slots, whose index entries
        // are gone); a row group's row is marked gone in its overlay instead, for good.
        // 4. Freezing of the rest.
        for_each_header_page(rel, Lock::Exclusive, |b, logical, group| {
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
                    let tid = tuple::item_pointer(logical, slot as u16 + 1);
                    match group.and_then(|g| Some((g, g.position(logical, slot)?))) {
                        Some((g, position)) => {
                            let whole = g.form_row(rel, position, &c[r.clone()], tid, pg_sys::CurrentMemoryContext, super::group::Columns::All);
                            chains.extend(super::toast::chains_in(rel, whole.0));
                            whole.free();
                        }
                        None => chains.extend(super::toast::chains_in(rel, t.0)),
                    }
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
                    if group.is_some() {
                        delta::mark_gone(page, slot);
                    } else {
                        delta::remove(page, slot);
                    }
                }
                if !removed.is_empty() {
                    free = delta::compact(page);
                }
                drop(img);
                rec.finish();
            }
            if group.is_none() {
                pg_sys::RecordPageWithFreeSpace(rel, b.block(), free);
            }
            // The values the removed versions stored out of line go with them.
            for (first, _) in chains {
                super::toast::free(rel, first);
            }
        });
        pg_sys::vac_close_indexes(nindexes, indexes, pg_sys::NoLock as i32);

        // 5. Segments whose rows are all settled become row groups, and groups with many
        // overlays are written again (the rows with headers of their own were counted above;
        // the groups' rows without one are counted below).
        for e in store::segments(rel) {
            live -= fold(rel, &e, oldest_xmin, &mut pool) as f64;
        }
        merge_groups(rel, &mut pool);
        // 6. Groups move down into free runs, and free pages at the end are cut off.
        space::move_groups_down(rel, &mut pool);
        space::move_pages_down(rel, &mut pool);
        pg_sys::FreeSpaceMapVacuum(rel);
        space::truncate_free_tail(rel);
        live += store::segments(rel).iter().map(|e| group_rows(rel, e)).sum::<f64>();

        // 7. Statistics and horizons: every header older than the limits is now frozen.
        crate::compat::update_relstats(rel, rel::main_fork_blocks(rel), live, nindexes > 0, freeze_limit, multi_cutoff);
        crate::compat::report_vacuum(rel, live, start);
    }
}

/// The rows of the row group a folded segment became (counted live: they are all settled but
/// for those with a header of their own in an overlay, which were counted there).
fn group_rows(rel: pg_sys::Relation, e: &map::Entry) -> f64 {
    let sb = Buf::read(rel, e.page, Lock::Share);
    let c = sb.content_of(PageKind::Segment);
    if segment::state(c) != State::Folded {
        return 0.0;
    }
    let g = segment::group(c);
    let first = segment::first_block(c);
    let with_headers: usize = (0..segment::used(c))
        .filter(|&i| segment::page_of(c, i) != NO_BLOCK)
        .map(|i| {
            let o = Buf::read(rel, segment::page_of(c, i), Lock::Share);
            if !store::is_overlay_of(&o, first + i as u32) {
                return 0;
            }
            let oc = o.content_of(PageKind::Delta);
            (0..delta::slot_count(oc)).filter(|&s| delta::is_gone(oc, s) || matches!(delta::tuple(oc, s), Ok(Some(_)))).count()
        })
        .sum();
    g.rows as f64 - with_headers as f64
}

/// Whether a row version is settled: inserted by a transaction every snapshot sees as
/// committed, and neither deleted nor locked by one that might still matter. Such a row can be
/// described by the frozen stamp.
fn settled(t: &TupleCopy, oldest_xmin: pg_sys::TransactionId, b: &Buf) -> bool {
    if tuple::vacuum_state(t, oldest_xmin, b) != pg_sys::HTSV_Result::HEAPTUPLE_LIVE {
        return false;
    }
    let h = t.header();
    let infomask = h.t_infomask;
    // SAFETY: a stored tuple's header is a HeapTupleFields; plain xid and multixact checks.
    unsafe {
        let xmin = h.t_choice.t_heap.t_xmin;
        let frozen = infomask as u32 & pg_sys::HEAP_XMIN_FROZEN == pg_sys::HEAP_XMIN_FROZEN;
        if !frozen && !pg_sys::TransactionIdPrecedes(xmin, oldest_xmin) {
            return false;
        }
        if infomask as u32 & pg_sys::HEAP_XMAX_INVALID != 0 {
            return true;
        }
        let xmax = h.t_choice.t_heap.t_xmax;
        xmax::heap_xmax_is_locked_only(infomask)
            && if infomask as u32 & pg_sys::HEAP_XMAX_IS_MULTI != 0 {
                !pg_sys::MultiXactIdIsRunning(xmax, true)
            } else {
                !pg_sys::TransactionIdIsInProgress(xmax)
            }
    }
}

/// Folds the segment of map entry `e` into a row group when every row in it is settled (and,
/// for the open segment, when it holds enough of them: then it is closed, settled or not), or
/// rewrites its group when overlays
/// cover a tenth of its blocks and every row in it is settled: the rows are read, encoded and
/// written as a group (without the rows VACUUM marked gone); then, under the segment page's
/// exclusive lock (the gate every writer of the segment takes), nothing may have changed since
/// they were read, the segment page is pointed at the new group, and the delta or overlay pages
/// and old data pages are freed. Row numbers, and so TIDs and index entries, stay as they were.
/// Returns the rows folded that were counted as rows with headers of their own.
fn fold(rel: pg_sys::Relation, e: &map::Entry, oldest_xmin: pg_sys::TransactionId, pool: &mut space::FreePages) -> u32 {
    let sb = Buf::read(rel, e.page, Lock::Share);
    let state = segment::state(sb.content_of(PageKind::Segment));
    drop(sb);
    {
        // What a crash or an error left behind is freed first: data pages of a group never
        // linked, and delta pages of a fold.
        let sb = Buf::read(rel, e.page, Lock::Exclusive);
        space::free_pending(rel, &sb, pool);
        if state == State::Folded {
            free_pages(rel, &sb, pool, false);
        }
    }
    let sb = Buf::read(rel, e.page, Lock::Share);
    let c = sb.content_of(PageKind::Segment);
    let (first, used) = (segment::first_block(c), segment::used(c));
    let old = (state == State::Folded).then(|| segment::group(c));
    let overlays = (0..used).filter(|&i| segment::page_of(c, i) != NO_BLOCK).count();
    drop(sb);
    if used == 0 || (old.is_some() && (overlays == 0 || overlays * 10 < used)) {
        return 0;
    }
    // SAFETY: the current memory context is VACUUM's.
    let cxt = unsafe { pg_sys::CurrentMemoryContext };
    let mut rows = group::Fold::new(rel, first);
    let mut seen = Vec::with_capacity(used);
    let mut horizon = pg_sys::InvalidTransactionId;
    let (mut own_headers, mut unsettled, mut total) = (0u32, false, 0usize);
    for i in 0..used {
        let logical = first + i as u32;
        let Some(block) = store::read_block(rel, logical, Lock::Share) else {
            seen.push((NO_BLOCK, 0));
            continue;
        };
        let (page, print) = match &block {
            Block::Delta(b) => (b.block(), fingerprint(b)),
            Block::Group { overlay: Some(o), .. } => (o.block(), fingerprint(o)),
            Block::Group { .. } | Block::Reserved(_) => (NO_BLOCK, 0),
        };
        seen.push((page, print));
        rows::for_each(rel, logical, &block, cxt, None, super::group::Columns::All, |slot, t, b| {
            total += 1;
            if unsettled || !settled(&t, oldest_xmin, b) {
                unsettled = true;
            } else {
                // SAFETY: a stored tuple's header is a HeapTupleFields.
                horizon = tuple::later(horizon, unsafe { t.header().t_choice.t_heap.t_xmin });
                own_headers += (b.block() == page) as u32;
                rows.push(&t, logical, slot);
            }
            t.free();
        });
        drop(block);
        if unsettled && state != State::Open {
            return 0;
        }
        crate::compat::vacuum_delay_point();
    }
    let enough = total >= FOLD_MIN_ROWS.get().max(1) as usize;
    if unsettled {
        // An open segment that is big enough is closed now, so that rows stop coming and a
        // later VACUUM finds it settled (under steady inserts, the newest rows never are).
        if state == State::Open && enough {
            store::close_segment(rel, e.page);
        }
        return 0;
    }
    if state == State::Open && !enough {
        return 0;
    }
    let count = rows.rows() as u32;
    let stream = rows.finish();
    if state == State::Open {
        store::close_segment(rel, e.page);
    }
    let sb = Buf::read(rel, e.page, Lock::Exclusive);
    let c = sb.content_of(PageKind::Segment);
    let now = segment::state(c);
    if (now == State::Folded) != old.is_some() || now == State::Open || segment::used(c) != used || (old.is_some() && Some(segment::group(c)) != old) {
        return 0;
    }
    for (i, &(page, print)) in seen.iter().enumerate() {
        let entry = segment::page_of(c, i);
        let changed = if page == NO_BLOCK { entry != NO_BLOCK } else { entry != page || fingerprint(&Buf::read(rel, page, Lock::Share)) != print };
        if changed {
            // A row changed (or came) since it was read: the next VACUUM tries again.
            return 0;
        }
    }
    // The rows' inserts are now frozen: as heap's freeze records, this conflicts with standby
    // snapshots that could still see them as in progress.
    conflict::log_horizon(rel, horizon);
    let g = group::write(rel, &sb, &stream, first, used as u32, count, pool);
    if FAIL_FOLD.get() {
        pgrx::error!("omendb.columnar_fail_fold: the fold stops before linking its group");
    }
    let rec = WalRecord::start(rel);
    segment::fold(rec.register(&sb).content(), &g);
    rec.finish();
    free_pages(rel, &sb, pool, old.is_some());
    if let Some(old) = old {
        for p in old.data_blocks() {
            space::free_page(rel, &Buf::read(rel, p, Lock::Exclusive));
            pool.add(p);
        }
    }
    own_headers
}

/// A folded group that merging may take: settled whole (no stamp, no overlay: every row has
/// the frozen stamp) and nothing pending. Its segment page is locked by the caller.
fn mergeable(sb: &Buf) -> Option<columnar_core::group::Group> {
    let c = sb.content_of(PageKind::Segment);
    let plain = segment::state(c) == State::Folded
        && segment::stamp(c).is_none()
        && segment::pending(c).is_none()
        && (0..segment::used(c)).all(|i| segment::page_of(c, i) == NO_BLOCK);
    plain.then(|| segment::group(c))
}

/// Merges neighbouring row groups (map entries next to each other on one map page) whose rows
/// fit one full group when either is under half full: the small groups of a bulk load's first
/// reservations, or of short loads. Only groups whose rows all have the frozen stamp are taken,
/// so the rows are carried without headers; row numbers, so TIDs and index entries, stay.
fn merge_groups(rel: pg_sys::Relation, pool: &mut space::FreePages) {
    let mut entries = store::segments(rel);
    let mut i = 0;
    while i + 1 < entries.len() {
        match merge_pair(rel, &entries[i], &entries[i + 1], pool) {
            Some(merged) => {
                entries[i] = merged;
                entries.remove(i + 1);
            }
            None => i += 1,
        }
        crate::compat::vacuum_delay_point();
    }
    store::forget(rel);
}

/// Merges the group of entry `b` into the group of entry `a`, the range before it: the rows of
/// both are read and encoded as one group over `a`'s first block; then, under both segment
/// pages' exclusive locks (the gate every writer of a group's headers takes) and the map
/// page's, with nothing changed meanwhile, one WAL record points `a`'s segment at the new group,
/// widens `a`'s map entry over `b`'s range, removes `b`'s entry and frees `b`'s segment page. A
/// backend that cached `b`'s entry finds a free page there and reads the map again. Returns the
/// merged entry.
fn merge_pair(rel: pg_sys::Relation, a: &map::Entry, b: &map::Entry, pool: &mut space::FreePages) -> Option<map::Entry> {
    let (ga, gb) = {
        let (sa, sb) = (Buf::read(rel, a.page, Lock::Share), Buf::read(rel, b.page, Lock::Share));
        (mergeable(&sa)?, mergeable(&sb)?)
    };
    let (rows, half) = (ga.rows as usize + gb.rows as usize, super::bulk::GROUP_ROWS / 2);
    let a_blocks = (a.rows / rownum::ROWS_PER_BLOCK) as u32;
    let blocks = a_blocks + gb.blocks;
    if a.end_row() != b.first_row || rows > super::bulk::GROUP_ROWS || (ga.rows as usize >= half && gb.rows as usize >= half) || blocks as usize > segment::BLOCKS {
        return None;
    }
    let stream = match concatenated(rel, &ga, &gb, a_blocks) {
        Some(stream) => stream,
        None => {
            // SAFETY: the current memory context is VACUUM's.
            let cxt = unsafe { pg_sys::CurrentMemoryContext };
            let mut fold = group::Fold::new(rel, ga.first_block);
            for logical in (ga.first_block..ga.first_block + ga.blocks).chain(gb.first_block..gb.first_block + gb.blocks) {
                let Some(block) = store::read_block(rel, logical, Lock::Share) else { continue };
                rows::for_each(rel, logical, &block, cxt, None, super::group::Columns::All, |slot, t, _| {
                    fold.push(&t, logical, slot);
                    t.free();
                });
            }
            if fold.rows() != rows {
                return None;
            }
            fold.finish()
        }
    };
    // Found before the segment pages are locked (the metapage comes first in the lock order).
    let (map_block, i) = store::map_position(rel, a.first_row)?;
    let sa = Buf::read(rel, a.page, Lock::Exclusive);
    if mergeable(&sa) != Some(ga) {
        return None;
    }
    let g = group::write(rel, &sa, &stream, ga.first_block, blocks, rows as u32, pool);
    let sb = Buf::read(rel, b.page, Lock::Exclusive);
    let mb = Buf::read(rel, map_block, Lock::Exclusive);
    let listed = |k: usize, e: &map::Entry| map::entries(mb.content_of(PageKind::Map)).nth(k).is_some_and(|x| x.is_ok_and(|x| x == *e));
    if !(listed(i, a) && listed(i + 1, b) && mergeable(&sb) == Some(gb)) {
        // A writer changed a row meanwhile, or the entries are on two map pages: the new data
        // pages go.
        space::free_pending(rel, &sa, pool);
        return None;
    }
    let rec = WalRecord::start(rel);
    segment::merge(rec.register(&sa).content(), &g);
    map::merge_next(rec.register(&mb).content(), i);
    drop(rec.register_new(&sb, PageKind::Free));
    rec.finish();
    // SAFETY: an open relation and one of its pages, now free.
    unsafe { pg_sys::RecordPageWithFreeSpace(rel, b.page, super::toast::WHOLE_PAGE) };
    pool.add(b.page);
    drop((sb, mb));
    for p in ga.data_blocks().chain(gb.data_blocks()) {
        space::free_page(rel, &Buf::read(rel, p, Lock::Exclusive));
        pool.add(p);
    }
    Some(map::Entry { rows: a.rows + b.rows, ..*a })
}

/// The stream of groups `a` then `b` merged without decoding a vector, when `a`'s rows fill
/// whole vectors (a bulk load's reservations do) and both store the same columns: `b`'s
/// vectors follow `a`'s, and `b`'s offsets move past `a`'s range of `a_blocks` logical blocks.
fn concatenated(rel: pg_sys::Relation, a: &columnar_core::group::Group, b: &columnar_core::group::Group, a_blocks: u32) -> Option<Vec<u8>> {
    if !(a.rows as usize).is_multiple_of(columnar_core::encode::VECTOR_SIZE) {
        return None;
    }
    let (sa, sb) = (group::read_stream(rel, a, 0..a.stream_len as usize), group::read_stream(rel, b, 0..b.stream_len as usize));
    let corrupt = |g: &columnar_core::group::Group, why: &str| -> ! { crate::error::corrupted_page::<super::page::ColumnarPages>(rel, g.data_first, why) };
    let (pa, ra) = columnar_core::group::split(&sa, a.rows, a.blocks).unwrap_or_else(|e| corrupt(a, e.message()));
    let (pb, rb) = columnar_core::group::split(&sb, b.rows, b.blocks).unwrap_or_else(|e| corrupt(b, e.message()));
    let rg = columnar_core::rowgroup::concat(ra, rb).unwrap_or_else(|e| corrupt(b, e.message()))?;
    let shift = a_blocks * rownum::ROWS_PER_BLOCK as u32;
    let present = columnar_core::rowgroup::PresentSet::from_offsets(pa.iter().chain(pb.iter().map(|o| o + shift))).expect("offsets in order, within one range");
    Some(columnar_core::group::compose(&present, &rg))
}

/// What a fold checks to know that a delta page did not change since it read it: a hash of
/// its content (page LSNs do not move for relations without WAL).
fn fingerprint(b: &Buf) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    b.content_of(PageKind::Delta).hash(&mut h);
    h.finish()
}

/// Frees the delta pages (and with `overlays`, after a rewrite, the overlay pages) a folded
/// segment (its page `sb` exclusively locked) still names, three to a WAL record with the
/// segment page, whose entries become NO_BLOCK: a crash in between leaves delta pages the next
/// VACUUM, or the next overlay of the block, frees, and overlays whose headers are all settled
/// (the rows' values are the group's either way), which the next rewrite frees.
fn free_pages(rel: pg_sys::Relation, sb: &Buf, pool: &mut space::FreePages, overlays: bool) {
    let c = sb.content_of(PageKind::Segment);
    let first = segment::first_block(c);
    let entries: Vec<(usize, u32)> = (0..segment::used(c)).map(|i| (i, segment::page_of(c, i))).filter(|&(_, p)| p != NO_BLOCK).collect();
    for batch in entries.chunks(3) {
        let pages: Vec<(usize, Buf)> =
            batch.iter().map(|&(i, p)| (i, Buf::read(rel, p, Lock::Exclusive))).filter(|(i, b)| store::is_delta_of(b, first + *i as u32) || (overlays && store::is_overlay_of(b, first + *i as u32))).collect();
        if pages.is_empty() {
            continue;
        }
        let rec = WalRecord::start(rel);
        let mut seg = rec.register(sb);
        for (i, _) in &pages {
            segment::set_page(seg.content(), *i, NO_BLOCK);
        }
        drop(seg);
        for (_, b) in &pages {
            drop(rec.register_new(b, PageKind::Free));
        }
        rec.finish();
        for (_, b) in &pages {
            // SAFETY: an open relation and one of its pages, now free.
            unsafe { pg_sys::RecordPageWithFreeSpace(rel, b.block(), super::toast::WHOLE_PAGE) };
            pool.add(b.block());
        }
    }
    store::forget(rel);
}
