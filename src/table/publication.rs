//! Logical replication: logical decoding cannot see rows written with generic WAL or full-page
//! images, so a columnar table is never published. A publication that names one, and a SET
//! ACCESS METHOD columnar of a published table, are refused by a utility hook; a change to a
//! columnar table that a publication covers anyway (FOR ALL TABLES, TABLES IN SCHEMA, created
//! later) or that is a user catalog table fails when wal_level is logical.

use pgrx::pg_sys;
use pgrx::prelude::*;

const HINT: &str = "Leave the table out of the publication (a FOR ALL TABLES or TABLES IN SCHEMA publication covers it too), or store it with heap: ALTER TABLE ... SET ACCESS METHOD heap.";

fn refuse(name: &str) -> ! {
    crate::error::raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("columnar table \"{name}\" cannot be published by logical replication"), Some(HINT))
}

/// Fails a change to `rel` that a publication would publish.
pub(crate) fn refuse_if_published(rel: pg_sys::Relation) {
    // SAFETY: reads wal_level.
    let logical = unsafe { pg_sys::wal_level >= pg_sys::WalLevel::WAL_LEVEL_LOGICAL as i32 };
    if !logical {
        return;
    }
    if is_published(rel) {
        refuse(&crate::storage::rel::name(rel));
    }
    // SAFETY: an open table's options are StdRdOptions (or none).
    let catalog = unsafe { !(*rel).rd_options.is_null() && (*((*rel).rd_options as *const pg_sys::StdRdOptions)).user_catalog_table };
    if catalog {
        crate::error::raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("columnar table \"{}\" cannot be a user catalog table", crate::storage::rel::name(rel)),
            Some("Logical decoding cannot read columnar tables: RESET (user_catalog_table), or store the table with heap."),
        );
    }
}

/// Whether a publication covers `rel` (by name, FOR ALL TABLES or TABLES IN SCHEMA).
fn is_published(rel: pg_sys::Relation) -> bool {
    // SAFETY: RelationBuildPublicationDesc fills the descriptor from the relation's cached
    // publication info (computed once per relcache entry).
    unsafe {
        let mut desc: pg_sys::PublicationDesc = std::mem::zeroed();
        pg_sys::RelationBuildPublicationDesc(rel, &mut desc);
        let a = desc.pubactions;
        a.pubinsert || a.pubupdate || a.pubdelete || a.pubtruncate
    }
}

/// Calls `f` with the relation `rv` names, if it exists: looked up without a lock (the
/// statement locks it afterwards), its relcache entry closed again.
///
/// # Safety
/// `rv` is a RangeVar from a parse tree.
unsafe fn with_named<T>(rv: *mut pg_sys::RangeVar, f: impl FnOnce(pg_sys::Relation) -> T) -> Option<T> {
    // SAFETY: per the contract; RelationIdGetRelation returns an open relcache entry or null.
    unsafe {
        let relid = pg_sys::RangeVarGetRelidExtended(rv, pg_sys::NoLock as i32, pg_sys::RVROption::RVR_MISSING_OK, None, std::ptr::null_mut());
        if relid == pg_sys::InvalidOid {
            return None;
        }
        let rel = pg_sys::RelationIdGetRelation(relid);
        if rel.is_null() {
            return None;
        }
        let out = f(rel);
        pg_sys::RelationClose(rel);
        Some(out)
    }
}

/// Refuses `ALTER TABLE ... SET ACCESS METHOD columnar` on a table a publication covers.
///
/// # Safety
/// `stmt` is an AlterTableStmt from a parse tree.
unsafe fn check_set_access_method(stmt: *mut pg_sys::AlterTableStmt) {
    // SAFETY: per the contract; the relation is looked up by with_named.
    unsafe {
        let cmds = (*stmt).cmds;
        let n = if cmds.is_null() { 0 } else { (*cmds).length };
        let to_columnar = (0..n).any(|i| {
            let cmd = pg_sys::list_nth(cmds, i) as *mut pg_sys::AlterTableCmd;
            (*cmd).subtype == pg_sys::AlterTableType::AT_SetAccessMethod
                && !(*cmd).name.is_null()
                && std::ffi::CStr::from_ptr((*cmd).name).to_bytes() == b"columnar"
        });
        if !to_columnar || (*stmt).relation.is_null() {
            return;
        }
        let published = with_named((*stmt).relation, is_published).unwrap_or(false);
        if published {
            crate::error::raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("table \"{}\" is published by logical replication and cannot become a columnar table", std::ffi::CStr::from_ptr((*(*stmt).relation).relname).to_string_lossy()),
                Some("Logical decoding cannot read columnar tables: leave the table out of every publication first."),
            );
        }
    }
}

