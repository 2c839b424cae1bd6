//! The vTPM's state disk: two encrypted, authenticated slots committed through the manager.
//!
//! vtpm-stubdom keeps its TPM state on a small disk of its own and the key to that
//! state at the manager (architecture "State save"; spec §4.2–4.3 for the C design this
//! replaces). The disk holds two slots, each big enough for one snapshot; a save
//!
//! 1. encrypts and authenticates the snapshot (AES-256-GCM) under a fresh random key,
//! 2. writes it to the slot the manager's current key does *not* name,
//! 3. flushes the disk,
//! 4. sends the key record (key, slot, generation, disk id) to the manager.
//!
//! The manager's acknowledgement is the commit point. A crash before it leaves the
//! manager naming the untouched old slot; after it, the new slot is durable. A slot
//! authenticates only under the key it was sealed with, and the manager holds only the
//! newest key, so an older slot or a whole older disk image is refused at load.
//!
//! [`StateStore`] is generic over a [`BlockDevice`] (blkfront in the stub domain) and a
//! [`KeyKeeper`] (the manager over tpmfront; [`ProtoKeeper`] speaks the manager
//! protocol over any [`ManagerChannel`]). The snapshot bytes are opaque here (they are
//! `tpm_engine::envelope` blobs). docs/vtpm-disk.md describes the format and what an
//! operator sees for each failure.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod error;
#[cfg(any(test, feature = "test-utils"))]
pub mod fake;
pub mod format;
mod keeper;
mod store;

pub use error::{Cause, DeviceError, Diagnosis, DiskOp, Error, KeeperError};
pub use format::{DiskId, KeyRecord, Slot, SlotHeader, SlotState, SlotSummary};
pub use keeper::{ManagerChannel, ProtoKeeper};
pub use store::{DiskInspection, Loaded, MIN_SLOT_BYTES, Saved, StateStore, Status, inspect};
pub use vtpm_proto::Hashkey;

/// A disk addressed in whole sectors (blkfront in the stub domain).
///
/// The store relies on one property beyond reading back what was written: after
/// [`flush`](BlockDevice::flush) returns `Ok`, every write that returned before it is
/// durable (blkif `BLKIF_OP_FLUSH_DISKCACHE` or a barrier). A device without a write
/// cache may implement flush as a no-op; a device that cannot guarantee durability
/// must return an error, which fails the save.
pub trait BlockDevice {
    /// Bytes per sector (512 or 4096 for blkif).
    fn sector_size(&self) -> usize;

    /// Number of sectors.
    fn sectors(&self) -> u64;

    /// Reads whole sectors, starting at `sector`, into `buf` (a multiple of the
    /// sector size).
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError>;

    /// Writes whole sectors, starting at `sector`. May sit in a write cache until
    /// [`flush`](BlockDevice::flush).
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), DeviceError>;

    /// Makes every completed write durable.
    fn flush(&mut self) -> Result<(), DeviceError>;
}

/// The manager's side of a save: it keeps one record of key material per vTPM.
///
/// Implementations must report honestly whether the manager may have acted: an error
/// that is not [`KeeperError::NoAnswer`] promises the stored record did not change,
/// and an `Ok` from [`save`](KeyKeeper::save) promises the new record is durable at the
/// manager.
pub trait KeyKeeper {
    /// Replaces the stored record (SAVEHASHKEY).
    fn save(&mut self, key: &Hashkey) -> Result<(), KeeperError>;

    /// The stored record, or `None` if the manager has none (LOADHASHKEY).
    fn load(&mut self) -> Result<Option<Hashkey>, KeeperError>;
}

impl<T: BlockDevice + ?Sized> BlockDevice for &mut T {
    fn sector_size(&self) -> usize {
        (**self).sector_size()
    }

    fn sectors(&self) -> u64 {
        (**self).sectors()
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        (**self).read(sector, buf)
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), DeviceError> {
        (**self).write(sector, data)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        (**self).flush()
    }
}

impl<T: KeyKeeper + ?Sized> KeyKeeper for &mut T {
    fn save(&mut self, key: &Hashkey) -> Result<(), KeeperError> {
        (**self).save(key)
    }

    fn load(&mut self) -> Result<Option<Hashkey>, KeeperError> {
        (**self).load()
    }
}
