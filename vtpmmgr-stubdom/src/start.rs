//! Start of the manager: the hardware TPM unseals the root secret, the root secret opens
//! the key store (docs/manager-trust.md, docs/manager-disk.md).
//!
//! - A blank disk is formatted: a fresh root secret from the hardware TPM's generator,
//!   sealed to the configured PCRs and the manager's locality, bound to the rollback
//!   counter.
//! - A disk of ours: each sealed copy of the root secret, newest first, is unsealed
//!   until one opens; the store then checks its roots against the counter (an older
//!   image is refused). If the configured PCR selection changed, the secret is re-sealed.
//! - Anything else — a disk whose secret cannot be unsealed, a C vtpmmgr image, foreign
//!   content — is a clear error, never silently reformatted: the operator chooses
//!   `reformat` explicitly, and loses every vTPM key on that disk.

use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;
use mgr_store::{
    BlockDevice, CounterError, FormatOptions, ImageKind, OpenOptions, RootSecret, Store, inspect,
};
use tpm_client::{
    HardwareTpm, MonotonicCounter as _, PcrSelection, PcrValue, SealedRoot, Transport,
};
use tpm_engine::Family;

use crate::service::{Hardware, HardwareError};

/// The hardware TPM, shared by the key store's counter and the request handlers.
pub type SharedTpm<T> = Rc<RefCell<HardwareTpm<T>>>;

/// The hardware counter, as the key store sees it.
pub struct TpmCounter<T: Transport>(pub SharedTpm<T>);

impl<T: Transport> fmt::Debug for TpmCounter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TpmCounter")
    }
}

impl<T: Transport> mgr_store::MonotonicCounter for TpmCounter<T> {
    fn read(&mut self) -> Result<u64, CounterError> {
        self.0.borrow_mut().read().map_err(|e| counter_error(&e))
    }
    fn increment(&mut self) -> Result<u64, CounterError> {
        self.0.borrow_mut().increment().map_err(|e| counter_error(&e))
    }
}

fn counter_error<E>(error: &tpm_client::Error<E>) -> CounterError {
    // The store only reports the code; 0 stands for "not a TPM return code".
    CounterError(error.tpm_rc().unwrap_or(0))
}

/// The hardware TPM, as the request handlers see it.
pub struct TpmHardware<T: Transport>(pub SharedTpm<T>);

impl<T: Transport> fmt::Debug for TpmHardware<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TpmHardware")
    }
}

impl<T: Transport> Hardware for TpmHardware<T> {
    fn random(&mut self, out: &mut [u8]) -> Result<(), HardwareError> {
        self.0.borrow_mut().random(out).map_err(|_| HardwareError::Failed)
    }

    fn pcr_read_sha1(&mut self, index: u32) -> Result<[u8; 20], HardwareError> {
        let mut tpm = self.0.borrow_mut();
        if tpm.family() != Family::Tpm12 {
            return Err(HardwareError::Unsupported);
        }
        let pcr = u8::try_from(index).ok().filter(|i| *i < 24).ok_or(HardwareError::BadIndex)?;
        match tpm.pcr_read(pcr) {
            Ok(PcrValue::Sha1(value)) => Ok(value),
            Ok(PcrValue::Sha256(_)) => Err(HardwareError::Unsupported),
            Err(_) => Err(HardwareError::Failed),
        }
    }
}

/// How to start.
#[derive(Clone, Copy, Debug)]
pub struct StartOptions {
    /// The PCRs the root secret is sealed to (`seal_pcrs=`).
    pub pcrs: PcrSelection,
    /// Format the disk whatever it holds (`reformat`): every vTPM key on it is lost.
    pub reformat: bool,
    /// Accept the newest root whatever the counter says, once (`rebind_counter`: after
    /// the TPM was cleared or replaced).
    pub rebind_counter: bool,
}

/// What start-up did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// The disk was blank (or `reformat` was given) and is now an empty store.
    Formatted,
    /// The store was opened; `resealed` if the root secret was sealed again to a new
    /// PCR selection.
    Opened {
        /// The secret was re-sealed.
        resealed: bool,
    },
}

