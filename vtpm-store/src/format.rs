//! The on-disk slot format and the key record kept at the manager (docs/vtpm-disk.md).
//!
//! A slot is a 64-byte header, the AES-256-GCM ciphertext of the snapshot and the
//! 16-byte GCM tag; the header is the GCM associated data, so every byte of the slot is
//! authenticated. Each save uses a fresh random key, so a slot authenticates under
//! exactly one key record — the one the manager was given for it.
//!
//! Slot header (big-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `VTPMSLOT` |
//! | 8 | 2 | format version (1) |
//! | 10 | 1 | slot index (0 or 1): where the slot was written |
//! | 11 | 1 | TPM family: 0 unspecified, 1 TPM 1.2, 2 TPM 2.0 |
//! | 12 | 4 | snapshot length in bytes (= ciphertext length) |
//! | 16 | 8 | generation (1 for the first save, +1 per committed save) |
//! | 24 | 16 | disk id (random, chosen by the first save) |
//! | 40 | 12 | GCM nonce (random) |
//! | 52 | 12 | reserved, zero |
//!
//! Key record (the 64 bytes given to the manager with SAVEHASHKEY):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 32 | AES-256-GCM key |
//! | 32 | 16 | disk id |
//! | 48 | 8 | generation |
//! | 56 | 1 | record version (1) |
//! | 57 | 1 | slot index |
//! | 58 | 6 | reserved, zero |
//!
//! The version byte sits past byte 52, so the manager always returns all 64 bytes
//! (it shortens answers whose bytes 52..64 are zero, spec §3.2), and a 52-byte C
//! vTPM record (SHA-1 ‖ key) is recognised by its zero tail.

use crate::Error;
use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use alloc::vec::Vec;
use core::fmt;
use rand_core::CryptoRng;
use tpm_engine::Family;
use vtpm_proto::Hashkey;
use zeroize::{Zeroize, Zeroizing};

/// Length of the slot header.
pub const HEADER_LEN: usize = 64;
/// Length of the GCM tag that follows the ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes a slot adds to the snapshot it holds.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// The slot header's magic.
pub const MAGIC: [u8; 8] = *b"VTPMSLOT";
/// The slot format this build writes and reads.
pub const VERSION: u16 = 1;
/// The key record format this build writes and reads.
pub const RECORD_VERSION: u8 = 1;
/// The largest snapshot the store writes or believes a header about. TPM states are
/// tens to hundreds of KiB; the cap keeps a hostile header from making a unikernel
/// allocate gigabytes.
pub const MAX_SNAPSHOT: usize = 16 << 20;

/// Offset of the version byte in a key record; also where a C vTPM's 52-byte record
/// ends.
const RECORD_VERSION_OFFSET: usize = 56;

/// Which of a disk's slots a state lives in.
pub type Slot = u8;

/// A random identifier of one vTPM's state disk, chosen by its first save and kept
/// by every later one. Not secret: it lets a load tell "another vTPM's disk" apart
/// from "a damaged disk".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DiskId(pub [u8; 16]);

impl DiskId {
    /// A fresh random id.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        Self(id)
    }
}

impl fmt::Display for DiskId {
    /// UUID-style 8-4-4-4-12 hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&vtpm_proto::Uuid(self.0), f)
    }
}

/// A parsed slot header. Before the slot authenticates, every field is only a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotHeader {
    /// The slot the header says it was written to.
    pub slot: Slot,
    /// The TPM family of the snapshot, if the writer recorded it.
    pub family: Option<Family>,
    /// Snapshot (and ciphertext) length.
    pub len: u32,
    /// The save's generation.
    pub generation: u64,
    /// The disk the slot belongs to.
    pub disk_id: DiskId,
    /// The GCM nonce.
    pub nonce: [u8; 12],
}

