//! The CPU's prefetch instruction, for the searches of alex-core (which forbids unsafe code and
//! takes it through [`Prefetch`]) and for memory not yet borrowed (a shared buffer about to be
//! pinned, see route_cache.rs).

use alex_core::prefetch::Prefetch;

/// Asks the CPU to start loading the cache lines of `base + start .. base + end`, memory this
/// code may not borrow: only addresses are computed, nothing is read.
#[inline]
#[allow(clippy::not_unsafe_ptr_arg_deref)] // `base` is never dereferenced
pub fn prefetch_at(base: *const u8, start: usize, end: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut at = start;
        while at < end {
            // SAFETY: a prefetch only hints the cache: it never faults, whatever the address,
            // and changes no memory.
            unsafe { core::arch::x86_64::_mm_prefetch(base.wrapping_add(at) as *const i8, core::arch::x86_64::_MM_HINT_T0) };
            at += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (base, start, end);
}

/// Prefetches with the CPU's instruction: what a data page search on a shared buffer uses.
#[derive(Clone, Copy, Debug)]
pub struct CpuPrefetch;

impl Prefetch for CpuPrefetch {
    #[inline]
    fn prefetch(&self, buf: &[u8], start: usize, end: usize) {
        let end = end.min(buf.len());
        prefetch_at(buf.as_ptr(), start.min(end), end);
    }
}
