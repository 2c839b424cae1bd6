//! The store: open and format, lookups, copy-on-write updates, the sync and rollback
//! protocols (docs/manager-disk.md "Sync" and "Rollback").

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::crypto::{Keys, RootSecret};
use crate::inspect::{ImageKind, inspect_sectors};
use crate::layout::{
    Bitmap, ChildPtr, Entry, Item, KeyData, MAX_HEIGHT, MAX_SEALED_BLOB, MAX_SECTORS, MIN_SECTORS,
    NODE_BODY, NODE_PAYLOAD, Node, ROOT_MAC_OFFSET, ROOT_SLOTS, RawSlot, Root, SECTOR_SIZE,
};
use crate::{BlockDevice, CounterError, Error, MonotonicCounter, Uuid};

/// A node whose items take less than this is merged with a sibling when both fit in
/// one sector (keeps the tree dense under deletes).
const MERGE_BELOW: usize = NODE_PAYLOAD / 4;

/// How to open an existing store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Accept the newest valid root whatever the counter says, and bind it to the
    /// counter's current value (operator recovery after a TPM replacement or clear).
    /// This deliberately disables the replay check once.
    pub rebind_counter: bool,
}

/// How to format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FormatOptions {
    /// Image size in sectors (default: the device, at most [`MAX_SECTORS`]).
    pub sectors: Option<u32>,
    /// Format even if the disk is not blank (the explicit "reformat" option).
    pub overwrite: bool,
}

/// Device traffic since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Sectors read.
    pub sectors_read: u64,
    /// Sectors written.
    pub sectors_written: u64,
    /// Flushes.
    pub flushes: u64,
}

/// The result of a full verification ([`Store::check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Entries found.
    pub entries: u64,
    /// Tree height (0 = empty).
    pub height: u8,
    /// Tree nodes (sectors).
    pub nodes: u32,
    /// Leaves among them.
    pub leaves: u32,
    /// Sectors of the image in use (roots included).
    pub used_sectors: u32,
    /// Sectors of the image free.
    pub free_sectors: u32,
}

/// A counter for read-only opening (offline inspection): it has no value.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCounter;

impl MonotonicCounter for NoCounter {
    fn read(&mut self) -> Result<u64, CounterError> {
        Err(CounterError(0))
    }
    fn increment(&mut self) -> Result<u64, CounterError> {
        Err(CounterError(0))
    }
}

/// The key store on a block device.
#[derive(Debug)]
pub struct Store<D, C> {
    dev: D,
    counter: C,
    keys: Keys,
    /// The committed root (durable, and bound to the counter unless `counter_lag`).
    root: Root,
    read_only: bool,
    /// The committed root is one ahead of the counter: increment before anything else.
    counter_lag: bool,
    /// A root write failed half-way: the other slot may hold a newer root than
    /// `root`, so re-read the roots before writing.
    poisoned: bool,
    stats: IoStats,
}

/// A heap buffer for one raw sector. Raw sectors hold ciphertext or a root (no
/// secrets), so it is not zeroized; decrypted bodies live in `Zeroizing` buffers.
type SectorBuf = Box<[u8; SECTOR_SIZE]>;

fn sector_buf() -> SectorBuf {
    Box::new([0u8; SECTOR_SIZE])
}

/// A node on the path from the tree's root to a leaf.
struct Frame {
    ptr: ChildPtr,
    node: Node,
    /// The child taken (inner nodes).
    idx: usize,
    /// Keys in this node are ≥ lower and < upper.
    lower: Option<Uuid>,
    upper: Option<Uuid>,
}

/// The sectors one sync writes and frees.
struct Txn {
    seq: u64,
    allocated: Bitmap,
    written: u32,
    freed: Vec<u32>,
    hint: u32,
}

/// What a sync changes in the root.
struct RootChange {
    tree: Option<ChildPtr>,
    height: u8,
    entries: u64,
    sealed: Option<Vec<u8>>,
    counter: u64,
}

fn malformed(sector: u32) -> Error {
    Error::Malformed { sector }
}

