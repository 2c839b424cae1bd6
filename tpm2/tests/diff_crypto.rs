//! Differential tests against libtpms of the command families whose results are
//! deterministic once the key is: hashes and hash/HMAC/event sequences,
//! EncryptDecrypt(2) in every mode, raw RSA and ECDH, and attestation structures.
//! Both TPMs load the same key material with TPM2_LoadExternal, so outputs compare
//! byte for byte; randomised outputs (OAEP, PKCS#1 v1.5, ECDH_KeyGen, signatures)
//! are made on one TPM and consumed on the other. Saved contexts, EvictControl,
//! ObjectChangeAuth, CreateLoaded, the PCR authorization commands and credential
//! activation compare by response code and by what each TPM then does; objects
//! duplicated on one TPM are imported on the other.

#![allow(clippy::cast_possible_truncation, reason = "test code: small, known lengths")]

mod common;

use common::*;
use tpm_engine::Drbg;
use tpm2::crypto::hash::digest;
use tpm2::types::object_attr as oa;
use tpm2::types::*;

fn pair() -> (Engine, Swtpm) {
    let mut e = Engine::new();
    let mut s = Swtpm::start();
    assert_eq!(startup(&mut e, su::CLEAR), 0);
    assert_eq!(startup(&mut s, su::CLEAR), 0);
    (e, s)
}

/// Runs `c` on both and asserts equal response codes.
fn both(e: &mut Engine, s: &mut Swtpm, c: &CommandBuilder) -> (Response, Response) {
    let re = run_retry(e, c);
    let rs = run_retry(s, c);
    assert_eq!(Rc(re.rc), Rc(rs.rc), "command {:#x}: engine vs libtpms", c.cc);
    (re, rs)
}

/// LoadExternal of `public` with `sensitive` (TPMT_SENSITIVE) into the NULL
/// hierarchy; returns the handle.
fn load_external(tpm: &mut dyn Tpm, public: &Public, sensitive: &Sensitive) -> u32 {
    let mut c = command(cc::LOAD_EXTERNAL);
    put_sized(&mut c.params, sensitive);
    public.marshal_2b(&mut c.params);
    let r = run(tpm, &c.u32(handle::NULL));
    assert_eq!(r.rc, 0, "{}: LoadExternal: {}", tpm.name(), Rc(r.rc));
    r.handle()
}

fn both_load(e: &mut Engine, s: &mut Swtpm, public: &Public, sensitive: &Sensitive) -> (u32, u32) {
    (load_external(e, public, sensitive), load_external(s, public, sensitive))
}

fn user_key(attributes: u32, kind: PublicKind) -> Public {
    Public {
        name_alg: Some(HashAlg::Sha256),
        attributes: oa::USER_WITH_AUTH | attributes,
        auth_policy: vec![],
        kind,
    }
}

/// A keyed-hash or symmetric key: unique = H(seedValue ‖ key).
fn symmetric_key(
    attributes: u32,
    kind: impl FnOnce(Vec<u8>) -> PublicKind,
    key: &[u8],
) -> (Public, Sensitive) {
    let seed = vec![0x33; 32];
    let unique = digest(HashAlg::Sha256, &[seed.as_slice(), key].concat());
    let public = user_key(attributes, kind(unique));
    let sensitive_type = public.kind.type_alg();
    (
        public,
        Sensitive { sensitive_type, auth_value: vec![], seed_value: seed, sensitive: key.to_vec() },
    )
}

#[test]
fn hash_and_sequences() {
    let (mut e, mut s) = pair();
    let data = b"the quick brown fox";
    for a in [alg::SHA1, alg::SHA256, alg::SHA384, alg::SHA512] {
        let c = command(cc::HASH).b2(data).u16(a).u32(handle::OWNER);
        let (re, rs) = both(&mut e, &mut s, &c);
        // outHash, then the ticket's tag and hierarchy (its HMAC uses each TPM's proof).
        let (pe, ps) = (re.params(0), rs.params(0));
        let n = 2 + usize::from(u16::from_be_bytes([pe[0], pe[1]]));
        assert_eq!(pe[..n + 6], ps[..n + 6], "Hash {a:#x}");
    }
    both(&mut e, &mut s, &command(cc::HASH).b2(data).u16(alg::NULL).u32(handle::OWNER));
    both(&mut e, &mut s, &command(cc::HASH).b2(data).u16(alg::SHA256).u32(0x4000_0002));
    both(&mut e, &mut s, &command(cc::HASH).b2(&[0; 1025]).u16(alg::SHA256).u32(handle::NULL));

    // A hash sequence in three parts.
    for a in [alg::SHA1, alg::SHA256, alg::SHA384] {
        let start = command(cc::HASH_SEQUENCE_START).b2(b"seq").u16(a);
        let (re, rs) = both(&mut e, &mut s, &start);
        let (he, hs) = (re.handle(), rs.handle());
        for part in [&b"part one, "[..], b"part two, "] {
            let update = |h| command(cc::SEQUENCE_UPDATE).handle(h).pw(b"seq").b2(part);
            assert_eq!(run(&mut e, &update(he)).rc, 0);
            assert_eq!(run(&mut s, &update(hs)).rc, 0);
        }
        let complete = |h| {
            command(cc::SEQUENCE_COMPLETE).handle(h).pw(b"seq").b2(b"part three").u32(handle::NULL)
        };
        let (pe, ps) = (ok(&mut e, &complete(he), 0), ok(&mut s, &complete(hs), 0));
        assert_eq!(pe, ps, "SequenceComplete {a:#x}");
        // The sequence is gone.
        let gone = command(cc::SEQUENCE_UPDATE).handle(he).pw(b"seq").b2(b"x");
        let gone_s = command(cc::SEQUENCE_UPDATE).handle(hs).pw(b"seq").b2(b"x");
        assert_eq!(Rc(run(&mut e, &gone).rc), Rc(run(&mut s, &gone_s).rc));
    }
    // A wrong sequence password.
    let (re, rs) =
        both(&mut e, &mut s, &command(cc::HASH_SEQUENCE_START).b2(b"pw").u16(alg::SHA256));
    let bad = |h| command(cc::SEQUENCE_UPDATE).handle(h).pw(b"wrong").b2(b"x");
    assert_eq!(Rc(run(&mut e, &bad(re.handle())).rc), Rc(run(&mut s, &bad(rs.handle())).rc));
    flush(&mut e, re.handle());
    flush(&mut s, rs.handle());

    // An event sequence extends every bank of PCR 16 and returns every digest.
    let (re, rs) = both(&mut e, &mut s, &command(cc::HASH_SEQUENCE_START).b2(b"").u16(alg::NULL));
    for (t, h) in [(&mut e as &mut dyn Tpm, re.handle()), (&mut s, rs.handle())] {
        ok(t, &command(cc::SEQUENCE_UPDATE).handle(h).pw(b"").b2(b"event data, "), 0);
    }
    let event = |h| {
        command(cc::EVENT_SEQUENCE_COMPLETE).handle(16).handle(h).pw(b"").pw(b"").b2(b"the end")
    };
    let (pe, ps) = (ok(&mut e, &event(re.handle()), 0), ok(&mut s, &event(rs.handle()), 0));
    assert_eq!(pe, ps, "EventSequenceComplete");
    for a in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384] {
        let sel = PcrSelectionList(vec![PcrSelection::new(a, &[16])]);
        assert_eq!(pcr_read(&mut e, &sel), pcr_read(&mut s, &sel), "PCR 16 {a:?}");
    }
}

