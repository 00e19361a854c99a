//! `columnar_stats` describes a columnar table's storage, `columnar_column_stats` its row
//! groups' columns; `columnar_check` verifies its
//! invariants, raising XX002 (as `alex_check`) naming the block and the first violation.

use super::page::{self, Buf};
use super::tuple;
use super::{group, rows, store};
use crate::storage::{Lock, rel};
use columnar_core::layout::{NO_BLOCK, PageKind, Special};
use columnar_core::{delta, map, meta, rownum, segment};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgRelation;

fn require_columnar(table: &PgRelation, verb: &str) {
    // SAFETY: an open relation; get_am_oid ERRORs if the access method is missing.
    let (relam, am) = unsafe { ((*(*table.as_ptr()).rd_rel).relam, pg_sys::get_am_oid(c"columnar".as_ptr(), false)) };
    if relam != am {
        crate::error::raise(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("\"{}\" is not a columnar table", table.name()),
            Some(&format!("Only tables created USING columnar can be {verb}.")),
        );
    }
}

fn violation(table: pg_sys::Relation, blk: u32, what: &str) -> ! {
    crate::error::raise_with_detail(
        PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED,
        format!("columnar table \"{}\" is corrupted at block {blk}", rel::name(table)),
        Some(what),
        None,
    )
}

/// One delta segment as the map lists it, with its delta or overlay pages (logical block,
/// page) and, once folded, its row group page.
struct Segment {
    entry: map::Entry,
    blocks: Vec<(u32, u32)>,
    group: Option<columnar_core::group::Group>,
    pending: Option<columnar_core::group::Group>,
    stamp: Option<segment::Stamp>,
}

/// The map's segments, checked against the map and segment pages' invariants.
fn segments(t: pg_sys::Relation, strict: bool) -> Vec<Segment> {
    let Some(m) = super::store::read_meta(t) else { return Vec::new() };
    let mut out = Vec::new();
    let mut blk = m.map_first;
    let mut seen_pages = 0usize;
    let mut end = 0u64;
    while blk != NO_BLOCK {
        seen_pages += 1;
        if strict && seen_pages as u64 > rel::main_fork_blocks(t) as u64 {
            violation(t, blk, "the chain of map pages loops");
        }
        let b = Buf::read(t, blk, Lock::Share);
        let c = b.content_of(PageKind::Map);
        if strict {
            map::check(c).unwrap_or_else(|why| violation(t, blk, &why));
        }
        for e in map::entries(c) {
            let e = e.unwrap_or_else(|why| violation(t, blk, &why));
            if strict && e.first_row < end {
                violation(t, blk, &format!("map entry at row {} overlaps the one before, which ends at {end}", e.first_row));
            }
            end = e.end_row();
            if strict && e.end_row() > m.next_row {
                violation(t, blk, &format!("map entry ends at row {} past the metapage's next row {}", e.end_row(), m.next_row));
            }
            let sb = Buf::read(t, e.page, Lock::Share);
            let sc = sb.content_of(PageKind::Segment);
            let first = segment::first_block(sc);
            if strict && (first as u64 * rownum::ROWS_PER_BLOCK != e.first_row || page::owner(&sb) != first) {
                violation(t, e.page, &format!("segment page starts at logical block {first}, its map entry at row {}", e.first_row));
            }
            if strict && segment::used(sc) as u64 * rownum::ROWS_PER_BLOCK > e.rows {
                violation(t, e.page, &format!("segment of {} logical blocks, its map entry of {} rows", segment::used(sc), e.rows));
            }
            let blocks = (0..segment::used(sc)).map(|i| (first + i as u32, segment::page_of(sc, i))).collect();
            let group = (segment::state(sc) == segment::State::Folded).then(|| segment::group(sc));
            out.push(Segment { entry: e, blocks, group, pending: segment::pending(sc), stamp: segment::stamp(sc) });
        }
        blk = map::next(c);
    }
    out
}

