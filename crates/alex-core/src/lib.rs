//! ALEX learned-index algorithms and OmenDB's on-page formats.
//!
//! Nothing here knows about PostgreSQL: every function works on plain byte slices holding the
//! content area of an 8 KB page (the bytes between PostgreSQL's page header and its special
//! space). The `omendb` extension crate reads and writes those bytes through shared buffers and
//! generic WAL; unit, property and criterion tests run here with plain `cargo test`/`cargo bench`.
//!
//! Keys are `u64` codes whose unsigned order is the SQL order of the indexed type (see [`keys`]).
//! Index entries are `(code, tid)` pairs ordered by code, then heap TID ([`entry`]).

#![forbid(unsafe_code)]

pub mod bits;
pub mod bulk;
pub mod data;
pub mod entry;
pub mod extsort;
pub mod inner;
pub mod keys;
pub mod meta;
pub mod model;
pub mod nulls;
pub mod page;
pub mod policy;
pub mod prefetch;
pub mod split;
pub mod tree;
pub mod wal_delta;
