//! The whole manager on the host: options → TIS model backed by swtpm (both families)
//! → key store on a simulated blkback disk → vTPMs served over tpmback, in the xenbus
//! simulator. Restarts of the manager domain keep the keys; a replayed older disk is
//! refused; the family is checked against `tpm2=`.

#![allow(clippy::cast_possible_truncation, reason = "test data: small known sizes")]

use std::cell::RefCell;
use std::rc::Rc;

use blkfront::testing::FakeBlkback;
use kernel::cmdline::Options;
use swtpm_harness::{Kind, StateDir, Swtpm, SwtpmTransport};
use tpm_client::Family;
use tpm_tis::model::{ModelClock, ModelMmio, TisModel, canned};
use tpmback::testing::FakeFrontend;
use vtpm_proto::{Hashkey, MAX_MESSAGE, Request};
use vtpmmgr_stubdom::app::{self, Running, StartupError};
use vtpmmgr_stubdom::options::{self, ManagerOptions};
use vtpmmgr_stubdom::start::StartError;
use vtpmmgr_stubdom::tis::AttachError;
use xenbus::control::{self, Service, ShutdownRequest};
use xenbus::sim::{Sim, SimDomain};
use xenbus::{Bus, XenbusState};

const MGR: u16 = 2;
const DOM0: u16 = 0;
/// 2 MiB, the size the docs recommend.
const DISK_LEN: usize = 2 << 20;

type Manager = Running<SimDomain, ModelMmio, ModelClock>;

fn uuid(n: u16) -> String {
    format!("6c3bd1a4-0000-4000-8000-{n:012x}")
}

fn parse(line: &'static str) -> ManagerOptions {
    let mut options = Options::parse(line);
    let parsed = options::parse(&mut options).unwrap();
    assert!(options.finish().is_empty(), "{line}");
    parsed
}

/// A TIS model whose TPM is swtpm (commands at the locality the driver holds).
fn tis_over_swtpm(swtpm: &Rc<Swtpm>, family: Family) -> TisModel {
    let swtpm = Rc::clone(swtpm);
    let mut transport: Option<SwtpmTransport> = None;
    TisModel::new(family, move |locality, command| {
        swtpm.set_locality(locality);
        let transport = transport.get_or_insert_with(|| swtpm.transport());
        transport.transmit(command).unwrap_or_default()
    })
}

/// One boot of the manager domain, with its disk served from `disk`.
struct Domain {
    sim: Sim,
    /// The domain's one xenstore client.
    bus: Rc<Bus<SimDomain>>,
    blkback: Rc<RefCell<FakeBlkback>>,
}

impl Domain {
    fn new(disk: Vec<u8>) -> Self {
        let sim = Sim::new();
        let blkback = FakeBlkback::attach(&sim, DOM0, MGR, 768, disk);
        let bus = sim.bus(MGR);
        Self { sim, bus, blkback }
    }

    fn start(&self, tis: &TisModel, line: &'static str) -> Result<Manager, StartupError> {
        app::start(&self.bus, tis.mmio(), tis.clock(), &parse(line))
    }

    fn disk(&self) -> Vec<u8> {
        self.blkback.borrow().disk.clone()
    }

    fn vtpm(&self, manager: &mut Manager, domain: u16) -> FakeFrontend {
        let mut front = FakeFrontend::attach(&self.sim, MGR, domain, 0, &uuid(domain));
        self.run(manager);
        front.connect(XenbusState::Connected);
        self.run(manager);
        assert_eq!(front.backend_state(), XenbusState::Connected);
        front
    }

    /// Lets the world run and the manager handle what came in, until both are idle.
    fn run(&self, manager: &mut Manager) {
        for _ in 0..4 {
            self.sim.run();
            manager.poll();
        }
    }

    /// Sends `request` and returns the answer's (status, body).
    fn ask(
        &self,
        manager: &mut Manager,
        front: &FakeFrontend,
        request: &Request<'_>,
    ) -> (u32, Vec<u8>) {
        let mut bytes = [0u8; MAX_MESSAGE];
        let len = request.encode(&mut bytes).unwrap();
        front.submit(&bytes[..len], 0);
        self.run(manager);
        let response = front.response().expect("no answer");
        assert_eq!(u32::from_be_bytes(response[2..6].try_into().unwrap()) as usize, response.len());
        (u32::from_be_bytes(response[6..10].try_into().unwrap()), response[10..].to_vec())
    }
}

fn key(byte: u8) -> Hashkey {
    Hashkey::new(&[byte; 52]).unwrap()
}

