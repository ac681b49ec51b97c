//go:build linux

package hearsay

import (
	"syscall"
	"testing"
	"unsafe"
)

// readable says whether fd is readable now (select with a zero timeout).
func readable(t *testing.T, fd int) bool {
	t.Helper()
	var set syscall.FdSet
	bits := int(8 * unsafe.Sizeof(set.Bits[0]))
	set.Bits[fd/bits] |= 1 << (uint(fd) % uint(bits))
	n, err := syscall.Select(fd+1, &set, nil, nil, &syscall.Timeval{})
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	return n > 0
}
