//! Inserts (as nbtinsert.c): place an entry in its data page's gapped array; when the page is
//! too full (or the entry does not fit the page's encoding) lay the page out again or split it,
//! then post the new pages' separators to the level above, splitting model pages as needed and
//! growing a new root when the old one splits.
//!
//! Every page change is one generic-WAL record of at most four pages: a data split writes the
//! old page, up to two new pages and the old right neighbour's left link; a separator insert
//! writes one model page (or, when it splits, the same three kinds of pages); a new root writes
//! the metapage and the root. Between those records the tree is always searchable: a separator
//! not yet posted only costs a move right (see the design document).

use super::keys::KeyType;
use super::{meta, null_chain, pagedel, search, unique};
use crate::index::page::{Buf, WalRecord};
use crate::storage::prefetch::CpuPrefetch;
use crate::storage::{Lock, tid};
use alex_core::split::{SplitPlan, pieces_of, plan_split};
use alex_core::data::{self, DataPage, DataPageMut, Encoding, InsertError, Slack};
use alex_core::entry::{Entry, PackedTid};
use alex_core::inner::{self, InnerPage};
use alex_core::page::{NO_BLOCK, PageKind, node, node::Header};
use alex_core::policy::{APPEND_SPLIT_TENTHS, MAX_DENSITY, MAX_SHIFT};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Developer option `omendb.skip_separator_posts`: splits leave their new pages' separators
/// unposted, the state a crash right after a split leaves behind, and inserts do not repair
/// them while it is on, so that tests can build that state and then check the repair.
pub static SKIP_SEPARATOR_POSTS: GucSetting<bool> = GucSetting::<bool>::new(false);

/// Developer option `omendb.model_page_fanout`: model pages written from now on (by a build or a
/// split) take at most this many children (0: as many as fit; at least 3), so that tests can
/// grow trees of four and more levels, and exercise what happens between model pages of the
/// higher levels, from a few thousand rows.
pub static MODEL_PAGE_FANOUT: GucSetting<i32> = GucSetting::<i32>::new(0);

/// How many children a model page takes (see [`MODEL_PAGE_FANOUT`]).
pub fn model_page_fanout() -> usize {
    match MODEL_PAGE_FANOUT.get() {
        0 => inner::CAPACITY,
        n => (n.max(3) as usize).min(inner::CAPACITY),
    }
}

/// Registers the GUCs; called once from `_PG_init`.
pub fn init_gucs() {
    GucRegistry::define_int_guc(
        c"omendb.model_page_fanout",
        c"Developer option: the most children a new or split alex model page takes (0: as many as fit).",
        c"Grows deep trees from few rows. For testing only.",
        &MODEL_PAGE_FANOUT,
        0,
        inner::CAPACITY as i32,
        GucContext::Suset,
        GucFlags::NO_SHOW_ALL,
    );
    GucRegistry::define_bool_guc(
        c"omendb.skip_separator_posts",
        c"Developer option: page splits do not post separators to the level above, nor do inserts repair them.",
        c"Leaves the tree as a crash right after each split would; later inserts repair it. For testing only.",
        &SKIP_SEPARATOR_POSTS,
        GucContext::Suset,
        GucFlags::NO_SHOW_ALL,
    );
}

/// Not `#[pg_guard]`: [`unique::reporting_violations`] guards it, and reports unique violations
/// with the fields btree gives them.
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    heap: pg_sys::Relation,
    check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    // SAFETY: one key column: values/isnull have one entry; heap_tid is valid; `heap` is open.
    unsafe {
        let (is_null, value, tid) = (*isnull, *values, tid::pack(&*heap_tid));
        unique::reporting_violations(heap, || insert(index, heap, value, is_null, tid, check_unique))
    }
}

fn insert(index: pg_sys::Relation, heap: pg_sys::Relation, value: pg_sys::Datum, is_null: bool, tid: PackedTid, check_unique: pg_sys::IndexUniqueCheck::Type) -> bool {
    if check_unique != pg_sys::IndexUniqueCheck::UNIQUE_CHECK_NO {
        return insert_unique(index, heap, value, is_null, tid, check_unique);
    }
    if is_null {
        null_chain::append(index, tid, None);
    } else {
        insert_entry(index, Entry::new(KeyType::of_index(index).encode(value), tid));
    }
    false
}

