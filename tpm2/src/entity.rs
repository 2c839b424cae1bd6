//! Entities named by handles: their presence (the load checks of Part 3 §5.3),
//! Names, authValues, authPolicies and hierarchies.

use crate::Tpm2;
use crate::object::{Hierarchy, Object, Sequence, Slot};
use crate::session::{Session, SessionSlot};
use crate::state::{MAX_OBJECTS, MAX_SESSIONS, NvIndex, Policy};
use crate::types::{Marshal, Rc, TpmResult, cc, handle as h, nv_attr};
use alloc::vec::Vec;

/// The slot index of a transient handle, if it is one this TPM could assign.
pub fn transient_slot(handle: u32) -> Option<usize> {
    let i = usize::try_from(handle.checked_sub(h::TRANSIENT_FIRST)?).ok()?;
    (i < MAX_OBJECTS).then_some(i)
}

/// The slot index of a session handle (HMAC or policy), if in range.
pub fn session_slot(handle: u32) -> Option<usize> {
    let kind = h::kind(handle);
    if kind != h::HT_HMAC_SESSION && kind != h::HT_POLICY_SESSION {
        return None;
    }
    let i = usize::try_from(handle & 0x00FF_FFFF).ok()?;
    (i < MAX_SESSIONS).then_some(i)
}

/// The Name of an NV index: nameAlg ‖ H(TPMS_NV_PUBLIC).
pub fn nv_name(index: &NvIndex) -> Vec<u8> {
    let alg = index.public.name_alg;
    let mut name = alg.id().to_be_bytes().to_vec();
    name.extend(crate::crypto::hash::digest(alg, &index.public.to_bytes()));
    name
}

impl Tpm2 {
    /// The object (not sequence) a transient or persistent handle names.
    pub(crate) fn object(&self, handle: u32) -> Option<&Object> {
        match h::kind(handle) {
            h::HT_TRANSIENT => match self.v.objects.get(transient_slot(handle)?)? {
                Some(Slot::Object(o)) => Some(o),
                _ => None,
            },
            h::HT_PERSISTENT => self.p.objects.get(&handle),
            _ => None,
        }
    }

    /// The sequence object a transient handle names.
    pub(crate) fn sequence(&self, handle: u32) -> Option<&Sequence> {
        match self.v.objects.get(transient_slot(handle)?)? {
            Some(Slot::Sequence(s)) => Some(s),
            _ => None,
        }
    }

    /// The loaded session a handle names (its type must match the session's).
    pub(crate) fn session(&self, handle: u32) -> Option<&Session> {
        match self.v.sessions.get(session_slot(handle)?)? {
            Some(SessionSlot::Loaded(s))
                if s.is_policy() == (h::kind(handle) == h::HT_POLICY_SESSION) =>
            {
                Some(s)
            }
            _ => None,
        }
    }

    /// The loaded session a handle names, for modification.
    pub(crate) fn session_mut(&mut self, handle: u32) -> Option<&mut Session> {
        match self.v.sessions.get_mut(session_slot(handle)?)? {
            Some(SessionSlot::Loaded(s))
                if s.is_policy() == (h::kind(handle) == h::HT_POLICY_SESSION) =>
            {
                Some(s)
            }
            _ => None,
        }
    }

    /// True if the hierarchy is enabled (the null hierarchy always is).
    pub(crate) fn hierarchy_enabled(&self, hierarchy: Hierarchy) -> bool {
        match hierarchy {
            Hierarchy::Owner => self.v.sh_enable,
            Hierarchy::Endorsement => self.v.eh_enable,
            Hierarchy::Platform => self.v.ph_enable,
            Hierarchy::Null => true,
        }
    }

