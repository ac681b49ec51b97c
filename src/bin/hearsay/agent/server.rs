//! The agent's side of the control socket: a thread accepts, and each
//! connection gets a thread of its own for its one request (queries stream
//! for seconds; the pool's handle is safe to share).

use std::io::{BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hearsay::runtime::{ErrorKind, KeyOp, Pool, QueryParams, QueryReply, SecretKey};
use serde_json::{json, Map, Value};

use super::rpc::{self, KeyringOp, Member, Request};

/// Connections served at once; more are refused with a reason.
const MAX_CONNECTIONS: usize = 64;
/// A client must send its request within this.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest query collection a client may ask for.
const MAX_QUERY_TIMEOUT: Duration = Duration::from_secs(3600);

/// The socket file, removed when dropped (the agent's normal exits).
pub struct SocketFile {
    path: PathBuf,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the control socket at `path`: refuses when a live agent answers
/// there, replaces a stale socket left by one that died.
pub fn bind(path: &Path) -> Result<(UnixListener, SocketFile), String> {
    let shown = path.display();
    if std::fs::symlink_metadata(path).is_ok() {
        if !rpc::is_socket(path) {
            return Err(format!(
                "--rpc {shown} exists and is not a socket: remove it or give --rpc another path"
            ));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "another agent is running on {shown}: stop it, or give this one --rpc PATH"
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove the stale socket {shown}: {e}"))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| {
        format!("cannot listen on --rpc {shown}: {e} (its directory must exist; the path must be under 108 bytes)")
    })?;
    let file = SocketFile {
        path: path.to_owned(),
    };
    // The socket controls the node (force-leave, events): its user only.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {shown} to its owner: {e}"))?;
    Ok((listener, file))
}

/// Serves connections on a thread of its own until the process ends.
pub fn spawn(listener: UnixListener, pool: Arc<Pool>) -> Result<(), String> {
    std::thread::Builder::new()
        .name("hearsay-rpc".into())
        .spawn(move || serve(listener, pool))
        .map(|_| ())
        .map_err(|e| format!("cannot start the control thread: {e}"))
}

fn serve(listener: UnixListener, pool: Arc<Pool>) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = writeln!(
                conn,
                "{}",
                rpc::error(format!(
                    "the agent is serving {MAX_CONNECTIONS} connections already; retry"
                ))
            );
            continue;
        }
        let pool = pool.clone();
        let done = active.clone();
        let spawned = std::thread::Builder::new()
            .name("hearsay-rpc-conn".into())
            .spawn(move || {
                handle(conn, &pool);
                done.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn handle(conn: UnixStream, pool: &Pool) {
    let _ = conn.set_read_timeout(Some(READ_TIMEOUT));
    let _ = conn.set_write_timeout(Some(READ_TIMEOUT));
    let mut out = &conn;
    let mut reader = BufReader::new(&conn);
    let answer = match rpc::read_line(&mut reader, rpc::MAX_REQUEST) {
        Ok(Some(line)) => match serde_json::from_str::<Request>(&line) {
            Ok(Request::Query {
                name,
                payload,
                nodes,
                tags,
                timeout_ms,
                no_ack,
            }) => {
                let params = QueryParams {
                    filter_nodes: nodes,
                    filter_tags: tags,
                    request_ack: !no_ack,
                    relay_factor: 0,
                    timeout: timeout_ms
                        .map(Duration::from_millis)
                        .map(|t| t.clamp(Duration::from_millis(1), MAX_QUERY_TIMEOUT)),
                };
                query(&mut out, pool, &name, payload.as_bytes(), params)
            }
            Ok(request) => answer(pool, request),
            Err(e) => rpc::error(format!("bad request: {e}")),
        },
        Ok(None) => return,
        Err(e) => rpc::error(format!("bad request: {e}")),
    };
    let _ = writeln!(out, "{answer}");
}

fn answer(pool: &Pool, request: Request) -> Value {
    let result = match request {
        Request::Members => members(pool),
        Request::Event {
            name,
            payload,
            coalesce,
        } => pool
            .send_event(&name, payload.as_bytes(), coalesce)
            .map(|()| json!({}))
            .map_err(|e| e.to_string()),
        Request::ForceLeave { name, prune } => pool
            .force_leave(&name, prune)
            .map(|()| json!({}))
            .map_err(|e| e.to_string()),
        Request::Rtt { a, b } => rtt(pool, &a, b.as_deref()),
        Request::Keyring { op, key } => keyring(pool, op, key.as_deref()),
        Request::Query { .. } => Err("queries are answered as a stream".into()),
    };
    match result {
        Ok(value) => rpc::ok(value),
        Err(message) => rpc::error(message),
    }
}

fn members(pool: &Pool) -> Result<Value, String> {
    // One call gives both the members and the round trip to each.
    let mut list: Vec<Member> = match pool.members_near(None) {
        Ok(near) => near.into_iter().map(|(m, rtt)| member(m, rtt)).collect(),
        Err(_) => pool
            .members()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|m| member(m, None))
            .collect(),
    };
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(json!({ "self": pool.name(), "members": list }))
}

fn member(m: hearsay::runtime::MemberInfo, rtt: Option<Duration>) -> Member {
    Member {
        name: m.name,
        addr: m.addr.to_string(),
        status: m.status.name().to_owned(),
        tags: m.tags,
        incarnation: m.incarnation,
        rtt_ms: rtt.map(|d| d.as_secs_f64() * 1000.0),
    }
}

fn rtt(pool: &Pool, a: &str, b: Option<&str>) -> Result<Value, String> {
    let b = b.unwrap_or(pool.name());
    let members = pool.members().map_err(|e| e.to_string())?;
    for name in [a, b] {
        if !members.iter().any(|m| m.name == name) {
            return Err(format!("no member named '{name}'"));
        }
    }
    match pool.estimated_rtt(a, Some(b)).map_err(|e| e.to_string())? {
        Some(d) => Ok(json!({ "a": a, "b": b, "rtt_ms": d.as_secs_f64() * 1000.0 })),
        None => Err(format!(
            "no network coordinate for '{a}' or '{b}' yet: they come with probe acks, retry shortly (or coordinates are off)"
        )),
    }
}

/// Runs a keyring operation on every member and reports what each did.
fn keyring(pool: &Pool, op: KeyringOp, key: Option<&str>) -> Result<Value, String> {
    let op = match op {
        KeyringOp::List => KeyOp::List,
        KeyringOp::Install => KeyOp::Install,
        KeyringOp::Use => KeyOp::Use,
        KeyringOp::Remove => KeyOp::Remove,
    };
    let key = match (op, key) {
        (KeyOp::List, _) => None,
        (_, Some(text)) => Some(SecretKey::from_base64(text).map_err(|e| e.to_string())?),
        (_, None) => return Err(format!("keyring {}: give the key", op.name())),
    };
    let report = pool
        .keyring_op(op, key.as_ref())
        .map_err(|e| e.to_string())?;
    Ok(json!({
        "op": op.name(),
        "members": report.members,
        "responses": report.responses,
        "errors": report.errors,
        "keys": report.keys,
        "primary_keys": report.primary_keys,
    }))
}

/// Streams a query's acks and responses to the client, then the summary.
fn query(
    out: &mut impl Write,
    pool: &Pool,
    name: &str,
    payload: &[u8],
    params: QueryParams,
) -> Value {
    let stream = match pool.query(name, payload, params) {
        Ok(stream) => stream,
        Err(e) => return rpc::error(e.to_string()),
    };
    let (mut acks, mut responses) = (0u64, 0u64);
    loop {
        let line = match stream.next(None) {
            Ok(Some(QueryReply::Ack { from })) => {
                acks += 1;
                json!({ "ack": from })
            }
            Ok(Some(QueryReply::Response { from, payload })) => {
                responses += 1;
                let mut response = Map::new();
                response.insert("from".into(), Value::String(from));
                rpc::put_payload(&mut response, &payload);
                json!({ "response": response })
            }
            Ok(None) => continue,
            Err(e) if e.kind == ErrorKind::Closed => break,
            Err(e) => return rpc::error(e.to_string()),
        };
        if writeln!(out, "{line}").is_err() {
            // The client went away; nothing more to tell it.
            break;
        }
    }
    rpc::ok(json!({ "done": true, "acks": acks, "responses": responses }))
}
