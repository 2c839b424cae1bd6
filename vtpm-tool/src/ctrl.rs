//! swtpm's control channel: command numbers, result codes and message layouts.
//!
//! Every message is a big-endian `u32` command number followed by the request part
//! of the command's `ptm_*` structure; the answer is the response part, which
//! starts with a `u32` result code in TPM 1.2 numbering, whatever the TPM family
//! (swtpm `include/swtpm/tpm_ioctl.h`, "Commands used by the non-CUSE TPMs").
//!
//! swtpm reads a command as one message: it takes whatever the first read returns
//! (at most [`INPUT_MAX`] bytes), then keeps reading for at most
//! [`RECEIVE_DEADLINE`] until the bytes its table says the command needs
//! ([`needed`]) are there, and then checks the size of what arrived per command
//! (`src/swtpm/ctrlchannel.c`). The functions here are that table and those checks,
//! free of I/O so they can be fuzzed; `server` does the reading.

use std::time::Duration;

/// Command numbers (`tpm_ioctl.h`, `CMD_*`).
pub mod cmd {
    /// Which commands are supported (`ptm_cap_n`).
    pub const GET_CAPABILITY: u32 = 0x01;
    /// Restart the TPM (_TPM_Init), optionally deleting the stored volatile state.
    pub const INIT: u32 = 0x02;
    /// Stop the TPM and end the process.
    pub const SHUTDOWN: u32 = 0x03;
    /// Read the tpmEstablished flag.
    pub const GET_TPMESTABLISHED: u32 = 0x04;
    /// Set the locality of the following data-channel commands.
    pub const SET_LOCALITY: u32 = 0x05;
    /// _TPM_Hash_Start.
    pub const HASH_START: u32 = 0x06;
    /// _TPM_Hash_Data.
    pub const HASH_DATA: u32 = 0x07;
    /// _TPM_Hash_End.
    pub const HASH_END: u32 = 0x08;
    /// Cancel the command in progress.
    pub const CANCEL_TPM_CMD: u32 = 0x09;
    /// Keep a copy of the volatile state for the next CMD_INIT.
    pub const STORE_VOLATILE: u32 = 0x0a;
    /// Clear the tpmEstablished flag (locality 3 or 4).
    pub const RESET_TPMESTABLISHED: u32 = 0x0b;
    /// Read a state blob.
    pub const GET_STATEBLOB: u32 = 0x0c;
    /// Write a state blob (TPM stopped).
    pub const SET_STATEBLOB: u32 = 0x0d;
    /// Stop the TPM, keep the process.
    pub const STOP: u32 = 0x0e;
    /// Which state encryption keys are in use.
    pub const GET_CONFIG: u32 = 0x0f;
    /// Take the data channel as a passed file descriptor (Unix sockets).
    pub const SET_DATAFD: u32 = 0x10;
    /// Query or set the TPM's I/O buffer size.
    pub const SET_BUFFERSIZE: u32 = 0x11;
    /// Implementation information as JSON.
    pub const GET_INFO: u32 = 0x12;
}

/// Result codes (TPM 1.2 Part 2 §16; libtpms `tpm_error.h`).
pub mod rc {
    /// Success.
    pub const SUCCESS: u32 = 0;
    /// A malformed request (wrong size for the command).
    pub const BAD_PARAMETER: u32 = 3;
    /// The operation failed.
    pub const FAIL: u32 = 9;
    /// Unknown command, or not allowed in the TPM's current run state.
    pub const BAD_ORDINAL: u32 = 10;
    /// An encrypted blob was offered and no key is configured.
    pub const KEYNOTFOUND: u32 = 13;
    /// TPM 1.2: _TPM_Hash_Data or _TPM_Hash_End without _TPM_Hash_Start.
    pub const SHA_THREAD: u32 = 26;
    /// The data channel cannot be set, or the connection broke mid-command.
    pub const IOERROR: u32 = 31;
    /// Locality out of range, or not allowed for the operation.
    pub const BAD_LOCALITY: u32 = 61;
    /// Non-fatal: the requested state blob does not exist (swtpm answers this for a
    /// state file that is not there; clients take it as "empty").
    pub const RETRY: u32 = 0x800;
}

