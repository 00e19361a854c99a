//! Space in the file for row groups: runs of free pages for their data, moving groups down
//! the file, and cutting free pages off its end, so that folding a table makes it smaller.
//!
//! A group's data pages are consecutive. VACUUM gathers the file's free pages (those the free
//! space map records as wholly free, and those it frees itself) and gives each group it writes
//! the lowest run that holds it, extending the file only when none does; then it moves groups
//! whose data lies above a run that holds them, and truncates the free pages at the end of the
//! file. A run is hidden from the free space map and checked free page by page, recorded as
//! pending in the group's segment page, and each page is checked again under its exclusive lock
//! when it is written: a run that a backend took a page of in the meantime (its number came from
//! the map before the run was hidden) is given up, its written pages freed again. What a crash
//! leaves pending, the next VACUUM frees.

use super::page::{Buf, WalRecord};
use super::{group, store};
use crate::storage::{Lock, rel};
use columnar_core::group::Group;
use columnar_core::layout::{PageKind, Special};
use columnar_core::map;
use columnar_core::segment::{self, State};
use pgrx::pg_sys;
use std::collections::BTreeSet;

/// The free pages VACUUM knows of.
pub struct FreePages(BTreeSet<u32>);

fn is_free(b: &Buf) -> bool {
    b.is_new() || b.kind() == PageKind::Free
}

impl FreePages {
    /// The pages the free space map records as wholly free.
    pub fn of(rel: pg_sys::Relation) -> FreePages {
        // SAFETY: an open relation; plain lookups in its free space map.
        FreePages((0..rel::main_fork_blocks(rel)).filter(|&b| unsafe { pg_sys::GetRecordedFreeSpace(rel, b) } >= super::toast::WHOLE_PAGE_REQUEST).collect())
    }

    /// No free pages: groups written with it go to new pages at the end of the file (a bulk
    /// load does not search the free space map for runs; VACUUM moves groups down later).
    pub fn none() -> FreePages {
        FreePages(BTreeSet::new())
    }

    pub fn add(&mut self, blk: u32) {
        self.0.insert(blk);
    }

    /// The lowest run of `n` consecutive free pages that ends at or below `below`.
    fn lowest_run(&self, n: usize, below: u32) -> Option<u32> {
        let mut start = None::<u32>;
        let mut prev = None::<u32>;
        for &p in &self.0 {
            if prev.is_none_or(|q| q + 1 != p) {
                start = Some(p);
            }
            prev = Some(p);
            let s = start.expect("set above");
            if p + 1 > below {
                return None;
            }
            if (p - s + 1) as usize >= n {
                return Some(s);
            }
        }
        None
    }

    /// Takes the lowest run of `n` free pages below `below`, checked free and hidden from the
    /// free space map; None when there is none (pages found taken are forgotten).
    fn take_run(&mut self, rel: pg_sys::Relation, n: usize, below: u32) -> Option<u32> {
        'search: while let Some(s) = self.lowest_run(n, below) {
            for p in s..s + n as u32 {
                let b = Buf::read(rel, p, Lock::Exclusive);
                // SAFETY: an open relation and one of its pages (the pages checked before this
                // one are recorded free again when the run is given up).
                unsafe { pg_sys::RecordPageWithFreeSpace(rel, p, 0) };
                if !is_free(&b) {
                    self.0.remove(&p);
                    for q in s..p {
                        // SAFETY: as above.
                        unsafe { pg_sys::RecordPageWithFreeSpace(rel, q, super::toast::WHOLE_PAGE) };
                    }
                    continue 'search;
                }
            }
            for p in s..s + n as u32 {
                self.0.remove(&p);
            }
            return Some(s);
        }
        None
    }
}

