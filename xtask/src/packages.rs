//! Debian packages for dom0 and the guests: resolve, download and extract, cached.
//!
//! The packages come from the host's apt configuration (Debian 12 "bookworm"), fetched with
//! `apt-get download` and unpacked with `dpkg-deb -x`: nothing is installed on the host.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process;

/// The packages whose files dom0 uses directly. Their shared-library dependencies (the
/// packages in Debian's `libs` section, recursively) are added by [`resolve`].
const ROOTS: &[&str] = &[
    // The hypervisor (a gzipped multiboot ELF under /boot).
    "xen-hypervisor-4.17-amd64",
    // xl, xenstored, xenconsoled, xen-init-dom0 and the hotplug scripts.
    "xen-utils-4.17",
    "xen-utils-common",
    "xenstore-utils",
    // init, the shell and the usual tools, for dom0 and the guests.
    "busybox-static",
    // The hotplug `block` script is bash and uses util-linux's losetup (in `mount`) and flock.
    "bash",
    "mount",
    "util-linux",
    // The guests' TPM software: TrouSerS (tcsd) and tpm-tools for TPM 1.2, tpm2-tools with
    // the TSS's device TCTI (loaded with dlopen, so no package depends on it) for TPM 2.0.
    "trousers",
    "tpm-tools",
    "tpm2-tools",
    "libtss2-tcti-device0",
    // libext2fs2 (loaded by the Xen libraries) uses libcom_err without declaring it:
    // Debian omits dependencies on packages of priority `required`.
    "libcom-err2",
];

/// The metapackage naming the current Debian kernel; its dependency is the kernel package.
const KERNEL_META: &str = "linux-image-amd64";

/// How long apt may take to resolve or download.
const APT_DEADLINE: Duration = Duration::from_secs(600);
/// How long unpacking all packages may take.
const EXTRACT_DEADLINE: Duration = Duration::from_secs(600);

/// The unpacked packages.
#[derive(Debug)]
pub struct Packages {
    /// All packages unpacked into one tree.
    pub root: PathBuf,
    /// The Debian kernel's release string (`lib/modules/<release>`).
    pub kernel_release: String,
    /// The kernel as a plain ELF (what `vmlinuz` decompresses to), for dom0 and the guests.
    pub vmlinux: PathBuf,
    /// How many packages there are.
    pub count: usize,
    /// Whether everything came from the cache (no apt call).
    pub cached: bool,
}

impl Packages {
    /// The gzipped Xen hypervisor.
    pub fn xen_gz(&self) -> Result<PathBuf> {
        let boot = self.root.join("boot");
        for entry in fs::read_dir(&boot).with_context(|| format!("{}", boot.display()))? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if name.starts_with("xen-") && name.ends_with(".gz") {
                return Ok(path);
            }
        }
        bail!("no boot/xen-*.gz in {}", self.root.display())
    }

    /// The kernel's module directory.
    pub fn modules(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.kernel_release)
    }
}

