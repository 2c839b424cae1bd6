//! TPM 2.0 constants: algorithms, command codes, tags, handles, capabilities and
//! properties (TPM 2.0 Part 2 §6 and §7).

/// `TPM_ALG_ID` values (Part 2 §6.3; TCG Algorithm Registry).
pub mod alg {
    /// TPM_ALG_ERROR.
    pub const ERROR: u16 = 0x0000;
    /// TPM_ALG_RSA.
    pub const RSA: u16 = 0x0001;
    /// TPM_ALG_TDES.
    pub const TDES: u16 = 0x0003;
    /// TPM_ALG_SHA1.
    pub const SHA1: u16 = 0x0004;
    /// TPM_ALG_HMAC.
    pub const HMAC: u16 = 0x0005;
    /// TPM_ALG_AES.
    pub const AES: u16 = 0x0006;
    /// TPM_ALG_MGF1.
    pub const MGF1: u16 = 0x0007;
    /// TPM_ALG_KEYEDHASH.
    pub const KEYEDHASH: u16 = 0x0008;
    /// TPM_ALG_XOR.
    pub const XOR: u16 = 0x000A;
    /// TPM_ALG_SHA256.
    pub const SHA256: u16 = 0x000B;
    /// TPM_ALG_SHA384.
    pub const SHA384: u16 = 0x000C;
    /// TPM_ALG_SHA512.
    pub const SHA512: u16 = 0x000D;
    /// TPM_ALG_NULL.
    pub const NULL: u16 = 0x0010;
    /// TPM_ALG_SM3_256.
    pub const SM3_256: u16 = 0x0012;
    /// TPM_ALG_SM4.
    pub const SM4: u16 = 0x0013;
    /// TPM_ALG_RSASSA.
    pub const RSASSA: u16 = 0x0014;
    /// TPM_ALG_RSAES.
    pub const RSAES: u16 = 0x0015;
    /// TPM_ALG_RSAPSS.
    pub const RSAPSS: u16 = 0x0016;
    /// TPM_ALG_OAEP.
    pub const OAEP: u16 = 0x0017;
    /// TPM_ALG_ECDSA.
    pub const ECDSA: u16 = 0x0018;
    /// TPM_ALG_ECDH.
    pub const ECDH: u16 = 0x0019;
    /// TPM_ALG_ECDAA.
    pub const ECDAA: u16 = 0x001A;
    /// TPM_ALG_SM2.
    pub const SM2: u16 = 0x001B;
    /// TPM_ALG_ECSCHNORR.
    pub const ECSCHNORR: u16 = 0x001C;
    /// TPM_ALG_ECMQV.
    pub const ECMQV: u16 = 0x001D;
    /// TPM_ALG_KDF1_SP800_56A.
    pub const KDF1_SP800_56A: u16 = 0x0020;
    /// TPM_ALG_KDF2.
    pub const KDF2: u16 = 0x0021;
    /// TPM_ALG_KDF1_SP800_108.
    pub const KDF1_SP800_108: u16 = 0x0022;
    /// TPM_ALG_ECC.
    pub const ECC: u16 = 0x0023;
    /// TPM_ALG_SYMCIPHER.
    pub const SYMCIPHER: u16 = 0x0025;
    /// TPM_ALG_CAMELLIA.
    pub const CAMELLIA: u16 = 0x0026;
    /// TPM_ALG_CMAC.
    pub const CMAC: u16 = 0x003F;
    /// TPM_ALG_CTR.
    pub const CTR: u16 = 0x0040;
    /// TPM_ALG_OFB.
    pub const OFB: u16 = 0x0041;
    /// TPM_ALG_CBC.
    pub const CBC: u16 = 0x0042;
    /// TPM_ALG_CFB.
    pub const CFB: u16 = 0x0043;
    /// TPM_ALG_ECB.
    pub const ECB: u16 = 0x0044;
}

/// `TPM_ECC_CURVE` values (Part 2 §6.4).
pub mod curve {
    /// TPM_ECC_NONE.
    pub const NONE: u16 = 0x0000;
    /// TPM_ECC_NIST_P256.
    pub const NIST_P256: u16 = 0x0003;
    /// TPM_ECC_NIST_P384.
    pub const NIST_P384: u16 = 0x0004;
}

