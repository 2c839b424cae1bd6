//! TPM 2.0 marshalling for the client: constants, commands, responses, structures.
//!
//! Everything the client puts on or takes off the TPM 2.0 wire is in this one module,
//! written over `tpm_engine::wire::{Reader, Writer}`, so it can be switched to the engine
//! crate's public wire types (`tpm2::types`) when they land without touching the client
//! logic. Constants are from TPM 2.0 Part 2 (section given with each group).

use alloc::vec::Vec;
use core::ops::Range;

use sha2::{Digest, Sha256};
use tpm_engine::wire::{Reader, Writer};
use zeroize::Zeroizing;

use crate::frame::Response;
use crate::{Malformed, PcrSelection};

/// Structure tags (Part 2 §6.9).
pub(crate) mod st {
    /// A command or response without an authorisation area.
    pub const NO_SESSIONS: u16 = 0x8001;
    /// A command or response with an authorisation area.
    pub const SESSIONS: u16 = 0x8002;
}

/// Command codes (Part 2 §6.5.2).
pub(crate) mod cc {
    pub const EVICT_CONTROL: u32 = 0x120;
    pub const NV_DEFINE_SPACE: u32 = 0x12A;
    pub const CREATE_PRIMARY: u32 = 0x131;
    pub const NV_INCREMENT: u32 = 0x134;
    pub const STARTUP: u32 = 0x144;
    pub const NV_READ: u32 = 0x14E;
    pub const CREATE: u32 = 0x153;
    pub const LOAD: u32 = 0x157;
    pub const UNSEAL: u32 = 0x15E;
    pub const FLUSH_CONTEXT: u32 = 0x165;
    pub const NV_READ_PUBLIC: u32 = 0x169;
    pub const POLICY_LOCALITY: u32 = 0x16F;
    pub const READ_PUBLIC: u32 = 0x173;
    pub const START_AUTH_SESSION: u32 = 0x176;
    pub const GET_CAPABILITY: u32 = 0x17A;
    pub const GET_RANDOM: u32 = 0x17B;
    pub const PCR_READ: u32 = 0x17E;
    pub const POLICY_PCR: u32 = 0x17F;
    pub const PCR_EXTEND: u32 = 0x182;
    pub const POLICY_GET_DIGEST: u32 = 0x189;
}

/// Response codes (Part 2 §6.6).
pub(crate) mod rc {
    pub const SUCCESS: u32 = 0;
    pub const INITIALIZE: u32 = 0x100;
    pub const PCR_CHANGED: u32 = 0x128;
    pub const HANDLE: u32 = 0x08B;
    pub const AUTH_FAIL: u32 = 0x08E;
    pub const POLICY_FAIL: u32 = 0x09D;
    pub const BAD_AUTH: u32 = 0x0A2;
    pub const LOCALITY: u32 = 0x907;
    pub const YIELDED: u32 = 0x908;
    pub const LOCKOUT: u32 = 0x921;
    pub const RETRY: u32 = 0x922;

    /// Format-one codes (bit 7) carry a handle, session or parameter number in bits
    /// 6 and 8-11 (Part 2 §6.6.3); this strips it so codes compare by kind.
    pub const fn base(rc: u32) -> u32 {
        if rc & 0x80 != 0 { rc & 0xBF } else { rc }
    }
}

/// Algorithm identifiers (Part 2 §6.3).
pub(crate) mod alg {
    pub const RSA: u16 = 0x0001;
    pub const SHA256: u16 = 0x000B;
    pub const AES: u16 = 0x0006;
    pub const KEYEDHASH: u16 = 0x0008;
    pub const NULL: u16 = 0x0010;
    pub const ECC: u16 = 0x0023;
    pub const CFB: u16 = 0x0043;
    /// TPM_ECC_NIST_P256 (Part 2 §6.4).
    pub const NIST_P256: u16 = 0x0003;
}

/// Permanent handles and handle types (Part 2 §7).
pub(crate) mod handle {
    pub const OWNER: u32 = 0x4000_0001;
    pub const NULL: u32 = 0x4000_0007;
    /// TPM_RS_PW: the password authorisation "session".
    pub const PASSWORD: u32 = 0x4000_0009;
    /// The top byte of a transient object handle.
    pub const TYPE_TRANSIENT: u8 = 0x80;
    /// The top byte of a policy session handle.
    pub const TYPE_POLICY_SESSION: u8 = 0x03;

