//! Deleted pages: unlinked data pages (or model pages formatted anew as data pages) that keep
//! their fences and right link for searches still reaching them, until they are recycled.

use crate::model::LinearModel;
use crate::page::node::{self, Header};
use crate::page::{rd_u64, wr_u64};

/// In a deleted page, where its transaction id horizon is kept.
const DELETED_XID: usize = 64;

/// Turns the data page in `b` into a deleted page: no entries, the same fences and links, and
/// `safe_xid`, the next transaction id when it was unlinked (it may be reused once no running
/// transaction is older).
pub fn mark_deleted(b: &mut [u8], safe_xid: u64) {
    write_deleted(b, Header::read(b), safe_xid);
}

/// Writes over `b` a deleted page with the fences and links of header `h` (of a data page, or
/// of a model page formatted anew as a data page, so that it is recycled like one).
pub fn write_deleted(b: &mut [u8], h: Header, safe_xid: u64) {
    b.fill(0);
    Header { flags: h.flags | node::FLAG_DELETED, count: 0, capacity: 0, model: LinearModel::default(), ..h }.write(b);
    wr_u64(b, DELETED_XID, safe_xid);
}

/// The transaction id stored by [`mark_deleted`].
pub fn deleted_xid(b: &[u8]) -> u64 {
    debug_assert!(node::is_deleted(b));
    rd_u64(b, DELETED_XID)
}

