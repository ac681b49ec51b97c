//! `hearsay sim`: the simulator as a planning tool.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use hearsay::serf::SerfConfig;
use hearsay::sim::{
    plot, run_scenario_with_progress, run_standard_with_progress, Scenario, ScenarioOptions,
    StandardOptions,
};
use hearsay::swim::Profile;

use crate::value;

const HELP: &str = "usage: hearsay sim [SCENARIO] [flags]

Runs the real protocol over an in-memory network on virtual time.

scenarios:
  standard     (default) staggered rollout, a meta update, one crash
  rollout      nodes join one seed; how fast the membership converges
  crash        nodes crash; how fast each survivor declares them dead
  partition    the network splits, then heals; detection across it, re-merge
  loss         datagrams are lost; false deaths and detection of a crash
  slow-nodes   some nodes handle packets late; false suspicions and deaths
  churn        nodes leave, crash and rejoin; how right the views stay

flags (times: a number in the unit shown, or with ms, s or m):
  --nodes N                cluster size (default 100)
  --profile lan|wan|local  protocol defaults to start from (default lan)
  --seed S                 master seed; one seed gives one result (default 1)
  --loss P                 datagram loss rate, 0 to below 1 (loss: default 0.1)
  --json                   print one JSON object instead of the table
  --plot FILE.svg          draw the convergence curve and the detection times
  --rollout S              time over which the nodes join (default 10)
  --probe-interval MS      --probe-timeout MS     --gossip-interval MS
  --gossip-nodes N         --suspicion-mult N     --suspicion-max-mult N
  --retransmit-mult N      --indirect-checks N    --push-pull-interval MS (0: off)
  --reconnect-interval S   --no-lifeguard         --no-tcp-fallback
scenario flags:
  --crash N                crash, loss: nodes that crash (default 1)
  --duration S             crash: longest wait for detection (600); loss,
                           slow-nodes, churn: time watched (300); partition:
                           length of the split (60)
  --split N                partition: nodes cut off (default half)
  --slow N                 slow-nodes: nodes slowed (default nodes/25, at least 1)
  --slow-delay MS-MS       slow-nodes: delay per packet (default 1000-3000)
  --churn-interval S       churn: time between departures (default 10)
  --downtime S             churn: time a node stays away (default 30)";

const SEE_HELP: &str = "run 'hearsay sim --help' for the flags";

/// Every flag, for suggestions.
const FLAGS: &[&str] = &[
    "--nodes",
    "--profile",
    "--seed",
    "--loss",
    "--json",
    "--plot",
    "--rollout",
    "--probe-interval",
    "--probe-timeout",
    "--gossip-interval",
    "--gossip-nodes",
    "--suspicion-mult",
    "--suspicion-max-mult",
    "--retransmit-mult",
    "--indirect-checks",
    "--push-pull-interval",
    "--reconnect-interval",
    "--no-lifeguard",
    "--no-tcp-fallback",
    "--crash",
    "--duration",
    "--split",
    "--slow",
    "--slow-delay",
    "--churn-interval",
    "--downtime",
];

/// The command line, read but not yet checked against the scenario.
#[derive(Default)]
struct Flags {
    help: bool,
    nodes: Option<usize>,
    profile: Option<Profile>,
    seed: Option<u64>,
    loss: Option<f64>,
    json: bool,
    plot: Option<String>,
    rollout: Option<Duration>,
    probe_interval: Option<Duration>,
    probe_timeout: Option<Duration>,
    gossip_interval: Option<Duration>,
    gossip_nodes: Option<usize>,
    suspicion_mult: Option<u32>,
    suspicion_max_mult: Option<u32>,
    retransmit_mult: Option<u32>,
    indirect_checks: Option<usize>,
    push_pull_interval: Option<Duration>,
    reconnect_interval: Option<Duration>,
    no_lifeguard: bool,
    no_tcp_fallback: bool,
    crash: Option<usize>,
    duration: Option<Duration>,
    split: Option<usize>,
    slow: Option<usize>,
    slow_delay: Option<(Duration, Duration)>,
    churn_interval: Option<Duration>,
    downtime: Option<Duration>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let (scenario, args) = match args.first().map(String::as_str) {
        Some("-h" | "--help") => {
            println!("{HELP}");
            return Ok(());
        }
        Some("standard") => (None, &args[1..]),
        Some(name) if !name.starts_with('-') => {
            let scenario = Scenario::parse(name).ok_or_else(|| {
                format!(
                    "unknown scenario '{name}'; use standard, rollout, crash, partition, loss, slow-nodes or churn"
                )
            })?;
            (Some(scenario), &args[1..])
        }
        _ => (None, args),
    };
    let flags = parse(args)?;
    if flags.help {
        println!("{HELP}");
        return Ok(());
    }
    match scenario {
        None => standard(&flags),
        Some(scenario) => planned(scenario, &flags),
    }
}

