//! Numeric constants of TPM 1.2 Part 2: tags, ordinals, capability areas, types.
//!
//! Names follow the specification with the `TPM_` prefix dropped, so a value can be
//! found in Part 2 by its name.

/// Command and response tags (Part 2 §6).
pub mod tag {
    /// A command with no authorization.
    pub const RQU_COMMAND: u16 = 0x00C1;
    /// A command with one authorization session.
    pub const RQU_AUTH1_COMMAND: u16 = 0x00C2;
    /// A command with two authorization sessions.
    pub const RQU_AUTH2_COMMAND: u16 = 0x00C3;
    /// A response with no authorization.
    pub const RSP_COMMAND: u16 = 0x00C4;
    /// A response with one authorization session.
    pub const RSP_AUTH1_COMMAND: u16 = 0x00C5;
    /// A response with two authorization sessions.
    pub const RSP_AUTH2_COMMAND: u16 = 0x00C6;
}

/// Command ordinals (Part 2 §17).
#[allow(missing_docs, reason = "the names are the specification's ordinal names")]
pub mod ord {
    pub const OIAP: u32 = 0x0A;
    pub const OSAP: u32 = 0x0B;
    pub const CHANGE_AUTH: u32 = 0x0C;
    pub const TAKE_OWNERSHIP: u32 = 0x0D;
    pub const CHANGE_AUTH_ASYM_START: u32 = 0x0E;
    pub const CHANGE_AUTH_ASYM_FINISH: u32 = 0x0F;
    pub const CHANGE_AUTH_OWNER: u32 = 0x10;
    pub const DSAP: u32 = 0x11;
    pub const CMK_CREATE_TICKET: u32 = 0x12;
    pub const CMK_CREATE_KEY: u32 = 0x13;
    pub const EXTEND: u32 = 0x14;
    pub const PCR_READ: u32 = 0x15;
    pub const QUOTE: u32 = 0x16;
    pub const SEAL: u32 = 0x17;
    pub const UNSEAL: u32 = 0x18;
    pub const DIR_WRITE_AUTH: u32 = 0x19;
    pub const DIR_READ: u32 = 0x1A;
    pub const CMK_CREATE_BLOB: u32 = 0x1B;
    pub const CMK_SET_RESTRICTIONS: u32 = 0x1C;
    pub const CMK_APPROVE_MA: u32 = 0x1D;
    pub const UNBIND: u32 = 0x1E;
    pub const CREATE_WRAP_KEY: u32 = 0x1F;
    pub const LOAD_KEY: u32 = 0x20;
    pub const GET_PUB_KEY: u32 = 0x21;
    pub const EVICT_KEY: u32 = 0x22;
    pub const KEY_CONTROL_OWNER: u32 = 0x23;
    pub const CMK_CONVERT_MIGRATION: u32 = 0x24;
    pub const MIGRATE_KEY: u32 = 0x25;
    pub const CREATE_MIGRATION_BLOB: u32 = 0x28;
    pub const DAA_JOIN: u32 = 0x29;
    pub const CONVERT_MIGRATION_BLOB: u32 = 0x2A;
    pub const AUTHORIZE_MIGRATION_KEY: u32 = 0x2B;
    pub const CREATE_MAINTENANCE_ARCHIVE: u32 = 0x2C;
    pub const LOAD_MAINTENANCE_ARCHIVE: u32 = 0x2D;
    pub const KILL_MAINTENANCE_FEATURE: u32 = 0x2E;
    pub const LOAD_MANU_MAINT_PUB: u32 = 0x2F;
    pub const READ_MANU_MAINT_PUB: u32 = 0x30;
    pub const DAA_SIGN: u32 = 0x31;
    pub const CERTIFY_KEY: u32 = 0x32;
    pub const CERTIFY_KEY2: u32 = 0x33;
    pub const SIGN: u32 = 0x3C;
    pub const SEALX: u32 = 0x3D;
    pub const QUOTE2: u32 = 0x3E;
    pub const SET_CAPABILITY: u32 = 0x3F;
    pub const RESET_LOCK_VALUE: u32 = 0x40;
    pub const LOAD_KEY2: u32 = 0x41;
    pub const GET_RANDOM: u32 = 0x46;
    pub const STIR_RANDOM: u32 = 0x47;
    pub const SELF_TEST_FULL: u32 = 0x50;
    pub const CERTIFY_SELF_TEST: u32 = 0x52;
    pub const CONTINUE_SELF_TEST: u32 = 0x53;
    pub const GET_TEST_RESULT: u32 = 0x54;
    pub const RESET: u32 = 0x5A;
    pub const OWNER_CLEAR: u32 = 0x5B;
    pub const DISABLE_OWNER_CLEAR: u32 = 0x5C;
    pub const FORCE_CLEAR: u32 = 0x5D;
    pub const DISABLE_FORCE_CLEAR: u32 = 0x5E;
    pub const GET_CAPABILITY_SIGNED: u32 = 0x64;
    pub const GET_CAPABILITY: u32 = 0x65;
    pub const GET_CAPABILITY_OWNER: u32 = 0x66;
    pub const OWNER_SET_DISABLE: u32 = 0x6E;
    pub const PHYSICAL_ENABLE: u32 = 0x6F;
    pub const PHYSICAL_DISABLE: u32 = 0x70;
    pub const SET_OWNER_INSTALL: u32 = 0x71;
    pub const PHYSICAL_SET_DEACTIVATED: u32 = 0x72;
    pub const SET_TEMP_DEACTIVATED: u32 = 0x73;
    pub const SET_OPERATOR_AUTH: u32 = 0x74;
    pub const SET_OWNER_POINTER: u32 = 0x75;
    pub const CREATE_ENDORSEMENT_KEY_PAIR: u32 = 0x78;
    pub const MAKE_IDENTITY: u32 = 0x79;
    pub const ACTIVATE_IDENTITY: u32 = 0x7A;
    pub const READ_PUBEK: u32 = 0x7C;
    pub const OWNER_READ_PUBEK: u32 = 0x7D;
    pub const DISABLE_PUBEK_READ: u32 = 0x7E;
    pub const CREATE_REVOCABLE_EK: u32 = 0x7F;
    pub const REVOKE_TRUST: u32 = 0x80;
    pub const OWNER_READ_INTERNAL_PUB: u32 = 0x81;
    pub const GET_AUDIT_EVENT: u32 = 0x82;
    pub const GET_AUDIT_EVENT_SIGNED: u32 = 0x83;
    pub const GET_AUDIT_DIGEST: u32 = 0x85;
    pub const GET_AUDIT_DIGEST_SIGNED: u32 = 0x86;
    pub const GET_ORDINAL_AUDIT_STATUS: u32 = 0x8C;
    pub const SET_ORDINAL_AUDIT_STATUS: u32 = 0x8D;
    pub const TERMINATE_HANDLE: u32 = 0x96;
    pub const INIT: u32 = 0x97;
    pub const SAVE_STATE: u32 = 0x98;
    pub const STARTUP: u32 = 0x99;
    pub const SET_REDIRECTION: u32 = 0x9A;
    pub const SHA1_START: u32 = 0xA0;
    pub const SHA1_UPDATE: u32 = 0xA1;
    pub const SHA1_COMPLETE: u32 = 0xA2;
    pub const SHA1_COMPLETE_EXTEND: u32 = 0xA3;
    pub const FIELD_UPGRADE: u32 = 0xAA;
    pub const SAVE_KEY_CONTEXT: u32 = 0xB4;
    pub const LOAD_KEY_CONTEXT: u32 = 0xB5;
    pub const SAVE_AUTH_CONTEXT: u32 = 0xB6;
    pub const LOAD_AUTH_CONTEXT: u32 = 0xB7;
    pub const SAVE_CONTEXT: u32 = 0xB8;
    pub const LOAD_CONTEXT: u32 = 0xB9;
    pub const FLUSH_SPECIFIC: u32 = 0xBA;
    pub const PCR_RESET: u32 = 0xC8;
    pub const NV_DEFINE_SPACE: u32 = 0xCC;
    pub const NV_WRITE_VALUE: u32 = 0xCD;
    pub const NV_WRITE_VALUE_AUTH: u32 = 0xCE;
    pub const NV_READ_VALUE: u32 = 0xCF;
    pub const NV_READ_VALUE_AUTH: u32 = 0xD0;
    pub const DELEGATE_UPDATE_VERIFICATION: u32 = 0xD1;
    pub const DELEGATE_MANAGE: u32 = 0xD2;
    pub const DELEGATE_CREATE_KEY_DELEGATION: u32 = 0xD4;
    pub const DELEGATE_CREATE_OWNER_DELEGATION: u32 = 0xD5;
    pub const DELEGATE_VERIFY_DELEGATION: u32 = 0xD6;
    pub const DELEGATE_LOAD_OWNER_DELEGATION: u32 = 0xD8;
    pub const DELEGATE_READ_TABLE: u32 = 0xDB;
    pub const CREATE_COUNTER: u32 = 0xDC;
    pub const INCREMENT_COUNTER: u32 = 0xDD;
    pub const READ_COUNTER: u32 = 0xDE;
    pub const RELEASE_COUNTER: u32 = 0xDF;
    pub const RELEASE_COUNTER_OWNER: u32 = 0xE0;
    pub const ESTABLISH_TRANSPORT: u32 = 0xE6;
    pub const EXECUTE_TRANSPORT: u32 = 0xE7;
    pub const RELEASE_TRANSPORT_SIGNED: u32 = 0xE8;
    pub const GET_TICKS: u32 = 0xF1;
    pub const TICK_STAMP_BLOB: u32 = 0xF2;
    /// TSC_PhysicalPresence (TSC ordinals have the TSC bit, Part 2 §17).
    pub const TSC_PHYSICAL_PRESENCE: u32 = 0x4000_000A;
    /// TSC_ResetEstablishmentBit.
    pub const TSC_RESET_ESTABLISHMENT_BIT: u32 = 0x4000_000B;
}

