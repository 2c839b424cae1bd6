//! A minimal xenstore client over the domain's ring (io/xs_wire.h), enough for the
//! runtime's own needs: reading and writing nodes and watching `control/shutdown`.
//!
//! One request is outstanding at a time; watch events that arrive while waiting for a
//! reply are queued. Every wait has a deadline. Replies are copied out of the ring
//! once and their header checked before the payload is trusted. (The drivers' full
//! client — transactions, permissions, many watches — is `xenbus`.)

use crate::error::{XenError, XenResult};
use crate::event::{self, Port};
use crate::shmem::{self, SharedMem};
use crate::time::Deadline;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::mem::offset_of;
use xen_sys as xen;

/// Ring size of each direction (xs_wire.h XENSTORE_RING_SIZE).
const RING_SIZE: u32 = 1024;
/// Largest payload xenstored sends or accepts (xs_wire.h XENSTORE_PAYLOAD_MAX).
const PAYLOAD_MAX: usize = 4096;
/// Message header: type, req_id, tx_id, len, all native u32 (xs_wire.h xsd_sockmsg).
const HEADER_LEN: usize = 16;
/// How long a request may take before it is abandoned.
const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// A watch firing: the path that changed and the token given to `watch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The node that changed.
    pub path: String,
    /// The watch's token.
    pub token: String,
}

/// The client.
#[derive(Debug)]
pub struct Xenstore {
    ring: SharedMem,
    port: Port,
    next_id: u32,
    events: VecDeque<WatchEvent>,
}

static STORE: spin::Mutex<Option<Xenstore>> = spin::Mutex::new(None);

/// Installs the domain's ring at boot.
pub(crate) fn init(ring: SharedMem, port: Port) {
    *STORE.lock() = Some(Xenstore { ring, port, next_id: 1, events: VecDeque::new() });
}

/// Runs `f` with the client.
pub fn with<T>(f: impl FnOnce(&mut Xenstore) -> XenResult<T>) -> XenResult<T> {
    let mut store = STORE.lock();
    f(store.as_mut().ok_or(XenError::NOSYS)?)
}

/// The event channel xenstored notifies.
pub fn port() -> Option<Port> {
    STORE.lock().as_ref().map(|s| s.port)
}

fn offsets() -> (usize, usize, usize, usize, usize, usize) {
    use xen::xenstore_domain_interface as I;
    (
        offset_of!(I, req),
        offset_of!(I, rsp),
        offset_of!(I, req_cons),
        offset_of!(I, req_prod),
        offset_of!(I, rsp_cons),
        offset_of!(I, rsp_prod),
    )
}

impl Xenstore {
    /// Copies `data` into the request ring, waiting for room.
    fn put(&mut self, mut data: &[u8], deadline: Deadline) -> XenResult<()> {
        let (req, _, req_cons, req_prod, _, _) = offsets();
        while !data.is_empty() {
            let cons = self.ring.read_u32(req_cons).map_err(|_| XenError::FAULT)?;
            let prod = self.ring.read_u32(req_prod).map_err(|_| XenError::FAULT)?;
            shmem::full_barrier();
            let used = prod.wrapping_sub(cons);
            if used > RING_SIZE {
                return Err(XenError::FAULT);
            }
            let room = (RING_SIZE - used) as usize;
            if room == 0 {
                event::notify(self.port);
                if !deadline.wait(&[self.port]) {
                    return Err(XenError::TIMEDOUT);
                }
                event::take_pending(self.port);
                continue;
            }
            let chunk = data.len().min(room);
            for (i, byte) in data[..chunk].iter().enumerate() {
                let index = (prod.wrapping_add(i as u32) % RING_SIZE) as usize;
                self.ring.write_u8(req + index, *byte).map_err(|_| XenError::FAULT)?;
            }
            shmem::write_barrier();
            self.ring
                .write_u32(req_prod, prod.wrapping_add(chunk as u32))
                .map_err(|_| XenError::FAULT)?;
            event::notify(self.port);
            data = &data[chunk..];
        }
        Ok(())
    }

    /// Copies exactly `out.len()` bytes out of the response ring, waiting for them.
    fn take(&mut self, out: &mut [u8], deadline: Deadline) -> XenResult<()> {
        let (_, rsp, _, _, rsp_cons, rsp_prod) = offsets();
        let mut filled = 0;
        while filled < out.len() {
            let cons = self.ring.read_u32(rsp_cons).map_err(|_| XenError::FAULT)?;
            let prod = self.ring.read_u32(rsp_prod).map_err(|_| XenError::FAULT)?;
            shmem::read_barrier();
            let available = prod.wrapping_sub(cons);
            if available > RING_SIZE {
                return Err(XenError::FAULT);
            }
            if available == 0 {
                if !deadline.wait(&[self.port]) {
                    return Err(XenError::TIMEDOUT);
                }
                event::take_pending(self.port);
                continue;
            }
            let chunk = (out.len() - filled).min(available as usize);
            for (i, byte) in out[filled..filled + chunk].iter_mut().enumerate() {
                let index = (cons.wrapping_add(i as u32) % RING_SIZE) as usize;
                *byte = self.ring.read_u8(rsp + index).map_err(|_| XenError::FAULT)?;
            }
            // Finish reading before handing the space back.
            shmem::full_barrier();
            self.ring
                .write_u32(rsp_cons, cons.wrapping_add(chunk as u32))
                .map_err(|_| XenError::FAULT)?;
            event::notify(self.port);
            filled += chunk;
        }
        Ok(())
    }

