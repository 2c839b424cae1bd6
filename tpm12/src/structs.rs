//! TPM 1.2 structures (Part 2) and their big-endian wire forms.
//!
//! Parsers take a [`Reader`] over hostile bytes and fail with the return code Part 3
//! names for a malformed structure; writers produce the canonical encoding. Where a
//! structure is echoed back (key blobs, PCR info) the exact bytes are kept so the
//! round trip is byte-identical.

use alloc::vec::Vec;
use tpm_engine::wire::{Reader, Writer};

use crate::consts::{DIGEST_SIZE, NUM_PCRS, PCR_SELECT_BYTES, alg, es, ss, stag};
use crate::crypto::{self, Digest20};
use crate::error::{TpmError, TpmResult};

/// Largest variable-length field accepted inside a command (the input buffer bound).
pub const MAX_FIELD: usize = 4096;

/// TPM_STRUCT_VER 1.1.0.0, the fixed version field of 1.1-era structures.
pub const STRUCT_VER_11: [u8; 4] = [1, 1, 0, 0];

/// Reads a 20-byte digest.
pub fn read_digest(r: &mut Reader<'_>) -> TpmResult<Digest20> {
    Ok(r.array::<DIGEST_SIZE>()?)
}

/// Reads a TPM_BOOL, rejecting anything but 0 and 1 (Part 2 §2.2.4).
pub fn read_bool(r: &mut Reader<'_>) -> TpmResult<bool> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(TpmError::BadParameter),
    }
}

/// Appends a `u32` length and the bytes (a TPM "sized buffer"). Lengths here are
/// bounded by the engine's buffers, far below `u32::MAX`.
pub fn write_sized(w: &mut Writer, data: &[u8]) {
    w.u32(u32::try_from(data.len()).unwrap_or(u32::MAX)).bytes(data);
}

/// TPM_PCR_SELECTION (Part 2 §8.1), kept with the size the caller gave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PcrSelection {
    /// sizeOfSelect as given (0..=3).
    pub size: u16,
    /// The bitmap, zero-extended to 24 PCRs.
    pub bits: [u8; PCR_SELECT_BYTES],
}

impl PcrSelection {
    /// Parses a selection; a bitmap larger than 24 PCRs is TPM_INVALID_PCR_INFO.
    pub fn parse(r: &mut Reader<'_>) -> TpmResult<Self> {
        let size = r.u16()?;
        if usize::from(size) > PCR_SELECT_BYTES {
            return Err(TpmError::InvalidPcrInfo);
        }
        let mut bits = [0u8; PCR_SELECT_BYTES];
        let given = r.bytes(usize::from(size))?;
        bits.get_mut(..given.len()).ok_or(TpmError::InvalidPcrInfo)?.copy_from_slice(given);
        Ok(Self { size, bits })
    }

    /// Writes the selection with its original size.
    pub fn write(&self, w: &mut Writer) {
        w.u16(self.size);
        w.bytes(self.bits.get(..usize::from(self.size)).unwrap_or(&[]));
    }

    /// True if PCR `index` is selected.
    pub fn is_selected(&self, index: usize) -> bool {
        self.bits.get(index / 8).is_some_and(|b| b & (1 << (index % 8)) != 0)
    }

    /// True if no PCR is selected.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|b| *b == 0)
    }

    /// Indices of the selected PCRs, ascending.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..NUM_PCRS).filter(|i| self.is_selected(*i))
    }
}

/// Which PCR info structure a key or blob carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcrInfoForm {
    /// TPM_PCR_INFO (1.1 structures: TPM_KEY, TPM_STORED_DATA).
    Info,
    /// TPM_PCR_INFO_LONG (TPM_KEY12, TPM_STORED_DATA12).
    Long,
    /// TPM_PCR_INFO_SHORT (NV, Quote2).
    Short,
}

/// The fields of TPM_PCR_INFO, TPM_PCR_INFO_LONG and TPM_PCR_INFO_SHORT (Part 2 §8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrInfo {
    /// The encoding.
    pub form: PcrInfoForm,
    /// localityAtCreation (LONG only; 1.1 form: 0).
    pub locality_at_creation: u8,
    /// localityAtRelease (LONG and SHORT; 1.1 form: 0x1F, every locality).
    pub locality_at_release: u8,
    /// creationPCRSelection (LONG; equals the release selection in the 1.1 form).
    pub creation_selection: PcrSelection,
    /// releasePCRSelection (pcrSelection in the 1.1 and SHORT forms).
    pub release_selection: PcrSelection,
    /// digestAtCreation (absent in SHORT).
    pub digest_at_creation: Digest20,
    /// digestAtRelease.
    pub digest_at_release: Digest20,
}

