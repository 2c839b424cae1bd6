//! RSA: deterministic key generation, signing (RSASSA, RSAPSS) and encryption
//! (RSAES, OAEP, raw) as TPM 2.0 Part 1 §B uses them.

use super::kdf::KdfStream;
use crate::types::{HashAlg, Rc, TpmResult, alg};
use alloc::vec;
use alloc::vec::Vec;
use crypto_bigint::{NonZero, Resize};
use rsa::hazmat::{rsa_decrypt_and_check, rsa_encrypt};
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Oaep, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use subtle::{ConstantTimeEq, ConstantTimeLess};
use tpm_engine::Drbg;
use zeroize::Zeroizing;

/// The default public exponent (an exponent of zero in a template means this).
pub const DEFAULT_EXPONENT: u32 = 65537;

/// Odd primes below 8192, for sieving candidates.
fn small_primes() -> Vec<u32> {
    const LIMIT: usize = 8192;
    let mut composite = vec![false; LIMIT];
    let mut primes = Vec::new();
    for i in 3..LIMIT {
        if composite.get(i).copied().unwrap_or(true) || i % 2 == 0 {
            continue;
        }
        primes.push(u32::try_from(i).unwrap_or(3));
        let mut j = i.saturating_mul(i);
        while j < LIMIT {
            if let Some(c) = composite.get_mut(j) {
                *c = true;
            }
            j = j.saturating_add(i);
        }
    }
    primes
}

/// True if `e` is a valid public exponent: odd, at least 3 and prime (so that
/// `p mod e != 1` is the whole coprimality test).
pub fn exponent_is_valid(e: u32) -> bool {
    if e < 3 || e.is_multiple_of(2) {
        return false;
    }
    let mut d = 3u32;
    while d.saturating_mul(d) <= e {
        if e.is_multiple_of(d) {
            return false;
        }
        d = d.saturating_add(2);
    }
    true
}

/// `value mod m` for a small non-zero modulus (zero for m = 0, which no caller
/// passes).
fn residue(value: &BoxedUint, m: u32) -> u32 {
    let Some(m_nz) = NonZero::new(BoxedUint::from(u64::from(m))).into_option() else {
        return 0;
    };
    let r = value.rem_vartime(&m_nz);
    u32::try_from(r.as_words().first().copied().unwrap_or(0)).unwrap_or(0)
}

/// How many candidates one random starting point is searched for a prime before a
/// new one is drawn, and how many starting points are tried before giving up.
/// The expected number of candidates is below 1000 even for 2048-bit primes, so
/// running out of both means a broken random source.
const STEPS_PER_START: u32 = 1 << 14;
const MAX_STARTS: u32 = 64;

/// Draws a prime of exactly `bits` bits (top two bits set, so that the product of
/// two has the full size) with `p mod e != 1`. Candidates come from `stream`, then
/// step by two past sieved multiples of small primes; primality is the
/// deterministic Baillie-PSW test of `crypto-primes`. Same stream, same prime.
fn find_prime(stream: &mut KdfStream, bits: u32, e: u32, primes: &[u32]) -> TpmResult<BoxedUint> {
    let len = usize::try_from(bits / 8).map_err(|_| Rc::KEY_SIZE)?;
    for _ in 0..MAX_STARTS {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        stream.fill(&mut bytes);
        if let Some(first) = bytes.first_mut() {
            *first |= 0xC0;
        }
        if let Some(last) = bytes.last_mut() {
            *last |= 1;
        }
        let mut candidate = BoxedUint::from_be_slice(&bytes, bits).map_err(|_| Rc::NO_RESULT)?;
        let mut residues: Vec<u32> = primes.iter().map(|&p| residue(&candidate, p)).collect();
        let mut e_residue = residue(&candidate, e);
        let two = BoxedUint::from(2u64).resize_unchecked(bits);
        for _ in 0..STEPS_PER_START {
            let sieved = residues.iter().all(|&r| r != 0) && e_residue != 1;
            if sieved
                && candidate.bits() == bits
                && crypto_primes::is_prime(crypto_primes::Flavor::Any, &candidate)
            {
                return Ok(candidate);
            }
            candidate = candidate.wrapping_add(&two);
            for (r, &p) in residues.iter_mut().zip(primes) {
                *r = r.wrapping_add(2) % p;
            }
            e_residue = e_residue.wrapping_add(2) % e;
        }
    }
    Err(Rc::NO_RESULT)
}

