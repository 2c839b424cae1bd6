//! Authorization sessions and resource flushing (Part 3 §18, §22.3).

use tpm_engine::wire::Writer;

use crate::consts::{et, kh, rt};
use crate::crypto::{self, Digest20};
use crate::engine::{Cmd, MAX_SESSIONS, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::state::{Session, SessionKind, secret};
use crate::structs::read_digest;

fn add_session(tpm: &mut Tpm12, kind: SessionKind) -> TpmResult<(u32, Digest20)> {
    if tpm.vol.sessions.len() >= MAX_SESSIONS {
        return Err(TpmError::Resources);
    }
    let handle = tpm.new_handle();
    let nonce_even = tpm.nonce();
    tpm.vol.sessions.push(Session { handle, kind, nonce_even });
    tpm.dirty.volatile = true;
    Ok((handle, nonce_even))
}

/// TPM_OIAP (Part 3 §18.1).
pub(crate) fn oiap(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    let (handle, nonce_even) = add_session(tpm, SessionKind::Oiap)?;
    let mut w = Writer::new();
    w.u32(handle).bytes(&nonce_even);
    Ok(Out::params(w.into_vec()))
}

/// The usage secret of the entity an OSAP session authorizes.
pub(crate) fn entity_auth(tpm: &Tpm12, entity_type: u8, entity_value: u32) -> TpmResult<Digest20> {
    match entity_type {
        et::KEYHANDLE => {
            if entity_value == kh::OPERATOR {
                return Err(TpmError::BadHandle);
            }
            Ok(*tpm.key(entity_value)?.usage_auth)
        }
        et::OWNER => tpm.perm.owner_auth.as_deref().copied().ok_or(TpmError::BadParameter),
        et::SRK => tpm.perm.srk.as_ref().map(|k| *k.usage_auth).ok_or(TpmError::InvalidKeyhandle),
        et::COUNTER => tpm
            .perm
            .counters
            .iter()
            .find(|c| c.id == entity_value)
            .map(|c| *c.auth)
            .ok_or(TpmError::BadCounter),
        et::NV => tpm
            .perm
            .nv
            .iter()
            .find(|n| n.public.index == entity_value)
            .map(|n| *n.auth)
            .ok_or(TpmError::Badindex),
        _ => Err(TpmError::BadParameter),
    }
}

/// TPM_OSAP (Part 3 §18.2).
pub(crate) fn osap(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let entity_type = cmd.r.u16()?;
    let entity_value = cmd.r.u32()?;
    let nonce_odd_osap = read_digest(&mut cmd.r)?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::OWNER | check::NO_LOCKOUT)?;
    if tpm.vol.sessions.len() >= MAX_SESSIONS {
        return Err(TpmError::Resources);
    }
    // Action 5: only the XOR ADIP scheme is offered (TPM_CAP_AUTH_ENCRYPT).
    if entity_type >> 8 != u16::from(et::XOR) {
        return Err(TpmError::InappropriateEnc);
    }
    let low = u8::try_from(entity_type & 0xFF).unwrap_or(0);
    let usage = secret(entity_auth(tpm, low, entity_value)?);
    let nonce_even_osap = tpm.nonce();
    let shared_secret = secret(crypto::hmac_sha1(&usage[..], &[&nonce_even_osap, &nonce_odd_osap]));
    let (handle, nonce_even) =
        add_session(tpm, SessionKind::Osap { entity_type, entity_value, shared_secret })?;
    let mut w = Writer::new();
    w.u32(handle).bytes(&nonce_even).bytes(&nonce_even_osap);
    Ok(Out::params(w.into_vec()))
}

fn terminate(tpm: &mut Tpm12, handle: u32) -> TpmResult<()> {
    let before = tpm.vol.sessions.len();
    tpm.vol.sessions.retain(|s| s.handle != handle);
    if tpm.vol.sessions.len() == before {
        return Err(TpmError::InvalidAuthhandle);
    }
    tpm.dirty.volatile = true;
    Ok(())
}

/// TPM_Terminate_Handle (Part 3 §18.3, deprecated by FlushSpecific).
pub(crate) fn terminate_handle(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let handle = cmd.r.u32()?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    terminate(tpm, handle)?;
    Ok(Out::empty())
}

/// TPM_FlushSpecific (Part 3 §22.3).
pub(crate) fn flush_specific(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let handle = cmd.r.u32()?;
    let resource_type = cmd.r.u32()?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    match resource_type {
        rt::CONTEXT => {
            let pos = tpm
                .vol
                .context_list
                .iter()
                .position(|c| *c == handle)
                .ok_or(TpmError::BadParameter)?;
            tpm.vol.context_list.remove(pos);
        }
        rt::KEY => {
            let pos = tpm
                .vol
                .keys
                .iter()
                .position(|k| k.handle == handle)
                .ok_or(TpmError::BadParameter)?;
            tpm.vol.keys.remove(pos);
            // Sessions bound to the key go with it (Part 3 §22.3 action 8.a).
            tpm.vol.sessions.retain(|s| {
                !matches!(s.kind, SessionKind::Osap { entity_type, entity_value, .. }
                    if u8::try_from(entity_type & 0xFF).ok() == Some(et::KEYHANDLE) && entity_value == handle)
            });
        }
        rt::AUTH => terminate(tpm, handle)?,
        rt::TRANS | rt::DAA_TPM => return Err(TpmError::BadParameter),
        _ => return Err(TpmError::InvalidResource),
    }
    tpm.dirty.volatile = true;
    Ok(Out::empty())
}
