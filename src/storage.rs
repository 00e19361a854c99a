//! Page access through shared buffers, behind small RAII guards.
//!
//! - [`Buf`] owns one pin and at most one content lock; dropping it unlocks and unpins, so no
//!   code path (including an ERROR unwinding through Rust frames) can leak either.
//! - [`WalRecord`] is one generic-WAL record: pages registered with it are modified through the
//!   images it hands out, and [`WalRecord::finish`] applies and logs them atomically. Dropping an
//!   unfinished record aborts it: the pages stay as they were.
//!
//! Every page of an alex index is PostgreSQL's page header, an alex content area
//! ([`alex_core::page::CONTENT_SIZE`] bytes) and an 8-byte special space naming the page kind.
//! `pd_lower = pd_upper = pd_special`, so generic WAL preserves every content byte.

use alex_core::page::{self as layout, PageKind, BLCKSZ, CONTENT_SIZE, PAGE_HEADER_SIZE, SPECIAL_SIZE};
use pgrx::pg_sys;
use std::marker::PhantomData;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lock {
    Share,
    Exclusive,
}

/// A pinned buffer, possibly content-locked.
pub struct Buf {
    buf: pg_sys::Buffer,
    locked: bool,
}

impl Buf {
    /// Pins block `blk` of the index's main fork and locks it in `mode`.
    pub fn read(rel: pg_sys::Relation, blk: u32, mode: Lock) -> Buf {
        // SAFETY: `rel` is an open index relation for the whole call (callers get it from the
        // executor or from index_open), and ReadBufferExtended raises an ERROR rather than
        // returning an invalid buffer for a block that does not exist.
        let buf = unsafe {
            pg_sys::ReadBufferExtended(rel, pg_sys::ForkNumber::MAIN_FORKNUM, blk, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut())
        };
        let mut b = Buf { buf, locked: false };
        b.lock(mode);
        b
    }

    /// As `read`, first trying `recent`, the buffer that held the block last time: while it still
    /// does, pinning it needs no buffer mapping lookup.
    pub fn read_recent(rel: pg_sys::Relation, blk: u32, recent: pg_sys::Buffer, mode: Lock) -> Buf {
        // SAFETY: an open relation; `recent` is a buffer number this backend got from the buffer
        // manager (shared or local), and ReadRecentBuffer pins it only if it still holds this
        // very block of this relation's main fork (it checks the buffer tag under its lock).
        let hit = recent != pg_sys::InvalidBuffer as pg_sys::Buffer
            && unsafe { pg_sys::ReadRecentBuffer((*rel).rd_node, pg_sys::ForkNumber::MAIN_FORKNUM, blk, recent) };
        if !hit {
            return Buf::read(rel, blk, mode);
        }
        let mut b = Buf { buf: recent, locked: false };
        b.lock(mode);
        b
    }

