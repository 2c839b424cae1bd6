//! TPM 1.2 constants and the structures the client builds and parses.
//!
//! Values from the TPM Main Specification 1.2 rev 116, Part 2 (structures) and Part 3
//! (commands); section given with each group.

use alloc::vec::Vec;

use sha1::{Digest, Sha1};
use tpm_engine::wire::{Reader, Writer};

use crate::pcr::SELECT_BYTES;
use crate::{Malformed, PcrSelection};

/// Command and response tags (Part 2 §6).
pub(crate) mod tag {
    pub const RQU_COMMAND: u16 = 0x00C1;
    pub const RQU_AUTH1_COMMAND: u16 = 0x00C2;
    pub const RQU_AUTH2_COMMAND: u16 = 0x00C3;
    pub const RSP_COMMAND: u16 = 0x00C4;
    pub const RSP_AUTH1_COMMAND: u16 = 0x00C5;
    pub const RSP_AUTH2_COMMAND: u16 = 0x00C6;
}

/// Command ordinals (Part 2 §17).
pub(crate) mod ord {
    pub const OIAP: u32 = 0x0A;
    pub const OSAP: u32 = 0x0B;
    pub const TAKE_OWNERSHIP: u32 = 0x0D;
    pub const EXTEND: u32 = 0x14;
    pub const PCR_READ: u32 = 0x15;
    pub const SEAL: u32 = 0x17;
    pub const UNSEAL: u32 = 0x18;
    pub const GET_RANDOM: u32 = 0x46;
    pub const GET_CAPABILITY: u32 = 0x65;
    pub const GET_CAPABILITY_OWNER: u32 = 0x66;
    pub const CREATE_ENDORSEMENT_KEY_PAIR: u32 = 0x78;
    pub const READ_PUBEK: u32 = 0x7C;
    pub const STARTUP: u32 = 0x99;
    pub const FLUSH_SPECIFIC: u32 = 0xBA;
    pub const NV_DEFINE_SPACE: u32 = 0xCC;
    pub const NV_WRITE_VALUE: u32 = 0xCD;
    pub const NV_READ_VALUE: u32 = 0xCF;
    pub const CREATE_COUNTER: u32 = 0xDC;
    pub const INCREMENT_COUNTER: u32 = 0xDD;
    pub const READ_COUNTER: u32 = 0xDE;
}

/// Return codes (Part 2 §16).
pub(crate) mod rc {
    pub const SUCCESS: u32 = 0;
    pub const AUTHFAIL: u32 = 0x01;
    pub const BADINDEX: u32 = 0x02;
    pub const BAD_ORDINAL: u32 = 0x0A;
    pub const NOSPACE: u32 = 0x11;
    pub const RESOURCES: u32 = 0x15;
    pub const DISABLED_CMD: u32 = 0x08;
    pub const OWNER_SET: u32 = 0x14;
    pub const WRONGPCRVAL: u32 = 0x18;
    pub const AUTH2FAIL: u32 = 0x1D;
    pub const NO_ENDORSEMENT: u32 = 0x23;
    pub const INVALID_POSTINIT: u32 = 0x26;
    pub const BAD_LOCALITY: u32 = 0x3D;
    pub const RETRY: u32 = 0x800;
    pub const DEFEND_LOCK_RUNNING: u32 = 0x803;
}

