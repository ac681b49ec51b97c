//! Resource limits of live pools on loopback: each is hit, holds, and is
//! counted. Deadlines and polling only; no sleep stands in for a condition.
//! The limits of the sans-IO cores are tested beside them (src/swim/tests.rs,
//! src/serf/mod.rs) and the datagram queue in src/runtime/endpoint.rs.

mod common;
use common::wait_for;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use hearsay::runtime::{
    ErrorKind as PoolErrorKind, MemberStatus, Pool, PoolConfig, PoolEvent, PoolStats, QueryParams,
    QueryReply, Runtime,
};
use hearsay::swim::Profile;

fn config(name: &str) -> PoolConfig {
    let mut c = PoolConfig::new(Profile::Local);
    c.node_name = name.to_owned();
    c.serf.swim.probe_interval = Duration::from_millis(200);
    c.serf.swim.probe_timeout = Duration::from_millis(100);
    c.serf.swim.gossip_interval = Duration::from_millis(50);
    c.serf.swim.retransmit_mult = 4;
    // Stream counts below are exact: no stream but the test's own.
    c.serf.swim.push_pull_interval = Duration::ZERO;
    c.serf.swim.tcp_fallback_probe = false;
    c
}

fn stats(pool: &Pool) -> PoolStats {
    pool.stats().unwrap()
}

fn alive(pool: &Pool) -> usize {
    pool.members()
        .unwrap()
        .iter()
        .filter(|m| m.status == MemberStatus::Alive)
        .count()
}

/// Whether the peer closed this connection (or reset it). Never blocks
/// for more than a few milliseconds.
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn inbound_streams_beyond_max_concurrent_streams_are_refused_while_the_pool_keeps_working() {
    let rt = Runtime::new().unwrap();
    let mut target_config = config("target");
    // Idle connections keep their slots for the whole test.
    target_config.serf.swim.tcp_timeout = Duration::from_secs(60);
    assert_eq!(target_config.max_concurrent_streams, 128, "the default");
    let target = rt.pool(target_config).unwrap();
    let member = rt.pool(config("member")).unwrap();
    let to = target.local_addr();
    assert_eq!(member.join(&[to.to_string()]).unwrap(), 1);
    wait_for("two members", Duration::from_secs(10), || {
        alive(&target) == 2 && alive(&member) == 2
    });

    let extra = 3;
    let mut idle: Vec<TcpStream> = (0..128 + extra)
        .map(|_| TcpStream::connect(to).unwrap())
        .collect();
    wait_for("the refusals", Duration::from_secs(10), || {
        stats(&target).streams_refused >= extra
    });
    let mut refused = 0;
    wait_for(
        "the refused connections to close",
        Duration::from_secs(10),
        || {
            idle.retain_mut(|s| {
                let closed = closed_by_peer(s);
                refused += u64::from(closed);
                !closed
            });
            refused >= extra
        },
    );
    assert_eq!(
        refused, extra,
        "only connections beyond the limit are closed"
    );
    assert_eq!(idle.len(), 128);
    assert_eq!(stats(&target).streams_refused, extra);

    // While every slot is held: a join through the target is refused...
    let newcomer = rt.pool(config("newcomer")).unwrap();
    assert_eq!(newcomer.join(&[to.to_string()]).unwrap(), 0);
    assert_eq!(stats(&target).streams_refused, extra + 1);
    // ...but its own streams out are not limited by it, and gossip over
    // UDP goes on: the member still has it alive and hears its events.
    let elsewhere = rt.pool(config("elsewhere")).unwrap();
    assert_eq!(
        target.join(&[elsewhere.local_addr().to_string()]).unwrap(),
        1
    );
    target.send_event("still-here", b"", false).unwrap();
    wait_for("the event from the target", Duration::from_secs(10), || {
        while let Some(e) = member.next_event(Some(Duration::ZERO)).unwrap() {
            if matches!(e, PoolEvent::User { ref name, .. } if name == "still-here") {
                return true;
            }
        }
        false
    });
    wait_for("three members", Duration::from_secs(10), || {
        alive(&member) == 3
    });

    // Closing the idle connections frees their slots.
    drop(idle);
    wait_for("a join through the target", Duration::from_secs(10), || {
        newcomer.join(&[to.to_string()]).unwrap() == 1
    });
}

