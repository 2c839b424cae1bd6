//! TPM 2.0 structures (Part 2 §9–§15) and their marshalling.
//!
//! Names follow the specification without the `TPMS_`/`TPMT_`/`TPM2B_` prefixes; each
//! type's documentation names the structure it models. TPM2B buffers are `Vec<u8>`
//! whose bound is checked when they are read.

use super::constants::{alg, curve, handle, nv_attr, object_attr, st};
use super::limits::*;
use super::{Marshal, Rc, Reader, TpmResult, Unmarshal, Writer};
use super::{get_2b_vec, get_sized, put_2b, put_sized};
use alloc::vec::Vec;

/// A hash algorithm this implementation supports (`TPMI_ALG_HASH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Every supported hash, in algorithm-ID order.
    pub const ALL: [HashAlg; 4] =
        [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512];

    /// The algorithm for a `TPM_ALG_ID`, if supported.
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            alg::SHA1 => Some(Self::Sha1),
            alg::SHA256 => Some(Self::Sha256),
            alg::SHA384 => Some(Self::Sha384),
            alg::SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The `TPM_ALG_ID`.
    pub fn id(self) -> u16 {
        match self {
            Self::Sha1 => alg::SHA1,
            Self::Sha256 => alg::SHA256,
            Self::Sha384 => alg::SHA384,
            Self::Sha512 => alg::SHA512,
        }
    }

    /// Digest size in bytes.
    pub fn size(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Digest size in bits, as KDFa's `bits` argument wants it.
    pub fn bits(self) -> u32 {
        match self {
            Self::Sha1 => 160,
            Self::Sha256 => 256,
            Self::Sha384 => 384,
            Self::Sha512 => 512,
        }
    }

    /// Block size in bytes.
    pub fn block_size(self) -> usize {
        match self {
            Self::Sha1 | Self::Sha256 => 64,
            Self::Sha384 | Self::Sha512 => 128,
        }
    }

    /// Reads a `TPMI_ALG_HASH`; `TPM_ALG_NULL` is accepted (as `None`) only with
    /// `allow_null` (the `+` of Part 2). Anything else is TPM_RC_HASH.
    pub fn unmarshal_opt(r: &mut Reader<'_>, allow_null: bool) -> TpmResult<Option<Self>> {
        let id = r.u16()?;
        if id == alg::NULL && allow_null {
            return Ok(None);
        }
        Self::from_id(id).map(Some).ok_or(Rc::HASH)
    }
}

impl Marshal for HashAlg {
    fn marshal(&self, w: &mut Writer) {
        w.u16(self.id());
    }
}

impl Unmarshal for HashAlg {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        Self::from_id(r.u16()?).ok_or(Rc::HASH)
    }
}

/// Marshals an optional hash as its ID or TPM_ALG_NULL.
pub fn put_hash_opt(w: &mut Writer, hash: Option<HashAlg>) {
    w.u16(hash.map_or(alg::NULL, HashAlg::id));
}

/// An ECC curve this implementation supports (`TPMI_ECC_CURVE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EccCurve {
    /// NIST P-256.
    NistP256,
    /// NIST P-384.
    NistP384,
}

impl EccCurve {
    /// Every supported curve.
    pub const ALL: [EccCurve; 2] = [EccCurve::NistP256, EccCurve::NistP384];

    /// The curve for a `TPM_ECC_CURVE`, if supported.
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            curve::NIST_P256 => Some(Self::NistP256),
            curve::NIST_P384 => Some(Self::NistP384),
            _ => None,
        }
    }

    /// The `TPM_ECC_CURVE`.
    pub fn id(self) -> u16 {
        match self {
            Self::NistP256 => curve::NIST_P256,
            Self::NistP384 => curve::NIST_P384,
        }
    }

    /// Size of a coordinate or scalar in bytes.
    pub fn size(self) -> usize {
        match self {
            Self::NistP256 => 32,
            Self::NistP384 => 48,
        }
    }

    /// Key size in bits.
    pub fn bits(self) -> u16 {
        match self {
            Self::NistP256 => 256,
            Self::NistP384 => 384,
        }
    }
}

fn get_yes_no(r: &mut Reader<'_>) -> TpmResult<bool> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Rc::VALUE),
    }
}

/// Reads a `TPMI_YES_NO` (anything but 0 or 1 is TPM_RC_VALUE).
pub fn unmarshal_yes_no(r: &mut Reader<'_>) -> TpmResult<bool> {
    get_yes_no(r)
}

// ---------------------------------------------------------------------------------
// Schemes and symmetric definitions (Part 2 §11)
// ---------------------------------------------------------------------------------

/// A symmetric algorithm definition: `TPMT_SYM_DEF` / `TPMT_SYM_DEF_OBJECT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymDef {
    /// TPM_ALG_NULL: no symmetric algorithm.
    Null,
    /// TPM_ALG_XOR with its hash (parameter encryption only).
    Xor(HashAlg),
    /// TPM_ALG_AES with key size and block mode.
    Aes {
        /// Key size in bits (128, 192 or 256).
        bits: u16,
        /// Block cipher mode (`TPM_ALG_CFB`, ...; `TPM_ALG_NULL` where allowed).
        mode: u16,
    },
}

impl SymDef {
    /// AES-128-CFB, the usual parameter-encryption and storage choice.
    pub const AES_128_CFB: SymDef = SymDef::Aes { bits: 128, mode: alg::CFB };

    /// Reads a `TPMT_SYM_DEF` (`object` = false: XOR allowed) or
    /// `TPMT_SYM_DEF_OBJECT` (`object` = true).
    pub fn unmarshal_def(r: &mut Reader<'_>, object: bool, allow_null: bool) -> TpmResult<Self> {
        let algorithm = r.u16()?;
        match algorithm {
            alg::AES => {
                let bits = r.u16()?;
                if !matches!(bits, 128 | 192 | 256) {
                    return Err(Rc::VALUE);
                }
                let mode = get_sym_mode(r, true)?;
                Ok(SymDef::Aes { bits, mode })
            }
            alg::XOR if !object => Ok(SymDef::Xor(HashAlg::unmarshal(r)?)),
            alg::NULL if allow_null => Ok(SymDef::Null),
            _ => Err(Rc::SYMMETRIC),
        }
    }

    /// The algorithm ID.
    pub fn alg(&self) -> u16 {
        match self {
            SymDef::Null => alg::NULL,
            SymDef::Xor(_) => alg::XOR,
            SymDef::Aes { .. } => alg::AES,
        }
    }

    /// True for TPM_ALG_NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, SymDef::Null)
    }
}

