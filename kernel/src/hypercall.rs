//! Hypercalls: raw stubs through the hypercall page, and typed safe wrappers.
//!
//! Xen fills the page named by XEN_ELFNOTE_HYPERCALL_PAGE with one 32-byte stub per
//! hypercall (xen.h, "HYPERCALL_PAGE"). On x86_64 the arguments go in rdi, rsi, rdx,
//! r10, r8 and the result comes back in rax; rcx and r11 are clobbered (the stubs use
//! `syscall`), and debug builds of Xen also clobber the argument registers.
//!
//! Everything that can break memory safety (page-table updates, foreign mappings) is
//! an `unsafe fn` here and is called only from `mm`; the rest is safe to call.

use crate::error::{XenError, XenResult};
use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};
use xen_sys as xen;

/// Address of the hypercall page; set once by the entry code before anything else.
static PAGE: AtomicUsize = AtomicUsize::new(0);

/// Records where the image's hypercall page is.
pub(crate) fn set_page(address: usize) {
    PAGE.store(address, Ordering::Relaxed);
}

/// Issues hypercall `op` with five arguments.
///
/// # Safety
/// The arguments must be what hypercall `op` expects: pointers must point to valid,
/// correctly sized memory for the duration of the call, and the operation must not
/// change mappings or memory that Rust code relies on (see each caller).
unsafe fn call5(op: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let page = PAGE.load(Ordering::Relaxed);
    if page == 0 {
        // Not running under Xen (host tests of code that logs): nothing to call.
        return -i64::from(XenError::NOSYS.0);
    }
    let entry = page + op as usize * 32;
    let result: i64;
    // SAFETY: `entry` is a stub in the hypercall page Xen filled at build time; the
    // caller vouches for the arguments. The stub pushes a return address, so the asm
    // steps over the 128-byte red zone first and restores rsp afterwards.
    unsafe {
        asm!(
            "sub rsp, 128",
            "call {entry}",
            "add rsp, 128",
            entry = in(reg) entry,
            inlateout("rdi") a1 => _,
            inlateout("rsi") a2 => _,
            inlateout("rdx") a3 => _,
            inlateout("r10") a4 => _,
            inlateout("r8") a5 => _,
            lateout("rax") result,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    result
}

/// Issues hypercall `op` with up to five arguments (missing ones are zero).
///
/// # Safety
/// As for [`call5`].
unsafe fn call(op: u32, args: &[u64]) -> i64 {
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    // SAFETY: forwarded from the caller.
    unsafe { call5(op, arg(0), arg(1), arg(2), arg(3), arg(4)) }
}

fn check(result: i64) -> XenResult<i64> {
    if result < 0 { Err(XenError::from_return(result)) } else { Ok(result) }
}

/// Writes bytes to Xen's own console (CONSOLEIO_write). Release builds of Xen only
/// print this for privileged domains, so it is the early console, not the main one.
pub fn console_write(bytes: &[u8]) -> XenResult<()> {
    // SAFETY: Xen reads `len` bytes from `bytes`, which stays borrowed for the call.
    let r = unsafe {
        call(
            xen::__HYPERVISOR_console_io,
            &[u64::from(xen::CONSOLEIO_write), bytes.len() as u64, bytes.as_ptr() as u64],
        )
    };
    check(r).map(drop)
}

/// SCHEDOP_shutdown: ends the domain with `reason` (SHUTDOWN_poweroff, _reboot,
/// _crash). Xen does not return from a successful call.
pub fn shutdown(reason: u32) -> XenResult<()> {
    let mut arg = xen::sched_shutdown { reason };
    // SAFETY: `arg` is a valid sched_shutdown for the duration of the call.
    let r = unsafe {
        call(
            xen::__HYPERVISOR_sched_op,
            &[u64::from(xen::SCHEDOP_shutdown), core::ptr::from_mut(&mut arg) as u64],
        )
    };
    check(r).map(drop)
}

/// SCHEDOP_poll: sleeps until one of `ports` is pending or Xen system time reaches
/// `timeout_ns` (0 = no timeout). Works with event delivery masked, which is how the
/// runtime runs (sched.h).
pub fn poll(ports: &[u32], timeout_ns: u64) -> XenResult<()> {
    let mut arg = xen::sched_poll {
        ports: xen::__guest_handle_evtchn_port_t { p: ports.as_ptr().cast_mut() },
        nr_ports: u32::try_from(ports.len()).map_err(|_| XenError::INVAL)?,
        timeout: timeout_ns,
    };
    // SAFETY: `arg` and the port array it points to live for the duration of the call;
    // Xen only reads them.
    let r = unsafe {
        call(
            xen::__HYPERVISOR_sched_op,
            &[u64::from(xen::SCHEDOP_poll), core::ptr::from_mut(&mut arg) as u64],
        )
    };
    check(r).map(drop)
}

/// SCHEDOP_yield: gives up the CPU for a moment.
pub fn yield_cpu() {
    // SAFETY: SCHEDOP_yield takes no argument.
    let _ = unsafe { call(xen::__HYPERVISOR_sched_op, &[u64::from(xen::SCHEDOP_yield), 0]) };
}

/// An event-channel operation (event_channel.h) on a caller-provided argument
/// struct, which Xen reads and may write back.
pub fn event_channel_op<T: EventChannelArg>(arg: &mut T) -> XenResult<()> {
    // SAFETY: `T` is one of the argument structs of event_channel.h, matched to its
    // command by the `EventChannelArg` impl, and lives for the duration of the call.
    let r = unsafe {
        call(
            xen::__HYPERVISOR_event_channel_op,
            &[u64::from(T::CMD), core::ptr::from_mut(arg) as u64],
        )
    };
    check(r).map(drop)
}

/// Event-channel argument structs and their command numbers.
pub trait EventChannelArg: private::Sealed {
    /// The EVTCHNOP_* command taking this struct.
    const CMD: u32;
}

mod private {
    pub trait Sealed {}
}

macro_rules! evtchn_arg {
    ($($ty:ty => $cmd:expr),* $(,)?) => {$(
        impl private::Sealed for $ty {}
        impl EventChannelArg for $ty { const CMD: u32 = $cmd; }
    )*};
}

evtchn_arg! {
    xen::evtchn_alloc_unbound => xen::EVTCHNOP_alloc_unbound,
    xen::evtchn_bind_interdomain => xen::EVTCHNOP_bind_interdomain,
    xen::evtchn_bind_virq => xen::EVTCHNOP_bind_virq,
    xen::evtchn_send => xen::EVTCHNOP_send,
    xen::evtchn_close => xen::EVTCHNOP_close,
    xen::evtchn_unmask => xen::EVTCHNOP_unmask,
    xen::evtchn_status => xen::EVTCHNOP_status,
}

/// A grant-table operation (grant_table.h) on an array of argument structs.
///
/// # Safety
/// `T` must be the argument struct of `cmd`, and for mapping operations the host
/// addresses must be reserved for foreign mappings (no Rust object lives there).
pub(crate) unsafe fn grant_table_op<T>(cmd: u32, args: &mut [T]) -> XenResult<()> {
    // SAFETY: forwarded from the caller; the slice lives for the duration of the call.
    let r = unsafe {
        call(
            xen::__HYPERVISOR_grant_table_op,
            &[u64::from(cmd), args.as_mut_ptr() as u64, args.len() as u64],
        )
    };
    check(r).map(drop)
}

/// MMU_NORMAL_PT_UPDATE batch: writes page-table entries by machine address.
///
/// # Safety
/// The updates must not unmap or remap memory that Rust code uses, and each target
/// must be a page-table entry of this domain.
pub(crate) unsafe fn mmu_update(
    updates: &[xen::mmu_update_t],
    foreign_domain: u16,
) -> XenResult<()> {
    let mut done = 0u32;
    // SAFETY: forwarded from the caller; `done` receives the count of applied updates.
    let r = unsafe {
        call(
            xen::__HYPERVISOR_mmu_update,
            &[
                updates.as_ptr() as u64,
                updates.len() as u64,
                core::ptr::from_mut(&mut done) as u64,
                u64::from(foreign_domain),
            ],
        )
    };
    check(r).map(drop)
}

/// update_va_mapping: replaces the page-table entry that maps `va`.
///
/// # Safety
/// `va` must not be memory Rust code uses through the old mapping afterwards, unless
/// the new entry maps the same frame.
pub(crate) unsafe fn update_va_mapping(va: u64, pte: u64, flags: u64) -> XenResult<()> {
    // SAFETY: forwarded from the caller.
    let r = unsafe { call(xen::__HYPERVISOR_update_va_mapping, &[va, pte, flags]) };
    check(r).map(drop)
}

/// The hypervisor's version as (major, minor).
pub fn xen_version() -> (u16, u16) {
    // SAFETY: XENVER_version takes no buffer.
    let r = unsafe { call(xen::__HYPERVISOR_xen_version, &[u64::from(xen::XENVER_version), 0]) };
    let v = u32::try_from(r).unwrap_or(0);
    ((v >> 16) as u16, (v & 0xffff) as u16)
}
