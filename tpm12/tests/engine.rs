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
            0x0Au32, 0x0B, 0x0C, 0x0D, 0x10, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1E, 0x1F, 0x20,
            0x21, 0x22, 0x32, 0x3C, 0x3E, 0x3F, 0x40, 0x41, 0x46, 0x47, 0x50, 0x53, 0x54, 0x5B, 0x5C, 0x5D,
            0x5E, 0x65, 0x66, 0x6E, 0x6F, 0x70, 0x71, 0x72, 0x73, 0x74, 0x78, 0x79, 0x7A, 0x7C, 0x7D, 0x7E,
            0x81, 0x96, 0x98, 0x99, 0xA0, 0xA1, 0xA2, 0xA3, 0xB8, 0xB9, 0xBA, 0xC8, 0xCC, 0xCD, 0xCE, 0xCF,
            0xD0, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xF1, 0xF2, 0xB4, 0xB5, 0xB6, 0xB7, 0x4000_000A,
            0x4000_000B,
        ]),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut t = engine_started(Config::default());
        assert_well_formed(&t.execute(ctx(0), &cmd(tag, ordinal, &body)));
    }
}

// ---- owner-level behaviour the differential suites cannot pin down -------------

use common::auth::{Clocked, OWNER, Side, call, key_template, make_key, oiap, own, owner_call};

/// An owned engine on a test clock.
fn owned() -> Tpm12 {
    let mut tpm = Tpm12::new(Drbg::from_seed([0x33; 32]), Config::default()).unwrap();
    let mut s = Clocked { tpm: &mut tpm, now_ms: 0, locality: 0 };
    assert_eq!(code(&s.tx(&cmd(0xC1, 0x99, &1u16.to_be_bytes()))), 0);
    own(&mut s);
    tpm
}

fn owner_read_ek(s: &mut dyn Side, secret: &[u8; 20]) -> u32 {
    let mut sess = oiap(s);
    code(&call(s, 0xC2, 0x81, &[], &0x4000_0006u32.to_be_bytes(), &mut [(&mut sess, secret)]))
}

#[test]
fn lockout_starts_at_the_sixth_failure_and_time_ends_it() {
    let mut tpm = owned();
    let mut s = Clocked { tpm: &mut tpm, now_ms: 1_000, locality: 0 };
    for _ in 0..5 {
        assert_eq!(owner_read_ek(&mut s, &[9; 20]), 0x01);
    }
    // Five failures: no lockout yet.
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0);
    assert_eq!(owner_read_ek(&mut s, &[9; 20]), 0x01);
    // The sixth failure locks authorized commands out for 1 s.
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0x803);
    assert_eq!(code(&s.tx(&cmd(0xC1, 0x15, &0u32.to_be_bytes()))), 0);
    s.now_ms += 999;
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0x803);
    s.now_ms += 1;
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0);
    // Each further failure doubles the lockout: 2 s, then 4 s.
    assert_eq!(owner_read_ek(&mut s, &[9; 20]), 0x01);
    s.now_ms += 1_999;
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0x803);
    s.now_ms += 1;
    assert_eq!(owner_read_ek(&mut s, &[9; 20]), 0x01);
    s.now_ms += 3_999;
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0x803);
    s.now_ms += 1;
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0);
}

#[test]
fn reset_lock_value_ends_a_lockout_and_a_wrong_secret_disables_it() {
    let mut tpm = owned();
    let mut s = Clocked { tpm: &mut tpm, now_ms: 0, locality: 0 };
    for _ in 0..8 {
        owner_read_ek(&mut s, &[9; 20]);
    }
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0x803);
    // A wrong secret: TPM_AUTHFAIL, the failure counts (now 16 s), and the command
    // is disabled until the lockout has run out.
    let mut sess = oiap(&mut s);
    assert_eq!(code(&call(&mut s, 0xC2, 0x40, &[], &[], &mut [(&mut sess, &[9; 20])])), 0x01);
    assert_eq!(code(&owner_call(&mut s, 0x40, &[], &[])), 0x01);
    s.now_ms += 16_000;
    assert_eq!(code(&owner_call(&mut s, 0x40, &[], &[])), 0);
    // Counting starts over: five more failures do not lock.
    for _ in 0..5 {
        owner_read_ek(&mut s, &[9; 20]);
    }
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0);
    // During a lockout the right secret ends it at once.
    owner_read_ek(&mut s, &[9; 20]);
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0x803);
    assert_eq!(code(&owner_call(&mut s, 0x40, &[], &[])), 0);
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0);
}

