//! `hearsay agent` processes on loopback, driven by the control commands.
//! Every wait polls against a deadline; every child is killed when its
//! guard drops, so a failing test leaves no process behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hearsay");

/// A scratch directory for sockets and files, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("hearsay-cli-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running agent, its JSON event lines collected by a thread.
struct Agent {
    name: String,
    child: Child,
    rpc: PathBuf,
    addr: String,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    fn start(dir: &Path, name: &str, join: Option<&str>) -> Agent {
        Agent::start_at(dir.join(format!("{name}.sock")), name, join, &[])
    }

    fn start_at(rpc: PathBuf, name: &str, join: Option<&str>, extra: &[&str]) -> Agent {
        let mut cmd = Command::new(BIN);
        cmd.args(["agent", "--name", name, "--bind", "127.0.0.1:0"])
            .args(["--profile", "local", "--json", "--rpc"])
            .arg(&rpc)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(seed) = join {
            cmd.args(["--join", seed]);
        }
        let mut child = cmd.spawn().expect("spawn hearsay agent");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => sink.lock().unwrap().push(v),
                    Err(e) => panic!("agent printed a line that is not JSON ({e}): {line}"),
                }
            }
        });
        let mut agent = Agent {
            name: name.to_owned(),
            child,
            rpc,
            addr: String::new(),
            lines,
        };
        wait_for(&format!("{name} to start"), Duration::from_secs(20), || {
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("agent {name} exited at start: {status}");
            }
            agent.saw(|e| e["event"] == "agent-start")
        });
        agent.addr = agent
            .find(|e| e["event"] == "agent-start")
            .and_then(|e| e["addr"].as_str().map(str::to_owned))
            .expect("agent-start names the address");
        agent
    }

    fn find(&self, what: impl Fn(&Value) -> bool) -> Option<Value> {
        self.lines.lock().unwrap().iter().find(|e| what(e)).cloned()
    }

    fn saw(&self, what: impl Fn(&Value) -> bool) -> bool {
        self.find(what).is_some()
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: sends a signal to our own child process.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill {}", self.name);
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `hearsay members --json` against this agent; empty if it failed.
    fn members(&self) -> Vec<Value> {
        let out = hearsay(&["members", "--json", "--rpc", self.rpc.to_str().unwrap()]);
        if !out.status.success() {
            return Vec::new();
        }
        serde_json::from_str::<Vec<Value>>(&out.stdout).unwrap_or_default()
    }

    fn status_of(&self, name: &str) -> Option<String> {
        self.members()
            .into_iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["status"].as_str().map(str::to_owned))
    }
}

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs a `hearsay` command to its end, killing it after 30 s.
fn hearsay(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hearsay");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hearsay {args:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {within:?} waiting for {what}");
}

#[test]
fn three_agents_form_a_pool_spread_an_event_and_see_a_leave() {
    let scratch = Scratch::new("pool");
    let a = Agent::start(&scratch.0, "a", None);
    let b = Agent::start(&scratch.0, "b", Some(&a.addr));
    let mut c = Agent::start(&scratch.0, "c", Some(&a.addr));
    let agents = [&a, &b, &c];

    wait_for(
        "every agent to list three alive",
        Duration::from_secs(30),
        || {
            agents.iter().all(|agent| {
                let members = agent.members();
                members.len() == 3 && members.iter().all(|m| m["status"] == "alive")
            })
        },
    );
    let listed = a.members();
    let names: Vec<&str> = listed.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    for m in &listed {
        assert!(m["addr"]
            .as_str()
            .is_some_and(|s| s.starts_with("127.0.0.1:")));
        assert!(m["tags"].is_object());
    }

    let sent = hearsay(&["event", "deploy", "v42", "--rpc", a.rpc.to_str().unwrap()]);
    assert!(sent.status.success(), "hearsay event: {}", sent.stderr);
    wait_for(
        "b and c to print the event",
        Duration::from_secs(20),
        || {
            [&b, &c].iter().all(|agent| {
                agent.saw(|e| {
                    e["event"] == "user-event" && e["name"] == "deploy" && e["payload"] == "v42"
                })
            })
        },
    );

    let asked = hearsay(&[
        "query",
        "ping",
        "--timeout",
        "2s",
        "--json",
        "--rpc",
        b.rpc.to_str().unwrap(),
    ]);
    assert!(asked.status.success(), "hearsay query: {}", asked.stderr);
    let done: Value = serde_json::from_str(asked.stdout.lines().last().unwrap_or("")).unwrap();
    assert_eq!(done["done"], true, "{}", asked.stdout);
    assert!(done["acks"].as_u64().unwrap() >= 2, "{}", asked.stdout);

    c.signal(libc::SIGINT);
    let status = c.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "c exited with {status} after SIGINT");
    assert!(c.saw(|e| e["event"] == "agent-left"));
    assert!(!c.rpc.exists(), "c removed its control socket");
    wait_for("a and b to list c as left", Duration::from_secs(30), || {
        [&a, &b]
            .iter()
            .all(|agent| agent.status_of("c").as_deref() == Some("left"))
    });
    wait_for("a to print c's leave", Duration::from_secs(10), || {
        a.saw(|e| e["event"] == "member-leave" && e["name"] == "c")
    });
}

