//! Key material a vTPM keeps at the manager, and vTPM identifiers.

use crate::Error;
use core::fmt;
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The key material a vTPM stores with SAVEHASHKEY and gets back with LOADHASHKEY
/// (spec §3.2): 52 to 64 opaque bytes. The C vTPM sends 52 (SHA-1 ‖ AES-256 key); our
/// vTPM sends a 64-byte key record (see `vtpm-store`).
///
/// The manager keeps it zero-padded to 64 bytes and answers LOADHASHKEY with 52 bytes
/// when the last 12 are zero, else 64 (`vtpmmgr_LoadHashKey`). Equality is therefore
/// defined on the padded form, and is constant-time. The bytes are wiped on drop and
/// never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Hashkey {
    padded: [u8; Self::MAX_LEN],
    len: usize,
}

impl Hashkey {
    /// The shortest key material the manager accepts (the C vTPM's SHA-1 ‖ key).
    pub const MIN_LEN: usize = 52;
    /// The longest key material the manager stores.
    pub const MAX_LEN: usize = 64;

    /// Copies 52 to 64 bytes of key material.
    pub fn new(bytes: &[u8]) -> Result<Self, Error> {
        let len = bytes.len();
        let short = Error::HashkeyLength { len };
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(short);
        }
        let mut key = Self { padded: [0; Self::MAX_LEN], len };
        key.padded.get_mut(..len).ok_or(short)?.copy_from_slice(bytes);
        Ok(key)
    }

    /// Key material as the manager stores it: 64 bytes, zero-padded.
    pub fn from_padded(padded: &[u8; Self::MAX_LEN]) -> Self {
        Self { padded: *padded, len: Self::MAX_LEN }
    }

    /// The bytes as given (52 to 64 of them).
    pub fn as_bytes(&self) -> &[u8] {
        self.padded.get(..self.len).unwrap_or(&self.padded)
    }

    /// The 64-byte zero-padded form the manager stores.
    pub fn padded(&self) -> &[u8; Self::MAX_LEN] {
        &self.padded
    }

    /// The bytes the manager returns for LOADHASHKEY: the first 52 if the remaining 12
    /// are zero, else all 64 (`vtpmmgr_LoadHashKey`). A C vTPM accepts only the
    /// 52-byte answer, which is what it gets for what it saved.
    pub fn load_reply_bytes(&self) -> &[u8] {
        let (short, tail) = self.padded.split_at(Self::MIN_LEN);
        if tail.iter().all(|b| *b == 0) { short } else { &self.padded }
    }

    /// True if all 64 padded bytes are zero: the record VTPM_NEW creates for a vTPM
    /// that has never saved.
    pub fn is_zero(&self) -> bool {
        self.padded.iter().fold(0u8, |acc, b| acc | b) == 0
    }
}

impl ConstantTimeEq for Hashkey {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.padded.ct_eq(&other.padded)
    }
}

impl PartialEq for Hashkey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Hashkey {}

impl fmt::Debug for Hashkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The length is not secret; the bytes are.
        write!(f, "Hashkey({} bytes, redacted)", self.len)
    }
}

/// A vTPM's identity at the manager: the 16-byte UUID from the `uuid` node of the
/// manager's backend directory (spec §3.5), in the byte order the toolstack's UUID
/// string spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl From<[u8; 16]> for Uuid {
    fn from(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Uuid {
    /// The canonical 8-4-4-4-12 lower-case form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn hashkey_length_limits() {
        assert_eq!(Hashkey::new(&[1; 51]).unwrap_err(), Error::HashkeyLength { len: 51 });
        assert_eq!(Hashkey::new(&[1; 65]).unwrap_err(), Error::HashkeyLength { len: 65 });
        assert_eq!(Hashkey::new(&[1; 52]).unwrap().as_bytes(), &[1; 52]);
        assert_eq!(Hashkey::new(&[1; 64]).unwrap().as_bytes(), &[1; 64]);
    }

    #[test]
    fn hashkey_equality_is_on_the_padded_form() {
        let mut long = [7u8; 64];
        long[52..].fill(0);
        assert_eq!(Hashkey::new(&long).unwrap(), Hashkey::new(&[7; 52]).unwrap());
        assert_ne!(Hashkey::new(&[7; 53]).unwrap(), Hashkey::new(&[7; 52]).unwrap());
    }

    #[test]
    fn hashkey_load_reply_follows_the_c_manager() {
        assert_eq!(Hashkey::new(&[7; 60]).unwrap().load_reply_bytes().len(), 64);
        let mut zero_tail = [7u8; 64];
        zero_tail[52..].fill(0);
        assert_eq!(Hashkey::new(&zero_tail).unwrap().load_reply_bytes(), &[7; 52]);
    }

    #[test]
    fn hashkey_debug_never_prints_bytes() {
        let text = format!("{:?}", Hashkey::new(&[0xAB; 52]).unwrap());
        assert_eq!(text, "Hashkey(52 bytes, redacted)");
    }

    #[test]
    fn uuid_display_is_canonical() {
        let uuid = Uuid([
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ]);
        assert_eq!(format!("{uuid}"), "12345678-9abc-def0-0123-456789abcdef");
    }
}
