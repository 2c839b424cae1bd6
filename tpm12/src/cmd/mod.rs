//! The ordinal table and the command handlers, one module per family.

pub(crate) mod admin;
pub(crate) mod capability;
pub(crate) mod nv;
pub(crate) mod pcr;
pub(crate) mod session;

use crate::consts::ord;
use crate::engine::{Handler, T0, T1, T2, Tags};

/// The handler of `ordinal` and the request tags it accepts, or `None` for an
/// ordinal this engine answers with TPM_BAD_ORDINAL (docs/tpm12.md lists both).
pub(crate) fn lookup(ordinal: u32) -> Option<(Handler, Tags)> {
    let entry: (Handler, Tags) = match ordinal {
        // Start-up, self tests, state (Part 3 §3, §4).
        ord::STARTUP => (admin::startup, T0),
        ord::SAVE_STATE => (admin::save_state, T0),
        ord::SELF_TEST_FULL => (admin::self_test_full, T0),
        ord::CONTINUE_SELF_TEST => (admin::continue_self_test, T0),
        ord::GET_TEST_RESULT => (admin::get_test_result, T0),
        // Capabilities (Part 3 §7).
        ord::GET_CAPABILITY => (capability::get_capability, T0),
        // PCRs and hashing (Part 3 §13, §16).
        ord::EXTEND => (pcr::extend, T0),
        ord::PCR_READ => (pcr::pcr_read, T0),
        ord::PCR_RESET => (pcr::pcr_reset, T0),
        ord::SHA1_START => (pcr::sha1_start, T0),
        ord::SHA1_UPDATE => (pcr::sha1_update, T0),
        ord::SHA1_COMPLETE => (pcr::sha1_complete, T0),
        ord::SHA1_COMPLETE_EXTEND => (pcr::sha1_complete_extend, T0),
        // Random numbers and ticks (Part 3 §13.6, §23).
        ord::GET_RANDOM => (admin::get_random, T0),
        ord::STIR_RANDOM => (admin::stir_random, T0),
        ord::GET_TICKS => (admin::get_ticks, T0),
        // Sessions (Part 3 §18, §22).
        ord::OIAP => (session::oiap, T0),
        ord::OSAP => (session::osap, T0),
        ord::TERMINATE_HANDLE => (session::terminate_handle, T0),
        ord::FLUSH_SPECIFIC => (session::flush_specific, T0),
        _ => return None,
    };
    let _ = (T1, T2);
    Some(entry)
}
