//! A TPM 2.0 engine (TCG TPM 2.0 Library Specification).

#![no_std]
#![forbid(unsafe_code)]
