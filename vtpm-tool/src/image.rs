//! Offline inspection of disk images: the manager's key store (`mgr-image`) and a
//! vTPM's state disk (`vtpm-image`), read from a file on the host.
//!
//! The parsing lives in the store crates (`mgr_store::inspect`, `vtpm_store::inspect`);
//! this module reads the file, asks them, and words the answer for an operator, as text
//! or JSON. Every byte of an image is untrusted: a blank, truncated or damaged image
//! gives a report or an error, never a panic. Nothing here prints a key. See
//! docs/vtpm-tool.md "Inspecting disk images".

use crate::Error;
use mgr_store::{ImageKind, Inspection, RootSecret, SECTOR_SIZE, SlotInfo, Store};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::Path;
use tpm_client::SealedRoot;
use vtpm_proto::Uuid;
use vtpm_store::{DeviceError, DiskInspection, SlotState};
use zeroize::Zeroizing;

/// Reads a whole (small) file.
fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|source| Error::ImageIo { path: path.to_owned(), source })
}

/// An image file or block device, opened read-only and read sector by sector (a
/// block device can be large; only the sectors the stores ask for are read).
struct ImageFile {
    file: File,
    bytes: u64,
    sector_size: usize,
}

impl ImageFile {
    fn open(path: &Path, sector_size: usize) -> Result<Self, Error> {
        let io = |source| Error::ImageIo { path: path.to_owned(), source };
        let mut file = File::open(path).map_err(io)?;
        let kind = file.metadata().map_err(io)?.file_type();
        if !kind.is_file() && !kind.is_block_device() {
            return Err(Error::NotAnImage(path.to_owned()));
        }
        // The end offset, not the metadata length: a block device's metadata says 0.
        let bytes = file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(Self { file, bytes, sector_size })
    }

    fn sector_count(&self) -> u64 {
        self.bytes / u64::try_from(self.sector_size.max(1)).unwrap_or(u64::MAX)
    }

    /// Reads whole sectors at `sector`: `None` if they are not all inside the image,
    /// `Some(false)` if the read fails.
    fn read_sectors(&self, sector: u64, buf: &mut [u8]) -> Option<bool> {
        let size = u64::try_from(self.sector_size).unwrap_or(u64::MAX);
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        let start = sector.checked_mul(size)?;
        if start.checked_add(len)? > self.bytes || len % size != 0 {
            return None;
        }
        Some(self.file.read_exact_at(buf, start).is_ok())
    }
}

/// errno-style codes for the manager store's device errors.
const EIO: i32 = -5;
const EINVAL: i32 = -22;
const EROFS: i32 = -30;

impl mgr_store::BlockDevice for ImageFile {
    fn sectors(&self) -> u64 {
        self.sector_count()
    }

    fn read(
        &mut self,
        sector: u64,
        buf: &mut [u8; SECTOR_SIZE],
    ) -> Result<(), mgr_store::DeviceError> {
        match self.read_sectors(sector, buf) {
            Some(true) => Ok(()),
            Some(false) => Err(mgr_store::DeviceError(EIO)),
            None => Err(mgr_store::DeviceError(EINVAL)),
        }
    }

    fn write(&mut self, _: u64, _: &[u8; SECTOR_SIZE]) -> Result<(), mgr_store::DeviceError> {
        Err(mgr_store::DeviceError(EROFS))
    }

    fn flush(&mut self) -> Result<(), mgr_store::DeviceError> {
        Err(mgr_store::DeviceError(EROFS))
    }
}

impl vtpm_store::BlockDevice for ImageFile {
    fn sector_size(&self) -> usize {
        self.sector_size
    }

    fn sectors(&self) -> u64 {
        self.sector_count()
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        match self.read_sectors(sector, buf) {
            Some(true) => Ok(()),
            Some(false) => Err(DeviceError::Io),
            None => Err(DeviceError::OutOfRange),
        }
    }

