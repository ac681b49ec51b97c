//! The panic boundary: no panic ever unwinds into C.
//!
//! Every exported body is wrapped in `ffi_boundary!`, which runs it under
//! [`std::panic::catch_unwind`]. A caught panic records its message as the
//! thread's last error and returns the fallback value of the function's
//! return type ([`Fallback`]): `HEARSAY_ERR_PANIC` for a `hearsay_result`,
//! NULL for a pointer, 0 for a count, false for a bool. The same trait gives
//! the value returned when a required pointer is NULL (see `cast`).
//!
//! This depends on `panic = "unwind"` in every profile that builds the C
//! library (see `Cargo.toml`); with `panic = "abort"` a panic would end the
//! process instead.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{hearsay_result, set_last_error};

/// What an exported function returns when it cannot do its work: after a
/// panic (`code` is `HEARSAY_ERR_PANIC`) or when an argument is unusable
/// (`code` says why). Only `hearsay_result` carries the code; every other
/// return type has one neutral value.
pub(crate) trait Fallback {
    fn fallback(code: hearsay_result) -> Self;
}

impl Fallback for hearsay_result {
    fn fallback(code: hearsay_result) -> Self {
        code
    }
}

impl<T> Fallback for *const T {
    fn fallback(_: hearsay_result) -> Self {
        std::ptr::null()
    }
}

impl<T> Fallback for *mut T {
    fn fallback(_: hearsay_result) -> Self {
        std::ptr::null_mut()
    }
}

impl Fallback for () {
    fn fallback(_: hearsay_result) -> Self {}
}

impl Fallback for bool {
    fn fallback(_: hearsay_result) -> Self {
        false
    }
}

impl Fallback for usize {
    fn fallback(_: hearsay_result) -> Self {
        0
    }
}

impl Fallback for u32 {
    fn fallback(_: hearsay_result) -> Self {
        0
    }
}

impl Fallback for u64 {
    fn fallback(_: hearsay_result) -> Self {
        0
    }
}

/// `int` results are descriptors: -1 is "none", never 0 (standard input).
impl Fallback for std::ffi::c_int {
    fn fallback(_: hearsay_result) -> Self {
        -1
    }
}

/// Runs `body`, turning a panic into the fallback value of `T` and a last
/// error that starts with "panic: ".
pub(crate) fn boundary<T: Fallback>(body: impl FnOnce() -> T) -> T {
    // AssertUnwindSafe: after a panic nothing of the body's state is used
    // again; the shared state behind the pointers (pool queues, runtime
    // channels) tolerates an abandoned operation, and lock poisoning is
    // ignored where locks are taken.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
                (*s).to_owned()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "unknown payload".to_owned()
            };
            // Dropping the payload could itself panic: contain that too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            set_last_error(format!("panic: {message}"));
            T::fallback(hearsay_result::HEARSAY_ERR_PANIC)
        }
    }
}

/// Wraps the body of an exported function in the panic boundary. Early
/// `return`s inside the body (including those of the `cast` macros) return
/// from the wrapped closure, i.e. from the function.
macro_rules! ffi_boundary {
    ( $( $body:tt )* ) => {
        $crate::ffi::panic::boundary(move || { $( $body )* })
    };
}

/// For tests of the boundary only: panics inside an exported function.
///
/// Always returns `HEARSAY_ERR_PANIC`, and `hearsay_last_error()` then
/// starts with "panic: ". It changes no state, takes no pointer and is
/// thread-safe. The panic message is also printed on standard error by
/// Rust's default panic hook. Not for use outside tests.
#[no_mangle]
pub extern "C" fn hearsay_test_panic() -> hearsay_result {
    ffi_boundary! {
        if std::hint::black_box(true) {
            panic!("hearsay_test_panic was called");
        }
        hearsay_result::HEARSAY_OK
    }
}

/// For tests of the boundary only: panics inside an exported function that
/// returns a pointer.
///
/// Always returns NULL, and `hearsay_last_error()` then starts with
/// "panic: ". Thread-safe. Not for use outside tests.
#[no_mangle]
pub extern "C" fn hearsay_test_panic_ptr() -> *const c_char {
    ffi_boundary! {
        if std::hint::black_box(true) {
            panic!("hearsay_test_panic_ptr was called");
        }
        c"unreachable".as_ptr()
    }
}
