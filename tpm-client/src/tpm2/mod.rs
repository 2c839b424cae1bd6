//! The TPM 2.0 client: storage key, PCR-policy sealing, NV counter, randomness.
//!
//! Objects (docs/manager-trust.md "TPM 2.0"):
//! - the storage key: the TCG SRK template (RSA-2048, or ECC P-256 on a TPM without
//!   RSA) in the owner hierarchy, re-created with TPM2_CreatePrimary whenever needed —
//!   the same template under the same owner seed gives the same key — or kept at the
//!   persistent handle `srk_handle=` (made there with TPM2_EvictControl if absent);
//! - the sealed root: a keyed-hash sealed-data object under the storage key whose only
//!   authorisation is a policy, PolicyPCR over the selected SHA-256 PCRs then
//!   PolicyLocality of the manager's locality; its private and public areas are returned
//!   to the caller to keep on disk;
//! - the rollback counter: an NV counter index (TPM_NT_COUNTER) written with owner
//!   authorisation and read with its own empty authorisation.
//!
//! Every transient object and session is flushed before a method returns, on its error
//! paths as well, so the client holds no TPM slot between calls.

pub mod policy;
pub mod wire;

use alloc::vec::Vec;

use subtle::ConstantTimeEq;
use tpm_engine::Drbg;
use tpm_engine::wire::{Reader, Writer};
use zeroize::Zeroizing;

use crate::frame;
use crate::{Config, Error, Family, Malformed, PcrSelection, Transport, Unsupported};
use ::tpm2::types::{
    CreationData, DigestList, DigestValues, HashAlg, Marshal, NvPublic, PcrSelectionList, Public,
    SymDef, TaggedHash, Ticket, Unmarshal, alg, get_2b, get_sized, put_sized,
};
pub use wire::StorageAlg;
use wire::{Auth, Rc, Reply, cap, cc, limits, nv_attr, pt, se, st, su};

/// How often a command the TPM answers with TPM_RC_RETRY or TPM_RC_YIELDED is sent
/// again (Part 2 §6.6.3: "the command may be retried").
const MAX_RETRIES: usize = 8;

/// How often an unseal whose PCRs changed between PolicyPCR and TPM2_Unseal
/// (TPM_RC_PCR_CHANGED, Part 3 §23.7) is attempted with a fresh session.
const PCR_CHANGED_ATTEMPTS: usize = 3;

/// Length of the caller nonces sent: the session hash's digest size (Part 1 §19.6.5
/// asks for at least 16 bytes).
const NONCE_LEN: usize = 32;

/// The attributes of the rollback counter: a counter (monotonic, Part 1 §31.3.2)
/// incremented with owner authorisation, read by anyone with its empty authValue or by
/// the owner, not subject to dictionary-attack lockout (its authValue is public).
/// Not TPMA_NV_ORDERLY: an orderly counter may jump ahead after an unclean shutdown,
/// which the key store would take for a rollback.
pub(crate) const COUNTER_ATTRIBUTES: u32 = nv_attr::OWNERWRITE
    | nv_attr::NT_COUNTER << nv_attr::TPM_NT_SHIFT
    | nv_attr::OWNERREAD
    | nv_attr::AUTHREAD
    | nv_attr::NO_DA;

/// Where the sealed root's parent lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parent {
    /// The template the storage key is (or can be re-)created from.
    pub storage: StorageAlg,
    /// The persistent handle it was used at, if any.
    pub persistent: Option<u32>,
}

/// The TPM 2.0 part of a sealed root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// The storage key it was sealed under.
    pub parent: Parent,
    /// That key's name, to recognise it again.
    pub parent_name: Vec<u8>,
    /// TPM2B_PRIVATE contents.
    pub private: Vec<u8>,
    /// TPM2B_PUBLIC contents.
    pub public: Vec<u8>,
}

type Result<T, E> = core::result::Result<T, Error<E>>;

/// An object's public area and its name.
type PublicAndName = (Public, Vec<u8>);

/// A client for a TPM 2.0.
pub struct Tpm2Client<T: Transport> {
    transport: T,
    owner_auth: Zeroizing<Vec<u8>>,
    srk_auth: Zeroizing<Vec<u8>>,
    srk_handle: Option<u32>,
    counter_index: u32,
    counter_ready: bool,
    locality: u8,
    storage: StorageAlg,
    /// Source of caller nonces, seeded from the TPM.
    rng: Drbg,
}

