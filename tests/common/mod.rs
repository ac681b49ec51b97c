//! Helpers shared by the tests on real sockets.

use std::time::{Duration, Instant};

/// Polls `cond` until it holds, failing the test after `within`: the only
/// way these tests wait for something to happen.
pub fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}
