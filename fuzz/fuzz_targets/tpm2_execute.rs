//! Fuzz target: command bytes at arbitrary localities into a started TPM 2.0
//! engine that holds a loaded and a persistent key, an NV index, a hash sequence,
//! an HMAC session and audits a few commands. Records either carry raw bytes or have the header built
//! around them for one of the implemented command codes, so that most inputs reach
//! a handler. Every response must be well formed; nothing may panic; the state
//! reached must survive a save/load round trip.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tpm_engine::{Drbg, ExecContext, StateKind, TpmEngine};
use tpm2::Tpm2;

/// The starting point's state blobs and the implemented command codes.
struct Base {
    permanent: Vec<u8>,
    volatile: Vec<u8>,
    commands: Vec<u32>,
}

fn command(cc: u32, sessions: bool, body: &[u8]) -> Vec<u8> {
    let tag: u16 = if sessions { 0x8002 } else { 0x8001 };
    let mut c = tag.to_be_bytes().to_vec();
    c.extend(((10 + body.len()) as u32).to_be_bytes());
    c.extend(cc.to_be_bytes());
    c.extend(body);
    c
}

/// A password authorization area with an empty password.
const PW: [u8; 13] = [0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 1, 0, 0];

fn run(tpm: &mut Tpm2, cc: u32, handles: &[u32], auth: bool, params: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for h in handles {
        body.extend(h.to_be_bytes());
    }
    if auth {
        body.extend(PW);
    }
    body.extend(params);
    let r = tpm.execute(ExecContext { locality: 0, now_ms: 1 }, &command(cc, auth, &body));
    assert_eq!(&r[6..10], &[0, 0, 0, 0], "setup command {cc:#x} failed: {r:02x?}");
    r
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut tpm = Tpm2::new(Drbg::from_seed([7; 32]));
        tpm.init();
        run(&mut tpm, 0x144, &[], false, &[0, 0]); // Startup(CLEAR)
        // CreatePrimary(owner, AES-128-CFB symmetric storage key: a parent that
        // costs no public-key arithmetic each time the state is loaded).
        let template: &[u8] = &[
            0x00, 0x25, 0x00, 0x0b, 0x00, 0x03, 0x04, 0x72, 0x00, 0x00, 0x00, 0x06, 0x00, 0x80,
            0x00, 0x43, 0x00, 0x00,
        ];
        let mut params = vec![0, 4, 0, 0, 0, 0];
        params.extend((template.len() as u16).to_be_bytes());
        params.extend(template);
        params.extend([0, 0, 0, 0, 0, 0]);
        let r = run(&mut tpm, 0x131, &[0x4000_0001], true, &params);
        let primary = u32::from_be_bytes([r[10], r[11], r[12], r[13]]);
        // A second copy made persistent at 0x81000001.
        let r = run(&mut tpm, 0x131, &[0x4000_0001], true, &params);
        let copy = u32::from_be_bytes([r[10], r[11], r[12], r[13]]);
        run(&mut tpm, 0x120, &[0x4000_0001, copy], true, &0x8100_0001u32.to_be_bytes());
        run(&mut tpm, 0x165, &[], false, &copy.to_be_bytes());
        let _ = primary;
        // NV index 0x01500001, 32 bytes, owner/auth read and write.
        let nv_public: &[u8] = &[
            0x00, 0x0e, 0x01, 0x50, 0x00, 0x01, 0x00, 0x0b, 0x00, 0x06, 0x00, 0x06, 0x00, 0x00,
            0x00, 0x20,
        ];
        let mut params = vec![0, 0];
        params.extend(nv_public);
        run(&mut tpm, 0x12a, &[0x4000_0001], true, &params);
        // HashSequenceStart(SHA-256) and an unbound, unsalted HMAC session.
        run(&mut tpm, 0x186, &[], false, &[0, 0, 0, 0x0b]);
        let mut params = vec![0, 32];
        params.extend([0x5a; 32]);
        params.extend([0, 0, 0x00, 0, 0x10, 0, 0x0b]);
        run(&mut tpm, 0x176, &[0x4000_0007, 0x4000_0007], false, &params);
        // The implemented command codes, from TPM_CAP_COMMANDS.
        let r = run(&mut tpm, 0x17a, &[], false, &[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0]);
        let count = u32::from_be_bytes([r[15], r[16], r[17], r[18]]) as usize;
        let commands = (0..count)
            .map(|i| {
                let a = &r[19 + 4 * i..23 + 4 * i];
                u32::from_be_bytes([0, 0, a[2], a[3]])
            })
            .collect();
        // Command audit of a few frequent commands, so their successes extend
        // the audit digest: SetCommandCodeAuditStatus(owner, hash NULL, setList
        // = GetRandom, Hash, PCR_Read, PCR_Extend, Sign, clearList empty).
        let mut params = vec![0, 0x10, 0, 0, 0, 5];
        for cc in [0x17Bu32, 0x17D, 0x17E, 0x182, 0x15D] {
            params.extend(cc.to_be_bytes());
        }
        params.extend([0, 0, 0, 0]);
        run(&mut tpm, 0x140, &[0x4000_0001], true, &params);
        Base {
            permanent: tpm.save_state(StateKind::Permanent).unwrap().to_vec(),
            volatile: tpm.save_state(StateKind::Volatile).unwrap().to_vec(),
            commands,
        }
    })
}