/// Inserts into a UNIQUE index after checking the key's existing entries (see unique.rs).
/// Returns false only for UNIQUE_CHECK_PARTIAL when a conflict is possible: a duplicate that is
/// live or whose transaction is still running, which is not waited for (as in btree, the
/// executor rechecks: deferred constraints at commit, ON CONFLICT arbiters at once);
/// UNIQUE_CHECK_EXISTING rechecks an entry that is already in the index and inserts nothing.
fn insert_unique(
    rel: pg_sys::Relation,
    heap: pg_sys::Relation,
    value: pg_sys::Datum,
    is_null: bool,
    tid: PackedTid,
    mode: pg_sys::IndexUniqueCheck::Type,
) -> bool {
    let existing = mode == pg_sys::IndexUniqueCheck::UNIQUE_CHECK_EXISTING;
    let own = if existing { Some(tid) } else { None };
    if is_null && !unique::nulls_not_distinct(rel) {
        if !existing {
            null_chain::append(rel, tid, None);
        }
        return true;
    }
    loop {
        let (verdict, held) = if is_null {
            let meta_buf = Buf::read(rel, meta::META_BLOCK, Lock::Exclusive);
            let head = meta::read(&meta_buf).null_head;
            (unique::check_nulls(rel, heap, head, own), Held::Meta(meta_buf))
        } else {
            let key_type = KeyType::of_index(rel);
            let code = key_type.encode(value);
            let (lo, hi) = key_type.equal_range(value);
            let first = search::descend(rel, Entry::first_of(lo), 0, Lock::Exclusive);
            (unique::check_key(rel, heap, &first, lo, hi, own), Held::Leaf(first, Entry::new(code, tid)))
        };
        let partial = mode == pg_sys::IndexUniqueCheck::UNIQUE_CHECK_PARTIAL;
        let conflict = match verdict {
            unique::Verdict::Wait { .. } if partial => true,
            unique::Verdict::Wait { xid, token } => {
                drop(held);
                unique::wait_for(xid, token, heap, tid);
                continue;
            }
            unique::Verdict::Conflict => true,
            unique::Verdict::Unique => false,
        };
        if conflict && !partial {
            drop(held);
            unique::violation(rel, value, is_null);
        }
        if !existing {
            match held {
                Held::Meta(meta_buf) => null_chain::append(rel, tid, Some(&meta_buf)),
                Held::Leaf(first, e) => insert_holding_first(rel, first, e),
            }
        }
        return !conflict;
    }
}

/// The lock that serialises a unique check with the insert that follows it.
enum Held {
    Meta(Buf),
    Leaf(Buf, Entry),
}

/// Inserts `e` while `first` (where its key's entries start) stays locked until the end.
fn insert_holding_first(rel: pg_sys::Relation, first: Buf, e: Entry) {
    if !node::beyond_high(first.content_of(PageKind::Data), e) {
        return insert_into_leaf(rel, first, e);
    }
    // The key's entries spill over to the right and `e` sorts among them there.
    let right = node::right(first.content_of(PageKind::Data));
    insert_into_leaf(rel, search::settle(rel, right, e, 0, Lock::Exclusive), e);
    drop(first);
}

/// Inserts `e` into the tree. When the descent met a page whose separator is missing from its
/// parent (a crash between a split and its post left it so, or its splitter is posting it right
/// now), posts it afterwards, with no lock held, as the splitter would have.
pub fn insert_entry(rel: pg_sys::Relation, e: Entry) {
    let (leaf, unposted) = search::descend_to_insert(rel, e);
    insert_into_leaf(rel, leaf, e);
    if let Some(u) = unposted.filter(|_| !SKIP_SEPARATOR_POSTS.get()) {
        post_separator(rel, u.level, u.sep, u.child);
    }
}

/// Inserts `e` into `leaf`, the exclusively locked data page whose fences hold it, splitting it
/// when needed. Consumes (releases) the page.
fn insert_into_leaf(rel: pg_sys::Relation, leaf: Buf, e: Entry) {
    debug_assert!({
        let c = leaf.content_of(PageKind::Data);
        !node::is_deleted(c) && node::low(c) <= e && !node::beyond_high(c, e)
    });
    let fits = {
        let p = DataPage::new(leaf.content_of(PageKind::Data));
        (p.count() + 1) as f64 <= p.capacity() as f64 * MAX_DENSITY && p.fits(e)
    };
    if fits {
        let plan = DataPage::new(leaf.content_of(PageKind::Data)).with_prefetch(CpuPrefetch).plan_insert(e);
        match plan {
            // The common case: a few slots change, in place, and only they are logged.
            Ok(plan) if plan.shifted <= MAX_SHIFT => {
                WalRecord::change_in_place(rel, &leaf, &plan.changed_ranges(), |c| DataPageMut::new(c).apply_insert(&plan));
            }
            Ok(_) => {
                // Long shifts mean the model no longer matches the keys: retrain.
                let wal = WalRecord::start(rel);
                let mut img = wal.register(&leaf);
                let c = img.content();
                DataPageMut::new(c).insert(e).unwrap_or_else(|err| error!("alex: unexpected insert failure {err:?}"));
                relayout(c, e);
                drop(img);
                wal.finish();
            }
            // Already present (the same heap TID indexed twice): nothing to do.
            Err(InsertError::Duplicate) => {}
            Err(err) => error!("alex: unexpected insert failure {err:?}"),
        }
        return;
    }
    split_data_page(rel, leaf, e);
}

