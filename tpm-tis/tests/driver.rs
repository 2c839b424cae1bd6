//! The driver against the register-level TIS model: protocol, timeouts, hostile TPMs.

use proptest::prelude::*;
use tpm_tis::model::{ModelClock, ModelMmio, Stall, TisModel, canned};
use tpm_tis::{Config, Family, Tis, TisError, Wait};

const MS: u64 = 1_000_000;

fn driver_at(model: &TisModel, locality: u8) -> Tis<ModelMmio, ModelClock> {
    let config = Config { locality, ..Config::default() };
    Tis::new(model.mmio(), model.clock(), config).expect("model answers")
}

fn driver(model: &TisModel) -> Tis<ModelMmio, ModelClock> {
    driver_at(model, 2)
}

/// A TPM 2.0 command with code `cc` and `body`.
fn cmd20(cc: u32, body: &[u8]) -> Vec<u8> {
    let mut c = Vec::new();
    c.extend_from_slice(&0x8001u16.to_be_bytes());
    c.extend_from_slice(&u32::try_from(10 + body.len()).unwrap().to_be_bytes());
    c.extend_from_slice(&cc.to_be_bytes());
    c.extend_from_slice(body);
    c
}

fn get_random() -> Vec<u8> {
    cmd20(0x17B, &[0, 16])
}

fn get_capability() -> Vec<u8> {
    cmd20(0x17A, &[0, 0, 0, 6, 0, 0, 1, 0x29, 0, 0, 0, 1])
}

#[test]
fn transmit_tpm20_returns_the_response_and_keeps_the_locality() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    let mut tis = driver(&model);
    let mut rsp = [0u8; 4096];

    for _ in 0..3 {
        let n = tis.transmit(&get_capability(), &mut rsp).unwrap();
        assert_eq!(n, 27);
        assert_eq!(&rsp[..2], &[0x80, 0x01]);
    }

    assert_eq!(model.active_locality(), Some(2));
    assert_eq!(model.stats().locality_requests, 1, "locality kept between commands");
    assert_eq!(model.history(), vec![get_capability(); 3]);
}

#[test]
fn transmit_every_burst_size_transfers_command_and_response_intact() {
    for burst in 1..=64u16 {
        let model = TisModel::new(Family::Tpm20, canned::sized(777));
        model.set_burst_count(burst);
        let mut tis = driver(&model);
        let command = cmd20(0x153, &[0x5A; 300]);
        let mut rsp = [0u8; 4096];

        let n = tis.transmit(&command, &mut rsp).unwrap();

        assert_eq!(n, 777, "burst {burst}");
        assert_eq!(rsp[..n], canned::sized(777)(0, &[])[..], "burst {burst}");
        assert_eq!(model.history(), vec![command], "burst {burst}");
    }
}

#[test]
fn transmit_response_at_buffer_limit_is_accepted_one_over_is_refused() {
    let model = TisModel::new(Family::Tpm20, canned::sized(4096));
    let mut tis = driver(&model);
    let mut rsp = [0u8; 4096];
    assert_eq!(tis.transmit(&get_random(), &mut rsp), Ok(4096));

    model.set_tpm(canned::sized(4097));
    assert_eq!(
        tis.transmit(&get_random(), &mut rsp),
        Err(TisError::ResponseTooLarge { size: 4097, limit: 4096 })
    );

    // The TPM was put back to Idle: the next command works.
    model.set_tpm(canned::sized(64));
    assert_eq!(tis.transmit(&get_random(), &mut rsp), Ok(64));
}

#[test]
fn transmit_larger_buffer_takes_larger_responses() {
    let model = TisModel::new(Family::Tpm20, canned::sized(6000));
    let mut tis = driver(&model);
    let mut rsp = vec![0u8; 8192];
    assert_eq!(tis.transmit(&get_random(), &mut rsp), Ok(6000));
}