/// All five localities.
pub const ALL_LOCALITIES: u8 = 0x1F;

impl PcrInfo {
    /// Parses the given form.
    pub fn parse(r: &mut Reader<'_>, form: PcrInfoForm) -> TpmResult<Self> {
        match form {
            PcrInfoForm::Info => {
                let select = PcrSelection::parse(r)?;
                let digest_at_release = read_digest(r)?;
                let digest_at_creation = read_digest(r)?;
                Ok(Self {
                    form,
                    locality_at_creation: 0,
                    locality_at_release: ALL_LOCALITIES,
                    creation_selection: select,
                    release_selection: select,
                    digest_at_creation,
                    digest_at_release,
                })
            }
            PcrInfoForm::Long => {
                if r.u16()? != stag::PCR_INFO_LONG {
                    return Err(TpmError::InvalidStructure);
                }
                let locality_at_creation = r.u8()?;
                let locality_at_release = r.u8()?;
                let creation_selection = PcrSelection::parse(r)?;
                let release_selection = PcrSelection::parse(r)?;
                let digest_at_creation = read_digest(r)?;
                let digest_at_release = read_digest(r)?;
                Ok(Self {
                    form,
                    locality_at_creation,
                    locality_at_release,
                    creation_selection,
                    release_selection,
                    digest_at_creation,
                    digest_at_release,
                })
            }
            PcrInfoForm::Short => {
                let select = PcrSelection::parse(r)?;
                let locality_at_release = r.u8()?;
                let digest_at_release = read_digest(r)?;
                Ok(Self {
                    form,
                    locality_at_creation: 0,
                    locality_at_release,
                    creation_selection: select,
                    release_selection: select,
                    digest_at_creation: [0; 20],
                    digest_at_release,
                })
            }
        }
    }

    /// Parses a complete sized PCR info area; trailing bytes are an error.
    pub fn parse_exact(bytes: &[u8], form: PcrInfoForm) -> TpmResult<Self> {
        let mut r = Reader::new(bytes);
        let info = Self::parse(&mut r, form)?;
        r.finish().map_err(|_| TpmError::InvalidPcrInfo)?;
        Ok(info)
    }

    /// Writes the structure in its form.
    pub fn write(&self, w: &mut Writer) {
        match self.form {
            PcrInfoForm::Info => {
                self.release_selection.write(w);
                w.bytes(&self.digest_at_release).bytes(&self.digest_at_creation);
            }
            PcrInfoForm::Long => {
                w.u16(stag::PCR_INFO_LONG)
                    .u8(self.locality_at_creation)
                    .u8(self.locality_at_release);
                self.creation_selection.write(w);
                self.release_selection.write(w);
                w.bytes(&self.digest_at_creation).bytes(&self.digest_at_release);
            }
            PcrInfoForm::Short => {
                self.release_selection.write(w);
                w.u8(self.locality_at_release).bytes(&self.digest_at_release);
            }
        }
    }

    /// The encoded bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.into_vec()
    }
}

/// TPM_KEY_PARMS with TPM_RSA_KEY_PARMS (Part 2 §10.1, §10.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyParms {
    /// algorithmID.
    pub algorithm: u32,
    /// encScheme.
    pub enc_scheme: u16,
    /// sigScheme.
    pub sig_scheme: u16,
    /// The raw parms bytes (RSA: keyLength, numPrimes, exponent).
    pub parms: Vec<u8>,
}

/// The RSA parameters of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RsaParms {
    /// keyLength in bits.
    pub key_bits: u32,
    /// numPrimes.
    pub num_primes: u32,
    /// The public exponent (the default when the field is empty).
    pub exponent: u32,
    /// True if the exponent field was empty.
    pub default_exponent: bool,
}

impl KeyParms {
    /// Parses TPM_KEY_PARMS.
    pub fn parse(r: &mut Reader<'_>) -> TpmResult<Self> {
        let algorithm = r.u32()?;
        let enc_scheme = r.u16()?;
        let sig_scheme = r.u16()?;
        let parms = r.sized_u32(MAX_FIELD)?.to_vec();
        Ok(Self { algorithm, enc_scheme, sig_scheme, parms })
    }

    /// Writes TPM_KEY_PARMS.
    pub fn write(&self, w: &mut Writer) {
        w.u32(self.algorithm).u16(self.enc_scheme).u16(self.sig_scheme);
        write_sized(w, &self.parms);
    }