/// Startup types (Part 2 §4.5).
pub mod startup {
    /// Start from a clean state.
    pub const CLEAR: u16 = 1;
    /// Restore the state saved by TPM_SaveState.
    pub const STATE: u16 = 2;
    /// Start deactivated until the next TPM_Init.
    pub const DEACTIVATED: u16 = 3;
}

/// Capability areas and sub-capabilities (Part 2 §21).
#[allow(missing_docs, reason = "the names are the specification's capability names")]
pub mod cap {
    pub const ORD: u32 = 0x01;
    pub const ALG: u32 = 0x02;
    pub const PID: u32 = 0x03;
    pub const FLAG: u32 = 0x04;
    pub const PROPERTY: u32 = 0x05;
    pub const VERSION: u32 = 0x06;
    pub const KEY_HANDLE: u32 = 0x07;
    pub const CHECK_LOADED: u32 = 0x08;
    pub const SYM_MODE: u32 = 0x09;
    pub const KEY_STATUS: u32 = 0x0C;
    pub const NV_LIST: u32 = 0x0D;
    pub const MFR: u32 = 0x10;
    pub const NV_INDEX: u32 = 0x11;
    pub const TRANS_ALG: u32 = 0x12;
    pub const HANDLE: u32 = 0x14;
    pub const TRANS_ES: u32 = 0x15;
    pub const AUTH_ENCRYPT: u32 = 0x17;
    pub const SELECT_SIZE: u32 = 0x18;
    pub const DA_LOGIC: u32 = 0x19;
    pub const VERSION_VAL: u32 = 0x1A;

