//! SQL functions that look inside an alex index: `alex_check` (an executable statement of the
//! invariants in the design document, like contrib/amcheck) and `alex_stats`.

use crate::index::keys::KeyType;
use crate::index::{meta, null_chain, search};
use crate::index::page::Buf;
use crate::storage::{Lock, rel, tid};
use alex_core::data::{self, DataPage};
use alex_core::entry::{Entry, PackedTid};
use alex_core::inner::{self, InnerPage};
use alex_core::nulls;
use alex_core::page::{BLCKSZ, NO_BLOCK, PageKind, node};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgRelation;
use std::collections::HashSet;

fn corrupted(index: &PgRelation, msg: String) -> ! {
    crate::error::raise(PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED, format!("alex index \"{}\" is corrupted: {msg}", index.name()), Some("REINDEX the index."))
}

/// ERRORs unless `index` is an alex index.
fn require_alex(index: &PgRelation, verb: &str) {
    // SAFETY: an open relation; get_am_oid ERRORs if the access method is missing.
    let (relam, relkind, am) = unsafe {
        let rd_rel = (*index.as_ptr()).rd_rel;
        ((*rd_rel).relam, (*rd_rel).relkind, pg_sys::get_am_oid(c"alex".as_ptr(), false))
    };
    if relkind != pg_sys::RELKIND_INDEX as std::ffi::c_char || relam != am {
        crate::error::raise(PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, format!("\"{}\" is not an alex index", index.name()), None);
    }
    // An index whose build failed (CREATE INDEX CONCURRENTLY) or is still running has no
    // complete tree to look at; as amcheck, refuse it rather than report it corrupted.
    // SAFETY: rd_index is set for an open index.
    if !unsafe { (*(*index.as_ptr()).rd_index).indisvalid } {
        crate::error::raise_with_detail(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("cannot {verb} index \"{}\"", index.name()),
            Some("Index is not valid."),
            Some("REINDEX the index once the cause of its failed build is removed, or drop it."),
        );
    }
}

/// Per-level walk results.
#[derive(Default)]
struct Census {
    height: u16,
    pages_by_level: Vec<usize>,
    entries: usize,
    slots: usize,
    /// Data pages whose keys are stored as indexes into a dictionary of their codes.
    dictionary_pages: usize,
    null_pages: usize,
    null_entries: usize,
    data_error_sum: f64,
    data_error_max: usize,
    inner_error_sum: f64,
    inner_error_max: usize,
    inner_pages: usize,
    /// Deleted and never-initialised pages.
    free_pages: usize,
    /// Pages no separator names (reached through their left sibling's right link): splits
    /// whose post is in progress, or was lost in a crash, until an insert repairs it.
    unposted_pages: usize,
    null_tids: HashSet<PackedTid>,
}

