//! The toolstack's `control/shutdown` requests (what `xl shutdown` / `xl reboot`
//! write; Linux drivers/xen/manage.c acknowledges them the same way), over the bus.

use alloc::rc::Rc;
use xenbus::{Bus, Error, Platform, Store as _};

/// The node the toolstack writes.
const NODE: &str = "control/shutdown";
/// Our watch token on it.
pub const TOKEN: &str = "vtpmmgr:control-shutdown";

/// What the toolstack asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `xl shutdown` (`poweroff` or `halt`).
    Poweroff,
    /// `xl reboot`.
    Reboot,
}

/// A watch on `control/shutdown`.
#[derive(Debug)]
pub struct ShutdownWatch<P: Platform> {
    bus: Rc<Bus<P>>,
}

impl<P: Platform> ShutdownWatch<P> {
    /// Watches the node and advertises what the domain understands
    /// (`control/feature-poweroff`, `-reboot`).
    pub fn new(bus: Rc<Bus<P>>) -> Result<Self, Error> {
        {
            let mut store = bus.store();
            for feature in ["control/feature-poweroff", "control/feature-reboot"] {
                // The toolstack may not have made these writable; requests work anyway.
                let _ = store.write(feature, "1");
            }
            store.watch(NODE, TOKEN)?;
        }
        Ok(Self { bus })
    }

    /// The request, if the toolstack made one since the last call; acknowledged by
    /// clearing the node. Anything else written there is logged and cleared.
    pub fn check(&mut self) -> Option<Request> {
        let mut store = self.bus.store();
        let mut requested = None;
        while store.next_event(TOKEN).is_some() {
            let value = match store.try_read(NODE) {
                Ok(value) => value.unwrap_or_default(),
                Err(e) => {
                    kernel::warn!("cannot read {NODE}: {e}");
                    continue;
                }
            };
            let request = match value.as_str() {
                "" => continue,
                "poweroff" | "halt" => Request::Poweroff,
                "reboot" => Request::Reboot,
                other => {
                    kernel::warn!("shutdown request '{other}' not supported, ignored");
                    let _ = store.write(NODE, "");
                    continue;
                }
            };
            let _ = store.write(NODE, "");
            requested = Some(request);
        }
        requested
    }
}

impl<P: Platform> Drop for ShutdownWatch<P> {
    fn drop(&mut self) {
        if let Some(mut store) = self.bus.try_store() {
            // Gone with the domain anyway if this fails.
            let _ = store.unwatch(TOKEN);
        }
    }
}
