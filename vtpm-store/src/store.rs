//! Load and save: which slot is live, and the order that keeps a crash harmless.

use crate::format::{self, DiskId, KeyRecord, OVERHEAD, Slot, SlotHeader, SlotState};
use crate::{BlockDevice, Diagnosis, DiskOp, Error, KeyKeeper};
use alloc::vec::Vec;
use core::fmt;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use tpm_engine::Family;
use zeroize::Zeroizing;

/// The smallest slot the store uses: room for the slot overhead and a small state.
/// Real states need far more (docs/vtpm-disk.md gives sizes); a save that does not
/// fit fails with [`Error::SnapshotTooLarge`].
pub const MIN_SLOT_BYTES: u64 = 4096;

/// The disk's layout: two halves, slot 0 first (the C vtpm layout, spec §4.2), each a
/// whole number of sectors.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    sector_size: usize,
    slot_sectors: u64,
    /// The largest snapshot one slot holds.
    capacity: usize,
}

impl Geometry {
    fn of<D: BlockDevice + ?Sized>(disk: &D) -> Result<Self, Error> {
        let sector_size = disk.sector_size();
        let sectors = disk.sectors();
        let bad = Error::Geometry { sector_size, sectors };
        if !sector_size.is_power_of_two() || !(512..=65536).contains(&sector_size) {
            return Err(bad);
        }
        let sector_bytes = u64::try_from(sector_size).map_err(|_| bad)?;
        let bytes = sectors.checked_mul(sector_bytes).ok_or(bad)?;
        // An odd last sector is left unused, so slot 1 starts on a sector boundary.
        let slot_sectors = sectors / 2;
        let slot_bytes = slot_sectors.checked_mul(sector_bytes).ok_or(bad)?;
        if slot_bytes < MIN_SLOT_BYTES {
            let minimum = MIN_SLOT_BYTES.next_multiple_of(sector_bytes).saturating_mul(2);
            return Err(Error::DiskTooSmall { bytes, minimum });
        }
        let room = slot_bytes.saturating_sub(OVERHEAD as u64);
        let capacity = usize::try_from(room).unwrap_or(usize::MAX).min(format::MAX_SNAPSHOT);
        Ok(Self { sector_size, slot_sectors, capacity })
    }

    /// The first sector of `slot`.
    fn slot_start(&self, slot: Slot) -> u64 {
        if slot == 0 { 0 } else { self.slot_sectors }
    }
}

/// A parsed slot header and the sector it was read from.
type Sealed = (SlotHeader, Zeroizing<Vec<u8>>);

/// What the store knows about the manager's record.
#[derive(Clone, Debug)]
enum Commit {
    /// No successful load: writing could destroy the only copy of a state. `named` is
    /// the slot the manager's record names, when it could be read.
    Unknown { named: Option<Slot> },
    /// Nothing committed, or the caller chose to start over: the next save starts a
    /// new disk id at generation 1, in `slot`.
    Fresh { slot: Slot },
    /// The manager holds this record.
    Committed(KeyRecord),
    /// A save got no answer: the manager holds `previous` (or, if `None`, whatever it
    /// held before a fresh start) or `attempted`.
    Uncertain { previous: Option<KeyRecord>, attempted: KeyRecord },
}

/// Where the store stands, for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No successful load yet: saves are refused.
    NotLoaded,
    /// No state committed; the next save starts generation 1.
    Fresh,
    /// The manager's key opens this generation in this slot.
    Committed {
        /// The committed generation.
        generation: u64,
        /// Its slot.
        slot: Slot,
    },
    /// The last save's outcome is unknown; it is resolved before the next save.
    Uncertain {
        /// The generation that may or may not be committed.
        attempted: u64,
    },
}

/// A state read back by [`StateStore::load`].
pub struct Loaded {
    /// The snapshot, as given to the save that wrote it.
    pub snapshot: Zeroizing<Vec<u8>>,
    /// The TPM family the save recorded.
    pub family: Option<Family>,
    /// Its generation.
    pub generation: u64,
    /// The slot it came from.
    pub slot: Slot,
    /// The disk's id.
    pub disk_id: DiskId,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("snapshot", &format_args!("<{} bytes>", self.snapshot.len()))
            .field("family", &self.family)
            .field("generation", &self.generation)
            .field("slot", &self.slot)
            .field("disk_id", &self.disk_id)
            .finish()
    }
}