/// Walks every level left to right and counts. With `check` (the caller keeps writers out), it
/// also checks each page and the links, fences and separators between pages, descends to each
/// data page's first entry, and checks that every page outside the levels is free, raising
/// index_corrupted at the first violation. Without it (alex_stats, while the index may change)
/// it checks nothing: it steps over pages deleted while it walks and ends a level early at a page
/// it cannot follow, so the counts are approximate under concurrent changes, as pgstatindex's.
fn walk(index: &PgRelation, check: bool, collect_nulls: bool) -> Census {
    let rel = index.as_ptr();
    let violation = |msg: String| {
        if check {
            corrupted(index, msg)
        }
    };
    let m = meta::read(&Buf::read(rel, meta::META_BLOCK, Lock::Share));
    let mut census = Census { height: m.root_level, pages_by_level: vec![0; m.root_level as usize + 1], ..Default::default() };
    // The leftmost page of each level: the root, then each leftmost page's first child.
    let mut leftmost = m.root;
    let mut linked = HashSet::from([meta::META_BLOCK]);
    let mut named = HashSet::from([m.root]);
    for level in (0..=m.root_level).rev() {
        let mut named_below = HashSet::new();
        let mut blk = leftmost;
        let mut prev: Option<(u32, Option<Entry>)> = None;
        let mut next_leftmost = NO_BLOCK;
        while blk != NO_BLOCK {
            let b = Buf::read(rel, blk, Lock::Share);
            let kind = if level == 0 { PageKind::Data } else { PageKind::Inner };
            if !check {
                let k = b.kind();
                if k == PageKind::Data && node::is_deleted(b.content_of(k)) {
                    blk = node::right(b.content_of(k));
                    continue;
                }
                if k != kind || node::level(b.content_of(k)) != level {
                    break;
                }
            }
            if b.kind() != kind {
                corrupted(index, format!("block {blk} at level {level} is a {:?} page", b.kind()));
            }
            let c = b.content_of(kind);
            let h = node::Header::read(c);
            if h.level != level {
                violation(format!("block {blk} has level {} but is linked at level {level}", h.level));
            }
            if node::is_deleted(c) {
                violation(format!("deleted block {blk} is still linked at level {level}"));
            }
            linked.insert(blk);
            if !named.contains(&blk) {
                census.unposted_pages += 1;
            }
            if check {
                if let Err(msg) = if level == 0 { data::check(c) } else { inner::check(c) } {
                    corrupted(index, format!("block {blk}: {msg}"));
                }
            }
            match prev {
                None => {
                    if h.low != Entry::MIN || h.left != NO_BLOCK {
                        violation(format!("leftmost block {blk} of level {level} has a low fence or left link"));
                    }
                }
                Some((pblk, phigh)) => {
                    if phigh != Some(h.low) {
                        violation(format!("block {blk}'s low fence differs from the high fence of its left neighbour {pblk}"));
                    }
                    if h.left != pblk {
                        violation(format!("block {blk}'s left link is {} but its left neighbour is {pblk}", h.left));
                    }
                }
            }
            if level == 0 {
                let p = DataPage::new(c);
                census.entries += p.count();
                census.slots += p.capacity();
                census.dictionary_pages += usize::from(p.encoding().dict_len > 0);
                let (mean, max) = p.model_error();
                census.data_error_sum += mean * p.count() as f64;
                census.data_error_max = census.data_error_max.max(max);
                if check && p.count() > 0 {
                    let first = p.entry(p.next_occupied(0));
                    let found = search::descend_tree(rel, first, 0, Lock::Share).block();
                    if found != blk {
                        corrupted(index, format!("a descent for the first entry of block {blk} ends at block {found}"));
                    }
                }
            } else {
                let p = InnerPage::new(c);
                if next_leftmost == NO_BLOCK {
                    next_leftmost = p.child(0);
                }
                named_below.extend((0..p.count()).map(|i| p.child(i)));
                // Each separator is its child's low fence (read with this page locked: only
                // when writers are kept out).
                if check {
                    let ck = if level == 1 { PageKind::Data } else { PageKind::Inner };
                    for i in 0..p.count() {
                        let child = Buf::read(rel, p.child(i), Lock::Share);
                        if child.kind() != ck {
                            corrupted(index, format!("block {blk} separator {i} points to a {:?} page", child.kind()));
                        }
                        let cc = child.content_of(ck);
                        if node::low(cc) != p.separator(i) || node::level(cc) + 1 != level {
                            corrupted(index, format!("block {blk} separator {i} differs from the low fence of child {}", p.child(i)));
                        }
                    }
                }
                let (mean, max) = p.model_error();
                census.inner_error_sum += mean;
                census.inner_error_max = census.inner_error_max.max(max);
                census.inner_pages += 1;
            }
            census.pages_by_level[level as usize] += 1;
            if h.right == NO_BLOCK && h.high.is_some() {
                violation(format!("rightmost block {blk} of level {level} has a high fence"));
            }
            prev = Some((blk, h.high));
            blk = h.right;
        }
        if prev.map(|p| p.1).flatten().is_some() {
            violation(format!("level {level} does not end with an infinite high fence"));
        }
        leftmost = next_leftmost;
        named = named_below;
    }
    // The NULL chain, walked as scans walk it (so alex_stats never follows a link to a page
    // VACUUM unlinked meanwhile).
    let mut last = NO_BLOCK;
    let mut fill_in_chain = false;
    let head = null_chain::first_page(rel, Lock::Share, |m| m.null_head).1;
    null_chain::for_each(rel, head, |blk, c| {
        linked.insert(blk);
        fill_in_chain |= blk == m.null_fill;
        census.null_pages += 1;
        census.null_entries += nulls::count(c);
        if collect_nulls {
            census.null_tids.extend(nulls::tids(c));
        }
        last = blk;
    });
    if last != m.null_tail {
        violation(format!("the NULL chain ends at block {last}, the metapage says {}", m.null_tail));
    }
    if m.null_fill != NO_BLOCK && !fill_in_chain {
        violation(format!("the NULL chain's fill hint, block {}, is not in the chain", m.null_fill));
    }
    // Every other block is free: deleted (merged into its right sibling) or never initialised.
    // SAFETY: an open relation.
    let nblocks = unsafe { pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM) };
    for blk in (0..nblocks).filter(|b| !linked.contains(b)) {
        census.free_pages += 1;
        if check {
            let b = Buf::read(rel, blk, Lock::Share);
            let deleted = !b.is_new() && b.kind() == PageKind::Data && node::is_deleted(b.content_of(PageKind::Data));
            if !b.is_new() && !(deleted && node::count(b.content_of(PageKind::Data)) == 0) {
                corrupted(index, format!("block {blk} is in no level and not a free page"));
            }
        }
    }
    census
}

