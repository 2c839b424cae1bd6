//! The xenstore client: requests, watches and transactions over the domain's ring.
//!
//! One request is in flight at a time (the domain is single-threaded): write it into
//! the request ring, notify, then wait for our port with a deadline until the reply
//! with its `req_id` arrives. Watch events arriving meanwhile are queued per token —
//! never lost, never taken for a reply. A reply whose `req_id` is not the one in
//! flight (an answer to a request abandoned at its deadline) is dropped.
//!
//! xenstored is trusted, but its ring is still read defensively: indices are checked
//! (at most 1024 bytes in flight), headers validated (known type, payload ≤ 4096)
//! before anything is allocated, and a stream that cannot be framed any more marks the
//! connection broken ([`Error::Wire`]) instead of hanging or panicking.

use crate::Error;
use crate::abi::xenstore::{REQ, REQ_CONS, REQ_PROD, RING_SIZE, RSP, RSP_CONS, RSP_PROD};
use crate::platform::{EventChannels, PeerMemory, Platform, Port};
use crate::ring::byte_ring_used;
use crate::wire::{
    self, Decoder, Message, MessageType, Permission, StoreErrno, WatchEvent, WireError,
};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// How long a request may take by default (Linux's xenbus uses no limit; Mini-OS none
/// either; ten seconds is libxl's device timeout).
pub const DEFAULT_TIMEOUT_NS: u64 = 10_000_000_000;
/// How often a transaction is retried when xenstored answers EAGAIN.
pub const TRANSACTION_ATTEMPTS: u32 = 32;
/// Watch events queued per token before they are collapsed into one event for the
/// watched path itself ("something below here changed": rescan).
pub const MAX_QUEUED_EVENTS: usize = 256;
/// Ring passes one pump makes before giving the caller a chance to run.
const PUMP_PASSES: u32 = 16;

/// A watch: its path and the events not yet taken.
#[derive(Debug)]
struct Watch {
    path: String,
    events: VecDeque<String>,
    /// The queue overflowed and holds one event for `path`; later events are covered.
    collapsed: bool,
}

/// The client. Requests go through the [`Store`] trait (plain) or a [`Transaction`].
pub struct Xenstore<P: Platform> {
    platform: P,
    ring: P::Shared,
    port: Port,
    next_req_id: u32,
    decoder: Decoder,
    /// The reply to the request in flight, once it arrived.
    reply: Option<Message>,
    /// (req_id, tx_id) of the request in flight; xenstored echoes both.
    in_flight: Option<(u32, u32)>,
    watches: BTreeMap<String, Watch>,
    broken: Option<WireError>,
    timeout_ns: u64,
}

impl<P: Platform> fmt::Debug for Xenstore<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Xenstore")
            .field("port", &self.port)
            .field("watches", &self.watches.len())
            .field("broken", &self.broken)
            .finish()
    }
}

/// Everything a xenstore request can be made through: the plain client and a
/// transaction. The provided methods are the operations.
pub trait Store {
    /// Sends one request of `kind` with the concatenation of `parts` as payload and
    /// returns the reply's payload (an XS_ERROR reply is an `Err`).
    fn call(&mut self, kind: MessageType, parts: &[&[u8]]) -> Result<Vec<u8>, Error>;

    /// XS_READ: a node's raw value.
    fn read_bytes(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        self.call(MessageType::Read, &[checked_path(path)?, b"\0"])
    }

    /// XS_READ: a node's value as UTF-8 text.
    fn read(&mut self, path: &str) -> Result<String, Error> {
        String::from_utf8(self.read_bytes(path)?).map_err(|_| Error::BadValue)
    }

