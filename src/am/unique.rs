//! Uniqueness (as nbtinsert.c's _bt_check_unique): before a UNIQUE index takes a new entry, every
//! entry with the same key is looked up in the heap under a dirty snapshot. A live one is a
//! violation; one whose inserting or deleting transaction is still running makes the inserter
//! wait for it and start over; dead ones are ignored. Uniqueness itself stays PostgreSQL's:
//! visibility, waiting and the error come from the server's own routines.
//!
//! Serialisation: every inserter of a key holds the exclusive lock on the data page where that
//! key's entries start (the page holding `first_of(code)`) from the check until its own entry is
//! in, so of two racing inserters of one key the second sees the first's entry. Entries of one key
//! may continue on pages to the right; those are read under share locks while the first page stays
//! locked (left to right, the order every writer uses). NULL keys (NULLS NOT DISTINCT) serialise on
//! the metapage, which is otherwise locked only alone or with new pages.

use crate::storage::{Buf, Lock};
use alex_core::data::DataPage;
use alex_core::entry::{Entry, PackedTid};
use alex_core::nulls;
use alex_core::page::{NO_BLOCK, PageKind, node};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// What the heap says about the existing entries of a key.
pub enum Verdict {
    Unique,
    /// Wait for this transaction to end, then check again.
    Wait(pg_sys::TransactionId),
    Conflict,
}

/// Looks up one candidate in the heap under a dirty snapshot.
fn heap_verdict(heap: pg_sys::Relation, tid: PackedTid) -> Verdict {
    let mut ip = super::item_pointer(tid);
    let mut snapshot = pg_sys::SnapshotData { snapshot_type: pg_sys::SnapshotType::SNAPSHOT_DIRTY, ..Default::default() };
    let mut all_dead = false;
    // SAFETY: `heap` is the index's open heap; a dirty snapshot only needs its type set (as
    // InitDirtySnapshot does); the fetch fills xmin/xmax for in-progress transactions.
    let found = unsafe { pg_sys::table_index_fetch_tuple_check(heap, &mut ip, &mut snapshot, &mut all_dead) };
    if !found {
        return Verdict::Unique;
    }
    let xwait = if snapshot.xmin != pg_sys::InvalidTransactionId { snapshot.xmin } else { snapshot.xmax };
    if xwait != pg_sys::InvalidTransactionId { Verdict::Wait(xwait) } else { Verdict::Conflict }
}

/// Checks every entry whose code is in `lo..=hi` (the codes equal to the new key: one, or two for
/// a float zero), except `own`, starting in `first`, the exclusively locked page holding
/// `first_of(lo)`, and moving right while such entries go on.
pub fn check_key(rel: pg_sys::Relation, heap: pg_sys::Relation, first: &Buf, lo: u64, hi: u64, own: Option<PackedTid>) -> Verdict {
    let mut next_page: Option<Buf> = None;
    loop {
        let b = next_page.as_ref().unwrap_or(first);
        let c = b.content_of(PageKind::Data);
        let p = DataPage::new(c);
        let mut s = p.seek(Entry::first_of(lo));
        while s < p.capacity() {
            let e = p.entry(s);
            if e.code > hi {
                return Verdict::Unique;
            }
            if Some(e.tid) != own {
                match heap_verdict(heap, e.tid) {
                    Verdict::Unique => {}
                    v => return v,
                }
            }
            s = p.next_occupied(s + 1);
        }
        // The key's entries may go on in the right sibling.
        if !node::beyond_high(c, Entry::last_of(hi)) || node::right(c) == NO_BLOCK {
            return Verdict::Unique;
        }
        let right = node::right(c);
        next_page = Some(Buf::read(rel, right, Lock::Share));
    }
}

/// Checks the NULL chain (for NULLS NOT DISTINCT); the caller holds the metapage exclusively.
pub fn check_nulls(rel: pg_sys::Relation, heap: pg_sys::Relation, head: u32, own: Option<PackedTid>) -> Verdict {
    let mut page = (head != NO_BLOCK).then(|| Buf::read(rel, head, Lock::Share));
    while let Some(b) = page {
        for t in nulls::tids(b.content_of(PageKind::Nulls)) {
            if Some(t) != own {
                match heap_verdict(heap, t) {
                    Verdict::Unique => {}
                    v => return v,
                }
            }
        }
        page = super::null_chain::next_page(rel, b, Lock::Share);
    }
    Verdict::Unique
}

/// Waits for transaction `xid` to end (all locks must be released first).
pub fn wait_for(xid: pg_sys::TransactionId, heap: pg_sys::Relation, tid: PackedTid) {
    let mut ip = super::item_pointer(tid);
    // SAFETY: no buffer lock is held (callers drop theirs first); the wait may ERROR on cancel.
    unsafe { pg_sys::XactLockTableWait(xid, heap, &mut ip, pg_sys::XLTW_Oper::XLTW_InsertIndex) };
}

/// `Key (k)=(5)`, as btree words it.
fn describe(index: pg_sys::Relation, value: pg_sys::Datum, isnull: bool) -> String {
    let (mut v, mut n) = (value, isnull);
    // SAFETY: one key column; BuildIndexValueDescription returns NULL when the user may not see
    // the values, else a palloc'd string.
    unsafe {
        let s = pg_sys::BuildIndexValueDescription(index, &mut v, &mut n);
        if s.is_null() { String::new() } else { std::ffi::CStr::from_ptr(s).to_string_lossy().into_owned() }
    }
}

/// Raises btree's unique violation for a new entry.
pub fn violation(index: pg_sys::Relation, value: pg_sys::Datum, isnull: bool) -> ! {
    let name = super::build::relation_name(index);
    let detail = describe(index, value, isnull);
    let mut r = pg_sys::panic::ErrorReport::new(
        PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
        format!("duplicate key value violates unique constraint \"{name}\""),
        "omendb",
    );
    if !detail.is_empty() {
        r = r.set_detail(format!("Key {detail} already exists."));
    }
    r.report(PgLogLevel::ERROR);
    unreachable!()
}

/// Raises btree's error for duplicates found while building a unique index.
pub fn build_violation(index: pg_sys::Relation, value: pg_sys::Datum, isnull: bool) -> ! {
    let name = super::build::relation_name(index);
    let detail = describe(index, value, isnull);
    let mut r = pg_sys::panic::ErrorReport::new(
        PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
        format!("could not create unique index \"{name}\""),
        "omendb",
    );
    if !detail.is_empty() {
        r = r.set_detail(format!("Key {detail} is duplicated."));
    }
    r.report(PgLogLevel::ERROR);
    unreachable!()
}

/// Whether the index treats NULLs as equal (UNIQUE NULLS NOT DISTINCT).
pub fn nulls_not_distinct(index: pg_sys::Relation) -> bool {
    // SAFETY: rd_index is valid for an open index.
    unsafe { (*(*index).rd_index).indnullsnotdistinct }
}

