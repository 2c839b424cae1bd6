//! Enhanced authorization: the policy commands (TPM 2.0 Part 3 §23).
//!
//! Each command checks its assertion (unless the session is a trial session) and
//! extends the session's policyDigest the way Part 3 defines; the checks that
//! can only happen when the policy is used (command code, locality, cpHash, PCR
//! changes, expiry, written state) are recorded in the session and enforced by
//! the authorization layer.

use crate::commands::asym::verify_signature;
use crate::commands::nv::read_checks;
use crate::crypto::hash::Hasher;
use crate::crypto::{ct_eq, hash};
use crate::dispatch::Cmd;
use crate::object::Hierarchy;
use crate::session::{CpHashKind, Session, SessionKind};
use crate::types::{
    HashAlg, Marshal, PcrSelectionList, Rc, Reader, Signature, Ticket, TpmResult, cc, handle as h,
    limits, put_2b, st,
};
use crate::{Tpm2, pcr};
use alloc::vec::Vec;

/// The bit of a TPMT_TK_AUTH timeout that says "expires at the next TPM Reset"
/// (`EXPIRATION_BIT`).
const EXPIRATION_BIT: u64 = 1 << 63;

fn session_of(tpm: &mut Tpm2, handle: u32, n: usize) -> TpmResult<&mut Session> {
    tpm.session_mut(handle).filter(|s| s.is_policy()).ok_or(Rc::HANDLE.handle(n))
}

fn trial(s: &Session) -> bool {
    s.kind == SessionKind::Trial
}

/// `ComputeAuthTimeout`: the absolute expiry (in TPM Time) of an authorization
/// valid for `expiration` seconds (negative: same, with a ticket).
fn auth_timeout(s: &Session, time: u64, expiration: i32, nonce: &[u8]) -> u64 {
    if expiration == 0 {
        return 0;
    }
    let secs = u64::from(expiration.unsigned_abs());
    if nonce.is_empty() {
        secs.saturating_mul(1000).saturating_add(time % 1000)
    } else {
        s.start_time.saturating_add(secs.saturating_mul(1000))
    }
}

/// `PolicyParameterChecks`, with parameter numbers for the nonce, cpHash and
/// expiration.
fn parameter_checks(
    s: &Session,
    time: u64,
    epoch: u32,
    timeout: u64,
    cp_hash: &[u8],
    nonce: Option<&[u8]>,
    numbers: (usize, usize, usize),
) -> TpmResult<()> {
    if let Some(nonce) = nonce
        && !nonce.is_empty()
        && !ct_eq(nonce, &s.nonce_tpm)
    {
        return Err(Rc::NONCE.param(numbers.0));
    }
    if timeout != 0 && (timeout < time || s.epoch != epoch) {
        return Err(Rc::EXPIRED.param(numbers.2));
    }
    if !cp_hash.is_empty() {
        if cp_hash.len() != s.policy_digest.len() {
            return Err(Rc::SIZE.param(numbers.1));
        }
        if let Some((_, existing)) = &s.cp_hash
            && !ct_eq(existing, cp_hash)
        {
            return Err(Rc::CPHASH);
        }
    }
    Ok(())
}

/// `PolicyContextUpdate`.
fn context_update(
    s: &mut Session,
    code: u32,
    name: &[u8],
    policy_ref: &[u8],
    cp_hash: &[u8],
    timeout: u64,
) {
    s.policy_update(code, name, policy_ref);
    if !cp_hash.is_empty() {
        s.cp_hash = Some((CpHashKind::CpHash, cp_hash.to_vec()));
    }
    if timeout != 0 && (s.timeout == 0 || s.timeout > timeout) {
        s.timeout = timeout;
    }
}

impl Tpm2 {
    /// TPMT_TK_AUTH for PolicySigned/PolicySecret (`TicketComputeAuth`).
    #[allow(clippy::too_many_arguments, reason = "the ticket's fields, as Part 2 lists them")]
    fn auth_ticket(
        &self,
        tag: u16,
        hierarchy: Hierarchy,
        timeout: u64,
        expires_on_reset: bool,
        cp_hash: &[u8],
        policy_ref: &[u8],
        name: &[u8],
    ) -> Ticket {
        let mut t = timeout.to_be_bytes().to_vec();
        t.push(u8::from(expires_on_reset));
        self.ticket(tag, hierarchy, &[&t, cp_hash, policy_ref, name])
    }
}

