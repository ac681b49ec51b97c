"""Runtime, Config, Pool and Query over the hearsay C ABI."""

from __future__ import annotations

import asyncio
import base64
import ctypes
import datetime
import math
import os
import threading
import time
import weakref
from ctypes import byref, c_char_p, c_size_t, c_void_p
from dataclasses import dataclass, field
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Set,
    Tuple,
    Union,
)

from . import _errors as E
from ._errors import ClosedError, InvalidArgumentError, UnsupportedError, make_error
from ._lib import Library, load
from ._lib import Coordinate as _CCoordinate
from ._lib import Stats as _CStats
from ._types import (
    MEMBER_EVENT_TYPES,
    Coordinate,
    EventType,
    KeyHolders,
    KeyringReport,
    Member,
    MemberEvent,
    NameConflict,
    Profile,
    QueryAck,
    QueryReply,
    QueryResponse,
    Stats,
    Status,
    UserEvent,
)

Bytes = Union[bytes, bytearray, memoryview, str]
Timeout = Optional[float]
#: A gossip encryption key: its 16, 24 or 32 raw bytes, or those bytes in
#: standard base64 (as ``openssl rand -base64 32`` writes them).
Key = Union[bytes, bytearray, memoryview, str]

#: Longest single wait inside a blocking C call. Waits longer than this (or
#: forever) are made of slices, so that ``close()`` from another thread is
#: never held up for longer than one slice.
_SLICE_MS = 200
_U32_MAX = 2**32 - 1
_REPLY_ACK = 1  # HEARSAY_QUERY_REPLY_ACK
_REPLY_RESPONSE = 2  # HEARSAY_QUERY_REPLY_RESPONSE


# --------------------------------------------------------------------------
# helpers


def _text(raw: Optional[bytes]) -> str:
    return raw.decode("utf-8", "replace") if raw is not None else ""


def _cstr(value: str, what: str) -> bytes:
    """UTF-8 bytes for a C string argument, refusing what C cannot hold."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(f"{what} is not valid UTF-8: {e}", E.ERR_INVALID_ARGUMENT) from None
    if b"\0" in raw:
        raise InvalidArgumentError(f"{what} contains a NUL character", E.ERR_INVALID_ARGUMENT)
    return raw


def _payload(value: Bytes, what: str = "payload") -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes-like or str, not {type(value).__name__}")


def _u32(value: Any, what: str) -> int:
    if isinstance(value, datetime.timedelta):
        value = round(value.total_seconds() * 1000)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= _U32_MAX:
        raise InvalidArgumentError(
            f"{what} = {value} is outside 0..{_U32_MAX}", E.ERR_INVALID_ARGUMENT
        )
    return value


def _timeout_ms(timeout: Timeout, what: str = "timeout") -> Optional[int]:
    """Seconds (None = forever) to whole milliseconds, rounded up."""
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{what} must be a number of seconds or None")
    if math.isnan(timeout) or timeout < 0:
        raise InvalidArgumentError(f"{what} must be >= 0 seconds, not {timeout}", E.ERR_INVALID_ARGUMENT)
    if math.isinf(timeout):
        return None
    return min(int(math.ceil(timeout * 1000)), _U32_MAX)


def _check(lib: Library, rc: int) -> None:
    if rc != E.OK:
        raise make_error(rc, _text(lib.last_error()))


def _key_base64(key: Key, what: str = "key") -> bytes:
    """A key as the base64 C string the keyring calls take (raw bytes are
    encoded here; the library checks the length)."""
    if isinstance(key, str):
        return _cstr(key, what)
    if isinstance(key, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(key))
    raise TypeError(f"{what} must be bytes (raw) or str (base64), not {type(key).__name__}")


class _Handle:
    """A C pointer guarded against use after free and free during use.

    ``with handle as ptr:`` raises ClosedError once the handle is closed and
    otherwise counts the call as in flight; ``close()`` marks it closed,
    waits for the calls in flight, then frees the pointer exactly once.
    """

    __slots__ = ("ptr", "what", "_free", "_lock", "_idle", "_active", "_closed", "__weakref__")

    def __init__(self, ptr: int, free: Callable[[int], None], what: str) -> None:
        self.ptr: Optional[int] = ptr
        self.what = what
        self._free = free
        self._lock = threading.Lock()
        self._idle: Optional[threading.Event] = None  # made by close() if it must wait
        self._active = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> int:
        with self._lock:
            if self._closed:
                raise ClosedError(f"the {self.what} is closed", E.ERR_CLOSED)
            self._active += 1
            return self.ptr  # type: ignore[return-value]

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0 and self._idle is not None:
                self._idle.set()

    def close(self) -> bool:
        """Frees the pointer once no call is in flight; False if already closed."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            idle = None
            if self._active:
                idle = self._idle = threading.Event()
        if idle is not None:
            idle.wait()
        ptr, self.ptr = self.ptr, None
        if ptr:
            self._free(ptr)
        return True


# --------------------------------------------------------------------------
# Runtime


