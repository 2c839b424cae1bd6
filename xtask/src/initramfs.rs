//! The dom0 and guest initramfs trees, assembled from the unpacked Debian packages.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::archive::{Entry, Tree};
use crate::elf;
use crate::images::Image;
use crate::packages::Packages;

/// dom0's init: mounts, modules, the Xen daemons, then the scenarios or the demo.
const DOM0_INIT: &str = include_str!("../dom0/init");
/// What `cargo xtask run` does in dom0 once the daemons are up.
const RUN_DEMO: &str = include_str!("../dom0/run-demo.sh");
/// The stand-in Linux guest's init.
const GUEST_INIT: &str = include_str!("../guest/init");

/// Modules dom0 loads at boot (the Debian kernel builds the Xen backends as modules):
/// /dev/xen/{evtchn,gntdev,gntalloc,privcmd}, xenfs, the block backend, and loop devices
/// for the hotplug `block` script's `file:` disks.
const DOM0_MODULES: &[&str] =
    &["xen-evtchn", "xen-gntdev", "xen-gntalloc", "xen-privcmd", "xenfs", "xen-blkback", "loop"];

/// Modules the Linux guest loads: its disk and its TPM frontends.
const GUEST_MODULES: &[&str] = &["xen-blkfront", "xen-tpmfront"];

/// What the guest runs besides busybox, from the packages (their libraries come along):
/// TrouSerS and tpm-tools for a TPM 1.2, tpm2-tools (every `tpm2_*` is a link to `tpm2`)
/// and the TSS's device TCTI, which the TCTI loader opens with dlopen (as glibc does
/// libgcc_s for a thread's exit, which tcsd's threads need).
const GUEST_PROGRAMS: &[&str] = &[
    "lib/x86_64-linux-gnu/libgcc_s.so.1",
    "etc/tcsd.conf",
    "usr/sbin/tcsd",
    "usr/sbin/tpm_version",
    "usr/sbin/tpm_takeownership",
    "usr/sbin/tpm_getpubek",
    "usr/sbin/tpm_nvdefine",
    "usr/sbin/tpm_nvinfo",
    "usr/sbin/tpm_nvwrite",
    "usr/sbin/tpm_nvread",
    "usr/sbin/tpm_nvrelease",
    "usr/bin/tpm_sealdata",
    "usr/bin/tpm_unsealdata",
    "usr/bin/tpm2",
    "usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0",
];

/// Package contents dom0 does not need (the kernel and Xen are passed by QEMU; only the
/// modules above are copied; no documentation, locales, charsets, HVM firmware, nor
/// pygrub's python modules and file-system plugins).
const DOM0_EXCLUDES: &[&str] = &[
    ".packages",
    "boot",
    "etc/init.d",
    "lib/modules",
    "usr/lib/debug",
    "usr/lib/x86_64-linux-gnu/gconv",
    "usr/lib/xen-4.17/boot",
    "usr/lib/xen-4.17/lib/python",
    "usr/lib/xen-4.17/lib/x86_64-linux-gnu/xenfsimage",
    "usr/share",
];

/// Where dom0 finds the stub-domain images, as for Xen's C stub domains.
pub const IMAGE_DIR: &str = "usr/lib/xen/boot";

/// Everything dom0 gets besides the packages.
#[derive(Debug)]
pub struct Dom0Inputs<'a> {
    /// `test` (run the plan) or `run` (the demo).
    pub mode: &'a str,
    /// The plan: `<scenario> <timeout>` lines.
    pub plan: String,
    /// The `boot-tests/` directory, copied whole to `/boot-tests`.
    pub scenario_dir: &'a Path,
    /// The stub-domain images (empty before the image crates exist).
    pub images: &'a [Image],
    /// The stand-in guest's initramfs.
    pub guest_initrd: &'a Path,
    /// Scenario parameters from the host's `BT_PARAM_*` variables (see [`params`]).
    pub params: String,
}

