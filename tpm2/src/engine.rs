//! The engine object and the command pipeline (TPM 2.0 Part 3 §5: command
//! header, handle area, session area, parameters, response).

use crate::Secret;
use crate::auth::AuthArea;
use crate::commands;
use crate::dispatch::{AuthRole, Cmd, Params, flags};
use crate::pcr::{self};
use crate::state::{DaState, Orderly, Persistent, SEED_SIZE, SavedState, Volatile};
use crate::types::{HashAlg, Rc, Reader, TpmResult, Writer, cc, st};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use tpm_engine::wire::Header;
use tpm_engine::{Dirty, Drbg, ExecContext, Family, StateError, StateKind, TpmEngine};
use zeroize::Zeroizing;

/// Largest buffer size this engine supports (`MAX_COMMAND_SIZE`).
pub const MAX_BUFFER_SIZE: usize = 4096;
/// Smallest buffer size a carrier may ask for: a saved object context plus its
/// response framing must still fit (libtpms uses the same floor), so
/// `TPM_PT_INPUT_BUFFER` (1024) never exceeds what a command can carry.
pub const MIN_BUFFER_SIZE: usize = crate::types::limits::MAX_CONTEXT_DATA + 128;
/// How often the Clock is written to NV, in milliseconds
/// (`NV_CLOCK_UPDATE_INTERVAL` = 2^12).
pub const CLOCK_UPDATE_INTERVAL: u64 = 1 << 12;

/// A TPM 2.0.
pub struct Tpm2 {
    /// The only source of randomness.
    pub(crate) drbg: Drbg,
    /// NV state. Mutate only through [`Tpm2::nv_mut`] so that it is marked dirty.
    pub(crate) p: Persistent,
    /// RAM state.
    pub(crate) v: Volatile,
    /// What the last Shutdown(STATE) saved.
    pub(crate) saved: Option<SavedState>,
    pub(crate) dirty: Dirty,
    pub(crate) buffer_size: usize,
    /// The carrier's clock at the previous command.
    pub(crate) last_now: Option<u64>,
    /// The locality of the command being executed.
    pub(crate) locality: u8,
    /// Set by TPM2_SetCommandCodeAuditStatus when it changed the audit hash: that
    /// command is then not audited (the digest restarts with the next one).
    pub(crate) skip_command_audit: bool,
}

impl core::fmt::Debug for Tpm2 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print secrets.
        f.debug_struct("Tpm2")
            .field("started", &self.v.started)
            .field("dirty", &self.dirty)
            .finish_non_exhaustive()
    }
}

impl Tpm2 {
    /// Manufactures a new TPM: primary seeds, proofs and the instance identity come
    /// from `drbg`; every PCR bank is allocated; authorizations are empty. The TPM
    /// still needs [`TpmEngine::init`] and a TPM2_Startup.
    pub fn new(mut drbg: Drbg) -> Self {
        let mut seed = || {
            let mut s = Secret::new(vec![0u8; SEED_SIZE]);
            drbg.fill(&mut s);
            s
        };
        let (eps, sps, pps) = (seed(), seed(), seed());
        let (eh_proof, sh_proof, ph_proof) = (seed(), seed(), seed());
        let mut tpm_id = [0u8; 16];
        drbg.fill(&mut tpm_id);
        let p = Persistent {
            tpm_id,
            eps,
            sps,
            pps,
            eh_proof,
            sh_proof,
            ph_proof,
            owner_auth: Secret::default(),
            endorsement_auth: Secret::default(),
            lockout_auth: Secret::default(),
            owner_policy: Default::default(),
            endorsement_policy: Default::default(),
            lockout_policy: Default::default(),
            pcr_policy: Default::default(),
            disable_clear: false,
            da: DaState::default(),
            clock: 0,
            clock_safe: true,
            reset_count: 0,
            pcr_allocation: HashAlg::ALL.to_vec(),
            orderly: Orderly::Clear,
            established: false,
            max_counter: 0,
            nv: BTreeMap::new(),
            objects: BTreeMap::new(),
            // TPM2_SetCommandCodeAuditStatus is always audited
            // (CommandAuditPreInstall_Init).
            audit_commands: alloc::vec![cc::SET_COMMAND_CODE_AUDIT_STATUS],
            audit_alg: crate::commands::audit::INITIAL_AUDIT_HASH,
            audit_counter: 0,
        };
        Tpm2 {
            drbg,
            p,
            v: Volatile::power_on(),
            saved: None,
            dirty: Dirty { permanent: true, volatile: true },
            buffer_size: MAX_BUFFER_SIZE,
            last_now: None,
            locality: 0,
            skip_command_audit: false,
        }
    }