#[test]
fn hmac_with_a_loaded_key() {
    let (mut e, mut s) = pair();
    let key = [0x4b; 32];
    // An HMAC key signs; with decrypt too, its scheme would have to be NULL.
    let hmac_scheme = Scheme::with_hash(alg::HMAC, HashAlg::Sha256);
    let (both_ways, both_sensitive) = symmetric_key(
        oa::SIGN_ENCRYPT | oa::DECRYPT,
        |unique| PublicKind::KeyedHash { scheme: hmac_scheme, unique },
        &key,
    );
    let mut c = command(cc::LOAD_EXTERNAL);
    put_sized(&mut c.params, &both_sensitive);
    both_ways.marshal_2b(&mut c.params);
    both(&mut e, &mut s, &c.u32(handle::NULL));
    let (public, sensitive) = symmetric_key(
        oa::SIGN_ENCRYPT,
        |unique| PublicKind::KeyedHash {
            scheme: Scheme::with_hash(alg::HMAC, HashAlg::Sha256),
            unique,
        },
        &key,
    );
    let (ke, ks) = both_load(&mut e, &mut s, &public, &sensitive);
    let hmac = |k, a| command(cc::HMAC).handle(k).pw(b"").b2(b"message").u16(a);
    for a in [alg::NULL, alg::SHA256, alg::SHA1] {
        let (re, rs) = (run(&mut e, &hmac(ke, a)), run(&mut s, &hmac(ks, a)));
        assert_eq!(Rc(re.rc), Rc(rs.rc), "HMAC {a:#x}");
        assert_eq!(re.params(0), rs.params(0), "HMAC {a:#x}");
    }
    // HMAC_Start / SequenceUpdate / SequenceComplete.
    let start = |k| command(cc::HMAC_START).handle(k).pw(b"").b2(b"sq").u16(alg::NULL);
    let (he, hs) = (run(&mut e, &start(ke)), run(&mut s, &start(ks)));
    assert_eq!((he.rc, hs.rc), (0, 0));
    for (t, h) in [(&mut e as &mut dyn Tpm, he.handle()), (&mut s, hs.handle())] {
        ok(t, &command(cc::SEQUENCE_UPDATE).handle(h).pw(b"sq").b2(b"mess"), 0);
    }
    let complete =
        |h| command(cc::SEQUENCE_COMPLETE).handle(h).pw(b"sq").b2(b"age").u32(handle::NULL);
    let (pe, ps) = (ok(&mut e, &complete(he.handle()), 0), ok(&mut s, &complete(hs.handle()), 0));
    assert_eq!(pe, ps);
    assert_eq!(pe[..34], run(&mut e, &hmac(ke, alg::NULL)).params(0)[..34]);
}

#[test]
fn encrypt_decrypt_in_every_mode() {
    let (mut e, mut s) = pair();
    let key = [0x6b; 16];
    let iv = [0x1f; 16];
    let data: Vec<u8> = (0..64u8).collect();
    for key_mode in [alg::NULL, alg::CFB, alg::CBC, alg::ECB] {
        let (public, sensitive) = symmetric_key(
            oa::SIGN_ENCRYPT | oa::DECRYPT,
            |unique| PublicKind::SymCipher {
                sym: SymDef::Aes { bits: 128, mode: key_mode },
                unique,
            },
            &key,
        );
        let (ke, ks) = both_load(&mut e, &mut s, &public, &sensitive);
        for mode in [alg::NULL, alg::CFB, alg::CBC, alg::CTR, alg::OFB, alg::ECB] {
            for decrypt in [false, true] {
                for len in [64usize, 20] {
                    let input = &data[..len];
                    // ECB takes an empty IV (a block-sized one is refused: the
                    // 20-byte cases).
                    let effective = if mode == alg::NULL { key_mode } else { mode };
                    let iv: &[u8] = if effective == alg::ECB && len == 64 { &[] } else { &iv };
                    // EncryptDecrypt: decrypt, mode, ivIn, inData.
                    let c1 = |k| {
                        command(cc::ENCRYPT_DECRYPT)
                            .handle(k)
                            .pw(b"")
                            .u8(u8::from(decrypt))
                            .u16(mode)
                            .b2(iv)
                            .b2(input)
                    };
                    // EncryptDecrypt2: inData first.
                    let c2 = |k| {
                        command(cc::ENCRYPT_DECRYPT2)
                            .handle(k)
                            .pw(b"")
                            .b2(input)
                            .u8(u8::from(decrypt))
                            .u16(mode)
                            .b2(iv)
                    };
                    for (ce, cs) in [(c1(ke), c1(ks)), (c2(ke), c2(ks))] {
                        let (re, rs) = (run(&mut e, &ce), run(&mut s, &cs));
                        let what = format!(
                            "cc {:#x} key mode {key_mode:#x} mode {mode:#x} decrypt {decrypt} len {len}",
                            ce.cc
                        );
                        assert_eq!(Rc(re.rc), Rc(rs.rc), "{what}");
                        assert_eq!(re.params(0), rs.params(0), "{what}");
                    }
                }
            }
        }
        flush(&mut e, ke);
        flush(&mut s, ks);
    }
}

