//! A pinned, possibly locked, shared buffer of one relation page: [`Buf`].
//!
//! The guard owns one pin and at most one content lock; dropping it unlocks and unpins, so no code
//! path (including an ERROR unwinding through Rust frames) can leak either. It is typed by the
//! page format it reads ([`PageFormat`]): every page is checked against that format before its
//! content is handed out, so a damaged page is reported as corruption, never decoded.

use super::page::{self, BLCKSZ, PAGE_HEADER_SIZE, PageFormat};
use super::rel;
use pgrx::pg_sys;
use std::cell::Cell;
use std::marker::PhantomData;

/// Adds `n` all-zero pages at the end of `rel`'s main fork and returns the first, for a caller
/// that holds the relation extension lock (so that the pages are consecutive) or whose relation
/// is local to this backend. The pages are in shared buffers, unlocked and unpinned.
pub fn extend_by_locked(rel: pg_sys::Relation, n: usize) -> u32 {
    let first = rel::main_fork_blocks(rel);
    #[cfg(feature = "pg15")]
    for _ in 0..n {
        // SAFETY: an open relation; P_NEW adds one page and returns it pinned (an ERROR
        // otherwise), and the pin is released at once.
        unsafe {
            let buf = pg_sys::ReadBufferExtended(rel, pg_sys::ForkNumber::MAIN_FORKNUM, pg_sys::InvalidBlockNumber, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
            pg_sys::ReleaseBuffer(buf);
        }
    }
    #[cfg(not(feature = "pg15"))]
    {
        // As heap's RelationAddBlocks: at most this many pins at once, and several pages per
        // call to the storage manager (one zero-extension rather than a write per page).
        const AT_ONCE: usize = 64;
        let mut left = n;
        while left > 0 {
            let mut bufs = [pg_sys::InvalidBuffer as pg_sys::Buffer; AT_ONCE];
            let mut added = 0u32;
            let bmr = pg_sys::BufferManagerRelation { rel, smgr: std::ptr::null_mut(), relpersistence: 0 };
            // SAFETY: an open relation; `bufs` has room for the AT_ONCE pages asked at most, and
            // the `added` pins it returns are released at once.
            unsafe {
                pg_sys::ExtendBufferedRelBy(bmr, pg_sys::ForkNumber::MAIN_FORKNUM, std::ptr::null_mut(), pg_sys::ExtendBufferedFlags::EB_SKIP_EXTENSION_LOCK as u32, left.min(AT_ONCE) as u32, bufs.as_mut_ptr(), &mut added);
                bufs[..added as usize].iter().for_each(|&b| pg_sys::ReleaseBuffer(b));
            }
            left -= added as usize;
        }
    }
    first
}

/// Slots of the table `Buf::read_remembered` keeps.
const REMEMBERED: usize = 4096;

thread_local! {
    static REMEMBERED_BUFFERS: [Cell<pg_sys::Buffer>; REMEMBERED] = const { [const { Cell::new(pg_sys::InvalidBuffer as pg_sys::Buffer) }; REMEMBERED] };
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lock {
    Share,
    Exclusive,
}

/// A pinned buffer holding a page of format `F`, possibly content-locked.
pub struct Buf<F: PageFormat> {
    rel: pg_sys::Relation,
    buf: pg_sys::Buffer,
    locked: bool,
    /// The page's kind once it passed its checks under the current lock: pages are checked
    /// once per lock, not at every access (only this backend's own WAL-logged changes, which
    /// keep the page valid, can change it meanwhile).
    checked: Cell<Option<F::Kind>>,
    _format: PhantomData<F>,
}

impl<F: PageFormat> Buf<F> {
    fn pinned(rel: pg_sys::Relation, buf: pg_sys::Buffer) -> Buf<F> {
        Buf { rel, buf, locked: false, checked: Cell::new(None), _format: PhantomData }
    }

    fn pin(rel: pg_sys::Relation, blk: u32) -> Buf<F> {
        // SAFETY: `rel` is an open relation for the whole call (callers get it from the executor
        // or from relation_open), and ReadBufferExtended raises an ERROR rather than returning an
        // invalid buffer for a block that does not exist.
        let buf = unsafe {
            pg_sys::ReadBufferExtended(rel, pg_sys::ForkNumber::MAIN_FORKNUM, blk, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut())
        };
        Buf::pinned(rel, buf)
    }

    /// Pins block `blk` of the relation's main fork and locks it in `mode`.
    pub fn read(rel: pg_sys::Relation, blk: u32, mode: Lock) -> Buf<F> {
        let mut b = Buf::pin(rel, blk);
        b.lock(mode);
        b
    }

    /// As `read`, first trying `recent`, the buffer that held the block last time: while it still
    /// does, pinning it needs no buffer mapping lookup.
    pub fn read_recent(rel: pg_sys::Relation, blk: u32, recent: pg_sys::Buffer, mode: Lock) -> Buf<F> {
        // SAFETY: an open relation; `recent` is a buffer number this backend got from the buffer
        // manager (shared or local), and ReadRecentBuffer pins it only if it still holds this
        // very block of this relation's main fork (it checks the buffer tag under its lock).
        let hit = recent != pg_sys::InvalidBuffer as pg_sys::Buffer
            && unsafe { pg_sys::ReadRecentBuffer(crate::compat::rel_file(rel), pg_sys::ForkNumber::MAIN_FORKNUM, blk, recent) };
        if !hit {
            return Buf::read(rel, blk, mode);
        }
        let mut b = Buf::pinned(rel, recent);
        b.lock(mode);
        b
    }

    /// As `read`, first trying the buffer that held the block when this backend last read it
    /// this way (remembered in a small direct-mapped table): for pages read at random and
    /// often, such as a columnar table's data pages under fetches by TID.
    pub fn read_remembered(rel: pg_sys::Relation, blk: u32, mode: Lock) -> Buf<F> {
        // A temporary relation's pages are in this backend's own buffers: no mapping lock to save.
        if rel::is_local(rel) {
            return Buf::read(rel, blk, mode);
        }
        // SAFETY: an open relation.
        let slot = (unsafe { (*rel).rd_id }.to_u32().wrapping_mul(0x9E37_79B9) ^ blk).wrapping_mul(0x85EB_CA6B) as usize % REMEMBERED;
        let b = Buf::read_recent(rel, blk, REMEMBERED_BUFFERS.with(|r| r[slot].get()), mode);
        REMEMBERED_BUFFERS.with(|r| r[slot].set(b.buf));
        b
    }

    /// Pins block `blk` and locks it exclusively if that needs no wait; None if another backend
    /// holds a lock on it.
    pub fn try_read_exclusive(rel: pg_sys::Relation, blk: u32) -> Option<Buf<F>> {
        let mut b = Buf::pin(rel, blk);
        // SAFETY: we hold a pin on the buffer and no lock on it.
        if !unsafe { pg_sys::ConditionalLockBuffer(b.buf) } {
            return None;
        }
        b.locked = true;
        Some(b)
    }

    /// Extends the relation by one page and returns it pinned and exclusively locked. Its content
    /// is whatever the new page holds (zeroes); register it with `WalRecord::register_new`.
    pub fn extend(rel: pg_sys::Relation) -> Buf<F> {
        // The relation extension lock serialises concurrent extenders, as nbtree does; a relation
        // local to this backend needs none.
        let local = rel::is_local(rel);
        // SAFETY: an open relation; the extension lock is released below on every path that
        // returns (an ERROR releases it with the transaction's locks).
        unsafe {
            if !local {
                pg_sys::LockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
            }
        }
        let b = Buf::extend_locked(rel);
        if !local {
            // SAFETY: taken above.
            unsafe { pg_sys::UnlockRelationForExtension(rel, pg_sys::ExclusiveLock as i32) };
        }
        b
    }

    /// As `extend`, for a caller that holds the relation extension lock (to add consecutive
    /// pages) or whose relation is local to this backend.
    pub fn extend_locked(rel: pg_sys::Relation) -> Buf<F> {
        let mut b = Buf::pin(rel, pg_sys::InvalidBlockNumber);
        b.lock(Lock::Exclusive);
        b
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
        self.checked.set(None);
        if self.locked {
            // SAFETY: we hold the lock taken in `lock`.
            unsafe { pg_sys::LockBuffer(self.buf, pg_sys::BUFFER_LOCK_UNLOCK as i32) };
            self.locked = false;
        }
    }

    pub fn is_locked(&self) -> bool {
        self.locked
    }

    pub fn block(&self) -> u32 {
        // SAFETY: `buf` is pinned.
        unsafe { pg_sys::BufferGetBlockNumber(self.buf) }
    }

    pub fn raw(&self) -> pg_sys::Buffer {
        self.buf
    }

    pub fn relation(&self) -> pg_sys::Relation {
        self.rel
    }

    /// Forgets that the page passed its checks: a WAL record may rewrite it as another kind.
    pub(super) fn forget_check(&self) {
        self.checked.set(None);
    }

    /// The whole page, unchecked: for the storage layer (WAL records copy it).
    pub(super) fn page_bytes(&self) -> &[u8] {
        debug_assert!(self.locked, "page read without a content lock");
        // SAFETY: a pinned buffer's page stays in memory; the content lock held by this guard
        // keeps writers out while the returned borrow (tied to &self) lives.
        unsafe { std::slice::from_raw_parts(pg_sys::BufferGetPage(self.buf) as *const u8, BLCKSZ) }
    }

    pub fn mark_dirty(&self) {
        debug_assert!(self.locked);
        // SAFETY: pinned and exclusively locked by this guard.
        unsafe { pg_sys::MarkBufferDirty(self.buf) };
    }

    /// Whether the page was never initialised (all zeroes): the relation was extended by a
    /// change that failed, or crashed, before writing the page.
    pub fn is_new(&self) -> bool {
        page::is_new(self.page_bytes())
    }

    /// The page's kind and content area, checked: an ERROR (naming the relation and block) if
    /// the page is not of this format or fails its checks.
    pub fn page(&self) -> (F::Kind, &[u8]) {
        let bytes = self.page_bytes();
        if let Some(kind) = self.checked.get() {
            return (kind, &bytes[PAGE_HEADER_SIZE..BLCKSZ - F::SPECIAL_SIZE]);
        }
        let (kind, content) = page::checked::<F>(bytes).unwrap_or_else(|why| self.corrupted(&why));
        self.checked.set(Some(kind));
        (kind, content)
    }

    /// The special space of the page, checked (see [`Buf::page`]).
    pub fn special(&self) -> &[u8] {
        self.page();
        &self.page_bytes()[BLCKSZ - F::SPECIAL_SIZE..]
    }

    /// The page kind, checked (see [`Buf::page`]).
    pub fn kind(&self) -> F::Kind {
        self.page().0
    }

    /// The content area of a page that must be of kind `kind`, checked (see [`Buf::page`]).
    pub fn content_of(&self, kind: F::Kind) -> &[u8] {
        match self.page() {
            (k, content) if k == kind => content,
            (k, _) => self.corrupted(&format!("a {k:?} page where a {kind:?} page was expected")),
        }
    }

    /// Raises the corruption error for this page.
    pub fn corrupted(&self, why: &str) -> ! {
        crate::error::corrupted_page::<F>(self.rel, self.block(), why)
    }
}

impl<F: PageFormat> Drop for Buf<F> {
    fn drop(&mut self) {
        self.unlock();
        // SAFETY: the pin was taken in a constructor and not released since.
        unsafe { pg_sys::ReleaseBuffer(self.buf) };
    }
}

/// Appends a page of `kind` to the relation's INIT fork (an unlogged relation's empty state),
/// lets `fill` write its content, and WAL-logs it whole so that it survives a crash.
pub fn append_init_fork_page<F: PageFormat>(rel: pg_sys::Relation, kind: F::Kind, fill: impl FnOnce(&mut [u8])) {
    // SAFETY: the INIT fork of a new unlogged relation, extended by one page that is exclusively
    // locked while written and WAL-logged whole before it is released.
    unsafe {
        let buf = pg_sys::ReadBufferExtended(rel, pg_sys::ForkNumber::INIT_FORKNUM, pg_sys::InvalidBlockNumber, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
        pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
        let page = std::slice::from_raw_parts_mut(pg_sys::BufferGetPage(buf) as *mut u8, BLCKSZ);
        page::init::<F>(page, kind);
        fill(page::content_mut::<F>(page));
        pg_sys::MarkBufferDirty(buf);
        pg_sys::log_newpage_buffer(buf, true);
        pg_sys::UnlockReleaseBuffer(buf);
    }
}
