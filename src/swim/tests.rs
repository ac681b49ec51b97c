//! Limits of the SWIM core, hit through its public inputs.

use super::*;
use crate::wire::{PROTOCOL_VERSION, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn node(config: Config) -> (Swim, Instant) {
    let now = Instant::now();
    let swim = Swim::new(config, "local", addr(1), Vec::new(), 7, now).unwrap();
    (swim, now)
}

fn current_versions() -> [u8; 3] {
    [PROTOCOL_VERSION_MIN, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION]
}

fn push_pull(join: bool, members: u16) -> Message {
    Message::PushPull(PushPull {
        join,
        nodes: (0..members)
            .map(|i| PushNode {
                name: format!("n{i}"),
                addr: WireAddr(addr(1000 + i)),
                meta: Vec::new(),
                incarnation: 1,
                state: MemberState::Alive,
                versions: current_versions(),
            })
            .collect(),
        user_state: Vec::new(),
    })
}

/// A stream frame without its length prefix, as `handle_stream` takes it.
fn frame(message: &Message) -> Vec<u8> {
    wire::encode_stream_frame(None, message)[4..].to_vec()
}

fn alive(name: &str, port: u16) -> Vec<u8> {
    let alive = Message::Alive(Alive {
        incarnation: 1,
        node: name.to_owned(),
        addr: WireAddr(addr(port)),
        meta: Vec::new(),
        versions: current_versions(),
    });
    wire::encode_packet(None, &[wire::encode_message(&alive)])
}

#[test]
fn a_push_pull_over_max_push_pull_members_is_refused_whole() {
    let mut config = Config::lan();
    config.max_push_pull_members = 3;
    let (mut swim, now) = node(config);

    // Inbound: refused before any member is taken from it, and no reply.
    let err = swim.handle_stream(now, addr(2), &frame(&push_pull(true, 4)));
    assert!(matches!(
        err,
        Err(SwimError::Decode(DecodeError::OutOfBounds(
            "max_push_pull_members"
        )))
    ));
    assert_eq!(swim.stats().dropped_invalid, 1);
    assert_eq!(swim.members().len(), 1, "nothing learned from it");

    // At the limit it is taken.
    let reply = swim.handle_stream(now, addr(2), &frame(&push_pull(true, 3)));
    assert!(matches!(reply, Ok(Some(_))));
    assert_eq!(swim.members().len(), 4);
    assert_eq!(swim.stats().dropped_invalid, 1);

    // The reply to our own join is held to the same limit: the join fails.
    let token = swim.join(now, addr(3));
    let over = frame(&push_pull(false, 4));
    assert!(swim.handle_stream_reply(now, token, Ok(&over)).is_err());
    assert_eq!(swim.stats().dropped_invalid, 2);
    assert_eq!(swim.members().len(), 4);
}

#[test]
fn both_broadcast_queues_hold_max_broadcast_queue_and_count_what_they_drop() {
    let mut config = Config::lan();
    config.max_broadcast_queue = 16;
    let (mut swim, now) = node(config);
    // The local node's own alive is queued at start.
    assert_eq!(swim.queued_broadcasts(), 1);

    // Membership queue: each new member is news to gossip.
    for i in 0..40 {
        swim.handle_packet(now, addr(2), &alive(&format!("n{i}"), 2000 + i))
            .unwrap();
    }
    assert_eq!(swim.members().len(), 41);
    assert_eq!(swim.queued_broadcasts(), 16);
    assert_eq!(swim.stats().broadcasts_dropped, 41 - 16);

    // The layer above's queue is bounded separately.
    for i in 0..40u32 {
        swim.queue_user_broadcast(None, i.to_be_bytes().to_vec());
    }
    assert_eq!(swim.queued_broadcasts(), 32);
    assert_eq!(swim.stats().broadcasts_dropped, 25 + 24);
}

fn packet(message: Message) -> Vec<u8> {
    wire::encode_packet(None, &[wire::encode_message(&message)])
}

fn suspect(node: &str, from: &str) -> Vec<u8> {
    packet(Message::Suspect(Suspect {
        incarnation: 1,
        node: node.to_owned(),
        from: from.to_owned(),
    }))
}

/// Every message sent to `to` since the last call.
fn sent_to(swim: &mut Swim, to: SocketAddr) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(t) = swim.poll_transmit() {
        if t.to == to && t.kind == TransmitKind::Packet {
            out.extend(wire::decode_packet(&t.payload).unwrap().messages);
        }
    }
    out
}