/// A committed save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saved {
    /// The new generation.
    pub generation: u64,
    /// The slot it was written to.
    pub slot: Slot,
}

/// The vTPM state store: a disk of two slots and the manager that holds the key.
#[derive(Debug)]
pub struct StateStore<D, K> {
    disk: D,
    keeper: K,
    commit: Commit,
}

impl<D: BlockDevice, K: KeyKeeper> StateStore<D, K> {
    /// A store over `disk` whose key lives at `keeper`. Nothing is read until
    /// [`load`](Self::load).
    pub fn new(disk: D, keeper: K) -> Self {
        Self { disk, keeper, commit: Commit::Unknown { named: None } }
    }

    /// Where the store stands.
    pub fn status(&self) -> Status {
        match &self.commit {
            Commit::Unknown { .. } => Status::NotLoaded,
            Commit::Fresh { .. } => Status::Fresh,
            Commit::Committed(r) => Status::Committed { generation: r.generation, slot: r.slot },
            Commit::Uncertain { attempted, .. } => {
                Status::Uncertain { attempted: attempted.generation }
            }
        }
    }

    /// The disk.
    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// The key keeper.
    pub fn keeper(&self) -> &K {
        &self.keeper
    }

    /// The disk, mutably (to reconnect it, or for tests).
    pub fn disk_mut(&mut self) -> &mut D {
        &mut self.disk
    }

    /// The key keeper, mutably.
    pub fn keeper_mut(&mut self) -> &mut K {
        &mut self.keeper
    }

    /// The disk and the keeper.
    pub fn into_parts(self) -> (D, K) {
        (self.disk, self.keeper)
    }

    /// The largest snapshot this disk holds.
    pub fn capacity(&self) -> Result<usize, Error> {
        Ok(Geometry::of(&self.disk)?.capacity)
    }

    /// Reads the committed state: asks the manager for the key record, then opens the
    /// slot it names. Never returns an empty state: "nothing saved yet" is
    /// [`Error::NeverSaved`], after which saving is allowed if the disk holds nothing
    /// but blank slots or an uncommitted first save ([`Status::Fresh`]). Every other
    /// failure leaves the store refusing to save until
    /// [`start_fresh`](Self::start_fresh).
    pub fn load(&mut self) -> Result<Loaded, Error> {
        self.commit = Commit::Unknown { named: None };
        let geometry = Geometry::of(&self.disk)?;
        let held = self.keeper.load().map_err(Error::Manager)?;
        let record = match held.as_ref().map(KeyRecord::parse) {
            Some(Ok(Some(record))) => record,
            Some(Err(e)) => return Err(e),
            None | Some(Ok(None)) => {
                let slots = [self.inspect(&geometry, 0).0, self.inspect(&geometry, 1).0];
                // A first boot may save at once if the disk holds nothing a save could
                // destroy: blank slots, or the remains of a first save that never
                // committed. Any other content (a later generation, a C vTPM state) is
                // a state whose key the manager lost or that belongs to another vTPM
                // (a wrong UUID?): only an explicit fresh start may overwrite it.
                let unused = |s: &SlotState| match s {
                    SlotState::Blank => true,
                    SlotState::Sealed(summary) => summary.generation == 1,
                    _ => false,
                };
                if slots.iter().all(unused) {
                    self.commit = Commit::Fresh { slot: 0 };
                }
                return Err(Error::NeverSaved { slots });
            }
        };
        self.commit = Commit::Unknown { named: Some(record.slot) };
        let mut slots = [SlotState::Blank; 2];
        // The record names one slot; the other can never authenticate under its key
        // (the slot index is authenticated), but is inspected to explain a failure.
        for slot in [record.slot, record.slot ^ 1] {
            let (state, sealed) = self.inspect(&geometry, slot);
            if let (SlotState::Unreadable(cause), true) = (state, slot == record.slot) {
                let sector = geometry.slot_start(slot);
                return Err(Error::Disk { op: DiskOp::Read, sector, cause });
            }
            if let Some((header, first)) = sealed
                && header.matches(&record)
            {
                let image = self.read_image(&geometry, slot, &header, first)?;
                if let Some(snapshot) = format::open(&record, &header, image) {
                    let loaded = Loaded {
                        snapshot,
                        family: header.family,
                        generation: header.generation,
                        slot,
                        disk_id: header.disk_id,
                    };
                    self.commit = Commit::Committed(record);
                    return Ok(loaded);
                }
            }
            if let Some(entry) = slots.get_mut(usize::from(slot)) {
                *entry = state;
            }
        }
        Err(Error::NoValidSlot(Diagnosis {
            generation: record.generation,
            slot: record.slot,
            disk_id: record.disk_id,
            slots,
        }))
    }

