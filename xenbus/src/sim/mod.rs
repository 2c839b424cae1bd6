//! An in-memory Xen for host tests: domains, event channels, grant tables, pages, a
//! fake xenstored, and scripted peers ("actors"), all single-threaded and
//! deterministic.
//!
//! A [`Sim`] holds the world; [`Sim::domain`] gives a [`SimDomain`], which implements
//! [`Platform`] for one domain exactly as the runtime does for real Xen. Time only moves
//! when a domain waits with nothing pending (it jumps to the deadline or to the next
//! actor wake-up), so timeouts are tested instantly. Fake peers act on the [`World`]
//! directly: as the toolstack (xenstore writes), as another domain (granting pages,
//! mapping ours, binding ports), or as an [`Actor`] stepped whenever a domain waits.
//!
//! Grant mapping follows Xen: the grantor's table entry must permit access for the
//! mapper (read-only entries refuse writable maps), and GTF_reading/GTF_writing are set
//! while mapped, so ending a grant that is still mapped fails as it would on Xen. The
//! world counts pages freed while mapped and pages leaked, for tests to assert on.

mod memory;
mod xenstored;

pub use memory::{Fetch, HeapMemory, HostileMemory, Mutator, SimMemory};
pub use xenstored::{FakeXenstored, Injection, resolve};

use crate::Bus;
use crate::abi::PAGE_SIZE;
use crate::abi::grant::{
    DOMID, ENTRY_SIZE, FLAGS, FRAME, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_WRITING,
    NR_RESERVED_ENTRIES,
};
use crate::platform::{
    Clock, DomainId, EventChannels, GrantRef, Level, Log, OutOfBounds, OwnPage, PeerMemory,
    Platform, PlatformError, Port,
};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::rc::{Rc, Weak};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{RefCell, RefMut};
use core::fmt;

/// Grant-table pages each simulated domain gets (512 entries each).
const GRANT_TABLE_PAGES: usize = 4;
/// Service rounds per wait before the simulator gives up on reaching quiescence.
const MAX_ROUNDS: u32 = 100_000;

const EINVAL: PlatformError = PlatformError(22);
const EPERM: PlatformError = PlatformError(1);
const ENOENT: PlatformError = PlatformError(2);

/// A scripted peer, stepped whenever a simulated domain waits.
pub trait Actor {
    /// Does whatever the peer does now; true if it changed anything.
    fn step(&mut self, world: &mut World) -> bool;

    /// When the peer next wants to run on its own (a delayed answer), in ns.
    fn next_wakeup(&self) -> Option<u64> {
        None
    }
}

impl<A: Actor> Actor for Rc<RefCell<A>> {
    fn step(&mut self, world: &mut World) -> bool {
        self.borrow_mut().step(world)
    }

    fn next_wakeup(&self) -> Option<u64> {
        self.borrow().next_wakeup()
    }
}

#[derive(Clone, Copy, Debug)]
struct PortState {
    remote: u16,
    peer: Option<u32>,
    pending: bool,
}

#[derive(Clone, Copy, Debug)]
struct MapState {
    frame: u64,
    readers: u32,
    writers: u32,
}

/// One line a domain logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The domain.
    pub domain: u16,
    /// The level.
    pub level: Level,
    /// The text.
    pub text: String,
}

/// Things tests assert never (or always) happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Pages freed while another domain still had them mapped (a bug in the driver).
    pub freed_while_mapped: u32,
    /// Pages given up with `OwnPage::leak`.
    pub leaked_pages: u32,
    /// Foreign pages mapped right now.
    pub mappings: u32,
    /// Event channels open right now (all domains).
    pub open_ports: u32,
}

