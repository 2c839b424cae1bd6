//! The xenstore client against the simulator's xenstored, over the real ring protocol.

use xenbus::sim::{Injection, Sim};
use xenbus::store::{DEFAULT_TIMEOUT_NS, MAX_QUEUED_EVENTS, TRANSACTION_ATTEMPTS};
use xenbus::wire::{Access, Header, MessageType, Permission, WireError};
use xenbus::{DomainId, Error, Store, StoreErrno};

const DOM: u16 = 5;

#[test]
fn read_write_directory_rm_round_trip() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    let mut store = bus.store();
    store.write("device/vtpm/0/state", "1").unwrap();
    store.write("device/vtpm/0/handle", "0").unwrap();
    assert_eq!(store.read("device/vtpm/0/state").unwrap(), "1");
    assert_eq!(store.directory("device/vtpm/0").unwrap(), ["handle", "state"]);
    store.mkdir("data").unwrap();
    assert_eq!(store.read("data").unwrap(), "");
    store.rm("device/vtpm").unwrap();
    assert_eq!(store.try_read("device/vtpm/0/state").unwrap(), None);
    assert_eq!(store.read("device/vtpm/0/state"), Err(Error::Store(StoreErrno::NoEntry)));
    drop(store);
    assert!(!sim.world().xenstored.exists("/local/domain/5/device/vtpm"));
    assert!(sim.world().xenstored.exists("/local/domain/5/device"));
}

#[test]
fn relative_paths_live_under_the_domain_home() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    bus.store().write("name", "vtpm").unwrap();
    assert_eq!(sim.world().store_read("/local/domain/5/name").as_deref(), Some("vtpm"));
    sim.world().store_write("/local/domain/5/other", "x");
    assert_eq!(bus.store().read("/local/domain/5/other").unwrap(), "x");
}

#[test]
fn numbers_are_parsed_strictly() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    let mut store = bus.store();
    store.write("a", "4096").unwrap();
    store.write("b", "40x").unwrap();
    assert_eq!(store.read_number("a").unwrap(), 4096);
    assert_eq!(store.read_number("b"), Err(Error::BadValue));
}

#[test]
fn permissions_round_trip() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    let mut store = bus.store();
    store.write("shared", "1").unwrap();
    let wanted = [
        Permission { domain: DomainId(DOM), access: Access::None },
        Permission { domain: DomainId(7), access: Access::Read },
    ];
    store.set_permissions("shared", &wanted).unwrap();
    assert_eq!(store.permissions("shared").unwrap(), wanted);
    assert_eq!(store.set_permissions("shared", &[]), Err(Error::InvalidArgument));
}

#[test]
fn error_replies_become_typed_errors() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    sim.world().xenstored.inject(Injection {
        kind: Some(MessageType::Write),
        path_suffix: Some("locked".into()),
        errno: "EACCES",
        times: 1,
    });
    let mut store = bus.store();
    assert_eq!(store.write("locked", "1"), Err(Error::Store(StoreErrno::AccessDenied)));
    store.write("locked", "1").unwrap();
}

#[test]
fn invalid_requests_are_refused_before_sending() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    let mut store = bus.store();
    assert_eq!(store.read("a\0b"), Err(Error::InvalidArgument));
    assert_eq!(store.read(""), Err(Error::InvalidArgument));
    let big = "x".repeat(4096);
    assert_eq!(store.write("v", &big), Err(Error::InvalidArgument));
    store.watch("w", "token").unwrap();
    assert_eq!(store.watch("w2", "token"), Err(Error::InvalidArgument));
}

