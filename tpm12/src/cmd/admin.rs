//! Start-up, saved state, self tests, randomness and ticks (Part 3 §3, §4, §13.6,
//! §23).

use alloc::vec::Vec;
use tpm_engine::wire::Writer;

use crate::consts::{stag, startup};
use crate::engine::{Cmd, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::state::{SavedState, TestState};
use crate::structs::{MAX_FIELD, write_sized};

/// TPM_Startup (Part 3 §3.2).
pub(crate) fn startup(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let startup_type = cmd.r.u16()?;
    // The only command that runs while postInitialise is TRUE: no TPM_CheckState.
    tpm.check_tag_and_size(cmd)?;
    if !tpm.vol.post_initialise {
        return Err(TpmError::InvalidPostinit);
    }
    if tpm.vol.test_state == TestState::Failed {
        tpm.vol.post_initialise = false;
        return Err(TpmError::Failedselftest);
    }
    let result = match startup_type {
        startup::CLEAR => {
            startup_clear(tpm);
            Ok(())
        }
        startup::STATE => startup_state(tpm),
        startup::DEACTIVATED => {
            startup_clear(tpm);
            tpm.vol.flags.deactivated = true;
            Ok(())
        }
        _ => Err(TpmError::BadParameter),
    };
    // Actions 5 and 6: the saved state is consumed whatever happened, and the TPM
    // leaves the post-init state.
    if tpm.saved.take().is_some() {
        tpm.dirty.permanent = true;
    }
    tpm.vol.post_initialise = false;
    tpm.dirty.volatile = true;
    if result.is_ok() {
        tpm.vol.tos_present = false;
        tpm.vol.tick_nonce = tpm.nonce();
        tpm.vol.tick_origin_ms = tpm.vol.now_ms;
    }
    result.map(|()| Out::empty())
}

/// Startup(ST_CLEAR) actions (Part 3 §3.2 action 2). The RAM state is already at
/// its _TPM_Init defaults (PCRs, sessions, keys, contexts).
fn startup_clear(tpm: &mut Tpm12) {
    tpm.vol.flags = tpm.stclear_defaults();
    tpm.vol.context_nonce_key = tpm.nonce();
    tpm.reset_pcrs();
    // bReadSTClear and bWriteSTClear are cleared at every Startup(ST_CLEAR)
    // (Part 2 §19.3).
    let mut changed = false;
    for index in &mut tpm.perm.nv {
        if index.public.read_st_clear || index.public.write_st_clear {
            index.public.read_st_clear = false;
            index.public.write_st_clear = false;
            changed = true;
        }
    }
    if changed {
        tpm.dirty.permanent = true;
    }
}

/// Startup(ST_STATE) actions (Part 3 §3.2 action 3): restore what TPM_SaveState
/// kept; with nothing saved the TPM enters failure mode.
fn startup_state(tpm: &mut Tpm12) -> TpmResult<()> {
    let Some(saved) = tpm.saved.clone() else {
        tpm.vol.test_state = TestState::Failed;
        return Err(TpmError::Failedselftest);
    };
    tpm.vol.flags = saved.flags;
    tpm.vol.pcrs = saved.pcrs;
    // Resettable PCRs are never restored (action 3.c.i).
    for (i, attr) in super::pcr::ATTRIBUTES.iter().enumerate() {
        if attr.reset
            && let Some(pcr) = tpm.vol.pcrs.get_mut(i)
        {
            *pcr = super::pcr::default_value(i);
        }
    }
    tpm.vol.active_counter = saved.active_counter;
    tpm.vol.disable_reset_lock = saved.disable_reset_lock;
    tpm.vol.context_nonce_key = saved.context_nonce_key;
    for (index, read, write) in &saved.nv_st_clear {
        if let Some(nv) = tpm.perm.nv.iter_mut().find(|n| n.public.index == *index) {
            nv.public.read_st_clear = *read;
            nv.public.write_st_clear = *write;
        }
    }
    tpm.dirty.permanent = true;
    Ok(())
}

/// TPM_SaveState (Part 3 §3.3).
pub(crate) fn save_state(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    let nv_st_clear = tpm
        .perm
        .nv
        .iter()
        .map(|n| (n.public.index, n.public.read_st_clear, n.public.write_st_clear))
        .collect();
    tpm.saved = Some(SavedState {
        flags: tpm.vol.flags,
        pcrs: tpm.vol.pcrs,
        active_counter: tpm.vol.active_counter,
        disable_reset_lock: tpm.vol.disable_reset_lock,
        context_nonce_key: tpm.vol.context_nonce_key,
        nv_st_clear,
    });
    tpm.dirty.permanent = true;
    Ok(Out::empty())
}

/// TPM_SelfTestFull (Part 3 §4.1).
pub(crate) fn self_test_full(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    run_self_test(tpm)?;
    Ok(Out::empty())
}

/// TPM_ContinueSelfTest (Part 3 §4.2).
pub(crate) fn continue_self_test(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    run_self_test(tpm)?;
    Ok(Out::empty())
}

/// Known-answer test of the hash every other function depends on (FIPS 180 "abc").
fn run_self_test(tpm: &mut Tpm12) -> TpmResult<()> {
    const ABC_SHA1: [u8; 20] = [
        0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50, 0xc2,
        0x6c, 0x9c, 0xd0, 0xd8, 0x9d,
    ];
    if crate::crypto::sha1(&[b"abc"]) != ABC_SHA1 {
        tpm.vol.test_state = TestState::Failed;
        return Err(TpmError::Failedselftest);
    }
    if tpm.vol.test_state != TestState::Full {
        tpm.vol.test_state = TestState::Full;
        tpm.dirty.volatile = true;
    }
    Ok(())
}

/// TPM_GetTestResult (Part 3 §4.3): a vendor-specific description of the last
/// self test.
pub(crate) fn get_test_result(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::NO_LOCKOUT)?;
    let text: &[u8] = match tpm.vol.test_state {
        TestState::Limited => b"self test: limited",
        TestState::Full => b"self test: passed",
        TestState::Failed => b"self test: FAILED",
    };
    let mut w = Writer::new();
    write_sized(&mut w, text);
    Ok(Out::params(w.into_vec()))
}

