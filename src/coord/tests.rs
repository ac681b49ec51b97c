//! Accuracy of the coordinate math alone, after Serf's performance tests:
//! clients fed straight from a latency matrix, no network, no protocol.
//! Each cycle every client observes the true round-trip time to one peer
//! picked at random (picking itself is a skipped turn); after 1,000 cycles
//! the estimates of all pairs are compared with the truth.
//!
//! What is asserted, and why. Serf's tests each check one run, with one
//! seed, against thresholds set just above what that run gave (run as its
//! tests ran it, one random stream seeded with 1, Serf's client gives
//! 0.17 % on the line, against a threshold of 0.18 %). The figures
//! of a run depend heavily on its random draws: Serf's own client (v0.11.0,
//! 200 seeds, peer choice and client randomness on independent streams) has
//! a median average error of 0.23 % on the line, and leaves the split
//! unconverged in about 30 % of runs. So each scenario here runs several
//! seeds, and
//! - asserts the **median over seeds** of the average and the maximum error
//!   against 1.5 × the median of Serf's client over those 200 seeds;
//! - prints every seed's figures, and how many seeds meet Serf's published
//!   single-run thresholds, for `docs/BENCHMARKS.md`.
//!
//! Seeds: `HEARSAY_SIM_SEED=n` replays one; `HEARSAY_SIM_SEEDS=n` sweeps n
//! seeds from 1 (default 10). Run with `--nocapture` to see the figures.

use std::f64::consts::SQRT_2;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{CoordClient, CoordConfig};
use crate::sim::latency::{circle, grid, line, random, split, symmetric, Matrix as Truth};
use crate::sim::{seeds_from_env_or, sub_seed};

const CYCLES: usize = 1000;

fn seeds() -> Vec<u64> {
    seeds_from_env_or(1, 10)
}

/// Clients with independent sub-seeds of `seed` (stream 0 is the peer
/// choice).
fn clients(nodes: usize, config: &CoordConfig, seed: u64) -> Vec<CoordClient> {
    (0..nodes)
        .map(|i| CoordClient::new(config.clone(), sub_seed(seed, 1 + i as u64)).unwrap())
        .collect()
}

fn simulate(clients: &mut [CoordClient], truth: &Truth, cycles: usize, rng: &mut SmallRng) {
    let names: Vec<String> = (0..clients.len()).map(|i| format!("node-{i}")).collect();
    for _ in 0..cycles {
        for i in 0..clients.len() {
            let j = rng.random_range(0..clients.len());
            if j == i {
                continue;
            }
            let peer = clients[j].coordinate().clone();
            clients[i]
                .update(&names[j], &peer, truth[i][j])
                .expect("truth matrices hold valid round-trip times");
        }
    }
}

fn run(truth: &Truth, config: &CoordConfig, seed: u64) -> Vec<CoordClient> {
    let mut clients = clients(truth.len(), config, seed);
    let mut rng = SmallRng::seed_from_u64(sub_seed(seed, 0));
    simulate(&mut clients, truth, CYCLES, &mut rng);
    clients
}

/// Relative error of the estimates over all pairs: (average, maximum).
fn evaluate(clients: &[CoordClient], truth: &Truth) -> (f64, f64) {
    let (mut sum, mut max, mut pairs) = (0.0, 0.0f64, 0);
    for i in 0..clients.len() {
        for j in i + 1..clients.len() {
            let estimate = clients[i]
                .distance_to(clients[j].coordinate())
                .expect("coordinates stay valid");
            let actual = truth[i][j].as_secs_f64();
            let error = (estimate.as_secs_f64() - actual).abs() / actual;
            sum += error;
            max = max.max(error);
            pairs += 1;
        }
    }
    (sum / pairs as f64, max)
}

/// The median; the lower of the middle two for an even count, so that with
/// ten seeds a scenario fails only when six or more runs are bad (the split
/// stays unconverged in about a third of all runs, Serf's and ours).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}

fn summary(values: &[f64]) -> String {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "median {:.4}%, mean {:.4}%, range [{:.4}%, {:.4}%]",
        median(values) * 100.0,
        mean * 100.0,
        lo * 100.0,
        hi * 100.0
    )
}

/// Bounds on the relative error of one scenario, as fractions.
struct Limits {
    /// Serf's published single-run thresholds: (average, maximum).
    serf_run: (f64, f64),
    /// Median over 200 independent seeds of Serf's own client: (average,
    /// maximum). The median over our seeds must stay within 1.5 × these.
    serf_median: (f64, f64),
}

