//! Result codes and the thread-local text of the last failure.
//!
//! The numbers of `hearsay_result` are part of the ABI: they are never
//! changed or reused. A retired code stays here as a comment.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};

use crate::runtime::{Error, ErrorKind};

/// The result of a fallible call. `HEARSAY_OK` (0) is success,
/// `HEARSAY_EMPTY` (1) is "nothing arrived in time" for
/// `hearsay_pool_next_event`, and every error is negative. On an error,
/// `hearsay_last_error()` explains it on the calling thread.
///
/// The numbers are stable: within one ABI major version they are never
/// changed and only new ones are added, so treat unknown negative values as
/// errors.
/// cbindgen:prefix-with-name=false
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hearsay_result {
    /// Success.
    HEARSAY_OK = 0,
    /// Not an error: nothing arrived before the timeout.
    HEARSAY_EMPTY = 1,
    /// A required pointer argument was NULL.
    HEARSAY_ERR_NULL_PARAMETER = -1,
    /// An argument is malformed or out of range (invalid UTF-8, a bad
    /// address, a setting outside its range); nothing changed.
    HEARSAY_ERR_INVALID_ARGUMENT = -2,
    /// The address to bind is already in use; nothing changed.
    HEARSAY_ERR_ADDR_IN_USE = -3,
    /// A socket or system call failed, or no peer answered a join.
    HEARSAY_ERR_IO = -4,
    /// The operation did not finish in time.
    HEARSAY_ERR_TIMEOUT = -5,
    /// The pool or its runtime is stopped.
    HEARSAY_ERR_CLOSED = -6,
    /// Not supported by this version or build.
    HEARSAY_ERR_UNSUPPORTED = -7,
    /// The caller's buffer is too small; nothing was written.
    HEARSAY_ERR_BUFFER_TOO_SMALL = -8,
    /// A panic inside hearsay was caught at the boundary. The object the
    /// call was made on may be in an unexpected state; free it.
    HEARSAY_ERR_PANIC = -100,
}

/// The raw integer a C caller passes where the header says
/// `hearsay_result`: any value may arrive, so it is not read as the enum.
/// cbindgen:no-export
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct RawResult(pub i32);

impl hearsay_result {
    const ALL: [hearsay_result; 11] = [
        hearsay_result::HEARSAY_OK,
        hearsay_result::HEARSAY_EMPTY,
        hearsay_result::HEARSAY_ERR_NULL_PARAMETER,
        hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
        hearsay_result::HEARSAY_ERR_ADDR_IN_USE,
        hearsay_result::HEARSAY_ERR_IO,
        hearsay_result::HEARSAY_ERR_TIMEOUT,
        hearsay_result::HEARSAY_ERR_CLOSED,
        hearsay_result::HEARSAY_ERR_UNSUPPORTED,
        hearsay_result::HEARSAY_ERR_BUFFER_TOO_SMALL,
        hearsay_result::HEARSAY_ERR_PANIC,
    ];

    /// The code of a raw integer, if it is one.
    pub fn from_raw(raw: i32) -> Option<hearsay_result> {
        Self::ALL.into_iter().find(|r| *r as i32 == raw)
    }

    /// The constant's name, e.g. "HEARSAY_ERR_IO".
    pub fn name(self) -> &'static CStr {
        match self {
            hearsay_result::HEARSAY_OK => c"HEARSAY_OK",
            hearsay_result::HEARSAY_EMPTY => c"HEARSAY_EMPTY",
            hearsay_result::HEARSAY_ERR_NULL_PARAMETER => c"HEARSAY_ERR_NULL_PARAMETER",
            hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT => c"HEARSAY_ERR_INVALID_ARGUMENT",
            hearsay_result::HEARSAY_ERR_ADDR_IN_USE => c"HEARSAY_ERR_ADDR_IN_USE",
            hearsay_result::HEARSAY_ERR_IO => c"HEARSAY_ERR_IO",
            hearsay_result::HEARSAY_ERR_TIMEOUT => c"HEARSAY_ERR_TIMEOUT",
            hearsay_result::HEARSAY_ERR_CLOSED => c"HEARSAY_ERR_CLOSED",
            hearsay_result::HEARSAY_ERR_UNSUPPORTED => c"HEARSAY_ERR_UNSUPPORTED",
            hearsay_result::HEARSAY_ERR_BUFFER_TOO_SMALL => c"HEARSAY_ERR_BUFFER_TOO_SMALL",
            hearsay_result::HEARSAY_ERR_PANIC => c"HEARSAY_ERR_PANIC",
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Records `message` as this thread's last error. Interior NULs (which C
/// cannot show) become spaces.
pub(crate) fn set_last_error(message: impl Into<String>) {
    let mut bytes = message.into().into_bytes();
    for b in bytes.iter_mut() {
        if *b == 0 {
            *b = b' ';
        }
    }
    let text = CString::new(bytes).unwrap_or_default();
    // During thread teardown the slot may be gone; the message is lost then.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(text);
        }
    });
}

