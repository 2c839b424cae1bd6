//! Any bytes as a sealed root, and as the manager's TPM options.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tpm_client::{AuthValue, Config, PcrSelection, SealedRoot};

fuzz_target!(|data: &[u8]| {
    if let Ok(sealed) = SealedRoot::from_bytes(data) {
        // The encoding is canonical: what parses re-encodes to the same bytes.
        assert_eq!(sealed.to_bytes(), data, "a sealed root has one encoding");
    }
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(auth) = AuthValue::parse(text) {
            let _ = auth.tpm12();
            let _ = auth.tpm2();
        }
        if let Ok(selection) = PcrSelection::parse(text) {
            assert_eq!(PcrSelection::parse(&selection.to_string()), Ok(selection));
        }
        let mut config = Config::default();
        if let Some((key, value)) = text.split_once('=') {
            let _ = config.set_option(key, value);
        }
    }
});
