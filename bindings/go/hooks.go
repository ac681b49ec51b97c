package hearsay

// #include "helpers.h"
import "C"

import "runtime"

// Hooks for the tests and benchmarks, which cannot use cgo themselves.

// testPanic calls hearsay_test_panic, which panics inside the library: the
// panic is caught at the C boundary and becomes HEARSAY_ERR_PANIC.
func testPanic() error {
	return check("hearsay_test_panic", func() C.int32_t { return C.int32_t(C.hearsay_test_panic()) })
}

// testPanicPtr calls hearsay_test_panic_ptr, which panics inside a call
// that returns a pointer: it returns NULL (nil here) and the thread's last
// error.
func testPanicPtr() (isNil bool, lastError string) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := C.hearsay_test_panic_ptr()
	return p == nil, C.GoString(C.hearsay_last_error())
}

// The benchmarks split the cost of Members between the library's snapshot
// and the copy into Go memory.

// snapshotOnly takes and frees a members snapshot without reading it.
func (p *Pool) snapshotOnly() error {
	const op = "Pool.Members"
	c, err := p.acquire(op)
	if err != nil {
		return err
	}
	defer p.release()
	var ms *C.hearsay_members
	if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_members(c, &ms)) }); err != nil {
		return err
	}
	C.hearsay_members_free(ms)
	return nil
}

// decodeOnly takes one snapshot and copies it into Go memory times times;
// it returns the member count.
func (p *Pool) decodeOnly(times int) (int, error) {
	const op = "Pool.Members"
	c, err := p.acquire(op)
	if err != nil {
		return 0, err
	}
	var ms *C.hearsay_members
	err = check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_members(c, &ms)) })
	p.release()
	if err != nil {
		return 0, err
	}
	defer C.hearsay_members_free(ms)
	n := 0
	for i := 0; i < times; i++ {
		n = len(decodeMembers(ms))
	}
	return n, nil
}
