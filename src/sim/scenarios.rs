//! The planning scenarios of `hearsay sim`: a cluster of real cores on
//! virtual time, put through one situation an operator plans for, measured
//! from the members' own views (their Serf member events).
//!
//! Every scenario but `rollout` first rolls the cluster out and waits until
//! every node sees every other alive; its curve and times then start at the
//! event it is about (the crash, the split, the first slow packet, the
//! first departure).

use std::fmt;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::scenario::round3;
use super::{sub_seed, Network, ObservationKind, Percentiles, Sim};
use crate::serf::SerfConfig;
use crate::swim::{Config, Profile};

/// A situation to simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Nodes join one seed over a time; how fast the membership converges.
    Rollout,
    /// Nodes crash; how fast, and by whom, they are declared dead.
    Crash,
    /// The network splits for a time, then heals.
    Partition,
    /// Datagrams are lost at a rate; false deaths and detection times.
    Loss,
    /// Some nodes handle every packet late.
    SlowNodes,
    /// Nodes leave, crash and come back over a time.
    Churn,
}

impl Scenario {
    /// Every scenario, in the order the help lists them.
    pub const ALL: [Scenario; 6] = [
        Scenario::Rollout,
        Scenario::Crash,
        Scenario::Partition,
        Scenario::Loss,
        Scenario::SlowNodes,
        Scenario::Churn,
    ];

    /// Parses a scenario's name.
    pub fn parse(text: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == text)
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Rollout => "rollout",
            Scenario::Crash => "crash",
            Scenario::Partition => "partition",
            Scenario::Loss => "loss",
            Scenario::SlowNodes => "slow-nodes",
            Scenario::Churn => "churn",
        }
    }
}

/// Settings of a scenario run. [`ScenarioOptions::new`] gives each
/// scenario's defaults; fields a scenario does not use are ignored.
#[derive(Clone, Debug)]
pub struct ScenarioOptions {
    /// What to simulate.
    pub scenario: Scenario,
    /// Cluster size.
    pub nodes: usize,
    /// Protocol profile the settings started from (for the report).
    pub profile: Profile,
    /// Master seed.
    pub seed: u64,
    /// Datagram loss rate for the whole run, 0.0 to below 1.0.
    pub loss: f64,
    /// Protocol settings of every node.
    pub config: SerfConfig,
    /// Virtual time over which the nodes join.
    pub rollout: Duration,
    /// Nodes that crash (crash, loss).
    pub crash: usize,
    /// Length of the measured phase: the most to wait for detection
    /// (crash), the time watched (loss, slow-nodes), the split (partition),
    /// the time nodes come and go (churn).
    pub duration: Duration,
    /// Nodes cut off from the rest (partition).
    pub split: usize,
    /// Nodes that handle packets late (slow-nodes).
    pub slow: usize,
    /// The range each slow node's delay per packet is drawn from.
    pub slow_delay: (Duration, Duration),
    /// Time between departures (churn).
    pub churn_interval: Duration,
    /// How long a departed node stays away before it rejoins (churn).
    pub downtime: Duration,
}

impl ScenarioOptions {
    /// A scenario's defaults for `nodes` nodes with a profile's settings
    /// (network coordinates off: they do not change membership).
    pub fn new(scenario: Scenario, nodes: usize, profile: Profile, seed: u64) -> ScenarioOptions {
        let duration = match scenario {
            Scenario::Rollout => Duration::ZERO,
            Scenario::Crash => Duration::from_secs(600),
            Scenario::Partition => Duration::from_secs(60),
            Scenario::Loss | Scenario::SlowNodes | Scenario::Churn => Duration::from_secs(300),
        };
        ScenarioOptions {
            scenario,
            nodes,
            profile,
            seed,
            loss: if scenario == Scenario::Loss { 0.1 } else { 0.0 },
            config: SerfConfig {
                coordinates: None,
                ..SerfConfig::with_swim(Config::for_profile(profile))
            },
            rollout: Duration::from_secs(10),
            crash: 1,
            duration,
            split: nodes / 2,
            slow: (nodes / 25).max(1),
            slow_delay: (Duration::from_secs(1), Duration::from_secs(3)),
            churn_interval: Duration::from_secs(10),
            downtime: Duration::from_secs(30),
        }
    }
}

/// The protocol settings a run used, as the report shows them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// Probe interval, ms.
    pub probe_interval_ms: u64,
    /// Probe timeout, ms.
    pub probe_timeout_ms: u64,
    /// Gossip interval, ms.
    pub gossip_interval_ms: u64,
    /// Members per gossip round.
    pub gossip_nodes: usize,
    /// Suspicion timeout multiplier.
    pub suspicion_mult: u32,
    /// Suspicion maximum timeout multiplier.
    pub suspicion_max_mult: u32,
    /// Retransmit multiplier.
    pub retransmit_mult: u32,
    /// Indirect probes.
    pub indirect_checks: usize,
    /// Push-pull interval, ms (0: off).
    pub push_pull_interval_ms: u64,
    /// Serf's reconnect interval, ms.
    pub reconnect_interval_ms: u64,
    /// Whether Lifeguard's refinements are on.
    pub lifeguard: bool,
    /// Whether a failed probe is retried over a stream.
    pub tcp_fallback: bool,
}

impl Settings {
    fn of(config: &SerfConfig) -> Settings {
        let s = &config.swim;
        let ms = |d: Duration| d.as_millis() as u64;
        Settings {
            probe_interval_ms: ms(s.probe_interval),
            probe_timeout_ms: ms(s.probe_timeout),
            gossip_interval_ms: ms(s.gossip_interval),
            gossip_nodes: s.gossip_nodes,
            suspicion_mult: s.suspicion_mult,
            suspicion_max_mult: s.suspicion_max_timeout_mult,
            retransmit_mult: s.retransmit_mult,
            indirect_checks: s.indirect_checks,
            push_pull_interval_ms: ms(s.push_pull_interval),
            reconnect_interval_ms: ms(config.reconnect_interval),
            lifeguard: s.local_health && s.suspicion_confirmations && s.nacks,
            tcp_fallback: s.tcp_fallback_probe,
        }
    }
}

