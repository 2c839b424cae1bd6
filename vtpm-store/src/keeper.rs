//! A key keeper that speaks the manager protocol (SAVEHASHKEY / LOADHASHKEY, spec §3.2).

use crate::{Hashkey, KeeperError, KeyKeeper};
use vtpm_proto::{Error as ProtoError, Request, Response, ReturnCode};
use zeroize::Zeroizing;

/// Longest answer the keeper reads: LOADHASHKEY's 10-byte header and 64 bytes, with
/// room to spare so a slightly wrong answer is reported as malformed, not truncated.
const REPLY_BUFFER: usize = 128;

/// One request/response exchange with the manager (tpmfront in the stub domain).
pub trait ManagerChannel {
    /// Sends `request`, waits a bounded time for the answer and copies it into
    /// `reply`, returning its length. Fails with [`KeeperError::Unreachable`] if the
    /// request was not sent, and [`KeeperError::NoAnswer`] if it was sent but no
    /// answer (or one longer than `reply`) came back.
    fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, KeeperError>;
}

/// [`KeyKeeper`] over the manager protocol.
#[derive(Debug)]
pub struct ProtoKeeper<C> {
    channel: C,
}

impl<C: ManagerChannel> ProtoKeeper<C> {
    /// Wraps a channel to the manager.
    pub fn new(channel: C) -> Self {
        Self { channel }
    }

    /// The channel.
    pub fn channel(&mut self) -> &mut C {
        &mut self.channel
    }

    /// Unwraps the channel.
    pub fn into_inner(self) -> C {
        self.channel
    }

    fn exchange<'r>(
        &mut self,
        request: &Request<'_>,
        reply: &'r mut [u8; REPLY_BUFFER],
    ) -> Result<Result<Response<'r>, ProtoError>, KeeperError> {
        // The request may carry key material: keep its buffer wiped.
        let mut buf = Zeroizing::new([0u8; REPLY_BUFFER]);
        // Both requests fit the buffer; failing to encode means nothing was sent.
        let len = request.encode(&mut buf[..]).map_err(|_| KeeperError::Unreachable)?;
        let sent = buf.get(..len).ok_or(KeeperError::Unreachable)?;
        let answer_len = self.channel.transact(sent, reply)?;
        let answer = reply.get(..answer_len).ok_or(KeeperError::NoAnswer)?;
        Ok(Response::parse(request.command(), answer))
    }
}

impl<C: ManagerChannel> KeyKeeper for ProtoKeeper<C> {
    fn save(&mut self, key: &Hashkey) -> Result<(), KeeperError> {
        let mut reply = Zeroizing::new([0u8; REPLY_BUFFER]);
        match self.exchange(&Request::SaveHashKey(key.clone()), &mut reply)? {
            Ok(_) => Ok(()),
            // An error status means the manager stored nothing (vtpmmgr_SaveHashKey
            // checks everything before it copies the key).
            Err(ProtoError::Status(code)) => Err(KeeperError::Refused(code.0)),
            // A garbled answer says nothing about whether the key was stored.
            Err(_) => Err(KeeperError::NoAnswer),
        }
    }

    fn load(&mut self) -> Result<Option<Hashkey>, KeeperError> {
        let mut reply = Zeroizing::new([0u8; REPLY_BUFFER]);
        match self.exchange(&Request::LoadHashKey, &mut reply)? {
            Ok(Response::LoadHashKey(key)) => Ok(Some(key)),
            // The manager answers a vTPM it has no entry for with TPM_BAD_PARAMETER
            // (vtpmmgr_LoadHashKey via find_vtpm_verified).
            Err(ProtoError::Status(ReturnCode::BAD_PARAMETER)) => Ok(None),
            Err(ProtoError::Status(code)) => Err(KeeperError::Refused(code.0)),
            Ok(_) | Err(_) => Err(KeeperError::NoAnswer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A channel that records requests and plays back one scripted answer.
    struct Scripted {
        answer: Result<Vec<u8>, KeeperError>,
        sent: Vec<Vec<u8>>,
    }

    impl ManagerChannel for Scripted {
        fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, KeeperError> {
            self.sent.push(request.to_vec());
            let answer = self.answer.clone()?;
            let slot = reply.get_mut(..answer.len()).ok_or(KeeperError::NoAnswer)?;
            slot.copy_from_slice(&answer);
            Ok(answer.len())
        }
    }

    fn keeper(answer: Result<&[u8], KeeperError>) -> ProtoKeeper<Scripted> {
        ProtoKeeper::new(Scripted { answer: answer.map(<[u8]>::to_vec), sent: Vec::new() })
    }

    const ACK: [u8; 10] = [0x01, 0xC4, 0, 0, 0, 10, 0, 0, 0, 0];

    #[test]
    fn save_sends_savehashkey_and_accepts_the_ack() {
        let mut k = keeper(Ok(&ACK));
        let key = Hashkey::new(&[0x42; 64]).unwrap();
        assert_eq!(k.save(&key), Ok(()));
        let sent = &k.channel().sent[0];
        assert_eq!(sent[..10], [0x01, 0xC1, 0, 0, 0, 74, 0, 0, 0, 1]);
        assert_eq!(sent[10..], [0x42; 64]);
    }

    #[test]
    fn save_error_status_is_a_refusal() {
        let mut k = keeper(Ok(&[0x01, 0xC4, 0, 0, 0, 10, 0, 0, 0, 7]));
        assert_eq!(k.save(&Hashkey::new(&[1; 64]).unwrap()), Err(KeeperError::Refused(7)));
    }

    #[test]
    fn save_with_a_garbled_answer_has_an_unknown_outcome() {
        let mut k = keeper(Ok(&[0x01, 0xC4, 0, 0, 0, 11, 0, 0, 0, 0, 0]));
        assert_eq!(k.save(&Hashkey::new(&[1; 64]).unwrap()), Err(KeeperError::NoAnswer));
    }

    #[test]
    fn load_returns_the_record() {
        let mut answer = Vec::from([0x01, 0xC4, 0, 0, 0, 74, 0, 0, 0, 0]);
        answer.extend_from_slice(&[9; 64]);
        let mut k = keeper(Ok(&answer));
        assert_eq!(k.load(), Ok(Some(Hashkey::new(&[9; 64]).unwrap())));
        assert_eq!(k.channel().sent[0], [0x01, 0xC1, 0, 0, 0, 10, 0, 0, 0, 2]);
    }

    #[test]
    fn load_of_an_unknown_vtpm_is_none() {
        let mut k = keeper(Ok(&[0x01, 0xC4, 0, 0, 0, 10, 0, 0, 0, 3]));
        assert_eq!(k.load(), Ok(None));
    }

    #[test]
    fn load_refusal_and_channel_errors_pass_through() {
        assert_eq!(
            keeper(Ok(&[0x01, 0xC4, 0, 0, 0, 10, 0, 0, 0, 7])).load(),
            Err(KeeperError::Refused(7))
        );
        assert_eq!(keeper(Err(KeeperError::Unreachable)).load(), Err(KeeperError::Unreachable));
        assert_eq!(keeper(Ok(&ACK)).load(), Err(KeeperError::NoAnswer));
    }
}
