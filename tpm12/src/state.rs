//! The TPM's state (Part 2 §7) and its versioned, deterministic serialisation.
//!
//! Three blobs, one per [`tpm_engine::StateKind`]:
//! - permanent: TPM_PERMANENT_FLAGS and TPM_PERMANENT_DATA (owner, EK, SRK, proofs,
//!   NV indices, counters, dictionary-attack counter);
//! - volatile: everything in RAM (TPM_STCLEAR_*, TPM_STANY_*, loaded keys, sessions,
//!   the SHA-1 thread, test state), bound to the permanent state it belongs to;
//! - save-state: what TPM_SaveState preserved for TPM_Startup(ST_STATE).
//!
//! Every blob starts with a 4-byte magic and a `u16` format version; the layout is
//! documented in docs/tpm12.md. Decoders build a complete new value before anything
//! is replaced, so a bad blob changes nothing.

use alloc::vec::Vec;
use sha1::digest::common::hazmat::SerializableState;
use tpm_engine::StateError;
use tpm_engine::wire::{Reader, Writer};
use zeroize::{Zeroize, Zeroizing};

use crate::consts::NUM_PCRS;
use crate::crypto::{self, Digest20, RsaKeyPair};
use crate::structs::{Key, NvDataPublic, PcrInfo, StoreAsymKey};

/// A 20-byte secret, wiped on drop.
pub type Secret = Zeroizing<Digest20>;

/// Wraps a value as a [`Secret`].
pub fn secret(value: Digest20) -> Secret {
    Zeroizing::new(value)
}

/// Current format version of all three blobs.
pub const FORMAT_VERSION: u16 = 1;
const MAGIC_PERMANENT: &[u8; 4] = b"T12P";
const MAGIC_VOLATILE: &[u8; 4] = b"T12V";
const MAGIC_SAVED: &[u8; 4] = b"T12S";
/// Bound for any variable-length field in a blob (keys, NV data).
const MAX_BLOB_FIELD: usize = 1 << 20;
/// Bound for element counts in a blob.
const MAX_ITEMS: u32 = 4096;

/// TPM_PERMANENT_FLAGS (Part 2 §7.1), in specification order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs, reason = "each field is the specification's flag of the same name")]
pub struct PermanentFlags {
    pub disable: bool,
    pub ownership: bool,
    pub deactivated: bool,
    pub read_pubek: bool,
    pub disable_owner_clear: bool,
    pub allow_maintenance: bool,
    pub physical_presence_lifetime_lock: bool,
    pub physical_presence_hw_enable: bool,
    pub physical_presence_cmd_enable: bool,
    pub cekp_used: bool,
    pub tpm_post: bool,
    pub tpm_post_lock: bool,
    pub fips: bool,
    pub operator: bool,
    pub enable_revoke_ek: bool,
    pub nv_locked: bool,
    pub read_srk_pub: bool,
    pub tpm_established: bool,
    pub maintenance_done: bool,
    pub disable_full_da_logic_info: bool,
}

impl PermanentFlags {
    /// The flags as the 20 bytes of the TPM_CAP_FLAG_PERMANENT answer (after the tag).
    pub fn to_array(self) -> [bool; 20] {
        [
            self.disable,
            self.ownership,
            self.deactivated,
            self.read_pubek,
            self.disable_owner_clear,
            self.allow_maintenance,
            self.physical_presence_lifetime_lock,
            self.physical_presence_hw_enable,
            self.physical_presence_cmd_enable,
            self.cekp_used,
            self.tpm_post,
            self.tpm_post_lock,
            self.fips,
            self.operator,
            self.enable_revoke_ek,
            self.nv_locked,
            self.read_srk_pub,
            self.tpm_established,
            self.maintenance_done,
            self.disable_full_da_logic_info,
        ]
    }

