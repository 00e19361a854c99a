//! Page access through shared buffers, behind small RAII guards.
//!
//! - [`Buf`] owns one pin and at most one content lock; dropping it unlocks and unpins, so no
//!   code path (including an ERROR unwinding through Rust frames) can leak either.
//! - [`WalRecord`] is one generic-WAL record: pages registered with it are modified through the
//!   images it hands out, and [`WalRecord::finish`] applies and logs them atomically. Dropping an
//!   unfinished record (an ERROR before `finish`) leaves the pages as they were.
//!
//! Every page of an alex index is PostgreSQL's page header, an alex content area
//! ([`alex_core::page::CONTENT_SIZE`] bytes) and an 8-byte special space naming the page kind.
//! `pd_lower = pd_upper = pd_special`, so generic WAL preserves every content byte.

use alex_core::page::{self as layout, PageKind, BLCKSZ, CONTENT_SIZE, PAGE_HEADER_SIZE, SPECIAL_SIZE};
use alex_core::wal_delta;
use pgrx::pg_sys;
use std::cell::RefCell;
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
///
/// The record is written in generic WAL's own format (`RM_GENERIC_ID`, one delta of fragments per
/// page) and replayed by PostgreSQL's `generic_redo`; only the encoding of the deltas is ours
/// ([`alex_core::wal_delta`]), because core's byte-at-a-time comparison of whole pages cost more
/// than the rest of an insert. Everything else follows `GenericXLogFinish`: pages are changed
/// through private images; the deltas (or whole images) are applied to the buffers, which are
/// marked dirty and logged, in one critical section.
pub struct WalRecord {
    logged: bool,
    pages: RefCell<Vec<Registered>>,
}

/// A registered page: its buffer and the private image that is changed in its place.
struct Registered {
    buffer: pg_sys::Buffer,
    /// Logged whole (a page written from scratch) rather than as a delta.
    full_image: bool,
    image: Box<PageCopy>,
}

/// A page image, aligned as PostgreSQL aligns pages (`PGAlignedBlock`).
#[repr(C, align(16))]
struct PageCopy([u8; BLCKSZ]);

/// Generic WAL's limit on pages per record (`MAX_GENERIC_XLOG_PAGES`).
const MAX_PAGES: usize = pg_sys::MAX_GENERIC_XLOG_PAGES as usize;

/// A page image registered in a [`WalRecord`]: changes to it are applied and logged when the
/// record finishes.
pub struct PageImage<'r> {
    page: *mut u8,
    _record: PhantomData<&'r WalRecord>,
}

impl WalRecord {
    pub fn start(rel: pg_sys::Relation) -> WalRecord {
        WalRecord { logged: relation_needs_wal(rel), pages: RefCell::new(Vec::with_capacity(MAX_PAGES)) }
    }

