//! A Mini-OS-style tpmif backend for the simulator (feature `test-utils`).
//!
//! It plays the toolstack (the device's xenstore nodes as libxl writes them, specs
//! §1.6) and the backend domain as Mini-OS's tpmback does (§1.5): InitWait at once,
//! connect when the frontend is Initialised or Connected, Closing/InitWait when the
//! frontend closes. Requests are answered by a closure after an optional delay;
//! knobs make it dead, cancel-happy, or send bad lengths, and `restart` drops the
//! connection as a restarting backend would.

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use xenbus::abi::tpmif::{
    DATA, FEATURE_PROTOCOL_V2, LENGTH, LOCALITY, MAX_PACKET, STATE, STATE_CANCEL, STATE_FINISH,
    STATE_IDLE, STATE_SUBMIT,
};
use xenbus::sim::{Actor, Sim, SimMemory, World};
use xenbus::{GrantRef, PeerMemory, XenbusState};

/// Computes a response from (command, locality).
pub type Responder = Box<dyn FnMut(&[u8], u8) -> Vec<u8>>;

struct Link {
    page: SimMemory,
    reference: GrantRef,
    port: u32,
}

/// The fake backend. Add it with [`FakeBackend::attach`]; keep the returned handle to
/// turn its knobs.
pub struct FakeBackend {
    /// Backend domain.
    pub domain: u16,
    /// Frontend domain.
    pub frontend: u16,
    /// `/local/domain/<be>/backend/vtpm/<fe>/<handle>`.
    pub backend_path: String,
    /// `/local/domain/<fe>/device/vtpm/<handle>`.
    pub frontend_path: String,
    link: Option<Link>,
    responder: Responder,
    /// Answer after this long.
    pub delay_ns: u64,
    started: Option<u64>,
    /// Stops doing anything at all (a hung or destroyed backend domain).
    pub dead: bool,
    /// Answer every request with IDLE (the backend cancelled it).
    pub answer_idle: bool,
    /// Publish this length instead of the response's.
    pub bad_length: Option<u32>,
    /// Do not advertise `feature-protocol-v2`.
    pub v1_only: bool,
    /// Requests answered.
    pub served: u32,
    /// Commands received, with their locality.
    pub received: Vec<(Vec<u8>, u8)>,
    /// Connections made.
    pub connections: u32,
}

impl core::fmt::Debug for FakeBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FakeBackend").field("served", &self.served).finish_non_exhaustive()
    }
}

