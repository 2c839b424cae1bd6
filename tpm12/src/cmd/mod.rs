//! The ordinal table and the command handlers, one module per family.

pub(crate) mod admin;
pub(crate) mod attest;
pub(crate) mod auth;
pub(crate) mod capability;
pub(crate) mod context;
pub(crate) mod counter;
pub(crate) mod identity;
pub(crate) mod nv;
pub(crate) mod owner;
pub(crate) mod pcr;
pub(crate) mod session;
pub(crate) mod storage;

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
        ord::SET_CAPABILITY => (capability::set_capability, T0 | T1),
        ord::GET_CAPABILITY_OWNER => (capability::get_capability_owner, T1),
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
        // Context management (Part 3 §21).
        ord::SAVE_CONTEXT => (context::save_context, T0),
        ord::LOAD_CONTEXT => (context::load_context, T0),
        ord::SAVE_KEY_CONTEXT => (context::save_key_context, T0),
        ord::LOAD_KEY_CONTEXT => (context::load_key_context, T0),
        ord::SAVE_AUTH_CONTEXT => (context::save_auth_context, T0),
        ord::LOAD_AUTH_CONTEXT => (context::load_auth_context, T0),
        // Changing authorization values (Part 3 §17).
        ord::CHANGE_AUTH => (auth::change_auth, T2),
        ord::CHANGE_AUTH_OWNER => (auth::change_auth_owner, T1),
        // Ownership, opt-in, physical presence (Part 3 §5, §6, §9).
        ord::TAKE_OWNERSHIP => (owner::take_ownership, T1),
        ord::OWNER_CLEAR => (owner::owner_clear, T1),
        ord::FORCE_CLEAR => (owner::force_clear, T0),
        ord::DISABLE_OWNER_CLEAR => (owner::disable_owner_clear, T1),
        ord::DISABLE_FORCE_CLEAR => (owner::disable_force_clear, T0),
        ord::TSC_PHYSICAL_PRESENCE => (owner::physical_presence, T0),
        ord::PHYSICAL_ENABLE => (owner::physical_enable, T0),
        ord::PHYSICAL_DISABLE => (owner::physical_disable, T0),
        ord::PHYSICAL_SET_DEACTIVATED => (owner::physical_set_deactivated, T0),
        ord::SET_OWNER_INSTALL => (owner::set_owner_install, T0),
        ord::OWNER_SET_DISABLE => (owner::owner_set_disable, T1),
        ord::SET_OPERATOR_AUTH => (owner::set_operator_auth, T0),
        ord::SET_TEMP_DEACTIVATED => (owner::set_temp_deactivated, T0 | T1),
        ord::RESET_LOCK_VALUE => (owner::reset_lock_value, T1),
        ord::TSC_RESET_ESTABLISHMENT_BIT => (owner::reset_establishment_bit, T0),
        // Endorsement key (Part 3 §14).
        ord::CREATE_ENDORSEMENT_KEY_PAIR => (owner::create_endorsement_key_pair, T0),
        ord::READ_PUBEK => (owner::read_pubek, T0),
        ord::DISABLE_PUBEK_READ => (owner::disable_pubek_read, T1),
        ord::OWNER_READ_PUBEK => (owner::owner_read_pubek, T1),
        ord::OWNER_READ_INTERNAL_PUB => (owner::owner_read_internal_pub, T1),
        // Keys and protected storage (Part 3 §10, §13).
        ord::CREATE_WRAP_KEY => (storage::create_wrap_key, T1),
        ord::LOAD_KEY2 => (storage::load_key2, T0 | T1),
        ord::LOAD_KEY => (storage::load_key, T0 | T1),
        ord::GET_PUB_KEY => (storage::get_pub_key, T0 | T1),
        ord::SEAL => (storage::seal, T1),
        ord::UNSEAL => (storage::unseal, T1 | T2),
        ord::UNBIND => (storage::unbind, T0 | T1),
        ord::SIGN => (storage::sign, T0 | T1),
        ord::EVICT_KEY => (storage::evict_key, T0),
        // Attestation and identities (Part 3 §12, §15, §16).
        ord::QUOTE => (attest::quote, T0 | T1),
        ord::QUOTE2 => (attest::quote2, T0 | T1),
        ord::CERTIFY_KEY => (attest::certify_key, T0 | T1 | T2),
        ord::TICK_STAMP_BLOB => (attest::tick_stamp_blob, T0 | T1),
        ord::MAKE_IDENTITY => (identity::make_identity, T1 | T2),
        ord::ACTIVATE_IDENTITY => (identity::activate_identity, T1 | T2),
        // Monotonic counters (Part 3 §25).
        ord::CREATE_COUNTER => (counter::create_counter, T1),
        ord::INCREMENT_COUNTER => (counter::increment_counter, T1),
        ord::READ_COUNTER => (counter::read_counter, T0),
        ord::RELEASE_COUNTER => (counter::release_counter, T1),
        ord::RELEASE_COUNTER_OWNER => (counter::release_counter_owner, T1),
        // NV storage (Part 3 §20).
        ord::NV_DEFINE_SPACE => (nv::define_space, T0 | T1),
        ord::NV_WRITE_VALUE => (nv::write_value, T0 | T1),
        ord::NV_WRITE_VALUE_AUTH => (nv::write_value_auth, T1),
        ord::NV_READ_VALUE => (nv::read_value, T0 | T1),
        ord::NV_READ_VALUE_AUTH => (nv::read_value_auth, T1),
        ord::DIR_WRITE_AUTH => (nv::dir_write_auth, T1),
        ord::DIR_READ => (nv::dir_read, T0),
        _ => return None,
    };
    Some(entry)
}
