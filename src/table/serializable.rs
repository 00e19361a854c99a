//! SERIALIZABLE: the predicate locks and conflict checks heap takes, at the same places, with
//! logical blocks and TIDs as the lock tags (rows never move, so locks never need moving).

use super::tuple::TupleCopy;
use pgrx::pg_sys;

unsafe extern "C-unwind" {
    // storage/predicate.h; not in pgrx's bindings. Called through pg_guard_ffi_boundary.
    fn PredicateLockRelation(relation: pg_sys::Relation, snapshot: pg_sys::Snapshot);
    fn PredicateLockTID(relation: pg_sys::Relation, tid: pg_sys::ItemPointer, snapshot: pg_sys::Snapshot, tuple_xid: pg_sys::TransactionId);
    fn CheckForSerializableConflictIn(relation: pg_sys::Relation, tid: pg_sys::ItemPointer, blkno: pg_sys::BlockNumber);
}

/// A sequential, sample or TID range scan locks the whole relation (and so conflicts with
/// every later insert), as `heap_beginscan`.
pub fn lock_relation(rel: pg_sys::Relation, snapshot: pg_sys::Snapshot) {
    // SAFETY: an open relation and the scan's snapshot; a no-op outside SERIALIZABLE.
    unsafe { pg_sys::ffi::pg_guard_ffi_boundary(|| PredicateLockRelation(rel, snapshot)) }
}

/// A row version examined by a read: a rw-conflict out when it was written by a concurrent
/// serializable transaction, and, when visible and `lock`, a predicate lock on its TID.
pub fn examined(rel: pg_sys::Relation, t: &TupleCopy, visible: bool, lock: bool, snapshot: pg_sys::Snapshot, buffer: pg_sys::Buffer) {
    // SAFETY: a valid tuple copy, the locked buffer it came from, and the reader's snapshot.
    unsafe {
        pg_sys::HeapCheckForSerializableConflictOut(visible, rel, t.0, buffer, snapshot);
        if visible && lock {
            let xmin = t.header().t_choice.t_heap.t_xmin;
            let mut tid = (*t.0).t_self;
            pg_sys::ffi::pg_guard_ffi_boundary(|| PredicateLockTID(rel, &mut tid, snapshot, xmin));
        }
    }
}

/// A read's visibility test: heap's routine on the copy (its page `b` locked), then
/// [`examined`].
pub fn read_visible(rel: pg_sys::Relation, t: &TupleCopy, snapshot: pg_sys::Snapshot, b: &super::page::Buf, lock: bool) -> bool {
    let visible = super::tuple::visible(t, snapshot, b);
    examined(rel, t, visible, lock, snapshot, b.raw());
    visible
}

/// A write: conflicts with readers that predicate-locked the row (or its logical block), or,
/// for an insert (`tid` None), the relation.
pub fn check_write(rel: pg_sys::Relation, tid: Option<&pg_sys::ItemPointerData>) {
    // SAFETY: an open relation; the TID is copied.
    unsafe {
        match tid {
            Some(t) => {
                let mut t = *t;
                let block = (t.ip_blkid.bi_hi as u32) << 16 | t.ip_blkid.bi_lo as u32;
                pg_sys::ffi::pg_guard_ffi_boundary(|| CheckForSerializableConflictIn(rel, &mut t, block));
            }
            None => pg_sys::ffi::pg_guard_ffi_boundary(|| CheckForSerializableConflictIn(rel, std::ptr::null_mut(), pg_sys::InvalidBlockNumber)),
        }
    }
}