fn rsa_key(decrypt_scheme: Scheme) -> (Public, Sensitive) {
    let mut drbg = Drbg::from_seed([0x52; 32]);
    let key = tpm2::crypto::rsa::generate_random(&mut drbg, 2048, 0).unwrap();
    let public = user_key(
        oa::DECRYPT | oa::SIGN_ENCRYPT,
        PublicKind::Rsa {
            parms: RsaParms {
                symmetric: SymDef::Null,
                scheme: decrypt_scheme,
                key_bits: 2048,
                exponent: 0,
            },
            modulus: tpm2::crypto::rsa::modulus(&key),
        },
    );
    let sensitive = Sensitive {
        sensitive_type: alg::RSA,
        auth_value: vec![],
        seed_value: vec![],
        sensitive: tpm2::crypto::rsa::prime(&key).to_vec(),
    };
    (public, sensitive)
}

fn rsa_encrypt(k: u32, message: &[u8], scheme: &Scheme, label: &[u8]) -> CommandBuilder {
    command(cc::RSA_ENCRYPT).handle(k).b2(message).put(scheme).b2(label)
}

fn rsa_decrypt(k: u32, cipher: &[u8], scheme: &Scheme, label: &[u8]) -> CommandBuilder {
    command(cc::RSA_DECRYPT).handle(k).pw(b"").b2(cipher).put(scheme).b2(label)
}

fn first_2b(p: &[u8]) -> Vec<u8> {
    Reader::new(p).sized_u16(1024).unwrap().to_vec()
}

#[test]
fn rsa_encryption_across_implementations() {
    let (mut e, mut s) = pair();
    let (public, sensitive) = rsa_key(Scheme::NULL);
    let (ke, ks) = both_load(&mut e, &mut s, &public, &sensitive);
    // Raw RSA is deterministic.
    let mut block = vec![0u8; 256];
    block[1..].iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    let raw = Scheme::NULL;
    let ce = run(&mut e, &rsa_encrypt(ke, &block, &raw, b""));
    let cs = run(&mut s, &rsa_encrypt(ks, &block, &raw, b""));
    assert_eq!((Rc(ce.rc), ce.params(0)), (Rc(cs.rc), cs.params(0)), "raw RSA");
    let back = ok(&mut s, &rsa_decrypt(ks, &first_2b(&ce.params(0)), &raw, b""), 0);
    assert_eq!(first_2b(&back), block);
    // A message not below the modulus: Part 3 §14.2 says TPM_RC_VALUE; libtpms
    // answers TPM_RC_FAILURE (OpenSSL's refusal); both refuse.
    let big = vec![0xff; 256];
    assert_eq!(Rc(run(&mut e, &rsa_encrypt(ke, &big, &raw, b"")).rc), Rc::VALUE);
    assert_ne!(run(&mut s, &rsa_encrypt(ks, &big, &raw, b"")).rc, 0);
    // OAEP and PKCS#1 v1.5, each way; labels must match for OAEP.
    for scheme in [
        Scheme::with_hash(alg::OAEP, HashAlg::Sha256),
        Scheme::with_hash(alg::OAEP, HashAlg::Sha1),
        Scheme { alg: alg::RSAES, hash: alg::NULL, extra: 0 },
    ] {
        let label: &[u8] = if scheme.alg == alg::OAEP { b"label\0" } else { b"" };
        for (from_engine, (k_enc, k_dec)) in [(true, (ke, ks)), (false, (ks, ke))] {
            let cipher = if from_engine {
                ok(&mut e, &rsa_encrypt(k_enc, b"secret", &scheme, label), 0)
            } else {
                ok(&mut s, &rsa_encrypt(k_enc, b"secret", &scheme, label), 0)
            };
            let cipher = first_2b(&cipher);
            let (pe, ps);
            if from_engine {
                ps = run_retry(&mut s, &rsa_decrypt(k_dec, &cipher, &scheme, label));
                pe = run_retry(&mut e, &rsa_decrypt(ke, &cipher, &scheme, label));
            } else {
                pe = run_retry(&mut e, &rsa_decrypt(k_dec, &cipher, &scheme, label));
                ps = run_retry(&mut s, &rsa_decrypt(ks, &cipher, &scheme, label));
            }
            assert_eq!((pe.rc, ps.rc), (0, 0), "{scheme:?}");
            assert_eq!(first_2b(&pe.params(0)), b"secret");
            assert_eq!(pe.params(0), ps.params(0));
            // Damaged ciphertext and a wrong label.
            let mut bad = cipher.clone();
            bad[200] ^= 1;
            let re = run_retry(&mut e, &rsa_decrypt(ke, &bad, &scheme, label));
            let rs = run_retry(&mut s, &rsa_decrypt(ks, &bad, &scheme, label));
            // Both refuse: the engine with TPM_RC_VALUE (Part 3 §14.3), libtpms with
            // TPM_RC_FAILURE (OpenSSL's refusal; see docs/tpm2.md, Deviations).
            assert_eq!(Rc(re.rc & !0xF40), Rc::VALUE, "damaged {scheme:?}: {}", Rc(re.rc));
            assert_ne!(rs.rc, 0, "libtpms accepted a damaged {scheme:?} ciphertext");
            if scheme.alg == alg::OAEP {
                let re = run_retry(&mut e, &rsa_decrypt(ke, &cipher, &scheme, b"other\0"));
                let rs = run_retry(&mut s, &rsa_decrypt(ks, &cipher, &scheme, b"other\0"));
                assert_eq!(Rc(re.rc & !0xF40), Rc::VALUE, "wrong label: {}", Rc(re.rc));
                assert_ne!(rs.rc, 0, "libtpms accepted a wrong OAEP label");
            }
        }
    }
}

fn ecc_key(attributes: u32, scheme: Scheme) -> (Public, Sensitive, tpm2::crypto::ecc::EccSecret) {
    let scalar = digest(HashAlg::Sha256, b"the ECC test key");
    let secret = tpm2::crypto::ecc::EccSecret::from_scalar(EccCurve::NistP256, &scalar).unwrap();
    let (x, y) = secret.public().xy();
    let public = user_key(
        attributes,
        PublicKind::Ecc {
            parms: EccParms {
                symmetric: SymDef::Null,
                scheme,
                curve: curve::NIST_P256,
                kdf: Scheme::NULL,
            },
            x,
            y,
        },
    );
    let sensitive = Sensitive {
        sensitive_type: alg::ECC,
        auth_value: vec![],
        seed_value: vec![],
        sensitive: scalar,
    };
    (public, sensitive, secret)
}

