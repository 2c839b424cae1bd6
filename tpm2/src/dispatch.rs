//! The command table's vocabulary: how a command's handles are typed and
//! authorized, its attributes, and the context a handler runs in.
//!
//! Each implemented command is one [`CommandSpec`] in `commands::TABLE`; the table
//! drives handle parsing, the authorization checks, parameter encryption, the
//! response layout and the TPM_CAP_COMMANDS answer, so a command's handler only
//! reads its parameters and writes its results.

use crate::Tpm2;
use crate::types::{Rc, Reader, TpmResult, Unmarshal, Writer, get_2b_vec, handle as h};
use alloc::vec::Vec;

/// The role a handle's authorization plays (Part 1 §19.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRole {
    /// No authorization.
    None,
    /// USER role: authValue or policy.
    User,
    /// ADMIN role: for objects with adminWithPolicy, and always a policy for NV
    /// indices and permanent handles.
    Admin,
    /// DUP role: always a policy.
    Dup,
}

/// A handle's interface type (the `TPMI_DH_*` / `TPMI_RH_*` of Part 2); a value
/// outside it is TPM_RC_VALUE for that handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleKind {
    /// TPMI_DH_OBJECT: transient or persistent object (`+`: or TPM_RH_NULL).
    Object {
        /// TPM_RH_NULL allowed.
        null: bool,
    },
    /// TPMI_DH_PARENT: object or hierarchy.
    Parent {
        /// TPM_RH_NULL allowed.
        null: bool,
    },
    /// TPMI_DH_ENTITY: anything with an authorization.
    Entity {
        /// TPM_RH_NULL allowed.
        null: bool,
    },
    /// TPMI_DH_PCR.
    Pcr {
        /// TPM_RH_NULL allowed.
        null: bool,
    },
    /// TPMI_SH_POLICY: a policy session.
    PolicySession,
    /// TPMI_SH_HMAC: an HMAC session.
    HmacSession,
    /// TPMI_RH_HIERARCHY.
    Hierarchy {
        /// TPM_RH_NULL allowed.
        null: bool,
    },
    /// TPMI_RH_HIERARCHY_AUTH.
    HierarchyAuth,
    /// TPMI_RH_HIERARCHY_POLICY.
    HierarchyPolicy,
    /// TPMI_RH_PLATFORM.
    Platform,
    /// TPMI_RH_ENDORSEMENT.
    Endorsement,
    /// TPMI_RH_PROVISION (owner or platform).
    Provision,
    /// TPMI_RH_CLEAR (lockout or platform).
    Clear,
    /// TPMI_RH_NV_AUTH (owner, platform or the index).
    NvAuth,
    /// TPMI_RH_LOCKOUT.
    Lockout,
    /// TPMI_RH_NV_INDEX.
    NvIndex,
    /// TPMI_DH_CONTEXT: a transient object or a session.
    Context,
}

fn in_range(v: u32, first: u32, last: u32) -> bool {
    (first..=last).contains(&v)
}

impl HandleKind {
    /// True if `v` is a value of this type.
    pub fn accepts(self, v: u32) -> bool {
        let transient = in_range(v, h::TRANSIENT_FIRST, h::TRANSIENT_FIRST + 0xFF_FFFF);
        let persistent = in_range(v, h::PERSISTENT_FIRST, h::PERSISTENT_LAST);
        let nv = in_range(v, h::NV_INDEX_FIRST, h::NV_INDEX_LAST);
        let pcr = v < crate::pcr::PCR_COUNT_HANDLES;
        let hierarchy = matches!(v, h::OWNER | h::ENDORSEMENT | h::PLATFORM);
        match self {
            HandleKind::Object { null } => transient || persistent || (null && v == h::NULL),
            HandleKind::Parent { null } => {
                transient || persistent || hierarchy || (null && v == h::NULL)
            }
            HandleKind::Entity { null } => {
                hierarchy
                    || v == h::LOCKOUT
                    || transient
                    || persistent
                    || nv
                    || pcr
                    || (null && v == h::NULL)
            }
            HandleKind::Pcr { null } => pcr || (null && v == h::NULL),
            HandleKind::PolicySession => in_range(v, h::POLICY_SESSION_FIRST, 0x03FF_FFFF),
            HandleKind::HmacSession => in_range(v, h::HMAC_SESSION_FIRST, 0x02FF_FFFF),
            HandleKind::Hierarchy { null } => hierarchy || (null && v == h::NULL),
            HandleKind::HierarchyAuth | HandleKind::HierarchyPolicy => hierarchy || v == h::LOCKOUT,
            HandleKind::Platform => v == h::PLATFORM,
            HandleKind::Endorsement => v == h::ENDORSEMENT,
            HandleKind::Provision => matches!(v, h::OWNER | h::PLATFORM),
            HandleKind::Clear => matches!(v, h::LOCKOUT | h::PLATFORM),
            HandleKind::NvAuth => matches!(v, h::OWNER | h::PLATFORM) || nv,
            HandleKind::Lockout => v == h::LOCKOUT,
            HandleKind::NvIndex => nv,
            HandleKind::Context => {
                transient
                    || in_range(v, h::HMAC_SESSION_FIRST, 0x02FF_FFFF)
                    || in_range(v, h::POLICY_SESSION_FIRST, 0x03FF_FFFF)
            }
        }
    }
}

/// One handle of a command: its type and authorization role.
#[derive(Clone, Copy, Debug)]
pub struct HandleSpec {
    /// Interface type.
    pub kind: HandleKind,
    /// Authorization role.
    pub auth: AuthRole,
}

