//! The Serf layer's messages. They travel inside SWIM `User` messages (and
//! the push-pull `user_state`), CBOR-encoded like everything else.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::messages::WireAddr;

/// Longest user event or query name, in bytes.
pub const MAX_EVENT_NAME_LEN: usize = 128;

/// A node announces it is joining (or refutes a stale leave about itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinIntent {
    /// Membership Lamport time of the intent.
    #[serde(rename = "t")]
    pub ltime: u64,
    /// The node.
    #[serde(rename = "n")]
    pub node: String,
}

/// A node announces it is leaving, or a force-leave of a failed node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveIntent {
    /// Membership Lamport time of the intent.
    #[serde(rename = "t")]
    pub ltime: u64,
    /// The node.
    #[serde(rename = "n")]
    pub node: String,
    /// Remove it from member lists at once (force-leave with prune).
    #[serde(rename = "p", default)]
    pub prune: bool,
}

/// A user event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEvent {
    /// Event Lamport time.
    #[serde(rename = "t")]
    pub ltime: u64,
    /// Event name.
    #[serde(rename = "n")]
    pub name: String,
    /// Payload.
    #[serde(rename = "p", with = "serde_bytes", default)]
    pub payload: Vec<u8>,
    /// Whether receivers may coalesce events of this name.
    #[serde(rename = "c", default)]
    pub coalesce: bool,
}

/// A query: a user event that asks for responses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Query Lamport time.
    #[serde(rename = "t")]
    pub ltime: u64,
    /// Random id; with `ltime` it identifies the query.
    #[serde(rename = "i")]
    pub id: u32,
    /// Where responses go.
    #[serde(rename = "a")]
    pub from_addr: WireAddr,
    /// Name of the querying node.
    #[serde(rename = "o")]
    pub from: String,
    /// Only these nodes respond (empty: all).
    #[serde(rename = "fn", default)]
    pub filter_nodes: Vec<String>,
    /// Only nodes whose tag matches each regular expression respond.
    #[serde(rename = "ft", default)]
    pub filter_tags: BTreeMap<String, String>,
    /// Whether receivers acknowledge receipt.
    #[serde(rename = "k", default)]
    pub ack: bool,
    /// Each response is also relayed through this many other members.
    #[serde(rename = "r", default)]
    pub relay_factor: u8,
    /// How long the querier waits, in milliseconds.
    #[serde(rename = "to")]
    pub timeout_ms: u32,
    /// Query name.
    #[serde(rename = "n")]
    pub name: String,
    /// Payload.
    #[serde(rename = "p", with = "serde_bytes", default)]
    pub payload: Vec<u8>,
}

/// An ack or response to a query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResponse {
    /// The query's Lamport time.
    #[serde(rename = "t")]
    pub ltime: u64,
    /// The query's id.
    #[serde(rename = "i")]
    pub id: u32,
    /// The responding node.
    #[serde(rename = "f")]
    pub from: String,
    /// An ack (no payload) rather than a response.
    #[serde(rename = "k", default)]
    pub ack: bool,
    /// Response payload.
    #[serde(rename = "p", with = "serde_bytes", default)]
    pub payload: Vec<u8>,
}

/// A message to forward to `to` (query response relays).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    /// Final destination.
    #[serde(rename = "d")]
    pub to: WireAddr,
    /// The message to forward.
    #[serde(rename = "m")]
    pub message: Box<SerfMessage>,
}

/// The Serf state exchanged in push-pull.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerfPushPull {
    /// Membership clock.
    #[serde(rename = "t")]
    pub ltime: u64,
    /// Status Lamport time of each known member.
    #[serde(rename = "s", default)]
    pub status_ltimes: BTreeMap<String, u64>,
    /// Members known to have left.
    #[serde(rename = "l", default)]
    pub left_members: Vec<String>,
    /// Event clock.
    #[serde(rename = "et")]
    pub event_ltime: u64,
    /// Recent events, so that late joiners can catch up.
    #[serde(rename = "e", default)]
    pub events: Vec<UserEvent>,
    /// Query clock.
    #[serde(rename = "qt")]
    pub query_ltime: u64,
}

