//! Big-endian (TCG) marshalling that fails instead of panicking.
//!
//! Every TPM structure on the wire is big-endian (TPM 1.2 Part 2 §2.1.1, TPM 2.0 Part 1
//! §18). [`Reader`] walks a borrowed buffer and returns [`WireError`] when a field
//! runs past the end; [`Writer`] builds a response and patches the header's size
//! field once the body is known.

use alloc::vec::Vec;
use core::fmt;

/// A marshalling failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The input ended before the field.
    Truncated,
    /// Bytes were left after the structure.
    TrailingBytes,
    /// A length field exceeds the limit the caller gave.
    TooLarge,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "input truncated",
            Self::TrailingBytes => "trailing bytes",
            Self::TooLarge => "length field too large",
        })
    }
}

/// A cursor over untrusted big-endian input.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.rest.is_empty() { Ok(()) } else { Err(WireError::TrailingBytes) }
    }

    /// The next `len` bytes.
    pub fn bytes(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let (head, tail) = self.rest.split_at_checked(len).ok_or(WireError::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(WireError::Truncated)?;
        self.rest = tail;
        Ok(*head)
    }

    /// A `u8`.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A buffer preceded by a big-endian `u16` length (a TPM2B), at most `max` bytes.
    pub fn sized_u16(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(WireError::TooLarge);
        }
        self.bytes(len)
    }

    /// A buffer preceded by a big-endian `u32` length (TPM 1.2 `...Size` + data), at
    /// most `max` bytes.
    pub fn sized_u32(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(self.u32()?).map_err(|_| WireError::TooLarge)?;
        if len > max {
            return Err(WireError::TooLarge);
        }
        self.bytes(len)
    }
}

/// Builds big-endian output.
#[derive(Clone, Debug, Default)]
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { out: Vec::with_capacity(capacity) }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, data: &[u8]) -> &mut Self {
        self.out.extend_from_slice(data);
        self
    }

    /// Appends a `u8`.
    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.out.push(value);
        self
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Appends a `u16` length and the data (a TPM2B). Fails if `data` is longer than
    /// a `u16` can say.
    pub fn sized_u16(&mut self, data: &[u8]) -> Result<&mut Self, WireError> {
        let len = u16::try_from(data.len()).map_err(|_| WireError::TooLarge)?;
        Ok(self.u16(len).bytes(data))
    }

    /// Appends a `u32` length and the data.
    pub fn sized_u32(&mut self, data: &[u8]) -> Result<&mut Self, WireError> {
        let len = u32::try_from(data.len()).map_err(|_| WireError::TooLarge)?;
        Ok(self.u32(len).bytes(data))
    }

    /// Overwrites a big-endian `u32` written earlier at `offset` (used for size
    /// fields known only at the end). Fails if the four bytes were not written yet.
    pub fn patch_u32(&mut self, offset: usize, value: u32) -> Result<(), WireError> {
        let end = offset.checked_add(4).ok_or(WireError::Truncated)?;
        let slot = self.out.get_mut(offset..end).ok_or(WireError::Truncated)?;
        slot.copy_from_slice(&value.to_be_bytes());
        Ok(())
    }

    /// The bytes written.
    pub fn as_slice(&self) -> &[u8] {
        &self.out
    }

    /// Consumes the writer.
    pub fn into_vec(self) -> Vec<u8> {
        self.out
    }
}

/// A TPM command or response header: `tag u16 | size u32 | code u32`, where code is
/// the ordinal (command) or return code (response). Both TPM families share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The structure tag (TPM_TAG_RQU_COMMAND, TPM_ST_SESSIONS, ...).
    pub tag: u16,
    /// Total size in bytes, header included.
    pub size: u32,
    /// Ordinal / command code, or return code.
    pub code: u32,
}

impl Header {
    /// Header length in bytes.
    pub const LEN: usize = 10;

    /// Reads a header and checks that its size field equals `whole.len()`.
    pub fn parse(whole: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(whole);
        let header = Self { tag: r.u16()?, size: r.u32()?, code: r.u32()? };
        let size = usize::try_from(header.size).map_err(|_| WireError::TooLarge)?;
        if size < Self::LEN || size > whole.len() {
            return Err(WireError::Truncated);
        }
        if size < whole.len() {
            return Err(WireError::TrailingBytes);
        }
        Ok(header)
    }

    /// A complete 10-byte response carrying only `code` (every error response of
    /// both families has this shape).
    pub fn error_response(tag: u16, code: u32) -> Vec<u8> {
        const SIZE: u32 = 10;
        let mut w = Writer::with_capacity(Self::LEN);
        w.u16(tag).u32(SIZE).u32(code);
        w.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reader_reads_fields_in_order() {
        let mut r = Reader::new(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]);
        assert_eq!(r.u8(), Ok(0x01));
        assert_eq!(r.u16(), Ok(0x0203));
        assert_eq!(r.u32(), Ok(0x0405_0607));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn reader_truncated_field_is_an_error() {
        let mut r = Reader::new(&[0x01, 0x02, 0x03]);
        assert_eq!(r.u32(), Err(WireError::Truncated));
        // A failed read consumes nothing.
        assert_eq!(r.remaining(), 3);
    }

    #[test]
    fn sized_u16_over_limit_is_too_large() {
        let mut r = Reader::new(&[0x00, 0x05, 1, 2, 3, 4, 5]);
        assert_eq!(r.sized_u16(4), Err(WireError::TooLarge));
    }

    #[test]
    fn header_size_must_match_length() {
        let mut bytes = Header::error_response(0x00c4, 0x26);
        assert_eq!(Header::parse(&bytes).map(|h| h.code), Ok(0x26));
        bytes.push(0);
        assert_eq!(Header::parse(&bytes), Err(WireError::TrailingBytes));
        assert_eq!(Header::parse(&bytes[..9]), Err(WireError::Truncated));
    }

    #[test]
    fn patch_u32_outside_written_bytes_fails() {
        let mut w = Writer::new();
        w.u16(1);
        assert_eq!(w.patch_u32(0, 5), Err(WireError::Truncated));
        assert_eq!(w.patch_u32(usize::MAX, 5), Err(WireError::Truncated));
    }

    proptest! {
        #[test]
        fn reader_never_panics(input in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..80) {
            let mut r = Reader::new(&input);
            while r.sized_u16(max).is_ok() {}
            let _ = Header::parse(&input);
        }

        #[test]
        fn sized_round_trip(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut w = Writer::new();
            w.sized_u16(&data).unwrap().sized_u32(&data).unwrap();
            let bytes = w.into_vec();
            let mut r = Reader::new(&bytes);
            prop_assert_eq!(r.sized_u16(300).unwrap(), &data[..]);
            prop_assert_eq!(r.sized_u32(300).unwrap(), &data[..]);
            prop_assert!(r.finish().is_ok());
        }
    }
}
