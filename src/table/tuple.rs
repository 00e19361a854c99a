//! Row versions in heap's tuple format and the judgement of their headers by heap's own
//! visibility routines.
//!
//! A delta page stores each row as a heap tuple (header, null bitmap, data). Readers copy the
//! tuple out of the share-locked page and pass the copy, with the locked buffer, to
//! `HeapTupleSatisfiesVisibility` and friends: hint bits land on the copy, never on the page,
//! whose every change must go through generic WAL (`wal_consistency_checking` compares replayed
//! pages with the primary's).

use super::page::Buf;
use columnar_core::{delta, layout::PageKind, rownum};
use pgrx::pg_sys;
use std::ops::Range;

/// Bytes of a tuple's header that a delete, update or lock changes: xmax, cid, ctid,
/// infomask2, infomask (`HeapTupleHeaderData` from `t_xmax` to `t_hoff`).
pub const XACT_FIELDS: Range<usize> = 4..22;
const CTID: Range<usize> = 12..18;

const _: () = assert!(std::mem::offset_of!(pg_sys::HeapTupleFields, t_xmax) == XACT_FIELDS.start);
const _: () = assert!(std::mem::offset_of!(pg_sys::HeapTupleHeaderData, t_ctid) == CTID.start);
const _: () = assert!(std::mem::offset_of!(pg_sys::HeapTupleHeaderData, t_hoff) == XACT_FIELDS.end);
/// `SizeofHeapTupleHeader`.
pub const HEADER_SIZE: usize = std::mem::offset_of!(pg_sys::HeapTupleHeaderData, t_bits);
const _: () = assert!(HEADER_SIZE <= delta::MIN_TUPLE);

pub fn xid(x: u32) -> pg_sys::TransactionId {
    pg_sys::TransactionId::from_inner(x)
}

/// The TID of row number `row`.
pub fn tid_of_row(row: u64) -> pg_sys::ItemPointerData {
    let (block, offset) = rownum::tid_of(row).expect("row numbers stay below the limit");
    item_pointer(block, offset)
}

pub fn item_pointer(block: u32, offset: u16) -> pg_sys::ItemPointerData {
    pg_sys::ItemPointerData {
        ip_blkid: pg_sys::BlockIdData { bi_hi: (block >> 16) as u16, bi_lo: block as u16 },
        ip_posid: offset,
    }
}

/// The logical block and slot a TID names; None for a TID that names no row.
pub fn block_slot(tid: &pg_sys::ItemPointerData) -> Option<(u32, usize)> {
    let block = (tid.ip_blkid.bi_hi as u32) << 16 | tid.ip_blkid.bi_lo as u32;
    rownum::row_of(block, tid.ip_posid)?;
    Some((block, tid.ip_posid as usize - 1))
}

/// Writes `tid` into the ctid field of heap tuple bytes.
pub fn set_ctid_bytes(tuple: &mut [u8], tid: &pg_sys::ItemPointerData) {
    tuple[CTID].copy_from_slice(&[
        tid.ip_blkid.bi_hi.to_ne_bytes(),
        tid.ip_blkid.bi_lo.to_ne_bytes(),
        tid.ip_posid.to_ne_bytes(),
    ]
    .concat());
}

/// `HeapTupleHeaderGetUpdateXid`: the updating transaction of a header, looking into a
/// MultiXact only when xmax is one that holds an update.
pub fn update_xid(h: &pg_sys::HeapTupleHeaderData) -> pg_sys::TransactionId {
    let multi_update = h.t_infomask as u32 & (pg_sys::HEAP_XMAX_INVALID | pg_sys::HEAP_XMAX_IS_MULTI | pg_sys::HEAP_XMAX_LOCK_ONLY) == pg_sys::HEAP_XMAX_IS_MULTI;
    if multi_update {
        // SAFETY: a valid header whose xmax is a MultiXact.
        unsafe { pg_sys::HeapTupleGetUpdateXid(h as *const _ as *mut _) }
    } else {
        // SAFETY: stored tuples' headers are HeapTupleFields.
        unsafe { h.t_choice.t_heap.t_xmax }
    }
}

/// The later of two transaction ids (either may be invalid).
pub fn later(a: pg_sys::TransactionId, b: pg_sys::TransactionId) -> pg_sys::TransactionId {
    // SAFETY: plain comparison of transaction ids (modulo 2^32, as PostgreSQL compares them).
    if a == pg_sys::InvalidTransactionId || (b != pg_sys::InvalidTransactionId && unsafe { pg_sys::TransactionIdFollows(b, a) }) { b } else { a }
}

