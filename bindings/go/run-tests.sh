#!/usr/bin/env bash
# Tests of the Go binding: builds the Rust library (debug) when it is
# missing or older than the sources, then runs go vet and the tests under
# the race detector. Needs Go (1.22 or later), a C compiler and cargo; no
# module is downloaded (the binding uses only the standard library).
#
#   bindings/go/run-tests.sh            # vet + tests
#   bindings/go/run-tests.sh -run Query # extra arguments go to `go test`
#   BENCH=1 bindings/go/run-tests.sh    # also the benchmarks (-count=5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lib="$root/target/debug/libhearsay.so"

if [ ! -f "$lib" ] || [ -n "$(find "$root/src" "$root/include" "$root/Cargo.toml" "$root/Cargo.lock" \
        -newer "$lib" -print -quit 2>/dev/null)" ]; then
    echo "== cargo build --lib (target/debug/libhearsay.so)"
    (cd "$root" && cargo build --lib --quiet)
fi

export CGO_ENABLED=1
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
export GOPROXY=off GOTOOLCHAIN=local

cd "$here"
echo "== go vet ./..."
go vet ./...
echo "== go test -race -count=1 ./..."
go test -race -count=1 "$@" ./...
if [ "${BENCH:-}" = 1 ]; then
    echo "== go test -run '^$' -bench . -count=5 ./..."
    go test -run '^$' -bench . -count=5 ./...
fi