/// Writes the data pages of group `g` (its `data_first` and `data_pages` are what this
/// chooses): into the lowest run of free pages below `below`, else, with `may_extend`, into
/// new pages at the end of the file. The run is first recorded as pending in the group's
/// segment page `sb` (exclusively locked), so that VACUUM frees it if the group is never linked.
/// Returns the first page, or None when no run below `below` holds the data.
pub fn write_group_data(rel: pg_sys::Relation, sb: &Buf, stream: &[u8], g: Group, pool: &mut FreePages, below: u32, may_extend: bool) -> Option<u32> {
    let n = columnar_core::rowgroup::pages_for(stream.len());
    loop {
        let first = match pool.take_run(rel, n, below) {
            Some(first) => first,
            None if may_extend => extend(rel, n),
            None => return None,
        };
        let rec = WalRecord::start(rel);
        segment::set_pending(rec.register(sb).content(), Some(&Group { data_first: first, data_pages: n as u32, ..g }));
        rec.finish();
        let written = write_run(rel, stream, g.first_block, |k| {
            let b = Buf::read(rel, first + k as u32, Lock::Exclusive);
            is_free(&b).then_some(b)
        });
        if written {
            return Some(first);
        }
        // A page of the run was taken meanwhile (its number came from the free space map
        // before the run was hidden there): the pages written are free again; another run.
    }
}

/// Adds `n` consecutive new (all-zero) pages at the end of the file; returns the first.
fn extend(rel: pg_sys::Relation, n: usize) -> u32 {
    let local = rel::is_local(rel);
    // SAFETY: the extension lock keeps other extenders out so that the pages are consecutive;
    // released below, or with the transaction on ERROR.
    unsafe {
        if !local {
            pg_sys::LockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
        }
    }
    let first = crate::storage::buffer::extend_by_locked(rel, n);
    debug_assert_eq!(rel::main_fork_blocks(rel), first + n as u32, "new pages are consecutive");
    // SAFETY: taken above.
    unsafe {
        if !local {
            pg_sys::UnlockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
        }
    }
    first
}

/// Frees the data pages a segment page (exclusively locked) records as pending, which no
/// group links (a fold, a rewrite or a move that a crash or an error interrupted).
pub fn free_pending(rel: pg_sys::Relation, sb: &Buf, pool: &mut FreePages) {
    let Some(p) = segment::pending(sb.content_of(PageKind::Segment)) else { return };
    for blk in p.data_blocks().filter(|&b| b < rel::main_fork_blocks(rel)) {
        let b = Buf::read(rel, blk, Lock::Exclusive);
        let ours = b.is_new() || Special::read(b.special()).is_some_and(|s| s.kind == PageKind::Data && s.owner == p.first_block);
        if ours {
            free_page(rel, &b);
            pool.add(blk);
        }
    }
    let rec = WalRecord::start(rel);
    segment::set_pending(rec.register(sb).content(), None);
    rec.finish();
}

/// Writes the data pages of a stream, four to a WAL record, each page got from `page(k)`
/// exclusively locked; false (pages written so far freed again) when `page` finds one taken.
fn write_run(rel: pg_sys::Relation, stream: &[u8], owner: u32, mut page: impl FnMut(usize) -> Option<Buf>) -> bool {
    let n = columnar_core::rowgroup::pages_for(stream.len());
    let mut written: Vec<u32> = Vec::new();
    let mut k = 0;
    while k < n {
        let mut batch = Vec::new();
        for j in k..n.min(k + 4) {
            match page(j) {
                Some(b) => batch.push(b),
                None => {
                    drop(batch);
                    for p in written {
                        free_page(rel, &Buf::read(rel, p, Lock::Exclusive));
                    }
                    return false;
                }
            }
        }
        let rec = WalRecord::start(rel);
        for (j, b) in batch.iter().enumerate() {
            let mut img = rec.register_new(b, PageKind::Data);
            let part = columnar_core::rowgroup::page_slice(stream, k + j);
            img.content()[..part.len()].copy_from_slice(part);
            Special::nth(PageKind::Data, owner, (k + j) as u32).write(img.special());
        }
        rec.finish();
        written.extend(batch.iter().map(|b| b.block()));
        k += batch.len();
    }
    true
}

/// Formats an exclusively locked page as free and records it in the free space map.
pub fn free_page(rel: pg_sys::Relation, b: &Buf) {
    let rec = WalRecord::start(rel);
    drop(rec.register_new(b, PageKind::Free));
    rec.finish();
    // SAFETY: an open relation and one of its pages, now free.
    unsafe { pg_sys::RecordPageWithFreeSpace(rel, b.block(), super::toast::WHOLE_PAGE) };
}

