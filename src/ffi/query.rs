//! Queries from C: `hearsay_query_params` (what to ask and of whom),
//! `hearsay_query` (one query in flight, started by `hearsay_pool_query`)
//! and `hearsay_query_reply` (one ack or response pulled from it).

use std::ffi::{c_char, CString};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::cast::{free_boxed, to_boxed_ptr, Castable, OwnershipBox};
use super::error::{fail, from_runtime, hearsay_result, wait_from_ms};
use super::pool::hearsay_pool;
use crate::runtime::{QueryReply, QueryStream};
use crate::serf::QueryParams;

/// What a query reply is.
/// cbindgen:prefix-with-name=false
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hearsay_reply_type {
    /// Not a reply type: returned for a NULL reply.
    HEARSAY_REPLY_NONE = 0,
    /// A member received the query (only when acks were requested with
    /// `hearsay_query_params_set_request_ack`). It has no payload.
    HEARSAY_REPLY_ACK = 1,
    /// A member answered with `hearsay_pool_respond`.
    HEARSAY_REPLY_RESPONSE = 2,
}

impl super::panic::Fallback for hearsay_reply_type {
    fn fallback(_: hearsay_result) -> Self {
        hearsay_reply_type::HEARSAY_REPLY_NONE
    }
}

/// The parameters of a query, built before `hearsay_pool_query`: which
/// nodes respond (by name and by tag), whether to ask for acks, how many
/// relays carry each response, and how long to collect. Create with
/// `hearsay_query_params_new`, free with `hearsay_query_params_free`.
///
/// `hearsay_pool_query` copies it: it can be reused or freed right after.
/// Not thread-safe: it must not be changed by one thread while another
/// uses it (reading it from several threads at once is fine).
#[allow(non_camel_case_types)]
pub struct hearsay_query_params {
    params: QueryParams,
}

impl Castable for hearsay_query_params {
    type Ownership = OwnershipBox;
}

/// One query in flight, started by `hearsay_pool_query`. Pull its acks and
/// responses with `hearsay_query_next` until it returns
/// `HEARSAY_ERR_CLOSED`; free it with `hearsay_query_free` (before or after
/// its end, and before or after its pool is freed).
///
/// Thread-safe: every call may be made from any thread at the same time as
/// any other, except `hearsay_query_free`, which must be the last call on
/// it. Several threads may wait in `hearsay_query_next` at once; each reply
/// goes to one of them.
#[allow(non_camel_case_types)]
pub struct hearsay_query {
    /// The stream; its receiver may be used by one thread at a time.
    stream: Mutex<QueryStream>,
    /// The stream's deadline, readable while a thread waits on the stream.
    deadline: Instant,
    /// Whether a thread is reading the stream, so that a waiting thread
    /// can give up at its own timeout instead of queueing on the lock.
    busy: Mutex<bool>,
    turn: Condvar,
}

impl Castable for hearsay_query {
    type Ownership = OwnershipBox;
}

/// One ack or response of a query, taken with `hearsay_query_next`, freed
/// with `hearsay_query_reply_free`; what it lends (sender name, payload)
/// lives until then. Immutable, so any number of threads may read it at
/// once; it must not be freed while another thread reads it.
#[allow(non_camel_case_types)]
pub struct hearsay_query_reply {
    kind: hearsay_reply_type,
    from: CString,
    payload: Vec<u8>,
}

impl Castable for hearsay_query_reply {
    type Ownership = OwnershipBox;
}

// Queries and replies are shared between C threads.
const _: fn() = || {
    fn shared_between_threads<T: Send + Sync>() {}
    shared_between_threads::<hearsay_query>();
    shared_between_threads::<hearsay_query_reply>();
    shared_between_threads::<hearsay_query_params>();
};

/// A C string from text that came from the network: an interior NUL (which
/// C cannot hold) becomes U+FFFD.
fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

impl hearsay_query_reply {
    fn of(reply: QueryReply) -> hearsay_query_reply {
        match reply {
            QueryReply::Ack { from } => hearsay_query_reply {
                kind: hearsay_reply_type::HEARSAY_REPLY_ACK,
                from: c_text(&from),
                payload: Vec::new(),
            },
            QueryReply::Response { from, payload } => hearsay_query_reply {
                kind: hearsay_reply_type::HEARSAY_REPLY_RESPONSE,
                from: c_text(&from),
                payload,
            },
        }
    }
}

