//! A blkback for the simulator (feature `test-utils`).
//!
//! It plays the toolstack (the vbd's xenstore nodes) and Linux's blkback: InitWait at
//! once, connect when the frontend is Initialised (map the ring, bind the port,
//! publish `sectors`, `info`, `sector-size` and the flush feature, Connected), serve
//! requests from a byte vector, follow the frontend's Closing/Closed, and prepare for
//! reconnect when the frontend says Initialising again. It checks what the frontend
//! sends (segments, sector ranges, ring indices) and records violations. Knobs
//! reorder completions, fail requests, refuse flushes, hold answers, or make it
//! vanish.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ops::Range;
use xenbus::abi::PAGE_SIZE;
use xenbus::abi::blkif::{
    ENTRY_SIZE, MAX_SEGMENTS, OP_FLUSH_DISKCACHE, OP_READ, OP_WRITE, OP_WRITE_BARRIER, REQ_ID,
    REQ_NR_SEGMENTS, REQ_OPERATION, REQ_SECTOR, REQ_SEGMENTS, RESPONSE_SIZE, RING_ENTRIES,
    RSP_EOPNOTSUPP, RSP_ERROR, RSP_ID, RSP_OKAY, RSP_OPERATION, RSP_STATUS, SECTOR_SIZE, SEG_FIRST,
    SEG_GREF, SEG_LAST, SEGMENT_SIZE,
};
use xenbus::ring::BackRing;
use xenbus::sim::{Actor, Sim, SimMemory, World};
use xenbus::{GrantRef, PeerMemory, XenbusState};

struct Link {
    ring: SimMemory,
    reference: GrantRef,
    port: u32,
    back: BackRing,
}

/// The fake backend. Add it with [`FakeBlkback::attach`]; keep the handle to turn its
/// knobs and look at the disk.
pub struct FakeBlkback {
    /// Backend domain.
    pub domain: u16,
    /// Frontend domain.
    pub frontend: u16,
    /// `/local/domain/<be>/backend/vbd/<fe>/<vdev>`.
    pub backend_path: String,
    /// `/local/domain/<fe>/device/vbd/<vdev>`.
    pub frontend_path: String,
    /// The disk's bytes.
    pub disk: Vec<u8>,
    /// Published `sector-size`.
    pub sector_size: u32,
    /// Published `info`.
    pub info: u32,
    /// Which flush feature to offer: "feature-flush-cache", "feature-barrier" or none.
    pub flush_feature: Option<&'static str>,
    /// Complete each batch of requests in reverse order.
    pub reorder: bool,
    /// Fail (BLKIF_RSP_ERROR) requests touching these bytes of the disk.
    pub fail_bytes: Option<Range<u64>>,
    /// Answer flushes and barriers with EOPNOTSUPP.
    pub refuse_flush: bool,
    /// Take requests but never answer (a hung backend).
    pub hold: bool,
    /// Do nothing at all (the backend domain is gone).
    pub dead: bool,
    /// Answer with request ids the frontend never used.
    pub bogus_ids: bool,
    /// Requests served, by operation.
    pub served: [u32; 4],
    /// The most requests seen waiting on the ring at once.
    pub max_batch: u32,
    /// Protocol violations by the frontend.
    pub violations: Vec<String>,
    /// Connections made.
    pub connections: u32,
    link: Option<Link>,
    /// Requests may be waiting without a new event (the last pass found some).
    more: bool,
}

impl core::fmt::Debug for FakeBlkback {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FakeBlkback").field("served", &self.served).finish_non_exhaustive()
    }
}

impl FakeBlkback {
    /// Creates vbd `vdev` of domain `frontend`, served by `domain` from `disk`.
    pub fn attach(
        sim: &Sim,
        domain: u16,
        frontend: u16,
        vdev: u32,
        disk: Vec<u8>,
    ) -> Rc<RefCell<Self>> {
        let frontend_path = format!("/local/domain/{frontend}/device/vbd/{vdev}");
        let backend_path = format!("/local/domain/{domain}/backend/vbd/{frontend}/{vdev}");
        {
            let mut world = sim.world();
            world.store_write(&format!("{frontend_path}/backend-id"), &format!("{domain}"));
            world.store_write(&format!("{frontend_path}/backend"), &backend_path);
            world.store_write(&format!("{frontend_path}/virtual-device"), &format!("{vdev}"));
            world.store_write(&format!("{frontend_path}/device-type"), "disk");
            world.store_write(&format!("{frontend_path}/state"), "1");
            world.store_write(&format!("{backend_path}/frontend"), &frontend_path);
            world.store_write(&format!("{backend_path}/frontend-id"), &format!("{frontend}"));
            world.store_write(&format!("{backend_path}/online"), "1");
            world.store_write(&format!("{backend_path}/state"), "1");
        }
        let backend = Rc::new(RefCell::new(Self {
            domain,
            frontend,
            backend_path,
            frontend_path,
            disk,
            sector_size: 512,
            info: 0,
            flush_feature: Some("feature-flush-cache"),
            reorder: false,
            fail_bytes: None,
            refuse_flush: false,
            hold: false,
            dead: false,
            bogus_ids: false,
            served: [0; 4],
            max_batch: 0,
            violations: Vec::new(),
            connections: 0,
            link: None,
            more: false,
        }));
        sim.add_actor(Rc::clone(&backend));
        backend
    }

