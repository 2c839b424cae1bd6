//! The store's behaviour: operations, formats, rollback, counter protocol, paging.

mod common;

use common::*;
use mgr_store::testing::{FakeCounter, FakeDisk};
use mgr_store::{
    Error, FormatOptions, ImageKind, MemDisk, OpenOptions, RootSecret, SECTOR_SIZE, SlotState,
    Store, inspect,
};

#[test]
fn format_blank_disk_then_save_get_delete() {
    let (mut store, _disk, counter) = format(512);
    assert_eq!(counter.value(), 1001, "format is bound to the counter");
    assert!(store.is_empty());

    store.save(&uuid(1), &hashkey(1, 0), 1).unwrap();
    store.save(&uuid(2), &hashkey(2, 0), 0).unwrap();
    store.save(&uuid(1), &hashkey(1, 1), 0).unwrap();

    let e = store.get(&uuid(1)).unwrap().unwrap();
    assert_eq!((e.flags, e.key.as_bytes()), (0, &hashkey(1, 1)[..]));
    assert_eq!(store.len(), 2);
    assert_eq!(store.delete(&uuid(2)), Ok(true));
    assert_eq!(store.delete(&uuid(2)), Ok(false));
    assert_eq!(store.get(&uuid(2)), Ok(None));
    assert_eq!(store.len(), 1);
    assert_eq!(counter.value(), 1001 + 4, "one increment per sync");
}

#[test]
fn reopen_sees_every_committed_change() {
    let (mut store, disk, counter) = format(512);
    let mut model = Model::new();
    fill(&mut store, &mut model, 0..500);
    for n in (0..500).step_by(3) {
        store.delete(&uuid(n)).unwrap();
        model.remove(&uuid(n));
    }
    drop(store);

    let mut store = reopen(&disk, &counter).unwrap();

    assert_eq!(contents_by_lookup(&mut store).unwrap(), model);
    assert_eq!(contents(&mut store).unwrap(), model);
    assert_eq!(store.sealed_blob(), BLOB);
    let report = store.check().unwrap();
    assert_eq!(report.entries, model.len() as u64);
}

#[test]
fn save_unchanged_entry_writes_nothing() {
    let (mut store, disk, counter) = format(64);
    store.save(&uuid(1), &hashkey(1, 0), 0).unwrap();
    let before = (disk.counts().1, counter.value());
    store.save(&uuid(1), &hashkey(1, 0), 0).unwrap();
    assert_eq!((disk.counts().1, counter.value()), before);
}

#[test]
fn key_longer_than_64_bytes_is_refused() {
    let (mut store, _, _) = format(64);
    assert_eq!(store.save(&uuid(1), &[0; 65], 0), Err(Error::KeyTooLong));
    store.save(&uuid(1), &[7; 64], 0).unwrap();
    store.save(&uuid(2), &[], 0).unwrap();
    assert_eq!(store.get(&uuid(1)).unwrap().unwrap().key.as_bytes(), &[7; 64]);
    assert_eq!(store.get(&uuid(2)).unwrap().unwrap().key.as_bytes(), &[] as &[u8]);
}

#[test]
fn wrong_secret_is_an_authentication_failure_not_a_reformat() {
    let (store, disk, counter) = format(64);
    drop(store);
    let other = RootSecret::new([1; 32]);
    let r = Store::open(disk.clone(), counter.clone(), &other, OpenOptions::default());
    assert_eq!(r.err(), Some(Error::AuthenticationFailed));
    let r = Store::format(disk.clone(), counter, &other, BLOB, FormatOptions::default());
    assert_eq!(r.err(), Some(Error::NotBlank));
}

#[test]
fn open_blank_disk_reports_blank() {
    let disk = FakeDisk::new(64);
    let r = Store::open(disk, FakeCounter::new(0), &secret(), OpenOptions::default());
    assert_eq!(r.err(), Some(Error::Blank));
}

#[test]
fn disk_with_content_is_not_blank_and_not_formatted_without_overwrite() {
    // Roots zero, but a sector further on holds data.
    let mut image = vec![0u8; 64 * SECTOR_SIZE];
    image[40 * SECTOR_SIZE + 7] = 1;
    let disk = FakeDisk::from_image(image);
    let counter = FakeCounter::new(0);
    let r = Store::open(disk.clone(), counter.clone(), &secret(), OpenOptions::default());
    assert_eq!(r.err(), Some(Error::NotAStore));
    let r = Store::format(disk.clone(), counter.clone(), &secret(), BLOB, FormatOptions::default());
    assert_eq!(r.err(), Some(Error::NotBlank));
    assert_eq!(inspect(&mut disk.clone()).unwrap().kind, ImageKind::NotAStore);

    let options = FormatOptions { overwrite: true, ..FormatOptions::default() };
    let mut store = Store::format(disk.clone(), counter.clone(), &secret(), BLOB, options).unwrap();
    store.save(&uuid(3), &hashkey(3, 0), 0).unwrap();
    drop(store);
    assert_eq!(reopen(&disk, &counter).unwrap().get(&uuid(3)).unwrap().unwrap().flags, 0);
}

