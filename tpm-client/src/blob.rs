//! The sealed root: the bytes the key store keeps on disk, versioned.
//!
//! Layout (big-endian), version 1:
//!
//! | field | size | |
//! |---|---|---|
//! | magic | 4 | `XVSR` |
//! | version | 1 | 1 |
//! | family | 1 | 1 = TPM 1.2, 2 = TPM 2.0 (`tpm_engine::Family` codes) |
//! | locality | 1 | the locality the secret is released to, 0-4 |
//! | PCR selection | 3 | TCG bitmap of the PCRs it is bound to |
//! | TPM 2.0 body | | storage key template `u8` (1 RSA-2048, 2 ECC P-256), persistent handle `u32` (0 = none), storage key name `u16`+34, TPM2B_PRIVATE contents `u16`+n, TPM2B_PUBLIC contents `u16`+n |
//! | TPM 1.2 body | | TPM_STORED_DATA12 `u16`+n |
//!
//! Nothing in the blob is secret: the private part is encrypted by the TPM, and the
//! rest says what the secret is bound to. Everything is checked on parse, and a blob
//! is at most [`MAX_SEALED_ROOT`] bytes (the key store's limit, mgr-store
//! `MAX_SEALED_BLOB`).

use alloc::vec::Vec;
use core::fmt;

use tpm_engine::Family;
use tpm_engine::wire::{Reader, Writer};

use ::tpm2::types::{Public, Unmarshal, alg};

use crate::pcr::SELECT_BYTES;
use crate::tpm2::wire::{self as w2, StorageAlg};
use crate::tpm2::{Parent, Sealed};
use crate::{BlobError, PcrSelection, tpm12};

/// The largest sealed root, in bytes.
pub const MAX_SEALED_ROOT: usize = 1024;

const MAGIC: [u8; 4] = *b"XVSR";
const VERSION: u8 = 1;
/// A SHA-256 object name: nameAlg + digest.
const NAME_LEN: usize = 2 + w2::SHA256_LEN;

/// A root secret sealed by the hardware TPM, as stored on disk.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRoot {
    pub(crate) family: Family,
    pub(crate) locality: u8,
    pub(crate) pcrs: PcrSelection,
    pub(crate) body: Body,
}

/// The family-specific part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    Tpm2(Sealed),
    Tpm12(Vec<u8>),
}

impl SealedRoot {
    /// The family of the TPM that sealed it.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The PCRs the secret is bound to.
    pub fn pcrs(&self) -> PcrSelection {
        self.pcrs
    }

    /// The locality the secret is released to.
    pub fn locality(&self) -> u8 {
        self.locality
    }

    /// The blob's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(512);
        w.bytes(&MAGIC).u8(VERSION).u8(self.family.code()).u8(self.locality);
        w.bytes(&self.pcrs.select_bytes());
        match &self.body {
            Body::Tpm2(sealed) => {
                w.u8(sealed.parent.storage.code()).u32(sealed.parent.persistent.unwrap_or(0));
                w2::push_sized(&mut w, &sealed.parent_name);
                w2::push_sized(&mut w, &sealed.private);
                w2::push_sized(&mut w, &sealed.public);
            }
            Body::Tpm12(stored) => w2::push_sized(&mut w, stored),
        }
        w.into_vec()
    }

    /// Parses and checks a blob.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlobError> {
        if bytes.len() > MAX_SEALED_ROOT {
            return Err(BlobError::TooLarge);
        }
        let mut r = Reader::new(bytes);
        if r.array::<4>()? != MAGIC {
            return Err(BlobError::BadMagic);
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(BlobError::UnsupportedVersion(version));
        }
        let family = Family::from_code(r.u8()?).ok_or(BlobError::Malformed)?;
        let locality = r.u8()?;
        if locality > 4 {
            return Err(BlobError::Malformed);
        }
        let pcrs =
            PcrSelection::from_select_bytes(r.bytes(SELECT_BYTES)?).ok_or(BlobError::Malformed)?;
        let body = match family {
            Family::Tpm20 => Body::Tpm2(read_tpm2(&mut r)?),
            Family::Tpm12 => {
                let stored = r.sized_u16(tpm12::wire::MAX_STORED_DATA)?;
                tpm12::wire::check_stored_data(stored).map_err(|_| BlobError::Malformed)?;
                Body::Tpm12(stored.to_vec())
            }
        };
        r.finish()?;
        Ok(Self { family, locality, pcrs, body })
    }
}

