//! The Serf layer, sans-IO: member status (alive, leaving, left, failed),
//! Lamport clocks, join and leave intents, user events, queries, tags,
//! reaping, reconnecting failed members and name-conflict resolution, on top
//! of the SWIM core it owns.
//!
//! Like [`Swim`], it never performs I/O and never reads a clock; its
//! messages travel as SWIM user messages and its state rides on push-pull.

mod clock;
mod config;
mod keyring;
pub mod snapshot;
pub mod tags;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub use clock::LamportClock;
pub use config::SerfConfig;
pub use keyring::{KeyOp, KeyringReport};
pub use snapshot::{SnapshotRecord, SnapshotState};

use crate::coord::{CoordClient, Coordinate};
use crate::swim::{
    Event as SwimEvent, FixedHasher, LeaveState, MemberSnapshot, StreamError, StreamToken, Swim,
    SwimError, Transmit,
};
use crate::wire::serf::{
    JoinIntent, LeaveIntent, Query, QueryResponse, Relay, SerfMessage, SerfPushPull, UserEvent,
};
use crate::wire::{MemberState, SecretKey, WireAddr};

/// Prefix of query names reserved for hearsay's own use.
pub const INTERNAL_QUERY_PREFIX: &str = "_hearsay_";
const CONFLICT_QUERY: &str = "_hearsay_conflict";

/// A member's status, in Serf's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum Status {
    /// Alive (suspected members included).
    Alive = 1,
    /// Announced its leave; not gone yet.
    Leaving = 2,
    /// Left gracefully (or was forced to leave).
    Left = 3,
    /// Declared dead by the failure detector.
    Failed = 4,
}

impl Status {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Alive => "alive",
            Status::Leaving => "leaving",
            Status::Left => "left",
            Status::Failed => "failed",
        }
    }
}

/// A member as the Serf layer knows it. Failed and left members stay until
/// they are reaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerfMember {
    /// Node name.
    pub name: Arc<str>,
    /// Advertised address.
    pub addr: SocketAddr,
    /// Node meta (encoded tags).
    pub meta: Vec<u8>,
    /// Status.
    pub status: Status,
    /// Lamport time of the last status change intent.
    pub status_ltime: u64,
    /// When the status last changed (for reaping).
    pub status_change: Instant,
}

/// Identifies a query started by this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryHandle(pub u64);

/// What a node needs to answer a query it received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryTicket {
    /// The query's Lamport time.
    pub ltime: u64,
    /// The query's id.
    pub id: u32,
    /// Where responses go.
    pub from_addr: SocketAddr,
    /// The querying node.
    pub from: String,
    /// Relay factor requested.
    pub relay_factor: u8,
    /// Responses after this are refused.
    pub deadline: Instant,
}

/// Parameters of a query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryParams {
    /// Only these nodes respond (empty: all).
    pub filter_nodes: Vec<String>,
    /// Only nodes whose tag matches each regular expression respond.
    pub filter_tags: BTreeMap<String, String>,
    /// Ask receivers to acknowledge receipt.
    pub request_ack: bool,
    /// Relay each response through this many other members too.
    pub relay_factor: u8,
    /// How long to collect responses; `None`: the default for the pool size.
    pub timeout: Option<Duration>,
}

/// How a name conflict about the local node was settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictOutcome {
    /// Most members see this node at its address: it keeps the name.
    Won,
    /// Most members see the other node: this node should stop.
    Lost,
    /// Not resolved (resolution off, no answers, or about another member).
    Reported,
}

/// What the Serf layer reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerfEvent {
    /// A member joined (or came back).
    MemberJoin(SerfMember),
    /// A member left.
    MemberLeave(SerfMember),
    /// A member failed.
    MemberFailed(SerfMember),
    /// A member's tags or address changed.
    MemberUpdate(SerfMember),
    /// A failed or left member was removed.
    MemberReap(SerfMember),
    /// A user event.
    User {
        /// Event Lamport time.
        ltime: u64,
        /// Name.
        name: String,
        /// Payload.
        payload: Vec<u8>,
        /// Whether it may have been coalesced.
        coalesce: bool,
    },
    /// A query this node should answer (with [`Serf::respond`]).
    Query {
        /// Name.
        name: String,
        /// Payload.
        payload: Vec<u8>,
        /// What [`Serf::respond`] needs.
        ticket: QueryTicket,
    },
    /// A node acknowledged a query of ours.
    QueryAck {
        /// Our query.
        handle: QueryHandle,
        /// The node.
        from: String,
    },
    /// A node answered a query of ours.
    QueryResponse {
        /// Our query.
        handle: QueryHandle,
        /// The node.
        from: String,
        /// Its answer.
        payload: Vec<u8>,
    },
    /// A query of ours timed out; nothing more will arrive for it.
    QueryDone {
        /// Our query.
        handle: QueryHandle,
    },
    /// A keyring operation of ours is over: every member answered, or
    /// its deadline passed.
    KeyringDone {
        /// Our query.
        handle: QueryHandle,
        /// The operation.
        op: KeyOp,
        /// What the members answered.
        report: KeyringReport,
    },
    /// Two nodes claim the same name.
    NameConflict {
        /// The name.
        name: String,
        /// The address known for it.
        addr: SocketAddr,
        /// The other claimant's address.
        other_addr: SocketAddr,
        /// How it was settled.
        outcome: ConflictOutcome,
    },
}

/// Errors of the Serf layer. None changes state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerfError {
    /// An argument is out of range; the message says which.
    InvalidArgument(String),
    /// Unknown member.
    NotFound(String),
    /// Too late: the query's deadline passed.
    Expired,
    /// The node has left.
    Left,
    /// Too many queries pending.
    TooManyQueries,
    /// From the SWIM core.
    Swim(SwimError),
}

impl std::fmt::Display for SerfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SerfError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            SerfError::NotFound(n) => write!(f, "no member named '{n}'"),
            SerfError::Expired => f.write_str("the query's deadline has passed"),
            SerfError::Left => f.write_str("the node has left the pool"),
            SerfError::TooManyQueries => f.write_str("too many queries pending"),
            SerfError::Swim(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SerfError {}

/// Events seen at one Lamport time: the time and each (name, payload).
type EventSlot = Option<(u64, Vec<(String, Vec<u8>)>)>;

#[derive(Debug)]
struct Intent {
    ltime: u64,
    leave: bool,
    received: Instant,
}

#[derive(Debug)]
struct PendingQuery {
    ltime: u64,
    id: u32,
    deadline: Instant,
    acks: BTreeSet<String>,
    responses: BTreeSet<String>,
    /// Most acks, and most responses, accepted.
    max_replies: usize,
    internal: Option<Internal>,
}

/// What a query started by the layer itself is for.
#[derive(Debug)]
enum Internal {
    Conflict(ConflictCheck),
    Keyring(keyring::KeyringTally),
}

#[derive(Debug)]
struct ConflictCheck {
    name: String,
    addr: SocketAddr,
    other_addr: SocketAddr,
    matching: usize,
    total: usize,
}

#[derive(Debug, Default)]
struct Coalesced {
    latest: BTreeMap<String, (u64, Vec<u8>)>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
}

/// The Serf core of one node in one pool, owning its SWIM core. Drive it
/// exactly like [`Swim`] (same inputs, same drain order).
pub struct Serf {
    config: SerfConfig,
    swim: Swim,
    rng: SmallRng,
    clock: LamportClock,
    event_clock: LamportClock,
    query_clock: LamportClock,
    members: HashMap<Arc<str>, SerfMember, BuildHasherDefault<FixedHasher>>,
    intents: BTreeMap<String, Intent>,
    event_buffer: Vec<EventSlot>,
    event_min_time: u64,
    query_buffer: Vec<Option<(u64, Vec<u32>)>>,
    queries: BTreeMap<u64, PendingQuery>,
    next_query: u64,
    events: VecDeque<SerfEvent>,
    next_reap: Instant,
    next_reconnect: Instant,
    coalesced: Coalesced,
    leaving: bool,
    join_ignore_old: Option<StreamToken>,
    ignore_old_pending: bool,
    announce_join: BTreeSet<StreamToken>,
    snapshot: Option<SnapshotLog>,
    coord: Option<CoordClient>,
    coordinates: HashMap<Arc<str>, Coordinate, BuildHasherDefault<FixedHasher>>,
    stats: SerfStats,
}

/// Records waiting for the runtime to append them to the snapshot file.
#[derive(Debug, Default)]
struct SnapshotLog {
    records: VecDeque<SnapshotRecord>,
    /// Clocks last recorded: membership, event, query.
    recorded: (u64, u64, u64),
    next_clock_record: Option<Instant>,
}

/// Clocks are recorded at most this often (events record theirs at once).
const CLOCK_RECORD_INTERVAL: Duration = Duration::from_secs(1);

/// Counters of the Serf layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SerfStats {
    /// Serf messages that could not be decoded.
    pub dropped_malformed: u64,
    /// Events older than the dedup window.
    pub events_too_old: u64,
    /// Duplicate events suppressed.
    pub events_duplicate: u64,
    /// Intents about unknown members dropped because `max_intents` were
    /// buffered.
    pub intents_dropped: u64,
    /// Events dropped because their Lamport time already held
    /// `max_per_ltime` others.
    pub events_slot_full: u64,
    /// Queries older than the dedup window.
    pub queries_too_old: u64,
    /// Queries dropped because their Lamport time already held
    /// `max_per_ltime` others.
    pub queries_slot_full: u64,
    /// Queries of this node refused at `max_pending_queries` (the layer's
    /// own, such as name-conflict votes, included).
    pub queries_refused: u64,
    /// Acks and responses dropped beyond a query's limit
    /// (`max_query_responses`, or the members known when it started).
    pub query_replies_dropped: u64,
    /// Reconnect attempts.
    pub reconnects: u64,
    /// Coordinates from acks that were refused (undecodable, invalid,
    /// another dimensionality, or a round-trip time out of range).
    pub coordinates_refused: u64,
}

