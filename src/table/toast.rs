//! Values too large for their row, stored out of line in chains of value pages of the table
//! itself (`columnar_core::value`), behind standard on-disk TOAST pointers whose toast
//! relation is the table: PostgreSQL's detoasting reads them back through
//! `relation_fetch_toast_slice`, only when the value is used and only the slice asked for.
//!
//! Chains are written before the row that points to them and freed by VACUUM with that row
//! (after its index entries); a row version never shares a chain with another (an UPDATE
//! stores the values again). An insert that fails after writing a chain leaves its pages
//! unreferenced (`columnar_check` allows them; they are not reused).

use super::page::{Buf, WalRecord};
use crate::storage::{Lock, rel};
use columnar_core::layout::{NO_BLOCK, PageKind};
use columnar_core::value;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// `MaxFSMRequestSize`: a request this large finds only pages recorded as wholly free.
pub const WHOLE_PAGE_REQUEST: usize = pg_sys::BLCKSZ as usize - 32;
/// What a free page is recorded with in the free space map (more than any delta page has).
pub const WHOLE_PAGE: usize = pg_sys::BLCKSZ as usize;
/// Free pages the map may offer before the relation is extended instead.
const FREE_PAGE_TRIES: usize = 3;
/// `VARHDRSZ_EXTERNAL + sizeof(varatt_external)`: an on-disk TOAST pointer.
const POINTER_SIZE: usize = 2 + std::mem::size_of::<pg_sys::varatt_external>();
/// `VARLENA_EXTSIZE_BITS`: the compression method sits above the stored size in `va_extinfo`.
const EXTSIZE_BITS: u32 = pg_sys::VARLENA_EXTSIZE_BITS;

/// A page for new content, exclusively locked: a freed page from the free space map, or a new
/// one at the end of the file.
pub fn allocate_page(rel: pg_sys::Relation) -> Buf {
    for _ in 0..FREE_PAGE_TRIES {
        // SAFETY: an open relation.
        let p = unsafe { pg_sys::GetPageWithFreeSpace(rel, WHOLE_PAGE_REQUEST) };
        if p == pg_sys::InvalidBlockNumber || p >= rel::main_fork_blocks(rel) {
            break;
        }
        let b = Buf::read(rel, p, Lock::Exclusive);
        // SAFETY: as above; the entry is cleared whatever the page is, so that nobody else
        // takes it (the map is only a hint: the page's kind decides).
        unsafe { pg_sys::RecordPageWithFreeSpace(rel, p, 0) };
        if !b.is_new() && b.kind() == PageKind::Free {
            return b;
        }
    }
    Buf::extend(rel)
}

/// Stores `data` as a chain of value pages; returns its first page.
pub fn store(rel: pg_sys::Relation, data: &[u8]) -> u32 {
    super::store::ensure_meta(rel);
    let mut next = NO_BLOCK;
    // Last chunk first, so that each page is written once, knowing its successor.
    for chunk in value::chunks(data).rev() {
        let b = allocate_page(rel);
        let rec = WalRecord::start(rel);
        let mut img = rec.register_new(&b, PageKind::Value);
        value::write(img.content(), next, chunk);
        drop(img);
        rec.finish();
        next = b.block();
    }
    next
}

/// Calls `f` with each page of the chain from `first` (share-locked) and its data, checking
/// that the chain holds `len` bytes in the pages such a value needs.
fn walk(rel: pg_sys::Relation, first: u32, len: usize, mut f: impl FnMut(&Buf, &[u8])) {
    let (mut blk, mut seen, mut pages) = (first, 0usize, 0usize);
    while !value::is_last(blk) {
        pages += 1;
        let b = Buf::read(rel, blk, Lock::Share);
        let c = b.content_of(PageKind::Value);
        let d = value::data(c);
        if pages > value::pages_for(len) || seen + d.len() > len {
            b.corrupted(&format!("the value from block {first} is longer than the {len} bytes its row says"));
        }
        f(&b, d);
        seen += d.len();
        blk = value::next(c);
    }
    if seen != len {
        crate::error::corrupted_page::<super::page::ColumnarPages>(rel, first, &format!("the value from block {first} holds {seen} bytes, its row says {len}"));
    }
}