    /// XS_READ, with a missing node as `None`.
    fn try_read(&mut self, path: &str) -> Result<Option<String>, Error> {
        match self.read(path) {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_no_entry() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// XS_READ of a plain decimal number.
    fn read_number(&mut self, path: &str) -> Result<u64, Error> {
        wire::parse_decimal(&self.read(path)?).ok_or(Error::BadValue)
    }

    /// XS_WRITE: sets a node's value, creating it (and missing parents).
    fn write(&mut self, path: &str, value: &str) -> Result<(), Error> {
        let reply =
            self.call(MessageType::Write, &[checked_path(path)?, b"\0", value.as_bytes()])?;
        wire::parse_ack(&reply).map_err(Error::Wire)
    }

    /// XS_MKDIR: creates a node with an empty value if it does not exist.
    fn mkdir(&mut self, path: &str) -> Result<(), Error> {
        let reply = self.call(MessageType::Mkdir, &[checked_path(path)?, b"\0"])?;
        wire::parse_ack(&reply).map_err(Error::Wire)
    }

    /// XS_RM: removes a node and everything below it.
    fn rm(&mut self, path: &str) -> Result<(), Error> {
        let reply = self.call(MessageType::Rm, &[checked_path(path)?, b"\0"])?;
        wire::parse_ack(&reply).map_err(Error::Wire)
    }

    /// XS_DIRECTORY: the names of a node's children.
    fn directory(&mut self, path: &str) -> Result<Vec<String>, Error> {
        let reply = self.call(MessageType::Directory, &[checked_path(path)?, b"\0"])?;
        wire::parse_directory(&reply).map_err(Error::Wire)
    }

    /// XS_GET_PERMS: a node's permission list (owner first).
    fn permissions(&mut self, path: &str) -> Result<Vec<Permission>, Error> {
        let reply = self.call(MessageType::GetPerms, &[checked_path(path)?, b"\0"])?;
        wire::parse_permissions(&reply).map_err(Error::Wire)
    }

    /// XS_SET_PERMS: replaces a node's permission list (owner first).
    fn set_permissions(&mut self, path: &str, permissions: &[Permission]) -> Result<(), Error> {
        if permissions.is_empty() {
            return Err(Error::InvalidArgument);
        }
        let mut payload = Vec::from(checked_path(path)?);
        payload.push(0);
        for permission in permissions {
            payload.extend_from_slice(permission.encode().as_bytes());
            payload.push(0);
        }
        let reply = self.call(MessageType::SetPerms, &[&payload])?;
        wire::parse_ack(&reply).map_err(Error::Wire)
    }
}

/// A path must not contain NUL (it would end the string early on the wire) and must
/// not be empty.
fn checked_path(path: &str) -> Result<&[u8], Error> {
    if path.is_empty() || path.as_bytes().contains(&0) {
        return Err(Error::InvalidArgument);
    }
    Ok(path.as_bytes())
}

impl<P: Platform> Xenstore<P> {
    /// A client over the domain's ring page and its event channel (both from
    /// start_info: `store_mfn`, `store_evtchn`).
    pub fn new(platform: P, ring: P::Shared, port: Port) -> Self {
        Self {
            platform,
            ring,
            port,
            next_req_id: 1,
            decoder: Decoder::new(),
            reply: None,
            in_flight: None,
            watches: BTreeMap::new(),
            broken: None,
            timeout_ns: DEFAULT_TIMEOUT_NS,
        }
    }

    /// The event channel xenstored notifies (include it in every idle wait).
    pub fn port(&self) -> Port {
        self.port
    }

    /// Sets how long each request may take.
    pub fn set_timeout(&mut self, timeout_ns: u64) {
        self.timeout_ns = timeout_ns;
    }

    /// Why the connection is unusable, if it is.
    pub fn broken(&self) -> Option<WireError> {
        self.broken
    }

    fn fail(&mut self, error: WireError) -> Error {
        if self.broken.is_none() {
            crate::log!(self.platform, Error, "xenstore connection lost: {error}");
            self.broken = Some(error);
        }
        Error::Wire(error)
    }

    /// Copies whatever xenstored has written into the decoder and handles complete
    /// messages. Never waits. Returns true if bytes may remain in the ring (call again
    /// before sleeping).
    pub fn pump(&mut self) -> Result<bool, Error> {
        if let Some(e) = self.broken {
            return Err(Error::Wire(e));
        }
        let mut more = true;
        for _ in 0..PUMP_PASSES {
            if !self.read_ring()? {
                more = false;
                break;
            }
        }
        loop {
            match self.decoder.next_message() {
                Ok(Some(message)) => self.dispatch(message),
                Ok(None) => break,
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(more)
    }

    /// One pass over the response ring; true if bytes were taken.
    fn read_ring(&mut self) -> Result<bool, Error> {
        let cons = self.ring.read_u32(RSP_CONS)?;
        let prod = self.ring.read_u32(RSP_PROD)?;
        let Some(available) = byte_ring_used(prod, cons, RING_SIZE) else {
            return Err(self.fail(WireError::RingIndex));
        };
        if available == 0 {
            return Ok(false);
        }
        // The bytes after the index that published them.
        self.ring.acquire_fence();
        let mut bytes = [0u8; RING_SIZE as usize];
        let taken = copy_out_of_ring(&self.ring, RSP, cons, available, &mut bytes)?;
        // Finish reading before handing the space back (xs_wire.h ring protocol).
        self.ring.full_fence();
        self.ring.write_u32(RSP_CONS, cons.wrapping_add(available))?;
        self.platform.notify(self.port);
        self.decoder.push(taken);
        Ok(true)
    }

    fn dispatch(&mut self, message: Message) {
        if message.header.kind == MessageType::WatchEvent {
            match wire::parse_watch_event(&message.payload) {
                Ok(event) => self.queue_event(event),
                Err(e) => crate::log!(self.platform, Warn, "xenstore watch event dropped: {e}"),
            }
            return;
        }
        let header = message.header;
        match self.in_flight {
            Some((id, tx)) if (id, tx) == (header.req_id, header.tx_id) && self.reply.is_none() => {
                self.reply = Some(message);
            }
            _ => crate::log!(
                self.platform,
                Debug,
                "xenstore reply {} to no request in flight dropped",
                message.header.req_id
            ),
        }
    }

    fn queue_event(&mut self, event: WatchEvent) {
        let Some(watch) = self.watches.get_mut(&event.token) else {
            // A watch removed meanwhile (xenstored may still deliver its events).
            return;
        };
        if watch.collapsed {
            return;
        }
        if watch.events.len() >= MAX_QUEUED_EVENTS {
            watch.events.clear();
            watch.events.push_back(watch.path.clone());
            watch.collapsed = true;
            return;
        }
        watch.events.push_back(event.path);
    }

    /// Writes `bytes` into the request ring, waiting for room until `deadline_ns`.
    fn send(&mut self, bytes: &[u8], deadline_ns: u64) -> Result<(), Error> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let cons = self.ring.read_u32(REQ_CONS)?;
            let prod = self.ring.read_u32(REQ_PROD)?;
            let Some(used) = byte_ring_used(prod, cons, RING_SIZE) else {
                return Err(self.fail(WireError::RingIndex));
            };
            let room = (RING_SIZE - used) as usize;
            if room == 0 {
                // xenstored notifies after consuming; keep replies flowing meanwhile.
                self.pump()?;
                if !self.platform.wait(&[self.port], deadline_ns) {
                    // Half a message is in the ring: the stream cannot be resumed.
                    return Err(self.fail_timeout());
                }
                self.platform.take_pending(self.port);
                continue;
            }
            // Read the consumer index before overwriting the space it freed.
            self.ring.full_fence();
            let (chunk, remaining) = rest.split_at(room.min(rest.len()));
            copy_into_ring(&self.ring, REQ, prod, chunk)?;
            // The bytes before the index that publishes them.
            self.ring.release_fence();
            let len = u32::try_from(chunk.len()).map_err(|_| Error::InvalidArgument)?;
            self.ring.write_u32(REQ_PROD, prod.wrapping_add(len))?;
            self.platform.notify(self.port);
            rest = remaining;
        }
        Ok(())
    }

    fn fail_timeout(&mut self) -> Error {
        crate::log!(self.platform, Error, "xenstored stopped reading requests; connection lost");
        self.broken = Some(WireError::RingIndex);
        Error::Timeout
    }

    /// Sends a request and waits for its reply.
    fn request(
        &mut self,
        tx_id: u32,
        kind: MessageType,
        parts: &[&[u8]],
    ) -> Result<Vec<u8>, Error> {
        if let Some(e) = self.broken {
            return Err(Error::Wire(e));
        }
        let req_id = self.next_req_id;
        self.next_req_id = self.next_req_id.wrapping_add(1);
        let message =
            wire::encode_request(kind, req_id, tx_id, parts).ok_or(Error::InvalidArgument)?;
        let deadline = self.platform.now_ns().saturating_add(self.timeout_ns);
        self.reply = None;
        self.in_flight = Some((req_id, tx_id));
        let result = self.exchange(&message, deadline);
        self.in_flight = None;
        let reply = result?;
        match reply.header.kind {
            MessageType::Error => Err(Error::Store(StoreErrno::parse(&reply.payload))),
            k if k == kind => Ok(reply.payload),
            k => Err(Error::Wire(WireError::UnexpectedType(k as u32))),
        }
    }

    fn exchange(&mut self, message: &[u8], deadline_ns: u64) -> Result<Message, Error> {
        self.send(message, deadline_ns)?;
        loop {
            let more = self.pump()?;
            if let Some(reply) = self.reply.take() {
                return Ok(reply);
            }
            if more {
                continue;
            }
            if !self.platform.wait(&[self.port], deadline_ns) {
                crate::log!(self.platform, Warn, "xenstore request timed out");
                return Err(Error::Timeout);
            }
            self.platform.take_pending(self.port);
        }
    }

    /// XS_WATCH: watches `path` and everything below it; events carry `token`, which
    /// must be unique in this client. xenstored fires every new watch once at once.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), Error> {
        checked_path(path)?;
        if token.is_empty() || token.as_bytes().contains(&0) || self.watches.contains_key(token) {
            return Err(Error::InvalidArgument);
        }
        // Registered before the request: the first event may overtake the reply.
        let watch = Watch { path: String::from(path), events: VecDeque::new(), collapsed: false };
        self.watches.insert(String::from(token), watch);
        let result = self
            .request(0, MessageType::Watch, &[path.as_bytes(), b"\0", token.as_bytes(), b"\0"])
            .and_then(|reply| wire::parse_ack(&reply).map_err(Error::Wire));
        if result.is_err() {
            self.watches.remove(token);
        }
        result
    }

    /// XS_UNWATCH: removes the watch with `token`; its queued events are dropped.
    pub fn unwatch(&mut self, token: &str) -> Result<(), Error> {
        let Some(watch) = self.watches.remove(token) else {
            return Err(Error::InvalidArgument);
        };
        match self.request(
            0,
            MessageType::Unwatch,
            &[watch.path.as_bytes(), b"\0", token.as_bytes(), b"\0"],
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.is_no_entry() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The next queued event of the watch with `token` (the path that changed), after
    /// taking in whatever xenstored has sent. Never waits.
    pub fn next_event(&mut self, token: &str) -> Option<String> {
        // A broken connection shows up on the next request; events already queued
        // are still delivered.
        let _ = self.pump();
        let watch = self.watches.get_mut(token)?;
        let event = watch.events.pop_front();
        if watch.events.is_empty() {
            watch.collapsed = false;
        }
        event
    }

    /// The next queued event of any watch whose token starts with `prefix` (a driver
    /// that sets one watch per device gives them a common prefix), after taking in
    /// whatever xenstored has sent. Never waits.
    pub fn next_event_with_prefix(&mut self, prefix: &str) -> Option<WatchEvent> {
        let _ = self.pump();
        let (token, watch) = self
            .watches
            .range_mut::<str, _>((core::ops::Bound::Included(prefix), core::ops::Bound::Unbounded))
            .take_while(|(token, _)| token.starts_with(prefix))
            .find(|(_, watch)| !watch.events.is_empty())?;
        let path = watch.events.pop_front()?;
        if watch.events.is_empty() {
            watch.collapsed = false;
        }
        Some(WatchEvent { path, token: token.clone() })
    }

    /// True if any watch has queued events (a waiter must not sleep then: the port's
    /// pending bit may already have been consumed by a request).
    pub fn has_events(&self) -> bool {
        self.watches.values().any(|w| !w.events.is_empty())
    }

    /// True if a watch whose token starts with `prefix` has queued events.
    pub fn has_events_with_prefix(&self, prefix: &str) -> bool {
        self.watches
            .range::<str, _>((core::ops::Bound::Included(prefix), core::ops::Bound::Unbounded))
            .take_while(|(token, _)| token.starts_with(prefix))
            .any(|(_, watch)| !watch.events.is_empty())
    }

    /// Runs `body` in a transaction and commits it, retrying the whole body when
    /// xenstored answers EAGAIN (a conflicting change), up to
    /// [`TRANSACTION_ATTEMPTS`] times. An error from `body` aborts the transaction.
    pub fn transaction<T>(
        &mut self,
        mut body: impl FnMut(&mut Transaction<'_, P>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        const AGAIN: Error = Error::Store(StoreErrno::Again);
        for _ in 0..TRANSACTION_ATTEMPTS {
            let reply = self.request(0, MessageType::TransactionStart, &[b"\0"])?;
            let id = wire::parse_transaction_id(&reply).map_err(Error::Wire)?;
            let outcome = body(&mut Transaction { store: self, id });
            match outcome {
                Ok(value) => match self.end_transaction(id, true) {
                    Ok(()) => return Ok(value),
                    Err(AGAIN) => continue,
                    Err(e) => return Err(e),
                },
                Err(e) => {
                    // Best effort: xenstored drops the transaction with the connection.
                    let _ = self.end_transaction(id, false);
                    if e != AGAIN {
                        return Err(e);
                    }
                }
            }
        }
        crate::log!(self.platform, Warn, "xenstore transaction still conflicting; giving up");
        Err(AGAIN)
    }

    fn end_transaction(&mut self, id: u32, commit: bool) -> Result<(), Error> {
        let verdict: &[u8] = if commit { b"T\0" } else { b"F\0" };
        let reply = self.request(id, MessageType::TransactionEnd, &[verdict])?;
        wire::parse_ack(&reply).map_err(Error::Wire)
    }
}

impl<P: Platform> Store for Xenstore<P> {
    fn call(&mut self, kind: MessageType, parts: &[&[u8]]) -> Result<Vec<u8>, Error> {
        self.request(0, kind, parts)
    }
}

/// An open transaction: requests made through it see and change a private snapshot
/// that is committed (or retried) when the body returns.
pub struct Transaction<'a, P: Platform> {
    store: &'a mut Xenstore<P>,
    id: u32,
}

impl<P: Platform> fmt::Debug for Transaction<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").field("id", &self.id).finish()
    }
}

impl<P: Platform> Transaction<'_, P> {
    /// The transaction's id.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl<P: Platform> Store for Transaction<'_, P> {
    fn call(&mut self, kind: MessageType, parts: &[&[u8]]) -> Result<Vec<u8>, Error> {
        self.store.request(self.id, kind, parts)
    }
}