impl Serf {
    /// Creates the node `name` advertising `addr` with `meta`; `seed` fixes
    /// every random choice; timers start at `now`.
    pub fn new(
        config: SerfConfig,
        name: &str,
        addr: SocketAddr,
        meta: Vec<u8>,
        seed: u64,
        now: Instant,
    ) -> Result<Serf, SerfError> {
        config.validate().map_err(SerfError::InvalidArgument)?;
        let mut swim = Swim::new(config.swim.clone(), name, addr, meta.clone(), seed, now)
            .map_err(SerfError::Swim)?;
        swim.set_user_state_on_demand(true);
        let mut serf = Serf {
            rng: SmallRng::seed_from_u64(seed ^ 0x5e7f_5e7f_5e7f_5e7f),
            clock: LamportClock::default(),
            event_clock: LamportClock::default(),
            query_clock: LamportClock::default(),
            members: HashMap::default(),
            intents: BTreeMap::new(),
            event_buffer: vec![None; config.event_buffer],
            event_min_time: 0,
            query_buffer: vec![None; config.query_buffer],
            queries: BTreeMap::new(),
            next_query: 0,
            events: VecDeque::new(),
            next_reap: now + config.reap_interval,
            next_reconnect: now + config.reconnect_interval,
            coalesced: Coalesced::default(),
            leaving: false,
            join_ignore_old: None,
            ignore_old_pending: false,
            announce_join: BTreeSet::new(),
            snapshot: None,
            coord: None,
            coordinates: HashMap::default(),
            stats: SerfStats::default(),
            swim,
            config,
        };
        let ltime = serf.clock.increment();
        // Lamport time 0 means "none" in the C ABI (hearsay_event_ltime of
        // a member event): events and queries start at 1.
        serf.event_clock.advance_to(1);
        serf.query_clock.advance_to(1);
        let name: Arc<str> = name.into();
        serf.members.insert(
            name.clone(),
            SerfMember {
                name: name.clone(),
                addr,
                meta,
                status: Status::Alive,
                status_ltime: ltime,
                status_change: now,
            },
        );
        if let Some(config) = serf.config.coordinates.clone() {
            let client = CoordClient::new(config, seed ^ 0xc00d_c00d)
                .map_err(|e| SerfError::InvalidArgument(e.to_string()))?;
            serf.swim
                .set_ack_payload(encode_coordinate(client.coordinate()));
            serf.coord = Some(client);
        }
        // Swim reports the local node's own join: nothing to do for it.
        serf.drain_swim(now);
        serf.events.clear();
        Ok(serf)
    }

    /// Restores clocks saved in a snapshot: the clocks continue from them
    /// and no event older than `event_ltime` is delivered again.
    /// Clock times are "next time" values ([`LamportClock::time`]): every
    /// event delivered had a Lamport time below `event_ltime`.
    pub fn restore_clocks(&mut self, ltime: u64, event_ltime: u64, query_ltime: u64) {
        self.clock.advance_to(ltime);
        self.event_clock.advance_to(event_ltime);
        self.query_clock.advance_to(query_ltime);
        self.event_min_time = self.event_min_time.max(event_ltime);
    }

    /// Starts producing snapshot records (see
    /// [`poll_snapshot_record`](Serf::poll_snapshot_record)).
    pub fn enable_snapshot(&mut self) {
        let mut log = SnapshotLog::default();
        for m in self.members.values() {
            if *m.name != *self.name() && m.status == Status::Alive {
                log.records.push_back(SnapshotRecord::Alive {
                    name: m.name.to_string(),
                    addr: m.addr,
                });
            }
        }
        self.snapshot = Some(log);
    }

    /// Restores a snapshot: clocks continue past the saved ones, no old
    /// event is delivered again, and unless the node had left it rejoins the
    /// members it knew (their outcome arrives through
    /// [`handle_stream_reply`](Serf::handle_stream_reply)). Returns how many
    /// rejoins were started.
    pub fn restore(&mut self, now: Instant, state: &SnapshotState) -> usize {
        self.restore_clocks(state.clock, state.event_clock, state.query_clock);
        if state.left {
            return 0;
        }
        let mut started = 0;
        for (name, addr) in &state.alive {
            if name.as_str() != self.name() && *addr != self.swim.addr() {
                self.join_quietly(now, *addr);
                started += 1;
            }
        }
        started
    }

    /// The next record to append to the snapshot file, in order. Write each
    /// before delivering the events polled after it.
    pub fn poll_snapshot_record(&mut self) -> Option<SnapshotRecord> {
        self.snapshot.as_mut()?.records.pop_front()
    }

    fn record(&mut self, record: SnapshotRecord) {
        if let Some(log) = &mut self.snapshot {
            log.records.push_back(record);
        }
    }

    fn record_clocks(&mut self, now: Instant, force: bool) {
        let clocks = (
            self.clock.time(),
            self.event_clock.time(),
            self.query_clock.time(),
        );
        let Some(log) = &mut self.snapshot else {
            return;
        };
        if clocks == log.recorded || (!force && log.next_clock_record.is_some_and(|t| now < t)) {
            return;
        }
        if clocks.0 != log.recorded.0 {
            log.records.push_back(SnapshotRecord::Clock(clocks.0));
        }
        if clocks.1 != log.recorded.1 {
            log.records.push_back(SnapshotRecord::EventClock(clocks.1));
        }
        if clocks.2 != log.recorded.2 {
            log.records.push_back(SnapshotRecord::QueryClock(clocks.2));
        }
        log.recorded = clocks;
        log.next_clock_record = Some(now + CLOCK_RECORD_INTERVAL);
    }

    // ----- getters -----

    /// The SWIM core.
    pub fn swim(&self) -> &Swim {
        &self.swim
    }

    /// The settings.
    pub fn config(&self) -> &SerfConfig {
        &self.config
    }

    /// The local node's name.
    pub fn name(&self) -> &str {
        self.swim.name()
    }

    /// Every member known, the local node included.
    pub fn members(&self) -> impl Iterator<Item = &SerfMember> {
        self.members.values()
    }

    /// One member.
    pub fn member(&self, name: &str) -> Option<&SerfMember> {
        self.members.get(name)
    }

    /// Membership clock.
    pub fn clock(&self) -> u64 {
        self.clock.time()
    }