/// Describes a columnar table: one row per delta segment, with its logical blocks, pages,
/// stored row versions, versions visible to the caller's snapshot, and bytes of tuples.
#[pg_extern(volatile, parallel_safe)]
fn columnar_stats(
    table: PgRelation,
) -> TableIterator<'static, (name!(kind, String), name!(first_row, i64), name!(row_numbers, i64), name!(pages, i64), name!(versions, i64), name!(visible, i64), name!(bytes, i64))> {
    require_columnar(&table, "described");
    let t = table.as_ptr();
    // SAFETY: the active snapshot of the calling statement.
    let snapshot = unsafe { pg_sys::GetActiveSnapshot() };
    let rows: Vec<_> = segments(t, false)
        .into_iter()
        .map(|s| {
            let (mut versions, mut visible, mut bytes, mut pages) = (0i64, 0i64, 0i64, 1i64);
            for &(logical, p) in &s.blocks {
                pages += (p != NO_BLOCK) as i64;
                let Some(block) = store::read_block(t, logical, Lock::Share) else { continue };
                // SAFETY: the current memory context lives as long as the call.
                rows::for_each(t, logical, &block, unsafe { pg_sys::CurrentMemoryContext }, None, super::group::Columns::All, |_, c, b| {
                    versions += 1;
                    if s.group.is_none() {
                        bytes += c.header_bytes().len() as i64 + unsafe { (*c.0).t_len as i64 - tuple::XACT_FIELDS.end as i64 };
                    }
                    visible += tuple::visible(&c, snapshot, b) as i64;
                    c.free();
                });
            }
            let kind = match s.group {
                Some(g) => {
                    bytes = g.stream_len as i64;
                    pages += g.data_pages as i64;
                    "row group"
                }
                None if s.stamp.is_some() => "reserved",
                None => "delta segment",
            };
            (kind.to_string(), s.entry.first_row as i64, s.entry.rows as i64, pages, versions, visible, bytes)
        })
        .collect();
    TableIterator::new(rows)
}

/// Describes the columns of each row group: kind, bytes of the chunk, NULLs, and how many of
/// its vectors use each encoding.
#[pg_extern(volatile, parallel_safe)]
fn columnar_column_stats(
    table: PgRelation,
) -> TableIterator<'static, (name!(first_row, i64), name!(attnum, i32), name!(kind, String), name!(bytes, i64), name!(nulls, i64), name!(encodings, String))> {
    require_columnar(&table, "described");
    let t = table.as_ptr();
    let mut out = Vec::new();
    for s in segments(t, false) {
        if s.group.is_none() {
            continue;
        }
        let sb = Buf::read(t, s.entry.page, Lock::Share);
        let g = group::load(t, &sb);
        drop(sb);
        for c in 0..g.stored_columns() {
            let (kind, bytes, nulls, tags) = g.column_stats(t, c);
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for tag in tags {
                let name = columnar_core::encode::encoding_name(tag);
                match counts.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, k)) => *k += 1,
                    None => counts.push((name, 1)),
                }
            }
            let encodings = counts.iter().map(|(n, k)| format!("{n} {k}")).collect::<Vec<_>>().join(", ");
            out.push((s.entry.first_row as i64, c as i32 + 1, format!("{kind:?}").to_lowercase(), bytes as i64, nulls as i64, encodings));
        }
    }
    TableIterator::new(out)
}

