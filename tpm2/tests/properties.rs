//! Property tests: the wire types re-marshal exactly what they accepted, and any
//! command — random bytes, or a well-formed header for an implemented command code
//! around random bytes — gets a well-formed response without disturbing the
//! engine's ability to answer.

#![allow(clippy::cast_possible_truncation, reason = "test code: small, known lengths")]

mod common;

use common::*;
use proptest::prelude::*;
use tpm_engine::{StateKind, TpmEngine};
use tpm2::types::*;

/// If `T` accepts a prefix of `bytes`, marshalling it gives that prefix back.
fn canonical<T: Unmarshal + Marshal>(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut r = Reader::new(bytes);
    if let Ok(v) = T::unmarshal(&mut r) {
        let used = bytes.len() - r.remaining();
        prop_assert_eq!(v.to_bytes(), bytes[..used].to_vec());
    }
    Ok(())
}

/// Bytes that start like a plausible structure: an algorithm or count the
/// unmarshallers accept, then anything.
fn structure_bytes() -> impl Strategy<Value = Vec<u8>> {
    let heads = prop::sample::select(vec![
        vec![0x00, 0x01],
        vec![0x00, 0x0b],
        vec![0x00, 0x23],
        vec![0x00, 0x25],
        vec![0x00, 0x08],
        vec![0x00, 0x14],
        vec![0x00, 0x18],
        vec![0x00, 0x00, 0x00, 0x01],
        vec![0x00, 0x00, 0x00, 0x02],
        vec![0x80, 0x17],
        vec![0xff, 0x54, 0x43, 0x47],
        // Heads that make a structure likely to parse: a selection of SHA-256
        // PCRs, a SHA-256 tagged digest, an NV public area, an RSASSA-SHA256
        // signature, a point, a saved context.
        vec![0x00, 0x00, 0x00, 0x01, 0x00, 0x0b, 0x03],
        vec![0x00, 0x00, 0x00, 0x01, 0x00, 0x0b],
        vec![0x01, 0x50, 0x00, 0x01, 0x00, 0x0b],
        vec![0x00, 0x14, 0x00, 0x0b, 0x01, 0x00],
        vec![0x00, 0x20],
        vec![0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00, 0x40, 0x00],
    ]);
    (heads, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(mut h, t)| {
        h.extend(t);
        h
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn accepted_structures_remarshal_exactly(bytes in structure_bytes()) {
        canonical::<PcrSelectionList>(&bytes)?;
        canonical::<DigestList>(&bytes)?;
        canonical::<DigestValues>(&bytes)?;
        canonical::<Public>(&bytes)?;
        canonical::<Sensitive>(&bytes)?;
        canonical::<CreationData>(&bytes)?;
        canonical::<Signature>(&bytes)?;
        canonical::<EccPoint>(&bytes)?;
        canonical::<NvPublic>(&bytes)?;
        canonical::<Context>(&bytes)?;
        canonical::<TimeInfo>(&bytes)?;
        canonical::<Attest>(&bytes)?;
    }
}

/// Every implemented command code.
fn codes() -> Vec<u32> {
    tpm2::implemented_commands().map(|(code, _)| code).collect()
}

fn check(r: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(r.len() >= 10);
    prop_assert_eq!(u32::from_be_bytes([r[2], r[3], r[4], r[5]]) as usize, r.len());
    let tag = u16::from_be_bytes([r[0], r[1]]);
    prop_assert!(tag == st::NO_SESSIONS || tag == st::SESSIONS);
    if r[6..10] != [0, 0, 0, 0] {
        prop_assert_eq!((tag, r.len()), (st::NO_SESSIONS, 10));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn any_command_gets_a_well_formed_response(
        pick in any::<prop::sample::Index>(),
        sessions in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..200),
        raw in prop::collection::vec(any::<u8>(), 0..40),
        locality in prop::sample::select(vec![0u8, 1, 2, 3, 4, 7, 40]),
    ) {
        let mut e = Engine::new();
        prop_assert_eq!(startup(&mut e, su::CLEAR), 0);
        let codes = codes();
        let code = codes[pick.index(codes.len())];
        let mut c = if sessions { vec![0x80, 0x02] } else { vec![0x80, 0x01] };
        c.extend(((10 + body.len()) as u32).to_be_bytes());
        c.extend(code.to_be_bytes());
        c.extend(&body);
        check(&e.exec_at(locality, &c))?;
        check(&e.exec_at(locality, &raw))?;
        // The engine still works, and its state still round-trips.
        let r = run(&mut e, &command(cc::GET_RANDOM).u16(16));
        prop_assert_eq!(r.rc, 0);
        let perm = e.tpm.save_state(StateKind::Permanent).unwrap();
        let vol = e.tpm.save_state(StateKind::Volatile).unwrap();
        let mut copy = tpm2::Tpm2::new(tpm_engine::Drbg::from_seed([1; 32]));
        copy.load_state(StateKind::Permanent, &perm).unwrap();
        copy.load_state(StateKind::Volatile, &vol).unwrap();
        prop_assert_eq!(copy.save_state(StateKind::Volatile).unwrap(), vol);
    }
}