impl FakeBackend {
    /// Creates the device nodes for frontend `frontend`, handle `handle`, served by
    /// domain `domain`, and adds the backend to the world. The default responder
    /// answers `"ok:" ‖ command`.
    pub fn attach(sim: &Sim, domain: u16, frontend: u16, handle: u32) -> Rc<RefCell<Self>> {
        let frontend_path = format!("/local/domain/{frontend}/device/vtpm/{handle}");
        let backend_path = format!("/local/domain/{domain}/backend/vtpm/{frontend}/{handle}");
        {
            let mut world = sim.world();
            world.store_write(&format!("{frontend_path}/backend-id"), &format!("{domain}"));
            world.store_write(&format!("{frontend_path}/backend"), &backend_path);
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
            link: None,
            responder: Box::new(|command, _| [b"ok:".as_slice(), command].concat()),
            delay_ns: 0,
            started: None,
            dead: false,
            answer_idle: false,
            bad_length: None,
            v1_only: false,
            served: 0,
            received: Vec::new(),
            connections: 0,
        }));
        sim.add_actor(Rc::clone(&backend));
        backend
    }

    /// Replaces the responder.
    pub fn set_responder(&mut self, responder: Responder) {
        self.responder = responder;
    }

    /// Drops the connection and goes through Closed back to InitWait, as a
    /// restarted backend would.
    pub fn restart(&mut self, world: &mut World) {
        self.unlink(world);
        world.store_write(&format!("{}/state", self.backend_path), "6");
        world.store_write(&format!("{}/state", self.backend_path), "2");
    }

    /// Drops the connection and switches to `state` (e.g. Closing).
    pub fn go(&mut self, world: &mut World, state: XenbusState) {
        self.unlink(world);
        world.store_write(&format!("{}/state", self.backend_path), &format!("{}", state.number()));
    }

    /// True while the frontend's page is mapped and its port bound.
    pub fn is_linked(&self) -> bool {
        self.link.is_some()
    }

    fn unlink(&mut self, world: &mut World) {
        if let Some(link) = self.link.take() {
            world.unmap(self.frontend, link.reference, true);
            world.close(self.domain, link.port);
        }
        self.started = None;
    }

    fn state(world: &World, path: &str) -> XenbusState {
        world
            .store_read(&format!("{path}/state"))
            .map_or(XenbusState::Unknown, |v| XenbusState::parse(&v))
    }

    fn link(&mut self, world: &mut World) -> Option<Link> {
        let read = |key: &str| world.store_read(&format!("{}/{key}", self.frontend_path));
        let reference = GrantRef(read("ring-ref")?.parse().ok()?);
        let remote_port: u32 = read("event-channel")?.parse().ok()?;
        if read(FEATURE_PROTOCOL_V2).as_deref() != Some("1") {
            return None;
        }
        let page = world.map(self.domain, self.frontend, reference, true).ok()?;
        let Ok(port) = world.bind(self.domain, self.frontend, remote_port) else {
            world.unmap(self.frontend, reference, true);
            return None;
        };
        Some(Link { page, reference, port })
    }

    fn serve(&mut self, world: &mut World) -> bool {
        let Some(link) = self.link.as_ref() else { return false };
        world.take_pending(self.domain, link.port);
        let state = link.page.read_u8(STATE).unwrap_or(0);
        match state {
            STATE_SUBMIT => {
                let now = world.now_ns();
                let started = *self.started.get_or_insert(now);
                if now < started.saturating_add(self.delay_ns) {
                    return false;
                }
                self.started = None;
                let length = link.page.read_u32(LENGTH).unwrap_or(0) as usize;
                let locality = link.page.read_u8(LOCALITY).unwrap_or(0);
                let mut command = alloc::vec![0u8; length.min(MAX_PACKET)];
                let _ = link.page.read(DATA, &mut command);
                self.received.push((command.clone(), locality));
                if self.answer_idle {
                    let _ = link.page.write_u8(STATE, STATE_IDLE);
                } else {
                    let response = (self.responder)(&command, locality);
                    let _ = link.page.write(DATA, &response);
                    let length =
                        self.bad_length.unwrap_or(u32::try_from(response.len()).unwrap_or(0));
                    let _ = link.page.write_u32(LENGTH, length);
                    let _ = link.page.write_u8(STATE, STATE_FINISH);
                }
                self.served += 1;
                world.notify(self.domain, link.port);
                true
            }
            STATE_CANCEL => {
                self.started = None;
                let _ = link.page.write_u8(STATE, STATE_IDLE);
                world.notify(self.domain, link.port);
                true
            }
            _ => false,
        }
    }
}

impl Actor for FakeBackend {
    fn step(&mut self, world: &mut World) -> bool {
        if self.dead {
            return false;
        }
        let ours = Self::state(world, &self.backend_path);
        let theirs = Self::state(world, &self.frontend_path);
        let state_path = format!("{}/state", self.backend_path);
        let set = |world: &mut World, state: XenbusState| {
            world.store_write(&state_path, &format!("{}", state.number()));
        };
        match (ours, theirs) {
            (XenbusState::Initialising, _) => {
                if !self.v1_only {
                    world.store_write(&format!("{}/{FEATURE_PROTOCOL_V2}", self.backend_path), "1");
                }
                set(world, XenbusState::InitWait);
                true
            }
            (XenbusState::InitWait, XenbusState::Initialised | XenbusState::Connected) => {
                match self.link(world) {
                    Some(link) => {
                        self.link = Some(link);
                        self.connections += 1;
                        set(world, XenbusState::Connected);
                    }
                    None => set(world, XenbusState::Closed),
                }
                true
            }
            (XenbusState::Connected, XenbusState::Closing) => {
                self.unlink(world);
                set(world, XenbusState::Closing);
                true
            }
            (XenbusState::Connected | XenbusState::Closing, XenbusState::Closed) => {
                self.unlink(world);
                set(world, XenbusState::InitWait);
                true
            }
            (XenbusState::Connected, _) => self.serve(world),
            _ => false,
        }
    }

    fn next_wakeup(&self) -> Option<u64> {
        self.started.map(|t| t.saturating_add(self.delay_ns))
    }
}
