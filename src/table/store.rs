//! Where rows live: the metapage, the row-number map and the delta segments, with the per-backend
//! caches that make finding a row cost one page read.
//!
//! Lock order: metapage, segment page, delta page. The metapage's exclusive lock serialises every
//! structural change (a new segment, a new delta page); inserts into an existing delta page take
//! only that page's lock.

use super::page::{self, Buf, WalRecord};
use crate::error::raise;
use crate::storage::{Lock, rel};
use columnar_core::layout::{NO_BLOCK, PageKind};
use columnar_core::{delta, map, meta, rownum, segment};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;

/// Pages the free space map may offer an insert before it extends the relation instead.
const FSM_TRIES: usize = 3;

/// What a backend remembers of one relation file.
#[derive(Default)]
struct Cached {
    /// The map's entries, as last read (entries are only appended).
    map: Vec<map::Entry>,
    /// Per segment page, the delta pages of its logical blocks as last read.
    segments: HashMap<u32, Vec<u32>>,
    /// The delta page this backend inserts into: (logical block, page).
    target: Option<(u32, u32)>,
}

thread_local! {
    static CACHE: RefCell<HashMap<(u32, u32, u32), Cached>> = RefCell::new(HashMap::new());
}

fn key(rel: pg_sys::Relation) -> (u32, u32, u32) {
    // SAFETY: an open relation.
    let n = unsafe { (*rel).rd_node };
    (n.spcNode.to_u32(), n.dbNode.to_u32(), n.relNode.to_u32())
}

fn with_cache<T>(rel: pg_sys::Relation, f: impl FnOnce(&mut Cached) -> T) -> T {
    CACHE.with(|c| f(c.borrow_mut().entry(key(rel)).or_default()))
}

/// Forgets everything cached: a relation file was dropped or truncated, and its number may be
/// given to a new file.
pub fn forget_all() {
    CACHE.with(|c| c.borrow_mut().clear());
}

#[pg_guard]
unsafe extern "C-unwind" fn relcache_invalidated(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    forget_all();
}

pub fn init() {
    // SAFETY: called once from _PG_init; the callback lives as long as the library.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(relcache_invalidated), pg_sys::Datum::from(0)) };
}

/// The metapage, if the relation has one (a relation of zero blocks is an empty table).
pub fn read_meta(rel: pg_sys::Relation) -> Option<meta::Meta> {
    if rel::main_fork_blocks(rel) == 0 {
        return None;
    }
    let b = Buf::read(rel, meta::BLOCK, Lock::Share);
    let m = meta::Meta::read(b.content_of(PageKind::Meta));
    check_version(rel, &m);
    Some(m)
}

fn check_version(rel: pg_sys::Relation, m: &meta::Meta) {
    if m.version != meta::FORMAT_VERSION {
        raise(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("table \"{}\" has columnar format {}, this library reads format {}", rel::name(rel), m.version, meta::FORMAT_VERSION),
            Some("Install the OmenDB version that wrote it, or dump and restore the table."),
        );
    }
}

/// Creates the metapage of an empty relation (under the relation extension lock, so that only
/// one backend does): before any other page is added, so that block 0 is the metapage.
pub fn ensure_meta(rel: pg_sys::Relation) {
    if rel::main_fork_blocks(rel) > 0 {
        return;
    }
    let local = rel::is_local(rel);
    // SAFETY: an open relation; the lock is released below, or with the transaction on ERROR.
    unsafe {
        if !local {
            pg_sys::LockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
        }
    }
    if rel::main_fork_blocks(rel) == 0 {
        let b = Buf::extend(rel);
        assert_eq!(b.block(), meta::BLOCK);
        let rec = WalRecord::start(rel);
        let mut img = rec.register_new(&b, PageKind::Meta);
        meta::Meta::new().write(img.content());
        drop(img);
        rec.finish();
    }
    // SAFETY: taken above.
    unsafe {
        if !local {
            pg_sys::UnlockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
        }
    }
}

/// Reads the whole map into the cache.
fn reload_map(rel: pg_sys::Relation) {
    let mut entries = Vec::new();
    if let Some(m) = read_meta(rel) {
        let mut blk = m.map_first;
        while blk != NO_BLOCK {
            let b = Buf::read(rel, blk, Lock::Share);
            let c = b.content_of(PageKind::Map);
            for e in map::entries(c) {
                entries.push(e.unwrap_or_else(|why| b.corrupted(&why)));
            }
            blk = map::next(c);
        }
    }
    with_cache(rel, |c| c.map = entries);
}