    /// Pins block `blk` and locks it exclusively if that needs no wait; None if another backend
    /// holds a lock on it.
    pub fn try_read_exclusive(rel: pg_sys::Relation, blk: u32) -> Option<Buf> {
        // SAFETY: as in `read`; ConditionalLockBuffer is called on the buffer we just pinned.
        unsafe {
            let buf = pg_sys::ReadBufferExtended(rel, pg_sys::ForkNumber::MAIN_FORKNUM, blk, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
            let mut b = Buf { buf, locked: false };
            if !pg_sys::ConditionalLockBuffer(buf) {
                return None;
            }
            b.locked = true;
            Some(b)
        }
    }

    /// Extends the index by one page and returns it pinned and exclusively locked. Its content is
    /// whatever the new page holds (zeroes); register it with `WalRecord::register_new`.
    pub fn extend(rel: pg_sys::Relation) -> Buf {
        // SAFETY: as in `read`. The relation extension lock serialises concurrent extenders, as
        // nbtree does; a relation local to this backend needs none.
        unsafe {
            let local = relation_is_local(rel);
            if !local {
                pg_sys::LockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
            }
            let buf = pg_sys::ReadBufferExtended(rel, pg_sys::ForkNumber::MAIN_FORKNUM, pg_sys::InvalidBlockNumber, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
            let mut b = Buf { buf, locked: false };
            b.lock(Lock::Exclusive);
            if !local {
                pg_sys::UnlockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
            }
            b
        }
    }

    pub fn lock(&mut self, mode: Lock) {
        debug_assert!(!self.locked);
        let m = match mode {
            Lock::Share => pg_sys::BUFFER_LOCK_SHARE,
            Lock::Exclusive => pg_sys::BUFFER_LOCK_EXCLUSIVE,
        };
        // SAFETY: we hold a pin on `buf` and no lock on it.
        unsafe { pg_sys::LockBuffer(self.buf, m as i32) };
        self.locked = true;
    }

    /// Waits until ours is the only pin, then locks exclusively (VACUUM's interlock with scans
    /// that still hold a pin on a page whose TIDs they are returning).
    pub fn lock_for_cleanup(&mut self) {
        debug_assert!(!self.locked);
        // SAFETY: we hold a pin on `buf` and no lock on it.
        unsafe { pg_sys::LockBufferForCleanup(self.buf) };
        self.locked = true;
    }

    pub fn unlock(&mut self) {
        if self.locked {
            // SAFETY: we hold the lock taken in `lock`.
            unsafe { pg_sys::LockBuffer(self.buf, pg_sys::BUFFER_LOCK_UNLOCK as i32) };
            self.locked = false;
        }
    }

    pub fn block(&self) -> u32 {
        // SAFETY: `buf` is pinned.
        unsafe { pg_sys::BufferGetBlockNumber(self.buf) }
    }

    pub fn raw(&self) -> pg_sys::Buffer {
        self.buf
    }

    fn page_bytes(&self) -> &[u8] {
        debug_assert!(self.locked, "page read without a content lock");
        // SAFETY: a pinned buffer's page stays in memory; the content lock held by this guard
        // keeps writers out while the returned borrow (tied to &self) lives.
        unsafe { std::slice::from_raw_parts(pg_sys::BufferGetPage(self.buf) as *const u8, BLCKSZ) }
    }

    /// Formats the (exclusively locked) page as `kind` and returns its content area, to be filled
    /// without WAL and marked dirty. Only for a build, which WAL-logs the whole relation after
    /// writing it (log_newpage_range) and whose relation no other backend can see yet.
    pub fn init_unlogged(&mut self, kind: PageKind) -> &mut [u8] {
        assert!(self.locked);
        // SAFETY: pinned and exclusively locked by this guard; the borrow is tied to &mut self.
        let page = unsafe { std::slice::from_raw_parts_mut(pg_sys::BufferGetPage(self.buf) as *mut u8, BLCKSZ) };
        init_page(page, kind);
        &mut page[PAGE_HEADER_SIZE..PAGE_HEADER_SIZE + CONTENT_SIZE]
    }

    pub fn mark_dirty(&self) {
        // SAFETY: pinned and exclusively locked by this guard.
        unsafe { pg_sys::MarkBufferDirty(self.buf) };
    }

    /// Whether the page was never initialised (all zeroes): the relation was extended by an
    /// insert that failed, or crashed, before writing the page. Such a page is in no chain.
    pub fn is_new(&self) -> bool {
        // SAFETY: the page starts with a PageHeaderData; PageIsNew tests pd_upper == 0.
        unsafe { (*(self.page_bytes().as_ptr() as *const pg_sys::PageHeaderData)).pd_upper == 0 }
    }

    /// The page kind, checked: an ERROR (index_corrupted) if this is not an alex page.
    pub fn kind(&self) -> PageKind {
        let p = self.page_bytes();
        match layout::read_special(&p[BLCKSZ - SPECIAL_SIZE..]) {
            Some(k) => k,
            None => crate::error::corrupted(format!("block {} of an alex index is not an alex page", self.block())),
        }
    }

    /// The content area of a page that must be of kind `kind` (ERROR otherwise).
    pub fn content_of(&self, kind: PageKind) -> &[u8] {
        let k = self.kind();
        if k != kind {
            crate::error::corrupted(format!("block {} of an alex index is a {:?} page where a {:?} page was expected", self.block(), k, kind));
        }
        &self.page_bytes()[PAGE_HEADER_SIZE..PAGE_HEADER_SIZE + CONTENT_SIZE]
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        self.unlock();
        // SAFETY: the pin was taken in `read`/`extend` and not released since.
        unsafe { pg_sys::ReleaseBuffer(self.buf) };
    }
}

/// `RELATION_IS_LOCAL(rel)`: created in this transaction, so invisible to other backends.
pub fn relation_is_local(rel: pg_sys::Relation) -> bool {
    // SAFETY: `rel` is a valid open relation.
    unsafe { (*rel).rd_islocaltemp || (*rel).rd_createSubid != 0 }
}

/// Formats `page` (a whole BLCKSZ image) as an empty alex page of `kind`.
pub fn init_page(page: &mut [u8], kind: PageKind) {
    // SAFETY: `page` is BLCKSZ bytes; PageInit writes the header and zeroes the rest.
    unsafe { pg_sys::PageInit(page.as_mut_ptr() as pg_sys::Page, BLCKSZ, SPECIAL_SIZE) };
    // SAFETY: the page starts with a PageHeaderData, just written by PageInit.
    let hdr = unsafe { &mut *(page.as_mut_ptr() as *mut pg_sys::PageHeaderData) };
    hdr.pd_lower = hdr.pd_upper;
    layout::write_special(&mut page[BLCKSZ - SPECIAL_SIZE..], kind);
}

/// One generic-WAL record covering up to four pages.
pub struct WalRecord {
    state: *mut pg_sys::GenericXLogState,
}

/// A page image registered in a [`WalRecord`]: changes to it are applied and logged when the
/// record finishes.
pub struct PageImage<'r> {
    page: *mut u8,
    _record: PhantomData<&'r WalRecord>,
}

impl WalRecord {
    pub fn start(rel: pg_sys::Relation) -> WalRecord {
        // SAFETY: `rel` is a valid open index relation.
        WalRecord { state: unsafe { pg_sys::GenericXLogStart(rel) } }
    }

