//! Both channels of `serve`, every control command and hostile input, against the
//! scripted fake engine.

#![allow(clippy::cast_possible_truncation, reason = "test lengths are small constants")]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};
use tpm_engine::Family;
use vtpm_tool::ctrl::{cmd, rc};
use vtpm_tool::endpoint::Endpoint;
use vtpm_tool::server::Exit;

const BOTH: [Family; 2] = [Family::Tpm12, Family::Tpm20];

fn started(family: Family, state: &TempDir) -> Running {
    let server = start_fake(family, state.path());
    assert_eq!(response_code(&tpm(server.data_addr(), &startup_clear(family))), 0);
    server
}

fn extend(family: Family, data: &[u8; 4]) -> Vec<u8> {
    tpm_command(family, FAKE_EXTEND, data)
}

#[test]
fn capabilities_are_swtpm_0_7_sets() {
    let dir = TempDir::new("caps");
    let tpm12 = start_fake(Family::Tpm12, dir.path());
    assert_eq!(ctrl(tpm12.ctrl_addr(), cmd::GET_CAPABILITY, &[]), words(&[0, 0x7fff]));
    let dir2 = TempDir::new("caps2");
    let tpm2 = start_fake(Family::Tpm20, dir2.path());
    assert_eq!(ctrl(tpm2.ctrl_addr(), cmd::GET_CAPABILITY, &[]), words(&[0, 0xffff]));
}

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_be_bytes()).collect()
}

#[test]
fn set_locality_reaches_the_engine() {
    for family in BOTH {
        let dir = TempDir::new("loc");
        let server = started(family, &dir);
        assert_eq!(ctrl(server.ctrl_addr(), cmd::SET_LOCALITY, &[3]), words(&[0]));
        assert_eq!(read_state(server.data_addr(), family).locality, 3);
        assert_eq!(server.log.lock().unwrap().last().unwrap().locality, 3);
        assert_eq!(ctrl(server.ctrl_addr(), cmd::SET_LOCALITY, &[5]), words(&[rc::BAD_LOCALITY]));
        assert_eq!(read_state(server.data_addr(), family).locality, 3);
    }
}

#[test]
fn tcg_prefix_sets_a_sticky_locality_and_frames_the_answer() {
    let dir = TempDir::new("prefix");
    let server = started(Family::Tpm20, &dir);
    let read = tpm_command(Family::Tpm20, FAKE_READ, &[]);
    let mut prefixed = vec![0, 0, 0, 8, 2];
    prefixed.extend_from_slice(&(read.len() as u32).to_be_bytes());
    prefixed.extend_from_slice(&read);
    let mut stream = connect(server.data_addr());
    stream.write_all(&prefixed).unwrap();
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).unwrap();
    let response = read_response(&mut stream);
    assert_eq!(u32::from_be_bytes(size) as usize, response.len());
    let mut ack = [0xffu8; 4];
    stream.read_exact(&mut ack).unwrap();
    assert_eq!(ack, [0; 4]);
    assert_eq!(Observed::decode(&response).locality, 2);
    drop(stream);
    // Plain commands keep that locality, as in swtpm.
    assert_eq!(read_state(server.data_addr(), Family::Tpm20).locality, 2);
}

#[test]
fn clients_are_served_one_after_another() {
    let dir = TempDir::new("seq");
    let server = started(Family::Tpm20, &dir);
    let read = tpm_command(Family::Tpm20, FAKE_READ, &[]);
    let mut first = connect(server.data_addr());
    assert_eq!(response_code(&transact(&mut first, &read)), 0);
    // A second client waits while the first is connected...
    let mut second = connect(server.data_addr());
    second.write_all(&read).unwrap();
    second.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut byte = [0u8; 1];
    assert!(second.read(&mut byte).is_err(), "second client served while the first is connected");
    // ...and is served once the first leaves.
    assert_eq!(response_code(&transact(&mut first, &read)), 0);
    drop(first);
    second.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(response_code(&read_response(&mut second)), 0);
}

