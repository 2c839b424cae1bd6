//! TPM2_GetCapability and TPM2_TestParms (Part 3 §30.2, §30.3).

use crate::dispatch::Cmd;
use crate::session::SessionSlot;
use crate::state::{MAX_LOADED_SESSIONS, MAX_OBJECTS, MAX_PERSISTENT, MAX_SESSIONS};
use crate::types::{
    EccCurve, HashAlg, Marshal, PcrSelection, PcrSelectionList, Public, Rc, SymDef, TpmResult, alg,
    alg_attr as aa, cap, handle as h, limits, nv_attr, pt, pt_pcr,
};
use crate::{Tpm2, commands, pcr};
use alloc::vec::Vec;

/// The capability buffer size (`MAX_CAP_BUFFER`): every list is cut so that its
/// `TPMS_CAPABILITY_DATA` fits.
const MAX_CAP_DATA: usize = 1024 - 4 - 4;

/// The implemented algorithms and their `TPMA_ALGORITHM` (Part 2 §8.2).
pub const ALGORITHMS: &[(u16, u32)] = &[
    (alg::RSA, aa::ASYMMETRIC | aa::OBJECT),
    (alg::SHA1, aa::HASH),
    (alg::HMAC, aa::HASH | aa::SIGNING),
    (alg::AES, aa::SYMMETRIC),
    (alg::MGF1, aa::HASH | aa::METHOD),
    (alg::KEYEDHASH, aa::HASH | aa::OBJECT | aa::SIGNING | aa::ENCRYPTING),
    (alg::XOR, aa::SYMMETRIC | aa::HASH),
    (alg::SHA256, aa::HASH),
    (alg::SHA384, aa::HASH),
    (alg::SHA512, aa::HASH),
    (alg::RSASSA, aa::ASYMMETRIC | aa::SIGNING),
    (alg::RSAES, aa::ASYMMETRIC | aa::ENCRYPTING),
    (alg::RSAPSS, aa::ASYMMETRIC | aa::SIGNING),
    (alg::OAEP, aa::ASYMMETRIC | aa::ENCRYPTING),
    (alg::ECDSA, aa::ASYMMETRIC | aa::SIGNING),
    (alg::ECDH, aa::ASYMMETRIC | aa::METHOD),
    (alg::KDF1_SP800_56A, aa::HASH | aa::METHOD),
    (alg::KDF1_SP800_108, aa::HASH | aa::METHOD),
    (alg::ECC, aa::ASYMMETRIC | aa::OBJECT),
    (alg::SYMCIPHER, aa::OBJECT),
    (alg::CTR, aa::SYMMETRIC | aa::ENCRYPTING),
    (alg::OFB, aa::SYMMETRIC | aa::ENCRYPTING),
    (alg::CBC, aa::SYMMETRIC | aa::ENCRYPTING),
    (alg::CFB, aa::SYMMETRIC | aa::ENCRYPTING),
    (alg::ECB, aa::SYMMETRIC | aa::ENCRYPTING),
];

/// Vendor identity. The specification leaves these to the vendor.
pub mod vendor {
    /// TPM_PT_MANUFACTURER: "RUST".
    pub const MANUFACTURER: u32 = 0x5255_5354;
    /// TPM_PT_VENDOR_STRING_1..4: "vTPM", " Xen", 0, 0.
    pub const STRINGS: [u32; 4] = [0x7654_504D, 0x2058_656E, 0, 0];
    /// TPM_PT_FIRMWARE_VERSION_1 / _2: the engine version.
    pub const FIRMWARE: [u32; 2] = [0x0001_0000, 0];
    /// The specification level implemented: revision 1.59 (Nov 2019).
    pub const REVISION: u32 = 159;
    /// Day of year of that revision.
    pub const DAY_OF_YEAR: u32 = 312;
    /// Year of that revision.
    pub const YEAR: u32 = 2019;
    /// The 64-bit firmware version in attestation structures.
    pub fn firmware_version() -> u64 {
        (u64::from(FIRMWARE[0]) << 32) | u64::from(FIRMWARE[1])
    }
}

impl Tpm2 {
    fn loaded_sessions(&self) -> usize {
        self.v.sessions.iter().filter(|s| matches!(s, Some(SessionSlot::Loaded(_)))).count()
    }

