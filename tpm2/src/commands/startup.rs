//! Start-up and testing: TPM2_Startup, TPM2_Shutdown, TPM2_SelfTest,
//! TPM2_IncrementalSelfTest, TPM2_GetTestResult (Part 3 §9, §10).

use crate::dispatch::Cmd;
use crate::pcr::{self, PcrBank};
use crate::session::SessionSlot;
use crate::state::{Orderly, SEED_SIZE, SavedState};
use crate::types::{Rc, TpmResult, put_2b, su};
use crate::{Secret, Tpm2};
use alloc::vec::Vec;

/// How a TPM2_Startup continues from the previous shutdown (Part 1 §12.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StartupKind {
    /// After Shutdown(CLEAR) or none: everything volatile starts afresh.
    Reset,
    /// Startup(CLEAR) after Shutdown(STATE): PCRs reset, reset data kept.
    Restart,
    /// Startup(STATE) after Shutdown(STATE): the saved state comes back.
    Resume,
}

fn get_su(cmd: &mut Cmd<'_>) -> TpmResult<u16> {
    cmd.params.next(|r| {
        let v = r.u16()?;
        if v == su::CLEAR || v == su::STATE { Ok(v) } else { Err(Rc::VALUE) }
    })
}

/// TPM2_Startup.
pub(crate) fn startup(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let startup_type = get_su(cmd)?;
    cmd.params.end()?;
    let mut locality = tpm.locality;
    if locality != 0 && locality != 3 {
        return Err(Rc::LOCALITY);
    }
    if tpm.v.hcrtm.is_some() {
        locality = 0;
    }
    let locality3 = locality == 3;
    let prev = tpm.p.orderly;
    let saved = tpm.saved.take().filter(|s| {
        prev == Orderly::State && s.reset_count == tpm.p.reset_count && s.tpm_id == tpm.p.tpm_id
    });
    if startup_type == su::STATE {
        let Some(s) = saved.as_ref() else {
            return Err(Rc::VALUE.param(1));
        };
        if s.locality3 != locality3 {
            tpm.saved = saved;
            return Err(Rc::LOCALITY);
        }
    }
    let kind = match (&saved, startup_type) {
        (Some(_), su::STATE) => StartupKind::Resume,
        (Some(_), _) => StartupKind::Restart,
        _ => StartupKind::Reset,
    };

    // Time and DA (TimeStartup, DAStartup).
    if !prev.is_orderly() {
        tpm.nv_mut().clock_safe = false;
    }
    let da = tpm.p.da;
    if da.recovery_time != 0 && da.failed_tries < da.max_tries && prev == Orderly::DaUsed {
        tpm.nv_mut().da.failed_tries = da.failed_tries.saturating_add(1);
    }
    if da.lockout_recovery == 0 && !da.lockout_auth_enabled {
        tpm.nv_mut().da.lockout_auth_enabled = true;
    }
    tpm.v.self_heal_timer = tpm.v.time;
    tpm.v.lockout_timer = tpm.v.time;

    // Hierarchies (HierarchyStartup): phEnable is set by every Startup; the rest
    // comes back only on Resume.
    tpm.v.ph_enable = true;
    match (&saved, kind) {
        (Some(s), StartupKind::Resume) => {
            tpm.v.sh_enable = s.sh_enable;
            tpm.v.eh_enable = s.eh_enable;
            tpm.v.ph_enable_nv = s.ph_enable_nv;
            tpm.v.platform_auth = s.platform_auth.clone();
            tpm.v.platform_policy = s.platform_policy.clone();
            tpm.v.pcr_auth = s.pcr_auth.clone();
        }
        _ => {
            tpm.v.sh_enable = true;
            tpm.v.eh_enable = true;
            tpm.v.ph_enable_nv = true;
            tpm.v.platform_auth = Secret::default();
            tpm.v.platform_policy = Default::default();
            tpm.v.pcr_auth = Secret::default();
        }
    }

    // State-reset data: kept across Restart and Resume, new at Reset.
    match &saved {
        Some(s) => {
            tpm.v.null_seed = s.null_seed.clone();
            tpm.v.null_proof = s.null_proof.clone();
            tpm.v.clear_count = s.clear_count;
            tpm.v.restart_count = s.restart_count.wrapping_add(1);
            tpm.v.pcr_counter = s.pcr_counter;
            tpm.v.context_counter = s.context_counter;
            if kind == StartupKind::Restart {
                tpm.v.clear_count = tpm.v.clear_count.wrapping_add(1);
            }
            tpm.v.command_audit = s.command_audit.clone();
            for &(slot, sequence) in &s.saved_sessions {
                if let Some(cell) = tpm.v.sessions.get_mut(slot) {
                    *cell = Some(SessionSlot::Saved { sequence });
                }
            }
        }
        None => {
            tpm.v.null_seed = tpm.random_secret(SEED_SIZE);
            tpm.v.null_proof = tpm.random_secret(SEED_SIZE);
            tpm.v.clear_count = 0;
            tpm.v.restart_count = 0;
            tpm.v.pcr_counter = 0;
            tpm.v.context_counter = 0;
            tpm.v.command_audit = None;
            let p = tpm.nv_mut();
            p.reset_count = p.reset_count.wrapping_add(1);
        }
    }

    // PCRs (PCRStartup).
    let allocation = tpm.p.pcr_allocation.clone();
    tpm.v.banks = allocation
        .iter()
        .map(|&alg| {
            let mut bank = PcrBank::new(alg, locality);
            if let (Some(s), StartupKind::Resume) = (&saved, kind)
                && let Some(old) = s.banks.iter().find(|b| b.alg == alg)
            {
                for (i, a) in pcr::ATTRIBUTES.iter().enumerate() {
                    if a.state_save
                        && let (Some(dst), Some(src)) = (bank.values.get_mut(i), old.values.get(i))
                    {
                        dst.clone_from(src);
                    }
                }
            }
            bank
        })
        .collect();
    if kind != StartupKind::Resume
        && let Some(digests) = tpm.v.hcrtm.take()
    {
        // H-CRTM: PCR 0 starts at 0...04 and receives the measurement.
        for bank in tpm.v.banks.iter_mut() {
            if let Some((_, d)) = digests.iter().find(|(a, _)| *a == bank.alg) {
                if let Some(v) = bank.values.get_mut(pcr::HCRTM_PCR) {
                    v.fill(0);
                    if let Some(last) = v.last_mut() {
                        *last = 4;
                    }
                }
                bank.extend(pcr::HCRTM_PCR, d);
            }
        }
    }
    tpm.v.hcrtm = None;
    // Every PCR that was (re)initialised counts as changed (PCRStartup).
    for i in 0..pcr::ATTRIBUTES.len() {
        let restored =
            kind == StartupKind::Resume && pcr::ATTRIBUTES.get(i).is_some_and(|a| a.state_save);
        if !restored {
            tpm.pcr_changed(i);
        }
    }

    // NV (NvEntityStartup): Reset and Restart clear the STCLEAR state.
    if kind != StartupKind::Resume {
        crate::commands::nv::startup_clear(tpm);
    }

    tpm.v.locality3 = locality3;
    tpm.v.orderly_startup = prev.is_orderly();
    tpm.v.da_used = false;
    tpm.v.started = true;
    tpm.nv_mut().orderly = Orderly::None;
    Ok(())
}