#[test]
fn client_leaving_mid_command_does_not_stop_the_server() {
    for family in BOTH {
        let dir = TempDir::new("mid");
        let server = started(family, &dir);
        let read = tpm_command(family, FAKE_READ, &[]);
        for cut in [1, 5, 9, 10, 11] {
            let mut stream = connect(server.data_addr());
            let mut partial = tpm_command(family, FAKE_EXTEND, &[1, 2, 3, 4]);
            partial.truncate(cut);
            stream.write_all(&partial).unwrap();
            drop(stream);
            assert_eq!(response_code(&tpm(server.data_addr(), &read)), 0, "after a cut at {cut}");
        }
        // The cut command never reached the engine.
        assert!(
            server
                .log
                .lock()
                .unwrap()
                .iter()
                .all(|s| s.command.len() >= 10 && s.command[6..10] != FAKE_EXTEND.to_be_bytes())
        );
    }
}

#[test]
fn undersized_header_gets_a_size_error_and_the_connection_closes() {
    for (family, expected) in [
        (Family::Tpm12, [0x00, 0xc4, 0, 0, 0, 10, 0, 0, 0, 0x19]),
        (Family::Tpm20, [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x42]),
    ] {
        let dir = TempDir::new("under");
        let server = started(family, &dir);
        let mut stream = connect(server.data_addr());
        let mut bad = tpm_command(family, FAKE_READ, &[]);
        bad[5] = 9;
        assert_eq!(transact(&mut stream, &bad), expected);
        expect_close(&mut stream, Duration::from_secs(5));
        assert_eq!(
            response_code(&tpm(server.data_addr(), &tpm_command(family, FAKE_READ, &[]))),
            0
        );
    }
}

#[test]
fn oversized_command_is_discarded_and_answered_and_the_connection_goes_on() {
    let dir = TempDir::new("over");
    let server = started(Family::Tpm20, &dir);
    let mut stream = connect(server.data_addr());
    let mut big = tpm_command(Family::Tpm20, FAKE_EXTEND, &vec![7u8; 5000 - 10]);
    big[2..6].copy_from_slice(&5000u32.to_be_bytes());
    let answer = transact(&mut stream, &big);
    assert_eq!(answer, [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x42]);
    let read = transact(&mut stream, &tpm_command(Family::Tpm20, FAKE_READ, &[]));
    assert_eq!(Observed::decode(&read).pcr, [0; 32], "the oversized command reached the engine");
}

#[test]
fn huge_size_field_never_allocates_and_the_next_client_is_served() {
    let dir = TempDir::new("huge");
    let server = started(Family::Tpm12, &dir);
    let mut stream = connect(server.data_addr());
    stream.write_all(&[0x00, 0xc1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x15, 1, 2, 3]).unwrap();
    drop(stream);
    assert_eq!(
        response_code(&tpm(server.data_addr(), &tpm_command(Family::Tpm12, FAKE_READ, &[]))),
        0
    );
}

#[test]
fn stopped_tpm_answers_fatal_errors_until_init() {
    for (family, fatal) in [
        (Family::Tpm12, [0x00, 0xc4, 0, 0, 0, 10, 0, 0, 0, 0x09]),
        (Family::Tpm20, [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01]),
    ] {
        let dir = TempDir::new("stop");
        let server = started(family, &dir);
        let c = server.ctrl_addr();
        let read = tpm_command(family, FAKE_READ, &[]);
        assert_eq!(ctrl(c, cmd::STOP, &[]), words(&[0]));
        assert_eq!(tpm(server.data_addr(), &read), fatal);
        for code in [
            cmd::GET_TPMESTABLISHED,
            cmd::HASH_START,
            cmd::HASH_END,
            cmd::CANCEL_TPM_CMD,
            cmd::STORE_VOLATILE,
        ] {
            assert_eq!(ctrl(c, code, &[]), words(&[rc::BAD_ORDINAL]), "command {code:#x}");
        }
        assert_eq!(ctrl(c, cmd::GET_STATEBLOB, &[0; 12]), words(&[rc::BAD_ORDINAL]));
        // A second stop is harmless.
        assert_eq!(ctrl(c, cmd::STOP, &[]), words(&[0]));
        assert_eq!(ctrl(c, cmd::INIT, &[0; 4]), words(&[0]));
        // Power-on: Startup is the client's again.
        assert_eq!(response_code(&tpm(server.data_addr(), &read)), rc_initialize(family));
        assert_eq!(response_code(&tpm(server.data_addr(), &startup_clear(family))), 0);
    }
}