fn get_sym_mode(r: &mut Reader<'_>, allow_null: bool) -> TpmResult<u16> {
    let mode = r.u16()?;
    match mode {
        alg::CTR | alg::OFB | alg::CBC | alg::CFB | alg::ECB => Ok(mode),
        alg::NULL if allow_null => Ok(mode),
        _ => Err(Rc::MODE),
    }
}

/// Reads a `TPMI_ALG_CIPHER_MODE` (+NULL when allowed); anything else is
/// TPM_RC_MODE.
pub fn unmarshal_cipher_mode(r: &mut Reader<'_>, allow_null: bool) -> TpmResult<u16> {
    get_sym_mode(r, allow_null)
}

impl Marshal for SymDef {
    fn marshal(&self, w: &mut Writer) {
        match self {
            SymDef::Null => {
                w.u16(alg::NULL);
            }
            SymDef::Xor(hash) => {
                w.u16(alg::XOR).u16(hash.id());
            }
            SymDef::Aes { bits, mode } => {
                w.u16(alg::AES).u16(*bits).u16(*mode);
            }
        }
    }
}

/// A scheme with its details: the `TPMT_*_SCHEME` family (`TPMT_SIG_SCHEME`,
/// `TPMT_RSA_SCHEME`, `TPMT_RSA_DECRYPT`, `TPMT_ECC_SCHEME`, `TPMT_KDF_SCHEME`,
/// `TPMT_KEYEDHASH_SCHEME`). Which algorithms are allowed depends on the context, so
/// the reader takes the allowed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scheme {
    /// The scheme algorithm (`TPM_ALG_NULL` for none).
    pub alg: u16,
    /// The hash of the scheme details (`TPM_ALG_NULL` for RSAES and NULL).
    pub hash: u16,
    /// ECDAA's `count`, or the XOR scheme's KDF; zero otherwise.
    pub extra: u16,
}

/// Scheme sets (the `TPMI_ALG_*_SCHEME` interface types).
pub mod schemes {
    use super::alg;
    /// `TPMI_ALG_SIG_SCHEME`.
    pub const SIG: &[u16] = &[alg::RSASSA, alg::RSAPSS, alg::ECDSA, alg::HMAC];
    /// `TPMI_ALG_RSA_SCHEME`.
    pub const RSA: &[u16] = &[alg::RSASSA, alg::RSAPSS, alg::RSAES, alg::OAEP];
    /// `TPMI_ALG_RSA_DECRYPT`.
    pub const RSA_DECRYPT: &[u16] = &[alg::RSAES, alg::OAEP];
    /// `TPMI_ALG_ECC_SCHEME`.
    pub const ECC: &[u16] = &[alg::ECDSA, alg::ECDH];
    /// `TPMI_ALG_KDF`.
    pub const KDF: &[u16] = &[alg::MGF1, alg::KDF1_SP800_56A, alg::KDF1_SP800_108];
    /// `TPMI_ALG_KEYEDHASH_SCHEME`.
    pub const KEYEDHASH: &[u16] = &[alg::HMAC, alg::XOR];
}

impl Scheme {
    /// TPM_ALG_NULL.
    pub const NULL: Scheme = Scheme { alg: alg::NULL, hash: alg::NULL, extra: 0 };

    /// A scheme whose details are one hash.
    pub fn with_hash(alg: u16, hash: HashAlg) -> Self {
        Scheme { alg, hash: hash.id(), extra: 0 }
    }

    /// True for TPM_ALG_NULL.
    pub fn is_null(&self) -> bool {
        self.alg == alg::NULL
    }

    /// The hash of the details, if it is one this implementation supports.
    pub fn hash_alg(&self) -> Option<HashAlg> {
        HashAlg::from_id(self.hash)
    }

    /// Reads a scheme whose selector must be in `allowed` (or NULL with
    /// `allow_null`); a bad selector is `err` (TPM_RC_SCHEME, or TPM_RC_KDF for KDF
    /// schemes). Details are read as Part 2 defines them per algorithm.
    pub fn unmarshal_from(
        r: &mut Reader<'_>,
        allowed: &[u16],
        allow_null: bool,
        err: Rc,
    ) -> TpmResult<Self> {
        let scheme = r.u16()?;
        if scheme == alg::NULL {
            return if allow_null { Ok(Scheme::NULL) } else { Err(err) };
        }
        if !allowed.contains(&scheme) {
            return Err(err);
        }
        match scheme {
            alg::RSAES => Ok(Scheme { alg: scheme, hash: alg::NULL, extra: 0 }),
            alg::XOR => {
                let hash = HashAlg::unmarshal(r)?;
                let kdf = Scheme::unmarshal_kdf_alg(r, true)?;
                Ok(Scheme { alg: scheme, hash: hash.id(), extra: kdf })
            }
            _ => {
                let hash = HashAlg::unmarshal(r)?;
                Ok(Scheme { alg: scheme, hash: hash.id(), extra: 0 })
            }
        }
    }

    fn unmarshal_kdf_alg(r: &mut Reader<'_>, allow_null: bool) -> TpmResult<u16> {
        let kdf = r.u16()?;
        if schemes::KDF.contains(&kdf) || (kdf == alg::NULL && allow_null) {
            Ok(kdf)
        } else {
            Err(Rc::KDF)
        }
    }

    /// Reads a `TPMT_KDF_SCHEME+`.
    pub fn unmarshal_kdf(r: &mut Reader<'_>) -> TpmResult<Self> {
        let kdf = Scheme::unmarshal_kdf_alg(r, true)?;
        if kdf == alg::NULL {
            return Ok(Scheme::NULL);
        }
        let hash = HashAlg::unmarshal(r)?;
        Ok(Scheme { alg: kdf, hash: hash.id(), extra: 0 })
    }

    /// Reads a `TPMT_SIG_SCHEME+`.
    pub fn unmarshal_sig(r: &mut Reader<'_>) -> TpmResult<Self> {
        Scheme::unmarshal_from(r, schemes::SIG, true, Rc::SCHEME)
    }
}

