//! The TPM 1.2 client: ownership, sealing to PCRs and locality, monotonic counter.
//!
//! Objects (docs/manager-trust.md "TPM 1.2"):
//! - ownership: if the TPM has no owner, TPM_TakeOwnership with the configured owner and
//!   SRK authorisations (encrypted to the endorsement key, which is created first if the
//!   TPM has none); otherwise the existing owner, whose authorisation is checked;
//! - the sealed root: TPM_Seal under the SRK (0x40000000) with a TPM_PCR_INFO_LONG
//!   binding the PCR selection and the manager's locality; the whole
//!   TPM_STORED_DATA12 is returned to keep on disk;
//! - the rollback counter: a TPM monotonic counter labelled [`COUNTER_LABEL`], created
//!   with owner authorisation and incremented with the owner's authorisation value.
//!
//! Authorisation follows TPM 1.2 Part 1 §13: OIAP or OSAP sessions, HMAC-SHA1 over the
//! parameter digest and the rolling nonces, new secrets ADIP-encrypted under the OSAP
//! shared secret. Every response HMAC is verified. Each session authorises one command
//! (continueAuthSession FALSE), so the TPM closes it; when a response cannot be trusted
//! the client flushes the session itself.

pub mod wire;

use alloc::vec::Vec;

use hmac::{Hmac, KeyInit, Mac};
use rsa::{BoxedUint, Oaep, RsaPublicKey};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use tpm_engine::Drbg;
use tpm_engine::wire::{Reader, Writer};
use zeroize::Zeroizing;

use crate::frame::{self, Response};
use crate::{Config, Error, Family, Malformed, PcrSelection, Transport};
use wire::{DIGEST_LEN, RsaPublic, ord, rc, tag};

/// The label of the manager's monotonic counter (TPM_CreateCounter's 4-byte label).
pub const COUNTER_LABEL: [u8; 4] = *b"XVTM";

/// The NV index holding the rollback counter on a TPM that has no monotonic counter
/// left (TPM_NV_INDEX: no T/P/U/D bit, purview 0; not one of the indices Part 2 §19.1.2
/// reserves).
pub const NV_COUNTER_INDEX: u32 = 0x0000_C1C1;

/// Where the manager's rollback counter lives on a TPM 1.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterRef {
    /// A monotonic counter (TPM_CreateCounter), by its countID.
    Monotonic(u32),
    /// An 8-byte NV area written with owner authorisation, used only when the TPM cannot
    /// create a counter. It is monotonic only as long as nobody with the owner's
    /// authorisation (or anybody, on a TPM whose nvLocked flag is clear) writes it.
    Nv(u32),
}

/// The usage authorisation of the sealed root: the well-known value. Unsealing needs the
/// SRK's authorisation, the PCRs and the locality; a second secret would live next to
/// the first in the manager's configuration and add nothing.
const DATA_AUTH: [u8; DIGEST_LEN] = [0; DIGEST_LEN];

/// How often a command the TPM answers with TPM_RETRY is sent again.
const MAX_RETRIES: usize = 8;

type Result<T, E> = core::result::Result<T, Error<E>>;
type Auth = Zeroizing<[u8; DIGEST_LEN]>;

/// An authorisation session (Part 1 §13.1).
struct Session {
    handle: u32,
    /// The TPM's latest nonce.
    nonce_even: [u8; DIGEST_LEN],
    /// The HMAC key: the entity's authorisation (OIAP) or the shared secret (OSAP).
    key: Auth,
}

/// A client for a TPM 1.2.
pub struct Tpm12Client<T: Transport> {
    transport: T,
    owner_auth: Auth,
    srk_auth: Auth,
    locality: u8,
    /// The manager's counter, once found or created.
    counter: Option<CounterRef>,
    /// Source of nonces and OAEP padding, seeded from the TPM.
    rng: Drbg,
}

