//! `hearsay_pool`: one gossip membership, and `hearsay_stats`, its counters.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, CString};
use std::sync::Mutex;
use std::time::Duration;

use super::cast::{free_boxed, to_boxed_ptr, Castable, OwnershipBox};
use super::config::hearsay_config;
use super::error::{fail, from_runtime, hearsay_result, wait_from_ms};
use super::event::hearsay_event;
use super::members::hearsay_members;
use super::runtime::hearsay_runtime;
use crate::runtime::{Pool, PoolStats};

/// A pool: one gossip membership on a runtime. Create with
/// `hearsay_pool_new`, free with `hearsay_pool_free`.
///
/// Thread-safe: every call on a pool may be made from any thread at the
/// same time as any other, except `hearsay_pool_free`, which must be the
/// last call on it (no other thread may still be inside a call on it, e.g.
/// blocked in `hearsay_pool_next_event`).
#[allow(non_camel_case_types)]
pub struct hearsay_pool {
    pub(crate) pool: Pool,
    name: CString,
    /// The local node's tags as last set, so that one tag can be changed
    /// without knowing the others. The lock also orders concurrent tag
    /// changes.
    tags: Mutex<BTreeMap<String, String>>,
}

impl Castable for hearsay_pool {
    type Ownership = OwnershipBox;
}

// A pool is shared between C threads: its Rust handle must allow that.
const _: fn() = || {
    fn shared_between_threads<T: Send + Sync>() {}
    shared_between_threads::<hearsay_pool>();
    shared_between_threads::<hearsay_runtime>();
    shared_between_threads::<hearsay_members>();
    shared_between_threads::<hearsay_event>();
};

/// Counters of one pool, filled by `hearsay_pool_stats`.
///
/// Versioned by size: set `size` to `sizeof(hearsay_stats)` before the call.
/// Within one ABI major version fields are only appended, so a caller built
/// against an older header gets the fields it knows and a newer library
/// never writes past `size`; on return `size` holds the bytes written.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct hearsay_stats {
    /// In: `sizeof(hearsay_stats)` as the caller knows it. Out: bytes written.
    pub size: u32,
    /// Lifeguard's local health score (0 is healthy; higher means this node
    /// doubts its own timeliness and probes more slowly).
    pub health_score: u32,
    /// Datagrams received.
    pub packets_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Bytes received (datagrams and TCP).
    pub bytes_in: u64,
    /// Bytes sent (datagrams and TCP).
    pub bytes_out: u64,
    /// TCP frames received.
    pub streams_in: u64,
    /// TCP frames sent.
    pub streams_out: u64,
    /// Dropped: undecodable.
    pub dropped_malformed: u64,
    /// Dropped: a label of no pool on this address.
    pub dropped_label: u64,
    /// Dropped: an unsupported protocol version.
    pub dropped_version: u64,
    /// Dropped: out of bounds or out of place.
    pub dropped_invalid: u64,
    /// Dropped: could not be decrypted.
    pub dropped_decrypt: u64,
    /// Inbound TCP connections refused at the concurrency limit.
    pub streams_refused: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Members alive (suspects included), the local node included.
    pub members_alive: u32,
    /// Members suspected.
    pub members_suspect: u32,
    /// Members leaving.
    pub members_leaving: u32,
    /// Members left.
    pub members_left: u32,
    /// Members failed.
    pub members_failed: u32,
    /// Snapshot records that could not be written.
    pub snapshot_errors: u64,
    /// Broadcasts dropped from a full gossip queue before being sent their
    /// full number of times.
    pub broadcasts_dropped: u64,
    /// Dropped: plaintext while encryption is required.
    pub dropped_plaintext: u64,
    /// Dropped: from a source (or about a member address) outside the
    /// allowed networks.
    pub dropped_source: u64,
    /// Keyring file writes that failed.
    pub keyring_file_errors: u64,
    /// Dropped: the pool's queue of received datagrams
    /// (`hearsay_config_set_inbound_packet_queue`, default 1,024) was full.
    pub dropped_overload: u64,
    /// Broadcasts received again moments after a first copy (gossip's
    /// redundancy, or replays), recognised without being decoded.
    pub duplicates_skipped: u64,
    /// TCP frames refused because their length prefix was above
    /// `max_stream_size`: inbound ones at the pool's address (shared by the
    /// pools on it) and replies to this pool's own exchanges.
    pub streams_oversized: u64,
    /// Intents about unknown members dropped because `max_intents` were
    /// buffered.
    pub intents_dropped: u64,
    /// User events dropped as older than the dedup window (`event_buffer`),
    /// a restored snapshot or an ignore-old join.
    pub events_too_old: u64,
    /// Queries dropped as older than the dedup window (`query_buffer`).
    pub queries_too_old: u64,
    /// Events and queries dropped because `max_per_ltime` were already
    /// remembered for their Lamport time.
    pub dedup_full: u64,
    /// Queries of this node refused at `max_pending_queries`.
    pub queries_refused: u64,
    /// Acks and responses dropped beyond a query's limit
    /// (`max_query_responses`, or the members known when it started).
    pub query_replies_dropped: u64,
}

