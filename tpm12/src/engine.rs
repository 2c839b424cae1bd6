//! The command framework: framing, the ordinal table, state checks, authorization
//! sessions and response assembly (Part 1 §13, Part 3 §1).
//!
//! Each command handler parses its parameters from a [`Cmd`], calls
//! [`Tpm12::check`] (which applies the state, tag and size rules in the order
//! libtpms applies them, so error precedence matches), verifies its authorizations,
//! acts, and returns an [`Out`]. The framework turns an `Err` into the 10-byte error
//! response and an `Ok` into the response with its authorization trailers.

use alloc::vec::Vec;
use tpm_engine::wire::{Header, Reader, Writer};
use tpm_engine::{Dirty, Drbg, ExecContext, Family, StateError, StateKind, TpmEngine};
use zeroize::Zeroizing;

use crate::cmd;
use crate::consts::{et, kh, ord, tag};
use crate::crypto::{self, Digest20, RsaKeyPair};
use crate::error::{TpmError, TpmResult};
use crate::state::{
    Permanent, PermanentFlags, SavedState, Secret, Session, SessionKind, StClearFlags, TestState,
    TpmKey, Volatile, secret,
};

/// The version data a TPM reports (TPM_CAP_VERSION_VAL, Part 2 §21.6). The values
/// are the vendor's choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// TPM_VERSION.revMajor (firmware version).
    pub rev_major: u8,
    /// TPM_VERSION.revMinor.
    pub rev_minor: u8,
    /// specLevel (2 for TPM 1.2).
    pub spec_level: u16,
    /// errataRev (rev 116: 3).
    pub errata_rev: u8,
    /// tpmVendorID, also TPM_CAP_PROP_MANUFACTURER.
    pub vendor_id: [u8; 4],
    /// vendorSpecific bytes.
    pub vendor_specific: Vec<u8>,
}

/// How the engine is manufactured and what it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Version and vendor identification.
    pub version: VersionInfo,
    /// The platform asserts physical presence (the hardware signal, honoured while
    /// TPM_PERMANENT_FLAGS.physicalPresenceHWEnable is set; manufacture sets that flag
    /// when this is true).
    pub physical_presence: bool,
    /// TIS timeouts A, B, C, D in microseconds (TPM_CAP_PROP_TIS_TIMEOUT).
    pub timeouts_us: [u32; 4],
    /// Short, medium and long command durations in microseconds
    /// (TPM_CAP_PROP_DURATION).
    pub durations_us: [u32; 3],
    /// Create the endorsement key at manufacture. libtpms (swtpm) does not: its EK
    /// appears only through TPM_CreateEndorsementKeyPair; the Xen C vTPM did.
    pub manufacture_ek: bool,
}

impl Default for Config {
    /// The vTPM's identity: vendor "XVTP", firmware 1.0, rev 116 errata, the
    /// timeouts/durations the Xen vTPM advertises because it saves state before each
    /// response (specs/xen-vtpm-protocol.md §2.3), no platform physical presence,
    /// no EK until TPM_CreateEndorsementKeyPair.
    fn default() -> Self {
        Self {
            version: VersionInfo {
                rev_major: 1,
                rev_minor: 0,
                spec_level: 2,
                errata_rev: 3,
                vendor_id: *b"XVTP",
                vendor_specific: Vec::new(),
            },
            physical_presence: false,
            timeouts_us: [750_000, 2_000_000, 750_000, 750_000],
            durations_us: [3_000_000, 3_000_000, 600_000_000],
            manufacture_ek: false,
        }
    }
}

