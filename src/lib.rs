//! OmenDB: `alex`, a learned index access method for PostgreSQL.
//!
//! This crate is the thin layer that talks to PostgreSQL (buffers, locks, WAL, catalog, SQL).
//! The learned-index algorithms and page formats live in the pure `alex-core` crate.
//! The design is described in `src/am/README.md`.

use pgrx::prelude::*;

pub mod am;
pub mod error;
pub mod inspect;
pub mod storage;

::pgrx::pg_module_magic!(name, version);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    am::options::init();
}

/// The extension's version, as built (also the `default_version` of the control file).
#[pg_extern(immutable, parallel_safe)]
fn omendb_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn version_matches_the_crate() {
        let v = Spi::get_one::<String>("SELECT omendb_version()").unwrap();
        assert_eq!(v.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
