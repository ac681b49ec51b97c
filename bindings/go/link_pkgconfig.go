//go:build hearsay_pkgconfig && !hearsay_external

package hearsay

// Linked through pkg-config: build with `-tags hearsay_pkgconfig` after
// `scripts/install.sh PREFIX` (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig if PREFIX
// is not a default search path; LD_LIBRARY_PATH=PREFIX/lib or an rpath in
// CGO_LDFLAGS if the dynamic loader does not search PREFIX/lib).

// #cgo pkg-config: hearsay
import "C"
