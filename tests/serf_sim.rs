//! The Serf layer at scale, on virtual time, in the deterministic simulator.
//! `HEARSAY_SIM_SEED=S` replays one seed; `HEARSAY_SIM_SEEDS=N` sweeps N.

use std::collections::HashMap;
use std::time::Duration;

use hearsay::serf::{ConflictOutcome, QueryParams, SerfConfig, Status};
use hearsay::sim::{seeds_from_env, Network, ObservationKind, Sim};
use hearsay::swim::Config;

fn replay(test: &str, seed: u64) -> String {
    format!("replay with: HEARSAY_SIM_SEED={seed} cargo test --test serf_sim {test}")
}

fn rollout(sim: &mut Sim, n: usize, config: &SerfConfig, over: Duration) {
    sim.add_node_with(config.clone(), Vec::new());
    let step = over / n as u32;
    for _ in 1..n {
        sim.run_for(step);
        let i = sim.add_node_with(config.clone(), Vec::new());
        sim.join(i, 0);
    }
}

fn converge(sim: &mut Sim, within: Duration) -> bool {
    let deadline = sim.elapsed() + within;
    sim.run_until(deadline, Duration::from_millis(100), |s| s.converged())
}

fn status(sim: &Sim, observer: usize, subject: usize) -> Option<Status> {
    sim.serf(observer)
        .member(sim.name(subject))
        .map(|m| m.status)
}

#[test]
fn hundred_events_to_a_thousand_nodes_at_five_percent_loss_arrive_exactly_once() {
    for seed in seeds_from_env(11) {
        let why = replay("hundred_events", seed);
        let n = 1000;
        let mut sim = Sim::new(seed, Network::default()).without_first_alive_matrix();
        rollout(
            &mut sim,
            n,
            &SerfConfig::with_swim(Config::lan()),
            Duration::from_secs(10),
        );
        assert!(converge(&mut sim, Duration::from_secs(300)), "join; {why}");
        sim.set_loss(0.05);
        let start = sim.record.user_events.len();
        let senders: Vec<usize> = (0..100).map(|k| (k * 7919 + seed as usize) % n).collect();
        for (k, &sender) in senders.iter().enumerate() {
            sim.send_event(sender, &format!("ev-{k}"), &(k as u32).to_be_bytes());
            sim.run_for(Duration::from_millis(100));
        }
        let everyone = |s: &Sim| s.record.user_events.len() - start >= n * 100;
        let done = sim.run_until(
            sim.elapsed() + Duration::from_secs(400),
            Duration::from_millis(500),
            everyone,
        );
        let mut per: HashMap<(usize, &str), u32> = HashMap::new();
        for (_, node, _, name) in &sim.record.user_events[start..] {
            *per.entry((*node, name.as_str())).or_default() += 1;
        }
        let duplicates = per.values().filter(|&&c| c > 1).count();
        assert_eq!(duplicates, 0, "an event was delivered twice; {why}");
        assert!(done, "only {} of {} deliveries; {why}", per.len(), n * 100);
        assert_eq!(per.len(), n * 100, "{why}");
    }
}

fn query_completeness(seed: u64, loss: f64, relay_factor: u8) -> (usize, usize) {
    let n = 1000;
    let mut sim = Sim::new(seed, Network::default()).without_first_alive_matrix();
    rollout(
        &mut sim,
        n,
        &SerfConfig::with_swim(Config::lan()),
        Duration::from_secs(10),
    );
    assert!(converge(&mut sim, Duration::from_secs(300)));
    sim.set_loss(loss);
    let params = QueryParams {
        relay_factor,
        ..QueryParams::default()
    };
    let handle = sim.query(3, "status", b"?", params);
    let done = |s: &Sim| {
        s.record
            .queries_done
            .iter()
            .any(|(_, node, h)| *node == 3 && *h == handle)
    };
    assert!(sim.run_until(
        sim.elapsed() + Duration::from_secs(60),
        Duration::from_millis(100),
        done
    ));
    let mut responders: Vec<&str> = sim
        .record
        .responses
        .iter()
        .filter(|(_, node, h, _)| *node == 3 && *h == handle)
        .map(|(_, _, _, from)| from.as_str())
        .collect();
    let total = responders.len();
    responders.sort();
    responders.dedup();
    (responders.len(), total)
}