/// The common tail of PolicySigned and PolicySecret: a ticket for negative
/// expirations.
#[allow(clippy::too_many_arguments)]
fn timeout_and_ticket(
    tpm: &Tpm2,
    cmd: &mut Cmd<'_>,
    tag: u16,
    hierarchy: Hierarchy,
    expiration: i32,
    timeout: u64,
    nonce: &[u8],
    cp_hash: &[u8],
    policy_ref: &[u8],
    name: &[u8],
    is_trial: bool,
) {
    if expiration < 0 && !is_trial {
        let expires_on_reset = nonce.is_empty();
        let timeout = timeout & !EXPIRATION_BIT;
        let ticket =
            tpm.auth_ticket(tag, hierarchy, timeout, expires_on_reset, cp_hash, policy_ref, name);
        let shown = if expires_on_reset { timeout | EXPIRATION_BIT } else { timeout };
        put_2b(&mut cmd.out, &shown.to_be_bytes());
        ticket.marshal(&mut cmd.out);
    } else {
        put_2b(&mut cmd.out, &[]);
        Ticket::null(tag).marshal(&mut cmd.out);
    }
}

/// TPM2_PolicySigned.
pub(crate) fn policy_signed(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let nonce = cmd.params.b2(limits::MAX_DIGEST)?;
    let cp_hash = cmd.params.b2(limits::MAX_DIGEST)?;
    let policy_ref = cmd.params.b2(limits::MAX_DIGEST)?;
    let expiration = cmd.params.next(|r| Ok(i32::from_be_bytes(r.array::<4>()?)))?;
    let auth = cmd.params.next(|r| Signature::unmarshal_opt(r, false))?;
    cmd.params.end()?;
    let (key_handle, session_handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let key = tpm.object(key_handle).ok_or(Rc::HANDLE.handle(1))?.clone();
    let (time, epoch) = (tpm.v.time, tpm.epoch());
    let s = session_of(tpm, session_handle, 2)?.clone();
    let timeout = if trial(&s) { 0 } else { auth_timeout(&s, time, expiration, &nonce) };
    if !trial(&s) {
        parameter_checks(&s, time, epoch, timeout, &cp_hash, Some(&nonce), (1, 2, 4))?;
        let sig_hash = match &auth {
            Signature::Rsa { hash, .. } | Signature::Ecdsa { hash, .. } => *hash,
            Signature::Hmac(ha) => ha.hash,
            Signature::Null => return Err(Rc::SCHEME.param(5)),
        };
        let mut hsh = Hasher::new(sig_hash);
        hsh.update(&nonce).update(&expiration.to_be_bytes()).update(&cp_hash).update(&policy_ref);
        let digest = hsh.finish();
        if !verify_signature(&key, &digest, &auth) {
            return Err(Rc::SIGNATURE.param(5));
        }
    }
    let name = tpm.entity_name(key_handle);
    let s = session_of(tpm, session_handle, 2)?;
    context_update(s, cc::POLICY_SIGNED, &name, &policy_ref, &cp_hash, timeout);
    let is_trial = trial(s);
    timeout_and_ticket(
        tpm,
        cmd,
        st::AUTH_SIGNED,
        key.hierarchy,
        expiration,
        timeout,
        &nonce,
        &cp_hash,
        &policy_ref,
        &name,
        is_trial,
    );
    Ok(())
}

/// TPM2_PolicySecret: the authorization of `authHandle` was checked by the
/// session layer.
pub(crate) fn policy_secret(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let nonce = cmd.params.b2(limits::MAX_DIGEST)?;
    let cp_hash = cmd.params.b2(limits::MAX_DIGEST)?;
    let policy_ref = cmd.params.b2(limits::MAX_DIGEST)?;
    let expiration = cmd.params.next(|r| Ok(i32::from_be_bytes(r.array::<4>()?)))?;
    cmd.params.end()?;
    let (auth_handle, session_handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let (time, epoch) = (tpm.v.time, tpm.epoch());
    let s = session_of(tpm, session_handle, 2)?.clone();
    let timeout = if trial(&s) { 0 } else { auth_timeout(&s, time, expiration, &nonce) };
    if !trial(&s) {
        parameter_checks(&s, time, epoch, timeout, &cp_hash, Some(&nonce), (1, 2, 4))?;
    }
    let name = tpm.entity_name(auth_handle);
    let hierarchy = tpm.entity_hierarchy(auth_handle);
    let pin_pass = tpm
        .p
        .nv
        .get(&auth_handle)
        .is_some_and(|i| i.public.nt() == crate::types::nv_attr::NT_PIN_PASS);
    let s = session_of(tpm, session_handle, 2)?;
    context_update(s, cc::POLICY_SECRET, &name, &policy_ref, &cp_hash, timeout);
    let no_ticket = trial(s) || pin_pass;
    timeout_and_ticket(
        tpm,
        cmd,
        st::AUTH_SECRET,
        hierarchy,
        expiration,
        timeout,
        &nonce,
        &cp_hash,
        &policy_ref,
        &name,
        no_ticket,
    );
    Ok(())
}

/// TPM2_PolicyTicket.
pub(crate) fn policy_ticket(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let timeout = cmd.params.b2(limits::MAX_TIMEOUT)?;
    let cp_hash = cmd.params.b2(limits::MAX_DIGEST)?;
    let policy_ref = cmd.params.b2(limits::MAX_DIGEST)?;
    let auth_name = cmd.params.b2(limits::MAX_NAME)?;
    let ticket =
        cmd.params.next(|r| Ticket::unmarshal_tagged(r, &[st::AUTH_SECRET, st::AUTH_SIGNED]))?;
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    let (time, epoch) = (tpm.v.time, tpm.epoch());
    let s = session_of(tpm, handle, 1)?.clone();
    if trial(&s) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let raw = <[u8; 8]>::try_from(timeout.as_slice()).map_err(|_| Rc::SIZE.param(1))?;
    let raw = u64::from_be_bytes(raw);
    let expires_on_reset = raw & EXPIRATION_BIT != 0;
    let auth_timeout = raw & !EXPIRATION_BIT;
    parameter_checks(&s, time, epoch, auth_timeout, &cp_hash, None, (0, 2, 1))?;
    let hierarchy = Hierarchy::from_handle(ticket.hierarchy).ok_or(Rc::TICKET.param(5))?;
    let expected = tpm.auth_ticket(
        ticket.tag,
        hierarchy,
        auth_timeout,
        expires_on_reset,
        &cp_hash,
        &policy_ref,
        &auth_name,
    );
    if ticket.hierarchy == h::NULL || !ct_eq(&expected.digest, &ticket.digest) {
        return Err(Rc::TICKET.param(5));
    }
    let code = if ticket.tag == st::AUTH_SIGNED { cc::POLICY_SIGNED } else { cc::POLICY_SECRET };
    let s = session_of(tpm, handle, 1)?;
    context_update(s, code, &auth_name, &policy_ref, &cp_hash, auth_timeout);
    Ok(())
}

/// TPM2_PolicyOR.
pub(crate) fn policy_or(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let list = cmd.params.next(|r| crate::types::DigestList::unmarshal_min(r, 2))?;
    cmd.params.end()?;
    let s = session_of(tpm, cmd.handle(0)?, 1)?;
    if !trial(s) && !list.0.iter().any(|d| ct_eq(d, &s.policy_digest)) {
        return Err(Rc::VALUE.param(1));
    }
    s.policy_digest = alloc::vec![0; s.hash.size()];
    let joined: Vec<u8> = list.0.concat();
    s.extend_policy(&[&cc::POLICY_OR.to_be_bytes(), &joined]);
    Ok(())
}

/// TPM2_PolicyPCR.
pub(crate) fn policy_pcr(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let given = cmd.params.b2(limits::MAX_DIGEST)?;
    let pcrs: PcrSelectionList = cmd.params.get()?;
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    let hash = session_of(tpm, handle, 1)?.hash;
    let mut filtered = pcrs.clone();
    for sel in filtered.0.iter_mut() {
        if !tpm.v.banks.iter().any(|b| b.alg == sel.hash) {
            sel.select.fill(0);
        }
    }
    let current = pcr::selection_digest(&tpm.v.banks, &filtered.0, hash);
    let counter = tpm.v.pcr_counter;
    let s = session_of(tpm, handle, 1)?;
    let digest = if trial(s) {
        if given.is_empty() { current } else { given }
    } else {
        if s.pcr_counter.is_some_and(|c| c != counter) {
            return Err(Rc::PCR_CHANGED);
        }
        if !given.is_empty() && !ct_eq(&given, &current) {
            return Err(Rc::VALUE.param(1));
        }
        current
    };
    s.extend_policy(&[&cc::POLICY_PCR.to_be_bytes(), &pcrs.to_bytes(), &digest]);
    if !trial(s) {
        s.pcr_counter = Some(counter);
    }
    Ok(())
}

/// TPM2_PolicyLocality.
pub(crate) fn policy_locality(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let locality = cmd.params.u8()?;
    cmd.params.end()?;
    let s = session_of(tpm, cmd.handle(0)?, 1)?;
    if locality == 0 {
        return Err(Rc::RANGE.param(1));
    }
    let prev = s.locality;
    if prev != 0 && ((prev < 32) != (locality < 32)) {
        return Err(Rc::RANGE.param(1));
    }
    let new = if locality < 32 {
        let combined = if prev == 0 { 0x1F } else { prev } & locality;
        if combined == 0 {
            return Err(Rc::RANGE.param(1));
        }
        combined
    } else {
        if prev != 0 && prev != locality {
            return Err(Rc::RANGE.param(1));
        }
        locality
    };
    s.extend_policy(&[&cc::POLICY_LOCALITY.to_be_bytes(), &[locality]]);
    s.locality = new;
    Ok(())
}

/// `PolicySptCheckCondition`: compares operand A (from the TPM) with B.
fn check_condition(operation: u16, a: &[u8], b: &[u8]) -> bool {
    use core::cmp::Ordering;
    let unsigned = || a.cmp(b);
    let signed = || {
        let neg = |x: &[u8]| x.first().is_some_and(|v| v & 0x80 != 0);
        match (neg(a), neg(b)) {
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => a.cmp(b),
        }
    };
    match operation {
        0 => a == b,
        1 => a != b,
        2 => signed() == Ordering::Greater,
        3 => unsigned() == Ordering::Greater,
        4 => signed() == Ordering::Less,
        5 => unsigned() == Ordering::Less,
        6 => signed() != Ordering::Less,
        7 => unsigned() != Ordering::Less,
        8 => signed() != Ordering::Greater,
        9 => unsigned() != Ordering::Greater,
        10 => a.iter().zip(b).all(|(x, y)| x & y == *y),
        11 => a.iter().zip(b).all(|(x, y)| x & y == 0),
        _ => false,
    }
}

fn get_operation(r: &mut Reader<'_>) -> TpmResult<u16> {
    let op = r.u16()?;
    if op <= 11 { Ok(op) } else { Err(Rc::VALUE) }
}

/// TPM2_PolicyNV.
pub(crate) fn policy_nv(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let operand = cmd.params.b2(limits::MAX_OPERAND)?;
    let offset = cmd.params.u16()?;
    let operation = cmd.params.next(get_operation)?;
    cmd.params.end()?;
    let (auth, index, handle) = (cmd.handle(0)?, cmd.handle(1)?, cmd.handle(2)?);
    let is_trial = trial(session_of(tpm, handle, 3)?);
    if !is_trial {
        let nv = tpm.p.nv.get(&index).ok_or(Rc::HANDLE.handle(2))?;
        read_checks(auth, index, nv.public.attributes)?;
        let (offset, size) = (usize::from(offset), usize::from(nv.public.data_size));
        if offset > size {
            return Err(Rc::VALUE.param(2));
        }
        if size - offset < operand.len() {
            return Err(Rc::SIZE.param(1));
        }
        let a = crate::commands::nv::data_range(nv, offset, operand.len());
        if !check_condition(operation, &a, &operand) {
            return Err(Rc::POLICY);
        }
    }
    let name = tpm.entity_name(index);
    let s = session_of(tpm, handle, 3)?;
    let args =
        hash::digest_parts(s.hash, &[&operand, &offset.to_be_bytes(), &operation.to_be_bytes()]);
    s.extend_policy(&[&cc::POLICY_NV.to_be_bytes(), &args, &name]);
    Ok(())
}

/// TPM2_PolicyCounterTimer.
pub(crate) fn policy_counter_timer(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let operand = cmd.params.b2(limits::MAX_OPERAND)?;
    let offset = cmd.params.u16()?;
    let operation = cmd.params.next(get_operation)?;
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    let info = tpm.time_info().to_bytes();
    let s = session_of(tpm, handle, 1)?;
    if !trial(s) {
        let offset = usize::from(offset);
        if offset.saturating_add(operand.len()) > info.len() {
            return Err(Rc::RANGE.param(2));
        }
        let a = info.get(offset..offset + operand.len()).unwrap_or_default();
        if !check_condition(operation, a, &operand) {
            return Err(Rc::POLICY);
        }
    }
    let args =
        hash::digest_parts(s.hash, &[&operand, &offset.to_be_bytes(), &operation.to_be_bytes()]);
    s.extend_policy(&[&cc::POLICY_COUNTER_TIMER.to_be_bytes(), &args]);
    Ok(())
}

/// TPM2_PolicyCommandCode.
pub(crate) fn policy_command_code(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let code = cmd.params.u32()?;
    cmd.params.end()?;
    let s = session_of(tpm, cmd.handle(0)?, 1)?;
    if s.command_code.is_some_and(|c| c != code) {
        return Err(Rc::VALUE.param(1));
    }
    if crate::commands::lookup(code).is_none() {
        return Err(Rc::POLICY_CC.param(1));
    }
    s.extend_policy(&[&cc::POLICY_COMMAND_CODE.to_be_bytes(), &code.to_be_bytes()]);
    s.command_code = Some(code);
    Ok(())
}

/// TPM2_PolicyPhysicalPresence.
pub(crate) fn policy_physical_presence(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let s = session_of(tpm, cmd.handle(0)?, 1)?;
    s.extend_policy(&[&cc::POLICY_PHYSICAL_PRESENCE.to_be_bytes()]);
    s.pp_required = true;
    Ok(())
}

/// TPM2_PolicyCpHash, TPM2_PolicyNameHash and TPM2_PolicyTemplate share this.
fn set_cp_hash(tpm: &mut Tpm2, cmd: &mut Cmd<'_>, code: u32, kind: CpHashKind) -> TpmResult<()> {
    let digest = cmd.params.b2(limits::MAX_DIGEST)?;
    cmd.params.end()?;
    let s = session_of(tpm, cmd.handle(0)?, 1)?;
    if digest.len() != s.hash.size() {
        return Err(Rc::SIZE.param(1));
    }
    match &s.cp_hash {
        Some((k, d)) if *k != kind || !ct_eq(d, &digest) || kind != CpHashKind::CpHash => {
            return Err(Rc::CPHASH);
        }
        _ => {}
    }
    s.extend_policy(&[&code.to_be_bytes(), &digest]);
    s.cp_hash = Some((kind, digest));
    Ok(())
}

/// TPM2_PolicyCpHash.
pub(crate) fn policy_cp_hash(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    set_cp_hash(tpm, cmd, cc::POLICY_CP_HASH, CpHashKind::CpHash)
}

/// TPM2_PolicyNameHash.
pub(crate) fn policy_name_hash(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    set_cp_hash(tpm, cmd, cc::POLICY_NAME_HASH, CpHashKind::NameHash)
}

/// TPM2_PolicyTemplate.
pub(crate) fn policy_template(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    set_cp_hash(tpm, cmd, cc::POLICY_TEMPLATE, CpHashKind::Template)
}

/// TPM2_PolicyDuplicationSelect.
pub(crate) fn policy_duplication_select(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let object_name = cmd.params.b2(limits::MAX_NAME)?;
    let parent_name = cmd.params.b2(limits::MAX_NAME)?;
    let include = cmd.params.yes_no()?;
    cmd.params.end()?;
    let s = session_of(tpm, cmd.handle(0)?, 1)?;
    if s.cp_hash.is_some() {
        return Err(Rc::CPHASH);
    }
    if s.command_code.is_some() {
        return Err(Rc::COMMAND_CODE);
    }
    let name_hash = hash::digest_parts(s.hash, &[&object_name, &parent_name]);
    let object_part: &[u8] = if include { &object_name } else { &[] };
    s.extend_policy(&[
        &cc::POLICY_DUPLICATION_SELECT.to_be_bytes(),
        object_part,
        &parent_name,
        &[u8::from(include)],
    ]);
    s.cp_hash = Some((CpHashKind::NameHash, name_hash));
    s.command_code = Some(cc::DUPLICATE);
    Ok(())
}

/// TPM2_PolicyAuthorize.
pub(crate) fn policy_authorize(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let approved = cmd.params.b2(limits::MAX_DIGEST)?;
    let policy_ref = cmd.params.b2(limits::MAX_DIGEST)?;
    let key_sign = cmd.params.b2(limits::MAX_NAME)?;
    let ticket = cmd.params.next(|r| Ticket::unmarshal_tagged(r, &[st::VERIFIED]))?;
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    let alg_id = key_sign.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let alg = HashAlg::from_id(alg_id).ok_or(Rc::HASH.param(3))?;
    if key_sign.len() != alg.size() + 2 {
        return Err(Rc::SIZE.param(3));
    }
    let s = session_of(tpm, handle, 1)?.clone();
    if !trial(&s) {
        if !ct_eq(&s.policy_digest, &approved) {
            return Err(Rc::VALUE.param(1));
        }
        let a_hash = hash::digest_parts(alg, &[&approved, &policy_ref]);
        let hierarchy = Hierarchy::from_handle(ticket.hierarchy).ok_or(Rc::VALUE.param(4))?;
        let expected = tpm.ticket(st::VERIFIED, hierarchy, &[&a_hash, &key_sign]);
        if ticket.hierarchy == h::NULL || !ct_eq(&expected.digest, &ticket.digest) {
            return Err(Rc::VALUE.param(4));
        }
    }
    let s = session_of(tpm, handle, 1)?;
    s.policy_digest = alloc::vec![0; s.hash.size()];
    s.policy_update(cc::POLICY_AUTHORIZE, &key_sign, &policy_ref);
    Ok(())
}

/// TPM2_PolicyAuthValue.
pub(crate) fn policy_auth_value(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let s = session_of(tpm, cmd.handle(0)?, 1)?;
    s.extend_policy(&[&cc::POLICY_AUTH_VALUE.to_be_bytes()]);
    s.auth_value_needed = true;
    s.password_needed = false;
    Ok(())
}

/// TPM2_PolicyPassword: the digest is the one TPM2_PolicyAuthValue gives (Part 3
/// §23.18), only the way the authValue is presented differs.
pub(crate) fn policy_password(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let s = session_of(tpm, cmd.handle(0)?, 1)?;
    s.extend_policy(&[&cc::POLICY_AUTH_VALUE.to_be_bytes()]);
    s.password_needed = true;
    s.auth_value_needed = false;
    Ok(())
}

/// TPM2_PolicyGetDigest.
pub(crate) fn policy_get_digest(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let s = session_of(tpm, cmd.handle(0)?, 1)?;
    let digest = s.policy_digest.clone();
    put_2b(&mut cmd.out, &digest);
    Ok(())
}

/// TPM2_PolicyNvWritten.
pub(crate) fn policy_nv_written(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let written = cmd.params.yes_no()?;
    cmd.params.end()?;
    let s = session_of(tpm, cmd.handle(0)?, 1)?;
    if s.nv_written.is_some_and(|w| w != written) {
        return Err(Rc::VALUE.param(1));
    }
    s.extend_policy(&[&cc::POLICY_NV_WRITTEN.to_be_bytes(), &[u8::from(written)]]);
    s.nv_written = Some(written);
    Ok(())
}

/// TPM2_PolicyAuthorizeNV: the current policy digest must equal the TPMT_HA an NV
/// index holds; the digest is then replaced by one naming the index.
pub(crate) fn policy_authorize_nv(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    cmd.params.end()?;
    let (auth, index, handle) = (cmd.handle(0)?, cmd.handle(1)?, cmd.handle(2)?);
    let s = session_of(tpm, handle, 3)?;
    let (is_trial, session_hash, current) = (trial(s), s.hash, s.policy_digest.clone());
    if !is_trial {
        let nv = tpm.p.nv.get(&index).ok_or(Rc::HANDLE.handle(2))?;
        read_checks(auth, index, nv.public.attributes)?;
        let size = usize::from(nv.public.data_size).min(2 + limits::MAX_DIGEST);
        let contents = crate::commands::nv::data_range(nv, 0, size);
        let mut r = Reader::new(&contents);
        let alg = r.u16().map_err(|_| Rc::INSUFFICIENT)?;
        let alg = HashAlg::from_id(alg).ok_or(Rc::HASH)?;
        let digest = r.bytes(alg.size()).map_err(|_| Rc::INSUFFICIENT)?;
        if alg != session_hash {
            return Err(Rc::HASH);
        }
        if !ct_eq(digest, &current) {
            return Err(Rc::VALUE);
        }
    }
    let name = tpm.entity_name(index);
    let s = session_of(tpm, handle, 3)?;
    s.policy_digest = alloc::vec![0; s.hash.size()];
    s.extend_policy(&[&cc::POLICY_AUTHORIZE_NV.to_be_bytes(), &name]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        assert!(check_condition(0, &[1, 2], &[1, 2]));
        assert!(check_condition(3, &[0x80], &[0x01]));
        assert!(!check_condition(2, &[0x80], &[0x01]));
        assert!(check_condition(4, &[0xFF], &[0x00]));
        assert!(check_condition(10, &[0xF0], &[0x30]));
        assert!(check_condition(11, &[0xF0], &[0x0F]));
        assert!(!check_condition(12, &[0], &[0]));
    }
}