/// `TPM_CC` command codes (Part 2 §6.5.2).
pub mod cc {
    #![allow(missing_docs)]
    pub const NV_UNDEFINE_SPACE_SPECIAL: u32 = 0x11F;
    pub const EVICT_CONTROL: u32 = 0x120;
    pub const HIERARCHY_CONTROL: u32 = 0x121;
    pub const NV_UNDEFINE_SPACE: u32 = 0x122;
    pub const CHANGE_EPS: u32 = 0x124;
    pub const CHANGE_PPS: u32 = 0x125;
    pub const CLEAR: u32 = 0x126;
    pub const CLEAR_CONTROL: u32 = 0x127;
    pub const CLOCK_SET: u32 = 0x128;
    pub const HIERARCHY_CHANGE_AUTH: u32 = 0x129;
    pub const NV_DEFINE_SPACE: u32 = 0x12A;
    pub const PCR_ALLOCATE: u32 = 0x12B;
    pub const PCR_SET_AUTH_POLICY: u32 = 0x12C;
    pub const PP_COMMANDS: u32 = 0x12D;
    pub const SET_PRIMARY_POLICY: u32 = 0x12E;
    pub const FIELD_UPGRADE_START: u32 = 0x12F;
    pub const CLOCK_RATE_ADJUST: u32 = 0x130;
    pub const CREATE_PRIMARY: u32 = 0x131;
    pub const NV_GLOBAL_WRITE_LOCK: u32 = 0x132;
    pub const GET_COMMAND_AUDIT_DIGEST: u32 = 0x133;
    pub const NV_INCREMENT: u32 = 0x134;
    pub const NV_SET_BITS: u32 = 0x135;
    pub const NV_EXTEND: u32 = 0x136;
    pub const NV_WRITE: u32 = 0x137;
    pub const NV_WRITE_LOCK: u32 = 0x138;
    pub const DICTIONARY_ATTACK_LOCK_RESET: u32 = 0x139;
    pub const DICTIONARY_ATTACK_PARAMETERS: u32 = 0x13A;
    pub const NV_CHANGE_AUTH: u32 = 0x13B;
    pub const PCR_EVENT: u32 = 0x13C;
    pub const PCR_RESET: u32 = 0x13D;
    pub const SEQUENCE_COMPLETE: u32 = 0x13E;
    pub const SET_ALGORITHM_SET: u32 = 0x13F;
    pub const SET_COMMAND_CODE_AUDIT_STATUS: u32 = 0x140;
    pub const FIELD_UPGRADE_DATA: u32 = 0x141;
    pub const INCREMENTAL_SELF_TEST: u32 = 0x142;
    pub const SELF_TEST: u32 = 0x143;
    pub const STARTUP: u32 = 0x144;
    pub const SHUTDOWN: u32 = 0x145;
    pub const STIR_RANDOM: u32 = 0x146;
    pub const ACTIVATE_CREDENTIAL: u32 = 0x147;
    pub const CERTIFY: u32 = 0x148;
    pub const POLICY_NV: u32 = 0x149;
    pub const CERTIFY_CREATION: u32 = 0x14A;
    pub const DUPLICATE: u32 = 0x14B;
    pub const GET_TIME: u32 = 0x14C;
    pub const GET_SESSION_AUDIT_DIGEST: u32 = 0x14D;
    pub const NV_READ: u32 = 0x14E;
    pub const NV_READ_LOCK: u32 = 0x14F;
    pub const OBJECT_CHANGE_AUTH: u32 = 0x150;
    pub const POLICY_SECRET: u32 = 0x151;
    pub const REWRAP: u32 = 0x152;
    pub const CREATE: u32 = 0x153;
    pub const ECDH_ZGEN: u32 = 0x154;
    pub const HMAC: u32 = 0x155;
    pub const IMPORT: u32 = 0x156;
    pub const LOAD: u32 = 0x157;
    pub const QUOTE: u32 = 0x158;
    pub const RSA_DECRYPT: u32 = 0x159;
    pub const HMAC_START: u32 = 0x15B;
    pub const SEQUENCE_UPDATE: u32 = 0x15C;
    pub const SIGN: u32 = 0x15D;
    pub const UNSEAL: u32 = 0x15E;
    pub const POLICY_SIGNED: u32 = 0x160;
    pub const CONTEXT_LOAD: u32 = 0x161;
    pub const CONTEXT_SAVE: u32 = 0x162;
    pub const ECDH_KEYGEN: u32 = 0x163;
    pub const ENCRYPT_DECRYPT: u32 = 0x164;
    pub const FLUSH_CONTEXT: u32 = 0x165;
    pub const LOAD_EXTERNAL: u32 = 0x167;
    pub const MAKE_CREDENTIAL: u32 = 0x168;
    pub const NV_READ_PUBLIC: u32 = 0x169;
    pub const POLICY_AUTHORIZE: u32 = 0x16A;
    pub const POLICY_AUTH_VALUE: u32 = 0x16B;
    pub const POLICY_COMMAND_CODE: u32 = 0x16C;
    pub const POLICY_COUNTER_TIMER: u32 = 0x16D;
    pub const POLICY_CP_HASH: u32 = 0x16E;
    pub const POLICY_LOCALITY: u32 = 0x16F;
    pub const POLICY_NAME_HASH: u32 = 0x170;
    pub const POLICY_OR: u32 = 0x171;
    pub const POLICY_TICKET: u32 = 0x172;
    pub const READ_PUBLIC: u32 = 0x173;
    pub const RSA_ENCRYPT: u32 = 0x174;
    pub const START_AUTH_SESSION: u32 = 0x176;
    pub const VERIFY_SIGNATURE: u32 = 0x177;
    pub const ECC_PARAMETERS: u32 = 0x178;
    pub const FIRMWARE_READ: u32 = 0x179;
    pub const GET_CAPABILITY: u32 = 0x17A;
    pub const GET_RANDOM: u32 = 0x17B;
    pub const GET_TEST_RESULT: u32 = 0x17C;
    pub const HASH: u32 = 0x17D;
    pub const PCR_READ: u32 = 0x17E;
    pub const POLICY_PCR: u32 = 0x17F;
    pub const POLICY_RESTART: u32 = 0x180;
    pub const READ_CLOCK: u32 = 0x181;
    pub const PCR_EXTEND: u32 = 0x182;
    pub const PCR_SET_AUTH_VALUE: u32 = 0x183;
    pub const NV_CERTIFY: u32 = 0x184;
    pub const EVENT_SEQUENCE_COMPLETE: u32 = 0x185;
    pub const HASH_SEQUENCE_START: u32 = 0x186;
    pub const POLICY_PHYSICAL_PRESENCE: u32 = 0x187;
    pub const POLICY_DUPLICATION_SELECT: u32 = 0x188;
    pub const POLICY_GET_DIGEST: u32 = 0x189;
    pub const TEST_PARMS: u32 = 0x18A;
    pub const COMMIT: u32 = 0x18B;
    pub const POLICY_PASSWORD: u32 = 0x18C;
    pub const ZGEN_2PHASE: u32 = 0x18D;
    pub const EC_EPHEMERAL: u32 = 0x18E;
    pub const POLICY_NV_WRITTEN: u32 = 0x18F;
    pub const POLICY_TEMPLATE: u32 = 0x190;
    pub const CREATE_LOADED: u32 = 0x191;
    pub const POLICY_AUTHORIZE_NV: u32 = 0x192;
    pub const ENCRYPT_DECRYPT2: u32 = 0x193;
}

