//! TPM2_StartAuthSession and TPM2_PolicyRestart (Part 3 §11, §23.16), and the
//! secret-sharing helpers salted sessions, credentials and imports use
//! (Part 1 §24, Annex B/C "Secret Sharing").

use crate::crypto::ecc::{EccPublic, EccSecret};
use crate::crypto::kdf::{kdfa, kdfe};
use crate::crypto::rsa as rsa_ops;
use crate::dispatch::Cmd;
use crate::object::{KeyMaterial, Object};
use crate::session::{Session, SessionKind, SessionSlot};
use crate::state::MAX_LOADED_SESSIONS;
use crate::types::{
    EccCurve, EccPoint, HashAlg, Marshal, PublicKind, Rc, SymDef, TpmResult, Unmarshal, alg,
    handle as h, limits, nv_attr, put_2b, se,
};
use crate::{Secret, Tpm2};
use alloc::boxed::Box;
use alloc::vec::Vec;
use tpm_engine::Drbg;

/// A label as the TPM uses it in OAEP and KDFe: with its terminating zero.
fn label_z(label: &[u8]) -> Vec<u8> {
    let mut l = label.to_vec();
    l.push(0);
    l
}

/// `CryptSecretDecrypt` for RSA (OAEP with the key's scheme hash, or its nameAlg)
/// and ECC (ECDH + KDFe with the key's nameAlg): recovers a seed of at most one
/// digest. Any failure is TPM_RC_VALUE, except an unusable scheme (TPM_RC_SCHEME).
pub(crate) fn secret_decrypt(
    key: &Object,
    label: &[u8],
    secret: &[u8],
    drbg: &mut Drbg,
) -> TpmResult<Secret> {
    let name_alg = key.public.name_alg.ok_or(Rc::KEY)?;
    match (&key.public.kind, &key.key) {
        (PublicKind::Rsa { parms, .. }, KeyMaterial::RsaPrivate(k)) => {
            let hash = match parms.scheme.alg {
                alg::NULL => name_alg,
                alg::OAEP => parms.scheme.hash_alg().ok_or(Rc::SCHEME)?,
                _ => return Err(Rc::SCHEME),
            };
            let seed = rsa_ops::decrypt(k, alg::OAEP, Some(hash), &label_z(label), secret, drbg)
                .map_err(|_| Rc::VALUE)?;
            if seed.len() > hash.size() {
                return Err(Rc::VALUE);
            }
            Ok(Secret::new(seed.to_vec()))
        }
        (PublicKind::Ecc { parms, x, .. }, KeyMaterial::EccPrivate(k)) => {
            let curve = EccCurve::from_id(parms.curve).ok_or(Rc::CURVE)?;
            let point = EccPoint::from_bytes(secret).map_err(|_| Rc::VALUE)?;
            let ephemeral = EccPublic::from_xy(curve, &point.x, &point.y).map_err(|_| Rc::VALUE)?;
            let z = k.ecdh(&ephemeral)?;
            Ok(Secret::new(kdfe(name_alg, &z, label, &point.x, x, name_alg.bits()).to_vec()))
        }
        _ => Err(Rc::KEY),
    }
}

/// The sender's side (`CryptSecretEncrypt`), used by TPM2_MakeCredential and
/// TPM2_Duplicate: a fresh seed and its encryption to `key`.
pub(crate) fn secret_encrypt(
    key: &Object,
    label: &[u8],
    drbg: &mut Drbg,
) -> TpmResult<(Secret, Vec<u8>)> {
    let name_alg = key.public.name_alg.ok_or(Rc::KEY)?;
    match &key.public.kind {
        PublicKind::Rsa { parms, .. } => {
            let public = match &key.key {
                KeyMaterial::RsaPrivate(k) => k.to_public_key(),
                KeyMaterial::RsaPublic(k) => (**k).clone(),
                _ => return Err(Rc::KEY),
            };
            let hash = match parms.scheme.alg {
                alg::NULL => name_alg,
                alg::OAEP => parms.scheme.hash_alg().ok_or(Rc::SCHEME)?,
                _ => return Err(Rc::SCHEME),
            };
            let mut seed = Secret::new(alloc::vec![0; hash.size()]);
            drbg.fill(&mut seed);
            let enc =
                rsa_ops::encrypt(&public, alg::OAEP, Some(hash), &label_z(label), &seed, drbg)?;
            Ok((seed, enc))
        }
        PublicKind::Ecc { parms, x, y } => {
            let curve = EccCurve::from_id(parms.curve).ok_or(Rc::CURVE)?;
            let point = EccPublic::from_xy(curve, x, y)?;
            let ephemeral = EccSecret::random(curve, drbg)?;
            let z = ephemeral.ecdh(&point)?;
            let (ex, ey) = ephemeral.public().xy();
            let seed = Secret::new(kdfe(name_alg, &z, label, &ex, x, name_alg.bits()).to_vec());
            Ok((seed, EccPoint { x: ex, y: ey }.to_bytes()))
        }
        _ => Err(Rc::KEY),
    }
}

