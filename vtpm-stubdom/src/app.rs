//! The vTPM application: the state disk over blkfront, the manager over tpmfront, the
//! engine chosen by `tpm=`, and the tpmback loop serving every frontend.
//!
//! Everything is generic over the xenbus [`Platform`], so the same code runs on Xen
//! and against `xenbus::sim` in the host tests (tests/end_to_end.rs).
//!
//! Start-up ([`start`]): read the saved state (LOADHASHKEY, then the slot it names;
//! docs/vtpm-disk.md), refuse a state of the other TPM family, build the engine,
//! restore the snapshot — a snapshot of a running TPM resumes as it was, PCRs
//! included — or, for a new TPM or one saved without a running state, send the
//! Startup the options ask for (Linux's xen-tpmfront sends none, specs §4.4) and
//! commit. Serving ([`Server`]): tpmback hands out one request per poll, round-robin
//! over the frontends; each is executed at its page's locality and answered only after
//! the state it leaves is committed (`service::Vtpm`).

use crate::latency::LatencyLog;
use crate::options::{Options, StartupType};
use crate::service::{Persist, SetupError, Vtpm};
use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use tpm_engine::{Drbg, ExecContext, Family, TpmEngine, envelope};
use tpmback::{ErrorCodes, Event, Tpmback};
use vtpm_store::{BlockDevice, DeviceError, KeeperError, KeyKeeper, ManagerChannel, StateStore};
use xenbus::control::{Service, ShutdownRequest};
use xenbus::{Bus, Platform, Port};
use zeroize::Zeroizing;

/// How long one exchange with the manager may take (it writes its own disk and may
/// talk to the hardware TPM; Linux allows a TPM command minutes, the manager's are
/// short).
pub const MANAGER_TIMEOUT_NS: u64 = 30_000_000_000;

/// The largest command and response a tpmif page carries (tpmif.h, specs §1.2).
const TPMIF_MAX: usize = 4088;

/// Why the vTPM could not start. Each is printed on the console as the reason the
/// domain stops.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The saved state belongs to the other TPM family.
    FamilyMismatch {
        /// The family in the saved state.
        saved: Family,
        /// The family the options ask for.
        requested: Family,
    },
    /// The saved state could not be loaded and `reset-on-missing-state` is not set.
    Load(vtpm_store::Error),
    /// The saved state authenticated but the engine refused it.
    Snapshot(tpm_engine::StateError),
    /// The engine could not be built.
    Engine(String),
    /// The Startup the vTPM sends itself failed with this TPM return code.
    Startup(u32),
    /// The first state could not be committed.
    Save(vtpm_store::Error),
    /// The engine's state could not be captured.
    Setup(SetupError),
    /// `hwinitpcr=` asked for PCRs, which this build cannot copy.
    HwInitPcr,
    /// A driver could not be set up.
    Driver(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FamilyMismatch { saved, requested } => write!(
                f,
                "the saved state is a {saved}, but this vTPM was started as a {requested} \
                 (tpm= option); refusing to replace it. Start with tpm={} to use it",
                family_option(*saved)
            ),
            Self::Load(e) => write!(
                f,
                "cannot load the saved TPM state: {e}. Not starting, so the guest never \
                 sees a blank TPM; add reset-on-missing-state to extra= to make a new TPM"
            ),
            Self::Snapshot(e) => write!(f, "the saved TPM state is unusable: {e}"),
            Self::Engine(e) => write!(f, "cannot build the TPM engine: {e}"),
            Self::Startup(code) => write!(f, "the TPM refused Startup: return code {code:#x}"),
            Self::Save(e) => write!(f, "cannot save the new TPM state: {e}"),
            Self::Setup(e) => write!(f, "{e}"),
            Self::HwInitPcr => f.write_str(
                "hwinitpcr= is not supported by this vTPM (the engines cannot preset a \
                 PCR); remove the option",
            ),
            Self::Driver(e) => f.write_str(e),
        }
    }
}

fn family_option(family: Family) -> &'static str {
    match family {
        Family::Tpm12 => "1.2",
        Family::Tpm20 => "2.0",
    }
}

