//! The manager's key store: two root slots, copy-on-write sectors, sealed root secret.
//!
//! vtpmmgr-stubdom keeps one small record per vTPM — the key the vTPM's state is
//! encrypted with (its "hashkey", what SAVEHASHKEY stores and LOADHASHKEY returns) and a
//! few flags — keyed by the vTPM's uuid. [`Store`] keeps them on the manager's disk:
//!
//! - a copy-on-write B+-tree keyed by uuid in 4096-byte sectors, so a lookup reads and
//!   an update writes O(log n) sectors;
//! - two root slots with sequence numbers; a change writes new sectors that the current
//!   root does not use, flushes, writes the new root into the other slot, flushes; the
//!   valid root with the highest sequence wins at load, so a power cut leaves the old or
//!   the new state;
//! - every tree sector encrypted and authenticated under keys derived from a 32-byte
//!   root secret that the caller seals with the hardware TPM (the sealed blob is stored,
//!   opaque, in the root);
//! - the root bound to a hardware monotonic counter ([`MonotonicCounter`]), so an older
//!   image is refused.
//!
//! The device and the counter are traits ([`BlockDevice`], [`MonotonicCounter`]); the
//! `test-utils` feature adds fakes of both in `testing`. docs/manager-disk.md describes
//! the format, the sync and rollback protocols and the measured capacity.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod crypto;
mod error;
mod inspect;
pub mod layout;
mod mem;
mod store;

#[cfg(feature = "test-utils")]
pub mod testing;

pub use crypto::RootSecret;
pub use error::{CounterError, DeviceError, Error};
pub use inspect::{ImageKind, Inspection, SlotInfo, SlotState, inspect};
pub use layout::{
    DEFAULT_SECTORS, Entry, KeyData, MAX_KEY_LEN, MAX_SEALED_BLOB, MAX_SECTORS, SECTOR_SIZE,
};
pub use mem::MemDisk;
pub use store::{CheckReport, FormatOptions, IoStats, NoCounter, OpenOptions, Store};

/// A vTPM's uuid (16 bytes, as in the xenstore `uuid` key and the manager protocol).
pub type Uuid = [u8; 16];

/// The manager's disk, in 4096-byte sectors (the real one is blkfront).
pub trait BlockDevice {
    /// Number of 4096-byte sectors.
    fn sectors(&self) -> u64;
    /// Reads one sector.
    fn read(&mut self, sector: u64, buf: &mut [u8; SECTOR_SIZE]) -> Result<(), DeviceError>;
    /// Writes one sector (may sit in a volatile cache until [`flush`](Self::flush)).
    fn write(&mut self, sector: u64, buf: &[u8; SECTOR_SIZE]) -> Result<(), DeviceError>;
    /// Makes every completed write durable (a blkif flush / barrier).
    fn flush(&mut self) -> Result<(), DeviceError>;
}

/// A hardware monotonic counter (TPM 2.0 NV counter, TPM 1.2 monotonic counter).
pub trait MonotonicCounter {
    /// The current value.
    fn read(&mut self) -> Result<u64, CounterError>;
    /// Adds one and returns the new value.
    fn increment(&mut self) -> Result<u64, CounterError>;
}

impl<T: BlockDevice + ?Sized> BlockDevice for &mut T {
    fn sectors(&self) -> u64 {
        (**self).sectors()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8; SECTOR_SIZE]) -> Result<(), DeviceError> {
        (**self).read(sector, buf)
    }
    fn write(&mut self, sector: u64, buf: &[u8; SECTOR_SIZE]) -> Result<(), DeviceError> {
        (**self).write(sector, buf)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        (**self).flush()
    }
}

impl<T: MonotonicCounter + ?Sized> MonotonicCounter for &mut T {
    fn read(&mut self) -> Result<u64, CounterError> {
        (**self).read()
    }
    fn increment(&mut self) -> Result<u64, CounterError> {
        (**self).increment()
    }
}
