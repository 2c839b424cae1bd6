//! The data channel: one raw TPM command in, its response out.
//!
//! A command is framed by its own header (`tag u16 | size u32 | code u32`, TPM 1.2
//! Part 3 §1, TPM 2.0 Part 1 §18): the 10 header bytes are read, then `size - 10`
//! more. A TPM 2.0 command may instead arrive behind the TCG simulator's
//! send-command prefix (`TPM_SEND_COMMAND u32 = 8 | locality u8 | size u32`), which
//! swtpm accepts on its data channel too; its answer then carries a `u32` size in
//! front and a `u32` zero acknowledgement behind.

use std::io::{self, Read};
use tpm_engine::Family;
use tpm_engine::wire::Header;

/// `TPM_SEND_COMMAND` of the TCG simulator protocol (swtpm `TPM2_SEND_COMMAND`).
const TCG_SEND_COMMAND: u32 = 8;
/// `TPM_ST_NO_SESSIONS`.
const TPM2_ST_NO_SESSIONS: u16 = 0x8001;
/// `TPM_ST_SESSIONS`.
const TPM2_ST_SESSIONS: u16 = 0x8002;
/// `TPM_TAG_RSP_COMMAND`.
const TPM12_TAG_RSP_COMMAND: u16 = 0x00c4;

/// One framed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The complete command, header included.
    pub command: Vec<u8>,
    /// The locality from the TCG prefix, if the command came with one.
    pub prefix_locality: Option<u8>,
}

impl Frame {
    /// Wraps `response` the way this command's framing requires.
    pub fn wrap(&self, response: Vec<u8>) -> Vec<u8> {
        wrap(self.prefix_locality.is_some(), response)
    }
}

/// Why no command could be framed.
#[derive(Debug)]
pub enum FrameError {
    /// The client closed the connection (cleanly between commands, or mid-command).
    Closed,
    /// The connection failed.
    Io(io::Error),
    /// The size field is smaller than a header: the stream cannot be followed any
    /// further. Answer with [`size_error`] and close.
    Undersized {
        /// Whether the command came behind the TCG prefix.
        prefixed: bool,
    },
    /// The size field exceeds the engine's buffer. The body has not been read:
    /// discard `excess` bytes to stay in step, then answer with [`size_error`].
    Oversized {
        /// Whether the command came behind the TCG prefix.
        prefixed: bool,
        /// Bytes still to come for this command.
        excess: u64,
    },
}

/// Reads the next command. `max` bounds the size field (the engine's buffer size);
/// nothing larger is ever allocated.
pub fn read_frame<R: Read>(r: &mut R, family: Family, max: usize) -> Result<Frame, FrameError> {
    let mut head = [0u8; Header::LEN];
    fill(r, &mut head)?;
    let mut prefix_locality = None;
    if family == Family::Tpm20 && is_tcg_prefix(&head) {
        // Prefix: cmd u32, locality u8, size u32. Byte 9 already starts the command.
        prefix_locality = Some(head[4]);
        let first = head[9];
        head = [0u8; Header::LEN];
        head[0] = first;
        fill(r, &mut head[1..])?;
    }
    let prefixed = prefix_locality.is_some();
    let size = u32::from_be_bytes([head[2], head[3], head[4], head[5]]);
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size < Header::LEN {
        return Err(FrameError::Undersized { prefixed });
    }
    if size > max {
        let excess = u64::try_from(size - Header::LEN).unwrap_or(u64::MAX);
        return Err(FrameError::Oversized { prefixed, excess });
    }
    let mut command = vec![0u8; size];
    command[..Header::LEN].copy_from_slice(&head);
    fill(r, &mut command[Header::LEN..])?;
    Ok(Frame { command, prefix_locality })
}

/// swtpm's test (`tpmlib_handle_tcg_tpm2_cmd_header`): not a TPM 2.0 command tag,
/// and the first word is TPM_SEND_COMMAND.
fn is_tcg_prefix(head: &[u8; Header::LEN]) -> bool {
    let tag = u16::from_be_bytes([head[0], head[1]]);
    let word = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    tag != TPM2_ST_NO_SESSIONS && tag != TPM2_ST_SESSIONS && word == TCG_SEND_COMMAND
}

/// Reads exactly `buf.len()` bytes; end of stream anywhere is [`FrameError::Closed`].
fn fill<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), FrameError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => FrameError::Closed,
        _ => FrameError::Io(e),
    })
}

/// Adds the TCG prefix's framing to a response when the command had it.
pub fn wrap(prefixed: bool, response: Vec<u8>) -> Vec<u8> {
    if !prefixed {
        return response;
    }
    let len = u32::try_from(response.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(response.len().saturating_add(8));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&response);
    out.extend_from_slice(&0u32.to_be_bytes());
    out
}

