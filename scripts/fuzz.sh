#!/usr/bin/env bash
# Runs each cargo-fuzz target in turn for SECONDS (default 60), one process
# each, from its checked-in seeds (fuzz/seeds/T) plus the corpus grown by
# earlier runs (fuzz/corpus/T, not committed). Needs the nightly toolchain
# and cargo-fuzz. Not part of scripts/test-all.sh: the bounded versions of
# these targets run in `cargo test` (tests/decoder_props.rs).
#
#   bash scripts/fuzz.sh 600                 # every target, 10 minutes each
#   bash scripts/fuzz.sh 60 packet stream    # some targets
#
# Each run's output is in fuzz/logs/T.log; a crash leaves its input in
# fuzz/artifacts/T/ and makes this script fail.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(packet stream snapshot keyring serf)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

mkdir -p logs
cargo +nightly fuzz build
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t: ${SECONDS_EACH} s"
    if ! cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -print_final_stats=1 \
        >"logs/$t.log" 2>&1; then
        echo "!! $t failed: see fuzz/logs/$t.log and fuzz/artifacts/$t/"
        status=1
    fi
    # The last status line (executions, cov, ft, corpus) and the totals.
    grep -E '^#[0-9]+' "logs/$t.log" | tail -n 1 || true
    grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "logs/$t.log" || true
done
exit $status
