//! The vTPM end to end on the simulated Xen: guest frontends (tpmback), the manager
//! (tpmfront), the state disk (blkfront), restarts, failures and hostile input.

use std::boxed::Box;
use std::vec::Vec;
use std::{format, vec};

use crate::app::{self, Origin, Server};
use crate::options::Options;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tpm_engine::Family;
use tpmback::testing::FakeFrontend;
use tpmfront::testing::FakeBackend;
use vtpm_proto::{Hashkey, Request, Response, ReturnCode};
use xenbus::XenbusState;
use xenbus::sim::{Sim, SimDomain};

const VTPM: u16 = 5;
const MANAGER: u16 = 2;
const GUEST: u16 = 7;
const GUEST2: u16 = 8;
const UUID: &str = "6a3c8e0f-1b2d-4c5e-8f90-123456789abc";
const DISK_BYTES: usize = 2 << 20;

/// What survives a vTPM domain's `xl destroy`: its disk image and the manager's record.
#[derive(Clone, Default)]
struct Host {
    disk: Rc<RefCell<Vec<u8>>>,
    record: Rc<RefCell<Option<Hashkey>>>,
    refuse_saves: Rc<Cell<bool>>,
}

impl Host {
    fn new() -> Self {
        Self { disk: Rc::new(RefCell::new(vec![0; DISK_BYTES])), ..Self::default() }
    }
}

/// The manager's answers to SAVEHASHKEY / LOADHASHKEY / GetRandom (specs §3.2–3.3).
fn manager(host: &Host) -> tpmfront::testing::Responder {
    let record = Rc::clone(&host.record);
    let refuse = Rc::clone(&host.refuse_saves);
    Box::new(move |command, _| {
        let mut out = vec![0u8; 4096];
        let status = |code: ReturnCode, out: &mut Vec<u8>| {
            let n = vtpm_proto::encode_status(vtpm_proto::tag::RSP, code, out).unwrap();
            out[..n].to_vec()
        };
        let random = [0x5Au8; 32];
        let answer = match Request::parse(command) {
            Ok(Request::SaveHashKey(_)) if refuse.get() => {
                return status(ReturnCode(9), &mut out);
            }
            Ok(Request::SaveHashKey(key)) => {
                *record.borrow_mut() = Some(key);
                Response::SaveHashKey
            }
            Ok(Request::LoadHashKey) => match record.borrow().clone() {
                Some(key) => Response::LoadHashKey(key),
                None => return status(ReturnCode::BAD_PARAMETER, &mut out),
            },
            Ok(Request::GetRandom { bytes_requested }) => {
                Response::GetRandom(&random[..bytes_requested.min(32) as usize])
            }
            _ => return status(ReturnCode(10), &mut out),
        };
        let n = answer.encode(&mut out).unwrap();
        out[..n].to_vec()
    })
}

type Vtpm = Server<SimDomain, app::XenPersist<SimDomain>>;

/// One boot of the vTPM domain on a fresh simulated host holding `host`'s disk and
/// manager record.
struct Boot {
    sim: Sim,
    blkback: Rc<RefCell<blkfront::testing::FakeBlkback>>,
    manager: Rc<RefCell<FakeBackend>>,
}

impl Boot {
    fn new(host: &Host) -> Self {
        let sim = Sim::new();
        let blkback = blkfront::testing::FakeBlkback::attach(
            &sim,
            0,
            VTPM,
            51712,
            host.disk.borrow().clone(),
        );
        let manager = FakeBackend::attach(&sim, MANAGER, VTPM, 0);
        manager.borrow_mut().set_responder(self::manager(host));
        Self { sim, blkback, manager }
    }

    fn start(&self, options: &Options) -> Result<(Vtpm, Origin), app::Error> {
        app::boot(&self.sim.bus(VTPM), options, tpmfront::DEFAULT_NODE)
    }

    /// The disk as the vTPM left it.
    fn save_disk(&self, host: &Host) {
        *host.disk.borrow_mut() = self.blkback.borrow().disk.clone();
    }

    fn guest(&self, domain: u16) -> FakeFrontend {
        let mut guest = FakeFrontend::attach(&self.sim, VTPM, domain, 0, UUID);
        guest.connect(XenbusState::Initialised);
        guest
    }
}

/// Lets the server run until the guest's response is there.
fn exchange(server: &mut Vtpm, guest: &FakeFrontend, command: &[u8], locality: u8) -> Vec<u8> {
    guest.submit(command, locality);
    pump_until(server, || guest.response())
}

