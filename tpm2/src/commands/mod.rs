//! The command table and the command families.
//!
//! To add a command: write its handler in the family's module (parse parameters
//! with `cmd.params`, call `cmd.params.end()`, then act and write results to
//! `cmd.out`), then add one line to [`TABLE`] with its handles' types and
//! authorization roles and its attributes. The table keeps command-code order.

pub(crate) mod asym;
pub(crate) mod attest;
pub(crate) mod audit;
pub(crate) mod capability;
pub(crate) mod context;
pub(crate) mod duplication;
pub(crate) mod hash;
pub(crate) mod hierarchy;
pub(crate) mod misc;
pub(crate) mod nv;
pub(crate) mod object;
pub(crate) mod pcr;
pub(crate) mod policy;
pub(crate) mod session;
pub(crate) mod startup;

use crate::dispatch::flags::*;
use crate::dispatch::{AuthRole, CommandSpec, HandleKind, HandleSpec};
use crate::types::cc;

const fn hs(kind: HandleKind, auth: AuthRole) -> HandleSpec {
    HandleSpec { kind, auth }
}

const PCR_USER: HandleSpec = hs(HandleKind::Pcr { null: false }, AuthRole::User);
const PCR_NULL_USER: HandleSpec = hs(HandleKind::Pcr { null: true }, AuthRole::User);
const PLATFORM_USER: HandleSpec = hs(HandleKind::Platform, AuthRole::User);
const PROVISION_USER: HandleSpec = hs(HandleKind::Provision, AuthRole::User);
const CLEAR_USER: HandleSpec = hs(HandleKind::Clear, AuthRole::User);
const LOCKOUT_USER: HandleSpec = hs(HandleKind::Lockout, AuthRole::User);
const HIERARCHY_USER: HandleSpec = hs(HandleKind::Hierarchy { null: false }, AuthRole::User);
const HIERARCHY_NULL_USER: HandleSpec = hs(HandleKind::Hierarchy { null: true }, AuthRole::User);
const HIERARCHY_AUTH_USER: HandleSpec = hs(HandleKind::HierarchyAuth, AuthRole::User);
const HIERARCHY_POLICY_USER: HandleSpec = hs(HandleKind::HierarchyPolicy, AuthRole::User);
const OBJECT: HandleSpec = hs(HandleKind::Object { null: false }, AuthRole::None);
const OBJECT_NULL: HandleSpec = hs(HandleKind::Object { null: true }, AuthRole::None);
const OBJECT_USER: HandleSpec = hs(HandleKind::Object { null: false }, AuthRole::User);
const OBJECT_ADMIN: HandleSpec = hs(HandleKind::Object { null: false }, AuthRole::Admin);
const PARENT_NULL_USER: HandleSpec = hs(HandleKind::Parent { null: true }, AuthRole::User);
const OBJECT_NULL_USER: HandleSpec = hs(HandleKind::Object { null: true }, AuthRole::User);
const OBJECT_DUP: HandleSpec = hs(HandleKind::Object { null: false }, AuthRole::Dup);
const ENDORSEMENT_USER: HandleSpec = hs(HandleKind::Endorsement, AuthRole::User);
const HMAC_SESSION: HandleSpec = hs(HandleKind::HmacSession, AuthRole::None);
const ENTITY_USER: HandleSpec = hs(HandleKind::Entity { null: false }, AuthRole::User);
const ENTITY_NULL: HandleSpec = hs(HandleKind::Entity { null: true }, AuthRole::None);
const NV_INDEX: HandleSpec = hs(HandleKind::NvIndex, AuthRole::None);
const NV_ADMIN: HandleSpec = hs(HandleKind::NvIndex, AuthRole::Admin);
const NV_AUTH_USER: HandleSpec = hs(HandleKind::NvAuth, AuthRole::User);
const CONTEXT: HandleSpec = hs(HandleKind::Context, AuthRole::None);
const POLICY_SESSION: HandleSpec = hs(HandleKind::PolicySession, AuthRole::None);

