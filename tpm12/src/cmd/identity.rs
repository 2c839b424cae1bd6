//! Identities: TPM_MakeIdentity and TPM_ActivateIdentity (Part 3 §15), the TPM's
//! half of the privacy-CA protocol (Part 1, "Identity creation").

use tpm_engine::wire::{Reader, Writer};

use crate::consts::{alg, auth_usage, es, kf, ku, ord, ss, stag};
use crate::crypto::{self, Digest20};
use crate::engine::{Cmd, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::structs::{
    Key, KeyParms, PcrInfo, PcrInfoForm, STRUCT_VER_11, read_digest, write_sized,
};

/// The largest RSA key this TPM makes (libtpms TPM_RSA_KEY_LENGTH_MAX).
const RSA_KEY_LENGTH_MAX: u32 = 2048;
/// TPM_EK_TYPE_ACTIVATE (Part 2, TPM_EK_TYPE): the only TPM_EK_BLOB type
/// ActivateIdentity takes.
const EK_TYPE_ACTIVATE: u16 = 1;

/// Whether this TPM can make a key with these parameters for `usage`
/// (Part 2 §5.8.1 mandatory schemes; libtpms TPM_KeyParms_CheckProperties): RSA, two
/// primes, at most 2048 bits (exactly `bits` when given), the usage's schemes, and
/// for storage, identity and migration keys at least 2048 bits and the default
/// exponent. TPM_BAD_KEY_PROPERTY otherwise.
pub(crate) fn check_key_properties(
    parms: &KeyParms,
    usage: u16,
    bits: Option<u32>,
) -> TpmResult<()> {
    if parms.algorithm != alg::RSA {
        return Err(TpmError::BadKeyProperty);
    }
    let rsa = parms.rsa_parms()?;
    let bad = |b: bool| if b { Err(TpmError::BadKeyProperty) } else { Ok(()) };
    bad(bits.is_some_and(|b| b != rsa.key_bits))?;
    bad(rsa.key_bits > RSA_KEY_LENGTH_MAX || rsa.num_primes != 2)?;
    let strong_default = rsa.key_bits >= 2048 && rsa.exponent == crypto::DEFAULT_EXPONENT;
    let (enc, sig) = (parms.enc_scheme, parms.sig_scheme);
    match usage {
        ku::SIGNING => bad(enc != es::NONE
            || !matches!(
                sig,
                ss::RSASSAPKCS1V15_SHA1 | ss::RSASSAPKCS1V15_DER | ss::RSASSAPKCS1V15_INFO
            )),
        ku::STORAGE | ku::MIGRATE => {
            bad(enc != es::RSAESOAEP_SHA1_MGF1 || sig != ss::NONE || !strong_default)
        }
        ku::IDENTITY => bad(enc != es::NONE || sig != ss::RSASSAPKCS1V15_SHA1 || !strong_default),
        ku::AUTHCHANGE => {
            bad(enc != es::RSAESOAEP_SHA1_MGF1 || sig != ss::NONE || rsa.key_bits < 512)
        }
        ku::BIND => {
            bad(!matches!(enc, es::RSAESOAEP_SHA1_MGF1 | es::RSAESPKCSV15) || sig != ss::NONE)
        }
        ku::LEGACY => bad(!matches!(enc, es::RSAESOAEP_SHA1_MGF1 | es::RSAESPKCSV15)
            || !matches!(sig, ss::RSASSAPKCS1V15_SHA1 | ss::RSASSAPKCS1V15_DER)),
        _ => Err(TpmError::BadKeyProperty),
    }
}

/// TPM_MakeIdentity (Part 3 §15.1): creates an identity key under the SRK and signs
/// TPM_IDENTITY_CONTENTS (the privacy CA's label digest and the new public key) with
/// it. The owner authorizes with an OSAP session (the last one), the SRK with the
/// first of two sessions or not at all if its authDataUsage is TPM_AUTH_NEVER.
pub(crate) fn make_identity(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let identity_auth = read_digest(&mut cmd.r)?;
    let label_priv_ca_digest = read_digest(&mut cmd.r)?;
    let id_key_params = Key::parse(&mut cmd.r)?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(0);
    // Action 1.
    check_key_properties(&id_key_params.parms, id_key_params.usage, Some(2048))?;
    // Action 2: the owner, through an OSAP session; a failure is TPM_AUTH2FAIL.
    let owner_index = usize::from(cmd.has_auth(2));
    tpm.require_osap(cmd, owner_index)?;
    tpm.owner_auth(cmd, owner_index, &digest).map_err(|e| match e {
        TpmError::Authfail => TpmError::Auth2fail,
        other => other,
    })?;
    // Action 3: the SRK.
    let srk_never =
        tpm.perm.srk.as_ref().is_some_and(|k| k.public.auth_data_usage == auth_usage::NEVER);
    if cmd.has_auth(2) {
        tpm.key_auth(cmd, 0, crate::consts::kh::SRK, &digest)?;
    } else if !srk_never {
        return Err(TpmError::Authfail);
    }
    // Actions 4–5.
    if id_key_params.usage != ku::IDENTITY || id_key_params.flags & kf::MIGRATABLE != 0 {
        return Err(TpmError::InvalidKeyusage);
    }
    // Actions 6–7: the identity secret under the owner session's ADIP; both sessions
    // end with the command.
    let a1 = tpm.adip_decrypt_at(cmd, owner_index, &identity_auth, false)?;
    tpm.end_session_after(cmd, 0);
    // Actions 8–15: generate and wrap under the SRK; migrationAuth is tpmProof.
    let srk = tpm.perm.srk.clone().ok_or(TpmError::Nosrk)?;
    let proof = tpm.perm.tpm_proof.clone();
    let mut id_key = super::storage::generate_key(tpm, &id_key_params, a1, proof, cmd.locality)?;
    super::storage::wrap(tpm, &srk, &mut id_key)?;
    // Actions 16–17: identityBinding signs TPM_IDENTITY_CONTENTS.
    let mut contents = Writer::new();
    contents.bytes(&STRUCT_VER_11).u32(ord::MAKE_IDENTITY).bytes(&label_priv_ca_digest);
    id_key.public.pubkey().write(&mut contents);
    let binding = id_key.pair.sign_sha1(&mut tpm.drbg, &crypto::sha1(&[contents.as_slice()]))?;
    let mut w = Writer::new();
    id_key.public.write(&mut w);
    write_sized(&mut w, &binding);
    Ok(Out::params(w.into_vec()))
}

/// TPM_SYMMETRIC_KEY (Part 2): the session key a privacy CA sends back.
struct SymmetricKey<'a> {
    algorithm: u32,
    enc_scheme: u16,
    data: &'a [u8],
}

