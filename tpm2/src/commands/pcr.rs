//! PCR commands: TPM2_PCR_Extend, _Event, _Read, _Reset, _Allocate,
//! _SetAuthPolicy, _SetAuthValue (Part 3 §22).

use crate::dispatch::Cmd;
use crate::pcr;
use crate::state::Policy;
use crate::types::{
    DigestValues, HashAlg, Marshal, PcrSelectionList, Rc, TaggedHash, TpmResult, handle as h,
    limits, put_2b,
};
use crate::{Secret, Tpm2};
use alloc::vec::Vec;

/// PCRs whose changes do not bump pcrUpdateCounter (PC Client: 16, 21–23).
pub(crate) fn no_increment(pcr: usize) -> bool {
    pcr == 16 || (21..=23).contains(&pcr)
}

impl Tpm2 {
    /// Extends one PCR in the bank of `alg`, if that bank is allocated.
    pub(crate) fn pcr_extend(&mut self, pcr: usize, alg: HashAlg, digest: &[u8]) {
        if let Some(bank) = self.v.banks.iter_mut().find(|b| b.alg == alg) {
            bank.extend(pcr, digest);
            self.pcr_changed(pcr);
        }
    }

    /// Notes a PCR change: pcrUpdateCounter (so that PolicyPCR sessions notice)
    /// and, for a state-saved PCR, the end of the orderly state.
    pub(crate) fn pcr_changed(&mut self, pcr: usize) {
        if !no_increment(pcr) {
            self.v.pcr_counter = self.v.pcr_counter.wrapping_add(1);
        }
        if pcr::ATTRIBUTES.get(pcr).is_some_and(|a| a.state_save) {
            self.clear_orderly();
        }
    }
}

fn pcr_index(handle: u32) -> TpmResult<usize> {
    usize::try_from(handle).ok().filter(|&p| p < limits::PCR_COUNT).ok_or(Rc::VALUE.handle(1))
}

/// TPM2_PCR_Extend.
pub(crate) fn pcr_extend(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let digests: DigestValues = cmd.params.get()?;
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    if handle == h::NULL {
        return Ok(());
    }
    let pcr = pcr_index(handle)?;
    if !pcr::extend_allowed(pcr, cmd.locality) {
        return Err(Rc::LOCALITY);
    }
    for d in &digests.0 {
        tpm.pcr_extend(pcr, d.hash, &d.digest);
    }
    Ok(())
}

/// TPM2_PCR_Event: hashes the event with every algorithm, extends the allocated
/// banks, returns all digests.
pub(crate) fn pcr_event(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let data = cmd.params.b2(limits::MAX_EVENT)?;
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    let pcr = if handle == h::NULL {
        None
    } else {
        let pcr = pcr_index(handle)?;
        if !pcr::extend_allowed(pcr, cmd.locality) {
            return Err(Rc::LOCALITY);
        }
        Some(pcr)
    };
    let mut out = DigestValues::default();
    for alg in HashAlg::ALL {
        let digest = crate::crypto::hash::digest(alg, &data);
        if let Some(pcr) = pcr {
            tpm.pcr_extend(pcr, alg, &digest);
        }
        out.0.push(TaggedHash { hash: alg, digest });
    }
    out.marshal(&mut cmd.out);
    Ok(())
}

/// TPM2_PCR_Read: up to eight values; the returned selection says which.
pub(crate) fn pcr_read(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let mut selection: PcrSelectionList = cmd.params.get()?;
    cmd.params.end()?;
    let mut values: Vec<Vec<u8>> = Vec::new();
    let mut full = false;
    for sel in selection.0.iter_mut() {
        let bank = tpm.v.banks.iter().find(|b| b.alg == sel.hash);
        for pcr in 0..limits::PCR_COUNT {
            let bit = 1u8 << (pcr % 8);
            let Some(byte) = sel.select.get_mut(pcr / 8) else { break };
            if *byte & bit == 0 {
                continue;
            }
            match bank.and_then(|b| b.values.get(pcr)) {
                Some(v) if !full => {
                    values.push(v.clone());
                    full = values.len() == 8;
                }
                // Unallocated, or past the eighth value: not returned.
                _ => *byte &= !bit,
            }
        }
    }
    cmd.out.u32(tpm.v.pcr_counter);
    selection.marshal(&mut cmd.out);
    cmd.out.u32(u32::try_from(values.len()).unwrap_or(0));
    for v in &values {
        put_2b(&mut cmd.out, v);
    }
    Ok(())
}

