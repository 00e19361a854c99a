//! Index scans (as nbtsearch.c): every scan kind reads the tree the same way. The scan keys are
//! reduced to a sorted list of segments: disjoint code ranges (one, or one per `= ANY` array
//! element) and, where the keys admit NULLs, the NULL chain, which sorts last (NULLS LAST).
//! A range is read a data page at a time: under a share lock the page's matching entries are
//! copied into a batch, then the lock is released. Index-only scans and non-MVCC snapshots keep
//! the pin until the scan leaves the batch, so VACUUM (which takes a cleanup lock on every data
//! page) cannot remove entries they are still returning; plain MVCC scans drop it.
//!
//! Forward scans follow the right link remembered with the batch: entries a concurrent split
//! moved right after the batch was read were in the batch already. Backward scans descend again
//! to the entry just before the batch. A parallel scan's participants take whole pages from a
//! shared position instead (`parallel_scan`).

use super::keys::{KeyType, oid_of};
use super::{null_chain, parallel_scan, search};
use crate::index::page::Buf;
use crate::storage::prefetch::CpuPrefetch;
use crate::storage::{Lock, tid};
use alex_core::data::DataPage;
use alex_core::entry::Entry;
use alex_core::keys::{CodeRange, EqualCodes, Strategy};
use alex_core::nulls;
use alex_core::page::{NO_BLOCK, PageKind, node};
use alex_core::policy::FIRST_BATCH;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Segment {
    Range(CodeRange),
    Nulls,
}

/// The matching entries of one page, or of part of one (or the whole NULL chain), with what
/// lies beyond them.
pub(super) struct Batch {
    items: Vec<Entry>,
    pub is_null: bool,
    page: u32,
    /// The page's fences and right link when the batch was read.
    pub low: Entry,
    high: Option<Entry>,
    right: u32,
    /// Nothing of the segment lies left / right of this page.
    pub left_end: bool,
    right_end: bool,
    /// The items start after this entry: entries of the segment may precede them in this page.
    after: Option<Entry>,
    /// Entries of the segment follow the items in this same page (the batch stopped early).
    more_in_page: bool,
    /// How many items the batch was allowed to take.
    limit: usize,
    /// The page's pin, kept while the batch is returned when the scan needs it (see
    /// `keep_pins`).
    pin: Option<Buf>,
}

impl Batch {
    /// Where a forward scan of the segment goes on after this batch's page: its right sibling
    /// and the entry that must cover (the page's high fence); None at the segment's end.
    pub(super) fn right_of(&self) -> Option<(u32, Entry)> {
        match self.high {
            Some(high) if !self.right_end && self.right != NO_BLOCK => Some((self.right, high)),
            _ => None,
        }
    }
}

fn next_limit(limit: usize) -> usize {
    limit.saturating_mul(8)
}

#[derive(Clone)]
struct Position {
    seg: isize,
    batch: Option<Rc<Batch>>,
    pos: isize,
}

struct ScanState {
    key_type: KeyType,
    segments: Vec<Segment>,
    cur: Position,
    mark: Option<Position>,
    /// Whether the first amgettuple since the rescan has run (it counts the scan in pgstat and
    /// starts from the end its direction asks for).
    started: bool,
    /// What the scan counts in pgstat's idx_scan: as many as btree's primitive scans.
    primitive_scans: i64,
    /// Whether batches keep their page pinned: for index-only scans and non-MVCC snapshots,
    /// which must not return a TID that VACUUM may have removed and the heap reused meanwhile
    /// (VACUUM's cleanup lock waits for the pin). A plain MVCC scan drops it, as nbtree does: a
    /// reused TID holds a tuple too new for its snapshot. Then an idle cursor does not hold
    /// VACUUM up.
    keep_pins: bool,
    itup_cxt: pg_sys::MemoryContext,
    /// The batch the scan moved off last, unshared: its allocations serve the next batch (a
    /// nested loop rescans once per outer row).
    spare: Option<Rc<Batch>>,
}

/// Lets go of a batch the scan moved off: its pin is released now, and, unless a mark still
/// shares it, it becomes the spare.
fn retire(spare: &mut Option<Rc<Batch>>, batch: Option<Rc<Batch>>) {
    if let Some(mut rc) = batch {
        if let Some(b) = Rc::get_mut(&mut rc) {
            b.pin = None;
            *spare = Some(rc);
        }
    }
}

