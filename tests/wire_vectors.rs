//! Golden test vectors for the wire format (`docs/PROTOCOL.md`).
//!
//! Each file under `tests/vectors/` holds the bytes of one packet or stream
//! frame as hex text; lines starting with `#` are comments. The tests encode
//! fixed message values and compare with the stored bytes, then decode the
//! stored bytes and compare with the values.
//!
//! To rewrite the files after a deliberate format change:
//!
//! ```text
//! HEARSAY_REGEN_VECTORS=1 cargo test --test wire_vectors
//! ```

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use hearsay::wire::{
    decode_packet, decode_stream_frame, encode_message, encode_packet, encode_stream_frame,
    header_len, Ack, Alive, Dead, IndirectPing, MemberState, Message, Nack, Ping, PushNode,
    PushPull, Suspect, User, WireAddr, FLAG_COMPOUND, FLAG_LABEL, PROTOCOL_VERSION,
};

/// What one vector file holds.
enum Framing {
    /// A datagram: one message, or a compound of several.
    Packet {
        label: Option<&'static str>,
        messages: Vec<Message>,
    },
    /// A stream frame: length prefix, then a one-message packet.
    StreamFrame {
        label: Option<&'static str>,
        message: Message,
    },
}

struct Vector {
    /// File name without `.hex`.
    name: &'static str,
    /// The values, as the first comment line.
    summary: &'static str,
    framing: Framing,
}

fn addr(s: &str) -> WireAddr {
    WireAddr(s.parse().expect("test address parses"))
}

fn ping() -> Message {
    Message::Ping(Ping {
        seq: 1,
        target: "node-b".into(),
        source: "node-a".into(),
        source_addr: addr("10.0.0.1:7946"),
    })
}

fn suspect() -> Message {
    Message::Suspect(Suspect {
        incarnation: 3,
        node: "node-c".into(),
        from: "node-b".into(),
    })
}

fn alive() -> Message {
    Message::Alive(Alive {
        incarnation: 4,
        node: "node-c".into(),
        addr: addr("[2001:db8::3]:7946"),
        meta: b"role=db".to_vec(),
        versions: [1, 1, 1],
    })
}

fn push_pull() -> Message {
    Message::PushPull(PushPull {
        join: true,
        nodes: vec![
            PushNode {
                name: "node-a".into(),
                addr: addr("10.0.0.1:7946"),
                meta: Vec::new(),
                incarnation: 1,
                state: MemberState::Alive,
                versions: [1, 1, 1],
            },
            PushNode {
                name: "node-b".into(),
                addr: addr("[2001:db8::2]:7946"),
                meta: b"dc=east".to_vec(),
                incarnation: 7,
                state: MemberState::Suspect,
                versions: [1, 1, 1],
            },
            PushNode {
                name: "node-c".into(),
                addr: addr("10.0.0.3:7946"),
                meta: Vec::new(),
                incarnation: 2,
                state: MemberState::Dead,
                versions: [1, 1, 1],
            },
            PushNode {
                name: "node-d".into(),
                addr: addr("10.0.0.4:7946"),
                meta: Vec::new(),
                incarnation: 5,
                state: MemberState::Left,
                versions: [1, 1, 1],
            },
        ],
        user_state: b"serf".to_vec(),
    })
}

