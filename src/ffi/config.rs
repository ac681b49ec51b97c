//! `hearsay_config`: the settings of a pool, built before `hearsay_pool_new`.
//!
//! Setters check what one value alone can tell (UTF-8, address syntax,
//! overflow); ranges and relations between settings (e.g. probe timeout
//! below probe interval) are checked by `hearsay_config_validate` and again
//! by `hearsay_pool_new`, so setters can be called in any order.

use std::ffi::c_char;
use std::net::SocketAddr;
use std::time::Duration;

use super::cast::{free_boxed, to_boxed_ptr, Castable, OwnershipBox};
use super::error::{fail, from_runtime, hearsay_result};
use crate::runtime::PoolConfig;
use crate::swim::Profile;

/// Named starting points for a config: memberlist's published defaults.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hearsay_profile {
    /// A datacenter network: probe 1 s / 500 ms, gossip 200 ms to 3 nodes,
    /// suspicion ×4, retransmit ×4, 3 indirect checks, push-pull 30 s, TCP 10 s.
    Lan = 0,
    /// Across datacenters: probe 5 s / 3 s, gossip 500 ms to 4 nodes,
    /// suspicion ×6, push-pull 60 s, TCP 30 s.
    Wan = 1,
    /// One host or a fast, reliable network: probe 1 s / 200 ms, gossip
    /// 100 ms to 3 nodes, suspicion ×3, retransmit ×2, 1 indirect check,
    /// push-pull 15 s, TCP 1 s.
    Local = 2,
}

/// The raw integer a C caller passes where the header says
/// `hearsay_profile`: any value may arrive, so it is not read as the enum.
/// cbindgen:no-export
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct RawProfile(pub i32);

/// The settings of one pool. Create with `hearsay_config_new`, change with
/// the `hearsay_config_set_*` calls, pass to `hearsay_pool_new` (which
/// copies it; the config can be reused or freed right after), free with
/// `hearsay_config_free`.
///
/// Not thread-safe: a config must not be changed by one thread while
/// another thread uses it. Reading it from several threads at once (e.g.
/// several `hearsay_pool_new` calls) is fine.
#[allow(non_camel_case_types)]
pub struct hearsay_config {
    pub(crate) config: PoolConfig,
}

impl Castable for hearsay_config {
    type Ownership = OwnershipBox;
}

/// Creates a config with the defaults of `profile`
/// (`HEARSAY_PROFILE_LAN` = 0, `HEARSAY_PROFILE_WAN` = 1,
/// `HEARSAY_PROFILE_LOCAL` = 2), the host name as node name, bound to
/// 127.0.0.1 on a free port, no tags, no label.
///
/// On success writes a new config to `*out`; the caller owns it and frees it
/// with `hearsay_config_free`. `out` must not be NULL. Another profile
/// number gives `HEARSAY_ERR_INVALID_ARGUMENT`. On error `*out` is
/// untouched. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_config_new(
    profile: RawProfile,
    out: *mut *mut hearsay_config,
) -> hearsay_result {
    ffi_boundary! {
        let out = try_out!(out);
        let profile = match profile.0 {
            0 => Profile::Lan,
            1 => Profile::Wan,
            2 => Profile::Local,
            other => {
                return fail(
                    hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
                    format!("profile {other} is not one of HEARSAY_PROFILE_LAN (0), _WAN (1), _LOCAL (2)"),
                )
            }
        };
        out.write(to_boxed_ptr(hearsay_config {
            config: PoolConfig::new(profile),
        }));
        hearsay_result::HEARSAY_OK
    }
}

/// Frees a config. NULL does nothing. Pools created from it are not
/// affected (they hold a copy).
#[no_mangle]
pub extern "C" fn hearsay_config_free(c: *mut hearsay_config) {
    ffi_boundary! {
        // SAFETY: the header requires `c` to be NULL or a config from
        // hearsay_config_new that is not used any more.
        unsafe { free_boxed(c) }
    }
}

/// Checks every setting, as `hearsay_pool_new` will.
///
/// Returns `HEARSAY_OK`, or `HEARSAY_ERR_INVALID_ARGUMENT` with a last error
/// that names the setting to fix and its valid range. `c` must not be
/// NULL. Does not change `c`. Thread-safe as long as no thread changes `c`.
#[no_mangle]
pub extern "C" fn hearsay_config_validate(c: *const hearsay_config) -> hearsay_result {
    ffi_boundary! {
        let c = try_ref!(c);
        match c.config.validate() {
            Ok(()) => hearsay_result::HEARSAY_OK,
            Err(e) => from_runtime(e),
        }
    }
}

