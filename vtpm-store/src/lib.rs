//! The vTPM state disk: two encrypted, authenticated slots committed through the manager.

#![no_std]
#![forbid(unsafe_code)]
