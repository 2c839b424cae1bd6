//! tpmif v2 backend: serves TPM commands from any number of frontends.
//!
//! [`Tpmback`] finds vTPM devices under `backend/vtpm` (at start and by watch), runs
//! the XenbusState handshake with each frontend (specs §1.5, plus closing at once when
//! the toolstack sets `online=0`), and hands out each request as a [`Request`]: the
//! frontend `(domid, handle)`, the vTPM uuid from the backend node, the locality byte
//! and the command bytes, copied out of the shared page exactly once
//! ([`page::read_request`]). Frontends are served round-robin. Malformed requests,
//! cancels and garbage states are answered on the spot with a defined response and a
//! log line; the backend never exits or spins on bad input. See docs/drivers.md for
//! the table of answers.
//!
//! The same backend serves guests in vtpm-stubdom and vTPMs in vtpmmgr-stubdom (which
//! identifies its caller by [`Request::uuid`], specs §3.5).

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod backend;
pub mod page;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use backend::{Config, Event, FrontendInfo, ReplyTo, Request, Stats, Tpmback, WATCH_PREFIX};

use core::fmt;
use xenbus::DomainId;

/// A frontend: its domain and device handle, from the backend path
/// `backend/vtpm/<domid>/<handle>`. Ordered by (domid, handle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrontendId {
    /// The frontend's domain.
    pub domain: DomainId,
    /// The device handle (devid; 0 for a domain's first vTPM).
    pub handle: u32,
}

impl fmt::Display for FrontendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vtpm {}/{}", self.domain.0, self.handle)
    }
}

/// A vTPM's uuid: 16 bytes, in the order of its textual form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// Parses the 36-character `8-4-4-4-12` hex form libxl writes (either case).
    /// Anything else — other lengths, braces, misplaced dashes, non-hex — is refused.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return None;
        }
        let mut out = [0u8; 16];
        let mut digits = bytes.iter().enumerate().filter_map(|(i, b)| match i {
            8 | 13 | 18 | 23 => None,
            _ => Some(*b),
        });
        for (i, byte) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) != (*byte == b'-') {
                return None;
            }
        }
        for slot in &mut out {
            let high = char::from(digits.next()?).to_digit(16)?;
            let low = char::from(digits.next()?).to_digit(16)?;
            *slot = u8::try_from(high * 16 + low).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// The 10-byte TPM error responses the backend sends for requests it refuses
/// (big-endian tag, size 10, code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCodes {
    /// The response tag.
    pub tag: u16,
    /// For an empty request.
    pub bad_size: u32,
    /// For a request longer than a page or using extra pages.
    pub too_large: u32,
    /// For a response that did not fit the page.
    pub failure: u32,
}

impl ErrorCodes {
    /// TPM 1.2 (Part 2 §16): tag TPM_TAG_RSP_COMMAND (0x00C4), TPM_BAD_PARAM_SIZE
    /// (0x19), TPM_SIZE (0x17), TPM_FAIL (0x09). Also what the manager protocol uses
    /// (its return codes are TPM 1.2 codes, specs §3.1).
    pub const TPM12: Self = Self { tag: 0x00C4, bad_size: 0x19, too_large: 0x17, failure: 0x09 };
    /// TPM 2.0 (Part 2 §6.6): tag TPM_ST_NO_SESSIONS (0x8001), TPM_RC_COMMAND_SIZE
    /// (0x142) for both size errors, TPM_RC_FAILURE (0x101).
    pub const TPM20: Self = Self { tag: 0x8001, bad_size: 0x142, too_large: 0x142, failure: 0x101 };
}

/// A tpmback failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A xenbus operation failed.
    Xenbus(xenbus::Error),
    /// The connection a response was for is gone (the frontend closed or
    /// reconnected meanwhile).
    Gone,
    /// The frontend does not advertise `feature-protocol-v2 = 1`.
    ProtocolV1,
    /// A frontend node holds a value out of range.
    BadNode,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Xenbus(e) => write!(f, "{e}"),
            Self::Gone => f.write_str("frontend gone"),
            Self::ProtocolV1 => f.write_str("vTPM protocol 2 required"),
            Self::BadNode => f.write_str("frontend node out of range"),
        }
    }
}

impl From<xenbus::Error> for Error {
    fn from(e: xenbus::Error) -> Self {
        Self::Xenbus(e)
    }
}
