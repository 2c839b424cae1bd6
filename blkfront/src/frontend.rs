//! The block frontend: handshake, request engine, byte-level read/write/flush.

use crate::Error;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use xenbus::abi::PAGE_SIZE;
use xenbus::abi::blkif::{
    ENTRY_SIZE, MAX_SEGMENTS, OP_FLUSH_DISKCACHE, OP_READ, OP_WRITE, OP_WRITE_BARRIER, REQ_HANDLE,
    REQ_ID, REQ_NR_SEGMENTS, REQ_OPERATION, REQ_SECTOR, REQ_SEGMENTS, RESPONSE_SIZE, RING_ENTRIES,
    RSP_EOPNOTSUPP, RSP_ID, RSP_OKAY, RSP_STATUS, SECTOR_SIZE, SEG_FIRST, SEG_GREF, SEG_LAST,
    SEGMENT_SIZE,
};
use xenbus::ring::FrontRing;
use xenbus::{
    Bus, DomainId, EventChannel, FrontendHandshake, GrantedPage, PeerMemory, Platform, Port,
    Publish, Step, Store, XenbusState,
};

/// VDISK_READONLY in the backend's `info` bitmap (io/blkif.h).
const VDISK_READONLY: u32 = 0x4;
/// The ABI name of our ring layout (io/protocols.h XEN_IO_PROTO_ABI_X86_64).
const PROTOCOL: &str = "x86_64-abi";
/// Bytes one request moves at most: 11 segments of a page.
const REQUEST_BYTES: usize = MAX_SEGMENTS * PAGE_SIZE;
/// Handshake steps applied per evaluation.
const MAX_STEPS: usize = 4;

/// The common prefix of every watch token a [`Blkfront`] sets: an idle loop that
/// calls [`Blkfront::poll`] wakes for it (`xenbus::control::Service::watches`).
pub const WATCH_PREFIX: &str = "blkfront:";

/// How the frontend is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Data pages granted to the backend for the connection's life (requests in
    /// flight share them; 64 pages let 5 full-size requests fly together).
    pub buffer_pages: usize,
    /// How long one call (handshake or transfer) may take.
    pub timeout_ns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self { buffer_pages: 64, timeout_ns: 30_000_000_000 }
    }
}

/// How the backend makes writes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Neither feature offered: completed writes are taken as durable (a backend
    /// without a write cache; Linux does the same).
    None,
    /// `feature-flush-cache`: BLKIF_OP_FLUSH_DISKCACHE.
    FlushCache,
    /// `feature-barrier`: an empty BLKIF_OP_WRITE_BARRIER.
    Barrier,
}

/// What the backend says about the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskInfo {
    /// Size in 512-byte sectors (`sectors`; we do not advertise
    /// `feature-large-sector-size`, so the unit is 512, io/blkif.h).
    pub sectors: u64,
    /// The logical block size (`sector-size`): the granularity of the disk's
    /// writes, hence of our read-modify-write.
    pub sector_size: u32,
    /// `info` (VDISK_* bits).
    pub info: u32,
    /// The flush method.
    pub flush: Flush,
}

impl DiskInfo {
    /// The disk's size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.sectors.saturating_mul(SECTOR_SIZE as u64)
    }

    /// True if the backend marked the disk read-only.
    pub fn read_only(&self) -> bool {
        self.info & VDISK_READONLY != 0
    }
}

/// The domain's disks: `device/vbd/<id>` nodes, in id order.
pub fn discover<P: Platform>(bus: &Bus<P>) -> Result<Vec<String>, Error> {
    let names = match bus.store().directory("device/vbd") {
        Ok(names) => names,
        Err(e) if e.is_no_entry() => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut ids: Vec<u64> = names.iter().filter_map(|n| xenbus::wire::parse_decimal(n)).collect();
    ids.sort_unstable();
    Ok(ids.into_iter().map(|id| format!("device/vbd/{id}")).collect())
}

struct Backend {
    id: DomainId,
    path: String,
}

struct Connection<P: Platform> {
    ring: GrantedPage<P>,
    front: FrontRing,
    channel: EventChannel<P>,
    buffers: Vec<GrantedPage<P>>,
    free: Vec<usize>,
}

/// The caller's side of one transfer.
enum Data<'a> {
    /// Fill this.
    Read(&'a mut [u8]),
    /// Send this.
    Write(&'a [u8]),
    /// Nothing (flush).
    None,
}

impl Data<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Read(b) => b.len(),
            Self::Write(b) => b.len(),
            Self::None => 0,
        }
    }
}

