//! `hearsay_members` (a snapshot of a pool's membership) and
//! `hearsay_member` (one member, borrowed from a snapshot or an event).

use std::ffi::c_char;
use std::sync::Arc;

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
    /// Every string of the snapshot (or event), NUL-terminated, shared by
    /// its members: one allocation for all of them.
    text: Arc<[u8]>,
    name: u32,
    addr: u32,
    status: hearsay_status,
    incarnation: u32,
    /// Offsets of keys and values, sorted by key.
    tags: Vec<(u32, u32)>,
}

impl Castable for hearsay_member {
    type Ownership = OwnershipRef;
}

/// Collects NUL-terminated strings into one buffer.
#[derive(Default)]
struct TextBuilder {
    bytes: Vec<u8>,
}

impl TextBuilder {
    /// Appends text that came from the network: an interior NUL (which C
    /// cannot hold) becomes U+FFFD. Returns its offset.
    fn text(&mut self, text: &str) -> u32 {
        let at = self.bytes.len() as u32;
        if text.as_bytes().contains(&0) {
            self.bytes
                .extend_from_slice(text.replace('\0', "\u{FFFD}").as_bytes());
        } else {
            self.bytes.extend_from_slice(text.as_bytes());
        }
        self.bytes.push(0);
        at
    }

    /// Appends an address as "ip:port". Returns its offset.
    fn addr(&mut self, addr: &std::net::SocketAddr) -> u32 {
        use std::io::Write;
        let at = self.bytes.len() as u32;
        let _ = write!(self.bytes, "{addr}");
        self.bytes.push(0);
        at
    }
}

/// A member's strings, as offsets into the shared text.
struct Offsets {
    name: u32,
    addr: u32,
    tags: Vec<(u32, u32)>,
}

impl Offsets {
    fn of(info: &MemberInfo, text: &mut TextBuilder) -> Offsets {
        Offsets {
            name: text.text(&info.name),
            addr: text.addr(&info.addr),
            tags: info
                .tags
                .iter()
                .map(|(k, v)| (text.text(k), text.text(v)))
                .collect(),
        }
    }
}

impl hearsay_member {
    pub(crate) fn of(info: &MemberInfo) -> hearsay_member {
        let mut text = TextBuilder::default();
        let offsets = Offsets::of(info, &mut text);
        hearsay_member::with(info, offsets, text.bytes.into())
    }

    fn with(info: &MemberInfo, offsets: Offsets, text: Arc<[u8]>) -> hearsay_member {
        hearsay_member {
            text,
            name: offsets.name,
            addr: offsets.addr,
            status: info.status.into(),
            incarnation: info.incarnation,
            tags: offsets.tags,
        }
    }

    /// The NUL-terminated string at `offset`.
    fn c_str(&self, offset: u32) -> *const c_char {
        self.text[offset as usize..].as_ptr().cast()
    }

    /// The bytes of the string at `offset`, without its NUL.
    fn bytes(&self, offset: u32) -> &[u8] {
        let rest = &self.text[offset as usize..];
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        &rest[..len]
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
        let mut text = TextBuilder::default();
        let offsets: Vec<Offsets> = infos
            .iter()
            .map(|info| Offsets::of(info, &mut text))
            .collect();
        let text: Arc<[u8]> = text.bytes.into();
        hearsay_members {
            members: infos
                .iter()
                .zip(offsets)
                .map(|(info, offsets)| hearsay_member::with(info, offsets, Arc::clone(&text)))
                .collect(),
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
        let m = try_ref!(m);
        m.c_str(m.name)
    }
}

/// The member's advertised address, "ip:port" ("[v6]:port" for IPv6); NULL
/// for a NULL `m`.
///
/// Borrowed: valid as long as the member; do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_member_addr(m: *const hearsay_member) -> *const c_char {
    ffi_boundary! {
        let m = try_ref!(m);
        m.c_str(m.addr)
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
            .find(|(k, _)| m.bytes(*k) == key.as_bytes())
            .map_or(std::ptr::null(), |(_, v)| m.c_str(*v))
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
            Some((k, _)) => m.c_str(*k),
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
            Some((_, v)) => m.c_str(*v),
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