#[test]
fn a_query_to_a_thousand_nodes_gets_every_response() {
    for seed in seeds_from_env(12) {
        let why = replay("a_query_to_a_thousand", seed);
        let (distinct, total) = query_completeness(seed, 0.0, 0);
        assert_eq!(total, distinct, "one response per node; {why}");
        assert_eq!(distinct, 1000, "{why}");
        let (distinct, total) = query_completeness(seed, 0.05, 2);
        println!("seed {seed}: 5% loss, relay factor 2: {distinct} of 1000 responded");
        assert_eq!(total, distinct, "relayed copies are deduplicated; {why}");
        assert!(
            distinct >= 990,
            "only {distinct} of 1000 responses at 5% loss; {why}"
        );
    }
}

#[test]
fn a_long_partition_heals_by_reconnecting() {
    for seed in seeds_from_env(13) {
        let why = replay("a_long_partition", seed);
        let config = SerfConfig::with_swim(Config::lan());
        let mut sim = Sim::new(seed, Network::default());
        rollout(&mut sim, 200, &config, Duration::from_secs(10));
        assert!(converge(&mut sim, Duration::from_secs(120)), "join; {why}");
        let left: Vec<usize> = (0..100).collect();
        let right: Vec<usize> = (100..200).collect();
        sim.partition(&[left, right]);
        sim.run_for(Duration::from_secs(300));
        // Each side declared the other failed.
        assert_eq!(status(&sim, 0, 150), Some(Status::Failed), "{why}");
        assert_eq!(status(&sim, 150, 0), Some(Status::Failed), "{why}");
        sim.heal();
        let healed_at = sim.elapsed();
        let bound = config.reconnect_interval * 3;
        let ok = sim.run_until(healed_at + bound, Duration::from_secs(1), |s| {
            s.serf_converged()
        });
        let took = sim.elapsed() - healed_at;
        println!("seed {seed}: healed in {took:?} (bound {bound:?})");
        assert!(ok, "not all 200 alive everywhere within {bound:?}; {why}");
    }
}

fn small_config() -> SerfConfig {
    let mut c = SerfConfig::with_swim(Config::lan());
    c.reap_interval = Duration::from_secs(5);
    c.reconnect_timeout = Duration::from_secs(120);
    c.tombstone_timeout = Duration::from_secs(60);
    c
}

#[test]
fn failed_and_left_members_are_reaped_after_their_timeouts() {
    let seed = hearsay::sim::seed_from_env(14);
    let why = replay("reaped", seed);
    let config = small_config();
    let mut sim = Sim::new(seed, Network::default());
    rollout(&mut sim, 10, &config, Duration::from_secs(2));
    assert!(converge(&mut sim, Duration::from_secs(30)), "{why}");
    sim.crash(4);
    sim.leave(5);
    let t0 = sim.elapsed();
    sim.run_for(Duration::from_secs(30));
    assert_eq!(status(&sim, 0, 4), Some(Status::Failed), "{why}");
    assert_eq!(status(&sim, 0, 5), Some(Status::Left), "{why}");
    // Left members go after the tombstone timeout, failed ones after the
    // reconnect timeout, each with a reap event.
    sim.run_until_time(t0 + config.tombstone_timeout + config.reap_interval * 2);
    assert_eq!(status(&sim, 0, 5), None, "left member reaped; {why}");
    assert_eq!(
        status(&sim, 0, 4),
        Some(Status::Failed),
        "failed member kept; {why}"
    );
    sim.run_until_time(t0 + config.reconnect_timeout + config.reap_interval * 2);
    assert_eq!(status(&sim, 0, 4), None, "failed member reaped; {why}");
    for (subject, index) in [("n4", 4usize), ("n5", 5usize)] {
        let mut reapers: Vec<usize> = sim
            .record
            .observations
            .iter()
            .filter(|o| o.kind == ObservationKind::Reaped && &*o.subject == subject)
            .map(|o| o.observer)
            .collect();
        reapers.sort();
        let expected: Vec<usize> = (0..10).filter(|&i| i != 4 && i != index).collect();
        assert_eq!(
            reapers, expected,
            "every other running node reaped {subject} once; {why}"
        );
    }
}

