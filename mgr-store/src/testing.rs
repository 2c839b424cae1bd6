//! Test fakes (feature `test-utils`): a disk with a volatile write cache that records
//! every write and flush, cuts power and flips bits; a monotonic counter; and a helper
//! that turns plaintext into validly sealed sectors, so a fuzzer can reach the parsers
//! behind the authentication layer.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::crypto::{Keys, RootSecret};
use crate::layout::{NODE_BODY, ROOT_MAC_OFFSET, ROOT_SLOTS, SECTOR_SIZE};
use crate::{BlockDevice, CounterError, DeviceError, MonotonicCounter};

/// Device error the fake disk returns after an injected failure (EIO).
pub const EIO: DeviceError = DeviceError(-5);

/// One thing the disk was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A sector write.
    Write {
        /// The sector.
        sector: u64,
        /// Its new contents.
        data: Box<[u8; SECTOR_SIZE]>,
    },
    /// A flush.
    Flush,
}

#[derive(Debug)]
struct DiskState {
    /// What a read returns: every write applied.
    current: Vec<u8>,
    /// What survives a power cut: writes up to the last flush.
    durable: Vec<u8>,
    /// Writes since the last flush (sector numbers), applied to `durable` by a flush.
    unflushed: Vec<usize>,
    log: Vec<Event>,
    recording: bool,
    reads: u64,
    writes: u64,
    flushes: u64,
    /// Writes (and flushes) that still succeed before the device fails.
    fail_after: Option<u64>,
}

/// A fake disk. Clones share the same disk.
#[derive(Clone, Debug)]
pub struct FakeDisk(Rc<RefCell<DiskState>>);

impl FakeDisk {
    /// A zeroed disk of `sectors` sectors.
    pub fn new(sectors: usize) -> Self {
        Self::from_image(vec![0; sectors * SECTOR_SIZE])
    }

    /// A disk holding `image` (durable).
    pub fn from_image(image: Vec<u8>) -> Self {
        Self(Rc::new(RefCell::new(DiskState {
            durable: image.clone(),
            current: image,
            unflushed: Vec::new(),
            log: Vec::new(),
            recording: false,
            reads: 0,
            writes: 0,
            flushes: 0,
            fail_after: None,
        })))
    }

    /// The image as reads see it.
    pub fn image(&self) -> Vec<u8> {
        self.0.borrow().current.clone()
    }

    /// The image a power cut now would leave (unflushed writes lost).
    pub fn durable_image(&self) -> Vec<u8> {
        self.0.borrow().durable.clone()
    }

    /// Power cut: unflushed writes are lost.
    pub fn power_cut(&self) {
        let mut s = self.0.borrow_mut();
        s.current = s.durable.clone();
        s.unflushed.clear();
    }

    /// Starts (or stops) recording writes and flushes for [`take_log`](Self::take_log).
    pub fn record(&self, on: bool) {
        self.0.borrow_mut().recording = on;
    }

    /// Takes the recorded writes and flushes.
    pub fn take_log(&self) -> Vec<Event> {
        core::mem::take(&mut self.0.borrow_mut().log)
    }

    /// Lets `n` more writes/flushes succeed, then fails every one (`None`: never).
    pub fn fail_after(&self, n: Option<u64>) {
        self.0.borrow_mut().fail_after = n;
    }

    /// Flips one bit (durably).
    pub fn flip_bit(&self, sector: u64, bit: usize) {
        let mut guard = self.0.borrow_mut();
        let s = &mut *guard;
        let at = usize::try_from(sector).unwrap_or(usize::MAX) * SECTOR_SIZE + bit / 8;
        for img in [&mut s.current, &mut s.durable] {
            if let Some(b) = img.get_mut(at) {
                *b ^= 1 << (bit % 8);
            }
        }
    }

    /// Replaces the whole image (durably), e.g. with an older snapshot.
    pub fn set_image(&self, image: Vec<u8>) {
        let mut s = self.0.borrow_mut();
        s.durable = image.clone();
        s.current = image;
        s.unflushed.clear();
    }