fn parse(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags::default();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        match flag {
            "-h" | "--help" => f.help = true,
            "--json" => f.json = true,
            "--no-lifeguard" => f.no_lifeguard = true,
            "--no-tcp-fallback" => f.no_tcp_fallback = true,
            _ if FLAGS.contains(&flag) => {
                let v = value(args, &mut i, flag)?;
                read_value(&mut f, flag, v)?;
            }
            _ if !flag.starts_with('-') => {
                return Err(format!(
                "unexpected '{flag}': a scenario name comes first, right after 'sim'; {SEE_HELP}"
            ))
            }
            _ => {
                let hint = closest(flag)
                    .map(|c| format!(" (did you mean {c}?)"))
                    .unwrap_or_default();
                return Err(format!("unknown flag '{flag}'{hint}; {SEE_HELP}"));
            }
        }
        i += 1;
    }
    Ok(f)
}

fn read_value(f: &mut Flags, flag: &str, v: &str) -> Result<(), String> {
    let ms = Duration::from_millis(1);
    let s = Duration::from_secs(1);
    match flag {
        "--nodes" => f.nodes = Some(count(flag, v, 2, 100_000)?),
        "--profile" => {
            f.profile = Some(
                Profile::parse(v).ok_or_else(|| format!("--profile {v}: use lan, wan or local"))?,
            )
        }
        "--seed" => {
            f.seed = Some(
                v.parse()
                    .map_err(|_| format!("--seed {v}: give a whole number"))?,
            )
        }
        "--loss" => {
            f.loss = Some(
                v.parse()
                    .ok()
                    .filter(|p: &f64| (0.0..1.0).contains(p))
                    .ok_or_else(|| {
                        format!("--loss {v}: give a fraction from 0 to below 1, e.g. 0.1")
                    })?,
            )
        }
        "--plot" => {
            if !v.to_ascii_lowercase().ends_with(".svg") {
                return Err(format!("--plot {v}: give a file name ending in .svg"));
            }
            f.plot = Some(v.to_string());
        }
        "--rollout" => f.rollout = Some(duration(flag, v, s, Duration::ZERO)?),
        "--probe-interval" => f.probe_interval = Some(duration(flag, v, ms, ms)?),
        "--probe-timeout" => f.probe_timeout = Some(duration(flag, v, ms, ms)?),
        "--gossip-interval" => f.gossip_interval = Some(duration(flag, v, ms, ms)?),
        "--push-pull-interval" => {
            f.push_pull_interval = Some(duration(flag, v, ms, Duration::ZERO)?)
        }
        "--reconnect-interval" => f.reconnect_interval = Some(duration(flag, v, s, ms)?),
        "--gossip-nodes" => f.gossip_nodes = Some(count(flag, v, 1, 64)?),
        "--indirect-checks" => f.indirect_checks = Some(count(flag, v, 0, 16)?),
        "--suspicion-mult" => f.suspicion_mult = Some(count(flag, v, 1, 100)? as u32),
        "--suspicion-max-mult" => f.suspicion_max_mult = Some(count(flag, v, 1, 100)? as u32),
        "--retransmit-mult" => f.retransmit_mult = Some(count(flag, v, 1, 100)? as u32),
        "--crash" => f.crash = Some(count(flag, v, 1, 100_000)?),
        "--split" => f.split = Some(count(flag, v, 1, 100_000)?),
        "--slow" => f.slow = Some(count(flag, v, 1, 100_000)?),
        "--duration" => f.duration = Some(duration(flag, v, s, s)?),
        "--churn-interval" => f.churn_interval = Some(duration(flag, v, s, ms)?),
        "--downtime" => f.downtime = Some(duration(flag, v, s, ms)?),
        "--slow-delay" => {
            let bad = || format!("--slow-delay {v}: give LOW-HIGH in milliseconds, e.g. 1000-3000");
            let (lo, hi) = v.split_once('-').ok_or_else(bad)?;
            let lo = parse_duration(lo, ms).ok_or_else(bad)?;
            let hi = parse_duration(hi, ms).ok_or_else(bad)?;
            if lo > hi {
                return Err(format!(
                    "--slow-delay {v}: the low end is above the high end"
                ));
            }
            f.slow_delay = Some((lo, hi));
        }
        _ => unreachable!("every flag of FLAGS is read"),
    }
    Ok(())
}

