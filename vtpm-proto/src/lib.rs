//! The vtpm-stubdom ↔ vtpmmgr-stubdom protocol: framing, requests, responses.
//!
//! Both stub domains speak it over a tpmif v2 channel (the vTPM is a tpmfront, the
//! manager a tpmback; protocol spec §3.1). Every message is a 10-byte big-endian
//! TCG-style header — `tag u16 | size u32 | ordinal-or-status u32` — and a body. The
//! bytes are those of Xen's C implementation (`stubdom/vtpmmgr/vtpm_cmd_handler.c`,
//! `stubdom/vtpm/vtpm_cmd.c`), so a C vtpm-stubdom can talk to our manager and ours to
//! a C vtpmmgr.
//!
//! The two sides use the two halves of the codec:
//!
//! | side | builds | parses |
//! |---|---|---|
//! | vTPM (client) | [`Request::encode`] | [`Response::parse`] |
//! | manager (server) | [`Response::encode`], [`reject`] | [`Request::parse`] |
//!
//! Parsing borrows from the caller's copy of the message and never panics; every
//! malformed message is an [`Error`] whose [`Error::return_code`] is the TPM 1.2 code
//! the manager answers with, and [`reject`] builds that answer. Encoding writes into
//! a caller buffer (no allocation), so the manager can answer straight into its
//! response page.
//!
//! Where this codec is stricter than the C manager (which it is on purpose: the size
//! field must equal the message length, LOADHASHKEY and VTPM_LIST must not carry
//! trailing bytes, passthrough commands must have their exact TPM 1.2 length), the
//! C vTPM never sends such messages, so compatibility is kept.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod frame;
mod hashkey;
mod request;
mod response;

pub use error::Error;
pub use frame::{HEADER_LEN, Header, MAX_MESSAGE};
pub use hashkey::{Hashkey, Uuid};
pub use request::{Command, QuoteRequest, Request};
pub use response::{
    MAX_RANDOM_BYTES, MAX_VTPM_LIST_UUIDS, Response, encode_status, reject, reply_tag,
};

/// Structure tags (spec §3.1; TPM 1.2 Part 2 §6 for the `TPM_TAG_*` values).
pub mod tag {
    /// `VTPM_TAG_REQ`: a vTPM command (ordinals 1–4).
    pub const REQ: u16 = 0x01C1;
    /// `VTPM_TAG_REQ2`: a management command (ordinals `0x02000xxx`).
    pub const REQ2: u16 = 0x01C2;
    /// `VTPM_TAG_RSP`: every successful answer to [`REQ`] and [`REQ2`].
    pub const RSP: u16 = 0x01C4;
    /// `VTPM_TAG_RSP2`: only the C manager's dispatcher error path produces it (request
    /// tag + 3 for a rejected [`REQ2`]).
    pub const RSP2: u16 = 0x01C5;
    /// `TPM_TAG_RQU_COMMAND`: a physical-TPM passthrough command.
    pub const RQU_COMMAND: u16 = 0x00C1;
    /// `TPM_TAG_RQU_AUTH1_COMMAND`.
    pub const RQU_AUTH1_COMMAND: u16 = 0x00C2;
    /// `TPM_TAG_RQU_AUTH2_COMMAND`.
    pub const RQU_AUTH2_COMMAND: u16 = 0x00C3;
    /// `TPM_TAG_RSP_COMMAND`: a passthrough answer.
    pub const RSP_COMMAND: u16 = 0x00C4;
    /// `TPM_TAG_RSP_AUTH1_COMMAND`.
    pub const RSP_AUTH1_COMMAND: u16 = 0x00C5;
    /// `TPM_TAG_RSP_AUTH2_COMMAND`.
    pub const RSP_AUTH2_COMMAND: u16 = 0x00C6;
}