/// What a well-formed slot header claims, for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSummary {
    /// The save's generation.
    pub generation: u64,
    /// The disk the slot belongs to.
    pub disk_id: DiskId,
    /// Snapshot length.
    pub len: u32,
    /// The TPM family, if recorded.
    pub family: Option<Family>,
}

/// What a slot's first bytes look like, without any key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// All zero: never written.
    Blank,
    /// The C vtpm-stubdom layout (`vtpmblk.c`): a u32 length then IV ‖ AES-256-CBC
    /// ciphertext, unauthenticated.
    CVtpm {
        /// The blob length the slot claims.
        blob_len: u32,
    },
    /// Neither this format nor the C one.
    Foreign,
    /// This format's magic with a version this build does not read.
    UnsupportedVersion(u16),
    /// This format's magic with fields that cannot be (wrong slot index, reserved bytes
    /// set, a length beyond the slot, generation 0).
    Malformed,
    /// A well-formed header (its fields are claims until the slot authenticates).
    Sealed(SlotSummary),
    /// The slot could not be read.
    Unreadable(crate::DeviceError),
}

impl SlotHeader {
    /// Classifies a slot from its first bytes without any key.
    pub fn inspect(bytes: &[u8], slot: Slot, capacity: usize) -> SlotState {
        match Self::parse(bytes, slot, capacity) {
            Ok(header) => SlotState::Sealed(header.summary()),
            Err(state) => state,
        }
    }

    /// Parses a slot's header from its first bytes. `slot` is where they were read;
    /// `capacity` the largest snapshot the slot can hold. Anything but a well-formed
    /// header of this format is returned as what the bytes look like instead.
    pub fn parse(bytes: &[u8], slot: Slot, capacity: usize) -> Result<Self, SlotState> {
        let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(SlotState::Malformed);
        };
        if head.iter().all(|b| *b == 0) {
            return Err(SlotState::Blank);
        }
        let field = |range: core::ops::Range<usize>| head.get(range).unwrap_or(&[]);
        if field(0..8) != MAGIC {
            return Err(c_vtpm_state(head, capacity));
        }
        let version = u16::from_be_bytes(be(field(8..10)));
        if version != VERSION {
            return Err(SlotState::UnsupportedVersion(version));
        }
        let family = match field(11..12) {
            [0] => None,
            [code] => match Family::from_code(*code) {
                Some(family) => Some(family),
                None => return Err(SlotState::Malformed),
            },
            _ => return Err(SlotState::Malformed),
        };
        let header = Self {
            slot: field(10..11).first().copied().unwrap_or(u8::MAX),
            family,
            len: u32::from_be_bytes(be(field(12..16))),
            generation: u64::from_be_bytes(be(field(16..24))),
            disk_id: DiskId(be(field(24..40))),
            nonce: be(field(40..52)),
        };
        let fits = usize::try_from(header.len).is_ok_and(|len| len <= capacity);
        if header.slot != slot
            || !fits
            || header.generation == 0
            || field(52..64).iter().any(|b| *b != 0)
        {
            return Err(SlotState::Malformed);
        }
        Ok(header)
    }

    /// What the header claims, for reports.
    pub fn summary(&self) -> SlotSummary {
        SlotSummary {
            generation: self.generation,
            disk_id: self.disk_id,
            len: self.len,
            family: self.family,
        }
    }

    /// The 64 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let parts: [(usize, &[u8]); 9] = [
            (0, &MAGIC),
            (8, &VERSION.to_be_bytes()),
            (10, &[self.slot]),
            (11, &[self.family.map_or(0, Family::code)]),
            (12, &self.len.to_be_bytes()),
            (16, &self.generation.to_be_bytes()),
            (24, &self.disk_id.0),
            (40, &self.nonce),
            (52, &[0; 12]),
        ];
        for (offset, bytes) in parts {
            if let Some(dst) = out.get_mut(offset..offset + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        }
        out
    }

    /// True if this header is the one `record` was made for.
    pub fn matches(&self, record: &KeyRecord) -> bool {
        self.slot == record.slot
            && self.generation == record.generation
            && self.disk_id == record.disk_id
    }
}