fn count(flag: &str, v: &str, lo: usize, hi: usize) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| format!("{flag} {v}: give a whole number from {lo} to {hi}"))
}

/// A time: a bare number in `unit`, or with `ms`, `s` or `m`.
fn parse_duration(v: &str, unit: Duration) -> Option<Duration> {
    let (number, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, Duration::from_millis(1))
    } else if let Some(n) = v.strip_suffix('s') {
        (n, Duration::from_secs(1))
    } else if let Some(n) = v.strip_suffix('m') {
        (n, Duration::from_secs(60))
    } else {
        (v, unit)
    };
    let x: f64 = number.trim().parse().ok()?;
    if !(0.0..=1e7).contains(&x) {
        return None;
    }
    Some(Duration::from_secs_f64(x * scale.as_secs_f64()))
}

fn duration(flag: &str, v: &str, unit: Duration, min: Duration) -> Result<Duration, String> {
    let unit_name = if unit < Duration::from_secs(1) {
        "milliseconds, e.g. 500 (or 500ms, 2s)"
    } else {
        "seconds, e.g. 30 (or 500ms, 30s, 2m)"
    };
    let d = parse_duration(v, unit).ok_or_else(|| format!("{flag} {v}: give {unit_name}"))?;
    if d < min {
        return Err(format!("{flag} {v}: give at least {min:?}"));
    }
    Ok(d)
}

