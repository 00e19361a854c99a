//! The bulk write path: COPY, INSERT ... SELECT, CREATE TABLE AS, materialized views and table
//! rewrites write their rows as row groups, not into the delta store (which VACUUM would fold,
//! writing every row twice).
//!
//! A command that inserts more than `omendb.columnar_bulk_after_rows` (1,000) rows into a table
//! (COPY's `multi_insert`, an INSERT, or a rewrite with a `BulkInsertState`) puts the rest in
//! this backend's *write buffer* for the table: the column builders of one row group. The buffer
//! first *reserves* a range of row numbers: a stamped segment (`columnar_core::segment`) whose
//! stamp is the inserting (sub)transaction and command. Each buffered row gets its row number,
//! so its TID, at once, and the executor inserts its index entries as for any row.
//!
//! The buffer is *sealed* (encoded, its data pages written, the segment pointed at the group,
//! which keeps the stamp) when the reservation is full; when it holds its share of
//! [`BUFFER_BYTES`]; at the end of a COPY or rewrite (`finish_bulk_insert`; an INSERT has no
//! such callback); when the next command inserts; before anything of this backend reads the
//! table's pages (a trigger, a foreign-key or unique check fetching a buffered row, the next
//! query: `store` calls [`seal_own`]); before a new file replaces the table's (TRUNCATE, SET
//! TABLESPACE); before a plan that may use parallel workers starts ([`seal_all`]); and at the
//! latest before commit. So this backend never reads an unwritten row, and every committed row
//! is in pages.
//!
//! Other backends meet the reservation only through index entries of rows not written yet: the
//! stamp says that its transaction is in progress, so a dirty snapshot (unique checks) waits for
//! it, and no other snapshot sees the rows. If the transaction, or the subtransaction that made
//! the reservation, aborts, the buffer is dropped and the range is dead; VACUUM removes its index
//! entries and empties the segment. A table with an exclusion constraint, or a unique index on a
//! function that is not strict, never buffers: the conflict check of another backend computes
//! from the values of the row it fetched, which a reservation does not have.

use super::group::Fold;
use super::page::WalRecord;
use super::{group, insert, space, store};
use crate::error::raise;
use crate::storage::{Lock, rel};
use columnar_core::encode::VECTOR_SIZE;
use columnar_core::layout::PageKind;
use columnar_core::{rownum, segment};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::cell::{Cell, RefCell};

/// Rows of a full row group (as DuckDB's): the largest reservation, and the most rows VACUUM
/// merges neighbouring groups into.
pub const GROUP_ROWS: usize = 60 * VECTOR_SIZE;
/// `omendb.columnar_bulk_after_rows`: rows a command inserts into a table through the delta
/// store before it buffers the rest (a small COPY is not worth a row group of its own: VACUUM
/// folds its rows with their neighbours); -1 turns the bulk path off.
pub static BULK_AFTER_ROWS: GucSetting<i32> = GucSetting::<i32>::new(1000);

/// `omendb.columnar_encoder_thread`: row groups written by the bulk path and by VACUUM's folds
/// are encoded on a second thread while the backend reads the next rows.
pub static ENCODER_THREAD: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Rows of a command's first reservation; each next one doubles, up to [`GROUP_ROWS`]. Row
/// numbers are never reused, so a command that stops early must not leave a large hole.
const FIRST_RESERVATION_ROWS: usize = 4 * VECTOR_SIZE;
/// Bytes of values this backend's write buffers hold at most, together.
const BUFFER_BYTES: usize = 64 << 20;
/// Seals a command's buffer may undergo before the end of the command (something read the
/// table) before the rest of its rows go to the delta store: a trigger that reads the table on
/// every row would otherwise make a row group of every row.
const EARLY_SEALS: u32 = 8;

fn define_guc() {
    GucRegistry::define_int_guc(
        c"omendb.columnar_bulk_after_rows",
        c"Rows a command inserts into a columnar table before it writes the rest as row groups directly.",
        c"COPY, INSERT, CREATE TABLE AS and rewrites buffer the rows past this many and write them as compressed row groups; -1 sends every row to the delta store.",
        &BULK_AFTER_ROWS,
        -1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"omendb.columnar_encoder_thread",
        c"Encodes the row groups of bulk loads and VACUUM's folds on a second thread.",
        c"While the backend reads and converts the next rows, a thread of its own compresses the column vectors already filled; off encodes them in the backend.",
        &ENCODER_THREAD,
        GucContext::Userset,
        GucFlags::default(),
    );
}

type RelKey = (u32, u32, u32);

struct Buffer {
    key: RelKey,
    relid: pg_sys::Oid,
    xid: u32,
    cid: u32,
    first_block: u32,
    /// Rows the reservation holds.
    capacity: usize,
    rows: Fold,
    bytes: usize,
}