/// A curve over virtual time.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Curve {
    /// What the y axis is, a fraction from 0 to 1.
    pub label: String,
    /// What the x axis counts from.
    pub x_label: String,
    /// (seconds, fraction) points, in time order.
    pub points: Vec<(f64, f64)>,
}

/// A histogram of times.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Histogram {
    /// The panel's title.
    pub title: String,
    /// What is counted.
    pub label: String,
    /// Where the first bin starts, seconds.
    pub start_s: f64,
    /// Width of a bin, seconds; bin `i` holds
    /// `[start_s + i × bin_s, start_s + (i + 1) × bin_s)`.
    pub bin_s: f64,
    /// Count per bin.
    pub counts: Vec<u64>,
    /// Why there is nothing to count, when there is not.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Histogram {
    fn of(title: &str, label: &str, values: &[f64], note: &str) -> Histogram {
        if values.is_empty() {
            return Histogram {
                title: title.into(),
                label: label.into(),
                note: note.into(),
                ..Histogram::default()
            };
        }
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        let min = values.iter().copied().fold(f64::MAX, f64::min);
        // About 20 bins over the range the values span, so that a tight
        // cluster far from zero still shows its shape.
        let bin_s = nice_step((max - min).max(0.001) / 20.0);
        let start_s = round3((min / bin_s).floor() * bin_s);
        let bins = (((max - start_s) / bin_s).floor() as usize) + 1;
        let mut counts = vec![0u64; bins];
        for &v in values {
            counts[(((v - start_s) / bin_s).floor() as usize).min(bins - 1)] += 1;
        }
        Histogram {
            title: title.into(),
            label: label.into(),
            start_s,
            bin_s,
            counts,
            note: String::new(),
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
pub(crate) fn nice_step(raw: f64) -> f64 {
    let raw = if raw > 0.0 { raw } else { 1.0 };
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power);
    // Keep steps such as 0.1 exact in decimal.
    (step * 1e9).round() / 1e9
}

/// What a scenario measured, besides what every scenario measures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// See [`Scenario::Rollout`].
    Rollout {
        /// Virtual time the joins were spread over, s.
        rollout_s: f64,
        /// When half of all (node, member) pairs were known alive, s.
        pairs_known_50_s: f64,
        /// ... 90% of them, s.
        pairs_known_90_s: f64,
        /// ... 99% of them, s.
        pairs_known_99_s: f64,
        /// For each pair, time from when both nodes ran until the first
        /// saw the second alive.
        discovery_s: Percentiles,
    },
    /// See [`Scenario::Crash`] and [`Scenario::Loss`].
    Crash {
        /// Nodes crashed at once.
        crashed: usize,
        /// (observer, crashed node) pairs declared dead, ...
        detected: usize,
        /// ... out of this many.
        expected: usize,
        /// Time from the crash until each observer declared each node dead.
        detection_s: Percentiles,
        /// Until the last of them (-1 if not all within the duration).
        all_detected_s: f64,
        /// Time watched after the crash, s.
        watched_s: f64,
    },
    /// See [`Scenario::Partition`].
    Partition {
        /// Nodes on each side.
        sides: [usize; 2],
        /// Length of the split, s.
        split_s: f64,
        /// (observer, node across) pairs declared dead during the split, ...
        detected: usize,
        /// ... out of this many.
        cross_pairs: usize,
        /// Time from the split until each such declaration.
        detection_s: Percentiles,
        /// Until every node declared the whole other side dead (-1 if not
        /// within the split).
        all_detected_s: f64,
        /// Time from the heal until every node saw every other alive
        /// again (-1 if not within the limit).
        remerge_s: f64,
        /// Of the false positives, those after the heal: verdicts from the
        /// other side that arrive before the accused refutes them.
        false_positives_after_heal: usize,
    },
    /// See [`Scenario::SlowNodes`].
    SlowNodes {
        /// Nodes slowed.
        slow: usize,
        /// Their delay per packet, ms: lowest and highest.
        slow_delay_ms: [u64; 2],
        /// Time watched, s.
        watched_s: f64,
        /// Healthy nodes declared dead (counted by observer and subject).
        false_deaths_healthy: usize,
        /// Slow (but running) nodes declared dead.
        false_deaths_slow: usize,
        /// Suspicions healthy nodes had to refute.
        refutations_healthy: u64,
        /// Suspicions slow nodes had to refute.
        refutations_slow: u64,
    },
    /// See [`Scenario::Churn`].
    Churn {
        /// Time nodes came and went, s.
        churn_s: f64,
        /// Graceful leaves.
        leaves: usize,
        /// Crashes.
        crashes: usize,
        /// Rejoins.
        rejoins: usize,
        /// Mean of the accuracy curve during the churn.
        accuracy_mean: f64,
        /// Lowest point of it.
        accuracy_min: f64,
        /// Time from a crash until each observer declared it dead.
        detection_s: Percentiles,
        /// Time from a leave until each observer saw it.
        leave_seen_s: Percentiles,
        /// Time from the end of the churn until every view was right again
        /// (-1 if not within the limit).
        settled_s: f64,
    },
}

