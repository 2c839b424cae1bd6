//! An initramfs being assembled: paths to entries, written as a gzipped newc cpio.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::write::GzEncoder;

/// One file-system object in the archive.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A regular file whose bytes are read from the host when the archive is written.
    File {
        /// Where the contents come from.
        source: PathBuf,
        /// Permission bits.
        mode: u32,
    },
    /// A regular file whose bytes are given here.
    Bytes {
        /// The contents.
        data: Vec<u8>,
        /// Permission bits.
        mode: u32,
    },
    /// A symbolic link.
    Symlink {
        /// The link's target, as stored (may be relative).
        target: PathBuf,
    },
}

/// The archive: relative paths (no leading `/`) to entries, parents created on insertion.
#[derive(Debug, Default)]
pub struct Tree {
    entries: BTreeMap<PathBuf, Entry>,
}

/// How many symlinks a lookup follows before giving up (the kernel's limit is 40).
const MAX_LINKS: usize = 40;

impl Tree {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `entry` at `path` (absolute or relative), creating missing parents and
    /// replacing whatever was there.
    pub fn insert(&mut self, path: impl AsRef<Path>, entry: Entry) {
        let path = relative(path.as_ref());
        for parent in path.ancestors().skip(1) {
            if parent.as_os_str().is_empty() {
                break;
            }
            self.entries.entry(parent.to_path_buf()).or_insert(Entry::Dir);
        }
        self.entries.insert(path, entry);
    }

    /// Inserts a directory.
    pub fn dir(&mut self, path: impl AsRef<Path>) {
        self.insert(path, Entry::Dir);
    }

    /// Inserts a file with the given contents and permission bits.
    pub fn bytes(&mut self, path: impl AsRef<Path>, data: impl Into<Vec<u8>>, mode: u32) {
        self.insert(path, Entry::Bytes { data: data.into(), mode });
    }

    /// Inserts the host file `source` at `path`, keeping its permission bits.
    pub fn file(&mut self, path: impl AsRef<Path>, source: &Path) -> Result<()> {
        let meta = fs::metadata(source).with_context(|| format!("{}", source.display()))?;
        let mode = meta.permissions().mode() & 0o7777;
        self.insert(path, Entry::File { source: source.to_path_buf(), mode });
        Ok(())
    }

    /// Copies the host directory `dir` into the archive at `at`, recursively, skipping the
    /// archive paths for which `skip` returns true (and everything below them).
    pub fn copy_dir(&mut self, dir: &Path, at: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<()> {
        let mut pending = vec![(dir.to_path_buf(), relative(at))];
        while let Some((host, archive)) = pending.pop() {
            let listing = fs::read_dir(&host).with_context(|| format!("{}", host.display()))?;
            for item in listing {
                let item = item.with_context(|| format!("{}", host.display()))?;
                let (host, archive) = (item.path(), archive.join(item.file_name()));
                if skip(&archive) {
                    continue;
                }
                let kind = item.file_type().with_context(|| format!("{}", host.display()))?;
                if kind.is_symlink() {
                    let target = fs::read_link(&host)?;
                    self.insert(&archive, Entry::Symlink { target });
                } else if kind.is_dir() {
                    self.dir(&archive);
                    pending.push((host, archive));
                } else if kind.is_file() {
                    self.file(&archive, &host)?;
                }
                // Device nodes, fifos and sockets do not occur in Debian packages.
            }
        }
        Ok(())
    }

    /// Every entry, parents before children.
    pub fn iter(&self) -> impl Iterator<Item = (&PathBuf, &Entry)> {
        self.entries.iter()
    }

    /// Follows symlinks (in every component) inside the archive, as the kernel would once
    /// it is unpacked; returns the final path of a non-symlink entry, or `None` when the
    /// path dangles or loops.
    pub fn resolve(&self, path: impl AsRef<Path>) -> Option<PathBuf> {
        let mut pending: Vec<PathBuf> = components_rev(&relative(path.as_ref()));
        let mut done = PathBuf::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part.as_os_str() == ".." {
                done.pop();
                continue;
            }
            let next = done.join(&part);
            match self.entries.get(&next)? {
                Entry::Symlink { target } => {
                    hops += 1;
                    if hops > MAX_LINKS {
                        return None;
                    }
                    if target.is_absolute() {
                        done = PathBuf::new();
                    }
                    pending.extend(components_rev(target));
                }
                _ => done = next,
            }
        }
        Some(done)
    }

