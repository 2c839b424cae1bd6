//! NV storage: index definition, reads and writes, counters, bit fields,
//! extend indices, PIN indices, locks and certification (Part 3 §31).

use crate::Tpm2;
use crate::state::NvIndex;
use crate::types::nv_attr;

/// A PIN index's `TPMS_NV_PIN_COUNTER_PARAMETERS`: (pinCount, pinLimit).
fn pin_counts(index: &NvIndex) -> Option<(u32, u32)> {
    let d = index.data.get(..8)?;
    let count = u32::from_be_bytes(d.get(..4)?.try_into().ok()?);
    let limit = u32::from_be_bytes(d.get(4..8)?.try_into().ok()?);
    Some((count, limit))
}

/// True if a PIN index still allows authorization with its authValue
/// (pinCount < pinLimit).
pub(crate) fn pin_available(index: &NvIndex) -> bool {
    pin_counts(index).is_some_and(|(count, limit)| count < limit)
}

/// Updates a PIN index after an authorization: a PIN Fail index counts failures
/// and is reset by a success; a PIN Pass index counts successes.
pub(crate) fn pin_update(index: &mut NvIndex, nt: u32, ok: bool) {
    let Some((count, limit)) = pin_counts(index) else { return };
    let count = match (nt, ok) {
        (nv_attr::NT_PIN_FAIL, true) => 0,
        _ => count.saturating_add(1),
    };
    let mut data = count.to_be_bytes().to_vec();
    data.extend_from_slice(&limit.to_be_bytes());
    index.data = data;
}

/// NvEntityStartup for a TPM Reset or Restart: read locks, STCLEAR write locks,
/// global write locks and CLEAR_STCLEAR data go away.
pub(crate) fn startup_clear(tpm: &mut Tpm2) {
    let needs_change = tpm.p.nv.values().any(|i| {
        let a = &i.public;
        a.has(nv_attr::READLOCKED)
            || (a.has(nv_attr::WRITELOCKED)
                && (a.has(nv_attr::WRITE_STCLEAR) || a.has(nv_attr::GLOBALLOCK)))
            || (a.has(nv_attr::CLEAR_STCLEAR) && a.has(nv_attr::WRITTEN))
    });
    if !needs_change {
        return;
    }
    for index in tpm.nv_mut().nv.values_mut() {
        let a = &mut index.public.attributes;
        *a &= !nv_attr::READLOCKED;
        if *a & (nv_attr::WRITE_STCLEAR | nv_attr::GLOBALLOCK) != 0 {
            // A WRITEDEFINE lock is permanent; only an STCLEAR or global lock is
            // released.
            if *a & nv_attr::WRITEDEFINE == 0 || *a & nv_attr::WRITTEN == 0 {
                *a &= !nv_attr::WRITELOCKED;
            }
        }
        if *a & nv_attr::CLEAR_STCLEAR != 0 {
            *a &= !nv_attr::WRITTEN;
        }
    }
}

use crate::Secret;
use crate::dispatch::Cmd;
use crate::entity::nv_name;
use crate::types::{HashAlg, NvPublic, Rc, TpmResult, handle as h, limits, put_2b};

fn index(tpm: &Tpm2, handle: u32) -> TpmResult<&NvIndex> {
    tpm.p.nv.get(&handle).ok_or(Rc::HANDLE)
}

/// `NvReadAccessChecks`.
pub(crate) fn read_checks(auth: u32, nv: u32, a: u32) -> TpmResult<()> {
    if a & nv_attr::READLOCKED != 0 {
        return Err(Rc::NV_LOCKED);
    }
    let allowed = match auth {
        h::OWNER => a & nv_attr::OWNERREAD != 0,
        h::PLATFORM => a & nv_attr::PPREAD != 0,
        _ => auth == nv,
    };
    if !allowed {
        return Err(Rc::NV_AUTHORIZATION);
    }
    if a & nv_attr::WRITTEN == 0 {
        return Err(Rc::NV_UNINITIALIZED);
    }
    Ok(())
}

/// `NvWriteAccessChecks`.
fn write_checks(auth: u32, nv: u32, a: u32) -> TpmResult<()> {
    if a & nv_attr::WRITELOCKED != 0 {
        return Err(Rc::NV_LOCKED);
    }
    let allowed = match auth {
        h::OWNER => a & nv_attr::OWNERWRITE != 0,
        h::PLATFORM => a & nv_attr::PPWRITE != 0,
        _ => auth == nv,
    };
    if allowed { Ok(()) } else { Err(Rc::NV_AUTHORIZATION) }
}

