//! Bounded property tests of every decoder that reads untrusted bytes, run
//! on each `cargo test`: at least 100,000 seeded inputs each, no panic, and
//! a property that says the decoder judged them right. The pure packet and
//! stream decoders alone are covered by `tests/wire_props.rs`
//! (`seeded_inputs_never_panic`); here the inputs go through a SWIM core as
//! a pool receives them, sealed or not, and through the snapshot, keyring
//! and Serf decoders. The unbounded versions are the cargo-fuzz targets
//! under `fuzz/`, whose seed corpus this file also writes and checks:
//!
//! ```text
//! HEARSAY_REGEN_FUZZ_SEEDS=1 cargo test --test decoder_props fuzz_seeds
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use hearsay::coord::{CoordConfig, Coordinate};
use hearsay::serf::snapshot::{parse as parse_snapshot, SnapshotRecord, SnapshotState};
use hearsay::serf::{tags, Serf, SerfConfig};
use hearsay::swim::{Config, Swim, SwimError, TransmitKind};
use hearsay::wire::serf::{
    JoinIntent, KeyRequest, KeyResponse, LeaveIntent, Query, QueryResponse, Relay, SerfMessage,
    SerfPushPull, UserEvent,
};
use hearsay::wire::{
    decode_body, decode_packet, decode_stream_frame, encode_message, encode_packet,
    format_keyring_file, open_body, parse_keyring_file, seal_packet, Ack, Alive, Dead, DecodeError,
    IndirectPing, KeyError, Keyring, MemberState, Message, Nack, PacketHeader, Ping, PushNode,
    PushPull, SecretKey, Suspect, User, WireAddr, FLAG_COMPOUND, FLAG_ENCRYPTED, MAX_KEYS,
    NONCE_LEN, PROTOCOL_VERSION,
};

/// Inputs per property.
const INPUTS: usize = 100_000;

// ----- the setting shared with the fuzz targets (fuzz/src/lib.rs) -----

const NAME: &str = "node-b";
const LABEL: &str = "prod-eu";
const MODE_KEYED: u8 = 0x01;
const MODE_SEAL: u8 = 0x02;
const MODE_LABEL: u8 = 0x04;
const MODE_REPLY: u8 = 0x08;
const STEP: Duration = Duration::from_millis(300);

fn local_addr() -> SocketAddr {
    "10.0.0.2:7946".parse().unwrap()
}

fn peer_addr() -> SocketAddr {
    "10.0.0.1:7946".parse().unwrap()
}

fn key_a() -> SecretKey {
    SecretKey::new(&[0xa5; 16]).unwrap()
}

fn key_b() -> SecretKey {
    SecretKey::new(&[0x5b; 32]).unwrap()
}