/// Lays the data page in `c` out again with all its entries, `inserted` among them, keeping its
/// fences and links.
fn relayout(c: &mut [u8], inserted: Entry) {
    let h = Header::read(c);
    let entries = DataPage::new(c).entries();
    let enc = Encoding::for_entries(&entries, h.low, h.high);
    let slack = Slack::after_insert(&entries, entries.partition_point(|x| *x < inserted), h.low, h.high);
    data::layout_with(c, &entries, enc, h, slack);
}

/// Makes room for `e` in the full data page `leaf` (exclusively locked): lays it out again if a
/// new encoding gives enough room, else splits it into two or three pages.
fn split_data_page(rel: pg_sys::Relation, leaf: Buf, e: Entry) {
    let (h, mut all, dictionary_miss) = {
        let c = leaf.content_of(PageKind::Data);
        let p = DataPage::new(c);
        (Header::read(c), p.entries(), p.encoding().dict_len > 0 && !p.holds_code(e.code))
    };
    let at = all.partition_point(|y| *y < e);
    if all.get(at) == Some(&e) {
        return;
    }
    all.insert(at, e);
    debug_assert!(super::strictly_increasing(&all));
    let (cuts, affine) = match plan_split(&all, at, h.low, h.high, MAX_DENSITY, dictionary_miss) {
        SplitPlan::Rebuild(enc) => {
            let wal = WalRecord::start(rel);
            let mut img = wal.register(&leaf);
            data::layout_with(img.content(), &all, enc, h, Slack::after_insert(&all, at, h.low, h.high));
            drop(img);
            wal.finish();
            return;
        }
        SplitPlan::Split { cuts, affine } => (cuts, affine),
    };
    // Pieces [0, c1), [c1, c2), ...: the first stays in the page, the others go to new pages.
    let (reuse_guard, new_pages) = pagedel::new_data_pages(rel, cuts.len());
    let right = if h.right != NO_BLOCK { Some(Buf::read(rel, h.right, Lock::Exclusive)) } else { None };
    let blocks: Vec<u32> = std::iter::once(leaf.block()).chain(new_pages.iter().map(|b| b.block())).collect();
    let mut separators = Vec::new();
    {
        let wal = WalRecord::start(rel);
        for (i, (s, piece, low, high)) in pieces_of(&all, &cuts, h.low, h.high).enumerate() {
            let left = if i == 0 { h.left } else { blocks[i - 1] };
            let header = Header::new(0, low, high).linked(left, blocks.get(i + 1).copied().unwrap_or(h.right));
            let mut img = if i == 0 { wal.register(&leaf) } else { wal.register_new(&new_pages[i - 1], PageKind::Data) };
            debug_assert!(piece.first().is_none_or(|f| *f >= low) && piece.last().is_none_or(|l| high.is_none_or(|h| *l < h)));
            let slack = if (s..s + piece.len()).contains(&at) { Slack::after_insert(piece, at - s, low, high) } else { Slack::Spread };
            let enc = if affine { Encoding::affine_for(piece, low, high) } else { Encoding::for_entries(piece, low, high) };
            data::layout_with(img.content(), piece, enc, header, slack);
            if i > 0 {
                separators.push((low, blocks[i]));
            }
        }
        if let Some(r) = &right {
            node::set_left(wal.register(r).content(), *blocks.last().unwrap());
        }
        wal.finish();
    }
    drop(reuse_guard);
    drop(right);
    drop(new_pages);
    drop(leaf);
    if !SKIP_SEPARATOR_POSTS.get() {
        for (sep, child) in separators {
            post_separator(rel, 1, sep, child);
        }
    }
}

