//! The on-page formats and encodings of OmenDB's `columnar` table access method.
//!
//! Nothing here knows about PostgreSQL: every function works on plain byte slices holding the
//! content area of an 8 KB page (the bytes between PostgreSQL's page header and its special
//! space), or on plain Rust values. The `omendb` extension reads and writes those bytes through
//! shared buffers and generic WAL. The design is `src/table/README.md` of the extension.
//! Every reader checks lengths and offsets against the bytes it is given and returns an error
//! rather than panicking: a damaged page must surface as a corruption error, never a crash.

#![forbid(unsafe_code)]

pub mod aggregate;
pub mod compare;
pub mod delta;
pub mod encode;
pub mod group;
pub mod join_filter;
pub mod layout;
pub mod map;
pub mod meta;
pub mod numeric;
pub mod rowgroup;
pub mod rownum;
pub mod segment;
pub mod value;
pub mod xmax;