    /// Event clock.
    pub fn event_clock(&self) -> u64 {
        self.event_clock.time()
    }

    /// Query clock.
    pub fn query_clock(&self) -> u64 {
        self.query_clock.time()
    }

    /// Counters.
    pub fn stats(&self) -> &SerfStats {
        &self.stats
    }

    /// The default query timeout for the current pool size: gossip interval
    /// × `query_timeout_mult` × ceil(log10(N + 1)).
    pub fn default_query_timeout(&self) -> Duration {
        let n = self.alive_count() as f64;
        let scale = ((n + 1.0).log10().ceil() as u32).max(1);
        self.config.swim.gossip_interval * self.config.query_timeout_mult * scale
    }

    fn alive_count(&self) -> usize {
        self.members
            .values()
            .filter(|m| matches!(m.status, Status::Alive | Status::Leaving))
            .count()
    }

    // ----- commands -----

    /// Joins through `addr`; with `ignore_old_events`, events sent before
    /// the join are not delivered.
    pub fn join(&mut self, now: Instant, addr: SocketAddr, ignore_old_events: bool) -> StreamToken {
        let token = self.join_quietly(now, addr);
        self.announce_join.insert(token);
        if ignore_old_events {
            self.join_ignore_old = Some(token);
        }
        token
    }

    /// A join that announces nothing (reconnecting to a failed member).
    fn join_quietly(&mut self, now: Instant, addr: SocketAddr) -> StreamToken {
        self.refresh_user_state();
        self.swim.join(now, addr)
    }

    /// Sends a user event to every member (this one included).
    pub fn send_event(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<(), SerfError> {
        if name.is_empty() || name.len() > crate::wire::serf::MAX_EVENT_NAME_LEN {
            return Err(SerfError::InvalidArgument(
                "event name must be 1 to 128 bytes".into(),
            ));
        }
        let event = UserEvent {
            ltime: self.event_clock.time(),
            name: name.to_owned(),
            payload: payload.to_vec(),
            coalesce,
        };
        let size = SerfMessage::Event(event.clone()).encode().len();
        if size > self.config.max_user_event_size {
            return Err(SerfError::InvalidArgument(format!(
                "user event is {size} bytes encoded, the limit is {} (max_user_event_size)",
                self.config.max_user_event_size
            )));
        }
        if self.leaving {
            return Err(SerfError::Left);
        }
        self.event_clock.increment();
        if self.handle_user_event(now, event.clone()) {
            self.broadcast(None, SerfMessage::Event(event));
        }
        Ok(())
    }

    /// Starts a query; acks, responses and the end arrive as events with the
    /// returned handle.
    pub fn query(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        params: QueryParams,
    ) -> Result<QueryHandle, SerfError> {
        if name.is_empty() || name.len() > crate::wire::serf::MAX_EVENT_NAME_LEN {
            return Err(SerfError::InvalidArgument(
                "query name must be 1 to 128 bytes".into(),
            ));
        }
        for pattern in params.filter_tags.values() {
            regex::Regex::new(pattern).map_err(|e| {
                SerfError::InvalidArgument(format!(
                    "tag filter '{pattern}' is not a regular expression: {e}"
                ))
            })?;
        }
        self.start_query(now, name, payload, params, None)
    }

    fn start_query(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        params: QueryParams,
        internal: Option<Internal>,
    ) -> Result<QueryHandle, SerfError> {
        if self.queries.len() >= self.config.max_pending_queries {
            self.stats.queries_refused += 1;
            return Err(SerfError::TooManyQueries);
        }
        let timeout = params
            .timeout
            .unwrap_or_else(|| self.default_query_timeout());
        let query = Query {
            ltime: self.query_clock.time(),
            id: self.rng.random(),
            from_addr: WireAddr(self.swim.addr()),
            from: self.name().to_owned(),
            filter_nodes: params.filter_nodes,
            filter_tags: params.filter_tags,
            ack: params.request_ack,
            relay_factor: params.relay_factor,
            timeout_ms: timeout.as_millis().min(u32::MAX as u128) as u32,
            name: name.to_owned(),
            payload: payload.to_vec(),
        };
        let size = SerfMessage::Query(query.clone()).encode().len();
        if size > self.config.max_query_size {
            return Err(SerfError::InvalidArgument(format!(
                "query is {size} bytes encoded, the limit is {} (max_query_size)",
                self.config.max_query_size
            )));
        }
        self.query_clock.increment();
        self.next_query += 1;
        let handle = QueryHandle(self.next_query);
        self.queries.insert(
            handle.0,
            PendingQuery {
                ltime: query.ltime,
                id: query.id,
                deadline: now + timeout,
                acks: BTreeSet::new(),
                responses: BTreeSet::new(),
                max_replies: self.config.max_query_responses.min(self.members.len()),
                internal,
            },
        );
        if self.handle_query(now, query.clone()) {
            self.broadcast(None, SerfMessage::Query(query));
        }
        Ok(handle)
    }

    /// Starts a keyring operation across the pool (`key` is ignored by
    /// [`KeyOp::List`]); the outcome arrives as [`SerfEvent::KeyringDone`].
    /// Removing the local primary key is refused at once.
    pub fn keyring_op(
        &mut self,
        now: Instant,
        op: KeyOp,
        key: Option<&SecretKey>,
        timeout: Option<Duration>,
    ) -> Result<QueryHandle, SerfError> {
        let payload = match (op, key) {
            (KeyOp::List, _) => Vec::new(),
            (_, None) => {
                return Err(SerfError::InvalidArgument(format!(
                    "keyring {} needs a key",
                    op.name()
                )))
            }
            (KeyOp::Remove, Some(key)) if self.swim.keyring().primary() == Some(key) => {
                return Err(SerfError::InvalidArgument(
                    crate::wire::KeyError::RemovePrimary.to_string(),
                ))
            }
            (_, Some(key)) => keyring::request(key),
        };
        let members = self
            .members
            .values()
            .filter(|m| m.status == Status::Alive)
            .count();
        let tally = keyring::KeyringTally {
            op,
            report: KeyringReport {
                members,
                ..KeyringReport::default()
            },
        };
        let params = QueryParams {
            timeout,
            ..QueryParams::default()
        };
        self.start_query(
            now,
            op.query_name(),
            &payload,
            params,
            Some(Internal::Keyring(tally)),
        )
    }

    /// The local gossip encryption keys (empty: encryption off).
    pub fn keyring(&self) -> &crate::wire::Keyring {
        self.swim.keyring()
    }

    /// Changes the local keys only (see [`Serf::keyring_op`] for the pool).
    pub fn keyring_mut(&mut self) -> &mut crate::wire::Keyring {
        self.swim.keyring_mut()
    }

    /// Whether plaintext is refused and what is sent encrypted, when keys
    /// are installed: the steps of a migration to encryption.
    pub fn set_encryption_policy(&mut self, verify_incoming: bool, verify_outgoing: bool) {
        self.swim
            .set_encryption_policy(verify_incoming, verify_outgoing);
    }

    /// Seeds the generator of encryption nonces (from the operating system
    /// in the runtime).
    pub fn reseed_nonces(&mut self, seed: [u8; 32]) {
        self.swim.reseed_nonces(seed);
    }

    /// Answers a query received as [`SerfEvent::Query`].
    pub fn respond(
        &mut self,
        now: Instant,
        ticket: &QueryTicket,
        payload: &[u8],
    ) -> Result<(), SerfError> {
        if now > ticket.deadline {
            return Err(SerfError::Expired);
        }
        if payload.len() > self.config.max_query_response_size {
            return Err(SerfError::InvalidArgument(format!(
                "response is {} bytes, the limit is {} (max_query_response_size)",
                payload.len(),
                self.config.max_query_response_size
            )));
        }
        self.send_response(
            now,
            ticket,
            QueryResponse {
                ltime: ticket.ltime,
                id: ticket.id,
                from: self.name().to_owned(),
                ack: false,
                payload: payload.to_vec(),
            },
        );
        Ok(())
    }

    fn send_response(&mut self, now: Instant, ticket: &QueryTicket, response: QueryResponse) {
        let message = SerfMessage::Response(response);
        if ticket.from_addr == self.swim.addr() {
            self.handle_message(now, ticket.from_addr, message);
            return;
        }
        self.swim
            .send_user_message(ticket.from_addr, message.encode());
        if ticket.relay_factor > 0 {
            let local = self.name().to_owned();
            let candidates: Vec<SocketAddr> = self
                .members
                .values()
                .filter(|m| {
                    m.status == Status::Alive && *m.name != *local && *m.name != *ticket.from
                })
                .map(|m| m.addr)
                .collect();
            for _ in 0..(ticket.relay_factor as usize).min(candidates.len()) {
                let via = candidates[self.rng.random_range(0..candidates.len())];
                let relay = SerfMessage::Relay(Relay {
                    to: WireAddr(ticket.from_addr),
                    message: Box::new(message.clone()),
                });
                self.swim.send_user_message(via, relay.encode());
            }
        }
    }

    /// Replaces the local tags (node meta); every member sees an update.
    pub fn set_meta(&mut self, now: Instant, meta: Vec<u8>) -> Result<(), SerfError> {
        self.swim.set_meta(now, meta.clone()).map_err(|e| match e {
            SwimError::InvalidArgument(m) => SerfError::InvalidArgument(m),
            e => SerfError::Swim(e),
        })?;
        let name: Arc<str> = self.name().into();
        if let Some(m) = self.members.get_mut(&name) {
            m.meta = meta;
        }
        Ok(())
    }

    /// Leaves gracefully: a leave intent, then SWIM's leave. Poll
    /// [`leave_state`](Serf::leave_state).
    pub fn leave(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        let ltime = self.clock.increment();
        let name = self.name().to_owned();
        let intent = LeaveIntent {
            ltime,
            node: name.clone(),
            prune: false,
        };
        if let Some(m) = self.members.get_mut(name.as_str()) {
            m.status = Status::Leaving;
            m.status_ltime = ltime;
            m.status_change = now;
        }
        self.broadcast(Some(intent_subject(&name)), SerfMessage::Leave(intent));
        self.record(SnapshotRecord::Leave);
        self.swim.leave(now);
        self.drain_swim(now);
    }

    /// Progress of a graceful leave.
    pub fn leave_state(&self) -> LeaveState {
        let swim = self.swim.leave_state();
        if swim == LeaveState::Left && self.swim.queued_broadcasts() > 0 && self.alive_count() > 1 {
            return LeaveState::Leaving;
        }
        swim
    }

    /// Forces a failed member out: it becomes left everywhere (and with
    /// `prune`, is removed at once).
    pub fn force_leave(&mut self, now: Instant, name: &str, prune: bool) -> Result<(), SerfError> {
        if !self.members.contains_key(name) {
            return Err(SerfError::NotFound(name.to_owned()));
        }
        if name == self.name() {
            return Err(SerfError::InvalidArgument(
                "cannot force the local node to leave; use leave".into(),
            ));
        }
        let intent = LeaveIntent {
            ltime: self.clock.increment(),
            node: name.to_owned(),
            prune,
        };
        if self.handle_leave_intent(now, &intent) {
            self.broadcast(Some(intent_subject(name)), SerfMessage::Leave(intent));
        }
        Ok(())
    }

    // ----- inputs -----

    /// See [`Swim::handle_packet`].
    pub fn handle_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), SwimError> {
        let r = self.swim.handle_packet(now, from, bytes);
        self.drain_swim(now);
        r
    }

