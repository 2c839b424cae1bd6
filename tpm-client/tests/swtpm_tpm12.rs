//! The TPM 1.2 client against swtpm (libtpms), the hardware TPM stand-in.

mod common;

use common::{Kind, StateDir, Swtpm, SwtpmTransport};
use tpm_client::tpm12::{CounterRef, NV_COUNTER_INDEX, Tpm12Client};
use tpm_client::{
    Config, Error, Family, HardwareTpm, MAX_SEALED_ROOT, MonotonicCounter, PcrSelection, PcrValue,
    SealedRoot,
};

const SECRET: [u8; 32] = *b"the manager's 32-byte root key!!";

fn config(owner: &str, srk: &str) -> Config {
    let mut config = Config::default();
    config.set_option("owner_auth", owner).unwrap();
    config.set_option("srk_auth", srk).unwrap();
    config
}

fn detect(swtpm: &Swtpm, config: Config) -> HardwareTpm<SwtpmTransport> {
    HardwareTpm::detect(common::transport(swtpm), config).expect("detect")
}

fn client(tpm: &mut HardwareTpm<SwtpmTransport>) -> &mut Tpm12Client<SwtpmTransport> {
    match tpm {
        HardwareTpm::Tpm12(client) => client,
        HardwareTpm::Tpm2(_) => panic!("swtpm (TPM 1.2) detected as TPM 2.0"),
    }
}

fn pcrs(list: &str) -> PcrSelection {
    PcrSelection::parse(list).unwrap()
}

/// A fresh swtpm, owned by the client with `text:owner` / `text:srk`.
fn owned(name: &str) -> (StateDir, Swtpm) {
    let dir = StateDir::new(name);
    let swtpm = Swtpm::start(&dir, Kind::Tpm12, true);
    let tpm = detect(&swtpm, config("text:owner", "text:srk"));
    assert_eq!(tpm.family(), Family::Tpm12);
    (dir, swtpm)
}

#[test]
fn detect_finds_tpm12_starts_it_and_takes_ownership() {
    let dir = StateDir::new("t12-detect");
    let swtpm = Swtpm::start(&dir, Kind::Tpm12, false);
    let mut tpm = detect(&swtpm, config("text:owner", "text:srk"));
    assert_eq!(tpm.family(), Family::Tpm12);
    // Owned now: a second client with the same owner authorisation is accepted.
    drop(tpm);
    tpm = detect(&swtpm, config("text:owner", "text:srk"));
    let mut random = [0u8; 200];
    tpm.random(&mut random).unwrap();
    assert!(random.iter().any(|&b| b != 0));
}

#[test]
fn seal_then_unseal_returns_the_secret() {
    let (_dir, swtpm) = owned("t12-roundtrip");
    let mut tpm = detect(&swtpm, config("text:owner", "text:srk"));
    let sealed = tpm.seal_root(&SECRET, pcrs("0,2,4,7")).unwrap();
    assert_eq!(sealed.family(), Family::Tpm12);
    let bytes = sealed.to_bytes();
    assert!(bytes.len() <= MAX_SEALED_ROOT, "{} bytes", bytes.len());
    let parsed = SealedRoot::from_bytes(&bytes).unwrap();
    assert_eq!(*tpm.unseal_root(&parsed).unwrap(), SECRET);
}

#[test]
fn unseal_follows_the_selected_pcrs_only() {
    let (_dir, swtpm) = owned("t12-pcrs");
    let mut tpm = detect(&swtpm, config("text:owner", "text:srk"));
    let sealed = tpm.seal_root(&SECRET, pcrs("7,16")).unwrap();
    client(&mut tpm).pcr_extend(15, &[0xEE; 20]).unwrap();
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
    let before = tpm.pcr_read(16).unwrap();
    let after = client(&mut tpm).pcr_extend(16, &[0xEE; 20]).unwrap();
    assert_ne!(before, PcrValue::Sha1(after));
    let err = tpm.unseal_root(&sealed).unwrap_err();
    assert!(matches!(err, Error::PcrMismatch { family: Family::Tpm12, rc: 0x18 }), "{err:?}");
    assert!(
        err.to_string().starts_with("platform measurements changed since the secret was sealed")
    );
}

#[test]
fn unseal_from_another_locality_is_refused() {
    let (_dir, swtpm) = owned("t12-locality");
    let mut config = config("text:owner", "text:srk");
    config.set_locality(2).unwrap();
    swtpm.set_locality(2);
    let mut tpm = detect(&swtpm, config);
    let sealed = tpm.seal_root(&SECRET, pcrs("7")).unwrap();
    swtpm.set_locality(0);
    let err = tpm.unseal_root(&sealed).unwrap_err();
    assert!(matches!(err, Error::LocalityMismatch { family: Family::Tpm12, .. }), "{err:?}");
    swtpm.set_locality(2);
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
}

