//! The manager's answers to its vTPMs (protocol spec §3), over the key store.
//!
//! A caller is a tpmback connection, known by its frontend (domid, handle) and the
//! `uuid` of its backend node, which the toolstack wrote (spec §3.5: the manager trusts
//! whoever can create that node). Each uuid is served to one connection at a time; a
//! second one gets TPM_DISABLED until the first goes away.
//!
//! Differences from the C manager, on purpose: no groups (every vTPM is in group 0, the
//! only group index accepted); no XSM-label "kernel hash" (GET_BOOT_HASH answers zeros,
//! and no vTPM is refused for its label); GET_QUOTE and the Extend passthrough are
//! refused (a vTPM never changes the platform's PCRs); PcrRead is served from a TPM 1.2
//! only (a TPM 2.0 has no TPM 1.2-shaped PCR read).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use mgr_store::{BlockDevice, MonotonicCounter, Store};
use vtpm_proto::{
    Hashkey, MAX_MESSAGE, MAX_RANDOM_BYTES, MAX_VTPM_LIST_UUIDS, Request, Response, ReturnCode,
    Uuid, encode_status, reject,
};

/// Entry flag: the vTPM may use the management commands (spec §3.4; the first vTPM the
/// manager ever stores gets it, as in the C manager).
pub const FLAG_ADMIN: u16 = 1;

/// The only group there is.
const GROUP: u32 = 0;

/// Who sent a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Caller {
    /// The frontend's domain.
    pub domid: u16,
    /// The frontend's device handle.
    pub handle: u32,
    /// The uuid of the connection's backend node.
    pub uuid: Uuid,
}

/// Why the hardware TPM could not serve a passthrough command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardwareError {
    /// This family of TPM cannot answer it in TPM 1.2 form.
    Unsupported,
    /// No such PCR.
    BadIndex,
    /// The TPM failed or could not be reached.
    Failed,
}

/// What requests need from the hardware TPM.
pub trait Hardware {
    /// Fills `out` with random bytes.
    fn random(&mut self, out: &mut [u8]) -> Result<(), HardwareError>;
    /// A TPM 1.2 PCR's value.
    fn pcr_read_sha1(&mut self, index: u32) -> Result<[u8; 20], HardwareError>;
}

/// The manager: the key store, the hardware, and who has which vTPM open.
#[derive(Debug)]
pub struct Manager<D, C, H> {
    store: Store<D, C>,
    hardware: H,
    owners: BTreeMap<[u8; 16], (u16, u32)>,
}

impl<D: BlockDevice, C: MonotonicCounter, H: Hardware> Manager<D, C, H> {
    /// Serves requests from `store`.
    pub fn new(store: Store<D, C>, hardware: H) -> Self {
        Self { store, hardware, owners: BTreeMap::new() }
    }

    /// The key store.
    pub fn store(&mut self) -> &mut Store<D, C> {
        &mut self.store
    }

    /// Gives the key store back (shutdown, tests).
    pub fn into_store(self) -> Store<D, C> {
        self.store
    }

    /// The hardware.
    pub fn hardware(&mut self) -> &mut H {
        &mut self.hardware
    }

    /// A connection went away: its vTPM may be opened by another.
    pub fn disconnected(&mut self, domid: u16, handle: u32) {
        self.owners.retain(|_, owner| *owner != (domid, handle));
    }

    /// Answers one request into `out` and returns the answer's length. Every request
    /// gets a well-formed answer; nothing here panics on what the caller sends.
    pub fn handle(
        &mut self,
        caller: &Caller,
        request: &[u8],
        out: &mut [u8; MAX_MESSAGE],
    ) -> usize {
        match Request::parse(request) {
            Ok(parsed) => {
                let command = parsed.command();
                match self.dispatch(caller, &parsed, out) {
                    Ok(len) => len,
                    Err(Refusal { code, before_dispatch }) => {
                        let tag = if before_dispatch {
                            command.refusal_tag()
                        } else {
                            command.reply_tag()
                        };
                        status(tag, code, out)
                    }
                }
            }
            Err(e) => {
                kernel::warn!("vTPM {} (domain {}): bad request: {e:?}", caller.uuid, caller.domid);
                reject(request, &e, out).unwrap_or(0)
            }
        }
    }

