//! TPM 2.0 wire types: constants, response codes and the marshalling of the
//! structures in TPM 2.0 Part 2, shared by the engine and by TPM 2.0 clients.
//!
//! Every structure implements [`Marshal`] and, where a TPM or a client reads it,
//! [`Unmarshal`]. Unmarshalling validates what Part 2 says the type allows (the
//! `TPMI_` interface types, reserved bits, size bounds) and fails with the response
//! code the reference implementation's unmarshalling code returns; the command layer
//! adds the handle/parameter number.

pub mod constants;
pub mod rc;
pub mod structures;

pub use constants::*;
pub use rc::{Rc, TpmResult};
pub use structures::*;

use alloc::vec::Vec;
pub use tpm_engine::wire::{Reader, Writer};

/// Writes a structure in TPM wire format.
pub trait Marshal {
    /// Appends the structure to `w`.
    fn marshal(&self, w: &mut Writer);

    /// The structure's wire bytes.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.marshal(&mut w);
        w.into_vec()
    }
}

/// Reads a structure in TPM wire format, validating it.
pub trait Unmarshal: Sized {
    /// Reads one structure from `r`.
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self>;

    /// Parses `bytes`, which must hold exactly one structure (trailing bytes are
    /// TPM_RC_SIZE).
    fn from_bytes(bytes: &[u8]) -> TpmResult<Self> {
        let mut r = Reader::new(bytes);
        let value = Self::unmarshal(&mut r)?;
        if r.is_empty() { Ok(value) } else { Err(Rc::SIZE) }
    }
}

/// Size limits of the TPM2B types (Part 2 §10 and §11, with this implementation's
/// `MAX_*` values, which match libtpms where the specification leaves them open).
pub mod limits {
    /// Largest digest (SHA-512).
    pub const MAX_DIGEST: usize = 64;
    /// TPM2B_NAME: an algorithm ID and a digest, or a handle.
    pub const MAX_NAME: usize = MAX_DIGEST + 2;
    /// TPM2B_DATA.
    pub const MAX_DATA: usize = MAX_DIGEST;
    /// TPM2B_SENSITIVE_DATA (`MAX_SYM_DATA`).
    pub const MAX_SENSITIVE_DATA: usize = 128;
    /// TPM2B_SYM_KEY (AES-256).
    pub const MAX_SYM_KEY: usize = 32;
    /// TPM2B_IV: one AES block.
    pub const MAX_IV: usize = 16;
    /// TPM2B_MAX_BUFFER (`MAX_DIGEST_BUFFER`).
    pub const MAX_BUFFER: usize = 1024;
    /// TPM2B_MAX_NV_BUFFER (`MAX_NV_BUFFER_SIZE`).
    pub const MAX_NV_BUFFER: usize = 1024;
    /// Largest NV index (`MAX_NV_INDEX_SIZE`).
    pub const MAX_NV_INDEX_SIZE: usize = 2048;
    /// TPM2B_EVENT.
    pub const MAX_EVENT: usize = 1024;
    /// TPM2B_PUBLIC_KEY_RSA (`MAX_RSA_KEY_BYTES`, 4096-bit keys).
    pub const MAX_RSA_KEY_BYTES: usize = 512;
    /// TPM2B_PRIVATE_KEY_RSA: one prime.
    pub const MAX_RSA_PRIME_BYTES: usize = MAX_RSA_KEY_BYTES / 2;
    /// TPM2B_ECC_PARAMETER (`MAX_ECC_KEY_BYTES`, P-521 sized as in libtpms).
    pub const MAX_ECC_KEY_BYTES: usize = 66;
    /// TPM2B_ENCRYPTED_SECRET: an RSA block or an ECC point.
    pub const MAX_ENCRYPTED_SECRET: usize = MAX_RSA_KEY_BYTES;
    /// TPM2B_LABEL.
    pub const MAX_LABEL: usize = 32;
    /// TPM2B_TIMEOUT.
    pub const MAX_TIMEOUT: usize = 8;
    /// TPM2B_OPERAND (a digest-sized operand of PolicyNV/PolicyCounterTimer).
    pub const MAX_OPERAND: usize = MAX_DIGEST;
    /// TPM2B_CONTEXT_DATA (`MAX_CONTEXT_SIZE`, libtpms value).
    pub const MAX_CONTEXT_DATA: usize = 2680;
    /// TPM2B_PRIVATE: outer integrity, inner integrity and a TPM2B_SENSITIVE.
    pub const MAX_PRIVATE: usize = 2 + MAX_DIGEST + 2 + MAX_DIGEST + 2 + MAX_SENSITIVE;
    /// TPMT_SENSITIVE: type, auth, seed and the largest private part (an RSA prime).
    pub const MAX_SENSITIVE: usize = 2 + 2 + MAX_DIGEST + 2 + MAX_DIGEST + 2 + MAX_RSA_PRIME_BYTES;
    /// TPM2B_ID_OBJECT: an integrity HMAC and an encrypted TPM2B_DIGEST.
    pub const MAX_ID_OBJECT: usize = 2 + MAX_DIGEST + 2 + MAX_DIGEST;
    /// TPM2B_TEMPLATE / TPM2B_PUBLIC contents.
    pub const MAX_PUBLIC: usize = 2 + 2 + 4 + 2 + MAX_DIGEST + 32 + 2 + MAX_RSA_KEY_BYTES;
    /// TPM2B_ATTEST.
    pub const MAX_ATTEST: usize = 1024;
    /// Number of PCRs (`IMPLEMENTATION_PCR`, PC Client).
    pub const PCR_COUNT: usize = 24;
    /// Octets in a PCR selection bitmap (`PCR_SELECT_MAX`, also the minimum).
    pub const PCR_SELECT: usize = PCR_COUNT.div_ceil(8);
    /// Hash algorithms a list can name (`HASH_COUNT`).
    pub const HASH_COUNT: usize = 4;
    /// TPML_DIGEST entries.
    pub const MAX_DIGEST_LIST: usize = 8;
    /// Sessions per command (`MAX_SESSION_NUM`).
    pub const MAX_SESSIONS: usize = 3;
}

