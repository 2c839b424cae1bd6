//! The manager's client for the hardware TPM: seal the root secret, count, randomness.
//!
//! vtpmmgr-stubdom protects every vTPM's key with one 32-byte *root secret* (the key store
//! in `mgr-store` is encrypted under it). This crate is how that secret is tied to the
//! platform: it talks to the hardware TPM — TPM 1.2 or TPM 2.0, told apart by probing
//! ([`HardwareTpm::detect`]) — to
//!
//! - seal the root secret so that only this platform, booted into the measured
//!   configuration (a PCR selection) and talking from the manager's locality, can unseal
//!   it ([`HardwareTpm::seal_root`], [`HardwareTpm::unseal_root`]); the result is a
//!   versioned, opaque [`SealedRoot`] the key store keeps on disk;
//! - keep a hardware monotonic counter that the key store binds its root to, so an older
//!   disk image is refused ([`MonotonicCounter`]);
//! - draw random numbers for the manager's DRBG ([`HardwareTpm::random`]) and read PCRs.
//!
//! Bytes reach the TPM through a [`Transport`] (the TIS driver in the image, a socket to
//! swtpm in the tests). Every response is hostile until parsed: sizes, tags and lengths
//! are checked, the TPM's return code is carried in a typed [`Error`], and no response can
//! make the client panic. Every transient object and session the client creates is
//! flushed again, on the error paths too.
//!
//! docs/manager-trust.md describes the trust model, the TPM objects each family uses and
//! how to clear them.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod auth;
mod blob;
mod config;
mod error;
mod frame;
mod hardware;
mod pcr;
pub mod tpm12;
pub mod tpm2;

#[cfg(feature = "test-utils")]
pub mod testing;

use alloc::vec::Vec;
use core::fmt;

pub use auth::AuthValue;
pub use blob::{MAX_SEALED_ROOT, SealedRoot};
pub use config::{Config, DEFAULT_NV_COUNTER_INDEX, DEFAULT_SEAL_PCRS};
pub use error::{BlobError, ConfigError, Error, Malformed, Unsupported};
pub use frame::MAX_RESPONSE;
pub use hardware::{Counter, HardwareTpm, MonotonicCounter, PcrValue};
pub use pcr::PcrSelection;
pub use tpm_engine::Family;

/// Moves one command to the hardware TPM and brings its response back.
///
/// The image implements it over `tpm_tis::Tis`; tests over a socket to swtpm or a
/// scripted list of responses. The transport only moves bytes: it need not look at them,
/// and whatever it returns is validated by this crate.
pub trait Transport {
    /// Why bytes could not be moved (a TIS timeout, a closed socket, …).
    type Error: fmt::Debug;

    /// Sends `command` (a complete TPM command, header included) and returns the
    /// complete response.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Self::Error>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    type Error = T::Error;

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Self::Error> {
        (**self).transmit(command)
    }
}