    /// Writes the archive as a newc cpio (the format the kernel unpacks into its rootfs,
    /// Documentation/driver-api/early-userspace/buffer-format.rst), gzipped or not;
    /// returns the file's size.
    pub fn write_cpio(&self, out: &Path, packing: Packing) -> Result<u64> {
        let file = fs::File::create(out).with_context(|| format!("{}", out.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        match packing {
            Packing::Plain => self.write_records(&mut writer, out)?,
            Packing::Gzip => {
                // The fastest level: archives are rebuilt on every run.
                let mut gz = GzEncoder::new(&mut writer, Compression::fast());
                self.write_records(&mut gz, out)?;
                gz.finish()?;
            }
        }
        writer.flush()?;
        Ok(fs::metadata(out)?.len())
    }

    fn write_records(&self, out: &mut impl Write, path_for_errors: &Path) -> Result<()> {
        for (ino, (path, entry)) in (1u32..).zip(&self.entries) {
            let (mode, data) = match entry {
                Entry::Dir => (S_IFDIR | 0o755, Vec::new()),
                Entry::File { source, mode } => (
                    S_IFREG | mode,
                    fs::read(source).with_context(|| format!("{}", source.display()))?,
                ),
                Entry::Bytes { data, mode } => (S_IFREG | mode, data.clone()),
                Entry::Symlink { target } => {
                    (S_IFLNK | 0o777, target.as_os_str().as_encoded_bytes().to_vec())
                }
            };
            write_record(out, ino, mode, path.as_os_str().as_encoded_bytes(), &data)
                .with_context(|| format!("writing {}", path_for_errors.display()))?;
        }
        write_record(out, 0, 0, b"TRAILER!!!", &[])
    }
}

/// How an archive file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// Uncompressed: nothing to inflate at boot, which under emulation is slower than
    /// loading the larger file.
    Plain,
    /// gzip, for archives that travel inside other archives.
    Gzip,
}

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// One newc record: the "070701" header (13 eight-digit hex fields), the NUL-terminated
/// name padded to 4 bytes, the data padded to 4 bytes. Owner root, mtime 0, so the archive
/// depends only on its contents.
fn write_record(out: &mut impl Write, ino: u32, mode: u32, name: &[u8], data: &[u8]) -> Result<()> {
    let name_size = name.len() + 1;
    let nlink = if mode & S_IFDIR == S_IFDIR { 2 } else { 1 };
    let Ok(file_size) = u32::try_from(data.len()) else {
        bail!("{} is too large for a cpio archive", String::from_utf8_lossy(name));
    };
    let header = format!(
        "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{file_size:08x}{:08x}{:08x}{:08x}{:08x}{name_size:08x}{:08x}",
        0, 0, 0, 0, 0, 0, 0, 0
    );
    out.write_all(header.as_bytes())?;
    out.write_all(name)?;
    out.write_all(&[0])?;
    out.write_all(&[0; 3][..pad4(header.len() + name_size)])?;
    out.write_all(data)?;
    out.write_all(&[0; 3][..pad4(data.len())])?;
    Ok(())
}

fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// `path` without its root, so absolute and relative spellings name the same entry.
fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::ParentDir))
        .collect()
}

/// The components of `path`, last first (a stack for [`Tree::resolve`]).
fn components_rev(path: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(p) => Some(PathBuf::from(p)),
            std::path::Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    parts.reverse();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_follows_relative_and_absolute_links() {
        let mut tree = Tree::new();
        tree.bytes("lib/x86_64-linux-gnu/libc.so.6", b"elf".to_vec(), 0o755);
        tree.insert(
            "lib64/ld.so",
            Entry::Symlink { target: "/lib/x86_64-linux-gnu/libc.so.6".into() },
        );
        tree.insert("usr/lib/libc.so", Entry::Symlink { target: "../../lib64/ld.so".into() });
        assert_eq!(tree.resolve("/usr/lib/libc.so"), Some("lib/x86_64-linux-gnu/libc.so.6".into()));
    }

    #[test]
    fn resolve_dangling_or_looping_link_is_none() {
        let mut tree = Tree::new();
        tree.insert("a", Entry::Symlink { target: "b".into() });
        tree.insert("b", Entry::Symlink { target: "a".into() });
        tree.insert("c", Entry::Symlink { target: "/nowhere".into() });
        assert_eq!(tree.resolve("a"), None);
        assert_eq!(tree.resolve("c"), None);
    }

    #[test]
    fn insert_creates_parents_before_children() {
        let mut tree = Tree::new();
        tree.bytes("/etc/xen/cfg/a.cfg", b"x".to_vec(), 0o644);
        let paths: Vec<_> = tree.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            paths,
            ["etc", "etc/xen", "etc/xen/cfg", "etc/xen/cfg/a.cfg"].map(PathBuf::from)
        );
    }

    #[test]
    fn cpio_records_are_aligned_and_terminated() {
        let mut tree = Tree::new();
        tree.bytes("init", b"#!/bin/sh\n".to_vec(), 0o755);
        let dir = std::env::temp_dir().join(format!("xtask-cpio-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join("a.cpio.gz");
        tree.write_cpio(&out, Packing::Gzip).unwrap();
        let mut raw = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(fs::File::open(&out).unwrap()),
            &mut raw,
        )
        .unwrap();
        fs::remove_dir_all(&dir).unwrap();
        // Header (110) + "init\0" (5) padded to 116, data 10 padded to 12.
        assert!(raw.starts_with(b"070701"));
        assert_eq!(&raw[110..115], b"init\0");
        assert_eq!(&raw[116..126], b"#!/bin/sh\n");
        assert_eq!(&raw[128..134], b"070701");
        assert!(raw.windows(10).any(|w| w == b"TRAILER!!!"));
        assert_eq!(raw.len() % 4, 0);
        assert_eq!(
            u32::from_str_radix(std::str::from_utf8(&raw[14..22]).unwrap(), 16).unwrap(),
            0o100_755
        );
    }
}
