#!/usr/bin/env bash
# Builds the C library if needed and runs the C tests of the ABI:
# every test under AddressSanitizer + UBSan, one under Valgrind, and an
# install + pkg-config build of an example against the shared and the
# static library. Prints "N passed, M failed" last; exits non-zero on any
# failure.
#
#   tests/c/run.sh            # everything
#   tests/c/run.sh membership # only tests whose name contains "membership"
#
# Environment: CC (default cc), CARGO (default cargo), NO_VALGRIND=1 skips the
# Valgrind run, KEEP=1 keeps the build directory.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cc=${CC:-cc}
cargo=${CARGO:-cargo}
filter=${1:-}
build=$(mktemp -d "${TMPDIR:-/tmp}/hearsay-c-tests.XXXXXX")
if [ "${KEEP:-0}" != 1 ]; then
    trap 'rm -rf "$build"' EXIT
else
    echo "build directory: $build"
fi

passed=0
failed=0
failures=()
start=$(date +%s)

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; }

echo "== building the library (cargo build)"
if ! (cd "$root" && "$cargo" build --lib --quiet); then
    echo "cargo build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
libdir="$root/target/debug"

cflags=(-std=gnu11 -g -O1 -Wall -Wextra -Werror -I"$root/include" -I"$here")
link=(-L"$libdir" -Wl,-rpath,"$libdir" -lhearsay -lpthread)
sanitize=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)

tests=(test_membership test_failure test_errors test_serf test_coordinates test_security test_threads test_processes test_labels test_lifecycle)

wanted() { [ -z "$filter" ] || [[ "$1" == *"$filter"* ]]; }

# The helper of test_processes, without sanitizers (it is exec'd).
if wanted test_processes; then
    "$cc" "${cflags[@]}" "$here/helper_node.c" -o "$build/helper_node" "${link[@]}" ||
        fail "build helper_node"
fi

# LeakSanitizer included: every test frees what it created.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export HEARSAY_HELPER="$build/helper_node"

for t in "${tests[@]}"; do
    wanted "$t" || continue
    if ! "$cc" "${cflags[@]}" "${sanitize[@]}" "$here/$t.c" -o "$build/$t" "${link[@]}"; then
        fail "$t (build)"
        continue
    fi
    t0=$(date +%s)
    if timeout 120 "$build/$t"; then
        pass "$t (asan+ubsan, $(($(date +%s) - t0)) s)"
    else
        fail "$t (asan+ubsan)"
    fi
done

# One test under Valgrind, built without sanitizers.
if wanted valgrind && [ "${NO_VALGRIND:-0}" != 1 ]; then
    if command -v valgrind >/dev/null; then
        "$cc" "${cflags[@]}" "$here/test_errors.c" -o "$build/test_errors_vg" "${link[@]}"
        t0=$(date +%s)
        if timeout 300 valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=1 --suppressions="$here/valgrind.supp" "$build/test_errors_vg"; then
            pass "test_errors (valgrind, $(($(date +%s) - t0)) s)"
        else
            fail "test_errors (valgrind)"
        fi
    else
        echo "note: valgrind not installed; Valgrind run skipped"
    fi
fi

# Install into a temporary prefix and build an example with pkg-config,
# against the shared and then the static library.
if wanted pkg-config; then
    prefix="$build/prefix"
    # The debug build: the one the tests above used, no release build needed.
    if PROFILE=debug "$root/scripts/install.sh" "$prefix" >"$build/install.log" 2>&1; then
        export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
        # shellcheck disable=SC2046
        if "$cc" -Wall -Wextra -Werror "$here/example.c" -o "$build/example_shared" \
            $(pkg-config --cflags --libs hearsay) -Wl,-rpath,"$prefix/lib" &&
            "$build/example_shared" && ldd "$build/example_shared" | grep -q "$prefix/lib/libhearsay.so"; then
            pass "pkg-config example (shared)"
        else
            fail "pkg-config example (shared)"
        fi
        # shellcheck disable=SC2046
        if "$cc" -Wall -Wextra -Werror "$here/example.c" -o "$build/example_static" \
            $(pkg-config --cflags --libs --static hearsay-static) &&
            "$build/example_static" && ! ldd "$build/example_static" | grep -q libhearsay; then
            pass "pkg-config example (static)"
        else
            fail "pkg-config example (static)"
        fi
    else
        cat "$build/install.log"
        fail "scripts/install.sh"
    fi
fi

echo "== $(($(date +%s) - start)) s"
for f in "${failures[@]+"${failures[@]}"}"; do
    echo "failed: $f"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
