//! Hashes, HMACs and sequences: TPM2_Hash, TPM2_HMAC (Part 3 §15),
//! TPM2_HashSequenceStart, TPM2_HMAC_Start, TPM2_SequenceUpdate,
//! TPM2_SequenceComplete, TPM2_EventSequenceComplete (§17), and the symmetric
//! cipher commands TPM2_EncryptDecrypt / TPM2_EncryptDecrypt2 (§15.2, §15.3).

use crate::crypto::hash::{self, Hasher, SavableHmac};
use crate::crypto::sym::{Aes, BLOCK, aes_crypt};
use crate::dispatch::Cmd;
use crate::object::{Hierarchy, Sequence, SequenceKind, Slot};
use crate::types::{
    DigestValues, HashAlg, Marshal, PublicKind, Rc, Reader, SymDef, TPM_GENERATED_VALUE,
    TaggedHash, Ticket, TpmResult, handle as h, limits, object_attr as oa, put_2b, st,
};
use crate::{Secret, Tpm2, pcr};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Reads a `TPMI_RH_HIERARCHY+`.
fn get_hierarchy(r: &mut Reader<'_>) -> TpmResult<Hierarchy> {
    Hierarchy::from_handle(r.u32()?).ok_or(Rc::VALUE)
}

impl Tpm2 {
    /// The ticket for a digest the TPM computed: a hash-check ticket, unless the
    /// data started with TPM_GENERATED_VALUE or no hierarchy was named.
    fn hash_check_ticket(&self, hierarchy: Hierarchy, first: &[u8], digest: &[u8]) -> Ticket {
        let generated =
            first.len() >= 4 && first.get(..4) == Some(&TPM_GENERATED_VALUE.to_be_bytes()[..]);
        if hierarchy == Hierarchy::Null || generated {
            Ticket::null(st::HASHCHECK)
        } else {
            self.ticket(st::HASHCHECK, hierarchy, &[digest])
        }
    }
}

/// TPM2_Hash.
pub(crate) fn hash_cmd(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let data = cmd.params.b2(limits::MAX_BUFFER)?;
    let alg: HashAlg = cmd.params.get()?;
    let hierarchy = cmd.params.next(get_hierarchy)?;
    cmd.params.end()?;
    let digest = hash::digest(alg, &data);
    let ticket = tpm.hash_check_ticket(hierarchy, &data, &digest);
    put_2b(&mut cmd.out, &digest);
    ticket.marshal(&mut cmd.out);
    Ok(())
}

/// The HMAC hash of a keyed-hash signing key (`TPM2_HMAC`, `TPM2_HMAC_Start`).
fn hmac_key_hash(
    tpm: &Tpm2,
    handle: u32,
    requested: Option<HashAlg>,
) -> TpmResult<(HashAlg, Secret)> {
    let key = tpm.object(handle).ok_or(Rc::HANDLE.handle(1))?;
    let PublicKind::KeyedHash { scheme, .. } = &key.public.kind else {
        return Err(Rc::TYPE.handle(1));
    };
    if key.has(oa::RESTRICTED) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if !key.has(oa::SIGN_ENCRYPT) {
        return Err(Rc::KEY.handle(1));
    }
    let hash = match (scheme.hash_alg(), requested) {
        (Some(k), Some(r)) if k != r => return Err(Rc::VALUE.param(2)),
        (Some(k), _) => k,
        (None, Some(r)) => r,
        (None, None) => return Err(Rc::VALUE.param(2)),
    };
    let secret = key.sensitive.as_ref().ok_or(Rc::KEY.handle(1))?;
    Ok((hash, Secret::new(secret.sensitive.clone())))
}

/// TPM2_HMAC.
pub(crate) fn hmac_cmd(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let data = cmd.params.b2(limits::MAX_BUFFER)?;
    let requested = cmd.params.next(|r| HashAlg::unmarshal_opt(r, true))?;
    cmd.params.end()?;
    let (hash, key) = hmac_key_hash(tpm, cmd.handle(0)?, requested)?;
    put_2b(&mut cmd.out, &hash::hmac(hash, &key, &[&data]));
    Ok(())
}