class Runtime:
    """One background thread ("hearsay-rt") that runs every pool created on it.

    Use it as a context manager or call :meth:`close`, which stops (closes)
    its pools without leaving and joins the thread.
    """

    def __init__(self) -> None:
        lib = load()
        out = c_void_p()
        _check(lib, lib.runtime_new(byref(out)))
        self._lib = lib
        self._h = _Handle(out.value, lib.runtime_free, "runtime")  # type: ignore[arg-type]
        self._pools: "weakref.WeakSet[Pool]" = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, self._h.close)

    def pool(self, config: Optional["Config"] = None, **settings: Any) -> "Pool":
        """A new pool on this runtime (see :class:`Pool`)."""
        return Pool(self, config, **settings)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._h.closed

    def close(self) -> None:
        """Closes every pool of this runtime (no leave), then stops its thread.

        Idempotent. Afterwards every call on the runtime or its pools raises
        :class:`ClosedError`.
        """
        for p in list(self._pools):
            p.close()
        self._h.close()
        self._finalizer.detach()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<hearsay.Runtime {'closed' if self.closed else 'running'}>"


# --------------------------------------------------------------------------
# Config

_INT_KNOBS: Tuple[str, ...] = (
    "event_queue_depth",
    "probe_interval_ms",
    "probe_timeout_ms",
    "gossip_interval_ms",
    "gossip_nodes",
    "suspicion_mult",
    "suspicion_max_timeout_mult",
    "retransmit_mult",
    "indirect_checks",
    "push_pull_interval_ms",
    "tcp_timeout_ms",
    "gossip_to_the_dead_ms",
    "dead_node_reclaim_ms",
    "awareness_max_multiplier",
    "max_packet_size",
    "max_meta_size",
    "max_stream_size",
    "max_push_pull_members",
)
_INT_KNOBS += (
    # the Serf layer
    "reap_interval_ms",
    "reconnect_interval_ms",
    "reconnect_timeout_ms",
    "tombstone_timeout_ms",
    "coalesce_period_ms",
    "quiescent_period_ms",
    "max_user_event_size",
    "max_query_response_size",
    "query_timeout_mult",
    "recent_intent_timeout_ms",
    "event_buffer",
    "query_buffer",
    "max_intents",
    "max_pending_queries",
    "max_query_size",
    "max_broadcast_queue",
)
_INT_KNOBS += (
    # resource limits
    "max_concurrent_streams",
    "inbound_packet_queue",
    "max_per_ltime",
    "max_query_responses",
)
_BOOL_KNOBS = (
    "local_health",
    "suspicion_confirmations",
    "nacks",
    "tcp_fallback_probe",
    "resolve_name_conflicts",
    "coordinates",
    "verify_incoming",
    "verify_outgoing",
)
_STR_KNOBS = ("node_name", "bind_addr", "advertise_addr", "label", "snapshot_path", "keyring_file")
#: String settings that are file paths: an ``os.PathLike`` is accepted too.
_PATH_KNOBS = frozenset({"snapshot_path", "keyring_file"})
#: Settings that add to a list (one ``hearsay_config_add_<name>`` call per
#: item) rather than set one value.
_LIST_SETTINGS = ("keys", "allowed_cidrs")
_ALIASES = {"bind": "bind_addr", "advertise": "advertise_addr", "name": "node_name"}

#: The kind of every setting this binding knows (a setting the loaded library
#: lacks raises TypeError; one it has that is not listed here is accepted too,
#: its kind taken from the Python value).
KNOWN_SETTINGS: Dict[str, type] = {
    **{k: int for k in _INT_KNOBS},
    **{k: bool for k in _BOOL_KNOBS},
    **{k: str for k in _STR_KNOBS},
    **{k: list for k in _LIST_SETTINGS},
}