/// The size of the first layout of `hearsay_stats` (ABI 1.0, up to
/// `members_failed`): the least a caller may pass in `size`. Fields
/// appended since are written only when `size` covers them.
const STATS_SIZE_V1: usize = 136;
/// The size of the second layout (with `snapshot_errors` and
/// `broadcasts_dropped`).
const STATS_SIZE_V2: usize = 152;
/// The size of the third layout (with `dropped_plaintext`,
/// `dropped_source`, `keyring_file_errors`, `dropped_overload` and
/// `duplicates_skipped`).
const STATS_SIZE_V3: usize = 192;
/// The size of the current layout (with `streams_oversized`,
/// `intents_dropped`, `events_too_old`, `queries_too_old`, `dedup_full`,
/// `queries_refused` and `query_replies_dropped`).
const STATS_SIZE_CURRENT: usize = 248;
const _: () = assert!(std::mem::size_of::<hearsay_stats>() == STATS_SIZE_CURRENT);
const _: () = assert!(std::mem::offset_of!(hearsay_stats, snapshot_errors) == STATS_SIZE_V1);
const _: () = assert!(std::mem::offset_of!(hearsay_stats, dropped_plaintext) == STATS_SIZE_V2);
const _: () = assert!(std::mem::offset_of!(hearsay_stats, streams_oversized) == STATS_SIZE_V3);

impl hearsay_stats {
    fn of(s: &PoolStats) -> hearsay_stats {
        hearsay_stats {
            size: 0,
            health_score: s.health_score,
            packets_in: s.packets_in,
            packets_out: s.packets_out,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            streams_in: s.streams_in,
            streams_out: s.streams_out,
            dropped_malformed: s.dropped_malformed,
            dropped_label: s.dropped_label,
            dropped_version: s.dropped_version,
            dropped_invalid: s.dropped_invalid,
            dropped_decrypt: s.dropped_decrypt,
            streams_refused: s.streams_refused,
            events_dropped: s.events_dropped,
            members_alive: s.members_alive,
            members_suspect: s.members_suspect,
            members_leaving: s.members_leaving,
            members_left: s.members_left,
            members_failed: s.members_failed,
            snapshot_errors: s.snapshot_errors,
            broadcasts_dropped: s.broadcasts_dropped,
            dropped_plaintext: s.dropped_plaintext,
            dropped_source: s.dropped_source,
            keyring_file_errors: s.keyring_file_errors,
            dropped_overload: s.dropped_overload,
            duplicates_skipped: s.duplicates_skipped,
            streams_oversized: s.streams_oversized,
            intents_dropped: s.intents_dropped,
            events_too_old: s.events_too_old,
            queries_too_old: s.queries_too_old,
            dedup_full: s.dedup_full,
            queries_refused: s.queries_refused,
            query_replies_dropped: s.query_replies_dropped,
        }
    }
}

