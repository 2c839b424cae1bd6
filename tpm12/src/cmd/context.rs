//! Context management: TPM_SaveContext and TPM_LoadContext for keys and
//! authorization sessions (Part 3 §21.2, §21.3; Part 1 §17).
//!
//! A saved context is a TPM_CONTEXT_BLOB (Part 2 §18.1). Its layout is the
//! specification's; what goes inside is this TPM's choice (Part 1 §17.1):
//!
//! - `additionalData` is the 16-byte counter block of AES-128-CTR;
//! - `sensitiveData` is TPM_CONTEXT_SENSITIVE (tag, contextNonce, internalData)
//!   encrypted under TPM_PERMANENT_DATA.contextKey with that counter block;
//! - `integrityDigest` is HMAC-SHA1 keyed by tpmProof over the whole blob with the
//!   digest field zeroed, computed over the ciphertext (encrypt-then-MAC: a forged
//!   blob is refused before anything is decrypted or parsed).
//!
//! Replay rules: a key context carries contextNonceKey, which every
//! TPM_Startup(ST_CLEAR) replaces, but only keys that are volatile or whose parent
//! is PCR-bound are held to it (action 5.b); a session context carries
//! contextNonceSession, which only lives until the next _TPM_Init, and a
//! contextCount that must still be in contextList, which the load removes: each
//! session context loads at most once. TPM_OwnerClear changes tpmProof and the
//! context key, so no earlier context survives an owner change.

use aes::Aes128;
use alloc::vec::Vec;
use ctr::cipher::{KeyIvInit, StreamCipher};
use tpm_engine::wire::{Reader, Writer};
use zeroize::Zeroizing;

