//! A TPM 1.2 engine (TCG TPM Main Specification 1.2 rev 116).
//!
//! [`Tpm12`] implements [`tpm_engine::TpmEngine`]: it takes TPM 1.2 command bytes at
//! a locality and returns the response bytes, keeps its state in memory and exports
//! it as versioned blobs. It knows nothing about Xen or sockets. The ordinals it
//! implements, the ones it answers with TPM_BAD_ORDINAL, and where it deviates from
//! libtpms are listed in docs/tpm12.md.
//!
//! Layout: [`consts`] and [`error`] hold the specification's numbers, [`structs`]
//! the Part 2 structures, [`crypto`] the primitives, [`state`] the TPM's data and its
//! serialisation, `engine` the command framework (framing, authorization sessions,
//! the ordinal table) and `cmd` one module per command family.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod consts;
pub mod crypto;
pub mod error;
pub mod state;
pub mod structs;

mod cmd;
mod engine;

pub use engine::{Config, Tpm12, VersionInfo};
pub use error::TpmError;