/// Moves every group whose data lies above a free run that holds it into the lowest such run:
/// the data pages are copied, the group page is pointed at them, and the old pages are freed.
/// Readers that had the group's old place find pages of another owner and read the group page
/// again (`group::read_stream`).
pub fn move_groups_down(rel: pg_sys::Relation, pool: &mut FreePages) {
    let mut groups: Vec<(u32, Group)> = store::segments(rel)
        .iter()
        .filter_map(|e| {
            let sb = Buf::read(rel, e.page, Lock::Share);
            let c = sb.content_of(PageKind::Segment);
            (segment::state(c) == State::Folded).then(|| (e.page, segment::group(c)))
        })
        .collect();
    groups.sort_by_key(|(_, g)| std::cmp::Reverse(g.data_first));
    for (seg, g) in groups {
        let n = g.data_pages as usize;
        if n == 0 || pool.lowest_run(n, g.data_first).is_none() {
            continue;
        }
        let stream = group::read_stream(rel, &g, 0..g.stream_len as usize);
        let sb = Buf::read(rel, seg, Lock::Exclusive);
        if segment::group(sb.content_of(PageKind::Segment)) != g {
            continue;
        }
        let Some(first) = write_group_data(rel, &sb, &stream, g, pool, g.data_first, false) else { continue };
        let rec = WalRecord::start(rel);
        segment::fold(rec.register(&sb).content(), &Group { data_first: first, ..g });
        rec.finish();
        drop(sb);
        for p in g.data_blocks() {
            free_page(rel, &Buf::read(rel, p, Lock::Exclusive));
            pool.add(p);
        }
        crate::compat::vacuum_delay_point();
    }
}

/// Copies page `old` (exclusively locked, of `kind`) into `to` in record `rec`, and frees it.
fn copy_page<'g>(rec: &WalRecord<'g>, old: &'g Buf, new: &'g Buf, kind: PageKind) {
    let (content, special) = (old.content_of(kind).to_vec(), old.special().to_vec());
    let mut img = rec.register_new(new, kind);
    img.content().copy_from_slice(&content);
    img.special().copy_from_slice(&special);
    drop(img);
    drop(rec.register_new(old, PageKind::Free));
}

/// Moves segment pages, and the delta pages of segments not folded, into the lowest free
/// page below them (the map entry, the metapage's open segment or the segment's table is
/// pointed at the copy in the same WAL record), so that they do not hold the end of the file.
/// Backends that cached a page's place find a free page (or a page of another owner) there and
/// look it up again; writers of a delta page hold its segment page, which this locks.
pub fn move_pages_down(rel: pg_sys::Relation, pool: &mut FreePages) {
    let Some(m) = store::read_meta(rel) else { return };
    let mut map_page = m.map_first;
    while map_page != columnar_core::layout::NO_BLOCK {
        let mb = Buf::read(rel, map_page, Lock::Exclusive);
        let entries: Vec<map::Entry> = map::entries(mb.content_of(PageKind::Map)).filter_map(Result::ok).collect();
        for (i, e) in entries.iter().enumerate() {
            if pool.lowest_run(1, e.page).is_none() {
                continue;
            }
            // Readers and inserters may hold the segment page or the metapage and want the
            // map: no waiting for them here.
            let Some(old) = Buf::try_read_exclusive(rel, e.page) else { continue };
            let open = segment::state(old.content_of(PageKind::Segment)) == State::Open;
            let meta = match open.then(|| Buf::try_read_exclusive(rel, columnar_core::meta::BLOCK)) {
                Some(None) => continue,
                Some(meta) => meta,
                None => None,
            };
            move_segment(rel, &mb, i, &old, meta.as_ref(), pool);
        }
        map_page = map::next(mb.content_of(PageKind::Map));
    }
    store::forget(rel);
    for e in store::segments(rel) {
        move_delta_pages(rel, e.page, pool);
    }
    store::forget(rel);
}

