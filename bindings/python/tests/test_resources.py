"""No threads or descriptors leak, whether objects are closed or dropped;
closing from another thread never crashes a blocked call."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest

import hearsay

from conftest import FAST, unique, wait_until

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")


def counts() -> tuple:
    return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))


def settle(before: tuple) -> tuple:
    # Joined threads may linger in /proc for a moment after pthread_join.
    wait_until(lambda: counts() == before, 5)
    return counts()


def cycle(close: bool) -> None:
    rt = hearsay.Runtime()
    a = rt.pool(node_name=unique("l"), **FAST)
    b = rt.pool(node_name=unique("l"), **FAST)
    b.join(a.local_addr)
    a.event_fd()
    a.members()
    a.send_event("e", b"x")
    if hearsay.has_queries():
        a.query("q", timeout=0.1)
    a.next_event(0)
    if close:
        rt.close()


def test_closing_many_runtimes_leaks_nothing() -> None:
    cycle(True)  # warm up: lazily created process-wide resources
    gc.collect()
    before = counts()
    for _ in range(40):
        cycle(True)
    assert settle(before) == before


def test_dropping_objects_frees_them() -> None:
    cycle(False)
    gc.collect()
    before = counts()
    for _ in range(20):
        cycle(False)
        gc.collect()
    assert settle(before) == before


def test_close_while_another_thread_waits(rt: hearsay.Runtime) -> None:
    p = rt.pool(node_name=unique("w"), **FAST)
    outcome = []

    def wait_forever() -> None:
        try:
            outcome.append(p.next_event(None))
        except hearsay.ClosedError as e:
            outcome.append(e)

    t = threading.Thread(target=wait_forever)
    t.start()
    assert not wait_until(lambda: outcome, 0.1)  # it really is blocked
    t0 = time.monotonic()
    p.close()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - t0 < 2
    assert isinstance(outcome[0], hearsay.ClosedError)


def test_threads_share_a_pool(rt: hearsay.Runtime) -> None:
    a = rt.pool(node_name=unique("s"), **FAST)
    b = rt.pool(node_name=unique("s"), **FAST)
    b.join(a.local_addr)
    errors = []
    stop = threading.Event()

    def hammer() -> None:
        try:
            while not stop.is_set():
                a.members()
                a.stats()
                a.next_event(0.01)
        except hearsay.ClosedError:
            pass
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(20):
        b.send_event("n", str(i))
    a.close()  # while the threads are inside calls
    stop.set()
    for t in threads:
        t.join(5)
    assert errors == []
