//! A hostile hardware TPM: every malformed response gets a typed error, never a panic,
//! and handles the client was given are flushed on the error paths.

use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use sha1::{Digest, Sha1};
use tpm_client::testing::{
    ScriptEnd, ScriptedTransport, exercise_hostile_tpm, response, tpm2_detection_script,
};
use tpm_client::{
    Config, Error, Family, HardwareTpm, MAX_RESPONSE, Malformed, MonotonicCounter, PcrSelection,
    Transport,
};

const ST_NO_SESSIONS: u16 = 0x8001;
const ST_SESSIONS: u16 = 0x8002;
const RSP_COMMAND: u16 = 0x00C4;

fn detected_tpm2(then: Vec<Vec<u8>>) -> HardwareTpm<ScriptedTransport> {
    let mut script = tpm2_detection_script();
    script.extend(then);
    HardwareTpm::detect(ScriptedTransport::new(script), Config::default()).expect("detect")
}

fn malformed<E: std::fmt::Debug>(result: Result<impl std::fmt::Debug, Error<E>>) -> Malformed {
    match result {
        Err(Error::Malformed { what, .. }) => what,
        other => panic!("expected a malformed response, got {other:?}"),
    }
}

fn sent_commands(tpm: HardwareTpm<ScriptedTransport>) -> Vec<Vec<u8>> {
    tpm.into_transport().sent().to_vec()
}

/// The command code (ordinal) of a sent command.
fn code(command: &[u8]) -> u32 {
    u32::from_be_bytes(command[6..10].try_into().unwrap())
}

#[test]
fn short_response_is_malformed() {
    let transport = ScriptedTransport::new([vec![0x80, 0x01, 0, 0, 0, 10]]);
    let result = HardwareTpm::detect(transport, Config::default());
    assert_eq!(malformed(result), Malformed::Short { len: 6 });
}

#[test]
fn unknown_tag_is_malformed() {
    let transport = ScriptedTransport::new([response(0x1234, 0, &[])]);
    let result = HardwareTpm::detect(transport, Config::default());
    assert_eq!(malformed(result), Malformed::Tag { found: 0x1234 });
}

#[test]
fn tpm12_tag_without_error_is_not_a_tpm12() {
    let transport = ScriptedTransport::new([response(RSP_COMMAND, 0, &[])]);
    let result = HardwareTpm::detect(transport, Config::default());
    assert_eq!(malformed(result), Malformed::Tag { found: RSP_COMMAND });
}

#[test]
fn size_field_disagreeing_with_length_is_malformed() {
    let mut bytes = response(ST_NO_SESSIONS, 0, &[1, 2, 3]);
    bytes[5] = 12;
    let result = HardwareTpm::detect(ScriptedTransport::new([bytes]), Config::default());
    assert_eq!(malformed(result), Malformed::SizeMismatch { header: 12, actual: 13 });
}

#[test]
fn huge_size_field_is_malformed() {
    let mut bytes = response(ST_NO_SESSIONS, 0, &[]);
    bytes[2..6].copy_from_slice(&u32::MAX.to_be_bytes());
    let result = HardwareTpm::detect(ScriptedTransport::new([bytes]), Config::default());
    assert_eq!(malformed(result), Malformed::SizeMismatch { header: u32::MAX, actual: 10 });
}

#[test]
fn oversized_response_is_malformed() {
    let bytes = response(ST_NO_SESSIONS, 0, &vec![0; MAX_RESPONSE]);
    let result = HardwareTpm::detect(ScriptedTransport::new([bytes]), Config::default());
    assert_eq!(malformed(result), Malformed::TooLarge { len: MAX_RESPONSE + 10 });
}

#[test]
fn transport_failure_is_reported_as_such() {
    let result = HardwareTpm::detect(ScriptedTransport::new([]), Config::default());
    assert!(matches!(result, Err(Error::Transport(ScriptEnd))), "{result:?}");
}

#[test]
fn error_response_with_sessions_tag_is_malformed() {
    let mut tpm = detected_tpm2(vec![response(ST_SESSIONS, 0x101, &[])]);
    assert_eq!(malformed(tpm.random(&mut [0; 8])), Malformed::Tag { found: ST_SESSIONS });
}

