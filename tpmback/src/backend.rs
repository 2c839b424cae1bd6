//! The backend: device discovery, the handshake per frontend, fair request
//! scheduling, responses.

use crate::page::{self, Invalid, Parsed, Response};
use crate::{Error, ErrorCodes, FrontendId, Uuid};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Bound;
use xenbus::abi::tpmif::{FEATURE_PROTOCOL_V2, STATE, STATE_SUBMIT};
use xenbus::{
    BackendHandshake, Bus, DomainId, EventChannel, GrantRef, Platform, Port, Step, Store,
    XenbusState,
};

/// Token of the watch on the backend directory.
const DIRECTORY_TOKEN: &str = WATCH_PREFIX;
/// Prefix of the per-device tokens watching a frontend's `state`.
const FRONTEND_TOKEN_PREFIX: &str = "tpmback:";
/// The common prefix of every watch token a [`Tpmback`] sets: the idle loop wakes for
/// it (`xenbus::control::Service::watches`).
pub const WATCH_PREFIX: &str = "tpmback";

/// How the backend is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The directory the toolstack creates devices in, relative to our home
    /// (`backend/vtpm`, specs §1.4).
    pub directory: &'static str,
    /// How requests that break the transport rules are answered.
    pub errors: ErrorCodes,
}

impl Default for Config {
    fn default() -> Self {
        Self { directory: "backend/vtpm", errors: ErrorCodes::TPM12 }
    }
}

/// A connected frontend, as reported by [`Event::Opened`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrontendInfo {
    /// Which frontend.
    pub id: FrontendId,
    /// The vTPM's identity from our backend node's `uuid` (trusted: the toolstack
    /// wrote it).
    pub uuid: Uuid,
}

/// Identifies the connection a request came in on, to answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyTo {
    frontend: FrontendId,
    generation: u64,
}

impl ReplyTo {
    /// The frontend the request came from.
    pub fn frontend(&self) -> FrontendId {
        self.frontend
    }
}

/// One command from a frontend, copied out of its page.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The frontend (domid, handle).
    pub frontend: FrontendId,
    /// The vTPM uuid of the device.
    pub uuid: Uuid,
    /// The page's `locality` byte (not validated: the engine answers localities it
    /// does not support).
    pub locality: u8,
    /// The command bytes (1..=4088).
    pub command: Vec<u8>,
    reply_to: ReplyTo,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The command may hold secrets (authorization values): never its bytes.
        f.debug_struct("Request")
            .field("frontend", &self.frontend)
            .field("locality", &self.locality)
            .field("len", &self.command.len())
            .finish_non_exhaustive()
    }
}

impl Request {
    /// What to pass to [`Tpmback::respond`].
    pub fn reply_to(&self) -> ReplyTo {
        self.reply_to
    }
}

/// What [`Tpmback::poll`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A frontend connected (the manager attaches the uuid's key entry here).
    Opened(FrontendInfo),
    /// A request to execute and answer with [`Tpmback::respond`].
    Request(Request),
    /// A frontend disconnected; a request of it still in flight cannot be answered.
    Closed(FrontendId),
}

/// Counters for operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests handed out.
    pub requests: u64,
    /// Requests answered with an error response by the backend itself.
    pub refused: u64,
    /// Cancels answered with IDLE.
    pub cancels: u64,
    /// Invalid state values reset to IDLE.
    pub bad_states: u64,
    /// Connections made.
    pub connections: u64,
}

struct Connection<P: Platform> {
    page: P::Mapping,
    channel: EventChannel<P>,
    generation: u64,
    in_flight: bool,
    /// Look at the page even without an event (just connected: a request may
    /// already be waiting).
    recheck: bool,
}

struct Device<P: Platform> {
    backend_path: String,
    frontend_path: String,
    uuid: Uuid,
    handshake: BackendHandshake,
    connection: Option<Connection<P>>,
}

