//! blkfront against the simulator's blkback: handshake, byte-level I/O, requests in
//! flight completing out of order, errors, flushes, and a backend that hangs,
//! closes or vanishes.

#![allow(clippy::cast_possible_truncation, reason = "test data patterns")]

use blkfront::testing::FakeBlkback;
use blkfront::{Blkfront, Config, Error, Flush, discover};
use proptest::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use xenbus::XenbusState;
use xenbus::sim::{Sim, SimDomain};

const FRONT: u16 = 5;
const BACK: u16 = 0;
const VDEV: u32 = 768;
const NODE: &str = "device/vbd/768";
const SECOND: u64 = 1_000_000_000;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 512) as u8).collect()
}

fn setup(disk_len: usize) -> (Sim, Rc<RefCell<FakeBlkback>>) {
    let sim = Sim::new();
    let backend = FakeBlkback::attach(&sim, BACK, FRONT, VDEV, pattern(disk_len));
    (sim, backend)
}

fn config() -> Config {
    Config { timeout_ns: 5 * SECOND, ..Config::default() }
}

fn open(sim: &Sim) -> Blkfront<SimDomain> {
    Blkfront::open(sim.bus(FRONT), NODE, config()).unwrap()
}

#[test]
fn discovers_vbds_in_id_order() {
    let sim = Sim::new();
    for vdev in [51712, 768, 832] {
        FakeBlkback::attach(&sim, BACK, FRONT, vdev, vec![0; 4096]);
    }
    let bus = sim.bus(FRONT);
    assert_eq!(discover(&bus).unwrap(), ["device/vbd/768", "device/vbd/832", "device/vbd/51712"]);
    let empty = Sim::new();
    assert!(discover(&empty.bus(FRONT)).unwrap().is_empty());
}

#[test]
fn handshake_publishes_ring_and_reads_the_disk_parameters() {
    let (sim, backend) = setup(1 << 20);
    backend.borrow_mut().sector_size = 4096;
    let disk = open(&sim);
    let info = disk.info().unwrap();
    assert_eq!((info.sectors, info.sector_size, info.flush), (2048, 4096, Flush::FlushCache));
    assert_eq!(info.size_bytes(), 1 << 20);
    let read = |key: &str| sim.world().store_read(&format!("/local/domain/5/{NODE}/{key}"));
    assert_eq!(read("state").as_deref(), Some("4"));
    assert_eq!(read("protocol").as_deref(), Some("x86_64-abi"));
    assert!(read("ring-ref").is_some() && read("event-channel").is_some());
    assert!(backend.borrow().violations.is_empty());
}

#[test]
fn aligned_read_and_write() {
    let (sim, backend) = setup(64 * 1024);
    let mut disk = open(&sim);
    let mut buffer = vec![0u8; 4096];
    disk.read(8192, &mut buffer).unwrap();
    assert_eq!(buffer, pattern(64 * 1024)[8192..12288]);
    disk.write(8192, &[0xAB; 4096]).unwrap();
    disk.read(8192, &mut buffer).unwrap();
    assert_eq!(buffer, [0xAB; 4096]);
    assert_eq!(&backend.borrow().disk[8192..12288], &[0xAB; 4096]);
}

#[test]
fn unaligned_write_preserves_the_rest_of_the_blocks() {
    let (sim, backend) = setup(64 * 1024);
    backend.borrow_mut().sector_size = 4096;
    let mut disk = open(&sim);
    let mut model = pattern(64 * 1024);
    for (offset, len) in [(5, 3), (4090, 10), (100, 9000), (65535, 1), (0, 1)] {
        let data: Vec<u8> = (0..len).map(|i| (i as u8) ^ 0x5A).collect();
        disk.write(offset as u64, &data).unwrap();
        model[offset..offset + len].copy_from_slice(&data);
        assert_eq!(backend.borrow().disk, model, "after writing {len} bytes at {offset}");
    }
    let mut all = vec![0u8; 64 * 1024];
    disk.read(0, &mut all).unwrap();
    assert_eq!(all, model);
}

