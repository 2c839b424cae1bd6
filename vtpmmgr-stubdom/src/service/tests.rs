//! The manager's answers, over an in-memory disk and a fake hardware TPM.

#![allow(clippy::cast_possible_truncation, reason = "test code: small, known values")]

use super::*;
use mgr_store::testing::{FakeCounter, FakeDisk};
use mgr_store::{FormatOptions, RootSecret};
use proptest::prelude::*;
use vtpm_proto::{Command, Request as Req, tag};

struct FakeHardware {
    family_is_tpm12: bool,
}

impl Hardware for FakeHardware {
    fn random(&mut self, out: &mut [u8]) -> Result<(), HardwareError> {
        out.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8 ^ 0x5a);
        Ok(())
    }
    fn pcr_read_sha1(&mut self, index: u32) -> Result<[u8; 20], HardwareError> {
        match (self.family_is_tpm12, index) {
            (false, _) => Err(HardwareError::Unsupported),
            (true, 0..=23) => Ok([index as u8; 20]),
            (true, _) => Err(HardwareError::BadIndex),
        }
    }
}

type TestManager = Manager<FakeDisk, FakeCounter, FakeHardware>;

fn manager() -> TestManager {
    manager_with_disk().0
}

fn manager_with_disk() -> (TestManager, FakeDisk) {
    let disk = FakeDisk::new(64);
    let store = Store::format(
        disk.clone(),
        FakeCounter::new(0),
        &RootSecret::new([7; 32]),
        b"sealed",
        FormatOptions::default(),
    )
    .unwrap();
    (Manager::new(store, FakeHardware { family_is_tpm12: true }), disk)
}

fn caller(domid: u16, uuid: u8) -> Caller {
    Caller { domid, handle: 0, uuid: Uuid([uuid; 16]) }
}

fn request(req: &Req<'_>) -> Vec<u8> {
    let mut out = [0u8; MAX_MESSAGE];
    let len = req.encode(&mut out).unwrap();
    out[..len].to_vec()
}

fn ask(m: &mut TestManager, who: &Caller, req: &Req<'_>) -> Vec<u8> {
    let mut out = [0u8; MAX_MESSAGE];
    let len = m.handle(who, &request(req), &mut out);
    out[..len].to_vec()
}

fn status_of(answer: &[u8]) -> u32 {
    u32::from_be_bytes(answer[6..10].try_into().unwrap())
}

fn key(byte: u8) -> Hashkey {
    Hashkey::new(&[byte; 52]).unwrap()
}

#[test]
fn load_unknown_vtpm_is_bad_parameter() {
    let mut m = manager();
    let answer = ask(&mut m, &caller(5, 1), &Req::LoadHashKey);
    assert_eq!(status_of(&answer), ReturnCode::BAD_PARAMETER.0);
    assert_eq!(&answer[..2], &tag::RSP.to_be_bytes());
}

