//! The SWIM messages, as serde types.
//!
//! Field and variant names are shortened on the wire (`#[serde(rename)]`) to
//! keep packets small; `docs/PROTOCOL.md` lists every key.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// Longest node name accepted, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 128;

/// A socket address as it travels: a CBOR byte string of the IP (4 or 16
/// bytes) followed by the port (2 bytes, big-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WireAddr(pub SocketAddr);

impl From<SocketAddr> for WireAddr {
    fn from(addr: SocketAddr) -> Self {
        WireAddr(addr)
    }
}

impl Serialize for WireAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 18];
        let len = match self.0.ip() {
            IpAddr::V4(ip) => {
                buf[..4].copy_from_slice(&ip.octets());
                4
            }
            IpAddr::V6(ip) => {
                buf[..16].copy_from_slice(&ip.octets());
                16
            }
        };
        buf[len..len + 2].copy_from_slice(&self.0.port().to_be_bytes());
        serializer.serialize_bytes(&buf[..len + 2])
    }
}

impl<'de> Deserialize<'de> for WireAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AddrVisitor;
        impl Visitor<'_> for AddrVisitor {
            type Value = WireAddr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("6 or 18 bytes of address")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<WireAddr, E> {
                let ip = match v.len() {
                    6 => IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3])),
                    18 => {
                        let mut octets = [0u8; 16];
                        octets.copy_from_slice(&v[..16]);
                        IpAddr::V6(Ipv6Addr::from(octets))
                    }
                    n => return Err(E::invalid_length(n, &self)),
                };
                let port = u16::from_be_bytes([v[v.len() - 2], v[v.len() - 1]]);
                Ok(WireAddr(SocketAddr::new(ip, port)))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<WireAddr, E> {
                self.visit_bytes(&v)
            }
        }
        deserializer.deserialize_bytes(AddrVisitor)
    }
}

/// A direct probe. `target` names the node the sender believes it is
/// probing, so a node that took over the address does not answer for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Sequence number the ack must echo.
    #[serde(rename = "q")]
    pub seq: u32,
    /// Name of the node being probed.
    #[serde(rename = "t")]
    pub target: String,
    /// Name of the prober.
    #[serde(rename = "n")]
    pub source: String,
    /// Address the ack goes to.
    #[serde(rename = "a")]
    pub source_addr: WireAddr,
}

/// A request to probe `target` on the sender's behalf (SWIM's ping-req).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndirectPing {
    /// Sequence number the relayed ack or nack must echo.
    #[serde(rename = "q")]
    pub seq: u32,
    /// Name of the node to probe.
    #[serde(rename = "t")]
    pub target: String,
    /// Address of the node to probe.
    #[serde(rename = "ta")]
    pub target_addr: WireAddr,
    /// Whether the requester wants a nack if the target does not answer
    /// (Lifeguard: missing nacks point at the requester's own health).
    #[serde(rename = "k")]
    pub nack: bool,
    /// Name of the requester.
    #[serde(rename = "n")]
    pub source: String,
    /// Address of the requester.
    #[serde(rename = "a")]
    pub source_addr: WireAddr,
}

/// Answer to a ping, direct or relayed. The payload carries optional data
/// such as a network coordinate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The probe's sequence number.
    #[serde(rename = "q")]
    pub seq: u32,
    /// Opaque data attached by the acknowledging node.
    #[serde(rename = "p", with = "serde_bytes", default)]
    pub payload: Vec<u8>,
}

/// An intermediary's report that it could not reach the target in time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nack {
    /// The indirect probe's sequence number.
    #[serde(rename = "q")]
    pub seq: u32,
}

/// `from` suspects `node` at `incarnation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspect {
    /// Incarnation of the suspected node that the accuser saw.
    #[serde(rename = "i")]
    pub incarnation: u32,
    /// Suspected node.
    #[serde(rename = "n")]
    pub node: String,
    /// Accusing node.
    #[serde(rename = "f")]
    pub from: String,
}