/// The tpmif v2 backend.
pub struct Tpmback<P: Platform> {
    bus: Rc<Bus<P>>,
    config: Config,
    devices: BTreeMap<FrontendId, Device<P>>,
    /// Devices refused for a bad uuid, with the value refused (logged once each).
    ignored: BTreeMap<FrontendId, String>,
    /// The last frontend served; the next scan starts after it.
    cursor: Option<FrontendId>,
    events: VecDeque<Event>,
    next_generation: u64,
    stats: Stats,
}

impl<P: Platform> fmt::Debug for Tpmback<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tpmback")
            .field("devices", &self.devices.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn token_for(id: FrontendId) -> String {
    format!("{FRONTEND_TOKEN_PREFIX}{}:{}", id.domain.0, id.handle)
}

fn parse_token(token: &str) -> Option<FrontendId> {
    let rest = token.strip_prefix(FRONTEND_TOKEN_PREFIX)?;
    let (domain, handle) = rest.split_once(':')?;
    FrontendId::parse(domain, handle)
}

impl<P: Platform> Tpmback<P> {
    /// Starts serving: watches the backend directory and takes over the devices
    /// already in it.
    pub fn new(bus: Rc<Bus<P>>, config: Config) -> Result<Self, Error> {
        bus.store().watch(config.directory, DIRECTORY_TOKEN)?;
        let mut backend = Self {
            bus,
            config,
            devices: BTreeMap::new(),
            ignored: BTreeMap::new(),
            cursor: None,
            events: VecDeque::new(),
            next_generation: 1,
            stats: Stats::default(),
        };
        backend.rescan();
        Ok(backend)
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The frontends known, sorted by (domid, handle), with whether each is connected.
    pub fn frontends(&self) -> Vec<(FrontendId, bool)> {
        self.devices.iter().map(|(id, d)| (*id, d.connection.is_some())).collect()
    }

    /// The event-channel ports to wait on (besides the xenstore port, which
    /// [`Bus::wait`] adds).
    pub fn ports(&self) -> Vec<Port> {
        self.devices
            .values()
            .filter_map(|d| d.connection.as_ref())
            .map(|c| c.channel.port())
            .collect()
    }

    /// Handles whatever happened (xenstore changes, frontend notifications) and
    /// returns the next event, or `None` if there is nothing to do now. Never waits
    /// except for xenstore requests (each with its deadline); never fails: problems
    /// with one frontend are logged and answered, and do not affect the others.
    ///
    /// Requests are taken round-robin over the connected frontends, one per call, so
    /// none can starve another.
    pub fn poll(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        self.handle_watches();
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        self.next_request()
    }

    /// Answers a request. The response is checked (1..=4088 bytes) before the page is
    /// touched; one that does not fit is replaced by the failure error response, so the
    /// frontend always gets FINISH. Fails only if the connection the request came in
    /// on is gone.
    pub fn respond(&mut self, to: ReplyTo, response: &[u8]) -> Result<(), Error> {
        let platform = self.bus.platform().clone();
        let failure = page::error_response(self.config.errors.tag, self.config.errors.failure);
        let connection = self
            .devices
            .get_mut(&to.frontend)
            .and_then(|d| d.connection.as_mut())
            .filter(|c| c.generation == to.generation && c.in_flight);
        let Some(connection) = connection else {
            xenbus::log!(
                platform,
                Info,
                "tpmback: {}: response dropped, frontend gone",
                to.frontend
            );
            return Err(Error::Gone);
        };
        let checked = match Response::new(response) {
            Some(checked) => checked,
            None => {
                xenbus::log!(
                    platform,
                    Error,
                    "tpmback: {}: response of {} bytes does not fit the page; sending TPM failure",
                    to.frontend,
                    response.len()
                );
                Response::new(&failure).ok_or(Error::Gone)?
            }
        };
        connection.in_flight = false;
        if page::write_response(&connection.page, checked).is_err() {
            xenbus::log!(platform, Error, "tpmback: {}: cannot write the page", to.frontend);
        }
        connection.channel.notify();
        Ok(())
    }

    // ---- Requests ----

    fn next_request(&mut self) -> Option<Event> {
        let order: Vec<FrontendId> = match self.cursor {
            Some(cursor) => self
                .devices
                .range((Bound::Excluded(cursor), Bound::Unbounded))
                .chain(self.devices.range(..=cursor))
                .map(|(id, _)| *id)
                .collect(),
            None => self.devices.keys().copied().collect(),
        };
        for id in order {
            if let Some(request) = self.examine(id) {
                self.cursor = Some(id);
                self.stats.requests = self.stats.requests.saturating_add(1);
                return Some(Event::Request(request));
            }
        }
        None
    }

    /// Looks at one frontend's page if it notified us; returns its request if it
    /// made a valid one, answering everything else on the spot.
    fn examine(&mut self, id: FrontendId) -> Option<Request> {
        let platform = self.bus.platform().clone();
        let errors = self.config.errors;
        let device = self.devices.get_mut(&id)?;
        let uuid = device.uuid;
        let connection = device.connection.as_mut()?;
        let notified = connection.channel.take_pending();
        if !notified && !core::mem::take(&mut connection.recheck) {
            return None;
        }
        if connection.in_flight {
            // One request at a time per device (specs §1.3). A CANCEL now is
            // honoured by finishing the request normally; a second SUBMIT is
            // overwritten by the first request's response.
            let state = xenbus::PeerMemory::read_u8(&connection.page, STATE);
            if state == Ok(STATE_SUBMIT) {
                xenbus::log!(
                    platform,
                    Warn,
                    "tpmback: {id}: request while one is in flight; ignored"
                );
            }
            return None;
        }
        let parsed = match page::read_request(&connection.page) {
            Ok(parsed) => parsed,
            Err(_) => {
                xenbus::log!(platform, Error, "tpmback: {id}: shared page unreadable");
                return None;
            }
        };
        let reply = |code: u32| page::error_response(errors.tag, code);
        match parsed {
            Parsed::Nothing => None,
            Parsed::Request { locality, command } => {
                connection.in_flight = true;
                let reply_to = ReplyTo { frontend: id, generation: connection.generation };
                Some(Request { frontend: id, uuid, locality, command, reply_to })
            }
            Parsed::Cancel => {
                xenbus::log!(platform, Debug, "tpmback: {id}: cancel with nothing in flight");
                self.stats.cancels = self.stats.cancels.saturating_add(1);
                let _ = page::write_idle(&connection.page);
                connection.channel.notify();
                None
            }
            Parsed::BadState(state) => {
                xenbus::log!(platform, Warn, "tpmback: {id}: invalid state {state}; reset to IDLE");
                self.stats.bad_states = self.stats.bad_states.saturating_add(1);
                let _ = page::write_idle(&connection.page);
                connection.channel.notify();
                None
            }
            Parsed::Invalid(why) => {
                xenbus::log!(platform, Warn, "tpmback: {id}: {why}; answered with an error");
                self.stats.refused = self.stats.refused.saturating_add(1);
                let code = match why {
                    Invalid::Empty => errors.bad_size,
                    Invalid::TooLong(_) | Invalid::ExtraPages(_) => errors.too_large,
                };
                let response = reply(code);
                if let Some(checked) = Response::new(&response) {
                    let _ = page::write_response(&connection.page, checked);
                }
                connection.channel.notify();
                None
            }
        }
    }

    // ---- Devices ----

    fn handle_watches(&mut self) {
        let mut touched = BTreeSet::new();
        let mut rescan = false;
        let directory = self.config.directory;
        loop {
            let event = self.bus.store().next_event(DIRECTORY_TOKEN);
            let Some(path) = event else { break };
            match path.strip_prefix(directory).and_then(|rest| rest.strip_prefix('/')) {
                Some(rest) => {
                    let mut parts = rest.split('/');
                    match (parts.next(), parts.next()) {
                        (Some(domain), Some(handle)) => {
                            // Anything else under the directory is not a device.
                            if let Some(id) = FrontendId::parse(domain, handle) {
                                touched.insert(id);
                            }
                        }
                        _ => rescan = true,
                    }
                }
                None => rescan = true,
            }
        }
        loop {
            let event = self.bus.store().next_event_with_prefix(FRONTEND_TOKEN_PREFIX);
            let Some(event) = event else { break };
            if let Some(id) = parse_token(&event.token) {
                touched.insert(id);
            }
        }
        if rescan {
            self.rescan();
        }
        for id in touched {
            self.evaluate(id);
        }
    }

    /// Lists the backend directory and evaluates every device found or lost.
    fn rescan(&mut self) {
        let directory = self.config.directory;
        let mut found = BTreeSet::new();
        let domains = self.bus.store().directory(directory).unwrap_or_default();
        for domain in domains {
            let handles =
                self.bus.store().directory(&format!("{directory}/{domain}")).unwrap_or_default();
            for handle in handles {
                if let Some(id) = FrontendId::parse(&domain, &handle) {
                    found.insert(id);
                }
            }
        }
        let known: Vec<FrontendId> = self.devices.keys().copied().collect();
        for id in found.iter().copied().chain(known) {
            self.evaluate(id);
        }
        self.ignored.retain(|id, _| found.contains(id));
    }

    /// Brings one device in line with xenstore: discover, connect, close, forget.
    fn evaluate(&mut self, id: FrontendId) {
        if !self.devices.contains_key(&id) && !self.discover(id) {
            return;
        }
        let Some(device) = self.devices.get(&id) else { return };
        let backend_path = device.backend_path.clone();
        let frontend_path = device.frontend_path.clone();
        // Act only on what xenstore actually said: a failed read (timeout, broken
        // connection) leaves the device as it is until the next event.
        let read = |key: &str, base: &str| self.bus.store().try_read(&format!("{base}/{key}"));
        let observed = (|| {
            // The directory goes when the device is removed (by us on online=0,
            // see `remove_nodes`, or by the toolstack when the frontend's domain dies).
            let present = read("frontend", &backend_path)?.is_some();
            let online = read("online", &backend_path)?.as_deref() == Some("1");
            // A frontend we may no longer read has gone: once its domain dies,
            // xenstored hands the dead domain's nodes to dom0 and drops our read
            // permission (XSA-322), answering EACCES. Closing must not wait for it.
            let state = match read("state", &frontend_path) {
                Err(xenbus::Error::Store(xenbus::StoreErrno::AccessDenied)) => None,
                other => other?,
            };
            Ok::<_, xenbus::Error>((present, online, state))
        })();
        let (online, frontend_state) = match observed {
            Ok((false, _, _)) => {
                self.forget(id);
                return;
            }
            Ok((true, online, state)) => {
                (online, state.map_or(XenbusState::Unknown, |v| XenbusState::parse(&v)))
            }
            Err(e) => {
                xenbus::log!(self.bus.platform(), Warn, "tpmback: {id}: xenstore: {e}");
                return;
            }
        };
        let step = match self.devices.get_mut(&id) {
            Some(device) => device.handshake.observe(frontend_state, online),
            None => return,
        };
        self.apply(id, step);
        if !online && frontend_state == XenbusState::Closed {
            self.remove_nodes(id);
        }
    }

    /// The toolstack is taking the device away (`online=0`), we are Closed and so is
    /// the frontend: remove the device's backend directory. libxl
    /// treats a backend in another domain as a driver domain and, once it has seen
    /// Closed, waits up to 10 s for that domain to remove the directory before it
    /// removes the rest (libxl_device.c, `device_hotplug`: "removal of backend path");
    /// without this `xl vtpm-detach` fails after 10 s. Waiting for the frontend's
    /// Closed leaves libxl the time to see ours first: a directory gone before then
    /// makes libxl fail the removal (specs §1.6). A frontend whose domain died (its
    /// state unreadable) is left to the toolstack, which removes such devices itself.
    fn remove_nodes(&mut self, id: FrontendId) {
        let Some(device) = self.devices.get(&id) else { return };
        if device.handshake.state() != XenbusState::Closed {
            return;
        }
        let path = device.backend_path.clone();
        match self.bus.store().rm(&path) {
            Ok(()) => xenbus::log!(self.bus.platform(), Debug, "tpmback: {id}: removed {path}"),
            Err(e) => {
                xenbus::log!(self.bus.platform(), Warn, "tpmback: {id}: cannot remove {path}: {e}");
            }
        }
        self.forget(id);
    }

    fn apply(&mut self, id: FrontendId, step: Step) {
        if step.disconnect {
            self.disconnect(id);
        }
        if let Some(state) = step.switch {
            self.publish_state(id, state);
        }
        if step.connect {
            let ok = self.connect(id);
            let follow = match self.devices.get_mut(&id) {
                Some(device) => device.handshake.connected(ok),
                None => return,
            };
            if let Some(state) = follow.switch {
                self.publish_state(id, state);
            }
            if ok && let Some(device) = self.devices.get(&id) {
                self.events.push_back(Event::Opened(FrontendInfo { id, uuid: device.uuid }));
            }
        }
    }

    fn publish_state(&mut self, id: FrontendId, state: XenbusState) {
        let Some(device) = self.devices.get(&id) else { return };
        let path = format!("{}/state", device.backend_path);
        if let Err(e) = self.bus.store().write(&path, &state.number().to_string()) {
            xenbus::log!(self.bus.platform(), Warn, "tpmback: {id}: cannot set state {state}: {e}");
        } else {
            xenbus::log!(self.bus.platform(), Debug, "tpmback: {id}: state {state}");
        }
    }

    /// Reads a new device's nodes; false if it is not (or not yet) usable.
    fn discover(&mut self, id: FrontendId) -> bool {
        let backend_path = format!("{}/{}/{}", self.config.directory, id.domain.0, id.handle);
        let frontend_path = match self.bus.store().try_read(&format!("{backend_path}/frontend")) {
            Ok(Some(path)) if path.starts_with('/') => path,
            Ok(Some(path)) => {
                xenbus::log!(
                    self.bus.platform(),
                    Warn,
                    "tpmback: {id}: bad frontend path {path:?}"
                );
                return false;
            }
            // Not there (yet): the toolstack's next write fires the watch again.
            _ => return false,
        };
        let uuid_text = self
            .bus
            .store()
            .try_read(&format!("{backend_path}/uuid"))
            .ok()
            .flatten()
            .unwrap_or_default();
        let Some(uuid) = Uuid::parse(&uuid_text) else {
            if self.ignored.get(&id) != Some(&uuid_text) {
                xenbus::log!(
                    self.bus.platform(),
                    Error,
                    "tpmback: {id}: invalid uuid {uuid_text:?}; device ignored"
                );
                self.ignored.insert(id, uuid_text);
            }
            return false;
        };
        self.ignored.remove(&id);
        if let Err(e) =
            self.bus.store().write(&format!("{backend_path}/{FEATURE_PROTOCOL_V2}"), "1")
        {
            xenbus::log!(
                self.bus.platform(),
                Warn,
                "tpmback: {id}: cannot advertise protocol v2: {e}"
            );
        }
        if let Err(e) = self.bus.store().watch(&format!("{frontend_path}/state"), &token_for(id)) {
            xenbus::log!(
                self.bus.platform(),
                Error,
                "tpmback: {id}: cannot watch the frontend: {e}"
            );
            return false;
        }
        xenbus::log!(self.bus.platform(), Info, "tpmback: {id}: new device, vTPM {uuid}");
        let device = Device {
            backend_path,
            frontend_path,
            uuid,
            handshake: BackendHandshake::new(),
            connection: None,
        };
        self.devices.insert(id, device);
        true
    }

    /// Maps the frontend's page and binds its port (specs §1.5 step 5).
    fn connect(&mut self, id: FrontendId) -> bool {
        let platform = self.bus.platform().clone();
        let Some(device) = self.devices.get(&id) else { return false };
        let frontend = device.frontend_path.clone();
        let result = (|| {
            let mut store = self.bus.store();
            let feature = store.try_read(&format!("{frontend}/{FEATURE_PROTOCOL_V2}"))?;
            if feature.as_deref() != Some("1") {
                return Err(Error::ProtocolV1);
            }
            let reference = store.read_number(&format!("{frontend}/ring-ref"))?;
            let port = store.read_number(&format!("{frontend}/event-channel"))?;
            let reference = u32::try_from(reference).map_err(|_| Error::BadNode)?;
            let port = u32::try_from(port).map_err(|_| Error::BadNode)?;
            Ok((GrantRef(reference), port))
        })();
        let (reference, remote_port) = match result {
            Ok(values) => values,
            Err(e) => {
                xenbus::log!(platform, Warn, "tpmback: {id}: cannot connect: {e}");
                return false;
            }
        };
        let page = match platform.map_grant(id.domain, reference, true) {
            Ok(page) => page,
            Err(e) => {
                xenbus::log!(platform, Warn, "tpmback: {id}: cannot map {reference}: {e}");
                return false;
            }
        };
        if xenbus::PeerMemory::len(&page) < xenbus::abi::PAGE_SIZE {
            xenbus::log!(platform, Error, "tpmback: {id}: mapping shorter than a page");
            return false;
        }
        let channel = match EventChannel::bind(platform.clone(), id.domain, remote_port) {
            Ok(channel) => channel,
            Err(e) => {
                xenbus::log!(platform, Warn, "tpmback: {id}: cannot bind port {remote_port}: {e}");
                return false;
            }
        };
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        self.stats.connections = self.stats.connections.saturating_add(1);
        if let Some(device) = self.devices.get_mut(&id) {
            device.connection =
                Some(Connection { page, channel, generation, in_flight: false, recheck: true });
        }
        xenbus::log!(platform, Info, "tpmback: {id}: connected");
        true
    }

    /// Drops a connection (unmap, close the port) and reports it.
    fn disconnect(&mut self, id: FrontendId) {
        let Some(device) = self.devices.get_mut(&id) else { return };
        if device.connection.take().is_some() {
            xenbus::log!(self.bus.platform(), Info, "tpmback: {id}: disconnected");
            self.events.push_back(Event::Closed(id));
        }
    }

    /// The toolstack removed the device: release everything and forget it.
    fn forget(&mut self, id: FrontendId) {
        self.disconnect(id);
        if self.devices.remove(&id).is_some() {
            let _ = self.bus.store().unwatch(&token_for(id));
            xenbus::log!(self.bus.platform(), Info, "tpmback: {id}: device removed");
        }
    }
}

impl<P: Platform> Drop for Tpmback<P> {
    fn drop(&mut self) {
        // Mappings and ports release themselves; the watches are ours to end.
        if let Some(mut store) = self.bus.try_store() {
            let _ = store.unwatch(DIRECTORY_TOKEN);
            for id in self.devices.keys() {
                let _ = store.unwatch(&token_for(*id));
            }
        }
    }
}

impl FrontendId {
    /// Parses the two path components `<domid>/<handle>` of a device directory.
    pub fn parse(domain: &str, handle: &str) -> Option<Self> {
        let domain = DomainId::parse(domain)?;
        let handle = u32::try_from(xenbus::wire::parse_decimal(handle)?).ok()?;
        Some(Self { domain, handle })
    }
}
