//! Shared-ring index arithmetic (io/ring.h), both ends, over [`PeerMemory`].
//!
//! Indices are free-running `u32`s: a producer only ever increments its index, slots
//! are `index & (size - 1)`, and distances are `wrapping_sub`s, so wrap-around at 2^32
//! needs no special case. What the peer publishes is checked before use: a frontend
//! that claims more requests than the ring has slots, or a backend that claims more
//! responses than requests outstanding, is an error ([`RingError`]) and the caller
//! disconnects (ring.h `RING_REQUEST_PROD_OVERFLOW`, "ill-behaved frontend").
//! Each index the peer writes is read once per pass into a local.

use crate::abi::ring::{ENTRIES, REQ_EVENT, REQ_PROD, RSP_EVENT, RSP_PROD};
use crate::platform::{OutOfBounds, PeerMemory};
use core::fmt;

/// The peer's indices are impossible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The frontend's `req_prod` is more than a ring ahead of our responses.
    RequestOverflow {
        /// Requests the index claims are waiting.
        claimed: u32,
        /// Slots in the ring.
        size: u32,
    },
    /// The backend's `rsp_prod` claims more responses than requests are outstanding.
    ResponseOverflow {
        /// Responses the index claims are waiting.
        claimed: u32,
        /// Requests we have outstanding.
        outstanding: u32,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RequestOverflow { claimed, size } => {
                write!(f, "peer claims {claimed} requests on a ring of {size}")
            }
            Self::ResponseOverflow { claimed, outstanding } => {
                write!(f, "peer claims {claimed} responses with {outstanding} requests outstanding")
            }
        }
    }
}

/// Bytes in flight on a byte ring (the xenstore rings) whose producer is at `prod` and
/// consumer at `cons`; more than `size` is impossible.
pub fn byte_ring_used(prod: u32, cons: u32, size: u32) -> Option<u32> {
    let used = prod.wrapping_sub(cons);
    (used <= size).then_some(used)
}

/// ring.h's notification rule (`RING_PUSH_*_AND_CHECK_NOTIFY`): the peer asked to be
/// woken when the index passes `event`; it must be if `event` lies in `(old, new]`.
pub fn needs_notify(old: u32, new: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

fn slot_offset(index: u32, size: u32, entry_size: usize) -> usize {
    // `size` is a power of two ≤ 2^16 and the masked index is below it, so the
    // product stays far inside a page-sized ring (checked by the accessors anyway).
    ENTRIES + (index & size.saturating_sub(1)) as usize * entry_size
}

/// The frontend's end of a ring: it produces requests and consumes responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontRing {
    size: u32,
    entry_size: usize,
    /// Requests written, published or not (`req_prod_pvt`).
    req_prod_pvt: u32,
    /// Requests published in the shared `req_prod`.
    req_published: u32,
    /// Responses consumed (`rsp_cons`).
    rsp_cons: u32,
}

impl FrontRing {
    /// Initialises the shared header in `memory` (SHARED_RING_INIT: indices 0, both
    /// event thresholds 1) and returns the frontend's cursor (FRONT_RING_INIT).
    /// `size` must be a power of two.
    pub fn init(
        memory: &impl PeerMemory,
        size: u32,
        entry_size: usize,
    ) -> Result<Self, OutOfBounds> {
        memory.write(0, &[0u8; ENTRIES])?;
        memory.write_u32(REQ_EVENT, 1)?;
        memory.write_u32(RSP_EVENT, 1)?;
        Ok(Self::at(size, entry_size, 0))
    }

    /// A cursor for a ring whose indices all stand at `start` (tests start near 2^32
    /// to cross the wrap).
    pub fn at(size: u32, entry_size: usize, start: u32) -> Self {
        Self { size, entry_size, req_prod_pvt: start, req_published: start, rsp_cons: start }
    }

    /// Slots in the ring.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Requests written and not yet answered.
    pub fn outstanding(&self) -> u32 {
        self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }

    /// Slots free for new requests (`RING_FREE_REQUESTS`).
    pub fn free_requests(&self) -> u32 {
        self.size.saturating_sub(self.outstanding())
    }

    /// Claims the next request slot and returns its byte offset in the ring, or `None`
    /// if every slot is taken (`RING_FULL`).
    pub fn next_request(&mut self) -> Option<usize> {
        if self.free_requests() == 0 {
            return None;
        }
        let offset = slot_offset(self.req_prod_pvt, self.size, self.entry_size);
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        Some(offset)
    }

    /// Publishes the requests written since the last push and says whether the
    /// backend must be notified (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
    pub fn push_requests(&mut self, memory: &impl PeerMemory) -> Result<bool, OutOfBounds> {
        let old = self.req_published;
        let new = self.req_prod_pvt;
        // The requests' bytes before the index that publishes them.
        memory.release_fence();
        memory.write_u32(REQ_PROD, new)?;
        self.req_published = new;
        // The index before reading the backend's threshold, or both sides may sleep.
        memory.full_fence();
        let event = memory.read_u32(REQ_EVENT)?;
        Ok(needs_notify(old, new, event))
    }

