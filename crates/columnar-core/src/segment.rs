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
//!
//! A segment may also carry a [`Stamp`]: the insert header its group's rows share (format 5).
//! A bulk load *reserves* a range for its write buffer: a closed segment of no blocks with the
//! stamp of the loading (sub)transaction, whose row numbers are handed out (and indexed) before
//! the rows are written. Sealing writes the buffered rows as the segment's group and keeps the
//! stamp; VACUUM drops the stamp once every snapshot sees its inserter committed (the group is
//! then like a folded one: its rows' stamp is the frozen one), or empties the segment when the
//! inserter aborted. A stamped segment uses at most [`STAMPED_BLOCKS`] blocks: the stamp lies in
//! the last entries of its table.

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
/// The state word's low byte is the [`State`]; this bit says that the segment has a stamp.
const STAMPED: u32 = 0x100;
/// Table entries a stamp takes: xmin, cid, infomask.
const STAMP_ENTRIES: usize = 3;
const STAMP_AT: usize = TABLE_AT + 4 * (BLOCKS - STAMP_ENTRIES);
/// Logical blocks a stamped segment may use.
pub const STAMPED_BLOCKS: usize = BLOCKS - STAMP_ENTRIES;

/// The insert header shared by the rows of a stamped segment (the fields of PostgreSQL's
/// `HeapTupleHeaderData` that an insert sets; xmax is invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub xmin: u32,
    pub cid: u32,
    pub infomask: u16,
}

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
    match u32_at(content, STATE_AT) & 0xFF {
        0 => State::Open,
        1 => State::Closed,
        _ => State::Folded,
    }
}

fn set_state(content: &mut [u8], state: State) {
    let flags = u32_at(content, STATE_AT) & STAMPED;
    put_u32(content, STATE_AT, flags | state as u32);
}

pub fn close(content: &mut [u8]) {
    set_state(content, State::Closed);
}

/// Records that the segment's rows are now those of row group `g`.
pub fn fold(content: &mut [u8], g: &Group) {
    set_state(content, State::Folded);
    g.write(&mut content[GROUP_AT..PENDING_AT]);
    content[PENDING_AT..TABLE_AT].fill(0);
}

/// Formats a segment page reserved for a write buffer: closed, no block used yet, `stamp`.
pub fn reserve(content: &mut [u8], first_block: u32, stamp: Stamp) {
    init(content, first_block);
    put_u32(content, STATE_AT, State::Closed as u32 | STAMPED);
    put_u32(content, STAMP_AT, stamp.xmin);
    put_u32(content, STAMP_AT + 4, stamp.cid);
    put_u32(content, STAMP_AT + 8, stamp.infomask as u32);
}

/// The stamp of a stamped segment (None: its rows' stamp is the frozen one).
pub fn stamp(content: &[u8]) -> Option<Stamp> {
    (u32_at(content, STATE_AT) & STAMPED != 0).then(|| Stamp { xmin: u32_at(content, STAMP_AT), cid: u32_at(content, STAMP_AT + 4), infomask: u32_at(content, STAMP_AT + 8) as u16 })
}

/// Whether the segment is reserved for a write buffer and not sealed yet.
pub fn is_reserved(content: &[u8]) -> bool {
    stamp(content).is_some() && state(content) == State::Closed
}

/// Seals a reserved segment: its rows are those of group `g`, which starts at its first block.
pub fn seal(content: &mut [u8], g: &Group) {
    assert!(is_reserved(content) && g.blocks as usize <= STAMPED_BLOCKS && g.first_block == first_block(content));
    put_u32(content, USED_AT, g.blocks);
    fold(content, g);
}

/// Points a folded, unstamped segment at group `g`, which also holds the rows of the range
/// after the segment's (a merge): the segment now spans `g.blocks` logical blocks, the ones
/// past its old end without overlays.
pub fn merge(content: &mut [u8], g: &Group) {
    let used = used(content);
    assert!(
        state(content) == State::Folded && stamp(content).is_none() && g.first_block == first_block(content) && (used..=BLOCKS).contains(&(g.blocks as usize)),
        "merging {g:?} into a segment of {used} blocks"
    );
    for i in used..g.blocks as usize {
        put_u32(content, TABLE_AT + 4 * i, NO_BLOCK);
    }
    put_u32(content, USED_AT, g.blocks);
    fold(content, g);
}

/// Drops the stamp: the rows' stamp is the frozen one from now on.
pub fn freeze(content: &mut [u8]) {
    put_u32(content, STATE_AT, u32_at(content, STATE_AT) & !STAMPED);
    for i in STAMPED_BLOCKS..BLOCKS {
        put_u32(content, TABLE_AT + 4 * i, NO_BLOCK);
    }
}

