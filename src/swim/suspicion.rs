//! Lifeguard suspicion: a timeout that starts at its maximum and shrinks
//! towards the minimum with each independent confirmation (Lifeguard §IV-B,
//! memberlist's `suspicion.go`).

use std::time::{Duration, Instant};

/// One suspicion of one member at one incarnation.
#[derive(Debug, Clone)]
pub struct Suspicion {
    /// The incarnation the suspicion is about; a refutation carries a higher one.
    pub incarnation: u32,
    start: Instant,
    min: Duration,
    max: Duration,
    /// Confirmations that take the timeout all the way down to `min`.
    expected: u32,
    /// Distinct accusers so far, the first one excluded.
    confirmers: Vec<Box<str>>,
    first_accuser: Box<str>,
    /// Key of the armed timer, to cancel or move it.
    pub timer_key: (Instant, u64),
}

impl Suspicion {
    /// Starts a suspicion raised by `accuser`.
    pub fn new(
        incarnation: u32,
        accuser: &str,
        start: Instant,
        min: Duration,
        max: Duration,
        expected: u32,
    ) -> Suspicion {
        Suspicion {
            incarnation,
            start,
            min,
            max: max.max(min),
            expected,
            confirmers: Vec::new(),
            first_accuser: accuser.into(),
            timer_key: (start, 0),
        }
    }

    /// Records an accusation; true when it came from a new accuser and
    /// shortened the timeout (and so is worth re-gossiping).
    pub fn confirm(&mut self, accuser: &str) -> bool {
        if self.confirmers.len() as u32 >= self.expected
            || *self.first_accuser == *accuser
            || self.confirmers.iter().any(|c| **c == *accuser)
        {
            return false;
        }
        self.confirmers.push(accuser.into());
        true
    }

    /// Independent confirmations so far.
    pub fn confirmations(&self) -> u32 {
        self.confirmers.len() as u32
    }

    /// The current timeout: `max − (ln(c+1)/ln(k+1))·(max−min)`, never below
    /// `min`.
    pub fn timeout(&self) -> Duration {
        timeout_after(self.confirmations(), self.expected, self.min, self.max)
    }

    /// When the suspected member is declared dead, given confirmations so far.
    pub fn deadline(&self) -> Instant {
        self.start + self.timeout()
    }
}

/// Lifeguard's timeout after `confirmations` out of `expected`.
pub fn timeout_after(confirmations: u32, expected: u32, min: Duration, max: Duration) -> Duration {
    if expected == 0 {
        return min;
    }
    let fraction = ((confirmations as f64) + 1.0).ln() / ((expected as f64) + 1.0).ln();
    let span = max.saturating_sub(min).as_secs_f64();
    let timeout = max.as_secs_f64() - fraction * span;
    // Millisecond resolution, as memberlist, so timers do not jitter.
    let timeout = Duration::from_millis((timeout * 1000.0).floor().max(0.0) as u64);
    timeout.max(min)
}

/// The minimum suspicion timeout for a pool of `members`:
/// `mult × max(1, log10 n) × probe_interval`.
pub fn min_timeout(mult: u32, members: usize, probe_interval: Duration) -> Duration {
    let scale = (members.max(1) as f64).log10().max(1.0);
    Duration::from_millis((mult as f64 * scale * probe_interval.as_millis() as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinks_from_max_to_min_with_confirmations() {
        let min = Duration::from_secs(8);
        let max = Duration::from_secs(48);
        assert_eq!(timeout_after(0, 2, min, max), max);
        let one = timeout_after(1, 2, min, max);
        assert!(one < max && one > min, "{one:?}");
        // ln 2 / ln 3 = 0.63093 → 48 − 0.63093 × 40 = 22.7628 s, floored to ms
        assert_eq!(one, Duration::from_millis(22_762));
        assert_eq!(timeout_after(2, 2, min, max), min);
        assert_eq!(timeout_after(5, 2, min, max), min);
        assert_eq!(timeout_after(0, 0, min, max), min);
    }

    #[test]
    fn independent_accusers_only() {
        let now = Instant::now();
        let mut s = Suspicion::new(
            1,
            "a",
            now,
            Duration::from_secs(1),
            Duration::from_secs(6),
            2,
        );
        assert!(!s.confirm("a"), "the first accuser is not a confirmation");
        assert!(s.confirm("b"));
        assert!(!s.confirm("b"), "twice the same accuser counts once");
        assert!(s.confirm("c"));
        assert!(!s.confirm("d"), "beyond the expected count nothing changes");
        assert_eq!(s.deadline(), now + Duration::from_secs(1));
    }

    #[test]
    fn min_timeout_scales_with_log10_of_members() {
        let p = Duration::from_secs(1);
        assert_eq!(min_timeout(4, 5, p), Duration::from_secs(4));
        assert_eq!(min_timeout(4, 100, p), Duration::from_secs(8));
        assert_eq!(min_timeout(4, 1000, p), Duration::from_secs(12));
    }
}