#[test]
fn a_live_agent_keeps_its_socket_and_a_stale_one_is_replaced() {
    let scratch = Scratch::new("socket");
    let rpc = scratch.0.join("one.sock");
    let mut first = Agent::start_at(rpc.clone(), "one", None, &[]);
    let second = hearsay(&[
        "agent",
        "--name",
        "two",
        "--bind",
        "127.0.0.1:0",
        "--rpc",
        rpc.to_str().unwrap(),
    ]);
    assert!(!second.status.success());
    assert!(
        second.stderr.contains("another agent is running"),
        "{}",
        second.stderr
    );

    first.signal(libc::SIGKILL);
    first.wait_exit(Duration::from_secs(10));
    assert!(rpc.exists(), "a killed agent leaves its socket behind");
    let mut again = Agent::start_at(rpc.clone(), "one", None, &[]);
    again.signal(libc::SIGTERM);
    let status = again.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert!(!rpc.exists());
}

#[test]
fn bad_command_lines_exit_non_zero_with_one_line_that_says_what_to_fix() {
    let scratch = Scratch::new("bad");
    let dir = scratch.0.to_str().unwrap();
    let missing = format!("{dir}/no-agent.sock");
    let cases: &[(&[&str], &str)] = &[
        (&["agent", "--bogus"], "unknown flag '--bogus'"),
        (
            &["agent", "--bind", "notanaddress"],
            "--bind notanaddress: give IP:PORT",
        ),
        (
            &["agent", "--keyring-file", "/nonexistent/dir/file"],
            "directory /nonexistent/dir does not exist",
        ),
        (&["agent", "--keyring-file", dir], "cannot read it"),
        (&["agent", "--encrypt", "not-a-key"], "--encrypt"),
        (&["agent", "--join", "host:port"], "--join host:port"),
        (&["agent", "--profile", "fast"], "use lan, wan or local"),
        (
            &["members", "--bogus"],
            "unknown flag '--bogus' for members",
        ),
        (&["members", "--status", "dead"], "--status dead"),
        (&["members", "--rpc", &missing], "no agent at"),
        (
            &["query", "q", "--timeout", "5", "--rpc", &missing],
            "--timeout 5",
        ),
        (&["event"], "wrong number of arguments"),
        (
            &["keyring", "--install", "short", "--rpc", &missing],
            "keyring",
        ),
    ];
    for (args, hint) in cases {
        let out = hearsay(args);
        assert!(!out.status.success(), "hearsay {args:?} succeeded");
        let stderr = out.stderr.trim_end();
        assert_eq!(stderr.lines().count(), 1, "hearsay {args:?}: {stderr}");
        assert!(
            stderr.starts_with("hearsay: "),
            "hearsay {args:?}: {stderr}"
        );
        assert!(
            stderr.contains(hint),
            "hearsay {args:?}: '{stderr}' lacks '{hint}'"
        );
    }
}

#[test]
fn encrypted_agents_refuse_plaintext_and_rotate_a_key_with_hearsay_keyring() {
    let scratch = Scratch::new("keys");
    let old = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let new = "ICEiIyQlJicoKSorLC0uLw==";
    let keys = scratch.0.join("a.keys");
    let keys_flag = ["--encrypt", old, "--keyring-file", keys.to_str().unwrap()];
    let a = Agent::start_at(scratch.0.join("a.sock"), "a", None, &keys_flag);
    let b = Agent::start_at(
        scratch.0.join("b.sock"),
        "b",
        Some(&a.addr),
        &["--encrypt", old],
    );
    wait_for("a and b to list two alive", Duration::from_secs(30), || {
        [&a, &b].iter().all(|agent| {
            let members = agent.members();
            members.len() == 2 && members.iter().all(|m| m["status"] == "alive")
        })
    });

    let plain = hearsay(&[
        "agent",
        "--name",
        "c",
        "--bind",
        "127.0.0.1:0",
        "--profile",
        "local",
        "--rpc",
        scratch.0.join("c.sock").to_str().unwrap(),
        "--join",
        &a.addr,
    ]);
    assert!(!plain.status.success(), "a node without the key joined");
    assert!(plain.stderr.contains("could not join"), "{}", plain.stderr);

    let rpc = b.rpc.to_str().unwrap();
    for step in [["--install", new], ["--use", new], ["--remove", old]] {
        let out = hearsay(&["keyring", step[0], step[1], "--rpc", rpc]);
        assert!(
            out.status.success(),
            "keyring {}: {}{}",
            step[0],
            out.stdout,
            out.stderr
        );
    }
    let listed = hearsay(&["keyring", "--list", "--rpc", a.rpc.to_str().unwrap()]);
    assert!(listed.status.success(), "{}", listed.stderr);
    assert!(
        listed
            .stdout
            .contains(&format!("{new}  [2/2]  primary on 2")),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains(old), "{}", listed.stdout);
    let file = std::fs::read_to_string(&keys).unwrap();
    assert!(
        file.contains(new) && !file.contains(old),
        "keyring file: {file}"
    );
}
