//! A register-level model of a TIS 1.3 / PTP FIFO TPM, for tests (feature `test-utils`).
//!
//! [`TisModel`] implements the FIFO state machine of the TIS 1.3 state transition table
//! (Idle → Ready → Reception → Execution → Completion), TPM_ACCESS arbitration between
//! the five localities, burstCount, Expect/dataAvail/stsValid, tpmGo, commandReady
//! abort, responseRetry and the PTP commandCancel bit. Behind the FIFO sits a pluggable
//! "TPM": a closure from (locality, command bytes) to response bytes, sent back exactly
//! as returned, so a test can hand the driver a lying size field or trailing bytes.
//! [`canned`] has small TPM 1.2 / TPM 2.0 stand-ins; a real engine can be plugged in
//! the same way.
//!
//! Time is virtual: [`ModelClock::sleep_ns`] advances it, and the model's delays
//! (command execution, Idle → Ready) are measured against it, so timeout tests run in
//! microseconds. [`Stall`] freezes the model at one stage of the protocol to exercise
//! each timeout.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use tpm_engine::Family;

use crate::regs::{self, access, sts};
use crate::{Clock, Mmio};

/// The TPM behind the FIFO: (locality, command) → response.
pub type TpmFn = Box<dyn FnMut(u8, &[u8]) -> Vec<u8>>;

/// A protocol stage at which the model stops making progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stall {
    /// requestUse is never granted.
    Locality,
    /// commandReady never comes up after Idle.
    CommandReady,
    /// burstCount stays 0 while the command is written.
    SendBurst,
    /// stsValid stays clear while the command is written.
    SendStsValid,
    /// The command never completes.
    Execution,
    /// dataAvail drops after the first response byte was read (mid-header).
    ReceiveDataAvail,
    /// burstCount stays 0 while the response is read.
    ReceiveBurst,
    /// dataAvail drops after the 10-byte header was read.
    ReceiveAfterHeader,
}

/// The FIFO interface state (TIS 1.3 state transition table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FifoState {
    /// Nothing going on; commandReady clear.
    Idle,
    /// Ready for a command (commandReady set).
    Ready,
    /// Receiving command bytes.
    Reception,
    /// Executing (after tpmGo).
    Execution,
    /// Holding a response.
    Completion,
}

/// Counters of what the driver did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Register reads.
    pub reads: u64,
    /// Register writes.
    pub writes: u64,
    /// Commands executed (tpmGo accepted).
    pub commands: u64,
    /// Commands aborted with commandReady during Reception, Execution or Completion.
    pub aborts: u64,
    /// Commands cancelled with commandCancel.
    pub cancels: u64,
    /// requestUse writes.
    pub locality_requests: u64,
    /// activeLocality (relinquish) writes.
    pub relinquishes: u64,
    /// TPM_ACCESS.Seize writes that took the TPM.
    pub seizes: u64,
    /// Clock sleeps.
    pub sleeps: u64,
}

struct Inner {
    now_ns: u64,
    family: Family,
    did_vid: u32,
    intf_capability: u32,
    interface_id: u32,
    sts_family: u32,
    active: Option<u8>,
    pending: u8,
    state: FifoState,
    ready_at: Option<u64>,
    done_at: Option<u64>,
    command: Vec<u8>,
    response: Vec<u8>,
    response_pos: usize,
    burst: u16,
    buffer_size: usize,
    execution_ns: u64,
    ready_delay_ns: u64,
    stall: Option<Stall>,
    tpm: TpmFn,
    stats: Stats,
    history: Vec<Vec<u8>>,
}

/// A simulated TPM with a TIS/PTP FIFO interface. Cheap to clone (shared state).
#[derive(Clone)]
pub struct TisModel {
    inner: Rc<RefCell<Inner>>,
}

impl fmt::Debug for TisModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.inner.borrow();
        f.debug_struct("TisModel")
            .field("family", &i.family)
            .field("state", &i.state)
            .field("active", &i.active)
            .field("now_ns", &i.now_ns)
            .finish_non_exhaustive()
    }
}

