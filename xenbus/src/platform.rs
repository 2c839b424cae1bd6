//! What the drivers need from the runtime: peer memory, event channels, pages, time, logs.
//!
//! The drivers are written against these traits only, so they run unchanged on Xen (the
//! runtime implements them with hypercalls and volatile accesses) and on the host
//! against `xenbus::sim` (feature `test-utils`). Every method maps onto one PV Xen
//! primitive:
//!
//! | trait method | Xen |
//! |---|---|
//! | [`PeerMemory`] | volatile loads/stores through a mapping; `lock cmpxchg` for grant flags |
//! | [`EventChannels::alloc_unbound`] | EVTCHNOP_alloc_unbound |
//! | [`EventChannels::bind_interdomain`] | EVTCHNOP_bind_interdomain |
//! | [`EventChannels::notify`] | EVTCHNOP_send |
//! | [`EventChannels::close`] | EVTCHNOP_close |
//! | [`EventChannels::take_pending`] | test-and-clear of the port's bit in shared_info |
//! | [`EventChannels::wait`] | SCHEDOP_poll on the ports with an absolute timeout |
//! | [`Clock::now_ns`] | Xen system time (vcpu_time_info + TSC) |
//! | [`Platform::alloc_page`] | a zeroed page of our memory whose machine frame is known |
//! | [`Platform::map_grant`] | GNTTABOP_map_grant_ref; unmapped on drop (GNTTABOP_unmap_grant_ref) |

use core::fmt;
use core::sync::atomic::{Ordering, fence};

/// A Xen domain id (xen.h `domid_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainId(pub u16);

impl DomainId {
    /// The first id Xen reserves for special domains (xen.h DOMID_FIRST_RESERVED);
    /// no real domain has this id or a larger one.
    pub const FIRST_RESERVED: u16 = 0x7FF0;

    /// Parses a decimal domid as xenstore holds it (`frontend-id`, path components).
    /// Only plain digits of a real domain id are accepted.
    pub fn parse(text: &str) -> Option<Self> {
        let value = crate::wire::parse_decimal(text)?;
        let value = u16::try_from(value).ok()?;
        (value < Self::FIRST_RESERVED).then_some(Self(value))
    }
}

impl fmt::Display for DomainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A local event-channel port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u32);

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {}", self.0)
    }
}

/// A grant reference: an index into the granting domain's grant table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantRef(pub u32);

impl fmt::Display for GrantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "grant {}", self.0)
    }
}

/// A hypercall failed: Xen's errno (xen/errno.h), positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformError(pub i32);

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            3 => "ESRCH",
            11 => "EAGAIN",
            12 => "ENOMEM",
            14 => "EFAULT",
            16 => "EBUSY",
            17 => "EEXIST",
            22 => "EINVAL",
            28 => "ENOSPC",
            38 => "ENOSYS",
            _ => return write!(f, "Xen error {}", self.0),
        };
        write!(f, "Xen error {name}")
    }
}

/// An access outside a [`PeerMemory`] region (or a misaligned atomic access).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfBounds;

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("access outside shared memory")
    }
}

/// Memory another domain can read and change at any time: a ring page, a tpmif page,
/// our grant table, a data page we granted.
///
/// The rules (style practice 4, after rust-vmm's vm-memory): no Rust reference ever
/// points into the region; every access is a volatile copy in or out, bounds-checked
/// against [`len`](Self::len); callers copy a structure out once and look only at the
/// copy. `&self` everywhere because the peer writes through its own mapping anyway:
/// the handle is an address, not an owner of the bytes.
///
/// Multi-byte values are in the CPU's native byte order, as in every Xen ABI.
pub trait PeerMemory {
    /// Length of the region in bytes.
    fn len(&self) -> usize;

    /// Copies `out.len()` bytes starting at `offset` out of the region.
    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), OutOfBounds>;

    /// Copies `data` into the region at `offset`.
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), OutOfBounds>;

    /// Reads a naturally aligned `u32` in one access (ring indices: the peer must
    /// never see, nor we read, a torn value).
    fn read_u32(&self, offset: usize) -> Result<u32, OutOfBounds>;

    /// Writes a naturally aligned `u32` in one access.
    fn write_u32(&self, offset: usize, value: u32) -> Result<(), OutOfBounds>;

    /// Atomically replaces the naturally aligned `u16` at `offset` with `new` if it
    /// equals `current` (grant-entry flags, which Xen updates concurrently): `Ok(old)`
    /// if swapped, `Err(found)` otherwise. Sequentially consistent.
    fn compare_exchange_u16(
        &self,
        offset: usize,
        current: u16,
        new: u16,
    ) -> Result<Result<u16, u16>, OutOfBounds>;

    /// True if the region is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads one byte.
    fn read_u8(&self, offset: usize) -> Result<u8, OutOfBounds> {
        let mut byte = [0u8; 1];
        self.read(offset, &mut byte)?;
        Ok(byte[0])
    }

    /// Writes one byte.
    fn write_u8(&self, offset: usize, value: u8) -> Result<(), OutOfBounds> {
        self.write(offset, &[value])
    }

    /// Orders earlier reads of the region before later ones (Xen's `rmb`, on x86 a
    /// compiler barrier): read the peer's index or state, fence, then the data it
    /// publishes.
    fn acquire_fence(&self) {
        fence(Ordering::Acquire);
    }

    /// Orders earlier writes before later ones (Xen's `wmb`): write the data, fence,
    /// then the index or state that publishes it.
    fn release_fence(&self) {
        fence(Ordering::Release);
    }

    /// Orders every earlier access before every later one, including a store before a
    /// later load (Xen's `mb`, `mfence` on x86): publish an index, fence, then read
    /// the peer's event threshold.
    fn full_fence(&self) {
        fence(Ordering::SeqCst);
    }
}