/// Formats a blank disk, serves two vTPMs, survives a restart of the manager domain
/// with the same disk and a restart of the TPM, and refuses the older disk.
fn keys_survive_restarts_and_replay_is_refused(kind: Kind, family: Family, line: &'static str) {
    let dir = StateDir::new("mgr-app");
    let swtpm = Rc::new(Swtpm::start(&dir, kind, true));
    let tis = tis_over_swtpm(&swtpm, family);

    let domain = Domain::new(vec![0; DISK_LEN]);
    let mut manager = domain.start(&tis, line).unwrap();
    assert_eq!(manager.family(), family);
    assert!(manager.service().store().is_empty());
    let blank_formatted = domain.disk();
    assert_ne!(blank_formatted, vec![0; DISK_LEN], "formatting wrote nothing");

    let first = domain.vtpm(&mut manager, 5);
    let second = domain.vtpm(&mut manager, 6);
    // Unknown uuid: "no record" (TPM_BAD_PARAMETER), which a vTPM takes as a first start.
    assert_eq!(domain.ask(&mut manager, &first, &Request::LoadHashKey).0, 3);
    assert_eq!(domain.ask(&mut manager, &first, &Request::SaveHashKey(key(1))).0, 0);
    assert_eq!(domain.ask(&mut manager, &second, &Request::SaveHashKey(key(2))).0, 0);
    let (status, body) = domain.ask(&mut manager, &first, &Request::LoadHashKey);
    assert_eq!((status, body), (0, vec![1; 52]));
    let (status, body) = domain.ask(&mut manager, &second, &Request::GetBootHash);
    assert_eq!((status, body), (0, vec![0; 20]));
    let (status, body) =
        domain.ask(&mut manager, &second, &Request::GetRandom { bytes_requested: 16 });
    assert_eq!(status, 0);
    assert_eq!(body.len(), 4 + 16);
    assert_eq!(&body[..4], &16u32.to_be_bytes());
    drop(manager);
    let saved = domain.disk();

    // The manager domain restarts (xl destroy + xl create): same disk, same TPM.
    let domain = Domain::new(saved.clone());
    let mut manager = domain.start(&tis, line).unwrap();
    assert_eq!(manager.service().store().len(), 2);
    let first = domain.vtpm(&mut manager, 5);
    assert_eq!(domain.ask(&mut manager, &first, &Request::LoadHashKey), (0, vec![1; 52]));
    // The vTPM saves again: the disk moves on, the TPM's counter with it.
    assert_eq!(domain.ask(&mut manager, &first, &Request::SaveHashKey(key(9))).0, 0);
    drop(manager);
    let newer = domain.disk();

    // The TPM restarts too (the whole machine): state kept.
    drop(tis);
    Rc::try_unwrap(swtpm).unwrap().stop();
    let swtpm = Rc::new(Swtpm::start(&dir, kind, true));
    let tis = tis_over_swtpm(&swtpm, family);
    let domain = Domain::new(newer);
    let mut manager = domain.start(&tis, line).unwrap();
    let first = domain.vtpm(&mut manager, 5);
    assert_eq!(domain.ask(&mut manager, &first, &Request::LoadHashKey), (0, vec![9; 52]));
    drop(manager);

    // An older complete image is refused, with the reason.
    let domain = Domain::new(saved);
    match domain.start(&tis, line) {
        Err(e @ StartupError::Store(StartError::Store(mgr_store::Error::RolledBack { .. }))) => {
            let text = e.to_string();
            assert!(text.contains("older") || text.contains("roll"), "{text}");
        }
        other => panic!("replayed disk not refused: {other:?}"),
    }
}

#[test]
fn tpm2_keys_survive_restarts_and_replay_is_refused() {
    keys_survive_restarts_and_replay_is_refused(
        Kind::Tpm2,
        Family::Tpm20,
        "tpm2=1 tpmlocality=2 seal_pcrs=0,2,4,7",
    );
}

#[test]
fn tpm12_keys_survive_restarts_and_replay_is_refused() {
    keys_survive_restarts_and_replay_is_refused(Kind::Tpm12, Family::Tpm12, "seal_pcrs=0,16");
}

