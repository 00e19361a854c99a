//! CREATE INDEX (as nbtsort.c): scan the heap into an external sort, and write the pages
//! bottom-up from its sorted output: data pages cut by the chunker at the build density, then
//! model pages level by level up to a single root, then the NULL chain, then the metapage. The
//! pages are written outside shared buffers, each WAL-logged whole as it is written
//! (`storage::bulk`; unless the file is new in this transaction under wal_level = minimal, when
//! commit syncs it).
//!
//! Progress (pg_stat_progress_create_index, "building index: ..."): scanning table, sorting,
//! writing data pages (tuples_done of tuples_total), writing model pages.
//!
//! With parallel workers (`parallel_build`), the scan and the sort are divided among the
//! participants and the leader merges their sorted keys into the same stream.
//!
//! Cost: O(n log n) for the sort, O(n) for the pages. Memory: the sort keeps 16-byte rows within
//! maintenance_work_mem (a parallel build's participants share it equally) and writes sorted runs
//! to a temporary file beyond it, merged with one 8 KB read buffer per run; the page writer holds
//! one data page's entries and a (fence, block) pair per page of the level it builds.

use super::keys::KeyType;
use super::meta::META_BLOCK;
use super::options;
use crate::index::page::AlexPages;
use crate::storage::buffer::append_init_fork_page;
use crate::storage::bulk::BulkWrite;
use crate::storage::{rel, tid};
use alex_core::bulk::{Run, chunks};
use alex_core::data::{self, Encoding};
use alex_core::entry::{Entry, MAX_TID, PackedTid};
use super::parallel_build::{ParallelBuild, WorkerRun};
use alex_core::extsort::{ExternalSorter, Merge, RunStore, Sorted};
use alex_core::inner;
use alex_core::meta::Meta;
use alex_core::nulls;
use alex_core::page::{NO_BLOCK, PageKind, node::Header};
use alex_core::policy::INNER_BUILD_FILL;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The build's subphases in pg_stat_progress_create_index, after PostgreSQL's own
/// "initializing" (PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE, 1).
const PHASE_SCAN: i64 = 2;
const PHASE_SORT: i64 = 3;
const PHASE_DATA_PAGES: i64 = 4;
const PHASE_MODEL_PAGES: i64 = 5;
/// Rows written between two reports of tuples_done.
const PROGRESS_EVERY: u64 = 4096;

/// The name of a subphase, as the progress view shows it.
#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    let name = match phase {
        p if p == pg_sys::PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE as i64 => c"initializing",
        PHASE_SCAN => c"scanning table",
        PHASE_SORT => c"sorting",
        PHASE_DATA_PAGES => c"writing data pages",
        PHASE_MODEL_PAGES => c"writing model pages",
        _ => return std::ptr::null_mut(),
    };
    // The view copies the name; it is never written through this pointer.
    name.as_ptr() as *mut _
}

fn report(param: u32, value: i64) {
    #[cfg(feature = "pg_test")]
    REPORTED.with(|r| r.borrow_mut().push((param, value)));
    // SAFETY: a valid progress parameter index; without a progress command it is ignored.
    unsafe { pg_sys::pgstat_progress_update_param(param as i32, value) };
}