fn point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    put_2b(&mut w, x);
    put_2b(&mut w, y);
    let inner = w.into_vec();
    let mut out = (inner.len() as u16).to_be_bytes().to_vec();
    out.extend(inner);
    out
}

#[test]
fn ecdh_across_implementations() {
    let (mut e, mut s) = pair();
    let (public, sensitive, _) = ecc_key(oa::DECRYPT, Scheme::NULL);
    let (ke, ks) = both_load(&mut e, &mut s, &public, &sensitive);
    let other = tpm2::crypto::ecc::EccSecret::from_scalar(
        EccCurve::NistP256,
        &digest(HashAlg::Sha256, b"the other party"),
    )
    .unwrap();
    let (x, y) = other.public().xy();
    let zgen = |k| command(cc::ECDH_ZGEN).handle(k).pw(b"").raw(&point(&x, &y));
    let (pe, ps) = (ok(&mut e, &zgen(ke), 0), ok(&mut s, &zgen(ks), 0));
    assert_eq!(pe, ps, "ECDH_ZGen");
    // A point off the curve.
    let mut bad_y = y.clone();
    bad_y[31] ^= 1;
    let bad = |k| command(cc::ECDH_ZGEN).handle(k).pw(b"").raw(&point(&x, &bad_y));
    assert_eq!(Rc(run(&mut e, &bad(ke)).rc), Rc(run(&mut s, &bad(ks)).rc));
    // KeyGen on one TPM; ZGen of its public point on the other gives its Z.
    for engine_first in [true, false] {
        let keygen = |k| command(cc::ECDH_KEYGEN).handle(k);
        let p = if engine_first { ok(&mut e, &keygen(ke), 0) } else { ok(&mut s, &keygen(ks), 0) };
        let mut r = Reader::new(&p);
        let z = r.sized_u16(200).unwrap().to_vec();
        let pub_point = r.sized_u16(200).unwrap().to_vec();
        let mut c = command(cc::ECDH_ZGEN).handle(if engine_first { ks } else { ke }).pw(b"");
        c = c.b2(&pub_point);
        let other_z = if engine_first { ok(&mut s, &c, 0) } else { ok(&mut e, &c, 0) };
        assert_eq!(first_2b_point(&other_z), z);
    }
}

/// The TPM2B_ECC_POINT at the start of `p`, with its size.
fn first_2b_point(p: &[u8]) -> Vec<u8> {
    Reader::new(p).sized_u16(200).unwrap().to_vec()
}

fn attest_of(p: &[u8]) -> Attest {
    let mut r = Reader::new(p);
    Attest::unmarshal(&mut Reader::new(r.sized_u16(2000).unwrap())).unwrap()
}

#[test]
fn attestation_structures_agree() {
    let (mut e, mut s) = pair();
    let ecdsa = Scheme::with_hash(alg::ECDSA, HashAlg::Sha256);
    let (public, sensitive, _) = ecc_key(oa::SIGN_ENCRYPT, ecdsa);
    let (ke, ks) = both_load(&mut e, &mut s, &public, &sensitive);
    for pcr in [0u32, 7, 16] {
        let c = command(cc::PCR_EXTEND).handle(pcr).pw(b"").put(&DigestValues(vec![TaggedHash {
            hash: HashAlg::Sha256,
            digest: digest(HashAlg::Sha256, &pcr.to_be_bytes()),
        }]));
        both(&mut e, &mut s, &c);
    }
    // Quote: the qualified signer (a NULL-hierarchy key), extraData and the PCR
    // selection and digest agree; clock and firmware are the vendor's.
    let sel = PcrSelectionList(vec![
        PcrSelection::new(HashAlg::Sha256, &[0, 1, 7, 16]),
        PcrSelection::new(HashAlg::Sha1, &[0, 16]),
    ]);
    let quote = |k| command(cc::QUOTE).handle(k).pw(b"").b2(b"nonce").put(&Scheme::NULL).put(&sel);
    let (pe, ps) = (ok(&mut e, &quote(ke), 0), ok(&mut s, &quote(ks), 0));
    let (ae, as_) = (attest_of(&pe), attest_of(&ps));
    assert_eq!(ae.qualified_signer, as_.qualified_signer);
    assert_eq!(ae.extra_data, as_.extra_data);
    assert_eq!(ae.attested, as_.attested);
    // Each signature verifies on the other TPM (the same key is loaded there).
    for (p, verifier) in [(&pe, &mut s as &mut dyn Tpm), (&ps, &mut e)] {
        let mut r = Reader::new(p);
        let attest = r.sized_u16(2000).unwrap().to_vec();
        let sig = r.peek_rest().to_vec();
        let k = if verifier.name() == e_name() { ke } else { ks };
        let c =
            command(cc::VERIFY_SIGNATURE).handle(k).b2(&digest(HashAlg::Sha256, &attest)).raw(&sig);
        assert_eq!(run(verifier, &c).rc, 0, "{}: quote signature", verifier.name());
    }
    // Certify the key with itself.
    let certify =
        |k| command(cc::CERTIFY).handle(k).handle(k).pw(b"").pw(b"").b2(b"q").put(&Scheme::NULL);
    let (pe, ps) = (ok(&mut e, &certify(ke), 0), ok(&mut s, &certify(ks), 0));
    assert_eq!(attest_of(&pe).attested, attest_of(&ps).attested);
    // GetTime and its errors (the privacy admin is the endorsement hierarchy).
    let get_time = |k, scheme: &Scheme| {
        command(cc::GET_TIME)
            .handle(handle::ENDORSEMENT)
            .handle(k)
            .pw(b"")
            .pw(b"")
            .b2(b"t")
            .put(scheme)
    };
    let rsa_scheme = Scheme::with_hash(alg::RSASSA, HashAlg::Sha256);
    for scheme in [&Scheme::NULL, &rsa_scheme] {
        let (re, rs) = (run(&mut e, &get_time(ke, scheme)), run(&mut s, &get_time(ks, scheme)));
        assert_eq!(Rc(re.rc), Rc(rs.rc));
        if re.rc == 0 {
            assert_eq!(attest_of(&re.params(0)).extra_data, attest_of(&rs.params(0)).extra_data);
        }
    }
    // A key that cannot sign.
    let (dpublic, dsensitive, _) = ecc_key(oa::DECRYPT, Scheme::NULL);
    let (de, ds) = both_load(&mut e, &mut s, &dpublic, &dsensitive);
    assert_eq!(Rc(run(&mut e, &quote(de)).rc), Rc(run(&mut s, &quote(ds)).rc));
}