/// An empty item vector for a new batch: the spare's, when there is one.
fn spare_items(spare: &mut Option<Rc<Batch>>) -> Vec<Entry> {
    match spare.as_mut().and_then(Rc::get_mut) {
        Some(b) => {
            let mut items = std::mem::take(&mut b.items);
            items.clear();
            items
        }
        None => Vec::new(),
    }
}

/// `b` behind an `Rc`: the spare's allocation, when there is one.
fn wrap(spare: &mut Option<Rc<Batch>>, b: Batch) -> Rc<Batch> {
    match spare.take() {
        Some(mut rc) => match Rc::get_mut(&mut rc) {
            Some(slot) => {
                *slot = b;
                rc
            }
            None => Rc::new(b),
        },
        None => Rc::new(b),
    }
}

fn state<'a>(scan: pg_sys::IndexScanDesc) -> &'a mut ScanState {
    // SAFETY: opaque is the ScanState boxed in ambeginscan, freed only in amendscan.
    unsafe { &mut *((*scan).opaque as *mut ScanState) }
}

/// Index-only scans are offered only outside recovery. Their safety rests on the pin they keep
/// on the batch's page, which VACUUM's cleanup lock waits for; replay of VACUUM's generic WAL
/// record takes a plain exclusive lock, so on a hot standby the entries could be removed, the
/// heap tuples pruned and their pages marked all-visible while a scan still holds them, and the
/// scan would return rows deleted before its snapshot. A plain index scan checks the heap.
#[pg_guard]
pub unsafe extern "C-unwind" fn amcanreturn(_index: pg_sys::Relation, attno: i32) -> bool {
    // SAFETY: reads shared recovery state, valid in any backend.
    attno == 1 && !unsafe { pg_sys::RecoveryInProgress() }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(index: pg_sys::Relation, nkeys: i32, norderbys: i32) -> pg_sys::IndexScanDesc {
    // SAFETY: RelationGetIndexScan allocates the descriptor for an open index; the memory
    // context for index-only tuples is a child of the scan's context, reset per tuple.
    unsafe {
        let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
        let itup_cxt = pg_sys::AllocSetContextCreateExtended(
            pg_sys::CurrentMemoryContext,
            c"alex index-only tuples".as_ptr(),
            pg_sys::ALLOCSET_SMALL_MINSIZE as usize,
            pg_sys::ALLOCSET_SMALL_INITSIZE as usize,
            pg_sys::ALLOCSET_SMALL_MAXSIZE as usize,
        );
        let st = ScanState {
            key_type: KeyType::of_index(index),
            segments: Vec::new(),
            cur: Position { seg: -1, batch: None, pos: -1 },
            mark: None,
            started: false,
            primitive_scans: 1,
            keep_pins: true,
            itup_cxt,
            spare: None,
        };
        (*scan).opaque = Box::into_raw(Box::new(st)) as *mut std::ffi::c_void;
        (*scan).xs_itupdesc = (*index).rd_att;
        scan
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amrescan(scan: pg_sys::IndexScanDesc, keys: pg_sys::ScanKey, nkeys: i32, _orderbys: pg_sys::ScanKey, _norderbys: i32) {
    // SAFETY: keyData has room for the nkeys the scan was begun with; keys holds nkeys keys.
    unsafe {
        if !keys.is_null() && nkeys > 0 {
            std::ptr::copy(keys, (*scan).keyData, nkeys as usize);
        }
        let st = state(scan);
        let n = (*scan).numberOfKeys as usize;
        let key_slice = if n == 0 { &[][..] } else { std::slice::from_raw_parts((*scan).keyData, n) };
        st.primitive_scans = segments_for((*scan).indexRelation, st.key_type, key_slice, &mut st.segments);
        st.mark = None;
        retire(&mut st.spare, st.cur.batch.take());
        st.cur = Position { seg: -1, batch: None, pos: -1 };
        st.started = false;
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    // SAFETY: opaque was set in ambeginscan; after this the scan is not used again.
    unsafe {
        let st = Box::from_raw((*scan).opaque as *mut ScanState);
        pg_sys::MemoryContextDelete(st.itup_cxt);
        drop(st);
        (*scan).opaque = std::ptr::null_mut();
    }
}

/// Reduces the scan keys to the ordered segments to read, into `segs`. Returns the number of
/// scans btree would count in idx_scan for the same keys (PostgreSQL 15): one per combination of
/// the distinct non-NULL elements of `= ANY` arrays, none when an array has no such element, else
/// one.
fn segments_for(index: pg_sys::Relation, column: KeyType, keys: &[pg_sys::ScanKeyData], segs: &mut Vec<Segment>) -> i64 {
    segs.clear();
    let mut primitive_scans = 1i64;
    let mut range = CodeRange::ALL;
    let mut equal_sets: Option<Vec<EqualCodes>> = None;
    let (mut is_null, mut not_null, mut has_keys) = (false, false, false);
    for k in keys {
        let flags = k.sk_flags as u32;
        if flags & pg_sys::SK_ISNULL != 0 {
            if flags & pg_sys::SK_SEARCHNULL != 0 {
                is_null = true;
            } else if flags & pg_sys::SK_SEARCHNOTNULL != 0 {
                not_null = true;
            } else {
                // A comparison with NULL matches nothing.
                return primitive_scans;
            }
            continue;
        }
        has_keys = true;
        let strategy = Strategy::from_number(k.sk_strategy)
            .unwrap_or_else(|| error!("alex: unexpected strategy number {}", k.sk_strategy));
        let arg_oid = if k.sk_subtype == pg_sys::InvalidOid { oid_of(column) } else { k.sk_subtype };
        let arg_type = KeyType::from_oid(arg_oid).unwrap_or_else(|| error!("alex: unexpected argument type {}", super::keys::type_name(arg_oid)));
        if flags & pg_sys::SK_SEARCHARRAY != 0 {
            let mut codes = array_codes(index, column, k.sk_argument, arg_type);
            if codes.is_empty() {
                return 0;
            }
            codes.sort_unstable();
            codes.dedup();
            match strategy {
                Strategy::Equal => {
                    primitive_scans = primitive_scans.saturating_mul(codes.len() as i64);
                    codes.retain(|c| !c.is_empty());
                    equal_sets = Some(match equal_sets.take() {
                        None => codes,
                        Some(prev) => EqualCodes::intersect_sorted(&prev, &codes),
                    });
                }
                // `col < ANY(a)` holds when it holds for the largest element, and so on.
                Strategy::Less | Strategy::LessEqual => range.restrict(strategy, *codes.iter().max_by_key(|c| c.end).unwrap()),
                Strategy::Greater | Strategy::GreaterEqual => range.restrict(strategy, *codes.iter().min_by_key(|c| c.start).unwrap()),
            }
        } else {
            range.restrict(strategy, column.arg_codes(index, k.sk_argument, arg_type));
        }
    }
    if is_null {
        if !has_keys && !not_null {
            segs.push(Segment::Nulls);
        }
        return primitive_scans;
    }
    match equal_sets {
        Some(set) => {
            for eq in set {
                let mut r = range;
                r.restrict(Strategy::Equal, eq);
                if !r.empty {
                    segs.push(Segment::Range(r));
                }
            }
        }
        None if !range.empty => segs.push(Segment::Range(range)),
        None => {}
    }
    if !has_keys && !not_null {
        segs.push(Segment::Nulls);
    }
    primitive_scans
}

/// Where the non-NULL elements of an array argument fall among the column's codes.
fn array_codes(index: pg_sys::Relation, column: KeyType, arg: pg_sys::Datum, elem: KeyType) -> Vec<EqualCodes> {
    // SAFETY: an SK_SEARCHARRAY key's argument is an array of the operator's right type.
    unsafe {
        let arr = pg_sys::pg_detoast_datum(arg.cast_mut_ptr()) as *mut pg_sys::ArrayType;
        let elem_oid = oid_of(elem);
        let (mut typlen, mut typbyval, mut typalign) = (0i16, false, 0 as std::ffi::c_char);
        pg_sys::get_typlenbyvalalign(elem_oid, &mut typlen, &mut typbyval, &mut typalign);
        let mut values: *mut pg_sys::Datum = std::ptr::null_mut();
        let mut nulls: *mut bool = std::ptr::null_mut();
        let mut n = 0i32;
        pg_sys::deconstruct_array(arr, elem_oid, typlen as i32, typbyval, typalign, &mut values, &mut nulls, &mut n);
        (0..n as usize)
            .filter(|&i| !*nulls.add(i))
            .map(|i| column.arg_codes(index, *values.add(i), elem))
            .collect()
    }
}

/// Copies into a batch the entries of the locked data page `b` that fall in `r`, come after
/// `after` and before `before` (when given), at most `limit` of them, into `items` (empty).
pub(super) fn batch_of_page(b: Buf, r: &CodeRange, after: Option<Entry>, before: Option<Entry>, limit: usize, items: Vec<Entry>) -> Batch {
    let mut b = b;
    let mut items = items;
    let (low, high, right, left_end, right_end, more_in_page) = {
        let c = b.content_of(PageKind::Data);
        let p = DataPage::new(c).with_prefetch(CpuPrefetch);
        let mut s = p.seek(after.map_or(Entry::first_of(r.lo), Entry::successor));
        let mut more_in_page = false;
        while s < p.capacity() {
            let e = p.entry(s);
            if e.code > r.hi {
                break;
            }
            if items.len() >= limit || before.is_some_and(|x| e >= x) {
                more_in_page = true;
                break;
            }
            items.push(e);
            s = p.next_occupied(s + 1);
        }
        let right_end = match node::high(c) {
            None => true,
            Some(h) => h > Entry::last_of(r.hi),
        };
        let left_end = after.is_none() && node::low(c) <= Entry::first_of(r.lo);
        (node::low(c), node::high(c), node::right(c), left_end, right_end, more_in_page)
    };
    let page = b.block();
    b.unlock();
    Batch { items, is_null: false, page, low, high, right, left_end, right_end, after, more_in_page, limit, pin: Some(b) }
}

fn nulls_batch(rel: pg_sys::Relation) -> Batch {
    let mut items = Vec::new();
    let head = null_chain::first_page(rel, Lock::Share, |m| m.null_head).1;
    null_chain::for_each(rel, head, |_, c| items.extend(nulls::tids(c).into_iter().map(|t| Entry::new(0, t))));
    items.sort_unstable();
    Batch {
        items,
        is_null: true,
        page: NO_BLOCK,
        low: Entry::MIN,
        high: None,
        right: NO_BLOCK,
        left_end: true,
        right_end: true,
        after: None,
        more_in_page: false,
        limit: usize::MAX,
        pin: None,
    }
}

/// The first batch of a segment in the scan direction; forward, at most `limit` items.
pub(super) fn first_batch(rel: pg_sys::Relation, seg: &Segment, forward: bool, limit: usize, items: Vec<Entry>) -> Batch {
    match seg {
        Segment::Nulls => nulls_batch(rel),
        Segment::Range(r) if forward => batch_of_page(search::descend(rel, Entry::first_of(r.lo), 0, Lock::Share), r, None, None, limit, items),
        Segment::Range(r) => batch_of_page(search::descend(rel, Entry::last_of(r.hi), 0, Lock::Share), r, None, None, usize::MAX, items),
    }
}

/// The batch next to `b` in the scan direction within segment `seg`, if the segment goes on.
///
/// Forward, the rest of a batch's page is read again from its last item (entries a split moved
/// right since are then found through the page's current right link, and the `after` bound keeps
/// out what was returned already); then the right sibling. Pages are reached by remembered
/// links, which `search::settle` validates (the page may have been merged into its right sibling
/// or recycled since). Backward, the page holding the entry just before the batch is found anew
/// by a descent: left links are not followed, so no backward move can reach a deleted page.
fn adjacent_batch(rel: pg_sys::Relation, seg: &Segment, b: &Batch, forward: bool, items: Vec<Entry>) -> Option<Batch> {
    let Segment::Range(r) = seg else { return None };
    if forward {
        let resume = b.items.last().copied().or(b.after);
        let (next, target) = if b.more_in_page {
            (b.page, resume.map_or(Entry::first_of(r.lo), Entry::successor))
        } else {
            b.right_of()?
        };
        Some(batch_of_page(search::settle(rel, next, target, 0, Lock::Share), r, resume, None, next_limit(b.limit), items))
    } else {
        if b.after.is_none() && b.left_end {
            return None;
        }
        // The batch's items, or where it started, bound what comes before it.
        let bound = b.items.first().copied().or(b.after.map(Entry::successor)).unwrap_or(b.low);
        let target = bound.predecessor()?;
        Some(batch_of_page(search::descend(rel, target, 0, Lock::Share), r, None, Some(bound), usize::MAX, items))
    }
}

/// Makes `b` the current batch, positioned before its first item in the direction, and lets go
/// of `old`, the batch the scan moved off.
fn install(st: &mut ScanState, mut b: Batch, forward: bool, old: Option<Rc<Batch>>) {
    if !st.keep_pins {
        b.pin = None;
    }
    st.cur.pos = if forward { -1 } else { b.items.len() as isize };
    st.cur.batch = Some(wrap(&mut st.spare, b));
    retire(&mut st.spare, old);
}

/// Moves to the next entry in the direction; false at the end. A parallel scan (`shared`) takes
/// its batches from the shared position.
fn step(rel: pg_sys::Relation, st: &mut ScanState, forward: bool, mut shared: Option<&mut parallel_scan::Shared>) -> bool {
    let d: isize = if forward { 1 } else { -1 };
    loop {
        if let Some(b) = &st.cur.batch {
            let next = st.cur.pos + d;
            if next >= 0 && (next as usize) < b.items.len() {
                st.cur.pos = next;
                return true;
            }
        }
        if let Some(sh) = shared.as_deref_mut() {
            let items = spare_items(&mut st.spare);
            let next_batch = parallel_scan::next_batch(rel, sh, &st.segments, forward, items);
            let old = st.cur.batch.take();
            match next_batch {
                Some(nb) => install(st, nb, forward, old),
                None => {
                    retire(&mut st.spare, old);
                    return false;
                }
            }
            continue;
        }
        if let Some(b) = &st.cur.batch {
            let seg = st.segments[st.cur.seg as usize];
            let items = spare_items(&mut st.spare);
            let next_batch = adjacent_batch(rel, &seg, b, forward, items);
            let old = st.cur.batch.take();
            if let Some(nb) = next_batch {
                install(st, nb, forward, old);
                continue;
            }
            retire(&mut st.spare, old);
        }
        let nseg = st.cur.seg + d;
        if nseg < 0 || nseg as usize >= st.segments.len() {
            st.cur.seg = if forward { st.segments.len() as isize } else { -1 };
            return false;
        }
        st.cur.seg = nseg;
        let items = spare_items(&mut st.spare);
        let b = first_batch(rel, &st.segments[nseg as usize], forward, FIRST_BATCH, items);
        install(st, b, forward, None);
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(scan: pg_sys::IndexScanDesc, direction: pg_sys::ScanDirection::Type) -> bool {
    // SAFETY: scan was begun by ambeginscan and rescanned by amrescan.
    unsafe {
        let rel = (*scan).indexRelation;
        let st = state(scan);
        let forward = direction != pg_sys::ScanDirection::BackwardScanDirection;
        if !st.started {
            let snapshot = (*scan).xs_snapshot;
            let mvcc = !snapshot.is_null()
                && matches!((*snapshot).snapshot_type, pg_sys::SnapshotType::SNAPSHOT_MVCC | pg_sys::SnapshotType::SNAPSHOT_HISTORIC_MVCC);
            st.keep_pins = (*scan).xs_want_itup || !mvcc;
            crate::compat::count_index_scans(scan, st.primitive_scans);
            st.cur.seg = if forward { -1 } else { st.segments.len() as isize };
            st.started = true;
        }
        if !step(rel, st, forward, parallel_scan::shared_of(scan)) {
            return false;
        }
        let b = st.cur.batch.as_ref().unwrap();
        let e = b.items[st.cur.pos as usize];
        (*scan).xs_heaptid = tid::item_pointer(e.tid);
        (*scan).xs_recheck = false;
        if (*scan).xs_want_itup {
            pg_sys::MemoryContextReset(st.itup_cxt);
            let old = pg_sys::MemoryContextSwitchTo(st.itup_cxt);
            let mut value = if b.is_null { pg_sys::Datum::from(0) } else { st.key_type.decode(e.code) };
            let mut isnull = b.is_null;
            (*scan).xs_itup = pg_sys::index_form_tuple((*rel).rd_att, &mut value, &mut isnull);
            pg_sys::MemoryContextSwitchTo(old);
        }
        true
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amgetbitmap(scan: pg_sys::IndexScanDesc, tbm: *mut pg_sys::TIDBitmap) -> i64 {
    // SAFETY: as in amgettuple; tbm is the executor's bitmap.
    unsafe {
        let rel = (*scan).indexRelation;
        let st = state(scan);
        crate::compat::count_index_scans(scan, st.primitive_scans);
        let mut n = 0i64;
        st.cur = Position { seg: -1, batch: None, pos: -1 };
        while step(rel, st, true, None) {
            let b = st.cur.batch.as_ref().unwrap();
            // Add the rest of the batch at once.
            for e in &b.items[st.cur.pos as usize..] {
                let mut tid = tid::item_pointer(e.tid);
                pg_sys::tbm_add_tuples(tbm, &mut tid, 1, false);
                n += 1;
            }
            st.cur.pos = b.items.len() as isize - 1;
        }
        st.cur = Position { seg: -1, batch: None, pos: -1 };
        n
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ammarkpos(scan: pg_sys::IndexScanDesc) {
    let st = state(scan);
    st.mark = Some(st.cur.clone());
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amrestrpos(scan: pg_sys::IndexScanDesc) {
    let st = state(scan);
    if let Some(m) = &st.mark {
        st.cur = m.clone();
    }
}