/// `node` is alive at `incarnation`, with its address, meta and versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alive {
    /// Incarnation; a higher one refutes suspicion.
    #[serde(rename = "i")]
    pub incarnation: u32,
    /// Node name.
    #[serde(rename = "n")]
    pub node: String,
    /// Address the node advertises.
    #[serde(rename = "a")]
    pub addr: WireAddr,
    /// Node meta (the encoded tags).
    #[serde(rename = "m", with = "serde_bytes", default)]
    pub meta: Vec<u8>,
    /// Protocol versions spoken: minimum, maximum, current.
    #[serde(rename = "v")]
    pub versions: [u8; 3],
}

/// `from` declares `node` dead at `incarnation`; when `from == node` the node
/// is leaving gracefully.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dead {
    /// Incarnation of the dead node.
    #[serde(rename = "i")]
    pub incarnation: u32,
    /// Dead node.
    #[serde(rename = "n")]
    pub node: String,
    /// Declaring node.
    #[serde(rename = "f")]
    pub from: String,
}

/// State of a member as exchanged in push-pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum MemberState {
    /// Answering probes.
    #[serde(rename = "a")]
    Alive = 0,
    /// Failed a probe; will be declared dead unless it refutes in time.
    #[serde(rename = "s")]
    Suspect = 1,
    /// Declared dead by the failure detector.
    #[serde(rename = "d")]
    Dead = 2,
    /// Left gracefully.
    #[serde(rename = "l")]
    Left = 3,
}

/// One member in a push-pull exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushNode {
    /// Node name.
    #[serde(rename = "n")]
    pub name: String,
    /// Node address.
    #[serde(rename = "a")]
    pub addr: WireAddr,
    /// Node meta.
    #[serde(rename = "m", with = "serde_bytes", default)]
    pub meta: Vec<u8>,
    /// Incarnation.
    #[serde(rename = "i")]
    pub incarnation: u32,
    /// State as the sender sees it.
    #[serde(rename = "s")]
    pub state: MemberState,
    /// Protocol versions: minimum, maximum, current.
    #[serde(rename = "v")]
    pub versions: [u8; 3],
}

/// Full state exchange, over a stream: on join and periodically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPull {
    /// Set when the sender is joining (the receiver may treat it specially).
    #[serde(rename = "j")]
    pub join: bool,
    /// Every member the sender knows, itself included.
    #[serde(rename = "ns")]
    pub nodes: Vec<PushNode>,
    /// Opaque state of the layer above (Serf's clocks and intents).
    #[serde(rename = "u", with = "serde_bytes", default)]
    pub user_state: Vec<u8>,
}

/// A message of the layer above, carried opaquely.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The layer's encoded message.
    #[serde(rename = "p", with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// Every message of the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Direct probe.
    #[serde(rename = "p")]
    Ping(Ping),
    /// Indirect probe request.
    #[serde(rename = "ip")]
    IndirectPing(IndirectPing),
    /// Probe answer.
    #[serde(rename = "a")]
    Ack(Ack),
    /// Indirect probe failure report.
    #[serde(rename = "n")]
    Nack(Nack),
    /// Suspicion broadcast.
    #[serde(rename = "s")]
    Suspect(Suspect),
    /// Liveness broadcast.
    #[serde(rename = "al")]
    Alive(Alive),
    /// Death or leave broadcast.
    #[serde(rename = "d")]
    Dead(Dead),
    /// Full state exchange (streams only).
    #[serde(rename = "pp")]
    PushPull(PushPull),
    /// Message of the layer above.
    #[serde(rename = "u")]
    User(User),
}

impl Message {
    /// Checks the bounds that do not depend on configuration: name lengths.
    /// Returns the name of the offending field.
    pub fn check_bounds(&self) -> Result<(), &'static str> {
        let name_ok = |s: &str| !s.is_empty() && s.len() <= MAX_NAME_LEN;
        let ok = match self {
            Message::Ping(m) => name_ok(&m.target) && name_ok(&m.source),
            Message::IndirectPing(m) => name_ok(&m.target) && name_ok(&m.source),
            Message::Suspect(m) => name_ok(&m.node) && name_ok(&m.from),
            Message::Alive(m) => name_ok(&m.node),
            Message::Dead(m) => name_ok(&m.node) && name_ok(&m.from),
            Message::PushPull(m) => m.nodes.iter().all(|n| name_ok(&n.name)),
            Message::Ack(_) | Message::Nack(_) | Message::User(_) => true,
        };
        if ok {
            Ok(())
        } else {
            Err("node name empty or longer than 128 bytes")
        }
    }
}
