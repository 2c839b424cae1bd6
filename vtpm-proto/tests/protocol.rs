//! Byte layouts against the C implementation, round trips and every malformed case.

use proptest::prelude::*;
use vtpm_proto::{
    Command, Error, HEADER_LEN, Hashkey, MAX_MESSAGE, MAX_RANDOM_BYTES, MAX_VTPM_LIST_UUIDS,
    QuoteRequest, Request, Response, ReturnCode, Uuid, encode_status, ordinal, reject, reply_tag,
    tag,
};

fn encode_request(request: &Request<'_>) -> Vec<u8> {
    let mut out = [0u8; MAX_MESSAGE];
    let len = request.encode(&mut out).unwrap();
    out[..len].to_vec()
}

fn encode_response(response: &Response<'_>) -> Vec<u8> {
    let mut out = [0u8; MAX_MESSAGE];
    let len = response.encode(&mut out).unwrap();
    out[..len].to_vec()
}

/// A message from its parts, with a correct size field.
fn message(tag: u16, code: u32, body: &[u8]) -> Vec<u8> {
    let size = u32::try_from(HEADER_LEN + body.len()).unwrap();
    let mut m = Vec::new();
    m.extend_from_slice(&tag.to_be_bytes());
    m.extend_from_slice(&size.to_be_bytes());
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// The manager's answer to a refused request, as (tag, code).
fn rejection(request: &[u8]) -> (u16, u32) {
    let error = Request::parse(request).unwrap_err();
    let mut out = [0u8; 16];
    let len = reject(request, &error, &mut out).unwrap();
    assert_eq!(len, 10, "error answers are header-only");
    (u16::from_be_bytes([out[0], out[1]]), u32::from_be_bytes(out[6..10].try_into().unwrap()))
}

const UUID: Uuid = Uuid([0x11; 16]);

// --- Byte layouts, written out from stubdom/vtpm/vtpm_cmd.c and
// --- stubdom/vtpmmgr/vtpm_cmd_handler.c.

#[test]
fn save_hashkey_request_matches_c_vtpm_layout() {
    // VTPM_SaveHashKey: header (tag REQ, size 10 + 52, ordinal 1) then the 52 bytes.
    let key = [0x5A; 52];
    let mut expected = vec![0x01, 0xC1, 0, 0, 0, 62, 0, 0, 0, 1];
    expected.extend_from_slice(&key);
    let request = Request::SaveHashKey(Hashkey::new(&key).unwrap());
    assert_eq!(encode_request(&request), expected);
    assert_eq!(Request::parse(&expected).unwrap(), request);
}

#[test]
fn load_hashkey_request_is_a_bare_header() {
    let expected = [0x01, 0xC1, 0, 0, 0, 10, 0, 0, 0, 2];
    assert_eq!(encode_request(&Request::LoadHashKey), expected);
}

#[test]
fn load_hashkey_reply_is_52_bytes_for_a_c_key() {
    // vtpmmgr_LoadHashKey stores 64 zero-padded bytes, answers 52 when the tail is zero.
    let stored = Hashkey::new(&[0x33; 52]).unwrap();
    let bytes = encode_response(&Response::LoadHashKey(stored.clone()));
    let mut expected = vec![0x01, 0xC4, 0, 0, 0, 62, 0, 0, 0, 0];
    expected.extend_from_slice(&[0x33; 52]);
    assert_eq!(bytes, expected);
    assert_eq!(
        Response::parse(Command::LoadHashKey, &bytes).unwrap(),
        Response::LoadHashKey(stored)
    );
}

#[test]
fn load_hashkey_reply_is_64_bytes_when_the_tail_is_set() {
    let mut key = [0x33; 64];
    key[63] = 0;
    let bytes = encode_response(&Response::LoadHashKey(Hashkey::new(&key).unwrap()));
    assert_eq!(bytes.len(), 74);
    assert_eq!(&bytes[10..], &key);
}

#[test]
fn get_random_request_matches_c_vtpm_layout() {
    // VTPM_GetRandom: TPM_TAG_RQU_COMMAND, 14 bytes, TPM_ORD_GetRandom, u32 count.
    let expected = [0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x46, 0, 0, 0, 0x20];
    let request = Request::GetRandom { bytes_requested: 32 };
    assert_eq!(encode_request(&request), expected);
    assert_eq!(Request::parse(&expected).unwrap(), request);
}

#[test]
fn get_random_reply_matches_tpm12_layout() {
    let bytes = encode_response(&Response::GetRandom(&[9, 8, 7]));
    assert_eq!(bytes, [0x00, 0xC4, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 3, 9, 8, 7]);
}

#[test]
fn pcr_read_request_matches_c_vtpm_layout() {
    let expected = [0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15, 0, 0, 0, 17];
    assert_eq!(encode_request(&Request::PcrRead { index: 17 }), expected);
}

#[test]
fn extend_request_matches_tpm12_layout() {
    let mut expected = vec![0x00, 0xC1, 0, 0, 0, 34, 0, 0, 0, 0x14, 0, 0, 0, 4];
    expected.extend_from_slice(&[0xEE; 20]);
    let request = Request::Extend { index: 4, digest: [0xEE; 20] };
    assert_eq!(encode_request(&request), expected);
    assert_eq!(Request::parse(&expected).unwrap(), request);
}

#[test]
fn get_quote_request_matches_c_vtpm_layout() {
    // VTPM_GetParentQuote: nonce, TPM_PCR_SELECTION (u16 size + bytes), u32 flags.
    let mut expected = vec![0x01, 0xC1, 0, 0, 0, 39, 0, 0, 0, 4];
    expected.extend_from_slice(&[0xAB; 20]);
    expected.extend_from_slice(&[0, 3, 0xFF, 0x00, 0x01]);
    expected.extend_from_slice(&[0, 0, 0, 0x9]);
    let request = Request::GetQuote(QuoteRequest {
        nonce: [0xAB; 20],
        pcr_selection: &[0xFF, 0x00, 0x01],
        flags: QuoteRequest::FLAG_HASH_UUID | QuoteRequest::FLAG_GROUP_PUBKEY,
    });
    assert_eq!(encode_request(&request), expected);
    assert_eq!(Request::parse(&expected).unwrap(), request);
}

#[test]
fn vtpm_new_request_carries_a_uuid_only_at_30_bytes() {
    let with = message(
        tag::REQ2,
        ordinal::VTPM_NEW,
        &[
            0, 0, 0, 0, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
            0x11, 0x11, 0x11, 0x11,
        ],
    );
    assert_eq!(with.len(), 30);
    assert_eq!(Request::parse(&with).unwrap(), Request::VtpmNew { group: 0, uuid: Some(UUID) });
    let without = message(tag::REQ2, ordinal::VTPM_NEW, &[0, 0, 0, 2]);
    assert_eq!(Request::parse(&without).unwrap(), Request::VtpmNew { group: 2, uuid: None });
}

#[test]
fn vtpm_list_reply_matches_c_manager_layout() {
    let uuids = [[0x22; 16], [0x33; 16]];
    let bytes = encode_response(&Response::VtpmList { total: 7, uuids: &uuids });
    let mut expected = vec![0x01, 0xC4, 0, 0, 0, 46, 0, 0, 0, 0, 0, 0, 0, 7];
    expected.extend_from_slice(&[0x22; 16]);
    expected.extend_from_slice(&[0x33; 16]);
    assert_eq!(bytes, expected);
}

#[test]
fn status_answer_is_a_bare_header() {
    let mut out = [0u8; 10];
    assert_eq!(encode_status(tag::RSP, ReturnCode::FAIL, &mut out), Ok(10));
    assert_eq!(out, [0x01, 0xC4, 0, 0, 0, 10, 0, 0, 0, 9]);
}

// --- Every refused request: the code and tag the manager answers with.

#[test]
fn short_requests_get_bad_parameter_under_rsp_command() {
    let full = encode_request(&Request::LoadHashKey);
    for len in 0..HEADER_LEN {
        assert_eq!(Request::parse(&full[..len]), Err(Error::TooShort { len }));
        assert_eq!(rejection(&full[..len]), (tag::RSP_COMMAND, 3));
    }
}

#[test]
fn size_field_mismatch_gets_bad_param_size() {
    let mut bigger = encode_request(&Request::LoadHashKey);
    bigger[5] = 11;
    assert_eq!(Request::parse(&bigger), Err(Error::SizeMismatch { declared: 11, len: 10 }));
    assert_eq!(rejection(&bigger), (tag::RSP, 25));
    let mut extra = encode_request(&Request::LoadHashKey);
    extra.push(0);
    assert_eq!(Request::parse(&extra), Err(Error::SizeMismatch { declared: 10, len: 11 }));
}

#[test]
fn oversized_request_gets_tpm_size() {
    let huge = message(tag::REQ, ordinal::SAVEHASHKEY, &[0; MAX_MESSAGE]);
    assert_eq!(Request::parse(&huge), Err(Error::TooLong { len: MAX_MESSAGE + HEADER_LEN }));
    assert_eq!(rejection(&huge), (tag::RSP, 23));
}

#[test]
fn unknown_tag_gets_badtag_under_rsp_command() {
    let bad = message(0x8001, 0x144, &[]);
    assert_eq!(Request::parse(&bad), Err(Error::BadTag(0x8001)));
    assert_eq!(rejection(&bad), (tag::RSP_COMMAND, 30));
}

#[test]
fn unknown_vtpm_ordinal_gets_bad_ordinal() {
    let bad = message(tag::REQ, 5, &[]);
    assert_eq!(Request::parse(&bad), Err(Error::BadOrdinal { tag: tag::REQ, ordinal: 5 }));
    assert_eq!(rejection(&bad), (tag::RSP, 10));
}

#[test]
fn unknown_management_ordinal_gets_bad_ordinal_under_rsp2() {
    let bad = message(tag::REQ2, 0x0200_0999, &[]);
    assert_eq!(rejection(&bad), (tag::RSP2, 10));
}

#[test]
fn unimplemented_management_ordinals_are_typed_not_supported() {
    for o in [
        ordinal::GROUP_LIST,
        ordinal::GROUP_NEW,
        ordinal::GROUP_DEL,
        ordinal::GROUP_ACTIVATE,
        ordinal::GROUP_REGISTER,
        ordinal::GROUP_UPDATE,
        ordinal::GROUP_SHOW,
        ordinal::GROUP_QUOTE,
        ordinal::GROUP_RECOVER1,
        ordinal::GROUP_RECOVER2,
        ordinal::VTPM_SHOW,
        ordinal::VTPM_EDIT,
        ordinal::TPM_MGMT_FIRST,
        ordinal::TPM_MGMT_LAST,
    ] {
        let request = message(tag::REQ2, o, &[0, 0, 0, 0]);
        assert_eq!(Request::parse(&request), Err(Error::NotSupported(o)));
        assert_eq!(rejection(&request), (tag::RSP2, 10));
    }
}

#[test]
fn disallowed_passthrough_gets_disabled_cmd() {
    // TPM_ORD_OwnerClear under each request tag.
    for (t, reply) in [
        (tag::RQU_COMMAND, tag::RSP_COMMAND),
        (tag::RQU_AUTH1_COMMAND, tag::RSP_AUTH1_COMMAND),
        (tag::RQU_AUTH2_COMMAND, tag::RSP_AUTH2_COMMAND),
    ] {
        let request = message(t, 0x5B, &[0; 45]);
        assert_eq!(Request::parse(&request), Err(Error::PassthroughDisabled(0x5B)));
        assert_eq!(rejection(&request), (reply, 8));
    }
}

#[test]
fn passthrough_with_auth_tag_gets_badtag() {
    let request = message(tag::RQU_AUTH1_COMMAND, ordinal::TPM_GET_RANDOM, &[0, 0, 0, 8]);
    assert_eq!(Request::parse(&request), Err(Error::BadTag(tag::RQU_AUTH1_COMMAND)));
    assert_eq!(rejection(&request), (tag::RSP_AUTH1_COMMAND, 30));
}

/// Every body length an ordinal does not allow is refused with TPM_BAD_PARAMETER.
#[test]
fn wrong_body_lengths_get_bad_parameter() {
    let cases: [(u16, u32, &[usize]); 9] = [
        (tag::REQ, ordinal::SAVEHASHKEY, &[0, 20, 51, 65, 100]),
        (tag::REQ, ordinal::LOADHASHKEY, &[1, 52]),
        (tag::REQ, ordinal::GET_BOOT_HASH, &[1, 20]),
        (tag::RQU_COMMAND, ordinal::TPM_GET_RANDOM, &[0, 3, 5]),
        (tag::RQU_COMMAND, ordinal::TPM_PCR_READ, &[0, 3, 5]),
        (tag::RQU_COMMAND, ordinal::TPM_EXTEND, &[4, 23, 25]),
        (tag::REQ2, ordinal::VTPM_LIST, &[0, 4, 7, 9]),
        // 17 is what manage-vtpmmgr.pl sends for "vtpm new" with a UUID.
        (tag::REQ2, ordinal::VTPM_NEW, &[0, 3, 5, 17, 19, 21]),
        (tag::REQ2, ordinal::VTPM_DEL, &[0, 15, 17, 20]),
    ];
    for (t, o, lengths) in cases {
        for &len in lengths {
            let request = message(t, o, &vec![0; len]);
            assert_eq!(
                Request::parse(&request),
                Err(Error::BodyLength { ordinal: o, len }),
                "{o:#x} {len}"
            );
            let expected_tag = if t == tag::RQU_COMMAND { tag::RSP_COMMAND } else { tag::RSP };
            assert_eq!(rejection(&request), (expected_tag, 3), "{o:#x} {len}");
        }
    }
}

#[test]
fn every_truncated_get_quote_body_is_refused() {
    let full = encode_request(&Request::GetQuote(QuoteRequest {
        nonce: [1; 20],
        pcr_selection: &[0xFF, 0xFF, 0xFF],
        flags: 0,
    }));
    for cut in HEADER_LEN..full.len() {
        let mut short = full[..cut].to_vec();
        short[2..6].copy_from_slice(&u32::try_from(cut).unwrap().to_be_bytes());
        assert_eq!(Request::parse(&short), Err(Error::Truncated), "cut at {cut}");
        assert_eq!(rejection(&short), (tag::RSP, 3));
    }
}

#[test]
fn get_quote_with_trailing_bytes_is_refused() {
    let mut body = vec![1; 20];
    body.extend_from_slice(&[0, 1, 0xFF, 0, 0, 0, 0, 0xAA]);
    assert_eq!(
        Request::parse(&message(tag::REQ, ordinal::GET_QUOTE, &body)),
        Err(Error::TrailingBytes)
    );
}

#[test]
fn get_quote_with_unknown_flags_is_refused() {
    let mut body = vec![1; 20];
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0x10]);
    let request = message(tag::REQ, ordinal::GET_QUOTE, &body);
    assert_eq!(Request::parse(&request), Err(Error::BadQuoteFlags(0x10)));
    assert_eq!(rejection(&request), (tag::RSP, 3));
}