/// The payload of a keyring query (install, use, remove): the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRequest {
    /// The key's bytes.
    #[serde(rename = "k", with = "serde_bytes")]
    pub key: Vec<u8>,
}

/// A node's answer to a keyring query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyResponse {
    /// Whether the operation succeeded on that node.
    #[serde(rename = "o")]
    pub ok: bool,
    /// Why it failed.
    #[serde(rename = "m", default)]
    pub message: String,
    /// Its keys after the operation, primary first (list only).
    #[serde(rename = "k", default)]
    pub keys: Vec<serde_bytes::ByteBuf>,
}

impl KeyResponse {
    /// Encodes as CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        ciborium::into_writer(self, &mut out)
            .expect("invariant: writing CBOR to a Vec cannot fail");
        out
    }

    /// Decodes from CBOR; never panics.
    pub fn decode(bytes: &[u8]) -> Option<KeyResponse> {
        let response: KeyResponse = ciborium::from_reader(bytes).ok()?;
        (response.keys.len() <= super::MAX_KEYS && response.message.len() <= 1024)
            .then_some(response)
    }
}

/// Every Serf message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SerfMessage {
    /// Join intent.
    #[serde(rename = "j")]
    Join(JoinIntent),
    /// Leave intent.
    #[serde(rename = "l")]
    Leave(LeaveIntent),
    /// User event.
    #[serde(rename = "e")]
    Event(UserEvent),
    /// Query.
    #[serde(rename = "q")]
    Query(Query),
    /// Query ack or response.
    #[serde(rename = "r")]
    Response(QueryResponse),
    /// Relayed message.
    #[serde(rename = "f")]
    Relay(Relay),
}

impl SerfMessage {
    /// Encodes as CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        ciborium::into_writer(self, &mut out)
            .expect("invariant: writing CBOR to a Vec cannot fail");
        out
    }

    /// Decodes from CBOR and checks bounds; never panics.
    pub fn decode(bytes: &[u8]) -> Result<SerfMessage, String> {
        let mut reader = bytes;
        // Relays nest one level; anything deeper is refused by the check below.
        let message: SerfMessage = ciborium::de::from_reader_with_recursion_limit(&mut reader, 32)
            .map_err(|e| e.to_string())?;
        if !reader.is_empty() {
            return Err("trailing bytes".into());
        }
        message.check_bounds(0)?;
        Ok(message)
    }

    fn check_bounds(&self, depth: u8) -> Result<(), String> {
        let name = |n: &str, what: &str| {
            if n.is_empty() || n.len() > MAX_EVENT_NAME_LEN {
                Err(format!("{what} must be 1 to {MAX_EVENT_NAME_LEN} bytes"))
            } else {
                Ok(())
            }
        };
        match self {
            SerfMessage::Join(j) => name(&j.node, "node name"),
            SerfMessage::Leave(l) => name(&l.node, "node name"),
            SerfMessage::Event(e) => name(&e.name, "event name"),
            SerfMessage::Query(q) => {
                name(&q.name, "query name")?;
                if q.filter_nodes.len() > 1024 || q.filter_tags.len() > 64 {
                    return Err("too many query filters".into());
                }
                Ok(())
            }
            SerfMessage::Response(r) => name(&r.from, "node name"),
            SerfMessage::Relay(r) => {
                if depth > 0 || matches!(*r.message, SerfMessage::Relay(_)) {
                    return Err("relay of a relay".into());
                }
                r.message.check_bounds(depth + 1)
            }
        }
    }
}

impl SerfPushPull {
    /// Encodes as CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        ciborium::into_writer(self, &mut out)
            .expect("invariant: writing CBOR to a Vec cannot fail");
        out
    }

    /// Decodes from CBOR; never panics.
    pub fn decode(bytes: &[u8]) -> Result<SerfPushPull, String> {
        ciborium::from_reader(bytes).map_err(|e| e.to_string())
    }
}
