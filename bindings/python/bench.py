#!/usr/bin/env python3
"""What the Python binding costs per event delivered and per member snapshot.

    HEARSAY_LIBRARY=target/release/libhearsay.so python3 bindings/python/bench.py
    python3 bindings/python/bench.py --events 10000 --pools 100 --runs 7 --json

Events: one pool sends ``--events`` user events (16-byte payload) to itself;
they are all queued locally before ``send_event`` returns (checked: none
dropped, every one drained). Timed is only the drain, three ways:

  raw        ctypes ``hearsay_pool_next_event(p, 0)`` + ``hearsay_event_free``
             (the floor: two foreign calls, no decoding)
  next_event ``Pool.next_event(0)``: the closed-pool guard, the poll, decoding
             type, name, payload and Lamport time into a ``UserEvent``, free
  aevents    ``async for ev in pool.aevents()`` on a queue that is full
             (the asyncio path, with the descriptor never needed)

Members: ``--pools`` pools (default 1,000, 2 tags each) on ``--runtimes``
runtimes (default 8) join one seed with slow LAN timings (probe 5 s, gossip
500 ms, so the cluster idles); once the seed sees all of them alive, timed
is ``Pool.members()`` (snapshot + decode into ``Member`` objects) and the
raw snapshot (``hearsay_pool_members`` + ``hearsay_members_free``, no
decoding), each the best of 20 calls per run. 1,000 pools take about 1.3 GB
of memory and a few seconds to set up; with ``--pools`` below 1,000 a
1,000-member figure is printed as a linear extrapolation, marked as such.

Each figure is the median of ``--runs`` runs (min and max shown too).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hearsay  # noqa: E402
from hearsay import _lib  # noqa: E402


def median_of(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fill(pool: hearsay.Pool, n: int) -> None:
    payload = b"p" * 16
    for _ in range(n):
        pool.send_event("bench", payload)
    assert pool.events_dropped() == 0, "event queue too small"


def bench_events(rt: hearsay.Runtime, n: int, runs: int) -> dict:
    lib = _lib.load()
    p = rt.pool(profile="local", node_name="bench-events", event_queue_depth=max(4096, n * 2))
    p.drain()
    out = {}

    def raw_drain() -> float:
        fill(p, n)
        ev = ctypes.c_void_p()
        got = 0
        with p._h as ptr:
            t0 = time.perf_counter()
            while lib.pool_next_event(ptr, 0, ctypes.byref(ev)) == 0:
                lib.event_free(ev.value)
                got += 1
            t = time.perf_counter() - t0
        assert got == n, got
        return t / n

    def binding_drain() -> float:
        fill(p, n)
        got = 0
        t0 = time.perf_counter()
        while True:
            ev = p.next_event(0)
            if ev is None:
                break
            got += 1
        t = time.perf_counter() - t0
        assert got == n and isinstance(ev, type(None)), got
        return t / n

    def async_drain() -> float:
        fill(p, n)

        async def main() -> float:
            got = 0
            t0 = time.perf_counter()
            async for _ev in p.aevents():
                got += 1
                if got == n:
                    break
            return (time.perf_counter() - t0) / n

        return asyncio.run(main())

    for name, fn in (("raw", raw_drain), ("next_event", binding_drain), ("aevents", async_drain)):
        fn()  # warm-up
        out[name] = median_of([fn() * 1e6 for _ in range(runs)])  # µs per event
    p.close()
    return out


def bench_members(n_pools: int, n_runtimes: int, runs: int) -> dict:
    lib = _lib.load()
    slow = dict(
        profile="lan",
        probe_interval_ms=5000,
        probe_timeout_ms=1000,
        gossip_interval_ms=500,
        push_pull_interval_ms=60000,
        tcp_timeout_ms=10000,
    )
    runtimes = [hearsay.Runtime() for _ in range(n_runtimes)]
    pools = []
    t_setup = time.perf_counter()
    try:
        for i in range(n_pools):
            p = runtimes[i % n_runtimes].pool(
                node_name=f"member-{i:04d}", tags={"role": "bench", "zone": f"z{i % 7}"}, **slow
            )
            if pools:
                p.join(pools[0].local_addr)
            pools.append(p)
        seed = pools[0]
        deadline = time.monotonic() + 120
        while seed.stats().members_alive < n_pools:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {seed.stats().members_alive} of {n_pools} members joined")
            time.sleep(0.05)
        setup_s = time.perf_counter() - t_setup
        count = len(seed.members())

        def raw() -> float:
            snap = ctypes.c_void_p()
            with seed._h as ptr:
                t0 = time.perf_counter()
                assert lib.pool_members(ptr, ctypes.byref(snap)) == 0
                lib.members_count(snap.value)
                lib.members_free(snap.value)
                return time.perf_counter() - t0

        def decoded() -> float:
            t0 = time.perf_counter()
            seed.members()
            return time.perf_counter() - t0

        reps = 20
        out = {"members": count, "setup_s": setup_s}
        for name, fn in (("raw_snapshot", raw), ("members", decoded)):
            fn()
            samples = []
            for _ in range(runs):
                samples.append(min(fn() for _ in range(reps)) * 1e3)  # ms, best of reps
            out[name + "_ms"] = median_of(samples)
        per_member_us = (out["members_ms"]["median"] - out["raw_snapshot_ms"]["median"]) * 1e3 / count
        out["decode_per_member_us"] = per_member_us
        if count < 1000:
            out["extrapolated_1000_members_ms"] = out["members_ms"]["median"] * 1000 / count
        return out
    finally:
        for r in runtimes:
            r.close()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} CPUs, {system}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--pools", type=int, default=1000, help="members for the snapshot benchmark")
    ap.add_argument("--runtimes", type=int, default=8)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    result = {
        "library": hearsay.library_path(),
        "machine": machine(),
        "events": {"count": args.events},
        "runs": args.runs,
    }
    with hearsay.Runtime() as rt:
        result["events"].update(bench_events(rt, args.events, args.runs))
    result["snapshot"] = bench_members(args.pools, args.runtimes, args.runs)

    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"library  {result['library']}")
    print(f"machine  {result['machine']}")
    print(f"runs     {args.runs} (median [min–max])")
    ev = result["events"]
    print(f"\nper event delivered to Python ({args.events} user events queued, drained, timeout 0):")
    for k in ("raw", "next_event", "aevents"):
        s = ev[k]
        print(f"  {k:<11} {s['median']:7.2f} µs   [{s['min']:.2f}–{s['max']:.2f}]")
    sn = result["snapshot"]
    print(
        f"\nmembers snapshot ({sn['members']} members, 2 tags each; best of 20 per run; "
        f"setup {sn['setup_s']:.1f} s):"
    )
    for k in ("raw_snapshot_ms", "members_ms"):
        s = sn[k]
        print(f"  {k[:-3]:<13} {s['median']:7.3f} ms   [{s['min']:.3f}–{s['max']:.3f}]")
    print(f"  decode        {sn['decode_per_member_us']:7.2f} µs per member")
    if "extrapolated_1000_members_ms" in sn:
        x = sn["extrapolated_1000_members_ms"]
        print(f"  1,000 members ≈ {x:.1f} ms (extrapolated linearly, not measured)")


if __name__ == "__main__":
    main()
