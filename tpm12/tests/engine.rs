//! Engine tests without a reference TPM: state blobs, framing rules, the
//! engine-contract details (locality, dirty flags, buffer size, DRTM), and
//! property tests that no input panics or yields a malformed response.

#![allow(clippy::cast_possible_truncation, reason = "test code: lengths of small, known buffers")]

mod common;

use common::{assert_well_formed, cmd, code, ctx, engine_started};
use proptest::prelude::*;
use tpm_engine::{Drbg, StateError, StateKind, TpmEngine};
use tpm12::{Config, Tpm12};

fn extend(pcr: u32, d: u8) -> Vec<u8> {
    let mut body = pcr.to_be_bytes().to_vec();
    body.extend_from_slice(&[d; 20]);
    cmd(0xC1, 0x14, &body)
}

#[test]
fn state_blobs_round_trip_and_resume() {
    let mut a = engine_started(Config::default());
    a.execute(ctx(0), &extend(5, 1));
    a.execute(ctx(0), &cmd(0xC1, 0x0A, &[]));
    a.execute(ctx(0), &cmd(0xC1, 0xA0, &[]));
    let perm = a.save_state(StateKind::Permanent).unwrap();
    let vol = a.save_state(StateKind::Volatile).unwrap();
    assert_eq!(a.save_state(StateKind::SaveState).unwrap_err(), StateError::NotAvailable);
    let mut b = Tpm12::new(Drbg::from_seed([9; 32]), Config::default()).unwrap();
    b.load_state(StateKind::Permanent, &perm).unwrap();
    b.load_state(StateKind::Volatile, &vol).unwrap();
    assert_eq!(*b.save_state(StateKind::Permanent).unwrap(), *perm);
    assert_eq!(*b.save_state(StateKind::Volatile).unwrap(), *vol);
    // The SHA-1 thread survived the move.
    let r1 = a.execute(ctx(0), &cmd(0xC1, 0xA2, &[0, 0, 0, 3, b'a', b'b', b'c']));
    let r2 = b.execute(ctx(0), &cmd(0xC1, 0xA2, &[0, 0, 0, 3, b'a', b'b', b'c']));
    assert_eq!(r1, r2);
    assert_eq!(
        a.execute(ctx(0), &cmd(0xC1, 0x15, &5u32.to_be_bytes())),
        b.execute(ctx(0), &cmd(0xC1, 0x15, &5u32.to_be_bytes()))
    );
}

#[test]
fn save_state_blob_round_trips() {
    let mut a = engine_started(Config::default());
    a.execute(ctx(0), &extend(4, 2));
    assert_eq!(code(&a.execute(ctx(0), &cmd(0xC1, 0x98, &[]))), 0);
    let saved = a.save_state(StateKind::SaveState).unwrap();
    let perm = a.save_state(StateKind::Permanent).unwrap();
    let mut b = Tpm12::new(Drbg::from_seed([9; 32]), Config::default()).unwrap();
    b.load_state(StateKind::Permanent, &perm).unwrap();
    b.load_state(StateKind::SaveState, &saved).unwrap();
    assert_eq!(code(&b.execute(ctx(0), &cmd(0xC1, 0x99, &2u16.to_be_bytes()))), 0);
    let r = b.execute(ctx(0), &cmd(0xC1, 0x15, &4u32.to_be_bytes()));
    let r0 = a.execute(ctx(0), &cmd(0xC1, 0x15, &4u32.to_be_bytes()));
    assert_eq!(r, r0);
}

#[test]
fn every_truncated_blob_is_refused_and_changes_nothing() {
    let mut a = engine_started(Config::default());
    a.execute(ctx(0), &extend(5, 1));
    a.execute(ctx(0), &cmd(0xC1, 0x0A, &[]));
    assert_eq!(code(&a.execute(ctx(0), &cmd(0xC1, 0x98, &[]))), 0);
    let blobs = [
        (StateKind::Permanent, a.save_state(StateKind::Permanent).unwrap()),
        (StateKind::Volatile, a.save_state(StateKind::Volatile).unwrap()),
        (StateKind::SaveState, a.save_state(StateKind::SaveState).unwrap()),
    ];
    let before =
        [a.save_state(StateKind::Permanent).unwrap(), a.save_state(StateKind::Volatile).unwrap()];
    for (kind, blob) in &blobs {
        for len in 0..blob.len() {
            assert!(a.load_state(*kind, &blob[..len]).is_err(), "{kind:?} prefix {len} accepted");
        }
        let mut long = blob.to_vec();
        long.push(0);
        assert_eq!(a.load_state(*kind, &long).unwrap_err(), StateError::TrailingBytes);
        let mut bad = blob.to_vec();
        bad[0] ^= 1;
        assert_eq!(a.load_state(*kind, &bad).unwrap_err(), StateError::BadMagic);
        let mut ver = blob.to_vec();
        ver[5] = 9;
        assert_eq!(a.load_state(*kind, &ver).unwrap_err(), StateError::UnsupportedVersion(9));
    }
    assert_eq!(*a.save_state(StateKind::Permanent).unwrap(), *before[0]);
    assert_eq!(*a.save_state(StateKind::Volatile).unwrap(), *before[1]);
}