/// The model's register window, for [`Tis::new`](crate::Tis::new).
#[derive(Clone, Debug)]
pub struct ModelMmio(TisModel);

/// The model's virtual clock, for [`Tis::new`](crate::Tis::new).
#[derive(Clone, Debug)]
pub struct ModelClock(TisModel);

const fn bit(locality: u8) -> u8 {
    1 << locality
}

impl TisModel {
    /// A model of a `family` TPM answering with `tpm`. Defaults: burstCount 32, a
    /// 4096-byte command buffer, instant execution, locality free.
    pub fn new(family: Family, tpm: impl FnMut(u8, &[u8]) -> Vec<u8> + 'static) -> Self {
        let (intf_capability, interface_id, sts_family) = match family {
            Family::Tpm20 => (regs::intf_capability::VERSION_PTP_FIFO << 28, 0x0000_0000, 0b01),
            Family::Tpm12 => (regs::intf_capability::VERSION_TIS13 << 28, u32::MAX, 0b00),
        };
        let inner = Inner {
            now_ns: 0,
            family,
            did_vid: 0x0001_1014,
            intf_capability,
            interface_id,
            sts_family,
            active: None,
            pending: 0,
            state: FifoState::Idle,
            ready_at: None,
            done_at: None,
            command: Vec::new(),
            response: Vec::new(),
            response_pos: 0,
            burst: 32,
            buffer_size: 4096,
            execution_ns: 0,
            ready_delay_ns: 0,
            stall: None,
            tpm: Box::new(tpm),
            stats: Stats::default(),
            history: Vec::new(),
        };
        Self { inner: Rc::new(RefCell::new(inner)) }
    }

    /// The register window to give the driver.
    pub fn mmio(&self) -> ModelMmio {
        ModelMmio(self.clone())
    }

    /// The clock to give the driver.
    pub fn clock(&self) -> ModelClock {
        ModelClock(self.clone())
    }

    /// Sets the largest burstCount the model reports (0 is allowed: a broken TPM).
    pub fn set_burst_count(&self, burst: u16) {
        self.inner.borrow_mut().burst = burst;
    }

    /// Sets the command buffer size; Expect drops when it is full.
    pub fn set_buffer_size(&self, size: usize) {
        self.inner.borrow_mut().buffer_size = size;
    }

    /// Sets how long a command executes (virtual time).
    pub fn set_execution_ns(&self, ns: u64) {
        self.inner.borrow_mut().execution_ns = ns;
    }

    /// Sets how long Idle → Ready takes after commandReady is written.
    pub fn set_ready_delay_ns(&self, ns: u64) {
        self.inner.borrow_mut().ready_delay_ns = ns;
    }

    /// Freezes the model at `stage` (or lets it run again with `None`).
    pub fn set_stall(&self, stage: Option<Stall>) {
        self.inner.borrow_mut().stall = stage;
    }

    /// Sets TPM_DID_VID (all-ones or zero make the driver see no device).
    pub fn set_did_vid(&self, value: u32) {
        self.inner.borrow_mut().did_vid = value;
    }

    /// Overrides the family hints: TPM_INTF_CAPABILITY, TPM_INTERFACE_ID and
    /// TPM_STS.tpmFamily (2 bits).
    pub fn set_interface_registers(
        &self,
        intf_capability: u32,
        interface_id: u32,
        sts_family: u32,
    ) {
        let mut i = self.inner.borrow_mut();
        i.intf_capability = intf_capability;
        i.interface_id = interface_id;
        i.sts_family = sts_family & 0x3;
    }

    /// Replaces the TPM behind the FIFO.
    pub fn set_tpm(&self, tpm: impl FnMut(u8, &[u8]) -> Vec<u8> + 'static) {
        self.inner.borrow_mut().tpm = Box::new(tpm);
    }

