"""Shared helpers: fast LOCAL-profile settings, clusters on loopback, and
waiting by polling until a deadline (never a fixed sleep)."""

from __future__ import annotations

import itertools
import time
from typing import Callable, Iterator, List, Optional

import pytest

import hearsay

#: LOCAL profile with timings short enough that convergence and failure
#: detection take about a second on loopback.
FAST = dict(
    profile="local",
    bind="127.0.0.1:0",
    probe_interval_ms=200,
    probe_timeout_ms=100,
    gossip_interval_ms=50,
    suspicion_mult=2,
    suspicion_max_timeout_mult=2,
    push_pull_interval_ms=1000,
    tcp_timeout_ms=500,
)

_names = itertools.count()


def needs(symbol: str):
    """Skips a test when the loaded library lacks ``hearsay_<symbol>``
    (calls added to the ABI after 1.0)."""
    have = hearsay._lib.load().has(symbol)
    return pytest.mark.skipif(not have, reason=f"the loaded library has no hearsay_{symbol}")


needs_queries = needs("pool_query")
needs_serf_settings = needs("config_set_coalesce_period_ms")


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def wait_until(cond: Callable[[], object], timeout: float = 15.0, pause: float = 0.02) -> bool:
    """Polls ``cond`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)


def await_event(
    pool: hearsay.Pool, pred: Callable[[hearsay.Event], bool], timeout: float = 15.0
) -> Optional[hearsay.Event]:
    """Takes events until one matches ``pred`` (returned) or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ev = pool.next_event(left)
        if ev is not None and pred(ev):
            return ev


def member_event(kind: hearsay.EventType, name: str) -> Callable[[hearsay.Event], bool]:
    return lambda e: isinstance(e, hearsay.MemberEvent) and e.type == kind and e.member.name == name


def status_of(pool: hearsay.Pool, name: str) -> Optional[hearsay.Status]:
    m = pool.member(name)
    return m.status if m else None


def alive_names(pool: hearsay.Pool) -> set:
    return {m.name for m in pool.members() if m.status == hearsay.Status.ALIVE}


def make_cluster(
    runtimes: List[hearsay.Runtime], n: int, prefix: str = "node", **extra: object
) -> List[hearsay.Pool]:
    """``n`` pools spread over ``runtimes``, all joined to the first, converged."""
    pools: List[hearsay.Pool] = []
    base = unique(prefix)
    for i in range(n):
        rt = runtimes[i % len(runtimes)]
        p = rt.pool(node_name=f"{base}-{i}", **{**FAST, **extra})
        if pools:
            assert p.join(pools[0].local_addr) == 1
        pools.append(p)
    names = {p.name for p in pools}
    assert wait_until(lambda: all(alive_names(p) == names for p in pools)), [
        alive_names(p) for p in pools
    ]
    return pools


@pytest.fixture
def rt() -> Iterator[hearsay.Runtime]:
    with hearsay.Runtime() as r:
        yield r


@pytest.fixture
def rt2() -> Iterator[hearsay.Runtime]:
    with hearsay.Runtime() as r:
        yield r
