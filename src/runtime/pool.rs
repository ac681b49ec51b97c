//! A pool on real sockets: the handle users hold, and the task on the
//! runtime thread that drives its core.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_std::net::TcpStream;
use async_std::task::JoinHandle;
use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, StreamExt};

use super::endpoint::{read_frame, Endpoint, FrameError, InboundStream, Route, StreamLimits};
use super::events::EventQueue;
use super::snapshot::SnapshotFile;
use super::{Error, ErrorKind};
use crate::coord::Coordinate;
use crate::serf::{
    tags, ConflictOutcome, KeyOp, KeyringReport, QueryHandle, QueryParams, QueryTicket, Serf,
    SerfConfig, SerfEvent, SerfMember,
};
use crate::swim::{LeaveState, Profile, StreamError, StreamToken, TransmitKind};
use crate::wire::MemberState;
use crate::wire::SecretKey;

/// Settings of one pool.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Protocol settings: the Serf layer's, with SWIM's inside (start from a
    /// profile).
    pub serf: SerfConfig,
    /// Node name, unique in the pool. Default: the host name.
    pub node_name: String,
    /// Address to bind UDP and TCP on. Port 0 picks a free port.
    pub bind_addr: SocketAddr,
    /// Address to advertise to others. Default: the bound address; required
    /// when binding an unspecified IP (0.0.0.0 or ::).
    pub advertise_addr: Option<SocketAddr>,
    /// Tags, carried as node meta.
    pub tags: BTreeMap<String, String>,
    /// Most events kept waiting; the oldest is dropped beyond. Default 4,096.
    pub event_queue_depth: usize,
    /// Most inbound TCP streams served at once on the bound address; more
    /// connections are closed at once and counted (`streams_refused`). Each
    /// holds its slot at most `tcp_timeout`. Pools sharing an address use
    /// the value of the pool that bound it. Default 128.
    pub max_concurrent_streams: usize,
    /// Most received datagrams waiting for this pool; beyond it new ones
    /// are dropped and counted (`dropped_overload`). Default 1,024.
    pub inbound_packet_queue: usize,
    /// A snapshot file: membership and clocks are appended to it, and a
    /// restarted pool restores its clocks, replays no old event and rejoins
    /// the members it lists. Default none.
    pub snapshot_path: Option<std::path::PathBuf>,
    /// A keyring file (a JSON array of base64 keys, primary first). When it
    /// exists its keys replace those of `serf.swim.keys`; when it does not,
    /// it is created from them. Every change of the keyring is written to
    /// it (atomically, mode 0600). Default none.
    pub keyring_file: Option<std::path::PathBuf>,
}

impl PoolConfig {
    /// Defaults of a profile, bound to 127.0.0.1 on a free port.
    pub fn new(profile: Profile) -> PoolConfig {
        PoolConfig {
            serf: SerfConfig::new(profile),
            node_name: default_node_name(),
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise_addr: None,
            tags: BTreeMap::new(),
            event_queue_depth: 4096,
            max_concurrent_streams: 128,
            inbound_packet_queue: 1024,
            snapshot_path: None,
            keyring_file: None,
        }
    }

    /// Checks every setting; the message names the one to fix.
    pub fn validate(&self) -> Result<(), Error> {
        self.serf.validate().map_err(Error::invalid)?;
        if self.node_name.is_empty() || self.node_name.len() > crate::wire::MAX_NAME_LEN {
            return Err(Error::invalid("node name must be 1 to 128 bytes"));
        }
        if !(1..=1 << 20).contains(&self.event_queue_depth) {
            return Err(Error::invalid("event queue depth must be 1 to 1048576"));
        }
        if !(1..=65_536).contains(&self.max_concurrent_streams) {
            return Err(Error::invalid("max_concurrent_streams must be 1 to 65536"));
        }
        if !(1..=1 << 20).contains(&self.inbound_packet_queue) {
            return Err(Error::invalid("inbound_packet_queue must be 1 to 1048576"));
        }
        if self.bind_addr.ip().is_unspecified() && self.advertise_addr.is_none() {
            return Err(Error::invalid(format!(
                "bind address {} is unspecified: set an advertise address",
                self.bind_addr
            )));
        }
        let meta = tags::encode(&self.tags);
        if meta.len() > self.serf.swim.max_meta_size {
            return Err(Error::invalid(format!(
                "tags take {} bytes encoded, more than max_meta_size ({})",
                meta.len(),
                self.serf.swim.max_meta_size
            )));
        }
        Ok(())
    }
}

fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "hearsay".to_owned())
}

/// A member's status as users see it.
pub use crate::serf::Status as MemberStatus;

/// A member, as a pool reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// Node name.
    pub name: String,
    /// Advertised address.
    pub addr: SocketAddr,
    /// Status.
    pub status: MemberStatus,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Incarnation.
    pub incarnation: u32,
}

impl MemberInfo {
    fn of(m: &SerfMember, incarnation: u32) -> MemberInfo {
        MemberInfo {
            name: m.name.to_string(),
            addr: m.addr,
            status: m.status,
            tags: tags::decode(&m.meta),
            incarnation,
        }
    }
}

/// A query this node received; answer it with [`Pool::respond`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingQuery {
    /// Query name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// What answering needs.
    pub ticket: QueryTicket,
}

impl IncomingQuery {
    /// The querying node.
    pub fn from(&self) -> &str {
        &self.ticket.from
    }

    /// Answers after this are refused.
    pub fn deadline(&self) -> Instant {
        self.ticket.deadline
    }
}

