//! TIS 1.3 / PTP FIFO driver for a memory-mapped hardware TPM.
//!
//! [`Tis`] speaks the FIFO protocol of the TCG PC Client TPM Interface Specification 1.3
//! and of the PC Client Platform TPM Profile (PTP) for TPM 2.0 over two small traits:
//! [`Mmio`] (register access; the stub domain implements it with volatile accesses to
//! the pages mapped at 0xFED40000) and [`Clock`] (monotonic time and a short sleep; the
//! stub domain sleeps in SCHEDOP_poll). Everything the TPM returns is treated as
//! hostile: sizes are checked against the caller's buffer, every wait has a deadline, and
//! no register value can make the driver panic or spin forever.
//!
//! The `test-utils` feature adds `model`, a register-level TIS model with a pluggable
//! TPM behind it, used by this crate's tests and by the manager image's tests.
//!
//! See docs/tpm-tis.md for the protocol walk-through.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "test-utils")]
extern crate alloc;

mod driver;
mod error;
pub mod regs;
pub mod timing;

#[cfg(feature = "test-utils")]
pub mod model;

pub use driver::{Config, FamilyHints, Tis};
pub use error::{TisError, Wait};
pub use timing::{DurationClass, Durations, Timeouts};
pub use tpm_engine::Family;

/// Register access to the TIS window.
///
/// `offset` is relative to the start of locality 0's page and lies in
/// `0..regs::WINDOW_SIZE`; the driver only touches the page of the locality it was
/// configured with, so an implementation may map just that page. Implementations must
/// perform exactly one device access per call (volatile, no caching, no merging):
/// TPM_DATA_FIFO reads and writes move the FIFO.
pub trait Mmio {
    /// Reads one byte.
    fn read_u8(&mut self, offset: usize) -> u8;
    /// Reads a 32-bit little-endian register.
    fn read_u32(&mut self, offset: usize) -> u32;
    /// Writes one byte.
    fn write_u8(&mut self, offset: usize, value: u8);
    /// Writes a 32-bit little-endian register.
    fn write_u32(&mut self, offset: usize, value: u32);
}

/// A monotonic time source with a way to wait a little.
pub trait Clock {
    /// Nanoseconds since an arbitrary origin; never decreases.
    fn now_ns(&self) -> u64;
    /// Waits about `ns` nanoseconds (may return early, e.g. on an event; the driver
    /// re-checks its condition and its deadline after every call).
    fn sleep_ns(&mut self, ns: u64);
}
