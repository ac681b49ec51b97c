"""User events, queries and tags across pools on loopback."""

from __future__ import annotations

import collections
import time

import pytest

import hearsay
from hearsay import EventType

from conftest import (
    FAST,
    await_event,
    make_cluster,
    member_event,
    needs,
    needs_queries,
    needs_serf_settings,
    unique,
    wait_until,
)


def collect_user_events(pool: hearsay.Pool, expected: int, timeout: float = 15) -> list:
    """User events until ``expected`` arrived, then whatever else comes
    within half a second (to catch duplicates)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        ev = pool.next_event(max(0.0, deadline - time.monotonic()))
        if isinstance(ev, hearsay.UserEvent):
            got.append(ev)
    for ev in pool.events(timeout=0.5):
        if isinstance(ev, hearsay.UserEvent):
            got.append(ev)
    return got


def test_user_events_delivered_exactly_once(rt: hearsay.Runtime, rt2: hearsay.Runtime) -> None:
    pools = make_cluster([rt, rt2], 4)
    for p in pools:
        p.drain()
    sent = []
    for i, p in enumerate(pools):
        for j in range(5):
            payload = f"{p.name}/{j}".encode()
            p.send_event(f"ev-{i}", payload)
            sent.append((f"ev-{i}", payload))
    for p in pools:
        got = collect_user_events(p, len(sent))
        counts = collections.Counter((e.name, e.payload) for e in got)
        assert counts == collections.Counter(sent), f"{p.name}: {counts}"
        assert all(e.ltime >= 1 for e in got)


def test_event_payload_kinds(rt: hearsay.Runtime) -> None:
    a, b = make_cluster([rt], 2)
    a.drain(), b.drain()
    a.send_event("text", "héllo")
    a.send_event("empty")
    a.send_event("binary", bytes(range(256)))
    got = {e.name: e.payload for e in collect_user_events(b, 3)}
    assert got == {"text": "héllo".encode(), "empty": b"", "binary": bytes(range(256))}


@needs("pool_join_ignore_old")
def test_ignore_old_events_on_join(rt: hearsay.Runtime) -> None:
    a, b = make_cluster([rt], 2)
    a.send_event("old", b"before")
    assert collect_user_events(b, 1)[0].name == "old"
    replayed = rt.pool(node_name=unique("replayed"), **FAST)
    replayed.join(a.local_addr)
    assert [e.name for e in collect_user_events(replayed, 1)] == ["old"]
    late = rt.pool(node_name=unique("late"), **FAST)
    late.join(a.local_addr, ignore_old_events=True)
    assert await_event(late, lambda e: isinstance(e, hearsay.MemberEvent), 5) is not None
    b.send_event("new-1", b"after")
    b.send_event("new-2", b"after")
    names = [e.name for e in collect_user_events(late, 2)]
    assert sorted(names) == ["new-1", "new-2"]


@needs("pool_join_ignore_old")
def test_first_event_after_ignore_old_join_is_delivered(rt: hearsay.Runtime) -> None:
    """The seed's next event (whose Lamport time is the clock it sent in the
    join exchange) is not old."""
    a, b = make_cluster([rt], 2)
    a.send_event("old", b"before")
    assert collect_user_events(b, 1)[0].name == "old"
    late = rt.pool(node_name=unique("late"), **FAST)
    late.join(a.local_addr, ignore_old_events=True)
    a.send_event("new", b"after")
    assert [e.name for e in collect_user_events(late, 1)] == ["new"]


def test_oversized_event_is_refused(rt: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("big"), **FAST) as p:
        with pytest.raises(hearsay.InvalidArgumentError) as info:
            p.send_event("big", b"x" * 4096)
        assert info.value.code == -2 and info.value.message
        with pytest.raises(hearsay.InvalidArgumentError):
            p.send_event("", b"")


@needs_serf_settings
def test_bigger_events_with_max_user_event_size(rt: hearsay.Runtime) -> None:
    a, b = make_cluster([rt], 2, max_user_event_size=1200)
    b.drain()
    a.send_event("big", b"y" * 1000)
    assert collect_user_events(b, 1)[0].payload == b"y" * 1000


def answer_queries(pools, payload_of, timeout=5.0, max_count=None):
    """Answers the next query each pool receives; returns who answered."""
    answered = []
    for p in pools:
        q = await_event(p, lambda e: isinstance(e, hearsay.Query), timeout)
        if q is not None:
            q.respond(payload_of(p))
            answered.append(p.name)
    return answered


@needs_queries
def test_query_with_responses_and_acks(rt: hearsay.Runtime, rt2: hearsay.Runtime) -> None:
    pools = make_cluster([rt, rt2], 3)
    for p in pools:
        p.drain()
    results = pools[0].query("who", b"?", request_ack=True, timeout=3.0)
    assert 0 < results.remaining <= 3.0
    answered = answer_queries(pools, lambda p: f"me:{p.name}".encode())
    assert sorted(answered) == sorted(p.name for p in pools)
    replies = list(results)
    acks = {r.from_ for r in replies if isinstance(r, hearsay.QueryAck)}
    responses = {r.from_: r.payload for r in replies if isinstance(r, hearsay.QueryResponse)}
    assert acks == {p.name for p in pools}
    assert responses == {p.name: f"me:{p.name}".encode() for p in pools}
    assert results.finished and results.remaining == 0.0


@needs_queries
def test_query_payload_reaches_responders(rt: hearsay.Runtime) -> None:
    a, b = make_cluster([rt], 2)
    a.drain(), b.drain()
    with a.query("echo", b"\x00\x01payload", timeout=2.0) as results:
        q = await_event(b, lambda e: isinstance(e, hearsay.Query), 5)
        assert q is not None and q.name == "echo" and q.payload == b"\x00\x01payload" and q.ltime >= 1
        if hearsay._lib.load().has("event_query_from"):
            assert q.from_ == a.name
            assert q.remaining is not None and 0 < q.remaining <= 2.0
        q.respond(q.payload[::-1])
        r = results.next_reply(timeout=5)
        assert r == hearsay.QueryResponse(b.name, b"daolyap\x01\x00")


@needs_queries
def test_query_filters_by_node_and_tag(rt: hearsay.Runtime) -> None:
    pools = make_cluster([rt], 3)
    a, b, c = pools
    c.set_tag("role", "db")
    assert wait_until(lambda: a.member(c.name).tags.get("role") == "db", 10)
    for p in pools:
        p.drain()

    def responders(results: hearsay.QueryResults) -> set:
        """Answers every query the pools receive until the query is over."""
        replies = []
        while not results.finished:
            for p in pools:
                ev = p.next_event(0)
                if isinstance(ev, hearsay.Query):
                    ev.respond(b"ok")
            r = results.next_reply(timeout=0.02)
            if isinstance(r, hearsay.QueryResponse):
                replies.append(r.from_)
        assert len(replies) == len(set(replies))
        return set(replies)

    assert responders(a.query("by-node", nodes=[b.name], timeout=1.5)) == {b.name}
    assert responders(a.query("by-tag", tags={"role": "^db$"}, timeout=1.5)) == {c.name}


@needs_queries
def test_query_ends_at_its_deadline(rt: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("q"), **FAST) as p:
        t0 = time.monotonic()
        results = p.query("nobody-answers", timeout=0.3)
        assert results.next_reply(timeout=0) is None
        assert list(results) == []
        assert 0.25 <= time.monotonic() - t0 < 5
        assert results.finished


@needs_queries
def test_query_bad_inputs(rt: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("q"), **FAST) as p:
        with pytest.raises(hearsay.InvalidArgumentError):
            p.query("bad-regex", tags={"role": "("})
        with pytest.raises(hearsay.InvalidArgumentError):
            p.query("")
        with pytest.raises(hearsay.InvalidArgumentError):
            p.query("big", b"z" * 5000)
        with pytest.raises(hearsay.InvalidArgumentError):
            p.query("relay", relay_factor=1000)
        with pytest.raises(hearsay.InvalidArgumentError):
            p.query("no-time", timeout=0)
        results = p.query("self", timeout=2.0)
        q = await_event(p, lambda e: isinstance(e, hearsay.Query), 5)
        assert q is not None
        with pytest.raises(hearsay.InvalidArgumentError):
            q.respond(b"r" * 5000)
        q.respond(b"fine")
        assert results.next_reply(5) == hearsay.QueryResponse(p.name, b"fine")
        results.close()
        with pytest.raises(hearsay.ClosedError):
            results.next_reply(0)


def test_tags_from_config_and_updates(rt: hearsay.Runtime, rt2: hearsay.Runtime) -> None:
    a, b = make_cluster([rt, rt2], 2, tags={"role": "web", "dc": "one"})
    assert b.member(a.name).tags == {"role": "web", "dc": "one"}
    b.drain()

    a.set_tag("version", "2")
    ev = await_event(b, member_event(EventType.MEMBER_UPDATE, a.name), 10)
    assert ev is not None and ev.member.tags == {"role": "web", "dc": "one", "version": "2"}
    inc = ev.member.incarnation

    a.set_tags({"only": "this"})
    assert wait_until(lambda: b.member(a.name).tags == {"only": "this"}, 10)
    assert b.member(a.name).incarnation > inc

    a.remove_tag("only")
    assert wait_until(lambda: b.member(a.name).tags == {}, 10)
    a.remove_tag("never-set")

    with pytest.raises(hearsay.InvalidArgumentError):
        a.set_tag("huge", "v" * 10000)
    with pytest.raises(hearsay.InvalidArgumentError):
        a.set_tag("", "empty key")
    assert a.member(a.name).tags == {}