/// The map entry whose range holds `row`.
fn range_of(rel: pg_sys::Relation, row: u64) -> Option<map::Entry> {
    if let Some(e) = with_cache(rel, |c| map::find(&c.map, row).copied()) {
        return Some(e);
    }
    reload_map(rel);
    with_cache(rel, |c| map::find(&c.map, row).copied())
}

/// The delta page holding logical block `block`, if any.
pub fn page_of_block(rel: pg_sys::Relation, block: u32) -> Option<u32> {
    let row = block as u64 * rownum::ROWS_PER_BLOCK;
    let e = range_of(rel, row)?;
    let i = (block as u64 - e.first_row / rownum::ROWS_PER_BLOCK) as usize;
    let cached = with_cache(rel, |c| c.segments.get(&e.page).and_then(|t| t.get(i).copied()));
    if let Some(p) = cached.filter(|&p| p != NO_BLOCK) {
        return Some(p);
    }
    let b = Buf::read(rel, e.page, Lock::Share);
    let c = b.content_of(PageKind::Segment);
    if segment::first_block(c) as u64 * rownum::ROWS_PER_BLOCK != e.first_row {
        b.corrupted(&format!("segment page for row {} starts at logical block {}", e.first_row, segment::first_block(c)));
    }
    let table: Vec<u32> = (0..segment::used(c)).map(|j| segment::page_of(c, j)).collect();
    let p = table.get(i).copied().filter(|&p| p != NO_BLOCK);
    with_cache(rel, |cache| cache.segments.insert(e.page, table));
    p
}

/// Reads the delta page of logical block `block` in `mode`, checking that it is that block's.
pub fn read_delta(rel: pg_sys::Relation, block: u32, mode: Lock) -> Option<Buf> {
    let p = page_of_block(rel, block)?;
    let b = Buf::read(rel, p, mode);
    b.content_of(PageKind::Delta);
    if page::owner(&b) != block {
        b.corrupted(&format!("delta page of logical block {} found where block {block} was mapped", page::owner(&b)));
    }
    Some(b)
}

/// A delta page with room for `len` more bytes, exclusively locked, and its logical block: this
/// backend's target page, the newest page of the open segment, or a new one.
pub fn page_for_insert(rel: pg_sys::Relation, len: usize) -> (u32, Buf) {
    if !delta::fits_empty_page(len) {
        raise(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("row is too big: size {len}, maximum size {}", columnar_core::layout::CONTENT_SIZE - delta::HEADER_SIZE - 4),
            Some("Rows of a columnar table must fit one page after compression of their values."),
        );
    }
    if let Some((block, p)) = with_cache(rel, |c| c.target) {
        let b = Buf::read(rel, p, Lock::Exclusive);
        if b.kind() == PageKind::Delta && page::owner(&b) == block && delta::plan_insert(b.content_of(PageKind::Delta), len).is_some() {
            return (block, b);
        }
    }
    // A page VACUUM left room in, from the free space map (which is not WAL-logged and may be
    // stale: the page is checked, and its entry corrected when it has no room after all).
    for _ in 0..FSM_TRIES {
        // SAFETY: an open relation.
        let p = unsafe { pg_sys::GetPageWithFreeSpace(rel, len + delta::SLOT_SIZE) };
        if p == pg_sys::InvalidBlockNumber || p >= rel::main_fork_blocks(rel) {
            break;
        }
        let b = Buf::read(rel, p, Lock::Exclusive);
        if !b.is_new() && b.kind() == PageKind::Free {
            // A free page becomes a delta page through the segment (below), which takes it
            // from the map again.
            break;
        }
        if !b.is_new() && b.kind() == PageKind::Delta {
            let c = b.content_of(PageKind::Delta);
            if delta::plan_insert(c, len).is_some() {
                let block = page::owner(&b);
                with_cache(rel, |cache| cache.target = Some((block, p)));
                return (block, b);
            }
            // SAFETY: an open relation and one of its pages.
            unsafe { pg_sys::RecordPageWithFreeSpace(rel, p, delta::free_space(c)) };
        } else {
            // SAFETY: as above: not a page inserts may use.
            unsafe { pg_sys::RecordPageWithFreeSpace(rel, p, 0) };
        }
    }
    ensure_meta(rel);
    let mb = Buf::read(rel, meta::BLOCK, Lock::Exclusive);
    let mut m = meta::Meta::read(mb.content_of(PageKind::Meta));
    check_version(rel, &m);
    // The newest page of the open segment may have room (another backend's, or a page this
    // backend left): trickle inserts from short sessions then share pages.
    if m.open_segment != NO_BLOCK {
        let sb = Buf::read(rel, m.open_segment, Lock::Exclusive);
        let c = sb.content_of(PageKind::Segment);
        let used = segment::used(c);
        if used > 0 {
            let (block, p) = (segment::first_block(c) + used as u32 - 1, segment::page_of(c, used - 1));
            let b = Buf::read(rel, p, Lock::Exclusive);
            if page::owner(&b) == block && delta::plan_insert(b.content_of(PageKind::Delta), len).is_some() {
                with_cache(rel, |cache| cache.target = Some((block, p)));
                return (block, b);
            }
        }
        if used < segment::BLOCKS {
            return add_delta_page(rel, &sb);
        }
    }
    let sb = new_segment(rel, &mb, &mut m);
    add_delta_page(rel, &sb)
}