#[test]
fn an_idle_stream_holds_its_slot_no_longer_than_tcp_timeout() {
    let rt = Runtime::new().unwrap();
    let mut target_config = config("target");
    target_config.max_concurrent_streams = 2;
    target_config.serf.swim.tcp_timeout = Duration::from_millis(500);
    let target = rt.pool(target_config).unwrap();
    let to = target.local_addr();
    let mut idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(to).unwrap()).collect();
    wait_for("the refusal", Duration::from_secs(10), || {
        stats(&target).streams_refused == 1
    });
    // The server cuts the two held connections at its deadline; a slot is
    // free by the time the peer sees the close.
    wait_for(
        "the idle connections to be cut",
        Duration::from_secs(10),
        || idle.iter_mut().all(closed_by_peer),
    );
    let newcomer = rt.pool(config("newcomer")).unwrap();
    assert_eq!(newcomer.join(&[to.to_string()]).unwrap(), 1);
    assert_eq!(stats(&target).streams_refused, 1);
}

#[test]
fn a_frame_longer_than_max_stream_size_is_refused_unread_and_counted() {
    let rt = Runtime::new().unwrap();
    let mut target_config = config("target");
    target_config.serf.swim.max_stream_size = 64 * 1024;
    target_config.serf.swim.tcp_timeout = Duration::from_secs(60);
    let target = rt.pool(target_config).unwrap();
    let to = target.local_addr();

    // Inbound: only the length prefix is sent. The connection is closed
    // long before the 60 s deadline, so nothing waited for the body.
    let mut stream = TcpStream::connect(to).unwrap();
    stream.write_all(&(64u32 * 1024 + 1).to_be_bytes()).unwrap();
    wait_for("the refusal", Duration::from_secs(10), || {
        closed_by_peer(&mut stream)
    });
    assert_eq!(stats(&target).streams_oversized, 1);
    // At the limit, a frame is read (and refused as garbage, not for size).
    let mut stream = TcpStream::connect(to).unwrap();
    stream.write_all(&(64u32 * 1024).to_be_bytes()).unwrap();
    stream.write_all(&vec![0xFF; 64 * 1024]).unwrap();
    wait_for("the garbage frame", Duration::from_secs(10), || {
        closed_by_peer(&mut stream)
    });
    assert_eq!(stats(&target).streams_oversized, 1);

    // A reply to the pool's own join: refused and counted the same way.
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let fake_addr = fake.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut peer, _) = fake.accept().unwrap();
        let mut prefix = [0u8; 4];
        peer.read_exact(&mut prefix).unwrap();
        let mut request = vec![0u8; u32::from_be_bytes(prefix) as usize];
        peer.read_exact(&mut request).unwrap();
        peer.write_all(&u32::MAX.to_be_bytes()).unwrap();
        // Hold the connection until the pool gives up on it.
        let _ = peer.read(&mut prefix);
    });
    assert_eq!(target.join(&[fake_addr.to_string()]).unwrap(), 0);
    assert_eq!(stats(&target).streams_oversized, 2);
    server.join().unwrap();

    // The pool still serves streams.
    let newcomer = rt.pool(config("newcomer")).unwrap();
    assert_eq!(newcomer.join(&[to.to_string()]).unwrap(), 1);
}

#[test]
fn the_event_queue_holds_event_queue_depth_and_drops_the_oldest() {
    let rt = Runtime::new().unwrap();
    let mut c = config("lonely");
    c.event_queue_depth = 4;
    let pool = rt.pool(c).unwrap();
    for k in 0..10 {
        pool.send_event(&format!("ev{k}"), b"", false).unwrap();
    }
    wait_for("the drops", Duration::from_secs(10), || {
        stats(&pool).events_dropped == 6
    });
    assert_eq!(pool.events_dropped(), 6);
    let mut names = Vec::new();
    while let Some(e) = pool.next_event(Some(Duration::ZERO)).unwrap() {
        if let PoolEvent::User { name, .. } = e {
            names.push(name);
        }
    }
    assert_eq!(names, ["ev6", "ev7", "ev8", "ev9"]);
}

