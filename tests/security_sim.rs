//! Encryption and key management through the real protocol, on virtual
//! time: rotations and migrations across a hundred nodes with nobody
//! declared failed, and pools that must never merge.
//! `HEARSAY_SIM_SEED=S` replays one seed.

use std::time::Duration;

use hearsay::serf::{KeyOp, KeyringReport, SerfConfig, Status};
use hearsay::sim::{seeds_from_env, Network, ObservationKind, Sim};
use hearsay::swim::{Config, SecretKey};

fn replay(test: &str, seed: u64) -> String {
    format!("replay with: HEARSAY_SIM_SEED={seed} cargo test --test security_sim {test}")
}

fn key(byte: u8) -> SecretKey {
    SecretKey::new(&[byte; 32]).unwrap()
}

fn config(keys: Vec<SecretKey>) -> SerfConfig {
    SerfConfig::with_swim(Config {
        keys,
        ..Config::lan()
    })
}

fn rollout(sim: &mut Sim, n: usize, config: &SerfConfig) {
    sim.add_node_with(config.clone(), Vec::new());
    for _ in 1..n {
        sim.run_for(Duration::from_millis(100));
        let i = sim.add_node_with(config.clone(), Vec::new());
        sim.join(i, 0);
    }
    let deadline = sim.elapsed() + Duration::from_secs(120);
    assert!(
        sim.run_until(deadline, Duration::from_millis(200), |s| s.converged()),
        "join did not converge"
    );
}

fn failures(sim: &Sim) -> usize {
    sim.record
        .observations
        .iter()
        .filter(|o| o.kind == ObservationKind::Failed)
        .count()
}

/// Runs a keyring operation from node `i` and waits for its report.
fn keyring(sim: &mut Sim, i: usize, op: KeyOp, key: Option<&SecretKey>) -> KeyringReport {
    let before = sim.record.keyring_reports.len();
    sim.with_serf(i, |core, now| core.keyring_op(now, op, key, None))
        .expect("operation starts");
    let deadline = sim.elapsed() + Duration::from_secs(60);
    assert!(
        sim.run_until(deadline, Duration::from_millis(50), |s| s
            .record
            .keyring_reports
            .len()
            > before),
        "keyring {} never finished",
        op.name()
    );
    let (_, node, done_op, report) = sim.record.keyring_reports[before].clone();
    assert_eq!((node, done_op), (i, op));
    report
}

#[test]
fn key_rotation_across_a_hundred_nodes_declares_nobody_failed() {
    for seed in seeds_from_env(31) {
        let why = replay("key_rotation", seed);
        let n = 100;
        let (old, new) = (key(1), key(2));
        let mut sim = Sim::new(seed, Network::default());
        rollout(&mut sim, n, &config(vec![old.clone()]));

        let report = keyring(&mut sim, 7, KeyOp::Install, Some(&new));
        assert!(report.succeeded(), "install: {report:?}; {why}");
        assert_eq!((report.members, report.responses), (n, n), "{why}");
        let report = keyring(&mut sim, 13, KeyOp::Use, Some(&new));
        assert!(report.succeeded(), "use: {report:?}; {why}");
        // The old key is still installed everywhere: removing it cannot
        // strand a member that has not switched yet.
        sim.run_for(Duration::from_secs(5));
        let report = keyring(&mut sim, 21, KeyOp::Remove, Some(&old));
        assert!(report.succeeded(), "remove: {report:?}; {why}");
        let report = keyring(&mut sim, 0, KeyOp::List, None);
        assert_eq!(report.responses, n, "{why}");
        let new_b64 = new.to_base64();
        assert_eq!(report.keys.len(), 1, "{report:?}; {why}");
        assert_eq!(report.keys.get(&new_b64), Some(&n), "{why}");
        assert_eq!(report.primary_keys.get(&new_b64), Some(&n), "{why}");

        // The primary cannot be removed: refused locally at once, and by
        // each member that is asked.
        let refused = sim.with_serf(0, |core, now| {
            core.keyring_op(now, KeyOp::Remove, Some(&new), None)
        });
        assert!(refused.is_err(), "{why}");
        let report = keyring(&mut sim, 0, KeyOp::Use, Some(&old));
        assert_eq!(report.errors.len(), n, "use of a removed key: {report:?}");
        assert!(report.errors.values().all(|m| m.contains("not installed")));

        sim.run_for(Duration::from_secs(60));
        assert_eq!(failures(&sim), 0, "members declared failed; {why}");
        assert!(sim.record.false_failures.is_empty(), "{why}");
        for i in 0..n {
            assert_eq!(
                sim.serf(i).keyring().keys(),
                std::slice::from_ref(&new),
                "{why}"
            );
            assert_eq!(sim.core(i).stats().dropped_decrypt, 0, "node {i}; {why}");
            let alive = sim
                .serf(i)
                .members()
                .filter(|m| m.status == Status::Alive)
                .count();
            assert_eq!(alive, n, "node {i}; {why}");
        }
    }
}