/// The transport's error codes for a family.
pub fn error_codes(family: Family) -> ErrorCodes {
    match family {
        Family::Tpm12 => ErrorCodes::TPM12,
        Family::Tpm20 => ErrorCodes::TPM20,
    }
}

// ---------------------------------------------------------------------------------
// Adapters: blkfront as the store's disk, tpmfront as its manager channel.

/// The state disk: blkfront seen as whole logical blocks.
pub struct BlkDisk<P: Platform> {
    front: blkfront::Blkfront<P>,
    node: String,
    block: usize,
    blocks: u64,
}

impl<P: Platform> fmt::Debug for BlkDisk<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlkDisk").field("node", &self.node).field("blocks", &self.blocks).finish()
    }
}

impl<P: Platform> BlkDisk<P> {
    /// Opens the first disk of the domain (`device/vbd/*`, lowest id).
    pub fn open_first(bus: &Rc<Bus<P>>) -> Result<Self, Error> {
        let nodes = blkfront::discover(bus)
            .map_err(|e| Error::Driver(format!("cannot list the state disk: {e}")))?;
        let node = nodes.into_iter().next().ok_or_else(|| {
            Error::Driver(
                "no state disk: give the vTPM domain a writable disk (disk=[...]), \
                 see docs/vtpm-operators.md"
                    .into(),
            )
        })?;
        let front = blkfront::Blkfront::open(Rc::clone(bus), &node, blkfront::Config::default())
            .map_err(|e| Error::Driver(format!("state disk {node}: {e}")))?;
        let info = front
            .info()
            .ok_or_else(|| Error::Driver(format!("state disk {node}: not connected")))?;
        if info.read_only() {
            return Err(Error::Driver(format!(
                "state disk {node} is read-only; it must be writable"
            )));
        }
        let block = usize::try_from(info.sector_size).unwrap_or(512);
        let blocks = info.size_bytes() / u64::from(info.sector_size.max(1));
        Ok(Self { front, node, block, blocks })
    }

    /// The xenstore node of the disk.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The disk's size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.blocks.saturating_mul(self.block as u64)
    }

    /// The event ports the disk waits on.
    pub fn ports(&self) -> Vec<Port> {
        self.front.ports()
    }

    /// Follows the backend's state changes.
    pub fn poll(&mut self) {
        self.front.poll();
    }

    fn offset(&self, block: u64) -> Result<u64, DeviceError> {
        block.checked_mul(self.block as u64).ok_or(DeviceError::OutOfRange)
    }
}

fn device_error(e: blkfront::Error) -> DeviceError {
    match e {
        blkfront::Error::Io | blkfront::Error::ReadOnly => DeviceError::Io,
        blkfront::Error::Unsupported => DeviceError::Unsupported,
        blkfront::Error::OutOfRange => DeviceError::OutOfRange,
        _ => DeviceError::Disconnected,
    }
}

impl<P: Platform> BlockDevice for BlkDisk<P> {
    fn sector_size(&self) -> usize {
        self.block
    }

    fn sectors(&self) -> u64 {
        self.blocks
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        let offset = self.offset(sector)?;
        self.front.read(offset, buf).map_err(device_error)
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), DeviceError> {
        let offset = self.offset(sector)?;
        self.front.write(offset, data).map_err(device_error)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.front.flush().map_err(device_error)
    }
}

/// The channel to the manager: tpmfront on `device/vtpm/0`.
pub struct ManagerLink<P: Platform> {
    front: tpmfront::Tpmfront<P>,
    timeout_ns: u64,
}

impl<P: Platform> fmt::Debug for ManagerLink<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerLink").field("front", &self.front).finish()
    }
}

impl<P: Platform> ManagerLink<P> {
    /// Opens the manager's device (the vTPM's own `vtpm=[...]` entry, node
    /// `device/vtpm/0`).
    pub fn open(bus: &Rc<Bus<P>>, node: &str) -> Result<Self, Error> {
        let front = tpmfront::Tpmfront::new(Rc::clone(bus), node).map_err(|e| {
            Error::Driver(format!(
                "no channel to the manager at {node}: {e}; the vTPM's config needs \
                 vtpm=[\"backend=<manager domain>\"]"
            ))
        })?;
        Ok(Self { front, timeout_ns: MANAGER_TIMEOUT_NS })
    }

