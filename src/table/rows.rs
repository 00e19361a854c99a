//! The row versions of a logical block, whatever holds them: the tuples of a delta page, or a
//! row group's rows with their headers (the overlay's, or their segment's stamp).

use super::group::Columns;
use super::page::Buf;
use super::store::{self, Block};
use super::tuple::{self, TupleCopy};
use crate::storage::Lock;
use columnar_core::{delta, layout::PageKind, rownum};
use pgrx::pg_sys;

/// The header of the row in `slot` of a group block: Some(Some(bytes)) from the overlay, or
/// Some(None) when it has none of its own; None when VACUUM removed the row.
pub fn overlay_header<'a>(overlay: Option<&'a Buf>, slot: usize) -> Option<Option<&'a [u8]>> {
    let Some(o) = overlay else { return Some(None) };
    let c = o.content_of(PageKind::Delta);
    if delta::is_gone(c, slot) {
        return None;
    }
    Some(tuple::tuple_bytes(o, slot))
}

/// Calls `f(slot, copy, buffer)` for every row version of logical block `logical`, held in
/// `block`, in slot order (`only`, when given, lists the offsets wanted); a row group's rows
/// carry `columns`. `buffer` is the locked page the version's header came from, for heap's
/// visibility routines.
pub fn for_each(rel: pg_sys::Relation, logical: u32, block: &Block, cxt: pg_sys::MemoryContext, only: Option<&[u16]>, columns: Columns, mut f: impl FnMut(usize, TupleCopy, &Buf)) {
    // SAFETY: an open relation.
    let relid = unsafe { (*rel).rd_id };
    let mut wanted_slots = [false; rownum::ROWS_PER_BLOCK as usize];
    for &offset in only.unwrap_or(&[]) {
        if let Some(w) = wanted_slots.get_mut((offset as usize).wrapping_sub(1)) {
            *w = true;
        }
    }
    let wanted = |slot: usize| only.is_none() || wanted_slots.get(slot).copied().unwrap_or(false);
    match block {
        Block::Delta(b) => {
            for slot in (0..delta::slot_count(b.content_of(PageKind::Delta))).filter(|&s| wanted(s)) {
                let Some(bytes) = tuple::tuple_bytes(b, slot) else { continue };
                f(slot, TupleCopy::new(bytes, tuple::item_pointer(logical, slot as u16 + 1), relid, cxt), b);
            }
        }
        Block::Group { overlay, group, seg } => {
            // A bitmap scan's few rows of a block are read value by value: decoding their
            // vectors whole costs thousands of rows' worth.
            let mut former = group.former(rel, only.is_none_or(|o| o.len() >= super::group::WHOLE_VECTORS_FROM_ROWS), columns);
            let stamp = super::group::stamp_of(seg);
            let rows = match only {
                // A bitmap's few offsets in a block: each one's position alone (a rank), not
                // every row of the block.
                Some(o) if o.len() < super::group::WHOLE_VECTORS_FROM_ROWS => {
                    (0..wanted_slots.len()).filter(|&s| wanted_slots[s]).filter_map(|s| Some((s, group.position(logical, s)?))).collect()
                }
                _ => group.rows_of(logical),
            };
            for (slot, position) in rows.into_iter().filter(|&(s, _)| wanted(s)) {
                let Some(own) = overlay_header(overlay.as_ref(), slot) else { continue };
                let tid = tuple::item_pointer(logical, slot as u16 + 1);
                let stamp = super::group::stamp_header(stamp, &tid);
                let t = former.form(rel, position, own.unwrap_or(&stamp), tid, cxt);
                f(slot, t, if own.is_some() { overlay.as_ref().expect("a header came from it") } else { seg });
            }
        }
        // Rows not written yet have nothing to show but to a fetch by TID.
        Block::Reserved(_) => {}
    }
}

/// One row version read by TID, with the page its header came from still share-locked.
pub struct Version {
    pub t: TupleCopy,
    block: Block,
    own_header: bool,
}

impl Drop for Version {
    fn drop(&mut self) {
        if !self.t.0.is_null() {
            // SAFETY: the copy was made for this version and is owned by nothing else.
            unsafe { pg_sys::pfree(self.t.0 as *mut _) };
        }
    }
}

impl Version {
    /// The copy, for the caller to own; the page is unlocked.
    pub fn take(mut self) -> TupleCopy {
        TupleCopy(std::mem::replace(&mut self.t.0, std::ptr::null_mut()))
    }

    /// The locked page the header came from.
    pub fn buf(&self) -> &Buf {
        match &self.block {
            Block::Delta(b) => b,
            Block::Group { overlay: Some(o), .. } if self.own_header => o,
            Block::Group { seg, .. } | Block::Reserved(seg) => seg,
        }
    }
}

/// The row version `tid` names, copied into `cxt` (a row group's row carrying `columns`); None
/// when there is none.
pub fn read(rel: pg_sys::Relation, tid: &pg_sys::ItemPointerData, cxt: pg_sys::MemoryContext, columns: Columns) -> Option<Version> {
    let (logical, slot) = tuple::block_slot(tid)?;
    let block = store::read_block(rel, logical, Lock::Share)?;
    // SAFETY: an open relation.
    let relid = unsafe { (*rel).rd_id };
    let (t, own_header) = match &block {
        Block::Delta(b) => (TupleCopy::new(tuple::tuple_bytes(b, slot)?, *tid, relid, cxt), true),
        Block::Group { overlay, group, seg } => {
            let position = group.position(logical, slot)?;
            let own = overlay_header(overlay.as_ref(), slot)?;
            let stamp = super::group::stamp_header(super::group::stamp_of(seg), tid);
            (group.form_row(rel, position, own.unwrap_or(&stamp), *tid, cxt, columns), own.is_some())
        }
        // A row of another backend's write buffer: its stamp, over a row of NULLs. It is never
        // visible to a snapshot but a dirty one (whose caller only learns whom to wait for) or
        // SnapshotAny: the stamp's transaction writes the rows before it commits.
        Block::Reserved(seg) => (super::group::placeholder_row(rel, &super::group::stamp_header(super::group::stamp_of(seg), tid), *tid, cxt), false),
    };
    Some(Version { t, block, own_header })
}
