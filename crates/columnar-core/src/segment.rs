//! A delta segment page: which page holds each logical block of the segment.
//!
//! A segment covers [`BLOCKS`] consecutive logical blocks from its first one. Its blocks are
//! handed out in order as delta pages fill; `used` counts them. A block's entry names the delta
//! page holding its rows, or NO_BLOCK while it has none.

use crate::layout::{CONTENT_SIZE, NO_BLOCK, put_u32, u32_at};

const FIRST_BLOCK_AT: usize = 0;
const USED_AT: usize = 4;
const TABLE_AT: usize = 8;
/// Logical blocks per segment.
pub const BLOCKS: usize = (CONTENT_SIZE - TABLE_AT) / 4;

pub fn init(content: &mut [u8], first_block: u32) {
    put_u32(content, FIRST_BLOCK_AT, first_block);
    put_u32(content, USED_AT, 0);
    for i in 0..BLOCKS {
        put_u32(content, TABLE_AT + 4 * i, NO_BLOCK);
    }
}

pub fn first_block(content: &[u8]) -> u32 {
    u32_at(content, FIRST_BLOCK_AT)
}

/// Logical blocks handed out so far.
pub fn used(content: &[u8]) -> usize {
    u32_at(content, USED_AT) as usize
}

/// The delta page of the segment's `i`-th logical block, NO_BLOCK if it has none.
pub fn page_of(content: &[u8], i: usize) -> u32 {
    if i >= used(content).min(BLOCKS) { NO_BLOCK } else { u32_at(content, TABLE_AT + 4 * i) }
}

/// Hands out the next logical block, held by `page`: its index, or None when the segment is full.
pub fn add_block(content: &mut [u8], page: u32) -> Option<usize> {
    let i = used(content);
    if i >= BLOCKS {
        return None;
    }
    put_u32(content, TABLE_AT + 4 * i, page);
    put_u32(content, USED_AT, i as u32 + 1);
    Some(i)
}

/// Checked on every read (constant time).
pub fn check(content: &[u8]) -> Result<(), String> {
    let used = used(content);
    if used > BLOCKS {
        return Err(format!("segment with {used} blocks used, at most {BLOCKS}"));
    }
    if first_block(content) as u64 + BLOCKS as u64 > crate::rownum::MAX_LOGICAL_BLOCKS {
        return Err(format!("segment starting at logical block {} is past the limit", first_block(content)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_in_order() {
        let mut c = vec![0u8; CONTENT_SIZE];
        init(&mut c, 2 * BLOCKS as u32);
        check(&c).unwrap();
        assert_eq!(page_of(&c, 0), NO_BLOCK);
        assert_eq!(add_block(&mut c, 17), Some(0));
        assert_eq!(add_block(&mut c, 18), Some(1));
        assert_eq!((page_of(&c, 0), page_of(&c, 1), page_of(&c, 2)), (17, 18, NO_BLOCK));
        for p in 2..BLOCKS {
            assert_eq!(add_block(&mut c, p as u32), Some(p));
        }
        assert_eq!(add_block(&mut c, 1), None);
        check(&c).unwrap();
        put_u32(&mut c, USED_AT, BLOCKS as u32 + 1);
        assert!(check(&c).is_err());
    }
}