    /// See [`Swim::handle_stream`].
    pub fn handle_stream(
        &mut self,
        now: Instant,
        from: SocketAddr,
        frame: &[u8],
    ) -> Result<Option<Vec<u8>>, SwimError> {
        self.refresh_user_state();
        let r = self.swim.handle_stream(now, from, frame);
        self.drain_swim(now);
        r
    }

    /// See [`Swim::handle_stream_reply`].
    pub fn handle_stream_reply(
        &mut self,
        now: Instant,
        token: StreamToken,
        reply: Result<&[u8], StreamError>,
    ) -> Result<(), SwimError> {
        let ignore_old = self.join_ignore_old == Some(token);
        if ignore_old {
            self.join_ignore_old = None;
            self.ignore_old_pending = true;
        }
        let r = self.swim.handle_stream_reply(now, token, reply);
        self.drain_swim(now);
        self.ignore_old_pending = false;
        if self.announce_join.remove(&token) && r.is_ok() && !self.leaving {
            // Announce the join with a time past everything the exchange
            // showed us, so that no older leave intent can win over it.
            let ltime = self.clock.increment();
            let name = self.name().to_owned();
            if let Some(m) = self.members.get_mut(name.as_str()) {
                m.status_ltime = ltime;
            }
            self.broadcast(
                Some(intent_subject(&name)),
                SerfMessage::Join(JoinIntent { ltime, node: name }),
            );
        }
        r
    }