/// What a command inserting into a table has done so far.
struct Command {
    key: RelKey,
    xid: u32,
    cid: u32,
    rows: u64,
    next_reservation: usize,
    early_seals: u32,
    /// The table never buffers ([`needs_buffered_values`]; None: not looked up yet).
    excluded: Option<bool>,
}

#[derive(Default)]
struct State {
    buffers: Vec<Buffer>,
    commands: Vec<Command>,
    /// A seal that failed (xid of its buffer, table): the transaction must not commit if the
    /// error was caught by a subtransaction other than the buffer's.
    failed: Option<(u32, String)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
    /// Whether any buffer is open: `seal_own` runs on every row lookup.
    static OPEN: Cell<bool> = const { Cell::new(false) };
}

fn key(rel: pg_sys::Relation) -> RelKey {
    // SAFETY: an open relation.
    unsafe { crate::compat::rel_file_key(rel) }
}

fn current_xid() -> u32 {
    // SAFETY: inserting needs a transaction id; this assigns one if there is none yet.
    unsafe { pg_sys::GetCurrentTransactionId().into_inner() }
}

/// Whether another backend's conflict check could compute something from the values of a row it
/// fetched before waiting for the row's inserter: the table has an index enforcing an exclusion
/// constraint (its check compares values), or a unique index on an expression calling a function
/// that is not strict (an `ON CONFLICT` check computes the index's values of the row it found,
/// which for a buffered row are the placeholder's NULLs, and such a function may raise on them).
fn needs_buffered_values(rel: pg_sys::Relation) -> bool {
    // SAFETY: an open relation; its index list is a List of OIDs in the current context; each
    // index is opened and closed here (the lock is kept until the transaction ends).
    unsafe {
        let list = pg_sys::RelationGetIndexList(rel);
        let oids: Vec<pg_sys::Oid> = if list.is_null() { Vec::new() } else { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).oid_value).collect() };
        oids.into_iter().any(|oid| {
            let index = pg_sys::index_open(oid, pg_sys::AccessShareLock as i32);
            let form = (*index).rd_index;
            let needs = (*form).indisexclusion
                || ((*form).indisunique && {
                    let exprs = pg_sys::RelationGetIndexExpressions(index);
                    !exprs.is_null() && pg_sys::contain_nonstrict_functions(exprs.cast())
                });
            pg_sys::index_close(index, pg_sys::NoLock as i32);
            needs
        })
    }
}

/// Counts `rows` rows about to be inserted into `rel` by command `cid`, and says whether they go
/// to the write buffer.
pub fn wants(rel: pg_sys::Relation, cid: pg_sys::CommandId, rows: usize) -> bool {
    let after = BULK_AFTER_ROWS.get();
    if after < 0 {
        return false;
    }
    let (k, xid) = (key(rel), current_xid());
    let same = |c: &Command| c.key == k && c.xid == xid && c.cid == cid;
    let (count, early_seals, excluded) = STATE.with(|s| {
        let mut s = s.borrow_mut();
        if !s.commands.iter().any(same) {
            // A command of the table that ended without finish_bulk_insert is forgotten.
            s.commands.retain(|c| c.key != k);
            s.commands.push(Command { key: k, xid, cid, rows: 0, next_reservation: FIRST_RESERVATION_ROWS, early_seals: 0, excluded: None });
        }
        let c = s.commands.iter_mut().find(|c| same(c)).expect("pushed above");
        c.rows += rows as u64;
        (c.rows, c.early_seals, c.excluded)
    });
    if count <= after as u64 || early_seals > EARLY_SEALS {
        return false;
    }
    // Looked up once per command, when it first has enough rows (single-row inserts never do).
    let excluded = excluded.unwrap_or_else(|| {
        let excluded = needs_buffered_values(rel);
        STATE.with(|s| s.borrow_mut().commands.iter_mut().filter(|c| same(c)).for_each(|c| c.excluded = Some(excluded)));
        excluded
    });
    !excluded
}

/// Buffers the rows of `slots` for `rel` (command `cid`, insert `options`) and sets their TIDs.
///
/// # Safety
/// `slots` are valid slots of `rel`'s row type.
pub unsafe fn insert(rel: pg_sys::Relation, slots: &[*mut pg_sys::TupleTableSlot], cid: pg_sys::CommandId, options: i32) {
    let (k, xid) = (key(rel), current_xid());
    let mut buf = match take(k) {
        Some(b) if b.xid == xid && b.cid == cid => b,
        Some(earlier) => {
            // An INSERT's buffer of an earlier command.
            seal(rel, earlier, false);
            start(rel, cid, options)
        }
        None => start(rel, cid, options),
    };
    let share = BUFFER_BYTES / STATE.with(|s| s.borrow().buffers.len() + 1);
    for &slot in slots {
        if buf.rows.rows() == buf.capacity || buf.bytes >= share {
            seal(rel, buf, false);
            buf = start(rel, cid, options);
        }
        let row = buf.first_block as u64 * rownum::ROWS_PER_BLOCK + buf.rows.rows() as u64;
        let (block, offset) = ((row / rownum::ROWS_PER_BLOCK) as u32, (row % rownum::ROWS_PER_BLOCK) as usize);
        // SAFETY: per the contract.
        unsafe {
            buf.bytes += push(rel, &mut buf.rows, slot, block, offset);
            (*slot).tts_tid = super::tuple::item_pointer(block, offset as u16 + 1);
            (*slot).tts_tableOid = (*rel).rd_id;
        }
    }
    put(buf);
}

