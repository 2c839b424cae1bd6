//! The family-neutral API the manager image calls.

use alloc::vec::Vec;

use subtle::ConstantTimeEq;
use tpm_engine::Family;
use tpm_engine::wire::{Reader, Writer};
use zeroize::Zeroizing;

use crate::blob::Body;
use crate::frame;
use crate::tpm2::Tpm2Client;
use crate::tpm2::wire::{cap, cc, pt, st};
use crate::tpm12::{self, CounterRef, Tpm12Client};
use crate::{Config, Error, Malformed, PcrSelection, SealedRoot, Transport};

/// Length of the root secret.
const SECRET_LEN: usize = 32;

/// What the TPM seals: the root secret and the rollback counter it goes with, so a
/// sealed root cannot be paired with another (lower) counter.
///
/// `secret (32) | counter kind u8 | counter handle u32`.
const PAYLOAD_LEN: usize = SECRET_LEN + 1 + 4;
/// Counter kinds in the payload.
const COUNTER_NV_INDEX: u8 = 1;
const COUNTER_TPM12: u8 = 2;
const COUNTER_TPM12_NV: u8 = 3;

/// A hardware monotonic counter (what `mgr-store` binds its root to).
pub trait MonotonicCounter {
    /// Why the counter could not be read or incremented.
    type Error;
    /// The current value.
    fn read(&mut self) -> core::result::Result<u64, Self::Error>;
    /// Adds one and returns the new value.
    fn increment(&mut self) -> core::result::Result<u64, Self::Error>;
}

/// A PCR's value in the bank the client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcrValue {
    /// A TPM 1.2 PCR (SHA-1).
    Sha1([u8; 20]),
    /// A TPM 2.0 PCR of the SHA-256 bank.
    Sha256([u8; 32]),
}

/// The hardware TPM, whichever family it is.
pub enum HardwareTpm<T: Transport> {
    /// A TPM 2.0.
    Tpm2(Tpm2Client<T>),
    /// A TPM 1.2.
    Tpm12(Tpm12Client<T>),
}

type Result<T, E> = core::result::Result<T, Error<E>>;

impl<T: Transport> HardwareTpm<T> {
    /// Finds out which family the TPM behind `transport` is and takes it over: sends
    /// Startup(CLEAR) if firmware did not, seeds the nonce generator, and on a TPM 1.2
    /// takes ownership (or checks the owner authorisation).
    pub fn detect(mut transport: T, config: Config) -> Result<Self, T::Error> {
        config.validate()?;
        match probe(&mut transport)? {
            Family::Tpm20 => Ok(Self::Tpm2(Tpm2Client::start(transport, &config)?)),
            Family::Tpm12 => Ok(Self::Tpm12(Tpm12Client::start(transport, &config)?)),
        }
    }

    /// The TPM's family.
    pub fn family(&self) -> Family {
        match self {
            Self::Tpm2(_) => Family::Tpm20,
            Self::Tpm12(_) => Family::Tpm12,
        }
    }

    /// Seals `secret` to the current values of the PCRs in `pcrs` and to the manager's
    /// locality, bound to the rollback counter (defined or created first if needed),
    /// then checks that the result unseals to the same secret before returning it.
    pub fn seal_root(
        &mut self,
        secret: &[u8; SECRET_LEN],
        pcrs: PcrSelection,
    ) -> Result<SealedRoot, T::Error> {
        let sealed = self.seal_root_to(secret, pcrs, None)?;
        let unsealed = self.unseal_root(&sealed)?;
        if !bool::from(unsealed.as_slice().ct_eq(secret)) {
            return Err(Error::SealVerifyFailed);
        }
        Ok(sealed)
    }

    /// Seals `secret` to PCR values given by the caller (ascending PCR order, one per
    /// selected PCR: 20 bytes on a TPM 1.2, 32 on a TPM 2.0), typically those a planned
    /// firmware or kernel update will produce. Cannot be checked by unsealing now.
    pub fn seal_root_to_values(
        &mut self,
        secret: &[u8; SECRET_LEN],
        pcrs: PcrSelection,
        values: &[PcrValue],
    ) -> Result<SealedRoot, T::Error> {
        self.seal_root_to(secret, pcrs, Some(values))
    }

