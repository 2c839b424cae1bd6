//! Load and save behaviour: what each failure does to the store and what it reports.

mod common;

use common::{SECTOR, World, snapshot};
use tpm_engine::{Drbg, Family};
use vtpm_proto::{Hashkey, Request, Response, ReturnCode, reject};
use vtpm_store::fake::{FakeDisk, FakeKeeper, KeeperFault, Power};
use vtpm_store::{
    Cause, DeviceError, DiskOp, Error, KeeperError, ManagerChannel, ProtoKeeper, Saved, SlotState,
    StateStore, Status,
};

fn diagnosis(result: Result<Vec<u8>, Error>) -> vtpm_store::Diagnosis {
    match result {
        Err(Error::NoValidSlot(d)) => d,
        other => panic!("expected NoValidSlot, got {other:?}"),
    }
}

// --- The normal path.

#[test]
fn new_vtpm_loads_as_never_saved_then_saves() {
    let mut w = World::blank(1);
    assert_eq!(w.store.load().unwrap_err(), Error::NeverSaved { slots: [SlotState::Blank; 2] });
    assert_eq!(w.store.status(), Status::Fresh);
    assert_eq!(w.save(b"first"), Ok(Saved { generation: 1, slot: 0 }));
    assert_eq!(w.load().unwrap(), b"first");
}

#[test]
fn saves_alternate_slots_and_reload_returns_the_latest() {
    let mut w = World::started(2);
    for (generation, slot, len) in
        [(1, 0, 3001), (2, 1, 3002), (3, 0, 3003), (4, 1, 3004), (5, 0, 3005)]
    {
        let saved = w.save(&snapshot(slot, len)).unwrap();
        assert_eq!(saved, Saved { generation, slot });
    }
    let mut rebooted = w.reboot(0, 3);
    let loaded = rebooted.store.load().unwrap();
    assert_eq!(&loaded.snapshot[..], &snapshot(0, 3005)[..]);
    assert_eq!((loaded.generation, loaded.slot, loaded.family), (5, 0, Some(Family::Tpm12)));
    // Saving goes on from the loaded generation, into the other slot.
    assert_eq!(rebooted.save(b"next"), Ok(Saved { generation: 6, slot: 1 }));
}

#[test]
fn empty_and_full_size_snapshots_round_trip() {
    let mut w = World::started(4);
    let capacity = w.store.capacity().unwrap();
    assert_eq!(capacity, 16 * 1024 - 80);
    w.save(&[]).unwrap();
    assert_eq!(w.load().unwrap(), b"");
    w.save(&snapshot(7, capacity)).unwrap();
    assert_eq!(w.load().unwrap(), snapshot(7, capacity));
}

#[test]
fn key_record_at_the_manager_is_64_bytes_and_changes_every_save() {
    let mut w = World::started(5);
    w.save(b"a").unwrap();
    let first = w.store.keeper().stored().unwrap().clone();
    w.save(b"a").unwrap();
    let second = w.store.keeper().stored().unwrap().clone();
    assert_eq!(first.load_reply_bytes().len(), 64);
    assert_ne!(first, second, "every save must use a fresh key");
}

// --- Load failures, each reported precisely.

#[test]
fn save_before_load_is_refused() {
    let mut w = World::blank(6);
    assert_eq!(w.save(b"x"), Err(Error::NotLoaded));
    assert_eq!(w.store.keeper().saves, 0);
    assert_eq!(w.store.disk().sectors_written, 0);
}

#[test]
fn manager_unreachable_at_load_refuses_saves() {
    let mut w = World::blank(7);
    w.store.keeper_mut().push_fault(KeeperFault::Unreachable);
    assert_eq!(w.load(), Err(Error::Manager(KeeperError::Unreachable)));
    assert_eq!(w.save(b"x"), Err(Error::NotLoaded));
}

