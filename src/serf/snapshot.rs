//! Snapshots: an append-only record of membership and clocks, so that a
//! restarted node rejoins the members it knew and replays no old event.
//!
//! Pure: records are formatted and parsed here; the runtime owns the file.
//! One JSON object per line. A line that does not parse (torn by a crash
//! mid-write, or garbage) is skipped with a warning, never a refused start.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// One line of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotRecord {
    /// A member is alive at this address.
    Alive {
        /// Node name.
        name: String,
        /// Address.
        addr: SocketAddr,
    },
    /// A member failed, left or was reaped.
    NotAlive {
        /// Node name.
        name: String,
    },
    /// The membership clock reached this time.
    Clock(u64),
    /// The event clock reached this time: every event delivered so far had
    /// a lower Lamport time (written before the event is delivered).
    EventClock(u64),
    /// The query clock reached this time.
    QueryClock(u64),
    /// The local node left gracefully: do not rejoin on restart.
    Leave,
}

impl SnapshotRecord {
    /// The record as one line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("invariant: records serialize");
        line.push('\n');
        line
    }
}

/// What a snapshot says, once replayed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotState {
    /// Membership clock.
    pub clock: u64,
    /// Event clock: events below it were seen already.
    pub event_clock: u64,
    /// Query clock.
    pub query_clock: u64,
    /// Members alive when the snapshot ended, by name.
    pub alive: BTreeMap<String, SocketAddr>,
    /// Whether the node had left gracefully.
    pub left: bool,
}

impl SnapshotState {
    /// Applies one record.
    pub fn apply(&mut self, record: SnapshotRecord) {
        match record {
            SnapshotRecord::Alive { name, addr } => {
                self.alive.insert(name, addr);
                self.left = false;
            }
            SnapshotRecord::NotAlive { name } => {
                self.alive.remove(&name);
            }
            SnapshotRecord::Clock(t) => self.clock = self.clock.max(t),
            SnapshotRecord::EventClock(t) => self.event_clock = self.event_clock.max(t),
            SnapshotRecord::QueryClock(t) => self.query_clock = self.query_clock.max(t),
            SnapshotRecord::Leave => {
                self.left = true;
                self.alive.clear();
            }
        }
    }

    /// The shortest list of records that rebuilds this state (compaction).
    pub fn records(&self) -> Vec<SnapshotRecord> {
        let mut out = vec![
            SnapshotRecord::Clock(self.clock),
            SnapshotRecord::EventClock(self.event_clock),
            SnapshotRecord::QueryClock(self.query_clock),
        ];
        out.extend(self.alive.iter().map(|(name, addr)| SnapshotRecord::Alive {
            name: name.clone(),
            addr: *addr,
        }));
        if self.left {
            out.push(SnapshotRecord::Leave);
        }
        out
    }

    /// The compacted file contents.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.records()
            .iter()
            .flat_map(|r| r.to_line().into_bytes())
            .collect()
    }
}

/// Longest line accepted; longer ones are garbage.
const MAX_LINE: usize = 4096;

/// Replays a snapshot file. Returns the state and one warning per skipped
/// line (with its number and why).
pub fn parse(bytes: &[u8]) -> (SnapshotState, Vec<String>) {
    let mut state = SnapshotState::default();
    let mut warnings = Vec::new();
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_LINE {
            warnings.push(format!(
                "line {}: longer than {MAX_LINE} bytes, skipped",
                number + 1
            ));
            continue;
        }
        match serde_json::from_slice::<SnapshotRecord>(line) {
            Ok(record) => state.apply(record),
            Err(e) => warnings.push(format!("line {}: {e}, skipped", number + 1)),
        }
    }
    (state, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<SnapshotRecord> {
        let a: SocketAddr = "127.0.0.1:7001".parse().unwrap();
        let b: SocketAddr = "[::1]:7002".parse().unwrap();
        vec![
            SnapshotRecord::Clock(3),
            SnapshotRecord::Alive {
                name: "a".into(),
                addr: a,
            },
            SnapshotRecord::Alive {
                name: "b \"quoted\"\nname".into(),
                addr: b,
            },
            SnapshotRecord::EventClock(7),
            SnapshotRecord::NotAlive { name: "a".into() },
            SnapshotRecord::QueryClock(2),
            SnapshotRecord::EventClock(9),
        ]
    }

    #[test]
    fn records_round_trip_and_replay() {
        let bytes: Vec<u8> = sample()
            .iter()
            .flat_map(|r| r.to_line().into_bytes())
            .collect();
        let (state, warnings) = parse(&bytes);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(state.clock, 3);
        assert_eq!(state.event_clock, 9);
        assert_eq!(state.query_clock, 2);
        assert_eq!(state.alive.len(), 1);
        assert!(state.alive.contains_key("b \"quoted\"\nname"));
        let (again, _) = parse(&state.to_bytes());
        assert_eq!(again, state, "compaction keeps the state");
    }

    #[test]
    fn every_cut_and_garbage_loads_with_warnings_only() {
        let bytes: Vec<u8> = sample()
            .iter()
            .flat_map(|r| r.to_line().into_bytes())
            .collect();
        let full = parse(&bytes).0;
        for cut in 0..=bytes.len() {
            let mut torn = bytes[..cut].to_vec();
            let (state, _) = parse(&torn);
            // A cut only loses records: never a clock beyond the full file's.
            assert!(state.event_clock <= full.event_clock);
            torn.extend_from_slice(b"\x00\xff garbage {\"alive\": 3}\n{]\n");
            let (with_garbage, warnings) = parse(&torn);
            // Garbage glued to a torn line can only cost that line.
            assert!(
                with_garbage.event_clock <= state.event_clock,
                "cut at {cut}"
            );
            assert!(
                with_garbage.alive.len() <= state.alive.len() + 1,
                "cut at {cut}"
            );
            assert!(!warnings.is_empty());
        }
        let (state, warnings) = parse(&[0xff; 10_000]);
        assert_eq!(state, SnapshotState::default());
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn leave_clears_rejoin_targets() {
        let mut s = SnapshotState::default();
        s.apply(SnapshotRecord::Alive {
            name: "a".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
        });
        s.apply(SnapshotRecord::Leave);
        assert!(s.alive.is_empty() && s.left);
    }
}