#[test]
fn watches_deliver_events_per_token() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    let mut store = bus.store();
    store.watch("backend/vtpm", "backends").unwrap();
    store.watch("/local/domain/9/device/vtpm/0/state", "frontend").unwrap();
    // Every new watch fires once.
    assert_eq!(store.next_event("backends").as_deref(), Some("backend/vtpm"));
    assert_eq!(
        store.next_event("frontend").as_deref(),
        Some("/local/domain/9/device/vtpm/0/state")
    );
    assert_eq!(store.next_event("backends"), None);
    drop(store);

    sim.world().store_write("/local/domain/5/backend/vtpm/9/0/state", "1");
    sim.world().store_write("/local/domain/9/device/vtpm/0/state", "3");
    sim.world().store_write("/local/domain/5/unrelated", "1");
    sim.run();
    let mut store = bus.store();
    assert_eq!(store.next_event("backends").as_deref(), Some("backend/vtpm/9/0/state"));
    assert_eq!(store.next_event("backends"), None);
    assert_eq!(
        store.next_event("frontend").as_deref(),
        Some("/local/domain/9/device/vtpm/0/state")
    );
    store.unwatch("backends").unwrap();
    drop(store);
    sim.world().store_write("/local/domain/5/backend/vtpm/9/0/state", "2");
    sim.run();
    assert_eq!(bus.store().next_event("backends"), None);
}

#[test]
fn watch_events_interleaved_with_replies_are_queued_not_taken_for_replies() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    bus.store().watch("data", "tok").unwrap();
    bus.store().next_event("tok");
    bus.store().write("data/value", "42").unwrap();
    // Events fired by the toolstack sit in the response stream before the reply.
    for i in 0..20 {
        sim.world().store_write(&format!("/local/domain/5/data/n{i}"), "x");
    }
    sim.world().xenstored.inject_event(DOM, "data/injected", "tok");
    let mut store = bus.store();
    assert_eq!(store.read("data/value").unwrap(), "42");
    assert!(store.has_events());
    let mut events = Vec::new();
    while let Some(path) = store.next_event("tok") {
        events.push(path);
    }
    assert_eq!(events.first().map(String::as_str), Some("data/value"));
    assert_eq!(events.len(), 22);
    assert!(events.contains(&"data/injected".to_string()));
}

#[test]
fn an_event_storm_collapses_into_one_event_for_the_watched_path() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    bus.store().watch("data", "tok").unwrap();
    bus.store().next_event("tok");
    for i in 0..(MAX_QUEUED_EVENTS + 50) {
        sim.world().xenstored.inject_event(DOM, &format!("data/{i}"), "tok");
        sim.run();
        let _ = bus.store().pump();
    }
    let mut store = bus.store();
    assert_eq!(store.next_event("tok").as_deref(), Some("data"));
    assert_eq!(store.next_event("tok"), None);
}

#[test]
fn bus_wait_returns_at_once_when_the_callers_events_are_queued() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    bus.store().watch("data", "mine").unwrap();
    let before = sim.world().now_ns();
    assert!(bus.wait(&[], &["mi"], before + 1_000_000_000));
    assert!(bus.wait(&[], &[""], before + 1_000_000_000));
    assert_eq!(sim.world().now_ns(), before);
}

#[test]
fn bus_wait_is_not_woken_by_other_drivers_events() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    bus.store().watch("data", "other").unwrap();
    let before = sim.world().now_ns();
    let deadline = before + 1_000_000_000;
    assert!(!bus.wait(&[], &["mine"], deadline));
    assert_eq!(sim.world().now_ns(), deadline);
    // ... but by its own watch firing meanwhile.
    bus.store().watch("mine", "mine").unwrap();
    assert!(bus.wait(&[], &["mine"], deadline + 1_000_000_000));
}

#[test]
fn bus_wait_wakes_for_the_callers_port() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    bus.store().watch("data", "other").unwrap();
    let channel = xenbus::EventChannel::alloc_unbound(bus.platform().clone(), DomainId(9)).unwrap();
    let peer = sim.world().bind(9, DOM, channel.port().0).unwrap();
    sim.world().notify(9, peer);
    let before = sim.world().now_ns();
    assert!(bus.wait(&[channel.port()], &["mine"], before + 1_000_000_000));
    assert_eq!(sim.world().now_ns(), before);
}