/// Runs `scenario` for every seed, prints the figures, and checks the
/// medians.
fn check(name: &str, limits: Limits, scenario: impl Fn(u64) -> (f64, f64)) {
    let runs: Vec<(u64, f64, f64)> = seeds()
        .into_iter()
        .map(|seed| {
            let (avg, max) = scenario(seed);
            (seed, avg, max)
        })
        .collect();
    let avgs: Vec<f64> = runs.iter().map(|r| r.1).collect();
    let maxs: Vec<f64> = runs.iter().map(|r| r.2).collect();
    let within = runs
        .iter()
        .filter(|r| r.1 <= limits.serf_run.0 && r.2 <= limits.serf_run.1)
        .count();
    eprintln!(
        "coord accuracy {name}, {} seeds: average error {}; maximum error {}; \
         {within} of {} seeds within Serf's single-run thresholds ({:.4}% / {:.4}%)",
        runs.len(),
        summary(&avgs),
        summary(&maxs),
        runs.len(),
        limits.serf_run.0 * 100.0,
        limits.serf_run.1 * 100.0,
    );
    for (seed, avg, max) in &runs {
        eprintln!(
            "  {name} seed {seed}: avg {:.4}% max {:.4}%",
            avg * 100.0,
            max * 100.0
        );
    }
    let (avg_limit, max_limit) = (1.5 * limits.serf_median.0, 1.5 * limits.serf_median.1);
    assert!(
        median(&avgs) <= avg_limit && median(&maxs) <= max_limit,
        "{name}: median over seeds {:?}: average error {:.4}% (limit {:.4}%), maximum \
         error {:.4}% (limit {:.4}%); the figures of each seed are printed above \
         (--nocapture); replay one with HEARSAY_SIM_SEED=n cargo test --lib coord::tests",
        runs.iter().map(|r| r.0).collect::<Vec<_>>(),
        median(&avgs) * 100.0,
        avg_limit * 100.0,
        median(&maxs) * 100.0,
        max_limit * 100.0,
    );
}

#[test]
fn line_of_ten() {
    let truth = line(10, Duration::from_millis(10));
    let limits = Limits {
        serf_run: (0.0018, 0.0092),
        serf_median: (0.0023, 0.0119),
    };
    check("line", limits, |seed| {
        evaluate(&run(&truth, &CoordConfig::default(), seed), &truth)
    });
}

#[test]
fn grid_of_twenty_five() {
    let truth = grid(25, Duration::from_millis(10));
    let limits = Limits {
        serf_run: (0.0015, 0.022),
        serf_median: (0.0015, 0.0118),
    };
    check("grid", limits, |seed| {
        evaluate(&run(&truth, &CoordConfig::default(), seed), &truth)
    });
}

#[test]
fn split_of_twenty_five() {
    let truth = split(25, Duration::from_millis(1), Duration::from_millis(10));
    let limits = Limits {
        serf_run: (0.000062, 0.00045),
        serf_median: (0.000056, 0.00039),
    };
    check("split", limits, |seed| {
        evaluate(&run(&truth, &CoordConfig::default(), seed), &truth)
    });
}

#[test]
fn circle_with_a_node_above_needs_the_height() {
    let radius = Duration::from_millis(100);
    let truth = circle(25, radius);
    // Two dimensions can hold the circle exactly; the middle node can only
    // be placed with its height.
    let config = CoordConfig {
        dimensionality: 2,
        ..CoordConfig::default()
    };
    let limits = Limits {
        serf_run: (0.0025, 0.064),
        serf_median: (0.0033, 0.059),
    };
    let highest_on_circle = std::cell::RefCell::new(Vec::new());
    check("height", limits, |seed| {
        let clients = run(&truth, &config, seed);
        let middle = clients[0].coordinate().height;
        assert!(
            middle >= 0.97 * radius.as_secs_f64(),
            "seed {seed}: the middle node's height is {middle} s"
        );
        let highest = clients[1..]
            .iter()
            .map(|c| c.coordinate().height)
            .fold(0.0, f64::max);
        highest_on_circle.borrow_mut().push(highest);
        evaluate(&clients, &truth)
    });
    // Serf checks that every node on the circle stays below 3 % of the
    // radius; its own client gives 2.4 to 3.9 % depending on the seed, so
    // the median is checked here.
    let highest = highest_on_circle.into_inner();
    let limit = 0.03 * radius.as_secs_f64();
    eprintln!(
        "coord accuracy height: highest node on the circle, median {:.2} ms, range \
         [{:.2}, {:.2}] ms",
        median(&highest) * 1e3,
        highest.iter().copied().fold(f64::INFINITY, f64::min) * 1e3,
        highest.iter().copied().fold(0.0, f64::max) * 1e3,
    );
    assert!(median(&highest) <= limit, "{highest:?}");
}

#[test]
fn random_latencies() {
    let limits = Limits {
        serf_run: (0.075, 0.33),
        serf_median: (0.0497, 0.253),
    };
    check("random", limits, |seed| {
        // A different matrix for each seed.
        let truth = random(
            25,
            Duration::from_millis(100),
            Duration::from_millis(10),
            sub_seed(seed, 1000),
        );
        evaluate(&run(&truth, &CoordConfig::default(), seed), &truth)
    });
}

