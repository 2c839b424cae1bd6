//! The running manager: the hardware TPM, the key store on the disk, and the vTPMs
//! served over tpmback, all driven by one event loop on the bus.
//!
//! [`start`] brings the pieces up in order — TPM (family checked against `tpm2=`), disk
//! (the domain's first `device/vbd`), key store (opened, or formatted if blank; never
//! silently reformatted) — and only then offers the backend, so no vTPM is ever answered
//! by a manager without its keys. [`Running::run_until`] then serves: each tpmback
//! event is one vTPM connecting, asking, or going away; every request is answered by
//! [`Manager::handle`] before the next is taken, and a store write is durable (and the
//! rollback counter incremented) before its answer is written.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use tpm_client::Family;
use tpm_tis::{Clock, Mmio, TisError};
use vtpm_proto::{MAX_MESSAGE, Uuid};
use xenbus::control::{Service, ShutdownRequest};
use xenbus::{Bus, Platform, Port};

use crate::disk::BlkDisk;
use crate::options::ManagerOptions;
use crate::service::{Caller, Manager};
use crate::start::{SharedTpm, StartError, StartOptions, Started, TpmCounter, TpmHardware};
use crate::tis::{self, AttachError, SharedTis, TisTransport};

/// Events handled before the shutdown node is looked at again (a busy vTPM cannot keep
/// `xl shutdown` waiting).
const EVENTS_PER_ROUND: usize = 64;
/// How long the disk may take to connect, and each transfer.
const DISK_TIMEOUT_NS: u64 = 30_000_000_000;

/// The manager's request handler, with its store on the disk and the hardware TPM.
pub type Handler<P, M, C> =
    Manager<BlkDisk<P>, TpmCounter<TisTransport<M, C>>, TpmHardware<TisTransport<M, C>>>;

/// Why the manager could not start. Each says what to do about it.
#[derive(Debug)]
pub enum StartupError {
    /// The hardware TPM.
    Tpm(AttachError),
    /// The domain has no disk.
    NoDisk,
    /// The disk could not be connected.
    Disk(blkfront::Error),
    /// The backend marked the disk read-only.
    ReadOnlyDisk,
    /// The key store (see [`StartError`]).
    Store(StartError<TisError>),
    /// xenstore refused the backend's watch.
    Xenbus(xenbus::Error),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tpm(e) => write!(f, "hardware TPM: {e}"),
            Self::NoDisk => f.write_str(
                "no disk: the manager keeps its key store on its first disk \
                 (disk=[\"file:/var/lib/xen/vtpmmgr.img,hda,w\"]; see docs/manager.md)",
            ),
            Self::Disk(e) => write!(f, "disk: {e}"),
            Self::ReadOnlyDisk => f.write_str("the disk is read-only: give it with ,w"),
            Self::Store(e) => write!(f, "{e}"),
            Self::Xenbus(e) => write!(f, "xenstore: {e}"),
        }
    }
}

/// The manager, serving.
pub struct Running<P: Platform, M: Mmio, C: Clock> {
    backend: tpmback::Tpmback<P>,
    service: Handler<P, M, C>,
    /// The TIS driver, to give the locality up when stopping.
    tis: SharedTis<M, C>,
    family: Family,
    /// The last `poll` stopped with events perhaps left.
    more: bool,
    out: Box<[u8; MAX_MESSAGE]>,
}

impl<P: Platform, M: Mmio, C: Clock> fmt::Debug for Running<P, M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("backend", &self.backend)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