#[test]
fn init_power_cycles_and_resumes_from_stored_volatile() {
    for family in BOTH {
        let dir = TempDir::new("init");
        let server = started(family, &dir);
        let (c, d) = (server.ctrl_addr(), server.data_addr());
        assert_eq!(response_code(&tpm(d, &extend(family, b"abcd"))), 0);
        let pcr = read_state(d, family).pcr;
        // Plain INIT: volatile state gone.
        assert_eq!(ctrl(c, cmd::INIT, &[0; 4]), words(&[0]));
        assert_eq!(
            response_code(&tpm(d, &tpm_command(family, FAKE_READ, &[]))),
            rc_initialize(family)
        );
        assert_eq!(response_code(&tpm(d, &startup_clear(family))), 0);
        assert_eq!(response_code(&tpm(d, &extend(family, b"abcd"))), 0);
        assert_eq!(read_state(d, family).pcr, pcr);
        // STORE_VOLATILE: INIT resumes, and keeps resuming until deleted.
        assert_eq!(ctrl(c, cmd::STORE_VOLATILE, &[]), words(&[0]));
        assert_eq!(response_code(&tpm(d, &extend(family, b"more"))), 0);
        assert_eq!(ctrl(c, cmd::INIT, &[0; 4]), words(&[0]));
        assert_eq!(read_state(d, family).pcr, pcr);
        assert_eq!(ctrl(c, cmd::INIT, &1u32.to_be_bytes()), words(&[0]));
        assert_eq!(read_state(d, family).pcr, pcr);
        assert_eq!(ctrl(c, cmd::INIT, &[0; 4]), words(&[0]));
        assert_eq!(
            response_code(&tpm(d, &tpm_command(family, FAKE_READ, &[]))),
            rc_initialize(family)
        );
    }
}

#[test]
fn tpm2_gets_an_automatic_shutdown_state_when_stopped() {
    let dir = TempDir::new("auto");
    let server = started(Family::Tpm20, &dir);
    let (c, d) = (server.ctrl_addr(), server.data_addr());
    assert_eq!(response_code(&tpm(d, &extend(Family::Tpm20, b"abcd"))), 0);
    let pcr = read_state(d, Family::Tpm20).pcr;
    assert_eq!(ctrl(c, cmd::STOP, &[]), words(&[0]));
    let last = server.log.lock().unwrap().last().unwrap().command.clone();
    assert_eq!(last, [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x45, 0, 1], "TPM2_Shutdown(STATE)");
    assert_eq!(ctrl(c, cmd::INIT, &[0; 4]), words(&[0]));
    let resume = tpm_command(Family::Tpm20, startup_ordinal(Family::Tpm20), &[0, 1]);
    assert_eq!(response_code(&tpm(d, &resume)), 0);
    assert_eq!(read_state(d, Family::Tpm20).pcr, pcr);
    // After the client's own TPM2_Shutdown none is added.
    let shutdown = tpm_command(Family::Tpm20, shutdown_ordinal(Family::Tpm20), &[0, 0]);
    assert_eq!(response_code(&tpm(d, &shutdown)), 0);
    let before = server.log.lock().unwrap().len();
    assert_eq!(ctrl(c, cmd::STOP, &[]), words(&[0]));
    assert_eq!(server.log.lock().unwrap().len(), before);
}

#[test]
fn tpm12_gets_no_automatic_command_when_stopped() {
    let dir = TempDir::new("auto12");
    let server = started(Family::Tpm12, &dir);
    let before = server.log.lock().unwrap().len();
    assert_eq!(ctrl(server.ctrl_addr(), cmd::STOP, &[]), words(&[0]));
    assert_eq!(server.log.lock().unwrap().len(), before);
}

/// Reads a blob as swtpm_ioctl does (one request, offset 0).
fn get_blob(c: std::net::SocketAddr, kind: u32) -> (u32, Vec<u8>) {
    let reply = ctrl(c, cmd::GET_STATEBLOB, &words(&[0, kind, 0]));
    let result = result_of(&reply);
    assert_eq!(&reply[4..8], [0; 4], "never encrypted");
    assert_eq!(reply[8..12], reply[12..16], "totlength == length");
    (result, reply[16..].to_vec())
}

