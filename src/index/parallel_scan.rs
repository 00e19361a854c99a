//! Parallel index scans (as nbtree's): the participants of a Parallel Index Scan or Parallel
//! Index Only Scan share one position in the index, in the scan's dynamic shared memory, and
//! take the data pages one at a time in the scan direction. A participant that takes a page
//! reads all of its matching entries and, under the same page lock, where the scan goes on:
//! the page's right link and high fence (forward) or its low fence (backward). It publishes that
//! position before it returns the entries, so the next participant reads the next page while it
//! works. Reading the entries and the position under one lock is what keeps concurrent splits
//! harmless: entries a split moves right after the read were read with the page, and the page
//! the position names holds only what lies beyond it. Only the page reads are serialised; the
//! heap fetches of the entries, the bulk of a scan's work, run in parallel.
//!
//! Segments (one per `= ANY` element, and the NULL chain) are taken in order; the NULL chain is
//! read whole by one participant.

use super::scan::{Batch, Segment, batch_of_page, first_batch};
use super::search;
use crate::storage::Lock;
use alex_core::entry::Entry;
use alex_core::page::NO_BLOCK;
use pgrx::pg_sys;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the shared scan stands.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Debug)]
enum Phase {
    /// The current segment has not been started: the next participant descends to its start.
    Fresh,
    /// A participant is reading a page and will publish the position after it.
    Advancing,
    /// The next page of the current segment is known.
    Next,
    /// Every segment has been read.
    Done,
}

/// The shared position. Its fields are read and written only under `lock`, a spinlock held for
/// a few loads and stores (nothing that can fail or wait happens under it).
#[repr(C)]
pub(super) struct Shared {
    lock: AtomicBool,
    phase: Phase,
    /// The current segment, counted in the scan direction.
    seg: u32,
    /// Forward: the next page and the entry it must cover (the previous page's high fence).
    /// Backward: `bound` holds the low fence of the page read last; the next page holds the
    /// entries below it.
    page: u32,
    bound: Entry,
    /// Participants waiting for the position sleep on it.
    cv: pg_sys::ConditionVariable,
}

impl Shared {
    fn with_lock<R>(&mut self, f: impl FnOnce(&mut Shared) -> R) -> R {
        while self.lock.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
        let r = f(self);
        self.lock.store(false, Ordering::Release);
        r
    }

    fn reset(&mut self) {
        self.with_lock(|s| {
            s.phase = Phase::Fresh;
            s.seg = 0;
            s.page = NO_BLOCK;
            s.bound = Entry::MIN;
        });
    }
}

/// The shared position of a parallel scan, when the scan is one.
pub(super) fn shared_of(scan: pg_sys::IndexScanDesc) -> Option<&'static mut Shared> {
    // SAFETY: a parallel scan's descriptor points at its shared area, whose AM-specific part
    // starts `ps_offset` bytes in (index_parallelscan_initialize put our `Shared` there); it
    // lives as long as the scan.
    unsafe {
        let p = (*scan).parallel_scan;
        if p.is_null() {
            return None;
        }
        #[cfg(feature = "pg15")]
        let offset = (*p).ps_offset;
        #[cfg(feature = "pg18")]
        let offset = (*p).ps_offset_am;
        Some(&mut *((p as *mut u8).add(offset) as *mut Shared))
    }
}

#[pgrx::pg_guard]
#[cfg(feature = "pg15")]
pub unsafe extern "C-unwind" fn amestimateparallelscan() -> pg_sys::Size {
    std::mem::size_of::<Shared>()
}