/// Verifies every invariant of a columnar table's pages; true, or ERROR XX002 naming the block
/// and the first violation. Takes AccessShareLock (writers go on: the checks hold per page).
#[pg_extern(volatile, parallel_unsafe)]
fn columnar_check(table: PgRelation) -> bool {
    require_columnar(&table, "checked");
    let t = table.as_ptr();
    let nblocks = rel::main_fork_blocks(t);
    // Which page each block is, as the structure references it.
    let mut referenced = vec![false; nblocks as usize];
    if nblocks > 0 {
        referenced[meta::BLOCK as usize] = true;
        let b = Buf::read(t, meta::BLOCK, Lock::Share);
        let m = meta::Meta::read(b.content_of(PageKind::Meta));
        let mut blk = m.map_first;
        while blk != NO_BLOCK && (blk as usize) < referenced.len() && !referenced[blk as usize] {
            referenced[blk as usize] = true;
            blk = map::next(Buf::read(t, blk, Lock::Share).content_of(PageKind::Map));
        }
    }
    // SAFETY: an open relation's tuple descriptor.
    let natts = unsafe { (*(*t).rd_att).natts } as usize;
    let mut pending_pages = std::collections::HashSet::new();
    for s in segments(t, true) {
        pending_pages.extend(s.pending.iter().flat_map(|p| p.data_blocks()));
        let claim = |r: &mut Vec<bool>, blk: u32, what: &str| {
            if blk as usize >= r.len() {
                violation(t, blk, &format!("{what} is past the end of the file ({nblocks} blocks)"));
            }
            if std::mem::replace(&mut r[blk as usize], true) {
                violation(t, blk, &format!("{what} is referenced twice"));
            }
        };
        claim(&mut referenced, s.entry.page, "segment page");
        if let (Some(stamp), None) = (s.stamp, s.group) {
            // SAFETY: a plain clog lookup.
            if unsafe { pg_sys::TransactionIdDidCommit(tuple::xid(stamp.xmin)) } {
                violation(t, s.entry.page, &format!("the rows of the range reserved by transaction {}, which committed, were never written", stamp.xmin));
            }
        }
        if let Some(g) = s.group {
            for blk in g.data_blocks() {
                claim(&mut referenced, blk, &format!("data page of the row group from logical block {}", g.first_block));
            }
            let sb = Buf::read(t, s.entry.page, Lock::Share);
            group::load(t, &sb).check(t).unwrap_or_else(|why| violation(t, s.entry.page, &why));
        }
        let mut chains = Vec::new();
        for &(logical, p) in &s.blocks {
            if p != NO_BLOCK {
                let b = Buf::read(t, p, Lock::Share);
                if s.group.is_some() && store::is_delta_of(&b, logical) {
                    // Left by a crash in the middle of a fold: freed by the next VACUUM.
                    drop(b);
                    claim(&mut referenced, p, &format!("the former delta page of logical block {logical}"));
                    continue;
                }
                claim(&mut referenced, p, &format!("the delta page of logical block {logical}"));
                let expected = if s.group.is_some() { store::is_overlay_of(&b, logical) } else { store::is_delta_of(&b, logical) };
                if !expected {
                    violation(t, p, &format!("page of logical block {} (flags {:?}) mapped as logical block {logical}", page::owner(&b), Special::read(b.special()).map(|s| s.flags)));
                }
                let c = b.content_of(PageKind::Delta);
                delta::check(c).unwrap_or_else(|why| violation(t, p, &why));
                for slot in 0..delta::slot_count(c) {
                    if let Some(data) = tuple::tuple_bytes(&b, slot) {
                        check_tuple(data, natts).unwrap_or_else(|why| violation(t, p, &format!("slot {slot}: {why}")));
                    }
                }
            }
            let Some(block) = store::read_block(t, logical, Lock::Share) else { continue };
            // SAFETY: the current memory context lives as long as the call; each copy is a
            // checked row of the table.
            rows::for_each(t, logical, &block, unsafe { pg_sys::CurrentMemoryContext }, None, super::group::Columns::All, |_, copy, _| {
                chains.extend(unsafe { super::toast::chains_in(t, copy.0) });
                copy.free();
            });
        }
        for (first, len) in chains {
            let mut blk = first;
            let mut pages = 0;
            while blk != NO_BLOCK {
                pages += 1;
                if pages > columnar_core::value::pages_for(len) {
                    violation(t, first, &format!("the value chain from block {first} is longer than its {len} bytes need"));
                }
                claim(&mut referenced, blk, &format!("value page of the chain from block {first}"));
                let vb = Buf::read(t, blk, Lock::Share);
                blk = columnar_core::value::next(vb.content_of(PageKind::Value));
            }
        }
    }
    for (blk, seen) in referenced.iter().enumerate() {
        if !seen {
            // A page nothing references is free, or was added by an extension that failed
            // before its WAL record (all zeroes), or holds a value whose row was never written
            // (an insert that failed after storing it), or data of a group being written, or
            // whose writing a crash or an error interrupted (pending in its segment page, freed
            // by the next VACUUM).
            let b = Buf::read(t, blk as u32, Lock::Share);
            let pending = !b.is_new() && pending_pages.contains(&(blk as u32)) && b.kind() == PageKind::Data;
            if !b.is_new() && !pending && !matches!(b.kind(), PageKind::Free | PageKind::Value) {
                violation(t, blk as u32, &format!("a {:?} page that nothing references", b.kind()));
            }
        }
    }
    true
}

/// The invariants of a stored heap-format tuple: its header fits, its attributes are no more
/// than the table's, and its infomask is a combination heap can produce.
fn check_tuple(data: &[u8], natts: usize) -> Result<(), String> {
    let infomask2 = u16::from_ne_bytes([data[18], data[19]]);
    let infomask = u16::from_ne_bytes([data[20], data[21]]) as u32;
    let hoff = data[22] as usize;
    if hoff < tuple::HEADER_SIZE || hoff > data.len() || hoff % 8 != 0 {
        return Err(format!("header of {hoff} bytes in a tuple of {}", data.len()));
    }
    let atts = (infomask2 as u32 & pg_sys::HEAP_NATTS_MASK) as usize;
    if atts > natts {
        return Err(format!("{atts} attributes in a table of {natts}"));
    }
    if infomask & pg_sys::HEAP_XMAX_COMMITTED != 0 && infomask & pg_sys::HEAP_XMAX_INVALID != 0 {
        return Err("xmax both committed and invalid".into());
    }
    Ok(())
}

// Like amcheck's functions, these read every page of the table: only roles granted them may
// run them.
extension_sql!(
    "REVOKE ALL ON FUNCTION columnar_check(regclass) FROM PUBLIC;\nREVOKE ALL ON FUNCTION columnar_stats(regclass) FROM PUBLIC;\nREVOKE ALL ON FUNCTION columnar_column_stats(regclass) FROM PUBLIC;\n",
    name = "revoke_columnar_inspection",
    requires = [columnar_check, columnar_stats, columnar_column_stats]
);
