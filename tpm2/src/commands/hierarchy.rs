//! Hierarchy and dictionary-attack commands: TPM2_HierarchyControl,
//! TPM2_SetPrimaryPolicy, TPM2_ChangePPS, TPM2_ChangeEPS, TPM2_Clear,
//! TPM2_ClearControl, TPM2_HierarchyChangeAuth (Part 3 §24),
//! TPM2_DictionaryAttackLockReset, TPM2_DictionaryAttackParameters (§25).

use crate::dispatch::Cmd;
use crate::object::{Hierarchy, Slot};
use crate::state::{DaState, Policy, SEED_SIZE};
use crate::types::{HashAlg, Rc, TpmResult, handle as h, limits, nv_attr};
use crate::{Secret, Tpm2};

impl Tpm2 {
    /// `ObjectFlushHierarchy`: unloads the transient objects of a hierarchy.
    pub(crate) fn flush_hierarchy_objects(&mut self, hierarchy: Hierarchy) {
        for slot in self.v.objects.iter_mut() {
            if matches!(slot, Some(Slot::Object(o)) if o.hierarchy == hierarchy) {
                *slot = None;
            }
        }
    }

    /// `NvFlushHierarchy`: removes the persistent objects of a hierarchy, and for
    /// the owner or platform its NV indices.
    fn flush_hierarchy_nv(&mut self, hierarchy: Hierarchy) {
        let p = self.nv_mut();
        p.objects.retain(|_, o| o.hierarchy != hierarchy);
        match hierarchy {
            Hierarchy::Owner => p.nv.retain(|_, i| i.public.has(nv_attr::PLATFORMCREATE)),
            Hierarchy::Platform => p.nv.retain(|_, i| !i.public.has(nv_attr::PLATFORMCREATE)),
            _ => {}
        }
    }
}

/// TPM2_HierarchyChangeAuth.
pub(crate) fn hierarchy_change_auth(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let auth = cmd.params.b2(limits::MAX_DIGEST)?;
    cmd.params.end()?;
    let auth = Secret::new(crate::crypto::trim_trailing_zeros(&auth).to_vec());
    match cmd.handle(0)? {
        h::OWNER => tpm.nv_mut().owner_auth = auth,
        h::ENDORSEMENT => tpm.nv_mut().endorsement_auth = auth,
        h::LOCKOUT => tpm.nv_mut().lockout_auth = auth,
        _ => tpm.v.platform_auth = auth,
    }
    Ok(())
}

/// TPM2_HierarchyControl.
pub(crate) fn hierarchy_control(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let enable = cmd.params.next(|r| {
        let v = r.u32()?;
        if matches!(v, h::OWNER | h::ENDORSEMENT | h::PLATFORM | h::PLATFORM_NV) {
            Ok(v)
        } else {
            Err(Rc::VALUE)
        }
    })?;
    let state = cmd.params.yes_no()?;
    cmd.params.end()?;
    let auth = cmd.handle(0)?;
    match enable {
        h::PLATFORM | h::PLATFORM_NV if auth != h::PLATFORM => return Err(Rc::AUTH_TYPE),
        h::OWNER => {
            if auth != h::PLATFORM && auth != h::OWNER {
                return Err(Rc::AUTH_TYPE);
            }
            if !tpm.v.sh_enable && state && auth != h::PLATFORM {
                return Err(Rc::AUTH_TYPE);
            }
        }
        h::ENDORSEMENT => {
            if auth != h::PLATFORM && auth != h::ENDORSEMENT {
                return Err(Rc::AUTH_TYPE);
            }
            if !tpm.v.eh_enable && state && auth != h::PLATFORM {
                return Err(Rc::AUTH_TYPE);
            }
        }
        _ => {}
    }
    let v = &mut tpm.v;
    let selected = match enable {
        h::OWNER => &mut v.sh_enable,
        h::ENDORSEMENT => &mut v.eh_enable,
        h::PLATFORM => &mut v.ph_enable,
        _ => &mut v.ph_enable_nv,
    };
    if *selected != state {
        *selected = state;
        if !state {
            match enable {
                h::OWNER => tpm.flush_hierarchy_objects(Hierarchy::Owner),
                h::ENDORSEMENT => tpm.flush_hierarchy_objects(Hierarchy::Endorsement),
                h::PLATFORM => tpm.flush_hierarchy_objects(Hierarchy::Platform),
                _ => {}
            }
        }
        tpm.clear_orderly();
    }
    Ok(())
}

