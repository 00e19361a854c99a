//! Hints for errors that core raises about alex indexes before alex is consulted.

use pgrx::prelude::*;
use std::ffi::CStr;

/// Core refuses a multi-column or INCLUDE index on alex itself, before alex is consulted, with
/// no hint; this hook adds one to those two errors as they are emitted. It is installed when the
/// library loads, which a CREATE INDEX ... USING alex does before that check (core calls the
/// handler first).
pub fn init() {
    // SAFETY: _PG_init runs once per backend, before any error reaches the hook; the hook that
    // was installed before is kept and called after ours.
    unsafe {
        PREVIOUS_EMIT_LOG_HOOK = pg_sys::emit_log_hook;
        pg_sys::emit_log_hook = Some(add_hints);
    }
}

static mut PREVIOUS_EMIT_LOG_HOOK: pg_sys::emit_log_hook_type = None;

/// Runs while an error is reported: it must not raise one, so it only reads and compares.
unsafe extern "C-unwind" fn add_hints(edata: *mut pg_sys::ErrorData) {
    // SAFETY: core passes the error being emitted, valid for the call, whose strings are null or
    // NUL-terminated; the current memory context is the error's own, which frees the copy of
    // the hint with it.
    unsafe {
        let e = &mut *edata;
        if e.hint.is_null() && !e.message_id.is_null() && !e.message.is_null() && names_alex(CStr::from_ptr(e.message).to_bytes()) {
            let hint = match CStr::from_ptr(e.message_id).to_bytes() {
                b"access method \"%s\" does not support multicolumn indexes" => Some(c"An alex index has one key column: create one alex index per column, or a btree index on the columns together."),
                b"access method \"%s\" does not support included columns" => Some(c"Leave out INCLUDE (an index-only scan of an alex index returns its key), or use a btree index."),
                _ => None,
            };
            if let Some(h) = hint {
                e.hint = pg_sys::pstrdup(h.as_ptr());
            }
        }
        if let Some(previous) = PREVIOUS_EMIT_LOG_HOOK {
            previous(edata);
        }
    }
}

/// Whether a message names the access method `alex` (as a word: its quotes vary with the
/// language of the messages).
fn names_alex(message: &[u8]) -> bool {
    let word = |b: Option<&u8>| b.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    (0..message.len().saturating_sub(3)).any(|i| &message[i..i + 4] == b"alex" && !word(i.checked_sub(1).map(|j| &message[j])) && !word(message.get(i + 4)))
}
