//! Context management: TPM2_ContextSave and TPM2_ContextLoad (Part 3 §28.2,
//! §28.3), with the protection of Part 1 §30: the saved state is encrypted with
//! AES-256-CFB under KDFa(hierarchy proof, "CONTEXT", sequence, handle) and
//! authenticated with an HMAC keyed by the same proof over the reset/clear
//! counters it must not outlive, the sequence number, the handle and the
//! ciphertext.

use crate::Tpm2;
use crate::crypto::ct_eq;
use crate::crypto::hash::HmacState;
use crate::crypto::kdf::kdfa;
use crate::crypto::sym::{Aes, BLOCK, aes_crypt};
use crate::dispatch::Cmd;
use crate::object::{self, Hierarchy, Slot};
use crate::session::{self, SessionSlot};
use crate::types::{
    Context, HashAlg, Marshal, Rc, Reader, TpmResult, Writer, alg, get_2b, handle as h, limits,
    put_2b,
};
use alloc::boxed::Box;
use alloc::vec::Vec;
use zeroize::Zeroizing;

/// The hash protecting saved contexts (TPM_PT_CONTEXT_HASH).
pub const CONTEXT_HASH: HashAlg = HashAlg::Sha256;
/// The saved handle of a transient object.
const SAVED_OBJECT: u32 = 0x8000_0000;
/// The saved handle of a sequence object.
const SAVED_SEQUENCE: u32 = 0x8000_0001;
/// The saved handle of an stClear object.
const SAVED_ST_CLEAR: u32 = 0x8000_0002;

impl Tpm2 {
    /// The encryption key and IV of a context.
    fn context_key(&self, c: &Context) -> TpmResult<(Aes, [u8; BLOCK])> {
        let hierarchy = Hierarchy::from_handle(c.hierarchy).ok_or(Rc::VALUE)?;
        let material = kdfa(
            CONTEXT_HASH,
            self.proof(hierarchy),
            b"CONTEXT",
            &c.sequence.to_be_bytes(),
            &c.saved_handle.to_be_bytes(),
            256 + 128,
        );
        let aes = Aes::new(material.get(..32).ok_or(Rc::FAILURE)?)?;
        let mut iv = [0u8; BLOCK];
        iv.copy_from_slice(material.get(32..48).ok_or(Rc::FAILURE)?);
        Ok((aes, iv))
    }

    /// The integrity value of a context (`ComputeContextIntegrity`): object
    /// contexts die with a TPM Reset, stClear ones also with a Restart, session
    /// contexts with the null proof (a Reset).
    fn context_integrity(&self, c: &Context, encrypted: &[u8]) -> TpmResult<Vec<u8>> {
        let hierarchy = Hierarchy::from_handle(c.hierarchy).ok_or(Rc::VALUE)?;
        let mut m = HmacState::new(CONTEXT_HASH, self.proof(hierarchy));
        if h::kind(c.saved_handle) == h::HT_TRANSIENT {
            m.update(&self.p.reset_count.to_be_bytes());
        }
        if c.saved_handle == SAVED_ST_CLEAR {
            m.update(&self.v.clear_count.to_be_bytes());
        }
        m.update(&c.sequence.to_be_bytes()).update(&c.saved_handle.to_be_bytes()).update(encrypted);
        Ok(m.finish())
    }
}