    fn from_array(a: [bool; 20]) -> Self {
        let [
            disable,
            ownership,
            deactivated,
            read_pubek,
            disable_owner_clear,
            allow_maintenance,
            physical_presence_lifetime_lock,
            physical_presence_hw_enable,
            physical_presence_cmd_enable,
            cekp_used,
            tpm_post,
            tpm_post_lock,
            fips,
            operator,
            enable_revoke_ek,
            nv_locked,
            read_srk_pub,
            tpm_established,
            maintenance_done,
            disable_full_da_logic_info,
        ] = a;
        Self {
            disable,
            ownership,
            deactivated,
            read_pubek,
            disable_owner_clear,
            allow_maintenance,
            physical_presence_lifetime_lock,
            physical_presence_hw_enable,
            physical_presence_cmd_enable,
            cekp_used,
            tpm_post,
            tpm_post_lock,
            fips,
            operator,
            enable_revoke_ek,
            nv_locked,
            read_srk_pub,
            tpm_established,
            maintenance_done,
            disable_full_da_logic_info,
        }
    }
}

/// TPM_STCLEAR_FLAGS (Part 2 §7.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs, reason = "each field is the specification's flag of the same name")]
pub struct StClearFlags {
    pub deactivated: bool,
    pub disable_force_clear: bool,
    pub physical_presence: bool,
    pub physical_presence_lock: bool,
    pub global_lock: bool,
}

impl StClearFlags {
    /// The five flags in specification order.
    pub fn to_array(self) -> [bool; 5] {
        [
            self.deactivated,
            self.disable_force_clear,
            self.physical_presence,
            self.physical_presence_lock,
            self.global_lock,
        ]
    }

    fn from_array(a: [bool; 5]) -> Self {
        let [
            deactivated,
            disable_force_clear,
            physical_presence,
            physical_presence_lock,
            global_lock,
        ] = a;
        Self {
            deactivated,
            disable_force_clear,
            physical_presence,
            physical_presence_lock,
            global_lock,
        }
    }
}

/// A key inside the TPM: its public structure and its decrypted secrets.
#[derive(Clone, Debug)]
pub struct TpmKey {
    /// The key structure as loaded (encData is the blob it came from).
    pub public: Key,
    /// usageAuth.
    pub usage_auth: Secret,
    /// migrationAuth.
    pub migration_auth: Secret,
    /// The RSA key pair.
    pub pair: RsaKeyPair,
}

impl TpmKey {
    fn write(&self, w: &mut Writer) {
        put_sized(w, &self.public.to_bytes());
        w.bytes(&self.usage_auth[..]).bytes(&self.migration_auth[..]);
        put_sized(w, self.pair.prime());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, StateError> {
        let bytes = r.sized_u32(MAX_BLOB_FIELD)?;
        let mut kr = Reader::new(bytes);
        let public = Key::parse(&mut kr).map_err(|_| StateError::Malformed)?;
        kr.finish().map_err(|_| StateError::Malformed)?;
        let usage_auth = secret(r.array()?);
        let migration_auth = secret(r.array()?);
        let prime = Zeroizing::new(r.sized_u32(MAX_BLOB_FIELD)?.to_vec());
        let parms = public.parms.rsa_parms().map_err(|_| StateError::Malformed)?;
        let pair = RsaKeyPair::from_modulus_and_prime(&public.pub_key, parms.exponent, &prime)
            .map_err(|_| StateError::Malformed)?;
        Ok(Self { public, usage_auth, migration_auth, pair })
    }

    /// The TPM_STORE_ASYMKEY of this key.
    pub fn store_asymkey(&self, payload: u8) -> StoreAsymKey {
        StoreAsymKey {
            payload,
            usage_auth: *self.usage_auth,
            migration_auth: *self.migration_auth,
            pub_data_digest: self.public.pub_data_digest(),
            prime: self.pair.prime().to_vec(),
        }
    }
}

/// A monotonic counter (Part 2 §20, TPM_COUNTER_VALUE plus its authorization).
#[derive(Clone, Debug)]
pub struct Counter {
    /// countID, the handle.
    pub id: u32,
    /// label.
    pub label: [u8; 4],
    /// counter.
    pub value: u32,
    /// The counter's authorization value.
    pub auth: Secret,
}

/// A defined NV index.
#[derive(Clone, Debug)]
pub struct NvIndex {
    /// TPM_NV_DATA_PUBLIC (the ST_CLEAR flags live in it).
    pub public: NvDataPublic,
    /// authValue.
    pub auth: Secret,
    /// The data, `dataSize` bytes.
    pub data: Zeroizing<Vec<u8>>,
}

/// Dictionary-attack state kept in NV (Part 1 §21).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaState {
    /// Consecutive authorization failures.
    pub fail_count: u32,
}

