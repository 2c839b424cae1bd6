//! The on-disk format, version 1: root slots, tree nodes, the sector bitmap.
//!
//! ```text
//! sector 0, 1      root slots (plaintext, HMAC-authenticated)
//! sectors 2..N     tree nodes (sealed: see crypto.rs), allocated copy-on-write
//! ```
//!
//! Root slot (4096 bytes, integers big-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `RVTPMMGR` |
//! | 8 | 2 | format version (1) |
//! | 10 | 1 | slot number (0 or 1; must equal the sector) |
//! | 11 | 1 | tree height (0 = empty tree) |
//! | 12 | 4 | sector count N of the image (3..=16384) |
//! | 16 | 8 | sequence number (higher = newer) |
//! | 24 | 8 | counter binding: the monotonic counter's value once this root is committed |
//! | 32 | 8 | number of entries |
//! | 40 | 4 | sector of the tree's root node (0 if empty) |
//! | 44 | 2 | sealed blob length (≤ 1024) |
//! | 46 | 2 | reserved (0) |
//! | 48 | 16 | pinned tag of the tree's root node |
//! | 64 | 1024 | sealed blob (opaque, from the caller), zero padded |
//! | 1088 | 2048 | sector bitmap: bit s (byte s/8, LSB first) = sector s in use |
//! | 3136 | 928 | reserved (0) |
//! | 4064 | 32 | HMAC-SHA256(K_mac, "mgr-store v1 root" ‖ slot u64 ‖ bytes 0..4064) |
//!
//! Node sector: `tag (32) ‖ write_seq (8) ‖ ciphertext (4056)`; the plaintext body is
//! `kind u8 (1 leaf, 2 inner) ‖ reserved u8 ‖ count u16 ‖ items ‖ zero padding`.
//! Leaf item: `uuid (16) ‖ flags u16 ‖ key length u8 (≤ 64) ‖ key`, uuids strictly
//! ascending. Inner node with n children: `n × (sector u32 ‖ pinned tag (16))` then
//! `(n − 1) × separator uuid (16)`, where separator i is the smallest uuid of child
//! i + 1; `count` holds n.

use alloc::vec;
use alloc::vec::Vec;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Uuid;

/// Sector size of the store, in bytes.
pub const SECTOR_SIZE: usize = 4096;
/// Magic at the start of a root slot.
pub const MAGIC: [u8; 8] = *b"RVTPMMGR";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// The C vtpmmgr's seal-list magic (sector 0; specs §5.3).
pub const C_VTPMMGR_MAGIC: [u8; 12] = *b"TPM\xfeMGR\xddDOM\0";
/// Number of root slots (sectors 0 and 1).
pub const ROOT_SLOTS: u32 = 2;
/// Largest image the bitmap can describe: 16384 sectors (64 MiB).
pub const MAX_SECTORS: u32 = 8 * 2048;
/// Smallest image: two roots and one node.
pub const MIN_SECTORS: u32 = 3;
/// The C vtpmmgr's image size, and the default: 512 sectors (2 MiB).
pub const DEFAULT_SECTORS: u32 = 512;
/// Largest key data per entry.
pub const MAX_KEY_LEN: usize = 64;
/// Largest sealed blob.
pub const MAX_SEALED_BLOB: usize = 1024;
/// Largest tree height (113^7 leaves: never reached on a 64 MiB image).
pub const MAX_HEIGHT: u8 = 8;

pub(crate) const ROOT_MAC_OFFSET: usize = 4064;
const BLOB_OFFSET: usize = 64;
const BITMAP_OFFSET: usize = BLOB_OFFSET + MAX_SEALED_BLOB;
const BITMAP_LEN: usize = MAX_SECTORS as usize / 8;

pub(crate) const NODE_TAG_LEN: usize = 32;
/// Plaintext body of a node sector.
pub(crate) const NODE_BODY: usize = SECTOR_SIZE - NODE_TAG_LEN - 8;
/// Room for items in a node body.
pub(crate) const NODE_PAYLOAD: usize = NODE_BODY - 4;
const KIND_LEAF: u8 = 1;
const KIND_INNER: u8 = 2;
const LEAF_ITEM_FIXED: usize = 16 + 2 + 1;
const CHILD_LEN: usize = 4 + 16;

/// Key data of one entry (≤ 64 bytes). Zeroized on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct KeyData {
    len: u8,
    bytes: [u8; MAX_KEY_LEN],
}