    fn write(&mut self, _sector: u64, _data: &[u8]) -> Result<(), DeviceError> {
        Err(DeviceError::Unsupported)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        Err(DeviceError::Unsupported)
    }
}

/// A JSON string literal (RFC 8259 §7).
fn json_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number or `null`.
fn json_opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

// --- The manager's key store.

/// What the sealed root secret in a root slot says (it is not secret: the TPM
/// encrypted the secret; the rest names what it is bound to).
fn sealed_summary(blob: &[u8]) -> Result<SealedRoot, String> {
    SealedRoot::from_bytes(blob).map_err(|e| e.to_string())
}

/// Why a root slot is not a usable root, or `None` if it is one.
fn mgr_slot_problem(info: &Inspection, slot: &mgr_store::SlotState) -> Option<String> {
    match slot {
        mgr_store::SlotState::Empty => Some("empty (all zero)".to_owned()),
        mgr_store::SlotState::Foreign => Some("not a root of this format".to_owned()),
        mgr_store::SlotState::Unsupported { version } => Some(format!(
            "root format version {version}; this build reads version {}",
            mgr_store::layout::VERSION
        )),
        mgr_store::SlotState::Malformed(why) => {
            Some(format!("root magic with inconsistent fields: {why}"))
        }
        mgr_store::SlotState::Root(root) if !info.fits(root) => Some(format!(
            "the root describes a {}-sector image but the file holds {} sectors (truncated copy?)",
            root.sector_count, info.device_sectors
        )),
        mgr_store::SlotState::Root(_) => None,
    }
}

/// `vtpm-tool mgr-image inspect`: a report on both root slots, without any key.
pub fn mgr_inspect(path: &Path, json: bool) -> Result<String, Error> {
    let mut image = ImageFile::open(path, SECTOR_SIZE)?;
    let bytes = image.bytes;
    let info = mgr_store::inspect(&mut image).map_err(|e| match e {
        mgr_store::Error::DeviceTooSmall => {
            Error::ImageTooSmall { path: path.to_owned(), bytes, minimum: 2 * SECTOR_SIZE }
        }
        e => Error::MgrImage { path: path.to_owned(), error: e },
    })?;
    Ok(if json { mgr_json(path, bytes, &info) } else { mgr_text(path, bytes, &info) })
}

fn mgr_kind(kind: ImageKind) -> (&'static str, String) {
    match kind {
        ImageKind::Blank => {
            ("blank", "blank (all zero): the manager formats it on its first start".to_owned())
        }
        ImageKind::Store => ("store", "Rust vtpmmgr key store".to_owned()),
        ImageKind::CVtpmmgr { version } => (
            "c-vtpmmgr",
            format!(
                "C vtpmmgr image (disk format version {version}): the Rust manager refuses it; \
                 see docs/manager-disk.md for the migration"
            ),
        ),
        ImageKind::NotAStore => (
            "not-a-store",
            "not a manager key store (not blank either): the manager refuses it".to_owned(),
        ),
    }
}

fn mgr_text(path: &Path, bytes: u64, info: &Inspection) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "manager image {}: {bytes} bytes, {} sectors of {SECTOR_SIZE} bytes",
        path.display(),
        info.device_sectors
    );
    let trailing = bytes % SECTOR_SIZE as u64;
    if trailing != 0 {
        let _ = write!(out, " (+{trailing} trailing bytes ignored)");
    }
    let _ = writeln!(out, "\nkind: {}", mgr_kind(info.kind).1);
    for (n, slot) in info.slots.iter().enumerate() {
        match (slot, mgr_slot_problem(info, slot)) {
            (mgr_store::SlotState::Root(root), None) => mgr_root_text(&mut out, n, root),
            (mgr_store::SlotState::Root(root), Some(why)) => {
                mgr_root_text(&mut out, n, root);
                let _ = writeln!(out, "        unusable: {why}");
            }
            (_, why) => {
                let _ = writeln!(out, "slot {n}: invalid: {}", why.unwrap_or_default());
            }
        }
    }
    match info.newest() {
        Some(n) => {
            let _ = writeln!(
                out,
                "active root: slot {n} (highest sequence), if its MAC verifies under the root \
                 secret; otherwise the other slot's root, if that one verifies"
            );
        }
        None => {
            let _ = writeln!(out, "active root: none (no usable root slot)");
        }
    }
    if info.kind == ImageKind::Store {
        out.push_str(
            "entries: uuids and keys are encrypted under the root secret, which only the \
             hardware TPM unseals; the fields above are unauthenticated. \
             `vtpm-tool mgr-image list --root-secret-file` lists uuids for recovery.\n",
        );
    }
    out
}

