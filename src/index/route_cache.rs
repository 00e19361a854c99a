//! A per-backend cache of the model level just above the data pages, so that a search for a key
//! usually reads one index page (its data page) instead of one page per level.
//!
//! Each full descent to a data page copies the level-1 model page it passes through (its
//! separators, children and fences) into the cache of that index. A later search looks its key
//! up there and reads the data page directly. The cache is only a hint: the data page is
//! accepted only if it is live and its fences hold the key (fences are exact, so that page is
//! the one page holding the key), after at most a few moves right past pages that split or were
//! merged since; anything else falls back to a full descent, which refreshes the cached copy.
//! Block numbers read from the cache always exist: a relation file never shrinks, and the cache
//! belongs to one relation file (another after REINDEX or TRUNCATE) and one relcache entry
//! (a relcache invalidation, as when TRUNCATE rebuilds an index created in the same transaction
//! in place, clears `rd_amcache` and with it the epoch the cache is tied to). Recycled pages
//! only ever become data pages, so a cached child is always a data page.
//!
//! Cost: one hash lookup, one ordered-map lookup and the model page's own routing (its linear
//! model and an exponential search) on the copy. Memory: one 64-byte cache line per data page
//! (its separator, block number and [`ChildHint`], so that the line the route ends on holds all
//! a probe needs next), within `omendb.route_cache_size` per index.

use super::meta;
use crate::index::page::Buf;
use crate::storage::Lock;
use crate::storage::prefetch::prefetch_at;
use alex_core::data::{DataPage, SearchHint};
use alex_core::entry::Entry;
use alex_core::inner::InnerPage;
use alex_core::model::{LinearModel, search_from};
use alex_core::page::{BLCKSZ, NO_BLOCK, PAGE_HEADER_SIZE, PageKind, node};
use alex_core::policy::{ADMIT_ONE_IN, MAX_MOVES_RIGHT, ROUTE_CACHE_KB_DEFAULT, ROUTE_CACHE_KB_MAX, ROUTE_CACHE_KB_MIN};
use pgrx::pg_sys;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// `omendb.route_cache_size`: the most memory (kB) a backend's route cache takes for one index;
/// 0 turns the cache off. The default, 24 MB, holds about 1000 model pages of level 1, which
/// route some 250M random int8 keys.
pub static ROUTE_CACHE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(ROUTE_CACHE_KB_DEFAULT);

/// Registers `omendb.route_cache_size`; called once from `_PG_init`.
pub fn init_guc() {
    GucRegistry::define_int_guc(
        c"omendb.route_cache_size",
        c"Memory each backend may use to cache one alex index's model pages of level 1.",
        c"A search whose model page is cached reads only its data page. A full cache takes one in 16 new pages, each in place of a random cached one. 0 turns the cache off.",
        &ROUTE_CACHE_SIZE,
        ROUTE_CACHE_KB_MIN,
        ROUTE_CACHE_KB_MAX,
        GucContext::Userset,
        GucFlags::UNIT_KB,
    );
}

fn limit_bytes() -> usize {
    ROUTE_CACHE_SIZE.get().max(0) as usize * 1024
}

struct IndexCache {
    epoch: u64,
    /// Copies of level-1 model pages by low fence; their ranges do not overlap.
    pages: BTreeMap<Entry, CachedPage>,
    /// The memory they take.
    bytes: usize,
    /// Chooses which pages a full cache takes in and evicts (xorshift).
    seed: u64,
}

impl IndexCache {
    fn new(epoch: u64) -> IndexCache {
        IndexCache { epoch, pages: BTreeMap::new(), bytes: 0, seed: 0x9e37_79b9_7f4a_7c15 }
    }

    fn remove(&mut self, low: &Entry) {
        if let Some(old) = self.pages.remove(low) {
            self.bytes -= old.bytes();
        }
    }