/// Creates a pool on `rt` from a copy of `c`: binds UDP and TCP on its bind
/// address and starts it. It knows only itself until `hearsay_pool_join`.
///
/// On success writes the new pool to `*out`; the caller owns it and frees it
/// with `hearsay_pool_free`. NULL `rt`, `c` or `out` gives
/// `HEARSAY_ERR_NULL_PARAMETER`. A setting out of range gives
/// `HEARSAY_ERR_INVALID_ARGUMENT` with a last error naming it; an address
/// taken (by another program, or by a pool of this runtime with the same
/// label) gives `HEARSAY_ERR_ADDR_IN_USE`; a freed runtime
/// `HEARSAY_ERR_CLOSED`. On error `*out` is untouched. `c` is only read
/// during the call. Thread-safe (several threads may create pools on one
/// runtime at once).
#[no_mangle]
pub extern "C" fn hearsay_pool_new(
    rt: *mut hearsay_runtime,
    c: *const hearsay_config,
    out: *mut *mut hearsay_pool,
) -> hearsay_result {
    ffi_boundary! {
        let rt = try_ref!(rt);
        let c = try_ref!(c);
        let out = try_out!(out);
        let config = c.config.clone();
        let tags = config.tags.clone();
        let name = match CString::new(config.node_name.clone()) {
            Ok(name) => name,
            Err(_) => {
                return fail(hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT, "node name contains NUL")
            }
        };
        match rt.runtime.pool(config) {
            Ok(pool) => {
                out.write(to_boxed_ptr(hearsay_pool {
                    pool,
                    name,
                    tags: Mutex::new(tags),
                }));
                hearsay_result::HEARSAY_OK
            }
            Err(e) => from_runtime(e),
        }
    }
}

/// Stops the pool at once, without leaving (the others will detect it as
/// failed; call `hearsay_pool_leave` first to leave gracefully), closes its
/// sockets and event descriptor, and frees it. NULL does nothing.
///
/// Must be the last call on `p`: no other thread may be inside a call on it.
/// Snapshots and events taken from it stay valid until freed.
#[no_mangle]
pub extern "C" fn hearsay_pool_free(p: *mut hearsay_pool) {
    ffi_boundary! {
        // SAFETY: the header requires `p` to be NULL or a pool from
        // hearsay_pool_new that no thread uses any more.
        unsafe { free_boxed(p) }
    }
}

/// Writes the bound address, "ip:port" and a NUL (the port chosen when the
/// config said port 0), into `buf` of `cap` bytes.
///
/// NULL `p` or `buf` gives `HEARSAY_ERR_NULL_PARAMETER`. If the text and its
/// NUL do not fit in `cap` bytes, returns `HEARSAY_ERR_BUFFER_TOO_SMALL` and
/// writes nothing (64 bytes always suffice). Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_local_addr(
    p: *const hearsay_pool,
    buf: *mut c_char,
    cap: usize,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let buf = try_out!(buf);
        let text = p.pool.local_addr().to_string();
        if text.len() + 1 > cap {
            return fail(
                hearsay_result::HEARSAY_ERR_BUFFER_TOO_SMALL,
                format!("the address {text} needs {} bytes, the buffer has {cap}", text.len() + 1),
            );
        }
        let dest = buf.as_ptr().cast::<u8>();
        // SAFETY: the header requires `buf` to be writable for `cap` bytes;
        // text.len() + 1 <= cap was checked, and a Rust String cannot
        // overlap the caller's buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), dest, text.len());
            dest.add(text.len()).write(0);
        }
        hearsay_result::HEARSAY_OK
    }
}

