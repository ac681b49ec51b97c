//! What the packet and stream targets share: a Serf core set up the same
//! way for every input (so a crash replays), the keys it holds, and the
//! input format.
//!
//! Input of the `packet` and `stream` targets:
//!
//! ```text
//! input = mode(1) chunk*
//! chunk = len(2, BE) bytes(len)   ; a short last chunk takes what is left
//! ```
//!
//! `mode` bits: [`MODE_KEYED`], [`MODE_SEAL`], [`MODE_LABEL`], [`MODE_REPLY`].
//! `fuzz/seeds/` holds inputs in this format, written by
//! `HEARSAY_REGEN_FUZZ_SEEDS=1 cargo test --test decoder_props`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hearsay::serf::snapshot::{self, SnapshotState};
use hearsay::serf::tags;
use hearsay::serf::{Serf, SerfConfig};
use hearsay::swim::{Config, TransmitKind};
use hearsay::wire::serf::SerfMessage;
use hearsay::wire::{
    decode_body, open_body, seal_packet, Keyring, Message, PacketHeader, SecretKey, FLAG_ENCRYPTED,
    NONCE_LEN,
};

/// The core holds [`key_a`] and [`key_b`] and refuses plaintext.
pub const MODE_KEYED: u8 = 0x01;
/// Each chunk is sealed with [`key_b`] before delivery (when its header
/// parses), so that the fuzzer reaches the decoder behind decryption.
pub const MODE_SEAL: u8 = 0x02;
/// The core's pool label is [`LABEL`].
pub const MODE_LABEL: u8 = 0x04;
/// `stream` only: the frame answers the core's join (a push-pull reply)
/// instead of arriving unasked.
pub const MODE_REPLY: u8 = 0x08;

/// The core's node name: the target of the pings in `tests/vectors/`.
pub const NAME: &str = "node-b";
/// The label of the labelled vectors.
pub const LABEL: &str = "prod-eu";

/// The core's address.
pub fn local_addr() -> SocketAddr {
    "10.0.0.2:7946".parse().unwrap()
}

/// Where every input comes from: node-a's address in the vectors.
pub fn peer_addr() -> SocketAddr {
    "10.0.0.1:7946".parse().unwrap()
}

/// Tried first and never opens anything: decryption walks the keyring.
pub fn key_a() -> SecretKey {
    SecretKey::new(&[0xa5; 16]).unwrap()
}

/// The key that seals.
pub fn key_b() -> SecretKey {
    SecretKey::new(&[0x5b; 32]).unwrap()
}

/// The core's tags (`role=web`, `dc=eu`), for queries to filter on.
pub fn meta() -> Vec<u8> {
    let tags = [("role", "web"), ("dc", "eu")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into_iter()
        .collect();
    tags::encode(&tags)
}

/// A Serf core (and its SWIM core) in the given mode, with coordinates
/// and snapshot records on.
pub fn core(mode: u8, now: Instant) -> Serf {
    let mut swim = Config::lan();
    if mode & MODE_KEYED != 0 {
        swim.keys = vec![key_a(), key_b()];
    }
    if mode & MODE_LABEL != 0 {
        swim.label = Some(LABEL.to_owned());
    }
    let mut serf = Serf::new(
        SerfConfig::with_swim(swim),
        NAME,
        local_addr(),
        meta(),
        1,
        now,
    )
    .expect("invariant: the fuzz configuration is valid");
    serf.enable_snapshot();
    serf
}

/// Splits the input after its mode byte into chunks.
pub fn chunks(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while rest.len() >= 2 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let take = len.min(rest.len() - 2);
        out.push(&rest[2..2 + take]);
        rest = &rest[2 + take..];
    }
    out
}

/// Frames chunks as [`chunks`] reads them.
pub fn join_chunks(mode: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![mode];
    for p in parts {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The bytes as the core receives them: sealed with [`key_b`] in
/// [`MODE_SEAL`] when the header parses, as they are otherwise.
pub fn deliverable(mode: u8, chunk: &[u8], n: usize) -> Vec<u8> {
    if mode & MODE_SEAL != 0 && PacketHeader::parse(chunk).is_ok() {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&(n as u64).to_be_bytes());
        seal_packet(chunk, &key_b(), nonce)
    } else {
        chunk.to_vec()
    }
}

/// Runs the core's timers and drains everything it produced; what it
/// sends must be readable. Each snapshot
/// record must read back as written: whatever names and addresses arrive
/// off the wire, a restart replays them.
pub fn settle(core: &mut Serf, now: Instant) {
    core.handle_timeout(now);
    let keys = core.keyring().clone();
    while let Some(t) = core.poll_transmit() {
        match t.kind {
            TransmitKind::Packet => {
                read_own_packet(&t.payload, &keys);
            }
            _ => {
                let (len, frame) = t.payload.split_at(4);
                assert_eq!(
                    u32::from_be_bytes(len.try_into().unwrap()) as usize,
                    frame.len()
                );
                read_own_frame(frame, &keys);
            }
        }
    }
    while core.poll_event().is_some() {}
    while let Some(record) = core.poll_snapshot_record() {
        let mut expected = SnapshotState::default();
        expected.apply(record.clone());
        let (replayed, warnings) = snapshot::parse(record.to_line().as_bytes());
        assert!(
            warnings.is_empty() && replayed == expected,
            "{record:?}: {warnings:?}"
        );
    }
}

/// Time between two chunks: long enough for a probe to go out between
/// them, short enough for its ack to still be awaited.
pub const STEP: Duration = Duration::from_millis(300);

/// Decodes a packet the core wrote, opening it with the core's keys if it
/// is sealed; panics if the core wrote something a peer would refuse.
/// `keys`: the core's keyring now. A key the fuzzer installed, used and
/// removed again within one input may have sealed a packet no known key
/// opens; only such a packet goes unread.
pub fn read_own_packet(packet: &[u8], keys: &Keyring) -> Vec<Message> {
    let header = PacketHeader::parse(packet).expect("own packet: header");
    let body = if header.flags & FLAG_ENCRYPTED != 0 {
        let mut ring = keys.clone();
        let _ = ring.install(key_a());
        let _ = ring.install(key_b());
        match open_body(packet, &header, &ring) {
            Ok(body) => body,
            Err(_) if keys.keys().len() > 2 => return Vec::new(),
            Err(e) => panic!("own packet: does not open: {e:?}"),
        }
    } else {
        packet[header.body_offset..].to_vec()
    };
    let messages = decode_body(&header, &body).expect("own packet: decodes");
    for m in &messages {
        if let Message::User(user) = m {
            SerfMessage::decode(&user.payload).expect("own packet: Serf message decodes");
        }
    }
    messages
}

/// [`read_own_packet`] for a stream frame without its length prefix: one
/// message.
pub fn read_own_frame(frame: &[u8], keys: &Keyring) -> Option<Message> {
    let mut messages = read_own_packet(frame, keys);
    if messages.is_empty() && keys.keys().len() > 2 {
        return None;
    }
    assert_eq!(messages.len(), 1, "own frame: one message");
    messages.pop()
}
