//! Settings of the Vivaldi client: the tuning constants of the algorithm and
//! the refinements Serf layers on top of it. Plain data, no behaviour beyond
//! [`CoordConfig::validate`].

use std::fmt;

/// Largest dimensionality accepted, in configuration and from the wire.
/// Accuracy stops improving well before this (Ledlie et al. saw nothing
/// gained past 7 dimensions); the bound keeps a peer's coordinate small.
pub const MAX_DIMENSIONALITY: usize = 64;

/// Largest latency filter accepted, in samples per peer.
pub const MAX_LATENCY_FILTER_SIZE: usize = 64;

/// Largest adjustment window accepted, in samples.
pub const MAX_ADJUSTMENT_WINDOW_SIZE: usize = 1024;

/// Settings of a [`CoordClient`](super::CoordClient). `Default` gives the
/// values Serf ships with; change what you need, then [`CoordConfig::validate`].
///
/// Distances and heights are in seconds, as in Serf and Consul, so that
/// coordinates mean the same thing to operators used to `consul rtt`.
///
/// References named in the field docs:
/// \[1\] Dabek et al., "Vivaldi: A decentralized network coordinate system",
/// SIGCOMM 2004; \[2\] Ledlie, Gardner and Seltzer, "Network Coordinates in
/// the Wild", NSDI 2007; \[3\] Lee et al., "On suitability of Euclidean
/// embedding for host-based network coordinate systems", IEEE/ACM ToN 2010.
#[derive(Clone, Debug, PartialEq)]
pub struct CoordConfig {
    /// Number of Euclidean dimensions, besides the height. Default 8; 1 to
    /// [`MAX_DIMENSIONALITY`]. More dimensions fit irregular latencies
    /// better up to a point \[2\] and cost 8 bytes each on every probe ack.
    /// Every member of a pool must use the same value: coordinates of other
    /// dimensionalities are refused.
    pub dimensionality: usize,
    /// Error estimate of a fresh coordinate, and the ceiling of the error
    /// afterwards. Default 1.5 (dimensionless, relative error); above zero.
    pub vivaldi_error_max: f64,
    /// How much one observation may move the local error estimate (`c_e`
    /// in \[1\]). Default 0.25; in (0, 1]. Higher reacts faster and is
    /// noisier.
    pub vivaldi_ce: f64,
    /// How much one observation may move the local coordinate (`c_c` in
    /// \[1\]). Default 0.25; in (0, 1]. Higher converges faster and
    /// oscillates more.
    pub vivaldi_cc: f64,
    /// Observations averaged into the adjustment term, which absorbs what
    /// the Euclidean embedding cannot represent \[3\]. Default 20; 0 turns
    /// the adjustment off; at most [`MAX_ADJUSTMENT_WINDOW_SIZE`].
    pub adjustment_window_size: usize,
    /// Smallest height, in seconds. Default 1e-5 (10 µs); zero or more,
    /// finite. Heights must stay positive for the height model to move, so
    /// this small floor is an error added to every estimate: keep it well
    /// below the round-trip times of the pool.
    pub height_min_secs: f64,
    /// Round-trip samples kept per peer; each update uses their median,
    /// which drops one-off outliers such as a delayed ack \[2\]. Default 3;
    /// 1 (no filtering) to [`MAX_LATENCY_FILTER_SIZE`].
    pub latency_filter_size: usize,
    /// Distance scale of the gravity that pulls coordinates towards the
    /// origin, in seconds: the pull grows as (distance / rho)². Default 150;
    /// above zero, finite. Lower fights drift of the whole system harder
    /// and bends coordinates of distant nodes more \[2\].
    pub gravity_rho_secs: f64,
}

impl Default for CoordConfig {
    fn default() -> CoordConfig {
        CoordConfig {
            dimensionality: 8,
            vivaldi_error_max: 1.5,
            vivaldi_ce: 0.25,
            vivaldi_cc: 0.25,
            adjustment_window_size: 20,
            height_min_secs: 10.0e-6,
            latency_filter_size: 3,
            gravity_rho_secs: 150.0,
        }
    }
}

