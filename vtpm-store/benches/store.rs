//! Save and load cost for 4 KiB, 64 KiB and 512 KiB snapshots on the in-memory disk,
//! split into crypto (seal / open) and the rest (disk copy, flush, manager call).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tpm_engine::{Drbg, Family};
use vtpm_store::fake::{FakeDisk, FakeKeeper, Power};
use vtpm_store::format::{self, DiskId, KeyRecord, SlotHeader};
use vtpm_store::{BlockDevice, StateStore};
use zeroize::Zeroizing;

const SIZES: [usize; 3] = [4 << 10, 64 << 10, 512 << 10];
const SECTOR: usize = 512;
/// 2 MiB: two 1 MiB slots.
const SECTORS: u64 = 4096;

fn store() -> StateStore<FakeDisk, FakeKeeper> {
    let power = Power::new();
    let mut store =
        StateStore::new(FakeDisk::new(SECTOR, SECTORS, power.clone()), FakeKeeper::new(power));
    let _ = store.load();
    store
}

fn save(c: &mut Criterion) {
    let mut group = c.benchmark_group("save");
    for size in SIZES {
        let snapshot = vec![0x5A; size];
        let mut rng = Drbg::from_seed([1; 32]);
        group.throughput(Throughput::Bytes(size as u64));

        let mut s = store();
        group.bench_with_input(BenchmarkId::new("store", size), &snapshot, |b, snapshot| {
            b.iter(|| s.save(black_box(snapshot), Family::Tpm20, &mut rng).unwrap())
        });

        let record = KeyRecord::generate(&mut rng, DiskId([1; 16]), 2, 1);
        group.bench_with_input(BenchmarkId::new("seal only", size), &snapshot, |b, snapshot| {
            b.iter(|| format::seal(&record, Family::Tpm20, black_box(snapshot), SECTOR, &mut rng))
        });

        let image = format::seal(&record, Family::Tpm20, &snapshot, SECTOR, &mut rng).unwrap();
        let mut disk = FakeDisk::new(SECTOR, SECTORS, Power::new());
        group.bench_with_input(BenchmarkId::new("write+flush only", size), &image, |b, image| {
            b.iter(|| {
                disk.write(SECTORS / 2, black_box(image)).unwrap();
                disk.flush().unwrap();
            })
        });
    }
    group.finish();
}

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    for size in SIZES {
        let snapshot = vec![0x5A; size];
        let mut rng = Drbg::from_seed([2; 32]);
        group.throughput(Throughput::Bytes(size as u64));

        let mut s = store();
        s.save(&snapshot, Family::Tpm20, &mut rng).unwrap();
        group.bench_function(BenchmarkId::new("store", size), |b| b.iter(|| s.load().unwrap()));

        let record = KeyRecord::generate(&mut rng, DiskId([1; 16]), 2, 1);
        let image = format::seal(&record, Family::Tpm20, &snapshot, SECTOR, &mut rng).unwrap();
        let header = SlotHeader::parse(&image, 1, 1 << 20).unwrap();
        group.bench_function(BenchmarkId::new("open only", size), |b| {
            b.iter_batched(
                || Zeroizing::new(image.to_vec()),
                |image| format::open(&record, &header, image).unwrap(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, save, load);
criterion_main!(benches);