/// Fixed-size copy of a field already known to have that size.
fn be<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.first_chunk::<N>().copied().unwrap_or([0; N])
}

/// Recognises the C vtpm-stubdom slot (`vtpmblk.c`): u32 BE length of IV (16) ‖
/// AES-CBC ciphertext (a multiple of 16), which must fit the slot.
fn c_vtpm_state(head: &[u8; HEADER_LEN], capacity: usize) -> SlotState {
    let blob_len = u32::from_be_bytes(be(head));
    let plausible = usize::try_from(blob_len)
        .is_ok_and(|len| len >= 32 && len % 16 == 0 && len <= capacity.saturating_add(OVERHEAD));
    if plausible { SlotState::CVtpm { blob_len } } else { SlotState::Foreign }
}

/// The manager's half of a saved state: the key that opens the slot and which slot,
/// generation and disk it opens. Secret; wiped on drop; never printed.
#[derive(Clone)]
pub struct KeyRecord {
    key: [u8; 32],
    /// The disk the state belongs to.
    pub disk_id: DiskId,
    /// The save's generation.
    pub generation: u64,
    /// The slot holding the state.
    pub slot: Slot,
}

impl KeyRecord {
    /// A record with a fresh random key.
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        disk_id: DiskId,
        generation: u64,
        slot: Slot,
    ) -> Self {
        let mut record = Self { key: [0; 32], disk_id, generation, slot };
        rng.fill_bytes(&mut record.key);
        record
    }

    /// The 64 bytes given to the manager.
    pub fn to_hashkey(&self) -> Hashkey {
        let mut bytes = Zeroizing::new([0u8; Hashkey::MAX_LEN]);
        let parts: [(usize, &[u8]); 5] = [
            (0, &self.key),
            (32, &self.disk_id.0),
            (48, &self.generation.to_be_bytes()),
            (RECORD_VERSION_OFFSET, &[RECORD_VERSION]),
            (57, &[self.slot]),
        ];
        for (offset, part) in parts {
            if let Some(dst) = bytes.get_mut(offset..offset + part.len()) {
                dst.copy_from_slice(part);
            }
        }
        Hashkey::from_padded(&bytes)
    }

    /// Parses what the manager returned. `Ok(None)` for an all-zero record (what
    /// VTPM_NEW stores for a vTPM that has not saved yet).
    pub fn parse(hashkey: &Hashkey) -> Result<Option<Self>, Error> {
        if hashkey.is_zero() {
            return Ok(None);
        }
        let bytes = hashkey.padded();
        let (_, tail) = bytes.split_at(Hashkey::MIN_LEN);
        if tail.iter().all(|b| *b == 0) {
            return Err(Error::LegacyRecord);
        }
        let field = |range: core::ops::Range<usize>| bytes.get(range).unwrap_or(&[]);
        let version = field(RECORD_VERSION_OFFSET..57).first().copied().unwrap_or(0);
        if version != RECORD_VERSION {
            return Err(Error::UnsupportedRecord { version });
        }
        let record = Self {
            key: be(field(0..32)),
            disk_id: DiskId(be(field(32..48))),
            generation: u64::from_be_bytes(be(field(48..56))),
            slot: field(57..58).first().copied().unwrap_or(u8::MAX),
        };
        if record.slot > 1 || record.generation == 0 || field(58..64).iter().any(|b| *b != 0) {
            return Err(Error::MalformedRecord);
        }
        Ok(Some(record))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(<&Key<Aes256Gcm>>::from(&self.key))
    }
}

impl Drop for KeyRecord {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("key", &"<redacted>")
            .field("disk_id", &self.disk_id)
            .field("generation", &self.generation)
            .field("slot", &self.slot)
            .finish()
    }
}