/// What a scenario measured. Serialized as `hearsay sim <scenario> --json`;
/// everything in it follows from the options, so one seed gives one report.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    /// Scenario name.
    pub scenario: String,
    /// Cluster size.
    pub nodes: usize,
    /// Master seed.
    pub seed: u64,
    /// Profile name.
    pub profile: String,
    /// Loss rate.
    pub loss: f64,
    /// The protocol settings.
    pub settings: Settings,
    /// Virtual seconds until the initial rollout converged (-1 if never).
    pub join_converged_s: f64,
    /// What this scenario measured.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Declarations of death about running nodes the observer could reach
    /// (a partition's declarations across the split are not counted).
    pub false_positives: usize,
    /// Times running nodes refuted a suspicion or death about themselves
    /// during the measured phase.
    pub refutations: u64,
    /// Bytes sent per node per virtual second, over the run.
    pub bytes_per_node_s: f64,
    /// Messages sent per node per virtual second, over the run.
    pub msgs_per_node_s: f64,
    /// Virtual seconds simulated.
    pub virtual_s: f64,
    /// The convergence curve.
    pub curve: Curve,
    /// The histogram of detection times.
    pub histogram: Histogram,
    /// Wall-clock seconds of the run, if the caller measured them; not
    /// serialized, so that one seed gives one JSON text.
    #[serde(skip)]
    pub wall_s: Option<f64>,
    /// Peak resident memory in MiB, if the caller measured it; not
    /// serialized either.
    #[serde(skip)]
    pub peak_rss_mb: Option<f64>,
}

/// Runs a scenario.
pub fn run_scenario(options: &ScenarioOptions) -> ScenarioReport {
    run_scenario_with_progress(options, |_| {})
}

/// Runs a scenario, calling `progress` with a fraction from 0 to 1.
pub fn run_scenario_with_progress(
    options: &ScenarioOptions,
    mut progress: impl FnMut(f64),
) -> ScenarioReport {
    let run = Run::new(options, &mut progress);
    match options.scenario {
        Scenario::Rollout => run.rollout(),
        Scenario::Crash | Scenario::Loss => run.crash(),
        Scenario::Partition => run.partition(),
        Scenario::SlowNodes => run.slow_nodes(),
        Scenario::Churn => run.churn(),
    }
}

fn secs(d: Duration) -> f64 {
    round3(d.as_secs_f64())
}

/// What happened to a node that went away, and who noticed.
struct Down {
    at: Duration,
    crash: bool,
    seen_by: Vec<bool>,
}

/// Every node's view of every other, rebuilt from the member events, and
/// counts over it kept up to date as events arrive.
struct Tracker {
    n: usize,
    words: usize,
    /// Bit `s` of row `o`: node `o` sees node `s` alive.
    view: Vec<u64>,
    /// Whether each node is, in truth, a running member.
    live: Vec<bool>,
    live_count: usize,
    /// Side of each node in a split; kept after the heal to follow the
    /// pairs across it.
    side: Option<Vec<u8>>,
    split_active: bool,
    split_at: Duration,
    /// Pairs of a live observer and another node whose view is right.
    correct: i64,
    /// Pairs of a live observer and another node seen alive.
    alive: i64,
    /// The same, for pairs across the split.
    cross_alive: i64,
    /// When the counts last changed.
    last_change: Duration,
    cursor: usize,
    down: Vec<Option<Down>>,
    started: Vec<Option<Duration>>,
    measure_discovery: bool,
    known_thresholds: Vec<(f64, Option<Duration>)>,
    detections: Vec<f64>,
    leave_seen: Vec<f64>,
    discovery: Vec<f64>,
    false_positives: Vec<(Duration, usize, usize)>,
}

impl Tracker {
    fn new(n: usize) -> Tracker {
        let words = n.div_ceil(64);
        Tracker {
            n,
            words,
            view: vec![0; n * words],
            live: vec![false; n],
            live_count: 0,
            side: None,
            split_active: false,
            split_at: Duration::ZERO,
            correct: 0,
            alive: 0,
            cross_alive: 0,
            last_change: Duration::ZERO,
            cursor: 0,
            down: (0..n).map(|_| None).collect(),
            started: vec![None; n],
            measure_discovery: false,
            known_thresholds: vec![(0.5, None), (0.9, None), (0.99, None)],
            detections: Vec::new(),
            leave_seen: Vec::new(),
            discovery: Vec::new(),
            false_positives: Vec::new(),
        }
    }

    fn sees(&self, o: usize, s: usize) -> bool {
        self.view[o * self.words + s / 64] & (1 << (s % 64)) != 0
    }

    fn set_view(&mut self, o: usize, s: usize, alive: bool) {
        let w = &mut self.view[o * self.words + s / 64];
        if alive {
            *w |= 1 << (s % 64);
        } else {
            *w &= !(1 << (s % 64));
        }
    }

    fn is_cross(&self, o: usize, s: usize) -> bool {
        self.side.as_ref().is_some_and(|g| g[o] != g[s])
    }

    fn reachable(&self, o: usize, s: usize) -> bool {
        !self.split_active || !self.is_cross(o, s)
    }

    /// (correct, alive, cross alive) of one observer's row.
    fn row(&self, o: usize) -> (i64, i64, i64) {
        let mut counts = (0, 0, 0);
        for s in (0..self.n).filter(|&s| s != o) {
            let v = self.sees(o, s);
            counts.0 += (v == self.live[s]) as i64;
            counts.1 += v as i64;
            counts.2 += (v && self.is_cross(o, s)) as i64;
        }
        counts
    }

    fn add_row(&mut self, o: usize, sign: i64) {
        let (c, a, x) = self.row(o);
        self.correct += sign * c;
        self.alive += sign * a;
        self.cross_alive += sign * x;
    }

    /// Changes whether node `s` is a running member, at `now`.
    fn set_live(&mut self, s: usize, live: bool, now: Duration) {
        if self.live[s] == live {
            return;
        }
        if self.live[s] {
            self.add_row(s, -1);
        }
        for o in (0..self.n).filter(|&o| o != s && self.live[o]) {
            self.correct += if self.sees(o, s) == live { 1 } else { -1 };
        }
        self.live[s] = live;
        if live {
            self.live_count += 1;
            self.add_row(s, 1);
        } else {
            self.live_count -= 1;
        }
        self.last_change = now;
    }