fn vectors() -> Vec<Vector> {
    let packet = |message: Message| Framing::Packet {
        label: None,
        messages: vec![message],
    };
    vec![
        Vector {
            name: "ping",
            summary: "Ping { seq: 1, target: \"node-b\", source: \"node-a\", \
                      source_addr: 10.0.0.1:7946 }",
            framing: packet(ping()),
        },
        Vector {
            name: "indirect_ping",
            summary: "IndirectPing { seq: 2, target: \"node-c\", \
                      target_addr: [2001:db8::3]:7946, nack: true, source: \"node-a\", \
                      source_addr: 10.0.0.1:7946 }",
            framing: packet(Message::IndirectPing(IndirectPing {
                seq: 2,
                target: "node-c".into(),
                target_addr: addr("[2001:db8::3]:7946"),
                nack: true,
                source: "node-a".into(),
                source_addr: addr("10.0.0.1:7946"),
            })),
        },
        Vector {
            name: "ack",
            summary: "Ack { seq: 1, payload: de ad be ef }",
            framing: packet(Message::Ack(Ack {
                seq: 1,
                payload: vec![0xde, 0xad, 0xbe, 0xef],
            })),
        },
        Vector {
            name: "nack",
            summary: "Nack { seq: 2 }",
            framing: packet(Message::Nack(Nack { seq: 2 })),
        },
        Vector {
            name: "suspect",
            summary: "Suspect { incarnation: 3, node: \"node-c\", from: \"node-b\" }",
            framing: packet(suspect()),
        },
        Vector {
            name: "alive",
            summary: "Alive { incarnation: 4, node: \"node-c\", addr: [2001:db8::3]:7946, \
                      meta: \"role=db\", versions: [1, 1, 1] }",
            framing: packet(alive()),
        },
        Vector {
            name: "dead",
            summary: "Dead { incarnation: 5, node: \"node-c\", from: \"node-a\" } \
                      (declared dead by another node)",
            framing: packet(Message::Dead(Dead {
                incarnation: 5,
                node: "node-c".into(),
                from: "node-a".into(),
            })),
        },
        Vector {
            name: "left",
            summary: "Dead { incarnation: 6, node: \"node-a\", from: \"node-a\" } \
                      (graceful leave: from == node)",
            framing: packet(Message::Dead(Dead {
                incarnation: 6,
                node: "node-a".into(),
                from: "node-a".into(),
            })),
        },
        Vector {
            name: "push_pull",
            summary: "PushPull { join: true, nodes: [node-a 10.0.0.1:7946 inc 1 alive, \
                      node-b [2001:db8::2]:7946 meta \"dc=east\" inc 7 suspect, \
                      node-c 10.0.0.3:7946 inc 2 dead, node-d 10.0.0.4:7946 inc 5 left; \
                      all versions [1, 1, 1]], user_state: \"serf\" } \
                      (the packet a stream frame carries)",
            framing: packet(push_pull()),
        },
        Vector {
            name: "user",
            summary: "User { payload: \"hello\" }",
            framing: packet(Message::User(User {
                payload: b"hello".to_vec(),
            })),
        },
        Vector {
            name: "compound",
            summary: "compound of Ping { seq: 1, ... } and Suspect { incarnation: 3, ... } \
                      (a probe of a suspect carries the suspicion)",
            framing: Framing::Packet {
                label: None,
                messages: vec![ping(), suspect()],
            },
        },
        Vector {
            name: "labelled",
            summary: "Alive { incarnation: 4, node: \"node-c\", ... } with label \"prod-eu\"",
            framing: Framing::Packet {
                label: Some("prod-eu"),
                messages: vec![alive()],
            },
        },
        Vector {
            name: "labelled_compound",
            summary: "compound of Ping { seq: 1, ... } and Suspect { incarnation: 3, ... } \
                      with label \"prod-eu\"",
            framing: Framing::Packet {
                label: Some("prod-eu"),
                messages: vec![ping(), suspect()],
            },
        },
        Vector {
            name: "stream_frame",
            summary: "stream frame: PushPull { join: true, ... } as in push_pull.hex, \
                      no label",
            framing: Framing::StreamFrame {
                label: None,
                message: push_pull(),
            },
        },
        Vector {
            name: "stream_frame_ping",
            summary: "stream frame (TCP fallback probe): Ping { seq: 1, ... } as in \
                      ping.hex, with label \"prod-eu\"",
            framing: Framing::StreamFrame {
                label: Some("prod-eu"),
                message: ping(),
            },
        },
    ]
}

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn regenerating() -> bool {
    std::env::var("HEARSAY_REGEN_VECTORS").is_ok_and(|v| v == "1")
}

// ----- encoding and layout -----

fn encode(framing: &Framing) -> Vec<u8> {
    match framing {
        Framing::Packet { label, messages } => {
            let encoded: Vec<Vec<u8>> = messages.iter().map(encode_message).collect();
            encode_packet(*label, &encoded)
        }
        Framing::StreamFrame { label, message } => encode_stream_frame(*label, message),
    }
}

fn hex_lines(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.chunks(16) {
        let line: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&line.join(" "));
        out.push('\n');
    }
}

/// CBOR diagnostic notation (RFC 8949 §8) of one encoded message.
fn diagnostic(bytes: &[u8]) -> String {
    fn write(out: &mut String, v: &ciborium::Value) {
        match v {
            ciborium::Value::Integer(i) => write!(out, "{}", i128::from(*i)).unwrap(),
            ciborium::Value::Bytes(b) => {
                out.push_str("h'");
                for byte in b {
                    write!(out, "{byte:02x}").unwrap();
                }
                out.push('\'');
            }
            ciborium::Value::Text(s) => write!(out, "{s:?}").unwrap(),
            ciborium::Value::Bool(b) => write!(out, "{b}").unwrap(),
            ciborium::Value::Null => out.push_str("null"),
            ciborium::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write(out, item);
                }
                out.push(']');
            }
            ciborium::Value::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write(out, k);
                    out.push_str(": ");
                    write(out, v);
                }
                out.push('}');
            }
            other => write!(out, "{other:?}").unwrap(),
        }
    }
    let value: ciborium::Value = ciborium::from_reader(bytes).expect("our own CBOR decodes");
    let mut out = String::new();
    write(&mut out, &value);
    out
}