/// Rounds `len` up to whole sectors.
pub fn sector_span(len: usize, sector_size: usize) -> Option<usize> {
    len.checked_next_multiple_of(sector_size)
}

/// Encrypts `snapshot` into a slot image under `record`, padded with zeros to whole
/// sectors: header ‖ ciphertext ‖ tag ‖ padding. The snapshot is encrypted straight
/// from the caller's buffer into the image, so the image never holds plaintext and
/// needs no wiping.
pub fn seal<R: CryptoRng + ?Sized>(
    record: &KeyRecord,
    family: Family,
    snapshot: &[u8],
    sector_size: usize,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let too_large = Error::SnapshotTooLarge { bytes: snapshot.len(), capacity: MAX_SNAPSHOT };
    if snapshot.len() > MAX_SNAPSHOT {
        return Err(too_large);
    }
    let len = u32::try_from(snapshot.len()).map_err(|_| too_large)?;
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let header = SlotHeader {
        slot: record.slot,
        family: Some(family),
        len,
        generation: record.generation,
        disk_id: record.disk_id,
        nonce,
    };
    let end = snapshot.len().checked_add(HEADER_LEN).ok_or(too_large)?;
    let total = end.checked_add(TAG_LEN).and_then(|n| sector_span(n, sector_size));
    let mut image = alloc::vec![0u8; total.ok_or(too_large)?];
    let (aad, rest) = image.split_at_mut(HEADER_LEN);
    aad.copy_from_slice(&header.to_bytes());
    let (body, rest) = rest.split_at_mut(snapshot.len());
    let buffer = InOutBuf::new(snapshot, body).map_err(|_| too_large)?;
    let tag = record
        .cipher()
        .encrypt_inout_detached(<&Nonce<_>>::from(&nonce), aad, buffer)
        // Only fails for inputs beyond GCM's 64 GiB limit, far above MAX_SNAPSHOT.
        .map_err(|_| too_large)?;
    rest.get_mut(..TAG_LEN).ok_or(too_large)?.copy_from_slice(&tag);
    Ok(image)
}

