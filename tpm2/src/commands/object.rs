//! Object commands: TPM2_CreatePrimary (Part 3 §24.1), TPM2_Create, TPM2_Load,
//! TPM2_LoadExternal, TPM2_ReadPublic, TPM2_Unseal, TPM2_ObjectChangeAuth,
//! TPM2_CreateLoaded (§12), TPM2_FlushContext and TPM2_EvictControl (§28).
//!
//! The checks follow the reference implementation's `CreateChecks`,
//! `PublicAttributesValidation` and `SchemeChecks`, so that templates are refused
//! with the same codes.

use crate::crypto::ecc::EccSecret;
use crate::crypto::hash;
use crate::crypto::kdf::KdfStream;
use crate::crypto::rsa as rsa_ops;
use crate::dispatch::Cmd;
use crate::object::{self, Flags, Hierarchy, Object, Slot, hierarchy_qn, qualified_name};
use crate::protect;
use crate::state::MAX_PERSISTENT;
use crate::types::{
    CreationData, EccCurve, HashAlg, Marshal, PcrSelectionList, Public, PublicKind, Rc, Scheme,
    Sensitive, SensitiveCreate, SymDef, Ticket, TpmResult, Unmarshal, alg, handle as h, limits,
    object_attr as oa, put_2b, st,
};
use crate::{Secret, Tpm2, pcr};
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use tpm_engine::Drbg;

/// Where key material comes from: the DRBG for ordinary objects, a stream keyed
/// by the hierarchy's primary seed for primary objects.
enum KeySource<'a> {
    Random(&'a mut Drbg),
    Primary(KdfStream),
}

impl KeySource<'_> {
    fn fill(&mut self, out: &mut [u8]) {
        match self {
            KeySource::Random(d) => d.fill(out),
            KeySource::Primary(s) => s.fill(out),
        }
    }
}

/// `SchemeChecks`.
pub(crate) fn scheme_checks(parent: Option<&Object>, p: &Public) -> TpmResult<()> {
    let sign = p.has(oa::SIGN_ENCRYPT);
    let decrypt = p.has(oa::DECRYPT);
    let restricted = p.has(oa::RESTRICTED);
    let mut sym = None;
    match &p.kind {
        // The mode of a symmetric key was checked when the template was read.
        PublicKind::SymCipher { sym: s, .. } => sym = Some(*s),
        PublicKind::KeyedHash { scheme, .. } => {
            if sign == decrypt {
                if !scheme.is_null() {
                    return Err(Rc::SCHEME);
                }
            } else if sign && scheme.alg != alg::HMAC {
                return Err(Rc::SCHEME);
            } else if decrypt {
                if scheme.alg != alg::XOR {
                    return Err(Rc::SCHEME);
                }
                if restricted && scheme.extra != alg::KDF1_SP800_108 {
                    return Err(Rc::SCHEME);
                }
            }
        }
        PublicKind::Rsa { .. } | PublicKind::Ecc { .. } => {
            let (scheme, symmetric) = match &p.kind {
                PublicKind::Rsa { parms, .. } => (parms.scheme, parms.symmetric),
                PublicKind::Ecc { parms, .. } => (parms.scheme, parms.symmetric),
                _ => (Scheme::NULL, SymDef::Null),
            };
            sym = Some(symmetric);
            let is_sign_scheme = matches!(scheme.alg, alg::RSASSA | alg::RSAPSS | alg::ECDSA);
            let is_decrypt_scheme = match &p.kind {
                PublicKind::Rsa { .. } => matches!(scheme.alg, alg::RSAES | alg::OAEP),
                _ => scheme.alg == alg::ECDH,
            };
            if sign == decrypt {
                if !scheme.is_null() {
                    return Err(Rc::SCHEME);
                }
            } else if sign {
                if is_sign_scheme {
                    if scheme.hash == alg::NULL {
                        return Err(Rc::SCHEME);
                    }
                } else if restricted || !scheme.is_null() {
                    return Err(Rc::SCHEME);
                }
            } else if restricted {
                if !scheme.is_null() {
                    return Err(Rc::SCHEME);
                }
            } else if !scheme.is_null() && !is_decrypt_scheme {
                return Err(Rc::SCHEME);
            }
            if (!restricted || !decrypt) && !symmetric.is_null() {
                return Err(Rc::SYMMETRIC);
            }
            if let PublicKind::Ecc { parms, .. } = &p.kind
                && !parms.kdf.is_null()
            {
                return Err(Rc::KDF);
            }
        }
    }
    if let Some(sym) = sym
        && restricted
        && decrypt
    {
        if sym.is_null() {
            return Err(Rc::SYMMETRIC);
        }
        if let Some(parent) = parent
            && p.has(oa::FIXED_PARENT)
        {
            if p.name_alg != parent.public.name_alg {
                return Err(Rc::HASH);
            }
            if sym != parent.public.kind.symmetric() {
                return Err(Rc::SYMMETRIC);
            }
        }
    }
    Ok(())
}

