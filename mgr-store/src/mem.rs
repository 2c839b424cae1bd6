//! An in-memory block device (an image file read into memory, e.g. by `vtpm-tool`).

use alloc::vec;
use alloc::vec::Vec;

use crate::{BlockDevice, DeviceError, SECTOR_SIZE};

/// Device error code for an access past the end (EINVAL).
pub(crate) const OUT_OF_RANGE: DeviceError = DeviceError(-22);

/// A disk image held in memory. Writes are durable at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemDisk {
    image: Vec<u8>,
}

impl MemDisk {
    /// A zeroed disk of `sectors` sectors.
    pub fn new(sectors: usize) -> Self {
        Self { image: vec![0; sectors.saturating_mul(SECTOR_SIZE)] }
    }

    /// Wraps an image; a trailing partial sector is ignored.
    pub fn from_image(image: Vec<u8>) -> Self {
        Self { image }
    }

    /// The image bytes.
    pub fn image(&self) -> &[u8] {
        &self.image
    }

    /// Gives the image back.
    pub fn into_image(self) -> Vec<u8> {
        self.image
    }

    fn range(&self, sector: u64) -> Result<core::ops::Range<usize>, DeviceError> {
        let start = usize::try_from(sector)
            .ok()
            .and_then(|s| s.checked_mul(SECTOR_SIZE))
            .ok_or(OUT_OF_RANGE)?;
        let end = start.checked_add(SECTOR_SIZE).ok_or(OUT_OF_RANGE)?;
        if end > self.image.len() {
            return Err(OUT_OF_RANGE);
        }
        Ok(start..end)
    }
}

impl BlockDevice for MemDisk {
    fn sectors(&self) -> u64 {
        u64::try_from(self.image.len() / SECTOR_SIZE).unwrap_or(u64::MAX)
    }

    fn read(&mut self, sector: u64, buf: &mut [u8; SECTOR_SIZE]) -> Result<(), DeviceError> {
        let r = self.range(sector)?;
        buf.copy_from_slice(self.image.get(r).ok_or(OUT_OF_RANGE)?);
        Ok(())
    }

    fn write(&mut self, sector: u64, buf: &[u8; SECTOR_SIZE]) -> Result<(), DeviceError> {
        let r = self.range(sector)?;
        self.image.get_mut(r).ok_or(OUT_OF_RANGE)?.copy_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        Ok(())
    }
}