    /// The NV state, for writing: marks the permanent state dirty.
    pub(crate) fn nv_mut(&mut self) -> &mut Persistent {
        self.dirty.permanent = true;
        &mut self.p
    }

    /// `n` random octets from the DRBG.
    pub(crate) fn random(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        self.drbg.fill(&mut out);
        out
    }

    /// A random secret of `n` octets.
    pub(crate) fn random_secret(&mut self, n: usize) -> Secret {
        let mut out = Secret::new(vec![0u8; n]);
        self.drbg.fill(&mut out);
        out
    }

    /// Advances Time and Clock by the carrier's elapsed milliseconds; writes the
    /// Clock to NV every [`CLOCK_UPDATE_INTERVAL`].
    fn advance_time(&mut self, now_ms: u64) {
        if let Some(last) = self.last_now {
            let delta = now_ms.saturating_sub(last);
            self.v.time = self.v.time.saturating_add(delta);
            self.v.clock = self.v.clock.saturating_add(delta);
        }
        self.last_now = Some(now_ms);
        if self.v.clock >= self.p.clock.saturating_add(CLOCK_UPDATE_INTERVAL) {
            let clock = self.v.clock;
            self.nv_mut().clock = clock;
        }
    }

    /// Marks the orderly state lost (a state-changing command after Shutdown).
    pub(crate) fn clear_orderly(&mut self) {
        if self.p.orderly.is_orderly() {
            let da_used = self.v.da_used;
            self.nv_mut().orderly = if da_used { Orderly::DaUsed } else { Orderly::None };
            self.saved = None;
        }
    }