/// `PublicAttributesValidation`.
pub(crate) fn public_attributes_validation(parent: Option<&Object>, p: &Public) -> TpmResult<()> {
    let name_alg = p.name_alg.ok_or(Rc::HASH)?;
    if !p.auth_policy.is_empty() && p.auth_policy.len() != name_alg.size() {
        return Err(Rc::SIZE);
    }
    let parent_fixed_tpm = parent.is_none_or(|o| o.has(oa::FIXED_TPM));
    if parent_fixed_tpm {
        if p.has(oa::FIXED_PARENT) != p.has(oa::FIXED_TPM) {
            return Err(Rc::ATTRIBUTES);
        }
    } else if p.has(oa::FIXED_TPM) {
        return Err(Rc::ATTRIBUTES);
    }
    if p.has(oa::SIGN_ENCRYPT) == p.has(oa::DECRYPT) {
        if p.has(oa::RESTRICTED) {
            return Err(Rc::ATTRIBUTES);
        }
        if !matches!(p.kind, PublicKind::KeyedHash { .. }) && !p.has(oa::SIGN_ENCRYPT) {
            return Err(Rc::ATTRIBUTES);
        }
    }
    if p.has(oa::FIXED_TPM) && p.has(oa::ENCRYPTED_DUPLICATION) {
        return Err(Rc::ATTRIBUTES);
    }
    if let Some(parent) = parent
        && !parent.has(oa::FIXED_TPM)
        && p.has(oa::ENCRYPTED_DUPLICATION) != parent.has(oa::ENCRYPTED_DUPLICATION)
    {
        return Err(Rc::ATTRIBUTES);
    }
    scheme_checks(parent, p)
}

/// `CreateChecks`.
pub(crate) fn create_checks(parent: Option<&Object>, p: &Public, data_len: usize) -> TpmResult<()> {
    let origin = p.has(oa::SENSITIVE_DATA_ORIGIN);
    if !origin && data_len == 0 {
        return Err(Rc::ATTRIBUTES);
    }
    if parent.is_some() && origin && data_len != 0 {
        return Err(Rc::ATTRIBUTES);
    }
    match p.kind {
        PublicKind::KeyedHash { .. } | PublicKind::SymCipher { .. } => {
            let keyed = matches!(p.kind, PublicKind::KeyedHash { .. });
            if keyed && !p.has(oa::SIGN_ENCRYPT) && !p.has(oa::DECRYPT) && origin {
                return Err(Rc::ATTRIBUTES);
            }
            if p.has(oa::RESTRICTED) && !origin && (p.has(oa::FIXED_PARENT) || p.has(oa::FIXED_TPM))
            {
                return Err(Rc::ATTRIBUTES);
            }
        }
        _ => {
            if !origin {
                return Err(Rc::ATTRIBUTES);
            }
        }
    }
    public_attributes_validation(parent, p)
}

/// `AdjustAuthSize`: the authValue may not be longer than the nameAlg digest
/// (after trailing zeros go); it is stored padded to that size.
fn adjust_auth(auth: &[u8], name_alg: Option<HashAlg>) -> Option<Vec<u8>> {
    let size = name_alg.map_or(limits::MAX_DIGEST, HashAlg::size);
    let trimmed = crate::crypto::trim_trailing_zeros(auth);
    if trimmed.len() > size {
        return None;
    }
    let mut out = trimmed.to_vec();
    out.resize(size, 0);
    Some(out)
}

