//! Policy digests against libtpms and against independently computed values:
//! every policy command in a trial session on both TPMs, the well-known digests
//! (TPM2_PolicyAuthValue, the TCG EK Credential Profile's PolicySecret(endorsement)),
//! PolicyAuthorizeNV's checks, PolicySigned with client-made signatures and the
//! tickets it returns (PolicyTicket), PolicyRestart, and TPM2_ECC_Parameters.

#![allow(clippy::cast_possible_truncation, reason = "test code: small, known lengths")]

mod common;

use common::*;
use tpm2::crypto::hash as chash;
use tpm2::types::*;

fn pair() -> (Engine, Swtpm) {
    let mut e = Engine::new();
    let mut s = Swtpm::start();
    assert_eq!(startup(&mut e, su::CLEAR), 0);
    assert_eq!(startup(&mut s, su::CLEAR), 0);
    (e, s)
}

/// Runs `c` (built for the session handle of each TPM) on both; asserts equal
/// response codes; returns the code.
fn both(
    e: &mut Engine,
    s: &mut Swtpm,
    handles: (u32, u32),
    c: impl Fn(u32) -> CommandBuilder,
) -> u32 {
    let re = run_retry(e, &c(handles.0));
    let rs = run_retry(s, &c(handles.1));
    assert_eq!(Rc(re.rc), Rc(rs.rc), "command {:#x}: engine vs libtpms", c(0).cc);
    re.rc
}

fn session(tpm: &mut dyn Tpm, kind: u8) -> u32 {
    let o = StartOptions { kind, ..StartOptions::default() };
    ClientSession::start(tpm, &o).unwrap().handle
}

fn digest_of(tpm: &mut dyn Tpm, h: u32) -> Vec<u8> {
    let p = ok(tpm, &command(cc::POLICY_GET_DIGEST).handle(h), 0);
    Reader::new(&p).sized_u16(64).unwrap().to_vec()
}

/// H(old ‖ parts...) with SHA-256.
fn ext(old: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut h = chash::Hasher::new(HashAlg::Sha256);
    h.update(old);
    for p in parts {
        h.update(p);
    }
    h.finish()
}

const ZERO: [u8; 32] = [0; 32];

/// Starts a trial session on both, runs `steps`, returns the (equal) digests.
fn trial(e: &mut Engine, s: &mut Swtpm, steps: &[&dyn Fn(u32) -> CommandBuilder]) -> Vec<u8> {
    let handles = (session(e, se::TRIAL), session(s, se::TRIAL));
    for step in steps {
        assert_eq!(Rc(both(e, s, handles, step)), Rc(0));
    }
    let (de, ds) = (digest_of(e, handles.0), digest_of(s, handles.1));
    assert_eq!(de, ds, "policy digests differ");
    flush(e, handles.0);
    flush(s, handles.1);
    de
}

fn cc_bytes(code: u32) -> [u8; 4] {
    code.to_be_bytes()
}

fn nv_define(tpm: &mut dyn Tpm, index: u32, attributes: u32, size: u16) {
    let p = NvPublic {
        index,
        name_alg: HashAlg::Sha256,
        attributes,
        auth_policy: vec![],
        data_size: size,
    };
    let mut c = command(cc::NV_DEFINE_SPACE).handle(handle::OWNER).pw(b"").b2(b"");
    put_sized(&mut c.params, &p);
    ok(tpm, &c, 0);
}

fn nv_name(tpm: &mut dyn Tpm, index: u32) -> Vec<u8> {
    let p = ok(tpm, &command(cc::NV_READ_PUBLIC).handle(index), 0);
    let mut r = Reader::new(&p);
    r.sized_u16(200).unwrap();
    r.sized_u16(66).unwrap().to_vec()
}