/// Child `i`'s key range inside a node whose range is `lower..upper`.
fn child_bounds(
    seps: &[Uuid],
    i: usize,
    lower: Option<Uuid>,
    upper: Option<Uuid>,
) -> (Option<Uuid>, Option<Uuid>) {
    let lo = if i == 0 { lower } else { seps.get(i - 1).copied() };
    let hi = if i >= seps.len() { upper } else { seps.get(i).copied() };
    (lo, hi)
}

/// Largest leaf item (uuid, flags, length, 64-byte key): the slack an even split
/// into two nodes must leave so that each half fits.
const MAX_ITEM: usize = 16 + 2 + 1 + 64;

fn is_empty(node: &Node) -> bool {
    match node {
        Node::Leaf(items) => items.is_empty(),
        Node::Inner { children, .. } => children.is_empty(),
    }
}

/// Splits `node` into `k` adjacent nodes of about equal size, returning them and the
/// `k - 1` separators between them (for inner nodes the separators move up).
fn split_even(node: Node, k: usize, sector: u32) -> Result<(Vec<Node>, Vec<Uuid>), Error> {
    let n = match &node {
        Node::Leaf(items) => items.len(),
        Node::Inner { children, .. } => children.len(),
    };
    if k == 0 || n < k {
        return Err(malformed(sector));
    }
    // Cut points: the first index whose prefix size reaches g/k of the total, kept
    // at least one element apart.
    let sizes: Vec<usize> = match &node {
        Node::Leaf(items) => items.iter().map(|i| 19 + i.entry.key.as_bytes().len()).collect(),
        Node::Inner { children, .. } => vec![36; children.len()],
    };
    let total: usize = sizes.iter().sum();
    let mut cuts = Vec::with_capacity(k);
    let (mut prefix, mut i) = (0usize, 0usize);
    for g in 1..k {
        let target = total * g / k;
        while i < n && (prefix < target || i <= cuts.last().copied().unwrap_or(0)) {
            prefix += sizes[i];
            i += 1;
        }
        cuts.push(i.min(n - (k - g)));
    }
    let mut nodes = Vec::with_capacity(k);
    let mut seps = Vec::with_capacity(k - 1);
    match node {
        Node::Leaf(mut items) => {
            for &cut in cuts.iter().rev() {
                let tail = items.split_off(cut);
                seps.push(tail.first().map(|i| i.uuid).ok_or(malformed(sector))?);
                nodes.push(Node::Leaf(tail));
            }
            nodes.push(Node::Leaf(items));
        }
        Node::Inner { mut children, seps: mut inner_seps } => {
            for &cut in cuts.iter().rev() {
                let tail_children = children.split_off(cut);
                let tail_seps = inner_seps.split_off(cut);
                seps.push(inner_seps.pop().ok_or(malformed(sector))?);
                nodes.push(Node::Inner { children: tail_children, seps: tail_seps });
            }
            nodes.push(Node::Inner { children, seps: inner_seps });
        }
    }
    nodes.reverse();
    seps.reverse();
    if nodes.iter().any(|n| !n.fits() || is_empty(n)) {
        return Err(malformed(sector));
    }
    Ok((nodes, seps))
}

/// `left` and `right` (adjacent, `sep` between them) as one node.
fn merge(left: Node, sep: Uuid, right: Node, sector: u32) -> Result<Node, Error> {
    match (left, right) {
        (Node::Leaf(mut a), Node::Leaf(b)) => {
            a.extend(b);
            Ok(Node::Leaf(a))
        }
        (Node::Inner { children: mut c, seps: mut s }, Node::Inner { children: c2, seps: s2 }) => {
            c.extend(c2);
            s.push(sep);
            s.extend(s2);
            Ok(Node::Inner { children: c, seps: s })
        }
        _ => Err(malformed(sector)),
    }
}

