"""Enumerations and the plain data classes hearsay hands back."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union


class _OpenIntEnum(enum.IntEnum):
    """An IntEnum that turns numbers it does not know into pseudo-members
    named ``UNKNOWN_<n>`` instead of failing: newer libraries may add
    constants (the ABI only ever adds)."""

    @classmethod
    def _missing_(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            member = int.__new__(cls, value)
            member._name_ = f"UNKNOWN_{value}"
            member._value_ = value
            return member
        return None


class Profile(_OpenIntEnum):
    """Named starting points for a config (memberlist's published defaults)."""

    LAN = 0
    WAN = 1
    LOCAL = 2

    @classmethod
    def parse(cls, value: "Union[Profile, str, int]") -> "Profile":
        """A profile from an enum, a number or a name ('lan', 'wan', 'local')."""
        if isinstance(value, Profile):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                raise ValueError(
                    f"unknown profile {value!r}: expected 'lan', 'wan' or 'local'"
                ) from None
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        raise TypeError(f"profile must be a Profile, str or int, not {type(value).__name__}")


class Status(_OpenIntEnum):
    """A member's status (Serf's vocabulary)."""

    NONE = 0
    ALIVE = 1
    LEAVING = 2
    LEFT = 3
    FAILED = 4


class EventType(_OpenIntEnum):
    """What an event reports (``hearsay_event_type``)."""

    NONE = 0
    MEMBER_JOIN = 1
    MEMBER_LEAVE = 2
    MEMBER_FAILED = 3
    MEMBER_UPDATE = 4
    MEMBER_REAP = 5
    USER = 6
    QUERY = 7
    NAME_CONFLICT = 8


#: The event types that carry a member.
MEMBER_EVENT_TYPES = frozenset(
    {
        EventType.MEMBER_JOIN,
        EventType.MEMBER_LEAVE,
        EventType.MEMBER_FAILED,
        EventType.MEMBER_UPDATE,
        EventType.MEMBER_REAP,
    }
)


@dataclass(frozen=True)
class Member:
    """One member as a snapshot or an event saw it (a copy; never changes)."""

    name: str
    addr: str
    status: Status
    tags: Dict[str, str] = field(hash=False)
    incarnation: int = 0


@dataclass(frozen=True)
class MemberEvent:
    """A member joined, left, failed, changed (tags or address) or was reaped.

    ``type`` tells which; ``member`` is the member as it was at the event.
    """

    type: EventType
    member: Member

    @property
    def name(self) -> str:
        """The member's name."""
        return self.member.name


@dataclass(frozen=True)
class UserEvent:
    """A user event, delivered once by each member of the pool."""

    name: str
    payload: bytes
    ltime: int


@dataclass(frozen=True)
class NameConflict:
    """Another node claims the member name ``name`` from another address."""

    name: str


@dataclass(frozen=True)
class QueryAck:
    """A node acknowledged receiving a query (only with ``request_ack``)."""

    from_: str


@dataclass(frozen=True)
class QueryResponse:
    """A node's answer to a query."""

    from_: str
    payload: bytes


QueryReply = Union[QueryAck, QueryResponse]


@dataclass(frozen=True)
class Coordinate:
    """A Vivaldi network coordinate; every distance is in seconds."""

    vec: Tuple[float, ...]
    error: float
    adjustment: float
    height: float


@dataclass(frozen=True)
class Stats:
    """Counters of one pool (``hearsay_stats``)."""

    health_score: int
    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int
    streams_in: int
    streams_out: int
    dropped_malformed: int
    dropped_label: int
    dropped_version: int
    dropped_invalid: int
    dropped_decrypt: int
    streams_refused: int
    events_dropped: int
    members_alive: int
    members_suspect: int
    members_leaving: int
    members_left: int
    members_failed: int
    #: Snapshot records that could not be written (None: not reported by
    #: the loaded library).
    snapshot_errors: Optional[int] = None
    #: Broadcasts dropped from a full gossip queue (None: not reported).
    broadcasts_dropped: Optional[int] = None
    # The counters below came with gossip encryption (None: not reported
    # by the loaded library).
    #: Plaintext packets dropped while encryption is required.
    dropped_plaintext: Optional[int] = None
    #: Packets dropped from a source (or about a member address) outside
    #: ``allowed_cidrs``.
    dropped_source: Optional[int] = None
    #: Keyring file writes that failed.
    keyring_file_errors: Optional[int] = None
    #: Datagrams dropped because the pool's inbound queue was full.
    dropped_overload: Optional[int] = None
    #: Broadcasts received again (gossip's redundancy, or replays),
    #: recognised without being decoded.
    duplicates_skipped: Optional[int] = None
    # The counters below came with the resource limits (None: not reported).
    #: TCP frames refused for a length above ``max_stream_size``.
    streams_oversized: Optional[int] = None
    #: Intents about unknown members dropped at ``max_intents``.
    intents_dropped: Optional[int] = None
    #: User events dropped as older than the dedup window (``event_buffer``),
    #: a restored snapshot or an ignore-old join.
    events_too_old: Optional[int] = None
    #: Queries dropped as older than the dedup window (``query_buffer``).
    queries_too_old: Optional[int] = None
    #: Events and queries dropped because ``max_per_ltime`` were already
    #: remembered for their Lamport time.
    dedup_full: Optional[int] = None
    #: Queries of this node refused at ``max_pending_queries``.
    queries_refused: Optional[int] = None
    #: Acks and responses dropped beyond a query's limit.
    query_replies_dropped: Optional[int] = None


class KeyHolders(NamedTuple):
    """How many members hold a key, and how many use it as their primary."""

    holders: int
    primary_of: int


@dataclass(frozen=True)
class KeyringReport:
    """What a keyring operation found across the pool.

    ``members`` is the alive members when it started (this node included),
    ``responses`` how many answered, ``errors`` each failed member's
    message by node name, and ``keys`` (:meth:`Pool.keyring_list` only)
    each key in base64 with its :class:`KeyHolders`.
    """

    members: int
    responses: int
    errors: Dict[str, str] = field(default_factory=dict, hash=False)
    keys: Dict[str, KeyHolders] = field(default_factory=dict, hash=False)

    @property
    def succeeded(self) -> bool:
        """Every member answered and none failed: safe to take the next step
        of a rotation."""
        return not self.errors and self.responses >= self.members

    @property
    def missing(self) -> int:
        """Members that did not answer in time."""
        return max(0, self.members - self.responses)