/// What a pool reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolEvent {
    /// A member joined (or came back).
    MemberJoin(MemberInfo),
    /// A member left gracefully.
    MemberLeave(MemberInfo),
    /// A member was declared failed.
    MemberFailed(MemberInfo),
    /// A member's tags or address changed.
    MemberUpdate(MemberInfo),
    /// A failed or left member was forgotten.
    MemberReap(MemberInfo),
    /// A user event.
    User {
        /// Event Lamport time.
        ltime: u64,
        /// Name.
        name: String,
        /// Payload.
        payload: Vec<u8>,
    },
    /// A query to answer.
    Query(IncomingQuery),
    /// Two nodes claim one name.
    NameConflict {
        /// The name.
        name: String,
        /// The address known for it.
        addr: SocketAddr,
        /// The other claimant.
        other_addr: SocketAddr,
        /// How the vote went.
        outcome: ConflictOutcome,
    },
}

impl PoolEvent {
    /// The member concerned, for member events.
    pub fn member(&self) -> Option<&MemberInfo> {
        match self {
            PoolEvent::MemberJoin(m)
            | PoolEvent::MemberLeave(m)
            | PoolEvent::MemberFailed(m)
            | PoolEvent::MemberUpdate(m)
            | PoolEvent::MemberReap(m) => Some(m),
            _ => None,
        }
    }
}

/// Counters of one pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Datagrams received.
    pub packets_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Bytes received (datagrams and streams).
    pub bytes_in: u64,
    /// Bytes sent (datagrams and streams).
    pub bytes_out: u64,
    /// Stream frames received.
    pub streams_in: u64,
    /// Stream frames sent.
    pub streams_out: u64,
    /// Dropped: undecodable.
    pub dropped_malformed: u64,
    /// Dropped: label of no pool on this address.
    pub dropped_label: u64,
    /// Dropped: unsupported protocol version.
    pub dropped_version: u64,
    /// Dropped: out of bounds or out of place.
    pub dropped_invalid: u64,
    /// Dropped: could not be decrypted.
    pub dropped_decrypt: u64,
    /// Dropped: plaintext while encryption is required.
    pub dropped_plaintext: u64,
    /// Dropped: from a source (or about a member address) outside the
    /// allowed networks.
    pub dropped_source: u64,
    /// Keyring file writes that failed.
    pub keyring_file_errors: u64,
    /// Dropped: the pool's queue of received datagrams
    /// (`inbound_packet_queue`) was full.
    pub dropped_overload: u64,
    /// Broadcasts received again moments after a first copy (gossip's
    /// redundancy, or replays), recognised without being decoded.
    pub duplicates_skipped: u64,
    /// Snapshot records that could not be written.
    pub snapshot_errors: u64,
    /// Broadcasts dropped from a full gossip queue before being sent their
    /// full number of times.
    pub broadcasts_dropped: u64,
    /// Inbound streams refused at the concurrency limit
    /// (`max_concurrent_streams`; counted at the address, so shared by the
    /// pools on it).
    pub streams_refused: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
    /// Stream frames refused because their length prefix was above
    /// `max_stream_size`: inbound ones at the address (shared by the pools
    /// on it) and replies to this pool's own exchanges.
    pub streams_oversized: u64,
    /// Intents about unknown members dropped because `max_intents` were
    /// buffered.
    pub intents_dropped: u64,
    /// User events dropped as older than the dedup window (`event_buffer`),
    /// or older than a restored snapshot or an ignore-old join.
    pub events_too_old: u64,
    /// Queries dropped as older than the dedup window (`query_buffer`).
    pub queries_too_old: u64,
    /// Events and queries dropped because as many as `max_per_ltime` were
    /// already remembered for their Lamport time.
    pub dedup_full: u64,
    /// Queries of this node refused at `max_pending_queries`.
    pub queries_refused: u64,
    /// Acks and responses dropped beyond a query's limit
    /// (`max_query_responses`, or the members known when it started).
    pub query_replies_dropped: u64,
    /// Local health score (0 is healthy).
    pub health_score: u32,
    /// Members alive (suspects included), the local node included.
    pub members_alive: u32,
    /// Members suspected.
    pub members_suspect: u32,
    /// Members leaving.
    pub members_leaving: u32,
    /// Members left.
    pub members_left: u32,
    /// Members failed.
    pub members_failed: u32,
}

/// An answer to one of this node's queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryReply {
    /// A node received the query (when acks were asked for).
    Ack {
        /// The node.
        from: String,
    },
    /// A node answered.
    Response {
        /// The node.
        from: String,
        /// Its answer.
        payload: Vec<u8>,
    },
}

/// A query in flight: pull its acks and responses until it is done.
pub struct QueryStream {
    replies: std::sync::mpsc::Receiver<QueryReply>,
    deadline: Instant,
}

