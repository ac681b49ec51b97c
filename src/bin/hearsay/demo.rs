//! `hearsay demo`: Consul's shape on loopback, in one process. Datacenters
//! of nodes, each with its LAN pool, and the servers of every datacenter in
//! one WAN pool sharing their LAN pool's port (told apart by label), all on
//! one runtime. It converges, loses a server, spreads an event, sees a
//! server leave, and sums up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hearsay::runtime::{MemberStatus, Pool, PoolConfig, PoolEvent, Runtime};
use hearsay::swim::Profile;

pub struct DemoOptions {
    pub datacenters: usize,
    pub nodes: usize,
    pub servers: usize,
    pub quick: bool,
}

struct Node {
    name: String,
    dc: usize,
    lan: Option<Pool>,
    wan: Option<Pool>,
}

fn pool_config(name: &str, label: String) -> PoolConfig {
    let mut c = PoolConfig::new(Profile::Local);
    c.node_name = name.to_owned();
    c.serf.swim.label = Some(label);
    c.serf.swim.probe_interval = Duration::from_millis(500);
    c.serf.swim.probe_timeout = Duration::from_millis(200);
    c.serf.swim.gossip_interval = Duration::from_millis(100);
    // memberlist's local profile sends each broadcast only twice, which in a
    // pool of four can miss a member until the next push-pull.
    c.serf.swim.retransmit_mult = 4;
    c.serf.swim.push_pull_interval = Duration::from_secs(5);
    c
}

fn alive(pool: &Pool) -> usize {
    pool.members()
        .map(|m| m.iter().filter(|m| m.status == MemberStatus::Alive).count())
        .unwrap_or(0)
}

fn status_of(pool: &Pool, name: &str) -> Option<MemberStatus> {
    pool.members()
        .ok()?
        .into_iter()
        .find(|m| m.name == name)
        .map(|m| m.status)
}

/// Polls `done` every 50 ms until it holds or `within` passes.
fn wait(within: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn show(nodes: &[Node], datacenters: usize) {
    for dc in 1..=datacenters {
        let views: Vec<String> = nodes
            .iter()
            .filter(|n| n.dc == dc)
            .filter_map(|n| {
                n.lan
                    .as_ref()
                    .map(|p| format!("{}:{}", n.name.split('.').next().unwrap_or(""), alive(p)))
            })
            .collect();
        println!(
            "  LAN dc{dc}  alive seen by each node  {}",
            views.join("  ")
        );
    }
    let views: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.wan.as_ref().map(|p| format!("{}:{}", n.name, alive(p))))
        .collect();
    println!(
        "  WAN       alive seen by each server  {}",
        views.join("  ")
    );
}

struct Step {
    what: String,
    took: Option<Duration>,
}

