//! Pools on real loopback sockets through the safe Rust API. Deadlines and
//! polling only; no sleep stands in for a condition.

mod common;
use common::wait_for;

use std::time::{Duration, Instant};

use hearsay::runtime::{MemberStatus, Pool, PoolConfig, PoolEvent, Runtime};
use hearsay::swim::Profile;

fn config(name: &str) -> PoolConfig {
    let mut c = PoolConfig::new(Profile::Local);
    c.node_name = name.to_owned();
    c.serf.swim.probe_interval = Duration::from_millis(200);
    c.serf.swim.probe_timeout = Duration::from_millis(100);
    c.serf.swim.gossip_interval = Duration::from_millis(50);
    // The local profile sends each broadcast twice in a pool this small;
    // with a dead member among the gossip targets, a leave can then miss a
    // member until the next push-pull.
    c.serf.swim.retransmit_mult = 4;
    c
}

fn status_of(pool: &Pool, name: &str) -> Option<MemberStatus> {
    pool.members()
        .unwrap()
        .into_iter()
        .find(|m| m.name == name)
        .map(|m| m.status)
}

fn alive(pool: &Pool) -> usize {
    pool.members()
        .unwrap()
        .iter()
        .filter(|m| m.status == MemberStatus::Alive)
        .count()
}

#[test]
fn pools_join_detect_a_freed_pool_and_a_leave() {
    let rt = Runtime::new().unwrap();
    let mut a_config = config("a");
    a_config.tags.insert("role".into(), "seed".into());
    let a = rt.pool(a_config).unwrap();
    let b = rt.pool(config("b")).unwrap();
    let c = rt.pool(config("c")).unwrap();
    let d = rt.pool(config("d")).unwrap();
    let seed = a.local_addr().to_string();
    for p in [&b, &c, &d] {
        assert_eq!(p.join(&[seed.as_str()]).unwrap(), 1);
    }
    wait_for("four alive everywhere", Duration::from_secs(10), || {
        [&a, &b, &c, &d].iter().all(|p| alive(p) == 4)
    });
    let seen_a = d
        .members()
        .unwrap()
        .into_iter()
        .find(|m| m.name == "a")
        .unwrap();
    assert_eq!(seen_a.addr, a.local_addr());
    assert_eq!(seen_a.tags.get("role").map(String::as_str), Some("seed"));

    drop(d);
    wait_for("d failed everywhere", Duration::from_secs(30), || {
        [&a, &b, &c]
            .iter()
            .all(|p| status_of(p, "d") == Some(MemberStatus::Failed))
    });
    let mut failed_event = false;
    while let Some(e) = a.next_event(Some(Duration::ZERO)).unwrap() {
        failed_event |= matches!(&e, PoolEvent::MemberFailed(m) if m.name == "d");
    }
    assert!(failed_event, "a reported d failed");

    c.leave(Duration::from_secs(5)).unwrap();
    wait_for("c left everywhere", Duration::from_secs(10), || {
        [&a, &b]
            .iter()
            .all(|p| status_of(p, "c") == Some(MemberStatus::Left))
    });
    let mut leave_event = false;
    while let Some(e) = b.next_event(Some(Duration::ZERO)).unwrap() {
        leave_event |= matches!(&e, PoolEvent::MemberLeave(m) if m.name == "c");
    }
    assert!(leave_event, "b reported c's leave");
}

