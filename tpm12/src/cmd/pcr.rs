//! PCRs, the SHA-1 thread and the DRTM hash interface (Part 3 §13.1–13.4, §16;
//! PC Client TIS 1.2 §7).

use alloc::vec::Vec;
use sha1::Digest;
use tpm_engine::wire::Writer;

use crate::consts::{DIGEST_SIZE, NUM_PCRS};
use crate::crypto::{self, Digest20};
use crate::engine::{Cmd, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::structs::{MAX_FIELD, PcrSelection, read_digest, write_sized};

/// TPM_PCR_ATTRIBUTES (Part 2 §8.9) of one PCR.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PcrAttributes {
    /// pcrReset: resettable by TPM_PCR_Reset, reset to 0xFF..FF at Startup.
    pub reset: bool,
    /// pcrResetLocal: localities allowed to reset (bit n = locality n).
    pub reset_local: u8,
    /// pcrExtendLocal: localities allowed to extend.
    pub extend_local: u8,
}

const fn attr(reset: bool, reset_local: u8, extend_local: u8) -> PcrAttributes {
    PcrAttributes { reset, reset_local, extend_local }
}

/// The PC Client attributes (PC Client Implementation Specification 1.2, table 4):
/// 0–15 static, 16 debug, 17–22 DRTM localities, 23 application.
pub(crate) const ATTRIBUTES: [PcrAttributes; NUM_PCRS] = {
    const STATIC: PcrAttributes = attr(false, 0, 0x1F);
    [
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        STATIC,
        attr(true, 0x1F, 0x1F),
        attr(true, 0x10, 0x1C),
        attr(true, 0x10, 0x1C),
        attr(true, 0x10, 0x0C),
        attr(true, 0x14, 0x0E),
        attr(true, 0x04, 0x04),
        attr(true, 0x04, 0x04),
        attr(true, 0x1F, 0x1F),
    ]
};

/// The power-on value of PCR `index` (PC Client: 17–22 all ones, others zero).
pub(crate) fn default_value(index: usize) -> Digest20 {
    if (17..=22).contains(&index) { [0xFF; 20] } else { [0; 20] }
}

/// The value TPM_PCR_Reset gives PCR `index`: zero for the debug and application
/// PCRs 16 and 23 and after a DRTM (trusted OS present), all ones otherwise.
fn reset_value(tos_present: bool, index: usize) -> Digest20 {
    if tos_present || index == 16 || index == 23 { [0; 20] } else { [0xFF; 20] }
}

/// The locality-4 PCR (PC Client: _TPM_Hash_End extends it).
const DRTM_PCR: usize = 17;

fn pcr_index(index: u32) -> TpmResult<usize> {
    usize::try_from(index).ok().filter(|i| *i < NUM_PCRS).ok_or(TpmError::Badindex)
}

/// The extend common to TPM_Extend and TPM_SHA1CompleteExtend (Part 3 §16.1).
fn extend_pcr(tpm: &mut Tpm12, locality: u8, index: u32, digest: &Digest20) -> TpmResult<Digest20> {
    let i = pcr_index(index)?;
    let attr = ATTRIBUTES.get(i).ok_or(TpmError::Badindex)?;
    if attr.extend_local & (1 << locality) == 0 {
        return Err(TpmError::BadLocality);
    }
    let pcr = tpm.vol.pcrs.get_mut(i).ok_or(TpmError::Badindex)?;
    // PC Client TIS §7.2 note: while the locality-4 PCR is at its reset value of 0
    // only locality 4 may extend it.
    if i == DRTM_PCR && locality != 4 && *pcr == [0; DIGEST_SIZE] {
        return Err(TpmError::BadLocality);
    }
    *pcr = crypto::sha1(&[&pcr[..], digest]);
    let value = *pcr;
    tpm.dirty.volatile = true;
    // Action 8: a disabled or deactivated TPM extends but does not reveal the value.
    if tpm.perm.flags.disable || tpm.vol.flags.deactivated {
        return Ok([0; 20]);
    }
    Ok(value)
}

/// TPM_Extend (Part 3 §16.1).
pub(crate) fn extend(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let index = cmd.r.u32()?;
    let digest = read_digest(&mut cmd.r)?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    let value = extend_pcr(tpm, cmd.locality, index, &digest)?;
    Ok(Out::params(value.to_vec()))
}

/// TPM_PcrRead (Part 3 §16.2).
pub(crate) fn pcr_read(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let index = cmd.r.u32()?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    let i = pcr_index(index)?;
    let value = tpm.vol.pcrs.get(i).ok_or(TpmError::Badindex)?;
    Ok(Out::params(value.to_vec()))
}

