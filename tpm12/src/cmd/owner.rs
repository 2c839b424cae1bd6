//! Ownership, physical presence, opt-in flags and the endorsement key (Part 3 §5,
//! §6, §14; TSC_PhysicalPresence).

use tpm_engine::wire::Writer;

use crate::consts::{PID_OWNER, es, et, kf, kh, ku, nv, pp, ss};
use crate::crypto::{self, RsaKeyPair};
use crate::engine::{Cmd, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::state::{TpmKey, secret};
use crate::structs::{Key, KeyParms, MAX_FIELD, PubKey, read_bool, read_digest};

impl Tpm12 {
    /// Verifies authorization `index` as the owner's.
    pub(crate) fn owner_auth(
        &mut self,
        cmd: &mut Cmd<'_>,
        index: usize,
        digest: &crypto::Digest20,
    ) -> TpmResult<()> {
        let owner = *self.perm.owner_auth.as_deref().ok_or(TpmError::Nosrk)?;
        self.verify_auth(cmd, index, u16::from(et::OWNER), 0, &owner, digest)
    }

    /// Requires physical presence (TPM_BAD_PRESENCE otherwise).
    pub(crate) fn require_presence(&self) -> TpmResult<()> {
        if self.physical_presence() { Ok(()) } else { Err(TpmError::BadPresence) }
    }

    /// The TPM_PUBKEY of the endorsement key.
    pub(crate) fn ek_pubkey(&self) -> TpmResult<PubKey> {
        let ek = self.perm.ek.as_ref().ok_or(TpmError::NoEndorsement)?;
        Ok(PubKey {
            parms: KeyParms::rsa(es::RSAESOAEP_SHA1_MGF1, ss::NONE, 2048),
            key: ek.modulus().to_vec(),
        })
    }

    /// The owner-clear actions shared by TPM_OwnerClear and TPM_ForceClear
    /// (Part 3 §6.1 actions 3–12).
    fn clear_owner(&mut self) {
        self.vol.keys.clear();
        self.vol.sessions.clear();
        self.vol.context_list.clear();
        self.vol.active_counter = None;
        self.perm.owner_auth = None;
        self.perm.srk = None;
        self.perm.operator_auth = None;
        self.perm.tpm_proof = secret([0; 20]);
        self.perm.no_owner_nv_writes = 0;
        let f = &mut self.perm.flags;
        f.disable = true;
        f.deactivated = true;
        f.read_pubek = true;
        f.disable_owner_clear = false;
        f.disable_full_da_logic_info = false;
        f.allow_maintenance = false;
        f.read_srk_pub = false;
        f.ownership = true;
        f.operator = false;
        f.maintenance_done = false;
        // Counters are released; their values keep counting (action 11).
        self.perm.counters.clear();
        // Owner-controlled NV areas go unless their index has the D bit (action 12).
        self.perm.nv.retain(|n| {
            n.public.index & nv::D_BIT != 0
                || n.public.attributes & (nv::PER_OWNERWRITE | nv::PER_OWNERREAD) == 0
        });
        self.dirty.permanent = true;
        self.dirty.volatile = true;
    }
}

/// TPM_TakeOwnership (Part 3 §6.1).
pub(crate) fn take_ownership(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let protocol = cmd.r.u16()?;
    let enc_owner = cmd.r.sized_u32(MAX_FIELD)?.to_vec();
    let enc_srk = cmd.r.sized_u32(MAX_FIELD)?.to_vec();
    let srk_params = Key::parse(&mut cmd.r)?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::ENABLED | check::NO_LOCKOUT)?;
    let digest = cmd.in_digest(0);
    if tpm.perm.owner_auth.is_some() {
        return Err(TpmError::OwnerSet);
    }
    if !tpm.perm.flags.ownership {
        return Err(TpmError::InstallDisabled);
    }
    if tpm.perm.ek.is_none() {
        return Err(TpmError::NoEndorsement);
    }
    // The session must be OIAP (the owner secret is not known to the TPM yet).
    let handle = cmd.auth(0)?.handle;
    if !matches!(tpm.session(handle)?.kind, crate::state::SessionKind::Oiap) {
        return Err(TpmError::InvalidAuthhandle);
    }
    cmd.touched.push(handle);
    if protocol != PID_OWNER {
        return Err(TpmError::BadParameter);
    }
    let owner_auth = decrypt_secret(tpm, &enc_owner)?;
    tpm.verify_with_key(cmd, 0, owner_auth.clone(), &digest)?;
    // Action 8: the SRK must be a non-migratable 2048-bit RSA OAEP storage key with
    // the default exponent.
    if srk_params.usage != ku::STORAGE || srk_params.flags & kf::MIGRATABLE != 0 {
        return Err(TpmError::InvalidKeyusage);
    }
    let parms = srk_params.parms.rsa_parms()?;
    if srk_params.parms.enc_scheme != es::RSAESOAEP_SHA1_MGF1
        || srk_params.parms.sig_scheme != ss::NONE
        || parms.key_bits < 2048
        || !parms.default_exponent
    {
        return Err(TpmError::BadKeyProperty);
    }
    let srk_auth = decrypt_secret(tpm, &enc_srk)?;
    let mut tpm_proof = [0u8; 20];
    tpm.drbg.fill(&mut tpm_proof);
    let proof = secret(tpm_proof);
    let srk =
        super::storage::generate_key(tpm, &srk_params, srk_auth, proof.clone(), cmd.locality)?;
    let mut srk_pub = srk.public.clone();
    srk_pub.enc_data.clear();
    tpm.perm.tpm_proof = proof;
    tpm.perm.owner_auth = Some(owner_auth);
    tpm.perm.srk = Some(srk);
    tpm.perm.flags.read_pubek = false;
    tpm.drbg.fill(&mut tpm.perm.context_key[..]);
    tpm.dirty.permanent = true;
    // The session used to install the owner ends with the command.
    tpm.end_session_after(cmd, 0);
    Ok(Out::params(srk_pub.to_bytes()))
}