#[test]
fn c_vtpmmgr_image_is_recognised_and_never_formatted() {
    let mut image = vec![0u8; 512 * SECTOR_SIZE];
    image[..12].copy_from_slice(b"TPM\xfeMGR\xddDOM\0");
    image[16..20].copy_from_slice(&2u32.to_be_bytes());
    image[2 * SECTOR_SIZE..3 * SECTOR_SIZE].fill(0xA5);
    let disk = FakeDisk::from_image(image);
    let counter = FakeCounter::new(0);

    assert_eq!(inspect(&mut disk.clone()).unwrap().kind, ImageKind::CVtpmmgr { version: 0 });
    let r = Store::open(disk.clone(), counter.clone(), &secret(), OpenOptions::default());
    assert_eq!(r.err(), Some(Error::CVtpmmgrImage { version: 0 }));
    let r = Store::format(disk, counter, &secret(), BLOB, FormatOptions::default());
    assert_eq!(r.err(), Some(Error::CVtpmmgrImage { version: 0 }));
}

#[test]
fn unsupported_version_is_reported() {
    let (store, disk, counter) = format(64);
    drop(store);
    let mut image = disk.image();
    for slot in 0..2 {
        image[slot * SECTOR_SIZE + 9] = 2;
    }
    disk.set_image(image);
    assert_eq!(reopen(&disk, &counter).err(), Some(Error::UnsupportedVersion(2)));
}

/// An older complete image, replayed after newer changes were committed, is refused.
#[test]
fn replayed_older_image_is_refused() {
    let (mut store, disk, counter) = format(128);
    store.save(&uuid(1), &hashkey(1, 0), 0).unwrap();
    let old_image = disk.image();
    let old_counter = counter.value();
    store.save(&uuid(1), &hashkey(1, 1), 0).unwrap();
    store.save(&uuid(2), &hashkey(2, 0), 0).unwrap();
    drop(store);

    disk.set_image(old_image);

    assert_eq!(
        reopen(&disk, &counter).err(),
        Some(Error::RolledBack { root_counter: old_counter, counter: old_counter + 2 })
    );
}

/// Replaying only the older root slot (keeping newer tree sectors) is refused too.
#[test]
fn replayed_older_root_slot_is_refused() {
    let (mut store, disk, counter) = format(128);
    store.save(&uuid(1), &hashkey(1, 0), 0).unwrap();
    let image_a = disk.image();
    store.save(&uuid(1), &hashkey(1, 1), 0).unwrap();
    store.save(&uuid(1), &hashkey(1, 2), 0).unwrap();
    drop(store);
    // Restore both root slots from A, keep everything else.
    let mut image = disk.image();
    image[..2 * SECTOR_SIZE].copy_from_slice(&image_a[..2 * SECTOR_SIZE]);
    disk.set_image(image);
    assert!(matches!(reopen(&disk, &counter).err(), Some(Error::RolledBack { .. })));
}

/// Crash between "root durable" and "counter incremented": the next open accepts the
/// root one ahead of the counter and completes the increment.
#[test]
fn crash_before_counter_increment_is_completed_at_open() {
    let (mut store, disk, counter) = format(128);
    store.save(&uuid(1), &hashkey(1, 0), 0).unwrap();
    counter.fail_increment(true);

    assert_eq!(
        store.save(&uuid(2), &hashkey(2, 0), 0),
        Err(Error::Counter(mgr_store::CounterError(0x102)))
    );
    let c = counter.value();
    drop(store);
    counter.fail_increment(false);

    let mut store = reopen(&disk, &counter).unwrap();
    assert_eq!(counter.value(), c + 1);
    assert!(store.get(&uuid(2)).unwrap().is_some());
    // And the image before that sync is now a replay.
    drop(store);
}

#[test]
fn failed_increment_is_retried_before_the_next_change() {
    let (mut store, _disk, counter) = format(128);
    counter.fail_increment(true);
    assert!(matches!(store.save(&uuid(1), &hashkey(1, 0), 0), Err(Error::Counter(_))));
    assert!(matches!(store.save(&uuid(2), &hashkey(2, 0), 0), Err(Error::Counter(_))));
    let c = counter.value();
    counter.fail_increment(false);

    store.save(&uuid(2), &hashkey(2, 0), 0).unwrap();

    assert_eq!(counter.value(), c + 2, "catch-up increment, then this sync's");
    assert_eq!(store.counter_binding(), counter.value());
    assert!(store.get(&uuid(1)).unwrap().is_some());
}

