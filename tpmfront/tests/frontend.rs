//! tpmfront against a Mini-OS-style backend in the simulator.

use std::cell::RefCell;
use std::rc::Rc;
use tpmfront::testing::FakeBackend;
use tpmfront::{DEFAULT_NODE, Error, Tpmfront};
use xenbus::sim::{Sim, SimDomain};
use xenbus::{GrantRef, XenbusState};

const FRONT: u16 = 5;
const BACK: u16 = 2;
const SECOND: u64 = 1_000_000_000;

fn setup() -> (Sim, Rc<RefCell<FakeBackend>>, Tpmfront<SimDomain>) {
    let sim = Sim::new();
    let backend = FakeBackend::attach(&sim, BACK, FRONT, 0);
    let bus = sim.bus(FRONT);
    let front = Tpmfront::new(bus, DEFAULT_NODE).unwrap();
    (sim, backend, front)
}

fn deadline(sim: &Sim, ns: u64) -> u64 {
    sim.world().now_ns() + ns
}

#[test]
fn connects_with_the_minios_handshake_and_transacts() {
    let (sim, backend, mut front) = setup();
    front.connect(deadline(&sim, SECOND)).unwrap();
    let node = "/local/domain/5/device/vtpm/0";
    let read = |key: &str| sim.world().store_read(&format!("{node}/{key}"));
    assert_eq!(read("state").as_deref(), Some("4"), "Mini-OS skips Initialised");
    assert_eq!(read("feature-protocol-v2").as_deref(), Some("1"));
    assert!(read("ring-ref").is_some() && read("event-channel").is_some());

    let response = front.transact(b"\x01\xC1cmd", 3, deadline(&sim, SECOND)).unwrap();
    assert_eq!(response, b"ok:\x01\xC1cmd");
    assert_eq!(backend.borrow().received, [(b"\x01\xC1cmd".to_vec(), 3)]);
}

#[test]
fn many_requests_in_sequence() {
    let (sim, backend, mut front) = setup();
    for i in 0..50u32 {
        let command = i.to_be_bytes();
        let response = front.transact(&command, 0, deadline(&sim, SECOND)).unwrap();
        assert_eq!(&response[3..], &command);
    }
    assert_eq!(backend.borrow().served, 50);
}

#[test]
fn slow_backend_within_the_deadline_is_waited_for() {
    let (sim, backend, mut front) = setup();
    backend.borrow_mut().delay_ns = 3 * SECOND;
    let before = sim.world().now_ns();
    front.transact(b"slow", 0, deadline(&sim, 10 * SECOND)).unwrap();
    assert!(sim.world().now_ns() >= before + 3 * SECOND);
}

#[test]
fn dead_backend_times_out_and_the_request_is_cancelled() {
    let (sim, backend, mut front) = setup();
    front.connect(deadline(&sim, SECOND)).unwrap();
    backend.borrow_mut().dead = true;
    assert_eq!(front.transact(b"cmd", 0, deadline(&sim, 2 * SECOND)), Err(Error::Timeout));
    let state = sim.world().store_read("/local/domain/5/device/vtpm/0/state");
    assert_eq!(state.as_deref(), Some("4"));
    // The page says CANCEL; the backend comes back and completes the cancel.
    backend.borrow_mut().dead = false;
    backend.borrow_mut().delay_ns = 0;
    let response = front.transact(b"next", 0, deadline(&sim, SECOND)).unwrap();
    assert_eq!(response, b"ok:next");
}

#[test]
fn backend_that_never_appears_times_out_the_handshake() {
    let sim = Sim::new();
    let backend = FakeBackend::attach(&sim, BACK, FRONT, 0);
    backend.borrow_mut().dead = true;
    let mut front = Tpmfront::new(sim.bus(FRONT), DEFAULT_NODE).unwrap();
    assert_eq!(front.connect(deadline(&sim, 5 * SECOND)), Err(Error::Timeout));
}

#[test]
fn backend_cancelling_is_reported() {
    let (sim, backend, mut front) = setup();
    backend.borrow_mut().answer_idle = true;
    assert_eq!(front.transact(b"cmd", 0, deadline(&sim, SECOND)), Err(Error::Cancelled));
}

#[test]
fn bad_response_length_is_refused() {
    let (sim, backend, mut front) = setup();
    for length in [0, 4089, u32::MAX] {
        backend.borrow_mut().bad_length = Some(length);
        assert_eq!(front.transact(b"cmd", 0, deadline(&sim, SECOND)), Err(Error::BadResponse));
    }
    backend.borrow_mut().bad_length = None;
    assert!(front.transact(b"cmd", 0, deadline(&sim, SECOND)).is_ok());
}

#[test]
fn oversized_command_is_refused_before_anything_is_sent() {
    let (sim, backend, mut front) = setup();
    assert_eq!(
        front.transact(&[0; 4089], 0, deadline(&sim, SECOND)),
        Err(Error::CommandSize(4089))
    );
    assert_eq!(front.transact(&[], 0, deadline(&sim, SECOND)), Err(Error::CommandSize(0)));
    backend.borrow_mut().set_responder(Box::new(|command, _| command.to_vec()));
    assert_eq!(front.transact(&[7; 4088], 0, deadline(&sim, SECOND)).unwrap(), [7; 4088]);
    assert_eq!(backend.borrow().served, 1);
}

