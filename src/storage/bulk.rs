//! Writing a new relation's main fork outside shared buffers, as nbtree's CREATE INDEX does
//! (nbtsort.c; bulk_write.c since PostgreSQL 17): each page is formed in this backend's memory,
//! WAL-logged whole when the relation needs WAL, checksummed, and handed to the storage manager.
//! Going through shared buffers instead costs a zero-filled extension per page, the eviction of
//! other pages and a second write of each page when it is flushed.
//!
//! Durability: every write registers its file segment with the checkpointer, as a buffer flush
//! does, so a checkpoint that begins after a page was written syncs it, and WAL after the
//! checkpoint's redo point replays the pages written since. Without WAL (wal_level = minimal and
//! a file new in this transaction) commit syncs the file, as for any such relation. Only one
//! backend may write the relation meanwhile: a build's own new file, unknown to other backends
//! until its transaction commits.

use super::page::{self, BLCKSZ, PageFormat};
use super::rel;
use pgrx::pg_sys;

/// A page image in this backend's memory, aligned for I/O (PG_IO_ALIGN_SIZE).
#[repr(C, align(4096))]
struct PageImage([u8; BLCKSZ]);

pub struct BulkWrite {
    rel: pg_sys::Relation,
    needs_wal: bool,
    /// Blocks in the main fork so far.
    blocks: u32,
    image: Box<PageImage>,
}

impl BulkWrite {
    /// For `rel`'s empty main fork, which no other backend reads or writes until this
    /// transaction commits.
    pub fn new(rel: pg_sys::Relation) -> BulkWrite {
        assert_eq!(rel::main_fork_blocks(rel), 0, "bulk write into a non-empty relation");
        BulkWrite { rel, needs_wal: rel::needs_wal(rel), blocks: 0, image: Box::new(PageImage([0; BLCKSZ])) }
    }

    /// The first block not written yet.
    pub fn next_block(&self) -> u32 {
        self.blocks
    }

    /// Writes block `blk`: a new page of `kind` whose content `fill` writes. A block past the
    /// end extends the fork (blocks skipped on the way are written as zeroes, to be written
    /// again later, as a metapage written last is); a block before it is overwritten.
    pub fn write<F: PageFormat>(&mut self, blk: u32, kind: F::Kind, fill: impl FnOnce(&mut [u8])) {
        while self.blocks < blk {
            self.image.0.fill(0);
            self.put(self.blocks);
        }
        let image = &mut self.image.0[..];
        page::init::<F>(image, kind);
        fill(page::content_mut::<F>(image));
        if self.needs_wal {
            // SAFETY: an open relation; the image is a whole page with a standard header, which
            // log_newpage copies into the WAL record, setting its LSN.
            unsafe {
                let mut file = crate::compat::rel_file(self.rel);
                pg_sys::log_newpage(&mut file, pg_sys::ForkNumber::MAIN_FORKNUM, blk, image.as_mut_ptr() as pg_sys::Page, true);
            }
        }
        self.put(blk);
    }

    fn put(&mut self, blk: u32) {
        let image = self.image.0.as_mut_ptr();
        // SAFETY: `image` is a whole, aligned page; PageSetChecksumInplace leaves an all-zero
        // page alone. RelationGetSmgr is asked at every write (an invalidation may close the
        // handle in between). smgrextend appends exactly block `blocks`; smgrwrite rewrites a
        // block below it. Neither keeps the pointer; both ERROR rather than write short.
        unsafe {
            pg_sys::PageSetChecksumInplace(image as pg_sys::Page, blk);
            let smgr = pg_sys::RelationGetSmgr(self.rel);
            if blk == self.blocks {
                pg_sys::smgrextend(smgr, pg_sys::ForkNumber::MAIN_FORKNUM, blk, image.cast(), false);
                self.blocks += 1;
            } else {
                pg_sys::smgrwrite(smgr, pg_sys::ForkNumber::MAIN_FORKNUM, blk, image.cast(), false);
            }
        }
    }
}
