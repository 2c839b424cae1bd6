//! The authorization layer: parsing and checking a command's session area,
//! dictionary-attack logic, parameter encryption, audit, and the response's session
//! area (TPM 2.0 Part 1 §19, Part 3 §5.4–5.8; the check order follows the reference
//! implementation's SessionProcess.c so that error codes match).

use crate::Tpm2;
use crate::crypto::hash::Hasher;
use crate::crypto::{ct_eq, trim_trailing_zeros};
use crate::dispatch::{AuthRole, CommandSpec, flags};
use crate::object::Slot;
use crate::session::{self, CpHashKind, Session, SessionKind, SessionSlot};
use crate::state::Orderly;
use crate::types::{
    HashAlg, Rc, Reader, TpmResult, Writer, cc, get_2b, handle as h, limits, nv_attr, object_attr,
    put_2b, session_attr as sa,
};
use alloc::vec::Vec;

/// One session of a command's authorization area.
#[derive(Debug, Clone)]
pub struct SessionUse {
    /// The session handle (TPM_RS_PW for a password).
    pub handle: u32,
    /// nonceCaller.
    pub nonce_caller: Vec<u8>,
    /// sessionAttributes as sent (the response may set auditExclusive).
    pub attrs: u8,
    /// The HMAC or password.
    pub hmac: crate::Secret,
    /// The handle this session authorizes, if any.
    pub associated: Option<u32>,
    /// The authValue of the associated entity before the command ran.
    pub auth_before: crate::Secret,
    /// The HMAC key includes the entity's authValue.
    pub include_auth: bool,
}

/// The parsed and checked authorization area of one command.
#[derive(Debug, Default)]
pub struct AuthArea {
    /// The sessions, in order.
    pub uses: Vec<SessionUse>,
    /// Index of the decrypt session.
    pub decrypt: Option<usize>,
    /// Index of the encrypt session.
    pub encrypt: Option<usize>,
    /// Index of the audit session.
    pub audit: Option<usize>,
    /// cpHashes computed so far, per hash.
    cp_hashes: Vec<(HashAlg, Vec<u8>)>,
    /// Names of the command's handles, as they were before the command.
    names: Vec<Vec<u8>>,
}

impl AuthArea {
    /// Forgets the association with `handle` (its entity was deleted by the
    /// command): the response uses an empty authValue for it.
    pub fn dissociate(&mut self, handle: u32) {
        for u in self.uses.iter_mut() {
            if u.associated == Some(handle) {
                u.associated = Some(h::NULL);
                u.auth_before = crate::Secret::default();
            }
        }
    }

    fn cp_hash(&mut self, alg: HashAlg, code: u32, params: &[u8]) -> Vec<u8> {
        if let Some((_, d)) = self.cp_hashes.iter().find(|(a, _)| *a == alg) {
            return d.clone();
        }
        let mut hsh = Hasher::new(alg);
        hsh.update_u32(code);
        for n in &self.names {
            hsh.update(n);
        }
        hsh.update(params);
        let d = hsh.finish();
        self.cp_hashes.push((alg, d.clone()));
        d
    }
}

/// Commands that write an NV index (`IsWriteOperation`).
fn is_nv_write(code: u32) -> bool {
    matches!(
        code,
        cc::NV_WRITE | cc::NV_INCREMENT | cc::NV_SET_BITS | cc::NV_EXTEND | cc::NV_WRITE_LOCK
    )
}

