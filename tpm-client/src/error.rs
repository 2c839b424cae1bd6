//! The crate's error type, and names for the TPM return codes it meets.

use core::fmt;

use tpm_engine::Family;
use tpm_engine::wire::WireError;

/// Why a response of the hardware TPM was rejected before anything in it was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Fewer bytes than the 10-byte response header.
    Short {
        /// Bytes received.
        len: usize,
    },
    /// More bytes than any response this client asks for ([`crate::MAX_RESPONSE`]).
    TooLarge {
        /// Bytes received.
        len: usize,
    },
    /// The header's size field disagrees with the number of bytes received.
    SizeMismatch {
        /// The size the header announces.
        header: u32,
        /// Bytes received.
        actual: usize,
    },
    /// A response tag this command cannot be answered with.
    Tag {
        /// The tag received.
        found: u16,
    },
    /// A field runs past the end of the response or of its enclosing size field.
    Truncated,
    /// Bytes are left after the last field.
    TrailingBytes,
    /// A length field is larger than its structure allows.
    LengthTooLarge,
    /// A field holds a value the command cannot return (a handle of the wrong type, an
    /// algorithm or count other than the one asked for, a public area that is not the
    /// template sent, …).
    UnexpectedValue,
    /// A returned name is not the hash of the returned public area.
    NameMismatch,
    /// The checksum over TPM_ReadPubek's answer does not verify.
    Checksum,
}

impl From<::tpm2::types::Rc> for Malformed {
    /// A structure `tpm2::types` refused to unmarshal: running out of bytes is
    /// TPM_RC_INSUFFICIENT, an oversized length TPM_RC_SIZE, anything else a value its
    /// type does not allow.
    fn from(rc: ::tpm2::types::Rc) -> Self {
        use ::tpm2::types::Rc;
        match rc.base() {
            Rc::INSUFFICIENT => Self::Truncated,
            Rc::SIZE => Self::LengthTooLarge,
            _ => Self::UnexpectedValue,
        }
    }
}

impl From<WireError> for Malformed {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated => Self::Truncated,
            WireError::TrailingBytes => Self::TrailingBytes,
            WireError::TooLarge => Self::LengthTooLarge,
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short { len } => write!(f, "{len}-byte response is shorter than a header"),
            Self::TooLarge { len } => write!(f, "{len}-byte response is too large"),
            Self::SizeMismatch { header, actual } => {
                write!(f, "header says {header} bytes, {actual} received")
            }
            Self::Tag { found } => write!(f, "unexpected response tag {found:#06x}"),
            Self::Truncated => f.write_str("a field runs past the end of the response"),
            Self::TrailingBytes => f.write_str("trailing bytes after the response"),
            Self::LengthTooLarge => f.write_str("a length field is too large"),
            Self::UnexpectedValue => f.write_str("a field holds an unexpected value"),
            Self::NameMismatch => f.write_str("returned name does not match the public area"),
            Self::Checksum => f.write_str("checksum does not verify"),
        }
    }
}