#[test]
fn volatile_blob_of_another_tpm_is_inconsistent() {
    let a = engine_started(Config::default());
    let b = Tpm12::new(Drbg::from_seed([1; 32]), Config::default()).unwrap();
    let vol_b = b.save_state(StateKind::Volatile).unwrap();
    let mut a = a;
    assert_eq!(a.load_state(StateKind::Volatile, &vol_b).unwrap_err(), StateError::Inconsistent);
}

#[test]
fn bad_locality_and_param_size() {
    let mut t = engine_started(Config::default());
    for locality in 5..=255u8 {
        let r = t.execute(ctx(locality), &cmd(0xC1, 0x15, &0u32.to_be_bytes()));
        assert_eq!(code(&r), 0x3D);
    }
    // Header size disagreeing with the bytes received.
    let mut c = cmd(0xC1, 0x15, &0u32.to_be_bytes());
    c[5] += 1;
    assert_eq!(code(&t.execute(ctx(0), &c)), 0x19);
    assert_eq!(code(&t.execute(ctx(0), &c[..5])), 0x19);
    assert_eq!(code(&t.execute(ctx(0), &[])), 0x19);
}

#[test]
fn buffer_size_is_reported_and_clamped() {
    let mut t = engine_started(Config::default());
    assert_eq!(t.set_buffer_size(4088), 4088);
    let mut body = 5u32.to_be_bytes().to_vec();
    body.extend_from_slice(&4u32.to_be_bytes());
    body.extend_from_slice(&0x124u32.to_be_bytes());
    let r = t.execute(ctx(0), &cmd(0xC1, 0x65, &body));
    assert_eq!(&r[14..18], &4088u32.to_be_bytes());
    let r = t.execute(ctx(0), &cmd(0xC1, 0x46, &100_000u32.to_be_bytes()));
    assert_eq!(r.len(), 4088);
    assert_eq!(t.set_buffer_size(10), 3072);
    assert_eq!(t.set_buffer_size(1 << 20), 4096);
}

#[test]
fn dirty_flags_follow_state_classes() {
    let mut t = engine_started(Config::default());
    t.clear_dirty();
    t.execute(ctx(0), &cmd(0xC1, 0x15, &0u32.to_be_bytes()));
    assert!(!t.dirty().any());
    t.execute(ctx(0), &extend(1, 1));
    assert!(t.dirty().volatile && !t.dirty().permanent);
    t.clear_dirty();
    t.execute(ctx(0), &cmd(0xC1, 0x98, &[]));
    assert!(t.dirty().permanent);
}

#[test]
fn drtm_sets_established_and_pcr17() {
    let mut t = engine_started(Config::default());
    assert!(!t.established());
    t.hash_start();
    t.hash_data(b"mle");
    t.hash_end();
    assert!(t.established());
    let r = t.execute(ctx(0), &cmd(0xC1, 0x15, &17u32.to_be_bytes()));
    let expected = tpm12::crypto::sha1(&[&[0; 20], &tpm12::crypto::sha1(&[b"mle"])]);
    assert_eq!(&r[10..30], &expected);
    assert!(!t.reset_established(0));
    assert!(t.reset_established(4));
    assert!(!t.established());
}

#[test]
fn timeouts_and_durations_are_microseconds() {
    let mut t = engine_started(Config::default());
    let get = |t: &mut Tpm12, prop: u32| {
        let mut body = 5u32.to_be_bytes().to_vec();
        body.extend_from_slice(&4u32.to_be_bytes());
        body.extend_from_slice(&prop.to_be_bytes());
        t.execute(ctx(0), &cmd(0xC1, 0x65, &body))[14..].to_vec()
    };
    let words = |b: Vec<u8>| {
        b.chunks(4).map(|c| u32::from_be_bytes(c.try_into().unwrap())).collect::<Vec<_>>()
    };
    assert_eq!(words(get(&mut t, 0x115)), [750_000, 2_000_000, 750_000, 750_000]);
    assert_eq!(words(get(&mut t, 0x120)), [3_000_000, 3_000_000, 600_000_000]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), locality in 0u8..6) {
        let mut t = engine_started(Config::default());
        assert_well_formed(&t.execute(ctx(locality), &bytes));
    }

    #[test]
    fn arbitrary_bodies_of_known_ordinals_never_panic(
        tag in prop_oneof![Just(0xC1u16), Just(0xC2), Just(0xC3)],
        ordinal in prop::sample::select(vec![
            0x0Au32, 0x0B, 0x0C, 0x0D, 0x14, 0x15, 0x17, 0x18, 0x1E, 0x1F, 0x20, 0x21, 0x3C, 0x41, 0x46, 0x47,
            0x50, 0x53, 0x54, 0x5B, 0x5C, 0x5D, 0x5E, 0x65, 0x6E, 0x6F, 0x70, 0x71, 0x72, 0x78, 0x7C, 0x7D, 0x7E,
            0x81, 0x96, 0x98, 0x99, 0xA0, 0xA1, 0xA2, 0xA3, 0xBA, 0xC8, 0xCC, 0xCD, 0xCE, 0xCF, 0xD0, 0xF1,
            0x4000_000A,
        ]),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut t = engine_started(Config::default());
        assert_well_formed(&t.execute(ctx(0), &cmd(tag, ordinal, &body)));
    }
}