/// Adds separator `sep` -> `child` to the model page at `level` that covers `sep`, splitting it
/// (and posting upward) when full; creates a new root when `level` is above the root.
///
/// Both the splitter and an insert repairing a missing separator post, so a post first checks
/// that `child` is still a live page one level down whose low fence is `sep`, and keeps it
/// share-locked until the separator is in (no merge can delete it meanwhile); then it adds the
/// separator unless the model page already has it. Locking the child before its parent is the
/// writers' order; the metapage, which a split may hold (shared) while it locks its right
/// neighbour, is never waited for with the child locked.
fn post_separator(rel: pg_sys::Relation, level: u16, sep: Entry, child: u32) {
    let child_buf = loop {
        let child_buf = Buf::read(rel, child, Lock::Share);
        let kind = if level == 1 { PageKind::Data } else { PageKind::Inner };
        let current = !child_buf.is_new() && child_buf.kind() == kind && {
            let c = child_buf.content_of(kind);
            !node::is_deleted(c) && node::level(c) == level - 1 && node::low(c) == sep
        };
        if !current {
            return;
        }
        let root_level = meta::read(&Buf::read(rel, meta::META_BLOCK, Lock::Share)).root_level;
        if root_level >= level {
            break child_buf;
        }
        // The child is on the top level, which has no parent, so no merge can delete it: release
        // it before locking the metapage, which a split reusing free pages holds while it locks
        // its right neighbour (this child, perhaps).
        drop(child_buf);
        if grow_root(rel, level, sep, child) {
            return;
        }
        // The tree grew meanwhile: post into the new level as usual.
    };
    let page = search::descend(rel, sep, level, Lock::Exclusive);
    let (posted, full) = {
        let p = InnerPage::new(page.content_of(PageKind::Inner));
        (p.separator(p.route(sep)) == sep, p.count() >= model_page_fanout())
    };
    if posted {
        return;
    }
    if !full {
        let wal = WalRecord::start(rel);
        let ok = inner::insert(wal.register(&page).content(), sep, child);
        assert!(ok);
        wal.finish();
        return;
    }
    split_inner_page(rel, page, sep, child, child_buf);
}

/// Makes a new root at `level` above the old one, holding the old root and `child`. Returns
/// false when another backend already grew the tree to `level` (then post normally).
fn grow_root(rel: pg_sys::Relation, level: u16, sep: Entry, child: u32) -> bool {
    let meta_buf = Buf::read(rel, meta::META_BLOCK, Lock::Exclusive);
    let mut m = meta::read(&meta_buf);
    if m.root_level >= level {
        return false;
    }
    debug_assert_eq!(m.root_level + 1, level);
    let root = Buf::extend(rel);
    let wal = WalRecord::start(rel);
    let header = Header::new(level, Entry::MIN, None);
    inner::layout(wal.register_new(&root, PageKind::Inner).content(), &[(Entry::MIN, m.root), (sep, child)], header);
    m.root = root.block();
    m.root_level = level;
    m.write(wal.register(&meta_buf).content());
    wal.finish();
    meta::remember_root(rel, m.root, m.root_level);
    true
}

/// Splits the full model page `page` to add `sep` -> `child` (`child_buf`, share-locked, is
/// released once the separator is in).
fn split_inner_page(rel: pg_sys::Relation, page: Buf, sep: Entry, child: u32, child_buf: Buf) {
    let (h, mut items) = {
        let c = page.content_of(PageKind::Inner);
        (Header::read(c), InnerPage::new(c).items())
    };
    let at = items.partition_point(|(s, _)| *s < sep);
    items.insert(at, (sep, child));
    let n = items.len();
    // Appends at the right end of the rightmost page keep the left page 90% full.
    let k = if h.high.is_none() && at == n - 1 { n * APPEND_SPLIT_TENTHS / 10 } else { n / 2 };
    debug_assert!(super::strictly_increasing(&items.iter().map(|(s, _)| *s).collect::<Vec<_>>()) && 0 < k && k < n);
    let new_page = Buf::extend(rel);
    let right = if h.right != NO_BLOCK { Some(Buf::read(rel, h.right, Lock::Exclusive)) } else { None };
    let split_sep = items[k].0;
    {
        let wal = WalRecord::start(rel);
        let left_h = Header { right: new_page.block(), high: Some(split_sep), ..h };
        inner::layout(wal.register(&page).content(), &items[..k], left_h);
        let right_h = Header { left: page.block(), right: h.right, low: split_sep, ..h };
        inner::layout(wal.register_new(&new_page, PageKind::Inner).content(), &items[k..], right_h);
        if let Some(r) = &right {
            node::set_left(wal.register(r).content(), new_page.block());
        }
        wal.finish();
    }
    let new_block = new_page.block();
    drop(right);
    drop(new_page);
    drop(page);
    drop(child_buf);
    if !SKIP_SEPARATOR_POSTS.get() {
        post_separator(rel, h.level + 1, split_sep, new_block);
    }
}