#[test]
fn save_then_load_returns_the_key() {
    let mut m = manager();
    let who = caller(5, 1);
    assert_eq!(status_of(&ask(&mut m, &who, &Req::SaveHashKey(key(9)))), 0);
    let answer = ask(&mut m, &who, &Req::LoadHashKey);
    match Response::parse(Command::LoadHashKey, &answer).unwrap() {
        Response::LoadHashKey(k) => assert_eq!(k.as_bytes(), key(9).as_bytes()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn two_vtpms_keep_their_own_keys() {
    let mut m = manager();
    ask(&mut m, &caller(5, 1), &Req::SaveHashKey(key(1)));
    ask(&mut m, &caller(6, 2), &Req::SaveHashKey(key(2)));
    let answer = ask(&mut m, &caller(6, 2), &Req::LoadHashKey);
    assert_eq!(&answer[10..], key(2).as_bytes());
}

#[test]
fn second_connection_with_same_uuid_is_disabled_until_first_leaves() {
    let mut m = manager();
    ask(&mut m, &caller(5, 1), &Req::SaveHashKey(key(1)));
    let intruder = caller(9, 1);
    assert_eq!(status_of(&ask(&mut m, &intruder, &Req::LoadHashKey)), ReturnCode::DISABLED.0);
    m.disconnected(5, 0);
    assert_eq!(status_of(&ask(&mut m, &intruder, &Req::LoadHashKey)), 0);
}

#[test]
fn first_vtpm_is_admin_and_lists_all() {
    let mut m = manager();
    let admin = caller(5, 1);
    ask(&mut m, &admin, &Req::SaveHashKey(key(1)));
    ask(&mut m, &caller(6, 2), &Req::SaveHashKey(key(2)));
    let answer = ask(&mut m, &admin, &Req::VtpmList { group: 0, offset: 0 });
    match Response::parse(Command::VtpmList, &answer).unwrap() {
        Response::VtpmList { total, uuids } => {
            assert_eq!(total, 2);
            assert_eq!(uuids, &[[1; 16], [2; 16]]);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn management_from_non_admin_is_authfail_with_dispatch_tag() {
    let mut m = manager();
    ask(&mut m, &caller(5, 1), &Req::SaveHashKey(key(1)));
    let other = caller(6, 2);
    ask(&mut m, &other, &Req::SaveHashKey(key(2)));
    let answer = ask(&mut m, &other, &Req::VtpmList { group: 0, offset: 0 });
    assert_eq!(status_of(&answer), ReturnCode::AUTHFAIL.0);
    assert_eq!(&answer[..2], &tag::RSP2.to_be_bytes());
}

#[test]
fn vtpm_new_then_load_is_no_record_and_del_removes() {
    let mut m = manager();
    let admin = caller(5, 1);
    ask(&mut m, &admin, &Req::SaveHashKey(key(1)));
    let answer = ask(&mut m, &admin, &Req::VtpmNew { group: 0, uuid: Some(Uuid([3; 16])) });
    assert_eq!(&answer[10..], &[3; 16]);
    assert_eq!(
        status_of(&ask(&mut m, &caller(7, 3), &Req::LoadHashKey)),
        ReturnCode::BAD_PARAMETER.0
    );
    m.disconnected(7, 0);
    assert_eq!(status_of(&ask(&mut m, &admin, &Req::VtpmDel { uuid: Uuid([3; 16]) })), 0);
    assert_eq!(
        status_of(&ask(&mut m, &admin, &Req::VtpmDel { uuid: Uuid([3; 16]) })),
        ReturnCode::BAD_PARAMETER.0
    );
}

#[test]
fn vtpm_new_random_uuid_is_version_4() {
    let mut m = manager();
    let admin = caller(5, 1);
    ask(&mut m, &admin, &Req::SaveHashKey(key(1)));
    let answer = ask(&mut m, &admin, &Req::VtpmNew { group: 0, uuid: None });
    assert_eq!(answer[10 + 6] >> 4, 4);
    assert_eq!(answer[10 + 8] >> 6, 0b10);
}

#[test]
fn delete_of_open_vtpm_is_refused() {
    let mut m = manager();
    let admin = caller(5, 1);
    ask(&mut m, &admin, &Req::SaveHashKey(key(1)));
    ask(&mut m, &caller(6, 2), &Req::SaveHashKey(key(2)));
    assert_eq!(
        status_of(&ask(&mut m, &admin, &Req::VtpmDel { uuid: Uuid([2; 16]) })),
        ReturnCode::DISABLED.0
    );
}

#[test]
fn other_group_is_badindex() {
    let mut m = manager();
    let admin = caller(5, 1);
    ask(&mut m, &admin, &Req::SaveHashKey(key(1)));
    assert_eq!(
        status_of(&ask(&mut m, &admin, &Req::VtpmList { group: 1, offset: 0 })),
        ReturnCode::BADINDEX.0
    );
}

#[test]
fn passthrough_random_pcr_and_refusals() {
    let mut m = manager();
    let who = caller(5, 1);
    let answer = ask(&mut m, &who, &Req::GetRandom { bytes_requested: 16 });
    assert_eq!(&answer[..2], &tag::RSP_COMMAND.to_be_bytes());
    assert_eq!(answer.len(), 10 + 4 + 16);
    assert_eq!(&ask(&mut m, &who, &Req::PcrRead { index: 3 })[10..], &[3; 20]);
    assert_eq!(status_of(&ask(&mut m, &who, &Req::PcrRead { index: 99 })), ReturnCode::BADINDEX.0);
    let extend = ask(&mut m, &who, &Req::Extend { index: 16, digest: [0; 20] });
    assert_eq!(status_of(&extend), ReturnCode::DISABLED_CMD.0);
    m.hardware().family_is_tpm12 = false;
    assert_eq!(
        status_of(&ask(&mut m, &who, &Req::PcrRead { index: 3 })),
        ReturnCode::DISABLED_CMD.0
    );
}

#[test]
fn get_random_is_capped_to_one_page() {
    let mut m = manager();
    let answer = ask(&mut m, &caller(5, 1), &Req::GetRandom { bytes_requested: u32::MAX });
    assert_eq!(answer.len(), 10 + 4 + MAX_RANDOM_BYTES);
}

#[test]
fn store_failure_is_tpm_fail_and_state_kept() {
    let (mut m, disk) = manager_with_disk();
    let who = caller(5, 1);
    ask(&mut m, &who, &Req::SaveHashKey(key(1)));
    disk.fail_after(Some(0));
    assert_eq!(status_of(&ask(&mut m, &who, &Req::SaveHashKey(key(2)))), ReturnCode::FAIL.0);
    disk.fail_after(None);
    assert_eq!(&ask(&mut m, &who, &Req::LoadHashKey)[10..], key(1).as_bytes());
}

#[test]
fn garbage_gets_an_answer() {
    let mut m = manager();
    let mut out = [0u8; MAX_MESSAGE];
    for garbage in [&[][..], &[0x01, 0xc1], &[0xff; 10], &[0x01, 0xc1, 0, 0, 0, 10, 0, 0, 0, 99]] {
        let len = m.handle(&caller(5, 1), garbage, &mut out);
        assert!(len >= 10, "no answer to {garbage:?}");
        assert_ne!(status_of(&out[..len]), 0);
    }
}

proptest! {
    #[test]
    fn any_bytes_get_a_well_formed_answer(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut m = manager();
        let mut out = [0u8; MAX_MESSAGE];
        let len = m.handle(&caller(5, 1), &bytes, &mut out);
        prop_assert!(len >= 10);
        prop_assert_eq!(u32::from_be_bytes(out[2..6].try_into().unwrap()) as usize, len);
    }
}

#[test]
fn answers_fit_the_page() {
    let mut m = manager();
    let admin = caller(5, 1);
    ask(&mut m, &admin, &Req::SaveHashKey(key(1)));
    for i in 0..300u16 {
        let mut uuid = [0u8; 16];
        uuid[..2].copy_from_slice(&i.to_be_bytes());
        uuid[15] = 0xee;
        m.store().save(&uuid, &[], 0).unwrap();
    }
    let answer = ask(&mut m, &admin, &Req::VtpmList { group: 0, offset: 0 });
    assert!(answer.len() <= MAX_MESSAGE);
}
