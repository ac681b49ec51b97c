//! Measures the heap bytes one SWIM core spends per member entry: a counting
//! allocator records live bytes before and after N members are learned.
//!
//! `cargo run --release --example member_memory -- 5000 [--serf] [--json]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hearsay::swim::{Config, Swim};
use hearsay::wire::{self, Alive, Message, WireAddr};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the pointer came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One packet announcing each of members 1 to n − 1, encoded before any
/// measurement so that only the core's own growth is counted.
fn alive_packets(n: usize) -> Vec<Vec<u8>> {
    (1..n)
        .map(|i| {
            let alive = Message::Alive(Alive {
                incarnation: 1,
                node: format!("n{i}"),
                addr: WireAddr(SocketAddr::from(([127, 1, (i >> 8) as u8, i as u8], 7946))),
                meta: Vec::new(),
                versions: [1, 1, 1],
            });
            wire::encode_packet(None, &[wire::encode_message(&alive)])
        })
        .collect()
}

/// `--json`: one object for `scripts/bench.sh` instead of the sentence.
fn json() -> bool {
    std::env::args().any(|a| a == "--json")
}

fn main() {
    if std::env::args().any(|a| a == "--serf") {
        let n = std::env::args()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(5000);
        serf_mode(n);
        return;
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let now = Instant::now();
    let addr: SocketAddr = "127.0.0.1:7946".parse().unwrap();
    let mut core = Swim::new(Config::lan(), "n0", addr, Vec::new(), 1, now).unwrap();
    // Encode every packet first, so only the core's own growth is measured.
    let packets = alive_packets(n);
    // Drain what the core queues as a driver would, so that only the table
    // remains; the broadcast queue is bounded by its retransmit limit anyway.
    let before = LIVE.load(Ordering::Relaxed);
    for p in &packets {
        core.handle_packet(now, addr, p).unwrap();
        while core.poll_event().is_some() {}
    }
    let with_queue = LIVE.load(Ordering::Relaxed);
    // Let the gossip queue empty out: broadcasts leave after their transmits.
    let mut t = now;
    for _ in 0..2000 {
        t += std::time::Duration::from_millis(200);
        core.handle_timeout(t);
        while core.poll_transmit().is_some() {}
        while core.poll_event().is_some() {}
        if core.queued_broadcasts() == 0 {
            break;
        }
    }
    let after = LIVE.load(Ordering::Relaxed);
    let members = core.members().len();
    if json() {
        println!(
            "{}",
            serde_json::json!({
                "members": members,
                "serf": false,
                "bytes_per_entry": (after - before) as f64 / (n - 1) as f64,
                "bytes_per_entry_with_queue": (with_queue - before) as f64 / (n - 1) as f64,
            })
        );
        return;
    }
    println!(
        "{members} members: {:.1} bytes per member entry (table only), {:.1} with the broadcast queue still full",
        (after - before) as f64 / (n - 1) as f64,
        (with_queue - before) as f64 / (n - 1) as f64
    );
}

/// The same with the Serf layer on top (as pools run): heap bytes per
/// member entry for SWIM's table and Serf's together.
#[allow(dead_code)]
fn serf_mode(n: usize) {
    use hearsay::serf::{Serf, SerfConfig};
    let now = Instant::now();
    let addr: SocketAddr = "127.0.0.1:7946".parse().unwrap();
    let mut config = SerfConfig::with_swim(Config::lan());
    config.coordinates = None;
    let mut core = Serf::new(config, "n0", addr, Vec::new(), 1, now).unwrap();
    let packets = alive_packets(n);
    let before = LIVE.load(Ordering::Relaxed);
    for p in &packets {
        core.handle_packet(now, addr, p).unwrap();
        while core.poll_event().is_some() {}
    }
    let mut t = now;
    for _ in 0..2000 {
        t += std::time::Duration::from_millis(200);
        core.handle_timeout(t);
        while core.poll_transmit().is_some() {}
        while core.poll_event().is_some() {}
        if core.swim().queued_broadcasts() == 0 {
            break;
        }
    }
    let after = LIVE.load(Ordering::Relaxed);
    if json() {
        println!(
            "{}",
            serde_json::json!({
                "members": n,
                "serf": true,
                "bytes_per_entry": (after - before) as f64 / (n - 1) as f64,
            })
        );
        return;
    }
    println!(
        "{n} members with the Serf layer: {:.1} bytes per member entry",
        (after - before) as f64 / (n - 1) as f64
    );
}
