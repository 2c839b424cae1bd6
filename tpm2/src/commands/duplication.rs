//! Credentials and duplication: TPM2_MakeCredential, TPM2_ActivateCredential
//! (Part 3 §12.5, §12.6), TPM2_Duplicate and TPM2_Import (§13.1, §13.3).

use crate::commands::object::public_attributes_validation;
use crate::commands::session::{secret_decrypt, secret_encrypt};
use crate::dispatch::Cmd;
use crate::object::{self, Flags, Object};
use crate::protect::{self, Protector};
use crate::types::{
    Public, PublicKind, Rc, SymDef, TpmResult, handle as h, limits, object_attr as oa, put_2b,
};
use crate::{Secret, Tpm2};
use alloc::vec::Vec;

/// A key that can receive a credential or a duplicated object: an asymmetric,
/// restricted decryption key.
fn is_storage_public(o: &Object) -> bool {
    o.has(oa::RESTRICTED | oa::DECRYPT)
        && matches!(o.public.kind, PublicKind::Rsa { .. } | PublicKind::Ecc { .. })
}

/// TPM2_MakeCredential (any TPM can do it with the public part of the key).
pub(crate) fn make_credential(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let credential = cmd.params.b2(limits::MAX_DIGEST)?;
    let object_name = cmd.params.b2(limits::MAX_NAME)?;
    cmd.params.end()?;
    let key = tpm.object(cmd.handle(0)?).ok_or(Rc::HANDLE.handle(1))?.clone();
    if !is_storage_public(&key) {
        return Err(Rc::TYPE.handle(1));
    }
    let name_alg = key.public.name_alg.ok_or(Rc::TYPE.handle(1))?;
    if credential.len() > name_alg.size() {
        return Err(Rc::SIZE.param(1));
    }
    let (seed, secret) = secret_encrypt(&key, b"IDENTITY", &mut tpm.drbg)?;
    let protector = Protector { sym: key.public.kind.symmetric(), hash: name_alg, seed: &seed };
    let blob = protect::secret_to_credential(&credential, &object_name, &protector)?;
    put_2b(&mut cmd.out, &blob);
    put_2b(&mut cmd.out, &secret);
    Ok(())
}

