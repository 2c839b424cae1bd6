//! Authorization sessions (TPM 2.0 Part 1 §19): their state, the session HMAC and
//! parameter encryption.

use crate::Secret;
use crate::crypto::hash::{self, Hasher};
use crate::crypto::kdf::kdfa;
use crate::crypto::sym::{Aes, BLOCK, aes_crypt};
use crate::types::{
    HashAlg, Marshal, Rc, Reader, SymDef, TpmResult, Writer, alg, get_2b_vec, limits, put_2b,
};
use alloc::vec::Vec;

/// The kind of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// TPM_SE_HMAC.
    Hmac,
    /// TPM_SE_POLICY.
    Policy,
    /// TPM_SE_TRIAL: a policy session that only computes a digest.
    Trial,
}

/// What a policy's cpHash slot holds (PolicyCpHash, PolicyNameHash or
/// PolicyTemplate share one field, as in the reference implementation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpHashKind {
    /// TPM2_PolicyCpHash: the command's cpHash.
    CpHash,
    /// TPM2_PolicyNameHash: a digest of the handles' Names.
    NameHash,
    /// TPM2_PolicyTemplate: a digest of the creation template.
    Template,
}

/// A loaded session.
#[derive(Clone, Debug)]
pub struct Session {
    /// HMAC, policy or trial.
    pub kind: SessionKind,
    /// authHash.
    pub hash: HashAlg,
    /// The TPM's current nonce.
    pub nonce_tpm: Vec<u8>,
    /// sessionKey (empty for unbound, unsalted sessions).
    pub session_key: Secret,
    /// Parameter-encryption algorithm.
    pub symmetric: SymDef,
    /// The binding value of the bind entity (HMAC sessions bound to an entity).
    pub bound: Option<Vec<u8>>,
    /// Bound to a DA-protected entity: use is subject to lockout.
    pub da_bound: bool,
    /// Bound to TPM_RH_LOCKOUT.
    pub lockout_bound: bool,
    /// policyDigest (policy and trial sessions).
    pub policy_digest: Vec<u8>,
    /// TPM2_PolicyAuthValue was run: the HMAC includes the authValue.
    pub auth_value_needed: bool,
    /// TPM2_PolicyPassword was run: the authValue is sent in the clear.
    pub password_needed: bool,
    /// TPM2_PolicyPhysicalPresence was run.
    pub pp_required: bool,
    /// TPM2_PolicyCommandCode's command.
    pub command_code: Option<u32>,
    /// cpHash, nameHash or templateHash restriction.
    pub cp_hash: Option<(CpHashKind, Vec<u8>)>,
    /// TPM2_PolicyLocality's `TPMA_LOCALITY` (0 = no restriction).
    pub locality: u8,
    /// The PCR update counter when TPM2_PolicyPCR ran.
    pub pcr_counter: Option<u32>,
    /// Expiry, in TPM Time milliseconds (0 = none).
    pub timeout: u64,
    /// Session start, in TPM Time milliseconds.
    pub start_time: u64,
    /// TPM2_PolicyNvWritten's required state.
    pub nv_written: Option<bool>,
    /// The audit digest once the session was used for audit.
    pub audit: Option<Vec<u8>>,
    /// The TPM Reset/Restart epoch the session's time values refer to.
    pub epoch: u32,
}

impl Session {
    /// Resets the policy state (TPM2_PolicyRestart, or a continued policy session
    /// after a command, Part 1 §19.7.13).
    pub fn reset_policy(&mut self, time: u64) {
        self.policy_digest = alloc::vec![0; self.hash.size()];
        self.auth_value_needed = false;
        self.password_needed = false;
        self.pp_required = false;
        self.command_code = None;
        self.cp_hash = None;
        self.locality = 0;
        self.pcr_counter = None;
        self.timeout = 0;
        self.start_time = time;
        self.nv_written = None;
    }

    /// True for policy and trial sessions.
    pub fn is_policy(&self) -> bool {
        matches!(self.kind, SessionKind::Policy | SessionKind::Trial)
    }

    /// Extends policyDigest: H(policyDigest ‖ data).
    pub fn extend_policy(&mut self, parts: &[&[u8]]) {
        let mut h = Hasher::new(self.hash);
        h.update(&self.policy_digest);
        for p in parts {
            h.update(p);
        }
        self.policy_digest = h.finish();
    }

