#!/usr/bin/env bash
# Installs the C library: the shared and static library, the header and
# pkg-config files, under PREFIX (default /usr/local).
#
#   scripts/install.sh [PREFIX]
#
# Environment: PROFILE=release (default) or debug selects the cargo build;
# LIBDIR overrides PREFIX/lib. DESTDIR is prepended to every path written
# (for packaging), not to the paths inside the .pc files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-/usr/local}
profile=${PROFILE:-release}
libdir=${LIBDIR:-$prefix/lib}
includedir=$prefix/include
destdir=${DESTDIR:-}
cd "$root"

case "$profile" in
release) cargo build --lib --release --quiet; target=target/release ;;
debug) cargo build --lib --quiet; target=target/debug ;;
*) echo "PROFILE must be release or debug" >&2; exit 2 ;;
esac

version=$(sed -n '/^\[package\]/,/^\[/{s/^version *= *"\(.*\)"/\1/p}' Cargo.toml | head -n1)
# What a static link of a Rust library needs from the system, as rustc
# reports it for this target (`--print native-static-libs`).
native_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

install -d "$destdir$libdir/pkgconfig" "$destdir$includedir"
install -m 0755 "$target/libhearsay.so" "$destdir$libdir/libhearsay.so"
install -m 0644 "$target/libhearsay.a" "$destdir$libdir/libhearsay.a"
install -m 0644 include/hearsay.h "$destdir$includedir/hearsay.h"
for pc in hearsay hearsay-static; do
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@LIBDIR@|$libdir|g" \
        -e "s|@INCLUDEDIR@|$includedir|g" -e "s|@VERSION@|$version|g" \
        -e "s|@NATIVE_LIBS@|$native_libs|g" \
        "$pc.pc.in" >"$destdir$libdir/pkgconfig/$pc.pc"
    chmod 0644 "$destdir$libdir/pkgconfig/$pc.pc"
done
echo "installed hearsay $version ($profile) under $destdir$prefix"