/// Everything the simulated domains share.
pub struct World {
    now_ns: u64,
    ports: BTreeMap<(u16, u32), PortState>,
    next_port: BTreeMap<u16, u32>,
    frames: BTreeMap<u64, SimMemory>,
    next_frame: u64,
    grant_tables: BTreeMap<u16, HeapMemory>,
    next_gref: BTreeMap<u16, u32>,
    mappings: BTreeMap<(u16, u32), MapState>,
    store_ports: BTreeMap<u16, u32>,
    store_rings: BTreeMap<u16, HeapMemory>,
    /// The fake xenstored.
    pub xenstored: FakeXenstored,
    actors: Vec<Box<dyn Actor>>,
    logs: Vec<LogLine>,
    stats: Stats,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World").field("now_ns", &self.now_ns).field("stats", &self.stats).finish()
    }
}

impl World {
    fn new() -> Self {
        Self {
            now_ns: 1_000_000_000,
            ports: BTreeMap::new(),
            next_port: BTreeMap::new(),
            frames: BTreeMap::new(),
            next_frame: 0x1000,
            grant_tables: BTreeMap::new(),
            next_gref: BTreeMap::new(),
            mappings: BTreeMap::new(),
            store_ports: BTreeMap::new(),
            store_rings: BTreeMap::new(),
            xenstored: FakeXenstored::default(),
            actors: Vec::new(),
            logs: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Simulated Xen system time.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Moves time forward.
    pub fn advance(&mut self, ns: u64) {
        self.now_ns = self.now_ns.saturating_add(ns);
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn ensure_domain(&mut self, domid: u16) {
        if self.grant_tables.contains_key(&domid) {
            return;
        }
        self.grant_tables.insert(domid, HeapMemory::new(GRANT_TABLE_PAGES * PAGE_SIZE));
        self.next_gref.insert(domid, NR_RESERVED_ENTRIES);
        self.next_port.insert(domid, 1);
        if domid != 0 {
            self.ensure_domain(0);
            let ring = HeapMemory::new(PAGE_SIZE);
            // xenstored (dom0) offers a port; the domain's is bound to it at build time.
            let daemon = self.alloc_unbound(0, domid);
            if let Ok(port) = self.bind(domid, 0, daemon) {
                self.store_ports.insert(domid, port);
            }
            self.xenstored.connect(domid, ring.clone());
            self.store_rings.insert(domid, ring);
        }
    }

    fn store_ring(&self, domid: u16) -> Option<HeapMemory> {
        self.store_rings.get(&domid).cloned()
    }

    /// The xenstore ring page of `domid` (to corrupt it in tests).
    pub fn xenstored_ring_for_tests(&self, domid: u16) -> HeapMemory {
        self.store_ring(domid).unwrap_or_else(|| HeapMemory::new(PAGE_SIZE))
    }

    /// Sets all four xenstore ring indices of `domid` to `start` (before the domain
    /// uses its ring), to run the protocol across the 2^32 wrap.
    pub fn set_store_indices(&mut self, domid: u16, start: u32) {
        use crate::abi::xenstore::{REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD};
        self.ensure_domain(domid);
        if let Some(ring) = self.store_rings.get(&domid) {
            for offset in [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD] {
                let _ = ring.write_u32(offset, start);
            }
        }
    }

    // ---- Event channels ----

    /// EVTCHNOP_alloc_unbound for `domid`.
    pub fn alloc_unbound(&mut self, domid: u16, remote: u16) -> u32 {
        let next = self.next_port.entry(domid).or_insert(1);
        let port = *next;
        *next += 1;
        self.ports.insert((domid, port), PortState { remote, peer: None, pending: false });
        self.stats.open_ports += 1;
        port
    }

    /// EVTCHNOP_bind_interdomain for `domid`.
    pub fn bind(
        &mut self,
        domid: u16,
        remote: u16,
        remote_port: u32,
    ) -> Result<u32, PlatformError> {
        let target = self.ports.get(&(remote, remote_port)).copied().ok_or(EINVAL)?;
        if target.remote != domid || target.peer.is_some() {
            return Err(EINVAL);
        }
        let port = self.alloc_unbound(domid, remote);
        if let Some(state) = self.ports.get_mut(&(domid, port)) {
            state.peer = Some(remote_port);
        }
        if let Some(state) = self.ports.get_mut(&(remote, remote_port)) {
            state.peer = Some(port);
        }
        Ok(port)
    }

    /// EVTCHNOP_send from `domid`.
    pub fn notify(&mut self, domid: u16, port: u32) {
        let Some(state) = self.ports.get(&(domid, port)).copied() else { return };
        if let Some(peer) = state.peer
            && let Some(target) = self.ports.get_mut(&(state.remote, peer))
        {
            target.pending = true;
        }
    }

    /// EVTCHNOP_close for `domid`; the other end becomes unbound again.
    pub fn close(&mut self, domid: u16, port: u32) {
        let Some(state) = self.ports.remove(&(domid, port)) else { return };
        self.stats.open_ports = self.stats.open_ports.saturating_sub(1);
        if let Some(peer) = state.peer
            && let Some(target) = self.ports.get_mut(&(state.remote, peer))
        {
            target.peer = None;
        }
    }

    /// Test-and-clear of a pending bit.
    pub fn take_pending(&mut self, domid: u16, port: u32) -> bool {
        self.ports.get_mut(&(domid, port)).is_some_and(|s| core::mem::take(&mut s.pending))
    }

    /// True if the port has an event pending.
    pub fn is_pending(&self, domid: u16, port: u32) -> bool {
        self.ports.get(&(domid, port)).is_some_and(|s| s.pending)
    }

    /// True if the port exists and is connected to a peer.
    pub fn is_connected(&self, domid: u16, port: u32) -> bool {
        self.ports.get(&(domid, port)).is_some_and(|s| s.peer.is_some())
    }

    // ---- Memory and grants ----

    fn new_frame(&mut self, memory: SimMemory) -> u64 {
        let frame = self.next_frame;
        self.next_frame += 1;
        self.frames.insert(frame, memory);
        frame
    }

    fn free_frame(&mut self, frame: u64) {
        if self.mappings.values().any(|m| m.frame == frame && m.readers + m.writers > 0) {
            self.stats.freed_while_mapped += 1;
        }
        self.frames.remove(&frame);
    }

    /// `owner` grants `memory` to `to` (as a peer domain's driver would): registers a
    /// frame and writes a valid entry into `owner`'s grant table.
    pub fn grant(&mut self, owner: u16, to: u16, memory: SimMemory, readonly: bool) -> GrantRef {
        self.ensure_domain(owner);
        let frame = self.new_frame(memory);
        let next = self.next_gref.entry(owner).or_insert(NR_RESERVED_ENTRIES);
        let reference = *next;
        *next += 1;
        if let Some(table) = self.grant_tables.get(&owner) {
            let base = reference as usize * ENTRY_SIZE;
            let flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
            let _ = table.write(base + DOMID, &to.to_ne_bytes());
            let _ = table.write_u32(base + FRAME, u32::try_from(frame).unwrap_or(0));
            let _ = table.write(base + FLAGS, &flags.to_ne_bytes());
        }
        GrantRef(reference)
    }

    /// Revokes a grant `owner` made with [`grant`](Self::grant) (if not mapped).
    pub fn end_grant(&mut self, owner: u16, reference: GrantRef) -> bool {
        if self.mappings.get(&(owner, reference.0)).is_some_and(|m| m.readers + m.writers > 0) {
            return false;
        }
        if let Some(table) = self.grant_tables.get(&owner) {
            let _ = table.write(reference.0 as usize * ENTRY_SIZE + FLAGS, &[0, 0]);
        }
        true
    }

    /// The raw grant entry `owner` has at `reference`: (flags, domid, frame).
    pub fn grant_entry(&self, owner: u16, reference: GrantRef) -> Option<(u16, u16, u32)> {
        let table = self.grant_tables.get(&owner)?;
        let base = reference.0 as usize * ENTRY_SIZE;
        let mut entry = [0u8; ENTRY_SIZE];
        table.read(base, &mut entry).ok()?;
        Some((
            u16::from_ne_bytes([entry[0], entry[1]]),
            u16::from_ne_bytes([entry[2], entry[3]]),
            u32::from_ne_bytes([entry[4], entry[5], entry[6], entry[7]]),
        ))
    }

    /// GNTTABOP_map_grant_ref by `mapper` of `owner`'s grant `reference`.
    pub fn map(
        &mut self,
        mapper: u16,
        owner: u16,
        reference: GrantRef,
        writable: bool,
    ) -> Result<SimMemory, PlatformError> {
        let (flags, domid, frame) = self.grant_entry(owner, reference).ok_or(ENOENT)?;
        if flags & GTF_PERMIT_ACCESS == 0 || domid != mapper {
            return Err(EPERM);
        }
        if writable && flags & GTF_READONLY != 0 {
            return Err(EPERM);
        }
        let frame = u64::from(frame);
        let memory = self.frames.get(&frame).cloned().ok_or(EINVAL)?;
        let state = self.mappings.entry((owner, reference.0)).or_insert(MapState {
            frame,
            readers: 0,
            writers: 0,
        });
        if writable {
            state.writers += 1;
        } else {
            state.readers += 1;
        }
        self.stats.mappings += 1;
        self.update_grant_flags(owner, reference);
        Ok(memory)
    }

    /// GNTTABOP_unmap_grant_ref.
    pub fn unmap(&mut self, owner: u16, reference: GrantRef, writable: bool) {
        if let Some(state) = self.mappings.get_mut(&(owner, reference.0)) {
            if writable {
                state.writers = state.writers.saturating_sub(1);
            } else {
                state.readers = state.readers.saturating_sub(1);
            }
            self.stats.mappings = self.stats.mappings.saturating_sub(1);
        }
        self.update_grant_flags(owner, reference);
    }

    fn update_grant_flags(&mut self, owner: u16, reference: GrantRef) {
        let (readers, writers) =
            self.mappings.get(&(owner, reference.0)).map_or((0, 0), |m| (m.readers, m.writers));
        let Some(table) = self.grant_tables.get(&owner) else { return };
        let offset = reference.0 as usize * ENTRY_SIZE + FLAGS;
        let mut bytes = [0u8; 2];
        if table.read(offset, &mut bytes).is_err() {
            return;
        }
        let mut flags = u16::from_ne_bytes(bytes) & !(GTF_READING | GTF_WRITING);
        if readers + writers > 0 {
            flags |= GTF_READING;
        }
        if writers > 0 {
            flags |= GTF_WRITING;
        }
        let _ = table.write(offset, &flags.to_ne_bytes());
    }

    // ---- Xenstore (the toolstack's view) ----

    /// Writes a node as the toolstack and fires watches.
    pub fn store_write(&mut self, path: &str, value: &str) {
        self.xenstored.write(path, value);
    }

    /// Reads a node.
    pub fn store_read(&self, path: &str) -> Option<String> {
        self.xenstored.read(path)
    }

    /// Removes a subtree as the toolstack and fires watches.
    pub fn store_rm(&mut self, path: &str) {
        self.xenstored.rm(path);
    }

    // ---- Running ----

    /// Adds a peer.
    pub fn add_actor(&mut self, actor: Box<dyn Actor>) {
        self.actors.push(actor);
    }

    /// Serves xenstore and steps every actor until nothing changes.
    pub fn run(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let mut progress = false;
            for domid in self.xenstored.service() {
                progress = true;
                if let Some(port) = self.store_ports.get(&domid).copied()
                    && let Some(state) = self.ports.get_mut(&(domid, port))
                {
                    state.pending = true;
                }
            }
            let mut actors = core::mem::take(&mut self.actors);
            for actor in &mut actors {
                progress |= actor.step(self);
            }
            actors.append(&mut self.actors);
            self.actors = actors;
            if !progress {
                return;
            }
        }
    }

    fn next_wakeup(&self) -> Option<u64> {
        self.actors.iter().filter_map(|a| a.next_wakeup()).filter(|t| *t > self.now_ns).min()
    }

    /// Log lines so far.
    pub fn logs(&self) -> &[LogLine] {
        &self.logs
    }
}

/// The simulator: a shared world.
#[derive(Clone)]
pub struct Sim {
    world: Rc<RefCell<World>>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.world.borrow().fmt(f)
    }
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

impl Sim {
    /// An empty world (dom0 is xenstored and the toolstack).
    pub fn new() -> Self {
        let mut world = World::new();
        world.ensure_domain(0);
        Self { world: Rc::new(RefCell::new(world)) }
    }

    /// The world, for fake peers and assertions. Do not hold the guard across calls
    /// into a driver.
    pub fn world(&self) -> RefMut<'_, World> {
        self.world.borrow_mut()
    }

    /// Domain `domid`'s platform (the domain is created with its xenstore connection
    /// and grant table on first use).
    pub fn domain(&self, domid: u16) -> SimDomain {
        self.world.borrow_mut().ensure_domain(domid);
        SimDomain { world: Rc::clone(&self.world), domid }
    }

    /// A bus for domain `domid`, as the runtime builds one at boot.
    pub fn bus(&self, domid: u16) -> Rc<Bus<SimDomain>> {
        let domain = self.domain(domid);
        let (ring, port, table) = {
            let world = self.world.borrow();
            (
                world.store_ring(domid).unwrap_or_else(|| HeapMemory::new(PAGE_SIZE)),
                Port(world.store_ports.get(&domid).copied().unwrap_or(0)),
                world.grant_tables.get(&domid).cloned().unwrap_or_else(|| HeapMemory::new(0)),
            )
        };
        Rc::new(Bus::new(domain, ring, port, table))
    }

    /// Adds a peer stepped on every wait.
    pub fn add_actor(&self, actor: impl Actor + 'static) {
        self.world.borrow_mut().add_actor(Box::new(actor));
    }

    /// Serves xenstore and steps actors until quiescent.
    pub fn run(&self) {
        self.world.borrow_mut().run();
    }

    /// Moves time forward.
    pub fn advance(&self, ns: u64) {
        self.world.borrow_mut().advance(ns);
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.world.borrow().stats
    }

    /// Log lines so far, formatted "level: text".
    pub fn logs(&self) -> Vec<LogLine> {
        self.world.borrow().logs.clone()
    }

    /// True if some log line of `domid` contains `text`.
    pub fn logged(&self, domid: u16, text: &str) -> bool {
        self.world.borrow().logs.iter().any(|l| l.domain == domid && l.text.contains(text))
    }
}

/// One simulated domain's [`Platform`].
#[derive(Clone)]
pub struct SimDomain {
    world: Rc<RefCell<World>>,
    domid: u16,
}

impl fmt::Debug for SimDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDomain").field("domid", &self.domid).finish()
    }
}