impl Marshal for Scheme {
    fn marshal(&self, w: &mut Writer) {
        w.u16(self.alg);
        match self.alg {
            alg::NULL | alg::RSAES => {}
            alg::XOR | alg::ECDAA => {
                w.u16(self.hash).u16(self.extra);
            }
            _ => {
                w.u16(self.hash);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// PCR selections and digests (Part 2 §10)
// ---------------------------------------------------------------------------------

/// `TPMS_PCR_SELECTION`: one bank and a bitmap of its PCRs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PcrSelection {
    /// The bank.
    pub hash: HashAlg,
    /// Bitmap: bit `n % 8` of octet `n / 8` selects PCR `n`.
    pub select: Vec<u8>,
}

impl PcrSelection {
    /// A selection of `pcrs` in bank `hash`, with the standard three-octet bitmap.
    pub fn new(hash: HashAlg, pcrs: &[u32]) -> Self {
        let mut select = alloc::vec![0u8; PCR_SELECT];
        for &pcr in pcrs {
            let byte = usize::try_from(pcr / 8).unwrap_or(usize::MAX);
            if let Some(b) = select.get_mut(byte) {
                *b |= 1 << (pcr % 8);
            }
        }
        PcrSelection { hash, select }
    }

    /// True if PCR `pcr` is selected.
    pub fn is_selected(&self, pcr: usize) -> bool {
        self.select.get(pcr / 8).is_some_and(|b| b & (1 << (pcr % 8)) != 0)
    }

    /// The selected PCR numbers, ascending.
    pub fn pcrs(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.select.len().saturating_mul(8)).filter(|&i| self.is_selected(i))
    }
}

impl Marshal for PcrSelection {
    fn marshal(&self, w: &mut Writer) {
        w.u16(self.hash.id());
        w.u8(u8::try_from(self.select.len()).unwrap_or(0));
        w.bytes(&self.select);
    }
}

impl Unmarshal for PcrSelection {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        let hash = HashAlg::unmarshal(r)?;
        let size = usize::from(r.u8()?);
        // PCR_SELECT_MIN ..= PCR_SELECT_MAX, which are equal for 24 PCRs.
        if size != PCR_SELECT {
            return Err(Rc::VALUE);
        }
        Ok(PcrSelection { hash, select: r.bytes(size)?.to_vec() })
    }
}

/// `TPML_PCR_SELECTION`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PcrSelectionList(pub Vec<PcrSelection>);

impl Marshal for PcrSelectionList {
    fn marshal(&self, w: &mut Writer) {
        w.u32(u32::try_from(self.0.len()).unwrap_or(0));
        for s in &self.0 {
            s.marshal(w);
        }
    }
}

impl Unmarshal for PcrSelectionList {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        let count = r.u32()?;
        if usize::try_from(count).map_or(true, |c| c > HASH_COUNT) {
            return Err(Rc::SIZE);
        }
        let mut list = Vec::new();
        for _ in 0..count {
            list.push(PcrSelection::unmarshal(r)?);
        }
        Ok(PcrSelectionList(list))
    }
}

/// `TPML_DIGEST`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestList(pub Vec<Vec<u8>>);

impl DigestList {
    /// Reads a `TPML_DIGEST` with at least `min` entries (PolicyOR wants two).
    pub fn unmarshal_min(r: &mut Reader<'_>, min: u32) -> TpmResult<Self> {
        let count = r.u32()?;
        if usize::try_from(count).map_or(true, |c| c > MAX_DIGEST_LIST) || count < min {
            return Err(Rc::SIZE);
        }
        let mut list = Vec::new();
        for _ in 0..count {
            list.push(get_2b_vec(r, MAX_DIGEST)?);
        }
        Ok(DigestList(list))
    }
}

impl Marshal for DigestList {
    fn marshal(&self, w: &mut Writer) {
        w.u32(u32::try_from(self.0.len()).unwrap_or(0));
        for d in &self.0 {
            put_2b(w, d);
        }
    }
}

impl Unmarshal for DigestList {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        DigestList::unmarshal_min(r, 0)
    }
}

/// `TPMT_HA`: a digest tagged with its algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedHash {
    /// The algorithm.
    pub hash: HashAlg,
    /// The digest (exactly `hash.size()` bytes).
    pub digest: Vec<u8>,
}

impl Marshal for TaggedHash {
    fn marshal(&self, w: &mut Writer) {
        w.u16(self.hash.id()).bytes(&self.digest);
    }
}

impl Unmarshal for TaggedHash {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        let hash = HashAlg::unmarshal(r)?;
        Ok(TaggedHash { hash, digest: r.bytes(hash.size())?.to_vec() })
    }
}

/// `TPML_DIGEST_VALUES`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestValues(pub Vec<TaggedHash>);

impl Marshal for DigestValues {
    fn marshal(&self, w: &mut Writer) {
        w.u32(u32::try_from(self.0.len()).unwrap_or(0));
        for d in &self.0 {
            d.marshal(w);
        }
    }
}

impl Unmarshal for DigestValues {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        let count = r.u32()?;
        if usize::try_from(count).map_or(true, |c| c > HASH_COUNT) {
            return Err(Rc::SIZE);
        }
        let mut list = Vec::new();
        for _ in 0..count {
            list.push(TaggedHash::unmarshal(r)?);
        }
        Ok(DigestValues(list))
    }
}

// ---------------------------------------------------------------------------------
// Public and sensitive areas (Part 2 §12)
// ---------------------------------------------------------------------------------

/// `TPMS_RSA_PARMS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RsaParms {
    /// Symmetric algorithm of a storage key (NULL otherwise).
    pub symmetric: SymDef,
    /// Signing or decryption scheme (`TPMT_RSA_SCHEME+`).
    pub scheme: Scheme,
    /// Modulus size in bits.
    pub key_bits: u16,
    /// Public exponent; zero means 65537.
    pub exponent: u32,
}

/// `TPMS_ECC_PARMS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EccParms {
    /// Symmetric algorithm of a storage key (NULL otherwise).
    pub symmetric: SymDef,
    /// Signing or key-exchange scheme (`TPMT_ECC_SCHEME+`).
    pub scheme: Scheme,
    /// The curve (`TPM_ECC_CURVE`).
    pub curve: u16,
    /// KDF (`TPMT_KDF_SCHEME+`).
    pub kdf: Scheme,
}

/// The type-specific parts of `TPMT_PUBLIC`: `TPMU_PUBLIC_PARMS` and
/// `TPMU_PUBLIC_ID` together, so their types cannot disagree.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PublicKind {
    /// TPM_ALG_RSA: parameters and modulus.
    Rsa {
        /// `TPMS_RSA_PARMS`.
        parms: RsaParms,
        /// `TPM2B_PUBLIC_KEY_RSA`.
        modulus: Vec<u8>,
    },
    /// TPM_ALG_ECC: parameters and public point.
    Ecc {
        /// `TPMS_ECC_PARMS`.
        parms: EccParms,
        /// x coordinate.
        x: Vec<u8>,
        /// y coordinate.
        y: Vec<u8>,
    },
    /// TPM_ALG_KEYEDHASH: an HMAC key or sealed data.
    KeyedHash {
        /// `TPMT_KEYEDHASH_SCHEME+`.
        scheme: Scheme,
        /// `TPM2B_DIGEST`: H(seedValue ‖ sensitive).
        unique: Vec<u8>,
    },
    /// TPM_ALG_SYMCIPHER: a symmetric key.
    SymCipher {
        /// `TPMT_SYM_DEF_OBJECT` (not NULL).
        sym: SymDef,
        /// `TPM2B_DIGEST`.
        unique: Vec<u8>,
    },
}

