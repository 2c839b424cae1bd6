//! Any bytes as a tpmif v2 shared page, static or rewriting itself under the reader.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tpmback::page::{self, Parsed, Response};
use xenbus::PeerMemory;
use xenbus::abi::PAGE_SIZE;
use xenbus::abi::tpmif::{DATA, LOCALITY, MAX_PACKET, STATE, STATE_SUBMIT};
use xenbus::sim::{HeapMemory, HostileMemory};

fuzz_target!(|data: &[u8]| {
    let mut bytes = vec![0u8; PAGE_SIZE];
    let (page_bytes, schedule) = data.split_at(data.len().min(PAGE_SIZE));
    bytes[..page_bytes.len()].copy_from_slice(page_bytes);

    // A page that holds still: what is accepted is exactly what is there.
    let page = HeapMemory::from_bytes(bytes.clone());
    match page::read_request(&page).expect("a whole page is never out of bounds") {
        Parsed::Request { locality, command } => {
            assert_eq!(bytes[STATE], STATE_SUBMIT);
            assert!(!command.is_empty() && command.len() <= MAX_PACKET);
            assert_eq!(locality, bytes[LOCALITY]);
            assert_eq!(&command[..], &bytes[DATA..DATA + command.len()]);
            // Answering it is always possible and always ends in FINISH.
            let response = Response::new(&command).expect("fits: same size as the command");
            page::write_response(&page, response).unwrap();
            assert_eq!(page::read_request(&page).unwrap(), Parsed::Nothing);
        }
        Parsed::Invalid(_) => assert_eq!(bytes[STATE], STATE_SUBMIT),
        Parsed::Nothing | Parsed::Cancel | Parsed::BadState(_) => {}
    }

    // A page rewritten after every read, as the rest of the input dictates: each
    // byte is fetched at most once, nothing outside the page is touched.
    let hostile = HostileMemory::new(PAGE_SIZE);
    hostile.poke(0, &bytes);
    let schedule = schedule.to_vec();
    hostile.set_mutator(Box::new(move |page, _offset, _len, read| {
        for pair in schedule.chunks_exact(2).skip((read as usize) * 4).take(4) {
            let at = usize::from(pair[0]) % (DATA + 8);
            page[at] = pair[1];
        }
    }));
    if let Parsed::Request { command, .. } = page::read_request(&hostile).unwrap() {
        assert!(!command.is_empty() && command.len() <= MAX_PACKET);
    }
    assert_eq!(hostile.out_of_bounds(), 0);
    assert!(hostile.max_fetches(0..PAGE_SIZE) <= 1);
    let _ = hostile.len();
});
