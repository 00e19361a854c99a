//! A row group: what a scan needs to find a group's rows, and where its stream is. The
//! description sits in the page of the segment the group was folded from.
//!
//! A group holds the rows of one folded delta segment: its range is the segment's logical
//! blocks, and its *stream* lies over the content areas of `data_pages` consecutive data pages
//! from `data_first` (each of kind Data, owned by the group's first logical block, numbered by
//! its place; VACUUM may move them, and the description with them). The
//! stream is the group's present set (which row numbers of the range have rows, relative to the
//! range's first), then the row-group stream of [`crate::rowgroup`]:
//!
//! ```text
//!   u32 present set length, present set (roaring), row-group stream
//! ```
//!
//! A row's *position* (its value's index in every chunk) is its rank in the present set.

use crate::layout::{CONTENT_SIZE, NO_BLOCK, put_u32, u32_at};
use crate::rowgroup::{GroupError, PresentSet};

const FIRST_BLOCK_AT: usize = 0;
const BLOCKS_AT: usize = 4;
const ROWS_AT: usize = 8;
const STREAM_LEN_AT: usize = 12;
const DATA_FIRST_AT: usize = 16;
const DATA_PAGES_AT: usize = 20;
/// Bytes of a group's description.
pub const SIZE: usize = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    /// The logical blocks of the range: `first_block .. first_block + blocks`.
    pub first_block: u32,
    pub blocks: u32,
    /// Rows stored (the present set's size).
    pub rows: u32,
    /// Bytes of the stream.
    pub stream_len: u32,
    pub data_first: u32,
    pub data_pages: u32,
}

impl Group {
    pub fn read(content: &[u8]) -> Group {
        Group {
            first_block: u32_at(content, FIRST_BLOCK_AT),
            blocks: u32_at(content, BLOCKS_AT),
            rows: u32_at(content, ROWS_AT),
            stream_len: u32_at(content, STREAM_LEN_AT),
            data_first: u32_at(content, DATA_FIRST_AT),
            data_pages: u32_at(content, DATA_PAGES_AT),
        }
    }

    /// Writes the description into `content` ([`SIZE`] bytes).
    pub fn write(&self, content: &mut [u8]) {
        content[..SIZE].fill(0);
        put_u32(content, FIRST_BLOCK_AT, self.first_block);
        put_u32(content, BLOCKS_AT, self.blocks);
        put_u32(content, ROWS_AT, self.rows);
        put_u32(content, STREAM_LEN_AT, self.stream_len);
        put_u32(content, DATA_FIRST_AT, self.data_first);
        put_u32(content, DATA_PAGES_AT, self.data_pages);
    }

    /// The data pages of the group.
    pub fn data_blocks(&self) -> std::ops::Range<u32> {
        self.data_first..self.data_first + self.data_pages
    }
}

/// Checked with its segment page (constant time): the stream fits its data pages, which stay
/// below InvalidBlockNumber, and the rows fit the range.
pub fn check(g: &Group) -> Result<(), String> {
    let fits = (g.stream_len as usize).div_ceil(CONTENT_SIZE) == g.data_pages as usize;
    let below = (g.data_first as u64 + g.data_pages as u64) < NO_BLOCK as u64;
    let range = g.blocks as usize <= crate::segment::BLOCKS && g.first_block as u64 + g.blocks as u64 <= crate::rownum::MAX_LOGICAL_BLOCKS;
    let rows = g.rows as u64 <= g.blocks as u64 * crate::rownum::ROWS_PER_BLOCK;
    if !(fits && below && range && rows) {
        return Err(format!("row group page {g:?}"));
    }
    Ok(())
}

/// The stream of a group: its present set, then its row-group stream.
pub fn compose(present: &PresentSet, rowgroup: &[u8]) -> Vec<u8> {
    let p = present.serialize();
    let mut out = Vec::with_capacity(4 + p.len() + rowgroup.len());
    out.extend_from_slice(&(p.len() as u32).to_le_bytes());
    out.extend_from_slice(&p);
    out.extend_from_slice(rowgroup);
    out
}

/// Splits a stream into its present set and its row-group stream, checking that the present
/// set has `rows` rows within a range of `blocks` logical blocks.
pub fn split(stream: &[u8], rows: u32, blocks: u32) -> Result<(PresentSet, &[u8]), GroupError> {
    let bad = |why: &str| GroupError::new(format!("group stream: {why}"));
    let len = stream.get(..4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize).ok_or_else(|| bad("shorter than its header"))?;
    let present = stream.get(4..4 + len).ok_or_else(|| bad("present set past the end"))?;
    let present = PresentSet::deserialize(present)?;
    if present.len() != rows as usize {
        return Err(bad(&format!("present set of {} rows, the group page says {rows}", present.len())));
    }
    if present.max_offset().is_some_and(|m| m as u64 >= blocks as u64 * crate::rownum::ROWS_PER_BLOCK) {
        return Err(bad("present set beyond the group's range"));
    }
    Ok((present, &stream[4 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rowgroup::{ColumnKind, GroupBuilder, GroupReader, Value};

    #[test]
    fn description_round_trip_and_checks() {
        let g = Group { first_block: 4068, blocks: 2000, rows: 500, stream_len: 9000, data_first: 10, data_pages: 2 };
        let mut c = vec![0u8; SIZE];
        g.write(&mut c);
        assert_eq!(Group::read(&c), g);
        check(&g).unwrap();
        assert_eq!(g.data_blocks(), 10..12);
        for bad in [
            Group { data_pages: 3, ..g },
            Group { rows: 2000 * 291 + 1, ..g },
            Group { blocks: crate::segment::BLOCKS as u32 + 1, ..g },
            Group { data_first: u32::MAX - 1, ..g },
        ] {
            assert!(check(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stream_round_trip() {
        let mut b = GroupBuilder::new(vec![ColumnKind::Int]);
        for v in [5, 6, 7] {
            b.push_row(&[Value::Int(v)]).unwrap();
        }
        let present = PresentSet::from_offsets([0, 2, 300]).unwrap();
        let stream = compose(&present, &b.finish());
        let (p, rg) = split(&stream, 3, 2).unwrap();
        assert_eq!(p.position_of(300), Some(2));
        assert_eq!(GroupReader::open(rg).unwrap().rows(), 3);
        assert!(split(&stream, 4, 2).is_err(), "row count differs");
        assert!(split(&stream, 3, 1).is_err(), "row 300 is outside one logical block");
        assert!(split(&stream[..6], 3, 2).is_err());
    }
}