    /// RSA parameters for a 2048-bit key with the default exponent.
    pub fn rsa(enc_scheme: u16, sig_scheme: u16, bits: u32) -> Self {
        let mut w = Writer::new();
        w.u32(bits).u32(2).u32(0);
        Self { algorithm: alg::RSA, enc_scheme, sig_scheme, parms: w.into_vec() }
    }

    /// Decodes TPM_RSA_KEY_PARMS; fails with TPM_BAD_KEY_PROPERTY for anything
    /// other than a two-prime RSA key with a usable exponent.
    pub fn rsa_parms(&self) -> TpmResult<RsaParms> {
        if self.algorithm != alg::RSA {
            return Err(TpmError::BadKeyProperty);
        }
        let mut r = Reader::new(&self.parms);
        let key_bits = r.u32().map_err(|_| TpmError::BadKeyProperty)?;
        let num_primes = r.u32().map_err(|_| TpmError::BadKeyProperty)?;
        let exp = r.sized_u32(8).map_err(|_| TpmError::BadKeyProperty)?;
        r.finish().map_err(|_| TpmError::BadKeyProperty)?;
        let (exponent, default_exponent) = if exp.is_empty() {
            (crypto::DEFAULT_EXPONENT, true)
        } else {
            if exp.len() > 4 {
                return Err(TpmError::BadKeyProperty);
            }
            let mut v = 0u32;
            for b in exp {
                v = (v << 8) | u32::from(*b);
            }
            (v, false)
        };
        Ok(RsaParms { key_bits, num_primes, exponent, default_exponent })
    }
}

/// TPM_STRUCT_VER TPM_KEY or tagged TPM_KEY12 (Part 2 §10.2, §10.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// True for TPM_KEY12.
    pub v12: bool,
    /// keyUsage.
    pub usage: u16,
    /// keyFlags.
    pub flags: u32,
    /// authDataUsage.
    pub auth_data_usage: u8,
    /// algorithmParms.
    pub parms: KeyParms,
    /// PCRInfo bytes as given (empty: no PCR binding).
    pub pcr_info: Vec<u8>,
    /// pubKey (the modulus).
    pub pub_key: Vec<u8>,
    /// encData.
    pub enc_data: Vec<u8>,
}

impl Key {
    /// Parses TPM_KEY or TPM_KEY12, telling them apart by the first two bytes.
    pub fn parse(r: &mut Reader<'_>) -> TpmResult<Self> {
        let head = r.u16()?;
        let v12 = match head {
            0x0101 => {
                // TPM_STRUCT_VER 1.1: revMajor and revMinor are ignored (Part 2 §5.1).
                r.u16()?;
                false
            }
            stag::KEY12 => {
                if r.u16()? != 0 {
                    return Err(TpmError::InvalidStructure);
                }
                true
            }
            _ => return Err(TpmError::BadVersion),
        };
        let usage = r.u16()?;
        let flags = r.u32()?;
        let auth_data_usage = r.u8()?;
        let parms = KeyParms::parse(r)?;
        let pcr_info = r.sized_u32(MAX_FIELD)?.to_vec();
        let pub_key = r.sized_u32(MAX_FIELD)?.to_vec();
        let enc_data = r.sized_u32(MAX_FIELD)?.to_vec();
        Ok(Self { v12, usage, flags, auth_data_usage, parms, pcr_info, pub_key, enc_data })
    }

    /// Writes the key.
    pub fn write(&self, w: &mut Writer) {
        self.write_head(w);
        write_sized(w, &self.pcr_info);
        write_sized(w, &self.pub_key);
        write_sized(w, &self.enc_data);
    }

    fn write_head(&self, w: &mut Writer) {
        if self.v12 {
            w.u16(stag::KEY12).u16(0);
        } else {
            w.bytes(&STRUCT_VER_11);
        }
        w.u16(self.usage).u32(self.flags).u8(self.auth_data_usage);
        self.parms.write(w);
    }

    /// The encoded key.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.into_vec()
    }

    /// SHA-1 over the key's public part: the structure with encData omitted, which
    /// TPM_STORE_ASYMKEY.pubDataDigest binds (Part 2 §10.6).
    pub fn pub_data_digest(&self) -> Digest20 {
        let mut w = Writer::new();
        self.write_head(&mut w);
        write_sized(&mut w, &self.pcr_info);
        write_sized(&mut w, &self.pub_key);
        crypto::sha1(&[w.as_slice()])
    }

    /// The PCR info structure form this key version carries.
    pub fn pcr_form(&self) -> PcrInfoForm {
        if self.v12 { PcrInfoForm::Long } else { PcrInfoForm::Info }
    }

    /// The parsed PCR info, if the key is bound to PCRs.
    pub fn pcr_info(&self) -> TpmResult<Option<PcrInfo>> {
        if self.pcr_info.is_empty() {
            return Ok(None);
        }
        PcrInfo::parse_exact(&self.pcr_info, self.pcr_form()).map(Some)
    }

    /// The TPM_PUBKEY of this key.
    pub fn pubkey(&self) -> PubKey {
        PubKey { parms: self.parms.clone(), key: self.pub_key.clone() }
    }
}

