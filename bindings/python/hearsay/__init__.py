"""hearsay: embeddable gossip membership (SWIM + Lifeguard, a Serf layer).

A pure-Python binding over the hearsay C ABI (ctypes)::

    import hearsay

    with hearsay.Runtime() as rt, rt.pool(profile="local", node_name="a") as a, \\
            rt.pool(profile="local", node_name="b") as b:
        b.join(a.local_addr)
        print(a.members())
        for event in a.events(timeout=1.0):
            print(event)

The shared library is found through ``HEARSAY_LIBRARY``, then beside this
package, then the cargo target folders (see :mod:`hearsay._lib`).
"""

from __future__ import annotations

from typing import Tuple

from ._core import (
    KNOWN_SETTINGS,
    Config,
    Event,
    Key,
    Pool,
    Query,
    QueryResults,
    Runtime,
)
from ._errors import (
    AddrInUseError,
    BufferTooSmallError,
    ClosedError,
    HearsayError,
    HearsayTimeoutError,
    InvalidArgumentError,
    NetworkError,
    NullParameterError,
    PanicError,
    UnsupportedError,
    error_class,
)
from ._lib import LibraryNotFoundError, candidate_paths
from ._lib import load as _load
from ._types import (
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

__version__ = "0.1.0"


def library_path() -> str:
    """The path of the loaded shared library (loading it if needed)."""
    return str(_load().path)


def version() -> str:
    """The loaded library's version, e.g. "0.1.0"."""
    lib = _load()
    return str(lib.version().decode())


def abi_version() -> Tuple[int, int]:
    """The loaded library's C ABI version as (major, minor)."""
    v = _load().abi_version()
    return (v >> 16, v & 0xFFFF)


def has_queries() -> bool:
    """Whether the loaded library can send queries (``Pool.query``)."""
    lib = _load()
    return lib.pool_query is not None


__all__ = [
    "AddrInUseError",
    "BufferTooSmallError",
    "ClosedError",
    "Config",
    "Coordinate",
    "Event",
    "EventType",
    "HearsayError",
    "HearsayTimeoutError",
    "InvalidArgumentError",
    "KNOWN_SETTINGS",
    "Key",
    "KeyHolders",
    "KeyringReport",
    "LibraryNotFoundError",
    "Member",
    "MemberEvent",
    "NameConflict",
    "NetworkError",
    "NullParameterError",
    "PanicError",
    "Pool",
    "Profile",
    "Query",
    "QueryAck",
    "QueryReply",
    "QueryResponse",
    "QueryResults",
    "Runtime",
    "Stats",
    "Status",
    "UnsupportedError",
    "UserEvent",
    "abi_version",
    "candidate_paths",
    "error_class",
    "has_queries",
    "library_path",
    "version",
]
