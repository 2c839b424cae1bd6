//! TPM_GetCapability (Part 3 §7.1) and the capability areas (Part 2 §21).
//!
//! Where a value is the vendor's choice the engine reports libtpms's (sizes of the
//! session, key, counter and context tables), so swtpm and this engine answer
//! alike; the timeouts, durations and version come from [`crate::Config`].

use alloc::vec::Vec;
use tpm_engine::wire::{Reader, Writer};

use crate::consts::{NUM_PCRS, PCR_SELECT_BYTES, alg, cap, es, pid, rt, stag};
use crate::engine::{Cmd, MAX_CONTEXTS, MAX_COUNTERS, MAX_KEYS, MAX_SESSIONS, Out, Tpm12, check};
use crate::error::{TpmError, TpmResult};
use crate::structs::{KeyParms, MAX_FIELD, write_sized};

/// libtpms: transport sessions (not implemented here, but the table size is
/// reported as libtpms does so capability answers agree).
const MAX_TRANS_SESSIONS: u32 = 16;
/// Family table rows (delegation; reported like libtpms).
const FAMILY_ROWS: u32 = 16;
/// Delegate table rows.
const DELEGATE_ROWS: u32 = 4;
/// DAA sessions.
const MAX_DAA_SESSIONS: u32 = 2;
/// TPM_STARTUP_EFFECTS: keys are flushed by any Startup, hash state restored by
/// ST_STATE, auditDigest cleared by ST_CLEAR (Part 2 §4.7).
const STARTUP_EFFECTS: u32 = 0x54;
/// Total NV space offered (libtpms reports what is left of 28 666 bytes).
pub(crate) const NV_SPACE: u32 = 0x6FFA;

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// TPM_GetCapability.
pub(crate) fn get_capability(tpm: &mut Tpm12, cmd: &mut Cmd<'_>) -> TpmResult<Out> {
    let area = cmd.r.u32()?;
    let sub = cmd.r.sized_u32(MAX_FIELD)?;
    tpm.check(cmd, check::NO_LOCKOUT)?;
    // Part 3 §7.1 action 3: in failure or limited mode only the version, vendor,
    // timeout and duration answers are guaranteed; limited mode runs the remaining
    // self tests first, failure mode refuses the rest.
    let sub32 = <[u8; 4]>::try_from(sub).map(u32::from_be_bytes).ok();
    let always = matches!(area, cap::VERSION | cap::VERSION_VAL | cap::MFR)
        || (area == cap::PROPERTY
            && matches!(
                sub32,
                Some(cap::PROP_MANUFACTURER | cap::PROP_DURATION | cap::PROP_TIS_TIMEOUT)
            ));
    if !always {
        match tpm.vol.test_state {
            crate::state::TestState::Failed => return Err(TpmError::Failedselftest),
            crate::state::TestState::Limited => tpm.vol.test_state = crate::state::TestState::Full,
            crate::state::TestState::Full => {}
        }
    }
    let resp = capability(tpm, area, sub)?;
    let mut w = Writer::with_capacity(resp.len() + 4);
    write_sized(&mut w, &resp);
    Ok(Out::params(w.into_vec()))
}

fn sub32(sub: &[u8]) -> TpmResult<u32> {
    let bytes: [u8; 4] = sub.try_into().map_err(|_| TpmError::BadMode)?;
    Ok(u32::from_be_bytes(bytes))
}

fn sub16(sub: &[u8]) -> TpmResult<u16> {
    let bytes: [u8; 2] = sub.try_into().map_err(|_| TpmError::BadMode)?;
    Ok(u16::from_be_bytes(bytes))
}

