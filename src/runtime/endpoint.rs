//! A bound address: one UDP socket and one TCP listener on the same port,
//! shared by every pool of the runtime bound there, told apart by label.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream, UdpSocket};
use async_std::task::JoinHandle;
use futures::channel::{mpsc, oneshot};

use super::{Error, ErrorKind};
use crate::wire::PacketHeader;

/// Inbound stream settings of an address, taken from the pool that bound it
/// (pools that share the address later do not change them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamLimits {
    /// Most inbound streams handled at once; more connections are closed
    /// at once and counted.
    pub(crate) max_concurrent: usize,
    /// How long an inbound stream may take, from accept to reply written;
    /// an idle connection holds its slot no longer.
    pub(crate) timeout: Duration,
}

pub(crate) struct InboundStream {
    pub(crate) from: SocketAddr,
    pub(crate) frame: Vec<u8>,
    pub(crate) reply: oneshot::Sender<Option<Vec<u8>>>,
}

pub(crate) struct Route {
    /// Bounded by the pool's `inbound_packet_queue`: beyond it new
    /// datagrams are dropped and counted, so that a flood cannot grow
    /// memory faster than the pool drains.
    pub(crate) packets: PacketSender,
    /// Datagrams dropped because `packets` was full.
    pub(crate) packets_shed: Rc<Cell<u64>>,
    /// Unbounded, yet holds at most one frame per stream task, and those
    /// are bounded by [`StreamLimits::max_concurrent`].
    pub(crate) streams: mpsc::UnboundedSender<InboundStream>,
    pub(crate) max_stream_size: usize,
}

/// Drops counted at the address, before any pool sees the bytes.
#[derive(Default)]
pub(crate) struct EndpointCounters {
    pub(crate) unknown_label: Cell<u64>,
    pub(crate) streams_refused: Cell<u64>,
    /// Inbound frames whose length prefix exceeded every pool's
    /// `max_stream_size`.
    pub(crate) streams_oversized: Cell<u64>,
}

