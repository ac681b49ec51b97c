//! `hearsay_event`: one event pulled from a pool with
//! `hearsay_pool_next_event`.

use std::ffi::{c_char, CString};

use super::cast::{free_boxed, Castable, OwnershipBox};
use super::members::hearsay_member;
use crate::runtime::PoolEvent;

/// What an event reports.
/// cbindgen:prefix-with-name=false
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hearsay_event_type {
    /// Not an event type: returned for a NULL event.
    HEARSAY_EVENT_NONE = 0,
    /// A member joined (or came back after failing or leaving).
    HEARSAY_EVENT_MEMBER_JOIN = 1,
    /// A member left gracefully.
    HEARSAY_EVENT_MEMBER_LEAVE = 2,
    /// A member was declared failed.
    HEARSAY_EVENT_MEMBER_FAILED = 3,
    /// A member's tags or address changed.
    HEARSAY_EVENT_MEMBER_UPDATE = 4,
    /// A failed or left member was forgotten.
    HEARSAY_EVENT_MEMBER_REAP = 5,
    /// A user event: name and payload.
    HEARSAY_EVENT_USER = 6,
    /// A query: name and payload; answer it with `hearsay_pool_respond`.
    HEARSAY_EVENT_QUERY = 7,
    /// Another node claims a member's name from another address; the name
    /// is the contested name.
    HEARSAY_EVENT_NAME_CONFLICT = 8,
}

impl super::panic::Fallback for hearsay_event_type {
    fn fallback(_: super::error::hearsay_result) -> Self {
        hearsay_event_type::HEARSAY_EVENT_NONE
    }
}

/// One event. Owned by the caller of `hearsay_pool_next_event`, freed with
/// `hearsay_event_free`; what it lends (member, name, payload) lives until
/// then. Immutable, so any number of threads may read it at once; it must
/// not be freed while another thread reads it.
#[allow(non_camel_case_types)]
pub struct hearsay_event {
    kind: hearsay_event_type,
    member: Option<hearsay_member>,
    name: Option<CString>,
    payload: Vec<u8>,
    pub(crate) query: Option<crate::runtime::IncomingQuery>,
    query_from: Option<CString>,
    pub(crate) ltime: u64,
}

impl Castable for hearsay_event {
    type Ownership = OwnershipBox;
}

impl hearsay_event {
    pub(crate) fn of(event: &PoolEvent) -> hearsay_event {
        use hearsay_event_type as T;
        let text = |s: &str| CString::new(s.replace('\0', "")).ok();
        let (kind, name, payload, query, ltime) = match event {
            PoolEvent::MemberJoin(_) => (T::HEARSAY_EVENT_MEMBER_JOIN, None, Vec::new(), None, 0),
            PoolEvent::MemberLeave(_) => (T::HEARSAY_EVENT_MEMBER_LEAVE, None, Vec::new(), None, 0),
            PoolEvent::MemberFailed(_) => {
                (T::HEARSAY_EVENT_MEMBER_FAILED, None, Vec::new(), None, 0)
            }
            PoolEvent::MemberUpdate(_) => {
                (T::HEARSAY_EVENT_MEMBER_UPDATE, None, Vec::new(), None, 0)
            }
            PoolEvent::MemberReap(_) => (T::HEARSAY_EVENT_MEMBER_REAP, None, Vec::new(), None, 0),
            PoolEvent::User {
                ltime,
                name,
                payload,
            } => (
                T::HEARSAY_EVENT_USER,
                text(name),
                payload.clone(),
                None,
                *ltime,
            ),
            PoolEvent::Query(q) => (
                T::HEARSAY_EVENT_QUERY,
                text(&q.name),
                q.payload.clone(),
                Some(q.clone()),
                q.ticket.ltime,
            ),
            PoolEvent::NameConflict { name, .. } => (
                T::HEARSAY_EVENT_NAME_CONFLICT,
                text(name),
                Vec::new(),
                None,
                0,
            ),
        };
        hearsay_event {
            kind,
            member: event.member().map(hearsay_member::of),
            name,
            payload,
            query_from: query.as_ref().and_then(|q| text(&q.ticket.from)),
            query,
            ltime,
        }
    }
}

