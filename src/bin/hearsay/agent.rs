//! `hearsay agent`: one node, controlled through a local socket.
//!
//! The main thread prints the pool's events; a thread serves the control
//! socket (see [`rpc`]). SIGINT or SIGTERM leaves gracefully; a second one
//! exits at once.

pub mod rpc;
mod server;
mod signals;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hearsay::runtime::{ConflictOutcome, MemberInfo, PoolConfig, PoolEvent, Runtime, SecretKey};
use hearsay::swim::Profile;
use hearsay::wire::parse_keyring_file;
use serde_json::{json, Map, Value};

use crate::value;

const USAGE: &str =
    "usage: hearsay agent [--name NAME] [--bind IP[:PORT]] [--advertise IP[:PORT]] \
[--join ADDR]... [--replay] [--profile lan|wan|local] [--tag KEY=VALUE]... [--encrypt BASE64_KEY] \
[--keyring-file PATH] [--snapshot PATH] [--rpc SOCKET_PATH] [--json]";

/// The port of Serf and Consul's LAN gossip, used when none is given.
const DEFAULT_PORT: u16 = 7946;
/// How long a graceful leave may take to be announced.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

struct Options {
    name: Option<String>,
    bind: SocketAddr,
    advertise: Option<(IpAddr, Option<u16>)>,
    join: Vec<String>,
    replay: bool,
    profile: Profile,
    tags: BTreeMap<String, String>,
    /// Gossip keys, the primary first.
    keys: Vec<SecretKey>,
    keyring_file: Option<PathBuf>,
    snapshot: Option<PathBuf>,
    rpc: Option<PathBuf>,
    json: bool,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(options) = parse(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let config = pool_config(&options)?;
    let rpc_path = options
        .rpc
        .clone()
        .unwrap_or_else(|| rpc::default_path(&config.node_name));
    // The socket first: a second agent by mistake stops before it binds
    // a gossip port.
    let (listener, socket_file) = server::bind(&rpc_path)?;
    let signals = signals::Signals::install(&rpc_path)?;
    let rt = Runtime::new().map_err(|e| e.to_string())?;
    let advertise = config.advertise_addr;
    let pool = rt
        .pool(config)
        .map_err(|e| format!("cannot start the node: {e}"))?;
    let pool = Arc::new(pool);
    let out = Output { json: options.json };
    let advertise = advertise.unwrap_or(pool.local_addr());
    out.line(
        format!(
            "hearsay agent '{}' on {} (advertised {advertise}), profile {}, rpc {}",
            pool.name(),
            pool.local_addr(),
            options.profile.name(),
            rpc_path.display()
        ),
        json!({
            "event": "agent-start",
            "name": pool.name(),
            "addr": pool.local_addr().to_string(),
            "advertise": advertise.to_string(),
            "profile": options.profile.name(),
            "rpc": rpc_path.display().to_string(),
        }),
    );
    for warning in pool.snapshot_warnings() {
        eprintln!("hearsay: agent: snapshot: {warning}");
    }
    server::spawn(listener, pool.clone())?;
    if !options.join.is_empty() {
        let joined = pool
            .join_with(&options.join, !options.replay)
            .map_err(|e| format!("--join: {e}"))?;
        if joined == 0 {
            return Err(format!(
                "could not join any of {}: check the addresses, that an agent runs there and that its gossip keys match",
                options.join.join(", ")
            ));
        }
        out.line(
            format!("joined {joined} of {}", options.join.len()),
            json!({ "event": "agent-join", "joined": joined, "tried": options.join.len() }),
        );
    }

    // Events until the first signal. The poll also wakes once a second so a
    // lost wake-up can only delay, never hang.
    let signal = loop {
        loop {
            match pool.next_event(Some(Duration::ZERO)) {
                Ok(Some(event)) => out.event(&event)?,
                Ok(None) => break,
                Err(_) => return Err("the node stopped unexpectedly".into()),
            }
        }
        if let Some(signal) = signals.received() {
            break signal;
        }
        signals::wait_readable(&[pool.event_fd(), signals.fd()], 1000);
    };

    out.line(
        format!("leaving ({signal}; another signal exits at once)"),
        json!({ "event": "agent-leave", "signal": signal }),
    );
    if let Err(e) = pool.leave(LEAVE_TIMEOUT) {
        eprintln!("hearsay: agent: {e}");
    }
    while let Ok(Some(event)) = pool.next_event(Some(Duration::ZERO)) {
        let _ = out.event(&event);
    }
    out.line("left".into(), json!({ "event": "agent-left" }));
    drop(socket_file);
    Ok(())
}

/// `Ok(None)`: help was asked for.
fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        name: None,
        bind: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
        advertise: None,
        join: Vec::new(),
        replay: false,
        profile: Profile::Lan,
        tags: BTreeMap::new(),
        keys: Vec::new(),
        keyring_file: None,
        snapshot: None,
        rpc: None,
        json: false,
    };
    let mut encrypt = None;
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        match flag {
            "-h" | "--help" => return Ok(None),
            "--name" => o.name = Some(value(args, &mut i, flag)?.to_owned()),
            "--bind" => {
                let v = value(args, &mut i, flag)?;
                let (ip, port) = ip_and_port(v).ok_or_else(|| {
                    format!("--bind {v}: give IP:PORT or IP, e.g. 0.0.0.0:7946 or 127.0.0.1:0")
                })?;
                o.bind = SocketAddr::new(ip, port.unwrap_or(DEFAULT_PORT));
            }
            "--advertise" => {
                let v = value(args, &mut i, flag)?;
                let (ip, port) = ip_and_port(v)
                    .filter(|(ip, _)| !ip.is_unspecified())
                    .ok_or_else(|| {
                        format!("--advertise {v}: give the IP[:PORT] others reach this node at, e.g. 10.0.0.5:7946")
                    })?;
                o.advertise = Some((ip, port));
            }
            "--join" => o.join.push(join_addr(value(args, &mut i, flag)?)?),
            "--replay" => o.replay = true,
            "--profile" => {
                let v = value(args, &mut i, flag)?;
                o.profile = Profile::parse(v)
                    .ok_or_else(|| format!("--profile {v}: use lan, wan or local"))?;
            }
            "--tag" => {
                let v = value(args, &mut i, flag)?;
                let (key, val) = v
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| format!("--tag {v}: give KEY=VALUE, e.g. role=web"))?;
                o.tags.insert(key.to_owned(), val.to_owned());
            }
            "--encrypt" => {
                let v = value(args, &mut i, flag)?;
                encrypt = Some(parse_key(v).map_err(|e| format!("--encrypt: {e}"))?);
            }
            "--keyring-file" => o.keyring_file = Some(PathBuf::from(value(args, &mut i, flag)?)),
            "--snapshot" => o.snapshot = Some(PathBuf::from(value(args, &mut i, flag)?)),
            "--rpc" => o.rpc = Some(PathBuf::from(value(args, &mut i, flag)?)),
            "--json" => o.json = true,
            other => {
                return Err(format!(
                    "unknown flag '{other}': run 'hearsay agent --help' for the flags"
                ))
            }
        }
        i += 1;
    }
    if let Some(path) = &o.keyring_file {
        o.keys = read_keyring_file(path)?;
        // The file holds the keys the pool rotated to since; the flag is
        // what a unit file keeps giving at every restart (Consul does so).
        if !o.keys.is_empty() && encrypt.take().is_some() {
            eprintln!(
                "hearsay: agent: --encrypt ignored: the keyring file {} holds the keys",
                path.display()
            );
        }
    }
    if let Some(key) = encrypt {
        o.keys = vec![key];
    }
    Ok(Some(o))
}