#[test]
fn replies_beyond_max_query_responses_are_dropped_and_counted() {
    let rt = Runtime::new().unwrap();
    let mut asker_config = config("asker");
    asker_config.serf.max_query_responses = 2;
    let asker = rt.pool(asker_config).unwrap();
    let others: Vec<Pool> = (0..3)
        .map(|i| rt.pool(config(&format!("answer-{i}"))).unwrap())
        .collect();
    let seed = asker.local_addr().to_string();
    for p in &others {
        assert_eq!(p.join(&[seed.as_str()]).unwrap(), 1);
    }
    wait_for("four members everywhere", Duration::from_secs(10), || {
        std::iter::once(&asker)
            .chain(&others)
            .all(|p| alive(p) == 4)
    });
    let params = QueryParams {
        timeout: Some(Duration::from_secs(3)),
        ..QueryParams::default()
    };
    let replies = asker.query("who", b"", params).unwrap();
    // Everyone, the asker included, answers.
    for p in std::iter::once(&asker).chain(&others) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match p.next_event(Some(left)).unwrap() {
                Some(PoolEvent::Query(q)) => {
                    p.respond(&q, p.name().as_bytes()).unwrap();
                    break;
                }
                Some(_) => {}
                None => panic!("{} never got the query", p.name()),
            }
        }
    }
    wait_for("the surplus to be dropped", Duration::from_secs(3), || {
        stats(&asker).query_replies_dropped == 2
    });
    let mut responses = 0;
    loop {
        match replies.next(Some(Duration::from_secs(5))) {
            Ok(Some(QueryReply::Response { .. })) => responses += 1,
            Ok(Some(QueryReply::Ack { .. })) | Ok(None) => {}
            Err(e) => {
                assert_eq!(e.kind, PoolErrorKind::Closed);
                break;
            }
        }
    }
    assert_eq!(responses, 2);
    assert_eq!(stats(&asker).query_replies_dropped, 2);
}

#[test]
fn queries_beyond_max_pending_queries_are_refused_and_counted() {
    let rt = Runtime::new().unwrap();
    let mut c = config("asker");
    c.serf.max_pending_queries = 2;
    let pool = rt.pool(c).unwrap();
    let params = || QueryParams {
        timeout: Some(Duration::from_millis(300)),
        ..QueryParams::default()
    };
    let first = pool.query("a", b"", params()).unwrap();
    let _second = pool.query("b", b"", params()).unwrap();
    let refused = pool.query("c", b"", params()).err().unwrap();
    assert_eq!(refused.kind, PoolErrorKind::InvalidArgument);
    assert!(refused.message.contains("too many queries"));
    assert_eq!(stats(&pool).queries_refused, 1);
    // Once they are over, queries are accepted again.
    while first.next(Some(Duration::from_secs(5))).is_ok() {}
    wait_for("room for a query", Duration::from_secs(5), || {
        pool.query("c", b"", params()).is_ok()
    });
    assert_eq!(stats(&pool).queries_refused, 1);
}

#[test]
fn a_pool_with_an_inbound_packet_queue_of_one_still_converges() {
    let rt = Runtime::new().unwrap();
    let pools: Vec<Pool> = (0..3)
        .map(|i| {
            let mut c = config(&format!("p{i}"));
            c.inbound_packet_queue = 1;
            rt.pool(c).unwrap()
        })
        .collect();
    let seed = pools[0].local_addr().to_string();
    for p in &pools[1..] {
        assert_eq!(p.join(&[seed.as_str()]).unwrap(), 1);
    }
    wait_for("three members everywhere", Duration::from_secs(20), || {
        pools.iter().all(|p| alive(p) == 3)
    });
}

/// Sets one limit out of its range.
type Breaks = fn(&mut PoolConfig);

#[test]
fn limits_out_of_range_are_refused_naming_the_setting() {
    let rt = Runtime::new().unwrap();
    let cases: [(&str, Breaks); 7] = [
        ("max_concurrent_streams", |c| c.max_concurrent_streams = 0),
        ("inbound_packet_queue", |c| c.inbound_packet_queue = 0),
        ("event queue depth", |c| c.event_queue_depth = 0),
        ("max_per_ltime", |c| c.serf.max_per_ltime = 0),
        ("max_query_responses", |c| c.serf.max_query_responses = 0),
        ("max_intents", |c| c.serf.max_intents = 0),
        ("max_pending_queries", |c| c.serf.max_pending_queries = 0),
    ];
    for (name, break_it) in cases {
        let mut c = config("x");
        break_it(&mut c);
        let err = rt.pool(c).err().unwrap();
        assert_eq!(err.kind, PoolErrorKind::InvalidArgument);
        assert!(err.message.contains(name), "{name}: {}", err.message);
    }
}
