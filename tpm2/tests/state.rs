//! The engine contract of `tpm_engine::TpmEngine` beyond command execution: state
//! blobs (deterministic, versioned, exact resume, malformed blobs refused without
//! side effects), Shutdown(STATE)/Startup(STATE), dirty flags, buffer size, the
//! established flag and the _TPM_Hash_Start/Data/End sequence.

#![allow(clippy::cast_possible_truncation, reason = "test code: small, known lengths")]

mod common;

use common::*;
use tpm_engine::{Drbg, ExecContext, StateError, StateKind, TpmEngine};
use tpm2::crypto::hash as chash;
use tpm2::types::*;
use tpm2::{MAX_BUFFER_SIZE, MIN_BUFFER_SIZE, Tpm2};

const KINDS: [StateKind; 3] = [StateKind::Permanent, StateKind::Volatile, StateKind::SaveState];

/// Every blob the engine currently exports (None where a kind is unavailable).
fn snapshot(t: &Tpm2) -> Vec<Option<Vec<u8>>> {
    KINDS.iter().map(|&k| t.save_state(k).ok().map(|b| b.to_vec())).collect()
}

fn sel(pcrs: &[u32]) -> PcrSelectionList {
    PcrSelectionList(vec![PcrSelection::new(HashAlg::Sha256, pcrs)])
}

fn extend(tpm: &mut dyn Tpm, pcr: u32, data: &[u8]) {
    let digests = DigestValues(vec![TaggedHash {
        hash: HashAlg::Sha256,
        digest: chash::digest(HashAlg::Sha256, data),
    }]);
    ok(tpm, &command(cc::PCR_EXTEND).handle(pcr).pw(b"").put(&digests), 0);
}

fn define_nv(tpm: &mut dyn Tpm, index: u32, size: u16) {
    use tpm2::types::nv_attr as na;
    let p = NvPublic {
        index,
        name_alg: HashAlg::Sha256,
        attributes: na::OWNERWRITE | na::OWNERREAD | na::AUTHREAD | na::AUTHWRITE,
        auth_policy: vec![],
        data_size: size,
    };
    let mut c = command(cc::NV_DEFINE_SPACE).handle(handle::OWNER).pw(b"").b2(b"");
    put_sized(&mut c.params, &p);
    ok(tpm, &c, 0);
}

/// Objects and handles a populated engine holds.
struct World {
    primary: u32,
    sealed: u32,
    sealed_name: Vec<u8>,
    sequence: u32,
    session: ClientSession,
}

/// Starts the engine and fills every part of the state: PCRs, NV, a persistent
/// key, loaded objects, a hash sequence half-way and an HMAC session.
fn populate(e: &mut Engine) -> World {
    assert_eq!(startup(e, su::CLEAR), 0);
    // Command audit of PCR_Extend and PCR_Read (a list, a counter and a digest).
    ok(
        e,
        &command(cc::SET_COMMAND_CODE_AUDIT_STATUS)
            .handle(handle::OWNER)
            .pw(b"")
            .u16(alg::NULL)
            .u32(2)
            .u32(cc::PCR_EXTEND)
            .u32(cc::PCR_READ)
            .u32(0),
        0,
    );
    extend(e, 16, b"resume me");
    extend(e, 0, b"firmware");
    define_nv(e, 0x0150_0001, 16);
    ok(
        e,
        &command(cc::NV_WRITE).handle(0x0150_0001).handle(0x0150_0001).pw(b"").b2(b"nv").u16(0),
        0,
    );
    let (primary, _, _) = create_primary(e, handle::OWNER, &storage_template(false), b"p").unwrap();
    ok(
        e,
        &command(cc::EVICT_CONTROL).handle(handle::OWNER).handle(primary).pw(b"").u32(0x8100_0001),
        0,
    );
    let (private, public) =
        create(e, primary, b"p", &sealed_template(&[], true), b"s", b"the secret").unwrap();
    let sealed = load(e, primary, b"p", &private, &public).unwrap();
    let r = run(e, &command(cc::HASH_SEQUENCE_START).b2(b"").u16(alg::SHA256));
    assert_eq!(r.rc, 0);
    let sequence = r.handle();
    ok(e, &command(cc::SEQUENCE_UPDATE).handle(sequence).pw(b"").b2(b"first half, "), 0);
    let session = ClientSession::start(e, &StartOptions::default()).unwrap();
    World { primary, sealed, sealed_name: name_of(&public), sequence, session }
}

