//! `boot-test` and `run`: images, packages, initramfs, then Xen in QEMU, phase by phase.

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use flate2::read::GzDecoder;

use crate::archive::Packing;
use crate::console::{self, Marker};
use crate::images::{self, Image, human};
use crate::initramfs::{self, Dom0Inputs};
use crate::packages::{self, Packages};
use crate::qemu::{self, Accel, KvmVerdict, Machine, Next, Session, Swtpm};
use crate::scenarios::{self, Scenario};
use crate::{Workspace, process};

/// How long Xen may take to print its banner: KVM fails fast when it cannot run Xen; under
/// TCG the banner comes after a few seconds.
const BANNER_DEADLINE_KVM: Duration = Duration::from_secs(15);
const BANNER_DEADLINE_TCG: Duration = Duration::from_secs(60);
/// How long dom0 may take, from QEMU's start, to have its Xen daemons up (about 20 s under
/// TCG on an idle machine; CI machines are shared).
const READY_DEADLINE: Duration = Duration::from_secs(300);
/// Extra time the host allows beyond a scenario's own timeout (dom0 enforces that one) for
/// the failure logs and clean-up.
const SCENARIO_SLACK: Duration = Duration::from_secs(60);
/// How long QEMU may take to exit once dom0 said it is done.
const POWEROFF_DEADLINE: Duration = Duration::from_secs(60);
/// How long dom0's last words (its dmesg) are awaited after it reports a fatal error.
const FATAL_DRAIN: Duration = Duration::from_secs(10);
/// How long the host tools may take to install.
const INSTALL_DEADLINE: Duration = Duration::from_secs(900);
/// How long `run` shows the domains when not on a terminal.
const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// Which accelerator to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccelChoice {
    /// KVM when /dev/kvm is usable and runs Xen, software emulation otherwise.
    Auto,
    /// KVM only.
    Kvm,
    /// Software emulation only.
    Tcg,
}

/// Options shared by `boot-test` and `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct BootOptions {
    /// Accelerator for QEMU.
    #[arg(long, value_enum, default_value_t = AccelChoice::Auto)]
    pub accel: AccelChoice,
    /// Print the whole serial console (Xen, dom0, scenario output) as it arrives.
    #[arg(long, short)]
    pub verbose: bool,
    /// Resolve and download the Debian packages again instead of using the cache.
    #[arg(long)]
    pub refresh_packages: bool,
}

/// Prints how long each phase took.
struct Phases {
    start: Instant,
    phase: Instant,
}

impl Phases {
    fn new() -> Self {
        Self { start: Instant::now(), phase: Instant::now() }
    }

    fn done(&mut self, name: &str, detail: &str) {
        eprintln!("[xtask] {name:<10} {:>6.1} s  {detail}", self.phase.elapsed().as_secs_f64());
        self.phase = Instant::now();
    }
}

/// Where one boot's files go: `target/<name>/`, plus a short socket path (unix socket
/// paths are limited to 108 bytes, so it lives under /tmp).
struct Stage {
    dir: PathBuf,
    socket_dir: PathBuf,
}

impl Stage {
    fn new(ws: &Workspace, name: &str) -> Result<Self> {
        let dir = ws.target.join(name);
        fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
        let socket_dir = std::env::temp_dir().join(format!("xtask-{}", std::process::id()));
        fs::create_dir_all(&socket_dir)?;
        Ok(Stage { dir, socket_dir })
    }

    fn swtpm(&self) -> Result<Swtpm> {
        self.swtpm_family(false)
    }

    /// A fresh swtpm: TPM 1.2 when `tpm12`, else TPM 2.0.
    fn swtpm_family(&self, tpm12: bool) -> Result<Swtpm> {
        let (state, socket, log) =
            (self.dir.join("swtpm-state"), self.socket(), self.dir.join("swtpm.log"));
        Swtpm::start_family(&state, &socket, &log, tpm12)
    }

    fn socket(&self) -> PathBuf {
        self.socket_dir.join("swtpm.sock")
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.socket_dir);
    }
}

