//! Properties of the wire format: every message round-trips through packets,
//! compounds and stream frames, and no input makes a decoder panic. Plus the
//! decode bounds of `docs/PROTOCOL.md`, checked one by one.

use std::net::{IpAddr, SocketAddr};

use ciborium::Value;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use hearsay::wire::{
    decode_packet, decode_stream_frame, encode_message, encode_packet, encode_stream_frame, Ack,
    Alive, Dead, DecodeError, IndirectPing, MemberState, Message, Nack, Packet, Ping, PushNode,
    PushPull, Suspect, User, WireAddr, FLAG_COMPOUND, FLAG_ENCRYPTED, FLAG_LABEL, MAGIC,
    MAX_COMPOUND_MESSAGES, MAX_LABEL_LEN, MAX_NAME_LEN, PROTOCOL_VERSION, PROTOCOL_VERSION_MAX,
    PROTOCOL_VERSION_MIN,
};

// ----- strategies -----

/// Up to `max_bytes` of UTF-8 built from `chars`, never empty.
fn fit_utf8(chars: Vec<char>, max_bytes: usize) -> String {
    let mut s = String::new();
    for c in chars {
        if s.len() + c.len_utf8() > max_bytes {
            break;
        }
        s.push(c);
    }
    s
}

/// Node names: 1 to 128 bytes, ASCII or any Unicode, often at the limit.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.-]{1,128}",
        "[a-z]{128}",
        prop::collection::vec(any::<char>(), 1..=128).prop_map(|c| fit_utf8(c, MAX_NAME_LEN)),
    ]
}

/// Pool labels: 1 to 255 bytes.
fn label() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        "[a-z0-9-]{1,255}".prop_map(Some),
        prop::collection::vec(any::<char>(), 1..=255)
            .prop_map(|c| Some(fit_utf8(c, MAX_LABEL_LEN))),
    ]
}

fn wire_addr() -> impl Strategy<Value = WireAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| WireAddr(SocketAddr::new(IpAddr::from(ip), port))),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| WireAddr(SocketAddr::new(IpAddr::from(ip), port))),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

fn member_state() -> impl Strategy<Value = MemberState> {
    prop_oneof![
        Just(MemberState::Alive),
        Just(MemberState::Suspect),
        Just(MemberState::Dead),
        Just(MemberState::Left),
    ]
}

fn push_node() -> impl Strategy<Value = PushNode> {
    (
        name(),
        wire_addr(),
        bytes(64),
        any::<u32>(),
        member_state(),
        any::<[u8; 3]>(),
    )
        .prop_map(
            |(name, addr, meta, incarnation, state, versions)| PushNode {
                name,
                addr,
                meta,
                incarnation,
                state,
                versions,
            },
        )
}

/// Every variant of `Message`, with every field random.
fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (any::<u32>(), name(), name(), wire_addr()).prop_map(|(seq, target, source, addr)| {
            Message::Ping(Ping {
                seq,
                target,
                source,
                source_addr: addr,
            })
        }),
        (
            any::<u32>(),
            name(),
            wire_addr(),
            any::<bool>(),
            name(),
            wire_addr()
        )
            .prop_map(|(seq, target, target_addr, nack, source, source_addr)| {
                Message::IndirectPing(IndirectPing {
                    seq,
                    target,
                    target_addr,
                    nack,
                    source,
                    source_addr,
                })
            }),
        (any::<u32>(), bytes(64)).prop_map(|(seq, payload)| Message::Ack(Ack { seq, payload })),
        any::<u32>().prop_map(|seq| Message::Nack(Nack { seq })),
        (any::<u32>(), name(), name()).prop_map(|(incarnation, node, from)| {
            Message::Suspect(Suspect {
                incarnation,
                node,
                from,
            })
        }),
        (
            any::<u32>(),
            name(),
            wire_addr(),
            bytes(256),
            any::<[u8; 3]>()
        )
            .prop_map(|(incarnation, node, addr, meta, versions)| {
                Message::Alive(Alive {
                    incarnation,
                    node,
                    addr,
                    meta,
                    versions,
                })
            }),
        (any::<u32>(), name(), prop::option::of(name())).prop_map(|(incarnation, node, from)| {
            // `None` is a graceful leave: the node names itself.
            let from = from.unwrap_or_else(|| node.clone());
            Message::Dead(Dead {
                incarnation,
                node,
                from,
            })
        }),
        (
            any::<bool>(),
            prop::collection::vec(push_node(), 0..12),
            bytes(128)
        )
            .prop_map(|(join, nodes, user_state)| {
                Message::PushPull(PushPull {
                    join,
                    nodes,
                    user_state,
                })
            }),
        bytes(512).prop_map(|payload| Message::User(User { payload })),
    ]
}

