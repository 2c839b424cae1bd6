//! Test support: a scripted fake engine, a server runner, raw channel clients.
//!
//! The fake engine is for protocol tests only (it is never built into the tool).
//! It keeps a little state of each kind so persistence can be observed: a counter
//! and an identity (permanent), a "PCR" and the started flag (volatile), and a
//! SaveState copy of the PCR. Its commands use the real Startup/Shutdown ordinals
//! of both families plus three private ones.

#![allow(dead_code, reason = "each test crate uses a different part of this module")]
#![allow(clippy::cast_possible_truncation, reason = "test lengths are small constants")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tpm_engine::{Dirty, Drbg, ExecContext, Family, StateError, StateKind, TpmEngine};
use vtpm_tool::Error;
use vtpm_tool::endpoint::Endpoint;
use vtpm_tool::engines::{BoxedEngine, EngineInfo, EngineSpec};
use vtpm_tool::server::{Config, Exit, Handle, Server};
use zeroize::Zeroizing;

/// Fake ordinal: increments the permanent counter.
pub const FAKE_INCREMENT: u32 = 0x2000_0001;
/// Fake ordinal: mixes 4 parameter bytes into the volatile PCR.
pub const FAKE_EXTEND: u32 = 0x2000_0002;
/// Fake ordinal: reports the state (see [`Observed`]).
pub const FAKE_READ: u32 = 0x2000_0003;

/// TPM2_CC_Startup / TPM_ORD_Startup.
pub fn startup_ordinal(family: Family) -> u32 {
    match family {
        Family::Tpm12 => 0x99,
        Family::Tpm20 => 0x144,
    }
}

/// TPM2_CC_Shutdown / TPM_ORD_SaveState.
pub fn shutdown_ordinal(family: Family) -> u32 {
    match family {
        Family::Tpm12 => 0x98,
        Family::Tpm20 => 0x145,
    }
}

/// TPM_RC_INITIALIZE / TPM_INVALID_POSTINIT: no Startup yet, or a second one.
pub fn rc_initialize(family: Family) -> u32 {
    match family {
        Family::Tpm12 => 0x26,
        Family::Tpm20 => 0x100,
    }
}

fn rsp_tag(family: Family) -> u16 {
    match family {
        Family::Tpm12 => 0x00c4,
        Family::Tpm20 => 0x8001,
    }
}

/// One command as the engine received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub locality: u8,
    pub command: Vec<u8>,
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

/// The scripted engine.
pub struct FakeEngine {
    family: Family,
    log: Log,
    identity: u64,
    counter: u32,
    established: bool,
    started: bool,
    pcr: [u8; 32],
    hashing: Option<[u8; 32]>,
    saved_pcr: Option<[u8; 32]>,
    dirty: Dirty,
    buffer: usize,
}

fn limits(family: Family) -> (usize, usize) {
    // libtpms' numbers, so control-channel answers compare equal with swtpm's.
    match family {
        Family::Tpm12 => (3072, 4096),
        Family::Tpm20 => (2808, 4096),
    }
}

fn mix(acc: &mut [u8; 32], data: &[u8]) {
    for (i, b) in data.iter().enumerate() {
        let slot = &mut acc[i % 32];
        *slot = slot.rotate_left(3) ^ b ^ (i as u8).wrapping_mul(31);
    }
    acc.rotate_left(1);
}

impl FakeEngine {
    pub fn new(family: Family, mut drbg: Drbg, log: Log) -> Self {
        let mut id = [0u8; 8];
        drbg.fill(&mut id);
        Self {
            family,
            log,
            identity: u64::from_be_bytes(id),
            counter: 0,
            established: false,
            started: false,
            pcr: [0; 32],
            hashing: None,
            saved_pcr: None,
            dirty: Dirty { permanent: true, volatile: true },
            buffer: limits(family).1,
        }
    }

    fn respond(&self, code: u32, body: &[u8]) -> Vec<u8> {
        let mut out = rsp_tag(self.family).to_be_bytes().to_vec();
        out.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(body);
        out
    }
}

impl TpmEngine for FakeEngine {
    fn family(&self) -> Family {
        self.family
    }

    fn init(&mut self) {
        self.started = false;
        self.pcr = [0; 32];
        self.hashing = None;
        self.dirty.volatile = true;
    }

