//! Responses: what the manager sends and a vTPM parses (spec §3.2–3.4).

use crate::frame::{HEADER_LEN, Header, MAX_MESSAGE, Reader, Writer};
use crate::{Command, Error, Hashkey, ReturnCode, Uuid, tag};

/// The most UUIDs one VTPM_LIST answer carries: what fits in one tpmif page after the
/// header and the u32 total. A client pages through longer lists with the request's
/// offset. (The C manager fills up to 8192 bytes, more than its page can send.)
pub const MAX_VTPM_LIST_UUIDS: usize = (MAX_MESSAGE - HEADER_LEN - 4) / 16;

/// The most random bytes one GetRandom answer carries (TPM 1.2 allows answering with
/// fewer than requested, Part 3 §13.6).
pub const MAX_RANDOM_BYTES: usize = MAX_MESSAGE - HEADER_LEN - 4;

/// A successful answer, parsed. Byte slices borrow from the message. Failures are not
/// responses: [`Response::parse`] returns them as [`Error::Status`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response<'a> {
    /// SAVEHASHKEY acknowledged: the manager has stored the key material. For the vTPM
    /// this is the commit point of a state save.
    SaveHashKey,
    /// LOADHASHKEY: the stored key material (52 or 64 bytes on the wire).
    LoadHashKey(Hashkey),
    /// GET_BOOT_HASH: the manager's 20-byte measurement of the caller (spec §3.5).
    GetBootHash([u8; 20]),
    /// GET_QUOTE: a 256-byte RSA signature, then 20-byte values (the flag hashes, then
    /// the selected PCRs).
    GetQuote {
        /// The hardware TPM's signature.
        signature: &'a [u8; 256],
        /// The hashes and PCR values, in order.
        values: &'a [[u8; 20]],
    },
    /// GetRandom: the random bytes (`randomBytesSize` is their length).
    GetRandom(&'a [u8]),
    /// PcrRead: the PCR's value.
    PcrRead([u8; 20]),
    /// Extend: the PCR's new value (`outDigest`).
    Extend([u8; 20]),
    /// VTPM_LIST: the group's vTPM count and a page of their UUIDs.
    VtpmList {
        /// How many vTPMs the group has in all.
        total: u32,
        /// UUIDs from the requested offset on, at most [`MAX_VTPM_LIST_UUIDS`].
        uuids: &'a [[u8; 16]],
    },
    /// VTPM_NEW: the new vTPM's UUID.
    VtpmNew(Uuid),
    /// VTPM_DEL done.
    VtpmDel,
}

impl<'a> Response<'a> {
    /// Parses the answer to a `command` request. A non-zero status becomes
    /// [`Error::Status`], whatever the body.
    pub fn parse(command: Command, message: &'a [u8]) -> Result<Self, Error> {
        let (header, body) = Header::split(message)?;
        let status = ReturnCode(header.code);
        if !status.is_success() {
            // Error answers come with whatever tag the manager's path chose (request tag
            // + 3 in its dispatcher, VTPM_TAG_RSP in handlers): any response tag will do.
            return if is_response_tag(header.tag) {
                Err(Error::Status(status))
            } else {
                Err(Error::UnexpectedTag(header.tag))
            };
        }
        if header.tag != command.reply_tag() {
            return Err(Error::UnexpectedTag(header.tag));
        }
        let wrong_length = Error::BodyLength { ordinal: command.ordinal(), len: body.len() };
        let mut r = Reader::new(body);
        let response = match command {
            Command::SaveHashKey if body.is_empty() => Self::SaveHashKey,
            // 52 or 64 bytes (vtpmmgr_LoadHashKey).
            Command::LoadHashKey if matches!(body.len(), Hashkey::MIN_LEN | Hashkey::MAX_LEN) => {
                Self::LoadHashKey(Hashkey::new(body)?)
            }
            Command::GetBootHash if body.len() == 20 => Self::GetBootHash(*r.array()?),
            Command::GetQuote if body.len() >= 256 => {
                let signature = r.array::<256>()?;
                let (values, rest) = r.bytes(body.len() - 256)?.as_chunks::<20>();
                if !rest.is_empty() {
                    return Err(wrong_length);
                }
                Self::GetQuote { signature, values }
            }
            Command::GetRandom => {
                let count = usize::try_from(r.u32()?).map_err(|_| Error::Truncated)?;
                let bytes = r.bytes(count)?;
                r.finish()?;
                Self::GetRandom(bytes)
            }
            Command::PcrRead if body.len() == 20 => Self::PcrRead(*r.array()?),
            Command::Extend if body.len() == 20 => Self::Extend(*r.array()?),
            Command::VtpmList if body.len() >= 4 => {
                let total = r.u32()?;
                let (uuids, rest) = r.bytes(body.len() - 4)?.as_chunks::<16>();
                if !rest.is_empty() {
                    return Err(wrong_length);
                }
                Self::VtpmList { total, uuids }
            }
            Command::VtpmNew if body.len() == 16 => Self::VtpmNew(Uuid(*r.array()?)),
            Command::VtpmDel if body.is_empty() => Self::VtpmDel,
            _ => return Err(wrong_length),
        };
        Ok(response)
    }

    /// The command this answers.
    pub fn command(&self) -> Command {
        match self {
            Self::SaveHashKey => Command::SaveHashKey,
            Self::LoadHashKey(_) => Command::LoadHashKey,
            Self::GetBootHash(_) => Command::GetBootHash,
            Self::GetQuote { .. } => Command::GetQuote,
            Self::GetRandom(_) => Command::GetRandom,
            Self::PcrRead(_) => Command::PcrRead,
            Self::Extend(_) => Command::Extend,
            Self::VtpmList { .. } => Command::VtpmList,
            Self::VtpmNew(_) => Command::VtpmNew,
            Self::VtpmDel => Command::VtpmDel,
        }
    }