// --- Responses as the vTPM sees them.

#[test]
fn error_status_is_reported_whatever_the_response_tag() {
    for t in [tag::RSP, tag::RSP2, tag::RSP_COMMAND, tag::RSP_AUTH1_COMMAND, tag::RSP_AUTH2_COMMAND]
    {
        let answer = message(t, 3, &[]);
        for command in Command::ALL {
            assert_eq!(
                Response::parse(command, &answer),
                Err(Error::Status(ReturnCode::BAD_PARAMETER))
            );
        }
    }
}

#[test]
fn answers_with_a_request_tag_are_refused() {
    let answer = message(tag::REQ, 0, &[]);
    assert_eq!(Response::parse(Command::SaveHashKey, &answer), Err(Error::UnexpectedTag(tag::REQ)));
    let failure = message(tag::RQU_COMMAND, 9, &[]);
    assert_eq!(
        Response::parse(Command::GetRandom, &failure),
        Err(Error::UnexpectedTag(tag::RQU_COMMAND))
    );
}

#[test]
fn success_must_carry_the_handler_tag() {
    assert_eq!(
        Response::parse(Command::SaveHashKey, &message(tag::RSP2, 0, &[])),
        Err(Error::UnexpectedTag(tag::RSP2))
    );
    assert_eq!(
        Response::parse(Command::PcrRead, &message(tag::RSP, 0, &[0; 20])),
        Err(Error::UnexpectedTag(tag::RSP))
    );
}