/// TPM_PERMANENT_DATA and TPM_PERMANENT_FLAGS.
#[derive(Clone, Debug)]
pub struct Permanent {
    /// TPM_PERMANENT_FLAGS.
    pub flags: PermanentFlags,
    /// ownerAuth (Some when an owner is installed).
    pub owner_auth: Option<Secret>,
    /// tpmProof.
    pub tpm_proof: Secret,
    /// The key that encrypts saved contexts.
    pub context_key: Zeroizing<[u8; 16]>,
    /// The endorsement key.
    pub ek: Option<RsaKeyPair>,
    /// The SRK, while an owner is installed.
    pub srk: Option<TpmKey>,
    /// operatorAuth.
    pub operator_auth: Option<Secret>,
    /// authDIR[0].
    pub auth_dir: Digest20,
    /// Monotonic counters.
    pub counters: Vec<Counter>,
    /// The value the next created counter starts above.
    pub counter_high_water: u32,
    /// NV indices, ascending by index.
    pub nv: Vec<NvIndex>,
    /// NV writes without an owner (Part 3 §20.2: at most 64 when nvLocked).
    pub no_owner_nv_writes: u32,
    /// Dictionary-attack counter.
    pub da: DaState,
}

impl Permanent {
    /// Serialises the permanent blob.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.bytes(MAGIC_PERMANENT).u16(FORMAT_VERSION);
        put_bools(&mut w, &self.flags.to_array());
        put_opt_secret(&mut w, self.owner_auth.as_ref());
        w.bytes(&self.tpm_proof[..]).bytes(&self.context_key[..]);
        match &self.ek {
            Some(ek) => {
                w.u8(1).u32(ek.exponent());
                put_sized(&mut w, ek.modulus());
                put_sized(&mut w, ek.prime());
            }
            None => {
                w.u8(0);
            }
        }
        match &self.srk {
            Some(srk) => {
                w.u8(1);
                srk.write(&mut w);
            }
            None => {
                w.u8(0);
            }
        }
        put_opt_secret(&mut w, self.operator_auth.as_ref());
        w.bytes(&self.auth_dir);
        put_count(&mut w, self.counters.len());
        for c in &self.counters {
            w.u32(c.id).bytes(&c.label).u32(c.value).bytes(&c.auth[..]);
        }
        w.u32(self.counter_high_water);
        put_count(&mut w, self.nv.len());
        for n in &self.nv {
            n.public.write(&mut w);
            w.bytes(&n.auth[..]);
            put_sized(&mut w, &n.data);
        }
        w.u32(self.no_owner_nv_writes).u32(self.da.fail_count);
        Zeroizing::new(w.into_vec())
    }

    /// Parses a permanent blob.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        let mut r = Reader::new(bytes);
        check_magic(&mut r, MAGIC_PERMANENT)?;
        let flags = PermanentFlags::from_array(get_bools(&mut r)?);
        let owner_auth = get_opt_secret(&mut r)?;
        let tpm_proof = secret(r.array()?);
        let context_key = Zeroizing::new(r.array()?);
        let ek = match get_bool(&mut r)? {
            true => {
                let exponent = r.u32()?;
                let modulus = r.sized_u32(MAX_BLOB_FIELD)?;
                let prime = Zeroizing::new(r.sized_u32(MAX_BLOB_FIELD)?.to_vec());
                Some(
                    RsaKeyPair::from_modulus_and_prime(modulus, exponent, &prime)
                        .map_err(|_| StateError::Malformed)?,
                )
            }
            false => None,
        };
        let srk = match get_bool(&mut r)? {
            true => Some(TpmKey::read(&mut r)?),
            false => None,
        };
        let operator_auth = get_opt_secret(&mut r)?;
        let auth_dir = r.array()?;
        let count = get_count(&mut r)?;
        let mut counters = Vec::new();
        for _ in 0..count {
            counters.push(Counter {
                id: r.u32()?,
                label: r.array()?,
                value: r.u32()?,
                auth: secret(r.array()?),
            });
        }
        let counter_high_water = r.u32()?;
        let count = get_count(&mut r)?;
        let mut nv: Vec<NvIndex> = Vec::new();
        for _ in 0..count {
            let public = NvDataPublic::parse(&mut r).map_err(|_| StateError::Malformed)?;
            let auth = secret(r.array()?);
            let data = Zeroizing::new(r.sized_u32(MAX_BLOB_FIELD)?.to_vec());
            if u32::try_from(data.len()).ok() != Some(public.data_size) {
                return Err(StateError::Malformed);
            }
            if nv.last().is_some_and(|last| last.public.index >= public.index) {
                return Err(StateError::Malformed);
            }
            nv.push(NvIndex { public, auth, data });
        }
        let no_owner_nv_writes = r.u32()?;
        let da = DaState { fail_count: r.u32()? };
        r.finish()?;
        if owner_auth.is_some() != srk.is_some() {
            return Err(StateError::Malformed);
        }
        Ok(Self {
            flags,
            owner_auth,
            tpm_proof,
            context_key,
            ek,
            srk,
            operator_auth,
            auth_dir,
            counters,
            counter_high_water,
            nv,
            no_owner_nv_writes,
            da,
        })
    }

    /// A digest identifying this permanent state, recorded in volatile blobs so a
    /// volatile blob is only accepted with the permanent state it was taken with.
    pub fn fingerprint(&self) -> Digest20 {
        crypto::sha1(&[b"tpm12 volatile binding", &self.tpm_proof[..], &self.context_key[..]])
    }
}

