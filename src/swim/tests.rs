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
