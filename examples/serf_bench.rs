//! Serf-layer figures in the simulator: user event delivery time to every
//! node, query completeness and time, and healing after a long partition.
//!
//! `cargo run --release --example serf_bench -- [--nodes 1000] [--seed 1] [--json]`

use std::time::Duration;

use hearsay::serf::{QueryParams, SerfConfig, Status};
use hearsay::sim::{Network, Percentiles, Sim};
use hearsay::swim::Config;

/// `--json`: one object per scenario, for `scripts/bench.sh`.
fn json() -> bool {
    std::env::args().any(|a| a == "--json")
}

fn config() -> SerfConfig {
    SerfConfig {
        coordinates: None,
        ..SerfConfig::with_swim(Config::lan())
    }
}

fn cluster(n: usize, seed: u64) -> Sim {
    let mut sim = Sim::new(seed, Network::default()).without_first_alive_matrix();
    sim.add_node_with(config(), Vec::new());
    let step = Duration::from_secs(10) / n as u32;
    for _ in 1..n {
        sim.run_for(step);
        let i = sim.add_node_with(config(), Vec::new());
        sim.join(i, 0);
    }
    let deadline = sim.elapsed() + Duration::from_secs(600);
    assert!(sim.run_until(deadline, Duration::from_millis(100), |s| s.converged()));
    sim
}

fn events(n: usize, seed: u64, loss: f64) {
    let mut sim = cluster(n, seed);
    sim.set_loss(loss);
    let count = 20;
    let mut sent_at = Vec::new();
    let start = sim.record.user_events.len();
    for k in 0..count {
        sent_at.push(sim.elapsed());
        sim.send_event((k * 37) % n, &format!("ev-{k}"), b"payload");
        sim.run_for(Duration::from_millis(500));
    }
    let all = |s: &Sim| s.record.user_events.len() - start >= n * count;
    let deadline = sim.elapsed() + Duration::from_secs(600);
    sim.run_until(deadline, Duration::from_millis(200), all);
    let mut latencies = Vec::new();
    let mut last_per_event = vec![Duration::ZERO; count];
    for (at, _, _, name) in &sim.record.user_events[start..] {
        let k: usize = name.trim_start_matches("ev-").parse().unwrap();
        let latency = *at - sent_at[k];
        latencies.push(latency.as_secs_f64());
        last_per_event[k] = last_per_event[k].max(latency);
    }
    let delivered = latencies.len();
    let p = Percentiles::of(latencies);
    let full = Percentiles::of(last_per_event.iter().map(|d| d.as_secs_f64()).collect());
    if json() {
        println!(
            "{}",
            serde_json::json!({
                "scenario": "events", "nodes": n, "seed": seed, "loss": loss, "events": count,
                "delivered": delivered, "expected": n * count,
                "delivery_s": p, "to_all_s": full,
            })
        );
        return;
    }
    println!(
        "events n={n} loss={loss}: {delivered}/{} deliveries; per delivery p50 {:.3} s p99 {:.3} s max {:.3} s; to 100% of nodes p50 {:.3} s max {:.3} s",
        n * count,
        p.p50,
        p.p99,
        p.max,
        full.p50,
        full.max
    );
}

fn query(n: usize, seed: u64, loss: f64, relay_factor: u8) {
    let mut sim = cluster(n, seed);
    sim.set_loss(loss);
    let asked_at = sim.elapsed();
    let handle = sim.query(
        1,
        "status",
        b"?",
        QueryParams {
            relay_factor,
            ..QueryParams::default()
        },
    );
    let done = |s: &Sim| {
        s.record
            .queries_done
            .iter()
            .any(|(_, node, h)| *node == 1 && *h == handle)
    };
    let deadline = sim.elapsed() + Duration::from_secs(120);
    sim.run_until(deadline, Duration::from_millis(50), done);
    let mut responders: Vec<(Duration, &str)> = sim
        .record
        .responses
        .iter()
        .filter(|(_, node, h, _)| *node == 1 && *h == handle)
        .map(|(at, _, _, from)| (*at - asked_at, from.as_str()))
        .collect();
    responders.sort();
    responders.dedup_by(|a, b| a.1 == b.1);
    let times = Percentiles::of(responders.iter().map(|r| r.0.as_secs_f64()).collect());
    if json() {
        println!(
            "{}",
            serde_json::json!({
                "scenario": "query", "nodes": n, "seed": seed, "loss": loss,
                "relay_factor": relay_factor, "responded": responders.len(), "response_s": times,
            })
        );
        return;
    }
    println!(
        "query n={n} loss={loss} relay={relay_factor}: {}/{n} responded; response time p50 {:.3} s p99 {:.3} s max {:.3} s",
        responders.len(),
        times.p50,
        times.p99,
        times.max
    );
}

fn partition(n: usize, seed: u64) {
    let mut sim = Sim::new(seed, Network::default());
    sim.add_node_with(config(), Vec::new());
    for _ in 1..n {
        sim.run_for(Duration::from_millis(50));
        let i = sim.add_node_with(config(), Vec::new());
        sim.join(i, 0);
    }
    let deadline = sim.elapsed() + Duration::from_secs(120);
    assert!(sim.run_until(deadline, Duration::from_millis(100), |s| s.converged()));
    let half = n / 2;
    sim.partition(&[(0..half).collect(), (half..n).collect()]);
    sim.run_for(Duration::from_secs(300));
    let failed_seen = sim.serf(0).member(sim.name(n - 1)).map(|m| m.status) == Some(Status::Failed);
    sim.heal();
    let healed_at = sim.elapsed();
    let deadline = healed_at + Duration::from_secs(600);
    let ok = sim.run_until(deadline, Duration::from_secs(1), |s| s.serf_converged());
    if json() {
        println!(
            "{}",
            serde_json::json!({
                "scenario": "partition", "nodes": n, "seed": seed, "split_s": 300,
                "other_side_failed": failed_seen, "healed": ok,
                "healed_after_s": (sim.elapsed() - healed_at).as_secs_f64(),
            })
        );
        return;
    }
    println!(
        "partition n={n} 50/50 for 300 s (other side failed: {failed_seen}): {} after {:.0} s",
        if ok {
            "all alive everywhere"
        } else {
            "not healed"
        },
        (sim.elapsed() - healed_at).as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n: usize = value("--nodes")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let seed: u64 = value("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);
    events(n, seed, 0.0);
    events(n, seed, 0.05);
    query(n, seed, 0.0, 0);
    query(n, seed, 0.05, 2);
    partition(200, seed);
}