/// Writes a blob as swtpm_ioctl --load does over a socket: the header announces the
/// whole length, the data follows in separate writes.
fn set_blob(c: std::net::SocketAddr, kind: u32, flags: u32, blob: &[u8]) -> u32 {
    let mut stream = connect(c);
    stream
        .write_all(&ctrl_msg(cmd::SET_STATEBLOB, &words(&[flags, kind, blob.len() as u32])))
        .unwrap();
    for piece in blob.chunks(7) {
        stream.write_all(piece).unwrap();
    }
    result_of(&read_ctrl_reply(&mut stream, cmd::SET_STATEBLOB))
}

#[test]
fn state_blobs_migrate_a_running_tpm() {
    for family in BOTH {
        let (dir_a, dir_b) = (TempDir::new("mig-a"), TempDir::new("mig-b"));
        let a = started(family, &dir_a);
        assert_eq!(
            response_code(&tpm(a.data_addr(), &tpm_command(family, FAKE_INCREMENT, &[]))),
            0
        );
        assert_eq!(response_code(&tpm(a.data_addr(), &extend(family, b"migr"))), 0);
        let before = read_state(a.data_addr(), family);
        let (r1, permanent) = get_blob(a.ctrl_addr(), 1);
        let (r2, volatile) = get_blob(a.ctrl_addr(), 2);
        let (r3, save_state) = get_blob(a.ctrl_addr(), 3);
        assert_eq!((r1, r2, r3), (0, 0, rc::RETRY), "no SaveState: TPM_RETRY, as swtpm");
        assert!(save_state.is_empty());

        // QEMU's destination: stop, set the three blobs, INIT with delete-volatile.
        let b = start_fake(family, dir_b.path());
        assert_ne!(read_state_after_startup(&b, family).identity, before.identity);
        assert_eq!(
            ctrl(b.ctrl_addr(), cmd::SET_STATEBLOB, &words(&[0, 1, 0])),
            words(&[rc::BAD_ORDINAL])
        );
        assert_eq!(ctrl(b.ctrl_addr(), cmd::STOP, &[]), words(&[0]));
        assert_eq!(set_blob(b.ctrl_addr(), 1, 0, &permanent), 0);
        assert_eq!(set_blob(b.ctrl_addr(), 2, 0, &volatile), 0);
        assert_eq!(set_blob(b.ctrl_addr(), 3, 0, &save_state), 0);
        assert_eq!(ctrl(b.ctrl_addr(), cmd::INIT, &1u32.to_be_bytes()), words(&[0]));
        let after = read_state(b.data_addr(), family);
        assert_eq!(after.identity, before.identity);
        assert_eq!(after.counter, before.counter);
        assert_eq!(after.pcr, before.pcr);
    }
}

fn read_state_after_startup(server: &Running, family: Family) -> Observed {
    assert_eq!(response_code(&tpm(server.data_addr(), &startup_clear(family))), 0);
    read_state(server.data_addr(), family)
}

#[test]
fn get_state_blob_honours_the_offset() {
    let dir = TempDir::new("offset");
    let server = started(Family::Tpm20, &dir);
    let (_, whole) = get_blob(server.ctrl_addr(), 1);
    let reply = ctrl(server.ctrl_addr(), cmd::GET_STATEBLOB, &words(&[0, 1, 5]));
    assert_eq!(reply[16..], whole[5..]);
    let past = ctrl(server.ctrl_addr(), cmd::GET_STATEBLOB, &words(&[0, 1, 1 << 20]));
    assert_eq!(past, words(&[0, 0, 0, 0]));
    let unknown = ctrl(server.ctrl_addr(), cmd::GET_STATEBLOB, &words(&[0, 9, 0]));
    assert_eq!(unknown, words(&[rc::FAIL, 0, 0, 0]));
}

