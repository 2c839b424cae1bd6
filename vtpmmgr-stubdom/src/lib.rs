//! The manager's logic that does not need Xen, tested on the host; `main.rs` wires it
//! to the runtime, the TIS driver, tpmback and the disk.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod service;
pub mod start;
