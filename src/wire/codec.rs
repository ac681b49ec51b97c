//! Packet and stream framing around CBOR-encoded messages.
//!
//! ```text
//! packet  = magic(2) version(1) flags(1) [label_len(1) label] body
//! body    = message                       ; flags & COMPOUND == 0
//!         | count(1) (len(2, BE) message){count}
//! message = CBOR of `Message`
//! stream frame = len(4, BE) packet        ; one message, never compound
//! ```

use std::fmt;

use super::messages::Message;
use super::{PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};

/// First two bytes of every packet and stream frame: "HY".
pub const MAGIC: [u8; 2] = [0x48, 0x59];
/// Flag: the body is a compound of several messages.
pub const FLAG_COMPOUND: u8 = 0x01;
/// Flag: the body is encrypted (see `docs/PROTOCOL.md`).
pub const FLAG_ENCRYPTED: u8 = 0x02;
/// Flag: a label follows the flags byte.
pub const FLAG_LABEL: u8 = 0x04;
/// Longest label, in bytes.
pub const MAX_LABEL_LEN: usize = 255;
/// Most messages in one compound.
pub const MAX_COMPOUND_MESSAGES: usize = 255;
/// Bytes before the body of an unlabelled packet.
pub const PACKET_HEADER_MIN_LEN: usize = 4;

/// Why a packet or frame was refused. Each variant is a counter reason;
/// none of them changes any state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its header or than a length it declares.
    Truncated,
    /// Does not start with the magic bytes.
    BadMagic,
    /// Protocol version outside the range this build speaks.
    UnsupportedVersion(u8),
    /// Unknown flag bits, or a flag not allowed here.
    BadFlags(u8),
    /// Empty or non-UTF-8 label.
    BadLabel,
    /// Compound with zero messages or a message that is not CBOR of a known type.
    Malformed(String),
    /// A decoded value breaks a bound (the name of the bound).
    OutOfBounds(&'static str),
    /// Bytes left after the last message.
    TrailingBytes,
}

