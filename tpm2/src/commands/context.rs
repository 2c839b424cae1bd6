//! Context management: TPM2_ContextSave, TPM2_ContextLoad, TPM2_FlushContext,
//! TPM2_EvictControl (Part 3 §28).

use crate::types::HashAlg;

/// The hash protecting saved contexts (TPM_PT_CONTEXT_HASH).
pub const CONTEXT_HASH: HashAlg = HashAlg::Sha256;