    fn active_sessions(&self) -> usize {
        self.v.sessions.iter().filter(|s| s.is_some()).count()
    }

    fn counter_indices(&self) -> usize {
        self.p.nv.values().filter(|i| i.public.nt() == nv_attr::NT_COUNTER).count()
    }

    /// The value of a TPM property, if it exists.
    pub(crate) fn property(&self, tag: u32) -> Option<u32> {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let p = &self.p;
        let v = &self.v;
        Some(match tag {
            pt::FAMILY_INDICATOR => 0x322E_3000,
            pt::LEVEL => 0,
            pt::REVISION => vendor::REVISION,
            pt::DAY_OF_YEAR => vendor::DAY_OF_YEAR,
            pt::YEAR => vendor::YEAR,
            pt::MANUFACTURER => vendor::MANUFACTURER,
            pt::VENDOR_STRING_1 => vendor::STRINGS[0],
            pt::VENDOR_STRING_2 => vendor::STRINGS[1],
            pt::VENDOR_STRING_3 => vendor::STRINGS[2],
            pt::VENDOR_STRING_4 => vendor::STRINGS[3],
            pt::VENDOR_TPM_TYPE => 1,
            pt::FIRMWARE_VERSION_1 => vendor::FIRMWARE[0],
            pt::FIRMWARE_VERSION_2 => vendor::FIRMWARE[1],
            pt::INPUT_BUFFER => count(limits::MAX_BUFFER),
            pt::HR_TRANSIENT_MIN => count(MAX_OBJECTS),
            pt::HR_PERSISTENT_MIN => 7,
            pt::HR_LOADED_MIN => count(MAX_LOADED_SESSIONS),
            pt::ACTIVE_SESSIONS_MAX => count(MAX_SESSIONS),
            pt::PCR_COUNT => count(limits::PCR_COUNT),
            pt::PCR_SELECT_MIN => count(limits::PCR_SELECT),
            pt::CONTEXT_GAP_MAX => 0xFFFF,
            pt::NV_COUNTERS_MAX => 0,
            pt::NV_INDEX_MAX => count(limits::MAX_NV_INDEX_SIZE),
            // sharedRAM = 0, sharedNV = 1, objectCopiedToRam = 1.
            pt::MEMORY => 6,
            pt::CLOCK_UPDATE => 4096,
            pt::CONTEXT_HASH => u32::from(crate::commands::context::CONTEXT_HASH.id()),
            pt::CONTEXT_SYM => u32::from(alg::AES),
            pt::CONTEXT_SYM_SIZE => 256,
            pt::ORDERLY_COUNT => 255,
            pt::MAX_COMMAND_SIZE | pt::MAX_RESPONSE_SIZE => count(self.buffer_size),
            pt::MAX_DIGEST => count(limits::MAX_DIGEST),
            pt::MAX_OBJECT_CONTEXT => count(limits::MAX_CONTEXT_DATA + 16),
            pt::MAX_SESSION_CONTEXT => 0x194,
            pt::PS_FAMILY_INDICATOR => 1,
            pt::PS_LEVEL => 0,
            pt::PS_REVISION => 0x0105,
            pt::PS_DAY_OF_YEAR => 0,
            pt::PS_YEAR => 0,
            pt::SPLIT_MAX => 128,
            pt::TOTAL_COMMANDS | pt::LIBRARY_COMMANDS => count(commands::TABLE.len()),
            pt::VENDOR_COMMANDS => 0,
            pt::NV_BUFFER_MAX => count(limits::MAX_NV_BUFFER),
            pt::MODES => 0,
            pt::MAX_CAP_BUFFER => 1024,
            pt::PERMANENT => {
                u32::from(!p.owner_auth.is_empty())
                    | u32::from(!p.endorsement_auth.is_empty()) << 1
                    | u32::from(!p.lockout_auth.is_empty()) << 2
                    | u32::from(p.disable_clear) << 8
                    | u32::from(p.da.failed_tries >= p.da.max_tries) << 9
                    | 1 << 10
            }
            pt::STARTUP_CLEAR => {
                u32::from(v.ph_enable)
                    | u32::from(v.sh_enable) << 1
                    | u32::from(v.eh_enable) << 2
                    | u32::from(v.ph_enable_nv) << 3
                    | u32::from(v.orderly_startup) << 31
            }
            pt::HR_NV_INDEX => count(p.nv.len()),
            pt::HR_LOADED => count(self.loaded_sessions()),
            pt::HR_LOADED_AVAIL => {
                count(MAX_LOADED_SESSIONS.saturating_sub(self.loaded_sessions()))
            }
            pt::HR_ACTIVE => count(self.active_sessions()),
            pt::HR_ACTIVE_AVAIL => count(MAX_SESSIONS.saturating_sub(self.active_sessions())),
            pt::HR_TRANSIENT_AVAIL => count(v.objects.iter().filter(|o| o.is_none()).count()),
            pt::HR_PERSISTENT => count(p.objects.len()),
            pt::HR_PERSISTENT_AVAIL => count(MAX_PERSISTENT.saturating_sub(p.objects.len())),
            pt::NV_COUNTERS => count(self.counter_indices()),
            pt::NV_COUNTERS_AVAIL => count(64usize.saturating_sub(self.counter_indices())),
            pt::ALGORITHM_SET => 0,
            pt::LOADED_CURVES => count(EccCurve::ALL.len()),
            pt::LOCKOUT_COUNTER => p.da.failed_tries,
            pt::MAX_AUTH_FAIL => p.da.max_tries,
            pt::LOCKOUT_INTERVAL => p.da.recovery_time,
            pt::LOCKOUT_RECOVERY => p.da.lockout_recovery,
            pt::NV_WRITE_RECOVERY => 0,
            // The audit counter's high and low 32 bits.
            pt::AUDIT_COUNTER_0 => u32::try_from(p.audit_counter >> 32).unwrap_or(0),
            pt::AUDIT_COUNTER_1 => u32::try_from(p.audit_counter & 0xFFFF_FFFF).unwrap_or(0),
            _ => return None,
        })
    }