    /// The handle type (top byte).
    pub const fn kind(handle: u32) -> u8 {
        handle.to_be_bytes()[0]
    }
}

/// TPMA_OBJECT bits (Part 2 §8.3).
pub(crate) mod object {
    pub const FIXED_TPM: u32 = 1 << 1;
    pub const FIXED_PARENT: u32 = 1 << 4;
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    pub const NO_DA: u32 = 1 << 10;
    pub const RESTRICTED: u32 = 1 << 16;
    pub const DECRYPT: u32 = 1 << 17;
    pub const SIGN: u32 = 1 << 18;
}

/// TPMA_NV bits (Part 2 §13.4).
pub(crate) mod nv {
    pub const OWNERWRITE: u32 = 1 << 1;
    /// TPM_NT_COUNTER in the TPM_NT field.
    pub const TYPE_COUNTER: u32 = 1 << 4;
    pub const OWNERREAD: u32 = 1 << 17;
    pub const AUTHREAD: u32 = 1 << 18;
    pub const NO_DA: u32 = 1 << 25;
    pub const WRITTEN: u32 = 1 << 29;
}

/// TPM_CAP and TPM_PT values (Part 2 §6.12, §6.13).
pub(crate) mod cap {
    pub const ALGS: u32 = 0;
    pub const TPM_PROPERTIES: u32 = 6;
    pub const PT_TOTAL_COMMANDS: u32 = 0x100 + 41;
}

/// TPM_SE session types (Part 2 §6.11).
pub(crate) mod se {
    pub const POLICY: u8 = 0x01;
    pub const TRIAL: u8 = 0x03;
}

/// TPMA_SESSION continueSession (Part 2 §8.4).
const CONTINUE_SESSION: u8 = 0x01;

/// TPM_SU_CLEAR (Part 2 §6.5.3).
pub(crate) const SU_CLEAR: u16 = 0x0000;

/// Length of a SHA-256 digest.
pub(crate) const SHA256_LEN: usize = 32;

/// Bound of a TPM2B_NONCE / TPM2B_AUTH / TPM2B_DIGEST: sizeof(TPMU_HA).
pub(crate) const MAX_DIGEST: usize = 64;

/// Bound of a TPM2B_PUBLIC's contents this client accepts: an RSA-4096 key with the
/// largest policy fits in well under this.
pub(crate) const MAX_PUBLIC: usize = 1024;

/// Bound of a TPM2B_PRIVATE (Part 2 §12.3.7: sizeof(_PRIVATE)); a sealed 128-byte
/// secret under a SHA-512 parent stays below it.
pub(crate) const MAX_PRIVATE: usize = 1024;

/// Bound of TPM2B_SENSITIVE_DATA (MAX_SYM_DATA, Part 2 §10.4.9).
pub(crate) const MAX_SENSITIVE_DATA: usize = 128;

/// Bound of anything else the client skips over (creation data, tickets, names).
pub(crate) const MAX_SKIPPED: usize = 2048;

/// How one command handle is authorised.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    /// A password session (TPM_RS_PW) with this password (Part 1 §19.8.4).
    Password(&'a [u8]),
    /// A policy session without HMAC: policy sessions whose policy has no
    /// PolicyAuthValue/PolicyPassword carry an empty HMAC (Part 1 §19.7.1).
    Policy {
        /// The session handle.
        session: u32,
        /// A fresh caller nonce.
        nonce: &'a [u8],
    },
}

