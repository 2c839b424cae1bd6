//! Differential tests of attestation and identities: TPM_Quote, TPM_Quote2,
//! TPM_CertifyKey, TPM_Sign with the INFO scheme, TPM_TickStampBlob, TPM_MakeIdentity and
//! TPM_ActivateIdentity, run against libtpms (swtpm) and the engine. Keys are
//! random, so each side's signatures are verified with that side's public keys and
//! only the deterministic parts of the answers are compared byte for byte; the
//! privacy-CA flow builds the activation blobs in the test with each side's EK.

#![allow(clippy::cast_possible_truncation, reason = "test code: lengths of small, known buffers")]

mod common;

use common::auth::{
    Log, OWNER, SRK, SRK_HANDLE, Side, call, key_template, key_template_with, key12_template,
    load_key, make_key, oiap, osap, own, parse_key, pcr_info_long,
};
use common::{Pair, cmd, code};
use tpm_engine::Drbg;
use tpm12::crypto;

const USAGE: [u8; 20] = [0x22; 20];
const ID_AUTH: [u8; 20] = [0x5A; 20];

fn sized(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

fn pcr_read(s: &mut dyn Side, i: u32) -> [u8; 20] {
    s.tx(&cmd(0xC1, 0x15, &i.to_be_bytes()))[10..30].try_into().unwrap()
}

fn extend(s: &mut dyn Side, i: u32, v: u8) {
    let mut body = i.to_be_bytes().to_vec();
    body.extend_from_slice(&[v; 20]);
    assert_eq!(code(&s.tx(&cmd(0xC1, 0x14, &body))), 0);
}

/// TPM_COMPOSITE_HASH of one PCR selected by a 3-byte map.
fn composite_hash(select: [u8; 3], values: &[[u8; 20]]) -> [u8; 20] {
    let mut c = vec![0, 3];
    c.extend_from_slice(&select);
    c.extend_from_slice(&((values.len() * 20) as u32).to_be_bytes());
    for v in values {
        c.extend_from_slice(v);
    }
    crypto::sha1(&[&c])
}

fn verify(modulus: &[u8], signed: &[u8], sig: &[u8], what: &str, side: &str) {
    assert!(
        crypto::verify_sha1(modulus, 65537, &crypto::sha1(&[signed]), sig),
        "{side}: {what} signature does not verify"
    );
}

/// The quote scenario on one side.
fn quotes(s: &mut dyn Side) -> Log {
    let mut log = Log::default();
    let side = s.name();
    own(s);
    for (i, v) in [(0u32, 1u8), (1, 2), (2, 3), (16, 4)] {
        extend(s, i, v);
    }
    let (h_sha1, _, m_sha1) = make_key(s, &key_template(0x10, 0, 1, 2), &USAGE);
    let (h_info, _, m_info) = make_key(s, &key_template(0x10, 0, 1, 4), &USAGE);
    let (h_der, _, _) = make_key(s, &key_template(0x10, 0, 1, 3), &USAGE);
    let (h_bind, _, _) = make_key(s, &key_template(0x14, 0, 3, 1), &USAGE);
    let (h_never, _, m_never) = make_key(s, &key_template_with(0x15, 0, 3, 2, 0, &[]), &USAGE);
    let external = [0xAB; 20];
    let quote_params = |select: &[u8]| {
        let mut p = external.to_vec();
        p.extend_from_slice(&(select.len() as u16).to_be_bytes());
        p.extend_from_slice(select);
        p
    };
    // TPM_Quote with each scheme, verified with the key.
    for (what, h, m) in [("quote sha1", h_sha1, &m_sha1), ("quote info", h_info, &m_info)] {
        let mut sess = oiap(s);
        let params = quote_params(&[0x07, 0, 1]);
        let r = call(s, 0xC2, 0x16, &h.to_be_bytes(), &params, &mut [(&mut sess, &USAGE)]);
        let body = &r[10..r.len() - 41];
        let composite_len = 2 + 3 + 4 + 4 * 20;
        let (composite, sig) = body.split_at(composite_len);
        log.bytes(what, &r, composite);
        let mut q = vec![1, 1, 0, 0];
        q.extend_from_slice(b"QUOT");
        q.extend_from_slice(&crypto::sha1(&[composite]));
        q.extend_from_slice(&external);
        verify(m, &q, &sig[4..], what, side);
    }
    // An authDataUsage NEVER key quotes without a session.
    let mut body = h_never.to_be_bytes().to_vec();
    body.extend_from_slice(&quote_params(&[0x01]));
    let r = s.tx(&cmd(0xC1, 0x16, &body));
    log.bytes("quote no auth", &r, &r[10..10 + 2 + 1 + 4 + 20]);
    let mut q = vec![1, 1, 0, 0];
    q.extend_from_slice(b"QUOT");
    q.extend_from_slice(&crypto::sha1(&[&r[10..10 + 27]]));
    q.extend_from_slice(&external);
    verify(&m_never, &q, &r[10 + 27 + 4..], "quote no auth", side);
    // Errors.
    let mut body = h_sha1.to_be_bytes().to_vec();
    body.extend_from_slice(&quote_params(&[1]));
    log.all("quote without session", &s.tx(&cmd(0xC1, 0x16, &body)));
    for (what, h, secret, select) in [
        ("quote wrong secret", h_sha1, [9; 20], vec![1u8]),
        ("quote DER key", h_der, USAGE, vec![1]),
        ("quote bind key", h_bind, USAGE, vec![1]),
        ("quote bad select", h_sha1, USAGE, vec![1, 0, 0, 0]),
        ("quote no such key", 0x0102_0304, USAGE, vec![1]),
        ("quote SRK", SRK_HANDLE, SRK, vec![1]),
        ("quote EK", 0x4000_0006, USAGE, vec![1]),
        ("quote owner handle", 0x4000_0001, USAGE, vec![1]),
    ] {
        let mut sess = oiap(s);
        let r = call(
            s,
            0xC2,
            0x16,
            &h.to_be_bytes(),
            &quote_params(&select),
            &mut [(&mut sess, &secret)],
        );
        log.all(what, &r);
    }
    // TPM_Quote2 at two localities, with and without the version.
    for (locality, add_version) in [(0u8, false), (0, true), (2, true), (3, false)] {
        s.set_locality(locality);
        let mut sess = oiap(s);
        let mut params = quote_params(&[0x03, 0, 0x01]);
        params.push(add_version.into());
        let r = call(s, 0xC2, 0x3E, &h_sha1.to_be_bytes(), &params, &mut [(&mut sess, &USAGE)]);
        let what = format!("quote2 locality {locality} version {add_version}");
        let body = &r[10..r.len() - 41];
        let info_len = 2 + 3 + 1 + 20;
        let (info, rest) = body.split_at(info_len);
        let vlen = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let version = &rest[4..4 + vlen];
        // The firmware revision (bytes 4–5 of TPM_CAP_VERSION_INFO) is each TPM's own.
        let mut same = info.to_vec();
        same.extend_from_slice(&rest[..4]);
        if vlen > 6 {
            same.extend_from_slice(&version[..4]);
            same.extend_from_slice(&version[6..]);
        }
        log.bytes(what.clone(), &r, &same);
        let mut q = 0x36u16.to_be_bytes().to_vec();
        q.extend_from_slice(b"QUT2");
        q.extend_from_slice(&external);
        q.extend_from_slice(info);
        q.extend_from_slice(version);
        verify(&m_sha1, &q, &rest[4 + vlen + 4..], &what, side);
    }
    s.set_locality(0);
    let mut sess = oiap(s);
    let mut params = quote_params(&[1]);
    params.push(2);
    log.all(
        "quote2 bad bool",
        &call(s, 0xC2, 0x3E, &h_sha1.to_be_bytes(), &params, &mut [(&mut sess, &USAGE)]),
    );
    // TPM_Sign with the INFO scheme signs TPM_SIGN_INFO over the caller's nonce.
    let mut sess = oiap(s);
    let area = b"area to sign with the INFO scheme".to_vec();
    let r = call(s, 0xC2, 0x3C, &h_info.to_be_bytes(), &sized(&area), &mut [(&mut sess, &USAGE)]);
    log.code("sign info", &r);
    let mut info = 5u16.to_be_bytes().to_vec();
    info.extend_from_slice(b"SIGN");
    info.extend_from_slice(&sess.nonce_odd);
    info.extend_from_slice(&sized(&area));
    verify(&m_info, &info, &r[14..14 + 256], "sign info", side);
    for (what, h, area) in [
        ("sign sha1 short", h_sha1, vec![1u8; 19]),
        ("sign empty", h_sha1, vec![]),
        ("sign DER long", h_der, vec![1u8; 246]),
        ("sign bind key", h_bind, vec![1u8; 20]),
    ] {
        let mut sess = oiap(s);
        log.all(
            what,
            &call(s, 0xC2, 0x3C, &h.to_be_bytes(), &sized(&area), &mut [(&mut sess, &USAGE)]),
        );
    }
    // TPM_TickStampBlob: TPM_SIGN_INFO ("TSTP", antiReplay, digestToStamp || T1)
    // signed with the SHA1 and INFO schemes, verified over the returned ticks
    // (their values and rate are each TPM's own; the tag is compared).
    let (anti_replay, to_stamp) = ([0x71u8; 20], [0x72u8; 20]);
    let stamp = [&anti_replay[..], &to_stamp[..]].concat();
    for (what, h, m) in [("tick stamp sha1", h_sha1, &m_sha1), ("tick stamp info", h_info, &m_info)]
    {
        let mut sess = oiap(s);
        let r = call(s, 0xC2, 0xF2, &h.to_be_bytes(), &stamp, &mut [(&mut sess, &USAGE)]);
        log.bytes(what, &r, &r[10..12]);
        let ticks = &r[10..42];
        assert_eq!(&r[42..46], &256u32.to_be_bytes(), "{side}: {what} signature size");
        let mut h1 = 5u16.to_be_bytes().to_vec();
        h1.extend_from_slice(b"TSTP");
        h1.extend_from_slice(&anti_replay);
        h1.extend_from_slice(&sized(&[&to_stamp[..], ticks].concat()));
        verify(m, &h1, &r[46..46 + 256], what, side);
    }
    let mut body = h_never.to_be_bytes().to_vec();
    body.extend_from_slice(&stamp);
    let r = s.tx(&cmd(0xC1, 0xF2, &body));
    log.bytes("tick stamp no auth", &r, &r[10..12]);
    let mut h1 = 5u16.to_be_bytes().to_vec();
    h1.extend_from_slice(b"TSTP");
    h1.extend_from_slice(&anti_replay);
    h1.extend_from_slice(&sized(&[&to_stamp[..], &r[10..42]].concat()));
    verify(&m_never, &h1, &r[46..46 + 256], "tick stamp no auth", side);
    let mut body = h_sha1.to_be_bytes().to_vec();
    body.extend_from_slice(&stamp);
    log.all("tick stamp without session", &s.tx(&cmd(0xC1, 0xF2, &body)));
    log.all("tick stamp short", &s.tx(&cmd(0xC1, 0xF2, &body[..body.len() - 1])));
    for (what, h, secret) in [
        ("tick stamp wrong secret", h_sha1, [9; 20]),
        ("tick stamp DER key", h_der, USAGE),
        ("tick stamp bind key", h_bind, USAGE),
        ("tick stamp no such key", 0x0102_0304, USAGE),
        ("tick stamp SRK", SRK_HANDLE, SRK),
    ] {
        let mut sess = oiap(s);
        log.all(what, &call(s, 0xC2, 0xF2, &h.to_be_bytes(), &stamp, &mut [(&mut sess, &secret)]));
    }
    log
}

#[test]
fn quote_quote2_and_sign_agree() {
    let mut p = Pair::new();
    assert!(p.agree(quotes) >= 20);
}

/// The CertifyKey scenario on one side.
fn certify(s: &mut dyn Side) -> Log {
    let mut log = Log::default();
    let side = s.name();
    own(s);
    extend(s, 16, 7);
    let pcr16 = pcr_read(s, 16);
    let (h_cert, _, m_cert) = make_key(s, &key_template(0x10, 0, 1, 2), &USAGE);
    let (h_id_like, _, _) = make_key(s, &key_template(0x10, 0, 1, 3), &USAGE);
    let (h_bind, _, m_bind) = make_key(s, &key_template(0x14, 0, 3, 1), &USAGE);
    let (h_mig, _, m_mig) = make_key(s, &key_template(0x14, 2, 3, 1), &USAGE);
    let info = pcr_info_long([0, 0, 1], 0x03, &composite_hash([0, 0, 1], &[pcr16]));
    let (h_pcr, _, m_pcr) = make_key(s, &key12_template(0x10, 0, 1, 2, &info), &USAGE);
    let nonce = [0x77; 20];
    // Two sessions, one session (it authorizes the certified key), and every pair.
    for (what, cert, key, m_key) in [
        ("certify bind", h_cert, h_bind, &m_bind),
        ("certify pcr key", h_cert, h_pcr, &m_pcr),
        ("certify itself", h_cert, h_cert, &m_cert),
        ("certify migratable", h_cert, h_mig, &m_mig),
    ] {
        for two in [true, false] {
            let mut handles = cert.to_be_bytes().to_vec();
            handles.extend_from_slice(&key.to_be_bytes());
            let mut a = oiap(s);
            let mut b = oiap(s);
            let r = if two {
                call(s, 0xC3, 0x32, &handles, &nonce, &mut [(&mut a, &USAGE), (&mut b, &USAGE)])
            } else {
                call(s, 0xC2, 0x32, &handles, &nonce, &mut [(&mut b, &USAGE)])
            };
            let what = format!("{what} two={two}");
            if code(&r) != 0 {
                log.all(what, &r);
                continue;
            }
            let n = if two { 2 } else { 1 };
            let body = &r[10..r.len() - 41 * n];
            let sig = &body[body.len() - 256..];
            let info = &body[..body.len() - 260];
            // pubkeyDigest is the only field that depends on the random key; both
            // structures have it after 4 + 2 + 4 + 1 + 24 bytes (RSA parms).
            let digest_at = 35;
            let mut same = info.to_vec();
            assert_eq!(&same[digest_at..digest_at + 20], &crypto::sha1(&[m_key]), "{side}: {what}");
            same[digest_at..digest_at + 20].fill(0);
            log.bytes(what.clone(), &r, &same);
            verify(&m_cert, info, sig, &what, side);
        }
    }
    // Errors: no session with keys that need one, wrong secrets, bad cert keys.
    let mut handles = h_cert.to_be_bytes().to_vec();
    handles.extend_from_slice(&h_bind.to_be_bytes());
    log.all("certify no sessions", &s.tx(&cmd(0xC1, 0x32, &[&handles[..], &nonce].concat())));
    for (what, cert, key, sa, sb) in [
        ("certify wrong cert secret", h_cert, h_bind, [1; 20], USAGE),
        ("certify wrong key secret", h_cert, h_bind, USAGE, [1; 20]),
        ("certify DER cert key", h_id_like, h_bind, USAGE, USAGE),
        ("certify with bind key", h_bind, h_cert, USAGE, USAGE),
        ("certify missing key", h_cert, 0x0BAD_0BAD, USAGE, USAGE),
    ] {
        let mut handles = cert.to_be_bytes().to_vec();
        handles.extend_from_slice(&key.to_be_bytes());
        let mut a = oiap(s);
        let mut b = oiap(s);
        log.all(what, &call(s, 0xC3, 0x32, &handles, &nonce, &mut [(&mut a, &sa), (&mut b, &sb)]));
        let mut b = oiap(s);
        log.all(
            format!("{what} one"),
            &call(s, 0xC2, 0x32, &handles, &nonce, &mut [(&mut b, &sb)]),
        );
    }
    // The PCR-bound key stops working once PCR 16 moves (TPM_WRONGPCRVAL), and at a
    // locality it does not allow.
    s.set_locality(2);
    let mut a = oiap(s);
    let mut b = oiap(s);
    let mut handles = h_cert.to_be_bytes().to_vec();
    handles.extend_from_slice(&h_pcr.to_be_bytes());
    log.all(
        "certify pcr key locality 2",
        &call(s, 0xC3, 0x32, &handles, &nonce, &mut [(&mut a, &USAGE), (&mut b, &USAGE)]),
    );
    s.set_locality(0);
    extend(s, 16, 8);
    let mut a = oiap(s);
    let mut b = oiap(s);
    log.all(
        "certify pcr key moved",
        &call(s, 0xC3, 0x32, &handles, &nonce, &mut [(&mut a, &USAGE), (&mut b, &USAGE)]),
    );
    log
}

#[test]
fn certify_key_agrees() {
    let mut p = Pair::new();
    assert!(p.agree(certify) >= 20);
}

/// TPM_PUBKEY of a key blob: its algorithmParms and modulus.
fn pubkey_of(blob: &[u8]) -> Vec<u8> {
    let parms_len = u32::from_be_bytes(blob[19..23].try_into().unwrap()) as usize;
    let mut v = blob[11..23 + parms_len].to_vec();
    let (modulus, _) = parse_key(blob);
    v.extend_from_slice(&sized(&modulus));
    v
}

/// TPM_SYMMETRIC_KEY: AES-128 (6), TPM_ES_SYM_CBC_PKCS5PAD (0xFF), 16 bytes.
fn session_key(k: &[u8; 16]) -> Vec<u8> {
    let mut v = 6u32.to_be_bytes().to_vec();
    v.extend_from_slice(&0xFFu16.to_be_bytes());
    v.extend_from_slice(&16u16.to_be_bytes());
    v.extend_from_slice(k);
    v
}

/// The privacy CA's TPM_EK_BLOB(TPM_EK_BLOB_ACTIVATE) for an identity.
fn ek_blob(
    ek_type: u16,
    key: &[u8],
    id_digest: &[u8; 20],
    pcr_select: [u8; 3],
    locality: u8,
    pcr_digest: &[u8; 20],
) -> Vec<u8> {
    let mut a = 0x2Bu16.to_be_bytes().to_vec();
    a.extend_from_slice(key);
    a.extend_from_slice(id_digest);
    a.extend_from_slice(&[0, 3]);
    a.extend_from_slice(&pcr_select);
    a.push(locality);
    a.extend_from_slice(pcr_digest);
    let mut v = 0x0Cu16.to_be_bytes().to_vec();
    v.extend_from_slice(&ek_type.to_be_bytes());
    v.extend_from_slice(&sized(&a));
    v
}

/// The identity scenario on one side: MakeIdentity, then a privacy CA (this test)
/// encrypts a session key to the EK for that identity, and ActivateIdentity must
/// return it.
fn identity(s: &mut dyn Side) -> Log {
    let mut log = Log::default();
    let side = s.name();
    let ek = own(s);
    let label = crypto::sha1(&[b"privacy CA label"]);
    let make = |s: &mut dyn Side,
                template: &[u8],
                owner: &[u8; 20],
                srk: &[u8; 20],
                two: bool,
                osap_owner: bool| {
        let mut o = if osap_owner { osap(s, 0x0002, 0x4000_0001, owner) } else { oiap(s) };
        let enc = if osap_owner { o.adip(&ID_AUTH) } else { ID_AUTH };
        let owner = &OWNER;
        let mut params = enc.to_vec();
        params.extend_from_slice(&label);
        params.extend_from_slice(template);
        if two {
            let mut k = oiap(s);
            call(s, 0xC3, 0x79, &[], &params, &mut [(&mut k, srk), (&mut o, owner)])
        } else {
            call(s, 0xC2, 0x79, &[], &params, &mut [(&mut o, owner)])
        }
    };
    let id_template = key_template(0x12, 0, 1, 2);
    let r = make(s, &id_template, &OWNER, &SRK, true, true);
    log.code("make identity", &r);
    let body = &r[10..r.len() - 82];
    let (_, key_len) = parse_key(body);
    let id_blob = body[..key_len].to_vec();
    let binding = &body[key_len + 4..];
    // identityBinding signs TPM_IDENTITY_CONTENTS with the new key.
    let id_pub = pubkey_of(&id_blob);
    let mut contents = vec![1, 1, 0, 0, 0, 0, 0, 0x79];
    contents.extend_from_slice(&label);
    contents.extend_from_slice(&id_pub);
    verify(&parse_key(&id_blob).0, &contents, binding, "identityBinding", side);
    // The key's public part agrees except the modulus.
    log.bytes("identity key header", &r, &id_blob[..23]);
    // MakeIdentity errors.
    for (what, template, owner, srk, two, osap_owner) in [
        ("make identity oiap owner", id_template.clone(), OWNER, SRK, true, false),
        ("make identity wrong owner", id_template.clone(), [1; 20], SRK, true, true),
        ("make identity wrong srk", id_template.clone(), OWNER, [1; 20], true, true),
        ("make identity one session", id_template.clone(), OWNER, SRK, false, true),
        ("make identity signing", key_template(0x10, 0, 1, 2), OWNER, SRK, true, true),
        ("make identity migratable", key_template(0x12, 2, 1, 2), OWNER, SRK, true, true),
        ("make identity DER", key_template(0x12, 0, 1, 3), OWNER, SRK, true, true),
    ] {
        log.all(what, &make(s, &template, &owner, &srk, two, osap_owner));
    }
    let id_handle = load_key(s, &id_blob);
    let id_digest = crypto::sha1(&[&id_pub]);
    let k = [0xC5u8; 16];
    let mut drbg = Drbg::from_seed([4; 32]);
    let pcr0 = pcr_read(s, 0);
    let activate = |s: &mut dyn Side,
                    handle: u32,
                    plain: &[u8],
                    id_secret: &[u8; 20],
                    owner: &[u8; 20],
                    two: bool,
                    drbg: &mut Drbg| {
        let blob = crypto::encrypt_oaep(drbg, &ek, 65537, plain).unwrap();
        let mut o = oiap(s);
        if two {
            let mut i = oiap(s);
            call(
                s,
                0xC3,
                0x7A,
                &handle.to_be_bytes(),
                &sized(&blob),
                &mut [(&mut i, id_secret), (&mut o, owner)],
            )
        } else {
            call(s, 0xC2, 0x7A, &handle.to_be_bytes(), &sized(&blob), &mut [(&mut o, owner)])
        }
    };
    let good = ek_blob(1, &session_key(&k), &id_digest, [0; 3], 0x1F, &[0; 20]);
    let r = activate(s, id_handle, &good, &ID_AUTH, &OWNER, true, &mut drbg);
    log.bytes("activate 1.2", &r, &r[10..r.len() - 82]);
    assert_eq!(&r[10..10 + 24], &session_key(&k)[..], "{side}: session key");
    // TPM 1.1 TPM_ASYM_CA_CONTENTS.
    let mut old = session_key(&k);
    old.extend_from_slice(&id_digest);
    let r = activate(s, id_handle, &old, &ID_AUTH, &OWNER, true, &mut drbg);
    log.bytes("activate 1.1", &r, &r[10..r.len() - 82]);
    // Bound to PCR 0 at localities 0 and 1.
    let bound = ek_blob(
        1,
        &session_key(&k),
        &id_digest,
        [1, 0, 0],
        0x03,
        &composite_hash([1, 0, 0], &[pcr0]),
    );
    let r = activate(s, id_handle, &bound, &ID_AUTH, &OWNER, true, &mut drbg);
    log.bytes("activate pcr bound", &r, &r[10..r.len() - 82]);
    for (what, plain, handle, id_secret, owner, two) in [
        (
            "activate wrong digest",
            ek_blob(1, &session_key(&k), &[0; 20], [0; 3], 0x1F, &[0; 20]),
            id_handle,
            ID_AUTH,
            OWNER,
            true,
        ),
        (
            "activate wrong type",
            ek_blob(2, &session_key(&k), &id_digest, [0; 3], 0x1F, &[0; 20]),
            id_handle,
            ID_AUTH,
            OWNER,
            true,
        ),
        (
            "activate wrong pcr",
            ek_blob(1, &session_key(&k), &id_digest, [1, 0, 0], 0x1F, &[0; 20]),
            id_handle,
            ID_AUTH,
            OWNER,
            true,
        ),
        (
            "activate wrong locality",
            ek_blob(1, &session_key(&k), &id_digest, [0; 3], 0x04, &[0; 20]),
            id_handle,
            ID_AUTH,
            OWNER,
            true,
        ),
        ("activate wrong owner", good.clone(), id_handle, ID_AUTH, [1; 20], true),
        ("activate wrong id secret", good.clone(), id_handle, [1; 20], OWNER, true),
        ("activate one session", good.clone(), id_handle, ID_AUTH, OWNER, false),
        ("activate srk", good.clone(), SRK_HANDLE, SRK, OWNER, true),
        ("activate missing key", good.clone(), 0x0BAD_0BAD, ID_AUTH, OWNER, true),
    ] {
        log.all(what, &activate(s, handle, &plain, &id_secret, &owner, two, &mut drbg));
    }
    log
}

#[test]
fn make_and_activate_identity_agree() {
    let mut p = Pair::new();
    assert!(p.agree(identity) >= 20);
}
