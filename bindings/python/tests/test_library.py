"""Loading the library and the basic calls that need no network."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import hearsay
from hearsay import _lib

PKG_ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, env_update: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(env_update)
    env["PYTHONPATH"] = str(PKG_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=60
    )


def test_version_and_abi() -> None:
    assert hearsay.version() == "0.1.0"
    major, minor = hearsay.abi_version()
    assert major == 1 and minor >= 0
    assert Path(hearsay.library_path()).is_file()


def test_candidate_paths_include_the_repository_target() -> None:
    paths = [str(p) for p in hearsay.candidate_paths()]
    assert paths[0].endswith(os.path.join("hearsay", _lib.library_file_name()))
    repo = PKG_ROOT.parents[1]
    assert str(repo / "target" / "debug" / _lib.library_file_name()) in paths
    assert str(repo / "target" / "release" / _lib.library_file_name()) in paths


def test_cargo_target_dir_is_searched() -> None:
    r = run_python(
        "import hearsay; print('\\n'.join(map(str, hearsay.candidate_paths())))",
        {"CARGO_TARGET_DIR": "/some/where/else"},
    )
    assert r.returncode == 0, r.stderr
    assert "/some/where/else/debug/libhearsay.so" in r.stdout
    assert "/some/where/else/release/libhearsay.so" in r.stdout


def test_missing_library_lists_every_path_tried() -> None:
    r = run_python(
        """
        import hearsay
        try:
            hearsay.Runtime()
        except hearsay.LibraryNotFoundError as e:
            print(e)
            print(len(e.tried))
        """,
        {"HEARSAY_LIBRARY": "/nonexistent/libhearsay.so"},
    )
    assert r.returncode == 0, r.stderr
    assert "HEARSAY_LIBRARY=/nonexistent/libhearsay.so (not found)" in r.stdout
    assert "cargo build" in r.stdout


def test_env_var_selects_the_library() -> None:
    r = run_python(
        "import hearsay; print(hearsay.library_path())",
        {"HEARSAY_LIBRARY": hearsay.library_path()},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == hearsay.library_path()


def test_import_needs_no_library() -> None:
    r = run_python("import hearsay; print('ok')", {"HEARSAY_LIBRARY": "/nonexistent/lib.so"})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_py_typed_marker_is_shipped() -> None:
    assert (PKG_ROOT / "hearsay" / "py.typed").is_file()


def test_profiles_parse() -> None:
    assert hearsay.Profile.parse("lan") is hearsay.Profile.LAN
    assert hearsay.Profile.parse("WAN") is hearsay.Profile.WAN
    assert hearsay.Profile.parse(hearsay.Profile.LOCAL) is hearsay.Profile.LOCAL
    assert hearsay.Profile.parse(2) is hearsay.Profile.LOCAL


def test_unknown_enum_numbers_do_not_fail() -> None:
    s = hearsay.Status(42)
    assert int(s) == 42 and s.name == "UNKNOWN_42"
    assert int(hearsay.EventType(99)) == 99
