//! Value pages: values too large to stay in their row, stored out of line as a chain of pages.
//!
//! The row keeps a standard on-disk TOAST pointer whose `va_valueid` is the first page of the
//! chain and whose `va_toastrelid` is the table itself, so PostgreSQL's detoasting asks the table
//! access method for the bytes (`relation_fetch_toast_slice`) only when the value is used. Each
//! page holds the block of the next page (or none) and up to [`CAPACITY`] bytes of the value.
//! Chains are written once and freed by VACUUM with the row version that points to them.

use crate::layout::{CONTENT_SIZE, NO_BLOCK, put_u32, u32_at};

const NEXT_AT: usize = 0;
const LEN_AT: usize = 4;
const DATA_AT: usize = 8;
/// Value bytes per page.
pub const CAPACITY: usize = CONTENT_SIZE - DATA_AT;

/// Pages needed for a value of `len` bytes (at least one).
pub fn pages_for(len: usize) -> usize {
    len.div_ceil(CAPACITY).max(1)
}

/// Writes one page of a chain: `data` (at most CAPACITY bytes) and the next page's block.
pub fn write(content: &mut [u8], next: u32, data: &[u8]) {
    assert!(data.len() <= CAPACITY);
    content[..DATA_AT].fill(0);
    put_u32(content, NEXT_AT, next);
    put_u32(content, LEN_AT, data.len() as u32);
    content[DATA_AT..DATA_AT + data.len()].copy_from_slice(data);
    content[DATA_AT + data.len()..].fill(0);
}

pub fn next(content: &[u8]) -> u32 {
    u32_at(content, NEXT_AT)
}

/// The page's bytes of the value (after `check_header`).
pub fn data(content: &[u8]) -> &[u8] {
    &content[DATA_AT..DATA_AT + (u32_at(content, LEN_AT) as usize).min(CAPACITY)]
}

/// Checked on every read (constant time).
pub fn check_header(content: &[u8]) -> Result<(), String> {
    let len = u32_at(content, LEN_AT) as usize;
    if len > CAPACITY || len == 0 {
        return Err(format!("value page holding {len} bytes, between 1 and {CAPACITY} allowed"));
    }
    if next(content) == 0 {
        return Err("value page pointing at the metapage as its next page".into());
    }
    Ok(())
}

/// The chunks of a value, in chain order.
pub fn chunks(value: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
    let n = pages_for(value.len());
    (0..n).map(move |i| &value[i * CAPACITY..((i + 1) * CAPACITY).min(value.len())])
}

/// Whether `next` ends a chain.
pub fn is_last(next: u32) -> bool {
    next == NO_BLOCK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_trip() {
        let value: Vec<u8> = (0..3 * CAPACITY + 17).map(|i| (i % 251) as u8).collect();
        assert_eq!(pages_for(value.len()), 4);
        let mut pages = Vec::new();
        for (i, chunk) in chunks(&value).enumerate() {
            let mut c = vec![0u8; CONTENT_SIZE];
            write(&mut c, if i == 3 { NO_BLOCK } else { i as u32 + 10 }, chunk);
            check_header(&c).unwrap();
            pages.push(c);
        }
        let joined: Vec<u8> = pages.iter().flat_map(|p| data(p).to_vec()).collect();
        assert_eq!(joined, value);
        assert!(is_last(next(&pages[3])) && next(&pages[0]) == 10);
        assert_eq!(chunks(&value).rev().next().unwrap().len(), 17);
    }

    #[test]
    fn damage_is_reported() {
        let mut c = vec![0u8; CONTENT_SIZE];
        write(&mut c, NO_BLOCK, &[1, 2, 3]);
        put_u32(&mut c, LEN_AT, CAPACITY as u32 + 1);
        assert!(check_header(&c).is_err());
        put_u32(&mut c, LEN_AT, 0);
        assert!(check_header(&c).is_err());
        put_u32(&mut c, LEN_AT, 3);
        put_u32(&mut c, NEXT_AT, 0);
        assert!(check_header(&c).is_err());
    }
}
