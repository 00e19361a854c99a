//! The metapage (block 0) and the per-backend cache of the root.
//!
//! The cache (in `rd_amcache`) only saves reading the metapage on every descent. It can never
//! give a wrong answer: a root is never deleted while it is the root, so a root that has since
//! split is still a valid place to start (the descent moves right to its new siblings and down
//! from there); a descent that had to move right at the top refreshes the cache. A former root
//! one level above the data pages may since have been deleted (pagedel.rs): the descent moves
//! right from it, or, when it was recycled, starts over from the metapage's root.

use crate::index::page::{Buf, WalRecord};
use crate::storage::Lock;
use alex_core::meta::{FORMAT_VERSION, Meta};
use alex_core::page::PageKind;
use pgrx::pg_sys;
use pgrx::prelude::*;

pub const META_BLOCK: u32 = 0;

/// Reads and validates the metapage from a locked buffer.
pub fn read(b: &Buf) -> Meta {
    // The page check on read has verified the magic number.
    let m = Meta::read(b.content_of(PageKind::Meta));
    if m.version != FORMAT_VERSION {
        crate::error::raise(PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, format!("alex index has on-disk format version {}, but this build of omendb reads version {}", m.version, FORMAT_VERSION), Some("REINDEX the index to rebuild it in the current format."));
    }
    m
}

#[derive(Clone, Copy)]
#[repr(C)]
struct RootCache {
    root: u32,
    level: u16,
    /// Distinguishes this cache from earlier ones of any relation in this backend: the route
    /// cache (route_cache.rs) is valid only while the root cache it was made under lives.
    epoch: u64,
}

thread_local! {
    static NEXT_EPOCH: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
}

/// The root block and its level, from the cache or the metapage.
pub fn root(rel: pg_sys::Relation) -> (u32, u16) {
    // SAFETY: rd_amcache is NULL or a RootCache this module allocated in rd_indexcxt, which
    // lives as long as the relcache entry (and is reset together with rd_amcache).
    unsafe {
        let cache = (*rel).rd_amcache as *const RootCache;
        if !cache.is_null() {
            return ((*cache).root, (*cache).level);
        }
    }
    let m = read(&Buf::read(rel, META_BLOCK, Lock::Share));
    remember_root(rel, m.root, m.root_level);
    (m.root, m.root_level)
}

/// Stores the root in the relcache entry's cache.
pub fn remember_root(rel: pg_sys::Relation, root: u32, level: u16) {
    // SAFETY: see `root`; the allocation is in the index's own relcache memory context.
    unsafe {
        let cache = (*rel).rd_amcache as *mut RootCache;
        if cache.is_null() {
            let cache = pg_sys::MemoryContextAlloc((*rel).rd_indexcxt, std::mem::size_of::<RootCache>()) as *mut RootCache;
            let epoch = NEXT_EPOCH.with(|n| n.replace(n.get() + 1));
            *cache = RootCache { root, level, epoch };
            (*rel).rd_amcache = cache as *mut std::ffi::c_void;
        } else {
            (*cache).root = root;
            (*cache).level = level;
        }
    }
}

/// The epoch of the relcache entry's root cache (made if needed).
pub fn cache_epoch(rel: pg_sys::Relation) -> u64 {
    root(rel);
    // SAFETY: `root` leaves rd_amcache pointing to a RootCache.
    unsafe { (*((*rel).rd_amcache as *const RootCache)).epoch }
}

/// Forgets the cached root: the next descent reads the metapage.
pub fn forget_root(rel: pg_sys::Relation) {
    // SAFETY: see `root`.
    unsafe {
        let cache = (*rel).rd_amcache;
        if !cache.is_null() {
            (*rel).rd_amcache = std::ptr::null_mut();
            pg_sys::pfree(cache);
        }
    }
}

/// Applies `change` to the metapage under an exclusive lock in one WAL record and returns the
/// new metapage.
pub fn update(rel: pg_sys::Relation, change: impl FnOnce(&mut Meta)) -> Meta {
    let b = Buf::read(rel, META_BLOCK, Lock::Exclusive);
    let mut m = read(&b);
    change(&mut m);
    let wal = WalRecord::start(rel);
    m.write(wal.register(&b).content());
    wal.finish();
    m
}