fn e_name() -> &'static str {
    "engine"
}

#[test]
fn contexts_eviction_and_object_auth() {
    let (mut e, mut s) = pair();
    let ecdsa = Scheme::with_hash(alg::ECDSA, HashAlg::Sha256);
    let (public, sensitive, _) = ecc_key(oa::SIGN_ENCRYPT, ecdsa);
    let (ke, ks) = both_load(&mut e, &mut s, &public, &sensitive);
    // ContextSave / FlushContext / ContextLoad round trip, and a damaged context.
    for (t, k) in [(&mut e as &mut dyn Tpm, ke), (&mut s, ks)] {
        let blob = ok(t, &command(cc::CONTEXT_SAVE).handle(k), 0);
        flush(t, k);
        let mut damaged = blob.clone();
        let n = damaged.len();
        damaged[n - 3] ^= 1;
        let r = run(t, &command(cc::CONTEXT_LOAD).raw(&damaged));
        assert_eq!(Rc(r.rc), Rc::INTEGRITY.param(1), "{}: damaged context", t.name());
        let r = run(t, &command(cc::CONTEXT_LOAD).raw(&blob));
        assert_eq!(r.rc, 0, "{}: ContextLoad", t.name());
        assert_eq!(r.handle() >> 24, 0x80);
        flush(t, r.handle());
    }
    // EvictControl: a NULL-hierarchy object cannot be made persistent; a primary
    // can, only in the owner range for the owner; and be evicted again.
    let (ke, ks) = both_load(&mut e, &mut s, &public, &sensitive);
    let evict = |auth, obj, persistent| {
        command(cc::EVICT_CONTROL).handle(auth).handle(obj).pw(b"").u32(persistent)
    };
    assert_eq!(
        Rc(run(&mut e, &evict(handle::OWNER, ke, 0x8100_0005)).rc),
        Rc(run(&mut s, &evict(handle::OWNER, ks, 0x8100_0005)).rc)
    );
    flush(&mut e, ke);
    flush(&mut s, ks);
    let (pe, _, _) = create_primary(&mut e, handle::OWNER, &storage_template(false), b"").unwrap();
    let (ps, _, _) = create_primary(&mut s, handle::OWNER, &storage_template(false), b"").unwrap();
    for (auth, persistent) in [
        (handle::OWNER, 0x8180_0000),
        (handle::OWNER, 0x4000_0001),
        (handle::OWNER, 0x8100_0005),
        (handle::OWNER, 0x8100_0005),
    ] {
        let (re, rs) =
            (run(&mut e, &evict(auth, pe, persistent)), run(&mut s, &evict(auth, ps, persistent)));
        assert_eq!(Rc(re.rc), Rc(rs.rc), "EvictControl to {persistent:#x}");
    }
    both(&mut e, &mut s, &evict(handle::OWNER, 0x8100_0005, 0x8100_0005));
    both(&mut e, &mut s, &evict(handle::OWNER, 0x8100_0005, 0x8100_0005));

    // ObjectChangeAuth: the new private loads and the new authValue works.
    let parent_e = pe;
    let parent_s = ps;
    let template = signing_template(false, false);
    let (priv_e, pub_e) = create(&mut e, parent_e, b"", &template, b"old", b"").unwrap();
    let (priv_s, pub_s) = create(&mut s, parent_s, b"", &template, b"old", b"").unwrap();
    let ce = load(&mut e, parent_e, b"", &priv_e, &pub_e).unwrap();
    let cs = load(&mut s, parent_s, b"", &priv_s, &pub_s).unwrap();
    let change = |obj, parent, auth: &[u8]| {
        command(cc::OBJECT_CHANGE_AUTH).handle(obj).handle(parent).pw(auth).b2(b"new")
    };
    assert_eq!(
        Rc(run(&mut e, &change(ce, parent_e, b"wrong")).rc),
        Rc(run(&mut s, &change(cs, parent_s, b"wrong")).rc)
    );
    // (A wrong password counts against the DA lockout; the keys are not noDA.)
    for (t, obj, parent, public) in
        [(&mut e as &mut dyn Tpm, ce, parent_e, &pub_e), (&mut s, cs, parent_s, &pub_s)]
    {
        let new_private = first_2b(&ok(t, &change(obj, parent, b"old"), 0));
        let h = load(t, parent, b"", &new_private, public).unwrap();
        let sign = |a: &[u8]| {
            command(cc::SIGN)
                .handle(h)
                .pw(a)
                .b2(&[1; 32])
                .put(&Scheme::with_hash(alg::ECDSA, HashAlg::Sha256))
                .put(&Ticket::null(st::HASHCHECK))
        };
        assert_eq!(run_retry(t, &sign(b"new")).rc, 0, "{}: new authValue", t.name());
        flush(t, h);
        flush(t, obj);
    }

    // CreateLoaded under the primary: the same template and sensitive give the
    // same public area apart from the unique field.
    let mut c =
        command(cc::CREATE_LOADED).handle(parent_e).pw(b"").raw(&sensitive_create(b"", b""));
    template.marshal_2b(&mut c.params);
    let re = run(&mut e, &c);
    let mut c =
        command(cc::CREATE_LOADED).handle(parent_s).pw(b"").raw(&sensitive_create(b"", b""));
    template.marshal_2b(&mut c.params);
    let rs = run(&mut s, &c);
    assert_eq!((Rc(re.rc), Rc(rs.rc)), (Rc(0), Rc(0)));
    let public_of = |r: &Response| {
        let p = r.params(1);
        let mut rd = Reader::new(&p);
        rd.sized_u16(2000).unwrap();
        let mut public = Public::unmarshal_2b(&mut rd, false).unwrap();
        if let PublicKind::Ecc { x, y, .. } = &mut public.kind {
            x.clear();
            y.clear();
        }
        public
    };
    assert_eq!(public_of(&re), public_of(&rs));
}