/// The local node's name.
///
/// Borrowed: valid until `hearsay_pool_free(p)`; do not free it. NULL for a
/// NULL `p`. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_node_name(p: *const hearsay_pool) -> *const c_char {
    ffi_boundary! {
        try_ref!(p).name.as_ptr()
    }
}

/// Joins the pool through `n` seed addresses ("ip:port" or "host:port"):
/// a full state exchange over TCP with each, waiting at most the TCP
/// timeout (`hearsay_config_set_tcp_timeout_ms`). User events sent before
/// the join are delivered (see `hearsay_pool_join_ignore_old`).
///
/// On success writes how many seeds answered to `*n_joined` (at least 1
/// when `n` > 0). If none answered, returns `HEARSAY_ERR_IO` and leaves
/// `*n_joined` untouched. `n` = 0 succeeds with 0 (`addrs` may then be
/// NULL). NULL `p`, `n_joined`, `addrs` (with `n` > 0) or any `addrs[i]`
/// gives `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8 or an address that does
/// not parse or resolve gives `HEARSAY_ERR_INVALID_ARGUMENT` (nothing is
/// sent then); a stopped pool `HEARSAY_ERR_CLOSED`. The strings are only
/// read during the call. Blocks the calling thread; thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_join(
    p: *mut hearsay_pool,
    addrs: *const *const c_char,
    n: usize,
    n_joined: *mut usize,
) -> hearsay_result {
    ffi_boundary! {
        join(p, addrs, n, false, n_joined)
    }
}

/// `hearsay_pool_join`, choosing what happens to user events sent before
/// the join: with `ignore_old_events`, this node does not deliver them
/// (only events sent after the join arrive as `HEARSAY_EVENT_USER`);
/// without, it behaves exactly as `hearsay_pool_join`.
///
/// Results, NULL handling and out-parameter as `hearsay_pool_join`: on
/// success `*n_joined` is the number of seeds that answered; none answering
/// gives `HEARSAY_ERR_IO` with `*n_joined` untouched; NULL `p`, `n_joined`,
/// `addrs` (with `n` > 0) or any `addrs[i]` gives
/// `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8 or a bad address
/// `HEARSAY_ERR_INVALID_ARGUMENT`. The strings are only read during the
/// call. Blocks the calling thread; thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_join_ignore_old(
    p: *mut hearsay_pool,
    addrs: *const *const c_char,
    n: usize,
    ignore_old_events: bool,
    n_joined: *mut usize,
) -> hearsay_result {
    ffi_boundary! {
        join(p, addrs, n, ignore_old_events, n_joined)
    }
}

/// The body of both join calls (inside their panic boundary).
fn join(
    p: *mut hearsay_pool,
    addrs: *const *const c_char,
    n: usize,
    ignore_old_events: bool,
    n_joined: *mut usize,
) -> hearsay_result {
    let p = try_ref!(p);
    let items = try_slice!(addrs, n);
    let n_joined = try_out!(n_joined);
    let mut seeds = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        seeds.push(try_cstr!(*item, format!("addrs[{i}]")));
    }
    match p.pool.join_with(&seeds, ignore_old_events) {
        Ok(0) if !seeds.is_empty() => fail(
            hearsay_result::HEARSAY_ERR_IO,
            format!(
                "none of the {} seed addresses answered within the TCP timeout",
                seeds.len()
            ),
        ),
        Ok(joined) => {
            n_joined.write(joined);
            hearsay_result::HEARSAY_OK
        }
        Err(e) => from_runtime(e),
    }
}