    /// See [`Swim::handle_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.swim.handle_timeout(now);
        if let Some(addr) = self.swim.take_due_push_pull() {
            self.refresh_user_state();
            self.swim.push_pull(now, addr);
        }
        if now >= self.next_reap {
            self.next_reap = now + self.config.reap_interval;
            self.reap(now);
        }
        if now >= self.next_reconnect {
            self.next_reconnect = now + self.config.reconnect_interval;
            self.reconnect(now);
        }
        self.expire_queries(now);
        self.flush_coalesced(now, false);
        self.drain_swim(now);
        self.record_clocks(now, false);
    }

    // ----- outputs -----

    /// See [`Swim::poll_transmit`].
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.swim.poll_transmit()
    }

    /// The earliest deadline of SWIM and of this layer.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.next_reap.min(self.next_reconnect);
        if let Some(t) = self.swim.poll_timeout() {
            next = next.min(t);
        }
        if let Some(q) = self.queries.values().map(|q| q.deadline).min() {
            next = next.min(q);
        }
        if let Some(t) = self.coalesce_deadline() {
            next = next.min(t);
        }
        Some(next)
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SerfEvent> {
        self.events.pop_front()
    }

    // ----- internals -----

    fn broadcast(&mut self, subject: Option<Arc<str>>, message: SerfMessage) {
        self.swim.queue_user_broadcast(subject, message.encode());
    }

    fn refresh_user_state(&mut self) {
        let state = SerfPushPull {
            ltime: self.clock.time(),
            status_ltimes: self
                .members
                .values()
                .map(|m| (m.name.to_string(), m.status_ltime))
                .collect(),
            left_members: self
                .members
                .values()
                .filter(|m| m.status == Status::Left)
                .map(|m| m.name.to_string())
                .collect(),
            event_ltime: self.event_clock.time(),
            events: self
                .event_buffer
                .iter()
                .flatten()
                .flat_map(|(ltime, events)| {
                    events.iter().map(|(name, payload)| UserEvent {
                        ltime: *ltime,
                        name: name.clone(),
                        payload: payload.clone(),
                        coalesce: false,
                    })
                })
                .collect(),
            query_ltime: self.query_clock.time(),
        };
        self.swim.set_user_state(state.encode());
    }

    fn drain_swim(&mut self, now: Instant) {
        while let Some(event) = self.swim.poll_event() {
            match event {
                SwimEvent::MemberJoined(m) => self.member_joined(now, m),
                SwimEvent::MemberUpdated(m) => {
                    if let Some(member) = self.members.get_mut(&*m.name) {
                        member.addr = m.addr;
                        member.meta = m.meta.clone();
                        let snapshot = member.clone();
                        self.events.push_back(SerfEvent::MemberUpdate(snapshot));
                    }
                }
                SwimEvent::MemberFailed(m) | SwimEvent::MemberLeft(m) => self.member_down(now, m),
                SwimEvent::NameConflict {
                    existing,
                    other_addr,
                } => self.name_conflict(now, existing, other_addr),
                SwimEvent::UserMessage { from, payload } => match SerfMessage::decode(&payload) {
                    Ok(message) => self.handle_message(now, from, message),
                    Err(_) => self.stats.dropped_malformed += 1,
                },
                SwimEvent::RemoteUserState { join, payload } => {
                    match SerfPushPull::decode(&payload) {
                        Ok(state) => self.merge_remote_state(now, join, state),
                        Err(_) => self.stats.dropped_malformed += 1,
                    }
                }
                SwimEvent::ProbeAcked { name, rtt, payload } => {
                    self.observe_rtt(name, rtt, &payload)
                }
            }
        }
    }

    fn observe_rtt(&mut self, name: Arc<str>, rtt: Duration, payload: &[u8]) {
        let Some(client) = &mut self.coord else {
            return;
        };
        let Ok(coordinate) = ciborium::from_reader::<Coordinate, _>(payload) else {
            self.stats.coordinates_refused += 1;
            return;
        };
        if client.update(&name, &coordinate, rtt).is_err() {
            self.stats.coordinates_refused += 1;
            return;
        }
        let local = encode_coordinate(client.coordinate());
        self.swim.set_ack_payload(local);
        self.coordinates.insert(name, coordinate);
    }

    /// The local node's network coordinate (`None` with coordinates off).
    pub fn coordinate(&self) -> Option<&Coordinate> {
        self.coord.as_ref().map(|c| c.coordinate())
    }

    /// Replaces the local coordinate (restoring a saved one, or placing a
    /// node in a test); refused when invalid or of another dimensionality.
    pub fn set_coordinate(&mut self, coordinate: Coordinate) -> Result<(), SerfError> {
        let client = self
            .coord
            .as_mut()
            .ok_or_else(|| SerfError::InvalidArgument("coordinates are off".into()))?;
        client
            .set_coordinate(coordinate)
            .map_err(|e| SerfError::InvalidArgument(e.to_string()))?;
        let local = encode_coordinate(client.coordinate());
        self.swim.set_ack_payload(local);
        Ok(())
    }

    /// The latest coordinate of a member (the local node's own for its
    /// name), if known.
    pub fn member_coordinate(&self, name: &str) -> Option<&Coordinate> {
        if name == self.name() {
            return self.coordinate();
        }
        self.coordinates.get(name)
    }

    /// Estimated round-trip time between two members (either may be the
    /// local node), from their coordinates.
    pub fn estimated_rtt(&self, a: &str, b: &str) -> Option<Duration> {
        if a == b {
            // A node is no distance from itself, whatever its height.
            return self.member_coordinate(a).map(|_| Duration::ZERO);
        }
        let a = self.member_coordinate(a)?;
        let b = self.member_coordinate(b)?;
        a.distance_to(b).ok()
    }

    /// Members sorted by estimated round-trip time from `from` (Consul's
    /// `?near=`); members without a usable coordinate come last, by name.
    pub fn members_by_rtt(&self, from: &str) -> Vec<(Arc<str>, Option<Duration>)> {
        let mut out: Vec<(Arc<str>, Option<Duration>)> = self
            .members
            .values()
            .map(|m| (m.name.clone(), self.estimated_rtt(from, &m.name)))
            .collect();
        out.sort_by(|a, b| match (a.1, b.1) {
            (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.0.cmp(&b.0)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.0.cmp(&b.0),
        });
        out
    }

    fn member_joined(&mut self, now: Instant, m: MemberSnapshot) {
        let intent = self.intents.remove(&*m.name);
        let member = self
            .members
            .entry(m.name.clone())
            .or_insert_with(|| SerfMember {
                name: m.name.clone(),
                addr: m.addr,
                meta: m.meta.clone(),
                status: Status::Alive,
                status_ltime: 0,
                status_change: now,
            });
        member.addr = m.addr;
        member.meta = m.meta;
        member.status = Status::Alive;
        member.status_change = now;
        if let Some(intent) = intent {
            if intent.ltime > member.status_ltime {
                member.status_ltime = intent.ltime;
                if intent.leave {
                    member.status = Status::Leaving;
                }
            }
        }
        let snapshot = member.clone();
        if *snapshot.name != *self.swim.name() {
            self.record(SnapshotRecord::Alive {
                name: snapshot.name.to_string(),
                addr: snapshot.addr,
            });
        }
        self.events.push_back(SerfEvent::MemberJoin(snapshot));
    }

    fn member_down(&mut self, now: Instant, m: MemberSnapshot) {
        let Some(member) = self.members.get_mut(&*m.name) else {
            return;
        };
        let left = m.state == MemberState::Left || member.status == Status::Leaving;
        if matches!(member.status, Status::Left | Status::Failed) && !left {
            return;
        }
        member.status = if left { Status::Left } else { Status::Failed };
        member.status_change = now;
        let snapshot = member.clone();
        self.record(SnapshotRecord::NotAlive {
            name: snapshot.name.to_string(),
        });
        self.events.push_back(if left {
            SerfEvent::MemberLeave(snapshot)
        } else {
            SerfEvent::MemberFailed(snapshot)
        });
    }

    fn handle_message(&mut self, now: Instant, from: SocketAddr, message: SerfMessage) {
        match message {
            SerfMessage::Join(intent) => {
                if self.handle_join_intent(now, &intent) {
                    let subject = intent_subject(&intent.node);
                    self.broadcast(Some(subject), SerfMessage::Join(intent));
                }
            }
            SerfMessage::Leave(intent) => {
                if self.handle_leave_intent(now, &intent) {
                    let subject = intent_subject(&intent.node);
                    self.broadcast(Some(subject), SerfMessage::Leave(intent));
                }
            }
            SerfMessage::Event(event) => {
                if self.handle_user_event(now, event.clone()) {
                    self.broadcast(None, SerfMessage::Event(event));
                }
            }
            SerfMessage::Query(query) => {
                if self.handle_query(now, query.clone()) {
                    self.broadcast(None, SerfMessage::Query(query));
                }
            }
            SerfMessage::Response(response) => self.handle_response(now, response),
            SerfMessage::Relay(relay) => {
                let _ = from;
                self.swim
                    .send_user_message(relay.to.0, relay.message.encode());
            }
        }
    }

    fn buffer_intent(&mut self, now: Instant, node: &str, ltime: u64, leave: bool) -> bool {
        if let Some(existing) = self.intents.get_mut(node) {
            if ltime <= existing.ltime {
                return false;
            }
            *existing = Intent {
                ltime,
                leave,
                received: now,
            };
            return true;
        }
        if self.intents.len() >= self.config.max_intents {
            self.stats.intents_dropped += 1;
            return false;
        }
        self.intents.insert(
            node.to_owned(),
            Intent {
                ltime,
                leave,
                received: now,
            },
        );
        true
    }

    fn handle_join_intent(&mut self, now: Instant, intent: &JoinIntent) -> bool {
        self.clock.witness(intent.ltime);
        let Some(member) = self.members.get_mut(intent.node.as_str()) else {
            return self.buffer_intent(now, &intent.node, intent.ltime, false);
        };
        if intent.ltime <= member.status_ltime {
            return false;
        }
        member.status_ltime = intent.ltime;
        if member.status == Status::Leaving {
            member.status = Status::Alive;
        }
        true
    }

    fn handle_leave_intent(&mut self, now: Instant, intent: &LeaveIntent) -> bool {
        self.clock.witness(intent.ltime);
        let local = intent.node == self.name();
        let Some(member) = self.members.get_mut(intent.node.as_str()) else {
            return self.buffer_intent(now, &intent.node, intent.ltime, true);
        };
        if intent.ltime <= member.status_ltime {
            return false;
        }
        if local && !self.leaving {
            // A stale or forged leave about us: refute with a newer join intent.
            let ltime = self.clock.increment();
            member.status_ltime = ltime;
            let name = intent.node.clone();
            self.broadcast(
                Some(intent_subject(&name)),
                SerfMessage::Join(JoinIntent { ltime, node: name }),
            );
            return false;
        }
        member.status_ltime = intent.ltime;
        let rebroadcast = match member.status {
            Status::Alive => {
                member.status = Status::Leaving;
                member.status_change = now;
                true
            }
            Status::Failed => {
                member.status = Status::Left;
                member.status_change = now;
                let snapshot = member.clone();
                self.events.push_back(SerfEvent::MemberLeave(snapshot));
                true
            }
            Status::Leaving | Status::Left => true,
        };
        if intent.prune {
            self.prune(&intent.node);
        }
        rebroadcast
    }

    fn prune(&mut self, name: &str) {
        if name == self.name() {
            return;
        }
        if let Some(member) = self.members.remove(name) {
            self.swim.forget(name);
            self.coordinates.remove(name);
            if let Some(client) = &mut self.coord {
                client.forget(name);
            }
            self.events.push_back(SerfEvent::MemberReap(member));
        }
    }

    fn handle_user_event(&mut self, now: Instant, event: UserEvent) -> bool {
        self.event_clock.witness(event.ltime);
        if event.ltime < self.event_min_time {
            self.stats.events_too_old += 1;
            return false;
        }
        let window = self.event_buffer.len() as u64;
        let current = self.event_clock.time();
        if current > window && event.ltime < current - window {
            self.stats.events_too_old += 1;
            return false;
        }
        let slot = &mut self.event_buffer[(event.ltime % window) as usize];
        match slot {
            Some((ltime, seen)) if *ltime == event.ltime => {
                if seen
                    .iter()
                    .any(|(n, p)| *n == event.name && *p == event.payload)
                {
                    self.stats.events_duplicate += 1;
                    return false;
                }
                // Not remembered means not deduplicated: drop rather than
                // deliver it again with every copy.
                if seen.len() >= self.config.max_per_ltime {
                    self.stats.events_slot_full += 1;
                    return false;
                }
                seen.push((event.name.clone(), event.payload.clone()));
            }
            _ => {
                *slot = Some((
                    event.ltime,
                    vec![(event.name.clone(), event.payload.clone())],
                ))
            }
        }
        if event.coalesce && !self.config.coalesce_period.is_zero() {
            let latest = self
                .coalesced
                .latest
                .entry(event.name.clone())
                .or_insert((0, Vec::new()));
            if event.ltime >= latest.0 {
                *latest = (event.ltime, event.payload.clone());
            }
            self.coalesced.first_at.get_or_insert(now);
            self.coalesced.last_at = Some(now);
        } else {
            // Write-ahead: the clock that covers this event is recorded
            // before the event is delivered.
            self.record_clocks(now, true);
            self.events.push_back(SerfEvent::User {
                ltime: event.ltime,
                name: event.name,
                payload: event.payload,
                coalesce: event.coalesce,
            });
        }
        true
    }

    fn coalesce_deadline(&self) -> Option<Instant> {
        let first = self.coalesced.first_at?;
        let last = self.coalesced.last_at?;
        Some((first + self.config.coalesce_period).min(last + self.config.quiescent_period))
    }

    fn flush_coalesced(&mut self, now: Instant, force: bool) {
        let Some(deadline) = self.coalesce_deadline() else {
            return;
        };
        if !force && now < deadline {
            return;
        }
        let latest = std::mem::take(&mut self.coalesced.latest);
        self.coalesced.first_at = None;
        self.coalesced.last_at = None;
        self.record_clocks(now, true);
        for (name, (ltime, payload)) in latest {
            self.events.push_back(SerfEvent::User {
                ltime,
                name,
                payload,
                coalesce: true,
            });
        }
    }

    fn handle_query(&mut self, now: Instant, query: Query) -> bool {
        self.query_clock.witness(query.ltime);
        let window = self.query_buffer.len() as u64;
        let current = self.query_clock.time();
        if current > window && query.ltime < current - window {
            self.stats.queries_too_old += 1;
            return false;
        }
        let slot = &mut self.query_buffer[(query.ltime % window) as usize];
        match slot {
            Some((ltime, ids)) if *ltime == query.ltime => {
                if ids.contains(&query.id) {
                    return false;
                }
                if ids.len() >= self.config.max_per_ltime {
                    self.stats.queries_slot_full += 1;
                    return false;
                }
                ids.push(query.id);
            }
            _ => *slot = Some((query.ltime, vec![query.id])),
        }
        if !self.query_matches(&query) {
            return true;
        }
        let ticket = QueryTicket {
            ltime: query.ltime,
            id: query.id,
            from_addr: query.from_addr.0,
            from: query.from.clone(),
            relay_factor: query.relay_factor,
            deadline: now + Duration::from_millis(query.timeout_ms as u64),
        };
        if query.ack {
            let ack = QueryResponse {
                ltime: query.ltime,
                id: query.id,
                from: self.name().to_owned(),
                ack: true,
                payload: Vec::new(),
            };
            self.send_response(now, &ticket, ack);
        }
        if let Some(op) = KeyOp::from_query_name(&query.name) {
            let answer = keyring::apply(op, &query.payload, self.swim.keyring_mut());
            let response = QueryResponse {
                ltime: query.ltime,
                id: query.id,
                from: self.name().to_owned(),
                ack: false,
                payload: answer.encode(),
            };
            self.send_response(now, &ticket, response);
        } else if query.name == CONFLICT_QUERY {
            // Answer with the address this node knows for the name.
            let name = String::from_utf8_lossy(&query.payload).into_owned();
            if let Some(m) = self.members.get(name.as_str()) {
                let mut payload = Vec::new();
                ciborium::into_writer(&WireAddr(m.addr), &mut payload)
                    .expect("invariant: writing CBOR to a Vec cannot fail");
                let _ = self.respond(now, &ticket, &payload);
            }
        } else if !query.name.starts_with(INTERNAL_QUERY_PREFIX) {
            self.events.push_back(SerfEvent::Query {
                name: query.name,
                payload: query.payload,
                ticket,
            });
        }
        true
    }

    fn query_matches(&self, query: &Query) -> bool {
        if !query.filter_nodes.is_empty() && !query.filter_nodes.iter().any(|n| n == self.name()) {
            return false;
        }
        if query.filter_tags.is_empty() {
            return true;
        }
        let tags = tags::decode(
            self.members
                .get(self.name())
                .map(|m| m.meta.as_slice())
                .unwrap_or_default(),
        );
        query.filter_tags.iter().all(|(tag, pattern)| {
            let Some(value) = tags.get(tag) else {
                return false;
            };
            regex::Regex::new(pattern).is_ok_and(|re| re.is_match(value))
        })
    }

    fn handle_response(&mut self, _now: Instant, response: QueryResponse) {
        let Some((&handle, pending)) = self
            .queries
            .iter_mut()
            .find(|(_, q)| q.ltime == response.ltime && q.id == response.id)
        else {
            return;
        };
        // Forged names could otherwise grow these sets, and the runtime's
        // channel of replies behind them, without bound.
        let seen = if response.ack {
            &mut pending.acks
        } else {
            &mut pending.responses
        };
        if seen.contains(&response.from) {
            return;
        }
        if seen.len() >= pending.max_replies {
            self.stats.query_replies_dropped += 1;
            return;
        }
        seen.insert(response.from.clone());
        if response.ack {
            if pending.internal.is_none() {
                self.events.push_back(SerfEvent::QueryAck {
                    handle: QueryHandle(handle),
                    from: response.from,
                });
            }
            return;
        }
        if let Some(Internal::Keyring(tally)) = &mut pending.internal {
            tally.report.add(&response.from, &response.payload);
            if tally.report.responses >= tally.report.members {
                let query = self.queries.remove(&handle).expect("invariant: just found");
                self.finish_internal(QueryHandle(handle), query.internal);
            }
            return;
        }
        if let Some(Internal::Conflict(check)) = &mut pending.internal {
            check.total += 1;
            if let Ok(addr) = ciborium::from_reader::<WireAddr, _>(response.payload.as_slice()) {
                if addr.0 == check.addr {
                    check.matching += 1;
                }
            }
            return;
        }
        self.events.push_back(SerfEvent::QueryResponse {
            handle: QueryHandle(handle),
            from: response.from,
            payload: response.payload,
        });
    }

    fn expire_queries(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .queries
            .iter()
            .filter(|(_, q)| q.deadline <= now)
            .map(|(&h, _)| h)
            .collect();
        for handle in expired {
            let query = self
                .queries
                .remove(&handle)
                .expect("invariant: just listed");
            self.finish_internal(QueryHandle(handle), query.internal);
        }
    }

    fn finish_internal(&mut self, handle: QueryHandle, internal: Option<Internal>) {
        match internal {
            Some(Internal::Keyring(tally)) => {
                self.events.push_back(SerfEvent::KeyringDone {
                    handle,
                    op: tally.op,
                    report: tally.report,
                });
            }
            Some(Internal::Conflict(check)) => {
                let outcome = if check.total == 0 {
                    ConflictOutcome::Reported
                } else if check.matching * 2 > check.total {
                    ConflictOutcome::Won
                } else {
                    ConflictOutcome::Lost
                };
                self.events.push_back(SerfEvent::NameConflict {
                    name: check.name,
                    addr: check.addr,
                    other_addr: check.other_addr,
                    outcome,
                });
            }
            None => self.events.push_back(SerfEvent::QueryDone { handle }),
        }
    }

    fn name_conflict(&mut self, now: Instant, existing: MemberSnapshot, other_addr: SocketAddr) {
        let about_us = *existing.name == *self.name();
        let resolving = self.queries.values().any(
            |q| matches!(&q.internal, Some(Internal::Conflict(c)) if c.name == *existing.name),
        );
        if about_us && self.config.resolve_name_conflicts {
            if resolving {
                return;
            }
            let check = ConflictCheck {
                name: existing.name.to_string(),
                addr: existing.addr,
                other_addr,
                matching: 0,
                total: 0,
            };
            let payload = existing.name.as_bytes().to_vec();
            if self
                .start_query(
                    now,
                    CONFLICT_QUERY,
                    &payload,
                    QueryParams::default(),
                    Some(Internal::Conflict(check)),
                )
                .is_ok()
            {
                return;
            }
        }
        self.events.push_back(SerfEvent::NameConflict {
            name: existing.name.to_string(),
            addr: existing.addr,
            other_addr,
            outcome: ConflictOutcome::Reported,
        });
    }

    fn merge_remote_state(&mut self, now: Instant, join: bool, state: SerfPushPull) {
        let _ = join;
        // Push-pull carries clock times (the next Lamport time), not times
        // of messages: catch up to them without moving past, or every
        // exchange would push the clocks ahead of the events they count and
        // a node joining with "ignore old events" would drop new ones.
        self.clock.advance_to(state.ltime);
        self.event_clock.advance_to(state.event_ltime);
        self.query_clock.advance_to(state.query_ltime);
        if self.ignore_old_pending {
            self.event_min_time = self.event_min_time.max(state.event_ltime);
        }
        let left: BTreeSet<&String> = state.left_members.iter().collect();
        for (node, &ltime) in &state.status_ltimes {
            if left.contains(node) {
                let intent = LeaveIntent {
                    ltime,
                    node: node.clone(),
                    prune: false,
                };
                self.handle_leave_intent(now, &intent);
            } else {
                let intent = JoinIntent {
                    ltime,
                    node: node.clone(),
                };
                self.handle_join_intent(now, &intent);
            }
        }
        for event in state.events.into_iter().take(self.config.event_buffer * 4) {
            self.handle_user_event(now, event);
        }
    }

    fn reap(&mut self, now: Instant) {
        let reconnect_timeout = self.config.reconnect_timeout;
        let tombstone_timeout = self.config.tombstone_timeout;
        let expired: Vec<Arc<str>> = self
            .members
            .values()
            .filter(|m| match m.status {
                Status::Failed => {
                    now.saturating_duration_since(m.status_change) > reconnect_timeout
                }
                Status::Left => now.saturating_duration_since(m.status_change) > tombstone_timeout,
                _ => false,
            })
            .map(|m| m.name.clone())
            .collect();
        for name in expired {
            self.prune(&name);
        }
        let intent_timeout = self.config.recent_intent_timeout;
        self.intents
            .retain(|_, i| now.saturating_duration_since(i.received) <= intent_timeout);
    }

    fn reconnect(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        let failed: Vec<SocketAddr> = self
            .members
            .values()
            .filter(|m| m.status == Status::Failed)
            .map(|m| m.addr)
            .collect();
        if failed.is_empty() {
            return;
        }
        // Serf's rule: each node tries with probability failed / alive, so
        // that the pool as a whole tries each failed member about once per
        // interval.
        let alive = self.alive_count().max(1);
        let probability = (failed.len() as f64 / alive as f64).min(1.0);
        if self.rng.random::<f64>() > probability {
            return;
        }
        let addr = failed[self.rng.random_range(0..failed.len())];
        self.stats.reconnects += 1;
        self.join_quietly(now, addr);
    }
}