/// Self-test state (Part 1 §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestState {
    /// Only the functions needed before TPM_ContinueSelfTest were tested.
    Limited,
    /// Every function passed.
    Full,
    /// A test failed: only TPM_GetTestResult and TPM_GetCapability work.
    Failed,
}

/// The kind of an authorization session.
#[derive(Clone, Debug)]
pub enum SessionKind {
    /// OIAP: the HMAC key is the entity's usage authorization.
    Oiap,
    /// OSAP: bound to one entity, keyed by a shared secret.
    Osap {
        /// entityType (low byte; the ADIP scheme is the high byte).
        entity_type: u16,
        /// entityValue.
        entity_value: u32,
        /// The shared secret.
        shared_secret: Secret,
    },
}

/// An authorization session (Part 1 §13).
#[derive(Clone, Debug)]
pub struct Session {
    /// authHandle.
    pub handle: u32,
    /// OIAP or OSAP.
    pub kind: SessionKind,
    /// The TPM's current rolling nonce.
    pub nonce_even: Digest20,
}

/// A key loaded in a slot.
#[derive(Clone, Debug)]
pub struct LoadedKey {
    /// The key handle.
    pub handle: u32,
    /// The key.
    pub key: TpmKey,
    /// True if the parent was bound to PCRs (TPM_CERTIFY_INFO.parentPCRStatus).
    pub parent_pcr_status: bool,
}

