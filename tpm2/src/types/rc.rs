//! TPM 2.0 response codes (TPM 2.0 Part 2 §6.6), with format-one numbering.

use core::fmt;
use tpm_engine::wire::WireError;

/// A `TPM_RC`: the code a response carries. Format-one codes (bit 7 set) can name the
/// handle, parameter or session they concern (Part 2 §6.6.3); [`Rc::handle`],
/// [`Rc::param`] and [`Rc::session`] add that number the way the reference
/// implementation's `RcSafeAddToResult` does (format-zero codes stay unchanged).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rc(pub u32);

/// The result type of everything that can fail with a TPM response code.
pub type TpmResult<T> = Result<T, Rc>;

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl Rc {
            $($(#[$doc])* pub const $name: Rc = Rc($value);)*
        }
        /// The name of a code without its number, for diagnostics.
        fn base_name(code: u32) -> Option<&'static str> {
            $(if code == $value {
                return Some(stringify!($name));
            })*
            None
        }
    };
}

const VER1: u32 = 0x100;
const FMT1: u32 = 0x080;
const WARN: u32 = 0x900;

codes! {
    /// The command succeeded.
    SUCCESS = 0x000;
    /// The tag is not a TPM 2.0 command tag (also what a TPM 1.2 command gets).
    BAD_TAG = 0x01E;
    /// TPM not initialized by TPM2_Startup or already initialized.
    INITIALIZE = VER1;
    /// Commands not being accepted because of a TPM failure.
    FAILURE = VER1 + 0x001;
    /// Improper use of a sequence handle.
    SEQUENCE = VER1 + 0x003;
    /// Not currently used.
    PRIVATE = VER1 + 0x00B;
    /// Not currently used.
    HMAC = VER1 + 0x019;
    /// The command is disabled.
    DISABLED = VER1 + 0x020;
    /// Command failed because audit sequence required exclusivity.
    EXCLUSIVE = VER1 + 0x021;
    /// Authorization handle is not correct for the command.
    AUTH_TYPE = VER1 + 0x024;
    /// Command requires an authorization session for a handle and it is not present.
    AUTH_MISSING = VER1 + 0x025;
    /// Policy failure in math operation or an invalid authPolicy value.
    POLICY = VER1 + 0x026;
    /// PCR check fail.
    PCR = VER1 + 0x027;
    /// PCR have changed since checked.
    PCR_CHANGED = VER1 + 0x028;
    /// The TPM is in field upgrade mode.
    UPGRADE = VER1 + 0x02D;
    /// Context ID counter is at maximum.
    TOO_MANY_CONTEXTS = VER1 + 0x02E;
    /// authValue or authPolicy is not available for the selected entity.
    AUTH_UNAVAILABLE = VER1 + 0x02F;
    /// A _TPM_Init and Startup(CLEAR) is required before the TPM can resume operation.
    REBOOT = VER1 + 0x030;
    /// The protection algorithms (hash and symmetric) are not reasonably balanced.
    UNBALANCED = VER1 + 0x031;
    /// commandSize is inconsistent with the contents of the command buffer.
    COMMAND_SIZE = VER1 + 0x042;
    /// Command code not supported.
    COMMAND_CODE = VER1 + 0x043;
    /// The value of authorizationSize is out of range.
    AUTHSIZE = VER1 + 0x044;
    /// Use of an authorization session with a context command, or another command
    /// that cannot have one.
    AUTH_CONTEXT = VER1 + 0x045;
    /// NV offset+size is out of range.
    NV_RANGE = VER1 + 0x046;
    /// Requested allocation size is larger than allowed.
    NV_SIZE = VER1 + 0x047;
    /// NV access locked.
    NV_LOCKED = VER1 + 0x048;
    /// NV access authorization fails in command actions.
    NV_AUTHORIZATION = VER1 + 0x049;
    /// An NV Index is used before being initialized or the state saved by
    /// Shutdown(STATE) could not be restored.
    NV_UNINITIALIZED = VER1 + 0x04A;
    /// Insufficient space for NV allocation.
    NV_SPACE = VER1 + 0x04B;
    /// NV Index or persistent object already defined.
    NV_DEFINED = VER1 + 0x04C;
    /// Context in TPM2_ContextLoad() is not valid.
    BAD_CONTEXT = VER1 + 0x050;
    /// cpHash value already set or not correct for use.
    CPHASH = VER1 + 0x051;
    /// Handle for parent is not a valid parent.
    PARENT = VER1 + 0x052;
    /// Some function needs testing.
    NEEDS_TEST = VER1 + 0x053;
    /// Returned when an internal function cannot process a request due to an
    /// unspecified problem.
    NO_RESULT = VER1 + 0x054;
    /// The sensitive area did not unmarshal correctly after decryption.
    SENSITIVE = VER1 + 0x055;
    /// Asymmetric algorithm not supported or not correct.
    ASYMMETRIC = FMT1 + 0x001;
    /// Inconsistent attributes.
    ATTRIBUTES = FMT1 + 0x002;
    /// Hash algorithm not supported or not appropriate.
    HASH = FMT1 + 0x003;
    /// Value is out of range or is not correct for the context.
    VALUE = FMT1 + 0x004;
    /// Hierarchy is not enabled or is not correct for the use.
    HIERARCHY = FMT1 + 0x005;
    /// Key size is not supported.
    KEY_SIZE = FMT1 + 0x007;
    /// Mask generation function not supported.
    MGF = FMT1 + 0x008;
    /// Mode of operation not supported.
    MODE = FMT1 + 0x009;
    /// The type of the value is not appropriate for the use.
    TYPE = FMT1 + 0x00A;
    /// The handle is not correct for the use.
    HANDLE = FMT1 + 0x00B;
    /// Unsupported key derivation function or function not appropriate for use.
    KDF = FMT1 + 0x00C;
    /// Value was out of allowed range.
    RANGE = FMT1 + 0x00D;
    /// The authorization HMAC check failed and DA counter incremented.
    AUTH_FAIL = FMT1 + 0x00E;
    /// Invalid nonce size or nonce value mismatch.
    NONCE = FMT1 + 0x00F;
    /// Authorization requires assertion of PP.
    PP = FMT1 + 0x010;
    /// Unsupported or incompatible scheme.
    SCHEME = FMT1 + 0x012;
    /// Structure is the wrong size.
    SIZE = FMT1 + 0x015;
    /// Unsupported symmetric algorithm or key size, or not appropriate for instance.
    SYMMETRIC = FMT1 + 0x016;
    /// Incorrect structure tag.
    TAG = FMT1 + 0x017;
    /// Union selector is incorrect.
    SELECTOR = FMT1 + 0x018;
    /// The TPM was unable to unmarshal a value because there were not enough octets
    /// in the input buffer.
    INSUFFICIENT = FMT1 + 0x01A;
    /// The signature is not valid.
    SIGNATURE = FMT1 + 0x01B;
    /// Key fields are not compatible with the selected use.
    KEY = FMT1 + 0x01C;
    /// A policy check failed.
    POLICY_FAIL = FMT1 + 0x01D;
    /// Integrity check failed.
    INTEGRITY = FMT1 + 0x01F;
    /// Invalid ticket.
    TICKET = FMT1 + 0x020;
    /// Reserved bits not set to zero as required.
    RESERVED_BITS = FMT1 + 0x021;
    /// Authorization failure without DA implications.
    BAD_AUTH = FMT1 + 0x022;
    /// The policy has expired.
    EXPIRED = FMT1 + 0x023;
    /// The commandCode in the policy is not the commandCode of the command, or the
    /// command code in a policy command references a command that is not implemented.
    POLICY_CC = FMT1 + 0x024;
    /// Public and sensitive portions of an object are not cryptographically bound.
    BINDING = FMT1 + 0x025;
    /// Curve not supported.
    CURVE = FMT1 + 0x026;
    /// Point is not on the required curve.
    ECC_POINT = FMT1 + 0x027;
    /// Gap for context ID is too large.
    CONTEXT_GAP = WARN + 0x001;
    /// Out of memory for object contexts.
    OBJECT_MEMORY = WARN + 0x002;
    /// Out of memory for session contexts.
    SESSION_MEMORY = WARN + 0x003;
    /// Out of shared object/session memory or need space for internal operations.
    MEMORY = WARN + 0x004;
    /// Out of session handles.
    SESSION_HANDLES = WARN + 0x005;
    /// Out of object handles.
    OBJECT_HANDLES = WARN + 0x006;
    /// Bad locality.
    LOCALITY = WARN + 0x007;
    /// The TPM has suspended operation on the command.
    YIELDED = WARN + 0x008;
    /// The command was canceled.
    CANCELED = WARN + 0x009;
    /// TPM is performing self-tests.
    TESTING = WARN + 0x00A;
    /// The 1st handle references a transient object or session that is not loaded
    /// (add the 0-based handle index for the others).
    REFERENCE_H0 = WARN + 0x010;
    /// The 1st authorization session handle references a session that is not loaded
    /// (add the 0-based session index for the others).
    REFERENCE_S0 = WARN + 0x018;
    /// The TPM is rate-limiting accesses to prevent wearout of NV.
    NV_RATE = WARN + 0x020;
    /// Authorizations for objects subject to DA protection are not allowed at this
    /// time because the TPM is in DA lockout mode.
    LOCKOUT = WARN + 0x021;
    /// The TPM was not able to start the command.
    RETRY = WARN + 0x022;
    /// The command may require writing of NV and NV is not currently accessible.
    NV_UNAVAILABLE = WARN + 0x023;
}