impl Tpm2 {
    /// The primary seed of a hierarchy.
    pub(crate) fn primary_seed(&self, h: Hierarchy) -> &[u8] {
        match h {
            Hierarchy::Owner => &self.p.sps,
            Hierarchy::Endorsement => &self.p.eps,
            Hierarchy::Platform => &self.p.pps,
            Hierarchy::Null => &self.v.null_seed,
        }
    }

    /// The proof value of a hierarchy (tickets, contexts).
    pub(crate) fn proof(&self, h: Hierarchy) -> &[u8] {
        match h {
            Hierarchy::Owner => &self.p.sh_proof,
            Hierarchy::Endorsement => &self.p.eh_proof,
            Hierarchy::Platform => &self.p.ph_proof,
            Hierarchy::Null => &self.v.null_proof,
        }
    }

    /// A ticket: HMAC_proof(tag ‖ parts...) (Part 2 §10.7).
    pub(crate) fn ticket(&self, tag: u16, h: Hierarchy, parts: &[&[u8]]) -> Ticket {
        let mut m = hash::HmacState::new(crate::commands::context::CONTEXT_HASH, self.proof(h));
        m.update(&tag.to_be_bytes());
        for p in parts {
            m.update(p);
        }
        Ticket { tag, hierarchy: h.handle(), digest: m.finish() }
    }

    /// `TPMA_LOCALITY` of the current command.
    pub(crate) fn locality_attribute(&self) -> u8 {
        if self.locality < 5 { 1 << self.locality } else { self.locality }
    }

    /// Creation data, its hash and the creation ticket.
    fn creation(
        &self,
        name_alg: HashAlg,
        pcrs: &PcrSelectionList,
        outside: &[u8],
        parent: u32,
        name: &[u8],
        hierarchy: Hierarchy,
    ) -> (CreationData, Vec<u8>, Ticket) {
        let (parent_name_alg, parent_name, parent_qn) = match self.object(parent) {
            Some(p) => (
                p.public.name_alg.map_or(alg::NULL, HashAlg::id),
                p.name.clone(),
                p.qualified_name.clone(),
            ),
            None => (alg::NULL, parent.to_be_bytes().to_vec(), parent.to_be_bytes().to_vec()),
        };
        // Only allocated PCRs count (FilterPcr).
        let mut select = pcrs.clone();
        for s in select.0.iter_mut() {
            if !self.v.banks.iter().any(|b| b.alg == s.hash) {
                s.select.fill(0);
            }
        }
        let data = CreationData {
            pcr_digest: pcr::selection_digest(&self.v.banks, &select.0, name_alg),
            pcr_select: pcrs.clone(),
            locality: self.locality_attribute(),
            parent_name_alg,
            parent_name,
            parent_qualified_name: parent_qn,
            outside_info: outside.to_vec(),
        };
        let creation_hash = hash::digest(name_alg, &data.to_bytes());
        let ticket = self.ticket(st::CREATION, hierarchy, &[name, &creation_hash]);
        (data, creation_hash, ticket)
    }
}

