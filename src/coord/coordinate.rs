//! A network coordinate and the geometry on it: distances, validity, and the
//! spring force a Vivaldi update applies. Pure arithmetic; the one random
//! draw (a direction when two coordinates coincide) comes from the caller's
//! RNG.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::config::{CoordConfig, MAX_DIMENSIONALITY};
use super::CoordError;

/// Below this, in seconds, two positions count as the same point: there is
/// no direction between them to push along.
pub(super) const ZERO_THRESHOLD: f64 = 1.0e-6;

/// A node's position in the Vivaldi model of the network, in seconds.
///
/// The estimated round-trip time between two nodes is the Euclidean distance
/// between their `vec`s, plus both heights, plus both adjustments (the
/// adjustments are left out if they would make the sum zero or negative).
/// The height models the access link a node's traffic crosses before the
/// network core; the adjustment is a per-node correction averaged from
/// recent observations.
///
/// This is what travels on probe acks. On the wire the keys are one letter
/// (`v`, `e`, `a`, `h`) and `v` may hold at most [`MAX_DIMENSIONALITY`]
/// numbers; anything longer is refused while decoding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coordinate {
    /// The Euclidean part, one number per dimension, in seconds.
    #[serde(rename = "v", deserialize_with = "bounded_vec")]
    pub vec: Vec<f64>,
    /// Confidence in this coordinate: an estimate of the relative error of
    /// the distances it gives. Dimensionless, from 0 up to the configured
    /// maximum; a fresh coordinate starts at the maximum.
    #[serde(rename = "e")]
    pub error: f64,
    /// Offset added to every distance from this node, in seconds; may be
    /// negative.
    #[serde(rename = "a")]
    pub adjustment: f64,
    /// Non-Euclidean distance from this node to the core, in seconds; at
    /// least the configured minimum.
    #[serde(rename = "h")]
    pub height: f64,
}

impl Coordinate {
    /// A coordinate at the origin with the largest error and the smallest
    /// height: where every node starts, and where a node goes back to when
    /// its coordinate breaks.
    pub fn new(config: &CoordConfig) -> Coordinate {
        Coordinate {
            vec: vec![0.0; config.dimensionality],
            error: config.vivaldi_error_max,
            adjustment: 0.0,
            height: config.height_min_secs,
        }
    }

    /// Number of Euclidean dimensions.
    pub fn dimensionality(&self) -> usize {
        self.vec.len()
    }

    /// Whether every component is a finite number and the error and the
    /// height are not negative. Coordinates from peers are checked with this
    /// before use; an invalid one is refused, never averaged in.
    pub fn is_valid(&self) -> bool {
        self.vec.iter().all(|x| x.is_finite())
            && self.error.is_finite()
            && self.error >= 0.0
            && self.adjustment.is_finite()
            && self.height.is_finite()
            && self.height >= 0.0
    }

    /// Whether both coordinates have the same dimensionality, which every
    /// distance computation between them needs.
    pub fn is_compatible_with(&self, other: &Coordinate) -> bool {
        self.vec.len() == other.vec.len()
    }

    /// Estimated round-trip time to `other`, saturating at [`Duration::MAX`].
    ///
    /// The estimate is symmetric: `a.distance_to(b) == b.distance_to(a)`.
    /// Fails if the dimensionalities differ or either coordinate is not
    /// [valid](Coordinate::is_valid).
    pub fn distance_to(&self, other: &Coordinate) -> Result<Duration, CoordError> {
        let secs = self.distance_secs_to(other)?;
        Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
    }

    /// Estimated round-trip time to `other` in seconds, zero or more (may be
    /// infinite for absurdly large coordinates). Same checks as
    /// [`Coordinate::distance_to`].
    pub fn distance_secs_to(&self, other: &Coordinate) -> Result<f64, CoordError> {
        if !self.is_compatible_with(other) {
            return Err(CoordError::DimensionalityMismatch {
                expected: self.vec.len(),
                found: other.vec.len(),
            });
        }
        if !self.is_valid() || !other.is_valid() {
            return Err(CoordError::InvalidCoordinate);
        }
        Ok(self.adjusted_distance(other))
    }

    /// The distance with both adjustments, unless they would take it to zero
    /// or below, in which case the plain distance stands. Assumes compatible
    /// dimensionality.
    pub(super) fn adjusted_distance(&self, other: &Coordinate) -> f64 {
        let raw = self.raw_distance(other);
        let adjusted = raw + self.adjustment + other.adjustment;
        if adjusted > 0.0 {
            adjusted
        } else {
            raw
        }
    }

    /// Euclidean distance plus both heights, without adjustments. Assumes
    /// compatible dimensionality.
    pub(super) fn raw_distance(&self, other: &Coordinate) -> f64 {
        euclidean(&self.vec, &other.vec) + self.height + other.height
    }

