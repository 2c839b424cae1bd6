//! Hashes and HMACs over the algorithms the TPM supports, chosen at run time.

use crate::types::HashAlg;
use alloc::vec::Vec;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::digest::common::hazmat::SerializableState;
use sha2::{Digest, Sha256, Sha384, Sha512};
use zeroize::{Zeroize, Zeroizing};

/// A running hash whose algorithm is picked at run time.
#[derive(Clone, Debug)]
pub enum Hasher {
    /// SHA-1.
    Sha1(Sha1),
    /// SHA-256.
    Sha256(Sha256),
    /// SHA-384.
    Sha384(Sha384),
    /// SHA-512.
    Sha512(Sha512),
}

impl Hasher {
    /// Starts a hash.
    pub fn new(alg: HashAlg) -> Self {
        match alg {
            HashAlg::Sha1 => Hasher::Sha1(Sha1::new()),
            HashAlg::Sha256 => Hasher::Sha256(Sha256::new()),
            HashAlg::Sha384 => Hasher::Sha384(Sha384::new()),
            HashAlg::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// The algorithm.
    pub fn alg(&self) -> HashAlg {
        match self {
            Hasher::Sha1(_) => HashAlg::Sha1,
            Hasher::Sha256(_) => HashAlg::Sha256,
            Hasher::Sha384(_) => HashAlg::Sha384,
            Hasher::Sha512(_) => HashAlg::Sha512,
        }
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
        self
    }

    /// Adds a big-endian `u32` (command codes, response codes, counters).
    pub fn update_u32(&mut self, value: u32) -> &mut Self {
        self.update(&value.to_be_bytes())
    }

    /// Finishes the hash.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }

    /// The internal state, for the volatile state blob (a hash sequence in flight).
    pub fn save(&self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.serialize().to_vec(),
            Hasher::Sha256(h) => h.serialize().to_vec(),
            Hasher::Sha384(h) => h.serialize().to_vec(),
            Hasher::Sha512(h) => h.serialize().to_vec(),
        }
    }

    /// Rebuilds a hash from [`Hasher::save`] output; `None` if the bytes are not a
    /// valid state.
    pub fn restore(alg: HashAlg, state: &[u8]) -> Option<Self> {
        fn load<T: SerializableState>(state: &[u8]) -> Option<T> {
            let array = state.try_into().ok()?;
            T::deserialize(array).ok()
        }
        Some(match alg {
            HashAlg::Sha1 => Hasher::Sha1(load(state)?),
            HashAlg::Sha256 => Hasher::Sha256(load(state)?),
            HashAlg::Sha384 => Hasher::Sha384(load(state)?),
            HashAlg::Sha512 => Hasher::Sha512(load(state)?),
        })
    }
}

/// The digest of the concatenation of `parts`.
pub fn digest_parts(alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Hasher::new(alg);
    for part in parts {
        h.update(part);
    }
    h.finish()
}

/// The digest of `data`.
pub fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    digest_parts(alg, &[data])
}

/// A running HMAC whose algorithm is picked at run time.
#[derive(Clone)]
pub enum HmacState {
    /// HMAC-SHA-1.
    Sha1(Hmac<Sha1>),
    /// HMAC-SHA-256.
    Sha256(Hmac<Sha256>),
    /// HMAC-SHA-384.
    Sha384(Hmac<Sha384>),
    /// HMAC-SHA-512.
    Sha512(Hmac<Sha512>),
}

impl core::fmt::Debug for HmacState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HmacState { .. }")
    }
}

impl HmacState {
    /// Starts an HMAC keyed with `key` (any length, as RFC 2104 allows).
    pub fn new(alg: HashAlg, key: &[u8]) -> Self {
        // HMAC accepts keys of any length, so new_from_slice cannot fail; the
        // fallbacks only keep the code free of panics.
        match alg {
            HashAlg::Sha1 => HmacState::Sha1(
                Hmac::new_from_slice(key).unwrap_or_else(|_| Hmac::new(&Default::default())),
            ),
            HashAlg::Sha256 => HmacState::Sha256(
                Hmac::new_from_slice(key).unwrap_or_else(|_| Hmac::new(&Default::default())),
            ),
            HashAlg::Sha384 => HmacState::Sha384(
                Hmac::new_from_slice(key).unwrap_or_else(|_| Hmac::new(&Default::default())),
            ),
            HashAlg::Sha512 => HmacState::Sha512(
                Hmac::new_from_slice(key).unwrap_or_else(|_| Hmac::new(&Default::default())),
            ),
        }
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        match self {
            HmacState::Sha1(m) => m.update(data),
            HmacState::Sha256(m) => m.update(data),
            HmacState::Sha384(m) => m.update(data),
            HmacState::Sha512(m) => m.update(data),
        }
        self
    }

