//! `--state`: save before every answer, survive kill -9, refuse foreign state.

#![allow(clippy::cast_possible_truncation, reason = "test lengths are small constants")]

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use tpm_engine::Family;
use vtpm_tool::Error;
use vtpm_tool::ctrl::cmd;
use vtpm_tool::endpoint::Endpoint;
use vtpm_tool::server::{Config, Server};
use vtpm_tool::statedir::SNAPSHOT;

const CHILD: &str = "VTPM_TOOL_TEST_CHILD";

/// Not a test of its own: the server process the kill -9 test starts (this test
/// binary, re-run with the environment variable set) serving the fake engine.
#[test]
fn child_server() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let (family, dir) = spec.split_once(':').unwrap();
    let family = if family == "1" { Family::Tpm12 } else { Family::Tpm20 };
    let (engine, _log) = fake_spec(family);
    let any = || Endpoint::Tcp { host: "127.0.0.1".into(), port: 0 };
    let server =
        Server::start(Config { engine, data: Some(any()), ctrl: any(), state_dir: dir.into() })
            .unwrap();
    let data = tcp_addr(&server.data_endpoint().unwrap());
    let ctrl = tcp_addr(&server.ctrl_endpoint());
    println!("READY {data} {ctrl}");
    std::io::stdout().flush().unwrap();
    server.run().unwrap();
}

struct ChildServer {
    child: Child,
    data: SocketAddr,
}