/// Format-one modifier: the number names a handle (Part 2 §6.6.3, `TPM_RC_H`).
const RC_H: u32 = 0x000;
/// Format-one modifier: the number names a parameter (`TPM_RC_P`).
const RC_P: u32 = 0x040;
/// Format-one modifier: the number names a session (`TPM_RC_S`).
const RC_S: u32 = 0x800;
/// `TPM_RC_1`: the unit of the 4-bit number field.
const RC_1: u32 = 0x100;

impl Rc {
    /// True for TPM_RC_SUCCESS.
    pub fn is_success(self) -> bool {
        self.0 == 0
    }

    /// True if this is a format-one code (bit 7 set), which can carry a number.
    pub fn is_format_one(self) -> bool {
        self.0 & FMT1 != 0
    }

    /// The code without any handle/parameter/session number.
    pub fn base(self) -> Rc {
        if self.is_format_one() { Rc(self.0 & 0xBF) } else { self }
    }

    /// Adds handle number `n` (1-based) to a format-one code that has no number yet.
    pub fn handle(self, n: usize) -> Rc {
        self.with_number(RC_H, n)
    }

    /// Adds parameter number `n` (1-based).
    pub fn param(self, n: usize) -> Rc {
        self.with_number(RC_P, n)
    }

    /// Adds session number `n` (1-based).
    pub fn session(self, n: usize) -> Rc {
        self.with_number(RC_S, n)
    }

