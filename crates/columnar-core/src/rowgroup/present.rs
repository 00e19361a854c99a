//! The present set of a row group: which row numbers of its range `[first, end)` have rows, as
//! offsets from `first`. Rows are stored densely in row-number order, so a row's *position*
//! (which value of each chunk is its value) is the rank of its offset in the set.
//!
//! The set is a `roaring` bitmap kept run-optimized, so a bulk-loaded group (one run) serializes
//! to a few bytes; the serialized form is roaring's portable format.

use super::{GroupError, MAX_ROWS, bad};
use roaring::RoaringBitmap;

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PresentSet {
    offsets: RoaringBitmap,
}

impl PresentSet {
    /// The set of the given offsets (in any order; duplicates count once); an error past
    /// [`MAX_ROWS`] distinct offsets.
    pub fn from_offsets(offsets: impl IntoIterator<Item = u32>) -> Result<PresentSet, GroupError> {
        let mut bitmap = RoaringBitmap::new();
        for offset in offsets {
            if bitmap.insert(offset) && bitmap.len() > MAX_ROWS as u64 {
                bad!("present set of more than {MAX_ROWS} rows")
            }
        }
        bitmap.optimize();
        Ok(PresentSet { offsets: bitmap })
    }

    /// Offsets `0..rows`: a group with no holes, such as a bulk load's.
    pub fn dense(rows: u32) -> Result<PresentSet, GroupError> {
        if rows as usize > MAX_ROWS {
            bad!("present set of {rows} rows, more than {MAX_ROWS}")
        }
        let mut bitmap = RoaringBitmap::new();
        bitmap.insert_range(0..rows);
        bitmap.optimize();
        Ok(PresentSet { offsets: bitmap })
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.offsets.len() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    pub fn contains(&self, offset: u32) -> bool {
        self.offsets.contains(offset)
    }

    /// The position of the row at `offset` (its rank among the present offsets), None when
    /// no row is there.
    pub fn position_of(&self, offset: u32) -> Option<u32> {
        // rank counts the offsets <= offset, so the row's own position is one less.
        self.offsets.contains(offset).then(|| self.offsets.rank(offset) as u32 - 1)
    }

    /// The offset of the row at `position`, None past the last row.
    pub fn offset_at(&self, position: u32) -> Option<u32> {
        self.offsets.select(position)
    }

    /// The offsets in ascending order (so positions 0, 1, ...).
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.offsets.iter()
    }

    /// The offsets within `range` with their positions, in order.
    pub fn positions_in(&self, range: std::ops::Range<u32>) -> impl Iterator<Item = (u32, u32)> + '_ {
        let first = if range.start == 0 { 0 } else { self.offsets.rank(range.start - 1) as u32 };
        self.offsets.range(range).zip(first..)
    }

    /// The largest offset, None when empty: the group's range must reach past it.
    pub fn max_offset(&self) -> Option<u32> {
        self.offsets.max()
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.offsets.serialized_size());
        self.offsets.serialize_into(&mut bytes).expect("writing to a Vec cannot fail");
        bytes
    }

    /// Reads a serialized set, which must use all of `bytes`. roaring's checked deserializer
    /// rejects unsorted or duplicate values and wrong cardinalities, and allocates in proportion
    /// to the bytes read, plus at most one container's worth (256 KB) ahead of a read that
    /// fails; more than [`MAX_ROWS`] rows is rejected here.
    pub fn deserialize(bytes: &[u8]) -> Result<PresentSet, GroupError> {
        let mut reader = bytes;
        let offsets = match RoaringBitmap::deserialize_from(&mut reader) {
            Ok(offsets) => offsets,
            Err(error) => bad!("present set: {error}"),
        };
        if !reader.is_empty() {
            bad!("present set: {} bytes after the bitmap", reader.len())
        }
        if offsets.len() > MAX_ROWS as u64 {
            bad!("present set of {} rows, more than {MAX_ROWS}", offsets.len())
        }
        Ok(PresentSet { offsets })
    }
}
