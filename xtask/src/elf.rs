//! ELF facts the harness checks: shared-library closure of binaries, kernel module deps.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use goblin::elf::Elf;

use crate::archive::{Entry, Tree};

/// The directories the Debian x86_64 dynamic loader searches when a library is not found
/// through the object's RUNPATH (Debian builds glibc with the multiarch directories as
/// system directories, so no ld.so.cache is needed).
const SYSTEM_DIRS: &[&str] =
    &["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib"];

/// Checks that every dynamically linked ELF file in `tree` finds its interpreter and each
/// `DT_NEEDED` library inside `tree`; fails naming every missing one and who needs it.
pub fn check_needed(tree: &Tree) -> Result<usize> {
    let mut missing = Vec::new();
    let mut checked = 0;
    for (path, entry) in tree.iter() {
        let source = match entry {
            Entry::File { source, mode } if mode & 0o111 != 0 || is_shared_object(path) => source,
            _ => continue,
        };
        let bytes = std::fs::read(source).with_context(|| format!("{}", source.display()))?;
        if !bytes.starts_with(b"\x7fELF") {
            continue;
        }
        let elf = Elf::parse(&bytes).with_context(|| format!("parsing ELF {}", path.display()))?;
        if elf.dynamic.is_none() {
            continue;
        }
        checked += 1;
        if let Some(interp) = elf.interpreter
            && tree.resolve(interp).is_none()
        {
            missing.push(format!("/{} needs its interpreter {interp}", path.display()));
        }
        let origin = path.parent().unwrap_or(Path::new(""));
        let search: Vec<PathBuf> = elf
            .runpaths
            .iter()
            .chain(&elf.rpaths)
            .flat_map(|list| list.split(':'))
            .map(|dir| PathBuf::from(dir.replace("$ORIGIN", &format!("/{}", origin.display()))))
            .chain(SYSTEM_DIRS.iter().map(PathBuf::from))
            .collect();
        for lib in &elf.libraries {
            if !search.iter().any(|dir| tree.resolve(dir.join(lib)).is_some()) {
                missing.push(format!("/{} needs {lib}", path.display()));
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "the initramfs lacks shared libraries (add the Debian package that ships \
             them to the package list in xtask/src/packages.rs):\n  {}",
            missing.join("\n  ")
        );
    }
    Ok(checked)
}

fn is_shared_object(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name.to_string_lossy().contains(".so"))
}

/// The modules a kernel module depends on: the `depends=` field of its `.modinfo` section
/// (what depmod reads to write modules.dep).
pub fn module_depends(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let elf = Elf::parse(&bytes).with_context(|| format!("parsing module {}", path.display()))?;
    let section = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".modinfo"))
        .with_context(|| format!("{} has no .modinfo section", path.display()))?;
    let range = section.file_range().unwrap_or_default();
    let modinfo = bytes
        .get(range)
        .with_context(|| format!("{}: .modinfo lies outside the file", path.display()))?;
    Ok(modinfo
        .split(|&b| b == 0)
        .filter_map(|field| field.strip_prefix(b"depends="))
        .flat_map(|list| {
            String::from_utf8_lossy(list).split(',').map(str::to_owned).collect::<Vec<_>>()
        })
        .filter(|name| !name.is_empty())
        .collect())
}

/// Copies `programs` (paths relative to `root`, symlinks followed and kept) into `tree`,
/// with their interpreter and, transitively, every `DT_NEEDED` library found in `root`'s
/// system directories. A library that cannot be found is left for [`check_needed`] to name.
pub fn copy_with_libraries(tree: &mut Tree, root: &Path, programs: &[PathBuf]) -> Result<()> {
    let mut pending: Vec<PathBuf> = programs.to_vec();
    let mut done = std::collections::BTreeSet::new();
    while let Some(path) = pending.pop() {
        if !done.insert(path.clone()) {
            continue;
        }
        let file = copy_following_links(tree, root, &path)?;
        let bytes = std::fs::read(&file).with_context(|| format!("{}", file.display()))?;
        if !bytes.starts_with(b"\x7fELF") {
            continue;
        }
        let elf = Elf::parse(&bytes).with_context(|| format!("parsing ELF {}", file.display()))?;
        if let Some(interp) = elf.interpreter {
            pending.push(PathBuf::from(interp.trim_start_matches('/')));
        }
        for lib in &elf.libraries {
            if let Some(found) = SYSTEM_DIRS
                .iter()
                .map(|dir| Path::new(dir).join(lib))
                .find(|candidate| root.join(candidate).exists())
            {
                pending.push(found);
            }
        }
    }
    Ok(())
}

/// Inserts `path` (relative to `root`) into `tree`; a symlink is kept as a symlink and its
/// target copied too. Returns the host path of the regular file finally reached.
fn copy_following_links(tree: &mut Tree, root: &Path, path: &Path) -> Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        let host = root.join(&path);
        let meta =
            std::fs::symlink_metadata(&host).with_context(|| format!("{}", host.display()))?;
        if !meta.file_type().is_symlink() {
            tree.file(&path, &host)?;
            return Ok(host);
        }
        let target = std::fs::read_link(&host)?;
        tree.insert(&path, Entry::Symlink { target: target.clone() });
        path = if target.is_absolute() {
            target.strip_prefix("/")?.to_path_buf()
        } else {
            lexical_join(path.parent().unwrap_or(Path::new("")), &target)
        };
    }
    bail!("{}: too many levels of symbolic links", path.display())
}

/// `base` joined with the relative `target`, `.` and `..` resolved lexically.
fn lexical_join(base: &Path, target: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for part in target.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(name) => out.push(name),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_kept_and_followed_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("xtask-elf-{}", std::process::id()));
        let lib = dir.join("usr/lib/x86_64-linux-gnu");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
        std::fs::write(lib.join("libx.so.1.2"), b"not an ELF").unwrap();
        std::os::unix::fs::symlink("libx.so.1.2", lib.join("libx.so.1")).unwrap();
        std::os::unix::fs::symlink("../lib/x86_64-linux-gnu/libx.so.1", dir.join("usr/bin/x"))
            .unwrap();
        let mut tree = Tree::new();
        copy_with_libraries(&mut tree, &dir, &[PathBuf::from("usr/bin/x")]).unwrap();
        let kinds: Vec<(String, bool)> = tree
            .iter()
            .filter(|(_, e)| !matches!(e, Entry::Dir))
            .map(|(p, e)| (p.display().to_string(), matches!(e, Entry::Symlink { .. })))
            .collect();
        assert_eq!(
            kinds,
            [
                ("usr/bin/x".to_owned(), true),
                ("usr/lib/x86_64-linux-gnu/libx.so.1".to_owned(), true),
                ("usr/lib/x86_64-linux-gnu/libx.so.1.2".to_owned(), false),
            ]
        );
        assert_eq!(lexical_join(Path::new("a/b"), Path::new("../c/./d")), PathBuf::from("a/c/d"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