class Config:
    """The settings of a pool, kept in a C ``hearsay_config``.

    ``profile`` is ``'lan'``, ``'wan'``, ``'local'`` or a :class:`Profile`.
    Every other keyword is one ``hearsay_config_set_<name>`` call, with the
    C name and unit (milliseconds for ``*_ms``; a ``datetime.timedelta`` is
    also accepted there), e.g. ``probe_interval_ms=200``, ``gossip_nodes=3``,
    ``nacks=False``. ``bind``/``advertise`` are short for
    ``bind_addr``/``advertise_addr``. A setting the loaded library does not
    know raises TypeError.

    Gossip encryption (docs/SECURITY.md): ``keys`` is a list of keys, each
    16, 24 or 32 raw bytes or those bytes in base64 (a single key works
    too); the first is the primary. ``keyring_file`` (a path) keeps the
    keys across restarts and key rotations; ``verify_incoming`` and
    ``verify_outgoing`` (default True) are the switches of a migration from
    plaintext; ``allowed_cidrs`` lists the networks packets may come from.

    Setters check what one value tells (type, UTF-8, address syntax); the
    constructor and :meth:`set` then validate the whole config, so an
    out-of-range value raises :class:`InvalidArgumentError` right away.
    A pool copies the config, so one config can make many pools.
    """

    def __init__(
        self,
        profile: Union[Profile, str, int] = Profile.LAN,
        *,
        node_name: Optional[str] = None,
        bind: Optional[str] = None,
        advertise: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        label: Optional[str] = None,
        **settings: Any,
    ) -> None:
        lib = load()
        self._lib = lib
        self.profile = Profile.parse(profile)
        out = c_void_p()
        _check(lib, lib.config_new(int(self.profile), byref(out)))
        self._h = _Handle(out.value, lib.config_free, "config")  # type: ignore[arg-type]
        self._finalizer = weakref.finalize(self, self._h.close)
        named = {"node_name": node_name, "bind_addr": bind, "advertise_addr": advertise, "label": label}
        try:
            self._apply({k: v for k, v in named.items() if v is not None})
            self._apply(settings)
            for k, v in (tags or {}).items():
                self.set_tag(k, v)
            self.validate()
        except BaseException:
            self.close()
            raise

    def _apply(self, settings: Mapping[str, Any]) -> None:
        lib = self._lib
        for key, value in settings.items():
            knob = _ALIASES.get(key, key)
            if knob == "keys":
                for k in [value] if isinstance(value, (str, bytes, bytearray, memoryview)) else value:
                    self.add_key(k)
                continue
            if knob == "allowed_cidrs":
                for cidr in [value] if isinstance(value, str) else value:
                    self.add_allowed_cidr(cidr)
                continue
            if knob in _PATH_KNOBS and isinstance(value, os.PathLike):
                value = os.fspath(value)
            kind = KNOWN_SETTINGS.get(knob)
            if kind is None:
                kind = bool if isinstance(value, bool) else str if isinstance(value, str) else int
            if kind is bool:
                if not isinstance(value, bool):
                    raise TypeError(f"{key} must be a bool, not {type(value).__name__}")
                arg: Any = value
                argtype: Any = ctypes.c_bool
            elif kind is str:
                arg = _cstr(value, key)
                argtype = c_char_p
            else:
                arg = _u32(value, key)
                argtype = ctypes.c_uint32
            setter = lib.config_setter(knob, argtype)
            if setter is None:
                known = ", ".join(sorted(KNOWN_SETTINGS))
                raise TypeError(
                    f"unknown config setting {key!r}: the library has no "
                    f"hearsay_config_set_{knob} (settings: profile, tags, bind, advertise, {known})"
                )
            with self._h as c:
                _check(lib, setter(c, arg))

    def set(self, **settings: Any) -> "Config":
        """Changes settings (same keywords as the constructor), then validates."""
        self._apply(settings)
        self.validate()
        return self

    def set_tag(self, key: str, value: str) -> "Config":
        """Sets one tag (node meta)."""
        k, v = _cstr(key, "tag key"), _cstr(value, "tag value")
        with self._h as c:
            _check(self._lib, self._lib.config_set_tag(c, k, v))
        return self

    def add_key(self, key: Key) -> "Config":
        """Adds a gossip encryption key: 16, 24 or 32 raw bytes (AES-128,
        -192, -256), or those bytes in standard base64 as a str. The first
        key added is the primary; with any key the pool encrypts what it
        sends and refuses plaintext. Raises :class:`InvalidArgumentError`
        for another length or text that is not base64."""
        lib = self._lib
        if isinstance(key, str):
            fn = lib.config_add_key_base64
            args: Tuple[Any, ...] = (_cstr(key, "key"),)
        elif isinstance(key, (bytes, bytearray, memoryview)):
            fn = lib.config_add_key
            raw = bytes(key)
            args = (raw, len(raw))
        else:
            raise TypeError(f"key must be bytes (raw) or str (base64), not {type(key).__name__}")
        if fn is None:
            raise UnsupportedError("the loaded library has no hearsay_config_add_key", E.ERR_UNSUPPORTED)
        with self._h as c:
            _check(lib, fn(c, *args))
        return self

    def add_allowed_cidr(self, cidr: str) -> "Config":
        """Accepts packets, streams and member addresses only from this
        network ("10.0.0.0/8", "fd00::/8", or one address); call once per
        network. With none, every source is accepted."""
        fn = self._lib.config_add_allowed_cidr
        if fn is None:
            raise UnsupportedError("the loaded library has no hearsay_config_add_allowed_cidr", E.ERR_UNSUPPORTED)
        raw = _cstr(cidr, "network")
        with self._h as c:
            _check(self._lib, fn(c, raw))
        return self

    def remove_tag(self, key: str) -> "Config":
        """Removes one tag; a missing key is not an error."""
        k = _cstr(key, "tag key")
        with self._h as c:
            _check(self._lib, self._lib.config_remove_tag(c, k))
        return self

    def validate(self) -> None:
        """Raises :class:`InvalidArgumentError` naming the first bad setting."""
        with self._h as c:
            _check(self._lib, self._lib.config_validate(c))

    @property
    def closed(self) -> bool:
        return self._h.closed

    def close(self) -> None:
        """Frees the C config (pools made from it are not affected)."""
        self._h.close()
        self._finalizer.detach()

    def __enter__(self) -> "Config":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<hearsay.Config {self.profile.name}{' closed' if self.closed else ''}>"


# --------------------------------------------------------------------------
# decoding (copies; the C objects are freed by the caller right after)


def _decode_member(lib: Library, m: int) -> Member:
    n = lib.member_tags_count(m)
    tags = {_text(lib.member_tag_key(m, i)): _text(lib.member_tag_value(m, i)) for i in range(n)}
    return Member(
        name=_text(lib.member_name(m)),
        addr=_text(lib.member_addr(m)),
        status=Status(lib.member_status(m)),
        tags=tags,
        incarnation=lib.member_incarnation(m),
    )


def _event_payload(lib: Library, e: int) -> bytes:
    n = c_size_t(0)
    ptr = lib.event_payload(e, byref(n))
    return ctypes.string_at(ptr, n.value) if ptr and n.value else b""


