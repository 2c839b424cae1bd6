//! The simulated TPM device: an engine, its power state, and its durable state.
//!
//! This is what swtpm's main loop and libtpms' platform layer do around the TPM,
//! over the [`TpmEngine`] contract:
//!
//! - **Power.** The device starts powered on (swtpm `--flags not-need-init`): a new
//!   TPM has had _TPM_Init and waits for the client's Startup; a restored one is
//!   exactly where its snapshot left it. CMD_STOP powers it off (data commands are
//!   then answered with TPM_FAIL / TPM_RC_FAILURE); CMD_INIT powers it on again.
//!   Before either, a TPM 2.0 whose last command was not TPM2_Shutdown gets one
//!   (STATE, else CLEAR), as swtpm does unless told otherwise, so a later
//!   Startup(STATE) can resume.
//! - **Durability.** After every command that leaves the engine dirty (permanent
//!   or volatile), and after every power transition, the whole engine is captured
//!   (`tpm_engine::envelope`) and written to the state directory *before* the
//!   answer is sent. A crash therefore loses at most a command whose answer was
//!   never seen. A powered-off device is saved in its post-_TPM_Init state, so a
//!   restart after an orderly stop waits for Startup again.
//! - **swtpm's state files.** CMD_STORE_VOLATILE keeps a copy of the volatile
//!   state that the next CMD_INIT resumes from (and forgets, given
//!   `PTM_INIT_FLAG_DELETE_VOLATILE`), as swtpm's volatile state file. Blobs written
//!   with CMD_SET_STATEBLOB while the device is off are checked against a scratch
//!   engine at once and take effect at the next CMD_INIT, which then builds a new
//!   engine from them (all or nothing). Both live in memory only: a restart
//!   forgets them.

use crate::Error;
use crate::ctrl::{self, rc};
use crate::data;
use crate::engines::{BoxedEngine, EngineSpec};
use crate::statedir::StateDir;
use std::fmt;
use std::time::Instant;
use tpm_engine::{Drbg, ExecContext, Family, StateError, StateKind, envelope};
use zeroize::Zeroizing;

/// A state blob; secrets inside are wiped when it is dropped.
type Blob = Zeroizing<Vec<u8>>;

/// TPM2_CC_Shutdown (TPM 2.0 Part 2 §6.5.2).
const TPM2_CC_SHUTDOWN: u32 = 0x0145;
/// TPM_SU_CLEAR / TPM_SU_STATE (TPM 2.0 Part 2 §6.9).
const TPM2_SU_CLEAR: u16 = 0;
const TPM2_SU_STATE: u16 = 1;
/// TPM_RC_INITIALIZE: no Startup since _TPM_Init, so there is nothing to shut down.
const TPM2_RC_INITIALIZE: u32 = 0x100;
/// The highest locality (TIS 1.3 §5.5: localities 0..=4).
const LOCALITY_MAX: u8 = 4;

/// How the device's state came to be when it was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Restored from the snapshot in the state directory.
    Restored,
    /// Newly manufactured (the state directory had no snapshot).
    Manufactured,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Restored => "restored",
            Self::Manufactured => "newly manufactured",
        })
    }
}

/// Blobs set with CMD_SET_STATEBLOB while the device is off. The outer `Option`
/// says whether a blob was set; an inner `None` is an empty blob, which deletes
/// that state (an empty permanent blob means: manufacture a new TPM).
#[derive(Default)]
struct Staged {
    permanent: Option<Option<Blob>>,
    save_state: Option<Option<Blob>>,
}

impl Staged {
    fn is_empty(&self) -> bool {
        self.permanent.is_none() && self.save_state.is_none()
    }
}

/// Why a power-on or a blob check was refused (reported on stderr; the client
/// sees TPM_FAIL).
#[derive(Debug)]
enum Refusal {
    State(StateError),
    Build(Error),
}

impl From<StateError> for Refusal {
    fn from(e: StateError) -> Self {
        Self::State(e)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::State(e) => write!(f, "state refused by the engine: {e}"),
            Self::Build(e) => e.fmt(f),
        }
    }
}

