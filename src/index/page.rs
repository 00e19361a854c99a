//! alex pages as the storage layer sees them: the format (kinds in the special space, the checks
//! every page passes on read) and the guard types the index code uses.

use crate::storage::{buffer, page::PageFormat, wal};
use alex_core::page::{self as layout, PageKind};
use pgrx::prelude::PgSqlErrorCode;

/// The page format of alex indexes.
pub struct AlexPages;

pub type Buf = buffer::Buf<AlexPages>;
pub type WalRecord<'g> = wal::WalRecord<'g, AlexPages>;

const _: () = assert!(layout::BLCKSZ == crate::storage::page::BLCKSZ);
const _: () = assert!(layout::PAGE_HEADER_SIZE == crate::storage::page::PAGE_HEADER_SIZE);

impl PageFormat for AlexPages {
    const RELATION_KIND: &'static str = "index";
    const CORRUPTED: PgSqlErrorCode = PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED;
    const CORRUPTED_HINT: &'static str = "Please REINDEX it.";
    const SPECIAL_SIZE: usize = layout::SPECIAL_SIZE;
    type Kind = PageKind;

    fn read_kind(special: &[u8]) -> Option<PageKind> {
        layout::read_special(special)
    }

    fn write_kind(special: &mut [u8], kind: PageKind) {
        layout::write_special(special, kind)
    }

    fn check(kind: PageKind, content: &[u8]) -> Result<(), String> {
        layout::check_on_read(kind, content)
    }
}