@dataclass(eq=False)
class Query:
    """A query from another member (or this one), to answer with :meth:`respond`.

    Unlike other events it keeps its C event until it is answered, closed or
    garbage-collected, because answering needs it.
    """

    name: str
    payload: bytes
    ltime: int
    #: The node that sent the query ("" if the library does not say).
    from_: str = ""
    _pool: Optional["Pool"] = field(default=None, repr=False, compare=False)
    _event: Optional[_Handle] = field(default=None, repr=False, compare=False)

    def respond(self, payload: Bytes = b"") -> None:
        """Sends ``payload`` (at most ``max_query_response_size`` bytes,
        1,024 by default) back to the querying node.

        Raises :class:`InvalidArgumentError` if it is too large,
        :class:`HearsayTimeoutError` if the query's deadline passed,
        :class:`ClosedError` if the pool or this query was closed.
        """
        data = _payload(payload)
        pool, ev = self._pool, self._event
        if pool is None or ev is None:
            raise ClosedError("this query cannot be answered (not received from a pool)", E.ERR_CLOSED)
        lib = pool._lib
        if lib.pool_respond is None:
            raise UnsupportedError("the loaded library has no hearsay_pool_respond", E.ERR_UNSUPPORTED)
        with pool._h as p, ev as e:
            _check(lib, lib.pool_respond(p, e, data, len(data)))

    @property
    def remaining(self) -> Optional[float]:
        """Seconds left before the query's deadline, after which answers are
        refused (0.0 once passed or closed; None if the library cannot say)."""
        ev = self._event
        fn = self._pool._lib.event_query_deadline_ms if self._pool is not None else None
        if ev is None or fn is None:
            return None
        try:
            with ev as e:
                return int(fn(e)) / 1000.0
        except ClosedError:
            return 0.0

    def close(self) -> None:
        """Frees the C event now (otherwise it is freed with this object)."""
        if self._event is not None:
            self._event.close()


Event = Union[MemberEvent, UserEvent, Query, NameConflict]


_EVENT_TYPES = {int(t): t for t in EventType}


def _decode_event(lib: Library, pool: "Pool", e: int) -> Tuple[Optional[Event], bool]:
    """The Python event, and whether the C event must be kept (queries)."""
    n = lib.event_get_type(e)
    t = _EVENT_TYPES.get(n)
    if t is EventType.USER:  # the common case first
        ltime = lib.event_ltime(e) if lib.event_ltime is not None else 0
        return UserEvent(_text(lib.event_name(e)), _event_payload(lib, e), ltime), False
    if t in MEMBER_EVENT_TYPES:
        return MemberEvent(t, _decode_member(lib, lib.event_member(e))), False
    if t is EventType.QUERY:
        ltime = lib.event_ltime(e) if lib.event_ltime is not None else 0
        h = _Handle(e, lib.event_free, "query")
        sender = _text(lib.event_query_from(e)) if lib.event_query_from is not None else ""
        q = Query(_text(lib.event_name(e)), _event_payload(lib, e), ltime, sender, pool, h)
        weakref.finalize(q, h.close)
        return q, True
    if t is EventType.NAME_CONFLICT:
        return NameConflict(_text(lib.event_name(e))), False
    return None, False  # a type newer than this binding: skipped (docs/ABI.md)


# --------------------------------------------------------------------------
# Pool


