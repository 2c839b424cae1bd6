//! The engine's state, split as a TPM splits it: what lives in NV
//! ([`Persistent`]), what is lost at power-off ([`Volatile`]), and what an orderly
//! TPM2_Shutdown(STATE) keeps for TPM2_Startup(STATE) ([`SavedState`]); and the
//! versioned blob format of each.
//!
//! Blob layout: magic (8 octets), format version (`u16`), then the fields in the
//! order the `put_*` functions write them, all big-endian, variable-length fields
//! with a `u16` or `u32` length. Parsers check every length and value and reject
//! trailing bytes; they build new values and never touch the running engine.

use crate::Secret;
use crate::object::{self, Object, Slot};
use crate::pcr::PcrBank;
use crate::session::{self, SessionSlot};
use crate::types::limits::{self, PCR_COUNT};
use crate::types::{HashAlg, Marshal, NvPublic, Reader, Unmarshal, Writer, cc, get_2b_vec, put_2b};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use tpm_engine::StateError;

/// Magic of the permanent blob.
const PERMANENT_MAGIC: &[u8; 8] = b"TPM2PERM";
/// Magic of the volatile blob.
const VOLATILE_MAGIC: &[u8; 8] = b"TPM2VOLA";
/// Magic of the SaveState blob.
const SAVED_MAGIC: &[u8; 8] = b"TPM2SAVE";
/// Current format version of all three blobs. Version 2 added command audit (the
/// audited commands, hash and counter in the permanent blob; the audit digest in
/// the volatile and SaveState blobs). Version 1 blobs are still read: they had no
/// command audit, so the list is TPM2_SetCommandCodeAuditStatus alone, the hash
/// the context hash, the counter 0 and the digest empty.
pub const FORMAT_VERSION: u16 = 2;
/// The oldest version the readers accept.
const OLDEST_VERSION: u16 = 1;

/// Transient object slots (`MAX_LOADED_OBJECTS`, as libtpms).
pub const MAX_OBJECTS: usize = 3;
/// Session slots (`MAX_ACTIVE_SESSIONS`).
pub const MAX_SESSIONS: usize = 64;
/// Sessions that may be loaded at once (`MAX_LOADED_SESSIONS`).
pub const MAX_LOADED_SESSIONS: usize = 3;
/// NV space for indices and persistent objects, counted as their stored sizes.
pub const NV_MEMORY: usize = 128 * 1024;
/// Persistent objects the TPM can hold.
pub const MAX_PERSISTENT: usize = 64;
/// Size of primary seeds and proofs (`PRIMARY_SEED_SIZE`, `PROOF_SIZE`).
pub const SEED_SIZE: usize = 64;

/// An authorization policy: its hash and digest (empty = no policy).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The hash the policy was computed with.
    pub alg: Option<HashAlg>,
    /// The policy digest.
    pub digest: Vec<u8>,
}

/// An NV index.
#[derive(Clone, Debug)]
pub struct NvIndex {
    /// The public area (its attributes carry WRITTEN, the locks, ...).
    pub public: NvPublic,
    /// The authValue.
    pub auth: Secret,
    /// The data (`dataSize` octets once written).
    pub data: Vec<u8>,
}

/// Dictionary-attack state and parameters (Part 1 §19.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaState {
    /// Authorization failures counted.
    pub failed_tries: u32,
    /// Failures before lockout (`maxTries`).
    pub max_tries: u32,
    /// Seconds per self-healing decrement (`recoveryTime`).
    pub recovery_time: u32,
    /// Seconds before lockoutAuth may be retried (`lockoutRecovery`).
    pub lockout_recovery: u32,
    /// False after a failed lockoutAuth, until lockoutRecovery passes.
    pub lockout_auth_enabled: bool,
}

impl Default for DaState {
    /// The reference implementation's manufacturing defaults.
    fn default() -> Self {
        DaState {
            failed_tries: 0,
            max_tries: 3,
            recovery_time: 1000,
            lockout_recovery: 1000,
            lockout_auth_enabled: true,
        }
    }
}

/// The orderly state recorded in NV (`gp.orderlyState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orderly {
    /// Not shut down orderly since the last Startup, and no DA-protected
    /// authorization was used (`SU_NONE_VALUE`).
    None,
    /// Not shut down orderly, and a DA-protected authorization was used, so a
    /// non-orderly restart counts as a failure (`SU_DA_USED_VALUE`).
    DaUsed,
    /// TPM2_Shutdown(CLEAR).
    Clear,
    /// TPM2_Shutdown(STATE).
    State,
}