/// A configuration value that could not be parsed or does not fit the TPM family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// An auth value is not `well-known`, `hash:<hex>` or `text:<string>`.
    AuthScheme,
    /// A `hash:` value has no digits or an odd number of them.
    HexLength,
    /// A `hash:` value has a character that is not a hex digit.
    HexDigit {
        /// Its byte offset in the hex string.
        position: usize,
    },
    /// An auth value is longer than the TPM accepts.
    AuthTooLong {
        /// The longest value accepted.
        max: usize,
        /// The value's length.
        found: usize,
    },
    /// A `hash:` value for a TPM 1.2 is not exactly one SHA-1 digest.
    AuthLength {
        /// The length needed (20).
        expected: usize,
        /// The value's length.
        found: usize,
    },
    /// `srk_handle=` is not a hexadecimal handle in the owner's persistent range
    /// (0x81000000-0x817FFFFF).
    SrkHandle,
    /// The NV counter index is not a hexadecimal handle in the NV index range
    /// (0x01000000-0x01FFFFFF).
    CounterIndex,
    /// A PCR list is not comma-separated numbers and ranges of PCRs 0-23.
    PcrList,
    /// The locality is not 0-4.
    Locality,
    /// The option is not one this crate knows.
    UnknownOption,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthScheme => {
                f.write_str("auth value must be well-known, hash:<hex> or text:<string>")
            }
            Self::HexLength => f.write_str("hash: value needs two hex digits per byte"),
            Self::HexDigit { position } => {
                write!(f, "hash: value has a non-hex digit at {position}")
            }
            Self::AuthTooLong { max, found } => {
                write!(f, "auth value of {found} bytes is longer than {max}")
            }
            Self::AuthLength { expected, found } => {
                write!(f, "auth value of {found} bytes, a TPM 1.2 needs exactly {expected}")
            }
            Self::SrkHandle => {
                f.write_str("srk_handle must be a hex handle in 0x81000000-0x817fffff")
            }
            Self::CounterIndex => {
                f.write_str("counter index must be a hex NV index in 0x01000000-0x01ffffff")
            }
            Self::PcrList => f.write_str("PCR list must be numbers or ranges of PCRs 0-23"),
            Self::Locality => f.write_str("locality must be 0-4"),
            Self::UnknownOption => f.write_str("unknown option"),
        }
    }
}

/// A [`crate::SealedRoot`] blob that could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobError {
    /// The blob ends before a field it announces.
    Truncated,
    /// Bytes are left after the last field.
    TrailingBytes,
    /// The blob does not start with the sealed-root magic.
    BadMagic,
    /// A format version this build does not read.
    UnsupportedVersion(u8),
    /// A field holds a value outside its range, or fields contradict each other.
    Malformed,
    /// The blob is larger than [`crate::MAX_SEALED_ROOT`].
    TooLarge,
}

impl From<WireError> for BlobError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated => Self::Truncated,
            WireError::TrailingBytes => Self::TrailingBytes,
            WireError::TooLarge => Self::Malformed,
        }
    }
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("sealed root truncated"),
            Self::TrailingBytes => f.write_str("trailing bytes after sealed root"),
            Self::BadMagic => f.write_str("not a sealed root (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported sealed root version {v}"),
            Self::Malformed => f.write_str("malformed sealed root"),
            Self::TooLarge => f.write_str("sealed root too large"),
        }
    }
}

/// Something this client needs that the TPM does not offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// A TPM 2.0 with neither RSA-2048 nor ECC NIST P-256 for its storage key.
    StorageAlgorithm,
    /// The SHA-256 PCR bank is not allocated for every selected PCR.
    Sha256Bank,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StorageAlgorithm => "TPM offers neither RSA-2048 nor ECC P-256 storage keys",
            Self::Sha256Bank => "TPM has no SHA-256 bank for the selected PCRs",
        })
    }
}

