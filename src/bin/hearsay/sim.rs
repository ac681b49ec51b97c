//! `hearsay sim`: the simulator as a planning tool.

use std::time::Instant;

use hearsay::sim::{run_standard_with_progress, StandardOptions};
use hearsay::swim::Profile;

use crate::value;

const USAGE: &str =
    "usage: hearsay sim --nodes N [--profile lan|wan|local] [--seed S] [--loss P] [--json]";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut nodes = 100usize;
    let mut profile = Profile::Lan;
    let mut seed = 1u64;
    let mut loss = 0.0f64;
    let mut json = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--nodes" => {
                let v = value(args, &mut i, "--nodes")?;
                nodes = v
                    .parse()
                    .ok()
                    .filter(|n| (2..=100_000).contains(n))
                    .ok_or_else(|| format!("--nodes {v}: give a whole number from 2 to 100000"))?;
            }
            "--profile" => {
                let v = value(args, &mut i, "--profile")?;
                profile = Profile::parse(v)
                    .ok_or_else(|| format!("--profile {v}: use lan, wan or local"))?;
            }
            "--seed" => {
                let v = value(args, &mut i, "--seed")?;
                seed = v
                    .parse()
                    .map_err(|_| format!("--seed {v}: give a whole number"))?;
            }
            "--loss" => {
                let v = value(args, &mut i, "--loss")?;
                loss = v
                    .parse()
                    .ok()
                    .filter(|p: &f64| (0.0..1.0).contains(p))
                    .ok_or_else(|| {
                        format!("--loss {v}: give a fraction from 0 to below 1, e.g. 0.1")
                    })?;
            }
            "--json" => json = true,
            other => return Err(format!("unknown flag '{other}'; {USAGE}")),
        }
        i += 1;
    }
    let options = StandardOptions::new(nodes, profile, seed, loss);
    let started = Instant::now();
    let mut last_draw = started;
    let show_progress = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut report = run_standard_with_progress(&options, |fraction| {
        if show_progress
            && last_draw.elapsed().as_millis() > 200
            && started.elapsed().as_secs() >= 2
        {
            last_draw = Instant::now();
            let width = 30;
            let done = (fraction * width as f64) as usize;
            eprint!(
                "\r[{}{}] {:3.0}%",
                "#".repeat(done),
                " ".repeat(width - done),
                fraction * 100.0
            );
        }
    });
    if show_progress && started.elapsed().as_secs() >= 2 {
        eprint!("\r{}\r", " ".repeat(40));
    }
    report.wall_s = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    report.peak_rss_mb = peak_rss_mb();
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "hearsay sim: {} nodes, profile {}, seed {}, loss {}",
            report.nodes, report.profile, report.seed, report.loss
        );
        println!(
            "  join converged       {:>9.3} s (virtual)",
            report.join_converged_s
        );
        println!(
            "  meta update reached  p50 {:.3} s  p99 {:.3} s  max {:.3} s  ({} of {} nodes)",
            report.dissemination_s.p50,
            report.dissemination_s.p99,
            report.dissemination_s.max,
            report.dissemination_reached,
            report.nodes - 1
        );
        println!(
            "  crash detected       p50 {:.3} s  p99 {:.3} s  max {:.3} s  ({} of {} nodes)",
            report.detection_s.p50,
            report.detection_s.p99,
            report.detection_s.max,
            report.detection_reached,
            report.nodes - 1
        );
        println!("  false positives      {}", report.false_positives);
        println!(
            "  traffic per node     {:.0} B/s, {:.1} msgs/s",
            report.bytes_per_node_s, report.msgs_per_node_s
        );
        println!(
            "  wall time            {:.3} s, peak RSS {:.1} MiB",
            report.wall_s, report.peak_rss_mb
        );
    }
    Ok(())
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
