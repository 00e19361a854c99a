//! Inserts: every row goes to a delta page as a heap-format tuple with its own header, as
//! `heap_insert` writes one (the delta store of the design; row groups come from folding).

use super::page::WalRecord;
use super::{store, tuple};
use columnar_core::{delta, layout::PageKind};
use pgrx::pg_sys;
use pgrx::prelude::*;

unsafe extern "C-unwind" {
    // access/toast_internals.h; not in pgrx's bindings. Called through pg_guard_ffi_boundary.
    fn toast_compress_datum(value: pg_sys::Datum, cmethod: std::ffi::c_char) -> pg_sys::Datum;
    // The default_toast_compression setting ('p' pglz, 'l' lz4).
    static default_toast_compression: std::ffi::c_int;
}

/// Rows longer than this have their long values compressed, then moved out of line until the
/// row is no longer than [`INLINE_TARGET`], as heap's toaster does (`TOAST_TUPLE_THRESHOLD`).
pub(super) const COMPRESS_ROWS_OVER: usize = pg_sys::BLCKSZ as usize / 4;
/// `TOAST_TUPLE_TARGET`.
const INLINE_TARGET: usize = 2032;
/// Values shorter than this are never worth compressing or moving.
const COMPRESS_VALUES_OVER: usize = 128;

/// Forms the heap tuple of `slot` for storage: values toasted elsewhere (another relation, or
/// another row version of this one) are fetched, since a row version never shares a stored
/// value; in a long row, long values are compressed with the column's compression method, then
/// the largest are stored out of line (value pages behind TOAST pointers) until the row fits
/// heap's target size.
///
/// # Safety
/// `slot` is a valid slot of `rel`'s row type.
pub(super) unsafe fn form_tuple(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot) -> pg_sys::HeapTuple {
    // SAFETY: per the contract; the returned tuple is in the current memory context.
    unsafe {
        let mut should_free = false;
        let tup = pg_sys::ExecFetchSlotHeapTuple(slot, true, &mut should_free);
        let external = (*(*tup).t_data).t_infomask as u32 & pg_sys::HEAP_HASEXTERNAL != 0;
        if !external && ((*tup).t_len as usize) <= COMPRESS_ROWS_OVER {
            return pg_sys::heap_copytuple(tup);
        }
        let desc = (*rel).rd_att;
        let n = (*desc).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0); n];
        let mut nulls = vec![false; n];
        pg_sys::heap_deform_tuple(tup, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
        let att = |i: usize| crate::compat::attr(desc, i);
        // The columns holding a varlena value (heap_form_tuple only reads `nulls`).
        let is_varlena: Vec<bool> = (0..n).map(|i| !nulls[i] && att(i).attlen == -1).collect();
        let varlena = |i: usize| is_varlena[i];
        for i in (0..n).filter(|&i| varlena(i)) {
            let v = values[i].cast_mut_ptr::<pg_sys::varlena>();
            if pgrx::varlena::varatt_is_1b_e(v) {
                values[i] = pg_sys::Datum::from(pg_sys::detoast_external_attr(v));
            }
        }
        let mut formed = pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), nulls.as_mut_ptr());
        if (*formed).t_len as usize <= COMPRESS_ROWS_OVER {
            return formed;
        }
        for i in (0..n).filter(|&i| varlena(i)) {
            let v = values[i].cast_mut_ptr::<pg_sys::varlena>();
            let plain = att(i).attstorage as u8 != pg_sys::TYPSTORAGE_PLAIN && att(i).attstorage as u8 != pg_sys::TYPSTORAGE_EXTERNAL;
            if plain && !pgrx::varlena::varatt_is_4b_c(v) && pgrx::varlena::varsize_any(v) > COMPRESS_VALUES_OVER {
                let method = if att(i).attcompression != 0 { att(i).attcompression } else { default_toast_compression as std::ffi::c_char };
                let compressed = pg_sys::ffi::pg_guard_ffi_boundary(|| toast_compress_datum(values[i], method));
                if compressed.value() != 0 {
                    values[i] = compressed;
                }
            }
        }
        pg_sys::heap_freetuple(formed);
        formed = pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), nulls.as_mut_ptr());
        // Out of line, largest first, while the row is too long (plain-storage columns stay).
        let mut moved = vec![false; n];
        while (*formed).t_len as usize > INLINE_TARGET {
            let largest = (0..n)
                .filter(|&i| varlena(i) && !moved[i] && att(i).attstorage as u8 != pg_sys::TYPSTORAGE_PLAIN)
                .map(|i| (pgrx::varlena::varsize_any(values[i].cast_mut_ptr::<pg_sys::varlena>()), i))
                .filter(|&(size, _)| size > COMPRESS_VALUES_OVER)
                .max();
            let Some((_, i)) = largest else { break };
            values[i] = super::toast::move_out_of_line(rel, values[i].cast_mut_ptr::<pg_sys::varlena>());
            moved[i] = true;
            pg_sys::heap_freetuple(formed);
            formed = pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), nulls.as_mut_ptr());
        }
        formed
    }
}

