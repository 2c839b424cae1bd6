//! Requests: what a vTPM sends and the manager parses (spec §3.2–3.4).

use crate::frame::{Header, Reader, Writer};
use crate::{Error, Hashkey, Uuid, ordinal, tag};

/// Which request a message is, independent of its parameters. The client keeps it to
/// parse the answer ([`crate::Response::parse`]), since a response does not repeat
/// its ordinal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `VTPM_ORD_SAVEHASHKEY`.
    SaveHashKey,
    /// `VTPM_ORD_LOADHASHKEY`.
    LoadHashKey,
    /// `VTPM_ORD_GET_BOOT_HASH`.
    GetBootHash,
    /// `VTPM_ORD_GET_QUOTE`.
    GetQuote,
    /// `TPM_ORD_GetRandom` passthrough.
    GetRandom,
    /// `TPM_ORD_PcrRead` passthrough.
    PcrRead,
    /// `TPM_ORD_Extend` passthrough.
    Extend,
    /// `VTPM_ORD_VTPM_LIST` (management).
    VtpmList,
    /// `VTPM_ORD_VTPM_NEW` (management).
    VtpmNew,
    /// `VTPM_ORD_VTPM_DEL` (management).
    VtpmDel,
}

impl Command {
    /// Every command, for tests and tools.
    pub const ALL: [Self; 10] = [
        Self::SaveHashKey,
        Self::LoadHashKey,
        Self::GetBootHash,
        Self::GetQuote,
        Self::GetRandom,
        Self::PcrRead,
        Self::Extend,
        Self::VtpmList,
        Self::VtpmNew,
        Self::VtpmDel,
    ];

    /// The request tag: [`tag::REQ`], [`tag::REQ2`] or [`tag::RQU_COMMAND`].
    pub fn tag(self) -> u16 {
        match self {
            Self::SaveHashKey | Self::LoadHashKey | Self::GetBootHash | Self::GetQuote => tag::REQ,
            Self::GetRandom | Self::PcrRead | Self::Extend => tag::RQU_COMMAND,
            Self::VtpmList | Self::VtpmNew | Self::VtpmDel => tag::REQ2,
        }
    }

    /// The ordinal.
    pub fn ordinal(self) -> u32 {
        match self {
            Self::SaveHashKey => ordinal::SAVEHASHKEY,
            Self::LoadHashKey => ordinal::LOADHASHKEY,
            Self::GetBootHash => ordinal::GET_BOOT_HASH,
            Self::GetQuote => ordinal::GET_QUOTE,
            Self::GetRandom => ordinal::TPM_GET_RANDOM,
            Self::PcrRead => ordinal::TPM_PCR_READ,
            Self::Extend => ordinal::TPM_EXTEND,
            Self::VtpmList => ordinal::VTPM_LIST,
            Self::VtpmNew => ordinal::VTPM_NEW,
            Self::VtpmDel => ordinal::VTPM_DEL,
        }
    }

    /// True for the physical-TPM passthrough commands (spec §3.3).
    pub fn is_passthrough(self) -> bool {
        self.tag() == tag::RQU_COMMAND
    }

    /// True for the management commands, which the manager accepts only from a vTPM
    /// with the ADMIN flag (spec §3.4).
    pub fn is_management(self) -> bool {
        self.tag() == tag::REQ2
    }

    /// Resolves a request header's tag and ordinal, with the C manager's dispatch rules
    /// (`vtpmmgr_handle_cmd`).
    pub fn from_header(request_tag: u16, request_ordinal: u32) -> Result<Self, Error> {
        let bad_ordinal = Error::BadOrdinal { tag: request_tag, ordinal: request_ordinal };
        match request_tag {
            tag::REQ => match request_ordinal {
                ordinal::SAVEHASHKEY => Ok(Self::SaveHashKey),
                ordinal::LOADHASHKEY => Ok(Self::LoadHashKey),
                ordinal::GET_BOOT_HASH => Ok(Self::GetBootHash),
                ordinal::GET_QUOTE => Ok(Self::GetQuote),
                _ => Err(bad_ordinal),
            },
            tag::REQ2 => match request_ordinal {
                ordinal::VTPM_LIST => Ok(Self::VtpmList),
                ordinal::VTPM_NEW => Ok(Self::VtpmNew),
                ordinal::VTPM_DEL => Ok(Self::VtpmDel),
                o if ordinal::is_known_unsupported(o) => Err(Error::NotSupported(o)),
                _ => Err(bad_ordinal),
            },
            tag::RQU_COMMAND | tag::RQU_AUTH1_COMMAND | tag::RQU_AUTH2_COMMAND => {
                let command = match request_ordinal {
                    ordinal::TPM_GET_RANDOM => Self::GetRandom,
                    ordinal::TPM_PCR_READ => Self::PcrRead,
                    ordinal::TPM_EXTEND => Self::Extend,
                    o => return Err(Error::PassthroughDisabled(o)),
                };
                // None of the three takes an authorisation session (TPM 1.2 Part 3
                // §16.1, §16.2, §13.6), so an AUTH tag is one the hardware TPM would
                // refuse with TPM_BADTAG; refuse it here instead of forwarding it.
                if request_tag == tag::RQU_COMMAND {
                    Ok(command)
                } else {
                    Err(Error::BadTag(request_tag))
                }
            }
            other => Err(Error::BadTag(other)),
        }
    }
}