/// Decrypts a 20-byte secret sent under the EK (TakeOwnership, Part 3 §6.1 action 6).
fn decrypt_secret(tpm: &mut Tpm12, enc: &[u8]) -> TpmResult<crate::state::Secret> {
    let ek = tpm.perm.ek.as_ref().ok_or(TpmError::NoEndorsement)?;
    let plain = ek.decrypt_oaep(&mut tpm.drbg, enc)?;
    let value: [u8; 20] = plain.as_slice().try_into().map_err(|_| TpmError::BadKeyProperty)?;
    Ok(secret(value))
}

/// TPM_OwnerClear (Part 3 §6.2).
pub(crate) fn owner_clear(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(0);
    tpm.owner_auth(cmd, 0, &digest)?;
    if tpm.perm.flags.disable_owner_clear {
        return Err(TpmError::ClearDisabled);
    }
    // The response is authorized with the old owner secret, then the session ends.
    tpm.end_session_after(cmd, 0);
    tpm.clear_owner();
    Ok(Out::empty())
}

/// TPM_ForceClear (Part 3 §6.3).
pub(crate) fn force_clear(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    tpm.require_presence()?;
    if tpm.vol.flags.disable_force_clear {
        return Err(TpmError::ClearDisabled);
    }
    tpm.clear_owner();
    Ok(Out::empty())
}

/// TPM_DisableOwnerClear (Part 3 §6.4).
pub(crate) fn disable_owner_clear(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(0);
    tpm.owner_auth(cmd, 0, &digest)?;
    tpm.perm.flags.disable_owner_clear = true;
    tpm.dirty.permanent = true;
    Ok(Out::empty())
}

/// TPM_DisableForceClear (Part 3 §6.5).
pub(crate) fn disable_force_clear(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    tpm.vol.flags.disable_force_clear = true;
    tpm.dirty.volatile = true;
    Ok(Out::empty())
}

