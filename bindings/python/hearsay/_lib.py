"""Finding, loading and declaring the hearsay shared library (ctypes).

The library is looked up, in this order:

1. the file named by the environment variable ``HEARSAY_LIBRARY`` (when it
   is set, nothing else is tried);
2. beside the package: ``hearsay/libhearsay.so`` (``.dylib`` on macOS,
   ``hearsay.dll`` on Windows);
3. the cargo target folders: ``$CARGO_TARGET_DIR/{debug,release}/`` and,
   when the package sits in a checkout of the hearsay repository,
   ``<repository>/target/{debug,release}/``.

When none loads, :class:`LibraryNotFoundError` lists every path tried.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from ctypes import (
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_int32,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Dict, List, Optional

#: The ABI major version this binding speaks.
ABI_MAJOR = 1

ENV_VAR = "HEARSAY_LIBRARY"


class LibraryNotFoundError(OSError):
    """The hearsay shared library could not be found or loaded.

    ``tried`` lists every path that was tried, with the reason each failed.
    """

    def __init__(self, tried: List[str]) -> None:
        self.tried = list(tried)
        lines = "\n".join(f"  - {t}" for t in self.tried) or "  (none)"
        super().__init__(
            "could not load the hearsay shared library; tried:\n"
            f"{lines}\n"
            f"Build it with `cargo build` at the repository root, or set "
            f"{ENV_VAR} to the path of libhearsay.so."
        )

    def __str__(self) -> str:  # OSError would print only args[0] anyway
        return str(self.args[0])


def library_file_name() -> str:
    """The file name of the shared library on this platform."""
    if sys.platform == "darwin":
        return "libhearsay.dylib"
    if sys.platform == "win32":
        return "hearsay.dll"
    return "libhearsay.so"


def _repository_roots(start: Path) -> List[Path]:
    """Directories above ``start`` that hold a Cargo.toml (nearest first)."""
    roots = []
    for parent in list(start.parents)[:4]:
        if (parent / "Cargo.toml").is_file():
            roots.append(parent)
    return roots


def candidate_paths() -> List[Path]:
    """Every path the loader tries, in order (without the env var)."""
    name = library_file_name()
    pkg_dir = Path(__file__).resolve().parent
    paths: List[Path] = [pkg_dir / name]
    target_dirs: List[Path] = []
    env_target = os.environ.get("CARGO_TARGET_DIR")
    if env_target:
        target_dirs.append(Path(env_target))
    for root in _repository_roots(pkg_dir):
        target_dirs.append(root / "target")
    for t in target_dirs:
        for profile in ("debug", "release"):
            p = t / profile / name
            if p not in paths:
                paths.append(p)
    return paths


class Stats(Structure):
    """ctypes mirror of ``struct hearsay_stats``."""

    _fields_ = [
        ("size", c_uint32),
        ("health_score", c_uint32),
        ("packets_in", c_uint64),
        ("packets_out", c_uint64),
        ("bytes_in", c_uint64),
        ("bytes_out", c_uint64),
        ("streams_in", c_uint64),
        ("streams_out", c_uint64),
        ("dropped_malformed", c_uint64),
        ("dropped_label", c_uint64),
        ("dropped_version", c_uint64),
        ("dropped_invalid", c_uint64),
        ("dropped_decrypt", c_uint64),
        ("streams_refused", c_uint64),
        ("events_dropped", c_uint64),
        ("members_alive", c_uint32),
        ("members_suspect", c_uint32),
        ("members_leaving", c_uint32),
        ("members_left", c_uint32),
        ("members_failed", c_uint32),
        # appended after the first layout (read only when written)
        ("snapshot_errors", c_uint64),
        ("broadcasts_dropped", c_uint64),
        # appended with gossip encryption
        ("dropped_plaintext", c_uint64),
        ("dropped_source", c_uint64),
        ("keyring_file_errors", c_uint64),
        ("dropped_overload", c_uint64),
        ("duplicates_skipped", c_uint64),
        # appended with the resource limits
        ("streams_oversized", c_uint64),
        ("intents_dropped", c_uint64),
        ("events_too_old", c_uint64),
        ("queries_too_old", c_uint64),
        ("dedup_full", c_uint64),
        ("queries_refused", c_uint64),
        ("query_replies_dropped", c_uint64),
    ]

    #: Size of the first layout (ABI 1.0 as first published).
    V1_SIZE = 136


class Coordinate(Structure):
    """ctypes mirror of ``struct hearsay_coordinate``."""

    _fields_ = [
        ("dimensions", c_uint32),
        ("vec", ctypes.c_double * 64),
        ("error", ctypes.c_double),
        ("adjustment", ctypes.c_double),
        ("height", ctypes.c_double),
    ]


R = c_int32  # hearsay_result
P = c_void_p  # every opaque pointer
PP = POINTER(c_void_p)  # an out-parameter for an opaque pointer
CSTR_ARRAY = POINTER(c_char_p)

# name: (restype, argtypes). Calls every ABI 1.0 library has.
_REQUIRED = {
    "hearsay_abi_version": (c_uint32, []),
    "hearsay_version": (c_char_p, []),
    "hearsay_last_error": (c_char_p, []),
    "hearsay_result_name": (c_char_p, [R]),
    "hearsay_runtime_new": (R, [PP]),
    "hearsay_runtime_free": (None, [P]),
    "hearsay_config_new": (R, [c_int32, PP]),
    "hearsay_config_free": (None, [P]),
    "hearsay_config_validate": (R, [P]),
    "hearsay_config_set_tag": (R, [P, c_char_p, c_char_p]),
    "hearsay_config_remove_tag": (R, [P, c_char_p]),
    "hearsay_pool_new": (R, [P, P, PP]),
    "hearsay_pool_free": (None, [P]),
    "hearsay_pool_local_addr": (R, [P, c_char_p, c_size_t]),
    "hearsay_pool_node_name": (c_char_p, [P]),
    "hearsay_pool_join": (R, [P, CSTR_ARRAY, c_size_t, POINTER(c_size_t)]),
    "hearsay_pool_send_event": (R, [P, c_char_p, c_char_p, c_size_t, c_bool]),
    "hearsay_pool_leave": (R, [P, c_uint32]),
    "hearsay_pool_members": (R, [P, PP]),
    "hearsay_pool_next_event": (R, [P, c_int32, PP]),
    "hearsay_pool_event_fd": (c_int, [P]),
    "hearsay_pool_events_dropped": (c_uint64, [P]),
    "hearsay_pool_stats": (R, [P, POINTER(Stats)]),
    "hearsay_pool_set_tag": (R, [P, c_char_p, c_char_p]),
    "hearsay_pool_remove_tag": (R, [P, c_char_p]),
    "hearsay_pool_set_tags": (R, [P, CSTR_ARRAY, CSTR_ARRAY, c_size_t]),
    "hearsay_members_count": (c_size_t, [P]),
    "hearsay_members_get": (P, [P, c_size_t]),
    "hearsay_members_free": (None, [P]),
    "hearsay_member_name": (c_char_p, [P]),
    "hearsay_member_addr": (c_char_p, [P]),
    "hearsay_member_status": (c_int32, [P]),
    "hearsay_member_incarnation": (c_uint32, [P]),
    "hearsay_member_tag": (c_char_p, [P, c_char_p]),
    "hearsay_member_tags_count": (c_size_t, [P]),
    "hearsay_member_tag_key": (c_char_p, [P, c_size_t]),
    "hearsay_member_tag_value": (c_char_p, [P, c_size_t]),
    "hearsay_event_get_type": (c_int32, [P]),
    "hearsay_event_member": (P, [P]),
    "hearsay_event_name": (c_char_p, [P]),
    "hearsay_event_payload": (P, [P, POINTER(c_size_t)]),
    "hearsay_event_free": (None, [P]),
}

# Calls added after ABI 1.0 (or in flight); absent ones are None and the
# methods that need them raise UnsupportedError.
_OPTIONAL = {
    "hearsay_event_ltime": (c_uint64, [P]),
    "hearsay_pool_respond": (R, [P, P, c_char_p, c_size_t]),
    "hearsay_pool_force_leave": (R, [P, c_char_p, c_bool]),
    "hearsay_pool_join_ignore_old": (R, [P, CSTR_ARRAY, c_size_t, c_bool, POINTER(c_size_t)]),
    "hearsay_query_params_new": (R, [PP]),
    "hearsay_query_params_add_node": (R, [P, c_char_p]),
    "hearsay_query_params_add_tag_filter": (R, [P, c_char_p, c_char_p]),
    "hearsay_query_params_set_request_ack": (R, [P, c_bool]),
    "hearsay_query_params_set_relay_factor": (R, [P, c_uint8]),
    "hearsay_query_params_set_timeout_ms": (R, [P, c_uint32]),
    "hearsay_query_params_free": (None, [P]),
    "hearsay_pool_query": (R, [P, c_char_p, c_char_p, c_size_t, P, PP]),
    "hearsay_query_next": (R, [P, c_int32, PP]),
    "hearsay_query_reply_type": (c_int32, [P]),
    "hearsay_query_reply_from": (c_char_p, [P]),
    "hearsay_query_reply_payload": (P, [P, POINTER(c_size_t)]),
    "hearsay_query_reply_free": (None, [P]),
    "hearsay_query_deadline_ms": (c_uint64, [P]),
    "hearsay_query_free": (None, [P]),
    "hearsay_pool_coordinate": (R, [P, c_char_p, POINTER(Coordinate)]),
    "hearsay_pool_estimated_rtt": (R, [P, c_char_p, c_char_p, POINTER(c_uint64)]),
    "hearsay_pool_members_near": (R, [P, c_char_p, PP]),
    "hearsay_event_query_from": (c_char_p, [P]),
    "hearsay_event_query_deadline_ms": (c_uint64, [P]),
    "hearsay_config_add_key": (R, [P, c_char_p, c_size_t]),
    "hearsay_config_add_key_base64": (R, [P, c_char_p]),
    "hearsay_config_add_allowed_cidr": (R, [P, c_char_p]),
    "hearsay_pool_set_encryption_policy": (R, [P, c_bool, c_bool]),
    "hearsay_pool_keyring_install": (R, [P, c_char_p, PP]),
    "hearsay_pool_keyring_use": (R, [P, c_char_p, PP]),
    "hearsay_pool_keyring_remove": (R, [P, c_char_p, PP]),
    "hearsay_pool_keyring_list": (R, [P, PP]),
    "hearsay_keyring_report_members": (c_size_t, [P]),
    "hearsay_keyring_report_responses": (c_size_t, [P]),
    "hearsay_keyring_report_error_count": (c_size_t, [P]),
    "hearsay_keyring_report_error": (R, [P, c_size_t, POINTER(c_char_p), POINTER(c_char_p)]),
    "hearsay_keyring_report_key_count": (c_size_t, [P]),
    "hearsay_keyring_report_key": (
        R,
        [P, c_size_t, POINTER(c_char_p), POINTER(c_size_t), POINTER(c_size_t)],
    ),
    "hearsay_keyring_report_free": (None, [P]),
}


class Library:
    """The loaded library: each C function as an attribute (None if absent)."""

    def __init__(self, cdll: ctypes.CDLL, path: str) -> None:
        self.cdll = cdll
        self.path = path
        for name, (restype, argtypes) in _REQUIRED.items():
            fn = getattr(cdll, name)  # AttributeError: not a hearsay library
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name[len("hearsay_"):], fn)
        for name, (restype, argtypes) in _OPTIONAL.items():
            fn = getattr(cdll, name, None)
            if fn is not None:
                fn.restype = restype
                fn.argtypes = argtypes
            setattr(self, name[len("hearsay_"):], fn)
        self._setters: Dict[Any, Any] = {}

    def has(self, name: str) -> bool:
        """Whether the library exports ``hearsay_<name>``."""
        return getattr(self.cdll, "hearsay_" + name, None) is not None

    def config_setter(self, knob: str, argtype: Any) -> Optional[Any]:
        """``hearsay_config_set_<knob>`` declared with ``argtype``, or None."""
        key = (knob, argtype)
        fn = self._setters.get(key)
        if fn is None:
            try:
                # Indexing makes a fresh function object, so two declarations
                # of one symbol never overwrite each other's argtypes.
                fn = self.cdll["hearsay_config_set_" + knob]
            except AttributeError:
                return None
            fn.restype = c_int32
            fn.argtypes = [c_void_p, argtype]
            self._setters[key] = fn
        return fn

    def __getattr__(self, name: str) -> Any:  # for type checkers
        raise AttributeError(name)


_lock = threading.Lock()
_loaded: Optional[Library] = None


def _try_load(path: Path, tried: List[str]) -> Optional[Library]:
    if not path.is_file():
        tried.append(f"{path} (not found)")
        return None
    try:
        cdll = ctypes.CDLL(str(path))
    except OSError as e:
        tried.append(f"{path} (failed to load: {e})")
        return None
    try:
        lib = Library(cdll, str(path))
    except AttributeError as e:
        tried.append(f"{path} (not a hearsay library: {e})")
        return None
    abi = lib.abi_version()
    if abi >> 16 != ABI_MAJOR:
        tried.append(
            f"{path} (ABI version {abi >> 16}.{abi & 0xFFFF}; this binding needs {ABI_MAJOR}.x)"
        )
        return None
    return lib


def load() -> Library:
    """The library, loaded on first use (thread-safe)."""
    global _loaded
    lib = _loaded
    if lib is not None:
        return lib
    with _lock:
        if _loaded is not None:
            return _loaded
        tried: List[str] = []
        env = os.environ.get(ENV_VAR)
        if env:
            found = _try_load(Path(env), tried)
            if found is None:
                tried[-1] = f"{ENV_VAR}={tried[-1]}"
        else:
            found = None
            for p in candidate_paths():
                found = _try_load(p, tried)
                if found is not None:
                    break
        if found is None:
            raise LibraryNotFoundError(tried)
        _loaded = found
        return found
