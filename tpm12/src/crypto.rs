//! The cryptography TPM 1.2 uses: SHA-1, HMAC-SHA1, MGF1, RSA (OAEP, PKCS#1 v1.5).
//!
//! RSA comes from the RustCrypto `rsa` crate; everything here is thin glue that fixes
//! the TPM's parameter choices (Part 1 §31: OAEP with SHA-1, MGF1-SHA1 and the label
//! "TCPA"; signatures PKCS#1 v1.5).

use alloc::boxed::Box;
use alloc::vec::Vec;
use crypto_bigint::{NonZero, Resize};
use hmac::{Hmac, KeyInit, Mac};
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use tpm_engine::Drbg;
use zeroize::Zeroizing;

use crate::error::{TpmError, TpmResult};

/// A SHA-1 digest, nonce or 20-byte secret.
pub type Digest20 = [u8; 20];

/// The OAEP encoding parameter TPM 1.2 uses for every OAEP operation (Part 1 §31.1.1).
pub const OAEP_LABEL: &[u8] = b"TCPA";

/// The DER prefix of a SHA-1 DigestInfo (PKCS#1 v2.1 §9.2 note 1).
const SHA1_DIGEST_INFO: [u8; 15] =
    [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14];

/// The default RSA public exponent (Part 2 §5.4: an empty exponent means 2^16+1).
pub const DEFAULT_EXPONENT: u32 = 65537;

/// SHA-1 over the concatenation of `parts`.
pub fn sha1(parts: &[&[u8]]) -> Digest20 {
    let mut h = Sha1::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// HMAC-SHA1 keyed by `key` over the concatenation of `parts`.
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Digest20 {
    // HMAC accepts keys of any length, so construction cannot fail.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(key) else {
        return [0; 20];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time equality of two secrets or MACs (lengths are public).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// XORs `data` with the MGF1-SHA1 mask generated from `seed` (PKCS#1 v2.1 §B.2.1);
/// TPM 1.2 uses it for ADIP, for sealed-data XOR and for TPM_ES_SYM_... XOR
/// (Part 1 §19.1.3).
pub fn mgf1_xor(seed: &[&[u8]], data: &mut [u8]) {
    for (counter, chunk) in (0u32..).zip(data.chunks_mut(20)) {
        let mut h = Sha1::new();
        for part in seed {
            h.update(part);
        }
        h.update(counter.to_be_bytes());
        let mask: Digest20 = h.finalize().into();
        for (byte, m) in chunk.iter_mut().zip(mask.iter()) {
            *byte ^= m;
        }
    }
}

/// An RSA key pair the TPM holds: the private key and the big-endian modulus and
/// prime `p` (what TPM_STORE_PRIVKEY carries, Part 2 §10.7).
pub struct RsaKeyPair {
    private: RsaPrivateKey,
    modulus: Vec<u8>,
    prime: Zeroizing<Vec<u8>>,
    exponent: u32,
}

impl core::fmt::Debug for RsaKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaKeyPair")
            .field("bits", &(self.modulus.len() * 8))
            .finish_non_exhaustive()
    }
}

impl Clone for RsaKeyPair {
    fn clone(&self) -> Self {
        Self {
            private: self.private.clone(),
            modulus: self.modulus.clone(),
            prime: self.prime.clone(),
            exponent: self.exponent,
        }
    }
}

impl RsaKeyPair {
    /// Generates a key of `bits` bits with public exponent `exponent`.
    pub fn generate(drbg: &mut Drbg, bits: usize, exponent: u32) -> TpmResult<Self> {
        let private = RsaPrivateKey::new_with_exp(drbg, bits, BoxedUint::from(exponent))
            .map_err(|_| TpmError::Fail)?;
        Self::from_private(private, exponent)
    }

    fn from_private(private: RsaPrivateKey, exponent: u32) -> TpmResult<Self> {
        use rsa::traits::PrivateKeyParts;
        let size = private.size();
        let modulus = left_pad(&private.n_bytes(), size)?;
        let half = size.div_ceil(2);
        let p = private.primes().first().ok_or(TpmError::Fail)?;
        let prime = Zeroizing::new(left_pad(&p.to_be_bytes_trimmed_vartime(), half)?);
        Ok(Self { private, modulus, prime, exponent })
    }

    /// Rebuilds a key from its public modulus and secret prime `p`, as found in a
    /// decrypted key blob. Fails unless `p` is a proper factor of `n`.
    pub fn from_modulus_and_prime(modulus: &[u8], exponent: u32, prime: &[u8]) -> TpmResult<Self> {
        let bits = u32::try_from(modulus.len().checked_mul(8).ok_or(TpmError::BadKeyProperty)?)
            .map_err(|_| TpmError::BadKeyProperty)?;
        let n = BoxedUint::from_be_slice(modulus, bits).map_err(|_| TpmError::BadKeyProperty)?;
        let p = BoxedUint::from_be_slice(prime, bits).map_err(|_| TpmError::BadKeyProperty)?;
        let p_nz = NonZero::new(p.clone()).into_option().ok_or(TpmError::DecryptError)?;
        let (q, rem) = n.div_rem(&p_nz);
        // p must be a proper factor: n = p * q with both factors of about half size.
        let half = bits / 2;
        if rem.bits_vartime() != 0
            || p.bits_vartime() < 2
            || p.bits_vartime() > half
            || q.bits_vartime() > half
        {
            return Err(TpmError::DecryptError);
        }
        let p = p.try_resize(half).ok_or(TpmError::DecryptError)?;
        let q = q.try_resize(half).ok_or(TpmError::DecryptError)?;
        let private = RsaPrivateKey::from_p_q(p, q, BoxedUint::from(exponent))
            .map_err(|_| TpmError::DecryptError)?;
        let key = Self::from_private(private, exponent)?;
        if key.modulus != modulus {
            return Err(TpmError::DecryptError);
        }
        Ok(key)
    }