    /// Writes the whole successful answer into `out` and returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        let command = self.command();
        let body_len = match self {
            Self::SaveHashKey | Self::VtpmDel => 0,
            Self::LoadHashKey(key) => key.load_reply_bytes().len(),
            Self::GetBootHash(_) | Self::PcrRead(_) | Self::Extend(_) => 20,
            Self::GetQuote { values, .. } => {
                { values.len().checked_mul(20).and_then(|n| n.checked_add(256)) }
                    .ok_or(Error::MessageTooLarge)?
            }
            Self::GetRandom(bytes) => {
                if bytes.len() > MAX_RANDOM_BYTES {
                    return Err(Error::MessageTooLarge);
                }
                4 + bytes.len()
            }
            Self::VtpmList { uuids, .. } => {
                if uuids.len() > MAX_VTPM_LIST_UUIDS {
                    return Err(Error::MessageTooLarge);
                }
                4 + uuids.len() * 16
            }
            Self::VtpmNew(_) => 16,
        };
        let mut w = Writer::new(out, command.reply_tag(), ReturnCode::SUCCESS.0, body_len)?;
        match self {
            Self::SaveHashKey | Self::VtpmDel => {}
            Self::LoadHashKey(key) => {
                w.bytes(key.load_reply_bytes())?;
            }
            Self::GetBootHash(digest) | Self::PcrRead(digest) | Self::Extend(digest) => {
                w.bytes(digest)?;
            }
            Self::GetQuote { signature, values } => {
                w.bytes(&signature[..])?;
                for value in *values {
                    w.bytes(value)?;
                }
            }
            Self::GetRandom(bytes) => {
                let count = u32::try_from(bytes.len()).map_err(|_| Error::MessageTooLarge)?;
                w.u32(count)?.bytes(bytes)?;
            }
            Self::VtpmList { total, uuids } => {
                w.u32(*total)?;
                for uuid in *uuids {
                    w.bytes(uuid)?;
                }
            }
            Self::VtpmNew(uuid) => {
                w.bytes(&uuid.0)?;
            }
        }
        w.finish()
    }
}

impl Command {
    /// The tag of a command handler's answer, success or failure: VTPM_TAG_RSP for
    /// vTPM and management commands (the C handlers never use RSP2), TPM_TAG_RSP_COMMAND
    /// for passthrough.
    pub fn reply_tag(self) -> u16 {
        if self.is_passthrough() { tag::RSP_COMMAND } else { tag::RSP }
    }

    /// The tag of a refusal decided before the command runs (a management command
    /// from a vTPM without the ADMIN flag, Extend from a non-ADMIN vTPM): the C
    /// dispatcher answers with the request tag + 3.
    pub fn refusal_tag(self) -> u16 {
        dispatch_tag(self.tag())
    }
}

fn is_response_tag(value: u16) -> bool {
    matches!(
        value,
        tag::RSP | tag::RSP2 | tag::RSP_COMMAND | tag::RSP_AUTH1_COMMAND | tag::RSP_AUTH2_COMMAND
    )
}

/// The C dispatcher's error tag: request tag + 3 (`vtpmmgr_handle_cmd`), with an
/// unknown request tag answered as a plain TPM 1.2 response rather than echoing the
/// peer's garbage + 3.
fn dispatch_tag(request_tag: u16) -> u16 {
    match request_tag {
        tag::REQ => tag::RSP,
        tag::REQ2 => tag::RSP2,
        tag::RQU_AUTH1_COMMAND => tag::RSP_AUTH1_COMMAND,
        tag::RQU_AUTH2_COMMAND => tag::RSP_AUTH2_COMMAND,
        _ => tag::RSP_COMMAND,
    }
}

/// The tag the manager answers a request refused with `error` under, as the C manager
/// does: a message shorter than a header gets TPM_TAG_RSP_COMMAND; refusals before
/// dispatch (framing, tag, ordinal, disallowed passthrough) get the request tag + 3;
/// a malformed body gets VTPM_TAG_RSP for vTPM and management commands and
/// TPM_TAG_RSP_COMMAND for passthrough.
pub fn reply_tag(request: &[u8], error: &Error) -> u16 {
    let request_tag = match request.first_chunk::<2>() {
        Some(bytes) if !matches!(error, Error::TooShort { .. }) => u16::from_be_bytes(*bytes),
        _ => return tag::RSP_COMMAND,
    };
    if error.is_dispatch_level() {
        dispatch_tag(request_tag)
    } else if matches!(request_tag, tag::REQ | tag::REQ2) {
        tag::RSP
    } else {
        tag::RSP_COMMAND
    }
}

/// Writes a 10-byte answer carrying only a status (every error answer has this
/// shape, spec §3.1) and returns its length.
pub fn encode_status(reply_tag: u16, status: ReturnCode, out: &mut [u8]) -> Result<usize, Error> {
    Writer::new(out, reply_tag, status.0, 0)?.finish()
}

/// Writes the manager's answer to a request that [`crate::Request::parse`] refused
/// with `error`: the error's [`Error::return_code`] under [`reply_tag`].
pub fn reject(request: &[u8], error: &Error, out: &mut [u8]) -> Result<usize, Error> {
    encode_status(reply_tag(request, error), error.return_code(), out)
}
