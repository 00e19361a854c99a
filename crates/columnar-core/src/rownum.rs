//! Row numbers and the TIDs that name them.
//!
//! Every row version gets a row number when it is inserted; row numbers are never reused. Its TID
//! is `(r / ROWS_PER_BLOCK, r % ROWS_PER_BLOCK + 1)`: the block number of a TID is a *logical
//! block* of [`ROWS_PER_BLOCK`] row numbers, not a page of the file.

/// `MaxHeapTuplesPerPage` for 8 KB pages: the largest TID offset `tidbitmap.c` accepts.
pub const ROWS_PER_BLOCK: u64 = 291;

/// Logical blocks must stay below PostgreSQL's `InvalidBlockNumber` (and `MaxBlockNumber`).
pub const MAX_LOGICAL_BLOCKS: u64 = 0xFFFF_FFFE;

/// One past the largest row number a relation file can hold.
pub const MAX_ROWS: u64 = MAX_LOGICAL_BLOCKS * ROWS_PER_BLOCK;

/// The TID `(block, offset)` of row number `row`; None past [`MAX_ROWS`].
pub fn tid_of(row: u64) -> Option<(u32, u16)> {
    (row < MAX_ROWS).then(|| ((row / ROWS_PER_BLOCK) as u32, (row % ROWS_PER_BLOCK) as u16 + 1))
}

/// The row number a TID names; None for an offset outside `1..=ROWS_PER_BLOCK` or a block past
/// the limit.
pub fn row_of(block: u32, offset: u16) -> Option<u64> {
    let valid = (block as u64) < MAX_LOGICAL_BLOCKS && offset >= 1 && offset as u64 <= ROWS_PER_BLOCK;
    valid.then(|| block as u64 * ROWS_PER_BLOCK + offset as u64 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        assert_eq!(tid_of(0), Some((0, 1)));
        assert_eq!(tid_of(290), Some((0, 291)));
        assert_eq!(tid_of(291), Some((1, 1)));
        assert_eq!(tid_of(MAX_ROWS), None);
        assert_eq!(row_of(0, 0), None);
        assert_eq!(row_of(0, 292), None);
        assert_eq!(row_of(u32::MAX, 1), None);
        assert_eq!(row_of((MAX_LOGICAL_BLOCKS - 1) as u32, 291), Some(MAX_ROWS - 1));
    }

    proptest! {
        #[test]
        fn round_trip(row in 0..MAX_ROWS) {
            let (b, o) = tid_of(row).unwrap();
            prop_assert_eq!(row_of(b, o), Some(row));
        }
    }
}
