//! The `--state` directory: one snapshot file, replaced atomically, and a lock.
//!
//! The snapshot is a `tpm_engine::envelope` (family + state blobs). A new version is
//! written to a temporary file, flushed to disk, renamed over the old one, and the
//! directory is flushed, so a crash at any point leaves either the old or the new
//! snapshot complete (rename(2) is atomic within a file system).

use crate::Error;
use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The snapshot's file name.
pub const SNAPSHOT: &str = "tpm-state.vtpm";
/// Where a new snapshot is written before it replaces the old one.
const SNAPSHOT_TMP: &str = "tpm-state.vtpm.tmp";
/// Held locked (flock) while a server uses the directory.
const LOCK: &str = ".lock";
/// No valid snapshot comes near this; a larger file is refused before it is read.
const SNAPSHOT_MAX: u64 = 64 << 20;

/// An open, locked state directory.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    /// Keeps the exclusive lock for as long as the directory is in use.
    _lock: File,
}

impl StateDir {
    /// Creates the directory if needed (mode 0700: it holds the TPM's secrets) and
    /// takes its lock. Fails with [`Error::StateLocked`] if another process has it.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::StateIo { path, source }
        };
        DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io(dir))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::StateLocked(dir.to_path_buf())),
            Err(TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        Ok(Self { dir: dir.to_path_buf(), _lock: lock })
    }

    /// The snapshot file's path.
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT)
    }

    /// Reads the snapshot, or `None` if there is none yet.
    pub fn load(&self) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let path = self.snapshot_path();
        let io = |source| Error::StateIo { path: path.clone(), source };
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(SNAPSHOT_MAX + 1).read_to_end(&mut bytes).map_err(io)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > SNAPSHOT_MAX {
            return Err(io(io::Error::new(io::ErrorKind::InvalidData, "snapshot too large")));
        }
        Ok(Some(bytes))
    }

    /// Replaces the snapshot atomically and durably (see the module comment).
    pub fn save(&self, snapshot: &[u8]) -> Result<(), Error> {
        let tmp = self.dir.join(SNAPSHOT_TMP);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::StateIo { path, source }
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(snapshot).map_err(io(&tmp))?;
        // The contents (and the length, which fdatasync includes) must be on disk
        // before the rename can make them the snapshot.
        file.sync_data().map_err(io(&tmp))?;
        drop(file);
        let path = self.snapshot_path();
        fs::rename(&tmp, &path).map_err(io(&path))?;
        // The rename itself is durable only once the directory is.
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vtpm-tool-sd-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = scratch("rt");
        let state = StateDir::open(&dir).unwrap();
        assert!(state.load().unwrap().is_none());
        state.save(b"one").unwrap();
        state.save(b"two").unwrap();
        assert_eq!(state.load().unwrap().unwrap().as_slice(), b"two");
        assert!(!dir.join(SNAPSHOT_TMP).exists());
        drop(state);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn second_open_is_locked_out() {
        let dir = scratch("lock");
        let first = StateDir::open(&dir).unwrap();
        assert!(matches!(StateDir::open(&dir), Err(Error::StateLocked(_))));
        drop(first);
        assert!(StateDir::open(&dir).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}