/// GET_QUOTE parameters (spec §3.2; `VTPM_GetParentQuote` in `vtpm_cmd.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteRequest<'a> {
    /// `externData`: 20 bytes the quote covers.
    pub nonce: [u8; 20],
    /// The `pcrSelect` bytes of a TPM_PCR_SELECTION (its u16 `sizeOfSelect` is their
    /// length).
    pub pcr_selection: &'a [u8],
    /// Bit mask of the `FLAG_*` constants.
    pub flags: u32,
}

impl QuoteRequest<'_> {
    /// `VTPM_QUOTE_FLAGS_HASH_UUID`.
    pub const FLAG_HASH_UUID: u32 = 0x1;
    /// `VTPM_QUOTE_FLAGS_VTPM_MEASUREMENTS`.
    pub const FLAG_VTPM_MEASUREMENTS: u32 = 0x2;
    /// `VTPM_QUOTE_FLAGS_GROUP_INFO`.
    pub const FLAG_GROUP_INFO: u32 = 0x4;
    /// `VTPM_QUOTE_FLAGS_GROUP_PUBKEY`.
    pub const FLAG_GROUP_PUBKEY: u32 = 0x8;
    /// Every defined flag.
    pub const FLAGS_ALL: u32 = 0xF;
}

/// One request, parsed. Byte slices borrow from the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// SAVEHASHKEY: store this key material (spec §3.2).
    SaveHashKey(Hashkey),
    /// LOADHASHKEY: return the stored key material.
    LoadHashKey,
    /// GET_BOOT_HASH: return the manager's 20-byte measurement of the caller.
    GetBootHash,
    /// GET_QUOTE: a hardware-TPM quote for the caller.
    GetQuote(QuoteRequest<'a>),
    /// TPM_GetRandom passthrough: up to `bytes_requested` random bytes.
    GetRandom {
        /// `bytesRequested`.
        bytes_requested: u32,
    },
    /// TPM_PcrRead passthrough.
    PcrRead {
        /// `pcrIndex`.
        index: u32,
    },
    /// TPM_Extend passthrough (ADMIN vTPM only).
    Extend {
        /// `pcrNum`.
        index: u32,
        /// `inDigest`.
        digest: [u8; 20],
    },
    /// VTPM_LIST: the UUIDs of a group's vTPMs, from `offset` on.
    VtpmList {
        /// Group index.
        group: u32,
        /// How many UUIDs to skip.
        offset: u32,
    },
    /// VTPM_NEW: create a vTPM entry (with this UUID, or a random one).
    VtpmNew {
        /// Group index.
        group: u32,
        /// The UUID to use (the request is then exactly 30 bytes).
        uuid: Option<Uuid>,
    },
    /// VTPM_DEL: delete a vTPM entry.
    VtpmDel {
        /// The vTPM to delete.
        uuid: Uuid,
    },
}

