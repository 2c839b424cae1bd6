//! Criterion benchmarks of the TPM 2.0 engine alone (no transport): GetRandom(32),
//! PCR_Extend(SHA-256), PCR_Read, CreatePrimary (RSA-2048, ECC P-256),
//! Create+Load (RSA-2048), Sign (RSASSA-2048, ECDSA P-256), Quote, NV_Write and
//! NV_Read of 64 bytes. Commands are prebuilt; each iteration is one `execute`
//! (or the pair named), checked for success.

#![allow(clippy::cast_possible_truncation, reason = "benchmark code: small, known lengths")]

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use tpm2::types::*;

/// A started engine.
fn started() -> Engine {
    let mut e = Engine::new();
    assert_eq!(startup(&mut e, su::CLEAR), 0);
    e
}

fn exec_ok(e: &mut Engine, bytes: &[u8]) -> Vec<u8> {
    let mut r = e.exec(bytes);
    if r[6..10] == [0, 0, 0x09, 0x22] {
        // TPM_RC_RETRY: the first DA-protected use after Startup records the
        // non-orderly state; every TSS resends.
        r = e.exec(bytes);
    }
    assert_eq!(&r[6..10], &[0, 0, 0, 0], "command failed: {r:02x?}");
    r
}

fn primary_command(template: &Public) -> Vec<u8> {
    let mut c =
        command(cc::CREATE_PRIMARY).handle(handle::OWNER).pw(b"").raw(&sensitive_create(b"", b""));
    template.marshal_2b(&mut c.params);
    c.b2(b"").u32(0).build()
}

fn handle_of(r: &[u8]) -> Vec<u8> {
    let mut flush = command(cc::FLUSH_CONTEXT).build();
    flush.extend_from_slice(&r[10..14]);
    flush[5] += 4;
    flush
}

fn basics(c: &mut Criterion) {
    let mut e = started();
    let get_random = command(cc::GET_RANDOM).u16(32).build();
    c.bench_function("GetRandom(32)", |b| b.iter(|| exec_ok(&mut e, &get_random)));
    let digests = DigestValues(vec![TaggedHash { hash: HashAlg::Sha256, digest: vec![0x42; 32] }]);
    let extend = command(cc::PCR_EXTEND).handle(16).pw(b"").put(&digests).build();
    c.bench_function("PCR_Extend(SHA-256)", |b| b.iter(|| exec_ok(&mut e, &extend)));
    let sel = PcrSelectionList(vec![PcrSelection::new(HashAlg::Sha256, &[0, 1, 2, 3, 4, 5, 6, 7])]);
    let read = command(cc::PCR_READ).put(&sel).build();
    c.bench_function("PCR_Read(SHA-256, 8 PCRs)", |b| b.iter(|| exec_ok(&mut e, &read)));
}

fn primaries(c: &mut Criterion) {
    let mut g = c.benchmark_group("CreatePrimary");
    g.sample_size(10);
    let mut e = started();
    for (name, rsa) in [("RSA-2048", true), ("ECC P-256", false)] {
        let create = primary_command(&storage_template(rsa));
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = exec_ok(&mut e, &create);
                exec_ok(&mut e, &handle_of(&r));
            })
        });
    }
    g.finish();
}

fn create_load(c: &mut Criterion) {
    let mut g = c.benchmark_group("Create+Load");
    g.sample_size(10);
    let mut e = started();
    let (parent, _, _) =
        create_primary(&mut e, handle::OWNER, &storage_template(false), b"").unwrap();
    g.bench_function("RSA-2048", |b| {
        b.iter(|| {
            let (private, public) =
                create(&mut e, parent, b"", &signing_template(true, false), b"", b"").unwrap();
            let h = load(&mut e, parent, b"", &private, &public).unwrap();
            flush(&mut e, h);
        })
    });
    g.finish();
}

fn signing(c: &mut Criterion) {
    let mut e = started();
    let digest = [0x5a; 32];
    for (name, rsa, scheme) in [
        ("Sign(RSASSA-2048, SHA-256)", true, Scheme::with_hash(alg::RSASSA, HashAlg::Sha256)),
        ("Sign(ECDSA P-256, SHA-256)", false, Scheme::with_hash(alg::ECDSA, HashAlg::Sha256)),
    ] {
        let (key, _, _) =
            create_primary(&mut e, handle::OWNER, &signing_template(rsa, false), b"").unwrap();
        let sign = command(cc::SIGN)
            .handle(key)
            .pw(b"")
            .b2(&digest)
            .put(&scheme)
            .put(&Ticket::null(st::HASHCHECK))
            .build();
        c.bench_function(name, |b| b.iter(|| exec_ok(&mut e, &sign)));
        flush(&mut e, key);
    }
    // Quote over 8 SHA-256 PCRs with a restricted ECDSA P-256 key.
    let (ak, _, _) =
        create_primary(&mut e, handle::ENDORSEMENT, &signing_template(false, true), b"").unwrap();
    let sel = PcrSelectionList(vec![PcrSelection::new(HashAlg::Sha256, &[0, 1, 2, 3, 4, 5, 6, 7])]);
    let quote =
        command(cc::QUOTE).handle(ak).pw(b"").b2(b"nonce").put(&Scheme::NULL).put(&sel).build();
    c.bench_function("Quote(ECDSA P-256, 8 PCRs)", |b| b.iter(|| exec_ok(&mut e, &quote)));
}

fn nv(c: &mut Criterion) {
    use tpm2::types::nv_attr as na;
    let mut e = started();
    let p = NvPublic {
        index: 0x0150_0001,
        name_alg: HashAlg::Sha256,
        attributes: na::OWNERWRITE | na::OWNERREAD | na::NO_DA,
        auth_policy: vec![],
        data_size: 64,
    };
    let mut define = command(cc::NV_DEFINE_SPACE).handle(handle::OWNER).pw(b"").b2(b"");
    put_sized(&mut define.params, &p);
    ok(&mut e, &define, 0);
    let write = command(cc::NV_WRITE)
        .handle(handle::OWNER)
        .handle(0x0150_0001)
        .pw(b"")
        .b2(&[0xa5; 64])
        .u16(0)
        .build();
    c.bench_function("NV_Write(64 B)", |b| b.iter(|| exec_ok(&mut e, &write)));
    let read = command(cc::NV_READ)
        .handle(handle::OWNER)
        .handle(0x0150_0001)
        .pw(b"")
        .u16(64)
        .u16(0)
        .build();
    c.bench_function("NV_Read(64 B)", |b| b.iter(|| exec_ok(&mut e, &read)));
}

criterion_group!(benches, basics, primaries, create_load, signing, nv);
criterion_main!(benches);
