//! The TPM 2.0 client against swtpm (libtpms), the hardware TPM stand-in.

mod common;

use common::{Kind, StateDir, Swtpm, SwtpmTransport};
use sha2::{Digest, Sha256};
use tpm_client::tpm2::Tpm2Client;
use tpm_client::tpm2::policy::seal_policy;
use tpm_client::{
    Config, Error, Family, HardwareTpm, MAX_SEALED_ROOT, MonotonicCounter, PcrSelection, PcrValue,
    SealedRoot, Transport,
};

const SECRET: [u8; 32] = *b"the manager's 32-byte root key!!";

fn detect(swtpm: &Swtpm, config: Config) -> HardwareTpm<SwtpmTransport> {
    HardwareTpm::detect(common::transport(swtpm), config).expect("detect")
}

fn client(tpm: &mut HardwareTpm<SwtpmTransport>) -> &mut Tpm2Client<SwtpmTransport> {
    match tpm {
        HardwareTpm::Tpm2(client) => client,
        HardwareTpm::Tpm12(_) => panic!("swtpm --tpm2 detected as TPM 1.2"),
    }
}

fn pcrs(list: &str) -> PcrSelection {
    PcrSelection::parse(list).unwrap()
}

#[test]
fn detect_finds_tpm2() {
    let dir = StateDir::new("t2-detect");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let tpm = detect(&swtpm, Config::default());
    assert_eq!(tpm.family(), Family::Tpm20);
}

#[test]
fn detect_sends_startup_to_an_unstarted_tpm2() {
    let dir = StateDir::new("t2-startup");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, false);
    let mut tpm = detect(&swtpm, Config::default());
    let mut random = [0u8; 16];
    tpm.random(&mut random).unwrap();
    assert_ne!(random, [0u8; 16]);
}

#[test]
fn seal_then_unseal_returns_the_secret() {
    let dir = StateDir::new("t2-roundtrip");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut tpm = detect(&swtpm, Config::default());
    let sealed = tpm.seal_root(&SECRET, pcrs("0,2,4,7")).unwrap();
    assert_eq!(sealed.family(), Family::Tpm20);
    assert_eq!(sealed.pcrs(), pcrs("0,2,4,7"));
    let bytes = sealed.to_bytes();
    assert!(bytes.len() <= MAX_SEALED_ROOT, "{} bytes", bytes.len());
    let parsed = SealedRoot::from_bytes(&bytes).unwrap();
    assert_eq!(*tpm.unseal_root(&parsed).unwrap(), SECRET);
}

