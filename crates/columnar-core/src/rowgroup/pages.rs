//! How a group stream lies over its data pages: bytes `[i * CONTENT_SIZE, (i + 1) * CONTENT_SIZE)`
//! of the stream are the content area of the group's i-th data page (the last one partly
//! filled), so no byte is lost between chunks and a byte range maps to a run of pages.

use crate::layout::CONTENT_SIZE;
use std::ops::Range;

/// The data pages a stream of `len` bytes needs.
pub fn pages_for(len: usize) -> usize {
    len.div_ceil(CONTENT_SIZE)
}

/// The part of `stream` on data page `page`: CONTENT_SIZE bytes, fewer on the last page, none
/// past it.
pub fn page_slice(stream: &[u8], page: usize) -> &[u8] {
    let start = page.saturating_mul(CONTENT_SIZE).min(stream.len());
    let end = start.saturating_add(CONTENT_SIZE).min(stream.len());
    &stream[start..end]
}

/// The pieces of a byte range of the stream, page by page: `(page index, range within the
/// page's content)`, in stream order. Concatenating those pieces gives the range's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamPages {
    next: usize,
    end: usize,
}

impl StreamPages {
    pub fn new(range: Range<usize>) -> StreamPages {
        StreamPages { next: range.start, end: range.end.max(range.start) }
    }

    /// The pages the range touches, first to last (empty for an empty range).
    pub fn pages(&self) -> Range<usize> {
        if self.next >= self.end { 0..0 } else { self.next / CONTENT_SIZE..(self.end - 1) / CONTENT_SIZE + 1 }
    }
}

impl Iterator for StreamPages {
    type Item = (usize, Range<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let (page, start) = (self.next / CONTENT_SIZE, self.next % CONTENT_SIZE);
        let len = (CONTENT_SIZE - start).min(self.end - self.next);
        self.next += len;
        Some((page, start..start + len))
    }
}