/// Builds a complete command. Parameters can hold secrets, so the result is wiped on
/// drop.
pub(crate) fn command(
    code: u32,
    handles: &[u32],
    auths: &[Auth<'_>],
    params: &[u8],
) -> Zeroizing<Vec<u8>> {
    let mut area = Writer::with_capacity(auths.len() * 48);
    for auth in auths {
        // TPMS_AUTH_COMMAND: sessionHandle, nonce, sessionAttributes, hmac.
        let (session, nonce, attributes, hmac): (u32, &[u8], u8, &[u8]) = match *auth {
            // continueSession is ignored for TPM_RS_PW; sent clear.
            Auth::Password(password) => (handle::PASSWORD, &[], 0, password),
            // Keep policy sessions alive so the client flushes them itself on every path.
            Auth::Policy { session, nonce } => (session, nonce, CONTINUE_SESSION, &[]),
        };
        area.u32(session);
        push_sized(&mut area, nonce);
        area.u8(attributes);
        push_sized(&mut area, hmac);
    }
    let area = Zeroizing::new(area.into_vec());
    let tag = if auths.is_empty() { st::NO_SESSIONS } else { st::SESSIONS };
    let mut w = Writer::with_capacity(14 + handles.len() * 4 + area.len() + params.len());
    w.u16(tag).u32(0).u32(code);
    for &handle in handles {
        w.u32(handle);
    }
    if !auths.is_empty() {
        w.u32(len_u32(area.len()));
        w.bytes(&area);
    }
    w.bytes(params);
    let size = len_u32(w.len());
    // The size field was written above; patching it cannot fail.
    let _ = w.patch_u32(2, size);
    Zeroizing::new(w.into_vec())
}

/// Appends a TPM2B whose length the client controls (never above a u16).
pub(crate) fn push_sized(w: &mut Writer, data: &[u8]) {
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    w.u16(len).bytes(data.get(..usize::from(len)).unwrap_or(data));
}

/// Lengths of commands the client builds (at most a few kilobytes) as u32.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A successful response, split into its parts.
pub(crate) struct Reply {
    response: Response,
    /// The handle the command returned, if it returns one.
    pub handle: Option<u32>,
    params: Range<usize>,
}

impl Reply {
    /// A reader over the response parameters.
    pub fn params(&self) -> Reader<'_> {
        Reader::new(self.response.body().get(self.params.clone()).unwrap_or_default())
    }
}

/// Splits a successful response (Part 1 §18.10): the handle area (`returns_handle`),
/// then with sessions `parameterSize | parameters | one TPMS_AUTH_RESPONSE per session`,
/// without sessions the parameters up to the end.
pub(crate) fn split_reply(
    response: Response,
    returns_handle: bool,
    sessions: usize,
) -> Result<Reply, Malformed> {
    let expected_tag = if sessions == 0 { st::NO_SESSIONS } else { st::SESSIONS };
    if response.tag != expected_tag {
        return Err(Malformed::Tag { found: response.tag });
    }
    let body = response.body();
    let mut r = Reader::new(body);
    let handle = if returns_handle { Some(r.u32()?) } else { None };
    let params_len = if sessions == 0 {
        r.remaining()
    } else {
        usize::try_from(r.u32()?).map_err(|_| Malformed::LengthTooLarge)?
    };
    let params_start = body.len() - r.remaining();
    r.bytes(params_len)?;
    for _ in 0..sessions {
        // TPMS_AUTH_RESPONSE: nonce, sessionAttributes, hmac.
        r.sized_u16(MAX_DIGEST)?;
        r.u8()?;
        r.sized_u16(MAX_DIGEST)?;
    }
    r.finish()?;
    let params = params_start..params_start + params_len;
    Ok(Reply { response, handle, params })
}

/// Appends a TPML_PCR_SELECTION with one SHA-256 selection (Part 2 §10.9.7).
pub(crate) fn push_pcr_selection(w: &mut Writer, selection: PcrSelection) {
    w.u32(1).u16(alg::SHA256).u8(3).bytes(&selection.select_bytes());
}

/// The TPML_PCR_SELECTION bytes of one SHA-256 selection, as hashed into PolicyPCR.
pub(crate) fn pcr_selection_bytes(selection: PcrSelection) -> Vec<u8> {
    let mut w = Writer::with_capacity(10);
    push_pcr_selection(&mut w, selection);
    w.into_vec()
}

/// Reads a TPML_PCR_SELECTION and returns its SHA-256 selection (empty if the list has
/// none). A selection of another bank must be empty: the client asks only for SHA-256.
pub(crate) fn read_pcr_selection(r: &mut Reader<'_>) -> Result<PcrSelection, Malformed> {
    let count = r.u32()?;
    // HASH_COUNT is small on every TPM; refuse lists that could not be ours.
    if count > 16 {
        return Err(Malformed::LengthTooLarge);
    }
    let mut sha256 = PcrSelection::EMPTY;
    for _ in 0..count {
        let hash = r.u16()?;
        let size = usize::from(r.u8()?);
        let bytes = r.bytes(size)?;
        let selection = PcrSelection::from_select_bytes(bytes).ok_or(Malformed::UnexpectedValue)?;
        if hash == alg::SHA256 {
            sha256 = PcrSelection::from_mask(sha256.mask() | selection.mask())
                .ok_or(Malformed::UnexpectedValue)?;
        } else if !selection.is_empty() {
            return Err(Malformed::UnexpectedValue);
        }
    }
    Ok(sha256)
}