impl PublicKind {
    /// The `TPMI_ALG_PUBLIC` type.
    pub fn type_alg(&self) -> u16 {
        match self {
            PublicKind::Rsa { .. } => alg::RSA,
            PublicKind::Ecc { .. } => alg::ECC,
            PublicKind::KeyedHash { .. } => alg::KEYEDHASH,
            PublicKind::SymCipher { .. } => alg::SYMCIPHER,
        }
    }

    /// The symmetric definition of an asymmetric or symmetric object (for a storage
    /// key: the algorithm that protects its children).
    pub fn symmetric(&self) -> SymDef {
        match self {
            PublicKind::Rsa { parms, .. } => parms.symmetric,
            PublicKind::Ecc { parms, .. } => parms.symmetric,
            PublicKind::SymCipher { sym, .. } => *sym,
            PublicKind::KeyedHash { .. } => SymDef::Null,
        }
    }
}

/// `TPMT_PUBLIC`: the public area of an object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Public {
    /// Name algorithm (`None` = TPM_ALG_NULL, only for LoadExternal).
    pub name_alg: Option<HashAlg>,
    /// `TPMA_OBJECT`.
    pub attributes: u32,
    /// `authPolicy`.
    pub auth_policy: Vec<u8>,
    /// Parameters and unique identifier.
    pub kind: PublicKind,
}

impl Public {
    /// True if every bit of `bits` (`TPMA_OBJECT`) is set.
    pub fn has(&self, bits: u32) -> bool {
        self.attributes & bits == bits
    }

    /// Reads a `TPMT_PUBLIC`; `allow_null_name` is the `+` of `TPM2B_PUBLIC+`.
    pub fn unmarshal_public(r: &mut Reader<'_>, allow_null_name: bool) -> TpmResult<Self> {
        let object_type = r.u16()?;
        if !matches!(object_type, alg::RSA | alg::ECC | alg::KEYEDHASH | alg::SYMCIPHER) {
            return Err(Rc::TYPE);
        }
        let name_alg = HashAlg::unmarshal_opt(r, allow_null_name)?;
        let attributes = r.u32()?;
        if attributes & object_attr::RESERVED != 0 {
            return Err(Rc::RESERVED_BITS);
        }
        let auth_policy = get_2b_vec(r, MAX_DIGEST)?;
        let kind = match object_type {
            alg::RSA => {
                let symmetric = SymDef::unmarshal_def(r, true, true)?;
                let scheme = Scheme::unmarshal_from(
                    r,
                    &[alg::RSASSA, alg::RSAPSS, alg::RSAES, alg::OAEP],
                    true,
                    Rc::VALUE,
                )?;
                let key_bits = r.u16()?;
                if !matches!(key_bits, 1024 | 2048 | 3072 | 4096) {
                    return Err(Rc::VALUE);
                }
                let exponent = r.u32()?;
                let modulus = get_2b_vec(r, MAX_RSA_KEY_BYTES)?;
                PublicKind::Rsa {
                    parms: RsaParms { symmetric, scheme, key_bits, exponent },
                    modulus,
                }
            }
            alg::ECC => {
                let symmetric = SymDef::unmarshal_def(r, true, true)?;
                let scheme = Scheme::unmarshal_from(r, schemes::ECC, true, Rc::SCHEME)?;
                let curve = r.u16()?;
                if EccCurve::from_id(curve).is_none() {
                    return Err(Rc::CURVE);
                }
                let kdf = Scheme::unmarshal_kdf(r)?;
                let x = get_2b_vec(r, MAX_ECC_KEY_BYTES)?;
                let y = get_2b_vec(r, MAX_ECC_KEY_BYTES)?;
                PublicKind::Ecc { parms: EccParms { symmetric, scheme, curve, kdf }, x, y }
            }
            alg::KEYEDHASH => {
                let scheme = Scheme::unmarshal_from(r, schemes::KEYEDHASH, true, Rc::VALUE)?;
                let unique = get_2b_vec(r, MAX_DIGEST)?;
                PublicKind::KeyedHash { scheme, unique }
            }
            _ => {
                let sym = SymDef::unmarshal_def(r, true, false)?;
                let unique = get_2b_vec(r, MAX_DIGEST)?;
                PublicKind::SymCipher { sym, unique }
            }
        };
        Ok(Public { name_alg, attributes, auth_policy, kind })
    }

    /// Reads a `TPM2B_PUBLIC` (`allow_null_name` as in [`Public::unmarshal_public`]).
    pub fn unmarshal_2b(r: &mut Reader<'_>, allow_null_name: bool) -> TpmResult<Self> {
        get_sized(r, |r| Public::unmarshal_public(r, allow_null_name))
    }

    /// Writes a `TPM2B_PUBLIC`.
    pub fn marshal_2b(&self, w: &mut Writer) {
        put_sized(w, self);
    }
}

impl Marshal for Public {
    fn marshal(&self, w: &mut Writer) {
        w.u16(self.kind.type_alg());
        put_hash_opt(w, self.name_alg);
        w.u32(self.attributes);
        put_2b(w, &self.auth_policy);
        match &self.kind {
            PublicKind::Rsa { parms, modulus } => {
                parms.symmetric.marshal(w);
                parms.scheme.marshal(w);
                w.u16(parms.key_bits).u32(parms.exponent);
                put_2b(w, modulus);
            }
            PublicKind::Ecc { parms, x, y } => {
                parms.symmetric.marshal(w);
                parms.scheme.marshal(w);
                w.u16(parms.curve);
                parms.kdf.marshal(w);
                put_2b(w, x);
                put_2b(w, y);
            }
            PublicKind::KeyedHash { scheme, unique } => {
                scheme.marshal(w);
                put_2b(w, unique);
            }
            PublicKind::SymCipher { sym, unique } => {
                sym.marshal(w);
                put_2b(w, unique);
            }
        }
    }
}

impl Unmarshal for Public {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        Public::unmarshal_public(r, false)
    }
}

/// `TPMT_SENSITIVE`: the secret part of an object.
#[derive(Clone, Debug, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct Sensitive {
    /// `sensitiveType`: the object type (`TPMI_ALG_PUBLIC`).
    pub sensitive_type: u16,
    /// `authValue`.
    pub auth_value: Vec<u8>,
    /// `seedValue`: protection seed of a storage key, obfuscation value otherwise.
    pub seed_value: Vec<u8>,
    /// `TPMU_SENSITIVE_COMPOSITE`: RSA prime, ECC scalar, sealed data / HMAC key, or
    /// symmetric key.
    pub sensitive: Vec<u8>,
}