fn check(tpm: &Tpm2, rsp: &[u8]) {
    assert!(rsp.len() >= 10, "short response");
    assert_eq!(u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]) as usize, rsp.len());
    assert!(rsp.len() <= tpm.buffer_size());
    let tag = u16::from_be_bytes([rsp[0], rsp[1]]);
    assert!(tag == 0x8001 || tag == 0x8002, "response tag {tag:#x}");
    if rsp[6..10] != [0, 0, 0, 0] {
        assert_eq!((tag, rsp.len()), (0x8001, 10), "an error response is a bare header");
    }
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let mut tpm = Tpm2::new(Drbg::from_seed([8; 32]));
    tpm.load_state(StateKind::Permanent, &base.permanent).unwrap();
    tpm.load_state(StateKind::Volatile, &base.volatile).unwrap();
    // Input: records [locality][mode][len u16][bytes]. Mode bit 0: the bytes are
    // a whole command; otherwise the first byte picks a command code, bit 1 picks
    // the sessions tag, and the rest is the body after the header.
    let mut rest = data;
    let mut now_ms = 0;
    while let [locality, mode, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        let cmd = if mode & 1 == 1 {
            bytes.to_vec()
        } else {
            let Some((pick, body)) = bytes.split_first() else { continue };
            let cc = base.commands[usize::from(*pick) % base.commands.len()];
            command(cc, mode & 2 != 0, body)
        };
        now_ms += u64::from(mode >> 2) * 100;
        // 0–4 mostly; 0–31 (reserved 5–31 included) and the extended 128–255 too.
        let locality = match locality >> 6 {
            0 | 1 => locality % 5,
            2 => locality & 0x1f,
            _ => *locality,
        };
        let rsp = tpm.execute(ExecContext { locality, now_ms }, &cmd);
        check(&tpm, &rsp);
        if mode & 0xF0 == 0xF0 {
            tpm.init();
        }
    }
    // The state reached must round-trip through its blobs.
    let perm = tpm.save_state(StateKind::Permanent).unwrap();
    let vol = tpm.save_state(StateKind::Volatile).unwrap();
    let mut copy = Tpm2::new(Drbg::from_seed([9; 32]));
    copy.load_state(StateKind::Permanent, &perm).unwrap();
    copy.load_state(StateKind::Volatile, &vol).unwrap();
    assert_eq!(*copy.save_state(StateKind::Permanent).unwrap(), *perm);
    assert_eq!(*copy.save_state(StateKind::Volatile).unwrap(), *vol);
    if let Ok(saved) = tpm.save_state(StateKind::SaveState) {
        copy.load_state(StateKind::SaveState, &saved).unwrap();
        assert_eq!(*copy.save_state(StateKind::SaveState).unwrap(), *saved);
    }
});