#[test]
fn well_known_digests() {
    let (mut e, mut s) = pair();
    let auth_value = trial(&mut e, &mut s, &[&|h| command(cc::POLICY_AUTH_VALUE).handle(h)]);
    assert_eq!(auth_value, hex("8fcd2169ab92694e0c633f1ab772842b8241bbc20288981fc7ac1eddc1fddb0e"));
    let password = trial(&mut e, &mut s, &[&|h| command(cc::POLICY_PASSWORD).handle(h)]);
    assert_eq!(password, auth_value, "PolicyPassword gives PolicyAuthValue's digest");
    // TCG EK Credential Profile: the default EK policy (PolicyB-less, SHA-256).
    let ek = trial(
        &mut e,
        &mut s,
        &[&|h| {
            command(cc::POLICY_SECRET)
                .handle(handle::ENDORSEMENT)
                .handle(h)
                .pw(b"")
                .b2(b"")
                .b2(b"")
                .b2(b"")
                .u32(0)
        }],
    );
    assert_eq!(ek, hex("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa"));
}

#[test]
fn every_policy_command_in_a_trial_session() {
    let (mut e, mut s) = pair();
    let policy_cc = |code: u32| move |h: u32| command(cc::POLICY_COMMAND_CODE).handle(h).u32(code);
    // PolicyCommandCode.
    let d = trial(&mut e, &mut s, &[&policy_cc(cc::UNSEAL)]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_COMMAND_CODE), &cc_bytes(cc::UNSEAL)]));
    // PolicyPCR: H(0 ‖ CC ‖ TPML_PCR_SELECTION ‖ H(PCR values)), with the digest
    // left empty (the TPM uses the current values: all zero after Startup).
    let sel = PcrSelectionList(vec![PcrSelection::new(HashAlg::Sha256, &[0, 1, 2, 3])]);
    let d = trial(&mut e, &mut s, &[&|h| command(cc::POLICY_PCR).handle(h).b2(b"").put(&sel)]);
    let values: Vec<u8> = [ZERO; 4].concat();
    let pcr_digest = chash::digest(HashAlg::Sha256, &values);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_PCR), &sel.to_bytes(), &pcr_digest]));
    // PolicyLocality.
    let d = trial(&mut e, &mut s, &[&|h| command(cc::POLICY_LOCALITY).handle(h).u8(0x03)]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_LOCALITY), &[0x03]]));
    // PolicyOR of two branches.
    let (a, b) = ([0x11u8; 32], [0x22u8; 32]);
    let mut list = Writer::new();
    list.u32(2);
    put_2b(&mut list, &a);
    put_2b(&mut list, &b);
    let list = list.into_vec();
    let d = trial(&mut e, &mut s, &[&|h| command(cc::POLICY_OR).handle(h).raw(&list)]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_OR), &a, &b]));
    // PolicyCounterTimer: H(0 ‖ CC ‖ H(operandB ‖ offset ‖ operation)).
    let d = trial(
        &mut e,
        &mut s,
        &[&|h| {
            command(cc::POLICY_COUNTER_TIMER).handle(h).b2(&[0, 0, 0, 0, 0, 0, 0, 1]).u16(0).u16(2)
        }],
    );
    let args = chash::digest(HashAlg::Sha256, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_COUNTER_TIMER), &args]));
    // PolicyNvWritten, PolicyCpHash, PolicyNameHash, PolicyTemplate,
    // PolicyPhysicalPresence.
    let d = trial(&mut e, &mut s, &[&|h| command(cc::POLICY_NV_WRITTEN).handle(h).u8(1)]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_NV_WRITTEN), &[1]]));
    let d = trial(&mut e, &mut s, &[&|h| command(cc::POLICY_CP_HASH).handle(h).b2(&[0x33; 32])]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_CP_HASH), &[0x33; 32]]));
    let d = trial(&mut e, &mut s, &[&|h| command(cc::POLICY_NAME_HASH).handle(h).b2(&[0x44; 32])]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_NAME_HASH), &[0x44; 32]]));
    let d = trial(&mut e, &mut s, &[&|h| command(cc::POLICY_TEMPLATE).handle(h).b2(&[0x55; 32])]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_TEMPLATE), &[0x55; 32]]));
    let d = trial(&mut e, &mut s, &[&|h| command(cc::POLICY_PHYSICAL_PRESENCE).handle(h)]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_PHYSICAL_PRESENCE)]));
    // PolicyDuplicationSelect with and without the object's Name.
    let (obj, parent) = ([0x66u8; 34], [0x77u8; 34]);
    for include in [0u8, 1] {
        let d = trial(
            &mut e,
            &mut s,
            &[&|h| {
                command(cc::POLICY_DUPLICATION_SELECT).handle(h).b2(&obj).b2(&parent).u8(include)
            }],
        );
        let expected = if include == 1 {
            ext(&ZERO, &[&cc_bytes(cc::POLICY_DUPLICATION_SELECT), &obj, &parent, &[1]])
        } else {
            ext(&ZERO, &[&cc_bytes(cc::POLICY_DUPLICATION_SELECT), &parent, &[0]])
        };
        assert_eq!(d, expected, "includeObject {include}");
    }
    // PolicyAuthorize (a trial session takes the NULL ticket):
    // H(H(0 ‖ CC ‖ keySign) ‖ policyRef).
    let key_name = [[0x00u8, 0x0b].as_slice(), &[0x88; 32]].concat();
    let d = trial(
        &mut e,
        &mut s,
        &[&|h| {
            command(cc::POLICY_AUTHORIZE)
                .handle(h)
                .b2(&[0x99; 32])
                .b2(b"ref")
                .b2(&key_name)
                .put(&Ticket::null(st::VERIFIED))
        }],
    );
    let first = ext(&ZERO, &[&cc_bytes(cc::POLICY_AUTHORIZE), &key_name]);
    assert_eq!(d, ext(&first, &[b"ref"]));
    // A chain: order matters and each step extends the previous digest.
    let d = trial(
        &mut e,
        &mut s,
        &[&policy_cc(cc::NV_READ), &|h| command(cc::POLICY_AUTH_VALUE).handle(h), &|h| {
            command(cc::POLICY_LOCALITY).handle(h).u8(0x01)
        }],
    );
    let d1 = ext(&ZERO, &[&cc_bytes(cc::POLICY_COMMAND_CODE), &cc_bytes(cc::NV_READ)]);
    let d2 = ext(&d1, &[&cc_bytes(cc::POLICY_AUTH_VALUE)]);
    assert_eq!(d, ext(&d2, &[&cc_bytes(cc::POLICY_LOCALITY), &[0x01]]));
    // PolicyNV (authorized even in a trial session) over an index.
    use tpm2::types::nv_attr as na;
    let index = 0x0150_0020;
    for t in [&mut e as &mut dyn Tpm, &mut s] {
        nv_define(t, index, na::AUTHREAD | na::AUTHWRITE | na::NO_DA, 8);
    }
    let name = nv_name(&mut e, index);
    assert_eq!(name, nv_name(&mut s, index));
    let d = trial(
        &mut e,
        &mut s,
        &[&|h| {
            command(cc::POLICY_NV)
                .handle(index)
                .handle(index)
                .handle(h)
                .pw(b"")
                .b2(&[5])
                .u16(0)
                .u16(0)
        }],
    );
    let args = chash::digest(HashAlg::Sha256, &[5, 0, 0, 0, 0]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_NV), &args, &name]));
}

