//! A parallel CREATE INDEX (as nbtsort.c's): workers and the leader scan the table in parallel,
//! each into a sort of its own with an equal share of maintenance_work_mem. Each worker writes
//! its sorted keys as one run to a file of a shared file set; the leader merges those runs with
//! its own sorted keys and writes the pages alone, as a serial build does, so a parallel build
//! gives exactly the pages of a serial one.
//!
//! The number of workers is PostgreSQL's choice for the table (plan_create_index_workers: the
//! table's size or its `parallel_workers` setting, max_parallel_maintenance_workers, and
//! maintenance_work_mem left for each participant). PostgreSQL 15 and 16 plan workers only for
//! btree, so there the build asks the planner itself, as pgvector does; from 17 on the access
//! method says `amcanbuildparallel` and index.c plans them into `ii_ParallelWorkers`.
//!
//! Cost: the scan and the sort divide among the participants; the merge (O(log participants)
//! per key) and the page writes stay with the leader. Each worker's run is written once to and
//! read once from its file.

use super::build::{self, KEY_BYTES, Spool};
use crate::storage::rel;
use alex_core::policy::READ_CHUNK;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CString;
use std::ptr::NonNull;

/// Keys of the parallel context's table of contents (any distinct values).
const KEY_SHARED: u64 = 0xA1E0_0000_0000_0001;
const KEY_SCAN: u64 = 0xA1E0_0000_0000_0002;
const KEY_RESULTS: u64 = 0xA1E0_0000_0000_0003;
const KEY_QUERY_TEXT: u64 = 0xA1E0_0000_0000_0004;
const KEY_WAL_USAGE: u64 = 0xA1E0_0000_0000_0005;
const KEY_BUFFER_USAGE: u64 = 0xA1E0_0000_0000_0006;

/// What the leader tells every worker.
#[repr(C)]
struct Shared {
    heap: pg_sys::Oid,
    index: pg_sys::Oid,
    concurrent: bool,
    query_id: i64,
    /// Each participant's sort memory, in kilobytes.
    sort_kb: usize,
    fileset: pg_sys::SharedFileSet,
}

/// What one worker reports back, in its own slot (no locking: the leader reads the slots only
/// after every worker has finished).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct WorkerResult {
    done: bool,
    heap_tuples: f64,
    keys: u64,
    broken_hot_chain: bool,
}

/// What the workers found, summed.
#[derive(Default)]
pub struct WorkersDone {
    pub heap_tuples: f64,
    pub keys: u64,
    pub broken_hot_chain: bool,
}

/// A running parallel build: the parallel context and its shared memory. Dropping it waits
/// for nothing: call [`ParallelBuild::finish_workers`] first.
pub struct ParallelBuild {
    pcxt: *mut pg_sys::ParallelContext,
    shared: *mut Shared,
    pscan: pg_sys::ParallelTableScanDesc,
    results: *mut WorkerResult,
    wal_usage: *mut pg_sys::WalUsage,
    buffer_usage: *mut pg_sys::BufferUsage,
    /// The concurrent build's registered snapshot, unregistered at the end.
    snapshot: Option<pg_sys::Snapshot>,
    launched: usize,
    leader_participates: bool,
}

/// `BUFFERALIGN`: shm_toc_estimate_chunk's rounding.
fn buffer_align(len: usize) -> usize {
    const ALIGNOF_BUFFER: usize = 32;
    len.div_ceil(ALIGNOF_BUFFER) * ALIGNOF_BUFFER
}

/// The workers PostgreSQL allows this build (0: a serial build).
///
/// # Safety
/// Open relations and the index's IndexInfo.
#[cfg(feature = "pg15")]
unsafe fn planned_workers(heap: pg_sys::Relation, index: pg_sys::Relation, _info: *mut pg_sys::IndexInfo) -> i32 {
    // SAFETY: the caller's; the planner opens them again without taking locks.
    unsafe { pg_sys::plan_create_index_workers((*heap).rd_id, (*index).rd_id) }
}

#[cfg(feature = "pg18")]
unsafe fn planned_workers(_heap: pg_sys::Relation, _index: pg_sys::Relation, info: *mut pg_sys::IndexInfo) -> i32 {
    // SAFETY: the caller's.
    unsafe { (*info).ii_ParallelWorkers }
}

