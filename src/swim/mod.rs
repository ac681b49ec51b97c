//! SWIM membership and failure detection with the Lifeguard refinements,
//! as a sans-IO state machine.
//!
//! This module owns the member table, probing, suspicion, local health, the
//! broadcast queue and push-pull. It never performs I/O, never reads a clock
//! and never draws from OS entropy: time comes in as `now`, randomness from
//! the seed given to [`Swim::new`].

mod broadcast;
mod config;
mod suspicion;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::{SmallRng, StdRng};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

pub use broadcast::BroadcastQueue;
pub use config::{Config, ConfigError, Profile};
pub use suspicion::{min_timeout, timeout_after, Suspicion};

use crate::wire::{
    self, Ack, Alive, Dead, DecodeError, IndirectPing, MemberState, Message, Nack, Ping, PushNode,
    PushPull, Suspect, User, WireAddr,
};
pub use crate::wire::{Keyring, SecretKey};

/// FNV-1a: a fixed hasher, so that no map's behaviour depends on a random
/// seed (the simulator must be deterministic).
#[derive(Default, Clone, Copy)]
pub struct FixedHasher(u64);

impl Hasher for FixedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, value: u64) {
        // One multiply per word rather than eight per byte: the keys hashed
        // as u64 are digests or indexes already.
        let h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        self.0 = (h ^ value).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FixedMap<K, V> = HashMap<K, V, BuildHasherDefault<FixedHasher>>;

/// A member as the local node sees it.
#[derive(Debug, Clone)]
pub struct Member {
    /// Node name, unique in the pool.
    pub name: Arc<str>,
    /// Advertised address.
    pub addr: SocketAddr,
    /// Node meta (encoded tags).
    pub meta: Box<[u8]>,
    /// Latest incarnation seen.
    pub incarnation: u32,
    /// Failure detector state.
    pub state: MemberState,
    /// When `state` last changed.
    pub state_change: Instant,
    /// Protocol versions: minimum, maximum, current.
    pub versions: [u8; 3],
    suspicion: Option<Box<Suspicion>>,
}

/// Something the owner of the core must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A member was seen alive for the first time, or again after dead or left.
    MemberJoined(MemberSnapshot),
    /// A member's meta or address changed.
    MemberUpdated(MemberSnapshot),
    /// A member was declared dead by the failure detector.
    MemberFailed(MemberSnapshot),
    /// A member left gracefully.
    MemberLeft(MemberSnapshot),
    /// Another node claims a member's name from a different address.
    NameConflict {
        /// The member as known.
        existing: MemberSnapshot,
        /// The address of the other claimant.
        other_addr: SocketAddr,
    },
    /// A message of the layer above arrived.
    UserMessage {
        /// Sender's address.
        from: SocketAddr,
        /// The message.
        payload: Vec<u8>,
    },
    /// A remote node's layer-above state arrived in a push-pull.
    RemoteUserState {
        /// Whether the remote was joining.
        join: bool,
        /// The state.
        payload: Vec<u8>,
    },
    /// A probe was answered directly by its target (with the round-trip
    /// time and the ack payload).
    ProbeAcked {
        /// The probed member.
        name: Arc<str>,
        /// Round-trip time of the direct probe.
        rtt: Duration,
        /// Payload of the ack.
        payload: Vec<u8>,
    },
}

/// An owned copy of a member's public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    /// Node name.
    pub name: Arc<str>,
    /// Address.
    pub addr: SocketAddr,
    /// Meta.
    pub meta: Vec<u8>,
    /// Incarnation.
    pub incarnation: u32,
    /// State.
    pub state: MemberState,
}

impl From<&Member> for MemberSnapshot {
    fn from(m: &Member) -> Self {
        MemberSnapshot {
            name: m.name.clone(),
            addr: m.addr,
            meta: m.meta.to_vec(),
            incarnation: m.incarnation,
            state: m.state,
        }
    }
}

/// Identifies an outbound stream exchange; hand it back with the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamToken(pub u64);

/// How a transmit travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransmitKind {
    /// A datagram (UDP).
    Packet,
    /// A stream request (TCP): open a connection, write the frame, read one
    /// reply frame before `deadline` and give it to
    /// [`Swim::handle_stream_reply`] with `token`.
    Stream {
        /// Echo with the reply.
        token: StreamToken,
        /// Give up (and report a failure) at this time.
        deadline: Instant,
    },
    /// A one-way stream (TCP): open a connection and write the frame; no reply.
    StreamOneWay,
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// The complete packet, or for streams the complete frame (length prefix
    /// included).
    pub payload: Vec<u8>,
    /// Datagram or stream.
    pub kind: TransmitKind,
}

/// Why a stream exchange failed, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// Could not connect, or the connection broke.
    Io(String),
    /// No reply before the deadline.
    Timeout,
}

/// Errors of the SWIM core. None of them changes the core's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwimError {
    /// The packet or frame could not be decoded (normal on a hostile network).
    Decode(DecodeError),
    /// The packet carried another pool's label (normal when pools share a port).
    LabelMismatch,
    /// A message arrived where it is not allowed, e.g. push-pull over UDP.
    Unexpected(&'static str),
    /// The stream exchange failed.
    Stream(StreamError),
    /// A peer speaks no protocol version in common with this node.
    IncompatibleVersion {
        /// The peer's node name.
        node: String,
        /// The peer's range, minimum and maximum.
        range: (u8, u8),
    },
    /// An argument is out of range (an integration bug).
    InvalidArgument(String),
    /// The node has left the pool.
    Left,
    /// Refused by the security settings (the reason): undecryptable,
    /// plaintext where encryption is required, or a source not allowed.
    Refused(&'static str),
}

impl std::fmt::Display for SwimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SwimError::Decode(e) => write!(f, "{e}"),
            SwimError::LabelMismatch => f.write_str("packet label does not match the pool's"),
            SwimError::Unexpected(what) => write!(f, "unexpected message: {what}"),
            SwimError::Stream(StreamError::Io(e)) => write!(f, "stream failed: {e}"),
            SwimError::Stream(StreamError::Timeout) => f.write_str("stream timed out"),
            SwimError::IncompatibleVersion { node, range } => write!(
                f,
                "node {node} speaks protocol versions {}..={}, this node {}..={}",
                range.0,
                range.1,
                wire::PROTOCOL_VERSION_MIN,
                wire::PROTOCOL_VERSION_MAX
            ),
            SwimError::InvalidArgument(e) => write!(f, "invalid argument: {e}"),
            SwimError::Left => f.write_str("the node has left the pool"),
            SwimError::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}

impl std::error::Error for SwimError {}

/// Counters of what the core received and sent, and what it dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets handed to [`Swim::handle_packet`].
    pub packets_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Packets produced by [`Swim::poll_transmit`].
    pub packets_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Stream frames received and sent.
    pub streams_in: u64,
    /// Stream frames sent.
    pub streams_out: u64,
    /// Dropped: not decodable.
    pub dropped_malformed: u64,
    /// Dropped: another pool's label.
    pub dropped_label: u64,
    /// Dropped: unsupported protocol version.
    pub dropped_version: u64,
    /// Dropped: a valid message that breaks a configured bound (meta size,
    /// push-pull members) or arrives where it is not allowed.
    pub dropped_invalid: u64,
    /// Dropped: encrypted, and no installed key authenticates it (wrong
    /// key, tampered, truncated, or encryption off here).
    pub dropped_decrypt: u64,
    /// Dropped: plaintext while this node requires encryption.
    pub dropped_plaintext: u64,
    /// Dropped: from a source, or about a member address, outside the
    /// allowed networks.
    pub dropped_source: u64,
    /// Acks and nacks that matched no pending probe (late or forged).
    pub unmatched_acks: u64,
    /// Times this node refuted a suspicion or death about itself.
    pub refutations: u64,
    /// Broadcasts received again moments after a first copy, not decoded.
    pub duplicates_skipped: u64,
    /// Broadcasts dropped from a full queue before being sent their full
    /// number of times.
    pub broadcasts_dropped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Probe,
    Gossip,
    PushPull,
    /// Direct probe got no ack in time: go indirect.
    ProbeTimeout(u32),
    /// The probe round is over.
    ProbeDeadline(u32),
    /// Our relay of an indirect probe got no answer.
    RelayTimeout(u32),
    /// A suspicion may have expired (the member is looked up by name).
    Suspicion(u64),
}