impl DecodeError {
    /// A short, stable reason name used for drop counters.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::BadMagic => "bad_magic",
            DecodeError::UnsupportedVersion(_) => "unsupported_version",
            DecodeError::BadFlags(_) => "bad_flags",
            DecodeError::BadLabel => "bad_label",
            DecodeError::Malformed(_) => "malformed",
            DecodeError::OutOfBounds(_) => "out_of_bounds",
            DecodeError::TrailingBytes => "trailing_bytes",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated packet"),
            DecodeError::BadMagic => f.write_str("not a hearsay packet (bad magic)"),
            DecodeError::UnsupportedVersion(v) => write!(
                f,
                "protocol version {v} not supported (this node speaks {PROTOCOL_VERSION_MIN}..={PROTOCOL_VERSION_MAX})"
            ),
            DecodeError::BadFlags(b) => write!(f, "unknown or misplaced flags {b:#04x}"),
            DecodeError::BadLabel => f.write_str("empty or non-UTF-8 label"),
            DecodeError::Malformed(e) => write!(f, "malformed message: {e}"),
            DecodeError::OutOfBounds(what) => write!(f, "value out of bounds: {what}"),
            DecodeError::TrailingBytes => f.write_str("trailing bytes after the last message"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The fixed part of a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketHeader {
    /// Protocol version of the sender.
    pub version: u8,
    /// Flag bits.
    pub flags: u8,
    /// The pool label, if any.
    pub label: Option<String>,
    /// Offset of the body in the packet.
    pub body_offset: usize,
}

impl PacketHeader {
    /// Parses and checks the header (magic, version, flags, label).
    pub fn parse(bytes: &[u8]) -> Result<PacketHeader, DecodeError> {
        if bytes.len() < PACKET_HEADER_MIN_LEN {
            return Err(DecodeError::Truncated);
        }
        if bytes[..2] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = bytes[2];
        if !(PROTOCOL_VERSION_MIN..=PROTOCOL_VERSION_MAX).contains(&version) {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let flags = bytes[3];
        if flags & !(FLAG_COMPOUND | FLAG_ENCRYPTED | FLAG_LABEL) != 0 {
            return Err(DecodeError::BadFlags(flags));
        }
        let mut offset = PACKET_HEADER_MIN_LEN;
        let label = if flags & FLAG_LABEL != 0 {
            let len = *bytes.get(offset).ok_or(DecodeError::Truncated)? as usize;
            offset += 1;
            let raw = bytes
                .get(offset..offset + len)
                .ok_or(DecodeError::Truncated)?;
            offset += len;
            if len == 0 {
                return Err(DecodeError::BadLabel);
            }
            Some(
                std::str::from_utf8(raw)
                    .map_err(|_| DecodeError::BadLabel)?
                    .to_owned(),
            )
        } else {
            None
        };
        Ok(PacketHeader {
            version,
            flags,
            label,
            body_offset: offset,
        })
    }
}

/// A decoded packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Its header.
    pub header: PacketHeader,
    /// Its messages, in order (one unless compound).
    pub messages: Vec<Message>,
}

/// Encodes one message as CBOR.
pub fn encode_message(message: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    ciborium::into_writer(message, &mut out).expect("invariant: writing CBOR to a Vec cannot fail");
    out
}

fn write_header(out: &mut Vec<u8>, label: Option<&str>, flags: u8) {
    out.extend_from_slice(&MAGIC);
    out.push(super::PROTOCOL_VERSION);
    match label {
        Some(label) if !label.is_empty() => {
            out.push(flags | FLAG_LABEL);
            let label = &label.as_bytes()[..label.len().min(MAX_LABEL_LEN)];
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        _ => out.push(flags),
    }
}

/// Bytes of header for a packet with this label.
pub fn header_len(label: Option<&str>) -> usize {
    match label {
        Some(l) if !l.is_empty() => PACKET_HEADER_MIN_LEN + 1 + l.len().min(MAX_LABEL_LEN),
        _ => PACKET_HEADER_MIN_LEN,
    }
}

/// Frames already-encoded messages into one packet: a plain packet for one
/// message, a compound for several (at most [`MAX_COMPOUND_MESSAGES`], each
/// shorter than 64 KiB; the caller keeps within both).
pub fn encode_packet<M: AsRef<[u8]>>(label: Option<&str>, messages: &[M]) -> Vec<u8> {
    let body_len: usize = messages.iter().map(|m| m.as_ref().len() + 2).sum::<usize>() + 1;
    let mut out = Vec::with_capacity(header_len(label) + body_len);
    if messages.len() == 1 {
        write_header(&mut out, label, 0);
        out.extend_from_slice(messages[0].as_ref());
    } else {
        debug_assert!(messages.len() <= MAX_COMPOUND_MESSAGES);
        write_header(&mut out, label, FLAG_COMPOUND);
        out.push(messages.len() as u8);
        for m in messages {
            let m = m.as_ref();
            debug_assert!(m.len() <= u16::MAX as usize);
            out.extend_from_slice(&(m.len() as u16).to_be_bytes());
            out.extend_from_slice(m);
        }
    }
    out
}

/// Size a compound adds per message (its length prefix).
pub const COMPOUND_PER_MESSAGE_OVERHEAD: usize = 2;

fn decode_one(bytes: &[u8]) -> Result<Message, DecodeError> {
    let mut reader = bytes;
    let message: Message = ciborium::from_reader(&mut reader)
        .map_err(|e| DecodeError::Malformed(short_cbor_error(&e)))?;
    if !reader.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    message.check_bounds().map_err(DecodeError::OutOfBounds)?;
    Ok(message)
}

fn short_cbor_error<T: fmt::Debug>(e: &ciborium::de::Error<T>) -> String {
    match e {
        ciborium::de::Error::Io(_) => "unexpected end of CBOR".to_owned(),
        ciborium::de::Error::Syntax(at) => format!("CBOR syntax error at byte {at}"),
        ciborium::de::Error::Semantic(_, msg) => msg.clone(),
        ciborium::de::Error::RecursionLimitExceeded => "CBOR nested too deeply".to_owned(),
    }
}

/// Splits the body of a packet whose header is already parsed (and which is
/// not encrypted) into its encoded messages, without decoding them.
pub fn split_body<'a>(header: &PacketHeader, body: &'a [u8]) -> Result<Vec<&'a [u8]>, DecodeError> {
    if header.flags & FLAG_COMPOUND == 0 {
        // An empty body is left to the message decoder: `malformed`.
        return Ok(vec![body]);
    }
    let (&count, mut rest) = body.split_first().ok_or(DecodeError::Truncated)?;
    if count == 0 {
        return Err(DecodeError::Malformed("empty compound".to_owned()));
    }
    let mut parts = Vec::with_capacity(count as usize);
    for _ in 0..count {
        if rest.len() < 2 {
            return Err(DecodeError::Truncated);
        }
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let part = rest.get(2..2 + len).ok_or(DecodeError::Truncated)?;
        parts.push(part);
        rest = &rest[2 + len..];
    }
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(parts)
}

/// Decodes one encoded message and checks its bounds.
pub fn decode_message(bytes: &[u8]) -> Result<Message, DecodeError> {
    decode_one(bytes)
}

/// Whether encoded message bytes are a broadcast (suspect, alive, dead or a
/// user message): messages whose second copy changes nothing, so that a
/// receiver may skip decoding bytes it has just seen.
pub fn is_broadcast(bytes: &[u8]) -> bool {
    // A one-entry CBOR map whose key is the variant name (docs/PROTOCOL.md).
    matches!(
        bytes,
        [0xA1, 0x61, b's', ..]
            | [0xA1, 0x62, b'a', b'l', ..]
            | [0xA1, 0x61, b'd', ..]
            | [0xA1, 0x61, b'u', ..]
    )
}

/// Decodes the body of a packet whose header is already parsed (and which
/// is not encrypted).
pub fn decode_body(header: &PacketHeader, body: &[u8]) -> Result<Vec<Message>, DecodeError> {
    split_body(header, body)?
        .into_iter()
        .map(decode_one)
        .collect()
}

/// Decodes a whole unencrypted packet.
pub fn decode_packet(bytes: &[u8]) -> Result<Packet, DecodeError> {
    let header = PacketHeader::parse(bytes)?;
    if header.flags & FLAG_ENCRYPTED != 0 {
        return Err(DecodeError::BadFlags(header.flags));
    }
    let messages = decode_body(&header, &bytes[header.body_offset..])?;
    Ok(Packet { header, messages })
}

/// Encodes a stream frame: a 4-byte big-endian length, then a one-message
/// packet.
pub fn encode_stream_frame(label: Option<&str>, message: &Message) -> Vec<u8> {
    let packet = encode_packet(label, &[encode_message(message)]);
    let mut out = Vec::with_capacity(packet.len() + 4);
    out.extend_from_slice(&(packet.len() as u32).to_be_bytes());
    out.extend_from_slice(&packet);
    out
}

/// Decodes the packet of a stream frame (without its length prefix): one
/// message, never compound.
pub fn decode_stream_frame(bytes: &[u8]) -> Result<(PacketHeader, Message), DecodeError> {
    let packet = decode_packet(bytes)?;
    if packet.header.flags & FLAG_COMPOUND != 0 {
        return Err(DecodeError::BadFlags(packet.header.flags));
    }
    let header = packet.header;
    let message = packet
        .messages
        .into_iter()
        .next()
        .expect("invariant: a plain packet decodes to one message");
    Ok((header, message))
}