/// What the rest of the life of a populated engine gives: responses that do not
/// depend on the DRBG.
fn continue_life(e: &mut Engine, w: &mut World) -> Vec<Vec<u8>> {
    let mut out = vec![];
    // The session authorizes Unseal, and its response HMAC checks.
    let c = command(cc::UNSEAL).handle(w.sealed);
    let a = w.session.authorize(
        cc::UNSEAL,
        std::slice::from_ref(&w.sealed_name),
        &[],
        Some((&w.sealed_name, b"s")),
        session_attr::CONTINUE_SESSION,
        false,
    );
    let r = run(e, &c.auth(a));
    assert_eq!(Rc(r.rc), Rc(0));
    let params = r.params(0);
    let mut area = Reader::new(&r.body[4 + params.len()..]);
    w.session.check_response(cc::UNSEAL, &params, &mut area, Some(b"s"));
    out.push(params);
    // The sequence completes with the data it already had.
    let r = run(
        e,
        &command(cc::SEQUENCE_COMPLETE)
            .handle(w.sequence)
            .pw(b"")
            .b2(b"second half")
            .u32(handle::NULL),
    );
    assert_eq!(r.rc, 0);
    let digest = Reader::new(&r.params(0)).sized_u16(64).unwrap().to_vec();
    assert_eq!(digest, chash::digest(HashAlg::Sha256, b"first half, second half"));
    out.push(digest);
    // PCRs, NV, the persistent key and the loaded primary.
    out.push(ok(e, &command(cc::PCR_READ).put(&sel(&[0, 16])), 0));
    out.push(ok(
        e,
        &command(cc::NV_READ).handle(0x0150_0001).handle(0x0150_0001).pw(b"").u16(2).u16(0),
        0,
    ));
    out.push(ok(e, &command(cc::READ_PUBLIC).handle(0x8100_0001), 0));
    out.push(ok(e, &command(cc::READ_PUBLIC).handle(w.primary), 0));
    let (_, caps) = get_cap(e, cap::HANDLES, 0x8000_0000, 16);
    out.push(caps);
    // The command audit list and digest.
    let (_, caps) = get_cap(e, cap::AUDIT_COMMANDS, 0, 16);
    assert_eq!(caps.len(), 4 + 3 * 4);
    out.push(caps);
    let p = ok(
        e,
        &command(cc::GET_COMMAND_AUDIT_DIGEST)
            .handle(handle::ENDORSEMENT)
            .handle(handle::NULL)
            .pw(b"")
            .pw(b"")
            .b2(b"")
            .u16(alg::NULL),
        0,
    );
    let attest =
        Attest::unmarshal(&mut Reader::new(Reader::new(&p).sized_u16(2000).unwrap())).unwrap();
    let Attested::CommandAudit { audit_counter, audit_digest, .. } = attest.attested else {
        panic!("not a command audit attestation")
    };
    assert_eq!((audit_counter, audit_digest.len()), (1, 64));
    out.push(audit_digest);
    out
}

#[test]
fn blobs_are_deterministic() {
    let mut a = Engine::with_seed(3);
    let mut b = Engine::with_seed(3);
    populate(&mut a);
    populate(&mut b);
    let sa = snapshot(&a.tpm);
    assert_eq!(sa, snapshot(&b.tpm), "same history, same blobs");
    assert_eq!(sa, snapshot(&a.tpm), "saving twice gives the same bytes");
    assert!(sa[0].is_some() && sa[1].is_some());
    assert_eq!(a.tpm.save_state(StateKind::SaveState).err(), Some(StateError::NotAvailable));
    // A different seed manufactures a different TPM.
    let mut c = Engine::with_seed(4);
    populate(&mut c);
    assert_ne!(sa[0], snapshot(&c.tpm)[0]);
}

