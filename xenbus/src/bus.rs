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

    /// Sleeps until one of `ports` or the xenstore port is pending, xenstore watch
    /// events are queued, or `deadline_ns` passes. True unless the deadline passed.
    /// The image's idle loop and every blocking driver call wait through this, so
    /// that watch events a request took in are never slept through.
    pub fn wait(&self, ports: &[Port], deadline_ns: u64) -> bool {
        let store_port = {
            let store = self.store.borrow();
            if store.has_events() {
                return true;
            }
            store.port()
        };
        store::wait_including(&self.platform, store_port, ports, deadline_ns)
    }
}
