//! Deterministic simulator: many real cores on one virtual clock.
//!
//! An in-memory network with latency, loss, partitions, slow receivers,
//! crashes and restarts carries the real encoded packets between real
//! [`Swim`] cores. One seed fixes the whole run: each node and the network
//! draw from their own sub-seed, and simultaneous events are ordered by a
//! sequence number. The simulator never reads the wall clock except for one
//! base `Instant` that all virtual times are offsets of.

pub mod latency;
pub mod plot;
mod scenario;
mod scenarios;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasherDefault;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub use scenario::{
    run_standard, run_standard_with_progress, Percentiles, StandardOptions, StandardReport,
};
pub use scenarios::{
    run_scenario, run_scenario_with_progress, Curve, Histogram, Outcome, Scenario, ScenarioOptions,
    ScenarioReport, Settings,
};

use crate::serf::{QueryHandle, QueryParams, QueryTicket, Serf, SerfConfig, SerfEvent};
use crate::swim::{Config, FixedHasher, StreamError, StreamToken, Swim, TransmitKind};

type FixedMap<K, V> = HashMap<K, V, BuildHasherDefault<FixedHasher>>;

/// Derives an independent sub-seed (SplitMix64 of the pair).
pub fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed for a test: `HEARSAY_SIM_SEED` if set, else `default`.
pub fn seed_from_env(default: u64) -> u64 {
    std::env::var("HEARSAY_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Seeds to sweep: `HEARSAY_SIM_SEED` alone if set, else
/// `HEARSAY_SIM_SEEDS` (a count, default 1) seeds starting at `first`.
pub fn seeds_from_env(first: u64) -> Vec<u64> {
    seeds_from_env_or(first, 1)
}

/// Like [`seeds_from_env`], sweeping `count` seeds when `HEARSAY_SIM_SEEDS`
/// is not set.
pub fn seeds_from_env_or(first: u64, count: u64) -> Vec<u64> {
    if let Ok(s) = std::env::var("HEARSAY_SIM_SEED") {
        if let Ok(seed) = s.parse() {
            return vec![seed];
        }
    }
    let count: u64 = std::env::var("HEARSAY_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(count)
        .max(1);
    (first..first + count).collect()
}

/// The network's behaviour.
#[derive(Clone, Debug)]
pub struct Network {
    /// One-way latency, drawn uniformly from this range for each packet.
    pub latency: (Duration, Duration),
    /// Probability that a datagram is lost, 0.0 to 1.0. Streams are reliable.
    pub loss: f64,
    /// Round-trip times between node indexes, `rtt[i][j]`; a packet then
    /// takes half of it, with no jitter. Nodes outside the matrix use
    /// `latency`.
    pub rtt: Option<std::sync::Arc<Vec<Vec<Duration>>>>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            latency: (Duration::from_millis(1), Duration::from_millis(5)),
            loss: 0.0,
            rtt: None,
        }
    }
}

/// What happened at one node, as an observer records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObservationKind {
    /// Saw a member alive (first time or again).
    Joined,
    /// Saw a meta or address change.
    Updated,
    /// Declared, or learned, a member dead.
    Failed,
    /// Learned a member left.
    Left,
    /// Removed a failed or left member.
    Reaped,
}

/// One observation: at `at` (virtual, since the start), `observer` saw
/// `subject` change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Virtual time since the start of the simulation.
    pub at: Duration,
    /// Index of the observing node.
    pub observer: usize,
    /// Name of the member concerned.
    pub subject: Arc<str>,
    /// What changed.
    pub kind: ObservationKind,
}

/// Per-node traffic counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes sent (datagrams and streams).
    pub bytes_sent: u64,
    /// Messages sent.
    pub msgs_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Messages received.
    pub msgs_received: u64,
}