fn nt(a: u32) -> u32 {
    (a & nv_attr::TPM_NT_MASK) >> nv_attr::TPM_NT_SHIFT
}

fn u64_of(index: &NvIndex) -> u64 {
    index.data.get(..8).and_then(|d| d.try_into().ok()).map_or(0, u64::from_be_bytes)
}

impl Tpm2 {
    /// Writes data into an index at `offset` and marks it written
    /// (`NvWriteIndexData`). Writing a state-saved index after Shutdown ends the
    /// orderly state.
    fn nv_write_data(&mut self, handle: u32, offset: usize, data: &[u8]) -> TpmResult<()> {
        let index = self.nv_mut().nv.get_mut(&handle).ok_or(Rc::HANDLE)?;
        let size = usize::from(index.public.data_size);
        if index.data.len() < size {
            index.data.resize(size, 0xFF);
        }
        let end = offset.checked_add(data.len()).ok_or(Rc::NV_RANGE)?;
        index.data.get_mut(offset..end).ok_or(Rc::NV_RANGE)?.copy_from_slice(data);
        index.public.attributes |= nv_attr::WRITTEN;
        Ok(())
    }
}

/// TPM2_NV_DefineSpace.
pub(crate) fn define_space(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let auth = cmd.params.b2(limits::MAX_DIGEST)?;
    let public = cmd.params.next(NvPublic::unmarshal_2b)?;
    cmd.params.end()?;
    let auth_handle = cmd.handle(0)?;
    let a = public.attributes;
    let name_size = public.name_alg.size();
    if !public.auth_policy.is_empty() && public.auth_policy.len() != name_size {
        return Err(Rc::SIZE.param(2));
    }
    let auth = crate::crypto::trim_trailing_zeros(&auth).to_vec();
    if auth.len() > name_size {
        return Err(Rc::SIZE.param(1));
    }
    if auth_handle == h::PLATFORM && !tpm.v.ph_enable_nv {
        return Err(Rc::HIERARCHY.handle(1));
    }
    let kind = nt(a);
    if !matches!(
        kind,
        nv_attr::NT_ORDINARY
            | nv_attr::NT_COUNTER
            | nv_attr::NT_BITS
            | nv_attr::NT_EXTEND
            | nv_attr::NT_PIN_FAIL
            | nv_attr::NT_PIN_PASS
    ) {
        return Err(Rc::ATTRIBUTES.param(2));
    }
    let size = usize::from(public.data_size);
    let size_ok = match kind {
        nv_attr::NT_ORDINARY => size <= limits::MAX_NV_INDEX_SIZE,
        nv_attr::NT_EXTEND => size == name_size,
        _ => size == 8,
    };
    if !size_ok {
        return Err(Rc::SIZE.param(2));
    }
    let has = |bit: u32| a & bit != 0;
    match kind {
        nv_attr::NT_COUNTER if has(nv_attr::CLEAR_STCLEAR) => return Err(Rc::ATTRIBUTES.param(2)),
        nv_attr::NT_PIN_FAIL | nv_attr::NT_PIN_PASS => {
            if kind == nv_attr::NT_PIN_FAIL && !has(nv_attr::NO_DA) {
                return Err(Rc::ATTRIBUTES.param(2));
            }
            if has(nv_attr::AUTHWRITE) || has(nv_attr::GLOBALLOCK) || has(nv_attr::WRITEDEFINE) {
                return Err(Rc::ATTRIBUTES.param(2));
            }
        }
        _ => {}
    }
    if has(nv_attr::WRITTEN) || has(nv_attr::WRITELOCKED) || has(nv_attr::READLOCKED) {
        return Err(Rc::ATTRIBUTES.param(2));
    }
    if !has(nv_attr::OWNERREAD)
        && !has(nv_attr::PPREAD)
        && !has(nv_attr::AUTHREAD)
        && !has(nv_attr::POLICYREAD)
    {
        return Err(Rc::ATTRIBUTES.param(2));
    }
    if !has(nv_attr::OWNERWRITE)
        && !has(nv_attr::PPWRITE)
        && !has(nv_attr::AUTHWRITE)
        && !has(nv_attr::POLICYWRITE)
    {
        return Err(Rc::ATTRIBUTES.param(2));
    }
    if has(nv_attr::CLEAR_STCLEAR) && has(nv_attr::WRITEDEFINE) {
        return Err(Rc::ATTRIBUTES.param(2));
    }
    if has(nv_attr::PLATFORMCREATE) != (auth_handle == h::PLATFORM) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if has(nv_attr::POLICY_DELETE) && auth_handle != h::PLATFORM {
        return Err(Rc::ATTRIBUTES.param(2));
    }
    if size > limits::MAX_NV_BUFFER && has(nv_attr::WRITEALL) {
        return Err(Rc::SIZE.param(2));
    }
    if tpm.p.nv.contains_key(&public.index) {
        return Err(Rc::NV_DEFINED);
    }
    if !tpm.nv_has_room(64 + size) {
        return Err(Rc::NV_SPACE);
    }
    let handle = public.index;
    tpm.nv_mut()
        .nv
        .insert(handle, NvIndex { public, auth: Secret::new(auth), data: alloc::vec::Vec::new() });
    Ok(())
}

