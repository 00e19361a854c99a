//! Space in the file for row groups: runs of free pages for their data, moving groups down
//! the file, and cutting free pages off its end, so that folding a table makes it smaller.
//!
//! A group's data pages are consecutive. VACUUM gathers the file's free pages (those the free
//! space map records as wholly free, and those it frees itself) and gives each group it writes
//! the lowest run that holds it, extending the file only when none does; then it moves groups
//! whose data lies above a run that holds them, and truncates the free pages at the end of the
//! file. A page is claimed under its exclusive lock, after checking that it is still free, and
//! written before the lock is released, so a backend that took it from the free space map in
//! the meantime finds a page that is no longer free and leaves it.

use super::group;
use columnar_core::group::Group;
use super::page::{Buf, WalRecord};
use super::store;
use crate::storage::{Lock, rel};
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

/// Writes `stream` into consecutive data pages of the group from logical block `owner`: the lowest
/// free run that holds them, else new pages at the end of the file. Returns the first page.
pub fn write_data(rel: pg_sys::Relation, stream: &[u8], owner: u32, pool: &mut FreePages) -> u32 {
    let n = columnar_core::rowgroup::pages_for(stream.len());
    if n == 0 {
        return 0;
    }
    if let Some(first) = pool.take_run(rel, n, u32::MAX) {
        if write_run(rel, stream, owner, |k| {
            let b = Buf::read(rel, first + k as u32, Lock::Exclusive);
            is_free(&b).then_some(b)
        }) {
            return first;
        }
    }
    let local = rel::is_local(rel);
    // SAFETY: the extension lock keeps other extenders out so that the new pages are
    // consecutive; released below, or with the transaction on ERROR.
    unsafe {
        if !local {
            pg_sys::LockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
        }
    }
    let first = rel::main_fork_blocks(rel);
    let written = write_run(rel, stream, owner, |k| {
        let b = Buf::extend_locked(rel);
        assert_eq!(b.block(), first + k as u32, "new pages are consecutive");
        Some(b)
    });
    // SAFETY: taken above.
    unsafe {
        if !local {
            pg_sys::UnlockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
        }
    }
    assert!(written, "new pages are ours");
    first
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
        let Some(first) = pool.take_run(rel, n, g.data_first) else { continue };
        let stream = group::read_stream(rel, &g, 0..g.stream_len as usize);
        let moved = write_run(rel, &stream, g.first_block, |k| {
            let b = Buf::read(rel, first + k as u32, Lock::Exclusive);
            is_free(&b).then_some(b)
        });
        if !moved {
            continue;
        }
        {
            let sb = Buf::read(rel, seg, Lock::Exclusive);
            let rec = WalRecord::start(rel);
            segment::fold(rec.register(&sb).content(), &Group { data_first: first, ..g });
            rec.finish();
        }
        for p in g.data_blocks() {
            free_page(rel, &Buf::read(rel, p, Lock::Exclusive));
            pool.add(p);
        }
        // SAFETY: lets VACUUM's cost-based delay and interrupts act between groups.
        unsafe { pg_sys::vacuum_delay_point() };
    }
}

/// Moves the pages of folded segments into the lowest free page below them (the map entry is
/// pointed at the copy in the same WAL record), so that they do not hold the end of the file.
/// Backends that cached the map find a free page where the segment was and read the map again.
pub fn move_segments_down(rel: pg_sys::Relation, pool: &mut FreePages) {
    let Some(m) = store::read_meta(rel) else { return };
    let mut map_page = m.map_first;
    while map_page != columnar_core::layout::NO_BLOCK {
        let mb = Buf::read(rel, map_page, Lock::Exclusive);
        let entries: Vec<map::Entry> = map::entries(mb.content_of(PageKind::Map)).filter_map(Result::ok).collect();
        for (i, e) in entries.iter().enumerate() {
            if pool.lowest_run(1, e.page).is_none() {
                continue;
            }
            // Readers may hold the segment page and want the map: no waiting for them here.
            let Some(old) = Buf::try_read_exclusive(rel, e.page) else { continue };
            if segment::state(old.content_of(PageKind::Segment)) != State::Folded {
                continue;
            }
            let Some(to) = pool.take_run(rel, 1, e.page) else { continue };
            let new = Buf::read(rel, to, Lock::Exclusive);
            let (content, special) = (old.content_of(PageKind::Segment).to_vec(), old.special().to_vec());
            let rec = WalRecord::start(rel);
            map::set_page(rec.register(&mb).content(), i, to);
            let mut img = rec.register_new(&new, PageKind::Segment);
            img.content().copy_from_slice(&content);
            img.special().copy_from_slice(&special);
            drop(img);
            drop(rec.register_new(&old, PageKind::Free));
            rec.finish();
            // SAFETY: an open relation and one of its pages, now free.
            unsafe { pg_sys::RecordPageWithFreeSpace(rel, old.block(), super::toast::WHOLE_PAGE) };
            pool.add(old.block());
        }
        map_page = map::next(mb.content_of(PageKind::Map));
    }
    store::forget(rel);
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