    /// True while connected to a ring.
    pub fn is_linked(&self) -> bool {
        self.link.is_some()
    }

    /// Drops the connection and switches to `state`, as a backend going away does.
    pub fn go(&mut self, world: &mut World, state: XenbusState) {
        self.unlink(world);
        world.store_write(&format!("{}/state", self.backend_path), &format!("{}", state.number()));
    }

    fn unlink(&mut self, world: &mut World) {
        if let Some(link) = self.link.take() {
            world.unmap(self.frontend, link.reference, true);
            world.close(self.domain, link.port);
        }
    }

    fn state(world: &World, path: &str) -> XenbusState {
        world
            .store_read(&format!("{path}/state"))
            .map_or(XenbusState::Unknown, |v| XenbusState::parse(&v))
    }

    fn set_state(&self, world: &mut World, state: XenbusState) {
        world.store_write(&format!("{}/state", self.backend_path), &format!("{}", state.number()));
    }

    fn link(&mut self, world: &mut World) -> Option<Link> {
        let read = |key: &str| world.store_read(&format!("{}/{key}", self.frontend_path));
        let reference = GrantRef(read("ring-ref")?.parse().ok()?);
        let remote_port: u32 = read("event-channel")?.parse().ok()?;
        if read("protocol").is_some_and(|p| p != "x86_64-abi") {
            self.violations.push(format!("unexpected protocol {:?}", read("protocol")));
        }
        let ring = world.map(self.domain, self.frontend, reference, true).ok()?;
        let Ok(port) = world.bind(self.domain, self.frontend, remote_port) else {
            world.unmap(self.frontend, reference, true);
            return None;
        };
        Some(Link { ring, reference, port, back: BackRing::new(RING_ENTRIES, ENTRY_SIZE) })
    }

    fn publish_disk(&self, world: &mut World) {
        let path = &self.backend_path;
        let sectors = self.disk.len() / SECTOR_SIZE;
        world.store_write(&format!("{path}/sectors"), &format!("{sectors}"));
        world.store_write(&format!("{path}/info"), &format!("{}", self.info));
        world.store_write(&format!("{path}/sector-size"), &format!("{}", self.sector_size));
        if let Some(feature) = self.flush_feature {
            world.store_write(&format!("{path}/{feature}"), "1");
        }
    }

    /// Serves one request; returns (id, operation, status).
    fn execute(&mut self, world: &mut World, entry: &[u8; ENTRY_SIZE]) -> (u64, u8, i16) {
        let operation = entry[REQ_OPERATION];
        let segments = usize::from(entry[REQ_NR_SEGMENTS]);
        let id = u64::from_ne_bytes(entry[REQ_ID..REQ_ID + 8].try_into().unwrap_or_default());
        let sector =
            u64::from_ne_bytes(entry[REQ_SECTOR..REQ_SECTOR + 8].try_into().unwrap_or_default());
        match operation {
            OP_FLUSH_DISKCACHE | OP_WRITE_BARRIER => {
                self.served[usize::from(operation)] += 1;
                let status = if self.refuse_flush { RSP_EOPNOTSUPP } else { RSP_OKAY };
                return (id, operation, status);
            }
            OP_READ | OP_WRITE => {}
            other => {
                self.violations.push(format!("unknown operation {other}"));
                return (id, operation, RSP_ERROR);
            }
        }
        if segments == 0 || segments > MAX_SEGMENTS {
            self.violations.push(format!("{segments} segments"));
            return (id, operation, RSP_ERROR);
        }
        let Some(mut position) =
            usize::try_from(sector).ok().and_then(|s| s.checked_mul(SECTOR_SIZE))
        else {
            self.violations.push(format!("sector {sector} out of range"));
            return (id, operation, RSP_ERROR);
        };
        let first_position = position;
        let mut status = RSP_OKAY;
        for segment in 0..segments {
            let at = REQ_SEGMENTS + segment * SEGMENT_SIZE;
            let gref = GrantRef(u32::from_ne_bytes(
                entry[at + SEG_GREF..at + SEG_GREF + 4].try_into().unwrap_or_default(),
            ));
            let (first, last) =
                (usize::from(entry[at + SEG_FIRST]), usize::from(entry[at + SEG_LAST]));
            if first > last || last >= PAGE_SIZE / SECTOR_SIZE {
                self.violations.push(format!("segment sectors {first}..={last}"));
                return (id, operation, RSP_ERROR);
            }
            let len = (last - first + 1) * SECTOR_SIZE;
            let end = position.saturating_add(len);
            if end > self.disk.len() {
                self.violations.push(format!("access beyond the disk: {position}..{end}"));
                return (id, operation, RSP_ERROR);
            }
            let Ok(page) = world.map(self.domain, self.frontend, gref, operation == OP_READ) else {
                self.violations.push(format!("cannot map {gref}"));
                return (id, operation, RSP_ERROR);
            };
            let range = position..end;
            if operation == OP_READ {
                let _ = page.write(first * SECTOR_SIZE, &self.disk[range]);
            } else {
                let _ = page.read(first * SECTOR_SIZE, &mut self.disk[range]);
            }
            world.unmap(self.frontend, gref, operation == OP_READ);
            position = end;
        }
        if let Some(fail) = &self.fail_bytes
            && fail.start < position as u64
            && (first_position as u64) < fail.end
        {
            status = RSP_ERROR;
        }
        self.served[usize::from(operation)] += 1;
        (id, operation, status)
    }