impl QueryStream {
    /// The next ack or response, waiting up to `timeout` (and never past the
    /// query's own deadline). `Ok(None)`: nothing arrived in time;
    /// `Err(Closed)`: the query is over and everything was read.
    pub fn next(&self, timeout: Option<Duration>) -> Result<Option<QueryReply>, Error> {
        let now = Instant::now();
        let wait = timeout
            .unwrap_or(Duration::MAX)
            .min(self.deadline.saturating_duration_since(now) + Duration::from_millis(50));
        match self.replies.recv_timeout(wait) {
            Ok(reply) => Ok(Some(reply)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if Instant::now() >= self.deadline + Duration::from_millis(50) {
                    // The runtime closes the channel at the deadline; a
                    // short grace covers the hop between threads.
                    match self.replies.try_recv() {
                        Ok(reply) => Ok(Some(reply)),
                        Err(_) => Err(Error::new(ErrorKind::Closed, "the query is over")),
                    }
                } else {
                    Ok(None)
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(Error::new(ErrorKind::Closed, "the query is over"))
            }
        }
    }

    /// When the query stops collecting.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// A member with its estimated round-trip time, if known.
type NearMember = (MemberInfo, Option<Duration>);

enum PoolCommand {
    Join {
        addrs: Vec<SocketAddr>,
        ignore_old_events: bool,
        reply: oneshot::Sender<usize>,
    },
    SendEvent {
        name: String,
        payload: Vec<u8>,
        coalesce: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Query {
        name: String,
        payload: Vec<u8>,
        params: QueryParams,
        reply: oneshot::Sender<Result<QueryStream, Error>>,
    },
    Respond {
        ticket: QueryTicket,
        payload: Vec<u8>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    ForceLeave {
        name: String,
        prune: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Members {
        reply: oneshot::Sender<Vec<MemberInfo>>,
    },
    Stats {
        reply: oneshot::Sender<PoolStats>,
    },
    Coordinates {
        names: Vec<String>,
        reply: oneshot::Sender<Vec<Option<Coordinate>>>,
    },
    MembersNear {
        from: Option<String>,
        reply: oneshot::Sender<Result<Vec<NearMember>, Error>>,
    },
    SetTags {
        tags: BTreeMap<String, String>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Leave {
        timeout: Duration,
        reply: oneshot::Sender<bool>,
    },
    Keyring {
        op: KeyOp,
        key: Option<SecretKey>,
        reply: oneshot::Sender<Result<KeyringReport, Error>>,
    },
    EncryptionPolicy {
        verify_incoming: bool,
        verify_outgoing: bool,
        reply: oneshot::Sender<()>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

struct Shared {
    events: EventQueue<PoolEvent>,
    local_addr: SocketAddr,
    advertise_addr: SocketAddr,
    name: String,
    snapshot_warnings: Vec<String>,
}

/// A pool: one gossip membership. Every method may be called from any
/// thread (never from the runtime thread itself). Dropping it stops the
/// pool at once, without leaving.
pub struct Pool {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<PoolCommand>,
    tcp_timeout: Duration,
    max_meta_size: usize,
}

impl Pool {
    /// The bound address ("ip:port"); with port 0 in the config, the port chosen.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The address other members reach this node at: the configured
    /// advertise address, or the bound one.
    pub fn advertise_addr(&self) -> SocketAddr {
        self.shared.advertise_addr
    }

    /// The local node's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> PoolCommand) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .unbounded_send(make(reply))
            .map_err(|_| Error::closed())?;
        futures::executor::block_on(answer).map_err(|_| Error::closed())
    }

    /// Joins through each address ("ip:port" or "host:port"): a state
    /// exchange with each. Returns how many answered, waiting at most the
    /// TCP timeout.
    pub fn join<S: AsRef<str>>(&self, addrs: &[S]) -> Result<usize, Error> {
        self.join_with(addrs, false)
    }

    /// [`join`](Pool::join); with `ignore_old_events`, events sent before
    /// the join are not delivered.
    pub fn join_with<S: AsRef<str>>(
        &self,
        addrs: &[S],
        ignore_old_events: bool,
    ) -> Result<usize, Error> {
        let mut resolved = Vec::with_capacity(addrs.len());
        for a in addrs {
            resolved.push(parse_addr(a.as_ref())?);
        }
        if resolved.is_empty() {
            return Ok(0);
        }
        let _ = self.tcp_timeout;
        self.call(|reply| PoolCommand::Join {
            addrs: resolved,
            ignore_old_events,
            reply,
        })
    }

    /// Sends a user event to every member (this one included). With
    /// `coalesce`, receivers that coalesce may deliver only the latest event
    /// of this name.
    pub fn send_event(&self, name: &str, payload: &[u8], coalesce: bool) -> Result<(), Error> {
        self.call(|reply| PoolCommand::SendEvent {
            name: name.to_owned(),
            payload: payload.to_vec(),
            coalesce,
            reply,
        })?
    }

    /// Starts a query; read its acks and responses from the returned stream.
    pub fn query(
        &self,
        name: &str,
        payload: &[u8],
        params: QueryParams,
    ) -> Result<QueryStream, Error> {
        for pattern in params.filter_tags.values() {
            regex::Regex::new(pattern).map_err(|e| {
                Error::invalid(format!(
                    "tag filter '{pattern}' is not a regular expression: {e}"
                ))
            })?;
        }
        self.call(|reply| PoolCommand::Query {
            name: name.to_owned(),
            payload: payload.to_vec(),
            params,
            reply,
        })?
    }

    /// Answers a query received as [`PoolEvent::Query`]. Each query is
    /// answered at most once per node; late answers are refused.
    pub fn respond(&self, query: &IncomingQuery, payload: &[u8]) -> Result<(), Error> {
        self.call(|reply| PoolCommand::Respond {
            ticket: query.ticket.clone(),
            payload: payload.to_vec(),
            reply,
        })?
    }

    /// Forces a failed member out (it becomes left everywhere); with
    /// `prune`, it is forgotten at once.
    pub fn force_leave(&self, name: &str, prune: bool) -> Result<(), Error> {
        self.call(|reply| PoolCommand::ForceLeave {
            name: name.to_owned(),
            prune,
            reply,
        })?
    }

    /// A snapshot of every known member, the local node included.
    pub fn members(&self) -> Result<Vec<MemberInfo>, Error> {
        self.call(|reply| PoolCommand::Members { reply })
    }

    /// Counters.
    pub fn stats(&self) -> Result<PoolStats, Error> {
        self.call(|reply| PoolCommand::Stats { reply })
    }

    /// The network coordinate of a member (the local node's for its own
    /// name); `None` until one is known, or with coordinates off.
    pub fn coordinate(&self, name: &str) -> Result<Option<Coordinate>, Error> {
        let names = vec![name.to_owned()];
        Ok(self
            .call(|reply| PoolCommand::Coordinates { names, reply })?
            .pop()
            .flatten())
    }

    /// Estimated round-trip time between two members (`b` = `None`: the
    /// local node), from their coordinates; `None` when either is unknown.
    pub fn estimated_rtt(&self, a: &str, b: Option<&str>) -> Result<Option<Duration>, Error> {
        let b = b.unwrap_or(self.name()).to_owned();
        let names = vec![a.to_owned(), b];
        let coords = self.call(|reply| PoolCommand::Coordinates { names, reply })?;
        Ok(match (&coords[0], &coords[1]) {
            (Some(x), Some(y)) => x.distance_to(y).ok(),
            _ => None,
        })
    }

    /// Members sorted by estimated round-trip time from `from` (`None`: the
    /// local node), nearest first, with the estimate; members without a
    /// coordinate come last (Consul's `?near=`).
    pub fn members_near(
        &self,
        from: Option<&str>,
    ) -> Result<Vec<(MemberInfo, Option<Duration>)>, Error> {
        let from = from.map(str::to_owned);
        self.call(|reply| PoolCommand::MembersNear { from, reply })?
    }

    /// Replaces the local node's tags; every member sees an update.
    pub fn set_tags(&self, tags: BTreeMap<String, String>) -> Result<(), Error> {
        let size = tags::encode(&tags).len();
        if size > self.max_meta_size {
            return Err(Error::invalid(format!(
                "tags take {size} bytes encoded, more than max_meta_size ({})",
                self.max_meta_size
            )));
        }
        self.call(|reply| PoolCommand::SetTags { tags, reply })?
    }

    /// The next event, waiting up to `timeout` (`None`: until one arrives
    /// or the pool stops). `Ok(None)` when none arrived in time.
    pub fn next_event(&self, timeout: Option<Duration>) -> Result<Option<PoolEvent>, Error> {
        self.shared.events.pop(timeout).map_err(|_| Error::closed())
    }

    /// A descriptor that is readable exactly while events are waiting.
    pub fn event_fd(&self) -> std::os::fd::RawFd {
        self.shared.events.fd()
    }

    /// Events dropped because the queue was full.
    pub fn events_dropped(&self) -> u64 {
        self.shared.events.dropped()
    }

    /// Lines of the snapshot file skipped at start (torn or garbage), with
    /// their line numbers and why.
    pub fn snapshot_warnings(&self) -> &[String] {
        &self.shared.snapshot_warnings
    }

    /// Installs a key on every member (see [`keyring_op`](Pool::keyring_op)).
    pub fn keyring_install(&self, key: &SecretKey) -> Result<KeyringReport, Error> {
        self.keyring_op(KeyOp::Install, Some(key))
    }

    /// Makes an installed key the primary on every member.
    pub fn keyring_use(&self, key: &SecretKey) -> Result<KeyringReport, Error> {
        self.keyring_op(KeyOp::Use, Some(key))
    }

    /// Removes a key from every member; refused where it is the primary.
    pub fn keyring_remove(&self, key: &SecretKey) -> Result<KeyringReport, Error> {
        self.keyring_op(KeyOp::Remove, Some(key))
    }

    /// Lists the keys of every member and how many hold each.
    pub fn keyring_list(&self) -> Result<KeyringReport, Error> {
        self.keyring_op(KeyOp::List, None)
    }

    /// Runs a keyring operation across the pool (an internal query) and
    /// waits until every alive member answered or the query's default
    /// timeout passed. The report lists each member's failure; check
    /// [`KeyringReport::succeeded`] before the next step of a rotation.
    pub fn keyring_op(&self, op: KeyOp, key: Option<&SecretKey>) -> Result<KeyringReport, Error> {
        let key = key.cloned();
        self.call(|reply| PoolCommand::Keyring { op, key, reply })?
    }

    /// Sets whether plaintext is refused and whether what is sent is
    /// encrypted (with keys installed): the steps of a rolling migration
    /// to encryption, or back.
    pub fn set_encryption_policy(
        &self,
        verify_incoming: bool,
        verify_outgoing: bool,
    ) -> Result<(), Error> {
        self.call(|reply| PoolCommand::EncryptionPolicy {
            verify_incoming,
            verify_outgoing,
            reply,
        })
    }

    /// Leaves gracefully: announces it and waits until the announcement is
    /// sent or `timeout` passes (`Err` with `Timeout` then). The pool keeps
    /// answering until it is dropped.
    pub fn leave(&self, timeout: Duration) -> Result<(), Error> {
        if self.call(|reply| PoolCommand::Leave { timeout, reply })? {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Timeout,
                format!("leave not fully broadcast within {timeout:?}"),
            ))
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .unbounded_send(PoolCommand::Stop { reply })
            .is_ok()
        {
            let _ = futures::executor::block_on(answer);
        }
        self.shared.events.close();
    }
}

/// A network of allowed sources ("10.0.0.0/8", "fd00::/8"); a plain
/// address is that host alone.
pub fn parse_cidr(text: &str) -> Result<ipnet::IpNet, Error> {
    let text = text.trim();
    if let Ok(net) = text.parse::<ipnet::IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<std::net::IpAddr>()
        .map(ipnet::IpNet::from)
        .map_err(|_| {
            Error::invalid(format!(
                "'{text}' is not a network: use address/prefix, e.g. 10.0.0.0/8 or fd00::/8"
            ))
        })
}

fn parse_addr(text: &str) -> Result<SocketAddr, Error> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| {
            Error::invalid(format!(
                "'{text}' is not an address: use ip:port or host:port"
            ))
        })
}

/// The runtime's side of a pool.
pub(crate) struct PoolTask {
    commands: mpsc::UnboundedSender<PoolCommand>,
    handle: JoinHandle<()>,
    finished: Rc<std::cell::Cell<bool>>,
}

impl PoolTask {
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.get()
    }

    pub(crate) async fn stop(self) {
        let (reply, _answer) = oneshot::channel();
        let _ = self.commands.unbounded_send(PoolCommand::Stop { reply });
        self.handle.await;
    }
}

type Endpoints = Rc<RefCell<HashMap<SocketAddr, Rc<Endpoint>>>>;

/// Binds (or shares) the address and spawns the pool's task.
pub(crate) fn start(config: PoolConfig, endpoints: &Endpoints) -> Result<(Pool, PoolTask), Error> {
    let shared_endpoint = if config.bind_addr.port() != 0 {
        endpoints.borrow().get(&config.bind_addr).cloned()
    } else {
        None
    };
    let endpoint = match shared_endpoint {
        Some(e) => e,
        None => Endpoint::bind(
            config.bind_addr,
            StreamLimits {
                max_concurrent: config.max_concurrent_streams,
                timeout: config.serf.swim.tcp_timeout,
            },
        )?,
    };
    let label = config.serf.swim.label.clone();
    let (packets_tx, packets_rx) = super::endpoint::packet_queue(config.inbound_packet_queue);
    let packets_shed = Rc::new(std::cell::Cell::new(0));
    let (streams_tx, streams_rx) = mpsc::unbounded();
    endpoint.add_route(
        label.clone(),
        Route {
            packets: packets_tx,
            packets_shed: packets_shed.clone(),
            streams: streams_tx,
            max_stream_size: config.serf.swim.max_stream_size,
        },
    )?;
    endpoints
        .borrow_mut()
        .insert(endpoint.local_addr, endpoint.clone());
    let local_addr = endpoint.local_addr;
    let advertise = config.advertise_addr.unwrap_or(local_addr);
    let meta = tags::encode(&config.tags);
    let mut config = config;
    let mut keyring_written = Vec::new();
    if let Some(path) = &config.keyring_file {
        let loaded = match super::keyring_file::load(path) {
            Ok(loaded) => loaded,
            Err(e) => {
                if endpoint.remove_route(&label) {
                    endpoints.borrow_mut().remove(&local_addr);
                }
                return Err(e);
            }
        };
        match loaded {
            Some(keys) => {
                config.serf.swim.keys = keys.clone();
                keyring_written = keys;
            }
            None if !config.serf.swim.keys.is_empty() => {
                if let Err(e) = super::keyring_file::store(path, &config.serf.swim.keys) {
                    if endpoint.remove_route(&label) {
                        endpoints.borrow_mut().remove(&local_addr);
                    }
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("cannot write the keyring file {}: {e}", path.display()),
                    ));
                }
                keyring_written = config.serf.swim.keys.clone();
            }
            None => {}
        }
    }
    let seed: u64 = rand::random();
    let core = match Serf::new(
        config.serf.clone(),
        &config.node_name,
        advertise,
        meta,
        seed,
        Instant::now(),
    ) {
        Ok(core) => core,
        Err(e) => {
            if endpoint.remove_route(&label) {
                endpoints.borrow_mut().remove(&local_addr);
            }
            return Err(Error::invalid(e.to_string()));
        }
    };
    let mut core = core;
    // Nonces must never repeat under one key: draw them from a generator
    // seeded by the operating system, not from the protocol's seed.
    core.reseed_nonces(rand::random());
    let mut snapshot_warnings = Vec::new();
    let snapshot = match &config.snapshot_path {
        None => None,
        Some(path) => match SnapshotFile::open(path) {
            Ok((file, state, warnings)) => {
                snapshot_warnings = warnings;
                core.enable_snapshot();
                core.restore(Instant::now(), &state);
                Some(file)
            }
            Err(e) => {
                if endpoint.remove_route(&label) {
                    endpoints.borrow_mut().remove(&local_addr);
                }
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("cannot open the snapshot file {}: {e}", path.display()),
                ));
            }
        },
    };
    let events = EventQueue::new(config.event_queue_depth)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot create the event pipe: {e}")))?;
    let shared = Arc::new(Shared {
        events,
        local_addr,
        advertise_addr: advertise,
        name: config.node_name.clone(),
        snapshot_warnings,
    });
    let (commands_tx, commands_rx) = mpsc::unbounded();
    let finished = Rc::new(std::cell::Cell::new(false));
    let driver = Driver {
        core,
        endpoint,
        endpoints: endpoints.clone(),
        label,
        shared: shared.clone(),
        stream_results: mpsc::unbounded(),
        joins: HashMap::new(),
        queries: HashMap::new(),
        next_join: 0,
        join_tokens: HashMap::new(),
        leave: None,
        snapshot,
        snapshot_errors: 0,
        keyring_ops: HashMap::new(),
        keyring_file: config.keyring_file.clone(),
        keyring_written,
        keyring_file_errors: 0,
        packets_shed,
        replies_oversized: Rc::default(),
    };
    let done = finished.clone();
    let handle = async_std::task::spawn_local(async move {
        driver.run(packets_rx, streams_rx, commands_rx).await;
        done.set(true);
    });
    let pool = Pool {
        shared,
        commands: commands_tx.clone(),
        tcp_timeout: config.serf.swim.tcp_timeout,
        max_meta_size: config.serf.swim.max_meta_size,
    };
    Ok((
        pool,
        PoolTask {
            commands: commands_tx,
            handle,
            finished,
        },
    ))
}