fn pump_until<T>(server: &mut Vtpm, mut done: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        server.serve(usize::MAX);
        if let Some(value) = done() {
            return value;
        }
        let bus = Rc::clone(server.bus());
        let deadline = bus.deadline_after(1_000_000);
        bus.wait(&server.ports(), &["tpmback"], deadline);
    }
    panic!("no response");
}

// TPM 1.2 commands (Part 3): PCRRead 0x15, Extend 0x14, GetRandom 0x46.
fn pcr_read(index: u32) -> Vec<u8> {
    let mut c = vec![0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15];
    c.extend_from_slice(&index.to_be_bytes());
    c
}

fn extend(index: u32, digest: u8) -> Vec<u8> {
    let mut c = vec![0x00, 0xC1, 0, 0, 0, 34, 0, 0, 0, 0x14];
    c.extend_from_slice(&index.to_be_bytes());
    c.extend_from_slice(&[digest; 20]);
    c
}

fn code(response: &[u8]) -> u32 {
    app::return_code(response)
}

fn tpm12() -> Options {
    Options::default()
}

#[test]
fn a_guest_extends_a_pcr_that_survives_a_vtpm_restart() {
    let host = Host::new();
    let boot = Boot::new(&host);
    let (mut server, origin) = boot.start(&tpm12()).expect("start");
    assert_eq!(origin, Origin::New);
    let guest = boot.guest(GUEST);
    // The EK exists from the start (TPM_ReadPubek, ordinal 0x7C), as tpm_takeownership needs.
    let mut read_pubek = vec![0x00, 0xC1, 0, 0, 0, 30, 0, 0, 0, 0x7C];
    read_pubek.extend_from_slice(&[0x11; 20]);
    assert_eq!(code(&exchange(&mut server, &guest, &read_pubek, 0)), 0);
    let before = exchange(&mut server, &guest, &pcr_read(10), 0);
    assert_eq!(code(&before), 0);
    assert_eq!(&before[10..30], &[0u8; 20]);
    let extended = exchange(&mut server, &guest, &extend(10, 0xAB), 0);
    assert_eq!(code(&extended), 0);
    let after = exchange(&mut server, &guest, &pcr_read(10), 0);
    assert_eq!(after[10..30], extended[10..30]);
    boot.save_disk(&host);
    drop(server);

    // xl destroy + xl create: a new domain, the same disk and manager record.
    let boot = Boot::new(&host);
    let (mut server, origin) = boot.start(&tpm12()).expect("restart");
    assert_eq!(origin, Origin::Resumed);
    let guest = boot.guest(GUEST);
    let again = exchange(&mut server, &guest, &pcr_read(10), 0);
    assert_eq!(again[10..30], extended[10..30], "PCR 10 lost across the restart");
}

#[test]
fn two_guests_share_one_tpm_and_each_command_carries_its_locality() {
    let host = Host::new();
    let boot = Boot::new(&host);
    let (mut server, _) = boot.start(&tpm12()).expect("start");
    let one = boot.guest(GUEST);
    let two = boot.guest(GUEST2);
    let extended = exchange(&mut server, &one, &extend(11, 1), 0);
    let seen = exchange(&mut server, &two, &pcr_read(11), 0);
    assert_eq!(seen[10..30], extended[10..30]);
    // Both submit at once: both are answered (round-robin, one at a time).
    one.submit(&extend(12, 2), 0);
    two.submit(&extend(12, 3), 0);
    let (a, b) = pump_until(&mut server, || Some((one.response()?, two.response()?)));
    assert_eq!((code(&a), code(&b)), (0, 0));
    assert_ne!(a[10..30], b[10..30], "the second extend saw the first");
    // PCR 17 (the DRTM PCR) cannot be extended from locality 0 but can from
    // locality 4 (PC Client TPM 1.2 spec, PCR attributes): the page's locality byte
    // reaches the engine.
    let refused = exchange(&mut server, &one, &extend(17, 4), 0);
    let allowed = exchange(&mut server, &one, &extend(17, 4), 4);
    assert_ne!(code(&refused), 0);
    assert_eq!(code(&allowed), 0);
}