/// Sets the header of a new row version as `heap_prepare_insert` does.
///
/// # Safety
/// `tup` is a valid, writable heap tuple.
unsafe fn prepare_header(rel: pg_sys::Relation, tup: pg_sys::HeapTuple, cid: pg_sys::CommandId, options: i32) {
    // SAFETY: per the contract.
    unsafe {
        let h = &mut *(*tup).t_data;
        h.t_infomask &= !(pg_sys::HEAP_XACT_MASK as u16);
        h.t_infomask2 &= !(pg_sys::HEAP2_XACT_MASK as u16);
        h.t_infomask |= pg_sys::HEAP_XMAX_INVALID as u16;
        h.t_choice.t_heap.t_xmin = pg_sys::GetCurrentTransactionId();
        if options as u32 & pg_sys::HEAP_INSERT_FROZEN != 0 {
            h.t_infomask |= pg_sys::HEAP_XMIN_FROZEN as u16;
        }
        h.t_choice.t_heap.t_field3.t_cid = cid;
        h.t_choice.t_heap.t_xmax = pg_sys::InvalidTransactionId;
        (*tup).t_tableOid = (*rel).rd_id;
    }
}

/// Writes a prepared tuple into a delta page and returns its TID. With `spec_token`, the ctid
/// holds the speculative-insertion token instead of the TID, as heap's speculative inserts.
///
/// # Safety
/// `tup` is a valid heap tuple whose header was set by `prepare_header`.
unsafe fn place(rel: pg_sys::Relation, tup: pg_sys::HeapTuple, spec_token: Option<u32>) -> pg_sys::ItemPointerData {
    // SAFETY: per the contract: t_data points at t_len bytes.
    let mut bytes = unsafe { std::slice::from_raw_parts((*tup).t_data as *const u8, (*tup).t_len as usize) }.to_vec();
    let store::InsertPage { block, page: b, gate: _gate } = store::page_for_insert(rel, bytes.len());
    let plan = delta::plan_insert(b.content_of(PageKind::Delta), bytes.len()).expect("page_for_insert returns a page with room");
    let tid = tuple::item_pointer(block, plan.slot as u16 + 1);
    let ctid = match spec_token {
        Some(token) => tuple::item_pointer(token, pg_sys::SpecTokenOffsetNumber as u16),
        None => tid,
    };
    tuple::set_ctid_bytes(&mut bytes, &ctid);
    WalRecord::change_in_place(rel, &b, &plan.ranges(), |c| delta::apply_insert(c, &plan, &bytes));
    // SAFETY: as above.
    unsafe {
        (*tup).t_self = tid;
        (*(*tup).t_data).t_ctid = ctid;
    }
    tid
}