#[cfg(feature = "pg_test")]
thread_local! {
    /// Every (parameter, value) this backend's builds reported to the progress view, in order:
    /// the test build's view of phases too short for another session to catch.
    pub(crate) static REPORTED: std::cell::RefCell<Vec<(u32, i64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One heap tuple's row in the build's sort.
struct Row {
    /// The key's code; None for a NULL key.
    code: Option<u64>,
    tid: PackedTid,
    /// Whether the heap tuple is live: only live tuples count for a UNIQUE index.
    alive: bool,
}

/// A row as a sort key whose order is the index order: NULL keys last (bit 113), then the code
/// (bits 49..113), then the TID (bits 1..49); the liveness bit rides along at bit 0 (TIDs are
/// unique, so it never decides the order).
fn pack(row: &Row) -> u128 {
    let (null, code) = match row.code {
        Some(c) => (0u128, c),
        None => (1, 0),
    };
    null << 113 | (code as u128) << 49 | (row.tid as u128) << 1 | row.alive as u128
}

fn unpack(k: u128) -> Row {
    Row { code: (k >> 113 & 1 == 0).then_some((k >> 49) as u64), tid: (k >> 1) as u64 & MAX_TID, alive: k & 1 == 1 }
}

/// The build's sort: in memory within its budget (16 bytes per row), else sorted runs in a
/// temporary file, merged at the end.
pub(super) type Spool = ExternalSorter<TempRuns>;

/// maintenance_work_mem, in kilobytes: the build's sort memory (shared by a parallel build's
/// participants).
pub(super) fn sort_budget_kb() -> usize {
    // SAFETY: reads a GUC variable.
    unsafe { pg_sys::maintenance_work_mem as usize }
}

/// Sorted runs in one PostgreSQL temporary file, which closing deletes (and the end of the
/// transaction, after an error: nothing is called into PostgreSQL while unwinding).
#[derive(Default)]
pub(super) struct TempRuns {
    file: Option<std::ptr::NonNull<pg_sys::BufFile>>,
    /// Each run's byte offset and number of keys.
    runs: Vec<(i64, usize)>,
    end: i64,
}

pub(super) const KEY_BYTES: usize = std::mem::size_of::<u128>();
/// `whence` for an absolute position (POSIX; pgrx does not export stdio's constant).
const SEEK_SET: i32 = 0;

impl RunStore for TempRuns {
    fn write_run(&mut self, keys: &[u128]) {
        // SAFETY: BufFileCreateTemp returns a new temporary file (or ERRORs); BufFileWrite
        // copies `keys`, a live slice of that many bytes, and ERRORs rather than write short.
        let file = *self.file.get_or_insert_with(|| std::ptr::NonNull::new(unsafe { pg_sys::BufFileCreateTemp(false) }).unwrap());
        unsafe { pg_sys::BufFileWrite(file.as_ptr(), keys.as_ptr() as *mut std::ffi::c_void, keys.len() * KEY_BYTES) };
        self.runs.push((self.end, keys.len()));
        self.end += (keys.len() * KEY_BYTES) as i64;
    }

    fn read_run(&mut self, run: usize, from: usize, out: &mut [u128]) -> usize {
        let (start, len) = self.runs[run];
        let n = out.len().min(len.saturating_sub(from));
        let Some(file) = self.file.filter(|_| n > 0) else { return 0 };
        // SAFETY: the file holds every run written; offsets past a 1 GB segment are carried into
        // the next segment by BufFileSeek; BufFileRead fills at most `n` keys of `out`.
        let got = unsafe {
            if pg_sys::BufFileSeek(file.as_ptr(), 0, start + (from * KEY_BYTES) as i64, SEEK_SET) != 0 {
                error!("alex: could not seek in the index build's temporary file");
            }
            pg_sys::BufFileRead(file.as_ptr(), out.as_mut_ptr() as *mut std::ffi::c_void, n * KEY_BYTES)
        };
        if got != n * KEY_BYTES {
            error!("alex: short read from the index build's temporary file");
        }
        n
    }
}

impl Drop for TempRuns {
    fn drop(&mut self) {
        if let Some(f) = self.file.filter(|_| !std::thread::panicking()) {
            // SAFETY: created in `write_run` and closed only here.
            unsafe { pg_sys::BufFileClose(f.as_ptr()) };
        }
    }
}

/// One participant's sorted keys: the leader's own sort, or a worker's run.
enum Part {
    Own(Sorted<TempRuns>),
    Worker(WorkerRun),
}

impl Iterator for Part {
    type Item = u128;

    fn next(&mut self) -> Option<u128> {
        match self {
            Part::Own(s) => s.next(),
            Part::Worker(w) => w.next(),
        }
    }
}

/// One participant's scan: its sort, and the tuples it saw and indexed.
pub(super) struct Scanned {
    pub spool: Spool,
    pub heap_tuples: f64,
    pub index_tuples: f64,
}

struct BuildState {
    key_type: KeyType,
    spool: Spool,
    index_tuples: f64,
}

#[pg_guard]
unsafe extern "C-unwind" fn build_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    tuple_is_alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: `state` is the BuildState passed to the scan below; values/isnull have one entry
    // for our single key column; tid is a valid heap TID.
    unsafe {
        let st = &mut *(state as *mut BuildState);
        let code = (!*isnull).then(|| st.key_type.encode(*values));
        st.spool.push(pack(&Row { code, tid: tid::pack(&*tid), alive: tuple_is_alive }));
        st.index_tuples += 1.0;
    }
}

/// Scans `heap` (all of it, or this participant's part of a parallel `scan`, which the table AM
/// ends) into a sort with `sort_kb` of memory.
///
/// # Safety
/// As [`rel::index_build_scan`].
pub(super) unsafe fn scan(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    scan: pg_sys::TableScanDesc,
    sort_kb: usize,
    progress: bool,
) -> Scanned {
    let mut st = BuildState { key_type: KeyType::of_index(index), spool: ExternalSorter::new(sort_kb * 1024, TempRuns::default()), index_tuples: 0.0 };
    // SAFETY: per the contract.
    let heap_tuples = unsafe { rel::index_build_scan(heap, index, info, progress, Some(build_callback), &mut st, scan) };
    Scanned { spool: st.spool, heap_tuples, index_tuples: st.index_tuples }
}

/// Not `#[pg_guard]`: [`super::unique::reporting_violations`] guards it, and reports duplicates
/// in a unique index with the fields btree gives them.
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    // SAFETY: the executor hands us open heap and index relations and the IndexInfo for them.
    unsafe { super::unique::reporting_violations(heap, || build(heap, index, index_info)) }
}