/// A page of our own memory that can be granted to another domain.
pub trait OwnPage: PeerMemory {
    /// The machine frame number backing the page (what a grant entry names).
    fn frame(&self) -> u64;

    /// Gives the page up without freeing it: for a page another domain may still have
    /// mapped (a grant that could not be ended), which must never be reused.
    fn leak(self)
    where
        Self: Sized;
}

/// Event channels (event_channel.h), used by polling: upcalls stay masked, a waiter
/// sleeps in SCHEDOP_poll and then tests pending bits.
pub trait EventChannels {
    /// EVTCHNOP_alloc_unbound: a new local port that `remote` may bind to.
    fn alloc_unbound(&self, remote: DomainId) -> Result<Port, PlatformError>;

    /// EVTCHNOP_bind_interdomain: a new local port connected to `remote_port` of
    /// domain `remote` (which allocated it unbound for us).
    fn bind_interdomain(&self, remote: DomainId, remote_port: u32) -> Result<Port, PlatformError>;

    /// EVTCHNOP_send: raises the event at the other end. A failure (the peer closed
    /// its end) is not reported: the protocol above notices the peer is gone.
    fn notify(&self, port: Port);

    /// EVTCHNOP_close, and forgets any pending event on the port.
    fn close(&self, port: Port);

    /// Clears the port's pending bit; true if it was set.
    fn take_pending(&self, port: Port) -> bool;

    /// Sleeps until one of `ports` is pending or Xen system time reaches
    /// `deadline_ns`. True if a port is pending (its bit is left set for the caller).
    /// Pending bits are checked before the deadline, so a deadline in the past is a
    /// non-blocking check. Any number of ports may be given (one per connected
    /// frontend in a backend).
    fn wait(&self, ports: &[Port], deadline_ns: u64) -> bool;
}

/// Monotonic time.
pub trait Clock {
    /// Nanoseconds of Xen system time; never decreases.
    fn now_ns(&self) -> u64;
}

/// How important a log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something failed that an operator must see.
    Error,
    /// A peer misbehaved or something was refused; the driver carries on.
    Warn,
    /// Connections coming and going.
    Info,
    /// Detail for debugging.
    Debug,
}

/// Where the drivers' log lines go (the image's console).
pub trait Log {
    /// Emits one line (no trailing newline in `args`).
    fn log(&self, level: Level, args: fmt::Arguments<'_>);
}

impl<T: Log + ?Sized> Log for &T {
    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        (**self).log(level, args);
    }
}

/// Everything a split driver needs from the runtime.
///
/// A `Platform` value is a cheap handle (the runtime's is a unit struct; the simulator's
/// an `Rc`): clones refer to the same domain, which is how RAII handles (event channels,
/// granted pages) release their resource on drop.
pub trait Platform: Clone + Clock + EventChannels + Log {
    /// Memory shared with xenstored or Xen that the runtime mapped at boot: the
    /// xenstore ring, our grant-table frames.
    type Shared: PeerMemory;
    /// A page of our memory (zeroed when allocated) that can be granted.
    type Page: OwnPage;
    /// A page another domain granted us, mapped until the value is dropped (the drop
    /// unmaps; if Xen refuses, the runtime keeps the address reserved forever).
    type Mapping: PeerMemory;

    /// Allocates a zeroed 4 KiB page of our memory.
    fn alloc_page(&self) -> Result<Self::Page, PlatformError>;

    /// GNTTABOP_map_grant_ref with GNTMAP_host_map (plus GNTMAP_readonly unless
    /// `writable`): maps page `reference` that `domain` granted us.
    fn map_grant(
        &self,
        domain: DomainId,
        reference: GrantRef,
        writable: bool,
    ) -> Result<Self::Mapping, PlatformError>;
}

/// Logs through a [`Log`] implementation with `format_args!` syntax.
#[macro_export]
macro_rules! log {
    ($platform:expr, $level:ident, $($arg:tt)*) => {
        $crate::Log::log(&$platform, $crate::Level::$level, format_args!($($arg)*))
    };
}