/// TPM_PCR_Reset (Part 3 §16.4): every selected PCR must be resettable from this
/// locality before any is reset.
pub(crate) fn pcr_reset(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let selection = PcrSelection::parse(&mut cmd.r)?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    if selection.is_empty() {
        return Err(TpmError::InvalidPcrInfo);
    }
    for i in selection.indices() {
        let attr = ATTRIBUTES.get(i).ok_or(TpmError::Badindex)?;
        if !attr.reset {
            return Err(TpmError::Notresetable);
        }
        if attr.reset_local & (1 << cmd.locality) == 0 {
            return Err(TpmError::Notlocal);
        }
    }
    let tos = tpm.vol.tos_present;
    for i in selection.indices() {
        if let Some(pcr) = tpm.vol.pcrs.get_mut(i) {
            *pcr = reset_value(tos, i);
        }
    }
    tpm.dirty.volatile = true;
    Ok(Out::empty())
}

/// TPM_SHA1Start (Part 3 §13.1).
pub(crate) fn sha1_start(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    tpm.vol.sha1 = Some(sha1::Sha1::new());
    tpm.dirty.volatile = true;
    let max = u32::try_from(tpm.buffer_size.saturating_sub(64)).unwrap_or(0);
    Ok(Out::params(max.to_be_bytes().to_vec()))
}

/// TPM_SHA1Update (Part 3 §13.2): whole 64-byte blocks only.
pub(crate) fn sha1_update(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let data = cmd.r.sized_u32(MAX_FIELD)?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    if tpm.vol.sha1.is_none() {
        return Err(TpmError::ShaThread);
    }
    if data.len() % 64 != 0 || data.len() > tpm.buffer_size.saturating_sub(64) {
        tpm.vol.sha1 = None;
        return Err(TpmError::ShaError);
    }
    if let Some(h) = tpm.vol.sha1.as_mut() {
        h.update(data);
    }
    tpm.dirty.volatile = true;
    Ok(Out::empty())
}

fn sha1_finish(tpm: &mut Tpm12, data: &[u8]) -> TpmResult<Digest20> {
    let mut h = tpm.vol.sha1.take().ok_or(TpmError::ShaThread)?;
    tpm.dirty.volatile = true;
    if data.len() > 64 {
        return Err(TpmError::ShaError);
    }
    h.update(data);
    Ok(h.finalize().into())
}

/// TPM_SHA1Complete (Part 3 §13.3).
pub(crate) fn sha1_complete(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let data = cmd.r.sized_u32(MAX_FIELD)?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    let digest = sha1_finish(tpm, data)?;
    Ok(Out::params(digest.to_vec()))
}

/// TPM_SHA1CompleteExtend (Part 3 §13.4).
pub(crate) fn sha1_complete_extend(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let index = cmd.r.u32()?;
    let data = cmd.r.sized_u32(MAX_FIELD)?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    let digest = sha1_finish(tpm, data)?;
    let value = extend_pcr(tpm, cmd.locality, index, &digest)?;
    let mut out = Vec::with_capacity(40);
    out.extend_from_slice(&digest);
    out.extend_from_slice(&value);
    Ok(Out::params(out))
}

/// _TPM_Hash_Start (PC Client TIS §7.2): reset the DRTM PCRs 17–22 to zero, note a
/// trusted OS, open the TIS hash thread.
pub(crate) fn hash_start(tpm: &mut Tpm12) {
    for i in 17..=22 {
        if let Some(pcr) = tpm.vol.pcrs.get_mut(i) {
            *pcr = [0; 20];
        }
    }
    tpm.vol.tos_present = true;
    tpm.vol.hash_tis = Some(sha1::Sha1::new());
    tpm.dirty.volatile = true;
}

/// _TPM_Hash_End: PCR17 = SHA-1(0^20 || SHA-1(data)), and the platform is now
/// "established".
pub(crate) fn hash_end(tpm: &mut Tpm12) {
    let Some(h) = tpm.vol.hash_tis.take() else { return };
    let digest: Digest20 = h.finalize().into();
    if let Some(pcr) = tpm.vol.pcrs.get_mut(DRTM_PCR) {
        *pcr = crypto::sha1(&[&pcr[..], &digest]);
    }
    if !tpm.perm.flags.tpm_established {
        tpm.perm.flags.tpm_established = true;
        tpm.dirty.permanent = true;
    }
    tpm.dirty.volatile = true;
}

/// TPM_PCR_COMPOSITE for `selection` with the current values (Part 2 §8.2).
pub(crate) fn composite(tpm: &Tpm12, selection: &PcrSelection) -> Vec<u8> {
    let mut values = Vec::new();
    for i in selection.indices() {
        if let Some(pcr) = tpm.vol.pcrs.get(i) {
            values.extend_from_slice(pcr);
        }
    }
    let mut w = Writer::new();
    selection.write(&mut w);
    write_sized(&mut w, &values);
    w.into_vec()
}

/// TPM_COMPOSITE_HASH: SHA-1 of the composite (Part 2 §5.4.1).
pub(crate) fn composite_hash(tpm: &Tpm12, selection: &PcrSelection) -> Digest20 {
    crypto::sha1(&[&composite(tpm, selection)])
}