/// Holds the reading turn of a query; gives it back when dropped (also
/// when a panic unwinds through the holder).
struct Turn<'a> {
    query: &'a hearsay_query,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *lock(&self.query.busy) = false;
        self.query.turn.notify_one();
    }
}

/// Locks `m`, ignoring poisoning: a panic while it was held left nothing
/// half-changed (the stream and the flag are always consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl hearsay_query {
    /// Waits for the reading turn until `until` (`None`: as long as it
    /// takes); `None` if it did not come in time.
    fn take_turn(&self, until: Option<Instant>) -> Option<Turn<'_>> {
        let mut busy = lock(&self.busy);
        while *busy {
            busy = match until {
                None => self.turn.wait(busy).unwrap_or_else(|e| e.into_inner()),
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.turn
                        .wait_timeout(busy, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        *busy = true;
        Some(Turn { query: self })
    }
}

/// Creates query parameters with the defaults: every member responds, no
/// acks, no relays, the default timeout for the pool size.
///
/// On success writes them to `*out`; the caller owns them and frees them
/// with `hearsay_query_params_free`. NULL `out` gives
/// `HEARSAY_ERR_NULL_PARAMETER` (`*out` is untouched on error).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_query_params_new(out: *mut *mut hearsay_query_params) -> hearsay_result {
    ffi_boundary! {
        let out = try_out!(out);
        out.write(to_boxed_ptr(hearsay_query_params {
            params: QueryParams::default(),
        }));
        hearsay_result::HEARSAY_OK
    }
}

/// Frees query parameters. NULL does nothing. Queries started with them
/// are not affected (they hold a copy).
#[no_mangle]
pub extern "C" fn hearsay_query_params_free(q: *mut hearsay_query_params) {
    ffi_boundary! {
        // SAFETY: the header requires `q` to be NULL or parameters from
        // hearsay_query_params_new that are not used any more.
        unsafe { free_boxed(q) }
    }
}

/// Adds `node` to the nodes that may respond: once any node is added, only
/// the named nodes respond (and acknowledge). Adding a name twice is the
/// same as once.
///
/// `node` is copied. NULL `q` or `node` gives `HEARSAY_ERR_NULL_PARAMETER`;
/// invalid UTF-8, an empty name or one longer than 128 bytes
/// `HEARSAY_ERR_INVALID_ARGUMENT`; on error `q` is unchanged. Not
/// thread-safe for the same parameters.
#[no_mangle]
pub extern "C" fn hearsay_query_params_add_node(
    q: *mut hearsay_query_params,
    node: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let q = try_mut!(q);
        let node = try_cstr!(node);
        if node.is_empty() || node.len() > crate::wire::MAX_NAME_LEN {
            return fail(
                hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
                format!("node name must be 1 to {} bytes", crate::wire::MAX_NAME_LEN),
            );
        }
        if !q.params.filter_nodes.iter().any(|n| n == node) {
            q.params.filter_nodes.push(node.to_owned());
        }
        hearsay_result::HEARSAY_OK
    }
}

/// Restricts the responders to nodes that have tag `tag` with a value
/// matched by the regular expression `regex` (Rust `regex` syntax, not
/// anchored: use `^...$` to match the whole value). Every filter must
/// match; a second filter on the same tag replaces the first.
///
/// `tag` and `regex` are copied. NULL `q`, `tag` or `regex` gives
/// `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8, an empty tag, or a `regex`
/// that does not compile give `HEARSAY_ERR_INVALID_ARGUMENT` (the last
/// error holds the regular expression's error); on error `q` is unchanged.
/// Not thread-safe for the same parameters.
#[no_mangle]
pub extern "C" fn hearsay_query_params_add_tag_filter(
    q: *mut hearsay_query_params,
    tag: *const c_char,
    regex: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let q = try_mut!(q);
        let tag = try_cstr!(tag);
        let pattern = try_cstr!(regex);
        if tag.is_empty() {
            return fail(hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT, "tag is empty");
        }
        if let Err(e) = regex::Regex::new(pattern) {
            return fail(
                hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
                format!("tag filter '{pattern}' is not a regular expression: {e}"),
            );
        }
        q.params.filter_tags.insert(tag.to_owned(), pattern.to_owned());
        hearsay_result::HEARSAY_OK
    }
}

