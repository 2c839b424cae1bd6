//! The fuzz harnesses on random input, so every `cargo test` runs them a little.

use mgr_store::testing::{fuzz_open, fuzz_sealed};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn open_arbitrary_image_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4000)) {
        fuzz_open(&data);
    }

    #[test]
    fn open_sealed_arbitrary_plaintext_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4000)) {
        fuzz_sealed(&data);
    }
}

/// A plaintext that parses as a root with a one-leaf tree: the sealed harness must get
/// through authentication to the tree (guards the harness against silently testing
/// only the MAC check).
#[test]
fn sealed_harness_reaches_the_tree() {
    use mgr_store::testing::{FUZZ_SECRET, FakeDisk, fuzz_image, seal_image};
    use mgr_store::{RootSecret, Store};

    let mut data = vec![0u8]; // 3 sectors
    let mut root = vec![0u8; 1200];
    root[11] = 1; // height
    root[12..16].copy_from_slice(&3u32.to_be_bytes());
    root[16..24].copy_from_slice(&5u64.to_be_bytes()); // seq
    root[32..40].copy_from_slice(&1u64.to_be_bytes()); // entries
    root[40..44].copy_from_slice(&2u32.to_be_bytes()); // tree at sector 2
    root[1088] = 0b111; // sectors 0, 1, 2 used
    let mut leaf = vec![1u8, 0, 0, 1];
    leaf.extend_from_slice(&[9; 16]);
    leaf.extend_from_slice(&[0, 1, 3, 0xAA, 0xBB, 0xCC]);
    data.extend_from_slice(&root);
    data.extend_from_slice(&[0; 1200]); // slot 1 empty
    data.extend_from_slice(&leaf);
    let mut image = fuzz_image(&data);
    image[..8].copy_from_slice(b"RVTPMMGR");
    image[8..10].copy_from_slice(&1u16.to_be_bytes());
    let secret = RootSecret::new(FUZZ_SECRET);
    seal_image(&secret, &mut image, 1);

    let mut store = Store::open_read_only(FakeDisk::from_image(image), &secret).unwrap();
    let entry = store.get(&[9; 16]).unwrap().unwrap();
    assert_eq!((entry.flags, entry.key.as_bytes()), (1, &[0xAA, 0xBB, 0xCC][..]));
    store.check().unwrap();
}
