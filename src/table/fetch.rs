//! Fetches by TID: index scans, row re-fetches (EvalPlanQual, triggers, RETURNING), TID scans,
//! and what index AMs ask of the table (snapshot checks, deletable entries).

use super::group::Columns;
use super::rows;
use super::tuple::{self, TupleCopy};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Reads the row version `tid` names and judges it with `snapshot`: Some(copy) when visible
/// (allocated in `cxt`, carrying `columns`); `surely_dead` is set when it is invisible and dead
/// to everyone. A
/// `reader` (index and TID fetches, as heap_fetch) takes SERIALIZABLE's predicate lock and
/// conflict check; a visibility test alone (tuple_satisfies_snapshot) does not.
pub fn fetch(rel: pg_sys::Relation, tid: &pg_sys::ItemPointerData, snapshot: pg_sys::Snapshot, cxt: pg_sys::MemoryContext, surely_dead: Option<&mut bool>, reader: bool, columns: Columns) -> Option<TupleCopy> {
    let v = rows::read(rel, tid, cxt, columns)?;
    let visible = if reader { super::serializable::read_visible(rel, &v.t, snapshot, v.buf(), true) } else { tuple::visible(&v.t, snapshot, v.buf()) };
    let t = v.take();
    if visible {
        return Some(t);
    }
    if let Some(dead) = surely_dead {
        // SAFETY: a valid tuple copy; GlobalVisTestFor gives the relation's horizon.
        *dead = unsafe { pg_sys::HeapTupleIsSurelyDead(t.0, pg_sys::GlobalVisTestFor(rel)) };
    }
    t.free();
    None
}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_begin(rel: pg_sys::Relation) -> *mut pg_sys::IndexFetchTableData {
    // SAFETY: palloc0 gives zeroed memory in the current (query) context.
    unsafe {
        let f = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexFetchTableData>()) as *mut pg_sys::IndexFetchTableData;
        (*f).rel = rel;
        f
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_reset(_data: *mut pg_sys::IndexFetchTableData) {}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_end(data: *mut pg_sys::IndexFetchTableData) {
    // SAFETY: allocated by index_fetch_begin.
    unsafe { pg_sys::pfree(data as *mut _) }
}

/// Stores a fetched row in `slot` (which then owns it).
unsafe fn store(t: TupleCopy, slot: *mut pg_sys::TupleTableSlot, rel: pg_sys::Relation) {
    // SAFETY: a tuple allocated in the slot's memory context; the slot frees it when cleared.
    unsafe {
        pg_sys::ExecStoreHeapTuple(t.0, slot, true);
        (*slot).tts_tableOid = (*rel).rd_id;
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_tuple(
    scan: *mut pg_sys::IndexFetchTableData,
    tid: pg_sys::ItemPointer,
    snapshot: pg_sys::Snapshot,
    slot: *mut pg_sys::TupleTableSlot,
    call_again: *mut bool,
    all_dead: *mut bool,
) -> bool {
    // SAFETY: valid arguments from the index scan; `all_dead` may be null.
    unsafe {
        let rel = (*scan).rel;
        *call_again = false;
        let mut dead = false;
        let found = fetch(rel, &*tid, snapshot, (*slot).tts_mcxt, Some(&mut dead), true, super::scan_setup::of_slot(slot));
        if !all_dead.is_null() {
            *all_dead = dead;
        }
        match found {
            Some(t) => {
                store(t, slot, rel);
                true
            }
            None => false,
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_fetch_row_version(rel: pg_sys::Relation, tid: pg_sys::ItemPointer, snapshot: pg_sys::Snapshot, slot: *mut pg_sys::TupleTableSlot) -> bool {
    // SAFETY: valid arguments from the executor.
    unsafe {
        match fetch(rel, &*tid, snapshot, (*slot).tts_mcxt, None, true, Columns::All) {
            Some(t) => {
                store(t, slot, rel);
                true
            }
            None => false,
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_tid_valid(scan: pg_sys::TableScanDesc, tid: pg_sys::ItemPointer) -> bool {
    // SAFETY: a scan of an open relation and a TID from the executor.
    unsafe {
        let rel = (*scan).rs_rd;
        tuple::block_slot(&*tid).is_some_and(|(block, _)| super::store::read_meta(rel).is_some_and(|m| (block as u64) < m.next_row.div_ceil(columnar_core::rownum::ROWS_PER_BLOCK)))
    }
}

/// Follows the update chain from `tid` to the newest version visible to the scan's snapshot,
/// as `heap_get_latest_tid`.
#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_get_latest_tid(scan: pg_sys::TableScanDesc, tid: pg_sys::ItemPointer) {
    // SAFETY: a scan of an open relation, a valid TID to update in place.
    unsafe {
        let rel = (*scan).rs_rd;
        let snapshot = (*scan).rs_snapshot;
        let mut ctid = *tid;
        let mut prior_xmax = pg_sys::InvalidTransactionId;
        loop {
            let Some(v) = rows::read(rel, &ctid, pg_sys::CurrentMemoryContext, Columns::Header) else { break };
            let h = v.t.0.as_ref().unwrap().t_data;
            if prior_xmax != pg_sys::InvalidTransactionId && prior_xmax != (*h).t_choice.t_heap.t_xmin {
                break;
            }
            if tuple::visible(&v.t, snapshot, v.buf()) {
                *tid = ctid;
            }
            let next = (*h).t_ctid;
            let end = (*h).t_infomask as u32 & pg_sys::HEAP_XMAX_INVALID != 0
                || pg_sys::HeapTupleHeaderIsOnlyLocked(h)
                || next.ip_posid as u32 == pg_sys::MovedPartitionsOffsetNumber
                || tuple::block_slot(&next) == tuple::block_slot(&ctid);
            prior_xmax = tuple::update_xid(&*h);
            if end {
                break;
            }
            ctid = next;
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_satisfies_snapshot(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot, snapshot: pg_sys::Snapshot) -> bool {
    // SAFETY: a slot holding a row of `rel` (its TID set).
    unsafe {
        match fetch(rel, &(*slot).tts_tid, snapshot, pg_sys::CurrentMemoryContext, None, false, Columns::Header) {
            Some(t) => {
                t.free();
                true
            }
            None => false,
        }
    }
}

/// Which index entries point at row versions dead to every snapshot (btree's simple and
/// bottom-up deletion): those are marked deletable; the result is the newest transaction whose
/// deletions that hides, for btree's recovery-conflict record.
#[pg_guard]
pub unsafe extern "C-unwind" fn index_delete_tuples(rel: pg_sys::Relation, delstate: *mut pg_sys::TM_IndexDeleteOp) -> pg_sys::TransactionId {
    let mut horizon = pg_sys::InvalidTransactionId;
    // SAFETY: a valid delete operation from the index AM; its deltids and status arrays hold
    // ndeltids entries. GlobalVisTestFor gives the relation's removal horizon.
    unsafe {
        let vistest = pg_sys::GlobalVisTestFor(rel);
        for i in 0..(*delstate).ndeltids as usize {
            let d = (*delstate).deltids.add(i);
            let status = (*delstate).status.add((*d).id as usize);
            let Some(v) = rows::read(rel, &(*d).tid, pg_sys::CurrentMemoryContext, Columns::Header) else { continue };
            if pg_sys::HeapTupleIsSurelyDead(v.t.0, vistest) {
                (*status).knowndeletable = true;
                horizon = tuple::later(horizon, tuple::removed_horizon(&v.t));
            }
        }
    }
    horizon
}
