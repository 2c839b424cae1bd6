//! Fuzz target: arbitrary bytes as a control-channel message and as a data-channel
//! stream of `vtpm-tool serve`. The control parser must stay within the message,
//! and the data framer must only ever hand on whole commands no larger than the
//! bound it was given.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use tpm_engine::Family;
use tpm_engine::wire::Header;
use vtpm_tool::{ctrl, data};

fuzz_target!(|bytes: &[u8]| {
    let needed = ctrl::needed(bytes);
    assert!(needed >= 4);
    if let Some(message) = ctrl::parse(bytes) {
        let _ = message.needs_running();
        if let Ok(ctrl::Request::HashData { first, total } | ctrl::Request::SetStateBlob { first, total, .. }) =
            message.request
        {
            assert!(first.len() < bytes.len());
            let _ = total;
        }
    }
    let max = bytes.first().map_or(0, |b| usize::from(*b) * 16);
    for family in [Family::Tpm12, Family::Tpm20] {
        let mut stream = Cursor::new(bytes);
        while let Ok(frame) = data::read_frame(&mut stream, family, max) {
            assert!(frame.command.len() <= max);
            assert!(Header::parse(&frame.command).is_ok());
        }
    }
});
