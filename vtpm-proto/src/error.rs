//! Why a message was refused, and what the manager answers for it.

use crate::{ReturnCode, ordinal};
use core::fmt;

/// Everything that can go wrong parsing or building a manager-protocol message.
///
/// Request-side variants map to the TPM 1.2 code the manager must answer with
/// ([`Error::return_code`]); [`crate::reject`] builds that answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The answer does not fit the caller's buffer.
    BufferTooSmall {
        /// Bytes the whole message needs.
        needed: usize,
    },
    /// A message body's length is not one its ordinal allows.
    BodyLength {
        /// The ordinal (request) or the ordinal answered (response).
        ordinal: u32,
        /// The body length found.
        len: usize,
    },
    /// A management ordinal that is not one the protocol defines, or a vTPM ordinal
    /// other than 1–4.
    BadOrdinal {
        /// The request's tag.
        tag: u16,
        /// The ordinal.
        ordinal: u32,
    },
    /// An unknown structure tag.
    BadTag(u16),
    /// GET_QUOTE flags with bits other than the four `VTPM_QUOTE_FLAGS_*`.
    BadQuoteFlags(u32),
    /// Key material shorter than 52 or longer than 64 bytes.
    HashkeyLength {
        /// The length given.
        len: usize,
    },
    /// A message would exceed [`crate::MAX_MESSAGE`] (a VTPM_LIST answer with too many
    /// UUIDs, GetRandom with too many bytes, a PCR selection too large).
    MessageTooLarge,
    /// A management ordinal the C manager defines but our manager does not implement
    /// (groups, VTPM_SHOW/EDIT, the hardware-TPM management commands).
    NotSupported(u32),
    /// A passthrough ordinal the manager does not forward to the hardware TPM (only
    /// GetRandom, PcrRead and Extend are allowed, spec §3.3).
    PassthroughDisabled(u32),
    /// The header's size field is not the message length.
    SizeMismatch {
        /// The size field.
        declared: u32,
        /// The message length.
        len: usize,
    },
    /// The manager answered with this error code.
    Status(ReturnCode),
    /// The message is longer than one tpmif page can carry.
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The message is shorter than its 10-byte header.
    TooShort {
        /// Its length.
        len: usize,
    },
    /// Bytes were left after the last field.
    TrailingBytes,
    /// The body ended inside a field.
    Truncated,
    /// A response carries a tag that does not answer the request sent.
    UnexpectedTag(u16),
}

impl Error {
    /// The TPM 1.2 code the manager answers a request refused for this reason with.
    /// Follows the C manager wherever it has a rule (spec §3.1–3.4): short requests,
    /// malformed bodies → TPM_BAD_PARAMETER; unknown ordinals → TPM_BAD_ORDINAL;
    /// unknown tags → TPM_BADTAG; disallowed passthrough → TPM_DISABLED_CMD.
    pub fn return_code(&self) -> ReturnCode {
        match self {
            Self::TooShort { .. }
            | Self::BodyLength { .. }
            | Self::Truncated
            | Self::TrailingBytes
            | Self::BadQuoteFlags(_)
            | Self::HashkeyLength { .. } => ReturnCode::BAD_PARAMETER,
            Self::SizeMismatch { .. } => ReturnCode::BAD_PARAM_SIZE,
            Self::TooLong { .. } | Self::MessageTooLarge | Self::BufferTooSmall { .. } => {
                ReturnCode::SIZE
            }
            Self::BadTag(_) => ReturnCode::BADTAG,
            Self::BadOrdinal { .. } | Self::NotSupported(_) => ReturnCode::BAD_ORDINAL,
            Self::PassthroughDisabled(_) => ReturnCode::DISABLED_CMD,
            Self::Status(code) => *code,
            Self::UnexpectedTag(_) => ReturnCode::FAIL,
        }
    }

    /// True if the C manager rejects this before dispatching to a command handler,
    /// which decides the answer's tag ([`crate::reply_tag`]).
    pub(crate) fn is_dispatch_level(&self) -> bool {
        matches!(
            self,
            Self::TooShort { .. }
                | Self::TooLong { .. }
                | Self::SizeMismatch { .. }
                | Self::BadTag(_)
                | Self::BadOrdinal { .. }
                | Self::NotSupported(_)
                | Self::PassthroughDisabled(_)
        )
    }
}

/// A short name for an ordinal in messages.
fn ordinal_name(ordinal: u32) -> Option<&'static str> {
    Some(match ordinal {
        ordinal::SAVEHASHKEY => "SAVEHASHKEY",
        ordinal::LOADHASHKEY => "LOADHASHKEY",
        ordinal::GET_BOOT_HASH => "GET_BOOT_HASH",
        ordinal::GET_QUOTE => "GET_QUOTE",
        ordinal::TPM_EXTEND => "TPM_Extend",
        ordinal::TPM_PCR_READ => "TPM_PcrRead",
        ordinal::TPM_GET_RANDOM => "TPM_GetRandom",
        ordinal::VTPM_LIST => "VTPM_LIST",
        ordinal::VTPM_NEW => "VTPM_NEW",
        ordinal::VTPM_DEL => "VTPM_DEL",
        _ => return None,
    })
}

/// Displays an ordinal by name when it has one.
struct Ordinal(u32);

impl fmt::Display for Ordinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match ordinal_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "ordinal {:#x}", self.0),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small ({needed} bytes needed)")
            }
            Self::BodyLength { ordinal, len } => {
                write!(f, "{}: body of {len} bytes not allowed", Ordinal(ordinal))
            }
            Self::BadOrdinal { tag, ordinal } => {
                write!(f, "unknown ordinal {ordinal:#x} for tag {tag:#06x}")
            }
            Self::BadTag(tag) => write!(f, "unknown tag {tag:#06x}"),
            Self::BadQuoteFlags(flags) => write!(f, "GET_QUOTE: unknown flags {flags:#x}"),
            Self::HashkeyLength { len } => {
                write!(f, "key material of {len} bytes (52 to 64 allowed)")
            }
            Self::MessageTooLarge => write!(f, "message exceeds {} bytes", crate::MAX_MESSAGE),
            Self::NotSupported(ordinal) => {
                write!(f, "management ordinal {ordinal:#x} is not supported")
            }
            Self::PassthroughDisabled(ordinal) => {
                write!(f, "passthrough of {} is not allowed", Ordinal(ordinal))
            }
            Self::SizeMismatch { declared, len } => {
                write!(f, "size field says {declared} bytes, message has {len}")
            }
            Self::Status(code) => write!(f, "manager answered {code}"),
            Self::TooLong { len } => {
                write!(f, "message of {len} bytes exceeds {}", crate::MAX_MESSAGE)
            }
            Self::TooShort { len } => write!(f, "message of {len} bytes is shorter than a header"),
            Self::TrailingBytes => f.write_str("trailing bytes after the last field"),
            Self::Truncated => f.write_str("message ends inside a field"),
            Self::UnexpectedTag(tag) => write!(f, "unexpected response tag {tag:#06x}"),
        }
    }
}