/// Records `message` and returns `code`: the one way an error leaves.
pub(crate) fn fail(code: hearsay_result, message: impl Into<String>) -> hearsay_result {
    set_last_error(message);
    code
}

/// A C wait in milliseconds: -1 waits without limit (`forever` says what
/// that means for the call), 0 does not wait; anything below -1 is refused
/// with `HEARSAY_ERR_INVALID_ARGUMENT` and a message.
pub(crate) fn wait_from_ms(
    timeout_ms: i32,
    forever: &str,
) -> Result<Option<std::time::Duration>, hearsay_result> {
    match timeout_ms {
        -1 => Ok(None),
        ms if ms >= 0 => Ok(Some(std::time::Duration::from_millis(
            ms.unsigned_abs().into(),
        ))),
        other => Err(fail(
            hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
            format!("timeout_ms {other} is invalid: use -1 ({forever}), 0 (do not wait) or more"),
        )),
    }
}

/// Maps a runtime error to its code and records its message.
pub(crate) fn from_runtime(error: Error) -> hearsay_result {
    let code = match error.kind {
        ErrorKind::InvalidArgument => hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT,
        ErrorKind::AddrInUse => hearsay_result::HEARSAY_ERR_ADDR_IN_USE,
        ErrorKind::Io => hearsay_result::HEARSAY_ERR_IO,
        ErrorKind::Timeout => hearsay_result::HEARSAY_ERR_TIMEOUT,
        ErrorKind::Closed => hearsay_result::HEARSAY_ERR_CLOSED,
        ErrorKind::Unsupported => hearsay_result::HEARSAY_ERR_UNSUPPORTED,
    };
    let message = if error.message.is_empty() {
        format!("{:?}", error.kind)
    } else {
        error.message
    };
    fail(code, message)
}

/// The message of the last failed call on the calling thread, or "" if no
/// call on this thread has failed yet.
///
/// Ownership: the string belongs to hearsay; do not free it. Lifetime: valid
/// until the next hearsay call on the same thread (a later failure replaces
/// it; successes leave it alone, so read it right after the failing call).
/// Never returns NULL. Thread-safe: each thread has its own message.
#[no_mangle]
pub extern "C" fn hearsay_last_error() -> *const c_char {
    ffi_boundary! {
        LAST_ERROR
            .try_with(|slot| match slot.try_borrow().as_deref() {
                Ok(Some(text)) => text.as_ptr(),
                _ => c"".as_ptr(),
            })
            .unwrap_or(c"".as_ptr())
    }
}

/// The name of a result code, e.g. "HEARSAY_ERR_IO" for -4, or
/// "HEARSAY_UNKNOWN" for a number this version does not define.
///
/// Ownership: a static string; do not free it. Never returns NULL.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_result_name(result: RawResult) -> *const c_char {
    ffi_boundary! {
        match hearsay_result::from_raw(result.0) {
            Some(code) => code.name().as_ptr(),
            None => c"HEARSAY_UNKNOWN".as_ptr(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_named() {
        for code in hearsay_result::ALL {
            assert_eq!(hearsay_result::from_raw(code as i32), Some(code));
            let name = code.name().to_str().unwrap();
            assert!(name.starts_with("HEARSAY_"));
        }
        assert_eq!(hearsay_result::from_raw(-42), None);
    }

    #[test]
    fn last_error_is_per_thread_and_nul_safe() {
        set_last_error("a\0b");
        // SAFETY: hearsay_last_error returns a valid NUL-terminated string.
        let text = unsafe { CStr::from_ptr(hearsay_last_error()) };
        assert_eq!(text.to_str().unwrap(), "a b");
        std::thread::spawn(|| {
            // SAFETY: as above.
            let text = unsafe { CStr::from_ptr(hearsay_last_error()) };
            assert_eq!(text.to_bytes(), b"");
        })
        .join()
        .unwrap();
    }
}
