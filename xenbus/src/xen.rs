//! The platform traits on real Xen, over the `kernel` runtime (feature `xen`).
//!
//! Everything that needs `unsafe` (hypercalls, mappings, volatile accesses) is in
//! `kernel`; this module only adapts its safe API to the traits in
//! [`platform`](crate::platform):
//!
//! | trait | kernel |
//! |---|---|
//! | [`PeerMemory`] (`Shared`) | `kernel::shmem::SharedMem`: the xenstore ring, our grant table |
//! | [`OwnPage`] (`Page`) | `kernel::mm::SharedPage`: a zeroed heap page, frame = its mfn |
//! | [`PeerMemory`] (`Mapping`) | `kernel::grant::ForeignPage`: GNTTABOP_map_grant_ref, unmapped on drop |
//! | [`EventChannels`] | `kernel::event` (EVTCHNOP_*, SCHEDOP_poll on any number of ports) |
//! | [`Clock`] | `kernel::time::now_ns` |
//! | [`Log`] | `kernel::log` (the PV console) |
//!
//! An image builds its one [`Bus`] with [`bus`] (or [`bus_or_crash`]) from the
//! [`kernel::Boot`] it is given: the xenstore ring moves from the boot record into the
//! bus's client, which is then the only user of the ring. It then serves with [`run`]:
//!
//! ```ignore
//! fn main(mut boot: kernel::Boot) -> ! {
//!     boot.banner();
//!     let bus = xenbus::xen::bus_or_crash(&mut boot);
//!     let mut service = MyService::new(Rc::clone(&bus))?;   // impl control::Service
//!     xenbus::xen::run(&bus, &mut service)                  // returns never
//! }
//! ```

use crate::Bus;
use crate::control::{self, Service, ShutdownRequest};
use crate::platform::{
    Clock, DomainId, EventChannels, GrantRef, Level, Log, OutOfBounds, OwnPage, PeerMemory,
    Platform, PlatformError, Port,
};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::fmt;
use kernel::grant::ForeignPage;
use kernel::mm::SharedPage;
use kernel::shmem::SharedMem;

/// The running domain as a [`Platform`]: a unit handle, free to clone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenPlatform;

/// The bus of an image on real Xen.
pub type XenBus = Bus<XenPlatform>;

/// Why [`bus`] could not build the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// Xen gave the domain no xenstore ring, or it was already taken.
    NoStore,
    /// GNTTABOP_setup_table (or mapping its frames) failed.
    GrantTable(PlatformError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoStore => f.write_str("no xenstore ring"),
            Self::GrantTable(e) => write!(f, "grant table setup failed: {e}"),
        }
    }
}

/// Builds the image's bus: takes the xenstore ring out of `boot` and sets up our
/// grant table. Call once, early in `main`; clone the `Rc` into every driver.
pub fn bus(boot: &mut kernel::Boot) -> Result<Rc<XenBus>, SetupError> {
    let store = boot.take_store().ok_or(SetupError::NoStore)?;
    let table = kernel::grant::setup_table().map_err(|e| SetupError::GrantTable(xen_error(e)))?;
    Ok(Rc::new(Bus::new(XenPlatform, store.ring, Port(store.port.0), table)))
}

fn xen_error(error: kernel::XenError) -> PlatformError {
    PlatformError(error.0)
}

fn bounds<T>(result: Result<T, kernel::shmem::OutOfBounds>) -> Result<T, OutOfBounds> {
    result.map_err(|_| OutOfBounds)
}

impl PeerMemory for SharedMem {
    fn len(&self) -> usize {
        SharedMem::len(self)
    }

    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), OutOfBounds> {
        bounds(SharedMem::read(self, offset, out))
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result<(), OutOfBounds> {
        bounds(SharedMem::write(self, offset, data))
    }

    fn read_u32(&self, offset: usize) -> Result<u32, OutOfBounds> {
        bounds(SharedMem::read_u32(self, offset))
    }

    fn write_u32(&self, offset: usize, value: u32) -> Result<(), OutOfBounds> {
        bounds(SharedMem::write_u32(self, offset, value))
    }

    fn compare_exchange_u16(
        &self,
        offset: usize,
        current: u16,
        new: u16,
    ) -> Result<Result<u16, u16>, OutOfBounds> {
        bounds(SharedMem::compare_exchange_u16(self, offset, current, new))
    }
}

impl PeerMemory for SharedPage {
    fn len(&self) -> usize {
        self.memory().len()
    }

    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), OutOfBounds> {
        PeerMemory::read(self.memory(), offset, out)
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result<(), OutOfBounds> {
        PeerMemory::write(self.memory(), offset, data)
    }

    fn read_u32(&self, offset: usize) -> Result<u32, OutOfBounds> {
        PeerMemory::read_u32(self.memory(), offset)
    }

    fn write_u32(&self, offset: usize, value: u32) -> Result<(), OutOfBounds> {
        PeerMemory::write_u32(self.memory(), offset, value)
    }

    fn compare_exchange_u16(
        &self,
        offset: usize,
        current: u16,
        new: u16,
    ) -> Result<Result<u16, u16>, OutOfBounds> {
        PeerMemory::compare_exchange_u16(self.memory(), offset, current, new)
    }
}