#[test]
fn sealed_root_and_counter_survive_a_restart() {
    let (dir, swtpm) = owned("t12-restart");
    let (bytes, value) = {
        let mut tpm = detect(&swtpm, config("text:owner", "text:srk"));
        let sealed = tpm.seal_root(&SECRET, pcrs("0-7")).unwrap();
        let mut counter = tpm.counter().unwrap();
        let first = counter.read().unwrap();
        assert_eq!(counter.increment().unwrap(), first + 1);
        (sealed.to_bytes(), first + 1)
    };
    swtpm.stop();

    let swtpm = Swtpm::start(&dir, Kind::Tpm12, true);
    let mut tpm = detect(&swtpm, config("text:owner", "text:srk"));
    let sealed = SealedRoot::from_bytes(&bytes).unwrap();
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
    // The counter the sealed root names, found again by its label.
    assert_eq!(tpm.read().unwrap(), value);
    assert_eq!(tpm.increment().unwrap(), value + 1);
    assert_eq!(tpm.read().unwrap(), value + 1);
}

#[test]
fn counter_is_created_once() {
    let (_dir, swtpm) = owned("t12-counter");
    let first = {
        let mut tpm = detect(&swtpm, config("text:owner", "text:srk"));
        let id = client(&mut tpm).counter_ref().unwrap();
        (id, tpm.read().unwrap())
    };
    let mut tpm = detect(&swtpm, config("text:owner", "text:srk"));
    assert_eq!(client(&mut tpm).counter_ref().unwrap(), first.0);
    assert_eq!(tpm.read().unwrap(), first.1);
}

#[test]
fn existing_owner_with_a_wrong_authorisation_is_refused() {
    let (_dir, swtpm) = owned("t12-wrong-owner");
    let err = HardwareTpm::detect(common::transport(&swtpm), config("text:intruder", "text:srk"))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, Error::AuthFailed { family: Family::Tpm12, rc: 0x01, .. }), "{err:?}");
}

#[test]
fn wrong_srk_authorisation_is_refused() {
    let (_dir, swtpm) = owned("t12-wrong-srk");
    let mut tpm = detect(&swtpm, config("text:owner", "well-known"));
    let err = tpm.seal_root(&SECRET, pcrs("7")).unwrap_err();
    assert!(matches!(err, Error::AuthFailed { family: Family::Tpm12, .. }), "{err:?}");
}

#[test]
fn well_known_owner_takes_ownership_too() {
    let dir = StateDir::new("t12-well-known");
    let swtpm = Swtpm::start(&dir, Kind::Tpm12, true);
    let mut tpm = detect(&swtpm, Config::default());
    let sealed = tpm.seal_root(&SECRET, pcrs("7")).unwrap();
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
}

#[test]
fn sealed_root_of_the_other_family_is_refused() {
    let (_dir, swtpm) = owned("t12-family");
    let dir2 = StateDir::new("t12-family-2");
    let swtpm2 = Swtpm::start(&dir2, Kind::Tpm2, true);
    let sealed = detect(&swtpm2, Config::default()).seal_root(&SECRET, pcrs("7")).unwrap();
    let mut tpm = detect(&swtpm, config("text:owner", "text:srk"));
    let err = tpm.unseal_root(&sealed).unwrap_err();
    assert!(
        matches!(err, Error::WrongFamily { blob: Family::Tpm20, tpm: Family::Tpm12 }),
        "{err:?}"
    );
}

#[test]
fn nv_area_is_the_counter_when_no_monotonic_counter_is_left() {
    let (dir, swtpm) = owned("t12-nv-counter");
    let bytes = {
        let mut tpm = detect(&swtpm, config("text:owner", "text:srk"));
        // Fill every counter slot the TPM has (at least four, Part 1 §17).
        let mut created = 0;
        loop {
            match client(&mut tpm).create_foreign_counter(*b"othr") {
                Ok(_) => created += 1,
                Err(Error::Tpm { rc: 0x15, .. }) => break,
                Err(e) => panic!("{e:?}"),
            }
            assert!(created < 64, "the TPM never runs out of counters");
        }
        assert!(created >= 4);
        assert_eq!(client(&mut tpm).counter_ref().unwrap(), CounterRef::Nv(NV_COUNTER_INDEX));
        let sealed = tpm.seal_root(&SECRET, pcrs("7")).unwrap();
        assert_eq!(tpm.read().unwrap(), 0);
        assert_eq!(tpm.increment().unwrap(), 1);
        assert_eq!(tpm.increment().unwrap(), 2);
        sealed.to_bytes()
    };
    swtpm.stop();

    let swtpm = Swtpm::start(&dir, Kind::Tpm12, true);
    let mut tpm = detect(&swtpm, config("text:owner", "text:srk"));
    let sealed = SealedRoot::from_bytes(&bytes).unwrap();
    assert_eq!(*tpm.unseal_root(&sealed).unwrap(), SECRET);
    assert_eq!(client(&mut tpm).counter_ref().unwrap(), CounterRef::Nv(NV_COUNTER_INDEX));
    assert_eq!(tpm.read().unwrap(), 2);
    assert_eq!(tpm.increment().unwrap(), 3);
}