/// `TPM_ST` structure tags (Part 2 §6.9).
pub mod st {
    /// TPM_ST_RSP_COMMAND: the tag of a TPM 1.2-format response.
    pub const RSP_COMMAND: u16 = 0x00C4;
    /// TPM_ST_NULL.
    pub const NULL: u16 = 0x8000;
    /// TPM_ST_NO_SESSIONS.
    pub const NO_SESSIONS: u16 = 0x8001;
    /// TPM_ST_SESSIONS.
    pub const SESSIONS: u16 = 0x8002;
    /// TPM_ST_ATTEST_NV.
    pub const ATTEST_NV: u16 = 0x8014;
    /// TPM_ST_ATTEST_COMMAND_AUDIT.
    pub const ATTEST_COMMAND_AUDIT: u16 = 0x8015;
    /// TPM_ST_ATTEST_SESSION_AUDIT.
    pub const ATTEST_SESSION_AUDIT: u16 = 0x8016;
    /// TPM_ST_ATTEST_CERTIFY.
    pub const ATTEST_CERTIFY: u16 = 0x8017;
    /// TPM_ST_ATTEST_QUOTE.
    pub const ATTEST_QUOTE: u16 = 0x8018;
    /// TPM_ST_ATTEST_TIME.
    pub const ATTEST_TIME: u16 = 0x8019;
    /// TPM_ST_ATTEST_CREATION.
    pub const ATTEST_CREATION: u16 = 0x801A;
    /// TPM_ST_ATTEST_NV_DIGEST.
    pub const ATTEST_NV_DIGEST: u16 = 0x801C;
    /// TPM_ST_CREATION.
    pub const CREATION: u16 = 0x8021;
    /// TPM_ST_VERIFIED.
    pub const VERIFIED: u16 = 0x8022;
    /// TPM_ST_AUTH_SECRET.
    pub const AUTH_SECRET: u16 = 0x8023;
    /// TPM_ST_HASHCHECK.
    pub const HASHCHECK: u16 = 0x8024;
    /// TPM_ST_AUTH_SIGNED.
    pub const AUTH_SIGNED: u16 = 0x8025;
}

