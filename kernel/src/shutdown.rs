//! Ending the domain: SCHEDOP_shutdown, and the toolstack's `control/shutdown`
//! request (what `xl shutdown` writes; libxl_domain.c, Linux drivers/xen/manage.c).

use crate::error::XenResult;
use crate::event::{self, Port};
use crate::{hypercall, xenstore};
use core::fmt;
use xen_sys as xen;

/// How the domain ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Powered off (`xl shutdown`, `xl destroy` aside).
    Poweroff,
    /// Restart requested (`xl reboot`).
    Reboot,
    /// Crashed; `on_crash=` in the config decides what the toolstack does.
    Crash,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Poweroff => "poweroff",
            Self::Reboot => "reboot",
            Self::Crash => "crash",
        })
    }
}

/// Ends the domain.
pub fn shutdown(reason: Reason) -> ! {
    let code = match reason {
        Reason::Poweroff => xen::SHUTDOWN_poweroff,
        Reason::Reboot => xen::SHUTDOWN_reboot,
        Reason::Crash => xen::SHUTDOWN_crash,
    };
    loop {
        // Xen does not return from a successful shutdown; retry if it did.
        let _ = hypercall::shutdown(code);
        hypercall::yield_cpu();
    }
}

/// Ends the domain as crashed.
pub fn crash() -> ! {
    shutdown(Reason::Crash)
}

const CONTROL_NODE: &str = "control/shutdown";
const TOKEN: &str = "control-shutdown";

/// Watches `control/shutdown` for the toolstack's requests.
#[derive(Debug)]
pub struct ShutdownWatch {
    port: Port,
}

impl ShutdownWatch {
    /// Registers the watch and advertises what the domain understands
    /// (`control/feature-poweroff`, `-reboot`; Linux does the same).
    pub fn new() -> XenResult<Self> {
        let port = xenstore::port().ok_or(crate::error::XenError::NOSYS)?;
        xenstore::with(|store| {
            for feature in ["control/feature-poweroff", "control/feature-reboot"] {
                // The toolstack may not have created writable feature nodes; the
                // request itself still works without them.
                let _ = store.write(feature, "1");
            }
            store.watch(CONTROL_NODE, TOKEN)
        })?;
        Ok(Self { port })
    }

    /// The event channel to wait on.
    pub fn port(&self) -> Port {
        self.port
    }

    /// Handles pending watch events; returns a request if the toolstack made one. The
    /// request is acknowledged by clearing the node, as Linux does.
    pub fn check(&mut self) -> Option<Reason> {
        event::take_pending(self.port);
        let mut requested = None;
        while let Ok(Some(fired)) = xenstore::with(|store| store.next_event()) {
            if fired.token != TOKEN {
                continue;
            }
            let value = xenstore::with(|store| store.read(CONTROL_NODE)).unwrap_or_default();
            let reason = match value.as_str() {
                "" => continue,
                "poweroff" | "halt" => Reason::Poweroff,
                "reboot" => Reason::Reboot,
                other => {
                    crate::warn!("shutdown request '{other}' not supported, ignored");
                    let _ = xenstore::with(|store| store.write(CONTROL_NODE, ""));
                    continue;
                }
            };
            let _ = xenstore::with(|store| store.write(CONTROL_NODE, ""));
            requested = Some(reason);
        }
        requested
    }
}