    fn execute(&mut self, context: ExecContext, command: &[u8]) -> Vec<u8> {
        self.log
            .lock()
            .unwrap()
            .push(Seen { locality: context.locality, command: command.to_vec() });
        let size_error = match self.family {
            Family::Tpm12 => 0x19,
            Family::Tpm20 => 0x142,
        };
        if command.len() < 10
            || u32::from_be_bytes(command[2..6].try_into().unwrap()) as usize != command.len()
        {
            return self.respond(size_error, &[]);
        }
        let ordinal = u32::from_be_bytes(command[6..10].try_into().unwrap());
        let params = &command[10..];
        let param16 = params.get(..2).map(|p| u16::from_be_bytes([p[0], p[1]]));
        if ordinal == startup_ordinal(self.family) {
            if self.started {
                return self.respond(rc_initialize(self.family), &[]);
            }
            let resume = match (self.family, param16) {
                (Family::Tpm20, Some(1)) | (Family::Tpm12, Some(2)) => true,
                (_, Some(_)) => false,
                (_, None) => return self.respond(size_error, &[]),
            };
            if resume {
                match self.saved_pcr.take() {
                    Some(pcr) => self.pcr = pcr,
                    None => return self.respond(0x84, &[]),
                }
            } else {
                self.saved_pcr = None;
            }
            self.started = true;
            self.dirty = Dirty { permanent: true, volatile: true };
            return self.respond(0, &[]);
        }
        if !self.started {
            return self.respond(rc_initialize(self.family), &[]);
        }
        match ordinal {
            o if o == shutdown_ordinal(self.family) => {
                // TPM 2.0: SU_STATE (1) keeps the PCR for Startup(STATE); SU_CLEAR
                // forgets it. TPM 1.2 TPM_SaveState always keeps it.
                let keep = self.family == Family::Tpm12 || param16 == Some(1);
                self.saved_pcr = keep.then_some(self.pcr);
                self.dirty.permanent = true;
                self.respond(0, &[])
            }
            FAKE_INCREMENT => {
                self.counter += 1;
                self.dirty.permanent = true;
                self.respond(0, &self.counter.to_be_bytes())
            }
            FAKE_EXTEND => {
                mix(&mut self.pcr, params);
                self.dirty.volatile = true;
                self.respond(0, &[])
            }
            FAKE_READ => {
                let observed = Observed {
                    identity: self.identity,
                    counter: self.counter,
                    pcr: self.pcr,
                    locality: context.locality,
                    established: self.established,
                };
                self.respond(0, &observed.encode())
            }
            _ => self.respond(
                match self.family {
                    Family::Tpm12 => 0x0a,
                    Family::Tpm20 => 0x143,
                },
                &[],
            ),
        }
    }

    fn dirty(&self) -> Dirty {
        self.dirty
    }

    fn clear_dirty(&mut self) {
        self.dirty = Dirty::default();
    }

    fn save_state(&self, kind: StateKind) -> Result<Zeroizing<Vec<u8>>, StateError> {
        let mut out = Vec::new();
        match kind {
            StateKind::Permanent => {
                out.extend_from_slice(b"FAKEPERM");
                out.push(self.family.code());
                out.extend_from_slice(&self.identity.to_be_bytes());
                out.extend_from_slice(&self.counter.to_be_bytes());
                out.push(u8::from(self.established));
            }
            StateKind::Volatile => {
                out.extend_from_slice(b"FAKEVOL.");
                out.extend_from_slice(&self.identity.to_be_bytes());
                out.push(u8::from(self.started));
                out.extend_from_slice(&self.pcr);
            }
            StateKind::SaveState => {
                let pcr = self.saved_pcr.ok_or(StateError::NotAvailable)?;
                out.extend_from_slice(b"FAKESAVE");
                out.extend_from_slice(&pcr);
            }
        }
        Ok(Zeroizing::new(out))
    }

