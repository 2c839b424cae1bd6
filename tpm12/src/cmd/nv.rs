//! Non-volatile storage: TPM_NV_DefineSpace, TPM_NV_WriteValue(Auth),
//! TPM_NV_ReadValue(Auth) (Part 3 §20) with the attribute and nvLocked rules.

use alloc::vec::Vec;
use tpm_engine::wire::Writer;
use zeroize::Zeroizing;

use crate::consts::{et, nv};
use crate::engine::{Cmd, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::state::{NvIndex, secret};
use crate::structs::{MAX_FIELD, NvDataPublic, PcrInfo, read_digest, write_sized};

/// Most writes without an owner while nvLocked (Part 3 §20.2 action 2.c).
const MAX_NO_OWNER_WRITES: u32 = 64;

/// Bytes of NV space still available (TPM_CAP_PROP_MAX_NV_AVAILABLE).
pub(crate) fn free_space(tpm: &Tpm12) -> u32 {
    let used: u32 = tpm.perm.nv.iter().map(|n| n.public.data_size).fold(0, u32::saturating_add);
    super::capability::NV_SPACE.saturating_sub(used)
}

fn find(tpm: &Tpm12, index: u32) -> TpmResult<usize> {
    tpm.perm.nv.iter().position(|n| n.public.index == index).ok_or(TpmError::Badindex)
}

fn check_pcr(tpm: &Tpm12, info: &PcrInfo, locality: u8) -> TpmResult<()> {
    super::storage::check_pcr_info(tpm, info, locality)
}

/// TPM_NV_DefineSpace (Part 3 §20.1), in the specification's action order.
pub(crate) fn define_space(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let public = NvDataPublic::parse(&mut cmd.r)?;
    let enc_auth = read_digest(&mut cmd.r)?;
    tpm.check(cmd, check::ALLOW_NO_OWNER | check::NV_NOAUTH)?;
    let digest = cmd.in_digest(0);
    let with_auth = cmd.has_auth(1);
    // Action 1: TPM_NV_INDEX_LOCK without authorization locks the NV store.
    if public.index == nv::INDEX_LOCK && !with_auth {
        if public.data_size != 0 {
            return Err(TpmError::Badindex);
        }
        tpm.perm.flags.nv_locked = true;
        tpm.dirty.permanent = true;
        return Ok(Out::empty());
    }
    // Action 2: with nvLocked FALSE authorization checks are skipped.
    let ignore_auth = !tpm.perm.flags.nv_locked;
    if public.index == nv::INDEX0 {
        return Err(TpmError::Badindex);
    }
    if !ignore_auth && public.index & nv::D_BIT != 0 {
        return Err(TpmError::Badindex);
    }
    let mut count_write = false;
    let auth = if with_auth {
        tpm.owner_auth(cmd, 0, &digest)?;
        tpm.adip_decrypt(cmd, &enc_auth, false)?
    } else {
        if !ignore_auth {
            tpm.require_presence()?;
            if tpm.perm.owner_auth.is_some() {
                return Err(TpmError::OwnerSet);
            }
            if public.data_size == 0 {
                return Err(TpmError::BadDatasize);
            }
        }
        if tpm.perm.no_owner_nv_writes >= MAX_NO_OWNER_WRITES {
            return Err(TpmError::Maxnvwrites);
        }
        count_write = true;
        secret(enc_auth)
    };
    // Action 6: an existing area is deleted (and a size of 0 stops there).
    if let Some(pos) = tpm.perm.nv.iter().position(|n| n.public.index == public.index) {
        let old = tpm.perm.nv.get(pos).map(|n| n.public.clone()).ok_or(TpmError::Badindex)?;
        if !ignore_auth
            && ((old.attributes & nv::PER_GLOBALLOCK != 0 && tpm.vol.flags.global_lock)
                || (old.attributes & nv::PER_WRITE_STCLEAR != 0 && old.write_st_clear))
        {
            return Err(TpmError::AreaLocked);
        }
        tpm.perm.nv.remove(pos);
        tpm.dirty.permanent = true;
        if public.data_size == 0 {
            if count_write {
                tpm.perm.no_owner_nv_writes += 1;
            }
            return Ok(Out::empty());
        }
    }
    // Action 9: attribute consistency.
    let a = public.attributes;
    if a & nv::PER_OWNERWRITE != 0 && a & nv::PER_AUTHWRITE != 0 {
        return Err(TpmError::AuthConflict);
    }
    if a & nv::PER_OWNERREAD != 0 && a & nv::PER_AUTHREAD != 0 {
        return Err(TpmError::AuthConflict);
    }
    // The specification names pcrInfoWrite's localities here (libtpms reads
    // pcrInfoRead's; the two agree whenever both allow every locality).
    let write_localities = public.pcr_write.locality_at_release != 0x1F;
    if a & (nv::PER_OWNERWRITE | nv::PER_AUTHWRITE | nv::PER_WRITEDEFINE | nv::PER_PPWRITE) == 0
        && !write_localities
    {
        return Err(TpmError::PerNowrite);
    }
    if public.index & 0x0F00_0000 != 0 {
        return Err(TpmError::Badindex);
    }
    if public.data_size == 0 {
        return Err(TpmError::BadParamSize);
    }
    if public.data_size > free_space(tpm) {
        return Err(TpmError::Nospace);
    }
    if public.index == nv::INDEX_TRIAL {
        return Ok(Out::empty());
    }
    let size = usize::try_from(public.data_size).map_err(|_| TpmError::Nospace)?;
    let mut data = Zeroizing::new(Vec::new());
    data.resize(size, 0xFF);
    let stored =
        NvDataPublic { read_st_clear: false, write_st_clear: false, write_define: false, ..public };
    let pos =
        tpm.perm.nv.iter().position(|n| n.public.index > stored.index).unwrap_or(tpm.perm.nv.len());
    tpm.perm.nv.insert(pos, NvIndex { public: stored, auth, data });
    if count_write {
        tpm.perm.no_owner_nv_writes += 1;
    }
    tpm.dirty.permanent = true;
    Ok(Out::empty())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Nothing,
    Owner,
    AreaAuth,
}

fn write_common(tpm: &mut Tpm12, cmd: &mut Cmd<'_>, by_area_auth: bool) -> TpmResult<Out> {
    let index = cmd.r.u32()?;
    let offset = cmd.r.u32()?;
    let data = cmd.r.sized_u32(MAX_FIELD)?.to_vec();
    if by_area_auth {
        tpm.check(cmd, check::ALL)?;
    } else {
        tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT | check::NV_NOAUTH)?;
    }
    let digest = cmd.in_digest(0);
    let locked = tpm.perm.flags.nv_locked;
    // Index 0 with no data sets bGlobalLock (Part 3 §20.2 action 3).
    if index == nv::INDEX0 {
        if !data.is_empty() {
            return Err(TpmError::Badindex);
        }
        tpm.vol.flags.global_lock = true;
        tpm.dirty.volatile = true;
        return Ok(Out::empty());
    }
    let pos = find(tpm, index)?;
    let attrs = tpm.perm.nv.get(pos).map(|n| n.public.attributes).ok_or(TpmError::Badindex)?;
    let by = if by_area_auth {
        By::AreaAuth
    } else if cmd.has_auth(1) {
        By::Owner
    } else {
        By::Nothing
    };
    match by {
        By::AreaAuth => {
            if attrs & nv::PER_AUTHWRITE == 0 {
                return Err(TpmError::AuthConflict);
            }
            let auth = tpm.perm.nv.get(pos).map(|n| *n.auth).ok_or(TpmError::Badindex)?;
            tpm.verify_auth(cmd, 0, u16::from(et::NV), index, &auth, &digest)?;
        }
        By::Owner => {
            if attrs & nv::PER_OWNERWRITE == 0 {
                return Err(TpmError::AuthConflict);
            }
            tpm.owner_auth(cmd, 0, &digest)?;
        }
        By::Nothing => {
            if locked && attrs & (nv::PER_OWNERWRITE | nv::PER_AUTHWRITE) != 0 {
                return Err(TpmError::AuthConflict);
            }
            if tpm.perm.owner_auth.is_none() && locked {
                if tpm.perm.no_owner_nv_writes >= MAX_NO_OWNER_WRITES {
                    return Err(TpmError::Maxnvwrites);
                }
                tpm.perm.no_owner_nv_writes += 1;
                tpm.dirty.permanent = true;
            }
        }
    }
    let public = tpm.perm.nv.get(pos).map(|n| n.public.clone()).ok_or(TpmError::Badindex)?;
    if locked || by != By::Nothing {
        if attrs & nv::PER_PPWRITE != 0 {
            tpm.require_presence()?;
        }
        if public.write_define
            || public.write_st_clear
            || (attrs & nv::PER_GLOBALLOCK != 0 && tpm.vol.flags.global_lock)
        {
            return Err(TpmError::AreaLocked);
        }
        check_pcr(tpm, &public.pcr_write, cmd.locality)?;
    }
    let entry = tpm.perm.nv.get_mut(pos).ok_or(TpmError::Badindex)?;
    if data.is_empty() {
        if attrs & nv::PER_WRITE_STCLEAR != 0 {
            entry.public.write_st_clear = true;
        }
        if attrs & nv::PER_WRITEDEFINE != 0 {
            entry.public.write_define = true;
        }
        tpm.dirty.permanent = true;
        return Ok(Out::empty());
    }
    let start = usize::try_from(offset).map_err(|_| TpmError::Nospace)?;
    let end = start.checked_add(data.len()).ok_or(TpmError::Nospace)?;
    if end > entry.data.len() {
        return Err(TpmError::Nospace);
    }
    if attrs & nv::PER_WRITEALL != 0 && data.len() != entry.data.len() {
        return Err(TpmError::NotFullwrite);
    }
    entry.data.get_mut(start..end).ok_or(TpmError::Nospace)?.copy_from_slice(&data);
    tpm.dirty.permanent = true;
    Ok(Out::empty())
}

