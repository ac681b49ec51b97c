"""One exception class per hearsay result code, under :class:`HearsayError`."""

from __future__ import annotations

from typing import Dict, Optional, Type

# The stable numbers of hearsay_result (docs/ABI.md).
OK = 0
EMPTY = 1
ERR_NULL_PARAMETER = -1
ERR_INVALID_ARGUMENT = -2
ERR_ADDR_IN_USE = -3
ERR_IO = -4
ERR_TIMEOUT = -5
ERR_CLOSED = -6
ERR_UNSUPPORTED = -7
ERR_BUFFER_TOO_SMALL = -8
ERR_PANIC = -100

_NAMES = {
    ERR_NULL_PARAMETER: "HEARSAY_ERR_NULL_PARAMETER",
    ERR_INVALID_ARGUMENT: "HEARSAY_ERR_INVALID_ARGUMENT",
    ERR_ADDR_IN_USE: "HEARSAY_ERR_ADDR_IN_USE",
    ERR_IO: "HEARSAY_ERR_IO",
    ERR_TIMEOUT: "HEARSAY_ERR_TIMEOUT",
    ERR_CLOSED: "HEARSAY_ERR_CLOSED",
    ERR_UNSUPPORTED: "HEARSAY_ERR_UNSUPPORTED",
    ERR_BUFFER_TOO_SMALL: "HEARSAY_ERR_BUFFER_TOO_SMALL",
    ERR_PANIC: "HEARSAY_ERR_PANIC",
}


class HearsayError(Exception):
    """Base class of every error a hearsay call reports.

    ``code`` is the ``hearsay_result`` number (negative) and ``message`` the
    text of ``hearsay_last_error()`` at the time (or a message of the
    binding's own checks, which use the code the C library would have used).
    """

    #: The result code this class stands for (None for the base class).
    code_value: Optional[int] = None

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code: int = code if code is not None else (self.code_value or 0)

    @property
    def code_name(self) -> str:
        """The C name of the code, e.g. ``"HEARSAY_ERR_IO"``."""
        return _NAMES.get(self.code, "HEARSAY_UNKNOWN")

    def __str__(self) -> str:
        return f"{self.message} [{self.code_name}]" if self.message else self.code_name


class NullParameterError(HearsayError):
    """HEARSAY_ERR_NULL_PARAMETER (-1): a required pointer was NULL (a binding bug)."""

    code_value = ERR_NULL_PARAMETER


class InvalidArgumentError(HearsayError, ValueError):
    """HEARSAY_ERR_INVALID_ARGUMENT (-2): malformed or out of range; nothing changed."""

    code_value = ERR_INVALID_ARGUMENT


class AddrInUseError(HearsayError):
    """HEARSAY_ERR_ADDR_IN_USE (-3): the bind address is taken."""

    code_value = ERR_ADDR_IN_USE


class NetworkError(HearsayError):
    """HEARSAY_ERR_IO (-4): a socket or system call failed, or no seed answered a join."""

    code_value = ERR_IO


class HearsayTimeoutError(HearsayError, TimeoutError):
    """HEARSAY_ERR_TIMEOUT (-5): not finished in time (e.g. a leave not fully gossiped)."""

    code_value = ERR_TIMEOUT


class ClosedError(HearsayError):
    """HEARSAY_ERR_CLOSED (-6): the pool, runtime or query is closed or stopped.

    Also raised by the binding itself, without calling C, for any use of an
    object after its ``close()``.
    """

    code_value = ERR_CLOSED


class UnsupportedError(HearsayError, NotImplementedError):
    """HEARSAY_ERR_UNSUPPORTED (-7): not supported by the loaded library."""

    code_value = ERR_UNSUPPORTED


class BufferTooSmallError(HearsayError):
    """HEARSAY_ERR_BUFFER_TOO_SMALL (-8): a buffer was too small (a binding bug)."""

    code_value = ERR_BUFFER_TOO_SMALL


class PanicError(HearsayError):
    """HEARSAY_ERR_PANIC (-100): a panic inside hearsay was caught; close the object."""

    code_value = ERR_PANIC


_BY_CODE: Dict[int, Type[HearsayError]] = {
    cls.code_value: cls
    for cls in (
        NullParameterError,
        InvalidArgumentError,
        AddrInUseError,
        NetworkError,
        HearsayTimeoutError,
        ClosedError,
        UnsupportedError,
        BufferTooSmallError,
        PanicError,
    )
}


def error_class(code: int) -> Type[HearsayError]:
    """The exception class of a result code (HearsayError for unknown ones)."""
    return _BY_CODE.get(code, HearsayError)


def make_error(code: int, message: str) -> HearsayError:
    """An exception of the right class for ``code``."""
    return error_class(code)(message, code)