#[test]
fn volatile_blob_resumes_exactly() {
    let mut a = Engine::with_seed(3);
    let mut wa = populate(&mut a);
    let perm = a.tpm.save_state(StateKind::Permanent).unwrap();
    let vol = a.tpm.save_state(StateKind::Volatile).unwrap();
    let mut wb = World {
        primary: wa.primary,
        sealed: wa.sealed,
        sealed_name: wa.sealed_name.clone(),
        sequence: wa.sequence,
        session: wa.session.clone(),
    };
    // Another engine object (another DRBG) takes over the state.
    let mut b = Engine { tpm: Tpm2::new(Drbg::from_seed([99; 32])), now: a.now };
    b.tpm.load_state(StateKind::Permanent, &perm).unwrap();
    b.tpm.load_state(StateKind::Volatile, &vol).unwrap();
    assert_eq!(snapshot(&b.tpm), snapshot(&a.tpm));
    let ra = continue_life(&mut a, &mut wa);
    let rb = continue_life(&mut b, &mut wb);
    assert_eq!(ra, rb);
    assert_eq!(
        a.tpm.save_state(StateKind::Permanent).unwrap(),
        b.tpm.save_state(StateKind::Permanent).unwrap()
    );
}

#[test]
fn volatile_blob_belongs_to_its_tpm_and_boot() {
    let mut a = Engine::with_seed(3);
    populate(&mut a);
    let vol = a.tpm.save_state(StateKind::Volatile).unwrap();
    // Another TPM.
    let mut other = Engine::with_seed(5);
    assert_eq!(startup(&mut other, su::CLEAR), 0);
    let before = snapshot(&other.tpm);
    assert!(other.tpm.load_state(StateKind::Volatile, &vol).is_err());
    assert_eq!(snapshot(&other.tpm), before);
    // The same TPM after another TPM Reset (resetCount moved on).
    a.power_cycle();
    assert_eq!(startup(&mut a, su::CLEAR), 0);
    let before = snapshot(&a.tpm);
    assert_eq!(a.tpm.load_state(StateKind::Volatile, &vol).err(), Some(StateError::Inconsistent));
    assert_eq!(snapshot(&a.tpm), before);
}

/// A populated engine that also has a SaveState pending, and its three blobs.
fn saved_engine() -> (Engine, Vec<Vec<u8>>) {
    let mut e = Engine::with_seed(3);
    populate(&mut e);
    ok(&mut e, &command(cc::SHUTDOWN).u16(su::STATE), 0);
    let blobs = snapshot(&e.tpm).into_iter().map(|b| b.unwrap()).collect();
    (e, blobs)
}

#[test]
fn malformed_blobs_are_refused_and_change_nothing() {
    let (mut e, blobs) = saved_engine();
    let before = snapshot(&e.tpm);
    for (kind, blob) in KINDS.iter().zip(&blobs) {
        // The blob itself loads.
        e.tpm.load_state(*kind, blob).unwrap();
        if *kind == StateKind::Permanent {
            // (that discarded RAM; put it back)
            e.tpm.load_state(StateKind::Volatile, &blobs[1]).unwrap();
            e.tpm.load_state(StateKind::SaveState, &blobs[2]).unwrap();
        }
        assert_eq!(snapshot(&e.tpm), before);
        for len in 0..blob.len() {
            let r = e.tpm.load_state(*kind, &blob[..len]);
            assert!(r.is_err(), "{kind:?} truncated to {len} bytes was accepted");
            assert_eq!(snapshot(&e.tpm), before, "{kind:?} truncated to {len} changed the engine");
        }
        let mut longer = blob.to_vec();
        longer.push(0);
        assert_eq!(e.tpm.load_state(*kind, &longer).err(), Some(StateError::TrailingBytes));
        let mut magic = blob.to_vec();
        magic[0] ^= 1;
        assert_eq!(e.tpm.load_state(*kind, &magic).err(), Some(StateError::BadMagic));
        let mut version = blob.to_vec();
        version[9] = version[9].wrapping_add(1);
        assert!(matches!(
            e.tpm.load_state(*kind, &version).err(),
            Some(StateError::UnsupportedVersion(_))
        ));
        // A blob of another kind.
        for (other, other_blob) in KINDS.iter().zip(&blobs) {
            if other != kind {
                assert_eq!(e.tpm.load_state(*kind, other_blob).err(), Some(StateError::BadMagic));
            }
        }
        assert_eq!(snapshot(&e.tpm), before);
    }
}