    /// Another agent (e.g. dom0's driver) writes requestUse at `locality`.
    pub fn request_use(&self, locality: u8) {
        self.inner.borrow_mut().write_access(locality, access::REQUEST_USE);
    }

    /// Another agent writes activeLocality (relinquish) at `locality`.
    pub fn relinquish(&self, locality: u8) {
        self.inner.borrow_mut().write_access(locality, access::ACTIVE_LOCALITY);
    }

    /// The locality that owns the TPM.
    pub fn active_locality(&self) -> Option<u8> {
        self.inner.borrow().active
    }

    /// The FIFO state.
    pub fn state(&self) -> FifoState {
        let mut i = self.inner.borrow_mut();
        i.tick();
        i.state
    }

    /// What the driver did so far.
    pub fn stats(&self) -> Stats {
        self.inner.borrow().stats
    }

    /// Every command executed, in order.
    pub fn history(&self) -> Vec<Vec<u8>> {
        self.inner.borrow().history.clone()
    }

    /// Virtual time.
    pub fn now_ns(&self) -> u64 {
        self.inner.borrow().now_ns
    }
}

impl Inner {
    fn stalled(&self, stage: Stall) -> bool {
        self.stall == Some(stage)
    }

    /// Applies the transitions that depend on time, and grants a free TPM to the
    /// highest pending locality (TIS 1.3 TPM_ACCESS arbitration).
    fn tick(&mut self) {
        if self.active.is_none() && self.pending != 0 && !self.stalled(Stall::Locality) {
            self.grant_next();
        }
        if self.state == FifoState::Idle && self.ready_at.is_some_and(|t| self.now_ns >= t) {
            self.ready_at = None;
            self.state = FifoState::Ready;
        }
        if self.state == FifoState::Execution && self.done_at.is_some_and(|t| self.now_ns >= t) {
            self.done_at = None;
            self.state = FifoState::Completion;
        }
    }

