//! QEMU running Xen with dom0, swtpm as its TPM, and the serial console as a line stream.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process;

/// Guest RAM: dom0 gets [`DOM0_MEM`], the domains under test share the rest.
const MEMORY: &str = "2048";
/// dom0's fixed memory (no ballooning: the rest stays free for `xl create`).
const DOM0_MEM: &str = "dom0_mem=1024M,max:1024M";
/// How many serial lines are kept for failure reports.
const TAIL_LINES: usize = 80;
/// How long swtpm may take to open its control socket.
const SWTPM_DEADLINE: Duration = Duration::from_secs(10);

/// How QEMU executes the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation through /dev/kvm.
    Kvm,
    /// QEMU's software emulation (always works, slower).
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

/// Whether this user can open /dev/kvm for reading and writing.
pub fn kvm_usable() -> bool {
    fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok()
}

/// Remembers that KVM could not run Xen on this machine, so later runs go straight to TCG
/// instead of spending seconds to fail again. Keyed by what decides it: the host kernel,
/// the CPU, QEMU and the Xen build.
#[derive(Debug)]
pub struct KvmVerdict {
    file: PathBuf,
    key: String,
}

impl KvmVerdict {
    /// The verdict file in `cache` for booting `xen`.
    pub fn new(cache: &Path, xen: &Path) -> Self {
        let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .unwrap_or_default()
            .to_owned();
        let qemu = Command::new("qemu-system-x86_64")
            .arg("--version")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_owned()
            })
            .unwrap_or_default();
        let xen_size = fs::metadata(xen).map(|m| m.len()).unwrap_or_default();
        let key = format!(
            "{} | {cpu} | {qemu} | xen {xen_size} bytes",
            read("/proc/sys/kernel/osrelease").trim()
        );
        KvmVerdict { file: cache.join("kvm-verdict"), key }
    }

    /// Why KVM failed here before, if it did (same key).
    pub fn known_failure(&self) -> Option<String> {
        let text = fs::read_to_string(&self.file).ok()?;
        let (key, reason) = text.split_once('\n')?;
        (key == self.key).then(|| reason.trim().to_owned())
    }

    /// Records that KVM failed, and why.
    pub fn record_failure(&self, reason: &str) {
        let _ = fs::write(&self.file, format!("{}\n{reason}\n", self.key));
    }

    /// Forgets a failure (KVM worked, e.g. with `--accel kvm`).
    pub fn record_success(&self) {
        let _ = fs::remove_file(&self.file);
    }
}

/// What QEMU boots.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The Xen hypervisor, an uncompressed multiboot ELF.
    pub xen: PathBuf,
    /// dom0's kernel.
    pub kernel: PathBuf,
    /// dom0's initramfs.
    pub initrd: PathBuf,
    /// swtpm's control socket.
    pub tpm_socket: PathBuf,
    /// Where the serial log goes.
    pub serial_log: PathBuf,
}

impl Machine {
    /// The QEMU command line. `interactive` connects the serial console (and QEMU's
    /// monitor, behind Ctrl-a) to the terminal instead of a pipe.
    pub fn command(&self, accel: Accel, interactive: bool) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        // `-cpu max` makes dom0 fault under TCG; qemu64 is the tested model for both.
        cmd.args(["-accel", &accel.to_string(), "-cpu", "qemu64", "-m", MEMORY, "-smp", "2"]);
        cmd.args(["-nodefaults", "-display", "none", "-no-reboot"]);
        if interactive {
            cmd.args(["-serial", "mon:stdio"]);
        } else {
            cmd.args(["-serial", "stdio", "-monitor", "none"]);
        }
        // The emulated hardware TPM: a TIS at 0xFED40000 backed by swtpm.
        cmd.arg("-chardev").arg(format!("socket,id=chrtpm,path={}", self.tpm_socket.display()));
        cmd.args(["-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"]);
        // Multiboot: Xen is the kernel; its modules (comma-separated, each with its own
        // command line) are dom0's kernel, then dom0's initramfs.
        cmd.arg("-kernel").arg(&self.xen);
        cmd.args(["-append", &format!("console=com1 {DOM0_MEM} dom0_max_vcpus=1")]);
        // dom0 must not bind the TPM the manager drives: tpm_tis is built into Debian's
        // kernel, so its initcall is skipped (module_blacklist= only stops loadable modules).
        cmd.arg("-initrd").arg(format!(
            "{} console=hvc0 earlyprintk=xen initcall_blacklist=init_tis,{}",
            self.kernel.display(),
            self.initrd.display()
        ));
        cmd
    }
}

/// A running swtpm; killed when dropped.
#[derive(Debug)]
pub struct Swtpm {
    child: Child,
}