/// Everything that can go wrong talking to the hardware TPM. `E` is the transport's
/// error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The transport could not move the bytes.
    Transport(E),
    /// A response was rejected before use.
    Malformed {
        /// The command (TPM 2.0 command code, TPM 1.2 ordinal) it answered.
        command: u32,
        /// What was wrong with it.
        what: Malformed,
    },
    /// The TPM refused a command with a return code not covered by a variant below.
    Tpm {
        /// The TPM family, which decides what the code means.
        family: Family,
        /// The command refused.
        command: u32,
        /// The TPM's return code.
        rc: u32,
    },
    /// An authorisation value (owner, SRK, counter) is wrong.
    AuthFailed {
        /// The TPM family.
        family: Family,
        /// The command refused.
        command: u32,
        /// The TPM's return code (TPM_RC_AUTH_FAIL / TPM_RC_BAD_AUTH, TPM_AUTHFAIL /
        /// TPM_AUTH2FAIL).
        rc: u32,
    },
    /// The TPM's dictionary-attack protection is active: it refuses authorisations until
    /// its lockout time passes or the lockout is reset.
    Lockout {
        /// The TPM family.
        family: Family,
        /// The command refused.
        command: u32,
        /// The TPM's return code.
        rc: u32,
    },
    /// The selected PCRs do not hold the values the secret was sealed to.
    PcrMismatch {
        /// The TPM family.
        family: Family,
        /// The TPM's return code (TPM_RC_POLICY_FAIL, TPM_WRONGPCRVAL).
        rc: u32,
    },
    /// The command came from a locality the secret is not released to.
    LocalityMismatch {
        /// The TPM family.
        family: Family,
        /// The TPM's return code (TPM_RC_LOCALITY, TPM_BAD_LOCALITY).
        rc: u32,
    },
    /// A TPM 1.2 response's authorisation HMAC does not verify: the response was not
    /// produced by a TPM holding the secret, or was changed on the way.
    ResponseAuth {
        /// The command it answered.
        command: u32,
    },
    /// The TPM lacks something the client needs.
    Unsupported(Unsupported),
    /// A configuration value is invalid.
    Config(ConfigError),
    /// A sealed root blob is invalid.
    Blob(BlobError),
    /// The sealed root was made by a TPM of the other family.
    WrongFamily {
        /// The family that sealed it.
        blob: Family,
        /// The family of this TPM.
        tpm: Family,
    },
    /// The storage key the secret was sealed under is gone: the owner hierarchy was
    /// cleared (new owner seed) or the persistent key was replaced.
    StorageKeyChanged,
    /// The handle named by `srk_handle=` holds an object that is not a non-duplicable
    /// restricted decryption key.
    NotAStorageKey {
        /// The handle.
        handle: u32,
    },
    /// The NV index configured for the counter exists but is not the counter this
    /// client defines (wrong type, size or attributes).
    CounterIndexMismatch {
        /// The index.
        index: u32,
    },
    /// More than one TPM 1.2 monotonic counter carries the manager's label.
    CounterAmbiguous,
    /// The sealed root names a different counter than the one in use.
    CounterMismatch {
        /// The counter bound into the sealed root.
        sealed: u32,
        /// The counter this client found or was configured with.
        current: u32,
    },
    /// The secret sealed a moment ago does not unseal to the same bytes.
    SealVerifyFailed,
}

impl<E> Error<E> {
    /// The TPM's return code, if the TPM refused a command.
    pub fn tpm_rc(&self) -> Option<u32> {
        match *self {
            Self::Tpm { rc, .. }
            | Self::AuthFailed { rc, .. }
            | Self::Lockout { rc, .. }
            | Self::PcrMismatch { rc, .. }
            | Self::LocalityMismatch { rc, .. } => Some(rc),
            _ => None,
        }
    }

    /// A rejected response.
    pub(crate) fn malformed(command: u32, what: impl Into<Malformed>) -> Self {
        Self::Malformed { command, what: what.into() }
    }
}

