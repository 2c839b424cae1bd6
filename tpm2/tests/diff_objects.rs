//! Differential tests of objects, hierarchies, NV and sessions against libtpms.
//! Key material differs (each TPM has its own seeds), so results are compared
//! structurally: response codes, public areas apart from the unique field,
//! signatures verified by the other TPM, data sealed and unsealed on each.

#![allow(clippy::cast_possible_truncation, reason = "test code: small, known lengths")]

mod common;

use common::*;
use tpm2::types::object_attr as oa;
use tpm2::types::*;

fn pair() -> (Engine, Swtpm) {
    let mut e = Engine::new();
    let mut s = Swtpm::start();
    assert_eq!(startup(&mut e, su::CLEAR), 0);
    assert_eq!(startup(&mut s, su::CLEAR), 0);
    (e, s)
}

fn rc_eq(a: Result<impl Sized, u32>, b: Result<impl Sized, u32>, what: &str) {
    let ra = a.err().unwrap_or(0);
    let rb = b.err().unwrap_or(0);
    assert_eq!(Rc(ra), Rc(rb), "{what}: engine vs libtpms");
}

fn without_unique(p: &Public) -> Public {
    let mut p = p.clone();
    match &mut p.kind {
        PublicKind::Rsa { modulus, .. } => modulus.clear(),
        PublicKind::Ecc { x, y, .. } => {
            x.clear();
            y.clear()
        }
        PublicKind::KeyedHash { unique, .. } | PublicKind::SymCipher { unique, .. } => {
            unique.clear()
        }
    }
    p
}

fn templates() -> Vec<(&'static str, Public)> {
    let mut v = vec![
        ("rsa storage", storage_template(true)),
        ("ecc storage", storage_template(false)),
        ("rsa restricted signing", signing_template(true, true)),
        ("ecc restricted signing", signing_template(false, true)),
        ("rsa signing", signing_template(true, false)),
        ("ecc signing", signing_template(false, false)),
    ];
    let mut t = storage_template(true);
    t.attributes &= !oa::DECRYPT;
    v.push(("restricted, neither sign nor decrypt", t));
    let mut t = storage_template(true);
    t.attributes |= oa::SIGN_ENCRYPT;
    v.push(("restricted sign and decrypt", t));
    let mut t = storage_template(false);
    if let PublicKind::Ecc { parms, .. } = &mut t.kind {
        parms.symmetric = SymDef::Null;
    }
    v.push(("storage key without symmetric", t));
    let mut t = storage_template(true);
    t.attributes &= !oa::FIXED_PARENT;
    v.push(("fixedTPM without fixedParent", t));
    let mut t = signing_template(true, false);
    if let PublicKind::Rsa { parms, .. } = &mut t.kind {
        parms.symmetric = SymDef::AES_128_CFB;
    }
    v.push(("signing key with symmetric", t));
    let mut t = signing_template(false, false);
    if let PublicKind::Ecc { parms, .. } = &mut t.kind {
        parms.kdf = Scheme::with_hash(alg::KDF1_SP800_56A, HashAlg::Sha256);
    }
    v.push(("ecc key with kdf", t));
    let mut t = storage_template(true);
    t.auth_policy = vec![1; 20];
    v.push(("policy of the wrong size", t));
    let mut t = signing_template(true, false);
    if let PublicKind::Rsa { parms, .. } = &mut t.kind {
        parms.key_bits = 3072;
        parms.scheme = Scheme::with_hash(alg::RSAPSS, HashAlg::Sha384);
    }
    v.push(("rsa 3072 pss", t));
    let mut t = signing_template(false, true);
    if let PublicKind::Ecc { parms, .. } = &mut t.kind {
        parms.curve = curve::NIST_P384;
        parms.scheme = Scheme::with_hash(alg::ECDSA, HashAlg::Sha384);
    }
    v.push(("ecc p384 restricted", t));
    let mut t = signing_template(true, true);
    if let PublicKind::Rsa { parms, .. } = &mut t.kind {
        parms.scheme = Scheme::NULL;
    }
    v.push(("restricted signing without scheme", t));
    let mut t = signing_template(true, false);
    t.attributes |= oa::DECRYPT;
    v.push(("rsa sign+decrypt", t));
    let hmac = Public {
        name_alg: Some(HashAlg::Sha256),
        attributes: oa::FIXED_TPM
            | oa::FIXED_PARENT
            | oa::SENSITIVE_DATA_ORIGIN
            | oa::USER_WITH_AUTH
            | oa::SIGN_ENCRYPT,
        auth_policy: vec![],
        kind: PublicKind::KeyedHash {
            scheme: Scheme::with_hash(alg::HMAC, HashAlg::Sha256),
            unique: vec![],
        },
    };
    v.push(("hmac key", hmac.clone()));
    let mut t = hmac.clone();
    t.kind = PublicKind::KeyedHash { scheme: Scheme::NULL, unique: vec![] };
    v.push(("hmac key without scheme", t));
    let aes = Public {
        name_alg: Some(HashAlg::Sha256),
        attributes: oa::FIXED_TPM
            | oa::FIXED_PARENT
            | oa::SENSITIVE_DATA_ORIGIN
            | oa::USER_WITH_AUTH
            | oa::SIGN_ENCRYPT
            | oa::DECRYPT,
        auth_policy: vec![],
        kind: PublicKind::SymCipher {
            sym: SymDef::Aes { bits: 128, mode: alg::NULL },
            unique: vec![],
        },
    };
    v.push(("aes key", aes));
    let mut sealed = sealed_template(&[], true);
    sealed.attributes |= oa::SENSITIVE_DATA_ORIGIN;
    v.push(("sealed with sensitiveDataOrigin", sealed));
    v
}