impl Swtpm {
    /// Starts a TPM 1.2 swtpm (`tpm12`) or a TPM 2.0 one with fresh state in `state_dir`.
    ///
    /// A TPM 1.2 is first manufactured with `swtpm_setup` (no `--tpm2`): it creates the
    /// endorsement key and leaves the TPM enabled and activated without an owner, as a real
    /// machine's TPM is once switched on in the firmware, so the manager can take ownership.
    /// A TPM 2.0 needs no set-up: swtpm creates its primary seeds on first start.
    pub fn start_family(state_dir: &Path, socket: &Path, log: &Path, tpm12: bool) -> Result<Self> {
        if state_dir.exists() {
            fs::remove_dir_all(state_dir).with_context(|| format!("{}", state_dir.display()))?;
        }
        fs::create_dir_all(state_dir)?;
        if tpm12 {
            let mut setup = Command::new("swtpm_setup");
            setup
                .arg("--tpmstate")
                .arg(state_dir)
                .arg("--createek")
                .arg("--logfile")
                .arg(log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let status =
                setup.status().context("cannot run swtpm_setup (apt install swtpm-tools)")?;
            if !status.success() {
                bail!("swtpm_setup for a TPM 1.2 failed ({status}); see {}", log.display());
            }
        }
        let _ = fs::remove_file(socket);
        let mut cmd = Command::new("swtpm");
        cmd.arg("socket");
        if !tpm12 {
            cmd.arg("--tpm2");
        }
        cmd.arg("--tpmstate")
            .arg(format!("dir={}", state_dir.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", socket.display()))
            .arg("--log")
            .arg(format!("file={},level=2", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().context("cannot start swtpm")?;
        let mut swtpm = Swtpm { child };
        let start = Instant::now();
        while !socket.exists() {
            if let Some(status) = swtpm.child.try_wait()? {
                bail!("swtpm exited ({status}); see {}", log.display());
            }
            if start.elapsed() > SWTPM_DEADLINE {
                bail!("swtpm did not create {} within {SWTPM_DEADLINE:?}", socket.display());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(swtpm)
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        process::kill(&mut self.child);
    }
}

/// What [`Session::next`] saw.
#[derive(Debug)]
pub enum Next {
    /// A line of the serial console (carriage returns removed).
    Serial(String),
    /// A line QEMU printed on its standard error.
    Stderr(String),
    /// Nothing before the deadline.
    Timeout,
    /// QEMU has closed its output: it exited.
    Exited,
}

#[derive(Debug)]
enum Event {
    Serial(String),
    Stderr(String),
    SerialClosed,
}

/// QEMU running non-interactively, its console read line by line; killed when dropped.
#[derive(Debug)]
pub struct Session {
    child: Child,
    events: Receiver<Event>,
    log: File,
    tail: VecDeque<String>,
    /// The accelerator in use.
    pub accel: Accel,
    /// When QEMU was started.
    pub started: Instant,
}

impl Session {
    /// Starts QEMU on `machine` with `accel`.
    pub fn start(machine: &Machine, accel: Accel) -> Result<Self> {
        let mut cmd = machine.command(accel, false);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start qemu-system-x86_64")?;
        let (tx, events) = mpsc::channel();
        let serial = child.stdout.take().context("QEMU stdout")?;
        let stderr = child.stderr.take().context("QEMU stderr")?;
        let tx2 = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(serial).split(b'\n') {
                let Ok(line) = line else { break };
                let text = String::from_utf8_lossy(&line).replace('\r', "");
                if tx.send(Event::Serial(text)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Event::SerialClosed);
        });
        thread::spawn(move || {
            for line in BufReader::new(stderr).split(b'\n') {
                let Ok(line) = line else { break };
                if tx2.send(Event::Stderr(String::from_utf8_lossy(&line).into_owned())).is_err() {
                    return;
                }
            }
        });
        let mut log = File::create(&machine.serial_log)
            .with_context(|| format!("{}", machine.serial_log.display()))?;
        writeln!(log, "# {}", process::describe(&cmd))?;
        Ok(Session { child, events, log, tail: VecDeque::new(), accel, started: Instant::now() })
    }

    /// The next console or QEMU line, waiting no later than `until`.
    pub fn next(&mut self, until: Instant) -> Next {
        let wait = until.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(wait) {
            Ok(Event::Serial(line)) => {
                self.remember(&line);
                Next::Serial(line)
            }
            Ok(Event::Stderr(line)) => {
                self.remember(&format!("qemu: {line}"));
                Next::Stderr(line)
            }
            Ok(Event::SerialClosed) | Err(RecvTimeoutError::Disconnected) => Next::Exited,
            Err(RecvTimeoutError::Timeout) => Next::Timeout,
        }
    }

    fn remember(&mut self, line: &str) {
        // Host seconds since QEMU started: shows where boot time goes.
        let _ = writeln!(self.log, "[{:8.3}] {line}", self.started.elapsed().as_secs_f64());
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
    }

    /// The last console lines, for a failure report.
    pub fn tail(&self) -> String {
        self.tail.iter().map(|l| format!("  {l}\n")).collect()
    }

    /// Waits for QEMU to exit by itself (dom0 powered off) until `deadline`; kills it then.
    pub fn wait_exit(&mut self, deadline: Duration) -> Result<()> {
        let until = Instant::now() + deadline;
        // Keep draining the console so the log is complete and QEMU never blocks on it.
        while !matches!(self.next(until), Next::Exited | Next::Timeout) {}
        process::wait(&mut self.child, until.saturating_duration_since(Instant::now()), "qemu")
            .context("QEMU did not exit after dom0 powered off")?;
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        process::kill(&mut self.child);
        let _ = self.log.flush();
    }
}