#[test]
fn v1_backend_is_refused() {
    let sim = Sim::new();
    let backend = FakeBackend::attach(&sim, BACK, FRONT, 0);
    backend.borrow_mut().v1_only = true;
    let mut front = Tpmfront::new(sim.bus(FRONT), DEFAULT_NODE).unwrap();
    assert_eq!(front.connect(deadline(&sim, SECOND)), Err(Error::ProtocolV1));
    assert!(sim.logged(FRONT, "vTPM protocol 2 required"));
}

#[test]
fn missing_backend_nodes_are_an_error() {
    let sim = Sim::new();
    assert_eq!(Tpmfront::new(sim.bus(FRONT), DEFAULT_NODE).err(), Some(Error::NoBackend));
}

#[test]
fn survives_a_quick_backend_restart() {
    let (sim, backend, mut front) = setup();
    front.transact(b"one", 0, deadline(&sim, SECOND)).unwrap();
    {
        let mut world = sim.world();
        backend.borrow_mut().restart(&mut world);
    }
    // The backend may pick the still-published ring up again before we notice, as
    // Mini-OS's would; either way the channel works.
    assert_eq!(front.transact(b"two", 0, deadline(&sim, SECOND)).unwrap(), b"ok:two");
    assert_eq!(backend.borrow().connections, 2);
    assert_eq!(sim.stats().freed_while_mapped, 0);
}

#[test]
fn reconnects_with_a_fresh_page_after_the_backend_closed() {
    let (sim, backend, mut front) = setup();
    front.transact(b"one", 0, deadline(&sim, SECOND)).unwrap();
    let frame = || {
        let ring = sim.world().store_read("/local/domain/5/device/vtpm/0/ring-ref").unwrap();
        sim.world().grant_entry(FRONT, GrantRef(ring.parse().unwrap())).unwrap().2
    };
    let first_frame = frame();
    {
        let mut world = sim.world();
        backend.borrow_mut().go(&mut world, XenbusState::Closed);
    }
    sim.run();
    front.poll();
    assert!(!front.is_connected());
    assert_eq!(sim.world().store_read("/local/domain/5/device/vtpm/0/state").as_deref(), Some("6"));
    assert_eq!(sim.stats().leaked_pages, 0, "the old grant was ended, not leaked");
    sim.world().store_write(&format!("{}/state", backend.borrow().backend_path), "2");
    assert_eq!(front.transact(b"two", 0, deadline(&sim, SECOND)).unwrap(), b"ok:two");
    assert_ne!(first_frame, frame(), "a fresh page per connection");
    assert_eq!(backend.borrow().connections, 2);
    assert_eq!(sim.stats().freed_while_mapped, 0);
}

#[test]
fn backend_closing_during_a_request_is_a_clear_error() {
    let (sim, backend, mut front) = setup();
    front.connect(deadline(&sim, SECOND)).unwrap();
    backend.borrow_mut().delay_ns = 5 * SECOND;
    front.start(b"cmd", 0).unwrap();
    sim.run();
    {
        let mut world = sim.world();
        backend.borrow_mut().go(&mut world, XenbusState::Closing);
    }
    sim.run();
    assert_eq!(front.poll_response(), Err(Error::Disconnected));
    assert!(!front.is_connected());
    let state = sim.world().store_read("/local/domain/5/device/vtpm/0/state");
    assert_eq!(state.as_deref(), Some("6"));
}

#[test]
fn orderly_close_goes_through_closing_to_closed() {
    let (sim, backend, mut front) = setup();
    front.connect(deadline(&sim, SECOND)).unwrap();
    front.close(deadline(&sim, SECOND)).unwrap();
    let state = sim.world().store_read("/local/domain/5/device/vtpm/0/state");
    assert_eq!(state.as_deref(), Some("6"));
    assert!(!backend.borrow().is_linked());
    assert_eq!(sim.stats().leaked_pages, 0);
}

#[test]
fn only_one_request_at_a_time() {
    let (sim, _backend, mut front) = setup();
    front.connect(deadline(&sim, SECOND)).unwrap();
    front.start(b"a", 0).unwrap();
    assert_eq!(front.start(b"b", 0), Err(Error::Busy));
}

#[test]
fn another_drivers_watch_events_do_not_wake_a_waiting_request() {
    let (sim, backend, mut front) = setup();
    front.connect(deadline(&sim, SECOND)).unwrap();
    // Another driver on the same bus (tpmback in vtpm-stubdom) has events queued
    // that it has not taken yet; a request waiting for the manager must sleep on.
    let bus = front.bus();
    bus.store().watch("backend/vtpm", "tpmback").unwrap();
    sim.world().store_write("/local/domain/5/backend/vtpm/9/0/state", "1");
    backend.borrow_mut().dead = true;
    let before = sim.world().now_ns();
    assert_eq!(front.transact(b"cmd", 0, before + 2 * SECOND), Err(Error::Timeout));
    assert_eq!(sim.world().now_ns(), before + 2 * SECOND);
    assert!(bus.store().has_events());
}
