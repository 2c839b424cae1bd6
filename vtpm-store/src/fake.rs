//! A fake disk and a fake manager sharing one power switch, for crash testing.
//!
//! Every step a real machine can die between — one sector reaching the disk's write
//! cache, a flush, the manager committing a key, the manager's acknowledgement
//! arriving — consumes one tick of a shared [`Power`]. Cutting the power at tick `n`
//! and then building the machine that reboots ([`FakeDisk::power_loss`],
//! [`FakeKeeper::after_crash`]) reproduces a crash at that exact point.

use crate::{BlockDevice, DeviceError, Hashkey, KeeperError, KeyKeeper};
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::Cell;

/// The power of one simulated vTPM domain, shared by its disk and its manager link.
#[derive(Clone, Debug, Default)]
pub struct Power(Rc<Cell<PowerState>>);

#[derive(Clone, Copy, Debug, Default)]
struct PowerState {
    ticks: u64,
    cut_at: Option<u64>,
    off: bool,
}

impl Power {
    /// Power that stays on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fails the power when `ticks` steps have run in total: step number `ticks`
    /// (counting from 0) and everything after it never happen.
    pub fn cut_at(&self, ticks: u64) {
        let mut state = self.0.get();
        state.cut_at = Some(ticks);
        self.0.set(state);
    }

    /// Steps run so far.
    pub fn ticks(&self) -> u64 {
        self.0.get().ticks
    }

    /// True until the power fails.
    pub fn is_on(&self) -> bool {
        !self.0.get().off
    }

    /// Runs one step; false if the power failed before it.
    fn tick(&self) -> bool {
        let mut state = self.0.get();
        if state.off || state.cut_at.is_some_and(|cut| state.ticks >= cut) {
            state.off = true;
            self.0.set(state);
            return false;
        }
        state.ticks += 1;
        self.0.set(state);
        true
    }
}

/// Injected disk failures.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiskFaults {
    /// Reads that include this sector fail with [`DeviceError::Io`].
    pub read_sector: Option<u64>,
    /// Every write fails with this error.
    pub write: Option<DeviceError>,
    /// Every flush fails with this error.
    pub flush: Option<DeviceError>,
}

/// An in-memory disk with a volatile write cache.
///
/// Writes land in the cache (reads see them); [`flush`](BlockDevice::flush) makes them
/// durable. A power cut loses the cache, except the prefix of it that a caller of
/// [`power_loss`](FakeDisk::power_loss) lets survive.
pub struct FakeDisk {
    sector_size: usize,
    durable: Vec<u8>,
    /// Unflushed writes in issue order: first sector and whole-sector data.
    cache: Vec<(u64, Vec<u8>)>,
    power: Power,
    /// Failures to inject.
    pub faults: DiskFaults,
    /// Sectors written so far.
    pub sectors_written: u64,
    /// Flushes so far.
    pub flushes: u64,
}

impl FakeDisk {
    /// A zeroed disk.
    pub fn new(sector_size: usize, sectors: u64, power: Power) -> Self {
        let bytes = usize::try_from(sectors).unwrap_or(0).saturating_mul(sector_size);
        Self::from_image(sector_size, alloc::vec![0; bytes], power)
    }

    /// A disk holding `image` (truncated to whole sectors).
    pub fn from_image(sector_size: usize, mut image: Vec<u8>, power: Power) -> Self {
        image.truncate(image.len() - image.len() % sector_size.max(1));
        Self {
            sector_size,
            durable: image,
            cache: Vec::new(),
            power,
            faults: DiskFaults::default(),
            sectors_written: 0,
            flushes: 0,
        }
    }

    /// What a reader sees now (durable data with the cache on top).
    pub fn image(&self) -> Vec<u8> {
        let mut image = self.durable.clone();
        for (sector, data) in &self.cache {
            Self::apply(&mut image, self.sector_size, *sector, data);
        }
        image
    }

    /// Unflushed sectors, in the order they were written.
    pub fn pending_sectors(&self) -> u64 {
        let sectors: usize = self.cache.iter().map(|(_, d)| d.len() / self.sector_size).sum();
        u64::try_from(sectors).unwrap_or(u64::MAX)
    }