    pub const FLAG_PERMANENT: u32 = 0x108;
    pub const FLAG_VOLATILE: u32 = 0x109;

    pub const PROP_PCR: u32 = 0x101;
    pub const PROP_DIR: u32 = 0x102;
    pub const PROP_MANUFACTURER: u32 = 0x103;
    pub const PROP_KEYS: u32 = 0x104;
    pub const PROP_MIN_COUNTER: u32 = 0x107;
    pub const PROP_AUTHSESS: u32 = 0x10A;
    pub const PROP_TRANSESS: u32 = 0x10B;
    pub const PROP_COUNTERS: u32 = 0x10C;
    pub const PROP_MAX_AUTHSESS: u32 = 0x10D;
    pub const PROP_MAX_TRANSESS: u32 = 0x10E;
    pub const PROP_MAX_COUNTERS: u32 = 0x10F;
    pub const PROP_MAX_KEYS: u32 = 0x110;
    pub const PROP_OWNER: u32 = 0x111;
    pub const PROP_CONTEXT: u32 = 0x112;
    pub const PROP_MAX_CONTEXT: u32 = 0x113;
    pub const PROP_FAMILYROWS: u32 = 0x114;
    pub const PROP_TIS_TIMEOUT: u32 = 0x115;
    pub const PROP_STARTUP_EFFECT: u32 = 0x116;
    pub const PROP_DELEGATE_ROW: u32 = 0x117;
    pub const PROP_MAX_DAASESS: u32 = 0x119;
    pub const PROP_DAASESS: u32 = 0x11A;
    pub const PROP_CONTEXT_DIST: u32 = 0x11B;
    pub const PROP_DAA_INTERRUPT: u32 = 0x11C;
    pub const PROP_SESSIONS: u32 = 0x11D;
    pub const PROP_MAX_SESSIONS: u32 = 0x11E;
    pub const PROP_CMK_RESTRICTION: u32 = 0x11F;
    pub const PROP_DURATION: u32 = 0x120;
    pub const PROP_ACTIVE_COUNTER: u32 = 0x122;
    pub const PROP_MAX_NV_AVAILABLE: u32 = 0x123;
    pub const PROP_INPUT_BUFFER: u32 = 0x124;
}