#[test]
fn policy_authorize_nv() {
    use tpm2::types::nv_attr as na;
    let (mut e, mut s) = pair();
    let index = 0x0150_0030;
    for t in [&mut e as &mut dyn Tpm, &mut s] {
        nv_define(t, index, na::AUTHREAD | na::AUTHWRITE | na::NO_DA, 34);
    }
    let name = nv_name(&mut e, index);
    let authorize_nv =
        |h: u32| command(cc::POLICY_AUTHORIZE_NV).handle(index).handle(index).handle(h).pw(b"");
    // Trial: no NV access, the digest names the index.
    let d = trial(&mut e, &mut s, &[&authorize_nv]);
    assert_eq!(d, ext(&ZERO, &[&cc_bytes(cc::POLICY_AUTHORIZE_NV), &name]));
    let policy_cc = |h: u32| command(cc::POLICY_COMMAND_CODE).handle(h).u32(cc::UNSEAL);
    let approved = ext(&ZERO, &[&cc_bytes(cc::POLICY_COMMAND_CODE), &cc_bytes(cc::UNSEAL)]);
    let real = |e: &mut Engine, s: &mut Swtpm, first: bool| {
        let handles = (session(e, se::POLICY), session(s, se::POLICY));
        if first {
            assert_eq!(both(e, s, handles, policy_cc), 0);
        }
        let rc = both(e, s, handles, authorize_nv);
        if rc == 0 {
            assert_eq!(digest_of(e, handles.0), digest_of(s, handles.1));
        }
        flush(e, handles.0);
        flush(s, handles.1);
        rc
    };
    // Unwritten index.
    assert_eq!(Rc(real(&mut e, &mut s, true)), Rc::NV_UNINITIALIZED);
    let write = |contents: &[u8]| {
        command(cc::NV_WRITE).handle(index).handle(index).pw(b"").b2(contents).u16(0)
    };
    let mut ha = HashAlg::Sha256.id().to_be_bytes().to_vec();
    ha.extend(&approved);
    for t in [&mut e as &mut dyn Tpm, &mut s] {
        ok(t, &write(&ha), 0);
    }
    assert_eq!(real(&mut e, &mut s, true), 0);
    // A session whose digest is not the approved one.
    assert_eq!(Rc(real(&mut e, &mut s, false)), Rc::VALUE);
    // The index names another hash.
    let mut other = HashAlg::Sha1.id().to_be_bytes().to_vec();
    other.extend([0u8; 20]);
    for t in [&mut e as &mut dyn Tpm, &mut s] {
        ok(t, &write(&other), 0);
    }
    assert_eq!(Rc(real(&mut e, &mut s, true)), Rc::HASH);
}

