//! The tpm2-tools scenario scripts (`tpm2/tests/tpm2-tools/*.sh`) against the
//! shipped binary: `vtpm-tool serve --tpm2` with the TPM 2.0 engine, driven by
//! Debian's tpm2-tools through libtss2's swtpm TCTI. Each script gets the TCTI in
//! `$TPM2TOOLS_TCTI` and, in `$TPM2_RESTART`, a command that stops the server
//! (CMD_SHUTDOWN on the control channel, which saves the state) and starts a new
//! process on the same state directory and ports. Each script runs in its own
//! directory and must exit 0. `tpm2/tests/tools.rs` runs the same scripts
//! against swtpm, which proves the scripts.
//!
//! `TPM2_TOOLS_SCRIPT=<name>` runs one script only. Needs tpm2-tools (5.x),
//! swtpm-tools (swtpm_ioctl), openssl and xxd: without them the test fails with
//! the install command.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VTPM_TOOL: &str = env!("CARGO_BIN_EXE_vtpm-tool");

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tpm2/tests/tpm2-tools");
    let only = std::env::var("TPM2_TOOLS_SCRIPT").ok();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .filter(|p| only.as_ref().is_none_or(|o| p.file_stem().and_then(|s| s.to_str()) == Some(o)))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no scenario scripts in {}", dir.display());
    v
}

fn require_tools() {
    for tool in ["swtpm_ioctl", "tpm2_startup", "tpm2_checkquote", "openssl", "xxd", "setsid"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} not found: install with `apt-get install swtpm-tools tpm2-tools openssl xxd` \
             (.ci/run does)"
        );
    }
}

/// Two consecutive free loopback ports (data, control).
fn free_pair() -> u16 {
    for _ in 0..100 {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no two consecutive free ports");
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("vtpm-tool did not open port {port}");
}

fn serve_command(state: &Path, port: u16) -> String {
    format!(
        "{VTPM_TOOL} serve --tpm2 --server tcp:127.0.0.1:{port} --ctrl tcp:127.0.0.1:{} --state {}",
        port + 1,
        state.display()
    )
}

/// One scenario: a server on its own state directory and ports, stopped at the
/// end whichever process (the first, or one the restart script started) serves.
struct Scenario {
    dir: PathBuf,
    port: u16,
    first: Child,
}

impl Scenario {
    fn start(script: &Path) -> Self {
        let name = script.file_stem().unwrap().to_str().unwrap();
        let dir = std::env::temp_dir()
            .join(format!("vtpm-tool-tpm2-tools-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("state");
        let port = free_pair();
        let command = serve_command(&state, port);
        let log = std::fs::File::create(dir.join("vtpm-tool.log")).unwrap();
        let first = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_port(port);
        let restart = dir.join("restart.sh");
        std::fs::write(
            &restart,
            format!(
                "#!/bin/sh\nset -e\nswtpm_ioctl --tcp 127.0.0.1:{ctrl} -s\n\
                 for i in $(seq 100); do swtpm_ioctl --tcp 127.0.0.1:{ctrl} -c >/dev/null 2>&1 || break; sleep 0.05; done\n\
                 setsid {command} >>{log} 2>&1 </dev/null &\n\
                 for i in $(seq 200); do swtpm_ioctl --tcp 127.0.0.1:{ctrl} -c >/dev/null 2>&1 && exit 0; sleep 0.05; done\n\
                 echo 'vtpm-tool did not come back' >&2; exit 1\n",
                ctrl = port + 1,
                log = dir.join("vtpm-tool.log").display(),
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&restart, std::fs::Permissions::from_mode(0o755)).unwrap();
        Scenario { dir, port, first }
    }

    fn run(&self, script: &Path) -> Result<(), String> {
        let out = Command::new("bash")
            .arg("-x")
            .arg(script)
            .current_dir(&self.dir)
            .env("TPM2TOOLS_TCTI", format!("swtpm:host=127.0.0.1,port={}", self.port))
            .env("TPM2_RESTART", self.dir.join("restart.sh"))
            .output()
            .unwrap();
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.dir.join("vtpm-tool.log")).unwrap_or_default();
        Err(format!(
            "{} failed against vtpm-tool ({}):\n--- stdout\n{}\n--- stderr\n{}\n--- vtpm-tool\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            log
        ))
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = Command::new("swtpm_ioctl")
            .args(["--tcp", &format!("127.0.0.1:{}", self.port + 1), "-s"])
            .output();
        let _ = self.first.kill();
        let _ = self.first.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn tpm2_tools_scenarios_pass_against_vtpm_tool_serve() {
    require_tools();
    let mut failures = vec![];
    for script in scripts() {
        let scenario = Scenario::start(&script);
        if let Err(e) = scenario.run(&script) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
