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

use crate::index::page::Buf;
use crate::storage::prefetch::CpuPrefetch;
use crate::storage::{Lock, rel, tid};
use alex_core::data::DataPage;
use alex_core::entry::{Entry, PackedTid};
use alex_core::nulls;
use alex_core::page::{NO_BLOCK, PageKind, node};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// What the heap says about the existing entries of a key.
pub enum Verdict {
    Unique,
    /// Wait for this transaction to end (or, for a speculative insertion, for its token to be
    /// released), then check again.
    Wait { xid: pg_sys::TransactionId, token: u32 },
    Conflict,
}

/// Looks up one candidate in the heap under a dirty snapshot.
fn heap_verdict(heap: pg_sys::Relation, tid: PackedTid) -> Verdict {
    let mut ip = tid::item_pointer(tid);
    let mut snapshot = pg_sys::SnapshotData { snapshot_type: pg_sys::SnapshotType::SNAPSHOT_DIRTY, ..Default::default() };
    let mut all_dead = false;
    // SAFETY: `heap` is the index's open heap; a dirty snapshot only needs its type set (as
    // InitDirtySnapshot does); the fetch fills xmin/xmax for in-progress transactions.
    let found = unsafe { pg_sys::table_index_fetch_tuple_check(heap, &mut ip, &mut snapshot, &mut all_dead) };
    if !found {
        return Verdict::Unique;
    }
    let xwait = if snapshot.xmin != pg_sys::InvalidTransactionId { snapshot.xmin } else { snapshot.xmax };
    if xwait != pg_sys::InvalidTransactionId { Verdict::Wait { xid: xwait, token: snapshot.speculativeToken } } else { Verdict::Conflict }
}

/// Checks every entry whose code is in `lo..=hi` (the codes equal to the new key: one, or two for
/// a float zero), except `own`, starting in `first`, the exclusively locked page holding
/// `first_of(lo)`, and moving right while such entries go on.
pub fn check_key(rel: pg_sys::Relation, heap: pg_sys::Relation, first: &Buf, lo: u64, hi: u64, own: Option<PackedTid>) -> Verdict {
    let mut next_page: Option<Buf> = None;
    loop {
        let b = next_page.as_ref().unwrap_or(first);
        let c = b.content_of(PageKind::Data);
        let p = DataPage::new(c).with_prefetch(CpuPrefetch);
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

/// Waits for transaction `xid` to end or, when `token` is set, only for its speculative
/// insertion to be confirmed or killed, as _bt_doinsert does (all locks must be released first).
pub fn wait_for(xid: pg_sys::TransactionId, token: u32, heap: pg_sys::Relation, tid: PackedTid) {
    let mut ip = tid::item_pointer(tid);
    // SAFETY: no buffer lock is held (callers drop theirs first); the waits may ERROR on cancel.
    unsafe {
        if token != 0 {
            pg_sys::SpeculativeInsertionWait(xid, token);
        } else {
            pg_sys::XactLockTableWait(xid, heap, &mut ip, pg_sys::XLTW_Oper::XLTW_InsertIndex);
        }
    }
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
    let name = rel::name(index);
    let detail = describe(index, value, isnull);
    let detail = (!detail.is_empty()).then(|| format!("Key {detail} already exists."));
    std::panic::panic_any(UniqueViolation { message: format!("duplicate key value violates unique constraint \"{name}\""), detail, constraint: name })
}

/// Raises btree's error for duplicates found while building a unique index.
pub fn build_violation(index: pg_sys::Relation, value: pg_sys::Datum, isnull: bool) -> ! {
    let name = rel::name(index);
    let detail = describe(index, value, isnull);
    let detail = Some(if detail.is_empty() { "Duplicate keys exist.".to_string() } else { format!("Key {detail} is duplicated.") });
    std::panic::panic_any(UniqueViolation { message: format!("could not create unique index \"{name}\""), detail, constraint: name })
}

/// A unique violation, raised as a panic (which releases buffers and locks as it unwinds) and
/// reported by [`reporting_violations`] at the access method's entry point. btree's report names
/// the schema, table and constraint (`errtableconstraint`), which clients read to tell which
/// constraint failed; pgrx's error reports cannot carry those fields.
pub struct UniqueViolation {
    message: String,
    detail: Option<String>,
    constraint: String,
}

/// Runs an access method callback on table `heap` as `#[pg_guard]` does, and reports a
/// [`UniqueViolation`] it raised as btree does, with the table and constraint fields.
///
/// # Safety
/// For the body of an `extern "C-unwind"` function that PostgreSQL calls, with `heap` open.
pub unsafe fn reporting_violations<R>(heap: pg_sys::Relation, f: impl FnOnce() -> R) -> R {
    let outcome = unsafe {
        pg_sys::submodules::panic::pgrx_extern_c_guard(|| match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(r) => Ok(r),
            Err(payload) => match payload.downcast::<UniqueViolation>() {
                Ok(v) => Err(*v),
                Err(other) => std::panic::resume_unwind(other),
            },
        })
    };
    match outcome {
        Ok(r) => r,
        // SAFETY: as the caller promises; see report.
        Err(v) => unsafe { v.report(heap) },
    }
}

impl UniqueViolation {
    /// ereport(ERROR) as nbtinsert.c does. `errfinish` longjmps out of this frame, so the
    /// strings are copied into palloc'd memory (freed with the error state) and every Rust
    /// value is dropped first.
    unsafe fn report(self, heap: pg_sys::Relation) -> ! {
        // pgrx binds these only for its own reports.
        unsafe extern "C-unwind" {
            fn errstart(elevel: std::ffi::c_int, domain: *const std::ffi::c_char) -> bool;
            fn errcode(sqlerrcode: std::ffi::c_int) -> std::ffi::c_int;
            fn errmsg(fmt: *const std::ffi::c_char, ...) -> std::ffi::c_int;
            fn errdetail(fmt: *const std::ffi::c_char, ...) -> std::ffi::c_int;
            fn errfinish(filename: *const std::ffi::c_char, lineno: std::ffi::c_int, funcname: *const std::ffi::c_char);
        }
        use pg_sys::AsPgCStr;
        let (message, detail, constraint) = (self.message.as_pg_cstr(), self.detail.as_deref().as_pg_cstr(), self.constraint.as_pg_cstr());
        drop(self);
        // SAFETY: errstart returns true for ERROR; the pointers are palloc'd C strings (or NULL
        // for a missing detail); `heap` is open; errfinish reports and does not return.
        unsafe {
            errstart(PgLogLevel::ERROR as std::ffi::c_int, std::ptr::null());
            errcode(PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION as std::ffi::c_int);
            errmsg(c"%s".as_ptr(), message);
            if !detail.is_null() {
                errdetail(c"%s".as_ptr(), detail);
            }
            pg_sys::errtableconstraint(heap, constraint);
            errfinish(c"unique.rs".as_ptr(), line!() as std::ffi::c_int, c"UniqueViolation::report".as_ptr());
            std::hint::unreachable_unchecked()
        }
    }
}

/// Whether the index treats NULLs as equal (UNIQUE NULLS NOT DISTINCT).
pub fn nulls_not_distinct(index: pg_sys::Relation) -> bool {
    // SAFETY: rd_index is valid for an open index.
    unsafe { (*(*index).rd_index).indnullsnotdistinct }
}