/// The storage key's algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageAlg {
    /// RSA-2048 (TCG SRK template, Provisioning Guidance §7.5.1).
    Rsa2048,
    /// ECC NIST P-256 (the same guidance's ECC template).
    EccP256,
}

impl StorageAlg {
    /// The blob code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Rsa2048 => 1,
            Self::EccP256 => 2,
        }
    }

    /// Parses a blob code.
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Rsa2048),
            2 => Some(Self::EccP256),
            _ => None,
        }
    }
}

/// The attributes of the TCG storage root key template: fixedTPM, fixedParent,
/// sensitiveDataOrigin, userWithAuth, noDA, restricted, decrypt (0x00030472).
pub(crate) const SRK_ATTRIBUTES: u32 = object::FIXED_TPM
    | object::FIXED_PARENT
    | object::SENSITIVE_DATA_ORIGIN
    | object::USER_WITH_AUTH
    | object::NO_DA
    | object::RESTRICTED
    | object::DECRYPT;

/// The attributes of the sealed root: it never leaves this TPM or its parent; no
/// authValue use (userWithAuth clear), so only the PCR policy releases it; admin
/// actions need the policy too (adminWithPolicy), which cannot satisfy them; noDA,
/// since it has no authValue to guess (Part 1 §19.6, §25.2).
pub(crate) const SEAL_ATTRIBUTES: u32 =
    object::FIXED_TPM | object::FIXED_PARENT | object::ADMIN_WITH_POLICY | object::NO_DA;

/// A public area template and where its `unique` field starts.
pub(crate) struct Template {
    /// The TPMT_PUBLIC bytes.
    pub bytes: Vec<u8>,
    /// Length of everything before `unique`: a TPM returns these bytes unchanged.
    pub fixed_len: usize,
}

/// The TCG storage root key template (TPMT_PUBLIC): AES-128-CFB, no scheme, RSA-2048
/// with the default exponent or ECC P-256 without KDF; `unique` all zero of the key's
/// size, as the guidance prescribes so every user of the template gets the same key.
pub(crate) fn srk_template(storage: StorageAlg) -> Template {
    let mut w = Writer::with_capacity(320);
    let kind = match storage {
        StorageAlg::Rsa2048 => alg::RSA,
        StorageAlg::EccP256 => alg::ECC,
    };
    w.u16(kind).u16(alg::SHA256).u32(SRK_ATTRIBUTES).u16(0);
    // TPMT_SYM_DEF_OBJECT, then the scheme.
    w.u16(alg::AES).u16(128).u16(alg::CFB).u16(alg::NULL);
    match storage {
        StorageAlg::Rsa2048 => {
            w.u16(2048).u32(0);
        }
        StorageAlg::EccP256 => {
            w.u16(alg::NIST_P256).u16(alg::NULL);
        }
    }
    let fixed_len = w.len();
    match storage {
        StorageAlg::Rsa2048 => push_sized(&mut w, &[0u8; 256]),
        StorageAlg::EccP256 => {
            push_sized(&mut w, &[0u8; 32]);
            push_sized(&mut w, &[0u8; 32]);
        }
    }
    Template { bytes: w.into_vec(), fixed_len }
}

/// The sealed-data object template (TPMT_PUBLIC, Part 2 §12.2.4): KEYEDHASH with no
/// scheme, SHA-256 name, `policy` as authPolicy, empty `unique` (the TPM fills it).
pub(crate) fn seal_template(policy: &[u8; SHA256_LEN]) -> Template {
    let mut w = Writer::with_capacity(48);
    w.u16(alg::KEYEDHASH).u16(alg::SHA256).u32(SEAL_ATTRIBUTES);
    push_sized(&mut w, policy);
    w.u16(alg::NULL);
    let fixed_len = w.len();
    push_sized(&mut w, &[]);
    Template { bytes: w.into_vec(), fixed_len }
}

