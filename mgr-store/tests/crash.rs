//! Atomicity and integrity: a power cut at every write of a sync, device failures in
//! the middle of a sync, and bit flips in every sector.

mod common;

use common::*;
use mgr_store::testing::{Event, FakeCounter, FakeDisk, replay};
use mgr_store::{Error, SECTOR_SIZE, Uuid};

enum Op {
    Save(Uuid, Vec<u8>),
    Delete(Uuid),
}

fn run(store: &mut TestStore, op: &Op) -> Result<(), Error> {
    match op {
        Op::Save(u, k) => store.save(u, k, 0),
        Op::Delete(u) => store.delete(u).map(|_| ()),
    }
}

fn apply(model: &mut Model, op: &Op) {
    match op {
        Op::Save(u, k) => {
            model.insert(*u, (0, k.clone()));
        }
        Op::Delete(u) => {
            model.remove(u);
        }
    }
}

/// Ops on a two-level tree that exercise: plain update, insert with leaf split,
/// delete with merge, delete of the last entries of a leaf.
fn ops(model: &Model) -> Vec<Op> {
    let keys: Vec<Uuid> = model.keys().copied().collect();
    let mut ops = vec![
        Op::Save(keys[10], hashkey(10, 7)),
        Op::Save(uuid(10_000), hashkey(10_000, 0)),
        Op::Delete(keys[0]),
    ];
    // Enough inserts in one leaf's range (≈ 50 of 57 entries used) to force a split.
    let mut u = keys[100];
    for i in 0..14u8 {
        u[15] = u[15].wrapping_add(1);
        u[14] = i;
        if !model.contains_key(&u) {
            ops.push(Op::Save(u, hashkey(u64::from(i), 3)));
        }
    }
    // Delete a run of neighbours to force merges.
    for k in &keys[150..260] {
        ops.push(Op::Delete(*k));
    }
    ops
}

/// For every op and every prefix of its writes — with the unflushed writes of that
/// prefix kept all, none, or every other one — the image opens and holds exactly the
/// old or the new contents.
#[test]
fn power_cut_at_every_write_leaves_old_or_new_state() {
    let (mut store, disk, counter) = format(48);
    let mut model = Model::new();
    fill(&mut store, &mut model, 0..400);
    assert_eq!(store.height(), 2);
    let mut nodes_before = store.check().unwrap().nodes;
    disk.record(true);
    let mut split_and_merge = (false, false);

    let mut checked = 0;
    for op in ops(&model) {
        let before = disk.image();
        let c0 = counter.value();
        let old = model.clone();
        disk.take_log();
        run(&mut store, &op).unwrap();
        apply(&mut model, &op);
        let nodes = store.check().unwrap().nodes;
        split_and_merge.0 |= nodes > nodes_before;
        split_and_merge.1 |= nodes < nodes_before;
        nodes_before = nodes;
        let log = disk.take_log();
        let writes = log.iter().filter(|e| matches!(e, Event::Write { .. })).count();
        assert!(writes >= 2, "a sync writes nodes and a root");

        for k in 0..=writes {
            let keeps: [&dyn Fn(usize) -> bool; 3] = [&|_| true, &|_| false, &|i| i % 2 == 0];
            for keep in keeps {
                let image = replay(&before, &log, k, keep);
                // The counter increments only after the last flush.
                let counters: &[u64] = if k == writes { &[c0, c0 + 1] } else { &[c0] };
                for &c in counters {
                    let d = FakeDisk::from_image(image.clone());
                    let cnt = FakeCounter::new(c);
                    let mut s = reopen(&d, &cnt).unwrap_or_else(|e| panic!("cut after {k}: {e}"));
                    let got = contents(&mut s).unwrap();
                    assert!(got == old || got == model, "cut after write {k}: mixed state");
                    if k < writes {
                        assert!(got == old || k + 1 == writes, "new state before its root");
                    }
                    s.check().unwrap();
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "{checked} images checked");
    assert_eq!(split_and_merge, (true, true), "ops covered a split and a merge");
}

/// The device fails at every point of a sync: the operation reports the error, the
/// store keeps working afterwards, and a power cut then leaves old or new state.
#[test]
fn device_failure_mid_sync_then_recovery() {
    for fail_at in 0..8 {
        let (mut store, disk, counter) = format(48);
        let mut model = Model::new();
        fill(&mut store, &mut model, 0..200);
        let old = model.clone();
        let op = Op::Save(uuid(5000), hashkey(5000, 1));

        disk.fail_after(Some(fail_at));
        let r = run(&mut store, &op);
        disk.fail_after(None);
        let mut new = model.clone();
        apply(&mut new, &op);
        if r.is_ok() {
            model = new.clone();
        } else {
            assert!(matches!(r, Err(Error::Device(_))), "{r:?}");
        }

        // The store keeps working (it re-reads the roots if the root write was torn).
        let op2 = Op::Save(uuid(6000), hashkey(6000, 0));
        run(&mut store, &op2).unwrap();
        let got = contents(&mut store).unwrap();
        let mut old2 = old.clone();
        apply(&mut old2, &op2);
        let mut new2 = new.clone();
        apply(&mut new2, &op2);
        assert!(got == old2 || got == new2, "fail_at {fail_at}: unexpected contents");
        store.check().unwrap();
        drop(store);

        disk.power_cut();
        let mut s = reopen(&disk, &counter).unwrap();
        assert_eq!(contents(&mut s).unwrap(), got, "fail_at {fail_at}: after power cut");
    }
}

/// A flipped bit anywhere is either in a sector the current root does not use (no
/// effect) or detected with a typed error; it never yields different data.
#[test]
fn bit_flip_in_any_sector_is_detected() {
    let (mut store, disk, counter) = format(48);
    let mut model = Model::new();
    fill(&mut store, &mut model, 0..600);
    drop(store);
    let image = disk.image();
    let sectors = image.len() / SECTOR_SIZE;

    let mut detected = 0;
    for sector in 0..sectors {
        for bit in [0, 7, 130, 8 * 40 + 3, 8 * 2000 + 5, 8 * 4063, 8 * 4095 + 7] {
            let d = FakeDisk::from_image(image.clone());
            d.flip_bit(sector as u64, bit);
            let cnt = FakeCounter::new(counter.value());
            let result = reopen(&d, &cnt).and_then(|mut s| {
                let c = contents(&mut s)?;
                s.check()?;
                Ok(c)
            });
            match result {
                Ok(got) => assert_eq!(got, model, "sector {sector} bit {bit}: wrong data"),
                Err(
                    Error::SectorAuthFailed { .. }
                    | Error::RolledBack { .. }
                    | Error::AuthenticationFailed,
                ) => detected += 1,
                Err(e) => panic!("sector {sector} bit {bit}: unexpected {e:?}"),
            }
        }
    }
    assert!(detected > 0);
}