/// Everything the simulator recorded.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// Traffic per node index.
    pub traffic: Vec<Traffic>,
    /// Observations other than first sightings, in order.
    pub observations: Vec<Observation>,
    /// First time each observer saw each subject alive: `first_alive[observer]`
    /// maps subject node index to milliseconds since the start.
    pub first_alive: Vec<Vec<u32>>,
    /// Declarations of death about nodes that were up at the time.
    pub false_failures: Vec<Observation>,
    /// A hash of every event with its time, to compare runs.
    pub trace_hash: u64,
    /// User events delivered: (time, node, event Lamport time, name).
    pub user_events: Vec<(Duration, usize, u64, String)>,
    /// Queries delivered to nodes: (time, node, query name).
    pub queries: Vec<(Duration, usize, String)>,
    /// Query responses received: (time, querying node, handle, responder).
    pub responses: Vec<(Duration, usize, QueryHandle, String)>,
    /// Queries finished: (time, querying node, handle).
    pub queries_done: Vec<(Duration, usize, QueryHandle)>,
    /// Name conflicts reported: (time, node, contested name, outcome).
    pub conflicts: Vec<(Duration, usize, String, crate::serf::ConflictOutcome)>,
    /// Keyring operations finished: (time, node that asked, what it found).
    pub keyring_reports: Vec<(
        Duration,
        usize,
        crate::serf::KeyOp,
        crate::serf::KeyringReport,
    )>,
}

const NEVER: u32 = u32::MAX;

struct SimNode {
    name: Arc<str>,
    addr: SocketAddr,
    core: Serf,
    up: bool,
    auto_respond: bool,
    /// The node's snapshot file, when it keeps one.
    snapshot: Option<Vec<u8>>,
    generation: u32,
    slow: Option<(Duration, Duration)>,
    scheduled: Option<Instant>,
}

