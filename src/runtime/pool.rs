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

use super::endpoint::{read_frame, Endpoint, InboundStream, Route};
use super::events::EventQueue;
use super::{Error, ErrorKind};
use crate::swim::{
    Config, Event, LeaveState, Member, Profile, StreamError, StreamToken, Swim, TransmitKind,
};
use crate::wire::MemberState;

/// Settings of one pool.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Protocol settings (start from a profile).
    pub swim: Config,
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
}

impl PoolConfig {
    /// Defaults of a profile, bound to 127.0.0.1 on a free port.
    pub fn new(profile: Profile) -> PoolConfig {
        PoolConfig {
            swim: Config::for_profile(profile),
            node_name: default_node_name(),
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise_addr: None,
            tags: BTreeMap::new(),
            event_queue_depth: 4096,
        }
    }

    /// Checks every setting; the message names the one to fix.
    pub fn validate(&self) -> Result<(), Error> {
        self.swim
            .validate()
            .map_err(|e| Error::invalid(e.to_string()))?;
        if self.node_name.is_empty() || self.node_name.len() > crate::wire::MAX_NAME_LEN {
            return Err(Error::invalid("node name must be 1 to 128 bytes"));
        }
        if !(1..=1 << 20).contains(&self.event_queue_depth) {
            return Err(Error::invalid("event queue depth must be 1 to 1048576"));
        }
        if self.bind_addr.ip().is_unspecified() && self.advertise_addr.is_none() {
            return Err(Error::invalid(format!(
                "bind address {} is unspecified: set an advertise address",
                self.bind_addr
            )));
        }
        let meta = encode_tags(&self.tags);
        if meta.len() > self.swim.max_meta_size {
            return Err(Error::invalid(format!(
                "tags take {} bytes encoded, more than max_meta_size ({})",
                meta.len(),
                self.swim.max_meta_size
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

/// Tags as node meta: a CBOR map of text to text.
pub(crate) fn encode_tags(tags: &BTreeMap<String, String>) -> Vec<u8> {
    if tags.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    ciborium::into_writer(tags, &mut out).expect("invariant: writing CBOR to a Vec cannot fail");
    out
}

pub(crate) fn decode_tags(meta: &[u8]) -> BTreeMap<String, String> {
    if meta.is_empty() {
        return BTreeMap::new();
    }
    ciborium::from_reader(meta).unwrap_or_default()
}

/// A member's status as users see it (Serf's vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum MemberStatus {
    /// Alive (or suspected but not yet declared dead).
    Alive = 1,
    /// Announced its leave, not yet gone.
    Leaving = 2,
    /// Left gracefully.
    Left = 3,
    /// Declared dead by the failure detector.
    Failed = 4,
}

impl MemberStatus {
    fn of(state: MemberState) -> MemberStatus {
        match state {
            MemberState::Alive | MemberState::Suspect => MemberStatus::Alive,
            MemberState::Dead => MemberStatus::Failed,
            MemberState::Left => MemberStatus::Left,
        }
    }

    /// Lowercase name: alive, leaving, left, failed.
    pub fn name(self) -> &'static str {
        match self {
            MemberStatus::Alive => "alive",
            MemberStatus::Leaving => "leaving",
            MemberStatus::Left => "left",
            MemberStatus::Failed => "failed",
        }
    }
}

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
    fn of(m: &Member) -> MemberInfo {
        MemberInfo {
            name: m.name.to_string(),
            addr: m.addr,
            status: MemberStatus::of(m.state),
            tags: decode_tags(&m.meta),
            incarnation: m.incarnation,
        }
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
}

impl PoolEvent {
    /// The member concerned.
    pub fn member(&self) -> &MemberInfo {
        match self {
            PoolEvent::MemberJoin(m)
            | PoolEvent::MemberLeave(m)
            | PoolEvent::MemberFailed(m)
            | PoolEvent::MemberUpdate(m) => m,
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
    /// Inbound streams refused at the concurrency limit.
    pub streams_refused: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
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

enum PoolCommand {
    Join {
        addrs: Vec<SocketAddr>,
        reply: oneshot::Sender<usize>,
    },
    Members {
        reply: oneshot::Sender<Vec<MemberInfo>>,
    },
    Stats {
        reply: oneshot::Sender<PoolStats>,
    },
    SetTags {
        tags: BTreeMap<String, String>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Leave {
        timeout: Duration,
        reply: oneshot::Sender<bool>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

struct Shared {
    events: EventQueue<PoolEvent>,
    local_addr: SocketAddr,
    name: String,
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
            reply,
        })
    }

    /// A snapshot of every known member, the local node included.
    pub fn members(&self) -> Result<Vec<MemberInfo>, Error> {
        self.call(|reply| PoolCommand::Members { reply })
    }

    /// Counters.
    pub fn stats(&self) -> Result<PoolStats, Error> {
        self.call(|reply| PoolCommand::Stats { reply })
    }

    /// Replaces the local node's tags; every member sees an update.
    pub fn set_tags(&self, tags: BTreeMap<String, String>) -> Result<(), Error> {
        let size = encode_tags(&tags).len();
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
        None => Endpoint::bind(config.bind_addr)?,
    };
    let label = config.swim.label.clone();
    let (packets_tx, packets_rx) = mpsc::unbounded();
    let (streams_tx, streams_rx) = mpsc::unbounded();
    endpoint.add_route(
        label.clone(),
        Route {
            packets: packets_tx,
            streams: streams_tx,
            max_stream_size: config.swim.max_stream_size,
        },
    )?;
    endpoints
        .borrow_mut()
        .insert(endpoint.local_addr, endpoint.clone());
    let local_addr = endpoint.local_addr;
    let advertise = config.advertise_addr.unwrap_or(local_addr);
    let meta = encode_tags(&config.tags);
    let seed: u64 = rand::random();
    let core = match Swim::new(
        config.swim.clone(),
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
    let events = EventQueue::new(config.event_queue_depth)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot create the event pipe: {e}")))?;
    let shared = Arc::new(Shared {
        events,
        local_addr,
        name: config.node_name.clone(),
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
        next_join: 0,
        join_tokens: HashMap::new(),
        leave: None,
    };
    let done = finished.clone();
    let handle = async_std::task::spawn_local(async move {
        driver.run(packets_rx, streams_rx, commands_rx).await;
        done.set(true);
    });
    let pool = Pool {
        shared,
        commands: commands_tx.clone(),
        tcp_timeout: config.swim.tcp_timeout,
        max_meta_size: config.swim.max_meta_size,
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
    core: Swim,
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
    leave: Option<(Instant, oneshot::Sender<bool>)>,
}

impl Driver {
    async fn run(
        mut self,
        mut packets: mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>,
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
            PoolCommand::Join { addrs, reply } => {
                self.next_join += 1;
                let id = self.next_join;
                for addr in &addrs {
                    let token = self.core.join(now, *addr);
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
                let members = self.core.members().iter().map(MemberInfo::of).collect();
                let _ = reply.send(members);
            }
            PoolCommand::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
            PoolCommand::SetTags { tags, reply } => {
                let result = self
                    .core
                    .set_meta(now, encode_tags(&tags))
                    .map_err(|e| Error::invalid(e.to_string()));
                let _ = reply.send(result);
            }
            PoolCommand::Leave { timeout, reply } => {
                self.core.leave(now);
                self.leave = Some((now + timeout, reply));
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
        let s = self.core.stats();
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
            streams_refused: self.endpoint.counters.streams_refused.get(),
            events_dropped: self.shared.events.dropped(),
            health_score: self.core.health_score(),
            ..PoolStats::default()
        };
        for m in self.core.members() {
            match m.state {
                MemberState::Alive => stats.members_alive += 1,
                MemberState::Suspect => {
                    stats.members_alive += 1;
                    stats.members_suspect += 1;
                }
                MemberState::Dead => stats.members_failed += 1,
                MemberState::Left => stats.members_left += 1,
            }
        }
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
                    let max = self.core.config().max_stream_size;
                    async_std::task::spawn_local(async move {
                        let timeout = deadline.saturating_duration_since(Instant::now());
                        let result =
                            async_std::future::timeout(timeout, exchange(t.to, t.payload, max))
                                .await
                                .unwrap_or(Err(StreamError::Timeout));
                        let _ = results.unbounded_send((token, result));
                    });
                }
                TransmitKind::StreamOneWay => {
                    let timeout = self.core.config().tcp_timeout;
                    async_std::task::spawn_local(async move {
                        let _ = async_std::future::timeout(timeout, send_one_way(t.to, t.payload))
                            .await;
                    });
                }
            }
        }
        while let Some(event) = self.core.poll_event() {
            let event = match event {
                Event::MemberJoined(m) => PoolEvent::MemberJoin(info(&m)),
                Event::MemberUpdated(m) => PoolEvent::MemberUpdate(info(&m)),
                Event::MemberFailed(m) => PoolEvent::MemberFailed(info(&m)),
                Event::MemberLeft(m) => PoolEvent::MemberLeave(info(&m)),
                _ => continue,
            };
            self.shared.events.push(event);
        }
    }
}

fn info(m: &crate::swim::MemberSnapshot) -> MemberInfo {
    MemberInfo {
        name: m.name.to_string(),
        addr: m.addr,
        status: MemberStatus::of(m.state),
        tags: decode_tags(&m.meta),
        incarnation: m.incarnation,
    }
}

async fn exchange(to: SocketAddr, frame: Vec<u8>, max: usize) -> Result<Vec<u8>, StreamError> {
    use async_std::io::WriteExt;
    let io = |e: std::io::Error| StreamError::Io(e.to_string());
    let mut stream = TcpStream::connect(to).await.map_err(io)?;
    stream.write_all(&frame).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    read_frame(&mut stream, max).await.map_err(io)
}

async fn send_one_way(to: SocketAddr, frame: Vec<u8>) -> std::io::Result<()> {
    use async_std::io::WriteExt;
    let mut stream = TcpStream::connect(to).await?;
    stream.write_all(&frame).await?;
    stream.flush().await
}
