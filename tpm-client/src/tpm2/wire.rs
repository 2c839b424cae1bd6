//! TPM 2.0 marshalling for the client, over the engine crate's wire types.
//!
//! Structures, constants and response codes are `tpm2::types` (TPM 2.0 Part 2), shared
//! with the software TPM 2.0 engine. This module adds what a client needs on top of them:
//! a command with its authorisation area, a response split into handle, parameters and
//! authorisation area, the two object templates the client creates, and object names.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use ::tpm2::types::limits::MAX_DIGEST;
use ::tpm2::types::{
    EccParms, HashAlg, Marshal, PcrSelection as TpmPcrSelection, PcrSelectionList, Public,
    PublicKind, RsaParms, Scheme, SensitiveCreate, SymDef, alg, curve, handle, object_attr,
    session_attr,
};
use sha2::{Digest, Sha256};
use tpm_engine::wire::{Reader, Writer};
use zeroize::Zeroizing;

use crate::frame::Response;
use crate::{Malformed, PcrSelection};

pub(crate) use ::tpm2::types::limits;
pub(crate) use ::tpm2::types::{Rc, cap, cc, nv_attr, pt, se, st, su};

/// Length of a SHA-256 digest.
pub(crate) const SHA256_LEN: usize = 32;

/// The bound the client puts on a TPM2B_PUBLIC's contents it stores or sends.
pub(crate) const MAX_PUBLIC: usize = limits::MAX_PUBLIC;

/// The bound the client puts on a TPM2B_PRIVATE it stores or sends.
pub(crate) const MAX_PRIVATE: usize = limits::MAX_PRIVATE;

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

/// Builds a complete command (Part 1 §18.7). Parameters can hold secrets, so the result
/// is wiped on drop.
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
            Auth::Password(password) => (handle::PW, &[], 0, password),
            // Keep policy sessions alive so the client flushes them itself on every path.
            Auth::Policy { session, nonce } => {
                (session, nonce, session_attr::CONTINUE_SESSION, &[])
            }
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
    ::tpm2::types::put_2b(w, data);
}

