//! An event channel that closes itself when dropped.

use crate::platform::{DomainId, EventChannels, PlatformError, Port};
use core::fmt;

/// A local event-channel port connected (or offered) to another domain; closed on drop.
pub struct EventChannel<P: EventChannels> {
    platform: P,
    port: Port,
}

impl<P: EventChannels> fmt::Debug for EventChannel<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventChannel").field("port", &self.port).finish()
    }
}

impl<P: EventChannels> EventChannel<P> {
    /// EVTCHNOP_alloc_unbound: a port `remote` can bind to (frontends publish it as
    /// `event-channel`).
    pub fn alloc_unbound(platform: P, remote: DomainId) -> Result<Self, PlatformError> {
        let port = platform.alloc_unbound(remote)?;
        Ok(Self { platform, port })
    }

    /// EVTCHNOP_bind_interdomain: connects to the port `remote` published.
    pub fn bind(platform: P, remote: DomainId, remote_port: u32) -> Result<Self, PlatformError> {
        let port = platform.bind_interdomain(remote, remote_port)?;
        Ok(Self { platform, port })
    }

    /// The local port (to wait on).
    pub fn port(&self) -> Port {
        self.port
    }

    /// Raises an event at the other end.
    pub fn notify(&self) {
        self.platform.notify(self.port);
    }

    /// Clears our pending bit; true if it was set.
    pub fn take_pending(&self) -> bool {
        self.platform.take_pending(self.port)
    }
}

impl<P: EventChannels> Drop for EventChannel<P> {
    fn drop(&mut self) {
        self.platform.close(self.port);
    }
}
