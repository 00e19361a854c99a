//! amvalidate (as btvalidate, simplified): checks that an alex operator class and its family
//! hold only what the access method understands: search operators with strategies 1..5 between
//! supported types, support function 1 only, and the complete set for the class's own type.
//! Problems are reported as INFO messages and make the result false. Only the extension's own
//! operator classes pass: alex compares keys by their type's built-in order, not through the
//! class's operators and support function.

use super::keys::KeyType;
use pgrx::pg_sys;
use pgrx::prelude::*;

unsafe fn get_struct<T>(tuple: *const pg_sys::HeapTupleData) -> *const T {
    // SAFETY (caller): `tuple` is a valid catalog tuple of the catalog whose struct is T.
    unsafe { ((*tuple).t_data as *const u8).add((*(*tuple).t_data).t_hoff as usize) as *const T }
}

/// Calls `f` on every tuple of a catcache list search by one key, then releases the list.
unsafe fn for_each_in_list(cache: pg_sys::SysCacheIdentifier::Type, key: pg_sys::Oid, mut f: impl FnMut(*const pg_sys::HeapTupleData)) {
    // SAFETY (caller): `cache` is searched by one OID key; the list is released after use.
    unsafe {
        let list = pg_sys::SearchSysCacheList(cache as i32, 1, pg_sys::Datum::from(key), pg_sys::Datum::from(0), pg_sys::Datum::from(0));
        let members = (*list).members.as_ptr();
        for i in 0..(*list).n_members as usize {
            f(&(**members.add(i)).tuple);
        }
        pg_sys::ReleaseCatCacheList(list);
    }
}

/// Whether operator family `family` is one that the omendb extension created.
fn is_own_family(family: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups by name and OID.
    unsafe {
        let ours = pg_sys::get_extension_oid(c"omendb".as_ptr(), true);
        ours != pg_sys::InvalidOid && pg_sys::getExtensionOfObject(pg_sys::OperatorFamilyRelationId, family) == ours
    }
}

fn family_name(family: pg_sys::Oid) -> String {
    // SAFETY: a catalog lookup by OID; the tuple is released before returning.
    unsafe {
        let tup = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::OPFAMILYOID as i32, pg_sys::Datum::from(family));
        if tup.is_null() {
            error!("cache lookup failed for operator family {family:?}");
        }
        let form = get_struct::<pg_sys::FormData_pg_opfamily>(tup);
        let name = std::ffi::CStr::from_ptr((*form).opfname.data.as_ptr()).to_string_lossy().into_owned();
        pg_sys::ReleaseSysCache(tup);
        name
    }
}

const OWN_CLASSES_HINT: &str = "Use the default operator class of the column's type (int2, int4, int8, float4, float8, date, timestamp or timestamptz): alex orders keys by the type's built-in order.";

/// Refuses to build `index` unless its column's operator class is one of the extension's own: a
/// class with other operators or another comparison function would make alex's answers differ
/// from what the class says.
pub fn require_own_operator_class(index: pg_sys::Relation) {
    // SAFETY: `index` is an open index relation; rd_opfamily has one entry per key column.
    let family = unsafe { *(*index).rd_opfamily };
    if !is_own_family(family) {
        crate::error::raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("alex does not support operator family \"{}\"", family_name(family)),
            Some(OWN_CLASSES_HINT),
        );
    }
}

fn problem(msg: String) {
    ereport!(INFO, PgSqlErrorCode::ERRCODE_INVALID_OBJECT_DEFINITION, msg);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amvalidate(opclassoid: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups by OID; tuples are released before returning.
    unsafe {
        let tup = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::CLAOID as i32, pg_sys::Datum::from(opclassoid));
        if tup.is_null() {
            error!("cache lookup failed for operator class {opclassoid:?}");
        }
        let form = get_struct::<pg_sys::FormData_pg_opclass>(tup);
        let (family, intype) = ((*form).opcfamily, (*form).opcintype);
        let name = std::ffi::CStr::from_ptr((*form).opcname.data.as_ptr()).to_string_lossy().into_owned();
        pg_sys::ReleaseSysCache(tup);

        let mut ok = true;
        if !is_own_family(family) {
            problem(format!("alex operator class \"{name}\" is not one of the omendb extension's own: alex ignores its operators and support function"));
            ok = false;
        }
        if KeyType::from_oid(intype).is_none() {
            problem(format!("alex operator class \"{name}\" is for unsupported type {}", super::keys::type_name(intype)));
            ok = false;
        }
        let mut own_strategies = [false; 6];
        for_each_in_list(pg_sys::SysCacheIdentifier::AMOPSTRATEGY, family, |t| {
            let op = get_struct::<pg_sys::FormData_pg_amop>(t);
            let s = (*op).amopstrategy;
            if !(1..=5).contains(&s) || (*op).amoppurpose != pg_sys::AMOP_SEARCH as std::ffi::c_char {
                problem(format!("alex operator family of \"{name}\" has operator {:?} with invalid strategy {s} or purpose", (*op).amopopr));
                ok = false;
            } else if KeyType::from_oid((*op).amoplefttype).is_none() || KeyType::from_oid((*op).amoprighttype).is_none() {
                problem(format!("alex operator family of \"{name}\" has operator {:?} on unsupported types", (*op).amopopr));
                ok = false;
            } else if (*op).amoplefttype == intype && (*op).amoprighttype == intype {
                own_strategies[s as usize] = true;
            }
        });
        let mut own_proc = false;
        for_each_in_list(pg_sys::SysCacheIdentifier::AMPROCNUM, family, |t| {
            let p = get_struct::<pg_sys::FormData_pg_amproc>(t);
            if (*p).amprocnum != 1 {
                problem(format!("alex operator family of \"{name}\" has support function {:?} with invalid number {}", (*p).amproc, (*p).amprocnum));
                ok = false;
            } else if (*p).amproclefttype == intype && (*p).amprocrighttype == intype {
                own_proc = true;
            }
        });
        if own_strategies[1..].iter().any(|s| !s) {
            problem(format!("alex operator class \"{name}\" lacks some of the operators <, <=, =, >=, >"));
            ok = false;
        }
        if !own_proc {
            problem(format!("alex operator class \"{name}\" lacks support function 1 (the btree comparison function)"));
            ok = false;
        }
        ok
    }
}