#[test]
fn create_primary_templates() {
    let (mut e, mut s) = pair();
    for (what, t) in templates() {
        let re = create_primary(&mut e, handle::OWNER, &t, b"");
        let rs = create_primary(&mut s, handle::OWNER, &t, b"");
        match (&re, &rs) {
            (Ok((he, pe, _)), Ok((hs, ps, _))) => {
                assert_eq!(without_unique(pe), without_unique(ps), "{what}: public area");
                assert_eq!(he, hs, "{what}: handle");
                flush(&mut e, *he);
                flush(&mut s, *hs);
            }
            _ => rc_eq(re, rs, what),
        }
    }
    // Sensitive data with a primary: sealed data and a caller-provided HMAC key.
    let t = sealed_template(&[], true);
    for (data, what) in
        [(&b"secret"[..], "sealed primary"), (&b""[..], "sealed primary without data")]
    {
        let mk = |tpm: &mut dyn Tpm| {
            let mut c = command(cc::CREATE_PRIMARY)
                .handle(handle::OWNER)
                .pw(b"")
                .raw(&sensitive_create(b"", data));
            t.marshal_2b(&mut c.params);
            run(tpm, &c.b2(b"").u32(0))
        };
        let (re, rs) = (mk(&mut e), mk(&mut s));
        assert_eq!(Rc(re.rc), Rc(rs.rc), "{what}");
        if re.rc == 0 {
            flush(&mut e, re.handle());
            flush(&mut s, rs.handle());
        }
    }
    // The same template and seed give the same key (primary keys are derived).
    let a = create_primary(&mut e, handle::OWNER, &storage_template(true), b"").unwrap();
    let b = create_primary(&mut e, handle::OWNER, &storage_template(true), b"").unwrap();
    assert_eq!(a.1, b.1);
    let c = create_primary(&mut e, handle::OWNER, &storage_template(false), b"").unwrap();
    assert_eq!(
        Rc(create_primary(&mut e, handle::OWNER, &storage_template(false), b"").err().unwrap()),
        Rc::OBJECT_MEMORY
    );
    for h in [a.0, b.0, c.0] {
        flush(&mut e, h);
    }
    // Endorsement and platform hierarchies give other keys; null changes per reset.
    let o = create_primary(&mut e, handle::OWNER, &storage_template(false), b"").unwrap();
    let en = create_primary(&mut e, handle::ENDORSEMENT, &storage_template(false), b"").unwrap();
    let p = create_primary(&mut e, handle::PLATFORM, &storage_template(false), b"").unwrap();
    assert_ne!(o.1, en.1);
    assert_ne!(o.1, p.1);
}