/// `TPM_SU` startup/shutdown types (Part 2 §6.10).
pub mod su {
    /// TPM_SU_CLEAR.
    pub const CLEAR: u16 = 0x0000;
    /// TPM_SU_STATE.
    pub const STATE: u16 = 0x0001;
}

/// `TPM_SE` session types (Part 2 §6.11).
pub mod se {
    /// TPM_SE_HMAC.
    pub const HMAC: u8 = 0x00;
    /// TPM_SE_POLICY.
    pub const POLICY: u8 = 0x01;
    /// TPM_SE_TRIAL.
    pub const TRIAL: u8 = 0x03;
}

/// `TPM_CAP` capability selectors (Part 2 §6.12).
pub mod cap {
    /// TPM_CAP_ALGS.
    pub const ALGS: u32 = 0;
    /// TPM_CAP_HANDLES.
    pub const HANDLES: u32 = 1;
    /// TPM_CAP_COMMANDS.
    pub const COMMANDS: u32 = 2;
    /// TPM_CAP_PP_COMMANDS.
    pub const PP_COMMANDS: u32 = 3;
    /// TPM_CAP_AUDIT_COMMANDS.
    pub const AUDIT_COMMANDS: u32 = 4;
    /// TPM_CAP_PCRS.
    pub const PCRS: u32 = 5;
    /// TPM_CAP_TPM_PROPERTIES.
    pub const TPM_PROPERTIES: u32 = 6;
    /// TPM_CAP_PCR_PROPERTIES.
    pub const PCR_PROPERTIES: u32 = 7;
    /// TPM_CAP_ECC_CURVES.
    pub const ECC_CURVES: u32 = 8;
    /// TPM_CAP_AUTH_POLICIES.
    pub const AUTH_POLICIES: u32 = 9;
    /// TPM_CAP_ACT.
    pub const ACT: u32 = 10;
    /// TPM_CAP_VENDOR_PROPERTY.
    pub const VENDOR_PROPERTY: u32 = 0x100;
}