/// Broadcasts a user event `name` with `payload` (`len` bytes) to every
/// member, this one included; each member delivers it exactly once, as
/// `HEARSAY_EVENT_USER`. With `coalesce`, members configured to coalesce may
/// deliver only the latest event of this name within their coalescing
/// period.
///
/// The encoded event must fit `max_user_event_size` (512 bytes by default):
/// beyond it, `HEARSAY_ERR_INVALID_ARGUMENT` with the sizes in the message.
/// NULL `p` or `name`, or NULL `payload` with `len` > 0, gives
/// `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8 in `name` or an empty name
/// `HEARSAY_ERR_INVALID_ARGUMENT`; a pool that left `HEARSAY_ERR_CLOSED`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_send_event(
    p: *mut hearsay_pool,
    name: *const c_char,
    payload: *const u8,
    len: usize,
    coalesce: bool,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let name = try_cstr!(name);
        let payload = try_slice!(payload, len);
        match p.pool.send_event(name, payload, coalesce) {
            Ok(()) => hearsay_result::HEARSAY_OK,
            Err(e) => from_runtime(e),
        }
    }
}

/// Answers a query event `e` (of type `HEARSAY_EVENT_QUERY`, pulled from
/// this pool) with `payload` (`len` bytes, at most `max_query_response_size`,
/// 1,024 by default). The response goes straight to the querying node (and
/// through as many relays as it asked for).
///
/// `HEARSAY_ERR_INVALID_ARGUMENT` when `e` is not a query or the payload is
/// too large; `HEARSAY_ERR_TIMEOUT` when the query's deadline has passed.
/// NULL `p` or `e`, or NULL `payload` with `len` > 0, gives
/// `HEARSAY_ERR_NULL_PARAMETER`. The event stays owned by the caller.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_respond(
    p: *mut hearsay_pool,
    e: *const hearsay_event,
    payload: *const u8,
    len: usize,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let e = try_ref!(e);
        let payload = try_slice!(payload, len);
        let Some(query) = &e.query else {
            return fail(
                hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
                "the event is not a query (only HEARSAY_EVENT_QUERY events can be answered)",
            );
        };
        match p.pool.respond(query, payload) {
            Ok(()) => hearsay_result::HEARSAY_OK,
            Err(e) => from_runtime(e),
        }
    }
}

/// Forces the failed member `name` out of the pool: every member then
/// reports it left (`HEARSAY_EVENT_MEMBER_LEAVE`, status `LEFT`). With
/// `prune`, it is also forgotten at once (`HEARSAY_EVENT_MEMBER_REAP`).
///
/// `HEARSAY_ERR_INVALID_ARGUMENT` for an unknown member or the local node.
/// NULL `p` or `name` gives `HEARSAY_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_force_leave(
    p: *mut hearsay_pool,
    name: *const c_char,
    prune: bool,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let name = try_cstr!(name);
        match p.pool.force_leave(name, prune) {
            Ok(()) => hearsay_result::HEARSAY_OK,
            Err(e) => from_runtime(e),
        }
    }
}

/// Leaves the pool gracefully: announces it and waits until the
/// announcement has been gossiped or `timeout_ms` milliseconds passed. The
/// others then report `HEARSAY_EVENT_MEMBER_LEAVE` and status
/// `HEARSAY_STATUS_LEFT`. The pool keeps answering until freed; free it
/// afterwards.
///
/// Returns `HEARSAY_OK`, or `HEARSAY_ERR_TIMEOUT` if the announcement was
/// not fully sent in time (it still spreads), `HEARSAY_ERR_CLOSED` for a
/// stopped pool, `HEARSAY_ERR_NULL_PARAMETER` for a NULL `p`. Blocks the
/// calling thread; thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_leave(p: *mut hearsay_pool, timeout_ms: u32) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        match p.pool.leave(Duration::from_millis(u64::from(timeout_ms))) {
            Ok(()) => hearsay_result::HEARSAY_OK,
            Err(e) => from_runtime(e),
        }
    }
}