/// The known flag nearest to a mistyped one, when one is close.
fn closest(flag: &str) -> Option<&'static str> {
    FLAGS
        .iter()
        .map(|c| (edit_distance(flag, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + (ca != *cb) as usize)
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Applies the protocol flags to a profile's settings and checks them; the
/// message names the flag to fix.
fn protocol(flags: &Flags, mut config: SerfConfig) -> Result<SerfConfig, String> {
    let swim = &mut config.swim;
    if let Some(v) = flags.probe_interval {
        swim.probe_interval = v;
    }
    if let Some(v) = flags.probe_timeout {
        swim.probe_timeout = v;
    }
    if let Some(v) = flags.gossip_interval {
        swim.gossip_interval = v;
    }
    if let Some(v) = flags.gossip_nodes {
        swim.gossip_nodes = v;
    }
    if let Some(v) = flags.suspicion_mult {
        swim.suspicion_mult = v;
    }
    if let Some(v) = flags.suspicion_max_mult {
        swim.suspicion_max_timeout_mult = v;
    }
    if let Some(v) = flags.retransmit_mult {
        swim.retransmit_mult = v;
    }
    if let Some(v) = flags.indirect_checks {
        swim.indirect_checks = v;
    }
    if let Some(v) = flags.push_pull_interval {
        swim.push_pull_interval = v;
    }
    if flags.no_lifeguard {
        *swim = swim.clone().without_lifeguard();
    }
    if flags.no_tcp_fallback {
        swim.tcp_fallback_probe = false;
    }
    if let Some(v) = flags.reconnect_interval {
        config.reconnect_interval = v;
    }
    if config.swim.probe_timeout >= config.swim.probe_interval {
        return Err(format!(
            "--probe-timeout {} ms: must be below --probe-interval ({} ms)",
            config.swim.probe_timeout.as_millis(),
            config.swim.probe_interval.as_millis()
        ));
    }
    if let Err(e) = config.swim.validate() {
        let flag = match e.field {
            "suspicion_max_timeout_mult" => "--suspicion-max-mult".to_string(),
            field => format!("--{}", field.replace('_', "-")),
        };
        return Err(format!("{flag}: {}", e.reason));
    }
    config.validate()?;
    Ok(config)
}

/// Scenario flags given to a scenario that does not use them.
fn check_applies(scenario: Option<Scenario>, flags: &Flags) -> Result<(), String> {
    use Scenario::*;
    let given: [(&str, bool, &[Scenario]); 7] = [
        ("--crash", flags.crash.is_some(), &[Crash, Loss]),
        (
            "--duration",
            flags.duration.is_some(),
            &[Crash, Loss, Partition, SlowNodes, Churn],
        ),
        ("--split", flags.split.is_some(), &[Partition]),
        ("--slow", flags.slow.is_some(), &[SlowNodes]),
        ("--slow-delay", flags.slow_delay.is_some(), &[SlowNodes]),
        ("--churn-interval", flags.churn_interval.is_some(), &[Churn]),
        ("--downtime", flags.downtime.is_some(), &[Churn]),
    ];
    if scenario.is_none() && flags.plot.is_some() {
        return Err(
            "--plot needs a named scenario: the standard run draws no curve; e.g. 'hearsay sim rollout --plot FILE.svg'"
                .into(),
        );
    }
    for (flag, set, scenarios) in given {
        if set && !scenario.is_some_and(|s| scenarios.contains(&s)) {
            let names: Vec<&str> = scenarios.iter().map(|s| s.name()).collect();
            return Err(format!(
                "{flag} applies to the {} scenario{} only, e.g. 'hearsay sim {} {flag} …'",
                names.join(", "),
                if names.len() > 1 { "s" } else { "" },
                names[0]
            ));
        }
    }
    Ok(())
}

fn standard(flags: &Flags) -> Result<(), String> {
    check_applies(None, flags)?;
    let profile = flags.profile.unwrap_or(Profile::Lan);
    let mut options = StandardOptions::new(
        flags.nodes.unwrap_or(100),
        profile,
        flags.seed.unwrap_or(1),
        flags.loss.unwrap_or(0.0),
    );
    options.config = protocol(flags, options.config)?;
    if let Some(v) = flags.rollout {
        options.rollout = v;
    }
    let started = Instant::now();
    let mut bar = Progress::new(started);
    let mut report = run_standard_with_progress(&options, |f| bar.draw(f));
    bar.clear();
    report.wall_s = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    report.peak_rss_mb = peak_rss_mb();
    if flags.json {
        return emit(&serde_json::to_string(&report).map_err(|e| e.to_string())?);
    }
    use std::fmt::Write;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "hearsay sim: {} nodes, profile {}, seed {}, loss {}",
        report.nodes, report.profile, report.seed, report.loss
    );
    let _ = writeln!(
        t,
        "  join converged       {:>9.3} s (virtual)",
        report.join_converged_s
    );
    let _ = writeln!(
        t,
        "  meta update reached  p50 {:.3} s  p99 {:.3} s  max {:.3} s  ({} of {} nodes)",
        report.dissemination_s.p50,
        report.dissemination_s.p99,
        report.dissemination_s.max,
        report.dissemination_reached,
        report.nodes - 1
    );
    let _ = writeln!(
        t,
        "  crash detected       p50 {:.3} s  p99 {:.3} s  max {:.3} s  ({} of {} nodes)",
        report.detection_s.p50,
        report.detection_s.p99,
        report.detection_s.max,
        report.detection_reached,
        report.nodes - 1
    );
    let _ = writeln!(t, "  false positives      {}", report.false_positives);
    let _ = writeln!(
        t,
        "  traffic per node     {:.0} B/s, {:.1} msgs/s",
        report.bytes_per_node_s, report.msgs_per_node_s
    );
    let _ = writeln!(
        t,
        "  wall time            {:.3} s, peak RSS {:.1} MiB",
        report.wall_s, report.peak_rss_mb
    );
    emit(t.trim_end())
}

fn planned(scenario: Scenario, flags: &Flags) -> Result<(), String> {
    check_applies(Some(scenario), flags)?;
    let nodes = flags.nodes.unwrap_or(100);
    let profile = flags.profile.unwrap_or(Profile::Lan);
    let mut options = ScenarioOptions::new(scenario, nodes, profile, flags.seed.unwrap_or(1));
    options.config = protocol(flags, options.config)?;
    if let Some(loss) = flags.loss {
        options.loss = loss;
    }
    if let Some(v) = flags.rollout {
        options.rollout = v;
    }
    if let Some(v) = flags.duration {
        options.duration = v;
    }
    if let Some(v) = flags.crash {
        if v > nodes - 2 {
            return Err(format!(
                "--crash {v}: at most {} with --nodes {nodes}, so two nodes survive to notice",
                nodes - 2
            ));
        }
        options.crash = v;
    }
    if let Some(v) = flags.split {
        if v > nodes - 1 {
            return Err(format!(
                "--split {v}: at most {} with --nodes {nodes}, so both sides have a node",
                nodes - 1
            ));
        }
        options.split = v;
    }
    if let Some(v) = flags.slow {
        if v > nodes - 1 {
            return Err(format!(
                "--slow {v}: at most {} with --nodes {nodes}, so one node stays healthy",
                nodes - 1
            ));
        }
        options.slow = v;
    }
    if let Some(v) = flags.slow_delay {
        options.slow_delay = v;
    }
    if let Some(v) = flags.churn_interval {
        options.churn_interval = v;
    }
    if let Some(v) = flags.downtime {
        options.downtime = v;
    }
    if scenario == Scenario::Crash && nodes < 3 {
        return Err("--nodes 2: the crash scenario needs at least 3 nodes".into());
    }
    let started = Instant::now();
    let mut bar = Progress::new(started);
    let mut report = run_scenario_with_progress(&options, |f| bar.draw(f));
    bar.clear();
    report.wall_s = Some((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
    report.peak_rss_mb = Some(peak_rss_mb());
    if let Some(path) = &flags.plot {
        let title = format!(
            "hearsay sim {}: {} nodes, profile {}, seed {}, loss {}",
            report.scenario, report.nodes, report.profile, report.seed, report.loss
        );
        let svg = plot::render(&title, &report.curve, &report.histogram);
        std::fs::write(path, svg).map_err(|e| format!("--plot {path}: cannot write it: {e}"))?;
    }
    if flags.json {
        emit(&serde_json::to_string(&report).map_err(|e| e.to_string())?)
    } else {
        let mut text = report.to_string();
        if let Some(path) = &flags.plot {
            text.push_str(&format!("plot written to {path}\n"));
        }
        emit(text.trim_end())
    }
}

/// Prints a line of output; a reader that went away (`| head`) is not an
/// error.
fn emit(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the output: {e}"))
        }
        _ => Ok(()),
    }
}

/// A progress bar on standard error, drawn only when it is a terminal and
/// the run has lasted over two seconds.
struct Progress {
    started: Instant,
    last: Instant,
    shown: bool,
    enabled: bool,
}

impl Progress {
    fn new(started: Instant) -> Progress {
        Progress {
            started,
            last: started,
            shown: false,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    fn draw(&mut self, fraction: f64) {
        if !self.enabled
            || self.started.elapsed() < Duration::from_secs(2)
            || self.last.elapsed() < Duration::from_millis(200)
        {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let width = 30;
        let done = ((fraction.clamp(0.0, 1.0)) * width as f64) as usize;
        eprint!(
            "\r[{}{}] {:3.0}%",
            "#".repeat(done),
            " ".repeat(width - done),
            fraction * 100.0
        );
    }

    fn clear(&self) {
        if self.shown {
            eprint!("\r{}\r", " ".repeat(40));
        }
    }
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| (kb / 1024.0 * 10.0).round() / 10.0)
        .unwrap_or(0.0)
}