/// Appends a TPM2B_SENSITIVE_CREATE (Part 2 §11.1.15) holding `user_auth` and `data`.
pub(crate) fn push_sensitive_create(w: &mut Writer, user_auth: &[u8], data: &[u8]) {
    let mut inner = Writer::with_capacity(4 + user_auth.len() + data.len());
    push_sized(&mut inner, user_auth);
    push_sized(&mut inner, data);
    let inner = Zeroizing::new(inner.into_vec());
    push_sized(w, &inner);
}

/// The name of an object with a SHA-256 nameAlg: nameAlg followed by the hash of its
/// TPMT_PUBLIC (Part 1 §16).
pub(crate) fn object_name(public: &[u8]) -> Vec<u8> {
    let mut name = Vec::with_capacity(2 + SHA256_LEN);
    name.extend_from_slice(&alg::SHA256.to_be_bytes());
    name.extend_from_slice(&Sha256::digest(public));
    name
}

/// The first fields of a TPMT_PUBLIC.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PublicHeader {
    pub kind: u16,
    pub name_alg: u16,
    pub attributes: u32,
}

/// Reads the type, nameAlg and objectAttributes of a TPMT_PUBLIC.
pub(crate) fn public_header(public: &[u8]) -> Result<PublicHeader, Malformed> {
    let mut r = Reader::new(public);
    Ok(PublicHeader { kind: r.u16()?, name_alg: r.u16()?, attributes: r.u32()? })
}

/// A TPMS_NV_PUBLIC (Part 2 §13.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NvPublic {
    pub index: u32,
    pub name_alg: u16,
    pub attributes: u32,
    pub auth_policy: Vec<u8>,
    pub data_size: u16,
}

impl NvPublic {
    /// Appends it as a TPM2B_NV_PUBLIC.
    pub fn push(&self, w: &mut Writer) {
        let mut inner = Writer::with_capacity(14 + self.auth_policy.len());
        inner.u32(self.index).u16(self.name_alg).u32(self.attributes);
        push_sized(&mut inner, &self.auth_policy);
        inner.u16(self.data_size);
        push_sized(w, inner.as_slice());
    }

    /// Reads a TPM2B_NV_PUBLIC.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, Malformed> {
        let mut inner = Reader::new(r.sized_u16(MAX_SKIPPED)?);
        let public = Self {
            index: inner.u32()?,
            name_alg: inner.u16()?,
            attributes: inner.u32()?,
            auth_policy: inner.sized_u16(MAX_DIGEST)?.to_vec(),
            data_size: inner.u16()?,
        };
        inner.finish()?;
        Ok(public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_with_password_session_has_the_documented_layout() {
        let cmd =
            command(cc::NV_INCREMENT, &[handle::OWNER, 0x0180_0001], &[Auth::Password(b"pw")], &[]);
        let expected: &[u8] = &[
            0x80, 0x02, 0, 0, 0, 0x21, 0, 0, 0x01, 0x34, // header, size 33
            0x40, 0, 0, 1, 0x01, 0x80, 0, 1, // handles
            0, 0, 0, 11, // authorization size
            0x40, 0, 0, 9, 0, 0, 0, 0, 2, b'p', b'w', // TPM_RS_PW, no nonce, attrs, "pw"
        ];
        assert_eq!(cmd.as_slice(), expected);
    }

    #[test]
    fn srk_template_is_the_tcg_rsa_template() {
        let t = srk_template(StorageAlg::Rsa2048);
        assert_eq!(&t.bytes[..8], &[0, 1, 0, 0x0B, 0, 0x03, 0x04, 0x72]);
        assert_eq!(t.bytes.len(), t.fixed_len + 2 + 256);
        let ecc = srk_template(StorageAlg::EccP256);
        assert_eq!(ecc.bytes.len(), ecc.fixed_len + 2 * (2 + 32));
    }

    #[test]
    fn rc_base_strips_the_number_of_format_one_codes() {
        assert_eq!(rc::base(0x98E), rc::AUTH_FAIL);
        assert_eq!(rc::base(0x99D), rc::POLICY_FAIL);
        assert_eq!(rc::base(rc::LOCKOUT), rc::LOCKOUT);
        assert_eq!(rc::base(0x18B), rc::HANDLE);
    }
}
