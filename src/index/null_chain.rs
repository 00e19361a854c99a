//! The NULL chain: pages of unordered TIDs of rows whose key is NULL, linked left to right from
//! the metapage's head to its tail. Appends fill pages from the metapage's fill hint on and add
//! pages after the tail; VACUUM removes dead TIDs page by page (vacuum.rs), then unlinks the
//! pages it emptied. An unlinked page is a deleted data page from then on, recycled by data page
//! splits and by this chain's appends alike.
//!
//! Every walk along the chain couples its locks: it locks the first page before releasing the
//! metapage and each next page before releasing the current one. An unlink locks the metapage,
//! the page's left neighbour and the page, in that order, and changes all three in one record.
//! So no walk follows a link read before an unlink to the page unlinked; that holds on standbys
//! too, where no transaction horizon holds back the reuse of an unlinked page. Writers lock in
//! the same order (metapage, then chain pages left to right) and never wait for the metapage
//! while holding a chain page, so the coupling adds no deadlock.

use super::{meta, pagedel};
use crate::index::page::{Buf, WalRecord};
use crate::storage::{Lock, freespace};
use alex_core::data;
use alex_core::entry::{Entry, PackedTid};
use alex_core::meta::Meta;
use alex_core::nulls;
use alex_core::page::{NO_BLOCK, PageKind, node::Header};
use pgrx::pg_sys;

/// The metapage, and the chain page that `pick` names in it locked in `mode` (taken while the
/// metapage is share-locked); None when `pick` gives NO_BLOCK.
pub fn first_page(rel: pg_sys::Relation, mode: Lock, pick: impl FnOnce(&Meta) -> u32) -> (Meta, Option<Buf>) {
    let meta_buf = Buf::read(rel, meta::META_BLOCK, Lock::Share);
    let m = meta::read(&meta_buf);
    let blk = pick(&m);
    (m, (blk != NO_BLOCK).then(|| Buf::read(rel, blk, mode)))
}

/// The page right of `b`, locked in `mode` before `b` is released; None after the tail.
pub fn next_page(rel: pg_sys::Relation, b: Buf, mode: Lock) -> Option<Buf> {
    let right = nulls::right(b.content_of(PageKind::Nulls));
    (right != NO_BLOCK).then(|| Buf::read(rel, right, mode))
}

/// Calls `visit` with each page's content from `page` to the tail, share-locked.
pub fn for_each(rel: pg_sys::Relation, mut page: Option<Buf>, mut visit: impl FnMut(u32, &[u8])) {
    while let Some(b) = page {
        visit(b.block(), b.content_of(PageKind::Nulls));
        page = next_page(rel, b, Lock::Share);
    }
}

/// A page for the chain: a recycled one when the free space map has one, else a new one.
fn new_page(rel: pg_sys::Relation) -> Buf {
    pagedel::recycled_page(rel).unwrap_or_else(|| Buf::extend(rel))
}

/// Adds a NULL key's TID to the chain: to the first page with room from the metapage's fill hint
/// on (pages VACUUM emptied of some TIDs are filled again), else to a new page after the tail.
/// `held_meta` is the metapage when the caller holds it exclusively (a NULLS NOT DISTINCT
/// check); otherwise it is locked here when needed.
pub fn append(rel: pg_sys::Relation, tid: PackedTid, held_meta: Option<&Buf>) {
    let start = |m: &Meta| if m.null_fill != NO_BLOCK { m.null_fill } else { m.null_tail };
    let (m, first) = match held_meta {
        Some(mb) => {
            let m = meta::read(mb);
            let blk = start(&m);
            (m, (blk != NO_BLOCK).then(|| Buf::read(rel, blk, Lock::Exclusive)))
        }
        None => first_page(rel, Lock::Exclusive, start),
    };
    let Some(mut b) = first else {
        return start_chain(rel, tid, held_meta);
    };
    // Walk right from the hint (or the metapage's tail, which may lag behind the chain) to a
    // page with room, or to the real tail.
    let start_block = b.block();
    loop {
        if nulls::count(b.content_of(PageKind::Nulls)) < nulls::CAPACITY {
            let wal = WalRecord::start(rel);
            nulls::push(wal.register(&b).content(), tid);
            wal.finish();
            let blk = b.block();
            drop(b);
            if blk != start_block {
                // Later appends need not walk past the full pages again.
                update_meta(rel, held_meta, |now| {
                    if now.null_fill == m.null_fill {
                        now.null_fill = blk;
                    }
                });
            }
            return;
        }
        if nulls::right(b.content_of(PageKind::Nulls)) == NO_BLOCK {
            break;
        }
        b = next_page(rel, b, Lock::Exclusive).expect("a page with a right link");
    }
    // `b` is the full tail: add a page after it.
    let page = new_page(rel);
    let new_block = page.block();
    let wal = WalRecord::start(rel);
    let mut img = wal.register_new(&page, PageKind::Nulls);
    nulls::init(img.content());
    nulls::push(img.content(), tid);
    drop(img);
    nulls::set_right(wal.register(&b).content(), new_block);
    let advance = |now: &mut Meta| {
        now.null_tail = new_block;
        if now.null_fill == m.null_fill {
            now.null_fill = new_block;
        }
    };
    match held_meta {
        Some(mb) => {
            let mut now = meta::read(mb);
            advance(&mut now);
            now.write(wal.register(mb).content());
            wal.finish();
        }
        None => {
            wal.finish();
            // Chain pages are released before the metapage is locked (see the module comment).
            drop(page);
            drop(b);
            meta::update(rel, advance);
        }
    }
}