impl Marshal for Sensitive {
    fn marshal(&self, w: &mut Writer) {
        w.u16(self.sensitive_type);
        put_2b(w, &self.auth_value);
        put_2b(w, &self.seed_value);
        put_2b(w, &self.sensitive);
    }
}

impl Unmarshal for Sensitive {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        let sensitive_type = r.u16()?;
        let max = match sensitive_type {
            alg::RSA => MAX_RSA_PRIME_BYTES,
            alg::ECC => MAX_ECC_KEY_BYTES,
            alg::KEYEDHASH => MAX_SENSITIVE_DATA,
            alg::SYMCIPHER => MAX_SYM_KEY,
            _ => return Err(Rc::TYPE),
        };
        let auth_value = get_2b_vec(r, MAX_DIGEST)?;
        let seed_value = get_2b_vec(r, MAX_DIGEST)?;
        let sensitive = get_2b_vec(r, max)?;
        Ok(Sensitive { sensitive_type, auth_value, seed_value, sensitive })
    }
}

/// `TPMS_SENSITIVE_CREATE`: what the caller supplies for a new object.
#[derive(Clone, Debug, Default, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct SensitiveCreate {
    /// `userAuth`.
    pub user_auth: Vec<u8>,
    /// `data`: data to seal, or a key the caller provides.
    pub data: Vec<u8>,
}

impl Marshal for SensitiveCreate {
    fn marshal(&self, w: &mut Writer) {
        put_2b(w, &self.user_auth);
        put_2b(w, &self.data);
    }
}

impl SensitiveCreate {
    /// Reads a `TPM2B_SENSITIVE_CREATE`.
    pub fn unmarshal_2b(r: &mut Reader<'_>) -> TpmResult<Self> {
        get_sized(r, |r| {
            let user_auth = get_2b_vec(r, MAX_DIGEST)?;
            let data = get_2b_vec(r, MAX_SENSITIVE_DATA)?;
            Ok(SensitiveCreate { user_auth, data })
        })
    }
}

/// `TPMS_CREATION_DATA`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreationData {
    /// PCRs included in `pcr_digest`.
    pub pcr_select: PcrSelectionList,
    /// Digest of the selected PCRs (object's nameAlg).
    pub pcr_digest: Vec<u8>,
    /// `TPMA_LOCALITY` of the creating command.
    pub locality: u8,
    /// Parent's nameAlg (`TPM_ALG_NULL` for a primary object).
    pub parent_name_alg: u16,
    /// Parent's Name.
    pub parent_name: Vec<u8>,
    /// Parent's Qualified Name.
    pub parent_qualified_name: Vec<u8>,
    /// `outsideInfo` from the caller.
    pub outside_info: Vec<u8>,
}

impl Marshal for CreationData {
    fn marshal(&self, w: &mut Writer) {
        self.pcr_select.marshal(w);
        put_2b(w, &self.pcr_digest);
        w.u8(self.locality).u16(self.parent_name_alg);
        put_2b(w, &self.parent_name);
        put_2b(w, &self.parent_qualified_name);
        put_2b(w, &self.outside_info);
    }
}

impl Unmarshal for CreationData {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        Ok(CreationData {
            pcr_select: PcrSelectionList::unmarshal(r)?,
            pcr_digest: get_2b_vec(r, MAX_DIGEST)?,
            locality: r.u8()?,
            parent_name_alg: r.u16()?,
            parent_name: get_2b_vec(r, MAX_NAME)?,
            parent_qualified_name: get_2b_vec(r, MAX_NAME)?,
            outside_info: get_2b_vec(r, MAX_DATA)?,
        })
    }
}

/// A ticket: `TPMT_TK_CREATION`, `TPMT_TK_VERIFIED`, `TPMT_TK_AUTH` or
/// `TPMT_TK_HASHCHECK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// `TPM_ST_CREATION`, `TPM_ST_VERIFIED`, `TPM_ST_AUTH_*` or `TPM_ST_HASHCHECK`.
    pub tag: u16,
    /// The hierarchy whose proof keys the HMAC (`TPM_RH_NULL` for a null ticket).
    pub hierarchy: u32,
    /// The HMAC (empty for a null ticket).
    pub digest: Vec<u8>,
}

impl Ticket {
    /// A null ticket of the given kind (`TPM_RH_NULL`, empty digest).
    pub fn null(tag: u16) -> Self {
        Ticket { tag, hierarchy: handle::NULL, digest: Vec::new() }
    }

    /// Reads a ticket whose tag must be one of `tags` (TPM_RC_TAG otherwise).
    pub fn unmarshal_tagged(r: &mut Reader<'_>, tags: &[u16]) -> TpmResult<Self> {
        let tag = r.u16()?;
        if !tags.contains(&tag) {
            return Err(Rc::TAG);
        }
        let hierarchy = r.u32()?;
        if !matches!(
            hierarchy,
            handle::OWNER | handle::PLATFORM | handle::ENDORSEMENT | handle::NULL
        ) {
            return Err(Rc::VALUE);
        }
        let digest = get_2b_vec(r, MAX_DIGEST)?;
        Ok(Ticket { tag, hierarchy, digest })
    }
}

impl Marshal for Ticket {
    fn marshal(&self, w: &mut Writer) {
        w.u16(self.tag).u32(self.hierarchy);
        put_2b(w, &self.digest);
    }
}

/// `TPMT_SIGNATURE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// TPM_ALG_NULL.
    Null,
    /// RSASSA or RSAPSS (`TPMS_SIGNATURE_RSA`).
    Rsa {
        /// TPM_ALG_RSASSA or TPM_ALG_RSAPSS.
        scheme: u16,
        /// The hash that was signed.
        hash: HashAlg,
        /// The signature (modulus-sized).
        sig: Vec<u8>,
    },
    /// ECDSA (`TPMS_SIGNATURE_ECC`).
    Ecdsa {
        /// The hash that was signed.
        hash: HashAlg,
        /// r.
        r: Vec<u8>,
        /// s.
        s: Vec<u8>,
    },
    /// HMAC (`TPMT_HA`).
    Hmac(TaggedHash),
}