type StreamResult = (StreamToken, Result<Vec<u8>, StreamError>);

struct PendingJoin {
    remaining: usize,
    joined: usize,
    reply: oneshot::Sender<usize>,
}

struct Driver {
    core: Serf,
    endpoint: Rc<Endpoint>,
    endpoints: Endpoints,
    label: Option<String>,
    shared: Arc<Shared>,
    stream_results: (
        mpsc::UnboundedSender<StreamResult>,
        mpsc::UnboundedReceiver<StreamResult>,
    ),
    joins: HashMap<u64, PendingJoin>,
    next_join: u64,
    join_tokens: HashMap<StreamToken, u64>,
    queries: HashMap<QueryHandle, std::sync::mpsc::Sender<QueryReply>>,
    leave: Option<(Instant, oneshot::Sender<bool>)>,
    snapshot: Option<SnapshotFile>,
    snapshot_errors: u64,
    keyring_ops: HashMap<QueryHandle, oneshot::Sender<Result<KeyringReport, Error>>>,
    keyring_file: Option<std::path::PathBuf>,
    /// The keys last written to the keyring file.
    keyring_written: Vec<SecretKey>,
    keyring_file_errors: u64,
    packets_shed: Rc<std::cell::Cell<u64>>,
    /// Replies to this pool's exchanges refused for their length.
    replies_oversized: Rc<std::cell::Cell<u64>>,
}

