//! The manager's disk: blkfront as the key store's block device.

use blkfront::{Blkfront, DiskInfo};
use mgr_store::{BlockDevice, DeviceError, SECTOR_SIZE};
use xenbus::Platform;

/// The key store's 4 KiB sectors on a blkfront disk.
#[derive(Debug)]
pub struct BlkDisk<P: Platform> {
    disk: Blkfront<P>,
    sectors: u64,
}

/// Device error codes reported to the key store (its `DeviceError` carries one).
const EIO: i32 = 5;

impl<P: Platform> BlkDisk<P> {
    /// Uses the connected `disk`: its whole size, in whole 4 KiB sectors.
    pub fn new(disk: Blkfront<P>, info: DiskInfo) -> Self {
        let sectors = info.size_bytes() / SECTOR_SIZE as u64;
        Self { disk, sectors }
    }

    /// The disk's size in bytes, as the store uses it.
    pub fn size_bytes(&self) -> u64 {
        self.sectors * SECTOR_SIZE as u64
    }

    /// The block frontend (its ports and watch, for the event loop).
    pub fn frontend(&mut self) -> &mut Blkfront<P> {
        &mut self.disk
    }

    fn offset(&self, sector: u64) -> Result<u64, DeviceError> {
        if sector >= self.sectors {
            return Err(DeviceError(EIO));
        }
        Ok(sector * SECTOR_SIZE as u64)
    }
}

fn device_error(what: &str, error: blkfront::Error) -> DeviceError {
    kernel::error!("manager disk: {what}: {error}");
    DeviceError(EIO)
}

impl<P: Platform> BlockDevice for BlkDisk<P> {
    fn sectors(&self) -> u64 {
        self.sectors
    }

    fn read(&mut self, sector: u64, buf: &mut [u8; SECTOR_SIZE]) -> Result<(), DeviceError> {
        let offset = self.offset(sector)?;
        self.disk.read(offset, buf).map_err(|e| device_error("read", e))
    }

    fn write(&mut self, sector: u64, buf: &[u8; SECTOR_SIZE]) -> Result<(), DeviceError> {
        let offset = self.offset(sector)?;
        self.disk.write(offset, buf).map_err(|e| device_error("write", e))
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        match self.disk.flush() {
            // The backend withdrew the flush it offered: blkfront switched it off, and
            // completed writes are as durable as the backend makes them (Linux does
            // the same); the write sequence stays ordered.
            Err(blkfront::Error::Unsupported) => Ok(()),
            other => other.map_err(|e| device_error("flush", e)),
        }
    }
}