    /// The PolicyUpdate() of Part 3 §23.2.3: extends with commandCode ‖ arg2, then
    /// with arg3.
    pub fn policy_update(&mut self, cc: u32, arg2: &[u8], arg3: &[u8]) {
        self.extend_policy(&[&cc.to_be_bytes(), arg2]);
        self.extend_policy(&[arg3]);
    }

    /// The key for the session HMAC and parameter encryption: sessionKey ‖
    /// authValue (Part 1 §19.6.8).
    pub fn hmac_key(&self, auth: Option<&[u8]>) -> Secret {
        let mut key = Secret::new(self.session_key.to_vec());
        if let Some(auth) = auth {
            key.extend_from_slice(auth);
        }
        key
    }

    /// Decrypts (`decrypt` = true, a command's first parameter) or encrypts (a
    /// response's) `data` with this session's symmetric algorithm (Part 1 §21).
    /// `nonce_newer`/`nonce_older` are nonceCaller/nonceTPM for commands and
    /// nonceTPM/nonceCaller for responses.
    pub fn crypt_parameter(
        &self,
        auth: Option<&[u8]>,
        nonce_newer: &[u8],
        nonce_older: &[u8],
        decrypt: bool,
        data: &mut [u8],
    ) -> TpmResult<()> {
        let key = self.hmac_key(auth);
        match self.symmetric {
            SymDef::Xor(hash) => {
                let bits = u32::try_from(data.len()).map_err(|_| Rc::SIZE)?.saturating_mul(8);
                let mask = kdfa(hash, &key, b"XOR", nonce_newer, nonce_older, bits);
                for (d, m) in data.iter_mut().zip(mask.iter()) {
                    *d ^= m;
                }
                Ok(())
            }
            SymDef::Aes { bits, .. } => {
                let key_bytes = usize::from(bits / 8);
                let material =
                    kdfa(self.hash, &key, b"CFB", nonce_newer, nonce_older, u32::from(bits) + 128);
                let aes = Aes::new(material.get(..key_bytes).ok_or(Rc::FAILURE)?)?;
                let mut iv = [0u8; BLOCK];
                iv.copy_from_slice(material.get(key_bytes..).ok_or(Rc::FAILURE)?);
                aes_crypt(&aes, alg::CFB, &mut iv, decrypt, data)
            }
            SymDef::Null => Err(Rc::SYMMETRIC),
        }
    }
}

/// The command HMAC (Part 1 §19.6.5): HMAC(key, cpHash ‖ nonceCaller ‖ nonceTPM
/// [‖ nonceDecrypt] [‖ nonceEncrypt] ‖ sessionAttributes).
pub fn command_hmac(
    hash: HashAlg,
    key: &[u8],
    cp_hash: &[u8],
    nonce_caller: &[u8],
    nonce_tpm: &[u8],
    extra_nonces: &[&[u8]],
    attributes: u8,
) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = alloc::vec![cp_hash, nonce_caller, nonce_tpm];
    parts.extend_from_slice(extra_nonces);
    let attrs = [attributes];
    parts.push(&attrs);
    hash::hmac(hash, key, &parts)
}

/// The response HMAC: HMAC(key, rpHash ‖ nonceTPM ‖ nonceCaller ‖ attributes).
pub fn response_hmac(
    hash: HashAlg,
    key: &[u8],
    rp_hash: &[u8],
    nonce_tpm: &[u8],
    nonce_caller: &[u8],
    attributes: u8,
) -> Vec<u8> {
    hash::hmac(hash, key, &[rp_hash, nonce_tpm, nonce_caller, &[attributes]])
}

/// A session slot: loaded, or saved by TPM2_ContextSave (only its context
/// sequence number stays in the TPM, Part 1 §30.4).
#[derive(Clone, Debug)]
pub enum SessionSlot {
    /// In TPM memory.
    Loaded(alloc::boxed::Box<Session>),
    /// Saved; the context with this sequence number may be loaded back.
    Saved {
        /// The context sequence number.
        sequence: u64,
    },
}

fn kind_code(k: SessionKind) -> u8 {
    match k {
        SessionKind::Hmac => 0,
        SessionKind::Policy => 1,
        SessionKind::Trial => 3,
    }
}

fn put_opt_bytes(w: &mut Writer, v: &Option<Vec<u8>>) {
    match v {
        Some(b) => {
            w.u8(1);
            put_2b(w, b);
        }
        None => {
            w.u8(0);
        }
    }
}