/// Asks every member that receives the query (and passes the filters) to
/// acknowledge it: acks arrive from `hearsay_query_next` as
/// `HEARSAY_REPLY_ACK`, whether or not the member responds. Default off.
///
/// NULL `q` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the
/// same parameters.
#[no_mangle]
pub extern "C" fn hearsay_query_params_set_request_ack(
    q: *mut hearsay_query_params,
    on: bool,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(q).params.request_ack = on;
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many other members each response is also relayed through
/// (0, the default, sends it directly only). Relays make an answer more
/// likely to arrive over a lossy network; duplicates are removed, so each
/// member's response is still delivered once.
///
/// NULL `q` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the
/// same parameters.
#[no_mangle]
pub extern "C" fn hearsay_query_params_set_relay_factor(
    q: *mut hearsay_query_params,
    relay_factor: u8,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(q).params.relay_factor = relay_factor;
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how long the query collects acks and responses, in milliseconds;
/// members refuse to respond after it. 0 (the default) means the default
/// for the pool size: gossip interval × `query_timeout_mult` ×
/// ceil(log10(members + 1)).
///
/// NULL `q` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the
/// same parameters.
#[no_mangle]
pub extern "C" fn hearsay_query_params_set_timeout_ms(
    q: *mut hearsay_query_params,
    timeout_ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(q).params.timeout = match timeout_ms {
            0 => None,
            ms => Some(Duration::from_millis(u64::from(ms))),
        };
        hearsay_result::HEARSAY_OK
    }
}

/// Sends a query `name` with `payload` (`len` bytes) to the members that
/// pass the filters of `params` (NULL: the defaults of
/// `hearsay_query_params_new`), this node included. Each of them gets a
/// `HEARSAY_EVENT_QUERY` event and may answer it with
/// `hearsay_pool_respond`.
///
/// On success writes the query to `*out`; the caller owns it, pulls acks
/// and responses with `hearsay_query_next`, and frees it with
/// `hearsay_query_free`. The encoded query must fit `max_query_size`
/// (1,024 bytes by default). NULL `p`, `name` or `out`, or NULL `payload`
/// with `len` > 0, gives `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8, a
/// name that is empty or longer than 128 bytes, or a query too large gives
/// `HEARSAY_ERR_INVALID_ARGUMENT` (too many queries of this node pending at
/// once too); a stopped pool (its runtime freed) `HEARSAY_ERR_CLOSED`. On
/// error `*out` is untouched. `name`, `payload` and `params` are only read
/// during the call. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_query(
    p: *mut hearsay_pool,
    name: *const c_char,
    payload: *const u8,
    len: usize,
    params: *const hearsay_query_params,
    out: *mut *mut hearsay_query,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let name = try_cstr!(name);
        let payload = try_slice!(payload, len);
        // SAFETY: the header requires `params` to be NULL or live parameters
        // that no thread changes during the call.
        let params = match unsafe { super::cast::try_ref(params) } {
            Some(params) => params.params.clone(),
            None => QueryParams::default(),
        };
        let out = try_out!(out);
        match p.pool.query(name, payload, params) {
            Ok(stream) => {
                out.write(to_boxed_ptr(hearsay_query {
                    deadline: stream.deadline(),
                    stream: Mutex::new(stream),
                    busy: Mutex::new(false),
                    turn: Condvar::new(),
                }));
                hearsay_result::HEARSAY_OK
            }
            Err(e) => from_runtime(e),
        }
    }
}