/// The simulated TPM device.
pub struct Machine {
    spec: EngineSpec,
    engine: BoxedEngine,
    store: StateDir,
    /// TPM_Init done and not stopped since.
    running: bool,
    /// Stopped for good: CMD_SHUTDOWN ran, or a snapshot could not be written (the
    /// engine is then ahead of the disk and must not answer anything more).
    halted: bool,
    /// The locality of the next data-channel command (CMD_SET_LOCALITY, or the
    /// TCG prefix of the last command).
    locality: u8,
    /// The ordinal of the last data-channel command, for the automatic
    /// TPM2_Shutdown.
    last_ordinal: Option<u32>,
    /// _TPM_Hash_Start seen and no _TPM_Hash_End yet.
    hash_open: bool,
    /// swtpm's volatile state file: what CMD_INIT resumes from.
    stored_volatile: Option<Blob>,
    staged: Staged,
    /// The buffer size asked for with CMD_SET_BUFFERSIZE, applied to every engine
    /// built later.
    requested_buffer: Option<usize>,
    /// The engine's smallest and largest buffer sizes, probed once.
    buffer_limits: (u32, u32),
    clock: Instant,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("family", &self.spec.family)
            .field("running", &self.running)
            .field("halted", &self.halted)
            .field("locality", &self.locality)
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// Opens the device on a locked state directory: restores the snapshot there,
    /// or manufactures a new TPM (seeded from the operating system) and saves it
    /// before anything else happens. A snapshot of the other family, or one that
    /// cannot be read, is an error and stays untouched.
    pub fn open(spec: EngineSpec, store: StateDir) -> Result<(Self, Origin), Error> {
        let (mut engine, origin) = match store.load()? {
            Some(bytes) => {
                let path = store.snapshot_path();
                let snapshot = envelope::parse(&bytes)
                    .map_err(|error| Error::BadSnapshot { path: path.clone(), error })?;
                if snapshot.family != spec.family {
                    return Err(Error::WrongFamily {
                        path,
                        found: snapshot.family,
                        wanted: spec.family,
                    });
                }
                let mut engine = build(&spec)?;
                envelope::restore(&mut *engine, &bytes)
                    .map_err(|error| Error::BadSnapshot { path, error })?;
                (engine, Origin::Restored)
            }
            None => {
                let mut engine = build(&spec)?;
                engine.init();
                (engine, Origin::Manufactured)
            }
        };
        let buffer_limits = probe_buffer_limits(&mut engine);
        engine.clear_dirty();
        let mut machine = Self {
            spec,
            engine,
            store,
            running: true,
            halted: false,
            locality: 0,
            last_ordinal: None,
            hash_open: false,
            stored_volatile: None,
            staged: Staged::default(),
            requested_buffer: None,
            buffer_limits,
            clock: Instant::now(),
        };
        if origin == Origin::Manufactured {
            // The new TPM's identity (seeds, proofs) is durable before any client
            // can observe it.
            machine.persist(true)?;
        }
        Ok((machine, origin))
    }

    /// The TPM family served.
    pub fn family(&self) -> Family {
        self.spec.family
    }

    /// True between a successful TPM_Init and the next stop.
    pub fn running(&self) -> bool {
        self.running
    }

    /// The largest command the engine accepts now; bounds what the data channel
    /// reads.
    pub fn max_command(&self) -> usize {
        self.engine.buffer_size()
    }

    /// The CMD_GET_CAPABILITY bits.
    pub fn capabilities(&self) -> u32 {
        match self.spec.family {
            Family::Tpm12 => ctrl::cap::COMMON,
            Family::Tpm20 => ctrl::cap::COMMON | ctrl::cap::SEND_COMMAND_HEADER,
        }
    }

    /// Runs one data-channel command and saves the state if it changed. A command
    /// that came with the TCG prefix sets the locality first (unchecked, as swtpm;
    /// the engine answers a locality it does not support). An `Err` means the
    /// snapshot could not be written: the device has halted, and the caller must
    /// not send the engine's answer.
    pub fn execute(
        &mut self,
        prefix_locality: Option<u8>,
        command: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if let Some(locality) = prefix_locality {
            self.locality = locality;
        }
        if !self.running {
            return Ok(data::fatal_error(self.spec.family));
        }
        if let Some(ordinal) = data::header_code(command) {
            self.last_ordinal = Some(ordinal);
        }
        let response = self.engine.execute(self.context(), command);
        self.persist(false)?;
        Ok(response)
    }

