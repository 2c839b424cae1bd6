//! The frontend's side of the tpmif v2 page (io/tpmif.h, specs §1.3): writing a
//! request, reading the response with each field fetched once.

use crate::Error;
use alloc::vec;
use alloc::vec::Vec;
use xenbus::PeerMemory;
use xenbus::abi::tpmif::{
    DATA, LENGTH, LOCALITY, MAX_PACKET, STATE, STATE_CANCEL, STATE_FINISH, STATE_IDLE, STATE_SUBMIT,
};

/// What the page says about the request in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// SUBMIT or CANCEL: the backend is still working.
    Pending,
    /// FINISH: the response, copied out.
    Finished(Vec<u8>),
    /// IDLE: the backend cancelled the request (or completed our cancel).
    Idle,
}

/// Writes a request: data, length, locality, barrier, SUBMIT (specs §1.3, frontend
/// step 2). The caller checked the length and notifies afterwards.
pub fn write_request(page: &impl PeerMemory, command: &[u8], locality: u8) -> Result<(), Error> {
    if command.is_empty() || command.len() > MAX_PACKET {
        return Err(Error::CommandSize(command.len()));
    }
    let length = u32::try_from(command.len()).map_err(|_| Error::CommandSize(command.len()))?;
    let fault = |_| Error::Xenbus(xenbus::Error::OutOfBounds);
    page.write(DATA, command).map_err(fault)?;
    page.write_u32(LENGTH, length).map_err(fault)?;
    // locality, pad = 0, nr_extra_pages = 0.
    page.write(LOCALITY, &[locality, 0, 0]).map_err(fault)?;
    page.release_fence();
    page.write_u8(STATE, STATE_SUBMIT).map_err(fault)?;
    page.full_fence();
    Ok(())
}

/// Writes CANCEL (the caller notifies).
pub fn write_cancel(page: &impl PeerMemory) -> Result<(), Error> {
    page.write_u8(STATE, STATE_CANCEL).map_err(|_| Error::Xenbus(xenbus::Error::OutOfBounds))?;
    page.full_fence();
    Ok(())
}

/// Reads the page once: the state, then (after a read barrier) the length, then the
/// response bytes.
pub fn read_status(page: &impl PeerMemory) -> Result<Status, Error> {
    let fault = |_| Error::Xenbus(xenbus::Error::OutOfBounds);
    match page.read_u8(STATE).map_err(fault)? {
        STATE_SUBMIT | STATE_CANCEL => Ok(Status::Pending),
        STATE_IDLE => Ok(Status::Idle),
        STATE_FINISH => {
            page.acquire_fence();
            let length = page.read_u32(LENGTH).map_err(fault)?;
            let len = usize::try_from(length).map_err(|_| Error::BadResponse)?;
            if len == 0 || len > MAX_PACKET {
                return Err(Error::BadResponse);
            }
            let mut response = vec![0u8; len];
            page.read(DATA, &mut response).map_err(fault)?;
            Ok(Status::Finished(response))
        }
        _ => Err(Error::BadResponse),
    }
}