/// Takes the next ack or response of a query, waiting up to `timeout_ms`
/// milliseconds for one: 0 does not wait, -1 waits until the query's
/// deadline. Replies arrive in the order they were received.
///
/// On success (`HEARSAY_OK`) writes the reply to `*out`; the caller owns it
/// and frees it with `hearsay_query_reply_free`. `HEARSAY_EMPTY` (1) means
/// none arrived in time; `HEARSAY_ERR_CLOSED` that the query is over (its
/// deadline passed, or its pool stopped) and every reply was taken: later
/// calls return it too. `*out` is untouched then. NULL `q` or `out` gives
/// `HEARSAY_ERR_NULL_PARAMETER`, a timeout below -1
/// `HEARSAY_ERR_INVALID_ARGUMENT`. Blocks the calling thread; thread-safe:
/// several threads may wait at once, each reply goes to one of them, and
/// each returns by its own timeout.
#[no_mangle]
pub extern "C" fn hearsay_query_next(
    q: *mut hearsay_query,
    timeout_ms: i32,
    out: *mut *mut hearsay_query_reply,
) -> hearsay_result {
    ffi_boundary! {
        let q = try_ref!(q);
        let out = try_out!(out);
        let timeout = match wait_from_ms(timeout_ms, "until the deadline") {
            Ok(timeout) => timeout,
            Err(code) => return code,
        };
        let start = Instant::now();
        let until = timeout.and_then(|t| start.checked_add(t));
        let Some(_turn) = q.take_turn(until) else {
            return hearsay_result::HEARSAY_EMPTY;
        };
        let left = until.map(|u| u.saturating_duration_since(Instant::now()));
        match lock(&q.stream).next(left) {
            Ok(Some(reply)) => {
                out.write(to_boxed_ptr(hearsay_query_reply::of(reply)));
                hearsay_result::HEARSAY_OK
            }
            Ok(None) => hearsay_result::HEARSAY_EMPTY,
            Err(e) => from_runtime(e),
        }
    }
}

/// How many milliseconds are left until the query's deadline (after which
/// members refuse to respond and `hearsay_query_next` ends with
/// `HEARSAY_ERR_CLOSED`); 0 once it passed, and for a NULL `q`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_query_deadline_ms(q: *const hearsay_query) -> u64 {
    ffi_boundary! {
        let q = try_ref!(q);
        let left = q.deadline.saturating_duration_since(Instant::now());
        u64::try_from(left.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Frees a query. NULL does nothing. Replies not taken yet are dropped;
/// replies already taken stay valid until freed. Must be the last call on
/// `q`: no other thread may be inside a call on it.
#[no_mangle]
pub extern "C" fn hearsay_query_free(q: *mut hearsay_query) {
    ffi_boundary! {
        // SAFETY: the header requires `q` to be NULL or a query from
        // hearsay_pool_query that no thread uses any more.
        unsafe { free_boxed(q) }
    }
}

/// The reply's type: `HEARSAY_REPLY_ACK` (1) or `HEARSAY_REPLY_RESPONSE`
/// (2); `HEARSAY_REPLY_NONE` (0) for a NULL `r`. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_query_reply_type(r: *const hearsay_query_reply) -> hearsay_reply_type {
    ffi_boundary! {
        try_ref!(r).kind
    }
}

/// The name of the member that sent the reply; NULL for a NULL `r`.
///
/// Borrowed from the reply: valid until `hearsay_query_reply_free(r)`; do
/// not free it. The name comes from the network: an interior NUL is shown
/// as U+FFFD. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_query_reply_from(r: *const hearsay_query_reply) -> *const c_char {
    ffi_boundary! {
        try_ref!(r).from.as_ptr()
    }
}

/// The payload of a response, with its length in `*len`. Acks and empty
/// responses have none: NULL, and `*len` is set to 0.
///
/// NULL `r` or `len` returns NULL and leaves `*len` untouched. The bytes
/// are borrowed from the reply: valid until `hearsay_query_reply_free(r)`;
/// do not free them. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_query_reply_payload(
    r: *const hearsay_query_reply,
    len: *mut usize,
) -> *const u8 {
    ffi_boundary! {
        let r = try_ref!(r);
        let len = try_out!(len);
        if r.payload.is_empty() {
            len.write(0);
            std::ptr::null()
        } else {
            len.write(r.payload.len());
            r.payload.as_ptr()
        }
    }
}

/// Frees a reply and what it lends (sender name, payload). NULL does
/// nothing. The caller must not use `r` or anything borrowed from it
/// afterwards.
#[no_mangle]
pub extern "C" fn hearsay_query_reply_free(r: *mut hearsay_query_reply) {
    ffi_boundary! {
        // SAFETY: the header requires `r` to be NULL or a reply from
        // hearsay_query_next that is not used any more.
        unsafe { free_boxed(r) }
    }
}