    /// CMD_INIT: power-cycles the device (TPM_Init), resuming from the stored
    /// volatile state if there is one, and building a new engine if blobs were
    /// staged. Returns the control-channel result code.
    pub fn init(&mut self, flags: u32) -> Result<u32, Error> {
        if self.halted {
            return Ok(rc::FAIL);
        }
        if self.running {
            self.auto_shutdown();
        }
        self.running = false;
        self.hash_open = false;
        self.last_ordinal = None;
        let code = match self.power_on() {
            Ok(()) => {
                self.running = true;
                if flags & ctrl::INIT_FLAG_DELETE_VOLATILE != 0 {
                    self.stored_volatile = None;
                }
                rc::SUCCESS
            }
            Err(refusal) => {
                eprintln!("vtpm-tool: CMD_INIT failed, the TPM stays off: {refusal}");
                rc::FAIL
            }
        };
        self.persist(true)?;
        Ok(code)
    }

    fn power_on(&mut self) -> Result<(), Refusal> {
        if self.staged.is_empty() {
            self.engine.init();
        } else {
            let (permanent, save_state) = self.resolved_blobs()?;
            self.engine = self.assemble(slice(&permanent), slice(&save_state), None)?;
            self.staged = Staged::default();
        }
        if let Some(volatile) = &self.stored_volatile {
            self.engine.load_state(StateKind::Volatile, volatile)?;
        }
        Ok(())
    }

    /// CMD_STOP (and the first half of CMD_SHUTDOWN, SIGINT, SIGTERM): powers the
    /// device off and saves it in its post-_TPM_Init state.
    pub fn stop(&mut self) -> Result<(), Error> {
        if !self.running || self.halted {
            return Ok(());
        }
        self.auto_shutdown();
        self.engine.init();
        self.running = false;
        self.hash_open = false;
        self.persist(true)
    }

    /// CMD_SHUTDOWN: stops the device for good; the server ends after answering.
    pub fn shutdown(&mut self) -> Result<(), Error> {
        let result = self.stop();
        self.halted = true;
        result
    }

    /// swtpm's `tpmlib_maybe_send_tpm2_shutdown`: a TPM 2.0 that is switched off
    /// without TPM2_Shutdown gets one, STATE first so Startup(STATE) can resume,
    /// CLEAR if STATE fails; nothing if it never started (TPM_RC_INITIALIZE).
    fn auto_shutdown(&mut self) {
        if self.spec.family != Family::Tpm20 || self.last_ordinal == Some(TPM2_CC_SHUTDOWN) {
            return;
        }
        for kind in [TPM2_SU_STATE, TPM2_SU_CLEAR] {
            let mut command = vec![0x80, 0x01, 0, 0, 0, 12];
            command.extend_from_slice(&TPM2_CC_SHUTDOWN.to_be_bytes());
            command.extend_from_slice(&kind.to_be_bytes());
            let response = self.engine.execute(self.context(), &command);
            match data::header_code(&response) {
                Some(rc::SUCCESS) => {
                    self.last_ordinal = Some(TPM2_CC_SHUTDOWN);
                    return;
                }
                Some(TPM2_RC_INITIALIZE) => return,
                _ => {}
            }
        }
    }

    /// The TPM's tpmEstablished flag.
    pub fn established(&self) -> bool {
        self.engine.established()
    }

    /// CMD_SET_LOCALITY.
    pub fn set_locality(&mut self, locality: u8) -> u32 {
        if locality > LOCALITY_MAX {
            return rc::BAD_LOCALITY;
        }
        self.locality = locality;
        rc::SUCCESS
    }

    /// CMD_RESET_TPMESTABLISHED, acting as `locality` (3 or 4 may reset).
    pub fn reset_established(&mut self, locality: u8) -> Result<u32, Error> {
        if locality > LOCALITY_MAX || !self.engine.reset_established(locality) {
            return Ok(rc::BAD_LOCALITY);
        }
        self.persist(false)?;
        Ok(rc::SUCCESS)
    }

    /// CMD_HASH_START (_TPM_Hash_Start).
    pub fn hash_start(&mut self) -> Result<u32, Error> {
        self.engine.hash_start();
        self.hash_open = true;
        self.persist(false)?;
        Ok(rc::SUCCESS)
    }

