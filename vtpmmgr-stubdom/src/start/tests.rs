//! Start-up against swtpm (libtpms) as the hardware TPM, both families.

#![allow(clippy::cast_possible_truncation, reason = "test code: small, known sizes")]

use super::*;
use crate::service::{Caller, Manager};
use alloc::vec;
use alloc::vec::Vec;
use mgr_store::MemDisk;
use swtpm_harness::{Kind, StateDir, Swtpm, SwtpmTransport};
use tpm_client::Config;
use vtpm_proto::{Hashkey, MAX_MESSAGE, Request, Uuid};

/// Image size in 4 KiB sectors.
const SECTORS: usize = 64;

type TestStore = Store<MemDisk, TpmCounter<SwtpmTransport>>;

fn options(pcrs: &str) -> StartOptions {
    StartOptions {
        pcrs: PcrSelection::parse(pcrs).unwrap(),
        reformat: false,
        rebind_counter: false,
    }
}

fn attach(swtpm: &Swtpm) -> SharedTpm<SwtpmTransport> {
    Rc::new(RefCell::new(
        HardwareTpm::detect(swtpm.transport(), Config::default()).expect("detect"),
    ))
}

/// Stores `byte`-filled key material for uuid `byte` through the protocol handler, and
/// returns the disk image afterwards.
fn save_key(store: TestStore, tpm: &SharedTpm<SwtpmTransport>, byte: u8) -> Vec<u8> {
    let mut manager = Manager::new(store, TpmHardware(tpm.clone()));
    let caller = Caller { domid: 1, handle: 0, uuid: Uuid([byte; 16]) };
    let mut request = [0u8; MAX_MESSAGE];
    let len =
        Request::SaveHashKey(Hashkey::new(&[byte; 52]).unwrap()).encode(&mut request).unwrap();
    let mut out = [0u8; MAX_MESSAGE];
    manager.handle(&caller, &request[..len], &mut out);
    assert_eq!(&out[6..10], &[0, 0, 0, 0], "SAVEHASHKEY failed");
    image(manager.into_store())
}

fn image(store: TestStore) -> Vec<u8> {
    store.into_parts().0.into_image()
}

fn key_of(store: &mut TestStore, byte: u8) -> Option<Vec<u8>> {
    store.get(&[byte; 16]).unwrap().map(|e| e.key.as_bytes().to_vec())
}

/// Extends PCR 16 (resettable, usable from locality 0) on the raw data channel.
fn extend_pcr16(swtpm: &Swtpm, kind: Kind) {
    let mut t = swtpm.transport();
    let command: Vec<u8> = match kind {
        // TPM_Extend(16, digest): tag, size 34, ordinal 0x14 (TPM 1.2 Part 3 §16.1).
        Kind::Tpm12 => {
            let mut c = vec![0x00, 0xc1, 0, 0, 0, 34, 0, 0, 0, 0x14, 0, 0, 0, 16];
            c.extend_from_slice(&[0xab; 20]);
            c
        }
        // TPM2_PCR_Extend(16, {SHA-256: digest}) with an empty password session.
        Kind::Tpm2 => {
            let mut c = vec![0x80, 0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x82, 0, 0, 0, 16];
            c.extend_from_slice(&[0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 1, 0, 0]);
            c.extend_from_slice(&[0, 0, 0, 1, 0x00, 0x0b]);
            c.extend_from_slice(&[0xab; 32]);
            let size = (c.len() as u32).to_be_bytes();
            c[2..6].copy_from_slice(&size);
            c
        }
    };
    let response = t.transmit(&command).unwrap();
    assert_eq!(&response[6..10], &[0, 0, 0, 0], "PCR 16 extend refused");
}

/// Format a blank disk, store a key, restart the TPM, open the disk again: the key is
/// there; a replayed older image is refused.
fn keys_survive_restart_and_replay_is_refused(kind: Kind) {
    let dir = StateDir::new("mgr-start");
    let swtpm = Swtpm::start(&dir, kind, true);
    let tpm = attach(&swtpm);
    let (store, started) = open_store(MemDisk::new(SECTORS), &tpm, options("0,16")).unwrap();
    assert_eq!(started, Started::Formatted);
    let before = image(store);
    let (store, _) =
        open_store(MemDisk::from_image(before.clone()), &tpm, options("0,16")).unwrap();
    let after = save_key(store, &tpm, 7);
    drop(tpm);
    swtpm.stop();

    let swtpm = Swtpm::start(&dir, kind, true);
    let tpm = attach(&swtpm);
    let (mut store, started) =
        open_store(MemDisk::from_image(after), &tpm, options("0,16")).unwrap();
    assert_eq!(started, Started::Opened { resealed: false });
    assert_eq!(key_of(&mut store, 7), Some(vec![7; 52]));
    drop(store);
    match open_store(MemDisk::from_image(before), &tpm, options("0,16")) {
        Err(StartError::Store(mgr_store::Error::RolledBack { .. })) => {}
        other => panic!("replayed image not refused: {other:?}"),
    }
}