#[test]
fn create_load_unseal_and_auth_failures() {
    let (mut e, mut s) = pair();
    for tpm in [&mut e as &mut dyn Tpm, &mut s as &mut dyn Tpm] {
        let name = tpm.name();
        let (parent, ..) =
            create_primary(tpm, handle::OWNER, &storage_template(true), b"pp").unwrap();
        let (private, public) =
            create(tpm, parent, b"pp", &sealed_template(&[], true), b"itempw", b"my secret")
                .unwrap();
        let item = load(tpm, parent, b"pp", &private, &public).unwrap();
        let r = run_retry(tpm, &command(cc::UNSEAL).handle(item).pw(b"itempw"));
        assert_eq!(r.rc, 0, "{name}");
        assert_eq!(Reader::new(&r.params(0)).sized_u16(128).unwrap(), b"my secret");
        // A wrong password on a DA-protected object: the first DA-protected use
        // after Startup asks for a retry, then failures count.
        let mut codes = vec![];
        for _ in 0..5 {
            codes.push(Rc(run(tpm, &command(cc::UNSEAL).handle(item).pw(b"wrong")).rc));
        }
        let again = Rc(run(tpm, &command(cc::UNSEAL).handle(item).pw(b"itempw")).rc);
        let counter = property(tpm, pt::LOCKOUT_COUNTER);
        eprintln!("{name}: {codes:?} then {again}, counter {counter}");
        // Reset the lockout.
        ok(tpm, &command(cc::DICTIONARY_ATTACK_LOCK_RESET).handle(handle::LOCKOUT).pw(b""), 0);
        ok(tpm, &command(cc::UNSEAL).handle(item).pw(b"itempw"), 0);
        flush(tpm, item);
        flush(tpm, parent);
    }
    // Same sequence of response codes on both.
    let seq = |tpm: &mut dyn Tpm| {
        let (parent, ..) =
            create_primary(tpm, handle::OWNER, &storage_template(false), b"").unwrap();
        let (private, public) =
            create(tpm, parent, b"", &sealed_template(&[], true), b"pw", b"x").unwrap();
        let item = load(tpm, parent, b"", &private, &public).unwrap();
        let mut codes = vec![];
        for pw in [&b"bad"[..], b"bad", b"pw", b"bad", b"bad", b"bad", b"pw"] {
            codes.push(Rc(run(tpm, &command(cc::UNSEAL).handle(item).pw(pw)).rc));
        }
        // Loading with a tampered private area, or under the wrong parent.
        let mut bad = private.clone();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        codes.push(Rc(load(tpm, parent, b"", &bad, &public).err().unwrap_or(0)));
        codes.push(Rc(load(tpm, item, b"pw", &private, &public).err().unwrap_or(0)));
        codes.push(Rc(load(tpm, parent, b"", &[], &public).err().unwrap_or(0)));
        flush(tpm, item);
        flush(tpm, parent);
        codes
    };
    // Restart both so that the DA "used" state is the same.
    assert_eq!(seq(&mut e), seq(&mut s));
}

#[test]
fn load_external_names_and_read_public() {
    let (mut e, mut s) = pair();
    let (h, public, _) =
        create_primary(&mut e, handle::OWNER, &signing_template(true, false), b"").unwrap();
    let (h2, public2, _) =
        create_primary(&mut e, handle::OWNER, &signing_template(false, false), b"").unwrap();
    flush(&mut e, h);
    flush(&mut e, h2);
    for p in [&public, &public2] {
        let load_ext = |tpm: &mut dyn Tpm, hierarchy: u32| {
            let mut c = command(cc::LOAD_EXTERNAL).u16(0);
            p.marshal_2b(&mut c.params);
            run(tpm, &c.u32(hierarchy))
        };
        for hierarchy in [handle::NULL, handle::OWNER, handle::LOCKOUT] {
            let (re, rs) = (load_ext(&mut e, hierarchy), load_ext(&mut s, hierarchy));
            assert_eq!(Rc(re.rc), Rc(rs.rc));
            if re.rc == 0 {
                assert_eq!(re.params(1), rs.params(1), "name");
                let rpe = run(&mut e, &command(cc::READ_PUBLIC).handle(re.handle()));
                let rps = run(&mut s, &command(cc::READ_PUBLIC).handle(rs.handle()));
                if rpe != rps {
                    let n = rpe.body.len();
                    panic!(
                        "ReadPublic differs (hierarchy {hierarchy:#x}): engine tail {:02x?} libtpms tail {:02x?}",
                        &rpe.body[n - 80..],
                        &rps.body[rps.body.len() - 80..]
                    );
                }
                flush(&mut e, re.handle());
                flush(&mut s, rs.handle());
            }
        }
    }
    // Structural errors in LoadExternal.
    let mut restricted = public.clone();
    restricted.attributes |= oa::RESTRICTED;
    for (p, hierarchy) in [(&restricted, handle::NULL), (&public, 0x4000_0002)] {
        let mut c = command(cc::LOAD_EXTERNAL).u16(0);
        p.marshal_2b(&mut c.params);
        let c = c.u32(hierarchy);
        assert_eq!(Rc(run(&mut e, &c).rc), Rc(run(&mut s, &c).rc));
    }
}

fn sign(tpm: &mut dyn Tpm, key: u32, digest: &[u8], scheme: Scheme) -> Result<Signature, u32> {
    let c = command(cc::SIGN)
        .handle(key)
        .pw(b"")
        .b2(digest)
        .put(&scheme)
        .put(&Ticket::null(st::HASHCHECK));
    let r = run_retry(tpm, &c);
    if r.rc != 0 {
        return Err(r.rc);
    }
    Ok(Signature::from_bytes(&r.params(0)).unwrap())
}