    /// Runs one command, returning its response or the error code.
    fn run(&mut self, command: &[u8]) -> TpmResult<Vec<u8>> {
        let mut r = Reader::new(command);
        // TPMI_ST_COMMAND_TAG: a known TPM_ST that is not a command tag is
        // TPM_RC_BAD_TAG, any other value TPM_RC_VALUE (the reference code
        // unmarshals a TPM_ST first).
        let tag = r.u16()?;
        if tag != st::NO_SESSIONS && tag != st::SESSIONS {
            let known_st =
                matches!(tag, st::RSP_COMMAND | st::NULL | 0x8014..=0x801A | 0x8021..=0x8025);
            return Err(if known_st { Rc::BAD_TAG } else { Rc::VALUE });
        }
        let size = r.u32()?;
        if usize::try_from(size).ok() != Some(command.len()) || command.len() > self.buffer_size {
            return Err(Rc::COMMAND_SIZE);
        }
        let code = r.u32()?;
        let spec = commands::lookup(code).ok_or(Rc::COMMAND_CODE)?;
        if self.v.started == (code == cc::STARTUP) {
            return Err(Rc::INITIALIZE);
        }

        // Handle area (Part 3 §5.3): type checks, then load status.
        let mut handles = Vec::with_capacity(spec.handles.len());
        for (i, hs) in spec.handles.iter().enumerate() {
            let h = r.u32().map_err(|e| Rc::from(e).handle(i + 1))?;
            if !hs.kind.accepts(h) {
                return Err(Rc::VALUE.handle(i + 1));
            }
            handles.push(h);
        }
        for (i, &h) in handles.iter().enumerate() {
            self.load_status(h, code).map_err(|rc| {
                if rc == Rc::REFERENCE_H0 {
                    Rc(rc.0 + u32::try_from(i).unwrap_or(0))
                } else {
                    rc.handle(i + 1)
                }
            })?;
        }

        // Session area and authorization (Part 3 §5.4–5.6).
        let (mut auth, params) = if tag == st::SESSIONS {
            let auth_size = usize::try_from(r.u32()?).map_err(|_| Rc::SIZE)?;
            if auth_size < 9 || auth_size > r.remaining() {
                return Err(Rc::SIZE);
            }
            let auth_bytes = r.bytes(auth_size)?;
            let params = r.peek_rest();
            if spec.has(flags::NO_SESSIONS) {
                return Err(Rc::AUTH_CONTEXT);
            }
            let auth = self.parse_sessions(spec, code, &handles, auth_bytes, params)?;
            (auth, params)
        } else {
            if (0..handles.len()).any(|i| spec.role(i) != AuthRole::None) {
                return Err(Rc::AUTH_MISSING);
            }
            (AuthArea::default(), r.peek_rest())
        };

        // Command audit (Part 1 §33) hashes the parameters as received and the
        // Names the handles have before the command.
        self.skip_command_audit = false;
        let audit_cp_hash =
            self.command_audited(code).then(|| self.audit_cp_hash(code, &handles, params));

        // Parameter decryption, then the command itself.
        let mut params = Zeroizing::new(params.to_vec());
        self.decrypt_parameters(&auth, &mut params)?;
        let mut cmd = Cmd {
            locality: self.locality,
            handles,
            params: Params::new(&params),
            out_handle: None,
            out: Writer::new(),
            dissociate: None,
        };
        (spec.run)(self, &mut cmd)?;
        if !spec.has(flags::READ_ONLY)
            || auth.uses.iter().any(|u| u.handle != crate::types::handle::PW)
        {
            self.dirty.volatile = true;
        }

        // Response (Part 3 §5.8).
        let mut w = Writer::with_capacity(64);
        w.u16(tag).u32(0).u32(Rc::SUCCESS.0);
        if spec.has(flags::R_HANDLE) {
            w.u32(cmd.out_handle.unwrap_or(0));
        }
        let mut out = cmd.out.into_vec();
        if tag == st::SESSIONS {
            if let Some(h) = cmd.dissociate {
                auth.dissociate(h);
            }
            let area = self.finish_sessions(&mut auth, spec, code, &mut out)?;
            if let Some(cp) = &audit_cp_hash {
                self.extend_command_audit(code, cp, &out);
            }
            w.u32(u32::try_from(out.len()).map_err(|_| Rc::FAILURE)?);
            w.bytes(&out);
            w.bytes(&area);
        } else {
            if let Some(cp) = &audit_cp_hash {
                self.extend_command_audit(code, cp, &out);
            }
            w.bytes(&out);
        }
        let len = w.len();
        if len > self.buffer_size {
            return Err(Rc::FAILURE);
        }
        w.patch_u32(2, u32::try_from(len).map_err(|_| Rc::FAILURE)?).map_err(|_| Rc::FAILURE)?;
        Ok(w.into_vec())
    }

    /// Completes a _TPM_Hash_Start/Data/End sequence: extends PCR 17 (after
    /// Startup, resetting the DRTM PCRs first) or records an H-CRTM measurement for
    /// PCR 0 (before Startup).
    fn finish_drtm(&mut self, hashers: Vec<crate::crypto::hash::Hasher>) {
        let digests: Vec<(HashAlg, Vec<u8>)> =
            hashers.into_iter().map(|h| (h.alg(), h.finish())).collect();
        if self.v.started {
            let mut extended = 0u32;
            for bank in self.v.banks.iter_mut() {
                for (pcr, a) in pcr::ATTRIBUTES.iter().enumerate() {
                    if a.reset_localities & 0x10 != 0
                        && let Some(v) = bank.values.get_mut(pcr)
                    {
                        v.fill(0);
                    }
                }
                if let Some((_, d)) = digests.iter().find(|(a, _)| *a == bank.alg) {
                    bank.extend(pcr::DRTM_PCR, d);
                    extended = extended.wrapping_add(1);
                }
            }
            self.v.restart_count = self.v.restart_count.wrapping_add(1);
            // As for any extend, the counter moves once per bank (libtpms too).
            self.v.pcr_counter = self.v.pcr_counter.wrapping_add(extended);
        } else {
            self.v.hcrtm = Some(digests);
        }
    }
}

impl TpmEngine for Tpm2 {
    fn family(&self) -> Family {
        Family::Tpm20
    }

    fn init(&mut self) {
        // _TPM_Init: all RAM state is lost; Time restarts, the Clock resumes from
        // its NV copy (a non-orderly power loss may lose up to one update
        // interval, which Startup reports as clock_safe = NO).
        let clock =
            if self.p.orderly.is_orderly() { self.p.clock.max(self.v.clock) } else { self.p.clock };
        self.v = Volatile::power_on();
        self.v.clock = clock;
        self.last_now = None;
        self.dirty.volatile = true;
    }