struct HeapCheck<'a> {
    index: &'a PgRelation,
    key_type: KeyType,
    nulls: HashSet<PackedTid>,
    checked: u64,
}

#[pg_guard]
unsafe extern "C-unwind" fn heap_check_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    tuple_is_alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: state is the HeapCheck below; values/isnull/tid describe one heap tuple.
    unsafe {
        let st = &mut *(state as *mut HeapCheck);
        if !tuple_is_alive {
            return;
        }
        let t = tid::pack(&*tid);
        st.checked += 1;
        if *isnull {
            if !st.nulls.contains(&t) {
                corrupted(st.index, format!("heap tuple {t:#x} with a NULL key is missing from the index"));
            }
            return;
        }
        let e = Entry::new(st.key_type.encode(*values), t);
        let rel = st.index.as_ptr();
        let b = search::descend(rel, e, 0, Lock::Share);
        let p = DataPage::new(b.content_of(PageKind::Data));
        let s = p.seek(e);
        if s >= p.capacity() || p.entry(s) != e {
            corrupted(st.index, format!("heap tuple (block {}, offset {}) is missing from the index", t >> 16, t & 0xffff));
        }
    }
}

/// Verifies the structure of an alex index; with `heapallindexed`, also that every live heap
/// tuple has its entry. Returns true or raises index_corrupted naming the first violation.
/// Takes ShareLock on the index and its table (writes wait while it runs); on a hot standby,
/// AccessShareLock.
#[pg_extern(volatile, parallel_unsafe)]
fn alex_check(index: PgRelation, heapallindexed: default!(bool, false)) -> bool {
    require_alex(&index, "check");
    // SAFETY: lock the index and its table against writers for a consistent picture. A hot
    // standby allows no ShareLock; there the pages change only by replay.
    let heap_oid = unsafe {
        let mode = if pg_sys::RecoveryInProgress() { pg_sys::AccessShareLock } else { pg_sys::ShareLock } as i32;
        pg_sys::LockRelationOid(index.oid(), mode);
        let h = pg_sys::IndexGetRelation(index.oid(), false);
        pg_sys::LockRelationOid(h, mode);
        h
    };
    let census = walk(&index, true, heapallindexed);
    if heapallindexed {
        let mut st = HeapCheck { index: &index, key_type: KeyType::of_index(index.as_ptr()), nulls: census.null_tids, checked: 0 };
        // SAFETY: as amcheck does: an MVCC snapshot scan of the table, feeding every visible
        // tuple to the callback; the scan is ended by index_build_range_scan.
        unsafe {
            let heap = pg_sys::table_open(heap_oid, pg_sys::AccessShareLock as i32);
            let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot());
            let flags = pg_sys::ScanOptions::SO_TYPE_SEQSCAN | pg_sys::ScanOptions::SO_ALLOW_STRAT | pg_sys::ScanOptions::SO_ALLOW_SYNC | pg_sys::ScanOptions::SO_ALLOW_PAGEMODE;
            let am = (*heap).rd_tableam;
            let scan = (*am).scan_begin.unwrap()(heap, snapshot, 0, std::ptr::null_mut(), std::ptr::null_mut(), flags);
            let info = pg_sys::BuildIndexInfo(index.as_ptr());
            (*info).ii_Concurrent = true;
            rel::index_build_scan(heap, index.as_ptr(), info, false, Some(heap_check_callback), &mut st, scan);
            pg_sys::UnregisterSnapshot(snapshot);
            pg_sys::table_close(heap, pg_sys::AccessShareLock as i32);
        }
    }
    true
}