/// TPM2_ActivateCredential.
pub(crate) fn activate_credential(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let blob = cmd.params.b2(limits::MAX_ID_OBJECT)?;
    let secret = cmd.params.b2(limits::MAX_ENCRYPTED_SECRET)?;
    cmd.params.end()?;
    let (activate, key_handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let key = tpm.object(key_handle).ok_or(Rc::HANDLE.handle(2))?.clone();
    if !key.has(oa::DECRYPT) || key.public_only() {
        return Err(Rc::TYPE.handle(2));
    }
    let name = tpm.entity_name(activate);
    let seed = secret_decrypt(&key, b"IDENTITY", &secret, &mut tpm.drbg)
        .map_err(|_| Rc::VALUE.param(2))?;
    let name_alg = key.public.name_alg.ok_or(Rc::TYPE.handle(2))?;
    let protector = Protector { sym: key.public.kind.symmetric(), hash: name_alg, seed: &seed };
    let cert = protect::credential_to_secret(&blob, &name, &protector).map_err(|rc| rc.param(1))?;
    put_2b(&mut cmd.out, &cert);
    Ok(())
}

/// Reads a `TPMT_SYM_DEF_OBJECT+` and its key size in bytes (0 for NULL).
fn sym_bytes(sym: &SymDef) -> usize {
    match sym {
        SymDef::Aes { bits, .. } => usize::from(*bits / 8),
        _ => 0,
    }
}

/// TPM2_Duplicate.
pub(crate) fn duplicate(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let key_in = cmd.params.b2(limits::MAX_SYM_KEY)?;
    let sym = cmd.params.next(|r| SymDef::unmarshal_def(r, true, true))?;
    cmd.params.end()?;
    let (object_handle, parent_handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let o = tpm.object(object_handle).ok_or(Rc::HANDLE.handle(1))?.clone();
    if o.has(oa::FIXED_PARENT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let name_alg = o.public.name_alg.ok_or(Rc::TYPE.handle(1))?;
    if o.has(oa::ENCRYPTED_DUPLICATION) {
        if sym.is_null() {
            return Err(Rc::SYMMETRIC.param(2));
        }
        if parent_handle == h::NULL {
            return Err(Rc::HIERARCHY.handle(2));
        }
    }
    if sym.is_null() && !key_in.is_empty() {
        return Err(Rc::SIZE.param(1));
    }
    if !key_in.is_empty() && key_in.len() != sym_bytes(&sym) {
        return Err(Rc::SIZE.param(1));
    }
    let sensitive = o.sensitive.clone().ok_or(Rc::TYPE.handle(1))?;
    // The inner wrap key: the caller's, or a random one returned to the caller.
    let (inner_key, key_out) = if sym.is_null() {
        (None, Vec::new())
    } else if key_in.is_empty() {
        let k = tpm.random(sym_bytes(&sym));
        (Some(Secret::new(k.clone())), k)
    } else {
        (Some(Secret::new(key_in)), Vec::new())
    };
    let (blob, seed_out) = if parent_handle == h::NULL {
        (
            protect::sensitive_to_duplicate(
                &sensitive,
                &o.name,
                name_alg,
                None,
                inner_key.as_ref().map(|k| &k[..]),
            )?,
            Vec::new(),
        )
    } else {
        let parent = tpm.object(parent_handle).ok_or(Rc::HANDLE.handle(2))?.clone();
        if !is_storage_public(&parent) {
            return Err(Rc::TYPE.handle(2));
        }
        let (seed, enc) = secret_encrypt(&parent, b"DUPLICATE", &mut tpm.drbg)?;
        let parent_alg = parent.public.name_alg.ok_or(Rc::TYPE.handle(2))?;
        let protector =
            Protector { sym: parent.public.kind.symmetric(), hash: parent_alg, seed: &seed };
        let blob = protect::sensitive_to_duplicate(
            &sensitive,
            &o.name,
            name_alg,
            Some(&protector),
            inner_key.as_ref().map(|k| &k[..]),
        )?;
        (blob, enc)
    };
    put_2b(&mut cmd.out, &key_out);
    put_2b(&mut cmd.out, &blob);
    put_2b(&mut cmd.out, &seed_out);
    Ok(())
}

/// TPM2_Import.
pub(crate) fn import(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let key = cmd.params.b2(limits::MAX_SYM_KEY)?;
    let public = cmd.params.next(|r| Public::unmarshal_2b(r, false))?;
    let dup = cmd.params.b2(limits::MAX_PRIVATE)?;
    let seed_in = cmd.params.b2(limits::MAX_ENCRYPTED_SECRET)?;
    let sym = cmd.params.next(|r| SymDef::unmarshal_def(r, true, true))?;
    cmd.params.end()?;
    let parent = tpm.object(cmd.handle(0)?).ok_or(Rc::HANDLE.handle(1))?.clone();
    if !parent.is_storage_key() {
        return Err(Rc::TYPE.handle(1));
    }
    if public.has(oa::FIXED_TPM) || public.has(oa::FIXED_PARENT) {
        return Err(Rc::ATTRIBUTES.param(2));
    }
    if public.has(oa::ENCRYPTED_DUPLICATION) && (sym.is_null() || seed_in.is_empty()) {
        return Err(Rc::ATTRIBUTES.param(if sym.is_null() { 5 } else { 4 }));
    }
    if sym.is_null() != key.is_empty() || (!key.is_empty() && key.len() != sym_bytes(&sym)) {
        return Err(Rc::SIZE.param(1));
    }
    let name_alg = public.name_alg.ok_or(Rc::HASH.param(2))?;
    let name = object::public_name(&public);
    let seed = if seed_in.is_empty() {
        None
    } else {
        Some(
            secret_decrypt(&parent, b"DUPLICATE", &seed_in, &mut tpm.drbg)
                .map_err(|_| Rc::VALUE.param(4))?,
        )
    };
    let parent_alg = parent.public.name_alg.ok_or(Rc::TYPE.handle(1))?;
    let protector = seed.as_ref().map(|s| Protector {
        sym: parent.public.kind.symmetric(),
        hash: parent_alg,
        seed: s,
    });
    let inner = if key.is_empty() { None } else { Some(&key[..]) };
    let sensitive =
        protect::duplicate_to_sensitive(&dup, &name, name_alg, protector.as_ref(), inner)
            .map_err(|rc| rc.param(3))?;
    if sensitive.sensitive_type != public.kind.type_alg() {
        return Err(Rc::TYPE.param(3));
    }
    if parent.has(oa::FIXED_TPM) {
        public_attributes_validation(Some(&parent), &public).map_err(|rc| rc.param(2))?;
    }
    // The keys must match (CryptValidateKeys).
    Object::new(
        public.clone(),
        Some(sensitive.clone()),
        &parent.qualified_name,
        parent.hierarchy,
        Flags::default(),
    )
    .map_err(|rc| rc.param(3))?;
    let private =
        protect::sensitive_to_private(&sensitive, &name, name_alg, &parent, &mut tpm.drbg)?;
    put_2b(&mut cmd.out, &private);
    Ok(())
}