/// The bytes of a stored value.
pub fn read(rel: pg_sys::Relation, first: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    walk(rel, first, len, |_, d| out.extend_from_slice(d));
    out
}

/// Frees the chain from `first` (VACUUM, once the row pointing to it is gone): its pages become
/// free pages, recorded in the free space map for reuse.
pub fn free(rel: pg_sys::Relation, first: u32) {
    let mut blk = first;
    let mut pages = 0u32;
    while !value::is_last(blk) && pages < rel::main_fork_blocks(rel) {
        pages += 1;
        let b = Buf::read(rel, blk, Lock::Exclusive);
        if b.kind() != PageKind::Value {
            b.corrupted("a value chain leads to a page that holds no value");
        }
        let next = value::next(b.content_of(PageKind::Value));
        super::space::free_page(rel, &b);
        blk = next;
    }
}

/// The chain a datum points to, if it is an on-disk TOAST pointer into `rel`: (first page,
/// stored size).
///
/// # Safety
/// `v` is a valid varlena datum.
pub unsafe fn chain_of(rel: pg_sys::Relation, v: *const pg_sys::varlena) -> Option<(u32, usize)> {
    // SAFETY: per the contract; an external datum is followed by its varatt_external.
    unsafe {
        let bytes = v as *const u8;
        if *bytes != 0x01 || *bytes.add(1) as u32 != pg_sys::vartag_external::VARTAG_ONDISK {
            return None;
        }
        let p: pg_sys::varatt_external = std::ptr::read_unaligned(bytes.add(2) as *const pg_sys::varatt_external);
        (p.va_toastrelid == (*rel).rd_id).then_some((p.va_valueid.to_u32(), (p.va_extinfo & ((1 << EXTSIZE_BITS) - 1)) as usize))
    }
}

/// Points an on-disk TOAST pointer (made by [`move_out_of_line`]) at another chain.
///
/// # Safety
/// `v` is a writable on-disk TOAST pointer.
pub unsafe fn repoint(v: *mut pg_sys::varlena, first: u32) {
    // SAFETY: per the contract; va_valueid sits 8 bytes into the varatt_external.
    unsafe { std::ptr::write_unaligned((v as *mut u8).add(2 + 8) as *mut u32, first) };
}

/// Stores the (inline, possibly compressed) varlena `v` out of line and returns the TOAST
/// pointer that replaces it, allocated in the current memory context.
///
/// # Safety
/// `v` is a valid inline varlena datum (not external).
pub unsafe fn move_out_of_line(rel: pg_sys::Relation, v: *const pg_sys::varlena) -> pg_sys::Datum {
    // SAFETY: per the contract. A compressed varlena keeps its compression header in the stored
    // bytes, as toast_save_datum stores it; a plain one stores its data without its header.
    unsafe {
        let (data, raw_size, ext_info) = if pgrx::varlena::varatt_is_4b_c(v) {
            let size = pgrx::varlena::varsize_4b(v) - 4;
            let tcinfo = std::ptr::read_unaligned((v as *const u8).add(4) as *const u32);
            let data = std::slice::from_raw_parts((v as *const u8).add(4), size);
            (data, (tcinfo & ((1 << EXTSIZE_BITS) - 1)) as i32 + 4, size as u32 | (tcinfo >> EXTSIZE_BITS) << EXTSIZE_BITS)
        } else {
            let size = pgrx::varlena::varsize_any_exhdr(v);
            let data = std::slice::from_raw_parts(pgrx::varlena::vardata_any(v) as *const u8, size);
            (data, size as i32 + 4, size as u32)
        };
        let first = store(rel, data);
        let pointer = pg_sys::varatt_external { va_rawsize: raw_size, va_extinfo: ext_info, va_valueid: pg_sys::Oid::from(first), va_toastrelid: file_owner(rel) };
        let mem = pg_sys::palloc(POINTER_SIZE) as *mut u8;
        *mem = 0x01;
        *mem.add(1) = pg_sys::vartag_external::VARTAG_ONDISK as u8;
        std::ptr::write_unaligned(mem.add(2) as *mut pg_sys::varatt_external, pointer);
        pg_sys::Datum::from(mem)
    }
}

