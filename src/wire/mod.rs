//! Wire format: message types, CBOR encoding and packet framing.
//!
//! This module is pure: no I/O, no clock, no randomness (nonces are drawn
//! by the caller). Every length and
//! count read off the wire is bounded before it is used and decoding never
//! panics; callers count the errors. `docs/PROTOCOL.md` is the specification
//! and `tests/vectors/` holds golden bytes for it.

mod codec;
mod crypto;
mod messages;
pub mod serf;

pub use codec::{
    decode_body, decode_message, decode_packet, decode_stream_frame, encode_message, encode_packet,
    encode_stream_frame, header_len, is_broadcast, split_body, DecodeError, Packet, PacketHeader,
    COMPOUND_PER_MESSAGE_OVERHEAD, FLAG_COMPOUND, FLAG_ENCRYPTED, FLAG_LABEL, MAGIC,
    MAX_COMPOUND_MESSAGES, MAX_LABEL_LEN, PACKET_HEADER_MIN_LEN,
};
pub use crypto::{
    format_keyring_file, open_body, parse_keyring_file, seal_packet, KeyError, Keyring, OpenError,
    SecretKey, ENCRYPTION_OVERHEAD, MAX_KEYRING_FILE_LEN, MAX_KEYS, NONCE_LEN, TAG_LEN,
};
pub use messages::{
    Ack, Alive, Dead, IndirectPing, MemberState, Message, Nack, Ping, PushNode, PushPull, Suspect,
    User, WireAddr, MAX_NAME_LEN,
};

/// The protocol version this build speaks by default and writes in headers.
pub const PROTOCOL_VERSION: u8 = 1;
/// The oldest protocol version this build can understand.
pub const PROTOCOL_VERSION_MIN: u8 = 1;
/// The newest protocol version this build can understand.
pub const PROTOCOL_VERSION_MAX: u8 = 1;