fn bump(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

pub(crate) struct Endpoint {
    pub(crate) local_addr: SocketAddr,
    pub(crate) udp: Rc<UdpSocket>,
    routes: RefCell<HashMap<Option<String>, Route>>,
    pub(crate) counters: Rc<EndpointCounters>,
    tasks: RefCell<Vec<JoinHandle<()>>>,
}

impl Endpoint {
    /// Binds UDP and TCP on the same port. With port 0, tries a few free
    /// ports until both bind.
    pub(crate) fn bind(addr: SocketAddr, limits: StreamLimits) -> Result<Rc<Endpoint>, Error> {
        let mut last_error = None;
        for _ in 0..16 {
            let udp = std::net::UdpSocket::bind(addr).map_err(|e| bind_error(addr, e))?;
            let local = udp
                .local_addr()
                .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
            match std::net::TcpListener::bind(local) {
                Ok(tcp) => return Endpoint::start(udp, tcp, local, limits),
                Err(e) if addr.port() == 0 => last_error = Some(e),
                Err(e) => return Err(bind_error(local, e)),
            }
        }
        Err(bind_error(
            addr,
            last_error.unwrap_or_else(|| std::io::Error::other("no free port")),
        ))
    }

    fn start(
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
        local_addr: SocketAddr,
        limits: StreamLimits,
    ) -> Result<Rc<Endpoint>, Error> {
        let io = |e: std::io::Error| Error::new(ErrorKind::Io, e.to_string());
        udp.set_nonblocking(true).map_err(io)?;
        tcp.set_nonblocking(true).map_err(io)?;
        grow_receive_buffer(&udp);
        let endpoint = Rc::new(Endpoint {
            local_addr,
            udp: Rc::new(UdpSocket::from(udp)),
            routes: RefCell::new(HashMap::new()),
            counters: Rc::default(),
            tasks: RefCell::new(Vec::new()),
        });
        let listener = TcpListener::from(tcp);
        let weak = Rc::downgrade(&endpoint);
        let udp_task = async_std::task::spawn_local(receive_packets(weak.clone()));
        let tcp_task = async_std::task::spawn_local(accept_streams(weak, listener, limits));
        endpoint.tasks.borrow_mut().extend([udp_task, tcp_task]);
        Ok(endpoint)
    }

    pub(crate) fn add_route(&self, label: Option<String>, route: Route) -> Result<(), Error> {
        let mut routes = self.routes.borrow_mut();
        if routes.contains_key(&label) {
            return Err(Error::new(
                ErrorKind::AddrInUse,
                format!(
                    "{} is already used by a pool with {}",
                    self.local_addr,
                    match &label {
                        Some(l) => format!("label '{l}'"),
                        None => "no label".to_owned(),
                    }
                ),
            ));
        }
        routes.insert(label, route);
        Ok(())
    }

    /// Removes a pool's route; true when no pool is left.
    pub(crate) fn remove_route(&self, label: &Option<String>) -> bool {
        let mut routes = self.routes.borrow_mut();
        routes.remove(label);
        routes.is_empty()
    }

    pub(crate) async fn shutdown(&self) {
        let tasks: Vec<_> = self.tasks.borrow_mut().drain(..).collect();
        for task in tasks {
            task.cancel().await;
        }
    }

    fn max_stream_size(&self) -> usize {
        self.routes
            .borrow()
            .values()
            .map(|r| r.max_stream_size)
            .max()
            .unwrap_or(0)
    }
}

/// Asks for a 2 MiB receive buffer (as memberlist does), halving until the
/// system accepts: bursts of gossip to one address, such as many joins at
/// once, otherwise overflow the default buffer and are lost. Best effort.
#[allow(unsafe_code)]
fn grow_receive_buffer(udp: &std::net::UdpSocket) {
    use std::os::fd::AsRawFd;
    let mut size: libc::c_int = 2 << 20;
    while size >= 64 << 10 {
        // SAFETY: a valid socket descriptor we own, and a pointer to a live
        // c_int with its exact length.
        let rc = unsafe {
            libc::setsockopt(
                udp.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
        size /= 2;
    }
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        Error::new(ErrorKind::AddrInUse, format!("{addr} is already in use"))
    } else {
        Error::new(ErrorKind::Io, format!("cannot bind {addr}: {e}"))
    }
}

fn label_of(bytes: &[u8]) -> Option<Option<String>> {
    PacketHeader::parse(bytes).ok().map(|h| h.label)
}

async fn receive_packets(endpoint: std::rc::Weak<Endpoint>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Some(ep) = endpoint.upgrade() else {
            return;
        };
        let udp = ep.udp.clone();
        drop(ep);
        let Ok((len, from)) = udp.recv_from(&mut buf).await else {
            continue;
        };
        let Some(ep) = endpoint.upgrade() else {
            return;
        };
        deliver_packet(&ep.routes.borrow(), &ep.counters, from, &buf[..len]);
    }
}

/// Hands a datagram to the pool its label names, or counts why not.
/// Never waits: a full queue sheds the datagram.
fn deliver_packet(
    routes: &HashMap<Option<String>, Route>,
    counters: &EndpointCounters,
    from: SocketAddr,
    bytes: &[u8],
) {
    // A packet whose header does not parse goes to the unlabelled pool
    // (or the only pool), which counts it as malformed.
    let route = match label_of(bytes) {
        Some(label) => routes.get(&label),
        None => routes.get(&None).or_else(|| {
            (routes.len() == 1)
                .then(|| routes.values().next())
                .flatten()
        }),
    };
    match route {
        Some(route) => {
            if !route.packets.try_send((from, bytes.to_vec())) {
                bump(&route.packets_shed);
            }
        }
        None => bump(&counters.unknown_label),
    }
}

async fn accept_streams(
    endpoint: std::rc::Weak<Endpoint>,
    listener: TcpListener,
    limits: StreamLimits,
) {
    let active = Rc::new(Cell::new(0usize));
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        let Some(ep) = endpoint.upgrade() else {
            return;
        };
        if active.get() >= limits.max_concurrent {
            // Dropping the stream closes it: the peer sees the refusal at once.
            bump(&ep.counters.streams_refused);
            continue;
        }
        active.set(active.get() + 1);
        let active = active.clone();
        let weak = endpoint.clone();
        async_std::task::spawn_local(async move {
            let _ =
                async_std::future::timeout(limits.timeout, serve_stream(weak, stream, from)).await;
            active.set(active.get() - 1);
        });
    }
}

async fn serve_stream(endpoint: std::rc::Weak<Endpoint>, mut stream: TcpStream, from: SocketAddr) {
    let Some(max) = endpoint.upgrade().map(|ep| ep.max_stream_size()) else {
        return;
    };
    let frame = match read_frame(&mut stream, max).await {
        Ok(frame) => frame,
        Err(FrameError::Oversized(_)) => {
            if let Some(ep) = endpoint.upgrade() {
                bump(&ep.counters.streams_oversized);
            }
            return;
        }
        Err(FrameError::Io(_)) => return,
    };
    let Some(ep) = endpoint.upgrade() else {
        return;
    };
    let (reply, answer) = oneshot::channel();
    {
        let routes = ep.routes.borrow();
        let route = match label_of(&frame) {
            Some(label) => routes.get(&label),
            None => routes.get(&None),
        };
        let Some(route) = route else {
            bump(&ep.counters.unknown_label);
            return;
        };
        if route
            .streams
            .unbounded_send(InboundStream { from, frame, reply })
            .is_err()
        {
            return;
        }
    }
    drop(ep);
    if let Ok(Some(out)) = answer.await {
        let _ = stream.write_all(&out).await;
        let _ = stream.flush().await;
    }
}

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The connection failed or closed early.
    Io(std::io::Error),
    /// The length prefix was above the limit; nothing more was read.
    Oversized(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::Oversized(len) => {
                write!(f, "frame of {len} bytes refused: above max_stream_size")
            }
        }
    }
}

