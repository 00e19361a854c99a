//! ALEX learned-index algorithms and OmenDB's on-page formats (no PostgreSQL dependency).

pub mod entry;
