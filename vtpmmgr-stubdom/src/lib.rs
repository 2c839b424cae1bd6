//! The manager, generic over the runtime: options, the hardware TPM behind its TIS
//! registers, the key store on the blkfront disk, and the vTPMs served over tpmback,
//! tested on the host against `xenbus::sim`, a TIS model and swtpm. `main.rs` only maps
//! the TIS page and builds the bus (docs/manager.md).

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod app;
pub mod disk;
pub mod options;
pub mod service;
pub mod start;
pub mod tis;