/// TPM_NV_WriteValue (Part 3 §20.2).
pub(crate) fn write_value(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    write_common(tpm, cmd, false)
}

/// TPM_NV_WriteValueAuth (Part 3 §20.3).
pub(crate) fn write_value_auth(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    write_common(tpm, cmd, true)
}

fn read_common(tpm: &mut Tpm12, cmd: &mut Cmd<'_>, by_area_auth: bool) -> TpmResult<Out> {
    let index = cmd.r.u32()?;
    let offset = cmd.r.u32()?;
    let size = cmd.r.u32()?;
    if by_area_auth {
        tpm.check(cmd, check::ALL)?;
    } else {
        tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT | check::NV_NOAUTH)?;
    }
    let digest = cmd.in_digest(0);
    let locked = tpm.perm.flags.nv_locked;
    let pos = find(tpm, index)?;
    let attrs = tpm.perm.nv.get(pos).map(|n| n.public.attributes).ok_or(TpmError::Badindex)?;
    if by_area_auth {
        if attrs & nv::PER_AUTHREAD == 0 {
            return Err(TpmError::AuthConflict);
        }
        let auth = tpm.perm.nv.get(pos).map(|n| *n.auth).ok_or(TpmError::Badindex)?;
        tpm.verify_auth(cmd, 0, u16::from(et::NV), index, &auth, &digest)?;
    } else if cmd.has_auth(1) {
        if attrs & nv::PER_OWNERREAD == 0 {
            return Err(TpmError::AuthConflict);
        }
        tpm.owner_auth(cmd, 0, &digest)?;
    } else if locked && attrs & (nv::PER_OWNERREAD | nv::PER_AUTHREAD) != 0 {
        return Err(TpmError::AuthConflict);
    }
    let public = tpm.perm.nv.get(pos).map(|n| n.public.clone()).ok_or(TpmError::Badindex)?;
    if locked || by_area_auth || cmd.has_auth(1) {
        if attrs & nv::PER_PPREAD != 0 {
            tpm.require_presence()?;
        }
        if public.read_st_clear {
            return Err(TpmError::DisabledCmd);
        }
        check_pcr(tpm, &public.pcr_read, cmd.locality)?;
    }
    let entry = tpm.perm.nv.get_mut(pos).ok_or(TpmError::Badindex)?;
    if size == 0 {
        if attrs & nv::PER_READ_STCLEAR != 0 {
            entry.public.read_st_clear = true;
            tpm.dirty.permanent = true;
        }
        let mut w = Writer::new();
        write_sized(&mut w, &[]);
        return Ok(Out::params(w.into_vec()));
    }
    let start = usize::try_from(offset).map_err(|_| TpmError::Nospace)?;
    let end = start
        .checked_add(usize::try_from(size).map_err(|_| TpmError::Nospace)?)
        .ok_or(TpmError::Nospace)?;
    let bytes = entry.data.get(start..end).ok_or(TpmError::Nospace)?;
    let mut w = Writer::new();
    write_sized(&mut w, bytes);
    Ok(Out::params(w.into_vec()))
}

/// TPM_NV_ReadValue (Part 3 §20.4).
pub(crate) fn read_value(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    read_common(tpm, cmd, false)
}

/// TPM_NV_ReadValueAuth (Part 3 §20.5).
pub(crate) fn read_value_auth(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    read_common(tpm, cmd, true)
}