impl KeyData {
    /// Copies `key`; `None` if longer than 64 bytes.
    pub fn new(key: &[u8]) -> Option<Self> {
        let len = u8::try_from(key.len()).ok().filter(|&l| usize::from(l) <= MAX_KEY_LEN)?;
        let mut bytes = [0u8; MAX_KEY_LEN];
        bytes.get_mut(..key.len())?.copy_from_slice(key);
        Some(Self { len, bytes })
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl core::fmt::Debug for KeyData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KeyData({} bytes)", self.len)
    }
}

/// One stored entry: flags and key data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Small per-vTPM flags (bit 0 = ADMIN in the manager protocol, specs §3.4).
    pub flags: u16,
    /// The vTPM's key ("hashkey").
    pub key: KeyData,
}

/// A leaf item in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub uuid: Uuid,
    pub entry: Entry,
}

/// A child pointer: the sector and the tag pinned for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChildPtr {
    pub sector: u32,
    pub tag: [u8; 16],
}

/// A decoded tree node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Leaf(Vec<Item>),
    Inner { children: Vec<ChildPtr>, seps: Vec<Uuid> },
}

impl Node {
    /// Bytes the items take in a node body.
    pub(crate) fn payload_size(&self) -> usize {
        match self {
            Node::Leaf(items) => {
                items.iter().map(|i| LEAF_ITEM_FIXED + i.entry.key.as_bytes().len()).sum()
            }
            Node::Inner { children, seps } => CHILD_LEN * children.len() + 16 * seps.len(),
        }
    }

    pub(crate) fn fits(&self) -> bool {
        self.payload_size() <= NODE_PAYLOAD
    }

    /// Encodes into a zeroed body. The caller checked [`fits`](Self::fits).
    pub(crate) fn encode(&self, out: &mut [u8; NODE_BODY]) {
        let mut w = Cursor { buf: out, at: 0 };
        match self {
            Node::Leaf(items) => {
                w.put(&[KIND_LEAF, 0]);
                w.put(&u16::try_from(items.len()).unwrap_or(0).to_be_bytes());
                for item in items {
                    let key = item.entry.key.as_bytes();
                    w.put(&item.uuid);
                    w.put(&item.entry.flags.to_be_bytes());
                    w.put(&[u8::try_from(key.len()).unwrap_or(0)]);
                    w.put(key);
                }
            }
            Node::Inner { children, seps } => {
                w.put(&[KIND_INNER, 0]);
                w.put(&u16::try_from(children.len()).unwrap_or(0).to_be_bytes());
                for c in children {
                    w.put(&c.sector.to_be_bytes());
                    w.put(&c.tag);
                }
                for s in seps {
                    w.put(s);
                }
            }
        }
    }

    /// Decodes a body strictly (canonical encoding only). `None` if malformed.
    pub(crate) fn decode(body: &[u8; NODE_BODY]) -> Option<Node> {
        let mut r = Reader { rest: body };
        let [kind, reserved] = r.array::<2>()?;
        let count = usize::from(u16::from_be_bytes(r.array::<2>()?));
        if reserved != 0 || count == 0 {
            return None;
        }
        let node = match kind {
            KIND_LEAF => {
                // Bounded by the body size: each item takes at least 19 bytes.
                if count > NODE_PAYLOAD / LEAF_ITEM_FIXED {
                    return None;
                }
                let mut items: Vec<Item> = Vec::with_capacity(count);
                for _ in 0..count {
                    let uuid = r.array::<16>()?;
                    let flags = u16::from_be_bytes(r.array::<2>()?);
                    let [len] = r.array::<1>()?;
                    let key = KeyData::new(r.bytes(usize::from(len))?)?;
                    if items.last().is_some_and(|prev| prev.uuid >= uuid) {
                        return None;
                    }
                    items.push(Item { uuid, entry: Entry { flags, key } });
                }
                Node::Leaf(items)
            }
            KIND_INNER => {
                if count > (NODE_PAYLOAD + 16) / (CHILD_LEN + 16) {
                    return None;
                }
                let mut children = Vec::with_capacity(count);
                for _ in 0..count {
                    let sector = u32::from_be_bytes(r.array::<4>()?);
                    let tag = r.array::<16>()?;
                    children.push(ChildPtr { sector, tag });
                }
                let mut seps: Vec<Uuid> = Vec::with_capacity(count - 1);
                for _ in 1..count {
                    let sep = r.array::<16>()?;
                    if seps.last().is_some_and(|prev| *prev >= sep) {
                        return None;
                    }
                    seps.push(sep);
                }
                Node::Inner { children, seps }
            }
            _ => return None,
        };
        r.rest.iter().all(|&b| b == 0).then_some(node)
    }
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.at.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        self.at = end;
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>()?;
        self.rest = tail;
        Some(*head)
    }
}