/// Authenticates and decrypts a slot image read from disk (at least
/// `HEADER_LEN + header.len + TAG_LEN` bytes, starting with the header bytes that
/// `header` was parsed from). Returns the snapshot, or `None` if the slot does not
/// authenticate under `record`.
pub fn open(
    record: &KeyRecord,
    header: &SlotHeader,
    mut image: Zeroizing<Vec<u8>>,
) -> Option<Zeroizing<Vec<u8>>> {
    let len = usize::try_from(header.len).ok()?;
    let end = HEADER_LEN.checked_add(len)?;
    // The associated data is the header as parsed, re-encoded: the same bytes, since
    // parsing accepts only the canonical encoding.
    let aad = header.to_bytes();
    let tag = *image.get(end..end.checked_add(TAG_LEN)?)?.first_chunk::<TAG_LEN>()?;
    let body = image.get_mut(HEADER_LEN..end)?;
    record
        .cipher()
        .decrypt_inout_detached(
            <&Nonce<_>>::from(&header.nonce),
            &aad,
            body.into(),
            <&Tag>::from(&tag),
        )
        .ok()?;
    image.copy_within(HEADER_LEN..end, 0);
    image.truncate(len);
    Some(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tpm_engine::Drbg;

    fn record(rng: &mut Drbg) -> KeyRecord {
        KeyRecord::generate(rng, DiskId([7; 16]), 3, 1)
    }

    #[test]
    fn seal_then_open_returns_the_snapshot() {
        let mut rng = Drbg::from_seed([1; 32]);
        let record = record(&mut rng);
        let image = seal(&record, Family::Tpm20, b"state bytes", 512, &mut rng).unwrap();
        assert_eq!(image.len(), 512);
        let header = SlotHeader::parse(&image, 1, 1000).unwrap();
        assert_eq!(header.family, Some(Family::Tpm20));
        assert!(header.matches(&record));
        assert_eq!(&open(&record, &header, Zeroizing::new(image)).unwrap()[..], b"state bytes");
    }

    #[test]
    fn open_under_another_key_fails() {
        let mut rng = Drbg::from_seed([1; 32]);
        let record_a = record(&mut rng);
        let record_b = record(&mut rng);
        let image = seal(&record_a, Family::Tpm12, b"x", 512, &mut rng).unwrap();
        let header = SlotHeader::parse(&image, 1, 1000).unwrap();
        assert!(open(&record_b, &header, Zeroizing::new(image)).is_none());
    }

    #[test]
    fn every_header_and_body_bit_is_authenticated() {
        let mut rng = Drbg::from_seed([2; 32]);
        let record = record(&mut rng);
        let image = seal(&record, Family::Tpm12, &[0x42; 40], 512, &mut rng).unwrap();
        for bit in 0..(OVERHEAD + 40) * 8 {
            let mut bad = image.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let accepted = match SlotHeader::parse(&bad, 1, 1000) {
                Ok(h) => h.matches(&record) && open(&record, &h, Zeroizing::new(bad)).is_some(),
                _ => false,
            };
            assert!(!accepted, "bit {bit} flipped and still accepted");
        }
    }

    #[test]
    fn key_record_round_trips_and_is_64_bytes_on_the_wire() {
        let mut rng = Drbg::from_seed([3; 32]);
        let record = record(&mut rng);
        let hashkey = record.to_hashkey();
        assert_eq!(hashkey.load_reply_bytes().len(), 64);
        let back = KeyRecord::parse(&hashkey).unwrap().unwrap();
        assert_eq!(back.to_hashkey(), hashkey);
        assert_eq!((back.generation, back.slot, back.disk_id), (3, 1, DiskId([7; 16])));
    }

    #[test]
    fn key_record_parse_classifies_foreign_records() {
        assert!(KeyRecord::parse(&Hashkey::new(&[0; 52]).unwrap()).unwrap().is_none());
        assert_eq!(
            KeyRecord::parse(&Hashkey::new(&[9; 52]).unwrap()).unwrap_err(),
            Error::LegacyRecord
        );
        let mut bytes = [9u8; 64];
        bytes[56] = 2;
        assert_eq!(
            KeyRecord::parse(&Hashkey::new(&bytes).unwrap()).unwrap_err(),
            Error::UnsupportedRecord { version: 2 }
        );
        bytes[56] = 1;
        assert_eq!(
            KeyRecord::parse(&Hashkey::new(&bytes).unwrap()).unwrap_err(),
            Error::MalformedRecord
        );
    }

    #[test]
    fn inspect_recognises_blank_and_c_slots() {
        assert_eq!(SlotHeader::inspect(&[0; 512], 0, 1000), SlotState::Blank);
        let mut c_slot = [0xC3u8; 512];
        c_slot[..4].copy_from_slice(&96u32.to_be_bytes());
        assert_eq!(SlotHeader::inspect(&c_slot, 0, 1000), SlotState::CVtpm { blob_len: 96 });
        assert_eq!(SlotHeader::inspect(&[0xC3; 512], 0, 1000), SlotState::Foreign);
    }

    #[test]
    fn inspect_refuses_a_slot_moved_to_the_other_position() {
        let mut rng = Drbg::from_seed([4; 32]);
        let image = seal(&record(&mut rng), Family::Tpm12, b"x", 512, &mut rng).unwrap();
        assert_eq!(SlotHeader::inspect(&image, 0, 1000), SlotState::Malformed);
    }

    #[test]
    fn key_record_debug_hides_the_key() {
        extern crate std;
        let mut rng = Drbg::from_seed([5; 32]);
        let text = std::format!("{:?}", record(&mut rng));
        assert!(text.contains("<redacted>"));
    }
}