/// Capability bits answered to CMD_GET_CAPABILITY (`PTM_CAP_*`).
pub mod cap {
    /// CMD_INIT.
    pub const INIT: u32 = 1;
    /// CMD_SHUTDOWN.
    pub const SHUTDOWN: u32 = 1 << 1;
    /// CMD_GET_TPMESTABLISHED.
    pub const GET_TPMESTABLISHED: u32 = 1 << 2;
    /// CMD_SET_LOCALITY.
    pub const SET_LOCALITY: u32 = 1 << 3;
    /// CMD_HASH_START / DATA / END.
    pub const HASHING: u32 = 1 << 4;
    /// CMD_CANCEL_TPM_CMD.
    pub const CANCEL_TPM_CMD: u32 = 1 << 5;
    /// CMD_STORE_VOLATILE.
    pub const STORE_VOLATILE: u32 = 1 << 6;
    /// CMD_RESET_TPMESTABLISHED.
    pub const RESET_TPMESTABLISHED: u32 = 1 << 7;
    /// CMD_GET_STATEBLOB.
    pub const GET_STATEBLOB: u32 = 1 << 8;
    /// CMD_SET_STATEBLOB.
    pub const SET_STATEBLOB: u32 = 1 << 9;
    /// CMD_STOP.
    pub const STOP: u32 = 1 << 10;
    /// CMD_GET_CONFIG.
    pub const GET_CONFIG: u32 = 1 << 11;
    /// CMD_SET_DATAFD.
    pub const SET_DATAFD: u32 = 1 << 12;
    /// CMD_SET_BUFFERSIZE.
    pub const SET_BUFFERSIZE: u32 = 1 << 13;
    /// CMD_GET_INFO.
    pub const GET_INFO: u32 = 1 << 14;
    /// TPM 2.0 data-channel commands may carry the TCG (MS simulator) send-command
    /// prefix.
    pub const SEND_COMMAND_HEADER: u32 = 1 << 15;

    /// Everything this server implements for either family (swtpm 0.7's set).
    pub const COMMON: u32 = INIT
        | SHUTDOWN
        | GET_TPMESTABLISHED
        | SET_LOCALITY
        | HASHING
        | CANCEL_TPM_CMD
        | STORE_VOLATILE
        | RESET_TPMESTABLISHED
        | GET_STATEBLOB
        | SET_STATEBLOB
        | STOP
        | GET_CONFIG
        | SET_DATAFD
        | SET_BUFFERSIZE
        | GET_INFO;
}

/// `init_flags` bit of CMD_INIT: forget the stored volatile state after using it.
pub const INIT_FLAG_DELETE_VOLATILE: u32 = 1;
/// `state_flags` bit of CMD_SET_STATEBLOB (request) / CMD_GET_STATEBLOB (response):
/// the blob is encrypted with the state key.
pub const STATE_FLAG_ENCRYPTED: u32 = 2;
/// `GET_INFO` flag: the TPM specification implemented.
pub const INFO_TPMSPECIFICATION: u64 = 1;
/// `GET_INFO` flag: manufacturer, version and model.
pub const INFO_TPMATTRIBUTES: u64 = 1 << 1;