#[test]
fn manager_refusal_at_load_is_reported_with_its_code() {
    let mut w = World::blank(8);
    w.store.keeper_mut().push_fault(KeeperFault::Refuse(7));
    let err = w.load().unwrap_err();
    assert_eq!(err, Error::Manager(KeeperError::Refused(7)));
    assert_eq!(err.to_string(), "state key: manager refused: TPM_DISABLED (0x7)");
}

#[test]
fn zero_record_from_vtpm_new_is_never_saved() {
    let mut w = World::blank(9);
    w.store.keeper_mut().set_stored(Some(Hashkey::new(&[0; 52]).unwrap()));
    assert!(matches!(w.load(), Err(Error::NeverSaved { .. })));
    assert_eq!(w.save(b"x"), Ok(Saved { generation: 1, slot: 0 }));
}

#[test]
fn c_vtpm_record_is_reported_as_legacy() {
    let mut w = World::blank(10);
    w.store.keeper_mut().set_stored(Some(Hashkey::new(&[0xA5; 52]).unwrap()));
    assert_eq!(w.load(), Err(Error::LegacyRecord));
    assert_eq!(w.save(b"x"), Err(Error::NotLoaded));
}

#[test]
fn disk_too_small_names_its_size() {
    let power = Power::new();
    let disk = FakeDisk::new(SECTOR, 12, power.clone());
    let mut store = StateStore::new(disk, FakeKeeper::new(power));
    let err = store.load().unwrap_err();
    assert_eq!(err, Error::DiskTooSmall { bytes: 6144, minimum: 8192 });
    assert_eq!(err.to_string(), "state disk is 6144 bytes, too small: at least 8192 bytes needed");
}

#[test]
fn unusable_sector_size_is_refused() {
    let power = Power::new();
    let disk = FakeDisk::new(520, 64, power.clone());
    let mut store = StateStore::new(disk, FakeKeeper::new(power));
    assert_eq!(store.load().unwrap_err(), Error::Geometry { sector_size: 520, sectors: 64 });
}

#[test]
fn snapshot_too_large_names_the_capacity() {
    let mut w = World::started(11);
    let capacity = w.store.capacity().unwrap();
    assert_eq!(
        w.save(&vec![0; capacity + 1]),
        Err(Error::SnapshotTooLarge { bytes: capacity + 1, capacity })
    );
    assert_eq!(w.store.disk().sectors_written, 0);
}

#[test]
fn unreadable_named_slot_is_a_disk_error() {
    let mut w = World::started(12);
    w.save(b"a").unwrap();
    w.save(b"b").unwrap(); // slot 1, sectors 32..
    w.store.disk_mut().faults.read_sector = Some(32);
    assert_eq!(w.load(), Err(Error::Disk { op: DiskOp::Read, sector: 32, cause: DeviceError::Io }));
}

#[test]
fn unreadable_payload_is_a_disk_error() {
    let mut w = World::started(13);
    w.save(&snapshot(1, 2000)).unwrap(); // slot 0, sectors 0..4
    w.store.disk_mut().faults.read_sector = Some(2);
    assert_eq!(w.load(), Err(Error::Disk { op: DiskOp::Read, sector: 1, cause: DeviceError::Io }));
}

#[test]
fn unreadable_other_slot_does_not_stop_a_load() {
    let mut w = World::started(14);
    w.save(b"a").unwrap();
    w.store.disk_mut().faults.read_sector = Some(32);
    assert_eq!(w.load().unwrap(), b"a");
}

#[test]
fn every_corrupted_bit_of_the_live_slot_is_refused() {
    let mut w = World::started(15);
    w.save(b"old").unwrap();
    w.save(&snapshot(3, 100)).unwrap(); // slot 1
    let slot1 = 32 * SECTOR as u64 * 8;
    for bit in 0..(64 + 100 + 16) * 8 {
        let mut copy = w.with_image(w.store.disk().image());
        copy.store.disk_mut().flip_bit(slot1 + bit);
        let result = copy.load();
        assert!(result.is_err(), "bit {bit} flipped and the slot still loaded");
        // Past the header, the slot still claims the named generation: corrupt.
        if bit >= 64 * 8 {
            assert_eq!(diagnosis(result).cause(), Cause::Corrupt, "bit {bit}");
        }
    }
}