impl Signature {
    /// Reads a `TPMT_SIGNATURE` (`allow_null` is its `+`).
    pub fn unmarshal_opt(r: &mut Reader<'_>, allow_null: bool) -> TpmResult<Self> {
        let sig_alg = r.u16()?;
        match sig_alg {
            alg::NULL if allow_null => Ok(Signature::Null),
            alg::RSASSA | alg::RSAPSS => {
                let hash = HashAlg::unmarshal(r)?;
                let sig = get_2b_vec(r, MAX_RSA_KEY_BYTES)?;
                Ok(Signature::Rsa { scheme: sig_alg, hash, sig })
            }
            alg::ECDSA => {
                let hash = HashAlg::unmarshal(r)?;
                let rr = get_2b_vec(r, MAX_ECC_KEY_BYTES)?;
                let s = get_2b_vec(r, MAX_ECC_KEY_BYTES)?;
                Ok(Signature::Ecdsa { hash, r: rr, s })
            }
            alg::HMAC => Ok(Signature::Hmac(TaggedHash::unmarshal(r)?)),
            _ => Err(Rc::SCHEME),
        }
    }

    /// The signature scheme's algorithm ID.
    pub fn scheme(&self) -> u16 {
        match self {
            Signature::Null => alg::NULL,
            Signature::Rsa { scheme, .. } => *scheme,
            Signature::Ecdsa { .. } => alg::ECDSA,
            Signature::Hmac(_) => alg::HMAC,
        }
    }
}

impl Marshal for Signature {
    fn marshal(&self, w: &mut Writer) {
        w.u16(self.scheme());
        match self {
            Signature::Null => {}
            Signature::Rsa { hash, sig, .. } => {
                w.u16(hash.id());
                put_2b(w, sig);
            }
            Signature::Ecdsa { hash, r, s } => {
                w.u16(hash.id());
                put_2b(w, r);
                put_2b(w, s);
            }
            Signature::Hmac(ha) => {
                ha.hash.marshal(w);
                w.bytes(&ha.digest);
            }
        }
    }
}

impl Unmarshal for Signature {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        Signature::unmarshal_opt(r, false)
    }
}

/// `TPMS_ECC_POINT`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EccPoint {
    /// x coordinate.
    pub x: Vec<u8>,
    /// y coordinate.
    pub y: Vec<u8>,
}

impl Marshal for EccPoint {
    fn marshal(&self, w: &mut Writer) {
        put_2b(w, &self.x);
        put_2b(w, &self.y);
    }
}

impl Unmarshal for EccPoint {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        Ok(EccPoint { x: get_2b_vec(r, MAX_ECC_KEY_BYTES)?, y: get_2b_vec(r, MAX_ECC_KEY_BYTES)? })
    }
}

impl EccPoint {
    /// Reads a `TPM2B_ECC_POINT`.
    pub fn unmarshal_2b(r: &mut Reader<'_>) -> TpmResult<Self> {
        get_sized(r, EccPoint::unmarshal)
    }
}

// ---------------------------------------------------------------------------------
// NV (Part 2 §13)
// ---------------------------------------------------------------------------------

/// `TPMS_NV_PUBLIC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NvPublic {
    /// The index handle.
    pub index: u32,
    /// Name algorithm.
    pub name_alg: HashAlg,
    /// `TPMA_NV`.
    pub attributes: u32,
    /// `authPolicy`.
    pub auth_policy: Vec<u8>,
    /// Data size in bytes.
    pub data_size: u16,
}

impl NvPublic {
    /// The index type (`TPM_NT`).
    pub fn nt(&self) -> u32 {
        (self.attributes & nv_attr::TPM_NT_MASK) >> nv_attr::TPM_NT_SHIFT
    }

    /// True if every bit of `bits` (`TPMA_NV`) is set.
    pub fn has(&self, bits: u32) -> bool {
        self.attributes & bits == bits
    }

    /// Reads a `TPM2B_NV_PUBLIC`.
    pub fn unmarshal_2b(r: &mut Reader<'_>) -> TpmResult<Self> {
        get_sized(r, NvPublic::unmarshal)
    }
}

impl Marshal for NvPublic {
    fn marshal(&self, w: &mut Writer) {
        w.u32(self.index).u16(self.name_alg.id()).u32(self.attributes);
        put_2b(w, &self.auth_policy);
        w.u16(self.data_size);
    }
}

impl Unmarshal for NvPublic {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        let index = r.u32()?;
        if !(handle::NV_INDEX_FIRST..=handle::NV_INDEX_LAST).contains(&index) {
            return Err(Rc::VALUE);
        }
        let name_alg = HashAlg::unmarshal(r)?;
        let attributes = r.u32()?;
        if attributes & nv_attr::RESERVED != 0 {
            return Err(Rc::RESERVED_BITS);
        }
        let auth_policy = get_2b_vec(r, MAX_DIGEST)?;
        let data_size = r.u16()?;
        if usize::from(data_size) > MAX_NV_INDEX_SIZE {
            return Err(Rc::SIZE);
        }
        Ok(NvPublic { index, name_alg, attributes, auth_policy, data_size })
    }
}

// ---------------------------------------------------------------------------------
// Context, clock and attestation (Part 2 §10.11–§10.12, §14)
// ---------------------------------------------------------------------------------

/// `TPMS_CONTEXT`: a saved object, sequence or session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// Context sequence number.
    pub sequence: u64,
    /// The handle the context was saved from.
    pub saved_handle: u32,
    /// Hierarchy the context belongs to.
    pub hierarchy: u32,
    /// `TPM2B_CONTEXT_DATA`: integrity HMAC and encrypted state.
    pub blob: Vec<u8>,
}

impl Marshal for Context {
    fn marshal(&self, w: &mut Writer) {
        w.u64(self.sequence).u32(self.saved_handle).u32(self.hierarchy);
        put_2b(w, &self.blob);
    }
}

impl Unmarshal for Context {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        let sequence = r.u64()?;
        let saved_handle = r.u32()?;
        // TPMI_DH_SAVED: a session, or one of the three saved-object handles.
        let kind = handle::kind(saved_handle);
        let ok = matches!(kind, handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION)
            || (0x8000_0000..=0x8000_0002).contains(&saved_handle);
        if !ok {
            return Err(Rc::VALUE);
        }
        let hierarchy = r.u32()?;
        if !matches!(
            hierarchy,
            handle::OWNER | handle::PLATFORM | handle::ENDORSEMENT | handle::NULL
        ) {
            return Err(Rc::VALUE);
        }
        let blob = get_2b_vec(r, MAX_CONTEXT_DATA)?;
        Ok(Context { sequence, saved_handle, hierarchy, blob })
    }
}