/// The host's `BT_PARAM_<NAME>=<value>` environment variables as a shell file the
/// scenarios source (`export BT_PARAM_<NAME>=<value>` lines), so a scenario can be run
/// with other parameters than CI's (e.g. `BT_PARAM_FAULT_TRIALS=100`). Values are
/// limited to `[A-Za-z0-9_.,:-]`, names to `[A-Z0-9_]`: nothing to quote.
pub fn params(vars: impl Iterator<Item = (String, String)>) -> Result<String> {
    let ok_name =
        |n: &str| n.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    let ok_value = |v: &str| v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.,:-".contains(&b));
    let mut lines: Vec<String> = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("BT_PARAM_") else { continue };
        if rest.is_empty() || !ok_name(rest) || !ok_value(&value) {
            anyhow::bail!(
                "{name}={value:?}: scenario parameters are BT_PARAM_[A-Z0-9_]+ with values of [A-Za-z0-9_.,:-]"
            );
        }
        lines.push(format!("export {name}={value}\n"));
    }
    lines.sort();
    Ok(lines.concat())
}

/// The dom0 tree; fails if a binary in it lacks a shared library.
pub fn dom0(pkgs: &Packages, inputs: &Dom0Inputs<'_>) -> Result<Tree> {
    let mut tree = Tree::new();
    let excluded = |path: &Path| DOM0_EXCLUDES.iter().any(|e| path == Path::new(e));
    tree.copy_dir(&pkgs.root, Path::new(""), &excluded)?;
    add_modules(&mut tree, pkgs, DOM0_MODULES)?;
    for dir in ["proc", "sys", "dev", "run", "tmp", "root", "var/lib/xen", "var/log/xen/console"] {
        tree.dir(dir);
    }
    // Debian's /var/run is a symlink to /run; the Xen tools use both spellings.
    tree.insert("var/run", Entry::Symlink { target: "/run".into() });
    tree.bytes("init", DOM0_INIT, 0o755);
    tree.bytes("etc/boottest/mode", format!("{}\n", inputs.mode), 0o644);
    tree.bytes("etc/boottest/plan", inputs.plan.clone(), 0o644);
    tree.bytes("etc/boottest/params", inputs.params.clone(), 0o644);
    tree.bytes("etc/boottest/modules", DOM0_MODULES.join("\n") + "\n", 0o644);
    tree.bytes("etc/boottest/run-demo.sh", RUN_DEMO, 0o755);
    tree.copy_dir(inputs.scenario_dir, Path::new("boot-tests"), &|_| false)?;
    for image in inputs.images {
        tree.file(Path::new(IMAGE_DIR).join(format!("{}.gz", image.name)), &image.gz)?;
    }
    // The plain ELF: libxenguest would spend 20 s under emulation decompressing vmlinuz.
    tree.file(Path::new(IMAGE_DIR).join("linux-guest-vmlinux"), &pkgs.vmlinux)?;
    tree.file(Path::new(IMAGE_DIR).join("linux-guest-initrd.gz"), inputs.guest_initrd)?;
    elf::check_needed(&tree).context("checking the dom0 initramfs")?;
    Ok(tree)
}