/// TPM2_SetPrimaryPolicy.
pub(crate) fn set_primary_policy(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let digest = cmd.params.b2(limits::MAX_DIGEST)?;
    let alg = cmd.params.next(|r| HashAlg::unmarshal_opt(r, true))?;
    cmd.params.end()?;
    if digest.len() != alg.map_or(0, HashAlg::size) {
        return Err(Rc::SIZE.param(1));
    }
    let policy = Policy { alg, digest };
    match cmd.handle(0)? {
        h::OWNER => tpm.nv_mut().owner_policy = policy,
        h::ENDORSEMENT => tpm.nv_mut().endorsement_policy = policy,
        h::LOCKOUT => tpm.nv_mut().lockout_policy = policy,
        _ => tpm.v.platform_policy = policy,
    }
    Ok(())
}

/// TPM2_ChangePPS: a new platform seed and proof; platform objects, indices and
/// the platform policy go.
pub(crate) fn change_pps(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let (seed, proof) = (tpm.random_secret(SEED_SIZE), tpm.random_secret(SEED_SIZE));
    let p = tpm.nv_mut();
    p.pps = seed;
    p.ph_proof = proof;
    p.pcr_policy = Policy::default();
    tpm.v.platform_policy = Policy::default();
    tpm.flush_hierarchy_objects(Hierarchy::Platform);
    tpm.flush_hierarchy_nv(Hierarchy::Platform);
    Ok(())
}

/// TPM2_ChangeEPS: a new endorsement seed and proof; endorsement authorization,
/// policy and objects go.
pub(crate) fn change_eps(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let (seed, proof) = (tpm.random_secret(SEED_SIZE), tpm.random_secret(SEED_SIZE));
    let p = tpm.nv_mut();
    p.eps = seed;
    p.eh_proof = proof;
    p.endorsement_auth = Secret::default();
    p.endorsement_policy = Policy::default();
    tpm.v.eh_enable = true;
    tpm.flush_hierarchy_objects(Hierarchy::Endorsement);
    tpm.flush_hierarchy_nv(Hierarchy::Endorsement);
    Ok(())
}

/// TPM2_Clear: the owner's and endorsement's authorizations, objects and
/// indices go; new storage seed; Clock and counters restart.
pub(crate) fn clear(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    if tpm.p.disable_clear {
        return Err(Rc::DISABLED);
    }
    let (seed, sh, eh) =
        (tpm.random_secret(SEED_SIZE), tpm.random_secret(SEED_SIZE), tpm.random_secret(SEED_SIZE));
    let p = tpm.nv_mut();
    p.sps = seed;
    p.sh_proof = sh;
    p.eh_proof = eh;
    p.owner_auth = Secret::default();
    p.endorsement_auth = Secret::default();
    p.lockout_auth = Secret::default();
    p.owner_policy = Policy::default();
    p.endorsement_policy = Policy::default();
    p.lockout_policy = Policy::default();
    p.da = DaState::default();
    p.clock = 0;
    p.clock_safe = true;
    p.reset_count = 0;
    tpm.v.clock = 0;
    tpm.v.sh_enable = true;
    tpm.v.eh_enable = true;
    tpm.v.restart_count = 0;
    tpm.v.clear_count = 0;
    tpm.v.pcr_auth = Secret::default();
    tpm.flush_hierarchy_objects(Hierarchy::Owner);
    tpm.flush_hierarchy_objects(Hierarchy::Endorsement);
    tpm.flush_hierarchy_nv(Hierarchy::Owner);
    tpm.flush_hierarchy_nv(Hierarchy::Endorsement);
    // PCRChanged(0): policy sessions that checked PCRs must notice.
    tpm.v.pcr_counter = tpm.v.pcr_counter.wrapping_add(1);
    tpm.clear_orderly();
    Ok(())
}

/// TPM2_ClearControl.
pub(crate) fn clear_control(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let disable = cmd.params.yes_no()?;
    cmd.params.end()?;
    if cmd.handle(0)? == h::LOCKOUT && !disable {
        return Err(Rc::AUTH_FAIL);
    }
    tpm.nv_mut().disable_clear = disable;
    Ok(())
}

/// TPM2_DictionaryAttackLockReset.
pub(crate) fn da_lock_reset(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    tpm.nv_mut().da.failed_tries = 0;
    tpm.v.self_heal_timer = tpm.v.time;
    Ok(())
}

/// TPM2_DictionaryAttackParameters.
pub(crate) fn da_parameters(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let max_tries = cmd.params.u32()?;
    let recovery_time = cmd.params.u32()?;
    let lockout_recovery = cmd.params.u32()?;
    cmd.params.end()?;
    let da = &mut tpm.nv_mut().da;
    da.max_tries = max_tries;
    da.recovery_time = recovery_time;
    da.lockout_recovery = lockout_recovery;
    tpm.v.self_heal_timer = tpm.v.time;
    tpm.v.lockout_timer = tpm.v.time;
    Ok(())
}