impl CoordConfig {
    /// Checks every field; the error names the field and the valid range.
    pub fn validate(&self) -> Result<(), CoordConfigError> {
        let err = |field: &'static str, reason: String| Err(CoordConfigError { field, reason });
        if !(1..=MAX_DIMENSIONALITY).contains(&self.dimensionality) {
            return err(
                "dimensionality",
                format!("must be between 1 and {MAX_DIMENSIONALITY}"),
            );
        }
        if !(self.vivaldi_error_max.is_finite() && self.vivaldi_error_max > 0.0) {
            return err("vivaldi_error_max", "must be finite and above zero".into());
        }
        if !(self.vivaldi_ce > 0.0 && self.vivaldi_ce <= 1.0) {
            return err("vivaldi_ce", "must be above 0 and at most 1".into());
        }
        if !(self.vivaldi_cc > 0.0 && self.vivaldi_cc <= 1.0) {
            return err("vivaldi_cc", "must be above 0 and at most 1".into());
        }
        if self.adjustment_window_size > MAX_ADJUSTMENT_WINDOW_SIZE {
            return err(
                "adjustment_window_size",
                format!("must be between 0 and {MAX_ADJUSTMENT_WINDOW_SIZE}"),
            );
        }
        if !(self.height_min_secs.is_finite() && self.height_min_secs >= 0.0) {
            return err("height_min_secs", "must be finite and zero or more".into());
        }
        if !(1..=MAX_LATENCY_FILTER_SIZE).contains(&self.latency_filter_size) {
            return err(
                "latency_filter_size",
                format!("must be between 1 and {MAX_LATENCY_FILTER_SIZE}"),
            );
        }
        if !(self.gravity_rho_secs.is_finite() && self.gravity_rho_secs > 0.0) {
            return err("gravity_rho_secs", "must be finite and above zero".into());
        }
        Ok(())
    }
}

/// A setting out of its range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordConfigError {
    /// The field's name.
    pub field: &'static str,
    /// What is wrong and what range is valid.
    pub reason: String,
}

impl fmt::Display for CoordConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for CoordConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_serfs_and_valid() {
        let c = CoordConfig::default();
        assert_eq!(c.dimensionality, 8);
        assert_eq!(c.vivaldi_error_max, 1.5);
        assert_eq!(c.vivaldi_ce, 0.25);
        assert_eq!(c.vivaldi_cc, 0.25);
        assert_eq!(c.adjustment_window_size, 20);
        assert_eq!(c.height_min_secs, 1e-5);
        assert_eq!(c.latency_filter_size, 3);
        assert_eq!(c.gravity_rho_secs, 150.0);
        assert_eq!(c.validate(), Ok(()));
    }

    /// Puts one field out of its range.
    type Breaker = fn(&mut CoordConfig);

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(&str, Breaker)> = vec![
            ("dimensionality", |c| c.dimensionality = 0),
            ("dimensionality", |c| {
                c.dimensionality = MAX_DIMENSIONALITY + 1
            }),
            ("vivaldi_error_max", |c| c.vivaldi_error_max = 0.0),
            ("vivaldi_error_max", |c| c.vivaldi_error_max = f64::INFINITY),
            ("vivaldi_ce", |c| c.vivaldi_ce = f64::NAN),
            ("vivaldi_ce", |c| c.vivaldi_ce = 1.5),
            ("vivaldi_cc", |c| c.vivaldi_cc = 0.0),
            ("adjustment_window_size", |c| {
                c.adjustment_window_size = MAX_ADJUSTMENT_WINDOW_SIZE + 1
            }),
            ("height_min_secs", |c| c.height_min_secs = -1e-6),
            ("height_min_secs", |c| c.height_min_secs = f64::NAN),
            ("latency_filter_size", |c| c.latency_filter_size = 0),
            ("gravity_rho_secs", |c| c.gravity_rho_secs = 0.0),
            ("gravity_rho_secs", |c| c.gravity_rho_secs = f64::INFINITY),
        ];
        for (field, break_it) in cases {
            let mut c = CoordConfig::default();
            break_it(&mut c);
            let e = c.validate().expect_err(field);
            assert_eq!(e.field, field);
            assert!(e.to_string().starts_with(&format!("invalid {field}: ")));
        }
        let off = CoordConfig {
            adjustment_window_size: 0,
            height_min_secs: 0.0,
            latency_filter_size: 1,
            ..CoordConfig::default()
        };
        assert_eq!(off.validate(), Ok(()));
    }
}