/// `CryptCreateObject`: generates the key or takes the caller's data, fills in
/// the unique field and the sensitive area.
fn create_object(
    mut public: Public,
    create: &SensitiveCreate,
    source: &mut KeySource<'_>,
    extra_seed: &[&[u8]],
) -> TpmResult<(Public, Sensitive)> {
    let name_alg = public.name_alg.ok_or(Rc::HASH)?;
    let origin = public.has(oa::SENSITIVE_DATA_ORIGIN);
    let data: &[u8] = if origin { &[] } else { &create.data };
    let sensitive_type = public.kind.type_alg();
    let sensitive: Secret = match &mut public.kind {
        PublicKind::Rsa { parms, modulus } => {
            let key = match source {
                KeySource::Random(d) => {
                    rsa_ops::generate_random(d, parms.key_bits, parms.exponent)?
                }
                KeySource::Primary(s) => rsa_ops::generate(s, parms.key_bits, parms.exponent)?,
            };
            *modulus = rsa_ops::modulus(&key);
            rsa_ops::prime(&key)
        }
        PublicKind::Ecc { parms, x, y } => {
            let curve = EccCurve::from_id(parms.curve).ok_or(Rc::CURVE)?;
            let key = match source {
                KeySource::Random(d) => EccSecret::random(curve, d)?,
                KeySource::Primary(s) => EccSecret::derive(curve, s)?,
            };
            let (px, py) = key.public().xy();
            *x = px;
            *y = py;
            key.scalar()
        }
        PublicKind::SymCipher { sym, .. } => {
            let SymDef::Aes { bits, .. } = sym else { return Err(Rc::SYMMETRIC) };
            let len = usize::from(*bits / 8);
            if origin {
                let mut k = Secret::new(vec![0; len]);
                source.fill(&mut k);
                k
            } else if data.len() != len {
                return Err(Rc::KEY_SIZE.param(1));
            } else {
                Secret::new(data.to_vec())
            }
        }
        PublicKind::KeyedHash { scheme, .. } => {
            if origin {
                let len = scheme.hash_alg().unwrap_or(name_alg).size();
                let mut k = Secret::new(vec![0; len]);
                source.fill(&mut k);
                k
            } else {
                Secret::new(data.to_vec())
            }
        }
    };
    let mut seed = vec![0u8; name_alg.size()];
    source.fill(&mut seed);
    if !extra_seed.is_empty() {
        // Endorsement primaries mix the storage and endorsement proofs into their
        // seed value (CryptCreateObject), so that TPM2_Clear changes the storage
        // keys derived under them.
        let ctx: Vec<u8> = extra_seed.concat();
        KdfStream::new(name_alg, &seed.clone(), b"SEED VALUE", &ctx).fill(&mut seed);
    }
    match &mut public.kind {
        PublicKind::KeyedHash { unique, .. } | PublicKind::SymCipher { unique, .. } => {
            *unique = object::symmetric_unique(name_alg, &seed, &sensitive);
        }
        _ => {
            if public.has(oa::SIGN_ENCRYPT) || !public.has(oa::RESTRICTED) {
                seed.clear();
            }
        }
    }
    let auth = adjust_auth(&create.user_auth, Some(name_alg)).ok_or(Rc::SIZE.param(1))?;
    let sensitive = Sensitive {
        sensitive_type,
        auth_value: auth,
        seed_value: seed,
        sensitive: sensitive.to_vec(),
    };
    Ok((public, sensitive))
}

/// The parameters shared by TPM2_Create and TPM2_CreatePrimary.
struct CreateParams {
    sensitive: SensitiveCreate,
    public: Public,
    outside: Vec<u8>,
    pcrs: PcrSelectionList,
}

fn create_params(cmd: &mut Cmd<'_>) -> TpmResult<CreateParams> {
    let sensitive = cmd.params.next(SensitiveCreate::unmarshal_2b)?;
    let public = cmd.params.next(|r| Public::unmarshal_2b(r, false))?;
    let outside = cmd.params.b2(limits::MAX_DATA)?;
    let pcrs = cmd.params.get()?;
    cmd.params.end()?;
    Ok(CreateParams { sensitive, public, outside, pcrs })
}