/// Reads both root slots and returns the valid one with the highest sequence.
fn load_root<D: BlockDevice>(dev: &mut D, keys: &Keys, stats: &mut IoStats) -> Result<Root, Error> {
    let mut best: Option<Root> = None;
    let mut raws = [RawSlot::Empty, RawSlot::Empty];
    let mut buf = sector_buf();
    for (slot, raw) in (0..ROOT_SLOTS).zip(raws.iter_mut()) {
        dev.read(u64::from(slot), &mut buf)?;
        stats.sectors_read += 1;
        if slot == 0 && buf[..12] == crate::layout::C_VTPMMGR_MAGIC {
            let version = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
            return Err(Error::CVtpmmgrImage { version });
        }
        *raw = Root::parse(slot, &buf);
        if let RawSlot::Root(root) = raw {
            let fits = u64::from(root.bitmap.sectors()) <= dev.sectors();
            if fits
                && keys.root_mac_ok(slot, &buf)
                && best.as_ref().is_none_or(|b| root.seq > b.seq)
            {
                best = Some(root.clone());
            }
        }
    }
    if let Some(root) = best {
        return Ok(root);
    }
    for raw in &raws {
        if let RawSlot::Unsupported(v) = raw {
            return Err(Error::UnsupportedVersion(*v));
        }
    }
    if raws.iter().any(|r| matches!(r, RawSlot::Root(_) | RawSlot::Malformed(_))) {
        return Err(Error::AuthenticationFailed);
    }
    match inspect_sectors(dev, stats)?.kind {
        ImageKind::Blank => Err(Error::Blank),
        _ => Err(Error::NotAStore),
    }
}

impl<D: BlockDevice, C: MonotonicCounter> Store<D, C> {
    /// Opens an existing store: picks the newest root that authenticates under
    /// `secret`, then checks it against the counter (docs/manager-disk.md
    /// "Rollback"): root bound to the counter's value → open; bound to value + 1 (a
    /// crash between writing the root and incrementing) → increment, open; older →
    /// [`Error::RolledBack`]; newer by more → [`Error::CounterBehind`].
    pub fn open(
        mut dev: D,
        counter: C,
        secret: &RootSecret,
        options: OpenOptions,
    ) -> Result<Self, Error> {
        let keys = Keys::derive(secret);
        let mut stats = IoStats::default();
        let root = load_root(&mut dev, &keys, &mut stats)?;
        let mut store = Self {
            dev,
            counter,
            keys,
            root,
            read_only: false,
            counter_lag: false,
            poisoned: false,
            stats,
        };
        store.bind_counter(options.rebind_counter)?;
        Ok(store)
    }

    /// Formats the device: an empty store whose root carries `sealed_blob` (the
    /// caller's TPM-sealed copy of `secret`), bound to the counter's next value.
    /// Refuses a disk that is not blank unless `options.overwrite` is set.
    pub fn format(
        mut dev: D,
        counter: C,
        secret: &RootSecret,
        sealed_blob: &[u8],
        options: FormatOptions,
    ) -> Result<Self, Error> {
        if sealed_blob.len() > MAX_SEALED_BLOB {
            return Err(Error::SealedBlobTooLarge);
        }
        let available = u32::try_from(dev.sectors()).unwrap_or(u32::MAX).min(MAX_SECTORS);
        let sectors = options.sectors.unwrap_or(available);
        if sectors < MIN_SECTORS || sectors > available {
            return Err(Error::DeviceTooSmall);
        }
        let mut stats = IoStats::default();
        if !options.overwrite {
            match inspect_sectors(&mut dev, &mut stats)?.kind {
                ImageKind::Blank => {}
                ImageKind::CVtpmmgr { version } => return Err(Error::CVtpmmgrImage { version }),
                _ => return Err(Error::NotBlank),
            }
        }
        let root = Root {
            slot: 1,
            height: 0,
            seq: 0,
            counter: 0,
            entries: 0,
            tree: None,
            sealed: Vec::new(),
            bitmap: Bitmap::new(sectors),
        };
        let mut store = Self {
            dev,
            counter,
            keys: Keys::derive(secret),
            root,
            read_only: false,
            counter_lag: false,
            poisoned: false,
            stats,
        };
        if options.overwrite {
            // The new root goes to slot 0; clear slot 1 first so no root of the old
            // image can outrank it.
            store.write_sector(1, &sector_buf())?;
            store.flush()?;
        }
        let now = store.counter.read().map_err(Error::Counter)?;
        let next =
            now.checked_add(1).ok_or(Error::CounterOutOfStep { expected: 0, actual: now })?;
        let txn = Txn::new(&store.root);
        let change = RootChange {
            tree: None,
            height: 0,
            entries: 0,
            sealed: Some(sealed_blob.to_vec()),
            counter: next,
        };
        store.commit(txn, change)?;
        Ok(store)
    }