/// What removing a dead version hides from a standby, as `HeapTupleHeaderAdvanceLatestRemovedXid`:
/// its deleter, when its inserter committed (versions of aborted inserts were never visible).
pub fn removed_horizon(t: &TupleCopy) -> pg_sys::TransactionId {
    let h = t.header();
    // SAFETY: a stored tuple's header is a HeapTupleFields; plain clog lookups.
    unsafe {
        let xmin = h.t_choice.t_heap.t_xmin;
        let committed = h.t_infomask as u32 & pg_sys::HEAP_XMIN_COMMITTED != 0
            || (h.t_infomask as u32 & pg_sys::HEAP_XMIN_INVALID == 0 && pg_sys::TransactionIdDidCommit(xmin));
        if committed { update_xid(h) } else { pg_sys::InvalidTransactionId }
    }
}

/// A palloc'd copy of a heap tuple: `HeapTupleData` followed by the tuple, as `heap_copytuple`
/// makes them (one allocation, freed by whoever owns it: a slot, or `free`).
pub struct TupleCopy(pub pg_sys::HeapTuple);

impl TupleCopy {
    /// Copies `bytes` (a whole tuple) into memory of `cxt`, naming it `tid` of `relid`.
    pub fn new(bytes: &[u8], tid: pg_sys::ItemPointerData, relid: pg_sys::Oid, cxt: pg_sys::MemoryContext) -> TupleCopy {
        // SAFETY: the allocation holds the HeapTupleData and the tuple's bytes, MAXALIGNed after
        // the header as heap_copytuple lays them out (HEAPTUPLESIZE); `bytes` is a whole tuple
        // of at least SizeofHeapTupleHeader bytes (delta pages refuse shorter ones).
        unsafe {
            let head = std::mem::size_of::<pg_sys::HeapTupleData>().next_multiple_of(8);
            let mem = pg_sys::MemoryContextAlloc(cxt, head + bytes.len()) as *mut u8;
            let t = mem as pg_sys::HeapTuple;
            (*t).t_len = bytes.len() as u32;
            (*t).t_self = tid;
            (*t).t_tableOid = relid;
            (*t).t_data = mem.add(head) as pg_sys::HeapTupleHeader;
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), mem.add(head), bytes.len());
            TupleCopy(t)
        }
    }

    pub fn header(&self) -> &pg_sys::HeapTupleHeaderData {
        // SAFETY: t_data points into the allocation made in `new`.
        unsafe { &*(*self.0).t_data }
    }

    pub fn header_bytes(&self) -> &[u8] {
        // SAFETY: as `header`; the tuple is at least SizeofHeapTupleHeader bytes.
        unsafe { std::slice::from_raw_parts((*self.0).t_data as *const u8, XACT_FIELDS.end) }
    }

    pub fn free(self) {
        // SAFETY: allocated by `new` (one chunk) and not owned by a slot.
        unsafe { pg_sys::pfree(self.0 as *mut _) };
    }
}

/// The tuple in `slot` of a share- or exclusively-locked delta page, if the slot holds one.
pub fn tuple_bytes(b: &Buf, slot: usize) -> Option<&[u8]> {
    let c = b.content_of(PageKind::Delta);
    match delta::tuple(c, slot) {
        Ok(r) => r.map(|r| &c[r]),
        Err(why) => b.corrupted(&why),
    }
}

/// Whether the tuple copy is visible to `snapshot` (the page of `b` still locked).
pub fn visible(t: &TupleCopy, snapshot: pg_sys::Snapshot, b: &Buf) -> bool {
    // SAFETY: a valid tuple copy and snapshot; the buffer is pinned and locked as the routine
    // requires (hints it learns are set on the copy).
    unsafe { pg_sys::HeapTupleSatisfiesVisibility(t.0, snapshot, b.raw()) }
}

/// HeapTupleSatisfiesVacuum's verdict on the copy.
pub fn vacuum_state(t: &TupleCopy, oldest_xmin: pg_sys::TransactionId, b: &Buf) -> pg_sys::HTSV_Result::Type {
    // SAFETY: as `visible`.
    unsafe { pg_sys::HeapTupleSatisfiesVacuum(t.0, oldest_xmin, b.raw()) }
}