/// Creates a primary object in `hierarchy` (CreatePrimary, CreateLoaded).
fn make_primary(
    tpm: &mut Tpm2,
    hierarchy: Hierarchy,
    public: Public,
    sensitive: &SensitiveCreate,
    public_param: usize,
) -> TpmResult<Object> {
    create_checks(None, &public, sensitive.data.len()).map_err(|rc| rc.param(public_param))?;
    if adjust_auth(&sensitive.user_auth, public.name_alg).is_none() {
        return Err(Rc::SIZE.param(1));
    }
    let name_alg = public.name_alg.ok_or(Rc::HASH.param(public_param))?;
    // The key derives from the seed, the template (its Name, unique field
    // included) and the caller's data (Part 1 §26.3).
    let mut context = object::public_name(&public);
    context.extend_from_slice(&hash::digest(name_alg, &sensitive.data));
    let stream =
        KdfStream::new(name_alg, tpm.primary_seed(hierarchy), b"PRIMARY_OBJECT_CREATION", &context);
    let extra: Vec<Vec<u8>> = if hierarchy == Hierarchy::Endorsement {
        vec![tpm.p.sh_proof.to_vec(), tpm.p.eh_proof.to_vec()]
    } else {
        Vec::new()
    };
    let extra_refs: Vec<&[u8]> = extra.iter().map(Vec::as_slice).collect();
    let mut source = KeySource::Primary(stream);
    let (public, sens) = create_object(public, sensitive, &mut source, &extra_refs)?;
    Object::new(
        public,
        Some(sens),
        &hierarchy_qn(hierarchy),
        hierarchy,
        Flags { primary: hierarchy != Hierarchy::Null, ..Flags::default() },
    )
}

/// TPM2_CreatePrimary.
pub(crate) fn create_primary(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let p = create_params(cmd)?;
    let handle = cmd.handle(0)?;
    let hierarchy = Hierarchy::from_handle(handle).ok_or(Rc::VALUE.handle(1))?;
    if !tpm.v.objects.iter().any(Option::is_none) {
        return Err(Rc::OBJECT_MEMORY);
    }
    let object = make_primary(tpm, hierarchy, p.public, &p.sensitive, 2)?;
    let name_alg = object.public.name_alg.ok_or(Rc::FAILURE)?;
    let (data, creation_hash, ticket) =
        tpm.creation(name_alg, &p.pcrs, &p.outside, handle, &object.name, hierarchy);
    let name = object.name.clone();
    let public = object.public.clone();
    cmd.out_handle = Some(tpm.load_slot(Slot::Object(Box::new(object)))?);
    public.marshal_2b(&mut cmd.out);
    put_2b(&mut cmd.out, &data.to_bytes());
    put_2b(&mut cmd.out, &creation_hash);
    ticket.marshal(&mut cmd.out);
    put_2b(&mut cmd.out, &name);
    Ok(())
}

/// The parent object of Create/Load, which must be a storage key with its
/// sensitive area (TPM_RC_TYPE otherwise).
fn parent_object(tpm: &Tpm2, handle: u32) -> TpmResult<Object> {
    let parent = tpm.object(handle).ok_or(Rc::HANDLE.handle(1))?;
    if !parent.is_storage_key() {
        return Err(Rc::TYPE.handle(1));
    }
    Ok(parent.clone())
}

/// Creates an ordinary object under `parent` (Create, CreateLoaded).
fn make_child(
    tpm: &mut Tpm2,
    parent: &Object,
    public: Public,
    sensitive: &SensitiveCreate,
    public_param: usize,
) -> TpmResult<(Object, Vec<u8>)> {
    create_checks(Some(parent), &public, sensitive.data.len())
        .map_err(|rc| rc.param(public_param))?;
    if adjust_auth(&sensitive.user_auth, public.name_alg).is_none() {
        return Err(Rc::SIZE.param(1));
    }
    let mut source = KeySource::Random(&mut tpm.drbg);
    let (public, sens) = create_object(public, sensitive, &mut source, &[])?;
    let name_alg = public.name_alg.ok_or(Rc::FAILURE)?;
    let name = object::public_name(&public);
    let private = protect::sensitive_to_private(&sens, &name, name_alg, parent, &mut tpm.drbg)?;
    let flags = Flags { st_clear: parent.flags.st_clear, ..Flags::default() };
    let object = Object::new(public, Some(sens), &parent.qualified_name, parent.hierarchy, flags)?;
    Ok((object, private))
}

/// TPM2_Create.
pub(crate) fn create(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let p = create_params(cmd)?;
    let handle = cmd.handle(0)?;
    let parent = parent_object(tpm, handle)?;
    let (object, private) = make_child(tpm, &parent, p.public, &p.sensitive, 2)?;
    let name_alg = object.public.name_alg.ok_or(Rc::FAILURE)?;
    let (data, creation_hash, ticket) =
        tpm.creation(name_alg, &p.pcrs, &p.outside, handle, &object.name, parent.hierarchy);
    put_2b(&mut cmd.out, &private);
    object.public.marshal_2b(&mut cmd.out);
    put_2b(&mut cmd.out, &data.to_bytes());
    put_2b(&mut cmd.out, &creation_hash);
    ticket.marshal(&mut cmd.out);
    Ok(())
}