/// The largest message swtpm reads in one go: the command number and a `ptm_hdata`
/// (4-byte length + 4096 data bytes), its largest request structure.
pub const INPUT_MAX: usize = 4 + 4 + HASH_DATA_MAX;
/// The data bytes of one `ptm_hdata`; continuation reads of CMD_HASH_DATA take at
/// most this many bytes at a time.
pub const HASH_DATA_MAX: usize = 4096;
/// swtpm refuses state blobs larger than this ("Unreasonable large state").
pub const STATE_BLOB_MAX: u32 = 512 * 1024;
/// At most this many bytes of the info string travel in one CMD_GET_INFO answer
/// (`PTM_GETINFO_SIZE`).
pub const GETINFO_MAX: usize = 3 * 1024;
/// How long the rest of a message may take once its first bytes arrived.
pub const RECEIVE_DEADLINE: Duration = Duration::from_millis(500);

/// Size of the fixed request part of CMD_GET_STATEBLOB / CMD_SET_STATEBLOB
/// (flags, type, offset or length).
const STATEBLOB_REQ: usize = 12;
/// Size of the request part of CMD_GET_INFO (flags `u64`, offset, pad).
const GETINFO_REQ: usize = 16;

/// How many bytes swtpm waits for before it processes a message whose first bytes
/// are `received` (`ctrlchannel_recv_cmd`). Commands not in its table, and the
/// fixed-size ones it does not list, are taken as soon as the command number is
/// there.
pub fn needed(received: &[u8]) -> usize {
    let Some(code) = be_u32(received, 0) else { return 4 };
    match code {
        cmd::INIT => 4 + 4,
        cmd::SET_LOCALITY | cmd::RESET_TPMESTABLISHED => 4 + 1,
        cmd::GET_STATEBLOB => 4 + STATEBLOB_REQ,
        // Header, then as many data bytes as the header announces.
        cmd::HASH_DATA => announced(received, 4, 4),
        cmd::SET_STATEBLOB => announced(received, STATEBLOB_REQ, 12),
        _ => 4,
    }
}

/// `4 + header` until the header is complete, then `4 + header + length`, reading
/// the `u32` length at byte `length_at` of the message.
fn announced(received: &[u8], header: usize, length_at: usize) -> usize {
    let fixed = 4 + header;
    match be_u32(received, length_at) {
        Some(len) if received.len() >= fixed => {
            fixed.saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
        }
        _ => fixed,
    }
}

/// A control-channel request whose size checks passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// CMD_GET_CAPABILITY.
    GetCapability,
    /// CMD_INIT with its `init_flags`.
    Init {
        /// `init_flags` ([`INIT_FLAG_DELETE_VOLATILE`]).
        flags: u32,
    },
    /// CMD_SHUTDOWN.
    Shutdown,
    /// CMD_GET_TPMESTABLISHED.
    GetTpmEstablished,
    /// CMD_SET_LOCALITY.
    SetLocality {
        /// The requested locality (not yet range-checked).
        locality: u8,
    },
    /// CMD_HASH_START.
    HashStart,
    /// CMD_HASH_DATA: `total` bytes to hash, of which `first` came with the message.
    HashData {
        /// The announced length.
        total: u32,
        /// The data bytes received with the message.
        first: &'a [u8],
    },
    /// CMD_HASH_END.
    HashEnd,
    /// CMD_CANCEL_TPM_CMD.
    CancelTpmCmd,
    /// CMD_STORE_VOLATILE.
    StoreVolatile,
    /// CMD_RESET_TPMESTABLISHED.
    ResetTpmEstablished {
        /// The locality to act as (not yet range-checked).
        locality: u8,
    },
    /// CMD_GET_STATEBLOB.
    GetStateBlob {
        /// Blob type (`PTM_BLOB_TYPE_*`, not yet validated).
        kind: u32,
        /// Where in the blob to start.
        offset: u32,
    },
    /// CMD_SET_STATEBLOB: a blob of `total` bytes, of which `first` came with the
    /// message.
    SetStateBlob {
        /// `state_flags` ([`STATE_FLAG_ENCRYPTED`]).
        flags: u32,
        /// Blob type (`PTM_BLOB_TYPE_*`, not yet validated).
        kind: u32,
        /// The announced blob length.
        total: u32,
        /// The blob bytes received with the message.
        first: &'a [u8],
    },
    /// CMD_STOP.
    Stop,
    /// CMD_GET_CONFIG.
    GetConfig,
    /// CMD_SET_DATAFD (the descriptor travels beside the bytes).
    SetDataFd,
    /// CMD_SET_BUFFERSIZE; 0 queries.
    SetBufferSize {
        /// Requested size, or 0.
        size: u32,
    },
    /// CMD_GET_INFO.
    GetInfo {
        /// `SWTPM_INFO_*` flags.
        flags: u64,
        /// Where in the info string to start.
        offset: u32,
    },
    /// A command number this server does not implement.
    Unknown(u32),
}

