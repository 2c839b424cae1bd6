//! Why a load or a save failed, worded for the operator reading the console.

use crate::format::{DiskId, Slot, SlotState};
use core::fmt;

/// What a block device reports when a request fails. The driver keeps (and logs) its
/// own detail; the store needs only the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The backend answered with an error (blkif `BLKIF_RSP_ERROR`).
    Io,
    /// The backend does not support the operation (`BLKIF_RSP_EOPNOTSUPP`, e.g. no
    /// flush or barrier).
    Unsupported,
    /// The device is not connected, or went away.
    Disconnected,
    /// The request lies outside the device, or is not whole sectors.
    OutOfRange,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Io => "I/O error",
            Self::Unsupported => "operation not supported by the backend",
            Self::Disconnected => "device disconnected",
            Self::OutOfRange => "request outside the device",
        })
    }
}

/// Why the manager did not do what the store asked. What matters to the store is
/// whether the manager may have acted on the request anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeeperError {
    /// The request was not sent (the channel to the manager is down): the manager
    /// did nothing.
    Unreachable,
    /// The manager answered with this TPM 1.2 error code: it did nothing.
    Refused(u32),
    /// The request was sent but no valid answer came back (timeout, the manager
    /// restarted, a malformed answer): it may or may not have been carried out.
    NoAnswer,
}

impl KeeperError {
    /// True if the manager may have carried the request out.
    pub fn outcome_unknown(self) -> bool {
        matches!(self, Self::NoAnswer)
    }
}

impl fmt::Display for KeeperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable => f.write_str("manager unreachable"),
            Self::Refused(code) => {
                write!(f, "manager refused: {}", vtpm_proto::ReturnCode(*code))
            }
            Self::NoAnswer => f.write_str("no answer from the manager"),
        }
    }
}

/// A disk operation, for error reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskOp {
    /// Reading sectors.
    Read,
    /// Writing sectors.
    Write,
    /// Flushing the device's write cache.
    Flush,
}

impl fmt::Display for DiskOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Flush => "flush",
        })
    }
}

/// The manager's record names a state the disk does not hold: what each slot holds
/// instead, and what that suggests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    /// The generation the manager's record names.
    pub generation: u64,
    /// The slot the manager's record names.
    pub slot: Slot,
    /// The disk the manager's record names.
    pub disk_id: DiskId,
    /// What each slot holds.
    pub slots: [SlotState; 2],
}

/// The likely cause of a [`Diagnosis`], judged from the slot the manager names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The named slot holds the named generation but does not authenticate: its bytes
    /// were altered.
    Corrupt,
    /// The named slot holds an older generation of this disk (or is blank while the
    /// other holds one): a stale copy or a replayed image.
    Replayed,
    /// The named slot holds a later generation than the manager's record: the
    /// manager's record was rolled back (restored from an older manager disk?).
    ManagerBehind,
    /// The disk belongs to another vTPM (or was re-created).
    OtherDisk,
    /// Both slots are blank: the disk was replaced or wiped.
    Blank,
    /// The disk was written by the C vtpm-stubdom.
    CVtpm,
    /// Nothing usable in the named slot.
    Damaged,
}

impl Diagnosis {
    /// The likely cause.
    pub fn cause(&self) -> Cause {
        let other_slot = self.slot ^ 1;
        let state = |slot: Slot| self.slots.get(usize::from(slot)).copied();
        let older_of_ours = |s: Option<SlotState>| {
            matches!(s, Some(SlotState::Sealed(h))
                if h.disk_id == self.disk_id && h.generation < self.generation)
        };
        match state(self.slot) {
            Some(SlotState::Sealed(h)) if h.disk_id != self.disk_id => Cause::OtherDisk,
            Some(SlotState::Sealed(h)) if h.generation == self.generation => Cause::Corrupt,
            Some(SlotState::Sealed(h)) if h.generation > self.generation => Cause::ManagerBehind,
            Some(SlotState::Sealed(_)) => Cause::Replayed,
            Some(SlotState::Blank) if older_of_ours(state(other_slot)) => Cause::Replayed,
            Some(SlotState::Blank) if state(other_slot) == Some(SlotState::Blank) => Cause::Blank,
            Some(SlotState::Blank) => match state(other_slot) {
                Some(SlotState::Sealed(h)) if h.disk_id != self.disk_id => Cause::OtherDisk,
                Some(SlotState::Sealed(h)) if h.generation > self.generation => {
                    Cause::ManagerBehind
                }
                _ => Cause::Damaged,
            },
            Some(SlotState::CVtpm { .. }) => Cause::CVtpm,
            _ => Cause::Damaged,
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no slot authenticates under the manager's key (it names generation {} in slot {} \
             of disk {}): ",
            self.generation, self.slot, self.disk_id
        )?;
        match self.cause() {
            Cause::Corrupt => write!(
                f,
                "slot {} holds that generation but fails authentication (corrupted or forged)",
                self.slot
            )?,
            Cause::ManagerBehind => f.write_str(
                "the disk holds a newer generation than the manager's record (the manager's \
                 disk was rolled back)",
            )?,
            Cause::Replayed => f.write_str(
                "the disk holds only older generations (a stale copy or a replayed image)",
            )?,
            Cause::OtherDisk => f.write_str("the disk belongs to another vTPM")?,
            Cause::Blank => f.write_str("the disk is blank (replaced or wiped)")?,
            Cause::CVtpm => f.write_str("the disk was written by the C vtpm-stubdom")?,
            Cause::Damaged => write!(f, "slot {} holds no state of this vTPM", self.slot)?,
        }
        write!(f, "; slot 0: {}; slot 1: {}", self.slots[0], self.slots[1])
    }
}

