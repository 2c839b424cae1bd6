//! The 10-byte header, and cursors over caller buffers that fail instead of panicking.

use crate::Error;

/// Length of the header every message starts with (`VTPM_COMMAND_HEADER_SIZE`).
pub const HEADER_LEN: usize = 10;

/// The largest message either side sends or accepts: one tpmif v2 page minus its
/// 8-byte header (spec §1.2, §3.1). The C manager sizes some answers for 8192 bytes
/// (`TCPA_MAX_BUFFER_LENGTH`), which the page could never carry; this codec never
/// builds anything larger than the page holds.
pub const MAX_MESSAGE: usize = 4088;

/// A message header: `tag u16 | size u32 | code u32`, big-endian (spec §3.1), where
/// `code` is the ordinal of a request or the status of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The structure tag ([`crate::tag`]).
    pub tag: u16,
    /// The whole message's length in bytes, header included.
    pub size: u32,
    /// Ordinal (request) or [`crate::ReturnCode`] (response).
    pub code: u32,
}

impl Header {
    /// Splits a whole message into its header and body, checking the framing rules
    /// shared by both directions: at least a header (the C manager answers shorter
    /// requests with TPM_BAD_PARAMETER), at most [`MAX_MESSAGE`], and a size field
    /// equal to the message length (the C manager does not check this; it never
    /// receives such a message from a C vTPM).
    pub fn split(message: &[u8]) -> Result<(Self, &[u8]), Error> {
        let len = message.len();
        if len > MAX_MESSAGE {
            return Err(Error::TooLong { len });
        }
        let (head, body) =
            message.split_first_chunk::<HEADER_LEN>().ok_or(Error::TooShort { len })?;
        let mut r = Reader::new(head);
        let header = Self { tag: r.u16()?, size: r.u32()?, code: r.u32()? };
        if usize::try_from(header.size).ok() != Some(len) {
            return Err(Error::SizeMismatch { declared: header.size, len });
        }
        Ok((header, body))
    }
}

/// A cursor over a message body.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], Error> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(Error::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], Error> {
        let (head, tail) = self.rest.split_at_checked(len).ok_or(Error::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(*self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(*self.array()?))
    }

    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.rest.is_empty() { Ok(()) } else { Err(Error::TrailingBytes) }
    }
}

/// Builds one message in a caller buffer. The constructor checks that the whole
/// message fits (so a short buffer fails before anything is written) and writes the
/// header; [`Writer::finish`] checks the body came out at the announced length.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
    size: usize,
}

impl<'a> Writer<'a> {
    /// Starts a message of `body_len` body bytes.
    pub(crate) fn new(
        out: &'a mut [u8],
        tag: u16,
        code: u32,
        body_len: usize,
    ) -> Result<Self, Error> {
        let size = body_len.checked_add(HEADER_LEN).ok_or(Error::MessageTooLarge)?;
        if size > MAX_MESSAGE {
            return Err(Error::MessageTooLarge);
        }
        if out.len() < size {
            return Err(Error::BufferTooSmall { needed: size });
        }
        // MAX_MESSAGE fits a u32, so this conversion cannot fail.
        let size_field = u32::try_from(size).map_err(|_| Error::MessageTooLarge)?;
        let mut w = Self { out, len: 0, size };
        w.u16(tag)?.u32(size_field)?.u32(code)?;
        Ok(w)
    }

    pub(crate) fn bytes(&mut self, data: &[u8]) -> Result<&mut Self, Error> {
        let end = self.len.checked_add(data.len()).filter(|end| *end <= self.size);
        let slot = end.and_then(|end| self.out.get_mut(self.len..end));
        let slot = slot.ok_or(Error::BufferTooSmall { needed: self.size })?;
        slot.copy_from_slice(data);
        self.len += data.len();
        Ok(self)
    }

    pub(crate) fn u16(&mut self, value: u16) -> Result<&mut Self, Error> {
        self.bytes(&value.to_be_bytes())
    }

    pub(crate) fn u32(&mut self, value: u32) -> Result<&mut Self, Error> {
        self.bytes(&value.to_be_bytes())
    }

    /// The message length, once every announced byte was written.
    pub(crate) fn finish(self) -> Result<usize, Error> {
        // A mismatch is a bug in this crate's length arithmetic; report it rather than
        // send a message whose size field lies.
        if self.len == self.size { Ok(self.len) } else { Err(Error::MessageTooLarge) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_short_message_is_too_short() {
        assert_eq!(Header::split(&[0x01, 0xC1, 0, 0, 0]), Err(Error::TooShort { len: 5 }));
    }

    #[test]
    fn split_size_field_must_match() {
        let msg = [0x01, 0xC1, 0, 0, 0, 11, 0, 0, 0, 2];
        assert_eq!(Header::split(&msg), Err(Error::SizeMismatch { declared: 11, len: 10 }));
    }

    #[test]
    fn split_huge_message_is_too_long() {
        let msg = [0u8; MAX_MESSAGE + 1];
        assert_eq!(Header::split(&msg), Err(Error::TooLong { len: MAX_MESSAGE + 1 }));
    }

    #[test]
    fn writer_refuses_short_buffer_before_writing() {
        let mut out = [0xAAu8; 12];
        let err = Writer::new(&mut out, 0x01C1, 1, 4).unwrap_err();
        assert_eq!(err, Error::BufferTooSmall { needed: 14 });
        assert_eq!(out, [0xAA; 12]);
    }

    #[test]
    fn writer_refuses_to_overrun_announced_body() {
        let mut out = [0u8; 32];
        let mut w = Writer::new(&mut out, 0x01C1, 1, 2).unwrap();
        assert!(w.u32(7).is_err());
    }
}
