//! A scripted tpmif frontend domain for the simulator (feature `test-utils`).
//!
//! It plays the toolstack (creating the device's xenstore nodes as libxl does, specs
//! §1.6) and the frontend (granting a page, offering a port, writing requests into
//! the page as Linux xen-tpmfront does, §2.1). The page can be a
//! [`HostileMemory`](xenbus::sim::HostileMemory) that rewrites itself under the
//! backend.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use xenbus::abi::PAGE_SIZE;
use xenbus::abi::tpmif::{
    DATA, FEATURE_PROTOCOL_V2, LENGTH, LOCALITY, NR_EXTRA_PAGES, STATE, STATE_CANCEL, STATE_FINISH,
    STATE_SUBMIT,
};
use xenbus::sim::{HeapMemory, Sim, SimMemory};
use xenbus::{GrantRef, PeerMemory, XenbusState};

/// A frontend domain with one vTPM device.
#[derive(Debug)]
pub struct FakeFrontend {
    sim: Sim,
    /// The frontend's domain id.
    pub domain: u16,
    /// The device handle.
    pub handle: u32,
    backend: u16,
    page: SimMemory,
    reference: Option<GrantRef>,
    port: Option<u32>,
    /// `/local/domain/<fe>/device/vtpm/<handle>`.
    pub frontend_path: String,
    /// `/local/domain/<be>/backend/vtpm/<fe>/<handle>`.
    pub backend_path: String,
}

impl FakeFrontend {
    /// The toolstack creates the device (one transaction in libxl; here in order,
    /// the backend's `frontend` node last, as the backend treats it as "complete").
    pub fn attach(sim: &Sim, backend: u16, domain: u16, handle: u32, uuid: &str) -> Self {
        Self::attach_with_page(
            sim,
            backend,
            domain,
            handle,
            uuid,
            HeapMemory::new(PAGE_SIZE).into(),
        )
    }

    /// [`attach`](Self::attach) with the page the frontend will share.
    pub fn attach_with_page(
        sim: &Sim,
        backend: u16,
        domain: u16,
        handle: u32,
        uuid: &str,
        page: SimMemory,
    ) -> Self {
        let frontend_path = format!("/local/domain/{domain}/device/vtpm/{handle}");
        let backend_path = format!("/local/domain/{backend}/backend/vtpm/{domain}/{handle}");
        {
            let mut world = sim.world();
            world.store_write(&format!("{frontend_path}/backend-id"), &format!("{backend}"));
            world.store_write(&format!("{frontend_path}/state"), "1");
            world.store_write(&format!("{frontend_path}/handle"), &format!("{handle}"));
            world.store_write(&format!("{frontend_path}/backend"), &backend_path);
            world.store_write(&format!("{backend_path}/frontend-id"), &format!("{domain}"));
            world.store_write(&format!("{backend_path}/online"), "1");
            world.store_write(&format!("{backend_path}/state"), "1");
            world.store_write(&format!("{backend_path}/handle"), &format!("{handle}"));
            world.store_write(&format!("{backend_path}/uuid"), uuid);
            world.store_write(&format!("{backend_path}/resume"), "False");
            world.store_write(&format!("{backend_path}/frontend"), &frontend_path);
        }
        Self {
            sim: sim.clone(),
            domain,
            handle,
            backend,
            page,
            reference: None,
            port: None,
            frontend_path,
            backend_path,
        }
    }

    /// Zeroes the page, publishes it and a port as xen-tpmfront's probe does and switches to
    /// `state` (Initialised for Linux, Connected for Mini-OS).
    pub fn connect(&mut self, state: XenbusState) {
        // A frontend shares a freshly zeroed page on every connection.
        let _ = self.page.write(0, &[0u8; PAGE_SIZE]);
        let mut world = self.sim.world();
        let reference = world.grant(self.domain, self.backend, self.page.clone(), false);
        let port = world.alloc_unbound(self.domain, self.backend);
        world.store_write(&format!("{}/ring-ref", self.frontend_path), &format!("{}", reference.0));
        world.store_write(&format!("{}/event-channel", self.frontend_path), &format!("{port}"));
        world.store_write(&format!("{}/{FEATURE_PROTOCOL_V2}", self.frontend_path), "1");
        world.store_write(&format!("{}/state", self.frontend_path), &format!("{}", state.number()));
        self.reference = Some(reference);
        self.port = Some(port);
    }

    /// Writes the frontend's state node.
    pub fn set_state(&self, state: XenbusState) {
        self.sim
            .world()
            .store_write(&format!("{}/state", self.frontend_path), &format!("{}", state.number()));
    }