    fn with_number(self, kind: u32, n: usize) -> Rc {
        // Only format-one codes without a number yet take one; n is 1..=15 for
        // parameters and 1..=7 for handles and sessions.
        if !self.is_format_one() || self.0 & 0xF40 != 0 {
            return self;
        }
        let n = u32::try_from(n).unwrap_or(0) & 0xF;
        Rc(self.0 + kind + RC_1 * n)
    }
}

impl From<WireError> for Rc {
    /// A marshalling failure as the reference unmarshalling code reports it: running
    /// out of bytes is TPM_RC_INSUFFICIENT, an oversized length is TPM_RC_SIZE.
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated => Rc::INSUFFICIENT,
            WireError::TooLarge | WireError::TrailingBytes => Rc::SIZE,
        }
    }
}

impl fmt::Debug for Rc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Rc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.0;
        if self.is_format_one() {
            let base = code & 0xBF;
            let n = (code >> 8) & 0xF;
            let name = base_name(base).unwrap_or("?");
            if code & RC_P != 0 {
                write!(f, "TPM_RC_{name} (parameter {n}, {code:#05x})")
            } else if n == 0 {
                write!(f, "TPM_RC_{name} ({code:#05x})")
            } else if code & RC_S != 0 {
                write!(f, "TPM_RC_{name} (session {}, {code:#05x})", n & 7)
            } else {
                write!(f, "TPM_RC_{name} (handle {n}, {code:#05x})")
            }
        } else {
            match base_name(code) {
                Some(name) => write!(f, "TPM_RC_{name} ({code:#05x})"),
                None => write!(f, "TPM_RC {code:#05x}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_added_to_format_one_codes_only() {
        assert_eq!(Rc::VALUE.param(2), Rc(0x2C4));
        assert_eq!(Rc::HANDLE.handle(1), Rc(0x18B));
        assert_eq!(Rc::AUTH_FAIL.session(1), Rc(0x98E));
        assert_eq!(Rc::INITIALIZE.param(1), Rc::INITIALIZE);
        assert_eq!(Rc::LOCKOUT.session(1), Rc::LOCKOUT);
    }

    #[test]
    fn a_numbered_code_keeps_its_number() {
        assert_eq!(Rc::VALUE.param(2).param(3), Rc(0x2C4));
        assert_eq!(Rc::VALUE.param(2).base(), Rc::VALUE);
    }

    #[test]
    fn display_names_the_code_and_number() {
        extern crate alloc;
        use alloc::format;
        assert_eq!(format!("{}", Rc::SIZE.param(1)), "TPM_RC_SIZE (parameter 1, 0x1d5)");
        assert_eq!(format!("{}", Rc::INITIALIZE), "TPM_RC_INITIALIZE (0x100)");
    }
}