fn meta() -> Vec<u8> {
    let tags = [("role", "web"), ("dc", "eu")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into_iter()
        .collect();
    tags::encode(&tags)
}

fn swim_config(keys: Vec<SecretKey>, label: Option<&str>) -> Config {
    let mut config = Config::lan();
    config.keys = keys;
    config.label = label.map(str::to_owned);
    config
}

fn swim_core(keys: Vec<SecretKey>, label: Option<&str>) -> Swim {
    let config = swim_config(keys, label);
    Swim::new(config, NAME, local_addr(), meta(), 1, Instant::now()).unwrap()
}

fn serf_core(mode: u8, now: Instant) -> Serf {
    let keys = if mode & MODE_KEYED != 0 {
        vec![key_a(), key_b()]
    } else {
        Vec::new()
    };
    let label = (mode & MODE_LABEL != 0).then_some(LABEL);
    let config = SerfConfig::with_swim(swim_config(keys, label));
    let mut serf = Serf::new(config, NAME, local_addr(), meta(), 1, now).unwrap();
    serf.enable_snapshot();
    serf
}

fn join_chunks(mode: u8, parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![mode];
    for p in parts {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

fn split_chunks(input: &[u8]) -> (u8, Vec<&[u8]>) {
    let (&mode, mut rest) = input.split_first().expect("a mode byte");
    let mut out = Vec::new();
    while rest.len() >= 2 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let take = len.min(rest.len() - 2);
        out.push(&rest[2..2 + take]);
        rest = &rest[2 + take..];
    }
    (mode, out)
}

// ----- messages -----

fn addr(text: &str) -> WireAddr {
    WireAddr(text.parse().unwrap())
}

fn coordinate_payload() -> Vec<u8> {
    let mut c = Coordinate::new(&CoordConfig::default());
    c.vec[0] = 0.002;
    let mut out = Vec::new();
    ciborium::into_writer(&c, &mut out).unwrap();
    out
}

fn user(message: &SerfMessage) -> Message {
    Message::User(User {
        payload: message.encode(),
    })
}

fn alive(node: &str, at: &str, incarnation: u32) -> Message {
    Message::Alive(Alive {
        incarnation,
        node: node.into(),
        addr: addr(at),
        meta: meta(),
        versions: [1, 1, 1],
    })
}

fn query(name: &str, payload: Vec<u8>) -> SerfMessage {
    SerfMessage::Query(Query {
        ltime: 5,
        id: 7,
        from_addr: addr("10.0.0.1:7946"),
        from: "node-a".into(),
        filter_nodes: vec![NAME.into()],
        filter_tags: BTreeMap::from([("role".to_owned(), "^w.b$".to_owned())]),
        ack: true,
        relay_factor: 1,
        timeout_ms: 1000,
        name: name.into(),
        payload,
    })
}

fn serf_messages() -> Vec<(&'static str, SerfMessage)> {
    let event = UserEvent {
        ltime: 3,
        name: "deploy".into(),
        payload: b"v42".to_vec(),
        coalesce: false,
    };
    let mut key_request = Vec::new();
    ciborium::into_writer(
        &KeyRequest {
            key: vec![0x11; 16],
        },
        &mut key_request,
    )
    .unwrap();
    vec![
        (
            "join",
            SerfMessage::Join(JoinIntent {
                ltime: 2,
                node: "node-a".into(),
            }),
        ),
        (
            "leave",
            SerfMessage::Leave(LeaveIntent {
                ltime: 9,
                node: "node-a".into(),
                prune: true,
            }),
        ),
        ("event", SerfMessage::Event(event.clone())),
        ("query", query("deploy", b"now".to_vec())),
        (
            "keyring_install",
            query("_hearsay_keyring_install", key_request),
        ),
        ("keyring_list", query("_hearsay_keyring_list", Vec::new())),
        (
            "response",
            SerfMessage::Response(QueryResponse {
                ltime: 5,
                id: 7,
                from: "node-a".into(),
                ack: false,
                payload: b"done".to_vec(),
            }),
        ),
        (
            "relay",
            SerfMessage::Relay(Relay {
                to: addr("10.0.0.3:7946"),
                message: Box::new(SerfMessage::Event(event)),
            }),
        ),
    ]
}

fn serf_push_pull() -> SerfPushPull {
    SerfPushPull {
        ltime: 12,
        status_ltimes: BTreeMap::from([("node-a".to_owned(), 4), ("node-c".to_owned(), 7)]),
        left_members: vec!["node-c".into()],
        event_ltime: 6,
        events: vec![UserEvent {
            ltime: 4,
            name: "deploy".into(),
            payload: b"v41".to_vec(),
            coalesce: true,
        }],
        query_ltime: 3,
    }
}

fn push_pull(join: bool) -> Message {
    let node = |name: &str, at: &str, state| PushNode {
        name: name.into(),
        addr: addr(at),
        meta: meta(),
        incarnation: 2,
        state,
        versions: [1, 1, 1],
    };
    Message::PushPull(PushPull {
        join,
        nodes: vec![
            node("node-a", "10.0.0.1:7946", MemberState::Alive),
            node("node-c", "[fd00::3]:7946", MemberState::Left),
            node("node-d", "10.0.0.4:7946", MemberState::Suspect),
            node("node-e", "10.0.0.5:7946", MemberState::Dead),
        ],
        user_state: serf_push_pull().encode(),
    })
}

/// Every kind of datagram message, each valid.
fn datagram_messages() -> Vec<Message> {
    let mut out = vec![
        Message::Ping(Ping {
            seq: 1,
            target: NAME.into(),
            source: "node-a".into(),
            source_addr: addr("10.0.0.1:7946"),
        }),
        Message::IndirectPing(IndirectPing {
            seq: 2,
            target: "node-c".into(),
            target_addr: addr("10.0.0.3:7946"),
            nack: true,
            source: "node-a".into(),
            source_addr: addr("10.0.0.1:7946"),
        }),
        Message::Ack(Ack {
            seq: 1,
            payload: coordinate_payload(),
        }),
        Message::Nack(Nack { seq: 2 }),
        alive("node-a", "10.0.0.1:7946", 3),
        Message::Suspect(Suspect {
            incarnation: 3,
            node: "node-a".into(),
            from: "node-c".into(),
        }),
        Message::Dead(Dead {
            incarnation: 3,
            node: "node-a".into(),
            from: "node-a".into(),
        }),
    ];
    out.extend(serf_messages().iter().map(|(_, m)| user(m)));
    out
}

/// Valid packets (one message or a compound), with and without the label.
fn packet_corpus() -> Vec<Vec<u8>> {
    let messages: Vec<Vec<u8>> = datagram_messages().iter().map(encode_message).collect();
    let mut out = Vec::new();
    for label in [None, Some(LABEL)] {
        for m in &messages {
            out.push(encode_packet(label, std::slice::from_ref(m)));
        }
        for w in messages.windows(3) {
            out.push(encode_packet(label, w));
        }
    }
    out
}

/// Applies 1 to 4 random edits: set, flip a bit, insert, delete, truncate.
fn mutate(rng: &mut SmallRng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(1..5) {
        if b.is_empty() {
            break;
        }
        let i = rng.random_range(0..b.len());
        match rng.random_range(0..5) {
            0 => b[i] = rng.random(),
            1 => b[i] ^= 1 << rng.random_range(0..8),
            2 => b.insert(i, rng.random()),
            3 => {
                b.remove(i);
            }
            _ => b.truncate(i),
        }
    }
    b
}

fn pick<'a, T>(rng: &mut SmallRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn random_bytes(rng: &mut SmallRng, max: usize) -> Vec<u8> {
    let mut b = vec![0u8; rng.random_range(0..max)];
    rng.fill(&mut b[..]);
    b
}

fn raw_packet(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![b'H', b'Y', PROTOCOL_VERSION, flags];
    b.extend_from_slice(body);
    b
}

/// The decode errors a core reports for a packet the pure decoder accepts:
/// bounds that depend on its configuration.
fn configured_bound(e: &SwimError) -> bool {
    matches!(
        e,
        SwimError::Decode(DecodeError::OutOfBounds(
            "max_meta_size" | "max_push_pull_members"
        ))
    )
}

fn drain(core: &mut Swim) {
    while core.poll_transmit().is_some() {}
    while core.poll_event().is_some() {}
}

// ----- packets through a core -----

/// Random bytes, random bodies behind a valid header, and edited valid
/// packets reach a plaintext core. It refuses exactly what the pure decoder
/// refuses (plus other pools' labels), so the two never drift apart.
#[test]
fn packets_through_a_core_agree_with_the_decoder() {
    const SEED: u64 = 0x4859_0101;
    let corpus = packet_corpus();
    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut core = swim_core(Vec::new(), None);
    let now = Instant::now();
    let mut accepted = 0;
    for n in 0..INPUTS {
        // A fresh core now and then: members learnt from edited alives
        // would otherwise pile up.
        if n % 2_000 == 0 {
            core = swim_core(Vec::new(), None);
        }
        let bytes = match rng.random_range(0..4) {
            0 => random_bytes(&mut rng, 96),
            1 => {
                let flags = if rng.random_bool(0.5) {
                    FLAG_COMPOUND
                } else {
                    0
                };
                raw_packet(flags, &random_bytes(&mut rng, 96))
            }
            _ => {
                let base = pick(&mut rng, &corpus).clone();
                mutate(&mut rng, base)
            }
        };
        let result = core.handle_packet(now, peer_addr(), &bytes);
        drain(&mut core);
        match decode_packet(&bytes) {
            Err(e) => assert!(result.is_err(), "input {n} {bytes:02x?}: decoder says {e}"),
            Ok(p) if p.header.label.is_some() => {
                assert_eq!(result, Err(SwimError::LabelMismatch), "input {n}")
            }
            Ok(_) => {
                if let Err(e) = &result {
                    let ok = configured_bound(e) || matches!(e, SwimError::Unexpected(_));
                    assert!(ok, "input {n} {bytes:02x?}: decodes, core says {e}");
                }
                accepted += 1;
            }
        }
    }
    assert_eq!(core.stats().packets_in, 2_000, "every input is counted");
    assert!(accepted > INPUTS / 100, "only {accepted} accepted");
}

/// Sealed packets reach a keyed core that requires encryption: unmodified
/// ones are opened and handled; any edit, a plaintext packet, or a key the
/// core does not hold, is refused as a whole and changes nothing.
#[test]
fn sealed_packets_open_and_every_tampered_one_is_refused() {
    const SEED: u64 = 0x4859_0102;
    let corpus = packet_corpus();
    let mut rng = SmallRng::seed_from_u64(SEED);
    let new_core = |label| swim_core(vec![key_a(), key_b()], label);
    let mut cores = [new_core(None), new_core(Some(LABEL))];
    let now = Instant::now();
    let (mut opened, mut refused) = (0, 0);
    for n in 0..INPUTS {
        if n % 2_000 == 0 {
            cores = [new_core(None), new_core(Some(LABEL))];
        }
        let plain = pick(&mut rng, &corpus);
        let labelled = PacketHeader::parse(plain).unwrap().label.is_some();
        let core = &mut cores[usize::from(labelled)];
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce);
        let key = if rng.random_ratio(1, 10) {
            SecretKey::new(&[0x77; 24]).unwrap()
        } else {
            key_b()
        };
        let sealed = seal_packet(plain, &key, nonce);
        let (bytes, intact) = match rng.random_range(0..3) {
            0 => (sealed.clone(), key == key_b()),
            1 => (plain.clone(), false),
            _ => {
                let edited = mutate(&mut rng, sealed.clone());
                let intact = edited == sealed && key == key_b();
                (edited, intact)
            }
        };
        let before = core.stats();
        let members = core.members().len();
        let result = core.handle_packet(now, peer_addr(), &bytes);
        if intact {
            if let Err(e) = &result {
                let ok = configured_bound(e) || matches!(e, SwimError::Unexpected(_));
                assert!(ok, "input {n}: sealed and intact, refused: {e}");
            }
            opened += 1;
        } else {
            assert!(
                matches!(
                    result,
                    Err(SwimError::Refused(_) | SwimError::Decode(_) | SwimError::LabelMismatch)
                ),
                "input {n} {bytes:02x?}: tampered, got {result:?}"
            );
            assert_eq!(core.members().len(), members, "input {n}");
            assert!(core.poll_event().is_none(), "input {n}");
            assert!(core.poll_transmit().is_none(), "input {n}");
            let after = core.stats();
            let dropped = |s: &hearsay::swim::Stats| {
                s.dropped_decrypt
                    + s.dropped_plaintext
                    + s.dropped_malformed
                    + s.dropped_version
                    + s.dropped_label
            };
            assert_eq!(dropped(&after), dropped(&before) + 1, "input {n}");
            refused += 1;
        }
        drain(core);
    }
    assert!(
        opened > INPUTS / 5 && refused > INPUTS / 2,
        "{opened} {refused}"
    );
}