/// The answer of one capability area (without the size prefix).
pub(crate) fn capability(tpm: &Tpm12, area: u32, sub: &[u8]) -> TpmResult<Vec<u8>> {
    let mut w = Writer::new();
    match area {
        cap::ORD => {
            let ordinal = sub32(sub)?;
            w.u8(super::lookup(ordinal).is_some().into());
        }
        cap::ALG => {
            w.u8((sub32(sub)? == alg::RSA).into());
        }
        cap::PID => {
            let p = sub16(sub)?;
            // OIAP, OSAP, ADIP and the owner protocol are implemented; DSAP,
            // transport and ADCP are not.
            w.u8(matches!(p, pid::OIAP | pid::OSAP | pid::ADIP | pid::OWNER).into());
        }
        cap::FLAG => match sub32(sub)? {
            cap::FLAG_PERMANENT => {
                w.u16(stag::PERMANENT_FLAGS);
                for f in tpm.perm.flags.to_array() {
                    w.u8(f.into());
                }
            }
            cap::FLAG_VOLATILE => {
                w.u16(stag::STCLEAR_FLAGS);
                for f in tpm.vol.flags.to_array() {
                    w.u8(f.into());
                }
            }
            _ => return Err(TpmError::BadMode),
        },
        cap::PROPERTY => property(tpm, sub32(sub)?, &mut w)?,
        cap::VERSION => {
            w.bytes(&crate::structs::STRUCT_VER_11);
        }
        cap::KEY_HANDLE => key_handles(tpm, &mut w),
        cap::CHECK_LOADED => {
            let mut r = Reader::new(sub);
            let parms = KeyParms::parse(&mut r)?;
            w.u8((parms.algorithm == alg::RSA && tpm.vol.keys.len() < MAX_KEYS).into());
        }
        cap::SYM_MODE => {
            sub32(sub)?;
            w.u8(0);
        }
        cap::KEY_STATUS => {
            let handle = sub32(sub)?;
            // ownerEvict: no key is owner-evict in this engine.
            tpm.key(handle)?;
            w.u8(0);
        }
        cap::NV_LIST => {
            for n in &tpm.perm.nv {
                w.u32(n.public.index);
            }
        }
        cap::MFR => return Err(TpmError::BadMode),
        cap::NV_INDEX => {
            let index = sub32(sub)?;
            let nv =
                tpm.perm.nv.iter().find(|n| n.public.index == index).ok_or(TpmError::Badindex)?;
            nv.public.write(&mut w);
        }
        cap::TRANS_ALG => {
            sub32(sub)?;
            w.u8(0);
        }
        cap::HANDLE => match sub32(sub)? {
            rt::KEY => key_handles(tpm, &mut w),
            rt::AUTH => {
                w.u16(u16::try_from(tpm.vol.sessions.len()).unwrap_or(u16::MAX));
                for s in &tpm.vol.sessions {
                    w.u32(s.handle);
                }
            }
            rt::CONTEXT => {
                w.u16(u16::try_from(tpm.vol.context_list.len()).unwrap_or(u16::MAX));
                for c in &tpm.vol.context_list {
                    w.u32(*c);
                }
            }
            rt::COUNTER => {
                w.u16(u16::try_from(tpm.perm.counters.len()).unwrap_or(u16::MAX));
                for c in &tpm.perm.counters {
                    w.u32(c.id);
                }
            }
            rt::TRANS | rt::DAA_TPM => {
                w.u16(0);
            }
            _ => return Err(TpmError::BadParameter),
        },
        cap::TRANS_ES => {
            sub16(sub)?;
            w.u8(0);
        }
        cap::AUTH_ENCRYPT => {
            w.u8((sub32(sub)? == alg::XOR).into());
        }
        cap::SELECT_SIZE => {
            // TPM_SELECT_SIZE: major, minor, reqSize.
            let mut r = Reader::new(sub);
            let _major = r.u8()?;
            let _minor = r.u8()?;
            let size = r.u16()?;
            w.u8((size != 0 && usize::from(size) <= PCR_SELECT_BYTES).into());
        }
        cap::DA_LOGIC => da_info(tpm, &mut w),
        cap::VERSION_VAL => {
            let v = &tpm.config.version;
            w.u16(stag::CAP_VERSION_INFO).u8(1).u8(2).u8(v.rev_major).u8(v.rev_minor);
            w.u16(v.spec_level).u8(v.errata_rev).bytes(&v.vendor_id);
            w.u16(u16::try_from(v.vendor_specific.len()).unwrap_or(0));
            w.bytes(v.vendor_specific.get(..usize::from(u16::MAX)).unwrap_or(&v.vendor_specific));
        }
        _ => return Err(TpmError::BadMode),
    }
    let _ = es::NONE;
    Ok(w.into_vec())
}

fn key_handles(tpm: &Tpm12, w: &mut Writer) {
    // TPM_KEY_HANDLE_LIST: loaded keys, without the SRK and EK (Part 2 §21.1).
    w.u16(u16::try_from(tpm.vol.keys.len()).unwrap_or(u16::MAX));
    for k in &tpm.vol.keys {
        w.u32(k.handle);
    }
}

