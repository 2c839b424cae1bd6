//! The xenstore wire protocol (io/xs_wire.h): message header, types, payloads, errors.
//!
//! A message is a 16-byte header `{type, req_id, tx_id, len}` (native-endian u32s)
//! followed by `len ≤ 4096` payload bytes, usually NUL-terminated strings. Everything
//! here is pure: the client (`crate::store`) moves bytes through the ring, this module
//! says what they mean. Replies are hostile enough to be fuzzed (fuzz target
//! `xenstore_reply`): every length is checked, nothing panics.

use crate::abi::xenstore::PAYLOAD_MAX;
use crate::platform::DomainId;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Bytes of a message header (`struct xsd_sockmsg`).
pub const HEADER_LEN: usize = 16;

/// `enum xsd_sockmsg_type`. XS_RESTRICT (20) was removed from Xen and is not a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MessageType {
    /// XS_CONTROL (formerly XS_DEBUG).
    Control = 0,
    /// XS_DIRECTORY: list a node's children.
    Directory = 1,
    /// XS_READ.
    Read = 2,
    /// XS_GET_PERMS.
    GetPerms = 3,
    /// XS_WATCH.
    Watch = 4,
    /// XS_UNWATCH.
    Unwatch = 5,
    /// XS_TRANSACTION_START.
    TransactionStart = 6,
    /// XS_TRANSACTION_END.
    TransactionEnd = 7,
    /// XS_INTRODUCE (toolstack only).
    Introduce = 8,
    /// XS_RELEASE (toolstack only).
    Release = 9,
    /// XS_GET_DOMAIN_PATH.
    GetDomainPath = 10,
    /// XS_WRITE.
    Write = 11,
    /// XS_MKDIR.
    Mkdir = 12,
    /// XS_RM.
    Rm = 13,
    /// XS_SET_PERMS.
    SetPerms = 14,
    /// XS_WATCH_EVENT: asynchronous, `path NUL token NUL`.
    WatchEvent = 15,
    /// XS_ERROR: the request failed; the payload is an errno name.
    Error = 16,
    /// XS_IS_DOMAIN_INTRODUCED.
    IsDomainIntroduced = 17,
    /// XS_RESUME.
    Resume = 18,
    /// XS_SET_TARGET.
    SetTarget = 19,
    /// XS_RESET_WATCHES.
    ResetWatches = 21,
    /// XS_DIRECTORY_PART.
    DirectoryPart = 22,
    /// XS_GET_FEATURE (Xen 4.19).
    GetFeature = 23,
    /// XS_SET_FEATURE (Xen 4.19).
    SetFeature = 24,
    /// XS_GET_QUOTA (Xen 4.19).
    GetQuota = 25,
    /// XS_SET_QUOTA (Xen 4.19).
    SetQuota = 26,
}

impl MessageType {
    /// Parses a wire value.
    pub fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::Control,
            1 => Self::Directory,
            2 => Self::Read,
            3 => Self::GetPerms,
            4 => Self::Watch,
            5 => Self::Unwatch,
            6 => Self::TransactionStart,
            7 => Self::TransactionEnd,
            8 => Self::Introduce,
            9 => Self::Release,
            10 => Self::GetDomainPath,
            11 => Self::Write,
            12 => Self::Mkdir,
            13 => Self::Rm,
            14 => Self::SetPerms,
            15 => Self::WatchEvent,
            16 => Self::Error,
            17 => Self::IsDomainIntroduced,
            18 => Self::Resume,
            19 => Self::SetTarget,
            21 => Self::ResetWatches,
            22 => Self::DirectoryPart,
            23 => Self::GetFeature,
            24 => Self::SetFeature,
            25 => Self::GetQuota,
            26 => Self::SetQuota,
            _ => return None,
        })
    }
}