    /// The entry of `uuid`, if any.
    pub fn get(&mut self, uuid: &Uuid) -> Result<Option<Entry>, Error> {
        let path = self.descend(uuid)?;
        let Some(Frame { node: Node::Leaf(items), .. }) = path.last() else {
            return Ok(None);
        };
        Ok(items
            .binary_search_by(|i| i.uuid.cmp(uuid))
            .ok()
            .and_then(|i| items.get(i))
            .map(|i| i.entry.clone()))
    }

    /// Creates or replaces the entry of `uuid` and syncs. Returns once the change is
    /// durable and the counter incremented (the commit point for SAVEHASHKEY).
    pub fn save(&mut self, uuid: &Uuid, key: &[u8], flags: u16) -> Result<(), Error> {
        let key = KeyData::new(key).ok_or(Error::KeyTooLong)?;
        self.apply(uuid, Some(Entry { flags, key })).map(|_| ())
    }

    /// Deletes the entry of `uuid` and syncs. Returns whether it existed.
    pub fn delete(&mut self, uuid: &Uuid) -> Result<bool, Error> {
        self.apply(uuid, None)
    }

    /// Up to `max` uuids in ascending order, starting after `after` (paging; never
    /// returns keys).
    pub fn list(&mut self, after: Option<&Uuid>, max: usize) -> Result<Vec<Uuid>, Error> {
        let mut out = Vec::new();
        let mut key = after.copied().unwrap_or([0; 16]);
        let mut inclusive = after.is_none();
        while out.len() < max {
            let path = self.descend(&key)?;
            let Some(Frame { node: Node::Leaf(items), upper, .. }) = path.last() else {
                break;
            };
            for item in items {
                if item.uuid > key || (inclusive && item.uuid == key) {
                    out.push(item.uuid);
                    if out.len() == max {
                        return Ok(out);
                    }
                }
            }
            // The next leaf starts at this leaf's upper bound (strictly increasing, so
            // the walk ends after the last leaf).
            match upper {
                Some(u) => {
                    key = *u;
                    inclusive = true;
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// Visits every entry in uuid order, keys included (export, verification). One
    /// read per tree node.
    pub fn for_each(&mut self, mut visit: impl FnMut(&Uuid, &Entry)) -> Result<(), Error> {
        let height = self.root.height;
        let mut stack: Vec<(ChildPtr, Option<Uuid>, Option<Uuid>, u8)> = Vec::new();
        if let Some(tree) = self.root.tree {
            stack.push((tree, None, None, 1));
        }
        while let Some((ptr, lower, upper, depth)) = stack.pop() {
            match self.read_node(ptr, lower, upper, depth == height)? {
                Node::Leaf(items) => items.iter().for_each(|i| visit(&i.uuid, &i.entry)),
                Node::Inner { children, seps } => {
                    // Depth is bounded by the height (read_node checks leaf depth).
                    for (i, child) in children.iter().enumerate().rev() {
                        let (lo, hi) = child_bounds(&seps, i, lower, upper);
                        stack.push((*child, lo, hi, depth + 1));
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.root.entries
    }

    /// True if there is no entry.
    pub fn is_empty(&self) -> bool {
        self.root.entries == 0
    }

    /// The committed root's sequence number.
    pub fn seq(&self) -> u64 {
        self.root.seq
    }

    /// The counter value the committed root is bound to.
    pub fn counter_binding(&self) -> u64 {
        self.root.counter
    }

    /// The sealed blob stored in the committed root.
    pub fn sealed_blob(&self) -> &[u8] {
        &self.root.sealed
    }

    /// Image size in sectors.
    pub fn sector_count(&self) -> u32 {
        self.root.bitmap.sectors()
    }

    /// Sectors not used by the committed root.
    pub fn free_sectors(&self) -> u32 {
        self.root.bitmap.sectors().saturating_sub(self.root.bitmap.used())
    }

    /// Tree height (0 = empty).
    pub fn height(&self) -> u8 {
        self.root.height
    }

    /// Device traffic so far.
    pub fn io_stats(&self) -> IoStats {
        self.stats
    }

    /// Gives the device and the counter back.
    pub fn into_parts(self) -> (D, C) {
        (self.dev, self.counter)
    }

    /// Replaces the sealed blob (after re-sealing the same secret, e.g. to new PCR
    /// values) and syncs.
    pub fn set_sealed_blob(&mut self, sealed_blob: &[u8]) -> Result<(), Error> {
        if sealed_blob.len() > MAX_SEALED_BLOB {
            return Err(Error::SealedBlobTooLarge);
        }
        self.prepare_write()?;
        let change = RootChange {
            tree: self.root.tree,
            height: self.root.height,
            entries: self.root.entries,
            sealed: Some(sealed_blob.to_vec()),
            counter: self.next_counter()?,
        };
        let txn = Txn::new(&self.root);
        self.commit(txn, change)
    }

    /// Reads and verifies every sector of the tree: authentication, order, key
    /// ranges, entry count, and that the bitmap marks exactly the tree's sectors.
    pub fn check(&mut self) -> Result<CheckReport, Error> {
        let height = self.root.height;
        let mut report = CheckReport {
            entries: 0,
            height,
            nodes: 0,
            leaves: 0,
            used_sectors: self.root.bitmap.used(),
            free_sectors: self.free_sectors(),
        };
        let mut reachable = Bitmap::new(self.root.bitmap.sectors());
        let mut stack: Vec<(ChildPtr, Option<Uuid>, Option<Uuid>, u8)> = Vec::new();
        if let Some(tree) = self.root.tree {
            stack.push((tree, None, None, 1));
        }
        while let Some((ptr, lower, upper, depth)) = stack.pop() {
            if reachable.get(ptr.sector) {
                return Err(malformed(ptr.sector)); // shared by two parents
            }
            reachable.set(ptr.sector, true);
            let node = self.read_node(ptr, lower, upper, depth == height)?;
            report.nodes += 1;
            match node {
                Node::Leaf(items) => {
                    report.leaves += 1;
                    report.entries += items.len() as u64;
                }
                Node::Inner { children, seps } => {
                    for (i, child) in children.iter().enumerate() {
                        let (lo, hi) = child_bounds(&seps, i, lower, upper);
                        stack.push((*child, lo, hi, depth + 1));
                    }
                }
            }
        }
        if reachable != self.root.bitmap || report.entries != self.root.entries {
            return Err(malformed(self.root.slot));
        }
        Ok(report)
    }

    // ---- reading ---------------------------------------------------------------------

    fn read_sector(&mut self, sector: u32, buf: &mut [u8; SECTOR_SIZE]) -> Result<(), Error> {
        self.dev.read(u64::from(sector), buf)?;
        self.stats.sectors_read += 1;
        Ok(())
    }

    fn write_sector(&mut self, sector: u32, buf: &[u8; SECTOR_SIZE]) -> Result<(), Error> {
        self.dev.write(u64::from(sector), buf)?;
        self.stats.sectors_written += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.dev.flush()?;
        self.stats.flushes += 1;
        Ok(())
    }

    /// Reads, authenticates and decodes the node `ptr` points to, and checks that it
    /// is of the expected kind and that its keys lie in `lower..upper`.
    fn read_node(
        &mut self,
        ptr: ChildPtr,
        lower: Option<Uuid>,
        upper: Option<Uuid>,
        leaf: bool,
    ) -> Result<Node, Error> {
        let sector = ptr.sector;
        if sector < ROOT_SLOTS || !self.root.bitmap.get(sector) {
            return Err(malformed(sector));
        }
        let mut raw = sector_buf();
        self.read_sector(sector, &mut raw)?;
        let mut body = Zeroizing::new([0u8; NODE_BODY]);
        self.keys
            .open_node(sector, &ptr.tag, &raw, &mut body)
            .ok_or(Error::SectorAuthFailed { sector })?;
        let node = Node::decode(&body).ok_or(malformed(sector))?;
        let in_range = |k: &Uuid| lower.is_none_or(|l| *k >= l) && upper.is_none_or(|u| *k < u);
        let ok = match &node {
            Node::Leaf(items) => {
                leaf && items.first().is_some_and(|i| in_range(&i.uuid))
                    && items.last().is_some_and(|i| in_range(&i.uuid))
            }
            Node::Inner { seps, .. } => {
                !leaf
                    && seps
                        .iter()
                        .all(|s| lower.is_none_or(|l| *s > l) && upper.is_none_or(|u| *s < u))
            }
        };
        if !ok {
            return Err(malformed(sector));
        }
        Ok(node)
    }

    /// The path from the tree's root to the leaf where `key` belongs.
    fn descend(&mut self, key: &Uuid) -> Result<Vec<Frame>, Error> {
        let mut path = Vec::new();
        let Some(mut ptr) = self.root.tree else { return Ok(path) };
        let (mut lower, mut upper) = (None, None);
        for depth in 1..=self.root.height {
            let node = self.read_node(ptr, lower, upper, depth == self.root.height)?;
            let Node::Inner { children, seps } = &node else {
                path.push(Frame { ptr, node, idx: 0, lower, upper });
                break;
            };
            let idx = seps.partition_point(|s| s <= key);
            let child = *children.get(idx).ok_or(malformed(ptr.sector))?;
            let (lo, hi) = child_bounds(seps, idx, lower, upper);
            path.push(Frame { ptr, node, idx, lower, upper });
            (ptr, lower, upper) = (child, lo, hi);
        }
        Ok(path)
    }

    // ---- writing ---------------------------------------------------------------------

    /// Before a change: refuse if read-only, re-read the roots after a failed root
    /// write, and catch the counter up if the last sync could not increment it.
    fn prepare_write(&mut self) -> Result<(), Error> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        if self.poisoned {
            self.root = load_root(&mut self.dev, &self.keys, &mut self.stats)?;
            self.poisoned = false;
            self.counter_lag = false;
            self.bind_counter(false)?;
        }
        if self.counter_lag {
            self.increment_to(self.root.counter)?;
        }
        Ok(())
    }

    fn next_counter(&self) -> Result<u64, Error> {
        self.root
            .counter
            .checked_add(1)
            .ok_or(Error::CounterOutOfStep { expected: u64::MAX, actual: self.root.counter })
    }

    /// Increments the counter, which must then read `expected`.
    fn increment_to(&mut self, expected: u64) -> Result<(), Error> {
        self.counter_lag = true;
        let actual = self.counter.increment().map_err(Error::Counter)?;
        if actual != expected {
            return Err(Error::CounterOutOfStep { expected, actual });
        }
        self.counter_lag = false;
        Ok(())
    }

    /// The load-time rollback check (docs/manager-disk.md "Rollback").
    fn bind_counter(&mut self, rebind: bool) -> Result<(), Error> {
        let counter = self.counter.read().map_err(Error::Counter)?;
        let root_counter = self.root.counter;
        if root_counter == counter {
            return Ok(());
        }
        if counter.checked_add(1) == Some(root_counter) {
            // Crash between "root durable" and "counter incremented": finish the sync.
            return self.increment_to(root_counter);
        }
        if rebind {
            let next = counter
                .checked_add(1)
                .ok_or(Error::CounterOutOfStep { expected: u64::MAX, actual: counter })?;
            let change = RootChange {
                tree: self.root.tree,
                height: self.root.height,
                entries: self.root.entries,
                sealed: None,
                counter: next,
            };
            let txn = Txn::new(&self.root);
            return self.commit(txn, change);
        }
        if root_counter < counter {
            Err(Error::RolledBack { root_counter, counter })
        } else {
            Err(Error::CounterBehind { root_counter, counter })
        }
    }

    /// Seals `node` into a sector that the committed root does not use.
    fn write_node(&mut self, txn: &mut Txn, node: &Node) -> Result<ChildPtr, Error> {
        if !node.fits() {
            return Err(malformed(0));
        }
        let sector = self.root.bitmap.first_free(&txn.allocated, txn.hint).ok_or(Error::Full)?;
        txn.allocated.set(sector, true);
        txn.hint = sector + 1;
        txn.written += 1;
        let mut body = Zeroizing::new([0u8; NODE_BODY]);
        node.encode(&mut body);
        let mut raw = sector_buf();
        let tag = self.keys.seal_node(sector, txn.seq, &body, &mut raw);
        self.write_sector(sector, &raw)?;
        Ok(ChildPtr { sector, tag })
    }

    /// One change (insert, replace or delete `uuid`) as a copy-on-write sync.
    /// Returns whether anything changed.
    ///
    /// The changed leaf and every node above it are written to fresh sectors. A node
    /// that overflows is first balanced with a sibling (B*-tree style: the two become
    /// two nodes if they fit, else three), a node under a quarter full is merged with a
    /// sibling when both fit in one: this keeps leaves about 80% full.
    fn apply(&mut self, uuid: &Uuid, change: Option<Entry>) -> Result<bool, Error> {
        self.prepare_write()?;
        let mut path = self.descend(uuid)?;
        let mut txn = Txn::new(&self.root);
        let mut entries = self.root.entries;
        let mut grows = false;

        let mut pending = match path.pop() {
            None => {
                let Some(entry) = change else { return Ok(false) };
                entries = entries.saturating_add(1);
                grows = true;
                Node::Leaf(vec![Item { uuid: *uuid, entry }])
            }
            Some(frame) => {
                txn.freed.push(frame.ptr.sector);
                let Node::Leaf(mut items) = frame.node else {
                    return Err(malformed(frame.ptr.sector));
                };
                match (items.binary_search_by(|i| i.uuid.cmp(uuid)), change) {
                    (Ok(i), Some(entry)) => {
                        let slot = items.get_mut(i).ok_or(malformed(frame.ptr.sector))?;
                        if slot.entry == entry {
                            return Ok(false);
                        }
                        slot.entry = entry;
                    }
                    (Err(i), Some(entry)) => {
                        items.insert(i, Item { uuid: *uuid, entry });
                        entries = entries.saturating_add(1);
                        grows = true;
                    }
                    (Ok(i), None) => {
                        items.remove(i);
                        entries = entries.saturating_sub(1);
                    }
                    (Err(_), None) => return Ok(false),
                }
                Node::Leaf(items)
            }
        };

        // Copy the path upwards: each parent gets the new child pointer(s).
        while let Some(frame) = path.pop() {
            let sector = frame.ptr.sector;
            txn.freed.push(sector);
            let Node::Inner { mut children, mut seps } = frame.node else {
                return Err(malformed(sector));
            };
            let idx = frame.idx;
            let size = pending.payload_size();
            let over = size > NODE_PAYLOAD;
            let under = size < MERGE_BELOW;
            if is_empty(&pending) {
                children.remove(idx);
                if !seps.is_empty() {
                    seps.remove(idx.saturating_sub(1).min(seps.len() - 1));
                }
            } else if (over || under) && children.len() > 1 {
                let sib = if idx + 1 < children.len() { idx + 1 } else { idx - 1 };
                let (li, ri) = (idx.min(sib), idx.max(sib));
                let sep = *seps.get(li).ok_or(malformed(sector))?;
                let (lo, hi) = child_bounds(&seps, sib, frame.lower, frame.upper);
                let sib_ptr = *children.get(sib).ok_or(malformed(sector))?;
                let sib_node = self.read_node(sib_ptr, lo, hi, matches!(pending, Node::Leaf(_)))?;
                let total = size + sib_node.payload_size() + 16;
                let k = if total <= NODE_PAYLOAD {
                    1
                } else if total <= 2 * NODE_PAYLOAD - 2 * MAX_ITEM {
                    2
                } else {
                    3
                };
                if under && k > 1 {
                    // Small, but the sibling is too full to merge with: leave both.
                    *children.get_mut(idx).ok_or(malformed(sector))? =
                        self.write_node(&mut txn, &pending)?;
                } else {
                    let combined = if sib < idx {
                        merge(sib_node, sep, pending, sector)?
                    } else {
                        merge(pending, sep, sib_node, sector)?
                    };
                    let (nodes, new_seps) = split_even(combined, k, sector)?;
                    txn.freed.push(sib_ptr.sector);
                    let mut ptrs = Vec::with_capacity(k);
                    for node in &nodes {
                        ptrs.push(self.write_node(&mut txn, node)?);
                    }
                    children.splice(li..=ri, ptrs);
                    seps.splice(li..li + 1, new_seps);
                }
            } else if over {
                let (nodes, new_seps) = split_even(pending, 2, sector)?;
                let mut ptrs = Vec::with_capacity(2);
                for node in &nodes {
                    ptrs.push(self.write_node(&mut txn, node)?);
                }
                children.splice(idx..=idx, ptrs);
                seps.splice(idx..idx, new_seps);
            } else {
                *children.get_mut(idx).ok_or(malformed(sector))? =
                    self.write_node(&mut txn, &pending)?;
            }
            pending = Node::Inner { children, seps };
        }

        // The new tree root.
        let old_height = self.root.height.max(1);
        let (tree, height) = match pending {
            n if is_empty(&n) => (None, 0),
            Node::Inner { children, .. } if children.len() == 1 => {
                (children.first().copied(), old_height - 1)
            }
            n if n.fits() => (Some(self.write_node(&mut txn, &n)?), old_height),
            n => {
                if old_height >= MAX_HEIGHT {
                    return Err(Error::Full);
                }
                let (nodes, seps) = split_even(n, 2, 0)?;
                let mut children = Vec::with_capacity(2);
                for node in &nodes {
                    children.push(self.write_node(&mut txn, node)?);
                }
                let root = Node::Inner { children, seps };
                (Some(self.write_node(&mut txn, &root)?), old_height + 1)
            }
        };

        // Keep room for deletes and updates: a new entry may not take the last
        // sectors, which a later copy-on-write path (one new node per level, plus one
        // for a split) needs.
        if grows {
            let used = self.root.bitmap.used() + txn.written;
            let used = used.saturating_sub(u32::try_from(txn.freed.len()).unwrap_or(u32::MAX));
            let free = self.root.bitmap.sectors().saturating_sub(used);
            if free < u32::from(height) + 1 {
                return Err(Error::Full);
            }
        }
        let change =
            RootChange { tree, height, entries, sealed: None, counter: self.next_counter()? };
        self.commit(txn, change)?;
        Ok(true)
    }

    /// The sync: tree sectors durable → new root into the other slot → durable →
    /// counter incremented. See docs/manager-disk.md "Sync" for the crash analysis.
    fn commit(&mut self, txn: Txn, change: RootChange) -> Result<(), Error> {
        if txn.written > 0 {
            self.flush()?;
        }
        let mut bitmap = self.root.bitmap.clone();
        for s in &txn.freed {
            bitmap.set(*s, false);
        }
        for s in ROOT_SLOTS..bitmap.sectors() {
            if txn.allocated.get(s) {
                bitmap.set(s, true);
            }
        }
        let root = Root {
            slot: 1 - self.root.slot,
            height: change.height,
            seq: txn.seq,
            counter: change.counter,
            entries: change.entries,
            tree: change.tree,
            sealed: change.sealed.unwrap_or_else(|| self.root.sealed.clone()),
            bitmap,
        };
        let mut raw = sector_buf();
        root.encode(&mut raw);
        let mac = self.keys.root_mac(root.slot, &raw);
        raw[ROOT_MAC_OFFSET..].copy_from_slice(&mac);
        // From the first byte of the root write on, the other slot may hold a root
        // newer than ours: until the flush returns, a failure must make the next
        // writer re-read the roots (it must not reuse this sync's sectors).
        self.poisoned = true;
        self.write_sector(root.slot, &raw)?;
        self.flush()?;
        self.poisoned = false;
        self.root = root;
        self.increment_to(self.root.counter)
    }
}

impl<D: BlockDevice> Store<D, NoCounter> {
    /// Opens the newest root that authenticates, without a counter and read-only
    /// (offline inspection by the host tool). No rollback check is possible here.
    pub fn open_read_only(mut dev: D, secret: &RootSecret) -> Result<Self, Error> {
        let keys = Keys::derive(secret);
        let mut stats = IoStats::default();
        let root = load_root(&mut dev, &keys, &mut stats)?;
        Ok(Self {
            dev,
            counter: NoCounter,
            keys,
            root,
            read_only: true,
            counter_lag: false,
            poisoned: false,
            stats,
        })
    }
}

impl Txn {
    fn new(root: &Root) -> Self {
        Self {
            seq: root.seq.saturating_add(1),
            allocated: Bitmap::new(root.bitmap.sectors()),
            written: 0,
            freed: Vec::new(),
            hint: ROOT_SLOTS,
        }
    }
}