    /// The big-endian modulus, `bits / 8` bytes.
    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }

    /// The big-endian prime `p`, half the modulus length.
    pub fn prime(&self) -> &[u8] {
        &self.prime
    }

    /// The public exponent.
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// RSAES-OAEP decryption with SHA-1 and the "TCPA" label.
    pub fn decrypt_oaep(
        &self,
        drbg: &mut Drbg,
        ciphertext: &[u8],
    ) -> TpmResult<Zeroizing<Vec<u8>>> {
        let padding = Oaep::<Sha1>::new_with_label(OAEP_LABEL);
        self.private
            .decrypt_blinded(drbg, padding, ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| TpmError::DecryptError)
    }

    /// RSAES-PKCS1-v1_5 decryption.
    pub fn decrypt_pkcs1(
        &self,
        drbg: &mut Drbg,
        ciphertext: &[u8],
    ) -> TpmResult<Zeroizing<Vec<u8>>> {
        self.private
            .decrypt_blinded(drbg, Pkcs1v15Encrypt, ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| TpmError::DecryptError)
    }

    /// RSASSA-PKCS1-v1_5 over a SHA-1 digest (TPM_SS_RSASSAPKCS1v15_SHA1).
    pub fn sign_sha1(&self, drbg: &mut Drbg, digest: &[u8]) -> TpmResult<Vec<u8>> {
        let scheme = Pkcs1v15Sign { hash_len: Some(20), prefix: Box::new(SHA1_DIGEST_INFO) };
        self.private.sign_with_rng(drbg, scheme, digest).map_err(|_| TpmError::Fail)
    }

    /// RSASSA-PKCS1-v1_5 over caller-supplied DER data (TPM_SS_RSASSAPKCS1v15_DER).
    pub fn sign_der(&self, drbg: &mut Drbg, data: &[u8]) -> TpmResult<Vec<u8>> {
        self.private
            .sign_with_rng(drbg, Pkcs1v15Sign::new_unprefixed(), data)
            .map_err(|_| TpmError::BadDatasize)
    }
}

/// RSAES-OAEP encryption (SHA-1, "TCPA") under a public key given as modulus and
/// exponent.
pub fn encrypt_oaep(
    drbg: &mut Drbg,
    modulus: &[u8],
    exponent: u32,
    msg: &[u8],
) -> TpmResult<Vec<u8>> {
    let key = public_key(modulus, exponent)?;
    key.encrypt(drbg, Oaep::<Sha1>::new_with_label(OAEP_LABEL), msg)
        .map_err(|_| TpmError::EncryptError)
}

/// RSAES-PKCS1-v1_5 encryption under a public key.
pub fn encrypt_pkcs1(
    drbg: &mut Drbg,
    modulus: &[u8],
    exponent: u32,
    msg: &[u8],
) -> TpmResult<Vec<u8>> {
    let key = public_key(modulus, exponent)?;
    key.encrypt(drbg, Pkcs1v15Encrypt, msg).map_err(|_| TpmError::EncryptError)
}

/// Verifies an RSASSA-PKCS1-v1_5 SHA-1 signature (used by tests and TPM_CertifyKey
/// checks of caller-provided keys).
pub fn verify_sha1(modulus: &[u8], exponent: u32, digest: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = public_key(modulus, exponent) else { return false };
    let scheme = Pkcs1v15Sign { hash_len: Some(20), prefix: Box::new(SHA1_DIGEST_INFO) };
    key.verify(scheme, digest, signature).is_ok()
}

fn public_key(modulus: &[u8], exponent: u32) -> TpmResult<RsaPublicKey> {
    let bits = u32::try_from(modulus.len().checked_mul(8).ok_or(TpmError::BadKeyProperty)?)
        .map_err(|_| TpmError::BadKeyProperty)?;
    let n = BoxedUint::from_be_slice(modulus, bits).map_err(|_| TpmError::BadKeyProperty)?;
    RsaPublicKey::new(n, BoxedUint::from(exponent)).map_err(|_| TpmError::BadKeyProperty)
}

fn left_pad(bytes: &[u8], len: usize) -> TpmResult<Vec<u8>> {
    let pad = len.checked_sub(bytes.len()).ok_or(TpmError::Fail)?;
    let mut out = Vec::with_capacity(len);
    out.resize(pad, 0);
    out.extend_from_slice(bytes);
    Ok(out)
}
