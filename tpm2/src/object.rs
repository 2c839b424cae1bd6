//! Objects: the loaded form of keys and sealed data, their Names, the key
//! material behind them, and hash/HMAC/event sequences (TPM 2.0 Part 1 §27, §32).

use crate::Secret;
use crate::crypto::ecc::{EccPublic, EccSecret};
use crate::crypto::hash::{self, Hasher, SavableHmac};
use crate::crypto::rsa as rsa_ops;
use crate::types::{
    EccCurve, HashAlg, Marshal, Public, PublicKind, Rc, Sensitive, TpmResult, handle,
};
use alloc::boxed::Box;
use alloc::vec::Vec;
use rsa::{RsaPrivateKey, RsaPublicKey};

/// The hierarchies an object or context can belong to (Part 1 §13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hierarchy {
    /// The null hierarchy (ephemeral, reset with every TPM Reset).
    Null,
    /// The storage (owner) hierarchy.
    Owner,
    /// The endorsement hierarchy.
    Endorsement,
    /// The platform hierarchy.
    Platform,
}

impl Hierarchy {
    /// The hierarchy a `TPMI_RH_HIERARCHY` handle names.
    pub fn from_handle(h: u32) -> Option<Self> {
        match h {
            handle::OWNER => Some(Hierarchy::Owner),
            handle::ENDORSEMENT => Some(Hierarchy::Endorsement),
            handle::PLATFORM => Some(Hierarchy::Platform),
            handle::NULL => Some(Hierarchy::Null),
            _ => None,
        }
    }

    /// The hierarchy's handle.
    pub fn handle(self) -> u32 {
        match self {
            Hierarchy::Null => handle::NULL,
            Hierarchy::Owner => handle::OWNER,
            Hierarchy::Endorsement => handle::ENDORSEMENT,
            Hierarchy::Platform => handle::PLATFORM,
        }
    }

    /// Compact code for state blobs.
    pub fn code(self) -> u8 {
        match self {
            Hierarchy::Null => 0,
            Hierarchy::Owner => 1,
            Hierarchy::Endorsement => 2,
            Hierarchy::Platform => 3,
        }
    }

    /// Parses [`Hierarchy::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Hierarchy::Null),
            1 => Some(Hierarchy::Owner),
            2 => Some(Hierarchy::Endorsement),
            3 => Some(Hierarchy::Platform),
            _ => None,
        }
    }
}

/// The key material of an object, derived from its public and sensitive areas
/// when it is loaded (never serialised: rebuilt on restore).
#[derive(Clone, Debug, Default)]
pub enum KeyMaterial {
    /// No asymmetric key (keyed hash, symmetric, sealed data).
    #[default]
    None,
    /// An RSA key pair.
    RsaPrivate(Box<RsaPrivateKey>),
    /// An RSA public key only.
    RsaPublic(Box<RsaPublicKey>),
    /// An ECC key pair.
    EccPrivate(Box<EccSecret>),
    /// An ECC public key only.
    EccPublic(EccPublic),
}

/// Flags of a loaded object beyond its public attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectFlags {
    /// Created by TPM2_CreatePrimary.
    pub primary: bool,
    /// Loaded with TPM2_LoadExternal (no parent; may not be a parent).
    pub external: bool,
    /// Cannot survive a TPM Restart: stClear, or a descendant of an stClear key.
    pub st_clear: bool,
}

impl ObjectFlags {
    fn code(self) -> u8 {
        u8::from(self.primary) | (u8::from(self.external) << 1) | (u8::from(self.st_clear) << 2)
    }

    fn from_code(code: u8) -> Option<Self> {
        (code & !7 == 0).then_some(ObjectFlags {
            primary: code & 1 != 0,
            external: code & 2 != 0,
            st_clear: code & 4 != 0,
        })
    }
}

/// A loaded (or persistent) object.
#[derive(Clone, Debug)]
pub struct Object {
    /// The public area.
    pub public: Public,
    /// The sensitive area (`None` for a public-only object).
    pub sensitive: Option<Sensitive>,
    /// The Name: nameAlg ‖ H(public area), or empty for nameAlg NULL.
    pub name: Vec<u8>,
    /// The Qualified Name (Part 1 §16): H(parent's QN ‖ Name).
    pub qualified_name: Vec<u8>,
    /// The hierarchy the object belongs to.
    pub hierarchy: Hierarchy,
    /// Other flags.
    pub flags: ObjectFlags,
    /// Key material derived from the areas.
    pub key: KeyMaterial,
}

/// The Name of a public area: nameAlg ‖ H_nameAlg(TPMT_PUBLIC) (Part 1 §16).
pub fn public_name(public: &Public) -> Vec<u8> {
    match public.name_alg {
        None => Vec::new(),
        Some(alg) => {
            let mut name = alg.id().to_be_bytes().to_vec();
            name.extend(hash::digest(alg, &public.to_bytes()));
            name
        }
    }
}