#[test]
fn unseal_is_refused_after_a_selected_pcr_changes() {
    let dir = StateDir::new("t2-pcr-selected");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut tpm = detect(&swtpm, Config::default());
    let sealed = tpm.seal_root(&SECRET, pcrs("7,16")).unwrap();
    client(&mut tpm).pcr_extend(16, &[0xEE; 32]).unwrap();
    let err = tpm.unseal_root(&sealed).unwrap_err();
    assert!(matches!(err, Error::PcrMismatch { family: Family::Tpm20, .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("platform measurements changed since the secret was sealed"),
        "{err}"
    );
}

#[test]
fn unseal_is_allowed_after_an_unselected_pcr_changes() {
    let dir = StateDir::new("t2-pcr-unselected");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut tpm = detect(&swtpm, Config::default());
    let sealed = tpm.seal_root(&SECRET, pcrs("7,16")).unwrap();
    client(&mut tpm).pcr_extend(15, &[0xEE; 32]).unwrap();
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
}

#[test]
fn sealed_root_unseals_after_a_restart() {
    let dir = StateDir::new("t2-restart");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let (bytes, name) = {
        let mut tpm = detect(&swtpm, Config::default());
        let sealed = tpm.seal_root(&SECRET, pcrs("0-7")).unwrap();
        (sealed.to_bytes(), client(&mut tpm).storage_key_name().unwrap())
    };
    swtpm.stop();

    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut tpm = detect(&swtpm, Config::default());
    // The storage key is re-created from the template: same owner seed, same key.
    assert_eq!(client(&mut tpm).storage_key_name().unwrap(), name);
    let sealed = SealedRoot::from_bytes(&bytes).unwrap();
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
}

#[test]
fn persistent_storage_key_is_made_once_and_is_the_template_key() {
    let dir = StateDir::new("t2-persistent");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let template_name = client(&mut detect(&swtpm, Config::default())).storage_key_name().unwrap();
    let mut config = Config::default();
    config.set_option("srk_handle", "0x81000101").unwrap();
    let bytes = {
        let mut tpm = detect(&swtpm, config.clone());
        let sealed = tpm.seal_root(&SECRET, pcrs("7")).unwrap();
        assert_eq!(client(&mut tpm).storage_key_name().unwrap(), template_name);
        sealed.to_bytes()
    };
    swtpm.stop();

    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut tpm = detect(&swtpm, config);
    let sealed = SealedRoot::from_bytes(&bytes).unwrap();
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
    // The key really is persistent now: a TPM2_ReadPublic of the handle answers.
    let mut transport = tpm.into_transport();
    let read_public = [0x80, 0x01, 0, 0, 0, 14, 0, 0, 0x01, 0x73, 0x81, 0x00, 0x01, 0x01];
    let response = common::raw(&mut transport, &read_public);
    assert_eq!(&response[6..10], &[0, 0, 0, 0], "ReadPublic of 0x81000101 failed");
}

#[test]
fn software_policy_matches_a_trial_session() {
    let dir = StateDir::new("t2-policy");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut tpm = detect(&swtpm, Config::default());
    let client = client(&mut tpm);
    client.pcr_extend(10, &[0x11; 32]).unwrap();
    for (list, locality) in [("0,2,4,7", 0), ("10", 3), ("0-23", 0), ("none", 4)] {
        let selection = pcrs(list);
        let values = client.pcr_read(selection).unwrap();
        assert_eq!(values.len(), selection.len());
        let trial = client.trial_policy_digest(selection, locality).unwrap();
        assert_eq!(seal_policy(selection, &values, locality), trial, "{list} at {locality}");
    }
}

#[test]
fn sealing_to_predicted_values_unseals_once_they_are_reached() {
    let dir = StateDir::new("t2-predicted");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut tpm = detect(&swtpm, Config::default());
    let PcrValue::Sha256(now) = tpm.pcr_read(16).unwrap() else { panic!("not SHA-256") };
    let event = [0x42; 32];
    let next: [u8; 32] = Sha256::new().chain_update(now).chain_update(event).finalize().into();
    let sealed = tpm.seal_root_to_values(&SECRET, pcrs("16"), &[PcrValue::Sha256(next)]).unwrap();
    assert!(matches!(tpm.unseal_root(&sealed), Err(Error::PcrMismatch { .. })));
    client(&mut tpm).pcr_extend(16, &event).unwrap();
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
}

#[test]
fn unseal_from_another_locality_is_refused() {
    let dir = StateDir::new("t2-locality");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut config = Config::default();
    config.set_locality(2).unwrap();
    swtpm.set_locality(2);
    let mut tpm = detect(&swtpm, config);
    let sealed = tpm.seal_root(&SECRET, pcrs("7")).unwrap();
    assert_eq!(sealed.locality(), 2);
    swtpm.set_locality(0);
    let err = tpm.unseal_root(&sealed).unwrap_err();
    assert!(matches!(err, Error::LocalityMismatch { family: Family::Tpm20, .. }), "{err:?}");
    swtpm.set_locality(2);
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
}

#[test]
fn nv_counter_is_defined_incremented_and_persists() {
    let dir = StateDir::new("t2-counter");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let after = {
        let mut tpm = detect(&swtpm, Config::default());
        let mut counter = tpm.counter().unwrap();
        let first = counter.read().unwrap();
        assert_eq!(counter.increment().unwrap(), first + 1);
        assert_eq!(counter.increment().unwrap(), first + 2);
        assert_eq!(counter.read().unwrap(), first + 2);
        first + 2
    };
    swtpm.stop();

    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut tpm = detect(&swtpm, Config::default());
    assert_eq!(tpm.read().unwrap(), after);
    assert_eq!(tpm.increment().unwrap(), after + 1);
}

#[test]
fn counter_index_holding_something_else_is_refused() {
    let dir = StateDir::new("t2-counter-foreign");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut transport = common::transport(&swtpm);
    // TPM2_NV_DefineSpace(owner, empty auth, ordinary index 0x0180c1c1, owner write+read, 8 bytes).
    let define = [
        0x80, 0x02, 0, 0, 0, 0x2D, 0, 0, 0x01, 0x2A, 0x40, 0, 0, 1, 0, 0, 0, 9, 0x40, 0, 0, 9, 0,
        0, 0, 0, 0, 0, 0, 0, 0x0E, 0x01, 0x80, 0xC1, 0xC1, 0, 0x0B, 0x00, 0x02, 0x00, 0x02, 0, 0,
        0, 8,
    ];
    let response = common::raw(&mut transport, &define);
    assert_eq!(&response[6..10], &[0, 0, 0, 0], "NV_DefineSpace failed: {response:02x?}");
    drop(transport);
    let mut tpm = detect(&swtpm, Config::default());
    let err = tpm.counter().unwrap_err();
    assert!(matches!(err, Error::CounterIndexMismatch { index: 0x0180_C1C1 }), "{err:?}");
}

#[test]
fn owner_authorisation_is_checked() {
    let dir = StateDir::new("t2-owner-auth");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut transport = common::transport(&swtpm);
    // TPM2_HierarchyChangeAuth(TPM_RH_OWNER, newAuth "secret") with the empty password.
    let change = [
        0x80, 0x02, 0, 0, 0, 0x23, 0, 0, 0x01, 0x29, 0x40, 0, 0, 1, 0, 0, 0, 9, 0x40, 0, 0, 9, 0,
        0, 0, 0, 0, 0, 6, b's', b'e', b'c', b'r', b'e', b't',
    ];
    let response = transport.transmit(&change).unwrap();
    assert_eq!(&response[6..10], &[0, 0, 0, 0], "HierarchyChangeAuth failed: {response:02x?}");
    drop(transport);

    let mut tpm = detect(&swtpm, Config::default());
    let err = tpm.counter().unwrap_err();
    assert!(matches!(err, Error::AuthFailed { family: Family::Tpm20, .. }), "{err:?}");
    let err = tpm.seal_root(&SECRET, pcrs("7")).unwrap_err();
    assert!(matches!(err, Error::AuthFailed { .. }), "{err:?}");
    drop(tpm);

    let mut config = Config::default();
    config.set_option("owner_auth", "text:secret").unwrap();
    let mut tpm = detect(&swtpm, config);
    let sealed = tpm.seal_root(&SECRET, pcrs("7")).unwrap();
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
}

#[test]
fn operations_leave_no_transient_handle_behind() {
    let dir = StateDir::new("t2-flush");
    let swtpm = Swtpm::start(&dir, Kind::Tpm2, true);
    let mut tpm = detect(&swtpm, Config::default());
    let sealed = tpm.seal_root(&SECRET, pcrs("7,16")).unwrap();
    tpm.unseal_root(&sealed).unwrap();
    client(&mut tpm).pcr_extend(16, &[1; 32]).unwrap();
    assert!(tpm.unseal_root(&sealed).is_err());
    let mut transport = tpm.into_transport();
    for first in [0x8000_0000u32, 0x0300_0000, 0x0200_0000] {
        // TPM2_GetCapability(TPM_CAP_HANDLES, first, 16)
        let mut get = vec![0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7A, 0, 0, 0, 1];
        get.extend_from_slice(&first.to_be_bytes());
        get.extend_from_slice(&16u32.to_be_bytes());
        let response = common::raw(&mut transport, &get);
        assert_eq!(&response[6..10], &[0, 0, 0, 0]);
        // moreData, capability, count
        assert_eq!(&response[15..19], &[0, 0, 0, 0], "handles left at {first:#x}: {response:02x?}");
    }
}