    fn load_state(&mut self, kind: StateKind, blob: &[u8]) -> Result<(), StateError> {
        match kind {
            StateKind::Permanent => {
                if blob.len() != 8 + 1 + 8 + 4 + 1 {
                    return Err(StateError::Truncated);
                }
                if &blob[..8] != b"FAKEPERM" {
                    return Err(StateError::BadMagic);
                }
                if blob[8] != self.family.code() {
                    return Err(StateError::Malformed);
                }
                self.identity = u64::from_be_bytes(blob[9..17].try_into().unwrap());
                self.counter = u32::from_be_bytes(blob[17..21].try_into().unwrap());
                self.established = blob[21] != 0;
                self.init();
            }
            StateKind::Volatile => {
                if blob.len() != 8 + 8 + 1 + 32 || &blob[..8] != b"FAKEVOL." {
                    return Err(StateError::Malformed);
                }
                if u64::from_be_bytes(blob[8..16].try_into().unwrap()) != self.identity {
                    return Err(StateError::Inconsistent);
                }
                self.started = blob[16] != 0;
                self.pcr.copy_from_slice(&blob[17..]);
            }
            StateKind::SaveState => {
                if blob.len() != 8 + 32 || &blob[..8] != b"FAKESAVE" {
                    return Err(StateError::Malformed);
                }
                self.saved_pcr = Some(blob[8..].try_into().unwrap());
            }
        }
        Ok(())
    }

    fn reseed(&mut self, _entropy: &[u8]) {}

    fn buffer_size(&self) -> usize {
        self.buffer
    }

    fn set_buffer_size(&mut self, requested: usize) -> usize {
        let (min, max) = limits(self.family);
        self.buffer = requested.clamp(min, max);
        self.buffer
    }

    fn established(&self) -> bool {
        self.established
    }

    fn reset_established(&mut self, locality: u8) -> bool {
        if locality != 3 && locality != 4 {
            return false;
        }
        self.established = false;
        self.dirty.permanent = true;
        true
    }

    fn hash_start(&mut self) {
        self.established = true;
        self.hashing = Some([0; 32]);
        self.dirty = Dirty { permanent: true, volatile: true };
    }

    fn hash_data(&mut self, data: &[u8]) {
        if let Some(acc) = &mut self.hashing {
            mix(acc, data);
        }
    }

    fn hash_end(&mut self) {
        if let Some(acc) = self.hashing.take() {
            mix(&mut self.pcr, &acc);
            self.dirty.volatile = true;
        }
    }
}

/// What [`FAKE_READ`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    pub identity: u64,
    pub counter: u32,
    pub pcr: [u8; 32],
    pub locality: u8,
    pub established: bool,
}

impl Observed {
    fn encode(&self) -> Vec<u8> {
        let mut out = self.identity.to_be_bytes().to_vec();
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(&self.pcr);
        out.push(self.locality);
        out.push(u8::from(self.established));
        out
    }

    pub fn decode(response: &[u8]) -> Self {
        assert_eq!(response.len(), 10 + 8 + 4 + 32 + 2, "FAKE_READ response {response:02x?}");
        let body = &response[10..];
        Self {
            identity: u64::from_be_bytes(body[..8].try_into().unwrap()),
            counter: u32::from_be_bytes(body[8..12].try_into().unwrap()),
            pcr: body[12..44].try_into().unwrap(),
            locality: body[44],
            established: body[45] != 0,
        }
    }
}

/// libtpms' GET_INFO answers, so the fake compares equal with swtpm.
pub fn libtpms_info(family: Family) -> EngineInfo {
    match family {
        Family::Tpm12 => EngineInfo {
            level: 2,
            revision: 116,
            manufacturer: "id:00001014".into(),
            version: "id:00740001".into(),
            model: "swtpm".into(),
        },
        Family::Tpm20 => EngineInfo {
            level: 0,
            revision: 164,
            manufacturer: "id:00001014".into(),
            version: "id:20191023".into(),
            model: "swtpm".into(),
        },
    }
}