/// `cargo xtask boot-test`.
pub fn boot_test(ws: &Workspace, wanted: &[String], opts: &BootOptions) -> Result<()> {
    let mut phases = Phases::new();
    let all = scenarios::discover(&ws.root.join("boot-tests"))?;
    let selected = scenarios::select(&all, wanted)?;
    // Only the default machine (TPM 2.0, one boot) can be booted so far; refuse the others
    // before any work rather than run them on the wrong machine (issue 7).
    for (machine, list) in scenarios::machines(&selected) {
        if machine.boots != 1 {
            let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
            bail!(
                "{} need a {machine}; the harness boots each machine only once so far",
                names.join(", ")
            );
        }
    }
    ensure_host_tools()?;
    phases.done(
        "host tools",
        "qemu-system-x86_64, swtpm, swtpm_setup, xz, apt-get, dpkg-deb present",
    );

    let have_images = images::available(ws);
    let (runnable, skipped): (Vec<Scenario>, Vec<Scenario>) =
        selected.into_iter().partition(|s| have_images || !s.needs_images);
    for s in &skipped {
        eprintln!(
            "[xtask] SKIP {}: needs the stub-domain images, and the workspace has no {} yet",
            s.name,
            images::NAMES.join("/")
        );
    }
    let images = if runnable.iter().any(|s| s.needs_images) {
        build_images(ws, &mut phases)?
    } else {
        Vec::new()
    };
    if runnable.is_empty() {
        bail!("no scenario can run ({} skipped)", skipped.len());
    }

    let stage = Stage::new(ws, "boot-test")?;
    let pkgs = fetch_packages(ws, opts, &mut phases)?;
    // One QEMU run per machine; all default-machine scenarios share the first.
    let mut results = Vec::new();
    let mut serial_logs = Vec::new();
    let groups = scenarios::machines(&runnable);
    let several = groups.len() > 1;
    for (index, (kind, group)) in groups.into_iter().enumerate() {
        eprintln!(
            "[xtask] {kind}: {}",
            group.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        );
        let machine = prepare(ws, &stage, &pkgs, &images, "test", &scenarios::plan(&group), false)?;
        phases.done("initramfs", &initrd_sizes(&stage)?);

        let _swtpm = stage.swtpm_family(kind.tpm == scenarios::TpmFamily::Tpm12)?;
        let mut session = boot(&machine, opts, &cache(ws), &mut phases)?;
        let outcome = run_scenarios(&mut session, &group, opts.verbose);
        phases.done("scenarios", &kind.to_string());
        let finished = outcome.as_ref().is_ok_and(|r| r.len() == group.len());
        if finished {
            session.wait_exit(POWEROFF_DEADLINE)?;
            phases.done("power off", "");
        }
        drop(session);
        results.extend(outcome?);
        // Each machine's run writes the same serial log; keep every one.
        let log = if several {
            let kept = machine.serial_log.with_file_name(format!("serial-{}.log", index + 1));
            fs::rename(&machine.serial_log, &kept)
                .with_context(|| format!("{}", machine.serial_log.display()))?;
            kept
        } else {
            machine.serial_log.clone()
        };
        serial_logs.push(log.display().to_string());
    }

    let failed: Vec<&str> =
        results.iter().filter(|r| r.failure.is_some()).map(|r| r.name.as_str()).collect();
    let passed = results.len() - failed.len();
    eprintln!(
        "[xtask] boot test took {:.1} s; serial log: {}",
        phases.start.elapsed().as_secs_f64(),
        serial_logs.join(", ")
    );
    println!("boot-test: {passed} passed, {} failed, {} skipped", failed.len(), skipped.len());
    if !failed.is_empty() {
        bail!("boot scenarios failed: {}", failed.join(", "));
    }
    Ok(())
}