    /// Checks that a handle's entity is present and usable (`EntityGetLoadStatus`);
    /// the error is not yet numbered.
    pub(crate) fn load_status(&self, handle: u32, code: u32) -> TpmResult<()> {
        match h::kind(handle) {
            h::HT_PERMANENT => match handle {
                h::OWNER => self.v.sh_enable.then_some(()).ok_or(Rc::HIERARCHY),
                h::ENDORSEMENT => self.v.eh_enable.then_some(()).ok_or(Rc::HIERARCHY),
                h::PLATFORM => self.v.ph_enable.then_some(()).ok_or(Rc::HIERARCHY),
                h::NULL | h::PW | h::LOCKOUT | h::PLATFORM_NV => Ok(()),
                _ => Err(Rc::VALUE),
            },
            h::HT_TRANSIENT => {
                let present = transient_slot(handle)
                    .and_then(|i| self.v.objects.get(i))
                    .is_some_and(Option::is_some);
                present.then_some(()).ok_or(Rc::REFERENCE_H0)
            }
            h::HT_PERSISTENT => {
                // ObjectLoadEvict: the owning hierarchy must be enabled.
                if handle >= h::PLATFORM_PERSISTENT {
                    if !self.v.ph_enable {
                        return Err(Rc::HANDLE);
                    }
                } else if !self.v.sh_enable {
                    return Err(Rc::HANDLE);
                }
                let o = self.p.objects.get(&handle).ok_or(Rc::HANDLE)?;
                if o.hierarchy == Hierarchy::Endorsement
                    && !self.v.eh_enable
                    && code != cc::EVICT_CONTROL
                {
                    return Err(Rc::HANDLE);
                }
                Ok(())
            }
            h::HT_HMAC_SESSION | h::HT_POLICY_SESSION => {
                let slot = session_slot(handle).and_then(|i| self.v.sessions.get(i));
                match slot {
                    Some(Some(SessionSlot::Loaded(s))) => {
                        if s.is_policy() == (h::kind(handle) == h::HT_POLICY_SESSION) {
                            Ok(())
                        } else {
                            Err(Rc::HANDLE)
                        }
                    }
                    _ => Err(Rc::REFERENCE_H0),
                }
            }
            h::HT_NV_INDEX => self.nv_accessible(handle),
            h::HT_PCR => Ok(()),
            _ => Err(Rc::VALUE),
        }
    }

    /// NvIndexIsAccessible: the index exists and its hierarchy allows access.
    pub(crate) fn nv_accessible(&self, handle: u32) -> TpmResult<()> {
        let index = self.p.nv.get(&handle).ok_or(Rc::HANDLE)?;
        if index.public.has(nv_attr::PLATFORMCREATE) {
            if !self.v.ph_enable_nv {
                return Err(Rc::HANDLE);
            }
        } else if !self.v.sh_enable {
            return Err(Rc::HANDLE);
        }
        Ok(())
    }

    /// The Name of an entity (`EntityGetName`): an object's or NV index's Name, or
    /// the handle itself.
    pub(crate) fn entity_name(&self, handle: u32) -> Vec<u8> {
        match h::kind(handle) {
            h::HT_TRANSIENT | h::HT_PERSISTENT => match self.object(handle) {
                Some(o) => o.name.clone(),
                // A sequence object has no public area, so its Name is empty (the
                // reference code's zeroed name; ESAPI agrees).
                None if self.sequence(handle).is_some() => Vec::new(),
                None => handle.to_be_bytes().to_vec(),
            },
            h::HT_NV_INDEX => match self.p.nv.get(&handle) {
                Some(index) => nv_name(index),
                None => handle.to_be_bytes().to_vec(),
            },
            _ => handle.to_be_bytes().to_vec(),
        }
    }