#[test]
fn pcr_authorization_commands() {
    let (mut e, mut s) = pair();
    // PC Client: no PCR is in an authorization or policy group, so both refuse.
    for pcr in [0u32, 16, 23] {
        both(&mut e, &mut s, &command(cc::PCR_SET_AUTH_VALUE).handle(pcr).pw(b"").b2(b"auth"));
        both(
            &mut e,
            &mut s,
            &command(cc::PCR_SET_AUTH_POLICY)
                .handle(handle::PLATFORM)
                .pw(b"")
                .b2(&[0; 32])
                .u16(alg::SHA256)
                .u32(pcr),
        );
    }
    both(
        &mut e,
        &mut s,
        &command(cc::PCR_SET_AUTH_POLICY)
            .handle(handle::PLATFORM)
            .pw(b"")
            .b2(&[0; 20])
            .u16(alg::SHA256)
            .u32(16),
    );
}

#[test]
fn credentials_made_on_one_tpm_activate_on_the_other() {
    let (mut e, mut s) = pair();
    // An RSA storage key loaded on both from the same private area would need the
    // same parent; instead each TPM makes a credential for the other's key and
    // activates what the other made for its own key.
    let (ek_e, pub_e, _) =
        create_primary(&mut e, handle::ENDORSEMENT, &storage_template(true), b"").unwrap();
    let (ek_s, pub_s, _) =
        create_primary(&mut s, handle::ENDORSEMENT, &storage_template(true), b"").unwrap();
    let (ak_e, _, ak_name_e) =
        create_primary(&mut e, handle::OWNER, &signing_template(false, true), b"").unwrap();
    let (ak_s, _, ak_name_s) =
        create_primary(&mut s, handle::OWNER, &signing_template(false, true), b"").unwrap();
    let secret = b"credential secret";
    // The engine makes a credential with libtpms's EK for libtpms's AK, and back.
    let made_e = make_credential(&mut e, &pub_s, secret, &ak_name_s);
    let made_s = make_credential(&mut s, &pub_e, secret, &ak_name_e);
    for (activator, ak, ek, made) in
        [(&mut s as &mut dyn Tpm, ak_s, ek_s, made_e), (&mut e, ak_e, ek_e, made_s)]
    {
        let activate =
            command(cc::ACTIVATE_CREDENTIAL).handle(ak).handle(ek).pw(b"").pw(b"").raw(&made);
        let out = ok(activator, &activate, 0);
        assert_eq!(first_2b(&out), secret, "{} activating", activator.name());
        // A damaged credential blob is refused.
        let mut bad = made.clone();
        bad[4] ^= 1;
        let activate =
            command(cc::ACTIVATE_CREDENTIAL).handle(ak).handle(ek).pw(b"").pw(b"").raw(&bad);
        assert_ne!(run(activator, &activate).rc, 0);
    }
}

/// MakeCredential on `maker` for the key `target` (loaded there as a public key).
fn make_credential(maker: &mut dyn Tpm, target: &Public, secret: &[u8], name: &[u8]) -> Vec<u8> {
    let mut c = command(cc::LOAD_EXTERNAL).u16(0);
    target.marshal_2b(&mut c.params);
    let r = run(maker, &c.u32(handle::NULL));
    assert_eq!(r.rc, 0, "{}: LoadExternal EK", maker.name());
    let made = ok(maker, &command(cc::MAKE_CREDENTIAL).handle(r.handle()).b2(secret).b2(name), 0);
    flush(maker, r.handle());
    made
}

#[test]
fn session_audit_digests_agree() {
    let (mut e, mut s) = pair();
    // Unbound, unsalted audit sessions: the audit digest depends only on the
    // commands and responses, not on the nonces.
    let mut se = ClientSession::start(&mut e, &StartOptions::default()).unwrap();
    let mut ss = ClientSession::start(&mut s, &StartOptions::default()).unwrap();
    let audit = session_attr::AUDIT | session_attr::CONTINUE_SESSION;
    let audited = |t: &mut dyn Tpm, session: &mut ClientSession, c: CommandBuilder, attrs: u8| {
        let a = session.authorize(c.cc, &[], c.params(), None, attrs, false);
        let code = c.cc;
        let r = run(t, &c.auth(a));
        assert_eq!(r.rc, 0, "{}: audited {code:#x}: {}", t.name(), Rc(r.rc));
        let params = r.params(0);
        let area = r.session_area(0);
        session.check_response(code, &params, &mut Reader::new(&area), None);
        area[2 + session.nonce_tpm.len()]
    };
    let digest_of = |t: &mut dyn Tpm, session: u32| {
        let p = ok(
            t,
            &command(cc::GET_SESSION_AUDIT_DIGEST)
                .handle(handle::ENDORSEMENT)
                .handle(handle::NULL)
                .handle(session)
                .pw(b"")
                .pw(b"")
                .b2(b"")
                .put(&Scheme::NULL),
            0,
        );
        attest_of(&p).attested
    };
    let sel = |pcrs: &[u32]| PcrSelectionList(vec![PcrSelection::new(HashAlg::Sha256, pcrs)]);
    let reads = [
        command(cc::PCR_READ).put(&sel(&[0, 1, 2])),
        command(cc::GET_CAPABILITY).u32(cap::PCRS).u32(0).u32(1),
        command(cc::PCR_READ).put(&sel(&[16])),
    ];
    for (i, c) in reads.iter().enumerate() {
        let attrs = if i == 2 { audit | session_attr::AUDIT_RESET } else { audit };
        let ae = audited(&mut e, &mut se, c.clone(), attrs);
        let as_ = audited(&mut s, &mut ss, c.clone(), attrs);
        assert_eq!(ae, as_, "response session attributes (auditExclusive) of command {i}");
        assert_eq!(digest_of(&mut e, se.handle), digest_of(&mut s, ss.handle), "after {i}");
    }
    // A command without the audit session ends its exclusivity.
    both(&mut e, &mut s, &command(cc::PCR_READ).put(&sel(&[3])));
    let ae = audited(&mut e, &mut se, reads[0].clone(), audit);
    let as_ = audited(&mut s, &mut ss, reads[0].clone(), audit);
    assert_eq!(ae, as_, "auditExclusive after another command");
    assert_eq!(digest_of(&mut e, se.handle), digest_of(&mut s, ss.handle));
    // A session never used for audit has no digest to attest.
    let fresh_e = ClientSession::start(&mut e, &StartOptions::default()).unwrap();
    let fresh_s = ClientSession::start(&mut s, &StartOptions::default()).unwrap();
    let c = |h| {
        command(cc::GET_SESSION_AUDIT_DIGEST)
            .handle(handle::ENDORSEMENT)
            .handle(handle::NULL)
            .handle(h)
            .pw(b"")
            .pw(b"")
            .b2(b"")
            .put(&Scheme::NULL)
    };
    assert_eq!(Rc(run(&mut e, &c(fresh_e.handle)).rc), Rc(run(&mut s, &c(fresh_s.handle)).rc));
}