impl<'a> SymmetricKey<'a> {
    fn parse(r: &mut Reader<'a>) -> TpmResult<Self> {
        let algorithm = r.u32()?;
        let enc_scheme = r.u16()?;
        let data = r.sized_u16(usize::from(u16::MAX))?;
        Ok(Self { algorithm, enc_scheme, data })
    }

    fn write(&self, w: &mut Writer) -> TpmResult<()> {
        w.u32(self.algorithm).u16(self.enc_scheme);
        w.sized_u16(self.data).map_err(|_| TpmError::Fail)?;
        Ok(())
    }
}

/// TPM_ActivateIdentity (Part 3 §15.2): decrypts, with the EK, a blob the privacy CA
/// made for the identity key at `idKeyHandle` and returns the session key in it. The
/// blob is a TPM_EK_BLOB holding a TPM_EK_BLOB_ACTIVATE (1.2, optionally bound to
/// PCRs and localities) or a bare TPM_ASYM_CA_CONTENTS (1.1); either names the
/// identity by the digest of its TPM_PUBKEY.
pub(crate) fn activate_identity(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let id_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let blob = cmd.r.sized_u32(crate::structs::MAX_FIELD)?.to_vec();
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    // Action 1: the owner, in the last session.
    let owner_index = usize::from(cmd.has_auth(2));
    tpm.owner_auth(cmd, owner_index, &digest)?;
    // Action 2: the identity key, in the first of two sessions (TPM_AUTH2FAIL).
    let (id_key, _) = tpm.loaded_key(id_handle, false, cmd.locality)?;
    if cmd.has_auth(2) {
        tpm.key_auth(cmd, 0, id_handle, &digest).map_err(|e| match e {
            TpmError::Authfail => TpmError::Auth2fail,
            other => other,
        })?;
    } else if id_key.public.auth_data_usage != auth_usage::NEVER {
        return Err(TpmError::Authfail);
    }
    // Actions 3–5.
    if id_key.public.usage != ku::IDENTITY {
        return Err(TpmError::BadParameter);
    }
    let h1 = crypto::sha1(&[&id_key.public.pubkey().to_bytes()]);
    let ek = tpm.perm.ek.as_ref().ok_or(TpmError::NoEndorsement)?;
    let b1 = ek.decrypt_oaep(&mut tpm.drbg, &blob)?;
    // Actions 6–8: which structure B1 is, told apart by the TPM_EK_BLOB tag.
    let mut r = Reader::new(&b1);
    let mut out = Writer::new();
    if b1.get(..2) == Some(&stag::EK_BLOB.to_be_bytes()[..]) {
        r.u16()?;
        let ek_type = r.u16()?;
        let inner = r.sized_u32(b1.len())?;
        if ek_type != EK_TYPE_ACTIVATE {
            return Err(TpmError::BadType);
        }
        let mut a = Reader::new(inner);
        if a.u16()? != stag::EK_BLOB_ACTIVATE {
            return Err(TpmError::InvalidStructure);
        }
        let session_key = SymmetricKey::parse(&mut a)?;
        let id_digest: Digest20 = read_digest(&mut a)?;
        let pcr_info = PcrInfo::parse(&mut a, PcrInfoForm::Short)?;
        check_id_digest(&h1, &id_digest)?;
        super::storage::check_pcr_info(tpm, &pcr_info, cmd.locality)?;
        session_key.write(&mut out)?;
    } else {
        let session_key = SymmetricKey::parse(&mut r)?;
        let id_digest: Digest20 = read_digest(&mut r)?;
        check_id_digest(&h1, &id_digest)?;
        session_key.write(&mut out)?;
    }
    Ok(Out::params(out.into_vec()))
}

fn check_id_digest(h1: &Digest20, id_digest: &Digest20) -> TpmResult<()> {
    if crypto::ct_eq(h1, id_digest) { Ok(()) } else { Err(TpmError::BadParameter) }
}