impl Tpm2 {
    /// Parses and checks the session area (`ParseSessionBuffer`).
    pub(crate) fn parse_sessions(
        &mut self,
        spec: &CommandSpec,
        code: u32,
        handles: &[u32],
        auth_bytes: &[u8],
        params: &[u8],
    ) -> TpmResult<AuthArea> {
        let mut area = AuthArea {
            names: handles.iter().map(|&hd| self.entity_name(hd)).collect(),
            ..AuthArea::default()
        };
        self.retrieve_sessions(spec, auth_bytes, &mut area)?;

        for (i, _) in handles.iter().enumerate() {
            if spec.role(i) != AuthRole::None {
                let u = area.uses.get_mut(i).ok_or(Rc::AUTH_MISSING)?;
                u.associated = handles.get(i).copied();
            }
        }
        for i in 0..area.uses.len() {
            let n = i + 1;
            let (handle, attrs, associated) = match area.uses.get(i) {
                Some(u) => (u.handle, u.attrs, u.associated),
                None => break,
            };
            if let Some(a) = associated {
                let auth = crate::Secret::new(self.entity_auth(a));
                if let Some(u) = area.uses.get_mut(i) {
                    u.auth_before = auth;
                }
            }
            if handle == h::PW {
                if associated.is_none() {
                    return Err(Rc::HANDLE.session(n));
                }
            } else {
                let s = self.session(handle).ok_or(Rc::REFERENCE_S0)?;
                if s.kind == SessionKind::Trial {
                    return Err(Rc::ATTRIBUTES.session(n));
                }
                let (da_bound, lockout, hash) = (s.da_bound, s.lockout_bound, s.hash);
                if da_bound {
                    self.check_locked_out(lockout)?;
                }
                if attrs & sa::AUDIT != 0 {
                    area.cp_hash(hash, code, params);
                }
            }
            match associated {
                Some(a) => {
                    self.check_auth_session(spec, code, &mut area, i, a, params)
                        .map_err(|rc| rc.session(n))?;
                }
                None => {
                    if attrs & (sa::AUDIT | sa::ENCRYPT | sa::DECRYPT) == 0 {
                        return Err(Rc::ATTRIBUTES.session(n));
                    }
                    if let Some(u) = area.uses.get_mut(i) {
                        u.include_auth = false;
                    }
                    self.check_session_hmac(code, &mut area, i, params)
                        .map_err(|rc| rc.session(n))?;
                }
            }
        }
        Ok(area)
    }

    /// Unmarshals the sessions and checks their attributes (`RetrieveSessionData`).
    fn retrieve_sessions(
        &self,
        spec: &CommandSpec,
        auth_bytes: &[u8],
        area: &mut AuthArea,
    ) -> TpmResult<()> {
        let mut r = Reader::new(auth_bytes);
        let mut i = 0usize;
        while !r.is_empty() {
            let n = i + 1;
            if i == limits::MAX_SESSIONS {
                return Err(Rc::SIZE.session(n));
            }
            let handle = r.u32().map_err(|e| Rc::from(e).session(n))?;
            let is_session = matches!(h::kind(handle), h::HT_HMAC_SESSION | h::HT_POLICY_SESSION);
            if !is_session && handle != h::PW {
                return Err(Rc::VALUE.session(n));
            }
            let nonce = get_2b(&mut r, limits::MAX_DIGEST).map_err(|e| e.session(n))?.to_vec();
            let attrs = r.u8().map_err(|e| Rc::from(e).session(n))?;
            if attrs & sa::RESERVED != 0 {
                return Err(Rc::RESERVED_BITS.session(n));
            }
            let hmac = get_2b(&mut r, limits::MAX_DIGEST).map_err(|e| e.session(n))?.to_vec();
            let use_ = SessionUse {
                handle,
                nonce_caller: nonce,
                attrs,
                hmac: crate::Secret::new(hmac),
                associated: None,
                auth_before: crate::Secret::default(),
                include_auth: true,
            };
            if handle == h::PW {
                let forbidden =
                    sa::ENCRYPT | sa::DECRYPT | sa::AUDIT | sa::AUDIT_EXCLUSIVE | sa::AUDIT_RESET;
                if attrs & forbidden != 0 {
                    return Err(Rc::ATTRIBUTES.session(n));
                }
                if !use_.nonce_caller.is_empty() {
                    return Err(Rc::NONCE.session(n));
                }
                area.uses.push(use_);
                i += 1;
                continue;
            }
            let Some(s) = self.session(handle) else {
                // Not loaded, or a session of the other type under this handle.
                let loaded = crate::entity::session_slot(handle)
                    .and_then(|k| self.v.sessions.get(k))
                    .is_some_and(|slot| matches!(slot, Some(SessionSlot::Loaded(_))));
                return Err(if loaded {
                    Rc::HANDLE.session(n)
                } else {
                    Rc(Rc::REFERENCE_S0.0 + u32::try_from(i).unwrap_or(0))
                });
            };
            if area.uses.iter().any(|u| u.handle == handle) {
                return Err(Rc::HANDLE.session(n));
            }
            if attrs & sa::DECRYPT != 0 {
                if !spec.has(flags::DECRYPT) || area.decrypt.is_some() {
                    return Err(Rc::ATTRIBUTES.session(n));
                }
                if s.symmetric.is_null() {
                    return Err(Rc::SYMMETRIC.session(n));
                }
                area.decrypt = Some(i);
            }
            if attrs & sa::ENCRYPT != 0 {
                if !spec.has(flags::ENCRYPT) || area.encrypt.is_some() {
                    return Err(Rc::ATTRIBUTES.session(n));
                }
                if s.symmetric.is_null() {
                    return Err(Rc::SYMMETRIC.session(n));
                }
                area.encrypt = Some(i);
            }
            if attrs & sa::AUDIT != 0 {
                if area.audit.is_some() || s.is_policy() {
                    return Err(Rc::ATTRIBUTES.session(n));
                }
                if attrs & sa::AUDIT_RESET == 0
                    && s.audit.is_some()
                    && attrs & sa::AUDIT_EXCLUSIVE != 0
                    && self.v.exclusive_audit != Some(handle)
                {
                    return Err(Rc::EXCLUSIVE);
                }
                area.audit = Some(i);
            }
            area.uses.push(use_);
            i += 1;
        }
        Ok(())
    }