/// Well-formed CBOR of roughly the right shape: maps keyed by the wire's
/// short keys, so decoding gets deep before it fails (or succeeds).
fn cbor_value() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "p", "ip", "a", "n", "s", "al", "d", "pp", "u", "q", "t", "ta", "k", "f", "i", "m", "v",
        "j", "ns", "l", "x",
    ]);
    let leaf = prop_oneof![
        any::<u64>().prop_map(|n| Value::Integer(n.into())),
        any::<i64>().prop_map(|n| Value::Integer(n.into())),
        (0u64..8).prop_map(|n| Value::Integer(n.into())),
        bytes(20).prop_map(Value::Bytes),
        key.clone().prop_map(|k| Value::Text(k.to_owned())),
        "[a-z]{0,10}".prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        any::<f64>().prop_map(Value::Float),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner.clone()), 0..7).prop_map(|entries| {
                Value::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Value::Text(k.to_owned()), v))
                        .collect(),
                )
            }),
            (key.clone(), inner.clone())
                .prop_map(|(k, v)| Value::Map(vec![(Value::Text(k.to_owned()), v)])),
            (0u64..300, inner).prop_map(|(tag, v)| Value::Tag(tag, Box::new(v))),
        ]
    })
}

// ----- helpers -----

fn packet_of(label: Option<&str>, messages: &[Message]) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = messages.iter().map(encode_message).collect();
    encode_packet(label, &encoded)
}

