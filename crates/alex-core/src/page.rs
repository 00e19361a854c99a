//! Common page layout: sizes, page kinds in the special space, and the node header shared by data
//! and model pages.
//!
//! A page is PostgreSQL's 24-byte header, then [`CONTENT_SIZE`] bytes that this crate owns, then an
//! 8-byte special space holding the page kind and [`PAGE_ID`] (for tools like pg_filedump). The
//! extension sets `pd_lower = pd_upper = pd_special`, so generic WAL keeps every content byte.

pub const BLCKSZ: usize = 8192;
pub const PAGE_HEADER_SIZE: usize = 24;
pub const SPECIAL_SIZE: usize = 8;
pub const CONTENT_SIZE: usize = BLCKSZ - PAGE_HEADER_SIZE - SPECIAL_SIZE;

/// Identifies alex pages in the special space.
pub const PAGE_ID: u16 = 0xA1E7;

/// An invalid block number (PostgreSQL's InvalidBlockNumber).
pub const NO_BLOCK: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum PageKind {
    Meta = 1,
    /// A model node: linear model + sorted separators with child pointers.
    Inner = 2,
    /// A data node: linear model + gapped array of entries.
    Data = 3,
    /// A page of the chain holding the TIDs of NULL keys.
    Nulls = 4,
}

impl PageKind {
    pub fn from_u16(v: u16) -> Option<PageKind> {
        Some(match v {
            1 => PageKind::Meta,
            2 => PageKind::Inner,
            3 => PageKind::Data,
            4 => PageKind::Nulls,
            _ => return None,
        })
    }
}

/// The checks a page of `kind` passes each time it is read, before its content is used: constant
/// time, and enough that no reader of the content can go out of bounds. (The metapage's format
/// version is checked by its reader, which asks for a REINDEX rather than reporting corruption.)
#[inline]
pub fn check_on_read(kind: PageKind, content: &[u8]) -> Result<(), String> {
    match kind {
        PageKind::Meta => crate::meta::check_header(content),
        PageKind::Inner => crate::inner::check_header(content),
        PageKind::Data => crate::data::check_header(content),
        PageKind::Nulls => crate::nulls::check_header(content),
    }
}

/// Writes the special space (8 bytes): kind, page id.
pub fn write_special(special: &mut [u8], kind: PageKind) {
    special[..8].fill(0);
    special[0..2].copy_from_slice(&(kind as u16).to_le_bytes());
    special[2..4].copy_from_slice(&PAGE_ID.to_le_bytes());
}

/// The page kind in a special space, or `None` when it is not an alex page.
pub fn read_special(special: &[u8]) -> Option<PageKind> {
    if u16::from_le_bytes([special[2], special[3]]) != PAGE_ID {
        return None;
    }
    PageKind::from_u16(u16::from_le_bytes([special[0], special[1]]))
}

#[inline]
pub fn rd_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}
#[inline]
pub fn rd_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
#[inline]
pub fn rd_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}
#[inline]
pub fn rd_f64(b: &[u8], off: usize) -> f64 {
    f64::from_bits(rd_u64(b, off))
}
#[inline]
pub fn wr_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
#[inline]
pub fn wr_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
#[inline]
pub fn wr_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
#[inline]
pub fn wr_f64(b: &mut [u8], off: usize, v: f64) {
    wr_u64(b, off, v.to_bits());
}

/// Node header, the first [`node::SIZE`] bytes of data and model pages' content.
///
/// Every node covers the entries `low <= e < high` (high is +infinity on the rightmost node of a
/// level) and is linked to its neighbours on the same level. `level` is 0 for data pages.
pub mod node {
    use super::*;
    use crate::entry::Entry;
    use crate::model::LinearModel;

    pub const FLAGS: usize = 0;
    pub const LEVEL: usize = 2;
    pub const COUNT: usize = 4;
    pub const CAPACITY: usize = 6;
    pub const LEFT: usize = 8;
    pub const RIGHT: usize = 12;
    pub const LOW_CODE: usize = 16;
    pub const LOW_TID: usize = 24;
    pub const HIGH_CODE: usize = 32;
    pub const HIGH_TID: usize = 40;
    pub const SLOPE: usize = 48;
    pub const INTERCEPT: usize = 56;
    pub const SIZE: usize = 64;