/// Empties the segment (its stamp's inserter aborted: no row of the range ever lived): closed,
/// no block, no group, no stamp.
pub fn empty(content: &mut [u8]) {
    init(content, first_block(content));
    close(content);
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
    let word = u32_at(content, STATE_AT);
    if word & !STAMPED > State::Folded as u32 {
        return Err(format!("segment in state {word:#x}"));
    }
    if stamp(content).is_some() && (state(content) == State::Open || used > STAMPED_BLOCKS) {
        return Err(format!("stamped segment in state {:?} with {used} blocks used", state(content)));
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

    #[test]
    fn reserve_seal_freeze_empty() {
        let mut c = vec![0u8; CONTENT_SIZE];
        let st = Stamp { xmin: 1234, cid: 5, infomask: 0x0800 };
        reserve(&mut c, 4 * BLOCKS as u32, st);
        check(&c).unwrap();
        assert_eq!((state(&c), stamp(&c), is_reserved(&c), used(&c)), (State::Closed, Some(st), true, 0));
        assert_eq!(page_of(&c, STAMPED_BLOCKS), NO_BLOCK, "the stamp is not read as a page");
        let g = Group { first_block: 4 * BLOCKS as u32, blocks: 423, rows: 122_880, stream_len: 100, data_first: 9, data_pages: 1 };
        set_pending(&mut c, Some(&g));
        seal(&mut c, &g);
        check(&c).unwrap();
        assert_eq!((state(&c), group(&c), used(&c), stamp(&c), is_reserved(&c), pending(&c)), (State::Folded, g, 423, Some(st), false, None));
        set_page(&mut c, 3, 77);
        freeze(&mut c);
        check(&c).unwrap();
        assert_eq!((state(&c), group(&c), stamp(&c), page_of(&c, 3)), (State::Folded, g, None, 77));
        assert!((STAMPED_BLOCKS..BLOCKS).all(|i| u32_at(&c, TABLE_AT + 4 * i) == NO_BLOCK));
        reserve(&mut c, 4 * BLOCKS as u32, st);
        empty(&mut c);
        check(&c).unwrap();
        assert_eq!((state(&c), stamp(&c), used(&c), first_block(&c)), (State::Closed, None, 0, 4 * BLOCKS as u32));
    }

    #[test]
    fn merge_widens_a_folded_segment() {
        let mut c = vec![0u8; CONTENT_SIZE];
        reserve(&mut c, 0, Stamp { xmin: 3, cid: 0, infomask: 0 });
        let g = Group { first_block: 0, blocks: 29, rows: 8192, stream_len: 100, data_first: 9, data_pages: 1 };
        seal(&mut c, &g);
        freeze(&mut c);
        let merged = Group { blocks: 29 + 57, rows: 8192 + 16384, data_first: 20, ..g };
        merge(&mut c, &merged);
        check(&c).unwrap();
        assert_eq!((state(&c), group(&c), used(&c), stamp(&c)), (State::Folded, merged, 86, None));
        assert!((0..BLOCKS).all(|i| page_of(&c, i) == NO_BLOCK));
    }

    #[test]
    #[should_panic(expected = "merging")]
    fn a_stamped_segment_is_not_merged() {
        let mut c = vec![0u8; CONTENT_SIZE];
        reserve(&mut c, 0, Stamp { xmin: 3, cid: 0, infomask: 0 });
        let g = Group { first_block: 0, blocks: 29, rows: 8192, stream_len: 100, data_first: 9, data_pages: 1 };
        seal(&mut c, &g);
        merge(&mut c, &Group { blocks: 86, ..g });
    }

    #[test]
    fn stamped_damage() {
        let mut c = vec![0u8; CONTENT_SIZE];
        reserve(&mut c, 0, Stamp { xmin: 3, cid: 0, infomask: 0 });
        put_u32(&mut c, USED_AT, STAMPED_BLOCKS as u32 + 1);
        assert!(check(&c).is_err(), "a stamped segment's blocks would cover its stamp");
        reserve(&mut c, 0, Stamp { xmin: 3, cid: 0, infomask: 0 });
        put_u32(&mut c, STATE_AT, STAMPED | State::Open as u32);
        assert!(check(&c).is_err(), "inserts never go to a stamped segment");
        put_u32(&mut c, STATE_AT, 0x200 | State::Closed as u32);
        assert!(check(&c).is_err(), "an unknown flag");
    }
}
