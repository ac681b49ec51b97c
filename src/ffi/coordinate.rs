//! Network coordinates through the C ABI: a member's coordinate, the
//! estimated round-trip time between two members, and members sorted by it
//! (Consul's `?near=`).

use std::ffi::c_char;

use super::cast::to_boxed_ptr;
use super::error::{from_runtime, hearsay_result};
use super::members::hearsay_members;
use super::pool::hearsay_pool;

/// A Vivaldi network coordinate, filled by `hearsay_pool_coordinate`.
/// Distances are in seconds; `vec` holds `dimensions` values (8 by default).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct hearsay_coordinate {
    /// How many entries of `vec` are used.
    pub dimensions: u32,
    /// The position in Euclidean space, in seconds.
    pub vec: [f64; 64],
    /// Confidence in the position (lower is better), 0 to 1.5.
    pub error: f64,
    /// Adjustment term added to every distance, in seconds.
    pub adjustment: f64,
    /// Height (the access link's share of every round trip), in seconds.
    pub height: f64,
}

/// Writes the network coordinate of member `name` (NULL: the local node) to
/// `*out`. `HEARSAY_EMPTY` (1) when none is known yet (no probe of it has
/// been answered) or coordinates are off; `*out` is untouched then.
///
/// NULL `p` or `out` gives `HEARSAY_ERR_NULL_PARAMETER`, invalid UTF-8
/// `HEARSAY_ERR_INVALID_ARGUMENT`, a stopped pool `HEARSAY_ERR_CLOSED`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_coordinate(
    p: *const hearsay_pool,
    name: *const c_char,
    out: *mut hearsay_coordinate,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let out = try_out!(out);
        let name = if name.is_null() { p.pool.name().to_owned() } else { try_cstr!(name).to_owned() };
        match p.pool.coordinate(&name) {
            Ok(Some(c)) => {
                let mut vec = [0.0; 64];
                let n = c.vec.len().min(64);
                vec[..n].copy_from_slice(&c.vec[..n]);
                out.write(hearsay_coordinate {
                    dimensions: n as u32,
                    vec,
                    error: c.error,
                    adjustment: c.adjustment,
                    height: c.height,
                });
                hearsay_result::HEARSAY_OK
            }
            Ok(None) => hearsay_result::HEARSAY_EMPTY,
            Err(e) => from_runtime(e),
        }
    }
}

/// Writes to `*rtt_us` the round-trip time between members `a` and `b`
/// (NULL `b`: the local node) estimated from their coordinates, in
/// microseconds. `HEARSAY_EMPTY` (1) when either coordinate is unknown;
/// `*rtt_us` is untouched then.
///
/// NULL `p`, `a` or `rtt_us` gives `HEARSAY_ERR_NULL_PARAMETER`, invalid
/// UTF-8 `HEARSAY_ERR_INVALID_ARGUMENT`. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_estimated_rtt(
    p: *const hearsay_pool,
    a: *const c_char,
    b: *const c_char,
    rtt_us: *mut u64,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let a = try_cstr!(a);
        let b = if b.is_null() { None } else { Some(try_cstr!(b)) };
        let rtt_us = try_out!(rtt_us);
        match p.pool.estimated_rtt(a, b) {
            Ok(Some(rtt)) => {
                rtt_us.write(rtt.as_micros().min(u64::MAX as u128) as u64);
                hearsay_result::HEARSAY_OK
            }
            Ok(None) => hearsay_result::HEARSAY_EMPTY,
            Err(e) => from_runtime(e),
        }
    }
}

/// A snapshot of every member sorted by estimated round-trip time from
/// member `from` (NULL: the local node), nearest first; members without a
/// coordinate come last. Read and free it like `hearsay_pool_members`'s.
///
/// An unknown `from` gives `HEARSAY_ERR_INVALID_ARGUMENT`; NULL `p` or `out`
/// `HEARSAY_ERR_NULL_PARAMETER`; `*out` is untouched on error. Thread-safe.
#[no_mangle]
pub extern "C" fn hearsay_pool_members_near(
    p: *const hearsay_pool,
    from: *const c_char,
    out: *mut *mut hearsay_members,
) -> hearsay_result {
    ffi_boundary! {
        let p = try_ref!(p);
        let from = if from.is_null() { None } else { Some(try_cstr!(from)) };
        let out = try_out!(out);
        match p.pool.members_near(from) {
            Ok(sorted) => {
                let infos: Vec<_> = sorted.into_iter().map(|(m, _)| m).collect();
                out.write(to_boxed_ptr(hearsay_members::of(&infos)));
                hearsay_result::HEARSAY_OK
            }
            Err(e) => from_runtime(e),
        }
    }
}