#[test]
fn rolling_migration_from_plaintext_to_encryption_declares_nobody_failed() {
    for seed in seeds_from_env(41) {
        let why = replay("rolling_migration", seed);
        let n = 100;
        let k = key(9);
        let mut sim = Sim::new(seed, Network::default());
        rollout(&mut sim, n, &config(Vec::new()));
        // Each step is rolled through the pool one node at a time, as an
        // operator restarting agents would: 1. the key, accepting and
        // sending plaintext; 2. sending encrypted; 3. refusing plaintext.
        for step in 0..3 {
            for i in 0..n {
                sim.with_serf(i, |core, _| match step {
                    0 => {
                        core.set_encryption_policy(false, false);
                        core.keyring_mut().install(k.clone()).unwrap();
                    }
                    1 => core.set_encryption_policy(false, true),
                    _ => core.set_encryption_policy(true, true),
                });
                sim.run_for(Duration::from_millis(500));
            }
            sim.run_for(Duration::from_secs(10));
        }
        sim.run_for(Duration::from_secs(60));
        assert_eq!(failures(&sim), 0, "members declared failed; {why}");
        assert!(sim.record.false_failures.is_empty(), "{why}");
        assert!(sim.converged(), "{why}");

        // Encrypted now: a plaintext newcomer is refused by everyone.
        let plain = sim.add_node_with(config(Vec::new()), Vec::new());
        sim.join(plain, 0);
        sim.run_for(Duration::from_secs(60));
        for i in 0..n {
            assert!(
                sim.serf(i).member(sim.name(plain)).is_none(),
                "node {i} took in a plaintext node; {why}"
            );
        }
        assert!(sim.core(0).stats().dropped_plaintext > 0, "{why}");
        assert_eq!(sim.serf(plain).members().count(), 1, "{why}");
    }
}

#[test]
fn pools_with_different_keys_never_merge() {
    for seed in seeds_from_env(51) {
        let why = replay("different_keys", seed);
        let mut sim = Sim::new(seed, Network::default());
        let a: Vec<usize> = (0..5)
            .map(|_| sim.add_node_with(config(vec![key(1)]), Vec::new()))
            .collect();
        let b: Vec<usize> = (0..5)
            .map(|_| sim.add_node_with(config(vec![key(2)]), Vec::new()))
            .collect();
        for &i in &a[1..] {
            sim.join(i, a[0]);
        }
        for &i in &b[1..] {
            sim.join(i, b[0]);
        }
        sim.run_for(Duration::from_secs(20));
        // Cross joins, in both directions, and a wrongly keyed newcomer.
        sim.join(b[1], a[0]);
        sim.join(a[1], b[0]);
        let wrong = sim.add_node_with(config(vec![key(3), key(4)]), Vec::new());
        sim.join(wrong, a[2]);
        sim.run_for(Duration::from_secs(120));
        for (group, size) in [(&a, 5), (&b, 5)] {
            for &i in group.iter() {
                assert_eq!(sim.serf(i).members().count(), size, "node {i}; {why}");
            }
        }
        assert_eq!(sim.serf(wrong).members().count(), 1, "{why}");
        let refused: u64 = a.iter().map(|&i| sim.core(i).stats().dropped_decrypt).sum();
        assert!(refused > 0, "{why}");
        assert_eq!(failures(&sim), 0, "{why}");
    }
}