    fn dispatch(
        &mut self,
        caller: &Caller,
        request: &Request<'_>,
        out: &mut [u8; MAX_MESSAGE],
    ) -> Result<usize, Refusal> {
        self.claim(caller)?;
        let answer = match request {
            Request::SaveHashKey(key) => self.save(caller, key)?,
            Request::LoadHashKey => self.load(caller)?,
            // No XSM label to measure (module docs).
            Request::GetBootHash => Answer::BootHash,
            Request::GetQuote(_) => return Err(Refusal::after(ReturnCode::DISABLED_CMD)),
            Request::GetRandom { bytes_requested } => {
                let len =
                    usize::try_from(*bytes_requested).unwrap_or(usize::MAX).min(MAX_RANDOM_BYTES);
                let mut bytes = alloc::vec![0u8; len];
                self.hardware.random(&mut bytes).map_err(hardware_refusal)?;
                Answer::Random(bytes)
            }
            Request::PcrRead { index } => {
                Answer::Pcr(self.hardware.pcr_read_sha1(*index).map_err(hardware_refusal)?)
            }
            // A vTPM never changes the platform's PCRs (module docs).
            Request::Extend { .. } => return Err(Refusal::before(ReturnCode::DISABLED_CMD)),
            Request::VtpmList { group, offset } => {
                self.require_admin(caller)?;
                self.list(*group, *offset)?
            }
            Request::VtpmNew { group, uuid } => {
                self.require_admin(caller)?;
                self.create(*group, *uuid)?
            }
            Request::VtpmDel { uuid } => {
                self.require_admin(caller)?;
                self.delete(*uuid)?
            }
        };
        let response = match &answer {
            Answer::Saved => Response::SaveHashKey,
            Answer::Key(key) => Response::LoadHashKey(key.clone()),
            Answer::BootHash => Response::GetBootHash([0; 20]),
            Answer::Random(bytes) => Response::GetRandom(bytes),
            Answer::Pcr(value) => Response::PcrRead(*value),
            Answer::List { total, uuids } => Response::VtpmList { total: *total, uuids },
            Answer::Created(uuid) => Response::VtpmNew(*uuid),
            Answer::Deleted => Response::VtpmDel,
        };
        response.encode(out).map_err(|_| Refusal::after(ReturnCode::SIZE))
    }

    /// Each uuid is open by one connection at a time (spec §3.5).
    fn claim(&mut self, caller: &Caller) -> Result<(), Refusal> {
        let me = (caller.domid, caller.handle);
        match self.owners.get(&caller.uuid.0) {
            Some(owner) if *owner != me => {
                kernel::warn!(
                    "vTPM {} is open by domain {}; refusing domain {}",
                    caller.uuid,
                    owner.0,
                    caller.domid
                );
                Err(Refusal::after(ReturnCode::DISABLED))
            }
            Some(_) => Ok(()),
            None => {
                self.owners.insert(caller.uuid.0, me);
                Ok(())
            }
        }
    }

    fn save(&mut self, caller: &Caller, key: &Hashkey) -> Result<Answer, Refusal> {
        let existing = self.store.get(&caller.uuid.0).map_err(store_refusal)?;
        let flags = match existing {
            Some(entry) => entry.flags,
            None if self.store.is_empty() => FLAG_ADMIN,
            None => 0,
        };
        self.store.save(&caller.uuid.0, key.as_bytes(), flags).map_err(store_refusal)?;
        Ok(Answer::Saved)
    }

    fn load(&mut self, caller: &Caller) -> Result<Answer, Refusal> {
        let entry = self.store.get(&caller.uuid.0).map_err(store_refusal)?;
        // No entry, or one created by VTPM_NEW and never saved: "no record", which the
        // vTPM reads as a first start (spec §3.2).
        let key = entry
            .and_then(|e| Hashkey::new(e.key.as_bytes()).ok())
            .ok_or(Refusal::after(ReturnCode::BAD_PARAMETER))?;
        Ok(Answer::Key(key))
    }