/// Command attribute flags.
pub mod flags {
    /// The first command parameter is a TPM2B that may be encrypted.
    pub const DECRYPT: u16 = 1 << 0;
    /// The first response parameter is a TPM2B that may be encrypted.
    pub const ENCRYPT: u16 = 1 << 1;
    /// The response carries a handle.
    pub const R_HANDLE: u16 = 1 << 2;
    /// No sessions allowed (context management commands).
    pub const NO_SESSIONS: u16 = 1 << 3;
    /// May write NV (`TPMA_CC.nv`).
    pub const NV: u16 = 1 << 4;
    /// May flush many objects (`TPMA_CC.extensive`).
    pub const EXTENSIVE: u16 = 1 << 5;
    /// Flushes its handle(s) (`TPMA_CC.flushed`).
    pub const FLUSHED: u16 = 1 << 6;
    /// Allowed with a trial policy session.
    pub const ALLOW_TRIAL: u16 = 1 << 7;
    /// Only reads state: a success does not make the volatile state dirty.
    pub const READ_ONLY: u16 = 1 << 8;
}

/// A command handler.
pub type Handler = fn(&mut Tpm2, &mut Cmd<'_>) -> TpmResult<()>;

/// One implemented command.
#[derive(Debug)]
pub struct CommandSpec {
    /// The command code.
    pub cc: u32,
    /// The command's name in Part 3.
    pub name: &'static str,
    /// Its handles.
    pub handles: &'static [HandleSpec],
    /// [`flags`].
    pub flags: u16,
    /// The handler.
    pub run: Handler,
}

impl CommandSpec {
    /// True if `flag` is set.
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// The `TPMA_CC` value (Part 2 §8.9) for TPM_CAP_COMMANDS.
    pub fn tpma_cc(&self) -> u32 {
        let mut a = self.cc & 0xFFFF;
        if self.has(flags::NV) {
            a |= 1 << 22;
        }
        if self.has(flags::EXTENSIVE) {
            a |= 1 << 23;
        }
        if self.has(flags::FLUSHED) {
            a |= 1 << 24;
        }
        a |= (u32::try_from(self.handles.len()).unwrap_or(0) & 7) << 25;
        if self.has(flags::R_HANDLE) {
            a |= 1 << 28;
        }
        a
    }

    /// The authorization role of handle `i`.
    pub fn role(&self, i: usize) -> AuthRole {
        self.handles.get(i).map_or(AuthRole::None, |h| h.auth)
    }
}

/// A cursor over a command's parameters that numbers them: an unmarshalling error
/// in the n-th parameter gets parameter number n.
#[derive(Debug)]
pub struct Params<'a> {
    r: Reader<'a>,
    n: usize,
}

impl<'a> Params<'a> {
    /// Starts reading `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Params { r: Reader::new(bytes), n: 0 }
    }

    /// Reads the next parameter with `f`, numbering its error.
    pub fn next<T>(&mut self, f: impl FnOnce(&mut Reader<'a>) -> TpmResult<T>) -> TpmResult<T> {
        self.n = self.n.saturating_add(1);
        let n = self.n;
        f(&mut self.r).map_err(|e| e.param(n))
    }

    /// A structure.
    pub fn get<T: Unmarshal>(&mut self) -> TpmResult<T> {
        self.next(|r| T::unmarshal(r))
    }

    /// A `u8`.
    pub fn u8(&mut self) -> TpmResult<u8> {
        self.next(|r| Ok(r.u8()?))
    }

    /// A `u16`.
    pub fn u16(&mut self) -> TpmResult<u16> {
        self.next(|r| Ok(r.u16()?))
    }

    /// A `u32`.
    pub fn u32(&mut self) -> TpmResult<u32> {
        self.next(|r| Ok(r.u32()?))
    }

    /// A `u64`.
    pub fn u64(&mut self) -> TpmResult<u64> {
        self.next(|r| Ok(r.u64()?))
    }

    /// A TPM2B of at most `max` octets.
    pub fn b2(&mut self, max: usize) -> TpmResult<Vec<u8>> {
        self.next(|r| get_2b_vec(r, max))
    }

    /// A `TPMI_YES_NO`.
    pub fn yes_no(&mut self) -> TpmResult<bool> {
        self.next(|r| crate::types::unmarshal_yes_no(r))
    }

    /// Fails with TPM_RC_SIZE if bytes are left after the last parameter.
    pub fn end(&self) -> TpmResult<()> {
        if self.r.is_empty() { Ok(()) } else { Err(Rc::SIZE) }
    }
}

/// What a handler gets: the parsed handles, the (decrypted) parameters, and where
/// its results go.
#[derive(Debug)]
pub struct Cmd<'a> {
    /// The command's locality.
    pub locality: u8,
    /// The command's handles, in order.
    pub handles: Vec<u32>,
    /// The parameters.
    pub params: Params<'a>,
    /// The handle a command returns (for commands with `R_HANDLE`).
    pub out_handle: Option<u32>,
    /// The response parameters.
    pub out: Writer,
    /// Set by a handler that deletes the entity its authorization session was
    /// associated with (TPM2_NV_UndefineSpaceSpecial): the response HMAC then uses
    /// an empty authValue, as for TPM_RH_NULL.
    pub dissociate: Option<u32>,
}

impl Cmd<'_> {
    /// Handle `i` (0-based); the table guarantees the count, so a missing handle
    /// only comes from a table error and answers TPM_RC_FAILURE.
    pub fn handle(&self, i: usize) -> TpmResult<u32> {
        self.handles.get(i).copied().ok_or(Rc::FAILURE)
    }
}