/// `TPMS_CLOCK_INFO`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockInfo {
    /// Milliseconds the TPM has been powered since manufacture (or ClockSet).
    pub clock: u64,
    /// TPM Resets since the last TPM2_Clear.
    pub reset_count: u32,
    /// TPM Restarts/Resumes since the last Reset or Clear.
    pub restart_count: u32,
    /// True if `clock` has not gone backwards since it was last reported.
    pub safe: bool,
}

impl Marshal for ClockInfo {
    fn marshal(&self, w: &mut Writer) {
        w.u64(self.clock).u32(self.reset_count).u32(self.restart_count).u8(u8::from(self.safe));
    }
}

impl Unmarshal for ClockInfo {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        Ok(ClockInfo {
            clock: r.u64()?,
            reset_count: r.u32()?,
            restart_count: r.u32()?,
            safe: get_yes_no(r)?,
        })
    }
}

/// `TPMS_TIME_INFO`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeInfo {
    /// Milliseconds since the last _TPM_Init.
    pub time: u64,
    /// The clock.
    pub clock_info: ClockInfo,
}

impl Marshal for TimeInfo {
    fn marshal(&self, w: &mut Writer) {
        w.u64(self.time);
        self.clock_info.marshal(w);
    }
}

impl Unmarshal for TimeInfo {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        Ok(TimeInfo { time: r.u64()?, clock_info: ClockInfo::unmarshal(r)? })
    }
}

/// `TPMU_ATTEST`: what an attestation structure vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attested {
    /// `TPMS_CERTIFY_INFO` (TPM_ST_ATTEST_CERTIFY).
    Certify {
        /// Name of the certified object.
        name: Vec<u8>,
        /// Qualified Name of the certified object.
        qualified_name: Vec<u8>,
    },
    /// `TPMS_CREATION_INFO` (TPM_ST_ATTEST_CREATION).
    Creation {
        /// Name of the object.
        object_name: Vec<u8>,
        /// Its creation hash.
        creation_hash: Vec<u8>,
    },
    /// `TPMS_QUOTE_INFO` (TPM_ST_ATTEST_QUOTE).
    Quote {
        /// The quoted PCRs.
        pcr_select: PcrSelectionList,
        /// Digest of their values.
        pcr_digest: Vec<u8>,
    },
    /// `TPMS_TIME_ATTEST_INFO` (TPM_ST_ATTEST_TIME).
    Time {
        /// The time.
        time: TimeInfo,
        /// Firmware version.
        firmware_version: u64,
    },
    /// `TPMS_SESSION_AUDIT_INFO` (TPM_ST_ATTEST_SESSION_AUDIT).
    SessionAudit {
        /// True if all commands of the session were audited exclusively.
        exclusive_session: bool,
        /// The session's audit digest.
        session_digest: Vec<u8>,
    },
    /// `TPMS_COMMAND_AUDIT_INFO` (TPM_ST_ATTEST_COMMAND_AUDIT).
    CommandAudit {
        /// Audit counter.
        audit_counter: u64,
        /// Hash of the audit digest.
        digest_alg: u16,
        /// Audit digest.
        audit_digest: Vec<u8>,
        /// Digest of the audited command codes.
        command_digest: Vec<u8>,
    },
    /// `TPMS_NV_CERTIFY_INFO` (TPM_ST_ATTEST_NV).
    Nv {
        /// Name of the index.
        index_name: Vec<u8>,
        /// Offset of the certified data.
        offset: u16,
        /// The data.
        contents: Vec<u8>,
    },
    /// `TPMS_NV_DIGEST_CERTIFY_INFO` (TPM_ST_ATTEST_NV_DIGEST).
    NvDigest {
        /// Name of the index.
        index_name: Vec<u8>,
        /// Digest of its contents.
        nv_digest: Vec<u8>,
    },
}

impl Attested {
    /// The `TPMI_ST_ATTEST` tag.
    pub fn tag(&self) -> u16 {
        match self {
            Attested::Certify { .. } => st::ATTEST_CERTIFY,
            Attested::Creation { .. } => st::ATTEST_CREATION,
            Attested::Quote { .. } => st::ATTEST_QUOTE,
            Attested::Time { .. } => st::ATTEST_TIME,
            Attested::SessionAudit { .. } => st::ATTEST_SESSION_AUDIT,
            Attested::CommandAudit { .. } => st::ATTEST_COMMAND_AUDIT,
            Attested::Nv { .. } => st::ATTEST_NV,
            Attested::NvDigest { .. } => st::ATTEST_NV_DIGEST,
        }
    }
}

/// The magic value at the start of every `TPMS_ATTEST` (`TPM_GENERATED_VALUE`).
pub const TPM_GENERATED_VALUE: u32 = 0xFF54_4347;

/// `TPMS_ATTEST`: the structure a TPM signs to attest something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attest {
    /// Qualified Name of the signing key.
    pub qualified_signer: Vec<u8>,
    /// Caller's `qualifyingData`.
    pub extra_data: Vec<u8>,
    /// Clock state (obfuscated for keys outside the endorsement/platform
    /// hierarchies).
    pub clock_info: ClockInfo,
    /// Firmware version.
    pub firmware_version: u64,
    /// The attested data.
    pub attested: Attested,
}

impl Marshal for Attest {
    fn marshal(&self, w: &mut Writer) {
        w.u32(TPM_GENERATED_VALUE).u16(self.attested.tag());
        put_2b(w, &self.qualified_signer);
        put_2b(w, &self.extra_data);
        self.clock_info.marshal(w);
        w.u64(self.firmware_version);
        match &self.attested {
            Attested::Certify { name, qualified_name } => {
                put_2b(w, name);
                put_2b(w, qualified_name);
            }
            Attested::Creation { object_name, creation_hash } => {
                put_2b(w, object_name);
                put_2b(w, creation_hash);
            }
            Attested::Quote { pcr_select, pcr_digest } => {
                pcr_select.marshal(w);
                put_2b(w, pcr_digest);
            }
            Attested::Time { time, firmware_version } => {
                time.marshal(w);
                w.u64(*firmware_version);
            }
            Attested::SessionAudit { exclusive_session, session_digest } => {
                w.u8(u8::from(*exclusive_session));
                put_2b(w, session_digest);
            }
            Attested::CommandAudit { audit_counter, digest_alg, audit_digest, command_digest } => {
                w.u64(*audit_counter).u16(*digest_alg);
                put_2b(w, audit_digest);
                put_2b(w, command_digest);
            }
            Attested::Nv { index_name, offset, contents } => {
                put_2b(w, index_name);
                w.u16(*offset);
                put_2b(w, contents);
            }
            Attested::NvDigest { index_name, nv_digest } => {
                put_2b(w, index_name);
                put_2b(w, nv_digest);
            }
        }
    }
}