    fn serve(&mut self, world: &mut World) -> bool {
        let Some(link) = self.link.as_mut() else { return false };
        // Like a real backend, sleep until the frontend notifies: a frontend that
        // forgets to (ring.h notification rule) hangs here and fails its test.
        let notified = world.take_pending(self.domain, link.port);
        if !notified && !self.more {
            return false;
        }
        if self.hold {
            self.more = true;
            return false;
        }
        let waiting = match link.back.final_check(&link.ring) {
            Ok(waiting) => waiting,
            Err(e) => {
                self.violations.push(format!("ring: {e}"));
                return false;
            }
        };
        self.more = waiting > 0;
        if waiting == 0 {
            return false;
        }
        self.max_batch = self.max_batch.max(waiting);
        let mut entries = Vec::new();
        for _ in 0..waiting {
            let Some(link) = self.link.as_mut() else { return false };
            let offset = link.back.take_request(&link.ring);
            let mut entry = [0u8; ENTRY_SIZE];
            let _ = link.ring.read(offset, &mut entry);
            entries.push(entry);
        }
        let mut results: Vec<(u64, u8, i16)> =
            entries.iter().map(|e| self.execute(world, e)).collect();
        if self.reorder {
            results.reverse();
        }
        let Some(link) = self.link.as_mut() else { return false };
        for (id, operation, status) in results {
            let id = if self.bogus_ids { id ^ 0xdead_0000 } else { id };
            let offset = link.back.next_response();
            let mut response = vec![0u8; RESPONSE_SIZE];
            response[RSP_ID..RSP_ID + 8].copy_from_slice(&id.to_ne_bytes());
            response[RSP_OPERATION] = operation;
            response[RSP_STATUS..RSP_STATUS + 2].copy_from_slice(&status.to_ne_bytes());
            let _ = link.ring.write(offset, &response);
        }
        if link.back.push_responses(&link.ring).unwrap_or(true) {
            world.notify(self.domain, link.port);
        }
        true
    }
}

impl Actor for FakeBlkback {
    fn step(&mut self, world: &mut World) -> bool {
        if self.dead {
            return false;
        }
        let ours = Self::state(world, &self.backend_path);
        let theirs = Self::state(world, &self.frontend_path);
        match (ours, theirs) {
            (XenbusState::Initialising, _) => {
                self.set_state(world, XenbusState::InitWait);
                true
            }
            (XenbusState::InitWait, XenbusState::Initialised) => {
                match self.link(world) {
                    Some(link) => {
                        self.link = Some(link);
                        self.more = true;
                        self.connections += 1;
                        self.publish_disk(world);
                        self.set_state(world, XenbusState::Connected);
                    }
                    None => self.set_state(world, XenbusState::Closed),
                }
                true
            }
            (XenbusState::Connected, XenbusState::Closing | XenbusState::Closed) => {
                self.unlink(world);
                self.set_state(world, XenbusState::Closed);
                true
            }
            (XenbusState::Closed, XenbusState::Initialising) => {
                // Linux blkback: "prepare for reconnect".
                self.set_state(world, XenbusState::InitWait);
                true
            }
            (XenbusState::Connected, _) => self.serve(world),
            _ => false,
        }
    }
}