    /// The PCR allocation as TPM_CAP_PCRS reports it: every implemented bank, with
    /// an empty bitmap if it is not allocated.
    pub(crate) fn pcr_allocation(&self) -> PcrSelectionList {
        PcrSelectionList(
            HashAlg::ALL
                .iter()
                .map(|&a| {
                    let all: Vec<u32> = (0..pcr::PCR_COUNT_HANDLES).collect();
                    if self.p.pcr_allocation.contains(&a) {
                        PcrSelection::new(a, &all)
                    } else {
                        PcrSelection::new(a, &[])
                    }
                })
                .collect(),
        )
    }

    fn handle_list(&self, first: u32) -> TpmResult<Vec<u32>> {
        let mut list: Vec<u32> = match h::kind(first) {
            h::HT_TRANSIENT => self
                .v
                .objects
                .iter()
                .enumerate()
                .filter(|(_, o)| o.is_some())
                .filter_map(|(i, _)| u32::try_from(i).ok().map(|i| h::TRANSIENT_FIRST + i))
                .collect(),
            h::HT_PERSISTENT => self.p.objects.keys().copied().collect(),
            h::HT_NV_INDEX => self.p.nv.keys().copied().collect(),
            h::HT_HMAC_SESSION => self
                .v
                .sessions
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match s {
                    Some(SessionSlot::Loaded(sess)) => {
                        let base = if sess.is_policy() {
                            h::POLICY_SESSION_FIRST
                        } else {
                            h::HMAC_SESSION_FIRST
                        };
                        u32::try_from(i).ok().map(|i| base + i)
                    }
                    _ => None,
                })
                .collect(),
            h::HT_POLICY_SESSION => self
                .v
                .sessions
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match s {
                    Some(SessionSlot::Saved { .. }) => {
                        u32::try_from(i).ok().map(|i| h::HMAC_SESSION_FIRST + i)
                    }
                    _ => None,
                })
                .collect(),
            h::HT_PCR => (0..pcr::PCR_COUNT_HANDLES).collect(),
            h::HT_PERMANENT => {
                alloc::vec![
                    h::OWNER,
                    h::NULL,
                    h::PW,
                    h::LOCKOUT,
                    h::ENDORSEMENT,
                    h::PLATFORM,
                    h::PLATFORM_NV
                ]
            }
            _ => return Err(Rc::HANDLE.param(2)),
        };
        // Session lists compare the slot index only.
        let key = |x: u32| {
            if matches!(h::kind(first), h::HT_HMAC_SESSION | h::HT_POLICY_SESSION) {
                x & 0xFF_FFFF
            } else {
                x
            }
        };
        list.retain(|&x| key(x) >= key(first));
        list.sort_by_key(|&x| key(x));
        Ok(list)
    }
}