#[test]
fn force_leave_turns_a_failed_member_left_and_prune_removes_it() {
    let seed = hearsay::sim::seed_from_env(15);
    let why = replay("force_leave", seed);
    let mut sim = Sim::new(seed, Network::default());
    rollout(&mut sim, 12, &small_config(), Duration::from_secs(2));
    assert!(converge(&mut sim, Duration::from_secs(30)), "{why}");
    sim.crash(3);
    sim.crash(7);
    assert!(converge(&mut sim, Duration::from_secs(60)), "{why}");
    sim.force_leave(0, "n3", false);
    sim.force_leave(0, "n7", true);
    sim.run_for(Duration::from_secs(10));
    for i in (0..12).filter(|&i| i != 3 && i != 7) {
        assert_eq!(
            status(&sim, i, 3),
            Some(Status::Left),
            "node {i} sees n3 left; {why}"
        );
        assert_eq!(status(&sim, i, 7), None, "node {i} pruned n7; {why}");
    }
}

#[test]
fn a_stale_leave_about_a_live_node_is_refuted() {
    let seed = hearsay::sim::seed_from_env(16);
    let why = replay("stale_leave", seed);
    let mut sim = Sim::new(seed, Network::default());
    rollout(&mut sim, 20, &small_config(), Duration::from_secs(2));
    assert!(converge(&mut sim, Duration::from_secs(30)), "{why}");
    // Node 9 hears that node 2 leaves, which node 2 never said.
    sim.inject_stale_leave(9, 2);
    assert_eq!(status(&sim, 9, 2), Some(Status::Leaving), "{why}");
    sim.run_for(Duration::from_secs(10));
    for i in 0..20 {
        assert_eq!(
            status(&sim, i, 2),
            Some(Status::Alive),
            "node {i} sees n2 alive; {why}"
        );
    }
}

#[test]
fn a_name_claimed_from_a_second_address_is_detected_and_voted_on() {
    let seed = hearsay::sim::seed_from_env(17);
    let why = replay("name_claimed", seed);
    let config = small_config();
    let mut sim = Sim::new(seed, Network::default());
    rollout(&mut sim, 10, &config, Duration::from_secs(2));
    assert!(converge(&mut sim, Duration::from_secs(30)), "{why}");
    // A second node calls itself n4 and joins through n0.
    let impostor = sim.add_node_named("n4", config.clone(), Vec::new());
    sim.join(impostor, 0);
    sim.run_for(Duration::from_secs(30));
    let outcome = |node: usize| {
        sim.record
            .conflicts
            .iter()
            .rev()
            .find(|(_, n, name, _)| *n == node && name == "n4")
            .map(|(_, _, _, o)| *o)
    };
    let reporters = sim
        .record
        .conflicts
        .iter()
        .filter(|(_, n, _, _)| *n < 10)
        .count();
    assert!(
        reporters > 0,
        "members that saw both claims reported it; {why}"
    );
    // The original hears of the other claim only if a copy reaches it (the
    // members that notice a conflict do not spread the claim); when it does,
    // it wins the vote.
    assert_ne!(
        outcome(4),
        Some(ConflictOutcome::Lost),
        "the original keeps its name; {why}"
    );
    assert_eq!(
        outcome(impostor),
        Some(ConflictOutcome::Lost),
        "the newcomer loses; {why}"
    );
    // Everyone else still sees n4 at its original address.
    let original = sim.addr(4);
    for i in 0..10 {
        assert_eq!(
            sim.serf(i).member("n4").map(|m| m.addr),
            Some(original),
            "{why}"
        );
    }
}

#[test]
fn name_conflict_resolution_can_be_turned_off() {
    let seed = hearsay::sim::seed_from_env(18);
    let why = replay("name_conflict_resolution_can", seed);
    let mut config = small_config();
    config.resolve_name_conflicts = false;
    let mut sim = Sim::new(seed, Network::default());
    rollout(&mut sim, 6, &config, Duration::from_secs(1));
    assert!(converge(&mut sim, Duration::from_secs(30)), "{why}");
    let impostor = sim.add_node_named("n2", config, Vec::new());
    sim.join(impostor, 0);
    sim.run_for(Duration::from_secs(30));
    let outcomes: Vec<ConflictOutcome> = sim
        .record
        .conflicts
        .iter()
        .filter(|(_, n, name, _)| *n == impostor && name == "n2")
        .map(|(_, _, _, o)| *o)
        .collect();
    assert!(!outcomes.is_empty(), "reported; {why}");
    assert!(
        outcomes.iter().all(|o| *o == ConflictOutcome::Reported),
        "no vote; {why}"
    );
}