    /// The disk after a power cut: the durable data plus the first `surviving`
    /// unflushed sectors (a cache written back in order, interrupted).
    pub fn power_loss(&self, surviving: u64, power: Power) -> Self {
        let mut image = self.durable.clone();
        let mut left = surviving;
        for (sector, data) in &self.cache {
            let sectors = u64::try_from(data.len() / self.sector_size).unwrap_or(0);
            let keep = sectors.min(left);
            let keep_bytes = usize::try_from(keep).unwrap_or(0) * self.sector_size;
            Self::apply(&mut image, self.sector_size, *sector, &data[..keep_bytes]);
            left -= keep;
        }
        Self::from_image(self.sector_size, image, power)
    }

    /// Flips one bit of the durable data (and of any cached copy).
    pub fn flip_bit(&mut self, bit: u64) {
        let byte = usize::try_from(bit / 8).unwrap_or(usize::MAX);
        let mask = 1u8 << (bit % 8);
        if let Some(b) = self.durable.get_mut(byte) {
            *b ^= mask;
        }
        for (sector, data) in &mut self.cache {
            let start = usize::try_from(*sector).unwrap_or(usize::MAX) * self.sector_size;
            if let Some(b) = byte.checked_sub(start).and_then(|i| data.get_mut(i)) {
                *b ^= mask;
            }
        }
    }

    fn apply(image: &mut [u8], sector_size: usize, sector: u64, data: &[u8]) {
        let start = usize::try_from(sector).unwrap_or(usize::MAX).saturating_mul(sector_size);
        if let Some(dst) = image.get_mut(start..start.saturating_add(data.len())) {
            dst.copy_from_slice(data);
        }
    }

    /// The byte range of a request, if it is whole sectors inside the disk.
    fn range(&self, sector: u64, len: usize) -> Result<core::ops::Range<usize>, DeviceError> {
        let start = usize::try_from(sector)
            .ok()
            .and_then(|s| s.checked_mul(self.sector_size))
            .ok_or(DeviceError::OutOfRange)?;
        let end = start.checked_add(len).ok_or(DeviceError::OutOfRange)?;
        if !len.is_multiple_of(self.sector_size) || end > self.durable.len() {
            return Err(DeviceError::OutOfRange);
        }
        Ok(start..end)
    }
}

impl core::fmt::Debug for FakeDisk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The contents would drown any test failure message; sizes say enough.
        f.debug_struct("FakeDisk")
            .field("sector_size", &self.sector_size)
            .field("bytes", &self.durable.len())
            .field("pending_sectors", &self.pending_sectors())
            .field("faults", &self.faults)
            .field("sectors_written", &self.sectors_written)
            .field("flushes", &self.flushes)
            .finish()
    }
}

impl BlockDevice for FakeDisk {
    fn sector_size(&self) -> usize {
        self.sector_size
    }

    fn sectors(&self) -> u64 {
        u64::try_from(self.durable.len() / self.sector_size.max(1)).unwrap_or(0)
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        if !self.power.is_on() {
            return Err(DeviceError::Disconnected);
        }
        let range = self.range(sector, buf.len())?;
        let count = u64::try_from(buf.len() / self.sector_size).unwrap_or(0);
        if self.faults.read_sector.is_some_and(|bad| (sector..sector + count).contains(&bad)) {
            return Err(DeviceError::Io);
        }
        buf.copy_from_slice(&self.durable[range.clone()]);
        // Cached writes overlapping the request, oldest first.
        for (at, data) in &self.cache {
            let cached = usize::try_from(*at).unwrap_or(usize::MAX) * self.sector_size;
            let lo = range.start.max(cached);
            let hi = range.end.min(cached + data.len());
            if lo < hi {
                buf[lo - range.start..hi - range.start]
                    .copy_from_slice(&data[lo - cached..hi - cached]);
            }
        }
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), DeviceError> {
        if let Some(e) = self.faults.write {
            return Err(e);
        }
        self.range(sector, data.len())?;
        // One power tick per sector: a cut mid-request leaves a torn write.
        let mut done = 0;
        for _ in data.chunks(self.sector_size) {
            if !self.power.tick() {
                break;
            }
            done += 1;
        }
        self.sectors_written += u64::try_from(done).unwrap_or(0);
        if done > 0 {
            self.cache.push((sector, data[..done * self.sector_size].to_vec()));
        }
        if done * self.sector_size == data.len() { Ok(()) } else { Err(DeviceError::Disconnected) }
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        if let Some(e) = self.faults.flush {
            return Err(e);
        }
        if !self.power.tick() {
            return Err(DeviceError::Disconnected);
        }
        for (sector, data) in core::mem::take(&mut self.cache) {
            Self::apply(&mut self.durable, self.sector_size, sector, &data);
        }
        self.flushes += 1;
        Ok(())
    }
}