impl fmt::Display for SlotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blank => f.write_str("blank"),
            Self::CVtpm { blob_len } => {
                write!(f, "C vtpm-stubdom state ({blob_len}-byte AES-CBC blob)")
            }
            Self::Foreign => f.write_str("not a vTPM state"),
            Self::UnsupportedVersion(v) => write!(f, "slot format version {v} (unsupported)"),
            Self::Malformed => f.write_str("malformed header"),
            Self::Sealed(h) => {
                write!(f, "generation {} of disk {}", h.generation, h.disk_id)?;
                if let Some(family) = h.family {
                    write!(f, ", {family}")?;
                }
                write!(f, ", {} bytes", h.len)
            }
            Self::Unreadable(e) => write!(f, "unreadable ({e})"),
        }
    }
}

/// Everything the state store can fail with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A save got no answer from the manager and the store could not find out whether
    /// the manager took the new key. Either the old or the new state is the committed
    /// one; the store asks the manager again before the next save, and refuses to
    /// write until it knows. The caller treats the command as failed.
    CommitUncertain,
    /// A device request failed.
    Disk {
        /// What was being done.
        op: DiskOp,
        /// The first sector of the request.
        sector: u64,
        /// What the device said.
        cause: DeviceError,
    },
    /// The disk is smaller than two minimal slots.
    DiskTooSmall {
        /// The disk's size.
        bytes: u64,
        /// The smallest usable size.
        minimum: u64,
    },
    /// The device reports a sector size this store does not use (a power of two from
    /// 512 to 65536 bytes), or a size that overflows.
    Geometry {
        /// The sector size reported.
        sector_size: usize,
        /// The sector count reported.
        sectors: u64,
    },
    /// The generation counter is exhausted (2^64 saves).
    GenerationExhausted,
    /// The manager holds a C vtpm-stubdom key (20-byte SHA-1 ‖ AES-256 key): the state
    /// was written by the C vTPM, whose unauthenticated format this store does not
    /// read.
    LegacyRecord,
    /// The manager could not be asked, refused, or did not answer.
    Manager(KeeperError),
    /// The manager's record for this vTPM changed under a save whose outcome was
    /// unknown: it is neither the previous key nor the attempted one. The store
    /// refuses to write until a load re-establishes what is committed.
    ManagerRecordChanged,
    /// The manager's record is not a key record (its reserved bytes are set, its slot
    /// is not 0 or 1, or its generation is 0).
    MalformedRecord,
    /// The manager has no key for this vTPM: no state was ever committed. `slots` say
    /// what the disk holds nonetheless.
    NeverSaved {
        /// What each slot holds.
        slots: [SlotState; 2],
    },
    /// The manager has a key but no slot authenticates under it.
    NoValidSlot(Diagnosis),
    /// A save without a successful load (or an explicit fresh start) first: the store
    /// does not know which slot is safe to overwrite.
    NotLoaded,
    /// The snapshot does not fit a slot.
    SnapshotTooLarge {
        /// The snapshot's size.
        bytes: usize,
        /// The largest snapshot a slot of this disk holds.
        capacity: usize,
    },
    /// The manager's record has a version this build does not read.
    UnsupportedRecord {
        /// The record's version byte.
        version: u8,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CommitUncertain => f.write_str(
                "state save not confirmed by the manager: old or new state is committed, \
                 resolved before the next save",
            ),
            Self::Disk { op, sector, cause } => {
                write!(f, "state disk {op} at sector {sector} failed: {cause}")
            }
            Self::DiskTooSmall { bytes, minimum } => {
                write!(f, "state disk is {bytes} bytes, too small: at least {minimum} bytes needed")
            }
            Self::Geometry { sector_size, sectors } => write!(
                f,
                "state disk geometry not usable: {sectors} sectors of {sector_size} bytes"
            ),
            Self::GenerationExhausted => f.write_str("state generation counter exhausted"),
            Self::LegacyRecord => f.write_str(
                "the manager holds a C vtpm-stubdom key: this state was written by the C vTPM \
                 and cannot be read",
            ),
            Self::Manager(e) => write!(f, "state key: {e}"),
            Self::ManagerRecordChanged => f.write_str(
                "the manager's key for this vTPM changed during an unconfirmed save; saving is \
                 disabled until the state is reloaded",
            ),
            Self::MalformedRecord => f.write_str("the manager's key record is malformed"),
            Self::NeverSaved { slots } => write!(
                f,
                "the manager has no key for this vTPM (never saved); slot 0: {}; slot 1: {}",
                slots[0], slots[1]
            ),
            Self::NoValidSlot(diagnosis) => write!(f, "{diagnosis}"),
            Self::NotLoaded => f.write_str("state store not loaded: refusing to write"),
            Self::SnapshotTooLarge { bytes, capacity } => write!(
                f,
                "TPM state of {bytes} bytes does not fit a slot (at most {capacity} bytes): \
                 use a larger state disk"
            ),
            Self::UnsupportedRecord { version } => {
                write!(f, "the manager's key record has unsupported version {version}")
            }
        }
    }
}
