//! Fuzz target: arbitrary bytes as each kind of TPM 1.2 state blob. Loading must
//! fail cleanly or succeed and leave an engine that still answers commands; a
//! failed load must leave the engine unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tpm_engine::{Drbg, ExecContext, StateKind, TpmEngine};

fuzz_target!(|data: &[u8]| {
    let Some((kind, blob)) = data.split_first() else { return };
    let kind = match kind % 3 {
        0 => StateKind::Permanent,
        1 => StateKind::Volatile,
        _ => StateKind::SaveState,
    };
    let mut tpm = tpm12::Tpm12::new(Drbg::from_seed([7; 32]), tpm12::Config::default()).unwrap();
    let before = tpm.save_state(StateKind::Permanent).unwrap();
    let before_vol = tpm.save_state(StateKind::Volatile).unwrap();
    match tpm.load_state(kind, blob) {
        Ok(()) => {
            let rsp = tpm.execute(ExecContext { locality: 0, now_ms: 1 }, &[0, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15, 0, 0, 0, 1]);
            assert_eq!(u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]) as usize, rsp.len());
        }
        Err(_) => {
            assert_eq!(*tpm.save_state(StateKind::Permanent).unwrap(), *before);
            assert_eq!(*tpm.save_state(StateKind::Volatile).unwrap(), *before_vol);
        }
    }
});