/// "IP:PORT", "[IPv6]:PORT" or a bare IP (port `None`).
fn ip_and_port(text: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some((addr.ip(), Some(addr.port())));
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().ok().map(|ip| (ip, None))
}

/// A seed address: IP or host, with the default port when none is given.
fn join_addr(text: &str) -> Result<String, String> {
    if let Some((ip, port)) = ip_and_port(text) {
        return Ok(SocketAddr::new(ip, port.unwrap_or(DEFAULT_PORT)).to_string());
    }
    let bad = || format!("--join {text}: give IP[:PORT] or HOST[:PORT], e.g. 10.0.0.5:7946");
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.contains(':') => {
            port.parse::<u16>().map_err(|_| bad())?;
            Ok(text.to_owned())
        }
        None if !text.is_empty() && !text.contains(char::is_whitespace) => {
            Ok(format!("{text}:{DEFAULT_PORT}"))
        }
        _ => Err(bad()),
    }
}

/// A gossip key: standard base64 of 16, 24 or 32 bytes (AES-128, -192, -256).
fn parse_key(text: &str) -> Result<SecretKey, String> {
    SecretKey::from_base64(text)
        .map_err(|e| format!("{e}; make a key with 'openssl rand -base64 32'"))
}

/// The keys of an existing keyring file (a JSON array of base64 keys,
/// primary first), read here too so a bad file stops the agent before it
/// binds anything. A file that does not exist yet is written from
/// `--encrypt`, so only its directory must exist.
fn read_keyring_file(path: &Path) -> Result<Vec<SecretKey>, String> {
    let shown = path.display();
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("--keyring-file {shown}: not UTF-8 text"))?;
            parse_keyring_file(&text).map_err(|e| format!("--keyring-file {shown}: {e}"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if dir.is_dir() {
                Ok(Vec::new())
            } else {
                Err(format!(
                    "--keyring-file {shown}: directory {} does not exist; create it or pick another path",
                    dir.display()
                ))
            }
        }
        Err(e) => Err(format!("--keyring-file {shown}: cannot read it: {e}")),
    }
}