/// Why bytes from xenstored are not a valid message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The header's type is not an `xsd_sockmsg_type`.
    UnknownType(u32),
    /// The header announces more than XENSTORE_PAYLOAD_MAX bytes.
    PayloadTooLong(u32),
    /// A reply's req_id is not the one of the request waiting for it.
    UnexpectedReqId {
        /// The id of the request in flight.
        expected: u32,
        /// The id in the reply.
        found: u32,
    },
    /// A reply's type is neither the request's nor XS_ERROR.
    UnexpectedType(u32),
    /// The payload does not have the shape its type requires.
    MalformedPayload,
    /// The ring's indices say more bytes are in flight than the ring holds.
    RingIndex,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType(t) => write!(f, "unknown xenstore message type {t}"),
            Self::PayloadTooLong(len) => {
                write!(f, "xenstore payload of {len} bytes exceeds {PAYLOAD_MAX}")
            }
            Self::UnexpectedReqId { expected, found } => {
                write!(f, "xenstore reply for request {found}, expected {expected}")
            }
            Self::UnexpectedType(t) => write!(f, "xenstore reply of unexpected type {t}"),
            Self::MalformedPayload => f.write_str("malformed xenstore payload"),
            Self::RingIndex => f.write_str("xenstore ring indices out of range"),
        }
    }
}

/// A message header (`struct xsd_sockmsg`), validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The message type.
    pub kind: MessageType,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id, 0 outside a transaction.
    pub tx_id: u32,
    /// Payload length, at most [`PAYLOAD_MAX`].
    pub len: u32,
}

fn word(bytes: &[u8; HEADER_LEN], index: usize) -> u32 {
    let mut out = [0u8; 4];
    if let Some(field) = bytes.get(index * 4..index * 4 + 4) {
        out.copy_from_slice(field);
    }
    u32::from_ne_bytes(out)
}

impl Header {
    /// The header as sent on the ring.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        for (chunk, value) in
            out.chunks_exact_mut(4).zip([self.kind as u32, self.req_id, self.tx_id, self.len])
        {
            chunk.copy_from_slice(&value.to_ne_bytes());
        }
        out
    }

    /// Parses and validates a header: the type must be known and the payload length
    /// at most XENSTORE_PAYLOAD_MAX.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, WireError> {
        let raw_kind = word(bytes, 0);
        let kind = MessageType::from_u32(raw_kind).ok_or(WireError::UnknownType(raw_kind))?;
        let len = word(bytes, 3);
        if usize::try_from(len).map_or(true, |len| len > PAYLOAD_MAX) {
            return Err(WireError::PayloadTooLong(len));
        }
        Ok(Self { kind, req_id: word(bytes, 1), tx_id: word(bytes, 2), len })
    }
}

/// A whole message: header and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// `header.len` bytes.
    pub payload: Vec<u8>,
}

/// Builds a request: header plus the concatenation of `parts`. Fails if the payload
/// exceeds XENSTORE_PAYLOAD_MAX.
pub fn encode_request(
    kind: MessageType,
    req_id: u32,
    tx_id: u32,
    parts: &[&[u8]],
) -> Option<Vec<u8>> {
    let len = parts.iter().try_fold(0usize, |sum, part| sum.checked_add(part.len()))?;
    if len > PAYLOAD_MAX {
        return None;
    }
    let header = Header { kind, req_id, tx_id, len: u32::try_from(len).ok()? };
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(&header.encode());
    for part in parts {
        out.extend_from_slice(part);
    }
    Some(out)
}

/// Reassembles messages from the response stream, which arrives in pieces of any size
/// (a 4 KiB payload does not fit the 1 KiB ring at once).
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes received that do not yet form a whole message.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Appends bytes read from the ring.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole message, `Ok(None)` if more bytes are needed. An invalid header
    /// is an error and leaves the stream unusable (there is no way to find the next
    /// message boundary).
    pub fn next_message(&mut self) -> Result<Option<Message>, WireError> {
        let Some(header_bytes) = self.buffer.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let header = Header::decode(header_bytes)?;
        // `len` ≤ 4096 was just checked, so these cannot overflow.
        let end = HEADER_LEN + header.len as usize;
        if self.buffer.len() < end {
            return Ok(None);
        }
        let payload = self.buffer.get(HEADER_LEN..end).map(<[u8]>::to_vec).unwrap_or_default();
        self.buffer.drain(..end);
        Ok(Some(Message { header, payload }))
    }
}

