//! Xen split-driver toolkit: xenstore client, watches, transactions, XenbusState
//! handshake, grant tables, shared rings.
//!
//! The drivers (`tpmback`, `tpmfront`, `blkfront`) are written against the traits in
//! [`platform`] and the pieces here; the runtime implements the traits for real Xen and
//! builds one [`Bus`] per image. Nothing here blocks without a deadline, panics on
//! input from another domain, or touches shared memory other than through
//! [`PeerMemory`].
//!
//! | module | what |
//! |---|---|
//! | [`platform`] | the traits the runtime implements (memory, event channels, pages, time, logs) |
//! | [`abi`] | the Xen ABI constants and layouts used, checked at compile time |
//! | [`wire`] | the xenstore wire protocol (io/xs_wire.h) |
//! | [`store`] | the xenstore client: requests, watches, transactions |
//! | [`state`] | the XenbusState handshake, both roles, as pure state machines |
//! | [`grant`] | our grant table and RAII granted pages |
//! | [`ring`] | io/ring.h index arithmetic, both ends |
//! | [`control`] | the toolstack's `control/shutdown` requests and the image's idle loop ([`control::serve`]) |
//! | `sim` (feature `test-utils`) | an in-memory Xen with a fake xenstored, for tests |
//! | `xen` (feature `xen`) | the platform traits on real Xen, over the `kernel` runtime |
//!
//! See docs/drivers.md.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod abi;
mod bus;
mod channel;
pub mod control;
mod error;
pub mod grant;
pub mod platform;
pub mod ring;
pub mod state;
pub mod store;
pub mod wire;

#[cfg(feature = "test-utils")]
pub mod sim;
#[cfg(feature = "xen")]
pub mod xen;

pub use bus::Bus;
pub use channel::EventChannel;
pub use error::{Error, Result};
pub use grant::{GrantTable, GrantedPage};
pub use platform::{
    Clock, DomainId, EventChannels, GrantRef, Level, Log, OutOfBounds, OwnPage, PeerMemory,
    Platform, PlatformError, Port,
};
pub use state::{BackendHandshake, FrontendHandshake, Publish, Step, XenbusState};
pub use store::{Store, Transaction, Xenstore};
pub use wire::{StoreErrno, WatchEvent, WireError};
