//! Signing and asymmetric operations: TPM2_Sign, TPM2_VerifySignature (Part 3
//! §20), TPM2_RSA_Encrypt, TPM2_RSA_Decrypt, TPM2_ECDH_KeyGen, TPM2_ECDH_ZGen
//! (§14), and the signing helper the attestation commands share.

use crate::Tpm2;
use crate::crypto::ecc::{EccPublic, EccSecret};
use crate::crypto::{hash, rsa as rsa_ops};
use crate::dispatch::Cmd;
use crate::object::{Hierarchy, KeyMaterial, Object};
use crate::types::{
    EccCurve, EccPoint, Marshal, PublicKind, Rc, Scheme, Signature, TaggedHash, Ticket, TpmResult,
    alg, limits, object_attr as oa, put_2b, put_sized, schemes, st,
};
use alloc::vec::Vec;

/// The scheme a key signs with (`CryptSelectSignScheme`): the key's own scheme,
/// or the caller's if the key has none; they must agree if both are given.
/// `None` means TPM_RC_SCHEME.
pub(crate) fn select_sign_scheme(key: &Object, requested: Scheme) -> Option<Scheme> {
    let key_scheme = match &key.public.kind {
        PublicKind::Rsa { parms, .. } => parms.scheme,
        PublicKind::Ecc { parms, .. } => parms.scheme,
        PublicKind::KeyedHash { scheme, .. } => *scheme,
        PublicKind::SymCipher { .. } => return None,
    };
    let chosen = if key_scheme.is_null() {
        requested
    } else if requested.is_null() || requested == key_scheme {
        key_scheme
    } else {
        return None;
    };
    let fits = match &key.public.kind {
        PublicKind::Rsa { .. } => matches!(chosen.alg, alg::RSASSA | alg::RSAPSS),
        PublicKind::Ecc { .. } => chosen.alg == alg::ECDSA,
        PublicKind::KeyedHash { .. } => chosen.alg == alg::HMAC,
        PublicKind::SymCipher { .. } => false,
    };
    (fits && chosen.hash_alg().is_some()).then_some(chosen)
}

impl Tpm2 {
    /// Signs `digest` with `key` using `scheme` (already selected).
    pub(crate) fn sign_digest(
        &mut self,
        key: &Object,
        scheme: Scheme,
        digest: &[u8],
    ) -> TpmResult<Signature> {
        let hash = scheme.hash_alg().ok_or(Rc::SCHEME)?;
        match &key.key {
            KeyMaterial::RsaPrivate(k) => {
                let sig = rsa_ops::sign(k, scheme.alg, hash, digest, &mut self.drbg)?;
                Ok(Signature::Rsa { scheme: scheme.alg, hash, sig })
            }
            KeyMaterial::EccPrivate(k) => {
                let (r, s) = k.sign_ecdsa(digest, &mut self.drbg)?;
                Ok(Signature::Ecdsa { hash, r, s })
            }
            KeyMaterial::None if matches!(key.public.kind, PublicKind::KeyedHash { .. }) => {
                let secret = key.sensitive.as_ref().ok_or(Rc::KEY)?;
                let mac = hash::hmac(hash, &secret.sensitive, &[digest]);
                Ok(Signature::Hmac(TaggedHash { hash, digest: mac }))
            }
            _ => Err(Rc::KEY),
        }
    }
}

/// Verifies a signature over `digest` with `key` (`CryptValidateSignature`).
pub(crate) fn verify_signature(key: &Object, digest: &[u8], sig: &Signature) -> bool {
    match (sig, &key.key) {
        (Signature::Rsa { scheme, hash, sig }, KeyMaterial::RsaPrivate(k)) => {
            rsa_ops::verify(k.as_ref().as_ref(), *scheme, *hash, digest, sig)
        }
        (Signature::Rsa { scheme, hash, sig }, KeyMaterial::RsaPublic(k)) => {
            rsa_ops::verify(k, *scheme, *hash, digest, sig)
        }
        (Signature::Ecdsa { r, s, .. }, KeyMaterial::EccPrivate(k)) => {
            k.public().verify_ecdsa(digest, r, s)
        }
        (Signature::Ecdsa { r, s, .. }, KeyMaterial::EccPublic(p)) => p.verify_ecdsa(digest, r, s),
        (Signature::Hmac(ha), KeyMaterial::None) => match &key.sensitive {
            Some(secret) if matches!(key.public.kind, PublicKind::KeyedHash { .. }) => {
                crate::crypto::ct_eq(&ha.digest, &hash::hmac(ha.hash, &secret.sensitive, &[digest]))
            }
            _ => false,
        },
        _ => false,
    }
}