/// Cuts `items` to `count` and the capability buffer; returns (taken, moreData).
fn take<T: Clone>(items: &[T], count: u32, item_size: usize) -> (Vec<T>, bool) {
    let max = (MAX_CAP_DATA / item_size.max(1)).min(usize::try_from(count).unwrap_or(usize::MAX));
    let taken: Vec<T> = items.iter().take(max).cloned().collect();
    let more = items.len() > taken.len();
    (taken, more)
}

/// TPM2_GetCapability.
pub(crate) fn get_capability(tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    let capability = cmd.params.u32()?;
    let property = cmd.params.u32()?;
    let count = cmd.params.u32()?;
    cmd.params.end()?;
    let mut body = crate::types::Writer::new();
    let more = match capability {
        cap::ALGS => {
            let first = u16::try_from(property).unwrap_or(u16::MAX);
            let items: Vec<(u16, u32)> = ALGORITHMS
                .iter()
                .copied()
                .filter(|(a, _)| *a >= first && property <= 0xFFFF)
                .collect();
            let (items, more) = take(&items, count, 6);
            body.u32(u32::try_from(items.len()).unwrap_or(0));
            for (a, attrs) in items {
                body.u16(a).u32(attrs);
            }
            more
        }
        cap::HANDLES => {
            let items = tpm.handle_list(property)?;
            let (items, more) = take(&items, count, 4);
            body.u32(u32::try_from(items.len()).unwrap_or(0));
            for x in items {
                body.u32(x);
            }
            more
        }
        cap::COMMANDS => {
            // Vendor-specific command codes (bit 29) would follow; there are none.
            let vendor = property & 0x2000_0000 != 0;
            let first = property & 0xFFFF;
            let items: Vec<u32> = commands::TABLE
                .iter()
                .filter(|c| !vendor && c.cc >= first)
                .map(|c| c.tpma_cc())
                .collect();
            let (items, more) = take(&items, count, 4);
            body.u32(u32::try_from(items.len()).unwrap_or(0));
            for x in items {
                body.u32(x);
            }
            more
        }
        cap::PP_COMMANDS => {
            // No command requires physical presence.
            body.u32(0);
            false
        }
        cap::AUDIT_COMMANDS => {
            let items = tpm.audited_commands_from(property);
            let (items, more) = take(&items, count, 4);
            body.u32(u32::try_from(items.len()).unwrap_or(0));
            for x in items {
                body.u32(x);
            }
            more
        }
        cap::PCRS => {
            if property != 0 {
                return Err(Rc::VALUE.param(2));
            }
            tpm.pcr_allocation().marshal(&mut body);
            false
        }
        cap::TPM_PROPERTIES => {
            let tags: Vec<u32> = (pt::FIXED..=pt::MAX_CAP_BUFFER)
                .chain(pt::VAR..=pt::AUDIT_COUNTER_1)
                .filter(|&t| t >= property && tpm.property(t).is_some())
                .collect();
            let (tags, more) = take(&tags, count, 8);
            body.u32(u32::try_from(tags.len()).unwrap_or(0));
            for t in tags {
                body.u32(t).u32(tpm.property(t).unwrap_or(0));
            }
            more
        }
        cap::PCR_PROPERTIES => {
            let tags: Vec<u32> = (pt_pcr::SAVE..=pt_pcr::LAST)
                .filter(|&t| t >= property && pcr_property(t).is_some())
                .collect();
            let (tags, more) = take(&tags, count, 4 + 1 + limits::PCR_SELECT);
            body.u32(u32::try_from(tags.len()).unwrap_or(0));
            for t in tags {
                let sel = pcr_property(t).unwrap_or_default();
                body.u32(t).u8(u8::try_from(sel.len()).unwrap_or(0)).bytes(&sel);
            }
            more
        }
        cap::ECC_CURVES => {
            let items: Vec<u16> = EccCurve::ALL
                .iter()
                .map(|c| c.id())
                .filter(|&c| u32::from(c) >= property)
                .collect();
            let (items, more) = take(&items, count, 2);
            body.u32(u32::try_from(items.len()).unwrap_or(0));
            for c in items {
                body.u16(c);
            }
            more
        }
        cap::AUTH_POLICIES => {
            if h::kind(property) != h::HT_PERMANENT {
                return Err(Rc::VALUE.param(2));
            }
            let items: Vec<u32> = [h::OWNER, h::LOCKOUT, h::ENDORSEMENT, h::PLATFORM]
                .into_iter()
                .filter(|&x| x >= property)
                .collect();
            let (items, more) = take(&items, count, 4 + 2 + limits::MAX_DIGEST);
            body.u32(u32::try_from(items.len()).unwrap_or(0));
            for x in items {
                let policy = tpm.entity_policy(x);
                body.u32(x).u16(policy.alg.map_or(alg::NULL, HashAlg::id)).bytes(&policy.digest);
            }
            more
        }
        _ => return Err(Rc::VALUE.param(1)),
    };
    cmd.out.u8(u8::from(more)).u32(capability).bytes(body.as_slice());
    Ok(())
}