/// Why the manager cannot start.
#[derive(Debug)]
pub enum StartError<E> {
    /// The disk could not be read, or the store refused it (replayed image, counter
    /// out of step, corruption).
    Store(mgr_store::Error),
    /// The hardware TPM failed.
    Tpm(tpm_client::Error<E>),
    /// No sealed copy of the root secret could be unsealed (typically: the platform's
    /// measurements changed).
    Unseal(tpm_client::Error<E>),
    /// The disk holds a C vtpmmgr image.
    CImage {
        /// Its format version.
        version: u32,
    },
    /// The disk holds something that is not a key store.
    Foreign,
}

impl<E: fmt::Display> fmt::Display for StartError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "key store: {e}"),
            Self::Tpm(e) => write!(f, "hardware TPM: {e}"),
            Self::Unseal(e) => write!(
                f,
                "cannot unseal the manager's root secret ({e}); if the platform's firmware or kernel \
                 changed, re-seal as docs/manager-trust.md describes; `reformat` starts over and \
                 loses every vTPM key"
            ),
            Self::CImage { version } => write!(
                f,
                "the disk holds a C vtpmmgr image (version {version}); see docs/manager-disk.md \
                 for moving its vTPMs, or give `reformat` to overwrite it"
            ),
            Self::Foreign => f.write_str(
                "the disk holds something that is not a key store; give `reformat` to overwrite it",
            ),
        }
    }
}

/// The opened store and what start-up did, or why it failed.
pub type StartResult<D, T> =
    Result<(Store<D, TpmCounter<T>>, Started), StartError<<T as Transport>::Error>>;

/// Opens the key store on `disk`, or formats it (module docs).
pub fn open_store<D: BlockDevice, T: Transport>(
    mut disk: D,
    tpm: &SharedTpm<T>,
    options: StartOptions,
) -> StartResult<D, T> {
    let inspection = inspect(&mut disk).map_err(StartError::Store)?;
    if options.reformat {
        kernel::warn!("reformat requested: the key store on this disk is erased");
        return format(disk, tpm, options, true);
    }
    match inspection.kind {
        ImageKind::Blank => format(disk, tpm, options, false),
        ImageKind::CVtpmmgr { version } => Err(StartError::CImage { version }),
        ImageKind::NotAStore => Err(StartError::Foreign),
        ImageKind::Store => {
            let mut last = None;
            for blob in inspection.sealed_blobs() {
                let sealed = match SealedRoot::from_bytes(blob) {
                    Ok(sealed) => sealed,
                    Err(e) => {
                        kernel::warn!("a sealed root on the disk is unreadable: {e:?}");
                        continue;
                    }
                };
                let unsealed = tpm.borrow_mut().unseal_root(&sealed);
                match unsealed {
                    Ok(secret) => {
                        return open(disk, tpm, options, &sealed, RootSecret::new(*secret));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(last.map_or(StartError::Store(mgr_store::Error::NotAStore), StartError::Unseal))
        }
    }
}

fn open<D: BlockDevice, T: Transport>(
    disk: D,
    tpm: &SharedTpm<T>,
    options: StartOptions,
    sealed: &SealedRoot,
    secret: RootSecret,
) -> StartResult<D, T> {
    let open_options = OpenOptions { rebind_counter: options.rebind_counter };
    let mut store = Store::open(disk, TpmCounter(tpm.clone()), &secret, open_options)
        .map_err(StartError::Store)?;
    if sealed.pcrs() == options.pcrs {
        return Ok((store, Started::Opened { resealed: false }));
    }
    kernel::info!("PCR selection changed: sealing the root secret to the new selection");
    let resealed =
        tpm.borrow_mut().seal_root(secret.as_bytes(), options.pcrs).map_err(StartError::Tpm)?;
    store.set_sealed_blob(&resealed.to_bytes()).map_err(StartError::Store)?;
    Ok((store, Started::Opened { resealed: true }))
}

fn format<D: BlockDevice, T: Transport>(
    disk: D,
    tpm: &SharedTpm<T>,
    options: StartOptions,
    overwrite: bool,
) -> StartResult<D, T> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    tpm.borrow_mut().random(&mut bytes[..]).map_err(StartError::Tpm)?;
    let secret = RootSecret::new(*bytes);
    let sealed =
        tpm.borrow_mut().seal_root(secret.as_bytes(), options.pcrs).map_err(StartError::Tpm)?;
    let format_options = FormatOptions { sectors: None, overwrite };
    let store =
        Store::format(disk, TpmCounter(tpm.clone()), &secret, &sealed.to_bytes(), format_options)
            .map_err(StartError::Store)?;
    Ok((store, Started::Formatted))
}

#[cfg(test)]
mod tests;
