//! Cache prefetch hints, supplied by the caller: loading ahead takes an intrinsic that this
//! crate, which forbids unsafe code, cannot call. The extension passes one that issues the
//! CPU's prefetch instruction; tests and benches may pass [`NoPrefetch`].

/// Starts loading bytes a search will read, so that its cache misses overlap instead of
/// following each other. Only a hint: an implementation may do nothing.
pub trait Prefetch: Copy {
    /// Hints that `buf[start..end]` (clamped to `buf`) will be read soon.
    fn prefetch(&self, buf: &[u8], start: usize, end: usize);
}

/// Prefetches nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPrefetch;

impl Prefetch for NoPrefetch {
    #[inline]
    fn prefetch(&self, _buf: &[u8], _start: usize, _end: usize) {}
}