enum Action {
    Packet {
        to: SocketAddr,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    StreamRequest {
        to: SocketAddr,
        from_node: usize,
        generation: u32,
        token: Option<StreamToken>,
        frame: Vec<u8>,
        deadline: Instant,
    },
    StreamReply {
        node: usize,
        generation: u32,
        token: StreamToken,
        reply: Result<Vec<u8>, StreamError>,
    },
    Timer {
        node: usize,
        generation: u32,
    },
    /// A packet a slow node handles only now.
    SlowPacket {
        node: usize,
        generation: u32,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
}

struct Scheduled {
    at: Instant,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and the earliest must come first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A simulated cluster.
pub struct Sim {
    seed: u64,
    base: Instant,
    now: Instant,
    rng: SmallRng,
    network: Network,
    nodes: Vec<SimNode>,
    by_addr: FixedMap<SocketAddr, usize>,
    by_name: FixedMap<Arc<str>, usize>,
    queue: BinaryHeap<Scheduled>,
    next_seq: u64,
    /// Partition group of each node; nodes talk only within a group.
    groups: Option<Vec<u32>>,
    next_addr: u32,
    record_first_alive: bool,
    /// What was recorded so far.
    pub record: Record,
}

impl Sim {
    /// An empty simulation.
    pub fn new(seed: u64, network: Network) -> Sim {
        let base = Instant::now();
        Sim {
            seed,
            base,
            now: base,
            rng: SmallRng::seed_from_u64(sub_seed(seed, u64::MAX)),
            network,
            nodes: Vec::new(),
            by_addr: FixedMap::default(),
            by_name: FixedMap::default(),
            queue: BinaryHeap::new(),
            next_seq: 0,
            groups: None,
            next_addr: 0,
            record_first_alive: true,
            record: Record::default(),
        }
    }

    /// Turns off the per-pair first-sighting matrix (N² memory).
    pub fn without_first_alive_matrix(mut self) -> Sim {
        self.record_first_alive = false;
        self
    }

    /// The master seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Number of nodes ever added.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The SWIM core of node `i`.
    pub fn core(&self, i: usize) -> &Swim {
        self.nodes[i].core.swim()
    }

    /// The Serf core of node `i`.
    pub fn serf(&self, i: usize) -> &Serf {
        &self.nodes[i].core
    }

    /// Whether node `i` is running.
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].up
    }

    /// Name of node `i`.
    pub fn name(&self, i: usize) -> &Arc<str> {
        &self.nodes[i].name
    }

    /// Index of the node with this name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Address of node `i`.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }

    /// Changes the network's loss rate.
    pub fn set_loss(&mut self, loss: f64) {
        self.network.loss = loss;
    }

    fn fresh_addr(&mut self) -> SocketAddr {
        self.next_addr += 1;
        let n = self.next_addr;
        let ip = Ipv4Addr::new(127, 1 + (n >> 16) as u8, (n >> 8) as u8, n as u8);
        SocketAddr::new(IpAddr::V4(ip), 7946)
    }

    /// Adds and starts a node named `n<index>` with these SWIM settings and
    /// Serf's defaults.
    pub fn add_node(&mut self, config: Config) -> usize {
        self.add_node_with(SerfConfig::with_swim(config), Vec::new())
    }

    /// Adds and starts a node named `n<index>` with these settings and meta.
    pub fn add_node_with(&mut self, config: SerfConfig, meta: Vec<u8>) -> usize {
        let name = format!("n{}", self.nodes.len());
        self.add_node_named(&name, config, meta)
    }

    /// Adds and starts a node with this name (which may already be taken,
    /// to stage a name conflict; lookups by name keep the first).
    pub fn add_node_named(&mut self, name: &str, config: SerfConfig, meta: Vec<u8>) -> usize {
        let i = self.nodes.len();
        let name: Arc<str> = name.into();
        let addr = self.fresh_addr();
        let core = Serf::new(
            config,
            &name,
            addr,
            meta,
            sub_seed(self.seed, i as u64),
            self.now,
        )
        .expect("invariant: simulator configs are valid");
        self.nodes.push(SimNode {
            name: name.clone(),
            addr,
            core,
            up: true,
            auto_respond: true,
            snapshot: None,
            generation: 0,
            slow: None,
            scheduled: None,
        });
        self.by_addr.insert(addr, i);
        self.by_name.entry(name).or_insert(i);
        self.record.traffic.push(Traffic::default());
        if self.record_first_alive {
            for row in &mut self.record.first_alive {
                row.push(NEVER);
            }
            self.record.first_alive.push(vec![NEVER; i + 1]);
            self.record.first_alive[i][i] = self.elapsed_ms();
        }
        self.after_input(i);
        i
    }

    /// Node `i` joins through node `seed`.
    pub fn join(&mut self, i: usize, seed: usize) {
        let addr = self.nodes[seed].addr;
        let now = self.now;
        let _ = self.nodes[i].core.join(now, addr, false);
        self.after_input(i);
    }

    /// Node `i` sends a user event.
    pub fn send_event(&mut self, i: usize, name: &str, payload: &[u8]) {
        let now = self.now;
        self.nodes[i]
            .core
            .send_event(now, name, payload, false)
            .expect("invariant: simulator events fit");
        self.after_input(i);
    }

    /// Node `i` starts a query.
    pub fn query(
        &mut self,
        i: usize,
        name: &str,
        payload: &[u8],
        params: QueryParams,
    ) -> QueryHandle {
        let now = self.now;
        let handle = self.nodes[i]
            .core
            .query(now, name, payload, params)
            .expect("invariant: simulator queries are valid");
        self.after_input(i);
        handle
    }

    /// Runs `f` on node `i`'s core at the current time (a command such as a
    /// keyring operation or a change of encryption policy), then sends what
    /// it queued.
    pub fn with_serf<R>(&mut self, i: usize, f: impl FnOnce(&mut Serf, Instant) -> R) -> R {
        let now = self.now;
        let result = f(&mut self.nodes[i].core, now);
        self.after_input(i);
        result
    }

    /// Whether node `i` answers every query it receives with its name.
    pub fn set_auto_respond(&mut self, i: usize, on: bool) {
        self.nodes[i].auto_respond = on;
    }

    /// Node `i` forces `name` out of the pool.
    pub fn force_leave(&mut self, i: usize, name: &str, prune: bool) {
        let now = self.now;
        self.nodes[i]
            .core
            .force_leave(now, name, prune)
            .expect("invariant: the member exists");
        self.after_input(i);
    }

    /// Node `i` receives a leave intent about node `subject` that `subject`
    /// never sent (a stale or forged leave).
    pub fn inject_stale_leave(&mut self, i: usize, subject: usize) {
        use crate::wire::serf::{LeaveIntent, SerfMessage};
        let message = SerfMessage::Leave(LeaveIntent {
            ltime: self.nodes[i].core.clock(),
            node: self.nodes[subject].name.to_string(),
            prune: false,
        });
        let payload = crate::wire::encode_message(&crate::wire::Message::User(crate::wire::User {
            payload: message.encode(),
        }));
        let packet = crate::wire::encode_packet(None, &[payload]);
        let from = self.nodes[subject].addr;
        self.deliver(i, from, &packet);
    }

    /// Node `i` changes its meta.
    pub fn set_meta(&mut self, i: usize, meta: Vec<u8>) {
        let now = self.now;
        self.nodes[i]
            .core
            .set_meta(now, meta)
            .expect("invariant: simulator meta fits");
        self.after_input(i);
    }

    /// Node `i` leaves gracefully.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].core.leave(now);
        self.after_input(i);
    }