#[test]
fn corrupt_slot_message_names_slot_and_generation() {
    let mut w = World::started(16);
    w.save(b"x").unwrap();
    w.store.disk_mut().flip_bit(70 * 8);
    let text = w.load().unwrap_err().to_string();
    assert!(text.contains("names generation 1 in slot 0"), "{text}");
    assert!(text.contains("fails authentication (corrupted or forged)"), "{text}");
}

#[test]
fn replayed_older_slot_is_refused() {
    let mut w = World::started(17);
    w.save(b"gen1").unwrap(); // slot 0
    let old_slot0 = w.store.disk().image()[..32 * SECTOR].to_vec();
    w.save(b"gen2").unwrap(); // slot 1
    w.save(b"gen3").unwrap(); // slot 0
    let mut image = w.store.disk().image();
    image[..32 * SECTOR].copy_from_slice(&old_slot0);
    let d = diagnosis(w.with_image(image).load());
    assert_eq!(d.cause(), Cause::Replayed);
    assert_eq!((d.generation, d.slot), (3, 0));
}

#[test]
fn replayed_older_image_is_refused() {
    let mut w = World::started(18);
    w.save(b"gen1").unwrap();
    w.save(b"gen2").unwrap();
    let old_image = w.store.disk().image();
    w.save(b"gen3").unwrap();
    w.save(b"gen4").unwrap();
    let mut replayed = w.with_image(old_image);
    let err = replayed.load().unwrap_err();
    let Error::NoValidSlot(d) = err else { panic!("{err:?}") };
    assert_eq!(d.cause(), Cause::Replayed);
    assert!(err.to_string().contains("only older generations"), "{err}");
    // Nothing is written over the replayed image.
    assert_eq!(replayed.save(b"x"), Err(Error::NotLoaded));
}

#[test]
fn slot_copied_to_the_other_position_is_refused() {
    let mut w = World::started(19);
    w.save(b"gen1").unwrap();
    w.save(b"gen2").unwrap(); // slot 1 is live
    let mut image = w.store.disk().image();
    let (slot0, slot1) = image.split_at_mut(32 * SECTOR);
    slot0.copy_from_slice(slot1);
    let mut copy = w.with_image(image);
    // The manager names slot 1, which is intact: the load succeeds from it.
    assert_eq!(copy.load().unwrap(), b"gen2");
    // Copied the other way round, the live state is gone and the copy is refused.
    let mut image = w.store.disk().image();
    let (slot0, slot1) = image.split_at_mut(32 * SECTOR);
    slot1.copy_from_slice(slot0);
    let d = diagnosis(w.with_image(image).load());
    assert_eq!(d.slots[1], SlotState::Malformed);
}

#[test]
fn another_vtpms_disk_is_refused() {
    let mut mine = World::started(20);
    mine.save(b"mine").unwrap();
    let mut theirs = World::started(21);
    theirs.save(b"theirs").unwrap();
    let d = diagnosis(mine.with_image(theirs.store.disk().image()).load());
    assert_eq!(d.cause(), Cause::OtherDisk);
}

#[test]
fn blank_disk_with_a_manager_record_is_refused() {
    let mut w = World::started(22);
    w.save(b"x").unwrap();
    let d = diagnosis(w.with_image(vec![0; 64 * SECTOR]).load());
    assert_eq!(d.cause(), Cause::Blank);
}

#[test]
fn c_vtpm_disk_is_recognised() {
    let mut w = World::started(23);
    w.save(b"x").unwrap();
    let mut image = vec![0x77; 64 * SECTOR];
    image[..4].copy_from_slice(&1040u32.to_be_bytes());
    let d = diagnosis(w.with_image(image).load());
    assert_eq!(d.slots[0], SlotState::CVtpm { blob_len: 1040 });
    assert_eq!(d.cause(), Cause::CVtpm);
}