/// Largest command/response (libtpms TPM_BUFFER_MAX).
pub const BUFFER_MAX: usize = 4096;
/// Smallest buffer the engine agrees to (libtpms TPM_BUFFER_MIN).
pub const BUFFER_MIN: usize = 3072;
/// Auth sessions held at once (libtpms: 16).
pub const MAX_SESSIONS: usize = 16;
/// Keys loaded at once, SRK excluded (libtpms: 20).
pub const MAX_KEYS: usize = 20;
/// Monotonic counters (libtpms: 8).
pub const MAX_COUNTERS: usize = 8;
/// Saved session contexts (libtpms: 128).
pub const MAX_CONTEXTS: usize = 128;

/// A software TPM 1.2.
pub struct Tpm12 {
    pub(crate) config: Config,
    pub(crate) drbg: Drbg,
    pub(crate) perm: Permanent,
    pub(crate) vol: Volatile,
    pub(crate) saved: Option<SavedState>,
    pub(crate) dirty: Dirty,
    pub(crate) buffer_size: usize,
}

impl core::fmt::Debug for Tpm12 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print secrets.
        f.debug_struct("Tpm12")
            .field("owned", &self.perm.owner_auth.is_some())
            .field("started", &!self.vol.post_initialise)
            .finish_non_exhaustive()
    }
}

/// Which request tags a command accepts, as a bitmask of authorization counts.
pub(crate) type Tags = u8;
/// No authorization (TPM_TAG_RQU_COMMAND).
pub(crate) const T0: Tags = 1;
/// One authorization (TPM_TAG_RQU_AUTH1_COMMAND).
pub(crate) const T1: Tags = 2;
/// Two authorizations (TPM_TAG_RQU_AUTH2_COMMAND).
pub(crate) const T2: Tags = 4;

/// State requirements of a command (libtpms TPM_CHECK_*; Part 2 §17 ordinal table).
pub(crate) mod check {
    /// Fails in self-test failure mode.
    pub const NOT_SHUTDOWN: u32 = 0x01;
    /// Needs TPM_PERMANENT_FLAGS.disable FALSE.
    pub const ENABLED: u32 = 0x04;
    /// Needs TPM_STCLEAR_FLAGS.deactivated FALSE.
    pub const ACTIVATED: u32 = 0x08;
    /// Needs an owner.
    pub const OWNER: u32 = 0x10;
    /// Refused during a dictionary-attack lockout (authorized commands only).
    pub const NO_LOCKOUT: u32 = 0x20;
    /// ENABLED/ACTIVATED do not apply while nvLocked is FALSE.
    pub const NV_NOAUTH: u32 = 0x40;
    /// Everything but the owner.
    pub const ALLOW_NO_OWNER: u32 = NOT_SHUTDOWN | ENABLED | ACTIVATED | NO_LOCKOUT;
    /// Everything.
    pub const ALL: u32 = ALLOW_NO_OWNER | OWNER;
}

/// One authorization trailer as received.
#[derive(Clone, Debug)]
pub(crate) struct AuthIn {
    pub handle: u32,
    pub nonce_odd: Digest20,
    pub continue_session: bool,
    pub hmac: Digest20,
}

/// One verified authorization, for the response.
pub(crate) struct AuthOut {
    pub handle: u32,
    pub key: Secret,
    pub nonce_odd: Digest20,
    pub continue_session: bool,
}

/// A command being processed.
pub(crate) struct Cmd<'a> {
    pub tag: u16,
    pub ordinal: u32,
    pub locality: u8,
    /// Reader over the parameter area (authorization trailers removed).
    pub r: Reader<'a>,
    params: &'a [u8],
    /// Where the parameters end and the authorization trailers begin (known after
    /// [`Tpm12::check`]).
    params_end: Option<usize>,
    pub auths: Vec<AuthIn>,
    pub verified: Vec<AuthOut>,
    /// Sessions the command looked up (terminated if the command fails).
    pub touched: Vec<u32>,
    allowed: Tags,
}

impl<'a> Cmd<'a> {
    /// The offset of the reader in the parameter area.
    pub fn mark(&self) -> usize {
        self.params.len().saturating_sub(self.r.remaining())
    }