fn load_public(tpm: &mut dyn Tpm, p: &Public) -> u32 {
    let mut c = command(cc::LOAD_EXTERNAL).u16(0);
    p.marshal_2b(&mut c.params);
    let r = run(tpm, &c.u32(handle::OWNER));
    assert_eq!(r.rc, 0, "{}", Rc(r.rc));
    r.handle()
}

fn verify(tpm: &mut dyn Tpm, key: u32, digest: &[u8], sig: &Signature) -> u32 {
    run(tpm, &command(cc::VERIFY_SIGNATURE).handle(key).b2(digest).put(sig)).rc
}

#[test]
fn signatures_verify_across_implementations() {
    let (mut e, mut s) = pair();
    let digest = tpm2::crypto::hash::digest(HashAlg::Sha256, b"message");
    for rsa in [true, false] {
        for scheme in if rsa {
            vec![
                Scheme::with_hash(alg::RSASSA, HashAlg::Sha256),
                Scheme::with_hash(alg::RSAPSS, HashAlg::Sha256),
            ]
        } else {
            vec![Scheme::with_hash(alg::ECDSA, HashAlg::Sha256)]
        } {
            let (ke, pe, _) =
                create_primary(&mut e, handle::OWNER, &signing_template(rsa, false), b"").unwrap();
            let (ks, ps, _) =
                create_primary(&mut s, handle::OWNER, &signing_template(rsa, false), b"").unwrap();
            let sig_e = sign(&mut e, ke, &digest, scheme).unwrap();
            let sig_s = sign(&mut s, ks, &digest, scheme).unwrap();
            // Each verifies the other's signature through LoadExternal.
            let pub_s_on_e = load_public(&mut e, &ps);
            let pub_e_on_s = load_public(&mut s, &pe);
            assert_eq!(
                Rc(verify(&mut e, pub_s_on_e, &digest, &sig_s)),
                Rc::SUCCESS,
                "engine verifies libtpms {scheme:?}"
            );
            assert_eq!(
                Rc(verify(&mut s, pub_e_on_s, &digest, &sig_e)),
                Rc::SUCCESS,
                "libtpms verifies engine {scheme:?}"
            );
            assert_eq!(Rc(verify(&mut e, ke, &digest, &sig_e)), Rc::SUCCESS);
            let mut wrong = digest.clone();
            wrong[0] ^= 1;
            assert_eq!(
                Rc(verify(&mut e, ke, &wrong, &sig_e)),
                Rc(verify(&mut s, ks, &wrong, &sig_s))
            );
            // Scheme mismatches and bad digests.
            let bad_scheme =
                Scheme::with_hash(if rsa { alg::ECDSA } else { alg::RSASSA }, HashAlg::Sha256);
            rc_eq(
                sign(&mut e, ke, &digest, bad_scheme),
                sign(&mut s, ks, &digest, bad_scheme),
                "wrong scheme",
            );
            rc_eq(
                sign(&mut e, ke, &digest[..20], scheme),
                sign(&mut s, ks, &digest[..20], scheme),
                "short digest",
            );
            rc_eq(
                sign(&mut e, ke, &digest, Scheme::NULL),
                sign(&mut s, ks, &digest, Scheme::NULL),
                "no scheme",
            );
            for h in [ke, pub_s_on_e] {
                flush(&mut e, h);
            }
            for h in [ks, pub_e_on_s] {
                flush(&mut s, h);
            }
        }
    }
    // A restricted key refuses digests without a ticket.
    let (ke, ..) =
        create_primary(&mut e, handle::OWNER, &signing_template(true, true), b"").unwrap();
    let (ks, ..) =
        create_primary(&mut s, handle::OWNER, &signing_template(true, true), b"").unwrap();
    rc_eq(
        sign(&mut e, ke, &digest, Scheme::NULL),
        sign(&mut s, ks, &digest, Scheme::NULL),
        "restricted without ticket",
    );
    // With a ticket from TPM2_Hash it works.
    for (tpm, k) in [(&mut e as &mut dyn Tpm, ke), (&mut s as &mut dyn Tpm, ks)] {
        let p = ok(tpm, &command(cc::HASH).b2(b"message").u16(alg::SHA256).u32(handle::OWNER), 0);
        let mut r = Reader::new(&p);
        let d = r.sized_u16(64).unwrap().to_vec();
        let ticket = Ticket::unmarshal_tagged(&mut r, &[st::HASHCHECK]).unwrap();
        assert_eq!(d, digest);
        let c = command(cc::SIGN).handle(k).pw(b"").b2(&d).put(&Scheme::NULL).put(&ticket);
        assert_eq!(Rc(run_retry(tpm, &c).rc), Rc::SUCCESS, "{}", tpm.name());
    }
}

