//! Cryptographic building blocks over RustCrypto: hashes and HMACs chosen at run
//! time, KDFa/KDFe, AES modes, RSA and ECC as TPM 2.0 Part 1 uses them.

pub mod ecc;
pub mod hash;
pub mod kdf;
pub mod rsa;
pub mod sym;

use subtle::ConstantTimeEq;

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `value` without trailing zero octets: how the TPM compares and uses authValues
/// (Part 1 §19.6.6: "trailing zeros are removed").
pub fn trim_trailing_zeros(value: &[u8]) -> &[u8] {
    let end = value.iter().rposition(|&b| b != 0).map_or(0, |i| i.saturating_add(1));
    value.get(..end).unwrap_or_default()
}
