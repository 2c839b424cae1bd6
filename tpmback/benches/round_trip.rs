//! The backend's own cost per request: notice the frontend's event, copy the
//! command out, hand it over, write the response (over the simulator, so this is the
//! driver's CPU time, not Xen's).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tpmback::testing::FakeFrontend;
use tpmback::{Config, Event, Tpmback};
use xenbus::XenbusState;
use xenbus::sim::Sim;

fn round_trip(c: &mut Criterion) {
    for size in [10usize, 1024, 4088] {
        let sim = Sim::new();
        let mut back = Tpmback::new(sim.bus(1), Config::default()).unwrap();
        let mut front = FakeFrontend::attach(&sim, 1, 7, 0, "00000000-0000-0000-0000-000000000007");
        for _ in 0..3 {
            sim.run();
            while back.poll().is_some() {}
        }
        front.connect(XenbusState::Initialised);
        for _ in 0..3 {
            sim.run();
            while back.poll().is_some() {}
        }
        let command = vec![0xA5u8; size];
        let response = vec![0x5Au8; size];
        c.bench_function(&format!("tpmback request+response {size} B"), |b| {
            b.iter(|| {
                front.submit(black_box(&command), 0);
                let Some(Event::Request(request)) = back.poll() else { panic!("no request") };
                back.respond(request.reply_to(), &response).unwrap();
                black_box(front.state());
            })
        });
    }
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