#[test]
fn failure_count_survives_a_restart_and_a_state_reload() {
    let mut tpm = owned();
    {
        let mut s = Clocked { tpm: &mut tpm, now_ms: 0, locality: 0 };
        for _ in 0..5 {
            owner_read_ek(&mut s, &[9; 20]);
        }
        s.reboot();
    }
    let perm = tpm.save_state(StateKind::Permanent).unwrap();
    let mut other = Tpm12::new(Drbg::from_seed([1; 32]), Config::default()).unwrap();
    other.load_state(StateKind::Permanent, &perm).unwrap();
    let mut s = Clocked { tpm: &mut other, now_ms: 0, locality: 0 };
    assert_eq!(code(&s.tx(&cmd(0xC1, 0x99, &1u16.to_be_bytes()))), 0);
    // Unlike libtpms (which forgets failures at Startup), the sixth failure after
    // the restart locks out.
    owner_read_ek(&mut s, &[9; 20]);
    assert_eq!(owner_read_ek(&mut s, &OWNER), 0x803);
}

#[test]
fn counters_persist_in_permanent_state() {
    let mut tpm = owned();
    let mut s = Clocked { tpm: &mut tpm, now_ms: 0, locality: 0 };
    let mut o = common::auth::osap(&mut s, 0x0002, 0x4000_0001, &OWNER);
    let mut params = o.adip(&[0x44; 20]).to_vec();
    params.extend_from_slice(b"PERS");
    let r = call(&mut s, 0xC2, 0xDC, &[], &params, &mut [(&mut o, &OWNER)]);
    assert_eq!(code(&r), 0);
    let mut sess = oiap(&mut s);
    let r = call(&mut s, 0xC2, 0xDD, &[], &0u32.to_be_bytes(), &mut [(&mut sess, &[0x44; 20])]);
    assert_eq!(&r[10..20], &[0, 0x0E, b'P', b'E', b'R', b'S', 0, 0, 0, 2]);
    let perm = tpm.save_state(StateKind::Permanent).unwrap();
    let mut other = Tpm12::new(Drbg::from_seed([1; 32]), Config::default()).unwrap();
    other.load_state(StateKind::Permanent, &perm).unwrap();
    let mut s = Clocked { tpm: &mut other, now_ms: 0, locality: 0 };
    assert_eq!(code(&s.tx(&cmd(0xC1, 0x99, &1u16.to_be_bytes()))), 0);
    let r = s.tx(&cmd(0xC1, 0xDE, &0u32.to_be_bytes()));
    assert_eq!(&r[10..], &[0, 0x0E, b'P', b'E', b'R', b'S', 0, 0, 0, 2]);
    // A new boot may increment it again.
    let mut sess = oiap(&mut s);
    let r = call(&mut s, 0xC2, 0xDD, &[], &0u32.to_be_bytes(), &mut [(&mut sess, &[0x44; 20])]);
    assert_eq!(&r[16..20], &[0, 0, 0, 3]);
}

fn load_context(s: &mut dyn Side, keep: bool, blob: &[u8]) -> Vec<u8> {
    let mut body = 0u32.to_be_bytes().to_vec();
    body.push(keep.into());
    body.extend_from_slice(&(blob.len() as u32).to_be_bytes());
    body.extend_from_slice(blob);
    s.tx(&cmd(0xC1, 0xB9, &body))
}

#[test]
fn saved_key_contexts_are_authenticated_and_handles_are_kept() {
    let mut tpm = owned();
    let mut s = Clocked { tpm: &mut tpm, now_ms: 0, locality: 0 };
    let (h, _, _) = make_key(&mut s, &key_template(0x10, 0, 1, 2), &[0x22; 20]);
    let mut body = h.to_be_bytes().to_vec();
    body.extend_from_slice(&1u32.to_be_bytes());
    body.extend_from_slice(&[7; 16]);
    let r = s.tx(&cmd(0xC1, 0xB8, &body));
    assert_eq!(code(&r), 0);
    let blob = r[14..].to_vec();
    // keepHandle with the handle in use: TPM_BAD_HANDLE, and the loaded key stays
    // (libtpms flushes it).
    assert_eq!(code(&load_context(&mut s, true, &blob)), 0x58);
    let sign = |s: &mut dyn Side| {
        let mut sess = oiap(s);
        let mut params = 20u32.to_be_bytes().to_vec();
        params.extend_from_slice(&[1; 20]);
        code(&call(s, 0xC2, 0x3C, &h.to_be_bytes(), &params, &mut [(&mut sess, &[0x22; 20])]))
    };
    assert_eq!(sign(&mut s), 0);
    // Every single-byte change is refused before anything is decrypted.
    for i in 0..blob.len() {
        let mut forged = blob.clone();
        forged[i] ^= 0x01;
        let c = code(&load_context(&mut s, false, &forged));
        assert_ne!(c, 0, "byte {i} changed and the context still loaded");
    }
    let keys = s.tx(&cmd(0xC1, 0x65, &[0, 0, 0, 7, 0, 0, 0, 0]));
    assert_eq!(&keys[14..16], &[0, 1], "a forged context loaded a key");
}

