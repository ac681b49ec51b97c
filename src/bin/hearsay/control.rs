//! Control commands against a running agent, over its control socket
//! (`--rpc PATH`, else `$HEARSAY_RPC`, else the one agent socket found).

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use hearsay::runtime::SecretKey;
use serde_json::Value;

use crate::agent::rpc::{self, KeyringOp, Member, Request};
use crate::value;

const STATUSES: [&str; 4] = ["alive", "leaving", "left", "failed"];
/// How long a client waits for each answer line, beyond a query's own
/// deadline.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

fn usage(command: &str) -> &'static str {
    match command {
        "members" => "usage: hearsay members [--status alive|leaving|left|failed] [--detailed] [--json] [--rpc PATH]",
        "event" => "usage: hearsay event NAME [PAYLOAD] [--coalesce] [--rpc PATH]",
        "query" => "usage: hearsay query NAME [PAYLOAD] [--node NAME]... [--tag KEY=REGEX]... [--timeout 5s|500ms] [--no-ack] [--json] [--rpc PATH]",
        "keyring" => "usage: hearsay keyring --list | --install KEY | --use KEY | --remove KEY [--rpc PATH]",
        "force-leave" => "usage: hearsay force-leave NAME [--prune] [--rpc PATH]",
        "rtt" => "usage: hearsay rtt NODE_A [NODE_B] [--rpc PATH]",
        _ => "usage: hearsay <command> --help",
    }
}

/// A command line split into flags and positional arguments.
#[derive(Default)]
struct Parsed {
    positional: Vec<String>,
    rpc: Option<String>,
    switches: Vec<&'static str>,
    values: Vec<(&'static str, String)>,
    help: bool,
}

impl Parsed {
    fn has(&self, switch: &str) -> bool {
        self.switches.contains(&switch)
    }

    fn all<'a>(&'a self, flag: &'a str) -> impl Iterator<Item = &'a str> {
        self.values
            .iter()
            .filter(move |(f, _)| *f == flag)
            .map(|(_, v)| v.as_str())
    }