/// The relation that will own `rel`'s file, which TOAST pointers must name. A table rewrite
/// (ALTER TABLE ... TYPE, SET ACCESS METHOD) writes the new file under a transient relation
/// that PostgreSQL's `make_new_heap` names `pg_temp_<OID of the table>` and then swaps into the
/// table: pointers written during the rewrite name the table, not the transient relation.
fn file_owner(rel: pg_sys::Relation) -> pg_sys::Oid {
    let name = rel::name(rel);
    // SAFETY: an open relation; a syscache lookup of a relation by OID.
    unsafe {
        if let Some(oid) = name.strip_prefix("pg_temp_").and_then(|o| o.parse::<u32>().ok()) {
            let owner = pg_sys::Oid::from(oid);
            let same_namespace = pg_sys::get_rel_namespace(owner) == (*(*rel).rd_rel).relnamespace;
            if owner != (*rel).rd_id && same_namespace {
                return owner;
            }
        }
        (*rel).rd_id
    }
}

/// `relation_fetch_toast_slice`: bytes `[sliceoffset, sliceoffset + slicelength)` of the value
/// whose chain starts at `valueid`, into `result` (allocated by the caller for them).
#[pg_guard]
pub unsafe extern "C-unwind" fn relation_fetch_toast_slice(
    toastrel: pg_sys::Relation,
    valueid: pg_sys::Oid,
    attrsize: i32,
    sliceoffset: i32,
    slicelength: i32,
    result: *mut pg_sys::varlena,
) {
    let (start, end) = (sliceoffset as usize, sliceoffset as usize + slicelength as usize);
    // SAFETY: `result` has room for `slicelength` bytes after its 4-byte header
    // (toast_fetch_datum and toast_fetch_datum_slice allocate it so).
    let out = unsafe { std::slice::from_raw_parts_mut((result as *mut u8).add(4), slicelength as usize) };
    let mut pos = 0usize;
    walk(toastrel, valueid.to_u32(), attrsize as usize, |_, d| {
        let (from, to) = (start.max(pos), end.min(pos + d.len()));
        if from < to {
            out[from - start..to - start].copy_from_slice(&d[from - pos..to - pos]);
        }
        pos += d.len();
    });
}

/// The values of a stored row version that point to chains of `rel`: (the pointer inside the
/// tuple, first page, stored size).
///
/// # Safety
/// `t` is a valid tuple of `rel`'s row type; the pointers returned point into it.
unsafe fn pointers_in(rel: pg_sys::Relation, t: pg_sys::HeapTuple) -> Vec<(*mut pg_sys::varlena, u32, usize)> {
    // SAFETY: per the contract; deformed by-reference values point into `t`.
    unsafe {
        if (*(*t).t_data).t_infomask as u32 & pg_sys::HEAP_HASEXTERNAL == 0 {
            return Vec::new();
        }
        let desc = (*rel).rd_att;
        let n = (*desc).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0); n];
        let mut nulls = vec![false; n];
        pg_sys::heap_deform_tuple(t, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
        (0..n)
            .filter(|&i| !nulls[i] && crate::compat::attr(desc, i).attlen == -1)
            .filter_map(|i| {
                let v = values[i].cast_mut_ptr::<pg_sys::varlena>();
                chain_of(rel, v).map(|(first, len)| (v, first, len))
            })
            .collect()
    }
}

/// The chains the values of a stored row version point to: (first page, stored size).
///
/// # Safety
/// `t` is a valid tuple of `rel`'s row type.
pub unsafe fn chains_in(rel: pg_sys::Relation, t: pg_sys::HeapTuple) -> Vec<(u32, usize)> {
    // SAFETY: per the contract.
    unsafe { pointers_in(rel, t) }.into_iter().map(|(_, first, len)| (first, len)).collect()
}

/// Copies the chains a row version of `from` points to into `to` and points the version's
/// values at the copies (VACUUM FULL and CLUSTER write a new file).
///
/// # Safety
/// `t` is a valid, writable tuple of `from`'s row type; `to` has the same row type.
pub unsafe fn copy_chains(from: pg_sys::Relation, to: pg_sys::Relation, t: pg_sys::HeapTuple) {
    // SAFETY: per the contract; the pointers point into `t`, so repointing them changes it.
    unsafe {
        for (v, first, len) in pointers_in(from, t) {
            repoint(v, store(to, &read(from, first, len)));
        }
    }
}