#[test]
fn family_mismatch_is_a_clear_error() {
    let domain = Domain::new(vec![0; DISK_LEN]);
    let tis = TisModel::new(Family::Tpm12, canned::tpm12());
    match domain.start(&tis, "tpm2") {
        Err(e @ StartupError::Tpm(AttachError::FamilyMismatch { .. })) => {
            let text = e.to_string();
            assert!(text.contains("TPM 2.0") && text.contains("TPM 1.2"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    let tis = TisModel::new(Family::Tpm20, canned::tpm20());
    assert!(matches!(
        domain.start(&tis, "tpm2=0"),
        Err(StartupError::Tpm(AttachError::FamilyMismatch {
            configured: Family::Tpm12,
            found: Family::Tpm20
        }))
    ));
    assert_eq!(domain.disk(), vec![0; DISK_LEN], "nothing written without a TPM");
    assert_eq!(tis.active_locality(), None, "locality kept after refusing to start");
}

#[test]
fn no_tpm_at_the_address_is_a_clear_error() {
    let domain = Domain::new(vec![0; DISK_LEN]);
    let tis = TisModel::new(Family::Tpm20, canned::tpm20());
    tis.set_did_vid(u32::MAX);
    let error = domain.start(&tis, "").unwrap_err();
    assert!(error.to_string().contains("iomem="), "{error}");
}

#[test]
fn foreign_disk_is_never_formatted_without_reformat() {
    let dir = StateDir::new("mgr-app-foreign");
    let swtpm = Rc::new(Swtpm::start(&dir, Kind::Tpm2, true));
    let tis = tis_over_swtpm(&swtpm, Family::Tpm20);
    let foreign = vec![0x5a; DISK_LEN];
    let domain = Domain::new(foreign.clone());
    let error = domain.start(&tis, "").unwrap_err();
    assert!(error.to_string().contains("reformat"), "{error}");
    assert_eq!(tis.active_locality(), None, "locality kept after refusing to start");
    assert_eq!(domain.disk(), foreign);
    let domain = Domain::new(foreign);
    let mut manager = domain.start(&tis, "reformat").unwrap();
    assert!(manager.service().store().is_empty());
}

#[test]
fn no_disk_is_a_clear_error() {
    let sim = Sim::new();
    let dir = StateDir::new("mgr-app-nodisk");
    let swtpm = Rc::new(Swtpm::start(&dir, Kind::Tpm2, true));
    let tis = tis_over_swtpm(&swtpm, Family::Tpm20);
    let error = app::start(&sim.bus(MGR), tis.mmio(), tis.clock(), &parse("")).unwrap_err();
    assert!(matches!(error, StartupError::NoDisk), "{error}");
}

#[test]
fn xl_shutdown_stops_the_idle_loop() {
    let dir = StateDir::new("mgr-app-shutdown");
    let swtpm = Rc::new(Swtpm::start(&dir, Kind::Tpm2, true));
    let tis = tis_over_swtpm(&swtpm, Family::Tpm20);
    let domain = Domain::new(vec![0; DISK_LEN]);
    let mut manager = domain.start(&tis, "").unwrap();
    let front = domain.vtpm(&mut manager, 5);
    assert_eq!(domain.ask(&mut manager, &front, &Request::SaveHashKey(key(4))).0, 0);
    let node = format!("/local/domain/{MGR}/control/shutdown");
    domain.sim.world().store_write(&node, "poweroff");
    assert_eq!(control::serve(&domain.bus, &mut manager), Ok(ShutdownRequest::Poweroff));
    assert_eq!(domain.sim.world().store_read(&node).as_deref(), Some(""));
    // The locality is given up: a next manager at a lower locality gets the TPM.
    assert_eq!(tis.active_locality(), None);
}

#[test]
fn second_connection_with_the_same_uuid_is_refused() {
    let dir = StateDir::new("mgr-app-twice");
    let swtpm = Rc::new(Swtpm::start(&dir, Kind::Tpm2, true));
    let tis = tis_over_swtpm(&swtpm, Family::Tpm20);
    let domain = Domain::new(vec![0; DISK_LEN]);
    let mut manager = domain.start(&tis, "").unwrap();
    let first = domain.vtpm(&mut manager, 5);
    let mut twin = FakeFrontend::attach(&domain.sim, MGR, 6, 0, &uuid(5));
    domain.run(&mut manager);
    twin.connect(XenbusState::Connected);
    domain.run(&mut manager);
    assert_eq!(domain.ask(&mut manager, &first, &Request::SaveHashKey(key(1))).0, 0);
    // TPM_DISABLED for the twin while the first holds the uuid.
    assert_eq!(domain.ask(&mut manager, &twin, &Request::LoadHashKey).0, 7);
    // Garbage gets an error answer, not a crash.
    twin.submit(&[0x01, 0xC1, 0, 0, 0, 3], 0);
    domain.run(&mut manager);
    assert!(twin.response().is_some());
}