/// TPM2_HashSequenceStart (TPM_ALG_NULL starts an event sequence).
pub(crate) fn hash_sequence_start(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let auth = cmd.params.b2(limits::MAX_DIGEST)?;
    let alg = cmd.params.next(|r| HashAlg::unmarshal_opt(r, true))?;
    cmd.params.end()?;
    let kind = match alg {
        Some(a) => SequenceKind::Hash { hasher: Hasher::new(a), first: Vec::new() },
        None => {
            SequenceKind::Event { hashers: HashAlg::ALL.iter().map(|&a| Hasher::new(a)).collect() }
        }
    };
    let seq = Sequence { auth: Secret::new(auth), kind };
    cmd.out_handle = Some(tpm.load_slot(Slot::Sequence(Box::new(seq)))?);
    Ok(())
}

/// TPM2_HMAC_Start.
pub(crate) fn hmac_start(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let auth = cmd.params.b2(limits::MAX_DIGEST)?;
    let requested = cmd.params.next(|r| HashAlg::unmarshal_opt(r, true))?;
    cmd.params.end()?;
    let (hash, key) = hmac_key_hash(tpm, cmd.handle(0)?, requested)?;
    let seq = Sequence {
        auth: Secret::new(auth),
        kind: SequenceKind::Hmac { mac: SavableHmac::new(hash, &key) },
    };
    cmd.out_handle = Some(tpm.load_slot(Slot::Sequence(Box::new(seq)))?);
    Ok(())
}

fn sequence_mut(tpm: &mut Tpm2, handle: u32) -> TpmResult<&mut Sequence> {
    let slot = crate::entity::transient_slot(handle).ok_or(Rc::MODE.handle(1))?;
    match tpm.v.objects.get_mut(slot) {
        Some(Some(Slot::Sequence(s))) => Ok(s),
        _ => Err(Rc::MODE.handle(1)),
    }
}

fn update(seq: &mut Sequence, data: &[u8]) {
    match &mut seq.kind {
        SequenceKind::Hash { hasher, first } => {
            if first.len() < 4 {
                let take = (4 - first.len()).min(data.len());
                first.extend_from_slice(data.get(..take).unwrap_or_default());
            }
            hasher.update(data);
        }
        SequenceKind::Event { hashers } => {
            for h in hashers.iter_mut() {
                h.update(data);
            }
        }
        SequenceKind::Hmac { mac } => mac.update(data),
    }
}

/// TPM2_SequenceUpdate.
pub(crate) fn sequence_update(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let data = cmd.params.b2(limits::MAX_BUFFER)?;
    cmd.params.end()?;
    let seq = sequence_mut(tpm, cmd.handle(0)?)?;
    update(seq, &data);
    Ok(())
}

/// TPM2_SequenceComplete.
pub(crate) fn sequence_complete(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let data = cmd.params.b2(limits::MAX_BUFFER)?;
    let hierarchy = cmd.params.next(get_hierarchy)?;
    cmd.params.end()?;
    let handle = cmd.handle(0)?;
    let seq = sequence_mut(tpm, handle)?;
    if matches!(seq.kind, SequenceKind::Event { .. }) {
        return Err(Rc::MODE.handle(1));
    }
    update(seq, &data);
    let seq = seq.clone();
    tpm.flush_object(handle);
    let (digest, ticket) = match seq.kind {
        SequenceKind::Hash { hasher, first } => {
            let d = hasher.finish();
            let t = tpm.hash_check_ticket(hierarchy, &first, &d);
            (d, t)
        }
        SequenceKind::Hmac { mac } => (mac.finish(), Ticket::null(st::HASHCHECK)),
        SequenceKind::Event { .. } => return Err(Rc::MODE.handle(1)),
    };
    put_2b(&mut cmd.out, &digest);
    ticket.marshal(&mut cmd.out);
    Ok(())
}

/// TPM2_EventSequenceComplete: extends the PCR in every allocated bank.
pub(crate) fn event_sequence_complete(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let data = cmd.params.b2(limits::MAX_BUFFER)?;
    cmd.params.end()?;
    let (pcr_handle, handle) = (cmd.handle(0)?, cmd.handle(1)?);
    let pcr_index = if pcr_handle == h::NULL {
        None
    } else {
        let p = usize::try_from(pcr_handle).map_err(|_| Rc::VALUE.handle(1))?;
        if !pcr::extend_allowed(p, cmd.locality) {
            return Err(Rc::LOCALITY);
        }
        Some(p)
    };
    let seq = sequence_mut(tpm, handle).map_err(|_| Rc::MODE.handle(2))?;
    let SequenceKind::Event { .. } = seq.kind else { return Err(Rc::MODE.handle(2)) };
    update(seq, &data);
    let seq = seq.clone();
    tpm.flush_object(handle);
    let SequenceKind::Event { hashers } = seq.kind else { return Err(Rc::MODE.handle(2)) };
    let mut out = DigestValues::default();
    for hsh in hashers {
        let alg = hsh.alg();
        let digest = hsh.finish();
        if let Some(p) = pcr_index {
            tpm.pcr_extend(p, alg, &digest);
        }
        out.0.push(TaggedHash { hash: alg, digest });
    }
    out.marshal(&mut cmd.out);
    Ok(())
}