use crate::consts::{et, kf, kh, rt, stag};
use crate::crypto::{self, Digest20};
use crate::engine::{Cmd, MAX_CONTEXTS, MAX_KEYS, MAX_SESSIONS, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::state::{LoadedKey, Session, SessionKind, TpmKey};
use crate::structs::{MAX_FIELD, read_bool, write_sized};

/// TPM_CONTEXT_BLOB.label size.
const LABEL_SIZE: usize = 16;
/// Size of the AES-CTR counter block kept in additionalData.
const IV_SIZE: usize = 16;
/// Offset of integrityDigest in the blob: tag, resourceType, handle, label, count.
const DIGEST_OFFSET: usize = 2 + 4 + 4 + LABEL_SIZE + 4;

/// A parsed TPM_CONTEXT_BLOB.
struct ContextBlob {
    resource_type: u32,
    handle: u32,
    label: [u8; LABEL_SIZE],
    count: u32,
    integrity: Digest20,
    additional: Vec<u8>,
    sensitive: Vec<u8>,
}

impl ContextBlob {
    fn parse(r: &mut Reader<'_>) -> TpmResult<Self> {
        if r.u16()? != stag::CONTEXTBLOB {
            return Err(TpmError::InvalidStructure);
        }
        Ok(Self {
            resource_type: r.u32()?,
            handle: r.u32()?,
            label: r.array()?,
            count: r.u32()?,
            integrity: r.array()?,
            additional: r.sized_u32(MAX_FIELD)?.to_vec(),
            sensitive: r.sized_u32(MAX_FIELD)?.to_vec(),
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(stag::CONTEXTBLOB).u32(self.resource_type).u32(self.handle).bytes(&self.label);
        w.u32(self.count).bytes(&self.integrity);
        write_sized(&mut w, &self.additional);
        write_sized(&mut w, &self.sensitive);
        w.into_vec()
    }

    /// HMAC-SHA1(tpmProof, blob with integrityDigest zeroed) (Part 3 §21.2 action 11).
    fn mac(&self, tpm: &Tpm12) -> Digest20 {
        let mut bytes = self.to_bytes();
        if let Some(d) = bytes.get_mut(DIGEST_OFFSET..DIGEST_OFFSET + 20) {
            d.fill(0);
        }
        crypto::hmac_sha1(&tpm.perm.tpm_proof[..], &[&bytes])
    }
}

/// AES-128-CTR under the context key (encrypts and decrypts).
fn context_cipher(tpm: &Tpm12, iv: &[u8], data: &mut [u8]) -> TpmResult<()> {
    let mut cipher = ctr::Ctr128BE::<Aes128>::new_from_slices(&tpm.perm.context_key[..], iv)
        .map_err(|_| TpmError::Badcontext)?;
    cipher.apply_keystream(data);
    Ok(())
}

/// A digest naming the entity an OSAP session is bound to, so a reloaded session is
/// only accepted while the same entity is present (Part 3 §21.3 action 5.a.ii).
fn entity_digest(tpm: &Tpm12, entity_type: u16, entity_value: u32) -> TpmResult<Digest20> {
    let low = entity_type.to_be_bytes()[1];
    match low {
        et::KEYHANDLE | et::SRK => {
            let handle = if low == et::SRK { kh::SRK } else { entity_value };
            let key = tpm.key(handle).map_err(|_| TpmError::Resourcemissing)?;
            Ok(key.public.pub_data_digest())
        }
        et::OWNER => {
            let owner = tpm.perm.owner_auth.as_ref().ok_or(TpmError::Resourcemissing)?;
            Ok(crypto::sha1(&[b"owner", &owner[..]]))
        }
        et::COUNTER => {
            let c = tpm
                .perm
                .counters
                .iter()
                .find(|c| c.id == entity_value)
                .ok_or(TpmError::Resourcemissing)?;
            Ok(crypto::sha1(&[b"counter", &c.id.to_be_bytes(), &c.label, &c.auth[..]]))
        }
        et::NV => {
            let n = tpm
                .perm
                .nv
                .iter()
                .find(|n| n.public.index == entity_value)
                .ok_or(TpmError::Resourcemissing)?;
            Ok(crypto::sha1(&[b"nv", &n.public.index.to_be_bytes(), &n.auth[..]]))
        }
        _ => Err(TpmError::WrongEntitytype),
    }
}

/// Saves the loaded key at `handle` (which stays loaded) into a context blob;
/// `missing` is the error for a handle that names no loaded key.
fn save_key(
    tpm: &mut Tpm12,
    handle: u32,
    label: [u8; LABEL_SIZE],
    missing: TpmError,
) -> TpmResult<Vec<u8>> {
    let k = tpm.vol.keys.iter().find(|k| k.handle == handle).ok_or(missing)?;
    let mut internal = Writer::new();
    internal.u8(k.parent_pcr_status.into());
    k.key.write(&mut internal);
    let internal = Zeroizing::new(internal.into_vec());
    if tpm.vol.context_nonce_key == [0; 20] {
        tpm.vol.context_nonce_key = tpm.nonce();
    }
    let nonce = tpm.vol.context_nonce_key;
    seal(tpm, rt::KEY, handle, label, 0, &nonce, &internal)
}

/// Saves the session at `handle` into a context blob; the session leaves the TPM and
/// its contextCount joins contextList (Part 3 §21.2 actions 10.a–c).
fn save_session(
    tpm: &mut Tpm12,
    handle: u32,
    label: [u8; LABEL_SIZE],
    missing: TpmError,
) -> TpmResult<Vec<u8>> {
    let s = tpm.session(handle).map_err(|_| missing)?;
    let mut internal = Writer::new();
    s.write(&mut internal);
    if let SessionKind::Osap { entity_type, entity_value, .. } = s.kind {
        internal.bytes(&entity_digest(tpm, entity_type, entity_value)?);
    }
    let internal = Zeroizing::new(internal.into_vec());
    let count = tpm.vol.context_count.checked_add(1).filter(|c| *c != u32::MAX);
    let count = count.ok_or(TpmError::Toomanycontexts)?;
    if tpm.vol.context_list.len() >= MAX_CONTEXTS {
        return Err(TpmError::Nocontextspace);
    }
    if tpm.vol.context_nonce_session == [0; 20] {
        tpm.vol.context_nonce_session = tpm.nonce();
    }
    let nonce = tpm.vol.context_nonce_session;
    tpm.vol.context_count = count;
    tpm.vol.context_list.push(count);
    tpm.vol.sessions.retain(|s| s.handle != handle);
    seal(tpm, rt::AUTH, handle, label, count, &nonce, &internal)
}

/// Builds the TPM_CONTEXT_BLOB: C1 = TPM_CONTEXT_SENSITIVE, encrypted, then the
/// whole blob authenticated (Part 3 §21.2 actions 7–8, 11–12).
fn seal(
    tpm: &mut Tpm12,
    resource_type: u32,
    handle: u32,
    label: [u8; LABEL_SIZE],
    count: u32,
    nonce: &Digest20,
    internal: &[u8],
) -> TpmResult<Vec<u8>> {
    tpm.dirty.volatile = true;
    let mut c1 = Writer::with_capacity(internal.len() + 26);
    c1.u16(stag::CONTEXT_SENSITIVE).bytes(nonce);
    write_sized(&mut c1, internal);
    let mut sensitive = Zeroizing::new(c1.into_vec());
    let mut iv = [0u8; IV_SIZE];
    tpm.drbg.fill(&mut iv);
    context_cipher(tpm, &iv, &mut sensitive)?;
    let mut blob = ContextBlob {
        resource_type,
        handle,
        label,
        count,
        integrity: [0; 20],
        additional: iv.to_vec(),
        sensitive: sensitive.to_vec(),
    };
    blob.integrity = blob.mac(tpm);
    Ok(blob.to_bytes())
}

/// Authenticates a context blob (before anything is decrypted: encrypt-then-MAC),
/// decrypts it and returns its contextNonce and internal data.
fn open(tpm: &Tpm12, blob: &ContextBlob) -> TpmResult<(Digest20, Zeroizing<Vec<u8>>)> {
    if !crypto::ct_eq(&blob.mac(tpm), &blob.integrity) {
        return Err(TpmError::Badcontext);
    }
    let mut m1 = Zeroizing::new(blob.sensitive.clone());
    context_cipher(tpm, &blob.additional, &mut m1)?;
    let mut r = Reader::new(&m1);
    if r.u16().map_err(|_| TpmError::Badcontext)? != stag::CONTEXT_SENSITIVE {
        return Err(TpmError::Badcontext);
    }
    let nonce: Digest20 = r.array().map_err(|_| TpmError::Badcontext)?;
    let internal = r.sized_u32(MAX_FIELD).map_err(|_| TpmError::Badcontext)?;
    r.finish().map_err(|_| TpmError::Badcontext)?;
    Ok((nonce, Zeroizing::new(internal.to_vec())))
}

/// Reloads a saved key. Only keys that are volatile or sit under a PCR-bound parent
/// are held to contextNonceKey (Part 3 §21.3 action 5.b) unless `always_bound`
/// (TPM_LoadKeyContext: every key context dies at TPM_Startup(ST_CLEAR)).
fn restore_key(
    tpm: &mut Tpm12,
    blob: &ContextBlob,
    nonce: &Digest20,
    internal: &[u8],
    keep_handle: bool,
    always_bound: bool,
) -> TpmResult<u32> {
    let mut ir = Reader::new(internal);
    let parent_pcr_status = read_bool(&mut ir).map_err(|_| TpmError::Badcontext)?;
    let key = TpmKey::read(&mut ir).map_err(|_| TpmError::Badcontext)?;
    ir.finish().map_err(|_| TpmError::Badcontext)?;
    let bound = always_bound || parent_pcr_status || key.public.flags & kf::IS_VOLATILE != 0;
    if bound && !crypto::ct_eq(nonce, &tpm.vol.context_nonce_key) {
        return Err(TpmError::Badcontext);
    }
    if tpm.vol.keys.len() >= MAX_KEYS {
        return Err(TpmError::Nospace);
    }
    let handle = reload_handle(tpm, blob.handle, keep_handle, true)?;
    tpm.vol.keys.push(LoadedKey { handle, key, parent_pcr_status });
    tpm.dirty.volatile = true;
    Ok(handle)
}

/// How a reloaded OSAP session bound to a key finds its key.
#[derive(Clone, Copy)]
enum KeyEntity {
    /// At this handle (TPM_LoadContext's entityHandle).
    Handle(u32),
    /// Whichever loaded key (or the SRK) has the saved digest (TPM_LoadAuthContext,
    /// which names no entity).
    ByDigest,
}

/// Reloads a saved session: it must come from this power cycle
/// (contextNonceSession), still be listed in contextList (each loads once), and an
/// OSAP session's entity must still be the one it was bound to (Part 3 §21.3
/// actions 5.a, 9).
fn restore_session(
    tpm: &mut Tpm12,
    blob: &ContextBlob,
    nonce: &Digest20,
    internal: &[u8],
    keep_handle: bool,
    key_entity: KeyEntity,
) -> TpmResult<u32> {
    let mut ir = Reader::new(internal);
    let mut session = Session::read(&mut ir).map_err(|_| TpmError::Badcontext)?;
    let bound_digest: Option<Digest20> = match session.kind {
        SessionKind::Osap { .. } => Some(ir.array().map_err(|_| TpmError::Badcontext)?),
        SessionKind::Oiap => None,
    };
    ir.finish().map_err(|_| TpmError::Badcontext)?;
    if !crypto::ct_eq(nonce, &tpm.vol.context_nonce_session) {
        return Err(TpmError::Badcontext);
    }
    if let (SessionKind::Osap { entity_type, entity_value, .. }, Some(expected)) =
        (&mut session.kind, bound_digest)
    {
        let low = entity_type.to_be_bytes()[1];
        match (low, key_entity) {
            (et::KEYHANDLE, KeyEntity::Handle(h)) => {
                if h == kh::SRK {
                    tpm.perm.srk.as_ref().ok_or(TpmError::Nosrk)?;
                } else {
                    tpm.key(h).map_err(|_| TpmError::BadHandle)?;
                }
                *entity_value = h;
            }
            (et::KEYHANDLE, KeyEntity::ByDigest) => {
                let found = tpm
                    .vol
                    .keys
                    .iter()
                    .find(|k| crypto::ct_eq(&k.key.public.pub_data_digest(), &expected))
                    .map(|k| k.handle)
                    .or_else(|| {
                        tpm.perm
                            .srk
                            .as_ref()
                            .filter(|k| crypto::ct_eq(&k.public.pub_data_digest(), &expected))
                            .map(|_| kh::SRK)
                    });
                *entity_value = found.ok_or(TpmError::Resourcemissing)?;
            }
            (et::COUNTER | et::NV, KeyEntity::Handle(h)) => *entity_value = h,
            _ => {}
        }
        let now = entity_digest(tpm, *entity_type, *entity_value)?;
        if !crypto::ct_eq(&now, &expected) {
            return Err(TpmError::Resourcemissing);
        }
    }
    let pos =
        tpm.vol.context_list.iter().position(|c| *c == blob.count).ok_or(TpmError::Badcontext)?;
    if tpm.vol.sessions.len() >= MAX_SESSIONS {
        return Err(TpmError::Resources);
    }
    let handle = reload_handle(tpm, blob.handle, keep_handle, false)?;
    tpm.vol.context_list.remove(pos);
    session.handle = handle;
    tpm.vol.sessions.push(session);
    tpm.dirty.volatile = true;
    Ok(handle)
}

/// A handle for a reloaded resource (libtpms TPM_Handle_GenerateHandle): with
/// keepHandle the saved one or TPM_BAD_HANDLE; otherwise the saved one if free, else
/// a fresh one.
fn reload_handle(tpm: &mut Tpm12, saved: u32, keep: bool, is_key: bool) -> TpmResult<u32> {
    let reserved = is_key && saved & 0xFF00_0000 == 0x4000_0000;
    let in_use = if is_key {
        tpm.vol.keys.iter().any(|k| k.handle == saved)
    } else {
        tpm.vol.sessions.iter().any(|s| s.handle == saved)
    };
    if saved != 0 && !reserved && !in_use {
        return Ok(saved);
    }
    if keep {
        return Err(TpmError::BadHandle);
    }
    Ok(tpm.new_handle())
}

fn sized_out(blob: &[u8]) -> Out {
    let mut w = Writer::with_capacity(blob.len() + 4);
    write_sized(&mut w, blob);
    Out::params(w.into_vec())
}

/// TPM_SaveContext (Part 3 §21.2): keys stay loaded, sessions leave the TPM.
pub(crate) fn save_context(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let handle = cmd.r.u32()?;
    let resource_type = cmd.r.u32()?;
    let label: [u8; LABEL_SIZE] = cmd.r.array()?;
    tpm.check(cmd, check::ALL)?;
    let blob = match resource_type {
        rt::KEY => save_key(tpm, handle, label, TpmError::InvalidResource)?,
        rt::AUTH => save_session(tpm, handle, label, TpmError::InvalidResource)?,
        _ => return Err(TpmError::InvalidResource),
    };
    Ok(sized_out(&blob))
}

/// TPM_LoadContext (Part 3 §21.3).
pub(crate) fn load_context(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let entity_handle = cmd.r.u32()?;
    let keep_handle = read_bool(&mut cmd.r)?;
    let _context_size = cmd.r.u32()?;
    let blob = ContextBlob::parse(&mut cmd.r)?;
    tpm.check(cmd, check::ALL)?;
    let (nonce, internal) = open(tpm, &blob)?;
    let handle = match blob.resource_type {
        rt::KEY => restore_key(tpm, &blob, &nonce, &internal, keep_handle, false)?,
        rt::AUTH => {
            let entity = KeyEntity::Handle(entity_handle);
            restore_session(tpm, &blob, &nonce, &internal, keep_handle, entity)?
        }
        _ => return Err(TpmError::InvalidResource),
    };
    Ok(Out { handles: handle.to_be_bytes().to_vec(), params: Vec::new() })
}

/// TPM_SaveKeyContext (Part 3 §27.2.1, deprecated): the key context of this power
/// cycle; the key leaves the TPM (with the OSAP sessions bound to it, so a later key
/// at the same handle cannot inherit them).
pub(crate) fn save_key_context(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let handle = cmd.r.u32()?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    let blob = save_key(tpm, handle, [0; LABEL_SIZE], TpmError::InvalidKeyhandle)?;
    tpm.flush_key(handle)?;
    Ok(sized_out(&blob))
}

/// TPM_LoadKeyContext (Part 3 §27.2.2, deprecated): only in the power cycle
/// (contextNonceKey) that saved it.
pub(crate) fn load_key_context(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let _context_size = cmd.r.u32()?;
    let blob = ContextBlob::parse(&mut cmd.r)?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    if blob.resource_type != rt::KEY {
        return Err(TpmError::BadParameter);
    }
    let (nonce, internal) = open(tpm, &blob)?;
    let handle = restore_key(tpm, &blob, &nonce, &internal, false, true)?;
    Ok(Out { handles: handle.to_be_bytes().to_vec(), params: Vec::new() })
}

/// TPM_SaveAuthContext (Part 3 §27.2.3, deprecated).
pub(crate) fn save_auth_context(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let handle = cmd.r.u32()?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    let blob = save_session(tpm, handle, [0; LABEL_SIZE], TpmError::InvalidAuthhandle)?;
    Ok(sized_out(&blob))
}

/// TPM_LoadAuthContext (Part 3 §27.2.4, deprecated): an OSAP session bound to a key
/// finds the key by its digest.
pub(crate) fn load_auth_context(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let _context_size = cmd.r.u32()?;
    let blob = ContextBlob::parse(&mut cmd.r)?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    if blob.resource_type != rt::AUTH {
        return Err(TpmError::BadParameter);
    }
    let (nonce, internal) = open(tpm, &blob)?;
    let handle = restore_session(tpm, &blob, &nonce, &internal, false, KeyEntity::ByDigest)?;
    Ok(Out { handles: handle.to_be_bytes().to_vec(), params: Vec::new() })
}