#[test]
fn error_response_with_a_body_is_malformed() {
    let mut tpm = detected_tpm2(vec![response(ST_NO_SESSIONS, 0x101, &[0])]);
    assert_eq!(malformed(tpm.random(&mut [0; 8])), Malformed::TrailingBytes);
}

#[test]
fn error_code_is_carried() {
    let mut tpm = detected_tpm2(vec![response(ST_NO_SESSIONS, 0x101, &[])]);
    let err = tpm.random(&mut [0; 8]).unwrap_err();
    assert_eq!(err, Error::Tpm { family: Family::Tpm20, command: 0x17B, rc: 0x101 });
    assert_eq!(err.tpm_rc(), Some(0x101));
    assert!(err.to_string().contains("TPM_RC_FAILURE"), "{err}");
}

#[test]
fn random_answers_of_the_wrong_size_are_malformed() {
    let mut tpm =
        detected_tpm2(vec![response(ST_NO_SESSIONS, 0, &[0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9])]);
    assert_eq!(malformed(tpm.random(&mut [0; 8])), Malformed::UnexpectedValue);
    let mut tpm = detected_tpm2(vec![response(ST_NO_SESSIONS, 0, &[0, 0])]);
    assert_eq!(malformed(tpm.random(&mut [0; 8])), Malformed::UnexpectedValue);
    let mut tpm = detected_tpm2(vec![response(ST_NO_SESSIONS, 0, &[0, 8, 1, 2])]);
    assert_eq!(malformed(tpm.random(&mut [0; 8])), Malformed::Truncated);
    let mut tpm = detected_tpm2(vec![response(ST_NO_SESSIONS, 0, &[0, 1, 1, 0xFF])]);
    assert_eq!(malformed(tpm.random(&mut [0; 8])), Malformed::TrailingBytes);
}

#[test]
fn random_short_answers_are_completed() {
    let mut tpm = detected_tpm2(vec![
        response(ST_NO_SESSIONS, 0, &[0, 3, 1, 2, 3]),
        response(ST_NO_SESSIONS, 0, &[0, 2, 4, 5]),
    ]);
    let mut out = [0u8; 5];
    tpm.random(&mut out).unwrap();
    assert_eq!(out, [1, 2, 3, 4, 5]);
}

#[test]
fn retry_is_retried_a_bounded_number_of_times() {
    let retry = response(ST_NO_SESSIONS, 0x922, &[]);
    let mut tpm =
        detected_tpm2(vec![retry.clone(), retry.clone(), response(ST_NO_SESSIONS, 0, &[0, 1, 7])]);
    let mut out = [0u8; 1];
    tpm.random(&mut out).unwrap();
    assert_eq!(out, [7]);
    let mut tpm = detected_tpm2(vec![retry; 20]);
    let err = tpm.random(&mut out).unwrap_err();
    assert_eq!(err.tpm_rc(), Some(0x922));
    assert_eq!(tpm.into_transport().remaining(), 20 - 9);
}

/// TPM2_NV_ReadPublic's answer for the client's own, written counter.
fn counter_public() -> Vec<u8> {
    let mut body = vec![0, 14, 0x01, 0x80, 0xC1, 0xC1, 0, 0x0B, 0x22, 0x06, 0x00, 0x12, 0, 0, 0, 8];
    body.extend_from_slice(&[0, 34, 0, 0x0B]);
    body.extend_from_slice(&[0; 32]);
    response(ST_NO_SESSIONS, 0, &body)
}

/// A successful response to a command with one password session.
fn with_session(handle: Option<u32>, params: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(handle) = handle {
        body.extend_from_slice(&handle.to_be_bytes());
    }
    body.extend_from_slice(&u32::try_from(params.len()).unwrap().to_be_bytes());
    body.extend_from_slice(params);
    body.extend_from_slice(&[0, 0, 1, 0, 0]);
    response(ST_SESSIONS, 0, &body)
}

fn pcr7_read() -> Vec<u8> {
    let mut body = vec![0, 0, 0, 5, 0, 0, 0, 1, 0, 0x0B, 3, 0x80, 0, 0, 0, 0, 0, 1, 0, 32];
    body.extend_from_slice(&[0xAB; 32]);
    response(ST_NO_SESSIONS, 0, &body)
}

