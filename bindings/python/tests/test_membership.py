"""Pools on loopback join and converge; failures and leaves are reported."""

from __future__ import annotations

import select

import pytest

import hearsay
from hearsay import EventType, Status

from conftest import (
    FAST,
    alive_names,
    await_event,
    make_cluster,
    member_event,
    needs,
    status_of,
    unique,
    wait_until,
)


def test_pools_join_and_converge(rt: hearsay.Runtime, rt2: hearsay.Runtime) -> None:
    pools = make_cluster([rt, rt2], 4, tags={"role": "web"})
    names = {p.name for p in pools}
    for p in pools:
        members = {m.name: m for m in p.members()}
        assert set(members) == names
        for q in pools:
            m = members[q.name]
            assert m.addr == q.local_addr
            assert m.status is Status.ALIVE
            assert m.tags == {"role": "web"}
            assert m.incarnation >= 1
    # The first pool saw a join event for every other pool.
    seen = set()
    for ev in pools[0].events(timeout=0.5):
        if isinstance(ev, hearsay.MemberEvent) and ev.type == EventType.MEMBER_JOIN:
            seen.add(ev.member.name)
    assert names - {pools[0].name} <= seen


def test_members_are_frozen_copies(rt: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("solo"), **FAST) as p:
        (m,) = p.members()
        assert m.name == p.name and m.addr == p.local_addr
        try:
            m.name = "x"  # type: ignore[misc]
        except AttributeError:
            pass
        else:
            raise AssertionError("Member is not frozen")
        assert hash(m) == hash(hearsay.Member(m.name, m.addr, m.status, {}, m.incarnation))


def test_close_without_leave_is_reported_failed(rt: hearsay.Runtime, rt2: hearsay.Runtime) -> None:
    pools = make_cluster([rt, rt2], 3)
    gone = pools.pop()
    gone.close()
    for p in pools:
        ev = await_event(p, member_event(EventType.MEMBER_FAILED, gone.name), 20)
        assert ev is not None, f"{p.name} never reported {gone.name} failed"
        assert ev.member.status is Status.FAILED
    for p in pools:
        assert wait_until(lambda p=p: status_of(p, gone.name) is Status.FAILED, 5)
        assert p.stats().members_failed == 1


def test_leave_is_reported_left(rt: hearsay.Runtime) -> None:
    pools = make_cluster([rt], 3)
    leaver = pools.pop()
    leaver.leave(timeout=5)
    for p in pools:
        assert await_event(p, member_event(EventType.MEMBER_LEAVE, leaver.name), 10) is not None
        assert wait_until(lambda p=p: status_of(p, leaver.name) is Status.LEFT, 5)
    leaver.close()
    for p in pools:
        st = p.stats()
        assert st.members_left == 1 and st.members_failed == 0 and st.members_alive == 2


def test_force_leave_and_prune(rt: hearsay.Runtime) -> None:
    a, b, c = make_cluster([rt], 3)
    c.close()
    assert wait_until(lambda: status_of(a, c.name) is Status.FAILED, 20)
    a.force_leave(c.name)
    for p in (a, b):
        assert wait_until(lambda p=p: status_of(p, c.name) is Status.LEFT, 10)
    a.force_leave(c.name, prune=True)
    assert await_event(a, member_event(EventType.MEMBER_REAP, c.name), 10) is not None
    assert wait_until(lambda: a.member(c.name) is None, 5)
    try:
        a.force_leave("nobody-by-that-name")
    except hearsay.InvalidArgumentError as e:
        assert e.code == -2
    else:
        raise AssertionError("force_leave of an unknown member did not fail")


def test_event_fd_is_readable_while_events_wait(rt: hearsay.Runtime) -> None:
    a, b = make_cluster([rt], 2)
    a.drain()
    fd = a.event_fd()
    assert fd >= 0
    assert select.select([fd], [], [], 0)[0] == []
    b.send_event("ping", b"1")
    r, _, _ = select.select([fd], [], [], 10)
    assert r == [fd]
    assert isinstance(a.next_event(0), hearsay.UserEvent)
    assert select.select([fd], [], [], 0)[0] == []


def test_stats(rt: hearsay.Runtime) -> None:
    a, b = make_cluster([rt], 2)
    st = a.stats()
    assert isinstance(st, hearsay.Stats)
    assert st.members_alive == 2
    assert st.streams_in + st.streams_out > 0  # the join's state exchange
    assert wait_until(lambda: a.stats().packets_in > 0 and a.stats().bytes_out > 0, 10)
    assert st.events_dropped == 0 == a.events_dropped()
    if hearsay._lib.load().has("config_set_snapshot_path"):  # the fields came with it
        assert st.snapshot_errors == 0 and st.broadcasts_dropped == 0


def test_runtime_close_closes_its_pools(rt: hearsay.Runtime) -> None:
    other = hearsay.Runtime()
    p = other.pool(node_name=unique("p"), **FAST)
    q = rt.pool(node_name=unique("q"), **FAST)
    q.join(p.local_addr)
    other.close()
    assert p.closed and other.closed
    assert await_event(q, member_event(EventType.MEMBER_FAILED, p.name), 20) is not None
    assert alive_names(q) == {q.name}


@needs("pool_coordinate")
def test_network_coordinates(rt: hearsay.Runtime) -> None:
    a, b, c = make_cluster([rt], 3)
    assert wait_until(lambda: a.coordinate(b.name) is not None and a.coordinate(c.name) is not None, 15)
    me = a.coordinate()
    assert me is not None and len(me.vec) >= 1 and me.error >= 0
    assert wait_until(lambda: a.estimated_rtt(b.name) is not None, 15)
    rtt = a.estimated_rtt(b.name)
    assert rtt is not None and 0 <= rtt < 1.0  # loopback
    assert a.estimated_rtt(b.name, c.name) is None or a.estimated_rtt(b.name, c.name) >= 0
    assert a.coordinate("nobody") is None
    near = a.members_near()
    assert sorted(m.name for m in near) == sorted(p.name for p in (a, b, c))
    with pytest.raises(hearsay.InvalidArgumentError):
        a.members_near("nobody")
