//! The disk self-test behind vtpm-stubdom's debug option `selftest=blk-write` /
//! `selftest=blk-verify` (docs/drivers.md, boot scenario `blkfront`).
//!
//! [`write`] puts a known text pattern at an offset that is not sector aligned (so
//! the read-modify-write path runs) and long enough for several requests in flight,
//! then flushes; [`verify`] reads it back. The pattern is plain text so the boot
//! scenario can regenerate it in dom0 with one `awk` and compare it with the disk
//! image byte for byte:
//!
//! ```sh
//! awk 'BEGIN { for (k = 0; k < 3000; k++) printf "blk-selftest %08d %s\n", k, "0123456789abcdefghijklmnopqrstuvwxyzABCDE" }'
//! ```

use crate::{Blkfront, Error};
use alloc::vec::Vec;
use core::fmt::Write;
use xenbus::Platform;

/// Where the pattern starts: 1 MiB + 100 bytes (not sector aligned).
pub const OFFSET: u64 = 1_048_676;
/// Records in the pattern.
pub const RECORDS: usize = 3000;
/// Bytes per record (`blk-selftest NNNNNNNN <41 characters>\n`).
pub const RECORD_LEN: usize = 64;
/// The pattern's length: 192,000 bytes, 47 pages, more than one request's 11.
pub const LEN: usize = RECORDS * RECORD_LEN;
/// The text after each record's number.
const FILL: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDE";

/// The pattern: record `k` is `blk-selftest <k as 8 digits> <FILL>\n`.
pub fn pattern() -> Vec<u8> {
    let mut text = alloc::string::String::with_capacity(LEN);
    for k in 0..RECORDS {
        // Writing into a String cannot fail.
        let _ = writeln!(text, "blk-selftest {k:08} {FILL}");
    }
    text.into_bytes()
}

/// Writes the pattern at [`OFFSET`] and flushes.
pub fn write<P: Platform>(disk: &mut Blkfront<P>) -> Result<(), Error> {
    disk.write(OFFSET, &pattern())?;
    disk.flush()
}

/// What [`verify`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The disk holds the pattern.
    Match,
    /// The first byte (relative to [`OFFSET`]) that differs.
    Differs(usize),
}

/// Reads [`LEN`] bytes at [`OFFSET`] and compares them with the pattern.
pub fn verify<P: Platform>(disk: &mut Blkfront<P>) -> Result<Verdict, Error> {
    let mut found = alloc::vec![0u8; LEN];
    disk.read(OFFSET, &mut found)?;
    let expected = pattern();
    Ok(match found.iter().zip(&expected).position(|(a, b)| a != b) {
        None => Verdict::Match,
        Some(at) => Verdict::Differs(at),
    })
}