/// Starts the chain with a page holding `tid`, unless another backend just did.
fn start_chain(rel: pg_sys::Relation, tid: PackedTid, held_meta: Option<&Buf>) {
    let own_meta = held_meta.is_none().then(|| Buf::read(rel, meta::META_BLOCK, Lock::Exclusive));
    let meta_buf = held_meta.or(own_meta.as_ref()).expect("a metapage");
    let mut m = meta::read(meta_buf);
    if m.null_tail != NO_BLOCK {
        debug_assert!(held_meta.is_none());
        drop(own_meta);
        return append(rel, tid, None);
    }
    let page = new_page(rel);
    let wal = WalRecord::start(rel);
    let mut img = wal.register_new(&page, PageKind::Nulls);
    nulls::init(img.content());
    nulls::push(img.content(), tid);
    drop(img);
    m.null_head = page.block();
    m.null_tail = page.block();
    m.null_fill = NO_BLOCK;
    m.write(wal.register(meta_buf).content());
    wal.finish();
}

/// Applies `change` to the metapage: in a record of its own when the caller holds it, else
/// under a lock taken here.
fn update_meta(rel: pg_sys::Relation, held_meta: Option<&Buf>, change: impl FnOnce(&mut Meta)) {
    match held_meta {
        Some(mb) => {
            let mut m = meta::read(mb);
            change(&mut m);
            let wal = WalRecord::start(rel);
            m.write(wal.register(mb).content());
            wal.finish();
        }
        None => {
            meta::update(rel, change);
        }
    }
}

/// Unlinks the chain's empty pages (VACUUM calls it after removing dead TIDs). Returns how many
/// pages it deleted.
pub fn unlink_empty_pages(rel: pg_sys::Relation) -> u32 {
    let mut pages = Vec::new();
    for_each(rel, first_page(rel, Lock::Share, |m| m.null_head).1, |blk, c| pages.push((blk, nulls::count(c) == 0)));
    let mut left = NO_BLOCK;
    let mut deleted = 0;
    for (blk, empty) in pages {
        crate::compat::vacuum_delay_point();
        if empty && unlink(rel, left, blk) {
            deleted += 1;
        } else {
            left = blk;
        }
    }
    deleted
}

/// Unlinks page `blk` if it is still empty and `left` (NO_BLOCK: the metapage's head) still links
/// to it: one record for the metapage, the left neighbour and the page, which becomes a deleted
/// data page. Only VACUUM unlinks (one at a time per index) and appends only link pages after
/// the tail, so the chain between `left` and `blk` cannot have changed since VACUUM walked it;
/// an append may have filled the page again.
fn unlink(rel: pg_sys::Relation, left: u32, blk: u32) -> bool {
    let meta_buf = Buf::read(rel, meta::META_BLOCK, Lock::Exclusive);
    let mut m = meta::read(&meta_buf);
    let left_buf = if left == NO_BLOCK {
        if m.null_head != blk {
            return false;
        }
        None
    } else {
        let b = Buf::read(rel, left, Lock::Exclusive);
        if nulls::right(b.content_of(PageKind::Nulls)) != blk {
            return false;
        }
        Some(b)
    };
    let page = Buf::read(rel, blk, Lock::Exclusive);
    let c = page.content_of(PageKind::Nulls);
    if nulls::count(c) != 0 {
        return false;
    }
    let right = nulls::right(c);
    if left == NO_BLOCK {
        m.null_head = right;
    }
    if m.null_tail == blk {
        m.null_tail = if left != NO_BLOCK { left } else { right };
    }
    if m.null_fill == blk {
        m.null_fill = m.null_head;
    }
    let wal = WalRecord::start(rel);
    m.write(wal.register(&meta_buf).content());
    if let Some(l) = &left_buf {
        nulls::set_right(wal.register(l).content(), right);
    }
    // No walk reaches the page any more; it keeps no links.
    let h = Header::new(0, Entry::MIN, None);
    data::write_deleted(wal.register_new(&page, PageKind::Data).content(), h, freespace::next_full_xid());
    wal.finish();
    true
}
