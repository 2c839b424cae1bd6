//! Protected storage (TPM 2.0 Part 1 §22–§24): wrapping a sensitive area for its
//! parent (TPM2B_PRIVATE), duplication blobs with inner and outer wraps, and
//! credential blobs.
//!
//! An outer wrap is `integrity ‖ [iv] ‖ CFB(data)` with symmetric key
//! KDFa(hash, seed, "STORAGE", Name, ∅, keyBits) and integrity
//! HMAC(KDFa(hash, seed, "INTEGRITY", ∅, ∅, digestBits), [iv ‖] encData ‖ Name).
//! Private blobs of loaded objects carry a random IV (as the reference
//! implementation does); duplication and credential blobs do not.

use crate::crypto::ct_eq;
use crate::crypto::hash;
use crate::crypto::kdf::kdfa;
use crate::crypto::sym::{Aes, BLOCK, aes_crypt, cfb_zero_iv};
use crate::object::Object;
use crate::types::{
    HashAlg, Marshal, Rc, Reader, Sensitive, SymDef, TpmResult, Unmarshal, Writer, alg, get_2b,
    limits, put_2b,
};
use alloc::vec::Vec;
use tpm_engine::Drbg;
use zeroize::Zeroizing;

/// The parameters of an outer wrap: the protector's symmetric definition and
/// nameAlg, and the seed (its seedValue, or a duplication/credential seed).
#[derive(Debug)]
pub struct Protector<'a> {
    /// Symmetric algorithm (AES with key bits).
    pub sym: SymDef,
    /// Hash for the KDFs and the integrity HMAC.
    pub hash: HashAlg,
    /// The seed.
    pub seed: &'a [u8],
}

impl<'a> Protector<'a> {
    /// The protector a storage key provides for its children.
    pub fn of_parent(parent: &'a Object) -> TpmResult<Self> {
        let hash = parent.public.name_alg.ok_or(Rc::TYPE)?;
        let seed = parent.sensitive.as_ref().map(|s| &s.seed_value[..]).ok_or(Rc::TYPE)?;
        Ok(Protector { sym: parent.public.kind.symmetric(), hash, seed })
    }

    fn key_bits(&self) -> TpmResult<u16> {
        match self.sym {
            SymDef::Aes { bits, .. } => Ok(bits),
            _ => Err(Rc::SYMMETRIC),
        }
    }

    fn sym_key(&self, name: &[u8]) -> TpmResult<Zeroizing<Vec<u8>>> {
        Ok(kdfa(self.hash, self.seed, b"STORAGE", name, &[], u32::from(self.key_bits()?)))
    }

    fn integrity(&self, data: &[u8], name: &[u8]) -> Vec<u8> {
        let key = kdfa(self.hash, self.seed, b"INTEGRITY", &[], &[], self.hash.bits());
        hash::hmac(self.hash, &key, &[data, name])
    }

    /// `ProduceOuterWrap`: encrypts `data` and prepends the integrity HMAC (and
    /// a random IV when `drbg` is given).
    pub fn wrap(&self, name: &[u8], data: &[u8], drbg: Option<&mut Drbg>) -> TpmResult<Vec<u8>> {
        let key = self.sym_key(name)?;
        let aes = Aes::new(&key)?;
        let mut body = Writer::new();
        let mut iv = [0u8; BLOCK];
        if let Some(drbg) = drbg {
            drbg.fill(&mut iv);
            put_2b(&mut body, &iv);
        }
        let mut enc = Zeroizing::new(data.to_vec());
        aes_crypt(&aes, alg::CFB, &mut iv, false, &mut enc)?;
        body.bytes(&enc);
        let integrity = self.integrity(body.as_slice(), name);
        let mut out = Writer::new();
        put_2b(&mut out, &integrity);
        out.bytes(body.as_slice());
        Ok(out.into_vec())
    }