    /// Reads one whole message: (type, req_id, payload).
    fn receive(&mut self, deadline: Deadline) -> XenResult<(u32, u32, Vec<u8>)> {
        let mut header = [0u8; HEADER_LEN];
        self.take(&mut header, deadline)?;
        let word =
            |i: usize| u32::from_ne_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let (kind, id, len) = (word(0), word(4), word(12) as usize);
        if len > PAYLOAD_MAX {
            return Err(XenError::FAULT);
        }
        let mut payload = alloc::vec![0u8; len];
        self.take(&mut payload, deadline)?;
        Ok((kind, id, payload))
    }

    fn queue_event(&mut self, payload: &[u8]) {
        // XS_WATCH_EVENT payload: path NUL token NUL.
        let mut parts = payload.split(|b| *b == 0);
        if let (Some(path), Some(token)) = (parts.next(), parts.next()) {
            self.events.push_back(WatchEvent {
                path: String::from_utf8_lossy(path).into_owned(),
                token: String::from_utf8_lossy(token).into_owned(),
            });
        }
    }

    /// Sends a request made of NUL-separated parts and returns the reply payload.
    fn request(&mut self, kind: u32, parts: &[&[u8]]) -> XenResult<Vec<u8>> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > PAYLOAD_MAX {
            return Err(XenError::INVAL);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let deadline = Deadline::after_ms(REQUEST_TIMEOUT_MS);
        let mut header = [0u8; HEADER_LEN];
        header[0..4].copy_from_slice(&kind.to_ne_bytes());
        header[4..8].copy_from_slice(&id.to_ne_bytes());
        header[12..16].copy_from_slice(&(len as u32).to_ne_bytes());
        self.put(&header, deadline)?;
        for part in parts {
            self.put(part, deadline)?;
        }
        loop {
            let (reply, reply_id, payload) = self.receive(deadline)?;
            if reply == xen::xsd_sockmsg_type_XS_WATCH_EVENT {
                self.queue_event(&payload);
            } else if reply_id != id {
                // A stale reply to an abandoned request: skip it.
                continue;
            } else if reply == xen::xsd_sockmsg_type_XS_ERROR {
                return Err(errno(&payload));
            } else {
                return Ok(payload);
            }
        }
    }

    /// Reads a node.
    pub fn read(&mut self, path: &str) -> XenResult<String> {
        let reply = self.request(xen::xsd_sockmsg_type_XS_READ, &[path.as_bytes(), b"\0"])?;
        String::from_utf8(reply).map_err(|_| XenError::INVAL)
    }

    /// Writes a node.
    pub fn write(&mut self, path: &str, value: &str) -> XenResult<()> {
        self.request(xen::xsd_sockmsg_type_XS_WRITE, &[path.as_bytes(), b"\0", value.as_bytes()])
            .map(drop)
    }

    /// Watches `path` (and everything below it); events carry `token`. xenstored
    /// fires every new watch once straight away.
    pub fn watch(&mut self, path: &str, token: &str) -> XenResult<()> {
        self.request(
            xen::xsd_sockmsg_type_XS_WATCH,
            &[path.as_bytes(), b"\0", token.as_bytes(), b"\0"],
        )
        .map(drop)
    }

    /// The next watch event, reading any that arrived on the ring without waiting.
    pub fn next_event(&mut self) -> XenResult<Option<WatchEvent>> {
        let (_, _, _, _, rsp_cons, rsp_prod) = offsets();
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(Some(event));
            }
            let cons = self.ring.read_u32(rsp_cons).map_err(|_| XenError::FAULT)?;
            let prod = self.ring.read_u32(rsp_prod).map_err(|_| XenError::FAULT)?;
            if prod == cons {
                return Ok(None);
            }
            let (kind, _, payload) = self.receive(Deadline::after_ms(REQUEST_TIMEOUT_MS))?;
            if kind == xen::xsd_sockmsg_type_XS_WATCH_EVENT {
                self.queue_event(&payload);
            }
        }
    }
}

/// Maps an XS_ERROR payload ("ENOENT\0", xs_wire.h xsd_errors) to an errno.
fn errno(payload: &[u8]) -> XenError {
    let name = payload.split(|b| *b == 0).next().unwrap_or(&[]);
    match name {
        b"EINVAL" => XenError::INVAL,
        b"EACCES" | b"EPERM" => XenError::PERM,
        b"EEXIST" => XenError::EXIST,
        b"EISDIR" | b"ENOSPC" | b"EQUOTA" => XenError::NOSPC,
        b"ENOENT" => XenError::NOENT,
        b"ENOMEM" => XenError::NOMEM,
        b"EAGAIN" => XenError::AGAIN,
        b"EBUSY" => XenError::BUSY,
        b"ENOSYS" => XenError::NOSYS,
        _ => XenError::FAULT,
    }
}