    /// Moves this coordinate by `force` seconds along the line from `other`
    /// to it: away from `other` when `force` is positive, towards it when
    /// negative. The height moves in proportion, as in the height-vector
    /// model of the Vivaldi paper (Dabek et al., 2004): the Euclidean part and
    /// the two heights together are the spring's length, so the push is
    /// shared between them.
    /// The height never drops below `height_min`. Assumes compatible
    /// dimensionality.
    pub(super) fn apply_force(
        &mut self,
        force: f64,
        other: &Coordinate,
        height_min: f64,
        rng: &mut impl Rng,
    ) {
        let separation = euclidean(&self.vec, &other.vec);
        if separation > ZERO_THRESHOLD {
            for (x, o) in self.vec.iter_mut().zip(&other.vec) {
                *x += force * (*x - *o) / separation;
            }
            let height = self.height + force * (self.height + other.height) / separation;
            self.height = height.max(height_min);
        } else {
            // On top of each other: any direction is as good as another, so
            // push along a random one. The height has no lever here.
            let direction = random_unit_vector(self.vec.len(), rng);
            for (x, d) in self.vec.iter_mut().zip(&direction) {
                *x += force * d;
            }
        }
    }
}

/// Euclidean distance between two vectors of the same length.
fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// A direction drawn uniformly from the cube, normalised; the first axis in
/// the vanishingly rare case that the draw is (nearly) the zero vector.
fn random_unit_vector(dimensionality: usize, rng: &mut impl Rng) -> Vec<f64> {
    let mut v: Vec<f64> = (0..dimensionality)
        .map(|_| rng.random::<f64>() - 0.5)
        .collect();
    let length = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if length > ZERO_THRESHOLD {
        v.iter_mut().for_each(|x| *x /= length);
    } else {
        v.iter_mut().for_each(|x| *x = 0.0);
        if let Some(first) = v.first_mut() {
            *first = 1.0;
        }
    }
    v
}