    /// `UnwrapOuter`: checks the integrity (TPM_RC_INTEGRITY) and decrypts.
    pub fn unwrap(&self, name: &[u8], blob: &[u8], with_iv: bool) -> TpmResult<Zeroizing<Vec<u8>>> {
        let mut r = Reader::new(blob);
        let integrity = get_2b(&mut r, limits::MAX_DIGEST)?;
        let rest = r.peek_rest();
        if !ct_eq(integrity, &self.integrity(rest, name)) {
            return Err(Rc::INTEGRITY);
        }
        let key = self.sym_key(name)?;
        let aes = Aes::new(&key)?;
        let mut iv = [0u8; BLOCK];
        if with_iv {
            let given = get_2b(&mut r, limits::MAX_IV)?;
            if given.len() != BLOCK {
                return Err(Rc::VALUE);
            }
            iv.copy_from_slice(given);
        }
        let mut data = Zeroizing::new(r.peek_rest().to_vec());
        aes_crypt(&aes, alg::CFB, &mut iv, true, &mut data)?;
        Ok(data)
    }
}

/// Marshals a TPM2B_SENSITIVE with the authValue padded to the nameAlg digest
/// size (`MarshalSensitive`).
fn marshal_sensitive(sensitive: &Sensitive, name_alg: HashAlg) -> Zeroizing<Vec<u8>> {
    let mut s = sensitive.clone();
    if s.auth_value.len() < name_alg.size() {
        s.auth_value.resize(name_alg.size(), 0);
    }
    let mut w = Writer::new();
    put_2b(&mut w, &Zeroizing::new(s.to_bytes()));
    Zeroizing::new(w.into_vec())
}

/// Parses a TPM2B_SENSITIVE that must fill `data` exactly.
fn unmarshal_sensitive(data: &[u8], err: Rc) -> TpmResult<Sensitive> {
    let mut r = Reader::new(data);
    let inner = get_2b(&mut r, limits::MAX_SENSITIVE).map_err(|_| err)?;
    if !r.is_empty() {
        return Err(err);
    }
    Sensitive::from_bytes(inner).map_err(|_| err)
}

/// `SensitiveToPrivate`: the TPM2B_PRIVATE contents for a child of `parent`.
pub fn sensitive_to_private(
    sensitive: &Sensitive,
    name: &[u8],
    name_alg: HashAlg,
    parent: &Object,
    drbg: &mut Drbg,
) -> TpmResult<Vec<u8>> {
    let protector = Protector::of_parent(parent)?;
    protector.wrap(name, &marshal_sensitive(sensitive, name_alg), Some(drbg))
}

/// `PrivateToSensitive`: unwraps a TPM2B_PRIVATE made by [`sensitive_to_private`].
pub fn private_to_sensitive(private: &[u8], name: &[u8], parent: &Object) -> TpmResult<Sensitive> {
    let protector = Protector::of_parent(parent)?;
    let data = protector.unwrap(name, private, true)?;
    unmarshal_sensitive(&data, Rc::SENSITIVE)
}

/// `SensitiveToDuplicate`: an optional inner wrap (`inner_key` with AES-CFB, and
/// an integrity digest with the object's nameAlg) and an optional outer wrap for
/// the new parent.
pub fn sensitive_to_duplicate(
    sensitive: &Sensitive,
    name: &[u8],
    name_alg: HashAlg,
    outer: Option<&Protector<'_>>,
    inner_key: Option<&[u8]>,
) -> TpmResult<Vec<u8>> {
    let mut data = marshal_sensitive(sensitive, name_alg);
    if let Some(key) = inner_key {
        let integrity = hash::digest_parts(name_alg, &[&data, name]);
        let mut inner = Writer::new();
        put_2b(&mut inner, &integrity);
        inner.bytes(&data);
        let mut buf = Zeroizing::new(inner.into_vec());
        cfb_zero_iv(key, false, &mut buf)?;
        data = buf;
    }
    match outer {
        Some(p) => p.wrap(name, &data, None),
        None => Ok(data.to_vec()),
    }
}

