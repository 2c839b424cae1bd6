//! Xen block frontend: read, write and flush the domain's disk.
//!
//! [`Blkfront`] finds the domain's disks under `device/vbd` ([`discover`]), connects
//! with the Linux blkfront handshake (io/blkif.h: ring and event channel published in
//! one transaction, Initialised, then the backend's `sectors`, `info`,
//! `sector-size` and flush features once it is Connected), and offers byte-addressed
//! [`read`](Blkfront::read), [`write`](Blkfront::write) (read-modify-write of partial
//! blocks) and [`flush`](Blkfront::flush). Large transfers are split into requests of
//! up to 11 pages that are kept in flight together; completions may come back in any
//! order. Every wait has a deadline; a backend that fails, closes or goes silent gives
//! the caller an error, never a hang, and the connection is rebuilt on the next call.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod frontend;
pub mod selftest;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use frontend::{Blkfront, Config, DiskInfo, Flush, WATCH_PREFIX, discover};

use core::fmt;

/// A blkfront failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A xenbus operation failed.
    Xenbus(xenbus::Error),
    /// The device node lacks `backend-id` or `backend`, or they are malformed.
    NoBackend,
    /// The backend's parameters are missing or unusable (no `sectors`, a
    /// `sector-size` that is not a power of two in 512..=4096).
    BadBackend,
    /// The handshake or a request did not complete by the deadline. The connection
    /// was given up; the next call reconnects.
    Timeout,
    /// The backend closed or vanished while requests were in flight.
    Disconnected,
    /// The backend answered BLKIF_RSP_ERROR.
    Io,
    /// The backend refused a flush or barrier (BLKIF_RSP_EOPNOTSUPP).
    Unsupported,
    /// The range lies (partly) beyond the end of the disk.
    OutOfRange,
    /// The disk is read-only (VDISK_READONLY).
    ReadOnly,
    /// The backend broke the ring protocol (unknown request id, impossible index).
    Protocol,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Xenbus(e) => write!(f, "{e}"),
            Self::NoBackend => f.write_str("no usable backend in the device node"),
            Self::BadBackend => f.write_str("unusable backend parameters"),
            Self::Timeout => f.write_str("timed out"),
            Self::Disconnected => f.write_str("backend disconnected"),
            Self::Io => f.write_str("I/O error reported by the backend"),
            Self::Unsupported => f.write_str("operation not supported by the backend"),
            Self::OutOfRange => f.write_str("access beyond the end of the disk"),
            Self::ReadOnly => f.write_str("disk is read-only"),
            Self::Protocol => f.write_str("backend broke the ring protocol"),
        }
    }
}

impl From<xenbus::Error> for Error {
    fn from(e: xenbus::Error) -> Self {
        Self::Xenbus(e)
    }
}