#[test]
fn set_state_blob_refuses_bad_blobs_and_keeps_the_state() {
    let dir = TempDir::new("setbad");
    let family = Family::Tpm20;
    let server = started(family, &dir);
    let (c, d) = (server.ctrl_addr(), server.data_addr());
    assert_eq!(response_code(&tpm(d, &tpm_command(family, FAKE_INCREMENT, &[]))), 0);
    let before = read_state(d, family);
    let (_, permanent) = get_blob(c, 1);
    assert_eq!(ctrl(c, cmd::STOP, &[]), words(&[0]));
    assert_eq!(set_blob(c, 1, 0, b"not a permanent blob"), rc::FAIL);
    assert_eq!(set_blob(c, 2, 0, b"not a volatile blob"), rc::FAIL);
    assert_eq!(set_blob(c, 1, 2, &permanent), rc::KEYNOTFOUND, "encrypted blobs need a key");
    assert_eq!(set_blob(c, 7, 0, &permanent), rc::BAD_PARAMETER);
    // Announced too large: refused once the first message is in (swtpm does not
    // read the rest either, so the connection is of no further use).
    let mut stream = connect(c);
    let mut huge = ctrl_msg(cmd::SET_STATEBLOB, &words(&[0, 1, 512 * 1024 + 1]));
    huge.extend_from_slice(&[0; 4088]);
    stream.write_all(&huge).unwrap();
    let mut answer = [0u8; 4];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(answer.to_vec(), words(&[rc::FAIL]));
    drop(stream);
    // More bytes in the message than announced.
    let mut over = words(&[0, 1, 2]);
    over.extend_from_slice(b"abc");
    assert_eq!(ctrl(c, cmd::SET_STATEBLOB, &over), words(&[rc::BAD_PARAMETER]));
    assert_eq!(ctrl(c, cmd::INIT, &[0; 4]), words(&[0]));
    assert_eq!(read_state_after_startup(&server, family), before);
}

#[test]
fn empty_permanent_blob_manufactures_a_new_tpm() {
    let dir = TempDir::new("wipe");
    let family = Family::Tpm12;
    let server = started(family, &dir);
    let (c, d) = (server.ctrl_addr(), server.data_addr());
    assert_eq!(response_code(&tpm(d, &tpm_command(family, FAKE_INCREMENT, &[]))), 0);
    let before = read_state(d, family);
    assert_eq!(ctrl(c, cmd::STOP, &[]), words(&[0]));
    assert_eq!(set_blob(c, 1, 0, &[]), 0);
    assert_eq!(ctrl(c, cmd::INIT, &[0; 4]), words(&[0]));
    let after = read_state_after_startup(&server, family);
    assert_ne!(after.identity, before.identity);
    assert_eq!(after.counter, 0);
}

#[test]
fn client_leaving_mid_set_state_blob_does_not_stop_the_server() {
    let dir = TempDir::new("setcut");
    let server = started(Family::Tpm20, &dir);
    let c = server.ctrl_addr();
    assert_eq!(ctrl(c, cmd::STOP, &[]), words(&[0]));
    let mut stream = connect(c);
    stream.write_all(&ctrl_msg(cmd::SET_STATEBLOB, &words(&[0, 1, 1000]))).unwrap();
    stream.write_all(&[0; 100]).unwrap();
    drop(stream);
    assert_eq!(ctrl(c, cmd::INIT, &[0; 4]), words(&[0]));
}