#[test]
fn wrong_response_body_lengths_are_refused() {
    let cases: [(Command, &[usize]); 9] = [
        (Command::SaveHashKey, &[1, 52]),
        (Command::LoadHashKey, &[0, 20, 51, 53, 63, 65]),
        (Command::GetBootHash, &[0, 19, 21]),
        (Command::GetQuote, &[0, 255, 257, 276 + 19]),
        (Command::PcrRead, &[0, 19, 21]),
        (Command::Extend, &[0, 19, 21]),
        (Command::VtpmList, &[0, 3, 5, 4 + 17]),
        (Command::VtpmNew, &[0, 15, 17]),
        (Command::VtpmDel, &[1, 16]),
    ];
    for (command, lengths) in cases {
        for &len in lengths {
            let answer = message(command.reply_tag(), 0, &vec![0; len]);
            assert_eq!(
                Response::parse(command, &answer),
                Err(Error::BodyLength { ordinal: command.ordinal(), len }),
                "{command:?} {len}"
            );
        }
    }
}

#[test]
fn get_random_count_must_match_the_bytes() {
    let more = message(tag::RSP_COMMAND, 0, &[0, 0, 0, 4, 1, 2, 3]);
    assert_eq!(Response::parse(Command::GetRandom, &more), Err(Error::Truncated));
    let fewer = message(tag::RSP_COMMAND, 0, &[0, 0, 0, 2, 1, 2, 3]);
    assert_eq!(Response::parse(Command::GetRandom, &fewer), Err(Error::TrailingBytes));
    let huge = message(tag::RSP_COMMAND, 0, &[0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(Response::parse(Command::GetRandom, &huge), Err(Error::Truncated));
}

#[test]
fn get_quote_reply_splits_signature_and_values() {
    let mut body = vec![0x5E; 256];
    body.extend_from_slice(&[1; 20]);
    body.extend_from_slice(&[2; 20]);
    let answer = message(tag::RSP, 0, &body);
    let Response::GetQuote { signature, values } =
        Response::parse(Command::GetQuote, &answer).unwrap()
    else {
        panic!("not a quote");
    };
    assert_eq!(signature, &[0x5E; 256]);
    assert_eq!(values, &[[1; 20], [2; 20]]);
}

// --- Encoder limits.

#[test]
fn encoders_refuse_short_buffers() {
    let mut out = [0u8; 61];
    let request = Request::SaveHashKey(Hashkey::new(&[1; 52]).unwrap());
    assert_eq!(request.encode(&mut out), Err(Error::BufferTooSmall { needed: 62 }));
    assert_eq!(
        encode_status(tag::RSP, ReturnCode::FAIL, &mut out[..9]),
        Err(Error::BufferTooSmall { needed: 10 })
    );
}

#[test]
fn encoders_never_exceed_one_page() {
    let mut out = [0u8; 2 * MAX_MESSAGE];
    let uuids = vec![[0u8; 16]; MAX_VTPM_LIST_UUIDS];
    let full = Response::VtpmList { total: 1000, uuids: &uuids };
    assert!(full.encode(&mut out).unwrap() <= MAX_MESSAGE);
    let uuids = vec![[0u8; 16]; MAX_VTPM_LIST_UUIDS + 1];
    assert_eq!(
        Response::VtpmList { total: 1000, uuids: &uuids }.encode(&mut out),
        Err(Error::MessageTooLarge)
    );
    let random = vec![0u8; MAX_RANDOM_BYTES + 1];
    assert_eq!(Response::GetRandom(&random).encode(&mut out), Err(Error::MessageTooLarge));
    assert_eq!(Response::GetRandom(&random[1..]).encode(&mut out), Ok(MAX_MESSAGE));
    let selection = vec![0u8; MAX_MESSAGE];
    let quote =
        Request::GetQuote(QuoteRequest { nonce: [0; 20], pcr_selection: &selection, flags: 0 });
    assert_eq!(quote.encode(&mut out), Err(Error::MessageTooLarge));
}

#[test]
fn reply_tag_follows_the_c_dispatcher() {
    let get_random = encode_request(&Request::GetRandom { bytes_requested: 1 });
    assert_eq!(reply_tag(&get_random, &Error::PassthroughDisabled(1)), tag::RSP_COMMAND);
    assert_eq!(Command::VtpmNew.refusal_tag(), tag::RSP2);
    assert_eq!(Command::Extend.refusal_tag(), tag::RSP_COMMAND);
    assert_eq!(Command::VtpmNew.reply_tag(), tag::RSP);
    assert_eq!(Command::GetRandom.reply_tag(), tag::RSP_COMMAND);
}

#[test]
fn error_display_names_the_ordinal() {
    let text = Error::BodyLength { ordinal: ordinal::SAVEHASHKEY, len: 70 }.to_string();
    assert_eq!(text, "SAVEHASHKEY: body of 70 bytes not allowed");
    assert_eq!(ReturnCode(3).to_string(), "TPM_BAD_PARAMETER (0x3)");
    assert_eq!(ReturnCode(0x99).to_string(), "TPM return code 0x99");
}

// --- Properties.

/// Owned material a request or response can borrow from.
#[derive(Clone, Debug)]
struct Material {
    which: u8,
    a: u32,
    b: u32,
    digest: [u8; 20],
    uuid: [u8; 16],
    flag: bool,
    bytes: Vec<u8>,
    key: Vec<u8>,
}

fn material() -> impl Strategy<Value = Material> {
    (
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
        any::<[u8; 20]>(),
        any::<[u8; 16]>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..600),
        proptest::collection::vec(any::<u8>(), 52..=64),
    )
        .prop_map(|(which, a, b, digest, uuid, flag, bytes, key)| Material {
            which,
            a,
            b,
            digest,
            uuid,
            flag,
            bytes,
            key,
        })
}

fn build_request(m: &Material) -> Request<'_> {
    match m.which % 10 {
        0 => Request::SaveHashKey(Hashkey::new(&m.key).unwrap()),
        1 => Request::LoadHashKey,
        2 => Request::GetBootHash,
        3 => Request::GetQuote(QuoteRequest {
            nonce: m.digest,
            pcr_selection: &m.bytes,
            flags: m.a & QuoteRequest::FLAGS_ALL,
        }),
        4 => Request::GetRandom { bytes_requested: m.a },
        5 => Request::PcrRead { index: m.a },
        6 => Request::Extend { index: m.a, digest: m.digest },
        7 => Request::VtpmList { group: m.a, offset: m.b },
        8 => Request::VtpmNew { group: m.a, uuid: m.flag.then_some(Uuid(m.uuid)) },
        _ => Request::VtpmDel { uuid: Uuid(m.uuid) },
    }
}