/// An engine table entry that builds fakes sharing one command log.
pub fn fake_spec(family: Family) -> (EngineSpec, Log) {
    let log: Log = Arc::default();
    let shared = Arc::clone(&log);
    let build = Arc::new(move |drbg: Drbg| -> Result<BoxedEngine, _> {
        Ok(Box::new(FakeEngine::new(family, drbg, Arc::clone(&shared))) as BoxedEngine)
    });
    (EngineSpec { family, info: libtpms_info(family), build }, log)
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        Self::new_in(&std::env::temp_dir(), name)
    }

    pub fn new_in(base: &Path, name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = base.join(format!("vtpm-tool-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server running in a thread of the test process.
pub struct Running {
    pub data: Option<SocketAddr>,
    pub ctrl: Endpoint,
    pub handle: Handle,
    pub log: Log,
    pub thread: Option<JoinHandle<Result<Exit, Error>>>,
}

impl Running {
    pub fn ctrl_addr(&self) -> SocketAddr {
        tcp_addr(&self.ctrl)
    }

    pub fn data_addr(&self) -> SocketAddr {
        self.data.expect("no data channel")
    }

    /// Stops (like SIGTERM) and waits.
    pub fn stop(mut self) -> Result<Exit, Error> {
        self.handle.stop();
        self.thread.take().unwrap().join().unwrap()
    }

    /// Waits for the server to end by itself (CMD_SHUTDOWN).
    pub fn join(mut self) -> Result<Exit, Error> {
        self.thread.take().unwrap().join().unwrap()
    }

    /// Like `join`, but `None` if the server still serves after `limit` (it can
    /// then still be stopped, or is stopped on drop).
    pub fn join_within(&mut self, limit: Duration) -> Option<Result<Exit, Error>> {
        let deadline = Instant::now() + limit;
        while !self.thread.as_ref()?.is_finished() {
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.thread.take()?.join().ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.stop();
            let _ = thread.join();
        }
    }
}

pub fn tcp_addr(endpoint: &Endpoint) -> SocketAddr {
    match endpoint {
        Endpoint::Tcp { host, port } => format!("{host}:{port}").parse().unwrap(),
        Endpoint::Unix(_) => panic!("not a TCP endpoint"),
    }
}

fn any_port() -> Endpoint {
    Endpoint::Tcp { host: "127.0.0.1".into(), port: 0 }
}

/// Starts the fake engine on TCP ports chosen by the system.
pub fn start_fake(family: Family, state: &Path) -> Running {
    let (spec, log) = fake_spec(family);
    start_with(spec, log, Some(any_port()), any_port(), state)
}

pub fn start_with(
    spec: EngineSpec,
    log: Log,
    data: Option<Endpoint>,
    ctrl: Endpoint,
    state: &Path,
) -> Running {
    let server =
        Server::start(Config { engine: spec, data, ctrl, state_dir: state.to_path_buf() }).unwrap();
    let data = server.data_endpoint().map(|e| tcp_addr(&e));
    let ctrl = server.ctrl_endpoint();
    let handle = server.handle();
    let thread = thread::spawn(move || server.run());
    Running { data, ctrl, handle, log, thread: Some(thread) }
}

// ---- raw clients ----------------------------------------------------------------

/// A TPM command: tag, size, ordinal, parameters.
pub fn tpm_command(family: Family, ordinal: u32, params: &[u8]) -> Vec<u8> {
    let tag: u16 = match family {
        Family::Tpm12 => 0x00c1,
        Family::Tpm20 => 0x8001,
    };
    let mut out = tag.to_be_bytes().to_vec();
    out.extend_from_slice(&((10 + params.len()) as u32).to_be_bytes());
    out.extend_from_slice(&ordinal.to_be_bytes());
    out.extend_from_slice(params);
    out
}

pub fn startup_clear(family: Family) -> Vec<u8> {
    let clear: u16 = match family {
        Family::Tpm12 => 1,
        Family::Tpm20 => 0,
    };
    tpm_command(family, startup_ordinal(family), &clear.to_be_bytes())
}

pub fn response_code(response: &[u8]) -> u32 {
    u32::from_be_bytes(response[6..10].try_into().unwrap())
}

/// Sends one TPM command on an open data connection and reads its response.
pub fn transact(stream: &mut TcpStream, command: &[u8]) -> Vec<u8> {
    stream.write_all(command).unwrap();
    read_response(stream)
}

pub fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = [0u8; 10];
    stream.read_exact(&mut head).unwrap();
    let size = u32::from_be_bytes(head[2..6].try_into().unwrap()) as usize;
    let mut out = head.to_vec();
    out.resize(size, 0);
    stream.read_exact(&mut out[10..]).unwrap();
    out
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// One data command on a fresh connection.
pub fn tpm(addr: SocketAddr, command: &[u8]) -> Vec<u8> {
    transact(&mut connect(addr), command)
}

pub fn read_state(addr: SocketAddr, family: Family) -> Observed {
    let response = tpm(addr, &tpm_command(family, FAKE_READ, &[]));
    assert_eq!(response_code(&response), 0, "FAKE_READ failed: {response:02x?}");
    Observed::decode(&response)
}

/// A control message: command number and request bytes.
pub fn ctrl_msg(code: u32, body: &[u8]) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Reads one control answer, knowing its layout from the command number; then
/// checks that nothing more arrives.
pub fn read_ctrl_reply(stream: &mut TcpStream, code: u32) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    stream.read_exact(&mut out).unwrap();
    let result = u32::from_be_bytes(out[..4].try_into().unwrap());
    let more = |stream: &mut TcpStream, out: &mut Vec<u8>, n: usize| {
        let start = out.len();
        out.resize(start + n, 0);
        stream.read_exact(&mut out[start..]).unwrap();
    };
    match code {
        // Refused before the blob is looked at (stopped, short request): the
        // answer is a bare result, as in swtpm.
        0x0c if result == 3 || result == 10 => {}
        0x0c => {
            more(stream, &mut out, 12);
            let len = u32::from_be_bytes(out[12..16].try_into().unwrap()) as usize;
            more(stream, &mut out, len);
        }
        _ if result != 0 => {}
        0x01 | 0x04 | 0x0f => more(stream, &mut out, 4),
        0x11 => more(stream, &mut out, 12),
        0x12 => {
            more(stream, &mut out, 8);
            let len = u32::from_be_bytes(out[8..12].try_into().unwrap()) as usize;
            more(stream, &mut out, len);
        }
        _ => {}
    }
    // Nothing may follow.
    stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut extra = [0u8; 1];
    match stream.read(&mut extra) {
        Ok(0) | Err(_) => {}
        Ok(_) => panic!("extra bytes after the answer to command {code:#x}"),
    }
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    out
}

/// One control command on an open connection.
pub fn ctrl_on(stream: &mut TcpStream, code: u32, body: &[u8]) -> Vec<u8> {
    stream.write_all(&ctrl_msg(code, body)).unwrap();
    read_ctrl_reply(stream, code)
}

/// One control command on a fresh connection.
pub fn ctrl(addr: SocketAddr, code: u32, body: &[u8]) -> Vec<u8> {
    ctrl_on(&mut connect(addr), code, body)
}

pub fn result_of(reply: &[u8]) -> u32 {
    u32::from_be_bytes(reply[..4].try_into().unwrap())
}

/// Waits until the peer closes the connection (and fails if it answers instead).
pub fn expect_close(stream: &mut TcpStream, within: Duration) {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("expected the connection to close, got {:02x?}", &buf[..n]),
        Err(e) => panic!("expected the connection to close: {e}"),
    }
}

// ---- swtpm ----------------------------------------------------------------------

/// A TCP port that is free now, below the kernel's ephemeral range (32768 and up
/// on Linux), so that servers binding port 0 in parallel tests never take it
/// between our check and swtpm's bind.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2654435761);
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_add(n.wrapping_mul(7919)) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port");
}

