//! Scans that visit the logical blocks in order: sequential (and parallel), TID range, sample
//! and index builds; bitmap scans, which visit the logical blocks a bitmap names; and ANALYZE,
//! which samples pages of the file and visits the logical blocks each holds.
//!
//! A scan works a logical block at a time: it copies the row versions of the block that pass
//! its test (visibility under its snapshot, or a VACUUM verdict for builds and ANALYZE) while
//! the pages holding them are share-locked, into a memory context reset for each block, and
//! returns them from there. Each block is looked up when it is visited, so a fold that
//! replaces a segment by a row group while the scan runs neither hides nor repeats a row.

use super::group::Columns;
use super::page::Buf;
use super::tuple::{self, TupleCopy};
use super::{rows, store};
use crate::storage::{Lock, rel};
use columnar_core::layout::{FLAG_OVERLAY, PageKind, Special};
use columnar_core::{delta, rownum};
use pgrx::pg_sys;
use pgrx::prelude::*;

const MAX_ROWS: usize = delta::MAX_SLOTS;

/// What decides which tuples of a page a scan returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Test {
    /// Visible to the scan's snapshot.
    Snapshot,
    /// ANALYZE: live rows are returned, live and dead ones counted (as heapam's analyze).
    Analyze,
    /// CREATE INDEX: every row that some snapshot may still see.
    Build,
}

/// The scan descriptor. PostgreSQL sees its first field; it is palloc'd, so an ERROR that skips
/// `scan_end` leaks nothing outside the query's memory.
#[repr(C)]
pub struct ColumnarScan {
    base: pg_sys::TableScanDescData,
    test: Test,
    oldest_xmin: pg_sys::TransactionId,
    /// Logical blocks when the scan began, and the next one to visit.
    nblocks: u32,
    next_block: u32,
    /// Whether a sequential scan has begun (at the first block, or the last when backward).
    started: bool,
    parallel_started: bool,
    worker: pg_sys::ParallelBlockTableScanWorkerData,
    /// Row-number bounds of a TID range scan.
    min_row: u64,
    max_row: u64,
    /// The page being returned: its block, tuples, their slots and whether each is alive
    /// (for builds).
    cxt: pg_sys::MemoryContext,
    page_block: u32,
    page_slots: usize,
    n: usize,
    pos: usize,
    rows: [pg_sys::HeapTuple; MAX_ROWS],
    slots: [u16; MAX_ROWS],
    alive: [bool; MAX_ROWS],
    live_seen: f64,
    dead_seen: f64,
    /// ANALYZE: the logical blocks of the sampled page still to visit, and the delta page that
    /// must still hold the first (a page freed by a fold holds no rows).
    analyze_next: u32,
    analyze_end: u32,
    analyze_page: Option<u32>,
    /// The columns a bitmap scan's rows carry (`scan_setup.rs`): `columns_len` flags in the
    /// query's memory, or all when null; and those of rows the bitmap's original clauses do
    /// not recheck (`block_rechecked` false), without the columns only those clauses read.
    columns: *const bool,
    unrechecked_columns: *const bool,
    columns_len: usize,
    block_rechecked: bool,
}

pub unsafe fn begin(rel: pg_sys::Relation, snapshot: pg_sys::Snapshot, pscan: pg_sys::ParallelTableScanDesc, flags: u32) -> *mut ColumnarScan {
    // SAFETY: palloc0 returns zeroed memory of the requested size in the current context,
    // which outlives the scan; every field is valid zeroed, then set below.
    unsafe {
        let s = pg_sys::palloc0(std::mem::size_of::<ColumnarScan>()) as *mut ColumnarScan;
        (*s).base.rs_rd = rel;
        (*s).base.rs_snapshot = snapshot;
        (*s).base.rs_parallel = pscan;
        (*s).base.rs_flags = flags;
        (*s).test = if flags & pg_sys::ScanOptions::SO_TYPE_ANALYZE != 0 { Test::Analyze } else { Test::Snapshot };
        (*s).cxt = pg_sys::AllocSetContextCreateInternal(pg_sys::CurrentMemoryContext, c"columnar scan".as_ptr(), 0, 8 * 1024, 8 * 1024 * 1024);
        (*s).max_row = u64::MAX;
        if flags & pg_sys::ScanOptions::SO_TEMP_SNAPSHOT != 0 {
            // The snapshot is ours to release at the end (table_beginscan_catalog etc. pass it).
        }
        let whole_relation = pg_sys::ScanOptions::SO_TYPE_SEQSCAN | pg_sys::ScanOptions::SO_TYPE_SAMPLESCAN | pg_sys::ScanOptions::SO_TYPE_TIDRANGESCAN;
        if flags & whole_relation != 0 && !snapshot.is_null() {
            super::serializable::lock_relation(rel, snapshot);
        }
        restart(s);
        s
    }
}