    /// Forgets the state the manager and the disk hold: the next save starts a new
    /// disk id at generation 1. This is the explicit "make a fresh TPM" choice after a
    /// failed load; the first fresh save goes to the slot the manager's record does
    /// not name, so a crash before it commits changes nothing.
    pub fn start_fresh(&mut self) {
        let slot = match &self.commit {
            Commit::Unknown { named } => named.map_or(0, |s| s ^ 1),
            Commit::Fresh { slot } => *slot,
            Commit::Committed(record) => record.slot ^ 1,
            Commit::Uncertain { attempted, .. } => attempted.slot ^ 1,
        };
        self.commit = Commit::Fresh { slot };
    }

    /// Saves a snapshot: seal under a fresh key, write the slot the manager does not
    /// name, flush, hand the key record to the manager. Returns once the manager has
    /// acknowledged (the commit point). On any error the committed state is the one
    /// before the call — except [`Error::CommitUncertain`], after which it is that one
    /// or this one, settled before the next save.
    pub fn save<R: CryptoRng + ?Sized>(
        &mut self,
        snapshot: &[u8],
        family: Family,
        rng: &mut R,
    ) -> Result<Saved, Error> {
        let geometry = Geometry::of(&self.disk)?;
        if snapshot.len() > geometry.capacity {
            return Err(Error::SnapshotTooLarge {
                bytes: snapshot.len(),
                capacity: geometry.capacity,
            });
        }
        self.settle()?;
        let (previous, disk_id, generation, slot) = match &self.commit {
            Commit::Fresh { slot } => (None, DiskId::random(rng), 1, *slot),
            Commit::Committed(record) => {
                let next = record.generation.checked_add(1).ok_or(Error::GenerationExhausted)?;
                (Some(record.clone()), record.disk_id, next, record.slot ^ 1)
            }
            Commit::Unknown { .. } => return Err(Error::NotLoaded),
            Commit::Uncertain { .. } => return Err(Error::CommitUncertain),
        };
        let record = KeyRecord::generate(rng, disk_id, generation, slot);
        let image = format::seal(&record, family, snapshot, geometry.sector_size, rng)?;
        // Only the slot the manager does not name is written; until the manager takes
        // the new key, the old slot and key stay the committed state.
        let start = geometry.slot_start(slot);
        self.disk.write(start, &image).map_err(|cause| Error::Disk {
            op: DiskOp::Write,
            sector: start,
            cause,
        })?;
        drop(image);
        // The new slot must be durable before the manager can name it: after the
        // acknowledgement the old slot is no longer loadable.
        self.disk.flush().map_err(|cause| Error::Disk {
            op: DiskOp::Flush,
            sector: start,
            cause,
        })?;
        let saved = Saved { generation, slot };
        match self.keeper.save(&record.to_hashkey()) {
            Ok(()) => {
                self.commit = Commit::Committed(record);
                Ok(saved)
            }
            Err(e) if !e.outcome_unknown() => Err(Error::Manager(e)),
            Err(e) => {
                // The manager may hold either key. Ask it which; until that is known
                // neither slot may be overwritten.
                self.commit = Commit::Uncertain { previous, attempted: record };
                match self.settle() {
                    Ok(()) if self.status() == (Status::Committed { generation, slot }) => {
                        Ok(saved)
                    }
                    Ok(()) => Err(Error::Manager(e)),
                    Err(Error::ManagerRecordChanged) => Err(Error::ManagerRecordChanged),
                    Err(_) => Err(Error::CommitUncertain),
                }
            }
        }
    }

    /// Resolves an unknown save outcome by asking the manager which record it holds.
    fn settle(&mut self) -> Result<(), Error> {
        let Commit::Uncertain { previous, attempted } = &self.commit else {
            return Ok(());
        };
        let held = self.keeper.load().map_err(Error::Manager)?;
        let holds = |record: &KeyRecord| {
            held.as_ref().is_some_and(|h| bool::from(h.ct_eq(&record.to_hashkey())))
        };
        let settled = if holds(attempted) {
            Commit::Committed(attempted.clone())
        } else {
            match previous {
                Some(previous) if holds(previous) => Commit::Committed(previous.clone()),
                // Before a fresh state's first commit, anything but the attempted key
                // means the attempt did not land.
                None => Commit::Fresh { slot: attempted.slot },
                Some(_) => return Err(Error::ManagerRecordChanged),
            }
        };
        self.commit = settled;
        Ok(())
    }