/// Appends a structure as a size-prefixed TPM2B through a buffer that is wiped after.
pub(crate) fn push_sized_secret(w: &mut Writer, inner: &impl Marshal) {
    let bytes = Zeroizing::new(inner.to_bytes());
    push_sized(w, &bytes);
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

/// The TPML_PCR_SELECTION bytes of one SHA-256 selection, as hashed into PolicyPCR.
pub(crate) fn pcr_selection_bytes(selection: PcrSelection) -> Vec<u8> {
    pcr_selection_list(selection).to_bytes()
}

/// The TPML_PCR_SELECTION of one SHA-256 selection (Part 2 §10.9.7).
pub(crate) fn pcr_selection_list(selection: PcrSelection) -> PcrSelectionList {
    PcrSelectionList(vec![TpmPcrSelection {
        hash: HashAlg::Sha256,
        select: selection.select_bytes().to_vec(),
    }])
}

/// The SHA-256 PCRs a TPML_PCR_SELECTION selects. A selection of another bank must be
/// empty: the client asks only for SHA-256.
pub(crate) fn sha256_selection(list: &PcrSelectionList) -> Result<PcrSelection, Malformed> {
    let mut mask = 0;
    for selection in &list.0 {
        let pcrs =
            PcrSelection::from_select_bytes(&selection.select).ok_or(Malformed::UnexpectedValue)?;
        match selection.hash {
            HashAlg::Sha256 => mask |= pcrs.mask(),
            _ if pcrs.is_empty() => {}
            _ => return Err(Malformed::UnexpectedValue),
        }
    }
    PcrSelection::from_mask(mask).ok_or(Malformed::UnexpectedValue)
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
pub(crate) const SRK_ATTRIBUTES: u32 = object_attr::FIXED_TPM
    | object_attr::FIXED_PARENT
    | object_attr::SENSITIVE_DATA_ORIGIN
    | object_attr::USER_WITH_AUTH
    | object_attr::NO_DA
    | object_attr::RESTRICTED
    | object_attr::DECRYPT;

/// The attributes of the sealed root: it never leaves this TPM or its parent; no
/// authValue use (userWithAuth clear), so only the PCR policy releases it; admin
/// actions need the policy too (adminWithPolicy), which cannot satisfy them; noDA,
/// since it has no authValue to guess (Part 1 §19.6, §25.2).
pub(crate) const SEAL_ATTRIBUTES: u32 = object_attr::FIXED_TPM
    | object_attr::FIXED_PARENT
    | object_attr::ADMIN_WITH_POLICY
    | object_attr::NO_DA;

/// The TCG storage root key template: AES-128-CFB, no scheme, RSA-2048 with the
/// default exponent or ECC P-256 without KDF, SHA-256 name, no policy; `unique` all zero
/// of the key's size, as the guidance prescribes so every user of the template gets the
/// same key.
pub(crate) fn srk_template(storage: StorageAlg) -> Public {
    let kind = match storage {
        StorageAlg::Rsa2048 => PublicKind::Rsa {
            parms: RsaParms {
                symmetric: SymDef::AES_128_CFB,
                scheme: Scheme::NULL,
                key_bits: 2048,
                exponent: 0,
            },
            modulus: vec![0; 256],
        },
        StorageAlg::EccP256 => PublicKind::Ecc {
            parms: EccParms {
                symmetric: SymDef::AES_128_CFB,
                scheme: Scheme::NULL,
                curve: curve::NIST_P256,
                kdf: Scheme::NULL,
            },
            x: vec![0; 32],
            y: vec![0; 32],
        },
    };
    Public {
        name_alg: Some(HashAlg::Sha256),
        attributes: SRK_ATTRIBUTES,
        auth_policy: Vec::new(),
        kind,
    }
}

/// The sealed-data object template (Part 2 §12.2.4): KEYEDHASH with no scheme, SHA-256
/// name, `policy` as authPolicy, empty `unique` (the TPM fills it).
pub(crate) fn seal_template(policy: &[u8; SHA256_LEN]) -> Public {
    Public {
        name_alg: Some(HashAlg::Sha256),
        attributes: SEAL_ATTRIBUTES,
        auth_policy: policy.to_vec(),
        kind: PublicKind::KeyedHash { scheme: Scheme::NULL, unique: Vec::new() },
    }
}

/// The public area without its `unique` field: what a TPM must return unchanged from
/// the template it was given.
pub(crate) fn without_unique(public: &Public) -> Public {
    let mut public = public.clone();
    match &mut public.kind {
        PublicKind::Rsa { modulus, .. } => modulus.clear(),
        PublicKind::Ecc { x, y, .. } => {
            x.clear();
            y.clear();
        }
        PublicKind::KeyedHash { unique, .. } | PublicKind::SymCipher { unique, .. } => {
            unique.clear();
        }
    }
    public
}

/// A TPM2B_SENSITIVE_CREATE (Part 2 §11.1.15) holding `user_auth` and `data`.
pub(crate) fn push_sensitive_create(w: &mut Writer, user_auth: &[u8], data: &[u8]) {
    let sensitive = SensitiveCreate { user_auth: user_auth.to_vec(), data: data.to_vec() };
    push_sized_secret(w, &sensitive);
}

/// The name of an object with a SHA-256 nameAlg: nameAlg followed by the hash of the
/// TPMT_PUBLIC bytes (Part 1 §16).
pub(crate) fn object_name(public: &[u8]) -> Vec<u8> {
    let mut name = Vec::with_capacity(2 + SHA256_LEN);
    name.extend_from_slice(&alg::SHA256.to_be_bytes());
    name.extend_from_slice(&Sha256::digest(public));
    name
}

/// A storage key the sealed root may live under: an RSA or ECC restricted decryption
/// key that can never leave this TPM (fixedTPM: not imported, not duplicable), with a
/// SHA-256 name.
pub(crate) fn is_storage_key(public: &Public) -> bool {
    let needed = object_attr::FIXED_TPM
        | object_attr::FIXED_PARENT
        | object_attr::RESTRICTED
        | object_attr::DECRYPT;
    matches!(public.kind, PublicKind::Rsa { .. } | PublicKind::Ecc { .. })
        && public.name_alg == Some(HashAlg::Sha256)
        && public.has(needed)
        && public.attributes & object_attr::SIGN_ENCRYPT == 0
}

/// A sealed-data object this client creates: KEYEDHASH without scheme, SHA-256 name,
/// the seal attributes, a SHA-256 policy and the 32-byte `unique` the TPM computed.
pub(crate) fn is_sealed_object(public: &Public) -> bool {
    public.name_alg == Some(HashAlg::Sha256)
        && public.attributes == SEAL_ATTRIBUTES
        && public.auth_policy.len() == SHA256_LEN
        && matches!(
            &public.kind,
            PublicKind::KeyedHash { scheme, unique } if scheme.is_null() && unique.len() == SHA256_LEN
        )
}

/// The handle type (top byte).
pub(crate) fn handle_type(object: u32) -> u8 {
    object.to_be_bytes()[0]
}

pub(crate) use handle::{HT_POLICY_SESSION, HT_TRANSIENT, NULL as RH_NULL, OWNER as RH_OWNER};

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
        let bytes = srk_template(StorageAlg::Rsa2048).to_bytes();
        assert_eq!(&bytes[..8], &[0, 1, 0, 0x0B, 0, 0x03, 0x04, 0x72]);
        // symmetric AES-128-CFB, scheme NULL, 2048 bits, exponent 0, 256-byte unique.
        assert_eq!(&bytes[8..24], &[0, 0, 0, 6, 0, 0x80, 0, 0x43, 0, 0x10, 8, 0, 0, 0, 0, 0]);
        assert_eq!(bytes.len(), 24 + 2 + 256);
        let ecc = srk_template(StorageAlg::EccP256).to_bytes();
        assert_eq!(&ecc[18..24], &[0, 3, 0, 0x10, 0, 32]);
        assert_eq!(ecc.len(), 22 + 2 * (2 + 32));
    }

    #[test]
    fn rc_base_strips_the_number_of_format_one_codes() {
        assert_eq!(Rc(0x98E).base(), Rc::AUTH_FAIL);
        assert_eq!(Rc(0x99D).base(), Rc::POLICY_FAIL);
        assert_eq!(Rc::LOCKOUT.base(), Rc::LOCKOUT);
        assert_eq!(Rc(0x18B).base(), Rc::HANDLE);
    }
}