#[test]
fn a_failed_save_answers_tpm_fail_and_rolls_the_tpm_back() {
    let host = Host::new();
    let boot = Boot::new(&host);
    let (mut server, _) = boot.start(&tpm12()).expect("start");
    let guest = boot.guest(GUEST);
    let first = exchange(&mut server, &guest, &extend(9, 1), 0);
    host.refuse_saves.set(true);
    let failed = exchange(&mut server, &guest, &extend(9, 2), 0);
    assert_eq!(failed, vec![0x00, 0xC4, 0, 0, 0, 10, 0, 0, 0, 0x09], "TPM_FAIL expected");
    let read = exchange(&mut server, &guest, &pcr_read(9), 0);
    assert_eq!(read[10..30], first[10..30], "the unsaved extend is still in memory");
    host.refuse_saves.set(false);
    let second = exchange(&mut server, &guest, &extend(9, 2), 0);
    assert_eq!(code(&second), 0);
    assert_eq!(server.vtpm().stats().failed_saves, 1);
}

#[test]
fn a_state_of_the_other_family_is_refused() {
    let host = Host::new();
    let boot = Boot::new(&host);
    boot.start(&tpm12()).expect("start");
    boot.save_disk(&host);
    let boot = Boot::new(&host);
    let options = Options { family: Family::Tpm20, ..Options::default() };
    match boot.start(&options) {
        Err(app::Error::FamilyMismatch { saved: Family::Tpm12, requested: Family::Tpm20 }) => {}
        other => panic!("expected a family mismatch, got {:?}", other.map(|(_, o)| o)),
    }
}

#[test]
fn a_tpm2_vtpm_starts_serves_and_resumes() {
    let host = Host::new();
    let options = Options { family: Family::Tpm20, ..Options::default() };
    let boot = Boot::new(&host);
    let (mut server, origin) = boot.start(&options).expect("start");
    assert_eq!(origin, Origin::New);
    let guest = boot.guest(GUEST);
    // TPM2_GetRandom(8), then TPM2_PCR_Extend is exercised by the engine's own tests.
    let random = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8];
    let answer = exchange(&mut server, &guest, &random, 0);
    assert_eq!(code(&answer), 0);
    // A second Startup is refused: the vTPM already sent one (TPM_RC_INITIALIZE).
    let startup = app::startup_command(Family::Tpm20, options.startup);
    assert_eq!(code(&exchange(&mut server, &guest, &startup, 0)), 0x100);
    boot.save_disk(&host);
    drop(server);
    let boot = Boot::new(&host);
    let (_, origin) = boot.start(&options).expect("restart");
    assert_eq!(origin, Origin::Resumed);
}

#[test]
fn a_lost_state_stops_the_vtpm_unless_reset_is_allowed() {
    let host = Host::new();
    let boot = Boot::new(&host);
    boot.start(&tpm12()).expect("start");
    // The disk is replaced by a blank one; the manager still holds the key.
    let boot = Boot::new(&host);
    match boot.start(&tpm12()) {
        Err(e @ app::Error::Driver(_)) => {
            assert!(format!("{e}").contains("reset-on-missing-state"), "{e}");
        }
        other => panic!("expected a load failure, got {:?}", other.map(|(_, o)| o)),
    }
    // (A new boot: the failed one's disk connection is still held by the backend.)
    let boot = Boot::new(&host);
    let options = Options { reset_on_missing_state: true, ..Options::default() };
    let (_, origin) = boot.start(&options).expect("reset");
    assert_eq!(origin, Origin::Reset);
}

#[test]
fn a_replayed_or_corrupted_disk_is_refused() {
    let host = Host::new();
    let boot = Boot::new(&host);
    let (mut server, _) = boot.start(&tpm12()).expect("start");
    let guest = boot.guest(GUEST);
    exchange(&mut server, &guest, &extend(8, 1), 0);
    let old = boot.blkback.borrow().disk.clone();
    exchange(&mut server, &guest, &extend(8, 2), 0);
    exchange(&mut server, &guest, &extend(8, 3), 0);
    boot.save_disk(&host);
    drop(server);

    // Replay: the image from two saves ago, with the manager's current key.
    let current = host.disk.borrow().clone();
    *host.disk.borrow_mut() = old;
    let boot = Boot::new(&host);
    assert!(matches!(boot.start(&tpm12()), Err(app::Error::Driver(_))));

    // Corruption: one flipped byte in each slot's body.
    let mut corrupted = current.clone();
    corrupted[100] ^= 1;
    corrupted[DISK_BYTES / 2 + 100] ^= 1;
    *host.disk.borrow_mut() = corrupted;
    let boot = Boot::new(&host);
    assert!(matches!(boot.start(&tpm12()), Err(app::Error::Driver(_))));

    // The genuine image still loads.
    *host.disk.borrow_mut() = current;
    let boot = Boot::new(&host);
    assert_eq!(boot.start(&tpm12()).expect("genuine").1, Origin::Resumed);
}