/// Describes an alex index: one row per statistic.
#[pg_extern(volatile, parallel_safe)]
fn alex_stats(index: PgRelation) -> TableIterator<'static, (name!(stat, String), name!(value, f64))> {
    require_alex(&index, "describe");
    let c = walk(&index, false, false);
    // SAFETY: an open relation.
    let nblocks = unsafe { pg_sys::RelationGetNumberOfBlocksInFork(index.as_ptr(), pg_sys::ForkNumber::MAIN_FORKNUM) } as f64;
    let all_entries = (c.entries + c.null_entries) as f64;
    let rows = vec![
        ("height", c.height as f64 + 1.0),
        ("pages", nblocks),
        ("meta_pages", 1.0),
        ("model_pages", c.pages_by_level[1..].iter().sum::<usize>() as f64),
        ("data_pages", c.pages_by_level[0] as f64),
        ("dictionary_pages", c.dictionary_pages as f64),
        ("null_pages", c.null_pages as f64),
        ("free_pages", c.free_pages as f64),
        ("unposted_pages", c.unposted_pages as f64),
        ("entries", c.entries as f64),
        ("null_entries", c.null_entries as f64),
        ("avg_density", if c.slots == 0 { 0.0 } else { c.entries as f64 / c.slots as f64 }),
        ("data_model_error_mean", if c.entries == 0 { 0.0 } else { c.data_error_sum / c.entries as f64 }),
        ("data_model_error_max", c.data_error_max as f64),
        ("model_page_error_mean", if c.inner_pages == 0 { 0.0 } else { c.inner_error_sum / c.inner_pages as f64 }),
        ("model_page_error_max", c.inner_error_max as f64),
        ("bytes_per_entry", if all_entries == 0.0 { 0.0 } else { nblocks * BLCKSZ as f64 / all_entries }),
    ];
    TableIterator::new(rows.into_iter().map(|(k, v)| (k.to_string(), v)))
}

// Like amcheck's functions, these lock the table and read every page of the index: only roles
// granted them may run them.
extension_sql!(
    "REVOKE ALL ON FUNCTION alex_check(regclass, boolean) FROM PUBLIC;\nREVOKE ALL ON FUNCTION alex_stats(regclass) FROM PUBLIC;\n",
    name = "revoke_inspection_functions",
    requires = [alex_check, alex_stats]
);