impl Orderly {
    fn code(self) -> u8 {
        match self {
            Orderly::None => 0,
            Orderly::DaUsed => 1,
            Orderly::Clear => 2,
            Orderly::State => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Orderly::None,
            1 => Orderly::DaUsed,
            2 => Orderly::Clear,
            3 => Orderly::State,
            _ => return None,
        })
    }

    /// True after a TPM2_Shutdown.
    pub fn is_orderly(self) -> bool {
        matches!(self, Orderly::Clear | Orderly::State)
    }
}

/// What a TPM keeps in NV.
#[derive(Clone, Debug)]
pub struct Persistent {
    /// Identifies this TPM instance: volatile and SaveState blobs carry it.
    pub tpm_id: [u8; 16],
    /// Endorsement primary seed.
    pub eps: Secret,
    /// Storage primary seed.
    pub sps: Secret,
    /// Platform primary seed.
    pub pps: Secret,
    /// Endorsement hierarchy proof.
    pub eh_proof: Secret,
    /// Storage hierarchy proof.
    pub sh_proof: Secret,
    /// Platform hierarchy proof.
    pub ph_proof: Secret,
    /// ownerAuth.
    pub owner_auth: Secret,
    /// endorsementAuth.
    pub endorsement_auth: Secret,
    /// lockoutAuth.
    pub lockout_auth: Secret,
    /// ownerPolicy.
    pub owner_policy: Policy,
    /// endorsementPolicy.
    pub endorsement_policy: Policy,
    /// lockoutPolicy.
    pub lockout_policy: Policy,
    /// authPolicy of the PCR group (TPM2_PCR_SetAuthPolicy).
    pub pcr_policy: Policy,
    /// TPM2_ClearControl state.
    pub disable_clear: bool,
    /// Dictionary-attack state.
    pub da: DaState,
    /// The Clock as last written to NV.
    pub clock: u64,
    /// False if the Clock may have gone backwards (non-orderly shutdown).
    pub clock_safe: bool,
    /// TPM Resets since the last TPM2_Clear.
    pub reset_count: u32,
    /// The PCR banks allocated at the next TPM Reset.
    pub pcr_allocation: Vec<HashAlg>,
    /// How the TPM was last shut down (`gp.orderlyState`).
    pub orderly: Orderly,
    /// The TPM's "established" flag (TPM_ACCESS.tpmEstablishment).
    pub established: bool,
    /// The largest count a deleted counter index reached: new counters start
    /// there, so that a counter's value never repeats (`NvReadMaxCount`).
    pub max_counter: u64,
    /// NV indices by handle.
    pub nv: BTreeMap<u32, NvIndex>,
    /// Persistent objects by handle.
    pub objects: BTreeMap<u32, Object>,
    /// The audited command codes, ascending (`gp.auditCommands`).
    pub audit_commands: Vec<u32>,
    /// The command audit hash (`gp.auditHashAlg`).
    pub audit_alg: HashAlg,
    /// The command audit counter (`gp.auditCounter`).
    pub audit_counter: u64,
}