/// Copies `len` bytes starting at free-running index `start` out of the byte ring at
/// `base`, in at most two pieces.
fn copy_out_of_ring<'b>(
    ring: &impl PeerMemory,
    base: usize,
    start: u32,
    len: u32,
    out: &'b mut [u8; RING_SIZE as usize],
) -> Result<&'b [u8], Error> {
    let offset = (start & (RING_SIZE - 1)) as usize;
    let len = len as usize;
    let first = len.min(RING_SIZE as usize - offset);
    let (head, tail) = out.split_at_mut(first);
    ring.read(base + offset, head)?;
    let rest = tail.get_mut(..len - first).ok_or(Error::OutOfBounds)?;
    ring.read(base, rest)?;
    out.get(..len).ok_or(Error::OutOfBounds)
}

/// Copies `data` (at most the ring's size) into the byte ring at `base` starting at
/// free-running index `start`, in at most two pieces.
fn copy_into_ring(
    ring: &impl PeerMemory,
    base: usize,
    start: u32,
    data: &[u8],
) -> Result<(), Error> {
    let offset = (start & (RING_SIZE - 1)) as usize;
    let first = data.len().min(RING_SIZE as usize - offset);
    let (head, tail) = data.split_at(first);
    ring.write(base + offset, head)?;
    ring.write(base, tail)?;
    Ok(())
}

/// Waits on `ports` and the xenstore port; used by [`crate::Bus::wait`].
pub(crate) fn wait_including<P: EventChannels>(
    platform: &P,
    store_port: Port,
    ports: &[Port],
    deadline_ns: u64,
) -> bool {
    let mut all = Vec::with_capacity(ports.len().saturating_add(1));
    all.push(store_port);
    all.extend_from_slice(ports);
    platform.wait(&all, deadline_ns)
}