/// The PCR bitmap of a TPM_PT_PCR property.
fn pcr_property(tag: u32) -> Option<Vec<u8>> {
    let select = |f: &dyn Fn(usize) -> bool| {
        let pcrs: Vec<u32> = (0..limits::PCR_COUNT)
            .filter(|&i| f(i))
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        PcrSelection::new(HashAlg::Sha256, &pcrs).select
    };
    let attrs = |i: usize| pcr::ATTRIBUTES.get(i).copied();
    Some(match tag {
        pt_pcr::SAVE => select(&|i| attrs(i).is_some_and(|a| a.state_save)),
        pt_pcr::EXTEND_L0..=pt_pcr::RESET_L4 => {
            let locality = u8::try_from((tag - 1) / 2).unwrap_or(0);
            let extend = tag % 2 == 1;
            select(&|i| {
                if extend {
                    pcr::extend_allowed(i, locality)
                } else {
                    attrs(i).is_some_and(|a| a.reset_localities & (1 << locality) != 0)
                }
            })
        }
        pt_pcr::NO_INCREMENT => select(&crate::commands::pcr::no_increment),
        pt_pcr::DRTM_RESET => select(&|i| attrs(i).is_some_and(|a| a.reset_localities & 0x10 != 0)),
        pt_pcr::POLICY | pt_pcr::AUTH => select(&pcr::in_auth_group),
        _ => return None,
    })
}

/// TPM2_TestParms: succeeds if the public parameters are supported.
pub(crate) fn test_parms(_tpm: &mut Tpm2, cmd: &mut Cmd<'_>) -> TpmResult<()> {
    // TPMT_PUBLIC_PARMS: a type and its parameters, checked as a public area's
    // would be (the unique field is absent).
    cmd.params.next(|r| {
        let object_type = r.u16()?;
        match object_type {
            alg::RSA => {
                SymDef::unmarshal_def(r, true, true)?;
                crate::types::Scheme::unmarshal_from(
                    r,
                    crate::types::schemes::RSA,
                    true,
                    Rc::VALUE,
                )?;
                let bits = r.u16()?;
                if !matches!(bits, 1024 | 2048 | 3072 | 4096) {
                    return Err(Rc::VALUE);
                }
                let e = r.u32()?;
                if e != 0 && !crate::crypto::rsa::exponent_is_valid(e) {
                    return Err(Rc::VALUE);
                }
            }
            alg::ECC => {
                SymDef::unmarshal_def(r, true, true)?;
                crate::types::Scheme::unmarshal_from(
                    r,
                    crate::types::schemes::ECC,
                    true,
                    Rc::SCHEME,
                )?;
                let curve = r.u16()?;
                if EccCurve::from_id(curve).is_none() {
                    return Err(Rc::CURVE);
                }
                crate::types::Scheme::unmarshal_kdf(r)?;
            }
            alg::KEYEDHASH => {
                crate::types::Scheme::unmarshal_from(
                    r,
                    crate::types::schemes::KEYEDHASH,
                    true,
                    Rc::VALUE,
                )?;
            }
            alg::SYMCIPHER => {
                SymDef::unmarshal_def(r, true, false)?;
            }
            _ => return Err(Rc::TYPE),
        }
        Ok(())
    })?;
    cmd.params.end()?;
    let _ = Public::unmarshal_public;
    Ok(())
}