    /// Reads a slot's first sector and classifies it; for a well-formed header, also
    /// returns the header and the sector (the start of the slot image).
    fn inspect(&mut self, geometry: &Geometry, slot: Slot) -> (SlotState, Option<Sealed>) {
        let mut first = Zeroizing::new(alloc::vec![0u8; geometry.sector_size]);
        if let Err(cause) = self.disk.read(geometry.slot_start(slot), &mut first) {
            return (SlotState::Unreadable(cause), None);
        }
        match SlotHeader::parse(&first, slot, geometry.capacity) {
            Ok(header) => (SlotState::Sealed(header.summary()), Some((header, first))),
            Err(state) => (state, None),
        }
    }

    /// Reads the rest of a slot image whose first sector is `first`.
    fn read_image(
        &mut self,
        geometry: &Geometry,
        slot: Slot,
        header: &SlotHeader,
        mut image: Zeroizing<Vec<u8>>,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let start = geometry.slot_start(slot);
        // The header's length was checked against the slot's capacity.
        let len = usize::try_from(header.len).unwrap_or(usize::MAX);
        let total = len
            .checked_add(OVERHEAD)
            .and_then(|n| format::sector_span(n, geometry.sector_size))
            .ok_or(Error::Geometry { sector_size: geometry.sector_size, sectors: start })?;
        image.resize(total.max(geometry.sector_size), 0);
        if let Some(rest) = image.get_mut(geometry.sector_size..)
            && !rest.is_empty()
        {
            let sector = start.saturating_add(1);
            self.disk.read(sector, rest).map_err(|cause| Error::Disk {
                op: DiskOp::Read,
                sector,
                cause,
            })?;
        }
        Ok(image)
    }
}

/// What a vTPM state disk holds, read without any key (the host tool's
/// `vtpm-image inspect`; docs/vtpm-disk.md "Offline inspection"). Every field of a
/// slot is an unauthenticated claim: only the key record at the manager opens a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskInspection {
    /// Bytes per sector the disk was read with.
    pub sector_size: usize,
    /// Number of sectors.
    pub sectors: u64,
    /// Sectors per slot (slot 1 starts at this sector).
    pub slot_sectors: u64,
    /// The largest snapshot one slot holds.
    pub capacity: usize,
    /// Slots 0 and 1, classified from their first sector.
    pub slots: [SlotState; 2],
}

impl DiskInspection {
    /// The slot whose well-formed header claims the highest generation — the one a
    /// load would expect the manager's record to name. Only a claim: the manager's
    /// record decides, and a slot that does not authenticate is refused at load.
    pub fn newest(&self) -> Option<Slot> {
        let generation = |s: &SlotState| match s {
            SlotState::Sealed(summary) => Some(summary.generation),
            _ => None,
        };
        match (generation(&self.slots[0]), generation(&self.slots[1])) {
            (Some(a), Some(b)) => Some(if b > a { 1 } else { 0 }),
            (Some(_), None) => Some(0),
            (None, Some(_)) => Some(1),
            (None, None) => None,
        }
    }
}

/// Classifies both slots of `disk` from their first sectors, without any key. Fails
/// only if the disk's geometry is unusable ([`Error::Geometry`],
/// [`Error::DiskTooSmall`]); a slot that cannot be read is reported as
/// [`SlotState::Unreadable`].
pub fn inspect<D: BlockDevice + ?Sized>(disk: &mut D) -> Result<DiskInspection, Error> {
    let geometry = Geometry::of(disk)?;
    let mut slots = [SlotState::Blank; 2];
    for (slot, state) in (0u8..).zip(slots.iter_mut()) {
        let mut first = Zeroizing::new(alloc::vec![0u8; geometry.sector_size]);
        *state = match disk.read(geometry.slot_start(slot), &mut first) {
            Ok(()) => SlotHeader::inspect(&first, slot, geometry.capacity),
            Err(cause) => SlotState::Unreadable(cause),
        };
    }
    Ok(DiskInspection {
        sector_size: geometry.sector_size,
        sectors: disk.sectors(),
        slot_sectors: geometry.slot_sectors,
        capacity: geometry.capacity,
        slots,
    })
}