/// Byte offsets where each line of `bytes` starts.
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' && i + 1 < bytes.len() {
            starts.push(i + 1);
        }
    }
    starts
}

#[test]
fn a_node_restarts_from_any_torn_snapshot_rejoins_and_replays_no_old_event() {
    let seed = hearsay::sim::seed_from_env(19);
    let why = replay("restarts_from_any_torn", seed);
    let config = small_config();
    // Build the history once: node 3 keeps a snapshot, sees events, crashes.
    let build = || {
        let mut sim = Sim::new(seed, Network::default());
        rollout(&mut sim, 8, &config, Duration::from_secs(1));
        sim.enable_snapshot(3);
        assert!(converge(&mut sim, Duration::from_secs(30)));
        for k in 0..5 {
            sim.send_event(k % 8, &format!("old-{k}"), b"x");
            sim.run_for(Duration::from_millis(500));
        }
        sim.run_for(Duration::from_secs(3));
        assert_eq!(
            sim.record
                .user_events
                .iter()
                .filter(|(_, n, _, _)| *n == 3)
                .count(),
            5,
            "node 3 saw the five events"
        );
        sim.crash(3);
        sim
    };
    let file = build().snapshot_bytes(3).to_vec();
    let starts = line_starts(&file);
    let from = starts[starts.len().saturating_sub(4)];
    let mut variants: Vec<Vec<u8>> = (from..=file.len())
        .map(|cut| file[..cut].to_vec())
        .collect();
    let mut garbage = file.clone();
    garbage.extend_from_slice(b"{\"alive\": \xff\xfe garbage\n\x00\x01\x02");
    variants.push(garbage);
    println!(
        "{} variants of a {}-byte snapshot:\n{}",
        variants.len(),
        file.len(),
        String::from_utf8_lossy(&file)
    );
    for (v, bytes) in variants.into_iter().enumerate() {
        let (state, _) = hearsay::serf::snapshot::parse(&bytes);
        let mut sim = build();
        let before = sim.record.user_events.len();
        sim.run_for(Duration::from_secs(5));
        sim.restart_from_snapshot(3, config.clone(), bytes);
        let rejoined = sim.run_until(
            sim.elapsed() + Duration::from_secs(30),
            Duration::from_millis(100),
            |s| {
                s.serf(3)
                    .members()
                    .filter(|m| m.status == Status::Alive)
                    .count()
                    == 8
                    && (0..8).all(|i| status(s, i, 3) == Some(Status::Alive))
            },
        );
        assert!(
            rejoined,
            "variant {v}: node 3 did not rejoin from its snapshot; {why}"
        );
        sim.run_for(Duration::from_secs(10));
        let replayed: Vec<&(Duration, usize, u64, String)> = sim.record.user_events[before..]
            .iter()
            .filter(|(_, n, ltime, _)| *n == 3 && *ltime < state.event_clock)
            .collect();
        assert!(
            replayed.is_empty(),
            "variant {v}: replayed {replayed:?}; {why}"
        );
    }
    // With the whole file, nothing at all is delivered again.
    let mut sim = build();
    let before = sim.record.user_events.len();
    sim.restart_from_snapshot(3, config.clone(), file);
    sim.run_for(Duration::from_secs(20));
    assert!(
        sim.record.user_events[before..]
            .iter()
            .all(|(_, n, _, _)| *n != 3),
        "no old event replayed; {why}"
    );
}

