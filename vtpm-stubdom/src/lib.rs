//! The vTPM's logic that does not need Xen, tested on the host; `main.rs` wires it to
//! the runtime, the drivers and the disk.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod app;
pub mod options;
pub mod service;