/// TPM2_ContextSave.
pub(crate) fn context_save(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    let mut w = Writer::new();
    let (saved_handle, hierarchy) = match h::kind(handle) {
        h::HT_TRANSIENT => {
            let slot = crate::entity::transient_slot(handle)
                .and_then(|i| tpm.v.objects.get(i))
                .and_then(Option::as_ref)
                .ok_or(Rc::HANDLE.handle(1))?;
            match slot {
                Slot::Object(o) => {
                    object::put_object(&mut w, o);
                    let saved = if o.flags.st_clear { SAVED_ST_CLEAR } else { SAVED_OBJECT };
                    (saved, o.hierarchy)
                }
                Slot::Sequence(s) => {
                    object::put_sequence(&mut w, s);
                    (SAVED_SEQUENCE, Hierarchy::Null)
                }
            }
        }
        _ => {
            let s = tpm.session(handle).ok_or(Rc::HANDLE.handle(1))?;
            session::put_session(&mut w, s);
            (handle, Hierarchy::Null)
        }
    };
    tpm.clear_orderly();
    tpm.v.context_counter = tpm.v.context_counter.wrapping_add(1);
    let sequence = tpm.v.context_counter;
    let mut context =
        Context { sequence, saved_handle, hierarchy: hierarchy.handle(), blob: Vec::new() };
    let mut plain = Zeroizing::new(sequence.to_be_bytes().to_vec());
    plain.extend_from_slice(w.as_slice());
    let (aes, mut iv) = tpm.context_key(&context)?;
    aes_crypt(&aes, alg::CFB, &mut iv, false, &mut plain)?;
    let integrity = tpm.context_integrity(&context, &plain)?;
    let mut blob = Writer::new();
    put_2b(&mut blob, &integrity);
    blob.bytes(&plain);
    context.blob = blob.into_vec();
    if context.blob.len() > limits::MAX_CONTEXT_DATA {
        return Err(Rc::FAILURE);
    }
    if h::kind(handle) != h::HT_TRANSIENT {
        // The session leaves TPM memory; its slot remembers the sequence number.
        if let Some(slot) =
            crate::entity::session_slot(handle).and_then(|i| tpm.v.sessions.get_mut(i))
        {
            *slot = Some(SessionSlot::Saved { sequence });
        }
    }
    context.marshal(&mut cmd.out);
    Ok(())
}

/// TPM2_ContextLoad.
pub(crate) fn context_load(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let context: Context = cmd.params.get()?;
    cmd.params.end()?;
    let mut r = Reader::new(&context.blob);
    let integrity = get_2b(&mut r, limits::MAX_DIGEST).map_err(|rc| rc.param(1))?;
    if integrity.len() != CONTEXT_HASH.size() || r.remaining() < 8 {
        return Err(Rc::SIZE.param(1));
    }
    let encrypted = r.peek_rest();
    if !ct_eq(integrity, &tpm.context_integrity(&context, encrypted)?) {
        return Err(Rc::INTEGRITY.param(1));
    }
    let (aes, mut iv) = tpm.context_key(&context)?;
    let mut plain = Zeroizing::new(encrypted.to_vec());
    aes_crypt(&aes, alg::CFB, &mut iv, true, &mut plain)?;
    let mut r = Reader::new(&plain);
    if r.u64().ok() != Some(context.sequence) {
        return Err(Rc::INTEGRITY.param(1));
    }
    match h::kind(context.saved_handle) {
        h::HT_TRANSIENT => {
            let hierarchy = Hierarchy::from_handle(context.hierarchy).ok_or(Rc::VALUE.param(1))?;
            if !tpm.hierarchy_enabled(hierarchy) {
                return Err(Rc::HIERARCHY.param(1));
            }
            let slot = if context.saved_handle == SAVED_SEQUENCE {
                Slot::Sequence(Box::new(
                    object::get_sequence(&mut r).ok_or(Rc::INTEGRITY.param(1))?,
                ))
            } else {
                Slot::Object(Box::new(object::get_object(&mut r).ok_or(Rc::INTEGRITY.param(1))?))
            };
            if !r.is_empty() {
                return Err(Rc::INTEGRITY.param(1));
            }
            cmd.out_handle = Some(tpm.load_slot(slot)?);
        }
        _ => {
            let index =
                crate::entity::session_slot(context.saved_handle).ok_or(Rc::HANDLE.param(1))?;
            let valid = matches!(
                tpm.v.sessions.get(index),
                Some(Some(SessionSlot::Saved { sequence })) if *sequence == context.sequence
            );
            if !valid {
                return Err(Rc::HANDLE.param(1));
            }
            let s = session::get_session(&mut r).ok_or(Rc::INTEGRITY.param(1))?;
            if !r.is_empty()
                || s.is_policy() != (h::kind(context.saved_handle) == h::HT_POLICY_SESSION)
            {
                return Err(Rc::INTEGRITY.param(1));
            }
            let loaded =
                tpm.v.sessions.iter().filter(|x| matches!(x, Some(SessionSlot::Loaded(_)))).count();
            if loaded >= crate::state::MAX_LOADED_SESSIONS {
                return Err(Rc::SESSION_MEMORY);
            }
            tpm.clear_orderly();
            if let Some(slot) = tpm.v.sessions.get_mut(index) {
                *slot = Some(SessionSlot::Loaded(Box::new(s)));
            }
            cmd.out_handle = Some(context.saved_handle);
        }
    }
    Ok(())
}