// ----- stream frames through a core -----

/// Random and edited stream frames reach a core, unasked. What the pure
/// decoder refuses, the core refuses; what the core answers is a ping
/// (with its ack) or a push-pull (with its own), and decodes.
#[test]
fn stream_frames_through_a_core_agree_with_the_decoder() {
    const SEED: u64 = 0x4859_0103;
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for label in [None, Some(LABEL)] {
        for m in [
            push_pull(true),
            push_pull(false),
            datagram_messages()[0].clone(),
            user(&serf_messages()[2].1),
        ] {
            corpus.push(encode_packet(label, &[encode_message(&m)]));
        }
    }
    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut core = swim_core(Vec::new(), None);
    let now = Instant::now();
    let mut answered = 0;
    for n in 0..INPUTS {
        if n % 1_000 == 0 {
            core = swim_core(Vec::new(), None);
        }
        let bytes = match rng.random_range(0..3) {
            0 => random_bytes(&mut rng, 128),
            _ => {
                let base = pick(&mut rng, &corpus).clone();
                mutate(&mut rng, base)
            }
        };
        let result = core.handle_stream(now, peer_addr(), &bytes);
        drain(&mut core);
        let request = decode_stream_frame(&bytes);
        if let Err(e) = &request {
            assert!(result.is_err(), "input {n} {bytes:02x?}: decoder says {e}");
        }
        if let Ok(Some(reply)) = result {
            let (len, reply) = reply.split_at(4);
            assert_eq!(
                u32::from_be_bytes(len.try_into().unwrap()) as usize,
                reply.len()
            );
            let header = PacketHeader::parse(reply).unwrap();
            let mut messages = decode_body(&header, &reply[header.body_offset..]).unwrap();
            assert_eq!(messages.len(), 1);
            match (request.unwrap().1, messages.pop().unwrap()) {
                (Message::Ping(ping), Message::Ack(ack)) => assert_eq!(ping.seq, ack.seq),
                (Message::PushPull(_), Message::PushPull(_)) => {}
                (request, reply) => panic!("input {n}: {request:?} answered with {reply:?}"),
            }
            answered += 1;
        }
    }
    assert!(answered > INPUTS / 100, "only {answered} answered");
}

