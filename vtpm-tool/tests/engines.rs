//! The shipped binary with the engines wired into it, driven by real clients.
//!
//! TPM 1.2 (`tpm12`): swtpm_bios' full start-up sequence compared with swtpm, the
//! state surviving kill -9, and the command line's refusals. TPM 2.0 tests join
//! when the `tpm2` engine is wired (see `engines::builtin`).

mod common;

use common::*;
use std::process::Command;
use tpm_engine::Family;
use vtpm_tool::engines;
use vtpm_tool::statedir::SNAPSHOT;

/// TPM_INVALID_POSTINIT: a command before TPM_Startup.
const TPM_INVALID_POSTINIT: u32 = 0x26;

fn skip_without(program: &str) -> bool {
    if have(program) {
        return false;
    }
    eprintln!("SKIPPED: {program} is not installed");
    true
}

fn pcr_value(data: std::net::SocketAddr, pcr: u32) -> Vec<u8> {
    let response = tpm(data, &tpm12::pcr_read(pcr));
    assert_eq!(response_code(&response), 0, "TPM_PCRRead: {response:02x?}");
    response[10..].to_vec()
}

#[test]
fn tpm12_is_wired() {
    assert!(engines::builtin(Family::Tpm12).is_some());
}

#[test]
fn tpm12_swtpm_bios_full_sequence_matches_swtpm() {
    if skip_without("swtpm") || skip_without("swtpm_bios") {
        return;
    }
    let reference = Swtpm::start(Family::Tpm12);
    let dir = TempDir::new("bios12");
    let ours = Tool::serve(Family::Tpm12, dir.path()).unwrap();
    let run = |addr: std::net::SocketAddr, args: &[&str]| {
        let out = Command::new("swtpm_bios")
            .arg("--tcp")
            .arg(addr.to_string())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Startup, physical presence on, enable, activate; then again (Startup now
    // fails: already started); then -cs (ContinueSelfTest) and -u (give up PP).
    for args in [&[][..], &[][..], &["-n", "-cs"][..], &["-n", "-u"][..]] {
        let theirs = run(reference.data, args);
        let mine = run(ours.data, args);
        assert_eq!(mine, theirs, "swtpm_bios {args:?}");
    }
}

#[test]
fn tpm12_state_survives_kill_9_and_an_orderly_stop_powers_off() {
    let dir = TempDir::new("kill9-12");
    let tool = Tool::serve(Family::Tpm12, dir.path()).unwrap();
    assert_eq!(response_code(&tpm(tool.data, &startup_clear(Family::Tpm12))), 0);
    let mut stream = connect(tool.data);
    for digest in [[1u8; 20], [2u8; 20]] {
        assert_eq!(response_code(&transact(&mut stream, &tpm12::extend(10, digest))), 0);
    }
    drop(stream);
    let value = pcr_value(tool.data, 10);
    assert_ne!(value, vec![0; 20]);
    tool.kill9();

    let tool = Tool::serve(Family::Tpm12, dir.path()).unwrap();
    assert!(tool.stderr.lock().unwrap().contains("(restored)"));
    assert_eq!(pcr_value(tool.data, 10), value, "the PCR after kill -9");
    assert!(tool.terminate().success());

    let tool = Tool::serve(Family::Tpm12, dir.path()).unwrap();
    assert_eq!(response_code(&tpm(tool.data, &tpm12::pcr_read(10))), TPM_INVALID_POSTINIT);
    assert_eq!(response_code(&tpm(tool.data, &startup_clear(Family::Tpm12))), 0);
    assert_eq!(pcr_value(tool.data, 10), vec![0; 20]);
    let random = tpm(tool.data, &tpm12::get_random(32));
    assert_eq!(response_code(&random), 0);
    assert_eq!(random.len(), 10 + 4 + 32);
}

/// An envelope (tpm_engine::envelope layout) claiming to hold TPM 2.0 state.
fn tpm2_snapshot() -> Vec<u8> {
    let mut bytes = b"VTPMSNAP".to_vec();
    bytes.extend_from_slice(&[0, 1, 2, 1]);
    bytes.extend_from_slice(&1u32.to_be_bytes());
    bytes.extend_from_slice(&4u32.to_be_bytes());
    bytes.extend_from_slice(b"perm");
    bytes
}

#[test]
fn binary_refuses_foreign_state_and_leaves_it() {
    let dir = TempDir::new("foreign");
    let path = dir.path().join(SNAPSHOT);
    std::fs::write(&path, tpm2_snapshot()).unwrap();
    let error = Tool::serve(Family::Tpm12, dir.path()).err().expect("served foreign state");
    assert!(error.contains("holds TPM 2.0 state, refusing to serve it as TPM 1.2"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), tpm2_snapshot());
}

#[test]
fn binary_refuses_a_locked_state_dir() {
    let dir = TempDir::new("lock-bin");
    let _first = Tool::serve(Family::Tpm12, dir.path()).unwrap();
    let error = Tool::serve(Family::Tpm12, dir.path()).err().expect("second server started");
    assert!(error.contains("in use by another process"), "{error}");
}

#[test]
fn binary_reports_a_missing_engine() {
    if engines::builtin(Family::Tpm20).is_some() {
        return;
    }
    let dir = TempDir::new("noengine");
    let error = Tool::serve(Family::Tpm20, dir.path()).err().expect("served without an engine");
    assert!(error.contains("no TPM 2.0 engine"), "{error}");
}

#[test]
fn binary_rejects_bad_arguments() {
    let status = Command::new(env!("CARGO_BIN_EXE_vtpm-tool"))
        .args(["serve", "--tpm1.2", "--ctrl", "tcp:localhost", "--state", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&status.stderr).contains("tcp:HOST:PORT"));
}
