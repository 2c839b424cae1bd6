//! Test helpers (feature `test-utils`): a scripted transport, response builders, and
//! the hostile-TPM exercise the fuzz target runs.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use tpm_engine::wire::Writer;

use crate::{Config, HardwareTpm, MonotonicCounter, PcrSelection, SealedRoot, Transport};

/// The script ran out of responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScriptEnd;

impl fmt::Display for ScriptEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no more scripted responses")
    }
}

/// A transport that answers each command with the next response of a list and records
/// every command it was given.
#[derive(Clone, Debug, Default)]
pub struct ScriptedTransport {
    responses: VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
}

impl ScriptedTransport {
    /// A transport that will answer with `responses`, in order.
    pub fn new(responses: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Self { responses: responses.into_iter().collect(), sent: Vec::new() }
    }

    /// A transport whose responses are cut from `data`: each is a big-endian `u16`
    /// length followed by that many bytes (what the fuzz target feeds).
    pub fn from_chunks(data: &[u8]) -> Self {
        let mut responses = VecDeque::new();
        let mut rest = data;
        while let Some((len, tail)) = rest.split_first_chunk::<2>() {
            let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
            let (chunk, tail) = tail.split_at(len);
            responses.push_back(chunk.to_vec());
            rest = tail;
        }
        Self { responses, sent: Vec::new() }
    }

    /// Adds a response at the end of the script.
    pub fn push(&mut self, response: Vec<u8>) {
        self.responses.push_back(response);
    }

    /// The commands sent so far.
    pub fn sent(&self) -> &[Vec<u8>] {
        &self.sent
    }

    /// Responses not used yet.
    pub fn remaining(&self) -> usize {
        self.responses.len()
    }
}

impl Transport for ScriptedTransport {
    type Error = ScriptEnd;

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, ScriptEnd> {
        self.sent.push(command.to_vec());
        self.responses.pop_front().ok_or(ScriptEnd)
    }
}

/// A complete response: `tag | size | code | body`.
pub fn response(tag: u16, code: u32, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::with_capacity(10 + body.len());
    let size = u32::try_from(10 + body.len()).unwrap_or(u32::MAX);
    w.u16(tag).u32(size).u32(code).bytes(body);
    w.into_vec()
}

/// Drives every operation of the client against a TPM whose responses come from
/// `data` (see [`ScriptedTransport::from_chunks`]), and parses `data` as a sealed root.
/// Whatever the bytes, nothing may panic; this is the fuzz target's body.
pub fn exercise_hostile_tpm(data: &[u8]) {
    let _ = SealedRoot::from_bytes(data);
    let transport = ScriptedTransport::from_chunks(data);
    let Ok(mut tpm) = HardwareTpm::detect(transport, Config::default()) else {
        return;
    };
    let mut random = [0u8; 40];
    let _ = tpm.random(&mut random);
    let _ = tpm.pcr_read(7);
    let selection = PcrSelection::from_mask(0x81).unwrap_or_default();
    if let Ok(sealed) = tpm.seal_root(&[0x5A; 32], selection) {
        let _ = SealedRoot::from_bytes(&sealed.to_bytes());
        let _ = tpm.unseal_root(&sealed);
    }
    let _ = tpm.read();
    let _ = tpm.increment();
}