impl<E> From<ConfigError> for Error<E> {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl<E> From<BlobError> for Error<E> {
    fn from(e: BlobError) -> Self {
        Self::Blob(e)
    }
}

impl<E> From<Unsupported> for Error<E> {
    fn from(e: Unsupported) -> Self {
        Self::Unsupported(e)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "TPM transport: {e}"),
            Self::Malformed { command, what } => {
                write!(f, "malformed response to TPM command {command:#x}: {what}")
            }
            Self::Tpm { family, command, rc } => {
                write!(f, "{family} command {command:#x} failed: ")?;
                write_rc(f, *family, *rc)
            }
            Self::AuthFailed { family, command, rc } => {
                write!(f, "{family} command {command:#x}: wrong authorisation value (")?;
                write_rc(f, *family, *rc)?;
                f.write_str(")")
            }
            Self::Lockout { family, command, rc } => {
                write!(f, "{family} command {command:#x}: dictionary-attack lockout (")?;
                write_rc(f, *family, *rc)?;
                f.write_str(")")
            }
            Self::PcrMismatch { family, rc } => {
                write!(f, "platform measurements changed since the secret was sealed ({family} ")?;
                write_rc(f, *family, *rc)?;
                f.write_str(")")
            }
            Self::LocalityMismatch { family, rc } => {
                write!(f, "secret is sealed to another TPM locality ({family} ")?;
                write_rc(f, *family, *rc)?;
                f.write_str(")")
            }
            Self::ResponseAuth { command } => {
                write!(f, "response to TPM command {command:#x} failed its authorisation check")
            }
            Self::Unsupported(u) => write!(f, "{u}"),
            Self::Config(e) => write!(f, "{e}"),
            Self::Blob(e) => write!(f, "{e}"),
            Self::WrongFamily { blob, tpm } => {
                write!(f, "root secret was sealed by a {blob}, this is a {tpm}")
            }
            Self::StorageKeyChanged => f.write_str(
                "the TPM storage key the secret was sealed under is gone (owner cleared?)",
            ),
            Self::NotAStorageKey { handle } => {
                write!(f, "handle {handle:#010x} is not a non-duplicable storage key")
            }
            Self::CounterIndexMismatch { index } => {
                write!(f, "NV index {index:#010x} exists but is not the manager's counter")
            }
            Self::CounterAmbiguous => f.write_str("several TPM counters carry the manager's label"),
            Self::CounterMismatch { sealed, current } => write!(
                f,
                "sealed root is bound to counter {sealed:#x}, the TPM's counter is {current:#x}"
            ),
            Self::SealVerifyFailed => f.write_str("freshly sealed secret did not unseal"),
        }
    }
}

/// Writes a return code with its name when known.
fn write_rc(f: &mut fmt::Formatter<'_>, family: Family, rc: u32) -> fmt::Result {
    match family {
        Family::Tpm20 => write!(f, "{}", ::tpm2::types::Rc(rc)),
        Family::Tpm12 => match tpm12_rc_name(rc) {
            Some(name) => write!(f, "{name} ({rc:#x})"),
            None => write!(f, "return code {rc:#x}"),
        },
    }
}

/// The name of a TPM 1.2 return code this client meets (TPM 1.2 Part 2 §16).
fn tpm12_rc_name(rc: u32) -> Option<&'static str> {
    Some(match rc {
        0x01 => "TPM_AUTHFAIL",
        0x02 => "TPM_BADINDEX",
        0x03 => "TPM_BAD_PARAMETER",
        0x06 => "TPM_DEACTIVATED",
        0x07 => "TPM_DISABLED",
        0x08 => "TPM_DISABLED_CMD",
        0x09 => "TPM_FAIL",
        0x0A => "TPM_BAD_ORDINAL",
        0x11 => "TPM_NOSPACE",
        0x12 => "TPM_NOSRK",
        0x13 => "TPM_NOTSEALED_BLOB",
        0x14 => "TPM_OWNER_SET",
        0x15 => "TPM_RESOURCES",
        0x18 => "TPM_WRONGPCRVAL",
        0x1D => "TPM_AUTH2FAIL",
        0x1E => "TPM_BADTAG",
        0x21 => "TPM_DECRYPT_ERROR",
        0x22 => "TPM_INVALID_AUTHHANDLE",
        0x23 => "TPM_NO_ENDORSEMENT",
        0x26 => "TPM_INVALID_POSTINIT",
        0x3B => "TPM_AUTH_CONFLICT",
        0x3D => "TPM_BAD_LOCALITY",
        0x45 => "TPM_BAD_COUNTER",
        0x800 => "TPM_RETRY",
        0x803 => "TPM_DEFEND_LOCK_RUNNING",
        _ => return None,
    })
}