#[test]
fn manager_record_older_than_the_disk_is_reported() {
    let mut w = World::started(24);
    w.save(b"gen1").unwrap();
    w.save(b"gen2").unwrap();
    let gen2_record = w.store.keeper().stored().cloned();
    w.save(b"gen3").unwrap();
    w.save(b"gen4").unwrap(); // slot 1 now holds gen4
    w.store.keeper_mut().set_stored(gen2_record);
    let d = diagnosis(w.load());
    assert_eq!(d.cause(), Cause::ManagerBehind);
}

#[test]
fn never_saved_reports_what_the_disk_holds() {
    let mut w = World::started(25);
    w.save(b"x").unwrap();
    w.store.keeper_mut().set_stored(None);
    let err = w.load().unwrap_err();
    let Error::NeverSaved { slots } = err else { panic!("{err:?}") };
    assert!(matches!(slots[0], SlotState::Sealed(h) if h.generation == 1));
    assert!(err.to_string().starts_with("the manager has no key for this vTPM"));
}

#[test]
fn never_saved_with_a_committed_looking_disk_needs_an_explicit_fresh_start() {
    let mut w = World::started(27);
    w.save(b"gen1").unwrap();
    w.save(b"gen2").unwrap();
    // The manager lost the entry, or this vTPM runs under the wrong UUID: the disk's
    // state must not be overwritten silently.
    w.store.keeper_mut().set_stored(None);
    assert!(matches!(w.load(), Err(Error::NeverSaved { .. })));
    assert_eq!(w.store.status(), Status::NotLoaded);
    assert_eq!(w.save(b"x"), Err(Error::NotLoaded));
    w.store.start_fresh();
    assert_eq!(w.save(b"x"), Ok(Saved { generation: 1, slot: 0 }));
}

#[test]
fn never_saved_with_a_c_vtpm_disk_needs_an_explicit_fresh_start() {
    let w = World::started(28);
    let mut image = vec![0x77; 64 * SECTOR];
    image[..4].copy_from_slice(&1040u32.to_be_bytes());
    let mut c_disk = w.with_image(image);
    assert!(matches!(c_disk.load(), Err(Error::NeverSaved { .. })));
    assert_eq!(c_disk.save(b"x"), Err(Error::NotLoaded));
}

#[test]
fn fresh_start_after_a_failed_load_writes_the_unnamed_slot() {
    let mut w = World::started(26);
    w.save(b"gen1").unwrap();
    w.save(b"gen2").unwrap(); // manager names slot 1
    w.store.disk_mut().flip_bit(32 * SECTOR as u64 * 8 + 600);
    assert!(matches!(w.load(), Err(Error::NoValidSlot(_))));
    w.store.start_fresh();
    assert_eq!(w.save(b"fresh"), Ok(Saved { generation: 1, slot: 0 }));
    assert_eq!(w.load().unwrap(), b"fresh");
}

// --- Save failures leave the committed state as it was.

/// Runs a save that must fail, then checks that the old state is still what a
/// reboot loads, and that the store's next save works.
fn assert_failed_save_changes_nothing(w: &mut World, expected: Error) {
    let before = w.store.status();
    assert_eq!(w.save(b"new"), Err(expected));
    assert_eq!(w.store.status(), before);
    assert_eq!(w.reboot(0, 50).load().unwrap(), b"old");
    w.store.disk_mut().faults = Default::default();
    w.save(b"newer").unwrap();
    assert_eq!(w.reboot(0, 51).load().unwrap(), b"newer");
}

#[test]
fn write_error_fails_the_save() {
    let mut w = World::started(30);
    w.save(b"old").unwrap();
    w.store.disk_mut().faults.write = Some(DeviceError::Io);
    let expected = Error::Disk { op: DiskOp::Write, sector: 32, cause: DeviceError::Io };
    assert_failed_save_changes_nothing(&mut w, expected);
}

