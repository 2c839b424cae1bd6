//! The manager's key store: two root slots, copy-on-write sectors, sealed root secret.

#![no_std]
#![forbid(unsafe_code)]