fn mgr_root_text(out: &mut String, n: usize, root: &SlotInfo) {
    let _ = writeln!(
        out,
        "slot {n}: root (unauthenticated): format version {}, sequence {}, counter binding {}, \
         {} {}, tree height {}, image {} sectors ({} in use)",
        mgr_store::layout::VERSION,
        root.seq,
        root.counter,
        root.entries,
        if root.entries == 1 { "entry" } else { "entries" },
        root.height,
        root.sector_count,
        root.used_sectors
    );
    let _ = match sealed_summary(&root.sealed_blob) {
        Ok(sealed) => writeln!(
            out,
            "        sealed root secret: {} bytes, {}, PCRs {}, locality {}",
            root.sealed_blob.len(),
            sealed.family(),
            sealed.pcrs(),
            sealed.locality()
        ),
        Err(why) => writeln!(
            out,
            "        sealed root secret: {} bytes, not readable by this build: {why}",
            root.sealed_blob.len()
        ),
    };
}

fn mgr_json(path: &Path, bytes: u64, info: &Inspection) -> String {
    let mut slots = Vec::new();
    for (n, slot) in info.slots.iter().enumerate() {
        let problem = mgr_slot_problem(info, slot);
        let mut s = format!(
            "{{\"slot\":{n},\"valid\":{},\"reason\":{}",
            problem.is_none(),
            problem.as_deref().map_or_else(|| "null".to_owned(), json_str)
        );
        let state = match slot {
            mgr_store::SlotState::Empty => "empty",
            mgr_store::SlotState::Foreign => "foreign",
            mgr_store::SlotState::Unsupported { version } => {
                let _ = write!(s, ",\"format_version\":{version}");
                "unsupported-version"
            }
            mgr_store::SlotState::Malformed(_) => "malformed",
            mgr_store::SlotState::Root(root) => {
                let _ = write!(
                    s,
                    ",\"format_version\":{},\"sequence\":{},\"counter_binding\":{},\
                     \"entries\":{},\"tree_height\":{},\"image_sectors\":{},\"used_sectors\":{},\
                     \"fits_device\":{},\"sealed_blob_bytes\":{}",
                    mgr_store::layout::VERSION,
                    root.seq,
                    root.counter,
                    root.entries,
                    root.height,
                    root.sector_count,
                    root.used_sectors,
                    info.fits(root),
                    root.sealed_blob.len()
                );
                match sealed_summary(&root.sealed_blob) {
                    Ok(sealed) => {
                        let _ = write!(
                            s,
                            ",\"sealed\":{{\"family\":{},\"pcrs\":{},\"locality\":{}}}",
                            json_str(&sealed.family().to_string()),
                            json_str(&sealed.pcrs().to_string()),
                            sealed.locality()
                        );
                    }
                    Err(why) => {
                        let _ = write!(s, ",\"sealed\":{{\"error\":{}}}", json_str(&why));
                    }
                }
                "root"
            }
        };
        let _ = write!(s, ",\"state\":{}}}", json_str(state));
        slots.push(s);
    }
    let c_version = match info.kind {
        ImageKind::CVtpmmgr { version } => Some(version),
        _ => None,
    };
    format!(
        "{{\"image\":{},\"bytes\":{bytes},\"sector_size\":{SECTOR_SIZE},\"sectors\":{},\
         \"kind\":{},\"c_vtpmmgr_version\":{},\"slots\":[{}],\"active_slot\":{},\
         \"authenticated\":false,\"entries_encrypted\":true}}\n",
        json_str(&path.display().to_string()),
        info.device_sectors,
        json_str(mgr_kind(info.kind).0),
        json_opt(c_version),
        slots.join(","),
        json_opt(info.newest())
    )
}