/// Every stage of the protocol stalls in turn: each wait ends with its own timeout
/// after about its own deadline, and the driver recovers once the TPM moves again.
#[test]
fn transmit_stalled_tpm_times_out_at_each_stage() {
    let cases = [
        // TIMEOUT_A for the request, TIMEOUT_A again for the seize (locality 2 > 0).
        (Stall::Locality, Wait::Locality, 1500 * MS),
        (Stall::CommandReady, Wait::CommandReady, 2000 * MS),
        (Stall::SendBurst, Wait::BurstCount, 750 * MS),
        (Stall::SendStsValid, Wait::StsValid, 750 * MS),
        (Stall::Execution, Wait::Execution, 2000 * MS), // GetRandom: TPM 2.0 long
        (Stall::ReceiveDataAvail, Wait::DataAvail, 750 * MS),
        (Stall::ReceiveBurst, Wait::BurstCount, 750 * MS),
        (Stall::ReceiveAfterHeader, Wait::DataAvail, 750 * MS),
    ];
    for (stall, wait, deadline) in cases {
        let model = TisModel::new(Family::Tpm20, canned::sized(100));
        let mut tis = driver(&model);
        tis.set_family(Family::Tpm20);
        let mut rsp = [0u8; 4096];
        model.set_stall(Some(stall));

        let t0 = model.now_ns();
        let result = tis.transmit(&get_random(), &mut rsp);
        let elapsed = model.now_ns() - t0;

        assert_eq!(result, Err(TisError::Timeout(wait)), "{stall:?}");
        assert!(elapsed >= deadline, "{stall:?}: gave up after {elapsed} ns");
        assert!(elapsed < deadline + 2 * MS, "{stall:?}: waited {elapsed} ns");

        model.set_stall(None);
        assert_eq!(tis.transmit(&get_random(), &mut rsp), Ok(100), "{stall:?}: recovery");
    }
}

#[test]
fn transmit_unknown_command_waits_the_default_duration() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    let mut tis = driver(&model);
    tis.set_family(Family::Tpm20);
    model.set_stall(Some(Stall::Execution));
    let t0 = model.now_ns();
    let result = tis.transmit(&cmd20(0x176, &[]), &mut [0u8; 64]);
    assert_eq!(result, Err(TisError::Timeout(Wait::Execution)));
    let elapsed = model.now_ns() - t0;
    assert!((120_000 * MS..120_002 * MS).contains(&elapsed), "{elapsed}");
}

#[test]
fn transmit_slow_command_within_its_duration_succeeds() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    model.set_execution_ns(1500 * MS);
    model.set_ready_delay_ns(3 * MS);
    let mut tis = driver(&model);
    tis.set_family(Family::Tpm20);
    assert_eq!(tis.transmit(&get_random(), &mut [0u8; 64]), Ok(10));
}

#[test]
fn transmit_garbage_sizes_are_typed_errors_and_the_driver_recovers() {
    let lie = |size: u32, actual: usize| {
        move |_: u8, _: &[u8]| {
            let mut r = canned::sized(actual)(0, &[]);
            r[2..6].copy_from_slice(&size.to_be_bytes());
            r
        }
    };
    let cases: [(u32, usize, TisError); 5] = [
        (0, 10, TisError::ResponseTooShort { size: 0 }),
        (9, 30, TisError::ResponseTooShort { size: 9 }),
        (u32::MAX, 30, TisError::ResponseTooLarge { size: u32::MAX, limit: 4096 }),
        (100, 20, TisError::Timeout(Wait::DataAvail)),
        (20, 100, TisError::LeftOverData),
    ];
    for (size, actual, expected) in cases {
        let model = TisModel::new(Family::Tpm20, lie(size, actual));
        let mut tis = driver(&model);
        let mut rsp = [0u8; 4096];

        assert_eq!(tis.transmit(&get_random(), &mut rsp), Err(expected));

        model.set_tpm(canned::tpm20());
        assert_eq!(tis.transmit(&get_random(), &mut rsp), Ok(10), "recovery after {expected:?}");
    }
}

#[test]
fn transmit_short_or_inconsistent_command_is_refused_without_touching_the_tpm() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    let mut tis = driver(&model);
    let mut bad = get_random();
    bad[5] += 1;
    assert_eq!(tis.transmit(&bad, &mut [0u8; 64]), Err(TisError::MalformedCommand));
    assert_eq!(
        tis.transmit(&[0x80, 0x01, 0, 0, 0, 9, 0, 0, 1], &mut [0u8; 64]),
        Err(TisError::MalformedCommand)
    );
    assert_eq!(model.stats().writes, 0);
}

#[test]
fn transmit_command_larger_than_tpm_buffer_reports_expect_cleared() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    model.set_buffer_size(64);
    model.set_burst_count(16);
    let mut tis = driver(&model);
    let result = tis.transmit(&cmd20(0x153, &[0; 100]), &mut [0u8; 64]);
    // The TPM reads the size field (110 > its 64-byte buffer) in the first burst and
    // stops expecting bytes.
    assert_eq!(result, Err(TisError::ExpectCleared { written: 16 }));
    assert_eq!(model.stats().commands, 0);
    model.set_buffer_size(4096);
    assert_eq!(tis.transmit(&get_random(), &mut [0u8; 64]), Ok(10));
}

