//! tpmfront and tpmback talking to each other through the simulator: the Mini-OS
//! handshake against our backend, requests, the manager's view of the caller, and
//! both sides surviving the other going away.

use tpmback::testing::FakeFrontend;
use tpmback::{Config, Event, Tpmback, Uuid};
use tpmfront::{DEFAULT_NODE, Error, Tpmfront};
use xenbus::XenbusState;
use xenbus::sim::{Sim, SimDomain};

const MANAGER: u16 = 1;
const VTPM: u16 = 4;
const UUID: &str = "6a3e1f0c-2b7d-4c59-9e81-0d4f3a2b1c90";

/// Lets both sides and the world make progress without blocking either.
fn settle(sim: &Sim, front: &mut Tpmfront<SimDomain>, back: &mut Tpmback<SimDomain>) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..6 {
        sim.run();
        front.poll();
        while let Some(event) = back.poll() {
            events.push(event);
        }
    }
    events
}

fn setup() -> (Sim, Tpmfront<SimDomain>, Tpmback<SimDomain>, FakeFrontend) {
    let sim = Sim::new();
    let vtpm_bus = sim.bus(VTPM);
    let back = Tpmback::new(sim.bus(MANAGER), Config::default()).unwrap();
    // Only the toolstack part of the fake frontend is used: the nodes libxl writes
    // for `vtpm=["backend=vtpmmgr,uuid=..."]` in the vTPM's configuration.
    let toolstack = FakeFrontend::attach(&sim, MANAGER, VTPM, 0, UUID);
    let front = Tpmfront::new(vtpm_bus, DEFAULT_NODE).unwrap();
    (sim, front, back, toolstack)
}

#[test]
fn vtpm_reaches_the_manager_which_knows_its_uuid() {
    let (sim, mut front, mut back, toolstack) = setup();
    let events = settle(&sim, &mut front, &mut back);
    assert!(front.is_connected());
    assert_eq!(toolstack.backend_state(), XenbusState::Connected);
    let Some(Event::Opened(info)) = events.iter().find(|e| matches!(e, Event::Opened(_))) else {
        panic!("{events:?}")
    };
    assert_eq!(info.uuid, Uuid::parse(UUID).unwrap());

    // A manager request (tag 0x01C1, LOADHASHKEY) and its answer.
    let command = [0x01, 0xC1, 0, 0, 0, 10, 0, 0, 0, 2];
    front.start(&command, 0).unwrap();
    let events = settle(&sim, &mut front, &mut back);
    let Some(Event::Request(request)) = events.into_iter().find(|e| matches!(e, Event::Request(_)))
    else {
        panic!("no request")
    };
    assert_eq!(request.uuid.to_string(), UUID);
    assert_eq!(request.frontend.domain.0, VTPM);
    assert_eq!(request.command, command);
    let response = [0x01, 0xC4, 0, 0, 0, 10, 0, 0, 0, 0];
    back.respond(request.reply_to(), &response).unwrap();
    assert_eq!(front.poll_response().unwrap(), Some(response.to_vec()));
}

#[test]
fn vtpm_closing_and_reopening_reconnects() {
    let (sim, mut front, mut back, toolstack) = setup();
    settle(&sim, &mut front, &mut back);
    // close() waits for the backend, which only moves when polled, so give it no
    // time here and let `settle` drive both sides.
    let now = sim.world().now_ns();
    assert_eq!(front.close(now), Err(Error::Timeout));
    let events = settle(&sim, &mut front, &mut back);
    assert!(events.iter().any(|e| matches!(e, Event::Closed(_))));
    assert_eq!(toolstack.backend_state(), XenbusState::InitWait);
    assert_eq!(front.close(now), Ok(()));

    // The vTPM opens the device again (after a kexec, say), on the same bus.
    let bus = front.bus();
    drop(front);
    let mut again = Tpmfront::new(bus, DEFAULT_NODE).unwrap();
    let events = settle(&sim, &mut again, &mut back);
    assert!(again.is_connected());
    assert!(events.iter().any(|e| matches!(e, Event::Opened(_))));
    assert_eq!(sim.stats().leaked_pages, 0);
}

#[test]
fn manager_detaching_the_vtpm_gives_a_clear_error() {
    let (sim, mut front, mut back, toolstack) = setup();
    settle(&sim, &mut front, &mut back);
    front.start(b"cmd", 0).unwrap();
    settle(&sim, &mut front, &mut back);
    toolstack.detach();
    settle(&sim, &mut front, &mut back);
    // The backend closed; once the frontend had closed too it removed its directory,
    // as libxl expects of a backend outside dom0 (docs/drivers.md).
    assert_eq!(toolstack.backend_state(), XenbusState::Unknown);
    assert!(back.frontends().is_empty());
    assert_eq!(front.poll_response(), Err(Error::Disconnected));
    assert!(!front.is_connected());
}