class Pool:
    """One gossip membership on a :class:`Runtime`.

    ``Pool(runtime, config)`` or ``Pool(runtime, **settings)`` (the keywords
    of :class:`Config`) binds UDP and TCP and starts it; it knows only itself
    until :meth:`join`. Use it as a context manager or call :meth:`close`,
    which stops it at once *without* leaving (the others then report it
    failed); call :meth:`leave` first to leave gracefully.

    Every method is thread-safe. After :meth:`close` (or the runtime's), every
    method raises :class:`ClosedError`.
    """

    def __init__(self, runtime: Runtime, config: Optional[Config] = None, **settings: Any) -> None:
        if config is not None and settings:
            raise TypeError("pass either a Config or settings keywords, not both")
        own = config is None
        cfg = Config(**settings) if config is None else config
        lib = runtime._lib
        self._lib = lib
        self._runtime = runtime
        out = c_void_p()
        try:
            with runtime._h as rt, cfg._h as c:
                _check(lib, lib.pool_new(rt, c, byref(out)))
        finally:
            if own:
                cfg.close()
        self._h = _Handle(out.value, lib.pool_free, "pool")  # type: ignore[arg-type]
        self._queries: "weakref.WeakSet[QueryResults]" = weakref.WeakSet()
        self._waiters: Set[Tuple[asyncio.AbstractEventLoop, int, "asyncio.Future[None]"]] = set()
        self._waiters_lock = threading.Lock()
        self._name = _text(lib.pool_node_name(out.value))
        self._finalizer = weakref.finalize(self, self._h.close)
        runtime._pools.add(self)

    # -- identity ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The local node's name."""
        return self._name

    @property
    def local_addr(self) -> str:
        """The bound address, "ip:port" (the port chosen when the config said 0)."""
        buf = ctypes.create_string_buffer(64)
        with self._h as p:
            _check(self._lib, self._lib.pool_local_addr(p, buf, len(buf)))
        return _text(buf.value)

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    @property
    def closed(self) -> bool:
        return self._h.closed

    # -- membership -------------------------------------------------------

    def join(self, addrs: Union[str, Iterable[str]], ignore_old_events: bool = False) -> int:
        """Joins through seed addresses ("ip:port" or "host:port"); returns
        how many answered (at least 1).

        With ``ignore_old_events``, user events sent before the join are not
        replayed to this node. Blocks up to the TCP timeout. Raises
        :class:`NetworkError` when no seed answered and
        :class:`InvalidArgumentError` for an address that does not parse.
        """
        if isinstance(addrs, str):
            addrs = [addrs]
        raw = [_cstr(a, "address") for a in addrs]
        lib = self._lib
        arr = (c_char_p * max(len(raw), 1))(*raw)
        n = c_size_t(0)
        if ignore_old_events:
            if lib.pool_join_ignore_old is None:
                raise UnsupportedError(
                    "the loaded library has no hearsay_pool_join_ignore_old", E.ERR_UNSUPPORTED
                )
            with self._h as p:
                _check(lib, lib.pool_join_ignore_old(p, arr, len(raw), True, byref(n)))
        else:
            with self._h as p:
                _check(lib, lib.pool_join(p, arr, len(raw), byref(n)))
        return n.value

    def members(self) -> List[Member]:
        """A snapshot of every member the pool knows, this node included."""
        return self._snapshot(self._lib.pool_members)

    def _snapshot(self, fn: Callable[..., int], *args: Any) -> List[Member]:
        lib = self._lib
        out = c_void_p()
        with self._h as p:
            _check(lib, fn(p, *args, byref(out)))
        snap = out.value
        try:
            get = lib.members_get
            return [_decode_member(lib, get(snap, i)) for i in range(lib.members_count(snap))]
        finally:
            lib.members_free(snap)

    def _need(self, name: str) -> Any:
        fn = getattr(self._lib, name)
        if fn is None:
            raise UnsupportedError(f"the loaded library has no hearsay_{name}", E.ERR_UNSUPPORTED)
        return fn

    def members_near(self, from_: Optional[str] = None) -> List[Member]:
        """A snapshot sorted by estimated round-trip time from member
        ``from_`` (None: this node), nearest first; members without a
        network coordinate come last."""
        fn = self._need("pool_members_near")
        return self._snapshot(fn, None if from_ is None else _cstr(from_, "member name"))

    def coordinate(self, name: Optional[str] = None) -> Optional[Coordinate]:
        """The network coordinate of member ``name`` (None: this node), or
        None while none is known (no probe of it answered yet, or
        coordinates are off)."""
        fn = self._need("pool_coordinate")
        c = _CCoordinate()
        arg = None if name is None else _cstr(name, "member name")
        with self._h as p:
            rc = fn(p, arg, byref(c))
        if rc == E.EMPTY:
            return None
        _check(self._lib, rc)
        dims = min(int(c.dimensions), len(c.vec))
        return Coordinate(tuple(c.vec[:dims]), c.error, c.adjustment, c.height)

    def estimated_rtt(self, a: str, b: Optional[str] = None) -> Optional[float]:
        """The round-trip time between members ``a`` and ``b`` (None: this
        node) estimated from their coordinates, in seconds; None while
        either coordinate is unknown."""
        fn = self._need("pool_estimated_rtt")
        us = ctypes.c_uint64(0)
        args = (_cstr(a, "member name"), None if b is None else _cstr(b, "member name"))
        with self._h as p:
            rc = fn(p, args[0], args[1], byref(us))
        if rc == E.EMPTY:
            return None
        _check(self._lib, rc)
        return us.value / 1e6

    def member(self, name: str) -> Optional[Member]:
        """The member called ``name`` in a fresh snapshot, or None."""
        for m in self.members():
            if m.name == name:
                return m
        return None

    def leave(self, timeout: float = 5.0) -> None:
        """Leaves gracefully: announces it and waits until it has been
        gossiped or ``timeout`` seconds passed (then raises
        :class:`HearsayTimeoutError`; the announcement still spreads). The
        others report it left. Close the pool afterwards."""
        ms = _timeout_ms(timeout)
        with self._h as p:
            _check(self._lib, self._lib.pool_leave(p, _U32_MAX if ms is None else ms))

    def force_leave(self, name: str, prune: bool = False) -> None:
        """Forces the failed member ``name`` out: every member then reports it
        left; with ``prune`` it is also forgotten at once (reaped)."""
        lib = self._lib
        if lib.pool_force_leave is None:
            raise UnsupportedError("the loaded library has no hearsay_pool_force_leave", E.ERR_UNSUPPORTED)
        n = _cstr(name, "name")
        with self._h as p:
            _check(lib, lib.pool_force_leave(p, n, bool(prune)))

    # -- tags -------------------------------------------------------------

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Replaces all of this node's tags; every member sees an update."""
        items = [(_cstr(k, "tag key"), _cstr(v, "tag value")) for k, v in tags.items()]
        n = len(items)
        keys = (c_char_p * max(n, 1))(*[k for k, _ in items])
        values = (c_char_p * max(n, 1))(*[v for _, v in items])
        with self._h as p:
            _check(self._lib, self._lib.pool_set_tags(p, keys, values, n))

    def set_tag(self, key: str, value: str) -> None:
        """Sets one of this node's tags; every member sees an update."""
        k, v = _cstr(key, "tag key"), _cstr(value, "tag value")
        with self._h as p:
            _check(self._lib, self._lib.pool_set_tag(p, k, v))

    def remove_tag(self, key: str) -> None:
        """Removes one of this node's tags (a missing key is not an error)."""
        k = _cstr(key, "tag key")
        with self._h as p:
            _check(self._lib, self._lib.pool_remove_tag(p, k))

    # -- events -----------------------------------------------------------

    def next_event(self, timeout: Timeout = None) -> Optional[Event]:
        """The oldest waiting event, waiting up to ``timeout`` seconds
        (``None``: until one arrives; ``0``: don't wait). Returns None when
        none arrived in time; raises :class:`ClosedError` once the pool is
        closed or stopped and every event was taken.

        Events of types newer than this binding are skipped.
        """
        lib = self._lib
        if timeout == 0:  # the fast path of event loops and drains
            ms: Optional[int] = 0
            deadline: Optional[float] = 0.0
        else:
            ms = _timeout_ms(timeout)
            deadline = None if ms is None else time.monotonic() + ms / 1000.0
        out = c_void_p()
        h = self._h
        while True:
            if deadline is None:
                wait = _SLICE_MS
            elif ms == 0:
                wait = 0
            else:
                wait = max(0, min(_SLICE_MS, int(math.ceil((deadline - time.monotonic()) * 1000))))
            with h as p:
                rc = lib.pool_next_event(p, wait, byref(out))
            if rc == E.OK:
                e = out.value
                keep = False
                try:
                    ev, keep = _decode_event(lib, self, e)  # type: ignore[arg-type]
                finally:
                    if not keep:
                        lib.event_free(e)
                if ev is not None:
                    return ev
                continue
            if rc != E.EMPTY:
                _check(lib, rc)
            if ms == 0 or (deadline is not None and time.monotonic() >= deadline):
                return None

    def events(self, timeout: Timeout = None) -> Iterator[Event]:
        """Iterates over events until the pool is closed or stopped; with a
        ``timeout`` (seconds), also stops once no event came for that long."""
        while True:
            try:
                ev = self.next_event(timeout)
            except ClosedError:
                return
            if ev is None:
                return
            yield ev

    def drain(self) -> List[Event]:
        """Every event waiting now, without waiting."""
        out: List[Event] = []
        while True:
            ev = self.next_event(0)
            if ev is None:
                return out
            out.append(ev)

    def event_fd(self) -> int:
        """A descriptor readable exactly while events wait (for poll/select/
        an event loop). Owned by the pool: never read, write or close it."""
        with self._h as p:
            return int(self._lib.pool_event_fd(p))

    def events_dropped(self) -> int:
        """Events dropped because the queue was full (``event_queue_depth``)."""
        with self._h as p:
            return int(self._lib.pool_events_dropped(p))

    def send_event(self, name: str, payload: Bytes = b"", coalesce: bool = False) -> None:
        """Broadcasts a user event to every member, this one included; each
        delivers it once. The encoded event must fit ``max_user_event_size``
        (512 bytes by default), else :class:`InvalidArgumentError`."""
        n = _cstr(name, "event name")
        data = _payload(payload)
        with self._h as p:
            _check(self._lib, self._lib.pool_send_event(p, n, data, len(data), bool(coalesce)))

    # -- asyncio ----------------------------------------------------------

    async def anext_event(self, timeout: Timeout = None) -> Optional[Event]:
        """Like :meth:`next_event` without blocking the event loop: waits
        for the event descriptor with ``loop.add_reader`` (no threads)."""
        loop = asyncio.get_running_loop()
        ms = _timeout_ms(timeout)
        deadline = None if ms is None else loop.time() + ms / 1000.0
        while True:
            ev = self.next_event(0)
            if ev is not None:
                return ev
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            fd = self.event_fd()
            fut: "asyncio.Future[None]" = loop.create_future()
            waiter = (loop, fd, fut)
            with self._waiters_lock:
                if self._h.closed:
                    raise ClosedError("the pool is closed", E.ERR_CLOSED)
                self._waiters.add(waiter)
                loop.add_reader(fd, _wake, fut)
            try:
                if remaining is None:
                    await fut
                else:
                    try:
                        await asyncio.wait_for(fut, remaining)
                    except asyncio.TimeoutError:
                        pass
            finally:
                with self._waiters_lock:
                    if waiter in self._waiters:
                        self._waiters.discard(waiter)
                        loop.remove_reader(fd)

    async def aevents(self) -> AsyncIterator[Event]:
        """``async for event in pool.aevents()``: every event until the pool
        is closed or stopped."""
        while True:
            try:
                ev = await self.anext_event()
            except ClosedError:
                return
            if ev is not None:
                yield ev

    def _release_waiters(self) -> None:
        """Unregisters the event descriptor from every loop waiting on it
        (before the descriptor is closed) and wakes the waiters."""
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, set()
        for loop, fd, fut in waiters:
            if loop.is_closed():
                continue
            if _running_loop() is loop:
                loop.remove_reader(fd)
                _wake(fut)
            else:
                done = threading.Event()

                def unregister(loop: Any = loop, fd: int = fd, fut: Any = fut, done: Any = done) -> None:
                    loop.remove_reader(fd)
                    _wake(fut)
                    done.set()

                loop.call_soon_threadsafe(unregister)
                if loop.is_running():
                    done.wait(1.0)

    # -- queries ----------------------------------------------------------

    def query(
        self,
        name: str,
        payload: Bytes = b"",
        nodes: Optional[Iterable[str]] = None,
        tags: Optional[Mapping[str, str]] = None,
        request_ack: bool = False,
        relay_factor: int = 0,
        timeout: Timeout = None,
    ) -> "QueryResults":
        """Sends a query to every member (or only ``nodes``, or those whose
        tags match every ``tags`` regular expression) and returns its
        replies as an iterable of :class:`QueryAck` (with ``request_ack``)
        and :class:`QueryResponse`, ending at the query's deadline
        (``timeout`` seconds, above 0; by default gossip interval ×
        ``query_timeout_mult`` × ceil(log10(members + 1))).
        ``relay_factor`` asks that many extra members to relay each response.
        """
        lib = self._lib
        if lib.pool_query is None or lib.query_next is None:
            raise UnsupportedError("the loaded library has no hearsay_pool_query", E.ERR_UNSUPPORTED)
        n = _cstr(name, "query name")
        data = _payload(payload)
        node_list = [_cstr(x, "node name") for x in ([nodes] if isinstance(nodes, str) else nodes or [])]
        tag_list = [(_cstr(k, "tag"), _cstr(v, "tag pattern")) for k, v in (tags or {}).items()]
        relay = _u32(relay_factor, "relay_factor")
        if relay > 255:
            raise InvalidArgumentError(f"relay_factor = {relay} is outside 0..255", E.ERR_INVALID_ARGUMENT)
        ms = _timeout_ms(timeout, "query timeout")
        if ms == 0:
            raise InvalidArgumentError("a query timeout must be above 0 seconds", E.ERR_INVALID_ARGUMENT)
        params = None
        if node_list or tag_list or request_ack or relay or ms is not None:
            out = c_void_p()
            _check(lib, lib.query_params_new(byref(out)))
            params = out.value
        try:
            if params is not None:
                for x in node_list:
                    _check(lib, lib.query_params_add_node(params, x))
                for k, v in tag_list:
                    _check(lib, lib.query_params_add_tag_filter(params, k, v))
                if request_ack:
                    _check(lib, lib.query_params_set_request_ack(params, True))
                if relay:
                    _check(lib, lib.query_params_set_relay_factor(params, relay))
                if ms is not None:
                    _check(lib, lib.query_params_set_timeout_ms(params, ms))
            q = c_void_p()
            with self._h as p:
                _check(lib, lib.pool_query(p, n, data, len(data), params, byref(q)))
        finally:
            if params is not None:
                lib.query_params_free(params)
        results = QueryResults(self, q.value)  # type: ignore[arg-type]
        self._queries.add(results)
        return results

    # -- encryption -------------------------------------------------------

    def keyring_install(self, key: Key) -> KeyringReport:
        """Installs ``key`` (base64 str, or raw bytes) on every member and
        waits until all alive members answered or the query timed out. The
        report holds each member's failure: go on to :meth:`keyring_use`
        only when it :attr:`~KeyringReport.succeeded`. Raises
        :class:`InvalidArgumentError` for a key that is not base64 of 16,
        24 or 32 bytes."""
        return self._keyring("pool_keyring_install", key)

    def keyring_use(self, key: Key) -> KeyringReport:
        """Makes an installed key the primary (the one that encrypts) on
        every member; members lacking it report an error."""
        return self._keyring("pool_keyring_use", key)

    def keyring_remove(self, key: Key) -> KeyringReport:
        """Removes a key from every member. This node's primary key raises
        :class:`InvalidArgumentError` at once; members whose primary it is
        refuse it in the report."""
        return self._keyring("pool_keyring_remove", key)

    def keyring_list(self) -> KeyringReport:
        """Every member's keys: :attr:`KeyringReport.keys` maps each key
        (base64) to how many members hold it and use it as primary."""
        return self._keyring("pool_keyring_list", None)

    def _keyring(self, name: str, key: Optional[Key]) -> KeyringReport:
        lib = self._lib
        fn = self._need(name)
        args = () if key is None else (_key_base64(key),)
        out = c_void_p()
        # Blocks up to the query timeout; close() from another thread waits.
        with self._h as p:
            _check(lib, fn(p, *args, byref(out)))
        return _take_report(lib, out.value)  # type: ignore[arg-type]

    def set_encryption_policy(self, verify_incoming: bool, verify_outgoing: bool) -> None:
        """Changes, on this node only, whether plaintext is refused and
        whether what is sent is encrypted: the steps of a rolling migration
        to (or from) encryption without restarting (docs/SECURITY.md)."""
        for what, v in (("verify_incoming", verify_incoming), ("verify_outgoing", verify_outgoing)):
            if not isinstance(v, bool):
                raise TypeError(f"{what} must be a bool, not {type(v).__name__}")
        fn = self._need("pool_set_encryption_policy")
        with self._h as p:
            _check(self._lib, fn(p, verify_incoming, verify_outgoing))

    # -- counters ---------------------------------------------------------

    def stats(self) -> Stats:
        """The pool's counters (fields the loaded library does not report
        are None)."""
        # Versioned by size: offer the layout declared here; a newer library
        # writes no further, an older one says in `size` how far it wrote.
        st = _CStats()
        st.size = ctypes.sizeof(_CStats)
        with self._h as p:
            _check(self._lib, self._lib.pool_stats(p, byref(st)))
        written = int(st.size)
        values = {}
        for f in _CStats._fields_:
            name = f[0]
            if name != "size" and getattr(_CStats, name).offset + ctypes.sizeof(f[1]) <= written:
                values[name] = getattr(st, name)
        return Stats(**values)

    # -- lifetime ---------------------------------------------------------

    def close(self) -> None:
        """Stops the pool at once without leaving, closes its sockets and
        event descriptor. Idempotent; waits for calls in flight on other
        threads (at most one short wait slice)."""
        if self._h.closed:
            return
        for q in list(self._queries):
            q.close()
        self._release_waiters()
        self._h.close()
        self._finalizer.detach()

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.local_addr
        return f"<hearsay.Pool {self._name!r} {state}>"