/// Takes a snapshot of every member the pool knows, the local node
/// included, with their status, address and tags.
///
/// On success writes the snapshot to `*out`; the caller owns it and frees it
/// with `hearsay_members_free`. NULL `p` or `out` gives
/// `HEARSAY_ERR_NULL_PARAMETER`, a stopped pool `HEARSAY_ERR_CLOSED`; on
/// error `*out` is untouched. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_members(
    p: *const hearsay_pool,
    out: *mut *mut hearsay_members,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let out = try_out!(out);
        match p.pool.members() {
            Ok(infos) => {
                out.write(to_boxed_ptr(hearsay_members::of(&infos)));
                hearsay_result::HEARSAY_OK
            }
            Err(e) => from_runtime(e),
        }
    }
}

/// Takes the oldest waiting event, waiting up to `timeout_ms` milliseconds
/// for one: 0 does not wait, -1 waits until one arrives or the pool stops.
///
/// On success (`HEARSAY_OK`) writes the event to `*out`; the caller owns it
/// and frees it with `hearsay_event_free`. `HEARSAY_EMPTY` (1) means none
/// arrived in time, `HEARSAY_ERR_CLOSED` that the pool stopped and every
/// event was taken; `*out` is untouched then. NULL `p` or `out` gives
/// `HEARSAY_ERR_NULL_PARAMETER`, a timeout below -1
/// `HEARSAY_ERR_INVALID_ARGUMENT`. Thread-safe: several threads may wait at
/// once; each event goes to one of them.
#[no_mangle]
pub extern "C" fn hearsay_pool_next_event(
    p: *mut hearsay_pool,
    timeout_ms: i32,
    out: *mut *mut hearsay_event,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let out = try_out!(out);
        let timeout = match wait_from_ms(timeout_ms, "forever") {
            Ok(timeout) => timeout,
            Err(code) => return code,
        };
        match p.pool.next_event(timeout) {
            Ok(Some(event)) => {
                out.write(to_boxed_ptr(hearsay_event::of(&event)));
                hearsay_result::HEARSAY_OK
            }
            Ok(None) => hearsay_result::HEARSAY_EMPTY,
            Err(e) => from_runtime(e),
        }
    }
}

/// A file descriptor that is readable (for poll, select, epoll) exactly
/// while events are waiting, so an event loop can call
/// `hearsay_pool_next_event(p, 0, &e)` when it is. Do not read, write or
/// close it: it belongs to the pool and is closed by `hearsay_pool_free`.
///
/// Returns -1 for a NULL `p`. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_event_fd(p: *const hearsay_pool) -> c_int {
    ffi_boundary! {
        try_ref!(p).pool.event_fd()
    }
}

/// How many events were dropped because the queue was full
/// (`hearsay_config_set_event_queue_depth`); 0 for a NULL `p`. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_events_dropped(p: *const hearsay_pool) -> u64 {
    ffi_boundary! {
        try_ref!(p).pool.events_dropped()
    }
}

/// Fills `*out` with the pool's counters. Set `out->size` to
/// `sizeof(hearsay_stats)` first (see `hearsay_stats`).
///
/// On success writes at most `out->size` bytes and sets `out->size` to the
/// bytes written. NULL `p` or `out` gives `HEARSAY_ERR_NULL_PARAMETER`; a
/// `size` smaller than the first version of the struct (136 bytes)
/// `HEARSAY_ERR_INVALID_ARGUMENT`; a stopped pool `HEARSAY_ERR_CLOSED`. On
/// error `*out` is untouched. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_stats(
    p: *const hearsay_pool,
    out: *mut hearsay_stats,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let out = try_out!(out);
        // SAFETY: the header requires `out` to point to a hearsay_stats
        // whose `size` the caller set; the field is first, so it is in
        // bounds for any layout of the struct.
        let size = unsafe { std::ptr::addr_of!((*out.as_ptr()).size).read() };
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size < STATS_SIZE_V1 {
            return fail(
                hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
                format!("out->size is {size}: set it to sizeof(hearsay_stats) (at least {STATS_SIZE_V1})"),
            );
        }
        let stats = match p.pool.stats() {
            Ok(stats) => stats,
            Err(e) => return from_runtime(e),
        };
        let written = size.min(std::mem::size_of::<hearsay_stats>());
        let mut ours = hearsay_stats::of(&stats);
        ours.size = u32::try_from(written).expect("invariant: at most the size of hearsay_stats");
        // SAFETY: the caller promised `size` writable bytes at `out`;
        // `written` <= size and <= size_of::<hearsay_stats>(), and `ours` is
        // a local that cannot overlap the caller's struct.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (&ours as *const hearsay_stats).cast::<u8>(),
                out.as_ptr().cast::<u8>(),
                written,
            );
        }
        hearsay_result::HEARSAY_OK
    }
}