/// Flips each byte of each blob: the engine refuses the blob unchanged, or takes
/// it and keeps answering well-formed responses.
#[test]
fn corrupted_blobs_never_break_the_engine() {
    let (mut e, blobs) = saved_engine();
    let before = snapshot(&e.tpm);
    let restore = |e: &mut Engine| {
        e.tpm.load_state(StateKind::Permanent, &blobs[0]).unwrap();
        e.tpm.load_state(StateKind::Volatile, &blobs[1]).unwrap();
        e.tpm.load_state(StateKind::SaveState, &blobs[2]).unwrap();
    };
    let probes = [
        command(cc::PCR_READ).put(&sel(&[0, 16])),
        command(cc::READ_PUBLIC).handle(0x8100_0001),
        command(cc::NV_READ_PUBLIC).handle(0x0150_0001),
        command(cc::GET_CAPABILITY).u32(cap::HANDLES).u32(0x0200_0000).u32(8),
        command(cc::STARTUP).u16(su::STATE),
        command(cc::GET_CAPABILITY).u32(cap::TPM_PROPERTIES).u32(pt::PERMANENT).u32(32),
    ];
    let mut accepted = 0;
    for (i, kind) in KINDS.iter().enumerate() {
        for pos in 0..blobs[i].len() {
            for flip in [0x01u8, 0xff] {
                let mut bad = blobs[i].clone();
                bad[pos] ^= flip;
                match e.tpm.load_state(*kind, &bad) {
                    Err(_) => assert_eq!(snapshot(&e.tpm), before, "{kind:?} byte {pos}"),
                    Ok(()) => {
                        accepted += 1;
                        for p in &probes {
                            // Well-formedness is checked by the harness.
                            e.exec(&p.build());
                        }
                        e.power_cycle();
                        e.exec(&command(cc::STARTUP).u16(su::CLEAR).build());
                        e.exec(&probes[0].build());
                        restore(&mut e);
                    }
                }
            }
        }
    }
    assert!(accepted > 0, "values inside blobs are data, not all of it is checked");
}

#[test]
fn shutdown_state_resumes_on_another_engine_object() {
    let (mut e, blobs) = saved_engine();
    let pcrs_before = pcr_read(&mut e, &sel(&[0, 16, 23])).2;
    // A new engine object (e.g. after the domain restarted) with the
    // permanent and SaveState blobs.
    let mut f = Engine { tpm: Tpm2::new(Drbg::from_seed([1; 32])), now: 0 };
    f.tpm.load_state(StateKind::Permanent, &blobs[0]).unwrap();
    f.tpm.load_state(StateKind::SaveState, &blobs[2]).unwrap();
    f.tpm.init();
    assert_eq!(startup(&mut f, su::STATE), 0);
    let pcrs = pcr_read(&mut f, &sel(&[0, 16, 23])).2;
    // PC Client: PCRs 0..15 are restored, 16 and 23 are reset.
    assert_eq!(pcrs[0], pcrs_before[0]);
    assert_eq!(pcrs[1], vec![0; 32]);
    assert_eq!(pcrs[2], vec![0; 32]);
    // The persistent key and the NV index are still there, and a SaveState is
    // consumed by the Startup that used it.
    ok(&mut f, &command(cc::READ_PUBLIC).handle(0x8100_0001), 0);
    ok(&mut f, &command(cc::NV_READ_PUBLIC).handle(0x0150_0001), 0);
    assert_eq!(f.tpm.save_state(StateKind::SaveState).err(), Some(StateError::NotAvailable));
    // Without the SaveState blob, Startup(STATE) fails and Startup(CLEAR) works.
    let mut g = Engine { tpm: Tpm2::new(Drbg::from_seed([1; 32])), now: 0 };
    g.tpm.load_state(StateKind::Permanent, &blobs[0]).unwrap();
    g.tpm.init();
    assert_eq!(Rc(startup(&mut g, su::STATE)), Rc::VALUE.param(1));
    assert_eq!(startup(&mut g, su::CLEAR), 0);
}

#[test]
fn saved_state_belongs_to_its_tpm() {
    let (_, blobs) = saved_engine();
    let mut other = Engine::with_seed(5);
    let before = snapshot(&other.tpm);
    assert!(other.tpm.load_state(StateKind::SaveState, &blobs[2]).is_err());
    assert_eq!(snapshot(&other.tpm), before);
}

