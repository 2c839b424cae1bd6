//! The runtime of the vTPM stub domains: a single-vCPU, single-threaded x86_64 Xen
//! PV unikernel in the style of Mini-OS.
//!
//! An image is a `no_std`, `no_main` binary that declares itself with
//! [`image!`](crate::image) and gets a [`Boot`] in its `main` once the runtime is up:
//! all of the domain's memory mapped and handed to the heap, the PV console, shared
//! info (events, time), the xenstore ring (handed to the image's one xenstore
//! client, `xenbus`), and the parsed command line.
//!
//! Execution model: event delivery stays masked; code waits for event channels with
//! [`event::wait_until`] (SCHEDOP_poll), so there are no interrupt handlers and no
//! reentrancy. This crate is the only one with `unsafe` besides bindgen's output;
//! every block says why it is sound, and everything it exports is safe except the
//! constructors of shared-memory handles.

#![no_std]
#![warn(missing_docs)]
#![allow(
    clippy::cast_possible_truncation,
    reason = "x86_64-only runtime: u64 and usize have the same width, and ring offsets are bounded by ring sizes"
)]

extern crate alloc;

pub mod boot;
pub mod cmdline;
pub mod console;
pub mod error;
pub mod event;
pub mod grant;
pub mod hypercall;
pub mod image;
pub mod log;
pub mod mem;
pub mod mm;
pub mod panic;
mod shared_info;
pub mod shmem;
pub mod shutdown;
pub mod time;

pub use boot::{Boot, StoreRing};
pub use error::{XenError, XenResult};
/// The Xen ABI, for [`image!`] and for drivers.
pub use xen_sys;
