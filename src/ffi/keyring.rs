//! Gossip encryption through the C ABI: keys and security settings of a
//! config, the cluster-wide keyring operations of a pool, and their report.

use std::ffi::{c_char, CString};

use super::cast::{free_boxed, to_boxed_ptr, Castable, OwnershipBox};
use super::config::hearsay_config;
use super::error::{fail, from_runtime, hearsay_result};
use super::pool::hearsay_pool;
use crate::serf::{KeyOp, KeyringReport};
use crate::wire::SecretKey;

/// Adds a gossip encryption key of `len` bytes (16, 24 or 32: AES-128, -192
/// or -256). The first key added is the primary: it encrypts; every key is
/// tried to decrypt. With at least one key the pool encrypts everything it
/// sends and refuses plaintext (see `hearsay_config_set_verify_incoming` and
/// `_outgoing` for a migration). A keyring file, when set and present,
/// replaces these keys.
///
/// NULL `c` or `key` gives `HEARSAY_ERR_NULL_PARAMETER`; another length, or
/// more than 64 keys, `HEARSAY_ERR_INVALID_ARGUMENT`. The bytes are copied.
/// Not thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_add_key(
    c: *mut hearsay_config,
    key: *const u8,
    len: usize,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let bytes = try_slice!(key, len);
        match SecretKey::new(bytes) {
            Ok(key) => add_key(c, key),
            Err(e) => fail(hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT, e.to_string()),
        }
    }
}

/// `hearsay_config_add_key` for a key written in standard base64, as
/// Consul's `encrypt` setting and `consul keygen` write it.
///
/// NULL `c` or `key_base64` gives `HEARSAY_ERR_NULL_PARAMETER`; text that is
/// not base64 of 16, 24 or 32 bytes `HEARSAY_ERR_INVALID_ARGUMENT`. Not
/// thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_add_key_base64(
    c: *mut hearsay_config,
    key_base64: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let text = try_cstr!(key_base64);
        match SecretKey::from_base64(text) {
            Ok(key) => add_key(c, key),
            Err(e) => fail(hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT, e.to_string()),
        }
    }
}

fn add_key(c: &mut hearsay_config, key: SecretKey) -> hearsay_result {
    let keys = &mut c.config.serf.swim.keys;
    if keys.contains(&key) {
        return hearsay_result::HEARSAY_OK;
    }
    if keys.len() >= crate::wire::MAX_KEYS {
        return fail(
            hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
            crate::wire::KeyError::Full.to_string(),
        );
    }
    keys.push(key);
    hearsay_result::HEARSAY_OK
}

/// Sets the keyring file: a JSON array of base64 keys, primary first. When
/// it exists at `hearsay_pool_new` its keys replace those added to the
/// config; when it does not, it is created from them. Every change made by
/// a keyring operation is written to it (atomically, mode 0600). An empty
/// string turns it off (the default).
///
/// NULL `c` or `path` gives `HEARSAY_ERR_NULL_PARAMETER`, invalid UTF-8
/// `HEARSAY_ERR_INVALID_ARGUMENT`. An unreadable file makes
/// `hearsay_pool_new` fail with `HEARSAY_ERR_IO`, an invalid one with
/// `HEARSAY_ERR_INVALID_ARGUMENT` naming the entry at fault. Not
/// thread-safe for the same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_keyring_file(
    c: *mut hearsay_config,
    path: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let path = try_cstr!(path);
        c.config.keyring_file = if path.is_empty() { None } else { Some(path.into()) };
        hearsay_result::HEARSAY_OK
    }
}

/// With keys: whether plaintext packets are refused (default true). Set it
/// false on every node before encryption is turned on across a running
/// pool, and true again once every node sends encrypted (Consul's
/// `encrypt_verify_incoming`).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the
/// same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_verify_incoming(
    c: *mut hearsay_config,
    on: bool,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.verify_incoming = on;
        hearsay_result::HEARSAY_OK
    }
}

/// With keys: whether what is sent is encrypted (default true). False sends
/// plaintext while still accepting encrypted packets: the first step of a
/// migration (Consul's `encrypt_verify_outgoing`).
///
/// NULL `c` gives `HEARSAY_ERR_NULL_PARAMETER`. Not thread-safe for the
/// same config.
#[no_mangle]
pub extern "C" fn hearsay_config_set_verify_outgoing(
    c: *mut hearsay_config,
    on: bool,
) -> hearsay_result {
    ffi_boundary! {
        try_mut!(c).config.serf.swim.verify_outgoing = on;
        hearsay_result::HEARSAY_OK
    }
}