/// The Qualified Name of a child: nameAlg ‖ H_nameAlg(parentQN ‖ Name).
pub fn qualified_name(name_alg: Option<HashAlg>, parent_qn: &[u8], name: &[u8]) -> Vec<u8> {
    match name_alg {
        None => Vec::new(),
        Some(alg) => {
            let mut qn = alg.id().to_be_bytes().to_vec();
            qn.extend(hash::digest_parts(alg, &[parent_qn, name]));
            qn
        }
    }
}

/// The Qualified Name of a hierarchy (its handle, Part 1 §16).
pub fn hierarchy_qn(h: Hierarchy) -> Vec<u8> {
    h.handle().to_be_bytes().to_vec()
}

impl Object {
    /// Builds an object and its key material, checking that the sensitive part
    /// belongs to the public one (TPM_RC_BINDING if not, TPM_RC_KEY/ECC_POINT for a
    /// malformed public key).
    pub fn new(
        public: Public,
        sensitive: Option<Sensitive>,
        parent_qn: &[u8],
        hierarchy: Hierarchy,
        flags: ObjectFlags,
    ) -> TpmResult<Self> {
        let name = public_name(&public);
        // An external object's Qualified Name is its Name (ObjectSetLoadedAttributes).
        let qn = if flags.external {
            name.clone()
        } else {
            qualified_name(public.name_alg, parent_qn, &name)
        };
        let key = derive_key(&public, sensitive.as_ref())?;
        let mut flags = flags;
        flags.st_clear |= public.has(crate::types::object_attr::ST_CLEAR);
        Ok(Object { public, sensitive, name, qualified_name: qn, hierarchy, flags, key })
    }

    /// True if every bit of `bits` (`TPMA_OBJECT`) is set.
    pub fn has(&self, bits: u32) -> bool {
        self.public.has(bits)
    }

    /// True if only the public area is loaded.
    pub fn public_only(&self) -> bool {
        self.sensitive.is_none()
    }

    /// The authValue, trailing zeros removed (empty for a public-only object).
    pub fn auth(&self) -> &[u8] {
        self.sensitive.as_ref().map_or(&[], |s| crate::crypto::trim_trailing_zeros(&s.auth_value))
    }

    /// True for a storage key, a possible parent (`isParent`): a restricted
    /// decryption key, asymmetric or symmetric, with its sensitive area.
    pub fn is_storage_key(&self) -> bool {
        use crate::types::object_attr::{DECRYPT, RESTRICTED};
        self.has(RESTRICTED | DECRYPT)
            && !self.public_only()
            && !self.flags.external
            && self.public.name_alg.is_some()
            && !matches!(self.public.kind, PublicKind::KeyedHash { .. })
    }

    /// True for objects that may not be made persistent or outlive a TPM Reset
    /// (`temporary`): external objects and everything in the null hierarchy.
    pub fn is_temporary(&self) -> bool {
        self.flags.external || self.hierarchy == Hierarchy::Null
    }
}

/// Derives the key material for a public/sensitive pair.
pub fn derive_key(public: &Public, sensitive: Option<&Sensitive>) -> TpmResult<KeyMaterial> {
    Ok(match &public.kind {
        PublicKind::Rsa { parms, modulus } => match sensitive {
            Some(s) => {
                let key = rsa_ops::private_key(modulus, parms.exponent, &s.sensitive)?;
                if usize::from(parms.key_bits) != modulus.len().saturating_mul(8) {
                    return Err(Rc::KEY);
                }
                KeyMaterial::RsaPrivate(Box::new(key))
            }
            None => KeyMaterial::RsaPublic(Box::new(rsa_ops::public_key(
                modulus,
                parms.exponent,
                parms.key_bits,
            )?)),
        },
        PublicKind::Ecc { parms, x, y } => {
            let curve = EccCurve::from_id(parms.curve).ok_or(Rc::CURVE)?;
            let point = EccPublic::from_xy(curve, x, y)?;
            match sensitive {
                Some(s) => {
                    let secret = EccSecret::from_scalar(curve, &s.sensitive)?;
                    if secret.public() != point {
                        return Err(Rc::BINDING);
                    }
                    KeyMaterial::EccPrivate(Box::new(secret))
                }
                None => KeyMaterial::EccPublic(point),
            }
        }
        PublicKind::KeyedHash { .. } | PublicKind::SymCipher { .. } => KeyMaterial::None,
    })
}

/// What a sequence object accumulates.
#[derive(Clone, Debug)]
pub enum SequenceKind {
    /// TPM2_HashSequenceStart with a hash: one running hash, plus the first
    /// octets seen (a digest of data starting with TPM_GENERATED_VALUE gets no
    /// ticket).
    Hash {
        /// The running hash.
        hasher: Hasher,
        /// Up to the first four octets of the data.
        first: Vec<u8>,
    },
    /// TPM2_HashSequenceStart with TPM_ALG_NULL: an event sequence, one hash per
    /// implemented algorithm.
    Event {
        /// One running hash per algorithm.
        hashers: Vec<Hasher>,
    },
    /// TPM2_HMAC_Start.
    Hmac {
        /// The running HMAC.
        mac: SavableHmac,
    },
}

