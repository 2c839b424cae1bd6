//! The frontend's cost per transfer over the simulator's blkback: request building,
//! copies through the buffer pool, response matching — plus the fake backend's own
//! copies, so these are upper bounds on the driver's CPU time.

use blkfront::testing::FakeBlkback;
use blkfront::{Blkfront, Config};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn transfer(c: &mut Criterion) {
    let sim = xenbus::sim::Sim::new();
    FakeBlkback::attach(&sim, 0, 5, 768, vec![0; 4 << 20]);
    let mut disk = Blkfront::open(sim.bus(5), "device/vbd/768", Config::default()).unwrap();
    let mut group = c.benchmark_group("blkfront");
    for size in [4096usize, 64 * 1024, 1024 * 1024] {
        let data = vec![0x3Cu8; size];
        let mut out = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("write {size} B"), |b| {
            b.iter(|| disk.write(black_box(8192), &data).unwrap())
        });
        group.bench_function(format!("read {size} B"), |b| {
            b.iter(|| disk.read(black_box(8192), &mut out).unwrap())
        });
    }
    group.throughput(Throughput::Bytes(100));
    group.bench_function("unaligned write 100 B", |b| {
        b.iter(|| disk.write(black_box(1000), &[7; 100]).unwrap())
    });
    group.finish();
}

criterion_group!(benches, transfer);
criterion_main!(benches);