/// Adds the row of `slot` to `rows` at `block`, `offset`; returns the bytes it holds. A row
/// whose values are short and inline is read from the slot; any other is formed as the delta
/// store forms it (values of other relations fetched, long ones compressed or stored in value
/// pages).
///
/// # Safety
/// `slot` is a valid slot of `rel`'s row type.
unsafe fn push(rel: pg_sys::Relation, rows: &mut Fold, slot: *mut pg_sys::TupleTableSlot, block: u32, offset: usize) -> usize {
    // SAFETY: per the contract; slot_getallattrs fills every attribute; by-reference datums
    // point into the slot's memory (or the formed tuple), alive until pushed (push copies).
    unsafe {
        let desc = (*rel).rd_att;
        let n = (*desc).natts as usize;
        pg_sys::slot_getallattrs(slot);
        let values = std::slice::from_raw_parts((*slot).tts_values, n);
        let nulls = std::slice::from_raw_parts((*slot).tts_isnull, n);
        let mut bytes = 8 * n;
        let mut plain = true;
        for c in (0..n).filter(|&c| !nulls[c] && crate::compat::attr(desc, c).attlen == -1) {
            let v = values[c].cast_mut_ptr::<pg_sys::varlena>();
            if pgrx::varlena::varatt_is_1b_e(v) {
                plain = false;
                break;
            }
            bytes += pgrx::varlena::varsize_any(v);
        }
        if plain && bytes <= insert::COMPRESS_ROWS_OVER {
            rows.push_datums(values, nulls, block, offset);
            return bytes;
        }
        let tup = insert::form_tuple(rel, slot);
        let mut values = vec![pg_sys::Datum::from(0); n];
        let mut nulls = vec![false; n];
        pg_sys::heap_deform_tuple(tup, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
        rows.push_datums(&values, &nulls, block, offset);
        let len = (*tup).t_len as usize;
        pg_sys::heap_freetuple(tup);
        len
    }
}

/// A new buffer for `rel`: reserves the command's next range.
fn start(rel: pg_sys::Relation, cid: pg_sys::CommandId, options: i32) -> Buffer {
    let (k, xid) = (key(rel), current_xid());
    let rows = STATE.with(|s| {
        let mut s = s.borrow_mut();
        let c = s.commands.iter_mut().find(|c| c.key == k && c.xid == xid && c.cid == cid);
        c.map_or(FIRST_RESERVATION_ROWS, |c| {
            let rows = c.next_reservation;
            c.next_reservation = (rows * 2).min(GROUP_ROWS);
            rows
        })
    });
    let blocks = (rows as u64).div_ceil(rownum::ROWS_PER_BLOCK);
    let mut infomask = pg_sys::HEAP_XMAX_INVALID as u16;
    if options as u32 & pg_sys::HEAP_INSERT_FROZEN != 0 {
        infomask |= pg_sys::HEAP_XMIN_FROZEN as u16;
    }
    let (first_block, _segment) = store::reserve(rel, blocks, segment::Stamp { xmin: xid, cid, infomask });
    OPEN.set(true);
    // SAFETY: an open relation.
    let relid = unsafe { (*rel).rd_id };
    Buffer { key: k, relid, xid, cid, first_block, capacity: rows, rows: Fold::new(rel, first_block), bytes: 0 }
}

fn take(k: RelKey) -> Option<Buffer> {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let i = s.buffers.iter().position(|b| b.key == k)?;
        let b = s.buffers.swap_remove(i);
        OPEN.set(!s.buffers.is_empty());
        Some(b)
    })
}

fn put(b: Buffer) {
    STATE.with(|s| s.borrow_mut().buffers.push(b));
    OPEN.set(true);
}

/// Seals this backend's buffer of `rel`, if it has one: something is about to read the
/// table's pages.
pub fn seal_own(rel: pg_sys::Relation) {
    if !OPEN.get() {
        return;
    }
    if let Some(b) = take(key(rel)) {
        seal(rel, b, true);
    }
}

/// The end of a command that inserted with a BulkInsertState or through multi_insert.
pub fn finish(rel: pg_sys::Relation) {
    let k = key(rel);
    if let Some(b) = take(k) {
        seal(rel, b, false);
    }
    STATE.with(|s| s.borrow_mut().commands.retain(|c| c.key != k));
}

