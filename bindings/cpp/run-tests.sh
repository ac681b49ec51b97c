#!/usr/bin/env bash
# Builds and runs the tests of the C++ binding (bindings/cpp/hearsay.hpp):
# each test case in its own process, compiled with
# -std=c++17 -Wall -Wextra -Werror under AddressSanitizer and UBSan; builds
# examples/node.cpp and runs two of them joining each other as a smoke test.
# Prints "N passed, M failed" last; exits non-zero on any failure.
#
#   bindings/cpp/run-tests.sh            # everything
#   bindings/cpp/run-tests.sh query      # only tests whose name contains "query"
#
# The Rust library is built (cargo build --lib, debug) only when
# target/debug/libhearsay.so is missing; BUILD=1 builds it anyway. The tests
# link a private copy of it, so a rebuild running meanwhile cannot swap it
# under them. Environment: CXX (default g++), CARGO (default cargo),
# KEEP=1 keeps the build directory.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cxx=${CXX:-g++}
cargo=${CARGO:-cargo}
filter=${1:-}
build=$(mktemp -d "${TMPDIR:-/tmp}/hearsay-cpp-tests.XXXXXX")
node_pids=()
cleanup() {
    for pid in "${node_pids[@]+"${node_pids[@]}"}"; do
        kill "$pid" 2>/dev/null
    done
    if [ "${KEEP:-0}" = 1 ]; then
        echo "build directory: $build"
    else
        rm -rf "$build"
    fi
}
trap cleanup EXIT

passed=0
failed=0
failures=()
start=$(date +%s)

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; }
finish() {
    echo "== $(($(date +%s) - start)) s"
    for f in "${failures[@]+"${failures[@]}"}"; do
        echo "failed: $f"
    done
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

lib="$root/target/debug/libhearsay.so"
if [ ! -f "$lib" ] || [ "${BUILD:-0}" = 1 ]; then
    echo "== building the library (cargo build --lib)"
    if ! (cd "$root" && "$cargo" build --lib --quiet); then
        fail "cargo build"
        finish
    fi
fi
mkdir -p "$build/lib"
cp "$lib" "$build/lib/libhearsay.so" || { fail "copy $lib"; finish; }

cxxflags=(-std=c++17 -g -O1 -Wall -Wextra -Werror -I"$root/include" -I"$here")
sanitize=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
link=(-L"$build/lib" -Wl,-rpath,"$build/lib" -lhearsay -lpthread)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

wanted() { [ -z "$filter" ] || [[ "$1" == *"$filter"* ]]; }

# The header alone compiles with strict warnings (and without sanitizers).
if wanted header; then
    printf '#include "hearsay.hpp"\nint main() { return hearsay::abi_compatible() ? 0 : 1; }\n' >"$build/header.cpp"
    if "$cxx" "${cxxflags[@]}" -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast \
        "$build/header.cpp" -o "$build/header" "${link[@]}" && "$build/header"; then
        pass "header compiles with -Wpedantic -Wshadow -Wconversion -Wold-style-cast"
    else
        fail "header compiles with -Wpedantic -Wshadow -Wconversion -Wold-style-cast"
    fi
fi

for src in "$here"/tests/test_*.cpp; do
    bin="$build/$(basename "$src" .cpp)"
    names=()
    if ! "$cxx" "${cxxflags[@]}" "${sanitize[@]}" "$src" -o "$bin" "${link[@]}"; then
        fail "$(basename "$src") (build)"
        continue
    fi
    mapfile -t names < <("$bin" --list)
    for name in "${names[@]}"; do
        wanted "$name" || continue
        log="$build/$name.log"
        t0=$(date +%s%N)
        if timeout 120 "$bin" "$name" >"$log" 2>&1; then
            pass "$name ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
        else
            cat "$log"
            fail "$name"
        fi
    done
done

# The examples of docs/cpp.md compile and run: the first ```cpp block
# under a heading, built under the sanitizers, must print what is expected.
# Arguments: heading, name, grep flags, expected output.
doc_example() {
    local heading=$1 name=$2 flags=$3 expected=$4
    awk -v h="^## $heading" '$0 ~ h { f = 1 } f && /^```cpp/ { p = 1; next } p && /^```/ { exit } p' \
        "$root/docs/cpp.md" >"$build/$name.cpp"
    if [ -s "$build/$name.cpp" ] &&
        "$cxx" "${cxxflags[@]}" "${sanitize[@]}" "$build/$name.cpp" -o "$build/$name" "${link[@]}" &&
        timeout 60 "$build/$name" >"$build/$name.log" 2>&1 &&
        grep $flags "$expected" "$build/$name.log"; then
        pass "docs/cpp.md: $heading example"
    else
        cat "$build/$name.log" 2>/dev/null
        fail "docs/cpp.md: $heading example"
    fi
}
if wanted readme; then
    doc_example Example readme -q "beta answered beta runs 0.1"
    doc_example Encryption readme_encryption -qx "held by 2, primary of 2"
fi

# Smoke test of examples/node: a seed and a node joining it; each sends one
# event and must print both.
if wanted node; then
    node="$build/node"
    if "$cxx" "${cxxflags[@]}" "${sanitize[@]}" "$here/examples/node.cpp" -o "$node" "${link[@]}"; then
        "$node" a --expect-members 2 --send from-a --payload "hello a" --expect-events 2 --timeout-ms 30000 \
            >"$build/node-a.out" 2>"$build/node-a.err" &
        pid_a=$!
        node_pids+=("$pid_a")
        # Wait (polling, with a deadline) for its first line.
        addr=
        for _ in $(seq 1 300); do
            addr=$(sed -n '1s/^ADDR //p' "$build/node-a.out")
            [ -n "$addr" ] && break
            kill -0 "$pid_a" 2>/dev/null || break
            sleep 0.05
        done
        if [ -z "$addr" ]; then
            kill "$pid_a" 2>/dev/null
            cat "$build/node-a.out" "$build/node-a.err"
            fail "node smoke test (no ADDR line)"
        else
            "$node" b --join "$addr" --expect-members 2 --send from-b --expect-events 2 --timeout-ms 30000 \
                >"$build/node-b.out" 2>"$build/node-b.err"
            rc_b=$?
            wait "$pid_a"
            rc_a=$?
            ok=1
            [ "$rc_a" -eq 0 ] && [ "$rc_b" -eq 0 ] || ok=0
            for out in "$build/node-a.out" "$build/node-b.out"; do
                head -1 "$out" | grep -Eq '^ADDR 127\.0\.0\.1:[0-9]+$' || ok=0
                grep -qx 'EVENT from-a hello a' "$out" || ok=0
                grep -qx 'EVENT from-b b' "$out" || ok=0
                [ "$(grep -c '^EVENT ' "$out")" -eq 2 ] || ok=0
            done
            if [ "$ok" = 1 ]; then
                pass "node smoke test (two processes, events both ways)"
            else
                for f in node-a.out node-a.err node-b.out node-b.err; do
                    echo "--- $f"
                    cat "$build/$f"
                done
                fail "node smoke test (exit codes $rc_a, $rc_b)"
            fi
        fi
    else
        fail "examples/node.cpp (build)"
    fi
fi

finish