/// Accepts packets and streams only from this network ("10.0.0.0/8",
/// "::1/128"; a plain address means that host alone), and members only at
/// addresses in it. Call once per network; with none (the default) every
/// source is accepted. Refused packets are counted in
/// `hearsay_stats.dropped_source`.
///
/// NULL `c` or `cidr` gives `HEARSAY_ERR_NULL_PARAMETER`, text that is not
/// a network `HEARSAY_ERR_INVALID_ARGUMENT`. Not thread-safe for the same
/// config.
#[no_mangle]
pub extern "C" fn hearsay_config_add_allowed_cidr(
    c: *mut hearsay_config,
    cidr: *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let c = try_mut!(c);
        let text = try_cstr!(cidr);
        match crate::runtime::parse_cidr(text) {
            Ok(net) => {
                c.config.serf.swim.allowed_cidrs.push(net);
                hearsay_result::HEARSAY_OK
            }
            Err(e) => from_runtime(e),
        }
    }
}

/// Changes, on this node only, whether plaintext is refused and whether what
/// is sent is encrypted (see `hearsay_config_set_verify_incoming`): the
/// steps of a rolling migration to encryption without restarting pools.
///
/// NULL `p` gives `HEARSAY_ERR_NULL_PARAMETER`, a stopped pool
/// `HEARSAY_ERR_CLOSED`. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_set_encryption_policy(
    p: *const hearsay_pool,
    verify_incoming: bool,
    verify_outgoing: bool,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        match p.pool.set_encryption_policy(verify_incoming, verify_outgoing) {
            Ok(()) => hearsay_result::HEARSAY_OK,
            Err(e) => from_runtime(e),
        }
    }
}

/// What a keyring operation found across the pool. Read it with the
/// `hearsay_keyring_report_*` calls; its strings live until
/// `hearsay_keyring_report_free`. Immutable: any thread may read it.
#[allow(non_camel_case_types)]
pub struct hearsay_keyring_report {
    members: usize,
    responses: usize,
    errors: Vec<(CString, CString)>,
    /// Key (base64), members holding it, members using it as primary.
    keys: Vec<(CString, usize, usize)>,
}

impl Castable for hearsay_keyring_report {
    type Ownership = OwnershipBox;
}

fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).expect("invariant: NULs were replaced")
}

impl hearsay_keyring_report {
    fn of(report: &KeyringReport) -> hearsay_keyring_report {
        hearsay_keyring_report {
            members: report.members,
            responses: report.responses,
            errors: report
                .errors
                .iter()
                .map(|(node, message)| (c_string(node), c_string(message)))
                .collect(),
            keys: report
                .keys
                .iter()
                .map(|(key, &holders)| {
                    let primary = report.primary_keys.get(key).copied().unwrap_or(0);
                    (c_string(key), holders, primary)
                })
                .collect(),
        }
    }
}

fn keyring_op(
    p: *const hearsay_pool,
    op: KeyOp,
    key_base64: *const c_char,
    out: *mut *mut hearsay_keyring_report,
) -> hearsay_result {
    let p = try_ref!(p);
    let out = try_out!(out);
    let key = if op == KeyOp::List {
        None
    } else {
        let text = try_cstr!(key_base64);
        match SecretKey::from_base64(text) {
            Ok(key) => Some(key),
            Err(e) => return fail(hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT, e.to_string()),
        }
    };
    match p.pool.keyring_op(op, key.as_ref()) {
        Ok(report) => {
            out.write(to_boxed_ptr(hearsay_keyring_report::of(&report)));
            hearsay_result::HEARSAY_OK
        }
        Err(e) => from_runtime(e),
    }
}

/// Installs a key (standard base64) on every member, as an internal query,
/// and waits until every alive member answered or the query timed out.
/// Each member's failure is in the report: `HEARSAY_OK` only means the
/// operation ran. Rotate a key in three steps, each only once the one
/// before succeeded on every member: install, use, remove.
///
/// On success writes a report to `*out` (free it with
/// `hearsay_keyring_report_free`). NULL `p`, `key_base64` or `out` gives
/// `HEARSAY_ERR_NULL_PARAMETER`; a key that is not base64 of 16, 24 or 32
/// bytes `HEARSAY_ERR_INVALID_ARGUMENT`; a stopped pool
/// `HEARSAY_ERR_CLOSED`. Blocks for up to the query timeout. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_keyring_install(
    p: *const hearsay_pool,
    key_base64: *const c_char,
    out: *mut *mut hearsay_keyring_report,
) -> hearsay_result {
    ffi_boundary! { keyring_op(p, KeyOp::Install, key_base64, out) }
}