/// Moves segment page `old` (entry `i` of map page `mb`; with `meta` when it is the open one).
fn move_segment(rel: pg_sys::Relation, mb: &Buf, i: usize, old: &Buf, meta: Option<&Buf>, pool: &mut FreePages) {
    let Some(to) = pool.take_run(rel, 1, old.block()) else { return };
    let new = Buf::read(rel, to, Lock::Exclusive);
    let rec = WalRecord::start(rel);
    map::set_page(rec.register(mb).content(), i, to);
    if let Some(meta) = meta {
        let mut m = columnar_core::meta::Meta::read(meta.content_of(PageKind::Meta));
        if m.open_segment == old.block() {
            m.open_segment = to;
            m.write(rec.register(meta).content());
        }
    }
    copy_page(&rec, old, &new, PageKind::Segment);
    rec.finish();
    // SAFETY: an open relation and one of its pages, now free.
    unsafe { pg_sys::RecordPageWithFreeSpace(rel, old.block(), super::toast::WHOLE_PAGE) };
    pool.add(old.block());
}

/// Moves the delta pages of the segment on page `seg` (if it is not folded) down, one at a
/// time under the segment page's exclusive lock.
fn move_delta_pages(rel: pg_sys::Relation, seg: u32, pool: &mut FreePages) {
    let sb = Buf::read(rel, seg, Lock::Share);
    let c = sb.content_of(PageKind::Segment);
    if segment::state(c) == State::Folded {
        return;
    }
    let first = segment::first_block(c);
    let pages: Vec<(usize, u32)> = (0..segment::used(c)).map(|i| (i, segment::page_of(c, i))).filter(|&(_, p)| p != columnar_core::layout::NO_BLOCK).collect();
    drop(sb);
    for (i, p) in pages.into_iter().rev() {
        if pool.lowest_run(1, p).is_none() {
            continue;
        }
        let sb = Buf::read(rel, seg, Lock::Exclusive);
        if segment::page_of(sb.content_of(PageKind::Segment), i) != p {
            continue;
        }
        let old = Buf::read(rel, p, Lock::Exclusive);
        if !store::is_delta_of(&old, first + i as u32) {
            continue;
        }
        let Some(to) = pool.take_run(rel, 1, p) else { continue };
        let new = Buf::read(rel, to, Lock::Exclusive);
        let rec = WalRecord::start(rel);
        segment::set_page(rec.register(&sb).content(), i, to);
        copy_page(&rec, &old, &new, PageKind::Delta);
        rec.finish();
        // SAFETY: an open relation and its pages: the copy keeps its free space, the old one
        // is free.
        unsafe {
            pg_sys::RecordPageWithFreeSpace(rel, to, pg_sys::GetRecordedFreeSpace(rel, p));
            pg_sys::RecordPageWithFreeSpace(rel, p, super::toast::WHOLE_PAGE);
        }
        pool.add(p);
    }
}

/// Cuts the free pages at the end of the file off, as heap's VACUUM truncates empty pages:
/// only if the AccessExclusiveLock can be had at once (readers and writers are not waited
/// for), and after checking the pages again under it. Other backends forget what they cached of
/// the file through the relcache invalidation.
pub fn truncate_free_tail(rel: pg_sys::Relation) {
    let free_tail = |rel: pg_sys::Relation| {
        let mut end = rel::main_fork_blocks(rel);
        while end > 1 && is_free(&Buf::read(rel, end - 1, Lock::Share)) {
            end -= 1;
        }
        end
    };
    let n = rel::main_fork_blocks(rel);
    if free_tail(rel) == n {
        return;
    }
    // SAFETY: an open relation; a conditional lock never waits, and is released below.
    unsafe {
        if !pg_sys::ConditionalLockRelation(rel, pg_sys::AccessExclusiveLock as i32) {
            return;
        }
        let end = free_tail(rel);
        if end < rel::main_fork_blocks(rel) {
            pg_sys::RelationTruncate(rel, end);
            pg_sys::CacheInvalidateRelcache(rel);
            store::forget_all();
        }
        pg_sys::UnlockRelation(rel, pg_sys::AccessExclusiveLock as i32);
    }
}