impl SimDomain {
    /// The domain's id.
    pub fn id(&self) -> DomainId {
        DomainId(self.domid)
    }

    /// The simulator this domain lives in.
    pub fn sim(&self) -> Sim {
        Sim { world: Rc::clone(&self.world) }
    }
}

impl Clock for SimDomain {
    fn now_ns(&self) -> u64 {
        self.world.borrow().now_ns
    }
}

impl EventChannels for SimDomain {
    fn alloc_unbound(&self, remote: DomainId) -> Result<Port, PlatformError> {
        Ok(Port(self.world.borrow_mut().alloc_unbound(self.domid, remote.0)))
    }

    fn bind_interdomain(&self, remote: DomainId, remote_port: u32) -> Result<Port, PlatformError> {
        self.world.borrow_mut().bind(self.domid, remote.0, remote_port).map(Port)
    }

    fn notify(&self, port: Port) {
        self.world.borrow_mut().notify(self.domid, port.0);
    }

    fn close(&self, port: Port) {
        self.world.borrow_mut().close(self.domid, port.0);
    }

    fn take_pending(&self, port: Port) -> bool {
        self.world.borrow_mut().take_pending(self.domid, port.0)
    }

    fn wait(&self, ports: &[Port], deadline_ns: u64) -> bool {
        for _ in 0..MAX_ROUNDS {
            let mut world = self.world.borrow_mut();
            world.run();
            if ports.iter().any(|p| world.is_pending(self.domid, p.0)) {
                return true;
            }
            if world.now_ns >= deadline_ns {
                return false;
            }
            let next = world.next_wakeup().filter(|t| *t < deadline_ns).unwrap_or(deadline_ns);
            world.now_ns = next;
        }
        false
    }
}

