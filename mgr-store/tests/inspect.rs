//! Offline inspection without the secret: which root wins, truncated copies, and that
//! no image — random, bit-flipped or cut short — makes it panic.

mod common;

use common::*;
use mgr_store::layout::Malformation;
use mgr_store::{ImageKind, MemDisk, SECTOR_SIZE, SlotState, inspect};
use proptest::prelude::*;

/// A store image with a few entries and both root slots written.
fn two_root_image() -> Vec<u8> {
    let (mut store, disk, _) = format(64);
    store.save(&uuid(1), &hashkey(1, 0), 0).unwrap();
    store.save(&uuid(2), &hashkey(2, 0), 1).unwrap();
    drop(store);
    disk.image()
}

#[test]
fn newest_root_is_the_highest_sequence() {
    let info = inspect(&mut MemDisk::from_image(two_root_image())).unwrap();
    let seqs: Vec<u64> = info
        .slots
        .iter()
        .map(|s| match s {
            SlotState::Root(r) => r.seq,
            other => panic!("{other:?}"),
        })
        .collect();
    let want = usize::from(seqs[1] > seqs[0]);
    assert_eq!(info.newest(), Some(want));
    let SlotState::Root(root) = &info.slots[want] else { unreachable!() };
    assert_eq!((root.entries, root.sector_count, root.sealed_blob.as_slice()), (2, 64, BLOB));
    assert!(root.used_sectors >= 3, "two roots and a leaf");
}

#[test]
fn truncated_copy_has_no_usable_root() {
    let mut image = two_root_image();
    image.truncate(10 * SECTOR_SIZE);
    let info = inspect(&mut MemDisk::from_image(image)).unwrap();
    assert_eq!(info.kind, ImageKind::Store);
    assert_eq!(info.device_sectors, 10);
    for slot in &info.slots {
        let SlotState::Root(root) = slot else { panic!("{slot:?}") };
        assert!(!info.fits(root));
    }
    assert_eq!(info.newest(), None);
}

#[test]
fn damaged_root_slot_is_malformed_and_the_other_wins() {
    let mut image = two_root_image();
    let info = inspect(&mut MemDisk::from_image(image.clone())).unwrap();
    let newest = info.newest().unwrap();
    image[newest * SECTOR_SIZE + 10] ^= 1; // the slot index no longer matches
    let info = inspect(&mut MemDisk::from_image(image)).unwrap();
    assert_eq!(info.slots[newest], SlotState::Malformed(Malformation::SlotIndex));
    assert_eq!(info.newest(), Some(1 - newest));
}

#[test]
fn too_small_image_is_an_error() {
    assert!(inspect(&mut MemDisk::from_image(vec![0; SECTOR_SIZE])).is_err());
    assert!(inspect(&mut MemDisk::from_image(Vec::new())).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_images_never_panic(image in proptest::collection::vec(any::<u8>(), 0..(3 * SECTOR_SIZE + 100))) {
        if let Ok(info) = inspect(&mut MemDisk::from_image(image)) {
            let _ = info.newest();
            let _ = info.sealed_blobs();
        }
    }

    #[test]
    fn bit_flipped_roots_never_panic(bits in proptest::collection::vec(0usize..(2 * SECTOR_SIZE * 8), 1..8), keep in 2usize..64) {
        let mut image = two_root_image();
        for bit in bits {
            image[bit / 8] ^= 1 << (bit % 8);
        }
        image.truncate(keep * SECTOR_SIZE);
        let info = inspect(&mut MemDisk::from_image(image)).unwrap();
        if let Some(slot) = info.newest() {
            prop_assert!(matches!(info.slots[slot], SlotState::Root(_)));
        }
    }
}
