//! The `alex` index access method: the handler and the public interface routines. Each group of
//! callbacks lives in its own file, as in nbtree: build, insert, scan, vacuum, cost, validate;
//! `search` holds the descent shared by inserts and scans, `meta` the metapage.

pub mod build;
pub mod cost;
pub mod hints;
pub mod insert;
pub mod inspect;
pub mod keys;
pub mod meta;
pub mod null_chain;
pub mod options;
pub mod page;
pub mod pagedel;
pub mod parallel_build;
pub mod parallel_scan;
pub mod route_cache;
pub mod scan;
pub mod search;
pub mod unique;
pub mod vacuum;
pub mod validate;

use pgrx::pg_sys;
use pgrx::prelude::*;

/// Whether `xs` strictly increase: entries of a page, separators of a model page.
pub(crate) fn strictly_increasing<T: PartialOrd>(xs: &[T]) -> bool {
    xs.windows(2).all(|w| w[0] < w[1])
}

#[pg_extern(sql = "
CREATE FUNCTION alex_amhandler(internal) RETURNS index_am_handler
    PARALLEL SAFE IMMUTABLE STRICT LANGUAGE c AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
CREATE ACCESS METHOD alex TYPE INDEX HANDLER alex_amhandler;
COMMENT ON ACCESS METHOD alex IS 'ALEX learned index: linear models over gapped-array pages';
")]
fn alex_amhandler(_fcinfo: pg_sys::FunctionCallInfo) -> PgBox<pg_sys::IndexAmRoutine> {
    let mut am = unsafe { PgBox::<pg_sys::IndexAmRoutine>::alloc_node(pg_sys::NodeTag::T_IndexAmRoutine) };
    am.amstrategies = 5;
    am.amsupport = 1;
    am.amoptsprocnum = 0;
    am.amcanorder = true;
    am.amcanorderbyop = false;
    am.amcanbackward = true;
    am.amcanunique = true;
    am.amcanmulticol = false;
    am.amoptionalkey = true;
    am.amsearcharray = true;
    am.amsearchnulls = true;
    am.amstorage = false;
    am.amclusterable = false;
    am.ampredlocks = false;
    am.amcanparallel = true;
    #[cfg(feature = "pg18")]
    {
        am.amcanbuildparallel = true;
        am.amtranslatestrategy = Some(translate_strategy);
        am.amtranslatecmptype = Some(translate_cmptype);
    }
    am.amcaninclude = false;
    am.amusemaintenanceworkmem = false;
    am.amparallelvacuumoptions = pg_sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
    am.amkeytype = pg_sys::InvalidOid;

    am.ambuild = Some(build::ambuild);
    am.ambuildempty = Some(build::ambuildempty);
    am.ambuildphasename = Some(build::ambuildphasename);
    am.aminsert = Some(insert::aminsert);
    am.ambulkdelete = Some(vacuum::ambulkdelete);
    am.amvacuumcleanup = Some(vacuum::amvacuumcleanup);
    am.amcanreturn = Some(scan::amcanreturn);
    am.amcostestimate = Some(cost::amcostestimate);
    am.amoptions = Some(options::amoptions);
    am.amvalidate = Some(validate::amvalidate);
    am.ambeginscan = Some(scan::ambeginscan);
    am.amrescan = Some(scan::amrescan);
    am.amgettuple = Some(scan::amgettuple);
    am.amgetbitmap = Some(scan::amgetbitmap);
    am.amendscan = Some(scan::amendscan);
    am.ammarkpos = Some(scan::ammarkpos);
    am.amrestrpos = Some(scan::amrestrpos);
    am.amestimateparallelscan = Some(parallel_scan::amestimateparallelscan);
    am.aminitparallelscan = Some(parallel_scan::aminitparallelscan);
    am.amparallelrescan = Some(parallel_scan::amparallelrescan);
    am.into_pg_boxed()
}

/// Alex's strategies are btree's: 1 `<`, 2 `<=`, 3 `=`, 4 `>=`, 5 `>`. PostgreSQL 18 asks for
/// them as comparison types to know that the index is ordered (ORDER BY, merge joins) and can
/// arbitrate ON CONFLICT.
#[cfg(feature = "pg18")]
#[pg_guard]
unsafe extern "C-unwind" fn translate_strategy(strategy: pg_sys::StrategyNumber, _opfamily: pg_sys::Oid) -> pg_sys::CompareType::Type {
    match strategy {
        1..=5 => strategy as pg_sys::CompareType::Type,
        _ => pg_sys::CompareType::COMPARE_INVALID,
    }
}

#[cfg(feature = "pg18")]
#[pg_guard]
unsafe extern "C-unwind" fn translate_cmptype(cmptype: pg_sys::CompareType::Type, _opfamily: pg_sys::Oid) -> pg_sys::StrategyNumber {
    match cmptype {
        pg_sys::CompareType::COMPARE_LT..=pg_sys::CompareType::COMPARE_GT => cmptype as pg_sys::StrategyNumber,
        _ => 0, // InvalidStrategy
    }
}

extension_sql_file!("../../sql/alex_opclasses.sql", name = "alex_opclasses", requires = [alex_amhandler]);
