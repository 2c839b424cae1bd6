//! Test support: a libtpms reference (swtpm in TPM 1.2 mode) driven over its TCP
//! sockets, this engine in-process, and helpers that send both the same commands.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tpm_engine::{Drbg, ExecContext, TpmEngine};
use tpm12::{Config, Tpm12, VersionInfo};

/// swtpm control-channel commands (swtpm's ptm ioctl numbering).
const CMD_INIT: u32 = 2;
const CMD_SET_LOCALITY: u32 = 5;
const CMD_HASH_START: u32 = 6;
const CMD_HASH_DATA: u32 = 7;
const CMD_HASH_END: u32 = 8;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A running swtpm (TPM 1.2 mode, swtpm's default), killed on drop.
pub struct Swtpm {
    child: Child,
    dir: PathBuf,
    data: TcpStream,
    ctrl_port: u16,
}

impl Swtpm {
    /// Starts swtpm with a fresh state directory. Panics with an install hint if
    /// swtpm is missing: the differential tests must not pass silently.
    pub fn start() -> Self {
        let found = Command::new("swtpm")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if found.is_err() {
            panic!(
                "swtpm is not installed: the TPM 1.2 differential tests need it \
                 (Debian/Ubuntu: apt-get install swtpm swtpm-tools)"
            );
        }
        for _attempt in 0..5 {
            let dir = std::env::temp_dir().join(format!(
                "tpm12-diff-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let (port, ctrl_port) = (free_port(), free_port());
            let mut child = Command::new("swtpm")
                .arg("socket")
                .arg("--tpmstate")
                .arg(format!("dir={}", dir.display()))
                .arg("--server")
                .arg(format!("type=tcp,port={port}"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={ctrl_port}"))
                .arg("--flags")
                .arg("not-need-init,startup-clear")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot run swtpm");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Ok(data) = TcpStream::connect(("127.0.0.1", port)) {
                    data.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                    return Self { child, dir, data, ctrl_port };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("swtpm did not start");
    }

    /// Sends one command and reads the whole response.
    pub fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        self.data.write_all(command).unwrap();
        let mut header = [0u8; 10];
        self.data.read_exact(&mut header).unwrap();
        let size = u32::from_be_bytes(header[2..6].try_into().unwrap()) as usize;
        let mut rest = vec![0u8; size - 10];
        self.data.read_exact(&mut rest).unwrap();
        let mut out = header.to_vec();
        out.extend_from_slice(&rest);
        out
    }

    fn ctrl(&mut self, cmd: u32, payload: &[u8]) -> u32 {
        let mut s = TcpStream::connect(("127.0.0.1", self.ctrl_port)).unwrap();
        let mut msg = cmd.to_be_bytes().to_vec();
        msg.extend_from_slice(payload);
        s.write_all(&msg).unwrap();
        let mut result = [0u8; 4];
        s.read_exact(&mut result).unwrap();
        u32::from_be_bytes(result)
    }

    /// CMD_INIT: _TPM_Init.
    pub fn init(&mut self) {
        assert_eq!(self.ctrl(CMD_INIT, &0u32.to_be_bytes()), 0);
    }

    /// CMD_SET_LOCALITY.
    pub fn set_locality(&mut self, locality: u8) {
        assert_eq!(self.ctrl(CMD_SET_LOCALITY, &[locality]), 0);
    }

    /// CMD_HASH_START / DATA / END: a DRTM measurement.
    pub fn hash(&mut self, data: &[u8]) {
        assert_eq!(self.ctrl(CMD_HASH_START, &[]), 0);
        let mut payload = (data.len() as u32).to_be_bytes().to_vec();
        payload.extend_from_slice(data);
        assert_eq!(self.ctrl(CMD_HASH_DATA, &payload), 0);
        assert_eq!(self.ctrl(CMD_HASH_END, &[]), 0);
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The engine configured to report what libtpms reports where the specification
/// leaves the value to the vendor (manufacturer "IBM"), so answers compare byte
/// for byte. Timeouts and durations stay the vTPM's (a deliberate difference).
pub fn libtpms_like_config() -> Config {
    Config {
        version: VersionInfo {
            rev_major: 0,
            rev_minor: 0,
            spec_level: 2,
            errata_rev: 3,
            vendor_id: *b"IBM\0",
            vendor_specific: Vec::new(),
        },
        ..Config::default()
    }
}

/// A fresh engine with a fixed DRBG seed, already past _TPM_Init and
/// TPM_Startup(ST_CLEAR) like swtpm with `--flags startup-clear`.
pub fn engine_started(config: Config) -> Tpm12 {
    let mut tpm = Tpm12::new(Drbg::from_seed([0x5A; 32]), config).unwrap();
    let rsp = tpm.execute(ctx(0), &cmd(0xC1, 0x99, &1u16.to_be_bytes()));
    assert_eq!(code(&rsp), 0);
    tpm
}

/// An execution context at `locality`.
pub fn ctx(locality: u8) -> ExecContext {
    ExecContext { locality, now_ms: 0 }
}

/// A command with header.
pub fn cmd(tag: u16, ordinal: u32, body: &[u8]) -> Vec<u8> {
    let mut v = tag.to_be_bytes().to_vec();
    v.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&ordinal.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// The return code of a response.
pub fn code(rsp: &[u8]) -> u32 {
    u32::from_be_bytes(rsp[6..10].try_into().unwrap())
}

/// Checks the framing every response must have.
pub fn assert_well_formed(rsp: &[u8]) {
    assert!(rsp.len() >= 10, "short response {rsp:02x?}");
    assert_eq!(u32::from_be_bytes(rsp[2..6].try_into().unwrap()) as usize, rsp.len());
}

/// swtpm and the engine, fed the same commands.
pub struct Pair {
    pub sw: Swtpm,
    pub tpm: Tpm12,
    pub locality: u8,
    /// Sequences (commands) compared so far.
    pub compared: usize,
}

impl Pair {
    /// Both started with ST_CLEAR.
    pub fn new() -> Self {
        Self {
            sw: Swtpm::start(),
            tpm: engine_started(libtpms_like_config()),
            locality: 0,
            compared: 0,
        }
    }

    /// Sends `command` to both; returns (swtpm, engine).
    pub fn both(&mut self, command: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let a = self.sw.transmit(command);
        let b = self.tpm.execute(ctx(self.locality), command);
        assert_well_formed(&a);
        assert_well_formed(&b);
        self.compared += 1;
        (a, b)
    }

    /// Sends `command` to both and requires identical responses.
    pub fn same(&mut self, command: &[u8]) -> Vec<u8> {
        let (a, b) = self.both(command);
        assert_eq!(hex(&b), hex(&a), "engine differs from libtpms for command {}", hex(command));
        b
    }

    /// Sends `command` to both and requires the same return code (and, on success,
    /// the same length).
    pub fn same_code(&mut self, command: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let (a, b) = self.both(command);
        assert_eq!(
            code(&b),
            code(&a),
            "return codes differ for {}: libtpms {} engine {}",
            hex(command),
            hex(&a),
            hex(&b)
        );
        (a, b)
    }

    /// Moves both to `locality`.
    pub fn set_locality(&mut self, locality: u8) {
        self.sw.set_locality(locality);
        self.locality = locality;
    }

    /// _TPM_Init on both.
    pub fn init(&mut self) {
        self.sw.init();
        self.tpm.init();
    }
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