impl Driver {
    async fn run(
        mut self,
        mut packets: super::endpoint::PacketReceiver,
        mut streams: mpsc::UnboundedReceiver<InboundStream>,
        mut commands: mpsc::UnboundedReceiver<PoolCommand>,
    ) {
        let mut stop_reply = None;
        loop {
            let now = Instant::now();
            let mut wake = self
                .core
                .poll_timeout()
                .unwrap_or(now + Duration::from_secs(3600));
            if let Some((deadline, _)) = &self.leave {
                wake = wake.min(*deadline);
            }
            let sleep = async_std::task::sleep(wake.saturating_duration_since(now)).fuse();
            futures::pin_mut!(sleep);
            futures::select! {
                packet = packets.next() => match packet {
                    Some((from, bytes)) => {
                        let _ = self.core.handle_packet(Instant::now(), from, &bytes);
                    }
                    None => break,
                },
                stream = streams.next() => {
                    if let Some(InboundStream { from, frame, reply }) = stream {
                        let out = self.core.handle_stream(Instant::now(), from, &frame).ok().flatten();
                        let _ = reply.send(out);
                    }
                },
                result = self.stream_results.1.next() => {
                    if let Some((token, result)) = result {
                        let outcome = self.core.handle_stream_reply(
                            Instant::now(),
                            token,
                            result.as_deref().map_err(Clone::clone),
                        );
                        self.finish_join(token, outcome.is_ok());
                    }
                },
                command = commands.next() => match command {
                    Some(PoolCommand::Stop { reply }) => {
                        stop_reply = Some(reply);
                        break;
                    }
                    Some(command) => self.command(command),
                    None => break,
                },
                _ = sleep => self.core.handle_timeout(Instant::now()),
            }
            self.flush().await;
            self.check_leave();
        }
        self.shared.events.close();
        if self.endpoint.remove_route(&self.label) {
            self.endpoints
                .borrow_mut()
                .remove(&self.endpoint.local_addr);
            self.endpoint.shutdown().await;
        }
        if let Some(reply) = stop_reply {
            let _ = reply.send(());
        }
    }

