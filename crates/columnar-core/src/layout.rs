//! Common page layout: sizes, page kinds and the special space.
//!
//! A page is PostgreSQL's 24-byte header, then [`CONTENT_SIZE`] bytes that this crate owns, then
//! a 16-byte special space: [`PAGE_ID`] (for tools like pg_filedump), the page kind, a flags
//! byte, the page's *owner* (the logical block of a delta page, the first logical block of a
//! segment) and a sequence number. The extension keeps `pd_lower = pd_upper = pd_special`, so
//! generic WAL preserves every content byte.

pub const BLCKSZ: usize = 8192;
pub const PAGE_HEADER_SIZE: usize = 24;
pub const SPECIAL_SIZE: usize = 16;
pub const CONTENT_SIZE: usize = BLCKSZ - PAGE_HEADER_SIZE - SPECIAL_SIZE;

/// Identifies columnar pages in the special space.
pub const PAGE_ID: u16 = 0xC01A;

/// The flag of a delta-format page that is an overlay of a row group's logical block (headers
/// only), not a delta page of a segment.
pub const FLAG_OVERLAY: u8 = 1;

/// An invalid block number (PostgreSQL's InvalidBlockNumber).
pub const NO_BLOCK: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageKind {
    /// Block 0: format, counters, the map's first page.
    Meta = 1,
    /// The row-number map: sorted ranges, each naming the page that describes it.
    Map = 2,
    /// Part of a row group's stream (present set, directory, chunks).
    Data = 4,
    /// A delta segment: which page holds each of its logical blocks.
    Segment = 7,
    /// Row-format tuples of one logical block of a delta segment.
    Delta = 8,
    /// A part of a value stored out of line.
    Value = 9,
    /// A page freed for reuse.
    Free = 10,
}

impl PageKind {
    pub fn from_u8(v: u8) -> Option<PageKind> {
        Some(match v {
            1 => PageKind::Meta,
            2 => PageKind::Map,
            4 => PageKind::Data,
            7 => PageKind::Segment,
            8 => PageKind::Delta,
            9 => PageKind::Value,
            10 => PageKind::Free,
            _ => return None,
        })
    }
}

/// The special space of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Special {
    pub kind: PageKind,
    pub flags: u8,
    /// The logical block of a delta page, the first logical block of a segment page, 0 otherwise.
    pub owner: u32,
    pub seq: u32,
}

impl Special {
    pub fn new(kind: PageKind) -> Special {
        Special { kind, flags: 0, owner: 0, seq: 0 }
    }

    pub fn owned(kind: PageKind, owner: u32) -> Special {
        Special { kind, flags: 0, owner, seq: 0 }
    }

    /// A page of `owner` with a place in its sequence (a data page's index in its group).
    pub fn nth(kind: PageKind, owner: u32, seq: u32) -> Special {
        Special { kind, flags: 0, owner, seq }
    }

    /// Reads a special space; None when it is not a columnar page of a known kind.
    pub fn read(special: &[u8]) -> Option<Special> {
        if special.len() != SPECIAL_SIZE || u16::from_le_bytes([special[0], special[1]]) != PAGE_ID {
            return None;
        }
        Some(Special { kind: PageKind::from_u8(special[2])?, flags: special[3], owner: u32_at(special, 4), seq: u32_at(special, 8) })
    }

    pub fn write(&self, special: &mut [u8]) {
        special[..SPECIAL_SIZE].fill(0);
        special[0..2].copy_from_slice(&PAGE_ID.to_le_bytes());
        special[2] = self.kind as u8;
        special[3] = self.flags;
        special[4..8].copy_from_slice(&self.owner.to_le_bytes());
        special[8..12].copy_from_slice(&self.seq.to_le_bytes());
    }
}

/// The checks a page of `kind` passes each time it is read, before its content is used: constant
/// time, and enough that no reader of the content can go out of bounds.
pub fn check_on_read(kind: PageKind, content: &[u8]) -> Result<(), String> {
    if content.len() != CONTENT_SIZE {
        return Err(format!("content of {} bytes, expected {CONTENT_SIZE}", content.len()));
    }
    match kind {
        PageKind::Meta => crate::meta::check(content),
        PageKind::Map => crate::map::check(content),
        PageKind::Segment => crate::segment::check(content),
        PageKind::Data => Ok(()),
        PageKind::Delta => crate::delta::check_header(content),
        PageKind::Value => crate::value::check_header(content),
        PageKind::Free => Ok(()),
    }
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_round_trip() {
        let mut b = [0u8; SPECIAL_SIZE];
        let s = Special { kind: PageKind::Delta, flags: 3, owner: 77, seq: 9 };
        s.write(&mut b);
        assert_eq!(Special::read(&b), Some(s));
        b[0] ^= 1;
        assert_eq!(Special::read(&b), None);
    }
}