/// TSC_PhysicalPresence (Part 3 §6.6 / PC Client).
pub(crate) fn physical_presence(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let value = cmd.r.u16()?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    const MASK: u16 = 0xFC03;
    if value & MASK != 0 {
        return Err(TpmError::BadParameter);
    }
    let lifetime = value
        & (pp::LIFETIME_LOCK | pp::HW_ENABLE | pp::CMD_ENABLE | pp::HW_DISABLE | pp::CMD_DISABLE);
    let assertion = value & (pp::LOCK | pp::PRESENT | pp::NOTPRESENT);
    if lifetime == 0 && assertion == 0 {
        return Err(TpmError::BadParameter);
    }
    if lifetime != 0 {
        let f = &tpm.perm.flags;
        if f.physical_presence_lifetime_lock
            || assertion != 0
            || (value & pp::HW_ENABLE != 0 && value & pp::HW_DISABLE != 0)
            || (value & pp::CMD_ENABLE != 0 && value & pp::CMD_DISABLE != 0)
        {
            return Err(TpmError::BadParameter);
        }
        let f = &mut tpm.perm.flags;
        if value & pp::HW_ENABLE != 0 {
            f.physical_presence_hw_enable = true;
        }
        if value & pp::HW_DISABLE != 0 {
            f.physical_presence_hw_enable = false;
        }
        if value & pp::CMD_ENABLE != 0 {
            f.physical_presence_cmd_enable = true;
        }
        if value & pp::CMD_DISABLE != 0 {
            f.physical_presence_cmd_enable = false;
        }
        if value & pp::LIFETIME_LOCK != 0 {
            f.physical_presence_lifetime_lock = true;
        }
        tpm.dirty.permanent = true;
    } else {
        if !tpm.perm.flags.physical_presence_cmd_enable
            || (value & pp::LOCK != 0 && value & pp::PRESENT != 0)
            || (value & pp::PRESENT != 0 && value & pp::NOTPRESENT != 0)
            || tpm.vol.flags.physical_presence_lock
        {
            return Err(TpmError::BadParameter);
        }
        let f = &mut tpm.vol.flags;
        if value & pp::LOCK != 0 {
            f.physical_presence = false;
            f.physical_presence_lock = true;
        }
        if value & pp::PRESENT != 0 {
            f.physical_presence = true;
        }
        if value & pp::NOTPRESENT != 0 {
            f.physical_presence = false;
        }
        tpm.dirty.volatile = true;
    }
    Ok(Out::empty())
}

/// TPM_PhysicalEnable (Part 3 §9.2).
pub(crate) fn physical_enable(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::NOT_SHUTDOWN | check::NO_LOCKOUT)?;
    tpm.require_presence()?;
    tpm.perm.flags.disable = false;
    tpm.dirty.permanent = true;
    Ok(Out::empty())
}

/// TPM_PhysicalDisable (Part 3 §9.3).
pub(crate) fn physical_disable(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::NOT_SHUTDOWN | check::ENABLED | check::NO_LOCKOUT)?;
    tpm.require_presence()?;
    tpm.perm.flags.disable = true;
    tpm.dirty.permanent = true;
    Ok(Out::empty())
}

/// TPM_PhysicalSetDeactivated (Part 3 §9.4).
pub(crate) fn physical_set_deactivated(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let state = read_bool(&mut cmd.r)?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::ENABLED | check::NO_LOCKOUT)?;
    tpm.require_presence()?;
    tpm.perm.flags.deactivated = state;
    tpm.dirty.permanent = true;
    Ok(Out::empty())
}

/// TPM_SetOwnerInstall (Part 3 §9.1).
pub(crate) fn set_owner_install(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let state = read_bool(&mut cmd.r)?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    if tpm.perm.owner_auth.is_some() {
        return Err(TpmError::OwnerSet);
    }
    tpm.require_presence()?;
    tpm.perm.flags.ownership = state;
    tpm.dirty.permanent = true;
    Ok(Out::empty())
}

