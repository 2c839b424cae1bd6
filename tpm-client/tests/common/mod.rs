//! swtpm as the hardware TPM, through the shared harness.

#![allow(dead_code)]

use std::io;

pub use swtpm_harness::{Kind, StateDir, Swtpm};

/// swtpm's data channel as the client's transport.
#[derive(Debug)]
pub struct SwtpmTransport(pub swtpm_harness::SwtpmTransport);

impl tpm_client::Transport for SwtpmTransport {
    type Error = io::ErrorKind;

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, io::ErrorKind> {
        self.0.transmit(command)
    }
}

/// A client transport to `swtpm`.
pub fn transport(swtpm: &Swtpm) -> SwtpmTransport {
    SwtpmTransport(swtpm.transport())
}

/// Sends raw command bytes and returns the raw response (for checks the client does not
/// offer, e.g. extending a PCR of a TPM 2.0 at another locality).
pub fn raw(transport: &mut SwtpmTransport, command: &[u8]) -> Vec<u8> {
    swtpm_harness::raw(&mut transport.0, command)
}
