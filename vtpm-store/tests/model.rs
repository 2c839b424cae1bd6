//! Random save / fault / crash / reload sequences checked against a model.
//!
//! The model is the set of states that may be committed: one after a save the store
//! confirmed, the old and the new after a save whose outcome is unknown or that a crash
//! interrupted. Every load must return a member of that set, and then the set shrinks
//! to what was loaded.

mod common;

use common::{World, snapshot};
use proptest::prelude::*;
use vtpm_store::fake::KeeperFault;
use vtpm_store::{DeviceError, Error};

#[derive(Clone, Debug)]
enum Op {
    /// A save that meets no fault.
    Save { tag: u8, len: usize },
    /// A save whose manager calls (the save, then possibly the settling load) misbehave.
    SaveWithManagerFaults { tag: u8, len: usize, faults: Vec<KeeperFault> },
    /// A save whose disk write or flush fails.
    SaveWithDiskFault { tag: u8, len: usize, flush: bool },
    /// A save cut by a power failure before tick `cut`, then a reboot with `surviving`
    /// unflushed sectors written back.
    Crash { tag: u8, len: usize, cut: u64, surviving: u64 },
    /// A clean reboot and load.
    Reboot,
}

fn keeper_fault() -> impl Strategy<Value = KeeperFault> {
    prop_oneof![
        Just(KeeperFault::Unreachable),
        Just(KeeperFault::Refuse(9)),
        Just(KeeperFault::LoseRequest),
        Just(KeeperFault::LoseAck),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let len = 0usize..3000;
    prop_oneof![
        3 => (any::<u8>(), len.clone()).prop_map(|(tag, len)| Op::Save { tag, len }),
        2 => (any::<u8>(), len.clone(), proptest::collection::vec(keeper_fault(), 1..=2))
            .prop_map(|(tag, len, faults)| Op::SaveWithManagerFaults { tag, len, faults }),
        1 => (any::<u8>(), len.clone(), any::<bool>())
            .prop_map(|(tag, len, flush)| Op::SaveWithDiskFault { tag, len, flush }),
        2 => (any::<u8>(), len, 0u64..12, 0u64..10)
            .prop_map(|(tag, len, cut, surviving)| Op::Crash { tag, len, cut, surviving }),
        1 => Just(Op::Reboot),
    ]
}

/// What may be committed: `None` is "never saved".
type Possible = Vec<Option<Vec<u8>>>;

/// Reboots (after a crash or not), loads, and checks the result against the model.
fn reboot_and_check(w: &World, surviving: u64, possible: &Possible, seed: u8) -> (World, Possible) {
    let mut rebooted = w.reboot(surviving, seed);
    let loaded = match rebooted.load() {
        Ok(bytes) => Some(bytes),
        Err(Error::NeverSaved { .. }) => None,
        Err(e) => panic!("load after reboot failed: {e} (model: {} candidates)", possible.len()),
    };
    assert!(possible.contains(&loaded), "loaded a state the model does not allow");
    (rebooted, vec![loaded])
}

/// Applies a save's result to the model.
fn after_save(possible: &mut Possible, result: &Result<vtpm_store::Saved, Error>, new: &[u8]) {
    match result {
        Ok(_) => *possible = vec![Some(new.to_vec())],
        Err(Error::CommitUncertain) => possible.push(Some(new.to_vec())),
        Err(_) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn store_agrees_with_the_model(seed in any::<u8>(), ops in proptest::collection::vec(op(), 1..25)) {
        let mut w = World::started(seed);
        let mut possible: Possible = vec![None];
        for (step, op) in ops.into_iter().enumerate() {
            let reseed = seed.wrapping_add(u8::try_from(step % 200).unwrap()).wrapping_add(1);
            match op {
                Op::Save { tag, len } => {
                    let new = snapshot(tag, len);
                    let result = w.save(&new);
                    // Faults queued by an earlier step may still be pending at the manager.
                    prop_assert!(
                        matches!(result, Ok(_) | Err(Error::Manager(_) | Error::CommitUncertain)),
                        "fault-free save failed: {result:?}"
                    );
                    after_save(&mut possible, &result, &new);
                }
                Op::SaveWithManagerFaults { tag, len, faults } => {
                    for fault in faults {
                        w.store.keeper_mut().push_fault(fault);
                    }
                    let new = snapshot(tag, len);
                    let result = w.save(&new);
                    after_save(&mut possible, &result, &new);
                }
                Op::SaveWithDiskFault { tag, len, flush } => {
                    let faults = &mut w.store.disk_mut().faults;
                    if flush { faults.flush = Some(DeviceError::Io) } else { faults.write = Some(DeviceError::Io) }
                    let new = snapshot(tag, len);
                    let result = w.save(&new);
                    w.store.disk_mut().faults = Default::default();
                    after_save(&mut possible, &result, &new);
                }
                Op::Crash { tag, len, cut, surviving } => {
                    let new = snapshot(tag, len);
                    w.power.cut_at(w.power.ticks() + cut);
                    let result = w.save(&new);
                    if result.is_ok() {
                        possible = vec![Some(new.clone())];
                    } else {
                        possible.push(Some(new.clone()));
                    }
                    (w, possible) = reboot_and_check(&w, surviving, &possible, reseed);
                }
                Op::Reboot => {
                    (w, possible) = reboot_and_check(&w, 0, &possible, reseed);
                }
            }
            // At rest, a crash loses nothing: every write that matters was flushed.
            let _ = reboot_and_check(&w, 0, &possible, reseed);
        }
    }
}
