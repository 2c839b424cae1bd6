//! The FIFO protocol: locality, command send, completion, response receive, cancel.
//!
//! Sequence (TIS 1.3 "FIFO Interface" command/response sequence and its state
//! transition table; specs §6.2–§6.3):
//! 1. Hold the locality (TPM_ACCESS.requestUse, wait for activeLocality; TIMEOUT_A).
//! 2. Idle → Ready: write STS.commandReady and wait for it (TIMEOUT_B).
//! 3. Reception: write the command in bursts of at most burstCount bytes (TIMEOUT_D for
//!    a non-zero count); after each burst wait for stsValid (TIMEOUT_C) and require
//!    Expect while bytes remain, and no Expect after the last one.
//! 4. Execution: write STS.tpmGo; poll for stsValid|dataAvail until the command's
//!    duration passes, then abort with commandReady.
//! 5. Completion: read the 10-byte header, check its size against the caller's buffer,
//!    read the rest in bursts, then require dataAvail clear ("left-over data").
//! 6. Always finish with commandReady (back to Idle, discarding anything unread) and
//!    give the locality up only if another locality is waiting (TPM_ACCESS
//!    pendingRequest), so the locality is normally kept between commands.

use tpm_engine::Family;

use crate::regs::{self, access, interface_id, intf_capability, sts};
use crate::timing::{self, DurationClass, Durations, Timeouts};
use crate::{Clock, Mmio, TisError, Wait};

/// TPM command/response header length (tag, size, ordinal/code).
const HEADER_LEN: usize = 10;

/// TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, TPM_PT_TOTAL_COMMANDS, 1): Linux's
/// `tpm2_probe` command (TPM 2.0 Part 3 §30.2; specs §6.5).
const TPM2_PROBE: [u8; 22] = [
    0x80, 0x01, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x01, 0x7A, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
    0x01, 0x29, 0x00, 0x00, 0x00, 0x01,
];

/// Driver settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The locality to use (0..=4; the manager uses 2, specs §5.9).
    pub locality: u8,
    /// Sleep between two register polls while a condition is not met.
    pub poll_interval_ns: u64,
    /// Timeouts A–D (TPM 1.2: replaced by [`Tis::configure_tpm12`]).
    pub timeouts: Timeouts,
}

impl Default for Config {
    fn default() -> Self {
        Self { locality: 0, poll_interval_ns: 1_000_000, timeouts: Timeouts::default() }
    }
}

/// What the registers say about the TPM family (PTP; specs §6.5 option 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FamilyHints {
    /// TPM_INTF_CAPABILITY.InterfaceVersion (bits 30:28), unless the register reads
    /// all-ones.
    pub interface_version: Option<u8>,
    /// TPM_INTERFACE_ID.InterfaceType (bits 3:0), unless the register reads all-ones
    /// (reserved on TIS 1.3 parts).
    pub interface_type: Option<u8>,
    /// TPM_STS.tpmFamily (bits 27:26).
    pub sts_family: u8,
    /// The family these point to, if they agree on one.
    pub guess: Option<Family>,
}

/// A command between `start` and `finish`.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    deadline_ns: u64,
}

/// A TIS/PTP FIFO driver for one locality.
#[derive(Debug)]
pub struct Tis<M, C> {
    mmio: M,
    clock: C,
    locality: u8,
    poll_ns: u64,
    timeouts: Timeouts,
    durations: Durations,
    family: Option<Family>,
    in_flight: Option<InFlight>,
}

impl<M: Mmio, C: Clock> Tis<M, C> {
    /// Binds the driver to a register window. Checks that something answers
    /// (TPM_DID_VID neither all-ones nor zero); touches no other register.
    pub fn new(mmio: M, clock: C, config: Config) -> Result<Self, TisError> {
        if config.locality >= regs::LOCALITY_COUNT {
            return Err(TisError::InvalidLocality(config.locality));
        }
        let mut tis = Self {
            mmio,
            clock,
            locality: config.locality,
            poll_ns: config.poll_interval_ns.max(1),
            timeouts: config.timeouts,
            durations: Durations::UNKNOWN,
            family: None,
            in_flight: None,
        };
        let id = tis.mmio.read_u32(tis.reg(regs::DID_VID));
        if id == 0 || id == u32::MAX {
            return Err(TisError::NoDevice);
        }
        Ok(tis)
    }