    /// The size field of the command received so far, if it is known and sane.
    fn declared_size(&self) -> Option<usize> {
        let s = self.command.get(2..6)?;
        let size = usize::try_from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])).ok()?;
        (10..=self.buffer_size).contains(&size).then_some(size)
    }

    /// Expect: more bytes wanted. A size field outside 10..=buffer makes the TPM stop
    /// expecting as soon as it has read it.
    fn expecting(&self) -> bool {
        if self.command.len() < 6 {
            return self.command.len() < self.buffer_size;
        }
        self.declared_size().is_some_and(|size| self.command.len() < size)
    }

    fn access(&self, locality: u8) -> u8 {
        let mut a = access::VALID;
        if self.active == Some(locality) {
            a |= access::ACTIVE_LOCALITY;
        }
        if self.pending & bit(locality) != 0 {
            a |= access::REQUEST_USE;
        }
        if self.pending & !bit(locality) != 0 {
            a |= access::PENDING_REQUEST;
        }
        a
    }

    fn write_access(&mut self, locality: u8, value: u8) {
        if value & access::REQUEST_USE != 0 {
            self.stats.locality_requests += 1;
            if self.active.is_none() && !self.stalled(Stall::Locality) {
                self.active = Some(locality);
            } else if self.active != Some(locality) {
                self.pending |= bit(locality);
            }
        }
        // TIS 1.3 TPM_ACCESS.Seize: a higher locality takes the TPM from the active
        // one at once (a lower or equal one is ignored).
        if value & access::SEIZE != 0
            && !self.stalled(Stall::Locality)
            && self.active.is_some_and(|active| active < locality)
        {
            self.stats.seizes += 1;
            self.pending &= !bit(locality);
            self.active = Some(locality);
        }
        if value & access::ACTIVE_LOCALITY != 0 {
            self.stats.relinquishes += 1;
            self.pending &= !bit(locality);
            if self.active == Some(locality) {
                self.active = None;
                // TIS 1.3: the highest pending locality gets the TPM next.
                if !self.stalled(Stall::Locality) {
                    self.grant_next();
                }
            }
        }
    }

    fn grant_next(&mut self) {
        if let Some(next) = (0..regs::LOCALITY_COUNT).rev().find(|&l| self.pending & bit(l) != 0) {
            self.pending &= !bit(next);
            self.active = Some(next);
        }
    }

    fn sts(&self) -> u32 {
        let mut s = 0u8;
        let mut burst = 0usize;
        match self.state {
            FifoState::Idle | FifoState::Execution => s |= sts::VALID,
            FifoState::Ready => {
                s |= sts::VALID | sts::COMMAND_READY;
                if !self.stalled(Stall::SendBurst) {
                    burst = usize::from(self.burst);
                }
            }
            FifoState::Reception => {
                if !self.stalled(Stall::SendStsValid) {
                    s |= sts::VALID;
                    if self.expecting() {
                        s |= sts::EXPECT;
                    }
                }
                if !self.stalled(Stall::SendBurst) {
                    burst = usize::from(self.burst)
                        .min(self.buffer_size.saturating_sub(self.command.len()));
                }
            }
            FifoState::Completion => {
                s |= sts::VALID;
                let left = self.response.len().saturating_sub(self.response_pos);
                let hidden = (self.stalled(Stall::ReceiveDataAvail) && self.response_pos >= 1)
                    || (self.stalled(Stall::ReceiveAfterHeader) && self.response_pos >= 10);
                if left > 0 && !hidden {
                    s |= sts::DATA_AVAIL;
                    if !self.stalled(Stall::ReceiveBurst) {
                        burst = usize::from(self.burst).min(left);
                    }
                }
            }
        }
        if self.family == Family::Tpm20 {
            s |= sts::SELF_TEST_DONE;
        }
        let burst = u32::from(u16::try_from(burst).unwrap_or(u16::MAX));
        u32::from(s) | burst << sts::BURST_COUNT_SHIFT | self.sts_family << sts::FAMILY_SHIFT
    }

    fn write_sts(&mut self, value: u32) {
        let [status, ..] = value.to_le_bytes();
        if status & sts::COMMAND_READY != 0 {
            match self.state {
                FifoState::Idle => {
                    if !self.stalled(Stall::CommandReady) {
                        self.ready_at = Some(self.now_ns + self.ready_delay_ns);
                    }
                }
                FifoState::Ready => {}
                FifoState::Reception | FifoState::Execution | FifoState::Completion => {
                    // Completion → Idle is the normal end; the others abort.
                    if self.state != FifoState::Completion
                        || self.response_pos < self.response.len()
                    {
                        self.stats.aborts += 1;
                    }
                    self.state = FifoState::Idle;
                    self.done_at = None;
                    self.command.clear();
                    self.response.clear();
                    self.response_pos = 0;
                }
            }
        }
        if status & sts::GO != 0
            && self.state == FifoState::Reception
            && !self.expecting()
            && self.declared_size().is_some()
        {
            let locality = self.active.unwrap_or(0);
            let command = core::mem::take(&mut self.command);
            self.response = (self.tpm)(locality, &command);
            self.response_pos = 0;
            self.history.push(command);
            self.stats.commands += 1;
            self.state = FifoState::Execution;
            self.done_at =
                (!self.stalled(Stall::Execution)).then_some(self.now_ns + self.execution_ns);
        }
        if status & sts::RESPONSE_RETRY != 0 && self.state == FifoState::Completion {
            self.response_pos = 0;
        }
        if value & sts::COMMAND_CANCEL != 0
            && self.family == Family::Tpm20
            && self.state == FifoState::Execution
        {
            // PTP: the TPM stops and answers TPM_RC_CANCELED (TPM 2.0 Part 2 §6.6.3).
            self.stats.cancels += 1;
            self.response = canned::response(0x8001, 0x0909, &[]);
            self.response_pos = 0;
            self.done_at = Some(self.now_ns);
        }
    }

    fn read_fifo(&mut self) -> u8 {
        if self.state != FifoState::Completion {
            return 0xFF;
        }
        match self.response.get(self.response_pos) {
            Some(&b) => {
                self.response_pos += 1;
                b
            }
            None => 0xFF,
        }
    }

    fn write_fifo(&mut self, value: u8) {
        match self.state {
            FifoState::Ready => {
                self.state = FifoState::Reception;
                self.command.clear();
                self.command.push(value);
            }
            // Bytes past the buffer are dropped (Expect is already clear).
            FifoState::Reception if self.command.len() < self.buffer_size => {
                self.command.push(value)
            }
            _ => {}
        }
    }

    fn read32(&mut self, offset: usize) -> u32 {
        self.stats.reads += 1;
        self.tick();
        let (locality, reg) = split(offset);
        let Some(locality) = locality else { return u32::MAX };
        let active = self.active == Some(locality);
        match reg {
            regs::ACCESS => u32::from(self.access(locality)),
            regs::INTF_CAPABILITY => self.intf_capability,
            regs::STS if active => self.sts(),
            regs::DATA_FIFO if active => u32::from(self.read_fifo()),
            regs::INTERFACE_ID => self.interface_id,
            regs::DID_VID => self.did_vid,
            regs::RID => 0x01,
            _ => u32::MAX,
        }
    }

    fn read8(&mut self, offset: usize) -> u8 {
        let (_, reg) = split(offset);
        // Byte reads inside STS (burstCount bytes) see the register's other bytes.
        if (regs::STS + 1..regs::STS + 4).contains(&reg) {
            let shift = 8 * (reg - regs::STS);
            let v = self.read32(offset - (reg - regs::STS));
            return u8::try_from(v >> shift & 0xFF).unwrap_or(0xFF);
        }
        u8::try_from(self.read32(offset) & 0xFF).unwrap_or(0xFF)
    }

    fn write32(&mut self, offset: usize, value: u32) {
        self.stats.writes += 1;
        self.tick();
        let (locality, reg) = split(offset);
        let Some(locality) = locality else { return };
        let [low, ..] = value.to_le_bytes();
        match reg {
            regs::ACCESS => self.write_access(locality, low),
            _ if self.active != Some(locality) => {}
            regs::STS => self.write_sts(value),
            regs::DATA_FIFO => self.write_fifo(low),
            _ => {}
        }
    }
}