#[test]
fn owner_auth_failure_is_typed() {
    // NV_ReadPublic: no such index; NV_DefineSpace: TPM_RC_BAD_AUTH on session 1.
    let mut tpm = detected_tpm2(vec![
        response(ST_NO_SESSIONS, 0x18B, &[]),
        response(ST_NO_SESSIONS, 0x9A2, &[]),
    ]);
    let err = tpm.counter().map(|_| ()).unwrap_err();
    assert_eq!(err, Error::AuthFailed { family: Family::Tpm20, command: 0x12A, rc: 0x9A2 });
}

#[test]
fn lockout_is_typed() {
    let mut tpm = detected_tpm2(vec![counter_public(), response(ST_NO_SESSIONS, 0x921, &[])]);
    let err = tpm.increment().unwrap_err();
    assert!(matches!(err, Error::Lockout { family: Family::Tpm20, rc: 0x921, .. }), "{err:?}");
}

#[test]
fn counter_value_of_the_wrong_size_is_malformed() {
    let read = with_session(None, &[0, 4, 0, 0, 0, 1]);
    let mut tpm = detected_tpm2(vec![counter_public(), read]);
    assert_eq!(malformed(tpm.read()), Malformed::Truncated);
}

#[test]
fn session_response_with_short_parameter_size_is_malformed() {
    // parameterSize says 1 byte, two bytes of the value follow before the auth area.
    let mut body = vec![0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 3];
    body.extend_from_slice(&[0, 0, 1, 0, 0]);
    let mut tpm = detected_tpm2(vec![counter_public(), response(ST_SESSIONS, 0, &body)]);
    assert!(matches!(tpm.read(), Err(Error::Malformed { command: 0x14E, .. })));
}

#[test]
fn created_primary_is_flushed_when_its_answer_is_bad() {
    // CreatePrimary returns a transient handle and the template's public area, then a
    // name that is not the public area's.
    let mut public = vec![0, 1, 0, 0x0B, 0, 0x03, 0x04, 0x72, 0, 0];
    public.extend_from_slice(&[0, 6, 0, 0x80, 0, 0x43, 0, 0x10, 0x08, 0, 0, 0, 0, 0, 1, 0]);
    public.extend_from_slice(&[0x5C; 256]);
    let mut params = u16::try_from(public.len()).unwrap().to_be_bytes().to_vec();
    params.extend_from_slice(&public);
    // TPM2B_CREATION_DATA: no PCRs, empty digest, locality 0, parent TPM_RH_OWNER.
    params.extend_from_slice(&[0, 23, 0, 0, 0, 0, 0, 0, 1, 0, 0x10]);
    params.extend_from_slice(&[0, 4, 0x40, 0, 0, 1, 0, 4, 0x40, 0, 0, 1, 0, 0]);
    // creationHash (empty), TPMT_TK_CREATION for the owner hierarchy.
    params.extend_from_slice(&[0, 0, 0x80, 0x21, 0x40, 0, 0, 1, 0, 0]);
    params.extend_from_slice(&[0, 34, 0, 0x0B]);
    params.extend_from_slice(&[0; 32]); // name
    let mut tpm = detected_tpm2(vec![
        counter_public(),
        pcr7_read(),
        with_session(Some(0x8000_0005), &params),
        response(ST_NO_SESSIONS, 0, &[]),
    ]);
    let err = tpm.seal_root(&[1; 32], PcrSelection::parse("7").unwrap()).unwrap_err();
    assert_eq!(err, Error::Malformed { command: 0x131, what: Malformed::NameMismatch });
    let sent = sent_commands(tpm);
    let flush = sent.last().unwrap();
    assert_eq!(code(flush), 0x165);
    assert_eq!(&flush[10..14], &0x8000_0005u32.to_be_bytes());
}

