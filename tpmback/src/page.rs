//! The tpmif v2 shared page (io/tpmif.h, specs §1.2–1.3): reading a request, writing
//! a response.
//!
//! The frontend may rewrite the page at any moment, so every field is fetched exactly
//! once: the state byte first, then (after a read barrier, since the frontend stores
//! the length and data before the state) the rest of the header into a local, which
//! is validated, then the command bytes in one copy. Nothing after the copy looks at
//! the page again.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use xenbus::abi::tpmif::{
    DATA, LENGTH, LOCALITY, MAX_PACKET, STATE, STATE_CANCEL, STATE_FINISH, STATE_IDLE, STATE_SUBMIT,
};
use xenbus::{OutOfBounds, PeerMemory};

/// Why a submitted request is refused (answered with an error response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// `nr_extra_pages` is not 0: multi-page packets were specified but never
    /// implemented by anyone (specs §1.2); the data would not even start at offset 8.
    ExtraPages(u8),
    /// `length` is 0: there is no command.
    Empty,
    /// `length` exceeds the 4088 bytes a page holds after the header.
    TooLong(u32),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExtraPages(n) => {
                write!(f, "nr_extra_pages = {n} (multi-page packets unsupported)")
            }
            Self::Empty => f.write_str("empty request"),
            Self::TooLong(len) => write!(f, "request of {len} bytes exceeds {MAX_PACKET}"),
        }
    }
}

/// What the page holds, as seen by one read of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// IDLE or FINISH: nothing for the backend (a spurious notification, or the
    /// frontend has not read our response yet).
    Nothing,
    /// CANCEL with no request in flight: answered with IDLE (specs §1.3).
    Cancel,
    /// A request, copied out.
    Request {
        /// The `locality` byte (Linux always sends 0, specs §2.2).
        locality: u8,
        /// The command bytes.
        command: Vec<u8>,
    },
    /// SUBMIT with a header that breaks the rules.
    Invalid(Invalid),
    /// A state value no frontend writes (4..=255).
    BadState(u8),
}

/// Reads what the frontend put in the page, fetching each field once.
pub fn read_request(page: &impl PeerMemory) -> Result<Parsed, OutOfBounds> {
    match page.read_u8(STATE)? {
        STATE_IDLE | STATE_FINISH => return Ok(Parsed::Nothing),
        STATE_CANCEL => return Ok(Parsed::Cancel),
        STATE_SUBMIT => {}
        other => return Ok(Parsed::BadState(other)),
    }
    // tpmif.h: the frontend writes length and data, then (after a barrier) SUBMIT.
    page.acquire_fence();
    let length = page.read_u32(LENGTH)?;
    // locality, pad, nr_extra_pages in one copy. `pad` "should be zero" but nobody
    // checks it; neither do we.
    let mut rest = [0u8; DATA - LOCALITY];
    page.read(LOCALITY, &mut rest)?;
    let [locality, _pad, nr_extra_pages] = rest;
    if nr_extra_pages != 0 {
        return Ok(Parsed::Invalid(Invalid::ExtraPages(nr_extra_pages)));
    }
    let Ok(len) = usize::try_from(length) else {
        return Ok(Parsed::Invalid(Invalid::TooLong(length)));
    };
    if len == 0 {
        return Ok(Parsed::Invalid(Invalid::Empty));
    }
    if len > MAX_PACKET {
        return Ok(Parsed::Invalid(Invalid::TooLong(length)));
    }
    let mut command = vec![0u8; len];
    page.read(DATA, &mut command)?;
    Ok(Parsed::Request { locality, command })
}

/// A response whose length was checked: 1..=4088 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a>(&'a [u8]);

impl<'a> Response<'a> {
    /// Accepts `bytes` if they fit the page after the header.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (!bytes.is_empty() && bytes.len() <= MAX_PACKET).then_some(Self(bytes))
    }

    /// The bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// Publishes a response: data, length, barrier, FINISH (specs §1.3, backend step 3).
/// The caller notifies the frontend afterwards.
pub fn write_response(page: &impl PeerMemory, response: Response<'_>) -> Result<(), OutOfBounds> {
    let length = u32::try_from(response.0.len()).map_err(|_| OutOfBounds)?;
    page.write(DATA, response.0)?;
    page.write_u32(LENGTH, length)?;
    page.release_fence();
    page.write_u8(STATE, STATE_FINISH)?;
    page.full_fence();
    Ok(())
}

/// Sets the page to IDLE (a cancel completed, or a state value we refuse).
pub fn write_idle(page: &impl PeerMemory) -> Result<(), OutOfBounds> {
    page.write_u8(STATE, STATE_IDLE)?;
    page.full_fence();
    Ok(())
}

/// Builds a 10-byte TPM error response: tag, size 10, code (all big-endian, TPM 1.2
/// Part 1 / TPM 2.0 Part 1 response header).
pub fn error_response(tag: u16, code: u32) -> [u8; 10] {
    let mut out = [0u8; 10];
    let (tag_bytes, rest) = out.split_at_mut(2);
    tag_bytes.copy_from_slice(&tag.to_be_bytes());
    let (size, code_bytes) = rest.split_at_mut(4);
    size.copy_from_slice(&10u32.to_be_bytes());
    code_bytes.copy_from_slice(&code.to_be_bytes());
    out
}
