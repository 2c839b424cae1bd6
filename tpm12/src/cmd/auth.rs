//! Changing authorization values: TPM_ChangeAuth (keys and sealed data) and
//! TPM_ChangeAuthOwner (owner and SRK) (Part 3 §17.1, §17.2). The new value
//! arrives ADIP-encrypted under an OSAP session (ADCP, Part 1 §13.6).

use tpm_engine::wire::Writer;
use zeroize::Zeroizing;

use crate::consts::{et, pid};
use crate::crypto;
use crate::engine::{Cmd, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::state::SessionKind;
use crate::structs::{MAX_FIELD, StoreAsymKey, read_digest, write_sized};

use super::storage::{SealedData, storage_parent};

/// Maps a failed second authorization to TPM_AUTH2FAIL.
fn auth2(e: TpmError) -> TpmError {
    if e == TpmError::Authfail { TpmError::Auth2fail } else { e }
}

/// TPM_ChangeAuth (Part 3 §17.1): re-encrypts a wrapped key's or sealed blob's
/// encData under its parent with a new authorization value. The parent authorizes
/// through OSAP (whose ADIP carries the new value), the entity through OIAP with its
/// old value; both sessions end.
pub(crate) fn change_auth(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let parent_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let protocol = cmd.r.u16()?;
    let new_auth = read_digest(&mut cmd.r)?;
    let entity_type = cmd.r.u16()?;
    let enc_data = cmd.r.sized_u32(MAX_FIELD)?.to_vec();
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    // Actions 1–3.
    if entity_type != u16::from(et::DATA) && entity_type != u16::from(et::KEY) {
        return Err(TpmError::WrongEntitytype);
    }
    let (parent, _) = tpm.loaded_key(parent_handle, false, cmd.locality)?;
    tpm.require_osap(cmd, 0)?;
    let parent_key =
        tpm.session_key(cmd, 0, u16::from(et::KEYHANDLE), parent_handle, &parent.usage_auth)?;
    if !matches!(tpm.session(cmd.auth(1)?.handle)?.kind, SessionKind::Oiap) {
        return Err(TpmError::BadMode);
    }
    // Actions 4–8.
    if protocol != pid::ADCP {
        return Err(TpmError::BadParameter);
    }
    let decrypt_auth = tpm.adip_decrypt_at(cmd, 0, &new_auth, false)?;
    tpm.verify_with_key(cmd, 0, parent_key, &digest)?;
    let parent = storage_parent(tpm, parent_handle)?;
    // Actions 9–12: decrypt, check the entity's old value, re-encrypt.
    let b1 = parent.pair.decrypt_oaep(&mut tpm.drbg, &enc_data)?;
    let plain = if entity_type == u16::from(et::KEY) {
        // libtpms TPM_StoreAsymkey_Load: the payload byte is checked first.
        if b1.first() != Some(&crate::consts::pt::ASYM) {
            return Err(TpmError::InvalidStructure);
        }
        let mut key = StoreAsymKey::parse(&b1)?;
        tpm.verify_auth(cmd, 1, 0, 0, &key.usage_auth, &digest).map_err(auth2)?;
        key.usage_auth = *decrypt_auth;
        Zeroizing::new(key.to_bytes())
    } else {
        let mut sealed = SealedData::parse_any(&b1)?;
        if !crypto::ct_eq(&sealed.proof, &tpm.perm.tpm_proof[..]) {
            return Err(TpmError::Authfail);
        }
        let old = *sealed.auth;
        tpm.verify_auth(cmd, 1, 0, 0, &old, &digest).map_err(auth2)?;
        sealed.auth = decrypt_auth;
        sealed.to_bytes()
    };
    let out =
        crypto::encrypt_oaep(&mut tpm.drbg, parent.pair.modulus(), parent.pair.exponent(), &plain)?;
    // Action 13.
    tpm.end_session_after(cmd, 1);
    let mut w = Writer::new();
    write_sized(&mut w, &out);
    Ok(Out::params(w.into_vec()))
}

/// TPM_ChangeAuthOwner (Part 3 §17.2): a new owner or SRK secret, under the owner's
/// OSAP session. Every other owner-bound OSAP session ends (action 8).
pub(crate) fn change_auth_owner(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let protocol = cmd.r.u16()?;
    let new_auth = read_digest(&mut cmd.r)?;
    let entity_type = cmd.r.u16()?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(0);
    // Actions 1–2.
    tpm.require_osap(cmd, 0)?;
    tpm.owner_auth(cmd, 0, &digest)?;
    // Actions 3–5.
    if protocol != pid::ADCP {
        return Err(TpmError::BadParameter);
    }
    let is_owner = match u8::try_from(entity_type) {
        Ok(et::OWNER) => true,
        Ok(et::SRK) => false,
        _ => return Err(TpmError::WrongEntitytype),
    };
    let value = tpm.adip_decrypt(cmd, &new_auth, false)?;
    // Action 7.
    if is_owner {
        tpm.perm.owner_auth = Some(value);
    } else {
        let srk = tpm.perm.srk.as_mut().ok_or(TpmError::Nosrk)?;
        srk.usage_auth = value;
    }
    // Action 8: the command's own session ends after the response.
    let own = cmd.auth(0)?.handle;
    tpm.vol.sessions.retain(|s| s.handle == own || !s.kind.is_bound_to(et::OWNER, None));
    tpm.dirty.permanent = true;
    tpm.dirty.volatile = true;
    Ok(Out::empty())
}
