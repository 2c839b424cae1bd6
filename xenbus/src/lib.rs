//! Xen split-driver toolkit: xenstore client, watches, transactions, XenbusState handshake, grant tables, shared rings.

#![no_std]
#![forbid(unsafe_code)]