/// Makes an installed key (standard base64) the primary on every member;
/// as `hearsay_pool_keyring_install`. Members that lack the key report it.
#[no_mangle]
pub extern "C" fn hearsay_pool_keyring_use(
    p: *const hearsay_pool,
    key_base64: *const c_char,
    out: *mut *mut hearsay_keyring_report,
) -> hearsay_result {
    ffi_boundary! { keyring_op(p, KeyOp::Use, key_base64, out) }
}

/// Removes a key (standard base64) from every member; as
/// `hearsay_pool_keyring_install`. The local primary key is refused at
/// once with `HEARSAY_ERR_INVALID_ARGUMENT`; members whose primary it is
/// refuse it in the report.
#[no_mangle]
pub extern "C" fn hearsay_pool_keyring_remove(
    p: *const hearsay_pool,
    key_base64: *const c_char,
    out: *mut *mut hearsay_keyring_report,
) -> hearsay_result {
    ffi_boundary! { keyring_op(p, KeyOp::Remove, key_base64, out) }
}

/// Lists the keys of every member: the report gives each key and how many
/// members hold it and use it as primary; as `hearsay_pool_keyring_install`
/// otherwise (without a key).
#[no_mangle]
pub extern "C" fn hearsay_pool_keyring_list(
    p: *const hearsay_pool,
    out: *mut *mut hearsay_keyring_report,
) -> hearsay_result {
    ffi_boundary! { keyring_op(p, KeyOp::List, std::ptr::null(), out) }
}

/// Alive members when the operation started, the local node included.
/// 0 for NULL.
#[no_mangle]
pub extern "C" fn hearsay_keyring_report_members(r: *const hearsay_keyring_report) -> usize {
    ffi_boundary! { try_ref!(r).members }
}

/// Members that answered. 0 for NULL.
#[no_mangle]
pub extern "C" fn hearsay_keyring_report_responses(r: *const hearsay_keyring_report) -> usize {
    ffi_boundary! { try_ref!(r).responses }
}

/// Members that answered with a failure. 0 for NULL.
#[no_mangle]
pub extern "C" fn hearsay_keyring_report_error_count(r: *const hearsay_keyring_report) -> usize {
    ffi_boundary! { try_ref!(r).errors.len() }
}

/// The `i`th failure: the member's name and its message, borrowed from the
/// report. NULL `r`, `node` or `message` gives `HEARSAY_ERR_NULL_PARAMETER`;
/// `i` past the end `HEARSAY_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn hearsay_keyring_report_error(
    r: *const hearsay_keyring_report,
    i: usize,
    node: *mut *const c_char,
    message: *mut *const c_char,
) -> hearsay_result {
    ffi_boundary! {
        let r = try_ref!(r);
        let node = try_out!(node);
        let message = try_out!(message);
        match r.errors.get(i) {
            Some((n, m)) => {
                node.write(n.as_ptr());
                message.write(m.as_ptr());
                hearsay_result::HEARSAY_OK
            }
            None => fail(
                hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
                format!("failure {i} of {}", r.errors.len()),
            ),
        }
    }
}

/// Keys the members reported (list only; 0 otherwise or for NULL).
#[no_mangle]
pub extern "C" fn hearsay_keyring_report_key_count(r: *const hearsay_keyring_report) -> usize {
    ffi_boundary! { try_ref!(r).keys.len() }
}

/// The `i`th key (standard base64, borrowed from the report), how many
/// members hold it and how many use it as their primary. NULL `r`, `key`,
/// `holders` or `primary_of` gives `HEARSAY_ERR_NULL_PARAMETER`; `i` past
/// the end `HEARSAY_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn hearsay_keyring_report_key(
    r: *const hearsay_keyring_report,
    i: usize,
    key: *mut *const c_char,
    holders: *mut usize,
    primary_of: *mut usize,
) -> hearsay_result {
    ffi_boundary! {
        let r = try_ref!(r);
        let key = try_out!(key);
        let holders = try_out!(holders);
        let primary_of = try_out!(primary_of);
        match r.keys.get(i) {
            Some((k, h, p)) => {
                key.write(k.as_ptr());
                holders.write(*h);
                primary_of.write(*p);
                hearsay_result::HEARSAY_OK
            }
            None => fail(
                hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
                format!("key {i} of {}", r.keys.len()),
            ),
        }
    }
}

/// Frees a report and the strings borrowed from it. NULL does nothing.
#[no_mangle]
pub extern "C" fn hearsay_keyring_report_free(r: *mut hearsay_keyring_report) {
    ffi_boundary! {
        // SAFETY: the header requires `r` to be NULL or a report from a
        // keyring call, not used after this.
        unsafe { free_boxed(r) }
    }
}
