//! A minimal swtpm-protocol server around the engine, so that tpm2-tools can talk
//! to it in tests (the real one is `vtpm-tool serve`). Data channel on `port`,
//! control channel on `port + 1` (what the swtpm TCTI expects).
//!
//! Control commands: GET_CAPABILITY, INIT (power cycle), SHUTDOWN (the
//! "process" stops: the state is kept as a permanent blob and a new engine is
//! built from it, as a restarted simulator would), SET_LOCALITY,
//! GET/RESET_TPMESTABLISHED, HASH_START/DATA/END, STOP.

#![allow(clippy::cast_possible_truncation, reason = "test code: small, known lengths")]
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tpm_engine::{Drbg, ExecContext, StateKind, TpmEngine};
use tpm2::Tpm2;

struct Shared {
    tpm: Tpm2,
    locality: u8,
    start: Instant,
    seed: u8,
}

/// The server; stops when dropped.
pub struct EngineServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn listeners() -> (TcpListener, TcpListener, u16) {
    for _ in 0..100 {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if let Ok(b) = TcpListener::bind(("127.0.0.1", port + 1)) {
            return (a, b, port);
        }
    }
    panic!("no free pair of ports");
}

impl EngineServer {
    pub fn start(seed: u8) -> Self {
        let (data, ctrl, port) = listeners();
        let mut tpm = Tpm2::new(Drbg::from_seed([seed; 32]));
        tpm.init();
        let shared = Arc::new(Mutex::new(Shared { tpm, locality: 0, start: Instant::now(), seed }));
        let stop = Arc::new(AtomicBool::new(false));
        data.set_nonblocking(true).unwrap();
        ctrl.set_nonblocking(true).unwrap();
        let mut threads = Vec::new();
        {
            let (shared, stop) = (shared.clone(), stop.clone());
            threads.push(std::thread::spawn(move || accept_loop(data, stop, shared, serve_data)));
        }
        {
            let (shared, stop) = (shared.clone(), stop.clone());
            threads.push(std::thread::spawn(move || accept_loop(ctrl, stop, shared, serve_ctrl)));
        }
        EngineServer { port, stop, threads }
    }

    /// The TCTI string for tpm2-tools.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }
}

impl Drop for EngineServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    l: TcpListener,
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
    serve: fn(TcpStream, &Mutex<Shared>, &AtomicBool),
) {
    while !stop.load(Ordering::SeqCst) {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
                serve(s, &shared, &stop);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Reads exactly `buf`, waiting across read timeouts until stopped.
fn read_full(s: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> bool {
    let mut got = 0;
    while got < buf.len() {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        match s.read(&mut buf[got..]) {
            Ok(0) => return false,
            Ok(n) => got += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return false,
        }
    }
    true
}

fn serve_data(mut s: TcpStream, shared: &Mutex<Shared>, stop: &AtomicBool) {
    loop {
        let mut header = [0u8; 10];
        if !read_full(&mut s, &mut header, stop) {
            return;
        }
        let size = u32::from_be_bytes(header[2..6].try_into().unwrap()) as usize;
        if !(10..=8192).contains(&size) {
            return;
        }
        let mut cmd = header.to_vec();
        cmd.resize(size, 0);
        if !read_full(&mut s, &mut cmd[10..], stop) {
            return;
        }
        let response = {
            let mut sh = shared.lock().unwrap();
            let ctx = ExecContext {
                locality: sh.locality,
                now_ms: sh.start.elapsed().as_millis() as u64,
            };
            sh.tpm.execute(ctx, &cmd)
        };
        if let Ok(path) = std::env::var("TPM2_SERVER_LOG") {
            use std::io::Write as _;
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                let _ = writeln!(f, "> {}\n< {}", hex(&cmd), hex(&response));
            }
        }
        if s.write_all(&response).is_err() {
            return;
        }
    }
}

fn serve_ctrl(mut s: TcpStream, shared: &Mutex<Shared>, stop: &AtomicBool) {
    loop {
        let mut code = [0u8; 4];
        if !read_full(&mut s, &mut code, stop) {
            return;
        }
        let code = u32::from_be_bytes(code);
        let mut out = 0u32.to_be_bytes().to_vec();
        let mut sh = shared.lock().unwrap();
        match code {
            // CMD_GET_CAPABILITY: INIT, SHUTDOWN, GET_TPMESTABLISHED, SET_LOCALITY,
            // HASHING, STOP, RESET_TPMESTABLISHED.
            1 => {
                out = 0u64.to_be_bytes().to_vec();
                out[7] = 0x1F;
                out[6] = 0x20 | 0x04;
            }
            // CMD_INIT.
            2 => {
                let mut flags = [0u8; 4];
                let _ = read_full(&mut s, &mut flags, stop);
                sh.tpm.init();
                sh.locality = 0;
            }
            // CMD_SHUTDOWN: the simulator process ends; a new one starts from the
            // saved permanent state (volatile state is lost, as in swtpm).
            3 => {
                let blob = sh.tpm.save_state(StateKind::Permanent).unwrap();
                let saved = sh.tpm.save_state(StateKind::SaveState).ok();
                sh.seed = sh.seed.wrapping_add(1);
                let mut tpm = Tpm2::new(Drbg::from_seed([sh.seed; 32]));
                tpm.load_state(StateKind::Permanent, &blob).unwrap();
                if let Some(saved) = saved {
                    tpm.load_state(StateKind::SaveState, &saved).unwrap();
                }
                tpm.init();
                sh.tpm = tpm;
                sh.locality = 0;
            }
            // CMD_GET_TPMESTABLISHED.
            4 => out.push(u8::from(sh.tpm.established())),
            // CMD_SET_LOCALITY.
            5 => {
                let mut loc = [0u8; 1];
                let _ = read_full(&mut s, &mut loc, stop);
                sh.locality = loc[0];
            }
            6 => sh.tpm.hash_start(),
            7 => {
                let mut len = [0u8; 4];
                let _ = read_full(&mut s, &mut len, stop);
                let mut data = vec![0u8; u32::from_be_bytes(len).min(4096) as usize];
                let _ = read_full(&mut s, &mut data, stop);
                sh.tpm.hash_data(&data);
            }
            8 => sh.tpm.hash_end(),
            // CMD_RESET_TPMESTABLISHED.
            11 => {
                let mut loc = [0u8; 1];
                let _ = read_full(&mut s, &mut loc, stop);
                if !sh.tpm.reset_established(loc[0]) {
                    out = 0x3Du32.to_be_bytes().to_vec();
                }
            }
            // CMD_STOP.
            14 => {}
            _ => out = 0x0Au32.to_be_bytes().to_vec(),
        }
        drop(sh);
        if s.write_all(&out).is_err() {
            return;
        }
    }
}