/// A node restarts and rejoins through a seed that restarted after it went
/// down, so the seed never held its old record; everyone else still holds
/// it failed (or left) at an incarnation its new alive does not beat. They
/// tell it so when it gossips its alive or probes them, it refutes, and
/// every view is right within a few probe intervals rather than at the
/// next push-pull.
#[test]
fn a_node_rejoining_through_a_restarted_seed_is_seen_alive_within_seconds() {
    for seed in seeds_from_env(17) {
        for crash in [true, false] {
            let why = replay("rejoining_through_a_restarted_seed", seed);
            let config = SerfConfig::with_swim(Config::lan());
            let mut sim = Sim::new(seed, Network::default());
            // Enough nodes that each broadcast is sent 12 times by each (8
            // below 100), so that gossip alone reaches every node.
            let n = 120;
            rollout(&mut sim, n, &config, Duration::from_secs(5));
            assert!(converge(&mut sim, Duration::from_secs(120)), "{why}");
            let (a, s) = (n - 1, 0);
            let gone = if crash { Status::Failed } else { Status::Left };
            if crash {
                sim.crash(a);
            } else {
                sim.leave(a);
            }
            let all_see = |sim: &Sim, x: usize, st: Status| {
                (0..n)
                    .filter(|&o| o != x && sim.is_up(o))
                    .all(|o| status(sim, o, x) == Some(st))
            };
            let t = sim.elapsed();
            let ok = sim.run_until(
                t + Duration::from_secs(60),
                Duration::from_millis(100),
                |sim| all_see(sim, a, gone),
            );
            assert!(ok, "n{a} is {gone:?} everywhere; {why}");
            if !crash {
                sim.crash(a);
            }
            sim.crash(s);
            let t = sim.elapsed();
            let ok = sim.run_until(
                t + Duration::from_secs(60),
                Duration::from_millis(100),
                |sim| all_see(sim, s, Status::Failed),
            );
            assert!(ok, "the seed is failed everywhere; {why}");
            sim.restart_with(s, config.clone(), false, 1);
            // Push-pull repairs any node its return's gossip missed.
            assert!(converge(&mut sim, Duration::from_secs(300)), "{why}");
            assert!(
                sim.core(s).member(sim.name(a)).is_none(),
                "the restarted seed does not know n{a}; {why}"
            );
            sim.restart_with(a, config.clone(), false, s);
            let t = sim.elapsed();
            let bound = config.swim.probe_interval * 5;
            let ok = sim.run_until(t + bound, Duration::from_millis(100), |sim| {
                sim.serf_converged()
            });
            println!(
                "seed {seed}, {}: every view right {:?} after the restart",
                if crash { "crashed" } else { "left" },
                sim.elapsed() - t
            );
            assert!(
                ok,
                "n{a} ({gone:?} before) not alive everywhere within {bound:?}; {why}"
            );
        }
    }
}

/// A node leaves, is forgotten by the membership layer, and comes back:
/// its first alive is the same message, byte for byte, as the one that
/// announced it the first time. It is news again and must be read, not
/// skipped as a copy of a broadcast seen before.
#[test]
fn a_node_that_left_and_was_forgotten_is_seen_again_when_it_returns() {
    for seed in seeds_from_env(18) {
        let why = replay("left_and_was_forgotten", seed);
        let config = SerfConfig::with_swim(Config::lan());
        let mut sim = Sim::new(seed, Network::default());
        // Enough nodes that each broadcast is sent 12 times by each (8
        // below 100), so that gossip alone reaches every node.
        let n = 120;
        rollout(&mut sim, n, &config, Duration::from_secs(5));
        assert!(converge(&mut sim, Duration::from_secs(120)), "{why}");
        let a = n - 1;
        sim.leave(a);
        sim.run_for(Duration::from_secs(5));
        sim.crash(a);
        let forgotten = |sim: &Sim| (0..a).all(|o| sim.core(o).member(sim.name(a)).is_none());
        let t = sim.elapsed();
        let ok = sim.run_until(
            t + Duration::from_secs(300),
            Duration::from_millis(100),
            forgotten,
        );
        assert!(ok, "every node forgot n{a}; {why}");
        for o in 0..a {
            assert_eq!(status(&sim, o, a), Some(Status::Left), "{why}");
        }
        sim.restart_with(a, config.clone(), false, 1);
        let t = sim.elapsed();
        let bound = config.swim.probe_interval * 5;
        let ok = sim.run_until(t + bound, Duration::from_millis(100), |sim| sim.converged());
        println!(
            "seed {seed}: every member table right {:?} after the return",
            sim.elapsed() - t
        );
        assert!(ok, "n{a} not alive everywhere within {bound:?}; {why}");
    }
}