#[test]
fn transaction_commits_all_or_nothing() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    bus.store()
        .transaction(|tx| {
            tx.write("device/vbd/768/ring-ref", "8")?;
            tx.write("device/vbd/768/event-channel", "3")?;
            Ok(())
        })
        .unwrap();
    assert_eq!(bus.store().read("device/vbd/768/ring-ref").unwrap(), "8");

    let result: Result<(), Error> = bus.store().transaction(|tx| {
        tx.write("device/vbd/768/ring-ref", "9")?;
        Err(Error::BadValue)
    });
    assert_eq!(result, Err(Error::BadValue));
    assert_eq!(bus.store().read("device/vbd/768/ring-ref").unwrap(), "8");
}

#[test]
fn transaction_is_retried_on_eagain() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    sim.world().xenstored.fail_commits = 2;
    let mut runs = 0;
    bus.store()
        .transaction(|tx| {
            runs += 1;
            tx.write("x", &runs.to_string())
        })
        .unwrap();
    assert_eq!(runs, 3);
    assert_eq!(bus.store().read("x").unwrap(), "3");
}

#[test]
fn transaction_conflicting_with_the_toolstack_is_retried() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    let mut runs = 0;
    let toolstack = sim.clone();
    bus.store()
        .transaction(|tx| {
            runs += 1;
            let seen = tx.try_read("counter")?.unwrap_or_default();
            if runs == 1 {
                // Someone else changes the tree while the transaction is open.
                toolstack.world().store_write("/local/domain/5/counter", "10");
            }
            tx.write("counter", &format!("{seen}+1"))
        })
        .unwrap();
    assert_eq!(runs, 2);
    assert_eq!(bus.store().read("counter").unwrap(), "10+1");
}

#[test]
fn transaction_gives_up_after_bounded_retries() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    sim.world().xenstored.fail_commits = u32::MAX;
    let mut runs = 0;
    let result = bus.store().transaction(|tx| {
        runs += 1;
        tx.write("x", "1")
    });
    assert_eq!(result, Err(Error::Store(StoreErrno::Again)));
    assert_eq!(runs, TRANSACTION_ATTEMPTS);
}

#[test]
fn ring_wraps_across_u32_with_large_messages() {
    let sim = Sim::new();
    sim.world().set_store_indices(DOM, u32::MAX - 700);
    let bus = sim.bus(DOM);
    let mut store = bus.store();
    for round in 0..12 {
        let value: String =
            (0..4000).map(|i| char::from(b'a' + ((i + round) % 26) as u8)).collect();
        store.write(&format!("big/{round}"), &value).unwrap();
        assert_eq!(store.read(&format!("big/{round}")).unwrap(), value);
    }
}

#[test]
fn responses_trickling_in_small_pieces_are_reassembled() {
    let sim = Sim::new();
    sim.world().xenstored.response_chunk = 7;
    let bus = sim.bus(DOM);
    let mut store = bus.store();
    let value = "v".repeat(3000);
    store.write("slow", &value).unwrap();
    assert_eq!(store.read("slow").unwrap(), value);
    store.watch("slow", "tok").unwrap();
    assert_eq!(store.next_event("tok").as_deref(), Some("slow"));
}

#[test]
fn stale_replies_are_dropped() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    bus.store().write("k", "v").unwrap();
    let stale = Header { kind: MessageType::Read, req_id: 9999, tx_id: 0, len: 3 };
    let mut bytes = stale.encode().to_vec();
    bytes.extend_from_slice(b"bad");
    sim.world().xenstored.inject_raw(DOM, &bytes);
    assert_eq!(bus.store().read("k").unwrap(), "v");
}

#[test]
fn a_reply_of_the_wrong_type_is_an_error_and_the_connection_survives() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    // The client numbers requests from 1; this read will be request 1.
    let wrong = Header { kind: MessageType::Write, req_id: 1, tx_id: 0, len: 3 };
    let mut bytes = wrong.encode().to_vec();
    bytes.extend_from_slice(b"OK\0");
    sim.world().xenstored.inject_raw(DOM, &bytes);
    sim.world().store_write("/local/domain/5/k", "v");
    assert_eq!(
        bus.store().read("k"),
        Err(Error::Wire(WireError::UnexpectedType(MessageType::Write as u32)))
    );
    assert_eq!(bus.store().read("k").unwrap(), "v");
}