/// `cargo xtask run`.
pub fn run(ws: &Workspace, opts: &BootOptions) -> Result<()> {
    let mut phases = Phases::new();
    ensure_host_tools()?;
    if !images::available(ws) {
        bail!("the workspace has no {} crates yet: nothing to run", images::NAMES.join("/"));
    }
    let images = build_images(ws, &mut phases)?;
    let stage = Stage::new(ws, "boot-run")?;
    let pkgs = fetch_packages(ws, opts, &mut phases)?;
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let machine = prepare(ws, &stage, &pkgs, &images, "run", "", interactive)?;
    phases.done("initramfs", &initrd_sizes(&stage)?);
    let swtpm = stage.swtpm()?;

    if interactive {
        // A terminal session cannot be watched for KVM trouble, so probe first.
        let verdict = KvmVerdict::new(&cache(ws), &machine.xen);
        let accel = match opts.accel {
            AccelChoice::Kvm => Accel::Kvm,
            AccelChoice::Tcg => Accel::Tcg,
            AccelChoice::Auto if !qemu::kvm_usable() || verdict.known_failure().is_some() => {
                Accel::Tcg
            }
            AccelChoice::Auto => {
                let probe = BootOptions { accel: AccelChoice::Kvm, ..opts.clone() };
                match boot(&machine, &probe, &cache(ws), &mut phases) {
                    Ok(_) => Accel::Kvm,
                    Err(err) => {
                        eprintln!("[xtask] kvm cannot boot Xen here ({err:#}); using tcg");
                        verdict.record_failure(&format!("{err:#}"));
                        Accel::Tcg
                    }
                }
            }
        };
        // The probe used the TPM's state; give the real run a fresh one.
        drop(swtpm);
        let _swtpm = stage.swtpm()?;
        eprintln!("[xtask] booting Xen ({accel}); Ctrl-a x quits QEMU");
        let mut cmd = machine.command(accel, true);
        return process::run(&mut cmd, Duration::MAX);
    }

    let mut session = boot(&machine, opts, &cache(ws), &mut phases)?;
    let until = Instant::now() + RUN_DEADLINE;
    loop {
        match session.next(until) {
            Next::Serial(line) => {
                println!("{line}");
                match console::parse(&line) {
                    Some(Marker::Done) => break,
                    Some(Marker::Fatal(reason)) => bail!("dom0: {reason}"),
                    _ => {}
                }
            }
            Next::Stderr(line) => eprintln!("qemu: {line}"),
            Next::Timeout => bail!("the demo did not finish within {RUN_DEADLINE:?}"),
            Next::Exited => bail!("QEMU exited before dom0 finished:\n{}", session.tail()),
        }
    }
    session.wait_exit(POWEROFF_DEADLINE)
}

/// Downloads and what is derived from them, kept between runs.
fn cache(ws: &Workspace) -> PathBuf {
    ws.target.join("boot-cache")
}

fn build_images(ws: &Workspace, phases: &mut Phases) -> Result<Vec<Image>> {
    let images = images::build(ws)?;
    let sizes: Vec<String> = images
        .iter()
        .map(|i| format!("{}.gz {} (ELF {})", i.name, human(i.gz_size), human(i.elf_size)))
        .collect();
    phases.done("images", &sizes.join(", "));
    Ok(images)
}

fn fetch_packages(ws: &Workspace, opts: &BootOptions, phases: &mut Phases) -> Result<Packages> {
    let pkgs = packages::fetch(&cache(ws), opts.refresh_packages)?;
    let how = if pkgs.cached { "cached" } else { "resolved with apt" };
    phases.done(
        "packages",
        &format!("{} Debian packages ({how}), kernel {}", pkgs.count, pkgs.kernel_release),
    );
    Ok(pkgs)
}

/// Writes Xen, the guest and dom0 initramfs into the stage; returns the machine to boot.
fn prepare(
    ws: &Workspace,
    stage: &Stage,
    pkgs: &Packages,
    images: &[Image],
    mode: &str,
    plan: &str,
    interactive: bool,
) -> Result<Machine> {
    // QEMU's multiboot loader wants the ELF, not Debian's gzipped file.
    let xen = stage.dir.join("xen");
    let xen_gz = pkgs.xen_gz()?;
    let mut elf = Vec::new();
    std::io::Read::read_to_end(&mut GzDecoder::new(fs::File::open(&xen_gz)?), &mut elf)
        .with_context(|| format!("gunzip {}", xen_gz.display()))?;
    fs::write(&xen, elf)?;

    let guest_initrd = stage.dir.join("guest.cpio.gz");
    let tool = ws.target.join("release").join(images::GUEST_TOOL);
    let tool = (!images.is_empty() && tool.is_file()).then_some(tool.as_path());
    initramfs::guest(pkgs, &ws.root.join("boot-tests"), tool)?
        .write_cpio(&guest_initrd, Packing::Gzip)?;
    let mut tree = initramfs::dom0(
        pkgs,
        &Dom0Inputs {
            mode,
            plan: plan.to_owned(),
            scenario_dir: &ws.root.join("boot-tests"),
            images,
            guest_initrd: &guest_initrd,
            params: initramfs::params(std::env::vars())?,
        },
    )?;
    if interactive {
        tree.bytes("etc/boottest/interactive", "", 0o644);
    }
    let initrd = stage.dir.join("dom0.cpio");
    tree.write_cpio(&initrd, Packing::Plain)?;
    Ok(Machine {
        xen,
        kernel: pkgs.vmlinux.clone(),
        initrd,
        tpm_socket: stage.socket(),
        serial_log: stage.dir.join("serial.log"),
    })
}

fn initrd_sizes(stage: &Stage) -> Result<String> {
    let size =
        |name: &str| -> Result<String> { Ok(human(fs::metadata(stage.dir.join(name))?.len())) };
    Ok(format!(
        "dom0 {} (cpio), guest {} (gzipped cpio)",
        size("dom0.cpio")?,
        size("guest.cpio.gz")?
    ))
}

