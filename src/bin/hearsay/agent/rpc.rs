//! The control protocol between `hearsay agent` and the control commands.
//!
//! A Unix socket that only the agent's user can open. The client writes one
//! JSON request line; the agent answers with JSON lines and closes. Every
//! answer ends with a line holding `"ok"`: `{"ok":true,...}` with the
//! result, or `{"ok":false,"error":"..."}`. A query first streams one line
//! per ack (`{"ack":"NODE"}`) and per response
//! (`{"response":{"from":"NODE","payload":"..."}}`). `docs/OPERATIONS.md`
//! lists every request.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest request line the agent reads.
pub const MAX_REQUEST: u64 = 64 * 1024;
/// Longest answer line a client reads (a members list of many thousands).
pub const MAX_ANSWER: u64 = 64 << 20;
/// The environment variable naming the socket for control commands.
pub const RPC_ENV: &str = "HEARSAY_RPC";

/// A request, tagged by `cmd`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Every member the agent knows.
    Members,
    /// Send a user event.
    Event {
        name: String,
        #[serde(default)]
        payload: String,
        #[serde(default)]
        coalesce: bool,
    },
    /// Send a query and stream its acks and responses.
    Query {
        name: String,
        #[serde(default)]
        payload: String,
        #[serde(default)]
        nodes: Vec<String>,
        #[serde(default)]
        tags: BTreeMap<String, String>,
        #[serde(default)]
        timeout_ms: Option<u64>,
        #[serde(default)]
        no_ack: bool,
    },
    /// Mark a failed member left (`prune`: forget it at once).
    ForceLeave {
        name: String,
        #[serde(default)]
        prune: bool,
    },
    /// Estimated round trip between `a` and `b` (default: the agent's node).
    Rtt {
        a: String,
        #[serde(default)]
        b: Option<String>,
    },
    /// Keyring operations: `list`, or `install`/`use`/`remove` with `key`.
    Keyring {
        op: KeyringOp,
        #[serde(default)]
        key: Option<String>,
    },
}

/// What `hearsay keyring` asks.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KeyringOp {
    List,
    Install,
    Use,
    Remove,
}

/// A member as the `members` answer lists it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    pub addr: String,
    pub status: String,
    pub tags: BTreeMap<String, String>,
    pub incarnation: u32,
    /// Estimated round trip from the agent's node, when coordinates allow.
    pub rtt_ms: Option<f64>,
}

/// `{"ok":true}` with the fields of `result` added.
pub fn ok(result: Value) -> Value {
    let mut map = Map::new();
    map.insert("ok".into(), Value::Bool(true));
    if let Value::Object(fields) = result {
        map.extend(fields);
    }
    Value::Object(map)
}

/// `{"ok":false,"error":message}`.
pub fn error(message: impl Into<String>) -> Value {
    serde_json::json!({ "ok": false, "error": message.into() })
}

/// Puts a payload into `map`: as text under `payload` when it is UTF-8,
/// otherwise as standard base64 under `payload_base64`.
pub fn put_payload(map: &mut Map<String, Value>, payload: &[u8]) {
    match std::str::from_utf8(payload) {
        Ok(text) => map.insert("payload".into(), Value::String(text.to_owned())),
        Err(_) => map.insert(
            "payload_base64".into(),
            Value::String(base64_encode(payload)),
        ),
    };
}

/// The payload of an object written by [`put_payload`], for display.
pub fn payload_text(map: &Value) -> String {
    if let Some(text) = map.get("payload").and_then(Value::as_str) {
        format!("{text:?}")
    } else if let Some(b64) = map.get("payload_base64").and_then(Value::as_str) {
        format!("base64:{b64}")
    } else {
        "\"\"".into()
    }
}

/// Reads one line of at most `max` bytes; `Ok(None)` at the end of input.
pub fn read_line(reader: &mut impl BufRead, max: u64) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    reader.take(max).read_until(b'\n', &mut bytes)?;
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.last() != Some(&b'\n') && bytes.len() as u64 >= max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("line longer than {max} bytes"),
        ));
    }
    String::from_utf8(bytes)
        .map(|s| Some(s.trim_end_matches(['\n', '\r']).to_owned()))
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "line is not UTF-8"))
}

/// Where agents put their sockets unless told: `$XDG_RUNTIME_DIR` (private
/// to the user) when set, else `/tmp`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir())
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// The default socket of the agent of node `name`.
pub fn default_path(name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    default_dir().join(format!("hearsay-{safe}.sock"))
}

/// The socket a control command talks to: `--rpc`, else `$HEARSAY_RPC`,
/// else the only agent socket in the default directory.
pub fn resolve(flag: Option<&str>) -> Result<PathBuf, String> {
    if let Some(path) = flag {
        return Ok(PathBuf::from(path));
    }
    if let Some(path) = std::env::var_os(RPC_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let dir = default_dir();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| {
            format!(
                "cannot list {} to find an agent: {e}; give --rpc PATH",
                dir.display()
            )
        })?
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("hearsay-") && name.ends_with(".sock") && is_socket(&entry.path())
        })
        .map(|entry| entry.path())
        .collect();
    found.sort();
    match found.len() {
        0 => Err(format!(
            "no agent socket in {}: start 'hearsay agent' or give --rpc PATH (or set {RPC_ENV})",
            dir.display()
        )),
        1 => Ok(found.remove(0)),
        _ => Err(format!(
            "several agent sockets in {} ({}): pick one with --rpc PATH",
            dir.display(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

pub fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_defaults() {
        let r: Request = serde_json::from_str(r#"{"cmd":"event","name":"deploy"}"#).unwrap();
        assert_eq!(
            r,
            Request::Event {
                name: "deploy".into(),
                payload: String::new(),
                coalesce: false
            }
        );
        let r: Request = serde_json::from_str(r#"{"cmd":"force-leave","name":"a"}"#).unwrap();
        assert_eq!(
            r,
            Request::ForceLeave {
                name: "a".into(),
                prune: false
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
    }
}
