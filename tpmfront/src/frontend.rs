//! The frontend: handshake, reconnection, requests with deadlines.

use crate::Error;
use crate::page::{self, Status};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use xenbus::abi::tpmif::FEATURE_PROTOCOL_V2;
use xenbus::{
    Bus, DomainId, EventChannel, FrontendHandshake, GrantedPage, Platform, Port, Publish, Store,
    XenbusState,
};

/// The device node Mini-OS's tpmfront opens by default (vtpm-stubdom's link to the
/// manager).
pub const DEFAULT_NODE: &str = "device/vtpm/0";
/// The common prefix of every watch token a [`Tpmfront`] sets: the idle loop wakes for
/// it (`xenbus::control::Service::watches`).
pub const WATCH_PREFIX: &str = "tpmfront:";

/// Handshake steps applied per evaluation (each `connect` is followed by at most one
/// more; four covers set-up plus backend check with room to spare).
const MAX_STEPS: usize = 4;

struct Backend {
    id: DomainId,
    path: String,
}

struct Connection<P: Platform> {
    page: GrantedPage<P>,
    channel: EventChannel<P>,
}

/// One request/response channel to a tpmif backend.
pub struct Tpmfront<P: Platform> {
    bus: Rc<Bus<P>>,
    node: String,
    token: String,
    handshake: FrontendHandshake,
    backend: Backend,
    watched: Option<String>,
    connection: Option<Connection<P>>,
    /// A request was submitted on the current connection and not yet answered.
    in_flight: bool,
    /// The connection a request was in flight on went away.
    lost: bool,
    /// A request was cancelled; the next one waits until the backend is done with it.
    cancelled: bool,
    /// Why the last connection attempt failed.
    failure: Option<Error>,
}

impl<P: Platform> fmt::Debug for Tpmfront<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tpmfront")
            .field("node", &self.node)
            .field("state", &self.handshake.state())
            .field("connected", &self.handshake.is_connected())
            .finish_non_exhaustive()
    }
}

impl<P: Platform> Tpmfront<P> {
    /// Opens the device at `node` (relative to our home, e.g. [`DEFAULT_NODE`]): reads
    /// its backend and starts watching the backend's state. Does not wait; call
    /// [`connect`](Self::connect) or [`transact`](Self::transact).
    pub fn new(bus: Rc<Bus<P>>, node: &str) -> Result<Self, Error> {
        let backend = read_backend(&bus, node)?;
        let mut front = Self {
            bus,
            node: node.to_string(),
            token: format!("{WATCH_PREFIX}{node}"),
            handshake: FrontendHandshake::new(Publish::Connected),
            backend,
            watched: None,
            connection: None,
            in_flight: false,
            lost: false,
            cancelled: false,
            failure: None,
        };
        front.watch_backend()?;
        Ok(front)
    }

    /// The bus this frontend lives on.
    pub fn bus(&self) -> Rc<Bus<P>> {
        Rc::clone(&self.bus)
    }

    /// True once the backend is connected and accepted.
    pub fn is_connected(&self) -> bool {
        self.handshake.is_connected() && self.connection.is_some()
    }

    /// The ports to wait on besides the xenstore port.
    pub fn ports(&self) -> Vec<Port> {
        self.connection.iter().map(|c| c.channel.port()).collect()
    }

    /// Follows the backend's state changes (set up, check, tear down). Never waits
    /// except for xenstore requests.
    pub fn poll(&mut self) {
        let mut changed = false;
        loop {
            let event = self.bus.store().next_event(&self.token);
            if event.is_none() {
                break;
            }
            changed = true;
        }
        if changed || !self.handshake.is_connected() {
            self.evaluate();
        }
    }

    /// Drives the handshake until connected or `deadline_ns`.
    pub fn connect(&mut self, deadline_ns: u64) -> Result<(), Error> {
        self.failure = None;
        loop {
            self.poll();
            if self.is_connected() {
                return Ok(());
            }
            if let Some(failure) = self.failure {
                return Err(failure);
            }
            if !self.bus.wait(&self.ports(), &[&self.token], deadline_ns) {
                return Err(Error::Timeout);
            }
        }
    }

