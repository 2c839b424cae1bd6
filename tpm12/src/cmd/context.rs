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
    let low = u8::try_from(entity_type & 0xFF).unwrap_or(0);
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

/// TPM_SaveContext (Part 3 §21.2).
pub(crate) fn save_context(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let handle = cmd.r.u32()?;
    let resource_type = cmd.r.u32()?;
    let label: [u8; LABEL_SIZE] = cmd.r.array()?;
    tpm.check(cmd, check::ALL)?;
    // Actions 2–6: the resource, its nonce and its internal data.
    let mut internal = Writer::new();
    let nonce = match resource_type {
        rt::KEY => {
            let k = tpm
                .vol
                .keys
                .iter()
                .find(|k| k.handle == handle)
                .ok_or(TpmError::InvalidResource)?;
            internal.u8(k.parent_pcr_status.into());
            k.key.write(&mut internal);
            if tpm.vol.context_nonce_key == [0; 20] {
                tpm.vol.context_nonce_key = tpm.nonce();
            }
            tpm.vol.context_nonce_key
        }
        rt::AUTH => {
            let s = tpm.session(handle).map_err(|_| TpmError::InvalidResource)?;
            s.write(&mut internal);
            if let SessionKind::Osap { entity_type, entity_value, .. } = s.kind {
                internal.bytes(&entity_digest(tpm, entity_type, entity_value)?);
            }
            if tpm.vol.context_nonce_session == [0; 20] {
                tpm.vol.context_nonce_session = tpm.nonce();
            }
            tpm.vol.context_nonce_session
        }
        _ => return Err(TpmError::InvalidResource),
    };
    let internal = Zeroizing::new(internal.into_vec());
    // Actions 9–10: sessions take the next contextCount and a contextList slot and
    // leave the TPM; keys stay loaded.
    let count = if resource_type == rt::AUTH {
        let next = tpm.vol.context_count.checked_add(1).filter(|c| *c != u32::MAX);
        let next = next.ok_or(TpmError::Toomanycontexts)?;
        if tpm.vol.context_list.len() >= MAX_CONTEXTS {
            return Err(TpmError::Nocontextspace);
        }
        tpm.vol.context_count = next;
        tpm.vol.context_list.push(next);
        tpm.vol.sessions.retain(|s| s.handle != handle);
        next
    } else {
        0
    };
    tpm.dirty.volatile = true;
    // Actions 7, 11–12: C1 = TPM_CONTEXT_SENSITIVE, encrypted, then authenticated.
    let mut c1 = Writer::with_capacity(internal.len() + 26);
    c1.u16(stag::CONTEXT_SENSITIVE).bytes(&nonce);
    write_sized(&mut c1, &internal);
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
    let mut w = Writer::new();
    write_sized(&mut w, &blob.to_bytes());
    Ok(Out::params(w.into_vec()))
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

/// TPM_LoadContext (Part 3 §21.3).
pub(crate) fn load_context(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let entity_handle = cmd.r.u32()?;
    let keep_handle = read_bool(&mut cmd.r)?;
    let _context_size = cmd.r.u32()?;
    let blob = ContextBlob::parse(&mut cmd.r)?;
    tpm.check(cmd, check::ALL)?;
    // Action 6 first (encrypt-then-MAC): nothing forged is decrypted.
    if !crypto::ct_eq(&blob.mac(tpm), &blob.integrity) {
        return Err(TpmError::Badcontext);
    }
    // Actions 3–4.
    let mut m1 = Zeroizing::new(blob.sensitive.clone());
    context_cipher(tpm, &blob.additional, &mut m1)?;
    let mut r = Reader::new(&m1);
    if r.u16().map_err(|_| TpmError::Badcontext)? != stag::CONTEXT_SENSITIVE {
        return Err(TpmError::Badcontext);
    }
    let nonce: Digest20 = r.array().map_err(|_| TpmError::Badcontext)?;
    let internal = r.sized_u32(MAX_FIELD).map_err(|_| TpmError::Badcontext)?;
    r.finish().map_err(|_| TpmError::Badcontext)?;
    let mut ir = Reader::new(internal);
    let handle = match blob.resource_type {
        rt::KEY => {
            let parent_pcr_status = read_bool(&mut ir).map_err(|_| TpmError::Badcontext)?;
            let key = TpmKey::read(&mut ir).map_err(|_| TpmError::Badcontext)?;
            ir.finish().map_err(|_| TpmError::Badcontext)?;
            // Action 5.b: volatile keys and keys under PCR-bound parents do not
            // outlive TPM_Startup(ST_CLEAR).
            let bound = parent_pcr_status || key.public.flags & kf::IS_VOLATILE != 0;
            if bound && !crypto::ct_eq(&nonce, &tpm.vol.context_nonce_key) {
                return Err(TpmError::Badcontext);
            }
            if tpm.vol.keys.len() >= MAX_KEYS {
                return Err(TpmError::Nospace);
            }
            let handle = reload_handle(tpm, blob.handle, keep_handle, true)?;
            tpm.vol.keys.push(LoadedKey { handle, key, parent_pcr_status });
            handle
        }
        rt::AUTH => {
            let mut session = Session::read(&mut ir).map_err(|_| TpmError::Badcontext)?;
            let bound_digest: Option<Digest20> = match session.kind {
                SessionKind::Osap { .. } => Some(ir.array().map_err(|_| TpmError::Badcontext)?),
                SessionKind::Oiap => None,
            };
            ir.finish().map_err(|_| TpmError::Badcontext)?;
            // Action 5.a.i.
            if !crypto::ct_eq(&nonce, &tpm.vol.context_nonce_session) {
                return Err(TpmError::Badcontext);
            }
            // Action 5.a.ii: the entity must still be there; a key is found by
            // entityHandle, as it may have been reloaded under another handle.
            if let (SessionKind::Osap { entity_type, entity_value, .. }, Some(expected)) =
                (&mut session.kind, bound_digest)
            {
                let low = u8::try_from(*entity_type & 0xFF).unwrap_or(0);
                if low == et::KEYHANDLE {
                    if entity_handle == kh::SRK {
                        tpm.perm.srk.as_ref().ok_or(TpmError::Nosrk)?;
                    } else {
                        tpm.key(entity_handle).map_err(|_| TpmError::BadHandle)?;
                    }
                }
                if matches!(low, et::KEYHANDLE | et::COUNTER | et::NV) {
                    *entity_value = entity_handle;
                }
                let now = entity_digest(tpm, *entity_type, *entity_value)?;
                if !crypto::ct_eq(&now, &expected) {
                    return Err(TpmError::Resourcemissing);
                }
            }
            // Action 9: the count must still be listed; loading removes it.
            let pos = tpm
                .vol
                .context_list
                .iter()
                .position(|c| *c == blob.count)
                .ok_or(TpmError::Badcontext)?;
            if tpm.vol.sessions.len() >= MAX_SESSIONS {
                return Err(TpmError::Resources);
            }
            let handle = reload_handle(tpm, blob.handle, keep_handle, false)?;
            tpm.vol.context_list.remove(pos);
            session.handle = handle;
            tpm.vol.sessions.push(session);
            handle
        }
        _ => return Err(TpmError::InvalidResource),
    };
    tpm.dirty.volatile = true;
    Ok(Out { handles: handle.to_be_bytes().to_vec(), params: Vec::new() })
}
