//! `PeerMemory` fakes: a plain heap buffer, and a hostile one that changes under the
//! reader and counts every fetch, so a double fetch fails a test.

use crate::platform::{OutOfBounds, PeerMemory};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

fn range(len: usize, offset: usize, count: usize) -> Result<core::ops::Range<usize>, OutOfBounds> {
    let end = offset.checked_add(count).ok_or(OutOfBounds)?;
    if end > len {
        return Err(OutOfBounds);
    }
    Ok(offset..end)
}

fn aligned(offset: usize, align: usize) -> Result<(), OutOfBounds> {
    if offset.is_multiple_of(align) { Ok(()) } else { Err(OutOfBounds) }
}

/// Shared memory on the heap. Clones share the bytes (two domains' views of one page).
#[derive(Clone)]
pub struct HeapMemory {
    bytes: Rc<RefCell<Vec<u8>>>,
}

impl fmt::Debug for HeapMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapMemory").field("len", &self.bytes.borrow().len()).finish()
    }
}

impl HeapMemory {
    /// `len` zero bytes.
    pub fn new(len: usize) -> Self {
        Self::from_bytes(vec![0; len])
    }

    /// Memory holding `bytes`.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self { bytes: Rc::new(RefCell::new(bytes)) }
    }

    /// A copy of the whole region.
    pub fn snapshot(&self) -> Vec<u8> {
        self.bytes.borrow().clone()
    }

    /// True if both handles view the same bytes.
    pub fn same(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.bytes, &other.bytes)
    }
}

impl PeerMemory for HeapMemory {
    fn len(&self) -> usize {
        self.bytes.borrow().len()
    }

    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), OutOfBounds> {
        let bytes = self.bytes.borrow();
        let range = range(bytes.len(), offset, out.len())?;
        out.copy_from_slice(bytes.get(range).ok_or(OutOfBounds)?);
        Ok(())
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result<(), OutOfBounds> {
        let mut bytes = self.bytes.borrow_mut();
        let range = range(bytes.len(), offset, data.len())?;
        bytes.get_mut(range).ok_or(OutOfBounds)?.copy_from_slice(data);
        Ok(())
    }

    fn read_u32(&self, offset: usize) -> Result<u32, OutOfBounds> {
        aligned(offset, 4)?;
        let mut word = [0u8; 4];
        self.read(offset, &mut word)?;
        Ok(u32::from_ne_bytes(word))
    }

    fn write_u32(&self, offset: usize, value: u32) -> Result<(), OutOfBounds> {
        aligned(offset, 4)?;
        self.write(offset, &value.to_ne_bytes())
    }

    fn compare_exchange_u16(
        &self,
        offset: usize,
        current: u16,
        new: u16,
    ) -> Result<Result<u16, u16>, OutOfBounds> {
        aligned(offset, 2)?;
        let mut half = [0u8; 2];
        self.read(offset, &mut half)?;
        let found = u16::from_ne_bytes(half);
        if found != current {
            return Ok(Err(found));
        }
        self.write(offset, &new.to_ne_bytes())?;
        Ok(Ok(found))
    }
}

/// Changes the page after every read: `(bytes, offset, len, read_number)`.
pub type Mutator = Box<dyn FnMut(&mut [u8], usize, usize, u64)>;

/// One read the reader made, with the bytes it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// Offset of the read.
    pub offset: usize,
    /// The bytes returned.
    pub bytes: Vec<u8>,
}

struct Hostile {
    bytes: Vec<u8>,
    fetches: Vec<u32>,
    log: Vec<Fetch>,
    reads: u64,
    out_of_bounds: u32,
    mutator: Option<Mutator>,
}

/// Memory a hostile peer controls: after every read the mutator may rewrite any byte
/// (as a frontend racing the backend would), every fetch is counted per offset, and
/// every read is logged with the bytes it returned. Writes are not counted. Clones
/// share everything.
#[derive(Clone)]
pub struct HostileMemory {
    inner: Rc<RefCell<Hostile>>,
}

impl fmt::Debug for HostileMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("HostileMemory")
            .field("len", &inner.bytes.len())
            .field("reads", &inner.reads)
            .finish()
    }
}

impl HostileMemory {
    /// `len` zero bytes, not (yet) changing.
    pub fn new(len: usize) -> Self {
        Self {
            inner: Rc::new(RefCell::new(Hostile {
                bytes: vec![0; len],
                fetches: vec![0; len],
                log: Vec::new(),
                reads: 0,
                out_of_bounds: 0,
                mutator: None,
            })),
        }
    }

    /// Installs the function that rewrites the page after each read.
    pub fn set_mutator(&self, mutator: Mutator) {
        self.inner.borrow_mut().mutator = Some(mutator);
    }

    /// Removes the mutator.
    pub fn clear_mutator(&self) {
        self.inner.borrow_mut().mutator = None;
    }

    /// Writes bytes as the peer (not counted, mutator not run).
    pub fn poke(&self, offset: usize, data: &[u8]) {
        let mut inner = self.inner.borrow_mut();
        if let Some(target) = inner.bytes.get_mut(offset..offset + data.len()) {
            target.copy_from_slice(data);
        }
    }