/// Brings the manager up (module docs): TPM, disk, key store, then the backend.
pub fn start<P: Platform, M: Mmio, C: Clock>(
    bus: &Rc<Bus<P>>,
    mmio: M,
    clock: C,
    options: &ManagerOptions,
) -> Result<Running<P, M, C>, StartupError> {
    let (tpm, tis) = tis::attach(mmio, clock, options).map_err(StartupError::Tpm)?;
    let family = tpm.family();
    let tpm: SharedTpm<TisTransport<M, C>> = Rc::new(RefCell::new(tpm));

    let node = blkfront::discover(bus)
        .map_err(StartupError::Disk)?
        .into_iter()
        .next()
        .ok_or(StartupError::NoDisk)?;
    let config = blkfront::Config { timeout_ns: DISK_TIMEOUT_NS, ..blkfront::Config::default() };
    let frontend =
        blkfront::Blkfront::open(Rc::clone(bus), &node, config).map_err(StartupError::Disk)?;
    let info = frontend.info().ok_or(StartupError::Disk(blkfront::Error::Disconnected))?;
    if info.read_only() {
        return Err(StartupError::ReadOnlyDisk);
    }
    let disk = BlkDisk::new(frontend, info);
    kernel::info!(
        "disk {node}: {} sectors of 512 bytes, block {} bytes, flush {:?}; key store {} KiB",
        info.sectors,
        info.sector_size,
        info.flush,
        disk.size_bytes() / 1024
    );

    let start_options = StartOptions {
        pcrs: options.tpm.seal_pcrs,
        reformat: options.reformat,
        rebind_counter: options.rebind_counter,
    };
    let (store, started) =
        crate::start::open_store(disk, &tpm, start_options).map_err(StartupError::Store)?;
    match started {
        Started::Formatted => kernel::info!(
            "key store formatted; root secret sealed to PCRs {} of the {}",
            options.tpm.seal_pcrs,
            tis::family_name(family)
        ),
        Started::Opened { resealed } => kernel::info!(
            "key store opened: {} vTPM{}{}",
            store.len(),
            if store.len() == 1 { "" } else { "s" },
            if resealed { "; root secret re-sealed to the new PCR selection" } else { "" }
        ),
    }
    let service = Manager::new(store, TpmHardware(tpm));
    let backend =
        tpmback::Tpmback::new(Rc::clone(bus), tpmback::Config::default()).map_err(|e| match e {
            tpmback::Error::Xenbus(e) => StartupError::Xenbus(e),
            _ => StartupError::Xenbus(xenbus::Error::BadValue),
        })?;
    kernel::info!("serving vTPMs");
    Ok(Running { backend, service, tis, family, more: false, out: Box::new([0u8; MAX_MESSAGE]) })
}

impl<P: Platform, M: Mmio, C: Clock> Running<P, M, C> {
    /// The hardware TPM's family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The request handler (and through it the key store).
    pub fn service(&mut self) -> &mut Handler<P, M, C> {
        &mut self.service
    }

    /// The backend.
    pub fn backend(&self) -> &tpmback::Tpmback<P> {
        &self.backend
    }

    fn handle(&mut self, event: tpmback::Event) {
        match event {
            tpmback::Event::Opened(info) => {
                kernel::info!(
                    "vTPM {} connected (domain {}, handle {})",
                    info.uuid,
                    info.id.domain,
                    info.id.handle
                );
            }
            tpmback::Event::Request(request) => {
                let caller = Caller {
                    domid: request.frontend.domain.0,
                    handle: request.frontend.handle,
                    uuid: Uuid(request.uuid.0),
                };
                let len = self.service.handle(&caller, &request.command, &mut self.out);
                let answer = self.out.get(..len).unwrap_or_default();
                // A frontend gone meanwhile is logged by tpmback; nothing to undo.
                let _ = self.backend.respond(request.reply_to(), answer);
            }
            tpmback::Event::Closed(id) => {
                kernel::info!("vTPM {}/{} disconnected", id.domain, id.handle);
                self.service.disconnected(id.domain.0, id.handle);
            }
        }
    }
}

/// The image's idle loop (`xenbus::control::serve`) drives the manager through this.
impl<P: Platform, M: Mmio, C: Clock> Service for Running<P, M, C> {
    /// Handles what tpmback has for us: vTPMs connecting, their requests (each
    /// answered before the next is taken), vTPMs going away. At most 64 events per
    /// call: the loop looks at `control/shutdown` in between, so a busy vTPM cannot
    /// hold `xl shutdown` up; [`deadline_ns`](Service::deadline_ns) then asks for the
    /// next call at once.
    fn poll(&mut self) {
        self.more = true;
        for _ in 0..EVENTS_PER_ROUND {
            let Some(event) = self.backend.poll() else {
                self.more = false;
                return;
            };
            self.handle(event);
        }
    }

    fn ports(&self) -> Vec<Port> {
        self.backend.ports()
    }

    /// tpmback's watches (its device directory, the frontends' states). The disk's
    /// watch is followed when the disk is used (blkfront reconnects on demand), so its
    /// events do not wake the loop.
    fn watches(&self) -> Vec<String> {
        alloc::vec![String::from(tpmback::WATCH_PREFIX)]
    }

    fn deadline_ns(&self) -> Option<u64> {
        self.more.then_some(0)
    }

    fn stop(&mut self, request: ShutdownRequest) {
        // Every answered SAVEHASHKEY is on disk already; nothing is in flight between
        // two calls of `poll`.
        kernel::info!("stopping ({request}): {} vTPMs stored", self.service.store().len());
        // The next manager, perhaps at another locality, must be able to get the TPM.
        if let Ok(mut tis) = self.tis.try_borrow_mut() {
            tis.relinquish_locality();
        }
    }
}
