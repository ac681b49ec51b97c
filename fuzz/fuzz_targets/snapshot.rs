//! Replaying a snapshot file: `serf::snapshot::parse`, whose input is
//! whatever a crash or a disk left behind.
#![no_main]

use hearsay::serf::snapshot::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (state, warnings) = parse(data);
    // At most one warning per line.
    assert!(warnings.len() <= data.split(|&b| b == b'\n').count());
    // The compacted file replays to the same state, without a warning.
    let (again, warnings) = parse(&state.to_bytes());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(again, state);
});