/// Appends a delta page to the (exclusively locked) open segment.
fn add_delta_page(rel: pg_sys::Relation, sb: &Buf) -> (u32, Buf) {
    let b = super::toast::allocate_page(rel);
    let rec = WalRecord::start(rel);
    let mut seg = rec.register(sb);
    let i = segment::add_block(seg.content(), b.block()).expect("the caller checked that the segment has room");
    let block = segment::first_block(seg.content()) + i as u32;
    drop(seg);
    let mut img = rec.register_new(&b, PageKind::Delta);
    delta::init(img.content());
    page::set_owner_special(img.special(), PageKind::Delta, block);
    drop(img);
    rec.finish();
    with_cache(rel, |c| c.target = Some((block, b.block())));
    (block, b)
}

/// Starts a new segment after the last range, makes it the open one and lists it in the map.
/// Returns the new segment page, exclusively locked.
fn new_segment(rel: pg_sys::Relation, mb: &Buf, m: &mut meta::Meta) -> Buf {
    let first_block = m.next_row / rownum::ROWS_PER_BLOCK;
    if first_block + segment::BLOCKS as u64 > rownum::MAX_LOGICAL_BLOCKS {
        raise(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("table \"{}\" has used all of its row numbers", rel::name(rel)),
            Some("VACUUM FULL renumbers the rows."),
        );
    }
    let sb = Buf::extend(rel);
    let entry = map::Entry { first_row: m.next_row, rows: segment::BLOCKS as u64 * rownum::ROWS_PER_BLOCK, kind: map::RangeKind::Segment, page: sb.block() };
    // The map's last page, or a new one when it is full (or there is none).
    let last = (m.map_last != NO_BLOCK).then(|| Buf::read(rel, m.map_last, Lock::Exclusive));
    let last_full = last.as_ref().is_some_and(|b| map::count(b.content_of(PageKind::Map)) >= map::CAPACITY);
    let fresh = (last.is_none() || last_full).then(|| Buf::extend(rel));
    let rec = WalRecord::start(rel);
    let mut seg = rec.register_new(&sb, PageKind::Segment);
    segment::init(seg.content(), first_block as u32);
    page::set_owner_special(seg.special(), PageKind::Segment, first_block as u32);
    drop(seg);
    match (&last, &fresh) {
        (Some(l), None) => {
            let mut img = rec.register(l);
            assert!(map::push(img.content(), entry));
        }
        (l, Some(f)) => {
            if let Some(l) = l {
                map::set_next(rec.register(l).content(), f.block());
            } else {
                m.map_first = f.block();
            }
            let mut img = rec.register_new(f, PageKind::Map);
            map::init(img.content());
            assert!(map::push(img.content(), entry));
            m.map_last = f.block();
        }
        (None, None) => unreachable!(),
    }
    m.next_row += entry.rows;
    m.open_segment = sb.block();
    m.changes += 1;
    m.write(rec.register(mb).content());
    rec.finish();
    with_cache(rel, |c| c.map.push(entry));
    sb
}

/// Forgets this backend's target page of `rel` (its file was truncated).
pub fn forget(rel: pg_sys::Relation) {
    CACHE.with(|c| c.borrow_mut().remove(&key(rel)));
}