fn pool_config(o: &Options) -> Result<PoolConfig, String> {
    let mut c = PoolConfig::new(o.profile);
    if let Some(name) = &o.name {
        c.node_name = name.clone();
    }
    c.bind_addr = o.bind;
    c.tags = o.tags.clone();
    c.snapshot_path = o.snapshot.clone();
    c.advertise_addr = match o.advertise {
        Some((ip, Some(port))) => Some(SocketAddr::new(ip, port)),
        Some((ip, None)) if o.bind.port() != 0 => Some(SocketAddr::new(ip, o.bind.port())),
        Some((ip, None)) => {
            return Err(format!(
            "--advertise {ip} has no port and --bind picks a free one: give --advertise {ip}:PORT"
        ))
        }
        None if o.bind.ip().is_unspecified() => {
            let ip = outgoing_ip(o.bind.is_ipv6()).ok_or_else(|| {
                format!(
                    "--bind {} listens on every address and none routes anywhere: give --advertise IP",
                    o.bind
                )
            })?;
            if o.bind.port() == 0 {
                return Err(format!(
                    "--bind {} picks a free port on every address: give --advertise {ip}:PORT or a --bind port",
                    o.bind
                ));
            }
            Some(SocketAddr::new(ip, o.bind.port()))
        }
        None => None,
    };
    c.serf.swim.keys = o.keys.clone();
    c.keyring_file = o.keyring_file.clone();
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// The address this host reaches others from: a UDP socket connected
/// towards a documentation address (connecting sends nothing).
fn outgoing_ip(v6: bool) -> Option<IpAddr> {
    let (local, remote) = if v6 {
        ("[::]:0", "[2001:db8::1]:9")
    } else {
        ("0.0.0.0:0", "192.0.2.1:9")
    };
    let socket = UdpSocket::bind(local).ok()?;
    socket.connect(remote).ok()?;
    socket
        .local_addr()
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified())
}

/// Events on standard output, one line each, as text or JSON.
struct Output {
    json: bool,
}

impl Output {
    fn line(&self, text: String, json: Value) {
        let mut stdout = std::io::stdout().lock();
        // A closed standard output must not stop the node.
        let _ = if self.json {
            writeln!(stdout, "{json}")
        } else {
            writeln!(stdout, "{text}")
        };
    }

