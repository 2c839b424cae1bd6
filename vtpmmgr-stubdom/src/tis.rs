//! The hardware TPM behind its TIS registers: family detection, the transport
//! `tpm-client` talks through, and the clock the driver waits with.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use tpm_client::{Family, HardwareTpm, MAX_RESPONSE, Transport};
use tpm_tis::{Clock, Mmio, Tis, TisError};
use xenbus::Platform;

use crate::options::ManagerOptions;

/// How often the TIS driver looks at a register it waits on.
const POLL_INTERVAL_NS: u64 = 1_000_000;
/// Attempts at reading a TPM 1.2's timeouts and durations (the first may come before
/// TPM_Startup and be refused).
const TPM12_CONFIGURE_ATTEMPTS: u8 = 3;

/// `tpm-tis`'s clock over the platform: Xen system time, sleeping in SCHEDOP_poll.
#[derive(Clone, Debug)]
pub struct PlatformClock<P>(pub P);

impl<P: Platform> Clock for PlatformClock<P> {
    fn now_ns(&self) -> u64 {
        self.0.now_ns()
    }

    fn sleep_ns(&mut self, ns: u64) {
        let deadline = self.0.now_ns().saturating_add(ns);
        self.0.wait(&[], deadline);
    }
}

/// The TIS driver, shared by the transport and the manager (which gives the locality
/// up when it stops).
pub type SharedTis<M, C> = Rc<RefCell<Tis<M, C>>>;

/// The TIS driver as a [`Transport`] for `tpm-client`. Dropping it gives the locality
/// up, so the next manager — at any locality — gets the TPM.
pub struct TisTransport<M: Mmio, C: Clock> {
    tis: SharedTis<M, C>,
    response: Box<[u8]>,
    /// TPM 1.2: reading the TPM's timeouts and durations is still to be done.
    tpm12_unconfigured: u8,
}

impl<M: Mmio, C: Clock> fmt::Debug for TisTransport<M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TisTransport").finish_non_exhaustive()
    }
}

impl<M: Mmio, C: Clock> TisTransport<M, C> {
    fn new(tis: SharedTis<M, C>) -> Self {
        let family = tis.borrow().family();
        let tpm12_unconfigured =
            if family == Some(Family::Tpm12) { TPM12_CONFIGURE_ATTEMPTS } else { 0 };
        let mut transport = Self {
            tis,
            response: alloc::vec![0u8; MAX_RESPONSE].into_boxed_slice(),
            tpm12_unconfigured,
        };
        transport.configure_tpm12();
        transport
    }

    /// TPM 1.2: asks the TPM for its timeouts and durations (specs §6.4); until that
    /// works the driver allows 120 s per command.
    fn configure_tpm12(&mut self) {
        if self.tpm12_unconfigured == 0 {
            return;
        }
        self.tpm12_unconfigured -= 1;
        let mut tis = self.tis.borrow_mut();
        match tis.configure_tpm12() {
            Ok(()) => {
                self.tpm12_unconfigured = 0;
                kernel::debug!("TPM 1.2 timeouts {:?}", tis.timeouts());
            }
            Err(e) if self.tpm12_unconfigured == 0 => {
                kernel::warn!("TPM 1.2 timeouts unreadable ({e}); using the defaults");
            }
            Err(_) => {}
        }
    }
}

impl<M: Mmio, C: Clock> Drop for TisTransport<M, C> {
    fn drop(&mut self) {
        if let Ok(mut tis) = self.tis.try_borrow_mut() {
            tis.relinquish_locality();
        }
    }
}

impl<M: Mmio, C: Clock> Transport for TisTransport<M, C> {
    type Error = TisError;

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TisError> {
        let len = self.tis.borrow_mut().transmit(command, &mut self.response)?;
        let response = self.response.get(..len).unwrap_or_default().to_vec();
        self.configure_tpm12();
        Ok(response)
    }
}

/// The hardware TPM as the manager uses it.
pub type Tpm<M, C> = HardwareTpm<TisTransport<M, C>>;

/// What [`attach`] gives: the client, and the driver it talks through.
pub type Attached<M, C> = (Tpm<M, C>, SharedTis<M, C>);

/// Why the hardware TPM cannot be used.
#[derive(Debug)]
pub enum AttachError {
    /// The TIS driver failed (nothing at the address, a timeout, …).
    Tis(TisError),
    /// The TPM is not of the family the options name.
    FamilyMismatch {
        /// What `tpm2=` says.
        configured: Family,
        /// What the TPM is.
        found: Family,
    },
    /// The TPM client could not take the TPM over (startup, ownership, auth).
    Client(tpm_client::Error<TisError>),
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tis(TisError::NoDevice) => f.write_str(
                "no TPM answers at the TIS address: check iomem= in the domain's config, \
                 tpmiomem= and tpmlocality=, and that dom0 does not drive the TPM",
            ),
            Self::Tis(e) => write!(f, "TIS: {e}"),
            Self::FamilyMismatch { configured, found } => write!(
                f,
                "the options say {} (tpm2={}) but the hardware TPM is {}; fix `extra=` \
                 (or drop tpm2= to use what is detected)",
                family_name(*configured),
                u8::from(*configured == Family::Tpm20),
                family_name(*found)
            ),
            Self::Client(e) => write!(f, "{e}"),
        }
    }
}

/// "TPM 1.2" or "TPM 2.0".
pub fn family_name(family: Family) -> &'static str {
    match family {
        Family::Tpm12 => "TPM 1.2",
        Family::Tpm20 => "TPM 2.0",
    }
}

/// Binds the TIS driver to `mmio`, takes the locality, finds out the TPM's family
/// (registers, then the TPM2_GetCapability probe), checks it against `tpm2=`, and
/// hands the TPM to the client (Startup if firmware did not, ownership on a TPM 1.2).
///
/// Returns the client and the driver (to give the locality up when the manager
/// stops). On failure the locality is given up already.
pub fn attach<M: Mmio, C: Clock>(
    mmio: M,
    clock: C,
    options: &ManagerOptions,
) -> Result<Attached<M, C>, AttachError> {
    let config = tpm_tis::Config {
        locality: options.locality(),
        poll_interval_ns: POLL_INTERVAL_NS,
        ..tpm_tis::Config::default()
    };
    let mut tis = Tis::new(mmio, clock, config).map_err(AttachError::Tis)?;
    let (vendor, device, revision) = tis.vendor();
    tis.request_locality().map_err(AttachError::Tis)?;
    let hints = tis.register_hints();
    let found = match tis.detect_family() {
        Ok(found) => found,
        Err(e) => {
            tis.relinquish_locality();
            return Err(AttachError::Tis(e));
        }
    };
    kernel::info!(
        "hardware TPM: {} (vendor {vendor:#06x}, device {device:#06x}, revision {revision}), \
         locality {}",
        family_name(found),
        options.locality()
    );
    kernel::debug!("TIS register hints: {hints:?}");
    if let Some(configured) = options.expected_family
        && configured != found
    {
        tis.relinquish_locality();
        return Err(AttachError::FamilyMismatch { configured, found });
    }
    let tis = Rc::new(RefCell::new(tis));
    // From here on, dropping the transport gives the locality up.
    let tpm = HardwareTpm::detect(TisTransport::new(Rc::clone(&tis)), options.tpm.clone())
        .map_err(AttachError::Client)?;
    if tpm.family() != found {
        // The client's own probe disagrees with the driver's: a TPM answering
        // inconsistently is not one to seal to.
        return Err(AttachError::FamilyMismatch { configured: found, found: tpm.family() });
    }
    Ok((tpm, tis))
}