/// TPM2_Sign.
pub(crate) fn sign(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let digest = cmd.params.b2(limits::MAX_DIGEST)?;
    let requested = cmd.params.next(Scheme::unmarshal_sig)?;
    let validation = cmd.params.next(|r| Ticket::unmarshal_tagged(r, &[st::HASHCHECK]))?;
    cmd.params.end()?;
    let key = tpm.object(cmd.handle(0)?).ok_or(Rc::HANDLE.handle(1))?.clone();
    if !key.has(oa::SIGN_ENCRYPT) {
        return Err(Rc::KEY.handle(1));
    }
    let scheme = select_sign_scheme(&key, requested).ok_or(Rc::SCHEME.param(2))?;
    let hash = scheme.hash_alg().ok_or(Rc::SCHEME.param(2))?;
    if digest.len() != hash.size() {
        return Err(Rc::SIZE.param(1));
    }
    if key.has(oa::RESTRICTED) {
        // A restricted key signs only digests the TPM computed over data that did
        // not start with TPM_GENERATED_VALUE, as a hash-check ticket proves.
        let h = Hierarchy::from_handle(validation.hierarchy).ok_or(Rc::TICKET.param(3))?;
        if h == Hierarchy::Null || validation.digest.is_empty() {
            return Err(Rc::TICKET.param(3));
        }
        let expected = tpm.ticket(st::HASHCHECK, h, &[&digest]);
        if !crate::crypto::ct_eq(&expected.digest, &validation.digest) {
            return Err(Rc::TICKET.param(3));
        }
    }
    let sig = tpm.sign_digest(&key, scheme, &digest)?;
    sig.marshal(&mut cmd.out);
    Ok(())
}

