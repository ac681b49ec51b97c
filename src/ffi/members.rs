//! `hearsay_members` (a snapshot of a pool's membership) and
//! `hearsay_member` (one member, borrowed from a snapshot or an event).

use std::ffi::{c_char, CString};

use super::cast::{free_boxed, Castable, OwnershipBox, OwnershipRef};
use crate::runtime::{MemberInfo, MemberStatus};

/// A member's status (Serf's vocabulary).
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hearsay_status {
    /// Not a status: returned for a NULL member.
    None = 0,
    /// Alive (or suspected but not yet declared failed).
    Alive = 1,
    /// Announced its leave, not yet gone.
    Leaving = 2,
    /// Left gracefully.
    Left = 3,
    /// Declared failed by the failure detector.
    Failed = 4,
}

impl From<MemberStatus> for hearsay_status {
    fn from(status: MemberStatus) -> Self {
        match status {
            MemberStatus::Alive => hearsay_status::Alive,
            MemberStatus::Leaving => hearsay_status::Leaving,
            MemberStatus::Left => hearsay_status::Left,
            MemberStatus::Failed => hearsay_status::Failed,
        }
    }
}

/// One member as a snapshot or an event saw it. Never created or freed on
/// its own: it is borrowed from the `hearsay_members` or `hearsay_event` it
/// came from and lives exactly as long. Immutable, so any number of threads
/// may read it at once.
#[allow(non_camel_case_types)]
pub struct hearsay_member {
    name: CString,
    addr: CString,
    status: hearsay_status,
    incarnation: u32,
    /// Sorted by key.
    tags: Vec<(CString, CString)>,
}

impl Castable for hearsay_member {
    type Ownership = OwnershipRef;
}

/// A C string from text that came from the network: an interior NUL (which
/// C cannot hold) becomes U+FFFD.
fn c_text(text: &str) -> CString {
    if text.as_bytes().contains(&0) {
        return CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default();
    }
    // One allocation, with room for the terminating NUL.
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    CString::new(bytes).unwrap_or_default()
}

/// An address as a C string, formatted straight into its one allocation.
fn c_addr(addr: &std::net::SocketAddr) -> CString {
    use std::io::Write;
    let mut bytes = Vec::with_capacity(48);
    let _ = write!(bytes, "{addr}");
    CString::new(bytes).unwrap_or_default()
}

impl hearsay_member {
    pub(crate) fn of(info: &MemberInfo) -> hearsay_member {
        hearsay_member {
            name: c_text(&info.name),
            addr: c_addr(&info.addr),
            status: info.status.into(),
            incarnation: info.incarnation,
            tags: info
                .tags
                .iter()
                .map(|(k, v)| (c_text(k), c_text(v)))
                .collect(),
        }
    }
}

/// A snapshot of a pool's members (the local node included), taken by
/// `hearsay_pool_members` and freed with `hearsay_members_free`. It does not
/// change after it was taken. Immutable, so any number of threads may read
/// it at once; it must not be freed while another thread reads it.
#[allow(non_camel_case_types)]
pub struct hearsay_members {
    members: Vec<hearsay_member>,
}

impl Castable for hearsay_members {
    type Ownership = OwnershipBox;
}

impl hearsay_members {
    pub(crate) fn of(infos: &[MemberInfo]) -> hearsay_members {
        hearsay_members {
            members: infos.iter().map(hearsay_member::of).collect(),
        }
    }
}

/// The number of members in the snapshot; 0 for NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_members_count(m: *const hearsay_members) -> usize {
    ffi_boundary! {
        try_ref!(m).members.len()
    }
}

/// The member at index `i` (0 to count - 1), or NULL past the end or for a
/// NULL `m` (with a last error).
///
/// The member is borrowed from the snapshot: valid until
/// `hearsay_members_free(m)`, never freed on its own. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_members_get(
    m: *const hearsay_members,
    i: usize,
) -> *const hearsay_member {
    ffi_boundary! {
        let m = try_ref!(m);
        match m.members.get(i) {
            Some(member) => member as *const hearsay_member,
            None => {
                super::error::set_last_error(format!(
                    "index {i} is past the end of a snapshot of {} members",
                    m.members.len()
                ));
                std::ptr::null()
            }
        }
    }
}