#[test]
fn lan_and_wan_pools_share_one_port_by_label() {
    let rt = Runtime::new().unwrap();
    let mut lan = config("lan-1");
    lan.serf.swim.label = Some("lan".into());
    let lan1 = rt.pool(lan).unwrap();
    let port_addr = lan1.local_addr();
    let mut wan = config("wan-1");
    wan.serf.swim.label = Some("wan".into());
    wan.bind_addr = port_addr;
    let wan1 = rt.pool(wan).unwrap();
    assert_eq!(wan1.local_addr(), port_addr, "both pools on one port");

    let mut lan = config("lan-2");
    lan.serf.swim.label = Some("lan".into());
    let lan2 = rt.pool(lan).unwrap();
    let mut wan = config("wan-2");
    wan.serf.swim.label = Some("wan".into());
    wan.bind_addr = lan2.local_addr();
    let wan2 = rt.pool(wan).unwrap();

    let seed = port_addr.to_string();
    assert_eq!(lan2.join(&[seed.as_str()]).unwrap(), 1);
    assert_eq!(wan2.join(&[seed.as_str()]).unwrap(), 1);
    wait_for(
        "each pool sees its own two",
        Duration::from_secs(10),
        || [&lan1, &lan2, &wan1, &wan2].iter().all(|p| alive(p) == 2),
    );
    for _ in 0..20 {
        for p in [&lan1, &lan2] {
            assert!(p
                .members()
                .unwrap()
                .iter()
                .all(|m| m.name.starts_with("lan")));
        }
        for p in [&wan1, &wan2] {
            assert!(p
                .members()
                .unwrap()
                .iter()
                .all(|m| m.name.starts_with("wan")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    // One label per address: a second pool with the same label is refused.
    let mut same_label = config("lan-3");
    same_label.serf.swim.label = Some("lan".into());
    same_label.bind_addr = port_addr;
    assert!(rt.pool(same_label).is_err(), "one label per address");
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let rt = Runtime::new().unwrap();
    let a = rt.pool(config("a")).unwrap();
    let e = a.join(&["not-an-addr"]).unwrap_err();
    assert!(e.message.contains("not-an-addr"), "{e}");
    let mut taken = config("b");
    taken.bind_addr = a.local_addr();
    let e = rt.pool(taken).err().expect("port in use");
    assert!(e.message.contains("already"), "{e}");
    let mut bad = config("c");
    bad.serf.swim.probe_timeout = Duration::from_secs(5);
    let e = rt.pool(bad).err().expect("invalid config");
    assert!(e.message.contains("probe_timeout"), "{e}");
    // Nothing listens on this port: zero joined, within the TCP timeout.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let started = Instant::now();
    assert_eq!(a.join(&[free.to_string()]).unwrap(), 0);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_pool_restarted_from_its_snapshot_rejoins_and_replays_no_old_event() {
    let dir = std::env::temp_dir().join(format!("hearsay-rt-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.snapshot");
    let _ = std::fs::remove_file(&path);
    let rt = Runtime::new().unwrap();
    let a = rt.pool(config("a")).unwrap();
    let b = rt.pool(config("b")).unwrap();
    let mut c_config = config("c");
    c_config.snapshot_path = Some(path.clone());
    let c = rt.pool(c_config.clone()).unwrap();
    let c_addr = c.local_addr();
    let seed = a.local_addr().to_string();
    assert_eq!(b.join(&[seed.as_str()]).unwrap(), 1);
    assert_eq!(c.join(&[seed.as_str()]).unwrap(), 1);
    wait_for("three alive", Duration::from_secs(10), || {
        [&a, &b, &c].iter().all(|p| alive(p) == 3)
    });
    for k in 0..3 {
        a.send_event(&format!("old-{k}"), b"x", false).unwrap();
    }
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen < 3 && Instant::now() < deadline {
        if let Some(PoolEvent::User { name, .. }) =
            c.next_event(Some(Duration::from_millis(100))).unwrap()
        {
            assert!(name.starts_with("old-"));
            seen += 1;
        }
    }
    assert_eq!(seen, 3, "c saw the three events before stopping");
    drop(c);
    // Restarted at the same address with no seed: the snapshot brings it back.
    c_config.bind_addr = c_addr;
    let c = rt.pool(c_config).unwrap();
    assert!(
        c.snapshot_warnings().is_empty(),
        "{:?}",
        c.snapshot_warnings()
    );
    wait_for(
        "c rejoined from its snapshot",
        Duration::from_secs(15),
        || {
            alive(&c) == 3
                && [&a, &b]
                    .iter()
                    .all(|p| status_of(p, "c") == Some(MemberStatus::Alive))
        },
    );
    let quiet_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < quiet_until {
        if let Some(PoolEvent::User { name, .. }) =
            c.next_event(Some(Duration::from_millis(100))).unwrap()
        {
            panic!("old event {name} replayed after the restart");
        }
    }
    a.send_event("new", b"y", false).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got_new = false;
    while !got_new && Instant::now() < deadline {
        if let Some(PoolEvent::User { name, .. }) =
            c.next_event(Some(Duration::from_millis(100))).unwrap()
        {
            assert_eq!(name, "new", "only the new event arrives");
            got_new = true;
        }
    }
    assert!(got_new, "a new event still arrives");
    drop(c);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pool_reports_the_address_it_advertises() {
    let rt = Runtime::new().unwrap();
    let plain = rt.pool(config("plain")).unwrap();
    assert_eq!(plain.advertise_addr(), plain.local_addr());
    let mut c = config("behind-nat");
    let public: std::net::SocketAddr = "127.0.0.9:7946".parse().unwrap();
    c.advertise_addr = Some(public);
    let natted = rt.pool(c).unwrap();
    assert_eq!(natted.advertise_addr(), public);
    assert_ne!(natted.local_addr(), public);
    let me = natted
        .members()
        .unwrap()
        .into_iter()
        .find(|m| m.name == "behind-nat")
        .unwrap();
    assert_eq!(me.addr, public);
}