impl Tpm2 {
    /// Allocates a session slot: at most [`MAX_LOADED_SESSIONS`] loaded, at most
    /// [`MAX_SESSIONS`] active.
    fn free_session_slot(&self) -> TpmResult<usize> {
        let loaded =
            self.v.sessions.iter().filter(|s| matches!(s, Some(SessionSlot::Loaded(_)))).count();
        if loaded >= MAX_LOADED_SESSIONS {
            return Err(Rc::SESSION_MEMORY);
        }
        self.v.sessions.iter().position(Option::is_none).ok_or(Rc::SESSION_HANDLES)
    }
}

/// TPM2_StartAuthSession.
pub(crate) fn start_auth_session(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let nonce_caller = cmd.params.b2(limits::MAX_DIGEST)?;
    let encrypted_salt = cmd.params.b2(limits::MAX_ENCRYPTED_SECRET)?;
    let kind = cmd.params.next(|r| match r.u8()? {
        se::HMAC => Ok(SessionKind::Hmac),
        se::POLICY => Ok(SessionKind::Policy),
        se::TRIAL => Ok(SessionKind::Trial),
        _ => Err(Rc::VALUE),
    })?;
    let symmetric = cmd.params.next(|r| SymDef::unmarshal_def(r, false, true))?;
    let auth_hash: HashAlg = cmd.params.get()?;
    cmd.params.end()?;
    let (tpm_key, bind) = (cmd.handle(0)?, cmd.handle(1)?);
    if nonce_caller.len() < 16 || nonce_caller.len() > auth_hash.size() {
        return Err(Rc::SIZE.param(1));
    }
    let salt = if tpm_key != h::NULL {
        let key = tpm.object(tpm_key).ok_or(Rc::HANDLE.handle(1))?.clone();
        if !matches!(key.public.kind, PublicKind::Rsa { .. } | PublicKind::Ecc { .. }) {
            return Err(Rc::KEY.handle(1));
        }
        if encrypted_salt.is_empty() {
            return Err(Rc::VALUE.param(2));
        }
        if key.public_only() {
            return Err(Rc::HANDLE.handle(1));
        }
        if !key.has(crate::types::object_attr::DECRYPT) {
            return Err(Rc::ATTRIBUTES.handle(1));
        }
        secret_decrypt(&key, b"SECRET", &encrypted_salt, &mut tpm.drbg)
            .map_err(|_| Rc::VALUE.param(2))?
    } else {
        if !encrypted_salt.is_empty() {
            return Err(Rc::VALUE.param(2));
        }
        Secret::default()
    };
    match h::kind(bind) {
        h::HT_TRANSIENT | h::HT_PERSISTENT if tpm.object(bind).is_some_and(Object::public_only) => {
            return Err(Rc::HANDLE.handle(2));
        }
        h::HT_NV_INDEX => {
            let pin = tpm.p.nv.get(&bind).is_some_and(|i| {
                matches!(i.public.nt(), nv_attr::NT_PIN_FAIL | nv_attr::NT_PIN_PASS)
            });
            if pin {
                return Err(Rc::HANDLE.handle(2));
            }
        }
        _ => {}
    }
    if let SymDef::Aes { mode, .. } = symmetric
        && mode != alg::CFB
    {
        return Err(Rc::MODE.param(4));
    }
    let slot = tpm.free_session_slot()?;
    let nonce_tpm = tpm.random(nonce_caller.len());
    let session_key = if bind != h::NULL || !salt.is_empty() {
        let mut key = Secret::new(tpm.entity_auth(bind));
        key.extend_from_slice(&salt);
        Secret::new(
            kdfa(auth_hash, &key, b"ATH", &nonce_tpm, &nonce_caller, auth_hash.bits()).to_vec(),
        )
    } else {
        Secret::default()
    };
    let da_bound = bind != h::NULL && !tpm.da_exempt(bind);
    let session = Session {
        kind,
        hash: auth_hash,
        nonce_tpm: nonce_tpm.clone(),
        session_key,
        symmetric,
        bound: (bind != h::NULL && kind == SessionKind::Hmac).then(|| tpm.bind_value(bind)),
        da_bound,
        lockout_bound: da_bound && bind == h::LOCKOUT,
        policy_digest: alloc::vec![0; auth_hash.size()],
        auth_value_needed: false,
        password_needed: false,
        pp_required: false,
        command_code: None,
        cp_hash: None,
        locality: 0,
        pcr_counter: None,
        timeout: 0,
        start_time: tpm.v.time,
        nv_written: None,
        audit: None,
        epoch: tpm.epoch(),
    };
    let base =
        if kind == SessionKind::Hmac { h::HMAC_SESSION_FIRST } else { h::POLICY_SESSION_FIRST };
    let handle = base + u32::try_from(slot).map_err(|_| Rc::FAILURE)?;
    if let Some(cell) = tpm.v.sessions.get_mut(slot) {
        *cell = Some(SessionSlot::Loaded(Box::new(session)));
    }
    cmd.out_handle = Some(handle);
    put_2b(&mut cmd.out, &nonce_tpm);
    Ok(())
}

/// TPM2_PolicyRestart.
pub(crate) fn policy_restart(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let time = tpm.v.time;
    let s = tpm.session_mut(cmd.handle(0)?).ok_or(Rc::HANDLE.handle(1))?;
    s.reset_policy(time);
    Ok(())
}
