//! Differential tests: the same command sequences against libtpms (swtpm, TPM 1.2
//! mode) and this engine, compared byte for byte where the TPM is deterministic and
//! structurally where randomness enters. Needs `swtpm` on PATH (CI installs it);
//! without it every test fails with an install hint.

#![allow(clippy::cast_possible_truncation, reason = "test code: lengths of small, known buffers")]

mod common;

use common::{Pair, cmd, code, hex};

const C1: u16 = 0xC1;

fn u32b(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn get_cap(area: u32, sub: &[u8]) -> Vec<u8> {
    let mut body = u32b(area).to_vec();
    body.extend_from_slice(&u32b(sub.len() as u32));
    body.extend_from_slice(sub);
    cmd(C1, 0x65, &body)
}

fn extend(pcr: u32, digest: [u8; 20]) -> Vec<u8> {
    let mut body = u32b(pcr).to_vec();
    body.extend_from_slice(&digest);
    cmd(C1, 0x14, &body)
}

fn pcr_read(pcr: u32) -> Vec<u8> {
    cmd(C1, 0x15, &u32b(pcr))
}

fn pcr_reset(select: &[u8]) -> Vec<u8> {
    let mut body = (select.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(select);
    cmd(C1, 0xC8, &body)
}

/// Every property the Linux kernel, TrouSerS and tpm-tools read, byte for byte;
/// the TIS timeouts and durations are the vTPM's own (specs/xen-vtpm-protocol.md
/// §2.3) and checked against the required values instead.
#[test]
fn capability_properties_match() {
    let mut p = Pair::new();
    for prop in 0x101..=0x125u32 {
        let command = get_cap(5, &u32b(prop));
        match prop {
            0x115 => {
                let (a, b) = p.same_code(&command);
                assert_eq!(code(&a), 0);
                assert_eq!(hex(&b[14..]), "000b71b0001e8480000b71b0000b71b0");
            }
            0x120 => {
                let (_, b) = p.same_code(&command);
                assert_eq!(hex(&b[14..]), "002dc6c0002dc6c023c34600");
            }
            _ => {
                p.same(&command);
            }
        }
    }
    // Sub-capability of the wrong size: TPM_BAD_MODE.
    p.same(&get_cap(5, &[1, 1]));
    p.same(&get_cap(5, &[]));
    assert!(p.compared >= 39);
}

#[test]
fn capability_areas_match() {
    let mut p = Pair::new();
    p.same(&get_cap(4, &u32b(0x108)));
    p.same(&get_cap(4, &u32b(0x109)));
    p.same(&get_cap(4, &u32b(0x10A)));
    p.same(&get_cap(6, &[]));
    p.same(&get_cap(7, &[]));
    for alg in 0..12u32 {
        p.same(&get_cap(2, &u32b(alg)));
    }
    // Protocols both implement (DSAP, ADCP and transport are not implemented here).
    for pid in [1u16, 2, 3, 5, 8, 0] {
        p.same(&get_cap(3, &pid.to_be_bytes()));
    }
    // TPM_CAP_ORD for implemented ordinals and unknown ones.
    for ord in [
        0x0Au32, 0x0B, 0x14, 0x15, 0x46, 0x47, 0x50, 0x53, 0x54, 0x65, 0x98, 0x99, 0xA0, 0xC8,
        0xF1, 0x9999, 0,
    ] {
        p.same(&get_cap(1, &u32b(ord)));
    }
    for (major, minor, size) in [(1u8, 1u8, 2u16), (1, 2, 3), (1, 2, 4), (1, 2, 0), (1, 2, 1)] {
        let mut sub = vec![major, minor];
        sub.extend_from_slice(&size.to_be_bytes());
        p.same(&get_cap(0x18, &sub));
    }
    for a in [0x0Au32, 1] {
        p.same(&get_cap(0x17, &u32b(a)));
    }
    p.same(&get_cap(0x19, &4u16.to_be_bytes()));
    p.same(&get_cap(0x14, &u32b(1)));
    p.same(&get_cap(0x14, &u32b(6)));
    p.same(&get_cap(0x14, &u32b(99)));
    p.same(&get_cap(0x0D, &[]));
    p.same(&get_cap(0x11, &u32b(0x1234)));
    p.same(&get_cap(0x0C, &u32b(0x1234)));
    p.same(&get_cap(0x09, &u32b(1)));
    p.same(&get_cap(0x99, &[]));
    p.same(&get_cap(0, &[]));
    // The version structure: layout and vendor identical, the firmware revision is
    // each implementation's own.
    let (a, b) = p.same_code(&get_cap(0x1A, &[]));
    assert_eq!(a.len(), b.len());
    assert_eq!(hex(&a[..18]), hex(&b[..18]));
    assert_eq!(hex(&a[20..]), hex(&b[20..]));
}

#[test]
fn pcr_read_every_index() {
    let mut p = Pair::new();
    for i in 0..=25u32 {
        p.same(&pcr_read(i));
    }
    p.same(&pcr_read(u32::MAX));
    // Truncated and over-long parameter areas.
    p.same(&cmd(C1, 0x15, &[0, 0]));
    p.same(&cmd(C1, 0x15, &[0, 0, 0, 1, 9]));
    // Wrong tags.
    p.same(&cmd(0xC2, 0x15, &u32b(1)));
    p.same(&cmd(0xC4, 0x15, &u32b(1)));
}

#[test]
fn extend_respects_pc_client_localities() {
    let mut p = Pair::new();
    for locality in 0..=4u8 {
        p.set_locality(locality);
        for pcr in 0..=24u32 {
            let digest = [pcr as u8 ^ locality; 20];
            p.same(&extend(pcr, digest));
        }
    }
    p.set_locality(0);
    for pcr in 0..24u32 {
        p.same(&pcr_read(pcr));
    }
    p.same(&cmd(C1, 0x14, &u32b(1)));
}

#[test]
fn pcr_reset_rules() {
    let mut p = Pair::new();
    for locality in 0..=4u8 {
        p.set_locality(locality);
        for pcr in [0u32, 7, 15, 16, 17, 18, 19, 20, 21, 22, 23] {
            p.same(&extend(16, [1; 20]));
            let mut select = [0u8; 3];
            select[(pcr / 8) as usize] |= 1 << (pcr % 8);
            p.same(&pcr_reset(&select));
            p.same(&pcr_read(pcr));
        }
        p.same(&pcr_reset(&[0, 0, 0x81]));
        p.same(&pcr_reset(&[0, 0, 0xFF]));
    }
    p.set_locality(0);
    p.same(&pcr_reset(&[]));
    p.same(&pcr_reset(&[0, 0, 0]));
    p.same(&pcr_reset(&[0, 0, 0, 1]));
    p.same(&pcr_reset(&[0, 1]));
}

#[test]
fn drtm_hash_sequence() {
    let mut p = Pair::new();
    p.set_locality(4);
    p.sw.hash(b"measured launch environment");
    p.tpm.hash(b"measured launch environment");
    for pcr in 16..24 {
        p.same(&pcr_read(pcr));
    }
    for locality in 0..=4u8 {
        p.set_locality(locality);
        p.same(&extend(17, [9; 20]));
        p.same(&extend(18, [9; 20]));
        p.same(&pcr_reset(&[0, 0, 0x0C]));
        p.same(&pcr_reset(&[0, 0, 0x10]));
    }
    p.set_locality(0);
    for pcr in 16..24 {
        p.same(&pcr_read(pcr));
    }
    p.same(&get_cap(4, &u32b(0x108)));
}

#[test]
fn sha1_thread() {
    let mut p = Pair::new();
    let start = cmd(C1, 0xA0, &[]);
    let update = |data: &[u8]| {
        let mut body = u32b(data.len() as u32).to_vec();
        body.extend_from_slice(data);
        cmd(C1, 0xA1, &body)
    };
    let complete = |data: &[u8]| {
        let mut body = u32b(data.len() as u32).to_vec();
        body.extend_from_slice(data);
        cmd(C1, 0xA2, &body)
    };
    let complete_extend = |pcr: u32, data: &[u8]| {
        let mut body = u32b(pcr).to_vec();
        body.extend_from_slice(&u32b(data.len() as u32));
        body.extend_from_slice(data);
        cmd(C1, 0xA3, &body)
    };
    p.same(&start);
    p.same(&update(&[7; 128]));
    p.same(&update(&[8; 64]));
    p.same(&complete(b"abc"));
    // No thread any more.
    p.same(&complete(b"abc"));
    p.same(&update(&[7; 64]));
    // Partial block ends the thread.
    p.same(&start);
    p.same(&update(&[7; 65]));
    p.same(&complete(&[]));
    // Any other command ends the thread.
    p.same(&start);
    p.same(&pcr_read(0));
    p.same(&complete(&[]));
    // Too much data at the end.
    p.same(&start);
    p.same(&complete(&[1; 65]));
    // CompleteExtend into PCR 10 and into a PCR this locality may not extend.
    p.same(&start);
    p.same(&complete_extend(10, b"hello"));
    p.same(&pcr_read(10));
    p.same(&start);
    p.same(&complete_extend(20, b"hello"));
    p.same(&start);
    p.same(&complete_extend(99, b"hello"));
    p.same(&start);
    p.same(&complete(&[]));
}

#[test]
fn startup_and_saved_state() {
    let mut p = Pair::new();
    let startup = |t: u16| cmd(C1, 0x99, &t.to_be_bytes());
    // Already started.
    p.same(&startup(1));
    p.same(&extend(3, [3; 20]));
    p.same(&extend(16, [3; 20]));
    p.same(&cmd(C1, 0x98, &[]));
    p.init();
    // Before Startup every other command is refused.
    p.same(&pcr_read(3));
    p.same(&get_cap(5, &u32b(0x101)));
    p.same(&startup(9));
    p.init();
    p.same(&startup(2));
    // PCR 3 was preserved, resettable PCR 16 was not.
    p.same(&pcr_read(3));
    p.same(&pcr_read(16));
    // The saved state was consumed: ST_STATE again fails into failure mode.
    p.init();
    p.same(&startup(2));
    p.same(&pcr_read(3));
    p.same(&get_cap(5, &u32b(0x101)));
    p.same(&cmd(C1, 0x50, &[]));
}

#[test]
fn startup_clear_and_deactivated() {
    let mut p = Pair::new();
    let startup = |t: u16| cmd(C1, 0x99, &t.to_be_bytes());
    p.same(&extend(3, [3; 20]));
    p.same(&cmd(C1, 0x98, &[]));
    // Any command after SaveState invalidates it.
    p.same(&pcr_read(3));
    p.init();
    p.same(&startup(2));
    p.init();
    p.same(&startup(3));
    p.same(&get_cap(4, &u32b(0x109)));
    p.same(&pcr_read(3));
    p.same(&cmd(C1, 0x46, &u32b(4)));
    p.same(&extend(3, [3; 20]));
    p.init();
    p.same(&startup(1));
    p.same(&get_cap(4, &u32b(0x109)));
    p.same(&pcr_read(3));
    p.same(&cmd(0xC2, 0x99, &1u16.to_be_bytes()));
    p.same(&cmd(C1, 0x99, &[0]));
}

#[test]
fn self_tests_and_randomness() {
    let mut p = Pair::new();
    p.same(&cmd(C1, 0x53, &[]));
    p.same(&cmd(C1, 0x50, &[]));
    p.same(&cmd(C1, 0x50, &[1]));
    p.same(&cmd(0xC2, 0x53, &[]));
    let (a, b) = p.same_code(&cmd(C1, 0x54, &[]));
    // TPM_GetTestResult's outData is vendor specific: only the framing compares.
    assert_eq!(u32::from_be_bytes(a[10..14].try_into().unwrap()) as usize, a.len() - 14);
    assert_eq!(u32::from_be_bytes(b[10..14].try_into().unwrap()) as usize, b.len() - 14);
    for n in [0u32, 1, 20, 128, 4000, 4082, 4083, 5000, u32::MAX] {
        let (a, b) = p.same_code(&cmd(C1, 0x46, &u32b(n)));
        assert_eq!(a.len(), b.len(), "GetRandom({n}) sizes differ");
    }
    // Fresh bytes each time.
    let (_, b1) = p.both(&cmd(C1, 0x46, &u32b(32)));
    let (_, b2) = p.both(&cmd(C1, 0x46, &u32b(32)));
    assert_ne!(b1, b2);
    for data in [&[][..], &[1, 2, 3][..], &[0; 255][..], &[0; 256][..]] {
        let mut body = u32b(data.len() as u32).to_vec();
        body.extend_from_slice(data);
        p.same(&cmd(C1, 0x47, &body));
    }
    p.same(&cmd(C1, 0x47, &u32b(10)));
    let (a, b) = p.same_code(&cmd(C1, 0xF1, &[]));
    assert_eq!(a.len(), b.len());
    assert_eq!(hex(&a[10..12]), hex(&b[10..12]));
}

#[test]
fn sessions_and_flush() {
    let mut p = Pair::new();
    let (a, b) = p.same_code(&cmd(C1, 0x0A, &[]));
    assert_eq!(a.len(), 34);
    assert_eq!(b.len(), 34);
    let handle_b = u32::from_be_bytes(b[10..14].try_into().unwrap());
    let handle_a = u32::from_be_bytes(a[10..14].try_into().unwrap());
    p.sw.transmit(&cmd(C1, 0x96, &u32b(handle_a)));
    p.tpm.execute(common::ctx(0), &cmd(C1, 0x96, &u32b(handle_b)));
    p.same(&cmd(C1, 0x96, &u32b(0x1234_5678)));
    for rt in [1u32, 2, 5, 9, 0] {
        let mut body = u32b(0x0102_0304).to_vec();
        body.extend_from_slice(&u32b(rt));
        p.same(&cmd(C1, 0xBA, &body));
    }
    // OSAP needs an owner.
    let mut body = 2u16.to_be_bytes().to_vec();
    body.extend_from_slice(&u32b(0x4000_0001));
    body.extend_from_slice(&[0; 20]);
    p.same(&cmd(C1, 0x0B, &body));
    // Sixteen sessions fit, the seventeenth does not.
    for _ in 0..16 {
        p.same_code(&cmd(C1, 0x0A, &[]));
    }
    p.same(&cmd(C1, 0x0A, &[]));
    p.same(&get_cap(5, &u32b(0x10A)));
}

#[test]
fn malformed_commands() {
    let mut p = Pair::new();
    // Unknown and unimplemented-everywhere ordinals.
    for ord in [0u32, 0x9999, 0x0000_00FF, 0x2000_0000, 0x8000_0001] {
        p.same(&cmd(C1, ord, &[]));
        p.same(&cmd(0xC2, ord, &[]));
    }
    // Unknown tags.
    for tag in [0u16, 0xC4, 0xC5, 0x8001, 0xFFFF] {
        p.same(&cmd(tag, 0x15, &u32b(0)));
        p.same(&cmd(tag, 0x65, &[0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 1, 1]));
    }
    // Parameter areas that stop early.
    p.same(&cmd(C1, 0x65, &[0, 0, 0, 5]));
    p.same(&cmd(C1, 0x65, &[0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 1, 1]));
    p.same(&cmd(C1, 0x46, &[0]));
    p.same(&cmd(C1, 0x99, &[]));
    p.same(&cmd(C1, 0xC8, &[0, 3, 0]));
}