/// TPM2_PCR_Reset.
pub(crate) fn pcr_reset(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let pcr = pcr_index(cmd.handle(0)?)?;
    if !pcr::reset_allowed(pcr, cmd.locality) {
        return Err(Rc::LOCALITY);
    }
    for bank in tpm.v.banks.iter_mut() {
        if let Some(v) = bank.values.get_mut(pcr) {
            v.fill(0);
        }
    }
    tpm.pcr_changed(pcr);
    Ok(())
}

/// TPM2_PCR_Allocate: takes effect at the next TPM Reset. A bank is either
/// wholly allocated or not at all; a partial bitmap is refused
/// (allocationSuccess = NO), as the PC Client profile requires whole banks.
pub(crate) fn pcr_allocate(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let request: PcrSelectionList = cmd.params.get()?;
    cmd.params.end()?;
    let mut allocation = tpm.p.pcr_allocation.clone();
    let mut whole = true;
    for sel in &request.0 {
        let count = sel.pcrs().filter(|&p| p < limits::PCR_COUNT).count();
        allocation.retain(|&a| a != sel.hash);
        if count == limits::PCR_COUNT {
            allocation.push(sel.hash);
        } else if count != 0 {
            whole = false;
        }
    }
    allocation.sort();
    if allocation.is_empty() {
        // Some bank must hold the H-CRTM and DRTM PCRs.
        return Err(Rc::PCR);
    }
    let size = |a: &[HashAlg]| a.iter().map(|h| h.size() * limits::PCR_COUNT).sum::<usize>();
    let needed = size(&allocation);
    let available = size(&HashAlg::ALL);
    if whole {
        tpm.nv_mut().pcr_allocation = allocation;
    }
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    cmd.out
        .u8(u8::from(whole))
        .u32(count(limits::PCR_COUNT))
        .u32(count(needed))
        .u32(count(available));
    Ok(())
}

/// TPM2_PCR_SetAuthPolicy (PCRs 20–22 form the one policy group).
pub(crate) fn pcr_set_auth_policy(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let policy = cmd.params.b2(limits::MAX_DIGEST)?;
    let alg = cmd.params.next(|r| HashAlg::unmarshal_opt(r, true))?;
    let pcr = cmd.params.next(|r| {
        let v = r.u32()?;
        if usize::try_from(v).is_ok_and(|p| p < limits::PCR_COUNT) { Ok(v) } else { Err(Rc::VALUE) }
    })?;
    cmd.params.end()?;
    if policy.len() != alg.map_or(0, HashAlg::size) {
        return Err(Rc::SIZE.param(1));
    }
    if !pcr::in_auth_group(usize::try_from(pcr).unwrap_or(usize::MAX)) {
        return Err(Rc::VALUE.param(3));
    }
    tpm.nv_mut().pcr_policy = Policy { alg, digest: policy };
    Ok(())
}

/// TPM2_PCR_SetAuthValue.
pub(crate) fn pcr_set_auth_value(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let auth = cmd.params.b2(limits::MAX_DIGEST)?;
    cmd.params.end()?;
    let pcr = pcr_index(cmd.handle(0)?)?;
    if !pcr::in_auth_group(pcr) {
        // `PCRBelongsAuthGroup` fails: plain TPM_RC_VALUE (Part 3 §22.7.2).
        return Err(Rc::VALUE);
    }
    tpm.v.pcr_auth = Secret::new(auth);
    Ok(())
}