// ----- snapshots -----

fn snapshot_sample() -> Vec<u8> {
    let records = [
        SnapshotRecord::Clock(3),
        SnapshotRecord::Alive {
            name: "node-a".into(),
            addr: peer_addr(),
        },
        SnapshotRecord::Alive {
            name: "node \"c\"\n".into(),
            addr: "[fd00::3]:7946".parse().unwrap(),
        },
        SnapshotRecord::EventClock(7),
        SnapshotRecord::NotAlive {
            name: "node-a".into(),
        },
        SnapshotRecord::QueryClock(2),
        SnapshotRecord::Leave,
        SnapshotRecord::Alive {
            name: "node-d".into(),
            addr: "10.0.0.4:7946".parse().unwrap(),
        },
    ];
    records
        .iter()
        .flat_map(|r| r.to_line().into_bytes())
        .collect()
}

/// Random bytes and edited snapshot files: never a panic, at most one
/// warning per line, clocks only from lines that say so, and the compacted
/// state replays to itself.
#[test]
fn snapshots_replay_within_bounds() {
    const SEED: u64 = 0x4859_0104;
    let sample = snapshot_sample();
    let full = parse_snapshot(&sample).0;
    let mut rng = SmallRng::seed_from_u64(SEED);
    for n in 0..INPUTS {
        let bytes = match rng.random_range(0..3) {
            0 => {
                let mut b = random_bytes(&mut rng, 64);
                for byte in &mut b {
                    if *byte < 0x10 {
                        *byte = b'\n';
                    }
                }
                b
            }
            _ => mutate(&mut rng, sample.clone()),
        };
        let (state, warnings) = parse_snapshot(&bytes);
        let lines = bytes.split(|&b| b == b'\n').count();
        assert!(warnings.len() <= lines, "input {n}");
        assert!(state.alive.len() <= lines, "input {n}");
        if bytes.iter().all(|b| !b.is_ascii_digit()) {
            assert_eq!(
                (state.clock, state.event_clock, state.query_clock),
                (0, 0, 0),
                "input {n}"
            );
        }
        let (again, warnings) = parse_snapshot(&state.to_bytes());
        assert!(warnings.is_empty(), "input {n}: {warnings:?}");
        assert_eq!(again, state, "input {n} {bytes:02x?}");
    }
    assert_eq!(full.alive.len(), 1);
}