    /// The node is the rightmost of its level: its high fence is +infinity.
    pub const FLAG_HIGH_INF: u16 = 1;
    /// The node was unlinked: a data node merged into its right sibling, or a model node that
    /// handed its only child to its right sibling. It keeps its fences and right link for
    /// searches that still reach it, and is a data page from then on (see `data::write_deleted`).
    pub const FLAG_DELETED: u16 = 2;

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Header {
        pub flags: u16,
        pub level: u16,
        pub count: u16,
        pub capacity: u16,
        pub left: u32,
        pub right: u32,
        pub low: Entry,
        /// `None` is +infinity.
        pub high: Option<Entry>,
        pub model: LinearModel,
    }

    impl Header {
        /// A header for a node of `level` covering `low <= e < high`, with no neighbours; the
        /// layouts fill in its count, capacity and model.
        pub fn new(level: u16, low: Entry, high: Option<Entry>) -> Header {
            Header { flags: 0, level, count: 0, capacity: 0, left: NO_BLOCK, right: NO_BLOCK, low, high, model: LinearModel::default() }
        }

        /// This header with neighbours `left` and `right` (NO_BLOCK for none).
        pub fn linked(self, left: u32, right: u32) -> Header {
            Header { left, right, ..self }
        }

        pub fn read(b: &[u8]) -> Header {
            let flags = rd_u16(b, FLAGS);
            Header {
                flags,
                level: rd_u16(b, LEVEL),
                count: rd_u16(b, COUNT),
                capacity: rd_u16(b, CAPACITY),
                left: rd_u32(b, LEFT),
                right: rd_u32(b, RIGHT),
                low: Entry::new(rd_u64(b, LOW_CODE), rd_u64(b, LOW_TID)),
                high: if flags & FLAG_HIGH_INF != 0 {
                    None
                } else {
                    Some(Entry::new(rd_u64(b, HIGH_CODE), rd_u64(b, HIGH_TID)))
                },
                model: LinearModel { slope: rd_f64(b, SLOPE), intercept: rd_f64(b, INTERCEPT) },
            }
        }

        pub fn write(&self, b: &mut [u8]) {
            let mut flags = self.flags & !FLAG_HIGH_INF;
            if self.high.is_none() {
                flags |= FLAG_HIGH_INF;
            }
            wr_u16(b, FLAGS, flags);
            wr_u16(b, LEVEL, self.level);
            wr_u16(b, COUNT, self.count);
            wr_u16(b, CAPACITY, self.capacity);
            wr_u32(b, LEFT, self.left);
            wr_u32(b, RIGHT, self.right);
            wr_u64(b, LOW_CODE, self.low.code);
            wr_u64(b, LOW_TID, self.low.tid);
            let high = self.high.unwrap_or_default();
            wr_u64(b, HIGH_CODE, high.code);
            wr_u64(b, HIGH_TID, high.tid);
            wr_f64(b, SLOPE, self.model.slope);
            wr_f64(b, INTERCEPT, self.model.intercept);
        }

        /// Whether `e` is at or beyond the high fence: a search for it must move right.
        #[inline]
        pub fn beyond_high(&self, e: Entry) -> bool {
            matches!(self.high, Some(h) if e >= h)
        }
    }

    #[inline]
    pub fn is_deleted(b: &[u8]) -> bool {
        rd_u16(b, FLAGS) & FLAG_DELETED != 0
    }
    #[inline]
    pub fn level(b: &[u8]) -> u16 {
        rd_u16(b, LEVEL)
    }
    #[inline]
    pub fn count(b: &[u8]) -> usize {
        rd_u16(b, COUNT) as usize
    }
    #[inline]
    pub fn right(b: &[u8]) -> u32 {
        rd_u32(b, RIGHT)
    }
    #[inline]
    pub fn left(b: &[u8]) -> u32 {
        rd_u32(b, LEFT)
    }
    pub fn set_left(b: &mut [u8], blk: u32) {
        wr_u32(b, LEFT, blk)
    }
    pub fn set_right(b: &mut [u8], blk: u32) {
        wr_u32(b, RIGHT, blk)
    }
    /// Whether `e` is at or beyond the high fence of the node in `b`.
    #[inline]
    pub fn beyond_high(b: &[u8], e: Entry) -> bool {
        rd_u16(b, FLAGS) & FLAG_HIGH_INF == 0 && e >= Entry::new(rd_u64(b, HIGH_CODE), rd_u64(b, HIGH_TID))
    }
    #[inline]
    pub fn high(b: &[u8]) -> Option<Entry> {
        if rd_u16(b, FLAGS) & FLAG_HIGH_INF != 0 {
            None
        } else {
            Some(Entry::new(rd_u64(b, HIGH_CODE), rd_u64(b, HIGH_TID)))
        }
    }
    #[inline]
    pub fn low(b: &[u8]) -> Entry {
        Entry::new(rd_u64(b, LOW_CODE), rd_u64(b, LOW_TID))
    }
}
