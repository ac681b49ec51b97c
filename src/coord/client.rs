//! The Vivaldi client: one node's own coordinate, moved by each round-trip
//! time it measures to a peer whose coordinate it knows. No clock, no I/O;
//! randomness from the seed given to [`CoordClient::new`].

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::config::{CoordConfig, CoordConfigError};
use super::coordinate::{Coordinate, ZERO_THRESHOLD};
use super::{CoordError, MAX_RTT};

/// Counters of what [`CoordClient::update`] did. They only grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoordStats {
    /// Observations applied to the local coordinate.
    pub updates: u64,
    /// Observations refused: round-trip time out of range, or a peer
    /// coordinate that is invalid or of another dimensionality.
    pub rejected: u64,
    /// Observations of a zero round-trip time (applied, as the smallest
    /// representable distance). Frequent ones point at a coarse clock.
    pub zero_rtt: u64,
    /// Times the local coordinate became NaN or infinite and was put back
    /// at the origin.
    pub resets: u64,
}

/// The last round-trip times measured to one peer, oldest overwritten first.
#[derive(Clone, Debug)]
struct LatencySamples {
    samples_secs: Vec<f64>,
    next: usize,
}

/// One node's Vivaldi coordinate and the state that refines it.
///
/// Each [`update`](CoordClient::update) takes a peer's name, the peer's
/// latest coordinate and a measured round-trip time to it, and moves the
/// local coordinate, in this order:
/// 1. the latency filter replaces the sample by the median of the last
///    [`latency_filter_size`](CoordConfig::latency_filter_size) samples to
///    that peer;
/// 2. Vivaldi: the coordinate moves along the line to the peer by a share of
///    the estimation error, weighted by how confident each side is, and the
///    local error estimate moves towards the observed relative error;
/// 3. the adjustment term becomes the mean of the last
///    [`adjustment_window_size`](CoordConfig::adjustment_window_size)
///    residuals (observed minus modelled distance), halved since both ends of
///    a distance add theirs;
/// 4. gravity pulls the coordinate a little towards the origin, so that the
///    whole system does not drift away over time;
/// 5. if anything came out NaN or infinite, the coordinate starts again from
///    the origin and [`CoordStats::resets`] counts it.
///
/// The per-peer samples live until [`forget`](CoordClient::forget): the owner
/// calls it when a member is removed for good.
#[derive(Clone, Debug)]
pub struct CoordClient {
    config: CoordConfig,
    coord: Coordinate,
    /// A fresh coordinate, which gravity pulls towards.
    origin: Coordinate,
    /// Residuals (observed minus raw modelled distance, seconds), a ring.
    adjustment_samples: Vec<f64>,
    adjustment_next: usize,
    latency: BTreeMap<Box<str>, LatencySamples>,
    /// Room to sort one peer's samples without allocating.
    median_scratch: Vec<f64>,
    rng: SmallRng,
    stats: CoordStats,
}

