//! Page formats: what the storage layer needs to know of an access method's pages.
//!
//! Every page is PostgreSQL's page header, a content area that the access method owns, and a
//! special space at the end naming the page's kind. `pd_lower = pd_upper = pd_special`, so
//! generic WAL preserves every content byte.

use pgrx::pg_sys;
use pgrx::prelude::PgSqlErrorCode;

pub const BLCKSZ: usize = pg_sys::BLCKSZ as usize;
/// `SizeOfPageHeaderData`.
pub const PAGE_HEADER_SIZE: usize = std::mem::offset_of!(pg_sys::PageHeaderData, pd_linp);

/// An access method's page format.
pub trait PageFormat {
    /// The kind of relation, as error messages name it ("index", "table").
    const RELATION_KIND: &'static str;
    /// The SQLSTATE of a corrupted page (XX002 for an index, XX001 for a table), and its hint.
    const CORRUPTED: PgSqlErrorCode;
    const CORRUPTED_HINT: &'static str;
    /// Bytes of special space at the end of every page.
    const SPECIAL_SIZE: usize;
    /// The page kinds of this format.
    type Kind: Copy + Eq + std::fmt::Debug;

    /// The kind named by a page's special space; `None` when the page is not of this format.
    fn read_kind(special: &[u8]) -> Option<Self::Kind>;

    /// Writes the special space of a page of `kind`.
    fn write_kind(special: &mut [u8], kind: Self::Kind);

    /// The cheap structural checks of a page of `kind` that make its content safe to read:
    /// the reason when they fail.
    fn check(kind: Self::Kind, content: &[u8]) -> Result<(), String>;
}

/// Whether a page was never initialised (`PageIsNew`: `pd_upper == 0`).
pub fn is_new(page: &[u8]) -> bool {
    header(page).pd_upper == 0
}

fn header(page: &[u8]) -> &pg_sys::PageHeaderData {
    assert!(page.len() == BLCKSZ);
    // SAFETY: `page` is a whole BLCKSZ page, which starts with a PageHeaderData; pages are
    // aligned (buffers and `PageCopy` images), and every bit pattern is a valid header value.
    unsafe { &*(page.as_ptr() as *const pg_sys::PageHeaderData) }
}

/// Formats `page` (a whole BLCKSZ image) as an empty page of `kind`.
pub fn init<F: PageFormat>(page: &mut [u8], kind: F::Kind) {
    assert!(page.len() == BLCKSZ);
    // SAFETY: `page` is BLCKSZ bytes; PageInit writes the header and zeroes the rest.
    unsafe { pg_sys::PageInit(page.as_mut_ptr() as pg_sys::Page, BLCKSZ, F::SPECIAL_SIZE) };
    // SAFETY: the page starts with a PageHeaderData, just written by PageInit.
    let hdr = unsafe { &mut *(page.as_mut_ptr() as *mut pg_sys::PageHeaderData) };
    hdr.pd_lower = hdr.pd_upper;
    F::write_kind(&mut page[BLCKSZ - F::SPECIAL_SIZE..], kind);
}

/// The content area of a page image.
pub fn content_mut<F: PageFormat>(page: &mut [u8]) -> &mut [u8] {
    &mut page[PAGE_HEADER_SIZE..BLCKSZ - F::SPECIAL_SIZE]
}

/// A page's kind and content area, once its header, special space and content have passed the
/// format's checks (as nbtree's `_bt_checkpage`, and more).
pub fn checked<F: PageFormat>(page: &[u8]) -> Result<(F::Kind, &[u8]), String> {
    let h = header(page);
    let special = BLCKSZ - F::SPECIAL_SIZE;
    if is_new(page) {
        return Err("the page is all zeroes".into());
    }
    if h.pd_special as usize != special || h.pd_lower as usize != special || h.pd_upper as usize != special {
        return Err(format!("the page header has pd_lower {}, pd_upper {} and pd_special {} (expected {special})", h.pd_lower, h.pd_upper, h.pd_special));
    }
    let Some(kind) = F::read_kind(&page[special..]) else {
        return Err("the special space names no page kind of this access method".into());
    };
    let content = &page[PAGE_HEADER_SIZE..special];
    F::check(kind, content).map_err(|why| format!("{kind:?} page: {why}"))?;
    Ok((kind, content))
}
