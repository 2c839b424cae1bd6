//! Fuzz target: arbitrary bytes as each kind of TPM 2.0 state blob (either raw, or
//! as edits to a real blob of a populated engine, which reaches deeper). Loading must
//! fail and leave the engine unchanged, or succeed, re-serialise to a blob that
//! loads to the same state, and leave an engine that still answers commands.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tpm_engine::{Drbg, ExecContext, StateKind, TpmEngine};
use tpm2::Tpm2;

fn snapshot(tpm: &Tpm2) -> Vec<Option<Vec<u8>>> {
    [StateKind::Permanent, StateKind::Volatile, StateKind::SaveState]
        .iter()
        .map(|&k| tpm.save_state(k).ok().map(|b| b.to_vec()))
        .collect()
}

fn check(tpm: &mut Tpm2, command: &[u8]) {
    let rsp = tpm.execute(ExecContext { locality: 0, now_ms: 5 }, command);
    assert!(rsp.len() >= 10);
    assert_eq!(u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]) as usize, rsp.len());
}

/// A setup command that must succeed (resent once on TPM_RC_RETRY).
fn must(tpm: &mut Tpm2, command: &[u8]) {
    for _ in 0..2 {
        let rsp = tpm.execute(ExecContext { locality: 0, now_ms: 5 }, command);
        match rsp[6..10] {
            [0, 0, 0, 0] => return,
            [0, 0, 0x09, 0x22] => continue,
            _ => panic!("setup command failed: {rsp:02x?}"),
        }
    }
    panic!("setup command kept asking for a retry");
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, input)) = data.split_first() else { return };
    let kind = match selector % 3 {
        0 => StateKind::Permanent,
        1 => StateKind::Volatile,
        _ => StateKind::SaveState,
    };
    let mut tpm = Tpm2::new(Drbg::from_seed([7; 32]));
    tpm.init();
    // Startup(CLEAR), an NV index (0x01500001, 8 bytes) written once, a PCR
    // extended, an HMAC session, then Shutdown(STATE): every kind has a blob with
    // something in it.
    must(&mut tpm, &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 0]);
    let pw = [0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 1, 0, 0];
    let mut define = vec![0x80, 0x02, 0, 0, 0, 45, 0, 0, 1, 0x2a, 0x40, 0, 0, 1];
    define.extend(pw);
    define.extend([0, 0, 0, 0x0e, 0x01, 0x50, 0, 1, 0, 0x0b, 0, 6, 0, 6, 0, 0, 0, 8]);
    must(&mut tpm, &define);
    let mut write = vec![0x80, 0x02, 0, 0, 0, 39, 0, 0, 1, 0x37, 1, 0x50, 0, 1, 1, 0x50, 0, 1];
    write.extend(pw);
    write.extend([0, 4, 1, 2, 3, 4, 0, 0]);
    must(&mut tpm, &write);
    let mut extend = vec![0x80, 0x02, 0, 0, 0, 65, 0, 0, 1, 0x82, 0, 0, 0, 0];
    extend.extend(pw);
    extend.extend([0, 0, 0, 1, 0, 0x0b]);
    extend.extend([0x11; 32]);
    must(&mut tpm, &extend);
    let mut session = vec![0x80, 0x01, 0, 0, 0, 59, 0, 0, 1, 0x76, 0x40, 0, 0, 7, 0x40, 0, 0, 7];
    session.extend([0, 32]);
    session.extend([0x5a; 32]);
    session.extend([0, 0, 0x00, 0, 0x10, 0, 0x0b]);
    must(&mut tpm, &session);
    must(&mut tpm, &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 1, 0x45, 0, 1]);
    let before = snapshot(&tpm);
    let blob = if selector & 0x80 == 0 {
        input.to_vec()
    } else {
        // Edits to the real blob: a length cap, then (offset u16, xor) triples.
        let Some(mut blob) = tpm.save_state(kind).ok().map(|b| b.to_vec()) else { return };
        let Some((cap, edits)) = input.split_first() else { return };
        if *cap != 0 {
            blob.truncate(blob.len().saturating_sub(usize::from(*cap)));
        }
        for e in edits.chunks_exact(3) {
            let at = usize::from(u16::from_be_bytes([e[0], e[1]]));
            if let Some(b) = blob.get_mut(at) {
                *b ^= e[2];
            }
        }
        blob
    };
    match tpm.load_state(kind, &blob) {
        Err(_) => assert_eq!(snapshot(&tpm), before, "a refused blob changed the engine"),
        Ok(()) => {
            let again = tpm.save_state(kind).unwrap();
            let mut copy = Tpm2::new(Drbg::from_seed([7; 32]));
            if kind != StateKind::Permanent {
                copy.load_state(StateKind::Permanent, &tpm.save_state(StateKind::Permanent).unwrap())
                    .unwrap();
            }
            copy.load_state(kind, &again).unwrap();
            assert_eq!(*copy.save_state(kind).unwrap(), *again);
            // PCR_Read(SHA-256: 0..7), GetCapability(handles), Startup(STATE), again
            // after _TPM_Init with Startup(CLEAR).
            let pcr_read = [0x80, 0x01, 0, 0, 0, 20, 0, 0, 1, 0x7e, 0, 0, 0, 1, 0, 0x0b, 3, 0xff, 0, 0];
            let caps = [0x80, 0x01, 0, 0, 0, 22, 0, 0, 1, 0x7a, 0, 0, 0, 1, 0x81, 0, 0, 0, 0, 0, 0, 8];
            for _ in 0..2 {
                check(&mut tpm, &pcr_read);
                check(&mut tpm, &caps);
                check(&mut tpm, &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 1]);
                tpm.init();
                check(&mut tpm, &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 0]);
            }
        }
    }
});