/// xenstored's errno names (xs_wire.h `xsd_errors`, plus oxenstored's EQUOTA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrno {
    /// EINVAL: malformed request.
    Invalid,
    /// EACCES: permission denied.
    AccessDenied,
    /// EEXIST: the node exists (mkdir of an existing node, or a duplicate watch).
    Exists,
    /// EISDIR.
    IsDirectory,
    /// ENOENT: no such node (or transaction).
    NoEntry,
    /// ENOMEM.
    NoMemory,
    /// ENOSPC.
    NoSpace,
    /// EIO.
    Io,
    /// ENOTEMPTY.
    NotEmpty,
    /// ENOSYS: request type not supported.
    NotSupported,
    /// EROFS.
    ReadOnly,
    /// EBUSY.
    Busy,
    /// EAGAIN: the transaction conflicted with another change; retry it.
    Again,
    /// EISCONN.
    AlreadyConnected,
    /// E2BIG: a node, path or transaction exceeds a limit.
    TooBig,
    /// EPERM.
    Permission,
    /// EQUOTA (oxenstored): a per-domain quota is exhausted.
    Quota,
    /// A name this client does not know.
    Unknown,
}

impl StoreErrno {
    const NAMES: [(&'static [u8], Self); 17] = [
        (b"EINVAL", Self::Invalid),
        (b"EACCES", Self::AccessDenied),
        (b"EEXIST", Self::Exists),
        (b"EISDIR", Self::IsDirectory),
        (b"ENOENT", Self::NoEntry),
        (b"ENOMEM", Self::NoMemory),
        (b"ENOSPC", Self::NoSpace),
        (b"EIO", Self::Io),
        (b"ENOTEMPTY", Self::NotEmpty),
        (b"ENOSYS", Self::NotSupported),
        (b"EROFS", Self::ReadOnly),
        (b"EBUSY", Self::Busy),
        (b"EAGAIN", Self::Again),
        (b"EISCONN", Self::AlreadyConnected),
        (b"E2BIG", Self::TooBig),
        (b"EPERM", Self::Permission),
        (b"EQUOTA", Self::Quota),
    ];

    /// Parses an XS_ERROR payload: the name, NUL-terminated (the NUL is optional).
    pub fn parse(payload: &[u8]) -> Self {
        let name = payload.split(|b| *b == 0).next().unwrap_or_default();
        Self::NAMES.iter().find(|(known, _)| *known == name).map_or(Self::Unknown, |(_, e)| *e)
    }

    /// The errno name as xenstored spells it ("ENOENT").
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, e)| *e == self)
            .and_then(|(name, _)| core::str::from_utf8(name).ok())
            .unwrap_or("unknown error")
    }
}

impl fmt::Display for StoreErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Access another domain has to a node (the first letter of a permission string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// `n`: none.
    None,
    /// `r`: read.
    Read,
    /// `w`: write.
    Write,
    /// `b`: read and write.
    Both,
}

/// One entry of a node's permission list. The first entry names the owner and the
/// access every domain not listed gets; later entries grant `access` to `domain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Permission {
    /// The domain.
    pub domain: DomainId,
    /// What it may do.
    pub access: Access,
}

impl Permission {
    /// Parses `"r5"`-style text.
    pub fn parse(text: &[u8]) -> Option<Self> {
        let (first, rest) = text.split_first()?;
        let access = match first {
            b'n' => Access::None,
            b'r' => Access::Read,
            b'w' => Access::Write,
            b'b' => Access::Both,
            _ => return None,
        };
        let domain = u16::try_from(parse_decimal(core::str::from_utf8(rest).ok()?)?).ok()?;
        Some(Self { domain: DomainId(domain), access })
    }

    /// The wire form (`"r5"`).
    pub fn encode(&self) -> String {
        let letter = match self.access {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        };
        alloc::format!("{letter}{}", self.domain.0)
    }
}

