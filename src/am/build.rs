//! CREATE INDEX (as nbtsort.c): scan the heap, sort the entries, and write the pages bottom-up:
//! data pages cut by the chunker at the build density, then model pages level by level up to
//! a single root, then the NULL chain, then the metapage. The pages are written through shared
//! buffers without WAL and logged at the end with log_newpage_range.
//!
//! Cost: O(n log n) for the sort, O(n) for the pages. The entries are sorted in memory (16 bytes
//! each); an external sort for inputs beyond memory is future work.

use super::keys::KeyType;
use super::meta::META_BLOCK;
use super::options;
use crate::storage::Buf;
use alex_core::build::Chunker;
use alex_core::data::{self, Encoding};
use alex_core::entry::{Entry, PackedTid};
use alex_core::inner;
use alex_core::meta::Meta;
use alex_core::model::LinearModel;
use alex_core::nulls;
use alex_core::page::{NO_BLOCK, PageKind, node::Header};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Share of a model page's separators a build fills.
const INNER_BUILD_FILL: f64 = 0.9;

struct BuildState {
    key_type: KeyType,
    entries: Vec<Entry>,
    nulls: Vec<PackedTid>,
    /// For a UNIQUE index: the keys of live tuples (dead ones may repeat a key) and how many
    /// live tuples have a NULL key.
    unique: bool,
    live_codes: Vec<u64>,
    live_nulls: usize,
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
        let t = super::tid_of(&*tid);
        if *isnull {
            st.nulls.push(t);
            st.live_nulls += (st.unique && tuple_is_alive) as usize;
        } else {
            let code = st.key_type.encode(*values);
            st.entries.push(Entry::new(code, t));
            if st.unique && tuple_is_alive {
                st.live_codes.push(code);
            }
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    // SAFETY: the executor hands us open heap and index relations and the IndexInfo for them.
    unsafe {
        if pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM) != 0 {
            error!("index \"{}\" already contains data", relation_name(index));
        }
        require_ascending(index);
        let mut st = BuildState {
            key_type: KeyType::of_index(index),
            entries: Vec::new(),
            nulls: Vec::new(),
            unique: (*index_info).ii_Unique,
            live_codes: Vec::new(),
            live_nulls: 0,
        };
        let scan = (*(*heap).rd_tableam).index_build_range_scan.expect("table AM without index_build_range_scan");
        let heap_tuples = scan(
            heap,
            index,
            index_info,
            true,
            false,
            true,
            0,
            pg_sys::InvalidBlockNumber,
            Some(build_callback),
            &mut st as *mut BuildState as *mut std::ffi::c_void,
            std::ptr::null_mut(),
        );
        st.entries.sort_unstable();
        if st.unique {
            check_build_unique(index, &mut st);
        }
        let index_tuples = (st.entries.len() + st.nulls.len()) as f64;
        write_tree(index, &st.entries, &st.nulls, options::density(index));

        if (*(*index).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_PERMANENT as std::ffi::c_char {
            let nblocks = pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM);
            pg_sys::log_newpage_range(index, pg_sys::ForkNumber::MAIN_FORKNUM, 0, nblocks, true);
        }
        let mut result = PgBox::<pg_sys::IndexBuildResult>::alloc0();
        result.heap_tuples = heap_tuples;
        result.index_tuples = index_tuples;
        result.into_pg()
    }
}

