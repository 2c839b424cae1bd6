//! Event channels (event_channel.h) in polling style.
//!
//! Event delivery stays masked for the domain's whole life (vcpu_info's
//! `evtchn_upcall_mask` = 1), so there is no interrupt handler and no reentrancy:
//! the runtime sleeps in SCHEDOP_poll on the ports it waits for, and code finds out
//! what happened by testing and clearing pending bits in the shared info page.

use crate::error::XenResult;
use crate::{hypercall, shared_info, time};
use core::fmt;
use core::mem::offset_of;
use xen_sys as xen;

/// A local event-channel port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u32);

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {}", self.0)
    }
}

/// Ports per pending-bitmap word.
const BITS: u32 = u64::BITS;

fn pending_word(port: Port) -> (usize, u64) {
    let offset = offset_of!(xen::shared_info, evtchn_pending) + (port.0 / BITS) as usize * 8;
    (offset, 1u64 << (port.0 % BITS))
}

/// Masks event delivery to vCPU 0 (we poll instead).
pub(crate) fn mask_upcalls() {
    if let Some(page) = shared_info::page() {
        let mask = offset_of!(xen::shared_info, vcpu_info)
            + offset_of!(xen::vcpu_info, evtchn_upcall_mask);
        let _ = page.write_u8(mask, 1);
    }
}

/// True if `port` has an event pending; leaves it pending.
pub fn is_pending(port: Port) -> bool {
    let Some(page) = shared_info::page() else { return false };
    let (offset, bit) = pending_word(port);
    page.read_u64(offset).is_ok_and(|word| word & bit != 0)
}

/// Clears `port`'s pending bit; returns whether it was set.
pub fn take_pending(port: Port) -> bool {
    let Some(page) = shared_info::page() else { return false };
    let (offset, bit) = pending_word(port);
    page.fetch_and_u64(offset, !bit).is_ok_and(|old| old & bit != 0)
}

/// Most ports one SCHEDOP_poll takes (Xen's do_poll refuses more with EINVAL).
pub const MAX_POLL_PORTS: usize = 128;

/// How long one SCHEDOP_poll may sleep when more than [`MAX_POLL_PORTS`] ports are
/// waited for. Xen wakes a poller of several ports on an event of *any* port of the
/// domain (xen/common/sched/core.c do_poll: `poll_evtchn` names a port only when one
/// is polled), but an event that
/// arrives between our check of the ports beyond the first 128 and the hypercall would
/// otherwise be slept through until the deadline; the slice bounds that delay.
const SLICE_NS: u64 = 10_000_000;

/// Sleeps until one of `ports` is pending or Xen system time reaches `deadline_ns`.
/// Returns true if a port is pending (its bit is left set for the caller to take).
///
/// Pending bits are checked before the deadline, so a deadline in the past is a
/// non-blocking check. Any number of ports may be given: up to
/// [`MAX_POLL_PORTS`] the domain sleeps in one SCHEDOP_poll until an event or the
/// deadline; beyond that it sleeps in slices of at most 10 ms and checks every port's
/// bit between them.
pub fn wait_until(ports: &[Port], deadline_ns: u64) -> bool {
    if shared_info::page().is_none() {
        return false;
    }
    // Ports as the u32 array SCHEDOP_poll reads.
    let mut raw = [0u32; MAX_POLL_PORTS];
    let count = ports.len().min(raw.len());
    for (slot, port) in raw.iter_mut().zip(ports) {
        *slot = port.0;
    }
    let sliced = ports.len() > MAX_POLL_PORTS;
    loop {
        if ports.iter().any(|p| is_pending(*p)) {
            return true;
        }
        let now = time::now_ns();
        if now >= deadline_ns {
            return false;
        }
        let until =
            if sliced { deadline_ns.min(now.saturating_add(SLICE_NS)) } else { deadline_ns };
        // Returns when a port is pending, at the timeout, or spuriously; the loop
        // re-checks both conditions. Xen takes the timeout as signed system time and
        // 0 as "none": a deadline beyond i64::MAX would be in the past to it.
        let timeout = if until > i64::MAX as u64 { 0 } else { until };
        let _ = hypercall::poll(&raw[..count], timeout);
    }
}

/// Sleeps until one of `ports` is pending.
pub fn wait(ports: &[Port]) {
    while !wait_until(ports, u64::MAX) {}
}

/// Sends an event to the other end of `port`.
pub fn notify(port: Port) {
    let mut arg = xen::evtchn_send { port: port.0 };
    // A failed send (port closed by the peer) is noticed by the protocol above.
    let _ = hypercall::event_channel_op(&mut arg);
}

/// Allocates a port another domain (`remote`) can bind to.
pub fn alloc_unbound(remote: u16) -> XenResult<Port> {
    let mut arg = xen::evtchn_alloc_unbound { dom: xen::DOMID_SELF, remote_dom: remote, port: 0 };
    hypercall::event_channel_op(&mut arg)?;
    Ok(Port(arg.port))
}

/// Binds a local port to `remote_port` of domain `remote`.
pub fn bind_interdomain(remote: u16, remote_port: u32) -> XenResult<Port> {
    let mut arg = xen::evtchn_bind_interdomain { remote_dom: remote, remote_port, local_port: 0 };
    hypercall::event_channel_op(&mut arg)?;
    Ok(Port(arg.local_port))
}

/// Closes a port.
pub fn close(port: Port) {
    let mut arg = xen::evtchn_close { port: port.0 };
    let _ = hypercall::event_channel_op(&mut arg);
    take_pending(port);
}