/// What a TPM loses at power-off.
#[derive(Clone, Debug)]
pub struct Volatile {
    /// TPM2_Startup succeeded.
    pub started: bool,
    /// shEnable.
    pub sh_enable: bool,
    /// ehEnable.
    pub eh_enable: bool,
    /// phEnable.
    pub ph_enable: bool,
    /// phEnableNV.
    pub ph_enable_nv: bool,
    /// platformAuth.
    pub platform_auth: Secret,
    /// platformPolicy.
    pub platform_policy: Policy,
    /// authValue of the PCR group (PCRs 20–22).
    pub pcr_auth: Secret,
    /// Seed of the null hierarchy (new at every TPM Reset).
    pub null_seed: Secret,
    /// Proof of the null hierarchy.
    pub null_proof: Secret,
    /// TPM2_Clear calls since the last TPM Reset (part of context integrity).
    pub clear_count: u32,
    /// TPM Restarts/Resumes since the last TPM Reset.
    pub restart_count: u32,
    /// pcrUpdateCounter.
    pub pcr_counter: u32,
    /// The next context sequence number.
    pub context_counter: u64,
    /// The allocated PCR banks with their values.
    pub banks: Vec<PcrBank>,
    /// Transient object slots.
    pub objects: Vec<Option<Slot>>,
    /// Session slots.
    pub sessions: Vec<Option<SessionSlot>>,
    /// Milliseconds since _TPM_Init.
    pub time: u64,
    /// The running Clock.
    pub clock: u64,
    /// Time of the last DA failure or self-healing step.
    pub self_heal_timer: u64,
    /// Time lockoutAuth was disabled.
    pub lockout_timer: u64,
    /// The session that audited every command since it was last (re)started.
    pub exclusive_audit: Option<u32>,
    /// A _TPM_Hash_Start sequence in progress: one hash per algorithm.
    pub drtm: Option<Vec<crate::crypto::hash::Hasher>>,
    /// An H-CRTM measurement (_TPM_Hash_End before Startup) waiting for
    /// TPM2_Startup to place it in PCR 0: one digest per algorithm.
    pub hcrtm: Option<Vec<(HashAlg, Vec<u8>)>>,
    /// A DA-protected authorization was used since Startup (`g_daUsed`).
    pub da_used: bool,
    /// TPM2_Startup ran at locality 3.
    pub locality3: bool,
    /// The last Startup followed an orderly Shutdown (TPMA_STARTUP_CLEAR.orderly).
    pub orderly_startup: bool,
    /// The command audit digest; `None` until the next audited command starts one
    /// (`gr.commandAuditDigest` of size zero).
    pub command_audit: Option<Vec<u8>>,
}

/// What TPM2_Shutdown(STATE) saves for TPM2_Startup(STATE) (a TPM Resume) and
/// for a TPM Restart.
#[derive(Clone, Debug)]
pub struct SavedState {
    /// The TPM this belongs to.
    pub tpm_id: [u8; 16],
    /// resetCount when saved: a TPM Reset in between makes it stale.
    pub reset_count: u32,
    /// Banks with the values of the state-saved PCRs (0–15).
    pub banks: Vec<PcrBank>,
    /// shEnable.
    pub sh_enable: bool,
    /// ehEnable.
    pub eh_enable: bool,
    /// phEnableNV.
    pub ph_enable_nv: bool,
    /// platformAuth.
    pub platform_auth: Secret,
    /// platformPolicy.
    pub platform_policy: Policy,
    /// PCR group authValue.
    pub pcr_auth: Secret,
    /// Null hierarchy seed.
    pub null_seed: Secret,
    /// Null hierarchy proof.
    pub null_proof: Secret,
    /// clearCount.
    pub clear_count: u32,
    /// restartCount.
    pub restart_count: u32,
    /// pcrUpdateCounter.
    pub pcr_counter: u32,
    /// Next context sequence number.
    pub context_counter: u64,
    /// Saved-session slots (so that saved session contexts stay loadable).
    pub saved_sessions: Vec<(usize, u64)>,
    /// The TPM was started at locality 3 (Startup(STATE) must be too).
    pub locality3: bool,
    /// The command audit digest (kept across TPM Restart and Resume).
    pub command_audit: Option<Vec<u8>>,
}

// ---------------------------------------------------------------------------------
// Serialisation helpers
// ---------------------------------------------------------------------------------

fn err(_: impl core::fmt::Debug) -> StateError {
    StateError::Malformed
}

fn get_secret(r: &mut Reader<'_>, max: usize) -> Result<Secret, StateError> {
    Ok(Secret::new(get_2b_vec(r, max).map_err(|_| StateError::Truncated)?))
}

fn get_bool(r: &mut Reader<'_>) -> Result<bool, StateError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(StateError::Malformed),
    }
}

fn put_policy(w: &mut Writer, p: &Policy) {
    w.u16(p.alg.map_or(crate::types::alg::NULL, HashAlg::id));
    put_2b(w, &p.digest);
}

fn get_policy(r: &mut Reader<'_>) -> Result<Policy, StateError> {
    let id = r.u16()?;
    let alg = if id == crate::types::alg::NULL {
        None
    } else {
        Some(HashAlg::from_id(id).ok_or(StateError::Malformed)?)
    };
    let digest = get_2b_vec(r, limits::MAX_DIGEST).map_err(err)?;
    if alg.is_none() && !digest.is_empty() {
        return Err(StateError::Malformed);
    }
    Ok(Policy { alg, digest })
}

fn put_banks(w: &mut Writer, banks: &[PcrBank], count: usize) {
    w.u8(u8::try_from(banks.len()).unwrap_or(0));
    for b in banks {
        w.u16(b.alg.id());
        for v in b.values.iter().take(count) {
            w.bytes(v);
        }
    }
}