    /// The event ports the channel waits on.
    pub fn ports(&self) -> Vec<Port> {
        self.front.ports()
    }

    /// Follows the backend's state changes.
    pub fn poll(&mut self) {
        self.front.poll();
    }

    /// Asks the manager for `count` random bytes from the hardware TPM (the TPM 1.2
    /// GetRandom passthrough, specs §3.3), as the C vTPM seeds its generator.
    pub fn hardware_random(&mut self, count: u32) -> Result<Zeroizing<Vec<u8>>, KeeperError> {
        let mut request = [0u8; 32];
        let len = vtpm_proto::Request::GetRandom { bytes_requested: count }
            .encode(&mut request)
            .map_err(|_| KeeperError::Unreachable)?;
        let mut reply = Zeroizing::new(alloc::vec![0u8; TPMIF_MAX]);
        let n = self.transact(request.get(..len).unwrap_or(&[]), &mut reply)?;
        let answer = reply.get(..n).ok_or(KeeperError::NoAnswer)?;
        let command = vtpm_proto::Command::GetRandom;
        match vtpm_proto::Response::parse(command, answer) {
            Ok(vtpm_proto::Response::GetRandom(bytes)) => Ok(Zeroizing::new(bytes.to_vec())),
            Err(vtpm_proto::Error::Status(code)) => Err(KeeperError::Refused(code.0)),
            _ => Err(KeeperError::NoAnswer),
        }
    }
}

impl<P: Platform> ManagerChannel for ManagerLink<P> {
    fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, KeeperError> {
        let deadline = self.front.bus().deadline_after(self.timeout_ns);
        match self.front.transact(request, 0, deadline) {
            Ok(answer) => {
                let out = reply.get_mut(..answer.len()).ok_or(KeeperError::NoAnswer)?;
                out.copy_from_slice(&answer);
                Ok(answer.len())
            }
            // Refused before anything reached the page.
            Err(tpmfront::Error::CommandSize(_) | tpmfront::Error::Busy) => {
                Err(KeeperError::Unreachable)
            }
            // The manager may or may not have acted (or, for a failed handshake, did
            // not; the store settles either case by asking again).
            Err(_) => Err(KeeperError::NoAnswer),
        }
    }
}

// ---------------------------------------------------------------------------------
// Persistence: the store plus the randomness for its keys.

/// [`Persist`] through the two-slot state store.
pub struct StorePersist<D, K> {
    store: StateStore<D, K>,
    family: Family,
    rng: Drbg,
}

impl<D: fmt::Debug, K: fmt::Debug> fmt::Debug for StorePersist<D, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorePersist").field("store", &self.store).finish_non_exhaustive()
    }
}

impl<D: BlockDevice, K: KeyKeeper> StorePersist<D, K> {
    /// The store.
    pub fn store(&self) -> &StateStore<D, K> {
        &self.store
    }

    /// The store, mutably.
    pub fn store_mut(&mut self) -> &mut StateStore<D, K> {
        &mut self.store
    }
}

impl<D: BlockDevice, K: KeyKeeper> Persist for StorePersist<D, K> {
    type Error = vtpm_store::Error;

    fn save(&mut self, snapshot: &[u8]) -> Result<(), Self::Error> {
        self.store.save(snapshot, self.family, &mut self.rng).map(|_| ())
    }
}

// ---------------------------------------------------------------------------------
// Start-up.

/// Builds an engine of `family` with its own generator.
pub fn build_engine(family: Family, drbg: Drbg) -> Result<Box<dyn TpmEngine>, Error> {
    let mut engine: Box<dyn TpmEngine> = match family {
        // The EK is made at manufacture, as the C vTPM did (GENERATE_EK, specs §4.4):
        // TrouSerS' tpm_takeownership needs one and guests cannot be expected to run
        // TPM_CreateEndorsementKeyPair first.
        Family::Tpm12 => Box::new(
            tpm12::Tpm12::new(drbg, tpm12::Config { manufacture_ek: true, ..Default::default() })
                .map_err(|e| Error::Engine(format!("{e:?}")))?,
        ),
        Family::Tpm20 => Box::new(tpm2::Tpm2::new(drbg)),
    };
    engine.set_buffer_size(TPMIF_MAX);
    Ok(engine)
}

