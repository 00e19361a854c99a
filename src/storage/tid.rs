//! Heap TIDs (`ItemPointerData`) and their packed 48-bit form.

use alex_core::entry::{PackedTid, pack_tid, tid_block, tid_offset};
use pgrx::pg_sys;

/// A TID, packed.
pub fn pack(ip: &pg_sys::ItemPointerData) -> PackedTid {
    pack_tid(((ip.ip_blkid.bi_hi as u32) << 16) | ip.ip_blkid.bi_lo as u32, ip.ip_posid)
}

/// A packed TID as PostgreSQL's ItemPointerData.
pub fn item_pointer(tid: PackedTid) -> pg_sys::ItemPointerData {
    let blk = tid_block(tid);
    let mut ip = pg_sys::ItemPointerData::default();
    ip.ip_blkid.bi_hi = (blk >> 16) as u16;
    ip.ip_blkid.bi_lo = blk as u16;
    ip.ip_posid = tid_offset(tid);
    ip
}
