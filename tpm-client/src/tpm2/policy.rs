//! The sealed root's authorisation policy, computed in software.
//!
//! The policy is PolicyPCR over the selected SHA-256 PCRs followed by PolicyLocality of
//! the manager's locality. Computing it here (instead of with a trial session) lets the
//! manager seal to PCR values it predicts for a future boot. The tests check it against a
//! trial session of a real TPM.

use sha2::{Digest, Sha256};

use super::wire::{SHA256_LEN, cc, pcr_selection_bytes};
use crate::PcrSelection;

/// The policy digest after PolicyPCR(`selection`) with the PCRs holding `values`
/// (ascending PCR order, one per selected PCR) then PolicyLocality(`locality`), from the
/// all-zero start of a SHA-256 policy session.
///
/// TPM 2.0 Part 3 §23.7 (PolicyPCR): `digestTPM = H(value_1 || … || value_n)`,
/// `policyDigest' = H(policyDigest || TPM_CC_PolicyPCR || pcrs || digestTPM)`, where
/// `pcrs` is the TPML_PCR_SELECTION as sent. Part 3 §23.5 (PolicyLocality):
/// `policyDigest' = H(policyDigest || TPM_CC_PolicyLocality || locality)`, `locality` the
/// TPMA_LOCALITY byte (bit n = locality n for 0-4).
pub fn seal_policy(
    selection: PcrSelection,
    values: &[[u8; SHA256_LEN]],
    locality: u8,
) -> [u8; SHA256_LEN] {
    let mut pcr_hash = Sha256::new();
    for value in values {
        pcr_hash.update(value);
    }
    let after_pcr = Sha256::new()
        .chain_update([0u8; SHA256_LEN])
        .chain_update(cc::POLICY_PCR.to_be_bytes())
        .chain_update(pcr_selection_bytes(selection))
        .chain_update(pcr_hash.finalize())
        .finalize();
    Sha256::new()
        .chain_update(after_pcr)
        .chain_update(cc::POLICY_LOCALITY.to_be_bytes())
        .chain_update([locality_bits(locality)])
        .finalize()
        .into()
}

/// The TPMA_LOCALITY byte of one locality 0-4 (Part 2 §8.5).
pub(crate) fn locality_bits(locality: u8) -> u8 {
    1u8.checked_shl(u32::from(locality)).unwrap_or(0) & 0x1F
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locality_bits_are_one_hot() {
        assert_eq!(locality_bits(0), 0x01);
        assert_eq!(locality_bits(2), 0x04);
        assert_eq!(locality_bits(4), 0x10);
    }

    #[test]
    fn policy_depends_on_values_selection_and_locality() {
        let selection = PcrSelection::parse("0,7").unwrap();
        let values = [[0u8; 32], [1u8; 32]];
        let base = seal_policy(selection, &values, 0);
        assert_ne!(base, seal_policy(selection, &[[0u8; 32], [2u8; 32]], 0));
        assert_ne!(base, seal_policy(PcrSelection::parse("0,8").unwrap(), &values, 0));
        assert_ne!(base, seal_policy(selection, &values, 2));
    }
}
