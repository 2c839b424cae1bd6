//! tpmback against scripted frontends in the simulator: discovery, handshake,
//! requests, fairness, every bad input, reconnects, detach.

#![allow(
    clippy::cast_possible_truncation,
    reason = "test data: byte patterns from small ids and seeds"
)]

use std::rc::Rc;
use tpmback::testing::FakeFrontend;
use tpmback::{Config, ErrorCodes, Event, FrontendId, Request, Tpmback, Uuid};
use xenbus::abi::tpmif::{STATE_CANCEL, STATE_FINISH, STATE_IDLE, STATE_SUBMIT};
use xenbus::sim::{Injection, Sim, SimDomain};
use xenbus::wire::MessageType;
use xenbus::{Bus, DomainId, XenbusState};

const BACK: u16 = 1;
const UUID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

fn uuid(n: u16) -> String {
    format!("00000000-0000-0000-0000-{n:012x}")
}

fn start(sim: &Sim) -> (Rc<Bus<SimDomain>>, Tpmback<SimDomain>) {
    let bus = sim.bus(BACK);
    let back = Tpmback::new(Rc::clone(&bus), Config::default()).unwrap();
    (bus, back)
}

/// Lets the world run, then collects events until the backend has nothing to do.
fn drain(sim: &Sim, back: &mut Tpmback<SimDomain>) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..4 {
        sim.run();
        while let Some(event) = back.poll() {
            events.push(event);
        }
    }
    events
}

fn requests(events: Vec<Event>) -> Vec<Request> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Request(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn connected(sim: &Sim, back: &mut Tpmback<SimDomain>, domain: u16) -> FakeFrontend {
    let mut front = FakeFrontend::attach(sim, BACK, domain, 0, &uuid(domain));
    drain(sim, back);
    front.connect(XenbusState::Initialised);
    let events = drain(sim, back);
    assert!(events.iter().any(|e| matches!(e, Event::Opened(_))), "{events:?}");
    front
}

fn error_code(response: &[u8]) -> u32 {
    assert_eq!(response.len(), 10);
    assert_eq!(u32::from_be_bytes(response[2..6].try_into().unwrap()), 10);
    u32::from_be_bytes(response[6..10].try_into().unwrap())
}

#[test]
fn device_present_at_start_goes_to_initwait() {
    let sim = Sim::new();
    let front = FakeFrontend::attach(&sim, BACK, 7, 0, UUID);
    let (_bus, mut back) = start(&sim);
    drain(&sim, &mut back);
    assert_eq!(front.backend_state(), XenbusState::InitWait);
    let feature = sim.world().store_read(&format!("{}/feature-protocol-v2", front.backend_path));
    assert_eq!(feature.as_deref(), Some("1"));
}

#[test]
fn device_added_later_is_found_by_watch() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    drain(&sim, &mut back);
    let front = FakeFrontend::attach(&sim, BACK, 7, 3, UUID);
    drain(&sim, &mut back);
    assert_eq!(front.backend_state(), XenbusState::InitWait);
    assert_eq!(back.frontends(), [(FrontendId { domain: DomainId(7), handle: 3 }, false)]);
}

#[test]
fn linux_frontend_connects_and_gets_answers() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let mut front = FakeFrontend::attach(&sim, BACK, 7, 0, UUID);
    drain(&sim, &mut back);
    front.connect(XenbusState::Initialised);
    let events = drain(&sim, &mut back);
    let Some(Event::Opened(info)) = events.first() else { panic!("{events:?}") };
    assert_eq!(info.uuid, Uuid::parse(UUID).unwrap());
    assert_eq!(info.uuid.to_string(), UUID);
    assert_eq!(front.backend_state(), XenbusState::Connected);
    assert!(front.backend_attached());

    let command = [0x00, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x99];
    front.submit(&command, 0);
    let request = requests(drain(&sim, &mut back)).pop().unwrap();
    assert_eq!(request.frontend, FrontendId { domain: DomainId(7), handle: 0 });
    assert_eq!(request.uuid, info.uuid);
    assert_eq!((request.locality, request.command.as_slice()), (0, &command[..]));
    assert_eq!(front.state(), STATE_SUBMIT, "nothing written before the response");

    let response = [0x00, 0xC4, 0, 0, 0, 10, 0, 0, 0, 0];
    back.respond(request.reply_to(), &response).unwrap();
    assert_eq!(front.response().unwrap(), response);
    assert!(front.take_notified());
}