/// Structure tags (Part 2 §3.1).
#[allow(missing_docs, reason = "the names are the specification's structure tag names")]
pub mod stag {
    pub const CONTEXTBLOB: u16 = 0x0001;
    pub const CONTEXT_SENSITIVE: u16 = 0x0002;
    pub const SIGNINFO: u16 = 0x0005;
    pub const PCR_INFO_LONG: u16 = 0x0006;
    pub const EK_BLOB: u16 = 0x000C;
    pub const EK_BLOB_ACTIVATE: u16 = 0x002B;
    pub const COUNTER_VALUE: u16 = 0x000E;
    pub const CURRENT_TICKS: u16 = 0x0014;
    pub const STORED_DATA12: u16 = 0x0016;
    pub const NV_ATTRIBUTES: u16 = 0x0017;
    pub const NV_DATA_PUBLIC: u16 = 0x0018;
    pub const PERMANENT_FLAGS: u16 = 0x001F;
    pub const STCLEAR_FLAGS: u16 = 0x0020;
    pub const KEY12: u16 = 0x0028;
    pub const CERTIFY_INFO2: u16 = 0x0029;
    pub const CAP_VERSION_INFO: u16 = 0x0030;
    pub const QUOTE_INFO2: u16 = 0x0036;
    pub const DA_INFO: u16 = 0x0037;
    pub const DA_INFO_LIMITED: u16 = 0x0038;
    pub const DA_ACTION_TYPE: u16 = 0x0039;
}

/// Entity types for OSAP and other commands (Part 2 §4.9).
#[allow(missing_docs, reason = "the names are the specification's entity type names")]
pub mod et {
    pub const KEYHANDLE: u8 = 0x01;
    pub const OWNER: u8 = 0x02;
    pub const DATA: u8 = 0x03;
    pub const SRK: u8 = 0x04;
    pub const KEY: u8 = 0x05;
    pub const REVOKE: u8 = 0x06;
    pub const DEL_OWNER_BLOB: u8 = 0x07;
    pub const DEL_ROW: u8 = 0x08;
    pub const DEL_KEY_BLOB: u8 = 0x09;
    pub const COUNTER: u8 = 0x0A;
    pub const NV: u8 = 0x0B;
    pub const OPERATOR: u8 = 0x0C;
    pub const RESERVED_HANDLE: u8 = 0x40;
    /// The most-significant byte of an entity type: the ADIP encryption scheme.
    pub const XOR: u8 = 0x00;
    /// AES-128-CTR ADIP encryption.
    pub const AES128_CTR: u8 = 0x06;
}