#[test]
fn flush_error_fails_the_save_before_the_manager_hears_of_it() {
    let mut w = World::started(31);
    w.save(b"old").unwrap();
    w.store.disk_mut().faults.flush = Some(DeviceError::Unsupported);
    let saves = w.store.keeper().saves;
    let expected = Error::Disk { op: DiskOp::Flush, sector: 32, cause: DeviceError::Unsupported };
    assert_eq!(w.save(b"new"), Err(expected));
    assert_eq!(w.store.keeper().saves, saves);
    w.store.disk_mut().faults = Default::default();
    assert_eq!(w.reboot(0, 52).load().unwrap(), b"old");
}

#[test]
fn manager_refusal_fails_the_save() {
    let mut w = World::started(32);
    w.save(b"old").unwrap();
    w.store.keeper_mut().push_fault(KeeperFault::Refuse(7));
    assert_failed_save_changes_nothing(&mut w, Error::Manager(KeeperError::Refused(7)));
}

#[test]
fn unreachable_manager_fails_the_save() {
    let mut w = World::started(33);
    w.save(b"old").unwrap();
    w.store.keeper_mut().push_fault(KeeperFault::Unreachable);
    assert_failed_save_changes_nothing(&mut w, Error::Manager(KeeperError::Unreachable));
}

#[test]
fn lost_request_is_settled_as_not_committed() {
    let mut w = World::started(34);
    w.save(b"old").unwrap();
    w.store.keeper_mut().push_fault(KeeperFault::LoseRequest);
    assert_failed_save_changes_nothing(&mut w, Error::Manager(KeeperError::NoAnswer));
}

#[test]
fn lost_ack_is_settled_as_committed() {
    let mut w = World::started(35);
    w.save(b"old").unwrap();
    w.store.keeper_mut().push_fault(KeeperFault::LoseAck);
    assert_eq!(w.save(b"new"), Ok(Saved { generation: 2, slot: 1 }));
    assert_eq!(w.store.status(), Status::Committed { generation: 2, slot: 1 });
    assert_eq!(w.reboot(0, 53).load().unwrap(), b"new");
}

#[test]
fn unsettled_lost_ack_is_uncertain_then_settled_by_the_next_save() {
    let mut w = World::started(36);
    w.save(b"old").unwrap();
    w.store.keeper_mut().push_fault(KeeperFault::LoseAck);
    w.store.keeper_mut().push_fault(KeeperFault::Unreachable);
    assert_eq!(w.save(b"new"), Err(Error::CommitUncertain));
    assert_eq!(w.store.status(), Status::Uncertain { attempted: 2 });
    // A crash now loads the new state (the manager took it).
    assert_eq!(w.reboot(0, 54).load().unwrap(), b"new");
    // The next save learns that and writes the slot the manager does not name.
    assert_eq!(w.save(b"newer"), Ok(Saved { generation: 3, slot: 0 }));
    assert_eq!(w.reboot(0, 55).load().unwrap(), b"newer");
}

#[test]
fn unsettled_lost_request_is_uncertain_then_settled_by_the_next_save() {
    let mut w = World::started(37);
    w.save(b"old").unwrap();
    w.store.keeper_mut().push_fault(KeeperFault::LoseRequest);
    w.store.keeper_mut().push_fault(KeeperFault::LoseAck);
    assert_eq!(w.save(b"new"), Err(Error::CommitUncertain));
    assert_eq!(w.reboot(0, 56).load().unwrap(), b"old");
    assert_eq!(w.save(b"newer"), Ok(Saved { generation: 2, slot: 1 }));
    assert_eq!(w.reboot(0, 57).load().unwrap(), b"newer");
}

#[test]
fn uncertain_store_refuses_to_write_while_the_manager_is_unreachable() {
    let mut w = World::started(38);
    w.save(b"old").unwrap();
    w.store.keeper_mut().push_fault(KeeperFault::LoseAck);
    w.store.keeper_mut().push_fault(KeeperFault::Unreachable);
    assert_eq!(w.save(b"new"), Err(Error::CommitUncertain));
    let written = w.store.disk().sectors_written;
    w.store.keeper_mut().push_fault(KeeperFault::Unreachable);
    assert_eq!(w.save(b"newer"), Err(Error::Manager(KeeperError::Unreachable)));
    assert_eq!(w.store.disk().sectors_written, written, "wrote while uncertain");
}

