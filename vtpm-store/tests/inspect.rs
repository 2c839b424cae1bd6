//! Offline inspection (`vtpm_store::inspect`): what a disk written by the real store
//! looks like without any key, and that no image makes it panic.

mod common;

use common::{SECTOR, SECTORS, World, snapshot};
use proptest::prelude::*;
use tpm_engine::Family;
use vtpm_store::fake::{FakeDisk, Power};
use vtpm_store::{Error, SlotState, inspect};

fn inspect_image(image: Vec<u8>) -> Result<vtpm_store::DiskInspection, Error> {
    inspect(&mut FakeDisk::from_image(SECTOR, image, Power::new()))
}

#[test]
fn blank_disk_has_two_blank_slots() {
    let report = inspect_image(vec![0; SECTOR * usize::try_from(SECTORS).unwrap()]).unwrap();
    assert_eq!(report.slots, [SlotState::Blank; 2]);
    assert_eq!((report.sector_size, report.sectors, report.slot_sectors), (SECTOR, SECTORS, 32));
    assert_eq!(report.newest(), None);
}

#[test]
fn saved_disk_shows_both_generations_and_the_newest_slot() {
    let mut w = World::started(1);
    w.save(&snapshot(0, 3000)).unwrap();
    w.save(&snapshot(1, 2000)).unwrap();
    let report = inspect_image(w.store.disk().image()).unwrap();
    let [SlotState::Sealed(s0), SlotState::Sealed(s1)] = report.slots else {
        panic!("expected two sealed slots: {report:?}");
    };
    assert_eq!((s0.generation, s0.len, s0.family), (1, 3000, Some(Family::Tpm12)));
    assert_eq!((s1.generation, s1.len, s1.family), (2, 2000, Some(Family::Tpm12)));
    assert_eq!(s0.disk_id, s1.disk_id);
    assert_eq!(report.newest(), Some(1));
    w.save(b"third").unwrap();
    assert_eq!(inspect_image(w.store.disk().image()).unwrap().newest(), Some(0));
}

#[test]
fn damaged_header_is_reported_not_fatal() {
    let mut w = World::started(2);
    w.save(&snapshot(0, 100)).unwrap();
    let mut image = w.store.disk().image();
    image[10] = 1; // slot 0's header claims slot 1
    let report = inspect_image(image).unwrap();
    assert_eq!(report.slots, [SlotState::Malformed, SlotState::Blank]);
    assert_eq!(report.newest(), None);
}

#[test]
fn too_small_disk_is_an_error() {
    assert!(matches!(inspect_image(vec![0; 2048]), Err(Error::DiskTooSmall { .. })));
    assert!(matches!(inspect_image(Vec::new()), Err(Error::DiskTooSmall { .. })));
}

proptest! {
    #[test]
    fn random_images_never_panic(image in proptest::collection::vec(any::<u8>(), 0..20_000)) {
        let _ = inspect_image(image);
    }

    #[test]
    fn bit_flipped_images_never_panic(bits in proptest::collection::vec(0u64..(32 * 1024 * 8), 1..8)) {
        let mut w = World::started(3);
        w.save(&snapshot(0, 3000)).unwrap();
        w.save(&snapshot(1, 5000)).unwrap();
        let mut image = w.store.disk().image();
        for bit in bits {
            let byte = usize::try_from(bit / 8).unwrap();
            image[byte] ^= 1 << (bit % 8);
        }
        let report = inspect_image(image).unwrap();
        for state in report.slots {
            prop_assert!(!matches!(state, SlotState::Unreadable(_)));
        }
    }
}