/// TPM2_VerifySignature.
pub(crate) fn verify(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let digest = cmd.params.b2(limits::MAX_DIGEST)?;
    let sig = cmd.params.get::<Signature>()?;
    cmd.params.end()?;
    let key = tpm.object(cmd.handle(0)?).ok_or(Rc::HANDLE.handle(1))?;
    if !key.has(oa::SIGN_ENCRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if !verify_signature(key, &digest, &sig) {
        return Err(Rc::SIGNATURE.param(2));
    }
    let ticket = if key.hierarchy == Hierarchy::Null {
        Ticket::null(st::VERIFIED)
    } else {
        tpm.ticket(st::VERIFIED, key.hierarchy, &[&digest, &key.name])
    };
    ticket.marshal(&mut cmd.out);
    Ok(())
}

/// `CryptRsaSelectScheme` for encryption: the key's scheme or the caller's.
fn select_rsa_scheme(key: &Object, requested: Scheme) -> Option<Scheme> {
    let PublicKind::Rsa { parms, .. } = &key.public.kind else { return None };
    let key_scheme = parms.scheme;
    let chosen = if key_scheme.is_null() {
        requested
    } else if requested.is_null() || requested == key_scheme {
        key_scheme
    } else {
        return None;
    };
    matches!(chosen.alg, alg::NULL | alg::RSAES | alg::OAEP).then_some(chosen)
}

fn label_ok(label: &[u8]) -> bool {
    label.last().is_none_or(|&b| b == 0)
}

fn rsa_params(cmd: &mut Cmd<'_>, first_max: usize) -> TpmResult<(Vec<u8>, Scheme, Vec<u8>)> {
    let data = cmd.params.b2(first_max)?;
    let scheme =
        cmd.params.next(|r| Scheme::unmarshal_from(r, schemes::RSA_DECRYPT, true, Rc::VALUE))?;
    let label = cmd.params.b2(limits::MAX_DATA)?;
    cmd.params.end()?;
    Ok((data, scheme, label))
}

/// TPM2_RSA_Encrypt.
pub(crate) fn rsa_encrypt(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let (message, requested, label) = rsa_params(cmd, limits::MAX_RSA_KEY_BYTES)?;
    let key = tpm.object(cmd.handle(0)?).ok_or(Rc::HANDLE.handle(1))?.clone();
    if !matches!(key.public.kind, PublicKind::Rsa { .. }) {
        return Err(Rc::KEY.handle(1));
    }
    if !key.has(oa::DECRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if !label_ok(&label) {
        return Err(Rc::VALUE.param(3));
    }
    let scheme = select_rsa_scheme(&key, requested).ok_or(Rc::SCHEME.param(2))?;
    let public = match &key.key {
        KeyMaterial::RsaPrivate(k) => k.to_public_key(),
        KeyMaterial::RsaPublic(k) => (**k).clone(),
        _ => return Err(Rc::KEY.handle(1)),
    };
    let out =
        rsa_ops::encrypt(&public, scheme.alg, scheme.hash_alg(), &label, &message, &mut tpm.drbg)?;
    put_2b(&mut cmd.out, &out);
    Ok(())
}

/// TPM2_RSA_Decrypt.
pub(crate) fn rsa_decrypt(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let (cipher, requested, label) = rsa_params(cmd, limits::MAX_RSA_KEY_BYTES)?;
    let key = tpm.object(cmd.handle(0)?).ok_or(Rc::HANDLE.handle(1))?.clone();
    if !matches!(key.public.kind, PublicKind::Rsa { .. }) {
        return Err(Rc::KEY.handle(1));
    }
    if key.has(oa::RESTRICTED) || !key.has(oa::DECRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if !label_ok(&label) {
        return Err(Rc::VALUE.param(3));
    }
    let scheme = select_rsa_scheme(&key, requested).ok_or(Rc::SCHEME.param(2))?;
    let KeyMaterial::RsaPrivate(k) = &key.key else { return Err(Rc::KEY.handle(1)) };
    let out = rsa_ops::decrypt(k, scheme.alg, scheme.hash_alg(), &label, &cipher, &mut tpm.drbg)
        .map_err(|rc| if rc == Rc::VALUE { Rc::VALUE.param(1) } else { rc })?;
    put_2b(&mut cmd.out, &out);
    Ok(())
}

fn ecc_key(key: &Object) -> TpmResult<EccCurve> {
    match &key.public.kind {
        PublicKind::Ecc { parms, .. } => EccCurve::from_id(parms.curve).ok_or(Rc::CURVE),
        _ => Err(Rc::KEY.handle(1)),
    }
}

fn put_point(w: &mut crate::types::Writer, p: &EccPublic) {
    let (x, y) = p.xy();
    put_sized(w, &EccPoint { x, y });
}

/// TPM2_ECDH_KeyGen: an ephemeral key pair and the shared point with the key.
pub(crate) fn ecdh_keygen(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let key = tpm.object(cmd.handle(0)?).ok_or(Rc::HANDLE.handle(1))?.clone();
    let curve = ecc_key(&key)?;
    let PublicKind::Ecc { x, y, .. } = &key.public.kind else { return Err(Rc::KEY.handle(1)) };
    let point = EccPublic::from_xy(curve, x, y)?;
    let ephemeral = EccSecret::random(curve, &mut tpm.drbg)?;
    let z = ephemeral.multiply(&point)?;
    put_point(&mut cmd.out, &z);
    put_point(&mut cmd.out, &ephemeral.public());
    Ok(())
}

/// TPM2_ECDH_ZGen.
pub(crate) fn ecdh_zgen(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let point = cmd.params.next(EccPoint::unmarshal_2b)?;
    cmd.params.end()?;
    let key = tpm.object(cmd.handle(0)?).ok_or(Rc::HANDLE.handle(1))?.clone();
    let curve = ecc_key(&key)?;
    if key.has(oa::RESTRICTED) || !key.has(oa::DECRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let input = EccPublic::from_xy(curve, &point.x, &point.y).map_err(|rc| rc.param(1))?;
    let KeyMaterial::EccPrivate(k) = &key.key else { return Err(Rc::KEY.handle(1)) };
    put_point(&mut cmd.out, &k.multiply(&input)?);
    Ok(())
}

/// The domain parameters of a curve (SEC 2 / FIPS 186-4): p, a, b, Gx, Gy, n.
fn curve_parameters(curve: EccCurve) -> [&'static str; 6] {
    match curve {
        EccCurve::NistP256 => [
            "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
            "ffffffff00000001000000000000000000000000fffffffffffffffffffffffc",
            "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
            "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
            "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
            "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
        ],
        EccCurve::NistP384 => [
            "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe\
             ffffffff0000000000000000ffffffff",
            "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe\
             ffffffff0000000000000000fffffffc",
            "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875a\
             c656398d8a2ed19d2a85c8edd3ec2aef",
            "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a38\
             5502f25dbf55296c3a545e3872760ab7",
            "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c0\
             0a60b1ce1d7e819d7a431d7c90ea0e5f",
            "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf\
             581a0db248b0a77aecec196accc52973",
        ],
    }
}

fn from_hex(s: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    };
    s.as_bytes().chunks_exact(2).map(|p| (digit(p[0]) << 4) | digit(p[1])).collect()
}

/// TPM2_ECC_Parameters: TPMS_ALGORITHM_DETAIL_ECC of a supported curve. The KDF
/// and signing scheme are the ones libtpms (and the reference code) report.
pub(crate) fn ecc_parameters(_tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let id = cmd.params.u16()?;
    cmd.params.end()?;
    let curve = EccCurve::from_id(id).ok_or(Rc::CURVE.param(1))?;
    let kdf_hash = match curve {
        EccCurve::NistP256 => crate::types::HashAlg::Sha256,
        EccCurve::NistP384 => crate::types::HashAlg::Sha384,
    };
    cmd.out.u16(curve.id()).u16(curve.bits());
    cmd.out.u16(alg::KDF1_SP800_56A).u16(kdf_hash.id());
    cmd.out.u16(alg::NULL);
    for value in curve_parameters(curve) {
        put_2b(&mut cmd.out, &from_hex(value));
    }
    put_2b(&mut cmd.out, &[1]);
    Ok(())
}