fn parse_addr(text: &str, what: &str) -> Result<SocketAddr, hearsay_result> {
    text.parse::<SocketAddr>().map_err(|_| {
        fail(
            hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
            format!(
                "{what} '{text}' is not an address: use ip:port, e.g. 127.0.0.1:7946 or [::1]:7946"
            ),
        )
    })
}

/// Sets the node name: unique in the pool, 1 to 128 bytes of UTF-8
/// (checked by `hearsay_pool_new`). Default: the host name.
///
/// `name` is copied; it is only read during the call. NULL `c` or `name`
/// gives `HEARSAY_ERR_NULL_PARAMETER`, invalid UTF-8
/// `HEARSAY_ERR_INVALID_ARGUMENT`; on error `c` is unchanged. Not
/// thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_node_name(
    c: *mut hearsay_config,
    name: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let name = try_cstr!(name);
        c.config.node_name = name.to_owned();
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the address to bind UDP and TCP on, "ip:port" (IPv6 as
/// "[::1]:7946"). Port 0 picks a free port (see `hearsay_pool_local_addr`).
/// Default "127.0.0.1:0". Binding an unspecified IP (0.0.0.0 or ::) needs an
/// advertise address too.
///
/// `ip_port` is copied. NULL `c` or `ip_port` gives
/// `HEARSAY_ERR_NULL_PARAMETER`; text that is not an IP address and port
/// (host names are not resolved here) gives
/// `HEARSAY_ERR_INVALID_ARGUMENT`; on error `c` is unchanged. Not
/// thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_bind_addr(
    c: *mut hearsay_config,
    ip_port: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let text = try_cstr!(ip_port);
        match parse_addr(text, "bind address") {
            Ok(addr) => {
                c.config.bind_addr = addr;
                hearsay_result::HEARSAY_OK
            }
            Err(code) => code,
        }
    }
}

/// Sets the address other members reach this node at, "ip:port"; the empty
/// string "" clears it (the bound address is advertised then).
///
/// `ip_port` is copied. NULL `c` or `ip_port` gives
/// `HEARSAY_ERR_NULL_PARAMETER`; a malformed address
/// `HEARSAY_ERR_INVALID_ARGUMENT`; on error `c` is unchanged. Not
/// thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_advertise_addr(
    c: *mut hearsay_config,
    ip_port: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let text = try_cstr!(ip_port);
        if text.is_empty() {
            c.config.advertise_addr = None;
            return hearsay_result::HEARSAY_OK;
        }
        match parse_addr(text, "advertise address") {
            Ok(addr) => {
                c.config.advertise_addr = Some(addr);
                hearsay_result::HEARSAY_OK
            }
            Err(code) => code,
        }
    }
}

/// Sets a tag (replacing any value of the same key). Tags travel as node
/// meta: their encoded size must fit `max_meta_size` (checked by
/// `hearsay_pool_new`).
///
/// `key` and `value` are copied. NULL `c`, `key` or `value` gives
/// `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8 or an empty key
/// `HEARSAY_ERR_INVALID_ARGUMENT`; on error `c` is unchanged. Not
/// thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_tag(
    c: *mut hearsay_config,
    key: *const c_char,
    value: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let key = try_cstr!(key);
        let value = try_cstr!(value);
        if key.is_empty() {
            return fail(hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT, "tag key is empty");
        }
        c.config.tags.insert(key.to_owned(), value.to_owned());
        hearsay_result::HEARSAY_OK
    }
}

/// Removes a tag; a key that is not set is not an error.
///
/// `key` is only read during the call. NULL `c` or `key` gives
/// `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8
/// `HEARSAY_ERR_INVALID_ARGUMENT`. Not thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_remove_tag(
    c: *mut hearsay_config,
    key: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let key = try_cstr!(key);
        c.config.tags.remove(key);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the label stamped on every packet. Pools sharing one port must have