    /// `CheckLockedOut`: refuses DA-protected authorizations in lockout. The first
    /// one after Startup also records "DA used" in NV and asks the caller to retry
    /// (`USE_DA_USED`), so that a later non-orderly shutdown counts as a failure.
    pub(crate) fn check_locked_out(&mut self, lockout_auth: bool) -> TpmResult<()> {
        if lockout_auth {
            if !self.p.da.lockout_auth_enabled {
                return Err(Rc::LOCKOUT);
            }
        } else {
            if self.p.da.failed_tries >= self.p.da.max_tries {
                return Err(Rc::LOCKOUT);
            }
            if !self.v.da_used {
                self.v.da_used = true;
                self.nv_mut().orderly = Orderly::DaUsed;
                self.saved = None;
                return Err(Rc::RETRY);
            }
        }
        Ok(())
    }

    /// `IncrementLockout`: a failed authorization; counts it unless the entity is
    /// exempt. Returns TPM_RC_AUTH_FAIL if counted, TPM_RC_BAD_AUTH if not.
    fn increment_lockout(&mut self, area: &AuthArea, i: usize) -> Rc {
        let Some(u) = area.uses.get(i) else { return Rc::BAD_AUTH };
        let mut entity = u.associated.unwrap_or(h::NULL);
        if u.handle == h::PW {
            if self.da_exempt(entity) {
                return Rc::BAD_AUTH;
            }
        } else {
            let (lockout_bound, da_bound) =
                self.session(u.handle).map_or((false, false), |s| (s.lockout_bound, s.da_bound));
            if lockout_bound {
                entity = h::LOCKOUT;
            }
            if !da_bound && (self.da_exempt(entity) || !u.include_auth) {
                return Rc::BAD_AUTH;
            }
        }
        let time = self.v.time;
        if entity == h::LOCKOUT {
            self.nv_mut().da.lockout_auth_enabled = false;
            self.v.lockout_timer = time;
        } else {
            if self.p.da.recovery_time != 0 {
                let da = &mut self.nv_mut().da;
                da.failed_tries = da.failed_tries.saturating_add(1);
            }
            self.v.self_heal_timer = time;
        }
        Rc::AUTH_FAIL
    }

    /// `DASelfHeal`: forgets failures as recoveryTime passes, re-enables
    /// lockoutAuth after lockoutRecovery.
    pub(crate) fn da_self_heal(&mut self) {
        let time = self.v.time;
        let da = self.p.da;
        if da.failed_tries != 0 {
            if da.recovery_time == 0 {
                self.nv_mut().da.failed_tries = 0;
            } else {
                let elapsed = time.saturating_sub(self.v.self_heal_timer) / 1000;
                let decrease = elapsed / u64::from(da.recovery_time);
                if decrease != 0 {
                    let left = u64::from(da.failed_tries).saturating_sub(decrease);
                    self.nv_mut().da.failed_tries = u32::try_from(left).unwrap_or(0);
                    self.v.self_heal_timer = self.v.self_heal_timer.saturating_add(
                        decrease.saturating_mul(u64::from(da.recovery_time)).saturating_mul(1000),
                    );
                }
            }
        }
        if !da.lockout_auth_enabled
            && da.lockout_recovery != 0
            && time.saturating_sub(self.v.lockout_timer) / 1000 >= u64::from(da.lockout_recovery)
        {
            self.nv_mut().da.lockout_auth_enabled = true;
        }
    }