#[test]
fn nv_certify_structures_agree() {
    let (mut e, mut s) = pair();
    let ecdsa = Scheme::with_hash(alg::ECDSA, HashAlg::Sha256);
    let (public, sensitive, _) = ecc_key(oa::SIGN_ENCRYPT, ecdsa);
    let (ke, ks) = both_load(&mut e, &mut s, &public, &sensitive);
    let index = 0x0150_0042;
    let nv = NvPublic {
        index,
        name_alg: HashAlg::Sha256,
        attributes: nv_attr::AUTHREAD | nv_attr::AUTHWRITE | nv_attr::NO_DA,
        auth_policy: vec![],
        data_size: 48,
    };
    let mut define = command(cc::NV_DEFINE_SPACE).handle(handle::OWNER).pw(b"").b2(b"");
    put_sized(&mut define.params, &nv);
    both(&mut e, &mut s, &define);
    let certify = |k, size: u16, offset: u16| {
        command(cc::NV_CERTIFY)
            .handle(k)
            .handle(index)
            .handle(index)
            .pw(b"")
            .pw(b"")
            .b2(b"nv nonce")
            .put(&Scheme::NULL)
            .u16(size)
            .u16(offset)
    };
    // Not written yet.
    assert_eq!(Rc(run(&mut e, &certify(ke, 8, 0)).rc), Rc(run(&mut s, &certify(ks, 8, 0)).rc));
    let write = command(cc::NV_WRITE).handle(index).handle(index).pw(b"").b2(&[0x3c; 40]).u16(4);
    both(&mut e, &mut s, &write);
    // A range, the whole index (size 0: its digest), and ranges out of bounds.
    for (size, offset) in [(8u16, 0u16), (16, 30), (0, 0), (48, 1), (1, 48)] {
        let (re, rs) =
            (run(&mut e, &certify(ke, size, offset)), run(&mut s, &certify(ks, size, offset)));
        assert_eq!(Rc(re.rc), Rc(rs.rc), "NV_Certify size {size} offset {offset}");
        if re.rc == 0 {
            let (ae, as_) = (attest_of(&re.params(0)), attest_of(&rs.params(0)));
            assert_eq!(ae.attested, as_.attested, "NV_Certify size {size} offset {offset}");
            assert_eq!(ae.qualified_signer, as_.qualified_signer);
        }
    }
}

/// Sealed data that may be duplicated: its policy allows TPM2_Duplicate.
fn duplicable_sealed() -> Public {
    let policy = digest(
        HashAlg::Sha256,
        &[&[0u8; 32][..], &cc::POLICY_COMMAND_CODE.to_be_bytes(), &cc::DUPLICATE.to_be_bytes()]
            .concat(),
    );
    Public {
        name_alg: Some(HashAlg::Sha256),
        attributes: oa::USER_WITH_AUTH,
        auth_policy: policy,
        kind: PublicKind::KeyedHash { scheme: Scheme::NULL, unique: vec![] },
    }
}

/// Duplicates `object` (under `parent`) on `from` to the storage key `to_parent`
/// (its public area); returns (duplicate, outSymSeed).
fn duplicate_to(from: &mut dyn Tpm, object: u32, to_parent: &Public) -> (Vec<u8>, Vec<u8>) {
    let mut c = command(cc::LOAD_EXTERNAL).u16(0);
    to_parent.marshal_2b(&mut c.params);
    let r = run(from, &c.u32(handle::OWNER));
    assert_eq!(r.rc, 0, "{}: LoadExternal new parent: {}", from.name(), Rc(r.rc));
    let new_parent = r.handle();
    let o = StartOptions { kind: se::POLICY, ..StartOptions::default() };
    let session = ClientSession::start(from, &o).unwrap();
    ok(from, &command(cc::POLICY_COMMAND_CODE).handle(session.handle).u32(cc::DUPLICATE), 0);
    let auth = AuthEntry {
        handle: session.handle,
        nonce: vec![0x11; 32],
        attrs: session_attr::CONTINUE_SESSION,
        hmac: vec![],
    };
    let c = command(cc::DUPLICATE)
        .handle(object)
        .handle(new_parent)
        .auth(auth)
        .b2(b"")
        .put(&SymDef::Null);
    let p = ok(from, &c, 0);
    let mut r = Reader::new(&p);
    assert!(r.sized_u16(64).unwrap().is_empty(), "no inner wrapper asked for");
    let duplicate = r.sized_u16(2000).unwrap().to_vec();
    let seed = r.sized_u16(600).unwrap().to_vec();
    flush(from, session.handle);
    flush(from, new_parent);
    (duplicate, seed)
}

#[test]
fn duplicate_on_one_tpm_import_on_the_other() {
    let (mut e, mut s) = pair();
    for rsa_parents in [false, true] {
        let (pe, pub_pe, _) =
            create_primary(&mut e, handle::OWNER, &storage_template(rsa_parents), b"").unwrap();
        let (ps, pub_ps, _) =
            create_primary(&mut s, handle::OWNER, &storage_template(rsa_parents), b"").unwrap();
        let secret = b"moves between TPMs";
        for engine_first in [true, false] {
            let (from, from_parent, to, to_parent, to_public): (
                &mut dyn Tpm,
                u32,
                &mut dyn Tpm,
                u32,
                &Public,
            ) = if engine_first {
                (&mut e, pe, &mut s, ps, &pub_ps)
            } else {
                (&mut s, ps, &mut e, pe, &pub_pe)
            };
            let (private, public) =
                create(from, from_parent, b"", &duplicable_sealed(), b"", secret).unwrap();
            let object = load(from, from_parent, b"", &private, &public).unwrap();
            let (duplicate, seed) = duplicate_to(from, object, to_public);
            flush(from, object);
            let import = |dup: &[u8], seed: &[u8]| {
                let mut c = command(cc::IMPORT).handle(to_parent).pw(b"").b2(b"");
                public.marshal_2b(&mut c.params);
                c.b2(dup).b2(seed).put(&SymDef::Null)
            };
            // A damaged seed or duplicate is refused.
            let mut bad = duplicate.clone();
            let n = bad.len();
            bad[n - 1] ^= 1;
            assert_ne!(run(to, &import(&bad, &seed)).rc, 0, "{}: damaged duplicate", to.name());
            let imported = ok(to, &import(&duplicate, &seed), 0);
            let new_private = Reader::new(&imported).sized_u16(2000).unwrap().to_vec();
            let h = load(to, to_parent, b"", &new_private, &public).unwrap();
            let out = ok(to, &command(cc::UNSEAL).handle(h).pw(b""), 0);
            assert_eq!(first_2b(&out), secret, "{} unsealing an import", to.name());
            flush(to, h);
        }
        flush(&mut e, pe);
        flush(&mut s, ps);
    }
}

