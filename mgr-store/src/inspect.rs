//! Offline inspection: what a disk holds, read without the secret.
//!
//! Everything reported here is unauthenticated (anyone can write a root slot); it tells
//! the operator and the manager what they are looking at (blank, this format, a C
//! vtpmmgr image, something else) and hands out the sealed blobs to unseal. Only
//! [`Store::open`](crate::Store::open) with the secret authenticates.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::layout::{
    C_VTPMMGR_MAGIC, MAX_SECTORS, Malformation, ROOT_SLOTS, RawSlot, Root, SECTOR_SIZE,
};
use crate::store::IoStats;
use crate::{BlockDevice, Error};

/// What the disk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// Every sector (up to the largest image size) is zero.
    Blank,
    /// At least one root slot of this format (any version).
    Store,
    /// A C vtpmmgr image (specs §5.3 magic in sector 0).
    CVtpmmgr {
        /// Its version field.
        version: u32,
    },
    /// Something else.
    NotAStore,
}

/// What one root slot holds (unauthenticated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// All zero.
    Empty,
    /// Not this format.
    Foreign,
    /// This format, a version this build does not read.
    Unsupported {
        /// The version.
        version: u16,
    },
    /// This format's magic with inconsistent fields: which one.
    Malformed(Malformation),
    /// A root (not yet authenticated).
    Root(SlotInfo),
}

/// The fields of a root slot (unauthenticated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    /// Sequence number.
    pub seq: u64,
    /// Counter binding.
    pub counter: u64,
    /// Entry count.
    pub entries: u64,
    /// Image size in sectors.
    pub sector_count: u32,
    /// Sectors in use.
    pub used_sectors: u32,
    /// Tree height.
    pub height: u8,
    /// The caller's sealed blob.
    pub sealed_blob: Vec<u8>,
}

/// The result of [`inspect`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// What the disk is.
    pub kind: ImageKind,
    /// Root slots 0 and 1.
    pub slots: [SlotState; 2],
    /// Device size in 4096-byte sectors.
    pub device_sectors: u64,
}

impl Inspection {
    /// The slot whose root claims the highest sequence (slot 0 on a tie): the one
    /// [`Store::open`](crate::Store::open) uses if its MAC verifies under the root
    /// secret (otherwise it falls back to the other root). A root whose image is
    /// larger than the device (a truncated copy) is never used. `None` if no slot holds
    /// a usable root.
    pub fn newest(&self) -> Option<usize> {
        let seq = |s: &SlotState| match s {
            SlotState::Root(info) if self.fits(info) => Some(info.seq),
            _ => None,
        };
        match (seq(&self.slots[0]), seq(&self.slots[1])) {
            (Some(a), Some(b)) => Some(usize::from(b > a)),
            (Some(_), None) => Some(0),
            (None, Some(_)) => Some(1),
            (None, None) => None,
        }
    }

    /// True if the root's image fits the device (a truncated copy does not).
    pub fn fits(&self, info: &SlotInfo) -> bool {
        u64::from(info.sector_count) <= self.device_sectors
    }

    /// The sealed blobs of the parseable roots, newest sequence first (the order in
    /// which to try unsealing them).
    pub fn sealed_blobs(&self) -> Vec<&[u8]> {
        let mut roots: Vec<&SlotInfo> = self
            .slots
            .iter()
            .filter_map(|s| match s {
                SlotState::Root(info) => Some(info),
                _ => None,
            })
            .collect();
        roots.sort_by_key(|r| core::cmp::Reverse(r.seq));
        let mut blobs: Vec<&[u8]> = Vec::new();
        for r in roots {
            if !blobs.contains(&r.sealed_blob.as_slice()) {
                blobs.push(&r.sealed_blob);
            }
        }
        blobs
    }
}

/// Reads the root slots (and, if both are empty, checks that the disk is blank).
pub fn inspect<D: BlockDevice>(dev: &mut D) -> Result<Inspection, Error> {
    inspect_sectors(dev, &mut IoStats::default())
}

pub(crate) fn inspect_sectors<D: BlockDevice>(
    dev: &mut D,
    stats: &mut IoStats,
) -> Result<Inspection, Error> {
    let device_sectors = dev.sectors();
    if device_sectors < u64::from(ROOT_SLOTS) {
        return Err(Error::DeviceTooSmall);
    }
    let mut buf = Box::new([0u8; SECTOR_SIZE]);
    let mut slots = [SlotState::Empty, SlotState::Empty];
    let mut c_version = None;
    for (slot, state) in (0..ROOT_SLOTS).zip(slots.iter_mut()) {
        dev.read(u64::from(slot), &mut buf)?;
        stats.sectors_read += 1;
        if slot == 0 && buf[..12] == C_VTPMMGR_MAGIC {
            c_version = Some(u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]));
        }
        *state = match Root::parse(slot, &buf) {
            RawSlot::Empty => SlotState::Empty,
            RawSlot::Foreign => SlotState::Foreign,
            RawSlot::Unsupported(version) => SlotState::Unsupported { version },
            RawSlot::Malformed(why) => SlotState::Malformed(why),
            RawSlot::Root(r) => SlotState::Root(SlotInfo {
                seq: r.seq,
                counter: r.counter,
                entries: r.entries,
                sector_count: r.bitmap.sectors(),
                used_sectors: r.bitmap.used(),
                height: r.height,
                sealed_blob: r.sealed,
            }),
        };
    }
    let ours = slots.iter().any(|s| {
        matches!(s, SlotState::Root(_) | SlotState::Malformed(_) | SlotState::Unsupported { .. })
    });
    let kind = if let Some(version) = c_version {
        ImageKind::CVtpmmgr { version }
    } else if ours {
        ImageKind::Store
    } else if slots.iter().all(|s| *s == SlotState::Empty) && rest_is_zero(dev, stats, &mut buf)? {
        ImageKind::Blank
    } else {
        ImageKind::NotAStore
    };
    Ok(Inspection { kind, slots, device_sectors })
}

/// True if every sector after the root slots, up to the largest image, is zero.
fn rest_is_zero<D: BlockDevice>(
    dev: &mut D,
    stats: &mut IoStats,
    buf: &mut [u8; SECTOR_SIZE],
) -> Result<bool, Error> {
    let end = dev.sectors().min(u64::from(MAX_SECTORS));
    for sector in u64::from(ROOT_SLOTS)..end {
        dev.read(sector, buf)?;
        stats.sectors_read += 1;
        if buf.iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
    Ok(true)
}
