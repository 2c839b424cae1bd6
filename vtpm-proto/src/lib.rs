//! The vtpm-stubdom to vtpmmgr-stubdom protocol (SAVEHASHKEY, LOADHASHKEY, ...).

#![no_std]
#![forbid(unsafe_code)]