fn get_banks(r: &mut Reader<'_>, count: usize) -> Result<Vec<PcrBank>, StateError> {
    let n = r.u8()?;
    let mut banks: Vec<PcrBank> = Vec::new();
    for _ in 0..n {
        let alg = HashAlg::from_id(r.u16()?).ok_or(StateError::Malformed)?;
        if banks.iter().any(|b| b.alg >= alg) {
            // Banks are stored in algorithm order, each once.
            return Err(StateError::Malformed);
        }
        let mut values = Vec::new();
        for _ in 0..count {
            values.push(r.bytes(alg.size())?.to_vec());
        }
        banks.push(PcrBank { alg, values });
    }
    Ok(banks)
}

fn put_opt_digest(w: &mut Writer, d: &Option<Vec<u8>>) {
    match d {
        Some(d) => {
            w.u8(1);
            put_2b(w, d);
        }
        None => {
            w.u8(0);
        }
    }
}

fn get_opt_digest(r: &mut Reader<'_>) -> Result<Option<Vec<u8>>, StateError> {
    Ok(match r.u8()? {
        0 => None,
        1 => {
            let d = get_2b_vec(r, limits::MAX_DIGEST).map_err(err)?;
            if !HashAlg::ALL.iter().any(|a| a.size() == d.len()) {
                return Err(StateError::Malformed);
            }
            Some(d)
        }
        _ => return Err(StateError::Malformed),
    })
}

/// The command audit list: ascending implemented codes, Shutdown never, and
/// TPM2_SetCommandCodeAuditStatus always.
fn valid_audit_list(list: &[u32]) -> bool {
    list.windows(2).all(|w| w.first() < w.get(1))
        && list.iter().all(|&c| crate::commands::lookup(c).is_some() && c != cc::SHUTDOWN)
        && list.contains(&cc::SET_COMMAND_CODE_AUDIT_STATUS)
}

fn put_header(w: &mut Writer, magic: &[u8; 8]) {
    w.bytes(magic).u16(FORMAT_VERSION);
}

/// Checks the magic and returns the format version (`OLDEST_VERSION` ..=
/// `FORMAT_VERSION`).
fn check_header(r: &mut Reader<'_>, magic: &[u8; 8]) -> Result<u16, StateError> {
    if r.bytes(8)? != magic {
        return Err(StateError::BadMagic);
    }
    let version = r.u16()?;
    if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(StateError::UnsupportedVersion(version));
    }
    Ok(version)
}

// ---------------------------------------------------------------------------------
// Permanent
// ---------------------------------------------------------------------------------

impl Persistent {
    /// Serialises the permanent state.
    pub fn to_blob(&self) -> Secret {
        let mut w = Writer::new();
        put_header(&mut w, PERMANENT_MAGIC);
        w.bytes(&self.tpm_id);
        for s in [&self.eps, &self.sps, &self.pps, &self.eh_proof, &self.sh_proof, &self.ph_proof] {
            put_2b(&mut w, s);
        }
        for s in [&self.owner_auth, &self.endorsement_auth, &self.lockout_auth] {
            put_2b(&mut w, s);
        }
        for p in
            [&self.owner_policy, &self.endorsement_policy, &self.lockout_policy, &self.pcr_policy]
        {
            put_policy(&mut w, p);
        }
        w.u8(u8::from(self.disable_clear));
        let da = &self.da;
        w.u32(da.failed_tries).u32(da.max_tries).u32(da.recovery_time).u32(da.lockout_recovery);
        w.u8(u8::from(da.lockout_auth_enabled));
        w.u64(self.clock).u8(u8::from(self.clock_safe)).u32(self.reset_count);
        w.u8(u8::try_from(self.pcr_allocation.len()).unwrap_or(0));
        for a in &self.pcr_allocation {
            w.u16(a.id());
        }
        w.u8(self.orderly.code());
        w.u8(u8::from(self.established)).u64(self.max_counter);
        w.u32(u32::try_from(self.nv.len()).unwrap_or(0));
        for index in self.nv.values() {
            put_2b(&mut w, &index.public.to_bytes());
            put_2b(&mut w, &index.auth);
            put_2b(&mut w, &index.data);
        }
        w.u32(u32::try_from(self.objects.len()).unwrap_or(0));
        for (handle, o) in &self.objects {
            w.u32(*handle);
            object::put_object(&mut w, o);
        }
        w.u16(u16::try_from(self.audit_commands.len()).unwrap_or(0));
        for c in &self.audit_commands {
            w.u32(*c);
        }
        w.u16(self.audit_alg.id()).u64(self.audit_counter);
        Secret::new(w.into_vec())
    }

