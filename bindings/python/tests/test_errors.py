"""Every bad input raises its own exception class; closed objects raise
ClosedError and never crash."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import hearsay
from hearsay import _lib

from conftest import FAST, needs, needs_queries, needs_serf_settings, unique


def test_exception_hierarchy() -> None:
    expected = {
        -1: hearsay.NullParameterError,
        -2: hearsay.InvalidArgumentError,
        -3: hearsay.AddrInUseError,
        -4: hearsay.NetworkError,
        -5: hearsay.HearsayTimeoutError,
        -6: hearsay.ClosedError,
        -7: hearsay.UnsupportedError,
        -8: hearsay.BufferTooSmallError,
        -100: hearsay.PanicError,
    }
    lib = _lib.load()
    for code, cls in expected.items():
        assert hearsay.error_class(code) is cls
        assert issubclass(cls, hearsay.HearsayError)
        err = cls("boom", code)
        assert err.code == code and err.message == "boom"
        assert err.code_name == lib.result_name(code).decode()
        assert str(err) == f"boom [{err.code_name}]"
    assert hearsay.error_class(-55) is hearsay.HearsayError
    assert issubclass(hearsay.InvalidArgumentError, ValueError)
    assert issubclass(hearsay.HearsayTimeoutError, TimeoutError)


def test_panic_in_the_library_becomes_panic_error() -> None:
    from hearsay._core import _check

    lib = _lib.load()
    fn = lib.cdll.hearsay_test_panic
    fn.restype = _lib.c_int32
    with pytest.raises(hearsay.PanicError) as info:
        _check(lib, fn())
    assert info.value.code == -100 and info.value.message.startswith("panic: ")


def test_panic_in_a_call_returning_a_pointer_gives_null() -> None:
    lib = _lib.load()
    fn = lib.cdll.hearsay_test_panic_ptr
    fn.restype = _lib.c_char_p
    assert fn() is None
    assert lib.last_error().decode().startswith("panic: ")


def test_bad_bind_address() -> None:
    for bad in ("not-an-addr", "127.0.0.1", "127.0.0.1:99999", "localhost:80", ""):
        with pytest.raises(hearsay.InvalidArgumentError) as info:
            hearsay.Config("local", bind=bad)
        assert info.value.code == -2 and info.value.message, bad
    with pytest.raises(hearsay.InvalidArgumentError):
        hearsay.Config("local", advertise="nope")


def test_port_in_use(rt: hearsay.Runtime, rt2: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("a"), **FAST) as a:
        # The same address on the same runtime and on another runtime.
        for r in (rt, rt2):
            with pytest.raises(hearsay.AddrInUseError) as info:
                r.pool(**{**FAST, "bind": a.local_addr, "node_name": unique("b")})
            assert info.value.code == -3 and info.value.message
    # A port held by another socket of this process.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        port = s.getsockname()[1]
        with pytest.raises(hearsay.AddrInUseError):
            rt.pool(**{**FAST, "bind": f"127.0.0.1:{port}", "node_name": unique("c")})
    finally:
        s.close()


def test_invalid_config_values() -> None:
    invalid = [
        dict(probe_interval_ms=100, probe_timeout_ms=100),  # timeout must be below the interval
        dict(gossip_nodes=0),
        dict(gossip_nodes=65),
        dict(suspicion_mult=0),
        dict(indirect_checks=17),
        dict(max_packet_size=100),
        dict(awareness_max_multiplier=0),
        dict(event_queue_depth=0),
        dict(node_name=""),
        dict(node_name="x" * 200),
        dict(label="l" * 256),
        dict(probe_interval_ms=-1),  # checked before it reaches C
        dict(probe_interval_ms=2**32),
        dict(node_name="nul\0inside"),
        dict(node_name="\udcff"),  # not encodable as UTF-8
    ]
    if hearsay._lib.load().has("config_set_coalesce_period_ms"):
        invalid.append(dict(coalesce_period_ms=100))  # needs a quiescent period too
    for settings in invalid:
        with pytest.raises(hearsay.InvalidArgumentError) as info:
            hearsay.Config("local", **settings)
        assert info.value.code == -2 and info.value.message, settings
    # A message from C names the setting.
    with pytest.raises(hearsay.InvalidArgumentError, match="gossip_nodes"):
        hearsay.Config("local", gossip_nodes=0)


def test_config_type_errors() -> None:
    with pytest.raises(TypeError, match="unknown config setting"):
        hearsay.Config("local", no_such_knob=1)
    with pytest.raises(TypeError):
        hearsay.Config("local", probe_interval_ms="fast")
    with pytest.raises(TypeError):
        hearsay.Config("local", nacks=1)
    with pytest.raises(TypeError):
        hearsay.Config("local", probe_interval_ms=True)
    with pytest.raises(ValueError):
        hearsay.Config("galactic")
    with pytest.raises(hearsay.InvalidArgumentError):
        hearsay.Config(7)


@needs_serf_settings
def test_every_known_setting_is_accepted() -> None:
    import datetime

    c = hearsay.Config(
        "wan",
        node_name="n",
        bind="127.0.0.1:0",
        advertise="127.0.0.1:7946",
        label="dc1",
        tags={"a": "b"},
        event_queue_depth=100,
        probe_interval_ms=datetime.timedelta(seconds=2),
        probe_timeout_ms=500,
        gossip_interval_ms=100,
        gossip_nodes=4,
        suspicion_mult=5,
        suspicion_max_timeout_mult=6,
        retransmit_mult=3,
        indirect_checks=2,
        push_pull_interval_ms=0,
        tcp_timeout_ms=1000,
        gossip_to_the_dead_ms=10000,
        dead_node_reclaim_ms=0,
        awareness_max_multiplier=8,
        max_packet_size=1400,
        max_meta_size=512,
        max_stream_size=1 << 20,
        max_push_pull_members=1000,
        local_health=False,
        suspicion_confirmations=False,
        nacks=False,
        tcp_fallback_probe=False,
        reap_interval_ms=1000,
        reconnect_interval_ms=1000,
        reconnect_timeout_ms=60000,
        tombstone_timeout_ms=60000,
        coalesce_period_ms=100,
        quiescent_period_ms=50,
        max_user_event_size=600,
        max_query_response_size=600,
        query_timeout_mult=8,
        resolve_name_conflicts=False,
    )
    c.set(gossip_nodes=3).set_tag("x", "y").remove_tag("a")
    with pytest.raises(hearsay.InvalidArgumentError):
        c.set(gossip_nodes=0)
    c.close()
    with pytest.raises(hearsay.ClosedError):
        c.validate()


@needs("config_set_snapshot_path")
def test_later_settings_are_accepted(tmp_path: Path) -> None:
    with hearsay.Config(
        "lan",
        coordinates=False,
        event_buffer=1024,
        query_buffer=1024,
        max_intents=100,
        max_pending_queries=10,
        max_query_size=1200,
        max_broadcast_queue=1000,
        recent_intent_timeout_ms=60000,
        snapshot_path=str(tmp_path / "snap"),
    ):
        pass
    with pytest.raises(hearsay.InvalidArgumentError):
        hearsay.Config("lan", event_buffer=1)


def test_snapshot_file_restores_a_pool(rt: hearsay.Runtime, tmp_path: Path) -> None:
    if not hearsay._lib.load().has("config_set_snapshot_path"):
        pytest.skip("the loaded library has no hearsay_config_set_snapshot_path")
    path = str(tmp_path / "node.snap")
    with rt.pool(**{**FAST, "node_name": unique("snap"), "snapshot_path": path}) as p:
        p.send_event("before", b"")
    assert Path(path).stat().st_size > 0


def test_join_errors(rt: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("j"), **FAST) as p:
        with pytest.raises(hearsay.InvalidArgumentError):
            p.join("definitely not an address")
        # A port nobody listens on (bound, then closed again).
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with pytest.raises(hearsay.NetworkError) as info:
            p.join(f"127.0.0.1:{port}")
        assert info.value.code == -4
        assert p.join([]) == 0


@needs_queries
def test_closed_pool_raises_closed_error(rt: hearsay.Runtime) -> None:
    p = rt.pool(node_name=unique("c"), **FAST)
    q = rt.pool(node_name=unique("d"), **FAST)
    q.join(p.local_addr)
    query_event = None
    results = q.query("x", timeout=2)
    for ev in q.events(timeout=1):
        if isinstance(ev, hearsay.Query):
            query_event = ev
    assert query_event is not None
    q.close()
    q.close()  # idempotent
    assert q.closed and results.finished
    calls = [
        lambda: q.members(),
        lambda: q.local_addr,
        lambda: q.join(p.local_addr),
        lambda: q.leave(1),
        lambda: q.next_event(0),
        lambda: q.next_event(None),
        lambda: q.send_event("e", b""),
        lambda: q.query("x"),
        lambda: q.set_tag("a", "b"),
        lambda: q.set_tags({}),
        lambda: q.remove_tag("a"),
        lambda: q.force_leave("x"),
        lambda: q.stats(),
        lambda: q.event_fd(),
        lambda: q.events_dropped(),
        lambda: query_event.respond(b"late"),
        lambda: results.next_reply(0),
    ]
    for call in calls:
        with pytest.raises(hearsay.ClosedError) as info:
            call()
        assert info.value.code == -6
    assert list(q.events()) == []
    p.close()


def test_closed_runtime_raises_closed_error() -> None:
    rt = hearsay.Runtime()
    p = rt.pool(node_name=unique("r"), **FAST)
    rt.close()
    rt.close()
    assert p.closed
    with pytest.raises(hearsay.ClosedError):
        rt.pool(node_name=unique("r"), **FAST)
    with pytest.raises(hearsay.ClosedError):
        p.members()


def test_leave_then_send_is_closed(rt: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("l"), **FAST) as p:
        p.leave(2)
        with pytest.raises(hearsay.ClosedError):
            p.send_event("after-leave", b"")


def test_bad_timeouts(rt: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("t"), **FAST) as p:
        with pytest.raises(hearsay.InvalidArgumentError):
            p.next_event(-1)
        with pytest.raises(TypeError):
            p.next_event("soon")  # type: ignore[arg-type]
        assert p.next_event(0.01) is None  # a lone pool has no events


def test_pool_and_settings_together_is_a_type_error(rt: hearsay.Runtime) -> None:
    with hearsay.Config("local") as c:
        with pytest.raises(TypeError):
            hearsay.Pool(rt, c, gossip_nodes=2)