    /// How many responses are waiting, with `rsp_prod` read once and checked.
    pub fn unconsumed_responses(&self, memory: &impl PeerMemory) -> Result<u32, crate::Error> {
        let rsp_prod = memory.read_u32(RSP_PROD)?;
        let claimed = rsp_prod.wrapping_sub(self.rsp_cons);
        let outstanding = self.outstanding();
        if claimed > outstanding {
            return Err(RingError::ResponseOverflow { claimed, outstanding }.into());
        }
        // The responses' bytes after the index that published them.
        memory.acquire_fence();
        Ok(claimed)
    }

    /// Consumes the next response (the caller checked one is waiting) and returns its
    /// byte offset; copy it out before the slot is reused by a new request.
    pub fn take_response(&mut self) -> usize {
        let offset = slot_offset(self.rsp_cons, self.size, self.entry_size);
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        offset
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: asks for an event when the next response
    /// arrives and re-checks, so a response published meanwhile is not slept through.
    /// Returns the responses waiting.
    pub fn final_check(&mut self, memory: &impl PeerMemory) -> Result<u32, crate::Error> {
        let waiting = self.unconsumed_responses(memory)?;
        if waiting > 0 {
            return Ok(waiting);
        }
        memory.write_u32(RSP_EVENT, self.rsp_cons.wrapping_add(1))?;
        memory.full_fence();
        self.unconsumed_responses(memory)
    }
}

/// The backend's end of a ring: it consumes requests and produces responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackRing {
    size: u32,
    entry_size: usize,
    /// Requests consumed (`req_cons`).
    req_cons: u32,
    /// Responses written, published or not (`rsp_prod_pvt`).
    rsp_prod_pvt: u32,
    /// Responses published in the shared `rsp_prod`.
    rsp_published: u32,
}

impl BackRing {
    /// The backend's cursor over a freshly initialised ring (BACK_RING_INIT).
    pub fn new(size: u32, entry_size: usize) -> Self {
        Self::at(size, entry_size, 0)
    }

    /// A cursor whose indices all stand at `start`.
    pub fn at(size: u32, entry_size: usize, start: u32) -> Self {
        Self { size, entry_size, req_cons: start, rsp_prod_pvt: start, rsp_published: start }
    }

    /// How many requests are waiting, with `req_prod` read once and checked against
    /// the ring's capacity (`RING_REQUEST_PROD_OVERFLOW`).
    pub fn unconsumed_requests(&self, memory: &impl PeerMemory) -> Result<u32, crate::Error> {
        let req_prod = memory.read_u32(REQ_PROD)?;
        self.check_requests(req_prod)
    }

    /// The arithmetic of [`unconsumed_requests`](Self::unconsumed_requests) for a
    /// given `req_prod`.
    pub fn check_requests(&self, req_prod: u32) -> Result<u32, crate::Error> {
        // Requests not yet answered may not exceed the ring (ring.h
        // RING_REQUEST_PROD_OVERFLOW). Measuring from `req_cons` also catches an index
        // moved backwards, which wraps to a huge count.
        let in_progress = self.req_cons.wrapping_sub(self.rsp_prod_pvt);
        let claimed = req_prod.wrapping_sub(self.req_cons);
        if claimed > self.size.saturating_sub(in_progress) {
            return Err(RingError::RequestOverflow { claimed, size: self.size }.into());
        }
        Ok(claimed)
    }

    /// Consumes the next request (the caller checked one is waiting) and returns its
    /// byte offset; copy it out whole before looking at any field (`RING_COPY_REQUEST`).
    pub fn take_request(&mut self, memory: &impl PeerMemory) -> usize {
        memory.acquire_fence();
        let offset = slot_offset(self.req_cons, self.size, self.entry_size);
        self.req_cons = self.req_cons.wrapping_add(1);
        offset
    }

    /// Claims the next response slot and returns its byte offset.
    pub fn next_response(&mut self) -> usize {
        let offset = slot_offset(self.rsp_prod_pvt, self.size, self.entry_size);
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
        offset
    }

    /// Publishes the responses written since the last push and says whether the
    /// frontend must be notified (`RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`).
    pub fn push_responses(&mut self, memory: &impl PeerMemory) -> Result<bool, OutOfBounds> {
        let old = self.rsp_published;
        let new = self.rsp_prod_pvt;
        memory.release_fence();
        memory.write_u32(RSP_PROD, new)?;
        self.rsp_published = new;
        memory.full_fence();
        let event = memory.read_u32(RSP_EVENT)?;
        Ok(needs_notify(old, new, event))
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`: asks for an event when the next request
    /// arrives and re-checks. Returns the requests waiting.
    pub fn final_check(&mut self, memory: &impl PeerMemory) -> Result<u32, crate::Error> {
        let waiting = self.unconsumed_requests(memory)?;
        if waiting > 0 {
            return Ok(waiting);
        }
        memory.write_u32(REQ_EVENT, self.req_cons.wrapping_add(1))?;
        memory.full_fence();
        self.unconsumed_requests(memory)
    }
}