#[test]
fn dirty_flags_follow_the_kind_of_change() {
    let mut t = Tpm2::new(Drbg::from_seed([2; 32]));
    assert!(t.dirty().permanent, "a freshly manufactured TPM has unsaved NV");
    t.clear_dirty();
    assert!(!t.dirty().any());
    t.init();
    let ctx = ExecContext { locality: 0, now_ms: 10 };
    let exec = |t: &mut Tpm2, c: &CommandBuilder| {
        let r = Response::parse(&t.execute(ctx, &c.build()));
        assert_eq!(Rc(r.rc), Rc(0));
    };
    exec(&mut t, &command(cc::STARTUP).u16(su::CLEAR));
    assert!(t.dirty().permanent, "Startup(CLEAR) records a non-orderly state");
    assert!(t.dirty().volatile);
    t.clear_dirty();
    exec(&mut t, &command(cc::PCR_READ).put(&sel(&[0])));
    exec(&mut t, &command(cc::GET_CAPABILITY).u32(cap::ALGS).u32(0).u32(64));
    assert!(!t.dirty().any(), "reads change nothing: {:?}", t.dirty());
    let digests = DigestValues(vec![TaggedHash { hash: HashAlg::Sha256, digest: vec![1; 32] }]);
    exec(&mut t, &command(cc::PCR_EXTEND).handle(16).pw(b"").put(&digests));
    assert_eq!(t.dirty(), tpm_engine::Dirty { permanent: false, volatile: true });
    t.clear_dirty();
    let p = NvPublic {
        index: 0x0150_0002,
        name_alg: HashAlg::Sha256,
        attributes: nv_attr::OWNERWRITE | nv_attr::OWNERREAD,
        auth_policy: vec![],
        data_size: 8,
    };
    let mut c = command(cc::NV_DEFINE_SPACE).handle(handle::OWNER).pw(b"").b2(b"");
    put_sized(&mut c.params, &p);
    exec(&mut t, &c);
    assert!(t.dirty().permanent);
    t.clear_dirty();
    exec(&mut t, &command(cc::SHUTDOWN).u16(su::STATE));
    assert!(t.dirty().permanent, "Shutdown records the orderly state");
}

#[test]
fn buffer_size_is_reported_and_enforced() {
    let mut e = Engine::new();
    assert_eq!(startup(&mut e, su::CLEAR), 0);
    assert_eq!(e.tpm.buffer_size(), MAX_BUFFER_SIZE);
    assert_eq!(property(&mut e, pt::MAX_COMMAND_SIZE), MAX_BUFFER_SIZE as u32);
    assert_eq!(e.tpm.set_buffer_size(4088), 4088);
    assert_eq!(property(&mut e, pt::MAX_COMMAND_SIZE), 4088);
    assert_eq!(property(&mut e, pt::MAX_RESPONSE_SIZE), 4088);
    assert_eq!(property(&mut e, pt::INPUT_BUFFER), 1024);
    assert_eq!(e.tpm.set_buffer_size(1), MIN_BUFFER_SIZE);
    assert_eq!(e.tpm.set_buffer_size(1 << 20), MAX_BUFFER_SIZE);
    e.tpm.set_buffer_size(MIN_BUFFER_SIZE);
    assert_eq!(property(&mut e, pt::MAX_COMMAND_SIZE), MIN_BUFFER_SIZE as u32);
    // A command longer than the buffer is refused by its size.
    let big = command(cc::STIR_RANDOM).b2(&[0; 128]).raw(&vec![0; MIN_BUFFER_SIZE]);
    let r = run(&mut e, &big);
    assert_eq!(Rc(r.rc), Rc::COMMAND_SIZE);
    // The largest object context still fits at the smallest buffer size.
    let mut t = storage_template(true);
    if let PublicKind::Rsa { parms, .. } = &mut t.kind {
        parms.key_bits = 3072;
        parms.symmetric = SymDef::Aes { bits: 256, mode: alg::CFB };
    }
    t.name_alg = Some(HashAlg::Sha384);
    let (h, _, _) = create_primary(&mut e, handle::OWNER, &t, &[0xaa; 48]).unwrap();
    let r = run(&mut e, &command(cc::CONTEXT_SAVE).handle(h));
    assert_eq!(Rc(r.rc), Rc(0));
    assert!(r.body.len() + 10 <= MIN_BUFFER_SIZE);
}