    /// CMD_HASH_DATA, one chunk. Without _TPM_Hash_Start a TPM 1.2 answers
    /// TPM_SHA_THREAD (libtpms `TPM12_IO_Hash_Data`); a TPM 2.0 ignores the data.
    pub fn hash_data(&mut self, data: &[u8]) -> Result<u32, Error> {
        if self.spec.family == Family::Tpm12 && !self.hash_open {
            return Ok(rc::SHA_THREAD);
        }
        self.engine.hash_data(data);
        self.persist(false)?;
        Ok(rc::SUCCESS)
    }

    /// CMD_HASH_END (_TPM_Hash_End), with the same TPM 1.2 rule as
    /// [`hash_data`](Self::hash_data).
    pub fn hash_end(&mut self) -> Result<u32, Error> {
        if self.spec.family == Family::Tpm12 && !self.hash_open {
            return Ok(rc::SHA_THREAD);
        }
        self.engine.hash_end();
        self.hash_open = false;
        self.persist(false)?;
        Ok(rc::SUCCESS)
    }

    /// CMD_CANCEL_TPM_CMD. Commands run to completion under the device lock, so a
    /// cancel never finds one in progress. The answer is libtpms': TPM 1.2 does
    /// not support cancelling (TPM_FAIL), TPM 2.0 accepts the request.
    pub fn cancel(&self) -> u32 {
        match self.spec.family {
            Family::Tpm12 => rc::FAIL,
            Family::Tpm20 => rc::SUCCESS,
        }
    }

    /// CMD_STORE_VOLATILE: keeps the volatile state for the next CMD_INIT.
    pub fn store_volatile(&mut self) -> u32 {
        match self.engine.save_state(StateKind::Volatile) {
            Ok(blob) => {
                self.stored_volatile = Some(blob);
                rc::SUCCESS
            }
            Err(_) => rc::FAIL,
        }
    }

    /// CMD_GET_STATEBLOB: one of the engine's blobs, or the result code. A blob the
    /// engine does not have answers TPM_RETRY, as swtpm does for a missing state
    /// file. Reading the volatile blob forgets the stored one (swtpm deletes its
    /// volatile state file).
    pub fn state_blob(&mut self, kind: u32) -> Result<Blob, u32> {
        let kind = StateKind::from_code(kind).ok_or(rc::FAIL)?;
        let blob = self.engine.save_state(kind);
        if kind == StateKind::Volatile {
            self.stored_volatile = None;
        }
        blob.map_err(|e| if e == StateError::NotAvailable { rc::RETRY } else { rc::FAIL })
    }

    /// CMD_SET_STATEBLOB (device off; the caller checks): checks the blob against a
    /// scratch engine and stages it for the next CMD_INIT. An empty blob deletes
    /// that state. Encrypted blobs are refused: no state key is ever configured.
    pub fn set_state_blob(&mut self, kind: u32, flags: u32, blob: &[u8]) -> u32 {
        let Some(kind) = StateKind::from_code(kind) else { return rc::BAD_PARAMETER };
        if blob.is_empty() {
            match kind {
                StateKind::Permanent => self.staged.permanent = Some(None),
                StateKind::SaveState => self.staged.save_state = Some(None),
                StateKind::Volatile => self.stored_volatile = None,
            }
            return rc::SUCCESS;
        }
        if flags & ctrl::STATE_FLAG_ENCRYPTED != 0 {
            return rc::KEYNOTFOUND;
        }
        let checked = self.check_blob(kind, blob);
        if let Err(refusal) = checked {
            eprintln!("vtpm-tool: CMD_SET_STATEBLOB refused: {refusal}");
            return rc::FAIL;
        }
        let blob = Some(Zeroizing::new(blob.to_vec()));
        match kind {
            StateKind::Permanent => self.staged.permanent = Some(blob),
            StateKind::SaveState => self.staged.save_state = Some(blob),
            StateKind::Volatile => self.stored_volatile = blob,
        }
        rc::SUCCESS
    }

