//! OmenDB: `alex`, a learned index access method, and `columnar`, a table access method, for
//! PostgreSQL.
//!
//! This crate is the thin layer that talks to PostgreSQL (buffers, locks, WAL, catalog, SQL).
//! The algorithms and page formats live in the pure `alex-core` and `columnar-core` crates.
//! The design is described in `DESIGN.md`.

use pgrx::prelude::*;

pub mod compat;
pub mod error;
pub mod index;
pub mod storage;
pub mod table;

::pgrx::pg_module_magic!(name, version);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    index::options::init();
    index::insert::init_gucs();
    index::route_cache::init_guc();
    index::hints::init();
    table::store::init();
    table::bulk::init();
    table::vacuum::init_gucs();
    table::publication::init();
    table::plan::init();
    table::scan_setup::init();
    table::join_filter::init();
    table::agg_plan::init();
    // SAFETY: called once, after every omendb.* setting is defined: a misspelt one is then an
    // error rather than a silent placeholder.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"omendb".as_ptr()) };
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

    /// A build, serial or parallel, reports each of its subphases in order to the progress
    /// view, under the names the view shows, and ends with every key counted as done.
    #[pg_test]
    fn build_reports_every_phase() {
        use crate::index::build::{REPORTED, ambuildphasename};
        Spi::run("CREATE TABLE bp (k int8); INSERT INTO bp SELECT g FROM generate_series(1, 30000) g; INSERT INTO bp VALUES (NULL)").unwrap();
        for workers in [0, 1] {
            REPORTED.with(|r| r.borrow_mut().clear());
            Spi::run(&format!("ALTER TABLE bp SET (parallel_workers = {workers}); SET max_parallel_maintenance_workers = {workers}; DROP INDEX IF EXISTS bp_k; CREATE INDEX bp_k ON bp USING alex (k)")).unwrap();
            let reported = REPORTED.with(|r| r.borrow().clone());
            let of = |param: u32| reported.iter().filter(move |(p, _)| *p == param).map(|&(_, v)| v);
            let names: Vec<String> = of(pg_sys::PROGRESS_CREATEIDX_SUBPHASE)
                // SAFETY: ambuildphasename returns a static string or null.
                .map(|phase| unsafe { std::ffi::CStr::from_ptr(ambuildphasename(phase)) }.to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, ["scanning table", "sorting", "writing data pages", "writing model pages"], "with {workers} workers");
            assert_eq!(of(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL).collect::<Vec<_>>(), [30001], "with {workers} workers");
            let done: Vec<i64> = of(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE).collect();
            assert!(done.windows(2).all(|w| w[0] <= w[1]) && done.len() > 2, "with {workers} workers: {done:?}");
            assert_eq!(done.last(), Some(&30001), "with {workers} workers");
        }
    }

    /// An index written in another on-disk format fails loudly and asks for a REINDEX.
    #[pg_test(error = "alex index has on-disk format version 999, but this build of omendb reads version 2")]
    fn other_format_version_is_refused() {
        Spi::run("CREATE TABLE fv (k int8); INSERT INTO fv SELECT generate_series(1, 100); CREATE INDEX fv_k ON fv USING alex (k)").unwrap();
        let oid = Spi::get_one::<pg_sys::Oid>("SELECT 'fv_k'::regclass::oid").unwrap().unwrap();
        // SAFETY: test only: overwrite the version field of the metapage in place (no WAL),
        // under an exclusive lock, then forget the cached root so the next scan reads it.
        unsafe {
            let rel = pg_sys::index_open(oid, pg_sys::AccessShareLock as i32);
            let buf = pg_sys::ReadBuffer(rel, 0);
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            let page = pg_sys::BufferGetPage(buf) as *mut u8;
            let version = page.add(alex_core::page::PAGE_HEADER_SIZE + 4) as *mut u32;
            assert_eq!(version.read_unaligned(), alex_core::meta::FORMAT_VERSION);
            version.write_unaligned(999);
            pg_sys::MarkBufferDirty(buf);
            pg_sys::UnlockReleaseBuffer(buf);
            crate::index::meta::forget_root(rel);
            pg_sys::index_close(rel, pg_sys::AccessShareLock as i32);
        }
        Spi::run("SET LOCAL enable_seqscan = off; SELECT count(*) FROM fv WHERE k = 1").unwrap();
    }

    /// A columnar table of format 4 (OmenDB 0.1.0) is read as it is; its first bulk load makes it
    /// format 5 (stamped segments), and both kinds of rows answer.
    #[pg_test]
    fn columnar_format_4_is_read_and_upgraded_by_a_bulk_load() {
        Spi::run("CREATE TABLE f4 (k int8) USING columnar; INSERT INTO f4 SELECT generate_series(1, 100)").unwrap();
        let oid = Spi::get_one::<pg_sys::Oid>("SELECT 'f4'::regclass::oid").unwrap().unwrap();
        // SAFETY: test only: reads or overwrites the version field of the metapage in place (no
        // WAL), under an exclusive lock.
        let version = |set: Option<u32>| unsafe {
            let rel = pg_sys::table_open(oid, pg_sys::AccessShareLock as i32);
            let buf = pg_sys::ReadBuffer(rel, columnar_core::meta::BLOCK);
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            let at = (pg_sys::BufferGetPage(buf) as *mut u8).add(columnar_core::layout::PAGE_HEADER_SIZE + 4) as *mut u32;
            let old = at.read_unaligned();
            if let Some(v) = set {
                at.write_unaligned(v);
                pg_sys::MarkBufferDirty(buf);
            }
            pg_sys::UnlockReleaseBuffer(buf);
            pg_sys::table_close(rel, pg_sys::AccessShareLock as i32);
            old
        };
        assert_eq!(version(Some(4)), columnar_core::meta::FORMAT_VERSION);
        crate::table::store::forget_all();
        assert_eq!(Spi::get_one::<i64>("SELECT sum(k)::int8 FROM f4").unwrap(), Some(5050));
        Spi::run("COPY f4 FROM PROGRAM 'seq 101 5000'").unwrap();
        assert_eq!(version(None), 5);
        let groups = Spi::get_one::<i64>("SELECT count(*) FROM columnar_stats('f4') WHERE kind = 'row group'").unwrap();
        assert!(groups.unwrap() > 0, "the COPY wrote row groups");
        assert_eq!(Spi::get_one::<i64>("SELECT sum(k)::int8 FROM f4").unwrap(), Some(5000 * 5001 / 2));
    }

    /// A columnar table written in another on-disk format fails loudly, with a hint.
    #[pg_test(error = "table \"fv_c\" has columnar format 999, this library reads formats 4 to 5")]
    fn other_columnar_format_is_refused() {
        Spi::run("CREATE TABLE fv_c (k int8) USING columnar; INSERT INTO fv_c SELECT generate_series(1, 100)").unwrap();
        let oid = Spi::get_one::<pg_sys::Oid>("SELECT 'fv_c'::regclass::oid").unwrap().unwrap();
        // SAFETY: test only: overwrite the version field of the metapage in place (no WAL),
        // under an exclusive lock, then forget what this backend cached of the table.
        unsafe {
            let rel = pg_sys::table_open(oid, pg_sys::AccessShareLock as i32);
            let buf = pg_sys::ReadBuffer(rel, columnar_core::meta::BLOCK);
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            let page = pg_sys::BufferGetPage(buf) as *mut u8;
            let version = page.add(columnar_core::layout::PAGE_HEADER_SIZE + 4) as *mut u32;
            assert_eq!(version.read_unaligned(), columnar_core::meta::FORMAT_VERSION);
            version.write_unaligned(999);
            pg_sys::MarkBufferDirty(buf);
            pg_sys::UnlockReleaseBuffer(buf);
            pg_sys::table_close(rel, pg_sys::AccessShareLock as i32);
        }
        crate::table::store::forget_all();
        Spi::run("INSERT INTO fv_c VALUES (101)").unwrap();
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