    /// Parses a permanent blob.
    pub fn from_blob(blob: &[u8]) -> Result<Self, StateError> {
        let mut r = Reader::new(blob);
        let version = check_header(&mut r, PERMANENT_MAGIC)?;
        let tpm_id = r.array::<16>()?;
        let mut seeds = Vec::new();
        for _ in 0..6 {
            let s = get_secret(&mut r, SEED_SIZE)?;
            if s.len() != SEED_SIZE {
                return Err(StateError::Malformed);
            }
            seeds.push(s);
        }
        let mut auths = Vec::new();
        for _ in 0..3 {
            auths.push(get_secret(&mut r, limits::MAX_DIGEST)?);
        }
        let owner_policy = get_policy(&mut r)?;
        let endorsement_policy = get_policy(&mut r)?;
        let lockout_policy = get_policy(&mut r)?;
        let pcr_policy = get_policy(&mut r)?;
        let disable_clear = get_bool(&mut r)?;
        let da = DaState {
            failed_tries: r.u32()?,
            max_tries: r.u32()?,
            recovery_time: r.u32()?,
            lockout_recovery: r.u32()?,
            lockout_auth_enabled: get_bool(&mut r)?,
        };
        let clock = r.u64()?;
        let clock_safe = get_bool(&mut r)?;
        let reset_count = r.u32()?;
        let n = r.u8()?;
        let mut pcr_allocation: Vec<HashAlg> = Vec::new();
        for _ in 0..n {
            let a = HashAlg::from_id(r.u16()?).ok_or(StateError::Malformed)?;
            if pcr_allocation.iter().any(|b| *b >= a) {
                return Err(StateError::Malformed);
            }
            pcr_allocation.push(a);
        }
        let orderly = Orderly::from_code(r.u8()?).ok_or(StateError::Malformed)?;
        let established = get_bool(&mut r)?;
        let max_counter = r.u64()?;
        let mut nv = BTreeMap::new();
        let count = r.u32()?;
        for _ in 0..count {
            let public =
                NvPublic::from_bytes(&get_2b_vec(&mut r, 256).map_err(err)?).map_err(err)?;
            let auth = get_secret(&mut r, limits::MAX_DIGEST)?;
            let data = get_2b_vec(&mut r, limits::MAX_NV_INDEX_SIZE).map_err(err)?;
            if data.len() > usize::from(public.data_size)
                || nv.insert(public.index, NvIndex { public, auth, data }).is_some()
            {
                return Err(StateError::Malformed);
            }
        }
        let mut objects = BTreeMap::new();
        let count = r.u32()?;
        for _ in 0..count {
            let handle = r.u32()?;
            if !(crate::types::handle::PERSISTENT_FIRST..=crate::types::handle::PERSISTENT_LAST)
                .contains(&handle)
            {
                return Err(StateError::Malformed);
            }
            let o = object::get_object(&mut r).ok_or(StateError::Malformed)?;
            if objects.insert(handle, o).is_some() {
                return Err(StateError::Malformed);
            }
        }
        let (audit_commands, audit_alg, audit_counter) = if version >= 2 {
            let count = usize::from(r.u16()?);
            if count > crate::commands::TABLE.len() {
                return Err(StateError::Malformed);
            }
            let mut audit_commands = Vec::with_capacity(count);
            for _ in 0..count {
                audit_commands.push(r.u32()?);
            }
            if !valid_audit_list(&audit_commands) {
                return Err(StateError::Malformed);
            }
            let audit_alg = HashAlg::from_id(r.u16()?).ok_or(StateError::Malformed)?;
            (audit_commands, audit_alg, r.u64()?)
        } else {
            (
                alloc::vec![cc::SET_COMMAND_CODE_AUDIT_STATUS],
                crate::commands::audit::INITIAL_AUDIT_HASH,
                0,
            )
        };
        r.finish()?;
        let mut seeds = seeds.into_iter();
        let mut next = || seeds.next().ok_or(StateError::Malformed);
        let (eps, sps, pps, eh_proof, sh_proof, ph_proof) =
            (next()?, next()?, next()?, next()?, next()?, next()?);
        let mut auths = auths.into_iter();
        let mut next = || auths.next().ok_or(StateError::Malformed);
        let (owner_auth, endorsement_auth, lockout_auth) = (next()?, next()?, next()?);
        Ok(Persistent {
            tpm_id,
            eps,
            sps,
            pps,
            eh_proof,
            sh_proof,
            ph_proof,
            owner_auth,
            endorsement_auth,
            lockout_auth,
            owner_policy,
            endorsement_policy,
            lockout_policy,
            pcr_policy,
            disable_clear,
            da,
            clock,
            clock_safe,
            reset_count,
            pcr_allocation,
            orderly,
            established,
            max_counter,
            nv,
            objects,
            audit_commands,
            audit_alg,
            audit_counter,
        })
    }
}