#[test]
fn large_transfers_keep_several_requests_in_flight_and_survive_reordering() {
    let (sim, backend) = setup(1 << 20);
    backend.borrow_mut().reorder = true;
    let mut disk = open(&sim);
    let data: Vec<u8> = (0..600 * 1024).map(|i| (i % 251) as u8).collect();
    disk.write(4096, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    disk.read(4096, &mut back).unwrap();
    assert_eq!(back, data);
    let backend = backend.borrow();
    assert!(backend.max_batch >= 2, "requests were issued one at a time");
    assert!(backend.violations.is_empty(), "{:?}", backend.violations);
}

#[test]
fn io_error_is_reported_and_the_disk_stays_usable() {
    let (sim, backend) = setup(64 * 1024);
    let mut disk = open(&sim);
    backend.borrow_mut().fail_bytes = Some(10_000..10_001);
    let mut buffer = vec![0u8; 16 * 1024];
    assert_eq!(disk.read(0, &mut buffer), Err(Error::Io));
    assert_eq!(disk.write(8192, &[1; 4096]), Err(Error::Io));
    backend.borrow_mut().fail_bytes = None;
    disk.read(0, &mut buffer).unwrap();
    assert_eq!(backend.borrow().connections, 1);
}

#[test]
fn out_of_range_and_read_only_are_refused_up_front() {
    let (sim, backend) = setup(64 * 1024);
    backend.borrow_mut().info = 0x4;
    let mut disk = open(&sim);
    let mut buffer = [0u8; 16];
    assert_eq!(disk.read(64 * 1024 - 8, &mut buffer), Err(Error::OutOfRange));
    assert_eq!(disk.read(u64::MAX - 4, &mut buffer), Err(Error::OutOfRange));
    assert_eq!(disk.write(0, &buffer), Err(Error::ReadOnly));
    assert_eq!(backend.borrow().served, [0; 4]);
}

#[test]
fn flush_uses_the_feature_offered() {
    let (sim, backend) = setup(8192);
    let mut disk = open(&sim);
    disk.flush().unwrap();
    assert_eq!(backend.borrow().served[3], 1);

    let (sim, backend) = setup(8192);
    backend.borrow_mut().flush_feature = Some("feature-barrier");
    let mut disk = open(&sim);
    assert_eq!(disk.info().unwrap().flush, Flush::Barrier);
    disk.flush().unwrap();
    assert_eq!(backend.borrow().served[2], 1);

    let (sim, backend) = setup(8192);
    backend.borrow_mut().flush_feature = None;
    let mut disk = open(&sim);
    disk.flush().unwrap();
    assert_eq!(backend.borrow().served, [0; 4]);
}

#[test]
fn refused_flush_is_reported_once_then_disabled() {
    let (sim, backend) = setup(8192);
    backend.borrow_mut().refuse_flush = true;
    let mut disk = open(&sim);
    assert_eq!(disk.flush(), Err(Error::Unsupported));
    assert_eq!(disk.info().unwrap().flush, Flush::None);
    disk.flush().unwrap();
    assert!(sim.logged(FRONT, "flush refused"));
}

#[test]
fn bad_backend_parameters_fail_the_open() {
    let (sim, backend) = setup(8192);
    backend.borrow_mut().sector_size = 1000;
    let result = Blkfront::open(sim.bus(FRONT), NODE, config());
    assert_eq!(result.err(), Some(Error::BadBackend));
}

#[test]
fn hung_backend_times_out_and_the_disk_reconnects_later() {
    let (sim, backend) = setup(64 * 1024);
    let mut disk = open(&sim);
    backend.borrow_mut().hold = true;
    let before = sim.world().now_ns();
    let mut buffer = vec![0u8; 4096];
    assert_eq!(disk.read(0, &mut buffer), Err(Error::Timeout));
    assert!(sim.world().now_ns() >= before + 5 * SECOND);
    assert!(!disk.is_connected());
    backend.borrow_mut().hold = false;
    disk.read(0, &mut buffer).unwrap();
    assert_eq!(buffer, pattern(4096));
    assert_eq!(backend.borrow().connections, 2);
    assert_eq!(sim.stats().freed_while_mapped, 0);
}

#[test]
fn vanished_backend_gives_errors_not_hangs() {
    let (sim, backend) = setup(64 * 1024);
    let mut disk = open(&sim);
    backend.borrow_mut().dead = true;
    let mut buffer = vec![0u8; 4096];
    assert_eq!(disk.read(0, &mut buffer), Err(Error::Timeout));
    assert_eq!(disk.read(0, &mut buffer), Err(Error::Timeout));
    assert_eq!(disk.write(0, &buffer), Err(Error::Timeout));
    assert_eq!(sim.stats().freed_while_mapped, 0);
}

#[test]
fn backend_closing_mid_transfer_is_a_clear_error() {
    let (sim, backend) = setup(64 * 1024);
    let mut disk = open(&sim);
    backend.borrow_mut().hold = true;
    // The backend closes one second into the transfer.
    struct CloseLater(Rc<RefCell<FakeBlkback>>, u64);
    impl xenbus::sim::Actor for CloseLater {
        fn step(&mut self, world: &mut xenbus::sim::World) -> bool {
            if self.1 != 0 && world.now_ns() >= self.1 {
                self.1 = 0;
                self.0.borrow_mut().go(world, XenbusState::Closing);
                return true;
            }
            false
        }
        fn next_wakeup(&self) -> Option<u64> {
            (self.1 != 0).then_some(self.1)
        }
    }
    let at = sim.world().now_ns() + SECOND;
    sim.add_actor(CloseLater(Rc::clone(&backend), at));
    let mut buffer = vec![0u8; 4096];
    assert_eq!(disk.read(0, &mut buffer), Err(Error::Disconnected));
    assert!(sim.world().now_ns() < at + SECOND, "noticed at once, not at the deadline");
    assert!(!disk.is_connected());
}

#[test]
fn bogus_response_ids_abandon_the_connection() {
    let (sim, backend) = setup(64 * 1024);
    let mut disk = open(&sim);
    backend.borrow_mut().bogus_ids = true;
    let mut buffer = vec![0u8; 4096];
    assert_eq!(disk.read(0, &mut buffer), Err(Error::Protocol));
    assert!(sim.logged(FRONT, "unknown request"));
    backend.borrow_mut().bogus_ids = false;
    disk.read(0, &mut buffer).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any sequence of byte-range reads and writes behaves like a byte array.
    #[test]
    fn behaves_like_a_byte_array(
        big_blocks: bool,
        reorder: bool,
        ops in prop::collection::vec((any::<bool>(), 0usize..65536, 1usize..20000), 1..12),
    ) {
        let (sim, backend) = setup(64 * 1024);
        backend.borrow_mut().sector_size = if big_blocks { 4096 } else { 512 };
        backend.borrow_mut().reorder = reorder;
        let mut disk = open(&sim);
        let mut model = pattern(64 * 1024);
        for (n, (write, offset, len)) in ops.into_iter().enumerate() {
            let len = len.min(64 * 1024 - offset);
            if write {
                let data: Vec<u8> = (0..len).map(|i| (i + n) as u8).collect();
                disk.write(offset as u64, &data).unwrap();
                model[offset..offset + len].copy_from_slice(&data);
            } else {
                let mut out = vec![0u8; len];
                disk.read(offset as u64, &mut out).unwrap();
                prop_assert_eq!(&out[..], &model[offset..offset + len]);
            }
        }
        prop_assert_eq!(&backend.borrow().disk, &model);
        prop_assert!(backend.borrow().violations.is_empty());
    }
}

#[test]
fn selftest_pattern_is_written_flushed_and_verified() {
    use blkfront::selftest::{self, Verdict};
    let (sim, backend) = setup(4 << 20);
    let mut disk = open(&sim);
    let pattern = selftest::pattern();
    assert_eq!(pattern.len(), selftest::LEN);
    assert_eq!(
        &pattern[..64],
        b"blk-selftest 00000000 0123456789abcdefghijklmnopqrstuvwxyzABCDE\n"
    );
    assert!(
        pattern.ends_with(b"blk-selftest 00002999 0123456789abcdefghijklmnopqrstuvwxyzABCDE\n")
    );
    let before = backend.borrow().disk.clone();
    selftest::write(&mut disk).unwrap();
    let after = backend.borrow().disk.clone();
    let start = selftest::OFFSET as usize;
    assert_eq!(&after[start..start + selftest::LEN], &pattern[..]);
    assert_eq!(&after[..start], &before[..start]);
    assert_eq!(&after[start + selftest::LEN..], &before[start + selftest::LEN..]);
    assert_eq!(selftest::verify(&mut disk).unwrap(), Verdict::Match);
    backend.borrow_mut().disk[start + 1000] ^= 1;
    assert_eq!(selftest::verify(&mut disk).unwrap(), Verdict::Differs(1000));
}