#[test]
fn cancel_tpm20_uses_command_cancel_then_the_tpm_is_ready_again() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    let mut tis = driver(&model);
    tis.set_family(Family::Tpm20);
    model.set_stall(Some(Stall::Execution));

    tis.start(&get_random()).unwrap();
    assert_eq!(tis.poll_response(), Ok(false));
    assert_eq!(tis.cancel(), Ok(()));

    assert_eq!(model.stats().cancels, 1);
    assert_eq!(tis.finish(&mut [0u8; 64]), Err(TisError::Sequence));
    model.set_stall(None);
    assert_eq!(tis.transmit(&get_random(), &mut [0u8; 64]), Ok(10));
}

#[test]
fn cancel_tpm12_aborts_with_command_ready() {
    let model = TisModel::new(Family::Tpm12, canned::tpm12());
    let mut tis = driver(&model);
    tis.set_family(Family::Tpm12);
    model.set_stall(Some(Stall::Execution));
    let ordinal_get_random = [0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x46, 0, 0, 0, 8];

    tis.start(&ordinal_get_random).unwrap();
    assert_eq!(tis.cancel(), Ok(()));

    assert_eq!(model.stats().cancels, 0);
    assert_eq!(model.stats().aborts, 1);
    model.set_stall(None);
    assert_eq!(tis.transmit(&ordinal_get_random, &mut [0u8; 64]), Ok(10));
}

#[test]
fn start_twice_or_finish_without_start_is_a_sequence_error() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    let mut tis = driver(&model);
    assert_eq!(tis.finish(&mut [0u8; 64]), Err(TisError::Sequence));
    assert_eq!(tis.cancel(), Err(TisError::Sequence));
    tis.start(&get_random()).unwrap();
    assert_eq!(tis.start(&get_random()), Err(TisError::Sequence));
    tis.wait_response().unwrap();
    assert_eq!(tis.finish(&mut [0u8; 64]), Ok(10));
}

#[test]
fn second_locality_request_gets_the_tpm_after_the_command_and_timeout_a_to_use_it() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    let mut tis = driver(&model);
    let mut rsp = [0u8; 64];
    tis.transmit(&get_random(), &mut rsp).unwrap();

    // dom0's driver asks for locality 0 while the manager holds locality 2.
    model.request_use(0);
    assert_eq!(model.active_locality(), Some(2));
    tis.transmit(&get_random(), &mut rsp).unwrap();
    assert_eq!(model.active_locality(), Some(0), "handed over after the command");

    // Locality 0 gets TIMEOUT_A to finish; if it keeps the TPM longer, the driver
    // seizes it back (a higher locality may, TIS 1.3).
    let t0 = model.now_ns();
    assert_eq!(tis.transmit(&get_random(), &mut rsp), Ok(10));
    assert!(model.now_ns() - t0 >= 750 * MS, "seized before TIMEOUT_A");
    assert_eq!(model.active_locality(), Some(2));
    assert_eq!(model.stats().seizes, 1);

    // Locality 0 done in time: no seize.
    model.request_use(0);
    tis.transmit(&get_random(), &mut rsp).unwrap();
    assert_eq!(model.active_locality(), Some(0));
    model.relinquish(0);
    assert_eq!(tis.transmit(&get_random(), &mut rsp), Ok(10));
    assert_eq!(model.stats().seizes, 1);
}

#[test]
fn locality_taken_away_mid_command_is_reported_not_read_as_data() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    let mut tis = driver(&model);
    model.set_stall(Some(Stall::Execution));
    tis.start(&get_random()).unwrap();

    model.relinquish(2);

    assert_eq!(tis.wait_response(), Err(TisError::LocalityLost));
}

#[test]
fn detect_family_tells_tpm12_from_tpm20() {
    for family in [Family::Tpm12, Family::Tpm20] {
        let tpm: tpm_tis::model::TpmFn = match family {
            Family::Tpm12 => Box::new(canned::tpm12()),
            Family::Tpm20 => Box::new(canned::tpm20()),
        };
        let model = TisModel::new(family, tpm);
        let mut tis = driver(&model);
        assert_eq!(tis.register_hints().guess, Some(family));
        assert_eq!(tis.detect_family(), Ok(family));
        assert_eq!(tis.family(), Some(family));
    }
}

#[test]
fn detect_family_probe_wins_over_lying_registers() {
    // A TPM 2.0 behind registers that claim a TIS 1.3 TPM 1.2.
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    model.set_interface_registers(0b010 << 28, u32::MAX, 0);
    let mut tis = driver(&model);
    assert_eq!(tis.register_hints().guess, Some(Family::Tpm12));
    assert_eq!(tis.detect_family(), Ok(Family::Tpm20));
}