    fn seal_root_to(
        &mut self,
        secret: &[u8; SECRET_LEN],
        pcrs: PcrSelection,
        values: Option<&[PcrValue]>,
    ) -> Result<SealedRoot, T::Error> {
        let mut payload = Zeroizing::new([0u8; PAYLOAD_LEN]);
        let (prefix, counter) = payload.split_at_mut(SECRET_LEN);
        prefix.copy_from_slice(secret);
        match self {
            Self::Tpm2(client) => {
                client.ensure_counter()?;
                write_counter(counter, COUNTER_NV_INDEX, client.counter_index());
                let locality = client.locality();
                let values = match values {
                    None => client.pcr_read(pcrs)?,
                    Some(values) => sha256_values(values, pcrs)?,
                };
                let sealed = client.seal(payload.as_slice(), pcrs, &values, locality)?;
                Ok(SealedRoot { family: Family::Tpm20, locality, pcrs, body: Body::Tpm2(sealed) })
            }
            Self::Tpm12(client) => {
                match client.counter_ref()? {
                    CounterRef::Monotonic(id) => write_counter(counter, COUNTER_TPM12, id),
                    CounterRef::Nv(index) => write_counter(counter, COUNTER_TPM12_NV, index),
                }
                let locality = client.locality();
                let values = match values {
                    None => pcrs
                        .iter()
                        .map(|pcr| client.pcr_read(pcr))
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(values) => sha1_values(values, pcrs)?,
                };
                let stored = client.seal(payload.as_slice(), pcrs, &values, locality)?;
                Ok(SealedRoot { family: Family::Tpm12, locality, pcrs, body: Body::Tpm12(stored) })
            }
        }
    }

    /// Unseals a root secret sealed by this TPM. Fails with [`Error::PcrMismatch`] if
    /// the platform's measurements changed since, [`Error::LocalityMismatch`] from
    /// another locality, [`Error::CounterMismatch`] if the sealed root names another
    /// counter than the one in use.
    pub fn unseal_root(&mut self, sealed: &SealedRoot) -> Result<Zeroizing<[u8; 32]>, T::Error> {
        let family = self.family();
        let payload = match (self, &sealed.body) {
            (Self::Tpm2(client), Body::Tpm2(body)) => {
                let payload = client.unseal(body, sealed.pcrs, sealed.locality)?;
                let (kind, index) = read_payload_counter(&payload)?;
                if kind != COUNTER_NV_INDEX || index != client.counter_index() {
                    return Err(Error::CounterMismatch {
                        sealed: index,
                        current: client.counter_index(),
                    });
                }
                payload
            }
            (Self::Tpm12(client), Body::Tpm12(stored)) => {
                let payload = client.unseal(stored)?;
                let counter = match read_payload_counter(&payload)? {
                    (COUNTER_TPM12, id) => CounterRef::Monotonic(id),
                    (COUNTER_TPM12_NV, index) => CounterRef::Nv(index),
                    (_, id) => return Err(Error::CounterMismatch { sealed: id, current: id }),
                };
                client.adopt_counter(counter)?;
                payload
            }
            _ => return Err(Error::WrongFamily { blob: sealed.family, tpm: family }),
        };
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        secret.copy_from_slice(payload.get(..SECRET_LEN).unwrap_or(&[0; SECRET_LEN]));
        Ok(secret)
    }

    /// The rollback counter, provisioned if it does not exist yet (TPM 2.0: the NV
    /// index is defined and written once; TPM 1.2: a counter is created unless one with
    /// the manager's label exists).
    pub fn counter(&mut self) -> Result<Counter<'_, T>, T::Error> {
        match self {
            Self::Tpm2(client) => client.ensure_counter()?,
            Self::Tpm12(client) => {
                client.counter_ref()?;
            }
        }
        Ok(Counter { tpm: self })
    }

    /// Fills `out` with random bytes from the TPM.
    pub fn random(&mut self, out: &mut [u8]) -> Result<(), T::Error> {
        match self {
            Self::Tpm2(client) => client.get_random(out),
            Self::Tpm12(client) => client.get_random(out),
        }
    }

    /// Reads a PCR (TPM 2.0: the SHA-256 bank).
    pub fn pcr_read(&mut self, pcr: u8) -> Result<PcrValue, T::Error> {
        let selection = PcrSelection::EMPTY.with(pcr).ok_or(crate::ConfigError::PcrList)?;
        match self {
            Self::Tpm2(client) => {
                let values = client.pcr_read(selection)?;
                let value = values.first().copied().ok_or(crate::Unsupported::Sha256Bank)?;
                Ok(PcrValue::Sha256(value))
            }
            Self::Tpm12(client) => Ok(PcrValue::Sha1(client.pcr_read(pcr)?)),
        }
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        match self {
            Self::Tpm2(client) => client.into_transport(),
            Self::Tpm12(client) => client.into_transport(),
        }
    }
}

impl<T: Transport> MonotonicCounter for HardwareTpm<T> {
    type Error = Error<T::Error>;