/// `TPM_PT` property tags (Part 2 §6.13).
pub mod pt {
    #![allow(missing_docs)]
    pub const FIXED: u32 = 0x100;
    pub const FAMILY_INDICATOR: u32 = FIXED;
    pub const LEVEL: u32 = FIXED + 1;
    pub const REVISION: u32 = FIXED + 2;
    pub const DAY_OF_YEAR: u32 = FIXED + 3;
    pub const YEAR: u32 = FIXED + 4;
    pub const MANUFACTURER: u32 = FIXED + 5;
    pub const VENDOR_STRING_1: u32 = FIXED + 6;
    pub const VENDOR_STRING_2: u32 = FIXED + 7;
    pub const VENDOR_STRING_3: u32 = FIXED + 8;
    pub const VENDOR_STRING_4: u32 = FIXED + 9;
    pub const VENDOR_TPM_TYPE: u32 = FIXED + 10;
    pub const FIRMWARE_VERSION_1: u32 = FIXED + 11;
    pub const FIRMWARE_VERSION_2: u32 = FIXED + 12;
    pub const INPUT_BUFFER: u32 = FIXED + 13;
    pub const HR_TRANSIENT_MIN: u32 = FIXED + 14;
    pub const HR_PERSISTENT_MIN: u32 = FIXED + 15;
    pub const HR_LOADED_MIN: u32 = FIXED + 16;
    pub const ACTIVE_SESSIONS_MAX: u32 = FIXED + 17;
    pub const PCR_COUNT: u32 = FIXED + 18;
    pub const PCR_SELECT_MIN: u32 = FIXED + 19;
    pub const CONTEXT_GAP_MAX: u32 = FIXED + 20;
    pub const NV_COUNTERS_MAX: u32 = FIXED + 22;
    pub const NV_INDEX_MAX: u32 = FIXED + 23;
    pub const MEMORY: u32 = FIXED + 24;
    pub const CLOCK_UPDATE: u32 = FIXED + 25;
    pub const CONTEXT_HASH: u32 = FIXED + 26;
    pub const CONTEXT_SYM: u32 = FIXED + 27;
    pub const CONTEXT_SYM_SIZE: u32 = FIXED + 28;
    pub const ORDERLY_COUNT: u32 = FIXED + 29;
    pub const MAX_COMMAND_SIZE: u32 = FIXED + 30;
    pub const MAX_RESPONSE_SIZE: u32 = FIXED + 31;
    pub const MAX_DIGEST: u32 = FIXED + 32;
    pub const MAX_OBJECT_CONTEXT: u32 = FIXED + 33;
    pub const MAX_SESSION_CONTEXT: u32 = FIXED + 34;
    pub const PS_FAMILY_INDICATOR: u32 = FIXED + 35;
    pub const PS_LEVEL: u32 = FIXED + 36;
    pub const PS_REVISION: u32 = FIXED + 37;
    pub const PS_DAY_OF_YEAR: u32 = FIXED + 38;
    pub const PS_YEAR: u32 = FIXED + 39;
    pub const SPLIT_MAX: u32 = FIXED + 40;
    pub const TOTAL_COMMANDS: u32 = FIXED + 41;
    pub const LIBRARY_COMMANDS: u32 = FIXED + 42;
    pub const VENDOR_COMMANDS: u32 = FIXED + 43;
    pub const NV_BUFFER_MAX: u32 = FIXED + 44;
    pub const MODES: u32 = FIXED + 45;
    pub const MAX_CAP_BUFFER: u32 = FIXED + 46;
    pub const VAR: u32 = 0x200;
    pub const PERMANENT: u32 = VAR;
    pub const STARTUP_CLEAR: u32 = VAR + 1;
    pub const HR_NV_INDEX: u32 = VAR + 2;
    pub const HR_LOADED: u32 = VAR + 3;
    pub const HR_LOADED_AVAIL: u32 = VAR + 4;
    pub const HR_ACTIVE: u32 = VAR + 5;
    pub const HR_ACTIVE_AVAIL: u32 = VAR + 6;
    pub const HR_TRANSIENT_AVAIL: u32 = VAR + 7;
    pub const HR_PERSISTENT: u32 = VAR + 8;
    pub const HR_PERSISTENT_AVAIL: u32 = VAR + 9;
    pub const NV_COUNTERS: u32 = VAR + 10;
    pub const NV_COUNTERS_AVAIL: u32 = VAR + 11;
    pub const ALGORITHM_SET: u32 = VAR + 12;
    pub const LOADED_CURVES: u32 = VAR + 13;
    pub const LOCKOUT_COUNTER: u32 = VAR + 14;
    pub const MAX_AUTH_FAIL: u32 = VAR + 15;
    pub const LOCKOUT_INTERVAL: u32 = VAR + 16;
    pub const LOCKOUT_RECOVERY: u32 = VAR + 17;
    pub const NV_WRITE_RECOVERY: u32 = VAR + 18;
    pub const AUDIT_COUNTER_0: u32 = VAR + 19;
    pub const AUDIT_COUNTER_1: u32 = VAR + 20;
}