    /// Prints one event; a lost name conflict ends the agent, as the other
    /// node keeps the name.
    fn event(&self, event: &PoolEvent) -> Result<(), String> {
        let member = |kind: &str, m: &MemberInfo| {
            let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (
                format!("{kind} {} {} {}", m.name, m.addr, tags.join(","))
                    .trim_end()
                    .to_owned(),
                json!({
                    "event": kind,
                    "name": m.name,
                    "addr": m.addr.to_string(),
                    "status": m.status.name(),
                    "tags": m.tags,
                    "incarnation": m.incarnation,
                }),
            )
        };
        let with_payload = |mut fields: Map<String, Value>, payload: &[u8]| {
            rpc::put_payload(&mut fields, payload);
            Value::Object(fields)
        };
        let (text, json) = match event {
            PoolEvent::MemberJoin(m) => member("member-join", m),
            PoolEvent::MemberLeave(m) => member("member-leave", m),
            PoolEvent::MemberFailed(m) => member("member-failed", m),
            PoolEvent::MemberUpdate(m) => member("member-update", m),
            PoolEvent::MemberReap(m) => member("member-reap", m),
            PoolEvent::User {
                ltime,
                name,
                payload,
            } => {
                let json = with_payload(
                    json!({ "event": "user-event", "name": name, "ltime": ltime })
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    payload,
                );
                let text = format!(
                    "user-event {name} ltime={ltime} payload={}",
                    rpc::payload_text(&json)
                );
                (text, json)
            }
            PoolEvent::Query(q) => {
                let json = with_payload(
                    json!({ "event": "query", "name": q.name, "from": q.from() })
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    &q.payload,
                );
                let text = format!(
                    "query {} from={} payload={}",
                    q.name,
                    q.from(),
                    rpc::payload_text(&json)
                );
                (text, json)
            }
            PoolEvent::NameConflict {
                name,
                addr,
                other_addr,
                outcome,
            } => {
                let outcome = match outcome {
                    ConflictOutcome::Won => "won",
                    ConflictOutcome::Lost => "lost",
                    ConflictOutcome::Reported => "reported",
                };
                self.line(
                    format!(
                        "name-conflict {name} addr={addr} other={other_addr} outcome={outcome}"
                    ),
                    json!({
                        "event": "name-conflict",
                        "name": name,
                        "addr": addr.to_string(),
                        "other_addr": other_addr.to_string(),
                        "outcome": outcome,
                    }),
                );
                if outcome == "lost" {
                    return Err(format!(
                        "the pool gave the name '{name}' to the node at {other_addr}: restart with another --name"
                    ));
                }
                return Ok(());
            }
        };
        self.line(text, json);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn addresses_take_the_default_port_and_refuse_garbage() {
        assert_eq!(join_addr("10.0.0.5").unwrap(), "10.0.0.5:7946");
        assert_eq!(join_addr("10.0.0.5:8000").unwrap(), "10.0.0.5:8000");
        assert_eq!(join_addr("[::1]:8000").unwrap(), "[::1]:8000");
        assert_eq!(join_addr("::1").unwrap(), "[::1]:7946");
        assert_eq!(join_addr("node-1.example").unwrap(), "node-1.example:7946");
        assert_eq!(join_addr("node-1.example:99").unwrap(), "node-1.example:99");
        assert!(join_addr("node:port").is_err());
        assert!(join_addr("").is_err());
        assert_eq!(
            ip_and_port("127.0.0.1:0"),
            Some(("127.0.0.1".parse().unwrap(), Some(0)))
        );
        assert_eq!(ip_and_port("notanaddress"), None);
    }

    #[test]
    fn flags_are_checked_with_a_reason() {
        let err = |list: &[&str]| parse(&args(list)).err().unwrap_or_default();
        assert!(err(&["--bind", "notanaddress"]).starts_with("--bind notanaddress"));
        assert!(err(&["--bogus"]).contains("unknown flag '--bogus'"));
        assert!(err(&["--tag", "novalue"]).contains("KEY=VALUE"));
        assert!(err(&["--encrypt", "!!"]).contains("base64"));
        assert!(err(&["--encrypt", "aGk="]).contains("16, 24 or 32"));
        assert!(err(&["--keyring-file", "/nonexistent/dir/file"]).contains("does not exist"));
        assert!(err(&["--name"]).contains("needs a value"));
        let o = parse(&args(&[
            "--encrypt",
            "AAAAAAAAAAAAAAAAAAAAAA==",
            "--tag",
            "role=web",
            "--bind",
            "127.0.0.1",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.keys, vec![SecretKey::new(&[0u8; 16]).unwrap()]);
        assert_eq!(o.bind, "127.0.0.1:7946".parse().unwrap());
        assert_eq!(o.tags.get("role").map(String::as_str), Some("web"));
    }
}