#[test]
fn returned_handle_of_the_wrong_type_is_refused_and_not_flushed() {
    let mut tpm =
        detected_tpm2(vec![counter_public(), pcr7_read(), with_session(Some(0x4000_0001), &[])]);
    let err = tpm.seal_root(&[1; 32], PcrSelection::parse("7").unwrap()).unwrap_err();
    assert_eq!(err, Error::Malformed { command: 0x131, what: Malformed::UnexpectedValue });
    assert!(
        sent_commands(tpm).iter().all(|c| code(c) != 0x165),
        "flushed a handle it does not own"
    );
}

#[test]
fn pcr_read_returning_other_pcrs_is_malformed() {
    let mut body = vec![0, 0, 0, 5, 0, 0, 0, 1, 0, 0x0B, 3, 0x01, 0, 0, 0, 0, 0, 1, 0, 32];
    body.extend_from_slice(&[0xAB; 32]);
    let mut tpm = detected_tpm2(vec![response(ST_NO_SESSIONS, 0, &body)]);
    assert_eq!(malformed(tpm.pcr_read(7)), Malformed::UnexpectedValue);
}

#[test]
fn pcr_read_returning_nothing_means_no_sha256_bank() {
    let body = [0, 0, 0, 5, 0, 0, 0, 1, 0, 0x0B, 3, 0, 0, 0, 0, 0, 0, 0];
    let mut tpm = detected_tpm2(vec![response(ST_NO_SESSIONS, 0, &body)]);
    let err = tpm.pcr_read(7).unwrap_err();
    assert_eq!(err, Error::Unsupported(tpm_client::Unsupported::Sha256Bank));
}

/// A TPM 1.2 that is owned with the well-known owner authorisation, answering
/// correctly (HMACs included) everything detection sends, and then `rest`.
struct OwnedTpm12 {
    rest: Vec<Vec<u8>>,
    corrupt_res_auth: bool,
    nonce_even: [u8; 20],
    step: usize,
}

impl OwnedTpm12 {
    fn answer(&mut self, command: &[u8]) -> Vec<u8> {
        self.step += 1;
        match code(command) {
            0x17A => response(RSP_COMMAND, 0x1E, &[]),
            0x65 => response(RSP_COMMAND, 0, &[0, 0, 0, 2, 0, 0]),
            0x46 => {
                let mut body = 32u32.to_be_bytes().to_vec();
                body.extend_from_slice(&[0x44; 32]);
                response(RSP_COMMAND, 0, &body)
            }
            0x7C => response(RSP_COMMAND, 0x08, &[]),
            0x0A => {
                let mut body = 0x0200_0000u32.to_be_bytes().to_vec();
                body.extend_from_slice(&self.nonce_even);
                response(RSP_COMMAND, 0, &body)
            }
            0x66 => {
                // GetCapabilityOwner: version, non-volatile and volatile flags, then the
                // response auth keyed with the well-known owner secret.
                let out = [1, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
                let nonce_odd: [u8; 20] =
                    command[command.len() - 41..command.len() - 21].try_into().unwrap();
                let digest = Sha1::new()
                    .chain_update(0u32.to_be_bytes())
                    .chain_update(0x66u32.to_be_bytes())
                    .chain_update(out)
                    .finalize();
                let new_even = [0x55u8; 20];
                let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&[0; 20]).unwrap();
                mac.update(&digest);
                mac.update(&new_even);
                mac.update(&nonce_odd);
                mac.update(&[0]);
                let mut res_auth: [u8; 20] = mac.finalize().into_bytes().into();
                if self.corrupt_res_auth {
                    res_auth[0] ^= 1;
                }
                let mut body = out.to_vec();
                body.extend_from_slice(&new_even);
                body.push(0);
                body.extend_from_slice(&res_auth);
                response(0x00C5, 0, &body)
            }
            _ if !self.rest.is_empty() => self.rest.remove(0),
            _ => response(RSP_COMMAND, 0x09, &[]),
        }
    }
}

impl Transport for OwnedTpm12 {
    type Error = ScriptEnd;

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, ScriptEnd> {
        Ok(self.answer(command))
    }
}

fn tpm12(corrupt_res_auth: bool) -> OwnedTpm12 {
    OwnedTpm12 { rest: Vec::new(), corrupt_res_auth, nonce_even: [0x22; 20], step: 0 }
}