// ---------------------------------------------------------------------------------
// Volatile
// ---------------------------------------------------------------------------------

impl Volatile {
    /// The state right after _TPM_Init: nothing started, nothing loaded.
    pub fn power_on() -> Self {
        Volatile {
            started: false,
            sh_enable: true,
            eh_enable: true,
            ph_enable: true,
            ph_enable_nv: true,
            platform_auth: Secret::default(),
            platform_policy: Policy::default(),
            pcr_auth: Secret::default(),
            null_seed: Secret::new(alloc::vec![0; SEED_SIZE]),
            null_proof: Secret::new(alloc::vec![0; SEED_SIZE]),
            clear_count: 0,
            restart_count: 0,
            pcr_counter: 0,
            context_counter: 0,
            banks: Vec::new(),
            objects: alloc::vec![None; MAX_OBJECTS],
            sessions: alloc::vec![None; MAX_SESSIONS],
            time: 0,
            clock: 0,
            self_heal_timer: 0,
            lockout_timer: 0,
            exclusive_audit: None,
            drtm: None,
            hcrtm: None,
            da_used: false,
            locality3: false,
            orderly_startup: false,
            command_audit: None,
        }
    }

    /// Serialises the volatile state, bound to the TPM and its reset cycle.
    pub fn to_blob(&self, tpm_id: &[u8; 16], reset_count: u32) -> Secret {
        let mut w = Writer::new();
        put_header(&mut w, VOLATILE_MAGIC);
        w.bytes(tpm_id).u32(reset_count);
        w.u8(u8::from(self.started));
        for b in [self.sh_enable, self.eh_enable, self.ph_enable, self.ph_enable_nv] {
            w.u8(u8::from(b));
        }
        put_2b(&mut w, &self.platform_auth);
        put_policy(&mut w, &self.platform_policy);
        put_2b(&mut w, &self.pcr_auth);
        put_2b(&mut w, &self.null_seed);
        put_2b(&mut w, &self.null_proof);
        w.u32(self.clear_count).u32(self.restart_count).u32(self.pcr_counter);
        w.u64(self.context_counter);
        put_banks(&mut w, &self.banks, PCR_COUNT);
        for slot in &self.objects {
            match slot {
                None => {
                    w.u8(0);
                }
                Some(Slot::Object(o)) => {
                    w.u8(1);
                    object::put_object(&mut w, o);
                }
                Some(Slot::Sequence(s)) => {
                    w.u8(2);
                    object::put_sequence(&mut w, s);
                }
            }
        }
        for slot in &self.sessions {
            match slot {
                None => {
                    w.u8(0);
                }
                Some(SessionSlot::Loaded(s)) => {
                    w.u8(1);
                    session::put_session(&mut w, s);
                }
                Some(SessionSlot::Saved { sequence }) => {
                    w.u8(2).u64(*sequence);
                }
            }
        }
        w.u64(self.time).u64(self.clock).u64(self.self_heal_timer).u64(self.lockout_timer);
        match self.exclusive_audit {
            Some(h) => w.u8(1).u32(h),
            None => w.u8(0),
        };
        match &self.drtm {
            Some(hashers) => {
                w.u8(1).u8(u8::try_from(hashers.len()).unwrap_or(0));
                for h in hashers {
                    w.u16(h.alg().id());
                    put_2b(&mut w, &h.save());
                }
            }
            None => {
                w.u8(0);
            }
        }
        match &self.hcrtm {
            Some(digests) => {
                w.u8(1).u8(u8::try_from(digests.len()).unwrap_or(0));
                for (alg, d) in digests {
                    w.u16(alg.id());
                    put_2b(&mut w, d);
                }
            }
            None => {
                w.u8(0);
            }
        }
        w.u8(u8::from(self.da_used))
            .u8(u8::from(self.locality3))
            .u8(u8::from(self.orderly_startup));
        put_opt_digest(&mut w, &self.command_audit);
        Secret::new(w.into_vec())
    }

