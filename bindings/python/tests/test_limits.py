"""The resource-limit settings reach the library: out of range they are
refused naming the setting, in range each one bounds what it says."""

from __future__ import annotations

import socket
import time
from typing import List

import pytest

import hearsay

from conftest import FAST, alive_names, await_event, unique, wait_until

pytestmark = pytest.mark.skipif(
    not hearsay._lib.load().has("config_set_max_per_ltime"), reason="the loaded library has no resource limits"
)


@pytest.mark.parametrize(
    "setting, bad",
    [
        ("max_concurrent_streams", 0),
        ("max_concurrent_streams", 65537),
        ("inbound_packet_queue", 0),
        ("inbound_packet_queue", (1 << 20) + 1),
        ("max_per_ltime", 0),
        ("max_per_ltime", 65537),
        ("max_query_responses", 0),
    ],
)
def test_out_of_range_is_refused_naming_the_setting(rt: hearsay.Runtime, setting: str, bad: int) -> None:
    with pytest.raises(hearsay.InvalidArgumentError, match=setting):
        hearsay.Config("local", **{setting: bad})
    with pytest.raises(hearsay.InvalidArgumentError, match=setting):
        rt.pool(**{**FAST, "node_name": unique("bad"), setting: bad})


def closed_by_peer(s: socket.socket) -> bool:
    """Whether the other end closed (or reset) the connection; never waits."""
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def test_max_concurrent_streams_refuses_connections_beyond_it(rt: hearsay.Runtime) -> None:
    # Idle connections keep their slots for the whole test.
    p = rt.pool(**{**FAST, "node_name": unique("streams"), "max_concurrent_streams": 2, "tcp_timeout_ms": 60000})
    host, port = p.local_addr.rsplit(":", 1)
    conns: List[socket.socket] = []
    try:
        for _ in range(3):
            conns.append(socket.create_connection((host, int(port)), timeout=5))
            conns[-1].setblocking(False)
        assert wait_until(lambda: p.stats().streams_refused >= 1, 10), p.stats()
        assert wait_until(lambda: sum(map(closed_by_peer, conns)) >= 1, 10)
        # Exactly the one beyond the limit was closed; two still hold slots.
        assert sum(map(closed_by_peer, conns)) == 1
        assert p.stats().streams_refused == 1
    finally:
        for c in conns:
            c.close()


def test_inbound_packet_queue_sheds_datagrams_beyond_it(rt: hearsay.Runtime) -> None:
    shallow = rt.pool(**{**FAST, "node_name": unique("shallow"), "inbound_packet_queue": 1})
    deep = rt.pool(**{**FAST, "node_name": unique("deep")})
    junk = b"\xff" * 8  # not a packet: counted as malformed once the pool reads it
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:

        def burst(pool: hearsay.Pool, n: int) -> None:
            host, port = pool.local_addr.rsplit(":", 1)
            for _ in range(n):
                tx.sendto(junk, (host, int(port)))

        # The default queue (1,024) takes a burst of 100 whole.
        burst(deep, 100)
        assert wait_until(lambda: deep.stats().dropped_malformed == 100, 10), deep.stats()
        assert deep.stats().dropped_overload == 0
        # A queue of one overflows as soon as two datagrams wait together.
        deadline = time.monotonic() + 10
        while shallow.stats().dropped_overload == 0:
            assert time.monotonic() < deadline, shallow.stats()
            burst(shallow, 100)
            wait_until(lambda: shallow.stats().dropped_overload > 0, 0.2)
    finally:
        tx.close()


def own_user_event(pool: hearsay.Pool, name: str) -> hearsay.UserEvent:
    ev = await_event(pool, lambda e: isinstance(e, hearsay.UserEvent) and e.name == name, 10)
    assert ev is not None, f"{pool.name} never delivered {name}"
    return ev  # type: ignore[return-value]


def test_max_per_ltime_bounds_events_of_one_lamport_time(rt: hearsay.Runtime) -> None:
    # Two pools that never met send one event each: the same Lamport time.
    a = rt.pool(**{**FAST, "node_name": unique("a")})
    c = rt.pool(**{**FAST, "node_name": unique("c")})
    a.send_event("from-a", b"")
    c.send_event("from-c", b"")
    assert own_user_event(a, "from-a").ltime == own_user_event(c, "from-c").ltime
    b = rt.pool(**{**FAST, "node_name": unique("b"), "max_per_ltime": 1})
    b.join(a.local_addr)
    own_user_event(b, "from-a")
    b.join(c.local_addr)
    # b remembers one event for that time: c's is dropped and counted...
    assert wait_until(lambda: b.stats().dedup_full >= 1, 15), b.stats()
    assert [e.name for e in b.drain() if isinstance(e, hearsay.UserEvent)] == []
    # ...while c, with the default of 64, delivers a's beside its own.
    own_user_event(c, "from-a")


def test_max_query_responses_bounds_replies_per_query(rt: hearsay.Runtime) -> None:
    asker = rt.pool(**{**FAST, "node_name": unique("asker"), "max_query_responses": 1})
    others = [rt.pool(**{**FAST, "node_name": unique("other")}) for _ in range(2)]
    for o in others:
        assert o.join(asker.local_addr) == 1
    everyone = [asker, *others]
    names = {p.name for p in everyone}
    assert wait_until(lambda: all(alive_names(p) == names for p in everyone))
    results = asker.query("who", b"", timeout=3.0)
    for p in everyone:
        q = await_event(p, lambda e: isinstance(e, hearsay.Query), 5)
        assert q is not None, f"{p.name} never got the query"
        q.respond(p.name)
    # Three answered; the asker takes one and counts the other two.
    assert wait_until(lambda: asker.stats().query_replies_dropped == 2, 5), asker.stats()
    assert len(results.responses()) == 1
    assert asker.stats().query_replies_dropped == 2