    /// Node `s` starts with an empty view.
    fn start(&mut self, s: usize, now: Duration) {
        let row = s * self.words;
        self.view[row..row + self.words].fill(0);
        self.down[s] = None;
        self.started[s] = Some(now);
        self.set_live(s, true, now);
    }

    /// Node `s` crashes (or starts leaving) at `now`.
    fn go_down(&mut self, s: usize, crash: bool, now: Duration) {
        self.set_live(s, false, now);
        self.down[s] = Some(Down {
            at: now,
            crash,
            seen_by: vec![false; self.n],
        });
    }

    fn split(&mut self, side: Vec<u8>, now: Duration) {
        self.side = Some(side);
        self.split_active = true;
        self.split_at = now;
        self.cross_alive = (0..self.n)
            .filter(|&o| self.live[o])
            .map(|o| self.row(o).2)
            .sum();
    }

    fn cross_pairs(&self) -> i64 {
        let Some(side) = &self.side else { return 0 };
        let live_on = |g: u8| {
            (0..self.n)
                .filter(|&i| self.live[i] && side[i] == g)
                .count() as i64
        };
        2 * live_on(0) * live_on(1)
    }

    fn pairs(&self) -> i64 {
        self.live_count as i64 * (self.n as i64 - 1)
    }

    fn all_right(&self) -> bool {
        self.correct == self.pairs()
    }

    fn accuracy(&self) -> f64 {
        self.correct as f64 / self.pairs().max(1) as f64
    }

    fn known(&self) -> f64 {
        self.alive as f64 / (self.n as f64 * (self.n as f64 - 1.0)).max(1.0)
    }

    /// Recounts everything kept up to date incrementally.
    #[cfg(test)]
    fn check_counts(&self) {
        let (mut correct, mut alive, mut cross) = (0, 0, 0);
        for o in (0..self.n).filter(|&o| self.live[o]) {
            let (c, a, x) = self.row(o);
            correct += c;
            alive += a;
            cross += x;
        }
        assert_eq!(
            (correct, alive, cross),
            (self.correct, self.alive, self.cross_alive)
        );
        assert_eq!(self.live.iter().filter(|&&l| l).count(), self.live_count);
    }

    /// Reads the member events recorded since the last call.
    fn absorb(&mut self, sim: &Sim) {
        let observations = &sim.record.observations;
        for ob in &observations[self.cursor..] {
            let Some(s) = sim.index_of(&ob.subject) else {
                continue;
            };
            let o = ob.observer;
            if o == s {
                continue;
            }
            if ob.kind == ObservationKind::Failed && self.live[s] && self.reachable(o, s) {
                self.false_positives.push((ob.at, o, s));
            }
            let alive = matches!(ob.kind, ObservationKind::Joined | ObservationKind::Updated);
            if self.sees(o, s) == alive {
                continue;
            }
            self.set_view(o, s, alive);
            if !self.live[o] {
                continue;
            }
            let d = if alive { 1 } else { -1 };
            self.alive += d;
            self.correct += if alive == self.live[s] { 1 } else { -1 };
            if self.is_cross(o, s) {
                self.cross_alive += d;
            }
            self.last_change = ob.at;
            if alive {
                if self.measure_discovery {
                    if let (Some(a), Some(b)) = (self.started[o], self.started[s]) {
                        self.discovery.push((ob.at - a.max(b)).as_secs_f64());
                    }
                    let known = self.known();
                    for (fraction, at) in &mut self.known_thresholds {
                        if at.is_none() && known >= *fraction {
                            *at = Some(ob.at);
                        }
                    }
                }
            } else if let Some(down) = &mut self.down[s] {
                if !std::mem::replace(&mut down.seen_by[o], true) {
                    let took = (ob.at - down.at).as_secs_f64();
                    if down.crash {
                        self.detections.push(took);
                    } else {
                        self.leave_seen.push(took);
                    }
                }
            } else if self.split_active && self.is_cross(o, s) {
                self.detections.push((ob.at - self.split_at).as_secs_f64());
            }
        }
        self.cursor = observations.len();
    }
}

/// What the sampled curve shows.
#[derive(Clone, Copy)]
enum Metric {
    Known,
    Accuracy,
    CrossAlive,
}

/// One scenario run: the simulator, the views, the curve being sampled.
struct Run<'p> {
    options: ScenarioOptions,
    sim: Sim,
    t: Tracker,
    rng: SmallRng,
    /// Sampling of the curve: metric, origin, period, next sample.
    sampling: Option<(Metric, Duration, Duration, Duration)>,
    points: Vec<(f64, f64)>,
    /// Rough virtual length of the run, for progress.
    planned: Duration,
    progress: &'p mut dyn FnMut(f64),
    refutations_base: u64,
    /// Refutations counted by cores that were since replaced by a restart.
    refutations_lost: u64,
    join_converged_s: f64,
}

const CONVERGE_LIMIT: Duration = Duration::from_secs(600);
const SETTLE: Duration = Duration::from_secs(5);
const CHECK: Duration = Duration::from_millis(100);

