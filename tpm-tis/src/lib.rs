//! TIS 1.3 / PTP FIFO driver for a memory-mapped hardware TPM.

#![no_std]
#![forbid(unsafe_code)]
