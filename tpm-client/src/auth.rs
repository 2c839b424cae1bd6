//! Authorisation values from the manager's options (`owner_auth=`, `srk_auth=`).
//!
//! The syntax is the C vtpmmgr's (docs/manager-trust.md "Options"): `well-known`,
//! `hash:<hex>` or `text:<string>`. The family is not known when options are parsed, so a
//! value is kept as written and turned into the family's form when it is used:
//!
//! | spec | TPM 1.2 (20-byte TPM_AUTHDATA) | TPM 2.0 (TPM2B_AUTH) |
//! |---|---|---|
//! | `well-known` | 20 zero bytes (TPM 1.2 Part 1 §15: the well-known secret) | empty |
//! | `hash:<hex>` | exactly 20 bytes | the bytes, at most 64 |
//! | `text:<s>` | SHA-1 of the UTF-8 bytes (what TSS 1.2 tools do) | the UTF-8 bytes, at most 64 (what tpm2-tools `str:` does) |
//!
//! The C parser read each byte with an unbounded `%hhX` (specs §5.9); here every byte
//! is exactly two hex digits.

use alloc::vec::Vec;
use core::fmt;

use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use crate::ConfigError;

/// Length of a TPM 1.2 TPM_AUTHDATA (a SHA-1 digest).
pub(crate) const TPM12_AUTH_LEN: usize = 20;

/// The longest TPM 2.0 auth value accepted: sizeof(TPMU_HA), the bound of TPM2B_AUTH
/// (TPM 2.0 Part 2 §10.4.5). A TPM whose hierarchies use a shorter digest refuses
/// longer values itself.
pub(crate) const TPM2_AUTH_MAX: usize = 64;

/// An authorisation value as configured. Secret bytes are wiped on drop and never
/// printed.
#[derive(Clone, Default)]
pub enum AuthValue {
    /// `well-known`: the family's well-known value.
    #[default]
    WellKnown,
    /// `hash:<hex>`: the bytes given.
    Hash(Zeroizing<Vec<u8>>),
    /// `text:<string>`: a passphrase.
    Text(Zeroizing<Vec<u8>>),
}

impl AuthValue {
    /// Parses an option value.
    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        if spec == "well-known" {
            return Ok(Self::WellKnown);
        }
        if let Some(text) = spec.strip_prefix("text:") {
            return Ok(Self::Text(Zeroizing::new(text.as_bytes().to_vec())));
        }
        let Some(hex) = spec.strip_prefix("hash:") else {
            return Err(ConfigError::AuthScheme);
        };
        let digits = hex.as_bytes();
        if digits.is_empty() || digits.len() % 2 != 0 {
            return Err(ConfigError::HexLength);
        }
        let found = digits.len() / 2;
        if found > TPM2_AUTH_MAX {
            return Err(ConfigError::AuthTooLong { max: TPM2_AUTH_MAX, found });
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(found));
        for (index, pair) in digits.chunks_exact(2).enumerate() {
            let position = index * 2;
            let &[high, low] = pair else {
                return Err(ConfigError::HexLength);
            };
            let high = hex_value(high).ok_or(ConfigError::HexDigit { position })?;
            let low = hex_value(low).ok_or(ConfigError::HexDigit { position: position + 1 })?;
            bytes.push(high << 4 | low);
        }
        Ok(Self::Hash(bytes))
    }

    /// The value as a TPM 1.2 TPM_AUTHDATA.
    pub fn tpm12(&self) -> Result<Zeroizing<[u8; TPM12_AUTH_LEN]>, ConfigError> {
        let mut out = Zeroizing::new([0u8; TPM12_AUTH_LEN]);
        match self {
            Self::WellKnown => {}
            Self::Hash(bytes) => {
                if bytes.len() != TPM12_AUTH_LEN {
                    return Err(ConfigError::AuthLength {
                        expected: TPM12_AUTH_LEN,
                        found: bytes.len(),
                    });
                }
                out.copy_from_slice(bytes);
            }
            Self::Text(text) => out.copy_from_slice(&Sha1::digest(text.as_slice())),
        }
        Ok(out)
    }

    /// The value as a TPM 2.0 TPM2B_AUTH buffer.
    pub fn tpm2(&self) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
        match self {
            Self::WellKnown => Ok(Zeroizing::new(Vec::new())),
            Self::Hash(bytes) | Self::Text(bytes) => {
                if bytes.len() > TPM2_AUTH_MAX {
                    return Err(ConfigError::AuthTooLong {
                        max: TPM2_AUTH_MAX,
                        found: bytes.len(),
                    });
                }
                Ok(bytes.clone())
            }
        }
    }
}