#[test]
fn established_flag_and_drtm_sequence() {
    let mut e = Engine::new();
    assert_eq!(startup(&mut e, su::CLEAR), 0);
    assert!(!e.tpm.established());
    let digests = DigestValues(vec![TaggedHash { hash: HashAlg::Sha256, digest: vec![7; 32] }]);
    let c = command(cc::PCR_EXTEND).handle(17).pw(b"").put(&digests);
    assert_eq!(Rc(run(&mut e, &c).rc), Rc::LOCALITY);
    assert_eq!(run_at(&mut e, 2, &c).rc, 0);
    e.tpm.hash_start();
    e.tpm.hash_data(b"measured ");
    e.tpm.hash_data(b"launch environment");
    e.tpm.hash_end();
    assert!(e.tpm.established());
    let banks = PcrSelectionList(vec![
        PcrSelection::new(HashAlg::Sha1, &[17, 18]),
        PcrSelection::new(HashAlg::Sha256, &[17, 18]),
    ]);
    let (_, _, values) = pcr_read(&mut e, &banks);
    for (i, alg) in [HashAlg::Sha1, HashAlg::Sha256].into_iter().enumerate() {
        let m = chash::digest(alg, b"measured launch environment");
        let mut h = chash::Hasher::new(alg);
        h.update(&vec![0; alg.size()]).update(&m);
        assert_eq!(values[2 * i], h.finish(), "PCR 17 {alg:?}");
        assert_eq!(values[2 * i + 1], vec![0; alg.size()], "PCR 18 {alg:?} is reset");
    }
    // Only localities 3 and 4 clear the flag.
    assert!(!e.tpm.reset_established(0));
    assert!(e.tpm.established());
    assert!(e.tpm.reset_established(3));
    assert!(!e.tpm.established());
    // A command between Start and End aborts the sequence.
    e.tpm.hash_start();
    e.tpm.hash_data(b"x");
    let before = pcr_read(&mut e, &banks).2;
    e.tpm.hash_end();
    assert_eq!(pcr_read(&mut e, &banks).2, before);
}

#[test]
fn hcrtm_before_startup_goes_to_pcr0() {
    let mut e = Engine::new();
    e.tpm.hash_start();
    e.tpm.hash_data(b"h-crtm");
    e.tpm.hash_end();
    assert_eq!(startup(&mut e, su::CLEAR), 0);
    let (_, _, values) = pcr_read(&mut e, &sel(&[0]));
    let mut start = vec![0u8; 32];
    start[31] = 4;
    let mut h = chash::Hasher::new(HashAlg::Sha256);
    h.update(&start).update(&chash::digest(HashAlg::Sha256, b"h-crtm"));
    assert_eq!(values[0], h.finish());
}

#[test]
fn reserved_localities_are_refused() {
    let mut e = Engine::new();
    assert_eq!(startup(&mut e, su::CLEAR), 0);
    let c = command(cc::GET_RANDOM).u16(8);
    for locality in [0, 1, 2, 3, 4, 32, 200, 255] {
        assert_eq!(run_at(&mut e, locality, &c).rc, 0, "locality {locality}");
    }
    for locality in [5, 17, 31] {
        assert_eq!(Rc(run_at(&mut e, locality, &c).rc), Rc::LOCALITY, "locality {locality}");
    }
    // An extended locality has no PCR rights.
    let digests = DigestValues(vec![TaggedHash { hash: HashAlg::Sha256, digest: vec![1; 32] }]);
    let extend = command(cc::PCR_EXTEND).handle(16).pw(b"").put(&digests);
    assert_eq!(Rc(run_at(&mut e, 32, &extend).rc), Rc::LOCALITY);
}