/// Which sectors a root's tree uses (sectors 0 and 1 are always marked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitmap {
    bits: Vec<u8>,
    sectors: u32,
}

impl Bitmap {
    pub(crate) fn new(sectors: u32) -> Self {
        let len = usize::try_from(sectors.div_ceil(8)).unwrap_or(0);
        let mut b = Self { bits: vec![0; len], sectors };
        for s in 0..ROOT_SLOTS {
            b.set(s, true);
        }
        b
    }

    pub(crate) fn sectors(&self) -> u32 {
        self.sectors
    }

    pub(crate) fn get(&self, sector: u32) -> bool {
        let byte = usize::try_from(sector / 8).unwrap_or(usize::MAX);
        self.bits.get(byte).is_some_and(|b| b & (1 << (sector % 8)) != 0)
    }

    pub(crate) fn set(&mut self, sector: u32, used: bool) {
        let byte = usize::try_from(sector / 8).unwrap_or(usize::MAX);
        if let Some(b) = self.bits.get_mut(byte) {
            let mask = 1u8 << (sector % 8);
            if used { *b |= mask } else { *b &= !mask }
        }
    }

    pub(crate) fn used(&self) -> u32 {
        self.bits.iter().map(|b| b.count_ones()).sum()
    }

    /// The first sector at or after `from` that is free here and in `also` (skips
    /// whole bytes of used sectors).
    pub(crate) fn first_free(&self, also: &Bitmap, from: u32) -> Option<u32> {
        let mut s = from.max(ROOT_SLOTS);
        while s < self.sectors {
            let byte = usize::try_from(s / 8).ok()?;
            let used = self.bits.get(byte).copied().unwrap_or(0xFF)
                | also.bits.get(byte).copied().unwrap_or(0xFF);
            if used == 0xFF {
                s = (s / 8 + 1) * 8;
                continue;
            }
            if used & (1 << (s % 8)) == 0 {
                return Some(s);
            }
            s += 1;
        }
        None
    }
}

/// A parsed root slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Root {
    pub slot: u32,
    pub height: u8,
    pub seq: u64,
    pub counter: u64,
    pub entries: u64,
    pub tree: Option<ChildPtr>,
    pub sealed: Vec<u8>,
    pub bitmap: Bitmap,
}

/// What a root slot holds, before authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RawSlot {
    /// All zero.
    Empty,
    /// Not this format's magic and not zero.
    Foreign,
    /// This magic, another version.
    Unsupported(u16),
    /// This magic and version, but the fields are inconsistent.
    Malformed(Malformation),
    /// A parseable root (not yet authenticated).
    Root(Root),
}

/// Which field of a root slot with this format's magic and version is inconsistent
/// (for the operator: `inspect`, `vtpm-tool mgr-image inspect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformation {
    /// The slot index field names the other slot.
    SlotIndex,
    /// The tree height is above the maximum.
    Height,
    /// The image size is outside 3..=16384 sectors.
    SectorCount,
    /// The sealed blob length is above 1024 bytes.
    SealedBlobLength,
    /// Reserved or padding bytes are not zero.
    Padding,
    /// The tree pointer disagrees with the height or lies outside the image.
    TreePointer,
    /// The sector bitmap has bits past the image, or misses the root slots or the
    /// tree's root node.
    Bitmap,
}

impl core::fmt::Display for Malformation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Height => return write!(f, "tree height above {MAX_HEIGHT}"),
            Self::SectorCount => {
                return write!(f, "image size outside {MIN_SECTORS}..={MAX_SECTORS} sectors");
            }
            Self::SealedBlobLength => {
                return write!(f, "sealed blob length above {MAX_SEALED_BLOB} bytes");
            }
            _ => {}
        }
        f.write_str(match self {
            Self::SlotIndex => "the slot index field names the other slot",
            Self::Padding => "reserved or padding bytes not zero",
            Self::TreePointer => "tree pointer inconsistent with the height or the image size",
            Self::Bitmap => "sector bitmap inconsistent with the image, root slots or tree",
            Self::Height | Self::SectorCount | Self::SealedBlobLength => "",
        })
    }
}

