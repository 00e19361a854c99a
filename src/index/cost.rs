//! Cost estimation (as btcostestimate, simplified): PostgreSQL's generic estimate of pages and
//! tuples visited, plus the descent: one model-page and one data-page visit, each priced like a
//! btree level, but without btree's log2(n) comparisons (a model predicts the position).

use alex_core::inner;
use pgrx::pg_sys;
use pgrx::prelude::*;

#[pg_guard]
pub unsafe extern "C-unwind" fn amcostestimate(
    root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    loop_count: f64,
    index_startup_cost: *mut pg_sys::Cost,
    index_total_cost: *mut pg_sys::Cost,
    index_selectivity: *mut pg_sys::Selectivity,
    index_correlation: *mut f64,
    index_pages: *mut f64,
) {
    // SAFETY: the planner passes valid pointers; genericcostestimate fills `costs`.
    unsafe {
        let mut costs = pg_sys::GenericCosts::default();
        pg_sys::genericcostestimate(root, path, loop_count, &mut costs);

        // The planner has no open relation here: estimate the height from the page count.
        let info = (*path).indexinfo;
        let pages = (*info).pages.max(1) as f64;
        let height = (pages.ln() / (inner::CAPACITY as f64).ln()).ceil().max(1.0);
        let descent = (height + 1.0) * 50.0 * pg_sys::cpu_operator_cost;
        costs.indexStartupCost += descent;
        costs.indexTotalCost += costs.num_sa_scans * descent;

        // Ordered scans return heap TIDs in key order: use the column's correlation, as btree
        // does, so range scans over clustered data are priced fairly.
        costs.indexCorrelation = column_correlation(root, path);

        *index_startup_cost = costs.indexStartupCost;
        *index_total_cost = costs.indexTotalCost;
        *index_selectivity = costs.indexSelectivity;
        *index_correlation = costs.indexCorrelation;
        *index_pages = costs.numIndexPages;
    }
}

/// pg_statistic's correlation of the indexed column (0 when unknown or for expressions).
unsafe fn column_correlation(root: *mut pg_sys::PlannerInfo, path: *mut pg_sys::IndexPath) -> f64 {
    // SAFETY: planner structures are valid during planning; the stats tuple is released.
    unsafe {
        let info = (*path).indexinfo;
        let attnum = *(*info).indexkeys;
        if attnum == 0 {
            return 0.0;
        }
        let rel = (*info).rel;
        let rte = *(*root).simple_rte_array.add((*rel).relid as usize);
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION {
            return 0.0;
        }
        let tuple = pg_sys::SearchSysCache3(
            pg_sys::SysCacheIdentifier::STATRELATTINH as i32,
            pg_sys::Datum::from((*rte).relid),
            pg_sys::Datum::from(attnum as i16),
            pg_sys::Datum::from((*rte).inh),
        );
        if tuple.is_null() {
            return 0.0;
        }
        let mut sslot = pg_sys::AttStatsSlot::default();
        let mut corr = 0.0;
        if pg_sys::get_attstatsslot(&mut sslot, tuple, pg_sys::STATISTIC_KIND_CORRELATION as i32, pg_sys::InvalidOid, pg_sys::ATTSTATSSLOT_NUMBERS as i32) {
            if sslot.nnumbers > 0 {
                corr = *sslot.numbers as f64;
            }
            pg_sys::free_attstatsslot(&mut sslot);
        }
        pg_sys::ReleaseSysCache(tuple);
        corr
    }
}