/// TPM_PUBKEY (Part 2 §10.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PubKey {
    /// algorithmParms.
    pub parms: KeyParms,
    /// The modulus.
    pub key: Vec<u8>,
}

impl PubKey {
    /// Parses TPM_PUBKEY.
    pub fn parse(r: &mut Reader<'_>) -> TpmResult<Self> {
        let parms = KeyParms::parse(r)?;
        let key = r.sized_u32(MAX_FIELD)?.to_vec();
        Ok(Self { parms, key })
    }

    /// Writes TPM_PUBKEY.
    pub fn write(&self, w: &mut Writer) {
        self.parms.write(w);
        write_sized(w, &self.key);
    }

    /// The encoded structure.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.into_vec()
    }
}

/// TPM_STORE_ASYMKEY (Part 2 §10.6): the secret half of a wrapped key.
#[derive(Clone, Debug)]
pub struct StoreAsymKey {
    /// payload type (TPM_PT_ASYM normally).
    pub payload: u8,
    /// usageAuth.
    pub usage_auth: Digest20,
    /// migrationAuth.
    pub migration_auth: Digest20,
    /// pubDataDigest.
    pub pub_data_digest: Digest20,
    /// The prime p.
    pub prime: Vec<u8>,
}

impl StoreAsymKey {
    /// Parses a decrypted TPM_STORE_ASYMKEY.
    pub fn parse(bytes: &[u8]) -> TpmResult<Self> {
        let mut r = Reader::new(bytes);
        let payload = r.u8()?;
        let usage_auth = read_digest(&mut r)?;
        let migration_auth = read_digest(&mut r)?;
        let pub_data_digest = read_digest(&mut r)?;
        let prime = r.sized_u32(MAX_FIELD)?.to_vec();
        r.finish()?;
        Ok(Self { payload, usage_auth, migration_auth, pub_data_digest, prime })
    }

    /// Encodes the structure (the caller zeroizes the result after encrypting it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.payload)
            .bytes(&self.usage_auth)
            .bytes(&self.migration_auth)
            .bytes(&self.pub_data_digest);
        write_sized(&mut w, &self.prime);
        w.into_vec()
    }
}

impl Drop for StoreAsymKey {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.usage_auth.zeroize();
        self.migration_auth.zeroize();
        self.prime.zeroize();
    }
}

/// TPM_STORED_DATA or TPM_STORED_DATA12 (Part 2 §9.1, §9.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredData {
    /// True for TPM_STORED_DATA12.
    pub v12: bool,
    /// et (STORED_DATA12 only).
    pub et: u16,
    /// sealInfo bytes as given.
    pub seal_info: Vec<u8>,
    /// encData.
    pub enc_data: Vec<u8>,
}

impl StoredData {
    /// Parses either form.
    pub fn parse(r: &mut Reader<'_>) -> TpmResult<Self> {
        let head = r.u16()?;
        let (v12, et) = match head {
            0x0101 => {
                r.u16()?;
                (false, 0)
            }
            stag::STORED_DATA12 => (true, r.u16()?),
            _ => return Err(TpmError::BadVersion),
        };
        let seal_info = r.sized_u32(MAX_FIELD)?.to_vec();
        let enc_data = r.sized_u32(MAX_FIELD)?.to_vec();
        Ok(Self { v12, et, seal_info, enc_data })
    }

    /// Writes the structure.
    pub fn write(&self, w: &mut Writer) {
        self.write_head(w);
        write_sized(w, &self.enc_data);
    }

    fn write_head(&self, w: &mut Writer) {
        if self.v12 {
            w.u16(stag::STORED_DATA12).u16(self.et);
        } else {
            w.bytes(&STRUCT_VER_11);
        }
        write_sized(w, &self.seal_info);
    }

    /// Writes the structure with an empty encData: what TPM_SEALED_DATA.storedDigest
    /// covers (Part 3 §10.1, action 9).
    pub fn write_without_enc(&self, w: &mut Writer) {
        self.write_head(w);
        w.u32(0);
    }

    /// The PCR info form the seal info uses.
    pub fn pcr_form(&self) -> PcrInfoForm {
        if self.v12 { PcrInfoForm::Long } else { PcrInfoForm::Info }
    }
}