#[test]
fn version_1_blobs_are_read_without_command_audit() {
    let mut e = Engine::new();
    assert_eq!(startup(&mut e, su::CLEAR), 0);
    extend(&mut e, 16, b"kept");
    let permanent = e.tpm.save_state(StateKind::Permanent).unwrap().to_vec();
    let volatile = e.tpm.save_state(StateKind::Volatile).unwrap().to_vec();
    // Version 1 had no audit list (count, one code), hash and counter at the end
    // of the permanent blob, nor the digest flag at the end of the volatile blob.
    let mut old_permanent = permanent[..permanent.len() - (2 + 4 + 2 + 8)].to_vec();
    old_permanent[9] = 1;
    let mut old_volatile = volatile[..volatile.len() - 1].to_vec();
    old_volatile[9] = 1;
    let mut f = Engine::new();
    f.tpm.load_state(StateKind::Permanent, &old_permanent).unwrap();
    f.tpm.load_state(StateKind::Volatile, &old_volatile).unwrap();
    assert_eq!(f.tpm.save_state(StateKind::Permanent).unwrap().to_vec(), permanent);
    assert_eq!(f.tpm.save_state(StateKind::Volatile).unwrap().to_vec(), volatile);
    assert_eq!(pcr_read(&mut f, &sel(&[16])), pcr_read(&mut e, &sel(&[16])));
    // A version-2 blob cut to the version-1 length is refused.
    let mut cut = old_permanent.clone();
    cut[9] = 2;
    assert!(f.tpm.load_state(StateKind::Permanent, &cut).is_err());
}

#[test]
fn read_only_commands_change_no_state() {
    // What a successful READ_ONLY command (reads, signatures, attestations)
    // leaves: clean dirty flags and, at the same carrier time, the same blobs; so
    // a carrier that saves only when dirty loses nothing.
    let mut e = Engine::new();
    let mut w = populate(&mut e);
    let _ = continue_life(&mut e, &mut w);
    flush(&mut e, w.sealed);
    flush(&mut e, w.primary);
    let (key, _, _) =
        create_primary(&mut e, handle::ENDORSEMENT, &signing_template(false, false), b"").unwrap();
    let (rsa, _, _) =
        create_primary(&mut e, handle::OWNER, &signing_template(true, false), b"").unwrap();
    let ecdsa = Scheme::with_hash(alg::ECDSA, HashAlg::Sha256);
    let rsassa = Scheme::with_hash(alg::RSASSA, HashAlg::Sha256);
    let sign = |k, scheme: &Scheme| {
        command(cc::SIGN)
            .handle(k)
            .pw(b"")
            .b2(&[7; 32])
            .put(scheme)
            .put(&Ticket::null(st::HASHCHECK))
    };
    let commands = [
        sign(key, &ecdsa),
        sign(rsa, &rsassa),
        command(cc::QUOTE).handle(key).pw(b"").b2(b"q").put(&ecdsa).put(&sel(&[0, 16])),
        command(cc::CERTIFY).handle(key).handle(key).pw(b"").pw(b"").b2(b"c").put(&ecdsa),
        command(cc::GET_TIME)
            .handle(handle::ENDORSEMENT)
            .handle(key)
            .pw(b"")
            .pw(b"")
            .b2(b"t")
            .put(&ecdsa),
        command(cc::NV_CERTIFY)
            .handle(key)
            .handle(0x0150_0001)
            .handle(0x0150_0001)
            .pw(b"")
            .pw(b"")
            .b2(b"n")
            .put(&ecdsa)
            .u16(2)
            .u16(0),
        command(cc::PCR_READ).put(&sel(&[0, 16])),
        command(cc::READ_PUBLIC).handle(key),
        command(cc::GET_CAPABILITY).u32(cap::TPM_PROPERTIES).u32(pt::VAR).u32(64),
        command(cc::NV_READ).handle(0x0150_0001).handle(0x0150_0001).pw(b"").u16(2).u16(0),
    ];
    // One DA-relevant use first (the first after a non-orderly start asks for a
    // retry and records the DA state).
    let r = run_retry(&mut e, &commands[1]);
    assert_eq!(r.rc, 0);
    let now = e.now;
    e.tpm.clear_dirty();
    for c in &commands {
        let before = snapshot(&e.tpm);
        let r =
            Response::parse(&e.tpm.execute(ExecContext { locality: 0, now_ms: now }, &c.build()));
        assert_eq!(Rc(r.rc), Rc(0), "command {:#x}", c.cc);
        if c.cc == cc::PCR_READ {
            // populate() audits PCR_Read: the audit digest moves, and says so.
            assert_eq!(e.tpm.dirty(), tpm_engine::Dirty { permanent: false, volatile: true });
            assert_ne!(snapshot(&e.tpm), before);
            e.tpm.clear_dirty();
            continue;
        }
        assert!(!e.tpm.dirty().any(), "command {:#x} set {:?}", c.cc, e.tpm.dirty());
        assert_eq!(snapshot(&e.tpm), before, "command {:#x} changed the state", c.cc);
    }
}