    fn random(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    /// Evicts a page chosen at random: under probes spread over more pages than fit, this keeps
    /// the hit rate at the share of pages that fit (emptying the whole cache would keep it lower).
    fn evict_one(&mut self) {
        let at = Entry::first_of(self.random());
        let victim = self.pages.range(at..).next().or_else(|| self.pages.iter().next()).map(|(l, _)| *l);
        if let Some(low) = victim {
            self.remove(&low);
        }
    }
}

/// A level-1 model page as the cache keeps it: its high fence, its model, and its children in
/// separator order.
struct CachedPage {
    high: Option<Entry>,
    model: LinearModel,
    /// The first separator's code, the model's origin.
    base: u64,
    children: Vec<Child>,
}

/// One child of a cached model page, in one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Child {
    separator: Entry,
    block: u32,
    hint: ChildHint,
}

const _: () = assert!(size_of::<Child>() == 64);

impl CachedPage {
    fn new(c: &[u8]) -> CachedPage {
        let p = InnerPage::new(c);
        let unknown = ChildHint { recent: pg_sys::InvalidBuffer as pg_sys::Buffer, search: SearchHint::default() };
        let children = (0..p.count()).map(|i| Child { separator: p.separator(i), block: p.child(i), hint: unknown }).collect();
        CachedPage { high: node::high(c), model: p.header().model, base: if p.count() > 0 { p.code(0) } else { 0 }, children }
    }

    /// `InnerPage::route` on the copy: the last child whose separator is `<= e`.
    fn route(&self, e: Entry) -> usize {
        let n = self.children.len();
        let guess = if n <= 1 { 0 } else { self.model.predict_index(e.code.saturating_sub(self.base), n) };
        search_from(n, guess, |i| self.children[i].separator > e).saturating_sub(1)
    }

    fn bytes(&self) -> usize {
        copy_bytes(self.children.len())
    }
}

fn copy_bytes(children: usize) -> usize {
    size_of::<CachedPage>() + children * size_of::<Child>()
}

/// What the last visit of a child data page left for the next one.
#[derive(Clone, Copy, PartialEq)]
struct ChildHint {
    /// The buffer that held it (`ReadRecentBuffer` pins it without a buffer mapping lookup while
    /// it still does), or InvalidBuffer.
    recent: pg_sys::Buffer,
    /// Where in the page a search will read, so that those loads start before the pin.
    search: SearchHint,
}

type RelFile = (u32, u32, u32);

/// A multiply-rotate hash for the few relation file keys of the map (the default SipHash,
/// built against flooding by untrusted keys, costs more than the rest of a cache lookup).
#[derive(Default)]
struct RelFileHasher(u64);

impl std::hash::Hasher for RelFileHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(b as u32);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Caches = HashMap<RelFile, IndexCache, std::hash::BuildHasherDefault<RelFileHasher>>;

thread_local! {
    static CACHES: RefCell<Caches> = RefCell::new(Caches::default());
}

fn rel_file(rel: pg_sys::Relation) -> RelFile {
    // SAFETY: an open relation.
    unsafe { crate::compat::rel_file_key(rel) }
}

/// The data page holding `e`, locked in `mode`, if the cache knows it.
pub fn read_data_page(rel: pg_sys::Relation, e: Entry, mode: Lock, for_insert: bool) -> Option<Buf> {
    let limit = limit_bytes();
    if limit == 0 {
        return None;
    }
    let epoch = meta::cache_epoch(rel);
    let (low, i, mut blk, hint) = CACHES.with(|c| {
        let caches = c.borrow();
        // A cache over the limit (lowered since) sends the search down the tree, and the descent
        // evicts pages as it remembers its own.
        let cache = caches.get(&rel_file(rel)).filter(|x| x.epoch == epoch && x.bytes <= limit)?;
        let (low, copy) = cache.pages.range(..=e).next_back()?;
        if copy.high.is_some_and(|h| e >= h) {
            return None;
        }
        let i = copy.route(e);
        let child = copy.children.get(i)?;
        Some((*low, i, child.block, child.hint))
    })?;
    prefetch_child(hint, e);
    let first = Buf::read_recent(rel, blk, hint.recent, mode);
    let mut next = Some(first);
    for moves in 0..=MAX_MOVES_RIGHT {
        let b = next.take().unwrap_or_else(|| Buf::read(rel, blk, mode));
        // A cached route is a hint: the page it names may since have been recycled as another
        // kind (and is checked, like every page read, before its content is used).
        let (kind, c) = b.page();
        if kind != PageKind::Data {
            return None;
        }
        if node::is_deleted(c) || node::beyond_high(c, e) {
            if for_insert && !node::is_deleted(c) {
                // Perhaps an unposted separator: an insert descends from the root, which notices
                // and repairs it.
                return None;
            }
            blk = node::right(c);
            if blk == NO_BLOCK {
                return None;
            }
            continue;
        }
        if e < node::low(c) {
            return None;
        }
        if moves == 0 {
            let seen = ChildHint { recent: b.raw(), search: DataPage::new(c).search_hint() };
            if seen != hint {
                CACHES.with(|caches| {
                    let mut caches = caches.borrow_mut();
                    if let Some(child) = caches.get_mut(&rel_file(rel)).and_then(|x| x.pages.get_mut(&low)).and_then(|copy| copy.children.get_mut(i)) {
                        child.hint = seen;
                    }
                });
            }
        }
        return Some(b);
    }
    None
}