    fn execute(&mut self, context: ExecContext, command: &[u8]) -> Vec<u8> {
        self.advance_time(context.now_ms);
        if (5..32).contains(&context.locality) {
            // Localities 5–31 are reserved (Part 1 §34.2). libtpms quietly treats
            // them as locality 0; the engine contract asks for the bad-locality
            // error.
            return Header::error_response(st::NO_SESSIONS, Rc::LOCALITY.0);
        }
        self.locality = context.locality;
        // Any command aborts a DRTM sequence in progress (Part 1 §34.3).
        if self.v.drtm.take().is_some() {
            self.dirty.volatile = true;
        }
        if self.v.started {
            self.da_self_heal();
        }
        match self.run(command) {
            Ok(response) => response,
            Err(rc) => Header::error_response(st::NO_SESSIONS, rc.0),
        }
    }

    fn dirty(&self) -> Dirty {
        self.dirty
    }

    fn clear_dirty(&mut self) {
        self.dirty = Dirty::default();
    }

    fn save_state(&self, kind: StateKind) -> Result<Zeroizing<Vec<u8>>, StateError> {
        match kind {
            StateKind::Permanent => Ok(self.p.to_blob()),
            StateKind::Volatile => Ok(self.v.to_blob(&self.p.tpm_id, self.p.reset_count)),
            StateKind::SaveState => {
                self.saved.as_ref().map(SavedState::to_blob).ok_or(StateError::NotAvailable)
            }
        }
    }

    fn load_state(&mut self, kind: StateKind, blob: &[u8]) -> Result<(), StateError> {
        match kind {
            StateKind::Permanent => {
                let p = Persistent::from_blob(blob)?;
                self.p = p;
                // As a power cycle would: RAM is lost, the pending SaveState belonged
                // to the previous permanent state.
                self.v = Volatile::power_on();
                self.v.clock = self.p.clock;
                self.saved = None;
                self.last_now = None;
            }
            StateKind::Volatile => {
                let v = Volatile::from_blob(blob, &self.p.tpm_id, self.p.reset_count)?;
                if v.banks.iter().any(|b| !self.p.pcr_allocation.contains(&b.alg)) && v.started {
                    // Banks can only differ from the allocation until the next
                    // Reset; a bank that was never allocatable is foreign.
                    if v.banks.iter().any(|b| !HashAlg::ALL.contains(&b.alg)) {
                        return Err(StateError::Malformed);
                    }
                }
                self.v = v;
                self.last_now = None;
            }
            StateKind::SaveState => {
                let s = SavedState::from_blob(blob, &self.p.tpm_id)?;
                self.saved = Some(s);
            }
        }
        Ok(())
    }

    fn reseed(&mut self, entropy: &[u8]) {
        self.drbg.reseed(entropy);
    }

    fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    fn set_buffer_size(&mut self, requested: usize) -> usize {
        self.buffer_size = requested.clamp(MIN_BUFFER_SIZE, MAX_BUFFER_SIZE);
        self.buffer_size
    }

    fn established(&self) -> bool {
        self.p.established
    }

    fn reset_established(&mut self, locality: u8) -> bool {
        if locality != 3 && locality != 4 {
            return false;
        }
        if self.p.established {
            self.nv_mut().established = false;
        }
        true
    }

    fn hash_start(&mut self) {
        // _TPM_Hash_Start marks a dynamic launch: the established flag is set.
        if !self.p.established {
            self.nv_mut().established = true;
        }
        self.v.drtm =
            Some(HashAlg::ALL.iter().map(|&a| crate::crypto::hash::Hasher::new(a)).collect());
        self.dirty.volatile = true;
    }

    fn hash_data(&mut self, data: &[u8]) {
        if let Some(hashers) = self.v.drtm.as_mut() {
            for h in hashers.iter_mut() {
                h.update(data);
            }
            self.dirty.volatile = true;
        }
    }

    fn hash_end(&mut self) {
        if let Some(hashers) = self.v.drtm.take() {
            self.finish_drtm(hashers);
            self.dirty.volatile = true;
        }
    }
}
