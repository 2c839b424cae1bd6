//! The two stub-domain images: built in release mode, gzipped as Xen ships its C ones.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::{Workspace, process};

/// The image crates, in start order (the manager first, §1.6 of the protocol spec).
pub const NAMES: &[&str] = &["vtpmmgr-stubdom", "vtpm-stubdom"];

/// A cold release build (fat LTO) on a busy two-core machine is slow; more than this means
/// something is wrong.
const BUILD_DEADLINE: Duration = Duration::from_secs(45 * 60);

/// One built image.
#[derive(Debug, Clone)]
pub struct Image {
    /// The crate and binary name.
    pub name: &'static str,
    /// The gzipped ELF, as dom0 loads it (`kernel=` in the domain config).
    pub gz: PathBuf,
    /// Size of the ELF.
    pub elf_size: u64,
    /// Size of the gzipped ELF.
    pub gz_size: u64,
}

/// Whether the image crates are workspace members yet (they are being written in parallel;
/// until they land, scenarios that need them are skipped with a message).
pub fn available(ws: &Workspace) -> bool {
    NAMES.iter().all(|name| {
        Command::new(&ws.cargo)
            .args(["pkgid", "--quiet", name])
            .current_dir(&ws.root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Features that switch an image crate's binary on (`required-features` of its
/// `[[bin]]`: kept out of test builds, whose dev-dependencies bring `std` into crates
/// the freestanding binary shares).
pub const IMAGE_FEATURES: &[&str] = &["vtpm-stubdom/image", "vtpmmgr-stubdom/image"];

/// The program the Linux guest runs for the latency benchmark, built with the images.
pub const GUEST_TOOL: &str = "tpm-latency";

/// Builds both images and writes `target/images/<name>.gz`.
pub fn build(ws: &Workspace) -> Result<Vec<Image>> {
    let mut cmd = Command::new(&ws.cargo);
    cmd.args(["build", "--release"]).current_dir(&ws.root);
    for name in NAMES {
        cmd.args(["-p", name]);
    }
    // The Linux guest's benchmark tool (a host binary; see tpm-latency/).
    cmd.args(["-p", GUEST_TOOL]);
    cmd.args(["--features", &IMAGE_FEATURES.join(",")]);
    process::run(&mut cmd, BUILD_DEADLINE).context("building the images")?;
    let out_dir = ws.target.join("images");
    fs::create_dir_all(&out_dir).with_context(|| format!("{}", out_dir.display()))?;
    NAMES
        .iter()
        .map(|&name| {
            let elf = ws.target.join("release").join(name);
            let bytes =
                fs::read(&elf).with_context(|| format!("reading image {}", elf.display()))?;
            let gz = out_dir.join(format!("{name}.gz"));
            let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
            encoder.write_all(&bytes)?;
            fs::write(&gz, encoder.finish()?).with_context(|| format!("{}", gz.display()))?;
            let gz_size = fs::metadata(&gz)?.len();
            Ok(Image { name, gz, elf_size: bytes.len() as u64, gz_size })
        })
        .collect()
}

/// `123.4 KiB`-style size.
pub fn human(bytes: u64) -> String {
    // Precision loss is irrelevant for a size shown to a person.
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", b / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}