fn build_response(
    m: &Material,
    uuids: &[[u8; 16]],
    values: &[[u8; 20]],
    signature: &[u8; 256],
) -> Response<'static> {
    // Leak the borrowed parts: proptest cases are few and short-lived.
    let uuids: &'static [[u8; 16]] = Box::leak(uuids.to_vec().into_boxed_slice());
    let values: &'static [[u8; 20]] = Box::leak(values.to_vec().into_boxed_slice());
    let signature: &'static [u8; 256] = Box::leak(Box::new(*signature));
    let bytes: &'static [u8] = Box::leak(m.bytes.clone().into_boxed_slice());
    match m.which % 10 {
        0 => Response::SaveHashKey,
        1 => Response::LoadHashKey(Hashkey::new(&m.key).unwrap()),
        2 => Response::GetBootHash(m.digest),
        3 => Response::GetQuote { signature, values },
        4 => Response::GetRandom(bytes),
        5 => Response::PcrRead(m.digest),
        6 => Response::Extend(m.digest),
        7 => Response::VtpmList { total: m.a, uuids },
        8 => Response::VtpmNew(Uuid(m.uuid)),
        _ => Response::VtpmDel,
    }
}

proptest! {
    #[test]
    fn request_round_trips(m in material()) {
        let request = build_request(&m);
        let bytes = encode_request(&request);
        prop_assert_eq!(u32::from_be_bytes(bytes[2..6].try_into().unwrap()) as usize, bytes.len());
        prop_assert_eq!(Request::parse(&bytes).unwrap(), request);
    }

    #[test]
    fn response_round_trips(
        m in material(),
        uuids in proptest::collection::vec(any::<[u8; 16]>(), 0..=MAX_VTPM_LIST_UUIDS),
        values in proptest::collection::vec(any::<[u8; 20]>(), 0..40),
        signature in proptest::collection::vec(any::<u8>(), 256),
    ) {
        let response = build_response(&m, &uuids, &values, &signature.try_into().unwrap());
        let bytes = encode_response(&response);
        prop_assert_eq!(Response::parse(response.command(), &bytes).unwrap(), response);
    }

    #[test]
    fn every_proper_prefix_of_a_request_is_refused(m in material()) {
        let bytes = encode_request(&build_request(&m));
        for len in 0..bytes.len() {
            prop_assert!(Request::parse(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn any_size_field_but_the_length_is_refused(m in material(), size in any::<u32>()) {
        let mut bytes = encode_request(&build_request(&m));
        prop_assume!(size as usize != bytes.len());
        bytes[2..6].copy_from_slice(&size.to_be_bytes());
        prop_assert_eq!(
            Request::parse(&bytes),
            Err(Error::SizeMismatch { declared: size, len: bytes.len() })
        );
    }

    /// Whatever arrives, the manager can answer: either a parsed request or a
    /// well-formed 10-byte refusal with a non-zero code that the C client reads back.
    #[test]
    fn any_bytes_get_a_request_or_a_refusal(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Err(error) = Request::parse(&bytes) {
            let mut out = [0u8; 10];
            prop_assert_eq!(reject(&bytes, &error, &mut out), Ok(10));
            let code = error.return_code();
            prop_assert!(!code.is_success());
            for command in Command::ALL {
                prop_assert_eq!(Response::parse(command, &out), Err(Error::Status(code)));
            }
        }
    }

    /// Random bodies under a valid header of every ordinal never panic the parser.
    #[test]
    fn headers_with_random_bodies_never_panic(
        which in 0usize..Command::ALL.len(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let command = Command::ALL[which];
        let request = message(command.tag(), command.ordinal(), &body);
        if let Ok(parsed) = Request::parse(&request) {
            prop_assert_eq!(encode_request(&parsed), request);
        }
        let answer = message(command.reply_tag(), 0, &body);
        if let Ok(parsed) = Response::parse(command, &answer) {
            // LOADHASHKEY is the one answer with two encodings (a 64-byte body whose
            // tail is zero comes back as 52); everything else is canonical.
            let again = encode_response(&parsed);
            prop_assert_eq!(Response::parse(command, &again).unwrap(), parsed);
        }
    }
}