/// The Startup command the vTPM sends itself (TPM 1.2 Part 3 §3.1 TPM_Startup,
/// ordinal 0x99; TPM 2.0 Part 3 §9.3 TPM2_Startup, code 0x144).
pub fn startup_command(family: Family, startup: StartupType) -> [u8; 12] {
    let (tag, ordinal, kind): (u16, u32, u16) = match (family, startup) {
        (Family::Tpm12, StartupType::Clear) => (0x00C1, 0x99, 1),
        (Family::Tpm12, StartupType::Save) => (0x00C1, 0x99, 2),
        (Family::Tpm12, StartupType::Deactivated) => (0x00C1, 0x99, 3),
        // Deactivated is refused for TPM 2.0 by the option parser.
        (Family::Tpm20, StartupType::Clear | StartupType::Deactivated) => (0x8001, 0x144, 0),
        (Family::Tpm20, StartupType::Save) => (0x8001, 0x144, 1),
    };
    let mut out = [0u8; 12];
    out[..2].copy_from_slice(&tag.to_be_bytes());
    out[2..6].copy_from_slice(&12u32.to_be_bytes());
    out[6..10].copy_from_slice(&ordinal.to_be_bytes());
    out[10..].copy_from_slice(&kind.to_be_bytes());
    out
}

/// The return code of a response (bytes 6..10), or TPM_FAIL for a short one.
pub fn return_code(response: &[u8]) -> u32 {
    response.get(6..10).and_then(|b| <[u8; 4]>::try_from(b).ok()).map_or(0x09, u32::from_be_bytes)
}

/// How the vTPM came up, for the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The saved state, resumed as it was running.
    Resumed,
    /// The saved state, then the Startup of the options.
    Restarted,
    /// No state was ever saved: a new TPM.
    New,
    /// The saved state could not be loaded and `reset-on-missing-state` made a new TPM.
    Reset,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Resumed => "saved state resumed",
            Self::Restarted => "saved state loaded, Startup sent",
            Self::New => "new TPM (nothing saved yet)",
            Self::Reset => "NEW TPM replacing a state that could not be loaded",
        })
    }
}

/// Loads (or creates) the vTPM's state and returns the TPM ready to serve.
///
/// `entropy` seeds the engine's generator and the store's key generator (the image
/// passes hardware randomness from the manager mixed with its own; tests pass
/// constants). The returned TPM's state is committed.
pub fn start<D: BlockDevice, K: KeyKeeper>(
    options: &Options,
    disk: D,
    keeper: K,
    entropy: &[u8],
    now_ms: u64,
) -> Result<(Vtpm<StorePersist<D, K>>, Origin), Error> {
    if !options.hw_init_pcrs.is_empty() {
        return Err(Error::HwInitPcr);
    }
    let mut seeds = Drbg::from_entropy(entropy);
    let mut engine_seed = Zeroizing::new([0u8; 32]);
    seeds.fill(&mut engine_seed[..]);
    let mut store_seed = Zeroizing::new([0u8; 32]);
    seeds.fill(&mut store_seed[..]);
    let mut store = StateStore::new(disk, keeper);
    let mut engine = build_engine(options.family, Drbg::from_seed(*engine_seed))?;

    let origin = match store.load() {
        Ok(loaded) => {
            let parsed = envelope::parse(&loaded.snapshot).map_err(Error::Snapshot)?;
            let saved = loaded.family.unwrap_or(parsed.family);
            if saved != options.family || parsed.family != options.family {
                return Err(Error::FamilyMismatch { saved, requested: options.family });
            }
            let running = parsed.volatile.is_some();
            envelope::restore(&mut *engine, &loaded.snapshot).map_err(Error::Snapshot)?;
            kernel::info!(
                "loaded {} state generation {} from slot {} of disk {}",
                saved,
                loaded.generation,
                loaded.slot,
                loaded.disk_id
            );
            if running { Origin::Resumed } else { Origin::Restarted }
        }
        Err(vtpm_store::Error::NeverSaved { .. })
            if store.status() == vtpm_store::Status::Fresh =>
        {
            Origin::New
        }
        Err(e) if options.reset_on_missing_state => {
            kernel::error!("cannot load the saved TPM state: {e}");
            kernel::error!(
                "reset-on-missing-state is set: making a NEW, EMPTY {} for this guest; \
                 the old state (keys, NV, owner) is gone",
                options.family
            );
            store.start_fresh();
            Origin::Reset
        }
        Err(e) => return Err(Error::Load(e)),
    };

    if origin != Origin::Resumed {
        engine.init();
        let command = startup_command(options.family, options.startup);
        let response = engine.execute(ExecContext { locality: 0, now_ms }, &command);
        let code = return_code(&response);
        if code != 0 {
            return Err(Error::Startup(code));
        }
    }
    let persist = StorePersist { store, family: options.family, rng: Drbg::from_seed(*store_seed) };
    let mut vtpm = Vtpm::new(engine, persist).map_err(Error::Setup)?;
    if origin != Origin::Resumed {
        vtpm.commit().map_err(Error::Save)?;
    }
    Ok((vtpm, origin))
}