/// Reads a TPM2B: a `u16` size and that many bytes; a size above `max` is
/// TPM_RC_SIZE, too few bytes TPM_RC_INSUFFICIENT.
pub fn get_2b<'a>(r: &mut Reader<'a>, max: usize) -> TpmResult<&'a [u8]> {
    Ok(r.sized_u16(max)?)
}

/// Reads a TPM2B into an owned buffer.
pub fn get_2b_vec(r: &mut Reader<'_>, max: usize) -> TpmResult<Vec<u8>> {
    Ok(get_2b(r, max)?.to_vec())
}

/// Writes a TPM2B. Buffers are bounded far below 64 KiB when they are built, so
/// the length always fits; an oversized one is cut rather than panicking.
pub fn put_2b(w: &mut Writer, data: &[u8]) {
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    w.u16(len);
    w.bytes(data.get(..usize::from(len)).unwrap_or(data));
}

/// Reads a size-prefixed structure the way the reference code does: the inner
/// structure is read from the stream, then the consumed length must equal the size
/// (TPM_RC_SIZE otherwise; a zero size is TPM_RC_SIZE too).
pub fn get_sized<T>(
    r: &mut Reader<'_>,
    inner: impl FnOnce(&mut Reader<'_>) -> TpmResult<T>,
) -> TpmResult<T> {
    let size = usize::from(r.u16()?);
    if size == 0 {
        return Err(Rc::SIZE);
    }
    let before = r.remaining();
    let value = inner(r)?;
    if before.checked_sub(r.remaining()) != Some(size) {
        return Err(Rc::SIZE);
    }
    Ok(value)
}

/// Writes a size-prefixed structure.
pub fn put_sized(w: &mut Writer, inner: &impl Marshal) {
    put_2b(w, &inner.to_bytes());
}