/// How the fake manager misbehaves on one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeeperFault {
    /// The request cannot be sent: nothing happens.
    Unreachable,
    /// The manager refuses with this TPM code: nothing happens.
    Refuse(u32),
    /// The request is lost, or the manager restarts before committing it: nothing
    /// happens, and no answer comes.
    LoseRequest,
    /// The manager commits, but the answer is lost, or arrives after the keeper's
    /// deadline (a slow manager), or the manager restarts before sending it.
    LoseAck,
}

/// An in-memory manager holding one vTPM's record.
#[derive(Debug)]
pub struct FakeKeeper {
    stored: Option<Hashkey>,
    power: Power,
    faults: VecDeque<KeeperFault>,
    /// SAVEHASHKEY requests seen.
    pub saves: u64,
    /// LOADHASHKEY requests seen.
    pub loads: u64,
}

impl FakeKeeper {
    /// A manager without a record for this vTPM.
    pub fn new(power: Power) -> Self {
        Self { stored: None, power, faults: VecDeque::new(), saves: 0, loads: 0 }
    }

    /// The record the manager holds.
    pub fn stored(&self) -> Option<&Hashkey> {
        self.stored.as_ref()
    }

    /// Replaces the record (an operator, or another manager, at work).
    pub fn set_stored(&mut self, record: Option<Hashkey>) {
        self.stored = record;
    }

    /// Queues a fault for the next call that has none queued before it.
    pub fn push_fault(&mut self, fault: KeeperFault) {
        self.faults.push_back(fault);
    }

    /// The manager as the rebooted vTPM finds it: the same committed record, a new
    /// connection powered by `power`.
    pub fn after_crash(&self, power: Power) -> Self {
        Self { stored: self.stored.clone(), ..Self::new(power) }
    }

    fn refusal(&mut self) -> Result<Option<KeeperFault>, KeeperError> {
        if !self.power.is_on() {
            return Err(KeeperError::Unreachable);
        }
        match self.faults.pop_front() {
            Some(KeeperFault::Unreachable) => Err(KeeperError::Unreachable),
            Some(KeeperFault::Refuse(code)) => Err(KeeperError::Refused(code)),
            Some(KeeperFault::LoseRequest) => Err(KeeperError::NoAnswer),
            other => Ok(other),
        }
    }
}

impl KeyKeeper for FakeKeeper {
    fn save(&mut self, key: &Hashkey) -> Result<(), KeeperError> {
        self.saves += 1;
        let fault = self.refusal()?;
        // The vTPM dies while the request is in flight: the manager never sees it.
        if !self.power.tick() {
            return Err(KeeperError::NoAnswer);
        }
        self.stored = Some(key.clone());
        // The manager committed; the answer may still never arrive.
        if fault == Some(KeeperFault::LoseAck) || !self.power.tick() {
            return Err(KeeperError::NoAnswer);
        }
        Ok(())
    }

    fn load(&mut self) -> Result<Option<Hashkey>, KeeperError> {
        self.loads += 1;
        match self.refusal()? {
            Some(KeeperFault::LoseAck) => Err(KeeperError::NoAnswer),
            _ => Ok(self.stored.clone()),
        }
    }
}
