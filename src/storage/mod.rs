//! The storage layer that both access methods share: pages read through shared buffers behind
//! small RAII guards and written under generic WAL. Nothing here knows an access method: each
//! describes its pages through [`page::PageFormat`].
//!
//! - [`buffer::Buf`]: one pinned, possibly locked page, checked against its format on read;
//! - [`wal::WalRecord`]: one generic-WAL record over up to four such pages;
//! - [`bulk::BulkWrite`]: a new relation's pages written outside shared buffers (index builds);
//! - [`conflict`]: recovery conflicts on hot standbys for what generic WAL removes or freezes;
//! - [`rel`]: relation facts (WAL needed, name, the heap scan of an index build);
//! - [`freespace`]: the free space map and the transaction horizon of page reuse;
//! - [`tid`]: heap TIDs, packed;
//! - [`prefetch`]: CPU cache prefetches for the probe path.

pub mod buffer;
pub mod bulk;
pub mod conflict;
pub mod freespace;
pub mod page;
pub mod prefetch;
pub mod rel;
pub mod tid;
pub mod wal;

pub use buffer::Lock;
