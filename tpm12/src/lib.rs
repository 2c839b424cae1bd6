//! A TPM 1.2 engine (TCG TPM Main Specification 1.2 rev 116).

#![no_std]
#![forbid(unsafe_code)]