    /// Sends `command` at `locality` and waits for the response until `deadline_ns`,
    /// (re)connecting first if needed. On timeout the request is cancelled (CANCEL +
    /// notify, as Linux does) and the next call first waits for the backend to
    /// finish with it.
    pub fn transact(
        &mut self,
        command: &[u8],
        locality: u8,
        deadline_ns: u64,
    ) -> Result<Vec<u8>, Error> {
        if command.is_empty() || command.len() > xenbus::abi::tpmif::MAX_PACKET {
            return Err(Error::CommandSize(command.len()));
        }
        self.connect(deadline_ns)?;
        loop {
            match self.start(command, locality) {
                Ok(()) => break,
                // A cancelled request the backend is still working on.
                Err(Error::Busy) if self.cancelled && !self.in_flight => {
                    if !self.bus.wait(&self.ports(), &[&self.token], deadline_ns) {
                        return Err(Error::Timeout);
                    }
                    self.poll();
                }
                Err(e) => return Err(e),
            }
        }
        loop {
            if let Some(response) = self.poll_response()? {
                return Ok(response);
            }
            if !self.bus.wait(&self.ports(), &[&self.token], deadline_ns) {
                self.cancel();
                xenbus::log!(
                    self.bus.platform(),
                    Warn,
                    "tpmfront: {}: request timed out",
                    self.node
                );
                return Err(Error::Timeout);
            }
        }
    }

    /// Submits a request without waiting (see [`poll_response`](Self::poll_response)).
    pub fn start(&mut self, command: &[u8], locality: u8) -> Result<(), Error> {
        if self.in_flight {
            return Err(Error::Busy);
        }
        let connection = self.connection.as_ref().filter(|_| self.handshake.is_connected());
        let Some(connection) = connection else {
            return Err(Error::Disconnected);
        };
        if self.cancelled {
            // specs §1.3 step 1: wait until the backend is done with the cancelled
            // request (IDLE or FINISH).
            match page::read_status(connection.page.memory()) {
                Ok(Status::Pending) => return Err(Error::Busy),
                _ => self.cancelled = false,
            }
        }
        page::write_request(connection.page.memory(), command, locality)?;
        connection.channel.notify();
        self.in_flight = true;
        self.lost = false;
        Ok(())
    }

    /// The response to the request in flight, if it arrived. Never waits.
    pub fn poll_response(&mut self) -> Result<Option<Vec<u8>>, Error> {
        self.poll();
        if core::mem::take(&mut self.lost) {
            return Err(Error::Disconnected);
        }
        if !self.in_flight {
            return Err(Error::Disconnected);
        }
        let Some(connection) = self.connection.as_ref() else {
            self.in_flight = false;
            return Err(Error::Disconnected);
        };
        connection.channel.take_pending();
        match page::read_status(connection.page.memory()) {
            Ok(Status::Pending) => Ok(None),
            Ok(Status::Finished(response)) => {
                self.in_flight = false;
                Ok(Some(response))
            }
            Ok(Status::Idle) => {
                self.in_flight = false;
                Err(Error::Cancelled)
            }
            Err(e) => {
                self.in_flight = false;
                xenbus::log!(self.bus.platform(), Warn, "tpmfront: {}: {e}", self.node);
                Err(e)
            }
        }
    }

    /// Cancels the request in flight (CANCEL + notify).
    pub fn cancel(&mut self) {
        if !core::mem::take(&mut self.in_flight) {
            return;
        }
        if let Some(connection) = self.connection.as_ref() {
            let _ = page::write_cancel(connection.page.memory());
            connection.channel.notify();
            self.cancelled = true;
        }
    }

    /// Orderly close (Closing, then Closed once the backend follows), until
    /// `deadline_ns`.
    pub fn close(&mut self, deadline_ns: u64) -> Result<(), Error> {
        let step = self.handshake.close();
        if let Some(state) = step.switch {
            self.publish_state(state);
        }
        loop {
            self.evaluate();
            if self.handshake.state() == XenbusState::Closed {
                return Ok(());
            }
            if !self.bus.wait(&[], &[&self.token], deadline_ns) {
                return Err(Error::Timeout);
            }
            let _ = self.bus.store().next_event(&self.token);
        }
    }

    // ---- Handshake ----

    fn backend_state(&self) -> XenbusState {
        match self.bus.store().try_read(&format!("{}/state", self.backend.path)) {
            Ok(Some(value)) => XenbusState::parse(&value),
            _ => XenbusState::Unknown,
        }
    }

