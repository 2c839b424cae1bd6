//! Attestation: TPM2_Certify, TPM2_CertifyCreation, TPM2_Quote, TPM2_GetTime,
//! TPM2_GetSessionAuditDigest (Part 3 §18) and TPM2_NV_Certify (§31.16).

use crate::commands::asym::select_sign_scheme;
use crate::commands::capability::vendor;
use crate::commands::context::CONTEXT_HASH;
use crate::crypto::{ct_eq, hash, kdf::kdfa};
use crate::dispatch::Cmd;
use crate::entity::nv_name;
use crate::object::{Hierarchy, Object};
use crate::types::{
    Attest, Attested, Marshal, PcrSelectionList, PublicKind, Rc, Scheme, Signature, Ticket,
    TpmResult, handle as h, limits, object_attr as oa, put_2b, st,
};
use crate::{Tpm2, pcr};

/// The signing key of an attestation command (`IsSigningObject`), or `None` for
/// TPM_RH_NULL, and the scheme it signs with.
pub(crate) fn signer(
    tpm: &Tpm2,
    handle: u32,
    requested: Scheme,
    scheme_param: usize,
) -> TpmResult<Option<(Object, Scheme)>> {
    if handle == h::NULL {
        return Ok(None);
    }
    let key = tpm.object(handle).ok_or(Rc::HANDLE.handle(2))?;
    if !key.has(oa::SIGN_ENCRYPT) || matches!(key.public.kind, PublicKind::SymCipher { .. }) {
        return Err(Rc::KEY);
    }
    let scheme = select_sign_scheme(key, requested).ok_or(Rc::SCHEME.param(scheme_param))?;
    Ok(Some((key.clone(), scheme)))
}

impl Tpm2 {
    /// `FillInAttestInfo` + `SignAttestInfo`: builds the TPMS_ATTEST, signs its
    /// digest, and writes TPM2B_ATTEST and TPMT_SIGNATURE. Clock counters and the
    /// firmware version are obfuscated unless the key is in the endorsement or
    /// platform hierarchy (Part 1 §36.8).
    pub(crate) fn attest(
        &mut self,
        cmd: &mut Cmd<'_>,
        signer: Option<(Object, Scheme)>,
        qualifying: &[u8],
        attested: Attested,
    ) -> TpmResult<()> {
        let qualified_signer = match &signer {
            Some((key, _)) => key.qualified_name.clone(),
            None => h::NULL.to_be_bytes().to_vec(),
        };
        let mut clock_info = self.clock_info();
        let mut firmware_version = vendor::firmware_version();
        let privileged = signer.as_ref().is_some_and(|(k, _)| {
            matches!(k.hierarchy, Hierarchy::Endorsement | Hierarchy::Platform)
        });
        if !privileged {
            let o = kdfa(CONTEXT_HASH, &self.p.sh_proof, b"OBFUSCATE", &qualified_signer, &[], 128);
            let word = |i: usize| {
                o.get(i..i + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes)
            };
            let (a, b) = (word(0), word(8));
            firmware_version = firmware_version.wrapping_add(a);
            let [r0, r1, r2, r3, s0, s1, s2, s3] = b.to_be_bytes();
            clock_info.reset_count =
                clock_info.reset_count.wrapping_add(u32::from_be_bytes([r0, r1, r2, r3]));
            clock_info.restart_count =
                clock_info.restart_count.wrapping_add(u32::from_be_bytes([s0, s1, s2, s3]));
        }
        let attest = Attest {
            qualified_signer,
            extra_data: qualifying.to_vec(),
            clock_info,
            firmware_version,
            attested,
        };
        let bytes = attest.to_bytes();
        let signature = match signer {
            None => Signature::Null,
            Some((key, scheme)) => {
                let alg = scheme.hash_alg().ok_or(Rc::SCHEME)?;
                let digest = hash::digest(alg, &bytes);
                let sig = self.sign_digest(&key, scheme, &digest)?;
                self.clear_orderly();
                sig
            }
        };
        put_2b(&mut cmd.out, &bytes);
        signature.marshal(&mut cmd.out);
        Ok(())
    }
}

/// TPM2_Certify.
pub(crate) fn certify(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let qualifying = cmd.params.b2(limits::MAX_DATA)?;
    let scheme = cmd.params.next(Scheme::unmarshal_sig)?;
    cmd.params.end()?;
    let (object, sign) = (cmd.handle(0)?, cmd.handle(1)?);
    let signer = signer(tpm, sign, scheme, 2)
        .map_err(|rc| if rc == Rc::KEY { Rc::KEY.handle(2) } else { rc })?;
    let o = tpm.object(object).ok_or(Rc::HANDLE.handle(1))?;
    let attested =
        Attested::Certify { name: o.name.clone(), qualified_name: o.qualified_name.clone() };
    tpm.attest(cmd, signer, &qualifying, attested)
}

