//! Benchmark: `vtpm-tool serve --tpm1.2` (the binary of this build) side by side
//! with `swtpm socket` (libtpms, TPM 1.2 mode) over the same socket protocol, for
//! the TPM 1.2 commands of issue 4: TPM_Extend, TPM_PcrRead, TPM_GetRandom,
//! TPM_CreateWrapKey (RSA-2048), TPM_Seal, TPM_Unseal, TPM_Sign and TPM_Quote.
//!
//! Both TPMs are owned the same way and given the same signing key template; each
//! authorized command opens its own OIAP/OSAP session, as a TrouSerS client does,
//! and every response's HMAC is verified (so a failing command stops the run). For
//! every command the two servers take turns in rounds of a fixed length, so drift
//! of a shared machine hits both alike; the median rate of the rounds is reported
//! with the ratio vtpm-tool / swtpm. Both keep their state in a directory under the
//! system temp dir, and vtpm-tool saves it before answering every command that
//! changed it (as the stub domain does). Run with
//! `cargo bench -p vtpm-tool --bench tpm12_versus_swtpm`.

#![allow(clippy::cast_possible_truncation, reason = "benchmark lengths are small constants")]

#[path = "../../tpm12/tests/common/mod.rs"]
mod common;

use common::auth::{
    SRK, SRK_HANDLE, Side, auth_cmd, call, check_rsp, key_template, make_key, oiap, osap, own, xor,
};
use common::{Ours, Swtpm, cmd, code};
use std::time::{Duration, Instant};
use tpm12::crypto;

/// Length of one measuring round (at least one command runs per round).
const ROUND: Duration = Duration::from_millis(600);
/// Rounds per server and command.
const ROUNDS: usize = 5;
/// The signing key's usage secret.
const USAGE: [u8; 20] = [0x22; 20];
/// The sealed data's secret.
const DATA_AUTH: [u8; 20] = [0x44; 20];

/// What a side needs for the authorized commands: its signing key and a sealed blob.
struct Setup {
    key: u32,
    sealed: Vec<u8>,
}

/// TPM_Seal of 32 bytes under the SRK, without PCR binding (OSAP on the SRK).
fn seal(s: &mut dyn Side) -> Vec<u8> {
    let mut sess = osap(s, 0x0004, SRK_HANDLE, &SRK);
    let enc = xor(&DATA_AUTH, &crypto::sha1(&[&sess.shared.unwrap(), &sess.nonce_even]));
    let mut params = enc.to_vec();
    params.extend_from_slice(&0u32.to_be_bytes());
    params.extend_from_slice(&32u32.to_be_bytes());
    params.extend_from_slice(&[0x5a; 32]);
    let r = call(s, 0xC2, 0x17, &SRK_HANDLE.to_be_bytes(), &params, &mut [(&mut sess, &SRK)]);
    assert_eq!(code(&r), 0, "{}: TPM_Seal", s.name());
    r[10..r.len() - 41].to_vec()
}

/// TPM_Unseal with an OIAP session for the SRK and one for the data.
fn unseal(s: &mut dyn Side, sealed: &[u8]) {
    let mut k = oiap(s);
    let mut d = oiap(s);
    let mut sessions = [(&mut k, &SRK), (&mut d, &DATA_AUTH)];
    let r = s.tx(&auth_cmd(0xC3, 0x18, &SRK_HANDLE.to_be_bytes(), sealed, &mut sessions));
    assert_eq!(code(&r), 0, "{}: TPM_Unseal", s.name());
    check_rsp(s.name(), &r, 0x18, 0, &mut sessions);
    assert_eq!(&r[10..14], &32u32.to_be_bytes());
}

/// TPM_CreateWrapKey of an RSA-2048 binding key under the SRK (OSAP, ADIP).
fn create_wrap_key(s: &mut dyn Side) {
    let mut sess = osap(s, 0x0004, SRK_HANDLE, &SRK);
    let mut params = sess.adip(&USAGE).to_vec();
    params.extend_from_slice(&xor(&[0x33; 20], &crypto::sha1(&[&sess.shared.unwrap(), &[0; 20]])));
    params.extend_from_slice(&key_template(0x14, 0, 3, 1));
    let r = call(s, 0xC2, 0x1F, &SRK_HANDLE.to_be_bytes(), &params, &mut [(&mut sess, &SRK)]);
    assert_eq!(code(&r), 0, "{}: TPM_CreateWrapKey", s.name());
}