fn get_opt_bytes(r: &mut Reader<'_>, max: usize) -> Option<Option<Vec<u8>>> {
    match r.u8().ok()? {
        0 => Some(None),
        1 => Some(Some(get_2b_vec(r, max).ok()?)),
        _ => None,
    }
}

/// Serialises a session (state blobs and session contexts).
pub fn put_session(w: &mut Writer, s: &Session) {
    w.u8(kind_code(s.kind)).u16(s.hash.id());
    put_2b(w, &s.nonce_tpm);
    put_2b(w, &s.session_key);
    s.symmetric.marshal(w);
    put_opt_bytes(w, &s.bound);
    w.u8(u8::from(s.da_bound) | u8::from(s.lockout_bound) << 1);
    put_2b(w, &s.policy_digest);
    w.u8(u8::from(s.auth_value_needed)
        | u8::from(s.password_needed) << 1
        | u8::from(s.pp_required) << 2);
    match s.command_code {
        Some(cc) => w.u8(1).u32(cc),
        None => w.u8(0),
    };
    match &s.cp_hash {
        Some((kind, d)) => {
            w.u8(match kind {
                CpHashKind::CpHash => 1,
                CpHashKind::NameHash => 2,
                CpHashKind::Template => 3,
            });
            put_2b(w, d);
        }
        None => {
            w.u8(0);
        }
    }
    w.u8(s.locality);
    match s.pcr_counter {
        Some(c) => w.u8(1).u32(c),
        None => w.u8(0),
    };
    w.u64(s.timeout).u64(s.start_time);
    w.u8(match s.nv_written {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    });
    put_opt_bytes(w, &s.audit);
    w.u32(s.epoch);
}

/// Parses [`put_session`] output; `None` if malformed.
pub fn get_session(r: &mut Reader<'_>) -> Option<Session> {
    let kind = match r.u8().ok()? {
        0 => SessionKind::Hmac,
        1 => SessionKind::Policy,
        3 => SessionKind::Trial,
        _ => return None,
    };
    let hash = HashAlg::from_id(r.u16().ok()?)?;
    let nonce_tpm = get_2b_vec(r, limits::MAX_DIGEST).ok()?;
    let session_key = Secret::new(get_2b_vec(r, limits::MAX_DIGEST).ok()?);
    let symmetric = SymDef::unmarshal_def(r, false, true).ok()?;
    let bound = get_opt_bytes(r, limits::MAX_DIGEST)?;
    let b = r.u8().ok()?;
    if b & !3 != 0 {
        return None;
    }
    let policy_digest = get_2b_vec(r, limits::MAX_DIGEST).ok()?;
    let f = r.u8().ok()?;
    if f & !7 != 0 {
        return None;
    }
    let command_code = match r.u8().ok()? {
        0 => None,
        1 => Some(r.u32().ok()?),
        _ => return None,
    };
    let cp_hash = match r.u8().ok()? {
        0 => None,
        k @ 1..=3 => {
            let kind = match k {
                1 => CpHashKind::CpHash,
                2 => CpHashKind::NameHash,
                _ => CpHashKind::Template,
            };
            Some((kind, get_2b_vec(r, limits::MAX_DIGEST).ok()?))
        }
        _ => return None,
    };
    let locality = r.u8().ok()?;
    let pcr_counter = match r.u8().ok()? {
        0 => None,
        1 => Some(r.u32().ok()?),
        _ => return None,
    };
    let timeout = r.u64().ok()?;
    let start_time = r.u64().ok()?;
    let nv_written = match r.u8().ok()? {
        0 => None,
        1 => Some(false),
        2 => Some(true),
        _ => return None,
    };
    let audit = get_opt_bytes(r, limits::MAX_DIGEST)?;
    let epoch = r.u32().ok()?;
    if nonce_tpm.len() < 16 || policy_digest.len() != hash.size() && kind != SessionKind::Hmac {
        return None;
    }
    Some(Session {
        kind,
        hash,
        nonce_tpm,
        session_key,
        symmetric,
        bound,
        da_bound: b & 1 != 0,
        lockout_bound: b & 2 != 0,
        policy_digest,
        auth_value_needed: f & 1 != 0,
        password_needed: f & 2 != 0,
        pp_required: f & 4 != 0,
        command_code,
        cp_hash,
        locality,
        pcr_counter,
        timeout,
        start_time,
        nv_written,
        audit,
        epoch,
    })
}
