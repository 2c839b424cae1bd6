//! Criterion benchmarks of the TPM 1.2 engine alone (no transport): Extend,
//! PcrRead, GetRandom, CreateWrapKey (RSA-2048), Seal/Unseal and Sign.

#![allow(clippy::cast_possible_truncation, reason = "test code: lengths of small, known buffers")]

use criterion::{Criterion, criterion_group, criterion_main};
use tpm_engine::{Drbg, ExecContext, TpmEngine};
use tpm12::{Config, Tpm12, crypto};

const OWNER: [u8; 20] = [0x11; 20];
const SRK: [u8; 20] = [0; 20];
const CTX: ExecContext = ExecContext { locality: 0, now_ms: 0 };

fn cmd(tag: u16, ordinal: u32, body: &[u8]) -> Vec<u8> {
    let mut v = tag.to_be_bytes().to_vec();
    v.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&ordinal.to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn ok(rsp: Vec<u8>) -> Vec<u8> {
    assert_eq!(&rsp[6..10], &[0, 0, 0, 0], "command failed: {rsp:02x?}");
    rsp
}

struct Session {
    handle: u32,
    nonce_even: [u8; 20],
    shared: Option<[u8; 20]>,
}

fn oiap(t: &mut Tpm12) -> Session {
    let r = ok(t.execute(CTX, &cmd(0xC1, 0x0A, &[])));
    Session {
        handle: u32::from_be_bytes(r[10..14].try_into().unwrap()),
        nonce_even: r[14..34].try_into().unwrap(),
        shared: None,
    }
}

fn osap_srk(t: &mut Tpm12) -> Session {
    let mut body = 4u16.to_be_bytes().to_vec();
    body.extend_from_slice(&0x4000_0000u32.to_be_bytes());
    body.extend_from_slice(&[0x42; 20]);
    let r = ok(t.execute(CTX, &cmd(0xC1, 0x0B, &body)));
    let even_osap: [u8; 20] = r[34..54].try_into().unwrap();
    Session {
        handle: u32::from_be_bytes(r[10..14].try_into().unwrap()),
        nonce_even: r[14..34].try_into().unwrap(),
        shared: Some(crypto::hmac_sha1(&SRK, &[&even_osap, &[0x42; 20]])),
    }
}

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
    for (s, secret) in sessions {
        let key = s.shared.unwrap_or(**secret);
        let hmac = crypto::hmac_sha1(&key, &[&digest, &s.nonce_even, &[0x30; 20], &[0]]);
        body.extend_from_slice(&s.handle.to_be_bytes());
        body.extend_from_slice(&[0x30; 20]);
        body.push(0);
        body.extend_from_slice(&hmac);
    }
    cmd(tag, ordinal, &body)
}

