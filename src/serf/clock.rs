//! Lamport clocks (Lamport 1978): a counter that only moves forward and
//! jumps past any time it witnesses.

/// A Lamport clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LamportClock(u64);

impl LamportClock {
    /// The current time.
    pub fn time(&self) -> u64 {
        self.0
    }

    /// Moves forward by one and returns the new time.
    pub fn increment(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }

    /// Moves forward to at least `time` (restoring a saved clock).
    pub fn advance_to(&mut self, time: u64) {
        self.0 = self.0.max(time);
    }

    /// Notes a time seen elsewhere: afterwards the clock is past it.
    pub fn witness(&mut self, seen: u64) {
        if seen >= self.0 {
            self.0 = seen.saturating_add(1);
        }
    }
}