/// The shared part of TPM2_EncryptDecrypt and TPM2_EncryptDecrypt2.
/// Where the parameters of an EncryptDecrypt variant sit (for error numbers).
struct ParamNumbers {
    mode: usize,
    iv: usize,
    data: usize,
}

fn encrypt_decrypt(
    tpm: &mut Tpm2,
    cmd: &mut Cmd<'_>,
    decrypt: bool,
    mode: u16,
    iv_in: Vec<u8>,
    data: Vec<u8>,
    n: ParamNumbers,
) -> TpmResult<()> {
    let key = tpm.object(cmd.handle(0)?).ok_or(Rc::HANDLE.handle(1))?;
    let PublicKind::SymCipher { sym, .. } = &key.public.kind else { return Err(Rc::KEY.handle(1)) };
    if key.has(oa::RESTRICTED) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    // decrypt → the key's decrypt attribute; encrypt → its sign (encrypt) one.
    let allowed = if decrypt { key.has(oa::DECRYPT) } else { key.has(oa::SIGN_ENCRYPT) };
    if !allowed {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let SymDef::Aes { mode: key_mode, .. } = *sym else { return Err(Rc::KEY.handle(1)) };
    let mode = if key_mode == crate::types::alg::NULL {
        if mode == crate::types::alg::NULL {
            return Err(Rc::MODE.param(n.mode));
        }
        mode
    } else {
        if mode != crate::types::alg::NULL && mode != key_mode {
            return Err(Rc::MODE.param(n.mode));
        }
        key_mode
    };
    // ECB takes an empty ivIn, every other mode one block (Part 3 §15.2.1).
    let iv_size = if mode == crate::types::alg::ECB { 0 } else { BLOCK };
    if iv_in.len() != iv_size {
        return Err(Rc::SIZE.param(n.iv));
    }
    if matches!(mode, crate::types::alg::CBC | crate::types::alg::ECB)
        && !data.len().is_multiple_of(BLOCK)
    {
        return Err(Rc::SIZE.param(n.data));
    }
    let secret = key.sensitive.as_ref().ok_or(Rc::KEY.handle(1))?;
    let aes = Aes::new(&secret.sensitive)?;
    let mut iv = [0u8; BLOCK];
    if let Some(given) = iv_in.get(..BLOCK) {
        iv.copy_from_slice(given);
    }
    let mut out = Secret::new(data);
    aes_crypt(&aes, mode, &mut iv, decrypt, &mut out)?;
    put_2b(&mut cmd.out, &out);
    put_2b(&mut cmd.out, if mode == crate::types::alg::ECB { &iv_in } else { &iv });
    Ok(())
}

/// TPM2_EncryptDecrypt (data last).
pub(crate) fn encrypt_decrypt1(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let decrypt = cmd.params.yes_no()?;
    let mode = cmd.params.next(|r| crate::types::unmarshal_cipher_mode(r, true))?;
    let iv = cmd.params.b2(limits::MAX_IV)?;
    let data = cmd.params.b2(limits::MAX_BUFFER)?;
    cmd.params.end()?;
    encrypt_decrypt(tpm, cmd, decrypt, mode, iv, data, ParamNumbers { mode: 2, iv: 3, data: 4 })
}

/// TPM2_EncryptDecrypt2 (data first, so that it can be parameter-encrypted).
pub(crate) fn encrypt_decrypt2(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let data = cmd.params.b2(limits::MAX_BUFFER)?;
    let decrypt = cmd.params.yes_no()?;
    let mode = cmd.params.next(|r| crate::types::unmarshal_cipher_mode(r, true))?;
    let iv = cmd.params.b2(limits::MAX_IV)?;
    cmd.params.end()?;
    encrypt_decrypt(tpm, cmd, decrypt, mode, iv, data, ParamNumbers { mode: 3, iv: 4, data: 1 })
}