/// TPM_KH_SRK: the storage root key's fixed handle (Part 2 §5.4).
pub(crate) const KH_SRK: u32 = 0x4000_0000;
/// TPM_KH_OWNER.
pub(crate) const KH_OWNER: u32 = 0x4000_0001;
/// TPM_ET_KEYHANDLE, TPM_ET_OWNER: OSAP entity types (Part 2 §4.9).
pub(crate) const ET_KEYHANDLE: u16 = 0x0001;
pub(crate) const ET_OWNER: u16 = 0x0002;
/// TPM_PID_OWNER: TakeOwnership's protocol (Part 2 §4.10).
pub(crate) const PID_OWNER: u16 = 0x0005;
/// Resource types for TPM_FlushSpecific and TPM_CAP_HANDLE (Part 2 §4.1).
pub(crate) const RT_AUTH: u32 = 0x02;
pub(crate) const RT_COUNTER: u32 = 0x06;
/// Capability areas (Part 2 §21.1).
pub(crate) const CAP_NV_INDEX: u32 = 0x11;
pub(crate) const CAP_HANDLE: u32 = 0x14;
pub(crate) const CAP_VERSION_VAL: u32 = 0x1A;
/// TPM_ST_CLEAR (Part 2 §4.5).
pub(crate) const ST_CLEAR: u16 = 0x0001;

/// Structure tags (Part 2 §3.1).
const TAG_PCR_INFO_LONG: u16 = 0x0006;
const TAG_COUNTER_VALUE: u16 = 0x000E;
const TAG_STORED_DATA12: u16 = 0x0016;
const TAG_NV_ATTRIBUTES: u16 = 0x0017;
const TAG_NV_DATA_PUBLIC: u16 = 0x0018;
const TAG_KEY12: u16 = 0x0028;

/// TPM_NV_PER_OWNERWRITE (Part 2 §19.2).
pub(crate) const NV_PER_OWNERWRITE: u32 = 0x0000_0002;
/// TPM_LOC_ALL: every locality (Part 2 §8.6).
const LOC_ALL: u8 = 0x1F;

/// TPM_ALG_RSA, TPM_ES_RSAESOAEP_SHA1_MGF1, TPM_SS_NONE, TPM_KEY_STORAGE,
/// TPM_AUTH_ALWAYS (Part 2 §4.8, §9.1, §5.8, §5.9).
const ALG_RSA: u32 = 0x0000_0001;
const ES_RSAESOAEP_SHA1_MGF1: u16 = 0x0003;
const SS_NONE: u16 = 0x0001;
const KEY_STORAGE: u16 = 0x0011;
const AUTH_ALWAYS: u8 = 0x01;

/// Length of a SHA-1 digest, nonce or TPM_AUTHDATA.
pub(crate) const DIGEST_LEN: usize = 20;

/// Bound of a TPM_STORED_DATA12 (a 2048-bit encData plus a PCR_INFO_LONG and headers).
pub(crate) const MAX_STORED_DATA: usize = 1024;

/// Bound of the data TPM_Unseal may return (TPM_Seal takes at most an RSA-2048 OAEP
/// payload, well under this).
pub(crate) const MAX_SECRET: usize = 256;

/// TPM_PCR_COMPOSITE's hash (Part 2 §8.4): SHA-1 of `sizeOfSelect | select | valueSize
/// | values`, the values in ascending PCR order.
pub(crate) fn composite_hash(selection: PcrSelection, values: &[[u8; DIGEST_LEN]]) -> [u8; 20] {
    let mut hash = Sha1::new();
    hash.update(u16_bytes(SELECT_BYTES));
    hash.update(selection.select_bytes());
    hash.update(u32_bytes(values.len() * DIGEST_LEN));
    for value in values {
        hash.update(value);
    }
    hash.finalize().into()
}

/// A TPM_PCR_INFO_LONG (Part 2 §8.3) releasing to `locality` when the selected PCRs'
/// composite hash is `digest_at_release`. The creation fields are filled in by the TPM
/// (TPM_Seal step 7); the selection is repeated so the sealed data records the PCRs at
/// sealing time too.
pub(crate) fn pcr_info_long(
    selection: PcrSelection,
    locality: u8,
    digest_at_release: &[u8; DIGEST_LEN],
) -> Vec<u8> {
    let mut w = Writer::with_capacity(58);
    let locality = 1u8.checked_shl(u32::from(locality)).unwrap_or(0) & 0x1F;
    w.u16(TAG_PCR_INFO_LONG).u8(locality).u8(locality);
    for _ in 0..2 {
        w.u16(u16_const(SELECT_BYTES)).bytes(&selection.select_bytes());
    }
    w.bytes(&[0; DIGEST_LEN]).bytes(digest_at_release);
    w.into_vec()
}