#[test]
fn hostile_frontend_bytes_never_stop_the_vtpm() {
    use xenbus::abi::tpmif::{STATE_CANCEL, STATE_SUBMIT};
    let host = Host::new();
    let boot = Boot::new(&host);
    let (mut server, _) = boot.start(&tpm12()).expect("start");
    let guest = boot.guest(GUEST);
    let garbage: &[&[u8]] = &[
        &[0xFF; 3],
        &[0x00, 0xC1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0x14],
        &[0x00, 0xC1, 0, 0, 0, 10, 0xFF, 0xFF, 0xFF, 0xFF],
        &[0x80, 0x02, 0, 0, 0, 10, 0, 0, 0x01, 0x44],
        &[0x00, 0xC1, 0, 0, 0, 34, 0, 0, 0, 0x14, 0xFF, 0xFF, 0xFF, 0xFF],
    ];
    for command in garbage {
        let answer = exchange(&mut server, &guest, command, 0);
        assert_eq!(answer.len(), 10, "{command:02x?} → {answer:02x?}");
        assert_ne!(code(&answer), 0);
    }
    // Transport-level garbage: lengths 0 and 5000, extra pages, bad state values,
    // a locality nobody has.
    guest.write_header(0, STATE_SUBMIT, 0, 0, &[]);
    pump_until(&mut server, || guest.response());
    guest.write_header(5000, STATE_SUBMIT, 0, 0, &[0; 64]);
    pump_until(&mut server, || guest.response());
    guest.write_header(14, STATE_SUBMIT, 0, 3, &pcr_read(0));
    pump_until(&mut server, || guest.response());
    for state in [4u8, 0x7F, 0xFF, STATE_CANCEL] {
        guest.write_header(14, state, 0, 0, &pcr_read(0));
        server.serve(usize::MAX);
    }
    let odd_locality = exchange(&mut server, &guest, &pcr_read(0), 200);
    assert_eq!(odd_locality.len(), 10);
    // Still answering.
    assert_eq!(code(&exchange(&mut server, &guest, &pcr_read(0), 0)), 0);
}

#[test]
fn maintenance_commands_are_refused_unless_enabled() {
    let host = Host::new();
    let boot = Boot::new(&host);
    let (mut server, _) = boot.start(&tpm12()).expect("start");
    let guest = boot.guest(GUEST);
    let read_manu_maint_pub = [
        0x00, 0xC1, 0, 0, 0, 30, 0, 0, 0, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ];
    let answer = exchange(&mut server, &guest, &read_manu_maint_pub, 0);
    assert_eq!(answer, vec![0x00, 0xC4, 0, 0, 0, 10, 0, 0, 0, 0x0A]);
    assert_eq!(server.stats().refused, 1);
}

#[test]
fn shutdown_lets_the_command_in_flight_finish_and_save() {
    let host = Host::new();
    let boot = Boot::new(&host);
    let (mut server, _) = boot.start(&tpm12()).expect("start");
    let guest = boot.guest(GUEST);
    exchange(&mut server, &guest, &pcr_read(0), 0);
    let saves = server.vtpm().stats().saves;
    guest.submit(&extend(14, 7), 0);
    // `xl shutdown` arrives together with the command.
    boot.sim.world().store_write(&format!("/local/domain/{VTPM}/control/shutdown"), "poweroff");
    let bus = Rc::clone(server.bus());
    let request = xenbus::control::serve(&bus, &mut server).expect("serve");
    assert_eq!(request, xenbus::control::ShutdownRequest::Poweroff);
    let answer = guest.response().expect("the submitted command was answered");
    assert_eq!(code(&answer), 0);
    assert_eq!(server.vtpm().stats().saves, saves + 1, "and its state saved");
}

#[test]
fn a_stream_of_commands_does_not_delay_shutdown_forever() {
    let host = Host::new();
    let boot = Boot::new(&host);
    let (mut server, _) = boot.start(&tpm12()).expect("start");
    let guest = boot.guest(GUEST);
    exchange(&mut server, &guest, &pcr_read(0), 0);
    // A guest that submits again the moment it is answered (an actor stepped on every
    // wait would be closer; polling ten times with a fresh command each is enough to
    // show that `poll` returns after its budget and the watch is looked at).
    for _ in 0..10 {
        guest.submit(&pcr_read(0), 0);
        xenbus::control::Service::poll(&mut server);
        assert!(guest.response().is_some());
    }
    boot.sim.world().store_write(&format!("/local/domain/{VTPM}/control/shutdown"), "poweroff");
    let bus = Rc::clone(server.bus());
    assert!(xenbus::control::serve(&bus, &mut server).is_ok());
}

