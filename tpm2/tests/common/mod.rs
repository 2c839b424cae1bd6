//! Shared test harness: the engine and swtpm (libtpms) behind one interface, and
//! a small TPM 2.0 client to build commands and read responses.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tpm_engine::{Drbg, ExecContext, TpmEngine};
use tpm2::Tpm2;
use tpm2::types::*;

/// A TPM under test.
pub trait Tpm {
    /// Sends one command at `locality`, returns the response.
    fn exec_at(&mut self, locality: u8, command: &[u8]) -> Vec<u8>;
    /// _TPM_Init (power cycle); NV survives.
    fn power_cycle(&mut self);
    /// Which implementation this is.
    fn name(&self) -> &'static str;

    /// Sends one command at locality 0.
    fn exec(&mut self, command: &[u8]) -> Vec<u8> {
        self.exec_at(0, command)
    }
}

/// The in-process engine, with a fake clock that advances 1 ms per command.
pub struct Engine {
    pub tpm: Tpm2,
    pub now: u64,
}

impl Engine {
    pub fn new() -> Self {
        Self::with_seed(7)
    }

    pub fn with_seed(seed: u8) -> Self {
        let mut tpm = Tpm2::new(Drbg::from_seed([seed; 32]));
        tpm.init();
        Engine { tpm, now: 0 }
    }
}

impl Tpm for Engine {
    fn exec_at(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        self.now += 1;
        let r = self.tpm.execute(ExecContext { locality, now_ms: self.now }, command);
        let size = u32::from_be_bytes(r[2..6].try_into().unwrap()) as usize;
        assert_eq!(size, r.len(), "response size field must match its length");
        r
    }

    fn power_cycle(&mut self) {
        self.tpm.init();
    }

    fn name(&self) -> &'static str {
        "engine"
    }
}

