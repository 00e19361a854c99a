//! The metapage (block 0): format, row-number counter, the map's pages, the open delta segment.
//!
//! A relation of zero blocks is an empty table of the current format: the first writer creates
//! the metapage, so a new relation file (CREATE, TRUNCATE) needs no write.

use crate::layout::{NO_BLOCK, put_u32, put_u64, u32_at, u64_at};

pub const MAGIC: u32 = 0x434F_4C31;
/// The on-disk format this library writes. Format 5 added stamped segments (bulk loads); a
/// format-4 table is read as it is, and becomes format 5 with its first bulk load.
pub const FORMAT_VERSION: u32 = 5;
/// The oldest format this library reads.
pub const OLDEST_FORMAT_VERSION: u32 = 4;
pub const BLOCK: u32 = 0;

const MAGIC_AT: usize = 0;
const VERSION_AT: usize = 4;
const NEXT_ROW_AT: usize = 8;
const MAP_FIRST_AT: usize = 16;
const MAP_LAST_AT: usize = 20;
const OPEN_SEGMENT_AT: usize = 24;
const CHANGES_AT: usize = 32;
const END: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub version: u32,
    /// The first row number not yet given to any range.
    pub next_row: u64,
    /// First and last page of the map chain (NO_BLOCK when the map is empty).
    pub map_first: u32,
    pub map_last: u32,
    /// The segment page that takes new delta rows (NO_BLOCK when there is none).
    pub open_segment: u32,
    /// Bumped by every change of the map: a backend's cached map is stale when it moved.
    pub changes: u64,
}

impl Meta {
    pub fn new() -> Meta {
        Meta { version: FORMAT_VERSION, next_row: 0, map_first: NO_BLOCK, map_last: NO_BLOCK, open_segment: NO_BLOCK, changes: 0 }
    }

    pub fn read(content: &[u8]) -> Meta {
        Meta {
            version: u32_at(content, VERSION_AT),
            next_row: u64_at(content, NEXT_ROW_AT),
            map_first: u32_at(content, MAP_FIRST_AT),
            map_last: u32_at(content, MAP_LAST_AT),
            open_segment: u32_at(content, OPEN_SEGMENT_AT),
            changes: u64_at(content, CHANGES_AT),
        }
    }

    pub fn write(&self, content: &mut [u8]) {
        content[..END].fill(0);
        put_u32(content, MAGIC_AT, MAGIC);
        put_u32(content, VERSION_AT, self.version);
        put_u64(content, NEXT_ROW_AT, self.next_row);
        put_u32(content, MAP_FIRST_AT, self.map_first);
        put_u32(content, MAP_LAST_AT, self.map_last);
        put_u32(content, OPEN_SEGMENT_AT, self.open_segment);
        put_u64(content, CHANGES_AT, self.changes);
    }
}

impl Default for Meta {
    fn default() -> Meta {
        Meta::new()
    }
}

/// Checked on every read. The format version is not checked here: its reader raises a
/// dedicated error (another format is not corruption).
pub fn check(content: &[u8]) -> Result<(), String> {
    if u32_at(content, MAGIC_AT) != MAGIC {
        return Err(format!("metapage magic {:#x}, expected {MAGIC:#x}", u32_at(content, MAGIC_AT)));
    }
    let m = Meta::read(content);
    if (m.map_first == NO_BLOCK) != (m.map_last == NO_BLOCK) {
        return Err(format!("map pages {} .. {}: one end is missing", m.map_first, m.map_last));
    }
    if m.next_row > crate::rownum::MAX_ROWS {
        return Err(format!("next row number {} is past the limit", m.next_row));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::CONTENT_SIZE;

    #[test]
    fn round_trip_and_check() {
        let mut c = vec![0u8; CONTENT_SIZE];
        assert!(check(&c).is_err());
        let m = Meta { next_row: 291 * 5, map_first: 1, map_last: 3, open_segment: 2, changes: 7, ..Meta::new() };
        m.write(&mut c);
        assert_eq!(Meta::read(&c), m);
        check(&c).unwrap();
        Meta { map_last: NO_BLOCK, ..m }.write(&mut c);
        assert!(check(&c).is_err());
    }
}
