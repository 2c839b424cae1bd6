//! Cost of the codec on the messages a save and a load exchange, and on a full page.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use vtpm_proto::{Command, Hashkey, MAX_MESSAGE, MAX_VTPM_LIST_UUIDS, Request, Response};

fn codec(c: &mut Criterion) {
    let key = Hashkey::new(&[0x5A; 64]).unwrap();
    let mut out = [0u8; MAX_MESSAGE];

    let save = Request::SaveHashKey(key.clone());
    c.bench_function("encode SAVEHASHKEY", |b| b.iter(|| black_box(&save).encode(&mut out)));
    let len = save.encode(&mut out).unwrap();
    let request = out[..len].to_vec();
    c.bench_function("parse SAVEHASHKEY", |b| b.iter(|| Request::parse(black_box(&request))));

    let load = Response::LoadHashKey(key);
    let len = load.encode(&mut out).unwrap();
    let reply = out[..len].to_vec();
    c.bench_function("parse LOADHASHKEY reply", |b| {
        b.iter(|| Response::parse(Command::LoadHashKey, black_box(&reply)))
    });

    let uuids = vec![[0x11u8; 16]; MAX_VTPM_LIST_UUIDS];
    let list = Response::VtpmList { total: 100_000, uuids: &uuids };
    c.bench_function("encode full VTPM_LIST page", |b| {
        b.iter(|| black_box(&list).encode(&mut out))
    });
    let len = list.encode(&mut out).unwrap();
    let page = out[..len].to_vec();
    c.bench_function("parse full VTPM_LIST page", |b| {
        b.iter(|| Response::parse(Command::VtpmList, black_box(&page)))
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