    fn last<'a>(&'a self, flag: &'a str) -> Option<&'a str> {
        self.all(flag).last()
    }
}

/// Splits `args` by the command's `switches` (no value) and `valued`
/// flags; `--` ends the flags.
fn split(
    command: &str,
    args: &[String],
    switches: &[&'static str],
    valued: &[&'static str],
) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut i = 0;
    let mut flags_done = false;
    while i < args.len() {
        let arg = args[i].as_str();
        if flags_done || !arg.starts_with('-') || arg == "-" {
            p.positional.push(arg.to_owned());
        } else if arg == "--" {
            flags_done = true;
        } else if arg == "-h" || arg == "--help" {
            p.help = true;
        } else if arg == "--rpc" {
            p.rpc = Some(value(args, &mut i, arg)?.to_owned());
        } else if let Some(s) = switches.iter().find(|s| **s == arg) {
            p.switches.push(s);
        } else if let Some(f) = valued.iter().find(|f| **f == arg) {
            p.values.push((f, value(args, &mut i, arg)?.to_owned()));
        } else {
            return Err(format!(
                "unknown flag '{arg}' for {command}: {}",
                usage(command)
            ));
        }
        i += 1;
    }
    Ok(p)
}

fn positional(p: &Parsed, command: &str, min: usize, max: usize) -> Result<(), String> {
    let n = p.positional.len();
    if n < min || n > max {
        let extra = p
            .positional
            .get(max)
            .map_or(String::new(), |a| format!(" ('{a}' is one too many)"));
        return Err(format!(
            "{command}: wrong number of arguments{extra}; {}",
            usage(command)
        ));
    }
    Ok(())
}

pub fn run(command: &str, args: &[String]) -> Result<(), String> {
    let (switches, valued): (&[&'static str], &[&'static str]) = match command {
        "members" => (&["--detailed", "--json"], &["--status"]),
        "event" => (&["--coalesce"], &[]),
        "query" => (&["--no-ack", "--json"], &["--node", "--tag", "--timeout"]),
        "keyring" => (&["--list"], &["--install", "--use", "--remove"]),
        "force-leave" => (&["--prune"], &[]),
        "rtt" => (&[], &[]),
        _ => return Err(format!("unknown command '{command}'")),
    };
    let p = split(command, args, switches, valued)?;
    if p.help {
        println!("{}", usage(command));
        return Ok(());
    }
    match command {
        "members" => members(&p),
        "event" => event(&p),
        "query" => query(&p),
        "keyring" => keyring(&p),
        "force-leave" => force_leave(&p),
        _ => rtt(&p),
    }
}

/// An open request: answer lines are read from it.
struct Call {
    reader: BufReader<UnixStream>,
}

impl Call {
    fn send(p: &Parsed, request: &Request) -> Result<Call, String> {
        let path = rpc::resolve(p.rpc.as_deref())?;
        let stream = connect(&path)?;
        let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
        let line = serde_json::to_string(request).map_err(|e| e.to_string())?;
        (&stream)
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| format!("cannot talk to the agent at {}: {e}", path.display()))?;
        Ok(Call {
            reader: BufReader::new(stream),
        })
    }

    fn set_timeout(&self, timeout: Duration) {
        let _ = self.reader.get_ref().set_read_timeout(Some(timeout));
    }

    /// The next answer line; `Err` for a failure the agent reported.
    fn next(&mut self) -> Result<Value, String> {
        let line = rpc::read_line(&mut self.reader, rpc::MAX_ANSWER)
            .map_err(|e| format!("reading the agent's answer: {e}"))?
            .ok_or("the agent closed the connection without answering")?;
        let answer: Value = serde_json::from_str(&line)
            .map_err(|e| format!("the agent's answer is not JSON ({e})"))?;
        if answer.get("ok") == Some(&Value::Bool(false)) {
            return Err(answer
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the agent refused without a reason")
                .to_owned());
        }
        Ok(answer)
    }

    /// A request with one answer line.
    fn once(p: &Parsed, request: &Request) -> Result<Value, String> {
        Call::send(p, request)?.next()
    }
}

fn connect(path: &Path) -> Result<UnixStream, String> {
    let shown = path.display();
    UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("no agent at {shown}: start 'hearsay agent' or give --rpc PATH")
        }
        std::io::ErrorKind::ConnectionRefused => {
            format!("no agent listening on {shown} (left by one that stopped): start 'hearsay agent' or give --rpc PATH")
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("not allowed to open {shown}: run as the agent's user")
        }
        _ => format!("cannot reach the agent at {shown}: {e}"),
    })
}

fn members(p: &Parsed) -> Result<(), String> {
    positional(p, "members", 0, 0)?;
    let status = p.last("--status");
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(format!("--status {s}: use alive, leaving, left or failed"));
        }
    }
    let answer = Call::once(p, &Request::Members)?;
    let list: Vec<Member> =
        serde_json::from_value(answer.get("members").cloned().unwrap_or_default())
            .map_err(|e| format!("the agent's member list is malformed ({e})"))?;
    let list: Vec<Member> = list
        .into_iter()
        .filter(|m| status.is_none_or(|s| m.status == s))
        .collect();
    let detailed = p.has("--detailed");
    if p.has("--json") {
        let rows: Vec<Value> = list
            .iter()
            .map(|m| {
                let mut row = serde_json::json!({
                    "name": m.name, "addr": m.addr, "status": m.status, "tags": m.tags,
                });
                if detailed {
                    row["incarnation"] = m.incarnation.into();
                    row["rtt_ms"] = m.rtt_ms.into();
                }
                row
            })
            .collect();
        println!("{}", Value::Array(rows));
        return Ok(());
    }
    let mut header = vec!["Name", "Address", "Status", "Tags"];
    if detailed {
        header.extend(["Incarnation", "RTT"]);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|m| {
            let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut row = vec![
                m.name.clone(),
                m.addr.clone(),
                m.status.clone(),
                tags.join(","),
            ];
            if detailed {
                row.push(m.incarnation.to_string());
                row.push(m.rtt_ms.map_or("-".into(), |ms| format!("{ms:.3} ms")));
            }
            row
        })
        .collect();
    print!("{}", table(&header, &rows));
    Ok(())
}

