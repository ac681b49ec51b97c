#!/usr/bin/env bash
# Every test of the project, on a fresh machine: formatting, lints, the Rust
# suites (unit, wire vectors and properties, simulations, real sockets, the
# header check), the C ABI suites (sanitizers, Valgrind, pkg-config), the
# C++, Python and Go bindings, a cross-language membership and the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.29.4
if ! cbindgen --version 2>/dev/null | grep -q "$CBINDGEN_VERSION"; then
    echo "== installing cbindgen $CBINDGEN_VERSION"
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet
fi
export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --quiet
echo "== C ABI tests"
bash tests/c/run.sh
echo "== C++ binding"
bash bindings/cpp/run-tests.sh
echo "== Python binding"
bash bindings/python/run-tests.sh
echo "== Go binding"
bash bindings/go/run-tests.sh
echo "== cross-language: C++, Python and Go pools in one membership"
bash tests/cross_language/run.sh
echo "== hearsay demo --quick"
cargo run --quiet -- demo --quick
echo "== all tests passed"