fn header_comment(label: Option<&str>, flags: u8) -> String {
    let mut names = Vec::new();
    if flags & FLAG_COMPOUND != 0 {
        names.push("compound");
    }
    if flags & FLAG_LABEL != 0 {
        names.push("label");
    }
    let names = if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(" | ")
    };
    let mut c =
        format!("# header: magic \"HY\", version {PROTOCOL_VERSION}, flags {flags:#04x} ({names})");
    if let Some(label) = label {
        write!(c, ", label length {}, label {label:?}", label.len()).unwrap();
    }
    c.push('\n');
    c
}

/// Lays out an encoded packet with comments, splitting it where the
/// framing says its parts are.
fn packet_text(out: &mut String, label: Option<&str>, messages: &[Message], packet: &[u8]) {
    let header = header_len(label);
    let flags = packet[3];
    out.push_str(&header_comment(label, flags));
    hex_lines(out, &packet[..header]);
    let mut rest = &packet[header..];
    if messages.len() == 1 {
        writeln!(
            out,
            "# message ({} bytes of CBOR): {}",
            rest.len(),
            diagnostic(rest)
        )
        .unwrap();
        hex_lines(out, rest);
        return;
    }
    writeln!(out, "# compound count: {}", rest[0]).unwrap();
    hex_lines(out, &rest[..1]);
    rest = &rest[1..];
    for (i, m) in messages.iter().enumerate() {
        let len = encode_message(m).len();
        writeln!(
            out,
            "# message {} length (2 bytes, big-endian): {len}",
            i + 1
        )
        .unwrap();
        hex_lines(out, &rest[..2]);
        let body = &rest[2..2 + len];
        writeln!(
            out,
            "# message {} ({len} bytes of CBOR): {}",
            i + 1,
            diagnostic(body)
        )
        .unwrap();
        hex_lines(out, body);
        rest = &rest[2 + len..];
    }
}

fn render(v: &Vector, bytes: &[u8]) -> String {
    let mut out = format!(
        "# {}: {}\n# {} bytes in all. Regenerate: HEARSAY_REGEN_VECTORS=1 cargo test --test wire_vectors\n",
        v.name,
        v.summary,
        bytes.len()
    );
    match &v.framing {
        Framing::Packet { label, messages } => packet_text(&mut out, *label, messages, bytes),
        Framing::StreamFrame { label, message } => {
            writeln!(
                out,
                "# stream frame length (4 bytes, big-endian): {}",
                bytes.len() - 4
            )
            .unwrap();
            hex_lines(&mut out, &bytes[..4]);
            packet_text(&mut out, *label, std::slice::from_ref(message), &bytes[4..]);
        }
    }
    out
}

/// Reads a vector file: hex pairs, whitespace ignored, `#` lines skipped.
fn parse_hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn read_vector(name: &str) -> Vec<u8> {
    let path = vector_dir().join(format!("{name}.hex"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run HEARSAY_REGEN_VECTORS=1 cargo test --test wire_vectors",
            path.display()
        )
    });
    parse_hex(&text)
}

fn write_vector(name: &str, text: &str) {
    // Write then rename, so the decode test never reads half a file.
    let dir = vector_dir();
    fs::create_dir_all(&dir).expect("create tests/vectors");
    let tmp = dir.join(format!(".{name}.hex.tmp"));
    fs::write(&tmp, text).expect("write vector");
    fs::rename(&tmp, dir.join(format!("{name}.hex"))).expect("rename vector");
}

// ----- tests -----

#[test]
fn encoding_matches_vectors() {
    let regen = regenerating();
    for v in vectors() {
        let bytes = encode(&v.framing);
        if regen {
            write_vector(v.name, &render(&v, &bytes));
        }
        let stored = read_vector(v.name);
        assert_eq!(
            bytes, stored,
            "{}: encoding differs from tests/vectors/{}.hex",
            v.name, v.name
        );
    }
}

#[test]
fn vectors_decode_to_values() {
    if regenerating() {
        // The encoding test is rewriting the files; they are checked on the
        // next plain run.
        return;
    }
    for v in vectors() {
        let bytes = read_vector(v.name);
        match &v.framing {
            Framing::Packet { label, messages } => {
                let packet = decode_packet(&bytes)
                    .unwrap_or_else(|e| panic!("{}: does not decode: {e}", v.name));
                assert_eq!(packet.header.version, PROTOCOL_VERSION, "{}", v.name);
                assert_eq!(packet.header.label.as_deref(), *label, "{}", v.name);
                assert_eq!(
                    packet.header.flags & FLAG_COMPOUND != 0,
                    messages.len() > 1,
                    "{}: compound flag",
                    v.name
                );
                assert_eq!(
                    packet.header.flags & FLAG_LABEL != 0,
                    label.is_some(),
                    "{}: label flag",
                    v.name
                );
                assert_eq!(&packet.messages, messages, "{}", v.name);
            }
            Framing::StreamFrame { label, message } => {
                let (prefix, packet) = bytes.split_at(4);
                let declared = u32::from_be_bytes(prefix.try_into().expect("4 bytes")) as usize;
                assert_eq!(declared, packet.len(), "{}: length prefix", v.name);
                let (header, decoded) = decode_stream_frame(packet)
                    .unwrap_or_else(|e| panic!("{}: does not decode: {e}", v.name));
                assert_eq!(header.label.as_deref(), *label, "{}", v.name);
                assert_eq!(&decoded, message, "{}", v.name);
            }
        }
    }
}

