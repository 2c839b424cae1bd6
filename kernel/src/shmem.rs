//! A handle to memory another party can change at any time (Xen, a backend, a
//! frontend, a device): never a Rust reference, only volatile copies in and out.
//!
//! The rules are rust-vmm's (vm-memory `volatile_memory.rs`): no `&`/`&mut` into
//! shared memory, every access volatile, and callers copy a structure out once and
//! then look at the copy. Offsets are checked against the handle's length; an access
//! out of range is an error, not undefined behaviour.

use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU16, AtomicU64, Ordering, compiler_fence, fence};

/// An access outside the shared region, or a misaligned atomic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfBounds;

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("access outside shared memory")
    }
}

/// A region of memory shared with another party.
#[derive(Debug)]
pub struct SharedMem {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the handle is an address and a length; the runtime has one vCPU and one
// thread, and every access through the handle is volatile.
unsafe impl Send for SharedMem {}
// SAFETY: as above; no method hands out references into the region.
unsafe impl Sync for SharedMem {}

impl SharedMem {
    /// Wraps `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must stay mapped, readable and writable for the life of the
    /// handle, and no Rust reference may point into it.
    pub unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        Self { base, len }
    }

    /// Length of the region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The region's virtual address (for hypercalls that take it).
    pub fn address(&self) -> usize {
        self.base.as_ptr() as usize
    }

    fn range(&self, offset: usize, len: usize) -> Result<*mut u8, OutOfBounds> {
        let end = offset.checked_add(len).ok_or(OutOfBounds)?;
        if end > self.len {
            return Err(OutOfBounds);
        }
        // SAFETY: offset + len <= self.len, so the result stays inside the region.
        Ok(unsafe { self.base.as_ptr().add(offset) })
    }

    /// Copies `out.len()` bytes starting at `offset` out of the region.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), OutOfBounds> {
        let src = self.range(offset, out.len())?;
        for (i, byte) in out.iter_mut().enumerate() {
            // SAFETY: `range` checked src..src + out.len() lies in the mapped region.
            *byte = unsafe { src.add(i).read_volatile() };
        }
        Ok(())
    }

    /// Copies `data` into the region at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), OutOfBounds> {
        let dst = self.range(offset, data.len())?;
        for (i, byte) in data.iter().enumerate() {
            // SAFETY: `range` checked dst..dst + data.len() lies in the mapped region.
            unsafe { dst.add(i).write_volatile(*byte) };
        }
        Ok(())
    }

    /// Reads a native-endian `u8`.
    pub fn read_u8(&self, offset: usize) -> Result<u8, OutOfBounds> {
        let mut b = [0u8; 1];
        self.read(offset, &mut b)?;
        Ok(b[0])
    }

    /// Writes a `u8`.
    pub fn write_u8(&self, offset: usize, value: u8) -> Result<(), OutOfBounds> {
        self.write(offset, &[value])
    }

    fn aligned<T>(&self, offset: usize) -> Result<*mut T, OutOfBounds> {
        let ptr = self.range(offset, size_of::<T>())?;
        if !(ptr as usize).is_multiple_of(align_of::<T>()) {
            return Err(OutOfBounds);
        }
        Ok(ptr.cast())
    }

    /// Reads a naturally aligned native-endian `u32` in one access (ring indices).
    pub fn read_u32(&self, offset: usize) -> Result<u32, OutOfBounds> {
        let ptr = self.aligned::<u32>(offset)?;
        // SAFETY: in range and aligned (checked by `aligned`).
        Ok(unsafe { ptr.read_volatile() })
    }

    /// Writes a naturally aligned native-endian `u32` in one access.
    pub fn write_u32(&self, offset: usize, value: u32) -> Result<(), OutOfBounds> {
        let ptr = self.aligned::<u32>(offset)?;
        // SAFETY: in range and aligned (checked by `aligned`).
        unsafe { ptr.write_volatile(value) };
        Ok(())
    }

    /// Reads a naturally aligned native-endian `u64` in one access.
    pub fn read_u64(&self, offset: usize) -> Result<u64, OutOfBounds> {
        let ptr = self.aligned::<u64>(offset)?;
        // SAFETY: in range and aligned (checked by `aligned`).
        Ok(unsafe { ptr.read_volatile() })
    }

    /// Atomically replaces the `u16` at `offset` with `new` if it equals `current`
    /// (grant-entry flags, which Xen updates concurrently). Returns the old value:
    /// `Ok` if it was swapped, `Err` with the value found otherwise.
    pub fn compare_exchange_u16(
        &self,
        offset: usize,
        current: u16,
        new: u16,
    ) -> Result<Result<u16, u16>, OutOfBounds> {
        let ptr = self.aligned::<u16>(offset)?;
        // SAFETY: in range and aligned; the other party only accesses the word
        // atomically or with plain aligned stores, and no Rust reference to it exists
        // besides this temporary atomic view.
        let atomic = unsafe { AtomicU16::from_ptr(ptr) };
        Ok(atomic.compare_exchange(current, new, Ordering::SeqCst, Ordering::SeqCst))
    }

    /// Atomically clears `mask` bits of the `u64` at `offset`; returns the old value
    /// (event-channel pending bitmaps, which Xen sets concurrently).
    pub fn fetch_and_u64(&self, offset: usize, mask: u64) -> Result<u64, OutOfBounds> {
        let ptr = self.aligned::<u64>(offset)?;
        // SAFETY: as in `compare_exchange_u16`.
        let atomic = unsafe { AtomicU64::from_ptr(ptr) };
        Ok(atomic.fetch_and(mask, Ordering::SeqCst))
    }
}

/// Orders earlier reads of shared memory before later ones (x86 keeps loads in
/// order, so this only stops the compiler; Xen's `rmb`).
pub fn read_barrier() {
    compiler_fence(Ordering::Acquire);
}

/// Orders earlier writes before later ones (Xen's `wmb`: on x86 a compiler barrier).
pub fn write_barrier() {
    compiler_fence(Ordering::Release);
}

/// Orders all earlier accesses before all later ones, including a store before a
/// later load (Xen's `mb`: `mfence`).
pub fn full_barrier() {
    fence(Ordering::SeqCst);
}