/// Reads a root secret file: exactly 32 bytes, or 64 hex digits (surrounding white
/// space allowed).
fn read_root_secret(path: &Path) -> Result<RootSecret, Error> {
    let raw = Zeroizing::new(read(path)?);
    let bad = || Error::BadRootSecret(path.to_owned());
    let mut secret = Zeroizing::new([0u8; 32]);
    if raw.len() == 32 {
        secret.copy_from_slice(&raw);
    } else {
        let text = std::str::from_utf8(&raw).map_err(|_| bad())?.trim();
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        for (byte, pair) in secret.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
    }
    Ok(RootSecret::new(*secret))
}

/// `vtpm-tool mgr-image list`: the uuids (and flags) in the store, opened read-only
/// with the root secret. Keys are never printed.
pub fn mgr_list(path: &Path, secret_file: &Path, json: bool) -> Result<String, Error> {
    let secret = read_root_secret(secret_file)?;
    let image = ImageFile::open(path, SECTOR_SIZE)?;
    let mgr_err = |error| Error::MgrImage { path: path.to_owned(), error };
    let mut store = Store::open_read_only(image, &secret).map_err(mgr_err)?;
    let mut entries: Vec<(Uuid, u16)> = Vec::new();
    store.for_each(|uuid, entry| entries.push((Uuid(*uuid), entry.flags))).map_err(mgr_err)?;
    let mut out = String::new();
    if json {
        let list: Vec<String> = entries
            .iter()
            .map(|(uuid, flags)| {
                format!("{{\"uuid\":{},\"flags\":{flags}}}", json_str(&uuid.to_string()))
            })
            .collect();
        let _ = writeln!(
            out,
            "{{\"image\":{},\"sequence\":{},\"counter_binding\":{},\"entries\":[{}]}}",
            json_str(&path.display().to_string()),
            store.seq(),
            store.counter_binding(),
            list.join(",")
        );
    } else {
        for (uuid, flags) in &entries {
            let _ = writeln!(out, "{uuid} flags=0x{flags:04x}");
        }
    }
    Ok(out)
}

// --- A vTPM's state disk.

/// `vtpm-tool vtpm-image inspect`: both slot headers, without any key.
pub fn vtpm_inspect(path: &Path, sector_size: usize, json: bool) -> Result<String, Error> {
    let mut disk = ImageFile::open(path, sector_size)?;
    let bytes = disk.bytes;
    let info = vtpm_store::inspect(&mut disk)
        .map_err(|error| Error::VtpmImage { path: path.to_owned(), error })?;
    Ok(if json { vtpm_json(path, bytes, &info) } else { vtpm_text(path, bytes, &info) })
}

fn vtpm_slot_state(state: &SlotState) -> &'static str {
    match state {
        SlotState::Blank => "blank",
        SlotState::CVtpm { .. } => "c-vtpm",
        SlotState::Foreign => "foreign",
        SlotState::UnsupportedVersion(_) => "unsupported-version",
        SlotState::Malformed => "malformed",
        SlotState::Sealed(_) => "sealed",
        SlotState::Unreadable(_) => "unreadable",
    }
}