impl Unmarshal for Attest {
    fn unmarshal(r: &mut Reader<'_>) -> TpmResult<Self> {
        if r.u32()? != TPM_GENERATED_VALUE {
            return Err(Rc::VALUE);
        }
        let tag = r.u16()?;
        let qualified_signer = get_2b_vec(r, MAX_NAME)?;
        let extra_data = get_2b_vec(r, MAX_DATA)?;
        let clock_info = ClockInfo::unmarshal(r)?;
        let firmware_version = r.u64()?;
        let attested = match tag {
            st::ATTEST_CERTIFY => Attested::Certify {
                name: get_2b_vec(r, MAX_NAME)?,
                qualified_name: get_2b_vec(r, MAX_NAME)?,
            },
            st::ATTEST_CREATION => Attested::Creation {
                object_name: get_2b_vec(r, MAX_NAME)?,
                creation_hash: get_2b_vec(r, MAX_DIGEST)?,
            },
            st::ATTEST_QUOTE => Attested::Quote {
                pcr_select: PcrSelectionList::unmarshal(r)?,
                pcr_digest: get_2b_vec(r, MAX_DIGEST)?,
            },
            st::ATTEST_TIME => {
                Attested::Time { time: TimeInfo::unmarshal(r)?, firmware_version: r.u64()? }
            }
            st::ATTEST_SESSION_AUDIT => Attested::SessionAudit {
                exclusive_session: get_yes_no(r)?,
                session_digest: get_2b_vec(r, MAX_DIGEST)?,
            },
            st::ATTEST_COMMAND_AUDIT => Attested::CommandAudit {
                audit_counter: r.u64()?,
                digest_alg: r.u16()?,
                audit_digest: get_2b_vec(r, MAX_DIGEST)?,
                command_digest: get_2b_vec(r, MAX_DIGEST)?,
            },
            st::ATTEST_NV => Attested::Nv {
                index_name: get_2b_vec(r, MAX_NAME)?,
                offset: r.u16()?,
                contents: get_2b_vec(r, MAX_NV_BUFFER)?,
            },
            st::ATTEST_NV_DIGEST => Attested::NvDigest {
                index_name: get_2b_vec(r, MAX_NAME)?,
                nv_digest: get_2b_vec(r, MAX_DIGEST)?,
            },
            _ => return Err(Rc::SELECTOR),
        };
        Ok(Attest { qualified_signer, extra_data, clock_info, firmware_version, attested })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn rsa_template() -> Public {
        Public {
            name_alg: Some(HashAlg::Sha256),
            attributes: object_attr::FIXED_TPM
                | object_attr::FIXED_PARENT
                | object_attr::SENSITIVE_DATA_ORIGIN
                | object_attr::USER_WITH_AUTH
                | object_attr::RESTRICTED
                | object_attr::DECRYPT,
            auth_policy: Vec::new(),
            kind: PublicKind::Rsa {
                parms: RsaParms {
                    symmetric: SymDef::AES_128_CFB,
                    scheme: Scheme::NULL,
                    key_bits: 2048,
                    exponent: 0,
                },
                modulus: Vec::new(),
            },
        }
    }

    #[test]
    fn public_round_trips() {
        let public = rsa_template();
        let mut w = Writer::new();
        public.marshal_2b(&mut w);
        let bytes = w.into_vec();
        let mut r = Reader::new(&bytes);
        assert_eq!(Public::unmarshal_2b(&mut r, false), Ok(public));
        assert!(r.is_empty());
    }

    #[test]
    fn public_reserved_attribute_is_rejected() {
        let mut public = rsa_template();
        public.attributes |= 1;
        assert_eq!(Public::from_bytes(&public.to_bytes()), Err(Rc::RESERVED_BITS));
    }

    #[test]
    fn public_size_mismatch_is_size() {
        let mut bytes = Vec::new();
        let inner = rsa_template().to_bytes();
        bytes.extend_from_slice(&u16::try_from(inner.len() + 1).unwrap().to_be_bytes());
        bytes.extend_from_slice(&inner);
        bytes.push(0);
        assert_eq!(Public::unmarshal_2b(&mut Reader::new(&bytes), false), Err(Rc::SIZE));
    }

    #[test]
    fn null_name_alg_needs_the_plus() {
        let mut public = rsa_template();
        public.name_alg = None;
        let bytes = public.to_bytes();
        assert_eq!(Public::from_bytes(&bytes), Err(Rc::HASH));
        let mut r = Reader::new(&bytes);
        assert_eq!(Public::unmarshal_public(&mut r, true), Ok(public));
    }

    #[test]
    fn pcr_selection_size_must_be_three() {
        let bytes = [0x00, 0x0B, 0x04, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(PcrSelection::unmarshal(&mut Reader::new(&bytes)), Err(Rc::VALUE));
        let sel = PcrSelection::new(HashAlg::Sha256, &[0, 7, 16, 23]);
        assert_eq!(sel.select, vec![0x81, 0x00, 0x81]);
        assert_eq!(sel.pcrs().collect::<Vec<_>>(), vec![0, 7, 16, 23]);
    }

    #[test]
    fn truncated_input_is_insufficient() {
        let bytes = rsa_template().to_bytes();
        for cut in 0..bytes.len() {
            assert!(Public::from_bytes(&bytes[..cut]).is_err());
        }
        assert_eq!(Public::from_bytes(&bytes[..1]), Err(Rc::INSUFFICIENT));
    }

    #[test]
    fn signature_round_trips() {
        for sig in [
            Signature::Null,
            Signature::Rsa { scheme: alg::RSASSA, hash: HashAlg::Sha256, sig: vec![1; 256] },
            Signature::Ecdsa { hash: HashAlg::Sha384, r: vec![2; 48], s: vec![3; 48] },
            Signature::Hmac(TaggedHash { hash: HashAlg::Sha1, digest: vec![4; 20] }),
        ] {
            let bytes = sig.to_bytes();
            assert_eq!(Signature::unmarshal_opt(&mut Reader::new(&bytes), true), Ok(sig));
        }
    }

    #[test]
    fn attest_round_trips() {
        let attest = Attest {
            qualified_signer: vec![0, 0xB, 1, 2],
            extra_data: vec![9; 8],
            clock_info: ClockInfo { clock: 5, reset_count: 1, restart_count: 2, safe: true },
            firmware_version: 7,
            attested: Attested::Quote {
                pcr_select: PcrSelectionList(vec![PcrSelection::new(HashAlg::Sha256, &[0])]),
                pcr_digest: vec![1; 32],
            },
        };
        assert_eq!(Attest::from_bytes(&attest.to_bytes()), Ok(attest));
    }
}