/// The vTPM's store over the domain's drivers.
pub type XenPersist<P> = StorePersist<BlkDisk<P>, vtpm_store::ProtoKeeper<ManagerLink<P>>>;

/// Random bytes asked of the hardware TPM (through the manager) to seed the vTPM.
const SEED_BYTES: u32 = 32;

/// Attempts at the first exchange with the manager before giving up.
const MANAGER_ATTEMPTS: u32 = 3;

/// The first exchange with the manager (hardware randomness for the seed). A manager
/// or xenstored slow to answer while the host is busy (a request timing out, the
/// handshake not completing in time) is retried on the same channel — tpmfront sets up
/// again — rather than stopping the vTPM; a refusal is final.
fn first_contact<P: Platform>(
    link: &mut ManagerLink<P>,
    manager_node: &str,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut attempt = 1;
    loop {
        match link.hardware_random(SEED_BYTES) {
            Ok(random) => return Ok(random),
            Err(e @ (KeeperError::NoAnswer | KeeperError::Unreachable))
                if attempt < MANAGER_ATTEMPTS =>
            {
                kernel::warn!(
                    "no answer from the manager ({manager_node}) yet: {e}; trying again \
                     ({attempt} of {MANAGER_ATTEMPTS} attempts)"
                );
                attempt += 1;
            }
            Err(e) => {
                return Err(Error::Driver(format!(
                    "cannot get randomness from the manager ({manager_node}): {e}"
                )));
            }
        }
    }
}

/// Everything between the banner and serving: the manager channel (`manager_node`,
/// normally [`tpmfront::DEFAULT_NODE`]), hardware randomness, the state disk (the
/// domain's first `device/vbd`), the state (loaded or new), and tpmback.
pub fn boot<P: Platform>(
    bus: &Rc<Bus<P>>,
    options: &Options,
    manager_node: &str,
) -> Result<(Server<P, XenPersist<P>>, Origin), Error> {
    let mut link = ManagerLink::open(bus, manager_node)?;
    let random = first_contact(&mut link, manager_node)?;
    if random.len() < SEED_BYTES as usize {
        return Err(Error::Driver(format!(
            "the manager returned {} random bytes, {SEED_BYTES} needed",
            random.len()
        )));
    }
    // The hardware TPM's bytes carry the entropy; the time only separates two boots
    // that were handed the same bytes by a broken manager.
    let mut entropy = Zeroizing::new(random.to_vec());
    entropy.extend_from_slice(&bus.now_ns().to_le_bytes());
    let disk = BlkDisk::open_first(bus)?;
    let (node, size) = (String::from(disk.node()), disk.size_bytes());
    kernel::info!("state disk {node}: {size} bytes");
    let now_ms = bus.now_ns() / 1_000_000;
    let keeper = vtpm_store::ProtoKeeper::new(link);
    let (vtpm, origin) = start(options, disk, keeper, &entropy, now_ms).map_err(|e| match e {
        // Name the disk: the store's message gives only sizes and sectors.
        Error::Load(e) => {
            Error::Driver(format!("state disk {node} ({size} bytes): {}", Error::Load(e)))
        }
        other => other,
    })?;
    kernel::info!("{}: {origin}", vtpm.family());
    Ok((Server::new(Rc::clone(bus), vtpm, options)?, origin))
}

