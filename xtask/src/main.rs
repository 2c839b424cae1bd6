//! `cargo xtask`: build the stub-domain images, boot them under Xen in QEMU, run the checks.
#![forbid(unsafe_code)]

mod archive;
mod boot;
mod checks;
mod console;
mod elf;
mod images;
mod initramfs;
mod packages;
mod process;
mod qemu;
mod scenarios;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::boot::BootOptions;

/// Build, boot and test the Rust Xen vTPM stub domains.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build vtpm-stubdom and vtpmmgr-stubdom (release) and gzip them to target/images/.
    Images,
    /// Boot Xen with a Debian dom0 in QEMU and run boot scenarios (all in boot-tests/
    /// when none are named); exits non-zero if any fails.
    BootTest {
        /// Scenarios to run, by name (`vtpm-stubdom`) or path (`boot-tests/vtpm-stubdom.sh`).
        scenarios: Vec<String>,
        /// List the scenarios and exit.
        #[arg(long)]
        list: bool,
        #[command(flatten)]
        boot: BootOptions,
    },
    /// Build the images and boot the stack under Xen in QEMU: the manager and a vTPM, with
    /// their consoles shown; on a terminal, ends in a dom0 shell.
    Run {
        #[command(flatten)]
        boot: BootOptions,
    },
    /// Everything CI checks: cargo fmt, clippy (-D warnings), cargo test, the boot test,
    /// and bounded fuzzing.
    Test {
        /// Skip the boot test.
        #[arg(long)]
        no_boot: bool,
        /// Seconds per fuzz target (0 skips fuzzing).
        #[arg(long, default_value_t = 30)]
        fuzz_seconds: u64,
        #[command(flatten)]
        boot: BootOptions,
    },
    /// Run every fuzz target in fuzz/Cargo.toml (or those named) for a bounded time.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Targets to run (all when none are named).
        targets: Vec<String>,
    },
}

/// Where the workspace and its build output are.
#[derive(Debug)]
pub struct Workspace {
    /// The workspace root (the parent of xtask/).
    pub root: PathBuf,
    /// The cargo target directory.
    pub target: PathBuf,
    /// The cargo that runs us (same toolchain for nested builds).
    pub cargo: PathBuf,
}

impl Workspace {
    fn locate() -> Self {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).to_path_buf();
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
        Workspace { root, target, cargo }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The whole chain, one cause per line; no backtrace (the messages carry the
            // context a reader needs).
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let ws = Workspace::locate();
    match cli.command {
        Cmd::Images => {
            let start = Instant::now();
            for image in images::build(&ws)? {
                println!(
                    "{}: {} (ELF {}) -> {}",
                    image.name,
                    images::human(image.gz_size),
                    images::human(image.elf_size),
                    image.gz.display()
                );
            }
            eprintln!("[xtask] images took {:.1} s", start.elapsed().as_secs_f64());
            Ok(())
        }
        Cmd::BootTest { scenarios: names, list, boot } => {
            if list {
                for s in scenarios::discover(&ws.root.join("boot-tests"))? {
                    let needs = if s.needs_images { ", needs images" } else { "" };
                    println!("{} ({} s{needs})\n    {}", s.name, s.timeout, s.summary);
                }
                return Ok(());
            }
            boot::boot_test(&ws, &names, &boot)
        }
        Cmd::Run { boot } => boot::run(&ws, &boot),
        Cmd::Test { no_boot, fuzz_seconds, boot } => {
            checks::test(&ws, &boot, no_boot, fuzz_seconds)
        }
        Cmd::Fuzz { seconds, targets } => checks::fuzz(&ws, seconds, &targets),
    }
}