    fn read(&mut self) -> core::result::Result<u64, Self::Error> {
        match self {
            Self::Tpm2(client) => client.counter_read(),
            Self::Tpm12(client) => client.counter_read(),
        }
    }

    fn increment(&mut self) -> core::result::Result<u64, Self::Error> {
        match self {
            Self::Tpm2(client) => client.counter_increment(),
            Self::Tpm12(client) => client.counter_increment(),
        }
    }
}

/// The rollback counter of a [`HardwareTpm`], provisioned.
pub struct Counter<'a, T: Transport> {
    tpm: &'a mut HardwareTpm<T>,
}

impl<T: Transport> core::fmt::Debug for HardwareTpm<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Tpm2(client) => f.debug_tuple("Tpm2").field(client).finish(),
            Self::Tpm12(client) => f.debug_tuple("Tpm12").field(client).finish(),
        }
    }
}

impl<T: Transport> core::fmt::Debug for Counter<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Counter").field("tpm", &self.tpm).finish()
    }
}

impl<T: Transport> MonotonicCounter for Counter<'_, T> {
    type Error = Error<T::Error>;

    fn read(&mut self) -> core::result::Result<u64, Self::Error> {
        self.tpm.read()
    }

    fn increment(&mut self) -> core::result::Result<u64, Self::Error> {
        self.tpm.increment()
    }
}

impl<C: MonotonicCounter + ?Sized> MonotonicCounter for &mut C {
    type Error = C::Error;

    fn read(&mut self) -> core::result::Result<u64, C::Error> {
        (**self).read()
    }

    fn increment(&mut self) -> core::result::Result<u64, C::Error> {
        (**self).increment()
    }
}

/// Sends TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, TPM_PT_TOTAL_COMMANDS, 1) and reads
/// the family from the answer's tag (specs §6.5, Linux's tpm2_probe): a TPM 2.0 answers
/// TPM_ST_NO_SESSIONS (whatever its return code, TPM_RC_INITIALIZE included), a TPM 1.2
/// TPM_TAG_RSP_COMMAND with an error (it does not know tag 0x8001).
fn probe<T: Transport>(transport: &mut T) -> Result<Family, T::Error> {
    let mut w = Writer::with_capacity(22);
    w.u16(st::NO_SESSIONS).u32(22).u32(cc::GET_CAPABILITY);
    w.u32(cap::TPM_PROPERTIES).u32(pt::TOTAL_COMMANDS).u32(1);
    let response = frame::exchange(transport, cc::GET_CAPABILITY, w.as_slice())?;
    match response.tag {
        st::NO_SESSIONS => Ok(Family::Tpm20),
        tpm12::wire::tag::RSP_COMMAND if response.rc != 0 => Ok(Family::Tpm12),
        found => Err(Error::malformed(cc::GET_CAPABILITY, Malformed::Tag { found })),
    }
}

fn write_counter(out: &mut [u8], kind: u8, handle: u32) {
    let mut w = Writer::with_capacity(5);
    w.u8(kind).u32(handle);
    out.copy_from_slice(w.as_slice());
}

/// The counter named in an unsealed payload. A payload of another length was not
/// sealed by this client.
fn read_payload_counter<E>(payload: &[u8]) -> Result<(u8, u32), E> {
    let counter = payload
        .get(SECRET_LEN..)
        .filter(|_| payload.len() == PAYLOAD_LEN)
        .ok_or(Error::Blob(crate::BlobError::Malformed))?;
    let mut r = Reader::new(counter);
    let kind = r.u8().map_err(|_| Error::Blob(crate::BlobError::Malformed))?;
    let handle = r.u32().map_err(|_| Error::Blob(crate::BlobError::Malformed))?;
    Ok((kind, handle))
}

fn sha256_values<E>(values: &[PcrValue], pcrs: PcrSelection) -> Result<Vec<[u8; 32]>, E> {
    let out: Vec<[u8; 32]> = values
        .iter()
        .filter_map(|v| match v {
            PcrValue::Sha256(d) => Some(*d),
            PcrValue::Sha1(_) => None,
        })
        .collect();
    if out.len() != values.len() || out.len() != pcrs.len() {
        return Err(Error::Config(crate::ConfigError::PcrList));
    }
    Ok(out)
}

fn sha1_values<E>(values: &[PcrValue], pcrs: PcrSelection) -> Result<Vec<[u8; 20]>, E> {
    let out: Vec<[u8; 20]> = values
        .iter()
        .filter_map(|v| match v {
            PcrValue::Sha1(d) => Some(*d),
            PcrValue::Sha256(_) => None,
        })
        .collect();
    if out.len() != values.len() || out.len() != pcrs.len() {
        return Err(Error::Config(crate::ConfigError::PcrList));
    }
    Ok(out)
}