/// The SRK's TPM_KEY12 parameters for TPM_TakeOwnership (Part 3 §6.1): a 2048-bit RSA
/// storage key with OAEP-SHA1, authorisation on every use, no PCR binding.
pub(crate) fn srk_params() -> Vec<u8> {
    let mut w = Writer::with_capacity(48);
    w.u16(TAG_KEY12).u16(0).u16(KEY_STORAGE).u32(0).u8(AUTH_ALWAYS);
    push_rsa_key_parms(&mut w, ES_RSAESOAEP_SHA1_MGF1, SS_NONE);
    // PCRInfoSize, TPM_STORE_PUBKEY keyLength, encDataSize: all empty.
    w.u32(0).u32(0).u32(0);
    w.into_vec()
}

/// TPM_KEY_PARMS for RSA-2048 with the default exponent (Part 2 §10.1, §10.1.1).
pub(crate) fn push_rsa_key_parms(w: &mut Writer, enc_scheme: u16, sig_scheme: u16) {
    w.u32(ALG_RSA).u16(enc_scheme).u16(sig_scheme).u32(12);
    w.u32(2048).u32(2).u32(0);
}

/// The endorsement key's TPM_KEY_PARMS for TPM_CreateEndorsementKeyPair (Part 3 §14.1:
/// RSA-2048, OAEP-SHA1, no signature scheme).
pub(crate) fn ek_key_parms() -> Vec<u8> {
    let mut w = Writer::with_capacity(24);
    push_rsa_key_parms(&mut w, ES_RSAESOAEP_SHA1_MGF1, SS_NONE);
    w.into_vec()
}

/// A TPM_NV_DATA_PUBLIC (Part 2 §19.3) for an area of `size` bytes written with owner
/// authorisation and read by anyone: no PCR or locality restriction, no locks.
pub(crate) fn nv_data_public(index: u32, size: u32) -> Vec<u8> {
    let mut w = Writer::with_capacity(64);
    w.u16(TAG_NV_DATA_PUBLIC).u32(index);
    for _ in 0..2 {
        // TPM_PCR_INFO_SHORT: no PCR, every locality.
        w.u16(u16_const(SELECT_BYTES))
            .bytes(&[0; SELECT_BYTES])
            .u8(LOC_ALL)
            .bytes(&[0; DIGEST_LEN]);
    }
    w.u16(TAG_NV_ATTRIBUTES).u32(NV_PER_OWNERWRITE);
    w.u8(0).u8(0).u8(0).u32(size);
    w.into_vec()
}

/// Reads a TPM_NV_DATA_PUBLIC and tells whether it is exactly what [`nv_data_public`]
/// defines for `index` and `size`.
pub(crate) fn nv_data_public_matches(
    r: &mut Reader<'_>,
    index: u32,
    size: u32,
) -> Result<bool, Malformed> {
    if r.u16()? != TAG_NV_DATA_PUBLIC {
        return Err(Malformed::UnexpectedValue);
    }
    let found_index = r.u32()?;
    let mut unrestricted = true;
    for _ in 0..2 {
        let select = r.sized_u16(8)?;
        let locality = r.u8()?;
        r.bytes(DIGEST_LEN)?;
        unrestricted &= select.iter().all(|&b| b == 0) && locality == LOC_ALL;
    }
    if r.u16()? != TAG_NV_ATTRIBUTES {
        return Err(Malformed::UnexpectedValue);
    }
    let attributes = r.u32()?;
    let locks = [r.u8()?, r.u8()?, r.u8()?];
    let found_size = r.u32()?;
    Ok(found_index == index
        && unrestricted
        && attributes == NV_PER_OWNERWRITE
        && locks == [0, 0, 0]
        && found_size == size)
}