    /// Writes a node of the frontend directory.
    pub fn write_node(&self, key: &str, value: &str) {
        self.sim.world().store_write(&format!("{}/{key}", self.frontend_path), value);
    }

    /// Writes a node of the backend directory, as the toolstack.
    pub fn write_backend_node(&self, key: &str, value: &str) {
        self.sim.world().store_write(&format!("{}/{key}", self.backend_path), value);
    }

    /// The backend's published state.
    pub fn backend_state(&self) -> XenbusState {
        let value = self.sim.world().store_read(&format!("{}/state", self.backend_path));
        value.map_or(XenbusState::Unknown, |v| XenbusState::parse(&v))
    }

    /// `xl vtpm-detach`: online=0, state=Closing.
    pub fn detach(&self) {
        self.write_backend_node("online", "0");
        self.write_backend_node("state", "5");
    }

    /// The toolstack removes both directories.
    pub fn remove(&self) {
        let mut world = self.sim.world();
        world.store_rm(&self.backend_path);
        world.store_rm(&self.frontend_path);
    }

    /// Sends a command as xen-tpmfront does: data, length, (locality), SUBMIT, notify.
    pub fn submit(&self, command: &[u8], locality: u8) {
        let length = u32::try_from(command.len()).unwrap_or(u32::MAX);
        self.write_header(length, STATE_SUBMIT, locality, 0, command);
    }

    /// Writes an arbitrary header (and data) and notifies.
    pub fn write_header(&self, length: u32, state: u8, locality: u8, extra_pages: u8, data: &[u8]) {
        let _ =
            self.page.write(DATA, data.get(..data.len().min(PAGE_SIZE - DATA)).unwrap_or_default());
        let _ = self.page.write_u32(LENGTH, length);
        let _ = self.page.write(LOCALITY, &[locality, 0, extra_pages]);
        let _ = self.page.write_u8(STATE, state);
        self.notify();
    }

    /// Writes CANCEL and notifies.
    pub fn cancel(&self) {
        let _ = self.page.write_u8(STATE, STATE_CANCEL);
        self.notify();
    }

    /// Raises the event at the backend.
    pub fn notify(&self) {
        if let Some(port) = self.port {
            self.sim.world().notify(self.domain, port);
        }
    }

    /// Clears and returns whether the backend notified us.
    pub fn take_notified(&self) -> bool {
        self.port.is_some_and(|port| self.sim.world().take_pending(self.domain, port))
    }

    /// The page's state byte.
    pub fn state(&self) -> u8 {
        let mut byte = [0u8];
        match &self.page {
            SimMemory::Heap(m) => {
                let _ = m.read(STATE, &mut byte);
            }
            SimMemory::Hostile(m) => byte[0] = m.peek(STATE, 1).first().copied().unwrap_or(0),
        }
        byte[0]
    }

    /// The response, if the page says FINISH.
    pub fn response(&self) -> Option<Vec<u8>> {
        if self.state() != STATE_FINISH {
            return None;
        }
        let bytes = match &self.page {
            SimMemory::Heap(m) => m.snapshot(),
            SimMemory::Hostile(m) => m.peek(0, PAGE_SIZE),
        };
        let length = u32::from_ne_bytes(bytes.get(LENGTH..LENGTH + 4)?.try_into().ok()?);
        let length = usize::try_from(length).ok()?;
        bytes.get(DATA..DATA.checked_add(length)?).map(<[u8]>::to_vec)
    }

    /// The shared page.
    pub fn page(&self) -> &SimMemory {
        &self.page
    }

    /// True if the backend has our page mapped and our port bound.
    pub fn backend_attached(&self) -> bool {
        let world = self.sim.world();
        let bound = self.port.is_some_and(|port| world.is_connected(self.domain, port));
        let mapped = self
            .reference
            .and_then(|r| world.grant_entry(self.domain, r))
            .is_some_and(|(flags, _, _)| flags & xenbus::abi::grant::GTF_READING != 0);
        bound && mapped
    }

    /// Header fields the frontend reads back: (length, state, locality, nr_extra_pages).
    pub fn header(&self) -> (u32, u8, u8, u8) {
        let mut header = vec![0u8; DATA];
        match &self.page {
            SimMemory::Heap(m) => {
                let _ = m.read(0, &mut header);
            }
            SimMemory::Hostile(m) => header = m.peek(0, DATA),
        }
        let length = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
        (length, header[STATE], header[LOCALITY], header[NR_EXTRA_PAGES])
    }
}