/// RAM state: TPM_STCLEAR_DATA, TPM_STCLEAR_FLAGS, TPM_STANY_DATA, TPM_STANY_FLAGS and
/// the resources they own.
#[derive(Clone, Debug)]
pub struct Volatile {
    /// True between _TPM_Init and TPM_Startup.
    pub post_initialise: bool,
    /// Self-test state.
    pub test_state: TestState,
    /// TPM_STCLEAR_FLAGS.
    pub flags: StClearFlags,
    /// PCR values.
    pub pcrs: [Digest20; NUM_PCRS],
    /// countID: the counter incremented since the last Startup(ST_CLEAR).
    pub active_counter: Option<u32>,
    /// disableResetLock.
    pub disable_reset_lock: bool,
    /// contextNonceKey.
    pub context_nonce_key: Digest20,
    /// contextNonceSession.
    pub context_nonce_session: Digest20,
    /// contextCount.
    pub context_count: u32,
    /// contextList: counts of saved session contexts still loadable.
    pub context_list: Vec<u32>,
    /// TOSPresent.
    pub tos_present: bool,
    /// Loaded keys (the SRK lives in permanent state).
    pub keys: Vec<LoadedKey>,
    /// Authorization sessions.
    pub sessions: Vec<Session>,
    /// The running TPM_SHA1Start thread.
    pub sha1: Option<sha1::Sha1>,
    /// The TIS _TPM_Hash_Start thread.
    pub hash_tis: Option<sha1::Sha1>,
    /// tickNonce of TPM_CURRENT_TICKS.
    pub tick_nonce: Digest20,
    /// The carrier's clock (ms) at which the tick session started.
    pub tick_origin_ms: u64,
    /// The carrier's clock at the last command.
    pub now_ms: u64,
    /// Dictionary-attack lockout ends at this clock value (ms).
    pub da_lockout_until_ms: u64,
}

impl Volatile {
    /// The state right after _TPM_Init.
    pub fn after_init(now_ms: u64) -> Self {
        Self {
            post_initialise: true,
            test_state: TestState::Limited,
            flags: StClearFlags::default(),
            pcrs: [[0; 20]; NUM_PCRS],
            active_counter: None,
            disable_reset_lock: false,
            context_nonce_key: [0; 20],
            context_nonce_session: [0; 20],
            context_count: 0,
            context_list: Vec::new(),
            tos_present: false,
            keys: Vec::new(),
            sessions: Vec::new(),
            sha1: None,
            hash_tis: None,
            tick_nonce: [0; 20],
            tick_origin_ms: now_ms,
            now_ms,
            da_lockout_until_ms: 0,
        }
    }