fn be16(b: &[u8; SECTOR_SIZE], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8; SECTOR_SIZE], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8; SECTOR_SIZE], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

impl Root {
    /// Encodes without the MAC (bytes 4064.. stay zero).
    pub(crate) fn encode(&self, out: &mut [u8; SECTOR_SIZE]) {
        out.fill(0);
        out[0..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&VERSION.to_be_bytes());
        out[10] = u8::try_from(self.slot).unwrap_or(0xFF);
        out[11] = self.height;
        out[12..16].copy_from_slice(&self.bitmap.sectors.to_be_bytes());
        out[16..24].copy_from_slice(&self.seq.to_be_bytes());
        out[24..32].copy_from_slice(&self.counter.to_be_bytes());
        out[32..40].copy_from_slice(&self.entries.to_be_bytes());
        let tree = self.tree.unwrap_or(ChildPtr { sector: 0, tag: [0; 16] });
        out[40..44].copy_from_slice(&tree.sector.to_be_bytes());
        let blob_len = self.sealed.len().min(MAX_SEALED_BLOB);
        out[44..46].copy_from_slice(&u16::try_from(blob_len).unwrap_or(0).to_be_bytes());
        out[48..64].copy_from_slice(&tree.tag);
        out[BLOB_OFFSET..BLOB_OFFSET + blob_len].copy_from_slice(&self.sealed[..blob_len]);
        let bits = self.bitmap.bits.len().min(BITMAP_LEN);
        out[BITMAP_OFFSET..BITMAP_OFFSET + bits].copy_from_slice(&self.bitmap.bits[..bits]);
    }