/// Makes the packages available under `cache`: reuses the last resolution when every
/// package file is still there (no network), otherwise resolves, downloads and unpacks.
pub fn fetch(cache: &Path, refresh: bool) -> Result<Packages> {
    let debs = cache.join("debs");
    fs::create_dir_all(&debs).with_context(|| format!("{}", debs.display()))?;
    let manifest = debs.join("manifest");
    // The manifest's first line records the roots, so editing ROOTS invalidates it.
    let header = format!("# roots: {} {KERNEL_META}", ROOTS.join(" "));
    let (files, cached) = match read_manifest(&manifest, &header, &debs) {
        Some(files) if !refresh => (files, true),
        _ => {
            let files = download(&debs)?;
            fs::write(&manifest, format!("{header}\n{}\n", files.join("\n")))
                .with_context(|| format!("{}", manifest.display()))?;
            (files, false)
        }
    };
    let root = cache.join("root");
    extract(&debs, &files, &root)?;
    let modules = root.join("lib/modules");
    let kernel_release = fs::read_dir(&modules)
        .with_context(|| format!("{}", modules.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .next()
        .with_context(|| format!("no kernel under {}", modules.display()))?;
    let vmlinux = cache.join(format!("vmlinux-{kernel_release}"));
    if !vmlinux.is_file() {
        let vmlinuz = root.join("boot").join(format!("vmlinuz-{kernel_release}"));
        decompress_kernel(&vmlinuz, &vmlinux)?;
    }
    Ok(Packages { root, kernel_release, vmlinux, count: files.len(), cached })
}

/// The package files of the last resolution of the same roots, if all are still present.
fn read_manifest(manifest: &Path, header: &str, debs: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(manifest).ok()?;
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return None;
    }
    let files: Vec<String> = lines.map(str::to_owned).collect();
    (!files.is_empty() && files.iter().all(|f| debs.join(f).is_file())).then_some(files)
}

/// Resolves the package set and downloads what is not cached; returns the file names.
fn download(debs: &Path) -> Result<Vec<String>> {
    let (names, info) = resolve()?;
    let mut files = Vec::new();
    let mut wanted = Vec::new();
    for name in &names {
        let Some(pkg) = info.get(name) else { bail!("apt-cache show printed nothing for {name}") };
        // `apt-get download` names the file name_version_arch.deb, the epoch's ':' escaped.
        let file = format!("{name}_{}_{}.deb", pkg.version.replace(':', "%3a"), pkg.arch);
        if !debs.join(&file).is_file() {
            wanted.push(format!("{name}={}", pkg.version));
        }
        files.push(file);
    }
    if !wanted.is_empty() {
        eprintln!("[xtask] downloading {} Debian packages", wanted.len());
        process::capture(Command::new("apt-get").arg("download").args(&wanted).current_dir(debs), APT_DEADLINE)
            .context("downloading Debian packages (is apt configured for Debian 12, and `apt-get update` run?)")?;
    }
    for file in &files {
        if !debs.join(file).is_file() {
            bail!("apt-get download did not produce {file}");
        }
    }
    Ok(files)
}

/// The roots, the kernel package behind [`KERNEL_META`], and, recursively, their
/// dependencies in Debian's `libs` section: exactly the shared libraries the roots'
/// binaries load, without maintainer-script machinery (python3, udev, debconf, ...), which a
/// busybox dom0 neither has nor needs. Two apt-cache calls (each re-reads apt's lists).
fn resolve() -> Result<(BTreeSet<String>, BTreeMap<String, PackageInfo>)> {
    let roots: Vec<String> = ROOTS.iter().chain(&[KERNEL_META]).map(|s| s.to_string()).collect();
    let deps = depends(&roots)?;
    let kernel = deps
        .get(KERNEL_META)
        .and_then(|list| {
            list.iter().find(|d| d.starts_with("linux-image-") && d.ends_with("-amd64"))
        })
        .cloned()
        .with_context(|| format!("cannot find the kernel package behind {KERNEL_META}"))?;
    let known: Vec<String> = deps.keys().filter(|name| !name.starts_with('<')).cloned().collect();
    let info = show(&known)?;
    let mut chosen: BTreeSet<String> = ROOTS.iter().map(|s| s.to_string()).collect();
    chosen.insert(kernel);
    let mut queue: VecDeque<String> = chosen.iter().cloned().collect();
    while let Some(name) = queue.pop_front() {
        for dep in deps.get(&name).into_iter().flatten() {
            let is_lib =
                info.get(dep).is_some_and(|p| p.section == "libs" || p.section.ends_with("/libs"));
            if is_lib && chosen.insert(dep.clone()) {
                queue.push_back(dep.clone());
            }
        }
    }
    Ok((chosen, info))
}

/// `apt-cache depends --recurse` from `packages`: each package's Depends and PreDepends
/// (the first alternative of each or-group, virtual packages skipped).
fn depends(packages: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let out = process::capture(
        Command::new("apt-cache")
            .args(["depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts"])
            .args(["--no-breaks", "--no-replaces", "--no-enhances"])
            .args(packages),
        APT_DEADLINE,
    )
    .context("resolving Debian package dependencies (run `apt-get update`?)")?;
    let map = parse_depends(&out.stdout);
    for pkg in packages {
        if !map.contains_key(pkg) {
            bail!("apt-cache knows no package {pkg} (run `apt-get update`?)");
        }
    }
    Ok(map)
}

/// Parses `apt-cache depends` output: a line per package, then indented `Depends:` and
/// `PreDepends:` lines; `|` marks a member of an or-group other than its last; `<name>` is a
/// virtual package (its providers follow, indented further, and are not taken).
fn parse_depends(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    // Whether the previous dependency line ended with `|`, and whether its group already
    // gave a package.
    let mut in_alternatives = false;
    let mut group_taken = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            current = Some(line.trim().to_owned());
            map.entry(line.trim().to_owned()).or_default();
            in_alternatives = false;
            continue;
        }
        let trimmed = line.trim_start();
        let (alternative, rest) = match trimmed.strip_prefix('|') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let Some(dep) =
            rest.strip_prefix("Depends: ").or_else(|| rest.strip_prefix("PreDepends: "))
        else {
            continue;
        };
        if !in_alternatives {
            group_taken = false;
        }
        in_alternatives = alternative;
        // The first real package of an or-group stands for the group.
        if group_taken || dep.starts_with('<') {
            continue;
        }
        group_taken = true;
        if let Some(pkg) = &current {
            let name = dep.split(':').next().unwrap_or(dep).to_owned();
            map.entry(pkg.clone()).or_default().push(name);
        }
    }
    map
}