/// The stand-in Linux guest's tree: busybox, its frontend modules, the TPM tools, the
/// guest halves of the boot scenarios (`boot-tests/guest/`, as `/guest-tests`) and an init.
/// `tool` is the latency benchmark (`tpm-latency`), when it has been built.
pub fn guest(pkgs: &Packages, scenario_dir: &Path, tool: Option<&Path>) -> Result<Tree> {
    let mut tree = Tree::new();
    tree.file("bin/busybox", &pkgs.root.join("bin/busybox"))?;
    for dir in ["proc", "sys", "dev", "sbin", "usr/bin", "usr/sbin", "tmp", "var/lib/tpm"] {
        tree.dir(dir);
    }
    add_modules(&mut tree, pkgs, GUEST_MODULES)?;
    tree.bytes("etc/guest-modules", GUEST_MODULES.join("\n") + "\n", 0o644);
    let mut programs: Vec<PathBuf> = GUEST_PROGRAMS.iter().map(PathBuf::from).collect();
    let bin = pkgs.root.join("usr/bin");
    for entry in fs::read_dir(&bin).with_context(|| format!("{}", bin.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("tpm2_") {
            programs.push(Path::new("usr/bin").join(name));
        }
    }
    elf::copy_with_libraries(&mut tree, &pkgs.root, &programs)?;
    if let Some(tool) = tool {
        tree.file(Path::new("usr/bin").join(crate::images::GUEST_TOOL), tool)?;
    }
    // TrouSerS runs as `tss` and wants its configuration owned by it (the init sets that).
    tree.bytes(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\ntss:x:101:101::/var/lib/tpm:/bin/false\n",
        0o644,
    );
    tree.bytes("etc/group", "root:x:0:\ntss:x:101:\n", 0o644);
    // The TSS reaches tcsd at "localhost".
    tree.bytes("etc/hosts", "127.0.0.1 localhost\n::1 localhost\n", 0o644);
    let tests = scenario_dir.join("guest");
    if tests.is_dir() {
        tree.copy_dir(&tests, Path::new("guest-tests"), &|_| false)?;
    }
    tree.bytes("init", GUEST_INIT, 0o755);
    elf::check_needed(&tree).context("checking the guest initramfs")?;
    Ok(tree)
}

/// Copies `wanted` and the modules they depend on into `tree`, with a modules.dep (the
/// format busybox modprobe reads) listing just those.
fn add_modules(tree: &mut Tree, pkgs: &Packages, wanted: &[&str]) -> Result<()> {
    let dir = pkgs.modules();
    let index = index_modules(&dir.join("kernel"))?;
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pending: Vec<String> = wanted.iter().map(|m| normalise(m)).collect();
    while let Some(name) = pending.pop() {
        if deps.contains_key(&name) {
            continue;
        }
        let path = index.get(&name).with_context(|| {
            format!("kernel {} has no module {name} (is it built in now?)", pkgs.kernel_release)
        })?;
        let direct: Vec<String> = elf::module_depends(path)?.iter().map(|d| normalise(d)).collect();
        pending.extend(direct.iter().cloned());
        deps.insert(name, direct);
    }
    let archive_dir = PathBuf::from("lib/modules").join(&pkgs.kernel_release);
    let relative = |name: &str| -> Result<PathBuf> {
        let path = index.get(name).with_context(|| format!("module {name}"))?;
        Ok(path.strip_prefix(&dir)?.to_path_buf())
    };
    let mut modules_dep = String::new();
    for name in deps.keys() {
        let rel = relative(name)?;
        tree.file(archive_dir.join(&rel), &index[name])?;
        // modules.dep lists every transitive dependency; modprobe loads them last to first.
        let mut all = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = deps[name].iter().collect();
        while let Some(dep) = stack.pop() {
            if seen.insert(dep) {
                all.push(relative(dep)?.display().to_string());
                stack.extend(deps[dep].iter());
            }
        }
        modules_dep.push_str(&format!(
            "{}:{}\n",
            rel.display(),
            all.iter().map(|d| format!(" {d}")).collect::<String>()
        ));
    }
    tree.bytes(archive_dir.join("modules.dep"), modules_dep, 0o644);
    Ok(())
}

/// Every `*.ko` under `dir`, by normalised module name.
fn index_modules(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut index = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if let Some(stem) =
                path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".ko"))
            {
                index.insert(normalise(stem), path);
            }
        }
    }
    Ok(index)
}

/// Module names treat `-` and `_` alike (the kernel's rule).
fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn params_keep_only_bt_param_variables_sorted() {
        let text = params(vars(&[
            ("PATH", "/bin"),
            ("BT_PARAM_Z", "1"),
            ("BT_PARAM_FAULT_TRIALS", "100"),
        ]))
        .unwrap();
        assert_eq!(text, "export BT_PARAM_FAULT_TRIALS=100\nexport BT_PARAM_Z=1\n");
    }

    #[test]
    fn params_refuse_what_would_need_quoting() {
        assert!(params(vars(&[("BT_PARAM_X", "a b")])).is_err());
        assert!(params(vars(&[("BT_PARAM_X", "$(reboot)")])).is_err());
        assert!(params(vars(&[("BT_PARAM_x", "1")])).is_err());
        assert!(params(vars(&[("BT_PARAM_", "1")])).is_err());
    }
}
