//! swtpm (libtpms) for tests: start and stop a `swtpm socket` on a state directory and
//! talk to its data channel (raw TPM command bytes in, response out) and control channel.
//!
//! The TPM crates compare themselves against it and the manager's client uses it as the
//! hardware TPM. Missing swtpm is a loud failure with an install hint, never a skip.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// swtpm control channel commands (swtpm `include/swtpm/tpm_ioctl.h`).
const CMD_SHUTDOWN: u32 = 0x03;
const CMD_SET_LOCALITY: u32 = 0x05;

/// A state directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct StateDir(PathBuf);

impl StateDir {
    /// A fresh, empty directory whose name contains `name`.
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("swtpm-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create state dir");
        Self(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which TPM swtpm emulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// TPM 1.2 (swtpm's default).
    Tpm12,
    /// TPM 2.0 (`--tpm2`).
    Tpm2,
}

/// A running swtpm.
#[derive(Debug)]
pub struct Swtpm {
    child: Child,
    data: PathBuf,
    ctrl: PathBuf,
}

impl Swtpm {
    /// Starts swtpm on `dir`. With `startup`, swtpm sends Startup(CLEAR) itself (as
    /// firmware would); without it the client must.
    pub fn start(dir: &StateDir, kind: Kind, startup: bool) -> Self {
        let data = dir.path().join("data.sock");
        let ctrl = dir.path().join("ctrl.sock");
        let _ = std::fs::remove_file(&data);
        let _ = std::fs::remove_file(&ctrl);
        let mut command = Command::new("swtpm");
        command.arg("socket");
        if kind == Kind::Tpm2 {
            command.arg("--tpm2");
        }
        command
            .arg("--tpmstate")
            .arg(format!("dir={}", dir.path().display()))
            .arg("--server")
            .arg(format!("type=unixio,path={}", data.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", ctrl.display()))
            .arg("--flags")
            .arg(if startup { "not-need-init,startup-clear" } else { "not-need-init" })
            .arg("--log")
            .arg(format!("file={}", dir.path().join("swtpm.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!(
                "swtpm is not installed; these tests run the client against it: \
                 apt-get install swtpm swtpm-tools"
            ),
            Err(e) => panic!("cannot start swtpm: {e}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(data.exists() && ctrl.exists()) {
            assert!(Instant::now() < deadline, "swtpm did not create its sockets");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, data, ctrl }
    }

    /// A new connection to the data channel.
    pub fn transport(&self) -> SwtpmTransport {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match UnixStream::connect(&self.data) {
                Ok(stream) => {
                    stream
                        .set_read_timeout(Some(Duration::from_secs(60)))
                        .expect("set socket timeout");
                    return SwtpmTransport { stream };
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("cannot connect to swtpm: {e}"),
            }
        }
    }

    /// Sets the locality of the following commands (CMD_SET_LOCALITY).
    pub fn set_locality(&self, locality: u8) {
        let mut request = CMD_SET_LOCALITY.to_be_bytes().to_vec();
        request.push(locality);
        assert_eq!(self.control(&request), 0, "CMD_SET_LOCALITY failed");
    }

    /// Shuts swtpm down cleanly (CMD_SHUTDOWN) and waits for it to exit; the state
    /// directory keeps the TPM's permanent state.
    pub fn stop(mut self) {
        let _ = self.control(&CMD_SHUTDOWN.to_be_bytes());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn control(&self, request: &[u8]) -> u32 {
        let mut stream = UnixStream::connect(&self.ctrl).expect("connect to swtpm control");
        stream.write_all(request).expect("write control");
        let mut result = [0u8; 4];
        stream.read_exact(&mut result).expect("read control result");
        u32::from_be_bytes(result)
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The data channel: a command is written whole, the response is read by its size.
#[derive(Debug)]
pub struct SwtpmTransport {
    stream: UnixStream,
}

impl SwtpmTransport {
    /// Sends a complete command and returns the complete response.
    pub fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, io::ErrorKind> {
        self.stream.write_all(command).map_err(|e| e.kind())?;
        let mut response = vec![0u8; 10];
        self.stream.read_exact(&mut response).map_err(|e| e.kind())?;
        let size = usize::try_from(u32::from_be_bytes([
            response[2],
            response[3],
            response[4],
            response[5],
        ]))
        .map_err(|_| io::ErrorKind::InvalidData)?;
        if !(10..=65536).contains(&size) {
            return Err(io::ErrorKind::InvalidData);
        }
        response.resize(size, 0);
        self.stream.read_exact(&mut response[10..]).map_err(|e| e.kind())?;
        Ok(response)
    }
}

/// Sends raw command bytes and returns the raw response, panicking on a transport error.
pub fn raw(transport: &mut SwtpmTransport, command: &[u8]) -> Vec<u8> {
    transport.transmit(command).expect("raw command")
}