/// TPM2_Shutdown.
pub(crate) fn shutdown(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let shutdown_type = get_su(cmd)?;
    cmd.params.end()?;
    // A pending PCR allocation cannot be carried into a Resume.
    let reconfig = tpm.p.pcr_allocation.iter().copied().ne(tpm.v.banks.iter().map(|b| b.alg));
    if reconfig && shutdown_type == su::STATE {
        return Err(Rc::TYPE.param(1));
    }
    let clock = tpm.v.clock;
    let p = tpm.nv_mut();
    p.clock = clock;
    if shutdown_type == su::STATE {
        p.orderly = Orderly::State;
        let v = &tpm.v;
        let saved_sessions: Vec<(usize, u64)> = v
            .sessions
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Some(SessionSlot::Saved { sequence }) => Some((i, *sequence)),
                _ => None,
            })
            .collect();
        tpm.saved = Some(SavedState {
            tpm_id: tpm.p.tpm_id,
            reset_count: tpm.p.reset_count,
            banks: v.banks.clone(),
            sh_enable: v.sh_enable,
            eh_enable: v.eh_enable,
            ph_enable_nv: v.ph_enable_nv,
            platform_auth: v.platform_auth.clone(),
            platform_policy: v.platform_policy.clone(),
            pcr_auth: v.pcr_auth.clone(),
            null_seed: v.null_seed.clone(),
            null_proof: v.null_proof.clone(),
            clear_count: v.clear_count,
            restart_count: v.restart_count,
            pcr_counter: v.pcr_counter,
            context_counter: v.context_counter,
            saved_sessions,
            locality3: v.locality3,
            command_audit: v.command_audit.clone(),
        });
    } else {
        p.orderly = Orderly::Clear;
        tpm.saved = None;
    }
    tpm.v.da_used = false;
    Ok(())
}

/// TPM2_SelfTest: the algorithms were tested when the engine was built; nothing
/// is pending.
pub(crate) fn self_test(_tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.yes_no()?;
    cmd.params.end()
}

/// TPM2_IncrementalSelfTest: every algorithm is tested, so the to-do list is
/// empty.
pub(crate) fn incremental_self_test(_tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.next(|r| {
        let count = r.u32()?;
        // TPML_ALG: at most MAX_ALG_LIST_SIZE entries.
        if count > 64 {
            return Err(Rc::SIZE);
        }
        for _ in 0..count {
            r.u16()?;
        }
        Ok(())
    })?;
    cmd.params.end()?;
    cmd.out.u32(0);
    Ok(())
}

/// TPM2_GetTestResult: no vendor data, TPM_RC_SUCCESS.
pub(crate) fn get_test_result(_tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    put_2b(&mut cmd.out, &[]);
    cmd.out.u32(Rc::SUCCESS.0);
    Ok(())
}