    /// Finishes the HMAC.
    pub fn finish(self) -> Vec<u8> {
        match self {
            HmacState::Sha1(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Sha256(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Sha384(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Sha512(m) => m.finalize().into_bytes().to_vec(),
        }
    }
}

/// HMAC of the concatenation of `parts`.
pub fn hmac(alg: HashAlg, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = HmacState::new(alg, key);
    for part in parts {
        m.update(part);
    }
    m.finish()
}

/// An HMAC built from two [`Hasher`]s (RFC 2104), so that its state can be saved
/// in the volatile state blob: the `hmac` crate's state is not serialisable, and an
/// HMAC sequence (TPM2_HMAC_Start) may be in flight when the state is captured.
#[derive(Clone, Debug)]
pub struct SavableHmac {
    inner: Hasher,
    /// The key XOR opad, one hash block long.
    outer_key: Zeroizing<Vec<u8>>,
}

impl SavableHmac {
    /// Starts an HMAC keyed with `key`.
    pub fn new(alg: HashAlg, key: &[u8]) -> Self {
        let block = alg.block_size();
        let mut k = Zeroizing::new(if key.len() > block { digest(alg, key) } else { key.to_vec() });
        k.resize(block, 0);
        let mut ipad = Zeroizing::new(k.iter().map(|b| b ^ 0x36).collect::<Vec<u8>>());
        let outer_key = Zeroizing::new(k.iter().map(|b| b ^ 0x5c).collect::<Vec<u8>>());
        let mut inner = Hasher::new(alg);
        inner.update(&ipad);
        ipad.zeroize();
        SavableHmac { inner, outer_key }
    }

    /// The algorithm.
    pub fn alg(&self) -> HashAlg {
        self.inner.alg()
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// Finishes the HMAC.
    pub fn finish(self) -> Vec<u8> {
        let alg = self.inner.alg();
        let inner = self.inner.finish();
        digest_parts(alg, &[&self.outer_key, &inner])
    }

    /// Saved state: the inner hash state and the outer key.
    pub fn save(&self) -> (Vec<u8>, Zeroizing<Vec<u8>>) {
        (self.inner.save(), self.outer_key.clone())
    }

    /// Rebuilds an HMAC from [`SavableHmac::save`] output.
    pub fn restore(alg: HashAlg, inner: &[u8], outer_key: &[u8]) -> Option<Self> {
        if outer_key.len() != alg.block_size() {
            return None;
        }
        Some(SavableHmac {
            inner: Hasher::restore(alg, inner)?,
            outer_key: Zeroizing::new(outer_key.to_vec()),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::cast_possible_truncation)]
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            digest(HashAlg::Sha256, b"abc"),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn savable_hmac_matches_the_hmac_crate() {
        for alg in HashAlg::ALL {
            for key_len in [0usize, 20, 64, 100, 200] {
                let key: Vec<u8> = (0..key_len).map(|i| (i % 251) as u8).collect();
                let mut m = SavableHmac::new(alg, &key);
                m.update(b"hello ");
                let (inner, outer) = m.save();
                let mut m = SavableHmac::restore(alg, &inner, &outer).unwrap();
                m.update(b"world");
                assert_eq!(m.finish(), hmac(alg, &key, &[b"hello world"]));
            }
        }
    }

    #[test]
    fn hasher_state_survives_save_and_restore() {
        for alg in HashAlg::ALL {
            let mut h = Hasher::new(alg);
            h.update(&[7u8; 300]);
            let mut restored = Hasher::restore(alg, &h.save()).unwrap();
            h.update(b"tail");
            restored.update(b"tail");
            assert_eq!(h.finish(), restored.finish());
            assert!(Hasher::restore(alg, &[1, 2, 3]).is_none());
        }
    }

    #[test]
    fn rfc4231_case_2() {
        assert_eq!(
            hmac(HashAlg::Sha256, b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }
}