fn rsa_parms(enc: u16, sig: u16) -> Vec<u8> {
    let mut v = 1u32.to_be_bytes().to_vec();
    v.extend_from_slice(&enc.to_be_bytes());
    v.extend_from_slice(&sig.to_be_bytes());
    v.extend_from_slice(&12u32.to_be_bytes());
    v.extend_from_slice(&2048u32.to_be_bytes());
    v.extend_from_slice(&2u32.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

fn key_template(usage: u16, enc: u16, sig: u16) -> Vec<u8> {
    let mut v = vec![1, 1, 0, 0];
    v.extend_from_slice(&usage.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.push(1);
    v.extend_from_slice(&rsa_parms(enc, sig));
    v.extend_from_slice(&[0; 12]);
    v
}

fn xor(a: &[u8; 20], b: &[u8; 20]) -> [u8; 20] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// An owned TPM with the SRK secret all zeros.
fn owned() -> Tpm12 {
    let config = Config { physical_presence: true, manufacture_ek: true, ..Config::default() };
    let mut t = Tpm12::new(Drbg::from_seed([1; 32]), config).unwrap();
    ok(t.execute(CTX, &cmd(0xC1, 0x99, &1u16.to_be_bytes())));
    let r = ok(t.execute(CTX, &cmd(0xC1, 0x7C, &[0; 20])));
    let modulus = r[38..38 + 256].to_vec();
    let mut drbg = Drbg::from_seed([2; 32]);
    let mut params = 5u16.to_be_bytes().to_vec();
    for secret in [OWNER, SRK] {
        params.extend_from_slice(&256u32.to_be_bytes());
        params
            .extend_from_slice(&crypto::encrypt_oaep(&mut drbg, &modulus, 65537, &secret).unwrap());
    }
    params.extend_from_slice(&key_template(0x11, 3, 1));
    let s = oiap(&mut t);
    ok(t.execute(CTX, &auth_cmd(0xC2, 0x0D, &[], &params, &[(&s, &OWNER)])));
    t
}

fn create_wrap_key(t: &mut Tpm12, template: &[u8]) -> Vec<u8> {
    let s = osap_srk(t);
    let shared = s.shared.unwrap();
    let mut params = xor(&[0x22; 20], &crypto::sha1(&[&shared, &s.nonce_even])).to_vec();
    params.extend_from_slice(&[0; 20]);
    params.extend_from_slice(template);
    let r = ok(t.execute(
        CTX,
        &auth_cmd(0xC2, 0x1F, &0x4000_0000u32.to_be_bytes(), &params, &[(&s, &SRK)]),
    ));
    r[10..r.len() - 41].to_vec()
}

fn benches(c: &mut Criterion) {
    let mut t = owned();
    let mut extend = 10u32.to_be_bytes().to_vec();
    extend.extend_from_slice(&[5; 20]);
    let extend = cmd(0xC1, 0x14, &extend);
    c.bench_function("Extend", |b| b.iter(|| t.execute(CTX, &extend)));
    let read = cmd(0xC1, 0x15, &10u32.to_be_bytes());
    c.bench_function("PcrRead", |b| b.iter(|| t.execute(CTX, &read)));
    let random = cmd(0xC1, 0x46, &32u32.to_be_bytes());
    c.bench_function("GetRandom(32)", |b| b.iter(|| t.execute(CTX, &random)));

    let mut group = c.benchmark_group("rsa");
    group.sample_size(10);
    let signing = key_template(0x10, 1, 2);
    group.bench_function("CreateWrapKey(RSA-2048)", |b| {
        b.iter(|| create_wrap_key(&mut t, &signing))
    });
    // Sign with a loaded signing key.
    let blob = create_wrap_key(&mut t, &signing);
    let s = oiap(&mut t);
    let r = ok(
        t.execute(CTX, &auth_cmd(0xC2, 0x41, &0x4000_0000u32.to_be_bytes(), &blob, &[(&s, &SRK)]))
    );
    let handle = r[10..14].to_vec();
    let mut params = 20u32.to_be_bytes().to_vec();
    params.extend_from_slice(&[9; 20]);
    group.bench_function("Sign", |b| {
        b.iter(|| {
            let s = oiap(&mut t);
            ok(t.execute(CTX, &auth_cmd(0xC2, 0x3C, &handle, &params, &[(&s, &[0x22; 20])])))
        })
    });
    let seal = |t: &mut Tpm12| {
        let s = osap_srk(t);
        let mut params =
            xor(&[0x44; 20], &crypto::sha1(&[&s.shared.unwrap(), &s.nonce_even])).to_vec();
        params.extend_from_slice(&0u32.to_be_bytes());
        params.extend_from_slice(&32u32.to_be_bytes());
        params.extend_from_slice(&[7; 32]);
        let r = ok(t.execute(
            CTX,
            &auth_cmd(0xC2, 0x17, &0x4000_0000u32.to_be_bytes(), &params, &[(&s, &SRK)]),
        ));
        r[10..r.len() - 41].to_vec()
    };
    group.bench_function("Seal", |b| b.iter(|| seal(&mut t)));
    let sealed = seal(&mut t);
    group.bench_function("Unseal", |b| {
        b.iter(|| {
            let k = oiap(&mut t);
            let d = oiap(&mut t);
            ok(t.execute(
                CTX,
                &auth_cmd(
                    0xC3,
                    0x18,
                    &0x4000_0000u32.to_be_bytes(),
                    &sealed,
                    &[(&k, &SRK), (&d, &[0x44; 20])],
                ),
            ))
        })
    });
    group.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