fn confirmations(swim: &Swim, name: &str) -> u32 {
    let i = swim.index[name] as usize;
    swim.members[i].suspicion.as_ref().unwrap().confirmations()
}

#[test]
fn a_verdict_merged_from_a_push_pull_starts_a_suspicion_but_confirms_none() {
    let (mut swim, now) = node(Config::lan());
    for (i, name) in ["a", "b", "x", "y"].into_iter().enumerate() {
        swim.handle_packet(now, addr(2), &alive(name, 10 + i as u16))
            .unwrap();
    }
    let dead = |name: &str, port: u16| PushNode {
        name: name.to_owned(),
        addr: WireAddr(addr(port)),
        meta: Vec::new(),
        incarnation: 1,
        state: MemberState::Dead,
        versions: current_versions(),
    };
    let verdicts = Message::PushPull(PushPull {
        join: false,
        nodes: vec![dead("x", 12), dead("y", 13)],
        user_state: Vec::new(),
    });

    // x is suspected by a; the peer's verdict about it adds nothing.
    swim.handle_packet(now, addr(2), &suspect("x", "a"))
        .unwrap();
    swim.handle_stream(now, addr(5), &frame(&verdicts)).unwrap();
    assert_eq!(confirmations(&swim, "x"), 0);
    // y was alive: the verdict starts a suspicion in no one's name, and
    // so does the hearsay others gossip.
    assert_eq!(swim.member("y").unwrap().state, MemberState::Suspect);
    swim.handle_packet(now, addr(2), &suspect("y", "y"))
        .unwrap();
    assert_eq!(confirmations(&swim, "y"), 0);
    // Accusers of their own confirm, as before.
    swim.handle_packet(now, addr(3), &suspect("x", "b"))
        .unwrap();
    swim.handle_packet(now, addr(3), &suspect("y", "b"))
        .unwrap();
    assert_eq!(confirmations(&swim, "x"), 1);
    assert_eq!(confirmations(&swim, "y"), 1);
}

#[test]
fn a_member_held_dead_that_shows_itself_is_told_the_verdict() {
    let x = addr(10);
    let held_dead = || {
        let (mut swim, now) = node(Config::lan());
        swim.handle_packet(now, addr(2), &alive("x", 10)).unwrap();
        swim.handle_packet(now, addr(2), &alive("a", 2)).unwrap();
        let dead = packet(Message::Dead(Dead {
            incarnation: 1,
            node: "x".into(),
            from: "a".into(),
        }));
        swim.handle_packet(now, addr(2), &dead).unwrap();
        assert_eq!(swim.member("x").unwrap().state, MemberState::Dead);
        sent_to(&mut swim, x);
        (swim, now)
    };
    let verdict = Message::Dead(Dead {
        incarnation: 1,
        node: "x".into(),
        from: "local".into(),
    });

    // Its own alive, from its own address: answered with the verdict. It
    // is the same message that announced it first; only a copy seen
    // moments ago is skipped unread.
    let (mut swim, now) = held_dead();
    swim.handle_packet(now, x, &alive("x", 10)).unwrap();
    assert_eq!(sent_to(&mut swim, x), vec![]);
    assert_eq!(swim.stats().duplicates_skipped, 1);
    let later = now + swim.config().gossip_to_the_dead_time;
    swim.handle_packet(later, x, &alive("x", 10)).unwrap();
    assert_eq!(sent_to(&mut swim, x), vec![verdict.clone()]);
    assert_eq!(swim.member("x").unwrap().state, MemberState::Dead);

    // The same alive relayed by another member: nothing to tell.
    let (mut swim, now) = held_dead();
    let later = now + swim.config().gossip_to_the_dead_time;
    swim.handle_packet(later, addr(2), &alive("x", 10)).unwrap();
    assert_eq!(sent_to(&mut swim, x), vec![]);

    // A probe from it: the ack carries the verdict.
    let (mut swim, now) = held_dead();
    let ping = packet(Message::Ping(Ping {
        seq: 7,
        target: "local".into(),
        source: "x".into(),
        source_addr: WireAddr(x),
    }));
    swim.handle_packet(now, x, &ping).unwrap();
    let reply = sent_to(&mut swim, x);
    assert!(
        matches!(reply[0], Message::Ack(Ack { seq: 7, .. })),
        "{reply:?}"
    );
    assert!(reply.contains(&verdict), "{reply:?}");
}