    /// `IsPolicySessionRequired`.
    fn policy_required(&self, spec: &CommandSpec, i: usize, entity: u32) -> bool {
        match spec.role(i) {
            AuthRole::Dup => true,
            AuthRole::Admin => match h::kind(entity) {
                h::HT_TRANSIENT | h::HT_PERSISTENT => {
                    self.object(entity).is_some_and(|o| o.has(object_attr::ADMIN_WITH_POLICY))
                }
                _ => true,
            },
            _ => h::kind(entity) == h::HT_PCR && self.entity_policy(entity).alg.is_some(),
        }
    }

    /// `IsAuthValueAvailable`.
    fn auth_value_available(&self, spec: &CommandSpec, code: u32, i: usize, entity: u32) -> bool {
        match h::kind(entity) {
            h::HT_PERMANENT => {
                matches!(entity, h::OWNER | h::ENDORSEMENT | h::PLATFORM | h::LOCKOUT | h::NULL)
            }
            h::HT_TRANSIENT | h::HT_PERSISTENT => {
                if self.sequence(entity).is_some() {
                    return true;
                }
                match self.object(entity) {
                    Some(o) => {
                        !o.public_only()
                            && (o.has(object_attr::USER_WITH_AUTH)
                                || (spec.role(i) == AuthRole::Admin
                                    && !o.has(object_attr::ADMIN_WITH_POLICY)))
                    }
                    None => false,
                }
            }
            h::HT_NV_INDEX => match self.p.nv.get(&entity) {
                Some(index) => {
                    let a = &index.public;
                    if is_nv_write(code) {
                        a.has(nv_attr::AUTHWRITE)
                    } else if matches!(a.nt(), nv_attr::NT_PIN_FAIL | nv_attr::NT_PIN_PASS) {
                        a.has(nv_attr::WRITTEN) && crate::commands::nv::pin_available(index)
                    } else {
                        a.has(nv_attr::AUTHREAD)
                    }
                }
                None => false,
            },
            h::HT_PCR => true,
            _ => false,
        }
    }

    /// `IsAuthPolicyAvailable`.
    fn auth_policy_available(&self, spec: &CommandSpec, code: u32, i: usize, entity: u32) -> bool {
        match h::kind(entity) {
            h::HT_PERMANENT => match entity {
                h::OWNER | h::ENDORSEMENT | h::PLATFORM | h::LOCKOUT => {
                    !self.entity_policy(entity).digest.is_empty()
                }
                _ => false,
            },
            h::HT_TRANSIENT | h::HT_PERSISTENT => {
                self.object(entity).is_some_and(|o| !o.public_only())
            }
            h::HT_NV_INDEX => match self.p.nv.get(&entity) {
                Some(index) if !index.public.auth_policy.is_empty() => {
                    if self.policy_required(spec, i, entity) {
                        true
                    } else if is_nv_write(code) {
                        index.public.has(nv_attr::POLICYWRITE)
                    } else {
                        index.public.has(nv_attr::POLICYREAD)
                    }
                }
                _ => false,
            },
            h::HT_PCR => self.entity_policy(entity).alg.is_some(),
            _ => false,
        }
    }