impl ParallelBuild {
    /// Starts the workers, or returns None when the build is serial: no workers planned, no
    /// dynamic shared memory, or none launched.
    ///
    /// # Safety
    /// `heap` and `index` are open and locked for CREATE INDEX; `info` is the index's IndexInfo.
    pub unsafe fn begin(heap: pg_sys::Relation, index: pg_sys::Relation, info: *mut pg_sys::IndexInfo) -> Option<ParallelBuild> {
        // SAFETY: the caller's.
        let workers = unsafe { planned_workers(heap, index, info) };
        if workers <= 0 {
            return None;
        }
        // SAFETY: the calls follow parallel.c's protocol (enter parallel mode, create, estimate,
        // initialize, allocate, launch); every allocation is sized by the estimate above it.
        unsafe {
            let concurrent = (*info).ii_Concurrent;
            let leader_participates = pg_sys::parallel_leader_participation;
            // Each participant planned gets an equal share of the sort memory (as nbtree).
            let participants = workers as usize + leader_participates as usize;
            pg_sys::EnterParallelMode();
            let pcxt = pg_sys::CreateParallelContext(c"omendb".as_ptr(), c"alex_build_worker_main".as_ptr(), workers);
            // A plain build sees every tuple some snapshot may still need; a concurrent one
            // sees what its snapshot sees (validate_index adds the rest).
            let snapshot = if concurrent { pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot()) } else { &raw mut pg_sys::SnapshotAnyData };
            let scan_size = pg_sys::table_parallelscan_estimate(heap, snapshot);
            let query = NonNull::new(pg_sys::debug_query_string as *mut std::ffi::c_char).map(|q| std::ffi::CStr::from_ptr(q.as_ptr()));
            let chunks = [
                std::mem::size_of::<Shared>(),
                scan_size,
                std::mem::size_of::<WorkerResult>() * workers as usize,
                std::mem::size_of::<pg_sys::WalUsage>() * workers as usize,
                std::mem::size_of::<pg_sys::BufferUsage>() * workers as usize,
                query.map_or(0, |q| q.to_bytes_with_nul().len()),
            ];
            for size in chunks.iter().filter(|&&s| s > 0) {
                (*pcxt).estimator.space_for_chunks += buffer_align(*size);
                (*pcxt).estimator.number_of_keys += 1;
            }
            pg_sys::InitializeParallelDSM(pcxt);
            let mut build = ParallelBuild {
                pcxt,
                shared: std::ptr::null_mut(),
                pscan: std::ptr::null_mut(),
                results: std::ptr::null_mut(),
                wal_usage: std::ptr::null_mut(),
                buffer_usage: std::ptr::null_mut(),
                snapshot: concurrent.then_some(snapshot),
                launched: 0,
                leader_participates,
            };
            if (*pcxt).seg.is_null() {
                return None; // no dynamic shared memory: `build` is dropped, which undoes the above
            }
            let toc = (*pcxt).toc;
            let alloc = |key: u64, size: usize| {
                let p = pg_sys::shm_toc_allocate(toc, size);
                pg_sys::shm_toc_insert(toc, key, p);
                p
            };
            build.shared = alloc(KEY_SHARED, std::mem::size_of::<Shared>()) as *mut Shared;
            build.shared.write(Shared {
                heap: (*heap).rd_id,
                index: (*index).rd_id,
                concurrent,
                query_id: pg_sys::pgstat_get_my_query_id() as i64,
                sort_kb: build::sort_budget_kb() / participants,
                fileset: std::mem::zeroed(),
            });
            pg_sys::SharedFileSetInit(&mut (*build.shared).fileset, (*pcxt).seg);
            build.pscan = alloc(KEY_SCAN, scan_size) as pg_sys::ParallelTableScanDesc;
            pg_sys::table_parallelscan_initialize(heap, build.pscan, snapshot);
            build.results = alloc(KEY_RESULTS, std::mem::size_of::<WorkerResult>() * workers as usize) as *mut WorkerResult;
            for i in 0..workers as usize {
                build.results.add(i).write(WorkerResult::default());
            }
            build.wal_usage = alloc(KEY_WAL_USAGE, std::mem::size_of::<pg_sys::WalUsage>() * workers as usize) as *mut pg_sys::WalUsage;
            build.buffer_usage = alloc(KEY_BUFFER_USAGE, std::mem::size_of::<pg_sys::BufferUsage>() * workers as usize) as *mut pg_sys::BufferUsage;
            if let Some(q) = query {
                let bytes = q.to_bytes_with_nul();
                let p = alloc(KEY_QUERY_TEXT, bytes.len()) as *mut u8;
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            }
            pg_sys::LaunchParallelWorkers(pcxt);
            build.launched = (*pcxt).nworkers_launched as usize;
            debug1!("alex: building index \"{}\" with {} of {workers} parallel workers", rel::name(index), build.launched);
            if build.launched == 0 {
                return None;
            }
            // A worker that fails to start raises its error here rather than leave the leader
            // waiting for it.
            pg_sys::WaitForParallelWorkersToAttach(pcxt);
            Some(build)
        }
    }

    /// Each participant's share of maintenance_work_mem, in kilobytes.
    pub fn sort_kb(&self) -> usize {
        // SAFETY: written in `begin`, read-only since.
        unsafe { (*self.shared).sort_kb }
    }

    /// The leader's part of the parallel scan, when it takes part (parallel_leader_participation).
    ///
    /// # Safety
    /// `heap` is the table passed to `begin`.
    pub unsafe fn leader_scan(&self, heap: pg_sys::Relation) -> Option<pg_sys::TableScanDesc> {
        // SAFETY: the shared scan was initialized for `heap` in `begin`.
        self.leader_participates.then(|| unsafe { pg_sys::table_beginscan_parallel(heap, self.pscan) })
    }

    /// Waits for every worker to finish its scan and sort; returns what they found.
    pub fn finish_workers(&mut self) -> WorkersDone {
        // SAFETY: the context is live; after WaitForParallelWorkersToFinish no worker writes its
        // slot or its usage counters any more, and the first `launched` slots are theirs.
        unsafe {
            pg_sys::WaitForParallelWorkersToFinish(self.pcxt);
            let mut done = WorkersDone::default();
            for i in 0..self.launched {
                pg_sys::InstrAccumParallelQuery(self.buffer_usage.add(i), self.wal_usage.add(i));
                let r = *self.results.add(i);
                if !r.done {
                    error!("alex: parallel index build worker {i} exited without finishing its scan");
                }
                done.heap_tuples += r.heap_tuples;
                done.keys += r.keys;
                done.broken_hot_chain |= r.broken_hot_chain;
            }
            done
        }
    }

    /// The workers' sorted keys, one stream per worker, read from their files.
    pub fn worker_runs(&self) -> Vec<WorkerRun> {
        (0..self.launched)
            .map(|i| {
                let name = run_file_name(i);
                // SAFETY: the worker wrote and exported this file before finishing; the file set
                // lives as long as the parallel context.
                unsafe {
                    let file = pg_sys::BufFileOpenFileSet(&mut (*self.shared).fileset.fs, name.as_ptr(), O_RDONLY, false);
                    WorkerRun { file: NonNull::new(file).unwrap(), left: (*self.results.add(i)).keys, chunk: Vec::new(), pos: 0 }
                }
            })
            .collect()
    }
}