/// Writes a row version, header and all, into `rel` (a rewrite's new file): its ctid becomes
/// its new TID.
///
/// # Safety
/// `t` is a valid, writable heap tuple (its ctid is changed in place before it is written).
pub unsafe fn place_tuple(rel: pg_sys::Relation, t: pg_sys::HeapTuple) {
    // SAFETY: per the contract.
    unsafe { place(rel, t, None) };
}

/// Inserts the row of `slot`; sets the slot's TID. `update` when it is the new version of an
/// update (marked HEAP_UPDATED, counted as the update it is rather than an insert).
///
/// # Safety
/// A valid open relation and slot.
pub unsafe fn insert_slot(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot, cid: pg_sys::CommandId, options: i32, spec_token: Option<u32>, update: bool) {
    super::publication::refuse_if_published(rel);
    super::serializable::check_write(rel, None);
    // SAFETY: per the contract.
    unsafe {
        let tup = form_tuple(rel, slot);
        prepare_header(rel, tup, cid, options);
        if update {
            (*(*tup).t_data).t_infomask |= pg_sys::HEAP_UPDATED as u16;
        }
        let tid = place(rel, tup, spec_token);
        pg_sys::heap_freetuple(tup);
        (*slot).tts_tid = tid;
        (*slot).tts_tableOid = (*rel).rd_id;
        if !update {
            pg_sys::pgstat_count_heap_insert(rel, 1);
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_insert(
    rel: pg_sys::Relation,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    options: i32,
    _bistate: *mut pg_sys::BulkInsertStateData,
) {
    // SAFETY: called by the executor with a valid relation and slot.
    unsafe {
        if super::bulk::wants(rel, cid, 1) {
            super::publication::refuse_if_published(rel);
            super::serializable::check_write(rel, None);
            super::bulk::insert(rel, &[slot], cid, options);
            pg_sys::pgstat_count_heap_insert(rel, 1);
            return;
        }
        insert_slot(rel, slot, cid, options, None, false)
    }
}

/// COPY's batches: past the first rows of the command, into the write buffer (`bulk.rs`);
/// before, into delta pages as many at a time as fit, one WAL record per page (as heap's
/// multi-insert record), instead of one per row.
#[pg_guard]
pub unsafe extern "C-unwind" fn multi_insert(
    rel: pg_sys::Relation,
    slots: *mut *mut pg_sys::TupleTableSlot,
    nslots: i32,
    cid: pg_sys::CommandId,
    options: i32,
    _bistate: *mut pg_sys::BulkInsertStateData,
) {
    super::publication::refuse_if_published(rel);
    super::serializable::check_write(rel, None);
    // SAFETY: `slots` holds `nslots` valid slots of `rel`; each formed tuple is ours to free.
    unsafe {
        let slots = std::slice::from_raw_parts(slots, nslots as usize);
        if super::bulk::wants(rel, cid, slots.len()) {
            super::bulk::insert(rel, slots, cid, options);
            pg_sys::pgstat_count_heap_insert(rel, nslots as i64);
            return;
        }
        let tuples: Vec<pg_sys::HeapTuple> = slots
            .iter()
            .map(|&slot| {
                let tup = form_tuple(rel, slot);
                prepare_header(rel, tup, cid, options);
                tup
            })
            .collect();
        let mut next = 0;
        while next < tuples.len() {
            let store::InsertPage { block, page: b, gate: _gate } = store::page_for_insert(rel, (*tuples[next]).t_len as usize);
            let mut page = b.content_of(PageKind::Delta).to_vec();
            while let Some(&tup) = tuples.get(next) {
                let Some(plan) = delta::plan_insert(&page, (*tup).t_len as usize) else { break };
                let tid = tuple::item_pointer(block, plan.slot as u16 + 1);
                (*tup).t_self = tid;
                (*(*tup).t_data).t_ctid = tid;
                delta::apply_insert(&mut page, &plan, std::slice::from_raw_parts((*tup).t_data as *const u8, plan.len));
                (*slots[next]).tts_tid = tid;
                (*slots[next]).tts_tableOid = (*rel).rd_id;
                next += 1;
            }
            let rec = WalRecord::start(rel);
            rec.register(&b).content().copy_from_slice(&page);
            rec.finish();
        }
        for tup in tuples {
            pg_sys::heap_freetuple(tup);
        }
        pg_sys::pgstat_count_heap_insert(rel, nslots as i64);
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_insert_speculative(
    rel: pg_sys::Relation,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    options: i32,
    _bistate: *mut pg_sys::BulkInsertStateData,
    spec_token: u32,
) {
    // SAFETY: as tuple_insert.
    unsafe { insert_slot(rel, slot, cid, options, Some(spec_token), false) }
}

/// Ends a speculative insertion: the ctid becomes the row's TID, or, when a conflict was found,
/// the row is killed as `heap_abort_speculative` kills it.
#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_complete_speculative(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot, _spec_token: u32, succeeded: bool) {
    // SAFETY: the slot holds the TID set by tuple_insert_speculative in this command.
    let tid = unsafe { (*slot).tts_tid };
    if succeeded {
        rewrite_header(rel, &tid, |h| tuple::set_ctid_bytes(h, &tid));
    } else {
        kill_version(rel, &tid);
    }
}

/// Kills a row version this transaction inserted and nobody can have seen committed: its xmin
/// becomes invalid, which every visibility routine reads as aborted (`heap_abort_speculative`).
pub fn kill_version(rel: pg_sys::Relation, tid: &pg_sys::ItemPointerData) {
    rewrite_header(rel, tid, |h| {
        h[0..4].copy_from_slice(&0u32.to_ne_bytes());
        let infomask = u16::from_ne_bytes([h[20], h[21]]) & !(pg_sys::HEAP_XMAX_BITS as u16);
        h[20..22].copy_from_slice(&(infomask | pg_sys::HEAP_XMAX_INVALID as u16).to_ne_bytes());
        let infomask2 = u16::from_ne_bytes([h[18], h[19]]) & !(pg_sys::HEAP_KEYS_UPDATED as u16);
        h[18..20].copy_from_slice(&infomask2.to_ne_bytes());
        h[4..8].copy_from_slice(&0u32.to_ne_bytes());
        // As heap_abort_speculative: the speculative token goes too.
        tuple::set_ctid_bytes(h, tid);
    });
}

/// Changes the header bytes (xmin to infomask) of the row version `tid` of this transaction
/// under its page's exclusive lock, WAL-logged.
pub fn rewrite_header(rel: pg_sys::Relation, tid: &pg_sys::ItemPointerData, change: impl FnOnce(&mut [u8])) {
    let Some((block, slot)) = tuple::block_slot(tid) else { pgrx::error!("row version with an invalid TID") };
    let Some(store::Target::Delta { page: b, gate: _gate }) = store::write_block(rel, block) else { pgrx::error!("row version of this transaction not found") };
    let c = b.content_of(PageKind::Delta);
    let at = delta::tuple(c, slot).unwrap_or_else(|why| b.corrupted(&why)).unwrap_or_else(|| b.corrupted("row version of this transaction missing")).start;
    let mut header = c[at..at + tuple::XACT_FIELDS.end].to_vec();
    change(&mut header);
    let range = at..at + tuple::XACT_FIELDS.end;
    WalRecord::change_in_place(rel, &b, &[range.clone()], |c| c[range].copy_from_slice(&header));
}

/// The end of a command that inserted with a BulkInsertState or through multi_insert: its
/// write buffer is sealed (see `bulk.rs`).
#[pg_guard]
pub unsafe extern "C-unwind" fn finish_bulk_insert(rel: pg_sys::Relation, _options: i32) {
    super::bulk::finish(rel);
}