/// The answer to a command whose size field is out of range: TPM_BAD_PARAM_SIZE
/// (TPM 1.2 Part 2 §16) or TPM_RC_COMMAND_SIZE (TPM 2.0 Part 2 §6.6.3).
pub fn size_error(family: Family) -> Vec<u8> {
    match family {
        Family::Tpm12 => Header::error_response(TPM12_TAG_RSP_COMMAND, 0x19),
        Family::Tpm20 => Header::error_response(TPM2_ST_NO_SESSIONS, 0x142),
    }
}

/// The answer while the TPM is stopped or failed: TPM_FAIL / TPM_RC_FAILURE, as
/// swtpm's `tpmlib_write_fatal_error_response`.
pub fn fatal_error(family: Family) -> Vec<u8> {
    match family {
        Family::Tpm12 => Header::error_response(TPM12_TAG_RSP_COMMAND, 0x09),
        Family::Tpm20 => Header::error_response(TPM2_ST_NO_SESSIONS, 0x101),
    }
}

/// The code field of a header: a command's ordinal, a response's return code.
pub fn header_code(message: &[u8]) -> Option<u32> {
    let code: [u8; 4] = message.get(6..10)?.try_into().ok()?;
    Some(u32::from_be_bytes(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    const GET_RANDOM: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 8];

    fn frame(bytes: &[u8], family: Family) -> Result<Frame, FrameError> {
        read_frame(&mut Cursor::new(bytes.to_vec()), family, 4096)
    }

    #[test]
    fn reads_exactly_one_command() {
        let mut stream = GET_RANDOM.to_vec();
        stream.extend_from_slice(&GET_RANDOM);
        let mut cursor = Cursor::new(stream);
        for _ in 0..2 {
            let f = read_frame(&mut cursor, Family::Tpm20, 4096).unwrap();
            assert_eq!(f.command, GET_RANDOM);
            assert_eq!(f.prefix_locality, None);
        }
        assert!(matches!(read_frame(&mut cursor, Family::Tpm20, 4096), Err(FrameError::Closed)));
    }

    #[test]
    fn tcg_prefix_sets_locality_and_wraps_the_answer() {
        let mut stream = vec![0, 0, 0, 8, 3, 0, 0, 0, 12];
        stream.extend_from_slice(&GET_RANDOM);
        let f = frame(&stream, Family::Tpm20).unwrap();
        assert_eq!(f.command, GET_RANDOM);
        assert_eq!(f.prefix_locality, Some(3));
        assert_eq!(f.wrap(vec![1, 2]), [0, 0, 0, 2, 1, 2, 0, 0, 0, 0]);
    }

    #[test]
    fn tcg_prefix_is_not_recognised_for_tpm12() {
        let mut stream = vec![0, 0, 0, 8, 3, 0, 0, 0, 12];
        stream.extend_from_slice(&GET_RANDOM);
        // As TPM 1.2, the size field (0x0008_0300...) reads as huge.
        assert!(matches!(frame(&stream, Family::Tpm12), Err(FrameError::Oversized { .. })));
    }

    #[test]
    fn size_below_header_is_undersized() {
        let bytes = [0x80, 0x01, 0, 0, 0, 9, 0, 0, 1, 0x7b];
        assert!(matches!(
            frame(&bytes, Family::Tpm20),
            Err(FrameError::Undersized { prefixed: false })
        ));
    }

    #[test]
    fn size_above_buffer_is_oversized_with_the_excess() {
        let bytes = [0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0x7b];
        match frame(&bytes, Family::Tpm20) {
            Err(FrameError::Oversized { excess, .. }) => assert_eq!(excess, 0xffff_ffff - 10),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_command_is_closed() {
        assert!(matches!(frame(&GET_RANDOM[..11], Family::Tpm20), Err(FrameError::Closed)));
        assert!(matches!(frame(&GET_RANDOM[..3], Family::Tpm20), Err(FrameError::Closed)));
    }

    #[test]
    fn error_answers_are_well_formed() {
        for family in [Family::Tpm12, Family::Tpm20] {
            for answer in [size_error(family), fatal_error(family)] {
                assert!(Header::parse(&answer).is_ok());
            }
        }
        assert_eq!(fatal_error(Family::Tpm20), [0x80, 0x01, 0, 0, 0, 10, 0, 0, 1, 1]);
        assert_eq!(fatal_error(Family::Tpm12), [0, 0xc4, 0, 0, 0, 10, 0, 0, 0, 9]);
    }

    proptest! {
        #[test]
        fn read_frame_never_panics_and_respects_max(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            max in 0usize..80,
            tpm2 in any::<bool>(),
        ) {
            let family = if tpm2 { Family::Tpm20 } else { Family::Tpm12 };
            if let Ok(f) = read_frame(&mut Cursor::new(bytes), family, max) {
                prop_assert!(f.command.len() <= max);
                prop_assert!(Header::parse(&f.command).is_ok());
            }
        }
    }
}