#[derive(Debug)]
enum AckHandler {
    Probe {
        target: Arc<str>,
        incarnation: u32,
        sent: Instant,
        expected_nacks: u32,
        nacks: u32,
    },
    Relay {
        requester: SocketAddr,
        requester_seq: u32,
        nack: bool,
    },
}

#[derive(Debug)]
enum PendingStream {
    PushPull,
    FallbackPing { seq: u32 },
}

/// What the local node is doing about leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveState {
    /// A member of the pool.
    Active,
    /// Its leave is being broadcast.
    Leaving,
    /// Its leave has been fully broadcast (or there was no one to tell).
    Left,
}

/// The SWIM core of one node in one pool.
///
/// Drive it like this, with `now` from one monotonic clock:
/// 1. feed inputs: [`handle_packet`](Swim::handle_packet),
///    [`handle_stream`](Swim::handle_stream) (which returns the reply frame),
///    [`handle_stream_reply`](Swim::handle_stream_reply), and
///    [`handle_timeout`](Swim::handle_timeout) once `now` reaches
///    [`poll_timeout`](Swim::poll_timeout) (early or extra calls are harmless);
/// 2. after every input or command, drain [`poll_transmit`](Swim::poll_transmit)
///    and send each, then drain [`poll_event`](Swim::poll_event);
/// 3. sleep until the next [`poll_timeout`](Swim::poll_timeout) or input.
pub struct Swim {
    config: Config,
    name: Arc<str>,
    addr: SocketAddr,
    rng: SmallRng,
    keyring: Keyring,
    /// Draws nonces; reseed it from the OS with [`Swim::reseed_nonces`].
    nonces: StdRng,
    members: Vec<Member>,
    index: FixedMap<Arc<str>, u32>,
    /// Indexes into `members` in probe order; the local node is not in it.
    probe_order: Vec<u32>,
    probe_pos: usize,
    /// Members not dead or left, the local node included.
    live_count: usize,
    seq: u32,
    acks: BTreeMap<u32, AckHandler>,
    timers: BTreeMap<(Instant, u64), Timer>,
    next_timer_id: u64,
    suspicion_timers: FixedMap<u64, Arc<str>>,
    broadcasts: BroadcastQueue,
    user_broadcasts: BroadcastQueue,
    awareness: u32,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    streams: BTreeMap<u64, PendingStream>,
    next_stream: u64,
    leave: LeaveState,
    user_state: Vec<u8>,
    user_state_on_demand: bool,
    due_push_pull: Option<SocketAddr>,
    ack_payload: Vec<u8>,
    recent: RecentDigests,
    /// Whether a gossip tick is armed: it is only while something waits to
    /// be gossiped, so that an idle pool wakes only to probe.
    gossip_armed: bool,
    /// The latest time given to the core, for work queued without one.
    last_now: Instant,
    /// The first gossip tick; later ones keep its phase.
    gossip_origin: Instant,
    stats: Stats,
}

/// Digests of broadcasts received lately, in two generations so that
/// memory stays bounded and no digest is kept two windows.
struct RecentDigests {
    salt: u64,
    current: std::collections::HashSet<u64, BuildHasherDefault<FixedHasher>>,
    previous: std::collections::HashSet<u64, BuildHasherDefault<FixedHasher>>,
    /// When each generation began.
    current_since: Instant,
    previous_since: Instant,
    /// Half of `gossip_to_the_dead_time`, the least time a dead or left
    /// member is remembered: a member forgotten since its alive was seen
    /// may come back, restarted, with the very same alive, and that copy
    /// is news.
    window: Duration,
}

/// Digests kept per generation.
const RECENT_DIGESTS: usize = 2048;

impl RecentDigests {
    fn digest(&self, bytes: &[u8]) -> u64 {
        let mut h = FixedHasher(self.salt | 1);
        h.write(bytes);
        h.finish()
    }

    fn contains(&self, digest: u64) -> bool {
        self.current.contains(&digest) || self.previous.contains(&digest)
    }

    /// Starts a new generation after a window, and drops digests that may
    /// be two windows old, as of `now`.
    fn expire(&mut self, now: Instant) {
        if now.saturating_duration_since(self.current_since) >= self.window {
            self.rotate(now);
        }
        if now.saturating_duration_since(self.previous_since) >= self.window * 2 {
            self.previous.clear();
        }
    }

    fn insert(&mut self, now: Instant, digest: u64) {
        if self.current.len() >= RECENT_DIGESTS {
            self.rotate(now);
        }
        self.current.insert(digest);
    }

    fn rotate(&mut self, now: Instant) {
        // Reuse the older generation's allocation rather than growing a
        // fresh set from nothing.
        std::mem::swap(&mut self.previous, &mut self.current);
        self.current.clear();
        self.previous_since = self.current_since;
        self.current_since = now;
    }
}

fn versions() -> [u8; 3] {
    [
        wire::PROTOCOL_VERSION_MIN,
        wire::PROTOCOL_VERSION_MAX,
        wire::PROTOCOL_VERSION,
    ]
}

fn compatible(v: [u8; 3]) -> bool {
    v[0] <= wire::PROTOCOL_VERSION_MAX && v[1] >= wire::PROTOCOL_VERSION_MIN && v[0] <= v[1]
}

impl Swim {
    /// Creates the core of node `name` advertising `addr`, with its `meta`.
    /// `seed` fixes every random choice. Timers start at `now`.
    pub fn new(
        config: Config,
        name: &str,
        addr: SocketAddr,
        meta: Vec<u8>,
        seed: u64,
        now: Instant,
    ) -> Result<Swim, SwimError> {
        config
            .validate()
            .map_err(|e| SwimError::InvalidArgument(e.to_string()))?;
        if name.is_empty() || name.len() > wire::MAX_NAME_LEN {
            return Err(SwimError::InvalidArgument(
                "node name must be 1 to 128 bytes".into(),
            ));
        }
        if meta.len() > config.max_meta_size {
            return Err(SwimError::InvalidArgument(format!(
                "meta is {} bytes, max_meta_size is {}",
                meta.len(),
                config.max_meta_size
            )));
        }
        let keyring = Keyring::new(config.keys.clone())
            .map_err(|e| SwimError::InvalidArgument(e.to_string()))?;
        let name: Arc<str> = name.into();
        let max_queue = config.max_broadcast_queue;
        let dedup_window = config.gossip_to_the_dead_time / 2;
        let mut swim = Swim {
            config,
            name: name.clone(),
            addr,
            rng: SmallRng::seed_from_u64(seed),
            keyring,
            nonces: StdRng::seed_from_u64(seed ^ 0x6e6f_6e63_6573_0000),
            members: Vec::new(),
            index: FixedMap::default(),
            probe_order: Vec::new(),
            probe_pos: 0,
            live_count: 1,
            seq: 0,
            acks: BTreeMap::new(),
            timers: BTreeMap::new(),
            next_timer_id: 0,
            suspicion_timers: FixedMap::default(),
            broadcasts: BroadcastQueue::with_max_len(max_queue),
            user_broadcasts: BroadcastQueue::with_max_len(max_queue),
            awareness: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            streams: BTreeMap::new(),
            next_stream: 0,
            leave: LeaveState::Active,
            user_state: Vec::new(),
            user_state_on_demand: false,
            due_push_pull: None,
            ack_payload: Vec::new(),
            recent: RecentDigests {
                salt: seed.rotate_left(17),
                current: Default::default(),
                previous: Default::default(),
                current_since: now,
                previous_since: now,
                window: dedup_window,
            },
            gossip_armed: true,
            last_now: now,
            gossip_origin: now,
            stats: Stats::default(),
        };
        swim.members.push(Member {
            name: name.clone(),
            addr,
            meta: meta.into_boxed_slice(),
            incarnation: 1,
            state: MemberState::Alive,
            state_change: now,
            versions: versions(),
            suspicion: None,
        });
        swim.index.insert(name, 0);
        // Spread the first ticks so that nodes started together do not probe
        // in lockstep.
        let probe_jitter = swim.jitter(swim.config.probe_interval);
        swim.arm(now + probe_jitter, Timer::Probe);
        let gossip_jitter = swim.jitter(swim.config.gossip_interval);
        swim.gossip_origin = now + gossip_jitter;
        swim.arm(now + gossip_jitter, Timer::Gossip);
        if !swim.config.push_pull_interval.is_zero() {
            let d = swim.push_pull_interval();
            swim.arm(now + d, Timer::PushPull);
        }
        let alive = swim.local_alive();
        swim.queue_broadcast(Message::Alive(alive));
        Ok(swim)
    }