fn delete_index(tpm: &mut Tpm2, handle: u32) {
    let p = tpm.nv_mut();
    if let Some(index) = p.nv.remove(&handle)
        && nt(index.public.attributes) == nv_attr::NT_COUNTER
        && index.public.has(nv_attr::WRITTEN)
    {
        p.max_counter = p.max_counter.max(u64_of(&index));
    }
}

/// TPM2_NV_UndefineSpace.
pub(crate) fn undefine_space(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let (auth, handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let a = index(tpm, handle).map_err(|rc| rc.handle(2))?.public.attributes;
    if a & nv_attr::POLICY_DELETE != 0 {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    if auth == h::OWNER && a & nv_attr::PLATFORMCREATE != 0 {
        return Err(Rc::NV_AUTHORIZATION);
    }
    delete_index(tpm, handle);
    Ok(())
}

/// TPM2_NV_UndefineSpaceSpecial.
pub(crate) fn undefine_space_special(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    let a = index(tpm, handle).map_err(|rc| rc.handle(1))?.public.attributes;
    if a & nv_attr::POLICY_DELETE == 0 {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    delete_index(tpm, handle);
    cmd.dissociate = Some(handle);
    Ok(())
}

/// TPM2_NV_ReadPublic.
pub(crate) fn read_public(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let index = index(tpm, cmd.handle(0)?).map_err(|rc| rc.handle(1))?;
    crate::types::put_sized(&mut cmd.out, &index.public);
    put_2b(&mut cmd.out, &nv_name(index));
    Ok(())
}

/// TPM2_NV_Write.
pub(crate) fn write(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let data = cmd.params.b2(limits::MAX_NV_BUFFER)?;
    let offset = cmd.params.u16()?;
    cmd.params.end()?;
    let (auth, handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let public = index(tpm, handle).map_err(|rc| rc.handle(2))?.public.clone();
    write_checks(auth, handle, public.attributes)?;
    if nt(public.attributes) != nv_attr::NT_ORDINARY
        && !matches!(nt(public.attributes), nv_attr::NT_PIN_FAIL | nv_attr::NT_PIN_PASS)
    {
        return Err(Rc::ATTRIBUTES);
    }
    let (offset, size) = (usize::from(offset), usize::from(public.data_size));
    if offset > size {
        return Err(Rc::VALUE.param(2));
    }
    if data.len() > size - offset {
        return Err(Rc::NV_RANGE);
    }
    if public.has(nv_attr::WRITEALL) && data.len() < size {
        return Err(Rc::NV_RANGE);
    }
    tpm.nv_write_data(handle, offset, &data)
}

/// TPM2_NV_Increment.
pub(crate) fn increment(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let (auth, handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let idx = index(tpm, handle).map_err(|rc| rc.handle(2))?;
    write_checks(auth, handle, idx.public.attributes)?;
    if nt(idx.public.attributes) != nv_attr::NT_COUNTER {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let value = if idx.public.has(nv_attr::WRITTEN) { u64_of(idx) } else { tpm.p.max_counter };
    tpm.nv_write_data(handle, 0, &value.wrapping_add(1).to_be_bytes())
}

/// TPM2_NV_Extend.
pub(crate) fn extend(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let data = cmd.params.b2(limits::MAX_NV_BUFFER)?;
    cmd.params.end()?;
    let (auth, handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let idx = index(tpm, handle).map_err(|rc| rc.handle(2))?;
    write_checks(auth, handle, idx.public.attributes)?;
    if nt(idx.public.attributes) != nv_attr::NT_EXTEND {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let alg: HashAlg = idx.public.name_alg;
    let old = if idx.public.has(nv_attr::WRITTEN) {
        idx.data.clone()
    } else {
        alloc::vec![0; alg.size()]
    };
    let new = crate::crypto::hash::digest_parts(alg, &[&old, &data]);
    tpm.nv_write_data(handle, 0, &new)
}

/// TPM2_NV_SetBits.
pub(crate) fn set_bits(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let bits = cmd.params.u64()?;
    cmd.params.end()?;
    let (auth, handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let idx = index(tpm, handle).map_err(|rc| rc.handle(2))?;
    write_checks(auth, handle, idx.public.attributes)?;
    if nt(idx.public.attributes) != nv_attr::NT_BITS {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let old = if idx.public.has(nv_attr::WRITTEN) { u64_of(idx) } else { 0 };
    tpm.nv_write_data(handle, 0, &(old | bits).to_be_bytes())
}

/// TPM2_NV_WriteLock.
pub(crate) fn write_lock(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let (auth, handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let a = index(tpm, handle).map_err(|rc| rc.handle(2))?.public.attributes;
    match write_checks(auth, handle, a) {
        Err(Rc::NV_AUTHORIZATION) => return Err(Rc::NV_AUTHORIZATION),
        // Already locked: nothing to do.
        Err(_) => return Ok(()),
        Ok(()) => {}
    }
    if a & (nv_attr::WRITEDEFINE | nv_attr::WRITE_STCLEAR) == 0 {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    if let Some(i) = tpm.nv_mut().nv.get_mut(&handle) {
        i.public.attributes |= nv_attr::WRITELOCKED;
    }
    Ok(())
}

/// TPM2_NV_GlobalWriteLock.
pub(crate) fn global_write_lock(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    if tpm
        .p
        .nv
        .values()
        .any(|i| i.public.has(nv_attr::GLOBALLOCK) && !i.public.has(nv_attr::WRITELOCKED))
    {
        for i in tpm.nv_mut().nv.values_mut() {
            if i.public.has(nv_attr::GLOBALLOCK) {
                i.public.attributes |= nv_attr::WRITELOCKED;
            }
        }
    }
    Ok(())
}

/// TPM2_NV_Read.
pub(crate) fn read(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let size = cmd.params.u16()?;
    let offset = cmd.params.u16()?;
    cmd.params.end()?;
    let (auth, handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let idx = index(tpm, handle).map_err(|rc| rc.handle(2))?;
    read_checks(auth, handle, idx.public.attributes)?;
    let (size, offset, total) =
        (usize::from(size), usize::from(offset), usize::from(idx.public.data_size));
    if size > limits::MAX_NV_BUFFER {
        return Err(Rc::VALUE.param(1));
    }
    if offset > total {
        return Err(Rc::VALUE.param(2));
    }
    if size > total - offset {
        return Err(Rc::NV_RANGE);
    }
    let mut data = idx.data.clone();
    data.resize(total, 0xFF);
    put_2b(&mut cmd.out, data.get(offset..offset + size).unwrap_or_default());
    Ok(())
}

/// The bytes `[offset, offset+size)` of an index (unwritten bytes read as 0xFF).
pub(crate) fn data_range(index: &NvIndex, offset: usize, size: usize) -> alloc::vec::Vec<u8> {
    let mut data = index.data.clone();
    data.resize(usize::from(index.public.data_size), 0xFF);
    data.get(offset..offset.saturating_add(size)).unwrap_or_default().to_vec()
}

/// TPM2_NV_ReadLock.
pub(crate) fn read_lock(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let (auth, handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let a = index(tpm, handle).map_err(|rc| rc.handle(2))?.public.attributes;
    match read_checks(auth, handle, a) {
        Err(Rc::NV_AUTHORIZATION) => return Err(Rc::NV_AUTHORIZATION),
        Err(Rc::NV_LOCKED) => return Ok(()),
        _ => {}
    }
    if a & nv_attr::READ_STCLEAR == 0 {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    if let Some(i) = tpm.nv_mut().nv.get_mut(&handle) {
        i.public.attributes |= nv_attr::READLOCKED;
    }
    Ok(())
}

/// TPM2_NV_ChangeAuth.
pub(crate) fn change_auth(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let auth = cmd.params.b2(limits::MAX_DIGEST)?;
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    let size = index(tpm, handle).map_err(|rc| rc.handle(1))?.public.name_alg.size();
    let auth = crate::crypto::trim_trailing_zeros(&auth).to_vec();
    if auth.len() > size {
        return Err(Rc::SIZE.param(1));
    }
    if let Some(i) = tpm.nv_mut().nv.get_mut(&handle) {
        i.auth = Secret::new(auth);
    }
    Ok(())
}