impl Drop for ParallelBuild {
    fn drop(&mut self) {
        // While an ERROR unwinds, the transaction's abort destroys the context, exits parallel
        // mode and forgets the snapshot: nothing is called into PostgreSQL here then.
        if std::thread::panicking() {
            return;
        }
        // SAFETY: made in `begin` and not destroyed since; the workers have finished or were
        // never launched (DestroyParallelContext waits for any still running).
        unsafe {
            pg_sys::DestroyParallelContext(self.pcxt);
            pg_sys::ExitParallelMode();
            if let Some(s) = self.snapshot {
                pg_sys::UnregisterSnapshot(s);
            }
        }
    }
}

/// `O_RDONLY` (POSIX; pgrx does not export fcntl's constants).
const O_RDONLY: i32 = 0;

/// The file worker `n` writes its run to, in the shared file set.
fn run_file_name(n: usize) -> CString {
    CString::new(format!("alex-build-{n}")).unwrap()
}

/// One worker's sorted keys, read back from its file.
pub struct WorkerRun {
    file: NonNull<pg_sys::BufFile>,
    /// Keys not yet read from the file.
    left: u64,
    chunk: Vec<u128>,
    pos: usize,
}

impl Iterator for WorkerRun {
    type Item = u128;

    fn next(&mut self) -> Option<u128> {
        if self.pos == self.chunk.len() {
            let n = READ_CHUNK.min(self.left as usize);
            if n == 0 {
                return None;
            }
            self.chunk.resize(n, 0);
            // SAFETY: the file is open for reading; BufFileRead fills at most `n` keys of the chunk.
            let got = unsafe { pg_sys::BufFileRead(self.file.as_ptr(), self.chunk.as_mut_ptr() as *mut std::ffi::c_void, n * KEY_BYTES) };
            if got != n * KEY_BYTES {
                error!("alex: short read from a parallel index build worker's file");
            }
            self.left -= n as u64;
            self.pos = 0;
        }
        self.pos += 1;
        Some(self.chunk[self.pos - 1])
    }
}