/// TPM2_CreateLoaded: a primary object under a hierarchy, or an ordinary one
/// under a storage key, loaded at once. Derivation parents are not supported
/// (TPM_RC_TYPE).
pub(crate) fn create_loaded(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let sensitive = cmd.params.next(SensitiveCreate::unmarshal_2b)?;
    let template = cmd.params.next(|r| {
        let bytes = crate::types::get_2b(r, limits::MAX_PUBLIC)?;
        Public::from_bytes(bytes)
    })?;
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    if !tpm.v.objects.iter().any(Option::is_none) {
        return Err(Rc::OBJECT_MEMORY);
    }
    let (object, private) = match Hierarchy::from_handle(handle) {
        Some(hierarchy) => (make_primary(tpm, hierarchy, template, &sensitive, 2)?, Vec::new()),
        None => {
            let parent = parent_object(tpm, handle)?;
            make_child(tpm, &parent, template, &sensitive, 2)?
        }
    };
    let name = object.name.clone();
    let public = object.public.clone();
    cmd.out_handle = Some(tpm.load_slot(Slot::Object(Box::new(object)))?);
    put_2b(&mut cmd.out, &private);
    public.marshal_2b(&mut cmd.out);
    put_2b(&mut cmd.out, &name);
    Ok(())
}

/// `ObjectLoad`'s checks for an object with a sensitive area.
fn validate_loaded(
    parent: Option<&Object>,
    public: &Public,
    sensitive: &Sensitive,
    public_param: usize,
    private_param: usize,
) -> TpmResult<()> {
    let name_alg = public.name_alg.ok_or(Rc::HASH.param(public_param))?;
    if sensitive.seed_value.len() > name_alg.size() {
        return Err(Rc::KEY_SIZE.param(private_param));
    }
    public_attributes_validation(parent, public).map_err(|rc| rc.param(public_param))?;
    if sensitive.sensitive_type != public.kind.type_alg() {
        return Err(Rc::TYPE.param(private_param));
    }
    // CryptValidateKeys for symmetric objects: the unique field binds the key.
    match &public.kind {
        PublicKind::KeyedHash { unique, .. } | PublicKind::SymCipher { unique, .. } => {
            if let PublicKind::SymCipher { sym: SymDef::Aes { bits, .. }, .. } = &public.kind
                && sensitive.sensitive.len() != usize::from(*bits / 8)
            {
                return Err(Rc::KEY_SIZE.param(private_param));
            }
            let expected =
                object::symmetric_unique(name_alg, &sensitive.seed_value, &sensitive.sensitive);
            if !crate::crypto::ct_eq(unique, &expected) {
                return Err(Rc::BINDING.param(public_param));
            }
        }
        _ => {}
    }
    Ok(())
}

/// TPM2_Load.
pub(crate) fn load(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let private = cmd.params.b2(limits::MAX_PRIVATE)?;
    let public = cmd.params.next(|r| Public::unmarshal_2b(r, false))?;
    cmd.params.end()?;
    if !tpm.v.objects.iter().any(Option::is_none) {
        return Err(Rc::OBJECT_MEMORY);
    }
    if private.is_empty() {
        return Err(Rc::SIZE.param(1));
    }
    let handle = cmd.handle(0)?;
    let parent = parent_object(tpm, handle)?;
    let name = object::public_name(&public);
    if name.is_empty() {
        return Err(Rc::HASH.param(2));
    }
    let sensitive =
        protect::private_to_sensitive(&private, &name, &parent).map_err(|rc| rc.param(1))?;
    validate_loaded(Some(&parent), &public, &sensitive, 2, 1)?;
    let flags = Flags { st_clear: parent.flags.st_clear, ..Flags::default() };
    let object =
        Object::new(public, Some(sensitive), &parent.qualified_name, parent.hierarchy, flags)
            .map_err(|rc| rc.param(1))?;
    cmd.out_handle = Some(tpm.load_slot(Slot::Object(Box::new(object)))?);
    put_2b(&mut cmd.out, &name);
    Ok(())
}