/// `DuplicateToSensitive`: the inverse of [`sensitive_to_duplicate`].
pub fn duplicate_to_sensitive(
    blob: &[u8],
    name: &[u8],
    name_alg: HashAlg,
    outer: Option<&Protector<'_>>,
    inner_key: Option<&[u8]>,
) -> TpmResult<Sensitive> {
    let mut data = match outer {
        Some(p) => p.unwrap(name, blob, false)?,
        None => Zeroizing::new(blob.to_vec()),
    };
    if let Some(key) = inner_key {
        cfb_zero_iv(key, true, &mut data)?;
        let mut r = Reader::new(&data);
        let integrity = get_2b(&mut r, limits::MAX_DIGEST)?;
        let rest = r.peek_rest();
        if !ct_eq(integrity, &hash::digest_parts(name_alg, &[rest, name])) {
            return Err(Rc::INTEGRITY);
        }
        data = Zeroizing::new(rest.to_vec());
    }
    unmarshal_sensitive(&data, Rc::SIZE)
}

/// `SecretToCredential`: TPM2B_ID_OBJECT contents for MakeCredential.
pub fn secret_to_credential(
    secret: &[u8],
    name: &[u8],
    protector: &Protector<'_>,
) -> TpmResult<Vec<u8>> {
    let mut w = Writer::new();
    put_2b(&mut w, secret);
    protector.wrap(name, w.as_slice(), None)
}

/// `CredentialToSecret`: the inverse, for ActivateCredential.
pub fn credential_to_secret(
    blob: &[u8],
    name: &[u8],
    protector: &Protector<'_>,
) -> TpmResult<Vec<u8>> {
    let data = protector.unwrap(name, blob, false)?;
    let mut r = Reader::new(&data);
    let secret = get_2b(&mut r, limits::MAX_DIGEST)?.to_vec();
    if !r.is_empty() {
        return Err(Rc::SIZE);
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn outer_wrap_round_trips_and_detects_tampering() {
        let seed = [9u8; 32];
        let p = Protector { sym: SymDef::AES_128_CFB, hash: HashAlg::Sha256, seed: &seed };
        let mut drbg = Drbg::from_seed([1; 32]);
        for with_iv in [false, true] {
            let blob = p
                .wrap(b"name", b"secret data", if with_iv { Some(&mut drbg) } else { None })
                .unwrap();
            assert_eq!(&p.unwrap(b"name", &blob, with_iv).unwrap()[..], b"secret data");
            assert_eq!(p.unwrap(b"other", &blob, with_iv).err(), Some(Rc::INTEGRITY));
            let mut bad = blob.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(p.unwrap(b"name", &bad, with_iv).err(), Some(Rc::INTEGRITY));
        }
    }

    #[test]
    fn duplicate_round_trips_with_and_without_wraps() {
        let seed = [3u8; 32];
        let p = Protector {
            sym: SymDef::Aes { bits: 256, mode: alg::CFB },
            hash: HashAlg::Sha384,
            seed: &seed,
        };
        let s = Sensitive {
            sensitive_type: alg::KEYEDHASH,
            auth_value: b"pw".to_vec(),
            seed_value: vec![1; 32],
            sensitive: b"data".to_vec(),
        };
        let key = [5u8; 16];
        for (outer, inner) in
            [(None, None), (Some(&p), None), (None, Some(&key[..])), (Some(&p), Some(&key[..]))]
        {
            let blob = sensitive_to_duplicate(&s, b"n", HashAlg::Sha256, outer, inner).unwrap();
            let back = duplicate_to_sensitive(&blob, b"n", HashAlg::Sha256, outer, inner).unwrap();
            assert_eq!(back.sensitive, s.sensitive);
            assert_eq!(crate::crypto::trim_trailing_zeros(&back.auth_value), b"pw");
        }
    }

    #[test]
    fn credential_round_trips() {
        let seed = [7u8; 16];
        let p = Protector { sym: SymDef::AES_128_CFB, hash: HashAlg::Sha256, seed: &seed };
        let blob = secret_to_credential(b"0123456789", b"ak name", &p).unwrap();
        assert_eq!(credential_to_secret(&blob, b"ak name", &p).unwrap(), b"0123456789");
        assert_eq!(credential_to_secret(&blob, b"other", &p).err(), Some(Rc::INTEGRITY));
    }
}
