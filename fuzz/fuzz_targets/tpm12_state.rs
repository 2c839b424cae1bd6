//! Fuzz target: hostile TPM 1.2 state blobs. Either arbitrary bytes, or a valid blob
//! of a TPM that has an owner, keys, sessions, a counter and a saved state, with
//! bytes changed at positions the input chooses (so the decoder is exercised past
//! the magic). Loading must fail cleanly and change nothing, or succeed and leave
//! an engine that answers commands and saves the same blob again.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tpm_engine::{Drbg, ExecContext, StateKind, TpmEngine};

fn cmd(ordinal: u32, body: &[u8]) -> Vec<u8> {
    let mut v = 0xC1u16.to_be_bytes().to_vec();
    v.extend_from_slice(&(10 + body.len() as u32).to_be_bytes());
    v.extend_from_slice(&ordinal.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// Reference blobs: permanent (with an EK), volatile (sessions, a SHA-1 thread)
/// and save-state.
fn reference() -> &'static [Vec<u8>; 3] {
    static BLOBS: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    BLOBS.get_or_init(|| {
        let config = tpm12::Config { manufacture_ek: true, ..tpm12::Config::default() };
        let mut tpm = tpm12::Tpm12::new(Drbg::from_seed([7; 32]), config).unwrap();
        let ctx = ExecContext { locality: 0, now_ms: 0 };
        for c in [
            cmd(0x99, &1u16.to_be_bytes()),
            cmd(0x14, &[&3u32.to_be_bytes()[..], &[1; 20]].concat()),
            cmd(0x0A, &[]),
            cmd(0x0A, &[]),
            cmd(0x98, &[]),
        ] {
            tpm.execute(ctx, &c);
        }
        let saved = tpm.save_state(StateKind::SaveState).unwrap().to_vec();
        tpm.execute(ctx, &cmd(0xA0, &[]));
        [
            tpm.save_state(StateKind::Permanent).unwrap().to_vec(),
            tpm.save_state(StateKind::Volatile).unwrap().to_vec(),
            saved,
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else { return };
    let kind = match mode % 3 {
        0 => StateKind::Permanent,
        1 => StateKind::Volatile,
        _ => StateKind::SaveState,
    };
    let refs = reference();
    let blob = if mode & 0x80 == 0 {
        rest.to_vec()
    } else {
        // Mutate the reference blob: (offset u16, xor byte) records.
        let mut b = refs[usize::from(mode % 3)].clone();
        for chunk in rest.chunks_exact(3) {
            let at = usize::from(u16::from_be_bytes([chunk[0], chunk[1]]));
            if let Some(len) = b.len().checked_sub(1) {
                let i = at % (len + 1);
                b[i] ^= chunk[2];
            }
        }
        if rest.len() % 3 == 1 {
            b.truncate(usize::from(rest[rest.len() - 1]) * b.len() / 256);
        }
        b
    };
    let mut tpm = tpm12::Tpm12::new(Drbg::from_seed([7; 32]), tpm12::Config::default()).unwrap();
    if kind == StateKind::Volatile {
        // A volatile blob is only accepted with its permanent state.
        tpm.load_state(StateKind::Permanent, &refs[0]).unwrap();
    }
    let before = tpm.save_state(StateKind::Permanent).unwrap();
    let before_vol = tpm.save_state(StateKind::Volatile).unwrap();
    match tpm.load_state(kind, &blob) {
        Ok(()) => {
            assert_eq!(*tpm.save_state(kind).unwrap(), blob[..], "blob does not round-trip");
            for c in
                [cmd(0x99, &2u16.to_be_bytes()), cmd(0x15, &1u32.to_be_bytes()), cmd(0x0A, &[])]
            {
                let rsp = tpm.execute(ExecContext { locality: 0, now_ms: 1 }, &c);
                assert_eq!(
                    u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]) as usize,
                    rsp.len()
                );
            }
        }
        Err(_) => {
            assert_eq!(*tpm.save_state(StateKind::Permanent).unwrap(), *before);
            assert_eq!(*tpm.save_state(StateKind::Volatile).unwrap(), *before_vol);
        }
    }
});