pub fn run(options: &DemoOptions) -> Result<(), String> {
    let started = Instant::now();
    let limit = if options.quick {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(60)
    };
    let rt = Runtime::new().map_err(|e| e.to_string())?;
    let mut nodes: Vec<Node> = Vec::new();
    for dc in 1..=options.datacenters {
        for i in 0..options.nodes {
            let name = format!("node{i}.dc{dc}");
            let lan = rt
                .pool(pool_config(&name, format!("lan-dc{dc}")))
                .map_err(|e| format!("starting {name}: {e}"))?;
            let wan = if i < options.servers {
                let mut c = pool_config(&name, "wan".into());
                c.bind_addr = lan.local_addr();
                Some(
                    rt.pool(c)
                        .map_err(|e| format!("starting the WAN pool of {name}: {e}"))?,
                )
            } else {
                None
            };
            nodes.push(Node {
                name,
                dc,
                lan: Some(lan),
                wan,
            });
        }
    }
    let servers = options.datacenters * options.servers.min(options.nodes);
    println!(
        "hearsay demo: {} datacenters × {} nodes on one runtime, {} servers also in the WAN pool (same ports, by label)",
        options.datacenters, options.nodes, servers
    );
    let join_started = Instant::now();
    let wan_seed = nodes[0]
        .lan
        .as_ref()
        .map(|p| p.local_addr().to_string())
        .unwrap_or_default();
    for dc in 1..=options.datacenters {
        let seed = nodes
            .iter()
            .find(|n| n.dc == dc)
            .and_then(|n| n.lan.as_ref())
            .map(|p| p.local_addr().to_string())
            .unwrap_or_default();
        for n in nodes.iter().filter(|n| n.dc == dc).skip(1) {
            n.lan
                .as_ref()
                .map(|p| p.join(&[seed.as_str()]))
                .transpose()
                .map_err(|e| e.to_string())?;
        }
    }
    for n in nodes.iter().skip(1) {
        if let Some(wan) = &n.wan {
            wan.join(&[wan_seed.as_str()]).map_err(|e| e.to_string())?;
        }
    }
    let converged = wait(limit, || {
        nodes.iter().all(|n| {
            n.lan.as_ref().is_none_or(|p| alive(p) == options.nodes)
                && n.wan.as_ref().is_none_or(|p| alive(p) == servers)
        })
    })
    .map(|_| join_started.elapsed());
    println!(
        "\nmembership after joining ({}):",
        match converged {
            Some(t) => format!("converged in {:.2} s", t.as_secs_f64()),
            None => "did not converge".into(),
        }
    );
    show(&nodes, options.datacenters);
    let mut steps = vec![Step {
        what: "every LAN and the WAN pool converged".into(),
        took: converged,
    }];

    // A server of dc2 dies: its LAN and the WAN pool must notice.
    let victim = nodes
        .iter()
        .position(|n| n.dc == 2.min(options.datacenters) && n.wan.is_some());
    if let Some(v) = victim {
        let name = nodes[v].name.clone();
        let dc = nodes[v].dc;
        println!("\nkilling {name} (no leave) ...");
        let killed_at = Instant::now();
        nodes[v].lan.take();
        nodes[v].wan.take();
        let lan_seen = wait(limit, || {
            nodes
                .iter()
                .filter(|n| n.dc == dc)
                .filter_map(|n| n.lan.as_ref())
                .all(|p| status_of(p, &name) == Some(MemberStatus::Failed))
        })
        .map(|_| killed_at.elapsed());
        let wan_seen = wait(limit, || {
            nodes
                .iter()
                .filter_map(|n| n.wan.as_ref())
                .all(|p| status_of(p, &name) == Some(MemberStatus::Failed))
        })
        .map(|_| killed_at.elapsed());
        for (pool, took) in [(format!("LAN dc{dc}"), lan_seen), ("WAN".into(), wan_seen)] {
            match took {
                Some(t) => println!(
                    "  {pool}: every member reports {name} failed after {:.2} s",
                    t.as_secs_f64()
                ),
                None => println!("  {pool}: not every member reports {name} failed"),
            }
        }
        steps.push(Step {
            what: format!("LAN dc{dc} detected the failure of {name}"),
            took: lan_seen,
        });
        steps.push(Step {
            what: format!("WAN detected the failure of {name}"),
            took: wan_seen,
        });
    }

    // A user event in dc1's LAN pool reaches every node of dc1, once each.
    let sender = nodes
        .iter()
        .position(|n| n.dc == 1 && n.lan.is_some())
        .unwrap_or(0);
    let event_name = "deploy";
    println!(
        "\n{} sends user event '{event_name}' in the LAN pool of dc1 ...",
        nodes[sender].name
    );
    let sent_at = Instant::now();
    if let Some(p) = &nodes[sender].lan {
        p.send_event(event_name, b"v2", false)
            .map_err(|e| e.to_string())?;
    }
    let mut received: BTreeMap<String, u32> = BTreeMap::new();
    let receivers: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].dc == 1 && nodes[i].lan.is_some())
        .collect();
    let delivered = wait(limit, || {
        for &i in &receivers {
            if let Some(p) = &nodes[i].lan {
                while let Ok(Some(e)) = p.next_event(Some(Duration::ZERO)) {
                    if let PoolEvent::User { name, .. } = e {
                        if name == event_name {
                            *received.entry(nodes[i].name.clone()).or_default() += 1;
                        }
                    }
                }
            }
        }
        received.len() == receivers.len()
    })
    .map(|_| sent_at.elapsed());
    let exactly_once = received.values().all(|&c| c == 1);
    match delivered {
        Some(t) => println!(
            "  delivered to all {} nodes of dc1 after {:.2} s{}",
            receivers.len(),
            t.as_secs_f64(),
            if exactly_once {
                ", once each"
            } else {
                ", but some twice"
            }
        ),
        None => println!(
            "  delivered to {} of {} nodes",
            received.len(),
            receivers.len()
        ),
    }
    steps.push(Step {
        what: "the user event reached every node of dc1 exactly once".into(),
        took: delivered.filter(|_| exactly_once),
    });

    // A server of the last datacenter leaves gracefully.
    let leaver = nodes
        .iter()
        .position(|n| n.dc == options.datacenters && n.wan.is_some() && n.lan.is_some());
    if let Some(l) = leaver {
        let name = nodes[l].name.clone();
        println!("\n{name} leaves gracefully ...");
        let left_at = Instant::now();
        if let Some(p) = &nodes[l].wan {
            let _ = p.leave(Duration::from_secs(3));
        }
        if let Some(p) = &nodes[l].lan {
            let _ = p.leave(Duration::from_secs(3));
        }
        let seen = wait(limit, || {
            nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != l)
                .flat_map(|(_, n)| {
                    [
                        n.wan.as_ref(),
                        n.lan.as_ref().filter(|_| n.dc == nodes[l].dc),
                    ]
                })
                .flatten()
                .all(|p| status_of(p, &name) == Some(MemberStatus::Left))
        })
        .map(|_| left_at.elapsed());
        match seen {
            Some(t) => println!(
                "  its LAN and the WAN pool report it left after {:.2} s",
                t.as_secs_f64()
            ),
            None => println!("  not every pool reports it left"),
        }
        steps.push(Step {
            what: format!("LAN and WAN saw {name} leave"),
            took: seen,
        });
    }

    if !options.quick {
        // Let the rest of the half minute show the pools steady.
        let until = started + Duration::from_secs(30);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    println!("\nmembership at the end:");
    show(&nodes, options.datacenters);
    println!("\nsummary ({:.1} s):", started.elapsed().as_secs_f64());
    let mut failed = 0;
    for step in &steps {
        match step.took {
            Some(t) => println!("  ok    {:<60} {:>7.2} s", step.what, t.as_secs_f64()),
            None => {
                failed += 1;
                println!("  FAIL  {}", step.what);
            }
        }
    }
    println!("{} passed, {} failed", steps.len() - failed, failed);
    if failed > 0 {
        return Err(format!("{failed} demo steps failed"));
    }
    Ok(())
}
