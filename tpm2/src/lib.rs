//! A TPM 2.0 engine (TCG TPM 2.0 Library Specification, Parts 2 and 3).
//!
//! Layers, bottom up:
//! - [`types`]: wire types, constants and response codes, reusable by any TPM 2.0
//!   client;
//! - [`crypto`]: hashes, KDFs and the asymmetric and symmetric algorithms;
//! - the engine ([`Tpm2`]): a command table (code → handler, with handle and
//!   session descriptions), the authorization layer (sessions, HMACs, policies,
//!   parameter encryption) and one module per command family.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod crypto;
pub mod types;

mod auth;
mod commands;
mod dispatch;
mod engine;
mod entity;
mod object;
mod pcr;
mod protect;
mod session;
mod state;

pub use engine::{MAX_BUFFER_SIZE, MIN_BUFFER_SIZE, Tpm2};

/// The implemented commands, in command-code order: (`TPM_CC`, name in Part 3).
/// The same table answers TPM_CAP_COMMANDS; any other code gets
/// TPM_RC_COMMAND_CODE.
pub fn implemented_commands() -> impl Iterator<Item = (u32, &'static str)> {
    commands::TABLE.iter().map(|c| (c.cc, c.name))
}

/// A secret byte string, wiped on drop.
pub(crate) type Secret = zeroize::Zeroizing<alloc::vec::Vec<u8>>;