/// Each message, alone, is what `encode_message` gives: the vectors double
/// as vectors for the bare CBOR of each message kind.
#[test]
fn single_message_vectors_hold_the_bare_message() {
    if regenerating() {
        return;
    }
    for v in vectors() {
        if let Framing::Packet {
            label: None,
            messages,
        } = &v.framing
        {
            if let [m] = messages.as_slice() {
                let bytes = read_vector(v.name);
                assert_eq!(&bytes[..4], &[0x48, 0x59, PROTOCOL_VERSION, 0x00]);
                assert_eq!(bytes[4..], encode_message(m), "{}", v.name);
            }
        }
    }
}

#[test]
fn every_message_kind_has_a_vector() {
    let mut kinds = std::collections::BTreeSet::new();
    for v in vectors() {
        let messages = match v.framing {
            Framing::Packet { messages, .. } => messages,
            Framing::StreamFrame { message, .. } => vec![message],
        };
        for m in messages {
            kinds.insert(match m {
                Message::Ping(_) => "ping",
                Message::IndirectPing(_) => "indirect_ping",
                Message::Ack(_) => "ack",
                Message::Nack(_) => "nack",
                Message::Suspect(_) => "suspect",
                Message::Alive(_) => "alive",
                Message::Dead(_) => "dead",
                Message::PushPull(_) => "push_pull",
                Message::User(_) => "user",
            });
        }
    }
    assert_eq!(kinds.len(), 9, "{kinds:?}");
}

#[test]
fn no_stray_vector_files() {
    let known: Vec<String> = vectors()
        .iter()
        .map(|v| format!("{}.hex", v.name))
        .chain(std::iter::once(format!("{ENCRYPTED}.hex")))
        .collect();
    for entry in fs::read_dir(vector_dir()).expect("tests/vectors exists") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        assert!(
            known.iter().any(|k| *k == name),
            "tests/vectors/{name} belongs to no vector; delete it or add it to vectors()"
        );
    }
}

// ----- the encryption envelope -----

const ENCRYPTED: &str = "encrypted";

/// AES-256 key 00 01 .. 1f and nonce 00 01 .. 0b: fixed, so the sealed
/// bytes are too (a real sender draws a fresh random nonce per packet).
fn envelope_key() -> hearsay::wire::SecretKey {
    let bytes: Vec<u8> = (0u8..32).collect();
    hearsay::wire::SecretKey::new(&bytes).expect("32-byte key")
}

fn envelope_nonce() -> [u8; 12] {
    std::array::from_fn(|i| i as u8)
}

#[test]
fn encrypted_vector_seals_and_opens() {
    let plain = encode(&Framing::Packet {
        label: Some("prod-eu"),
        messages: vec![ping(), suspect()],
    });
    let sealed = hearsay::wire::seal_packet(&plain, &envelope_key(), envelope_nonce());
    if regenerating() {
        let mut text = String::from(
            "# labelled_compound.hex sealed with AES-256-GCM: key 00 01 .. 1f, nonce 00 01 .. 0b;\n\
             # header (flags 0x07: compound, encrypted, label) is the associated data;\n\
             # then nonce (12), ciphertext, tag (16)\n",
        );
        hex_lines(&mut text, &sealed);
        write_vector(ENCRYPTED, &text);
    }
    let stored = read_vector(ENCRYPTED);
    assert_eq!(
        stored, sealed,
        "encrypted.hex differs from what seal_packet writes"
    );
    let header = hearsay::wire::PacketHeader::parse(&stored).unwrap();
    assert_eq!(header.flags, 0x07);
    let ring = hearsay::wire::Keyring::new(vec![envelope_key()]).unwrap();
    let body = hearsay::wire::open_body(&stored, &header, &ring).expect("opens");
    assert_eq!(body, plain[header.body_offset..]);
    let other =
        hearsay::wire::Keyring::new(vec![hearsay::wire::SecretKey::new(&[0u8; 32]).unwrap()])
            .unwrap();
    assert!(hearsay::wire::open_body(&stored, &header, &other).is_err());
}
