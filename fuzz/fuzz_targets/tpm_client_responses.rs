//! The manager's hardware-TPM client against a TPM that answers anything.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Detection, sealing, unsealing, counter and randomness over responses cut from
    // `data` (an odd first byte starts past a healthy TPM 2.0's detection); every
    // outcome must be a value or a typed error.
    tpm_client::testing::exercise_hostile_tpm(data);
});
