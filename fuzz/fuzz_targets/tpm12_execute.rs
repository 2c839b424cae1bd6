//! Fuzz target: arbitrary command sequences at arbitrary localities into a TPM 1.2
//! engine that has an owner, a loaded key usable without authorization, a counter
//! and an NV area, so the key, attestation, counter and context paths are reached
//! without guessing HMACs. Every response must be well formed, nothing may panic,
//! and whatever state is reached must survive a save/load round trip.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tpm_engine::{Drbg, ExecContext, StateKind, TpmEngine};
use tpm12::crypto;

const OWNER: [u8; 20] = [0x11; 20];
const SRK: [u8; 20] = [0; 20];

fn cmd(tag: u16, ordinal: u32, body: &[u8]) -> Vec<u8> {
    let mut v = tag.to_be_bytes().to_vec();
    v.extend_from_slice(&(10 + body.len() as u32).to_be_bytes());
    v.extend_from_slice(&ordinal.to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn exec(tpm: &mut tpm12::Tpm12, command: &[u8]) -> Vec<u8> {
    let rsp = tpm.execute(ExecContext { locality: 0, now_ms: 0 }, command);
    assert_eq!(&rsp[6..10], &[0, 0, 0, 0], "setup command {:02x?} failed", &command[6..10]);
    rsp
}

/// An OIAP (`secret`) or OSAP (`osap` = entity type and value) authorized command.
fn authorized(
    tpm: &mut tpm12::Tpm12,
    ordinal: u32,
    handles: &[u8],
    params: impl FnOnce(Option<&[u8; 20]>, &[u8; 20]) -> Vec<u8>,
    secret: &[u8; 20],
    osap: Option<(u16, u32)>,
) -> Vec<u8> {
    let (handle, nonce_even, shared) = match osap {
        None => {
            let r = exec(tpm, &cmd(0xC1, 0x0A, &[]));
            (r[10..14].to_vec(), <[u8; 20]>::try_from(&r[14..34]).unwrap(), None)
        }
        Some((entity_type, value)) => {
            let mut body = entity_type.to_be_bytes().to_vec();
            body.extend_from_slice(&value.to_be_bytes());
            body.extend_from_slice(&[0x42; 20]);
            let r = exec(tpm, &cmd(0xC1, 0x0B, &body));
            let even_osap = &r[34..54];
            let shared = crypto::hmac_sha1(secret, &[even_osap, &[0x42; 20]]);
            (r[10..14].to_vec(), <[u8; 20]>::try_from(&r[14..34]).unwrap(), Some(shared))
        }
    };
    let params = params(shared.as_ref(), &nonce_even);
    let digest = crypto::sha1(&[&ordinal.to_be_bytes(), &params]);
    let key = shared.unwrap_or(*secret);
    let hmac = crypto::hmac_sha1(&key, &[&digest, &nonce_even, &[0x30; 20], &[0]]);
    let mut body = handles.to_vec();
    body.extend_from_slice(&params);
    body.extend_from_slice(&handle);
    body.extend_from_slice(&[0x30; 20]);
    body.push(0);
    body.extend_from_slice(&hmac);
    exec(tpm, &cmd(0xC2, ordinal, &body))
}

fn adip(shared: Option<&[u8; 20]>, nonce_even: &[u8; 20], value: &[u8; 20]) -> Vec<u8> {
    let pad = crypto::sha1(&[shared.unwrap(), nonce_even]);
    value.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect()
}

/// The permanent and volatile blobs of an owned, started TPM (built once).
fn seeded() -> &'static (Vec<u8>, Vec<u8>) {
    static BLOBS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    BLOBS.get_or_init(|| {
        let config = tpm12::Config { manufacture_ek: true, ..tpm12::Config::default() };
        let mut tpm = tpm12::Tpm12::new(Drbg::from_seed([7; 32]), config).unwrap();
        exec(&mut tpm, &cmd(0xC1, 0x99, &1u16.to_be_bytes()));
        // TakeOwnership with the EK from ReadPubek.
        let r = exec(&mut tpm, &cmd(0xC1, 0x7C, &[0; 20]));
        let modulus = r[10 + 28..10 + 28 + 256].to_vec();
        let mut drbg = Drbg::from_seed([1; 32]);
        let enc_owner = crypto::encrypt_oaep(&mut drbg, &modulus, 65537, &OWNER).unwrap();
        let enc_srk = crypto::encrypt_oaep(&mut drbg, &modulus, 65537, &SRK).unwrap();
        let rsa = |usage: u16, enc: u16, sig: u16, adu: u8| {
            let mut v = vec![1, 1, 0, 0];
            v.extend_from_slice(&usage.to_be_bytes());
            v.extend_from_slice(&0u32.to_be_bytes());
            v.push(adu);
            v.extend_from_slice(&1u32.to_be_bytes());
            v.extend_from_slice(&enc.to_be_bytes());
            v.extend_from_slice(&sig.to_be_bytes());
            for x in [12u32, 2048, 2, 0, 0, 0, 0] {
                v.extend_from_slice(&x.to_be_bytes());
            }
            v
        };
        let mut params = 5u16.to_be_bytes().to_vec();
        for enc in [&enc_owner, &enc_srk] {
            params.extend_from_slice(&256u32.to_be_bytes());
            params.extend_from_slice(enc);
        }
        params.extend_from_slice(&rsa(0x11, 3, 1, 1));
        authorized(&mut tpm, 0x0D, &[], |_, _| params, &OWNER, None);
        // A signing key usable without authorization, loaded.
        let srk = 0x4000_0000u32.to_be_bytes();
        let r = authorized(
            &mut tpm,
            0x1F,
            &srk,
            |s, n| {
                let mut p = adip(s, n, &[0; 20]);
                p.extend_from_slice(&[0; 20]);
                p.extend_from_slice(&rsa(0x10, 1, 2, 0));
                p
            },
            &SRK,
            Some((0x0004, 0x4000_0000)),
        );
        let blob = r[10..r.len() - 41].to_vec();
        authorized(&mut tpm, 0x41, &srk, |_, _| blob, &SRK, None);
        // A counter and an NV area.
        authorized(
            &mut tpm,
            0xDC,
            &[],
            |s, n| {
                let mut p = adip(s, n, &[0x44; 20]);
                p.extend_from_slice(b"FUZZ");
                p
            },
            &OWNER,
            Some((0x0002, 0x4000_0001)),
        );
        let mut nv = vec![0, 0x18, 0, 1, 0, 0];
        for _ in 0..2 {
            nv.extend_from_slice(&[0, 3, 0, 0, 0, 0x1F]);
            nv.extend_from_slice(&[0; 20]);
        }
        nv.extend_from_slice(&[0, 0x17, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 32]);
        nv.extend_from_slice(&[0; 20]);
        exec(&mut tpm, &cmd(0xC1, 0xCC, &nv));
        let perm = tpm.save_state(StateKind::Permanent).unwrap().to_vec();
        let vol = tpm.save_state(StateKind::Volatile).unwrap().to_vec();
        (perm, vol)
    })
}

fuzz_target!(|data: &[u8]| {
    let (perm, vol) = seeded();
    let mut tpm = tpm12::Tpm12::new(Drbg::from_seed([8; 32]), tpm12::Config::default()).unwrap();
    tpm.load_state(StateKind::Permanent, perm).unwrap();
    tpm.load_state(StateKind::Volatile, vol).unwrap();
    // Input: a sequence of [locality][len u16][command bytes] records; the clock
    // advances by the locality byte's high bits so lockouts start and end.
    let mut rest = data;
    let mut now_ms = 0u64;
    while let [locality, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (command, next) = tail.split_at(len);
        now_ms += u64::from(*locality >> 3) * 250;
        let rsp = tpm.execute(ExecContext { locality: *locality & 7, now_ms }, command);
        assert!(rsp.len() >= 10, "short response");
        assert_eq!(u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]) as usize, rsp.len());
        assert!(rsp.len() <= tpm.buffer_size());
        rest = next;
    }
    // The reached state round-trips through its blobs.
    let perm = tpm.save_state(StateKind::Permanent).unwrap();
    let vol = tpm.save_state(StateKind::Volatile).unwrap();
    let mut copy = tpm12::Tpm12::new(Drbg::from_seed([9; 32]), tpm12::Config::default()).unwrap();
    copy.load_state(StateKind::Permanent, &perm).unwrap();
    copy.load_state(StateKind::Volatile, &vol).unwrap();
    assert_eq!(*copy.save_state(StateKind::Volatile).unwrap(), *vol);
    if let Ok(saved) = tpm.save_state(StateKind::SaveState) {
        copy.load_state(StateKind::SaveState, &saved).unwrap();
    }
});
