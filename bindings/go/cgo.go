package hearsay

// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"runtime"
	"strings"
	"unsafe"
)

// call runs f, a cgo call returning a hearsay_result, with the goroutine
// locked to its OS thread, so that a failure's hearsay_last_error() (which
// is per thread) is read on the thread that failed. It returns the code
// (CodeOK, CodeEmpty or an error) and, for an error, an *Error.
func call(op string, f func() C.int32_t) (Code, error) {
	runtime.LockOSThread()
	rc := Code(f())
	if rc >= 0 {
		runtime.UnlockOSThread()
		return rc, nil
	}
	msg := C.GoString(C.hearsay_last_error())
	runtime.UnlockOSThread()
	return rc, &Error{Op: op, Code: rc, Message: msg}
}

// check is call for calls that return only OK or an error.
func check(op string, f func() C.int32_t) error {
	_, err := call(op, f)
	return err
}

// cstring copies s into C memory (free it with C.free), refusing an
// interior NUL, which C cannot represent.
func cstring(op, what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, newError(op, CodeInvalidArgument, "%s contains a NUL byte", what)
	}
	return C.CString(s), nil
}

func free(p *C.char) { C.free(unsafe.Pointer(p)) }

// cstrings copies ss into one C array of C strings; release frees it all.
func cstrings(op, what string, ss []string) (arr **C.char, release func(), err error) {
	if len(ss) == 0 {
		return nil, func() {}, nil
	}
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, nil, newError(op, CodeInvalidArgument, "%s %q contains a NUL byte", what, s)
		}
	}
	ptrSize := unsafe.Sizeof((*C.char)(nil))
	mem := C.malloc(C.size_t(uintptr(len(ss)) * ptrSize))
	elems := unsafe.Slice((**C.char)(mem), len(ss))
	for i, s := range ss {
		elems[i] = C.CString(s)
	}
	return (**C.char)(mem), func() {
		for _, p := range elems {
			C.free(unsafe.Pointer(p))
		}
		C.free(mem)
	}, nil
}

// bytesPtr points C at a Go byte slice for the length of one call (byte
// slices hold no Go pointers, so cgo allows it).
func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// resultName is hearsay_result_name: the library's name of a code,
// "HEARSAY_UNKNOWN" for one it does not define.
func resultName(c Code) string { return C.GoString(C.hearsay_result_name(C.hearsay_result(c))) }

// Version is the loaded library's version, e.g. "0.1.0".
func Version() string { return C.GoString(C.hearsay_version()) }

// ABIVersion is the loaded library's C ABI version, major<<16 | minor.
func ABIVersion() uint32 { return uint32(C.hearsay_abi_version()) }

// HeaderABIVersion is the C ABI version of the header this package was
// built against. NewRuntime refuses a library whose major differs or whose
// minor is lower.
const HeaderABIVersion = uint32(C.HEARSAY_ABI_VERSION)

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