    fn command(&mut self, command: PoolCommand) {
        let now = Instant::now();
        match command {
            PoolCommand::Join {
                addrs,
                ignore_old_events,
                reply,
            } => {
                self.next_join += 1;
                let id = self.next_join;
                for addr in &addrs {
                    let token = self.core.join(now, *addr, ignore_old_events);
                    self.join_tokens.insert(token, id);
                }
                self.joins.insert(
                    id,
                    PendingJoin {
                        remaining: addrs.len(),
                        joined: 0,
                        reply,
                    },
                );
            }
            PoolCommand::Members { reply } => {
                let swim = self.core.swim();
                let members = self
                    .core
                    .members()
                    .map(|m| MemberInfo::of(m, swim.member(&m.name).map_or(0, |s| s.incarnation)))
                    .collect();
                let _ = reply.send(members);
            }
            PoolCommand::SendEvent {
                name,
                payload,
                coalesce,
                reply,
            } => {
                let result = self
                    .core
                    .send_event(now, &name, &payload, coalesce)
                    .map_err(serf_error);
                let _ = reply.send(result);
            }
            PoolCommand::Query {
                name,
                payload,
                params,
                reply,
            } => {
                let timeout = params
                    .timeout
                    .unwrap_or_else(|| self.core.default_query_timeout());
                let result = self.core.query(now, &name, &payload, params).map(|handle| {
                    let (tx, rx) = std::sync::mpsc::channel();
                    self.queries.insert(handle, tx);
                    QueryStream {
                        replies: rx,
                        deadline: now + timeout,
                    }
                });
                let _ = reply.send(result.map_err(serf_error));
            }
            PoolCommand::Respond {
                ticket,
                payload,
                reply,
            } => {
                let result = self
                    .core
                    .respond(now, &ticket, &payload)
                    .map_err(serf_error);
                let _ = reply.send(result);
            }
            PoolCommand::ForceLeave { name, prune, reply } => {
                let result = self.core.force_leave(now, &name, prune).map_err(serf_error);
                let _ = reply.send(result);
            }
            PoolCommand::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
            PoolCommand::Coordinates { names, reply } => {
                let coords = names
                    .iter()
                    .map(|n| self.core.member_coordinate(n).cloned())
                    .collect();
                let _ = reply.send(coords);
            }
            PoolCommand::MembersNear { from, reply } => {
                let from = from.unwrap_or_else(|| self.core.name().to_owned());
                let result = if self.core.member(&from).is_none() {
                    Err(Error::invalid(format!("no member named '{from}'")))
                } else {
                    Ok(self
                        .core
                        .members_by_rtt(&from)
                        .into_iter()
                        .filter_map(|(name, rtt)| {
                            self.core.member(&name).map(|m| (self.info(m), rtt))
                        })
                        .collect())
                };
                let _ = reply.send(result);
            }
            PoolCommand::SetTags { tags, reply } => {
                let result = self
                    .core
                    .set_meta(now, tags::encode(&tags))
                    .map_err(serf_error);
                let _ = reply.send(result);
            }
            PoolCommand::Leave { timeout, reply } => {
                self.core.leave(now);
                self.leave = Some((now + timeout, reply));
            }
            PoolCommand::Keyring { op, key, reply } => {
                match self.core.keyring_op(now, op, key.as_ref(), None) {
                    Ok(handle) => {
                        self.keyring_ops.insert(handle, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(serf_error(e)));
                    }
                }
            }
            PoolCommand::EncryptionPolicy {
                verify_incoming,
                verify_outgoing,
                reply,
            } => {
                self.core
                    .set_encryption_policy(verify_incoming, verify_outgoing);
                let _ = reply.send(());
            }
            PoolCommand::Stop { .. } => {}
        }
    }