#[test]
fn ecc_parameters() {
    let (mut e, mut s) = pair();
    for id in [curve::NIST_P256, curve::NIST_P384, 0x0999] {
        let c = command(cc::ECC_PARAMETERS).u16(id);
        let (re, rs) = (run(&mut e, &c), run(&mut s, &c));
        assert_eq!(re, rs, "curve {id:#x}");
    }
}

/// An ECDSA P-256 signing key both TPMs load with LoadExternal (public part only),
/// and its private scalar for signing on the client side.
fn authority() -> (Public, tpm2::crypto::ecc::EccSecret) {
    use tpm2::types::object_attr as oa;
    let scalar = chash::digest(HashAlg::Sha256, b"policy authority");
    let secret = tpm2::crypto::ecc::EccSecret::from_scalar(EccCurve::NistP256, &scalar).unwrap();
    let (x, y) = secret.public().xy();
    let public = Public {
        name_alg: Some(HashAlg::Sha256),
        attributes: oa::USER_WITH_AUTH | oa::SIGN_ENCRYPT,
        auth_policy: vec![],
        kind: PublicKind::Ecc {
            parms: EccParms {
                symmetric: SymDef::Null,
                scheme: Scheme::with_hash(alg::ECDSA, HashAlg::Sha256),
                curve: curve::NIST_P256,
                kdf: Scheme::NULL,
            },
            x,
            y,
        },
    };
    (public, secret)
}

/// TPMT_SIGNATURE (ECDSA, SHA-256) over aHash = H(nonceTPM ‖ expiration ‖
/// cpHashA ‖ policyRef) (Part 3 §23.3).
fn policy_signature(
    secret: &tpm2::crypto::ecc::EccSecret,
    nonce: &[u8],
    expiration: i32,
    policy_ref: &[u8],
) -> Vec<u8> {
    let a_hash = chash::digest(
        HashAlg::Sha256,
        &[nonce, &expiration.to_be_bytes()[..], policy_ref].concat(),
    );
    let mut drbg = tpm_engine::Drbg::from_seed([3; 32]);
    let (r, s) = secret.sign_ecdsa(&a_hash, &mut drbg).unwrap();
    let mut w = Writer::new();
    w.u16(alg::ECDSA).u16(alg::SHA256);
    put_2b(&mut w, &r);
    put_2b(&mut w, &s);
    w.into_vec()
}