/// Why a message is answered with TPM_BAD_PARAMETER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadInput;

/// A received message split into its command number and the size-checked request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The command number.
    pub code: u32,
    /// The request, or why its size is wrong. Whether a command may run in the
    /// TPM's current state is checked by the caller first (swtpm answers
    /// TPM_BAD_ORDINAL for that before looking at sizes).
    pub request: Result<Request<'a>, BadInput>,
}

impl Message<'_> {
    /// True for commands swtpm refuses with TPM_BAD_ORDINAL while the TPM is stopped.
    pub fn needs_running(&self) -> bool {
        matches!(
            self.code,
            cmd::GET_TPMESTABLISHED
                | cmd::RESET_TPMESTABLISHED
                | cmd::HASH_START
                | cmd::HASH_DATA
                | cmd::HASH_END
                | cmd::CANCEL_TPM_CMD
                | cmd::STORE_VOLATILE
                | cmd::GET_STATEBLOB
        )
    }
}

/// Splits a message as swtpm's `ctrlchannel_process_fd` does. `None` if not even
/// the command number arrived (answered with TPM_BAD_PARAMETER).
pub fn parse(msg: &[u8]) -> Option<Message<'_>> {
    let (code, body) = msg.split_first_chunk::<4>()?;
    let code = u32::from_be_bytes(*code);
    // "wo" commands take no request part; "rw" ones need at least theirs.
    let empty = |r: Request<'static>| if body.is_empty() { Ok(r) } else { Err(BadInput) };
    let request = match code {
        cmd::GET_CAPABILITY => Ok(Request::GetCapability),
        cmd::INIT => match <[u8; 4]>::try_from(body) {
            Ok(flags) => Ok(Request::Init { flags: u32::from_be_bytes(flags) }),
            Err(_) => Err(BadInput),
        },
        cmd::SHUTDOWN => empty(Request::Shutdown),
        cmd::GET_TPMESTABLISHED => empty(Request::GetTpmEstablished),
        cmd::SET_LOCALITY => {
            body.first().map(|&locality| Request::SetLocality { locality }).ok_or(BadInput)
        }
        cmd::HASH_START => empty(Request::HashStart),
        cmd::HASH_DATA => parse_hash_data(body),
        cmd::HASH_END => empty(Request::HashEnd),
        cmd::CANCEL_TPM_CMD => empty(Request::CancelTpmCmd),
        cmd::STORE_VOLATILE => empty(Request::StoreVolatile),
        cmd::RESET_TPMESTABLISHED => {
            body.first().map(|&locality| Request::ResetTpmEstablished { locality }).ok_or(BadInput)
        }
        cmd::GET_STATEBLOB => match (be_u32(body, 4), be_u32(body, 8)) {
            (Some(kind), Some(offset)) => Ok(Request::GetStateBlob { kind, offset }),
            _ => Err(BadInput),
        },
        cmd::SET_STATEBLOB => parse_set_state_blob(body),
        cmd::STOP => empty(Request::Stop),
        cmd::GET_CONFIG => empty(Request::GetConfig),
        cmd::SET_DATAFD => Ok(Request::SetDataFd),
        cmd::SET_BUFFERSIZE => {
            be_u32(body, 0).map(|size| Request::SetBufferSize { size }).ok_or(BadInput)
        }
        cmd::GET_INFO => match (body.first_chunk::<8>(), be_u32(body, 8)) {
            (Some(flags), Some(offset)) if body.len() >= GETINFO_REQ => {
                Ok(Request::GetInfo { flags: u64::from_be_bytes(*flags), offset })
            }
            _ => Err(BadInput),
        },
        other => Ok(Request::Unknown(other)),
    };
    Some(Message { code, request })
}

