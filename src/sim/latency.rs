//! Round-trip time matrices for simulations, after the scenarios of Serf's
//! coordinate tests. `matrix[i][j]` is the round-trip time between nodes
//! `i` and `j` (symmetric, zero on the diagonal).

use std::f64::consts::PI;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A symmetric matrix of round-trip times.
pub type Matrix = Vec<Vec<Duration>>;

/// A matrix from a function of each pair `i < j`.
pub fn symmetric(nodes: usize, mut rtt: impl FnMut(usize, usize) -> Duration) -> Matrix {
    let mut matrix = vec![vec![Duration::ZERO; nodes]; nodes];
    let pairs = (0..nodes).flat_map(|i| (i + 1..nodes).map(move |j| (i, j)));
    for (i, j) in pairs {
        let d = rtt(i, j);
        matrix[i][j] = d;
        matrix[j][i] = d;
    }
    matrix
}

/// Nodes on a line, `spacing` apart.
pub fn line(nodes: usize, spacing: Duration) -> Matrix {
    symmetric(nodes, |i, j| spacing * (j - i) as u32)
}

/// Nodes on a square grid, `spacing` apart.
pub fn grid(nodes: usize, spacing: Duration) -> Matrix {
    let side = ((nodes as f64).sqrt() as usize).max(1);
    symmetric(nodes, |i, j| {
        let dx = (j % side) as f64 - (i % side) as f64;
        let dy = (j / side) as f64 - (i / side) as f64;
        spacing.mul_f64((dx * dx + dy * dy).sqrt())
    })
}

/// Two sites: `lan` within a site, `lan + wan` across. Nodes 0 to n/2 are
/// on one side, the rest on the other.
pub fn split(nodes: usize, lan: Duration, wan: Duration) -> Matrix {
    let half = nodes / 2;
    symmetric(nodes, |i, j| {
        if (i <= half) != (j <= half) {
            lan + wan
        } else {
            lan
        }
    })
}

/// Node 0 in the middle of a circle of `radius` on which the others sit, but
/// `radius` away from the plane: 2 × `radius` from each of them, which only
/// a height can model. The others sit at angles 2πk/n for k from 1 to n − 1.
pub fn circle(nodes: usize, radius: Duration) -> Matrix {
    symmetric(nodes, |i, j| {
        if i == 0 {
            return radius * 2;
        }
        let angle = |k: usize| 2.0 * PI * k as f64 / nodes as f64;
        let (dx, dy) = (
            angle(j).cos() - angle(i).cos(),
            angle(j).sin() - angle(i).sin(),
        );
        radius.mul_f64((dx * dx + dy * dy).sqrt())
    })
}

/// Independent normal round-trip times for each pair (Box-Muller), never
/// below 1 ms.
pub fn random(nodes: usize, mean: Duration, deviation: Duration, seed: u64) -> Matrix {
    let mut rng = SmallRng::seed_from_u64(seed);
    symmetric(nodes, |_, _| {
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
        Duration::from_secs_f64((mean.as_secs_f64() + normal * deviation.as_secs_f64()).max(0.001))
    })
}

/// Average and maximum relative error of estimated round-trip times against
/// the matrix, over all pairs with a non-zero truth.
pub fn relative_error(
    matrix: &Matrix,
    mut estimate: impl FnMut(usize, usize) -> Option<Duration>,
) -> (f64, f64) {
    let (mut sum, mut max, mut count) = (0.0, 0.0f64, 0usize);
    for (i, row) in matrix.iter().enumerate() {
        for (j, truth) in row.iter().enumerate().skip(i + 1) {
            let truth = truth.as_secs_f64();
            if truth <= 0.0 {
                continue;
            }
            let error = match estimate(i, j) {
                Some(e) => (e.as_secs_f64() - truth).abs() / truth,
                None => f64::INFINITY,
            };
            sum += error;
            max = max.max(error);
            count += 1;
        }
    }
    (sum / count.max(1) as f64, max)
}
