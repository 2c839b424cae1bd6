//! ECC over NIST P-256 and P-384: key derivation, ECDSA and ECDH.

use super::kdf::KdfStream;
use crate::types::{EccCurve, Rc, TpmResult};
use alloc::vec;
use alloc::vec::Vec;
use ecdsa::signature::hazmat::PrehashVerifier;
use elliptic_curve::point::AffineCoordinates;
use tpm_engine::Drbg;
use zeroize::Zeroizing;

/// A private key on a supported curve.
#[derive(Clone)]
pub enum EccSecret {
    /// P-256.
    P256(p256::SecretKey),
    /// P-384.
    P384(p384::SecretKey),
}

impl core::fmt::Debug for EccSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EccSecret { .. }")
    }
}

/// A public point on a supported curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EccPublic {
    /// P-256.
    P256(p256::AffinePoint),
    /// P-384.
    P384(p384::AffinePoint),
}

/// Left-pads (or rejects, if too long) a coordinate to the curve size.
fn pad(curve: EccCurve, value: &[u8]) -> TpmResult<Vec<u8>> {
    let size = curve.size();
    if value.len() > size {
        return Err(Rc::ECC_POINT);
    }
    let mut out = vec![0u8; size.saturating_sub(value.len())];
    out.extend_from_slice(value);
    Ok(out)
}

impl EccSecret {
    /// The key for a scalar (left-padded to the curve size); zero or a value not
    /// below the group order is TPM_RC_KEY.
    pub fn from_scalar(curve: EccCurve, scalar: &[u8]) -> TpmResult<Self> {
        let bytes = Zeroizing::new(pad(curve, scalar).map_err(|_| Rc::KEY)?);
        match curve {
            EccCurve::NistP256 => {
                p256::SecretKey::from_slice(&bytes).map(EccSecret::P256).map_err(|_| Rc::KEY)
            }
            EccCurve::NistP384 => {
                p384::SecretKey::from_slice(&bytes).map(EccSecret::P384).map_err(|_| Rc::KEY)
            }
        }
    }

    /// Derives a key from a deterministic stream by rejection sampling (a draw of
    /// zero or at least the group order is discarded), so the same stream always
    /// gives the same key.
    pub fn derive(curve: EccCurve, stream: &mut KdfStream) -> TpmResult<Self> {
        for _ in 0..64 {
            let mut bytes = Zeroizing::new(vec![0u8; curve.size()]);
            stream.fill(&mut bytes);
            if let Ok(key) = EccSecret::from_scalar(curve, &bytes) {
                return Ok(key);
            }
        }
        Err(Rc::NO_RESULT)
    }