    /// Parses a root slot read from sector `slot`, checking every field's range (the
    /// MAC is checked separately, with the secret).
    pub(crate) fn parse(slot: u32, b: &[u8; SECTOR_SIZE]) -> RawSlot {
        if b[0..8] != MAGIC {
            return if b.iter().all(|&x| x == 0) { RawSlot::Empty } else { RawSlot::Foreign };
        }
        let version = be16(b, 8);
        if version != VERSION {
            return RawSlot::Unsupported(version);
        }
        let height = b[11];
        let sectors = be32(b, 12);
        let tree_sector = be32(b, 40);
        let blob_len = usize::from(be16(b, 44));
        let bitmap_len = usize::try_from(sectors.div_ceil(8)).unwrap_or(usize::MAX);
        // Checked in this order: each slice below relies on the bounds checked before it.
        let bad = if u32::from(b[10]) != slot {
            Some(Malformation::SlotIndex)
        } else if height > MAX_HEIGHT {
            Some(Malformation::Height)
        } else if !(MIN_SECTORS..=MAX_SECTORS).contains(&sectors) {
            Some(Malformation::SectorCount)
        } else if blob_len > MAX_SEALED_BLOB {
            Some(Malformation::SealedBlobLength)
        } else if b[46..48] != [0, 0]
            || b[BLOB_OFFSET + blob_len..BITMAP_OFFSET].iter().any(|&x| x != 0)
            || b[BITMAP_OFFSET + bitmap_len..ROOT_MAC_OFFSET].iter().any(|&x| x != 0)
        {
            Some(Malformation::Padding)
        } else if (height == 0) != (tree_sector == 0)
            || (height != 0 && !(ROOT_SLOTS..sectors).contains(&tree_sector))
        {
            Some(Malformation::TreePointer)
        } else {
            None
        };
        if let Some(why) = bad {
            return RawSlot::Malformed(why);
        }
        let bitmap =
            Bitmap { bits: b[BITMAP_OFFSET..BITMAP_OFFSET + bitmap_len].to_vec(), sectors };
        // Bits past the last sector must be clear, the root slots always marked, the
        // tree's root node marked.
        let bits_end = u32::try_from(bitmap.bits.len() * 8).unwrap_or(u32::MAX);
        let tail_clear = (sectors..bits_end).all(|s| !bitmap.get(s));
        if !tail_clear
            || !(0..ROOT_SLOTS).all(|s| bitmap.get(s))
            || (height != 0 && !bitmap.get(tree_sector))
        {
            return RawSlot::Malformed(Malformation::Bitmap);
        }
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&b[48..64]);
        RawSlot::Root(Root {
            slot,
            height,
            seq: be64(b, 16),
            counter: be64(b, 24),
            entries: be64(b, 32),
            tree: (height != 0).then_some(ChildPtr { sector: tree_sector, tag }),
            sealed: b[BLOB_OFFSET..BLOB_OFFSET + blob_len].to_vec(),
            bitmap,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u8, len: usize) -> Item {
        Item {
            uuid: [n; 16],
            entry: Entry { flags: u16::from(n), key: KeyData::new(&vec![n; len]).unwrap() },
        }
    }

    #[test]
    fn leaf_round_trips() {
        let node = Node::Leaf(vec![item(1, 0), item(2, 52), item(3, 64)]);
        let mut body = [0u8; NODE_BODY];
        node.encode(&mut body);
        assert_eq!(Node::decode(&body), Some(node));
    }

    #[test]
    fn inner_round_trips() {
        let node = Node::Inner {
            children: vec![
                ChildPtr { sector: 5, tag: [1; 16] },
                ChildPtr { sector: 9, tag: [2; 16] },
            ],
            seps: vec![[8; 16]],
        };
        let mut body = [0u8; NODE_BODY];
        node.encode(&mut body);
        assert_eq!(Node::decode(&body), Some(node));
    }

    #[test]
    fn decode_rejects_unsorted_oversized_and_trailing() {
        let mut body = [0u8; NODE_BODY];
        Node::Leaf(vec![item(2, 4), item(1, 4)]).encode(&mut body);
        assert_eq!(Node::decode(&body), None, "unsorted");

        let mut body = [0u8; NODE_BODY];
        Node::Leaf(vec![item(1, 4)]).encode(&mut body);
        body[4 + 18] = 65;
        assert_eq!(Node::decode(&body), None, "key too long");

        let mut body = [0u8; NODE_BODY];
        Node::Leaf(vec![item(1, 4)]).encode(&mut body);
        body[NODE_BODY - 1] = 1;
        assert_eq!(Node::decode(&body), None, "trailing garbage");

        let body = [0u8; NODE_BODY];
        assert_eq!(Node::decode(&body), None, "empty");
    }

    #[test]
    fn first_free_skips_used_bytes_and_respects_both_maps() {
        let mut a = Bitmap::new(40);
        let mut b = Bitmap::new(40);
        for s in 2..20 {
            a.set(s, true);
        }
        b.set(20, true);
        assert_eq!(a.first_free(&b, 0), Some(21));
        assert_eq!(a.first_free(&b, 30), Some(30));
        for s in 21..40 {
            a.set(s, true);
        }
        assert_eq!(a.first_free(&b, 0), None);
    }

    #[test]
    fn capacity_per_node() {
        let per_leaf = NODE_PAYLOAD / (LEAF_ITEM_FIXED + 52);
        let fanout = (NODE_PAYLOAD + 16) / (CHILD_LEN + 16);
        assert_eq!(per_leaf, 57);
        assert_eq!(fanout, 113);
    }

    #[test]
    fn root_round_trips_and_checks_ranges() {
        let mut bitmap = Bitmap::new(512);
        bitmap.set(7, true);
        let root = Root {
            slot: 1,
            height: 1,
            seq: 9,
            counter: 77,
            entries: 3,
            tree: Some(ChildPtr { sector: 7, tag: [3; 16] }),
            sealed: vec![0xAB; 300],
            bitmap,
        };
        let mut b = [0u8; SECTOR_SIZE];
        root.encode(&mut b);
        assert_eq!(Root::parse(1, &b), RawSlot::Root(root));
        assert_eq!(
            Root::parse(0, &b),
            RawSlot::Malformed(Malformation::SlotIndex),
            "slot mismatch"
        );
        let mut bad = b;
        bad[12..16].copy_from_slice(&(MAX_SECTORS + 1).to_be_bytes());
        assert_eq!(Root::parse(1, &bad), RawSlot::Malformed(Malformation::SectorCount));
        let mut bits = b;
        bits[BITMAP_OFFSET] &= !1; // root slot 0 not marked in use
        assert_eq!(Root::parse(1, &bits), RawSlot::Malformed(Malformation::Bitmap));
        let mut pad = b;
        pad[47] = 1;
        assert_eq!(Root::parse(1, &pad), RawSlot::Malformed(Malformation::Padding));
        let mut v2 = b;
        v2[9] = 2;
        assert_eq!(Root::parse(1, &v2), RawSlot::Unsupported(2));
        assert_eq!(Root::parse(1, &[0; SECTOR_SIZE]), RawSlot::Empty);
        assert_eq!(Root::parse(1, &[1; SECTOR_SIZE]), RawSlot::Foreign);
    }
}
