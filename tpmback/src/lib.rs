//! tpmif v2 backend: serves TPM commands from any number of frontends.

#![no_std]
#![forbid(unsafe_code)]