    /// A fresh key from the DRBG.
    pub fn random(curve: EccCurve, drbg: &mut Drbg) -> TpmResult<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        drbg.fill(&mut seed[..]);
        let mut stream = KdfStream::new(crate::types::HashAlg::Sha256, &seed[..], b"ECC KEY", &[]);
        EccSecret::derive(curve, &mut stream)
    }

    /// The curve.
    pub fn curve(&self) -> EccCurve {
        match self {
            EccSecret::P256(_) => EccCurve::NistP256,
            EccSecret::P384(_) => EccCurve::NistP384,
        }
    }

    /// The scalar, big-endian, curve-sized.
    pub fn scalar(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            EccSecret::P256(k) => k.to_bytes().to_vec(),
            EccSecret::P384(k) => k.to_bytes().to_vec(),
        })
    }

    /// The public point.
    pub fn public(&self) -> EccPublic {
        match self {
            EccSecret::P256(k) => EccPublic::P256(*k.public_key().as_affine()),
            EccSecret::P384(k) => EccPublic::P384(*k.public_key().as_affine()),
        }
    }

    /// ECDSA over a digest, with a nonce hedged with the DRBG (RFC 6979 plus
    /// randomness). Digests shorter than the field are left-padded, which keeps
    /// their integer value (the conversion of SEC 1 §4.1.3 step 5).
    pub fn sign_ecdsa(&self, digest: &[u8], drbg: &mut Drbg) -> TpmResult<(Vec<u8>, Vec<u8>)> {
        let size = self.curve().size();
        let prehash =
            if digest.len() < size { pad(self.curve(), digest)? } else { digest.to_vec() };
        match self {
            // The hazmat entry point signs with the scalar alone: a SigningKey would
            // first compute the public point, doubling the cost.
            EccSecret::P256(k) => {
                let mut ad = [0u8; 32];
                drbg.fill(&mut ad);
                let (sig, _) = ecdsa::hazmat::sign_prehashed_rfc6979::<p256::NistP256, sha2::Sha256>(
                    &k.to_nonzero_scalar(),
                    &prehash,
                    &ad,
                );
                let (r, s) = sig.split_bytes();
                Ok((r.to_vec(), s.to_vec()))
            }
            EccSecret::P384(k) => {
                let mut ad = [0u8; 48];
                drbg.fill(&mut ad);
                let (sig, _) = ecdsa::hazmat::sign_prehashed_rfc6979::<p384::NistP384, sha2::Sha384>(
                    &k.to_nonzero_scalar(),
                    &prehash,
                    &ad,
                );
                let (r, s) = sig.split_bytes();
                Ok((r.to_vec(), s.to_vec()))
            }
        }
    }

    /// The point `self · point` (TPM2_ECDH_ZGen returns the whole point).
    pub fn multiply(&self, point: &EccPublic) -> TpmResult<EccPublic> {
        match (self, point) {
            (EccSecret::P256(k), EccPublic::P256(p)) => {
                let q = (p256::ProjectivePoint::from(*p) * *k.to_nonzero_scalar()).to_affine();
                Ok(EccPublic::P256(q))
            }
            (EccSecret::P384(k), EccPublic::P384(p)) => {
                let q = (p384::ProjectivePoint::from(*p) * *k.to_nonzero_scalar()).to_affine();
                Ok(EccPublic::P384(q))
            }
            _ => Err(Rc::CURVE),
        }
    }

    /// ECDH: the x coordinate of `self · point` (SP800-56A §5.7.1.2 "Z").
    pub fn ecdh(&self, point: &EccPublic) -> TpmResult<Zeroizing<Vec<u8>>> {
        match (self, point) {
            (EccSecret::P256(k), EccPublic::P256(p)) => {
                let shared = elliptic_curve::ecdh::diffie_hellman(k.to_nonzero_scalar(), p);
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
            (EccSecret::P384(k), EccPublic::P384(p)) => {
                let shared = elliptic_curve::ecdh::diffie_hellman(k.to_nonzero_scalar(), p);
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
            _ => Err(Rc::CURVE),
        }
    }
}

impl EccPublic {
    /// The point with coordinates `x`, `y` (each at most the curve size, left-padded);
    /// a point not on the curve, or the identity, is TPM_RC_ECC_POINT.
    pub fn from_xy(curve: EccCurve, x: &[u8], y: &[u8]) -> TpmResult<Self> {
        let (x, y) = (pad(curve, x)?, pad(curve, y)?);
        match curve {
            EccCurve::NistP256 => {
                let x = p256::FieldBytes::try_from(x.as_slice()).map_err(|_| Rc::ECC_POINT)?;
                let y = p256::FieldBytes::try_from(y.as_slice()).map_err(|_| Rc::ECC_POINT)?;
                Option::from(p256::AffinePoint::from_coordinates(&x, &y))
                    .map(EccPublic::P256)
                    .ok_or(Rc::ECC_POINT)
            }
            EccCurve::NistP384 => {
                let x = p384::FieldBytes::try_from(x.as_slice()).map_err(|_| Rc::ECC_POINT)?;
                let y = p384::FieldBytes::try_from(y.as_slice()).map_err(|_| Rc::ECC_POINT)?;
                Option::from(p384::AffinePoint::from_coordinates(&x, &y))
                    .map(EccPublic::P384)
                    .ok_or(Rc::ECC_POINT)
            }
        }
    }

    /// The curve.
    pub fn curve(&self) -> EccCurve {
        match self {
            EccPublic::P256(_) => EccCurve::NistP256,
            EccPublic::P384(_) => EccCurve::NistP384,
        }
    }

    /// The coordinates, curve-sized.
    pub fn xy(&self) -> (Vec<u8>, Vec<u8>) {
        match self {
            EccPublic::P256(p) => (p.x().to_vec(), p.y().to_vec()),
            EccPublic::P384(p) => (p.x().to_vec(), p.y().to_vec()),
        }
    }

    /// Verifies an ECDSA signature (r, s) over a digest.
    pub fn verify_ecdsa(&self, digest: &[u8], r: &[u8], s: &[u8]) -> bool {
        let curve = self.curve();
        let (Ok(r), Ok(s)) = (pad(curve, r), pad(curve, s)) else {
            return false;
        };
        let prehash = if digest.len() < curve.size() {
            match pad(curve, digest) {
                Ok(p) => p,
                Err(_) => return false,
            }
        } else {
            digest.to_vec()
        };
        match self {
            EccPublic::P256(p) => {
                let (Ok(r), Ok(s)) = (
                    p256::FieldBytes::try_from(r.as_slice()),
                    p256::FieldBytes::try_from(s.as_slice()),
                ) else {
                    return false;
                };
                let Ok(sig) = p256::ecdsa::Signature::from_scalars(r, s) else {
                    return false;
                };
                let Ok(key) = p256::ecdsa::VerifyingKey::from_affine(*p) else {
                    return false;
                };
                key.verify_prehash(&prehash, &sig).is_ok()
            }
            EccPublic::P384(p) => {
                let (Ok(r), Ok(s)) = (
                    p384::FieldBytes::try_from(r.as_slice()),
                    p384::FieldBytes::try_from(s.as_slice()),
                ) else {
                    return false;
                };
                let Ok(sig) = p384::ecdsa::Signature::from_scalars(r, s) else {
                    return false;
                };
                let Ok(key) = p384::ecdsa::VerifyingKey::from_affine(*p) else {
                    return false;
                };
                key.verify_prehash(&prehash, &sig).is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::HashAlg;

    #[test]
    fn derivation_is_deterministic() {
        for curve in EccCurve::ALL {
            let mut a = KdfStream::new(HashAlg::Sha256, b"seed", b"ECC", b"");
            let mut b = KdfStream::new(HashAlg::Sha256, b"seed", b"ECC", b"");
            let ka = EccSecret::derive(curve, &mut a).unwrap();
            let kb = EccSecret::derive(curve, &mut b).unwrap();
            assert_eq!(ka.public(), kb.public());
        }
    }

    #[test]
    fn ecdsa_round_trip_and_point_checks() {
        let mut drbg = Drbg::from_seed([3; 32]);
        for curve in EccCurve::ALL {
            let key = EccSecret::random(curve, &mut drbg).unwrap();
            let (x, y) = key.public().xy();
            let public = EccPublic::from_xy(curve, &x, &y).unwrap();
            for hash in HashAlg::ALL {
                let digest = crate::crypto::hash::digest(hash, b"msg");
                let (r, s) = key.sign_ecdsa(&digest, &mut drbg).unwrap();
                assert!(public.verify_ecdsa(&digest, &r, &s), "{curve:?} {hash:?}");
                assert!(!public.verify_ecdsa(&digest, &s, &r));
            }
            let mut bad_y = y.clone();
            bad_y[3] ^= 1;
            assert_eq!(EccPublic::from_xy(curve, &x, &bad_y), Err(Rc::ECC_POINT));
        }
    }

    #[test]
    fn ecdh_agrees() {
        let mut drbg = Drbg::from_seed([4; 32]);
        let a = EccSecret::random(EccCurve::NistP256, &mut drbg).unwrap();
        let b = EccSecret::random(EccCurve::NistP256, &mut drbg).unwrap();
        assert_eq!(*a.ecdh(&b.public()).unwrap(), *b.ecdh(&a.public()).unwrap());
        let c = EccSecret::random(EccCurve::NistP384, &mut drbg).unwrap();
        assert_eq!(a.ecdh(&c.public()).err(), Some(Rc::CURVE));
    }
}