    /// `CheckAuthSession`: one session authorizing one handle.
    fn check_auth_session(
        &mut self,
        spec: &CommandSpec,
        code: u32,
        area: &mut AuthArea,
        i: usize,
        entity: u32,
        params: &[u8],
    ) -> TpmResult<()> {
        let handle = area.uses.get(i).map_or(h::PW, |u| u.handle);
        let is_policy = h::kind(handle) == h::HT_POLICY_SESSION;
        let auth_used = if handle == h::PW {
            true
        } else {
            let include = match self.session(handle) {
                Some(s) if s.is_policy() => s.auth_value_needed || s.password_needed,
                Some(s) => !self.is_bind_entity(s, entity),
                None => return Err(Rc::FAILURE),
            };
            if let Some(u) = area.uses.get_mut(i) {
                u.include_auth = include;
            }
            include
        };
        if auth_used && !self.da_exempt(entity) {
            self.check_locked_out(entity == h::LOCKOUT)?;
        }
        if !is_policy {
            if self.policy_required(spec, i, entity) {
                return Err(Rc::AUTH_TYPE);
            }
            if !self.auth_value_available(spec, code, i, entity) {
                return Err(Rc::AUTH_UNAVAILABLE);
            }
        } else {
            if !self.auth_policy_available(spec, code, i, entity) {
                return Err(Rc::AUTH_UNAVAILABLE);
            }
            self.check_policy_session(spec, code, area, i, entity, params)?;
        }
        let password = handle == h::PW || self.session(handle).is_some_and(|s| s.password_needed);
        let result = if password {
            let expected = self.entity_auth(entity);
            let given = area.uses.get(i).map_or(&[][..], |u| trim_trailing_zeros(&u.hmac));
            if ct_eq(given, &expected) { Ok(()) } else { Err(self.increment_lockout(area, i)) }
        } else {
            self.check_session_hmac(code, area, i, params)
        };
        if auth_used && h::kind(entity) == h::HT_NV_INDEX {
            self.update_pin_index(entity, result.is_ok());
        }
        result
    }

    /// True if an HMAC session is bound to `entity` with its current authValue.
    fn is_bind_entity(&self, s: &Session, entity: u32) -> bool {
        s.bound.as_ref().is_some_and(|b| ct_eq(b, &self.bind_value(entity)))
    }

    /// The binding value of an entity: a digest of its Name and authValue, so that
    /// a changed authValue ends the binding (Part 1 §19.6.10).
    pub(crate) fn bind_value(&self, entity: u32) -> Vec<u8> {
        crate::crypto::hash::digest_parts(
            HashAlg::Sha256,
            &[b"BIND", &self.entity_name(entity), &self.entity_auth(entity)],
        )
    }

    /// `CheckPolicyAuthSession`.
    fn check_policy_session(
        &mut self,
        spec: &CommandSpec,
        code: u32,
        area: &mut AuthArea,
        i: usize,
        entity: u32,
        params: &[u8],
    ) -> TpmResult<()> {
        let handle = area.uses.get(i).map_or(h::PW, |u| u.handle);
        let s = self.session(handle).ok_or(Rc::FAILURE)?.clone();
        if code == cc::POLICY_SECRET && !s.password_needed && !s.auth_value_needed {
            return Err(Rc::MODE);
        }
        if s.pcr_counter.is_some_and(|c| c != self.v.pcr_counter) {
            return Err(Rc::PCR_CHANGED);
        }
        let policy = self.entity_policy(entity);
        if !ct_eq(&s.policy_digest, &policy.digest) || policy.alg != Some(s.hash) {
            return Err(Rc::POLICY_FAIL);
        }
        if s.timeout != 0 && (s.timeout < self.v.time || s.epoch != self.epoch()) {
            return Err(Rc::EXPIRED);
        }
        match s.command_code {
            Some(c) if c != code => return Err(Rc::POLICY_CC),
            Some(_) => {}
            None => {
                if matches!(spec.role(i), AuthRole::Admin | AuthRole::Dup) {
                    return Err(Rc::POLICY_FAIL);
                }
            }
        }
        if s.locality != 0 {
            let loc = self.locality;
            let ok = if loc < 5 {
                s.locality & (1 << loc) != 0 && s.locality <= 31
            } else if loc > 31 {
                s.locality == loc
            } else {
                false
            };
            if !ok {
                return Err(Rc::LOCALITY);
            }
        }
        if s.pp_required {
            // No physical-presence signal reaches a virtual TPM.
            return Err(Rc::PP);
        }
        if let Some((kind, digest)) = &s.cp_hash {
            let ok = match kind {
                CpHashKind::CpHash => ct_eq(digest, &area.cp_hash(s.hash, code, params)),
                CpHashKind::NameHash => {
                    let mut hsh = Hasher::new(s.hash);
                    for n in &area.names {
                        hsh.update(n);
                    }
                    ct_eq(digest, &hsh.finish())
                }
                CpHashKind::Template => template_hash_matches(code, s.hash, params, digest),
            };
            if !ok {
                return Err(Rc::POLICY_FAIL);
            }
        }
        if let Some(written) = s.nv_written {
            let index = self.p.nv.get(&entity).ok_or(Rc::POLICY_FAIL)?;
            if index.public.has(nv_attr::WRITTEN) != written {
                return Err(Rc::POLICY_FAIL);
            }
        }
        Ok(())
    }