fn parse_hash_data(body: &[u8]) -> Result<Request<'_>, BadInput> {
    let (len, first) = body.split_first_chunk::<4>().ok_or(BadInput)?;
    let total = u32::from_be_bytes(*len);
    // More bytes than announced: swtpm refuses ("remain < n").
    if u32::try_from(first.len()).map_or(true, |n| n > total) {
        return Err(BadInput);
    }
    Ok(Request::HashData { total, first })
}

fn parse_set_state_blob(body: &[u8]) -> Result<Request<'_>, BadInput> {
    let (Some(flags), Some(kind), Some(total)) =
        (be_u32(body, 0), be_u32(body, 4), be_u32(body, 8))
    else {
        return Err(BadInput);
    };
    let first = body.get(STATEBLOB_REQ..).unwrap_or_default();
    Ok(Request::SetStateBlob { flags, kind, total, first })
}

/// A `u32` at `offset`, if the slice is long enough.
fn be_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let field: [u8; 4] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u32::from_be_bytes(field))
}

/// A bare result code: the answer of most commands (`ptm_res`).
pub fn result(code: u32) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

/// Concatenates big-endian `u32` fields: the fixed-size answers.
pub fn words(fields: &[u32]) -> Vec<u8> {
    fields.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// The CMD_GET_TPMESTABLISHED answer (`ptm_est`: result, bit, 3 bytes padding).
pub fn established(bit: bool) -> Vec<u8> {
    let mut out = result(rc::SUCCESS);
    out.extend_from_slice(&[u8::from(bit), 0, 0, 0]);
    out
}

/// The CMD_GET_STATEBLOB answer: result, flags (never encrypted here), the
/// remaining length twice (`totlength` and `length`: swtpm sends everything from
/// `offset` on in one answer), then the bytes. An error sends only the header.
pub fn state_blob(result_code: u32, blob: &[u8], offset: u32) -> Vec<u8> {
    let rest = usize::try_from(offset).ok().and_then(|o| blob.get(o..)).unwrap_or_default();
    let rest = if result_code == rc::SUCCESS { rest } else { &[] };
    // A blob never exceeds what a u32 holds (snapshots are bounded far below).
    let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
    let mut out = words(&[result_code, 0, len, len]);
    out.extend_from_slice(rest);
    out
}

/// The CMD_GET_INFO answer for `info` (a JSON string; the NUL terminator is part
/// of what travels), starting at `offset`. `None` if the offset is past the end
/// (answered with TPM_BAD_PARAMETER).
pub fn info(info: &str, offset: u32) -> Option<Vec<u8>> {
    let offset = usize::try_from(offset).ok()?;
    if offset >= info.len() {
        return None;
    }
    let mut text = info.as_bytes().to_vec();
    text.push(0);
    let chunk = text.get(offset..)?;
    let chunk = chunk.get(..GETINFO_MAX.min(chunk.len()))?;
    let total = u32::try_from(text.len()).ok()?;
    let len = u32::try_from(chunk.len()).ok()?;
    let mut out = words(&[rc::SUCCESS, total, len]);
    out.extend_from_slice(chunk);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(code: u32, body: &[u8]) -> Vec<u8> {
        let mut m = code.to_be_bytes().to_vec();
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn needed_follows_swtpm_table() {
        assert_eq!(needed(&[0, 0]), 4);
        assert_eq!(needed(&msg(cmd::INIT, &[])), 8);
        assert_eq!(needed(&msg(cmd::SET_LOCALITY, &[])), 5);
        assert_eq!(needed(&msg(cmd::GET_STATEBLOB, &[])), 16);
        assert_eq!(needed(&msg(cmd::GET_INFO, &[])), 4);
        assert_eq!(needed(&msg(cmd::HASH_DATA, &[0, 0])), 8);
        assert_eq!(needed(&msg(cmd::HASH_DATA, &[0, 0, 1, 0])), 8 + 256);
        assert_eq!(needed(&msg(cmd::SET_STATEBLOB, &[0; 11])), 16);
        assert_eq!(needed(&msg(cmd::SET_STATEBLOB, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9])), 25);
        assert_eq!(needed(&msg(0x99, &[])), 4);
    }

    #[test]
    fn parse_write_only_commands_refuse_a_body() {
        for code in [cmd::SHUTDOWN, cmd::GET_TPMESTABLISHED, cmd::HASH_START, cmd::STOP] {
            assert!(parse(&msg(code, &[])).unwrap().request.is_ok());
            assert_eq!(parse(&msg(code, &[0])).unwrap().request, Err(BadInput));
        }
    }

    #[test]
    fn parse_init_needs_exactly_the_flags() {
        assert_eq!(
            parse(&msg(cmd::INIT, &[0, 0, 0, 1])).unwrap().request,
            Ok(Request::Init { flags: 1 })
        );
        assert_eq!(parse(&msg(cmd::INIT, &[0, 0, 1])).unwrap().request, Err(BadInput));
        assert_eq!(parse(&msg(cmd::INIT, &[0; 5])).unwrap().request, Err(BadInput));
    }

    #[test]
    fn parse_hash_data_refuses_more_than_announced() {
        let good = msg(cmd::HASH_DATA, &[0, 0, 0, 5, b'a', b'b']);
        let expected = Request::HashData { total: 5, first: b"ab" };
        assert_eq!(parse(&good).unwrap().request, Ok(expected));
        let bad = msg(cmd::HASH_DATA, &[0, 0, 0, 1, b'a', b'b']);
        assert_eq!(parse(&bad).unwrap().request, Err(BadInput));
    }

    #[test]
    fn parse_short_message_is_none() {
        assert!(parse(&[0, 0, 1]).is_none());
    }

    #[test]
    fn parse_unknown_keeps_its_number() {
        assert_eq!(parse(&msg(0x13, &[0; 4])).unwrap().request, Ok(Request::Unknown(0x13)));
    }

    #[test]
    fn state_blob_answer_starts_at_offset() {
        assert_eq!(state_blob(0, b"abcdef", 4), [words(&[0, 0, 2, 2]), b"ef".to_vec()].concat());
        assert_eq!(state_blob(0, b"abc", 9), words(&[0, 0, 0, 0]));
        assert_eq!(state_blob(rc::RETRY, b"abc", 0), words(&[rc::RETRY, 0, 0, 0]));
    }

    #[test]
    fn info_answer_includes_the_terminator() {
        assert_eq!(info("{}", 0).unwrap(), [words(&[0, 3, 3]), b"{}\0".to_vec()].concat());
        assert_eq!(info("{}", 1).unwrap(), [words(&[0, 3, 2]), b"}\0".to_vec()].concat());
        assert!(info("{}", 2).is_none());
    }

    proptest! {
        #[test]
        fn parse_and_needed_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = needed(&bytes);
            if let Some(m) = parse(&bytes) {
                let _ = m.needs_running();
            }
        }

        #[test]
        fn needed_is_at_least_the_command_number(code in 0u32..0x20, tail in proptest::collection::vec(any::<u8>(), 0..24)) {
            let m = msg(code, &tail);
            prop_assert!(needed(&m) >= 4);
        }
    }
}
