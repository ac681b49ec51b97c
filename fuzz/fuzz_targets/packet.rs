//! A pool receiving datagrams: header, label, decryption, compound
//! framing, each message, and the Serf messages and coordinates inside
//! them, through `Serf::handle_packet` (which drives `Swim::handle_packet`).
//! Several chunks reach one core in turn, so later packets meet the state
//! earlier ones built (a member to suspect, a probe to ack).
#![no_main]

use std::time::Instant;

use hearsay::wire::{decode_packet, PacketHeader, FLAG_ENCRYPTED};
use hearsay_fuzz::{chunks, core, deliverable, peer_addr, settle, MODE_KEYED, STEP};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut now = Instant::now();
    let mut serf = core(mode, now);
    for (n, chunk) in chunks(rest).into_iter().enumerate() {
        // The pure decoder and the core agree on the header.
        if let Ok(packet) = decode_packet(chunk) {
            assert_eq!(PacketHeader::parse(chunk).as_ref(), Ok(&packet.header));
        }
        let bytes = deliverable(mode, chunk, n);
        let result = serf.handle_packet(now, peer_addr(), &bytes);
        // A keyed core takes nothing it cannot authenticate.
        if mode & MODE_KEYED != 0 && result.is_ok() {
            let header = PacketHeader::parse(&bytes).expect("accepted, so it parsed");
            assert_ne!(header.flags & FLAG_ENCRYPTED, 0);
        }
        now += STEP;
        settle(&mut serf, now);
    }
});