/// Records a failed seal while it unwinds.
struct FailureWatch<'a> {
    xid: u32,
    table: &'a str,
}

impl Drop for FailureWatch<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            STATE.with(|s| s.borrow_mut().failed = Some((self.xid, self.table.to_string())));
        }
    }
}

/// Writes buffer `b` of `rel` as the row group of its reserved segment. `early`: before the
/// end of its command.
fn seal(rel: pg_sys::Relation, b: Buffer, early: bool) {
    let table = rel::name(rel);
    let _watch = FailureWatch { xid: b.xid, table: &table };
    if early {
        STATE.with(|s| {
            if let Some(c) = s.borrow_mut().commands.iter_mut().find(|c| c.key == b.key && c.xid == b.xid && c.cid == b.cid) {
                c.early_seals += 1;
            }
        });
    }
    let rows = b.rows.rows();
    // VACUUM may have moved the segment page since the reservation: found by its range.
    let sb = store::segment_page(rel, b.first_block, Lock::Exclusive).unwrap_or_else(|| pgrx::error!("the reserved range of table \"{table}\" from logical block {} is missing", b.first_block));
    let reserved = segment::is_reserved(sb.content_of(PageKind::Segment)) && segment::stamp(sb.content_of(PageKind::Segment)).is_some_and(|s| s.xmin == b.xid);
    if !reserved {
        sb.corrupted(&format!("the range reserved from logical block {} for transaction {} is not reserved any more", b.first_block, b.xid));
    }
    let stream = b.rows.finish();
    let blocks = (rows as u64).div_ceil(rownum::ROWS_PER_BLOCK) as u32;
    let g = group::write(rel, &sb, &stream, b.first_block, blocks, rows as u32, &mut space::FreePages::none());
    let rec = WalRecord::start(rel);
    segment::seal(rec.register(&sb).content(), &g);
    rec.finish();
}

/// Seals every open buffer: a plan that may run parallel workers starts (they cannot see this
/// backend's memory, and nothing may be written in parallel mode), or the transaction commits.
/// A buffer of a table dropped meanwhile is forgotten with it.
pub fn seal_all() {
    if !OPEN.get() {
        return;
    }
    while let Some(b) = STATE.with(|s| s.borrow_mut().buffers.pop()) {
        // SAFETY: the transaction holds a lock on the table since it inserted into it, unless it
        // dropped the table (try_relation_open then returns null).
        unsafe {
            let rel = pg_sys::try_relation_open(b.relid, pg_sys::NoLock as i32);
            if rel.is_null() {
                continue;
            }
            if key(rel) != b.key {
                // Every callback that gives the table a new file seals its buffer first.
                pgrx::error!("the write buffer of columnar table \"{}\" outlived its file", rel::name(rel));
            }
            seal(rel, b, false);
            pg_sys::relation_close(rel, pg_sys::NoLock as i32);
        }
    }
    OPEN.set(false);
}

/// Seals what is left before commit (a plain INSERT's buffer, or what a command left without
/// finish_bulk_insert), and refuses to commit after a seal failed.
fn before_commit() {
    if let Some((_, table)) = STATE.with(|s| s.borrow_mut().failed.take()) {
        forget();
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("writing buffered rows of columnar table \"{table}\" failed earlier in this transaction"),
            Some("The transaction is rolled back: run it again."),
        );
    }
    seal_all();
    forget();
}

/// Drops every buffer and command (the transaction ended).
fn forget() {
    STATE.with(|s| *s.borrow_mut() = State::default());
    OPEN.set(false);
}

#[pg_guard]
unsafe extern "C-unwind" fn xact_callback(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_PRE_COMMIT | pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE => before_commit(),
        _ => forget(),
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn subxact_callback(event: pg_sys::SubXactEvent::Type, _my: pg_sys::SubTransactionId, _parent: pg_sys::SubTransactionId, _arg: *mut std::ffi::c_void) {
    if event != pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        return;
    }
    // SAFETY: called while the aborting subtransaction is still the current one.
    let aborting = unsafe { pg_sys::GetCurrentTransactionIdIfAny().into_inner() };
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        // Its rows are dead with it: their reservation's stamp is its xid.
        s.buffers.retain(|b| b.xid != aborting);
        s.commands.retain(|c| c.xid != aborting);
        if s.failed.as_ref().is_some_and(|(xid, _)| *xid == aborting) {
            s.failed = None;
        }
        OPEN.set(!s.buffers.is_empty());
    });
}

pub fn init() {
    define_guc();
    // SAFETY: called once from _PG_init; the callbacks live as long as the library.
    unsafe {
        pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(subxact_callback), std::ptr::null_mut());
    }
}
