//! Generic-WAL records: [`WalRecord`] changes up to four pages atomically, and
//! [`WalRecord::change_in_place`] logs a small planned change to one page.
//!
//! Records are written in generic WAL's own format (`RM_GENERIC_ID`, one delta of fragments per
//! page) and replayed by PostgreSQL's `generic_redo`; only the encoding of the deltas is ours
//! ([`alex_core::wal_delta`]), because core's byte-at-a-time comparison of whole pages cost more
//! than the rest of an alex insert. Everything else follows `GenericXLogFinish`: pages are changed
//! through private images; the deltas (or whole images) are applied to the buffers, which are
//! marked dirty and logged, in one critical section.

use super::buffer::Buf;
use super::page::{self, BLCKSZ, PAGE_HEADER_SIZE, PageFormat};
use super::rel;
use alex_core::wal_delta;
use pgrx::pg_sys;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::Range;

/// Generic WAL's limit on pages per record (`MAX_GENERIC_XLOG_PAGES`).
const MAX_PAGES: usize = pg_sys::MAX_GENERIC_XLOG_PAGES as usize;

/// One generic-WAL record covering up to four pages of format `F`. It borrows (for `'g`) the
/// guards of the pages it changes, so they stay pinned and locked until it is finished or
/// dropped. Dropping an unfinished record (an ERROR before `finish`) leaves the pages as they were.
pub struct WalRecord<'g, F: PageFormat> {
    logged: bool,
    pages: RefCell<Vec<Registered>>,
    _guards: PhantomData<&'g Buf<F>>,
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

/// The private image of a page registered in a [`WalRecord`]: changes to it are applied and
/// logged when the record finishes.
pub struct PageImage<'r, F: PageFormat> {
    page: *mut u8,
    _record: PhantomData<&'r ()>,
    _format: PhantomData<F>,
}

impl<'g, F: PageFormat> WalRecord<'g, F> {
    pub fn start(rel: pg_sys::Relation) -> WalRecord<'g, F> {
        WalRecord { logged: rel::needs_wal(rel), pages: RefCell::new(Vec::with_capacity(MAX_PAGES)), _guards: PhantomData }
    }

    /// Registers an exclusively locked page whose changes will be logged as a delta.
    pub fn register(&self, b: &'g Buf<F>) -> PageImage<'_, F> {
        self.register_page(b, false)
    }

    /// Registers a page that is written from scratch (logged as a full image) and formats it.
    pub fn register_new(&self, b: &'g Buf<F>, kind: F::Kind) -> PageImage<'_, F> {
        let mut img = self.register_page(b, true);
        page::init::<F>(img.page_mut(), kind);
        img
    }

    fn register_page(&self, b: &'g Buf<F>, full_image: bool) -> PageImage<'_, F> {
        assert!(b.is_locked(), "a page must be exclusively locked to be changed");
        let mut pages = self.pages.borrow_mut();
        if pages.iter().any(|p| p.buffer == b.raw()) {
            pgrx::error!("block {} is registered twice in one WAL record", b.block());
        }
        if pages.len() == MAX_PAGES {
            pgrx::error!("a generic WAL record holds at most {MAX_PAGES} pages");
        }
        b.forget_check();
        let mut image = Box::new(PageCopy([0; BLCKSZ]));
        image.0.copy_from_slice(b.page_bytes());
        // The image lives on the heap: its address stays put when `pages` grows.
        let page = image.0.as_mut_ptr();
        pages.push(Registered { buffer: b.raw(), full_image, image });
        PageImage { page, _record: PhantomData, _format: PhantomData }
    }

    /// Applies and logs every registered page (marking the buffers dirty).
    pub fn finish(self) {
        let pages = self.pages.take();
        // The deltas are computed before the critical section (nothing may allocate there): the
        // buffers are exclusively locked, so their pages cannot change meanwhile.
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
        // SAFETY: every registered buffer is pinned and exclusively locked by a guard that this
        // record borrows, so we may write its page. The critical section brackets the copy and
        // the WAL insert, as in GenericXLogFinish: an ERROR in between becomes a PANIC rather than
        // leave changed pages unlogged. Nothing in between can panic: the copies have fixed
        // lengths and the deltas come from `encode`.
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
    pub fn change_in_place(rel: pg_sys::Relation, b: &Buf<F>, ranges: &[Range<usize>], change: impl FnOnce(&mut [u8])) {
        assert!(b.is_locked(), "a page must be exclusively locked to be changed");
        let logged = rel::needs_wal(rel);
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
            change(page::content_mut::<F>(page));
            pg_sys::MarkBufferDirty(b.raw());
            if logged {
                for r in ranges.iter().filter(|r| !r.is_empty()) {
                    let at = PAGE_HEADER_SIZE + r.start;
                    wal_delta::push_fragment(&mut delta, at, &page[at..at + r.len()]);
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
                pg_sys::XLogRegisterBufData(id as u8, delta.as_ptr() as _, delta.len() as _);
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
    // SAFETY: the buffer is pinned (and locked) by a guard that the record borrows.
    unsafe { std::slice::from_raw_parts(pg_sys::BufferGetPage(buffer) as *const u8, BLCKSZ) }
}

impl<F: PageFormat> PageImage<'_, F> {
    fn page_mut(&mut self) -> &mut [u8] {
        // SAFETY: the image is a private BLCKSZ copy owned by the record, on the heap, freed only
        // when the record finishes or is dropped, which cannot happen while this image (borrowing
        // the record) lives.
        unsafe { std::slice::from_raw_parts_mut(self.page, BLCKSZ) }
    }

    /// The content area of the image.
    pub fn content(&mut self) -> &mut [u8] {
        page::content_mut::<F>(self.page_mut())
    }

    /// The special space of the image.
    pub fn special(&mut self) -> &mut [u8] {
        &mut self.page_mut()[BLCKSZ - F::SPECIAL_SIZE..]
    }
}
