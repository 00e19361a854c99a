//! A delta segment page: which page holds each logical block of the segment.
//!
//! A segment covers [`BLOCKS`] consecutive logical blocks from its first one. Its blocks are
//! handed out in order as delta pages fill; `used` counts them. A block's entry names the delta
//! page holding its rows, or NO_BLOCK while it has none.
//!
//! A segment is [`State::Open`] while inserts may add rows to it, [`State::Closed`] once VACUUM
//! stopped them, and [`State::Folded`] when its rows moved to a row group, which the segment
//! page then describes ([`group`]). A folded segment's table names each block's *overlay* page
//! (headers of the group's rows that were deleted, updated or locked), or still a delta page
//! the fold has not freed yet (a crash came between), which the overlay's flag tells apart.

use crate::group::{self, Group};
use crate::layout::{CONTENT_SIZE, NO_BLOCK, put_u32, u32_at};

const FIRST_BLOCK_AT: usize = 0;
const USED_AT: usize = 4;
const STATE_AT: usize = 8;
const GROUP_AT: usize = 12;
const PENDING_AT: usize = GROUP_AT + group::SIZE;
const TABLE_AT: usize = PENDING_AT + group::SIZE;
/// Logical blocks per segment.
pub const BLOCKS: usize = (CONTENT_SIZE - TABLE_AT) / 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Open = 0,
    Closed = 1,
    Folded = 2,
}

pub fn init(content: &mut [u8], first_block: u32) {
    put_u32(content, FIRST_BLOCK_AT, first_block);
    put_u32(content, USED_AT, 0);
    put_u32(content, STATE_AT, State::Open as u32);
    content[GROUP_AT..TABLE_AT].fill(0);
    for i in 0..BLOCKS {
        put_u32(content, TABLE_AT + 4 * i, NO_BLOCK);
    }
}

pub fn first_block(content: &[u8]) -> u32 {
    u32_at(content, FIRST_BLOCK_AT)
}

pub fn state(content: &[u8]) -> State {
    match u32_at(content, STATE_AT) {
        0 => State::Open,
        1 => State::Closed,
        _ => State::Folded,
    }
}

pub fn close(content: &mut [u8]) {
    put_u32(content, STATE_AT, State::Closed as u32);
}

/// Records that the segment's rows are now those of row group `g`.
pub fn fold(content: &mut [u8], g: &Group) {
    put_u32(content, STATE_AT, State::Folded as u32);
    g.write(&mut content[GROUP_AT..PENDING_AT]);
    content[PENDING_AT..TABLE_AT].fill(0);
}

/// The row group of a folded segment.
pub fn group(content: &[u8]) -> Group {
    Group::read(&content[GROUP_AT..PENDING_AT])
}

/// Records the data pages a group is being written to (a fold, a rewrite or a move), before
/// they are written: if the group is never linked (a crash, an error), VACUUM frees them.
pub fn set_pending(content: &mut [u8], g: Option<&Group>) {
    match g {
        Some(g) => g.write(&mut content[PENDING_AT..TABLE_AT]),
        None => content[PENDING_AT..TABLE_AT].fill(0),
    }
}

/// The data pages of a group being written, if any.
pub fn pending(content: &[u8]) -> Option<Group> {
    let g = Group::read(&content[PENDING_AT..TABLE_AT]);
    (g.data_pages > 0).then_some(g)
}

/// Sets the page of the segment's `i`-th logical block (an overlay page, or NO_BLOCK once a
/// delta page was freed), `i` below `used`.
pub fn set_page(content: &mut [u8], i: usize, page: u32) {
    assert!(i < used(content));
    put_u32(content, TABLE_AT + 4 * i, page);
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
    if u32_at(content, STATE_AT) > State::Folded as u32 {
        return Err(format!("segment in state {}", u32_at(content, STATE_AT)));
    }
    if let Some(p) = pending(content) {
        group::check(&p)?;
    }
    if state(content) == State::Folded {
        let g = group(content);
        group::check(&g)?;
        if g.first_block != first_block(content) || g.blocks as usize != used {
            return Err(format!("segment from logical block {} of {used} blocks holds {g:?}", first_block(content)));
        }
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
        assert_eq!(state(&c), State::Open);
        close(&mut c);
        assert_eq!(state(&c), State::Closed);
        let g = Group { first_block: 2 * BLOCKS as u32, blocks: BLOCKS as u32, rows: 10, stream_len: 100, data_first: 9, data_pages: 1 };
        set_pending(&mut c, Some(&g));
        assert_eq!(pending(&c), Some(g));
        fold(&mut c, &g);
        assert_eq!(pending(&c), None, "linking the group ends what was pending");
        set_page(&mut c, 5, NO_BLOCK);
        assert_eq!((state(&c), group(&c), page_of(&c, 5), page_of(&c, 6)), (State::Folded, g, NO_BLOCK, 6));
        check(&c).unwrap();
        fold(&mut c, &Group { first_block: 0, ..g });
        assert!(check(&c).is_err(), "a folded segment's group is its range");
        fold(&mut c, &g);
        put_u32(&mut c, USED_AT, BLOCKS as u32 + 1);
        assert!(check(&c).is_err());
    }
}