/// `TPM_PT_PCR` PCR property tags (Part 2 §6.14).
pub mod pt_pcr {
    #![allow(missing_docs)]
    pub const SAVE: u32 = 0x00;
    pub const EXTEND_L0: u32 = 0x01;
    pub const RESET_L0: u32 = 0x02;
    pub const EXTEND_L1: u32 = 0x03;
    pub const RESET_L1: u32 = 0x04;
    pub const EXTEND_L2: u32 = 0x05;
    pub const RESET_L2: u32 = 0x06;
    pub const EXTEND_L3: u32 = 0x07;
    pub const RESET_L3: u32 = 0x08;
    pub const EXTEND_L4: u32 = 0x09;
    pub const RESET_L4: u32 = 0x0A;
    pub const NO_INCREMENT: u32 = 0x11;
    pub const DRTM_RESET: u32 = 0x12;
    pub const POLICY: u32 = 0x13;
    pub const AUTH: u32 = 0x14;
    pub const LAST: u32 = 0x14;
}

/// Handles: types (`TPM_HT`, Part 2 §7.2), permanent handles (`TPM_RH`, §7.4) and
/// the ranges of each type (§7.5).
pub mod handle {
    /// TPM_HT_PCR.
    pub const HT_PCR: u8 = 0x00;
    /// TPM_HT_NV_INDEX.
    pub const HT_NV_INDEX: u8 = 0x01;
    /// TPM_HT_HMAC_SESSION (also TPM_HT_LOADED_SESSION).
    pub const HT_HMAC_SESSION: u8 = 0x02;
    /// TPM_HT_POLICY_SESSION (also TPM_HT_SAVED_SESSION).
    pub const HT_POLICY_SESSION: u8 = 0x03;
    /// TPM_HT_PERMANENT.
    pub const HT_PERMANENT: u8 = 0x40;
    /// TPM_HT_TRANSIENT.
    pub const HT_TRANSIENT: u8 = 0x80;
    /// TPM_HT_PERSISTENT.
    pub const HT_PERSISTENT: u8 = 0x81;

    /// TPM_RH_OWNER.
    pub const OWNER: u32 = 0x4000_0001;
    /// TPM_RH_NULL.
    pub const NULL: u32 = 0x4000_0007;
    /// TPM_RH_UNASSIGNED.
    pub const UNASSIGNED: u32 = 0x4000_0008;
    /// TPM_RS_PW: the password session.
    pub const PW: u32 = 0x4000_0009;
    /// TPM_RH_LOCKOUT.
    pub const LOCKOUT: u32 = 0x4000_000A;
    /// TPM_RH_ENDORSEMENT.
    pub const ENDORSEMENT: u32 = 0x4000_000B;
    /// TPM_RH_PLATFORM.
    pub const PLATFORM: u32 = 0x4000_000C;
    /// TPM_RH_PLATFORM_NV.
    pub const PLATFORM_NV: u32 = 0x4000_000D;

    /// First PCR handle.
    pub const PCR_FIRST: u32 = 0x0000_0000;
    /// First NV index handle.
    pub const NV_INDEX_FIRST: u32 = 0x0100_0000;
    /// Last NV index handle.
    pub const NV_INDEX_LAST: u32 = 0x01FF_FFFF;
    /// First HMAC session handle.
    pub const HMAC_SESSION_FIRST: u32 = 0x0200_0000;
    /// First policy session handle.
    pub const POLICY_SESSION_FIRST: u32 = 0x0300_0000;
    /// First transient object handle.
    pub const TRANSIENT_FIRST: u32 = 0x8000_0000;
    /// First persistent object handle.
    pub const PERSISTENT_FIRST: u32 = 0x8100_0000;
    /// Last persistent object handle.
    pub const PERSISTENT_LAST: u32 = 0x81FF_FFFF;
    /// First persistent handle the platform hierarchy owns.
    pub const PLATFORM_PERSISTENT: u32 = 0x8180_0000;

    /// The handle type (most significant octet).
    pub fn kind(handle: u32) -> u8 {
        handle.to_be_bytes()[0]
    }
}