/// A hash, event or HMAC sequence object.
#[derive(Clone, Debug)]
pub struct Sequence {
    /// The sequence's authValue.
    pub auth: Secret,
    /// What it computes.
    pub kind: SequenceKind,
}

/// A transient object slot's content.
#[derive(Clone, Debug)]
pub enum Slot {
    /// A key or data object.
    Object(Box<Object>),
    /// A sequence object.
    Sequence(Box<Sequence>),
}

pub(crate) use ObjectFlags as Flags;

/// Serialises an object (public area, optional sensitive area, hierarchy, flags,
/// qualified name) for state blobs and contexts.
pub fn put_object(w: &mut crate::types::Writer, o: &Object) {
    use crate::types::put_2b;
    o.public.marshal_2b(w);
    match &o.sensitive {
        Some(s) => {
            w.u8(1);
            put_2b(w, &s.to_bytes());
        }
        None => {
            w.u8(0);
        }
    }
    w.u8(o.hierarchy.code()).u8(o.flags.code());
    put_2b(w, &o.qualified_name);
}

/// Parses [`put_object`] output, rebuilding the key material. `None` for anything
/// malformed.
pub fn get_object(r: &mut crate::types::Reader<'_>) -> Option<Object> {
    use crate::types::{Unmarshal, get_2b_vec, limits};
    let public = Public::unmarshal_2b(r, true).ok()?;
    let sensitive = match r.u8().ok()? {
        0 => None,
        1 => Some(Sensitive::from_bytes(&get_2b_vec(r, limits::MAX_SENSITIVE).ok()?).ok()?),
        _ => return None,
    };
    if let Some(s) = &sensitive
        && s.sensitive_type != public.kind.type_alg()
    {
        return None;
    }
    let hierarchy = Hierarchy::from_code(r.u8().ok()?)?;
    let flags = ObjectFlags::from_code(r.u8().ok()?)?;
    let qn = get_2b_vec(r, limits::MAX_NAME).ok()?;
    let key = derive_key(&public, sensitive.as_ref()).ok()?;
    let name = public_name(&public);
    Some(Object { public, sensitive, name, qualified_name: qn, hierarchy, flags, key })
}

/// Serialises a sequence object.
pub fn put_sequence(w: &mut crate::types::Writer, s: &Sequence) {
    use crate::types::put_2b;
    put_2b(w, &s.auth);
    match &s.kind {
        SequenceKind::Hash { hasher, first } => {
            w.u8(0).u16(hasher.alg().id());
            put_2b(w, &hasher.save());
            put_2b(w, first);
        }
        SequenceKind::Event { hashers } => {
            w.u8(1).u8(u8::try_from(hashers.len()).unwrap_or(0));
            for h in hashers {
                w.u16(h.alg().id());
                put_2b(w, &h.save());
            }
        }
        SequenceKind::Hmac { mac } => {
            let (inner, outer) = mac.save();
            w.u8(2).u16(mac.alg().id());
            put_2b(w, &inner);
            put_2b(w, &outer);
        }
    }
}

/// Parses [`put_sequence`] output.
pub fn get_sequence(r: &mut crate::types::Reader<'_>) -> Option<Sequence> {
    use crate::types::get_2b_vec;
    const MAX_STATE: usize = 512;
    let auth = Secret::new(get_2b_vec(r, crate::types::limits::MAX_DIGEST).ok()?);
    let kind = match r.u8().ok()? {
        0 => {
            let alg = HashAlg::from_id(r.u16().ok()?)?;
            let hasher = Hasher::restore(alg, &get_2b_vec(r, MAX_STATE).ok()?)?;
            let first = get_2b_vec(r, 4).ok()?;
            SequenceKind::Hash { hasher, first }
        }
        1 => {
            let n = r.u8().ok()?;
            let mut hashers = Vec::new();
            for _ in 0..n {
                let alg = HashAlg::from_id(r.u16().ok()?)?;
                hashers.push(Hasher::restore(alg, &get_2b_vec(r, MAX_STATE).ok()?)?);
            }
            SequenceKind::Event { hashers }
        }
        2 => {
            let alg = HashAlg::from_id(r.u16().ok()?)?;
            let inner = get_2b_vec(r, MAX_STATE).ok()?;
            let outer = Secret::new(get_2b_vec(r, MAX_STATE).ok()?);
            SequenceKind::Hmac { mac: SavableHmac::restore(alg, &inner, &outer)? }
        }
        _ => return None,
    };
    Some(Sequence { auth, kind })
}

/// The unique field of a keyed-hash or symmetric object: H(seedValue ‖ sensitive)
/// (Part 1 §27.2.4).
pub fn symmetric_unique(name_alg: HashAlg, seed: &[u8], sensitive: &[u8]) -> Vec<u8> {
    hash::digest_parts(name_alg, &[seed, sensitive])
}
