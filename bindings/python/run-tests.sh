#!/usr/bin/env bash
# Runs the Python binding's tests against the hearsay shared library.
#
#   bindings/python/run-tests.sh [pytest arguments...]
#
# - Uses $HEARSAY_LIBRARY if set; otherwise the library of the repository's
#   cargo target folder ($CARGO_TARGET_DIR or <repo>/target), building it
#   with `cargo build --lib` at the repository root if it is missing
#   (HEARSAY_REBUILD=1 builds it even when present).
# - Uses the system `python3 -m pytest` ($PYTHON to choose the interpreter);
#   only when pytest is missing does it create bindings/python/.venv and
#   install pytest there with pip.
# - Exits with pytest's status.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-python3}"

case "$(uname -s)" in
    Darwin) libname=libhearsay.dylib ;;
    *) libname=libhearsay.so ;;
esac

if [ -n "${HEARSAY_LIBRARY:-}" ]; then
    lib="$HEARSAY_LIBRARY"
else
    target="${CARGO_TARGET_DIR:-$repo/target}"
    lib="$target/debug/$libname"
    if [ ! -f "$lib" ] || [ "${HEARSAY_REBUILD:-0}" = 1 ]; then
        echo "run-tests.sh: building the library (cargo build --lib) in $repo" >&2
        (cd "$repo" && cargo build --lib)
    fi
fi
if [ ! -f "$lib" ]; then
    echo "run-tests.sh: no library at $lib" >&2
    exit 1
fi

if ! "$py" -c 'import pytest' 2>/dev/null; then
    venv="$here/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        echo "run-tests.sh: pytest is missing; creating $venv" >&2
        "$py" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet 'pytest>=7'
    fi
    py="$venv/bin/python"
fi

cd "$here"
export HEARSAY_LIBRARY="$lib"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
echo "run-tests.sh: $("$py" --version 2>&1), library $lib" >&2
exec "$py" -m pytest "$@"