#[test]
fn a_guest_reconnecting_keeps_the_same_tpm() {
    let host = Host::new();
    let boot = Boot::new(&host);
    let (mut server, _) = boot.start(&tpm12()).expect("start");
    let mut guest = boot.guest(GUEST);
    let extended = exchange(&mut server, &guest, &extend(13, 1), 0);
    guest.set_state(XenbusState::Closing);
    pump_until(&mut server, || (guest.backend_state() != XenbusState::Connected).then_some(()));
    guest.set_state(XenbusState::Closed);
    pump_until(&mut server, || (guest.backend_state() == XenbusState::InitWait).then_some(()));
    guest.connect(XenbusState::Initialised);
    let read = exchange(&mut server, &guest, &pcr_read(13), 0);
    assert_eq!(read[10..30], extended[10..30]);
    let _ = &boot.manager;
}

#[test]
fn a_disk_too_small_is_named_with_its_size() {
    let host = Host::new();
    *host.disk.borrow_mut() = vec![0; 4096];
    let boot = Boot::new(&host);
    match boot.start(&tpm12()) {
        Err(e) => {
            let text = format!("{e}");
            assert!(text.contains("device/vbd/51712") && text.contains("4096"), "{text}");
        }
        Ok(_) => panic!("a 4 KiB disk was accepted"),
    }
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Any command bytes at any locality get one well-formed response (its size
        /// field is its length), and the vTPM still answers a good command afterwards.
        #[test]
        fn any_command_gets_a_well_formed_answer(
            commands in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 1..200), any::<u8>()), 1..6),
            tpm2 in any::<bool>(),
        ) {
            let host = Host::new();
            let family = if tpm2 { Family::Tpm20 } else { Family::Tpm12 };
            let options = Options { family, ..Options::default() };
            let boot = Boot::new(&host);
            let (mut server, _) = boot.start(&options).expect("start");
            let guest = boot.guest(GUEST);
            for (mut command, locality) in commands {
                // Half the time, a plausible header in front of the garbage.
                if command.len() >= 10 && command[0] & 1 == 0 {
                    let len = u32::try_from(command.len()).unwrap().to_be_bytes();
                    command[..2].copy_from_slice(if tpm2 { &[0x80, 0x01] } else { &[0x00, 0xC1] });
                    command[2..6].copy_from_slice(&len);
                }
                let answer = exchange(&mut server, &guest, &command, locality);
                prop_assert!(answer.len() >= 10);
                let size = u32::from_be_bytes(answer[2..6].try_into().unwrap());
                prop_assert_eq!(size as usize, answer.len());
            }
            let probe: Vec<u8> = if tpm2 {
                vec![0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8]
            } else {
                pcr_read(0)
            };
            prop_assert_eq!(code(&exchange(&mut server, &guest, &probe, 0)), 0);
        }
    }
}

#[test]
fn a_manager_that_fails_its_first_answers_is_asked_again() {
    // A busy host: the first two answers to GetRandom come back empty (no valid answer);
    // the vTPM asks again instead of stopping. A refusal is final.
    let host = Host::new();
    let boot = Boot::new(&host);
    let mut normal = manager(&host);
    let failures = Rc::new(Cell::new(0));
    let seen = Rc::clone(&failures);
    boot.manager.borrow_mut().set_responder(Box::new(move |command, locality| {
        if matches!(Request::parse(command), Ok(Request::GetRandom { .. })) && seen.get() < 2 {
            seen.set(seen.get() + 1);
            return Vec::new();
        }
        normal(command, locality)
    }));
    let (_server, origin) = boot.start(&tpm12()).expect("start after two failed answers");
    assert_eq!(origin, Origin::New);
    assert_eq!(failures.get(), 2);

    let boot = Boot::new(&host);
    boot.manager.borrow_mut().set_responder(Box::new(|_, _| {
        let mut out = vec![0u8; 64];
        let n = vtpm_proto::encode_status(vtpm_proto::tag::RSP, ReturnCode(7), &mut out).unwrap();
        out[..n].to_vec()
    }));
    let error = boot.start(&tpm12()).map(|_| ()).expect_err("a refusal stops the vTPM");
    assert!(format!("{error}").contains("cannot get randomness from the manager"), "{error}");
}