unsafe fn build(heap: pg_sys::Relation, index: pg_sys::Relation, index_info: *mut pg_sys::IndexInfo) -> *mut pg_sys::IndexBuildResult {
    // SAFETY: as in ambuild.
    unsafe {
        if rel::main_fork_blocks(index) != 0 {
            error!("index \"{}\" already contains data", rel::name(index));
        }
        require_ascending(index);
        let key_type = KeyType::of_index(index);
        super::validate::require_own_operator_class(index);
        report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_SCAN);
        let mut parallel = ParallelBuild::begin(heap, index, index_info);
        let (sorted, heap_tuples, index_tuples) = match &mut parallel {
            None => {
                let s = scan(heap, index, index_info, std::ptr::null_mut(), sort_budget_kb(), true);
                report(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, s.index_tuples as i64);
                report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_SORT);
                (Merge::new([Part::Own(s.spool.finish())]), s.heap_tuples, s.index_tuples)
            }
            Some(p) => {
                let own = p.leader_scan(heap).map(|s| scan(heap, index, index_info, s, p.sort_kb(), true));
                let workers = p.finish_workers();
                (*index_info).ii_BrokenHotChain |= workers.broken_hot_chain;
                let (own_heap, own_index) = own.as_ref().map_or((0.0, 0.0), |s| (s.heap_tuples, s.index_tuples));
                let index_tuples = own_index + workers.keys as f64;
                report(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, index_tuples as i64);
                report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_SORT);
                let own_sorted = own.map(|s| Part::Own(s.spool.finish()));
                let streams = own_sorted.into_iter().chain(p.worker_runs().into_iter().map(Part::Worker));
                (Merge::new(streams), own_heap + workers.heap_tuples, index_tuples)
            }
        };
        let mut unique = (*index_info).ii_Unique.then(|| UniqueCheck::new(index, key_type));
        let mut done = 0u64;
        report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_DATA_PAGES);
        let rows = sorted.map(unpack).inspect(|row| {
            if let Some(u) = &mut unique {
                u.row(row);
            }
            done += 1;
            if done % PROGRESS_EVERY == 0 {
                report(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, done as i64);
            }
        });
        write_tree(index, rows, options::density(index));
        report(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, index_tuples as i64);
        // The workers' files go with the parallel context.
        drop(parallel);
        let mut result = PgBox::<pg_sys::IndexBuildResult>::alloc0();
        result.heap_tuples = heap_tuples;
        result.index_tuples = index_tuples;
        result.into_pg()
    }
}

/// CREATE UNIQUE INDEX: raises btree's error when two live tuples have equal keys (or NULL, with
/// NULLS NOT DISTINCT); dead tuples may repeat a key. Rows arrive sorted, so equal keys are
/// adjacent (a float zero's two codes, for -0 and 0, are consecutive) and the NULLs come last.
struct UniqueCheck {
    index: pg_sys::Relation,
    key_type: KeyType,
    nulls_not_distinct: bool,
    /// The largest code equal to the last live key.
    last_live_end: Option<u64>,
    live_null: bool,
}

impl UniqueCheck {
    fn new(index: pg_sys::Relation, key_type: KeyType) -> UniqueCheck {
        let nulls_not_distinct = super::unique::nulls_not_distinct(index);
        UniqueCheck { index, key_type, nulls_not_distinct, last_live_end: None, live_null: false }
    }

    fn row(&mut self, row: &Row) {
        if !row.alive {
            return;
        }
        match row.code {
            Some(code) if self.last_live_end.is_some_and(|end| code <= end) => {
                super::unique::build_violation(self.index, self.key_type.decode(code), false)
            }
            Some(code) => self.last_live_end = Some(self.key_type.equal_range(self.key_type.decode(code)).1),
            None if self.live_null && self.nulls_not_distinct => {
                super::unique::build_violation(self.index, pg_sys::Datum::from(0), true)
            }
            None => self.live_null = true,
        }
    }
}

