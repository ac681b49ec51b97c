//! hearsay: an embeddable gossip membership runtime.
//!
//! SWIM failure detection with the Lifeguard refinements ([`swim`]), framed
//! and encoded by [`wire`], exercised at scale by the deterministic
//! simulator ([`sim`]), driven on real sockets by [`runtime`] and exposed to
//! C through `ffi`. Everything but `runtime` and `ffi` is sans-IO: no
//! sockets, no clock, no threads.

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod coord;
pub mod ffi;
pub mod runtime;
pub mod serf;
pub mod sim;
pub mod swim;
pub mod wire;