/// Splits a payload of NUL-terminated strings (XS_DIRECTORY, XS_GET_PERMS replies).
/// Every string must be terminated and valid UTF-8; an empty payload is an empty list.
pub fn split_strings(payload: &[u8]) -> Result<Vec<&str>, WireError> {
    let Some(body) = payload.strip_suffix(&[0]) else {
        return if payload.is_empty() { Ok(Vec::new()) } else { Err(WireError::MalformedPayload) };
    };
    body.split(|b| *b == 0)
        .map(|s| core::str::from_utf8(s).map_err(|_| WireError::MalformedPayload))
        .collect()
}

/// Parses an XS_DIRECTORY reply into child names. Names are single path components:
/// non-empty and without `/`.
pub fn parse_directory(payload: &[u8]) -> Result<Vec<String>, WireError> {
    split_strings(payload)?
        .into_iter()
        .map(|name| {
            if name.is_empty() || name.contains('/') {
                Err(WireError::MalformedPayload)
            } else {
                Ok(String::from(name))
            }
        })
        .collect()
}

/// Parses an XS_GET_PERMS reply.
pub fn parse_permissions(payload: &[u8]) -> Result<Vec<Permission>, WireError> {
    let list = split_strings(payload)?;
    if list.is_empty() {
        return Err(WireError::MalformedPayload);
    }
    list.into_iter()
        .map(|p| Permission::parse(p.as_bytes()).ok_or(WireError::MalformedPayload))
        .collect()
}

/// Parses an XS_TRANSACTION_START reply: a decimal id, NUL-terminated. Id 0 means "no
/// transaction" and is refused.
pub fn parse_transaction_id(payload: &[u8]) -> Result<u32, WireError> {
    let text = payload.strip_suffix(&[0]).unwrap_or(payload);
    let text = core::str::from_utf8(text).map_err(|_| WireError::MalformedPayload)?;
    let id = parse_decimal(text).and_then(|v| u32::try_from(v).ok());
    id.filter(|id| *id != 0).ok_or(WireError::MalformedPayload)
}

/// A watch firing: which node changed, and the token the watch was set with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The node that changed (relative if the watch was set with a relative path).
    pub path: String,
    /// The watch's token.
    pub token: String,
}

/// Parses an XS_WATCH_EVENT payload: `path NUL token NUL`. (Newer xenstoreds may
/// append fields; they are ignored.)
pub fn parse_watch_event(payload: &[u8]) -> Result<WatchEvent, WireError> {
    let mut parts = payload.split(|b| *b == 0);
    let (Some(path), Some(token)) = (parts.next(), parts.next()) else {
        return Err(WireError::MalformedPayload);
    };
    // `split` yields a last piece after the final NUL; fewer than two NULs means the
    // token was not terminated.
    if payload.iter().filter(|b| **b == 0).count() < 2 || path.is_empty() {
        return Err(WireError::MalformedPayload);
    }
    let text = |bytes: &[u8]| {
        core::str::from_utf8(bytes).map(String::from).map_err(|_| WireError::MalformedPayload)
    };
    Ok(WatchEvent { path: text(path)?, token: text(token)? })
}

/// Checks an "OK" acknowledgement (XS_WRITE, XS_MKDIR, XS_RM, XS_WATCH, ...).
pub fn parse_ack(payload: &[u8]) -> Result<(), WireError> {
    match payload {
        b"OK\0" | b"OK" => Ok(()),
        _ => Err(WireError::MalformedPayload),
    }
}

/// Parses an unsigned decimal number as xenstore nodes hold them: ASCII digits only
/// (no sign, no spaces, no leading zeros except "0" itself, so that two spellings never
/// name the same device), at most `u64`.
pub fn parse_decimal(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || (bytes.len() > 1 && bytes.first() == Some(&b'0')) {
        return None;
    }
    bytes.iter().try_fold(0u64, |value, digit| {
        let d = digit.checked_sub(b'0').filter(|d| *d <= 9)?;
        value.checked_mul(10)?.checked_add(u64::from(d))
    })
}