#[test]
fn a_malformed_header_breaks_the_connection_for_good() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    let mut bad = Header { kind: MessageType::Read, req_id: 1, tx_id: 0, len: 0 }.encode();
    bad[12..16].copy_from_slice(&5000u32.to_ne_bytes());
    sim.world().xenstored.inject_raw(DOM, &bad);
    assert_eq!(bus.store().read("k"), Err(Error::Wire(WireError::PayloadTooLong(5000))));
    assert_eq!(bus.store().read("k"), Err(Error::Wire(WireError::PayloadTooLong(5000))));
    assert!(bus.store().broken().is_some());
    assert!(sim.logged(DOM, "xenstore connection lost"));
}

#[test]
fn an_unknown_message_type_breaks_the_connection() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    let mut bad = [0u8; 16];
    bad[0..4].copy_from_slice(&20u32.to_ne_bytes());
    sim.world().xenstored.inject_raw(DOM, &bad);
    assert_eq!(bus.store().read("k"), Err(Error::Wire(WireError::UnknownType(20))));
}

#[test]
fn impossible_ring_indices_break_the_connection() {
    use xenbus::PeerMemory;
    use xenbus::abi::xenstore::RSP_PROD;
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    bus.store().write("k", "v").unwrap();
    // Find the ring through the platform-independent route: the bus's own memory is
    // the world's; corrupt rsp_prod as a broken xenstored would.
    let ring = sim.world().xenstored_ring_for_tests(DOM);
    ring.write_u32(RSP_PROD, ring.read_u32(RSP_PROD).unwrap().wrapping_add(5000)).unwrap();
    assert_eq!(bus.store().read("k"), Err(Error::Wire(WireError::RingIndex)));
}

#[test]
fn a_stalled_xenstored_times_out() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    sim.world().xenstored.stalled = true;
    let before = sim.world().now_ns();
    assert_eq!(bus.store().read("k"), Err(Error::Timeout));
    assert!(sim.world().now_ns() >= before + DEFAULT_TIMEOUT_NS);
    // The daemon recovers: the late reply is dropped as stale, new requests work.
    sim.world().xenstored.stalled = false;
    sim.world().store_write("/local/domain/5/k", "v");
    assert_eq!(bus.store().read("k").unwrap(), "v");
}

mod interleaving {
    use super::DOM;
    use proptest::prelude::*;
    use xenbus::Store;
    use xenbus::sim::Sim;
    use xenbus::wire::{Header, MessageType};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Stray replies (ids no request has) and watch events, in any number and
        /// order ahead of the real reply, neither confuse the client nor get lost.
        #[test]
        fn stray_replies_and_events_never_confuse_the_client(
            noise in prop::collection::vec((any::<bool>(), 1000u32.., 0usize..200), 0..30),
            chunk in prop_oneof![Just(0usize), 1usize..64],
        ) {
            let sim = Sim::new();
            sim.world().xenstored.response_chunk = chunk;
            let bus = sim.bus(DOM);
            bus.store().watch("w", "tok").unwrap();
            assert_eq!(bus.store().next_event("tok").as_deref(), Some("w"));
            sim.world().store_write("/local/domain/5/k", "value");
            let mut events = 0;
            for (event, id, len) in &noise {
                if *event {
                    sim.world().xenstored.inject_event(DOM, &format!("w/{id}"), "tok");
                    events += 1;
                } else {
                    let payload = vec![b'x'; *len];
                    let header = Header { kind: MessageType::Read, req_id: *id, tx_id: 0, len: u32::try_from(*len).unwrap() };
                    let mut bytes = header.encode().to_vec();
                    bytes.extend_from_slice(&payload);
                    sim.world().xenstored.inject_raw(DOM, &bytes);
                }
            }
            prop_assert_eq!(bus.store().read("k").unwrap(), "value");
            let mut seen = 0;
            while bus.store().next_event("tok").is_some() {
                seen += 1;
            }
            prop_assert_eq!(seen, events);
        }
    }
}