#[test]
fn certify_creation_agrees() {
    let (mut e, mut s) = pair();
    let ecdsa = Scheme::with_hash(alg::ECDSA, HashAlg::Sha256);
    let (public, sensitive, _) = ecc_key(oa::SIGN_ENCRYPT, ecdsa);
    let (ke, ks) = both_load(&mut e, &mut s, &public, &sensitive);
    let mut creation_hashes = vec![];
    let mut codes = vec![];
    for (t, key) in [(&mut e as &mut dyn Tpm, ke), (&mut s as &mut dyn Tpm, ks)] {
        // CreatePrimary: handle, outPublic, creationData, creationHash,
        // creationTicket, name.
        let mut c = command(cc::CREATE_PRIMARY)
            .handle(handle::OWNER)
            .pw(b"")
            .raw(&sensitive_create(b"", b""));
        storage_template(false).marshal_2b(&mut c.params);
        let r = run(t, &c.b2(b"outside").u32(0));
        assert_eq!(r.rc, 0);
        let object = r.handle();
        let p = r.params(1);
        let mut rd = Reader::new(&p);
        rd.sized_u16(2000).unwrap();
        rd.sized_u16(2000).unwrap();
        let creation_hash = rd.sized_u16(64).unwrap().to_vec();
        let ticket = Ticket::unmarshal_tagged(&mut rd, &[st::CREATION]).unwrap();
        let certify = |hash: &[u8], ticket: &Ticket| {
            command(cc::CERTIFY_CREATION)
                .handle(key)
                .handle(object)
                .pw(b"")
                .b2(b"cc")
                .b2(hash)
                .put(&Scheme::NULL)
                .put(ticket)
        };
        let p = ok(t, &certify(&creation_hash, &ticket), 0);
        let Attested::Creation { creation_hash: attested, .. } = attest_of(&p).attested else {
            panic!("{}: not a creation attestation", t.name())
        };
        assert_eq!(attested, creation_hash);
        creation_hashes.push(creation_hash.clone());
        // A creation hash the ticket does not cover, and a damaged ticket.
        let mut other = creation_hash.clone();
        other[0] ^= 1;
        let mut damaged = ticket.clone();
        damaged.digest[0] ^= 1;
        codes.push((
            Rc(run(t, &certify(&other, &ticket)).rc),
            Rc(run(t, &certify(&creation_hash, &damaged)).rc),
        ));
        flush(t, object);
    }
    assert_eq!(creation_hashes[0], creation_hashes[1], "creationHash of the same template");
    assert_eq!(codes[0], codes[1]);
    assert_ne!(codes[0].0, Rc(0));
}

#[test]
fn nv_undefine_space_special() {
    let (mut e, mut s) = pair();
    let index = 0x0140_0007;
    let policy = digest(
        HashAlg::Sha256,
        &[
            &[0u8; 32][..],
            &cc::POLICY_COMMAND_CODE.to_be_bytes(),
            &cc::NV_UNDEFINE_SPACE_SPECIAL.to_be_bytes(),
        ]
        .concat(),
    );
    let nv = NvPublic {
        index,
        name_alg: HashAlg::Sha256,
        attributes: nv_attr::PLATFORMCREATE
            | nv_attr::POLICY_DELETE
            | nv_attr::AUTHREAD
            | nv_attr::AUTHWRITE
            | nv_attr::NO_DA,
        auth_policy: policy,
        data_size: 8,
    };
    let mut define = command(cc::NV_DEFINE_SPACE).handle(handle::PLATFORM).pw(b"").b2(b"");
    put_sized(&mut define.params, &nv);
    both(&mut e, &mut s, &define);
    // Plain UndefineSpace is refused for a policy-delete index.
    both(
        &mut e,
        &mut s,
        &command(cc::NV_UNDEFINE_SPACE).handle(handle::PLATFORM).handle(index).pw(b""),
    );
    let mut codes = vec![];
    for t in [&mut e as &mut dyn Tpm, &mut s] {
        let o = StartOptions { kind: se::POLICY, ..StartOptions::default() };
        let special = |session: u32| {
            command(cc::NV_UNDEFINE_SPACE_SPECIAL)
                .handle(index)
                .handle(handle::PLATFORM)
                .auth(AuthEntry { handle: session, nonce: vec![0x22; 32], attrs: 0, hmac: vec![] })
                .pw(b"")
        };
        // Without the policy assertion, then with a wrong one, then right.
        let session = ClientSession::start(t, &o).unwrap();
        codes.push(Rc(run(t, &special(session.handle)).rc));
        let session = ClientSession::start(t, &o).unwrap();
        ok(
            t,
            &command(cc::POLICY_COMMAND_CODE).handle(session.handle).u32(cc::NV_UNDEFINE_SPACE),
            0,
        );
        codes.push(Rc(run(t, &special(session.handle)).rc));
        let session = ClientSession::start(t, &o).unwrap();
        ok(
            t,
            &command(cc::POLICY_COMMAND_CODE)
                .handle(session.handle)
                .u32(cc::NV_UNDEFINE_SPACE_SPECIAL),
            0,
        );
        codes.push(Rc(run(t, &special(session.handle)).rc));
        codes.push(Rc(run(t, &command(cc::NV_READ_PUBLIC).handle(index)).rc));
    }
    let (ce, cs) = codes.split_at(4);
    assert_eq!(ce, cs, "engine vs libtpms");
    assert!(ce[0] != Rc(0) && ce[1] != Rc(0), "UndefineSpaceSpecial without its policy");
    assert_eq!(ce[2], Rc(0), "UndefineSpaceSpecial with its policy");
    assert_ne!(ce[3], Rc(0), "the index is gone");
}