/// Generates an RSA key of `bits` bits with public exponent `e` (0 = 65537) from a
/// deterministic stream: the primary-key derivation of Part 1 §26.3 uses a stream
/// keyed from the hierarchy seed and the template, so the same seed and template
/// give the same key.
pub fn generate(stream: &mut KdfStream, bits: u16, e: u32) -> TpmResult<RsaPrivateKey> {
    let e = if e == 0 { DEFAULT_EXPONENT } else { e };
    if !exponent_is_valid(e) {
        return Err(Rc::VALUE);
    }
    let half = u32::from(bits) / 2;
    let primes = small_primes();
    for _ in 0..MAX_STARTS {
        let p = find_prime(stream, half, e, &primes)?;
        let q = find_prime(stream, half, e, &primes)?;
        // FIPS 186-4 B.3.3: |p - q| > 2^(nlen/2 - 100).
        let diff = if p > q { p.wrapping_sub(&q) } else { q.wrapping_sub(&p) };
        if diff.bits() <= half.saturating_sub(100) {
            continue;
        }
        let key = RsaPrivateKey::from_p_q(p, q, BoxedUint::from(u64::from(e)))
            .map_err(|_| Rc::NO_RESULT)?;
        if key.n().bits() == u32::from(bits) {
            return Ok(key);
        }
    }
    Err(Rc::NO_RESULT)
}

/// Generates an ordinary (non-primary) key from the DRBG.
pub fn generate_random(drbg: &mut Drbg, bits: u16, e: u32) -> TpmResult<RsaPrivateKey> {
    let mut seed = Zeroizing::new([0u8; 32]);
    drbg.fill(&mut seed[..]);
    let mut stream = KdfStream::new(HashAlg::Sha256, &seed[..], b"RSA KEY", &[]);
    generate(&mut stream, bits, e)
}

/// The public key for a modulus and exponent (0 = 65537); a modulus of the wrong
/// size for `bits` or an unusable exponent is TPM_RC_KEY.
pub fn public_key(modulus: &[u8], e: u32, bits: u16) -> TpmResult<RsaPublicKey> {
    if modulus.len() != usize::from(bits / 8) {
        return Err(Rc::KEY);
    }
    let e = if e == 0 { DEFAULT_EXPONENT } else { e };
    let n = BoxedUint::from_be_slice(modulus, u32::from(bits)).map_err(|_| Rc::KEY)?;
    RsaPublicKey::new(n, BoxedUint::from(u64::from(e))).map_err(|_| Rc::KEY)
}

/// Rebuilds the private key from the modulus and one prime (the sensitive part of
/// a TPM RSA object). If the prime does not divide the modulus, the halves are not
/// bound: TPM_RC_BINDING.
pub fn private_key(modulus: &[u8], e: u32, prime: &[u8]) -> TpmResult<RsaPrivateKey> {
    let e = if e == 0 { DEFAULT_EXPONENT } else { e };
    let bits = u32::try_from(modulus.len()).map_err(|_| Rc::KEY)?.saturating_mul(8);
    let n = BoxedUint::from_be_slice(modulus, bits).map_err(|_| Rc::KEY)?;
    let p = BoxedUint::from_be_slice(prime, bits).map_err(|_| Rc::BINDING)?;
    let p_nz = NonZero::new(p.clone()).into_option().ok_or(Rc::BINDING)?;
    let (q, rem) = n.div_rem_vartime(&p_nz);
    if !bool::from(rem.is_zero()) || p.bits() < 2 || q.bits() < 2 {
        return Err(Rc::BINDING);
    }
    let half = bits / 2;
    let p = p.try_resize(half).ok_or(Rc::BINDING)?;
    let q = q.try_resize(half).ok_or(Rc::BINDING)?;
    RsaPrivateKey::from_p_q(p, q, BoxedUint::from(u64::from(e))).map_err(|_| Rc::BINDING)
}

/// The modulus of a key, big-endian, key-sized.
pub fn modulus(key: &impl PublicKeyParts) -> Vec<u8> {
    let n = key.n().to_be_bytes();
    let size = key.size();
    let start = n.len().saturating_sub(size);
    n.get(start..).unwrap_or(&n).to_vec()
}

/// The first prime of a private key (what TPMT_SENSITIVE holds).
pub fn prime(key: &RsaPrivateKey) -> Zeroizing<Vec<u8>> {
    use rsa::traits::PrivateKeyParts;
    let p = key.primes().first().map(|p| p.to_be_bytes()).unwrap_or_default();
    let half = key.size() / 2;
    let start = p.len().saturating_sub(half);
    Zeroizing::new(p.get(start..).unwrap_or(&p).to_vec())
}