/// TPM_Sign of a SHA-1 digest (OIAP with the key's secret).
fn sign(s: &mut dyn Side, key: u32) {
    let mut params = 20u32.to_be_bytes().to_vec();
    params.extend_from_slice(&crypto::sha1(&[b"signed data"]));
    let mut sess = oiap(s);
    let r = call(s, 0xC2, 0x3C, &key.to_be_bytes(), &params, &mut [(&mut sess, &USAGE)]);
    assert_eq!(code(&r), 0, "{}: TPM_Sign", s.name());
}

/// TPM_Quote of PCRs 0-2 and 16 (OIAP with the key's secret).
fn quote(s: &mut dyn Side, key: u32) {
    let mut params = [0xAB; 20].to_vec();
    params.extend_from_slice(&[0, 3, 0x07, 0, 1]);
    let mut sess = oiap(s);
    let r = call(s, 0xC2, 0x16, &key.to_be_bytes(), &params, &mut [(&mut sess, &USAGE)]);
    assert_eq!(code(&r), 0, "{}: TPM_Quote", s.name());
}

/// One command of the comparison, run once on a side.
type Op = fn(&mut dyn Side, &Setup);

fn ops() -> Vec<(&'static str, Op)> {
    vec![
        ("TPM_Extend", |s, _| {
            let mut body = 10u32.to_be_bytes().to_vec();
            body.extend_from_slice(&[0x5a; 20]);
            assert_eq!(code(&s.tx(&cmd(0xC1, 0x14, &body))), 0);
        }),
        ("TPM_PcrRead", |s, _| {
            assert_eq!(code(&s.tx(&cmd(0xC1, 0x15, &10u32.to_be_bytes()))), 0);
        }),
        ("TPM_GetRandom(32)", |s, _| {
            assert_eq!(code(&s.tx(&cmd(0xC1, 0x46, &32u32.to_be_bytes()))), 0);
        }),
        ("TPM_CreateWrapKey", |s, _| create_wrap_key(s)),
        ("TPM_Seal(32)", |s, _| {
            seal(s);
        }),
        ("TPM_Unseal", |s, setup| unseal(s, &setup.sealed)),
        ("TPM_Sign", |s, setup| sign(s, setup.key)),
        ("TPM_Quote", |s, setup| quote(s, setup.key)),
    ]
}

/// Commands completed on `side` during one round, per second.
fn round(side: &mut dyn Side, setup: &Setup, op: Op) -> f64 {
    let start = Instant::now();
    let mut done = 0u32;
    while done == 0 || start.elapsed() < ROUND {
        op(side, setup);
        done += 1;
    }
    f64::from(done) / start.elapsed().as_secs_f64()
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn prepare(s: &mut dyn Side) -> Setup {
    own(s);
    let (key, _, _) = make_key(s, &key_template(0x10, 0, 1, 2), &USAGE);
    let sealed = seal(s);
    Setup { key, sealed }
}

fn main() {
    let program = common::VTPM_TOOL.expect("built as a vtpm-tool benchmark");
    // Starting swtpm panics with an install hint when it is missing.
    let mut reference = Swtpm::start();
    let mut ours = Ours::Tool(Swtpm::start_vtpm_tool(program), 0);
    let mut theirs_side = common::auth::Sw(&mut reference);
    let mut ours_side = common::auth::Eng(&mut ours, 0);
    let theirs_setup = prepare(&mut theirs_side);
    let ours_setup = prepare(&mut ours_side);
    println!(
        "TPM 1.2: vtpm-tool serve vs swtpm socket (libtpms), {ROUNDS} alternating rounds of \
         {ROUND:?}, median operations/s"
    );
    println!("{:<20} {:>10} {:>10} {:>7}", "command", "swtpm", "vtpm-tool", "ratio");
    for (name, op) in ops() {
        // Warm up (page cache, state files, first key use).
        round(&mut theirs_side, &theirs_setup, op);
        round(&mut ours_side, &ours_setup, op);
        let (mut theirs, mut mine) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            theirs.push(round(&mut theirs_side, &theirs_setup, op));
            mine.push(round(&mut ours_side, &ours_setup, op));
        }
        let (theirs, mine) = (median(theirs), median(mine));
        println!("{name:<20} {theirs:>10.1} {mine:>10.1} {:>7.2}", mine / theirs);
    }
}
