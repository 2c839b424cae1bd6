//! The TPM's key derivation functions: KDFa (SP800-108 counter mode with HMAC,
//! TPM 2.0 Part 1 §11.4.10.2) and KDFe (SP800-56A concatenation KDF, §11.4.10.3).

use super::hash::{Hasher, HmacState};
use crate::types::HashAlg;
use alloc::vec::Vec;
use zeroize::Zeroizing;

/// Appends the label with its terminating zero: Part 1 §11.4.10.2 says a label
/// without one gets one (an empty label contributes a lone zero octet, as in the
/// reference code).
fn label_bytes(label: &[u8]) -> Vec<u8> {
    let mut out = label.to_vec();
    if out.last() != Some(&0) {
        out.push(0);
    }
    out
}

/// KDFa(hashAlg, key, label, contextU, contextV, bits): `bits.div_ceil(8)` bytes;
/// when `bits` is not a multiple of 8 the excess high-order bits of the first octet
/// are cleared, as Part 1 specifies.
pub fn kdfa(
    alg: HashAlg,
    key: &[u8],
    label: &[u8],
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let len = usize::try_from(bits.div_ceil(8)).unwrap_or(0);
    let label = label_bytes(label);
    let mut out = Zeroizing::new(Vec::with_capacity(len.saturating_add(alg.size())));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut m = HmacState::new(alg, key);
        m.update(&counter.to_be_bytes())
            .update(&label)
            .update(context_u)
            .update(context_v)
            .update(&bits.to_be_bytes());
        out.extend_from_slice(&m.finish());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    if !bits.is_multiple_of(8)
        && let Some(first) = out.first_mut()
    {
        *first &= 0xFF >> (8 - bits % 8);
    }
    out
}

/// KDFe(hashAlg, Z, label, partyUInfo, partyVInfo, bits): the one-step KDF of
/// SP800-56A used with ECC secrets (salted sessions, credentials, duplication).
pub fn kdfe(
    alg: HashAlg,
    z: &[u8],
    label: &[u8],
    party_u: &[u8],
    party_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let len = usize::try_from(bits.div_ceil(8)).unwrap_or(0);
    let label = label_bytes(label);
    let mut out = Zeroizing::new(Vec::with_capacity(len.saturating_add(alg.size())));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut h = Hasher::new(alg);
        h.update_u32(counter).update(z).update(&label).update(party_u).update(party_v);
        out.extend_from_slice(&h.finish());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    if !bits.is_multiple_of(8)
        && let Some(first) = out.first_mut()
    {
        *first &= 0xFF >> (8 - bits % 8);
    }
    out
}

/// A deterministic byte stream from KDFa with a running counter, the "DRBG seeded
/// from the primary seed" that primary-key derivation draws from. Each block is
/// KDFa(alg, seed, label, context, counter, digest bits), so the stream depends only
/// on its inputs and never repeats a block.
#[derive(Debug)]
pub struct KdfStream {
    alg: HashAlg,
    seed: Zeroizing<Vec<u8>>,
    label: Vec<u8>,
    context: Vec<u8>,
    counter: u32,
    buffer: Zeroizing<Vec<u8>>,
}

impl KdfStream {
    /// A stream keyed by `seed`, separated by `label` and `context`.
    pub fn new(alg: HashAlg, seed: &[u8], label: &[u8], context: &[u8]) -> Self {
        KdfStream {
            alg,
            seed: Zeroizing::new(seed.to_vec()),
            label: label.to_vec(),
            context: context.to_vec(),
            counter: 0,
            buffer: Zeroizing::new(Vec::new()),
        }
    }

    /// Fills `out` with the next bytes of the stream.
    pub fn fill(&mut self, out: &mut [u8]) {
        for byte in out.iter_mut() {
            if self.buffer.is_empty() {
                self.counter = self.counter.wrapping_add(1);
                let block = kdfa(
                    self.alg,
                    &self.seed,
                    &self.label,
                    &self.context,
                    &self.counter.to_be_bytes(),
                    self.alg.bits(),
                );
                self.buffer.extend(block.iter().rev());
            }
            *byte = self.buffer.pop().unwrap_or(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// The KDFa self-test vectors of the TCG reference implementation
    /// (KdfTestData.h): a 20-byte key, label "KDFSELFTESTLABEL", 8-byte contexts,
    /// 160 bits of output, for each hash.
    #[test]
    fn kdfa_reference_self_test_vectors() {
        let key = hex("271fa08bbdc5060ec3dfa928ff9b73123a12da0c");
        let u = hex("ce244f395dca7391");
        let v = hex("da504031ddf12e83");
        for (alg, expected) in [
            (HashAlg::Sha1, "55b5a7184aa07423c47dae766c26a2377d7cf851"),
            (HashAlg::Sha256, "bb0259e1c8ba607e6a2cd704b69a902e9ade84c4"),
            (HashAlg::Sha384, "1dce70c9113eb2dba47bd9cfc72bf46f45b09312"),
            (HashAlg::Sha512, "8be2c1b85b78569b9fa759f5857c56d684810fd3"),
        ] {
            assert_eq!(*kdfa(alg, &key, b"KDFSELFTESTLABEL", &u, &v, 160), hex(expected));
            // The terminating zero is added only when missing.
            assert_eq!(*kdfa(alg, &key, b"KDFSELFTESTLABEL\0", &u, &v, 160), hex(expected));
        }
    }

    #[test]
    fn kdfa_first_block_is_one_hmac() {
        // KDFa with bits = digest size is exactly one HMAC over
        // [1]32 ‖ label ‖ 00 ‖ U ‖ V ‖ [bits]32.
        let key = b"key";
        let expected = super::super::hash::hmac(
            HashAlg::Sha256,
            key,
            &[&1u32.to_be_bytes(), b"ATH\0", b"u", b"v", &256u32.to_be_bytes()],
        );
        assert_eq!(*kdfa(HashAlg::Sha256, key, b"ATH", b"u", b"v", 256), expected);
    }

    #[test]
    fn kdfa_odd_bit_counts_mask_the_first_octet() {
        let out = kdfa(HashAlg::Sha1, b"k", b"L", b"", b"", 12);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0] & 0xF0, 0);
    }

    #[test]
    fn kdfe_first_block_is_one_hash() {
        let expected = super::super::hash::digest_parts(
            HashAlg::Sha256,
            &[&1u32.to_be_bytes(), b"Z", b"SECRET\0", b"u", b"v"],
        );
        assert_eq!(*kdfe(HashAlg::Sha256, b"Z", b"SECRET", b"u", b"v", 256), expected);
    }

    #[test]
    fn stream_is_deterministic_and_continuous() {
        let mut a = KdfStream::new(HashAlg::Sha256, b"seed", b"RSA", b"ctx");
        let mut whole = [0u8; 100];
        a.fill(&mut whole);
        let mut b = KdfStream::new(HashAlg::Sha256, b"seed", b"RSA", b"ctx");
        let mut first = [0u8; 33];
        let mut rest = [0u8; 67];
        b.fill(&mut first);
        b.fill(&mut rest);
        assert_eq!(&whole[..33], &first);
        assert_eq!(&whole[33..], &rest);
    }
}
