//! Any bytes as xenstored's response stream: the decoder and payload parsers, then
//! the whole client with the bytes arriving ahead of a real reply.

#![no_main]

use libfuzzer_sys::fuzz_target;
use xenbus::Store;
use xenbus::sim::Sim;
use xenbus::wire::{self, Decoder, StoreErrno};

fuzz_target!(|data: &[u8]| {
    // The codec, fed in uneven pieces.
    let mut decoder = Decoder::new();
    for piece in data.chunks(37) {
        decoder.push(piece);
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => {
                    assert!(message.payload.len() <= 4096);
                    assert_eq!(message.payload.len(), message.header.len as usize);
                    let _ = wire::parse_directory(&message.payload);
                    let _ = wire::parse_permissions(&message.payload);
                    let _ = wire::parse_transaction_id(&message.payload);
                    let _ = wire::parse_watch_event(&message.payload);
                    let _ = wire::parse_ack(&message.payload);
                    let _ = StoreErrno::parse(&message.payload);
                }
                Ok(None) => break,
                // A bad header ends the stream for good.
                Err(_) => return,
            }
        }
    }

    // The client: the bytes sit in the ring before the reply to its request. It must
    // come back, never panic or wait forever. (Bytes that happen to frame a reply
    // with the right ids cannot be told from xenstored's: only the framing and the
    // ids are checked, so the value itself is asserted only for an empty prefix.)
    let sim = Sim::new();
    let bus = sim.bus(3);
    bus.store().watch("w", "token").unwrap();
    sim.world().store_write("/local/domain/3/k", "value");
    sim.world().xenstored.inject_raw(3, data);
    let result = bus.store().read("k");
    if data.is_empty() {
        assert_eq!(result.as_deref(), Ok("value"));
    }
    while bus.store().next_event("token").is_some() {}
});