unsafe fn restart(s: *mut ColumnarScan) {
    // SAFETY: a scan made by `begin`.
    unsafe {
        (*s).nblocks = logical_blocks((*s).base.rs_rd);
        (*s).next_block = 0;
        (*s).started = false;
        (*s).parallel_started = false;
        (*s).n = 0;
        (*s).pos = 0;
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_begin(
    rel: pg_sys::Relation,
    snapshot: pg_sys::Snapshot,
    _nkeys: i32,
    _key: *mut pg_sys::ScanKeyData,
    pscan: pg_sys::ParallelTableScanDesc,
    flags: u32,
) -> pg_sys::TableScanDesc {
    // SAFETY: called by PostgreSQL with an open relation.
    unsafe { begin(rel, snapshot, pscan, flags) as pg_sys::TableScanDesc }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_end(scan: pg_sys::TableScanDesc) {
    let s = scan as *mut ColumnarScan;
    // SAFETY: a scan made by `begin`; its memory context and descriptor are ours to free.
    unsafe {
        if (*s).base.rs_flags & pg_sys::ScanOptions::SO_TEMP_SNAPSHOT != 0 {
            pg_sys::UnregisterSnapshot((*s).base.rs_snapshot);
        }
        pg_sys::MemoryContextDelete((*s).cxt);
        pg_sys::pfree(s as *mut _);
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_rescan(
    scan: pg_sys::TableScanDesc,
    _key: *mut pg_sys::ScanKeyData,
    _set_params: bool,
    _allow_strat: bool,
    _allow_sync: bool,
    _allow_pagemode: bool,
) {
    // SAFETY: a scan made by `begin`.
    unsafe { restart(scan as *mut ColumnarScan) }
}

/// Makes the rows of bitmap scan `scan` (of a columnar table) carry only the columns flagged
/// in `columns`, or in `unrechecked` for rows the bitmap's original clauses do not recheck.
///
/// # Safety
/// `scan` was made by `begin`; the flags (as many of each) outlive it (the query's memory).
pub unsafe fn set_columns(scan: pg_sys::TableScanDesc, columns: &[bool], unrechecked: &[bool]) {
    let s = scan as *mut ColumnarScan;
    debug_assert_eq!(columns.len(), unrechecked.len());
    // SAFETY: per the contract.
    unsafe {
        (*s).columns = columns.as_ptr();
        (*s).unrechecked_columns = unrechecked.as_ptr();
        (*s).columns_len = columns.len();
    }
}

/// The logical blocks of the table: every row number handed out so far.
fn logical_blocks(rel: pg_sys::Relation) -> u32 {
    store::read_meta(rel).map_or(0, |m| m.next_row.div_ceil(rownum::ROWS_PER_BLOCK) as u32)
}

/// Loads the row versions of logical block `logical` that pass the scan's test (`only` lists
/// the offsets a bitmap wants); `page`, when given, is the delta page that must hold them.
unsafe fn load_block(s: *mut ColumnarScan, logical: u32, only: Option<&[u16]>, page: Option<u32>) {
    // SAFETY: a scan made by `begin`; the relation is open for its whole life, and the
    // columns set_columns gave live in the query's memory, which outlives the scan.
    unsafe {
        let rel = (*s).base.rs_rd;
        pg_sys::MemoryContextReset((*s).cxt);
        (*s).n = 0;
        (*s).pos = 0;
        (*s).page_slots = 0;
        (*s).page_block = logical;
        let Some(block) = store::read_block(rel, logical, Lock::Share) else { return };
        if let (Some(p), store::Block::Delta(b)) = (page, &block) {
            if b.block() != p {
                return;
            }
        }
        (*s).page_slots = match &block {
            store::Block::Delta(b) => delta::slot_count(b.content_of(PageKind::Delta)),
            store::Block::Group { .. } => delta::MAX_SLOTS,
            store::Block::Reserved(_) => 0,
        };
        let flags = if (*s).block_rechecked || (*s).unrechecked_columns.is_null() { (*s).columns } else { (*s).unrechecked_columns };
        let columns = if flags.is_null() { Columns::All } else { Columns::Only(std::slice::from_raw_parts(flags, (*s).columns_len)) };
        rows::for_each(rel, logical, &block, (*s).cxt, only, columns, |slot, t, b| {
            let row = logical as u64 * rownum::ROWS_PER_BLOCK + slot as u64;
            if row < (*s).min_row || row > (*s).max_row {
                return;
            }
            let (keep, alive) = match (*s).test {
                Test::Snapshot => {
                    // Bitmap scans lock the rows they return; the others locked the relation.
                    let lock = (*s).base.rs_flags & pg_sys::ScanOptions::SO_TYPE_BITMAPSCAN != 0;
                    (super::serializable::read_visible(rel, &t, (*s).base.rs_snapshot, b, lock), true)
                }
                Test::Analyze => {
                    let live = analyze_verdict(&t, (*s).oldest_xmin, b);
                    if live { (*s).live_seen += 1.0 } else { (*s).dead_seen += 1.0 }
                    (live, true)
                }
                Test::Build => build_verdict(&t, (*s).oldest_xmin, b),
            };
            if keep {
                let i = (*s).n;
                (*s).rows[i] = t.0;
                (*s).slots[i] = slot as u16 + 1;
                (*s).alive[i] = alive;
                (*s).n += 1;
            }
        });
    }
}

/// heapam's ANALYZE rule: live, or inserted by this transaction, or being deleted by another.
fn analyze_verdict(t: &TupleCopy, oldest_xmin: pg_sys::TransactionId, b: &Buf) -> bool {
    use pg_sys::HTSV_Result::*;
    match tuple::vacuum_state(t, oldest_xmin, b) {
        HEAPTUPLE_LIVE => true,
        HEAPTUPLE_DEAD | HEAPTUPLE_RECENTLY_DEAD => false,
        // SAFETY: a valid header copy.
        HEAPTUPLE_INSERT_IN_PROGRESS => unsafe { pg_sys::TransactionIdIsCurrentTransactionId(t.header().t_choice.t_heap.t_xmin) },
        // SAFETY: as above.
        HEAPTUPLE_DELETE_IN_PROGRESS => unsafe { !pg_sys::TransactionIdIsCurrentTransactionId(tuple::update_xid(t.header())) },
        _ => false,
    }
}

/// CREATE INDEX's rule (as heapam's build scan): index every row some snapshot may still see;
/// the second value says whether it is alive (a unique index checks only those).
fn build_verdict(t: &TupleCopy, oldest_xmin: pg_sys::TransactionId, b: &Buf) -> (bool, bool) {
    use pg_sys::HTSV_Result::*;
    match tuple::vacuum_state(t, oldest_xmin, b) {
        HEAPTUPLE_DEAD => (false, false),
        HEAPTUPLE_LIVE | HEAPTUPLE_INSERT_IN_PROGRESS => (true, true),
        HEAPTUPLE_RECENTLY_DEAD => (true, false),
        // SAFETY: a valid header copy. Deleted by this transaction: not alive; by another
        // (possible only under a lock weaker than CREATE INDEX's ShareLock): alive.
        HEAPTUPLE_DELETE_IN_PROGRESS => (true, unsafe { !pg_sys::TransactionIdIsCurrentTransactionId(tuple::update_xid(t.header())) }),
        _ => (true, true),
    }
}

/// The next logical block to visit, or None at the end.
unsafe fn next_block(s: *mut ColumnarScan) -> Option<u32> {
    // SAFETY: a scan made by `begin`; a parallel scan's shared state is a block-based one
    // (initialised by table_block_parallelscan_initialize below).
    unsafe {
        let rel = (*s).base.rs_rd;
        let pscan = (*s).base.rs_parallel as pg_sys::ParallelBlockTableScanDesc;
        if !pscan.is_null() {
            if !(*s).parallel_started {
                pg_sys::table_block_parallelscan_startblock_init(rel, &mut (*s).worker, pscan);
                (*s).parallel_started = true;
            }
            let b = pg_sys::table_block_parallelscan_nextpage(rel, &mut (*s).worker, pscan);
            return (b != pg_sys::InvalidBlockNumber).then_some(b);
        }
        if (*s).next_block >= (*s).nblocks {
            return None;
        }
        (*s).next_block += 1;
        Some((*s).next_block - 1)
    }
}

/// Stores the next returned tuple into `slot`; false at the end of the scan.
unsafe fn next_tuple(s: *mut ColumnarScan, slot: *mut pg_sys::TupleTableSlot) -> bool {
    // SAFETY: a scan made by `begin`; the stored tuple lives in the scan's page context until
    // the next page is loaded, after the slot has moved on.
    unsafe {
        loop {
            if (*s).pos < (*s).n {
                store_current(s, slot);
                return true;
            }
            let Some(blk) = next_block(s) else {
                pg_sys::ExecClearTuple(slot);
                return false;
            };
            load_block(s, blk, None, None);
        }
    }
}

unsafe fn store_current(s: *mut ColumnarScan, slot: *mut pg_sys::TupleTableSlot) {
    // SAFETY: pos < n, so rows[pos] is a tuple of the current page.
    unsafe {
        let t = (*s).rows[(*s).pos];
        (*s).pos += 1;
        pg_sys::ExecStoreHeapTuple(t, slot, false);
        (*slot).tts_tableOid = (*(*s).base.rs_rd).rd_id;
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_getnextslot(scan: pg_sys::TableScanDesc, direction: pg_sys::ScanDirection::Type, slot: *mut pg_sys::TupleTableSlot) -> bool {
    let s = scan as *mut ColumnarScan;
    // SAFETY: a scan made by `begin`.
    unsafe {
        let found = if direction == pg_sys::ScanDirection::BackwardScanDirection {
            previous_tuple(s, slot)
        } else {
            (*s).started = true;
            next_tuple(s, slot)
        };
        if !found {
            // At either end a scan starts over from that end, as heap's does.
            (*s).started = false;
            (*s).next_block = 0;
            (*s).n = 0;
            (*s).pos = 0;
        }
        found
    }
}

/// The row before the one returned last (SCROLL cursors): `pos - 1` is the index of the row
/// returned last, so the one before is `pos - 2`; at the start of a page, the previous pages.
unsafe fn previous_tuple(s: *mut ColumnarScan, slot: *mut pg_sys::TupleTableSlot) -> bool {
    // SAFETY: a scan made by `begin`, not parallel (PostgreSQL never scans those backward).
    unsafe {
        assert!((*s).base.rs_parallel.is_null(), "parallel scans run forward only");
        let mut from = if (*s).started { Some((*s).page_block) } else { (*s).nblocks.checked_sub(1).map(|b| b + 1) };
        if (*s).started && (*s).pos >= 2 {
            (*s).pos -= 2;
            store_current(s, slot);
            return true;
        }
        (*s).started = true;
        while let Some(blk) = from.and_then(|b| b.checked_sub(1)) {
            from = Some(blk);
            load_block(s, blk, None, None);
            // The next forward block is the one after this page.
            (*s).next_block = blk + 1;
            if (*s).n > 0 {
                (*s).pos = (*s).n - 1;
                store_current(s, slot);
                return true;
            }
        }
        pg_sys::ExecClearTuple(slot);
        false
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_set_tidrange(scan: pg_sys::TableScanDesc, mintid: pg_sys::ItemPointer, maxtid: pg_sys::ItemPointer) {
    let s = scan as *mut ColumnarScan;
    let split = |tid: &pg_sys::ItemPointerData| {
        let block = (tid.ip_blkid.bi_hi as u64) << 16 | tid.ip_blkid.bi_lo as u64;
        (block * rownum::ROWS_PER_BLOCK, tid.ip_posid as u64)
    };
    // SAFETY: valid TIDs from the executor. Offset 0 and offsets past 291 name no row: the
    // bounds are the row numbers of the TIDs between them, inclusive.
    unsafe {
        let (first, off) = split(&*mintid);
        (*s).min_row = match off {
            0 => first,
            o if o <= rownum::ROWS_PER_BLOCK => first + o - 1,
            _ => first + rownum::ROWS_PER_BLOCK,
        };
        let (first, off) = split(&*maxtid);
        let max = match off {
            0 => first.checked_sub(1),
            o if o <= rownum::ROWS_PER_BLOCK => Some(first + o - 1),
            _ => Some(first + rownum::ROWS_PER_BLOCK - 1),
        };
        match max {
            Some(m) => (*s).max_row = m,
            None => {
                (*s).min_row = 1;
                (*s).max_row = 0;
            }
        }
        restart(s);
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_getnextslot_tidrange(scan: pg_sys::TableScanDesc, direction: pg_sys::ScanDirection::Type, slot: *mut pg_sys::TupleTableSlot) -> bool {
    // SAFETY: as scan_getnextslot; rows outside the range are skipped as pages load.
    unsafe { scan_getnextslot(scan, direction, slot) }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn parallelscan_estimate(rel: pg_sys::Relation) -> pg_sys::Size {
    // SAFETY: an open relation.
    unsafe { pg_sys::table_block_parallelscan_estimate(rel) }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn parallelscan_initialize(rel: pg_sys::Relation, pscan: pg_sys::ParallelTableScanDesc) -> pg_sys::Size {
    // SAFETY: shared memory of the size estimated above, a block-based parallel scan whose
    // blocks are the logical blocks (not the file's pages); synchronized scans report
    // positions in pages, so they are off.
    unsafe {
        let size = pg_sys::table_block_parallelscan_initialize(rel, pscan);
        let b = pscan as pg_sys::ParallelBlockTableScanDesc;
        (*b).phs_nblocks = logical_blocks(rel);
        (*b).base.phs_syncscan = false;
        size
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn parallelscan_reinitialize(rel: pg_sys::Relation, pscan: pg_sys::ParallelTableScanDesc) {
    // SAFETY: as above.
    unsafe { pg_sys::table_block_parallelscan_reinitialize(rel, pscan) }
}

#[pg_guard]
#[cfg(feature = "pg15")]
pub unsafe extern "C-unwind" fn scan_bitmap_next_block(scan: pg_sys::TableScanDesc, tbmres: *mut pg_sys::TBMIterateResult) -> bool {
    let s = scan as *mut ColumnarScan;
    // SAFETY: a scan made by `begin` and a bitmap entry naming a logical block; `offsets`
    // holds `ntuples` offsets when the page is exact (ntuples >= 0).
    unsafe {
        let only = ((*tbmres).ntuples >= 0).then(|| (*tbmres).offsets.as_slice((*tbmres).ntuples as usize));
        (*s).block_rechecked = (*tbmres).recheck;
        load_block(s, (*tbmres).blockno, only, None);
        (*s).n > 0
    }
}

#[pg_guard]
#[cfg(feature = "pg15")]
pub unsafe extern "C-unwind" fn scan_bitmap_next_tuple(scan: pg_sys::TableScanDesc, _tbmres: *mut pg_sys::TBMIterateResult, slot: *mut pg_sys::TupleTableSlot) -> bool {
    let s = scan as *mut ColumnarScan;
    // SAFETY: a scan made by `begin`, after scan_bitmap_next_block.
    unsafe {
        if (*s).pos >= (*s).n {
            return false;
        }
        store_current(s, slot);
        true
    }
}

/// PostgreSQL 18 leaves walking the bitmap to the table AM: the executor puts the iterator in
/// the scan descriptor and asks for one row at a time.
#[pg_guard]
#[cfg(feature = "pg18")]
pub unsafe extern "C-unwind" fn scan_bitmap_next_tuple(
    scan: pg_sys::TableScanDesc,
    slot: *mut pg_sys::TupleTableSlot,
    recheck: *mut bool,
    lossy_pages: *mut u64,
    exact_pages: *mut u64,
) -> bool {
    let s = scan as *mut ColumnarScan;
    // SAFETY: a bitmap scan made by `begin`, whose iterator BitmapTableScanSetup installed in
    // `st`; the bitmap's pages are our logical blocks, each with at most ROWS_PER_BLOCK rows.
    unsafe {
        while (*s).pos >= (*s).n {
            let mut page: pg_sys::TBMIterateResult = std::mem::zeroed();
            if !pg_sys::tbm_iterate(&mut (*s).base.st.rs_tbmiterator, &mut page) {
                return false;
            }
            let mut offsets = [0 as pg_sys::OffsetNumber; rownum::ROWS_PER_BLOCK as usize];
            let only = if page.lossy {
                *lossy_pages += 1;
                None
            } else {
                *exact_pages += 1;
                // It returns how many the page has, which could exceed what fits.
                let n = pg_sys::tbm_extract_page_tuple(&mut page, offsets.as_mut_ptr(), offsets.len() as u32);
                Some(&offsets[..(n as usize).min(offsets.len())])
            };
            *recheck = page.recheck;
            (*s).block_rechecked = page.recheck;
            if (*s).columns.is_null()
                && let Some((columns, unrechecked)) = super::scan_setup::bitmap_columns_of_slot(slot)
            {
                set_columns(scan, columns, unrechecked);
            }
            load_block(s, page.blockno, only, None);
        }
        store_current(s, slot);
        true
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_sample_next_block(scan: pg_sys::TableScanDesc, state: *mut pg_sys::SampleScanState) -> bool {
    let s = scan as *mut ColumnarScan;
    // SAFETY: a scan made by `begin`; the sampling method's callbacks are set by its handler.
    unsafe {
        let tsm = (*state).tsmroutine;
        let blk = match (*tsm).NextSampleBlock {
            Some(f) => f(state, (*s).nblocks),
            None => next_block(s).unwrap_or(pg_sys::InvalidBlockNumber),
        };
        if blk == pg_sys::InvalidBlockNumber || blk >= (*s).nblocks {
            return false;
        }
        load_block(s, blk, None, None);
        true
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_sample_next_tuple(scan: pg_sys::TableScanDesc, state: *mut pg_sys::SampleScanState, slot: *mut pg_sys::TupleTableSlot) -> bool {
    let s = scan as *mut ColumnarScan;
    // SAFETY: as scan_sample_next_block; offsets from NextSampleTuple are within 1..=maxoffset.
    unsafe {
        let tsm = (*state).tsmroutine;
        let next = (*tsm).NextSampleTuple.expect("sampling methods set NextSampleTuple");
        loop {
            let off = next(state, (*s).page_block, (*s).page_slots.max(1) as u16);
            if off == 0 {
                pg_sys::ExecClearTuple(slot);
                return false;
            }
            if let Some(i) = (0..(*s).n).find(|&i| (*s).slots[i] == off) {
                pg_sys::ExecStoreHeapTuple((*s).rows[i], slot, false);
                return true;
            }
        }
    }
}

#[pg_guard]
#[cfg(feature = "pg15")]
pub unsafe extern "C-unwind" fn scan_analyze_next_block(scan: pg_sys::TableScanDesc, blockno: pg_sys::BlockNumber, _strategy: pg_sys::BufferAccessStrategy) -> bool {
    // SAFETY: a scan begun for ANALYZE; `blockno` is below the block count it sampled from.
    unsafe { analyze_block(scan as *mut ColumnarScan, blockno) }
}

/// From 17, ANALYZE's sampled blocks come from a read stream over the main fork: each buffer
/// names the next physical page sampled, which is all this needs of it.
#[pg_guard]
#[cfg(feature = "pg18")]
pub unsafe extern "C-unwind" fn scan_analyze_next_block(scan: pg_sys::TableScanDesc, stream: *mut pg_sys::ReadStream) -> bool {
    // SAFETY: a scan begun for ANALYZE and acquire_sample_rows' stream over its pages; the
    // buffer is pinned by the stream and released here.
    unsafe {
        let buf = pg_sys::read_stream_next_buffer(stream, std::ptr::null_mut());
        if buf == pg_sys::InvalidBuffer as pg_sys::Buffer {
            return false;
        }
        let blockno = pg_sys::BufferGetBlockNumber(buf);
        pg_sys::ReleaseBuffer(buf);
        analyze_block(scan as *mut ColumnarScan, blockno)
    }
}

/// Attributes to sampled page `blockno` the rows ANALYZE samples with it.
///
/// # Safety
/// `s` is a scan begun for ANALYZE; `blockno` is a page of its relation.
unsafe fn analyze_block(s: *mut ColumnarScan, blockno: pg_sys::BlockNumber) -> bool {
    // SAFETY: the caller's. A delta page holds its logical block's rows; a row group's rows are
    // spread over its data pages (page k of P holds blocks k * B / P up to (k + 1) * B / P of its
    // B), so that every row belongs to one page and each page is sampled with the same chance.
    unsafe {
        let rel = (*s).base.rs_rd;
        (*s).oldest_xmin = pg_sys::GetOldestNonRemovableTransactionId(rel);
        (*s).n = 0;
        (*s).pos = 0;
        (*s).analyze_next = 0;
        (*s).analyze_end = 0;
        (*s).analyze_page = None;
        let b = Buf::read(rel, blockno, Lock::Share);
        let special = (!b.is_new()).then(|| Special::read(b.special())).flatten();
        drop(b);
        match special {
            Some(sp) if sp.kind == PageKind::Delta && sp.flags & FLAG_OVERLAY == 0 => {
                ((*s).analyze_next, (*s).analyze_end, (*s).analyze_page) = (sp.owner, sp.owner + 1, Some(blockno));
            }
            Some(sp) if sp.kind == PageKind::Data => {
                let Some(g) = super::group::group_with_page(rel, sp.owner, blockno) else { return true };
                let (k, p, blocks) = (sp.seq as u64, g.data_pages.max(1) as u64, g.blocks as u64);
                (*s).analyze_next = g.first_block + (k * blocks / p) as u32;
                (*s).analyze_end = g.first_block + ((k + 1) * blocks / p) as u32;
            }
            _ => {}
        }
        true
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_analyze_next_tuple(
    scan: pg_sys::TableScanDesc,
    _oldest_xmin: pg_sys::TransactionId,
    liverows: *mut f64,
    deadrows: *mut f64,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    let s = scan as *mut ColumnarScan;
    // SAFETY: as above; the counts gathered while loading the page are handed over once.
    unsafe {
        loop {
            *liverows += (*s).live_seen;
            *deadrows += (*s).dead_seen;
            (*s).live_seen = 0.0;
            (*s).dead_seen = 0.0;
            if (*s).pos < (*s).n {
                store_current(s, slot);
                return true;
            }
            if (*s).analyze_next >= (*s).analyze_end {
                pg_sys::ExecClearTuple(slot);
                return false;
            }
            (*s).analyze_next += 1;
            load_block(s, (*s).analyze_next - 1, None, (*s).analyze_page.take());
        }
    }
}

/// CREATE INDEX's scan: every row some snapshot may still see (or, with a caller's MVCC
/// snapshot, as for CREATE INDEX CONCURRENTLY and amcheck, the rows visible to it), fed to
/// `callback` with the index's values.
#[pg_guard]
pub unsafe extern "C-unwind" fn index_build_range_scan(
    table_rel: pg_sys::Relation,
    index_rel: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
    _allow_sync: bool,
    anyvisible: bool,
    _progress: bool,
    start_blockno: pg_sys::BlockNumber,
    numblocks: pg_sys::BlockNumber,
    callback: pg_sys::IndexBuildCallback,
    callback_state: *mut std::ffi::c_void,
    scan: pg_sys::TableScanDesc,
) -> f64 {
    // SAFETY: PostgreSQL passes an open table and index, the index's IndexInfo and a callback
    // that expects `callback_state`; `scan` is null or a scan of this table begun by the caller.
    unsafe {
        if (*(*index_rel).rd_rel).relam == pg_sys::BRIN_AM_OID {
            // BRIN summarises ranges of the file's pages; a row group holds far more logical
            // blocks than it has pages, so the ranges past the file's end would go unsummarised.
            crate::error::raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("columnar table \"{}\" cannot have a BRIN index", rel::name(table_rel)),
                Some("Use a btree or alex index."),
            );
        }
        let own_scan = scan.is_null();
        let s = if own_scan {
            let snapshot = if anyvisible { &raw mut pg_sys::SnapshotAnyData } else { std::ptr::null_mut() };
            let s = begin(table_rel, snapshot, std::ptr::null_mut(), pg_sys::ScanOptions::SO_TYPE_SEQSCAN);
            if !anyvisible {
                (*s).test = Test::Build;
                (*s).oldest_xmin = pg_sys::GetOldestNonRemovableTransactionId(table_rel);
            }
            s
        } else {
            let s = scan as *mut ColumnarScan;
            let snap = (*s).base.rs_snapshot;
            if snap.is_null() || (*snap).snapshot_type != pg_sys::SnapshotType::SNAPSHOT_MVCC {
                (*s).test = Test::Build;
                (*s).oldest_xmin = pg_sys::GetOldestNonRemovableTransactionId(table_rel);
            }
            s
        };
        // A range of logical blocks (BRIN's summarisation of one range).
        (*s).min_row = start_blockno as u64 * rownum::ROWS_PER_BLOCK;
        if numblocks != pg_sys::InvalidBlockNumber {
            (*s).max_row = (start_blockno as u64 + numblocks as u64) * rownum::ROWS_PER_BLOCK - 1;
        }
        let mut ix = IndexValues::new(table_rel, index_info);
        let mut seen = 0.0;
        let cb = callback.expect("index builds pass a callback");
        while next_tuple(s, ix.slot) {
            seen += 1.0;
            if !ix.form() {
                continue;
            }
            let alive = (*s).alive[(*s).pos - 1];
            let mut tid = (*ix.slot).tts_tid;
            cb(index_rel, &mut tid, ix.values.as_mut_ptr(), ix.isnull.as_mut_ptr(), alive, callback_state);
        }
        drop(ix);
        // A caller's scan (a parallel build's) is ended here too, as heap's build scan does.
        scan_end(s as pg_sys::TableScanDesc);
        seen
    }
}

/// CREATE INDEX CONCURRENTLY's second pass: every row visible to `snapshot` whose TID the
/// index lacks is inserted into it.
#[pg_guard]
pub unsafe extern "C-unwind" fn index_validate_scan(
    table_rel: pg_sys::Relation,
    index_rel: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
    snapshot: pg_sys::Snapshot,
    state: *mut pg_sys::ValidateIndexState,
) {
    // SAFETY: PostgreSQL passes open relations, the index's IndexInfo, an MVCC snapshot and
    // the sorted TIDs of the index (encoded as int8 by itemptr_encode).
    unsafe {
        let mut in_index = std::collections::HashSet::new();
        let mut value = pg_sys::Datum::from(0);
        let mut isnull = false;
        while crate::compat::tuplesort_next_datum((*state).tuplesort, &mut value, &mut isnull) {
            if !isnull {
                in_index.insert(value.value() as i64);
                (*state).itups += 1.0;
            }
        }
        let s = begin(table_rel, snapshot, std::ptr::null_mut(), pg_sys::ScanOptions::SO_TYPE_SEQSCAN);
        let mut ix = IndexValues::new(table_rel, index_info);
        let unique = if (*index_info).ii_Unique { pg_sys::IndexUniqueCheck::UNIQUE_CHECK_YES } else { pg_sys::IndexUniqueCheck::UNIQUE_CHECK_NO };
        while next_tuple(s, ix.slot) {
            (*state).htups += 1.0;
            let mut tid = (*ix.slot).tts_tid;
            let block = (tid.ip_blkid.bi_hi as i64) << 16 | tid.ip_blkid.bi_lo as i64;
            if in_index.contains(&(block << 16 | tid.ip_posid as i64)) || !ix.form() {
                continue;
            }
            pg_sys::index_insert(index_rel, ix.values.as_mut_ptr(), ix.isnull.as_mut_ptr(), &mut tid, table_rel, unique, false, ix.info);
            (*state).tups_inserted += 1.0;
        }
        drop(ix);
        scan_end(s as pg_sys::TableScanDesc);
    }
}

/// What an index scan of the table needs to form index values from rows, as heap's build scan
/// sets it up: an executor state whose per-tuple context evaluates the index's expressions and
/// predicate over `slot`. Dropping it frees them.
struct IndexValues {
    info: *mut pg_sys::IndexInfo,
    estate: *mut pg_sys::EState,
    econtext: *mut pg_sys::ExprContext,
    predicate: *mut pg_sys::ExprState,
    slot: *mut pg_sys::TupleTableSlot,
    values: [pg_sys::Datum; pg_sys::INDEX_MAX_KEYS as usize],
    isnull: [bool; pg_sys::INDEX_MAX_KEYS as usize],
}

impl IndexValues {
    /// # Safety
    /// `table` is open; `info` is the IndexInfo of one of its indexes.
    unsafe fn new(table: pg_sys::Relation, info: *mut pg_sys::IndexInfo) -> IndexValues {
        // SAFETY: per the contract; the executor state lives in the current memory context.
        unsafe {
            let estate = pg_sys::CreateExecutorState();
            let econtext = pg_sys::MakePerTupleExprContext(estate);
            let slot = pg_sys::table_slot_create(table, std::ptr::null_mut());
            (*econtext).ecxt_scantuple = slot;
            let predicate = pg_sys::ExecPrepareQual((*info).ii_Predicate, estate);
            IndexValues { info, estate, econtext, predicate, slot, values: [pg_sys::Datum::from(0); _], isnull: [false; _] }
        }
    }

    /// Forms the index values of the row in `slot`; false when the index's predicate rejects it.
    unsafe fn form(&mut self) -> bool {
        // SAFETY: the state built in `new`, with a row stored in `slot`.
        unsafe {
            pg_sys::MemoryContextReset((*self.econtext).ecxt_per_tuple_memory);
            if !self.predicate.is_null() && !pg_sys::ExecQual(self.predicate, self.econtext) {
                return false;
            }
            pg_sys::FormIndexDatum(self.info, self.slot, self.estate, self.values.as_mut_ptr(), self.isnull.as_mut_ptr());
            true
        }
    }
}

impl Drop for IndexValues {
    fn drop(&mut self) {
        // SAFETY: made in `new` and not freed since; the IndexInfo must not keep expression
        // states that point into the freed executor state.
        unsafe {
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
            pg_sys::FreeExecutorState(self.estate);
            (*self.info).ii_ExpressionsState = std::ptr::null_mut();
            (*self.info).ii_PredicateState = std::ptr::null_mut();
        }
    }
}