#[pgrx::pg_guard]
#[cfg(feature = "pg18")]
pub unsafe extern "C-unwind" fn amestimateparallelscan(_index: pg_sys::Relation, _nkeys: i32, _norderbys: i32) -> pg_sys::Size {
    std::mem::size_of::<Shared>()
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn aminitparallelscan(target: *mut std::ffi::c_void) {
    // SAFETY: `target` is size_of::<Shared>() bytes of shared memory, suitably aligned (MAXALIGN),
    // for this scan alone.
    unsafe {
        let s = target as *mut Shared;
        s.write(Shared { lock: AtomicBool::new(false), phase: Phase::Fresh, seg: 0, page: NO_BLOCK, bound: Entry::MIN, cv: std::mem::zeroed() });
        pg_sys::ConditionVariableInit(&mut (*s).cv);
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amparallelrescan(scan: pg_sys::IndexScanDesc) {
    if let Some(s) = shared_of(scan) {
        s.reset();
    }
}

/// What a participant took: the phase it found and the position it must read from.
enum Claim {
    Fresh(u32),
    Next(u32, u32, Entry),
    Done,
}

/// The next batch of the shared scan for this participant: a whole page's matching entries (or
/// the whole NULL chain), possibly none; None when the scan is over.
pub(super) fn next_batch(rel: pg_sys::Relation, shared: &mut Shared, segments: &[Segment], forward: bool, items: Vec<Entry>) -> Option<Batch> {
    let claim = loop {
        let claim = shared.with_lock(|s| match s.phase {
            Phase::Advancing => None,
            Phase::Done => Some(Claim::Done),
            _ if s.seg as usize >= segments.len() => {
                s.phase = Phase::Done;
                Some(Claim::Done)
            }
            Phase::Fresh => {
                s.phase = Phase::Advancing;
                Some(Claim::Fresh(s.seg))
            }
            Phase::Next => {
                s.phase = Phase::Advancing;
                Some(Claim::Next(s.seg, s.page, s.bound))
            }
        });
        match claim {
            Some(c) => break c,
            // SAFETY: the condition variable was initialised with the shared area.
            None => unsafe { pg_sys::ConditionVariableSleep(&mut shared.cv, pg_sys::PG_WAIT_EXTENSION) },
        }
    };
    // SAFETY: ends the sleep prepared by ConditionVariableSleep, if any (a no-op otherwise).
    unsafe { pg_sys::ConditionVariableCancelSleep() };
    let (seg_no, b) = match claim {
        Claim::Done => return None,
        Claim::Fresh(seg_no) => (seg_no, first_batch(rel, &segments[in_direction(seg_no, segments.len(), forward)], forward, usize::MAX, items)),
        Claim::Next(seg_no, page, bound) => {
            let Segment::Range(r) = &segments[in_direction(seg_no, segments.len(), forward)] else { unreachable!("the NULL chain is read whole") };
            let b = if forward {
                // Entries below the previous page's high fence were read with it.
                batch_of_page(search::settle(rel, page, bound, 0, Lock::Share), r, bound.predecessor(), None, usize::MAX, items)
            } else {
                let target = bound.predecessor().expect("a page with a left neighbour has a low fence above the minimum");
                batch_of_page(search::descend(rel, target, 0, Lock::Share), r, None, Some(bound), usize::MAX, items)
            };
            (seg_no, b)
        }
    };
    // Where the scan goes on after this page: the same segment, or the next.
    let next = if b.is_null {
        None
    } else if forward {
        b.right_of()
    } else {
        (!b.left_end).then_some((NO_BLOCK, b.low))
    };
    shared.with_lock(|s| {
        match next {
            Some((page, bound)) => {
                s.phase = Phase::Next;
                s.page = page;
                s.bound = bound;
            }
            None => {
                s.phase = Phase::Fresh;
                s.seg = seg_no + 1;
            }
        }
    });
    // SAFETY: as above.
    unsafe { pg_sys::ConditionVariableBroadcast(&mut shared.cv) };
    Some(b)
}

/// The index into `segments` of the `n`-th segment in the scan direction.
fn in_direction(n: u32, len: usize, forward: bool) -> usize {
    if forward { n as usize } else { len - 1 - n as usize }
}