fn read_tpm2(r: &mut Reader<'_>) -> Result<Sealed, BlobError> {
    let storage = StorageAlg::from_code(r.u8()?).ok_or(BlobError::Malformed)?;
    let persistent = match r.u32()? {
        0 => None,
        handle if (0x8100_0000..=0x817F_FFFF).contains(&handle) => Some(handle),
        _ => return Err(BlobError::Malformed),
    };
    let parent_name = r.sized_u16(NAME_LEN)?;
    if parent_name.len() != NAME_LEN || parent_name.get(..2) != Some(&alg::SHA256.to_be_bytes()) {
        return Err(BlobError::Malformed);
    }
    let private = r.sized_u16(w2::MAX_PRIVATE)?;
    let public = r.sized_u16(w2::MAX_PUBLIC)?;
    let parsed = Public::from_bytes(public).map_err(|_| BlobError::Malformed)?;
    if private.is_empty() || !w2::is_sealed_object(&parsed) {
        return Err(BlobError::Malformed);
    }
    Ok(Sealed {
        parent: Parent { storage, persistent },
        parent_name: parent_name.to_vec(),
        private: private.to_vec(),
        public: public.to_vec(),
    })
}

impl fmt::Debug for SealedRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedRoot")
            .field("family", &self.family)
            .field("locality", &self.locality)
            .field("pcrs", &self.pcrs)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn tpm2_blob() -> SealedRoot {
        let mut public = w2::seal_template(&[9; 32]);
        public.kind = ::tpm2::types::PublicKind::KeyedHash {
            scheme: ::tpm2::types::Scheme::NULL,
            unique: vec![3; 32],
        };
        let mut parent_name = vec![0x00, 0x0B];
        parent_name.extend_from_slice(&[7; 32]);
        SealedRoot {
            family: Family::Tpm20,
            locality: 2,
            pcrs: PcrSelection::parse("0,7").unwrap(),
            body: Body::Tpm2(Sealed {
                parent: Parent { storage: StorageAlg::EccP256, persistent: Some(0x8100_0001) },
                parent_name,
                private: vec![1; 150],
                public: ::tpm2::types::Marshal::to_bytes(&public),
            }),
        }
    }

    #[test]
    fn tpm2_blob_round_trips() {
        let blob = tpm2_blob();
        assert_eq!(SealedRoot::from_bytes(&blob.to_bytes()), Ok(blob));
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = tpm2_blob().to_bytes();
        for len in 0..bytes.len() {
            assert!(SealedRoot::from_bytes(&bytes[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn trailing_byte_is_refused() {
        let mut bytes = tpm2_blob().to_bytes();
        bytes.push(0);
        assert_eq!(SealedRoot::from_bytes(&bytes), Err(BlobError::TrailingBytes));
    }

    #[test]
    fn wrong_magic_and_version_are_refused() {
        let mut bytes = tpm2_blob().to_bytes();
        bytes[4] = 2;
        assert_eq!(SealedRoot::from_bytes(&bytes), Err(BlobError::UnsupportedVersion(2)));
        bytes[0] = b'x';
        assert_eq!(SealedRoot::from_bytes(&bytes), Err(BlobError::BadMagic));
    }

    #[test]
    fn bad_locality_family_and_handle_are_malformed() {
        let good = tpm2_blob().to_bytes();
        for (offset, value) in [(5, 3), (6, 5), (10, 9), (11, 0x82)] {
            let mut bytes = good.clone();
            bytes[offset] = value;
            assert_eq!(SealedRoot::from_bytes(&bytes), Err(BlobError::Malformed), "{offset}");
        }
    }
}