    /// Registers an exclusively locked page whose changes will be logged as a delta.
    pub fn register<'r>(&'r self, b: &Buf) -> PageImage<'r> {
        self.register_page(b, false)
    }

    /// Registers a page that is written from scratch (logged as a full image) and formats it.
    pub fn register_new<'r>(&'r self, b: &Buf, kind: PageKind) -> PageImage<'r> {
        let mut img = self.register_page(b, true);
        init_page(img.page_mut(), kind);
        img
    }

    fn register_page<'r>(&'r self, b: &Buf, full_image: bool) -> PageImage<'r> {
        assert!(b.locked, "a page must be exclusively locked to be changed");
        let mut pages = self.pages.borrow_mut();
        if let Some(p) = pages.iter_mut().find(|p| p.buffer == b.raw()) {
            return PageImage { page: p.image.0.as_mut_ptr(), _record: PhantomData };
        }
        if pages.len() == MAX_PAGES {
            pgrx::error!("a generic WAL record holds at most {MAX_PAGES} pages");
        }
        let mut image = Box::new(PageCopy([0; BLCKSZ]));
        image.0.copy_from_slice(b.page_bytes());
        // The image lives on the heap: its address stays put when `pages` grows.
        let page = image.0.as_mut_ptr();
        pages.push(Registered { buffer: b.raw(), full_image, image });
        PageImage { page, _record: PhantomData }
    }

    /// Applies and logs every registered page (marking the buffers dirty).
    pub fn finish(self) {
        let pages = self.pages.take();
        // The deltas are computed before the critical section (nothing may allocate there): the buffers are
        // exclusively locked, so their pages cannot change meanwhile.
        let deltas: Vec<Vec<u8>> = pages
            .iter()
            .map(|p| {
                let mut delta = Vec::new();
                if self.logged && !p.full_image {
                    wal_delta::encode(buffer_page(p.buffer), &p.image.0, &mut delta);
                }
                delta
            })
            .collect();
        let blocks: Vec<(pg_sys::Buffer, bool, &[u8])> = pages.iter().zip(&deltas).map(|(p, d)| (p.buffer, p.full_image, d.as_slice())).collect();
        // SAFETY: every registered buffer is pinned and exclusively locked by a `Buf` that
        // outlives this record (callers register guards they hold), so we may write its page.
        // START_CRIT_SECTION/END_CRIT_SECTION bracket the copy and the WAL insert, as in
        // GenericXLogFinish: an ERROR in between becomes a PANIC rather than leave changed pages
        // unlogged. Nothing in between can panic: the copies have fixed lengths and the deltas come
        // from `encode`.
        unsafe {
            if self.logged {
                pg_sys::XLogBeginInsert();
            }
            pg_sys::CritSectionCount += 1;
            for (p, delta) in pages.iter().zip(&deltas) {
                let page = std::slice::from_raw_parts_mut(pg_sys::BufferGetPage(p.buffer) as *mut u8, BLCKSZ);
                if self.logged && !p.full_image {
                    wal_delta::apply(page, delta);
                } else {
                    page.copy_from_slice(&p.image.0);
                }
                if self.logged {
                    // As replay leaves it: the hole between pd_lower and pd_upper is not logged.
                    let (lower, upper) = wal_delta::hole(page);
                    page[lower..upper].fill(0);
                }
                pg_sys::MarkBufferDirty(p.buffer);
            }
            if self.logged {
                insert_record(&blocks);
            }
            pg_sys::CritSectionCount -= 1;
        }
    }

    /// Changes the exclusively locked page of `b` in place and logs it, in one critical section,
    /// without the private copy and the page comparison of a record: for small changes planned
    /// in advance (an insert into a data page). `change` gets the content area, may write only
    /// the content bytes in `ranges` (increasing), which are logged as they are afterwards, and
    /// must not fail: an ERROR inside a critical section is a PANIC. Debug builds check that
    /// nothing outside `ranges` changed.
    pub fn change_in_place(rel: pg_sys::Relation, b: &Buf, ranges: &[std::ops::Range<usize>], change: impl FnOnce(&mut [u8])) {
        assert!(b.locked, "a page must be exclusively locked to be changed");
        let logged = relation_needs_wal(rel);
        let size: usize = ranges.iter().map(|r| wal_delta::FRAGMENT_HEADER_SIZE + r.len()).sum();
        let mut delta = Vec::with_capacity(size);
        let before = cfg!(debug_assertions).then(|| b.page_bytes().to_vec());
        // SAFETY: `b` pins and exclusively locks the buffer, so we may write its page; the
        // critical section makes any ERROR before the record is in a PANIC, as in
        // GenericXLogFinish. `delta` has room for every fragment, so nothing allocates inside.
        unsafe {
            if logged {
                pg_sys::XLogBeginInsert();
            }
            pg_sys::CritSectionCount += 1;
            let page = std::slice::from_raw_parts_mut(pg_sys::BufferGetPage(b.raw()) as *mut u8, BLCKSZ);
            change(&mut page[PAGE_HEADER_SIZE..PAGE_HEADER_SIZE + CONTENT_SIZE]);
            pg_sys::MarkBufferDirty(b.raw());
            if logged {
                for r in ranges.iter().filter(|r| !r.is_empty()) {
                    let at = PAGE_HEADER_SIZE + r.start;
                    delta.extend_from_slice(&(at as u16).to_ne_bytes());
                    delta.extend_from_slice(&(r.len() as u16).to_ne_bytes());
                    delta.extend_from_slice(&page[at..at + r.len()]);
                }
                insert_record(&[(b.raw(), false, &delta)]);
            }
            pg_sys::CritSectionCount -= 1;
        }
        if let Some(before) = before {
            let after = b.page_bytes();
            let stray = (PAGE_HEADER_SIZE..BLCKSZ)
                .find(|&i| after[i] != before[i] && !ranges.iter().any(|r| r.contains(&(i - PAGE_HEADER_SIZE))));
            assert!(stray.is_none(), "in-place change wrote byte {stray:?} outside {ranges:?}");
        }
    }
}

