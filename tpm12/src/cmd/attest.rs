//! Attestation: TPM_Quote, TPM_Quote2, TPM_CertifyKey and TPM_TickStampBlob (Part 3
//! §16.3, §16.5, §13.8, §23.4), and the signature they share.

use alloc::vec::Vec;
use tpm_engine::wire::Writer;

use crate::consts::{auth_usage, ku, pt, ss, stag};
use crate::crypto::{self, Digest20};
use crate::engine::{Cmd, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::state::TpmKey;
use crate::structs::{
    ALL_LOCALITIES, PcrInfo, PcrInfoForm, PcrSelection, STRUCT_VER_11, read_bool, read_digest,
    write_sized,
};

/// Signs a SHA-1 digest of a TPM structure with a key whose scheme is
/// TPM_SS_RSASSAPKCS1v15_SHA1 or _INFO: both sign the digest as a PKCS#1 v1.5
/// SHA-1 DigestInfo (the structure already names its purpose, so no
/// TPM_SIGN_INFO wraps it; libtpms TPM_RSASign).
pub(crate) fn sign_structure(
    tpm: &mut Tpm12,
    key: &TpmKey,
    digest: &Digest20,
) -> TpmResult<Vec<u8>> {
    key.pair.sign_sha1(&mut tpm.drbg, digest)
}

/// The checks Quote and Quote2 apply to the signing key (actions 2–3).
fn check_quote_key(key: &TpmKey) -> TpmResult<()> {
    if !matches!(key.public.parms.sig_scheme, ss::RSASSAPKCS1V15_SHA1 | ss::RSASSAPKCS1V15_INFO) {
        return Err(TpmError::InappropriateSig);
    }
    if !matches!(key.public.usage, ku::SIGNING | ku::IDENTITY | ku::LEGACY) {
        return Err(TpmError::InvalidKeyusage);
    }
    Ok(())
}

/// TPM_Quote (Part 3 §16.3): signs TPM_QUOTE_INFO over the selected PCRs.
pub(crate) fn quote(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let key_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let external = read_digest(&mut cmd.r)?;
    let target = PcrSelection::parse(&mut cmd.r)?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    let (key, _) = tpm.loaded_key(key_handle, false, cmd.locality)?;
    tpm.key_auth(cmd, 0, key_handle, &digest)?;
    check_quote_key(&key)?;
    // Actions 5–7: H1 over TPM_PCR_COMPOSITE, Q1 = TPM_QUOTE_INFO (1.1.0.0, "QUOT").
    let composite = super::pcr::composite(tpm, &target);
    let mut q1 = Writer::new();
    q1.bytes(&STRUCT_VER_11).bytes(b"QUOT").bytes(&crypto::sha1(&[&composite])).bytes(&external);
    let sig = sign_structure(tpm, &key, &crypto::sha1(&[q1.as_slice()]))?;
    let mut w = Writer::with_capacity(composite.len() + 4 + sig.len());
    w.bytes(&composite);
    write_sized(&mut w, &sig);
    Ok(Out::params(w.into_vec()))
}

/// TPM_TickStampBlob (Part 3 §23.4): signs a TPM_SIGN_INFO ("TSTP", replay =
/// antiReplay, data = digestToStamp || TPM_CURRENT_TICKS) and returns the ticks.
pub(crate) fn tick_stamp_blob(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let key_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let anti_replay = read_digest(&mut cmd.r)?;
    let to_stamp = read_digest(&mut cmd.r)?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    let (key, _) = tpm.loaded_key(key_handle, false, cmd.locality)?;
    tpm.key_auth(cmd, 0, key_handle, &digest)?;
    // Actions 2–3, in libtpms's order: the usage, then the scheme.
    if !matches!(key.public.usage, ku::SIGNING | ku::IDENTITY | ku::LEGACY) {
        return Err(TpmError::InvalidKeyusage);
    }
    if !matches!(key.public.parms.sig_scheme, ss::RSASSAPKCS1V15_SHA1 | ss::RSASSAPKCS1V15_INFO) {
        return Err(TpmError::InappropriateSig);
    }
    // Actions 5–7: T1, then H1 = TPM_SIGN_INFO over digestToStamp || T1.
    let ticks = super::admin::current_ticks(tpm);
    let mut h1 = Writer::new();
    h1.u16(stag::SIGNINFO).bytes(b"TSTP").bytes(&anti_replay);
    h1.u32(u32::try_from(20 + ticks.len()).map_err(|_| TpmError::Fail)?);
    h1.bytes(&to_stamp).bytes(&ticks);
    let sig = sign_structure(tpm, &key, &crypto::sha1(&[h1.as_slice()]))?;
    let mut w = Writer::with_capacity(ticks.len() + 4 + sig.len());
    w.bytes(&ticks);
    write_sized(&mut w, &sig);
    Ok(Out::params(w.into_vec()))
}

/// TPM_Quote2 (Part 3 §16.5): signs TPM_QUOTE_INFO2, which carries the locality in a
/// TPM_PCR_INFO_SHORT, optionally followed by TPM_CAP_VERSION_INFO.
pub(crate) fn quote2(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let key_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let external = read_digest(&mut cmd.r)?;
    let target = PcrSelection::parse(&mut cmd.r)?;
    let add_version = read_bool(&mut cmd.r)?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    let (key, _) = tpm.loaded_key(key_handle, false, cmd.locality)?;
    tpm.key_auth(cmd, 0, key_handle, &digest)?;
    check_quote_key(&key)?;
    // Action 6: S1 names the selection, the locality of this command and H1.
    let s1 = PcrInfo {
        form: PcrInfoForm::Short,
        locality_at_creation: 0,
        locality_at_release: 1 << cmd.locality,
        creation_selection: target,
        release_selection: target,
        digest_at_creation: [0; 20],
        digest_at_release: super::pcr::composite_hash(tpm, &target),
    }
    .to_bytes();
    let version = if add_version { super::capability::version_info(tpm) } else { Vec::new() };
    // Actions 7–10: Q1 = TPM_QUOTE_INFO2 ("QUT2") || versionInfo, signed.
    let mut q1 = Writer::new();
    q1.u16(stag::QUOTE_INFO2).bytes(b"QUT2").bytes(&external).bytes(&s1).bytes(&version);
    let sig = sign_structure(tpm, &key, &crypto::sha1(&[q1.as_slice()]))?;
    let mut w = Writer::new();
    w.bytes(&s1);
    write_sized(&mut w, &version);
    write_sized(&mut w, &sig);
    Ok(Out::params(w.into_vec()))
}

/// TPM_CertifyKey (Part 3 §13.8): one key signs a description of
/// another, TPM_CERTIFY_INFO or (for keys bound to localities or PCRs 16 and up)
/// TPM_CERTIFY_INFO2.
pub(crate) fn certify_key(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let cert_handle = cmd.r.u32()?;
    let key_handle = cmd.r.u32()?;
    let start = cmd.mark();
    let anti_replay = read_digest(&mut cmd.r)?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(start);
    let (cert, _) = tpm.loaded_key(cert_handle, false, cmd.locality)?;
    let (target, parent_pcr_status) = tpm.loaded_key(key_handle, false, cmd.locality)?;
    // Action 1.
    if !matches!(cert.public.parms.sig_scheme, ss::RSASSAPKCS1V15_SHA1 | ss::RSASSAPKCS1V15_INFO) {
        return Err(TpmError::BadKeyProperty);
    }
    // Action 2: with two sessions the first authorizes certHandle; the last (or only)
    // session authorizes keyHandle, and its failure is TPM_AUTH2FAIL either way.
    let two = cmd.has_auth(2);
    if two {
        tpm.key_auth(cmd, 0, cert_handle, &digest)?;
    } else if cert.public.auth_data_usage != auth_usage::NEVER {
        return Err(TpmError::Authfail);
    }
    if cmd.has_auth(1) {
        let index = usize::from(two);
        tpm.key_auth(cmd, index, key_handle, &digest).map_err(|e| match e {
            TpmError::Authfail => TpmError::Auth2fail,
            other => other,
        })?;
    } else if target.public.auth_data_usage == auth_usage::ALWAYS {
        return Err(TpmError::Authfail);
    }
    // Actions 4–6 (action 3, payload TPM_PT_ASYM, holds for every loaded key).
    if cert.public.usage == ku::IDENTITY && target.public.flags & crate::consts::kf::MIGRATABLE != 0
    {
        return Err(TpmError::Migratefail);
    }
    if !matches!(cert.public.usage, ku::SIGNING | ku::IDENTITY | ku::LEGACY) {
        return Err(TpmError::InvalidKeyusage);
    }
    if !matches!(
        target.public.usage,
        ku::SIGNING | ku::STORAGE | ku::IDENTITY | ku::BIND | ku::LEGACY
    ) {
        return Err(TpmError::InvalidKeyusage);
    }
    let info = certify_info(&target, &anti_replay, parent_pcr_status)?;
    let sig = sign_structure(tpm, &cert, &crypto::sha1(&[&info]))?;
    let mut w = Writer::with_capacity(info.len() + 4 + sig.len());
    w.bytes(&info);
    write_sized(&mut w, &sig);
    Ok(Out::params(w.into_vec()))
}

/// TPM_CERTIFY_INFO or TPM_CERTIFY_INFO2 of `key` (Part 2 §11.1, §11.2; Part 3
/// TPM_CertifyKey actions 7–13).
pub(crate) fn certify_info(
    key: &TpmKey,
    data: &Digest20,
    parent_pcr_status: bool,
) -> TpmResult<Vec<u8>> {
    let pcr = key.public.pcr_info()?;
    // Actions 7–8: localities or PCRs 16–23 need the 1.2 structure.
    let v2 = pcr.as_ref().is_some_and(|info| {
        info.release_selection.bits.get(2..).is_some_and(|b| b.iter().any(|x| *x != 0))
            || (info.form == PcrInfoForm::Long && info.locality_at_release != ALL_LOCALITIES)
    });
    let pubkey_digest = crypto::sha1(&[&key.public.pub_key]);
    let mut w = Writer::new();
    if v2 {
        w.u16(stag::CERTIFY_INFO2).u8(0).u8(pt::ASYM);
    } else {
        w.bytes(&STRUCT_VER_11);
    }
    w.u16(key.public.usage).u32(key.public.flags).u8(key.public.auth_data_usage);
    key.public.parms.write(&mut w);
    w.bytes(&pubkey_digest).bytes(data).u8(parent_pcr_status.into());
    let pcr_bytes = match pcr {
        None => Vec::new(),
        Some(info) => {
            let locality = match info.form {
                PcrInfoForm::Long => info.locality_at_release,
                _ => ALL_LOCALITIES,
            };
            PcrInfo {
                form: if v2 { PcrInfoForm::Short } else { PcrInfoForm::Info },
                locality_at_creation: 0,
                locality_at_release: locality,
                creation_selection: info.release_selection,
                release_selection: info.release_selection,
                // Action 9.b.v: the 1.1 structure carries no creation digest.
                digest_at_creation: [0; 20],
                digest_at_release: info.digest_at_release,
            }
            .to_bytes()
        }
    };
    write_sized(&mut w, &pcr_bytes);
    if v2 {
        // migrationAuthority: empty for keys that are not certified-migratable.
        w.u32(0);
    }
    Ok(w.into_vec())
}
