//! `hearsay_runtime`: the background thread that drives pools.

use super::cast::{free_boxed, to_boxed_ptr, Castable, OwnershipBox};
use super::error::{from_runtime, hearsay_result};
use crate::runtime::Runtime;

/// A runtime: one background thread that runs every pool created on it.
/// Create with `hearsay_runtime_new`, free with `hearsay_runtime_free`.
/// Thread-safe: any thread may create pools on it at the same time.
#[allow(non_camel_case_types)]
pub struct hearsay_runtime {
    pub(crate) runtime: Runtime,
}

impl Castable for hearsay_runtime {
    type Ownership = OwnershipBox;
}

/// Starts a runtime: one background thread (named "hearsay-rt") that will
/// run the pools created on it.
///
/// On success writes a new runtime to `*out`; the caller owns it and frees it
/// with `hearsay_runtime_free`. `out` must not be NULL
/// (`HEARSAY_ERR_NULL_PARAMETER`). On error `*out` is untouched and
/// `HEARSAY_ERR_IO` means the thread could not be started. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_runtime_new(out: *mut *mut hearsay_runtime) -> hearsay_result {
    ffi_boundary! {
        let out = try_out!(out);
        match Runtime::new() {
            Ok(runtime) => {
                out.write(to_boxed_ptr(hearsay_runtime { runtime }));
                hearsay_result::HEARSAY_OK
            }
            Err(e) => from_runtime(e),
        }
    }
}

/// Stops every pool of the runtime (at once, without leaving) and joins its
/// thread, then frees it. NULL does nothing.
///
/// Pools created on it stay valid handles: calls on them then return
/// `HEARSAY_ERR_CLOSED`, and each must still be freed with
/// `hearsay_pool_free`. The caller must not use `rt` afterwards, nor free it
/// while another thread is using it (e.g. inside `hearsay_pool_new`).
#[no_mangle]
pub extern "C" fn hearsay_runtime_free(rt: *mut hearsay_runtime) {
    ffi_boundary! {
        // SAFETY: the header requires `rt` to be NULL or a runtime from
        // hearsay_runtime_new that is not used any more.
        unsafe { free_boxed(rt) }
    }
}