    /// SHA-1(ordinal || parameters[from..current]) — the inParamDigest (Part 1 §13).
    pub fn in_digest(&self, from: usize) -> Digest20 {
        let end = self.params_end.unwrap_or_else(|| self.mark());
        let slice = self.params.get(from..end).unwrap_or(&[]);
        crypto::sha1(&[&self.ordinal.to_be_bytes(), slice])
    }

    /// The authorization trailer `i`, or TPM_AUTHFAIL if the tag carries fewer.
    pub fn auth(&self, i: usize) -> TpmResult<&AuthIn> {
        self.auths.get(i).ok_or(TpmError::Authfail)
    }

    /// True if the command carries at least `n` authorizations.
    pub fn has_auth(&self, n: usize) -> bool {
        self.auths.len() >= n
    }
}

/// A successful command's output: handles (not part of the HMAC) then parameters.
#[derive(Default)]
pub(crate) struct Out {
    pub handles: Vec<u8>,
    pub params: Vec<u8>,
}

impl Out {
    /// Output with only parameters.
    pub fn params(params: Vec<u8>) -> Self {
        Self { handles: Vec::new(), params }
    }

    /// Output with nothing.
    pub fn empty() -> Self {
        Self::default()
    }
}

/// A handler for one ordinal.
pub(crate) type Handler = fn(&mut Tpm12, &mut Cmd<'_>) -> TpmResult<Out>;

/// Maps a request tag to the tag of its successful response.
fn response_tag(request: u16) -> u16 {
    match request {
        tag::RQU_AUTH1_COMMAND => tag::RSP_AUTH1_COMMAND,
        tag::RQU_AUTH2_COMMAND => tag::RSP_AUTH2_COMMAND,
        _ => tag::RSP_COMMAND,
    }
}

impl Tpm12 {
    /// A freshly manufactured TPM: enabled, activated (as libtpms, which is built
    /// with TPM_ENABLE_ACTIVATE), unowned, and waiting for TPM_Startup (the carrier
    /// calls [`TpmEngine::init`] or sends commands right away: the engine starts in
    /// the post-_TPM_Init state).
    pub fn new(mut drbg: Drbg, config: Config) -> TpmResult<Self> {
        let mut tpm_proof = [0u8; 20];
        drbg.fill(&mut tpm_proof);
        let mut context_key = Zeroizing::new([0u8; 16]);
        drbg.fill(&mut context_key[..]);
        let flags = PermanentFlags {
            ownership: true,
            read_pubek: true,
            allow_maintenance: true,
            enable_revoke_ek: true,
            physical_presence_hw_enable: config.physical_presence,
            ..PermanentFlags::default()
        };
        let ek = if config.manufacture_ek {
            Some(RsaKeyPair::generate(&mut drbg, 2048, crypto::DEFAULT_EXPONENT)?)
        } else {
            None
        };
        let perm = Permanent {
            flags,
            owner_auth: None,
            tpm_proof: secret(tpm_proof),
            context_key,
            ek,
            srk: None,
            operator_auth: None,
            auth_dir: [0; 20],
            counters: Vec::new(),
            counter_high_water: 0,
            nv: Vec::new(),
            no_owner_nv_writes: 0,
            da: Default::default(),
        };
        let mut tpm = Self {
            config,
            drbg,
            perm,
            vol: Volatile::after_init(0),
            saved: None,
            dirty: Dirty { permanent: true, volatile: true },
            buffer_size: BUFFER_MAX,
        };
        tpm.reset_pcrs();
        Ok(tpm)
    }

    /// The configuration the engine was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn process(&mut self, locality: u8, command: &[u8]) -> TpmResult<Vec<u8>> {
        // Part 3 §1 / libtpms TPM_Process_GetCommandParams: the header must be
        // complete and paramSize must equal the bytes received.
        let mut r = Reader::new(command);
        let request_tag = r.u16()?;
        let size = r.u32()?;
        let ordinal = r.u32()?;
        if usize::try_from(size).ok() != Some(command.len()) {
            return Err(TpmError::BadParamSize);
        }
        if command.len() > self.buffer_size {
            return Err(TpmError::Size);
        }
        if locality > 4 {
            return Err(TpmError::BadLocality);
        }
        self.preprocess(ordinal)?;
        let Some((handler, allowed)) = cmd::lookup(ordinal) else {
            // libtpms answers an unknown ordinal with the response tag matching the
            // request tag (every other error uses TPM_TAG_RSP_COMMAND).
            return Ok(Header::error_response(
                response_tag(request_tag),
                TpmError::BadOrdinal.code(),
            ));
        };
        let body = r.peek_rest();
        let mut cmd = Cmd {
            tag: request_tag,
            ordinal,
            locality,
            r: Reader::new(body),
            params: body,
            params_end: None,
            auths: Vec::new(),
            verified: Vec::new(),
            touched: Vec::new(),
            allowed,
        };
        match handler(self, &mut cmd) {
            Ok(out) => self.respond(&mut cmd, out),
            Err(e) => {
                // Part 1 §13.2: an error terminates the sessions the command used.
                for handle in &cmd.touched {
                    self.vol.sessions.retain(|s| s.handle != *handle);
                }
                if !cmd.touched.is_empty() {
                    self.dirty.volatile = true;
                }
                Err(e)
            }
        }
    }

    /// Checks common to all ordinals before the handler runs (libtpms
    /// TPM_Process_Preprocess): implicit self-test, SHA-1 thread and saved-state
    /// invalidation.
    fn preprocess(&mut self, ordinal: u32) -> TpmResult<()> {
        if self.vol.test_state == TestState::Limited
            && !matches!(
                ordinal,
                ord::STARTUP
                    | ord::SHA1_START
                    | ord::SHA1_UPDATE
                    | ord::SHA1_COMPLETE
                    | ord::SHA1_COMPLETE_EXTEND
                    | ord::EXTEND
                    | ord::CONTINUE_SELF_TEST
                    | ord::GET_CAPABILITY
                    | ord::SELF_TEST_FULL
                    | ord::GET_TEST_RESULT
                    | ord::TSC_PHYSICAL_PRESENCE
                    | ord::TSC_RESET_ESTABLISHMENT_BIT
            )
        {
            // Part 1 §8.2: a command needing untested functions runs the remaining
            // tests first (the TPM may instead answer TPM_NEEDS_SELFTEST).
            self.vol.test_state = TestState::Full;
        }
        // Part 3 §4 (TPM_SHA1Start): any other command ends the SHA-1 thread.
        if self.vol.sha1.is_some()
            && !matches!(ordinal, ord::SHA1_UPDATE | ord::SHA1_COMPLETE | ord::SHA1_COMPLETE_EXTEND)
        {
            self.vol.sha1 = None;
        }
        // Part 3 §3.3: any command but TPM_Startup invalidates the saved state.
        if self.saved.is_some() && !matches!(ordinal, ord::STARTUP | ord::INIT) {
            self.saved = None;
            self.dirty.permanent = true;
        }
        Ok(())
    }

    /// Applies the state checks, the tag check and the trailing-bytes check, in the
    /// order libtpms applies them after a handler has parsed its parameters.
    pub(crate) fn check(&mut self, cmd: &mut Cmd<'_>, checks: u32) -> TpmResult<()> {
        self.check_state(cmd.tag, checks)?;
        let (tag_bit, n_auth) = match cmd.tag {
            tag::RQU_COMMAND => (T0, 0),
            tag::RQU_AUTH1_COMMAND => (T1, 1),
            tag::RQU_AUTH2_COMMAND => (T2, 2),
            _ => (0, 0),
        };
        if cmd.allowed & tag_bit == 0 {
            return Err(TpmError::Badtag);
        }
        // The "below the line" authorization parameters follow the parameters
        // (Part 1 §13); libtpms reads them only after the state and tag checks.
        cmd.params_end = Some(cmd.mark());
        for _ in 0..n_auth {
            let handle = cmd.r.u32()?;
            let nonce_odd = cmd.r.array()?;
            let continue_session = match cmd.r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(TpmError::BadParameter),
            };
            let hmac = cmd.r.array()?;
            cmd.auths.push(AuthIn { handle, nonce_odd, continue_session, hmac });
        }
        if !cmd.r.is_empty() {
            return Err(TpmError::BadParamSize);
        }
        Ok(())
    }

    /// libtpms TPM_CheckState.
    pub(crate) fn check_state(&mut self, request_tag: u16, checks: u32) -> TpmResult<()> {
        if checks & check::NO_LOCKOUT != 0
            && request_tag != tag::RQU_COMMAND
            && self.da_locked_out()
        {
            return Err(TpmError::DefendLockRunning);
        }
        if checks & check::NOT_SHUTDOWN != 0 && self.vol.test_state == TestState::Failed {
            return Err(TpmError::Failedselftest);
        }
        if self.vol.post_initialise {
            return Err(TpmError::InvalidPostinit);
        }
        let nv_exempt = checks & check::NV_NOAUTH != 0 && !self.perm.flags.nv_locked;
        if checks & check::ENABLED != 0 && !nv_exempt && self.perm.flags.disable {
            return Err(TpmError::Disabled);
        }
        if checks & check::ACTIVATED != 0 && !nv_exempt && self.vol.flags.deactivated {
            return Err(TpmError::Deactivated);
        }
        if checks & check::OWNER != 0 && self.perm.owner_auth.is_none() {
            return Err(TpmError::Nosrk);
        }
        Ok(())
    }

    fn respond(&mut self, cmd: &mut Cmd<'_>, out: Out) -> TpmResult<Vec<u8>> {
        let mut w = Writer::with_capacity(64 + out.params.len());
        w.u16(response_tag(cmd.tag)).u32(0).u32(0);
        w.bytes(&out.handles).bytes(&out.params);
        if !cmd.verified.is_empty() {
            // outParamDigest = SHA-1(returnCode || ordinal || outParams) (Part 1 §13).
            let out_digest =
                crypto::sha1(&[&0u32.to_be_bytes(), &cmd.ordinal.to_be_bytes(), &out.params]);
            for auth in &cmd.verified {
                let mut nonce_even = [0u8; 20];
                self.drbg.fill(&mut nonce_even);
                let continue_byte = [u8::from(auth.continue_session)];
                let hmac = crypto::hmac_sha1(
                    &auth.key[..],
                    &[&out_digest, &nonce_even, &auth.nonce_odd, &continue_byte],
                );
                w.bytes(&nonce_even).u8(continue_byte[0]).bytes(&hmac);
                if auth.continue_session {
                    if let Some(s) = self.vol.sessions.iter_mut().find(|s| s.handle == auth.handle)
                    {
                        s.nonce_even = nonce_even;
                    }
                } else {
                    self.vol.sessions.retain(|s| s.handle != auth.handle);
                }
            }
            self.dirty.volatile = true;
        }
        let len = u32::try_from(w.len()).map_err(|_| TpmError::Size)?;
        if w.len() > self.buffer_size {
            return Err(TpmError::Size);
        }
        w.patch_u32(2, len).map_err(|_| TpmError::Fail)?;
        Ok(w.into_vec())
    }

    // ---- authorization -------------------------------------------------------

    /// Verifies authorization `index` of `cmd` for an entity whose usage secret is
    /// `usage_auth`, bound (for OSAP) to `(entity_type, entity_value)`. Records the
    /// session for the response. Part 1 §13.1 (OIAP), §13.2 (OSAP).
    pub(crate) fn verify_auth(
        &mut self,
        cmd: &mut Cmd<'_>,
        index: usize,
        entity_type: u16,
        entity_value: u32,
        usage_auth: &Digest20,
        in_digest: &Digest20,
    ) -> TpmResult<()> {
        let key = self.session_key(cmd, index, entity_type, entity_value, usage_auth)?;
        self.verify_with_key(cmd, index, key, in_digest)
    }

    /// Looks up the session of authorization `index` and returns the HMAC key it
    /// uses for this entity: the usage secret (OIAP) or the shared secret (OSAP).
    pub(crate) fn session_key(
        &mut self,
        cmd: &mut Cmd<'_>,
        index: usize,
        entity_type: u16,
        entity_value: u32,
        usage_auth: &Digest20,
    ) -> TpmResult<Secret> {
        let handle = cmd.auth(index)?.handle;
        let session = self
            .vol
            .sessions
            .iter()
            .find(|s| s.handle == handle)
            .ok_or(TpmError::InvalidAuthhandle)?;
        cmd.touched.push(handle);
        match &session.kind {
            SessionKind::Oiap => Ok(secret(*usage_auth)),
            SessionKind::Osap { entity_type: t, entity_value: v, shared_secret } => {
                // The low byte is the entity type; the high byte selects ADIP
                // encryption and must match too.
                // Owner and SRK sessions ignore entityValue (Part 3 §18.2 actions 7–8).
                let value_matters =
                    !matches!(u8::try_from(entity_type & 0xFF), Ok(et::OWNER | et::SRK));
                if *t & 0xFF != entity_type & 0xFF || (value_matters && *v != entity_value) {
                    return Err(TpmError::Authfail);
                }
                Ok(shared_secret.clone())
            }
        }
    }

    /// Checks the HMAC of authorization `index` under `key`.
    pub(crate) fn verify_with_key(
        &mut self,
        cmd: &mut Cmd<'_>,
        index: usize,
        key: Secret,
        in_digest: &Digest20,
    ) -> TpmResult<()> {
        let auth = cmd.auth(index)?.clone();
        let nonce_even = self.session(auth.handle)?.nonce_even;
        let continue_byte = [u8::from(auth.continue_session)];
        let expected =
            crypto::hmac_sha1(&key[..], &[in_digest, &nonce_even, &auth.nonce_odd, &continue_byte]);
        if !crypto::ct_eq(&expected, &auth.hmac) {
            self.da_failure();
            return Err(if index == 0 { TpmError::Authfail } else { TpmError::Auth2fail });
        }
        cmd.verified.push(AuthOut {
            handle: auth.handle,
            key,
            nonce_odd: auth.nonce_odd,
            continue_session: auth.continue_session,
        });
        Ok(())
    }

    /// The session with `handle`.
    pub(crate) fn session(&self, handle: u32) -> TpmResult<&Session> {
        self.vol.sessions.iter().find(|s| s.handle == handle).ok_or(TpmError::InvalidAuthhandle)
    }

    /// The OSAP shared secret and current nonceEven of authorization `index`, for
    /// ADIP decryption of encrypted authorization values (Part 1 §13.5). Fails
    /// with TPM_BAD_MODE unless the session is OSAP.
    pub(crate) fn osap_secret(
        &self,
        cmd: &Cmd<'_>,
        index: usize,
    ) -> TpmResult<(Secret, Digest20, u16)> {
        let handle = cmd.auth(index)?.handle;
        match &self.session(handle)?.kind {
            SessionKind::Osap { shared_secret, entity_type, .. } => {
                Ok((shared_secret.clone(), self.session(handle)?.nonce_even, *entity_type))
            }
            SessionKind::Oiap => Err(TpmError::BadMode),
        }
    }

    /// Decrypts an ADIP-encrypted authorization value: XOR with
    /// SHA-1(sharedSecret || nonce) (Part 1 §13.5; the XOR scheme is entity-type
    /// high byte 0; AES is not offered: TPM_CAP_AUTH_ENCRYPT reports XOR only).
    pub(crate) fn adip_decrypt(
        &self,
        cmd: &mut Cmd<'_>,
        enc: &Digest20,
        use_odd: bool,
    ) -> TpmResult<Secret> {
        let (shared, nonce_even, entity_type) = self.osap_secret(cmd, 0)?;
        if entity_type >> 8 != u16::from(et::XOR) {
            return Err(TpmError::InappropriateEnc);
        }
        let nonce = if use_odd { cmd.auth(0)?.nonce_odd } else { nonce_even };
        let pad = crypto::sha1(&[&shared[..], &nonce]);
        let mut out = [0u8; 20];
        for ((o, e), p) in out.iter_mut().zip(enc.iter()).zip(pad.iter()) {
            *o = e ^ p;
        }
        self.end_session_after(cmd, 0);
        Ok(secret(out))
    }

    /// Marks the session of authorization `index` for termination after the
    /// response (commands that must not leave it open).
    pub(crate) fn end_session_after(&self, cmd: &mut Cmd<'_>, index: usize) {
        if let Some(v) = cmd.verified.get_mut(index) {
            v.continue_session = false;
        }
    }

    // ---- dictionary attack ------------------------------------------------------

    /// Consecutive failures before a lockout (libtpms TPM_LOCKOUT_THRESHOLD).
    pub(crate) const DA_THRESHOLD: u32 = 5;

    fn da_failure(&mut self) {
        self.perm.da.fail_count = self.perm.da.fail_count.saturating_add(1);
        self.dirty.permanent = true;
        if self.perm.da.fail_count >= Self::DA_THRESHOLD {
            // Lockout grows with each failure past the threshold: 2^(n - threshold)
            // seconds, capped at about 18 hours (Part 1 §21: vendor specific).
            let exponent = (self.perm.da.fail_count - Self::DA_THRESHOLD).min(16);
            let ms = 1000u64 << exponent;
            self.vol.da_lockout_until_ms = self.vol.now_ms.saturating_add(ms);
            self.dirty.volatile = true;
        }
    }

    pub(crate) fn da_locked_out(&self) -> bool {
        self.vol.now_ms < self.vol.da_lockout_until_ms
    }

    // ---- helpers -------------------------------------------------------------------

    /// Physical presence: the command-set flag, or the platform's hardware signal
    /// when enabled (Part 1 §10.2).
    pub(crate) fn physical_presence(&self) -> bool {
        self.vol.flags.physical_presence
            || (self.config.physical_presence && self.perm.flags.physical_presence_hw_enable)
    }

    /// A random handle that is not 0, not in the reserved 0x40xxxxxx range and not
    /// in use by a key or session.
    pub(crate) fn new_handle(&mut self) -> u32 {
        loop {
            let mut b = [0u8; 4];
            self.drbg.fill(&mut b);
            let h = u32::from_be_bytes(b);
            if h != 0
                && h & 0xFF00_0000 != 0x4000_0000
                && !self.vol.keys.iter().any(|k| k.handle == h)
                && !self.vol.sessions.iter().any(|s| s.handle == h)
            {
                return h;
            }
        }
    }

    /// A fresh 20-byte nonce.
    pub(crate) fn nonce(&mut self) -> Digest20 {
        let mut n = [0u8; 20];
        self.drbg.fill(&mut n);
        n
    }

    /// Sets every PCR to its power-on default (PC Client Implementation 1.2 §4.1:
    /// the DRTM PCRs 17–22 start at 0xFF..FF, all others at zero).
    pub(crate) fn reset_pcrs(&mut self) {
        for (i, pcr) in self.vol.pcrs.iter_mut().enumerate() {
            *pcr = cmd::pcr::default_value(i);
        }
    }

    fn clear_for_init(&mut self) {
        let now = self.vol.now_ms;
        self.vol = Volatile::after_init(now);
        self.reset_pcrs();
    }

    /// The TPM_STCLEAR_FLAGS default at Startup: deactivated follows the permanent
    /// flag.
    pub(crate) fn stclear_defaults(&self) -> StClearFlags {
        StClearFlags { deactivated: self.perm.flags.deactivated, ..StClearFlags::default() }
    }

    /// The key behind a key handle: the SRK's reserved handle or a loaded key
    /// (TPM_INVALID_KEYHANDLE otherwise; the EK is never usable by handle).
    pub(crate) fn key(&self, handle: u32) -> TpmResult<&TpmKey> {
        if handle == kh::SRK {
            return self.perm.srk.as_ref().ok_or(TpmError::InvalidKeyhandle);
        }
        self.vol
            .keys
            .iter()
            .find(|k| k.handle == handle)
            .map(|k| &k.key)
            .ok_or(TpmError::InvalidKeyhandle)
    }
}