    /// Parses a volatile blob that must belong to `tpm_id` and reset cycle
    /// `reset_count` ([`StateError::Inconsistent`] otherwise).
    pub fn from_blob(blob: &[u8], tpm_id: &[u8; 16], reset_count: u32) -> Result<Self, StateError> {
        let mut r = Reader::new(blob);
        let version = check_header(&mut r, VOLATILE_MAGIC)?;
        let id = r.array::<16>()?;
        let rc = r.u32()?;
        let mut v = Volatile::power_on();
        v.started = get_bool(&mut r)?;
        v.sh_enable = get_bool(&mut r)?;
        v.eh_enable = get_bool(&mut r)?;
        v.ph_enable = get_bool(&mut r)?;
        v.ph_enable_nv = get_bool(&mut r)?;
        v.platform_auth = get_secret(&mut r, limits::MAX_DIGEST)?;
        v.platform_policy = get_policy(&mut r)?;
        v.pcr_auth = get_secret(&mut r, limits::MAX_DIGEST)?;
        v.null_seed = get_secret(&mut r, SEED_SIZE)?;
        v.null_proof = get_secret(&mut r, SEED_SIZE)?;
        if v.null_seed.len() != SEED_SIZE || v.null_proof.len() != SEED_SIZE {
            return Err(StateError::Malformed);
        }
        v.clear_count = r.u32()?;
        v.restart_count = r.u32()?;
        v.pcr_counter = r.u32()?;
        v.context_counter = r.u64()?;
        v.banks = get_banks(&mut r, PCR_COUNT)?;
        for slot in v.objects.iter_mut() {
            *slot = match r.u8()? {
                0 => None,
                1 => Some(Slot::Object(Box::new(
                    object::get_object(&mut r).ok_or(StateError::Malformed)?,
                ))),
                2 => Some(Slot::Sequence(Box::new(
                    object::get_sequence(&mut r).ok_or(StateError::Malformed)?,
                ))),
                _ => return Err(StateError::Malformed),
            };
        }
        for slot in v.sessions.iter_mut() {
            *slot = match r.u8()? {
                0 => None,
                1 => Some(SessionSlot::Loaded(Box::new(
                    session::get_session(&mut r).ok_or(StateError::Malformed)?,
                ))),
                2 => Some(SessionSlot::Saved { sequence: r.u64()? }),
                _ => return Err(StateError::Malformed),
            };
        }
        let loaded =
            v.sessions.iter().filter(|s| matches!(s, Some(SessionSlot::Loaded(_)))).count();
        if loaded > MAX_LOADED_SESSIONS {
            return Err(StateError::Malformed);
        }
        v.time = r.u64()?;
        v.clock = r.u64()?;
        v.self_heal_timer = r.u64()?;
        v.lockout_timer = r.u64()?;
        v.exclusive_audit = match r.u8()? {
            0 => None,
            1 => Some(r.u32()?),
            _ => return Err(StateError::Malformed),
        };
        v.drtm = match r.u8()? {
            0 => None,
            1 => {
                let n = r.u8()?;
                let mut hashers = Vec::new();
                for _ in 0..n {
                    let alg = HashAlg::from_id(r.u16()?).ok_or(StateError::Malformed)?;
                    let state = get_2b_vec(&mut r, 512).map_err(err)?;
                    hashers.push(
                        crate::crypto::hash::Hasher::restore(alg, &state)
                            .ok_or(StateError::Malformed)?,
                    );
                }
                Some(hashers)
            }
            _ => return Err(StateError::Malformed),
        };
        v.hcrtm = match r.u8()? {
            0 => None,
            1 => {
                let n = r.u8()?;
                let mut digests = Vec::new();
                for _ in 0..n {
                    let alg = HashAlg::from_id(r.u16()?).ok_or(StateError::Malformed)?;
                    let d = get_2b_vec(&mut r, limits::MAX_DIGEST).map_err(err)?;
                    if d.len() != alg.size() {
                        return Err(StateError::Malformed);
                    }
                    digests.push((alg, d));
                }
                Some(digests)
            }
            _ => return Err(StateError::Malformed),
        };
        v.da_used = get_bool(&mut r)?;
        v.locality3 = get_bool(&mut r)?;
        v.orderly_startup = get_bool(&mut r)?;
        v.command_audit = if version >= 2 { get_opt_digest(&mut r)? } else { None };
        r.finish()?;
        if &id != tpm_id || rc != reset_count {
            return Err(StateError::Inconsistent);
        }
        Ok(v)
    }
}

