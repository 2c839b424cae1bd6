//! The toolkit's error type.

use crate::platform::{OutOfBounds, PlatformError};
use crate::ring::RingError;
use crate::wire::{StoreErrno, WireError};
use core::fmt;

/// A xenbus failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// xenstored refused the request (an XS_ERROR reply).
    Store(StoreErrno),
    /// xenstored broke the wire protocol; the connection is unusable from now on.
    Wire(WireError),
    /// A wait passed its deadline.
    Timeout,
    /// A request the client refuses to send: payload over 4096 bytes, a NUL inside a
    /// path or value, a token already in use.
    InvalidArgument,
    /// A node's value is not what was asked for (not UTF-8, not a number in range).
    BadValue,
    /// A shared-memory access fell outside its region.
    OutOfBounds,
    /// Every grant-table entry is in use.
    GrantTableFull,
    /// A page's machine frame does not fit a version-1 grant entry (32 bits).
    FrameTooLarge,
    /// The peer's ring indices are impossible (more entries than slots).
    Ring(RingError),
    /// A hypercall failed.
    Platform(PlatformError),
}

/// Result of a xenbus operation.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// True for the "no such node" error, which callers often treat as "absent".
    pub fn is_no_entry(self) -> bool {
        self == Self::Store(StoreErrno::NoEntry)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "xenstore: {e}"),
            Self::Wire(e) => write!(f, "xenstore protocol: {e}"),
            Self::Timeout => f.write_str("timed out"),
            Self::InvalidArgument => f.write_str("invalid xenstore request"),
            Self::BadValue => f.write_str("unexpected xenstore value"),
            Self::OutOfBounds => f.write_str("shared memory access out of bounds"),
            Self::GrantTableFull => f.write_str("grant table full"),
            Self::FrameTooLarge => f.write_str("frame number too large for a grant entry"),
            Self::Ring(e) => write!(f, "shared ring: {e}"),
            Self::Platform(e) => write!(f, "{e}"),
        }
    }
}

impl From<StoreErrno> for Error {
    fn from(e: StoreErrno) -> Self {
        Self::Store(e)
    }
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        Self::Wire(e)
    }
}

impl From<OutOfBounds> for Error {
    fn from(_: OutOfBounds) -> Self {
        Self::OutOfBounds
    }
}

impl From<PlatformError> for Error {
    fn from(e: PlatformError) -> Self {
        Self::Platform(e)
    }
}

impl From<RingError> for Error {
    fn from(e: RingError) -> Self {
        Self::Ring(e)
    }
}