impl TpmEngine for Tpm12 {
    fn family(&self) -> Family {
        Family::Tpm12
    }

    fn init(&mut self) {
        // _TPM_Init (Part 1 §4.4): RAM state is lost, the saved state is kept.
        self.clear_for_init();
        self.dirty.volatile = true;
    }

    fn execute(&mut self, context: ExecContext, command: &[u8]) -> Vec<u8> {
        self.vol.now_ms = self.vol.now_ms.max(context.now_ms);
        match self.process(context.locality, command) {
            Ok(response) => response,
            Err(e) => {
                if e == TpmError::Fail {
                    // libtpms: TPM_FAIL marks an internal error and enters failure mode.
                    self.vol.test_state = TestState::Failed;
                    self.dirty.volatile = true;
                }
                // Error responses carry no authorization: TPM_TAG_RSP_COMMAND.
                Header::error_response(tag::RSP_COMMAND, e.code())
            }
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
            StateKind::Permanent => Ok(self.perm.to_bytes()),
            StateKind::Volatile => Ok(self.vol.to_bytes(&self.perm.fingerprint())),
            StateKind::SaveState => {
                self.saved.as_ref().map(SavedState::to_bytes).ok_or(StateError::NotAvailable)
            }
        }
    }

    fn load_state(&mut self, kind: StateKind, blob: &[u8]) -> Result<(), StateError> {
        match kind {
            StateKind::Permanent => {
                let perm = Permanent::from_bytes(blob)?;
                self.perm = perm;
                self.saved = None;
                // A new permanent state is a power cycle: RAM state is lost.
                self.clear_for_init();
            }
            StateKind::Volatile => {
                let vol = Volatile::from_bytes(blob, &self.perm.fingerprint())?;
                self.vol = vol;
            }
            StateKind::SaveState => {
                self.saved = Some(SavedState::from_bytes(blob)?);
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
        self.buffer_size = requested.clamp(BUFFER_MIN, BUFFER_MAX);
        self.buffer_size
    }

    fn established(&self) -> bool {
        self.perm.flags.tpm_established
    }

    fn reset_established(&mut self, locality: u8) -> bool {
        // TSC_ResetEstablishmentBit (Part 3 §6.x): locality 3 or 4 only.
        if !(3..=4).contains(&locality) {
            return false;
        }
        if self.perm.flags.tpm_established {
            self.perm.flags.tpm_established = false;
            self.dirty.permanent = true;
        }
        true
    }

    fn hash_start(&mut self) {
        cmd::pcr::hash_start(self);
    }

    fn hash_data(&mut self, data: &[u8]) {
        if let Some(h) = self.vol.hash_tis.as_mut() {
            sha1::Digest::update(h, data);
            self.dirty.volatile = true;
        }
    }

    fn hash_end(&mut self) {
        cmd::pcr::hash_end(self);
    }
}