    /// (reads, writes, flushes) so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        let s = self.0.borrow();
        (s.reads, s.writes, s.flushes)
    }

    fn step(s: &mut DiskState) -> Result<(), DeviceError> {
        match &mut s.fail_after {
            Some(0) => Err(EIO),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// The image a power cut leaves after the first `writes` writes of `log` were issued
/// on top of `before`: a write followed by a flush inside that prefix is durable; a
/// later write (still in the volatile cache) survives only if `keep(index of the
/// write in the log)` says so — disks may persist cached writes in any order.
pub fn replay(
    before: &[u8],
    log: &[Event],
    writes: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<u8> {
    let mut image = before.to_vec();
    let mut issued = 0;
    let mut end = 0;
    for (i, e) in log.iter().enumerate() {
        if let Event::Write { .. } = e {
            if issued == writes {
                break;
            }
            issued += 1;
        }
        end = i + 1;
    }
    let prefix = log.get(..end).unwrap_or(&[]);
    let last_flush = prefix.iter().rposition(|e| *e == Event::Flush);
    for (i, e) in prefix.iter().enumerate() {
        if let Event::Write { sector, data } = e {
            let durable = last_flush.is_some_and(|f| i < f);
            if durable || keep(i) {
                let at = usize::try_from(*sector).unwrap_or(usize::MAX) * SECTOR_SIZE;
                if let Some(dst) = image.get_mut(at..at + SECTOR_SIZE) {
                    dst.copy_from_slice(&data[..]);
                }
            }
        }
    }
    image
}

impl BlockDevice for FakeDisk {
    fn sectors(&self) -> u64 {
        (self.0.borrow().current.len() / SECTOR_SIZE) as u64
    }

    fn read(&mut self, sector: u64, buf: &mut [u8; SECTOR_SIZE]) -> Result<(), DeviceError> {
        let mut s = self.0.borrow_mut();
        s.reads += 1;
        let at = usize::try_from(sector).map_err(|_| EIO)? * SECTOR_SIZE;
        buf.copy_from_slice(s.current.get(at..at + SECTOR_SIZE).ok_or(EIO)?);
        Ok(())
    }

    fn write(&mut self, sector: u64, buf: &[u8; SECTOR_SIZE]) -> Result<(), DeviceError> {
        let mut s = self.0.borrow_mut();
        Self::step(&mut s)?;
        s.writes += 1;
        let at = usize::try_from(sector).map_err(|_| EIO)? * SECTOR_SIZE;
        s.current.get_mut(at..at + SECTOR_SIZE).ok_or(EIO)?.copy_from_slice(buf);
        s.unflushed.push(at);
        if s.recording {
            s.log.push(Event::Write { sector, data: Box::new(*buf) });
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        let mut s = self.0.borrow_mut();
        Self::step(&mut s)?;
        s.flushes += 1;
        let s = &mut *s;
        for at in s.unflushed.drain(..) {
            s.durable[at..at + SECTOR_SIZE].copy_from_slice(&s.current[at..at + SECTOR_SIZE]);
        }
        if s.recording {
            s.log.push(Event::Flush);
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct CounterState {
    value: u64,
    fail_increment: bool,
    fail_read: bool,
}

/// A fake monotonic counter. Clones share the same counter.
#[derive(Clone, Debug, Default)]
pub struct FakeCounter(Rc<RefCell<CounterState>>);

impl FakeCounter {
    /// A counter starting at `value` (TPM 2.0 NV counters start at an arbitrary
    /// value).
    pub fn new(value: u64) -> Self {
        let c = Self::default();
        c.0.borrow_mut().value = value;
        c
    }

    /// The current value.
    pub fn value(&self) -> u64 {
        self.0.borrow().value
    }

    /// Sets the value (e.g. a TPM clear, or a test fixture).
    pub fn set(&self, value: u64) {
        self.0.borrow_mut().value = value;
    }

    /// Makes increments fail (or succeed again).
    pub fn fail_increment(&self, fail: bool) {
        self.0.borrow_mut().fail_increment = fail;
    }

    /// Makes reads fail (or succeed again).
    pub fn fail_read(&self, fail: bool) {
        self.0.borrow_mut().fail_read = fail;
    }
}

impl MonotonicCounter for FakeCounter {
    fn read(&mut self) -> Result<u64, CounterError> {
        let s = self.0.borrow();
        if s.fail_read { Err(CounterError(0x101)) } else { Ok(s.value) }
    }

    fn increment(&mut self) -> Result<u64, CounterError> {
        let mut s = self.0.borrow_mut();
        if s.fail_increment {
            return Err(CounterError(0x102));
        }
        s.value += 1;
        Ok(s.value)
    }
}

/// Turns a plaintext image into one that authenticates under `secret`: every node
/// sector (2..) holds a plaintext node body in its first bytes; sectors are sealed
/// from the last to the first, and each inner node's child tags pointing to an
/// already-sealed (higher) sector are replaced by that sector's real tag, as is each
/// root slot's tree tag; then each root slot gets its MAC. Pointers to lower sectors
/// keep their bytes (and fail authentication). For fuzzing the code behind the MACs.
pub fn seal_image(secret: &RootSecret, image: &mut [u8], write_seq: u64) {
    let keys = Keys::derive(secret);
    let sectors = image.len() / SECTOR_SIZE;
    let mut tags: Vec<Option<[u8; 16]>> = vec![None; sectors];
    let fix = |tags: &[Option<[u8; 16]>], ptr: &mut [u8]| {
        let sector = u32::from_be_bytes([ptr[0], ptr[1], ptr[2], ptr[3]]);
        if let Some(Some(tag)) = tags.get(usize::try_from(sector).unwrap_or(usize::MAX)) {
            ptr[4..20].copy_from_slice(tag);
        }
    };
    for s in (ROOT_SLOTS as usize..sectors).rev() {
        let raw = &mut image[s * SECTOR_SIZE..(s + 1) * SECTOR_SIZE];
        let mut body = [0u8; NODE_BODY];
        body.copy_from_slice(&raw[..NODE_BODY]);
        if body[0] == 2 {
            let n = usize::from(u16::from_be_bytes([body[2], body[3]]));
            for i in 0..n.min((NODE_BODY - 4) / 20) {
                fix(&tags, &mut body[4 + 20 * i..4 + 20 * i + 20]);
            }
        }
        let mut out = [0u8; SECTOR_SIZE];
        let sector = u32::try_from(s).unwrap_or(u32::MAX);
        tags[s] = Some(keys.seal_node(sector, write_seq, &body, &mut out));
        raw.copy_from_slice(&out);
    }
    for slot in 0..(ROOT_SLOTS as usize).min(sectors) {
        let raw = &mut image[slot * SECTOR_SIZE..(slot + 1) * SECTOR_SIZE];
        let mut ptr = [0u8; 20];
        ptr[..4].copy_from_slice(&raw[40..44]);
        ptr[4..].copy_from_slice(&raw[48..64]);
        fix(&tags, &mut ptr);
        raw[48..64].copy_from_slice(&ptr[4..]);
        let mut root = [0u8; SECTOR_SIZE];
        root.copy_from_slice(raw);
        let mac = keys.root_mac(u32::try_from(slot).unwrap_or(0), &root);
        raw[ROOT_MAC_OFFSET..].copy_from_slice(&mac);
    }
}

/// The secret the fuzz harnesses seal with.
pub const FUZZ_SECRET: [u8; 32] = [0x42; 32];

/// Builds a small image from fuzz input: byte 0 picks the size (3..=10 sectors), then
/// the root slots take up to 1200 bytes each and node sectors up to 600 bytes each
/// (each at the start of its sector, the rest zero).
pub fn fuzz_image(data: &[u8]) -> Vec<u8> {
    let Some((&n, mut rest)) = data.split_first() else { return vec![0; 3 * SECTOR_SIZE] };
    let sectors = 3 + usize::from(n % 8);
    let mut image = vec![0u8; sectors * SECTOR_SIZE];
    for s in 0..sectors {
        let take = if s < ROOT_SLOTS as usize { 1200 } else { 600 }.min(rest.len());
        let (chunk, tail) = rest.split_at(take);
        image[s * SECTOR_SIZE..s * SECTOR_SIZE + take].copy_from_slice(chunk);
        rest = tail;
    }
    image
}

/// Runs every read and write operation on a store opened from `image`; nothing may
/// panic, whatever the image holds.
pub fn exercise(image: Vec<u8>, secret: &RootSecret) {
    let disk = FakeDisk::from_image(image);
    let _ = crate::inspect(&mut disk.clone());
    let _ = crate::Store::open_read_only(disk.clone(), secret).map(|mut s| {
        let _ = s.list(None, 64);
    });
    let counter = FakeCounter::new(0);
    // Bind to whatever counter the root names, so the tree code is reached.
    if let Ok(info) = crate::inspect(&mut disk.clone()) {
        for slot in &info.slots {
            if let crate::SlotState::Root(r) = slot {
                counter.set(r.counter);
            }
        }
    }
    let Ok(mut store) = crate::Store::open(disk, counter, secret, crate::OpenOptions::default())
    else {
        return;
    };
    let _ = store.check();
    let _ = store.for_each(|_, _| {});
    let mut after = None;
    for _ in 0..8 {
        match store.list(after.as_ref(), 16) {
            Ok(page) if !page.is_empty() => after = page.last().copied(),
            _ => break,
        }
    }
    for n in 0..4u8 {
        let uuid = [n.wrapping_mul(0x3F); 16];
        let _ = store.get(&uuid);
        let _ = store.save(&uuid, &[n; 52], u16::from(n));
        let _ = store.delete(&[n.wrapping_mul(0x51); 16]);
    }
    let _ = store.check();
}

/// Fuzz harness: an arbitrary image (no valid MACs expected).
pub fn fuzz_open(data: &[u8]) {
    exercise(fuzz_image(data), &RootSecret::new(FUZZ_SECRET));
}

/// Fuzz harness: arbitrary plaintext, sealed so that it authenticates (root slots
/// get this format's magic, version and slot number), to reach the parsers and the
/// tree code behind the MACs.
pub fn fuzz_sealed(data: &[u8]) {
    let secret = RootSecret::new(FUZZ_SECRET);
    let mut image = fuzz_image(data);
    let sectors = image.len() / SECTOR_SIZE;
    for slot in 0..ROOT_SLOTS as usize {
        // Make the root's framing valid and leave the interesting fields (height,
        // sequence, counter, entries, tree pointer, bitmap bits, blob) to the fuzzer.
        let root = &mut image[slot * SECTOR_SIZE..(slot + 1) * SECTOR_SIZE];
        root[0..8].copy_from_slice(&crate::layout::MAGIC);
        root[8..10].copy_from_slice(&crate::layout::VERSION.to_be_bytes());
        root[10] = u8::try_from(slot).unwrap_or(0);
        root[11] %= 4;
        root[12..16].copy_from_slice(&u32::try_from(sectors).unwrap_or(0).to_be_bytes());
        let blob_len = u16::from_be_bytes([root[44], root[45]]) % 64;
        root[44..46].copy_from_slice(&blob_len.to_be_bytes());
        root[46..48].fill(0);
        root[64 + usize::from(blob_len)..1088].fill(0);
        root[1088] |= 0b11;
        let bitmap_len = sectors.div_ceil(8);
        if !sectors.is_multiple_of(8) {
            root[1088 + bitmap_len - 1] &= (1u8 << (sectors % 8)) - 1;
        }
        root[1088 + bitmap_len..].fill(0);
    }
    seal_image(&secret, &mut image, 1);
    exercise(image, &secret);
}
