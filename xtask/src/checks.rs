//! `test` (everything CI runs) and `fuzz` (bounded cargo-fuzz runs of every target).

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::boot::{self, BootOptions};
use crate::{Workspace, process};

/// Deadlines for the cargo steps; CI has 90 minutes for everything on two cores.
const FMT_DEADLINE: Duration = Duration::from_secs(5 * 60);
const CLIPPY_DEADLINE: Duration = Duration::from_secs(30 * 60);
const TEST_DEADLINE: Duration = Duration::from_secs(40 * 60);
/// Building cargo-fuzz, or one fuzz target with sanitizers.
const FUZZ_BUILD_DEADLINE: Duration = Duration::from_secs(20 * 60);

/// `cargo xtask test`: formatting, lints, host tests, the boot test, bounded fuzzing.
/// Every step runs even when an earlier one failed, so one run shows every problem.
pub fn test(
    ws: &Workspace,
    boot_opts: &BootOptions,
    no_boot: bool,
    fuzz_seconds: u64,
) -> Result<()> {
    let mut failed = Vec::new();
    let mut passed = 0;
    let mut step = |name: &str, result: Result<()>| match result {
        Ok(()) => {
            eprintln!("[xtask] test step {name}: ok");
            passed += 1;
        }
        Err(err) => {
            eprintln!("[xtask] test step {name} FAILED: {err:#}");
            failed.push(name.to_owned());
        }
    };
    step(
        "fmt",
        timed("cargo fmt --check", || cargo(ws, &["fmt", "--all", "--check"], FMT_DEADLINE)),
    );
    step(
        "clippy",
        timed("cargo clippy", || {
            cargo(
                ws,
                &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
                CLIPPY_DEADLINE,
            )?;
            // The image binaries, which need their `image` feature (images::IMAGE_FEATURES).
            let features = crate::images::IMAGE_FEATURES.join(",");
            let mut args = vec!["clippy"];
            for name in crate::images::NAMES {
                args.extend(["-p", name]);
            }
            args.extend(["--features", &features, "--bins", "--", "-D", "warnings"]);
            cargo(ws, &args, CLIPPY_DEADLINE)
        }),
    );
    step(
        "test",
        timed("cargo test", || {
            cargo(ws, &["test", "--workspace", "--no-fail-fast"], TEST_DEADLINE)
        }),
    );
    if no_boot {
        eprintln!("[xtask] test step boot-test: skipped (--no-boot)");
    } else {
        step("boot-test", timed("boot test", || boot::boot_test(ws, &[], boot_opts)));
    }
    if fuzz_seconds > 0 {
        step("fuzz", timed("fuzzing", || fuzz(ws, fuzz_seconds, &[])));
    }
    println!("steps: {passed} passed, {} failed", failed.len());
    if !failed.is_empty() {
        bail!("test steps failed: {}", failed.join(", "));
    }
    Ok(())
}

fn timed(what: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let start = Instant::now();
    let result = f();
    eprintln!("[xtask] {what} took {:.1} s", start.elapsed().as_secs_f64());
    result
}

fn cargo(ws: &Workspace, args: &[&str], deadline: Duration) -> Result<()> {
    let mut cmd = Command::new(&ws.cargo);
    cmd.args(args).current_dir(&ws.root);
    process::run(&mut cmd, deadline)
}

/// `cargo xtask fuzz`: runs each target (all in fuzz/Cargo.toml when `wanted` is empty)
/// for `seconds` with cargo-fuzz, installing cargo-fuzz if absent.
pub fn fuzz(ws: &Workspace, seconds: u64, wanted: &[String]) -> Result<()> {
    let dir = ws.root.join("fuzz");
    let manifest = dir.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).with_context(|| format!("{}", manifest.display()))?;
    let all = fuzz_targets(&text);
    let targets: Vec<String> = if wanted.is_empty() {
        all
    } else {
        for w in wanted {
            if !all.contains(w) {
                bail!(
                    "no fuzz target {w:?} in {}; there are: {}",
                    manifest.display(),
                    all.join(", ")
                );
            }
        }
        wanted.to_vec()
    };
    if targets.is_empty() {
        println!("fuzz: no targets in {} yet", manifest.display());
        return Ok(());
    }
    if !Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success())
    {
        eprintln!("[xtask] installing cargo-fuzz");
        process::run(
            Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]),
            FUZZ_BUILD_DEADLINE,
        )?;
    }
    // cargo-fuzz passes -Z flags (sanitizers), so it needs nightly; without one, the pinned
    // stable toolchain accepts them under RUSTC_BOOTSTRAP (its sanitizer runtimes ship with it).
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    for target in &targets {
        let start = Instant::now();
        // The rustup proxy, not $CARGO: `+nightly` must be able to switch toolchains.
        let mut cmd = Command::new("cargo");
        if nightly {
            cmd.arg("+nightly");
        } else {
            cmd.env("RUSTC_BOOTSTRAP", "1");
        }
        cmd.args(["fuzz", "run", target, "--", &format!("-max_total_time={seconds}")])
            .current_dir(&dir);
        // Cargo's variables from the outer `cargo xtask` would pin its toolchain.
        for var in ["CARGO", "RUSTUP_TOOLCHAIN", "RUSTC", "RUSTDOC", "CARGO_TARGET_DIR"] {
            cmd.env_remove(var);
        }
        process::run(&mut cmd, FUZZ_BUILD_DEADLINE + Duration::from_secs(seconds))
            .with_context(|| format!("fuzz target {target}"))?;
        eprintln!("[xtask] fuzz {target}: {:.0} s, no crash", start.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The `name`s of the `[[bin]]` tables of a cargo-fuzz manifest.
fn fuzz_targets(manifest: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin
            && let Some(value) =
                line.strip_prefix("name").map(str::trim_start).and_then(|l| l.strip_prefix('='))
        {
            targets.push(value.trim().trim_matches('"').to_owned());
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_targets_reads_bin_names_only() {
        let manifest = "[package]\nname = \"vtpm-fuzz\"\n\n[[bin]]\nname = \"tpmif_request\"\n\
                        path = \"fuzz_targets/tpmif_request.rs\"\n\n[[bin]]\nname=\"xs_reply\"\n";
        assert_eq!(fuzz_targets(manifest), ["tpmif_request", "xs_reply"]);
    }
}