/// TPM2_LoadExternal.
pub(crate) fn load_external(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let sensitive = cmd.params.next(|r| {
        let bytes = crate::types::get_2b(r, limits::MAX_SENSITIVE)?;
        if bytes.is_empty() { Ok(None) } else { Sensitive::from_bytes(bytes).map(Some) }
    })?;
    let public = cmd.params.next(|r| Public::unmarshal_2b(r, true))?;
    let hierarchy_handle = cmd.params.next(|r| {
        let v = r.u32()?;
        Hierarchy::from_handle(v).map(|_| v).ok_or(Rc::VALUE)
    })?;
    cmd.params.end()?;
    if !tpm.v.objects.iter().any(Option::is_none) {
        return Err(Rc::OBJECT_MEMORY);
    }
    let hierarchy = Hierarchy::from_handle(hierarchy_handle).ok_or(Rc::VALUE.param(3))?;
    if !tpm.hierarchy_enabled(hierarchy) {
        return Err(Rc::HIERARCHY.param(3));
    }
    match &sensitive {
        Some(s) => {
            if hierarchy != Hierarchy::Null {
                return Err(Rc::HIERARCHY.param(3));
            }
            if public.has(oa::FIXED_TPM)
                || public.has(oa::FIXED_PARENT)
                || public.has(oa::RESTRICTED)
            {
                return Err(Rc::ATTRIBUTES.param(2));
            }
            if public.name_alg.is_none() {
                scheme_checks(None, &public).map_err(|rc| rc.param(2))?;
            } else {
                validate_loaded(None, &public, s, 2, 1)?;
            }
        }
        None => scheme_checks(None, &public).map_err(|rc| rc.param(2))?,
    }
    let object = Object::new(
        public,
        sensitive,
        &hierarchy_qn(hierarchy),
        hierarchy,
        Flags { external: true, ..Flags::default() },
    )
    .map_err(|rc| rc.param(2))?;
    let name = object.name.clone();
    cmd.out_handle = Some(tpm.load_slot(Slot::Object(Box::new(object)))?);
    put_2b(&mut cmd.out, &name);
    Ok(())
}

/// TPM2_ReadPublic.
pub(crate) fn read_public(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    if tpm.sequence(handle).is_some() {
        return Err(Rc::SEQUENCE);
    }
    let o = tpm.object(handle).ok_or(Rc::HANDLE.handle(1))?;
    o.public.marshal_2b(&mut cmd.out);
    put_2b(&mut cmd.out, &o.name);
    put_2b(&mut cmd.out, &o.qualified_name);
    Ok(())
}

/// TPM2_Unseal.
pub(crate) fn unseal(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    let o = tpm.object(handle).ok_or(Rc::TYPE.handle(1))?;
    if !matches!(o.public.kind, PublicKind::KeyedHash { .. }) {
        return Err(Rc::TYPE.handle(1));
    }
    if o.has(oa::DECRYPT) || o.has(oa::SIGN_ENCRYPT) || o.has(oa::RESTRICTED) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let data = o.sensitive.as_ref().map(|s| s.sensitive.clone()).unwrap_or_default();
    put_2b(&mut cmd.out, &data);
    Ok(())
}

