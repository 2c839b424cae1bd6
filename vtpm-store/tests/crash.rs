//! A crash at any point of a save leaves exactly the old or the new state.
//!
//! Every step a machine can die between (each sector reaching the disk cache, the
//! flush, the manager committing, the acknowledgement arriving) is a power tick; the
//! tests cut the power before each one in turn, let every prefix of the unflushed
//! writes survive, reboot, and load.

mod common;

use common::{World, snapshot};
use vtpm_store::Error;

const OLD: &[u8] = b"the state before the save";

/// Ticks a clean save of `new` takes on a store holding `OLD`.
fn ticks_of_a_save(sector_size: usize, sectors: u64, new: &[u8]) -> u64 {
    let mut w = World::started_disk(1, sector_size, sectors);
    w.save(OLD).unwrap();
    let before = w.power.ticks();
    w.save(new).unwrap();
    w.power.ticks() - before
}

/// Runs the save of `new` with the power cut before tick `cut` of it; returns the
/// world and the save's result.
fn crashed_save(sector_size: usize, sectors: u64, new: &[u8], cut: u64) -> (World, bool, bool) {
    let mut w = World::started_disk(1, sector_size, sectors);
    w.save(OLD).unwrap();
    let old_record = w.store.keeper().stored().cloned();
    w.power.cut_at(w.power.ticks() + cut);
    let saved = w.save(new).is_ok();
    let committed = w.store.keeper().stored().cloned() != old_record;
    (w, saved, committed)
}

fn crash_everywhere(sector_size: usize, sectors: u64, new: &[u8]) {
    let total = ticks_of_a_save(sector_size, sectors, new);
    // Sectors written, one flush, the manager's commit and its acknowledgement.
    let image_sectors = (new.len() + 80).div_ceil(sector_size) as u64;
    assert_eq!(total, image_sectors + 3);
    for cut in 0..=total {
        let (w, saved, committed) = crashed_save(sector_size, sectors, new, cut);
        assert_eq!(
            saved,
            cut == total,
            "cut {cut}: the save reports success only when acknowledged"
        );
        for surviving in 0..=w.store.disk().pending_sectors() {
            let mut rebooted = w.reboot(surviving, 2);
            let loaded = rebooted.load().unwrap_or_else(|e| panic!("cut {cut}/{surviving}: {e}"));
            // The manager's commit decides, nothing else.
            let expected = if committed { new } else { OLD };
            assert_eq!(loaded, expected, "cut {cut}, {surviving} unflushed sectors survived");
            // And the rebooted store saves again.
            rebooted.save(b"after the crash").unwrap();
            assert_eq!(rebooted.reboot(0, 3).load().unwrap(), b"after the crash");
        }
    }
}

#[test]
fn crash_at_every_point_of_a_small_save() {
    crash_everywhere(512, 64, b"small");
}

#[test]
fn crash_at_every_point_of_a_multi_sector_save() {
    crash_everywhere(512, 64, &snapshot(9, 6000));
}

#[test]
fn crash_at_every_point_of_a_save_on_4k_sectors() {
    crash_everywhere(4096, 16, &snapshot(5, 9000));
}

#[test]
fn crash_at_every_point_of_an_empty_save() {
    crash_everywhere(512, 64, b"");
}

#[test]
fn crash_before_the_manager_commits_keeps_the_old_state() {
    let new = snapshot(1, 700);
    let total = ticks_of_a_save(512, 64, &new);
    let (w, saved, committed) = crashed_save(512, 64, &new, total - 2);
    assert!(!saved && !committed);
    // Even with the new slot fully on disk.
    assert_eq!(w.reboot(u64::MAX, 2).load().unwrap(), OLD);
}

#[test]
fn crash_after_the_manager_commits_but_before_the_ack_keeps_the_new_state() {
    let new = snapshot(1, 700);
    let total = ticks_of_a_save(512, 64, &new);
    let (w, saved, committed) = crashed_save(512, 64, &new, total - 1);
    assert!(!saved && committed);
    // Even if no unflushed write survives: the flush came before the manager.
    assert_eq!(w.reboot(0, 2).load().unwrap(), new);
}

#[test]
fn crash_during_the_first_save_leaves_never_saved_or_the_first_state() {
    // 780 bytes: two sectors, the flush, the manager's commit, the acknowledgement.
    let new = snapshot(1, 700);
    for cut in 0..5 {
        let mut w = World::started(1);
        w.power.cut_at(w.power.ticks() + cut);
        assert!(w.save(&new).is_err());
        let committed = w.store.keeper().stored().is_some();
        assert_eq!(committed, cut == 4);
        for surviving in 0..=w.store.disk().pending_sectors() {
            let mut rebooted = w.reboot(surviving, 2);
            match rebooted.load() {
                Ok(loaded) => assert!(committed && loaded == new),
                Err(e) => assert!(!committed && matches!(e, Error::NeverSaved { .. }), "{e}"),
            }
            rebooted.save(b"first").unwrap();
        }
    }
}