/// Each reference blob, with every byte changed in turn, either is refused (and
/// changes nothing) or loads and saves back to exactly the changed bytes: a state
/// has one encoding. Regression for the fuzz crash where a save-state blob with an
/// absent active counter but a non-zero counter field loaded.
#[test]
fn every_single_byte_change_is_refused_or_canonical() {
    let mut tpm = owned();
    {
        let mut s = Clocked { tpm: &mut tpm, now_ms: 0, locality: 0 };
        make_key(&mut s, &key_template(0x10, 0, 1, 2), &[0x22; 20]);
        oiap(&mut s);
        s.tx(&cmd(0xC1, 0xA0, &[]));
        s.tx(&cmd(0xC1, 0xA1, &{
            let mut b = 64u32.to_be_bytes().to_vec();
            b.extend_from_slice(&[1; 64]);
            b
        }));
    }
    let perm = tpm.save_state(StateKind::Permanent).unwrap();
    let vol = tpm.save_state(StateKind::Volatile).unwrap();
    assert_eq!(code(&tpm.execute(ctx(0), &cmd(0xC1, 0x98, &[]))), 0);
    let saved = tpm.save_state(StateKind::SaveState).unwrap();
    for (kind, blob) in
        [(StateKind::Permanent, &perm), (StateKind::Volatile, &vol), (StateKind::SaveState, &saved)]
    {
        for i in 0..blob.len() {
            for x in [0x01u8, 0xFF] {
                let mut changed = blob.to_vec();
                changed[i] ^= x;
                let mut t = Tpm12::new(Drbg::from_seed([2; 32]), Config::default()).unwrap();
                if kind == StateKind::Volatile {
                    t.load_state(StateKind::Permanent, &perm).unwrap();
                }
                if t.load_state(kind, &changed).is_ok() {
                    assert_eq!(
                        *t.save_state(kind).unwrap(),
                        changed[..],
                        "{kind:?} byte {i} ^ {x:#x} loaded but does not save back"
                    );
                }
            }
        }
    }
}

#[test]
fn keys_restored_from_state_still_sign() {
    let mut tpm = owned();
    let h = {
        let mut s = Clocked { tpm: &mut tpm, now_ms: 0, locality: 0 };
        make_key(&mut s, &key_template(0x10, 0, 1, 2), &[0x22; 20]).0
    };
    let perm = tpm.save_state(StateKind::Permanent).unwrap();
    let vol = tpm.save_state(StateKind::Volatile).unwrap();
    let mut other = Tpm12::new(Drbg::from_seed([1; 32]), Config::default()).unwrap();
    other.load_state(StateKind::Permanent, &perm).unwrap();
    other.load_state(StateKind::Volatile, &vol).unwrap();
    let mut s = Clocked { tpm: &mut other, now_ms: 0, locality: 0 };
    let mut sess = oiap(&mut s);
    let mut params = 20u32.to_be_bytes().to_vec();
    params.extend_from_slice(&[1; 20]);
    let r = call(&mut s, 0xC2, 0x3C, &h.to_be_bytes(), &params, &mut [(&mut sess, &[0x22; 20])]);
    assert_eq!(code(&r), 0);
}

/// The ordinal table of docs/tpm12.md is exact: the ordinals it lists as implemented
/// are those TPM_CAP_ORD reports, and the ones it lists as refused are refused.
#[test]
fn documented_ordinal_table_matches_cap_ord() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/tpm12.md"))
        .expect("docs/tpm12.md");
    let hex_in = |text: &str| -> Vec<u32> {
        text.split('`')
            .filter_map(|w| w.strip_prefix("0x"))
            .map(|h| u32::from_str_radix(h, 16).expect("ordinal"))
            .collect()
    };
    let table_start = doc.find("| Family | Ordinals |").expect("ordinal table");
    let table_end = table_start + doc[table_start..].find("\n\n").expect("table end");
    let documented = hex_in(&doc[table_start..table_end]);
    let refused_start = doc.find("**Not implemented").expect("refused list");
    let refused_end = refused_start + doc[refused_start..].find("\n\n").expect("list end");
    let refused = hex_in(&doc[refused_start..refused_end]);
    let mut t = engine_started(Config::default());
    let mut implemented = |ordinal: u32| {
        let mut body = 1u32.to_be_bytes().to_vec();
        body.extend_from_slice(&4u32.to_be_bytes());
        body.extend_from_slice(&ordinal.to_be_bytes());
        t.execute(ctx(0), &cmd(0xC1, 0x65, &body))[14] == 1
    };
    let mut reported: Vec<u32> =
        (0..0x200).chain(0x4000_0000..0x4000_0020).filter(|o| implemented(*o)).collect();
    reported.sort_unstable();
    let mut listed = documented.clone();
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(listed, reported, "docs/tpm12.md ordinal table differs from TPM_CAP_ORD");
    assert_eq!(listed.len(), documented.len(), "an ordinal is listed twice");
    for o in refused {
        assert!(!implemented(o), "{o:#x} is documented as refused but implemented");
    }
}