    /// Reads bytes as the peer (not counted).
    pub fn peek(&self, offset: usize, len: usize) -> Vec<u8> {
        self.inner.borrow().bytes.get(offset..offset + len).map(<[u8]>::to_vec).unwrap_or_default()
    }

    /// How often the byte at `offset` was fetched since the last reset.
    pub fn fetches(&self, offset: usize) -> u32 {
        self.inner.borrow().fetches.get(offset).copied().unwrap_or(0)
    }

    /// The largest fetch count of any byte in `offsets`.
    pub fn max_fetches(&self, offsets: core::ops::Range<usize>) -> u32 {
        let inner = self.inner.borrow();
        inner.fetches.get(offsets).and_then(|f| f.iter().copied().max()).unwrap_or(0)
    }

    /// The reads made since the last reset, in order.
    pub fn log(&self) -> Vec<Fetch> {
        self.inner.borrow().log.clone()
    }

    /// Reads that were refused because they fell outside the page.
    pub fn out_of_bounds(&self) -> u32 {
        self.inner.borrow().out_of_bounds
    }

    /// Clears the fetch counts and the read log.
    pub fn reset_counts(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.fetches.iter_mut().for_each(|f| *f = 0);
        inner.log.clear();
    }
}

impl PeerMemory for HostileMemory {
    fn len(&self) -> usize {
        self.inner.borrow().bytes.len()
    }

    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), OutOfBounds> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let Ok(range) = range(inner.bytes.len(), offset, out.len()) else {
            inner.out_of_bounds += 1;
            return Err(OutOfBounds);
        };
        out.copy_from_slice(inner.bytes.get(range.clone()).ok_or(OutOfBounds)?);
        for count in inner.fetches.get_mut(range).into_iter().flatten() {
            *count += 1;
        }
        inner.log.push(Fetch { offset, bytes: out.to_vec() });
        inner.reads += 1;
        let reads = inner.reads;
        if let Some(mutator) = inner.mutator.as_mut() {
            mutator(&mut inner.bytes, offset, out.len(), reads);
        }
        Ok(())
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result<(), OutOfBounds> {
        let mut inner = self.inner.borrow_mut();
        let range = range(inner.bytes.len(), offset, data.len())?;
        inner.bytes.get_mut(range).ok_or(OutOfBounds)?.copy_from_slice(data);
        Ok(())
    }

    fn read_u32(&self, offset: usize) -> Result<u32, OutOfBounds> {
        aligned(offset, 4)?;
        let mut word = [0u8; 4];
        self.read(offset, &mut word)?;
        Ok(u32::from_ne_bytes(word))
    }

    fn write_u32(&self, offset: usize, value: u32) -> Result<(), OutOfBounds> {
        aligned(offset, 4)?;
        self.write(offset, &value.to_ne_bytes())
    }

    fn compare_exchange_u16(
        &self,
        offset: usize,
        current: u16,
        new: u16,
    ) -> Result<Result<u16, u16>, OutOfBounds> {
        aligned(offset, 2)?;
        let mut inner = self.inner.borrow_mut();
        let range = range(inner.bytes.len(), offset, 2)?;
        let half = inner.bytes.get_mut(range).ok_or(OutOfBounds)?;
        let found = u16::from_ne_bytes([half[0], half[1]]);
        if found != current {
            return Ok(Err(found));
        }
        half.copy_from_slice(&new.to_ne_bytes());
        Ok(Ok(found))
    }
}

/// Either kind of fake memory (what the simulator maps and grants).
#[derive(Clone, Debug)]
pub enum SimMemory {
    /// Plain.
    Heap(HeapMemory),
    /// Hostile.
    Hostile(HostileMemory),
}

impl From<HeapMemory> for SimMemory {
    fn from(memory: HeapMemory) -> Self {
        Self::Heap(memory)
    }
}

impl From<HostileMemory> for SimMemory {
    fn from(memory: HostileMemory) -> Self {
        Self::Hostile(memory)
    }
}

macro_rules! delegate {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            SimMemory::Heap($m) => $e,
            SimMemory::Hostile($m) => $e,
        }
    };
}

impl PeerMemory for SimMemory {
    fn len(&self) -> usize {
        delegate!(self, m => m.len())
    }
    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), OutOfBounds> {
        delegate!(self, m => m.read(offset, out))
    }
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), OutOfBounds> {
        delegate!(self, m => m.write(offset, data))
    }
    fn read_u32(&self, offset: usize) -> Result<u32, OutOfBounds> {
        delegate!(self, m => m.read_u32(offset))
    }
    fn write_u32(&self, offset: usize, value: u32) -> Result<(), OutOfBounds> {
        delegate!(self, m => m.write_u32(offset, value))
    }
    fn compare_exchange_u16(
        &self,
        offset: usize,
        current: u16,
        new: u16,
    ) -> Result<Result<u16, u16>, OutOfBounds> {
        delegate!(self, m => m.compare_exchange_u16(offset, current, new))
    }
}
