//! The TPM 1.2 return codes (Part 2 §16), as the engine's error type.
//!
//! Every command handler returns `Result<_, TpmError>`; the dispatcher turns an error
//! into the 10-byte error response. The names are the specification's, the values its
//! `TPM_BASE`-relative codes (`TPM_BASE` is 0).

use core::fmt;

/// A non-success TPM 1.2 return code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum TpmError {
    /// TPM_AUTHFAIL: Authentication failed.
    Authfail = 0x1,
    /// TPM_BADINDEX: The index to a PCR, DIR or other register is incorrect.
    Badindex = 0x2,
    /// TPM_BAD_PARAMETER: One or more parameter is bad.
    BadParameter = 0x3,
    /// TPM_AUDITFAILURE: An operation completed successfully but the auditing of that operation failed.
    Auditfailure = 0x4,
    /// TPM_CLEAR_DISABLED: The clear disable flag is set and all clear operations now require physical access.
    ClearDisabled = 0x5,
    /// TPM_DEACTIVATED: The TPM is deactivated.
    Deactivated = 0x6,
    /// TPM_DISABLED: The TPM is disabled.
    Disabled = 0x7,
    /// TPM_DISABLED_CMD: The target command has been disabled.
    DisabledCmd = 0x8,
    /// TPM_FAIL: The operation failed.
    Fail = 0x9,
    /// TPM_BAD_ORDINAL: The ordinal was unknown or inconsistent.
    BadOrdinal = 0xa,
    /// TPM_INSTALL_DISABLED: The ability to install an owner is disabled.
    InstallDisabled = 0xb,
    /// TPM_INVALID_KEYHANDLE: The key handle presented was invalid.
    InvalidKeyhandle = 0xc,
    /// TPM_KEYNOTFOUND: The target key was not found.
    Keynotfound = 0xd,
    /// TPM_INAPPROPRIATE_ENC: Unacceptable encryption scheme.
    InappropriateEnc = 0xe,
    /// TPM_MIGRATEFAIL: Migration authorization failed.
    Migratefail = 0xf,
    /// TPM_INVALID_PCR_INFO: PCR information could not be interpreted.
    InvalidPcrInfo = 0x10,
    /// TPM_NOSPACE: No room to load key.
    Nospace = 0x11,
    /// TPM_NOSRK: There is no SRK set.
    Nosrk = 0x12,
    /// TPM_NOTSEALED_BLOB: An encrypted blob is invalid or was not created by this TPM.
    NotsealedBlob = 0x13,
    /// TPM_OWNER_SET: There is already an Owner.
    OwnerSet = 0x14,
    /// TPM_RESOURCES: The TPM has insufficient internal resources to perform the requested action.
    Resources = 0x15,
    /// TPM_SHORTRANDOM: A random string was too short.
    Shortrandom = 0x16,
    /// TPM_SIZE: The TPM does not have the space to perform the operation.
    Size = 0x17,
    /// TPM_WRONGPCRVAL: The named PCR value does not match the current PCR value.
    Wrongpcrval = 0x18,
    /// TPM_BAD_PARAM_SIZE: The paramSize argument to the command has the incorrect value.
    BadParamSize = 0x19,
    /// TPM_SHA_THREAD: There is no existing SHA-1 thread.
    ShaThread = 0x1a,
    /// TPM_SHA_ERROR: The calculation is unable to proceed because the existing SHA-1 thread has already encountered an error.
    ShaError = 0x1b,
    /// TPM_FAILEDSELFTEST: Self-test has failed and the TPM has shutdown.
    Failedselftest = 0x1c,
    /// TPM_AUTH2FAIL: The authorization for the second key in a 2 key function failed authorization.
    Auth2fail = 0x1d,
    /// TPM_BADTAG: The tag value sent to for a command is invalid.
    Badtag = 0x1e,
    /// TPM_IOERROR: An IO error occurred transmitting information to the TPM.
    Ioerror = 0x1f,
    /// TPM_ENCRYPT_ERROR: The encryption process had a problem.
    EncryptError = 0x20,
    /// TPM_DECRYPT_ERROR: The decryption process did not complete.
    DecryptError = 0x21,
    /// TPM_INVALID_AUTHHANDLE: An invalid handle was used.
    InvalidAuthhandle = 0x22,
    /// TPM_NO_ENDORSEMENT: The TPM does not a EK installed.
    NoEndorsement = 0x23,
    /// TPM_INVALID_KEYUSAGE: The usage of a key is not allowed.
    InvalidKeyusage = 0x24,
    /// TPM_WRONG_ENTITYTYPE: The submitted entity type is not allowed.
    WrongEntitytype = 0x25,
    /// TPM_INVALID_POSTINIT: The command was received in the wrong sequence relative to TPM_Init and a subsequent TPM_Startup.
    InvalidPostinit = 0x26,
    /// TPM_INAPPROPRIATE_SIG: Signed data cannot include additional DER information.
    InappropriateSig = 0x27,
    /// TPM_BAD_KEY_PROPERTY: The key properties in TPM_KEY_PARMs are not supported by this TPM.
    BadKeyProperty = 0x28,
    /// TPM_BAD_MIGRATION: The migration properties of this key are incorrect.
    BadMigration = 0x29,
    /// TPM_BAD_SCHEME: The signature or encryption scheme for this key is incorrect or not permitted in this situation.
    BadScheme = 0x2a,
    /// TPM_BAD_DATASIZE: The size of the data (or blob) parameter is bad or inconsistent with the referenced key.
    BadDatasize = 0x2b,
    /// TPM_BAD_MODE: A mode parameter is bad, such as capArea or subCapArea for TPM_GetCapability, physicalPresence parameter for TPM_PhysicalPresence, or migrationType for TPM_CreateMigrationBlob.
    BadMode = 0x2c,
    /// TPM_BAD_PRESENCE: Either the physicalPresence or physicalPresenceLock bits have the wrong value.
    BadPresence = 0x2d,
    /// TPM_BAD_VERSION: The TPM cannot perform this version of the capability.
    BadVersion = 0x2e,
    /// TPM_NO_WRAP_TRANSPORT: The TPM does not allow for wrapped transport sessions.
    NoWrapTransport = 0x2f,
    /// TPM_AUDITFAIL_UNSUCCESSFUL: TPM audit construction failed and the underlying command was returning a failure code also.
    AuditfailUnsuccessful = 0x30,
    /// TPM_AUDITFAIL_SUCCESSFUL: TPM audit construction failed and the underlying command was returning success.
    AuditfailSuccessful = 0x31,
    /// TPM_NOTRESETABLE: Attempt to reset a PCR register that does not have the resettable attribute.
    Notresetable = 0x32,
    /// TPM_NOTLOCAL: Attempt to reset a PCR register that requires locality and locality modifier not part of command transport.
    Notlocal = 0x33,
    /// TPM_BAD_TYPE: Make identity blob not properly typed.
    BadType = 0x34,
    /// TPM_INVALID_RESOURCE: When saving context identified resource type does not match actual resource.
    InvalidResource = 0x35,
    /// TPM_NOTFIPS: The TPM is attempting to execute a command only available when in FIPS mode.
    Notfips = 0x36,
    /// TPM_INVALID_FAMILY: The command is attempting to use an invalid family ID.
    InvalidFamily = 0x37,
    /// TPM_NO_NV_PERMISSION: The permission to manipulate the NV storage is not available.
    NoNvPermission = 0x38,
    /// TPM_REQUIRES_SIGN: The operation requires a signed command.
    RequiresSign = 0x39,
    /// TPM_KEY_NOTSUPPORTED: Wrong operation to load an NV key.
    KeyNotsupported = 0x3a,
    /// TPM_AUTH_CONFLICT: NV_LoadKey blob requires both owner and blob authorization.
    AuthConflict = 0x3b,
    /// TPM_AREA_LOCKED: The NV area is locked and not writable.
    AreaLocked = 0x3c,
    /// TPM_BAD_LOCALITY: The locality is incorrect for the attempted operation.
    BadLocality = 0x3d,
    /// TPM_READ_ONLY: The NV area is read only and can't be written to.
    ReadOnly = 0x3e,
    /// TPM_PER_NOWRITE: There is no protection on the write to the NV area.
    PerNowrite = 0x3f,
    /// TPM_FAMILYCOUNT: The family count value does not match.
    Familycount = 0x40,
    /// TPM_WRITE_LOCKED: The NV area has already been written to.
    WriteLocked = 0x41,
    /// TPM_BAD_ATTRIBUTES: The NV area attributes conflict.
    BadAttributes = 0x42,
    /// TPM_INVALID_STRUCTURE: The structure tag and version are invalid or inconsistent.
    InvalidStructure = 0x43,
    /// TPM_KEY_OWNER_CONTROL: The key is under control of the TPM Owner and can only be evicted by the TPM Owner.
    KeyOwnerControl = 0x44,
    /// TPM_BAD_COUNTER: The counter handle is incorrect.
    BadCounter = 0x45,
    /// TPM_NOT_FULLWRITE: The write is not a complete write of the area.
    NotFullwrite = 0x46,
    /// TPM_CONTEXT_GAP: The gap between saved context counts is too large.
    ContextGap = 0x47,
    /// TPM_MAXNVWRITES: The maximum number of NV writes without an owner has been exceeded.
    Maxnvwrites = 0x48,
    /// TPM_NOOPERATOR: No operator authorization value is set.
    Nooperator = 0x49,
    /// TPM_RESOURCEMISSING: The resource pointed to by context is not loaded.
    Resourcemissing = 0x4a,
    /// TPM_DELEGATE_LOCK: The delegate administration is locked.
    DelegateLock = 0x4b,
    /// TPM_DELEGATE_FAMILY: Attempt to manage a family other then the delegated family.
    DelegateFamily = 0x4c,
    /// TPM_DELEGATE_ADMIN: Delegation table management not enabled.
    DelegateAdmin = 0x4d,
    /// TPM_TRANSPORT_NOTEXCLUSIVE: There was a command executed outside of an exclusive transport session.
    TransportNotexclusive = 0x4e,
    /// TPM_OWNER_CONTROL: Attempt to context save a owner evict controlled key.
    OwnerControl = 0x4f,
    /// TPM_DAA_RESOURCES: The DAA command has no resources available to execute the command.
    DaaResources = 0x50,
    /// TPM_DAA_INPUT_DATA0: The consistency check on DAA parameter inputData0 has failed.
    DaaInputData0 = 0x51,
    /// TPM_DAA_INPUT_DATA1: The consistency check on DAA parameter inputData1 has failed.
    DaaInputData1 = 0x52,
    /// TPM_DAA_ISSUER_SETTINGS: The consistency check on DAA_issuerSettings has failed.
    DaaIssuerSettings = 0x53,
    /// TPM_DAA_TPM_SETTINGS: The consistency check on DAA_tpmSpecific has failed.
    DaaTpmSettings = 0x54,
    /// TPM_DAA_STAGE: The atomic process indicated by the submitted DAA command is not the expected process.
    DaaStage = 0x55,
    /// TPM_DAA_ISSUER_VALIDITY: The issuer's validity check has detected an inconsistency.
    DaaIssuerValidity = 0x56,
    /// TPM_DAA_WRONG_W: The consistency check on w has failed.
    DaaWrongW = 0x57,
    /// TPM_BAD_HANDLE: The handle is incorrect.
    BadHandle = 0x58,
    /// TPM_BAD_DELEGATE: Delegation is not correct.
    BadDelegate = 0x59,
    /// TPM_BADCONTEXT: The context blob is invalid.
    Badcontext = 0x5a,
    /// TPM_TOOMANYCONTEXTS: Too many contexts held by the TPM.
    Toomanycontexts = 0x5b,
    /// TPM_MA_TICKET_SIGNATURE: Migration authority signature validation failure.
    MaTicketSignature = 0x5c,
    /// TPM_MA_DESTINATION: Migration destination not authenticated.
    MaDestination = 0x5d,
    /// TPM_MA_SOURCE: Migration source incorrect.
    MaSource = 0x5e,
    /// TPM_MA_AUTHORITY: Incorrect migration authority.
    MaAuthority = 0x5f,
    /// TPM_PERMANENTEK: Attempt to revoke the EK and the EK is not revocable.
    Permanentek = 0x61,
    /// TPM_BAD_SIGNATURE: Bad signature of CMK ticket.
    BadSignature = 0x62,
    /// TPM_NOCONTEXTSPACE: There is no room in the context list for additional contexts.
    Nocontextspace = 0x63,
    /// TPM_RETRY: The TPM is too busy to respond to the command immediately, but the command could be submitted at a later time.
    Retry = 0x800,
    /// TPM_NEEDS_SELFTEST: TPM_ContinueSelfTest has has not been run.
    NeedsSelftest = 0x801,
    /// TPM_DOING_SELFTEST: The TPM is currently executing the actions of TPM_ContinueSelfTest because the ordinal required resources that have not been tested.
    DoingSelftest = 0x802,
    /// TPM_DEFEND_LOCK_RUNNING: The TPM is defending against dictionary attacks and is in some time-out period.
    DefendLockRunning = 0x803,
}