/// swtpm (libtpms) in socket mode, started in a private state directory.
pub struct Swtpm {
    child: Child,
    dir: PathBuf,
    server_port: u16,
    ctrl_port: u16,
    locality: u8,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Swtpm {
    /// Starts swtpm; panics with an install hint if it is missing.
    pub fn start() -> Self {
        if Command::new("swtpm").arg("--version").output().is_err() {
            panic!(
                "swtpm not found: the differential tests need libtpms' simulator. \
                 Install it with `apt-get install swtpm swtpm-tools` (CI does)."
            );
        }
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tpm2-diff-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for _ in 0..10 {
            let (server_port, ctrl_port) = (free_port(), free_port());
            let child = Command::new("swtpm")
                .args(["socket", "--tpm2", "--flags", "not-need-init"])
                .arg("--tpmstate")
                .arg(format!("dir={}", dir.display()))
                .arg("--server")
                .arg(format!("type=tcp,port={server_port}"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={ctrl_port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start swtpm");
            let mut s = Swtpm { child, dir: dir.clone(), server_port, ctrl_port, locality: 0 };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", server_port)).is_ok() {
                    return s;
                }
                if let Ok(Some(_)) = s.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = s.child.kill();
            let _ = s.child.wait();
            // Port race: try other ports.
            std::mem::forget(std::mem::replace(&mut s.dir, PathBuf::new()));
        }
        panic!("swtpm did not start");
    }

    fn ctrl(&mut self, request: &[u8]) -> Vec<u8> {
        let mut c = TcpStream::connect(("127.0.0.1", self.ctrl_port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.write_all(request).unwrap();
        let mut out = vec![0u8; 4];
        c.read_exact(&mut out).unwrap();
        out
    }

    fn set_locality(&mut self, locality: u8) {
        if self.locality != locality {
            let r = self.ctrl(&[0, 0, 0, 5, locality]);
            assert_eq!(r, [0, 0, 0, 0], "swtpm CMD_SET_LOCALITY");
            self.locality = locality;
        }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Tpm for Swtpm {
    fn exec_at(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        self.set_locality(locality);
        let mut s = TcpStream::connect(("127.0.0.1", self.server_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(command).unwrap();
        let mut header = [0u8; 10];
        s.read_exact(&mut header).unwrap();
        let size = u32::from_be_bytes(header[2..6].try_into().unwrap()) as usize;
        let mut rest = vec![0u8; size - 10];
        s.read_exact(&mut rest).unwrap();
        let mut r = header.to_vec();
        r.extend(rest);
        r
    }

    fn power_cycle(&mut self) {
        let r = self.ctrl(&[0, 0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(r, [0, 0, 0, 0], "swtpm CMD_INIT");
        self.locality = 0;
    }

    fn name(&self) -> &'static str {
        "libtpms"
    }
}

// ---------------------------------------------------------------------------------
// Command building
// ---------------------------------------------------------------------------------

/// One entry of a command's authorization area.
#[derive(Clone, Debug)]
pub struct AuthEntry {
    pub handle: u32,
    pub nonce: Vec<u8>,
    pub attrs: u8,
    pub hmac: Vec<u8>,
}

impl AuthEntry {
    /// A password authorization.
    pub fn pw(auth: &[u8]) -> Self {
        AuthEntry { handle: handle::PW, nonce: vec![], attrs: 1, hmac: auth.to_vec() }
    }
}

/// Builds a command.
#[derive(Clone, Debug)]
pub struct CommandBuilder {
    pub cc: u32,
    pub handles: Vec<u32>,
    pub auths: Vec<AuthEntry>,
    pub params: Writer,
    pub force_sessions_tag: bool,
}

pub fn command(cc: u32) -> CommandBuilder {
    CommandBuilder {
        cc,
        handles: vec![],
        auths: vec![],
        params: Writer::new(),
        force_sessions_tag: false,
    }
}

impl CommandBuilder {
    pub fn handle(mut self, h: u32) -> Self {
        self.handles.push(h);
        self
    }
    pub fn pw(mut self, auth: &[u8]) -> Self {
        self.auths.push(AuthEntry::pw(auth));
        self
    }
    pub fn auth(mut self, a: AuthEntry) -> Self {
        self.auths.push(a);
        self
    }
    pub fn u8(mut self, v: u8) -> Self {
        self.params.u8(v);
        self
    }
    pub fn u16(mut self, v: u16) -> Self {
        self.params.u16(v);
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.params.u32(v);
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.params.u64(v);
        self
    }
    pub fn b2(mut self, data: &[u8]) -> Self {
        put_2b(&mut self.params, data);
        self
    }
    pub fn raw(mut self, data: &[u8]) -> Self {
        self.params.bytes(data);
        self
    }
    pub fn put(mut self, s: &impl Marshal) -> Self {
        s.marshal(&mut self.params);
        self
    }
    pub fn params(&self) -> &[u8] {
        self.params.as_slice()
    }
    /// The command bytes.
    pub fn build(&self) -> Vec<u8> {
        let sessions = !self.auths.is_empty() || self.force_sessions_tag;
        let mut w = Writer::new();
        w.u16(if sessions { st::SESSIONS } else { st::NO_SESSIONS }).u32(0).u32(self.cc);
        for h in &self.handles {
            w.u32(*h);
        }
        if sessions {
            let mut a = Writer::new();
            for e in &self.auths {
                a.u32(e.handle);
                put_2b(&mut a, &e.nonce);
                a.u8(e.attrs);
                put_2b(&mut a, &e.hmac);
            }
            w.u32(a.len() as u32).bytes(a.as_slice());
        }
        w.bytes(self.params.as_slice());
        let len = w.len() as u32;
        w.patch_u32(2, len).unwrap();
        w.into_vec()
    }
}

/// A parsed response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub tag: u16,
    pub rc: u32,
    /// Everything after the header.
    pub body: Vec<u8>,
}

impl Response {
    pub fn parse(bytes: &[u8]) -> Self {
        let tag = u16::from_be_bytes(bytes[0..2].try_into().unwrap());
        let size = u32::from_be_bytes(bytes[2..6].try_into().unwrap()) as usize;
        assert_eq!(size, bytes.len());
        let rc = u32::from_be_bytes(bytes[6..10].try_into().unwrap());
        Response { tag, rc, body: bytes[10..].to_vec() }
    }

    pub fn ok(&self) -> bool {
        self.rc == 0
    }

    /// The response parameters, skipping `handles` response handles and, for a
    /// sessions response, the parameterSize field and the session area.
    pub fn params(&self, handles: usize) -> Vec<u8> {
        let b = &self.body[handles * 4..];
        if self.tag == st::SESSIONS {
            let n = u32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
            b[4..4 + n].to_vec()
        } else {
            b.to_vec()
        }
    }

    /// The response handle.
    pub fn handle(&self) -> u32 {
        u32::from_be_bytes(self.body[0..4].try_into().unwrap())
    }

    /// The response session area (sessions responses).
    pub fn session_area(&self, handles: usize) -> Vec<u8> {
        let b = &self.body[handles * 4..];
        let n = u32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
        b[4 + n..].to_vec()
    }
}

/// Runs a command, returns the parsed response.
pub fn run(tpm: &mut dyn Tpm, c: &CommandBuilder) -> Response {
    Response::parse(&tpm.exec(&c.build()))
}

/// Runs a command at a locality.
pub fn run_at(tpm: &mut dyn Tpm, locality: u8, c: &CommandBuilder) -> Response {
    Response::parse(&tpm.exec_at(locality, &c.build()))
}

/// Runs a command that must succeed; returns its parameters.
pub fn ok(tpm: &mut dyn Tpm, c: &CommandBuilder, response_handles: usize) -> Vec<u8> {
    let r = run(tpm, c);
    assert_eq!(r.rc, 0, "{}: command {:#x} failed with {}", tpm.name(), c.cc, Rc(r.rc));
    r.params(response_handles)
}

pub fn startup(tpm: &mut dyn Tpm, su: u16) -> u32 {
    run(tpm, &command(cc::STARTUP).u16(su)).rc
}

/// PCR_Read of one selection; returns (counter, selection out, values).
pub fn pcr_read(
    tpm: &mut dyn Tpm,
    sel: &PcrSelectionList,
) -> (u32, PcrSelectionList, Vec<Vec<u8>>) {
    let p = ok(tpm, &command(cc::PCR_READ).put(sel), 0);
    let mut r = Reader::new(&p);
    let counter = r.u32().unwrap();
    let out = PcrSelectionList::unmarshal(&mut r).unwrap();
    let list = DigestList::unmarshal(&mut r).unwrap();
    (counter, out, list.0)
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// GetCapability → (moreData, capability data after the capability field).
pub fn get_cap(tpm: &mut dyn Tpm, capability: u32, property: u32, count: u32) -> (bool, Vec<u8>) {
    let p = ok(tpm, &command(cc::GET_CAPABILITY).u32(capability).u32(property).u32(count), 0);
    assert_eq!(u32::from_be_bytes(p[1..5].try_into().unwrap()), capability);
    (p[0] == 1, p[5..].to_vec())
}

/// TPM properties as (tag, value) pairs.
pub fn properties(tpm: &mut dyn Tpm, first: u32, count: u32) -> Vec<(u32, u32)> {
    let (_, d) = get_cap(tpm, cap::TPM_PROPERTIES, first, count);
    let n = u32::from_be_bytes(d[0..4].try_into().unwrap()) as usize;
    (0..n)
        .map(|i| {
            let o = 4 + i * 8;
            (
                u32::from_be_bytes(d[o..o + 4].try_into().unwrap()),
                u32::from_be_bytes(d[o + 4..o + 8].try_into().unwrap()),
            )
        })
        .collect()
}

pub fn property(tpm: &mut dyn Tpm, tag: u32) -> u32 {
    let p = properties(tpm, tag, 1);
    assert_eq!(p[0].0, tag);
    p[0].1
}
