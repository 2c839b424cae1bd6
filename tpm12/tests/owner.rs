//! Differential tests of ownership, keys, sealing and NV: the same logical
//! sequences run against libtpms (swtpm) and the engine. The EK, SRK and every key
//! are random, so each side gets its own secrets encrypted under its own EK, and
//! the responses are compared by return code and structure; everything each side
//! produces is then checked with the other side's rules (signatures verify,
//! sealed data unseals).

#![allow(clippy::cast_possible_truncation, reason = "test code: lengths of small, known buffers")]

mod common;

use common::{Pair, cmd, code};
use tpm_engine::{Drbg, TpmEngine};
use tpm12::crypto;

const OWNER: [u8; 20] = [0x11; 20];
const SRK: [u8; 20] = [0; 20];

/// One side of the pair, as a transmit function.
trait Side {
    fn tx(&mut self, command: &[u8]) -> Vec<u8>;
}

struct Sw<'a>(&'a mut common::Swtpm);
impl Side for Sw<'_> {
    fn tx(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.transmit(command)
    }
}

struct Eng<'a>(&'a mut tpm12::Tpm12);
impl Side for Eng<'_> {
    fn tx(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.execute(common::ctx(0), command)
    }
}

struct Session {
    handle: u32,
    nonce_even: [u8; 20],
    /// OSAP shared secret (None: OIAP).
    shared: Option<[u8; 20]>,
}

fn oiap(s: &mut dyn Side) -> Session {
    let r = s.tx(&cmd(0xC1, 0x0A, &[]));
    assert_eq!(code(&r), 0);
    Session {
        handle: u32::from_be_bytes(r[10..14].try_into().unwrap()),
        nonce_even: r[14..34].try_into().unwrap(),
        shared: None,
    }
}

fn osap(s: &mut dyn Side, entity_type: u16, value: u32, secret: &[u8; 20]) -> Session {
    let nonce_odd = [0x42; 20];
    let mut body = entity_type.to_be_bytes().to_vec();
    body.extend_from_slice(&value.to_be_bytes());
    body.extend_from_slice(&nonce_odd);
    let r = s.tx(&cmd(0xC1, 0x0B, &body));
    assert_eq!(code(&r), 0, "OSAP failed");
    let even_osap: [u8; 20] = r[34..54].try_into().unwrap();
    Session {
        handle: u32::from_be_bytes(r[10..14].try_into().unwrap()),
        nonce_even: r[14..34].try_into().unwrap(),
        shared: Some(crypto::hmac_sha1(secret, &[&even_osap, &nonce_odd])),
    }
}

/// Builds an authorized command: handles, then parameters (hashed), then one
/// trailer per (session, secret).
fn auth_cmd(
    tag: u16,
    ordinal: u32,
    handles: &[u8],
    params: &[u8],
    sessions: &[(&Session, &[u8; 20])],
) -> Vec<u8> {
    let digest = crypto::sha1(&[&ordinal.to_be_bytes(), params]);
    let mut body = handles.to_vec();
    body.extend_from_slice(params);
    for (i, (s, secret)) in sessions.iter().enumerate() {
        let nonce_odd = [0x30 + i as u8; 20];
        let key = s.shared.unwrap_or(**secret);
        let hmac = crypto::hmac_sha1(&key, &[&digest, &s.nonce_even, &nonce_odd, &[1]]);
        body.extend_from_slice(&s.handle.to_be_bytes());
        body.extend_from_slice(&nonce_odd);
        body.push(1);
        body.extend_from_slice(&hmac);
    }
    cmd(tag, ordinal, &body)
}

/// Takes the next nonceEven from a one-session response.
fn roll(s: &mut Session, rsp: &[u8]) {
    if code(rsp) == 0 && rsp.len() >= 51 {
        s.nonce_even = rsp[rsp.len() - 41..rsp.len() - 21].try_into().unwrap();
    }
}

fn xor(a: &[u8; 20], b: &[u8; 20]) -> [u8; 20] {
    let mut o = [0; 20];
    for i in 0..20 {
        o[i] = a[i] ^ b[i];
    }
    o
}

