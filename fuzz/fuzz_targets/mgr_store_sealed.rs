//! Fuzz: the key store's parsers and tree code behind the MACs (arbitrary plaintext,
//! sealed with the harness secret).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mgr_store::testing::fuzz_sealed(data);
});