/// Bits of `TPMA_OBJECT` (Part 2 §8.3).
pub mod object_attr {
    #![allow(missing_docs)]
    pub const FIXED_TPM: u32 = 1 << 1;
    pub const ST_CLEAR: u32 = 1 << 2;
    pub const FIXED_PARENT: u32 = 1 << 4;
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    pub const NO_DA: u32 = 1 << 10;
    pub const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
    pub const RESTRICTED: u32 = 1 << 16;
    pub const DECRYPT: u32 = 1 << 17;
    pub const SIGN_ENCRYPT: u32 = 1 << 18;
    pub const X509_SIGN: u32 = 1 << 19;
    /// Bits that must be zero.
    pub const RESERVED: u32 = 0xFFF0_F309;
}

/// Bits of `TPMA_SESSION` (Part 2 §8.4).
pub mod session_attr {
    #![allow(missing_docs)]
    pub const CONTINUE_SESSION: u8 = 0x01;
    pub const AUDIT_EXCLUSIVE: u8 = 0x02;
    pub const AUDIT_RESET: u8 = 0x04;
    pub const DECRYPT: u8 = 0x20;
    pub const ENCRYPT: u8 = 0x40;
    pub const AUDIT: u8 = 0x80;
    /// Bits that must be zero.
    pub const RESERVED: u8 = 0x18;
}

/// Bits of `TPMA_NV` (Part 2 §13.4).
pub mod nv_attr {
    #![allow(missing_docs)]
    pub const PPWRITE: u32 = 1 << 0;
    pub const OWNERWRITE: u32 = 1 << 1;
    pub const AUTHWRITE: u32 = 1 << 2;
    pub const POLICYWRITE: u32 = 1 << 3;
    /// The TPM_NT field (bits 4..7).
    pub const TPM_NT_MASK: u32 = 0xF << 4;
    pub const TPM_NT_SHIFT: u32 = 4;
    pub const POLICY_DELETE: u32 = 1 << 10;
    pub const WRITELOCKED: u32 = 1 << 11;
    pub const WRITEALL: u32 = 1 << 12;
    pub const WRITEDEFINE: u32 = 1 << 13;
    pub const WRITE_STCLEAR: u32 = 1 << 14;
    pub const GLOBALLOCK: u32 = 1 << 15;
    pub const PPREAD: u32 = 1 << 16;
    pub const OWNERREAD: u32 = 1 << 17;
    pub const AUTHREAD: u32 = 1 << 18;
    pub const POLICYREAD: u32 = 1 << 19;
    pub const NO_DA: u32 = 1 << 25;
    pub const ORDERLY: u32 = 1 << 26;
    pub const CLEAR_STCLEAR: u32 = 1 << 27;
    pub const READLOCKED: u32 = 1 << 28;
    pub const WRITTEN: u32 = 1 << 29;
    pub const PLATFORMCREATE: u32 = 1 << 30;
    pub const READ_STCLEAR: u32 = 1 << 31;
    /// Bits that must be zero.
    pub const RESERVED: u32 = 0x0000_0300 | 0x01F0_0000;

    /// TPM_NT_ORDINARY.
    pub const NT_ORDINARY: u32 = 0;
    /// TPM_NT_COUNTER.
    pub const NT_COUNTER: u32 = 1;
    /// TPM_NT_BITS.
    pub const NT_BITS: u32 = 2;
    /// TPM_NT_EXTEND.
    pub const NT_EXTEND: u32 = 4;
    /// TPM_NT_PIN_FAIL.
    pub const NT_PIN_FAIL: u32 = 8;
    /// TPM_NT_PIN_PASS.
    pub const NT_PIN_PASS: u32 = 9;
}

/// Bits of `TPMA_ALGORITHM` (Part 2 §8.2).
pub mod alg_attr {
    #![allow(missing_docs)]
    pub const ASYMMETRIC: u32 = 1 << 0;
    pub const SYMMETRIC: u32 = 1 << 1;
    pub const HASH: u32 = 1 << 2;
    pub const OBJECT: u32 = 1 << 3;
    pub const SIGNING: u32 = 1 << 8;
    pub const ENCRYPTING: u32 = 1 << 9;
    pub const METHOD: u32 = 1 << 10;
}

/// Bits of `TPMA_LOCALITY` (Part 2 §8.5).
pub mod locality_attr {
    /// TPM_LOC_ZERO .. TPM_LOC_FOUR are bits 0..4; bits 5..7 say "extended".
    pub const EXTENDED: u8 = 0xE0;
}
