//! Fuzz target: arbitrary command bytes at arbitrary localities into a started
//! TPM 1.2 engine. Every response must be well formed; nothing may panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tpm_engine::{Drbg, ExecContext, TpmEngine};

fuzz_target!(|data: &[u8]| {
    let mut tpm = tpm12::Tpm12::new(Drbg::from_seed([7; 32]), tpm12::Config::default()).unwrap();
    let startup = [0x00, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 1];
    tpm.execute(ExecContext { locality: 0, now_ms: 0 }, &startup);
    // Input: a sequence of [locality][len u16][command bytes] records.
    let mut rest = data;
    let mut now_ms = 0;
    while let [locality, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (command, next) = tail.split_at(len);
        now_ms += 10;
        let rsp = tpm.execute(ExecContext { locality: *locality % 6, now_ms }, command);
        assert!(rsp.len() >= 10, "short response");
        assert_eq!(u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]) as usize, rsp.len());
        assert!(rsp.len() <= tpm.buffer_size());
        rest = next;
    }
    // State blobs of whatever state was reached must round-trip.
    let perm = tpm.save_state(tpm_engine::StateKind::Permanent).unwrap();
    let vol = tpm.save_state(tpm_engine::StateKind::Volatile).unwrap();
    let mut copy = tpm12::Tpm12::new(Drbg::from_seed([8; 32]), tpm12::Config::default()).unwrap();
    copy.load_state(tpm_engine::StateKind::Permanent, &perm).unwrap();
    copy.load_state(tpm_engine::StateKind::Volatile, &vol).unwrap();
    assert_eq!(*copy.save_state(tpm_engine::StateKind::Volatile).unwrap(), *vol);
});