impl<'p> Run<'p> {
    fn new(options: &ScenarioOptions, progress: &'p mut dyn FnMut(f64)) -> Run<'p> {
        let n = options.nodes.max(2);
        let sim = Sim::new(
            options.seed,
            Network {
                loss: options.loss,
                ..Network::default()
            },
        )
        .without_first_alive_matrix();
        let planned = options.rollout
            + options.config.swim.push_pull_interval
            + SETTLE
            + match options.scenario {
                Scenario::Crash => Duration::from_secs(30),
                Scenario::Partition => options.duration + Duration::from_secs(40),
                _ => options.duration,
            };
        Run {
            options: ScenarioOptions {
                nodes: n,
                ..options.clone()
            },
            sim,
            t: Tracker::new(n),
            rng: SmallRng::seed_from_u64(sub_seed(options.seed, 0x5CE4_A210)),
            sampling: None,
            points: Vec::new(),
            planned,
            progress,
            refutations_base: 0,
            refutations_lost: 0,
            join_converged_s: -1.0,
        }
    }

    fn n(&self) -> usize {
        self.options.nodes
    }

    fn now(&self) -> Duration {
        self.sim.elapsed()
    }

    /// Starts sampling `metric` from now on: about 500 samples over
    /// `window`, one every 100 ms to 1 s.
    fn sample(&mut self, metric: Metric, window: Duration) {
        let period = Duration::from_millis(
            ((window.as_millis() as u64) / 500).clamp(CHECK.as_millis() as u64, 1000),
        );
        let origin = self.now();
        self.sampling = Some((metric, origin, period, origin));
        self.record_sample();
    }

    fn record_sample(&mut self) {
        #[cfg(test)]
        self.t.check_counts();
        if let Some((metric, origin, period, next)) = self.sampling {
            if self.now() >= next {
                let value = match metric {
                    Metric::Known => self.t.known(),
                    Metric::Accuracy => self.t.accuracy(),
                    Metric::CrossAlive => {
                        self.t.cross_alive as f64 / self.t.cross_pairs().max(1) as f64
                    }
                };
                self.points
                    .push((secs(self.now() - origin), (value * 1e4).round() / 1e4));
                let after = if next + period > self.now() {
                    next + period
                } else {
                    self.now() + period
                };
                self.sampling = Some((metric, origin, period, after));
            }
        }
    }

    /// Runs until `stop` holds (checked at least every 100 ms of virtual
    /// time) or `until` passes; returns whether `stop` held.
    fn advance(&mut self, until: Duration, stop: impl Fn(&Tracker) -> bool) -> bool {
        loop {
            if stop(&self.t) {
                return true;
            }
            let now = self.now();
            if now >= until {
                return false;
            }
            let mut next = (now + CHECK).min(until);
            if let Some((_, _, _, sample_at)) = self.sampling {
                next = next.min(sample_at.max(now));
            }
            self.sim.run_until_time(next);
            self.t.absorb(&self.sim);
            self.record_sample();
            let fraction = now.as_secs_f64() / self.planned.as_secs_f64().max(1e-9);
            (self.progress)(fraction.min(0.99));
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now() + d;
        self.advance(until, |_| false);
    }

    fn add_node(&mut self) -> usize {
        let i = self
            .sim
            .add_node_with(self.options.config.clone(), Vec::new());
        let now = self.now();
        self.t.start(i, now);
        i
    }

    /// Every node joins node 0, spread over the rollout time; then waits
    /// until every node sees every other alive.
    fn join_all(&mut self) {
        let n = self.n();
        self.add_node();
        let step = self.options.rollout / n as u32;
        for _ in 1..n {
            self.run_for(step);
            let i = self.add_node();
            self.sim.join(i, 0);
        }
        let limit = self.now() + CONVERGE_LIMIT;
        if self.advance(limit, Tracker::all_right) {
            self.join_converged_s = secs(self.t.last_change);
        }
    }

    /// Joins, settles, and starts counting refutations.
    fn prepare(&mut self) {
        self.join_all();
        self.run_for(SETTLE);
        self.refutations_base = self.refutations();
    }

    fn refutations(&self) -> u64 {
        (0..self.n())
            .map(|i| self.sim.core(i).stats().refutations)
            .sum()
    }

    /// `k` distinct nodes other than node 0, drawn from the run's generator.
    fn pick(&mut self, k: usize) -> Vec<usize> {
        let mut pool: Vec<usize> = (1..self.n()).collect();
        for i in 0..k.min(pool.len()) {
            let j = self.rng.random_range(i..pool.len());
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool.sort_unstable();
        pool
    }

    fn finish(self, outcome: Outcome, curve: Curve, histogram: Histogram) -> ScenarioReport {
        (self.progress)(1.0);
        let n = self.n();
        let elapsed = self.now().as_secs_f64().max(1e-9);
        let (bytes, msgs) = self
            .sim
            .record
            .traffic
            .iter()
            .fold((0u64, 0u64), |(b, m), t| {
                (b + t.bytes_sent, m + t.msgs_sent)
            });
        let refutations =
            (self.refutations() + self.refutations_lost).saturating_sub(self.refutations_base);
        ScenarioReport {
            scenario: self.options.scenario.name().into(),
            nodes: n,
            seed: self.options.seed,
            profile: self.options.profile.name().into(),
            loss: self.options.loss,
            settings: Settings::of(&self.options.config),
            join_converged_s: self.join_converged_s,
            outcome,
            false_positives: self.t.false_positives.len(),
            refutations,
            bytes_per_node_s: (bytes as f64 / n as f64 / elapsed).round(),
            msgs_per_node_s: round3(msgs as f64 / n as f64 / elapsed),
            virtual_s: secs(self.now()),
            curve,
            histogram,
            wall_s: None,
            peak_rss_mb: None,
        }
    }

    fn sampled_curve(&mut self, label: &str, x_label: &str) -> Curve {
        // One more sample at the end, so the curve reaches its last value.
        if let Some((m, o, p, _)) = self.sampling {
            if self
                .points
                .last()
                .is_none_or(|l| l.0 < secs(self.now() - o))
            {
                self.sampling = Some((m, o, p, self.now()));
                self.record_sample();
            }
        }
        Curve {
            label: label.into(),
            x_label: x_label.into(),
            points: std::mem::take(&mut self.points),
        }
    }

    fn rollout(mut self) -> ScenarioReport {
        self.t.measure_discovery = true;
        let window = self.options.rollout + Duration::from_secs(40);
        self.sample(Metric::Known, window);
        self.join_all();
        let at = |t: &Tracker, i: usize| t.known_thresholds[i].1.map_or(-1.0, secs);
        let outcome = Outcome::Rollout {
            rollout_s: secs(self.options.rollout),
            pairs_known_50_s: at(&self.t, 0),
            pairs_known_90_s: at(&self.t, 1),
            pairs_known_99_s: at(&self.t, 2),
            discovery_s: Percentiles::of(self.t.discovery.clone()),
        };
        let curve = self.sampled_curve(
            "(node, member) pairs known alive",
            "seconds since the first node started",
        );
        let histogram = Histogram::of(
            "Discovery times",
            "time for a node to see another alive once both run (s)",
            &self.t.discovery,
            "",
        );
        self.finish(outcome, curve, histogram)
    }

    fn crash(mut self) -> ScenarioReport {
        self.prepare();
        let victims = self.pick(self.options.crash);
        let t0 = self.now();
        for &v in &victims {
            self.sim.crash(v);
            self.t.go_down(v, true, t0);
        }
        let expected = (victims.len() * self.t.live_count).max(1);
        let until = t0 + self.options.duration;
        let all = if self.options.scenario == Scenario::Loss {
            // Watch the whole time: false deaths are the question.
            self.advance(until, |_| false);
            self.t.detections.len() >= expected
        } else {
            self.advance(until, |t| t.detections.len() >= expected)
        };
        let watched = self.now() - t0;
        let mut times = self.t.detections.clone();
        times.sort_by(f64::total_cmp);
        // The detected fraction as a step curve, at most about 500 steps.
        let stride = times.len().div_ceil(500).max(1);
        let mut points = vec![(0.0, 0.0)];
        let mut below = 0;
        for i in (stride - 1..times.len())
            .step_by(stride)
            .chain([times.len().saturating_sub(1)])
        {
            if i < below {
                continue;
            }
            let t = round3(times[i]);
            points.push((t, round3(below as f64 / expected as f64)));
            points.push((t, round3((i + 1) as f64 / expected as f64)));
            below = i + 1;
        }
        points.push((
            secs(watched),
            round3(times.len() as f64 / expected.max(1) as f64),
        ));
        // Simultaneous declarations: keep one step, from the first value
        // at that time to the last.
        let mut steps: Vec<(f64, f64)> = Vec::with_capacity(points.len());
        for p in points {
            match steps.as_slice() {
                [.., a, b] if a.0 == p.0 && b.0 == p.0 => *steps.last_mut().unwrap() = p,
                _ => steps.push(p),
            }
        }
        let points = steps;
        let outcome = Outcome::Crash {
            crashed: victims.len(),
            detected: times.len(),
            expected,
            detection_s: Percentiles::of(times.clone()),
            all_detected_s: if all {
                round3(times.last().copied().unwrap_or(0.0))
            } else {
                -1.0
            },
            watched_s: secs(watched),
        };
        let curve = Curve {
            label: "(survivor, crashed node) pairs declared dead".into(),
            x_label: "seconds since the crash".into(),
            points,
        };
        let histogram = Histogram::of(
            "Detection times",
            "time from the crash to a declaration (s)",
            &times,
            "",
        );
        self.finish(outcome, curve, histogram)
    }

    fn partition(mut self) -> ScenarioReport {
        self.prepare();
        let n = self.n();
        let cut = self.options.split.clamp(1, n - 1);
        let side: Vec<u8> = (0..n).map(|i| (i >= n - cut) as u8).collect();
        let groups: Vec<Vec<usize>> = (0..2u8)
            .map(|g| (0..n).filter(|&i| side[i] == g).collect())
            .collect();
        let now = self.now();
        self.t.split(side, now);
        self.sim.partition(&groups);
        let cross_pairs = self.t.cross_pairs();
        let heal_limit = (self.options.config.reconnect_interval * 3).max(Duration::from_secs(120));
        self.sample(Metric::CrossAlive, self.options.duration + heal_limit / 3);
        let t0 = now;
        let all_detected = self.advance(t0 + self.options.duration, |t| {
            t.detections.len() as i64 >= cross_pairs
        });
        self.run_for(t0 + self.options.duration - self.now());
        let detections = self.t.detections.clone();
        self.sim.heal();
        self.t.split_active = false;
        let healed = self.now();
        let merged = self.advance(healed + heal_limit, |t| {
            t.cross_alive == t.cross_pairs() && t.all_right()
        });
        let remerge_s = if merged {
            secs(self.t.last_change.max(healed) - healed)
        } else {
            -1.0
        };
        let outcome = Outcome::Partition {
            sides: [n - cut, cut],
            split_s: secs(self.options.duration),
            detected: detections.len(),
            cross_pairs: cross_pairs as usize,
            detection_s: Percentiles::of(detections.clone()),
            all_detected_s: if all_detected {
                round3(detections.iter().copied().fold(0.0, f64::max))
            } else {
                -1.0
            },
            remerge_s,
            false_positives_after_heal: self
                .t
                .false_positives
                .iter()
                .filter(|f| f.0 >= healed)
                .count(),
        };
        let curve = self.sampled_curve(
            "pairs across the split that see each other alive",
            "seconds since the split",
        );
        let histogram = Histogram::of(
            "Detection times",
            "time from the split to declaring a node across it dead (s)",
            &detections,
            "no node was declared dead across the split: it was shorter than the suspicion timeout",
        );
        self.finish(outcome, curve, histogram)
    }

    fn slow_nodes(mut self) -> ScenarioReport {
        self.prepare();
        let slow = self.pick(self.options.slow);
        let before: Vec<u64> = (0..self.n())
            .map(|i| self.sim.core(i).stats().refutations)
            .collect();
        for &i in &slow {
            self.sim.set_slow(i, Some(self.options.slow_delay));
        }
        self.sample(Metric::Accuracy, self.options.duration);
        let t0 = self.now();
        self.advance(t0 + self.options.duration, |_| false);
        let refuted = |run: &Run, want_slow: bool| -> u64 {
            (0..run.n())
                .filter(|i| slow.contains(i) == want_slow)
                .map(|i| run.sim.core(i).stats().refutations - before[i])
                .sum()
        };
        let false_slow = self
            .t
            .false_positives
            .iter()
            .filter(|(_, _, s)| slow.contains(s))
            .count();
        let false_healthy = self.t.false_positives.len() - false_slow;
        let ms = |d: Duration| d.as_millis() as u64;
        let outcome = Outcome::SlowNodes {
            slow: slow.len(),
            slow_delay_ms: [ms(self.options.slow_delay.0), ms(self.options.slow_delay.1)],
            watched_s: secs(self.now() - t0),
            false_deaths_healthy: false_healthy,
            false_deaths_slow: false_slow,
            refutations_healthy: refuted(&self, false),
            refutations_slow: refuted(&self, true),
        };
        let curve = self.sampled_curve(
            "(node, member) pairs whose view is right",
            "seconds since the nodes turned slow",
        );
        let histogram = Histogram::of(
            "Detection times",
            "detection times (s)",
            &[],
            "no node crashes in this scenario: nothing to detect",
        );
        self.finish(outcome, curve, histogram)
    }

    fn churn(mut self) -> ScenarioReport {
        self.prepare();
        let n = self.n();
        let t0 = self.now();
        let end = t0 + self.options.duration;
        self.sample(Metric::Accuracy, self.options.duration);
        // Node 0 stands for the seeds an operator keeps up (servers): it
        // never departs, and nodes rejoin through it. A seed that restarted
        // itself may not know a returning node, whose old record others still
        // hold; then the return is learned only through push-pull.
        let linger = (self.options.downtime / 2).min(Duration::from_secs(2));
        // (when, node, rejoin rather than stop)
        let mut pending: Vec<(Duration, usize, bool)> = Vec::new();
        let mut next_churn = t0;
        let (mut leaves, mut crashes, mut rejoins) = (0, 0, 0);
        loop {
            let due = pending.iter().map(|p| p.0).min();
            let next = due.map_or(next_churn, |d| d.min(next_churn));
            if next >= end {
                break;
            }
            self.advance(next, |_| false);
            let now = self.now();
            let mut k = 0;
            while k < pending.len() {
                if pending[k].0 > now {
                    k += 1;
                    continue;
                }
                let (_, i, rejoin) = pending.remove(k);
                if !rejoin {
                    self.sim.crash(i);
                    continue;
                }
                self.refutations_lost += self.sim.core(i).stats().refutations;
                self.t.start(i, now);
                self.sim
                    .restart_with(i, self.options.config.clone(), false, 0);
                rejoins += 1;
            }
            if next_churn <= now {
                next_churn = now + self.options.churn_interval;
                // Keep a majority running, as an operator would.
                if self.t.live_count > n / 2 + 1 {
                    let live: Vec<usize> = (1..n).filter(|&j| self.t.live[j]).collect();
                    let i = live[self.rng.random_range(0..live.len())];
                    let crash = self.rng.random_bool(0.5);
                    if crash {
                        self.sim.crash(i);
                        crashes += 1;
                    } else {
                        self.sim.leave(i);
                        pending.push((now + linger, i, false));
                        leaves += 1;
                    }
                    self.t.go_down(i, crash, now);
                    pending.push((now + self.options.downtime, i, true));
                }
            }
        }
        self.advance(end, |_| false);
        let during: Vec<f64> = self.points.iter().map(|p| p.1).collect();
        let accuracy_mean = round3(during.iter().sum::<f64>() / during.len().max(1) as f64);
        let accuracy_min = round3(during.iter().copied().fold(1.0, f64::min));
        // Stop leaving nodes that are still lingering, then let it settle.
        for (_, i, rejoin) in pending {
            if !rejoin {
                self.sim.crash(i);
            }
        }
        let settled = self.advance(end + CONVERGE_LIMIT, Tracker::all_right);
        let settled_s = if settled {
            secs(self.t.last_change.max(end) - end)
        } else {
            -1.0
        };
        let outcome = Outcome::Churn {
            churn_s: secs(self.options.duration),
            leaves,
            crashes,
            rejoins,
            accuracy_mean,
            accuracy_min,
            detection_s: Percentiles::of(self.t.detections.clone()),
            leave_seen_s: Percentiles::of(self.t.leave_seen.clone()),
            settled_s,
        };
        let curve = self.sampled_curve(
            "(node, member) pairs whose view is right",
            "seconds since the churn started",
        );
        let histogram = Histogram::of(
            "Detection times",
            "time from a crash to a declaration (s)",
            &self.t.detections,
            "no crash was detected during the churn",
        );
        self.finish(outcome, curve, histogram)
    }
}

impl fmt::Display for ScenarioReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct =
            |p: &Percentiles| format!("p50 {:.3} s  p99 {:.3} s  max {:.3} s", p.p50, p.p99, p.max);
        let time = |t: f64| {
            if t < 0.0 {
                "not reached".to_string()
            } else {
                format!("{t:.3} s")
            }
        };
        let s = &self.settings;
        writeln!(
            f,
            "hearsay sim {}: {} nodes, profile {}, seed {}, loss {}",
            self.scenario, self.nodes, self.profile, self.seed, self.loss
        )?;
        let mut rows: Vec<(String, String)> = vec![(
            "settings".into(),
            format!(
                "probe {} ms / {} ms, gossip {} ms to {}, suspicion x{} (max x{}), retransmit x{}, indirect {}, push-pull {} ms, Lifeguard {}, TCP fallback {}",
                s.probe_interval_ms,
                s.probe_timeout_ms,
                s.gossip_interval_ms,
                s.gossip_nodes,
                s.suspicion_mult,
                s.suspicion_max_mult,
                s.retransmit_mult,
                s.indirect_checks,
                s.push_pull_interval_ms,
                if s.lifeguard { "on" } else { "off" },
                if s.tcp_fallback { "on" } else { "off" }
            ),
        )];
        rows.push(("join converged".into(), time(self.join_converged_s)));
        match &self.outcome {
            Outcome::Rollout {
                rollout_s,
                pairs_known_50_s,
                pairs_known_90_s,
                pairs_known_99_s,
                discovery_s,
            } => {
                rows.push(("joins spread over".into(), time(*rollout_s)));
                rows.push(("50% of pairs known".into(), time(*pairs_known_50_s)));
                rows.push(("90% of pairs known".into(), time(*pairs_known_90_s)));
                rows.push(("99% of pairs known".into(), time(*pairs_known_99_s)));
                rows.push(("pair discovery".into(), pct(discovery_s)));
            }
            Outcome::Crash {
                crashed,
                detected,
                expected,
                detection_s,
                all_detected_s,
                watched_s,
            } => {
                rows.push((
                    "crashed".into(),
                    format!("{crashed} node{}", if *crashed == 1 { "" } else { "s" }),
                ));
                rows.push((
                    "declared dead".into(),
                    format!("{detected} of {expected} (survivor, crashed) pairs"),
                ));
                rows.push(("detection time".into(), pct(detection_s)));
                rows.push(("all declared after".into(), time(*all_detected_s)));
                rows.push(("watched".into(), time(*watched_s)));
            }
            Outcome::Partition {
                sides,
                split_s,
                detected,
                cross_pairs,
                detection_s,
                all_detected_s,
                remerge_s,
                false_positives_after_heal,
            } => {
                rows.push((
                    "split".into(),
                    format!("{} | {} nodes for {split_s:.3} s", sides[0], sides[1]),
                ));
                rows.push((
                    "declared dead across".into(),
                    format!("{detected} of {cross_pairs} pairs"),
                ));
                rows.push(("detection time".into(), pct(detection_s)));
                rows.push(("other side all dead".into(), time(*all_detected_s)));
                rows.push(("re-merged after heal".into(), time(*remerge_s)));
                rows.push((
                    "false deaths after".into(),
                    format!("{false_positives_after_heal} (of the false positives below)"),
                ));
            }
            Outcome::SlowNodes {
                slow,
                slow_delay_ms,
                watched_s,
                false_deaths_healthy,
                false_deaths_slow,
                refutations_healthy,
                refutations_slow,
            } => {
                rows.push((
                    "slow nodes".into(),
                    format!(
                        "{slow}, each packet {}-{} ms late, for {watched_s:.3} s",
                        slow_delay_ms[0], slow_delay_ms[1]
                    ),
                ));
                rows.push((
                    "false deaths".into(),
                    format!("healthy {false_deaths_healthy}, slow {false_deaths_slow}"),
                ));
                rows.push((
                    "refuted, by kind".into(),
                    format!("by healthy {refutations_healthy}, by slow {refutations_slow}"),
                ));
            }
            Outcome::Churn {
                churn_s,
                leaves,
                crashes,
                rejoins,
                accuracy_mean,
                accuracy_min,
                detection_s,
                leave_seen_s,
                settled_s,
            } => {
                rows.push((
                    "churn".into(),
                    format!(
                        "{leaves} leaves, {crashes} crashes, {rejoins} rejoins over {churn_s:.3} s"
                    ),
                ));
                rows.push((
                    "views right".into(),
                    format!(
                        "mean {:.2}%, lowest {:.2}%",
                        accuracy_mean * 100.0,
                        accuracy_min * 100.0
                    ),
                ));
                rows.push(("crash detection".into(), pct(detection_s)));
                rows.push(("leave seen".into(), pct(leave_seen_s)));
                rows.push(("settled after churn".into(), time(*settled_s)));
            }
        }
        rows.push(("false positives".into(), self.false_positives.to_string()));
        rows.push(("suspicions refuted".into(), self.refutations.to_string()));
        rows.push((
            "traffic per node".into(),
            format!(
                "{:.0} B/s, {:.1} msgs/s",
                self.bytes_per_node_s, self.msgs_per_node_s
            ),
        ));
        rows.push(("virtual time".into(), time(self.virtual_s)));
        if let Some(wall) = self.wall_s {
            let rss = self
                .peak_rss_mb
                .map(|m| format!(", peak RSS {m:.1} MiB"))
                .unwrap_or_default();
            rows.push(("wall time".into(), format!("{wall:.3} s{rss}")));
        }
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (label, value) in rows {
            writeln!(f, "  {label:<width$}  {value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every scenario at a small size, with the incremental counts checked
    /// against a recount at every sample.
    #[test]
    fn counts_kept_incrementally_match_a_recount() {
        for scenario in Scenario::ALL {
            let mut options = ScenarioOptions::new(scenario, 16, Profile::Lan, 3);
            options.duration = Duration::from_secs(40);
            options.churn_interval = Duration::from_secs(4);
            options.downtime = Duration::from_secs(12);
            options.crash = 2;
            let report = run_scenario(&options);
            assert_eq!(report.scenario, scenario.name());
            assert!(report.join_converged_s > 0.0, "{report}");
        }
    }

    #[test]
    fn histogram_bins_cover_every_value() {
        let values = [8.1, 8.15, 8.2, 9.9, 30.0];
        let h = Histogram::of("t", "x", &values, "");
        assert_eq!(h.counts.iter().sum::<u64>(), 5);
        assert!(h.start_s <= 8.1 && h.start_s + h.bin_s > 8.1);
        let last = h.start_s + h.counts.len() as f64 * h.bin_s;
        assert!(last > 30.0, "{h:?}");
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(0.1), 0.1);
    }
}
