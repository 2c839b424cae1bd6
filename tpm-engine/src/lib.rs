//! The contract between a software TPM engine and the transport that feeds it.
//!
//! An engine is a pure state machine: bytes in, bytes out, plus state blobs. It knows
//! nothing about Xen, sockets or disks. The carriers are the vtpm-stubdom command loop
//! (tpmback → engine → state store → response) and `vtpm-tool serve` (swtpm's socket
//! protocol). Both hold the engine as `Box<dyn TpmEngine>`, so the trait stays object
//! safe.
//!
//! Rules every implementation keeps:
//! - `execute` never panics and always returns a complete, well-formed response
//!   (10-byte header whose size field equals the response length), whatever the input.
//! - Randomness comes only from the [`Drbg`] the caller seeded.
//! - State blobs are deterministic (same state → same bytes) and versioned; loading a
//!   malformed, truncated or foreign blob fails with [`StateError`] and leaves the
//!   engine unchanged.
//! - Secrets held by the engine are zeroized when dropped.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod drbg;
pub mod envelope;
pub mod wire;

use alloc::vec::Vec;
use core::fmt;

pub use drbg::Drbg;
use zeroize::Zeroizing;

/// Which TPM specification an engine implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Family {
    /// TCG TPM Main Specification 1.2 (rev 116).
    Tpm12 = 1,
    /// TCG TPM 2.0 Library Specification.
    Tpm20 = 2,
}

impl Family {
    /// The wire value used in state envelopes.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Parses a wire value.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Tpm12),
            2 => Some(Self::Tpm20),
            _ => None,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tpm12 => "TPM 1.2",
            Self::Tpm20 => "TPM 2.0",
        })
    }
}

/// What the carrier knows about one command besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecContext {
    /// The locality the command arrived at: the tpmif page's `locality` byte, or the
    /// swtpm control channel's CMD_SET_LOCALITY. Not validated by the carrier: the
    /// engine answers a locality it does not support with its bad-locality error.
    pub locality: u8,
    /// Monotonic milliseconds from an arbitrary origin; never decreases during the
    /// life of one engine object. Drives TPM 2.0 Clock/Time and TPM 1.2 ticks.
    pub now_ms: u64,
}

/// Which parts of the engine's state changed since the last [`TpmEngine::clear_dirty`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dirty {
    /// State a real TPM keeps in NV changed (owner, seeds, NV indices, counters,
    /// persistent objects, dictionary-attack state, ...).
    pub permanent: bool,
    /// State a real TPM loses at power-off changed (PCRs, sessions, loaded objects).
    pub volatile: bool,
}

impl Dirty {
    /// True if anything changed.
    pub fn any(self) -> bool {
        self.permanent || self.volatile
    }
}

/// The kinds of state blob an engine exports and imports. The numbering matches
/// swtpm's control channel (`PTM_BLOB_TYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum StateKind {
    /// What a real TPM keeps in non-volatile memory.
    Permanent = 1,
    /// A snapshot of the running TPM's RAM (PCRs, sessions, loaded objects, whether
    /// Startup ran), so that it can resume exactly where it stopped. Only meaningful
    /// together with the permanent blob taken at the same moment.
    Volatile = 2,
    /// The data an orderly TPM_SaveState / TPM2_Shutdown(STATE) stored for a later
    /// Startup(STATE).
    SaveState = 3,
}

impl StateKind {
    /// Parses swtpm's blob type number.
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Self::Permanent),
            2 => Some(Self::Volatile),
            3 => Some(Self::SaveState),
            _ => None,
        }
    }
}