/// Reserved key handles (Part 2 §4.4.1).
#[allow(missing_docs, reason = "the names are the specification's handle names")]
pub mod kh {
    pub const SRK: u32 = 0x4000_0000;
    pub const OWNER: u32 = 0x4000_0001;
    pub const REVOKE: u32 = 0x4000_0002;
    pub const TRANSPORT: u32 = 0x4000_0003;
    pub const OPERATOR: u32 = 0x4000_0004;
    pub const ADMIN: u32 = 0x4000_0005;
    pub const EK: u32 = 0x4000_0006;
}

/// Resource types (Part 2 §4.1).
#[allow(missing_docs, reason = "the names are the specification's resource type names")]
pub mod rt {
    pub const KEY: u32 = 1;
    pub const AUTH: u32 = 2;
    pub const HASH: u32 = 3;
    pub const TRANS: u32 = 4;
    pub const CONTEXT: u32 = 5;
    pub const COUNTER: u32 = 6;
    pub const DELEGATE: u32 = 7;
    pub const DAA_TPM: u32 = 8;
    pub const DAA_V0: u32 = 9;
    pub const DAA_V1: u32 = 10;
}

/// Algorithm identifiers (Part 2 §4.8).
#[allow(missing_docs, reason = "the names are the specification's algorithm names")]
pub mod alg {
    pub const RSA: u32 = 1;
    pub const SHA: u32 = 4;
    pub const HMAC: u32 = 5;
    pub const AES128: u32 = 6;
    pub const MGF1: u32 = 7;
    pub const AES192: u32 = 8;
    pub const AES256: u32 = 9;
    pub const XOR: u32 = 0x0A;
}

/// Encryption schemes (Part 2 §4.10).
#[allow(missing_docs, reason = "the names are the specification's scheme names")]
pub mod es {
    pub const NONE: u16 = 1;
    pub const RSAESPKCSV15: u16 = 2;
    pub const RSAESOAEP_SHA1_MGF1: u16 = 3;
    pub const SYM_CTR: u16 = 4;
    pub const SYM_OFB: u16 = 5;
}

/// Signature schemes (Part 2 §4.11).
#[allow(missing_docs, reason = "the names are the specification's scheme names")]
pub mod ss {
    pub const NONE: u16 = 1;
    pub const RSASSAPKCS1V15_SHA1: u16 = 2;
    pub const RSASSAPKCS1V15_DER: u16 = 3;
    pub const RSASSAPKCS1V15_INFO: u16 = 4;
}

/// Key usage values (Part 2 §5.8).
#[allow(missing_docs, reason = "the names are the specification's key usage names")]
pub mod ku {
    pub const SIGNING: u16 = 0x0010;
    pub const STORAGE: u16 = 0x0011;
    pub const IDENTITY: u16 = 0x0012;
    pub const AUTHCHANGE: u16 = 0x0013;
    pub const BIND: u16 = 0x0014;
    pub const LEGACY: u16 = 0x0015;
    pub const MIGRATE: u16 = 0x0016;
}

/// Key flags (Part 2 §5.10).
#[allow(missing_docs, reason = "the names are the specification's key flag names")]
pub mod kf {
    pub const REDIRECTION: u32 = 0x1;
    pub const MIGRATABLE: u32 = 0x2;
    pub const IS_VOLATILE: u32 = 0x4;
    pub const PCR_IGNORED_ON_READ: u32 = 0x8;
    pub const MIGRATE_AUTHORITY: u32 = 0x10;
}

