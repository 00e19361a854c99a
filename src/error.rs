//! Raising PostgreSQL errors with an SQLSTATE and a hint.

use pgrx::pg_sys::panic::ErrorReport;
use crate::storage::page::PageFormat;
use crate::storage::rel;
use pgrx::prelude::*;

/// Raises an ERROR with `code`, `message` and an optional hint; never returns.
pub fn raise(code: PgSqlErrorCode, message: impl Into<String>, hint: Option<&str>) -> ! {
    raise_with_detail(code, message, None, hint)
}

/// Raises an ERROR with `code`, `message` and an optional detail and hint; never returns.
pub fn raise_with_detail(code: PgSqlErrorCode, message: impl Into<String>, detail: Option<&str>, hint: Option<&str>) -> ! {
    let mut r = ErrorReport::new(code, message.into(), "omendb");
    if let Some(d) = detail {
        r = r.set_detail(d);
    }
    if let Some(h) = hint {
        r = r.set_hint(h);
    }
    r.report(PgLogLevel::ERROR);
    unreachable!("ERROR returned")
}


/// Raises the error of a page that failed its checks on read, as nbtree's `_bt_checkpage` words
/// it: the relation and block in the message, the reason in the detail.
pub fn corrupted_page<F: PageFormat>(rel: pg_sys::Relation, blk: u32, why: &str) -> ! {
    let message = format!("{} \"{}\" contains corrupted page at block {blk}", F::RELATION_KIND, rel::name(rel));
    raise_with_detail(F::CORRUPTED, message, Some(why), Some(F::CORRUPTED_HINT))
}