/// TPM2_ObjectChangeAuth: a new private area with the new authValue; the loaded
/// object keeps the old one.
pub(crate) fn object_change_auth(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let new_auth = cmd.params.b2(limits::MAX_DIGEST)?;
    cmd.params.end()?;
    let (handle, parent_handle) = (cmd.handle(0)?, cmd.handle(1)?);
    if tpm.sequence(handle).is_some() {
        return Err(Rc::TYPE.handle(1));
    }
    let o = tpm.object(handle).ok_or(Rc::TYPE.handle(1))?.clone();
    let auth = adjust_auth(&new_auth, o.public.name_alg).ok_or(Rc::SIZE.param(1))?;
    let parent_qn = match tpm.object(parent_handle) {
        Some(p) => p.qualified_name.clone(),
        None => parent_handle.to_be_bytes().to_vec(),
    };
    if qualified_name(o.public.name_alg, &parent_qn, &o.name) != o.qualified_name {
        return Err(Rc::TYPE.handle(2));
    }
    let parent = tpm.object(parent_handle).ok_or(Rc::TYPE.handle(2))?.clone();
    let mut sensitive = o.sensitive.clone().ok_or(Rc::TYPE.handle(1))?;
    sensitive.auth_value = auth;
    let name_alg = o.public.name_alg.ok_or(Rc::TYPE.handle(1))?;
    let private =
        protect::sensitive_to_private(&sensitive, &o.name, name_alg, &parent, &mut tpm.drbg)?;
    put_2b(&mut cmd.out, &private);
    Ok(())
}

/// TPM2_FlushContext.
pub(crate) fn flush_context(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let handle = cmd.params.next(|r| {
        let v = r.u32()?;
        match h::kind(v) {
            h::HT_TRANSIENT | h::HT_HMAC_SESSION | h::HT_POLICY_SESSION => Ok(v),
            _ => Err(Rc::VALUE),
        }
    })?;
    cmd.params.end()?;
    match h::kind(handle) {
        h::HT_TRANSIENT => {
            let present = crate::entity::transient_slot(handle)
                .and_then(|i| tpm.v.objects.get(i))
                .is_some_and(Option::is_some);
            if !present {
                return Err(Rc::HANDLE.param(1));
            }
            tpm.flush_object(handle);
        }
        _ => {
            let present = crate::entity::session_slot(handle)
                .and_then(|i| tpm.v.sessions.get(i))
                .is_some_and(Option::is_some);
            if !present {
                return Err(Rc::HANDLE.param(1));
            }
            tpm.flush_session(handle);
        }
    }
    Ok(())
}

/// TPM2_EvictControl: makes a transient object persistent, or removes a
/// persistent one.
pub(crate) fn evict_control(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let persistent = cmd.params.next(|r| {
        let v = r.u32()?;
        if h::kind(v) == h::HT_PERSISTENT { Ok(v) } else { Err(Rc::VALUE) }
    })?;
    cmd.params.end()?;
    let (auth, handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let evict = h::kind(handle) == h::HT_PERSISTENT;
    let o = tpm.object(handle).ok_or(Rc::HANDLE.handle(2))?;
    if o.is_temporary() || o.flags.st_clear || o.public_only() {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    if evict && handle != persistent {
        return Err(Rc::HANDLE.handle(2));
    }
    let platform_object = o.hierarchy == Hierarchy::Platform;
    let platform_range = persistent >= h::PLATFORM_PERSISTENT;
    if auth == h::PLATFORM {
        if !evict {
            if !platform_object {
                return Err(Rc::HIERARCHY.handle(2));
            }
            if !platform_range {
                return Err(Rc::RANGE.param(1));
            }
        }
    } else {
        if platform_object {
            return Err(Rc::HIERARCHY.handle(2));
        }
        if !evict && platform_range {
            return Err(Rc::RANGE.param(1));
        }
    }
    if evict {
        tpm.nv_mut().objects.remove(&handle);
        return Ok(());
    }
    if tpm.p.objects.contains_key(&persistent) {
        return Err(Rc::NV_DEFINED);
    }
    if tpm.p.objects.len() >= MAX_PERSISTENT || !tpm.nv_has_room(1024) {
        return Err(Rc::NV_SPACE);
    }
    let copy = o.clone();
    tpm.nv_mut().objects.insert(persistent, copy);
    Ok(())
}

impl Tpm2 {
    /// True if NV has room for `bytes` more (indices and persistent objects share
    /// [`crate::state::NV_MEMORY`]).
    pub(crate) fn nv_has_room(&self, bytes: usize) -> bool {
        let used: usize =
            self.p.nv.values().map(|i| 64 + usize::from(i.public.data_size)).sum::<usize>()
                + self.p.objects.len() * 1024;
        used.saturating_add(bytes) <= crate::state::NV_MEMORY
    }
}