/// Boots until dom0 reports ready; with `auto`, tries KVM first (unless it already failed
/// on this machine) and falls back to TCG on any trouble before that point.
fn boot(
    machine: &Machine,
    opts: &BootOptions,
    cache: &Path,
    phases: &mut Phases,
) -> Result<Session> {
    let verdict = KvmVerdict::new(cache, &machine.xen);
    let candidates: &[Accel] = match opts.accel {
        AccelChoice::Auto if qemu::kvm_usable() => match verdict.known_failure() {
            Some(reason) => {
                eprintln!(
                    "[xtask] using tcg: kvm could not run Xen on this machine before ({reason}); \
                     `--accel kvm` tries it again"
                );
                &[Accel::Tcg]
            }
            None => &[Accel::Kvm, Accel::Tcg],
        },
        AccelChoice::Auto | AccelChoice::Tcg => &[Accel::Tcg],
        AccelChoice::Kvm => &[Accel::Kvm],
    };
    for (i, &accel) in candidates.iter().enumerate() {
        let mut session = Session::start(machine, accel)?;
        match wait_ready(&mut session, opts.verbose) {
            Ok(detail) => {
                if accel == Accel::Kvm {
                    verdict.record_success();
                }
                phases.done("boot", &format!("Xen and dom0 up under {accel} ({detail})"));
                return Ok(session);
            }
            Err(err) if i + 1 < candidates.len() => {
                eprintln!("[xtask] {accel} cannot boot Xen here ({err:#}); falling back to tcg");
                verdict.record_failure(&format!("{err:#}"));
            }
            Err(err) => {
                return Err(err.context(format!(
                    "booting Xen under {accel}; serial log {}; last lines:\n{}",
                    machine.serial_log.display(),
                    session.tail()
                )));
            }
        }
    }
    unreachable!("candidates is never empty")
}

fn wait_ready(session: &mut Session, verbose: bool) -> Result<String> {
    let banner_deadline = match session.accel {
        Accel::Kvm => BANNER_DEADLINE_KVM,
        Accel::Tcg => BANNER_DEADLINE_TCG,
    };
    let mut banner = None;
    loop {
        let until =
            session.started + if banner.is_some() { READY_DEADLINE } else { banner_deadline };
        match session.next(until) {
            Next::Serial(line) => {
                if verbose {
                    println!("{line}");
                }
                if banner.is_none() && line.contains("(XEN) Xen version") {
                    banner = Some(session.started.elapsed());
                }
                match console::parse(&line) {
                    Some(Marker::Ready(versions)) => {
                        let banner = banner.unwrap_or_default().as_secs_f64();
                        let ready = session.started.elapsed().as_secs_f64();
                        return Ok(format!(
                            "{versions}; Xen banner {banner:.1} s, dom0 ready {ready:.1} s"
                        ));
                    }
                    Some(Marker::Fatal(reason)) => {
                        let reason = reason.to_owned();
                        // dom0 follows with its dmesg and powers off: keep it for the report.
                        let until = Instant::now() + FATAL_DRAIN;
                        while let Next::Serial(_) | Next::Stderr(_) = session.next(until) {}
                        bail!("dom0 setup failed: {reason}");
                    }
                    _ => {}
                }
            }
            Next::Stderr(line) => {
                if verbose {
                    eprintln!("qemu: {line}");
                }
                if line.contains("KVM internal error") {
                    bail!("{line}");
                }
            }
            Next::Timeout if banner.is_none() => {
                bail!("no Xen banner on the serial console within {banner_deadline:?}")
            }
            Next::Timeout => bail!("dom0 did not report ready within {READY_DEADLINE:?}"),
            Next::Exited => bail!("QEMU exited during boot"),
        }
    }
}

/// One scenario's result.
#[derive(Debug)]
struct Outcome {
    name: String,
    failure: Option<String>,
}