#[test]
fn minios_frontend_that_skips_initialised_connects() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let mut front = FakeFrontend::attach(&sim, BACK, 7, 0, UUID);
    drain(&sim, &mut back);
    front.connect(XenbusState::Connected);
    drain(&sim, &mut back);
    assert_eq!(front.backend_state(), XenbusState::Connected);
    front.submit(b"abc", 2);
    let request = requests(drain(&sim, &mut back)).pop().unwrap();
    assert_eq!((request.locality, request.command.as_slice()), (2, &b"abc"[..]));
}

#[test]
fn frontends_are_served_round_robin() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let fronts: Vec<FakeFrontend> =
        [4, 9, 6].into_iter().map(|d| connected(&sim, &mut back, d)).collect();
    // All three submit at once; each answer is followed at once by a new request
    // from the same frontend (a greedy guest).
    for front in &fronts {
        front.submit(&[front.domain as u8], 0);
    }
    let mut served = Vec::new();
    for _ in 0..9 {
        sim.run();
        let Some(Event::Request(request)) = back.poll() else { panic!("no request") };
        let domain = request.frontend.domain.0;
        served.push(domain);
        back.respond(request.reply_to(), b"ok").unwrap();
        let front = fronts.iter().find(|f| f.domain == domain).unwrap();
        front.submit(&[domain as u8], 0);
    }
    // Sorted by (domid, handle), each in turn: nobody starves.
    assert_eq!(served, [4, 6, 9, 4, 6, 9, 4, 6, 9]);
}

#[test]
fn empty_request_gets_bad_size_error() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    front.write_header(0, STATE_SUBMIT, 0, 0, b"");
    assert!(requests(drain(&sim, &mut back)).is_empty());
    assert_eq!(front.state(), STATE_FINISH);
    assert_eq!(error_code(&front.response().unwrap()), ErrorCodes::TPM12.bad_size);
    assert!(sim.logged(BACK, "empty request"));
}

#[test]
fn oversized_request_gets_size_error() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    for length in [4089, 4096, 5000, u32::MAX] {
        front.write_header(length, STATE_SUBMIT, 0, 0, b"x");
        assert!(requests(drain(&sim, &mut back)).is_empty());
        let response = front.response().unwrap();
        assert_eq!(&response[..2], &[0x00, 0xC4]);
        assert_eq!(error_code(&response), ErrorCodes::TPM12.too_large);
    }
    assert!(sim.logged(BACK, "exceeds 4088"));
    assert_eq!(back.stats().refused, 4);
}

#[test]
fn request_of_exactly_a_page_is_accepted() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    let command = vec![0xA5; 4088];
    front.submit(&command, 0);
    let request = requests(drain(&sim, &mut back)).pop().unwrap();
    assert_eq!(request.command, command);
    back.respond(request.reply_to(), &vec![0x5A; 4088]).unwrap();
    assert_eq!(front.response().unwrap(), vec![0x5A; 4088]);
}

#[test]
fn extra_pages_are_refused() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    front.write_header(20, STATE_SUBMIT, 0, 1, &[0; 20]);
    assert!(requests(drain(&sim, &mut back)).is_empty());
    assert_eq!(error_code(&front.response().unwrap()), ErrorCodes::TPM12.too_large);
    assert!(sim.logged(BACK, "nr_extra_pages"));
}

#[test]
fn tpm2_error_codes_are_configurable() {
    let sim = Sim::new();
    let bus = sim.bus(BACK);
    let config = Config { errors: ErrorCodes::TPM20, ..Config::default() };
    let mut back = Tpmback::new(bus, config).unwrap();
    let front = connected(&sim, &mut back, 7);
    front.write_header(0, STATE_SUBMIT, 0, 0, b"");
    drain(&sim, &mut back);
    let response = front.response().unwrap();
    assert_eq!(&response[..2], &[0x80, 0x01]);
    assert_eq!(error_code(&response), 0x142);
}

#[test]
fn invalid_state_is_reset_to_idle() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    front.write_header(10, 0xEE, 0, 0, &[0; 10]);
    assert!(requests(drain(&sim, &mut back)).is_empty());
    assert_eq!(front.state(), STATE_IDLE);
    assert!(front.take_notified());
    assert!(sim.logged(BACK, "invalid state 238"));
}