/// TPM2_CertifyCreation.
pub(crate) fn certify_creation(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let qualifying = cmd.params.b2(limits::MAX_DATA)?;
    let creation_hash = cmd.params.b2(limits::MAX_DIGEST)?;
    let scheme = cmd.params.next(Scheme::unmarshal_sig)?;
    let ticket = cmd.params.next(|r| Ticket::unmarshal_tagged(r, &[st::CREATION]))?;
    cmd.params.end()?;
    let (sign, object) = (cmd.handle(0)?, cmd.handle(1)?);
    let signer = signer(tpm, sign, scheme, 3)
        .map_err(|rc| if rc == Rc::KEY { Rc::KEY.handle(1) } else { rc })?;
    let name = tpm.object(object).ok_or(Rc::HANDLE.handle(2))?.name.clone();
    let hierarchy = Hierarchy::from_handle(ticket.hierarchy).ok_or(Rc::TICKET.param(4))?;
    let expected = tpm.ticket(st::CREATION, hierarchy, &[&name, &creation_hash]);
    if !ct_eq(&expected.digest, &ticket.digest) {
        return Err(Rc::TICKET.param(4));
    }
    tpm.attest(cmd, signer, &qualifying, Attested::Creation { object_name: name, creation_hash })
}

/// TPM2_Quote.
pub(crate) fn quote(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let qualifying = cmd.params.b2(limits::MAX_DATA)?;
    let scheme = cmd.params.next(Scheme::unmarshal_sig)?;
    let pcrs: PcrSelectionList = cmd.params.get()?;
    cmd.params.end()?;
    let sign = cmd.handle(0)?;
    let signer = signer(tpm, sign, scheme, 2)
        .map_err(|rc| if rc == Rc::KEY { Rc::KEY.handle(1) } else { rc })?;
    let alg = match &signer {
        Some((_, s)) => s.hash_alg().ok_or(Rc::SCHEME.param(2))?,
        None => scheme.hash_alg().ok_or(Rc::SCHEME.param(2))?,
    };
    let mut filtered = pcrs.clone();
    for sel in filtered.0.iter_mut() {
        if !tpm.v.banks.iter().any(|b| b.alg == sel.hash) {
            sel.select.fill(0);
        }
    }
    let pcr_digest = pcr::selection_digest(&tpm.v.banks, &filtered.0, alg);
    tpm.attest(cmd, signer, &qualifying, Attested::Quote { pcr_select: pcrs, pcr_digest })
}

/// TPM2_GetTime.
pub(crate) fn get_time(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let qualifying = cmd.params.b2(limits::MAX_DATA)?;
    let scheme = cmd.params.next(Scheme::unmarshal_sig)?;
    cmd.params.end()?;
    let sign = cmd.handle(1)?;
    let signer = signer(tpm, sign, scheme, 2)
        .map_err(|rc| if rc == Rc::KEY { Rc::KEY.handle(2) } else { rc })?;
    let attested =
        Attested::Time { time: tpm.time_info(), firmware_version: vendor::firmware_version() };
    tpm.attest(cmd, signer, &qualifying, attested)
}

/// TPM2_GetSessionAuditDigest.
pub(crate) fn get_session_audit_digest(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let qualifying = cmd.params.b2(limits::MAX_DATA)?;
    let scheme = cmd.params.next(Scheme::unmarshal_sig)?;
    cmd.params.end()?;
    let (sign, session) = (cmd.handle(1)?, cmd.handle(2)?);
    let signer = signer(tpm, sign, scheme, 2)
        .map_err(|rc| if rc == Rc::KEY { Rc::KEY.handle(2) } else { rc })?;
    let s = tpm.session(session).ok_or(Rc::HANDLE.handle(3))?;
    let digest = s.audit.clone().ok_or(Rc::TYPE.handle(3))?;
    let exclusive = tpm.v.exclusive_audit == Some(session);
    tpm.attest(
        cmd,
        signer,
        &qualifying,
        Attested::SessionAudit { exclusive_session: exclusive, session_digest: digest },
    )
}

/// TPM2_NV_Certify.
pub(crate) fn nv_certify(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let qualifying = cmd.params.b2(limits::MAX_DATA)?;
    let scheme = cmd.params.next(Scheme::unmarshal_sig)?;
    let size = cmd.params.u16()?;
    let offset = cmd.params.u16()?;
    cmd.params.end()?;
    let (sign, auth, index) = (cmd.handle(0)?, cmd.handle(1)?, cmd.handle(2)?);
    let signer = signer(tpm, sign, scheme, 2)
        .map_err(|rc| if rc == Rc::KEY { Rc::KEY.handle(1) } else { rc })?;
    let nv = tpm.p.nv.get(&index).ok_or(Rc::HANDLE.handle(3))?.clone();
    crate::commands::nv::read_checks(auth, index, nv.public.attributes)?;
    let (size, offset) = (usize::from(size), usize::from(offset));
    if size + offset > usize::from(nv.public.data_size) {
        return Err(Rc::NV_RANGE);
    }
    if size > limits::MAX_NV_BUFFER {
        return Err(Rc::VALUE.param(3));
    }
    let index_name = nv_name(&nv);
    let attested = if size != 0 || offset != 0 {
        let contents = crate::commands::nv::data_range(&nv, offset, size);
        Attested::Nv { index_name, offset: u16::try_from(offset).unwrap_or(0), contents }
    } else {
        let alg = signer
            .as_ref()
            .and_then(|(_, s)| s.hash_alg())
            .or(scheme.hash_alg())
            .ok_or(Rc::SCHEME.param(2))?;
        let all = crate::commands::nv::data_range(&nv, 0, usize::from(nv.public.data_size));
        Attested::NvDigest { index_name, nv_digest: hash::digest(alg, &all) }
    };
    tpm.attest(cmd, signer, &qualifying, attested)
}
