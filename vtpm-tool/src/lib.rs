//! `vtpm-tool`: host tools for the Rust Xen vTPM.
//!
//! `mgr-image` and `vtpm-image` inspect the manager's and a vTPM's disk images
//! offline ([`image`]). `serve` runs a software TPM engine behind swtpm's socket
//! protocol, so that tpm2-tools, swtpm's own `swtpm_ioctl` and `swtpm_bios`, TrouSerS
//! and QEMU's `-tpmdev emulator` can drive it, with its state persisted the way the
//! stub domain persists it (saved before every answer). See docs/vtpm-tool.md.
//!
//! Layout: [`cli`] is the command line, [`server`] the sockets and threads around
//! the device in [`machine`], which keeps its state in a [`statedir`]. The two
//! wire protocols are [`data`] (TPM commands) and [`ctrl`] (swtpm's control
//! commands); [`endpoint`] parses addresses and wraps sockets; [`engines`] is the
//! table of engines this build can serve.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod ctrl;
pub mod data;
pub mod endpoint;
pub mod engines;
mod error;
pub mod image;
pub mod machine;
pub mod server;
pub mod statedir;

pub use error::Error;
