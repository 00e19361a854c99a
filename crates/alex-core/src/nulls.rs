//! Pages of the NULL chain: unordered TIDs of rows whose key is NULL, linked left to right.
//! NULL keys live apart from the key space so that every `u64` stays available to keys.

use crate::entry::PackedTid;
use crate::page::{CONTENT_SIZE, rd_u16, rd_u64, wr_u16, wr_u64};

const COUNT: usize = 0;
const RIGHT: usize = 4;
const TIDS: usize = 8;
pub const CAPACITY: usize = (CONTENT_SIZE - TIDS) / 8;

pub fn init(b: &mut [u8]) {
    b.fill(0);
    set_right(b, crate::page::NO_BLOCK);
}
/// The check a NULL page passes each time it is read: a count that fits the page.
pub fn check_header(b: &[u8]) -> Result<(), String> {
    match count(b) {
        n if n > CAPACITY => Err(format!("NULL page holds {n} TIDs, more than the {CAPACITY} that fit")),
        _ => Ok(()),
    }
}

pub fn count(b: &[u8]) -> usize {
    rd_u16(b, COUNT) as usize
}
pub fn right(b: &[u8]) -> u32 {
    crate::page::rd_u32(b, RIGHT)
}
pub fn set_right(b: &mut [u8], blk: u32) {
    crate::page::wr_u32(b, RIGHT, blk)
}
pub fn tid(b: &[u8], i: usize) -> PackedTid {
    rd_u64(b, TIDS + 8 * i)
}
pub fn tids(b: &[u8]) -> Vec<PackedTid> {
    (0..count(b)).map(|i| tid(b, i)).collect()
}

/// Appends `tid`; false when the page is full.
pub fn push(b: &mut [u8], tid: PackedTid) -> bool {
    let n = count(b);
    if n >= CAPACITY {
        return false;
    }
    wr_u64(b, TIDS + 8 * n, tid);
    wr_u16(b, COUNT, (n + 1) as u16);
    true
}

/// Removes every TID for which `dead` says so, keeping the rest in order. Returns how many went.
pub fn retain(b: &mut [u8], mut dead: impl FnMut(PackedTid) -> bool) -> usize {
    let n = count(b);
    let mut kept = 0;
    for i in 0..n {
        let t = tid(b, i);
        if !dead(t) {
            wr_u64(b, TIDS + 8 * kept, t);
            kept += 1;
        }
    }
    for i in kept..n {
        wr_u64(b, TIDS + 8 * i, 0);
    }
    wr_u16(b, COUNT, kept as u16);
    n - kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_retain() {
        let mut b = vec![0u8; CONTENT_SIZE];
        init(&mut b);
        for t in 1..=CAPACITY as u64 {
            assert!(push(&mut b, t));
        }
        assert!(!push(&mut b, 0));
        assert_eq!(retain(&mut b, |t| t % 2 == 0), CAPACITY / 2);
        assert!(tids(&b).iter().all(|t| t % 2 == 1));
    }
}