/// Decodes `vec`, refusing more than [`MAX_DIMENSIONALITY`] numbers before
/// storing them.
fn bounded_vec<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    struct BoundedVec;

    impl<'de> Visitor<'de> for BoundedVec {
        type Value = Vec<f64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a sequence of at most {MAX_DIMENSIONALITY} numbers")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f64>, A::Error> {
            let hint = seq.size_hint().unwrap_or(0).min(MAX_DIMENSIONALITY);
            let mut vec = Vec::with_capacity(hint);
            while let Some(x) = seq.next_element::<f64>()? {
                if vec.len() == MAX_DIMENSIONALITY {
                    return Err(de::Error::invalid_length(vec.len() + 1, &self));
                }
                vec.push(x);
            }
            Ok(vec)
        }
    }

    deserializer.deserialize_seq(BoundedVec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn at(vec: &[f64], height: f64, adjustment: f64) -> Coordinate {
        Coordinate {
            vec: vec.to_vec(),
            error: 1.5,
            adjustment,
            height,
        }
    }

    #[test]
    fn fresh_coordinate_sits_at_the_origin() {
        let config = CoordConfig {
            dimensionality: 3,
            ..CoordConfig::default()
        };
        let c = Coordinate::new(&config);
        assert_eq!(c.vec, vec![0.0; 3]);
        assert_eq!(c.error, 1.5);
        assert_eq!(c.adjustment, 0.0);
        assert_eq!(c.height, 1e-5);
        assert!(c.is_valid());
        assert_eq!(c.dimensionality(), 3);
    }

    #[test]
    fn distance_adds_heights_and_adjustments_and_is_symmetric() {
        let a = at(&[0.0, 0.0, 0.0], 0.001, 0.0005);
        let b = at(&[0.003, 0.004, 0.0], 0.002, -0.0002);
        let ab = a.distance_secs_to(&b).unwrap();
        let ba = b.distance_secs_to(&a).unwrap();
        assert!((ab - (0.005 + 0.003 + 0.0003)).abs() < 1e-12, "{ab}");
        assert_eq!(ab, ba);
        assert_eq!(a.distance_to(&b).unwrap(), b.distance_to(&a).unwrap());
        assert_eq!(a.distance_to(&b).unwrap(), Duration::from_micros(8300));
    }

    #[test]
    fn adjustments_never_make_the_distance_zero_or_negative() {
        let a = at(&[0.0, 0.0], 0.0, -1.0);
        let b = at(&[0.003, 0.004], 0.0, -1.0);
        assert_eq!(a.distance_secs_to(&b).unwrap(), 0.005);
    }

    #[test]
    fn distance_refuses_mismatched_or_invalid_coordinates() {
        let a = at(&[0.0, 0.0], 0.0, 0.0);
        let b = at(&[0.0, 0.0, 0.0], 0.0, 0.0);
        assert_eq!(
            a.distance_to(&b),
            Err(CoordError::DimensionalityMismatch {
                expected: 2,
                found: 3
            })
        );
        for broken in [
            at(&[f64::NAN, 0.0], 0.0, 0.0),
            at(&[0.0, f64::INFINITY], 0.0, 0.0),
            at(&[0.0, 0.0], f64::NAN, 0.0),
            at(&[0.0, 0.0], -0.001, 0.0),
            at(&[0.0, 0.0], 0.0, f64::NEG_INFINITY),
            Coordinate {
                error: -1.0,
                ..a.clone()
            },
            Coordinate {
                error: f64::NAN,
                ..a.clone()
            },
        ] {
            assert!(!broken.is_valid(), "{broken:?}");
            assert_eq!(a.distance_to(&broken), Err(CoordError::InvalidCoordinate));
            assert_eq!(broken.distance_to(&a), Err(CoordError::InvalidCoordinate));
        }
    }

    #[test]
    fn huge_distances_saturate() {
        let a = at(&[-1e300], 0.0, 0.0);
        let b = at(&[1e300], 0.0, 0.0);
        assert_eq!(a.distance_to(&b).unwrap(), Duration::MAX);
    }

    #[test]
    fn force_moves_along_the_line_and_shares_with_height() {
        let mut rng = SmallRng::seed_from_u64(1);
        let other = at(&[0.0, 0.0], 0.001, 0.0);
        let mut c = at(&[0.003, 0.004], 0.001, 0.0);
        // Push away by 5 ms along (0.6, 0.8); the height grows by
        // force * (sum of heights) / separation = 0.005 * 0.002 / 0.005.
        c.apply_force(0.005, &other, 1e-5, &mut rng);
        assert!((c.vec[0] - 0.006).abs() < 1e-12);
        assert!((c.vec[1] - 0.008).abs() < 1e-12);
        assert!((c.height - 0.003).abs() < 1e-12);
        // Pull back hard: the height stops at the floor.
        c.apply_force(-0.009, &other, 1e-5, &mut rng);
        assert!((c.vec[0] - 0.0006).abs() < 1e-12);
        assert!((c.vec[1] - 0.0008).abs() < 1e-12);
        assert_eq!(c.height, 1e-5);
    }

    #[test]
    fn coinciding_coordinates_push_apart_in_a_seeded_random_direction() {
        let other = at(&[0.5, 0.5, 0.5], 0.001, 0.0);
        let push = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut c = other.clone();
            c.apply_force(0.01, &other, 1e-5, &mut rng);
            c
        };
        let c = push(7);
        let moved = euclidean(&c.vec, &other.vec);
        assert!((moved - 0.01).abs() < 1e-12, "{moved}");
        assert_eq!(c.height, other.height, "no direction for the height");
        assert_eq!(push(7), c, "same seed, same direction");
        assert_ne!(push(8), c);
    }

    #[test]
    fn random_unit_vectors_have_unit_length() {
        let mut rng = SmallRng::seed_from_u64(3);
        for d in 1..=MAX_DIMENSIONALITY {
            let v = random_unit_vector(d, &mut rng);
            assert_eq!(v.len(), d);
            let length = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((length - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn cbor_round_trip_is_compact_and_bounded() {
        let c = Coordinate {
            vec: vec![0.0125, -0.003, 1e-7, 0.0, 0.0, 0.0, 0.0, 0.0],
            error: 0.2,
            adjustment: -0.0001,
            height: 0.0002,
        };
        let mut bytes = Vec::new();
        ciborium::into_writer(&c, &mut bytes).unwrap();
        let back: Coordinate = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, c);
        // 8 numbers and 3 scalars with one-letter keys: no more than 9 bytes
        // per number plus keys and headers.
        assert!(bytes.len() <= 11 * 9 + 4 * 2 + 2, "{} bytes", bytes.len());

        let too_long = Coordinate {
            vec: vec![0.0; MAX_DIMENSIONALITY + 1],
            ..c.clone()
        };
        let mut bytes = Vec::new();
        ciborium::into_writer(&too_long, &mut bytes).unwrap();
        assert!(ciborium::from_reader::<Coordinate, _>(bytes.as_slice()).is_err());

        let longest = Coordinate {
            vec: vec![0.0; MAX_DIMENSIONALITY],
            ..c
        };
        let mut bytes = Vec::new();
        ciborium::into_writer(&longest, &mut bytes).unwrap();
        let back: Coordinate = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, longest);
    }
}