impl<'a> Request<'a> {
    /// Parses one whole request (header included).
    pub fn parse(message: &'a [u8]) -> Result<Self, Error> {
        let (header, body) = Header::split(message)?;
        let command = Command::from_header(header.tag, header.code)?;
        let wrong_length = Error::BodyLength { ordinal: header.code, len: body.len() };
        let mut r = Reader::new(body);
        let request = match command {
            // 52 to 64 bytes (vtpmmgr_SaveHashKey).
            Command::SaveHashKey => {
                Self::SaveHashKey(Hashkey::new(body).map_err(|_| wrong_length)?)
            }
            Command::LoadHashKey if body.is_empty() => Self::LoadHashKey,
            Command::GetBootHash if body.is_empty() => Self::GetBootHash,
            Command::GetQuote => {
                let nonce = *r.array::<20>()?;
                let select_len = usize::from(r.u16()?);
                let pcr_selection = r.bytes(select_len)?;
                let flags = r.u32()?;
                r.finish()?;
                if flags & !QuoteRequest::FLAGS_ALL != 0 {
                    return Err(Error::BadQuoteFlags(flags));
                }
                Self::GetQuote(QuoteRequest { nonce, pcr_selection, flags })
            }
            // TPM 1.2 Part 3 §13.6: exactly a u32 count (the C manager checks 14 bytes).
            Command::GetRandom if body.len() == 4 => Self::GetRandom { bytes_requested: r.u32()? },
            // TPM 1.2 Part 3 §16.2: a u32 PCR index.
            Command::PcrRead if body.len() == 4 => Self::PcrRead { index: r.u32()? },
            // TPM 1.2 Part 3 §16.1: a u32 PCR index and a 20-byte digest.
            Command::Extend if body.len() == 24 => {
                Self::Extend { index: r.u32()?, digest: *r.array::<20>()? }
            }
            Command::VtpmList if body.len() == 8 => {
                Self::VtpmList { group: r.u32()?, offset: r.u32()? }
            }
            // A group index, then a UUID only if the request is exactly 30 bytes
            // (vtpmmgr_VtpmNew).
            Command::VtpmNew if body.len() == 4 => Self::VtpmNew { group: r.u32()?, uuid: None },
            Command::VtpmNew if body.len() == 20 => {
                Self::VtpmNew { group: r.u32()?, uuid: Some(Uuid(*r.array::<16>()?)) }
            }
            Command::VtpmDel if body.len() == 16 => Self::VtpmDel { uuid: Uuid(*r.array::<16>()?) },
            _ => return Err(wrong_length),
        };
        Ok(request)
    }

    /// Which command this is.
    pub fn command(&self) -> Command {
        match self {
            Self::SaveHashKey(_) => Command::SaveHashKey,
            Self::LoadHashKey => Command::LoadHashKey,
            Self::GetBootHash => Command::GetBootHash,
            Self::GetQuote(_) => Command::GetQuote,
            Self::GetRandom { .. } => Command::GetRandom,
            Self::PcrRead { .. } => Command::PcrRead,
            Self::Extend { .. } => Command::Extend,
            Self::VtpmList { .. } => Command::VtpmList,
            Self::VtpmNew { .. } => Command::VtpmNew,
            Self::VtpmDel { .. } => Command::VtpmDel,
        }
    }

    /// Writes the whole request into `out` and returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        let command = self.command();
        let body_len = match self {
            Self::SaveHashKey(key) => key.as_bytes().len(),
            Self::LoadHashKey | Self::GetBootHash => 0,
            Self::GetQuote(q) => 20usize
                .checked_add(2)
                .and_then(|n| n.checked_add(q.pcr_selection.len()))
                .and_then(|n| n.checked_add(4))
                .ok_or(Error::MessageTooLarge)?,
            Self::GetRandom { .. } | Self::PcrRead { .. } => 4,
            Self::Extend { .. } => 24,
            Self::VtpmList { .. } => 8,
            Self::VtpmNew { uuid: None, .. } => 4,
            Self::VtpmNew { uuid: Some(_), .. } => 20,
            Self::VtpmDel { .. } => 16,
        };
        let mut w = Writer::new(out, command.tag(), command.ordinal(), body_len)?;
        match self {
            Self::SaveHashKey(key) => {
                w.bytes(key.as_bytes())?;
            }
            Self::LoadHashKey | Self::GetBootHash => {}
            Self::GetQuote(q) => {
                let select_len =
                    u16::try_from(q.pcr_selection.len()).map_err(|_| Error::MessageTooLarge)?;
                w.bytes(&q.nonce)?.u16(select_len)?.bytes(q.pcr_selection)?.u32(q.flags)?;
            }
            Self::GetRandom { bytes_requested: value } | Self::PcrRead { index: value } => {
                w.u32(*value)?;
            }
            Self::Extend { index, digest } => {
                w.u32(*index)?.bytes(digest)?;
            }
            Self::VtpmList { group, offset } => {
                w.u32(*group)?.u32(*offset)?;
            }
            Self::VtpmNew { group, uuid } => {
                w.u32(*group)?;
                if let Some(uuid) = uuid {
                    w.bytes(&uuid.0)?;
                }
            }
            Self::VtpmDel { uuid } => {
                w.bytes(&uuid.0)?;
            }
        }
        w.finish()
    }
}
