//! The store's error type.

use core::fmt;

/// A block-device failure, as the device reports it (blkif status or errno-like code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceError(pub i32);

/// A monotonic-counter failure, as the counter reports it (e.g. a TPM response code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CounterError(pub u32);

/// A key-store failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The block device failed.
    Device(DeviceError),
    /// The monotonic counter failed. After a failed increment the change is on disk but
    /// not yet protected against rollback: do not acknowledge it; the next operation
    /// retries the increment first.
    Counter(CounterError),
    /// The disk is blank (all zero): format it.
    Blank,
    /// The disk is not blank and not a store image; it is never formatted unless the
    /// caller asks for it explicitly.
    NotAStore,
    /// The disk holds a C vtpmmgr image (magic `TPM\xfeMGR\xddDOM\0`); see
    /// docs/manager-disk.md for the manual migration.
    CVtpmmgrImage {
        /// The C format's version field.
        version: u32,
    },
    /// A root slot has this crate's magic but a format version this build does not read.
    UnsupportedVersion(u16),
    /// No root slot authenticates under the given secret (wrong secret, or both roots
    /// damaged). Never reformatted silently.
    AuthenticationFailed,
    /// The newest valid root is older than the monotonic counter: a replayed image.
    RolledBack {
        /// The counter value the root is bound to.
        root_counter: u64,
        /// The hardware counter.
        counter: u64,
    },
    /// The newest valid root is more than one step ahead of the counter: the counter
    /// was reset or belongs to another TPM. Recover explicitly with
    /// `OpenOptions::rebind_counter`.
    CounterBehind {
        /// The counter value the root is bound to.
        root_counter: u64,
        /// The hardware counter.
        counter: u64,
    },
    /// The counter moved to an unexpected value when incremented (someone else
    /// increments it).
    CounterOutOfStep {
        /// The value the store expected.
        expected: u64,
        /// The value the counter reported.
        actual: u64,
    },
    /// A tree sector failed authentication (tampered, stale or flipped bits).
    SectorAuthFailed {
        /// The sector.
        sector: u32,
    },
    /// An authenticated tree sector or root is structurally invalid.
    Malformed {
        /// The sector.
        sector: u32,
    },
    /// No free sector is left for the change.
    Full,
    /// Key data longer than 64 bytes.
    KeyTooLong,
    /// Sealed blob longer than the root's 1024-byte field.
    SealedBlobTooLarge,
    /// The device is too small (fewer than 3 sectors of 4096 bytes).
    DeviceTooSmall,
    /// The disk already holds something and overwriting was not requested.
    NotBlank,
    /// The store was opened read-only.
    ReadOnly,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "block device error {}", self.0)
    }
}

impl fmt::Display for CounterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "monotonic counter error {:#x}", self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Device(e) => write!(f, "{e}"),
            Self::Counter(e) => write!(f, "{e}"),
            Self::Blank => f.write_str("manager disk is blank"),
            Self::NotAStore => f.write_str("manager disk holds something that is not a key store"),
            Self::CVtpmmgrImage { version } => {
                write!(f, "manager disk is a C vtpmmgr image (version {version})")
            }
            Self::UnsupportedVersion(v) => write!(f, "unsupported key store format version {v}"),
            Self::AuthenticationFailed => {
                f.write_str("no key store root authenticates (wrong secret or damaged disk)")
            }
            Self::RolledBack { root_counter, counter } => write!(
                f,
                "key store image is older than the counter (root {root_counter}, counter {counter}): replayed image"
            ),
            Self::CounterBehind { root_counter, counter } => write!(
                f,
                "monotonic counter {counter} is behind the key store (root {root_counter})"
            ),
            Self::CounterOutOfStep { expected, actual } => {
                write!(f, "monotonic counter moved to {actual}, expected {expected}")
            }
            Self::SectorAuthFailed { sector } => {
                write!(f, "key store sector {sector} failed authentication")
            }
            Self::Malformed { sector } => write!(f, "key store sector {sector} is malformed"),
            Self::Full => f.write_str("key store is full"),
            Self::KeyTooLong => f.write_str("key data longer than 64 bytes"),
            Self::SealedBlobTooLarge => f.write_str("sealed blob larger than 1024 bytes"),
            Self::DeviceTooSmall => f.write_str("manager disk too small"),
            Self::NotBlank => f.write_str("manager disk is not blank"),
            Self::ReadOnly => f.write_str("key store opened read-only"),
        }
    }
}

impl From<DeviceError> for Error {
    fn from(e: DeviceError) -> Self {
        Self::Device(e)
    }
}