/// The fields of a package's candidate version that the harness uses.
#[derive(Debug)]
struct PackageInfo {
    version: String,
    arch: String,
    section: String,
}

/// `apt-cache show` of the candidate versions.
fn show(packages: &[String]) -> Result<BTreeMap<String, PackageInfo>> {
    let out = process::capture(
        Command::new("apt-cache").args(["show", "--no-all-versions"]).args(packages),
        APT_DEADLINE,
    )?;
    Ok(parse_show(&out.stdout))
}

/// Parses `apt-cache show` output: one paragraph of `Field: value` lines per package.
fn parse_show(text: &str) -> BTreeMap<String, PackageInfo> {
    let mut map = BTreeMap::new();
    for paragraph in text.split("\n\n") {
        let field = |key: &str| {
            paragraph.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_owned())
        };
        if let (Some(name), Some(version), Some(arch)) =
            (field("Package:"), field("Version:"), field("Architecture:"))
        {
            let section = field("Section:").unwrap_or_default();
            map.insert(name, PackageInfo { version, arch, section });
        }
    }
    map
}

/// Unpacks `files` into `root`, unless `root` already holds exactly those packages.
fn extract(debs: &Path, files: &[String], root: &Path) -> Result<()> {
    let stamp = root.join(".packages");
    let list = files.join("\n") + "\n";
    if fs::read_to_string(&stamp).is_ok_and(|old| old == list) {
        return Ok(());
    }
    let staging = root.with_extension("partial");
    for dir in [root, staging.as_path()] {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    fs::create_dir_all(&staging)?;
    for file in files {
        process::capture(
            Command::new("dpkg-deb").arg("-x").arg(debs.join(file)).arg(&staging),
            EXTRACT_DEADLINE,
        )?;
    }
    fs::write(staging.join(".packages"), list)?;
    fs::rename(&staging, root).with_context(|| format!("renaming to {}", root.display()))?;
    Ok(())
}

/// Writes the ELF kernel inside the bzImage `vmlinuz` to `out`.
///
/// Xen (for dom0) and libxenguest (for `xl create`) can both decompress a bzImage, but
/// under emulation decompressing Debian's xz payload takes them 7 to 25 seconds every time;
/// done once here, it costs nothing afterwards.
fn decompress_kernel(vmlinuz: &Path, out: &Path) -> Result<()> {
    let image = fs::read(vmlinuz).with_context(|| format!("{}", vmlinuz.display()))?;
    let payload = bzimage_payload(&image).with_context(|| format!("{}", vmlinuz.display()))?;
    let suffixed = |suffix: &str| {
        let mut name = out.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let (xz, partial) = (suffixed(".xz"), suffixed(".partial"));
    fs::write(&xz, payload)?;
    let elf = fs::File::create(&partial).with_context(|| format!("{}", partial.display()))?;
    let mut cmd = Command::new("xz");
    cmd.args(["--decompress", "--stdout", "--single-stream"]).arg(&xz).stdout(elf);
    let mut child = cmd.spawn().context("cannot run xz (install xz-utils)")?;
    let status = process::wait(&mut child, EXTRACT_DEADLINE, "xz")?;
    let _ = fs::remove_file(&xz);
    if !status.success() {
        bail!("xz could not decompress the kernel in {}", vmlinuz.display());
    }
    if !fs::read(&partial).is_ok_and(|b| b.starts_with(b"\x7fELF")) {
        bail!("the payload of {} is not an ELF kernel", vmlinuz.display());
    }
    fs::rename(&partial, out)?;
    Ok(())
}

/// The compressed kernel inside a bzImage: `payload_length` bytes at `payload_offset` from
/// the start of the protected-mode code, which follows the `setup_sects` + 1 sectors of the
/// real-mode part (Linux boot protocol 2.08+, Documentation/arch/x86/boot.rst).
fn bzimage_payload(image: &[u8]) -> Result<&[u8]> {
    let u32_at = |at: usize| -> Result<usize> {
        let bytes = image.get(at..at + 4).context("truncated bzImage header")?;
        Ok(u32::from_le_bytes(bytes.try_into()?) as usize)
    };
    if image.get(0x202..0x206) != Some(b"HdrS") {
        bail!("not a bzImage (no HdrS signature)");
    }
    let setup_sects = match image.get(0x1f1).copied().context("truncated bzImage header")? {
        0 => 4,
        n => usize::from(n),
    };
    let start = (setup_sects + 1) * 512 + u32_at(0x248)?;
    let payload =
        image.get(start..start + u32_at(0x24c)?).context("bzImage payload out of bounds")?;
    if !payload.starts_with(b"\xfd7zXZ\0") {
        bail!("the bzImage payload is not xz-compressed");
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_depends_takes_first_alternative_and_skips_virtual_packages() {
        let text = "xen-utils-common\n |Depends: sysvinit-utils\n  Depends: lsb-base\n  \
                    Depends: <python3:any>\n    python3\n  PreDepends: libc6:amd64\n  \
                    Breaks: old\nlibc6\n  Depends: libgcc-s1\nutil\n |Depends: <awk>\n    mawk\n  \
                    Depends: gawk\n";
        let deps = parse_depends(text);
        assert_eq!(deps["xen-utils-common"], ["sysvinit-utils", "libc6"]);
        assert_eq!(deps["libc6"], ["libgcc-s1"]);
        assert_eq!(deps["util"], ["gawk"]);
    }

    #[test]
    fn parse_show_reads_version_arch_and_section() {
        let text = "Package: busybox-static\nVersion: 1:1.35.0-4\nArchitecture: amd64\n\
                    Section: shells\n\nPackage: zlib1g\nVersion: 1:1.2.13\nArchitecture: amd64\n\
                    Section: libs\nDescription: x\n";
        let info = parse_show(text);
        assert_eq!(info["busybox-static"].version, "1:1.35.0-4");
        assert_eq!(info["zlib1g"].section, "libs");
        assert_eq!(info["zlib1g"].arch, "amd64");
    }

    #[test]
    fn bzimage_payload_follows_the_setup_header() {
        let mut image = vec![0u8; 0x1000];
        image[0x1f1] = 1; // setup_sects: the protected-mode code starts at 2 * 512
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x248..0x24c].copy_from_slice(&0x10u32.to_le_bytes());
        image[0x24c..0x250].copy_from_slice(&8u32.to_le_bytes());
        image[0x410..0x418].copy_from_slice(b"\xfd7zXZ\0\x01\x02");
        assert_eq!(bzimage_payload(&image).unwrap(), b"\xfd7zXZ\0\x01\x02");
        image[0x24c..0x250].copy_from_slice(&0x10000u32.to_le_bytes());
        assert!(bzimage_payload(&image).is_err());
        assert!(bzimage_payload(b"MZ").is_err());
    }
}
