//! PCR banks and the PC Client platform's PCR attributes (PC Client Platform TPM
//! Profile §4.6, as the reference implementation's `s_initAttributes` encodes them).

use crate::crypto::hash::{self, Hasher};
use crate::types::{HashAlg, PcrSelection, limits::PCR_COUNT};
use alloc::vec;
use alloc::vec::Vec;

/// Attributes of one PCR.
#[derive(Clone, Copy, Debug)]
pub struct PcrAttributes {
    /// Saved by Shutdown(STATE) and restored by Startup(STATE).
    pub state_save: bool,
    /// Localities (bit n = locality n) that may TPM2_PCR_Reset it; bit 4 also
    /// means "initialised to all ones and reset by _TPM_Hash_Start" (a DRTM PCR).
    pub reset_localities: u8,
    /// Localities that may extend it.
    pub extend_localities: u8,
}

const fn attrs(state_save: bool, reset: u8, extend: u8) -> PcrAttributes {
    PcrAttributes { state_save, reset_localities: reset, extend_localities: extend }
}

/// The PC Client PCR attributes: 0–15 static RTM, 16 debug, 17–22 DRTM,
/// 23 application.
pub const ATTRIBUTES: [PcrAttributes; PCR_COUNT] = [
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(false, 0x0F, 0x1F),
    attrs(false, 0x10, 0x1C),
    attrs(false, 0x10, 0x1C),
    attrs(false, 0x10, 0x0C),
    attrs(false, 0x14, 0x0E),
    attrs(false, 0x14, 0x04),
    attrs(false, 0x14, 0x04),
    attrs(false, 0x0F, 0x1F),
];

/// The PCR the H-CRTM/DRTM sequence (_TPM_Hash_*) extends.
pub const DRTM_PCR: usize = 17;
/// The number of PCRs, as a handle bound.
#[allow(clippy::cast_possible_truncation, reason = "a small constant")]
pub const PCR_COUNT_HANDLES: u32 = PCR_COUNT as u32;
/// The PCR whose initial value records the Startup locality.
pub const HCRTM_PCR: usize = 0;

/// A locality as a bit in the 5-bit masks above; extended localities (32..255)
/// and the unused 5..31 match no bit.
fn locality_bit(locality: u8) -> u8 {
    if locality < 5 { 1 << locality } else { 0 }
}

/// True if `locality` may extend PCR `pcr`.
pub fn extend_allowed(pcr: usize, locality: u8) -> bool {
    ATTRIBUTES.get(pcr).is_some_and(|a| a.extend_localities & locality_bit(locality) != 0)
}

/// True if `locality` may reset PCR `pcr` with TPM2_PCR_Reset. Locality 4 never
/// may (a DRTM PCR is reset by _TPM_Hash_Start instead).
pub fn reset_allowed(pcr: usize, locality: u8) -> bool {
    locality != 4
        && ATTRIBUTES.get(pcr).is_some_and(|a| a.reset_localities & locality_bit(locality) != 0)
}

/// True if PCR `pcr` belongs to the group whose authValue / authPolicy can be set
/// (PCRs 20–22 in the reference implementation's single group).
pub fn in_auth_group(pcr: usize) -> bool {
    (20..=22).contains(&pcr)
}

/// One bank of PCRs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrBank {
    /// The bank's hash.
    pub alg: HashAlg,
    /// The 24 values.
    pub values: Vec<Vec<u8>>,
}

impl PcrBank {
    /// A bank with the power-on values (zero; all ones for DRTM PCRs; PCR 0 ends
    /// with the Startup locality).
    pub fn new(alg: HashAlg, startup_locality: u8) -> Self {
        let values = (0..PCR_COUNT)
            .map(|pcr| {
                let mut v = vec![0u8; alg.size()];
                if ATTRIBUTES.get(pcr).is_some_and(|a| a.reset_localities & 0x10 != 0) {
                    v.fill(0xFF);
                } else if pcr == HCRTM_PCR
                    && let Some(last) = v.last_mut()
                {
                    *last = startup_locality;
                }
                v
            })
            .collect();
        PcrBank { alg, values }
    }

    /// Extends PCR `pcr` with `digest`: new = H(old ‖ digest).
    pub fn extend(&mut self, pcr: usize, digest: &[u8]) {
        if let Some(v) = self.values.get_mut(pcr) {
            *v = hash::digest_parts(self.alg, &[v, digest]);
        }
    }
}

/// The digest of the selected PCR values, in selection order (Part 1 §17.6):
/// used by PolicyPCR, Quote and creation data.
pub fn selection_digest(banks: &[PcrBank], selection: &[PcrSelection], alg: HashAlg) -> Vec<u8> {
    let mut h = Hasher::new(alg);
    for sel in selection {
        if let Some(bank) = banks.iter().find(|b| b.alg == sel.hash) {
            for pcr in sel.pcrs() {
                if let Some(v) = bank.values.get(pcr) {
                    h.update(v);
                }
            }
        }
    }
    h.finish()
}
