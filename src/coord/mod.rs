//! Network coordinates: every node estimates the round-trip time to every
//! other from a handful of numbers, without measuring each pair.
//!
//! The model is Vivaldi (Dabek et al., SIGCOMM 2004) with the refinements
//! Serf uses: a height for each node's access link, an adjustment term
//! averaged over recent observations (Lee et al., 2010), a per-peer median
//! filter over the last few round-trip times and a weak gravity towards the
//! origin against drift (Ledlie et al., NSDI 2007). [`CoordClient`] holds one
//! node's [`Coordinate`] and moves it with each measured round-trip time;
//! the coordinates of other members travel on probe acks and are compared
//! with [`Coordinate::distance_to`].
//!
//! This module is sans-IO: no clock, no I/O, no OS randomness. Round-trip
//! times come in as values; the only random draw uses the seed given to
//! [`CoordClient::new`].

mod client;
mod config;
mod coordinate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

pub use client::{CoordClient, CoordStats};
pub use config::{
    CoordConfig, CoordConfigError, MAX_ADJUSTMENT_WINDOW_SIZE, MAX_DIMENSIONALITY,
    MAX_LATENCY_FILTER_SIZE,
};
pub use coordinate::Coordinate;

/// Longest round-trip time accepted as an observation. Anything slower says
/// more about a stalled process than about the network, as in Serf.
pub const MAX_RTT: Duration = Duration::from_secs(10);

/// Why an observation or a coordinate was refused. In every case the state
/// of the client is unchanged (apart from its counters), and every case can
/// happen in normal operation: peers are not trusted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CoordError {
    /// The round-trip time is negative, NaN or above [`MAX_RTT`].
    InvalidRtt {
        /// The time given, in seconds.
        rtt_secs: f64,
    },
    /// The coordinates have different dimensionalities: the peer runs with
    /// another [`CoordConfig::dimensionality`].
    DimensionalityMismatch {
        /// Dimensionality of the local (or first) coordinate.
        expected: usize,
        /// Dimensionality of the other one.
        found: usize,
    },
    /// A coordinate holds a NaN or an infinity, or a negative error or
    /// height.
    InvalidCoordinate,
}

impl fmt::Display for CoordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoordError::InvalidRtt { rtt_secs } => write!(
                f,
                "round-trip time {rtt_secs} s is not between 0 and {} s",
                MAX_RTT.as_secs()
            ),
            CoordError::DimensionalityMismatch { expected, found } => {
                write!(f, "coordinate has {found} dimensions, expected {expected}")
            }
            CoordError::InvalidCoordinate => {
                write!(
                    f,
                    "coordinate has a NaN, an infinity or a negative error or height"
                )
            }
        }
    }
}

impl std::error::Error for CoordError {}

/// Sorts `items` by estimated round-trip time from `from`, nearest first, as
/// Consul's `?near=` does: items whose coordinate is unknown
/// (`coordinate_of` gives `None`), of another dimensionality or invalid go
/// last. The sort is stable, so ties and unknowns keep their order.
pub fn sort_by_distance<T>(
    from: &Coordinate,
    items: &mut [T],
    coordinate_of: impl Fn(&T) -> Option<&Coordinate>,
) {
    items.sort_by_cached_key(|item| {
        match coordinate_of(item).map(|c| from.distance_secs_to(c)) {
            // Distances are zero or more (or +inf), and for those the bit
            // patterns order as the numbers do.
            Some(Ok(secs)) => (false, secs.to_bits()),
            _ => (true, 0),
        }
    });
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    fn point(x: f64, y: f64) -> Coordinate {
        Coordinate {
            vec: vec![x, y],
            error: 0.1,
            adjustment: 0.0,
            height: 0.0,
        }
    }

    #[test]
    fn sorts_nearest_first_with_unknowns_last() {
        let from = point(0.0, 0.0);
        let mut nan = point(0.0, 0.0);
        nan.vec[0] = f64::NAN;
        let three_dimensions = Coordinate {
            vec: vec![0.0; 3],
            ..point(0.0, 0.0)
        };
        let mut items = vec![
            ("none", None),
            ("far", Some(point(0.030, 0.040))),
            ("nan", Some(nan)),
            ("near", Some(point(0.001, 0.0))),
            ("three", Some(three_dimensions)),
            ("mid", Some(point(0.0, -0.010))),
            ("mid-too", Some(point(0.010, 0.0))),
            ("self", Some(point(0.0, 0.0))),
        ];
        sort_by_distance(&from, &mut items, |(_, c)| c.as_ref());
        let names: Vec<&str> = items.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["self", "near", "mid", "mid-too", "far", "none", "nan", "three"]
        );
    }

    #[test]
    fn sorts_names_whose_coordinates_live_elsewhere() {
        let mut known = std::collections::BTreeMap::new();
        known.insert("b", point(0.002, 0.0));
        known.insert("c", point(0.001, 0.0));
        let mut names = vec!["a", "b", "c"];
        sort_by_distance(&point(0.0, 0.0), &mut names, |name| known.get(name));
        assert_eq!(names, ["c", "b", "a"]);
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            CoordError::InvalidRtt { rtt_secs: 11.0 }.to_string(),
            "round-trip time 11 s is not between 0 and 10 s"
        );
        assert_eq!(
            CoordError::DimensionalityMismatch {
                expected: 8,
                found: 2
            }
            .to_string(),
            "coordinate has 2 dimensions, expected 8"
        );
    }
}