#[test]
fn cancel_with_nothing_in_flight_answers_idle() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    front.cancel();
    assert!(requests(drain(&sim, &mut back)).is_empty());
    assert_eq!(front.state(), STATE_IDLE);
    assert!(front.take_notified());
    assert_eq!(back.stats().cancels, 1);
}

#[test]
fn cancel_while_in_flight_completes_with_finish() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    front.submit(b"slow", 0);
    let request = requests(drain(&sim, &mut back)).pop().unwrap();
    front.cancel();
    assert!(requests(drain(&sim, &mut back)).is_empty());
    assert_eq!(front.state(), STATE_CANCEL, "not touched while the request runs");
    back.respond(request.reply_to(), b"done").unwrap();
    assert_eq!(front.response().unwrap(), b"done");
}

#[test]
fn second_request_while_one_is_in_flight_is_ignored() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    front.submit(b"first", 0);
    let request = requests(drain(&sim, &mut back)).pop().unwrap();
    front.submit(b"second", 0);
    assert!(requests(drain(&sim, &mut back)).is_empty());
    assert!(sim.logged(BACK, "request while one is in flight"));
    back.respond(request.reply_to(), b"for first").unwrap();
    assert_eq!(front.response().unwrap(), b"for first");
    assert!(requests(drain(&sim, &mut back)).is_empty());
}

#[test]
fn response_too_large_for_the_page_becomes_tpm_failure() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    front.submit(b"cmd", 0);
    let request = requests(drain(&sim, &mut back)).pop().unwrap();
    back.respond(request.reply_to(), &vec![1; 4089]).unwrap();
    assert_eq!(error_code(&front.response().unwrap()), ErrorCodes::TPM12.failure);
    assert!(sim.logged(BACK, "does not fit the page"));
}

#[test]
fn frontend_reconnect_cycle() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let mut front = connected(&sim, &mut back, 7);
    front.submit(b"cmd", 0);
    let stale = requests(drain(&sim, &mut back)).pop().unwrap();

    front.set_state(XenbusState::Closing);
    let events = drain(&sim, &mut back);
    assert!(events.contains(&Event::Closed(FrontendId { domain: DomainId(7), handle: 0 })));
    assert_eq!(front.backend_state(), XenbusState::Closing);
    assert_eq!(sim.stats().mappings, 0, "page unmapped at Closing");
    front.set_state(XenbusState::Closed);
    drain(&sim, &mut back);
    assert_eq!(front.backend_state(), XenbusState::InitWait);

    front.connect(XenbusState::Initialised);
    let events = drain(&sim, &mut back);
    assert!(events.iter().any(|e| matches!(e, Event::Opened(_))));
    assert_eq!(front.backend_state(), XenbusState::Connected);
    assert_eq!(back.respond(stale.reply_to(), b"late"), Err(tpmback::Error::Gone));
    front.submit(b"again", 0);
    let request = requests(drain(&sim, &mut back)).pop().unwrap();
    assert_eq!(request.command, b"again");
    assert_eq!(back.stats().connections, 2);
}

#[test]
fn detach_closes_at_once_and_removal_forgets_the_device() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    front.detach();
    let events = drain(&sim, &mut back);
    assert!(events.iter().any(|e| matches!(e, Event::Closed(_))));
    assert_eq!(front.backend_state(), XenbusState::Closed);
    assert_eq!(sim.stats().mappings, 0);
    front.remove();
    drain(&sim, &mut back);
    assert!(back.frontends().is_empty());
    assert!(sim.world().xenstored.watches(BACK).iter().all(|(p, _)| !p.contains("device/vtpm")));
}

#[test]
fn detach_removes_the_backend_directory_once_the_frontend_has_closed() {
    // libxl waits for a driver domain to remove its own backend directory (10 s, then
    // `xl vtpm-detach` fails), but only after it has seen Closed: the directory goes
    // when the frontend, which closes after seeing our Closed, is Closed too.
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    front.detach();
    drain(&sim, &mut back);
    assert_eq!(front.backend_state(), XenbusState::Closed);
    assert!(sim.world().store_read(&format!("{}/online", front.backend_path)).is_some());
    front.set_state(XenbusState::Closed);
    drain(&sim, &mut back);
    assert_eq!(sim.world().store_read(&format!("{}/state", front.backend_path)), None);
    assert!(back.frontends().is_empty());
    assert!(sim.world().xenstored.watches(BACK).iter().all(|(p, _)| !p.contains("device/vtpm")));
    // A frontend closing without online=0 (a guest reboot) keeps the device.
    let again = connected(&sim, &mut back, 8);
    again.set_state(XenbusState::Closed);
    drain(&sim, &mut back);
    assert_eq!(again.backend_state(), XenbusState::InitWait);
    assert_eq!(back.frontends().len(), 1);
}

