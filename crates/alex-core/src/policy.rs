//! Every tunable of the index, in one place: the values that trade space, speed and rewrites
//! against each other. None of them is part of the on-disk format (a page written under other
//! values reads the same); layout constants (offsets, sizes, capacities that follow from the
//! format) stay with the formats they describe.
//!
//! Ordered as an index lives: build, page encoding, inserts, splits, merges, searches and scans,
//! the route cache. A value users can set has a MIN, a DEFAULT and a MAX. The asserts at the end
//! tie related values together, so that changing one alone fails to compile.

// ---- Build (CREATE INDEX) ----

/// Reloption `density`: the share of a data page's slots a build fills; the rest are gaps for
/// inserts.
pub const DENSITY_MIN: f64 = 0.1;
pub const DENSITY_DEFAULT: f64 = 0.8;
pub const DENSITY_MAX: f64 = 1.0;

/// The share of a model page's separators a build fills: room for the separators of the first
/// splits below it.
pub const INNER_BUILD_FILL: f64 = 0.9;

/// What a page costs in the bulk load's cost model ([`crate::bulk::best_cut`]), in search
/// steps: about one step per 4 bytes of a page.
pub const PAGE_COST: f64 = 2048.0;

/// How many of a run's widest gaps [`crate::bulk::best_cut`] tries as the end of its page.
pub const TRIED_GAPS: usize = 3;

/// A gap between two keys wider than this many times the mean gap of the keys around it is a
/// jump, which no line over the keys on both sides can fit: the bulk load and splits end pages
/// there, and layouts leave slack before it.
pub const JUMP_MEAN_GAPS: u64 = 16;

/// How many keys a reader of one sorted run of the build's external sort fetches at a time.
pub const READ_CHUNK: usize = 512;

// ---- Data page encoding ----

/// How many entries per distinct code a page needs, on average, to take a dictionary.
pub const DICT_MIN_RUN: usize = 8;

// ---- Inserts ----

/// The largest share of a data page's slots that inserts fill before the page is split (or laid
/// out again): beyond it, the shifts that make room grow long.
pub const MAX_DENSITY: f64 = 0.9;

/// An insert that would shift more entries than this lays its page out again instead,
/// retraining the model and spreading the gaps (ALEX's guard against "catastrophic" shifting).
pub const MAX_SHIFT: usize = 64;

/// A key this many times closer to its neighbour on one side than to the one on the other looks
/// like a run of keys into one place (ascending when closer to the key before it): layouts and
/// splits leave room where the run goes on.
pub const LOCAL_RUN_RATIO: u64 = 16;

// ---- Splits ----

/// A split by an insert at the right end of the rightmost page (or by a run of ascending keys
/// into one place) leaves this many tenths of the entries in the left page, as btree does for
/// its rightmost page, so that sequential loads leave dense pages behind; a split at the left
/// end of the leftmost page mirrors it. Data and model pages alike.
pub const APPEND_SPLIT_TENTHS: usize = 9;

/// When only the inserted entry makes a half of a split too wide for its page (say, a TID far
/// from the others in a page of narrow entries), the entries this close to it, on either side,
/// go to a page of their own.
pub const ISOLATION_WINDOW: usize = 128;

// ---- Merges (VACUUM) ----

/// A data page below this share of its slots in use is merged into its right sibling, when
/// their entries fit one page at the build density.
pub const MERGE_BELOW: f64 = 0.25;

// ---- Searches and scans ----

/// How many slots on each side of a predicted slot a search loads ahead (about the model's
/// typical error on random keys).
pub const PREFETCH_SLOTS: usize = 48;

/// A forward scan starts with batches of this many entries, so that `LIMIT` queries decode
/// little of a page, and grows them to whole pages.
pub const FIRST_BATCH: usize = 32;

// ---- Route cache ----

/// `omendb.route_cache_size` (kB): the memory a backend's route cache takes for one index; 0
/// turns the cache off. The default holds about 1000 model pages of level 1, which route some
/// 250M random int8 keys.
pub const ROUTE_CACHE_KB_MIN: i32 = 0;
pub const ROUTE_CACHE_KB_DEFAULT: i32 = 24 * 1024;
pub const ROUTE_CACHE_KB_MAX: i32 = i32::MAX;

/// A full route cache copies one in this many model pages that descents pass through.
pub const ADMIT_ONE_IN: u64 = 16;

/// How many right moves a cached route may need before a full descent is cheaper.
pub const MAX_MOVES_RIGHT: usize = 3;

// ---- How the values relate ----

const _: () = assert!(0.0 < DENSITY_MIN && DENSITY_MIN <= DENSITY_DEFAULT && DENSITY_DEFAULT <= DENSITY_MAX && DENSITY_MAX <= 1.0);
// A page built at the default density takes inserts in place before it splits.
const _: () = assert!(DENSITY_DEFAULT <= MAX_DENSITY && MAX_DENSITY <= 1.0);
// A page fresh from a build is not merged away, nor are the halves of a page split in the
// middle (each about half of MAX_DENSITY full).
const _: () = assert!(MERGE_BELOW < DENSITY_DEFAULT);
const _: () = assert!(MERGE_BELOW < MAX_DENSITY / 2.0);
const _: () = assert!(0.0 < INNER_BUILD_FILL && INNER_BUILD_FILL <= 1.0);
// The left page of an append split is the fuller one.
const _: () = assert!(5 <= APPEND_SPLIT_TENTHS && APPEND_SPLIT_TENTHS < 10);
const _: () = assert!(JUMP_MEAN_GAPS > 1 && LOCAL_RUN_RATIO > 1);
// (ROUTE_CACHE_KB_MAX is the largest i32: every default is below it.)
const _: () = assert!(ROUTE_CACHE_KB_MIN <= ROUTE_CACHE_KB_DEFAULT);
// Counts that divide or bound loops.
const _: () = assert!(TRIED_GAPS > 0 && READ_CHUNK > 0 && DICT_MIN_RUN > 0 && MAX_SHIFT > 0 && FIRST_BATCH > 0 && ADMIT_ONE_IN > 0);