fn split(offset: usize) -> (Option<u8>, usize) {
    let locality =
        u8::try_from(offset / regs::LOCALITY_STRIDE).ok().filter(|&l| l < regs::LOCALITY_COUNT);
    (locality, offset % regs::LOCALITY_STRIDE)
}

impl Mmio for ModelMmio {
    fn read_u8(&mut self, offset: usize) -> u8 {
        self.0.inner.borrow_mut().read8(offset)
    }

    fn read_u32(&mut self, offset: usize) -> u32 {
        self.0.inner.borrow_mut().read32(offset)
    }

    fn write_u8(&mut self, offset: usize, value: u8) {
        self.0.inner.borrow_mut().write32(offset, u32::from(value));
    }

    fn write_u32(&mut self, offset: usize, value: u32) {
        self.0.inner.borrow_mut().write32(offset, value);
    }
}

impl Clock for ModelClock {
    fn now_ns(&self) -> u64 {
        self.0.inner.borrow().now_ns
    }

    fn sleep_ns(&mut self, ns: u64) {
        let mut i = self.0.inner.borrow_mut();
        i.stats.sleeps += 1;
        // Never let a zero sleep stall virtual time.
        i.now_ns = i.now_ns.saturating_add(ns.max(1));
    }
}

/// Stand-in TPMs with canned answers.
pub mod canned {
    use alloc::vec::Vec;