/// distinct labels; packets with another label are dropped. 1 to 255 bytes;
/// the empty string "" clears it (no label, the default). Members of one
/// pool must all use the same label.
///
/// `label` is copied. NULL `c` or `label` gives
/// `HEARSAY_ERR_NULL_PARAMETER`; invalid UTF-8 or more than 255 bytes
/// `HEARSAY_ERR_INVALID_ARGUMENT`; on error `c` is unchanged. Not
/// thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_label(
    c: *mut hearsay_config,
    label: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let label = try_cstr!(label);
        if label.len() > crate::wire::MAX_LABEL_LEN {
            return fail(
                hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
                format!("invalid label: must be 1 to {} bytes", crate::wire::MAX_LABEL_LEN),
            );
        }
        c.config.serf.swim.label = if label.is_empty() { None } else { Some(label.to_owned()) };
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many events a pool keeps waiting for `hearsay_pool_next_event`;
/// beyond it the oldest is dropped (and counted, see
/// `hearsay_pool_events_dropped`). 1 to 1048576, default 4096 (checked by
/// `hearsay_pool_new`).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the same
/// config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_event_queue_depth(
    c: *mut hearsay_config,
    depth: u32,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        c.config.event_queue_depth = to_usize(depth);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many inbound TCP streams (joins, push-pulls, fallback probes)
/// the pool's address serves at once; further connections are closed at
/// once and counted in `hearsay_stats.streams_refused`. Each holds its slot
/// at most the TCP timeout. Pools sharing an address use the value of the
/// pool that bound it. 1 to 65536, default 128.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`; the range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`). Not thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_concurrent_streams(
    c: *mut hearsay_config,
    n: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.max_concurrent_streams = to_usize(n);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many received datagrams wait for the pool at most; beyond it
/// new ones are dropped and counted in `hearsay_stats.dropped_overload`.
/// 1 to 1048576, default 1024.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`; the range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`). Not thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_inbound_packet_queue(
    c: *mut hearsay_config,
    depth: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.inbound_packet_queue = to_usize(depth);
        hearsay_result::HEARSAY_OK
    }
}

fn to_usize(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn millis(value: u32) -> Duration {
    Duration::from_millis(u64::from(value))
}

// One setter per protocol knob of `swim::Config`, written out (cbindgen
// does not expand macros). Ranges are checked by `validate`.

/// Sets the time between probes of one member, in milliseconds (at
/// least 1). Lower detects failures sooner and costs more traffic.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_probe_interval_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.probe_interval = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how long to wait for a direct ack before asking others to
/// probe, in milliseconds: above 0 and below the probe interval; near
/// the 99th percentile of round-trip time.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_probe_timeout_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.probe_timeout = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the time between gossip rounds, in milliseconds (at least 1).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_gossip_interval_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.gossip_interval = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many members each gossip round goes to (1 to 64).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_gossip_nodes(
    c: *mut hearsay_config,
    n: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.gossip_nodes = to_usize(n);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the suspicion multiplier: the shortest suspicion timeout is
/// `suspicion_mult × max(1, log10 n) × probe interval` (1 to 100).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_suspicion_mult(
    c: *mut hearsay_config,
    n: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.suspicion_mult = n;
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many times longer than the shortest the suspicion timeout
/// starts before independent confirmations shrink it (Lifeguard; 1 to 100).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_suspicion_max_timeout_mult(
    c: *mut hearsay_config,
    n: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.suspicion_max_timeout_mult = n;
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the retransmit multiplier: each broadcast is sent
/// `retransmit_mult × ceil(log10(n + 1))` times (1 to 100).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_retransmit_mult(
    c: *mut hearsay_config,
    n: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.retransmit_mult = n;
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many members are asked to probe indirectly when a direct
/// probe fails (0 to 16).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_indirect_checks(
    c: *mut hearsay_config,
    n: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.indirect_checks = to_usize(n);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the time between full state exchanges with one random member, in
/// milliseconds; 0 turns them off.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_push_pull_interval_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.push_pull_interval = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the deadline of a TCP exchange (join, push-pull, fallback
/// probe), in milliseconds (at least 1). A join waits at most this long.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_tcp_timeout_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.tcp_timeout = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how long dead members still receive gossip (so they can learn
/// of it and refute), in milliseconds.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_gossip_to_the_dead_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.gossip_to_the_dead_time = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets after how long a dead member's name may be taken over from a
/// new address, in milliseconds; 0 means never (the default).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_dead_node_reclaim_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.dead_node_reclaim_time = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the most the probe interval and timeout are scaled by when the
/// node doubts its own health (Lifeguard local health; 1 to 64).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_awareness_max_multiplier(
    c: *mut hearsay_config,
    n: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.awareness_max_multiplier = n;
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the largest UDP payload sent, in bytes (512 to 65000).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_packet_size(
    c: *mut hearsay_config,
    bytes: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.max_packet_size = to_usize(bytes);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the largest node meta (encoded tags), in bytes; it must fit a
/// packet together with the rest of an alive message.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_meta_size(
    c: *mut hearsay_config,
    bytes: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.max_meta_size = to_usize(bytes);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the largest TCP frame accepted, in bytes (64 KiB to 1 GiB).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_stream_size(
    c: *mut hearsay_config,
    bytes: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.max_stream_size = to_usize(bytes);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the most members accepted from one push-pull (at least 1).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_push_pull_members(
    c: *mut hearsay_config,
    n: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.max_push_pull_members = to_usize(n);
        hearsay_result::HEARSAY_OK
    }
}

/// Turns Lifeguard's local health score on (default) or off.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the same
/// config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_local_health(
    c: *mut hearsay_config,
    on: bool,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.local_health = on;
        hearsay_result::HEARSAY_OK
    }
}