/// TPM_GetRandom (Part 3 §13.6).
pub(crate) fn get_random(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let requested = cmd.r.u32()?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    // The answer must fit the output buffer: header (10) and the size field (4).
    let max = tpm.buffer_size.saturating_sub(14);
    let n = usize::try_from(requested).unwrap_or(usize::MAX).min(max);
    let mut bytes = alloc::vec![0; n];
    tpm.drbg.fill(&mut bytes);
    let mut w = Writer::with_capacity(n + 4);
    write_sized(&mut w, &bytes);
    Ok(Out::params(w.into_vec()))
}

/// TPM_StirRandom (Part 3 §13.7). Any size is accepted (the TPM MAY refuse 256
/// bytes or more; libtpms does not).
pub(crate) fn stir_random(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let data = cmd.r.sized_u32(MAX_FIELD)?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    tpm.drbg.reseed(data);
    Ok(Out::empty())
}

/// Microseconds per tick: the carrier's clock has millisecond resolution.
pub(crate) const TICK_RATE_US: u16 = 1000;

/// The current TPM_CURRENT_TICKS structure (Part 2 §15.1).
pub(crate) fn current_ticks(tpm: &Tpm12) -> Vec<u8> {
    let ticks = tpm.vol.now_ms.saturating_sub(tpm.vol.tick_origin_ms);
    let mut w = Writer::new();
    w.u16(stag::CURRENT_TICKS).u64(ticks).u16(TICK_RATE_US).bytes(&tpm.vol.tick_nonce);
    w.into_vec()
}

/// TPM_GetTicks (Part 3 §23.2).
pub(crate) fn get_ticks(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    Ok(Out::params(current_ticks(tpm)))
}

impl Tpm12 {
    /// The tag and trailing-bytes checks alone (TPM_Startup skips the state checks).
    pub(crate) fn check_tag_and_size(&mut self, cmd: &mut Cmd<'_>) -> TpmResult<()> {
        if cmd.tag != crate::consts::tag::RQU_COMMAND {
            return Err(TpmError::Badtag);
        }
        if !cmd.r.is_empty() {
            return Err(TpmError::BadParamSize);
        }
        Ok(())
    }
}