#[test]
fn manager_record_changed_during_an_uncertain_save_stops_saving() {
    let mut w = World::started(39);
    w.save(b"old").unwrap();
    w.store.keeper_mut().push_fault(KeeperFault::LoseAck);
    w.store.keeper_mut().push_fault(KeeperFault::Unreachable);
    assert_eq!(w.save(b"new"), Err(Error::CommitUncertain));
    w.store.keeper_mut().set_stored(Some(Hashkey::new(&[1; 64]).unwrap()));
    assert_eq!(w.save(b"newer"), Err(Error::ManagerRecordChanged));
    assert_eq!(w.save(b"newer"), Err(Error::ManagerRecordChanged));
}

#[test]
fn first_save_with_a_lost_request_stays_fresh() {
    let mut w = World::started(40);
    w.store.keeper_mut().push_fault(KeeperFault::LoseRequest);
    assert_eq!(w.save(b"a"), Err(Error::Manager(KeeperError::NoAnswer)));
    assert_eq!(w.store.status(), Status::Fresh);
    assert_eq!(w.save(b"b"), Ok(Saved { generation: 1, slot: 0 }));
}

#[test]
fn debug_output_never_shows_keys_or_state() {
    let mut w = World::started(41);
    w.save(b"SECRET-STATE").unwrap();
    let loaded = w.store.load().unwrap();
    let text = format!("{:?} {:?}", w.store, loaded);
    assert!(!text.contains("SECRET"), "{text}");
    let key = w.store.keeper().stored().unwrap().padded()[..32].to_vec();
    let key_bytes = format!("{key:?}");
    assert!(!text.contains(&key_bytes[1..key_bytes.len() - 1]), "{text}");
    assert!(text.contains("redacted"), "{text}");
}

// --- The store over the real protocol, against a manager built from vtpm-proto.

/// A manager that answers SAVEHASHKEY and LOADHASHKEY for one vTPM the way vtpmmgr
/// does: zero-pads the key to 64 bytes, answers an unknown vTPM with BAD_PARAMETER.
#[derive(Default)]
struct ProtocolManager {
    stored: Option<[u8; 64]>,
}

impl ManagerChannel for ProtocolManager {
    fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, KeeperError> {
        let result = match Request::parse(request) {
            Ok(Request::SaveHashKey(key)) => {
                self.stored = Some(*key.padded());
                Response::SaveHashKey.encode(reply)
            }
            Ok(Request::LoadHashKey) => match &self.stored {
                Some(stored) => Response::LoadHashKey(Hashkey::from_padded(stored)).encode(reply),
                None => vtpm_proto::encode_status(
                    vtpm_proto::tag::RSP,
                    ReturnCode::BAD_PARAMETER,
                    reply,
                ),
            },
            Ok(_) => vtpm_proto::encode_status(vtpm_proto::tag::RSP, ReturnCode::FAIL, reply),
            Err(e) => reject(request, &e, reply),
        };
        result.map_err(|_| KeeperError::NoAnswer)
    }
}

#[test]
fn store_works_over_the_manager_protocol() {
    let power = Power::new();
    let disk = FakeDisk::new(SECTOR, 64, power);
    let mut store = StateStore::new(disk, ProtoKeeper::new(ProtocolManager::default()));
    let mut rng = Drbg::from_seed([42; 32]);
    assert!(matches!(store.load(), Err(Error::NeverSaved { .. })));
    store.save(b"over the wire", Family::Tpm20, &mut rng).unwrap();
    store.save(b"again", Family::Tpm20, &mut rng).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(&loaded.snapshot[..], b"again");
    assert_eq!(loaded.family, Some(Family::Tpm20));
}