impl Log for SimDomain {
    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        let text = alloc::format!("{args}");
        self.world.borrow_mut().logs.push(LogLine { domain: self.domid, level, text });
    }
}

impl Platform for SimDomain {
    type Shared = HeapMemory;
    type Page = SimPage;
    type Mapping = SimMapping;

    fn alloc_page(&self) -> Result<SimPage, PlatformError> {
        let memory = HeapMemory::new(PAGE_SIZE);
        let frame = self.world.borrow_mut().new_frame(SimMemory::Heap(memory.clone()));
        Ok(SimPage { memory, frame, world: Rc::downgrade(&self.world), leaked: false })
    }

    fn map_grant(
        &self,
        domain: DomainId,
        reference: GrantRef,
        writable: bool,
    ) -> Result<SimMapping, PlatformError> {
        let memory = self.world.borrow_mut().map(self.domid, domain.0, reference, writable)?;
        Ok(SimMapping {
            memory,
            world: Rc::downgrade(&self.world),
            owner: domain.0,
            reference,
            writable,
        })
    }
}

/// A page of a simulated domain.
pub struct SimPage {
    memory: HeapMemory,
    frame: u64,
    world: Weak<RefCell<World>>,
    leaked: bool,
}

impl fmt::Debug for SimPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimPage").field("frame", &self.frame).finish()
    }
}

