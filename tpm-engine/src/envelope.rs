//! A versioned container for a whole engine: its family and its state blobs.
//!
//! Layout (big-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `VTPMSNAP` |
//! | 8 | 2 | format version (1) |
//! | 10 | 1 | family ([`Family::code`]) |
//! | 11 | 1 | number of sections `n` (1..=3) |
//! | 12 | … | `n` sections: kind `u32` ([`StateKind`] code), length `u32`, bytes |
//!
//! Sections appear in kind order, each at most once, and the permanent section is
//! required. The container adds structure, not secrecy or integrity: the vTPM state
//! store encrypts and authenticates it as a whole.

use crate::wire::{Reader, Writer};
use crate::{Family, StateError, StateKind, TpmEngine};
use alloc::vec::Vec;
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"VTPMSNAP";
const VERSION: u16 = 1;
/// Upper bound for one section; far above any real TPM state, well below what a
/// hostile length could make us allocate.
const MAX_SECTION: usize = 16 << 20;

/// Which blob kinds a snapshot holds.
const KINDS: [StateKind; 3] = [StateKind::Permanent, StateKind::Volatile, StateKind::SaveState];

/// The parsed sections of a snapshot, borrowed from its bytes.
#[derive(Debug)]
pub struct Snapshot<'a> {
    /// The family the state belongs to.
    pub family: Family,
    /// The permanent blob (always present).
    pub permanent: &'a [u8],
    /// The volatile blob, if the engine was running when captured.
    pub volatile: Option<&'a [u8]>,
    /// The SaveState blob, if an orderly shutdown was pending.
    pub save_state: Option<&'a [u8]>,
}

/// Serialises everything `engine` has: the permanent blob, plus the volatile and
/// SaveState blobs when the engine has them.
pub fn capture(engine: &dyn TpmEngine) -> Result<Zeroizing<Vec<u8>>, StateError> {
    let mut sections = Vec::new();
    for kind in KINDS {
        match engine.save_state(kind) {
            Ok(blob) => sections.push((kind, blob)),
            Err(StateError::NotAvailable) if kind != StateKind::Permanent => {}
            Err(e) => return Err(e),
        }
    }
    let mut w = Writer::new();
    w.bytes(MAGIC).u16(VERSION).u8(engine.family().code());
    // At most three sections, so the count fits a byte.
    w.u8(u8::try_from(sections.len()).map_err(|_| StateError::Malformed)?);
    for (kind, blob) in &sections {
        w.u32(*kind as u32);
        w.sized_u32(blob).map_err(|_| StateError::Malformed)?;
    }
    Ok(Zeroizing::new(w.into_vec()))
}

/// Parses a snapshot without touching any engine.
pub fn parse(bytes: &[u8]) -> Result<Snapshot<'_>, StateError> {
    let mut r = Reader::new(bytes);
    if r.bytes(MAGIC.len())? != MAGIC {
        return Err(StateError::BadMagic);
    }
    let version = r.u16()?;
    if version != VERSION {
        return Err(StateError::UnsupportedVersion(version));
    }
    let family = Family::from_code(r.u8()?).ok_or(StateError::Malformed)?;
    let count = r.u8()?;
    if count == 0 || usize::from(count) > KINDS.len() {
        return Err(StateError::Malformed);
    }
    let mut found: [Option<&[u8]>; 3] = [None; 3];
    let mut last_kind = 0u32;
    for _ in 0..count {
        let code = r.u32()?;
        let kind = StateKind::from_code(code).ok_or(StateError::Malformed)?;
        // Strictly increasing kinds: no duplicates, one canonical encoding.
        if code <= last_kind {
            return Err(StateError::Malformed);
        }
        last_kind = code;
        let blob = r.sized_u32(MAX_SECTION)?;
        let slot = KINDS.iter().position(|k| *k == kind).ok_or(StateError::Malformed)?;
        if let Some(entry) = found.get_mut(slot) {
            *entry = Some(blob);
        }
    }
    r.finish()?;
    let [permanent, volatile, save_state] = found;
    Ok(Snapshot {
        family,
        permanent: permanent.ok_or(StateError::Malformed)?,
        volatile,
        save_state,
    })
}

/// Loads a snapshot into `engine`. Fails with [`StateError::WrongFamily`] if the
/// snapshot belongs to the other family. If a later blob fails to load, the engine
/// may hold the earlier ones; callers that need all-or-nothing build a fresh engine.
pub fn restore(engine: &mut dyn TpmEngine, bytes: &[u8]) -> Result<(), StateError> {
    let snapshot = parse(bytes)?;
    if snapshot.family != engine.family() {
        return Err(StateError::WrongFamily { found: snapshot.family });
    }
    engine.load_state(StateKind::Permanent, snapshot.permanent)?;
    if let Some(blob) = snapshot.save_state {
        engine.load_state(StateKind::SaveState, blob)?;
    }
    if let Some(blob) = snapshot.volatile {
        engine.load_state(StateKind::Volatile, blob)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(family: u8, sections: &[(u32, &[u8])]) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(MAGIC).u16(VERSION).u8(family).u8(u8::try_from(sections.len()).unwrap());
        for (kind, blob) in sections {
            w.u32(*kind).sized_u32(blob).unwrap();
        }
        w.into_vec()
    }

    #[test]
    fn parse_reads_all_sections() {
        let bytes = encode(2, &[(1, b"perm"), (2, b"vol"), (3, b"save")]);
        let s = parse(&bytes).unwrap();
        assert_eq!(s.family, Family::Tpm20);
        assert_eq!(s.permanent, b"perm");
        assert_eq!(s.volatile, Some(&b"vol"[..]));
        assert_eq!(s.save_state, Some(&b"save"[..]));
    }

    #[test]
    fn parse_without_permanent_is_malformed() {
        let bytes = encode(1, &[(2, b"vol")]);
        assert_eq!(parse(&bytes).unwrap_err(), StateError::Malformed);
    }

    #[test]
    fn parse_duplicate_section_is_malformed() {
        let bytes = encode(1, &[(1, b"a"), (1, b"b")]);
        assert_eq!(parse(&bytes).unwrap_err(), StateError::Malformed);
    }

    #[test]
    fn parse_unknown_family_is_malformed() {
        let bytes = encode(9, &[(1, b"a")]);
        assert_eq!(parse(&bytes).unwrap_err(), StateError::Malformed);
    }

    #[test]
    fn parse_other_version_is_refused() {
        let mut bytes = encode(1, &[(1, b"a")]);
        bytes[9] = 2;
        assert_eq!(parse(&bytes).unwrap_err(), StateError::UnsupportedVersion(2));
    }

    #[test]
    fn parse_every_truncation_fails() {
        let bytes = encode(1, &[(1, b"perm"), (3, b"save")]);
        for len in 0..bytes.len() {
            assert!(parse(&bytes[..len]).is_err(), "prefix of {len} bytes accepted");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_after_a_valid_prefix(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut bytes = Vec::from(&MAGIC[..]);
            bytes.extend_from_slice(&VERSION.to_be_bytes());
            bytes.push(1);
            bytes.extend_from_slice(&tail);
            let _ = parse(&bytes);
        }
    }
}
