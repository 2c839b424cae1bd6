//! The toolstack's requests to the domain (`control/shutdown`) and the image's idle
//! loop ([`serve`]), which waits for them alongside the image's own drivers.
//!
//! `xl shutdown` / `xl reboot` write `poweroff` / `reboot` into the domain's
//! `control/shutdown` node (libxl_domain.c); a PV guest acknowledges by clearing the
//! node and then shuts down (Linux drivers/xen/manage.c does the same). Before the
//! request is seen the domain advertises `control/feature-poweroff` and
//! `control/feature-reboot`.

use crate::platform::{Platform, Port};
use crate::store::Store;
use crate::{Bus, Error};
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The node the toolstack writes its request into (relative to our home).
pub const SHUTDOWN_NODE: &str = "control/shutdown";
/// The watch token of [`ShutdownWatch`]; a prefix of no driver's tokens.
pub const WATCH_TOKEN: &str = "control/shutdown";
/// How long [`serve`] sleeps at most when the service names no deadline: a safety
/// net (an event is never expected to be missed), not a timer.
pub const IDLE_WAKE_NS: u64 = 10_000_000_000;

/// What the toolstack asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownRequest {
    /// `poweroff` or `halt` (`xl shutdown`).
    Poweroff,
    /// `reboot` (`xl reboot`).
    Reboot,
}

impl fmt::Display for ShutdownRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Poweroff => "poweroff",
            Self::Reboot => "reboot",
        })
    }
}

/// A watch on `control/shutdown`.
pub struct ShutdownWatch<P: Platform> {
    bus: Rc<Bus<P>>,
}

impl<P: Platform> fmt::Debug for ShutdownWatch<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownWatch").finish_non_exhaustive()
    }
}

impl<P: Platform> ShutdownWatch<P> {
    /// Advertises the requests the domain understands and watches the node.
    pub fn new(bus: Rc<Bus<P>>) -> Result<Self, Error> {
        {
            let mut store = bus.store();
            for feature in ["control/feature-poweroff", "control/feature-reboot"] {
                // The toolstack may not have made the feature nodes writable for us;
                // requests still arrive without them.
                let _ = store.write(feature, "1");
            }
            store.watch(SHUTDOWN_NODE, WATCH_TOKEN)?;
        }
        Ok(Self { bus })
    }

    /// Takes the watch's events and returns the toolstack's request, if it made one
    /// (acknowledged by clearing the node). Never waits except for the xenstore
    /// requests themselves. An unsupported request (`suspend`, anything else) is
    /// logged, cleared and ignored.
    pub fn check(&mut self) -> Option<ShutdownRequest> {
        let mut fired = false;
        while self.bus.store().next_event(WATCH_TOKEN).is_some() {
            fired = true;
        }
        if !fired {
            return None;
        }
        let value = match self.bus.store().try_read(SHUTDOWN_NODE) {
            Ok(value) => value.unwrap_or_default(),
            Err(e) => {
                crate::log!(self.bus.platform(), Warn, "cannot read {SHUTDOWN_NODE}: {e}");
                return None;
            }
        };
        let request = match value.as_str() {
            "" => return None,
            "poweroff" | "halt" => Some(ShutdownRequest::Poweroff),
            "reboot" => Some(ShutdownRequest::Reboot),
            other => {
                crate::log!(
                    self.bus.platform(),
                    Warn,
                    "shutdown request '{}' not supported, ignored",
                    other.escape_debug()
                );
                None
            }
        };
        if let Err(e) = self.bus.store().write(SHUTDOWN_NODE, "") {
            crate::log!(self.bus.platform(), Warn, "cannot acknowledge {SHUTDOWN_NODE}: {e}");
        }
        request
    }
}

impl<P: Platform> Drop for ShutdownWatch<P> {
    fn drop(&mut self) {
        if let Some(mut store) = self.bus.try_store() {
            let _ = store.unwatch(WATCH_TOKEN);
        }
    }
}

/// What an image serves between boot and shutdown, driven by [`serve`].
///
/// The service owns its drivers (each holding a clone of the bus). [`serve`] calls
/// [`poll`](Self::poll) after every wake-up, then sleeps until one of
/// [`ports`](Self::ports) is pending, a watch whose token starts with one of
/// [`watches`](Self::watches) has events, the toolstack writes `control/shutdown`,
/// or [`deadline_ns`](Self::deadline_ns) passes.
pub trait Service {
    /// Does all the work that is ready (every driver's `poll()` until it has nothing
    /// more), without waiting beyond the bounded waits of a driver call.
    fn poll(&mut self);

    /// The event channels whose events [`poll`](Self::poll) handles (e.g.
    /// `tpmback::Tpmback::ports`). `poll` must take their pending bits (the drivers'
    /// `poll()` do): a bit left set wakes the loop again at once.
    fn ports(&self) -> Vec<Port>;

    /// Prefixes of the watch tokens whose events [`poll`](Self::poll) takes (the
    /// drivers' `WATCH_PREFIX` constants). Events of other watches (a driver used only
    /// on demand) are queued without waking the loop.
    fn watches(&self) -> Vec<String>;

    /// The Xen system time at which [`poll`](Self::poll) wants to run again at the
    /// latest (a timer), if any.
    fn deadline_ns(&self) -> Option<u64> {
        None
    }

    /// The toolstack asked the domain to stop: finish or refuse what is in flight
    /// and close connections. The domain ends after this returns.
    fn stop(&mut self, request: ShutdownRequest) {
        let _ = request;
    }
}

/// The image's idle loop: serves `service` until the toolstack asks the domain to
/// stop, then calls [`Service::stop`] and returns the request (the image then ends
/// the domain, `kernel::shutdown::shutdown`). Fails only if the `control/shutdown`
/// watch cannot be set up.
pub fn serve<P: Platform>(
    bus: &Rc<Bus<P>>,
    service: &mut impl Service,
) -> Result<ShutdownRequest, Error> {
    let mut control = ShutdownWatch::new(Rc::clone(bus))?;
    loop {
        if let Some(request) = control.check() {
            crate::log!(bus.platform(), Info, "shutdown requested: {request}");
            service.stop(request);
            return Ok(request);
        }
        service.poll();
        let ports = service.ports();
        let mut watches = service.watches();
        watches.push(String::from(WATCH_TOKEN));
        let prefixes: Vec<&str> = watches.iter().map(String::as_str).collect();
        let idle = bus.deadline_after(IDLE_WAKE_NS);
        let deadline = service.deadline_ns().map_or(idle, |d| d.min(idle));
        bus.wait(&ports, &prefixes, deadline);
    }
}