    fn require_admin(&mut self, caller: &Caller) -> Result<(), Refusal> {
        let entry = self.store.get(&caller.uuid.0).map_err(store_refusal)?;
        if entry.is_some_and(|e| e.flags & FLAG_ADMIN != 0) {
            Ok(())
        } else {
            kernel::warn!("vTPM {} is not the admin vTPM: management command refused", caller.uuid);
            Err(Refusal::before(ReturnCode::AUTHFAIL))
        }
    }

    fn list(&mut self, group: u32, offset: u32) -> Result<Answer, Refusal> {
        if group != GROUP {
            return Err(Refusal::after(ReturnCode::BADINDEX));
        }
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let total = u32::try_from(self.store.len()).unwrap_or(u32::MAX);
        let wanted = skip.saturating_add(MAX_VTPM_LIST_UUIDS);
        let uuids = self.store.list(None, wanted).map_err(store_refusal)?;
        Ok(Answer::List { total, uuids: uuids.into_iter().skip(skip).collect() })
    }

    fn create(&mut self, group: u32, uuid: Option<Uuid>) -> Result<Answer, Refusal> {
        if group != GROUP {
            return Err(Refusal::after(ReturnCode::BADINDEX));
        }
        let uuid = match uuid {
            Some(uuid) => uuid,
            None => {
                let mut bytes = [0u8; 16];
                self.hardware.random(&mut bytes).map_err(hardware_refusal)?;
                // A version 4 (random) UUID, RFC 9562 §5.4.
                bytes[6] = (bytes[6] & 0x0f) | 0x40;
                bytes[8] = (bytes[8] & 0x3f) | 0x80;
                Uuid(bytes)
            }
        };
        if self.store.get(&uuid.0).map_err(store_refusal)?.is_some() {
            return Err(Refusal::after(ReturnCode::BAD_PARAMETER));
        }
        self.store.save(&uuid.0, &[], 0).map_err(store_refusal)?;
        Ok(Answer::Created(uuid))
    }

    fn delete(&mut self, uuid: Uuid) -> Result<Answer, Refusal> {
        if self.owners.contains_key(&uuid.0) {
            return Err(Refusal::after(ReturnCode::DISABLED));
        }
        match self.store.delete(&uuid.0).map_err(store_refusal)? {
            true => Ok(Answer::Deleted),
            false => Err(Refusal::after(ReturnCode::BAD_PARAMETER)),
        }
    }
}

/// What a handler produced, before encoding.
enum Answer {
    Saved,
    Key(Hashkey),
    BootHash,
    Random(Vec<u8>),
    Pcr([u8; 20]),
    List { total: u32, uuids: Vec<[u8; 16]> },
    Created(Uuid),
    Deleted,
}

/// A refused request: its code, and whether it was refused before dispatch (which the
/// C manager answers under a different tag).
#[derive(Clone, Copy, Debug)]
struct Refusal {
    code: ReturnCode,
    before_dispatch: bool,
}

impl Refusal {
    fn before(code: ReturnCode) -> Self {
        Self { code, before_dispatch: true }
    }
    fn after(code: ReturnCode) -> Self {
        Self { code, before_dispatch: false }
    }
}

fn store_refusal(error: mgr_store::Error) -> Refusal {
    kernel::error!("key store: {error}");
    Refusal::after(ReturnCode::FAIL)
}

fn hardware_refusal(error: HardwareError) -> Refusal {
    Refusal::after(match error {
        HardwareError::Unsupported => ReturnCode::DISABLED_CMD,
        HardwareError::BadIndex => ReturnCode::BADINDEX,
        HardwareError::Failed => ReturnCode::IOERROR,
    })
}

fn status(tag: u16, code: ReturnCode, out: &mut [u8; MAX_MESSAGE]) -> usize {
    encode_status(tag, code, out).unwrap_or(0)
}

#[cfg(test)]
mod tests;
