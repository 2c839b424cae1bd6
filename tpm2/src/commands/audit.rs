//! Command audit: TPM2_SetCommandCodeAuditStatus (Part 3 §21.2),
//! TPM2_GetCommandAuditDigest (Part 3 §18.5), and the extension of the command
//! audit digest after every audited command (Part 1 §33).
//!
//! The audited commands, the audit hash and the audit counter are permanent
//! (`gp.auditCommands`, `gp.auditHashAlg`, `gp.auditCounter`); the digest is
//! state-reset data (`gr.commandAuditDigest`): kept by TPM Restart and TPM Resume,
//! cleared by TPM Reset. TPM2_SetCommandCodeAuditStatus is always audited and
//! TPM2_Shutdown never is.

use crate::Tpm2;
use crate::commands::attest::signer;
use crate::crypto::hash::Hasher;
use crate::dispatch::Cmd;
use crate::types::{Attested, HashAlg, Rc, Scheme, TpmResult, alg, cc, limits};
use alloc::vec::Vec;

/// The audit hash of a new TPM. The reference code takes its context integrity
/// hash; libtpms's is SHA-512, and so is ours, so that a new TPM attests the same
/// audit state as libtpms.
pub(crate) const INITIAL_AUDIT_HASH: HashAlg = HashAlg::Sha512;

/// `MAX_CAP_CC`: the most command codes a TPML_CC holds.
const MAX_CAP_CC: u32 = (1024 - 4 - 4) / 4;

/// Reads a TPML_CC (`TPM_RC_SIZE` if it claims more than `MAX_CAP_CC` codes).
fn get_cc_list(r: &mut crate::types::Reader<'_>) -> TpmResult<Vec<u32>> {
    let count = r.u32()?;
    if count > MAX_CAP_CC {
        return Err(Rc::SIZE);
    }
    let mut list = Vec::new();
    for _ in 0..count {
        list.push(r.u32()?);
    }
    Ok(list)
}

/// TPM2_SetCommandCodeAuditStatus: changes the audit hash (the digest restarts and
/// this command is not audited), or adds and removes audited commands. Codes of
/// unimplemented commands are ignored, as are TPM2_Shutdown in `setList` and this
/// command in `clearList` (`CommandAuditSet`/`CommandAuditClear`).
pub(crate) fn set_command_code_audit_status(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let audit_alg = cmd.params.next(|r| {
        let id = r.u16()?;
        if id == alg::NULL { Ok(None) } else { HashAlg::from_id(id).map(Some).ok_or(Rc::HASH) }
    })?;
    let set_list = cmd.params.next(get_cc_list)?;
    let clear_list = cmd.params.next(get_cc_list)?;
    cmd.params.end()?;
    if let Some(new) = audit_alg
        && new != tpm.p.audit_alg
    {
        // The hash and the list cannot change together.
        if !set_list.is_empty() || !clear_list.is_empty() {
            return Err(Rc::VALUE.param(1));
        }
        tpm.nv_mut().audit_alg = new;
        tpm.v.command_audit = None;
        tpm.skip_command_audit = true;
        return Ok(());
    }
    let mut list = tpm.p.audit_commands.clone();
    for &code in &set_list {
        if code != cc::SHUTDOWN && crate::commands::lookup(code).is_some() {
            list.push(code);
        }
    }
    list.sort_unstable();
    list.dedup();
    list.retain(|c| *c == cc::SET_COMMAND_CODE_AUDIT_STATUS || !clear_list.contains(c));
    if list != tpm.p.audit_commands {
        tpm.nv_mut().audit_commands = list;
    }
    Ok(())
}

/// TPM2_GetCommandAuditDigest: attests the audit counter, hash, digest and the
/// digest of the audited command list; a signed answer restarts the digest.
pub(crate) fn get_command_audit_digest(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let qualifying = cmd.params.b2(limits::MAX_DATA)?;
    let scheme = cmd.params.next(Scheme::unmarshal_sig)?;
    cmd.params.end()?;
    let sign = cmd.handle(1)?;
    let signer = signer(tpm, sign, scheme, 2)
        .map_err(|rc| if rc == Rc::KEY { Rc::KEY.handle(2) } else { rc })?;
    let signed = signer.is_some();
    let alg = tpm.p.audit_alg;
    let attested = Attested::CommandAudit {
        audit_counter: tpm.p.audit_counter,
        digest_alg: alg.id(),
        audit_digest: tpm.v.command_audit.clone().unwrap_or_default(),
        command_digest: tpm.audited_commands_digest(),
    };
    tpm.attest(cmd, signer, &qualifying, attested)?;
    if signed {
        tpm.v.command_audit = None;
    }
    Ok(())
}

impl Tpm2 {
    /// Is `code` audited (`CommandAuditIsRequired`)?
    pub(crate) fn command_audited(&self, code: u32) -> bool {
        self.p.audit_commands.binary_search(&code).is_ok()
    }

    /// The audited command codes from `first` on (TPM_CAP_AUDIT_COMMANDS).
    pub(crate) fn audited_commands_from(&self, first: u32) -> Vec<u32> {
        self.p.audit_commands.iter().copied().filter(|&c| c >= first).collect()
    }

    /// The hash of the audited command codes in ascending order
    /// (`CommandAuditGetDigest`).
    fn audited_commands_digest(&self) -> Vec<u8> {
        let mut h = Hasher::new(self.p.audit_alg);
        for &c in &self.p.audit_commands {
            h.update_u32(c);
        }
        h.finish()
    }

    /// Extends the command audit digest after an audited command succeeded
    /// (`CommandAudit`): digest := H(digest ‖ cpHash ‖ rpHash), starting from
    /// zeros, and a fresh digest moves the audit counter. `cp_hash` must use the
    /// audit hash; `response_params` are the response parameters as sent.
    pub(crate) fn extend_command_audit(
        &mut self,
        code: u32,
        cp_hash: &[u8],
        response_params: &[u8],
    ) {
        if core::mem::take(&mut self.skip_command_audit) {
            return;
        }
        let alg = self.p.audit_alg;
        let mut rp = Hasher::new(alg);
        rp.update_u32(Rc::SUCCESS.0).update_u32(code).update(response_params);
        let rp = rp.finish();
        let old = match self.v.command_audit.take() {
            Some(d) => d,
            None => {
                let p = self.nv_mut();
                p.audit_counter = p.audit_counter.wrapping_add(1);
                alloc::vec![0u8; alg.size()]
            }
        };
        let mut h = Hasher::new(alg);
        h.update(&old).update(cp_hash).update(&rp);
        self.v.command_audit = Some(h.finish());
        self.dirty.volatile = true;
    }

    /// The cpHash of a command with the audit hash: H(commandCode ‖ names of the
    /// handles ‖ parameters as received).
    pub(crate) fn audit_cp_hash(&self, code: u32, handles: &[u32], params: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(self.p.audit_alg);
        h.update_u32(code);
        for &handle in handles {
            h.update(&self.entity_name(handle));
        }
        h.update(params);
        h.finish()
    }
}