impl Drop for WorkerRun {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // SAFETY: opened in `worker_runs`, closed only here (an ERROR's abort closes it otherwise).
            unsafe { pg_sys::BufFileClose(self.file.as_ptr()) };
        }
    }
}

/// A parallel build worker (started by the parallel context of [`ParallelBuild::begin`]): scans
/// its part of the table into a sort of its own and writes the sorted keys to its file.
///
/// # Safety
/// Called by PostgreSQL's parallel worker machinery with the leader's segment and table of contents.
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn alex_build_worker_main(seg: *mut pg_sys::dsm_segment, toc: *mut pg_sys::shm_toc) {
    // SAFETY: the leader put every key looked up here into the table of contents (the query text
    // only when it had one); the worker's slot is its own until it exits.
    unsafe {
        let shared = pg_sys::shm_toc_lookup(toc, KEY_SHARED, false) as *mut Shared;
        let query = pg_sys::shm_toc_lookup(toc, KEY_QUERY_TEXT, true) as *const std::ffi::c_char;
        pg_sys::debug_query_string = query;
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_RUNNING, query);
        pg_sys::pgstat_report_query_id((*shared).query_id as _, false);
        // The leader's locks, shared with it through group locking.
        let (heap_lock, index_lock) = if (*shared).concurrent {
            (pg_sys::ShareUpdateExclusiveLock, pg_sys::RowExclusiveLock)
        } else {
            (pg_sys::ShareLock, pg_sys::AccessExclusiveLock)
        };
        let heap = pg_sys::table_open((*shared).heap, heap_lock as i32);
        let index = pg_sys::index_open((*shared).index, index_lock as i32);
        let n = pg_sys::ParallelWorkerNumber as usize;
        pg_sys::InstrStartParallelQuery();
        pg_sys::SharedFileSetAttach(&mut (*shared).fileset, seg);

        let info = pg_sys::BuildIndexInfo(index);
        (*info).ii_Concurrent = (*shared).concurrent;
        let pscan = pg_sys::shm_toc_lookup(toc, KEY_SCAN, false) as pg_sys::ParallelTableScanDesc;
        let scan = pg_sys::table_beginscan_parallel(heap, pscan);
        let scanned = build::scan(heap, index, info, scan, (*shared).sort_kb, false);
        let keys = write_run(scanned.spool, &mut (*shared).fileset, n);
        debug_assert_eq!(keys as f64, scanned.index_tuples);
        let heap_tuples = scanned.heap_tuples;

        let results = pg_sys::shm_toc_lookup(toc, KEY_RESULTS, false) as *mut WorkerResult;
        results.add(n).write(WorkerResult { done: true, heap_tuples, keys, broken_hot_chain: (*info).ii_BrokenHotChain });
        let wal_usage = pg_sys::shm_toc_lookup(toc, KEY_WAL_USAGE, false) as *mut pg_sys::WalUsage;
        let buffer_usage = pg_sys::shm_toc_lookup(toc, KEY_BUFFER_USAGE, false) as *mut pg_sys::BufferUsage;
        pg_sys::InstrEndParallelQuery(buffer_usage.add(n), wal_usage.add(n));
        pg_sys::index_close(index, index_lock as i32);
        pg_sys::table_close(heap, heap_lock as i32);
    }
}

/// Writes the worker's sorted keys to its file in the shared set; returns how many.
unsafe fn write_run(spool: Spool, fileset: &mut pg_sys::SharedFileSet, worker: usize) -> u64 {
    let name = run_file_name(worker);
    let mut keys = 0u64;
    // SAFETY: the file set is attached; BufFileWrite copies each chunk (a live slice of that
    // many bytes) and ERRORs rather than write short; the file is closed before returning.
    unsafe {
        let file = pg_sys::BufFileCreateFileSet(&mut fileset.fs, name.as_ptr());
        let mut chunk: Vec<u128> = Vec::with_capacity(READ_CHUNK);
        let mut sorted = spool.finish().peekable();
        while sorted.peek().is_some() {
            chunk.clear();
            chunk.extend(sorted.by_ref().take(chunk.capacity()));
            pg_sys::BufFileWrite(file, chunk.as_ptr() as *mut std::ffi::c_void, chunk.len() * KEY_BYTES);
            keys += chunk.len() as u64;
        }
        pg_sys::BufFileExportFileSet(file);
        pg_sys::BufFileClose(file);
    }
    keys
}
