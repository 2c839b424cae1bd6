//! A power cut (or `xl destroy`) at every step of a command's save: after the restart
//! the TPM holds the state before or after that command, never anything else, and a
//! command the guest saw succeed is never lost.

use std::vec;
use std::vec::Vec;

use crate::app::{self, Origin, StorePersist};
use crate::options::Options;
use crate::service::Vtpm;
use vtpm_store::fake::{FakeDisk, FakeKeeper, Power};

const SECTORS: u64 = 4096;

type Tpm = Vtpm<StorePersist<FakeDisk, FakeKeeper>>;

fn pcr_read(index: u32) -> Vec<u8> {
    let mut c = vec![0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15];
    c.extend_from_slice(&index.to_be_bytes());
    c
}

fn extend(index: u32, digest: u8) -> Vec<u8> {
    let mut c = vec![0x00, 0xC1, 0, 0, 0, 34, 0, 0, 0, 0x14];
    c.extend_from_slice(&index.to_be_bytes());
    c.extend_from_slice(&[digest; 20]);
    c
}

fn pcr(tpm: &mut Tpm) -> Vec<u8> {
    let answer = tpm.execute(0, 0, &pcr_read(3));
    assert_eq!(app::return_code(&answer), 0);
    answer[10..30].to_vec()
}

fn boot(disk: FakeDisk, keeper: FakeKeeper) -> (Tpm, Origin) {
    app::start(&Options::default(), disk, keeper, b"power cut test entropy", 0).expect("start")
}

/// The machine as it reboots: the disk's durable sectors plus `surviving` cached
/// ones, the manager's committed record.
fn reboot(tpm: &Tpm, surviving: u64) -> (FakeDisk, FakeKeeper) {
    let store = tpm_store(tpm);
    (store.disk().power_loss(surviving, Power::new()), store.keeper().after_crash(Power::new()))
}

fn tpm_store(tpm: &Tpm) -> &vtpm_store::StateStore<FakeDisk, FakeKeeper> {
    tpm.persist().store()
}

#[test]
fn a_cut_at_any_step_of_a_save_leaves_the_state_before_or_after() {
    // A committed TPM with one extend done.
    let power = Power::new();
    let (mut tpm, origin) =
        boot(FakeDisk::new(512, SECTORS, power.clone()), FakeKeeper::new(power.clone()));
    assert_eq!(origin, Origin::New);
    tpm.execute(0, 0, &extend(3, 1));
    let (disk, keeper) = reboot(&tpm, 0);
    drop(tpm);

    // Count the steps of one more extend and learn its result.
    let (image_disk, base_keeper) =
        (disk.power_loss(0, Power::new()), keeper.after_crash(Power::new()));
    let power = Power::new();
    let (mut tpm, origin) =
        boot(image_disk.power_loss(0, power.clone()), base_keeper.after_crash(power.clone()));
    assert_eq!(origin, Origin::Resumed);
    let before = pcr(&mut tpm);
    let start = power.ticks();
    let answer = tpm.execute(0, 0, &extend(3, 2));
    assert_eq!(app::return_code(&answer), 0);
    let steps = power.ticks() - start;
    let after = answer[10..30].to_vec();
    assert_ne!(before, after);
    assert!(steps >= 3, "a save is at least write, flush, commit: {steps}");
    drop(tpm);

    for cut in 0..=steps {
        for surviving in [0, u64::MAX] {
            let power = Power::new();
            let (mut tpm, _) = boot(
                image_disk.power_loss(0, power.clone()),
                base_keeper.after_crash(power.clone()),
            );
            power.cut_at(power.ticks() + cut);
            let answer = tpm.execute(0, 0, &extend(3, 2));
            let acknowledged = app::return_code(&answer) == 0;
            let (disk, keeper) = reboot(&tpm, surviving);
            drop(tpm);
            let (mut tpm, origin) = boot(disk, keeper);
            assert_eq!(origin, Origin::Resumed, "cut {cut}, {surviving} surviving");
            let found = pcr(&mut tpm);
            assert!(
                found == before || found == after,
                "cut at step {cut}: PCR 3 is neither the old nor the new value"
            );
            if acknowledged {
                assert_eq!(found, after, "cut at step {cut}: an acknowledged extend was lost");
            }
            if cut == steps {
                assert!(acknowledged);
            }
        }
    }
}
