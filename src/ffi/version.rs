//! Versions: of the library and of its C ABI.

use std::ffi::c_char;

/// The major version of the C ABI: bumped only when a symbol, signature,
/// layout or number changes incompatibly.
pub const HEARSAY_ABI_VERSION_MAJOR: u32 = 1;

/// The minor version of the C ABI: bumped when symbols or numbers are added.
pub const HEARSAY_ABI_VERSION_MINOR: u32 = 0;

/// The C ABI version this header describes: major << 16 | minor. Compare
/// with `hearsay_abi_version()` to detect a library older than the header:
/// the majors must be equal and the library's minor at least the header's.
pub const HEARSAY_ABI_VERSION: u32 = (HEARSAY_ABI_VERSION_MAJOR << 16) | HEARSAY_ABI_VERSION_MINOR;

/// The C ABI version of the loaded library: major << 16 | minor (see
/// `HEARSAY_ABI_VERSION`). Never fails; thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_abi_version() -> u32 {
    HEARSAY_ABI_VERSION
}

/// The loaded library's version, e.g. "0.1.0".
///
/// Ownership: a static string; do not free it. Never NULL; thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_the_package() {
        // SAFETY: hearsay_version returns a static NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(hearsay_version()) };
        assert_eq!(text.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        assert_eq!(hearsay_abi_version() >> 16, HEARSAY_ABI_VERSION_MAJOR);
    }
}