impl hearsay_pool {
    /// Applies `change` to a copy of the tags and publishes it; the stored
    /// tags change only if the runtime accepted them.
    fn change_tags(&self, change: impl FnOnce(&mut BTreeMap<String, String>)) -> hearsay_result {
        let mut tags = self.tags.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = tags.clone();
        change(&mut next);
        match self.pool.set_tags(next.clone()) {
            Ok(()) => {
                *tags = next;
                hearsay_result::HEARSAY_OK
            }
            Err(e) => from_runtime(e),
        }
    }
}

/// Sets one of the local node's tags while the pool runs (replacing any
/// value of the same key); every member sees `HEARSAY_EVENT_MEMBER_UPDATE`.
///
/// `key` and `value` are copied. NULL `p`, `key` or `value` gives
/// `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8, an empty key, or tags that no
/// longer fit `max_meta_size` give `HEARSAY_ERR_INVALID_ARGUMENT` and change
/// nothing. Thread-safe (concurrent tag changes apply one after the other).
#[no_mangle]
pub extern "C" fn hearsay_pool_set_tag(
    p: *mut hearsay_pool,
    key: *const c_char,
    value: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let key = try_cstr!(key);
        let value = try_cstr!(value);
        if key.is_empty() {
            return fail(hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT, "tag key is empty");
        }
        p.change_tags(|tags| {
            tags.insert(key.to_owned(), value.to_owned());
        })
    }
}

/// Removes one of the local node's tags while the pool runs; a key that is
/// not set is not an error. Every member sees `HEARSAY_EVENT_MEMBER_UPDATE`.
///
/// `key` is only read during the call. NULL `p` or `key` gives
/// `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8
/// `HEARSAY_ERR_INVALID_ARGUMENT`. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_remove_tag(
    p: *mut hearsay_pool,
    key: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let key = try_cstr!(key);
        p.change_tags(|tags| {
            tags.remove(key);
        })
    }
}

/// Replaces all of the local node's tags while the pool runs with the `n`
/// pairs `keys[i]` = `values[i]` (a later duplicate key wins); every member
/// sees `HEARSAY_EVENT_MEMBER_UPDATE`. `n` = 0 clears them.
///
/// The strings are copied. NULL `p`, or NULL `keys`, `values` or any element
/// with `n` > 0, gives `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8, an empty
/// key or tags that do not fit `max_meta_size` give
/// `HEARSAY_ERR_INVALID_ARGUMENT` and change nothing. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_set_tags(
    p: *mut hearsay_pool,
    keys: *const *const c_char,
    values: *const *const c_char,
    n: usize,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let keys = try_slice!(keys, n);
        let values = try_slice!(values, n);
        let mut tags = BTreeMap::new();
        for (i, (key, value)) in keys.iter().zip(values).enumerate() {
            let key = try_cstr!(*key, format!("keys[{i}]"));
            let value = try_cstr!(*value, format!("values[{i}]"));
            if key.is_empty() {
                return fail(
                    hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
                    format!("keys[{i}] is empty"),
                );
            }
            tags.insert(key.to_owned(), value.to_owned());
        }
        p.change_tags(|current| *current = tags)
    }
}