impl CoordClient {
    /// A client at the origin. `seed` drives the only random choice made: the
    /// direction to move in when two coordinates coincide.
    pub fn new(config: CoordConfig, seed: u64) -> Result<CoordClient, CoordConfigError> {
        config.validate()?;
        let coord = Coordinate::new(&config);
        Ok(CoordClient {
            origin: coord.clone(),
            coord,
            adjustment_samples: vec![0.0; config.adjustment_window_size],
            adjustment_next: 0,
            latency: BTreeMap::new(),
            median_scratch: Vec::with_capacity(config.latency_filter_size),
            rng: SmallRng::seed_from_u64(seed),
            stats: CoordStats::default(),
            config,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &CoordConfig {
        &self.config
    }

    /// The local coordinate, as peers should see it.
    pub fn coordinate(&self) -> &Coordinate {
        &self.coord
    }

    /// Replaces the local coordinate, for instance with one saved before a
    /// restart. Refuses (state unchanged) a coordinate of another
    /// dimensionality or an invalid one. The latency filter and the
    /// adjustment window are kept.
    pub fn set_coordinate(&mut self, coord: Coordinate) -> Result<(), CoordError> {
        self.check(&coord)?;
        self.coord = coord;
        Ok(())
    }

    /// Counters since this client was made.
    pub fn stats(&self) -> CoordStats {
        self.stats
    }

    /// Number of peers whose recent round-trip times are kept.
    pub fn tracked_peers(&self) -> usize {
        self.latency.len()
    }

    /// Drops what is kept about `peer` (its recent round-trip times). Call
    /// it when the member leaves the table for good; harmless if unknown.
    pub fn forget(&mut self, peer: &str) {
        self.latency.remove(peer);
    }

    /// Estimated round-trip time from the local node to `other`; see
    /// [`Coordinate::distance_to`].
    pub fn distance_to(&self, other: &Coordinate) -> Result<Duration, CoordError> {
        self.coord.distance_to(other)
    }

    /// Takes one observation: `rtt` measured to `peer`, whose coordinate is
    /// `peer_coord`. Returns the updated local coordinate.
    ///
    /// Refused, with the local state unchanged apart from
    /// [`CoordStats::rejected`]: `rtt` above [`MAX_RTT`]
    /// ([`CoordError::InvalidRtt`]), a `peer_coord` of another dimensionality
    /// ([`CoordError::DimensionalityMismatch`]) or not
    /// [valid](Coordinate::is_valid) ([`CoordError::InvalidCoordinate`]).
    /// Each can happen in normal operation (a stalled process, a
    /// misconfigured or misbehaving peer); none is an integration bug.
    pub fn update(
        &mut self,
        peer: &str,
        peer_coord: &Coordinate,
        rtt: Duration,
    ) -> Result<&Coordinate, CoordError> {
        self.update_secs(peer, peer_coord, rtt.as_secs_f64())
    }

    /// [`CoordClient::update`] with the round-trip time in seconds, for
    /// callers that hold it as a number. Negative and NaN times are refused
    /// like those above [`MAX_RTT`].
    pub fn update_secs(
        &mut self,
        peer: &str,
        peer_coord: &Coordinate,
        rtt_secs: f64,
    ) -> Result<&Coordinate, CoordError> {
        if let Err(e) = self.check(peer_coord) {
            self.stats.rejected += 1;
            return Err(e);
        }
        // A NaN fails the range test too.
        if !(0.0..=MAX_RTT.as_secs_f64()).contains(&rtt_secs) {
            self.stats.rejected += 1;
            return Err(CoordError::InvalidRtt { rtt_secs });
        }
        if rtt_secs == 0.0 {
            // Seen with coarse clocks (Consul issue 3789); still a usable
            // "very close", so it is applied, but counted.
            self.stats.zero_rtt += 1;
        }

        let rtt_secs = self.latency_filter(peer, rtt_secs);
        self.update_vivaldi(peer_coord, rtt_secs);
        self.update_adjustment(peer_coord, rtt_secs);
        self.update_gravity();
        self.stats.updates += 1;
        if !self.coord.is_valid() {
            self.reset();
        }
        Ok(&self.coord)
    }

    fn check(&self, coord: &Coordinate) -> Result<(), CoordError> {
        if !self.coord.is_compatible_with(coord) {
            return Err(CoordError::DimensionalityMismatch {
                expected: self.coord.dimensionality(),
                found: coord.dimensionality(),
            });
        }
        if !coord.is_valid() {
            return Err(CoordError::InvalidCoordinate);
        }
        Ok(())
    }

    /// Records `rtt_secs` for `peer` and returns the median of the samples
    /// kept for it (the upper one of the middle two when their number is
    /// even, as while the filter fills up).
    fn latency_filter(&mut self, peer: &str, rtt_secs: f64) -> f64 {
        let size = self.config.latency_filter_size;
        let entry = match self.latency.get_mut(peer) {
            Some(entry) => entry,
            None => self
                .latency
                .entry(peer.into())
                .or_insert_with(|| LatencySamples {
                    samples_secs: Vec::with_capacity(size),
                    next: 0,
                }),
        };
        if entry.samples_secs.len() < size {
            entry.samples_secs.push(rtt_secs);
        } else if let Some(slot) = entry.samples_secs.get_mut(entry.next) {
            *slot = rtt_secs;
        }
        entry.next = (entry.next + 1) % size;

        self.median_scratch.clear();
        self.median_scratch.extend_from_slice(&entry.samples_secs);
        self.median_scratch.sort_by(f64::total_cmp);
        self.median_scratch
            .get(self.median_scratch.len() / 2)
            .copied()
            .unwrap_or(rtt_secs)
    }

    /// The Vivaldi step proper (Dabek et al., figure 3), with the adaptive
    /// timestep: a node confident relative to its peer moves less.
    fn update_vivaldi(&mut self, other: &Coordinate, rtt_secs: f64) {
        let config = &self.config;
        let estimate = self.coord.adjusted_distance(other);
        // Keep the relative error finite for a zero sample.
        let rtt_secs = rtt_secs.max(ZERO_THRESHOLD);
        let relative_error = (estimate - rtt_secs).abs() / rtt_secs;

        let weight = self.coord.error / (self.coord.error + other.error).max(ZERO_THRESHOLD);
        let error = config.vivaldi_ce * weight * relative_error
            + self.coord.error * (1.0 - config.vivaldi_ce * weight);
        self.coord.error = error.min(config.vivaldi_error_max);

        let force = config.vivaldi_cc * weight * (rtt_secs - estimate);
        self.coord
            .apply_force(force, other, config.height_min_secs, &mut self.rng);
    }

    /// The adjustment term (Lee et al.): the mean residual of recent
    /// observations. Residuals are measured against the raw distance, so the
    /// adjustments already in place do not feed back into themselves. Slots
    /// not yet filled count as zero, which damps the term while it warms up.
    fn update_adjustment(&mut self, other: &Coordinate, rtt_secs: f64) {
        let window = self.adjustment_samples.len();
        if window == 0 {
            return;
        }
        if let Some(slot) = self.adjustment_samples.get_mut(self.adjustment_next) {
            *slot = rtt_secs - self.coord.raw_distance(other);
        }
        self.adjustment_next = (self.adjustment_next + 1) % window;
        let sum: f64 = self.adjustment_samples.iter().sum();
        self.coord.adjustment = sum / (2.0 * window as f64);
    }

    /// Gravity (Ledlie et al., section 5): a pull towards the origin growing
    /// with the square of the distance from it, so that updates which all
    /// agree on relative positions cannot carry the whole system away.
    fn update_gravity(&mut self) {
        let distance = self.origin.adjusted_distance(&self.coord);
        let force = -(distance / self.config.gravity_rho_secs).powi(2);
        self.coord.apply_force(
            force,
            &self.origin,
            self.config.height_min_secs,
            &mut self.rng,
        );
    }

    /// Back to the origin after the coordinate broke. The adjustment window
    /// is cleared too: its residuals were computed from the broken
    /// coordinate and would otherwise break the fresh one again.
    fn reset(&mut self) {
        self.stats.resets += 1;
        self.coord = Coordinate::new(&self.config);
        self.adjustment_samples.iter_mut().for_each(|s| *s = 0.0);
        self.adjustment_next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dimensionality: usize) -> CoordConfig {
        CoordConfig {
            dimensionality,
            ..CoordConfig::default()
        }
    }

    fn client(dimensionality: usize) -> CoordClient {
        CoordClient::new(config(dimensionality), 1).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn new_refuses_a_bad_config() {
        let e = CoordClient::new(config(0), 1).unwrap_err();
        assert_eq!(e.field, "dimensionality");
    }

    #[test]
    fn starts_at_the_origin() {
        let c = client(4);
        assert_eq!(c.coordinate(), &Coordinate::new(&config(4)));
        assert_eq!(c.stats(), CoordStats::default());
        assert_eq!(c.tracked_peers(), 0);
    }

    #[test]
    fn invalid_samples_are_refused_and_change_nothing() {
        let mut c = client(4);
        let good = Coordinate::new(&config(4));
        c.update("a", &good, ms(10)).unwrap();
        let before = c.clone();

        let mut nan = good.clone();
        nan.vec[2] = f64::NAN;
        let mut infinite = good.clone();
        infinite.height = f64::INFINITY;
        let wrong_dimensions = Coordinate::new(&config(3));
        let too_slow = MAX_RTT + Duration::from_nanos(1);

        assert_eq!(
            c.update("b", &good, too_slow),
            Err(CoordError::InvalidRtt {
                rtt_secs: too_slow.as_secs_f64()
            })
        );
        assert_eq!(
            c.update_secs("b", &good, -0.001),
            Err(CoordError::InvalidRtt { rtt_secs: -0.001 })
        );
        assert!(matches!(
            c.update_secs("b", &good, f64::NAN),
            Err(CoordError::InvalidRtt { .. })
        ));
        assert_eq!(
            c.update("b", &nan, ms(10)),
            Err(CoordError::InvalidCoordinate)
        );
        assert_eq!(
            c.update("b", &infinite, ms(10)),
            Err(CoordError::InvalidCoordinate)
        );
        assert_eq!(
            c.update("b", &wrong_dimensions, ms(10)),
            Err(CoordError::DimensionalityMismatch {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(c.set_coordinate(nan), Err(CoordError::InvalidCoordinate));

        assert_eq!(c.coordinate(), before.coordinate());
        assert_eq!(c.tracked_peers(), 1, "no samples kept for refused updates");
        assert_eq!(c.stats().rejected, 6);
        assert_eq!(c.stats().updates, 1);
        assert_eq!(c.stats().resets, 0);
    }

    #[test]
    fn boundary_samples_are_accepted() {
        let mut c = client(4);
        let peer = Coordinate::new(&config(4));
        c.update("a", &peer, MAX_RTT).unwrap();
        c.update("b", &peer, Duration::ZERO).unwrap();
        assert!(c.coordinate().is_valid());
        assert_eq!(c.stats().updates, 2);
        assert_eq!(c.stats().zero_rtt, 1);
        assert_eq!(c.stats().rejected, 0);
    }

    #[test]
    fn a_coordinate_that_overflows_is_reset() {
        let mut c = client(2);
        // Finite, so accepted, but far enough out that the distance squared
        // overflows and the step turns the local coordinate into NaN.
        let far = Coordinate {
            vec: vec![1e300, -1e300],
            error: 1.0,
            adjustment: 0.0,
            height: 1e-5,
        };
        assert!(far.is_valid());
        for _ in 0..3 {
            c.update("near", &Coordinate::new(&config(2)), ms(5))
                .unwrap();
        }
        let updated = c.update("far", &far, ms(10)).unwrap().clone();
        assert_eq!(updated, Coordinate::new(&config(2)));
        assert_eq!(c.stats().resets, 1);
        // The adjustment window was cleared with it: the next sane update
        // gives a sane coordinate.
        c.update("near", &Coordinate::new(&config(2)), ms(5))
            .unwrap();
        assert!(c.coordinate().is_valid());
        assert!(c.coordinate().adjustment.abs() < 0.005);
        assert_eq!(c.stats().resets, 1);
    }

    #[test]
    fn estimates_are_symmetric() {
        let mut a = CoordClient::new(config(8), 1).unwrap();
        let mut b = CoordClient::new(config(8), 2).unwrap();
        for _ in 0..200 {
            let b_coord = b.coordinate().clone();
            a.update("b", &b_coord, ms(20)).unwrap();
            let a_coord = a.coordinate().clone();
            b.update("a", &a_coord, ms(20)).unwrap();
        }
        let ab = a.distance_to(b.coordinate()).unwrap();
        let ba = b.distance_to(a.coordinate()).unwrap();
        assert_eq!(ab, ba);
        let error = (ab.as_secs_f64() - 0.020).abs() / 0.020;
        assert!(error < 0.01, "estimate {ab:?} for 20 ms");
    }

    #[test]
    fn latency_filter_takes_the_median_of_the_last_three() {
        let mut c = client(2);
        let mut feed = |rtt| c.latency_filter("p", rtt);
        assert_eq!(feed(0.010), 0.010);
        // Two samples: the upper of the two.
        assert_eq!(feed(0.030), 0.030);
        assert_eq!(feed(0.020), 0.020);
        // One outlier among steady samples does not get through.
        assert_eq!(feed(0.500), 0.030);
        assert_eq!(feed(0.020), 0.020);
        assert_eq!(feed(0.020), 0.020);
        // The oldest sample goes first.
        assert_eq!(feed(0.001), 0.020);
        assert_eq!(feed(0.001), 0.001);
        // Peers are filtered apart, and forgetting one starts it afresh.
        assert_eq!(c.latency_filter("q", 0.400), 0.400);
        assert_eq!(c.tracked_peers(), 2);
        c.forget("p");
        c.forget("unknown");
        assert_eq!(c.tracked_peers(), 1);
        assert_eq!(c.latency_filter("p", 0.050), 0.050);
    }

    #[test]
    fn one_outlier_does_not_move_the_coordinate() {
        let peer = Coordinate {
            vec: vec![0.010, 0.0],
            error: 0.01,
            adjustment: 0.0,
            height: 1e-5,
        };
        let mut steady = client(2);
        let mut spiked = client(2);
        for rtt in [10, 10, 10, 10] {
            steady.update("p", &peer, ms(rtt)).unwrap();
        }
        for rtt in [10, 10, 10, 900] {
            spiked.update("p", &peer, ms(rtt)).unwrap();
        }
        assert_eq!(steady.coordinate(), spiked.coordinate());
    }

    #[test]
    fn gravity_pulls_towards_the_origin() {
        let mut c = CoordClient::new(
            CoordConfig {
                adjustment_window_size: 0,
                ..config(2)
            },
            1,
        )
        .unwrap();
        let start = Coordinate {
            vec: vec![30.0, 40.0],
            error: 1.5,
            adjustment: 0.0,
            height: 1e-5,
        };
        c.set_coordinate(start.clone()).unwrap();
        c.update_gravity();
        // Distance 50 s (plus two tiny heights), so the pull is about
        // (50 / 150)² = 1/9 s, straight towards the origin.
        let moved = &c.coordinate().vec;
        let pulled = 50.0 - (moved[0] * moved[0] + moved[1] * moved[1]).sqrt();
        assert!((pulled - 1.0 / 9.0).abs() < 1e-6, "{pulled}");
        assert!((moved[0] / moved[1] - 0.75).abs() < 1e-12, "along the line");

        // Close in, the pull is negligible: 10 ms out moves by ~4.4e-9 s.
        c.set_coordinate(Coordinate {
            vec: vec![0.006, 0.008],
            ..start
        })
        .unwrap();
        c.update_gravity();
        let moved = &c.coordinate().vec;
        let pulled = 0.010 - (moved[0] * moved[0] + moved[1] * moved[1]).sqrt();
        assert!(pulled > 0.0 && pulled < 1e-8, "{pulled}");
    }

    #[test]
    fn adjustment_is_the_halved_mean_residual_over_the_window() {
        let mut c = CoordClient::new(
            CoordConfig {
                adjustment_window_size: 4,
                ..config(2)
            },
            1,
        )
        .unwrap();
        let peer = Coordinate::new(&config(2));
        c.update_adjustment(&peer, 0.010);
        let residual = 0.010 - c.coordinate().raw_distance(&peer);
        assert!((c.coordinate().adjustment - residual / 8.0).abs() < 1e-15);
        for _ in 0..10 {
            c.update_adjustment(&peer, 0.010);
        }
        assert!((c.coordinate().adjustment - residual / 2.0).abs() < 1e-15);
    }

    #[test]
    fn a_confident_node_moves_less() {
        let peer = Coordinate {
            vec: vec![0.010, 0.0],
            error: 0.5,
            adjustment: 0.0,
            height: 1e-5,
        };
        let step = |own_error: f64| {
            let mut c = client(2);
            c.set_coordinate(Coordinate {
                error: own_error,
                ..Coordinate::new(&config(2))
            })
            .unwrap();
            c.update("p", &peer, ms(30)).unwrap();
            let v = &c.coordinate().vec;
            (v[0] * v[0] + v[1] * v[1]).sqrt()
        };
        // Weight 0.1/0.6 against 1.5/2.0: the step is proportional.
        let (sure, unsure) = (step(0.1), step(1.5));
        assert!(sure > 0.0 && unsure > 0.0);
        let ratio = sure / unsure;
        let expected = (0.1 / 0.6) / (1.5 / 2.0);
        assert!((ratio - expected).abs() < 1e-3, "{ratio} vs {expected}");
    }

    #[test]
    fn same_seed_same_coordinates() {
        let run = |seed| {
            let mut a = CoordClient::new(config(8), seed).unwrap();
            let peer = Coordinate::new(&config(8));
            for i in 0..50u64 {
                a.update("p", &peer, ms(5 + i % 7)).unwrap();
            }
            a.coordinate().clone()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }
}
