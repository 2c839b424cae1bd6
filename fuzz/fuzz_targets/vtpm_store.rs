//! Any disk contents and any manager record: loading never panics.
//!
//! Input byte 0 picks the mode. Even: the next 64 bytes are the manager's record
//! (52 of them if bit 1 is set, as a C manager would return) and the rest is the
//! disk image. Odd: a real state is saved first, then the rest of the input is XORed
//! into the disk image (at an offset from bytes 1–2) and bit 1 XORs it into the
//! record too, so the fuzzer explores near-valid slots.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tpm_engine::{Drbg, Family};
use vtpm_store::fake::{FakeDisk, FakeKeeper, Power};
use vtpm_store::{Hashkey, StateStore};

const SECTOR: usize = 512;
const SECTORS: u64 = 32;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let power = Power::new();
    let mut rng = Drbg::from_seed([7; 32]);
    let (image, record) = if mode & 1 == 0 {
        let key_len = if mode & 2 == 0 { 64 } else { 52 };
        if rest.len() < key_len {
            return;
        }
        let (key, image) = rest.split_at(key_len);
        let mut image = image.to_vec();
        image.resize(SECTOR * SECTORS as usize, 0);
        (image, Hashkey::new(key).ok())
    } else {
        let mut store = StateStore::new(
            FakeDisk::new(SECTOR, SECTORS, power.clone()),
            FakeKeeper::new(power.clone()),
        );
        let _ = store.load();
        store.save(b"a TPM state", Family::Tpm12, &mut rng).expect("save on a clean disk");
        let (disk, keeper) = store.into_parts();
        let mut image = disk.image();
        let Some((offset, noise)) = rest.split_first_chunk::<2>() else { return };
        let offset = usize::from(u16::from_be_bytes(*offset));
        for (i, byte) in noise.iter().enumerate() {
            if let Some(b) = image.get_mut(offset + i) {
                *b ^= byte;
            }
        }
        let mut record = *keeper.stored().expect("saved").padded();
        if mode & 2 != 0 {
            for (r, n) in record.iter_mut().zip(noise) {
                *r ^= n;
            }
        }
        (image, Some(Hashkey::from_padded(&record)))
    };
    let mut keeper = FakeKeeper::new(power.clone());
    keeper.set_stored(record);
    let mut store = StateStore::new(FakeDisk::from_image(SECTOR, image, power), keeper);
    if let Ok(loaded) = store.load() {
        // Whatever loaded is usable: the store saves on top of it and reads that back.
        let snapshot = loaded.snapshot.to_vec();
        store.save(&snapshot, Family::Tpm20, &mut rng).expect("save after a load");
        assert_eq!(&store.load().expect("reload").snapshot[..], &snapshot[..]);
    }
});
