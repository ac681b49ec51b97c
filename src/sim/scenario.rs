//! The standard scenario of `hearsay sim`: a staggered rollout through one
//! seed node, a meta update, then a crash, measured as an operator would.

use std::time::Duration;

use serde::Serialize;

use super::{Network, ObservationKind, Sim};
use crate::serf::SerfConfig;
use crate::swim::{Config, Profile};

/// Settings of the standard scenario.
#[derive(Clone, Debug)]
pub struct StandardOptions {
    /// Cluster size.
    pub nodes: usize,
    /// Protocol profile.
    pub profile: Profile,
    /// Master seed.
    pub seed: u64,
    /// Datagram loss rate, 0.0 to 1.0.
    pub loss: f64,
    /// Protocol settings (the profile's defaults, with network coordinates
    /// off: they do not change membership, and cost memory at scale).
    pub config: SerfConfig,
    /// Virtual time over which the nodes join.
    pub rollout: Duration,
}

impl StandardOptions {
    /// The scenario for `nodes` nodes with a profile's defaults.
    pub fn new(nodes: usize, profile: Profile, seed: u64, loss: f64) -> StandardOptions {
        StandardOptions {
            nodes,
            profile,
            seed,
            loss,
            config: SerfConfig {
                coordinates: None,
                ..SerfConfig::with_swim(Config::for_profile(profile))
            },
            rollout: Duration::from_secs(10),
        }
    }
}

/// p50, p99 and max of a set of durations, in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (seconds).
    pub fn of(mut values: Vec<f64>) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
            round3(values[i])
        };
        Percentiles {
            p50: rank(0.50),
            p99: rank(0.99),
            max: round3(values[values.len() - 1]),
        }
    }
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What the standard scenario measured. Serialized as `hearsay sim --json`.
#[derive(Clone, Debug, Serialize)]
pub struct StandardReport {
    /// Cluster size.
    pub nodes: usize,
    /// Master seed.
    pub seed: u64,
    /// Profile name.
    pub profile: String,
    /// Loss rate.
    pub loss: f64,
    /// Virtual seconds until every node saw all nodes alive (-1 if never).
    pub join_converged_s: f64,
    /// Time for the meta update to reach each other node.
    pub dissemination_s: Percentiles,
    /// Time from the crash until each other node declared the node dead.
    pub detection_s: Percentiles,
    /// Live nodes declared dead by anyone, over the whole run.
    pub false_positives: usize,
    /// Bytes sent per node per virtual second.
    pub bytes_per_node_s: f64,
    /// Messages sent per node per virtual second.
    pub msgs_per_node_s: f64,
    /// Wall-clock seconds of the run (filled by the caller).
    pub wall_s: f64,
    /// Peak resident memory in MiB (filled by the caller).
    pub peak_rss_mb: f64,
    /// Nodes the meta update reached, out of `nodes − 1`.
    #[serde(skip)]
    pub dissemination_reached: usize,
    /// Nodes that declared the crashed node dead, out of `nodes − 2`.
    #[serde(skip)]
    pub detection_reached: usize,
    /// Hash of the event trace.
    #[serde(skip)]
    pub trace_hash: u64,
}

/// Runs the standard scenario.
pub fn run_standard(options: &StandardOptions) -> StandardReport {
    run_standard_with_progress(options, |_| {})
}

/// Runs the standard scenario, calling `progress` with a fraction from 0 to 1.
pub fn run_standard_with_progress(
    options: &StandardOptions,
    mut progress: impl FnMut(f64),
) -> StandardReport {
    let n = options.nodes.max(2);
    let mut sim = Sim::new(
        options.seed,
        Network {
            loss: options.loss,
            ..Network::default()
        },
    )
    .without_first_alive_matrix();
    let step = options.rollout / n as u32;
    sim.add_node_with(options.config.clone(), Vec::new());
    for i in 1..n {
        sim.run_for(step);
        let node = sim.add_node_with(options.config.clone(), Vec::new());
        sim.join(node, 0);
        if i % 64 == 0 {
            progress(0.3 * i as f64 / n as f64);
        }
    }
    let check = Duration::from_millis(100);
    let limit = sim.elapsed() + Duration::from_secs(600);
    let converged = sim.run_until(limit, check, |s| s.converged());
    let join_converged_s = if converged {
        round3(sim.elapsed().as_secs_f64())
    } else {
        -1.0
    };
    progress(0.5);

    // A meta update from the last node to join.
    let updater = n - 1;
    let updater_name = sim.name(updater).clone();
    let t0 = sim.elapsed();
    let cursor = sim.record.observations.len();
    sim.set_meta(updater, b"role=updated".to_vec());
    let mut reached = vec![false; n];
    let mut count = 0usize;
    let mut scanned = cursor;
    sim.run_until(
        t0 + Duration::from_secs(120),
        Duration::from_millis(10),
        |s| {
            for o in &s.record.observations[scanned..] {
                if o.kind == ObservationKind::Updated
                    && o.subject == updater_name
                    && !reached[o.observer]
                {
                    reached[o.observer] = true;
                    count += 1;
                }
            }
            scanned = s.record.observations.len();
            count >= n - 1
        },
    );
    let dissemination: Vec<f64> = sim.record.observations[cursor..]
        .iter()
        .filter(|o| o.kind == ObservationKind::Updated && o.subject == updater_name)
        .map(|o| (o.at - t0).as_secs_f64())
        .collect();
    let dissemination_reached = dissemination.len();
    progress(0.6);

    // A crash of a node in the middle of the join order.
    sim.run_for(Duration::from_secs(5));
    let victim = n / 2;
    let victim_name = sim.name(victim).clone();
    let t1 = sim.elapsed();
    let cursor = sim.record.observations.len();
    sim.crash(victim);
    let mut declared = vec![false; n];
    let mut count = 0usize;
    let mut scanned = cursor;
    sim.run_until(
        t1 + Duration::from_secs(600),
        Duration::from_millis(50),
        |s| {
            for o in &s.record.observations[scanned..] {
                if o.kind == ObservationKind::Failed
                    && o.subject == victim_name
                    && !declared[o.observer]
                {
                    declared[o.observer] = true;
                    count += 1;
                }
            }
            scanned = s.record.observations.len();
            count >= n - 1
        },
    );
    let mut seen = vec![false; n];
    let detection: Vec<f64> = sim.record.observations[cursor..]
        .iter()
        .filter(|o| o.kind == ObservationKind::Failed && o.subject == victim_name)
        .filter(|o| !std::mem::replace(&mut seen[o.observer], true))
        .map(|o| (o.at - t1).as_secs_f64())
        .collect();
    let detection_reached = detection.len();
    progress(1.0);

    let secs = sim.elapsed().as_secs_f64().max(1e-9);
    let (bytes, msgs) = sim.record.traffic.iter().fold((0u64, 0u64), |(b, m), t| {
        (b + t.bytes_sent, m + t.msgs_sent)
    });
    StandardReport {
        nodes: n,
        seed: options.seed,
        profile: options.profile.name().to_owned(),
        loss: options.loss,
        join_converged_s,
        dissemination_s: Percentiles::of(dissemination),
        detection_s: Percentiles::of(detection),
        false_positives: sim.record.false_failures.len(),
        bytes_per_node_s: (bytes as f64 / n as f64 / secs).round(),
        msgs_per_node_s: round3(msgs as f64 / n as f64 / secs),
        wall_s: 0.0,
        peak_rss_mb: 0.0,
        dissemination_reached,
        detection_reached,
        trace_hash: sim.record.trace_hash,
    }
}