/// Turns Lifeguard's suspicion that starts long and shrinks with
/// independent confirmations on (default) or off (fixed timeout).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the same
/// config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_suspicion_confirmations(
    c: *mut hearsay_config,
    on: bool,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.suspicion_confirmations = on;
        hearsay_result::HEARSAY_OK
    }
}

/// Turns nacks in indirect probes (Lifeguard) on (default) or off.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the same
/// config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_nacks(c: *mut hearsay_config, on: bool) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.nacks = on;
        hearsay_result::HEARSAY_OK
    }
}

/// Turns the TCP retry of a failed UDP probe on (default) or off.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the same
/// config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_tcp_fallback_probe(
    c: *mut hearsay_config,
    on: bool,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.tcp_fallback_probe = on;
        hearsay_result::HEARSAY_OK
    }
}

// One setter per knob of the Serf layer (`serf::SerfConfig`). Ranges are
// checked by `validate`.

/// Sets how often failed and left members are checked for reaping (being
/// forgotten after the reconnect or tombstone timeout), in milliseconds
/// (above 0; default 15000).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_reap_interval_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.reap_interval = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how often failed members are tried again, in milliseconds (above
/// 0; default 30000): each interval, the pool as a whole makes about one
/// join attempt to the last address of a failed member.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_reconnect_interval_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.reconnect_interval = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how long a failed member is kept (and retried) before it is reaped
/// (`HEARSAY_EVENT_MEMBER_REAP`), in milliseconds (above 0; default 24 h,
/// the most a `uint32_t` of milliseconds holds is about 49 days).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_reconnect_timeout_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.reconnect_timeout = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how long a member that left is kept before it is reaped
/// (`HEARSAY_EVENT_MEMBER_REAP`), in milliseconds (above 0; default 24 h).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_tombstone_timeout_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.tombstone_timeout = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the largest encoded user event this node sends, in bytes (16 to
/// max packet size − 64; default 512). `hearsay_pool_send_event` refuses
/// larger events with `HEARSAY_ERR_INVALID_ARGUMENT`.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_user_event_size(
    c: *mut hearsay_config,
    bytes: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.max_user_event_size = to_usize(bytes);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the largest response payload this node sends with
/// `hearsay_pool_respond`, in bytes (16 to max packet size − 64; default
/// 1024). Larger responses are refused with
/// `HEARSAY_ERR_INVALID_ARGUMENT`.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_query_response_size(
    c: *mut hearsay_config,
    bytes: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.max_query_response_size = to_usize(bytes);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the multiplier of the default query timeout: gossip interval ×