// ---------------------------------------------------------------------------------
// SaveState
// ---------------------------------------------------------------------------------

/// PCRs 0..16 are the state-saved ones (PC Client).
const SAVED_PCRS: usize = 16;

impl SavedState {
    /// Serialises the saved state.
    pub fn to_blob(&self) -> Secret {
        let mut w = Writer::new();
        put_header(&mut w, SAVED_MAGIC);
        w.bytes(&self.tpm_id).u32(self.reset_count);
        put_banks(&mut w, &self.banks, SAVED_PCRS);
        for b in [self.sh_enable, self.eh_enable, self.ph_enable_nv] {
            w.u8(u8::from(b));
        }
        put_2b(&mut w, &self.platform_auth);
        put_policy(&mut w, &self.platform_policy);
        put_2b(&mut w, &self.pcr_auth);
        put_2b(&mut w, &self.null_seed);
        put_2b(&mut w, &self.null_proof);
        w.u32(self.clear_count).u32(self.restart_count).u32(self.pcr_counter);
        w.u64(self.context_counter);
        w.u8(u8::try_from(self.saved_sessions.len()).unwrap_or(0));
        for (slot, seq) in &self.saved_sessions {
            w.u8(u8::try_from(*slot).unwrap_or(u8::MAX)).u64(*seq);
        }
        w.u8(u8::from(self.locality3));
        put_opt_digest(&mut w, &self.command_audit);
        Secret::new(w.into_vec())
    }

    /// Parses a SaveState blob, which must belong to `tpm_id`.
    pub fn from_blob(blob: &[u8], tpm_id: &[u8; 16]) -> Result<Self, StateError> {
        let mut r = Reader::new(blob);
        let version = check_header(&mut r, SAVED_MAGIC)?;
        let id = r.array::<16>()?;
        let reset_count = r.u32()?;
        let mut banks = get_banks(&mut r, SAVED_PCRS)?;
        // Saved banks hold only PCRs 0-15; pad so that they have the full shape.
        for b in banks.iter_mut() {
            b.values.resize(PCR_COUNT, alloc::vec![0; b.alg.size()]);
        }
        let sh_enable = get_bool(&mut r)?;
        let eh_enable = get_bool(&mut r)?;
        let ph_enable_nv = get_bool(&mut r)?;
        let platform_auth = get_secret(&mut r, limits::MAX_DIGEST)?;
        let platform_policy = get_policy(&mut r)?;
        let pcr_auth = get_secret(&mut r, limits::MAX_DIGEST)?;
        let null_seed = get_secret(&mut r, SEED_SIZE)?;
        let null_proof = get_secret(&mut r, SEED_SIZE)?;
        if null_seed.len() != SEED_SIZE || null_proof.len() != SEED_SIZE {
            return Err(StateError::Malformed);
        }
        let clear_count = r.u32()?;
        let restart_count = r.u32()?;
        let pcr_counter = r.u32()?;
        let context_counter = r.u64()?;
        let n = r.u8()?;
        let mut saved_sessions = Vec::new();
        for _ in 0..n {
            let slot = usize::from(r.u8()?);
            if slot >= MAX_SESSIONS || saved_sessions.iter().any(|(s, _)| *s == slot) {
                return Err(StateError::Malformed);
            }
            saved_sessions.push((slot, r.u64()?));
        }
        let locality3 = get_bool(&mut r)?;
        let command_audit = if version >= 2 { get_opt_digest(&mut r)? } else { None };
        r.finish()?;
        if &id != tpm_id {
            return Err(StateError::Inconsistent);
        }
        Ok(SavedState {
            tpm_id: id,
            reset_count,
            banks,
            sh_enable,
            eh_enable,
            ph_enable_nv,
            platform_auth,
            platform_policy,
            pcr_auth,
            null_seed,
            null_proof,
            clear_count,
            restart_count,
            pcr_counter,
            context_counter,
            saved_sessions,
            locality3,
            command_audit,
        })
    }
}