/// Reads one length-prefixed frame (returned without its prefix). The
/// length is checked before anything is allocated for it.
pub(crate) async fn read_frame(stream: &mut TcpStream, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.map_err(FrameError::Io)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Err(FrameError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "empty frame",
        )));
    }
    if len > max {
        return Err(FrameError::Oversized(len));
    }
    let mut frame = vec![0u8; len];
    stream
        .read_exact(&mut frame)
        .await
        .map_err(FrameError::Io)?;
    Ok(frame)
}

type Datagram = (SocketAddr, Vec<u8>);

/// A queue of datagrams for one pool that holds at most `depth` of them.
/// Counted rather than preallocated: a bounded channel would reserve every
/// slot up front (64 KiB per pool at the default depth) for a queue that is
/// almost always empty.
pub(crate) fn packet_queue(depth: usize) -> (PacketSender, PacketReceiver) {
    let (tx, rx) = mpsc::unbounded();
    let queued = Rc::new(Cell::new(0));
    (
        PacketSender {
            tx,
            queued: queued.clone(),
            depth,
        },
        PacketReceiver { rx, queued },
    )
}

pub(crate) struct PacketSender {
    tx: mpsc::UnboundedSender<Datagram>,
    queued: Rc<Cell<usize>>,
    depth: usize,
}

impl PacketSender {
    /// Queues the datagram; `false` when the queue is full (or closed).
    pub(crate) fn try_send(&self, datagram: Datagram) -> bool {
        if self.queued.get() >= self.depth || self.tx.unbounded_send(datagram).is_err() {
            return false;
        }
        self.queued.set(self.queued.get() + 1);
        true
    }
}

pub(crate) struct PacketReceiver {
    rx: mpsc::UnboundedReceiver<Datagram>,
    queued: Rc<Cell<usize>>,
}

impl PacketReceiver {
    /// Datagrams waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.queued.get()
    }
}

impl futures::Stream for PacketReceiver {
    type Item = Datagram;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Datagram>> {
        let polled = std::pin::Pin::new(&mut self.rx).poll_next(cx);
        if let std::task::Poll::Ready(Some(_)) = &polled {
            self.queued.set(self.queued.get().saturating_sub(1));
        }
        polled
    }
}

impl futures::stream::FusedStream for PacketReceiver {
    fn is_terminated(&self) -> bool {
        self.rx.is_terminated()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(depth: usize) -> (Route, PacketReceiver) {
        let (packets, rx) = packet_queue(depth);
        let route = Route {
            packets,
            packets_shed: Rc::default(),
            streams: mpsc::unbounded().0,
            max_stream_size: 1 << 20,
        };
        (route, rx)
    }

    #[test]
    fn a_full_packet_queue_sheds_and_counts_until_drained() {
        let from = SocketAddr::from(([127, 0, 0, 1], 9));
        let (a, mut a_rx) = route(2);
        let (b, b_rx) = route(2);
        let shed_a = a.packets_shed.clone();
        let mut routes = HashMap::new();
        routes.insert(Some("a".to_owned()), a);
        routes.insert(Some("b".to_owned()), b);
        let counters = EndpointCounters::default();
        let to_a = crate::wire::encode_packet(Some("a"), &[vec![0xA0]]);
        let to_b = crate::wire::encode_packet(Some("b"), &[vec![0xA0]]);
        for _ in 0..5 {
            deliver_packet(&routes, &counters, from, &to_a);
        }
        assert_eq!(a_rx.len(), 2, "the queue holds its depth");
        assert_eq!(shed_a.get(), 3, "and counts every datagram beyond it");
        // A full queue for one label leaves the others alone.
        deliver_packet(&routes, &counters, from, &to_b);
        assert_eq!(b_rx.len(), 1);
        assert_eq!(routes[&Some("b".to_owned())].packets_shed.get(), 0);
        // Draining makes room again.
        futures::executor::block_on(futures::StreamExt::next(&mut a_rx)).unwrap();
        deliver_packet(&routes, &counters, from, &to_a);
        assert_eq!(a_rx.len(), 2);
        assert_eq!(shed_a.get(), 3);
        let unknown = crate::wire::encode_packet(Some("c"), &[vec![0xA0]]);
        deliver_packet(&routes, &counters, from, &unknown);
        assert_eq!(counters.unknown_label.get(), 1);
    }
}