/// Command ordinals (spec §3.2–3.4; `vtpm_manager.h`, TPM 1.2 Part 2 §17).
pub mod ordinal {
    /// `VTPM_ORD_SAVEHASHKEY`: store the vTPM's key material.
    pub const SAVEHASHKEY: u32 = 1;
    /// `VTPM_ORD_LOADHASHKEY`: fetch the vTPM's key material.
    pub const LOADHASHKEY: u32 = 2;
    /// `VTPM_ORD_GET_BOOT_HASH`: the manager's measurement of the calling vTPM.
    pub const GET_BOOT_HASH: u32 = 3;
    /// `VTPM_ORD_GET_QUOTE`: a hardware TPM quote on behalf of the vTPM.
    pub const GET_QUOTE: u32 = 4;

    /// `TPM_ORD_Extend` (passthrough).
    pub const TPM_EXTEND: u32 = 0x14;
    /// `TPM_ORD_PcrRead` (passthrough).
    pub const TPM_PCR_READ: u32 = 0x15;
    /// `TPM_ORD_GetRandom` (passthrough).
    pub const TPM_GET_RANDOM: u32 = 0x46;

    /// `VTPM_PRIV_BASE`: the TPM vendor bit (TPM 1.2 Part 2 §17) that every
    /// management ordinal carries.
    pub const PRIV_BASE: u32 = 0x0200_0000;
    /// `VTPM_ORD_GROUP_LIST` (not implemented by our manager).
    pub const GROUP_LIST: u32 = PRIV_BASE | 0x101;
    /// `VTPM_ORD_GROUP_NEW` (not implemented by our manager).
    pub const GROUP_NEW: u32 = PRIV_BASE | 0x102;
    /// `VTPM_ORD_GROUP_DEL` (not implemented by our manager).
    pub const GROUP_DEL: u32 = PRIV_BASE | 0x103;
    /// `VTPM_ORD_GROUP_ACTIVATE` (not implemented by our manager).
    pub const GROUP_ACTIVATE: u32 = PRIV_BASE | 0x104;
    /// `VTPM_ORD_GROUP_REGISTER` (not implemented by our manager).
    pub const GROUP_REGISTER: u32 = PRIV_BASE | 0x105;
    /// `VTPM_ORD_GROUP_UPDATE` (not implemented by our manager).
    pub const GROUP_UPDATE: u32 = PRIV_BASE | 0x106;
    /// `VTPM_ORD_GROUP_SHOW` (not implemented by our manager).
    pub const GROUP_SHOW: u32 = PRIV_BASE | 0x107;
    /// `VTPM_ORD_GROUP_QUOTE` (documented, implemented by neither manager).
    pub const GROUP_QUOTE: u32 = PRIV_BASE | 0x108;
    /// `VTPM_ORD_GROUP_RECOVER1` (documented, implemented by neither manager).
    pub const GROUP_RECOVER1: u32 = PRIV_BASE | 0x109;
    /// `VTPM_ORD_GROUP_RECOVER2` (documented, implemented by neither manager).
    pub const GROUP_RECOVER2: u32 = PRIV_BASE | 0x10A;
    /// `VTPM_ORD_VTPM_LIST`: list the vTPM UUIDs of a group.
    pub const VTPM_LIST: u32 = PRIV_BASE | 0x201;
    /// `VTPM_ORD_VTPM_SHOW` (documented, implemented by neither manager).
    pub const VTPM_SHOW: u32 = PRIV_BASE | 0x202;
    /// `VTPM_ORD_VTPM_EDIT` (documented, implemented by neither manager).
    pub const VTPM_EDIT: u32 = PRIV_BASE | 0x203;
    /// `VTPM_ORD_VTPM_NEW`: create a vTPM entry.
    pub const VTPM_NEW: u32 = PRIV_BASE | 0x204;
    /// `VTPM_ORD_VTPM_DEL`: delete a vTPM entry.
    pub const VTPM_DEL: u32 = PRIV_BASE | 0x205;
    /// First of the `VTPM_ORD_*` hardware-TPM management ordinals (MakeIdentity,
    /// ActivateIdentity, ReadPubek, NV_DefineSpace/WriteValue/ReadValue), documented
    /// but implemented by neither manager.
    pub const TPM_MGMT_FIRST: u32 = PRIV_BASE | 0x301;
    /// Last of those ordinals.
    pub const TPM_MGMT_LAST: u32 = PRIV_BASE | 0x306;