fn property(tpm: &Tpm12, prop: u32, w: &mut Writer) -> TpmResult<()> {
    match prop {
        cap::PROP_PCR => {
            w.u32(count(NUM_PCRS));
        }
        cap::PROP_DIR => {
            w.u32(1);
        }
        cap::PROP_MANUFACTURER => {
            w.bytes(&tpm.config.version.vendor_id);
        }
        cap::PROP_KEYS => {
            w.u32(count(MAX_KEYS.saturating_sub(tpm.vol.keys.len())));
        }
        cap::PROP_MIN_COUNTER => {
            w.u32(0);
        }
        cap::PROP_AUTHSESS => {
            w.u32(count(MAX_SESSIONS.saturating_sub(tpm.vol.sessions.len())));
        }
        cap::PROP_TRANSESS => {
            w.u32(MAX_TRANS_SESSIONS);
        }
        cap::PROP_COUNTERS => {
            w.u32(count(MAX_COUNTERS.saturating_sub(tpm.perm.counters.len())));
        }
        cap::PROP_MAX_AUTHSESS => {
            w.u32(count(MAX_SESSIONS));
        }
        cap::PROP_MAX_TRANSESS => {
            w.u32(MAX_TRANS_SESSIONS);
        }
        cap::PROP_MAX_COUNTERS => {
            w.u32(count(MAX_COUNTERS));
        }
        cap::PROP_MAX_KEYS => {
            w.u32(count(MAX_KEYS));
        }
        cap::PROP_OWNER => {
            w.u8(tpm.perm.owner_auth.is_some().into());
        }
        cap::PROP_CONTEXT => {
            w.u32(count(MAX_CONTEXTS.saturating_sub(tpm.vol.context_list.len())));
        }
        cap::PROP_MAX_CONTEXT => {
            w.u32(count(MAX_CONTEXTS));
        }
        cap::PROP_FAMILYROWS => {
            w.u32(FAMILY_ROWS);
        }
        cap::PROP_TIS_TIMEOUT => {
            for t in tpm.config.timeouts_us {
                w.u32(t);
            }
        }
        cap::PROP_STARTUP_EFFECT => {
            w.u32(STARTUP_EFFECTS);
        }
        cap::PROP_DELEGATE_ROW => {
            w.u32(DELEGATE_ROWS);
        }
        cap::PROP_MAX_DAASESS | cap::PROP_DAASESS => {
            w.u32(MAX_DAA_SESSIONS);
        }
        cap::PROP_CONTEXT_DIST => {
            w.u32(u32::MAX);
        }
        cap::PROP_DAA_INTERRUPT => {
            w.u8(1);
        }
        cap::PROP_SESSIONS => {
            w.u32(
                count(MAX_SESSIONS.saturating_sub(tpm.vol.sessions.len()))
                    .saturating_add(MAX_TRANS_SESSIONS),
            );
        }
        cap::PROP_MAX_SESSIONS => {
            w.u32(count(MAX_SESSIONS).saturating_add(MAX_TRANS_SESSIONS));
        }
        cap::PROP_CMK_RESTRICTION => {
            w.u32(0);
        }
        cap::PROP_DURATION => {
            for d in tpm.config.durations_us {
                w.u32(d);
            }
        }
        cap::PROP_ACTIVE_COUNTER => {
            w.u32(tpm.vol.active_counter.unwrap_or(u32::MAX));
        }
        cap::PROP_MAX_NV_AVAILABLE => {
            w.u32(super::nv::free_space(tpm));
        }
        cap::PROP_INPUT_BUFFER => {
            w.u32(count(tpm.buffer_size));
        }
        _ => return Err(TpmError::BadMode),
    }
    Ok(())
}

/// TPM_DA_INFO (Part 2 §21.7): one counter for all entity types.
fn da_info(tpm: &Tpm12, w: &mut Writer) {
    let locked = tpm.da_locked_out();
    let remaining_s = tpm.vol.da_lockout_until_ms.saturating_sub(tpm.vol.now_ms).div_ceil(1000);
    w.u16(stag::DA_INFO).u8(locked.into());
    w.u16(u16::try_from(tpm.perm.da.fail_count).unwrap_or(u16::MAX));
    w.u16(u16::try_from(Tpm12::DA_THRESHOLD).unwrap_or(u16::MAX));
    // actionAtThreshold: TPM_DA_ACTION_TIMEOUT.
    w.u16(stag::DA_ACTION_TYPE).u32(1);
    w.u32(u32::try_from(remaining_s).unwrap_or(u32::MAX));
    w.u32(0);
}