def _take_report(lib: Library, r: int) -> KeyringReport:
    """Copies a C keyring report into Python and frees it."""
    try:
        node, message, key = c_char_p(), c_char_p(), c_char_p()
        errors: Dict[str, str] = {}
        for i in range(lib.keyring_report_error_count(r)):
            _check(lib, lib.keyring_report_error(r, i, byref(node), byref(message)))
            errors[_text(node.value)] = _text(message.value)
        holders, primary_of = c_size_t(0), c_size_t(0)
        keys: Dict[str, KeyHolders] = {}
        for i in range(lib.keyring_report_key_count(r)):
            _check(lib, lib.keyring_report_key(r, i, byref(key), byref(holders), byref(primary_of)))
            keys[_text(key.value)] = KeyHolders(holders.value, primary_of.value)
        return KeyringReport(
            members=int(lib.keyring_report_members(r)),
            responses=int(lib.keyring_report_responses(r)),
            errors=errors,
            keys=keys,
        )
    finally:
        lib.keyring_report_free(r)


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


# --------------------------------------------------------------------------
# Query results


class QueryResults:
    """The replies to one query sent by :meth:`Pool.query`.

    Iterate over it to get each :class:`QueryAck` / :class:`QueryResponse`
    as it arrives; iteration ends at the query's deadline. Use it as a
    context manager or call :meth:`close` to stop listening early.
    """

    def __init__(self, pool: Pool, ptr: int) -> None:
        lib = pool._lib
        self._lib = lib
        self._pool = pool  # keeps the pool alive while replies are read
        self._h = _Handle(ptr, lib.query_free, "query")
        self._finalizer = weakref.finalize(self, self._h.close)
        self._over = False

    @property
    def remaining(self) -> float:
        """Seconds left until the query's deadline (0.0 once it passed or the
        query was closed); members refuse to respond after it."""
        fn = self._lib.query_deadline_ms
        if fn is None:
            raise UnsupportedError("the loaded library has no hearsay_query_deadline_ms", E.ERR_UNSUPPORTED)
        try:
            with self._h as q:
                return int(fn(q)) / 1000.0
        except ClosedError:
            return 0.0

    @property
    def finished(self) -> bool:
        """Whether the query is over (deadline passed and every reply taken,
        or :meth:`close` called)."""
        return self._over or self._h.closed

    def next_reply(self, timeout: Timeout = None) -> Optional[QueryReply]:
        """The next reply, waiting up to ``timeout`` seconds (None: until one
        arrives or the query ends). Returns None on a timeout or once the
        query is over (then :attr:`finished` is true); raises
        :class:`ClosedError` after :meth:`close`."""
        if self._over:
            return None
        lib = self._lib
        ms = _timeout_ms(timeout)
        deadline = None if ms is None else time.monotonic() + ms / 1000.0
        out = c_void_p()
        while True:
            if deadline is None:
                wait = _SLICE_MS
            else:
                wait = max(0, min(_SLICE_MS, int(math.ceil((deadline - time.monotonic()) * 1000))))
            with self._h as q:
                rc = lib.query_next(q, wait, byref(out))
            if rc == E.OK:
                r = out.value
                try:
                    kind = lib.query_reply_type(r)
                    frm = _text(lib.query_reply_from(r))
                    if kind == _REPLY_ACK:
                        return QueryAck(frm)
                    if kind == _REPLY_RESPONSE:
                        n = c_size_t(0)
                        ptr = lib.query_reply_payload(r, byref(n))
                        data = ctypes.string_at(ptr, n.value) if ptr and n.value else b""
                        return QueryResponse(frm, data)
                    # a reply type newer than this binding: skipped
                finally:
                    lib.query_reply_free(r)
                continue
            if rc == E.ERR_CLOSED:
                # Over: free the C query now; later calls return None.
                self._over = True
                self._h.close()
                self._finalizer.detach()
                return None
            if rc != E.EMPTY:
                _check(lib, rc)
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def __iter__(self) -> Iterator[QueryReply]:
        while True:
            r = self.next_reply()
            if r is None:
                return
            yield r

    def responses(self) -> List[QueryResponse]:
        """Waits for the query to end; every response (acks dropped)."""
        return [r for r in self if isinstance(r, QueryResponse)]

    def close(self) -> None:
        """Stops listening and frees the query (replies not taken are dropped)."""
        self._h.close()
        self._finalizer.detach()

    def __enter__(self) -> "QueryResults":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
