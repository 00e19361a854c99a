//! Reloptions: `WITH (density = 0.8)`, the share of a data page's slots a build fills.

use alex_core::policy::{DENSITY_DEFAULT, DENSITY_MAX, DENSITY_MIN};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};


static RELOPT_KIND: AtomicU32 = AtomicU32::new(0);

#[repr(C)]
struct AlexOptions {
    vl_len: i32,
    density: f64,
}

/// Registers the reloptions; called once from `_PG_init`.
pub fn init() {
    // SAFETY: called from _PG_init in the postmaster or a backend, before any index is opened.
    unsafe {
        let kind = pg_sys::add_reloption_kind();
        RELOPT_KIND.store(kind, Ordering::Relaxed);
        pg_sys::add_real_reloption(
            kind,
            c"density".as_ptr(),
            c"Share of data page slots filled by CREATE INDEX (the rest are gaps for inserts)".as_ptr(),
            DENSITY_DEFAULT,
            DENSITY_MIN,
            DENSITY_MAX,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    let tab = [pg_sys::relopt_parse_elt {
        optname: c"density".as_ptr(),
        opttype: pg_sys::relopt_type::RELOPT_TYPE_REAL,
        offset: std::mem::offset_of!(AlexOptions, density) as i32,
        // 18: no flag records whether the option was given.
        #[cfg(feature = "pg18")]
        isset_offset: 0,
    }];
    // SAFETY: the table describes AlexOptions exactly; build_reloptions validates the values
    // against the bounds registered in `init` and ERRORs on bad input.
    unsafe {
        pg_sys::build_reloptions(
            reloptions,
            validate,
            RELOPT_KIND.load(Ordering::Relaxed),
            std::mem::size_of::<AlexOptions>(),
            tab.as_ptr(),
            tab.len() as i32,
        ) as *mut pg_sys::bytea
    }
}

/// The build density of `index` (its reloption, or the default).
pub fn density(index: pg_sys::Relation) -> f64 {
    // SAFETY: rd_options is NULL or the struct built by `amoptions` for this index.
    unsafe {
        let opts = (*index).rd_options as *const AlexOptions;
        if opts.is_null() { DENSITY_DEFAULT } else { (*opts).density }
    }
}