fn encode_coordinate(coordinate: &Coordinate) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    ciborium::into_writer(coordinate, &mut out)
        .expect("invariant: writing CBOR to a Vec cannot fail");
    out
}

fn intent_subject(node: &str) -> Arc<str> {
    format!("intent:{node}").into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swim::Profile;
    use crate::wire::{Alive, Message, User};

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn node(config: SerfConfig) -> (Serf, Instant) {
        let now = Instant::now();
        let serf = Serf::new(config, "local", addr(1), Vec::new(), 3, now).unwrap();
        (serf, now)
    }

    /// Delivers a message of this layer the way the network does: in a
    /// SWIM user message.
    fn deliver(serf: &mut Serf, now: Instant, message: SerfMessage) {
        let user = Message::User(User {
            payload: message.encode(),
        });
        let packet = crate::wire::encode_packet(None, &[crate::wire::encode_message(&user)]);
        serf.handle_packet(now, addr(9), &packet).unwrap();
    }

    fn learn_member(serf: &mut Serf, now: Instant, name: &str, port: u16) {
        let alive = Message::Alive(Alive {
            incarnation: 1,
            node: name.to_owned(),
            addr: WireAddr(addr(port)),
            meta: Vec::new(),
            versions: [
                crate::wire::PROTOCOL_VERSION_MIN,
                crate::wire::PROTOCOL_VERSION_MAX,
                crate::wire::PROTOCOL_VERSION,
            ],
        });
        let packet = crate::wire::encode_packet(None, &[crate::wire::encode_message(&alive)]);
        serf.handle_packet(now, addr(port), &packet).unwrap();
    }

    fn event(ltime: u64, name: &str) -> SerfMessage {
        SerfMessage::Event(UserEvent {
            ltime,
            name: name.to_owned(),
            payload: Vec::new(),
            coalesce: false,
        })
    }

    fn query(ltime: u64, id: u32) -> SerfMessage {
        SerfMessage::Query(Query {
            ltime,
            id,
            from_addr: WireAddr(addr(9)),
            from: "remote".into(),
            filter_nodes: Vec::new(),
            filter_tags: BTreeMap::new(),
            ack: false,
            relay_factor: 0,
            timeout_ms: 10_000,
            name: "q".into(),
            payload: Vec::new(),
        })
    }

    /// Drains the events and counts those `keep` selects.
    fn count(serf: &mut Serf, keep: impl Fn(&SerfEvent) -> bool) -> usize {
        std::iter::from_fn(|| serf.poll_event())
            .filter(|e| keep(e))
            .count()
    }

    fn is_user(e: &SerfEvent) -> bool {
        matches!(e, SerfEvent::User { .. })
    }

    fn is_query(e: &SerfEvent) -> bool {
        matches!(e, SerfEvent::Query { .. })
    }

    #[test]
    fn intents_about_unknown_members_are_bounded_and_expire() {
        let mut config = SerfConfig::new(Profile::Lan);
        config.max_intents = 4;
        let (mut serf, now) = node(config);
        for i in 0..6 {
            let intent = JoinIntent {
                ltime: 10,
                node: format!("n{i}"),
            };
            deliver(&mut serf, now, SerfMessage::Join(intent));
        }
        assert_eq!(serf.intents.len(), 4);
        assert_eq!(serf.stats().intents_dropped, 2);
        // A newer intent about a buffered member replaces its own entry.
        let leave = LeaveIntent {
            ltime: 11,
            node: "n0".into(),
            prune: false,
        };
        deliver(&mut serf, now, SerfMessage::Leave(leave));
        assert_eq!(serf.intents.len(), 4);
        assert!(serf.intents["n0"].leave);
        assert_eq!(serf.stats().intents_dropped, 2);
        // The buffered leave applies when the member shows up; the dropped
        // intent about n5 left nothing behind.
        learn_member(&mut serf, now, "n0", 2000);
        assert_eq!(serf.member("n0").unwrap().status, Status::Leaving);
        assert_eq!(serf.intents.len(), 3);
        assert!(!serf.intents.contains_key("n5"));

        // The reap after recent_intent_timeout forgets the rest, which
        // makes room again.
        let later = now + serf.config().recent_intent_timeout + serf.config().reap_interval * 2;
        serf.handle_timeout(later);
        assert!(serf.intents.is_empty());
        for i in 0..4 {
            let intent = JoinIntent {
                ltime: 20,
                node: format!("m{i}"),
            };
            deliver(&mut serf, later, SerfMessage::Join(intent));
        }
        assert_eq!(serf.intents.len(), 4);
        assert_eq!(serf.stats().intents_dropped, 2);
    }

    #[test]
    fn the_event_window_refuses_old_events_and_bounds_each_lamport_time() {
        let mut config = SerfConfig::new(Profile::Lan);
        config.event_buffer = 16;
        config.max_per_ltime = 4;
        let (mut serf, now) = node(config);
        for k in 0..6 {
            deliver(&mut serf, now, event(100, &format!("e{k}")));
        }
        assert_eq!(count(&mut serf, is_user), 4);
        assert_eq!(serf.stats().events_slot_full, 2);
        // Straight to this layer: SWIM already skips identical bytes.
        serf.handle_message(now, addr(9), event(100, "e0"));
        assert_eq!(count(&mut serf, is_user), 0);
        assert_eq!(serf.stats().events_duplicate, 1);

        // The clock is now 101: the window reaches back to 85.
        deliver(&mut serf, now, event(84, "old"));
        assert_eq!(count(&mut serf, is_user), 0);
        assert_eq!(serf.stats().events_too_old, 1);
        deliver(&mut serf, now, event(90, "recent"));
        assert_eq!(count(&mut serf, is_user), 1);

        // A flood over many Lamport times: the window never holds more
        // than event_buffer × max_per_ltime events.
        for t in 200..240 {
            for k in 0..10 {
                deliver(&mut serf, now, event(t, &format!("f{k}")));
            }
        }
        assert_eq!(serf.event_buffer.len(), 16);
        let remembered: usize = serf.event_buffer.iter().flatten().map(|s| s.1.len()).sum();
        assert_eq!(remembered, 16 * 4);
        assert_eq!(serf.stats().events_slot_full, 2 + 40 * 6);
        assert_eq!(count(&mut serf, is_user), 40 * 4);
    }

    #[test]
    fn the_query_window_refuses_old_queries_and_bounds_each_lamport_time() {
        let mut config = SerfConfig::new(Profile::Lan);
        config.query_buffer = 16;
        config.max_per_ltime = 4;
        let (mut serf, now) = node(config);
        for id in 0..6 {
            deliver(&mut serf, now, query(100, id));
        }
        assert_eq!(count(&mut serf, is_query), 4);
        assert_eq!(serf.stats().queries_slot_full, 2);
        serf.handle_message(now, addr(9), query(100, 0));
        assert_eq!(count(&mut serf, is_query), 0, "a duplicate");
        assert_eq!(serf.stats().queries_slot_full, 2);

        deliver(&mut serf, now, query(84, 99));
        assert_eq!(count(&mut serf, is_query), 0);
        assert_eq!(serf.stats().queries_too_old, 1);
        deliver(&mut serf, now, query(90, 99));
        assert_eq!(count(&mut serf, is_query), 1);

        for t in 200..240 {
            for id in 0..10 {
                deliver(&mut serf, now, query(t, id));
            }
        }
        assert_eq!(serf.query_buffer.len(), 16);
        let remembered: usize = serf.query_buffer.iter().flatten().map(|s| s.1.len()).sum();
        assert_eq!(remembered, 16 * 4);
        assert_eq!(serf.stats().queries_slot_full, 2 + 40 * 6);
        assert_eq!(count(&mut serf, is_query), 40 * 4);
    }

    #[test]
    fn pending_queries_are_bounded_until_they_end() {
        let mut config = SerfConfig::new(Profile::Lan);
        config.max_pending_queries = 2;
        let (mut serf, now) = node(config);
        let params = || QueryParams {
            timeout: Some(Duration::from_secs(1)),
            ..QueryParams::default()
        };
        serf.query(now, "a", b"", params()).unwrap();
        serf.query(now, "b", b"", params()).unwrap();
        assert_eq!(
            serf.query(now, "c", b"", params()),
            Err(SerfError::TooManyQueries)
        );
        assert_eq!(serf.stats().queries_refused, 1);
        assert_eq!(serf.queries.len(), 2);
        // The layer's own queries meet the same limit: a name conflict
        // about the local node is reported without a vote.
        serf.name_conflict(
            now,
            MemberSnapshot {
                name: "local".into(),
                addr: addr(1),
                meta: Vec::new(),
                state: MemberState::Alive,
                incarnation: 1,
            },
            addr(5),
        );
        assert_eq!(serf.stats().queries_refused, 2);
        assert_eq!(serf.queries.len(), 2);

        let done = now + Duration::from_secs(2);
        serf.handle_timeout(done);
        let ended = count(&mut serf, |e| matches!(e, SerfEvent::QueryDone { .. }));
        assert_eq!(ended, 2);
        serf.query(done, "c", b"", params()).unwrap();
        assert_eq!(serf.stats().queries_refused, 2);
    }

    fn response(serf: &Serf, handle: QueryHandle, from: &str, ack: bool) -> SerfMessage {
        let pending = &serf.queries[&handle.0];
        SerfMessage::Response(QueryResponse {
            ltime: pending.ltime,
            id: pending.id,
            from: from.to_owned(),
            ack,
            payload: b"answer".to_vec(),
        })
    }

    #[test]
    fn replies_to_a_query_are_bounded_by_members_and_max_query_responses() {
        let mut config = SerfConfig::new(Profile::Lan);
        config.max_query_responses = 3;
        let (mut serf, now) = node(config);
        for i in 0..5 {
            learn_member(&mut serf, now, &format!("n{i}"), 2000 + i);
        }
        let params = QueryParams {
            request_ack: true,
            timeout: Some(Duration::from_secs(5)),
            ..QueryParams::default()
        };
        let handle = serf.query(now, "q", b"", params.clone()).unwrap();
        // The local node acks its own query at once.
        let acks = count(&mut serf, |e| matches!(e, SerfEvent::QueryAck { .. }));
        assert_eq!(acks, 1);
        // Six members are known: max_query_responses (3) is the tighter.
        for i in 0..6 {
            for ack in [true, false] {
                let r = response(&serf, handle, &format!("n{i}"), ack);
                deliver(&mut serf, now, r);
            }
        }
        let acks = count(&mut serf, |e| matches!(e, SerfEvent::QueryAck { .. }));
        assert_eq!(acks, 2);
        assert_eq!(serf.queries[&handle.0].acks.len(), 3);
        assert_eq!(serf.queries[&handle.0].responses.len(), 3);
        assert_eq!(serf.stats().query_replies_dropped, 4 + 3);

        // With a generous max_query_responses, the members known when the
        // query started bound it: names made up by a forger add nothing.
        serf.config.max_query_responses = 1000;
        let handle = serf.query(now, "q2", b"", params).unwrap();
        for i in 0..20 {
            let r = response(&serf, handle, &format!("forged-{i}"), false);
            deliver(&mut serf, now, r);
        }
        let responses = count(&mut serf, |e| matches!(e, SerfEvent::QueryResponse { .. }));
        assert_eq!(responses, 6);
        assert_eq!(serf.stats().query_replies_dropped, 7 + 14);
    }

    #[test]
    fn lamport_clock_witness_and_increment() {
        let mut c = LamportClock::default();
        assert_eq!(c.time(), 0);
        assert_eq!(c.increment(), 1);
        assert_eq!(c.time(), 1);
        c.witness(10);
        assert_eq!(c.time(), 11);
        c.witness(3);
        assert_eq!(c.time(), 11);
    }
}