// ---------------------------------------------------------------------------------
// Serving.

/// TPM 1.2 maintenance ordinals (Part 3 §12): CreateMaintenanceArchive,
/// LoadMaintenanceArchive, KillMaintenanceFeature, LoadManuMaintPub, ReadManuMaintPub.
const MAINTENANCE_ORDINALS: core::ops::RangeInclusive<u32> = 0x2C..=0x30;
/// TPM_BAD_ORDINAL (TPM 1.2 Part 2 §16).
const TPM_BAD_ORDINAL: u32 = 0x0A;

/// The answer to a TPM 1.2 command the vTPM refuses itself: the response tag that
/// matches the request's (RQU_COMMAND → RSP_COMMAND, AUTH1 → RSP_AUTH1, AUTH2 →
/// RSP_AUTH2; the C vTPM answered a request tag here, specs §4.5).
fn refuse12(command: &[u8], code: u32) -> Vec<u8> {
    let tag = match command.get(..2) {
        Some([0x00, 0xC2]) => 0x00C5,
        Some([0x00, 0xC3]) => 0x00C6,
        _ => 0x00C4,
    };
    tpm_engine::wire::Header::error_response(tag, code)
}

/// The vTPM's command policy applied before the engine (specs §4.5 step 3).
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// The engine family.
    pub family: Family,
    /// `maintcmds=1`.
    pub maintenance_commands: bool,
}

impl Policy {
    /// A refusal for `command`, or `None` to let the engine run it.
    pub fn check(&self, command: &[u8]) -> Option<Vec<u8>> {
        if self.family != Family::Tpm12 || self.maintenance_commands {
            return None;
        }
        let ordinal = command.get(6..10).and_then(|b| <[u8; 4]>::try_from(b).ok())?;
        MAINTENANCE_ORDINALS
            .contains(&u32::from_be_bytes(ordinal))
            .then(|| refuse12(command, TPM_BAD_ORDINAL))
    }
}

/// The prefix of tpmback's watch tokens (`tpmback`, `tpmback:<d>:<h>`; docs/drivers.md).
const TPMBACK_WATCHES: &str = "tpmback";

/// Counters of the serving loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Commands answered.
    pub answered: u64,
    /// Answers that could not be delivered (the frontend left meanwhile).
    pub undelivered: u64,
    /// Commands refused by the policy.
    pub refused: u64,
}

/// tpmback plus the TPM: serves every frontend, one command at a time.
pub struct Server<P: Platform, S: Persist> {
    bus: Rc<Bus<P>>,
    back: Tpmback<P>,
    vtpm: Vtpm<S>,
    policy: Policy,
    stats: ServeStats,
    latency: LatencyLog,
    busy: bool,
}

impl<P: Platform, S: Persist> fmt::Debug for Server<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server").field("vtpm", &self.vtpm).field("stats", &self.stats).finish()
    }
}

impl<P: Platform, S: Persist> Server<P, S> {
    /// Starts the backend (`backend/vtpm`) for a started TPM.
    pub fn new(bus: Rc<Bus<P>>, vtpm: Vtpm<S>, options: &Options) -> Result<Self, Error> {
        let family = vtpm.family();
        let config = tpmback::Config { errors: error_codes(family), ..Default::default() };
        let back = Tpmback::new(Rc::clone(&bus), config)
            .map_err(|e| Error::Driver(format!("cannot start tpmback: {e}")))?;
        let policy = Policy { family, maintenance_commands: options.maintenance_commands };
        Ok(Self {
            bus,
            back,
            vtpm,
            policy,
            stats: ServeStats::default(),
            latency: LatencyLog::default(),
            busy: false,
        })
    }