/// Columns padded to their widest cell, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn event(p: &Parsed) -> Result<(), String> {
    positional(p, "event", 1, 2)?;
    let name = p.positional[0].clone();
    let coalesce = p.has("--coalesce");
    Call::once(
        p,
        &Request::Event {
            name: name.clone(),
            payload: p.positional.get(1).cloned().unwrap_or_default(),
            coalesce,
        },
    )?;
    println!(
        "event '{name}' sent{}",
        if coalesce { " (coalescing)" } else { "" }
    );
    Ok(())
}

/// "5s", "500ms", "1.5s", "2m".
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| text.split_at(i))?;
    let n: f64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

fn query(p: &Parsed) -> Result<(), String> {
    positional(p, "query", 1, 2)?;
    let name = p.positional[0].clone();
    let mut tags = BTreeMap::new();
    for t in p.all("--tag") {
        let (k, re) = t
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| format!("--tag {t}: give KEY=REGEX, e.g. role=web.*"))?;
        tags.insert(k.to_owned(), re.to_owned());
    }
    let timeout = match p.last("--timeout") {
        None => None,
        Some(t) => Some(
            parse_duration(t)
                .filter(|d| (Duration::from_millis(1)..=Duration::from_secs(3600)).contains(d))
                .ok_or_else(|| {
                    format!("--timeout {t}: give a duration from 1ms to 1h, e.g. 5s or 500ms")
                })?,
        ),
    };
    let json = p.has("--json");
    let mut call = Call::send(
        p,
        &Request::Query {
            name: name.clone(),
            payload: p.positional.get(1).cloned().unwrap_or_default(),
            nodes: p.all("--node").map(str::to_owned).collect(),
            tags,
            timeout_ms: timeout.map(|t| t.as_millis() as u64),
            no_ack: p.has("--no-ack"),
        },
    )?;
    if let Some(t) = timeout {
        call.set_timeout(t + ANSWER_TIMEOUT);
    }
    let mut stdout = std::io::stdout().lock();
    loop {
        let line = call.next()?;
        if json {
            let _ = writeln!(stdout, "{line}");
        }
        if line.get("ok").is_some() {
            if !json {
                let count = |k: &str| line.get(k).and_then(Value::as_u64).unwrap_or(0);
                let _ = writeln!(
                    stdout,
                    "query '{name}': {} acks, {} responses",
                    count("acks"),
                    count("responses")
                );
            }
            return Ok(());
        }
        if json {
            continue;
        }
        if let Some(from) = line.get("ack").and_then(Value::as_str) {
            let _ = writeln!(stdout, "ack from {from}");
        } else if let Some(response) = line.get("response") {
            let from = response.get("from").and_then(Value::as_str).unwrap_or("?");
            let _ = writeln!(
                stdout,
                "response from {from}: {}",
                rpc::payload_text(response)
            );
        }
    }
}

