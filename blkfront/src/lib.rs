//! Xen block frontend: read, write and flush the domain's disk.

#![no_std]
#![forbid(unsafe_code)]