    /// The TPM.
    pub fn vtpm(&self) -> &Vtpm<S> {
        &self.vtpm
    }

    /// The TPM, mutably (orderly shutdown, tests).
    pub fn vtpm_mut(&mut self) -> &mut Vtpm<S> {
        &mut self.vtpm
    }

    /// The bus.
    pub fn bus(&self) -> &Rc<Bus<P>> {
        &self.bus
    }

    /// The backend.
    pub fn backend(&self) -> &Tpmback<P> {
        &self.back
    }

    /// Counters.
    pub fn stats(&self) -> ServeStats {
        self.stats
    }

    /// The ports to wait on for frontend traffic.
    pub fn ports(&self) -> Vec<Port> {
        self.back.ports()
    }

    /// Handles what tpmback has now: at most `budget` commands (each one executed,
    /// saved and answered before the next is taken), and every connect and
    /// disconnect. Returns the number of commands answered; a caller that gets
    /// `budget` back should check for shutdown and call again without waiting.
    pub fn serve(&mut self, budget: usize) -> usize {
        let mut done = 0;
        while done < budget {
            let Some(event) = self.back.poll() else { break };
            match event {
                Event::Opened(info) => {
                    kernel::info!("{} connected (vTPM {})", info.id, info.uuid);
                }
                Event::Closed(id) => kernel::info!("{id} disconnected"),
                Event::Request(request) => {
                    let start = self.bus.now_ns();
                    let mut timing = None;
                    let response = match self.policy.check(&request.command) {
                        Some(refusal) => {
                            self.stats.refused += 1;
                            kernel::warn!(
                                "{}: maintenance command refused (maintcmds=0)",
                                request.frontend
                            );
                            refusal
                        }
                        None => {
                            let bus = &self.bus;
                            let (response, spent) = self.vtpm.execute_timed(
                                request.locality,
                                start / 1_000_000,
                                &request.command,
                                &|| bus.now_ns(),
                            );
                            timing = Some(spent);
                            response
                        }
                    };
                    done += 1;
                    match self.back.respond(request.reply_to(), &response) {
                        Ok(()) => self.stats.answered += 1,
                        Err(e) => {
                            self.stats.undelivered += 1;
                            kernel::info!("{}: answer not delivered: {e}", request.frontend);
                        }
                    }
                    let code = request.command.get(6..10).map(|c| [c[0], c[1], c[2], c[3]]);
                    if let (Some(timing), Some(code)) = (timing, code) {
                        let total = self.bus.now_ns().saturating_sub(start);
                        if let Some(line) =
                            self.latency.record(u32::from_be_bytes(code), timing, total)
                        {
                            kernel::info!("{line}");
                        }
                    }
                }
            }
        }
        done
    }
}

/// Commands served per [`Service::poll`] before the shutdown watch is looked at again.
const POLL_BUDGET: usize = 8;

impl<P: Platform, S: Persist> Service for Server<P, S> {
    fn poll(&mut self) {
        self.busy = self.serve(POLL_BUDGET) == POLL_BUDGET;
    }

    fn ports(&self) -> Vec<Port> {
        self.back.ports()
    }

    fn watches(&self) -> Vec<String> {
        alloc::vec![String::from(TPMBACK_WATCHES)]
    }

    fn deadline_ns(&self) -> Option<u64> {
        // More requests may be waiting whose events were taken: look again at once.
        self.busy.then_some(0)
    }

    /// `xl shutdown`: a command being executed has already finished and been saved
    /// (commands run to completion inside `poll`); commands frontends submitted
    /// before the request are answered too, at most one per frontend.
    fn stop(&mut self, request: ShutdownRequest) {
        let frontends = self.back.frontends().len();
        let answered = self.serve(frontends);
        kernel::info!(
            "vtpm-stubdom: {request}: {answered} last commands answered; {} commands, {} saves",
            self.vtpm.stats().commands,
            self.vtpm.stats().saves
        );
    }
}
