//! The xenstore wire codec: round trips, and every malformed header rejected.

use proptest::prelude::*;
use xenbus::wire::{
    self, Decoder, HEADER_LEN, Header, MessageType, Permission, StoreErrno, WireError,
};
use xenbus::{DomainId, abi::xenstore::PAYLOAD_MAX};

fn message_type() -> impl Strategy<Value = MessageType> {
    (0u32..27).prop_filter_map("known type", MessageType::from_u32)
}

fn raw_header(kind: u32, req_id: u32, tx_id: u32, len: u32) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    for (chunk, value) in out.chunks_exact_mut(4).zip([kind, req_id, tx_id, len]) {
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    out
}

proptest! {
    #[test]
    fn header_round_trips(kind in message_type(), req_id: u32, tx_id: u32, len in 0u32..=4096) {
        let header = Header { kind, req_id, tx_id, len };
        prop_assert_eq!(Header::decode(&header.encode()), Ok(header));
    }

    #[test]
    fn header_with_long_payload_is_rejected(kind in message_type(), len in 4097u32..) {
        let bytes = raw_header(kind as u32, 1, 0, len);
        prop_assert_eq!(Header::decode(&bytes), Err(WireError::PayloadTooLong(len)));
    }

    #[test]
    fn header_with_unknown_type_is_rejected(kind in any::<u32>().prop_filter("unknown", |k| MessageType::from_u32(*k).is_none())) {
        let bytes = raw_header(kind, 1, 0, 0);
        prop_assert_eq!(Header::decode(&bytes), Err(WireError::UnknownType(kind)));
    }

    #[test]
    fn decoder_reassembles_messages_split_anywhere(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..=PAYLOAD_MAX), 1..4),
        cuts in prop::collection::vec(1usize..1500, 1..20),
    ) {
        let mut stream = Vec::new();
        for (i, payload) in (0u32..).zip(&payloads) {
            stream.extend(wire::encode_request(MessageType::Read, i, 0, &[payload]).unwrap());
        }
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        let mut rest = &stream[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at((*cut.next().unwrap()).min(rest.len()));
            decoder.push(piece);
            while let Some(message) = decoder.next_message().unwrap() {
                out.push(message);
            }
            rest = tail;
        }
        prop_assert_eq!(out.len(), payloads.len());
        for (i, (message, payload)) in (0u32..).zip(out.iter().zip(&payloads)) {
            prop_assert_eq!(message.header.req_id, i);
            prop_assert_eq!(&message.payload, payload);
        }
        prop_assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn payload_parsers_never_panic(payload in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = wire::parse_directory(&payload);
        let _ = wire::parse_permissions(&payload);
        let _ = wire::parse_transaction_id(&payload);
        let _ = wire::parse_watch_event(&payload);
        let _ = wire::parse_ack(&payload);
        let _ = StoreErrno::parse(&payload);
    }

    #[test]
    fn permissions_round_trip(domain: u16, access in 0u8..4) {
        let access = [wire::Access::None, wire::Access::Read, wire::Access::Write, wire::Access::Both][access as usize];
        let permission = Permission { domain: DomainId(domain), access };
        prop_assert_eq!(Permission::parse(permission.encode().as_bytes()), Some(permission));
    }

    #[test]
    fn decimal_parse_matches_display(value: u64) {
        prop_assert_eq!(wire::parse_decimal(&value.to_string()), Some(value));
    }
}

#[test]
fn decoder_rejects_a_bad_header_without_waiting_for_its_payload() {
    let mut decoder = Decoder::new();
    decoder.push(&raw_header(MessageType::Read as u32, 1, 0, 5000));
    assert_eq!(decoder.next_message(), Err(WireError::PayloadTooLong(5000)));
}

#[test]
fn request_longer_than_payload_max_is_refused() {
    let big = vec![b'a'; PAYLOAD_MAX + 1];
    assert!(wire::encode_request(MessageType::Write, 1, 0, &[&big]).is_none());
    let exact = vec![b'a'; PAYLOAD_MAX];
    assert!(wire::encode_request(MessageType::Write, 1, 0, &[&exact]).is_some());
}

#[test]
fn error_names_map_to_typed_errors() {
    let cases = [
        (&b"ENOENT\0"[..], StoreErrno::NoEntry),
        (b"EACCES\0", StoreErrno::AccessDenied),
        (b"EAGAIN\0", StoreErrno::Again),
        (b"EINVAL\0", StoreErrno::Invalid),
        (b"EEXIST\0", StoreErrno::Exists),
        (b"EBUSY\0", StoreErrno::Busy),
        (b"ENOSPC\0", StoreErrno::NoSpace),
        (b"EQUOTA\0", StoreErrno::Quota),
        (b"E2BIG\0", StoreErrno::TooBig),
        (b"EPERM", StoreErrno::Permission),
        (b"EWHATEVER\0", StoreErrno::Unknown),
        (b"", StoreErrno::Unknown),
    ];
    for (payload, expected) in cases {
        assert_eq!(StoreErrno::parse(payload), expected, "{payload:?}");
    }
    assert_eq!(StoreErrno::NoEntry.name(), "ENOENT");
}

#[test]
fn directory_reply_shapes() {
    assert_eq!(wire::parse_directory(b"a\0bb\0").unwrap(), ["a", "bb"]);
    assert!(wire::parse_directory(b"").unwrap().is_empty());
    assert_eq!(wire::parse_directory(b"a\0b"), Err(WireError::MalformedPayload));
    assert_eq!(wire::parse_directory(b"a/b\0"), Err(WireError::MalformedPayload));
    assert_eq!(wire::parse_directory(b"\0"), Err(WireError::MalformedPayload));
}

#[test]
fn watch_event_needs_path_and_terminated_token() {
    let event = wire::parse_watch_event(b"device/vtpm\0tok\0").unwrap();
    assert_eq!((event.path.as_str(), event.token.as_str()), ("device/vtpm", "tok"));
    assert!(wire::parse_watch_event(b"device/vtpm\0tok").is_err());
    assert!(wire::parse_watch_event(b"\0tok\0").is_err());
    assert!(wire::parse_watch_event(b"").is_err());
}

#[test]
fn transaction_id_must_be_a_nonzero_decimal() {
    assert_eq!(wire::parse_transaction_id(b"42\0"), Ok(42));
    assert!(wire::parse_transaction_id(b"0\0").is_err());
    assert!(wire::parse_transaction_id(b"x\0").is_err());
    assert!(wire::parse_transaction_id(b"4294967296\0").is_err());
}

#[test]
fn decimal_parse_is_strict() {
    for bad in ["", "-1", "+1", " 1", "1 ", "01", "0x10", "18446744073709551616"] {
        assert_eq!(wire::parse_decimal(bad), None, "{bad:?}");
    }
    assert_eq!(wire::parse_decimal("0"), Some(0));
}