#[test]
fn hash_sequence_sets_established_and_reset_needs_locality_3_or_4() {
    for family in BOTH {
        let dir = TempDir::new("hash");
        let server = started(family, &dir);
        let (c, d) = (server.ctrl_addr(), server.data_addr());
        assert_eq!(ctrl(c, cmd::GET_TPMESTABLISHED, &[]), words(&[0, 0]));
        let pcr = read_state(d, family).pcr;
        let mut stream = connect(c);
        assert_eq!(ctrl_on(&mut stream, cmd::HASH_START, &[]), words(&[0]));
        // 10000 bytes: more than one message holds, so the rest is streamed.
        let data = vec![0x5au8; 10_000];
        let mut msg = ctrl_msg(cmd::HASH_DATA, &(data.len() as u32).to_be_bytes());
        msg.extend_from_slice(&data);
        stream.write_all(&msg).unwrap();
        assert_eq!(read_ctrl_reply(&mut stream, cmd::HASH_DATA), words(&[0]));
        assert_eq!(ctrl_on(&mut stream, cmd::HASH_END, &[]), words(&[0]));
        drop(stream);
        assert_ne!(read_state(d, family).pcr, pcr);
        assert_eq!(ctrl(c, cmd::GET_TPMESTABLISHED, &[]), [0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(ctrl(c, cmd::RESET_TPMESTABLISHED, &[0]), words(&[rc::BAD_LOCALITY]));
        assert_eq!(ctrl(c, cmd::RESET_TPMESTABLISHED, &[5]), words(&[rc::BAD_LOCALITY]));
        assert_eq!(ctrl(c, cmd::RESET_TPMESTABLISHED, &[4]), words(&[0]));
        assert_eq!(ctrl(c, cmd::GET_TPMESTABLISHED, &[]), words(&[0, 0]));
    }
}

#[test]
fn tpm12_hash_data_without_start_is_sha_thread() {
    let dir = TempDir::new("sha");
    let server = started(Family::Tpm12, &dir);
    let c = server.ctrl_addr();
    assert_eq!(ctrl(c, cmd::HASH_DATA, &[0, 0, 0, 1, 7]), words(&[rc::SHA_THREAD]));
    assert_eq!(ctrl(c, cmd::HASH_END, &[]), words(&[rc::SHA_THREAD]));
    // TPM 2.0 ignores them, as libtpms.
    let dir2 = TempDir::new("sha2");
    let tpm2 = started(Family::Tpm20, &dir2);
    assert_eq!(ctrl(tpm2.ctrl_addr(), cmd::HASH_DATA, &[0, 0, 0, 1, 7]), words(&[0]));
    assert_eq!(ctrl(tpm2.ctrl_addr(), cmd::HASH_END, &[]), words(&[0]));
}

#[test]
fn client_leaving_mid_hash_data_does_not_stop_the_server() {
    let dir = TempDir::new("hashcut");
    let server = started(Family::Tpm20, &dir);
    let c = server.ctrl_addr();
    let mut stream = connect(c);
    assert_eq!(ctrl_on(&mut stream, cmd::HASH_START, &[]), words(&[0]));
    stream.write_all(&ctrl_msg(cmd::HASH_DATA, &100_000u32.to_be_bytes())).unwrap();
    stream.write_all(&[1; 5000]).unwrap();
    drop(stream);
    assert_eq!(ctrl(c, cmd::GET_TPMESTABLISHED, &[]), [0, 0, 0, 0, 1, 0, 0, 0]);
}

#[test]
fn cancel_answers_like_libtpms() {
    let dir = TempDir::new("cancel");
    assert_eq!(
        ctrl(started(Family::Tpm12, &dir).ctrl_addr(), cmd::CANCEL_TPM_CMD, &[]),
        words(&[rc::FAIL])
    );
    let dir2 = TempDir::new("cancel2");
    assert_eq!(
        ctrl(started(Family::Tpm20, &dir2).ctrl_addr(), cmd::CANCEL_TPM_CMD, &[]),
        words(&[0])
    );
}

#[test]
fn buffer_size_is_set_only_while_stopped_and_bounds_commands() {
    let dir = TempDir::new("buf");
    let family = Family::Tpm20;
    let server = started(family, &dir);
    let c = server.ctrl_addr();
    assert_eq!(ctrl(c, cmd::SET_BUFFERSIZE, &[0; 4]), words(&[0, 4096, 2808, 4096]));
    assert_eq!(ctrl(c, cmd::SET_BUFFERSIZE, &3000u32.to_be_bytes()), words(&[rc::BAD_ORDINAL]));
    assert_eq!(ctrl(c, cmd::SET_BUFFERSIZE, &[0; 3]), words(&[rc::BAD_PARAMETER]));
    assert_eq!(ctrl(c, cmd::STOP, &[]), words(&[0]));
    assert_eq!(ctrl(c, cmd::SET_BUFFERSIZE, &1u32.to_be_bytes()), words(&[0, 2808, 2808, 4096]));
    assert_eq!(
        ctrl(c, cmd::SET_BUFFERSIZE, &99_999u32.to_be_bytes()),
        words(&[0, 4096, 2808, 4096])
    );
    assert_eq!(ctrl(c, cmd::SET_BUFFERSIZE, &3000u32.to_be_bytes()), words(&[0, 3000, 2808, 4096]));
    assert_eq!(ctrl(c, cmd::INIT, &[0; 4]), words(&[0]));
    assert_eq!(ctrl(c, cmd::SET_BUFFERSIZE, &[0; 4]), words(&[0, 3000, 2808, 4096]));
    let mut stream = connect(server.data_addr());
    let big = tpm_command(family, FAKE_EXTEND, &vec![0u8; 3001 - 10]);
    assert_eq!(response_code(&transact(&mut stream, &big)), 0x142);
    let fits = tpm_command(family, FAKE_EXTEND, &vec![0u8; 3000 - 10]);
    assert_eq!(response_code(&transact(&mut stream, &startup_clear(family))), 0);
    assert_eq!(response_code(&transact(&mut stream, &fits)), 0);
}

#[test]
fn get_info_is_libtpms_json_with_offsets() {
    let dir = TempDir::new("info");
    let server = started(Family::Tpm20, &dir);
    let c = server.ctrl_addr();
    let reply = ctrl(c, cmd::GET_INFO, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    let text = br#"{"TPMSpecification":{"family":"2.0","level":0,"revision":164}}"#;
    assert_eq!(&reply[..12], words(&[0, text.len() as u32 + 1, text.len() as u32 + 1]));
    assert_eq!(&reply[12..12 + text.len()], text);
    let total = text.len() as u32 + 1;
    let offset = text.len() as u32 - 2;
    let mut request = 1u64.to_be_bytes().to_vec();
    request.extend_from_slice(&words(&[offset, 0]));
    let tail = ctrl(c, cmd::GET_INFO, &request);
    assert_eq!(tail, [words(&[0, total, 3]), b"}}\0".to_vec()].concat());
    assert_eq!(
        ctrl(c, cmd::GET_INFO, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]),
        words(&[rc::BAD_PARAMETER])
    );
    assert_eq!(ctrl(c, cmd::GET_INFO, &[0; 15]), words(&[rc::BAD_PARAMETER]));
}

#[test]
fn unknown_and_malformed_control_commands_get_errors_and_the_connection_goes_on() {
    let dir = TempDir::new("unknown");
    let server = started(Family::Tpm20, &dir);
    let mut stream = connect(server.ctrl_addr());
    for code in [0, 0x13, 0x14, 0x99, 0xffff_ffff] {
        assert_eq!(ctrl_on(&mut stream, code, &[]), words(&[rc::BAD_ORDINAL]), "command {code:#x}");
    }
    // Write-only commands with a request part, INIT with the wrong size.
    assert_eq!(ctrl_on(&mut stream, cmd::GET_TPMESTABLISHED, &[0; 4]), words(&[rc::BAD_PARAMETER]));
    assert_eq!(ctrl_on(&mut stream, cmd::GET_CONFIG, &[0]), words(&[rc::BAD_PARAMETER]));
    assert_eq!(ctrl_on(&mut stream, cmd::STOP, &[0]), words(&[rc::BAD_PARAMETER]));
    assert_eq!(ctrl_on(&mut stream, cmd::SHUTDOWN, &[0]), words(&[rc::BAD_PARAMETER]));
    assert_eq!(ctrl_on(&mut stream, cmd::INIT, &[0; 5]), words(&[rc::BAD_PARAMETER]));
    assert_eq!(ctrl_on(&mut stream, cmd::GET_CONFIG, &[]), words(&[0, 0]));
    // Still running: the bad STOP and SHUTDOWN did nothing.
    assert_eq!(ctrl_on(&mut stream, cmd::GET_TPMESTABLISHED, &[]), words(&[0, 0]));
}

#[test]
fn incomplete_control_message_is_dropped_after_the_deadline() {
    let dir = TempDir::new("short");
    let server = started(Family::Tpm12, &dir);
    // Fewer bytes than swtpm's table says the command needs: after 500 ms the
    // connection is closed without an answer.
    let partials = [
        vec![0u8, 0],
        ctrl_msg(cmd::INIT, &[0, 0]),
        ctrl_msg(cmd::SET_LOCALITY, &[]),
        ctrl_msg(cmd::RESET_TPMESTABLISHED, &[]),
        ctrl_msg(cmd::GET_STATEBLOB, &[0; 8]),
        ctrl_msg(cmd::SET_STATEBLOB, &[0; 8]),
        ctrl_msg(cmd::HASH_DATA, &[0, 0, 0, 9, 1]),
    ];
    for partial in &partials {
        let mut stream = connect(server.ctrl_addr());
        stream.write_all(partial).unwrap();
        let start = Instant::now();
        expect_close(&mut stream, Duration::from_secs(5));
        assert!(start.elapsed() >= Duration::from_millis(400), "closed before the 500 ms deadline");
    }
    assert_eq!(ctrl(server.ctrl_addr(), cmd::GET_CONFIG, &[]), words(&[0, 0]));
}

#[test]
fn two_control_clients_in_sequence() {
    let dir = TempDir::new("ctrlseq");
    let server = started(Family::Tpm20, &dir);
    let mut first = connect(server.ctrl_addr());
    assert_eq!(ctrl_on(&mut first, cmd::SET_LOCALITY, &[1]), words(&[0]));
    let mut second = connect(server.ctrl_addr());
    second.write_all(&ctrl_msg(cmd::SET_LOCALITY, &[2])).unwrap();
    drop(first);
    assert_eq!(read_ctrl_reply(&mut second, cmd::SET_LOCALITY), words(&[0]));
    assert_eq!(read_state(server.data_addr(), Family::Tpm20).locality, 2);
}

#[test]
fn set_datafd_is_refused_with_a_data_server() {
    let dir = TempDir::new("datafd-tcp");
    let server = started(Family::Tpm20, &dir);
    assert_eq!(ctrl(server.ctrl_addr(), cmd::SET_DATAFD, &[]), words(&[rc::IOERROR]));
}

/// Sends a control message with a descriptor attached, as QEMU does.
fn send_with_fd(ctrl: &UnixStream, msg: &[u8], fd: Option<&UnixStream>) {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use std::io::IoSlice;
    use std::mem::MaybeUninit;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd.as_fd()];
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
    }
    let sent =
        rustix::net::sendmsg(ctrl, &[IoSlice::new(msg)], &mut control, SendFlags::empty()).unwrap();
    assert_eq!(sent, msg.len());
}