/// Registers each page (`full image` or delta), inserts the generic-WAL record and stamps the
/// pages with its LSN. Inside a critical section, with `XLogBeginInsert` called.
///
/// # Safety
/// Every buffer is pinned and exclusively locked, its page already changed and marked dirty.
unsafe fn insert_record(blocks: &[(pg_sys::Buffer, bool, &[u8])]) {
    // SAFETY: per this function's contract; at most MAX_PAGES blocks (XLogRegisterBuffer
    // ERRORs, here a PANIC, beyond its own limit of 5).
    unsafe {
        for (id, &(buffer, full_image, delta)) in blocks.iter().enumerate() {
            if full_image {
                pg_sys::XLogRegisterBuffer(id as u8, buffer, (pg_sys::REGBUF_FORCE_IMAGE | pg_sys::REGBUF_STANDARD) as u8);
            } else {
                pg_sys::XLogRegisterBuffer(id as u8, buffer, pg_sys::REGBUF_STANDARD as u8);
                pg_sys::XLogRegisterBufData(id as u8, delta.as_ptr() as *mut _, delta.len() as i32);
            }
        }
        let lsn = pg_sys::XLogInsert(pg_sys::RmgrIds::RM_GENERIC_ID as u8, 0);
        for &(buffer, _, _) in blocks {
            let hdr = &mut *(pg_sys::BufferGetPage(buffer) as *mut pg_sys::PageHeaderData);
            hdr.pd_lsn.xlogid = (lsn >> 32) as u32;
            hdr.pd_lsn.xrecoff = lsn as u32;
        }
    }
}

/// The whole page of a pinned buffer, read without a lock check: for [`WalRecord::finish`],
/// whose registered buffers are exclusively locked.
fn buffer_page<'a>(buffer: pg_sys::Buffer) -> &'a [u8] {
    // SAFETY: the buffer is pinned (and locked) by a guard that outlives the record.
    unsafe { std::slice::from_raw_parts(pg_sys::BufferGetPage(buffer) as *const u8, BLCKSZ) }
}

/// `RelationNeedsWAL(rel)`: permanent, and either WAL is needed for archiving/replication or the
/// relation's file was not created in this transaction (wal_level = minimal then syncs it at commit).
pub fn relation_needs_wal(rel: pg_sys::Relation) -> bool {
    const INVALID_SUBXACT: pg_sys::SubTransactionId = 0; // InvalidSubTransactionId
    // SAFETY: `rel` is a valid open relation with its pg_class row loaded.
    unsafe {
        (*(*rel).rd_rel).relpersistence as u8 == pg_sys::RELPERSISTENCE_PERMANENT
            && (pg_sys::wal_level as u32 >= pg_sys::WalLevel::WAL_LEVEL_REPLICA
                || ((*rel).rd_createSubid == INVALID_SUBXACT && (*rel).rd_firstRelfilenodeSubid == INVALID_SUBXACT))
    }
}

impl PageImage<'_> {
    fn page_mut(&mut self) -> &mut [u8] {
        // SAFETY: the image is a private BLCKSZ copy owned by the record, on the heap, freed only
        // when the record finishes or is dropped, which cannot happen while this image (borrowing
        // the record) lives.
        unsafe { std::slice::from_raw_parts_mut(self.page, BLCKSZ) }
    }

    /// The content area of the image.
    pub fn content(&mut self) -> &mut [u8] {
        &mut self.page_mut()[PAGE_HEADER_SIZE..PAGE_HEADER_SIZE + CONTENT_SIZE]
    }
}
pub mod prefetch;