    /// `CheckSessionHMAC` / `ComputeCommandHMAC`.
    fn check_session_hmac(
        &mut self,
        code: u32,
        area: &mut AuthArea,
        i: usize,
        params: &[u8],
    ) -> TpmResult<()> {
        let u = area.uses.get(i).ok_or(Rc::FAILURE)?.clone();
        let s = self.session(u.handle).ok_or(Rc::FAILURE)?;
        let (hash, nonce_tpm) = (s.hash, s.nonce_tpm.clone());
        let entity_auth = match (u.include_auth, u.associated) {
            (true, Some(a)) => Some(self.entity_auth(a)),
            _ => None,
        };
        let key = s.hmac_key(entity_auth.as_deref());
        // The first session's HMAC also covers the nonces of separate decrypt and
        // encrypt sessions (Part 1 §19.6.5).
        let mut extra: Vec<Vec<u8>> = Vec::new();
        if i == 0 && u.associated.is_some() {
            if let Some(d) = area.decrypt.filter(|&d| d != i)
                && let Some(ds) = area.uses.get(d).and_then(|du| self.session(du.handle))
            {
                extra.push(ds.nonce_tpm.clone());
            }
            if let Some(e) = area.encrypt.filter(|&e| e != i && Some(e) != area.decrypt)
                && let Some(es) = area.uses.get(e).and_then(|eu| self.session(eu.handle))
            {
                extra.push(es.nonce_tpm.clone());
            }
        }
        let expected = if key.is_empty() && u.hmac.is_empty() {
            Vec::new()
        } else {
            let cp = area.cp_hash(hash, code, params);
            let extra_refs: Vec<&[u8]> = extra.iter().map(Vec::as_slice).collect();
            session::command_hmac(
                hash,
                &key,
                &cp,
                &u.nonce_caller,
                &nonce_tpm,
                &extra_refs,
                u.attrs,
            )
        };
        if ct_eq(&u.hmac, &expected) { Ok(()) } else { Err(self.increment_lockout(area, i)) }
    }

    /// Decrypts the first parameter with the decrypt session, if any.
    pub(crate) fn decrypt_parameters(&self, area: &AuthArea, params: &mut [u8]) -> TpmResult<()> {
        let Some(i) = area.decrypt else { return Ok(()) };
        let n = i + 1;
        let u = area.uses.get(i).ok_or(Rc::FAILURE)?;
        let s = self.session(u.handle).ok_or(Rc::FAILURE)?;
        let size = match params {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => return Err(Rc::SIZE.session(n)),
        };
        if size > params.len().saturating_sub(2) {
            return Err(Rc::SIZE.session(n));
        }
        let auth = u.associated.map(|a| self.entity_auth(a));
        let data = params.get_mut(2..2 + size).ok_or(Rc::SIZE.session(n))?;
        s.crypt_parameter(auth.as_deref(), &u.nonce_caller, &s.nonce_tpm, true, data)
            .map_err(|rc| rc.session(n))
    }