#[test]
fn policy_signed_ticket_and_restart() {
    let (mut e, mut s) = pair();
    let (public, secret) = authority();
    let load = |t: &mut dyn Tpm| {
        let mut c = command(cc::LOAD_EXTERNAL).u16(0);
        public.marshal_2b(&mut c.params);
        let r = run(t, &c.u32(handle::OWNER));
        assert_eq!(r.rc, 0, "{}", Rc(r.rc));
        r.handle()
    };
    let (ke, ks) = (load(&mut e), load(&mut s));
    let key_name = name_of(&public);
    let policy_ref = b"ref";
    let expected = ext(&ext(&ZERO, &[&cc_bytes(cc::POLICY_SIGNED), &key_name]), &[policy_ref]);

    // A trial session (the key is the first object loaded on both).
    assert_eq!(ke, ks);
    let trial_sig = policy_signature(&secret, b"", 0, policy_ref);
    let d = trial(
        &mut e,
        &mut s,
        &[&|h| {
            command(cc::POLICY_SIGNED)
                .handle(ke)
                .handle(h)
                .b2(b"")
                .b2(b"")
                .b2(policy_ref)
                .u32(0)
                .raw(&trial_sig)
        }],
    );
    assert_eq!(d, expected);

    // Real policy sessions: a signature over each TPM's nonceTPM, with a negative
    // expiration so that a ticket comes back; bad signatures and nonces fail alike.
    let mut tickets = vec![];
    for (t, key) in [(&mut e as &mut dyn Tpm, ke), (&mut s as &mut dyn Tpm, ks)] {
        let o = StartOptions { kind: se::POLICY, ..StartOptions::default() };
        let session = ClientSession::start(t, &o).unwrap();
        let signed = |nonce: &[u8], sig: &[u8]| {
            command(cc::POLICY_SIGNED)
                .handle(key)
                .handle(session.handle)
                .b2(nonce)
                .b2(b"")
                .b2(policy_ref)
                .u32((-60i32) as u32)
                .raw(sig)
        };
        let good = policy_signature(&secret, &session.nonce_tpm, -60, policy_ref);
        let other = policy_signature(&secret, &session.nonce_tpm, -61, policy_ref);
        let mut codes = vec![
            run(t, &signed(&session.nonce_tpm, &other)).rc,
            run(t, &signed(&[7; 32], &good)).rc,
        ];
        let r = run(t, &signed(&session.nonce_tpm, &good));
        codes.push(r.rc);
        assert_eq!(r.rc, 0, "{}: PolicySigned: {}", t.name(), Rc(r.rc));
        assert_eq!(digest_of(t, session.handle), expected, "{}: PolicySigned digest", t.name());
        // The ticket (timeout, TPMT_TK_AUTH) authorizes the same assertion in a new
        // session with TPM2_PolicyTicket.
        let p = r.params(0);
        let mut rd = Reader::new(&p);
        let timeout = rd.sized_u16(16).unwrap().to_vec();
        let ticket = Ticket::unmarshal_tagged(&mut rd, &[st::AUTH_SIGNED]).unwrap();
        let fresh = ClientSession::start(t, &o).unwrap();
        let ticket_cmd = |policy_ref: &[u8]| {
            command(cc::POLICY_TICKET)
                .handle(fresh.handle)
                .b2(&timeout)
                .b2(b"")
                .b2(policy_ref)
                .b2(&key_name)
                .put(&ticket)
        };
        codes.push(run(t, &ticket_cmd(b"other ref")).rc);
        codes.push(run(t, &ticket_cmd(policy_ref)).rc);
        assert_eq!(digest_of(t, fresh.handle), expected, "{}: PolicyTicket digest", t.name());
        // PolicyRestart: back to zeros.
        codes.push(run(t, &command(cc::POLICY_RESTART).handle(fresh.handle)).rc);
        assert_eq!(digest_of(t, fresh.handle), ZERO, "{}: PolicyRestart", t.name());
        tickets.push(codes.into_iter().map(Rc).collect::<Vec<_>>());
        flush(t, session.handle);
        flush(t, fresh.handle);
    }
    assert_eq!(tickets[0], tickets[1], "response codes: engine vs libtpms");
    // The wrong signature, the wrong nonce and the wrong policyRef are refused.
    for i in [0, 1, 3] {
        assert_ne!(tickets[0][i], Rc(0), "step {i} accepted");
    }
}