// ----- keyring files -----

/// Random text and edited keyring files: whatever parses holds 1 to 64
/// distinct keys of 16, 24 or 32 bytes and writes back to the same keys;
/// anything else is an error that names the problem.
#[test]
fn keyring_files_parse_within_bounds() {
    const SEED: u64 = 0x4859_0105;
    let mut rng = SmallRng::seed_from_u64(SEED);
    let files: Vec<String> = [
        vec![key_a()],
        vec![key_b(), key_a()],
        vec![SecretKey::new(&[0x24; 24]).unwrap(), key_b()],
    ]
    .iter()
    .map(|keys| format_keyring_file(keys))
    .collect();
    let mut parsed = 0;
    for n in 0..INPUTS {
        let bytes = match rng.random_range(0..4) {
            0 => random_bytes(&mut rng, 64),
            1 => {
                // Base64 alphabet and JSON punctuation: closer to a file.
                const CHARS: &[u8] = b"[]\",= \nAQZaz09+/\\u";
                (0..rng.random_range(0..80))
                    .map(|_| CHARS[rng.random_range(0..CHARS.len())])
                    .collect()
            }
            _ => {
                let base = pick(&mut rng, &files).clone().into_bytes();
                mutate(&mut rng, base)
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        match parse_keyring_file(&text) {
            Ok(keys) => {
                assert!((1..=MAX_KEYS).contains(&keys.len()), "input {n}");
                for (i, k) in keys.iter().enumerate() {
                    assert!(matches!(k.as_bytes().len(), 16 | 24 | 32), "input {n}");
                    assert!(!keys[..i].contains(k), "input {n}: duplicate kept");
                }
                assert_eq!(
                    parse_keyring_file(&format_keyring_file(&keys)),
                    Ok(keys.clone())
                );
                parsed += 1;
            }
            Err(e) => {
                assert!(matches!(e, KeyError::File(_)), "input {n}: {e:?}");
                assert!(!e.to_string().is_empty());
            }
        }
        if let Ok(key) = SecretKey::from_base64(&text) {
            assert!(matches!(key.as_bytes().len(), 16 | 24 | 32), "input {n}");
            assert_eq!(SecretKey::from_base64(&key.to_base64()), Ok(key));
        }
    }
    // Edits that land in whitespace or swap a base64 letter keep a file valid.
    assert!(parsed > INPUTS / 50, "only {parsed} parsed");
}

// ----- Serf messages -----

/// Random and edited Serf messages, push-pull states and keyring answers:
/// whatever decodes keeps its bounds and re-encodes to itself.
#[test]
fn serf_messages_decode_within_bounds() {
    const SEED: u64 = 0x4859_0106;
    let messages: Vec<Vec<u8>> = serf_messages().iter().map(|(_, m)| m.encode()).collect();
    let state = serf_push_pull().encode();
    let response = KeyResponse {
        ok: true,
        message: String::new(),
        keys: vec![serde_bytes::ByteBuf::from(vec![1u8; 16])],
    }
    .encode();
    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut decoded = 0;
    for n in 0..INPUTS {
        let which = rng.random_range(0..3);
        let bytes = match (rng.random_range(0..3), which) {
            (0, _) => random_bytes(&mut rng, 96),
            (_, 0) => {
                let base = pick(&mut rng, &messages).clone();
                mutate(&mut rng, base)
            }
            (_, 1) => mutate(&mut rng, state.clone()),
            _ => mutate(&mut rng, response.clone()),
        };
        match which {
            0 => {
                if let Ok(m) = SerfMessage::decode(&bytes) {
                    let name_ok = |s: &str| (1..=128).contains(&s.len());
                    let inner = match &m {
                        SerfMessage::Relay(r) => &*r.message,
                        m => m,
                    };
                    assert!(!matches!(inner, SerfMessage::Relay(_)), "input {n}");
                    match inner {
                        SerfMessage::Join(j) => assert!(name_ok(&j.node)),
                        SerfMessage::Leave(l) => assert!(name_ok(&l.node)),
                        SerfMessage::Event(e) => assert!(name_ok(&e.name)),
                        SerfMessage::Query(q) => assert!(name_ok(&q.name)),
                        SerfMessage::Response(r) => assert!(name_ok(&r.from)),
                        SerfMessage::Relay(_) => unreachable!(),
                    }
                    assert_eq!(SerfMessage::decode(&m.encode()), Ok(m), "input {n}");
                    decoded += 1;
                }
            }
            1 => {
                if let Ok(s) = SerfPushPull::decode(&bytes) {
                    assert_eq!(SerfPushPull::decode(&s.encode()), Ok(s), "input {n}");
                    decoded += 1;
                }
            }
            _ => {
                if let Some(r) = KeyResponse::decode(&bytes) {
                    assert!(r.keys.len() <= MAX_KEYS && r.message.len() <= 1024);
                    assert_eq!(KeyResponse::decode(&r.encode()), Some(r), "input {n}");
                    decoded += 1;
                }
            }
        }
    }
    assert!(decoded > INPUTS / 20, "only {decoded} decoded");
}

// ----- regressions -----

/// A stream frame whose packet is a compound is refused by the core as by
/// the pure decoder, even with a count of one (docs/PROTOCOL.md, "Stream
/// frames").
#[test]
fn a_compound_stream_frame_of_one_is_refused() {
    let ping = encode_message(&datagram_messages()[0]);
    let mut frame = encode_packet(None, &[ping.clone(), ping]);
    // Count 1, one part.
    let header = PacketHeader::parse(&frame).unwrap();
    let part_len = (frame.len() - header.body_offset - 1) / 2;
    frame.truncate(header.body_offset + 1 + part_len);
    frame[header.body_offset] = 1;
    assert!(decode_packet(&frame).is_ok());
    assert!(decode_stream_frame(&frame).is_err());
    let mut core = swim_core(Vec::new(), None);
    let result = core.handle_stream(Instant::now(), peer_addr(), &frame);
    assert!(
        matches!(result, Err(SwimError::Decode(DecodeError::BadFlags(_)))),
        "{result:?}"
    );
}

/// A compound refused for a bad part does not make the core skip its good
/// broadcasts when they arrive again in a valid packet.
#[test]
fn a_refused_compound_does_not_mark_its_broadcasts_as_seen() {
    let good = encode_message(&alive("node-x", "10.0.0.9:7946", 1));
    let bad = vec![0xA1, 0x61, b's', 0xff];
    let mut core = swim_core(Vec::new(), None);
    let now = Instant::now();
    let refused = encode_packet(None, &[good.clone(), bad]);
    assert!(core.handle_packet(now, peer_addr(), &refused).is_err());
    assert!(core.member("node-x").is_none());
    let again = encode_packet(None, &[good]);
    core.handle_packet(now, peer_addr(), &again).unwrap();
    assert!(core.member("node-x").is_some());
}

/// A node without keys refuses keyring queries: they arrive
/// unauthenticated, and an installed key would turn its encryption on and
/// cut it off from its plaintext pool. A keyed node applies them. (Found by
/// the `packet` target: one plaintext query switched a core to encryption.)
#[test]
fn a_node_without_keys_refuses_keyring_queries() {
    let install = serf_messages()
        .into_iter()
        .find(|(name, _)| *name == "keyring_install")
        .unwrap()
        .1;
    let packet = encode_packet(None, &[encode_message(&user(&install))]);
    let now = Instant::now();

    let mut plain = serf_core(0, now);
    plain.handle_packet(now, peer_addr(), &packet).unwrap();
    assert!(plain.keyring().is_empty());
    let mut answers = Vec::new();
    while let Some(t) = plain.poll_transmit() {
        assert_eq!(t.kind, TransmitKind::Packet);
        let p = decode_packet(&t.payload).expect("still plaintext");
        for m in p.messages {
            if let Message::User(u) = m {
                if let Ok(SerfMessage::Response(r)) = SerfMessage::decode(&u.payload) {
                    if !r.ack {
                        answers.push(KeyResponse::decode(&r.payload).unwrap());
                    }
                }
            }
        }
    }
    assert!(
        answers.len() == 1 && !answers[0].ok && answers[0].message.contains("not enabled"),
        "{answers:?}"
    );
    let ping = encode_packet(None, &[encode_message(&datagram_messages()[0])]);
    plain.handle_packet(now, peer_addr(), &ping).unwrap();

    let mut keyed = serf_core(MODE_KEYED, now);
    let sealed = seal_packet(&packet, &key_b(), [1; NONCE_LEN]);
    keyed.handle_packet(now, peer_addr(), &sealed).unwrap();
    assert_eq!(keyed.keyring().keys().len(), 3);
}

// ----- the fuzz seed corpus -----

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds")
}

fn read_vector(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/vectors/{name}.hex"));
    let text = fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(str::split_whitespace)
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

/// A sequence that makes the core probe node-a, then acks the probe with a
/// coordinate: found by running the core exactly as the `packet` target does.
fn probe_and_ack() -> Vec<u8> {
    let now0 = Instant::now();
    let mut core = serf_core(0, now0);
    let mut parts = vec![encode_packet(
        None,
        &[encode_message(&alive("node-a", "10.0.0.1:7946", 3))],
    )];
    let filler = encode_packet(None, &[encode_message(&Message::Nack(Nack { seq: 999 }))]);
    for n in 0..16 {
        let now = now0 + STEP * n as u32;
        let _ = core.handle_packet(now, peer_addr(), &parts[n]);
        core.handle_timeout(now + STEP);
        let mut probe = None;
        while let Some(t) = core.poll_transmit() {
            if t.kind == TransmitKind::Packet && t.to == peer_addr() {
                for m in decode_packet(&t.payload).unwrap().messages {
                    if let Message::Ping(p) = m {
                        probe = Some(p.seq);
                    }
                }
            }
        }
        while core.poll_event().is_some() {}
        if let Some(seq) = probe {
            let ack = Message::Ack(Ack {
                seq,
                payload: coordinate_payload(),
            });
            parts.push(encode_packet(None, &[encode_message(&ack)]));
            return join_chunks(0, &parts);
        }
        parts.push(filler.clone());
    }
    panic!("the core never probed node-a");
}

/// The seed corpus of each target, by file name.
fn seed_corpus() -> BTreeMap<&'static str, Vec<(String, Vec<u8>)>> {
    let mut seeds: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let vectors = [
        "ping",
        "indirect_ping",
        "ack",
        "nack",
        "suspect",
        "alive",
        "dead",
        "left",
        "user",
        "push_pull",
        "compound",
        "labelled",
        "labelled_compound",
    ];
    let packet = seeds.entry("packet").or_default();
    for name in vectors {
        let bytes = read_vector(name);
        let label = if name.starts_with("labelled") {
            MODE_LABEL
        } else {
            0
        };
        packet.push((name.to_owned(), join_chunks(label, &[bytes])));
    }
    for name in ["compound", "labelled_compound", "user"] {
        let bytes = read_vector(name);
        let label = if name.starts_with("labelled") {
            MODE_LABEL
        } else {
            0
        };
        let mode = MODE_KEYED | MODE_SEAL | label;
        packet.push((format!("{name}_sealed"), join_chunks(mode, &[bytes])));
    }
    for (name, m) in serf_messages() {
        let bytes = encode_packet(None, &[encode_message(&user(&m))]);
        packet.push((format!("serf_{name}"), join_chunks(0, &[bytes])));
    }
    let one = |m: &Message| encode_packet(None, &[encode_message(m)]);
    packet.push((
        "alive_suspect_dead".to_owned(),
        join_chunks(
            0,
            &[
                one(&alive("node-a", "10.0.0.1:7946", 3)),
                one(&Message::Suspect(Suspect {
                    incarnation: 3,
                    node: "node-a".into(),
                    from: "node-c".into(),
                })),
                one(&Message::Dead(Dead {
                    incarnation: 4,
                    node: "node-a".into(),
                    from: "node-c".into(),
                })),
                one(&alive("node-a", "10.0.0.1:7946", 5)),
            ],
        ),
    ));
    packet.push((
        "name_conflict_and_refute".to_owned(),
        join_chunks(
            MODE_KEYED | MODE_SEAL,
            &[
                one(&alive("node-a", "10.0.0.1:7946", 3)),
                one(&alive("node-a", "10.0.0.7:7946", 4)),
                one(&Message::Suspect(Suspect {
                    incarnation: 1,
                    node: NAME.into(),
                    from: "node-a".into(),
                })),
            ],
        ),
    ));
    packet.push(("probe_and_ack".to_owned(), probe_and_ack()));

    let stream = seeds.entry("stream").or_default();
    let frame = |name: &str| read_vector(name)[4..].to_vec();
    stream.push((
        "push_pull_join".to_owned(),
        join_chunks(0, &[frame("stream_frame")]),
    ));
    stream.push((
        "ping_labelled".to_owned(),
        join_chunks(MODE_LABEL, &[frame("stream_frame_ping")]),
    ));
    let pp = |join| encode_packet(None, &[encode_message(&push_pull(join))]);
    stream.push(("push_pull_serf".to_owned(), join_chunks(0, &[pp(true)])));
    stream.push((
        "push_pull_serf_sealed".to_owned(),
        join_chunks(MODE_KEYED | MODE_SEAL, &[pp(false)]),
    ));
    stream.push((
        "push_pull_reply".to_owned(),
        join_chunks(MODE_REPLY, &[pp(false), pp(false)]),
    ));
    stream.push((
        "push_pull_reply_sealed".to_owned(),
        join_chunks(MODE_REPLY | MODE_KEYED | MODE_SEAL, &[pp(false)]),
    ));
    stream.push((
        "user_event".to_owned(),
        join_chunks(
            0,
            &[encode_packet(
                None,
                &[encode_message(&user(&serf_messages()[2].1))],
            )],
        ),
    ));

    let snapshot = seeds.entry("snapshot").or_default();
    snapshot.push(("sample".to_owned(), snapshot_sample()));
    let compacted = parse_snapshot(&snapshot_sample()).0.to_bytes();
    snapshot.push(("compacted".to_owned(), compacted));
    let mut torn = snapshot_sample();
    torn.truncate(torn.len() - 9);
    torn.extend_from_slice(b"\n\x00\xff{]\n{\"clock\":18446744073709551615}\n");
    snapshot.push(("torn_and_garbage".to_owned(), torn));

    let keyring = seeds.entry("keyring").or_default();
    keyring.push(("one_key".to_owned(), format_keyring_file(&[key_b()]).into()));
    let three = [key_b(), SecretKey::new(&[0x24; 24]).unwrap(), key_a()];
    keyring.push(("three_sizes".to_owned(), format_keyring_file(&three).into()));
    keyring.push((
        "consul_compact".to_owned(),
        br#"["pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=","pUqJrVyVRj5jsiYEkM/tFQ=="]"#.to_vec(),
    ));
    keyring.push(("bare_key".to_owned(), key_b().to_base64().into()));
    keyring.push((
        "bad_entry".to_owned(),
        br#"["pUqJrVyVRj5jsiYEkM/tFQ==", "AAAA", 3]"#.to_vec(),
    ));

    let serf = seeds.entry("serf").or_default();
    for (name, m) in serf_messages() {
        let mut b = vec![0];
        b.extend(m.encode());
        serf.push((format!("message_{name}"), b));
    }
    let mut b = vec![1];
    b.extend(serf_push_pull().encode());
    serf.push(("push_pull".to_owned(), b));
    let mut b = vec![2];
    b.extend(
        KeyResponse {
            ok: false,
            message: "the primary key cannot be removed".into(),
            keys: vec![serde_bytes::ByteBuf::from(vec![1u8; 16])],
        }
        .encode(),
    );
    serf.push(("key_response".to_owned(), b));
    let mut b = vec![3, 0, 20];
    b.extend(coordinate_payload());
    serf.push(("coordinate".to_owned(), b));
    seeds
}

/// Checks that each seed still reaches past the decoders it targets (a
/// seed the format has outgrown would only exercise refusals), and writes
/// the corpus when `HEARSAY_REGEN_FUZZ_SEEDS=1`.
#[test]
fn fuzz_seeds() {
    let seeds = seed_corpus();
    if std::env::var_os("HEARSAY_REGEN_FUZZ_SEEDS").is_some() {
        for (target, files) in &seeds {
            let dir = seeds_dir().join(target);
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in files {
                fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
    for (target, files) in &seeds {
        let dir = seeds_dir().join(target);
        for (name, _) in files {
            let stored = fs::read(dir.join(name)).unwrap_or_default();
            let what = format!("fuzz/seeds/{target}/{name}");
            assert!(
                !stored.is_empty(),
                "{what} is missing: HEARSAY_REGEN_FUZZ_SEEDS=1"
            );
            check_seed(target, &what, &stored);
        }
    }
}

fn check_seed(target: &str, what: &str, bytes: &[u8]) {
    match target {
        "packet" | "stream" => {
            let (mode, chunks) = split_chunks(bytes);
            assert!(!chunks.is_empty(), "{what}");
            for chunk in chunks {
                if target == "packet" {
                    decode_packet(chunk).unwrap_or_else(|e| panic!("{what}: {e}"));
                } else {
                    decode_stream_frame(chunk).unwrap_or_else(|e| panic!("{what}: {e}"));
                }
                let label = PacketHeader::parse(chunk).unwrap().label;
                assert_eq!(label.is_some(), mode & MODE_LABEL != 0, "{what}");
            }
        }
        "snapshot" => {
            let (state, _) = parse_snapshot(bytes);
            assert_ne!(state, SnapshotState::default(), "{what}");
        }
        "keyring" => {
            let text = std::str::from_utf8(bytes).unwrap();
            let ok = parse_keyring_file(text).is_ok() || SecretKey::from_base64(text).is_ok();
            assert!(ok || what.ends_with("bad_entry"), "{what}");
        }
        "serf" => {
            let (&which, rest) = bytes.split_first().unwrap();
            let ok = match which {
                0 => SerfMessage::decode(rest).is_ok(),
                1 => SerfPushPull::decode(rest).is_ok(),
                2 => KeyResponse::decode(rest).is_some(),
                _ => ciborium::from_reader::<Coordinate, _>(&rest[2..]).is_ok(),
            };
            assert!(ok, "{what}");
        }
        _ => unreachable!(),
    }
}

/// The core opens what `seal_packet` seals and reads its own sealed
/// replies: the encrypted seeds are not dead ends.
#[test]
fn sealed_seeds_open() {
    let plain = read_vector("labelled_compound");
    let sealed = seal_packet(&plain, &key_b(), [7; NONCE_LEN]);
    let header = PacketHeader::parse(&sealed).unwrap();
    assert_ne!(header.flags & FLAG_ENCRYPTED, 0);
    let ring = Keyring::new(vec![key_a(), key_b()]).unwrap();
    let body = open_body(&sealed, &header, &ring).unwrap();
    assert_eq!(body, plain[header.body_offset..]);
    let now = Instant::now();
    let mut serf = serf_core(MODE_KEYED | MODE_LABEL, now);
    serf.handle_packet(now, peer_addr(), &sealed).unwrap();
}
