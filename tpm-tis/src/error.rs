//! The driver's error type.

use core::fmt;

/// Which wait ran out of time (TIS 1.3 "Timeouts"; specs §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Wait {
    /// TIMEOUT_A: the locality was not granted.
    Locality,
    /// TIMEOUT_B: STS.commandReady did not come up.
    CommandReady,
    /// TIMEOUT_D: burstCount stayed zero.
    BurstCount,
    /// TIMEOUT_C: STS.stsValid did not come up.
    StsValid,
    /// TIMEOUT_C: STS.dataAvail did not come up while reading a response.
    DataAvail,
    /// The command's duration passed without a response (the command was aborted).
    Execution,
    /// TIMEOUT_B: the TPM did not settle after a cancel.
    Cancel,
}

/// A TIS driver failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TisError {
    /// TPM_DID_VID reads as all-ones or zero: nothing answers at this address.
    NoDevice,
    /// The configured locality is not 0..=4.
    InvalidLocality(u8),
    /// A wait passed its deadline.
    Timeout(Wait),
    /// The STS register read back as 0xFF (a value no TPM can show: tpmGo reads 0), so
    /// the locality was taken away while a command was in progress.
    LocalityLost,
    /// The command is shorter than a header, or its header size field disagrees with
    /// its length.
    MalformedCommand,
    /// The TPM stopped expecting command bytes before the whole command was written
    /// (it holds a shorter command or its buffer is full).
    ExpectCleared {
        /// Bytes written when Expect was found clear.
        written: usize,
    },
    /// The TPM still expected bytes after the last one was written.
    ExpectStillSet,
    /// The response header's size field is below the 10-byte header.
    ResponseTooShort {
        /// The size the TPM announced.
        size: u32,
    },
    /// The response does not fit the caller's buffer.
    ResponseTooLarge {
        /// The size the TPM announced.
        size: u32,
        /// The caller's buffer length.
        limit: usize,
    },
    /// dataAvail was still set after the announced response size was read.
    LeftOverData,
    /// No command is in flight (a `finish`/`cancel` without `start`), or one is and
    /// another was started.
    Sequence,
    /// The command was cancelled before the TPM answered.
    Cancelled,
    /// A TPM 1.2 capability response was an error or too short.
    BadCapability,
    /// Neither the registers nor the probe command told the TPM family.
    UnknownFamily,
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Locality => "locality grant (TIMEOUT_A)",
            Self::CommandReady => "commandReady (TIMEOUT_B)",
            Self::BurstCount => "burstCount (TIMEOUT_D)",
            Self::StsValid => "stsValid (TIMEOUT_C)",
            Self::DataAvail => "dataAvail (TIMEOUT_C)",
            Self::Execution => "command execution (duration)",
            Self::Cancel => "cancel (TIMEOUT_B)",
        })
    }
}

impl fmt::Display for TisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDevice => f.write_str("no TPM at the TIS address"),
            Self::InvalidLocality(l) => write!(f, "invalid TPM locality {l}"),
            Self::Timeout(w) => write!(f, "TPM timed out waiting for {w}"),
            Self::LocalityLost => f.write_str("TPM locality lost during a command"),
            Self::MalformedCommand => f.write_str("malformed TPM command"),
            Self::ExpectCleared { written } => {
                write!(f, "TPM stopped expecting command bytes after {written}")
            }
            Self::ExpectStillSet => f.write_str("TPM expects more bytes than the command has"),
            Self::ResponseTooShort { size } => write!(f, "TPM response size {size} too short"),
            Self::ResponseTooLarge { size, limit } => {
                write!(f, "TPM response size {size} exceeds the {limit}-byte buffer")
            }
            Self::LeftOverData => f.write_str("TPM has data left after the response"),
            Self::Sequence => f.write_str("TPM command sequence error"),
            Self::Cancelled => f.write_str("TPM command cancelled"),
            Self::BadCapability => f.write_str("TPM capability response malformed"),
            Self::UnknownFamily => f.write_str("cannot tell the TPM family"),
        }
    }
}