    /// Loads `blob` into a scratch engine together with the state it depends on.
    fn check_blob(&self, kind: StateKind, blob: &[u8]) -> Result<(), Refusal> {
        match kind {
            StateKind::Permanent => self.assemble(Some(blob), None, None).map(drop),
            StateKind::SaveState => {
                let (permanent, _) = self.resolved_blobs()?;
                self.assemble(slice(&permanent), Some(blob), None).map(drop)
            }
            StateKind::Volatile => {
                let (permanent, _) = self.resolved_blobs()?;
                let save_state = self.staged.save_state.clone().flatten();
                self.assemble(slice(&permanent), slice(&save_state), Some(blob)).map(drop)
            }
        }
    }

    /// The permanent and SaveState blobs the next engine is built from: the staged
    /// ones, else the current engine's.
    fn resolved_blobs(&self) -> Result<(Option<Blob>, Option<Blob>), StateError> {
        let permanent = match &self.staged.permanent {
            Some(staged) => staged.clone(),
            None => Some(self.engine.save_state(StateKind::Permanent)?),
        };
        let save_state = match &self.staged.save_state {
            Some(staged) => staged.clone(),
            None => match self.engine.save_state(StateKind::SaveState) {
                Ok(blob) => Some(blob),
                Err(StateError::NotAvailable) => None,
                Err(e) => return Err(e),
            },
        };
        Ok((permanent, save_state))
    }

    /// A new engine holding the given state, after _TPM_Init.
    fn assemble(
        &self,
        permanent: Option<&[u8]>,
        save_state: Option<&[u8]>,
        volatile: Option<&[u8]>,
    ) -> Result<BoxedEngine, Refusal> {
        let mut engine = build(&self.spec).map_err(Refusal::Build)?;
        if let Some(blob) = permanent {
            engine.load_state(StateKind::Permanent, blob)?;
        }
        if let Some(blob) = save_state {
            engine.load_state(StateKind::SaveState, blob)?;
        }
        if let Some(size) = self.requested_buffer {
            engine.set_buffer_size(size);
        }
        engine.init();
        if let Some(blob) = volatile {
            engine.load_state(StateKind::Volatile, blob)?;
        }
        Ok(engine)
    }

    /// CMD_SET_BUFFERSIZE (a nonzero size only while off; the caller checks):
    /// `[size in force, smallest, largest]`.
    pub fn buffer_size(&mut self, requested: u32) -> [u32; 3] {
        if requested > 0 {
            let requested = usize::try_from(requested).unwrap_or(usize::MAX);
            self.requested_buffer = Some(requested);
            self.engine.set_buffer_size(requested);
        }
        let (min, max) = self.buffer_limits;
        [saturate_u32(self.engine.buffer_size()), min, max]
    }

    /// The CMD_GET_INFO document for `flags`.
    pub fn info(&self, flags: u64) -> String {
        self.spec.info.json(self.spec.family, flags)
    }

    fn context(&self) -> ExecContext {
        let now_ms = u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        ExecContext { locality: self.locality, now_ms }
    }

    /// Writes the snapshot if the engine changed (or `force`). On failure the
    /// device halts: memory is then ahead of the disk.
    fn persist(&mut self, force: bool) -> Result<(), Error> {
        if !force && !self.engine.dirty().any() {
            return Ok(());
        }
        let saved = envelope::capture(&*self.engine)
            .map_err(Error::Capture)
            .and_then(|snapshot| self.store.save(&snapshot));
        match saved {
            Ok(()) => {
                self.engine.clear_dirty();
                Ok(())
            }
            Err(e) => {
                self.halted = true;
                self.running = false;
                Err(e)
            }
        }
    }
}

/// A new engine with a DRBG seeded from the operating system.
fn build(spec: &EngineSpec) -> Result<BoxedEngine, Error> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut seed[..]).map_err(Error::Entropy)?;
    (spec.build)(Drbg::from_seed(*seed))
        .map_err(|e| Error::EngineBuild { family: spec.family, reason: e.to_string() })
}

/// The engine's smallest and largest buffer sizes: ask for the extremes (the
/// engine clamps), then restore the size in force.
fn probe_buffer_limits(engine: &mut BoxedEngine) -> (u32, u32) {
    let current = engine.buffer_size();
    let min = engine.set_buffer_size(1);
    let max = engine.set_buffer_size(usize::MAX);
    engine.set_buffer_size(current);
    (saturate_u32(min), saturate_u32(max))
}

fn slice(blob: &Option<Blob>) -> Option<&[u8]> {
    blob.as_ref().map(|b| b.as_slice())
}

fn saturate_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