    fn finish_join(&mut self, token: StreamToken, ok: bool) {
        let Some(id) = self.join_tokens.remove(&token) else {
            return;
        };
        let Some(join) = self.joins.get_mut(&id) else {
            return;
        };
        join.remaining -= 1;
        if ok {
            join.joined += 1;
        }
        if join.remaining == 0 {
            let join = self.joins.remove(&id).expect("invariant: just found");
            let _ = join.reply.send(join.joined);
        }
    }

    fn check_leave(&mut self) {
        let Some((deadline, _)) = &self.leave else {
            return;
        };
        let done = self.core.leave_state() == LeaveState::Left;
        if done || Instant::now() >= *deadline {
            let (_, reply) = self.leave.take().expect("invariant: checked above");
            let _ = reply.send(done);
        }
    }

    fn stats(&self) -> PoolStats {
        let s = self.core.swim().stats();
        let serf = self.core.stats();
        let mut stats = PoolStats {
            packets_in: s.packets_in,
            packets_out: s.packets_out,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            streams_in: s.streams_in,
            streams_out: s.streams_out,
            dropped_malformed: s.dropped_malformed,
            dropped_label: s.dropped_label + self.endpoint.counters.unknown_label.get(),
            dropped_version: s.dropped_version,
            dropped_invalid: s.dropped_invalid,
            dropped_decrypt: s.dropped_decrypt,
            dropped_plaintext: s.dropped_plaintext,
            dropped_source: s.dropped_source,
            keyring_file_errors: self.keyring_file_errors,
            dropped_overload: self.packets_shed.get(),
            duplicates_skipped: s.duplicates_skipped,
            snapshot_errors: self.snapshot_errors,
            broadcasts_dropped: s.broadcasts_dropped,
            streams_refused: self.endpoint.counters.streams_refused.get(),
            events_dropped: self.shared.events.dropped(),
            streams_oversized: self.endpoint.counters.streams_oversized.get()
                + self.replies_oversized.get(),
            intents_dropped: serf.intents_dropped,
            events_too_old: serf.events_too_old,
            queries_too_old: serf.queries_too_old,
            dedup_full: serf.events_slot_full + serf.queries_slot_full,
            queries_refused: serf.queries_refused,
            query_replies_dropped: serf.query_replies_dropped,
            health_score: self.core.swim().health_score(),
            ..PoolStats::default()
        };
        for m in self.core.members() {
            match m.status {
                MemberStatus::Alive => stats.members_alive += 1,
                MemberStatus::Leaving => stats.members_leaving += 1,
                MemberStatus::Left => stats.members_left += 1,
                MemberStatus::Failed => stats.members_failed += 1,
            }
        }
        stats.members_suspect = self
            .core
            .swim()
            .members()
            .iter()
            .filter(|m| m.state == MemberState::Suspect)
            .count() as u32;
        stats
    }

