//! Measures real pools on loopback: convergence of N pools on one runtime,
//! steady-state CPU, memory and traffic per pool, the cost of one event
//! through the C ABI (`hearsay_pool_next_event` + `hearsay_event_free`) and
//! of a members snapshot of 1,000 members (`hearsay_pool_members` + reading
//! every name + `hearsay_members_free`).
//!
//! `cargo run --release --example pool_bench -- [--pools 64,256] [--steady-secs 60] [--snapshot-members 1000] [--json]`

use std::ffi::CString;
use std::time::{Duration, Instant};

use hearsay::ffi::config::*;
use hearsay::ffi::error::hearsay_result;
use hearsay::ffi::event::*;
use hearsay::ffi::members::*;
use hearsay::ffi::pool::*;
use hearsay::ffi::runtime::*;
use hearsay::runtime::{Pool, PoolConfig, Runtime};
use hearsay::swim::Profile;

fn proc_stat_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat (1-based),
    // i.e. 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

/// `--json`: one object per measurement, for `scripts/bench.sh`.
fn json() -> bool {
    std::env::args().any(|a| a == "--json")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pools_phase(n: usize, steady: Duration) {
    let rss_before = rss_kib();
    let rt = Runtime::new().unwrap();
    let started = Instant::now();
    let mut pools: Vec<Pool> = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = PoolConfig::new(Profile::Lan);
        c.node_name = format!("bench-{i}");
        pools.push(rt.pool(c).unwrap());
    }
    let seed = pools[0].local_addr().to_string();
    for p in &pools[1..] {
        p.join(&[seed.as_str()]).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = pools.iter().all(|p| {
            p.stats()
                .map(|s| s.members_alive as usize == n)
                .unwrap_or(false)
        });
        if done || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let converged = started.elapsed();
    // Let the join traffic settle before measuring the steady state.
    std::thread::sleep(Duration::from_secs(5));
    let rss_after = rss_kib();
    let bytes_before: u64 = pools.iter().map(|p| p.stats().unwrap().bytes_out).sum();
    let cpu_before = proc_stat_cpu_secs();
    let t0 = Instant::now();
    std::thread::sleep(steady);
    let secs = t0.elapsed().as_secs_f64();
    let cpu = proc_stat_cpu_secs() - cpu_before;
    let bytes_after: u64 = pools.iter().map(|p| p.stats().unwrap().bytes_out).sum();
    if json() {
        println!(
            "{}",
            serde_json::json!({
                "phase": "pools", "pools": n, "steady_s": secs,
                "converged_s": converged.as_secs_f64(),
                "cpu_s_per_pool_per_min": cpu / n as f64 / (secs / 60.0),
                "core_share": cpu / secs,
                "rss_kib_per_pool": (rss_after - rss_before) / n as f64,
                "bytes_per_pool_s": (bytes_after - bytes_before) as f64 / n as f64 / secs,
            })
        );
        drop(pools);
        return;
    }
    println!(
        "pools={n} converged_s={:.2} cpu_s_per_pool_per_min={:.5} runtime_core_share={:.2}% rss_kib_per_pool={:.0} bytes_per_pool_s={:.0}",
        converged.as_secs_f64(),
        cpu / n as f64 / (secs / 60.0),
        cpu / secs * 100.0,
        (rss_after - rss_before) / n as f64,
        (bytes_after - bytes_before) as f64 / n as f64 / secs
    );
    drop(pools);
}

fn event_cost() {
    let mut rt = std::ptr::null_mut();
    assert_eq!(hearsay_runtime_new(&mut rt), hearsay_result::HEARSAY_OK);
    let mut c = std::ptr::null_mut();
    assert_eq!(
        hearsay_config_new(RawProfile(2), &mut c),
        hearsay_result::HEARSAY_OK
    );
    let name = CString::new("events").unwrap();
    hearsay_config_set_node_name(c, name.as_ptr());
    hearsay_config_set_event_queue_depth(c, 20_000);
    let mut p = std::ptr::null_mut();
    assert_eq!(hearsay_pool_new(rt, c, &mut p), hearsay_result::HEARSAY_OK);
    let event_name = CString::new("bench").unwrap();
    let payload = [7u8; 64];
    let total = 10_000;
    for _ in 0..total {
        assert_eq!(
            hearsay_pool_send_event(
                p,
                event_name.as_ptr(),
                payload.as_ptr(),
                payload.len(),
                false
            ),
            hearsay_result::HEARSAY_OK
        );
    }
    // A pool delivers its own events; time only the pulls that got one.
    let mut got = 0;
    let mut spent = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(30);
    while got < total && Instant::now() < deadline {
        let mut e = std::ptr::null_mut();
        let t = Instant::now();
        let r = hearsay_pool_next_event(p, 0, &mut e);
        if r == hearsay_result::HEARSAY_OK {
            hearsay_event_free(e);
            spent += t.elapsed();
            got += 1;
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    if json() {
        println!(
            "{}",
            serde_json::json!({
                "phase": "events", "events": got,
                "ns_per_event": spent.as_nanos() as f64 / got.max(1) as f64,
            })
        );
    } else {
        println!(
            "next_event+event_free: {:.0} ns per event over {got} events",
            spent.as_nanos() as f64 / got.max(1) as f64
        );
    }
    hearsay_pool_free(p);
    hearsay_config_free(c);
    hearsay_runtime_free(rt);
}

fn snapshot_cost(members: usize) {
    // Many pools on a few runtimes, LOCAL profile, so that one of them
    // knows `members` members.
    let runtimes: Vec<Runtime> = (0..4).map(|_| Runtime::new().unwrap()).collect();
    let mut pools = Vec::with_capacity(members);
    for i in 0..members {
        let mut c = PoolConfig::new(Profile::Local);
        c.node_name = format!("member-{i}");
        pools.push(runtimes[i % runtimes.len()].pool(c).unwrap());
    }
    let seed = pools[0].local_addr().to_string();
    for p in &pools[1..] {
        p.join(&[seed.as_str()]).unwrap();
    }
    // The measured pool goes through the C ABI.
    let mut rt = std::ptr::null_mut();
    assert_eq!(hearsay_runtime_new(&mut rt), hearsay_result::HEARSAY_OK);
    let mut c = std::ptr::null_mut();
    assert_eq!(
        hearsay_config_new(RawProfile(2), &mut c),
        hearsay_result::HEARSAY_OK
    );
    let name = CString::new("observer").unwrap();
    hearsay_config_set_node_name(c, name.as_ptr());
    let mut p = std::ptr::null_mut();
    assert_eq!(hearsay_pool_new(rt, c, &mut p), hearsay_result::HEARSAY_OK);
    let seed_c = CString::new(seed).unwrap();
    let addrs = [seed_c.as_ptr()];
    let mut joined = 0usize;
    assert_eq!(
        hearsay_pool_join(p, addrs.as_ptr(), 1, &mut joined),
        hearsay_result::HEARSAY_OK
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut count = 0;
    while Instant::now() < deadline {
        let mut m = std::ptr::null_mut();
        if hearsay_pool_members(p, &mut m) == hearsay_result::HEARSAY_OK {
            count = hearsay_members_count(m);
            hearsay_members_free(m);
        }
        if count > members {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut samples = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let mut m = std::ptr::null_mut();
        assert_eq!(hearsay_pool_members(p, &mut m), hearsay_result::HEARSAY_OK);
        let n = hearsay_members_count(m);
        let mut bytes = 0usize;
        for i in 0..n {
            let member = hearsay_members_get(m, i);
            // SAFETY: a member name is a valid C string while `m` lives.
            bytes += unsafe { std::ffi::CStr::from_ptr(hearsay_member_name(member)) }
                .to_bytes()
                .len();
        }
        hearsay_members_free(m);
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(bytes);
    }
    let c_us = median(samples);
    // The same through the Rust API, to tell the runtime's share from the C copy.
    let observer = &pools[1];
    let rust: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            let members = observer.members().unwrap();
            std::hint::black_box(members.len());
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let rust_us = median(rust);
    if json() {
        println!(
            "{}",
            serde_json::json!({
                "phase": "snapshot", "members": count, "samples": 200,
                "c_median_us": c_us, "rust_median_us": rust_us,
            })
        );
    } else {
        println!(
            "members snapshot of {count} members: median {c_us:.0} us (pools + hearsay_members_get + names + free)"
        );
        println!("Pool::members() of the same pool size through Rust: median {rust_us:.0} us");
    }
    hearsay_pool_free(p);
    hearsay_config_free(c);
    hearsay_runtime_free(rt);
    drop(pools);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let pools: Vec<usize> = value("--pools")
        .unwrap_or_else(|| "64,256".into())
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let steady = Duration::from_secs(
        value("--steady-secs")
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let members: usize = value("--snapshot-members")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    for n in pools {
        pools_phase(n, steady);
    }
    event_cost();
    if members > 0 {
        snapshot_cost(members);
    }
}