/// A packet with this header and body, built by hand.
fn raw_packet(version: u8, flags: u8, label: Option<&[u8]>, body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(version);
    out.push(flags);
    if let Some(label) = label {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.extend_from_slice(body);
    out
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("CBOR to a Vec");
    out
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
}

/// Whatever a decoder accepts must be a message that keeps its bounds and
/// survives our own encoding unchanged: a decoder never hands out values
/// the encoder cannot reproduce.
fn check_accepted(packet: &Packet) -> Result<(), TestCaseError> {
    prop_assert!(!packet.messages.is_empty());
    prop_assert!(packet.messages.len() <= MAX_COMPOUND_MESSAGES);
    if let Some(label) = &packet.header.label {
        prop_assert!(!label.is_empty() && label.len() <= MAX_LABEL_LEN);
    }
    for m in &packet.messages {
        prop_assert!(m.check_bounds().is_ok());
    }
    let again = decode_packet(&packet_of(packet.header.label.as_deref(), &packet.messages));
    prop_assert_eq!(again.map(|p| p.messages), Ok(packet.messages.clone()));
    Ok(())
}

fn check_input(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(packet) = decode_packet(bytes) {
        check_accepted(&packet)?;
    }
    if let Ok((header, message)) = decode_stream_frame(bytes) {
        prop_assert_eq!(header.flags & FLAG_COMPOUND, 0);
        check_accepted(&Packet {
            header,
            messages: vec![message],
        })?;
    }
    Ok(())
}

// ----- properties -----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn one_message_round_trips(m in message(), label in label()) {
        let bytes = packet_of(label.as_deref(), std::slice::from_ref(&m));
        prop_assert_eq!(&bytes[..2], &MAGIC[..]);
        prop_assert_eq!(bytes[2], PROTOCOL_VERSION);
        let packet = decode_packet(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(packet.header.flags & FLAG_COMPOUND, 0);
        prop_assert_eq!(packet.header.flags & FLAG_LABEL != 0, label.is_some());
        prop_assert_eq!(packet.header.label, label);
        prop_assert_eq!(packet.messages, vec![m]);
    }

    #[test]
    fn compounds_round_trip(
        messages in prop::collection::vec(message(), 2..=16),
        label in label(),
    ) {
        let bytes = packet_of(label.as_deref(), &messages);
        let packet = decode_packet(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_ne!(packet.header.flags & FLAG_COMPOUND, 0);
        prop_assert_eq!(packet.header.label, label);
        prop_assert_eq!(packet.messages, messages);
    }

    #[test]
    fn stream_frames_round_trip(m in message(), label in label()) {
        let frame = encode_stream_frame(label.as_deref(), &m);
        let (prefix, packet) = frame.split_at(4);
        let declared = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        prop_assert_eq!(declared as usize, packet.len());
        let (header, decoded) =
            decode_stream_frame(packet).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(header.label, label);
        prop_assert_eq!(decoded, m);
    }

    /// Any strict prefix of a valid packet is refused, by both decoders.
    #[test]
    fn truncated_packets_are_rejected(
        messages in prop::collection::vec(message(), 1..=4),
        label in label(),
        cut in any::<Index>(),
    ) {
        let bytes = packet_of(label.as_deref(), &messages);
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(decode_packet(short).is_err());
        prop_assert!(decode_stream_frame(short).is_err());
    }

    /// Bytes after a valid packet are refused.
    #[test]
    fn extended_packets_are_rejected(
        messages in prop::collection::vec(message(), 1..=4),
        label in label(),
        extra in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let mut bytes = packet_of(label.as_deref(), &messages);
        bytes.extend_from_slice(&extra);
        prop_assert!(decode_packet(&bytes).is_err());
    }

    /// A damaged header is always refused, whatever the body.
    #[test]
    fn damaged_headers_are_rejected(
        messages in prop::collection::vec(message(), 1..=3),
        label in label(),
        magic_byte in 0usize..2,
        bad_magic in any::<u8>(),
        bad_version in any::<u8>(),
        bad_flag_bit in 3u32..8,
    ) {
        let bytes = packet_of(label.as_deref(), &messages);

        let mut b = bytes.clone();
        prop_assume!(bad_magic != MAGIC[magic_byte]);
        b[magic_byte] = bad_magic;
        prop_assert_eq!(decode_packet(&b), Err(DecodeError::BadMagic));

        let mut b = bytes.clone();
        b[2] = bad_version;
        if !(PROTOCOL_VERSION_MIN..=PROTOCOL_VERSION_MAX).contains(&bad_version) {
            prop_assert_eq!(decode_packet(&b), Err(DecodeError::UnsupportedVersion(bad_version)));
            prop_assert!(decode_stream_frame(&b).is_err());
        }

        let mut b = bytes.clone();
        b[3] |= 1 << bad_flag_bit;
        prop_assert_eq!(decode_packet(&b), Err(DecodeError::BadFlags(b[3])));

        let mut b = bytes;
        b[3] |= FLAG_ENCRYPTED;
        prop_assert_eq!(decode_packet(&b), Err(DecodeError::BadFlags(b[3])));
    }

    /// Random damage to the bytes of valid packets never panics; whatever
    /// still decodes is a well-formed message.
    #[test]
    fn mutated_packets_never_panic(
        messages in prop::collection::vec(message(), 1..=4),
        label in label(),
        edits in prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..4), 1..8),
    ) {
        let mut bytes = packet_of(label.as_deref(), &messages);
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes[i] ^= 1 << (byte % 8),
                2 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        check_input(&bytes)?;
    }

    /// Valid CBOR of the wrong shape behind a valid header.
    #[test]
    fn wrong_shaped_cbor_never_panics(
        value in cbor_value(),
        label in label(),
        compound in any::<bool>(),
    ) {
        let cbor_body = cbor(&value);
        let (flags, body) = if compound {
            let mut b = vec![1u8];
            b.extend_from_slice(&(cbor_body.len() as u16).to_be_bytes());
            b.extend_from_slice(&cbor_body);
            (FLAG_COMPOUND, b)
        } else {
            (0, cbor_body)
        };
        let bytes = match &label {
            Some(l) => raw_packet(PROTOCOL_VERSION, flags | FLAG_LABEL, Some(l.as_bytes()), &body),
            None => raw_packet(PROTOCOL_VERSION, flags, None, &body),
        };
        check_input(&bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_input(&bytes)?;
    }

    #[test]
    fn random_bodies_never_panic(
        flags in prop_oneof![Just(0u8), Just(FLAG_COMPOUND)],
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        check_input(&raw_packet(PROTOCOL_VERSION, flags, None, &body))?;
    }
}