    /// Node `i` stops at once: it sends and handles nothing more.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].up = false;
        self.nodes[i].generation += 1;
        self.nodes[i].scheduled = None;
    }

    /// Restarts crashed node `i` with the same name, at a new address if
    /// `new_address`, with a fresh core, and joins it through `seed`.
    pub fn restart(&mut self, i: usize, config: Config, new_address: bool, seed: usize) {
        self.restart_with(i, SerfConfig::with_swim(config), new_address, seed);
    }

    /// Like [`restart`](Sim::restart), with Serf settings too.
    pub fn restart_with(&mut self, i: usize, config: SerfConfig, new_address: bool, seed: usize) {
        assert!(!self.nodes[i].up, "restart needs a crashed node");
        if new_address {
            let old = self.nodes[i].addr;
            self.by_addr.remove(&old);
            let addr = self.fresh_addr();
            self.nodes[i].addr = addr;
            self.by_addr.insert(addr, i);
        }
        let node = &mut self.nodes[i];
        node.generation += 1;
        let seed_value = sub_seed(self.seed, ((node.generation as u64) << 32) | i as u64);
        node.core = Serf::new(
            config,
            &node.name,
            node.addr,
            Vec::new(),
            seed_value,
            self.now,
        )
        .expect("invariant: simulator configs are valid");
        node.up = true;
        node.scheduled = None;
        self.after_input(i);
        self.join(i, seed);
    }

    /// Places node `i`'s network coordinate.
    pub fn set_coordinate(&mut self, i: usize, coordinate: crate::coord::Coordinate) {
        self.nodes[i]
            .core
            .set_coordinate(coordinate)
            .expect("invariant: a valid coordinate");
    }

    /// Node `i` keeps a snapshot file (in memory) from now on.
    pub fn enable_snapshot(&mut self, i: usize) {
        self.nodes[i].snapshot = Some(Vec::new());
        self.nodes[i].core.enable_snapshot();
        self.after_input(i);
    }

    /// The bytes of node `i`'s snapshot file.
    pub fn snapshot_bytes(&self, i: usize) -> &[u8] {
        self.nodes[i].snapshot.as_deref().unwrap_or_default()
    }

    /// Restarts crashed node `i` at its address from a snapshot file: it
    /// restores its clocks and rejoins the members the file lists, with no
    /// seed given. Returns the warnings of the file's skipped lines.
    pub fn restart_from_snapshot(
        &mut self,
        i: usize,
        config: SerfConfig,
        file: Vec<u8>,
    ) -> Vec<String> {
        assert!(!self.nodes[i].up, "restart needs a crashed node");
        let (state, warnings) = crate::serf::snapshot::parse(&file);
        let node = &mut self.nodes[i];
        node.generation += 1;
        let seed_value = sub_seed(self.seed, ((node.generation as u64) << 32) | i as u64);
        node.core = Serf::new(
            config,
            &node.name,
            node.addr,
            Vec::new(),
            seed_value,
            self.now,
        )
        .expect("invariant: simulator configs are valid");
        node.up = true;
        node.scheduled = None;
        node.snapshot = Some(file);
        node.core.enable_snapshot();
        let now = self.now;
        node.core.restore(now, &state);
        self.after_input(i);
        warnings
    }

    /// Delays every packet node `i` receives by a time drawn from `delay`.
    pub fn set_slow(&mut self, i: usize, delay: Option<(Duration, Duration)>) {
        self.nodes[i].slow = delay;
    }

    /// Splits the network: nodes only reach nodes of their own group. Nodes
    /// in no group form one more group.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        let mut g = vec![u32::MAX; self.nodes.len()];
        for (gi, members) in groups.iter().enumerate() {
            for &m in members {
                g[m] = gi as u32;
            }
        }
        self.groups = Some(g);
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.groups = None;
    }

    fn reachable(&self, a: usize, b: usize) -> bool {
        match &self.groups {
            None => true,
            Some(g) => {
                g.get(a).copied().unwrap_or(u32::MAX) == g.get(b).copied().unwrap_or(u32::MAX)
            }
        }
    }

    fn elapsed_ms(&self) -> u32 {
        (self.now - self.base).as_millis().min(NEVER as u128 - 1) as u32
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        self.next_seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.next_seq,
            action,
        });
    }

    fn latency(&mut self, from: usize, to: Option<usize>) -> Duration {
        if let (Some(matrix), Some(to)) = (&self.network.rtt, to) {
            if let Some(rtt) = matrix.get(from).and_then(|row| row.get(to)) {
                return *rtt / 2;
            }
        }
        let (lo, hi) = self.network.latency;
        if hi <= lo {
            return lo;
        }
        let ns = self
            .rng
            .random_range(lo.as_nanos() as u64..=hi.as_nanos() as u64);
        Duration::from_nanos(ns)
    }

    fn inbound_delay(&mut self, i: usize) -> Duration {
        match self.nodes[i].slow {
            Some((lo, hi)) if hi > lo => Duration::from_nanos(
                self.rng
                    .random_range(lo.as_nanos() as u64..=hi.as_nanos() as u64),
            ),
            Some((lo, _)) => lo,
            None => Duration::ZERO,
        }
    }

    /// Drains node `i`'s transmits and events and re-arms its timer.
    fn after_input(&mut self, i: usize) {
        if !self.nodes[i].up {
            return;
        }
        while let Some(t) = self.nodes[i].core.poll_transmit() {
            let traffic = &mut self.record.traffic[i];
            traffic.bytes_sent += t.payload.len() as u64;
            traffic.msgs_sent += 1;
            let from = self.nodes[i].addr;
            let generation = self.nodes[i].generation;
            match t.kind {
                TransmitKind::Packet => {
                    if self.network.loss > 0.0 && self.rng.random_bool(self.network.loss.min(1.0)) {
                        continue;
                    }
                    let to = self.by_addr.get(&t.to).copied();
                    let at = self.now + self.latency(i, to);
                    self.schedule(
                        at,
                        Action::Packet {
                            to: t.to,
                            from,
                            bytes: t.payload,
                        },
                    );
                }
                TransmitKind::Stream { token, deadline } => {
                    let to = self.by_addr.get(&t.to).copied();
                    let at = self.now + self.latency(i, to);
                    self.schedule(
                        at,
                        Action::StreamRequest {
                            to: t.to,
                            from_node: i,
                            generation,
                            token: Some(token),
                            frame: t.payload,
                            deadline,
                        },
                    );
                }
                TransmitKind::StreamOneWay => {
                    let to = self.by_addr.get(&t.to).copied();
                    let at = self.now + self.latency(i, to);
                    let deadline = at;
                    self.schedule(
                        at,
                        Action::StreamRequest {
                            to: t.to,
                            from_node: i,
                            generation,
                            token: None,
                            frame: t.payload,
                            deadline,
                        },
                    );
                }
            }
        }
        // Write-ahead: snapshot records reach the file before the events.
        while let Some(record) = self.nodes[i].core.poll_snapshot_record() {
            if let Some(file) = &mut self.nodes[i].snapshot {
                file.extend_from_slice(record.to_line().as_bytes());
            }
        }
        let mut tickets: Vec<QueryTicket> = Vec::new();
        while let Some(event) = self.nodes[i].core.poll_event() {
            if let SerfEvent::Query { ticket, .. } = &event {
                if self.nodes[i].auto_respond {
                    tickets.push(ticket.clone());
                }
            }
            self.observe(i, event);
        }
        if !tickets.is_empty() {
            let now = self.now;
            let name = self.nodes[i].name.clone();
            for ticket in tickets {
                let _ = self.nodes[i].core.respond(now, &ticket, name.as_bytes());
            }
            // The responses were queued as transmits: send them.
            self.after_input(i);
            return;
        }
        let next = self.nodes[i].core.poll_timeout();
        if let Some(next) = next {
            let node = &self.nodes[i];
            if node.scheduled.is_none_or(|s| next < s) {
                let generation = node.generation;
                self.nodes[i].scheduled = Some(next);
                self.schedule(
                    next.max(self.now),
                    Action::Timer {
                        node: i,
                        generation,
                    },
                );
            }
        }
    }

    fn observe(&mut self, observer: usize, event: SerfEvent) {
        let at = self.elapsed();
        let (subject, kind) = match event {
            SerfEvent::MemberJoin(m) => (m.name, ObservationKind::Joined),
            SerfEvent::MemberUpdate(m) => (m.name, ObservationKind::Updated),
            SerfEvent::MemberFailed(m) => (m.name, ObservationKind::Failed),
            SerfEvent::MemberLeave(m) => (m.name, ObservationKind::Left),
            SerfEvent::MemberReap(m) => (m.name, ObservationKind::Reaped),
            SerfEvent::User { ltime, name, .. } => {
                self.hash_trace(at, observer, 10, name.as_bytes());
                self.record.user_events.push((at, observer, ltime, name));
                return;
            }
            SerfEvent::Query { name, .. } => {
                self.record.queries.push((at, observer, name));
                return;
            }
            SerfEvent::QueryResponse { handle, from, .. } => {
                self.record.responses.push((at, observer, handle, from));
                return;
            }
            SerfEvent::QueryDone { handle } => {
                self.record.queries_done.push((at, observer, handle));
                return;
            }
            SerfEvent::NameConflict { name, outcome, .. } => {
                self.record.conflicts.push((at, observer, name, outcome));
                return;
            }
            SerfEvent::KeyringDone { op, report, .. } => {
                self.record.keyring_reports.push((at, observer, op, report));
                return;
            }
            SerfEvent::QueryAck { .. } => return,
        };
        self.hash_trace(at, observer, kind as u64, subject.as_bytes());
        let subject_index = self.by_name.get(&subject).copied();
        if kind == ObservationKind::Joined && self.record_first_alive {
            if let Some(s) = subject_index {
                let ms = self.elapsed_ms();
                let row = &mut self.record.first_alive[observer];
                if row[s] == NEVER {
                    row[s] = ms;
                    return;
                }
            }
        }
        let observation = Observation {
            at,
            observer,
            subject,
            kind,
        };
        if kind == ObservationKind::Failed {
            if let Some(s) = subject_index {
                if self.nodes[s].up {
                    self.record.false_failures.push(observation.clone());
                }
            }
        }
        self.record.observations.push(observation);
    }

    fn hash_trace(&mut self, at: Duration, observer: usize, kind: u64, subject: &[u8]) {
        let mut h = self.record.trace_hash ^ at.as_nanos() as u64;
        h = h.wrapping_mul(0x0100_0000_01b3) ^ observer as u64;
        h = h.wrapping_mul(0x0100_0000_01b3) ^ kind;
        for b in subject {
            h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.record.trace_hash = h;
    }

    /// Processes the next scheduled action; false when nothing is left.
    pub fn step(&mut self) -> bool {
        let Some(next) = self.queue.pop() else {
            return false;
        };
        self.now = self.now.max(next.at);
        let now = self.now;
        match next.action {
            Action::Timer { node, generation } => {
                let n = &mut self.nodes[node];
                if !n.up || n.generation != generation || n.scheduled != Some(next.at) {
                    return true;
                }
                n.scheduled = None;
                n.core.handle_timeout(now);
                self.after_input(node);
            }
            Action::Packet { to, from, bytes } => {
                let Some(&i) = self.by_addr.get(&to) else {
                    return true;
                };
                let Some(&src) = self.by_addr.get(&from) else {
                    return true;
                };
                if !self.nodes[i].up || !self.reachable(src, i) {
                    return true;
                }
                let delay = self.inbound_delay(i);
                if !delay.is_zero() {
                    // A slow node handles the packet later; the same packet
                    // is rescheduled with no further delay.
                    let at = now + delay;
                    let generation = self.nodes[i].generation;
                    self.schedule_slow(at, i, generation, from, bytes);
                    return true;
                }
                self.deliver(i, from, &bytes);
            }
            Action::StreamRequest {
                to,
                from_node,
                generation,
                token,
                frame,
                deadline,
            } => {
                let target = self.by_addr.get(&to).copied();
                let ok_target =
                    target.filter(|&t| self.nodes[t].up && self.reachable(from_node, t));
                let Some(t) = ok_target else {
                    if let Some(token) = token {
                        self.schedule(
                            deadline.max(now),
                            Action::StreamReply {
                                node: from_node,
                                generation,
                                token,
                                reply: Err(StreamError::Timeout),
                            },
                        );
                    }
                    return true;
                };
                let body = frame.get(4..).unwrap_or(&[]).to_vec();
                let from_addr = self.nodes[from_node].addr;
                let traffic = &mut self.record.traffic[t];
                traffic.bytes_received += frame.len() as u64;
                traffic.msgs_received += 1;
                let reply = self.nodes[t].core.handle_stream(now, from_addr, &body);
                self.after_input(t);
                if let Some(token) = token {
                    let reply = match reply {
                        Ok(Some(frame)) => Ok(frame),
                        Ok(None) | Err(_) => Err(StreamError::Io("connection closed".into())),
                    };
                    // A slow node answers late and reads the answer late.
                    let delay = self.latency(t, Some(from_node))
                        + self.inbound_delay(t)
                        + self.inbound_delay(from_node);
                    let (at, reply) = if now + delay > deadline {
                        (deadline.max(now), Err(StreamError::Timeout))
                    } else {
                        (now + delay, reply)
                    };
                    self.schedule(
                        at,
                        Action::StreamReply {
                            node: from_node,
                            generation,
                            token,
                            reply,
                        },
                    );
                }
            }
            Action::SlowPacket {
                node,
                generation,
                from,
                bytes,
            } => {
                let n = &self.nodes[node];
                if n.up && n.generation == generation {
                    self.deliver(node, from, &bytes);
                }
            }
            Action::StreamReply {
                node,
                generation,
                token,
                reply,
            } => {
                let n = &self.nodes[node];
                if !n.up || n.generation != generation {
                    return true;
                }
                if let Ok(frame) = &reply {
                    let traffic = &mut self.record.traffic[node];
                    traffic.bytes_received += frame.len() as u64;
                    traffic.msgs_received += 1;
                }
                let reply_ref = match &reply {
                    Ok(frame) => Ok(frame.get(4..).unwrap_or(&[])),
                    Err(e) => Err(e.clone()),
                };
                let _ = self.nodes[node]
                    .core
                    .handle_stream_reply(now, token, reply_ref);
                self.after_input(node);
            }
        }
        true
    }

    fn schedule_slow(
        &mut self,
        at: Instant,
        node: usize,
        generation: u32,
        from: SocketAddr,
        bytes: Vec<u8>,
    ) {
        self.schedule(
            at,
            Action::SlowPacket {
                node,
                generation,
                from,
                bytes,
            },
        );
    }

    fn deliver(&mut self, i: usize, from: SocketAddr, bytes: &[u8]) {
        let traffic = &mut self.record.traffic[i];
        traffic.bytes_received += bytes.len() as u64;
        traffic.msgs_received += 1;
        let now = self.now;
        let _ = self.nodes[i].core.handle_packet(now, from, bytes);
        self.after_input(i);
    }

    /// Runs until `deadline` (virtual time since the start).
    pub fn run_until_time(&mut self, deadline: Duration) {
        let end = self.base + deadline;
        while let Some(next) = self.queue.peek() {
            if next.at > end {
                break;
            }
            self.step();
        }
        self.now = self.now.max(end);
    }

    /// Runs for `d` more virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let target = self.elapsed() + d;
        self.run_until_time(target);
    }

    /// Runs until `done` holds (checked every `check_every`) or the virtual
    /// `deadline` passes; returns whether `done` held.
    pub fn run_until(
        &mut self,
        deadline: Duration,
        check_every: Duration,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if self.elapsed() >= deadline {
                return false;
            }
            let next = (self.elapsed() + check_every).min(deadline);
            self.run_until_time(next);
        }
    }

    /// Whether every running node sees exactly the running nodes as live.
    pub fn converged(&self) -> bool {
        let up = self.nodes.iter().filter(|n| n.up).count();
        self.nodes
            .iter()
            .filter(|n| n.up)
            .all(|n| n.core.swim().live_members() == up)
    }

    /// Whether every running node's Serf layer lists exactly the running
    /// nodes as alive (slower than [`converged`](Sim::converged)).
    pub fn serf_converged(&self) -> bool {
        let up = self.nodes.iter().filter(|n| n.up).count();
        self.nodes.iter().filter(|n| n.up).all(|n| {
            n.core
                .members()
                .filter(|m| m.status == crate::serf::Status::Alive)
                .count()
                == up
        })
    }
}
