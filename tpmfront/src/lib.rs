//! tpmif v2 frontend: one request/response channel to a TPM backend.

#![no_std]
#![forbid(unsafe_code)]