/// A plain loop over many seeded inputs: random bytes, random bodies
/// behind valid headers, and edited valid packets. Deterministic, so a
/// failure names its input number.
#[test]
fn seeded_inputs_never_panic() {
    const SEED: u64 = 0x4859_0001;
    const INPUTS: usize = 100_000;

    // A corpus of valid packets and frames from the message strategy, driven
    // by a fixed seed.
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let corpus_strategy = (prop::collection::vec(message(), 1..=4), label());
    let corpus: Vec<Vec<u8>> = (0..300)
        .map(|_| {
            let (messages, label) = corpus_strategy
                .new_tree(&mut runner)
                .expect("strategy generates")
                .current();
            if messages.len() == 1 && label.is_none() {
                encode_stream_frame(None, &messages[0])[4..].to_vec()
            } else {
                packet_of(label.as_deref(), &messages)
            }
        })
        .collect();

    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut accepted = 0usize;
    for n in 0..INPUTS {
        let bytes = match rng.random_range(0..4) {
            0 => {
                let mut b = vec![0u8; rng.random_range(0..96)];
                rng.fill(&mut b[..]);
                b
            }
            1 => {
                let mut body = vec![0u8; rng.random_range(0..96)];
                rng.fill(&mut body[..]);
                let flags = if rng.random_bool(0.5) {
                    FLAG_COMPOUND
                } else {
                    0
                };
                raw_packet(PROTOCOL_VERSION, flags, None, &body)
            }
            _ => {
                let mut b = corpus[rng.random_range(0..corpus.len())].clone();
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
        };
        if let Err(e) = check_input(&bytes) {
            panic!("input {n} (seed {SEED:#x}) {bytes:02x?}: {e}");
        }
        accepted += usize::from(decode_packet(&bytes).is_ok());
    }
    // Most damage must be caught; a few edits (a changed sequence number,
    // a changed byte of a name) leave a valid packet.
    assert!(accepted < INPUTS / 4, "{accepted} of {INPUTS} accepted");
}

// ----- bounds, one by one -----

fn ping_named(target: &str, source: &str) -> Message {
    Message::Ping(Ping {
        seq: 1,
        target: target.into(),
        source: source.into(),
        source_addr: WireAddr("10.0.0.1:7946".parse().unwrap()),
    })
}

/// Every message with a name field, with that field set to `name`.
fn with_each_name(name: &str) -> Vec<Message> {
    let ok = "node-a".to_owned();
    let n = name.to_owned();
    let addr = WireAddr("[2001:db8::1]:7946".parse().unwrap());
    let node = |name: String| PushNode {
        name,
        addr,
        meta: Vec::new(),
        incarnation: 1,
        state: MemberState::Alive,
        versions: [1, 1, 1],
    };
    let indirect = |target: String, source: String| {
        Message::IndirectPing(IndirectPing {
            seq: 1,
            target,
            target_addr: addr,
            nack: true,
            source,
            source_addr: addr,
        })
    };
    vec![
        ping_named(name, &ok),
        ping_named(&ok, name),
        indirect(n.clone(), ok.clone()),
        indirect(ok.clone(), n.clone()),
        Message::Suspect(Suspect {
            incarnation: 1,
            node: n.clone(),
            from: ok.clone(),
        }),
        Message::Suspect(Suspect {
            incarnation: 1,
            node: ok.clone(),
            from: n.clone(),
        }),
        Message::Alive(Alive {
            incarnation: 1,
            node: n.clone(),
            addr,
            meta: Vec::new(),
            versions: [1, 1, 1],
        }),
        Message::Dead(Dead {
            incarnation: 1,
            node: n.clone(),
            from: ok.clone(),
        }),
        Message::Dead(Dead {
            incarnation: 1,
            node: ok.clone(),
            from: n.clone(),
        }),
        Message::PushPull(PushPull {
            join: false,
            nodes: vec![node(ok.clone()), node(n)],
            user_state: Vec::new(),
        }),
    ]
}

#[test]
fn names_of_128_bytes_are_accepted() {
    let ascii = "x".repeat(MAX_NAME_LEN);
    let two_byte = "é".repeat(MAX_NAME_LEN / 2);
    assert_eq!(two_byte.len(), MAX_NAME_LEN);
    for name in [ascii.as_str(), two_byte.as_str(), "a"] {
        for m in with_each_name(name) {
            let bytes = packet_of(None, std::slice::from_ref(&m));
            assert_eq!(decode_packet(&bytes).map(|p| p.messages), Ok(vec![m]));
        }
    }
}

#[test]
fn over_long_and_empty_names_are_rejected() {
    let ascii = "x".repeat(MAX_NAME_LEN + 1);
    // 43 three-byte characters: 129 bytes, though only 43 characters.
    let three_byte = "€".repeat(43);
    assert_eq!(three_byte.len(), MAX_NAME_LEN + 1);
    let huge = "y".repeat(10_000);
    for name in [ascii.as_str(), three_byte.as_str(), huge.as_str(), ""] {
        for m in with_each_name(name) {
            assert!(m.check_bounds().is_err());
            let bytes = packet_of(None, std::slice::from_ref(&m));
            assert!(
                matches!(decode_packet(&bytes), Err(DecodeError::OutOfBounds(_))),
                "{name:?} accepted in {m:?}"
            );
            let frame = encode_stream_frame(None, &m);
            assert!(matches!(
                decode_stream_frame(&frame[4..]),
                Err(DecodeError::OutOfBounds(_))
            ));
            // In a compound too, even behind a valid message.
            let compound = packet_of(None, &[Message::Nack(Nack { seq: 9 }), m]);
            assert!(matches!(
                decode_packet(&compound),
                Err(DecodeError::OutOfBounds(_))
            ));
        }
    }
}

#[test]
fn compound_with_count_zero_is_rejected() {
    let empty = raw_packet(PROTOCOL_VERSION, FLAG_COMPOUND, None, &[0]);
    assert!(matches!(
        decode_packet(&empty),
        Err(DecodeError::Malformed(_))
    ));
    // Also with something after the count, and with a label.
    let nack = encode_message(&Message::Nack(Nack { seq: 1 }));
    let mut body = vec![0u8];
    body.extend_from_slice(&(nack.len() as u16).to_be_bytes());
    body.extend_from_slice(&nack);
    let trailing = raw_packet(PROTOCOL_VERSION, FLAG_COMPOUND, None, &body);
    assert!(decode_packet(&trailing).is_err());
    let labelled = raw_packet(
        PROTOCOL_VERSION,
        FLAG_COMPOUND | FLAG_LABEL,
        Some(b"prod"),
        &[0],
    );
    assert!(matches!(
        decode_packet(&labelled),
        Err(DecodeError::Malformed(_))
    ));
    // A compound flag with no count at all.
    let bare = raw_packet(PROTOCOL_VERSION, FLAG_COMPOUND, None, &[]);
    assert_eq!(decode_packet(&bare), Err(DecodeError::Truncated));
}

#[test]
fn compound_counts_from_1_to_255_are_accepted() {
    let nack = encode_message(&Message::Nack(Nack { seq: 1 }));
    for count in [1usize, 2, 254, MAX_COMPOUND_MESSAGES] {
        let mut body = vec![count as u8];
        for _ in 0..count {
            body.extend_from_slice(&(nack.len() as u16).to_be_bytes());
            body.extend_from_slice(&nack);
        }
        let bytes = raw_packet(PROTOCOL_VERSION, FLAG_COMPOUND, None, &body);
        let packet = decode_packet(&bytes).expect("valid compound");
        assert_eq!(packet.messages.len(), count);
    }
    // encode_packet writes the same bytes for 255 messages.
    let messages = vec![Message::Nack(Nack { seq: 1 }); MAX_COMPOUND_MESSAGES];
    assert_eq!(
        decode_packet(&packet_of(None, &messages)).map(|p| p.messages),
        Ok(messages)
    );
}

#[test]
fn compound_framing_errors_are_rejected() {
    let nack = encode_message(&Message::Nack(Nack { seq: 1 }));
    let part = |len: u16| {
        let mut b = len.to_be_bytes().to_vec();
        b.extend_from_slice(&nack);
        b
    };
    // Count says two, one follows.
    let mut body = vec![2u8];
    body.extend(part(nack.len() as u16));
    assert_eq!(
        decode_packet(&raw_packet(PROTOCOL_VERSION, FLAG_COMPOUND, None, &body)),
        Err(DecodeError::Truncated)
    );
    // A length longer than what is left.
    let mut body = vec![1u8];
    body.extend(part(nack.len() as u16 + 1));
    assert_eq!(
        decode_packet(&raw_packet(PROTOCOL_VERSION, FLAG_COMPOUND, None, &body)),
        Err(DecodeError::Truncated)
    );
    // A length shorter than the message: the part has trailing bytes for
    // none, but the message is cut.
    let mut body = vec![1u8];
    body.extend(part(nack.len() as u16 - 1));
    assert!(decode_packet(&raw_packet(PROTOCOL_VERSION, FLAG_COMPOUND, None, &body)).is_err());
    // A part of length zero.
    let body = vec![1u8, 0, 0];
    assert!(decode_packet(&raw_packet(PROTOCOL_VERSION, FLAG_COMPOUND, None, &body)).is_err());
    // A byte after the last part.
    let mut body = vec![1u8];
    body.extend(part(nack.len() as u16));
    body.push(0);
    assert_eq!(
        decode_packet(&raw_packet(PROTOCOL_VERSION, FLAG_COMPOUND, None, &body)),
        Err(DecodeError::TrailingBytes)
    );
    // Two messages back to back without the compound flag.
    let mut body = nack.clone();
    body.extend_from_slice(&nack);
    assert_eq!(
        decode_packet(&raw_packet(PROTOCOL_VERSION, 0, None, &body)),
        Err(DecodeError::TrailingBytes)
    );
}

#[test]
fn label_bounds() {
    let nack = encode_message(&Message::Nack(Nack { seq: 1 }));
    // Length 0 with the label flag.
    let b = raw_packet(PROTOCOL_VERSION, FLAG_LABEL, Some(b""), &nack);
    assert_eq!(decode_packet(&b), Err(DecodeError::BadLabel));
    // 255 bytes, the most a length byte says.
    let long = "l".repeat(MAX_LABEL_LEN);
    let b = raw_packet(PROTOCOL_VERSION, FLAG_LABEL, Some(long.as_bytes()), &nack);
    assert_eq!(
        decode_packet(&b).map(|p| p.header.label),
        Ok(Some(long.clone()))
    );
    assert_eq!(
        packet_of(Some(&long), &[Message::Nack(Nack { seq: 1 })]),
        b,
        "encode_packet writes the same bytes"
    );
    // Not UTF-8.
    let b = raw_packet(PROTOCOL_VERSION, FLAG_LABEL, Some(&[0xff, 0xfe]), &nack);
    assert_eq!(decode_packet(&b), Err(DecodeError::BadLabel));
    // The flag without the length byte, and a length past the end.
    let b = raw_packet(PROTOCOL_VERSION, FLAG_LABEL, None, &[]);
    assert_eq!(decode_packet(&b), Err(DecodeError::Truncated));
    let mut b = raw_packet(PROTOCOL_VERSION, FLAG_LABEL, None, &[10]);
    b.extend_from_slice(b"short");
    assert_eq!(decode_packet(&b), Err(DecodeError::Truncated));
}

#[test]
fn header_bounds() {
    let nack = encode_message(&Message::Nack(Nack { seq: 1 }));
    for short in [&b""[..], b"H", b"HY", b"HY\x01"] {
        assert_eq!(decode_packet(short), Err(DecodeError::Truncated));
    }
    assert_eq!(
        decode_packet(&raw_packet(PROTOCOL_VERSION, 0, None, &[])),
        Err(DecodeError::Malformed("unexpected end of CBOR".into()))
    );
    for version in [0u8, PROTOCOL_VERSION_MAX + 1, 0xff] {
        assert_eq!(
            decode_packet(&raw_packet(version, 0, None, &nack)),
            Err(DecodeError::UnsupportedVersion(version))
        );
    }
    for flags in [0x08u8, 0x10, 0x80, 0xff] {
        assert_eq!(
            decode_packet(&raw_packet(PROTOCOL_VERSION, flags, None, &nack)),
            Err(DecodeError::BadFlags(flags))
        );
    }
    // The encrypted flag is reserved for the keyring; the plain decoder
    // refuses it.
    assert_eq!(
        decode_packet(&raw_packet(PROTOCOL_VERSION, FLAG_ENCRYPTED, None, &nack)),
        Err(DecodeError::BadFlags(FLAG_ENCRYPTED))
    );
}

#[test]
fn stream_frames_refuse_compounds() {
    let messages = vec![
        Message::Nack(Nack { seq: 1 }),
        Message::Nack(Nack { seq: 2 }),
    ];
    let b = packet_of(None, &messages);
    assert_eq!(
        decode_stream_frame(&b),
        Err(DecodeError::BadFlags(FLAG_COMPOUND))
    );
    // Even a compound of one.
    let nack = encode_message(&messages[0]);
    let mut body = vec![1u8];
    body.extend_from_slice(&(nack.len() as u16).to_be_bytes());
    body.extend_from_slice(&nack);
    let b = raw_packet(PROTOCOL_VERSION, FLAG_COMPOUND, None, &body);
    assert!(decode_packet(&b).is_ok());
    assert_eq!(
        decode_stream_frame(&b),
        Err(DecodeError::BadFlags(FLAG_COMPOUND))
    );
}

fn ping_with_addr(addr: Value) -> Vec<u8> {
    let body = cbor(&map(vec![(
        "p",
        map(vec![
            ("q", Value::Integer(1.into())),
            ("t", text("node-b")),
            ("n", text("node-a")),
            ("a", addr),
        ]),
    )]));
    raw_packet(PROTOCOL_VERSION, 0, None, &body)
}

#[test]
fn addresses_must_be_6_or_18_bytes() {
    for len in [0usize, 4, 5, 7, 16, 17, 19, 40] {
        let b = ping_with_addr(Value::Bytes(vec![1; len]));
        assert!(
            matches!(decode_packet(&b), Err(DecodeError::Malformed(_))),
            "{len}"
        );
    }
    for len in [6usize, 18] {
        assert!(decode_packet(&ping_with_addr(Value::Bytes(vec![1; len]))).is_ok());
    }
    // A text string or an array is not an address.
    assert!(decode_packet(&ping_with_addr(text("10.0.0.1:7946"))).is_err());
    let ints = Value::Array(vec![Value::Integer(1.into()); 6]);
    assert!(decode_packet(&ping_with_addr(ints)).is_err());
}

#[test]
fn optional_required_and_unknown_keys() {
    let decode = |v: Value| decode_packet(&raw_packet(PROTOCOL_VERSION, 0, None, &cbor(&v)));
    // Ack without "p": empty payload.
    assert_eq!(
        decode(map(vec![("a", map(vec![("q", Value::Integer(5.into()))]))])).map(|p| p.messages),
        Ok(vec![Message::Ack(Ack {
            seq: 5,
            payload: Vec::new()
        })])
    );
    // User without "p": refused.
    assert!(decode(map(vec![("u", map(vec![]))])).is_err());
    // IndirectPing without "k": refused.
    let addr = Value::Bytes(vec![10, 0, 0, 1, 0x1f, 0x0a]);
    assert!(decode(map(vec![(
        "ip",
        map(vec![
            ("q", Value::Integer(1.into())),
            ("t", text("node-c")),
            ("ta", addr.clone()),
            ("n", text("node-a")),
            ("a", addr.clone()),
        ])
    )]))
    .is_err());
    // Unknown keys are skipped, in any position.
    assert_eq!(
        decode(map(vec![(
            "n",
            map(vec![
                ("zz", Value::Array(vec![Value::Null])),
                ("q", Value::Integer(3.into())),
                ("x", text("later")),
            ])
        )]))
        .map(|p| p.messages),
        Ok(vec![Message::Nack(Nack { seq: 3 })])
    );
    // A key given twice is refused.
    assert!(decode(map(vec![(
        "n",
        map(vec![
            ("q", Value::Integer(3.into())),
            ("q", Value::Integer(4.into())),
        ])
    )]))
    .is_err());
    // Integers need not be in their shortest form: {"n": {"q": 2}} with a
    // four-byte 2.
    let long_int = [0xa1, 0x61, b'n', 0xa1, 0x61, b'q', 0x1a, 0, 0, 0, 2];
    assert_eq!(
        decode_packet(&raw_packet(PROTOCOL_VERSION, 0, None, &long_int)).map(|p| p.messages),
        Ok(vec![Message::Nack(Nack { seq: 2 })])
    );
    // Tags are skipped and names may be indefinite-length text:
    // {"s": {"i": 1000(3), "n": (_ "nod", "e-c"), "f": "node-b"}}
    let lenient = [
        0xa1, 0x61, b's', 0xa3, 0x61, b'i', 0xd9, 0x03, 0xe8, 0x03, 0x61, b'n', 0x7f, 0x63, b'n',
        b'o', b'd', 0x63, b'e', b'-', b'c', 0xff, 0x61, b'f', 0x66, b'n', b'o', b'd', b'e', b'-',
        b'b',
    ];
    assert_eq!(
        decode_packet(&raw_packet(PROTOCOL_VERSION, 0, None, &lenient)).map(|p| p.messages),
        Ok(vec![Message::Suspect(Suspect {
            incarnation: 3,
            node: "node-c".into(),
            from: "node-b".into(),
        })])
    );
    // An unknown message type is refused.
    assert!(decode(map(vec![(
        "zz",
        map(vec![("q", Value::Integer(3.into()))])
    )]))
    .is_err());
    // Two entries in the outer map are refused.
    assert!(decode(map(vec![
        ("n", map(vec![("q", Value::Integer(3.into()))])),
        ("n", map(vec![("q", Value::Integer(4.into()))])),
    ]))
    .is_err());
    // A sequence number beyond 32 bits is refused.
    assert!(decode(map(vec![(
        "n",
        map(vec![("q", Value::Integer((1u64 << 32).into()))])
    )]))
    .is_err());
    // Versions are an array of three.
    let alive = |v: Value| {
        map(vec![(
            "al",
            map(vec![
                ("i", Value::Integer(1.into())),
                ("n", text("node-a")),
                ("a", addr.clone()),
                ("v", v),
            ]),
        )])
    };
    let three = Value::Array(vec![Value::Integer(1.into()); 3]);
    assert!(decode(alive(three)).is_ok());
    let two = Value::Array(vec![Value::Integer(1.into()); 2]);
    assert!(decode(alive(two)).is_err());
}

/// Lengths declared far beyond the input do not allocate or panic.
#[test]
fn huge_declared_lengths_are_refused() {
    // Text, byte string, array and map headers claiming 2^32 and 2^64 - 1
    // items, each in a field where the decoder expects that type.
    let heads: [&[u8]; 8] = [
        &[0x7a, 0xff, 0xff, 0xff, 0xff],
        &[0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x5a, 0xff, 0xff, 0xff, 0xff],
        &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x9a, 0xff, 0xff, 0xff, 0xff],
        &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0xba, 0xff, 0xff, 0xff, 0xff],
        &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    // {"pp": {"ns": <head>}} and {"u": {"p": <head>}} and {"s": {"n": <head>}}
    let prefixes: [&[u8]; 3] = [
        &[0xa1, 0x62, b'p', b'p', 0xa1, 0x62, b'n', b's'],
        &[0xa1, 0x61, b'u', 0xa1, 0x61, b'p'],
        &[0xa1, 0x61, b's', 0xa1, 0x61, b'n'],
    ];
    for prefix in prefixes {
        for head in heads {
            let mut body = prefix.to_vec();
            body.extend_from_slice(head);
            body.extend_from_slice(&[0x01, 0x02, 0x03]);
            let b = raw_packet(PROTOCOL_VERSION, 0, None, &body);
            assert!(decode_packet(&b).is_err());
        }
    }
}
