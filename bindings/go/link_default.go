//go:build !hearsay_pkgconfig && !hearsay_external

package hearsay

// The default link: the header from the repository's include/ and the
// library cargo builds in target/debug (`cargo build` at the repository
// root), found at run time through an rpath. This is what the tests use.
//
// Other ways (see README.md):
//   - go build -tags hearsay_pkgconfig   uses `pkg-config hearsay`
//     (after scripts/install.sh PREFIX; set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig).
//   - go build -tags hearsay_external    adds no flags at all: give them in
//     CGO_CFLAGS and CGO_LDFLAGS.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../target/debug -lhearsay -Wl,-rpath,${SRCDIR}/../../target/debug
import "C"