/// `mult` × ceil(log10(members + 1)) (at least 1; default 16). Used by
/// queries whose parameters set no timeout.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_query_timeout_mult(
    c: *mut hearsay_config,
    mult: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.query_timeout_mult = mult;
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the coalescing period of user events sent with `coalesce`, in
/// milliseconds: of the events of one name received within it, only the
/// latest is delivered, at most this long after the first. 0 (the default)
/// turns coalescing off; above 0 needs a quiescent period above 0 too.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The relation is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_coalesce_period_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.coalesce_period = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the quiescent period of coalescing, in milliseconds: a batch of
/// coalesced events is also delivered once none arrived for this long
/// (default 0; must be above 0 when the coalescing period is).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. The relation is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_quiescent_period_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.quiescent_period = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Turns on (default) or off the settling of name conflicts about the
/// local node by a vote of the members. Conflicts are reported as
/// `HEARSAY_EVENT_NAME_CONFLICT` either way.
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the same
/// config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_resolve_name_conflicts(
    c: *mut hearsay_config,
    on: bool,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.resolve_name_conflicts = on;
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the snapshot file: membership and clocks are appended to it, and a
/// pool started with it restores its clocks, replays no old user event and
/// rejoins the members it lists (see docs/ABI.md). An empty string turns it
/// off (the default). The file is created with mode 0600.
///
/// NULL `c` or `path` gives `HEARSAY_ERR_NULL_PARAMETER`, invalid UTF-8
/// `HEARSAY_ERR_INVALID_ARGUMENT`. An unreadable file makes
/// `hearsay_pool_new` fail with `HEARSAY_ERR_IO`. Not thread-safe for the
/// same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_snapshot_path(
    c: *mut hearsay_config,
    path: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let path = try_cstr!(path);
        c.config.snapshot_path = if path.is_empty() { None } else { Some(path.into()) };
        hearsay_result::HEARSAY_OK
    }
}

/// Sets the largest encoded query this node sends, in bytes (16 to max
/// packet size − 64; default 1024).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`; the range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_query_size(
    c: *mut hearsay_config,
    value: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.max_query_size = to_usize(value);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many messages each gossip queue holds at most; beyond it the
/// most-sent are dropped (at least 16; default 1024).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`; the range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_broadcast_queue(
    c: *mut hearsay_config,
    value: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.max_broadcast_queue = to_usize(value);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many Lamport times of user events are remembered to deliver
/// each once (16 to 65536; default 512).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`; the range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_event_buffer(
    c: *mut hearsay_config,
    value: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.event_buffer = to_usize(value);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many Lamport times of queries are remembered to handle each
/// once (16 to 65536; default 512).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`; the range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_query_buffer(
    c: *mut hearsay_config,
    value: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.query_buffer = to_usize(value);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many intents about not-yet-known members are kept (at least
/// 1; default 4096).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`; the range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_intents(
    c: *mut hearsay_config,
    value: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.max_intents = to_usize(value);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many queries of this node may be pending at once (at least
/// 1; default 1024).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`; the range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_pending_queries(
    c: *mut hearsay_config,
    value: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.max_pending_queries = to_usize(value);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many distinct user events, and how many distinct queries, are
/// remembered for one Lamport time; more at that time are dropped and
/// counted in `hearsay_stats.dedup_full` (1 to 65536; default 64).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`; the range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_per_ltime(
    c: *mut hearsay_config,
    value: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.max_per_ltime = to_usize(value);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how many acks, and how many responses, one query of this node
/// accepts at most; it never accepts more than the members known when it
/// started. Beyond it they are dropped and counted in
/// `hearsay_stats.query_replies_dropped` (at least 1; default 65536).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`; the range is checked by
/// `hearsay_config_validate` and `hearsay_pool_new`
/// (`HEARSAY_ERR_INVALID_ARGUMENT`, naming the setting). Not thread-safe for
/// the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_max_query_responses(
    c: *mut hearsay_config,
    value: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.max_query_responses = to_usize(value);
        hearsay_result::HEARSAY_OK
    }
}

/// Sets how long intents about not-yet-known members are kept, in
/// milliseconds (default 300000).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the same
/// config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_recent_intent_timeout_ms(
    c: *mut hearsay_config,
    ms: u32,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.recent_intent_timeout = millis(ms);
        hearsay_result::HEARSAY_OK
    }
}

/// Turns network coordinates (Vivaldi, carried on probe acks) on or off
/// (default on).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the same
/// config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_coordinates(
    c: *mut hearsay_config,
    on: bool,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.coordinates = on.then(crate::coord::CoordConfig::default);
        hearsay_result::HEARSAY_OK
    }
}