/// TPM_NV_DATA_PUBLIC (Part 2 §19.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NvDataPublic {
    /// nvIndex.
    pub index: u32,
    /// pcrInfoRead.
    pub pcr_read: PcrInfo,
    /// pcrInfoWrite.
    pub pcr_write: PcrInfo,
    /// permission.attributes.
    pub attributes: u32,
    /// bReadSTClear.
    pub read_st_clear: bool,
    /// bWriteSTClear.
    pub write_st_clear: bool,
    /// bWriteDefine.
    pub write_define: bool,
    /// dataSize.
    pub data_size: u32,
}

impl NvDataPublic {
    /// Parses the structure; the three flags are not interpreted on input.
    pub fn parse(r: &mut Reader<'_>) -> TpmResult<Self> {
        if r.u16()? != stag::NV_DATA_PUBLIC {
            return Err(TpmError::InvalidStructure);
        }
        let index = r.u32()?;
        let pcr_read = PcrInfo::parse(r, PcrInfoForm::Short)?;
        let pcr_write = PcrInfo::parse(r, PcrInfoForm::Short)?;
        if r.u16()? != stag::NV_ATTRIBUTES {
            return Err(TpmError::InvalidStructure);
        }
        let attributes = r.u32()?;
        let read_st_clear = read_bool(r)?;
        let write_st_clear = read_bool(r)?;
        let write_define = read_bool(r)?;
        let data_size = r.u32()?;
        Ok(Self {
            index,
            pcr_read,
            pcr_write,
            attributes,
            read_st_clear,
            write_st_clear,
            write_define,
            data_size,
        })
    }

    /// Writes the structure.
    pub fn write(&self, w: &mut Writer) {
        w.u16(stag::NV_DATA_PUBLIC).u32(self.index);
        self.pcr_read.write(w);
        self.pcr_write.write(w);
        w.u16(stag::NV_ATTRIBUTES).u32(self.attributes);
        w.u8(self.read_st_clear.into()).u8(self.write_st_clear.into()).u8(self.write_define.into());
        w.u32(self.data_size);
    }
}

/// Checks the schemes of a key against its usage (Part 3 §10.4 actions 5–7 and the
/// tables in Part 2 §5.8). Returns the error the specification names.
pub fn check_key_schemes(usage: u16, parms: &KeyParms) -> TpmResult<()> {
    use crate::consts::ku;
    match usage {
        ku::STORAGE => {
            if parms.enc_scheme != es::RSAESOAEP_SHA1_MGF1 {
                return Err(TpmError::InappropriateEnc);
            }
            if parms.sig_scheme != ss::NONE {
                return Err(TpmError::InappropriateSig);
            }
        }
        ku::SIGNING => {
            if parms.enc_scheme != es::NONE {
                return Err(TpmError::InappropriateEnc);
            }
            if !matches!(
                parms.sig_scheme,
                ss::RSASSAPKCS1V15_SHA1 | ss::RSASSAPKCS1V15_DER | ss::RSASSAPKCS1V15_INFO
            ) {
                return Err(TpmError::InappropriateSig);
            }
        }
        ku::BIND => {
            if !matches!(parms.enc_scheme, es::RSAESOAEP_SHA1_MGF1 | es::RSAESPKCSV15) {
                return Err(TpmError::InappropriateEnc);
            }
            if parms.sig_scheme != ss::NONE {
                return Err(TpmError::InappropriateSig);
            }
        }
        ku::LEGACY => {
            if !matches!(parms.enc_scheme, es::RSAESOAEP_SHA1_MGF1 | es::RSAESPKCSV15) {
                return Err(TpmError::InappropriateEnc);
            }
            if !matches!(parms.sig_scheme, ss::RSASSAPKCS1V15_SHA1 | ss::RSASSAPKCS1V15_DER) {
                return Err(TpmError::InappropriateSig);
            }
        }
        ku::MIGRATE => {
            if parms.enc_scheme != es::RSAESOAEP_SHA1_MGF1 {
                return Err(TpmError::InappropriateEnc);
            }
            if parms.sig_scheme != ss::NONE {
                return Err(TpmError::InappropriateSig);
            }
        }
        ku::IDENTITY => {
            if parms.enc_scheme != es::NONE {
                return Err(TpmError::InappropriateEnc);
            }
            if parms.sig_scheme != ss::RSASSAPKCS1V15_SHA1 {
                return Err(TpmError::InappropriateSig);
            }
        }
        _ => return Err(TpmError::InvalidKeyusage),
    }
    Ok(())
}
