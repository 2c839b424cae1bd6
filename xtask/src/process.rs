//! Running external commands under a deadline, with their output kept for the error.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How often a running child is polled for exit.
const POLL: Duration = Duration::from_millis(50);

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

/// The program name and arguments, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs `cmd` with its output captured; fails if it exits non-zero or outlives `deadline`,
/// quoting the end of what it printed.
pub fn capture(cmd: &mut Command, deadline: Duration) -> Result<Output> {
    let what = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{what}`"))?;
    // Drain both pipes in threads so a chatty child never blocks on a full pipe.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait(&mut child, deadline, &what);
    let output = Output {
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    let status = status?;
    if !status.success() {
        let printed = format!("{}{}", output.stdout, output.stderr);
        bail!("`{what}` failed ({status}):\n{}", tail(&printed, 30));
    }
    Ok(output)
}

/// Runs `cmd` with the terminal as its output; fails if it exits non-zero or outlives
/// `deadline`.
pub fn run(cmd: &mut Command, deadline: Duration) -> Result<()> {
    let what = describe(cmd);
    let mut child = cmd.spawn().with_context(|| format!("cannot start `{what}`"))?;
    let status = wait(&mut child, deadline, &what)?;
    if !status.success() {
        bail!("`{what}` failed ({status})");
    }
    Ok(())
}

/// Waits for `child`, killing it once `deadline` has passed.
pub fn wait(child: &mut Child, deadline: Duration, what: &str) -> Result<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().with_context(|| format!("waiting for `{what}`"))? {
            return Ok(status);
        }
        if start.elapsed() > deadline {
            kill(child);
            bail!("`{what}` did not finish within {} s; killed it", deadline.as_secs());
        }
        thread::sleep(POLL);
    }
}

/// Kills and reaps `child` (errors ignored: it may have exited on its own meanwhile).
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Whether `program` can be found on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// A command run as root: directly when we are root, through `sudo` otherwise.
pub fn as_root(program: &str) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut cmd = Command::new("sudo");
        cmd.arg(program);
        cmd
    }
}

fn is_root() -> bool {
    // /proc/self/status has "Uid: real effective saved fs"; avoids a libc dependency.
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}