    /// A response: `tag | size | code | body`.
    pub fn response(tag: u16, code: u32, body: &[u8]) -> Vec<u8> {
        let size = u32::try_from(10 + body.len()).unwrap_or(u32::MAX);
        let mut r = Vec::with_capacity(10 + body.len());
        r.extend_from_slice(&tag.to_be_bytes());
        r.extend_from_slice(&size.to_be_bytes());
        r.extend_from_slice(&code.to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn be32(cmd: &[u8], at: usize) -> u32 {
        cmd.get(at..at + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn tag(cmd: &[u8]) -> u16 {
        cmd.get(0..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// TIS timeouts (µs) the canned TPM 1.2 reports: A 1 s, B 3 s, C 1 s, D 1 s.
    pub const TPM12_TIMEOUTS_US: [u32; 4] = [1_000_000, 3_000_000, 1_000_000, 1_000_000];
    /// Durations (µs) the canned TPM 1.2 reports: 3 s, 20 s, 150 s.
    pub const TPM12_DURATIONS_US: [u32; 3] = [3_000_000, 20_000_000, 150_000_000];

    /// A TPM 1.2: answers TPM_GetCapability for the TIS timeouts and durations, a
    /// TPM 2.0 tag with TPM_BADTAG (as a real TPM 1.2 does), anything else with
    /// success and an empty body.
    pub fn tpm12() -> impl FnMut(u8, &[u8]) -> Vec<u8> {
        |_, cmd| {
            if tag(cmd) != 0x00C1 && tag(cmd) != 0x00C2 && tag(cmd) != 0x00C3 {
                return response(0x00C4, 0x1E, &[]);
            }
            let values: &[u32] = match (be32(cmd, 6), be32(cmd, 10), be32(cmd, 18)) {
                (0x65, 5, 0x115) => &TPM12_TIMEOUTS_US,
                (0x65, 5, 0x120) => &TPM12_DURATIONS_US,
                _ => return response(0x00C4, 0, &[]),
            };
            let mut body = Vec::new();
            let n = u32::try_from(values.len() * 4).unwrap_or(0);
            body.extend_from_slice(&n.to_be_bytes());
            for v in values {
                body.extend_from_slice(&v.to_be_bytes());
            }
            response(0x00C4, 0, &body)
        }
    }

    /// A TPM 2.0: answers TPM2_GetCapability(TPM_PROPERTIES) with one property,
    /// a TPM 1.2 tag with TPM_RC_BAD_TAG under TPM_ST_RSP_COMMAND (TPM 2.0 Part 1
    /// compatibility rule), anything else with success and an empty body.
    pub fn tpm20() -> impl FnMut(u8, &[u8]) -> Vec<u8> {
        |_, cmd| {
            if tag(cmd) != 0x8001 && tag(cmd) != 0x8002 {
                return response(0x00C4, 0x01E, &[]);
            }
            if be32(cmd, 6) == 0x17A && be32(cmd, 10) == 6 {
                let mut body = Vec::new();
                body.push(0); // moreData
                body.extend_from_slice(&6u32.to_be_bytes());
                body.extend_from_slice(&1u32.to_be_bytes());
                body.extend_from_slice(&be32(cmd, 14).to_be_bytes());
                body.extend_from_slice(&0x70u32.to_be_bytes());
                return response(0x8001, 0, &body);
            }
            response(0x8001, 0, &[])
        }
    }

    /// A TPM that answers every command with a success response of exactly `len`
    /// bytes (filled with a counting pattern).
    pub fn sized(len: usize) -> impl FnMut(u8, &[u8]) -> Vec<u8> {
        move |_, _| {
            let mut r = response(0x8001, 0, &[]);
            r.resize(len.max(10), 0);
            for (i, b) in r.iter_mut().enumerate().skip(10) {
                *b = u8::try_from(i % 251).unwrap_or(0);
            }
            let size = u32::try_from(r.len()).unwrap_or(u32::MAX).to_be_bytes();
            r[2..6].copy_from_slice(&size);
            r
        }
    }
}