#[test]
fn detach_closes_even_when_the_dead_frontend_is_unreadable() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    // The frontend's domain died: xenstored refuses us its nodes from now on.
    sim.world().xenstored.inject(Injection {
        kind: Some(MessageType::Read),
        path_suffix: Some(format!("{}/state", front.frontend_path)),
        errno: "EACCES",
        times: u32::MAX,
    });
    front.detach();
    let events = drain(&sim, &mut back);
    assert!(events.iter().any(|e| matches!(e, Event::Closed(_))), "{events:?}");
    assert_eq!(front.backend_state(), XenbusState::Closed);
    assert_eq!(sim.stats().mappings, 0);
}

#[test]
fn frontend_vanishing_drops_the_connection() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = connected(&sim, &mut back, 7);
    sim.world().store_rm(&front.frontend_path);
    let events = drain(&sim, &mut back);
    assert!(events.iter().any(|e| matches!(e, Event::Closed(_))));
    assert_eq!(front.backend_state(), XenbusState::InitWait);
    assert_eq!(sim.stats().mappings, 0);
}

#[test]
fn invalid_uuid_ignores_the_device_with_one_log_line() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let front = FakeFrontend::attach(&sim, BACK, 7, 0, "not-a-uuid");
    drain(&sim, &mut back);
    front.write_backend_node("resume", "False");
    drain(&sim, &mut back);
    assert_eq!(front.backend_state(), XenbusState::Initialising);
    assert!(back.frontends().is_empty());
    let lines = sim.logs().iter().filter(|l| l.text.contains("invalid uuid")).count();
    assert_eq!(lines, 1);
    // The toolstack fixes it: the device comes up.
    front.write_backend_node("uuid", UUID);
    drain(&sim, &mut back);
    assert_eq!(front.backend_state(), XenbusState::InitWait);
}

#[test]
fn frontend_without_protocol_v2_is_closed() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let mut front = FakeFrontend::attach(&sim, BACK, 7, 0, UUID);
    drain(&sim, &mut back);
    front.connect(XenbusState::Initialised);
    front.write_node("feature-protocol-v2", "0");
    drain(&sim, &mut back);
    assert_eq!(front.backend_state(), XenbusState::Closed);
    assert!(!front.backend_attached());
    assert!(sim.logged(BACK, "vTPM protocol 2 required"));
    // A reset of the frontend re-arms the device.
    front.set_state(XenbusState::Closed);
    drain(&sim, &mut back);
    assert_eq!(front.backend_state(), XenbusState::InitWait);
}

#[test]
fn uuid_parse_accepts_only_the_canonical_form() {
    assert!(Uuid::parse(UUID).is_some());
    assert!(Uuid::parse(&UUID.to_uppercase()).is_some());
    for bad in [
        "",
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg",
        "0f1e2d3c-4b5a-6978-8796a-5b4c3d2e1f0",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ",
    ] {
        assert_eq!(Uuid::parse(bad), None, "{bad:?}");
    }
    assert_eq!(Uuid::parse(UUID).unwrap().0[0], 0x0f);
}

#[test]
fn many_frontends_each_get_their_own_connection() {
    let sim = Sim::new();
    let (_bus, mut back) = start(&sim);
    let fronts: Vec<FakeFrontend> = (10..60).map(|d| connected(&sim, &mut back, d)).collect();
    for front in &fronts {
        front.submit(&[front.domain as u8; 3], 0);
    }
    let mut answered = 0;
    for request in requests(drain(&sim, &mut back)) {
        back.respond(request.reply_to(), &request.command).unwrap();
        answered += 1;
    }
    assert_eq!(answered, fronts.len());
    for front in &fronts {
        assert_eq!(front.response().unwrap(), [front.domain as u8; 3]);
    }
    assert_eq!(back.ports().len(), fronts.len());
}
