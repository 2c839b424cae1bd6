//! Keys and protected storage: CreateWrapKey, LoadKey(2), GetPubKey, Seal, Unseal,
//! UnBind, Sign (Part 3 §10, §11, §13.?).

use alloc::vec::Vec;
use tpm_engine::wire::{Reader, Writer};

use crate::consts::{auth_usage, es, et, kf, kh, ku, pt, ss};
use crate::crypto::{self, Digest20, RsaKeyPair};
use crate::engine::{Cmd, MAX_KEYS, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::state::{LoadedKey, Secret, TpmKey, pcr_info_locality_ok, secret};
use crate::structs::{
    Key, MAX_FIELD, PcrInfo, PcrInfoForm, STRUCT_VER_11, StoreAsymKey, StoredData,
    check_key_schemes, read_digest, write_sized,
};

/// Generates a key as `template` describes, wrapped for nothing yet: encData holds
/// nothing until [`wrap`] (the SRK keeps none).
pub(crate) fn generate_key(
    tpm: &mut Tpm12,
    template: &Key,
    usage_auth: Secret,
    migration_auth: Secret,
    locality: u8,
) -> TpmResult<TpmKey> {
    let parms = template.parms.rsa_parms()?;
    let bits = usize::try_from(parms.key_bits).map_err(|_| TpmError::BadKeyProperty)?;
    if !matches!(bits, 1024 | 2048) || parms.num_primes != 2 {
        return Err(TpmError::BadKeyProperty);
    }
    let pair = RsaKeyPair::generate(&mut tpm.drbg, bits, parms.exponent)?;
    let mut public = template.clone();
    public.pub_key = pair.modulus().to_vec();
    public.enc_data = Vec::new();
    // PCR info: digestAtCreation and localityAtCreation record the present
    // (Part 3 §10.4 action 14).
    if let Some(mut info) = template.pcr_info()? {
        info.digest_at_creation = super::pcr::composite_hash(tpm, &info.creation_selection);
        info.locality_at_creation = 1 << locality;
        public.pcr_info = info.to_bytes();
    }
    Ok(TpmKey { public, usage_auth, migration_auth, pair })
}

/// Encrypts the key's TPM_STORE_ASYMKEY under `parent` into encData.
fn wrap(tpm: &mut Tpm12, parent: &TpmKey, key: &mut TpmKey) -> TpmResult<()> {
    let plain = zeroize::Zeroizing::new(key.store_asymkey(pt::ASYM).to_bytes());
    let parent_exp = parent.pair.exponent();
    key.public.enc_data =
        crypto::encrypt_oaep(&mut tpm.drbg, parent.pair.modulus(), parent_exp, &plain)?;
    Ok(())
}

impl Tpm12 {
    /// Authorizes use of the key at `handle` with authorization `index`, or
    /// without one if the key never needs authorization (Part 3 §5.9).
    pub(crate) fn key_auth(
        &mut self,
        cmd: &mut Cmd<'_>,
        index: usize,
        handle: u32,
        digest: &Digest20,
    ) -> TpmResult<()> {
        let key = self.key(handle)?;
        let usage = *key.usage_auth;
        let never = key.public.auth_data_usage == auth_usage::NEVER;
        if cmd.has_auth(index + 1) {
            let entity = if handle == kh::SRK { et::SRK } else { et::KEYHANDLE };
            // An OSAP session for the SRK may name it either way.
            let s_handle = cmd.auth(index)?.handle;
            let is_srk_session = handle == kh::SRK
                && matches!(self.session(s_handle)?.kind,
                    crate::state::SessionKind::Osap { entity_type, .. } if u8::try_from(entity_type & 0xFF).ok() == Some(et::KEYHANDLE));
            let (t, v) = if is_srk_session {
                (et::KEYHANDLE, kh::SRK)
            } else {
                (entity, if entity == et::SRK { 0 } else { handle })
            };
            return self.verify_auth(cmd, index, u16::from(t), v, &usage, digest);
        }
        if never { Ok(()) } else { Err(TpmError::Authfail) }
    }

    /// Checks a key's PCR binding against the current PCRs and locality
    /// (Part 3 §10.? "If the key has PCR info ... TPM_WRONGPCRVAL").
    pub(crate) fn check_key_pcrs(&self, handle: u32, locality: u8) -> TpmResult<()> {
        let key = self.key(handle)?;
        if let Some(info) = key.public.pcr_info()? {
            check_pcr_info(self, &info, locality)?;
        }
        Ok(())
    }
}

/// Release checks of a PCR info: locality and digestAtRelease.
pub(crate) fn check_pcr_info(tpm: &Tpm12, info: &PcrInfo, locality: u8) -> TpmResult<()> {
    if info.form != PcrInfoForm::Info && !pcr_info_locality_ok(info, locality) {
        return Err(TpmError::BadLocality);
    }
    if !info.release_selection.is_empty() {
        let now = super::pcr::composite_hash(tpm, &info.release_selection);
        if !crypto::ct_eq(&now, &info.digest_at_release) {
            return Err(TpmError::Wrongpcrval);
        }
    }
    Ok(())
}

fn storage_parent(tpm: &Tpm12, handle: u32) -> TpmResult<TpmKey> {
    let parent = tpm.key(handle)?;
    if parent.public.usage != ku::STORAGE {
        return Err(TpmError::InvalidKeyusage);
    }
    Ok(parent.clone())
}

/// TPM_CreateWrapKey (Part 3 §10.4).
pub(crate) fn create_wrap_key(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let parent_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let enc_usage = read_digest(&mut cmd.r)?;
    let enc_migration = read_digest(&mut cmd.r)?;
    let key_info = Key::parse(&mut cmd.r)?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    tpm.key_auth(cmd, 0, parent_handle, &digest)?;
    let parent = storage_parent(tpm, parent_handle)?;
    tpm.check_key_pcrs(parent_handle, cmd.locality)?;
    check_key_schemes(key_info.usage, &key_info.parms)?;
    if key_info.flags & kf::MIGRATE_AUTHORITY != 0 {
        return Err(TpmError::InvalidKeyusage);
    }
    // A non-migratable key needs a non-migratable parent (action 4).
    if key_info.flags & kf::MIGRATABLE == 0 && parent.public.flags & kf::MIGRATABLE != 0 {
        return Err(TpmError::InvalidKeyusage);
    }
    let rsa = key_info.parms.rsa_parms()?;
    if key_info.usage == ku::STORAGE && rsa.key_bits < 2048 {
        return Err(TpmError::BadKeyProperty);
    }
    // ADIP: usage auth under nonceEven, migration auth under nonceOdd (Part 1 §13.5).
    let usage_auth = tpm.adip_decrypt(cmd, &enc_usage, false)?;
    let migration_auth = if key_info.flags & kf::MIGRATABLE != 0 {
        tpm.adip_decrypt(cmd, &enc_migration, true)?
    } else {
        tpm.perm.tpm_proof.clone()
    };
    let mut key = generate_key(tpm, &key_info, usage_auth, migration_auth, cmd.locality)?;
    wrap(tpm, &parent, &mut key)?;
    Ok(Out::params(key.public.to_bytes()))
}

/// Decrypts and validates a wrapped key under `parent` (Part 3 §10.5 actions 5–9).
fn unwrap(tpm: &mut Tpm12, parent: &TpmKey, key: &Key) -> TpmResult<TpmKey> {
    check_key_schemes(key.usage, &key.parms)?;
    let plain = parent.pair.decrypt_oaep(&mut tpm.drbg, &key.enc_data)?;
    let store = StoreAsymKey::parse(&plain).map_err(|_| TpmError::DecryptError)?;
    if store.payload != pt::ASYM || !crypto::ct_eq(&store.pub_data_digest, &key.pub_data_digest()) {
        return Err(TpmError::DecryptError);
    }
    if key.flags & kf::MIGRATABLE == 0
        && !crypto::ct_eq(&store.migration_auth, &tpm.perm.tpm_proof[..])
    {
        return Err(TpmError::DecryptError);
    }
    if key.pcr_info()?.is_some_and(|i| i.form == PcrInfoForm::Short) {
        return Err(TpmError::InvalidPcrInfo);
    }
    let parms = key.parms.rsa_parms()?;
    let pair = RsaKeyPair::from_modulus_and_prime(&key.pub_key, parms.exponent, &store.prime)?;
    Ok(TpmKey {
        public: key.clone(),
        usage_auth: secret(store.usage_auth),
        migration_auth: secret(store.migration_auth),
        pair,
    })
}

fn load_key_common(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<u32> {
    let parent_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let key = Key::parse(&mut cmd.r)?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    tpm.key_auth(cmd, 0, parent_handle, &digest)?;
    let parent = storage_parent(tpm, parent_handle)?;
    tpm.check_key_pcrs(parent_handle, cmd.locality)?;
    if tpm.vol.keys.len() >= MAX_KEYS {
        return Err(TpmError::Nospace);
    }
    let loaded = unwrap(tpm, &parent, &key)?;
    let parent_pcr_status = !parent.public.pcr_info.is_empty();
    let handle = tpm.new_handle();
    tpm.vol.keys.push(LoadedKey { handle, key: loaded, parent_pcr_status });
    tpm.dirty.volatile = true;
    Ok(handle)
}

/// TPM_LoadKey2 (Part 3 §10.5): the handle is not part of the output HMAC.
pub(crate) fn load_key2(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let handle = load_key_common(tpm, cmd)?;
    Ok(Out { handles: handle.to_be_bytes().to_vec(), params: Vec::new() })
}

/// TPM_LoadKey (deprecated 1.1 form): the handle is an output parameter.
pub(crate) fn load_key(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let handle = load_key_common(tpm, cmd)?;
    Ok(Out::params(handle.to_be_bytes().to_vec()))
}

/// TPM_GetPubKey (Part 3 §10.6).
pub(crate) fn get_pub_key(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let handle = cmd.r.u32()?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(4);
    if handle == kh::SRK && !cmd.has_auth(1) && !tpm.perm.flags.read_srk_pub {
        return Err(TpmError::InvalidKeyhandle);
    }
    if handle != kh::SRK || cmd.has_auth(1) {
        tpm.key_auth(cmd, 0, handle, &digest)?;
    }
    tpm.check_key_pcrs(handle, cmd.locality)?;
    Ok(Out::params(tpm.key(handle)?.public.pubkey().to_bytes()))
}

/// TPM_SEALED_DATA (Part 2 §9.3).
struct SealedData {
    auth: Secret,
    proof: Digest20,
    stored_digest: Digest20,
    data: zeroize::Zeroizing<Vec<u8>>,
}

impl SealedData {
    fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.u8(pt::SEAL).bytes(&self.auth[..]).bytes(&self.proof).bytes(&self.stored_digest);
        write_sized(&mut w, &self.data);
        zeroize::Zeroizing::new(w.into_vec())
    }

    fn parse(bytes: &[u8]) -> TpmResult<Self> {
        let mut r = Reader::new(bytes);
        if r.u8()? != pt::SEAL {
            return Err(TpmError::NotsealedBlob);
        }
        let auth = secret(read_digest(&mut r)?);
        let proof = read_digest(&mut r)?;
        let stored_digest = read_digest(&mut r)?;
        let data = zeroize::Zeroizing::new(r.sized_u32(MAX_FIELD)?.to_vec());
        r.finish()?;
        Ok(Self { auth, proof, stored_digest, data })
    }
}

fn stored_digest(sd: &StoredData) -> Digest20 {
    let mut w = Writer::new();
    sd.write_without_enc(&mut w);
    crypto::sha1(&[w.as_slice()])
}

/// TPM_Seal (Part 3 §10.1).
pub(crate) fn seal(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let key_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let enc_auth = read_digest(&mut cmd.r)?;
    let pcr_info = cmd.r.sized_u32(MAX_FIELD)?.to_vec();
    let data = cmd.r.sized_u32(MAX_FIELD)?.to_vec();
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    tpm.key_auth(cmd, 0, key_handle, &digest)?;
    let key = storage_parent(tpm, key_handle)?;
    tpm.check_key_pcrs(key_handle, cmd.locality)?;
    // The PCR info form decides the blob version (Part 3 §10.1 action 4).
    let (v12, info) = if pcr_info.is_empty() {
        (false, None)
    } else if pcr_info.get(..2) == Some(&crate::consts::stag::PCR_INFO_LONG.to_be_bytes()[..]) {
        (true, Some(PcrInfo::parse_exact(&pcr_info, PcrInfoForm::Long)?))
    } else {
        (false, Some(PcrInfo::parse_exact(&pcr_info, PcrInfoForm::Info)?))
    };
    let seal_info = match info {
        Some(mut info) => {
            info.digest_at_creation = super::pcr::composite_hash(tpm, &info.creation_selection);
            info.locality_at_creation = 1 << cmd.locality;
            info.to_bytes()
        }
        None => Vec::new(),
    };
    let auth = tpm.adip_decrypt(cmd, &enc_auth, false)?;
    let mut stored = StoredData { v12, et: 0, seal_info, enc_data: Vec::new() };
    let sealed = SealedData {
        auth,
        proof: *tpm.perm.tpm_proof,
        stored_digest: stored_digest(&stored),
        data: zeroize::Zeroizing::new(data),
    };
    let plain = sealed.to_bytes();
    stored.enc_data =
        crypto::encrypt_oaep(&mut tpm.drbg, key.pair.modulus(), key.pair.exponent(), &plain)
            .map_err(|_| TpmError::BadDatasize)?;
    let mut w = Writer::new();
    stored.write(&mut w);
    Ok(Out::params(w.into_vec()))
}

/// TPM_Unseal (Part 3 §10.2).
pub(crate) fn unseal(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let key_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let stored = StoredData::parse(&mut cmd.r)?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    // With one session the key needs no authorization and the session is the data's.
    let data_index = if cmd.has_auth(2) { 1 } else { 0 };
    if data_index == 1 {
        tpm.key_auth(cmd, 0, key_handle, &digest)?;
    } else if tpm.key(key_handle)?.public.auth_data_usage != auth_usage::NEVER {
        return Err(TpmError::Authfail);
    }
    let key = storage_parent(tpm, key_handle)?;
    tpm.check_key_pcrs(key_handle, cmd.locality)?;
    let plain = key
        .pair
        .decrypt_oaep(&mut tpm.drbg, &stored.enc_data)
        .map_err(|_| TpmError::NotsealedBlob)?;
    let sealed = SealedData::parse(&plain).map_err(|_| TpmError::NotsealedBlob)?;
    if !crypto::ct_eq(&sealed.proof, &tpm.perm.tpm_proof[..])
        || !crypto::ct_eq(&sealed.stored_digest, &stored_digest(&stored))
    {
        return Err(TpmError::NotsealedBlob);
    }
    if !stored.seal_info.is_empty() {
        let info = PcrInfo::parse_exact(&stored.seal_info, stored.pcr_form())?;
        check_pcr_info(tpm, &info, cmd.locality)?;
    }
    let data_auth = *sealed.auth;
    tpm.verify_auth(cmd, data_index, u16::from(et::DATA), 0, &data_auth, &digest).map_err(|e| {
        if e == TpmError::Authfail && data_index == 1 { TpmError::Auth2fail } else { e }
    })?;
    let mut w = Writer::new();
    write_sized(&mut w, &sealed.data);
    Ok(Out::params(w.into_vec()))
}

/// TPM_UnBind (Part 3 §10.3).
pub(crate) fn unbind(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let key_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let data = cmd.r.sized_u32(MAX_FIELD)?.to_vec();
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    tpm.key_auth(cmd, 0, key_handle, &digest)?;
    tpm.check_key_pcrs(key_handle, cmd.locality)?;
    let key = tpm.key(key_handle)?.clone();
    if !matches!(key.public.usage, ku::BIND | ku::LEGACY) {
        return Err(TpmError::InvalidKeyusage);
    }
    let out = match key.public.parms.enc_scheme {
        es::RSAESOAEP_SHA1_MGF1 => {
            let plain = key.pair.decrypt_oaep(&mut tpm.drbg, &data)?;
            // TPM_BOUND_DATA: version 1.1.0.0, payload TPM_PT_BIND, data.
            let mut r = Reader::new(&plain);
            let ver = r.array::<4>()?;
            if ver[..2] != STRUCT_VER_11[..2] || r.u8()? != pt::BIND {
                return Err(TpmError::InvalidStructure);
            }
            r.peek_rest().to_vec()
        }
        es::RSAESPKCSV15 => key.pair.decrypt_pkcs1(&mut tpm.drbg, &data)?.to_vec(),
        _ => return Err(TpmError::InappropriateEnc),
    };
    let mut w = Writer::new();
    write_sized(&mut w, &out);
    Ok(Out::params(w.into_vec()))
}

/// TPM_Sign (Part 3 §13.?? "TPM_Sign").
pub(crate) fn sign(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let key_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let area = cmd.r.sized_u32(MAX_FIELD)?.to_vec();
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    tpm.key_auth(cmd, 0, key_handle, &digest)?;
    tpm.check_key_pcrs(key_handle, cmd.locality)?;
    let key = tpm.key(key_handle)?.clone();
    if !matches!(key.public.usage, ku::SIGNING | ku::LEGACY) {
        return Err(TpmError::InvalidKeyusage);
    }
    let sig = match key.public.parms.sig_scheme {
        ss::RSASSAPKCS1V15_SHA1 => {
            if area.len() != 20 {
                return Err(TpmError::BadParameter);
            }
            key.pair.sign_sha1(&mut tpm.drbg, &area)?
        }
        ss::RSASSAPKCS1V15_DER => key.pair.sign_der(&mut tpm.drbg, &area)?,
        _ => return Err(TpmError::InappropriateSig),
    };
    let mut w = Writer::new();
    write_sized(&mut w, &sig);
    Ok(Out::params(w.into_vec()))
}