fn nv_public(index: u32, attributes: u32, size: u16) -> NvPublic {
    NvPublic { index, name_alg: HashAlg::Sha256, attributes, auth_policy: vec![], data_size: size }
}

fn define(tpm: &mut dyn Tpm, auth_handle: u32, auth: &[u8], p: &NvPublic) -> u32 {
    let mut c = command(cc::NV_DEFINE_SPACE).handle(auth_handle).pw(b"").b2(auth);
    put_sized(&mut c.params, p);
    run(tpm, &c).rc
}

#[test]
fn nv_rules_and_contents() {
    use tpm2::types::nv_attr as na;
    let (mut e, mut s) = pair();
    let rw = na::OWNERWRITE | na::OWNERREAD | na::AUTHREAD | na::AUTHWRITE;
    let defs = vec![
        nv_public(0x0150_0001, rw, 32),
        nv_public(0x0150_0002, rw | (na::NT_COUNTER << 4), 8),
        nv_public(0x0150_0003, rw | (na::NT_BITS << 4), 8),
        nv_public(0x0150_0004, rw | (na::NT_EXTEND << 4), 32),
        nv_public(0x0150_0005, rw | na::WRITEDEFINE | na::READ_STCLEAR, 16),
        nv_public(0x0150_0006, rw | na::WRITE_STCLEAR | na::GLOBALLOCK, 16),
        nv_public(0x0150_0007, rw | na::WRITEALL, 8),
        nv_public(0x0150_0008, rw | (na::NT_COUNTER << 4), 4),
        nv_public(0x0150_0009, rw | (3 << 4), 8),
        nv_public(0x0150_000A, na::OWNERWRITE, 8),
        nv_public(0x0150_000B, na::OWNERREAD, 8),
        nv_public(0x0150_000C, rw | na::WRITTEN, 8),
        nv_public(0x0150_000D, rw | na::PLATFORMCREATE, 8),
        nv_public(0x0150_000E, rw | na::POLICY_DELETE, 8),
        nv_public(0x0150_000F, rw | na::CLEAR_STCLEAR | na::WRITEDEFINE, 8),
        nv_public(0x0150_0010, rw | (na::NT_PIN_FAIL << 4), 8),
        nv_public(0x0150_0011, rw | (na::NT_PIN_PASS << 4), 8),
        nv_public(0x0150_0012, rw, 2049),
        nv_public(0x0150_0013, rw | na::WRITEALL, 1025),
    ];
    for d in &defs {
        assert_eq!(
            Rc(define(&mut e, handle::OWNER, b"nvpw", d)),
            Rc(define(&mut s, handle::OWNER, b"nvpw", d)),
            "define {:#x}",
            d.index
        );
    }
    let d1 = nv_public(0x0150_0001, rw, 32);
    assert_eq!(
        Rc(define(&mut e, handle::OWNER, b"", &d1)),
        Rc(define(&mut s, handle::OWNER, b"", &d1)),
        "redefine"
    );
    let both_run = |e: &mut Engine, s: &mut Swtpm, c: &CommandBuilder| {
        let (re, rs) = (run(e, c), run(s, c));
        assert_eq!(
            (Rc(re.rc), re.params(0)),
            (Rc(rs.rc), rs.params(0)),
            "command {:#x} {:02x?}",
            c.cc,
            c.build()
        );
    };
    let nv =
        |cc: u32, auth: u32, index: u32, pw: &[u8]| command(cc).handle(auth).handle(index).pw(pw);
    let i1 = 0x0150_0001;
    let seq: Vec<CommandBuilder> = vec![
        nv(cc::NV_READ, i1, i1, b"nvpw").u16(4).u16(0),
        nv(cc::NV_WRITE, i1, i1, b"nvpw").b2(b"abcd").u16(4),
        nv(cc::NV_READ, i1, i1, b"nvpw").u16(8).u16(4),
        nv(cc::NV_READ, handle::OWNER, i1, b"").u16(4).u16(4),
        nv(cc::NV_WRITE, i1, i1, b"nvpw").b2(b"abcd").u16(30),
        nv(cc::NV_WRITE, i1, i1, b"nvpw").b2(b"abcd").u16(33),
        nv(cc::NV_READ, i1, i1, b"nvpw").u16(33).u16(0),
        nv(cc::NV_READ, i1, i1, b"nvpw").u16(1).u16(33),
        nv(cc::NV_READ, handle::PLATFORM, i1, b"").u16(4).u16(4),
        nv(cc::NV_WRITE, i1, i1, b"wrong").b2(b"x").u16(0),
        nv(cc::NV_INCREMENT, i1, i1, b"nvpw"),
        nv(cc::NV_INCREMENT, 0x0150_0002, 0x0150_0002, b"nvpw"),
        nv(cc::NV_INCREMENT, 0x0150_0002, 0x0150_0002, b"nvpw"),
        nv(cc::NV_READ, 0x0150_0002, 0x0150_0002, b"nvpw").u16(8).u16(0),
        nv(cc::NV_WRITE, 0x0150_0002, 0x0150_0002, b"nvpw").b2(b"x").u16(0),
        nv(cc::NV_SET_BITS, 0x0150_0003, 0x0150_0003, b"nvpw").u64(0x0102),
        nv(cc::NV_SET_BITS, 0x0150_0003, 0x0150_0003, b"nvpw").u64(0x8000_0000_0000_0001),
        nv(cc::NV_READ, 0x0150_0003, 0x0150_0003, b"nvpw").u16(8).u16(0),
        nv(cc::NV_EXTEND, 0x0150_0004, 0x0150_0004, b"nvpw").b2(b"event 1"),
        nv(cc::NV_EXTEND, 0x0150_0004, 0x0150_0004, b"nvpw").b2(b"event 2"),
        nv(cc::NV_READ, 0x0150_0004, 0x0150_0004, b"nvpw").u16(32).u16(0),
        nv(cc::NV_WRITE, 0x0150_0005, 0x0150_0005, b"nvpw").b2(b"0123456789abcdef").u16(0),
        nv(cc::NV_WRITE_LOCK, 0x0150_0005, 0x0150_0005, b"nvpw"),
        nv(cc::NV_WRITE, 0x0150_0005, 0x0150_0005, b"nvpw").b2(b"x").u16(0),
        nv(cc::NV_WRITE_LOCK, 0x0150_0005, 0x0150_0005, b"nvpw"),
        nv(cc::NV_READ_LOCK, 0x0150_0005, 0x0150_0005, b"nvpw"),
        nv(cc::NV_READ, 0x0150_0005, 0x0150_0005, b"nvpw").u16(4).u16(0),
        nv(cc::NV_READ_LOCK, i1, i1, b"nvpw"),
        nv(cc::NV_WRITE, 0x0150_0006, 0x0150_0006, b"nvpw").b2(b"x").u16(0),
        command(cc::NV_GLOBAL_WRITE_LOCK).handle(handle::OWNER).pw(b""),
        nv(cc::NV_WRITE, 0x0150_0006, 0x0150_0006, b"nvpw").b2(b"y").u16(0),
        nv(cc::NV_WRITE, 0x0150_0007, 0x0150_0007, b"nvpw").b2(b"abc").u16(0),
        nv(cc::NV_WRITE, 0x0150_0007, 0x0150_0007, b"nvpw").b2(b"abcdefgh").u16(0),
        command(cc::NV_READ_PUBLIC).handle(i1),
        command(cc::NV_READ_PUBLIC).handle(0x0150_0002),
        command(cc::NV_CHANGE_AUTH).handle(i1).pw(b"nvpw").b2(b"new"),
        command(cc::NV_READ_PUBLIC).handle(0x0150_0099),
        nv(cc::NV_WRITE, i1, 0x0150_0099, b"nvpw").b2(b"x").u16(0),
        command(cc::NV_UNDEFINE_SPACE).handle(handle::PLATFORM).handle(i1).pw(b""),
        command(cc::NV_UNDEFINE_SPACE).handle(handle::OWNER).handle(0x0150_0002).pw(b""),
        nv(cc::NV_READ, 0x0150_0002, 0x0150_0002, b"nvpw").u16(8).u16(0),
    ];
    for c in &seq {
        both_run(&mut e, &mut s, c);
    }
    // A counter defined again continues past the deleted one's value; unwritten
    // indices read back the same; written ones survive a restart, locks do not.
    let c2 = nv_public(0x0150_0002, rw | (na::NT_COUNTER << 4), 8);
    assert_eq!(define(&mut e, handle::OWNER, b"", &c2), define(&mut s, handle::OWNER, b"", &c2));
    both_run(&mut e, &mut s, &nv(cc::NV_INCREMENT, 0x0150_0002, 0x0150_0002, b""));
    both_run(&mut e, &mut s, &nv(cc::NV_READ, 0x0150_0002, 0x0150_0002, b"").u16(8).u16(0));
    both_run(&mut e, &mut s, &command(cc::SHUTDOWN).u16(su::CLEAR));
    e.power_cycle();
    s.power_cycle();
    both_run(&mut e, &mut s, &command(cc::STARTUP).u16(su::CLEAR));
    for c in [
        nv(cc::NV_READ, i1, i1, b"new").u16(32).u16(0),
        nv(cc::NV_READ, 0x0150_0005, 0x0150_0005, b"nvpw").u16(16).u16(0),
        nv(cc::NV_WRITE, 0x0150_0005, 0x0150_0005, b"nvpw").b2(b"x").u16(0),
        nv(cc::NV_WRITE, 0x0150_0006, 0x0150_0006, b"nvpw").b2(b"z").u16(0),
        nv(cc::NV_READ, 0x0150_0006, 0x0150_0006, b"nvpw").u16(1).u16(0),
    ] {
        both_run(&mut e, &mut s, &c);
    }
    assert_eq!(
        get_cap(&mut e, cap::HANDLES, 0x0100_0000, 50),
        get_cap(&mut s, cap::HANDLES, 0x0100_0000, 50)
    );
}