    /// The authValue of an entity, trailing zeros removed (`EntityGetAuthValue`);
    /// empty for TPM_RH_NULL and for entities that no longer exist.
    pub(crate) fn entity_auth(&self, handle: u32) -> Vec<u8> {
        let raw: &[u8] = match h::kind(handle) {
            h::HT_PERMANENT => match handle {
                h::OWNER => &self.p.owner_auth,
                h::ENDORSEMENT => &self.p.endorsement_auth,
                h::PLATFORM => &self.v.platform_auth,
                h::LOCKOUT => &self.p.lockout_auth,
                _ => &[],
            },
            h::HT_TRANSIENT | h::HT_PERSISTENT => {
                if let Some(o) = self.object(handle) {
                    o.auth()
                } else if let Some(s) = self.sequence(handle) {
                    &s.auth
                } else {
                    &[]
                }
            }
            h::HT_NV_INDEX => self.p.nv.get(&handle).map_or(&[][..], |i| &i.auth[..]),
            h::HT_PCR => {
                let pcr = usize::try_from(handle).unwrap_or(usize::MAX);
                if crate::pcr::in_auth_group(pcr) { &self.v.pcr_auth } else { &[] }
            }
            _ => &[],
        };
        crate::crypto::trim_trailing_zeros(raw).to_vec()
    }

    /// The authPolicy of an entity (`EntityGetAuthPolicy`).
    pub(crate) fn entity_policy(&self, handle: u32) -> Policy {
        match h::kind(handle) {
            h::HT_PERMANENT => match handle {
                h::OWNER => self.p.owner_policy.clone(),
                h::ENDORSEMENT => self.p.endorsement_policy.clone(),
                h::PLATFORM => self.v.platform_policy.clone(),
                h::LOCKOUT => self.p.lockout_policy.clone(),
                _ => Policy::default(),
            },
            h::HT_TRANSIENT | h::HT_PERSISTENT => match self.object(handle) {
                Some(o) => Policy { alg: o.public.name_alg, digest: o.public.auth_policy.clone() },
                None => Policy::default(),
            },
            h::HT_NV_INDEX => match self.p.nv.get(&handle) {
                Some(i) => {
                    Policy { alg: Some(i.public.name_alg), digest: i.public.auth_policy.clone() }
                }
                None => Policy::default(),
            },
            h::HT_PCR => {
                let pcr = usize::try_from(handle).unwrap_or(usize::MAX);
                if crate::pcr::in_auth_group(pcr) {
                    self.p.pcr_policy.clone()
                } else {
                    Policy::default()
                }
            }
            _ => Policy::default(),
        }
    }

    /// The hierarchy an entity belongs to (`EntityGetHierarchy`).
    pub(crate) fn entity_hierarchy(&self, handle: u32) -> Hierarchy {
        match h::kind(handle) {
            h::HT_PERMANENT => match handle {
                h::PLATFORM => Hierarchy::Platform,
                h::ENDORSEMENT => Hierarchy::Endorsement,
                h::NULL => Hierarchy::Null,
                _ => Hierarchy::Owner,
            },
            h::HT_NV_INDEX => match self.p.nv.get(&handle) {
                Some(i) if i.public.has(nv_attr::PLATFORMCREATE) => Hierarchy::Platform,
                _ => Hierarchy::Owner,
            },
            h::HT_TRANSIENT | h::HT_PERSISTENT => {
                self.object(handle).map_or(Hierarchy::Null, |o| o.hierarchy)
            }
            _ => Hierarchy::Owner,
        }
    }

    /// True if failures authorizing this entity do not count against DA
    /// (`IsDAExempted`): hierarchies other than lockout, noDA objects, NO_DA
    /// indices, PCRs.
    pub(crate) fn da_exempt(&self, handle: u32) -> bool {
        match h::kind(handle) {
            h::HT_PERMANENT => handle != h::LOCKOUT,
            h::HT_TRANSIENT | h::HT_PERSISTENT => match self.object(handle) {
                Some(o) => o.has(crate::types::object_attr::NO_DA),
                // Sequence objects are created with noDA.
                None => self.sequence(handle).is_some(),
            },
            h::HT_NV_INDEX => self.p.nv.get(&handle).is_some_and(|i| i.public.has(nv_attr::NO_DA)),
            h::HT_PCR => true,
            _ => false,
        }
    }
}