fn vtpm_text(path: &Path, bytes: u64, info: &DiskInspection) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "vTPM image {}: {bytes} bytes, {} sectors of {} bytes; two slots of {} sectors \
         (largest state {} bytes)",
        path.display(),
        info.sectors,
        info.sector_size,
        info.slot_sectors,
        info.capacity
    );
    for (n, slot) in info.slots.iter().enumerate() {
        let _ = match slot {
            SlotState::Sealed(h) => writeln!(
                out,
                "slot {n}: sealed (unauthenticated): format version {}, generation {}, {} state \
                 of {} bytes, disk id {}",
                vtpm_store::format::VERSION,
                h.generation,
                h.family.map_or_else(|| "unspecified TPM family".to_owned(), |f| f.to_string()),
                h.len,
                h.disk_id
            ),
            SlotState::Blank => writeln!(out, "slot {n}: blank (never written)"),
            other => writeln!(out, "slot {n}: invalid: {other}"),
        };
    }
    if let [SlotState::Sealed(a), SlotState::Sealed(b)] = info.slots
        && a.disk_id != b.disk_id
    {
        out.push_str("warning: the slots name different disk ids (parts of two vTPMs' disks?)\n");
    }
    let _ = match info.newest() {
        Some(n) => writeln!(
            out,
            "newest: slot {n} (highest generation); the key record at the manager decides which \
             slot loads, and only that key authenticates it"
        ),
        None => writeln!(out, "newest: none (no sealed slot)"),
    };
    out
}

fn vtpm_json(path: &Path, bytes: u64, info: &DiskInspection) -> String {
    let slots: Vec<String> = info
        .slots
        .iter()
        .enumerate()
        .map(|(n, slot)| {
            let mut s = format!(
                "{{\"slot\":{n},\"state\":{},\"valid\":{}",
                json_str(vtpm_slot_state(slot)),
                matches!(slot, SlotState::Sealed(_))
            );
            match slot {
                SlotState::Sealed(h) => {
                    let _ = write!(
                        s,
                        ",\"format_version\":{},\"generation\":{},\"family\":{},\
                         \"state_bytes\":{},\"disk_id\":{}",
                        vtpm_store::format::VERSION,
                        h.generation,
                        h.family.map_or_else(|| "null".to_owned(), |f| json_str(&f.to_string())),
                        h.len,
                        json_str(&h.disk_id.to_string())
                    );
                }
                SlotState::Blank => {}
                other => {
                    let _ = write!(s, ",\"reason\":{}", json_str(&other.to_string()));
                }
            }
            s.push('}');
            s
        })
        .collect();
    format!(
        "{{\"image\":{},\"bytes\":{bytes},\"sector_size\":{},\"sectors\":{},\
         \"slot_sectors\":{},\"capacity\":{},\"slots\":[{}],\"newest_slot\":{},\
         \"authenticated\":false}}\n",
        json_str(&path.display().to_string()),
        info.sector_size,
        info.sectors,
        info.slot_sectors,
        info.capacity,
        slots.join(","),
        json_opt(info.newest())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn image_file_refuses_reads_past_the_end() {
        let path = std::env::temp_dir().join(format!("vtpm-tool-imagefile-{}", std::process::id()));
        fs::write(&path, vec![7u8; 1024 + 100]).unwrap();
        let mut disk = ImageFile::open(&path, 512).unwrap();
        let _ = fs::remove_file(&path);
        assert!(matches!(ImageFile::open(&std::env::temp_dir(), 512), Err(Error::NotAnImage(_))));
        assert_eq!((disk.bytes, vtpm_store::BlockDevice::sectors(&disk)), (1124, 2));
        let mut buf = [0u8; 512];
        assert_eq!(vtpm_store::BlockDevice::read(&mut disk, 1, &mut buf), Ok(()));
        assert_eq!(buf, [7; 512]);
        for sector in [2, u64::MAX] {
            assert_eq!(
                vtpm_store::BlockDevice::read(&mut disk, sector, &mut buf),
                Err(DeviceError::OutOfRange)
            );
        }
        let mut two = [0u8; 1024];
        assert_eq!(
            vtpm_store::BlockDevice::read(&mut disk, 1, &mut two),
            Err(DeviceError::OutOfRange)
        );
        assert_eq!(
            vtpm_store::BlockDevice::write(&mut disk, 0, &buf),
            Err(DeviceError::Unsupported)
        );
    }
}