    /// Builds the response's session area (`BuildResponseSession`): new nonces,
    /// response parameter encryption, audit, response HMACs, and flushing of
    /// sessions without continueSession.
    pub(crate) fn finish_sessions(
        &mut self,
        area: &mut AuthArea,
        spec: &CommandSpec,
        code: u32,
        out: &mut [u8],
    ) -> TpmResult<Vec<u8>> {
        // New nonceTPM for every session.
        for k in 0..area.uses.len() {
            let handle = area.uses.get(k).map_or(h::PW, |u| u.handle);
            if handle == h::PW {
                continue;
            }
            let size = self.session(handle).map_or(0, |s| s.nonce_tpm.len());
            let nonce = self.random(size);
            if let Some(s) = self.session_mut(handle) {
                s.nonce_tpm = nonce;
            }
        }
        // The authValue a session's keys use after the command: the entity's
        // current one, or the one it had if the command removed it.
        let auth_after = |tpm: &Tpm2, u: &SessionUse| -> Option<Vec<u8>> {
            let a = u.associated?;
            if a == h::NULL {
                return Some(Vec::new());
            }
            let exists = match h::kind(a) {
                h::HT_TRANSIENT | h::HT_PERSISTENT => {
                    tpm.object(a).is_some() || tpm.sequence(a).is_some()
                }
                h::HT_NV_INDEX => tpm.p.nv.contains_key(&a),
                _ => true,
            };
            Some(if exists { tpm.entity_auth(a) } else { u.auth_before.to_vec() })
        };
        if let Some(e) = area.encrypt {
            let u = area.uses.get(e).ok_or(Rc::FAILURE)?.clone();
            let auth = auth_after(self, &u);
            let s = self.session(u.handle).ok_or(Rc::FAILURE)?;
            if out.len() >= 2 {
                let size = usize::from(u16::from_be_bytes([out[0], out[1]]));
                if let Some(data) = out.get_mut(2..2 + size) {
                    s.crypt_parameter(auth.as_deref(), &s.nonce_tpm, &u.nonce_caller, false, data)?;
                }
            }
        }
        let mut rp_hashes: Vec<(HashAlg, Vec<u8>)> = Vec::new();
        let mut rp_hash = |alg: HashAlg| -> Vec<u8> {
            if let Some((_, d)) = rp_hashes.iter().find(|(a, _)| *a == alg) {
                return d.clone();
            }
            let mut hsh = Hasher::new(alg);
            hsh.update_u32(Rc::SUCCESS.0).update_u32(code).update(out);
            let d = hsh.finish();
            rp_hashes.push((alg, d.clone()));
            d
        };
        // Session audit (Part 1 §19.6.15); a command without an audit session ends
        // the exclusivity.
        let mut audited = None;
        if let Some(a) = area.audit {
            let u = area.uses.get(a).ok_or(Rc::FAILURE)?.clone();
            let hash = self.session(u.handle).ok_or(Rc::FAILURE)?.hash;
            let fresh = self.session(u.handle).is_some_and(|s| s.audit.is_none())
                || u.attrs & sa::AUDIT_RESET != 0;
            if fresh {
                self.v.exclusive_audit = Some(u.handle);
            } else if self.v.exclusive_audit != Some(u.handle) {
                self.v.exclusive_audit = None;
            }
            let exclusive = self.v.exclusive_audit == Some(u.handle);
            if let Some(ua) = area.uses.get_mut(a) {
                if exclusive {
                    ua.attrs |= sa::AUDIT_EXCLUSIVE;
                } else {
                    ua.attrs &= !sa::AUDIT_EXCLUSIVE;
                }
            }
            audited = Some((u.handle, hash, fresh));
        }
        if let Some((handle, hash, fresh)) = audited {
            let cp = area.cp_hashes.iter().find(|(al, _)| *al == hash).map(|(_, d)| d.clone());
            let rp = rp_hash(hash);
            if let Some(s) = self.session_mut(handle) {
                let old = if fresh {
                    alloc::vec![0u8; hash.size()]
                } else {
                    s.audit.clone().unwrap_or_default()
                };
                let mut hsh = Hasher::new(hash);
                hsh.update(&old).update(&cp.unwrap_or_default()).update(&rp);
                s.audit = Some(hsh.finish());
                s.bound = None;
            }
        } else if !spec.has(flags::NO_SESSIONS) {
            self.v.exclusive_audit = None;
        }
        // Response authorizations.
        let mut w = Writer::new();
        let time = self.v.time;
        for k in 0..area.uses.len() {
            let Some(u) = area.uses.get(k).cloned() else { break };
            if u.handle == h::PW {
                w.u16(0).u8(u.attrs | sa::CONTINUE_SESSION).u16(0);
                continue;
            }
            let auth = if u.include_auth { auth_after(self, &u) } else { None };
            let Some(s) = self.session(u.handle) else {
                // The command flushed the session (it cannot, but stay safe).
                w.u16(0).u8(u.attrs).u16(0);
                continue;
            };
            let nonce_tpm = s.nonce_tpm.clone();
            let hmac = if s.is_policy() && s.password_needed {
                Vec::new()
            } else {
                let key = s.hmac_key(auth.as_deref());
                if key.is_empty() && u.hmac.is_empty() {
                    Vec::new()
                } else {
                    let rp = rp_hash(s.hash);
                    session::response_hmac(s.hash, &key, &rp, &nonce_tpm, &u.nonce_caller, u.attrs)
                }
            };
            put_2b(&mut w, &nonce_tpm);
            w.u8(u.attrs);
            put_2b(&mut w, &hmac);
            if u.attrs & sa::CONTINUE_SESSION == 0 {
                self.flush_session(u.handle);
            } else if let Some(s) = self.session_mut(u.handle)
                && s.is_policy()
            {
                s.reset_policy(time);
            }
        }
        Ok(w.into_vec())
    }