impl TpmError {
    /// The wire value of the return code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The specification's name of the code.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authfail => "TPM_AUTHFAIL",
            Self::Badindex => "TPM_BADINDEX",
            Self::BadParameter => "TPM_BAD_PARAMETER",
            Self::Auditfailure => "TPM_AUDITFAILURE",
            Self::ClearDisabled => "TPM_CLEAR_DISABLED",
            Self::Deactivated => "TPM_DEACTIVATED",
            Self::Disabled => "TPM_DISABLED",
            Self::DisabledCmd => "TPM_DISABLED_CMD",
            Self::Fail => "TPM_FAIL",
            Self::BadOrdinal => "TPM_BAD_ORDINAL",
            Self::InstallDisabled => "TPM_INSTALL_DISABLED",
            Self::InvalidKeyhandle => "TPM_INVALID_KEYHANDLE",
            Self::Keynotfound => "TPM_KEYNOTFOUND",
            Self::InappropriateEnc => "TPM_INAPPROPRIATE_ENC",
            Self::Migratefail => "TPM_MIGRATEFAIL",
            Self::InvalidPcrInfo => "TPM_INVALID_PCR_INFO",
            Self::Nospace => "TPM_NOSPACE",
            Self::Nosrk => "TPM_NOSRK",
            Self::NotsealedBlob => "TPM_NOTSEALED_BLOB",
            Self::OwnerSet => "TPM_OWNER_SET",
            Self::Resources => "TPM_RESOURCES",
            Self::Shortrandom => "TPM_SHORTRANDOM",
            Self::Size => "TPM_SIZE",
            Self::Wrongpcrval => "TPM_WRONGPCRVAL",
            Self::BadParamSize => "TPM_BAD_PARAM_SIZE",
            Self::ShaThread => "TPM_SHA_THREAD",
            Self::ShaError => "TPM_SHA_ERROR",
            Self::Failedselftest => "TPM_FAILEDSELFTEST",
            Self::Auth2fail => "TPM_AUTH2FAIL",
            Self::Badtag => "TPM_BADTAG",
            Self::Ioerror => "TPM_IOERROR",
            Self::EncryptError => "TPM_ENCRYPT_ERROR",
            Self::DecryptError => "TPM_DECRYPT_ERROR",
            Self::InvalidAuthhandle => "TPM_INVALID_AUTHHANDLE",
            Self::NoEndorsement => "TPM_NO_ENDORSEMENT",
            Self::InvalidKeyusage => "TPM_INVALID_KEYUSAGE",
            Self::WrongEntitytype => "TPM_WRONG_ENTITYTYPE",
            Self::InvalidPostinit => "TPM_INVALID_POSTINIT",
            Self::InappropriateSig => "TPM_INAPPROPRIATE_SIG",
            Self::BadKeyProperty => "TPM_BAD_KEY_PROPERTY",
            Self::BadMigration => "TPM_BAD_MIGRATION",
            Self::BadScheme => "TPM_BAD_SCHEME",
            Self::BadDatasize => "TPM_BAD_DATASIZE",
            Self::BadMode => "TPM_BAD_MODE",
            Self::BadPresence => "TPM_BAD_PRESENCE",
            Self::BadVersion => "TPM_BAD_VERSION",
            Self::NoWrapTransport => "TPM_NO_WRAP_TRANSPORT",
            Self::AuditfailUnsuccessful => "TPM_AUDITFAIL_UNSUCCESSFUL",
            Self::AuditfailSuccessful => "TPM_AUDITFAIL_SUCCESSFUL",
            Self::Notresetable => "TPM_NOTRESETABLE",
            Self::Notlocal => "TPM_NOTLOCAL",
            Self::BadType => "TPM_BAD_TYPE",
            Self::InvalidResource => "TPM_INVALID_RESOURCE",
            Self::Notfips => "TPM_NOTFIPS",
            Self::InvalidFamily => "TPM_INVALID_FAMILY",
            Self::NoNvPermission => "TPM_NO_NV_PERMISSION",
            Self::RequiresSign => "TPM_REQUIRES_SIGN",
            Self::KeyNotsupported => "TPM_KEY_NOTSUPPORTED",
            Self::AuthConflict => "TPM_AUTH_CONFLICT",
            Self::AreaLocked => "TPM_AREA_LOCKED",
            Self::BadLocality => "TPM_BAD_LOCALITY",
            Self::ReadOnly => "TPM_READ_ONLY",
            Self::PerNowrite => "TPM_PER_NOWRITE",
            Self::Familycount => "TPM_FAMILYCOUNT",
            Self::WriteLocked => "TPM_WRITE_LOCKED",
            Self::BadAttributes => "TPM_BAD_ATTRIBUTES",
            Self::InvalidStructure => "TPM_INVALID_STRUCTURE",
            Self::KeyOwnerControl => "TPM_KEY_OWNER_CONTROL",
            Self::BadCounter => "TPM_BAD_COUNTER",
            Self::NotFullwrite => "TPM_NOT_FULLWRITE",
            Self::ContextGap => "TPM_CONTEXT_GAP",
            Self::Maxnvwrites => "TPM_MAXNVWRITES",
            Self::Nooperator => "TPM_NOOPERATOR",
            Self::Resourcemissing => "TPM_RESOURCEMISSING",
            Self::DelegateLock => "TPM_DELEGATE_LOCK",
            Self::DelegateFamily => "TPM_DELEGATE_FAMILY",
            Self::DelegateAdmin => "TPM_DELEGATE_ADMIN",
            Self::TransportNotexclusive => "TPM_TRANSPORT_NOTEXCLUSIVE",
            Self::OwnerControl => "TPM_OWNER_CONTROL",
            Self::DaaResources => "TPM_DAA_RESOURCES",
            Self::DaaInputData0 => "TPM_DAA_INPUT_DATA0",
            Self::DaaInputData1 => "TPM_DAA_INPUT_DATA1",
            Self::DaaIssuerSettings => "TPM_DAA_ISSUER_SETTINGS",
            Self::DaaTpmSettings => "TPM_DAA_TPM_SETTINGS",
            Self::DaaStage => "TPM_DAA_STAGE",
            Self::DaaIssuerValidity => "TPM_DAA_ISSUER_VALIDITY",
            Self::DaaWrongW => "TPM_DAA_WRONG_W",
            Self::BadHandle => "TPM_BAD_HANDLE",
            Self::BadDelegate => "TPM_BAD_DELEGATE",
            Self::Badcontext => "TPM_BADCONTEXT",
            Self::Toomanycontexts => "TPM_TOOMANYCONTEXTS",
            Self::MaTicketSignature => "TPM_MA_TICKET_SIGNATURE",
            Self::MaDestination => "TPM_MA_DESTINATION",
            Self::MaSource => "TPM_MA_SOURCE",
            Self::MaAuthority => "TPM_MA_AUTHORITY",
            Self::Permanentek => "TPM_PERMANENTEK",
            Self::BadSignature => "TPM_BAD_SIGNATURE",
            Self::Nocontextspace => "TPM_NOCONTEXTSPACE",
            Self::Retry => "TPM_RETRY",
            Self::NeedsSelftest => "TPM_NEEDS_SELFTEST",
            Self::DoingSelftest => "TPM_DOING_SELFTEST",
            Self::DefendLockRunning => "TPM_DEFEND_LOCK_RUNNING",
        }
    }
}

impl fmt::Display for TpmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#x})", self.name(), self.code())
    }
}

impl From<tpm_engine::wire::WireError> for TpmError {
    /// A parameter area that ends early, has trailing bytes or carries an impossible
    /// length is TPM_BAD_PARAM_SIZE (Part 3 §1: paramSize inconsistent).
    fn from(_: tpm_engine::wire::WireError) -> Self {
        Self::BadParamSize
    }
}

/// The result type of every command handler.
pub type TpmResult<T> = Result<T, TpmError>;