#[test]
fn hierarchy_auth_control_and_clear() {
    let (mut e, mut s) = pair();
    let seq: Vec<CommandBuilder> = vec![
        command(cc::HIERARCHY_CHANGE_AUTH).handle(handle::OWNER).pw(b"").b2(b"ownerpw"),
        command(cc::HIERARCHY_CHANGE_AUTH).handle(handle::OWNER).pw(b"").b2(b"x"),
        command(cc::HIERARCHY_CHANGE_AUTH).handle(handle::OWNER).pw(b"ownerpw\0\0").b2(b"ownerpw2"),
        command(cc::HIERARCHY_CHANGE_AUTH).handle(handle::ENDORSEMENT).pw(b"").b2(&[7; 65]),
        command(cc::HIERARCHY_CHANGE_AUTH).handle(handle::LOCKOUT).pw(b"").b2(b"lockpw"),
        command(cc::HIERARCHY_CHANGE_AUTH).handle(handle::PLATFORM).pw(b"").b2(b"platpw"),
        command(cc::SET_PRIMARY_POLICY)
            .handle(handle::OWNER)
            .pw(b"ownerpw2")
            .b2(&[1; 32])
            .u16(alg::SHA256),
        command(cc::SET_PRIMARY_POLICY)
            .handle(handle::OWNER)
            .pw(b"ownerpw2")
            .b2(&[1; 20])
            .u16(alg::SHA256),
        command(cc::SET_PRIMARY_POLICY)
            .handle(handle::OWNER)
            .pw(b"ownerpw2")
            .b2(&[])
            .u16(alg::NULL),
        command(cc::GET_CAPABILITY).u32(cap::TPM_PROPERTIES).u32(pt::PERMANENT).u32(1),
        command(cc::HIERARCHY_CONTROL)
            .handle(handle::OWNER)
            .pw(b"ownerpw2")
            .u32(handle::ENDORSEMENT)
            .u8(0),
        command(cc::HIERARCHY_CONTROL)
            .handle(handle::ENDORSEMENT)
            .pw(b"")
            .u32(handle::ENDORSEMENT)
            .u8(0),
        command(cc::HIERARCHY_CONTROL)
            .handle(handle::ENDORSEMENT)
            .pw(b"")
            .u32(handle::ENDORSEMENT)
            .u8(1),
        command(cc::HIERARCHY_CONTROL)
            .handle(handle::PLATFORM)
            .pw(b"platpw")
            .u32(handle::ENDORSEMENT)
            .u8(1),
        command(cc::HIERARCHY_CONTROL)
            .handle(handle::OWNER)
            .pw(b"ownerpw2")
            .u32(handle::OWNER)
            .u8(0),
        command(cc::CLEAR_CONTROL).handle(handle::OWNER).pw(b"ownerpw2").u8(1),
        command(cc::HIERARCHY_CONTROL)
            .handle(handle::PLATFORM)
            .pw(b"platpw")
            .u32(handle::OWNER)
            .u8(1),
        command(cc::GET_CAPABILITY).u32(cap::TPM_PROPERTIES).u32(pt::STARTUP_CLEAR).u32(1),
        command(cc::CLEAR_CONTROL).handle(handle::LOCKOUT).pw(b"lockpw").u8(1),
        command(cc::CLEAR).handle(handle::LOCKOUT).pw(b"lockpw"),
        command(cc::CLEAR_CONTROL).handle(handle::LOCKOUT).pw(b"lockpw").u8(0),
        command(cc::CLEAR_CONTROL).handle(handle::PLATFORM).pw(b"platpw").u8(0),
        command(cc::CLEAR).handle(handle::LOCKOUT).pw(b"lockpw"),
        command(cc::GET_CAPABILITY).u32(cap::TPM_PROPERTIES).u32(pt::PERMANENT).u32(1),
        command(cc::HIERARCHY_CHANGE_AUTH).handle(handle::OWNER).pw(b"").b2(b"after"),
        command(cc::DICTIONARY_ATTACK_PARAMETERS)
            .handle(handle::LOCKOUT)
            .pw(b"")
            .u32(5)
            .u32(10)
            .u32(20),
        command(cc::GET_CAPABILITY).u32(cap::TPM_PROPERTIES).u32(pt::LOCKOUT_COUNTER).u32(4),
        command(cc::CHANGE_EPS).handle(handle::PLATFORM).pw(b"platpw"),
        command(cc::CHANGE_PPS).handle(handle::PLATFORM).pw(b"platpw"),
        command(cc::HIERARCHY_CONTROL)
            .handle(handle::PLATFORM)
            .pw(b"platpw")
            .u32(handle::PLATFORM)
            .u8(0),
        command(cc::HIERARCHY_CHANGE_AUTH).handle(handle::PLATFORM).pw(b"platpw").b2(b"x"),
        command(cc::GET_CAPABILITY).u32(cap::TPM_PROPERTIES).u32(pt::STARTUP_CLEAR).u32(1),
    ];
    for c in &seq {
        let (re, rs) = (run(&mut e, c), run(&mut s, c));
        assert_eq!(
            (Rc(re.rc), re.params(0)),
            (Rc(rs.rc), rs.params(0)),
            "command {:#x} {:02x?}",
            c.cc,
            c.build()
        );
    }
    // Lockout auth failures disable lockoutAuth.
    for pw in [&b"bad"[..], b"", b""] {
        let c = command(cc::DICTIONARY_ATTACK_LOCK_RESET).handle(handle::LOCKOUT).pw(pw);
        assert_eq!(Rc(run(&mut e, &c).rc), Rc(run(&mut s, &c).rc), "lockout {pw:?}");
    }
}

