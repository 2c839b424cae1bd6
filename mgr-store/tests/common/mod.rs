//! Shared fixtures for the store tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use mgr_store::testing::{FakeCounter, FakeDisk};
use mgr_store::{Error, FormatOptions, OpenOptions, RootSecret, Store, Uuid};

pub type TestStore = Store<FakeDisk, FakeCounter>;
pub type Model = BTreeMap<Uuid, (u16, Vec<u8>)>;

pub fn secret() -> RootSecret {
    RootSecret::new([0x5E; 32])
}

pub const BLOB: &[u8] = b"sealed-by-the-hardware-tpm";

/// A uuid from a number (spread over the key space by a multiplicative hash).
pub fn uuid(n: u64) -> Uuid {
    let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut u = [0u8; 16];
    u[..8].copy_from_slice(&h.to_be_bytes());
    u[8..].copy_from_slice(&n.to_be_bytes());
    u
}

/// A 52-byte hashkey (SHA-1 ‖ AES-256 key, specs §8) derived from `n` and `version`.
pub fn hashkey(n: u64, version: u8) -> Vec<u8> {
    (0..52u8).map(|i| i ^ n.to_le_bytes()[0] ^ version.wrapping_mul(31)).collect()
}

pub fn format(sectors: usize) -> (TestStore, FakeDisk, FakeCounter) {
    let disk = FakeDisk::new(sectors);
    let counter = FakeCounter::new(1000);
    let store =
        Store::format(disk.clone(), counter.clone(), &secret(), BLOB, FormatOptions::default())
            .expect("format");
    (store, disk, counter)
}

pub fn reopen(disk: &FakeDisk, counter: &FakeCounter) -> Result<TestStore, Error> {
    Store::open(disk.clone(), counter.clone(), &secret(), OpenOptions::default())
}

/// Everything in the store (one read per node).
pub fn contents(store: &mut TestStore) -> Result<Model, Error> {
    let mut out = Model::new();
    store.for_each(|u, e| {
        out.insert(*u, (e.flags, e.key.as_bytes().to_vec()));
    })?;
    Ok(out)
}

/// Everything in the store, read through list + get (exercises paging and lookups).
pub fn contents_by_lookup(store: &mut TestStore) -> Result<Model, Error> {
    let mut out = Model::new();
    let mut after = None;
    loop {
        let page = store.list(after.as_ref(), 97)?;
        for u in &page {
            let e = store.get(u)?.ok_or(Error::Malformed { sector: 0 })?;
            out.insert(*u, (e.flags, e.key.as_bytes().to_vec()));
        }
        match page.last() {
            Some(last) if page.len() == 97 => after = Some(*last),
            _ => break,
        }
    }
    Ok(out)
}

pub fn fill(store: &mut TestStore, model: &mut Model, range: std::ops::Range<u64>) {
    for n in range {
        let key = hashkey(n, 0);
        store.save(&uuid(n), &key, (n % 3) as u16).expect("save");
        model.insert(uuid(n), ((n % 3) as u16, key));
    }
}