impl OwnPage for SharedPage {
    fn frame(&self) -> u64 {
        self.mfn()
    }

    fn leak(self) {
        SharedPage::leak(self);
    }
}

impl PeerMemory for ForeignPage {
    fn len(&self) -> usize {
        self.memory().len()
    }

    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), OutOfBounds> {
        PeerMemory::read(self.memory(), offset, out)
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result<(), OutOfBounds> {
        PeerMemory::write(self.memory(), offset, data)
    }

    fn read_u32(&self, offset: usize) -> Result<u32, OutOfBounds> {
        PeerMemory::read_u32(self.memory(), offset)
    }

    fn write_u32(&self, offset: usize, value: u32) -> Result<(), OutOfBounds> {
        PeerMemory::write_u32(self.memory(), offset, value)
    }

    fn compare_exchange_u16(
        &self,
        offset: usize,
        current: u16,
        new: u16,
    ) -> Result<Result<u16, u16>, OutOfBounds> {
        PeerMemory::compare_exchange_u16(self.memory(), offset, current, new)
    }
}

fn kernel_port(port: Port) -> kernel::event::Port {
    kernel::event::Port(port.0)
}

impl EventChannels for XenPlatform {
    fn alloc_unbound(&self, remote: DomainId) -> Result<Port, PlatformError> {
        kernel::event::alloc_unbound(remote.0).map(|p| Port(p.0)).map_err(xen_error)
    }

    fn bind_interdomain(&self, remote: DomainId, remote_port: u32) -> Result<Port, PlatformError> {
        kernel::event::bind_interdomain(remote.0, remote_port).map(|p| Port(p.0)).map_err(xen_error)
    }

    fn notify(&self, port: Port) {
        kernel::event::notify(kernel_port(port));
    }

    fn close(&self, port: Port) {
        kernel::event::close(kernel_port(port));
    }

    fn take_pending(&self, port: Port) -> bool {
        kernel::event::take_pending(kernel_port(port))
    }

    fn wait(&self, ports: &[Port], deadline_ns: u64) -> bool {
        let ports: Vec<kernel::event::Port> = ports.iter().copied().map(kernel_port).collect();
        kernel::event::wait_until(&ports, deadline_ns)
    }
}

impl Clock for XenPlatform {
    fn now_ns(&self) -> u64 {
        kernel::time::now_ns()
    }
}

impl Log for XenPlatform {
    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        let level = match level {
            Level::Error => kernel::log::Level::Error,
            Level::Warn => kernel::log::Level::Warn,
            Level::Info => kernel::log::Level::Info,
            Level::Debug => kernel::log::Level::Debug,
        };
        kernel::log::log(level, args);
    }
}

impl Platform for XenPlatform {
    type Shared = SharedMem;
    type Page = SharedPage;
    type Mapping = ForeignPage;

    fn alloc_page(&self) -> Result<SharedPage, PlatformError> {
        // ENOMEM (xen/errno.h): the heap has no page left.
        SharedPage::new().ok_or(PlatformError(12))
    }

    fn map_grant(
        &self,
        domain: DomainId,
        reference: GrantRef,
        writable: bool,
    ) -> Result<ForeignPage, PlatformError> {
        ForeignPage::map(domain.0, reference.0, writable).map_err(xen_error)
    }
}

/// The kernel's shutdown reason for the toolstack's request.
pub fn shutdown_reason(request: ShutdownRequest) -> kernel::shutdown::Reason {
    match request {
        ShutdownRequest::Poweroff => kernel::shutdown::Reason::Poweroff,
        ShutdownRequest::Reboot => kernel::shutdown::Reason::Reboot,
    }
}

/// The image's main loop: serves `service` until the toolstack asks the domain to
/// stop ([`control::serve`]), then ends the domain as asked. If the
/// `control/shutdown` watch cannot be set up, the domain crashes with the reason
/// logged (without it `xl shutdown` could never reach the domain).
pub fn run(bus: &Rc<XenBus>, service: &mut impl Service) -> ! {
    match control::serve(bus, service) {
        Ok(request) => kernel::shutdown::shutdown(shutdown_reason(request)),
        Err(e) => {
            kernel::error!("cannot watch {}: {e}", control::SHUTDOWN_NODE);
            kernel::shutdown::crash()
        }
    }
}

/// [`bus`], or a crash of the domain with the reason logged: an image without
/// xenstore can neither serve nor hear `xl shutdown`.
pub fn bus_or_crash(boot: &mut kernel::Boot) -> Rc<XenBus> {
    bus(boot).unwrap_or_else(|e| {
        kernel::error!("cannot set up the bus: {e}");
        kernel::shutdown::crash()
    })
}