/// Reads the console while dom0 runs the plan; prints each result as it comes. Returns
/// early (with an error) only when dom0 stops making progress or QEMU dies.
fn run_scenarios(session: &mut Session, plan: &[Scenario], verbose: bool) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    let mut next = plan.iter();
    // The scenario running now: it, its start, its console lines.
    let mut current: Option<(&Scenario, Instant, Vec<String>)> = None;
    let mut logs: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_log = false;
    loop {
        let until = match &current {
            Some((s, started, _)) => {
                *started + Duration::from_secs(s.timeout.into()) + SCENARIO_SLACK
            }
            None => Instant::now() + SCENARIO_SLACK,
        };
        let line = match session.next(until) {
            Next::Serial(line) => line,
            Next::Stderr(line) => {
                eprintln!("qemu: {line}");
                continue;
            }
            Next::Timeout => {
                let what = match &current {
                    Some((s, _, _)) => {
                        format!("scenario {} outlived its {} s timeout", s.name, s.timeout)
                    }
                    None => "dom0 started no scenario for a minute".to_owned(),
                };
                bail!(
                    "{what}: dom0 is stuck; killed QEMU. Last console lines:\n{}",
                    session.tail()
                );
            }
            Next::Exited => {
                bail!("QEMU exited in the middle of the boot test:\n{}", session.tail())
            }
        };
        if verbose {
            println!("{line}");
        }
        if in_log {
            if console::parse(&line) == Some(Marker::LogEnd) {
                in_log = false;
            } else if let Some((_, lines)) = logs.last_mut() {
                lines.push(console::log_line(&line).to_owned());
            }
            continue;
        }
        match console::parse(&line) {
            Some(Marker::Begin(name)) => {
                let Some(scenario) = next.next().filter(|s| s.name == name) else {
                    bail!("dom0 began scenario {name:?}, which is not the next in the plan");
                };
                eprintln!("[xtask] {name}: {}", scenario.summary);
                current = Some((scenario, Instant::now(), Vec::new()));
                logs.clear();
            }
            Some(Marker::Pass { name, took }) => {
                let Some((s, started, _)) = current.take().filter(|(s, _, _)| s.name == name)
                else {
                    bail!("dom0 reported {name:?} passed, which is not running");
                };
                eprintln!(
                    "[xtask] PASS {} ({:.1} s; {took} in dom0)",
                    s.name,
                    started.elapsed().as_secs_f64()
                );
                outcomes.push(Outcome { name: s.name.clone(), failure: None });
            }
            Some(Marker::Fail { name, reason }) => {
                let Some((s, started, output)) = current.take().filter(|(s, _, _)| s.name == name)
                else {
                    bail!("dom0 reported {name:?} failed, which is not running");
                };
                report_failure(s, started.elapsed(), reason, &output, &logs);
                outcomes.push(Outcome { name: s.name.clone(), failure: Some(reason.to_owned()) });
            }
            Some(Marker::LogBegin(label)) => {
                logs.push((label.to_owned(), Vec::new()));
                in_log = true;
            }
            Some(Marker::Done) => {
                if let Some(missing) = next.next() {
                    bail!("dom0 finished without running scenario {}", missing.name);
                }
                return Ok(outcomes);
            }
            Some(Marker::Fatal(reason)) => bail!("dom0: {reason}"),
            Some(Marker::Ready(_) | Marker::LogEnd) => {}
            None => {
                if let Some((s, _, output)) = &mut current {
                    if !verbose && line.starts_with(&format!("[{}]", s.name)) {
                        eprintln!("  {line}");
                    }
                    output.push(line);
                }
            }
        }
    }
}

fn report_failure(
    s: &Scenario,
    took: Duration,
    reason: &str,
    output: &[String],
    logs: &[(String, Vec<String>)],
) {
    let mut report = format!("[xtask] FAIL {} ({:.1} s): {reason}\n", s.name, took.as_secs_f64());
    report.push_str(&format!("  --- console while {} ran (last 40 lines) ---\n", s.name));
    for line in &output[output.len().saturating_sub(40)..] {
        report.push_str(&format!("  {line}\n"));
    }
    for (label, lines) in logs {
        report.push_str(&format!("  --- {label} ---\n"));
        for line in lines {
            report.push_str(&format!("  {line}\n"));
        }
    }
    eprint!("{report}");
}

/// Installs QEMU and swtpm when missing (with sudo unless root); checks for apt.
fn ensure_host_tools() -> Result<()> {
    for tool in ["apt-get", "apt-cache", "dpkg-deb"] {
        if !process::on_path(tool) {
            bail!("{tool} is missing: the boot test needs a Debian 12 host");
        }
    }
    let missing: Vec<&str> = [
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("swtpm", "swtpm"),
        ("swtpm_setup", "swtpm-tools"),
        ("xz", "xz-utils"),
    ]
    .iter()
    .filter(|(tool, _)| !process::on_path(tool))
    .map(|&(_, package)| package)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("[xtask] installing {}", missing.join(" "));
    let mut cmd = process::as_root("apt-get");
    cmd.args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    process::capture(&mut cmd, INSTALL_DEADLINE)
        .context("installing the boot test's host tools")?;
    Ok(())
}