fn rsa_parms(enc: u16, sig: u16, bits: u32) -> Vec<u8> {
    let mut v = 1u32.to_be_bytes().to_vec();
    v.extend_from_slice(&enc.to_be_bytes());
    v.extend_from_slice(&sig.to_be_bytes());
    v.extend_from_slice(&12u32.to_be_bytes());
    v.extend_from_slice(&bits.to_be_bytes());
    v.extend_from_slice(&2u32.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

/// A TPM_KEY template (1.1 form).
fn key_template(usage: u16, flags: u32, enc: u16, sig: u16) -> Vec<u8> {
    let mut v = vec![1, 1, 0, 0];
    v.extend_from_slice(&usage.to_be_bytes());
    v.extend_from_slice(&flags.to_be_bytes());
    v.push(1);
    v.extend_from_slice(&rsa_parms(enc, sig, 2048));
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

/// Physical presence, EK creation and TakeOwnership on one side; returns the
/// sequence of return codes.
fn take_ownership(s: &mut dyn Side) -> Vec<u32> {
    let mut codes = vec![];
    let pp = |v: u16| cmd(0xC1, 0x4000_000A, &v.to_be_bytes());
    codes.push(code(&s.tx(&pp(0x0008))));
    codes.push(code(&s.tx(&pp(0x0020))));
    codes.push(code(&s.tx(&pp(0x0008))));
    codes.push(code(&s.tx(&pp(0x0028))));
    codes.push(code(&s.tx(&cmd(0xC1, 0x7C, &[0; 20]))));
    let mut body = [7u8; 20].to_vec();
    body.extend_from_slice(&rsa_parms(3, 1, 2048));
    let r = s.tx(&cmd(0xC1, 0x78, &body));
    codes.push(code(&r));
    codes.push(code(&s.tx(&cmd(0xC1, 0x78, &body))));
    let r = s.tx(&cmd(0xC1, 0x7C, &[9; 20]));
    codes.push(code(&r));
    // TPM_PUBKEY: parms (4+2+2+4+12) then keyLength and the modulus.
    let modulus = r[10 + 24 + 4..10 + 24 + 4 + 256].to_vec();
    let mut drbg = Drbg::from_seed([3; 32]);
    let enc_owner = crypto::encrypt_oaep(&mut drbg, &modulus, 65537, &OWNER).unwrap();
    let enc_srk = crypto::encrypt_oaep(&mut drbg, &modulus, 65537, &SRK).unwrap();
    let mut params = 5u16.to_be_bytes().to_vec();
    params.extend_from_slice(&256u32.to_be_bytes());
    params.extend_from_slice(&enc_owner);
    params.extend_from_slice(&256u32.to_be_bytes());
    params.extend_from_slice(&enc_srk);
    params.extend_from_slice(&key_template(0x11, 0, 3, 1));
    // Wrong owner secret first: TPM_AUTHFAIL.
    let sess = oiap(s);
    codes.push(code(&s.tx(&auth_cmd(0xC2, 0x0D, &[], &params, &[(&sess, &[0x99; 20])]))));
    let sess = oiap(s);
    let r = s.tx(&auth_cmd(0xC2, 0x0D, &[], &params, &[(&sess, &OWNER)]));
    codes.push(code(&r));
    assert_eq!(code(&r), 0);
    // srkPub: the SRK TPM_KEY without encData.
    assert_eq!(&r[10..14], &[1, 1, 0, 0]);
    assert_eq!(&r[r.len() - 41 - 4..r.len() - 41], &[0, 0, 0, 0]);
    let sess = oiap(s);
    codes.push(code(&s.tx(&auth_cmd(0xC2, 0x0D, &[], &params, &[(&sess, &OWNER)]))));
    codes.push(code(&s.tx(&cmd(0xC1, 0x7C, &[9; 20]))));
    codes
}

#[test]
fn take_ownership_sequences_agree() {
    let mut p = Pair::new();
    let a = take_ownership(&mut Sw(&mut p.sw));
    let b = take_ownership(&mut Eng(&mut p.tpm));
    assert_eq!(b, a);
    // Capability answers after ownership agree byte for byte.
    for (area, sub) in [(5u32, 0x111u32), (4, 0x108), (4, 0x109), (5, 0x10A)] {
        let mut body = area.to_be_bytes().to_vec();
        body.extend_from_slice(&4u32.to_be_bytes());
        body.extend_from_slice(&sub.to_be_bytes());
        p.same(&cmd(0xC1, 0x65, &body));
    }
}

/// Owner-authorized administration: OwnerSetDisable, DisableOwnerClear,
/// OwnerClear, ForceClear; identical codes on both sides.
fn owner_admin(s: &mut dyn Side) -> Vec<u32> {
    let mut codes = vec![];
    for (ord, params) in [(0x6Eu32, vec![0u8]), (0x7E, vec![]), (0x5C, vec![])] {
        let sess = oiap(s);
        codes.push(code(&s.tx(&auth_cmd(0xC2, ord, &[], &params, &[(&sess, &[1; 20])]))));
        let sess = oiap(s);
        codes.push(code(&s.tx(&auth_cmd(0xC2, ord, &[], &params, &[(&sess, &OWNER)]))));
    }
    let sess = oiap(s);
    codes.push(code(&s.tx(&auth_cmd(0xC2, 0x5B, &[], &[], &[(&sess, &OWNER)]))));
    codes.push(code(&s.tx(&cmd(0xC1, 0x5E, &[]))));
    codes.push(code(&s.tx(&cmd(0xC1, 0x5D, &[]))));
    codes.push(code(&s.tx(&cmd(0xC1, 0x70, &[]))));
    codes.push(code(&s.tx(&cmd(0xC1, 0x72, &[1]))));
    codes.push(code(&s.tx(&cmd(0xC1, 0x71, &[0]))));
    codes.push(code(&s.tx(&cmd(0xC1, 0x71, &[2]))));
    codes
}

#[test]
fn owner_administration_agrees() {
    let mut p = Pair::new();
    assert_eq!(take_ownership(&mut Eng(&mut p.tpm)), take_ownership(&mut Sw(&mut p.sw)));
    let a = owner_admin(&mut Sw(&mut p.sw));
    let b = owner_admin(&mut Eng(&mut p.tpm));
    assert_eq!(b, a);
    for sub in [0x108u32, 0x109] {
        let mut body = 4u32.to_be_bytes().to_vec();
        body.extend_from_slice(&4u32.to_be_bytes());
        body.extend_from_slice(&sub.to_be_bytes());
        p.same(&cmd(0xC1, 0x65, &body));
    }
}

/// Keys, signing and sealing under the SRK. Returns the codes and, for the
/// cross-checks, the signing key's modulus, a signature and a sealed blob.
fn keys_and_seal(s: &mut dyn Side) -> (Vec<u32>, Vec<u8>, Vec<u8>) {
    let mut codes = vec![];
    let usage = [0x22u8; 20];
    // CreateWrapKey under the SRK with ADIP-encrypted secrets.
    let mut sess = osap(s, 0x0004, 0x4000_0000, &SRK);
    let shared = sess.shared.unwrap();
    let enc_usage = xor(&usage, &crypto::sha1(&[&shared, &sess.nonce_even]));
    let enc_mig = xor(&[0x33; 20], &crypto::sha1(&[&shared, &[0x30; 20]]));
    let mut params = enc_usage.to_vec();
    params.extend_from_slice(&enc_mig);
    params.extend_from_slice(&key_template(0x10, 0, 1, 2));
    let r = s.tx(&auth_cmd(0xC2, 0x1F, &0x4000_0000u32.to_be_bytes(), &params, &[(&sess, &SRK)]));
    codes.push(code(&r));
    roll(&mut sess, &r);
    let blob = r[10..r.len() - 41].to_vec();
    // A storage-only operation with a signing template fails the scheme checks.
    let mut bad = enc_usage.to_vec();
    bad.extend_from_slice(&enc_mig);
    bad.extend_from_slice(&key_template(0x10, 0, 3, 2));
    let r = s.tx(&auth_cmd(0xC2, 0x1F, &0x4000_0000u32.to_be_bytes(), &bad, &[(&sess, &SRK)]));
    codes.push(code(&r));
    // LoadKey2 (SRK needs no authorization: authDataUsage of the template is 1,
    // so authorize with the SRK secret).
    let sess = oiap(s);
    let r = s.tx(&auth_cmd(0xC2, 0x41, &0x4000_0000u32.to_be_bytes(), &blob, &[(&sess, &SRK)]));
    codes.push(code(&r));
    let handle = u32::from_be_bytes(r[10..14].try_into().unwrap());
    // GetPubKey and Sign.
    let sess = oiap(s);
    let r = s.tx(&auth_cmd(0xC2, 0x21, &handle.to_be_bytes(), &[], &[(&sess, &usage)]));
    codes.push(code(&r));
    let modulus = r[10 + 24 + 4..10 + 24 + 4 + 256].to_vec();
    let digest = crypto::sha1(&[b"signed data"]);
    let mut params = 20u32.to_be_bytes().to_vec();
    params.extend_from_slice(&digest);
    let sess = oiap(s);
    let r = s.tx(&auth_cmd(0xC2, 0x3C, &handle.to_be_bytes(), &params, &[(&sess, &usage)]));
    codes.push(code(&r));
    let sig = r[14..14 + 256].to_vec();
    assert!(crypto::verify_sha1(&modulus, 65537, &digest, &sig), "signature does not verify");
    // Wrong usage secret.
    let sess = oiap(s);
    codes.push(code(&s.tx(&auth_cmd(
        0xC2,
        0x3C,
        &handle.to_be_bytes(),
        &params,
        &[(&sess, &[5; 20])],
    ))));
    // Seal to PCR 0 and unseal.
    let data_auth = [0x44u8; 20];
    let sess = osap(s, 0x0004, 0x4000_0000, &SRK);
    let enc = xor(&data_auth, &crypto::sha1(&[&sess.shared.unwrap(), &sess.nonce_even]));
    let mut params = enc.to_vec();
    let mut info = vec![0, 3, 1, 0, 0];
    let pcr0 = s.tx(&cmd(0xC1, 0x15, &0u32.to_be_bytes()))[10..30].to_vec();
    let mut comp = vec![0, 3, 1, 0, 0, 0, 0, 0, 20];
    comp.extend_from_slice(&pcr0);
    info.extend_from_slice(&crypto::sha1(&[&comp]));
    info.extend_from_slice(&[0; 20]);
    params.extend_from_slice(&(info.len() as u32).to_be_bytes());
    params.extend_from_slice(&info);
    params.extend_from_slice(&11u32.to_be_bytes());
    params.extend_from_slice(b"hello seals");
    let r = s.tx(&auth_cmd(0xC2, 0x17, &0x4000_0000u32.to_be_bytes(), &params, &[(&sess, &SRK)]));
    codes.push(code(&r));
    let sealed = r[10..r.len() - 41].to_vec();
    let k = oiap(s);
    let d = oiap(s);
    let r = s.tx(&auth_cmd(
        0xC3,
        0x18,
        &0x4000_0000u32.to_be_bytes(),
        &sealed,
        &[(&k, &SRK), (&d, &data_auth)],
    ));
    codes.push(code(&r));
    assert_eq!(code(&r), 0, "unseal failed: {codes:x?}");
    assert_eq!(
        &r[10..25],
        &[0, 0, 0, 11, b'h', b'e', b'l', b'l', b'o', b' ', b's', b'e', b'a', b'l', b's']
    );
    // Wrong data secret: TPM_AUTH2FAIL.
    let k = oiap(s);
    let d = oiap(s);
    codes.push(code(&s.tx(&auth_cmd(
        0xC3,
        0x18,
        &0x4000_0000u32.to_be_bytes(),
        &sealed,
        &[(&k, &SRK), (&d, &[1; 20])],
    ))));
    // After extending PCR 0 the blob no longer unseals.
    s.tx(&cmd(0xC1, 0x14, &[&0u32.to_be_bytes()[..], &[1; 20]].concat()));
    let k = oiap(s);
    let d = oiap(s);
    codes.push(code(&s.tx(&auth_cmd(
        0xC3,
        0x18,
        &0x4000_0000u32.to_be_bytes(),
        &sealed,
        &[(&k, &SRK), (&d, &data_auth)],
    ))));
    // Flush the key.
    let mut body = handle.to_be_bytes().to_vec();
    body.extend_from_slice(&1u32.to_be_bytes());
    codes.push(code(&s.tx(&cmd(0xC1, 0xBA, &body))));
    codes.push(code(&s.tx(&cmd(0xC1, 0xBA, &body))));
    (codes, blob, sealed)
}

#[test]
fn keys_sign_and_seal_agree() {
    let mut p = Pair::new();
    assert_eq!(take_ownership(&mut Eng(&mut p.tpm)), take_ownership(&mut Sw(&mut p.sw)));
    let (a, _, sealed_a) = keys_and_seal(&mut Sw(&mut p.sw));
    eprintln!("libtpms codes: {a:x?}");
    let (b, _, sealed_b) = keys_and_seal(&mut Eng(&mut p.tpm));
    assert_eq!(b, a);
    // Both produce a TPM_STORED_DATA of the same shape.
    assert_eq!(sealed_a.len(), sealed_b.len());
    assert_eq!(&sealed_a[..4], &sealed_b[..4]);
}

fn nv_public(index: u32, attrs: u32, size: u32) -> Vec<u8> {
    let mut v = 0x18u16.to_be_bytes().to_vec();
    v.extend_from_slice(&index.to_be_bytes());
    for _ in 0..2 {
        v.extend_from_slice(&[0, 3, 0, 0, 0, 0x1F]);
        v.extend_from_slice(&[0; 20]);
    }
    v.extend_from_slice(&0x17u16.to_be_bytes());
    v.extend_from_slice(&attrs.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&size.to_be_bytes());
    v
}

fn nv_write(index: u32, offset: u32, data: &[u8]) -> Vec<u8> {
    let mut v = index.to_be_bytes().to_vec();
    v.extend_from_slice(&offset.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn nv_read(index: u32, offset: u32, size: u32) -> Vec<u8> {
    [index.to_be_bytes(), offset.to_be_bytes(), size.to_be_bytes()].concat()
}

#[test]
fn nv_without_owner_agrees() {
    let mut p = Pair::new();
    // nvLocked is FALSE: no authorization is checked.
    let mut def = nv_public(0x0001_0000, 0, 32);
    def.extend_from_slice(&[0; 20]);
    p.same(&cmd(0xC1, 0xCC, &def));
    p.same(&cmd(0xC1, 0xCC, &def));
    p.same(&cmd(0xC1, 0xCD, &nv_write(0x0001_0000, 0, b"abcdef")));
    p.same(&cmd(0xC1, 0xCD, &nv_write(0x0001_0000, 30, b"abcdef")));
    p.same(&cmd(0xC1, 0xCF, &nv_read(0x0001_0000, 0, 32)));
    p.same(&cmd(0xC1, 0xCF, &nv_read(0x0001_0000, 2, 3)));
    p.same(&cmd(0xC1, 0xCF, &nv_read(0x0001_0000, 30, 3)));
    p.same(&cmd(0xC1, 0xCF, &nv_read(0x0002_0000, 0, 3)));
    let cap = |area: u32, sub: &[u8]| {
        let mut body = area.to_be_bytes().to_vec();
        body.extend_from_slice(&(sub.len() as u32).to_be_bytes());
        body.extend_from_slice(sub);
        cmd(0xC1, 0x65, &body)
    };
    p.same(&cap(0x0D, &[]));
    p.same(&cap(0x11, &0x0001_0000u32.to_be_bytes()));
    p.same(&cap(5, &0x123u32.to_be_bytes()));
    // Attribute conflicts, reserved indices, no space.
    for (index, attrs, size) in [
        (0x0001_0001u32, 0x0006_0000u32, 8u32),
        (0x0001_0002, 0x0000_0006, 8),
        (0, 0, 8),
        (0x1000_0001, 0, 8),
        (0x0001_0003, 0, 100_000),
        (0x0001_0004, 0x0000_2000, 4),
        (0x0001_0005, 0x0000_1000, 4),
        (0x0001_0006, 0x8000_4000, 4),
    ] {
        let mut def = nv_public(index, attrs, size);
        def.extend_from_slice(&[0; 20]);
        p.same(&cmd(0xC1, 0xCC, &def));
    }
    // WRITEALL needs full writes; WRITEDEFINE locks after a zero-length write
    // (only enforced once nvLocked is set).
    p.same(&cmd(0xC1, 0xCD, &nv_write(0x0001_0005, 0, b"ab")));
    p.same(&cmd(0xC1, 0xCD, &nv_write(0x0001_0005, 0, b"abcd")));
    // Lock the NV store: now attributes are enforced.
    let mut lock = nv_public(0xFFFF_FFFF, 0, 0);
    lock.extend_from_slice(&[0; 20]);
    p.same(&cmd(0xC1, 0xCC, &lock));
    p.same(&cap(4, &0x108u32.to_be_bytes()));
    p.same(&cmd(0xC1, 0xCD, &nv_write(0x0001_0005, 0, b"ab")));
    p.same(&cmd(0xC1, 0xCD, &nv_write(0x0001_0004, 0, b"ab")));
    p.same(&cmd(0xC1, 0xCD, &nv_write(0x0001_0004, 0, b"")));
    p.same(&cmd(0xC1, 0xCD, &nv_write(0x0001_0004, 0, b"ab")));
    p.same(&cmd(0xC1, 0xCF, &nv_read(0x0001_0006, 0, 0)));
    p.same(&cmd(0xC1, 0xCF, &nv_read(0x0001_0006, 0, 4)));
    p.same(&cmd(0xC1, 0xCD, &nv_write(0x0001_0006, 0, b"")));
    p.same(&cmd(0xC1, 0xCD, &nv_write(0x0001_0006, 0, b"zz")));
    p.same(&cmd(0xC1, 0xCC, &def));
    // Global lock through index 0.
    p.same(&cmd(0xC1, 0xCD, &nv_write(0, 0, b"")));
    p.same(&cmd(0xC1, 0xCD, &nv_write(0, 0, b"x")));
    p.same(&cap(4, &0x109u32.to_be_bytes()));
}
