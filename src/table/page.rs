//! columnar pages as the storage layer sees them: the format (kinds in the special space, the
//! checks every page passes on read) and the guard types the table code uses.

use crate::storage::{buffer, page::PageFormat, wal};
use columnar_core::layout::{self, PageKind, Special};
use pgrx::prelude::PgSqlErrorCode;

/// The page format of columnar tables.
pub struct ColumnarPages;

pub type Buf = buffer::Buf<ColumnarPages>;
pub type WalRecord<'g> = wal::WalRecord<'g, ColumnarPages>;

const _: () = assert!(layout::BLCKSZ == crate::storage::page::BLCKSZ);
const _: () = assert!(layout::PAGE_HEADER_SIZE == crate::storage::page::PAGE_HEADER_SIZE);

impl PageFormat for ColumnarPages {
    const RELATION_KIND: &'static str = "table";
    const CORRUPTED: PgSqlErrorCode = PgSqlErrorCode::ERRCODE_DATA_CORRUPTED;
    const CORRUPTED_HINT: &'static str = "Restore the table from a backup.";
    const SPECIAL_SIZE: usize = layout::SPECIAL_SIZE;
    type Kind = PageKind;

    fn read_kind(special: &[u8]) -> Option<PageKind> {
        Special::read(special).map(|s| s.kind)
    }

    fn write_kind(special: &mut [u8], kind: PageKind) {
        Special::new(kind).write(special)
    }

    fn check(kind: PageKind, content: &[u8]) -> Result<(), String> {
        layout::check_on_read(kind, content)
    }
}

/// The owner recorded in a checked page's special space.
pub fn owner(b: &Buf) -> u32 {
    Special::read(b.special()).map_or(u32::MAX, |s| s.owner)
}

/// Writes the special space of a page image being written, naming its owner.
pub fn set_owner_special(special: &mut [u8], kind: PageKind, owner: u32) {
    Special::owned(kind, owner).write(special);
}