/// Refuses the tables of a CREATE or ALTER PUBLICATION's object list that are columnar.
///
/// # Safety
/// `objects` is a List of PublicationObjSpec nodes from a parse tree.
unsafe fn check_objects(objects: *mut pg_sys::List) {
    // SAFETY: per the contract; the relations are looked up by with_named.
    unsafe {
        let am = pg_sys::get_am_oid(c"columnar".as_ptr(), true);
        let n = if objects.is_null() { 0 } else { (*objects).length };
        for i in 0..n {
            let spec = pg_sys::list_nth(objects, i) as *mut pg_sys::PublicationObjSpec;
            if (*spec).pubobjtype != pg_sys::PublicationObjSpecType::PUBLICATIONOBJ_TABLE || (*spec).pubtable.is_null() {
                continue;
            }
            let rv = (*(*spec).pubtable).relation;
            if am != pg_sys::InvalidOid && with_named(rv, |rel| (*(*rel).rd_rel).relam == am) == Some(true) {
                refuse(&std::ffi::CStr::from_ptr((*rv).relname).to_string_lossy());
            }
        }
    }
}

static mut PREVIOUS: pg_sys::ProcessUtility_hook_type = None;

unsafe extern "C-unwind" {
    // The standard function, bound without pgrx's guard: an ERROR of the statement must reach
    // PostgreSQL as it was raised (hint, position, table and schema fields intact), not be
    // caught and raised again at a Rust frame.
    #[link_name = "standard_ProcessUtility"]
    fn standard_process_utility(
        pstmt: *mut pg_sys::PlannedStmt,
        query: *const std::ffi::c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );
}

/// Refuses a CREATE or ALTER PUBLICATION that names a columnar table, and a SET ACCESS METHOD
/// columnar of a published table.
#[pg_guard]
unsafe extern "C-unwind" fn check_statement(pstmt: *mut pg_sys::PlannedStmt) {
    // SAFETY: a planned utility statement; its node is read by its tag.
    unsafe {
        let node = (*pstmt).utilityStmt;
        if node.is_null() {
            return;
        }
        match (*node).type_ {
            pg_sys::NodeTag::T_CreatePublicationStmt => check_objects((*(node as *mut pg_sys::CreatePublicationStmt)).pubobjects),
            pg_sys::NodeTag::T_AlterTableStmt => check_set_access_method(node as *mut pg_sys::AlterTableStmt),
            pg_sys::NodeTag::T_AlterPublicationStmt => {
                let stmt = node as *mut pg_sys::AlterPublicationStmt;
                if (*stmt).action != pg_sys::AlterPublicationAction::AP_DropObjects {
                    check_objects((*stmt).pubobjects);
                }
            }
            _ => {}
        }
    }
}

/// The utility hook. It holds nothing that needs dropping, so an ERROR of the statement
/// unwinds through it as through C code.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: the arguments are PostgreSQL's, passed on unchanged to the previous hook or the
    // standard function.
    unsafe {
        check_statement(pstmt);
        match PREVIOUS {
            Some(previous) => previous(pstmt, query, read_only_tree, context, params, env, dest, qc),
            None => standard_process_utility(pstmt, query, read_only_tree, context, params, env, dest, qc),
        }
    }
}

pub fn init() {
    // SAFETY: called once from _PG_init, before any statement runs; the previous hook is kept
    // and called.
    unsafe {
        PREVIOUS = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}