/// Starts loading, before the child's buffer is pinned, what the pin and the search will read:
/// its buffer descriptor, page header and special space, and the lines the search hint names.
/// A probe's index page is rarely in the CPU cache, and these loads would otherwise follow each
/// other (descriptor, then header, then keys).
fn prefetch_child(hint: ChildHint, e: Entry) {
    if hint.recent <= 0 {
        return; // unknown, or a local buffer
    }
    let id = (hint.recent - 1) as usize;
    // SAFETY: `recent` came from the buffer manager, so `id < NBuffers`, and these only compute
    // addresses inside the shared buffer descriptor and block arrays, which stay mapped for the
    // life of the server. Nothing is read: a prefetch only hints the cache.
    let (desc, page) = unsafe {
        (pg_sys::BufferDescriptors.add(id) as *const u8, (pg_sys::BufferBlocks as *const u8).add(id * BLCKSZ))
    };
    prefetch_at(desc, 0, 1);
    prefetch_at(page, 0, 128);
    prefetch_at(page, BLCKSZ - 64, BLCKSZ);
    let content = page.wrapping_add(PAGE_HEADER_SIZE);
    for (start, end) in hint.search.first_reads(e.code) {
        prefetch_at(content, start, end);
    }
}

/// Copies the level-1 model page `c` (share-locked by a descent) into the cache.
pub fn remember(rel: pg_sys::Relation, c: &[u8]) {
    let (limit, cost) = (limit_bytes(), copy_bytes(InnerPage::new(c).count()));
    let (low, high) = (node::low(c), node::high(c));
    let epoch = meta::cache_epoch(rel);
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        if cost > limit {
            caches.remove(&rel_file(rel)); // the cache is off, or too small for one page
            return;
        }
        let cache = caches.entry(rel_file(rel)).or_insert_with(|| IndexCache::new(epoch));
        if cache.epoch != epoch {
            *cache = IndexCache::new(epoch);
        }
        // Drop the copies this one overlaps: the one starting at or before its low fence and
        // reaching into it, and those starting inside it.
        let overlapping: Vec<Entry> = cache
            .pages
            .range(..high.unwrap_or(Entry::last_of(u64::MAX)))
            .rev()
            .take_while(|(l, old)| **l >= low || old.high.is_none_or(|h| h > low))
            .map(|(l, _)| *l)
            .collect();
        let refresh = !overlapping.is_empty();
        for l in overlapping {
            cache.remove(&l);
        }
        // A full cache takes a new page only now and then: probes spread over more model pages
        // than fit miss in proportion whatever is cached, and a copy on every miss would cost
        // more than the descents it saves. Pages probed often still get in soon.
        if !refresh && cache.bytes + cost > limit && cache.random() % ADMIT_ONE_IN != 0 {
            return;
        }
        while cache.bytes + cost > limit {
            cache.evict_one();
        }
        cache.pages.insert(low, CachedPage::new(c));
        cache.bytes += cost;
    });
}
