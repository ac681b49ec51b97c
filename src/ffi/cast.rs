//! All raw-pointer handling of the C ABI.
//!
//! Each C-named type says how C holds it through [`Castable`]: a Box handed
//! out by a `_new` or a snapshot call and taken back by its `_free`
//! ([`OwnershipBox`]), or a pointer borrowed from its owner and never freed
//! on its own ([`OwnershipRef`]). The helpers below only accept what the
//! ownership allows, so a borrowed member can never be freed as a Box, and
//! no conversion is a bare `as`.
//!
//! The `try_*!` macros are used at the top of exported bodies (inside
//! `ffi_boundary!`). A NULL where a value is required records a last error
//! naming the argument and returns early with the fallback of the
//! function's return type: `HEARSAY_ERR_NULL_PARAMETER` for a
//! `hearsay_result`, NULL, 0 or false otherwise.
//!
//! What cannot be checked is the caller's promise, stated in the header:
//! a non-NULL pointer points to a live object of the right type (or a
//! buffer of the stated size), and a `_free`d object is not used again.

use std::ffi::{c_char, CStr};
use std::marker::PhantomData;

/// Ownership of an object handed to C as a Box (`_new` / `_free`).
pub(crate) struct OwnershipBox;

/// Ownership of an object borrowed from another (never freed by C).
pub(crate) struct OwnershipRef;

/// Links a C-named type to how C holds it.
pub(crate) trait Castable {
    type Ownership;
}

/// Moves `value` to the heap and hands its pointer to C.
pub(crate) fn to_boxed_ptr<T: Castable<Ownership = OwnershipBox>>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back a pointer made by [`to_boxed_ptr`] and drops it. NULL does
/// nothing.
///
/// # Safety
/// `ptr` is NULL or came from `to_boxed_ptr::<T>` and was not freed yet, and
/// no other thread uses it any more.
pub(crate) unsafe fn free_boxed<T: Castable<Ownership = OwnershipBox>>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: the caller's promise above: a live Box of T, used by no one.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// A shared reference from a pointer, or None for NULL.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that outlives `'a` and is not
/// mutated during `'a`.
pub(crate) unsafe fn try_ref<'a, T: Castable>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: the caller's promise above.
    unsafe { ptr.as_ref() }
}

/// An exclusive reference from a pointer, or None for NULL. Only for boxed
/// objects that are documented as not thread-safe (the config).
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that outlives `'a`, which nothing
/// else uses during `'a`.
pub(crate) unsafe fn try_mut<'a, T: Castable<Ownership = OwnershipBox>>(
    ptr: *mut T,
) -> Option<&'a mut T> {
    // SAFETY: the caller's promise above.
    unsafe { ptr.as_mut() }
}

/// Reads `*const T` and `*mut T` arguments alike as `*const T`, so that
/// `try_ref!` works on both without an `as`.
pub(crate) trait ConstPtr<T> {
    fn to_const(self) -> *const T;
}

impl<T> ConstPtr<T> for *const T {
    fn to_const(self) -> *const T {
        self
    }
}

impl<T> ConstPtr<T> for *mut T {
    fn to_const(self) -> *const T {
        self.cast_const()
    }
}

/// Why a C string cannot be used.
pub(crate) enum CStrError {
    Null,
    Utf8,
}

/// A `&str` from a NUL-terminated C string.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that lives and does
/// not change during `'a`.
pub(crate) unsafe fn try_str<'a>(ptr: *const c_char) -> Result<&'a str, CStrError> {
    if ptr.is_null() {
        return Err(CStrError::Null);
    }
    // SAFETY: the caller's promise above; NULL was excluded.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str().map_err(|_| CStrError::Utf8)
}

/// Why a C array cannot be used.
pub(crate) enum SliceError {
    Null,
    TooLong,
}

/// A slice from a pointer and a count. NULL with a count of 0 is the empty
/// slice.
///
/// # Safety
/// `ptr` is NULL (then `len` is 0) or points to `len` initialised `T`s that
/// live and do not change during `'a`.
pub(crate) unsafe fn try_slice<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], SliceError> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(SliceError::Null);
    }
    if len.saturating_mul(std::mem::size_of::<T>()) > isize::MAX as usize {
        return Err(SliceError::TooLong);
    }
    // SAFETY: the caller's promise above; non-NULL, size checked against
    // isize::MAX as from_raw_parts requires.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// An out-parameter: a place the caller provided, written at most once and
/// only on success.
pub(crate) struct Out<'a, T> {
    ptr: *mut T,
    _life: PhantomData<&'a mut T>,
}

