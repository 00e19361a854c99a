//! What the benches share: the CPU prefetch the extension gives searches (the library itself
//! forbids unsafe code), so that lookups are measured as the extension runs them.

use alex_core::prefetch::Prefetch;

#[derive(Clone, Copy)]
pub struct CpuPrefetch;

impl Prefetch for CpuPrefetch {
    #[inline]
    fn prefetch(&self, buf: &[u8], start: usize, end: usize) {
        #[cfg(target_arch = "x86_64")]
        for at in (start.min(buf.len())..end.min(buf.len())).step_by(64) {
            // SAFETY: `at` lies within `buf`; a prefetch only hints the cache, reads nothing.
            unsafe { core::arch::x86_64::_mm_prefetch(buf.as_ptr().add(at) as *const i8, core::arch::x86_64::_MM_HINT_T0) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (buf, start, end);
    }
}
