"""The binding covers include/hearsay.h: every function the header declares
is declared here (or is a config setting or a test hook), and the ctypes
mirror of ``hearsay_stats`` has the header's fields in the header's order.
A function or counter added to the header fails these tests until the
binding covers it."""

from __future__ import annotations

import ctypes
import dataclasses
import re
from pathlib import Path
from typing import Dict, List, Tuple

import hearsay
from hearsay import _core, _lib

REPO = Path(__file__).resolve().parents[3]
HEADER = REPO / "include" / "hearsay.h"
TESTS = Path(__file__).resolve().parent

#: Exported only to test the panic boundary; the tests call them directly.
TEST_HOOKS = {"hearsay_test_panic", "hearsay_test_panic_ptr"}
#: Config calls that add to a list rather than set one value (the ``keys``
#: and ``allowed_cidrs`` settings); declared in _lib like the pool calls.
LIST_CALLS = {"hearsay_config_add_key", "hearsay_config_add_key_base64", "hearsay_config_add_allowed_cidr"}


def header_text() -> str:
    """The header without its comments (which mention calls in prose)."""
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def header_functions() -> Dict[str, str]:
    """Every declared function: name -> its parameter list."""
    return {m.group(1): m.group(2) for m in re.finditer(r"\b(hearsay_[a-z0-9_]+)\(([^)]*)\)\s*;", header_text())}


def header_stats_fields() -> List[Tuple[str, str]]:
    body = re.search(r"typedef struct hearsay_stats \{(.*?)\} hearsay_stats;", header_text(), re.S)
    assert body, "no hearsay_stats in the header"
    return re.findall(r"\b(uint32_t|uint64_t)\s+([a-z0-9_]+)\s*;", body.group(1))


def covered() -> set:
    names = set(_lib._REQUIRED) | set(_lib._OPTIONAL) | TEST_HOOKS
    for setting, kind in _core.KNOWN_SETTINGS.items():
        if kind is not list:
            names.add("hearsay_config_set_" + setting)
    return names


def test_header_parses() -> None:
    funcs = header_functions()
    # Sanity of the parser: known calls of every shape are found.
    for name in ("hearsay_abi_version", "hearsay_pool_new", "hearsay_config_set_tag", "hearsay_test_panic_ptr"):
        assert name in funcs
    assert len(funcs) > 100


def test_every_header_function_is_covered() -> None:
    missing = sorted(set(header_functions()) - covered())
    assert missing == [], (
        "functions of include/hearsay.h this binding does not cover; declare them in "
        "hearsay/_lib.py (or add the setting to KNOWN_SETTINGS in hearsay/_core.py): " + ", ".join(missing)
    )


def test_binding_names_only_header_functions() -> None:
    stale = sorted(covered() - set(header_functions()))
    assert stale == [], "names the header does not declare: " + ", ".join(stale)


def test_list_settings_use_the_add_calls() -> None:
    assert LIST_CALLS <= set(_lib._OPTIONAL)
    assert {k for k, kind in _core.KNOWN_SETTINGS.items() if kind is list} == {"keys", "allowed_cidrs"}


def test_setting_kinds_match_the_header() -> None:
    """Each setting is passed as the C type its setter takes."""
    kinds = {"uint32_t": int, "bool": bool, "const char *": str}
    funcs = header_functions()
    for setting, kind in _core.KNOWN_SETTINGS.items():
        if kind is list:
            continue
        params = funcs["hearsay_config_set_" + setting]
        # The second parameter without its name: "uint32_t", "const char *".
        value_type = re.sub(r"\s*\w+$", "", re.sub(r"\s+", " ", params.split(",")[1]).strip())
        assert kinds.get(value_type) is kind, f"{setting}: {value_type} in C, {kind.__name__} here"


def test_test_hooks_are_exercised() -> None:
    sources = "".join(p.read_text() for p in TESTS.glob("test_*.py") if p.name != Path(__file__).name)
    for hook in TEST_HOOKS:
        assert re.search(rf"\b{hook}\b", sources), f"no test calls {hook}"


def test_stats_mirror_matches_the_header() -> None:
    ctypes_of = {"uint32_t": ctypes.c_uint32, "uint64_t": ctypes.c_uint64}
    expected = [(name, ctypes_of[t]) for t, name in header_stats_fields()]
    assert list(_lib.Stats._fields_) == expected
    # Every counter but `size` reaches the Python Stats.
    fields = [f.name for f in dataclasses.fields(hearsay.Stats)]
    assert fields == [name for name, _ in expected if name != "size"]
