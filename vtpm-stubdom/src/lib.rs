//! The vTPM's logic that does not need Xen, tested on the host; `main.rs` wires it to
//! the runtime, the drivers and the disk.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod app;
pub mod latency;
pub mod options;
pub mod service;

#[cfg(test)]
mod tests;