/// TPM_OwnerSetDisable (Part 3 §9.? "OwnerSetDisable").
pub(crate) fn owner_set_disable(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let state = read_bool(&mut cmd.r)?;
    tpm.check(cmd, check::NOT_SHUTDOWN | check::OWNER | check::NO_LOCKOUT)?;
    let digest = cmd.in_digest(0);
    tpm.owner_auth(cmd, 0, &digest)?;
    tpm.perm.flags.disable = state;
    tpm.dirty.permanent = true;
    Ok(Out::empty())
}

/// TPM_CreateEndorsementKeyPair (Part 3 §14.1).
pub(crate) fn create_endorsement_key_pair(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let anti_replay = read_digest(&mut cmd.r)?;
    let parms = KeyParms::parse(&mut cmd.r)?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    if tpm.perm.ek.is_some() {
        return Err(TpmError::DisabledCmd);
    }
    let rsa = parms.rsa_parms()?;
    if parms.enc_scheme != es::RSAESOAEP_SHA1_MGF1
        || parms.sig_scheme != ss::NONE
        || rsa.key_bits != 2048
        || !rsa.default_exponent
    {
        return Err(TpmError::BadKeyProperty);
    }
    let ek = RsaKeyPair::generate(&mut tpm.drbg, 2048, crypto::DEFAULT_EXPONENT)?;
    tpm.perm.ek = Some(ek);
    tpm.perm.flags.cekp_used = true;
    tpm.perm.flags.enable_revoke_ek = false;
    tpm.dirty.permanent = true;
    let pubkey = tpm.ek_pubkey()?.to_bytes();
    let checksum = crypto::sha1(&[&pubkey, &anti_replay]);
    let mut w = Writer::new();
    w.bytes(&pubkey).bytes(&checksum);
    Ok(Out::params(w.into_vec()))
}

/// TPM_ReadPubek (Part 3 §14.2).
pub(crate) fn read_pubek(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let anti_replay = read_digest(&mut cmd.r)?;
    tpm.check(cmd, check::ALLOW_NO_OWNER)?;
    if !tpm.perm.flags.read_pubek {
        return Err(TpmError::DisabledCmd);
    }
    let pubkey = tpm.ek_pubkey()?.to_bytes();
    let checksum = crypto::sha1(&[&pubkey, &anti_replay]);
    let mut w = Writer::new();
    w.bytes(&pubkey).bytes(&checksum);
    Ok(Out::params(w.into_vec()))
}

/// TPM_DisablePubekRead (Part 3 §14.? deprecated, kept for tpm-tools).
pub(crate) fn disable_pubek_read(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(0);
    tpm.owner_auth(cmd, 0, &digest)?;
    tpm.perm.flags.read_pubek = false;
    tpm.dirty.permanent = true;
    Ok(Out::empty())
}

/// TPM_OwnerReadPubek (Part 3 §14.4, deprecated).
pub(crate) fn owner_read_pubek(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(0);
    tpm.owner_auth(cmd, 0, &digest)?;
    Ok(Out::params(tpm.ek_pubkey()?.to_bytes()))
}

/// TPM_OwnerReadInternalPub (Part 3 §14.5): the EK or SRK public key.
pub(crate) fn owner_read_internal_pub(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let handle = cmd.r.u32()?;
    tpm.check(cmd, check::ALL)?;
    let digest = cmd.in_digest(0);
    tpm.owner_auth(cmd, 0, &digest)?;
    let pubkey = match handle {
        kh::EK => tpm.ek_pubkey()?,
        kh::SRK => tpm
            .perm
            .srk
            .as_ref()
            .map(|k: &TpmKey| k.public.pubkey())
            .ok_or(TpmError::InvalidKeyhandle)?,
        _ => return Err(TpmError::BadParameter),
    };
    Ok(Out::params(pubkey.to_bytes()))
}
