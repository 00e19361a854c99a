//! Index entries: a key code and a heap TID, ordered by code and then by TID.

/// A heap TID packed as `block << 16 | offset`, so that integer order is TID order.
/// `0` (block 0, offset 0) is never a real TID: PostgreSQL offsets start at 1.
pub type PackedTid = u64;

pub const MIN_TID: PackedTid = 0;
pub const MAX_TID: PackedTid = (1 << 48) - 1;

#[inline]
pub fn pack_tid(block: u32, offset: u16) -> PackedTid {
    ((block as u64) << 16) | offset as u64
}

#[inline]
pub fn tid_block(tid: PackedTid) -> u32 {
    (tid >> 16) as u32
}

#[inline]
pub fn tid_offset(tid: PackedTid) -> u16 {
    tid as u16
}

/// One index entry. The derived order (code, then tid) is the index order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Entry {
    pub code: u64,
    pub tid: PackedTid,
}

impl Entry {
    pub const MIN: Entry = Entry { code: 0, tid: MIN_TID };

    #[inline]
    pub fn new(code: u64, tid: PackedTid) -> Entry {
        Entry { code, tid }
    }

    /// The smallest possible entry with this code: where a search for `code` starts.
    #[inline]
    pub fn first_of(code: u64) -> Entry {
        Entry { code, tid: MIN_TID }
    }

    /// The largest possible entry with this code.
    #[inline]
    pub fn last_of(code: u64) -> Entry {
        Entry { code, tid: MAX_TID }
    }

    /// The entry just after this one in index order (saturating at the largest).
    pub fn successor(self) -> Entry {
        if self.tid < MAX_TID {
            Entry::new(self.code, self.tid + 1)
        } else {
            Entry::first_of(self.code.saturating_add(1))
        }
    }

    /// The entry just before this one in index order, if any.
    pub fn predecessor(self) -> Option<Entry> {
        if self.tid > MIN_TID {
            Some(Entry::new(self.code, self.tid - 1))
        } else {
            self.code.checked_sub(1).map(Entry::last_of)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_in_index_order() {
        let e = Entry::new(5, 7);
        assert_eq!(e.successor().predecessor(), Some(e));
        assert_eq!(Entry::last_of(5).successor(), Entry::first_of(6));
        assert_eq!(Entry::first_of(6).predecessor(), Some(Entry::last_of(5)));
        assert_eq!(Entry::MIN.predecessor(), None);
    }
}
