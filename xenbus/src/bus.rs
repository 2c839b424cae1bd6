//! The bus as drivers see it: the platform, the xenstore client and the grant table.

use crate::Error;
use crate::grant::{GrantTable, GrantedPage};
use crate::platform::{DomainId, Platform, Port};
use crate::store::{self, Xenstore};
use alloc::rc::Rc;
use core::cell::{RefCell, RefMut};
use core::fmt;

/// This domain's connection to Xen's split-driver machinery, shared by every driver
/// of the image (hold it in an `Rc`).
pub struct Bus<P: Platform> {
    platform: P,
    store: RefCell<Xenstore<P>>,
    grants: Rc<GrantTable<P>>,
}

impl<P: Platform> fmt::Debug for Bus<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus").field("grants", &self.grants).finish_non_exhaustive()
    }
}

impl<P: Platform> Bus<P> {
    /// Wires the bus from what the runtime set up at boot: the xenstore ring and its
    /// event channel (start_info `store_mfn`/`store_evtchn`) and our grant table's
    /// frames (GNTTABOP_setup_table).
    pub fn new(
        platform: P,
        store_ring: P::Shared,
        store_port: Port,
        grant_table: P::Shared,
    ) -> Self {
        let store = Xenstore::new(platform.clone(), store_ring, store_port);
        let grants = Rc::new(GrantTable::new(platform.clone(), grant_table));
        Self { platform, store: RefCell::new(store), grants }
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The xenstore client. Hold the guard for one operation (or one transaction);
    /// taking it again while it is held is a programming error and panics.
    pub fn store(&self) -> RefMut<'_, Xenstore<P>> {
        self.store.borrow_mut()
    }

    /// The xenstore client, unless it is in use (for drop handlers, which must not
    /// panic).
    pub fn try_store(&self) -> Option<RefMut<'_, Xenstore<P>>> {
        self.store.try_borrow_mut().ok()
    }

    /// The grant table.
    pub fn grants(&self) -> &Rc<GrantTable<P>> {
        &self.grants
    }

    /// Allocates a zeroed page and grants it to `domain`.
    pub fn share_page(&self, domain: DomainId, readonly: bool) -> Result<GrantedPage<P>, Error> {
        GrantedPage::new(&self.grants, domain, readonly)
    }

    /// Xen system time in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.platform.now_ns()
    }

    /// The time `ns` nanoseconds from now.
    pub fn deadline_after(&self, ns: u64) -> u64 {
        self.now_ns().saturating_add(ns)
    }

    /// Sleeps until one of `ports` is pending, a watch whose token starts with one
    /// of `watches` has events queued, or `deadline_ns` passes; true unless the
    /// deadline passed.
    ///
    /// xenstore traffic for other watches wakes the domain but not the caller: it is
    /// taken off the ring and queued, and the wait goes on. The image's idle loop,
    /// which serves every driver, passes `&[""]` (any watch). Events a request took in
    /// earlier are never slept through, as the queues are checked first.
    pub fn wait(&self, ports: &[Port], watches: &[&str], deadline_ns: u64) -> bool {
        let store_port = self.store.borrow().port();
        loop {
            {
                let mut store = self.store.borrow_mut();
                // A broken connection shows up on the next request; waiting goes on.
                let _ = store.pump();
                if watches.iter().any(|prefix| store.has_events_with_prefix(prefix)) {
                    return true;
                }
            }
            if !store::wait_including(&self.platform, store_port, ports, deadline_ns) {
                return false;
            }
            // Only xenstore woke us: its bytes are pumped at the top of the loop.
            // Otherwise (also) one of the caller's ports is pending: a deadline in the
            // past makes `wait` a non-blocking check.
            if !self.platform.take_pending(store_port) || self.platform.wait(ports, 0) {
                return true;
            }
        }
    }
}
