//! The TPM 1.2 differential suites of `tpm12/tests/`, run against the real
//! `vtpm-tool serve --tpm1.2` binary over swtpm's socket protocol instead of the
//! engine in-process: the same command sequences go to `swtpm socket` (libtpms, TPM
//! 1.2 mode) and to this tool, and the answers are compared byte for byte where the
//! TPM is deterministic and structurally (signatures verified, blobs unsealed and
//! keys loaded on the TPM that made them, HMACs checked) where randomness enters.
//!
//! The suites are the files of `tpm12/tests/`, included unchanged: their `Pair`
//! picks the vtpm-tool binary because Cargo sets `CARGO_BIN_EXE_vtpm-tool` when it
//! compiles this crate's integration tests (`tpm12/tests/common/mod.rs`, `Ours`).
//! Without swtpm every test fails with an install hint.

#![allow(
    clippy::cast_possible_truncation,
    reason = "the included test code casts lengths of small, known buffers"
)]
#![allow(
    clippy::duplicate_mod,
    reason = "each included suite declares its own `mod common`, as in tpm12/tests/"
)]

#[path = "../../tpm12/tests/common/mod.rs"]
mod common;

#[path = "../../tpm12/tests/differential.rs"]
mod differential;

#[path = "../../tpm12/tests/generated.rs"]
mod generated;

#[path = "../../tpm12/tests/owner.rs"]
mod owner;

#[path = "../../tpm12/tests/attest.rs"]
mod attest;

#[path = "../../tpm12/tests/lifecycle.rs"]
mod lifecycle;

/// The suites really drive the binary here, not the engine in-process.
#[test]
fn suites_drive_the_vtpm_tool_binary() {
    assert_eq!(common::VTPM_TOOL, Some(env!("CARGO_BIN_EXE_vtpm-tool")));
    let pair = common::Pair::new();
    assert_eq!(pair.tpm.name(), "vtpm-tool");
}