    /// Removes a session.
    pub(crate) fn flush_session(&mut self, handle: u32) {
        if let Some(slot) =
            crate::entity::session_slot(handle).and_then(|i| self.v.sessions.get_mut(i))
        {
            *slot = None;
        }
        if self.v.exclusive_audit == Some(handle) {
            self.v.exclusive_audit = None;
        }
    }

    /// Removes a transient object or sequence.
    pub(crate) fn flush_object(&mut self, handle: u32) {
        if let Some(slot) =
            crate::entity::transient_slot(handle).and_then(|i| self.v.objects.get_mut(i))
        {
            *slot = None;
        }
    }

    /// Puts an object in a free transient slot and returns its handle
    /// (TPM_RC_OBJECT_MEMORY if all are used).
    pub(crate) fn load_slot(&mut self, slot: Slot) -> TpmResult<u32> {
        let i = self.v.objects.iter().position(Option::is_none).ok_or(Rc::OBJECT_MEMORY)?;
        let cell = self.v.objects.get_mut(i).ok_or(Rc::OBJECT_MEMORY)?;
        *cell = Some(slot);
        Ok(h::TRANSIENT_FIRST + u32::try_from(i).map_err(|_| Rc::FAILURE)?)
    }

    /// The epoch time-limited policies refer to: a TPM Reset or Restart starts a
    /// new one.
    pub(crate) fn epoch(&self) -> u32 {
        self.p.reset_count.wrapping_mul(65536).wrapping_add(self.v.restart_count)
    }

    /// PIN index bookkeeping after an authorization with its authValue (Part 2
    /// §13.4: pinCount counts failures of a PIN Fail index and uses of a PIN Pass
    /// index).
    fn update_pin_index(&mut self, entity: u32, ok: bool) {
        let Some(index) = self.p.nv.get(&entity) else { return };
        let nt = index.public.nt();
        if !index.public.has(nv_attr::WRITTEN)
            || !matches!(nt, nv_attr::NT_PIN_FAIL | nv_attr::NT_PIN_PASS)
        {
            return;
        }
        if nt == nv_attr::NT_PIN_PASS && !ok {
            return;
        }
        if let Some(index) = self.nv_mut().nv.get_mut(&entity) {
            crate::commands::nv::pin_update(index, nt, ok);
        }
    }
}

/// `CompareTemplateHash`: the hash of the second parameter (inPublic) of
/// TPM2_Create, TPM2_CreatePrimary or TPM2_CreateLoaded.
fn template_hash_matches(code: u32, hash: HashAlg, params: &[u8], digest: &[u8]) -> bool {
    if !matches!(code, cc::CREATE | cc::CREATE_PRIMARY | cc::CREATE_LOADED) {
        return false;
    }
    let mut r = Reader::new(params);
    let Ok(first) = r.u16() else { return false };
    if r.bytes(usize::from(first)).is_err() {
        return false;
    }
    let Ok(size) = r.u16() else { return false };
    let Ok(template) = r.bytes(usize::from(size)) else { return false };
    ct_eq(digest, &crate::crypto::hash::digest(hash, template))
}