impl<T> Out<'_, T> {
    /// Checks `ptr` for NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or points to memory valid for writing a `T`.
    pub(crate) unsafe fn new(ptr: *mut T) -> Option<Self> {
        if ptr.is_null() {
            None
        } else {
            Some(Out {
                ptr,
                _life: PhantomData,
            })
        }
    }

    /// Writes `value` (without reading or dropping what was there, which
    /// C may have left uninitialised).
    pub(crate) fn write(self, value: T) {
        // SAFETY: checked non-NULL in `new`, whose caller promised it is
        // writable; `write` neither reads nor drops the old contents.
        unsafe { self.ptr.write(value) }
    }

    /// The raw place, for callers that write part of it (versioned
    /// structs).
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.ptr
    }
}

/// Records that an argument is NULL and gives the fallback of the caller's
/// return type.
pub(crate) fn null_argument<T: super::panic::Fallback>(name: impl std::fmt::Display) -> T {
    super::error::set_last_error(format!("argument `{name}` is NULL"));
    T::fallback(super::error::hearsay_result::HEARSAY_ERR_NULL_PARAMETER)
}

/// Records that an argument is invalid and gives the fallback of the
/// caller's return type.
pub(crate) fn invalid_argument<T: super::panic::Fallback>(message: String) -> T {
    super::error::set_last_error(message);
    T::fallback(super::error::hearsay_result::HEARSAY_ERR_INVALID_ARGUMENT)
}

/// `&T` from a `*const T` or `*mut T` argument; returns early on NULL.
/// Shared references only: objects used from several threads at once are
/// never borrowed exclusively.
macro_rules! try_ref {
    ($ptr:ident) => {
        // SAFETY: the header requires a non-NULL `$ptr` to point to a live
        // object of its type for the duration of the call; NULL is checked.
        match unsafe { $crate::ffi::cast::try_ref($crate::ffi::cast::ConstPtr::to_const($ptr)) } {
            Some(value) => value,
            None => return $crate::ffi::cast::null_argument(stringify!($ptr)),
        }
    };
}

/// `&mut T` from a `*mut T` argument; returns early on NULL. Only for
/// objects the header documents as not thread-safe.
macro_rules! try_mut {
    ($ptr:ident) => {
        // SAFETY: the header requires a non-NULL `$ptr` to point to a live
        // object that no other thread uses during the call; NULL is checked.
        match unsafe { $crate::ffi::cast::try_mut($ptr) } {
            Some(value) => value,
            None => return $crate::ffi::cast::null_argument(stringify!($ptr)),
        }
    };
}

/// `&str` from a `const char *` argument; returns early on NULL or invalid
/// UTF-8 (`HEARSAY_ERR_INVALID_ARGUMENT`).
macro_rules! try_cstr {
    ($ptr:expr, $name:expr) => {
        // SAFETY: the header requires a non-NULL string argument to be
        // NUL-terminated and unchanged during the call; NULL is checked.
        match unsafe { $crate::ffi::cast::try_str($ptr) } {
            Ok(text) => text,
            Err($crate::ffi::cast::CStrError::Null) => {
                return $crate::ffi::cast::null_argument($name)
            }
            Err($crate::ffi::cast::CStrError::Utf8) => {
                return $crate::ffi::cast::invalid_argument(format!(
                    "argument `{}` is not valid UTF-8",
                    $name
                ))
            }
        }
    };
    ($ptr:ident) => {
        try_cstr!($ptr, stringify!($ptr))
    };
}

/// `&[T]` from a pointer and count argument; returns early on NULL with a
/// non-zero count.
macro_rules! try_slice {
    ($ptr:ident, $len:expr) => {
        // SAFETY: the header requires a non-NULL array argument to hold
        // `$len` initialised elements during the call; NULL is checked.
        match unsafe { $crate::ffi::cast::try_slice($ptr, $len) } {
            Ok(items) => items,
            Err($crate::ffi::cast::SliceError::Null) => {
                return $crate::ffi::cast::null_argument(stringify!($ptr))
            }
            Err($crate::ffi::cast::SliceError::TooLong) => {
                return $crate::ffi::cast::invalid_argument(format!(
                    "argument `{}` is longer than memory",
                    stringify!($ptr)
                ))
            }
        }
    };
}

/// An [`Out`] from an out-parameter; returns early on NULL.
macro_rules! try_out {
    ($ptr:ident) => {
        // SAFETY: the header requires a non-NULL out-parameter to be
        // writable for its type; NULL is checked.
        match unsafe { $crate::ffi::cast::Out::new($ptr) } {
            Some(out) => out,
            None => return $crate::ffi::cast::null_argument(stringify!($ptr)),
        }
    };
}
