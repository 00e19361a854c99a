//! Where rows live: the metapage, the row-number map and the delta segments, with the per-backend
//! caches that make finding a row cost one page read.
//!
//! Lock order: metapage, segment page, delta or overlay page. The metapage's exclusive lock
//! serialises new segments; a segment page's exclusive lock serialises new delta and overlay
//! pages of the segment. Every write to a delta page holds its segment page's lock (shared
//! unless it adds a page), the *gate* that a fold (VACUUM) takes exclusively while it checks
//! that nothing changed since it read the rows and replaces them with a row group. Readers take
//! no gate: a delta page a fold freed no longer passes their check (kind, owner, overlay flag),
//! and they read the segment page again, which then names the group.

use super::group;
use super::page::{self, Buf, WalRecord};
use crate::error::raise;
use crate::storage::{Lock, rel};
use columnar_core::layout::{FLAG_OVERLAY, NO_BLOCK, PageKind, Special};
use columnar_core::segment::State;
use columnar_core::{delta, map, meta, rownum, segment};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Pages the free space map may offer an insert before it extends the relation instead.
const FSM_TRIES: usize = 3;

/// What a backend remembers of one relation file.
#[derive(Default)]
struct Cached {
    /// The map's entries, as last read. Entries are appended, and VACUUM merges two into one:
    /// an entry cached since names a segment page that is free, or starts elsewhere, and the
    /// map is read again (`segment_of`).
    map: Vec<map::Entry>,
    /// Per segment page, the delta pages of its logical blocks as last read.
    segments: HashMap<u32, Vec<u32>>,
    /// The delta page this backend inserts into: (logical block, page, segment page).
    target: Option<(u32, u32, u32)>,
}

thread_local! {
    static CACHE: RefCell<HashMap<(u32, u32, u32), Cached>> = RefCell::new(HashMap::new());
}

fn key(rel: pg_sys::Relation) -> (u32, u32, u32) {
    // SAFETY: an open relation.
    unsafe { crate::compat::rel_file_key(rel) }
}

fn with_cache<T>(rel: pg_sys::Relation, f: impl FnOnce(&mut Cached) -> T) -> T {
    CACHE.with(|c| f(c.borrow_mut().entry(key(rel)).or_default()))
}

/// Forgets everything cached: a relation file was dropped or truncated, and its number may be
/// given to a new file.
pub fn forget_all() {
    CACHE.with(|c| c.borrow_mut().clear());
    group::forget_all();
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
    super::bulk::seal_own(rel);
    if rel::main_fork_blocks(rel) == 0 {
        return None;
    }
    let b = Buf::read(rel, meta::BLOCK, Lock::Share);
    let m = meta::Meta::read(b.content_of(PageKind::Meta));
    check_version(rel, &m);
    Some(m)
}

