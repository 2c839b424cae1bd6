//! Non-volatile storage (Part 3 §20).

use crate::engine::Tpm12;

/// Bytes of NV space still available (TPM_CAP_PROP_MAX_NV_AVAILABLE).
pub(crate) fn free_space(tpm: &Tpm12) -> u32 {
    let used: u32 = tpm.perm.nv.iter().map(|n| n.public.data_size).fold(0, u32::saturating_add);
    super::capability::NV_SPACE.saturating_sub(used)
}