/// Two free TCP ports on the loopback.
pub fn free_ports() -> (u16, u16) {
    let p = free_port();
    (p, p + 1)
}

/// A port `p` such that `p` and `p + 1` are both free (tpm2-tools' swtpm TCTI puts
/// the control channel on the port after the data channel).
pub fn free_port_pair() -> u16 {
    free_port()
}

pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A real `swtpm socket` on the loopback, killed when dropped.
pub struct Swtpm {
    child: Child,
    pub data: SocketAddr,
    pub ctrl: SocketAddr,
    _state: TempDir,
}

impl Swtpm {
    pub fn start(family: Family) -> Self {
        for _ in 0..5 {
            if let Some(swtpm) = Self::try_start(family) {
                return swtpm;
            }
        }
        panic!("swtpm did not start");
    }

    fn try_start(family: Family) -> Option<Self> {
        let state = TempDir::new("swtpm");
        let (data, ctrl) = free_ports();
        let mut cmd = Command::new("swtpm");
        cmd.arg("socket");
        if family == Family::Tpm20 {
            cmd.arg("--tpm2");
        }
        cmd.args(["--server", &format!("type=tcp,port={data},bindaddr=127.0.0.1")])
            .args(["--ctrl", &format!("type=tcp,port={ctrl},bindaddr=127.0.0.1")])
            .args(["--tpmstate", &format!("dir={}", state.path().display())])
            .args(["--flags", "not-need-init"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("swtpm");
        let mut swtpm = Self {
            child,
            data: format!("127.0.0.1:{data}").parse().unwrap(),
            ctrl: format!("127.0.0.1:{ctrl}").parse().unwrap(),
            _state: state,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(swtpm.ctrl).is_err() || TcpStream::connect(swtpm.data).is_err() {
            if swtpm.child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
        // Still ours (a port taken by someone else makes swtpm exit).
        thread::sleep(Duration::from_millis(20));
        swtpm.child.try_wait().ok().flatten().is_none().then_some(swtpm)
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_for_port(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        thread::sleep(Duration::from_millis(10));
    }
}

// ---- the real binary --------------------------------------------------------------

/// `vtpm-tool serve` running as a child process.
pub struct Tool {
    pub child: Child,
    pub data: SocketAddr,
    pub ctrl: SocketAddr,
    pub stderr: Arc<Mutex<String>>,
}

/// The endpoint printed after `prefix` on a stderr line of the tool.
fn endpoint_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let end = rest.find(';').unwrap_or(rest.len());
    tcp_addr(&rest[..end].parse::<Endpoint>().ok()?).into()
}

impl Tool {
    /// Starts the binary; `Err` carries its stderr if it exits instead of serving.
    pub fn spawn(args: &[&str]) -> Result<Self, String> {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_vtpm-tool"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vtpm-tool");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut data, mut ctrl, mut seen) = (None, None, String::new());
        while data.is_none() || ctrl.is_none() {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.wait();
                return Err(seen);
            };
            data = data.or_else(|| endpoint_after(&line, "data channel on "));
            ctrl = ctrl.or_else(|| endpoint_after(&line, "control channel on "));
            seen.push_str(&line);
            seen.push('\n');
        }
        let stderr = Arc::new(Mutex::new(seen));
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Ok(Self { child, data: data.unwrap(), ctrl: ctrl.unwrap(), stderr })
    }

    /// `serve` on system-chosen loopback ports.
    pub fn serve(family: Family, state: &Path) -> Result<Self, String> {
        let flag = match family {
            Family::Tpm12 => "--tpm1.2",
            Family::Tpm20 => "--tpm2",
        };
        Self::spawn(&[
            "serve",
            flag,
            "--server",
            "tcp:127.0.0.1:0",
            "--ctrl",
            "tcp:127.0.0.1:0",
            "--state",
            state.to_str().unwrap(),
        ])
    }

    /// SIGKILL: no chance to save anything.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- TPM 1.2 commands ---------------------------------------------------------------

pub mod tpm12 {
    use super::tpm_command;
    use tpm_engine::Family;

    pub fn extend(pcr: u32, digest: [u8; 20]) -> Vec<u8> {
        let mut p = pcr.to_be_bytes().to_vec();
        p.extend_from_slice(&digest);
        tpm_command(Family::Tpm12, 0x14, &p)
    }

    pub fn pcr_read(pcr: u32) -> Vec<u8> {
        tpm_command(Family::Tpm12, 0x15, &pcr.to_be_bytes())
    }

    pub fn get_random(n: u32) -> Vec<u8> {
        tpm_command(Family::Tpm12, 0x46, &n.to_be_bytes())
    }
}

// ---- TPM 2.0 commands ---------------------------------------------------------------

pub mod tpm2 {
    /// TPM2_GetRandom(n).
    pub fn get_random(n: u16) -> Vec<u8> {
        let mut c = vec![0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b];
        c.extend_from_slice(&n.to_be_bytes());
        c
    }

    /// TPM2_PCR_Extend(pcr, SHA-256 digest) with an empty password session.
    pub fn extend(pcr: u32, digest: [u8; 32]) -> Vec<u8> {
        let mut c = vec![0x80, 0x02, 0, 0, 0, 65, 0, 0, 0x01, 0x82];
        c.extend_from_slice(&pcr.to_be_bytes());
        c.extend_from_slice(&[0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0]);
        c.extend_from_slice(&[0, 0, 0, 1, 0, 0x0b]);
        c.extend_from_slice(&digest);
        c
    }

    /// TPM2_PCR_Read of one SHA-256 PCR (0..=23).
    pub fn pcr_read(pcr: u8) -> Vec<u8> {
        let mut select = [0u8; 3];
        select[usize::from(pcr / 8)] = 1 << (pcr % 8);
        let mut c = vec![0x80, 0x01, 0, 0, 0, 20, 0, 0, 0x01, 0x7e, 0, 0, 0, 1, 0, 0x0b, 3];
        c.extend_from_slice(&select);
        c
    }

    /// The digest in a TPM2_PCR_Read answer for one PCR.
    pub fn pcr_value(response: &[u8]) -> Vec<u8> {
        response[response.len() - 32..].to_vec()
    }
}
