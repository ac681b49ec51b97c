package hearsay

import (
	"errors"
	"fmt"
)

// Code is a hearsay_result of the C library. Errors are negative;
// CodeOK and CodeEmpty are not errors.
type Code int32

// The result codes of include/hearsay.h (stable numbers).
const (
	CodeOK              Code = 0
	CodeEmpty           Code = 1
	CodeNullParameter   Code = -1
	CodeInvalidArgument Code = -2
	CodeAddrInUse       Code = -3
	CodeIO              Code = -4
	CodeTimeout         Code = -5
	CodeClosed          Code = -6
	CodeUnsupported     Code = -7
	CodeBufferTooSmall  Code = -8
	CodePanic           Code = -100
)

// String gives the C constant's name, e.g. "HEARSAY_ERR_IO", or
// "HEARSAY_UNKNOWN(n)" for a number neither this package nor the loaded
// library defines.
func (c Code) String() string {
	switch c {
	case CodeOK:
		return "HEARSAY_OK"
	case CodeEmpty:
		return "HEARSAY_EMPTY"
	case CodeNullParameter:
		return "HEARSAY_ERR_NULL_PARAMETER"
	case CodeInvalidArgument:
		return "HEARSAY_ERR_INVALID_ARGUMENT"
	case CodeAddrInUse:
		return "HEARSAY_ERR_ADDR_IN_USE"
	case CodeIO:
		return "HEARSAY_ERR_IO"
	case CodeTimeout:
		return "HEARSAY_ERR_TIMEOUT"
	case CodeClosed:
		return "HEARSAY_ERR_CLOSED"
	case CodeUnsupported:
		return "HEARSAY_ERR_UNSUPPORTED"
	case CodeBufferTooSmall:
		return "HEARSAY_ERR_BUFFER_TOO_SMALL"
	case CodePanic:
		return "HEARSAY_ERR_PANIC"
	}
	// A code added after this package: the loaded library may know it.
	if name := resultName(c); name != "HEARSAY_UNKNOWN" {
		return name
	}
	return fmt.Sprintf("HEARSAY_UNKNOWN(%d)", int32(c))
}

// Sentinel errors, one per error code. Every error this package returns for
// a failed call is an *Error; match it with errors.Is(err, ErrClosed) and so
// on, or read its Code and Message with errors.As.
var (
	ErrNullParameter   = errors.New("hearsay: null parameter")
	ErrInvalidArgument = errors.New("hearsay: invalid argument")
	ErrAddrInUse       = errors.New("hearsay: address in use")
	ErrIO              = errors.New("hearsay: I/O error")
	ErrTimeout         = errors.New("hearsay: timeout")
	ErrClosed          = errors.New("hearsay: closed")
	ErrUnsupported     = errors.New("hearsay: unsupported")
	ErrBufferTooSmall  = errors.New("hearsay: buffer too small")
	ErrPanic           = errors.New("hearsay: panic in the library")
)

func sentinel(c Code) error {
	switch c {
	case CodeNullParameter:
		return ErrNullParameter
	case CodeInvalidArgument:
		return ErrInvalidArgument
	case CodeAddrInUse:
		return ErrAddrInUse
	case CodeIO:
		return ErrIO
	case CodeTimeout:
		return ErrTimeout
	case CodeClosed:
		return ErrClosed
	case CodeUnsupported:
		return ErrUnsupported
	case CodeBufferTooSmall:
		return ErrBufferTooSmall
	case CodePanic:
		return ErrPanic
	}
	return nil
}

// Error is a failed call: the operation, the result code and the library's
// message (hearsay_last_error(), read on the thread that made the call), or
// a message of this package for arguments it refuses before calling C.
type Error struct {
	Op      string // e.g. "Pool.Join"
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("hearsay: %s: %s", e.Op, e.Code)
	}
	return fmt.Sprintf("hearsay: %s: %s (%s)", e.Op, e.Message, e.Code)
}

// Unwrap returns the sentinel of the code (ErrIO for CodeIO, ...), or nil
// for a code this version does not know.
func (e *Error) Unwrap() error { return sentinel(e.Code) }

func newError(op string, code Code, format string, args ...any) error {
	return &Error{Op: op, Code: code, Message: fmt.Sprintf(format, args...)}
}

func closedError(op string, what string) error {
	return &Error{Op: op, Code: CodeClosed, Message: what + " is closed"}
}

// wrapCtx reports the end of a context, matching context.Canceled or
// context.DeadlineExceeded with errors.Is.
func wrapCtx(op string, err error) error {
	return fmt.Errorf("hearsay: %s: %w", op, err)
}
