//! Monotonic counters: TPM_CreateCounter, TPM_IncrementCounter, TPM_ReadCounter,
//! TPM_ReleaseCounter, TPM_ReleaseCounterOwner (Part 3 §25).
//!
//! Counters live in permanent state. Their handles are the slots 0..MAX_COUNTERS
//! (as libtpms numbers them); a new counter starts one above the largest value any
//! counter ever had, so a released and re-created counter never repeats a value.
//! Only one counter may be incremented between two TPM_Startup(ST_CLEAR)s.

use tpm_engine::wire::Writer;

use crate::consts::{et, stag};
use crate::engine::{Cmd, MAX_COUNTERS, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::state::{COUNTER_RELEASED, Counter, SessionKind};

/// The public part of TPM_COUNTER_VALUE (Part 2): tag, label, count.
fn counter_value(c: &Counter, w: &mut Writer) {
    w.u16(stag::COUNTER_VALUE).bytes(&c.label).u32(c.value);
}

fn find(tpm: &Tpm12, id: u32) -> TpmResult<usize> {
    tpm.perm.counters.iter().position(|c| c.id == id).ok_or(TpmError::BadCounter)
}

/// Releases counter `id` (Part 3 §25.4 actions 2–4): OSAP sessions bound to it end
/// (the command's own session too, after the response), and if it was the active
/// counter no counter may be incremented until the next Startup(ST_CLEAR).
fn release(tpm: &mut Tpm12, cmd: &mut Cmd<'_>, pos: usize) {
    let id = tpm.perm.counters.remove(pos).id;
    let bound = |kind: &SessionKind| kind.is_bound_to(et::COUNTER, Some(id));
    let own = cmd.auths.first().map(|a| a.handle);
    if tpm.vol.sessions.iter().any(|s| Some(s.handle) == own && bound(&s.kind)) {
        tpm.end_session_after(cmd, 0);
    }
    tpm.vol.sessions.retain(|s| Some(s.handle) == own || !bound(&s.kind));
    if tpm.vol.active_counter == Some(id) {
        tpm.vol.active_counter = Some(COUNTER_RELEASED);
    }
    tpm.dirty.permanent = true;
    tpm.dirty.volatile = true;
}

/// TPM_CreateCounter (Part 3 §25.1): owner-authorized through OSAP; the counter's
/// secret arrives ADIP-encrypted.
pub(crate) fn create_counter(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let enc_auth = crate::structs::read_digest(&mut cmd.r)?;
    let label: [u8; 4] = cmd.r.array()?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(0);
    tpm.require_osap(cmd, 0)?;
    tpm.owner_auth(cmd, 0, &digest)?;
    // Actions 2–3: the session ends; a1 is the counter's secret.
    let auth = tpm.adip_decrypt(cmd, &enc_auth, false)?;
    // Action 4: the first free slot.
    let id = (0..MAX_COUNTERS)
        .filter_map(|i| u32::try_from(i).ok())
        .find(|i| tpm.perm.counters.iter().all(|c| c.id != *i))
        .ok_or(TpmError::Resources)?;
    // Actions 5–8.
    let value = tpm.perm.counter_high_water.checked_add(1).ok_or(TpmError::Resources)?;
    tpm.perm.counter_high_water = value;
    let counter = Counter { id, label, value, auth };
    let mut w = Writer::new();
    w.u32(id);
    counter_value(&counter, &mut w);
    let pos = tpm.perm.counters.iter().position(|c| c.id > id).unwrap_or(tpm.perm.counters.len());
    tpm.perm.counters.insert(pos, counter);
    tpm.dirty.permanent = true;
    Ok(Out::params(w.into_vec()))
}

/// TPM_IncrementCounter (Part 3 §25.2). The active-counter check comes before the
/// authorization, so a wrong handle cannot be used to probe secrets.
pub(crate) fn increment_counter(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let id = cmd.r.u32()?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(0);
    // Actions 1–2.
    match tpm.vol.active_counter {
        None => {
            find(tpm, id)?;
        }
        Some(active) if active != id => return Err(TpmError::BadCounter),
        Some(_) => {}
    }
    let pos = find(tpm, id)?;
    let auth = tpm.perm.counters.get(pos).map(|c| *c.auth).ok_or(TpmError::BadCounter)?;
    tpm.verify_auth(cmd, 0, u16::from(et::COUNTER), id, &auth, &digest)?;
    if tpm.vol.active_counter.is_none() {
        tpm.vol.active_counter = Some(id);
        tpm.dirty.volatile = true;
    }
    // Action 3.
    let counter = tpm.perm.counters.get_mut(pos).ok_or(TpmError::BadCounter)?;
    counter.value = counter.value.checked_add(1).ok_or(TpmError::BadCounter)?;
    let mut w = Writer::new();
    counter_value(counter, &mut w);
    tpm.perm.counter_high_water = tpm.perm.counter_high_water.max(counter.value);
    tpm.dirty.permanent = true;
    Ok(Out::params(w.into_vec()))
}

/// TPM_ReadCounter (Part 3 §25.3): any created counter, no authorization.
pub(crate) fn read_counter(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let id = cmd.r.u32()?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    let pos = find(tpm, id)?;
    let mut w = Writer::new();
    counter_value(tpm.perm.counters.get(pos).ok_or(TpmError::BadCounter)?, &mut w);
    Ok(Out::params(w.into_vec()))
}

/// TPM_ReleaseCounter (Part 3 §25.4): authorized with the counter's secret.
pub(crate) fn release_counter(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let id = cmd.r.u32()?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    let digest = cmd.in_digest(0);
    let pos = find(tpm, id)?;
    let auth = tpm.perm.counters.get(pos).map(|c| *c.auth).ok_or(TpmError::BadCounter)?;
    tpm.verify_auth(cmd, 0, u16::from(et::COUNTER), id, &auth, &digest)?;
    release(tpm, cmd, pos);
    Ok(Out::empty())
}

/// TPM_ReleaseCounterOwner (Part 3 §25.5): authorized by the owner.
pub(crate) fn release_counter_owner(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let id = cmd.r.u32()?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(0);
    tpm.owner_auth(cmd, 0, &digest)?;
    let pos = find(tpm, id)?;
    release(tpm, cmd, pos);
    Ok(Out::empty())
}
