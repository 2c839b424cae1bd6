//! Runs the tpm2-tools scenario scripts (tests/tpm2-tools/*.sh) against swtpm,
//! which proves the scripts: what they expect is what libtpms does. Each script
//! gets the TCTI in $TPM2TOOLS_TCTI and a command that restarts the simulator in
//! $TPM2_RESTART, runs in its own directory and must exit 0.
//!
//! The same scripts run against this engine in the shipped binary, `vtpm-tool
//! serve --tpm2`, in `vtpm-tool/tests/tpm2_tools.rs`.
//!
//! `TPM2_TOOLS_SCRIPT=name` runs one script only.

#![allow(clippy::cast_possible_truncation, reason = "test code: small, known lengths")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tpm2-tools");
    let only = std::env::var("TPM2_TOOLS_SCRIPT").ok();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .filter(|p| {
            only.as_ref().is_none_or(|o| p.file_stem().unwrap().to_str() == Some(o.as_str()))
        })
        .collect();
    v.sort();
    v
}

fn require_tools() {
    for tool in ["swtpm", "swtpm_ioctl", "tpm2_startup", "openssl", "xxd"] {
        if Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .map_or(true, |o| !o.status.success())
        {
            panic!(
                "{tool} not found: install with `apt-get install swtpm swtpm-tools tpm2-tools openssl xxd` (CI does)."
            );
        }
    }
}

fn workdir(tag: &str, script: &Path) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tpm2-tools-{}-{}-{}",
        std::process::id(),
        tag,
        script.file_stem().unwrap().to_str().unwrap()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run_script(script: &Path, tcti: &str, restart: &Path, dir: &Path) -> Result<(), String> {
    make_executable(restart);
    let out = Command::new("bash")
        .arg("-x")
        .arg(script)
        .current_dir(dir)
        .env("TPM2TOOLS_TCTI", tcti)
        .env("TPM2_RESTART", restart)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// swtpm on ports P, P+1 with a restart script that stops it and starts it again
/// on the same state.
struct SwtpmProcess {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
}

fn free_pair() -> u16 {
    for _ in 0..100 {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free ports");
}

fn swtpm_args(state: &Path, port: u16) -> String {
    format!(
        "swtpm socket --tpm2 --flags not-need-init --tpmstate dir={} --server type=tcp,port={} --ctrl type=tcp,port={}",
        state.display(),
        port,
        port + 1
    )
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("port {port} did not open");
}

impl SwtpmProcess {
    fn start(dir: &Path) -> Self {
        let state = dir.join("swtpm-state");
        std::fs::create_dir_all(&state).unwrap();
        let port = free_pair();
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {}", swtpm_args(&state, port)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_port(port);
        SwtpmProcess { child: Some(child), dir: dir.to_path_buf(), port }
    }

    fn restart_script(&self) -> PathBuf {
        let state = self.dir.join("swtpm-state");
        let path = self.dir.join("restart.sh");
        let pidfile = self.dir.join("swtpm-restarted.pid");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nset -e\nswtpm_ioctl --tcp 127.0.0.1:{ctrl} -s\nsleep 0.3\n{args} --pid file={pid} --daemon\n\
                 for i in $(seq 100); do swtpm_ioctl --tcp 127.0.0.1:{ctrl} -c >/dev/null 2>&1 && exit 0; sleep 0.1; done\nexit 1\n",
                ctrl = self.port + 1,
                args = swtpm_args(&state, self.port),
                pid = pidfile.display()
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for SwtpmProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A swtpm started by the restart script runs as a daemon: stop it.
        let _ = Command::new("swtpm_ioctl")
            .args(["--tcp", &format!("127.0.0.1:{}", self.port + 1), "-s"])
            .output();
    }
}

#[test]
fn scripts_pass_against_swtpm() {
    require_tools();
    let mut failures = vec![];
    for script in scripts() {
        let dir = workdir("swtpm", &script);
        let sw = SwtpmProcess::start(&dir);
        let restart = sw.restart_script();
        let tcti = format!("swtpm:host=127.0.0.1,port={}", sw.port);
        if let Err(e) = run_script(&script, &tcti, &restart, &dir) {
            failures.push(e);
        }
        drop(sw);
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
