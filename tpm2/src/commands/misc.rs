//! Randomness and clocks: TPM2_GetRandom, TPM2_StirRandom (Part 3 §16),
//! TPM2_ReadClock, TPM2_ClockSet, TPM2_ClockRateAdjust (§29).

use crate::Tpm2;
use crate::dispatch::Cmd;
use crate::types::{ClockInfo, Marshal, Rc, TimeInfo, TpmResult, limits, put_2b};

impl Tpm2 {
    /// The current clock information (unobfuscated).
    pub(crate) fn clock_info(&self) -> ClockInfo {
        ClockInfo {
            clock: self.v.clock,
            reset_count: self.p.reset_count,
            restart_count: self.v.restart_count,
            safe: self.p.clock_safe,
        }
    }

    /// The current time information.
    pub(crate) fn time_info(&self) -> TimeInfo {
        TimeInfo { time: self.v.time, clock_info: self.clock_info() }
    }
}

/// TPM2_GetRandom: at most one digest's worth (64 octets) per call, as in the
/// reference implementation.
pub(crate) fn get_random(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let requested = cmd.params.u16()?;
    cmd.params.end()?;
    let n = usize::from(requested).min(limits::MAX_DIGEST);
    let bytes = tpm.random(n);
    put_2b(&mut cmd.out, &bytes);
    Ok(())
}

/// TPM2_StirRandom.
pub(crate) fn stir_random(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let data = cmd.params.b2(limits::MAX_SENSITIVE_DATA)?;
    cmd.params.end()?;
    tpm.drbg.reseed(&data);
    Ok(())
}

/// TPM2_ReadClock.
pub(crate) fn read_clock(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    tpm.time_info().marshal(&mut cmd.out);
    Ok(())
}

/// The largest value TPM2_ClockSet accepts (Part 3 §29.2: the top 16 bits must
/// stay clear so the Clock cannot roll over).
const MAX_CLOCK: u64 = 0xFFFF_0000_0000_0000;

/// TPM2_ClockSet: the Clock may only move forward.
pub(crate) fn clock_set(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let new_time = cmd.params.u64()?;
    cmd.params.end()?;
    if new_time > MAX_CLOCK || new_time < tpm.v.clock {
        return Err(Rc::VALUE.param(1));
    }
    tpm.v.clock = new_time;
    let p = tpm.nv_mut();
    p.clock = new_time;
    p.clock_safe = true;
    Ok(())
}

/// TPM2_ClockRateAdjust: the engine's Clock follows the host's monotonic clock,
/// so a rate adjustment is accepted (the value is checked) but has no effect.
pub(crate) fn clock_rate_adjust(_tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.next(|r| {
        let adjust = i8::from_be_bytes([r.u8()?]);
        if (-3..=3).contains(&adjust) { Ok(()) } else { Err(Rc::VALUE) }
    })?;
    cmd.params.end()
}