/// Signs `digest` (already hashed with `hash`) with RSASSA-PKCS1-v1_5 or RSAPSS.
/// RSAPSS uses a salt as long as the digest (Part 1 §B.7 for FIPS 186-4 keys).
pub fn sign(
    key: &RsaPrivateKey,
    scheme: u16,
    hash: HashAlg,
    digest: &[u8],
    rng: &mut Drbg,
) -> TpmResult<Vec<u8>> {
    if digest.len() != hash.size() {
        return Err(Rc::SIZE);
    }
    let result = match (scheme, hash) {
        (alg::RSASSA, HashAlg::Sha1) => key.sign_with_rng(rng, Pkcs1v15Sign::new::<Sha1>(), digest),
        (alg::RSASSA, HashAlg::Sha256) => {
            key.sign_with_rng(rng, Pkcs1v15Sign::new::<Sha256>(), digest)
        }
        (alg::RSASSA, HashAlg::Sha384) => {
            key.sign_with_rng(rng, Pkcs1v15Sign::new::<Sha384>(), digest)
        }
        (alg::RSASSA, HashAlg::Sha512) => {
            key.sign_with_rng(rng, Pkcs1v15Sign::new::<Sha512>(), digest)
        }
        (alg::RSAPSS, HashAlg::Sha1) => key.sign_with_rng(rng, Pss::<Sha1>::new(), digest),
        (alg::RSAPSS, HashAlg::Sha256) => key.sign_with_rng(rng, Pss::<Sha256>::new(), digest),
        (alg::RSAPSS, HashAlg::Sha384) => key.sign_with_rng(rng, Pss::<Sha384>::new(), digest),
        (alg::RSAPSS, HashAlg::Sha512) => key.sign_with_rng(rng, Pss::<Sha512>::new(), digest),
        _ => return Err(Rc::SCHEME),
    };
    // A PSS salt that does not fit the key (SHA-512 with a 1024-bit key) is a size
    // error.
    result.map_err(|_| Rc::SIZE)
}

fn pss_any_salt<D: sha2::Digest>() -> Pss<D> {
    let mut pss = Pss::<D>::new();
    // Verification accepts any salt length, as the reference implementation does.
    pss.salt_len = None;
    pss
}

/// Verifies an RSASSA or RSAPSS signature over `digest`.
pub fn verify(key: &RsaPublicKey, scheme: u16, hash: HashAlg, digest: &[u8], sig: &[u8]) -> bool {
    if sig.len() != key.size() {
        return false;
    }
    let result = match (scheme, hash) {
        (alg::RSASSA, HashAlg::Sha1) => key.verify(Pkcs1v15Sign::new::<Sha1>(), digest, sig),
        (alg::RSASSA, HashAlg::Sha256) => key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, sig),
        (alg::RSASSA, HashAlg::Sha384) => key.verify(Pkcs1v15Sign::new::<Sha384>(), digest, sig),
        (alg::RSASSA, HashAlg::Sha512) => key.verify(Pkcs1v15Sign::new::<Sha512>(), digest, sig),
        (alg::RSAPSS, HashAlg::Sha1) => key.verify(pss_any_salt::<Sha1>(), digest, sig),
        (alg::RSAPSS, HashAlg::Sha256) => key.verify(pss_any_salt::<Sha256>(), digest, sig),
        (alg::RSAPSS, HashAlg::Sha384) => key.verify(pss_any_salt::<Sha384>(), digest, sig),
        (alg::RSAPSS, HashAlg::Sha512) => key.verify(pss_any_salt::<Sha512>(), digest, sig),
        _ => return false,
    };
    result.is_ok()
}