    /// Vendor ID, device ID and revision (TPM_DID_VID, TPM_RID).
    pub fn vendor(&mut self) -> (u16, u16, u8) {
        let [v0, v1, d0, d1] = self.mmio.read_u32(self.reg(regs::DID_VID)).to_le_bytes();
        let rid = self.mmio.read_u8(self.reg(regs::RID));
        (u16::from_le_bytes([v0, v1]), u16::from_le_bytes([d0, d1]), rid)
    }

    /// The locality this driver uses.
    pub fn locality(&self) -> u8 {
        self.locality
    }

    /// The TPM family, once detected or set.
    pub fn family(&self) -> Option<Family> {
        self.family
    }

    /// Declares the family (e.g. from a `tpm2=1` option) without probing. TPM 2.0 gets
    /// the PTP durations; TPM 1.2 keeps 120 s for every command until
    /// [`configure_tpm12`](Self::configure_tpm12) asks the TPM.
    pub fn set_family(&mut self, family: Family) {
        self.family = Some(family);
        self.durations = match family {
            Family::Tpm20 => Durations::TPM20,
            Family::Tpm12 => Durations::UNKNOWN,
        };
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Replaces the timeouts.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    /// The command durations in force.
    pub fn durations(&self) -> Durations {
        self.durations
    }

    /// Replaces the command durations.
    pub fn set_durations(&mut self, durations: Durations) {
        self.durations = durations;
    }

    /// Gives back the register window and the clock.
    pub fn into_parts(self) -> (M, C) {
        (self.mmio, self.clock)
    }

    // ---- registers -------------------------------------------------------------------

    fn reg(&self, reg: usize) -> usize {
        regs::at(self.locality, reg)
    }

    /// STS byte 0 and burstCount from one 32-bit read. A status byte of 0xFF cannot
    /// come from a TPM that gave us the locality (tpmGo and responseRetry read as 0),
    /// it is what a locality we do not hold reads as.
    fn sts(&mut self) -> Result<(u8, usize), TisError> {
        let [status, lo, hi, _] = self.mmio.read_u32(self.reg(regs::STS)).to_le_bytes();
        if status == 0xFF {
            return Err(TisError::LocalityLost);
        }
        Ok((status, usize::from(u16::from_le_bytes([lo, hi]))))
    }

    fn write_sts(&mut self, bits: u8) {
        self.mmio.write_u8(self.reg(regs::STS), bits);
    }

    /// Polls `cond` until it holds or `timeout_ns` passes.
    fn wait_until<T>(
        &mut self,
        timeout_ns: u64,
        which: Wait,
        mut cond: impl FnMut(&mut Self) -> Result<Option<T>, TisError>,
    ) -> Result<T, TisError> {
        let deadline = self.clock.now_ns().saturating_add(timeout_ns);
        loop {
            if let Some(v) = cond(self)? {
                return Ok(v);
            }
            let now = self.clock.now_ns();
            if now >= deadline {
                return Err(TisError::Timeout(which));
            }
            self.clock.sleep_ns(self.poll_ns.min(deadline - now));
        }
    }

    fn wait_valid(&mut self) -> Result<u8, TisError> {
        self.wait_until(self.timeouts.c_ns, Wait::StsValid, |t| {
            let (s, _) = t.sts()?;
            Ok((s & sts::VALID != 0).then_some(s))
        })
    }

    fn wait_burst(&mut self) -> Result<usize, TisError> {
        self.wait_until(self.timeouts.d_ns, Wait::BurstCount, |t| {
            let (_, burst) = t.sts()?;
            Ok((burst != 0).then_some(burst))
        })
    }

    /// Waits for dataAvail (TIMEOUT_C), then for a non-zero burstCount (TIMEOUT_D).
    fn wait_data_burst(&mut self) -> Result<usize, TisError> {
        let want = sts::VALID | sts::DATA_AVAIL;
        let burst = self.wait_until(self.timeouts.c_ns, Wait::DataAvail, |t| {
            let (s, burst) = t.sts()?;
            Ok((s & want == want).then_some(burst))
        })?;
        if burst != 0 { Ok(burst) } else { self.wait_burst() }
    }

    // ---- locality --------------------------------------------------------------------

    /// True if this locality owns the TPM: activeLocality and tpmRegValidSts set and no
    /// request of ours pending (an all-ones read, i.e. no device, fails the last test).
    fn locality_held(&mut self) -> bool {
        let a = self.mmio.read_u8(self.reg(regs::ACCESS));
        a & (access::VALID | access::ACTIVE_LOCALITY | access::REQUEST_USE)
            == access::VALID | access::ACTIVE_LOCALITY
    }

    /// Makes this locality the active one (TIS 1.3 TPM_ACCESS requestUse; TIMEOUT_A).
    ///
    /// A lower locality that stays active (firmware commonly leaves locality 0 active
    /// and never gives it up) is seized: TPM_ACCESS.Seize, which TIS 1.3 allows a
    /// higher locality, waiting TIMEOUT_A again. If that fails too, the request is
    /// withdrawn, so no stale request of ours later takes the TPM from its next user.
    pub fn request_locality(&mut self) -> Result<(), TisError> {
        if self.locality_held() {
            return Ok(());
        }
        self.mmio.write_u8(self.reg(regs::ACCESS), access::REQUEST_USE);
        let granted = self.wait_until(self.timeouts.a_ns, Wait::Locality, |t| {
            Ok(t.locality_held().then_some(()))
        });
        if granted.is_ok() || self.locality == 0 {
            return granted;
        }
        self.mmio.write_u8(self.reg(regs::ACCESS), access::SEIZE);
        let seized = self.wait_until(self.timeouts.a_ns, Wait::Locality, |t| {
            Ok(t.locality_held().then_some(()))
        });
        if seized.is_err() {
            self.relinquish_locality();
        }
        seized
    }

    /// Gives the locality up (write activeLocality), e.g. before shutdown.
    pub fn relinquish_locality(&mut self) {
        self.mmio.write_u8(self.reg(regs::ACCESS), access::ACTIVE_LOCALITY);
    }

    /// Gives the locality up only if another locality is waiting for it (specs §6.2).
    fn relinquish_if_requested(&mut self) {
        let a = self.mmio.read_u8(self.reg(regs::ACCESS));
        let pending = access::VALID | access::PENDING_REQUEST | access::ACTIVE_LOCALITY;
        if a != 0xFF && a & pending == pending {
            self.relinquish_locality();
        }
    }

    // ---- commands --------------------------------------------------------------------

    /// The duration class of a command, from its header (family known, or guessed from
    /// the tag: 0x8001/0x8002 are TPM 2.0 tags).
    fn class_of(&self, cmd: &[u8]) -> DurationClass {
        let (Some(tag), Some(code)) = (cmd.first_chunk::<2>(), cmd.get(6..10)) else {
            return DurationClass::Undefined;
        };
        let code = u32::from_be_bytes([code[0], code[1], code[2], code[3]]);
        let tpm20 = match self.family {
            Some(f) => f == Family::Tpm20,
            None => matches!(u16::from_be_bytes(*tag), 0x8001 | 0x8002),
        };
        if tpm20 { timing::tpm20_class(code) } else { timing::tpm12_class(code) }
    }

    /// Sends a command and returns its response length in `rsp`. The response may be
    /// as large as `rsp` (size the buffer to the TPM's maximum; 4096 covers every
    /// current TPM). Waits at most the command's duration for the TPM to finish.
    pub fn transmit(&mut self, cmd: &[u8], rsp: &mut [u8]) -> Result<usize, TisError> {
        let duration = self.durations.of(self.class_of(cmd));
        self.transmit_within(cmd, rsp, duration)
    }

    fn transmit_within(
        &mut self,
        cmd: &[u8],
        rsp: &mut [u8],
        duration_ns: u64,
    ) -> Result<usize, TisError> {
        self.start_within(cmd, duration_ns)?;
        self.wait_response()?;
        self.finish(rsp)
    }

    /// Writes a command and starts it (tpmGo); the response is then polled with
    /// [`poll_response`](Self::poll_response) or awaited with
    /// [`wait_response`](Self::wait_response), and read with [`finish`](Self::finish),
    /// or the command is stopped with [`cancel`](Self::cancel).
    pub fn start(&mut self, cmd: &[u8]) -> Result<(), TisError> {
        let duration = self.durations.of(self.class_of(cmd));
        self.start_within(cmd, duration)
    }

    fn start_within(&mut self, cmd: &[u8], duration_ns: u64) -> Result<(), TisError> {
        if self.in_flight.is_some() {
            return Err(TisError::Sequence);
        }
        let declared = cmd.get(2..6).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
        if cmd.len() < HEADER_LEN
            || declared.and_then(|d| usize::try_from(d).ok()) != Some(cmd.len())
        {
            return Err(TisError::MalformedCommand);
        }
        self.request_locality()?;
        if let Err(e) = self.send(cmd) {
            self.abort();
            return Err(e);
        }
        let deadline_ns = self.clock.now_ns().saturating_add(duration_ns);
        self.in_flight = Some(InFlight { deadline_ns });
        Ok(())
    }

    fn send(&mut self, cmd: &[u8]) -> Result<(), TisError> {
        let (status, _) = self.sts()?;
        if status & sts::COMMAND_READY == 0 {
            self.write_sts(sts::COMMAND_READY);
            self.wait_until(self.timeouts.b_ns, Wait::CommandReady, |t| {
                let (s, _) = t.sts()?;
                Ok((s & sts::COMMAND_READY != 0).then_some(()))
            })?;
        }
        let Some((&last, body)) = cmd.split_last() else {
            return Err(TisError::MalformedCommand);
        };
        let fifo = self.reg(regs::DATA_FIFO);
        let mut rest = body;
        while !rest.is_empty() {
            let burst = self.wait_burst()?;
            let (chunk, tail) = rest.split_at(burst.min(rest.len()));
            for &b in chunk {
                self.mmio.write_u8(fifo, b);
            }
            rest = tail;
            // The TPM must still want bytes: the last one is still to come.
            if self.wait_valid()? & sts::EXPECT == 0 {
                return Err(TisError::ExpectCleared { written: body.len() - rest.len() });
            }
        }
        self.wait_burst()?;
        self.mmio.write_u8(fifo, last);
        if self.wait_valid()? & sts::EXPECT != 0 {
            return Err(TisError::ExpectStillSet);
        }
        self.write_sts(sts::GO);
        Ok(())
    }

    /// Checks once whether the response of the command in flight is ready. Past the
    /// command's duration the command is aborted (commandReady) and
    /// `Timeout(Execution)` returned.
    pub fn poll_response(&mut self) -> Result<bool, TisError> {
        let Some(flight) = self.in_flight else { return Err(TisError::Sequence) };
        let want = sts::VALID | sts::DATA_AVAIL;
        let ready = match self.sts() {
            Ok((s, _)) => s & want == want,
            Err(e) => {
                self.end_command();
                return Err(e);
            }
        };
        if ready {
            return Ok(true);
        }
        if self.clock.now_ns() >= flight.deadline_ns {
            self.end_command();
            return Err(TisError::Timeout(Wait::Execution));
        }
        Ok(false)
    }

    /// Waits until the response of the command in flight is ready (or its duration
    /// passes: see [`poll_response`](Self::poll_response)).
    pub fn wait_response(&mut self) -> Result<(), TisError> {
        loop {
            if self.poll_response()? {
                return Ok(());
            }
            let deadline = self.in_flight.map_or(0, |f| f.deadline_ns);
            let left = deadline.saturating_sub(self.clock.now_ns());
            self.clock.sleep_ns(self.poll_ns.min(left.max(1)));
        }
    }

    /// Reads the response of the command in flight into `rsp` and returns its length.
    /// Whatever happens, the TPM is put back to Idle and the command is over.
    pub fn finish(&mut self, rsp: &mut [u8]) -> Result<usize, TisError> {
        if self.in_flight.is_none() {
            return Err(TisError::Sequence);
        }
        let result = self.receive(rsp);
        self.end_command();
        result
    }

    fn receive(&mut self, rsp: &mut [u8]) -> Result<usize, TisError> {
        let mut header = [0u8; HEADER_LEN];
        self.read_fifo(&mut header)?;
        let size = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        if len < HEADER_LEN {
            return Err(TisError::ResponseTooShort { size });
        }
        let too_large = TisError::ResponseTooLarge { size, limit: rsp.len() };
        let out = rsp.get_mut(..len).ok_or(too_large)?;
        let (head, body) = out.split_at_mut(HEADER_LEN);
        head.copy_from_slice(&header);
        self.read_fifo(body)?;
        // TIS 1.3: once the whole response is read, dataAvail must drop; if it does not,
        // the TPM holds more than its header announced.
        if self.wait_valid()? & sts::DATA_AVAIL != 0 {
            return Err(TisError::LeftOverData);
        }
        Ok(len)
    }

    fn read_fifo(&mut self, buf: &mut [u8]) -> Result<(), TisError> {
        let fifo = self.reg(regs::DATA_FIFO);
        let mut rest = buf;
        while !rest.is_empty() {
            let burst = self.wait_data_burst()?;
            let (chunk, tail) = rest.split_at_mut(burst.min(rest.len()));
            for b in chunk.iter_mut() {
                *b = self.mmio.read_u8(fifo);
            }
            rest = tail;
        }
        Ok(())
    }

    /// Stops the command in flight. TPM 2.0 (PTP) first gets STS.commandCancel and up
    /// to TIMEOUT_B to stop on its own; then commandReady aborts the command (TIS 1.3:
    /// commandReady during Execution or Completion aborts it and discards the
    /// response), and the TPM is ready for the next command.
    pub fn cancel(&mut self) -> Result<(), TisError> {
        if self.in_flight.is_none() {
            return Err(TisError::Sequence);
        }
        let mut result = Ok(());
        if self.family == Some(Family::Tpm20) {
            self.mmio.write_u32(self.reg(regs::STS), sts::COMMAND_CANCEL);
            let done = sts::VALID | sts::DATA_AVAIL;
            result = self.wait_until(self.timeouts.b_ns, Wait::Cancel, |t| {
                let (s, _) = t.sts()?;
                Ok((s & done == done || s & sts::COMMAND_READY != 0).then_some(()))
            });
        }
        self.end_command();
        result
    }

    /// Back to Idle (commandReady), locality handed on if someone waits.
    fn end_command(&mut self) {
        self.in_flight = None;
        self.abort();
        self.relinquish_if_requested();
    }

    fn abort(&mut self) {
        self.write_sts(sts::COMMAND_READY);
    }

    // ---- family ----------------------------------------------------------------------

    /// Reads the family hints of the PTP registers (specs §6.5, option 2).
    pub fn register_hints(&mut self) -> FamilyHints {
        let cap = self.mmio.read_u32(self.reg(regs::INTF_CAPABILITY));
        let id = self.mmio.read_u32(self.reg(regs::INTERFACE_ID));
        let status = self.mmio.read_u32(self.reg(regs::STS));
        let low3 = |v: u32| u8::try_from(v & 0x7).unwrap_or(0);
        let interface_version =
            (cap != u32::MAX).then(|| low3(cap >> intf_capability::VERSION_SHIFT));
        let interface_type =
            (id != u32::MAX).then(|| u8::try_from(id & interface_id::TYPE_MASK).unwrap_or(0xF));
        let sts_family =
            if status == u32::MAX { 0 } else { low3(status >> sts::FAMILY_SHIFT) & 0x3 };
        let says_20 = interface_version == Some(3)
            || matches!(interface_type, Some(0x0 | 0x1))
            || u32::from(sts_family) == sts::FAMILY_TPM20;
        let says_12 = matches!(interface_version, Some(0 | 2))
            && matches!(interface_type, None | Some(0xF))
            && sts_family == 0;
        let guess = match (says_20, says_12) {
            (true, false) => Some(Family::Tpm20),
            (false, true) => Some(Family::Tpm12),
            _ => None,
        };
        FamilyHints { interface_version, interface_type, sts_family, guess }
    }

    /// Tells TPM 1.2 from TPM 2.0: sends TPM2_GetCapability (Linux's probe; a TPM 2.0
    /// answers with a TPM 2.0 tag, a TPM 1.2 with TPM_TAG_RSP_COMMAND and an error) and
    /// falls back on the register hints if the probe gets no usable answer. Records
    /// the family (as [`set_family`](Self::set_family)). The caller compares it with
    /// its configuration (`tpm2=1`).
    pub fn detect_family(&mut self) -> Result<Family, TisError> {
        let hints = self.register_hints();
        let mut rsp = [0u8; 256];
        let probe = self.transmit_within(&TPM2_PROBE, &mut rsp, Durations::TPM20.long_ns);
        let answered = match probe {
            Ok(_) => match u16::from_be_bytes([rsp[0], rsp[1]]) {
                0x8001 | 0x8002 => Some(Family::Tpm20),
                0x00C4..=0x00C6 => Some(Family::Tpm12),
                _ => None,
            },
            Err(e) if hints.guess.is_none() => return Err(e),
            Err(_) => None,
        };
        let family = answered.or(hints.guess).ok_or(TisError::UnknownFamily)?;
        self.set_family(family);
        Ok(family)
    }

    /// TPM 1.2: reads TPM_CAP_PROP_TIS_TIMEOUT and TPM_CAP_PROP_DURATION and applies
    /// them with the unit heuristics of specs §6.4. On a capability error the defaults
    /// stay in force and the error is returned.
    pub fn configure_tpm12(&mut self) -> Result<(), TisError> {
        let mut rsp = [0u8; 64];
        let n = self.transmit(&timing::TPM12_GETCAP_TIS_TIMEOUT, &mut rsp)?;
        self.timeouts = timing::tpm12_timeouts(rsp.get(..n).unwrap_or(&[]))?;
        let n = self.transmit(&timing::TPM12_GETCAP_DURATION, &mut rsp)?;
        self.durations = timing::tpm12_durations(rsp.get(..n).unwrap_or(&[]))?;
        Ok(())
    }
}
