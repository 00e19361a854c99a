//! Pages free for reuse: the free space map of a relation, and the transaction horizon that
//! decides when a page unlinked by one transaction can no longer be reached by another.

use pgrx::pg_sys;

/// The next full transaction id: a page unlinked now is reusable once every running
/// transaction is newer.
pub fn next_full_xid() -> u64 {
    // SAFETY: reads the shared next-transaction counter.
    unsafe { pg_sys::ReadNextFullTransactionId() }.value
}

/// Whether no running transaction (on this server or, through feedback, its standbys) can be
/// older than `xid`, a value of [`next_full_xid`] taken when a page was unlinked.
pub fn is_past_horizon(xid: u64) -> bool {
    // SAFETY: a pure check of a full transaction id against the current horizons; a NULL
    // relation asks for the most conservative (shared catalog) horizon.
    unsafe { pg_sys::GlobalVisCheckRemovableFullXid(std::ptr::null_mut(), pg_sys::FullTransactionId { value: xid }) }
}

/// A page recorded as free, or None; the map hands out each recorded page once.
pub fn take(rel: pg_sys::Relation) -> Option<u32> {
    // SAFETY: an open relation.
    let blk = unsafe { pg_sys::GetFreeIndexPage(rel) };
    (blk != pg_sys::InvalidBlockNumber).then_some(blk)
}

/// Records page `blk` as free.
pub fn record(rel: pg_sys::Relation, blk: u32) {
    // SAFETY: an open relation; `blk` is one of its pages.
    unsafe { pg_sys::RecordFreeIndexPage(rel, blk) };
}

/// Makes the pages recorded so far visible to [`take`] (the map's upper levels are updated).
pub fn publish(rel: pg_sys::Relation) {
    // SAFETY: an open relation.
    unsafe { pg_sys::IndexFreeSpaceMapVacuum(rel) };
}
