//! Test support: a libtpms reference (swtpm in TPM 1.2 mode) driven over its TCP
//! sockets, this engine in-process, and helpers that send both the same commands.

#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod auth;

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
        Self::spawn("swtpm", "tpm12-diff", |dir, port, ctrl_port| {
            vec![
                "socket".into(),
                "--tpmstate".into(),
                format!("dir={}", dir.display()),
                "--server".into(),
                format!("type=tcp,port={port}"),
                "--ctrl".into(),
                format!("type=tcp,port={ctrl_port}"),
                "--flags".into(),
                "not-need-init,startup-clear".into(),
            ]
        })
    }

    /// Starts `vtpm-tool serve --tpm1.2` (the binary at `program`) with a fresh
    /// state directory, reporting libtpms's vendor identity (`--vendor IBM
    /// --firmware 0.0`, as [`libtpms_like_config`]), and sends it
    /// TPM_Startup(ST_CLEAR), so it is where swtpm with `startup-clear` is.
    pub fn start_vtpm_tool(program: &str) -> Self {
        let mut server = Self::spawn(program, "tpm12-diff-tool", |dir, port, ctrl_port| {
            vec![
                "serve".into(),
                "--tpm1.2".into(),
                "--server".into(),
                format!("tcp:127.0.0.1:{port}"),
                "--ctrl".into(),
                format!("tcp:127.0.0.1:{ctrl_port}"),
                "--state".into(),
                dir.display().to_string(),
                "--vendor".into(),
                "IBM".into(),
                "--firmware".into(),
                "0.0".into(),
            ]
        });
        let rsp = server.transmit(&cmd(0xC1, 0x99, &1u16.to_be_bytes()));
        assert_eq!(code(&rsp), 0, "vtpm-tool: TPM_Startup(ST_CLEAR) failed");
        server
    }

    /// Runs `program` with the arguments `args(state dir, data port, ctrl port)`
    /// on free loopback ports until its data channel accepts a connection.
    fn spawn(
        program: &str,
        prefix: &str,
        args: impl Fn(&std::path::Path, u16, u16) -> Vec<String>,
    ) -> Self {
        for _attempt in 0..5 {
            let dir = std::env::temp_dir().join(format!(
                "{prefix}-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let (port, ctrl_port) = (free_port(), free_port());
            let mut child = Command::new(program)
                .args(args(&dir, port, ctrl_port))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
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
        panic!("{program} did not start");
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

/// The TPM the tests check against libtpms. Compiled into this crate's tests it is
/// the engine in-process; compiled into vtpm-tool's tests (which include these
/// suites with `#[path]`, and where Cargo sets `CARGO_BIN_EXE_vtpm-tool`) it is the
/// real `vtpm-tool serve --tpm1.2` binary over swtpm's socket protocol.
pub enum Ours {
    /// The engine, called directly.
    Engine(Box<Tpm12>),
    /// `vtpm-tool serve --tpm1.2`, and the locality last set on its control channel.
    Tool(Swtpm, u8),
}

/// The vtpm-tool binary these tests drive, when they are built as vtpm-tool's.
pub const VTPM_TOOL: Option<&str> = option_env!("CARGO_BIN_EXE_vtpm-tool");

impl Ours {
    /// A started TPM (past TPM_Startup(ST_CLEAR)) identifying as libtpms does.
    pub fn started() -> Self {
        match VTPM_TOOL {
            Some(program) => Self::Tool(Swtpm::start_vtpm_tool(program), 0),
            None => Self::Engine(Box::new(engine_started(libtpms_like_config()))),
        }
    }

    /// Executes one command at `context.locality` (the server keeps its own clock).
    pub fn execute(&mut self, context: ExecContext, command: &[u8]) -> Vec<u8> {
        match self {
            Self::Engine(tpm) => tpm.execute(context, command),
            Self::Tool(server, locality) => {
                if *locality != context.locality {
                    server.set_locality(context.locality);
                    *locality = context.locality;
                }
                server.transmit(command)
            }
        }
    }

    /// _TPM_Init (CMD_INIT for the server).
    pub fn init(&mut self) {
        match self {
            Self::Engine(tpm) => tpm.init(),
            Self::Tool(server, _) => server.init(),
        }
    }

    /// A whole _TPM_Hash_Start / _TPM_Hash_Data / _TPM_Hash_End measurement.
    pub fn hash(&mut self, data: &[u8]) {
        match self {
            Self::Engine(tpm) => {
                tpm.hash_start();
                tpm.hash_data(data);
                tpm.hash_end();
            }
            Self::Tool(server, _) => server.hash(data),
        }
    }

    /// What the messages call this side.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Engine(_) => "engine",
            Self::Tool(..) => "vtpm-tool",
        }
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

/// An execution context at `locality`, at time 0 (tests of the engine alone).
pub fn ctx(locality: u8) -> ExecContext {
    ExecContext { locality, now_ms: 0 }
}

/// An execution context at `locality` on the wall clock (milliseconds since the
/// test binary started), so the engine's lockout timing runs alongside libtpms's.
pub fn live_ctx(locality: u8) -> ExecContext {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    ExecContext { locality, now_ms: u64::try_from(start.elapsed().as_millis()).unwrap() }
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

/// swtpm and ours (the engine or vtpm-tool, see [`Ours`]), fed the same commands.
pub struct Pair {
    pub sw: Swtpm,
    pub tpm: Ours,
    pub locality: u8,
    /// Sequences (commands) compared so far.
    pub compared: usize,
}

impl Pair {
    /// Both started with ST_CLEAR.
    pub fn new() -> Self {
        Self { sw: Swtpm::start(), tpm: Ours::started(), locality: 0, compared: 0 }
    }

    /// Sends `command` to both; returns (swtpm, engine).
    pub fn both(&mut self, command: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let a = self.sw.transmit(command);
        let b = self.tpm.execute(live_ctx(self.locality), command);
        assert_well_formed(&a);
        assert_well_formed(&b);
        self.compared += 1;
        (a, b)
    }

    /// Sends `command` to both and requires identical responses.
    pub fn same(&mut self, command: &[u8]) -> Vec<u8> {
        let (a, b) = self.both(command);
        let ours = self.tpm.name();
        assert_eq!(hex(&b), hex(&a), "{ours} differs from libtpms for command {}", hex(command));
        b
    }

    /// Sends `command` to both and requires the same return code (and, on success,
    /// the same length).
    pub fn same_code(&mut self, command: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let (a, b) = self.both(command);
        assert_eq!(
            code(&b),
            code(&a),
            "return codes differ for {}: libtpms {} {} {}",
            hex(command),
            self.tpm.name(),
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

    /// Runs `scenario` against libtpms, then the engine, and requires the two logs
    /// to agree; returns the number of compared steps.
    pub fn agree(&mut self, mut scenario: impl FnMut(&mut dyn auth::Side) -> auth::Log) -> usize {
        let a = scenario(&mut auth::Sw(&mut self.sw));
        let b = scenario(&mut auth::Eng(&mut self.tpm, self.locality));
        let n = auth::assert_logs_agree(&a, &b);
        self.compared += n;
        n
    }

    /// Runs `setup` on both sides (results not compared: keys and nonces differ) and
    /// returns what each side produced, libtpms first.
    pub fn each<T>(&mut self, mut setup: impl FnMut(&mut dyn auth::Side) -> T) -> (T, T) {
        let a = setup(&mut auth::Sw(&mut self.sw));
        let b = setup(&mut auth::Eng(&mut self.tpm, self.locality));
        (a, b)
    }
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