#[test]
fn hmac_sessions_bound_salted_and_encrypted() {
    let (mut e, mut s) = pair();
    for tpm in [&mut e as &mut dyn Tpm, &mut s as &mut dyn Tpm] {
        let name = tpm.name();
        let (srk, srk_public, _) =
            create_primary(tpm, handle::OWNER, &storage_template(true), b"").unwrap();
        let (ecc, ecc_public, _) =
            create_primary(tpm, handle::OWNER, &storage_template(false), b"").unwrap();
        ok(tpm, &command(cc::HIERARCHY_CHANGE_AUTH).handle(handle::OWNER).pw(b"").b2(b"owner"), 0);
        let owner_name = handle::OWNER.to_be_bytes().to_vec();
        for (salt, bind, sym) in [
            (None, None, SymDef::Null),
            (Some((srk, srk_public.clone())), None, SymDef::AES_128_CFB),
            (
                Some((ecc, ecc_public.clone())),
                Some((handle::OWNER, owner_name.clone(), b"owner".to_vec())),
                SymDef::Xor(HashAlg::Sha256),
            ),
            (
                None,
                Some((handle::OWNER, owner_name.clone(), b"owner".to_vec())),
                SymDef::Aes { bits: 256, mode: alg::CFB },
            ),
        ] {
            let opts = StartOptions {
                bind: bind.clone(),
                salt: salt.clone(),
                symmetric: sym,
                ..Default::default()
            };
            let mut sess = ClientSession::start(tpm, &opts).unwrap();
            // Authorize HierarchyChangeAuth(owner) with the session, encrypting
            // the new auth when the session can; the response HMAC uses the new
            // authValue.
            for (old_auth, new_auth) in [(&b"owner"[..], &b"owner2"[..]), (b"owner2", b"owner")] {
                let mut bytes = Writer::new();
                put_2b(&mut bytes, new_auth);
                let mut bytes = bytes.into_vec();
                let attrs = if sym.is_null() { 1 } else { 1 | session_attr::DECRYPT };
                sess.next_nonce();
                if !sym.is_null() {
                    // The decrypt session also authorizes the handle, so the
                    // entity's authValue is part of the key (even when the
                    // session is bound to it and the HMAC leaves it out).
                    sess.crypt(Some(old_auth), true, &mut bytes[2..]);
                }
                let entry = sess.hmac_for(
                    cc::HIERARCHY_CHANGE_AUTH,
                    std::slice::from_ref(&owner_name),
                    &bytes,
                    Some((&owner_name, old_auth)),
                    attrs,
                    false,
                );
                let c = command(cc::HIERARCHY_CHANGE_AUTH)
                    .handle(handle::OWNER)
                    .auth(entry)
                    .raw(&bytes);
                let r = run(tpm, &c);
                assert_eq!(Rc(r.rc), Rc::SUCCESS, "{name}: {opts:?}");
                let area = r.session_area(0);
                sess.check_response(
                    cc::HIERARCHY_CHANGE_AUTH,
                    &r.params(0),
                    &mut Reader::new(&area),
                    Some(new_auth),
                );
            }
            flush(tpm, sess.handle);
        }
        flush(tpm, srk);
        flush(tpm, ecc);
    }
}