impl fmt::Debug for AuthValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret, not even its length.
        f.write_str(match self {
            Self::WellKnown => "AuthValue::WellKnown",
            Self::Hash(_) => "AuthValue::Hash(..)",
            Self::Text(_) => "AuthValue::Text(..)",
        })
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;
    use proptest::prelude::*;

    #[test]
    fn well_known_is_zeros_for_tpm12_and_empty_for_tpm2() {
        let auth = AuthValue::parse("well-known").unwrap();
        assert_eq!(*auth.tpm12().unwrap(), [0u8; 20]);
        assert!(auth.tpm2().unwrap().is_empty());
    }

    #[test]
    fn text_is_sha1_for_tpm12_and_bytes_for_tpm2() {
        let auth = AuthValue::parse("text:owner").unwrap();
        // SHA-1("owner")
        let expected = Sha1::digest(b"owner");
        assert_eq!(auth.tpm12().unwrap().as_slice(), expected.as_slice());
        assert_eq!(auth.tpm2().unwrap().as_slice(), b"owner");
    }

    #[test]
    fn hash_reads_two_digits_per_byte() {
        let auth = AuthValue::parse("hash:00A1ff").unwrap();
        assert_eq!(auth.tpm2().unwrap().as_slice(), &[0x00, 0xA1, 0xFF]);
    }

    #[test]
    fn hash_of_wrong_length_is_refused_for_tpm12() {
        let auth = AuthValue::parse("hash:0102").unwrap();
        assert_eq!(auth.tpm12(), Err(ConfigError::AuthLength { expected: 20, found: 2 }));
    }

    #[test]
    fn hash_with_odd_digit_count_is_refused() {
        assert!(matches!(AuthValue::parse("hash:abc"), Err(ConfigError::HexLength)));
        assert!(matches!(AuthValue::parse("hash:"), Err(ConfigError::HexLength)));
    }

    #[test]
    fn hash_with_non_hex_digit_names_its_position() {
        assert!(matches!(
            AuthValue::parse("hash:00g0"),
            Err(ConfigError::HexDigit { position: 2 })
        ));
        assert!(matches!(AuthValue::parse("hash:0+"), Err(ConfigError::HexDigit { position: 1 })));
    }

    #[test]
    fn unknown_scheme_is_refused() {
        assert!(matches!(AuthValue::parse("random"), Err(ConfigError::AuthScheme)));
        assert!(matches!(AuthValue::parse("Hash:00"), Err(ConfigError::AuthScheme)));
    }

    #[test]
    fn debug_hides_the_secret() {
        let auth = AuthValue::parse("text:hunter2").unwrap();
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    proptest! {
        #[test]
        fn hash_round_trips(bytes in proptest::collection::vec(any::<u8>(), 1..=64)) {
            let auth = AuthValue::parse(&format!("hash:{}", hex(&bytes))).unwrap();
            prop_assert_eq!(auth.tpm2().unwrap().to_vec(), bytes.clone());
            let upper = AuthValue::parse(&format!("hash:{}", hex(&bytes).to_uppercase())).unwrap();
            prop_assert_eq!(upper.tpm2().unwrap().to_vec(), bytes.clone());
            prop_assert_eq!(auth.tpm12().is_ok(), bytes.len() == 20);
        }

        #[test]
        fn hash_longer_than_64_bytes_is_refused(bytes in proptest::collection::vec(any::<u8>(), 65..100)) {
            let result = AuthValue::parse(&format!("hash:{}", hex(&bytes)));
            prop_assert!(matches!(result, Err(ConfigError::AuthTooLong { max: 64, .. })), "{:?}", result);
        }

        #[test]
        fn text_gives_its_utf8_bytes(text in "\\PC{0,64}") {
            let auth = AuthValue::parse(&format!("text:{text}")).unwrap();
            match auth.tpm2() {
                Ok(bytes) => prop_assert_eq!(bytes.as_slice(), text.as_bytes()),
                Err(e) => prop_assert_eq!(e, ConfigError::AuthTooLong { max: 64, found: text.len() }),
            }
            let expected: [u8; 20] = Sha1::digest(text.as_bytes()).into();
            prop_assert_eq!(*auth.tpm12().unwrap(), expected);
        }

        #[test]
        fn any_input_parses_or_gives_a_typed_error(spec in "\\PC{0,80}") {
            // Never panics; anything but the three schemes is AuthScheme.
            match AuthValue::parse(&spec) {
                Ok(auth) => {
                    let _ = auth.tpm12();
                    let _ = auth.tpm2();
                }
                Err(ConfigError::AuthScheme) => {
                    prop_assert!(spec != "well-known" && !spec.starts_with("text:") && !spec.starts_with("hash:"));
                }
                Err(_) => prop_assert!(spec.starts_with("hash:")),
            }
        }
    }
}
