//! tpmif v2 frontend: one request/response channel to a TPM backend.
//!
//! vtpm-stubdom talks to the manager through this (specs §3.1): the device node is
//! `device/vtpm/0` by default, the handshake is Mini-OS's (§1.5: publish `ring-ref`,
//! `event-channel` and `feature-protocol-v2` in one transaction, switch straight to
//! Connected, wait for the backend's Connected and its `feature-protocol-v2 = 1`), so
//! it works with the Mini-OS backend and with `tpmback`. Every wait has a deadline. If
//! the backend goes away or restarts, the channel is torn down and built again with a
//! fresh page on the next call ([`Tpmfront::transact`] reconnects first).

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod frontend;
pub mod page;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use frontend::{DEFAULT_NODE, Tpmfront, WATCH_PREFIX};

use core::fmt;

/// A tpmfront failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A xenbus operation failed.
    Xenbus(xenbus::Error),
    /// The device node lacks `backend-id` or `backend`, or they are malformed.
    NoBackend,
    /// The backend does not advertise `feature-protocol-v2 = 1`.
    ProtocolV1,
    /// The handshake did not complete, or the request was not answered, by the
    /// deadline. A request in flight was cancelled.
    Timeout,
    /// The backend went away while a request was in flight.
    Disconnected,
    /// The backend answered IDLE: it cancelled the request.
    Cancelled,
    /// The command is empty or longer than the 4088 bytes a page holds.
    CommandSize(usize),
    /// The backend's response header is invalid (length 0 or over 4088, or an
    /// unknown state).
    BadResponse,
    /// A request is already in flight.
    Busy,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Xenbus(e) => write!(f, "{e}"),
            Self::NoBackend => f.write_str("no usable backend in the device node"),
            Self::ProtocolV1 => f.write_str("vTPM protocol 2 required"),
            Self::Timeout => f.write_str("timed out"),
            Self::Disconnected => f.write_str("backend disconnected"),
            Self::Cancelled => f.write_str("request cancelled by the backend"),
            Self::CommandSize(len) => write!(f, "command of {len} bytes does not fit the page"),
            Self::BadResponse => f.write_str("invalid response from the backend"),
            Self::Busy => f.write_str("a request is already in flight"),
        }
    }
}

impl From<xenbus::Error> for Error {
    fn from(e: xenbus::Error) -> Self {
        Self::Xenbus(e)
    }
}