    /// Serialises the volatile blob, bound to `fingerprint`.
    pub fn to_bytes(&self, fingerprint: &Digest20) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.bytes(MAGIC_VOLATILE).u16(FORMAT_VERSION).bytes(fingerprint);
        w.u8(self.post_initialise.into());
        w.u8(match self.test_state {
            TestState::Limited => 0,
            TestState::Full => 1,
            TestState::Failed => 2,
        });
        put_bools(&mut w, &self.flags.to_array());
        for pcr in &self.pcrs {
            w.bytes(pcr);
        }
        w.u32(self.active_counter.unwrap_or(0)).u8(self.active_counter.is_some().into());
        w.u8(self.disable_reset_lock.into());
        w.bytes(&self.context_nonce_key).bytes(&self.context_nonce_session).u32(self.context_count);
        put_count(&mut w, self.context_list.len());
        for c in &self.context_list {
            w.u32(*c);
        }
        w.u8(self.tos_present.into());
        put_count(&mut w, self.keys.len());
        for k in &self.keys {
            w.u32(k.handle).u8(k.parent_pcr_status.into());
            k.key.write(&mut w);
        }
        put_count(&mut w, self.sessions.len());
        for s in &self.sessions {
            w.u32(s.handle).bytes(&s.nonce_even);
            match &s.kind {
                SessionKind::Oiap => {
                    w.u8(1);
                }
                SessionKind::Osap { entity_type, entity_value, shared_secret } => {
                    w.u8(2).u16(*entity_type).u32(*entity_value).bytes(&shared_secret[..]);
                }
            }
        }
        put_hash(&mut w, self.sha1.as_ref());
        put_hash(&mut w, self.hash_tis.as_ref());
        w.bytes(&self.tick_nonce)
            .u64(self.tick_origin_ms)
            .u64(self.now_ms)
            .u64(self.da_lockout_until_ms);
        Zeroizing::new(w.into_vec())
    }

    /// Parses a volatile blob; fails with [`StateError::Inconsistent`] unless it was
    /// taken with the permanent state whose fingerprint is given.
    pub fn from_bytes(bytes: &[u8], fingerprint: &Digest20) -> Result<Self, StateError> {
        let mut r = Reader::new(bytes);
        check_magic(&mut r, MAGIC_VOLATILE)?;
        let found: Digest20 = r.array()?;
        if !crypto::ct_eq(&found, fingerprint) {
            return Err(StateError::Inconsistent);
        }
        let post_initialise = get_bool(&mut r)?;
        let test_state = match r.u8()? {
            0 => TestState::Limited,
            1 => TestState::Full,
            2 => TestState::Failed,
            _ => return Err(StateError::Malformed),
        };
        let flags = StClearFlags::from_array(get_bools(&mut r)?);
        let mut pcrs = [[0u8; 20]; NUM_PCRS];
        for pcr in &mut pcrs {
            *pcr = r.array()?;
        }
        let counter = r.u32()?;
        let active_counter = get_bool(&mut r)?.then_some(counter);
        let disable_reset_lock = get_bool(&mut r)?;
        let context_nonce_key = r.array()?;
        let context_nonce_session = r.array()?;
        let context_count = r.u32()?;
        let n = get_count(&mut r)?;
        let mut context_list = Vec::new();
        for _ in 0..n {
            context_list.push(r.u32()?);
        }
        let tos_present = get_bool(&mut r)?;
        let n = get_count(&mut r)?;
        let mut keys: Vec<LoadedKey> = Vec::new();
        for _ in 0..n {
            let handle = r.u32()?;
            let parent_pcr_status = get_bool(&mut r)?;
            let key = TpmKey::read(&mut r)?;
            if keys.iter().any(|k| k.handle == handle) {
                return Err(StateError::Malformed);
            }
            keys.push(LoadedKey { handle, key, parent_pcr_status });
        }
        let n = get_count(&mut r)?;
        let mut sessions: Vec<Session> = Vec::new();
        for _ in 0..n {
            let handle = r.u32()?;
            let nonce_even = r.array()?;
            let kind = match r.u8()? {
                1 => SessionKind::Oiap,
                2 => SessionKind::Osap {
                    entity_type: r.u16()?,
                    entity_value: r.u32()?,
                    shared_secret: secret(r.array()?),
                },
                _ => return Err(StateError::Malformed),
            };
            if sessions.iter().any(|s| s.handle == handle) {
                return Err(StateError::Malformed);
            }
            sessions.push(Session { handle, kind, nonce_even });
        }
        let sha1 = get_hash(&mut r)?;
        let hash_tis = get_hash(&mut r)?;
        let tick_nonce = r.array()?;
        let tick_origin_ms = r.u64()?;
        let now_ms = r.u64()?;
        let da_lockout_until_ms = r.u64()?;
        r.finish()?;
        Ok(Self {
            post_initialise,
            test_state,
            flags,
            pcrs,
            active_counter,
            disable_reset_lock,
            context_nonce_key,
            context_nonce_session,
            context_count,
            context_list,
            tos_present,
            keys,
            sessions,
            sha1,
            hash_tis,
            tick_nonce,
            tick_origin_ms,
            now_ms,
            da_lockout_until_ms,
        })
    }
}

/// What TPM_SaveState preserves for TPM_Startup(ST_STATE) (Part 3 §3.3): the
/// TPM_STCLEAR_FLAGS, the TPM_STCLEAR_DATA (PCRs, countID, disableResetLock,
/// contextNonceKey) and the loaded keys.
#[derive(Clone, Debug)]
pub struct SavedState {
    /// TPM_STCLEAR_FLAGS.
    pub flags: StClearFlags,
    /// PCR values (resettable PCRs are reset again at Startup).
    pub pcrs: [Digest20; NUM_PCRS],
    /// countID.
    pub active_counter: Option<u32>,
    /// disableResetLock.
    pub disable_reset_lock: bool,
    /// contextNonceKey.
    pub context_nonce_key: Digest20,
    /// NV indices' bReadSTClear / bWriteSTClear, by index.
    pub nv_st_clear: Vec<(u32, bool, bool)>,
}