fn keyring(p: &Parsed) -> Result<(), String> {
    positional(p, "keyring", 0, 0)?;
    let mut ops: Vec<(KeyringOp, Option<String>)> = Vec::new();
    if p.has("--list") {
        ops.push((KeyringOp::List, None));
    }
    for (flag, op) in [
        ("--install", KeyringOp::Install),
        ("--use", KeyringOp::Use),
        ("--remove", KeyringOp::Remove),
    ] {
        for key in p.all(flag) {
            ops.push((op, Some(key.to_owned())));
        }
    }
    if ops.len() != 1 {
        return Err(format!(
            "keyring: give exactly one operation; {}",
            usage("keyring")
        ));
    }
    let (op, key) = ops.remove(0);
    if let Some(k) = &key {
        SecretKey::from_base64(k)
            .map_err(|e| format!("keyring: {e}; make a key with 'openssl rand -base64 32'"))?;
    }
    let answer = Call::once(p, &Request::Keyring { op, key })?;
    let count = |field: &str| answer.get(field).and_then(Value::as_u64).unwrap_or(0);
    let (members, responses) = (count("members"), count("responses"));
    let counts = |field: &str| -> BTreeMap<String, u64> {
        answer
            .get(field)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    };
    let errors: BTreeMap<String, String> = answer
        .get("errors")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let what = match op {
        KeyringOp::List => "list",
        KeyringOp::Install => "install",
        KeyringOp::Use => "use",
        KeyringOp::Remove => "remove",
    };
    println!("keyring {what}: {responses} of {members} members answered");
    if op == KeyringOp::List {
        let primary = counts("primary_keys");
        for (key, n) in counts("keys") {
            let on = primary.get(&key).copied().unwrap_or(0);
            let note = if on > 0 {
                format!("  primary on {on}")
            } else {
                String::new()
            };
            println!("  {key}  [{n}/{members}]{note}");
        }
    }
    for (node, error) in &errors {
        println!("  {node}: {error}");
    }
    if !errors.is_empty() || responses < members {
        return Err(format!(
            "keyring {what}: {} of {members} members failed and {} did not answer; fix those nodes and run it again",
            errors.len(),
            members.saturating_sub(responses)
        ));
    }
    Ok(())
}

fn force_leave(p: &Parsed) -> Result<(), String> {
    positional(p, "force-leave", 1, 1)?;
    let name = p.positional[0].clone();
    Call::once(
        p,
        &Request::ForceLeave {
            name: name.clone(),
            prune: p.has("--prune"),
        },
    )?;
    println!(
        "'{name}' forced to leave{}",
        if p.has("--prune") { " and pruned" } else { "" }
    );
    Ok(())
}

fn rtt(p: &Parsed) -> Result<(), String> {
    positional(p, "rtt", 1, 2)?;
    let answer = Call::once(
        p,
        &Request::Rtt {
            a: p.positional[0].clone(),
            b: p.positional.get(1).cloned(),
        },
    )?;
    let a = answer.get("a").and_then(Value::as_str).unwrap_or("?");
    let b = answer.get("b").and_then(Value::as_str).unwrap_or("?");
    let ms = answer.get("rtt_ms").and_then(Value::as_f64).unwrap_or(0.0);
    println!("{a} <-> {b}: {ms:.3} ms (estimated from network coordinates)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("5h"), None);
    }

    #[test]
    fn tables_align_their_columns() {
        let rows = vec![
            vec!["a".into(), "127.0.0.1:1".into(), "alive".into(), "".into()],
            vec![
                "node-2".into(),
                "127.0.0.1:2".into(),
                "left".into(),
                "role=web".into(),
            ],
        ];
        assert_eq!(
            table(&["Name", "Address", "Status", "Tags"], &rows),
            "Name    Address      Status  Tags\n\
             a       127.0.0.1:1  alive\n\
             node-2  127.0.0.1:2  left    role=web\n"
        );
    }

    #[test]
    fn flags_split_and_unknown_ones_are_named() {
        let args: Vec<String> = ["ping", "--node", "a", "--json", "--", "--payload"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = split("query", &args, &["--json"], &["--node"]).unwrap();
        assert_eq!(p.positional, ["ping", "--payload"]);
        assert_eq!(p.all("--node").collect::<Vec<_>>(), ["a"]);
        assert!(p.has("--json"));
        let err = split("members", &["--bogus".to_string()], &[], &[])
            .err()
            .unwrap();
        assert!(err.starts_with("unknown flag '--bogus' for members"));
    }
}
