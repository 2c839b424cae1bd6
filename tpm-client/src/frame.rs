//! Moving one command and checking the response's framing (both families).
//!
//! TPM 1.2 Part 3 §1 and TPM 2.0 Part 1 §18.9 share the header `tag u16 | size u32 |
//! code u32`. What a transport returns is checked here once — long enough, not absurdly
//! long, size field equal to the bytes received — before either family's parser looks
//! at the tag or the body. Commands and responses can carry secrets (passwords, sealed
//! data, the unsealed root), so both live in zeroizing buffers.

use alloc::vec::Vec;

use tpm_engine::wire::Header;
use zeroize::Zeroizing;

use crate::{Error, Malformed, Transport};

/// The largest response accepted, in bytes. TPM 2.0 PC Client TPMs answer at most
/// TPM_PT_MAX_RESPONSE_SIZE (4096 on every part known); TPM 1.2 TIS parts less. Twice
/// that leaves room for an unusual part and still refuses a runaway transport.
pub const MAX_RESPONSE: usize = 8192;

/// A response whose framing was checked.
pub(crate) struct Response {
    bytes: Zeroizing<Vec<u8>>,
    /// The response tag.
    pub tag: u16,
    /// The return code.
    pub rc: u32,
}

impl Response {
    /// The bytes after the header.
    pub fn body(&self) -> &[u8] {
        self.bytes.get(Header::LEN..).unwrap_or_default()
    }
}

/// Checks a response's framing and returns `(tag, return code)`.
pub(crate) fn check(bytes: &[u8]) -> Result<(u16, u32), Malformed> {
    if bytes.len() < Header::LEN {
        return Err(Malformed::Short { len: bytes.len() });
    }
    if bytes.len() > MAX_RESPONSE {
        return Err(Malformed::TooLarge { len: bytes.len() });
    }
    let header = Header::parse(bytes).map_err(|_| {
        // Header::parse refuses both directions of a size mismatch; report the numbers.
        let size = bytes.get(2..6).and_then(|s| s.try_into().ok()).map_or(0, u32::from_be_bytes);
        Malformed::SizeMismatch { header: size, actual: bytes.len() }
    })?;
    Ok((header.tag, header.code))
}

/// Sends `command` and checks the response's framing. `code` names the command in
/// errors.
pub(crate) fn exchange<T: Transport>(
    transport: &mut T,
    code: u32,
    command: &[u8],
) -> Result<Response, Error<T::Error>> {
    let bytes = Zeroizing::new(transport.transmit(command).map_err(Error::Transport)?);
    let (tag, rc) = check(&bytes).map_err(|m| Error::malformed(code, m))?;
    Ok(Response { bytes, tag, rc })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn check_short_response_is_short() {
        assert_eq!(check(&[0x80, 0x01, 0, 0]), Err(Malformed::Short { len: 4 }));
    }

    #[test]
    fn check_size_field_larger_than_bytes_is_mismatch() {
        let bytes = [0x80, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
        assert_eq!(check(&bytes), Err(Malformed::SizeMismatch { header: u32::MAX, actual: 10 }));
    }

    #[test]
    fn check_size_field_smaller_than_bytes_is_mismatch() {
        let bytes = [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0, 0xAA];
        assert_eq!(check(&bytes), Err(Malformed::SizeMismatch { header: 10, actual: 11 }));
    }

    #[test]
    fn check_oversized_response_is_too_large() {
        let mut bytes = vec![0u8; MAX_RESPONSE + 1];
        bytes[..6].copy_from_slice(&[0x80, 0x01, 0, 0, 0x20, 0x01]);
        assert_eq!(check(&bytes), Err(Malformed::TooLarge { len: MAX_RESPONSE + 1 }));
    }

    #[test]
    fn check_well_formed_header_gives_tag_and_code() {
        let bytes = [0x00, 0xC4, 0, 0, 0, 10, 0, 0, 0, 0x1E];
        assert_eq!(check(&bytes), Ok((0x00C4, 0x1E)));
    }
}