#[test]
fn counter_behind_is_refused_unless_rebound_explicitly() {
    let (mut store, disk, counter) = format(128);
    store.save(&uuid(1), &hashkey(1, 0), 0).unwrap();
    drop(store);
    counter.set(5); // a cleared or replaced TPM

    assert_eq!(
        reopen(&disk, &counter).err(),
        Some(Error::CounterBehind { root_counter: 1002, counter: 5 })
    );
    let options = OpenOptions { rebind_counter: true };
    let mut store = Store::open(disk.clone(), counter.clone(), &secret(), options).unwrap();
    assert_eq!(counter.value(), 6);
    assert_eq!(store.counter_binding(), 6);
    store.save(&uuid(2), &hashkey(2, 0), 0).unwrap();
    drop(store);
    assert_eq!(reopen(&disk, &counter).unwrap().len(), 2);
}

#[test]
fn counter_moved_by_someone_else_is_reported() {
    let (mut store, _disk, counter) = format(64);
    counter.set(counter.value() + 10);
    assert_eq!(
        store.save(&uuid(1), &hashkey(1, 0), 0),
        Err(Error::CounterOutOfStep { expected: 1002, actual: 1012 })
    );
}

#[test]
fn list_pages_through_every_uuid_in_order() {
    let (mut store, _, _) = format(512);
    let mut model = Model::new();
    fill(&mut store, &mut model, 0..300);
    let expected: Vec<_> = model.keys().copied().collect();

    for page_size in [1, 7, 57, 300, 1000] {
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = store.list(after.as_ref(), page_size).unwrap();
            assert!(page.len() <= page_size);
            got.extend_from_slice(&page);
            if page.len() < page_size {
                break;
            }
            after = page.last().copied();
        }
        assert_eq!(got, expected, "page size {page_size}");
    }
    assert!(store.list(None, 0).unwrap().is_empty());
    assert!(store.list(Some(&[0xFF; 16]), 10).unwrap().is_empty());
}

#[test]
fn read_only_open_lists_without_counter_and_refuses_writes() {
    let (mut store, disk, _) = format(128);
    store.save(&uuid(1), &hashkey(1, 0), 0).unwrap();
    drop(store);

    let mut ro = Store::open_read_only(MemDisk::from_image(disk.image()), &secret()).unwrap();

    assert_eq!(ro.list(None, 10).unwrap(), vec![uuid(1)]);
    assert_eq!(ro.save(&uuid(2), &[], 0), Err(Error::ReadOnly));
    assert_eq!(ro.delete(&uuid(1)), Err(Error::ReadOnly));
}

#[test]
fn inspect_reports_roots_without_the_secret() {
    let (mut store, disk, _) = format(128);
    store.save(&uuid(1), &hashkey(1, 0), 0).unwrap();
    store.set_sealed_blob(b"resealed").unwrap();
    drop(store);

    let info = inspect(&mut disk.clone()).unwrap();

    assert_eq!(info.kind, ImageKind::Store);
    assert_eq!(info.device_sectors, 128);
    let seqs: Vec<u64> = info
        .slots
        .iter()
        .map(|s| match s {
            SlotState::Root(r) => r.seq,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs.iter().max(), Some(&3));
    assert_eq!(info.sealed_blobs(), vec![&b"resealed"[..], BLOB]);
    assert_eq!(inspect(&mut FakeDisk::new(8)).unwrap().kind, ImageKind::Blank);
}

#[test]
fn sealed_blob_too_large_is_refused() {
    let disk = FakeDisk::new(16);
    let r =
        Store::format(disk, FakeCounter::new(0), &secret(), &[0; 1025], FormatOptions::default());
    assert_eq!(r.err(), Some(Error::SealedBlobTooLarge));
}

#[test]
fn tiny_device_is_refused() {
    let r = Store::format(
        FakeDisk::new(2),
        FakeCounter::new(0),
        &secret(),
        BLOB,
        FormatOptions::default(),
    );
    assert_eq!(r.err(), Some(Error::DeviceTooSmall));
}

#[test]
fn full_store_refuses_new_entries_but_still_updates_and_deletes() {
    let (mut store, _, _) = format(8);
    let mut model = Model::new();
    let mut n = 0;
    loop {
        match store.save(&uuid(n), &hashkey(n, 0), 0) {
            Ok(()) => {
                model.insert(uuid(n), (0, hashkey(n, 0)));
                n += 1;
            }
            Err(Error::Full) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(n > 100, "{n} entries in 6 node sectors");
    store.save(&uuid(0), &hashkey(0, 9), 0).unwrap();
    model.insert(uuid(0), (0, hashkey(0, 9)));
    for k in 0..n / 2 {
        assert_eq!(store.delete(&uuid(k)), Ok(true));
        model.remove(&uuid(k));
    }
    assert_eq!(contents(&mut store).unwrap(), model);
    store.check().unwrap();
}
