//! Ending the domain: SCHEDOP_shutdown (sched.h).
//!
//! The toolstack's request (`control/shutdown`, what `xl shutdown` writes) is watched
//! through the image's xenstore client, `xenbus::control`.

use crate::hypercall;
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