/// Raises btree's error when two live tuples share a key (or NULL, with NULLS NOT DISTINCT).
fn check_build_unique(index: pg_sys::Relation, st: &mut BuildState) {
    st.live_codes.sort_unstable();
    if let Some(w) = st.live_codes.windows(2).find(|w| w[0] == w[1]) {
        super::unique::build_violation(index, st.key_type.decode(w[0]), false);
    }
    if st.live_nulls > 1 && super::unique::nulls_not_distinct(index) {
        super::unique::build_violation(index, pg_sys::Datum::from(0), true);
    }
    st.live_codes = Vec::new();
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

/// Writes the whole index for sorted `entries` and the `nulls` into an empty relation.
fn write_tree(index: pg_sys::Relation, entries: &[Entry], nulls_tids: &[PackedTid], density: f64) {
    let mut meta_buf = Buf::extend(index);
    assert_eq!(meta_buf.block(), META_BLOCK);

    // Data pages, left to right in consecutive blocks; each is written once its right
    // neighbour's existence is known.
    let mut level_items: Vec<(Entry, u32)> = Vec::new();
    let mut chunker = Chunker::new(density);
    let mut pending: Option<(Entry, Vec<Entry>, Option<Entry>)> = None;
    let mut prev_block = NO_BLOCK;
    let mut emit = |run: (Entry, Vec<Entry>, Option<Entry>), has_right: bool, items: &mut Vec<(Entry, u32)>| {
        let (low, run_entries, high) = run;
        let mut b = Buf::extend(index);
        let blk = b.block();
        let header = Header {
            flags: 0,
            level: 0,
            count: 0,
            capacity: 0,
            left: prev_block,
            right: if has_right { blk + 1 } else { NO_BLOCK },
            low,
            high,
            model: LinearModel::default(),
        };
        let enc = Encoding::for_entries(&run_entries, low, high);
        data::layout(b.init_unlogged(PageKind::Data), &run_entries, enc, header);
        b.mark_dirty();
        items.push((low, blk));
        prev_block = blk;
    };
    for e in entries {
        if let Some((low, run, high)) = chunker.push(*e) {
            if let Some(p) = pending.take() {
                emit(p, true, &mut level_items);
            }
            pending = Some((low, run, Some(high)));
        }
    }
    let last = chunker.finish().unwrap_or((Entry::MIN, Vec::new(), None));
    if let Some(p) = pending.take() {
        emit(p, true, &mut level_items);
    }
    pending = Some(last);
    emit(pending.take().unwrap(), false, &mut level_items);

    // Model pages, level by level, until one page (the root) remains.
    let mut level: u16 = 0;
    let per_page = ((inner::CAPACITY as f64) * INNER_BUILD_FILL) as usize;
    while level_items.len() > 1 {
        level += 1;
        let groups: Vec<&[(Entry, u32)]> = level_items.chunks(per_page).collect();
        let first_block = {
            // Blocks are consecutive: the next block is the relation's current size.
            // SAFETY: `index` is open and being built by this backend.
            unsafe { pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM) }
        };
        let mut next_items = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            let mut b = Buf::extend(index);
            let blk = b.block();
            debug_assert_eq!(blk, first_block + i as u32);
            let header = Header {
                flags: 0,
                level,
                count: 0,
                capacity: 0,
                left: if i == 0 { NO_BLOCK } else { blk - 1 },
                right: if i + 1 < groups.len() { blk + 1 } else { NO_BLOCK },
                low: g[0].0,
                high: groups.get(i + 1).map(|n| n[0].0),
                model: LinearModel::default(),
            };
            inner::layout(b.init_unlogged(PageKind::Inner), g, header);
            b.mark_dirty();
            next_items.push((g[0].0, blk));
        }
        level_items = next_items;
    }
    let mut meta = Meta::new(level_items[0].1, level);

    // The NULL chain.
    for (i, chunk) in nulls_tids.chunks(nulls::CAPACITY).enumerate() {
        let mut b = Buf::extend(index);
        let blk = b.block();
        let last = (i + 1) * nulls::CAPACITY >= nulls_tids.len();
        let c = b.init_unlogged(PageKind::Nulls);
        nulls::init(c);
        for t in chunk {
            nulls::push(c, *t);
        }
        nulls::set_right(c, if last { NO_BLOCK } else { blk + 1 });
        b.mark_dirty();
        if i == 0 {
            meta.null_head = blk;
        }
        meta.null_tail = blk;
    }

    meta.write(meta_buf.init_unlogged(PageKind::Meta));
    meta_buf.mark_dirty();
}

/// The INIT fork of an unlogged index: an empty index (metapage and one empty data page),
/// WAL-logged so that it survives a crash.
#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    for kind in [PageKind::Meta, PageKind::Data] {
        // SAFETY: the INIT fork of a new unlogged index, extended page by page; each page is
        // exclusively locked while written and WAL-logged whole before it is released.
        unsafe {
            let buf = pg_sys::ReadBufferExtended(index, pg_sys::ForkNumber::INIT_FORKNUM, pg_sys::InvalidBlockNumber, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            let page = std::slice::from_raw_parts_mut(pg_sys::BufferGetPage(buf) as *mut u8, alex_core::page::BLCKSZ);
            crate::storage::init_page(page, kind);
            let hdr = alex_core::page::PAGE_HEADER_SIZE;
            let content = &mut page[hdr..hdr + alex_core::page::CONTENT_SIZE];
            if kind == PageKind::Meta {
                Meta::new(1, 0).write(content);
            } else {
                let header = Header { flags: 0, level: 0, count: 0, capacity: 0, left: NO_BLOCK, right: NO_BLOCK, low: Entry::MIN, high: None, model: LinearModel::default() };
                data::layout(content, &[], Encoding::for_entries(&[], Entry::MIN, None), header);
            }
            pg_sys::MarkBufferDirty(buf);
            pg_sys::log_newpage_buffer(buf, true);
            pg_sys::UnlockReleaseBuffer(buf);
        }
    }
}

pub fn relation_name(rel: pg_sys::Relation) -> String {
    // SAFETY: an open relation's rd_rel is valid; relname is a NUL-terminated NameData.
    unsafe { std::ffi::CStr::from_ptr((*(*rel).rd_rel).relname.data.as_ptr()).to_string_lossy().into_owned() }
}