impl SimPage {
    /// The page's bytes (a handle sharing them).
    pub fn memory(&self) -> &HeapMemory {
        &self.memory
    }
}

impl Drop for SimPage {
    fn drop(&mut self) {
        if self.leaked {
            return;
        }
        if let Some(world) = self.world.upgrade() {
            world.borrow_mut().free_frame(self.frame);
        }
    }
}

macro_rules! forward_memory {
    ($ty:ty, $field:ident) => {
        impl PeerMemory for $ty {
            fn len(&self) -> usize {
                self.$field.len()
            }
            fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), OutOfBounds> {
                self.$field.read(offset, out)
            }
            fn write(&self, offset: usize, data: &[u8]) -> Result<(), OutOfBounds> {
                self.$field.write(offset, data)
            }
            fn read_u32(&self, offset: usize) -> Result<u32, OutOfBounds> {
                self.$field.read_u32(offset)
            }
            fn write_u32(&self, offset: usize, value: u32) -> Result<(), OutOfBounds> {
                self.$field.write_u32(offset, value)
            }
            fn compare_exchange_u16(
                &self,
                offset: usize,
                current: u16,
                new: u16,
            ) -> Result<Result<u16, u16>, OutOfBounds> {
                self.$field.compare_exchange_u16(offset, current, new)
            }
        }
    };
}

forward_memory!(SimPage, memory);
forward_memory!(SimMapping, memory);

impl OwnPage for SimPage {
    fn frame(&self) -> u64 {
        self.frame
    }

    fn leak(mut self) {
        self.leaked = true;
        if let Some(world) = self.world.upgrade() {
            world.borrow_mut().stats.leaked_pages += 1;
        }
    }
}

/// A foreign page mapped into a simulated domain; unmapped on drop.
pub struct SimMapping {
    memory: SimMemory,
    world: Weak<RefCell<World>>,
    owner: u16,
    reference: GrantRef,
    writable: bool,
}

impl fmt::Debug for SimMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimMapping")
            .field("owner", &self.owner)
            .field("reference", &self.reference)
            .finish()
    }
}

impl SimMapping {
    /// The mapped bytes.
    pub fn memory(&self) -> &SimMemory {
        &self.memory
    }
}

impl Drop for SimMapping {
    fn drop(&mut self) {
        if let Some(world) = self.world.upgrade() {
            world.borrow_mut().unmap(self.owner, self.reference, self.writable);
        }
    }
}
