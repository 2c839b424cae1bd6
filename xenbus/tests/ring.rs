//! io/ring.h arithmetic across the u32 wrap, overflow detection, notification rule.

use proptest::prelude::*;
use xenbus::PeerMemory;
use xenbus::abi::ring::{REQ_EVENT, REQ_PROD, RSP_EVENT, RSP_PROD};
use xenbus::ring::{BackRing, FrontRing, RingError, byte_ring_used, needs_notify};
use xenbus::sim::HeapMemory;

const SIZE: u32 = 32;
const ENTRY: usize = 112;

fn page() -> HeapMemory {
    HeapMemory::new(4096)
}

/// Both ends over one page, all indices at `start`.
fn pair(start: u32) -> (HeapMemory, FrontRing, BackRing) {
    let memory = page();
    for offset in [REQ_PROD, RSP_PROD] {
        memory.write_u32(offset, start).unwrap();
    }
    memory.write_u32(REQ_EVENT, start.wrapping_add(1)).unwrap();
    memory.write_u32(RSP_EVENT, start.wrapping_add(1)).unwrap();
    (memory, FrontRing::at(SIZE, ENTRY, start), BackRing::at(SIZE, ENTRY, start))
}

proptest! {
    #[test]
    fn requests_and_responses_flow_across_the_wrap(start in (u32::MAX - 100)..=u32::MAX, batches in prop::collection::vec(1u32..=SIZE, 1..20)) {
        let (memory, mut front, mut back) = pair(start);
        let mut sent = 0u64;
        for batch in batches {
            let mut offsets = Vec::new();
            for i in 0..batch {
                let offset = front.next_request().unwrap();
                memory.write(offset, &(sent + u64::from(i)).to_ne_bytes()).unwrap();
                offsets.push(offset);
            }
            prop_assert_eq!(front.free_requests(), SIZE - batch);
            front.push_requests(&memory).unwrap();
            prop_assert_eq!(back.unconsumed_requests(&memory).unwrap(), batch);
            for i in 0..batch {
                let offset = back.take_request(&memory);
                let mut id = [0u8; 8];
                memory.read(offset, &mut id).unwrap();
                prop_assert_eq!(u64::from_ne_bytes(id), sent + u64::from(i));
                let out = back.next_response();
                memory.write(out, &id).unwrap();
            }
            back.push_responses(&memory).unwrap();
            prop_assert_eq!(front.unconsumed_responses(&memory).unwrap(), batch);
            for i in 0..batch {
                let offset = front.take_response();
                let mut id = [0u8; 8];
                memory.read(offset, &mut id).unwrap();
                prop_assert_eq!(u64::from_ne_bytes(id), sent + u64::from(i));
            }
            prop_assert_eq!(front.outstanding(), 0);
            sent += u64::from(batch);
        }
    }

    #[test]
    fn backend_rejects_more_requests_than_slots(start: u32, extra in 1u32..1000) {
        let (memory, _, back) = pair(start);
        memory.write_u32(REQ_PROD, start.wrapping_add(SIZE).wrapping_add(extra)).unwrap();
        let result = back.unconsumed_requests(&memory);
        let is_overflow = matches!(result, Err(xenbus::Error::Ring(RingError::RequestOverflow { .. })));
        prop_assert!(is_overflow);
    }

    #[test]
    fn backend_rejects_an_index_moved_backwards(start: u32, back_by in 1u32..1000) {
        let (memory, _, back) = pair(start);
        memory.write_u32(REQ_PROD, start.wrapping_sub(back_by)).unwrap();
        prop_assert!(back.unconsumed_requests(&memory).is_err());
    }

    #[test]
    fn frontend_rejects_more_responses_than_requests(start: u32, requests in 0u32..=SIZE, extra in 1u32..1000) {
        let (memory, mut front, _) = pair(start);
        for _ in 0..requests {
            front.next_request().unwrap();
        }
        front.push_requests(&memory).unwrap();
        memory.write_u32(RSP_PROD, start.wrapping_add(requests).wrapping_add(extra)).unwrap();
        let result = front.unconsumed_responses(&memory);
        let is_overflow = matches!(result, Err(xenbus::Error::Ring(RingError::ResponseOverflow { .. })));
        prop_assert!(is_overflow);
    }

    #[test]
    fn notify_exactly_when_the_event_index_is_passed(old: u32, step in 0u32..64, event_offset in 0u32..128) {
        let new = old.wrapping_add(step);
        let event = old.wrapping_add(event_offset);
        // The peer wants an event when the index reaches `event` (in (old, new]).
        let expected = event_offset >= 1 && event_offset <= step;
        prop_assert_eq!(needs_notify(old, new, event), expected);
    }

    #[test]
    fn byte_ring_usage_is_checked(prod: u32, used in 0u32..=2048) {
        let cons = prod.wrapping_sub(used);
        prop_assert_eq!(byte_ring_used(prod, cons, 1024), (used <= 1024).then_some(used));
    }
}

#[test]
fn front_ring_is_full_after_size_requests() {
    let (_, mut front, _) = pair(u32::MAX - 3);
    for _ in 0..SIZE {
        assert!(front.next_request().is_some());
    }
    assert_eq!(front.free_requests(), 0);
    assert!(front.next_request().is_none());
}

#[test]
fn final_check_asks_for_the_next_response() {
    let memory = page();
    let mut front = FrontRing::init(&memory, SIZE, ENTRY).unwrap();
    front.next_request().unwrap();
    front.push_requests(&memory).unwrap();
    assert_eq!(front.final_check(&memory).unwrap(), 0);
    assert_eq!(memory.read_u32(RSP_EVENT).unwrap(), 1);
}

#[test]
fn push_notifies_only_when_the_backend_asked() {
    let memory = page();
    let mut front = FrontRing::init(&memory, SIZE, ENTRY).unwrap();
    front.next_request().unwrap();
    // req_event = 1 after init: the first request must be signalled.
    assert!(front.push_requests(&memory).unwrap());
    // The backend has not re-armed (req_event still 1): no event for the second.
    front.next_request().unwrap();
    assert!(!front.push_requests(&memory).unwrap());
}