/// Encrypts `msg` with OAEP (`label` as given, terminating zero included), RSAES
/// (PKCS#1 v1.5) or raw RSA (`TPM_ALG_NULL`). A message too long for the scheme is
/// TPM_RC_VALUE.
pub fn encrypt(
    key: &RsaPublicKey,
    scheme: u16,
    hash: Option<HashAlg>,
    label: &[u8],
    msg: &[u8],
    rng: &mut Drbg,
) -> TpmResult<Vec<u8>> {
    let size = key.size();
    let result = match scheme {
        alg::OAEP => {
            let label = label.to_vec();
            match hash.ok_or(Rc::SCHEME)? {
                HashAlg::Sha1 => key.encrypt(rng, Oaep::<Sha1>::new_with_label(label), msg),
                HashAlg::Sha256 => key.encrypt(rng, Oaep::<Sha256>::new_with_label(label), msg),
                HashAlg::Sha384 => key.encrypt(rng, Oaep::<Sha384>::new_with_label(label), msg),
                HashAlg::Sha512 => key.encrypt(rng, Oaep::<Sha512>::new_with_label(label), msg),
            }
        }
        alg::RSAES => key.encrypt(rng, rsa::Pkcs1v15Encrypt, msg),
        alg::NULL => {
            // Raw RSA: the message is a number below the modulus, left-padded.
            if msg.len() > size {
                return Err(Rc::VALUE);
            }
            let m =
                BoxedUint::from_be_slice(msg, key.n().bits_precision()).map_err(|_| Rc::VALUE)?;
            if !bool::from(m.ct_lt(key.n().as_ref())) {
                return Err(Rc::VALUE);
            }
            let c = rsa_encrypt(key, &m).map_err(|_| Rc::VALUE)?;
            return Ok(left_pad(&c.to_be_bytes(), size));
        }
        _ => return Err(Rc::SCHEME),
    };
    result.map_err(|_| Rc::VALUE)
}

fn left_pad(bytes: &[u8], size: usize) -> Vec<u8> {
    let start = bytes.len().saturating_sub(size);
    let trimmed = bytes.get(start..).unwrap_or(bytes);
    let mut out = vec![0u8; size.saturating_sub(trimmed.len())];
    out.extend_from_slice(trimmed);
    out
}

/// The raw RSA private operation on a key-sized block.
fn raw_decrypt(
    key: &RsaPrivateKey,
    cipher: &[u8],
    rng: &mut Drbg,
) -> TpmResult<Zeroizing<Vec<u8>>> {
    let size = key.size();
    if cipher.len() != size {
        return Err(Rc::SIZE);
    }
    let c = BoxedUint::from_be_slice(cipher, key.n().bits_precision()).map_err(|_| Rc::VALUE)?;
    if !bool::from(c.ct_lt(key.n().as_ref())) {
        return Err(Rc::VALUE);
    }
    let m = rsa_decrypt_and_check(key, Some(rng), &c).map_err(|_| Rc::VALUE)?;
    Ok(Zeroizing::new(left_pad(&m.to_be_bytes(), size)))
}

/// Removes RSAES-PKCS1-v1_5 padding (`00 02 PS 00 M`, PS at least 8 non-zero
/// octets), scanning the whole block whatever the input. Bad padding is
/// TPM_RC_VALUE, as TPM2_RSA_Decrypt specifies.
fn pkcs1_unpad(em: &[u8]) -> TpmResult<Vec<u8>> {
    let mut good = em.first().copied().unwrap_or(1).ct_eq(&0);
    good &= em.get(1).copied().unwrap_or(0).ct_eq(&2);
    let mut found = subtle::Choice::from(0);
    let mut index: usize = 0;
    for (i, &b) in em.iter().enumerate().skip(2) {
        let is_zero = b.ct_eq(&0);
        let first_zero = is_zero & !found;
        index = usize::conditional_select_ct(index, i, first_zero);
        found |= is_zero;
    }
    good &= found;
    // At least eight padding octets: the separator is at index 10 or later.
    good &= subtle::Choice::from(u8::from(index >= 10));
    if bool::from(good) {
        Ok(em.get(index.saturating_add(1)..).unwrap_or_default().to_vec())
    } else {
        Err(Rc::VALUE)
    }
}

trait CtSelect {
    fn conditional_select_ct(a: usize, b: usize, choice: subtle::Choice) -> usize;
}

impl CtSelect for usize {
    fn conditional_select_ct(a: usize, b: usize, choice: subtle::Choice) -> usize {
        let mask = usize::from(choice.unwrap_u8()).wrapping_neg();
        (a & !mask) | (b & mask)
    }
}

