//! A pool receiving a stream frame (without its length prefix): unasked
//! through `Serf::handle_stream` (push-pull, fallback ping, user message),
//! or as the reply to its own join through `Serf::handle_stream_reply`;
//! and `wire::decode_stream_frame` on the same bytes. Each chunk is one
//! frame; frames after the first meet the state the first built.
#![no_main]

use std::time::Instant;

use hearsay::wire::{decode_stream_frame, Message, FLAG_COMPOUND};
use hearsay_fuzz::{
    chunks, core, deliverable, peer_addr, read_own_frame, settle, MODE_REPLY, STEP,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut now = Instant::now();
    let mut serf = core(mode, now);
    for (n, chunk) in chunks(rest).into_iter().enumerate() {
        let request = decode_stream_frame(chunk);
        if let Ok((header, _)) = &request {
            assert_eq!(header.flags & FLAG_COMPOUND, 0);
        }
        let frame = deliverable(mode, chunk, n);
        if mode & MODE_REPLY != 0 {
            let token = serf.join(now, peer_addr(), n % 2 == 1);
            settle(&mut serf, now);
            let _ = serf.handle_stream_reply(now, token, Ok(&frame));
        } else if let Ok(Some(reply)) = serf.handle_stream(now, peer_addr(), &frame) {
            // Only a ping or a push-pull is answered, in kind.
            let (len, reply) = reply.split_at(4);
            assert_eq!(
                u32::from_be_bytes(len.try_into().unwrap()) as usize,
                reply.len()
            );
            match (
                request.map(|(_, m)| m),
                read_own_frame(reply, serf.keyring()),
            ) {
                (Ok(Message::Ping(ping)), Some(Message::Ack(ack))) => {
                    assert_eq!(ping.seq, ack.seq)
                }
                (Ok(Message::PushPull(_)), Some(Message::PushPull(_))) => {}
                (Ok(_), None) => {}
                (request, reply) => panic!("{request:?} answered with {reply:?}"),
            }
        }
        now += STEP;
        settle(&mut serf, now);
    }
});
