//! The shipped binary with the engines wired into it, driven by real clients.
//!
//! TPM 1.2 (`tpm12`) and TPM 2.0 (`tpm2`): swtpm_bios compared with swtpm,
//! tpm2-tools through its swtpm TCTI, the state surviving kill -9 and resuming
//! after an orderly stop, GET_INFO, and the command line's refusals.

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
fn both_engines_are_wired() {
    assert!(engines::builtin(Family::Tpm12).is_some());
    assert!(engines::builtin(Family::Tpm20).is_some());
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
    // And a real TPM 1.2 snapshot for --tpm2.
    let dir = TempDir::new("foreign12");
    let tool = Tool::serve(Family::Tpm12, dir.path()).unwrap();
    assert!(tool.terminate().success());
    let snapshot = std::fs::read(dir.path().join(SNAPSHOT)).unwrap();
    let error = Tool::serve(Family::Tpm20, dir.path()).err().expect("served foreign state");
    assert!(error.contains("holds TPM 1.2 state, refusing to serve it as TPM 2.0"), "{error}");
    assert_eq!(std::fs::read(dir.path().join(SNAPSHOT)).unwrap(), snapshot);
}

#[test]
fn binary_refuses_a_locked_state_dir() {
    let dir = TempDir::new("lock-bin");
    let _first = Tool::serve(Family::Tpm12, dir.path()).unwrap();
    let error = Tool::serve(Family::Tpm12, dir.path()).err().expect("second server started");
    assert!(error.contains("in use by another process"), "{error}");
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

/// TPM_RC_INITIALIZE: a command before TPM2_Startup.
const TPM_RC_INITIALIZE: u32 = 0x100;

fn tpm2_pcr(data: std::net::SocketAddr, pcr: u8) -> Vec<u8> {
    let response = tpm(data, &tpm2::pcr_read(pcr));
    assert_eq!(response_code(&response), 0, "TPM2_PCR_Read: {response:02x?}");
    tpm2::pcr_value(&response)
}

#[test]
fn tpm2_state_survives_kill_9_and_resumes_after_an_orderly_stop() {
    let dir = TempDir::new("kill9-2");
    let tool = Tool::serve(Family::Tpm20, dir.path()).unwrap();
    assert_eq!(response_code(&tpm(tool.data, &startup_clear(Family::Tpm20))), 0);
    let mut stream = connect(tool.data);
    for digest in [[1u8; 32], [2u8; 32]] {
        assert_eq!(response_code(&transact(&mut stream, &tpm2::extend(10, digest))), 0);
    }
    drop(stream);
    let value = tpm2_pcr(tool.data, 10);
    assert_ne!(value, vec![0; 32]);
    tool.kill9();

    let tool = Tool::serve(Family::Tpm20, dir.path()).unwrap();
    assert_eq!(tpm2_pcr(tool.data, 10), value, "the PCR after kill -9");
    assert!(tool.terminate().success());

    // SIGTERM sent TPM2_Shutdown(STATE) first: Startup(STATE) restores the PCRs
    // that are saved (PC Client: 0-15).
    let tool = Tool::serve(Family::Tpm20, dir.path()).unwrap();
    assert_eq!(response_code(&tpm(tool.data, &tpm2::pcr_read(10))), TPM_RC_INITIALIZE);
    let resume = tpm_command(Family::Tpm20, 0x144, &[0, 1]);
    assert_eq!(response_code(&tpm(tool.data, &resume)), 0);
    assert_eq!(tpm2_pcr(tool.data, 10), value, "the PCR after Startup(STATE)");
}

fn tpm2_tools(port: u16, args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .env("TPM2TOOLS_TCTI", format!("swtpm:host=127.0.0.1,port={port}"))
        .output()
        .unwrap()
}

#[test]
fn tpm2_tools_smoke() {
    assert!(
        have("tpm2_startup"),
        "tpm2-tools is not installed: apt-get install tpm2-tools (.ci/run does)"
    );
    let dir = TempDir::new("tools");
    let port = free_port_pair();
    let tool = Tool::spawn(&[
        "serve",
        "--tpm2",
        "--server",
        &format!("tcp:127.0.0.1:{port}"),
        "--ctrl",
        &format!("tcp:127.0.0.1:{}", port + 1),
        "--state",
        dir.path().to_str().unwrap(),
    ])
    .unwrap();
    let ok = |args: &[&str]| {
        let out = tpm2_tools(port, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    ok(&["tpm2_startup", "-c"]);
    let random = ok(&["tpm2_getrandom", "8"]);
    assert_eq!(random.len(), 8);
    ok(&[
        "tpm2_pcrextend",
        "16:sha256=0000000000000000000000000000000000000000000000000000000000000001",
    ]);
    let pcrs = String::from_utf8(ok(&["tpm2_pcrread", "sha256:0,16"])).unwrap();
    assert!(
        pcrs.contains("0 : 0x0000000000000000000000000000000000000000000000000000000000000000"),
        "{pcrs}"
    );
    // SHA-256(32 zero bytes || 31 zero bytes 01), the extended PCR 16.
    assert!(
        pcrs.contains("16: 0x90F4B39548DF55AD6187A1D20D731ECEE78C545B94AFD16F42EF7592D99CD365"),
        "{pcrs}"
    );
    // The tools set the locality on the control channel before each command.
    let random = ok(&["tpm2_getrandom", "--hex", "16"]);
    assert_eq!(random.len(), 32);
    drop(tool);
}

#[test]
fn tpm2_swtpm_bios_matches_swtpm() {
    if skip_without("swtpm") || skip_without("swtpm_bios") {
        return;
    }
    let reference = Swtpm::start(Family::Tpm20);
    let dir = TempDir::new("bios2");
    let ours = Tool::serve(Family::Tpm20, dir.path()).unwrap();
    let run = |addr: std::net::SocketAddr, args: &[&str]| {
        let out = Command::new("swtpm_bios")
            .arg("--tpm2")
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
    for args in [&[][..], &[][..], &["-n", "-cs"][..], &["-n", "-u"][..]] {
        assert_eq!(run(ours.data, args), run(reference.data, args), "swtpm_bios --tpm2 {args:?}");
    }
}

#[test]
fn get_info_reports_the_wired_engines() {
    for (family, expected) in [
        (
            Family::Tpm12,
            r#"{"TPMSpecification":{"family":"1.2","level":2,"revision":116},"TPMAttributes":{"manufacturer":"id:58565450","version":"id:00010000","model":"rust-vtpm"}}"#,
        ),
        (
            Family::Tpm20,
            r#"{"TPMSpecification":{"family":"2.0","level":0,"revision":159},"TPMAttributes":{"manufacturer":"id:52555354","version":"id:00010000","model":"rust-vtpm"}}"#,
        ),
    ] {
        let dir = TempDir::new("info");
        let tool = Tool::serve(family, dir.path()).unwrap();
        let mut request = 3u64.to_be_bytes().to_vec();
        request.extend_from_slice(&[0; 8]);
        let reply = ctrl(tool.ctrl, 0x12, &request);
        assert_eq!(&reply[12..reply.len() - 1], expected.as_bytes());
    }
}