#[test]
fn detect_family_falls_back_on_registers_when_the_probe_gets_no_answer() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    model.set_stall(Some(Stall::Execution));
    let mut tis = driver(&model);
    assert_eq!(tis.detect_family(), Ok(Family::Tpm20));

    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    model.set_interface_registers(u32::MAX, u32::MAX, 0);
    model.set_stall(Some(Stall::Execution));
    let mut tis = driver(&model);
    assert_eq!(tis.detect_family(), Err(TisError::Timeout(Wait::Execution)));
}

#[test]
fn detect_family_garbage_answer_without_hints_is_unknown() {
    let model = TisModel::new(Family::Tpm20, |_, _| canned::response(0x1234, 0, &[]));
    model.set_interface_registers(u32::MAX, u32::MAX, 0);
    let mut tis = driver(&model);
    assert_eq!(tis.detect_family(), Err(TisError::UnknownFamily));
}

#[test]
fn configure_tpm12_reads_timeouts_and_durations() {
    let model = TisModel::new(Family::Tpm12, canned::tpm12());
    let mut tis = driver(&model);
    tis.set_family(Family::Tpm12);

    tis.configure_tpm12().unwrap();

    assert_eq!(tis.timeouts().a_ns, 1000 * MS);
    assert_eq!(tis.timeouts().b_ns, 3000 * MS);
    assert_eq!(tis.durations().short_ns, 3000 * MS);
    assert_eq!(tis.durations().long_ns, 150_000 * MS);
}

#[test]
fn new_without_a_device_or_with_a_bad_locality_fails() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    model.set_did_vid(u32::MAX);
    assert_eq!(
        Tis::new(model.mmio(), model.clock(), Config::default()).err(),
        Some(TisError::NoDevice)
    );
    let config = Config { locality: 5, ..Config::default() };
    assert_eq!(
        Tis::new(model.mmio(), model.clock(), config).err(),
        Some(TisError::InvalidLocality(5))
    );
}

#[test]
fn vendor_reads_did_vid_and_rid() {
    let model = TisModel::new(Family::Tpm20, canned::tpm20());
    model.set_did_vid(0xABCD_1014);
    let mut tis = driver(&model);
    assert_eq!(tis.vendor(), (0x1014, 0xABCD, 0x01));
}

proptest! {
    #[test]
    fn transmit_round_trips_any_size_and_burst(len in 10usize..=4096, burst in 1u16..=64) {
        let model = TisModel::new(Family::Tpm20, canned::sized(len));
        model.set_burst_count(burst);
        let mut tis = driver(&model);
        let mut rsp = vec![0u8; 4096];
        prop_assert_eq!(tis.transmit(&get_random(), &mut rsp), Ok(len));
        prop_assert_eq!(&rsp[..len], &canned::sized(len)(0, &[])[..]);
    }

    /// Whatever bytes the TPM returns, the driver ends (within a bounded virtual time)
    /// with either exactly the announced response or an error, and never panics.
    #[test]
    fn transmit_hostile_response_never_panics(response in proptest::collection::vec(any::<u8>(), 0..300), burst in 1u16..=64) {
        let canned_response = response.clone();
        let model = TisModel::new(Family::Tpm20, move |_, _| canned_response.clone());
        model.set_burst_count(burst);
        let mut tis = driver(&model);
        let mut rsp = [0u8; 256];
        if let Ok(n) = tis.transmit(&get_random(), &mut rsp) {
            prop_assert!((10..=256).contains(&n));
            prop_assert_eq!(&rsp[..n], &response[..n]);
            prop_assert_eq!(n, response.len());
        }
        // At worst one wait for a response that never shows dataAvail: the 120 s
        // default duration (the family is not set).
        prop_assert!(model.now_ns() <= 120_010 * MS);
    }
}

/// Firmware left locality 0 active and never gives it up: locality 2 seizes it after
/// TIMEOUT_A; locality 0 itself cannot seize, and a failed request is withdrawn.
#[test]
fn a_lower_locality_left_active_is_seized() {
    let model = TisModel::new(Family::Tpm20, canned::sized(100));
    model.request_use(0);
    let mut tis = driver(&model);
    let mut rsp = [0u8; 4096];
    assert_eq!(tis.transmit(&get_random(), &mut rsp), Ok(100));
    assert_eq!(model.active_locality(), Some(2));
    assert_eq!(model.stats().seizes, 1);

    let model = TisModel::new(Family::Tpm20, canned::sized(100));
    model.request_use(3);
    let mut tis = driver(&model);
    assert_eq!(tis.request_locality(), Err(TisError::Timeout(Wait::Locality)));
    assert_eq!(model.active_locality(), Some(3));
    // Our request was withdrawn: locality 3 giving up the TPM leaves it free.
    model.relinquish(3);
    assert_eq!(model.active_locality(), None);
}