    /// True for a management ordinal the C manager defines that this codec (and so
    /// our manager) recognises but does not implement. Such a request parses to
    /// [`crate::Error::NotSupported`] rather than [`crate::Error::BadOrdinal`].
    pub fn is_known_unsupported(ordinal: u32) -> bool {
        matches!(ordinal, GROUP_LIST..=GROUP_RECOVER2 | VTPM_SHOW | VTPM_EDIT)
            || (TPM_MGMT_FIRST..=TPM_MGMT_LAST).contains(&ordinal)
    }
}

/// A TPM 1.2 return code (TPM 1.2 Part 2 §16), as the manager answers them (spec
/// §3.1). The manager uses only the TPM 1.2 base codes; the C `VTPM_*` status values
/// overlap them and are not used on the wire except one (`VTPM_INVALID_REQUEST`, which
/// this codec replaces by [`ReturnCode::BAD_PARAMETER`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReturnCode(pub u32);

impl ReturnCode {
    /// `TPM_SUCCESS`.
    pub const SUCCESS: Self = Self(0);
    /// `TPM_AUTHFAIL`: a management command from a vTPM without the ADMIN flag.
    pub const AUTHFAIL: Self = Self(1);
    /// `TPM_BADINDEX`: a group index out of range.
    pub const BADINDEX: Self = Self(2);
    /// `TPM_BAD_PARAMETER`: a malformed body, a message shorter than its header, or
    /// (LOADHASHKEY) a vTPM the manager has no entry for.
    pub const BAD_PARAMETER: Self = Self(3);
    /// `TPM_DISABLED`: the vTPM is already open elsewhere or its image is not
    /// authorised.
    pub const DISABLED: Self = Self(7);
    /// `TPM_DISABLED_CMD`: a passthrough ordinal the manager does not forward.
    pub const DISABLED_CMD: Self = Self(8);
    /// `TPM_FAIL`: the operation failed.
    pub const FAIL: Self = Self(9);
    /// `TPM_BAD_ORDINAL`: an unknown or unimplemented ordinal.
    pub const BAD_ORDINAL: Self = Self(10);
    /// `TPM_SIZE`: the message or its answer does not fit.
    pub const SIZE: Self = Self(23);
    /// `TPM_BAD_PARAM_SIZE`: the header's size field is not the message length.
    pub const BAD_PARAM_SIZE: Self = Self(25);
    /// `TPM_BADTAG`: an unknown structure tag.
    pub const BADTAG: Self = Self(30);
    /// `TPM_IOERROR`: the hardware TPM could not be reached.
    pub const IOERROR: Self = Self(31);

    /// True for `TPM_SUCCESS`.
    pub fn is_success(self) -> bool {
        self == Self::SUCCESS
    }

    /// The TPM 1.2 name of a code this protocol uses, if it is one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::SUCCESS => "TPM_SUCCESS",
            Self::AUTHFAIL => "TPM_AUTHFAIL",
            Self::BADINDEX => "TPM_BADINDEX",
            Self::BAD_PARAMETER => "TPM_BAD_PARAMETER",
            Self::DISABLED => "TPM_DISABLED",
            Self::DISABLED_CMD => "TPM_DISABLED_CMD",
            Self::FAIL => "TPM_FAIL",
            Self::BAD_ORDINAL => "TPM_BAD_ORDINAL",
            Self::SIZE => "TPM_SIZE",
            Self::BAD_PARAM_SIZE => "TPM_BAD_PARAM_SIZE",
            Self::BADTAG => "TPM_BADTAG",
            Self::IOERROR => "TPM_IOERROR",
            _ => return None,
        })
    }
}

impl core::fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#x})", self.0),
            None => write!(f, "TPM return code {:#x}", self.0),
        }
    }
}