#[test]
fn tpm12_owner_check_verifies_the_response_hmac() {
    let tpm = HardwareTpm::detect(tpm12(false), Config::default()).expect("detect");
    assert_eq!(tpm.family(), Family::Tpm12);
    let err = HardwareTpm::detect(tpm12(true), Config::default()).map(|_| ()).unwrap_err();
    assert_eq!(err, Error::ResponseAuth { command: 0x66 });
}

#[test]
fn tpm12_error_codes_are_typed() {
    let mut tpm = HardwareTpm::detect(tpm12(false), Config::default()).expect("detect");
    // Everything else answers TPM_FAIL.
    let err = tpm.pcr_read(0).unwrap_err();
    assert_eq!(err, Error::Tpm { family: Family::Tpm12, command: 0x15, rc: 0x09 });
    assert!(err.to_string().contains("TPM_FAIL"), "{err}");
}

#[test]
fn tpm12_lockout_is_typed() {
    let mut transport = tpm12(false);
    transport.rest.push(response(RSP_COMMAND, 0x803, &[]));
    let mut tpm = HardwareTpm::detect(transport, Config::default()).expect("detect");
    let err = tpm.pcr_read(0).unwrap_err();
    assert!(matches!(err, Error::Lockout { family: Family::Tpm12, rc: 0x803, .. }), "{err:?}");
}

#[test]
fn tpm12_short_pcr_value_is_malformed() {
    let mut transport = tpm12(false);
    transport.rest.push(response(RSP_COMMAND, 0, &[0; 19]));
    let mut tpm = HardwareTpm::detect(transport, Config::default()).expect("detect");
    assert_eq!(malformed(tpm.pcr_read(0)), Malformed::Truncated);
}

#[test]
fn tpm12_pubek_with_a_bad_checksum_is_refused() {
    // Fresh TPM: ReadPubek answers, with a checksum over other bytes.
    let mut key = vec![0, 0, 0, 1, 0, 3, 0, 1, 0, 0, 0, 12, 0, 0, 8, 0, 0, 0, 0, 2, 0, 0, 0, 0];
    key.extend_from_slice(&256u32.to_be_bytes());
    key.extend_from_slice(&[0xC5; 256]);
    key.extend_from_slice(&[0; 20]);
    let script = [
        response(RSP_COMMAND, 0x0A, &[]),
        response(RSP_COMMAND, 0, &[0, 0, 0, 0]),
        response(RSP_COMMAND, 0, &[&32u32.to_be_bytes()[..], &[9; 32]].concat()),
        response(RSP_COMMAND, 0, &key),
    ];
    let result = HardwareTpm::detect(ScriptedTransport::new(script), Config::default());
    assert_eq!(malformed(result), Malformed::Checksum);
}

#[test]
fn exercise_survives_healthy_prefix_and_garbage() {
    // The fuzz body on a script that gets through detection, then answers garbage.
    let mut data = vec![1];
    data.extend_from_slice(&[0, 12, 0x80, 0x02, 0, 0, 0, 12, 0, 0, 0, 0, 0xFF, 0xFF]);
    exercise_hostile_tpm(&data);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_responses_after_detection_give_values_or_typed_errors(
        tail in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..12)
    ) {
        let mut data = vec![1];
        for r in &tail {
            data.extend_from_slice(&u16::try_from(r.len()).unwrap().to_be_bytes());
            data.extend_from_slice(r);
        }
        exercise_hostile_tpm(&data);
    }

    #[test]
    fn framed_garbage_never_panics(code in any::<u32>(), tag in prop::sample::select(vec![0x8001u16, 0x8002, 0x00C4, 0x00C5]), body in proptest::collection::vec(any::<u8>(), 0..80)) {
        let mut script = tpm2_detection_script();
        script.extend(std::iter::repeat_n(response(tag, code, &body), 30));
        let transport = ScriptedTransport::new(script);
        if let Ok(mut tpm) = HardwareTpm::detect(transport, Config::default()) {
            let _ = tpm.random(&mut [0; 4]);
            let _ = tpm.seal_root(&[0; 32], PcrSelection::parse("7").unwrap());
            let _ = tpm.read();
        }
    }
}