macro_rules! command {
    ($cc:expr, $name:literal, [$($h:expr),*], $flags:expr, $run:path) => {
        CommandSpec { cc: $cc, name: $name, handles: &[$($h),*], flags: $flags, run: $run }
    };
}

/// Every implemented command, in command-code order.
pub(crate) static TABLE: &[CommandSpec] = &[
    command!(
        cc::NV_UNDEFINE_SPACE_SPECIAL,
        "NV_UndefineSpaceSpecial",
        [NV_ADMIN, PLATFORM_USER],
        NV,
        nv::undefine_space_special
    ),
    command!(
        cc::EVICT_CONTROL,
        "EvictControl",
        [PROVISION_USER, OBJECT],
        NV,
        object::evict_control
    ),
    command!(
        cc::HIERARCHY_CONTROL,
        "HierarchyControl",
        [HIERARCHY_USER],
        NV | EXTENSIVE,
        hierarchy::hierarchy_control
    ),
    command!(
        cc::NV_UNDEFINE_SPACE,
        "NV_UndefineSpace",
        [PROVISION_USER, NV_INDEX],
        NV,
        nv::undefine_space
    ),
    command!(cc::CHANGE_EPS, "ChangeEPS", [PLATFORM_USER], NV | EXTENSIVE, hierarchy::change_eps),
    command!(cc::CHANGE_PPS, "ChangePPS", [PLATFORM_USER], NV | EXTENSIVE, hierarchy::change_pps),
    command!(cc::CLEAR, "Clear", [CLEAR_USER], NV | EXTENSIVE, hierarchy::clear),
    command!(cc::CLEAR_CONTROL, "ClearControl", [CLEAR_USER], NV, hierarchy::clear_control),
    command!(cc::CLOCK_SET, "ClockSet", [PROVISION_USER], NV, misc::clock_set),
    command!(
        cc::HIERARCHY_CHANGE_AUTH,
        "HierarchyChangeAuth",
        [HIERARCHY_AUTH_USER],
        NV | DECRYPT,
        hierarchy::hierarchy_change_auth
    ),
    command!(
        cc::NV_DEFINE_SPACE,
        "NV_DefineSpace",
        [PROVISION_USER],
        NV | DECRYPT,
        nv::define_space
    ),
    command!(cc::PCR_ALLOCATE, "PCR_Allocate", [PLATFORM_USER], NV, pcr::pcr_allocate),
    command!(
        cc::PCR_SET_AUTH_POLICY,
        "PCR_SetAuthPolicy",
        [PLATFORM_USER],
        NV | DECRYPT,
        pcr::pcr_set_auth_policy
    ),
    command!(
        cc::SET_PRIMARY_POLICY,
        "SetPrimaryPolicy",
        [HIERARCHY_POLICY_USER],
        NV | DECRYPT,
        hierarchy::set_primary_policy
    ),
    command!(
        cc::CLOCK_RATE_ADJUST,
        "ClockRateAdjust",
        [PROVISION_USER],
        0,
        misc::clock_rate_adjust
    ),
    command!(
        cc::CREATE_PRIMARY,
        "CreatePrimary",
        [HIERARCHY_NULL_USER],
        DECRYPT | ENCRYPT | R_HANDLE,
        object::create_primary
    ),
    command!(
        cc::NV_GLOBAL_WRITE_LOCK,
        "NV_GlobalWriteLock",
        [PROVISION_USER],
        NV,
        nv::global_write_lock
    ),
    command!(
        cc::GET_COMMAND_AUDIT_DIGEST,
        "GetCommandAuditDigest",
        [ENDORSEMENT_USER, OBJECT_NULL_USER],
        NV | DECRYPT | ENCRYPT,
        audit::get_command_audit_digest
    ),
    command!(cc::NV_INCREMENT, "NV_Increment", [NV_AUTH_USER, NV_INDEX], NV, nv::increment),
    command!(cc::NV_SET_BITS, "NV_SetBits", [NV_AUTH_USER, NV_INDEX], NV, nv::set_bits),
    command!(cc::NV_EXTEND, "NV_Extend", [NV_AUTH_USER, NV_INDEX], NV | DECRYPT, nv::extend),
    command!(cc::NV_WRITE, "NV_Write", [NV_AUTH_USER, NV_INDEX], NV | DECRYPT, nv::write),
    command!(cc::NV_WRITE_LOCK, "NV_WriteLock", [NV_AUTH_USER, NV_INDEX], NV, nv::write_lock),
    command!(
        cc::DICTIONARY_ATTACK_LOCK_RESET,
        "DictionaryAttackLockReset",
        [LOCKOUT_USER],
        NV,
        hierarchy::da_lock_reset
    ),
    command!(
        cc::DICTIONARY_ATTACK_PARAMETERS,
        "DictionaryAttackParameters",
        [LOCKOUT_USER],
        NV,
        hierarchy::da_parameters
    ),
    command!(cc::NV_CHANGE_AUTH, "NV_ChangeAuth", [NV_ADMIN], NV | DECRYPT, nv::change_auth),
    command!(cc::PCR_EVENT, "PCR_Event", [PCR_NULL_USER], NV | DECRYPT, pcr::pcr_event),
    command!(cc::PCR_RESET, "PCR_Reset", [PCR_USER], NV, pcr::pcr_reset),
    command!(
        cc::SEQUENCE_COMPLETE,
        "SequenceComplete",
        [OBJECT_USER],
        DECRYPT | ENCRYPT | FLUSHED,
        hash::sequence_complete
    ),
    command!(
        cc::SET_COMMAND_CODE_AUDIT_STATUS,
        "SetCommandCodeAuditStatus",
        [PROVISION_USER],
        NV,
        audit::set_command_code_audit_status
    ),
    command!(
        cc::INCREMENTAL_SELF_TEST,
        "IncrementalSelfTest",
        [],
        NV | READ_ONLY,
        startup::incremental_self_test
    ),
    command!(cc::SELF_TEST, "SelfTest", [], NV | READ_ONLY, startup::self_test),
    command!(cc::STARTUP, "Startup", [], NV | NO_SESSIONS, startup::startup),
    command!(cc::SHUTDOWN, "Shutdown", [], NV, startup::shutdown),
    command!(cc::STIR_RANDOM, "StirRandom", [], NV | DECRYPT, misc::stir_random),
    command!(
        cc::ACTIVATE_CREDENTIAL,
        "ActivateCredential",
        [OBJECT_ADMIN, OBJECT_USER],
        DECRYPT | ENCRYPT,
        duplication::activate_credential
    ),
    command!(
        cc::CERTIFY,
        "Certify",
        [OBJECT_ADMIN, OBJECT_NULL_USER],
        DECRYPT | ENCRYPT | READ_ONLY,
        attest::certify
    ),
    command!(
        cc::POLICY_NV,
        "PolicyNV",
        [NV_AUTH_USER, NV_INDEX, POLICY_SESSION],
        DECRYPT | ALLOW_TRIAL,
        policy::policy_nv
    ),
    command!(
        cc::CERTIFY_CREATION,
        "CertifyCreation",
        [OBJECT_NULL_USER, OBJECT],
        DECRYPT | ENCRYPT | READ_ONLY,
        attest::certify_creation
    ),
    command!(
        cc::DUPLICATE,
        "Duplicate",
        [OBJECT_DUP, OBJECT_NULL],
        DECRYPT | ENCRYPT,
        duplication::duplicate
    ),
    command!(
        cc::GET_TIME,
        "GetTime",
        [ENDORSEMENT_USER, OBJECT_NULL_USER],
        DECRYPT | ENCRYPT | READ_ONLY,
        attest::get_time
    ),
    command!(
        cc::GET_SESSION_AUDIT_DIGEST,
        "GetSessionAuditDigest",
        [ENDORSEMENT_USER, OBJECT_NULL_USER, HMAC_SESSION],
        DECRYPT | ENCRYPT | READ_ONLY,
        attest::get_session_audit_digest
    ),
    command!(cc::NV_READ, "NV_Read", [NV_AUTH_USER, NV_INDEX], ENCRYPT | READ_ONLY, nv::read),
    command!(cc::NV_READ_LOCK, "NV_ReadLock", [NV_AUTH_USER, NV_INDEX], NV, nv::read_lock),
    command!(
        cc::OBJECT_CHANGE_AUTH,
        "ObjectChangeAuth",
        [OBJECT_ADMIN, OBJECT],
        DECRYPT | ENCRYPT,
        object::object_change_auth
    ),
    command!(
        cc::POLICY_SECRET,
        "PolicySecret",
        [ENTITY_USER, POLICY_SESSION],
        DECRYPT | ENCRYPT | ALLOW_TRIAL,
        policy::policy_secret
    ),
    command!(cc::CREATE, "Create", [OBJECT_USER], DECRYPT | ENCRYPT, object::create),
    command!(cc::ECDH_ZGEN, "ECDH_ZGen", [OBJECT_USER], DECRYPT | ENCRYPT, asym::ecdh_zgen),
    command!(cc::HMAC, "HMAC", [OBJECT_USER], DECRYPT | ENCRYPT | READ_ONLY, hash::hmac_cmd),
    command!(cc::IMPORT, "Import", [OBJECT_USER], DECRYPT | ENCRYPT, duplication::import),
    command!(cc::LOAD, "Load", [OBJECT_USER], DECRYPT | ENCRYPT | R_HANDLE, object::load),
    command!(cc::QUOTE, "Quote", [OBJECT_NULL_USER], DECRYPT | ENCRYPT | READ_ONLY, attest::quote),
    command!(
        cc::RSA_DECRYPT,
        "RSA_Decrypt",
        [OBJECT_USER],
        DECRYPT | ENCRYPT | READ_ONLY,
        asym::rsa_decrypt
    ),
    command!(cc::HMAC_START, "HMAC_Start", [OBJECT_USER], DECRYPT | R_HANDLE, hash::hmac_start),
    command!(cc::SEQUENCE_UPDATE, "SequenceUpdate", [OBJECT_USER], DECRYPT, hash::sequence_update),
    command!(cc::SIGN, "Sign", [OBJECT_USER], DECRYPT | READ_ONLY, asym::sign),
    command!(cc::UNSEAL, "Unseal", [OBJECT_USER], ENCRYPT | READ_ONLY, object::unseal),
    command!(
        cc::POLICY_SIGNED,
        "PolicySigned",
        [OBJECT, POLICY_SESSION],
        DECRYPT | ENCRYPT | ALLOW_TRIAL,
        policy::policy_signed
    ),
    command!(cc::CONTEXT_LOAD, "ContextLoad", [], NO_SESSIONS | R_HANDLE, context::context_load),
    command!(cc::CONTEXT_SAVE, "ContextSave", [CONTEXT], NO_SESSIONS, context::context_save),
    command!(cc::ECDH_KEYGEN, "ECDH_KeyGen", [OBJECT], ENCRYPT, asym::ecdh_keygen),
    command!(
        cc::ENCRYPT_DECRYPT,
        "EncryptDecrypt",
        [OBJECT_USER],
        ENCRYPT | READ_ONLY,
        hash::encrypt_decrypt1
    ),
    command!(cc::FLUSH_CONTEXT, "FlushContext", [], NO_SESSIONS, object::flush_context),
    command!(
        cc::LOAD_EXTERNAL,
        "LoadExternal",
        [],
        DECRYPT | ENCRYPT | R_HANDLE,
        object::load_external
    ),
    command!(
        cc::MAKE_CREDENTIAL,
        "MakeCredential",
        [OBJECT],
        DECRYPT | ENCRYPT,
        duplication::make_credential
    ),
    command!(cc::NV_READ_PUBLIC, "NV_ReadPublic", [NV_INDEX], ENCRYPT | READ_ONLY, nv::read_public),
    command!(
        cc::POLICY_AUTHORIZE,
        "PolicyAuthorize",
        [POLICY_SESSION],
        DECRYPT | ALLOW_TRIAL,
        policy::policy_authorize
    ),
    command!(
        cc::POLICY_AUTH_VALUE,
        "PolicyAuthValue",
        [POLICY_SESSION],
        ALLOW_TRIAL,
        policy::policy_auth_value
    ),
    command!(
        cc::POLICY_COMMAND_CODE,
        "PolicyCommandCode",
        [POLICY_SESSION],
        ALLOW_TRIAL,
        policy::policy_command_code
    ),
    command!(
        cc::POLICY_COUNTER_TIMER,
        "PolicyCounterTimer",
        [POLICY_SESSION],
        DECRYPT | ALLOW_TRIAL,
        policy::policy_counter_timer
    ),
    command!(
        cc::POLICY_CP_HASH,
        "PolicyCpHash",
        [POLICY_SESSION],
        DECRYPT | ALLOW_TRIAL,
        policy::policy_cp_hash
    ),
    command!(
        cc::POLICY_LOCALITY,
        "PolicyLocality",
        [POLICY_SESSION],
        ALLOW_TRIAL,
        policy::policy_locality
    ),
    command!(
        cc::POLICY_NAME_HASH,
        "PolicyNameHash",
        [POLICY_SESSION],
        DECRYPT | ALLOW_TRIAL,
        policy::policy_name_hash
    ),
    command!(cc::POLICY_OR, "PolicyOR", [POLICY_SESSION], ALLOW_TRIAL, policy::policy_or),
    command!(
        cc::POLICY_TICKET,
        "PolicyTicket",
        [POLICY_SESSION],
        DECRYPT | ALLOW_TRIAL,
        policy::policy_ticket
    ),
    command!(cc::READ_PUBLIC, "ReadPublic", [OBJECT], ENCRYPT | READ_ONLY, object::read_public),
    command!(
        cc::RSA_ENCRYPT,
        "RSA_Encrypt",
        [OBJECT],
        DECRYPT | ENCRYPT | READ_ONLY,
        asym::rsa_encrypt
    ),
    command!(
        cc::START_AUTH_SESSION,
        "StartAuthSession",
        [OBJECT_NULL, ENTITY_NULL],
        DECRYPT | ENCRYPT | R_HANDLE,
        session::start_auth_session
    ),
    command!(cc::VERIFY_SIGNATURE, "VerifySignature", [OBJECT], DECRYPT | READ_ONLY, asym::verify),
    command!(cc::ECC_PARAMETERS, "ECC_Parameters", [], READ_ONLY, asym::ecc_parameters),
    command!(cc::GET_CAPABILITY, "GetCapability", [], READ_ONLY, capability::get_capability),
    command!(cc::GET_RANDOM, "GetRandom", [], ENCRYPT | READ_ONLY, misc::get_random),
    command!(
        cc::GET_TEST_RESULT,
        "GetTestResult",
        [],
        ENCRYPT | READ_ONLY,
        startup::get_test_result
    ),
    command!(cc::HASH, "Hash", [], DECRYPT | ENCRYPT | READ_ONLY, hash::hash_cmd),
    command!(cc::PCR_READ, "PCR_Read", [], READ_ONLY, pcr::pcr_read),
    command!(
        cc::POLICY_PCR,
        "PolicyPCR",
        [POLICY_SESSION],
        DECRYPT | ALLOW_TRIAL,
        policy::policy_pcr
    ),
    command!(
        cc::POLICY_RESTART,
        "PolicyRestart",
        [POLICY_SESSION],
        ALLOW_TRIAL,
        session::policy_restart
    ),
    command!(cc::READ_CLOCK, "ReadClock", [], READ_ONLY, misc::read_clock),
    command!(cc::PCR_EXTEND, "PCR_Extend", [PCR_NULL_USER], NV, pcr::pcr_extend),
    command!(
        cc::PCR_SET_AUTH_VALUE,
        "PCR_SetAuthValue",
        [PCR_USER],
        DECRYPT,
        pcr::pcr_set_auth_value
    ),
    command!(
        cc::NV_CERTIFY,
        "NV_Certify",
        [OBJECT_NULL_USER, NV_AUTH_USER, NV_INDEX],
        DECRYPT | ENCRYPT | READ_ONLY,
        attest::nv_certify
    ),
    command!(
        cc::EVENT_SEQUENCE_COMPLETE,
        "EventSequenceComplete",
        [PCR_NULL_USER, OBJECT_USER],
        NV | DECRYPT | FLUSHED,
        hash::event_sequence_complete
    ),
    command!(
        cc::HASH_SEQUENCE_START,
        "HashSequenceStart",
        [],
        DECRYPT | R_HANDLE,
        hash::hash_sequence_start
    ),
    command!(
        cc::POLICY_PHYSICAL_PRESENCE,
        "PolicyPhysicalPresence",
        [POLICY_SESSION],
        ALLOW_TRIAL,
        policy::policy_physical_presence
    ),
    command!(
        cc::POLICY_DUPLICATION_SELECT,
        "PolicyDuplicationSelect",
        [POLICY_SESSION],
        DECRYPT | ALLOW_TRIAL,
        policy::policy_duplication_select
    ),
    command!(
        cc::POLICY_GET_DIGEST,
        "PolicyGetDigest",
        [POLICY_SESSION],
        ENCRYPT | ALLOW_TRIAL,
        policy::policy_get_digest
    ),
    command!(cc::TEST_PARMS, "TestParms", [], READ_ONLY, capability::test_parms),
    command!(
        cc::POLICY_PASSWORD,
        "PolicyPassword",
        [POLICY_SESSION],
        ALLOW_TRIAL,
        policy::policy_password
    ),
    command!(
        cc::POLICY_NV_WRITTEN,
        "PolicyNvWritten",
        [POLICY_SESSION],
        ALLOW_TRIAL,
        policy::policy_nv_written
    ),
    command!(
        cc::POLICY_TEMPLATE,
        "PolicyTemplate",
        [POLICY_SESSION],
        DECRYPT | ALLOW_TRIAL,
        policy::policy_template
    ),
    command!(
        cc::CREATE_LOADED,
        "CreateLoaded",
        [PARENT_NULL_USER],
        DECRYPT | ENCRYPT | R_HANDLE,
        object::create_loaded
    ),
    command!(
        cc::POLICY_AUTHORIZE_NV,
        "PolicyAuthorizeNV",
        [NV_AUTH_USER, NV_INDEX, POLICY_SESSION],
        ALLOW_TRIAL,
        policy::policy_authorize_nv
    ),
    command!(
        cc::ENCRYPT_DECRYPT2,
        "EncryptDecrypt2",
        [OBJECT_USER],
        DECRYPT | ENCRYPT | READ_ONLY,
        hash::encrypt_decrypt2
    ),
];

/// The table entry for a command code.
pub(crate) fn lookup(code: u32) -> Option<&'static CommandSpec> {
    TABLE.binary_search_by_key(&code, |c| c.cc).ok().and_then(|i| TABLE.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|w| w[0].cc < w[1].cc));
    }
}