/// alex keeps keys ascending with NULLs last; a backward scan serves DESC NULLS FIRST. An index
/// declared otherwise would make the planner expect an order the scans do not produce.
fn require_ascending(index: pg_sys::Relation) {
    // SAFETY: rd_indoption has one entry per key column of an open index.
    let opt = unsafe { *(*index).rd_indoption } as u32;
    if opt & (pg_sys::INDOPTION_DESC | pg_sys::INDOPTION_NULLS_FIRST) != 0 {
        crate::error::raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "alex indexes support only ascending order with NULLS LAST",
            Some("Create the index without DESC or NULLS FIRST: a backward scan of it serves ORDER BY ... DESC NULLS FIRST."),
        );
    }
}

/// Writes the whole index for the sorted `rows` (the NULL keys last) into an empty relation,
/// outside shared buffers (`BulkWrite`); the metapage, block 0, last.
fn write_tree(index: pg_sys::Relation, rows: impl Iterator<Item = Row>, density: f64) {
    let mut out = BulkWrite::new(index);

    // Data pages, left to right in consecutive blocks from block 1: a page with a high fence
    // has a right neighbour, the next block.
    let mut level_items: Vec<(Entry, u32)> = Vec::new();
    let write_page = |(low, entries, high): Run, out: &mut BulkWrite, items: &mut Vec<(Entry, u32)>| {
        let blk = out.next_block().max(META_BLOCK + 1);
        let prev = items.last().map_or(NO_BLOCK, |&(_, b)| b);
        let header = Header::new(0, low, high).linked(prev, if high.is_some() { blk + 1 } else { NO_BLOCK });
        let enc = Encoding::for_entries(&entries, low, high);
        out.write::<AlexPages>(blk, PageKind::Data, |c| data::layout(c, &entries, enc, header));
        items.push((low, blk));
    };
    let mut rows = rows.peekable();
    let keys = std::iter::from_fn(|| rows.next_if(|r| r.code.is_some()).map(|r| Entry::new(r.code.unwrap(), r.tid)));
    for run in chunks(keys, density) {
        write_page(run, &mut out, &mut level_items);
    }
    if level_items.is_empty() {
        write_page((Entry::MIN, Vec::new(), None), &mut out, &mut level_items); // the root of an empty index
    }

    // Model pages, level by level, until one page (the root) remains.
    report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_MODEL_PAGES);
    let mut level: u16 = 0;
    let per_page = (((inner::CAPACITY as f64) * INNER_BUILD_FILL) as usize).min(super::insert::model_page_fanout());
    while level_items.len() > 1 {
        level += 1;
        let groups: Vec<&[(Entry, u32)]> = level_items.chunks(per_page).collect();
        let first_block = out.next_block();
        let mut next_items = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            let blk = first_block + i as u32;
            let left = if i == 0 { NO_BLOCK } else { blk - 1 };
            let right = if i + 1 < groups.len() { blk + 1 } else { NO_BLOCK };
            let header = Header::new(level, g[0].0, groups.get(i + 1).map(|n| n[0].0)).linked(left, right);
            out.write::<AlexPages>(blk, PageKind::Inner, |c| inner::layout(c, g, header));
            next_items.push((g[0].0, blk));
        }
        level_items = next_items;
    }
    let mut meta = Meta::new(level_items[0].1, level);

    // The NULL chain: the rest of the rows.
    let mut null_tids = rows.map(|r| r.tid).peekable();
    while null_tids.peek().is_some() {
        let blk = out.next_block();
        out.write::<AlexPages>(blk, PageKind::Nulls, |c| {
            nulls::init(c);
            for t in null_tids.by_ref().take(nulls::CAPACITY) {
                nulls::push(c, t);
            }
            nulls::set_right(c, if null_tids.peek().is_some() { blk + 1 } else { NO_BLOCK });
        });
        if meta.null_head == NO_BLOCK {
            meta.null_head = blk;
        }
        meta.null_tail = blk;
    }

    out.write::<AlexPages>(META_BLOCK, PageKind::Meta, |c| meta.write(c));
}

/// The INIT fork of an unlogged index: an empty index (metapage and one empty data page),
/// WAL-logged so that it survives a crash.
#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    append_init_fork_page::<AlexPages>(index, PageKind::Meta, |content| Meta::new(1, 0).write(content));
    append_init_fork_page::<AlexPages>(index, PageKind::Data, |content| {
        let header = Header::new(0, Entry::MIN, None);
        data::layout(content, &[], Encoding::for_entries(&[], Entry::MIN, None), header);
    });
}
