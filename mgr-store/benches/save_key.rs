//! Criterion: SAVEHASHKEY latency (one `Store::save` = one full sync) with 10, 1,000
//! and 100,000 entries, on the fake disk (in memory, flush = copy the written sectors
//! to the durable image), so the time is the store's own work: tree path, sealing,
//! bitmap, root. Also prints the sectors one save reads and writes.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mgr_store::testing::{FakeCounter, FakeDisk};
use mgr_store::{FormatOptions, RootSecret, Store, Uuid};

fn uuid(n: u64) -> Uuid {
    let mut u = [0u8; 16];
    u[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    u[8..].copy_from_slice(&n.to_be_bytes());
    u
}

fn save_key(c: &mut Criterion) {
    let secret = RootSecret::new([0x5E; 32]);
    let mut group = c.benchmark_group("save_key");
    for (entries, sectors) in [(10u64, 512usize), (1_000, 512), (100_000, 4096)] {
        let mut store = Store::format(
            FakeDisk::new(sectors),
            FakeCounter::new(0),
            &secret,
            b"sealed",
            FormatOptions::default(),
        )
        .expect("format");
        for n in 0..entries {
            store.save(&uuid(n), &[n.to_le_bytes()[0]; 52], 0).expect("fill");
        }
        // Sectors touched by one save (updating an existing entry).
        let before = store.io_stats();
        store.save(&uuid(entries / 2), &[0xEE; 52], 0).expect("save");
        let after = store.io_stats();
        eprintln!(
            "save_key/{entries}: height {}, {} sectors read, {} written, {} flushes per save",
            store.height(),
            after.sectors_read - before.sectors_read,
            after.sectors_written - before.sectors_written,
            after.flushes - before.flushes,
        );
        let mut version = 0u8;
        group.bench_with_input(BenchmarkId::from_parameter(entries), &entries, |b, &entries| {
            b.iter(|| {
                version = version.wrapping_add(1);
                let n = u64::from(version) * 7919 % entries;
                store.save(&uuid(n), &[version; 52], 0).expect("save");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, save_key);
criterion_main!(benches);