/// Key authorization requirements (Part 2 §5.9).
#[allow(missing_docs, reason = "the names are the specification's names")]
pub mod auth_usage {
    pub const NEVER: u8 = 0;
    pub const ALWAYS: u8 = 1;
    pub const PRIV_USE_ONLY: u8 = 3;
}

/// Payload types (Part 2 §5.6).
#[allow(missing_docs, reason = "the names are the specification's payload names")]
pub mod pt {
    pub const ASYM: u8 = 0x01;
    pub const BIND: u8 = 0x02;
    pub const MIGRATE: u8 = 0x03;
    pub const MAINT: u8 = 0x04;
    pub const SEAL: u8 = 0x05;
}

/// Physical presence command bits (Part 2 §4.7).
#[allow(missing_docs, reason = "the names are the specification's names")]
pub mod pp {
    pub const HW_DISABLE: u16 = 0x0200;
    pub const CMD_DISABLE: u16 = 0x0100;
    pub const LIFETIME_LOCK: u16 = 0x0080;
    pub const HW_ENABLE: u16 = 0x0040;
    pub const CMD_ENABLE: u16 = 0x0020;
    pub const NOTPRESENT: u16 = 0x0010;
    pub const PRESENT: u16 = 0x0008;
    pub const LOCK: u16 = 0x0004;
}

/// NV index bits and reserved indices (Part 2 §19.1).
#[allow(missing_docs, reason = "the names are the specification's names")]
pub mod nv {
    pub const INDEX_LOCK: u32 = 0xFFFF_FFFF;
    pub const INDEX0: u32 = 0x0000_0000;
    pub const INDEX_DIR: u32 = 0x1000_0001;
    pub const INDEX_TRIAL: u32 = 0x0000_F004;
    /// The T (TPM manufacturer) bit.
    pub const T_BIT: u32 = 0x8000_0000;
    /// The P (platform manufacturer) bit.
    pub const P_BIT: u32 = 0x4000_0000;
    /// The U (user) bit.
    pub const U_BIT: u32 = 0x2000_0000;
    /// The D (defined once) bit.
    pub const D_BIT: u32 = 0x1000_0000;

    pub const PER_READ_STCLEAR: u32 = 0x8000_0000;
    pub const PER_AUTHREAD: u32 = 0x0004_0000;
    pub const PER_OWNERREAD: u32 = 0x0002_0000;
    pub const PER_PPREAD: u32 = 0x0001_0000;
    pub const PER_GLOBALLOCK: u32 = 0x0000_8000;
    pub const PER_WRITE_STCLEAR: u32 = 0x0000_4000;
    pub const PER_WRITEDEFINE: u32 = 0x0000_2000;
    pub const PER_WRITEALL: u32 = 0x0000_1000;
    pub const PER_AUTHWRITE: u32 = 0x0000_0004;
    pub const PER_OWNERWRITE: u32 = 0x0000_0002;
    pub const PER_PPWRITE: u32 = 0x0000_0001;
}

/// Protocol identifiers (Part 2 §4.6).
#[allow(missing_docs, reason = "the names are the specification's names")]
pub mod pid {
    pub const OIAP: u16 = 1;
    pub const OSAP: u16 = 2;
    pub const ADIP: u16 = 3;
    pub const ADCP: u16 = 4;
    pub const OWNER: u16 = 5;
    pub const DSAP: u16 = 6;
    pub const TRANSPORT: u16 = 7;
}

/// Migration schemes (Part 2 §4.3).
pub mod ms {
    /// TPM_MS_MIGRATE.
    pub const MIGRATE: u16 = 1;
}

/// Protocol identifier used by TakeOwnership (Part 2 §4.6).
pub const PID_OWNER: u16 = pid::OWNER;

/// Number of PCRs (PC Client: 24).
pub const NUM_PCRS: usize = 24;
/// Bytes in a PCR selection bitmap for 24 PCRs.
pub const PCR_SELECT_BYTES: usize = NUM_PCRS / 8;
/// Size of a SHA-1 digest, nonce or authorization value.
pub const DIGEST_SIZE: usize = 20;
