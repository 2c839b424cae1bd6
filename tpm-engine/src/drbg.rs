//! The engines' only source of randomness: ChaCha20 keyed by the caller.
//!
//! The stub domain seeds it from the hardware TPM (through the manager), the host tool
//! from the operating system, tests from a constant. It is never part of a state blob:
//! a restored engine must not replay the random numbers of the run it was saved from,
//! so every engine object gets a fresh seed.

use chacha20::ChaCha20Rng;
use core::convert::Infallible;
use core::fmt;
use rand_core::{SeedableRng, TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Domain separator for seeds derived by hashing.
const SEED_LABEL: &[u8] = b"vtpm drbg seed v1";
/// Domain separator for reseeding.
const RESEED_LABEL: &[u8] = b"vtpm drbg reseed v1";

/// A cryptographically secure generator seeded by the caller. The key is wiped on
/// drop.
pub struct Drbg {
    rng: ChaCha20Rng,
}

impl Drbg {
    /// A generator keyed directly by 32 bytes of full-entropy seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let seed = Zeroizing::new(seed);
        Self { rng: ChaCha20Rng::from_seed(*seed) }
    }

    /// A generator keyed by SHA-256 of arbitrary entropy input (any length; it
    /// should carry at least 256 bits of entropy).
    pub fn from_entropy(entropy: &[u8]) -> Self {
        let mut hash = Sha256::new();
        hash.update(SEED_LABEL);
        hash.update(entropy);
        Self::from_seed(hash.finalize().into())
    }

    /// Mixes more entropy in: the new key is SHA-256 over 32 bytes of the current
    /// output and the input, so neither the old state nor the input alone determines
    /// the new one.
    pub fn reseed(&mut self, entropy: &[u8]) {
        let mut current = Zeroizing::new([0u8; 32]);
        self.fill(&mut current[..]);
        let mut hash = Sha256::new();
        hash.update(RESEED_LABEL);
        hash.update(&current[..]);
        hash.update(entropy);
        self.rng = ChaCha20Rng::from_seed(hash.finalize().into());
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        let Ok(()) = self.rng.try_fill_bytes(out);
    }
}

impl fmt::Debug for Drbg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print generator state.
        f.write_str("Drbg { .. }")
    }
}

impl TryRng for Drbg {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.rng.try_next_u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.rng.try_next_u64()
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.rng.try_fill_bytes(dst)
    }
}

impl TryCryptoRng for Drbg {}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(drbg: &mut Drbg) -> [u8; 32] {
        let mut out = [0u8; 32];
        drbg.fill(&mut out);
        out
    }

    #[test]
    fn same_seed_gives_same_stream() {
        assert_eq!(bytes(&mut Drbg::from_seed([7; 32])), bytes(&mut Drbg::from_seed([7; 32])));
    }

    #[test]
    fn different_seeds_give_different_streams() {
        assert_ne!(bytes(&mut Drbg::from_seed([7; 32])), bytes(&mut Drbg::from_seed([8; 32])));
    }

    #[test]
    fn reseed_changes_the_stream() {
        let mut a = Drbg::from_seed([1; 32]);
        let mut b = Drbg::from_seed([1; 32]);
        b.reseed(b"more entropy");
        assert_ne!(bytes(&mut a), bytes(&mut b));
    }

    #[test]
    fn reseed_depends_on_the_input() {
        let mut a = Drbg::from_seed([1; 32]);
        let mut b = Drbg::from_seed([1; 32]);
        a.reseed(b"one");
        b.reseed(b"two");
        assert_ne!(bytes(&mut a), bytes(&mut b));
    }

    #[test]
    fn from_entropy_is_not_the_raw_seed() {
        assert_ne!(bytes(&mut Drbg::from_entropy(&[3; 32])), bytes(&mut Drbg::from_seed([3; 32])));
    }
}