/// A request in flight: where its data goes and which buffer pages it holds.
struct Flight {
    /// Byte offset of its data in the caller's buffer.
    offset: usize,
    /// Bytes it moves.
    len: usize,
    pages: Vec<usize>,
}

/// One disk.
pub struct Blkfront<P: Platform> {
    bus: Rc<Bus<P>>,
    node: String,
    token: String,
    config: Config,
    handshake: FrontendHandshake,
    backend: Backend,
    watched: Option<String>,
    vdev: u16,
    connection: Option<Connection<P>>,
    info: Option<DiskInfo>,
    failure: Option<Error>,
    next_id: u64,
}

impl<P: Platform> fmt::Debug for Blkfront<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blkfront")
            .field("node", &self.node)
            .field("state", &self.handshake.state())
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<P: Platform> Blkfront<P> {
    /// Opens the disk at `node` (e.g. `device/vbd/768`) and connects, waiting at most
    /// the configured timeout.
    pub fn open(bus: Rc<Bus<P>>, node: &str, config: Config) -> Result<Self, Error> {
        let backend = read_backend(&bus, node)?;
        let vdev = {
            let mut store = bus.store();
            let text = store.try_read(&format!("{node}/virtual-device"))?;
            let text = text.or_else(|| node.rsplit('/').next().map(ToString::to_string));
            text.and_then(|t| xenbus::wire::parse_decimal(&t)).and_then(|v| u16::try_from(v).ok())
        };
        let mut disk = Self {
            bus,
            node: node.to_string(),
            token: format!("{WATCH_PREFIX}{node}"),
            config,
            handshake: FrontendHandshake::new(Publish::Initialised),
            backend,
            watched: None,
            vdev: vdev.unwrap_or(0),
            connection: None,
            info: None,
            failure: None,
            next_id: 1,
        };
        disk.watch_backend()?;
        let deadline = disk.bus.deadline_after(disk.config.timeout_ns);
        disk.connect(deadline)?;
        Ok(disk)
    }

    /// The disk's parameters, while connected.
    pub fn info(&self) -> Option<DiskInfo> {
        self.info
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.handshake.is_connected() && self.connection.is_some() && self.info.is_some()
    }

    /// The ports to wait on besides the xenstore port.
    pub fn ports(&self) -> Vec<Port> {
        self.connection.iter().map(|c| c.channel.port()).collect()
    }

    /// Follows the backend's state changes. Never waits except for xenstore
    /// requests.
    pub fn poll(&mut self) {
        let mut changed = false;
        while self.bus.store().next_event(&self.token).is_some() {
            changed = true;
        }
        if changed || !self.is_connected() {
            self.evaluate();
        }
    }

    /// Drives the handshake until connected or `deadline_ns`.
    pub fn connect(&mut self, deadline_ns: u64) -> Result<DiskInfo, Error> {
        self.failure = None;
        loop {
            self.poll();
            if let (true, Some(info)) = (self.is_connected(), self.info) {
                return Ok(info);
            }
            if let Some(failure) = self.failure.take() {
                return Err(failure);
            }
            if !self.bus.wait(&self.ports(), &[&self.token], deadline_ns) {
                return Err(Error::Timeout);
            }
        }
    }

    fn ensure_connected(&mut self) -> Result<(DiskInfo, u64), Error> {
        let deadline = self.bus.deadline_after(self.config.timeout_ns);
        self.poll();
        let info = match self.info.filter(|_| self.is_connected()) {
            Some(info) => info,
            None => self.connect(deadline)?,
        };
        Ok((info, deadline))
    }

    /// Reads `out.len()` bytes at byte `offset`.
    pub fn read(&mut self, offset: u64, out: &mut [u8]) -> Result<(), Error> {
        if out.is_empty() {
            return Ok(());
        }
        let (info, deadline) = self.ensure_connected()?;
        let (start, end) = span(&info, offset, out.len())?;
        if start == offset && end - start == out.len() as u64 {
            return self.transfer(OP_READ, start, Data::Read(out), deadline);
        }
        let mut block = vec![0u8; to_len(end - start)?];
        self.transfer(OP_READ, start, Data::Read(&mut block), deadline)?;
        let skip = to_len(offset - start)?;
        out.copy_from_slice(block.get(skip..skip + out.len()).ok_or(Error::OutOfRange)?);
        Ok(())
    }

    /// Writes `data` at byte `offset`. Partial blocks at either end are read first
    /// and merged (read-modify-write), since the disk writes whole blocks.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        let (info, deadline) = self.ensure_connected()?;
        if info.read_only() {
            return Err(Error::ReadOnly);
        }
        let (start, end) = span(&info, offset, data.len())?;
        let length = data.len() as u64;
        if start == offset && end == offset + length {
            return self.transfer(OP_WRITE, start, Data::Write(data), deadline);
        }
        let block = u64::from(info.sector_size);
        let mut merged = vec![0u8; to_len(end - start)?];
        let block_len = to_len(block)?;
        if offset != start {
            let head = merged.get_mut(..block_len).ok_or(Error::OutOfRange)?;
            self.transfer(OP_READ, start, Data::Read(head), deadline)?;
        }
        let tail_start = end - block;
        if offset + length != end && (tail_start != start || offset == start) {
            let at = to_len(tail_start - start)?;
            let tail = merged.get_mut(at..at + block_len).ok_or(Error::OutOfRange)?;
            self.transfer(OP_READ, tail_start, Data::Read(tail), deadline)?;
        }
        let skip = to_len(offset - start)?;
        merged.get_mut(skip..skip + data.len()).ok_or(Error::OutOfRange)?.copy_from_slice(data);
        self.transfer(OP_WRITE, start, Data::Write(&merged), deadline)
    }

    /// Makes completed writes durable (flush-cache or barrier, whichever the backend
    /// offers; nothing to do if it offers neither). A backend that then refuses the
    /// operation (EOPNOTSUPP) gets it switched off, as Linux does, and the caller
    /// gets [`Error::Unsupported`] this once.
    pub fn flush(&mut self) -> Result<(), Error> {
        let (info, deadline) = self.ensure_connected()?;
        let operation = match info.flush {
            Flush::None => return Ok(()),
            Flush::FlushCache => OP_FLUSH_DISKCACHE,
            Flush::Barrier => OP_WRITE_BARRIER,
        };
        let result = self.transfer(operation, 0, Data::None, deadline);
        if result == Err(Error::Unsupported) {
            xenbus::log!(
                self.bus.platform(),
                Warn,
                "blkfront: {}: flush refused; disabled",
                self.node
            );
            if let Some(info) = self.info.as_mut() {
                info.flush = Flush::None;
            }
        }
        result
    }

    // ---- The request engine ----

    /// Moves `data` to or from the disk at byte `start` (block-aligned), as many
    /// requests in flight at once as the ring and the buffer pages allow.
    fn transfer(
        &mut self,
        operation: u8,
        start: u64,
        mut data: Data<'_>,
        deadline: u64,
    ) -> Result<(), Error> {
        let total = data.len();
        // (byte offset in `data`, length) per request; a flush is one empty request.
        let chunks: Vec<(usize, usize)> = if total == 0 {
            vec![(0, 0)]
        } else {
            (0..total).step_by(REQUEST_BYTES).map(|o| (o, (total - o).min(REQUEST_BYTES))).collect()
        };
        let mut next = 0;
        let mut flights: BTreeMap<u64, Flight> = BTreeMap::new();
        let mut failure: Option<Error> = None;
        loop {
            let Some(connection) = self.connection.as_mut() else {
                return Err(Error::Disconnected);
            };
            // Submit what fits.
            let mut queued = false;
            while failure.is_none() {
                let Some(&(offset, len)) = chunks.get(next) else { break };
                let pages = len.div_ceil(PAGE_SIZE);
                if connection.free.len() < pages || connection.front.free_requests() == 0 {
                    break;
                }
                let id = self.next_id;
                self.next_id = self.next_id.wrapping_add(1);
                let sector = (start + offset as u64) / SECTOR_SIZE as u64;
                let bytes = match &data {
                    Data::Write(b) => b.get(offset..offset + len),
                    _ => None,
                };
                let flight = submit(connection, operation, self.vdev, id, sector, len, bytes)?;
                flights.insert(id, Flight { offset, len, pages: flight });
                next += 1;
                queued = true;
            }
            if queued
                && connection
                    .front
                    .push_requests(connection.ring.memory())
                    .map_err(xenbus::Error::from)?
            {
                connection.channel.notify();
            }
            if flights.is_empty() && (next == chunks.len() || failure.is_some()) {
                return failure.map_or(Ok(()), Err);
            }
            // Collect what is done, in whatever order the backend finished it.
            let waiting = match connection.front.final_check(connection.ring.memory()) {
                Ok(waiting) => waiting,
                Err(e) => return Err(self.give_up(Error::Protocol, &e)),
            };
            for _ in 0..waiting {
                let Some(connection) = self.connection.as_mut() else { break };
                let offset = connection.front.take_response();
                let mut response = [0u8; RESPONSE_SIZE];
                connection
                    .ring
                    .memory()
                    .read(offset, &mut response)
                    .map_err(xenbus::Error::from)?;
                let id = u64::from_ne_bytes(field(&response, RSP_ID));
                let status = i16::from_ne_bytes(field(&response, RSP_STATUS));
                let Some(flight) = flights.remove(&id) else {
                    return Err(self.give_up(Error::Protocol, &"response for an unknown request"));
                };
                let connection = self.connection.as_mut().ok_or(Error::Disconnected)?;
                if status == RSP_OKAY {
                    if let Data::Read(out) = &mut data {
                        copy_out(connection, &flight, out)?;
                    }
                } else if failure.is_none() {
                    failure =
                        Some(if status == RSP_EOPNOTSUPP { Error::Unsupported } else { Error::Io });
                }
                connection.free.extend_from_slice(&flight.pages);
            }
            if waiting > 0 {
                continue;
            }
            let ports = self.ports();
            if !self.bus.wait(&ports, &[&self.token], deadline) {
                return Err(self.give_up(Error::Timeout, &"backend did not answer in time"));
            }
            if let Some(connection) = self.connection.as_ref() {
                connection.channel.take_pending();
            }
            // The backend may have closed meanwhile.
            self.poll();
        }
    }

    /// Abandons the connection after a timeout or a protocol violation: the ring
    /// cannot be trusted any more. Pages the backend still maps are leaked by their
    /// grants' drop, never reused.
    fn give_up(&mut self, error: Error, why: &dyn fmt::Display) -> Error {
        xenbus::log!(
            self.bus.platform(),
            Error,
            "blkfront: {}: {why}; connection abandoned",
            self.node
        );
        let step = self.handshake.abandon();
        self.apply(step, XenbusState::Unknown);
        error
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
        let step = self.handshake.observe(backend_state);
        self.apply(step, backend_state);
    }

    fn apply(&mut self, mut step: Step, backend_state: XenbusState) {
        for _ in 0..MAX_STEPS {
            if step.disconnect {
                self.connection = None;
                self.info = None;
            }
            if let Some(state) = step.switch {
                let path = format!("{}/state", self.node);
                if let Err(e) = self.bus.store().write(&path, &state.number().to_string()) {
                    xenbus::log!(
                        self.bus.platform(),
                        Warn,
                        "blkfront: {}: cannot set state: {e}",
                        self.node
                    );
                }
            }
            if !step.connect {
                return;
            }
            let result = if self.handshake.is_set_up() { self.read_info() } else { self.setup() };
            if let Err(e) = result {
                xenbus::log!(
                    self.bus.platform(),
                    Warn,
                    "blkfront: {}: cannot connect: {e}",
                    self.node
                );
                self.failure = Some(e);
                self.connection = None;
                self.info = None;
            }
            step = self.handshake.connected(result.is_ok(), backend_state);
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

    /// A fresh ring, port and buffer pool, published in one transaction.
    fn setup(&mut self) -> Result<(), Error> {
        self.connection = None;
        self.backend = read_backend(&self.bus, &self.node)?;
        self.watch_backend()?;
        let domain = self.backend.id;
        let ring = self.bus.share_page(domain, false)?;
        let front = FrontRing::init(ring.memory(), RING_ENTRIES, ENTRY_SIZE)
            .map_err(xenbus::Error::from)?;
        let channel = EventChannel::alloc_unbound(self.bus.platform().clone(), domain)
            .map_err(xenbus::Error::from)?;
        let buffers = (0..self.config.buffer_pages.max(MAX_SEGMENTS))
            .map(|_| self.bus.share_page(domain, false))
            .collect::<Result<Vec<_>, _>>()?;
        let node = &self.node;
        let (reference, port) = (ring.reference().0.to_string(), channel.port().0.to_string());
        self.bus.store().transaction(|tx| {
            tx.write(&format!("{node}/ring-ref"), &reference)?;
            tx.write(&format!("{node}/event-channel"), &port)?;
            tx.write(&format!("{node}/protocol"), PROTOCOL)
        })?;
        let free = (0..buffers.len()).rev().collect();
        self.connection = Some(Connection { ring, front, channel, buffers, free });
        Ok(())
    }

    /// The backend's parameters, checked.
    fn read_info(&mut self) -> Result<(), Error> {
        let path = &self.backend.path;
        let mut store = self.bus.store();
        let sectors =
            store.read_number(&format!("{path}/sectors")).map_err(|_| Error::BadBackend)?;
        let number = |store: &mut xenbus::Xenstore<P>, key: &str, default: u64| match store
            .try_read(&format!("{path}/{key}"))
        {
            Ok(Some(text)) => xenbus::wire::parse_decimal(&text).ok_or(Error::BadBackend),
            Ok(None) => Ok(default),
            Err(e) => Err(Error::Xenbus(e)),
        };
        let info = u32::try_from(number(&mut store, "info", 0)?).map_err(|_| Error::BadBackend)?;
        let sector_size = u32::try_from(number(&mut store, "sector-size", 512)?)
            .map_err(|_| Error::BadBackend)?;
        let flush_cache = number(&mut store, "feature-flush-cache", 0)? == 1;
        let barrier = number(&mut store, "feature-barrier", 0)? == 1;
        drop(store);
        let valid_size = sector_size.is_power_of_two() && (512..=4096).contains(&sector_size);
        let info = DiskInfo {
            sectors,
            sector_size,
            info,
            flush: if flush_cache {
                Flush::FlushCache
            } else if barrier {
                Flush::Barrier
            } else {
                Flush::None
            },
        };
        if !valid_size || sectors.checked_mul(SECTOR_SIZE as u64).is_none() {
            return Err(Error::BadBackend);
        }
        if !info.size_bytes().is_multiple_of(u64::from(sector_size)) {
            return Err(Error::BadBackend);
        }
        xenbus::log!(
            self.bus.platform(),
            Info,
            "blkfront: {}: {} MiB, {}-byte blocks, flush {:?}",
            self.node,
            info.size_bytes() >> 20,
            sector_size,
            info.flush
        );
        self.info = Some(info);
        Ok(())
    }
}

impl<P: Platform> Drop for Blkfront<P> {
    fn drop(&mut self) {
        if self.watched.is_some()
            && let Some(mut store) = self.bus.try_store()
        {
            let _ = store.unwatch(&self.token);
        }
    }
}

/// Writes one request into the ring (the whole entry in one copy) and returns the
/// buffer pages it holds. `bytes` is the data of a write.
fn submit<P: Platform>(
    connection: &mut Connection<P>,
    operation: u8,
    vdev: u16,
    id: u64,
    sector: u64,
    len: usize,
    bytes: Option<&[u8]>,
) -> Result<Vec<usize>, Error> {
    let segments = len.div_ceil(PAGE_SIZE);
    let mut entry = [0u8; ENTRY_SIZE];
    put(&mut entry, REQ_OPERATION, &[operation]);
    put(&mut entry, REQ_NR_SEGMENTS, &[u8::try_from(segments).map_err(|_| Error::OutOfRange)?]);
    put(&mut entry, REQ_HANDLE, &vdev.to_ne_bytes());
    put(&mut entry, REQ_ID, &id.to_ne_bytes());
    put(&mut entry, REQ_SECTOR, &sector.to_ne_bytes());
    let mut pages = Vec::with_capacity(segments);
    for segment in 0..segments {
        let index = connection.free.pop().ok_or(Error::OutOfRange)?;
        pages.push(index);
        let page = connection.buffers.get(index).ok_or(Error::OutOfRange)?;
        let seg_len = (len - segment * PAGE_SIZE).min(PAGE_SIZE);
        if let Some(bytes) = bytes {
            let from = segment * PAGE_SIZE;
            let chunk = bytes.get(from..from + seg_len).ok_or(Error::OutOfRange)?;
            page.memory().write(0, chunk).map_err(xenbus::Error::from)?;
        }
        // Whole 512-byte sectors of the page, from its start.
        let last = u8::try_from(seg_len / SECTOR_SIZE - 1).map_err(|_| Error::OutOfRange)?;
        let at = REQ_SEGMENTS + segment * SEGMENT_SIZE;
        put(&mut entry, at + SEG_GREF, &page.reference().0.to_ne_bytes());
        put(&mut entry, at + SEG_FIRST, &[0]);
        put(&mut entry, at + SEG_LAST, &[last]);
    }
    let offset = connection.front.next_request().ok_or(Error::Protocol)?;
    connection.ring.memory().write(offset, &entry).map_err(xenbus::Error::from)?;
    Ok(pages)
}

/// Copies a completed read out of its buffer pages.
fn copy_out<P: Platform>(
    connection: &Connection<P>,
    flight: &Flight,
    out: &mut [u8],
) -> Result<(), Error> {
    for (segment, index) in flight.pages.iter().enumerate() {
        let page = connection.buffers.get(*index).ok_or(Error::Protocol)?;
        let from = flight.offset + segment * PAGE_SIZE;
        let seg_len = (flight.len - segment * PAGE_SIZE).min(PAGE_SIZE);
        let target = out.get_mut(from..from + seg_len).ok_or(Error::OutOfRange)?;
        page.memory().read(0, target).map_err(xenbus::Error::from)?;
    }
    Ok(())
}

fn put(entry: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(target) = entry.get_mut(at..at + bytes.len()) {
        target.copy_from_slice(bytes);
    }
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(source) = bytes.get(at..at + N) {
        out.copy_from_slice(source);
    }
    out
}

/// The block-aligned byte span covering `len` bytes at `offset`, checked against the
/// disk's size.
fn span(info: &DiskInfo, offset: u64, len: usize) -> Result<(u64, u64), Error> {
    let block = u64::from(info.sector_size);
    let end = offset.checked_add(len as u64).ok_or(Error::OutOfRange)?;
    if end > info.size_bytes() {
        return Err(Error::OutOfRange);
    }
    let start = offset - offset % block;
    let end = end.checked_next_multiple_of(block).ok_or(Error::OutOfRange)?;
    Ok((start, end))
}

fn to_len(value: u64) -> Result<usize, Error> {
    usize::try_from(value).map_err(|_| Error::OutOfRange)
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