impl SavedState {
    /// Serialises the save-state blob.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.bytes(MAGIC_SAVED).u16(FORMAT_VERSION);
        put_bools(&mut w, &self.flags.to_array());
        for pcr in &self.pcrs {
            w.bytes(pcr);
        }
        w.u32(self.active_counter.unwrap_or(0)).u8(self.active_counter.is_some().into());
        w.u8(self.disable_reset_lock.into()).bytes(&self.context_nonce_key);
        put_count(&mut w, self.nv_st_clear.len());
        for (index, read, write) in &self.nv_st_clear {
            w.u32(*index).u8((*read).into()).u8((*write).into());
        }
        Zeroizing::new(w.into_vec())
    }

    /// Parses a save-state blob.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        let mut r = Reader::new(bytes);
        check_magic(&mut r, MAGIC_SAVED)?;
        let flags = StClearFlags::from_array(get_bools(&mut r)?);
        let mut pcrs = [[0u8; 20]; NUM_PCRS];
        for pcr in &mut pcrs {
            *pcr = r.array()?;
        }
        let counter = r.u32()?;
        let active_counter = get_bool(&mut r)?.then_some(counter);
        let disable_reset_lock = get_bool(&mut r)?;
        let context_nonce_key = r.array()?;
        let n = get_count(&mut r)?;
        let mut nv_st_clear = Vec::new();
        for _ in 0..n {
            nv_st_clear.push((r.u32()?, get_bool(&mut r)?, get_bool(&mut r)?));
        }
        r.finish()?;
        Ok(Self { flags, pcrs, active_counter, disable_reset_lock, context_nonce_key, nv_st_clear })
    }
}

impl Drop for Volatile {
    fn drop(&mut self) {
        self.context_nonce_key.zeroize();
        self.context_nonce_session.zeroize();
    }
}

fn check_magic(r: &mut Reader<'_>, magic: &[u8; 4]) -> Result<(), StateError> {
    if r.bytes(4)? != magic {
        return Err(StateError::BadMagic);
    }
    let version = r.u16()?;
    if version != FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion(version));
    }
    Ok(())
}

fn put_sized(w: &mut Writer, data: &[u8]) {
    crate::structs::write_sized(w, data);
}

fn put_count(w: &mut Writer, n: usize) {
    w.u32(u32::try_from(n).unwrap_or(u32::MAX));
}

fn get_count(r: &mut Reader<'_>) -> Result<u32, StateError> {
    let n = r.u32()?;
    if n > MAX_ITEMS {
        return Err(StateError::Malformed);
    }
    Ok(n)
}

fn get_bool(r: &mut Reader<'_>) -> Result<bool, StateError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(StateError::Malformed),
    }
}

fn put_bools<const N: usize>(w: &mut Writer, flags: &[bool; N]) {
    for f in flags {
        w.u8((*f).into());
    }
}

fn get_bools<const N: usize>(r: &mut Reader<'_>) -> Result<[bool; N], StateError> {
    let mut out = [false; N];
    for f in &mut out {
        *f = get_bool(r)?;
    }
    Ok(out)
}

fn put_opt_secret(w: &mut Writer, s: Option<&Secret>) {
    match s {
        Some(s) => w.u8(1).bytes(&s[..]),
        None => w.u8(0),
    };
}

fn get_opt_secret(r: &mut Reader<'_>) -> Result<Option<Secret>, StateError> {
    Ok(match get_bool(r)? {
        true => Some(secret(r.array()?)),
        false => None,
    })
}

fn put_hash(w: &mut Writer, h: Option<&sha1::Sha1>) {
    match h {
        Some(h) => {
            let state = h.serialize();
            w.u8(1);
            put_sized(w, &state);
        }
        None => {
            w.u8(0);
        }
    }
}

fn get_hash(r: &mut Reader<'_>) -> Result<Option<sha1::Sha1>, StateError> {
    if !get_bool(r)? {
        return Ok(None);
    }
    let bytes = r.sized_u32(1024)?;
    let state = bytes.try_into().map_err(|_| StateError::Malformed)?;
    sha1::Sha1::deserialize(state).map(Some).map_err(|_| StateError::Malformed)
}

/// The PCR info check shared by seal and key use: selection and locality.
pub fn pcr_info_locality_ok(info: &PcrInfo, locality: u8) -> bool {
    info.locality_at_release & (1u8 << locality) != 0
}
