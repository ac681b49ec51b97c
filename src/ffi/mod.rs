//! The C ABI: every `extern "C"` symbol of `include/hearsay.h`.
//!
//! This module owns all raw-pointer handling and all conversions between C
//! and the safe [`crate::runtime`] API. It holds no protocol or networking
//! logic of its own, and it never lets a panic unwind into C.
//!
//! Layout (after rustls-ffi): [`panic`] wraps every exported body in
//! `ffi_boundary!`; [`cast`] is the only place raw pointers become
//! references; [`error`] defines `hearsay_result` and the thread-local last
//! error; then one file per C type. The header is generated from these files
//! by cbindgen (`cbindgen.toml`); the doc comments here are its
//! documentation, and `docs/ABI.md` states the stability policy.
//!
//! Conventions of every call:
//! - receiver first, then inputs, then outputs; a buffer is followed by its
//!   size;
//! - fallible calls return [`error::hearsay_result`] and write
//!   out-parameters only on success; the message of the last failure on the
//!   calling thread is `hearsay_last_error()`;
//! - every pointer is checked: NULL where a value is required gives
//!   `HEARSAY_ERR_NULL_PARAMETER` (or NULL / 0 / false for calls that do not
//!   return a result); `_free(NULL)` does nothing;
//! - `const` pointers are never mutated through.
#![allow(unsafe_code)]
// The C side has no `unsafe`: the header documents what a caller must
// guarantee about each pointer, and `cast` checks what can be checked.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

#[macro_use]
pub mod panic;
#[macro_use]
pub mod cast;
pub mod config;
pub mod coordinate;
pub mod error;
pub mod event;
pub mod keyring;
pub mod members;
pub mod pool;
pub mod query;
pub mod runtime;
pub mod version;
