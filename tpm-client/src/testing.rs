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

/// The answers of a healthy, started TPM 2.0 to what [`HardwareTpm::detect`] sends: the
/// family probe, the Startup check (TPM2_GetCapability twice), 32 random bytes for the
/// nonce generator, and "RSA is implemented".
pub fn tpm2_detection_script() -> Vec<Vec<u8>> {
    let mut properties = Writer::new();
    properties.u8(0).u32(6).u32(1).u32(0x129).u32(100);
    let mut random = Writer::new();
    random.u16(32).bytes(&[0x33; 32]);
    let mut algs = Writer::new();
    algs.u8(0).u32(0).u32(1).u16(1).u32(9);
    let no_sessions = 0x8001;
    alloc::vec![
        response(no_sessions, 0, properties.as_slice()),
        response(no_sessions, 0, properties.as_slice()),
        response(no_sessions, 0, random.as_slice()),
        response(no_sessions, 0, algs.as_slice()),
    ]
}

/// Drives every operation of the client against a TPM whose responses come from
/// `data` and parses `data` as a sealed root; whatever the bytes, nothing may panic.
/// This is the fuzz target's body. An odd first byte puts the answers of a healthy
/// TPM 2.0's detection ([`tpm2_detection_script`]) before the responses cut from the
/// rest (see [`ScriptedTransport::from_chunks`]), so the fuzzer starts past detection.
pub fn exercise_hostile_tpm(data: &[u8]) {
    let _ = SealedRoot::from_bytes(data);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut transport = ScriptedTransport::from_chunks(rest);
    if mode & 1 == 1 {
        let mut script: VecDeque<Vec<u8>> = tpm2_detection_script().into();
        script.append(&mut transport.responses);
        transport.responses = script;
    }
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