/// Distance from the origin to the middle of the box around all
/// coordinates.
fn centre_distance(clients: &[CoordClient]) -> f64 {
    let dimensions = clients[0].coordinate().dimensionality();
    (0..dimensions)
        .map(|d| {
            let values = clients.iter().map(|c| c.coordinate().vec[d]);
            let lo = values.clone().fold(f64::INFINITY, f64::min);
            let hi = values.fold(f64::NEG_INFINITY, f64::max);
            let middle = lo + (hi - lo) / 2.0;
            middle * middle
        })
        .sum::<f64>()
        .sqrt()
}

/// Four nodes on a square of 500 ms sides, placed in the first quadrant so
/// that the whole picture starts away from the origin: after 1,000 cycles
/// to settle, and 10,000 more, returns (centre's distance from the origin
/// after the first 1,000, ratio of the final distance to it).
fn drift(config: &CoordConfig, seed: u64) -> (f64, f64) {
    let side = Duration::from_millis(500);
    let corners = [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]];
    let truth = symmetric(4, |i, j| {
        if (i + 2) % 4 == j {
            side.mul_f64(SQRT_2)
        } else {
            side
        }
    });
    let mut clients = clients(4, config, seed);
    for (client, corner) in clients.iter_mut().zip(corners) {
        let mut coord = client.coordinate().clone();
        coord.vec = corner.iter().map(|x| x * side.as_secs_f64()).collect();
        client.set_coordinate(coord).unwrap();
    }
    let mut rng = SmallRng::seed_from_u64(sub_seed(seed, 0));
    simulate(&mut clients, &truth, 1000, &mut rng);
    let baseline = centre_distance(&clients);
    simulate(&mut clients, &truth, 10_000, &mut rng);
    (baseline, centre_distance(&clients) / baseline)
}

#[test]
fn gravity_pulls_a_square_back_towards_the_origin() {
    let config = CoordConfig {
        dimensionality: 2,
        ..CoordConfig::default()
    };
    // Gravity so weak that it does nothing, for comparison.
    let weightless = CoordConfig {
        gravity_rho_secs: 1e12,
        ..config.clone()
    };
    let mut ratios = Vec::new();
    let mut weightless_ratios = Vec::new();
    let mut baselines = Vec::new();
    for seed in seeds() {
        let (baseline, ratio) = drift(&config, seed);
        baselines.push(baseline);
        ratios.push(ratio);
        weightless_ratios.push(drift(&weightless, seed).1);
    }
    let range = |v: &[f64]| {
        format!(
            "median {:.3}, range [{:.3}, {:.3}]",
            median(v),
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(0.0, f64::max)
        )
    };
    eprintln!(
        "coord accuracy drift, {} seeds: centre {:.0} ms from the origin after 1,000 cycles \
         (median); after 10,000 more, ratio {} (Serf's threshold 0.8); without gravity, \
         ratio {}",
        ratios.len(),
        median(&baselines) * 1e3,
        range(&ratios),
        range(&weightless_ratios),
    );
    for (seed, (ratio, weightless)) in seeds().iter().zip(ratios.iter().zip(&weightless_ratios)) {
        eprintln!("  drift seed {seed}: ratio {ratio:.3}, without gravity {weightless:.3}");
        // Serf's own client gives 0.80 to 0.82 on a true square (its test
        // places two corners on the same point, which gives 0.76 to 0.83):
        // 0.85 leaves room for the seed, and gravity must clearly beat no
        // gravity.
        assert!(
            *ratio <= 0.85 && *ratio < weightless - 0.1,
            "seed {seed}: centre ratio {ratio:.3} with gravity, {weightless:.3} without; \
             replay with HEARSAY_SIM_SEED={seed} cargo test --lib coord::tests"
        );
    }
}

#[test]
fn same_seed_same_figures() {
    let truth = grid(25, Duration::from_millis(10));
    let config = CoordConfig::default();
    let a = evaluate(&run(&truth, &config, 42), &truth);
    let b = evaluate(&run(&truth, &config, 42), &truth);
    assert_eq!(a, b);
}

#[test]
fn matrices_are_what_they_claim() {
    let l = line(10, Duration::from_millis(10));
    assert_eq!(l[2][7], Duration::from_millis(50));
    let g = grid(25, Duration::from_millis(10));
    assert_eq!(g[0][4], Duration::from_millis(40));
    assert_eq!(g[0][6], Duration::from_millis(10).mul_f64(SQRT_2));
    let s = split(25, Duration::from_millis(1), Duration::from_millis(10));
    assert_eq!(s[0][12], Duration::from_millis(1));
    assert_eq!(s[12][13], Duration::from_millis(11));
    assert_eq!(s[13][24], Duration::from_millis(1));
    let c = circle(25, Duration::from_millis(100));
    assert_eq!(c[0][17], Duration::from_millis(200));
    let r = random(25, Duration::from_millis(100), Duration::from_millis(10), 1);
    for m in [l, g, s, c, r] {
        for (i, row) in m.iter().enumerate() {
            assert_eq!(row[i], Duration::ZERO);
            for (j, rtt) in row.iter().enumerate() {
                assert_eq!(*rtt, m[j][i]);
            }
        }
    }
}
