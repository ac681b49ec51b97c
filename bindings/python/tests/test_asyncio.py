"""asyncio integration through the event descriptor (no threads)."""

from __future__ import annotations

import asyncio
import threading
import time

import hearsay

from conftest import FAST, make_cluster, unique


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def until(cond, timeout: float = 5.0) -> bool:
    """Polls ``cond`` from the loop until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.005)
    return True


def test_aevents_delivers_member_and_user_events(rt: hearsay.Runtime) -> None:
    a = rt.pool(node_name=unique("aa"), **FAST)
    b = rt.pool(node_name=unique("ab"), **FAST)
    threads_before = threading.active_count()

    async def main() -> list:
        got = []
        b.join(a.local_addr)
        b.send_event("hello", b"async")
        async for ev in a.aevents():
            got.append(ev)
            if isinstance(ev, hearsay.UserEvent):
                break
        assert threading.active_count() == threads_before  # no helper threads
        return got

    got = run(main())
    joins = [e for e in got if isinstance(e, hearsay.MemberEvent)]
    assert b.name in {e.member.name for e in joins}
    assert got[-1] == hearsay.UserEvent("hello", b"async", got[-1].ltime)
    a.close(), b.close()


def test_anext_event_timeout_returns_none(rt: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("t"), **FAST) as p:

        async def main() -> None:
            t0 = time.monotonic()
            assert await p.anext_event(timeout=0.2) is None
            assert 0.15 <= time.monotonic() - t0 < 5
            assert await p.anext_event(timeout=0) is None

        run(main())


def test_loop_keeps_running_while_waiting(rt: hearsay.Runtime) -> None:
    a, b = make_cluster([rt], 2)
    a.drain()

    async def main() -> None:
        ticks = 0
        waiter = asyncio.ensure_future(a.anext_event())

        async def tick() -> None:
            nonlocal ticks
            for _ in range(5):
                await asyncio.sleep(0.01)
                ticks += 1

        await tick()
        assert not waiter.done() and ticks == 5
        b.send_event("wake", b"")
        ev = await waiter
        assert isinstance(ev, hearsay.UserEvent) and ev.name == "wake"

    run(main())


def test_closing_the_pool_ends_aevents(rt: hearsay.Runtime) -> None:
    p = rt.pool(node_name=unique("c"), **FAST)

    async def main() -> list:
        got = []

        async def consume() -> None:
            async for ev in p.aevents():
                got.append(ev)

        task = asyncio.ensure_future(consume())
        assert await until(lambda: p._waiters)  # blocked on the descriptor
        assert not task.done()
        p.close()
        await asyncio.wait_for(task, 5)
        return got

    assert run(main()) == []


def test_cancelled_waiter_unregisters_the_descriptor(rt: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("x"), **FAST) as p:

        async def main() -> None:
            loop = asyncio.get_running_loop()
            task = asyncio.ensure_future(p.anext_event())
            assert await until(lambda: p._waiters)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            # Nothing is registered any more: registering again works.
            fd = p.event_fd()
            loop.add_reader(fd, lambda: None)
            assert loop.remove_reader(fd)
            assert not p._waiters

        run(main())


def test_many_pools_in_one_loop(rt: hearsay.Runtime) -> None:
    pools = make_cluster([rt], 3)
    for p in pools:
        p.drain()

    async def first_user_event(p: hearsay.Pool) -> hearsay.UserEvent:
        async for ev in p.aevents():
            if isinstance(ev, hearsay.UserEvent):
                return ev
        raise AssertionError("closed")

    async def main() -> list:
        tasks = [asyncio.ensure_future(first_user_event(p)) for p in pools]
        await asyncio.sleep(0)
        pools[0].send_event("all", b"1")
        return await asyncio.gather(*tasks)

    assert [e.name for e in run(main())] == ["all"] * 3