impl<T: Transport> core::fmt::Debug for Tpm12Client<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tpm12Client")
            .field("locality", &self.locality)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Tpm12Client<T> {
    /// Takes over a transport to a TPM 1.2: sends TPM_Startup(ST_CLEAR) if the TPM was
    /// not started, seeds the nonce generator, then takes ownership if the TPM has no
    /// owner or checks the owner authorisation if it has one.
    pub fn start(transport: T, config: &Config) -> Result<Self, T::Error> {
        config.validate()?;
        let mut client = Self {
            transport,
            owner_auth: config.owner_auth.tpm12()?,
            srk_auth: config.srk_auth.tpm12()?,
            locality: config.locality,
            counter: None,
            // Replaced by a TPM-seeded generator below, before any nonce is drawn.
            rng: Drbg::from_seed([0; 32]),
        };
        match client.version() {
            Err(Error::Tpm { rc: rc::INVALID_POSTINIT, .. }) => {
                client.call(ord::STARTUP, &wire::ST_CLEAR.to_be_bytes())?;
                client.version()?;
            }
            other => other?,
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        client.get_random(seed.as_mut_slice())?;
        client.rng = Drbg::from_seed(*seed);
        client.ensure_owner()?;
        Ok(client)
    }

    /// The locality the client seals to (its configured locality).
    pub fn locality(&self) -> u8 {
        self.locality
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Fills `out` from the TPM's random number generator (TPM_GetRandom).
    pub fn get_random(&mut self, out: &mut [u8]) -> Result<(), T::Error> {
        let mut filled = 0;
        while let Some(rest) = out.get_mut(filled..).filter(|rest| !rest.is_empty()) {
            let asked = rest.len().min(128);
            let params = wire::u32_bytes(asked);
            let response = self.call(ord::GET_RANDOM, &params)?;
            let mut r = Reader::new(response.body());
            let bytes = r.sized_u32(asked).map_err(|e| Error::malformed(ord::GET_RANDOM, e))?;
            r.finish().map_err(|e| Error::malformed(ord::GET_RANDOM, e))?;
            // An empty answer would loop forever (TPM_GetRandom may return fewer bytes).
            let Some(target) = rest.get_mut(..bytes.len()).filter(|_| !bytes.is_empty()) else {
                return Err(Error::malformed(ord::GET_RANDOM, Malformed::UnexpectedValue));
            };
            target.copy_from_slice(bytes);
            filled += bytes.len();
        }
        Ok(())
    }

    /// Reads one PCR (TPM_PCRRead).
    pub fn pcr_read(&mut self, pcr: u8) -> Result<[u8; DIGEST_LEN], T::Error> {
        let response = self.call(ord::PCR_READ, &u32::from(pcr).to_be_bytes())?;
        read_digest(ord::PCR_READ, response.body())
    }

    /// Extends `digest` into `pcr` (TPM_Extend) and returns the new value.
    pub fn pcr_extend(
        &mut self,
        pcr: u8,
        digest: &[u8; DIGEST_LEN],
    ) -> Result<[u8; DIGEST_LEN], T::Error> {
        let mut params = Writer::with_capacity(24);
        params.u32(u32::from(pcr)).bytes(digest);
        let response = self.call(ord::EXTEND, params.as_slice())?;
        read_digest(ord::EXTEND, response.body())
    }

    /// Seals `payload` under the SRK to `locality` and the PCRs of `selection` holding
    /// `values` (ascending); returns the TPM_STORED_DATA12.
    pub(crate) fn seal(
        &mut self,
        payload: &[u8],
        selection: PcrSelection,
        values: &[[u8; DIGEST_LEN]],
        locality: u8,
    ) -> Result<Vec<u8>, T::Error> {
        let release = wire::composite_hash(selection, values);
        let info = wire::pcr_info_long(selection, locality, &release);
        let srk_auth = self.srk_auth.clone();
        let mut session = self.osap(wire::ET_KEYHANDLE, wire::KH_SRK, &srk_auth)?;
        let enc_auth = adip(&session, &DATA_AUTH);
        let mut params = Writer::with_capacity(32 + info.len() + payload.len());
        params.bytes(enc_auth.as_slice());
        params.u32(len_u32(info.len())).bytes(&info);
        params.u32(len_u32(payload.len())).bytes(payload);
        let params = Zeroizing::new(params.into_vec());
        let out = self.auth_call(ord::SEAL, &[wire::KH_SRK], &params, &mut [&mut session])?;
        wire::check_stored_data(&out).map_err(|e| Error::malformed(ord::SEAL, e))?;
        Ok(out.to_vec())
    }

    /// Unseals a TPM_STORED_DATA12 made by [`Tpm12Client::seal`].
    pub(crate) fn unseal(&mut self, stored: &[u8]) -> Result<Zeroizing<Vec<u8>>, T::Error> {
        let srk_auth = self.srk_auth.clone();
        let mut parent = self.oiap(&srk_auth)?;
        let mut data = match self.oiap(&Zeroizing::new(DATA_AUTH)) {
            Ok(session) => session,
            Err(e) => {
                self.flush_session(parent.handle);
                return Err(e);
            }
        };
        let out =
            self.auth_call(ord::UNSEAL, &[wire::KH_SRK], stored, &mut [&mut parent, &mut data])?;
        let mut r = Reader::new(&out);
        let secret = r.sized_u32(wire::MAX_SECRET).map_err(|e| Error::malformed(ord::UNSEAL, e))?;
        let secret = Zeroizing::new(secret.to_vec());
        r.finish().map_err(|e| Error::malformed(ord::UNSEAL, e))?;
        Ok(secret)
    }

    /// The manager's counter: the one already found, else the only monotonic counter
    /// labelled [`COUNTER_LABEL`], else the NV area at [`NV_COUNTER_INDEX`] if defined,
    /// else a new monotonic counter (TPM_CreateCounter with owner authorisation) or, if
    /// the TPM has none left, a new NV area.
    pub fn counter_ref(&mut self) -> Result<CounterRef, T::Error> {
        if let Some(counter) = self.counter {
            return Ok(counter);
        }
        let mut found = None;
        for id in self.counter_handles()? {
            if self.read_counter(id)?.label == COUNTER_LABEL {
                if found.is_some() {
                    return Err(Error::CounterAmbiguous);
                }
                found = Some(id);
            }
        }
        let counter = match found {
            Some(id) => CounterRef::Monotonic(id),
            None if self.nv_counter_defined()? => CounterRef::Nv(NV_COUNTER_INDEX),
            None => match self.create_counter(COUNTER_LABEL) {
                Ok(id) => CounterRef::Monotonic(id),
                Err(Error::Tpm { rc: rc::RESOURCES | rc::NOSPACE | rc::BAD_ORDINAL, .. }) => {
                    self.define_nv_counter()?;
                    CounterRef::Nv(NV_COUNTER_INDEX)
                }
                Err(e) => return Err(e),
            },
        };
        self.counter = Some(counter);
        Ok(counter)
    }

    /// Uses `counter` from now on (the one a sealed root names), if no other counter is
    /// in use yet and it is the manager's; fails otherwise.
    pub(crate) fn adopt_counter(&mut self, counter: CounterRef) -> Result<(), T::Error> {
        let handle = |c: CounterRef| match c {
            CounterRef::Monotonic(id) | CounterRef::Nv(id) => id,
        };
        if let Some(current) = self.counter
            && current != counter
        {
            return Err(Error::CounterMismatch {
                sealed: handle(counter),
                current: handle(current),
            });
        }
        let ours = match counter {
            CounterRef::Monotonic(id) => self.read_counter(id)?.label == COUNTER_LABEL,
            CounterRef::Nv(index) => index == NV_COUNTER_INDEX && self.nv_counter_defined()?,
        };
        if !ours {
            let id = handle(counter);
            return Err(Error::CounterMismatch { sealed: id, current: id });
        }
        self.counter = Some(counter);
        Ok(())
    }

    /// The counter's value (TPM_ReadCounter, or TPM_NV_ReadValue).
    pub fn counter_read(&mut self) -> Result<u64, T::Error> {
        match self.counter_ref()? {
            CounterRef::Monotonic(id) => Ok(u64::from(self.read_counter(id)?.value)),
            CounterRef::Nv(index) => self.nv_read(index),
        }
    }

    /// Increments the counter and returns its new value. A TPM 1.2 increments only one
    /// monotonic counter per boot cycle (Part 1 §17): if another one was incremented
    /// since TPM_Startup this fails with TPM_BAD_COUNTER.
    pub fn counter_increment(&mut self) -> Result<u64, T::Error> {
        let id = match self.counter_ref()? {
            CounterRef::Monotonic(id) => id,
            CounterRef::Nv(index) => {
                let next = self
                    .nv_read(index)?
                    .checked_add(1)
                    .ok_or(Error::malformed(ord::NV_READ_VALUE, Malformed::UnexpectedValue))?;
                self.nv_write(index, next)?;
                return Ok(next);
            }
        };
        let owner = self.owner_auth.clone();
        let mut session = self.oiap(&owner)?;
        let out =
            self.auth_call(ord::INCREMENT_COUNTER, &[], &id.to_be_bytes(), &mut [&mut session])?;
        let mut r = Reader::new(&out);
        let value = wire::read_counter_value(&mut r)
            .and_then(|value| Ok(r.finish().map(|()| value)?))
            .map_err(|e| Error::malformed(ord::INCREMENT_COUNTER, e))?;
        if value.label != COUNTER_LABEL {
            return Err(Error::malformed(ord::INCREMENT_COUNTER, Malformed::UnexpectedValue));
        }
        Ok(u64::from(value.value))
    }

    /// Creates a monotonic counter with another label, to fill the TPM's counters in
    /// tests of the NV fallback.
    #[cfg(feature = "test-utils")]
    pub fn create_foreign_counter(&mut self, label: [u8; 4]) -> Result<u32, T::Error> {
        self.create_counter(label)
    }

    /// Whether the NV counter area is defined (TPM_GetCapability(TPM_CAP_NV_INDEX)); an
    /// area at that index that is not exactly the one this client defines is refused.
    fn nv_counter_defined(&mut self) -> Result<bool, T::Error> {
        let mut params = Writer::with_capacity(12);
        params.u32(wire::CAP_NV_INDEX).u32(4).u32(NV_COUNTER_INDEX);
        let response = match self.call(ord::GET_CAPABILITY, params.as_slice()) {
            Ok(response) => response,
            Err(Error::Tpm { rc: rc::BADINDEX, .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut r = Reader::new(response.body());
        let matches = (|| -> core::result::Result<_, Malformed> {
            let mut public = Reader::new(r.sized_u32(256)?);
            r.finish()?;
            let matches = wire::nv_data_public_matches(&mut public, NV_COUNTER_INDEX, 8)?;
            public.finish()?;
            Ok(matches)
        })()
        .map_err(|e| Error::malformed(ord::GET_CAPABILITY, e))?;
        if !matches {
            return Err(Error::CounterIndexMismatch { index: NV_COUNTER_INDEX });
        }
        Ok(true)
    }

    /// TPM_NV_DefineSpace (Part 3 §20.1) of the counter area, then writes 0 in it.
    fn define_nv_counter(&mut self) -> Result<(), T::Error> {
        let owner = self.owner_auth.clone();
        let mut session = self.osap(wire::ET_OWNER, wire::KH_OWNER, &owner)?;
        // The area's own authorisation is never used (owner writes, anyone reads).
        let enc_auth = adip(&session, &DATA_AUTH);
        let mut params = Writer::with_capacity(96);
        params.bytes(&wire::nv_data_public(NV_COUNTER_INDEX, 8)).bytes(enc_auth.as_slice());
        let out =
            self.auth_call(ord::NV_DEFINE_SPACE, &[], params.as_slice(), &mut [&mut session])?;
        if !out.is_empty() {
            return Err(Error::malformed(ord::NV_DEFINE_SPACE, Malformed::TrailingBytes));
        }
        self.nv_write(NV_COUNTER_INDEX, 0)
    }

    /// TPM_NV_ReadValue (Part 3 §20.4) of the 8-byte counter area, without authorisation.
    fn nv_read(&mut self, index: u32) -> Result<u64, T::Error> {
        let mut params = Writer::with_capacity(12);
        params.u32(index).u32(0).u32(8);
        let response = self.call(ord::NV_READ_VALUE, params.as_slice())?;
        let mut r = Reader::new(response.body());
        (|| -> core::result::Result<_, Malformed> {
            let data = r.sized_u32(8)?;
            r.finish()?;
            Ok(u64::from_be_bytes(data.try_into().map_err(|_| Malformed::Truncated)?))
        })()
        .map_err(|e| Error::malformed(ord::NV_READ_VALUE, e))
    }

    /// TPM_NV_WriteValue (Part 3 §20.2) of the counter area with owner authorisation.
    fn nv_write(&mut self, index: u32, value: u64) -> Result<(), T::Error> {
        let owner = self.owner_auth.clone();
        let mut session = self.oiap(&owner)?;
        let mut params = Writer::with_capacity(20);
        params.u32(index).u32(0).u32(8).u64(value);
        let out =
            self.auth_call(ord::NV_WRITE_VALUE, &[], params.as_slice(), &mut [&mut session])?;
        if !out.is_empty() {
            return Err(Error::malformed(ord::NV_WRITE_VALUE, Malformed::TrailingBytes));
        }
        Ok(())
    }

    /// Makes sure the TPM has an owner whose authorisation is the configured one.
    fn ensure_owner(&mut self) -> Result<(), T::Error> {
        let mut anti_replay = [0u8; DIGEST_LEN];
        self.rng.fill(&mut anti_replay);
        // TPM_ReadPubek answers only while readPubek is set, which TakeOwnership clears
        // (Part 3 §27.6): an answer means the TPM has no owner.
        let ek = match self.call(ord::READ_PUBEK, &anti_replay) {
            Ok(response) => read_checked_pubkey(ord::READ_PUBEK, response.body(), &anti_replay)?,
            Err(Error::Tpm { rc: rc::NO_ENDORSEMENT, .. }) => {
                let mut params = Writer::with_capacity(44);
                params.bytes(&anti_replay).bytes(&wire::ek_key_parms());
                let response = self.call(ord::CREATE_ENDORSEMENT_KEY_PAIR, params.as_slice())?;
                read_checked_pubkey(
                    ord::CREATE_ENDORSEMENT_KEY_PAIR,
                    response.body(),
                    &anti_replay,
                )?
            }
            Err(Error::Tpm { rc: rc::DISABLED_CMD, .. }) => return self.check_owner(),
            Err(e) => return Err(e),
        };
        match self.take_ownership(&ek) {
            Err(Error::Tpm { rc: rc::OWNER_SET, .. }) => self.check_owner(),
            other => other,
        }
    }

    /// TPM_TakeOwnership (Part 3 §6.1): owner and SRK authorisations encrypted to the EK
    /// with RSAES-OAEP, SHA-1, label "TCPA" (Part 1 §31.1.1), authorised with the new
    /// owner authorisation.
    fn take_ownership(&mut self, ek: &RsaPublic) -> Result<(), T::Error> {
        let code = ord::TAKE_OWNERSHIP;
        let modulus = u32::try_from(ek.modulus.len() * 8).unwrap_or(u32::MAX);
        let key = BoxedUint::from_be_slice(&ek.modulus, modulus)
            .ok()
            .and_then(|n| RsaPublicKey::new(n, BoxedUint::from(ek.exponent)).ok())
            .ok_or(Error::malformed(ord::READ_PUBEK, Malformed::UnexpectedValue))?;
        let mut encrypt = |secret: &[u8]| {
            key.encrypt(&mut self.rng, Oaep::<Sha1>::new_with_label(&b"TCPA"[..]), secret)
                .map_err(|_| Error::malformed(ord::READ_PUBEK, Malformed::UnexpectedValue))
        };
        let enc_owner = encrypt(self.owner_auth.as_slice())?;
        let enc_srk = encrypt(self.srk_auth.as_slice())?;
        let mut params = Writer::with_capacity(560);
        params.u16(wire::PID_OWNER);
        params.u32(len_u32(enc_owner.len())).bytes(&enc_owner);
        params.u32(len_u32(enc_srk.len())).bytes(&enc_srk);
        params.bytes(&wire::srk_params());
        let owner = self.owner_auth.clone();
        let mut session = self.oiap(&owner)?;
        // The response carries the SRK's public TPM_KEY12, authenticated by its HMAC.
        let out = self.auth_call(code, &[], params.as_slice(), &mut [&mut session])?;
        if out.is_empty() {
            return Err(Error::malformed(code, Malformed::Truncated));
        }
        Ok(())
    }

    /// Checks the owner authorisation with TPM_GetCapabilityOwner (Part 3 §7.3), which
    /// needs nothing but it.
    fn check_owner(&mut self) -> Result<(), T::Error> {
        let owner = self.owner_auth.clone();
        let mut session = self.oiap(&owner)?;
        let out = self.auth_call(ord::GET_CAPABILITY_OWNER, &[], &[], &mut [&mut session])?;
        // TPM_VERSION, non-volatile flags, volatile flags.
        if out.len() != 12 {
            return Err(Error::malformed(ord::GET_CAPABILITY_OWNER, Malformed::UnexpectedValue));
        }
        Ok(())
    }

    /// TPM_GetCapability(TPM_CAP_VERSION_VAL): a harmless command that tells whether
    /// TPM_Startup ran.
    fn version(&mut self) -> Result<(), T::Error> {
        let mut params = Writer::with_capacity(8);
        params.u32(wire::CAP_VERSION_VAL).u32(0);
        let response = self.call(ord::GET_CAPABILITY, params.as_slice())?;
        let mut r = Reader::new(response.body());
        r.sized_u32(wire::MAX_STORED_DATA)
            .and_then(|_| r.finish())
            .map_err(|e| Error::malformed(ord::GET_CAPABILITY, e))
    }

    /// The TPM's counter handles (TPM_GetCapability(TPM_CAP_HANDLE, TPM_RT_COUNTER)).
    fn counter_handles(&mut self) -> Result<Vec<u32>, T::Error> {
        let mut params = Writer::with_capacity(12);
        params.u32(wire::CAP_HANDLE).u32(4).u32(wire::RT_COUNTER);
        let response = self.call(ord::GET_CAPABILITY, params.as_slice())?;
        let mut r = Reader::new(response.body());
        (|| -> core::result::Result<_, Malformed> {
            let mut list = Reader::new(r.sized_u32(4096)?);
            r.finish()?;
            // TPM_KEY_HANDLE_LIST: loaded, then that many handles.
            let count = list.u16()?;
            let handles =
                (0..count).map(|_| list.u32()).collect::<core::result::Result<Vec<_>, _>>()?;
            list.finish()?;
            Ok(handles)
        })()
        .map_err(|e: Malformed| Error::malformed(ord::GET_CAPABILITY, e))
    }

    fn read_counter(&mut self, id: u32) -> Result<wire::CounterValue, T::Error> {
        let response = self.call(ord::READ_COUNTER, &id.to_be_bytes())?;
        let mut r = Reader::new(response.body());
        wire::read_counter_value(&mut r)
            .and_then(|value| Ok(r.finish().map(|()| value)?))
            .map_err(|e| Error::malformed(ord::READ_COUNTER, e))
    }

    /// TPM_CreateCounter (Part 3 §25.1): OSAP on the owner, the counter's authorisation
    /// (the owner's) ADIP-encrypted.
    fn create_counter(&mut self, label: [u8; 4]) -> Result<u32, T::Error> {
        let owner = self.owner_auth.clone();
        let mut session = self.osap(wire::ET_OWNER, wire::KH_OWNER, &owner)?;
        let enc_auth = adip(&session, &owner);
        let mut params = Writer::with_capacity(24);
        params.bytes(enc_auth.as_slice()).bytes(&label);
        let out =
            self.auth_call(ord::CREATE_COUNTER, &[], params.as_slice(), &mut [&mut session])?;
        let mut r = Reader::new(&out);
        (|| -> core::result::Result<_, Malformed> {
            let id = r.u32()?;
            let value = wire::read_counter_value(&mut r)?;
            r.finish()?;
            if value.label != label {
                return Err(Malformed::UnexpectedValue);
            }
            Ok(id)
        })()
        .map_err(|e| Error::malformed(ord::CREATE_COUNTER, e))
    }

    /// TPM_OIAP (Part 3 §18.1).
    fn oiap(&mut self, auth: &Auth) -> Result<Session, T::Error> {
        let response = self.call(ord::OIAP, &[])?;
        let mut r = Reader::new(response.body());
        let (handle, nonce_even) = (|| -> core::result::Result<_, Malformed> {
            let parts = (r.u32()?, r.array::<DIGEST_LEN>()?);
            r.finish()?;
            Ok(parts)
        })()
        .map_err(|e: Malformed| Error::malformed(ord::OIAP, e))?;
        Ok(Session { handle, nonce_even, key: auth.clone() })
    }

    /// TPM_OSAP (Part 3 §18.2); the session key is the shared secret
    /// HMAC(entity auth, nonceEvenOSAP || nonceOddOSAP).
    fn osap(&mut self, entity_type: u16, entity: u32, auth: &Auth) -> Result<Session, T::Error> {
        let mut nonce_odd_osap = [0u8; DIGEST_LEN];
        self.rng.fill(&mut nonce_odd_osap);
        let mut params = Writer::with_capacity(26);
        params.u16(entity_type).u32(entity).bytes(&nonce_odd_osap);
        let response = self.call(ord::OSAP, params.as_slice())?;
        let mut r = Reader::new(response.body());
        let (handle, nonce_even, nonce_even_osap) = (|| -> core::result::Result<_, Malformed> {
            let parts = (r.u32()?, r.array::<DIGEST_LEN>()?, r.array::<DIGEST_LEN>()?);
            r.finish()?;
            Ok(parts)
        })()
        .map_err(|e: Malformed| Error::malformed(ord::OSAP, e))?;
        let mut mac = hmac_sha1(auth.as_slice());
        mac.update(&nonce_even_osap);
        mac.update(&nonce_odd_osap);
        let key = Zeroizing::new(<[u8; DIGEST_LEN]>::from(mac.finalize().into_bytes()));
        Ok(Session { handle, nonce_even, key })
    }

    /// Sends an authorised command (Part 1 §13.2): `params` are every input after the
    /// handles; each session gets a fresh nonceOdd and the HMAC of
    /// `SHA-1(ordinal || params) || nonceEven || nonceOdd || continueAuthSession`.
    /// Returns the output parameters once every response HMAC has verified.
    fn auth_call(
        &mut self,
        code: u32,
        handles: &[u32],
        params: &[u8],
        sessions: &mut [&mut Session],
    ) -> Result<Zeroizing<Vec<u8>>, T::Error> {
        let in_digest: [u8; DIGEST_LEN] =
            Sha1::new().chain_update(code.to_be_bytes()).chain_update(params).finalize().into();
        let request_tag = match sessions.len() {
            1 => tag::RQU_AUTH1_COMMAND,
            _ => tag::RQU_AUTH2_COMMAND,
        };
        let mut w =
            Writer::with_capacity(14 + handles.len() * 4 + params.len() + 45 * sessions.len());
        w.u16(request_tag).u32(0).u32(code);
        for &handle in handles {
            w.u32(handle);
        }
        w.bytes(params);
        let mut nonces_odd = [[0u8; DIGEST_LEN]; 2];
        for (session, nonce_odd) in sessions.iter().zip(nonces_odd.iter_mut()) {
            self.rng.fill(nonce_odd);
            let mut mac = hmac_sha1(session.key.as_slice());
            mac.update(&in_digest);
            mac.update(&session.nonce_even);
            mac.update(nonce_odd);
            mac.update(&[0]);
            // continueAuthSession FALSE: the TPM closes the session after this command.
            w.u32(session.handle).bytes(nonce_odd).u8(0).bytes(&mac.finalize().into_bytes());
        }
        let size = len_u32(w.len());
        let _ = w.patch_u32(2, size);
        let command = Zeroizing::new(w.into_vec());

        let outcome = frame::exchange(&mut self.transport, code, &command)
            .and_then(|response| verify_auth_response(code, &response, sessions, &nonces_odd));
        match outcome {
            Ok(out) => Ok(out),
            // The TPM answered with an error code: it closed the sessions (Part 1 §13.2.1).
            Err(
                e @ (Error::Tpm { .. }
                | Error::AuthFailed { .. }
                | Error::Lockout { .. }
                | Error::PcrMismatch { .. }
                | Error::LocalityMismatch { .. }),
            ) => Err(e),
            // Nothing or nothing trustworthy came back: the sessions may be open still.
            Err(e) => {
                for session in sessions.iter() {
                    self.flush_session(session.handle);
                }
                Err(e)
            }
        }
    }

    /// Best-effort TPM_FlushSpecific of an authorisation session; the outcome does not
    /// matter (the session may well be closed already).
    fn flush_session(&mut self, handle: u32) {
        let mut params = Writer::with_capacity(8);
        params.u32(handle).u32(wire::RT_AUTH);
        let _ = self.call(ord::FLUSH_SPECIFIC, params.as_slice());
    }

    /// Sends an unauthorised command; retries TPM_RETRY a few times.
    fn call(&mut self, code: u32, params: &[u8]) -> Result<Response, T::Error> {
        let mut w = Writer::with_capacity(10 + params.len());
        w.u16(tag::RQU_COMMAND).u32(len_u32(10 + params.len())).u32(code).bytes(params);
        let command = Zeroizing::new(w.into_vec());
        let mut retries = 0;
        loop {
            let response = frame::exchange(&mut self.transport, code, &command)?;
            if response.tag != tag::RSP_COMMAND {
                return Err(Error::malformed(code, Malformed::Tag { found: response.tag }));
            }
            if response.rc == rc::SUCCESS {
                return Ok(response);
            }
            if !response.body().is_empty() {
                return Err(Error::malformed(code, Malformed::TrailingBytes));
            }
            if response.rc == rc::RETRY && retries < MAX_RETRIES {
                retries += 1;
                continue;
            }
            return Err(classify(code, response.rc));
        }
    }
}

/// Checks an authorised command's response and returns its output parameters. Output
/// HMAC (Part 1 §13.2): `SHA-1(returnCode || ordinal || outputs) || nonceEven ||
/// nonceOdd || continueAuthSession`, keyed as the request was.
fn verify_auth_response<E>(
    code: u32,
    response: &Response,
    sessions: &mut [&mut Session],
    nonces_odd: &[[u8; DIGEST_LEN]; 2],
) -> Result<Zeroizing<Vec<u8>>, E> {
    let expected_tag = match sessions.len() {
        1 => tag::RSP_AUTH1_COMMAND,
        _ => tag::RSP_AUTH2_COMMAND,
    };
    if response.rc != rc::SUCCESS {
        // Errors come back as a bare header, tagged TPM_TAG_RSP_COMMAND (Part 1 §13.2.1)
        // or, as libtpms and some parts do, with the authorised response tag.
        if response.tag != tag::RSP_COMMAND && response.tag != expected_tag {
            return Err(Error::malformed(code, Malformed::Tag { found: response.tag }));
        }
        if !response.body().is_empty() {
            return Err(Error::malformed(code, Malformed::TrailingBytes));
        }
        return Err(classify(code, response.rc));
    }
    if response.tag != expected_tag {
        return Err(Error::malformed(code, Malformed::Tag { found: response.tag }));
    }
    let body = response.body();
    let trailer = sessions.len() * (2 * DIGEST_LEN + 1);
    let split =
        body.len().checked_sub(trailer).ok_or(Error::malformed(code, Malformed::Truncated))?;
    let (out, auths) = body.split_at(split);
    let out_digest: [u8; DIGEST_LEN] = Sha1::new()
        .chain_update(rc::SUCCESS.to_be_bytes())
        .chain_update(code.to_be_bytes())
        .chain_update(out)
        .finalize()
        .into();
    let mut r = Reader::new(auths);
    for (session, nonce_odd) in sessions.iter_mut().zip(nonces_odd) {
        let (nonce_even, continued, res_auth) = (|| -> core::result::Result<_, Malformed> {
            Ok((r.array::<DIGEST_LEN>()?, r.u8()?, r.array::<DIGEST_LEN>()?))
        })()
        .map_err(|e: Malformed| Error::malformed(code, e))?;
        let mut mac = hmac_sha1(session.key.as_slice());
        mac.update(&out_digest);
        mac.update(&nonce_even);
        mac.update(nonce_odd);
        mac.update(&[continued]);
        let expected = mac.finalize().into_bytes();
        if !bool::from(expected.as_slice().ct_eq(&res_auth)) {
            return Err(Error::ResponseAuth { command: code });
        }
        session.nonce_even = nonce_even;
    }
    Ok(Zeroizing::new(out.to_vec()))
}

/// ADIP (Part 1 §13.5): a new authorisation value XOR SHA-1(shared secret ||
/// nonceEven) of the OSAP session that carries it.
fn adip(session: &Session, secret: &[u8; DIGEST_LEN]) -> Auth {
    let pad: [u8; DIGEST_LEN] = Sha1::new()
        .chain_update(session.key.as_slice())
        .chain_update(session.nonce_even)
        .finalize()
        .into();
    let mut out = Zeroizing::new([0u8; DIGEST_LEN]);
    for ((o, s), p) in out.iter_mut().zip(secret).zip(pad) {
        *o = s ^ p;
    }
    out
}

fn hmac_sha1(key: &[u8]) -> Hmac<Sha1> {
    // HMAC accepts keys of any length (RFC 2104 §2), so new_from_slice never fails; the
    // fallback only keeps this panic-free.
    <Hmac<Sha1> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| Hmac::<Sha1>::new(&Default::default()))
}

/// Reads a TPM_PUBKEY followed by its checksum SHA-1(pubkey || antiReplay) (TPM_ReadPubek,
/// TPM_CreateEndorsementKeyPair).
fn read_checked_pubkey<E>(
    code: u32,
    body: &[u8],
    anti_replay: &[u8; DIGEST_LEN],
) -> Result<RsaPublic, E> {
    let mut r = Reader::new(body);
    let key = wire::read_pubkey(&mut r).map_err(|e| Error::malformed(code, e))?;
    let key_bytes = body.get(..body.len() - r.remaining()).unwrap_or_default();
    let checksum = r.array::<DIGEST_LEN>().map_err(|e| Error::malformed(code, e))?;
    r.finish().map_err(|e| Error::malformed(code, e))?;
    let expected = Sha1::new().chain_update(key_bytes).chain_update(anti_replay).finalize();
    if !bool::from(expected.as_slice().ct_eq(&checksum)) {
        return Err(Error::malformed(code, Malformed::Checksum));
    }
    Ok(key)
}

fn read_digest<E>(code: u32, body: &[u8]) -> Result<[u8; DIGEST_LEN], E> {
    let mut r = Reader::new(body);
    let digest = r.array::<DIGEST_LEN>().map_err(|e| Error::malformed(code, e))?;
    r.finish().map_err(|e| Error::malformed(code, e))?;
    Ok(digest)
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Turns a TPM 1.2 return code into the error a caller can act on.
fn classify<E>(command: u32, code: u32) -> Error<E> {
    let family = Family::Tpm12;
    match code {
        rc::AUTHFAIL | rc::AUTH2FAIL => Error::AuthFailed { family, command, rc: code },
        rc::DEFEND_LOCK_RUNNING => Error::Lockout { family, command, rc: code },
        rc::WRONGPCRVAL => Error::PcrMismatch { family, rc: code },
        rc::BAD_LOCALITY => Error::LocalityMismatch { family, rc: code },
        _ => Error::Tpm { family, command, rc: code },
    }
}
