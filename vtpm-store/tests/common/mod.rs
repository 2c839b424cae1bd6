//! A simulated vTPM domain: fake disk, fake manager, one power switch.

#![allow(dead_code, reason = "each test file uses a different part")]

use tpm_engine::{Drbg, Family};
use vtpm_store::fake::{FakeDisk, FakeKeeper, Power};
use vtpm_store::{Error, Saved, StateStore};

pub const SECTOR: usize = 512;
/// 32 KiB: two 16 KiB slots.
pub const SECTORS: u64 = 64;

pub type Store = StateStore<FakeDisk, FakeKeeper>;

pub struct World {
    pub power: Power,
    pub store: Store,
    pub rng: Drbg,
}

impl World {
    /// A new vTPM with a blank disk and no manager record, not loaded yet.
    pub fn blank(seed: u8) -> Self {
        Self::blank_disk(seed, SECTOR, SECTORS)
    }

    /// A new vTPM on a blank disk of the given geometry.
    pub fn blank_disk(seed: u8, sector_size: usize, sectors: u64) -> Self {
        let power = Power::new();
        let disk = FakeDisk::new(sector_size, sectors, power.clone());
        let keeper = FakeKeeper::new(power.clone());
        Self { power, store: StateStore::new(disk, keeper), rng: Drbg::from_seed([seed; 32]) }
    }

    /// A new vTPM after its first load (which finds nothing saved).
    pub fn started(seed: u8) -> Self {
        Self::started_disk(seed, SECTOR, SECTORS)
    }

    /// A new vTPM on a disk of the given geometry, after its first load.
    pub fn started_disk(seed: u8, sector_size: usize, sectors: u64) -> Self {
        let mut world = Self::blank_disk(seed, sector_size, sectors);
        assert!(matches!(world.store.load(), Err(Error::NeverSaved { .. })));
        world
    }

    pub fn save(&mut self, snapshot: &[u8]) -> Result<Saved, Error> {
        self.store.save(snapshot, Family::Tpm12, &mut self.rng)
    }

    /// Loads and returns the snapshot bytes.
    pub fn load(&mut self) -> Result<Vec<u8>, Error> {
        self.store.load().map(|loaded| loaded.snapshot.to_vec())
    }

    /// The domain after a crash and reboot: the manager's committed record, the disk's
    /// durable data plus the first `surviving` unflushed sectors.
    pub fn reboot(&self, surviving: u64, seed: u8) -> Self {
        let power = Power::new();
        let disk = self.store.disk().power_loss(surviving, power.clone());
        let keeper = self.store.keeper().after_crash(power.clone());
        Self { power, store: StateStore::new(disk, keeper), rng: Drbg::from_seed([seed; 32]) }
    }

    /// The same manager with another disk image.
    pub fn with_image(&self, image: Vec<u8>) -> Self {
        let power = Power::new();
        let sector_size = vtpm_store::BlockDevice::sector_size(self.store.disk());
        let disk = FakeDisk::from_image(sector_size, image, power.clone());
        let keeper = self.store.keeper().after_crash(power.clone());
        Self { power, store: StateStore::new(disk, keeper), rng: Drbg::from_seed([99; 32]) }
    }
}

/// A recognisable snapshot of `len` bytes.
pub fn snapshot(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag ^ u8::try_from(i % 251).unwrap()).collect()
}