    /// Registers an exclusively locked page whose changes will be logged as a delta.
    pub fn register<'r>(&'r self, b: &Buf) -> PageImage<'r> {
        self.register_flags(b, 0)
    }

    /// Registers a page that is written from scratch (logged as a full image) and formats it.
    pub fn register_new<'r>(&'r self, b: &Buf, kind: PageKind) -> PageImage<'r> {
        let mut img = self.register_flags(b, pg_sys::GENERIC_XLOG_FULL_IMAGE as i32);
        init_page(img.page_mut(), kind);
        img
    }

    fn register_flags<'r>(&'r self, b: &Buf, flags: i32) -> PageImage<'r> {
        assert!(b.locked, "a page must be exclusively locked to be changed");
        // SAFETY: the record is active (not finished: `finish` consumes self) and the buffer is
        // pinned and exclusively locked by `b`, which outlives the record in every caller.
        // GenericXLogRegisterBuffer ERRORs past MAX_GENERIC_XLOG_PAGES rather than overflow.
        let page = unsafe { pg_sys::GenericXLogRegisterBuffer(self.state, b.raw(), flags) };
        PageImage { page: page as *mut u8, _record: PhantomData }
    }

    /// Applies and logs every registered page (marking the buffers dirty).
    pub fn finish(mut self) {
        // SAFETY: the state is active; GenericXLogFinish frees it.
        unsafe { pg_sys::GenericXLogFinish(self.state) };
        self.state = std::ptr::null_mut();
    }
}

impl Drop for WalRecord {
    fn drop(&mut self) {
        if !self.state.is_null() {
            // SAFETY: the state is active and not finished.
            unsafe { pg_sys::GenericXLogAbort(self.state) };
        }
    }
}

impl PageImage<'_> {
    fn page_mut(&mut self) -> &mut [u8] {
        // SAFETY: generic WAL hands out a private BLCKSZ copy of the page, valid until the record
        // finishes or aborts, which cannot happen while this image (borrowing the record) lives.
        unsafe { std::slice::from_raw_parts_mut(self.page, BLCKSZ) }
    }

    /// The content area of the image.
    pub fn content(&mut self) -> &mut [u8] {
        &mut self.page_mut()[PAGE_HEADER_SIZE..PAGE_HEADER_SIZE + CONTENT_SIZE]
    }
}