fn spawn_child(family: Family, dir: &TempDir) -> ChildServer {
    let code = if family == Family::Tpm12 { "1" } else { "2" };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_server", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{code}:{}", dir.path().display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines().map_while(Result::ok) {
        // libtest prints "test child_server ... " on the same line first.
        if let Some((_, rest)) = line.split_once("READY ") {
            let (data, _ctrl) = rest.split_once(' ').unwrap();
            return ChildServer { child, data: data.parse().unwrap() };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("child server did not start");
}

impl ChildServer {
    /// SIGKILL: the server gets no chance to save anything.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kill_9_between_commands_keeps_the_last_answered_state() {
    for family in [Family::Tpm12, Family::Tpm20] {
        let dir = TempDir::new("kill9");
        let server = spawn_child(family, &dir);
        assert_eq!(response_code(&tpm(server.data, &startup_clear(family))), 0);
        let identity = read_state(server.data, family).identity;
        let mut stream = connect(server.data);
        for round in 0..3u8 {
            assert_eq!(
                response_code(&transact(&mut stream, &tpm_command(family, FAKE_INCREMENT, &[]))),
                0
            );
            let extend = tpm_command(family, FAKE_EXTEND, &[round; 4]);
            assert_eq!(response_code(&transact(&mut stream, &extend)), 0);
        }
        let before = Observed::decode(&transact(&mut stream, &tpm_command(family, FAKE_READ, &[])));
        server.kill9();
        drop(stream);

        let again = spawn_child(family, &dir);
        // Resumed exactly: no Startup needed, counter and PCR as answered last.
        let after = read_state(again.data, family);
        assert_eq!(after, before);
        assert_eq!(after.identity, identity);
        assert_eq!(after.counter, 3);
        again.kill9();
    }
}

#[test]
fn orderly_stop_saves_a_powered_off_tpm() {
    let family = Family::Tpm20;
    let dir = TempDir::new("orderly");
    let server = start_fake(family, dir.path());
    assert_eq!(response_code(&tpm(server.data_addr(), &startup_clear(family))), 0);
    assert_eq!(
        response_code(&tpm(server.data_addr(), &tpm_command(family, FAKE_EXTEND, b"save"))),
        0
    );
    let before = read_state(server.data_addr(), family);
    server.stop().unwrap();

    let again = start_fake(family, dir.path());
    let d = again.data_addr();
    assert_eq!(response_code(&tpm(d, &tpm_command(family, FAKE_READ, &[]))), rc_initialize(family));
    // The automatic TPM2_Shutdown(STATE) lets Startup(STATE) resume.
    let resume = tpm_command(family, startup_ordinal(family), &[0, 1]);
    assert_eq!(response_code(&tpm(d, &resume)), 0);
    assert_eq!(read_state(d, family), before);
}

#[test]
fn fresh_state_dir_is_manufactured_and_saved_before_any_command() {
    let dir = TempDir::new("fresh");
    let server = start_fake(Family::Tpm12, dir.path());
    assert!(dir.path().join(SNAPSHOT).exists());
    let first = read_state_started(&server, Family::Tpm12);
    let other_dir = TempDir::new("fresh2");
    let other = start_fake(Family::Tpm12, other_dir.path());
    assert_ne!(
        read_state_started(&other, Family::Tpm12).identity,
        first.identity,
        "DRBG seeds differ"
    );
}

fn read_state_started(server: &Running, family: Family) -> Observed {
    assert_eq!(response_code(&tpm(server.data_addr(), &startup_clear(family))), 0);
    read_state(server.data_addr(), family)
}

fn try_start(family: Family, dir: &TempDir) -> Result<Server, Error> {
    let (engine, _) = fake_spec(family);
    let any = || Endpoint::Tcp { host: "127.0.0.1".into(), port: 0 };
    Server::start(Config { engine, data: Some(any()), ctrl: any(), state_dir: dir.path().into() })
}

#[test]
fn snapshot_of_the_other_family_is_refused_and_left_alone() {
    let dir = TempDir::new("family");
    start_fake(Family::Tpm20, dir.path()).stop().unwrap();
    let snapshot = std::fs::read(dir.path().join(SNAPSHOT)).unwrap();
    let error = try_start(Family::Tpm12, &dir).unwrap_err();
    assert!(
        matches!(error, Error::WrongFamily { found: Family::Tpm20, wanted: Family::Tpm12, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("TPM 2.0"), "{error}");
    assert_eq!(std::fs::read(dir.path().join(SNAPSHOT)).unwrap(), snapshot);
}

#[test]
fn corrupt_snapshot_is_refused_and_left_alone() {
    let dir = TempDir::new("corrupt");
    std::fs::write(dir.path().join(SNAPSHOT), b"VTPMSNAP garbage").unwrap();
    assert!(matches!(try_start(Family::Tpm20, &dir), Err(Error::BadSnapshot { .. })));
    assert_eq!(std::fs::read(dir.path().join(SNAPSHOT)).unwrap(), b"VTPMSNAP garbage");
}

#[test]
fn state_dir_serves_one_server_at_a_time() {
    let dir = TempDir::new("locked");
    let first = start_fake(Family::Tpm20, dir.path());
    assert!(matches!(try_start(Family::Tpm20, &dir), Err(Error::StateLocked(_))));
    first.stop().unwrap();
    assert!(try_start(Family::Tpm20, &dir).is_ok());
}

#[test]
fn every_state_change_is_on_disk_before_the_answer() {
    let family = Family::Tpm12;
    let dir = TempDir::new("ondisk");
    let server = start_fake(family, dir.path());
    let d = server.data_addr();
    let snapshot = || std::fs::read(dir.path().join(SNAPSHOT)).unwrap();
    let mut last = snapshot();
    let mut stream = connect(d);
    for command in [
        startup_clear(family),
        tpm_command(family, FAKE_INCREMENT, &[]),
        tpm_command(family, FAKE_EXTEND, b"disk"),
    ] {
        assert_eq!(response_code(&transact(&mut stream, &command)), 0);
        let now = snapshot();
        assert_ne!(now, last, "answered before the change was saved");
        last = now;
    }
    // A read-only command leaves the file alone.
    assert_eq!(response_code(&transact(&mut stream, &tpm_command(family, FAKE_READ, &[]))), 0);
    assert_eq!(snapshot(), last);
    // So does a control command that changes nothing; one that changes the
    // permanent state saves it.
    assert_eq!(result_of(&ctrl(server.ctrl_addr(), cmd::GET_TPMESTABLISHED, &[])), 0);
    assert_eq!(snapshot(), last);
    assert_eq!(result_of(&ctrl(server.ctrl_addr(), cmd::HASH_START, &[])), 0);
    assert_ne!(snapshot(), last);
    assert!(!dir.path().join("tpm-state.vtpm.tmp").exists());
}
