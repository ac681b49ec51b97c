#!/usr/bin/env bash
# A C++ pool, a Python pool and a Go pool, in three processes on loopback,
# form one membership; a user event sent from each reaches the other two.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --quiet
g++ -std=c++17 -O1 -Iinclude -Ibindings/cpp bindings/cpp/examples/node.cpp \
    -Ltarget/debug -lhearsay -Wl,-rpath,"$root/target/debug" -o "$work/node-cpp"
(cd bindings/go && go build -o "$work/node-go" ./cmd/hearsay-node)
export PYTHONPATH="$root/bindings/python"

common=(--expect-members 3 --expect-events 3 --timeout-ms 30000)
"$work/node-cpp" cpp --send from-cpp "${common[@]}" > "$work/cpp.out" 2> "$work/cpp.err" &
cpp_pid=$!
for _ in $(seq 1 100); do
    grep -q '^ADDR ' "$work/cpp.out" 2>/dev/null && break
    sleep 0.1
done
seed=$(sed -n 's/^ADDR //p' "$work/cpp.out" | head -n 1)
[ -n "$seed" ] || { echo "the C++ node printed no address"; cat "$work/cpp.err"; exit 1; }
python3 bindings/python/examples/node.py py --join "$seed" --send from-py "${common[@]}" > "$work/py.out" 2> "$work/py.err" &
py_pid=$!
"$work/node-go" go --join "$seed" --send from-go "${common[@]}" > "$work/go.out" 2> "$work/go.err" &
go_pid=$!

failed=0
passed=0
for lang in cpp py go; do
    pid_var="${lang}_pid"
    if wait "${!pid_var}"; then
        echo "PASS $lang node exited cleanly"
        passed=$((passed + 1))
    else
        echo "FAIL $lang node (exit $?)"; cat "$work/$lang.err"; failed=$((failed + 1))
    fi
done
for lang in cpp py go; do
    for other in cpp py go; do
        [ "$lang" = "$other" ] && continue
        if grep -q "^EVENT from-$other " "$work/$lang.out"; then
            passed=$((passed + 1))
        else
            echo "FAIL the $lang node never received the event of the $other node"
            cat "$work/$lang.out"
            failed=$((failed + 1))
        fi
    done
done
echo "cross-language: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