/// An RSA public key from a TPM_PUBKEY (Part 2 §10.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RsaPublic {
    /// The modulus, big-endian.
    pub modulus: Vec<u8>,
    /// The public exponent.
    pub exponent: u32,
}

/// Reads a TPM_PUBKEY holding an RSA key of 2048 to 4096 bits.
pub(crate) fn read_pubkey(r: &mut Reader<'_>) -> Result<RsaPublic, Malformed> {
    if r.u32()? != ALG_RSA {
        return Err(Malformed::UnexpectedValue);
    }
    r.u16()?;
    r.u16()?;
    let mut parms = Reader::new(r.sized_u32(64)?);
    let key_bits = parms.u32()?;
    parms.u32()?;
    let exponent = match parms.sized_u32(4)? {
        [] => 65537,
        bytes => bytes.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)),
    };
    parms.finish()?;
    let modulus = r.sized_u32(512)?.to_vec();
    if !(2048..=4096).contains(&key_bits)
        || usize::try_from(key_bits / 8).ok() != Some(modulus.len())
    {
        return Err(Malformed::UnexpectedValue);
    }
    Ok(RsaPublic { modulus, exponent })
}

/// A TPM_COUNTER_VALUE (Part 2 §7.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CounterValue {
    pub label: [u8; 4],
    pub value: u32,
}

/// Reads a TPM_COUNTER_VALUE.
pub(crate) fn read_counter_value(r: &mut Reader<'_>) -> Result<CounterValue, Malformed> {
    if r.u16()? != TAG_COUNTER_VALUE {
        return Err(Malformed::UnexpectedValue);
    }
    Ok(CounterValue { label: r.array()?, value: r.u32()? })
}

/// Checks that `bytes` are exactly one TPM_STORED_DATA12 (Part 2 §9.3) with a
/// TPM_PCR_INFO_LONG.
pub(crate) fn check_stored_data(bytes: &[u8]) -> Result<(), Malformed> {
    let mut r = Reader::new(bytes);
    if r.u16()? != TAG_STORED_DATA12 {
        return Err(Malformed::UnexpectedValue);
    }
    r.u16()?;
    let mut info = Reader::new(r.sized_u32(MAX_STORED_DATA)?);
    if info.u16()? != TAG_PCR_INFO_LONG {
        return Err(Malformed::UnexpectedValue);
    }
    info.u8()?;
    info.u8()?;
    for _ in 0..2 {
        info.sized_u16(8)?;
    }
    info.bytes(2 * DIGEST_LEN)?;
    info.finish()?;
    if r.sized_u32(MAX_STORED_DATA)?.is_empty() {
        return Err(Malformed::UnexpectedValue);
    }
    r.finish()?;
    Ok(())
}

/// A length the client controls as a u32 field.
pub(crate) fn u32_bytes(len: usize) -> [u8; 4] {
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

fn u16_bytes(len: usize) -> [u8; 2] {
    u16_const(len).to_be_bytes()
}

fn u16_const(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_of_no_pcr_hashes_the_empty_composite() {
        let expected: [u8; 20] = Sha1::digest([0, 3, 0, 0, 0, 0, 0, 0, 0]).into();
        assert_eq!(composite_hash(PcrSelection::EMPTY, &[]), expected);
    }

    #[test]
    fn pcr_info_long_has_the_documented_layout() {
        let selection = PcrSelection::parse("0,8").unwrap();
        let info = pcr_info_long(selection, 2, &[0xAB; 20]);
        assert_eq!(&info[..14], &[0, 6, 4, 4, 0, 3, 1, 1, 0, 0, 3, 1, 1, 0]);
        assert_eq!(info.len(), 14 + 40);
        assert_eq!(&info[34..], &[0xAB; 20]);
    }

    #[test]
    fn srk_params_parse_as_a_key12() {
        let params = srk_params();
        assert_eq!(params.len(), 2 + 2 + 2 + 4 + 1 + 24 + 12);
        assert_eq!(&params[..2], &[0, 0x28]);
    }
}
