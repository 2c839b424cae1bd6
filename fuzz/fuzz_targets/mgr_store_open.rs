//! Fuzz: the manager's key store opened from an arbitrary disk image.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mgr_store::testing::fuzz_open(data);
});
