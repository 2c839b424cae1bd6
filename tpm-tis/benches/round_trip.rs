//! Criterion: one full command round trip through the driver and the TIS model.
//!
//! Measures the driver's register traffic and bookkeeping (the model answers
//! instantly), for a small and a buffer-sized response at two burst counts.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tpm_tis::model::{TisModel, canned};
use tpm_tis::{Config, Family, Tis};

fn round_trip(c: &mut Criterion) {
    // TPM2_GetRandom(32).
    let command = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 32];
    let mut group = c.benchmark_group("tis_round_trip");
    for (response_len, burst) in [(42usize, 8u16), (42, 64), (4096, 8), (4096, 64)] {
        let model = TisModel::new(Family::Tpm20, canned::sized(response_len));
        model.set_burst_count(burst);
        let config = Config { locality: 2, ..Config::default() };
        let mut tis = Tis::new(model.mmio(), model.clock(), config).expect("model answers");
        tis.set_family(Family::Tpm20);
        let mut rsp = vec![0u8; 4096];
        group.throughput(Throughput::Bytes((command.len() + response_len) as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("burst{burst}"), response_len),
            &response_len,
            |b, &len| {
                b.iter(|| {
                    let n = tis.transmit(&command, &mut rsp).expect("round trip");
                    assert_eq!(n, len);
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