/// Decrypts with OAEP, RSAES or raw RSA. Any failure (wrong size, bad padding,
/// wrong label) is TPM_RC_VALUE.
pub fn decrypt(
    key: &RsaPrivateKey,
    scheme: u16,
    hash: Option<HashAlg>,
    label: &[u8],
    cipher: &[u8],
    rng: &mut Drbg,
) -> TpmResult<Zeroizing<Vec<u8>>> {
    if cipher.len() != key.size() {
        return Err(Rc::VALUE);
    }
    match scheme {
        alg::OAEP => {
            let label = label.to_vec();
            let result = match hash.ok_or(Rc::SCHEME)? {
                HashAlg::Sha1 => {
                    key.decrypt_blinded(rng, Oaep::<Sha1>::new_with_label(label), cipher)
                }
                HashAlg::Sha256 => {
                    key.decrypt_blinded(rng, Oaep::<Sha256>::new_with_label(label), cipher)
                }
                HashAlg::Sha384 => {
                    key.decrypt_blinded(rng, Oaep::<Sha384>::new_with_label(label), cipher)
                }
                HashAlg::Sha512 => {
                    key.decrypt_blinded(rng, Oaep::<Sha512>::new_with_label(label), cipher)
                }
            };
            result.map(Zeroizing::new).map_err(|_| Rc::VALUE)
        }
        alg::RSAES => {
            let em = raw_decrypt(key, cipher, rng)?;
            pkcs1_unpad(&em).map(Zeroizing::new)
        }
        alg::NULL => raw_decrypt(key, cipher, rng),
        _ => Err(Rc::SCHEME),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(seed: &[u8]) -> KdfStream {
        KdfStream::new(HashAlg::Sha256, seed, b"RSA", b"test")
    }

    #[test]
    fn generation_is_deterministic() {
        let a = generate(&mut stream(b"seed"), 1024, 0).unwrap();
        let b = generate(&mut stream(b"seed"), 1024, 0).unwrap();
        let c = generate(&mut stream(b"other"), 1024, 0).unwrap();
        assert_eq!(modulus(&a), modulus(&b));
        assert_ne!(modulus(&a), modulus(&c));
        assert_eq!(modulus(&a).len(), 128);
    }

    #[test]
    fn private_key_rebuilds_from_one_prime() {
        let key = generate(&mut stream(b"k"), 2048, 0).unwrap();
        let rebuilt = private_key(&modulus(&key), 0, &prime(&key)).unwrap();
        assert_eq!(modulus(&rebuilt), modulus(&key));
        let mut wrong = prime(&key).to_vec();
        wrong[0] ^= 1;
        assert_eq!(private_key(&modulus(&key), 0, &wrong).err(), Some(Rc::BINDING));
    }

    #[test]
    fn sign_and_verify_both_schemes() {
        let key = generate(&mut stream(b"s"), 2048, 0).unwrap();
        let public = key.to_public_key();
        let mut drbg = Drbg::from_seed([1; 32]);
        let digest = super::super::hash::digest(HashAlg::Sha256, b"msg");
        for scheme in [alg::RSASSA, alg::RSAPSS] {
            let sig = sign(&key, scheme, HashAlg::Sha256, &digest, &mut drbg).unwrap();
            assert!(verify(&public, scheme, HashAlg::Sha256, &digest, &sig));
            let mut bad = sig.clone();
            bad[10] ^= 1;
            assert!(!verify(&public, scheme, HashAlg::Sha256, &digest, &bad));
        }
    }

    #[test]
    fn encrypt_decrypt_all_schemes() {
        let key = generate(&mut stream(b"e"), 2048, 0).unwrap();
        let public = key.to_public_key();
        let mut drbg = Drbg::from_seed([2; 32]);
        for (scheme, hash, label) in [
            (alg::OAEP, Some(HashAlg::Sha256), &b"LABEL\0"[..]),
            (alg::OAEP, Some(HashAlg::Sha1), &b""[..]),
            (alg::RSAES, None, &b""[..]),
        ] {
            let c = encrypt(&public, scheme, hash, label, b"secret", &mut drbg).unwrap();
            let m = decrypt(&key, scheme, hash, label, &c, &mut drbg).unwrap();
            assert_eq!(&m[..], b"secret");
        }
        let c = encrypt(&public, alg::NULL, None, b"", &[5; 10], &mut drbg).unwrap();
        let m = decrypt(&key, alg::NULL, None, b"", &c, &mut drbg).unwrap();
        assert_eq!(&m[246..], &[5; 10]);
        let c =
            encrypt(&public, alg::OAEP, Some(HashAlg::Sha256), b"A\0", b"x", &mut drbg).unwrap();
        assert_eq!(
            decrypt(&key, alg::OAEP, Some(HashAlg::Sha256), b"B\0", &c, &mut drbg).err(),
            Some(Rc::VALUE)
        );
    }

    #[test]
    fn pkcs1_padding_errors() {
        let mut em = vec![0u8, 2];
        em.extend([7u8; 8]);
        em.push(0);
        em.extend(b"msg");
        assert_eq!(pkcs1_unpad(&em).unwrap(), b"msg");
        em[1] = 1;
        assert_eq!(pkcs1_unpad(&em), Err(Rc::VALUE));
        let short = [0u8, 2, 1, 1, 0, 9];
        assert_eq!(pkcs1_unpad(&short), Err(Rc::VALUE));
    }
}