/// The event's type (`HEARSAY_EVENT_MEMBER_JOIN` = 1, `_MEMBER_LEAVE` = 2,
/// `_MEMBER_FAILED` = 3, `_MEMBER_UPDATE` = 4, `_MEMBER_REAP` = 5,
/// `_USER` = 6, `_QUERY` = 7); `HEARSAY_EVENT_NONE` (0) for a NULL `e`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_event_get_type(e: *const hearsay_event) -> hearsay_event_type {
    ffi_boundary! {
        try_ref!(e).kind
    }
}

/// The member a member event (join, leave, failed, update, reap) is about,
/// as it was when the event happened; NULL for other events or a NULL `e`.
///
/// Borrowed from the event: valid until `hearsay_event_free(e)`, never freed
/// on its own. Read it with the `hearsay_member_*` calls. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_event_member(e: *const hearsay_event) -> *const hearsay_member {
    ffi_boundary! {
        match &try_ref!(e).member {
            Some(member) => member as *const hearsay_member,
            None => std::ptr::null(),
        }
    }
}

/// The name of a user event or query; NULL for member events or a NULL `e`.
///
/// Borrowed from the event: valid until `hearsay_event_free(e)`; do not
/// free it. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_event_name(e: *const hearsay_event) -> *const c_char {
    ffi_boundary! {
        match &try_ref!(e).name {
            Some(name) => name.as_ptr(),
            None => std::ptr::null(),
        }
    }
}

/// The payload of a user event or query, with its length in `*len`.
/// Member events have none: NULL, and `*len` is set to 0.
///
/// NULL `e` or `len` returns NULL and leaves `*len` untouched. The bytes are
/// borrowed from the event: valid until `hearsay_event_free(e)`; do not free
/// them. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_event_payload(e: *const hearsay_event, len: *mut usize) -> *const u8 {
    ffi_boundary! {
        let e = try_ref!(e);
        let len = try_out!(len);
        if e.payload.is_empty() {
            len.write(0);
            std::ptr::null()
        } else {
            len.write(e.payload.len());
            e.payload.as_ptr()
        }
    }
}

/// The Lamport time of a user event or query (0 for other events or a
/// NULL `e`). Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_event_ltime(e: *const hearsay_event) -> u64 {
    ffi_boundary! {
        try_ref!(e).ltime
    }
}

/// The name of the node that sent a query event; NULL for other events or
/// a NULL `e`. Borrowed from the event: valid until `hearsay_event_free(e)`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_event_query_from(e: *const hearsay_event) -> *const c_char {
    ffi_boundary! {
        match &try_ref!(e).query_from {
            Some(from) => from.as_ptr(),
            None => std::ptr::null(),
        }
    }
}

/// Milliseconds left before a query event's deadline (0 once it passed, or
/// for other events and a NULL `e`): answers after it are refused.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_event_query_deadline_ms(e: *const hearsay_event) -> u64 {
    ffi_boundary! {
        match &try_ref!(e).query {
            Some(q) => q
                .deadline()
                .saturating_duration_since(std::time::Instant::now())
                .as_millis()
                .min(u64::MAX as u128) as u64,
            None => 0,
        }
    }
}

/// Frees an event and everything it lends (member, name, payload). NULL does
/// nothing. The caller must not use `e` or anything borrowed from it
/// afterwards.
#[no_mangle]
pub extern "C" fn hearsay_event_free(e: *mut hearsay_event) {
    ffi_boundary! {
        // SAFETY: the header requires `e` to be NULL or an event from
        // hearsay_pool_next_event that is not used any more.
        unsafe { free_boxed(e) }
    }
}