fn check_version(rel: pg_sys::Relation, m: &meta::Meta) {
    if !(meta::OLDEST_FORMAT_VERSION..=meta::FORMAT_VERSION).contains(&m.version) {
        raise(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("table \"{}\" has columnar format {}, this library reads formats {} to {}", rel::name(rel), m.version, meta::OLDEST_FORMAT_VERSION, meta::FORMAT_VERSION),
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
    // Every way to a row passes here (or through read_meta): this backend's buffered rows of
    // the table are written first.
    super::bulk::seal_own(rel);
    if let Some(e) = with_cache(rel, |c| map::find(&c.map, row).copied()) {
        return Some(e);
    }
    reload_map(rel);
    with_cache(rel, |c| map::find(&c.map, row).copied())
}

/// The map page holding the entry of the range starting at row `first_row`, and the entry's
/// index in it, as read now.
pub fn map_position(rel: pg_sys::Relation, first_row: u64) -> Option<(u32, usize)> {
    let m = read_meta(rel)?;
    let mut blk = m.map_first;
    while blk != NO_BLOCK {
        let b = Buf::read(rel, blk, Lock::Share);
        let c = b.content_of(PageKind::Map);
        if let Some(i) = map::entries(c).position(|e| e.is_ok_and(|e| e.first_row == first_row)) {
            return Some((blk, i));
        }
        blk = map::next(c);
    }
    None
}

/// The map's entries (every delta segment, folded or not), read now.
pub fn segments(rel: pg_sys::Relation) -> Vec<map::Entry> {
    reload_map(rel);
    with_cache(rel, |c| c.map.clone())
}

/// The map entry of logical block `block` and the block's index within it.
fn entry_of(rel: pg_sys::Relation, block: u32) -> Option<(map::Entry, usize)> {
    let e = range_of(rel, block as u64 * rownum::ROWS_PER_BLOCK)?;
    Some((e, (block as u64 - e.first_row / rownum::ROWS_PER_BLOCK) as usize))
}

/// The segment page of logical block `block` (locked in `mode`) and the block's index in it.
/// VACUUM may have moved a folded segment's page since the map was cached: then the map is
/// read again.
fn segment_of(rel: pg_sys::Relation, block: u32, mode: Lock) -> Option<(Buf, usize, map::Entry)> {
    for fresh in [false, true] {
        if fresh {
            reload_map(rel);
        }
        let (e, i) = entry_of(rel, block)?;
        let b = Buf::read(rel, e.page, mode);
        let ok = !b.is_new() && b.kind() == PageKind::Segment && segment::first_block(b.content_of(PageKind::Segment)) as u64 * rownum::ROWS_PER_BLOCK == e.first_row;
        if ok {
            return Some((b, i, e));
        }
        if fresh {
            b.corrupted(&format!("the map names it as the segment page for row {}", e.first_row));
        }
    }
    unreachable!()
}

/// The segment page whose range starts at logical block `first_block`, locked in `mode`.
pub fn segment_page(rel: pg_sys::Relation, first_block: u32, mode: Lock) -> Option<Buf> {
    segment_of(rel, first_block, mode).map(|(b, _, _)| b)
}

/// Whether `b` is a delta-format page of logical block `block`: its overlay (headers of a row
/// group's rows) when `overlay`, else its delta page.
fn is_page_of(b: &Buf, block: u32, overlay: bool) -> bool {
    !b.is_new() && b.kind() == PageKind::Delta && Special::read(b.special()).is_some_and(|s| s.owner == block && (s.flags & FLAG_OVERLAY != 0) == overlay)
}

/// Whether `b` is the delta page of logical block `block` of a segment (not an overlay).
pub fn is_delta_of(b: &Buf, block: u32) -> bool {
    is_page_of(b, block, false)
}

/// Whether `b` is the overlay page of logical block `block` of a row group.
pub fn is_overlay_of(b: &Buf, block: u32) -> bool {
    is_page_of(b, block, true)
}

/// What holds the rows of a logical block, as read now.
pub enum Block {
    /// The delta page of the block, locked as asked.
    Delta(Buf),
    /// A block of a row group: the overlay page (locked as asked) if the block has one, and the
    /// folded segment's page, share-locked while the block is read (overlays are added under its
    /// exclusive lock, so a block read without one had no row with a header of its own).
    Group { overlay: Option<Buf>, group: Rc<group::Loaded>, seg: Buf },
    /// A block of a range reserved for another backend's write buffer (see `bulk.rs`): its rows
    /// are not written yet, and the segment page (share-locked) holds their stamp.
    Reserved(Buf),
}

/// The rows of logical block `block`: None when no range or page holds it.
pub fn read_block(rel: pg_sys::Relation, block: u32, mode: Lock) -> Option<Block> {
    let (e, i) = entry_of(rel, block)?;
    let cached = with_cache(rel, |c| c.segments.get(&e.page).and_then(|t| t.get(i).copied()));
    if let Some(p) = cached.filter(|&p| p != NO_BLOCK) {
        let b = Buf::read(rel, p, mode);
        if is_delta_of(&b, block) {
            return Some(Block::Delta(b));
        }
        // The page was freed since (the segment was folded): the segment page says what now.
    }
    let (sb, i, e) = segment_of(rel, block, Lock::Share)?;
    let c = sb.content_of(PageKind::Segment);
    if segment::state(c) == State::Folded {
        with_cache(rel, |cache| cache.segments.remove(&e.page));
        let group = group::load(rel, &sb);
        let p = segment::page_of(c, i);
        let overlay = (p != NO_BLOCK).then(|| Buf::read(rel, p, mode)).filter(|b| is_overlay_of(b, block));
        return Some(Block::Group { overlay, group, seg: sb });
    }
    if segment::is_reserved(c) {
        return Some(Block::Reserved(sb));
    }
    let table: Vec<u32> = (0..segment::used(c)).map(|j| segment::page_of(c, j)).collect();
    with_cache(rel, |cache| cache.segments.insert(e.page, table));
    let p = segment::page_of(c, i);
    if p == NO_BLOCK {
        return None;
    }
    let b = Buf::read(rel, p, mode);
    if !is_delta_of(&b, block) {
        b.corrupted(&format!("segment page {} maps logical block {block} to a page that is not its delta page", e.page));
    }
    Some(Block::Delta(b))
}

/// A logical block locked for a change of one of its rows' headers.
pub enum Target {
    /// The delta page (exclusively locked) and its segment page (the gate, shared).
    Delta { page: Buf, gate: Buf },
    /// A row group's block: its overlay page (exclusively locked; made if the block had none)
    /// and the folded segment's page.
    Group { overlay: Buf, group: Rc<group::Loaded>, seg: Buf },
}

/// Locks logical block `block` for a change of a row's header.
pub fn write_block(rel: pg_sys::Relation, block: u32) -> Option<Target> {
    let (sb, i, e) = segment_of(rel, block, Lock::Share)?;
    let c = sb.content_of(PageKind::Segment);
    if segment::state(c) != State::Folded {
        let p = segment::page_of(c, i);
        if p == NO_BLOCK {
            return None;
        }
        let b = Buf::read(rel, p, Lock::Exclusive);
        if !is_delta_of(&b, block) {
            b.corrupted(&format!("segment page {} maps logical block {block} to a page that is not its delta page", e.page));
        }
        return Some(Target::Delta { page: b, gate: sb });
    }
    let group = group::load(rel, &sb);
    let p = segment::page_of(c, i);
    if p != NO_BLOCK {
        let b = Buf::read(rel, p, Lock::Exclusive);
        if is_overlay_of(&b, block) {
            return Some(Target::Group { overlay: b, group, seg: sb });
        }
    }
    drop(sb);
    let (sb, i, _) = segment_of(rel, block, Lock::Exclusive)?;
    let overlay = overlay_for(rel, &sb, i, block);
    Some(Target::Group { overlay, group, seg: sb })
}

/// The overlay page of the `i`-th block (logical block `block`) of a folded segment whose page
/// `sb` is exclusively locked, made if it has none.
fn overlay_for(rel: pg_sys::Relation, sb: &Buf, i: usize, block: u32) -> Buf {
    let c = sb.content_of(PageKind::Segment);
    let old = segment::page_of(c, i);
    let old = (old != NO_BLOCK).then(|| Buf::read(rel, old, Lock::Exclusive));
    if old.as_ref().is_some_and(|b| is_overlay_of(b, block)) {
        return old.expect("checked");
    }
    let b = super::toast::allocate_page(rel);
    let rec = WalRecord::start(rel);
    segment::set_page(rec.register(sb).content(), i, b.block());
    // A delta page a crash left behind in the middle of its fold is freed now.
    let pending = old.as_ref().filter(|o| is_delta_of(o, block));
    if let Some(o) = pending {
        drop(rec.register_new(o, PageKind::Free));
    }
    let mut img = rec.register_new(&b, PageKind::Delta);
    delta::init(img.content());
    Special { flags: FLAG_OVERLAY, ..Special::owned(PageKind::Delta, block) }.write(img.special());
    drop(img);
    rec.finish();
    if let Some(o) = pending {
        // SAFETY: an open relation and one of its pages, now free.
        unsafe { pg_sys::RecordPageWithFreeSpace(rel, o.block(), super::toast::WHOLE_PAGE) };
    }
    b
}

/// A delta page an insert writes to: its logical block, the page (exclusively locked) and its
/// open segment's page (the gate, locked).
pub struct InsertPage {
    pub block: u32,
    pub page: Buf,
    pub gate: Buf,
}

/// The open segment's page of delta page `p` of logical block `block`, share-locked, and the
/// page exclusively locked, if it still is such a page with room for `len` bytes.
fn open_page(rel: pg_sys::Relation, block: u32, p: u32, seg: u32, len: usize) -> Option<InsertPage> {
    let gate = Buf::read(rel, seg, Lock::Share);
    // The page may have been freed and taken by another segment since it was cached.
    let covers = |c: &[u8]| (segment::first_block(c)..segment::first_block(c) + segment::BLOCKS as u32).contains(&block);
    if gate.is_new() || gate.kind() != PageKind::Segment || segment::state(gate.content_of(PageKind::Segment)) != State::Open || !covers(gate.content_of(PageKind::Segment)) {
        return None;
    }
    let b = Buf::read(rel, p, Lock::Exclusive);
    (is_delta_of(&b, block) && delta::plan_insert(b.content_of(PageKind::Delta), len).is_some()).then_some(InsertPage { block, page: b, gate })
}

/// A delta page of the open segment with room for `len` more bytes: this backend's target
/// page, one VACUUM left room in, the newest page of the open segment, or a new one.
pub fn page_for_insert(rel: pg_sys::Relation, len: usize) -> InsertPage {
    if !delta::fits_empty_page(len) {
        raise(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("row is too big: size {len}, maximum size {}", columnar_core::layout::CONTENT_SIZE - delta::HEADER_SIZE - 4),
            Some("Rows of a columnar table must fit one page after compression of their values."),
        );
    }
    if let Some((block, p, seg)) = with_cache(rel, |c| c.target) {
        if let Some(found) = open_page(rel, block, p, seg, len) {
            return found;
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
        let peek = Buf::read(rel, p, Lock::Share);
        if !peek.is_new() && peek.kind() == PageKind::Free {
            // A free page becomes a delta page through the segment (below), which takes it
            // from the map again.
            break;
        }
        let block = page::owner(&peek);
        let delta = is_delta_of(&peek, block);
        drop(peek);
        let seg = if delta { entry_of(rel, block).filter(|(e, _)| e.kind == map::RangeKind::Segment) } else { None };
        if let Some(found) = seg.and_then(|(e, _)| open_page(rel, block, p, e.page, len)) {
            with_cache(rel, |cache| cache.target = Some((block, p, found.gate.block())));
            return found;
        }
        // SAFETY: an open relation and one of its pages, which has no room for this insert (or
        // is not a page inserts may use).
        unsafe { pg_sys::RecordPageWithFreeSpace(rel, p, 0) };
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
            if is_delta_of(&b, block) && delta::plan_insert(b.content_of(PageKind::Delta), len).is_some() {
                with_cache(rel, |cache| cache.target = Some((block, p, sb.block())));
                return InsertPage { block, page: b, gate: sb };
            }
        }
        if used < segment::BLOCKS {
            return add_delta_page(rel, sb);
        }
    }
    let sb = new_segment(rel, &mb, &mut m);
    add_delta_page(rel, sb)
}

/// Appends a delta page to the (exclusively locked) open segment.
fn add_delta_page(rel: pg_sys::Relation, sb: Buf) -> InsertPage {
    let b = super::toast::allocate_page(rel);
    let rec = WalRecord::start(rel);
    let mut seg = rec.register(&sb);
    let i = segment::add_block(seg.content(), b.block()).expect("the caller checked that the segment has room");
    let block = segment::first_block(seg.content()) + i as u32;
    drop(seg);
    let mut img = rec.register_new(&b, PageKind::Delta);
    delta::init(img.content());
    page::set_owner_special(img.special(), PageKind::Delta, block);
    drop(img);
    rec.finish();
    with_cache(rel, |c| c.target = Some((block, b.block(), sb.block())));
    InsertPage { block, page: b, gate: sb }
}

/// Closes the open segment `seg` (VACUUM, before folding it): inserts go to a new segment.
pub fn close_segment(rel: pg_sys::Relation, seg: u32) {
    let mb = Buf::read(rel, meta::BLOCK, Lock::Exclusive);
    let mut m = meta::Meta::read(mb.content_of(PageKind::Meta));
    let sb = Buf::read(rel, seg, Lock::Exclusive);
    if segment::state(sb.content_of(PageKind::Segment)) != State::Open {
        return;
    }
    let rec = WalRecord::start(rel);
    segment::close(rec.register(&sb).content());
    if m.open_segment == seg {
        m.open_segment = NO_BLOCK;
        m.write(rec.register(&mb).content());
    }
    rec.finish();
}

/// Starts a new segment after the last range, makes it the open one and lists it in the map.
/// Returns the new segment page, exclusively locked.
fn new_segment(rel: pg_sys::Relation, mb: &Buf, m: &mut meta::Meta) -> Buf {
    add_range(rel, mb, m, segment::BLOCKS as u64, true, segment::init)
}

/// Reserves a range of `blocks` logical blocks after the last one for a write buffer whose rows
/// share `stamp`: a stamped segment of no blocks, listed in the map. Returns its first logical
/// block and its segment page (exclusively locked).
pub fn reserve(rel: pg_sys::Relation, blocks: u64, stamp: segment::Stamp) -> (u32, Buf) {
    ensure_meta(rel);
    let mb = Buf::read(rel, meta::BLOCK, Lock::Exclusive);
    let mut m = meta::Meta::read(mb.content_of(PageKind::Meta));
    check_version(rel, &m);
    // A format-4 table holds no stamped segment; from now on it may.
    m.version = meta::FORMAT_VERSION;
    let first_block = (m.next_row / rownum::ROWS_PER_BLOCK) as u32;
    let sb = add_range(rel, &mb, &mut m, blocks, false, |c, first| segment::reserve(c, first, stamp));
    (first_block, sb)
}

/// Adds a range of `blocks` logical blocks after the last one: a segment page formatted by
/// `format(content, first_block)`, an entry in the map, and the metapage's counters (with `open`,
/// the segment becomes the open one), in one WAL record (`m` is written to `mb`, exclusively
/// locked). Returns the segment page, exclusively locked.
fn add_range(rel: pg_sys::Relation, mb: &Buf, m: &mut meta::Meta, blocks: u64, open: bool, format: impl FnOnce(&mut [u8], u32)) -> Buf {
    let first_block = m.next_row / rownum::ROWS_PER_BLOCK;
    if first_block + segment::BLOCKS as u64 > rownum::MAX_LOGICAL_BLOCKS {
        raise(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("table \"{}\" has used all of its row numbers", rel::name(rel)),
            Some("VACUUM FULL renumbers the rows."),
        );
    }
    let sb = Buf::extend(rel);
    let entry = map::Entry { first_row: m.next_row, rows: blocks * rownum::ROWS_PER_BLOCK, kind: map::RangeKind::Segment, page: sb.block() };
    // The map's last page, or a new one when it is full (or there is none).
    let last = (m.map_last != NO_BLOCK).then(|| Buf::read(rel, m.map_last, Lock::Exclusive));
    let last_full = last.as_ref().is_some_and(|b| map::count(b.content_of(PageKind::Map)) >= map::CAPACITY);
    let fresh = (last.is_none() || last_full).then(|| Buf::extend(rel));
    let rec = WalRecord::start(rel);
    let mut seg = rec.register_new(&sb, PageKind::Segment);
    format(seg.content(), first_block as u32);
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
    if open {
        m.open_segment = sb.block();
    }
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
