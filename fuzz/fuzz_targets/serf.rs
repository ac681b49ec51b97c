//! The Serf layer's own decoders, reached directly rather than through a
//! SWIM `User` message: `SerfMessage::decode`, `SerfPushPull::decode`,
//! `KeyResponse::decode`, and a network coordinate from an ack fed to the
//! Vivaldi client. The first byte picks the decoder.
#![no_main]

use std::time::Duration;

use hearsay::coord::{CoordClient, CoordConfig, Coordinate};
use hearsay::wire::serf::{KeyResponse, SerfMessage, SerfPushPull};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            if let Ok(m) = SerfMessage::decode(bytes) {
                assert_eq!(SerfMessage::decode(&m.encode()), Ok(m));
            }
        }
        1 => {
            if let Ok(state) = SerfPushPull::decode(bytes) {
                assert_eq!(SerfPushPull::decode(&state.encode()), Ok(state));
            }
        }
        2 => {
            if let Some(r) = KeyResponse::decode(bytes) {
                assert_eq!(KeyResponse::decode(&r.encode()), Some(r));
            }
        }
        _ => {
            // The round-trip time rides in the first two bytes.
            let (rtt, payload) = bytes.split_at(bytes.len().min(2));
            let mut ms = [0u8; 2];
            ms[..rtt.len()].copy_from_slice(rtt);
            let rtt = Duration::from_millis(u16::from_be_bytes(ms) as u64);
            let Ok(peer) = ciborium::from_reader::<Coordinate, _>(payload) else {
                return;
            };
            let mut client = CoordClient::new(CoordConfig::default(), 1).unwrap();
            for _ in 0..3 {
                let _ = client.update("peer", &peer, rtt);
                assert!(client.coordinate().is_valid());
            }
            let _ = client.distance_to(&peer);
        }
    }
});