    fn evaluate(&mut self) {
        let backend_state = self.backend_state();
        let mut step = self.handshake.observe(backend_state);
        for _ in 0..MAX_STEPS {
            if step.disconnect {
                self.teardown();
            }
            if let Some(state) = step.switch {
                self.publish_state(state);
            }
            if !step.connect {
                break;
            }
            let result =
                if self.handshake.is_set_up() { self.check_backend() } else { self.setup() };
            if let Err(e) = result {
                xenbus::log!(
                    self.bus.platform(),
                    Warn,
                    "tpmfront: {}: cannot connect: {e}",
                    self.node
                );
                self.failure = Some(e);
                // Our own resources from a half-done set-up go now.
                self.connection = None;
            }
            step = self.handshake.connected(result.is_ok(), backend_state);
        }
    }

    fn publish_state(&mut self, state: XenbusState) {
        let path = format!("{}/state", self.node);
        if let Err(e) = self.bus.store().write(&path, &state.number().to_string()) {
            xenbus::log!(
                self.bus.platform(),
                Warn,
                "tpmfront: {}: cannot set state: {e}",
                self.node
            );
        }
    }

    fn watch_backend(&mut self) -> Result<(), Error> {
        let path = format!("{}/state", self.backend.path);
        if self.watched.as_deref() == Some(path.as_str()) {
            return Ok(());
        }
        if self.watched.take().is_some() {
            let _ = self.bus.store().unwatch(&self.token);
        }
        self.bus.store().watch(&path, &self.token)?;
        self.watched = Some(path);
        Ok(())
    }

    /// Mini-OS's `init_tpmfront`: a fresh zeroed page granted to the backend, an
    /// unbound port, both published with `feature-protocol-v2` in one transaction.
    fn setup(&mut self) -> Result<(), Error> {
        self.connection = None;
        // The toolstack may have re-attached the device to another backend.
        self.backend = read_backend(&self.bus, &self.node)?;
        self.watch_backend()?;
        let page = self.bus.share_page(self.backend.id, false)?;
        let channel = EventChannel::alloc_unbound(self.bus.platform().clone(), self.backend.id)
            .map_err(xenbus::Error::from)?;
        let node = &self.node;
        let (reference, port) = (page.reference().0.to_string(), channel.port().0.to_string());
        self.bus.store().transaction(|tx| {
            tx.write(&format!("{node}/ring-ref"), &reference)?;
            tx.write(&format!("{node}/event-channel"), &port)?;
            tx.write(&format!("{node}/{FEATURE_PROTOCOL_V2}"), "1")
        })?;
        self.connection = Some(Connection { page, channel });
        self.cancelled = false;
        xenbus::log!(
            self.bus.platform(),
            Debug,
            "tpmfront: {}: ring {reference}, port {port} published",
            self.node
        );
        Ok(())
    }

    /// The backend must speak protocol v2 (specs §1.5: exactly "1").
    fn check_backend(&mut self) -> Result<(), Error> {
        let path = format!("{}/{FEATURE_PROTOCOL_V2}", self.backend.path);
        let feature = self.bus.store().try_read(&path)?;
        if feature.as_deref() != Some("1") {
            return Err(Error::ProtocolV1);
        }
        xenbus::log!(self.bus.platform(), Info, "tpmfront: {}: connected", self.node);
        Ok(())
    }

    fn teardown(&mut self) {
        if self.connection.take().is_some() {
            xenbus::log!(self.bus.platform(), Info, "tpmfront: {}: backend gone", self.node);
        }
        if core::mem::take(&mut self.in_flight) {
            self.lost = true;
        }
        self.cancelled = false;
    }
}

impl<P: Platform> Drop for Tpmfront<P> {
    fn drop(&mut self) {
        // The connection's page and port release themselves; the watch is ours to end.
        if self.watched.is_some()
            && let Some(mut store) = self.bus.try_store()
        {
            let _ = store.unwatch(&self.token);
        }
    }
}

fn read_backend<P: Platform>(bus: &Bus<P>, node: &str) -> Result<Backend, Error> {
    let mut store = bus.store();
    let id = store.try_read(&format!("{node}/backend-id"))?.ok_or(Error::NoBackend)?;
    let id = DomainId::parse(&id).ok_or(Error::NoBackend)?;
    let path = store.try_read(&format!("{node}/backend"))?.ok_or(Error::NoBackend)?;
    if !path.starts_with('/') {
        return Err(Error::NoBackend);
    }
    Ok(Backend { id, path })
}
