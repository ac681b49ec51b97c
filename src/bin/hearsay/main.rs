//! The `hearsay` command.

mod agent;
mod control;
mod demo;
mod sim;

use std::process::ExitCode;

const USAGE: &str = "usage: hearsay <command> [flags]
commands:
  demo      a cluster of datacenters in one process, on loopback
  agent     run one node
  members   list the members a running agent sees
  event     send a user event through a running agent
  query     send a query through a running agent
  keyring   list, install, use or remove gossip encryption keys
  force-leave  mark a failed member as left
  rtt       estimated round-trip time between members
  sim       simulate a cluster on virtual time
run 'hearsay <command> --help' for the flags of a command";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sim") => sim::run(&args[1..]),
        Some("agent") => agent::run(&args[1..]),
        Some(cmd @ ("members" | "event" | "query" | "keyring" | "force-leave" | "rtt")) => {
            control::run(cmd, &args[1..])
        }
        Some("demo") => demo(&args[1..]),
        Some("--version") | Some("version") => {
            println!("hearsay {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("-h") | Some("--help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command '{other}'; {USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hearsay: {message}");
            ExitCode::from(2)
        }
    }
}

pub(crate) fn value<'a>(args: &'a [String], i: &mut usize, flag: &str) -> Result<&'a str, String> {
    *i += 1;
    args.get(*i)
        .map(String::as_str)
        .ok_or_else(|| format!("{flag} needs a value"))
}

fn demo(args: &[String]) -> Result<(), String> {
    let mut options = demo::DemoOptions {
        datacenters: 3,
        nodes: 4,
        servers: 2,
        quick: false,
    };
    let mut i = 0;
    while i < args.len() {
        let count = |v: &str, flag: &str, max: usize| {
            v.parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| format!("{flag} {v}: give a whole number from 1 to {max}"))
        };
        match args[i].as_str() {
            "--datacenters" => {
                options.datacenters =
                    count(value(args, &mut i, "--datacenters")?, "--datacenters", 16)?
            }
            "--nodes" => options.nodes = count(value(args, &mut i, "--nodes")?, "--nodes", 64)?,
            "--servers" => {
                options.servers = count(value(args, &mut i, "--servers")?, "--servers", 16)?
            }
            "--quick" => options.quick = true,
            other => return Err(format!("unknown flag '{other}'; {USAGE}")),
        }
        i += 1;
    }
    if options.servers > options.nodes {
        return Err(format!(
            "--servers {} is more than --nodes {}: servers are nodes of their datacenter",
            options.servers, options.nodes
        ));
    }
    if options.datacenters < 2 || options.servers < 2 {
        return Err("the demo needs at least 2 datacenters and 2 servers per datacenter (one of them is killed)".into());
    }
    demo::run(&options)
}