/// Frees a snapshot and every member and string borrowed from it. NULL does
/// nothing. The caller must not use `m`, its members or their strings
/// afterwards.
#[no_mangle]
pub extern "C" fn hearsay_members_free(m: *mut hearsay_members) {
    ffi_boundary! {
        // SAFETY: the header requires `m` to be NULL or a snapshot from
        // hearsay_pool_members that is not used any more.
        unsafe { free_boxed(m) }
    }
}

/// The member's node name; NULL for a NULL `m`.
///
/// Borrowed: valid as long as the member (until its snapshot or event is
/// freed); do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_member_name(m: *const hearsay_member) -> *const c_char {
    ffi_boundary! {
        try_ref!(m).name.as_ptr()
    }
}

/// The member's advertised address, "ip:port" ("[v6]:port" for IPv6); NULL
/// for a NULL `m`.
///
/// Borrowed: valid as long as the member; do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_member_addr(m: *const hearsay_member) -> *const c_char {
    ffi_boundary! {
        try_ref!(m).addr.as_ptr()
    }
}

/// The member's status (`HEARSAY_STATUS_ALIVE` = 1, `_LEAVING` = 2,
/// `_LEFT` = 3, `_FAILED` = 4); `HEARSAY_STATUS_NONE` (0) for a NULL `m`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_member_status(m: *const hearsay_member) -> hearsay_status {
    ffi_boundary! {
        try_ref!(m).status
    }
}

/// The member's incarnation number (how many times it refuted a suspicion
/// or changed its tags); 0 for a NULL `m`. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_member_incarnation(m: *const hearsay_member) -> u32 {
    ffi_boundary! {
        try_ref!(m).incarnation
    }
}

/// The value of the member's tag `key`, or NULL if it has no such tag.
/// Also NULL (with a last error) for a NULL `m` or `key` or a `key` that is
/// not UTF-8.
///
/// `key` is only read during the call. The value is borrowed: valid as long
/// as the member; do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_member_tag(
    m: *const hearsay_member,
    key: *const c_char,
) -> *const c_char {
    ffi_boundary! {
        let m = try_ref!(m);
        let key = try_cstr!(key);
        m.tags
            .iter()
            .find(|(k, _)| k.as_bytes() == key.as_bytes())
            .map_or(std::ptr::null(), |(_, v)| v.as_ptr())
    }
}

/// The number of the member's tags; 0 for a NULL `m`. With
/// `hearsay_member_tag_key` and `hearsay_member_tag_value` it lists them in
/// key order. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_member_tags_count(m: *const hearsay_member) -> usize {
    ffi_boundary! {
        try_ref!(m).tags.len()
    }
}

/// The key of the member's tag at index `i` (0 to tags count - 1, in key
/// order), or NULL past the end or for a NULL `m`.
///
/// Borrowed: valid as long as the member; do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_member_tag_key(m: *const hearsay_member, i: usize) -> *const c_char {
    ffi_boundary! {
        let m = try_ref!(m);
        match m.tags.get(i) {
            Some((k, _)) => k.as_ptr(),
            None => past_the_end(i, m.tags.len()),
        }
    }
}

/// The value of the member's tag at index `i` (the one whose key
/// `hearsay_member_tag_key` gives), or NULL past the end or for a NULL `m`.
///
/// Borrowed: valid as long as the member; do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_member_tag_value(m: *const hearsay_member, i: usize) -> *const c_char {
    ffi_boundary! {
        let m = try_ref!(m);
        match m.tags.get(i) {
            Some((_, v)) => v.as_ptr(),
            None => past_the_end(i, m.tags.len()),
        }
    }
}

fn past_the_end(i: usize, len: usize) -> *const c_char {
    super::error::set_last_error(format!("tag index {i} is past the end of {len} tags"));
    std::ptr::null()
}

impl super::panic::Fallback for hearsay_status {
    fn fallback(_: super::error::hearsay_result) -> Self {
        hearsay_status::None
    }
}
