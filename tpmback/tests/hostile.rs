//! tpmback against a frontend that rewrites its page while the backend reads it.
//!
//! Whatever the frontend does, the backend never reads outside the page, never
//! panics, fetches every header byte and every data byte at most once per request,
//! and an accepted request is exactly the bytes the page held when they were copied.

#![allow(
    clippy::cast_possible_truncation,
    reason = "test data: byte patterns from small ids and seeds"
)]

use proptest::prelude::*;
use std::rc::Rc;
use tpmback::testing::FakeFrontend;
use tpmback::{Config, Event, Tpmback};
use xenbus::XenbusState;
use xenbus::abi::PAGE_SIZE;
use xenbus::abi::tpmif::{DATA, LOCALITY, MAX_PACKET, STATE, STATE_SUBMIT};
use xenbus::sim::{HostileMemory, Sim};

const BACK: u16 = 1;
const FRONT: u16 = 7;

/// A small deterministic generator for the frontend's rewrites.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn header_value(seed: u64) -> (u32, u8, u8, u8) {
    let lengths = [0, 1, 10, 4087, 4088, 4089, 4096, 65536, u32::MAX];
    let length = lengths[(seed % lengths.len() as u64) as usize];
    let state = [STATE_SUBMIT, 0, 2, 3, 4, 255][((seed >> 8) % 6) as usize];
    let locality = (seed >> 16) as u8;
    let extra = if (seed >> 24).is_multiple_of(4) { (seed >> 32) as u8 } else { 0 };
    (length, state, locality, extra)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hostile_frontend_cannot_make_the_backend_misbehave(seed in 1u64.., first in any::<u64>(), data_len in 0usize..=PAGE_SIZE) {
        let sim = Sim::new();
        let bus = sim.bus(BACK);
        let mut back = Tpmback::new(Rc::clone(&bus), Config::default()).unwrap();
        let page = HostileMemory::new(PAGE_SIZE);
        let mut front = FakeFrontend::attach_with_page(
            &sim, BACK, FRONT, 0, "00000000-0000-0000-0000-000000000001", page.clone().into(),
        );
        sim.run();
        while back.poll().is_some() {}
        front.connect(XenbusState::Initialised);
        for _ in 0..3 {
            sim.run();
            while back.poll().is_some() {}
        }

        // The frontend writes a header (valid or not) and data, then keeps rewriting
        // the header and the data after every read the backend makes.
        let (length, state, locality, extra) = header_value(first);
        let data: Vec<u8> = (0..data_len.min(PAGE_SIZE - DATA)).map(|i| (i as u8) ^ (seed as u8)).collect();
        front.write_header(length, state, locality, extra, &data);
        page.reset_counts();
        let mut rng = XorShift(seed);
        page.set_mutator(Box::new(move |bytes, _offset, _len, _n| {
            let (length, state, locality, extra) = header_value(rng.next());
            bytes[0..4].copy_from_slice(&length.to_ne_bytes());
            bytes[STATE] = state;
            bytes[LOCALITY] = locality;
            bytes[7] = extra;
            let at = DATA + (rng.next() as usize % (PAGE_SIZE - DATA));
            bytes[at] = bytes[at].wrapping_add(1);
        }));

        sim.run();
        let mut accepted = None;
        while let Some(event) = back.poll() {
            if let Event::Request(request) = event {
                accepted = Some(request);
            }
        }
        page.clear_mutator();

        prop_assert_eq!(page.out_of_bounds(), 0);
        prop_assert!(page.max_fetches(0..DATA) <= 1, "a header byte was fetched twice");
        prop_assert!(page.max_fetches(DATA..PAGE_SIZE) <= 1, "a data byte was fetched twice");
        let log = page.log();
        if let Some(request) = accepted {
            prop_assert!(!request.command.is_empty() && request.command.len() <= MAX_PACKET);
            let locality_fetch = log.iter().find(|f| f.offset <= LOCALITY && LOCALITY < f.offset + f.bytes.len()).unwrap();
            prop_assert_eq!(request.locality, locality_fetch.bytes[LOCALITY - locality_fetch.offset]);
            let data_fetch = log.iter().find(|f| f.offset == DATA).unwrap();
            prop_assert_eq!(&request.command, &data_fetch.bytes);
            let state_fetch = log.iter().find(|f| f.offset == STATE).unwrap();
            prop_assert_eq!(state_fetch.bytes[0], STATE_SUBMIT);
            back.respond(request.reply_to(), b"response").unwrap();
        }
        // Whatever happened, the backend still serves a well-behaved request.
        front.submit(b"next", 0);
        sim.run();
        let mut served = false;
        while let Some(event) = back.poll() {
            if let Event::Request(request) = event {
                prop_assert_eq!(request.command.as_slice(), b"next");
                back.respond(request.reply_to(), b"ok").unwrap();
                served = true;
            }
        }
        prop_assert!(served);
    }
}