    async fn flush(&mut self) {
        while let Some(t) = self.core.poll_transmit() {
            match t.kind {
                TransmitKind::Packet => {
                    let _ = self.endpoint.udp.send_to(&t.payload, t.to).await;
                }
                TransmitKind::Stream { token, deadline } => {
                    let results = self.stream_results.0.clone();
                    let max = self.core.config().swim.max_stream_size;
                    let oversized = self.replies_oversized.clone();
                    async_std::task::spawn_local(async move {
                        let timeout = deadline.saturating_duration_since(Instant::now());
                        let exchange = exchange(t.to, t.payload, max, &oversized);
                        let result = async_std::future::timeout(timeout, exchange)
                            .await
                            .unwrap_or(Err(StreamError::Timeout));
                        let _ = results.unbounded_send((token, result));
                    });
                }
                TransmitKind::StreamOneWay => {
                    let timeout = self.core.config().swim.tcp_timeout;
                    async_std::task::spawn_local(async move {
                        let _ = async_std::future::timeout(timeout, send_one_way(t.to, t.payload))
                            .await;
                    });
                }
            }
        }
        // Write-ahead: the records covering the events below reach the
        // file before the events reach the user.
        let mut wrote = false;
        while let Some(record) = self.core.poll_snapshot_record() {
            if let Some(file) = &mut self.snapshot {
                wrote = true;
                if file.append(record).is_err() {
                    self.snapshot_errors += 1;
                }
            }
        }
        if wrote {
            if let Some(file) = &mut self.snapshot {
                if file.sync().is_err() {
                    self.snapshot_errors += 1;
                }
            }
        }
        self.write_keyring_file();
        while let Some(event) = self.core.poll_event() {
            let event = match event {
                SerfEvent::MemberJoin(m) => PoolEvent::MemberJoin(self.info(&m)),
                SerfEvent::MemberUpdate(m) => PoolEvent::MemberUpdate(self.info(&m)),
                SerfEvent::MemberFailed(m) => PoolEvent::MemberFailed(self.info(&m)),
                SerfEvent::MemberLeave(m) => PoolEvent::MemberLeave(self.info(&m)),
                SerfEvent::MemberReap(m) => PoolEvent::MemberReap(self.info(&m)),
                SerfEvent::User {
                    ltime,
                    name,
                    payload,
                    ..
                } => PoolEvent::User {
                    ltime,
                    name,
                    payload,
                },
                SerfEvent::Query {
                    name,
                    payload,
                    ticket,
                } => PoolEvent::Query(IncomingQuery {
                    name,
                    payload,
                    ticket,
                }),
                // The core accepts a bounded number of acks and responses
                // per query (max_query_responses), which bounds these
                // channels even when the user reads none.
                SerfEvent::QueryAck { handle, from } => {
                    if let Some(tx) = self.queries.get(&handle) {
                        let _ = tx.send(QueryReply::Ack { from });
                    }
                    continue;
                }
                SerfEvent::QueryResponse {
                    handle,
                    from,
                    payload,
                } => {
                    if let Some(tx) = self.queries.get(&handle) {
                        let _ = tx.send(QueryReply::Response { from, payload });
                    }
                    continue;
                }
                SerfEvent::QueryDone { handle } => {
                    self.queries.remove(&handle);
                    continue;
                }
                SerfEvent::KeyringDone { handle, report, .. } => {
                    if let Some(reply) = self.keyring_ops.remove(&handle) {
                        let _ = reply.send(Ok(report));
                    }
                    continue;
                }
                SerfEvent::NameConflict {
                    name,
                    addr,
                    other_addr,
                    outcome,
                } => PoolEvent::NameConflict {
                    name,
                    addr,
                    other_addr,
                    outcome,
                },
            };
            self.shared.events.push(event);
        }
    }

    /// Writes the keyring file when the keys changed since it was written.
    fn write_keyring_file(&mut self) {
        let Some(path) = &self.keyring_file else {
            return;
        };
        let keys = self.core.keyring().keys();
        if keys == self.keyring_written.as_slice() {
            return;
        }
        if super::keyring_file::store(path, keys).is_err() {
            // Counted; the next change tries again.
            self.keyring_file_errors += 1;
        }
        self.keyring_written = keys.to_vec();
    }

    fn info(&self, m: &SerfMember) -> MemberInfo {
        let incarnation = self
            .core
            .swim()
            .member(&m.name)
            .map_or(0, |s| s.incarnation);
        MemberInfo::of(m, incarnation)
    }
}

fn serf_error(e: crate::serf::SerfError) -> Error {
    use crate::serf::SerfError;
    match e {
        SerfError::InvalidArgument(m) => Error::invalid(m),
        SerfError::NotFound(n) => Error::invalid(format!("no member named '{n}'")),
        SerfError::Expired => Error::new(ErrorKind::Timeout, "the query's deadline has passed"),
        SerfError::Left => Error::new(ErrorKind::Closed, "the node has left the pool"),
        SerfError::TooManyQueries => {
            Error::new(ErrorKind::InvalidArgument, "too many queries pending")
        }
        SerfError::Swim(e) => Error::invalid(e.to_string()),
    }
}

async fn exchange(
    to: SocketAddr,
    frame: Vec<u8>,
    max: usize,
    oversized: &std::cell::Cell<u64>,
) -> Result<Vec<u8>, StreamError> {
    use async_std::io::WriteExt;
    let io = |e: std::io::Error| StreamError::Io(e.to_string());
    let mut stream = TcpStream::connect(to).await.map_err(io)?;
    stream.write_all(&frame).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    read_frame(&mut stream, max).await.map_err(|e| {
        if matches!(e, FrameError::Oversized(_)) {
            oversized.set(oversized.get() + 1);
        }
        StreamError::Io(e.to_string())
    })
}

async fn send_one_way(to: SocketAddr, frame: Vec<u8>) -> std::io::Result<()> {
    use async_std::io::WriteExt;
    let mut stream = TcpStream::connect(to).await?;
    stream.write_all(&frame).await?;
    stream.flush().await
}