    // ----- getters -----

    /// The local node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local node's advertised address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every member known, the local node included, dead and left ones until
    /// they are forgotten.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// One member by name.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.index.get(name).map(|&i| &self.members[i as usize])
    }

    /// Members neither dead nor left, the local node included.
    pub fn live_members(&self) -> usize {
        self.live_count
    }

    /// Local health score, 0 (healthy) to `awareness_max_multiplier − 1`.
    pub fn health_score(&self) -> u32 {
        self.awareness
    }

    /// The local node's incarnation.
    pub fn incarnation(&self) -> u32 {
        self.members[0].incarnation
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        stats.broadcasts_dropped = self.broadcasts.dropped() + self.user_broadcasts.dropped();
        stats
    }

    /// Mutable counters, for drivers that drop packets before the core sees them.
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// Where the local node is in leaving.
    pub fn leave_state(&self) -> LeaveState {
        if self.leave == LeaveState::Leaving && !self.broadcasts.contains(&self.name) {
            return LeaveState::Left;
        }
        self.leave
    }

    /// Messages waiting in the broadcast queues.
    pub fn queued_broadcasts(&self) -> usize {
        self.broadcasts.len() + self.user_broadcasts.len()
    }

    /// How many times a broadcast is sent, for the current pool size.
    pub fn retransmit_limit(&self) -> u32 {
        let n = self.live_count as f64;
        self.config.retransmit_mult * ((n + 1.0).log10().ceil() as u32).max(1)
    }

    // ----- commands -----

    /// Starts a push-pull with `addr` to join through it. The driver reports
    /// the outcome to [`handle_stream_reply`](Swim::handle_stream_reply),
    /// whose result says whether the join succeeded.
    pub fn join(&mut self, now: Instant, addr: SocketAddr) -> StreamToken {
        self.last_now = self.last_now.max(now);
        self.start_push_pull(now, addr, true)
    }

    /// The gossip encryption keys (empty: encryption off).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Changes the keys: what [`install`](Keyring::install),
    /// [`use_key`](Keyring::use_key) and [`remove`](Keyring::remove) do
    /// applies to the next packet.
    pub fn keyring_mut(&mut self) -> &mut Keyring {
        &mut self.keyring
    }

    /// Whether plaintext is refused and whether what is sent is encrypted
    /// (when keys are installed): the steps of a migration to encryption.
    pub fn set_encryption_policy(&mut self, verify_incoming: bool, verify_outgoing: bool) {
        self.config.verify_incoming = verify_incoming;
        self.config.verify_outgoing = verify_outgoing;
    }

    /// Seeds the nonce generator (a cryptographic one); the runtime seeds it
    /// from the operating system, the simulator from its seed.
    pub fn reseed_nonces(&mut self, seed: [u8; 32]) {
        self.nonces = StdRng::from_seed(seed);
    }

    /// Replaces the local meta and announces it with a new incarnation.
    pub fn set_meta(&mut self, now: Instant, meta: Vec<u8>) -> Result<(), SwimError> {
        self.last_now = self.last_now.max(now);
        if meta.len() > self.config.max_meta_size {
            return Err(SwimError::InvalidArgument(format!(
                "meta is {} bytes, max_meta_size is {}",
                meta.len(),
                self.config.max_meta_size
            )));
        }
        if self.leave != LeaveState::Active {
            return Err(SwimError::Left);
        }
        let local = &mut self.members[0];
        local.meta = meta.into_boxed_slice();
        local.incarnation += 1;
        local.state_change = now;
        let alive = self.local_alive();
        self.queue_broadcast(Message::Alive(alive));
        Ok(())
    }

    /// Announces a graceful leave. Poll [`leave_state`](Swim::leave_state)
    /// until it is [`LeaveState::Left`] (or a timeout passes) before shutting
    /// down, so that the announcement is sent.
    pub fn leave(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.leave != LeaveState::Active {
            return;
        }
        let local = &mut self.members[0];
        local.state = MemberState::Left;
        local.state_change = now;
        let dead = Dead {
            incarnation: local.incarnation,
            node: self.name.to_string(),
            from: self.name.to_string(),
        };
        self.live_count = self.live_count.saturating_sub(1);
        self.leave = if self.live_count == 0 {
            LeaveState::Left
        } else {
            LeaveState::Leaving
        };
        self.queue_broadcast(Message::Dead(dead));
        // Say it at once to a few members rather than waiting for a tick.
        self.gossip(now);
    }

    /// Queues a message of the layer above for gossip. With a `subject`,
    /// it replaces a queued message with the same subject.
    pub fn queue_user_broadcast(&mut self, subject: Option<Arc<str>>, payload: Vec<u8>) {
        let bytes = wire::encode_message(&Message::User(User { payload }));
        self.user_broadcasts.push(subject, bytes);
        self.wake_gossip();
    }

    /// Sends a message of the layer above to one address directly.
    pub fn send_user_message(&mut self, to: SocketAddr, payload: Vec<u8>) {
        let message = Message::User(User { payload });
        let bytes: Arc<[u8]> = wire::encode_message(&message).into();
        if self.packet_space(std::slice::from_ref(&bytes)) == 0 {
            let frame = self.stream_frame(&message);
            self.push_stream_one_way(to, frame);
        } else {
            self.send_packet(to, vec![bytes], false);
        }
    }

    /// Sets the state of the layer above that rides on push-pull.
    pub fn set_user_state(&mut self, state: Vec<u8>) {
        self.user_state = state;
    }

    /// With `on`, a periodic push-pull is not started by the timer but left
    /// for [`take_due_push_pull`](Swim::take_due_push_pull), so that the
    /// layer above can refresh its state first and then call
    /// [`push_pull`](Swim::push_pull).
    pub fn set_user_state_on_demand(&mut self, on: bool) {
        self.user_state_on_demand = on;
    }

    /// The peer of a periodic push-pull that is due, if any.
    pub fn take_due_push_pull(&mut self) -> Option<SocketAddr> {
        self.due_push_pull.take()
    }

    /// Starts a (non-join) push-pull with `addr`.
    pub fn push_pull(&mut self, now: Instant, addr: SocketAddr) -> StreamToken {
        self.last_now = self.last_now.max(now);
        self.start_push_pull(now, addr, false)
    }

    /// Sets the payload attached to every ack this node sends (for example
    /// its network coordinate).
    pub fn set_ack_payload(&mut self, payload: Vec<u8>) {
        self.ack_payload = payload;
    }

    /// Forgets a dead or left member at once (Serf's prune).
    pub fn forget(&mut self, name: &str) -> bool {
        let Some(&i) = self.index.get(name) else {
            return false;
        };
        if i == 0
            || matches!(
                self.members[i as usize].state,
                MemberState::Alive | MemberState::Suspect
            )
        {
            return false;
        }
        self.remove_members(|m| &*m.name == name);
        true
    }

    // ----- inputs -----

    /// Handles one datagram from `from`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), SwimError> {
        self.last_now = self.last_now.max(now);
        self.stats.packets_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        self.check_source(from)?;
        let packet = self.decode(bytes)?;
        // One out-of-place message does not spoil the rest of a compound.
        let mut result = Ok(());
        for message in packet {
            if let Err(e) = self.handle_message(now, from, message) {
                result = Err(e);
            }
        }
        result
    }

    /// Handles an inbound stream frame (without its length prefix) from
    /// `from`; returns the reply frame to write back, if any.
    pub fn handle_stream(
        &mut self,
        now: Instant,
        from: SocketAddr,
        frame: &[u8],
    ) -> Result<Option<Vec<u8>>, SwimError> {
        self.last_now = self.last_now.max(now);
        self.stats.streams_in += 1;
        self.stats.bytes_in += frame.len() as u64;
        self.check_source(from)?;
        let message = self.decode_stream(frame)?;
        match message {
            Message::PushPull(pp) => {
                self.check_push_pull(&pp)?;
                let join = pp.join;
                let reply = self.local_push_pull(false);
                self.merge_remote_state(now, pp);
                if join {
                    // A joiner's arrival is news for everyone: a fresh alive
                    // about it was queued by the merge.
                }
                Ok(Some(self.stream_frame(&Message::PushPull(reply))))
            }
            Message::Ping(ping) => {
                if *ping.target != *self.name {
                    self.stats.dropped_invalid += 1;
                    return Err(SwimError::Unexpected("ping for another node"));
                }
                let ack = Message::Ack(Ack {
                    seq: ping.seq,
                    payload: self.ack_payload.clone(),
                });
                Ok(Some(self.stream_frame(&ack)))
            }
            Message::User(user) => {
                self.events.push_back(Event::UserMessage {
                    from,
                    payload: user.payload,
                });
                Ok(None)
            }
            _ => {
                self.stats.dropped_invalid += 1;
                Err(SwimError::Unexpected("message not allowed on a stream"))
            }
        }
    }

    /// Handles the outcome of a stream request: the reply frame (without its
    /// length prefix) or the failure. For a join, `Ok` means joined.
    pub fn handle_stream_reply(
        &mut self,
        now: Instant,
        token: StreamToken,
        reply: Result<&[u8], StreamError>,
    ) -> Result<(), SwimError> {
        self.last_now = self.last_now.max(now);
        let Some(pending) = self.streams.remove(&token.0) else {
            return Err(SwimError::Unexpected("unknown stream token"));
        };
        let frame = reply.map_err(SwimError::Stream)?;
        self.stats.streams_in += 1;
        self.stats.bytes_in += frame.len() as u64;
        let message = self.decode_stream(frame)?;
        match (pending, message) {
            (PendingStream::PushPull, Message::PushPull(pp)) => {
                self.check_push_pull(&pp)?;
                let alive = || pp.nodes.iter().filter(|n| n.state == MemberState::Alive);
                if alive().next().is_some() && alive().all(|n| !compatible(n.versions)) {
                    let node = alive().next().expect("invariant: checked non-empty");
                    self.stats.dropped_version += 1;
                    return Err(SwimError::IncompatibleVersion {
                        node: node.name.clone(),
                        range: (node.versions[0], node.versions[1]),
                    });
                }
                self.merge_remote_state(now, pp);
                Ok(())
            }
            (PendingStream::FallbackPing { seq }, Message::Ack(ack)) if ack.seq == seq => {
                self.handle_ack(now, None, ack);
                Ok(())
            }
            _ => {
                self.stats.dropped_invalid += 1;
                Err(SwimError::Unexpected("reply does not match the request"))
            }
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        while let Some((&(at, id), _)) = self.timers.first_key_value() {
            if at > now {
                break;
            }
            let timer = self
                .timers
                .remove(&(at, id))
                .expect("invariant: first key exists");
            self.fire(now, id, timer);
        }
    }

    // ----- outputs -----

    /// The next datagram or stream to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front()?;
        match t.kind {
            TransmitKind::Packet => {
                self.stats.packets_out += 1;
            }
            _ => self.stats.streams_out += 1,
        }
        self.stats.bytes_out += t.payload.len() as u64;
        Some(t)
    }

    /// When [`handle_timeout`](Swim::handle_timeout) must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first_key_value().map(|(&(at, _), _)| at)
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ----- internals: decoding -----

    fn decode(&mut self, bytes: &[u8]) -> Result<Vec<Message>, SwimError> {
        let header = match wire::PacketHeader::parse(bytes) {
            Ok(h) => h,
            Err(e) => return Err(self.count_decode_error(e)),
        };
        if header.label.as_deref() != self.config.label.as_deref() {
            self.stats.dropped_label += 1;
            return Err(SwimError::LabelMismatch);
        }
        let opened;
        let body = if header.flags & wire::FLAG_ENCRYPTED != 0 {
            if self.keyring.is_empty() {
                self.stats.dropped_decrypt += 1;
                return Err(SwimError::Refused("encrypted, and no key is installed"));
            }
            match wire::open_body(bytes, &header, &self.keyring) {
                Ok(body) => {
                    opened = body;
                    &opened[..]
                }
                Err(_) => {
                    self.stats.dropped_decrypt += 1;
                    return Err(SwimError::Refused("no installed key decrypts it"));
                }
            }
        } else {
            if !self.keyring.is_empty() && self.config.verify_incoming {
                self.stats.dropped_plaintext += 1;
                return Err(SwimError::Refused("plaintext, and encryption is required"));
            }
            &bytes[header.body_offset..]
        };
        let parts = match wire::split_body(&header, body) {
            Ok(parts) => parts,
            Err(e) => return Err(self.count_decode_error(e)),
        };
        let mut messages = Vec::with_capacity(parts.len());
        let mut seen = Vec::new();
        self.recent.expire(self.last_now);
        for part in parts {
            // Gossip delivers each broadcast many times; a copy of bytes
            // seen moments ago would change nothing, so it is not decoded.
            let digest = wire::is_broadcast(part).then(|| self.recent.digest(part));
            if let Some(d) = digest {
                if self.recent.contains(d) {
                    self.stats.duplicates_skipped += 1;
                    continue;
                }
            }
            match wire::decode_message(part) {
                Ok(m) => {
                    seen.extend(digest);
                    messages.push(m);
                }
                Err(e) => return Err(self.count_decode_error(e)),
            }
        }
        // Only a packet accepted whole marks its broadcasts as seen: the
        // good parts of a refused one must still be decoded from a later copy.
        for d in seen {
            self.recent.insert(self.last_now, d);
        }
        Ok(messages)
    }

    fn decode_stream(&mut self, frame: &[u8]) -> Result<Message, SwimError> {
        if frame.len() > self.config.max_stream_size {
            self.stats.dropped_invalid += 1;
            return Err(SwimError::Decode(DecodeError::OutOfBounds(
                "max_stream_size",
            )));
        }
        // One plain message per frame: a compound is refused even with a
        // count of one (docs/PROTOCOL.md, "Stream frames").
        if let Ok(header) = wire::PacketHeader::parse(frame) {
            if header.flags & wire::FLAG_COMPOUND != 0 {
                return Err(self.count_decode_error(DecodeError::BadFlags(header.flags)));
            }
        }
        let mut messages = self.decode(frame)?;
        if messages.len() != 1 {
            self.stats.dropped_invalid += 1;
            return Err(SwimError::Unexpected("compound on a stream"));
        }
        Ok(messages.pop().expect("invariant: one message"))
    }

    fn check_source(&mut self, from: SocketAddr) -> Result<(), SwimError> {
        if self.config.allows(from.ip()) {
            return Ok(());
        }
        self.stats.dropped_source += 1;
        Err(SwimError::Refused("source outside the allowed networks"))
    }

    fn count_decode_error(&mut self, e: DecodeError) -> SwimError {
        match e {
            DecodeError::UnsupportedVersion(_) => self.stats.dropped_version += 1,
            _ => self.stats.dropped_malformed += 1,
        }
        SwimError::Decode(e)
    }

    fn check_push_pull(&mut self, pp: &PushPull) -> Result<(), SwimError> {
        if pp.nodes.len() > self.config.max_push_pull_members {
            self.stats.dropped_invalid += 1;
            return Err(SwimError::Decode(DecodeError::OutOfBounds(
                "max_push_pull_members",
            )));
        }
        Ok(())
    }

    // ----- internals: messages -----

    fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        message: Message,
    ) -> Result<(), SwimError> {
        match message {
            Message::Ping(ping) => self.handle_ping(ping),
            Message::IndirectPing(req) => self.handle_indirect_ping(now, req),
            Message::Ack(ack) => self.handle_ack(now, Some(from), ack),
            Message::Nack(nack) => self.handle_nack(nack),
            Message::Suspect(s) => self.handle_suspect(now, s),
            Message::Alive(a) => {
                if a.meta.len() > self.config.max_meta_size {
                    self.stats.dropped_invalid += 1;
                    return Err(SwimError::Decode(DecodeError::OutOfBounds("max_meta_size")));
                }
                self.handle_alive(now, a, true, Some(from))
            }
            Message::Dead(d) => self.handle_dead(now, d),
            Message::User(u) => self.events.push_back(Event::UserMessage {
                from,
                payload: u.payload,
            }),
            Message::PushPull(_) => {
                self.stats.dropped_invalid += 1;
                return Err(SwimError::Unexpected("push-pull in a datagram"));
            }
        }
        Ok(())
    }

    fn handle_ping(&mut self, ping: Ping) {
        if *ping.target != *self.name {
            // Meant for whoever had this address before; stay silent.
            self.stats.dropped_invalid += 1;
            return;
        }
        let ack = wire::encode_message(&Message::Ack(Ack {
            seq: ping.seq,
            payload: self.ack_payload.clone(),
        }));
        let mut messages: Vec<Arc<[u8]>> = vec![ack.into()];
        // Probed by a member we hold dead or left: it runs, unaware of our
        // verdict; with it, it can refute.
        if let Some(&i) = self.index.get(ping.source.as_str()) {
            let m = &self.members[i as usize];
            if i != 0
                && matches!(m.state, MemberState::Dead | MemberState::Left)
                && m.addr == ping.source_addr.0
            {
                messages.push(self.verdict(i as usize));
            }
        }
        self.send_packet(ping.source_addr.0, messages, true);
    }

    /// Our record of dead or left member `i`, as the `Dead` that says so.
    fn verdict(&self, i: usize) -> Arc<[u8]> {
        let m = &self.members[i];
        let from = if m.state == MemberState::Left {
            m.name.to_string()
        } else {
            self.name.to_string()
        };
        wire::encode_message(&Message::Dead(Dead {
            incarnation: m.incarnation,
            node: m.name.to_string(),
            from,
        }))
        .into()
    }

    fn handle_indirect_ping(&mut self, now: Instant, req: IndirectPing) {
        let seq = self.next_seq();
        self.acks.insert(
            seq,
            AckHandler::Relay {
                requester: req.source_addr.0,
                requester_seq: req.seq,
                nack: req.nack,
            },
        );
        let ping = wire::encode_message(&Message::Ping(Ping {
            seq,
            target: req.target,
            source: self.name.to_string(),
            source_addr: WireAddr(self.addr),
        }));
        self.send_packet(req.target_addr.0, vec![ping.into()], false);
        self.arm(now + self.config.probe_timeout, Timer::RelayTimeout(seq));
    }

    /// `from`: the datagram's source, `None` for an ack over a stream.
    fn handle_ack(&mut self, now: Instant, from: Option<SocketAddr>, ack: Ack) {
        match self.acks.remove(&ack.seq) {
            Some(AckHandler::Probe { target, sent, .. }) => {
                self.apply_awareness(-1);
                // Only a direct answer measures the round trip to the target
                // (a relayed ack or a stream adds other legs).
                let direct = from.is_some() && self.member(&target).map(|m| m.addr) == from;
                if direct {
                    self.events.push_back(Event::ProbeAcked {
                        name: target,
                        rtt: now.saturating_duration_since(sent),
                        payload: ack.payload,
                    });
                }
            }
            Some(AckHandler::Relay {
                requester,
                requester_seq,
                ..
            }) => {
                let ack = wire::encode_message(&Message::Ack(Ack {
                    seq: requester_seq,
                    payload: ack.payload,
                }));
                self.send_packet(requester, vec![ack.into()], false);
            }
            None => self.stats.unmatched_acks += 1,
        }
    }

    fn handle_nack(&mut self, nack: Nack) {
        match self.acks.get_mut(&nack.seq) {
            Some(AckHandler::Probe { nacks, .. }) => *nacks += 1,
            _ => self.stats.unmatched_acks += 1,
        }
    }

    /// `rebroadcast_new`: whether a member first learned here is gossiped on
    /// (not for members merged from a push-pull reply, which the rest of
    /// the pool already knows). `source`: the datagram's sender, `None` for
    /// a push-pull.
    fn handle_alive(
        &mut self,
        now: Instant,
        a: Alive,
        rebroadcast_new: bool,
        source: Option<SocketAddr>,
    ) {
        if !compatible(a.versions) {
            self.stats.dropped_version += 1;
            return;
        }
        if !self.config.allows(a.addr.0.ip()) && *a.node != *self.name {
            self.stats.dropped_source += 1;
            return;
        }
        let Some(&i) = self.index.get(a.node.as_str()) else {
            if self.leave != LeaveState::Active {
                return;
            }
            self.add_member(now, a, rebroadcast_new);
            return;
        };
        let i = i as usize;
        let member = &self.members[i];
        let mut updates_addr = false;
        if member.addr != a.addr.0 {
            let reclaimable = i != 0
                && (member.state == MemberState::Left
                    || (member.state == MemberState::Dead
                        && !self.config.dead_node_reclaim_time.is_zero()
                        && now.saturating_duration_since(member.state_change)
                            > self.config.dead_node_reclaim_time));
            if !reclaimable {
                let existing = MemberSnapshot::from(member);
                self.events.push_back(Event::NameConflict {
                    existing,
                    other_addr: a.addr.0,
                });
                return;
            }
            updates_addr = true;
        }
        if i == 0 {
            // About ourselves: refute anything that would change how others
            // see us, unless it is exactly what we say.
            let local = &self.members[0];
            if a.incarnation < local.incarnation
                || (a.incarnation == local.incarnation && *a.meta == *local.meta)
            {
                return;
            }
            if self.leave == LeaveState::Active {
                self.refute(now, a.incarnation);
            }
            return;
        }
        let member = &self.members[i];
        if a.incarnation <= member.incarnation && !updates_addr {
            // A member we hold dead or left announces itself: it runs
            // unaware of our verdict (typically it restarted), which
            // outranks its alive. Tell it, so that it refutes with a higher
            // incarnation, rather than leave its return to a push-pull.
            if matches!(member.state, MemberState::Dead | MemberState::Left)
                && source == Some(member.addr)
            {
                let verdict = self.verdict(i);
                self.send_packet(member.addr, vec![verdict], false);
            }
            return;
        }
        let was = member.state;
        let meta_changed = *member.meta != *a.meta;
        let subject = member.name.clone();
        self.cancel_suspicion(i);
        let member = &mut self.members[i];
        member.incarnation = a.incarnation;
        member.addr = a.addr.0;
        if meta_changed {
            member.meta = a.meta.clone().into_boxed_slice();
        }
        member.versions = a.versions;
        if was != MemberState::Alive {
            member.state = MemberState::Alive;
            member.state_change = now;
        }
        if matches!(was, MemberState::Dead | MemberState::Left) {
            self.live_count += 1;
            let snap = MemberSnapshot::from(&self.members[i]);
            self.events.push_back(Event::MemberJoined(snap));
        } else if meta_changed || updates_addr {
            let snap = MemberSnapshot::from(&self.members[i]);
            self.events.push_back(Event::MemberUpdated(snap));
        }
        let bytes = wire::encode_message(&Message::Alive(a));
        self.broadcasts.push(Some(subject), bytes);
        self.wake_gossip();
    }

    fn add_member(&mut self, now: Instant, a: Alive, rebroadcast: bool) {
        let name: Arc<str> = a.node.as_str().into();
        let index = self.members.len() as u32;
        // Grow by a quarter rather than double: the table is the bulk of a
        // node's memory in a large pool.
        if self.members.len() == self.members.capacity() {
            self.members.reserve_exact(self.members.len() / 4 + 8);
        }
        if self.probe_order.len() == self.probe_order.capacity() {
            self.probe_order
                .reserve_exact(self.probe_order.len() / 4 + 8);
        }
        self.members.push(Member {
            name: name.clone(),
            addr: a.addr.0,
            meta: a.meta.clone().into_boxed_slice(),
            incarnation: a.incarnation,
            state: MemberState::Alive,
            state_change: now,
            versions: a.versions,
            suspicion: None,
        });
        self.index.insert(name.clone(), index);
        self.live_count += 1;
        // Insert at a random place in the probe order so that a new member
        // is probed within one round (SWIM §4.3).
        let n = self.probe_order.len();
        let at = self.rng.random_range(0..=n);
        self.probe_order.push(index);
        self.probe_order.swap(at, n);
        let snap = MemberSnapshot::from(&self.members[index as usize]);
        self.events.push_back(Event::MemberJoined(snap));
        if rebroadcast {
            let bytes = wire::encode_message(&Message::Alive(a));
            self.broadcasts.push(Some(name), bytes);
            self.wake_gossip();
        }
    }

    fn handle_suspect(&mut self, now: Instant, s: Suspect) {
        let Some(&i) = self.index.get(s.node.as_str()) else {
            return;
        };
        let i = i as usize;
        let member = &self.members[i];
        if s.incarnation < member.incarnation {
            return;
        }
        if i == 0 {
            if self.leave == LeaveState::Active {
                self.refute(now, s.incarnation);
            }
            return;
        }
        match member.state {
            MemberState::Dead | MemberState::Left => {}
            MemberState::Suspect => {
                // An accusation in no one's name (a verdict merged from a
                // push-pull) is hearsay: it confirms nothing.
                if s.from == s.node {
                    return;
                }
                let subject = member.name.clone();
                let member = &mut self.members[i];
                let Some(suspicion) = member.suspicion.as_mut() else {
                    return;
                };
                if suspicion.incarnation == s.incarnation && suspicion.confirm(&s.from) {
                    let deadline = suspicion.deadline();
                    let old_key = suspicion.timer_key;
                    let id = old_key.1;
                    self.timers.remove(&old_key);
                    let new_key = (deadline.max(now), id);
                    self.timers.insert(new_key, Timer::Suspicion(id));
                    if let Some(sus) = self.members[i].suspicion.as_mut() {
                        sus.timer_key = new_key;
                    }
                    let bytes = wire::encode_message(&Message::Suspect(s));
                    self.broadcasts.push(Some(subject), bytes);
                    self.wake_gossip();
                }
            }
            MemberState::Alive => self.start_suspicion(now, i, s),
        }
    }

    fn start_suspicion(&mut self, now: Instant, i: usize, s: Suspect) {
        let n = self.live_count;
        let min = min_timeout(self.config.suspicion_mult, n, self.config.probe_interval);
        let (max, mut expected) = if self.config.suspicion_confirmations {
            (
                min * self.config.suspicion_max_timeout_mult,
                self.config.suspicion_mult.saturating_sub(2),
            )
        } else {
            (min, 0)
        };
        if n.saturating_sub(2) < expected as usize {
            expected = 0;
        }
        let mut suspicion = Suspicion::new(s.incarnation, &s.from, now, min, max, expected);
        let id = self.next_timer_id();
        let key = (suspicion.deadline(), id);
        suspicion.timer_key = key;
        self.timers.insert(key, Timer::Suspicion(id));
        let member = &mut self.members[i];
        self.suspicion_timers.insert(id, member.name.clone());
        member.state = MemberState::Suspect;
        member.state_change = now;
        member.incarnation = s.incarnation;
        member.suspicion = Some(Box::new(suspicion));
        let subject = member.name.clone();
        let bytes = wire::encode_message(&Message::Suspect(s));
        self.broadcasts.push(Some(subject), bytes);
        self.wake_gossip();
    }

    fn cancel_suspicion(&mut self, i: usize) {
        if let Some(s) = self.members[i].suspicion.take() {
            self.timers.remove(&s.timer_key);
            self.suspicion_timers.remove(&s.timer_key.1);
        }
    }

    fn handle_dead(&mut self, now: Instant, d: Dead) {
        let Some(&i) = self.index.get(d.node.as_str()) else {
            return;
        };
        let i = i as usize;
        let member = &self.members[i];
        if d.incarnation < member.incarnation {
            return;
        }
        if matches!(member.state, MemberState::Dead | MemberState::Left) {
            return;
        }
        if i == 0 {
            if self.leave == LeaveState::Active {
                self.refute(now, d.incarnation);
            }
            return;
        }
        let left = d.node == d.from;
        self.cancel_suspicion(i);
        let member = &mut self.members[i];
        member.state = if left {
            MemberState::Left
        } else {
            MemberState::Dead
        };
        member.incarnation = d.incarnation;
        member.state_change = now;
        let subject = member.name.clone();
        self.live_count = self.live_count.saturating_sub(1);
        let snap = MemberSnapshot::from(&self.members[i]);
        self.events.push_back(if left {
            Event::MemberLeft(snap)
        } else {
            Event::MemberFailed(snap)
        });
        let bytes = wire::encode_message(&Message::Dead(d));
        self.broadcasts.push(Some(subject), bytes);
        self.wake_gossip();
    }

    /// Answers an accusation about ourselves with a higher incarnation.
    fn refute(&mut self, now: Instant, accused: u32) {
        let local = &mut self.members[0];
        local.incarnation = local.incarnation.max(accused) + 1;
        local.state_change = now;
        self.stats.refutations += 1;
        // Being accused hints that we are the slow one (Lifeguard).
        self.apply_awareness(1);
        let alive = self.local_alive();
        self.queue_broadcast(Message::Alive(alive));
    }

    fn merge_remote_state(&mut self, now: Instant, pp: PushPull) {
        if !pp.user_state.is_empty() {
            self.events.push_back(Event::RemoteUserState {
                join: pp.join,
                payload: pp.user_state,
            });
        }
        let join = pp.join;
        for node in pp.nodes {
            if node.meta.len() > self.config.max_meta_size {
                self.stats.dropped_invalid += 1;
                continue;
            }
            match node.state {
                MemberState::Alive => self.handle_alive(
                    now,
                    Alive {
                        incarnation: node.incarnation,
                        node: node.name,
                        addr: node.addr,
                        meta: node.meta,
                        versions: node.versions,
                    },
                    join,
                    None,
                ),
                MemberState::Left => self.handle_dead(
                    now,
                    Dead {
                        incarnation: node.incarnation,
                        from: node.name.clone(),
                        node: node.name,
                    },
                ),
                // A remote verdict of death is only a suspicion here: the
                // member gets a chance to refute (as memberlist). It is no
                // observation of ours, so it is made in no one's name
                // (`from` = the member): otherwise every node merging the
                // same stale verdicts, as all do when a partition heals,
                // would count as an independent confirmation, and the
                // timeout would shrink to its minimum before the
                // refutation has spread.
                MemberState::Dead | MemberState::Suspect => self.handle_suspect(
                    now,
                    Suspect {
                        incarnation: node.incarnation,
                        from: node.name.clone(),
                        node: node.name,
                    },
                ),
            }
        }
    }

    // ----- internals: timers -----

    fn next_timer_id(&mut self) -> u64 {
        self.next_timer_id += 1;
        self.next_timer_id
    }

    /// Arms the gossip tick if it sleeps (something was just queued).
    /// It resumes on the periodic schedule, at the next tick strictly after
    /// now, as if it had never stopped.
    fn wake_gossip(&mut self) {
        if !self.gossip_armed {
            self.gossip_armed = true;
            let interval = self.config.gossip_interval.as_nanos().max(1);
            let since = self
                .last_now
                .saturating_duration_since(self.gossip_origin)
                .as_nanos();
            let ticks = (since / interval + 1) as u32;
            let at = self.gossip_origin + self.config.gossip_interval * ticks;
            self.arm(at, Timer::Gossip);
        }
    }

    fn arm(&mut self, at: Instant, timer: Timer) {
        let id = self.next_timer_id();
        self.timers.insert((at, id), timer);
    }

    fn jitter(&mut self, d: Duration) -> Duration {
        let ms = d.as_millis().max(1) as u64;
        Duration::from_millis(self.rng.random_range(0..ms))
    }

    fn scaled(&self, d: Duration) -> Duration {
        if self.config.local_health {
            d * (self.awareness + 1)
        } else {
            d
        }
    }

    fn apply_awareness(&mut self, delta: i32) {
        if !self.config.local_health {
            return;
        }
        let max = self.config.awareness_max_multiplier.saturating_sub(1) as i64;
        self.awareness = (self.awareness as i64 + delta as i64).clamp(0, max) as u32;
    }

    fn push_pull_interval(&self) -> Duration {
        let n = self.live_count.max(1) as f64;
        let scale = if n <= 32.0 {
            1.0
        } else {
            (n.log2() - 32f64.log2()).ceil() + 1.0
        };
        self.config.push_pull_interval.mul_f64(scale)
    }

    fn fire(&mut self, now: Instant, id: u64, timer: Timer) {
        match timer {
            Timer::Probe => {
                let next = now + self.scaled(self.config.probe_interval);
                self.arm(next, Timer::Probe);
                if self.leave == LeaveState::Active {
                    self.probe(now);
                }
            }
            Timer::Gossip => {
                self.gossip(now);
                if self.queued_broadcasts() > 0 {
                    self.arm(now + self.config.gossip_interval, Timer::Gossip);
                } else {
                    self.gossip_armed = false;
                }
            }
            Timer::PushPull => {
                let d = self.push_pull_interval();
                self.arm(now + d, Timer::PushPull);
                if self.leave == LeaveState::Active {
                    if let Some(i) = self
                        .random_members(1, |m| m.state == MemberState::Alive)
                        .first()
                    {
                        let addr = self.members[*i].addr;
                        if self.user_state_on_demand {
                            self.due_push_pull = Some(addr);
                        } else {
                            self.start_push_pull(now, addr, false);
                        }
                    }
                }
            }
            Timer::ProbeTimeout(seq) => self.probe_timeout(now, seq),
            Timer::ProbeDeadline(seq) => self.probe_deadline(now, seq),
            Timer::RelayTimeout(seq) => {
                if let Some(AckHandler::Relay {
                    requester,
                    requester_seq,
                    nack,
                }) = self.acks.remove(&seq)
                {
                    if nack {
                        let nack =
                            wire::encode_message(&Message::Nack(Nack { seq: requester_seq }));
                        self.send_packet(requester, vec![nack.into()], false);
                    }
                }
            }
            Timer::Suspicion(_) => self.suspicion_expired(now, id),
        }
    }

    fn suspicion_expired(&mut self, now: Instant, id: u64) {
        let Some(name) = self.suspicion_timers.remove(&id) else {
            return;
        };
        let Some(&i) = self.index.get(&*name) else {
            return;
        };
        let member = &self.members[i as usize];
        let Some(s) = &member.suspicion else {
            return;
        };
        if member.state != MemberState::Suspect || s.timer_key.1 != id {
            return;
        }
        let dead = Dead {
            incarnation: s.incarnation,
            node: name.to_string(),
            from: self.name.to_string(),
        };
        self.handle_dead(now, dead);
    }

    // ----- internals: probing -----

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn probe(&mut self, now: Instant) {
        let mut checked = 0;
        let target = loop {
            if checked > self.probe_order.len() {
                return;
            }
            if self.probe_pos >= self.probe_order.len() {
                self.reset_probe_order(now);
                checked += 1;
                continue;
            }
            let i = self.probe_order[self.probe_pos] as usize;
            self.probe_pos += 1;
            checked += 1;
            if matches!(
                self.members[i].state,
                MemberState::Alive | MemberState::Suspect
            ) {
                break i;
            }
        };
        let member = &self.members[target];
        let (name, addr, incarnation, state) = (
            member.name.clone(),
            member.addr,
            member.incarnation,
            member.state,
        );
        let seq = self.next_seq();
        let mut messages: Vec<Arc<[u8]>> = vec![wire::encode_message(&Message::Ping(Ping {
            seq,
            target: name.to_string(),
            source: self.name.to_string(),
            source_addr: WireAddr(self.addr),
        }))
        .into()];
        if state == MemberState::Suspect {
            // Tell the suspect directly, so it can refute at once.
            messages.push(
                wire::encode_message(&Message::Suspect(Suspect {
                    incarnation,
                    node: name.to_string(),
                    from: self.name.to_string(),
                }))
                .into(),
            );
        }
        self.send_packet(addr, messages, true);
        self.acks.insert(
            seq,
            AckHandler::Probe {
                target: name,
                incarnation,
                sent: now,
                expected_nacks: 0,
                nacks: 0,
            },
        );
        let timeout = self.scaled(self.config.probe_timeout);
        let interval = self.scaled(self.config.probe_interval);
        self.arm(now + timeout, Timer::ProbeTimeout(seq));
        self.arm(now + interval, Timer::ProbeDeadline(seq));
    }

    fn probe_timeout(&mut self, now: Instant, seq: u32) {
        let Some(AckHandler::Probe { target, .. }) = self.acks.get(&seq) else {
            return;
        };
        let target = target.clone();
        let Some(&ti) = self.index.get(&*target) else {
            return;
        };
        let target_addr = self.members[ti as usize].addr;
        let k = self.config.indirect_checks;
        let helpers =
            self.random_members(k, |m| m.state == MemberState::Alive && *m.name != *target);
        let nack = self.config.nacks;
        for &h in &helpers {
            let req = wire::encode_message(&Message::IndirectPing(IndirectPing {
                seq,
                target: target.to_string(),
                target_addr: WireAddr(target_addr),
                nack,
                source: self.name.to_string(),
                source_addr: WireAddr(self.addr),
            }));
            let addr = self.members[h].addr;
            self.send_packet(addr, vec![req.into()], false);
        }
        if let Some(AckHandler::Probe { expected_nacks, .. }) = self.acks.get_mut(&seq) {
            if nack {
                *expected_nacks = helpers.len() as u32;
            }
        }
        if self.config.tcp_fallback_probe {
            let ping = Message::Ping(Ping {
                seq,
                target: target.to_string(),
                source: self.name.to_string(),
                source_addr: WireAddr(self.addr),
            });
            let frame = self.stream_frame(&ping);
            let deadline = now + self.scaled(self.config.probe_interval)
                - self.scaled(self.config.probe_timeout);
            self.push_stream(
                target_addr,
                frame,
                PendingStream::FallbackPing { seq },
                deadline,
            );
        }
    }

    fn probe_deadline(&mut self, now: Instant, seq: u32) {
        let Some(AckHandler::Probe {
            target,
            incarnation,
            expected_nacks,
            nacks,
            ..
        }) = self.acks.remove(&seq)
        else {
            return;
        };
        // Lifeguard: missing nacks mean our own links are suspect; with no
        // one to ask, any failed probe counts against our health.
        let delta = if expected_nacks > 0 {
            expected_nacks.saturating_sub(nacks) as i32
        } else {
            1
        };
        self.apply_awareness(delta);
        let Some(&i) = self.index.get(&*target) else {
            return;
        };
        if self.members[i as usize].incarnation > incarnation {
            return;
        }
        self.handle_suspect(
            now,
            Suspect {
                incarnation,
                node: target.to_string(),
                from: self.name.to_string(),
            },
        );
    }

    fn reset_probe_order(&mut self, now: Instant) {
        let gone = self.config.gossip_to_the_dead_time;
        let stale = |m: &Member| {
            matches!(m.state, MemberState::Dead | MemberState::Left)
                && now.saturating_duration_since(m.state_change) > gone
        };
        if self.members[1..].iter().any(stale) {
            self.remove_members(stale);
        }
        self.probe_order = (1..self.members.len() as u32).collect();
        self.probe_order.shuffle(&mut self.rng);
        self.probe_pos = 0;
    }

    fn remove_members(&mut self, mut remove: impl FnMut(&Member) -> bool) {
        let mut kept = Vec::with_capacity(self.members.len());
        for (i, m) in std::mem::take(&mut self.members).into_iter().enumerate() {
            if i == 0 || !remove(&m) {
                kept.push(m);
            } else if let Some(s) = &m.suspicion {
                self.timers.remove(&s.timer_key);
                self.suspicion_timers.remove(&s.timer_key.1);
            }
        }
        self.members = kept;
        self.index.clear();
        for (i, m) in self.members.iter().enumerate() {
            self.index.insert(m.name.clone(), i as u32);
        }
        self.probe_order
            .retain(|&i| (i as usize) < self.members.len());
        self.probe_order = (1..self.members.len() as u32).collect();
        self.probe_order.shuffle(&mut self.rng);
        self.probe_pos = 0;
    }

    /// Up to `k` distinct random members (never the local node) matching `filter`.
    fn random_members(&mut self, k: usize, filter: impl Fn(&Member) -> bool) -> Vec<usize> {
        let n = self.members.len();
        let mut picked: Vec<usize> = Vec::with_capacity(k);
        if n <= 1 || k == 0 {
            return picked;
        }
        for _ in 0..3 * n.min(64).max(k) {
            if picked.len() >= k {
                break;
            }
            let i = self.rng.random_range(1..n);
            if !picked.contains(&i) && filter(&self.members[i]) {
                picked.push(i);
            }
        }
        if picked.len() < k && n <= 256 {
            // Small pools: fill up exhaustively so that no candidate is missed.
            for i in 1..n {
                if picked.len() >= k {
                    break;
                }
                if !picked.contains(&i) && filter(&self.members[i]) {
                    picked.push(i);
                }
            }
        }
        picked
    }

    // ----- internals: gossip and transmits -----

    fn gossip(&mut self, now: Instant) {
        if self.broadcasts.is_empty() && self.user_broadcasts.is_empty() {
            return;
        }
        let dead_window = self.config.gossip_to_the_dead_time;
        let targets = self.random_members(self.config.gossip_nodes, |m| match m.state {
            MemberState::Alive | MemberState::Suspect => true,
            MemberState::Dead | MemberState::Left => {
                now.saturating_duration_since(m.state_change) < dead_window
            }
        });
        for t in targets {
            let mut messages = Vec::new();
            self.fill_broadcasts(&mut messages, self.packet_space(&[]));
            if messages.is_empty() {
                break;
            }
            let addr = self.members[t].addr;
            self.push_packet(addr, messages);
        }
    }

    fn packet_space(&self, messages: &[Arc<[u8]>]) -> usize {
        let used: usize = wire::header_len(self.config.label.as_deref())
            + self.encryption_overhead()
            + 1
            + messages
                .iter()
                .map(|m| m.len() + wire::COMPOUND_PER_MESSAGE_OVERHEAD)
                .sum::<usize>();
        self.config.max_packet_size.saturating_sub(used)
    }

    fn fill_broadcasts(&mut self, messages: &mut Vec<Arc<[u8]>>, space: usize) {
        let limit = self.retransmit_limit();
        let before: usize = messages.iter().map(|m| m.len() + 2).sum();
        self.broadcasts.take(
            space,
            wire::COMPOUND_PER_MESSAGE_OVERHEAD,
            limit,
            messages,
            wire::MAX_COMPOUND_MESSAGES,
        );
        let after: usize = messages.iter().map(|m| m.len() + 2).sum();
        let left = space.saturating_sub(after - before);
        self.user_broadcasts.take(
            left,
            wire::COMPOUND_PER_MESSAGE_OVERHEAD,
            limit,
            messages,
            wire::MAX_COMPOUND_MESSAGES,
        );
    }

    fn send_packet(&mut self, to: SocketAddr, mut messages: Vec<Arc<[u8]>>, piggyback: bool) {
        if piggyback {
            let space = self.packet_space(&messages);
            self.fill_broadcasts(&mut messages, space);
        }
        self.push_packet(to, messages);
    }

    fn push_packet(&mut self, to: SocketAddr, messages: Vec<Arc<[u8]>>) {
        let packet = wire::encode_packet(self.config.label.as_deref(), &messages);
        let payload = self.seal(packet);
        self.transmits.push_back(Transmit {
            to,
            payload,
            kind: TransmitKind::Packet,
        });
    }

    fn stream_frame(&mut self, message: &Message) -> Vec<u8> {
        let packet = wire::encode_packet(
            self.config.label.as_deref(),
            &[wire::encode_message(message)],
        );
        let packet = self.seal(packet);
        let mut frame = Vec::with_capacity(packet.len() + 4);
        frame.extend_from_slice(&(packet.len() as u32).to_be_bytes());
        frame.extend_from_slice(&packet);
        frame
    }

    fn encrypting(&self) -> bool {
        self.config.verify_outgoing && !self.keyring.is_empty()
    }

    fn encryption_overhead(&self) -> usize {
        if self.encrypting() {
            wire::ENCRYPTION_OVERHEAD
        } else {
            0
        }
    }

    /// Encrypts a packet with the primary key when this node sends
    /// encrypted.
    fn seal(&mut self, packet: Vec<u8>) -> Vec<u8> {
        match self.keyring.primary() {
            Some(key) if self.config.verify_outgoing => {
                let nonce: [u8; wire::NONCE_LEN] = self.nonces.random();
                wire::seal_packet(&packet, key, nonce)
            }
            _ => packet,
        }
    }

    fn push_stream(
        &mut self,
        to: SocketAddr,
        frame: Vec<u8>,
        pending: PendingStream,
        deadline: Instant,
    ) {
        self.next_stream += 1;
        let token = StreamToken(self.next_stream);
        self.streams.insert(token.0, pending);
        self.transmits.push_back(Transmit {
            to,
            payload: frame,
            kind: TransmitKind::Stream { token, deadline },
        });
    }

    fn push_stream_one_way(&mut self, to: SocketAddr, frame: Vec<u8>) {
        self.transmits.push_back(Transmit {
            to,
            payload: frame,
            kind: TransmitKind::StreamOneWay,
        });
    }

    fn start_push_pull(&mut self, now: Instant, addr: SocketAddr, join: bool) -> StreamToken {
        let pp = self.local_push_pull(join);
        let frame = self.stream_frame(&Message::PushPull(pp));
        let deadline = now + self.config.tcp_timeout;
        self.push_stream(addr, frame, PendingStream::PushPull, deadline);
        StreamToken(self.next_stream)
    }

    fn local_push_pull(&self, join: bool) -> PushPull {
        PushPull {
            join,
            nodes: self
                .members
                .iter()
                .map(|m| PushNode {
                    name: m.name.to_string(),
                    addr: WireAddr(m.addr),
                    meta: m.meta.to_vec(),
                    incarnation: m.incarnation,
                    state: m.state,
                    versions: m.versions,
                })
                .collect(),
            user_state: self.user_state.clone(),
        }
    }

    fn local_alive(&self) -> Alive {
        let local = &self.members[0];
        Alive {
            incarnation: local.incarnation,
            node: self.name.to_string(),
            addr: WireAddr(self.addr),
            meta: local.meta.to_vec(),
            versions: versions(),
        }
    }

    fn queue_broadcast(&mut self, message: Message) {
        let subject = match &message {
            Message::Alive(a) => Some(a.node.as_str()),
            Message::Dead(d) => Some(d.node.as_str()),
            Message::Suspect(s) => Some(s.node.as_str()),
            _ => None,
        }
        .map(|s| {
            self.index
                .get_key_value(s)
                .map(|(k, _)| k.clone())
                .unwrap_or_else(|| s.into())
        });
        let bytes = wire::encode_message(&message);
        self.broadcasts.push(subject, bytes);
        self.wake_gossip();
    }
}

#[cfg(test)]
mod tests;