/// Why a state blob was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// The blob ended before a field it announced.
    Truncated,
    /// Bytes were left after the last field.
    TrailingBytes,
    /// The blob does not start with the expected magic.
    BadMagic,
    /// The blob's format version is not one this build reads.
    UnsupportedVersion(u16),
    /// The blob belongs to the other TPM family.
    WrongFamily {
        /// The family recorded in the blob.
        found: Family,
    },
    /// A field holds a value outside its allowed range, or fields contradict each
    /// other.
    Malformed,
    /// The engine has no blob of that kind (e.g. no SaveState was ever taken).
    NotAvailable,
    /// A volatile blob was offered that does not belong to the loaded permanent state.
    Inconsistent,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("state blob truncated"),
            Self::TrailingBytes => f.write_str("trailing bytes after state blob"),
            Self::BadMagic => f.write_str("not a state blob (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported state format version {v}"),
            Self::WrongFamily { found } => write!(f, "state blob is for a {found} engine"),
            Self::Malformed => f.write_str("malformed state blob"),
            Self::NotAvailable => f.write_str("no state of that kind"),
            Self::Inconsistent => f.write_str("volatile state does not match permanent state"),
        }
    }
}

impl From<wire::WireError> for StateError {
    fn from(e: wire::WireError) -> Self {
        match e {
            wire::WireError::Truncated => Self::Truncated,
            wire::WireError::TrailingBytes => Self::TrailingBytes,
            wire::WireError::TooLarge => Self::Malformed,
        }
    }
}

/// A software TPM.
///
/// Lifecycle, as a carrier drives it: construct (each engine crate has its own
/// constructors, which take a [`Drbg`]), optionally load state blobs, [`init`]
/// (the platform's _TPM_Init), then commands — the first of which must be a Startup,
/// sent by the client (swtpm semantics) or by the carrier itself (vtpm-stubdom, since
/// Linux's xen-tpmfront never sends one).
///
/// [`init`]: TpmEngine::init
pub trait TpmEngine {
    /// The specification this engine implements.
    fn family(&self) -> Family;

    /// _TPM_Init: the platform was reset. Volatile state is reset as the
    /// specification says (a pending SaveState is kept for Startup(STATE)); the next
    /// command must be a Startup.
    fn init(&mut self);

    /// Executes one command and returns its complete response. Never panics: any
    /// input, however malformed, gets the error response the specification names.
    fn execute(&mut self, context: ExecContext, command: &[u8]) -> Vec<u8>;

    /// What changed since the last [`clear_dirty`](TpmEngine::clear_dirty).
    fn dirty(&self) -> Dirty;

    /// True if persistent (NV-class) state changed since the last `clear_dirty`.
    fn is_dirty(&self) -> bool {
        self.dirty().permanent
    }

    /// Forgets the dirty flags (the carrier saved the state).
    fn clear_dirty(&mut self);

    /// Serialises one kind of state. Deterministic: equal states give equal bytes.
    fn save_state(&self, kind: StateKind) -> Result<Zeroizing<Vec<u8>>, StateError>;

    /// Replaces one kind of state. On error the engine is unchanged. Loading
    /// [`StateKind::Permanent`] discards the volatile state (as a power cycle would);
    /// load the permanent blob first, then the volatile one.
    fn load_state(&mut self, kind: StateKind, blob: &[u8]) -> Result<(), StateError>;

    /// Mixes caller-provided entropy into the engine's DRBG (TPM_StirRandom's
    /// platform-side twin; the stub domain feeds hardware TPM randomness here).
    fn reseed(&mut self, entropy: &[u8]);

    /// The largest command and response this engine accepts and produces, in bytes.
    fn buffer_size(&self) -> usize;

    /// Asks for a different buffer size (swtpm CMD_SET_BUFFERSIZE; the stub domain
    /// asks for 4088, the tpmif page limit). Returns the size now in force, clamped
    /// to what the engine supports.
    fn set_buffer_size(&mut self, requested: usize) -> usize;

    /// The TPM's "established" flag (TPM_ACCESS.tpmEstablishment; set by a dynamic
    /// launch sequence).
    fn established(&self) -> bool;

    /// Clears the established flag. Only allowed from locality 3 or 4; returns
    /// false (and changes nothing) otherwise.
    fn reset_established(&mut self, locality: u8) -> bool;

    /// _TPM_Hash_Start: a dynamic root of trust measurement begins (locality 4).
    fn hash_start(&mut self);

    /// _TPM_Hash_Data: more data for the measurement started by `hash_start`.
    fn hash_data(&mut self, data: &[u8]);

    /// _TPM_Hash_End: the measurement is extended into the DRTM PCR.
    fn hash_end(&mut self);
}