impl<T: Transport> core::fmt::Debug for Tpm2Client<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tpm2Client")
            .field("srk_handle", &self.srk_handle)
            .field("counter_index", &self.counter_index)
            .field("locality", &self.locality)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Tpm2Client<T> {
    /// Takes over a transport to a TPM 2.0: sends TPM2_Startup(CLEAR) if the TPM was not
    /// started (firmware normally did it), picks the storage key algorithm and seeds the
    /// nonce generator from the TPM.
    pub fn start(transport: T, config: &Config) -> Result<Self, T::Error> {
        config.validate()?;
        let mut client = Self {
            transport,
            owner_auth: config.owner_auth.tpm2()?,
            srk_auth: config.srk_auth.tpm2()?,
            srk_handle: config.srk_handle,
            counter_index: config.counter_index,
            counter_ready: false,
            locality: config.locality,
            storage: StorageAlg::Rsa2048,
            // Replaced by a TPM-seeded generator below, before any nonce is drawn.
            rng: Drbg::from_seed([0; 32]),
        };
        match client.total_commands() {
            Err(Error::Tpm { rc, .. }) if Rc(rc) == Rc::INITIALIZE => {
                client.startup()?;
                client.total_commands()?;
            }
            other => {
                other?;
            }
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        client.get_random(seed.as_mut_slice())?;
        client.rng = Drbg::from_seed(*seed);
        client.storage = client.probe_storage_alg()?;
        Ok(client)
    }

    /// The locality the client seals to (its configured locality).
    pub fn locality(&self) -> u8 {
        self.locality
    }

    /// The storage key algorithm in use.
    pub fn storage_alg(&self) -> StorageAlg {
        self.storage
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Fills `out` from the TPM's random number generator (TPM2_GetRandom).
    pub fn get_random(&mut self, out: &mut [u8]) -> Result<(), T::Error> {
        let mut filled = 0;
        while let Some(rest) = out.get_mut(filled..).filter(|rest| !rest.is_empty()) {
            // A TPM returns at most one digest's worth per call (Part 3 §16.1).
            let asked = rest.len().min(32);
            let mut params = Writer::with_capacity(2);
            params.u16(u16::try_from(asked).unwrap_or(32));
            let reply = self.call(cc::GET_RANDOM, &[], &[], params.as_slice(), false)?;
            let mut r = reply.params();
            let bytes =
                r.sized_u16(limits::MAX_DIGEST).map_err(|e| Error::malformed(cc::GET_RANDOM, e))?;
            r.finish().map_err(|e| Error::malformed(cc::GET_RANDOM, e))?;
            // An empty answer would loop forever; more than asked is not an answer.
            let target =
                rest.get_mut(..bytes.len()).filter(|_| !bytes.is_empty() && bytes.len() <= asked);
            let Some(target) = target else {
                return Err(Error::malformed(cc::GET_RANDOM, Malformed::UnexpectedValue));
            };
            target.copy_from_slice(bytes);
            filled += bytes.len();
        }
        Ok(())
    }

    /// Reads the SHA-256 bank values of the selected PCRs, ascending (TPM2_PCR_Read,
    /// which returns at most eight per call).
    pub fn pcr_read(&mut self, selection: PcrSelection) -> Result<Vec<[u8; 32]>, T::Error> {
        let mut values: [Option<[u8; 32]>; 24] = [None; 24];
        let mut remaining = selection;
        while !remaining.is_empty() {
            let mut params = Writer::with_capacity(10);
            wire::pcr_selection_list(remaining).marshal(&mut params);
            let reply = self.call(cc::PCR_READ, &[], &[], params.as_slice(), false)?;
            let read = parse_pcr_read(&mut reply.params(), remaining, &mut values)
                .map_err(|e| Error::malformed(cc::PCR_READ, e))?;
            if read.is_empty() {
                // Nothing of what is left can be read: the bank does not have it.
                return Err(Unsupported::Sha256Bank.into());
            }
            remaining = PcrSelection::from_mask(remaining.mask() & !read.mask())
                .unwrap_or(PcrSelection::EMPTY);
        }
        Ok(selection
            .iter()
            .filter_map(|pcr| values.get(usize::from(pcr)).copied().flatten())
            .collect())
    }

    /// Extends `digest` into the SHA-256 bank of `pcr` (TPM2_PCR_Extend, empty PCR
    /// authorisation as on a PC Client TPM).
    pub fn pcr_extend(&mut self, pcr: u8, digest: &[u8; 32]) -> Result<(), T::Error> {
        let mut params = Writer::with_capacity(38);
        let digest = TaggedHash { hash: HashAlg::Sha256, digest: digest.to_vec() };
        DigestValues(alloc::vec![digest]).marshal(&mut params);
        let pcr_handle = u32::from(pcr);
        self.call(cc::PCR_EXTEND, &[pcr_handle], &[Auth::Password(&[])], params.as_slice(), false)?;
        Ok(())
    }

    /// The name of the storage key the next seal would use (created or found as the
    /// configuration says, then flushed if transient).
    pub fn storage_key_name(&mut self) -> Result<Vec<u8>, T::Error> {
        let mut held = Vec::new();
        let result = self.seal_parent(&mut held).map(|(_, _, name)| name);
        self.finish(result, held)
    }

    /// Seals `payload` (at most 128 bytes) under the storage key, released by the
    /// policy PolicyPCR(`selection` holding `values`) + PolicyLocality(`locality`).
    pub(crate) fn seal(
        &mut self,
        payload: &[u8],
        selection: PcrSelection,
        values: &[[u8; 32]],
        locality: u8,
    ) -> Result<Sealed, T::Error> {
        let policy = policy::seal_policy(selection, values, locality);
        let mut held = Vec::new();
        let result = self.seal_held(payload, &policy, &mut held);
        self.finish(result, held)
    }

    /// Unseals a sealed root with the policy it was sealed to.
    pub(crate) fn unseal(
        &mut self,
        sealed: &Sealed,
        selection: PcrSelection,
        locality: u8,
    ) -> Result<Zeroizing<Vec<u8>>, T::Error> {
        let mut held = Vec::new();
        let result = self.unseal_held(sealed, selection, locality, &mut held);
        self.finish(result, held)
    }

    /// The digest a trial policy session reaches with PolicyPCR(`selection`) +
    /// PolicyLocality(`locality`) on the current PCR values: what [`policy::seal_policy`]
    /// must compute.
    pub fn trial_policy_digest(
        &mut self,
        selection: PcrSelection,
        locality: u8,
    ) -> Result<[u8; 32], T::Error> {
        let mut held = Vec::new();
        let result = self.trial_held(selection, locality, &mut held);
        self.finish(result, held)
    }

    fn trial_held(
        &mut self,
        selection: PcrSelection,
        locality: u8,
        held: &mut Vec<u32>,
    ) -> Result<[u8; 32], T::Error> {
        let session = self.start_session(se::TRIAL, held)?;
        self.policy_pcr_locality(session, selection, locality)?;
        let reply = self.call(cc::POLICY_GET_DIGEST, &[session], &[], &[], false)?;
        let mut r = reply.params();
        (|| -> core::result::Result<_, Malformed> {
            let digest = r.sized_u16(limits::MAX_DIGEST)?;
            r.finish()?;
            <[u8; 32]>::try_from(digest).map_err(|_| Malformed::UnexpectedValue)
        })()
        .map_err(|e| Error::malformed(cc::POLICY_GET_DIGEST, e))
    }

    /// The rollback counter's value, defining the counter first if needed.
    pub fn counter_read(&mut self) -> Result<u64, T::Error> {
        self.ensure_counter()?;
        self.nv_read_counter()
    }

    /// Increments the rollback counter and returns its new value.
    pub fn counter_increment(&mut self) -> Result<u64, T::Error> {
        self.ensure_counter()?;
        self.nv_increment()?;
        self.nv_read_counter()
    }

    /// The NV index of the rollback counter.
    pub fn counter_index(&self) -> u32 {
        self.counter_index
    }

    /// Makes sure the counter index exists, is ours, and has been written once.
    pub(crate) fn ensure_counter(&mut self) -> Result<(), T::Error> {
        if self.counter_ready {
            return Ok(());
        }
        match self.nv_read_public(self.counter_index)? {
            Some(public) => {
                // Only an index exactly like the one this client defines will do: another
                // type could be written backwards, other attributes let others write it.
                let found = NvPublic {
                    attributes: public.attributes & !nv_attr::WRITTEN,
                    ..public.clone()
                };
                if found != self.counter_public() {
                    return Err(Error::CounterIndexMismatch { index: self.counter_index });
                }
                if !public.has(nv_attr::WRITTEN) {
                    self.nv_increment()?;
                }
            }
            None => {
                let mut params = Writer::with_capacity(24);
                wire::push_sized(&mut params, &[]);
                put_sized(&mut params, &self.counter_public());
                let owner = self.owner_auth.clone();
                self.call(
                    cc::NV_DEFINE_SPACE,
                    &[wire::RH_OWNER],
                    &[Auth::Password(&owner)],
                    params.as_slice(),
                    false,
                )?;
                // A counter reads only once written; the first increment sets it to the
                // largest value any counter of this TPM ever had (Part 1 §31.3.2), so a
                // re-defined counter never goes back.
                self.nv_increment()?;
            }
        }
        self.counter_ready = true;
        Ok(())
    }

    fn counter_public(&self) -> NvPublic {
        NvPublic {
            index: self.counter_index,
            name_alg: HashAlg::Sha256,
            attributes: COUNTER_ATTRIBUTES,
            auth_policy: Vec::new(),
            data_size: 8,
        }
    }

    /// TPM2_NV_ReadPublic; `None` if the index is not defined.
    fn nv_read_public(&mut self, index: u32) -> Result<Option<NvPublic>, T::Error> {
        let reply = match self.call(cc::NV_READ_PUBLIC, &[index], &[], &[], false) {
            Ok(reply) => reply,
            Err(Error::Tpm { rc, .. }) if Rc(rc).base() == Rc::HANDLE => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut r = reply.params();
        let public = (|| -> core::result::Result<_, Malformed> {
            let public = NvPublic::unmarshal_2b(&mut r)?;
            r.sized_u16(limits::MAX_NAME)?;
            r.finish()?;
            if public.index != index {
                return Err(Malformed::UnexpectedValue);
            }
            Ok(public)
        })()
        .map_err(|e| Error::malformed(cc::NV_READ_PUBLIC, e))?;
        Ok(Some(public))
    }

    fn nv_increment(&mut self) -> Result<(), T::Error> {
        let owner = self.owner_auth.clone();
        let handles = [wire::RH_OWNER, self.counter_index];
        self.call(cc::NV_INCREMENT, &handles, &[Auth::Password(&owner)], &[], false)?;
        Ok(())
    }

    fn nv_read_counter(&mut self) -> Result<u64, T::Error> {
        let mut params = Writer::with_capacity(4);
        params.u16(8).u16(0);
        let handles = [self.counter_index, self.counter_index];
        let reply =
            self.call(cc::NV_READ, &handles, &[Auth::Password(&[])], params.as_slice(), false)?;
        let mut r = reply.params();
        let value = r
            .sized_u16(8)
            .and_then(|data| {
                r.finish()?;
                <[u8; 8]>::try_from(data).map_err(|_| tpm_engine::wire::WireError::Truncated)
            })
            .map_err(|e| Error::malformed(cc::NV_READ, e))?;
        Ok(u64::from_be_bytes(value))
    }

    fn seal_held(
        &mut self,
        payload: &[u8],
        policy: &[u8; 32],
        held: &mut Vec<u32>,
    ) -> Result<Sealed, T::Error> {
        let (parent, parent_handle, parent_name) = self.seal_parent(held)?;
        let template = wire::seal_template(policy);
        let mut params = Writer::with_capacity(256);
        wire::push_sensitive_create(&mut params, &[], payload);
        template.marshal_2b(&mut params);
        wire::push_sized(&mut params, &[]);
        params.u32(0);
        let params = Zeroizing::new(params.into_vec());
        let srk_auth = self.srk_auth.clone();
        let reply =
            self.call(cc::CREATE, &[parent_handle], &[Auth::Password(&srk_auth)], &params, false)?;
        let mut r = reply.params();
        let (private, public) = (|| -> core::result::Result<_, Malformed> {
            let private = r.sized_u16(wire::MAX_PRIVATE)?.to_vec();
            let raw_public = r.sized_u16(wire::MAX_PUBLIC)?;
            skip_creation_outputs(&mut r)?;
            r.finish()?;
            // The TPM returns the template with `unique` filled in: H(seed || data).
            let public = Public::from_bytes(raw_public)?;
            if wire::without_unique(&public) != template || !wire::is_sealed_object(&public) {
                return Err(Malformed::UnexpectedValue);
            }
            Ok((private, raw_public.to_vec()))
        })()
        .map_err(|e| Error::malformed(cc::CREATE, e))?;
        Ok(Sealed { parent, parent_name, private, public })
    }

    fn unseal_held(
        &mut self,
        sealed: &Sealed,
        selection: PcrSelection,
        locality: u8,
        held: &mut Vec<u32>,
    ) -> Result<Zeroizing<Vec<u8>>, T::Error> {
        let parent = self.unseal_parent(sealed, held)?;
        let item = self.load(parent, sealed, held)?;
        if held.contains(&parent) {
            // The loaded object no longer needs its parent; free the slot now.
            self.release(parent, held)?;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let session = self.start_session(se::POLICY, held)?;
            self.policy_pcr_locality(session, selection, locality)?;
            match self.unseal_item(item, session) {
                Err(Error::Tpm { rc, .. })
                    if Rc(rc).base() == Rc::PCR_CHANGED && attempt < PCR_CHANGED_ATTEMPTS =>
                {
                    self.release(session, held)?;
                }
                // The session's digest is not the object's authPolicy: the PCRs differ
                // (a wrong locality is TPM_RC_LOCALITY, mapped by `classify`).
                Err(Error::Tpm { rc, .. })
                    if [Rc::POLICY_FAIL, Rc::PCR_CHANGED].contains(&Rc(rc).base()) =>
                {
                    return Err(Error::PcrMismatch { family: Family::Tpm20, rc });
                }
                other => return other,
            }
        }
    }

    fn unseal_item(&mut self, item: u32, session: u32) -> Result<Zeroizing<Vec<u8>>, T::Error> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce);
        let auth = Auth::Policy { session, nonce: &nonce };
        let reply = self.call(cc::UNSEAL, &[item], &[auth], &[], false)?;
        let mut r = reply.params();
        let data =
            r.sized_u16(limits::MAX_SENSITIVE_DATA).map_err(|e| Error::malformed(cc::UNSEAL, e))?;
        let data = Zeroizing::new(data.to_vec());
        r.finish().map_err(|e| Error::malformed(cc::UNSEAL, e))?;
        Ok(data)
    }

    /// The storage key to seal under: re-created from the template, or the persistent
    /// one (checked, or made persistent first). Returns where it lives, its handle now
    /// and its name.
    fn seal_parent(&mut self, held: &mut Vec<u32>) -> Result<(Parent, u32, Vec<u8>), T::Error> {
        let storage = self.storage;
        let Some(persistent) = self.srk_handle else {
            let (transient, name) = self.create_primary(storage, held)?;
            return Ok((Parent { storage, persistent: None }, transient, name));
        };
        let parent = Parent { storage, persistent: Some(persistent) };
        if let Some((public, name)) = self.read_public(persistent)? {
            if !wire::is_storage_key(&public) {
                return Err(Error::NotAStorageKey { handle: persistent });
            }
            return Ok((parent, persistent, name));
        }
        let (transient, name) = self.create_primary(storage, held)?;
        let mut params = Writer::with_capacity(4);
        params.u32(persistent);
        let owner = self.owner_auth.clone();
        self.call(
            cc::EVICT_CONTROL,
            &[wire::RH_OWNER, transient],
            &[Auth::Password(&owner)],
            params.as_slice(),
            false,
        )?;
        self.release(transient, held)?;
        Ok((parent, persistent, name))
    }

    /// The storage key a sealed root was sealed under, found by name: at its persistent
    /// handle, or re-created from its template (which also finds a persistent key this
    /// client made and someone evicted since).
    fn unseal_parent(&mut self, sealed: &Sealed, held: &mut Vec<u32>) -> Result<u32, T::Error> {
        let expected = sealed.parent_name.as_slice();
        if let Some(persistent) = sealed.parent.persistent
            && let Some((_, name)) = self.read_public(persistent)?
            && bool::from(name.as_slice().ct_eq(expected))
        {
            return Ok(persistent);
        }
        let (transient, name) = self.create_primary(sealed.parent.storage, held)?;
        if !bool::from(name.as_slice().ct_eq(expected)) {
            return Err(Error::StorageKeyChanged);
        }
        Ok(transient)
    }

    /// TPM2_CreatePrimary of the storage key template in the owner hierarchy. The new
    /// transient handle is added to `held` before anything else is checked.
    fn create_primary(
        &mut self,
        storage: StorageAlg,
        held: &mut Vec<u32>,
    ) -> Result<(u32, Vec<u8>), T::Error> {
        let template = wire::srk_template(storage);
        let mut params = Writer::with_capacity(400);
        wire::push_sensitive_create(&mut params, &self.srk_auth, &[]);
        template.marshal_2b(&mut params);
        wire::push_sized(&mut params, &[]);
        params.u32(0);
        let params = Zeroizing::new(params.into_vec());
        let owner = self.owner_auth.clone();
        let reply = self.call(
            cc::CREATE_PRIMARY,
            &[wire::RH_OWNER],
            &[Auth::Password(&owner)],
            &params,
            true,
        )?;
        let transient = self.hold(cc::CREATE_PRIMARY, &reply, held)?;
        let mut r = reply.params();
        let name = (|| -> core::result::Result<_, Malformed> {
            let raw_public = r.sized_u16(wire::MAX_PUBLIC)?;
            skip_creation_outputs(&mut r)?;
            let name = r.sized_u16(limits::MAX_NAME)?;
            r.finish()?;
            let public = Public::from_bytes(raw_public)?;
            if wire::without_unique(&public) != wire::without_unique(&template) {
                return Err(Malformed::UnexpectedValue);
            }
            check_name(raw_public, name)?;
            Ok(name.to_vec())
        })()
        .map_err(|e| Error::malformed(cc::CREATE_PRIMARY, e))?;
        Ok((transient, name))
    }

    /// TPM2_ReadPublic: `(public area, name)`, or `None` if nothing is at `handle`.
    fn read_public(&mut self, object: u32) -> Result<Option<PublicAndName>, T::Error> {
        let reply = match self.call(cc::READ_PUBLIC, &[object], &[], &[], false) {
            Ok(reply) => reply,
            Err(Error::Tpm { rc, .. }) if Rc(rc).base() == Rc::HANDLE => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut r = reply.params();
        let found = (|| -> core::result::Result<_, Malformed> {
            let raw_public = r.sized_u16(wire::MAX_PUBLIC)?;
            let name = r.sized_u16(limits::MAX_NAME)?;
            r.sized_u16(limits::MAX_NAME)?;
            r.finish()?;
            let public = Public::from_bytes(raw_public)?;
            if public.name_alg == Some(HashAlg::Sha256) {
                check_name(raw_public, name)?;
            }
            Ok((public, name.to_vec()))
        })()
        .map_err(|e| Error::malformed(cc::READ_PUBLIC, e))?;
        Ok(Some(found))
    }

    /// TPM2_Load of the sealed object under `parent`.
    fn load(&mut self, parent: u32, sealed: &Sealed, held: &mut Vec<u32>) -> Result<u32, T::Error> {
        let mut params = Writer::with_capacity(4 + sealed.private.len() + sealed.public.len());
        wire::push_sized(&mut params, &sealed.private);
        wire::push_sized(&mut params, &sealed.public);
        let srk_auth = self.srk_auth.clone();
        let reply =
            self.call(cc::LOAD, &[parent], &[Auth::Password(&srk_auth)], params.as_slice(), true)?;
        let item = self.hold(cc::LOAD, &reply, held)?;
        let mut r = reply.params();
        (|| -> core::result::Result<_, Malformed> {
            let name = r.sized_u16(limits::MAX_NAME)?;
            r.finish()?;
            check_name(&sealed.public, name)
        })()
        .map_err(|e| Error::malformed(cc::LOAD, e))?;
        Ok(item)
    }

    /// TPM2_StartAuthSession: unsalted, unbound, no parameter encryption, SHA-256.
    fn start_session(&mut self, kind: u8, held: &mut Vec<u32>) -> Result<u32, T::Error> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce);
        let mut params = Writer::with_capacity(40);
        wire::push_sized(&mut params, &nonce);
        wire::push_sized(&mut params, &[]);
        params.u8(kind);
        SymDef::Null.marshal(&mut params);
        HashAlg::Sha256.marshal(&mut params);
        let handles = [wire::RH_NULL, wire::RH_NULL];
        let reply = self.call(cc::START_AUTH_SESSION, &handles, &[], params.as_slice(), true)?;
        let session = reply.handle.unwrap_or(0);
        if wire::handle_type(session) != wire::HT_POLICY_SESSION {
            return Err(Error::malformed(cc::START_AUTH_SESSION, Malformed::UnexpectedValue));
        }
        held.push(session);
        let mut r = reply.params();
        (|| -> core::result::Result<_, Malformed> {
            let nonce_tpm = r.sized_u16(limits::MAX_DIGEST)?;
            r.finish()?;
            if nonce_tpm.len() < 16 {
                return Err(Malformed::UnexpectedValue);
            }
            Ok(())
        })()
        .map_err(|e| Error::malformed(cc::START_AUTH_SESSION, e))?;
        Ok(session)
    }

    /// TPM2_PolicyPCR (current values) then TPM2_PolicyLocality on `session`.
    fn policy_pcr_locality(
        &mut self,
        session: u32,
        selection: PcrSelection,
        locality: u8,
    ) -> Result<(), T::Error> {
        let mut params = Writer::with_capacity(12);
        wire::push_sized(&mut params, &[]);
        wire::pcr_selection_list(selection).marshal(&mut params);
        let reply = self.call(cc::POLICY_PCR, &[session], &[], params.as_slice(), false)?;
        reply.params().finish().map_err(|e| Error::malformed(cc::POLICY_PCR, e))?;
        let bits = [policy::locality_bits(locality)];
        let reply = self.call(cc::POLICY_LOCALITY, &[session], &[], &bits, false)?;
        reply.params().finish().map_err(|e| Error::malformed(cc::POLICY_LOCALITY, e))?;
        Ok(())
    }

    /// Records the transient object or session handle a command returned.
    fn hold(&mut self, code: u32, reply: &Reply, held: &mut Vec<u32>) -> Result<u32, T::Error> {
        let object = reply.handle.unwrap_or(0);
        if wire::handle_type(object) != wire::HT_TRANSIENT {
            // Not a handle this client may flush: refuse the answer, touch nothing.
            return Err(Error::malformed(code, Malformed::UnexpectedValue));
        }
        held.push(object);
        Ok(object)
    }

    /// Flushes one held handle now.
    fn release(&mut self, object: u32, held: &mut Vec<u32>) -> Result<(), T::Error> {
        held.retain(|&h| h != object);
        self.flush(object)
    }

    /// Flushes every held handle (newest first), whatever `result` is; a flush failure
    /// is reported only if the operation itself succeeded.
    fn finish<R>(&mut self, result: Result<R, T::Error>, held: Vec<u32>) -> Result<R, T::Error> {
        let mut flush_error = None;
        for &object in held.iter().rev() {
            if let Err(e) = self.flush(object) {
                flush_error.get_or_insert(e);
            }
        }
        match (result, flush_error) {
            (Ok(value), None) => Ok(value),
            (Ok(_), Some(e)) | (Err(e), _) => Err(e),
        }
    }

    /// TPM2_FlushContext.
    fn flush(&mut self, object: u32) -> Result<(), T::Error> {
        let reply = self.call(cc::FLUSH_CONTEXT, &[], &[], &object.to_be_bytes(), false)?;
        reply.params().finish().map_err(|e| Error::malformed(cc::FLUSH_CONTEXT, e))
    }

    /// TPM2_Startup(TPM_SU_CLEAR).
    fn startup(&mut self) -> Result<(), T::Error> {
        let reply = self.call(cc::STARTUP, &[], &[], &su::CLEAR.to_be_bytes(), false)?;
        reply.params().finish().map_err(|e| Error::malformed(cc::STARTUP, e))
    }

    /// TPM2_GetCapability(TPM_PROPERTIES, TPM_PT_TOTAL_COMMANDS, 1): the probe the
    /// family detection sends (specs §6.5), used here to learn whether Startup ran.
    fn total_commands(&mut self) -> Result<(), T::Error> {
        let mut params = Writer::with_capacity(12);
        params.u32(cap::TPM_PROPERTIES).u32(pt::TOTAL_COMMANDS).u32(1);
        let reply = self.call(cc::GET_CAPABILITY, &[], &[], params.as_slice(), false)?;
        let mut r = reply.params();
        (|| -> core::result::Result<_, Malformed> {
            r.u8()?;
            if r.u32()? != cap::TPM_PROPERTIES || r.u32()? > 1 {
                return Err(Malformed::UnexpectedValue);
            }
            // TPMS_TAGGED_PROPERTY: property, value (absent if the list is empty).
            while r.remaining() >= 8 {
                r.u32()?;
                r.u32()?;
            }
            r.finish()?;
            Ok(())
        })()
        .map_err(|e| Error::malformed(cc::GET_CAPABILITY, e))
    }

    /// RSA if the TPM implements it, else ECC (TPM2_GetCapability(TPM_CAP_ALGS)).
    fn probe_storage_alg(&mut self) -> Result<StorageAlg, T::Error> {
        for (id, storage) in [(alg::RSA, StorageAlg::Rsa2048), (alg::ECC, StorageAlg::EccP256)] {
            let mut params = Writer::with_capacity(12);
            params.u32(cap::ALGS).u32(u32::from(id)).u32(1);
            let reply = self.call(cc::GET_CAPABILITY, &[], &[], params.as_slice(), false)?;
            let mut r = reply.params();
            let first = (|| -> core::result::Result<_, Malformed> {
                r.u8()?;
                if r.u32()? != cap::ALGS {
                    return Err(Malformed::UnexpectedValue);
                }
                let first = match r.u32()? {
                    0 => None,
                    1 => {
                        let alg = r.u16()?;
                        r.u32()?;
                        Some(alg)
                    }
                    _ => return Err(Malformed::UnexpectedValue),
                };
                r.finish()?;
                Ok(first)
            })()
            .map_err(|e| Error::malformed(cc::GET_CAPABILITY, e))?;
            // The list starts at the first implemented algorithm >= `id`.
            if first == Some(id) {
                return Ok(storage);
            }
        }
        Err(Unsupported::StorageAlgorithm.into())
    }

    /// Sends a command and checks its response: framing, tag, return code (retrying
    /// TPM_RC_RETRY / TPM_RC_YIELDED a few times), then the reply's layout.
    fn call(
        &mut self,
        code: u32,
        handles: &[u32],
        auths: &[Auth<'_>],
        params: &[u8],
        returns_handle: bool,
    ) -> Result<Reply, T::Error> {
        let command = wire::command(code, handles, auths, params);
        let mut retries = 0;
        loop {
            let response = frame::exchange(&mut self.transport, code, &command)?;
            if Rc(response.rc).is_success() {
                return wire::split_reply(response, returns_handle, auths.len())
                    .map_err(|e| Error::malformed(code, e));
            }
            // An error response is a bare header with TPM_ST_NO_SESSIONS (Part 1 §18.9).
            if response.tag != st::NO_SESSIONS {
                return Err(Error::malformed(code, Malformed::Tag { found: response.tag }));
            }
            if !response.body().is_empty() {
                return Err(Error::malformed(code, Malformed::TrailingBytes));
            }
            if [Rc::RETRY, Rc::YIELDED].contains(&Rc(response.rc)) && retries < MAX_RETRIES {
                retries += 1;
                continue;
            }
            return Err(classify(code, response.rc));
        }
    }
}

/// Checks and skips TPM2B_CREATION_DATA, TPM2B_DIGEST creationHash and
/// TPMT_TK_CREATION.
fn skip_creation_outputs(r: &mut Reader<'_>) -> core::result::Result<(), Malformed> {
    get_sized(r, CreationData::unmarshal)?;
    get_2b(r, limits::MAX_DIGEST)?;
    Ticket::unmarshal_tagged(r, &[st::CREATION])?;
    Ok(())
}

/// Checks that `name` is the SHA-256 name of `public`.
fn check_name(public: &[u8], name: &[u8]) -> core::result::Result<(), Malformed> {
    if bool::from(wire::object_name(public).as_slice().ct_eq(name)) {
        Ok(())
    } else {
        Err(Malformed::NameMismatch)
    }
}

/// Parses a TPM2_PCR_Read answer into `values`; returns what it read.
fn parse_pcr_read(
    r: &mut Reader<'_>,
    asked: PcrSelection,
    values: &mut [Option<[u8; 32]>; 24],
) -> core::result::Result<PcrSelection, Malformed> {
    r.u32()?;
    let read = wire::sha256_selection(&PcrSelectionList::unmarshal(r)?)?;
    if read.mask() & !asked.mask() != 0 {
        return Err(Malformed::UnexpectedValue);
    }
    let digests = DigestList::unmarshal(r)?;
    r.finish()?;
    if digests.0.len() != read.len() {
        return Err(Malformed::UnexpectedValue);
    }
    for (pcr, digest) in read.iter().zip(&digests.0) {
        let digest: [u8; 32] =
            digest.as_slice().try_into().map_err(|_| Malformed::UnexpectedValue)?;
        if let Some(slot) = values.get_mut(usize::from(pcr)) {
            *slot = Some(digest);
        }
    }
    Ok(read)
}

/// Turns a TPM 2.0 error code into the error a caller can act on.
fn classify<E>(command: u32, code: u32) -> Error<E> {
    let family = Family::Tpm20;
    match Rc(code).base() {
        Rc::AUTH_FAIL | Rc::BAD_AUTH => Error::AuthFailed { family, command, rc: code },
        Rc::LOCKOUT => Error::Lockout { family, command, rc: code },
        Rc::LOCALITY => Error::LocalityMismatch { family, rc: code },
        _ => Error::Tpm { family, command, rc: code },
    }
}
