//! Cluster-wide key management: install, use, remove and list travel as
//! internal queries; each member applies the operation to its own keyring
//! and answers, and the node that asked tallies the answers.

use std::collections::BTreeMap;

use crate::wire::serf::{KeyRequest, KeyResponse};
use crate::wire::{Keyring, SecretKey};

/// A keyring operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyOp {
    /// Add a key to every keyring.
    Install,
    /// Make a key the primary everywhere.
    Use,
    /// Remove a key everywhere (refused where it is the primary).
    Remove,
    /// List the keys of every member.
    List,
}

impl KeyOp {
    /// Every operation.
    pub const ALL: [KeyOp; 4] = [KeyOp::Install, KeyOp::Use, KeyOp::Remove, KeyOp::List];

    /// The internal query that carries it.
    pub fn query_name(self) -> &'static str {
        match self {
            KeyOp::Install => "_hearsay_keyring_install",
            KeyOp::Use => "_hearsay_keyring_use",
            KeyOp::Remove => "_hearsay_keyring_remove",
            KeyOp::List => "_hearsay_keyring_list",
        }
    }

    /// The operation a query name carries, if any.
    pub fn from_query_name(name: &str) -> Option<KeyOp> {
        KeyOp::ALL.into_iter().find(|op| op.query_name() == name)
    }

    /// Its name, as operators say it.
    pub fn name(self) -> &'static str {
        match self {
            KeyOp::Install => "install",
            KeyOp::Use => "use",
            KeyOp::Remove => "remove",
            KeyOp::List => "list",
        }
    }
}

/// What a keyring operation found across the pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyringReport {
    /// Alive members when the operation started (the asking node included).
    pub members: usize,
    /// Members that answered.
    pub responses: usize,
    /// Members whose answer was a failure, with its message.
    pub errors: BTreeMap<String, String>,
    /// List: each key (base64) and how many members hold it.
    pub keys: BTreeMap<String, usize>,
    /// List: each primary key (base64) and how many members use it.
    pub primary_keys: BTreeMap<String, usize>,
}

impl KeyringReport {
    /// Whether every member answered and none failed.
    pub fn succeeded(&self) -> bool {
        self.errors.is_empty() && self.responses >= self.members
    }

    /// Members that did not answer in time.
    pub fn missing(&self) -> usize {
        self.members.saturating_sub(self.responses)
    }

    pub(super) fn add(&mut self, from: &str, payload: &[u8]) {
        self.responses += 1;
        let Some(response) = KeyResponse::decode(payload) else {
            self.errors
                .insert(from.to_owned(), "undecodable keyring answer".to_owned());
            return;
        };
        if !response.ok {
            self.errors.insert(from.to_owned(), response.message);
        }
        for (i, key) in response.keys.iter().enumerate() {
            let Ok(key) = SecretKey::new(key) else {
                continue;
            };
            let b64 = key.to_base64();
            if i == 0 {
                *self.primary_keys.entry(b64.clone()).or_default() += 1;
            }
            *self.keys.entry(b64).or_default() += 1;
        }
    }
}

/// The state of an operation this node started.
#[derive(Debug)]
pub(super) struct KeyringTally {
    pub(super) op: KeyOp,
    pub(super) report: KeyringReport,
}

/// Applies an operation received in a query to the local keyring; the
/// answer to send back.
pub(super) fn apply(op: KeyOp, payload: &[u8], keyring: &mut Keyring) -> KeyResponse {
    // Without keys, queries arrive unauthenticated, and an installed key
    // would turn encryption on and cut the node off from its plaintext
    // pool: refuse every operation, as Serf does.
    if keyring.is_empty() {
        return KeyResponse {
            ok: false,
            message: "no keyring to change: encryption is not enabled on this node".to_owned(),
            keys: Vec::new(),
        };
    }
    let key = || {
        let request: KeyRequest =
            ciborium::from_reader(payload).map_err(|_| "undecodable keyring request".to_owned())?;
        SecretKey::new(&request.key).map_err(|e| e.to_string())
    };
    let result = match op {
        KeyOp::List => {
            return KeyResponse {
                ok: true,
                message: String::new(),
                keys: keyring
                    .keys()
                    .iter()
                    .map(|k| serde_bytes::ByteBuf::from(k.as_bytes().to_vec()))
                    .collect(),
            }
        }
        KeyOp::Install => key().and_then(|k| keyring.install(k).map_err(|e| e.to_string())),
        KeyOp::Use => key().and_then(|k| keyring.use_key(&k).map_err(|e| e.to_string())),
        KeyOp::Remove => key().and_then(|k| keyring.remove(&k).map_err(|e| e.to_string())),
    };
    match result {
        Ok(()) => KeyResponse {
            ok: true,
            ..KeyResponse::default()
        },
        Err(message) => KeyResponse {
            ok: false,
            message,
            keys: Vec::new(),
        },
    }
}

/// The payload of a query carrying `key`.
pub(super) fn request(key: &SecretKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    ciborium::into_writer(
        &KeyRequest {
            key: key.as_bytes().to_vec(),
        },
        &mut out,
    )
    .expect("invariant: writing CBOR to a Vec cannot fail");
    out
}