/// A selected PCR changes: the secret no longer unseals, and the error says why.
fn changed_pcr_refuses_unseal(kind: Kind) {
    let dir = StateDir::new("mgr-pcr");
    let swtpm = Swtpm::start(&dir, kind, true);
    let tpm = attach(&swtpm);
    let (store, _) = open_store(MemDisk::new(SECTORS), &tpm, options("16")).unwrap();
    let disk = image(store);
    // swtpm serves one data connection at a time: let go of the TPM to extend.
    drop(tpm);
    extend_pcr16(&swtpm, kind);
    let tpm = attach(&swtpm);
    match open_store(MemDisk::from_image(disk), &tpm, options("16")) {
        Err(e @ StartError::Unseal(tpm_client::Error::PcrMismatch { .. })) => {
            let text = alloc::format!("{e}");
            assert!(text.contains("re-seal"), "{text}");
        }
        other => panic!("unseal not refused: {other:?}"),
    }
}

/// A new PCR selection re-seals the secret; the store opens with either blob afterwards.
fn new_selection_reseals(kind: Kind) {
    let dir = StateDir::new("mgr-reseal");
    let swtpm = Swtpm::start(&dir, kind, true);
    let tpm = attach(&swtpm);
    let (store, _) = open_store(MemDisk::new(SECTORS), &tpm, options("0")).unwrap();
    let (store, started) =
        open_store(MemDisk::from_image(image(store)), &tpm, options("0,2")).unwrap();
    assert_eq!(started, Started::Opened { resealed: true });
    let (_, started) = open_store(MemDisk::from_image(image(store)), &tpm, options("0,2")).unwrap();
    assert_eq!(started, Started::Opened { resealed: false });
}

#[test]
fn tpm2_keys_survive_restart_and_replay_is_refused() {
    keys_survive_restart_and_replay_is_refused(Kind::Tpm2);
}

#[test]
fn tpm12_keys_survive_restart_and_replay_is_refused() {
    keys_survive_restart_and_replay_is_refused(Kind::Tpm12);
}

#[test]
fn tpm2_changed_pcr_refuses_unseal() {
    changed_pcr_refuses_unseal(Kind::Tpm2);
}

#[test]
fn tpm12_changed_pcr_refuses_unseal() {
    changed_pcr_refuses_unseal(Kind::Tpm12);
}

#[test]
fn tpm2_new_selection_reseals() {
    new_selection_reseals(Kind::Tpm2);
}

#[test]
fn foreign_and_c_images_are_refused_unless_reformat() {
    let dir = StateDir::new("mgr-foreign");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let tpm = attach(&swtpm);
    let mut garbage = vec![0u8; SECTORS * 4096];
    garbage[100] = 1;
    assert!(matches!(
        open_store(MemDisk::from_image(garbage.clone()), &tpm, options("0")),
        Err(StartError::Foreign)
    ));
    let mut c_image = vec![0u8; SECTORS * 4096];
    c_image[..12].copy_from_slice(b"TPM\xfeMGR\xddDOM\0");
    assert!(matches!(
        open_store(MemDisk::from_image(c_image), &tpm, options("0")),
        Err(StartError::CImage { version: 0 })
    ));
    let reformat = StartOptions { reformat: true, ..options("0") };
    let (_, started) = open_store(MemDisk::from_image(garbage), &tpm, reformat).unwrap();
    assert_eq!(started, Started::Formatted);
}

#[test]
fn tpm12_passthrough_reads_hardware_pcrs() {
    let dir = StateDir::new("mgr-pcrread");
    let swtpm = Swtpm::start(&dir, Kind::Tpm12, true);
    extend_pcr16(&swtpm, Kind::Tpm12);
    let mut hardware = TpmHardware(attach(&swtpm));
    assert_ne!(hardware.pcr_read_sha1(16).unwrap(), [0; 20]);
    assert_eq!(hardware.pcr_read_sha1(24), Err(HardwareError::BadIndex));
}