fn unix_reply(ctrl: &mut UnixStream, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    ctrl.read_exact(&mut out).unwrap();
    out
}

#[test]
fn set_datafd_takes_the_data_channel_over_a_unix_control_socket() {
    let dir = TempDir::new("datafd");
    let family = Family::Tpm20;
    let (spec, log) = fake_spec(family);
    let sock = dir.path().join("ctrl.sock");
    let server =
        start_with(spec, log, None, Endpoint::Unix(sock.clone()), &dir.path().join("state"));
    let mut control = UnixStream::connect(&sock).unwrap();
    control.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // No descriptor: TPM_BAD_PARAMETER.
    send_with_fd(&control, &ctrl_msg(cmd::SET_DATAFD, &[]), None);
    assert_eq!(unix_reply(&mut control, 4), words(&[rc::BAD_PARAMETER]));
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    send_with_fd(&control, &ctrl_msg(cmd::SET_DATAFD, &[]), Some(&theirs));
    assert_eq!(unix_reply(&mut control, 4), words(&[0]));
    drop(theirs);
    ours.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    ours.write_all(&startup_clear(family)).unwrap();
    let mut answer = [0u8; 10];
    ours.read_exact(&mut answer).unwrap();
    assert_eq!(answer, [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0]);
    // One passed channel at a time.
    let (_other, other_theirs) = UnixStream::pair().unwrap();
    send_with_fd(&control, &ctrl_msg(cmd::SET_DATAFD, &[]), Some(&other_theirs));
    assert_eq!(unix_reply(&mut control, 4), words(&[rc::IOERROR]));
    // When the data channel closes, a new one may be passed.
    drop(ours);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_next, next_theirs) = UnixStream::pair().unwrap();
        send_with_fd(&control, &ctrl_msg(cmd::SET_DATAFD, &[]), Some(&next_theirs));
        if unix_reply(&mut control, 4) == words(&[0]) {
            break;
        }
        assert!(Instant::now() < deadline, "the closed data channel was never released");
        thread::sleep(Duration::from_millis(20));
    }
    drop(control);
    assert_eq!(server.stop().unwrap(), Exit::Stopped);
    assert!(!sock.exists(), "the control socket file is removed at exit");
}

#[test]
fn shutdown_answers_then_ends_the_server() {
    let dir = TempDir::new("shutdown");
    let server = started(Family::Tpm20, &dir);
    let mut stream = connect(server.ctrl_addr());
    assert_eq!(ctrl_on(&mut stream, cmd::SHUTDOWN, &[]), words(&[0]));
    assert_eq!(server.join().unwrap(), Exit::Shutdown);
    assert!(
        TcpStream::connect_timeout(&stream.peer_addr().unwrap(), Duration::from_millis(200))
            .is_err()
    );
}
