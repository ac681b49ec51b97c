//! Encryption, key management, the source allow-list and hostile input, on
//! real loopback sockets. Deadlines and polling only.

mod common;
use common::wait_for;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use hearsay::runtime::{parse_cidr, MemberStatus, Pool, PoolConfig, PoolEvent, Runtime};
use hearsay::swim::{Profile, SecretKey};
use hearsay::wire::{self, Alive, Message, WireAddr};
use rand::{Rng, SeedableRng};

fn config(name: &str, keys: &[&SecretKey]) -> PoolConfig {
    let mut c = PoolConfig::new(Profile::Local);
    c.node_name = name.to_owned();
    c.serf.swim.probe_interval = Duration::from_millis(200);
    c.serf.swim.probe_timeout = Duration::from_millis(100);
    c.serf.swim.gossip_interval = Duration::from_millis(50);
    c.serf.swim.retransmit_mult = 4;
    c.serf.swim.keys = keys.iter().map(|k| (*k).clone()).collect();
    c
}

fn key(byte: u8) -> SecretKey {
    SecretKey::new(&[byte; 32]).unwrap()
}

fn names(pool: &Pool) -> BTreeSet<String> {
    pool.members()
        .unwrap()
        .into_iter()
        .filter(|m| m.status == MemberStatus::Alive)
        .map(|m| m.name)
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Holds for `window` that `cond` stays true (a check over time, not a
/// wait for something to happen).
fn holds_for(window: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + window;
    while Instant::now() < end {
        if !cond() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn pools_with_different_keys_never_merge_and_rejections_are_counted() {
    let rt = Runtime::new().unwrap();
    let (k1, k2) = (key(1), key(2));
    let a1 = rt.pool(config("a1", &[&k1])).unwrap();
    let a2 = rt.pool(config("a2", &[&k1])).unwrap();
    let b1 = rt.pool(config("b1", &[&k2])).unwrap();
    let b2 = rt.pool(config("b2", &[&k2])).unwrap();
    assert_eq!(a2.join(&[a1.local_addr().to_string()]).unwrap(), 1);
    assert_eq!(b2.join(&[b1.local_addr().to_string()]).unwrap(), 1);
    wait_for("each pair formed", Duration::from_secs(10), || {
        names(&a1) == set(&["a1", "a2"]) && names(&b1) == set(&["b1", "b2"])
    });
    assert_eq!(b1.join(&[a1.local_addr().to_string()]).unwrap(), 0);
    assert_eq!(a2.join(&[b2.local_addr().to_string()]).unwrap(), 0);
    wait_for("refusals counted", Duration::from_secs(5), || {
        a1.stats().unwrap().dropped_decrypt > 0 && b2.stats().unwrap().dropped_decrypt > 0
    });
    assert!(holds_for(Duration::from_secs(2), || {
        names(&a1) == set(&["a1", "a2"])
            && names(&a2) == set(&["a1", "a2"])
            && names(&b1) == set(&["b1", "b2"])
            && names(&b2) == set(&["b1", "b2"])
    }));
}

#[test]
fn plaintext_and_wrongly_keyed_nodes_cannot_join() {
    let rt = Runtime::new().unwrap();
    let k = key(7);
    let e1 = rt.pool(config("e1", &[&k])).unwrap();
    let e2 = rt.pool(config("e2", &[&k])).unwrap();
    assert_eq!(e2.join(&[e1.local_addr().to_string()]).unwrap(), 1);
    let plain = rt.pool(config("plain", &[])).unwrap();
    let wrong = rt.pool(config("wrong", &[&key(8), &key(9)])).unwrap();
    let seed = e1.local_addr().to_string();
    assert_eq!(plain.join(&[seed.as_str()]).unwrap(), 0);
    assert_eq!(wrong.join(&[seed.as_str()]).unwrap(), 0);
    wait_for("refusals counted", Duration::from_secs(5), || {
        let s = e1.stats().unwrap();
        s.dropped_plaintext > 0 && s.dropped_decrypt > 0
    });
    assert!(holds_for(Duration::from_secs(2), || {
        names(&e1) == set(&["e1", "e2"])
            && names(&plain) == set(&["plain"])
            && names(&wrong) == set(&["wrong"])
    }));
}

#[test]
fn a_key_is_rotated_across_live_pools_and_the_keyring_file_follows() {
    let dir = std::env::temp_dir().join(format!("hearsay-rotation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keyring.json");
    let rt = Runtime::new().unwrap();
    let (old, new) = (key(1), key(2));
    let mut first = config("n0", &[&old]);
    first.keyring_file = Some(file.clone());
    let pools: Vec<Pool> = std::iter::once(rt.pool(first).unwrap())
        .chain((1..4).map(|i| rt.pool(config(&format!("n{i}"), &[&old])).unwrap()))
        .collect();
    // The file did not exist: it was written from the configured key.
    assert_eq!(
        wire::parse_keyring_file(&std::fs::read_to_string(&file).unwrap()).unwrap(),
        vec![old.clone()]
    );
    let seed = pools[0].local_addr().to_string();
    for p in &pools[1..] {
        assert_eq!(p.join(&[seed.as_str()]).unwrap(), 1);
    }
    wait_for("four alive", Duration::from_secs(10), || {
        pools.iter().all(|p| names(p).len() == 4)
    });

    let report = pools[1].keyring_install(&new).unwrap();
    assert!(report.succeeded(), "{report:?}");
    assert_eq!((report.members, report.responses), (4, 4));
    let report = pools[2].keyring_use(&new).unwrap();
    assert!(report.succeeded(), "{report:?}");
    let refused = pools[3].keyring_remove(&new).unwrap_err();
    assert!(refused.message.contains("primary"), "{}", refused.message);
    let report = pools[3].keyring_remove(&old).unwrap();
    assert!(report.succeeded(), "{report:?}");
    let report = pools[0].keyring_list().unwrap();
    assert_eq!(report.responses, 4);
    assert_eq!(report.keys.len(), 1);
    assert_eq!(report.keys.get(&new.to_base64()), Some(&4));
    assert_eq!(report.primary_keys.get(&new.to_base64()), Some(&4));

    wait_for("the keyring file rewritten", Duration::from_secs(5), || {
        std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| wire::parse_keyring_file(&t).ok())
            == Some(vec![new.clone()])
    });
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Nobody was lost on the way, and traffic flows under the new key.
    pools[0].send_event("after-rotation", b"", false).unwrap();
    for p in &pools[1..] {
        wait_for("the event", Duration::from_secs(5), || {
            while let Some(e) = p.next_event(Some(Duration::ZERO)).unwrap() {
                if matches!(e, PoolEvent::User { ref name, .. } if name == "after-rotation") {
                    return true;
                }
                assert!(
                    !matches!(e, PoolEvent::MemberFailed(_)),
                    "a member failed: {e:?}"
                );
            }
            false
        });
    }
    assert!(pools.iter().all(|p| names(p).len() == 4));

    // A restarted pool takes its keys from the file, not from its config.
    drop(pools);
    let mut restarted = config("n0", &[&old]);
    restarted.keyring_file = Some(file.clone());
    let p = rt.pool(restarted).unwrap();
    assert_eq!(p.keyring_list().unwrap().keys.len(), 1);
    assert!(p
        .keyring_list()
        .unwrap()
        .keys
        .contains_key(&new.to_base64()));
    drop(p);
    // An invalid file is refused with a message naming the entry.
    std::fs::write(&file, "[\"AAAA\"]").unwrap();
    let mut bad = config("n0", &[]);
    bad.keyring_file = Some(file.clone());
    let e = rt.pool(bad).err().expect("invalid keyring file refused");
    assert!(e.message.contains("key 0"), "{}", e.message);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sources_outside_the_allow_list_are_dropped_and_counted() {
    let rt = Runtime::new().unwrap();
    let mut guarded = config("guarded", &[]);
    guarded.serf.swim.allowed_cidrs = vec![parse_cidr("127.0.0.2/32").unwrap()];
    let guarded = rt.pool(guarded).unwrap();
    let outsider = rt.pool(config("outsider", &[])).unwrap();
    assert_eq!(
        outsider.join(&[guarded.local_addr().to_string()]).unwrap(),
        0
    );
    wait_for("the refusal counted", Duration::from_secs(5), || {
        guarded.stats().unwrap().dropped_source > 0
    });
    assert_eq!(names(&guarded), set(&["guarded"]));
    assert!(parse_cidr("10.0.0.0/33").is_err());
    assert!(parse_cidr("::1")
        .unwrap()
        .contains(&"::1".parse::<std::net::IpAddr>().unwrap()));
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_hundred_thousand_hostile_packets_change_nothing_and_are_counted() {
    let rt = Runtime::new().unwrap();
    let k = key(5);
    let pools: Vec<Pool> = (0..3)
        .map(|i| rt.pool(config(&format!("h{i}"), &[&k])).unwrap())
        .collect();
    let target = &pools[0];
    let seed = target.local_addr().to_string();
    for p in &pools[1..] {
        assert_eq!(p.join(&[seed.as_str()]).unwrap(), 1);
    }
    wait_for("three alive", Duration::from_secs(10), || {
        pools.iter().all(|p| names(p).len() == 3)
    });
    let everyone = set(&["h0", "h1", "h2"]);

    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = target.local_addr();
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    // A genuine broadcast about h1 at an old incarnation, sealed with the
    // right key: what an eavesdropper could capture and replay.
    let h1 = target
        .members()
        .unwrap()
        .into_iter()
        .find(|m| m.name == "h1")
        .unwrap();
    let alive = wire::encode_message(&Message::Alive(Alive {
        incarnation: 0,
        node: "h1".into(),
        addr: WireAddr(h1.addr),
        meta: Vec::new(),
        versions: [1, 1, 1],
    }));
    let captured = wire::seal_packet(&wire::encode_packet(None, &[alive]), &k, [4; 12]);
    let wrong_key = key(6);
    let before = target.stats().unwrap();
    let rss_before = rss_kib();

    let mut sent_during = 0;
    let total = 100_000usize;
    let batch = 500usize;
    let (mut malformed, mut decrypt, mut plaintext, mut replayed) = (0u64, 0u64, 0u64, 0u64);
    for b in 0..total / batch {
        for i in 0..batch {
            let n = b * batch + i;
            let packet: Vec<u8> = match n % 6 {
                // Garbage that is not even a header.
                0 => {
                    malformed += 1;
                    let len = rng.random_range(0..1400);
                    let mut p: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                    if let Some(first) = p.first_mut() {
                        *first = first.wrapping_add(1) | 0x80;
                    }
                    p
                }
                // A genuine packet cut short inside its sealed body.
                1 => {
                    decrypt += 1;
                    let cut = rng.random_range(4..captured.len() - 1);
                    captured[..cut].to_vec()
                }
                // Oversized: a sealed header followed by 2–16 KB of noise
                // (beyond any packet a member sends).
                2 => {
                    decrypt += 1;
                    let len = rng.random_range(2_000..16_000);
                    let mut p = captured[..4].to_vec();
                    p.extend((0..len).map(|_| rng.random::<u8>()));
                    p
                }
                // Sealed with a key the pool does not hold.
                3 => {
                    decrypt += 1;
                    let plain = wire::encode_packet(None, &[vec![0xA0]]);
                    wire::seal_packet(&plain, &wrong_key, rng.random())
                }
                // Plaintext, well formed.
                4 => {
                    plaintext += 1;
                    wire::encode_packet(None, &[vec![0xA1, 0x61, b'u', 0x40]])
                }
                // A replay of the captured packet.
                _ => {
                    replayed += 1;
                    captured.clone()
                }
            };
            attacker.send_to(&packet, to).unwrap();
        }
        // Pace the flood to what the pool has counted, so that no datagram
        // is lost to a full socket buffer and every one is accounted for.
        let counted = |s: &hearsay::runtime::PoolStats| {
            s.dropped_malformed - before.dropped_malformed == malformed
                && s.dropped_decrypt - before.dropped_decrypt == decrypt
                && s.dropped_plaintext - before.dropped_plaintext == plaintext
                // Gossip itself also delivers duplicates.
                && s.duplicates_skipped - before.duplicates_skipped >= replayed - 1
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = target.stats().unwrap();
            if counted(&s) {
                break;
            }
            assert!(
                Instant::now() < deadline && s.dropped_overload == before.dropped_overload,
                "batch {b} not accounted for: {s:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        if b % 50 == 25 {
            // Normal traffic goes on in the middle of the flood.
            pools[2]
                .send_event("during-flood", &[b as u8], false)
                .unwrap();
            sent_during += 1;
            assert_eq!(names(target), everyone);
        }
    }
    let after = target.stats().unwrap();
    assert_eq!(after.dropped_overload - before.dropped_overload, 0);
    assert_eq!(
        after.dropped_malformed - before.dropped_malformed,
        malformed
    );
    assert_eq!(after.dropped_decrypt - before.dropped_decrypt, decrypt);
    assert_eq!(
        after.dropped_plaintext - before.dropped_plaintext,
        plaintext
    );
    // The first copy is processed (a stale alive: ignored), every later
    // one is recognised unread.
    assert!(after.duplicates_skipped - before.duplicates_skipped >= replayed - 1);
    for p in &pools {
        assert_eq!(names(p), everyone);
        assert_eq!(p.stats().unwrap().members_failed, 0);
    }
    let mut seen = 0;
    wait_for(
        "events sent during the flood",
        Duration::from_secs(5),
        || {
            while let Some(e) = target.next_event(Some(Duration::ZERO)).unwrap() {
                if matches!(e, PoolEvent::User { ref name, .. } if name == "during-flood") {
                    seen += 1;
                }
            }
            seen == sent_during
        },
    );
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB under the flood");
}
