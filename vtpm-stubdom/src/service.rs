//! The command path: request → engine → state save → response.
//!
//! A response leaves only after the state it reflects is committed (architecture,
//! "State save"): when a command dirtied the engine, the whole engine is captured and
//! handed to [`Persist::save`], which returns only once the manager has acknowledged
//! the new key. If that fails, the guest gets the TPM's failure code for the command,
//! not its real response, and the engine is rolled back to the last committed state, so
//! what the guest saw, what is in memory and what is on disk never disagree.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use tpm_engine::wire::Header;
use tpm_engine::{ExecContext, Family, TpmEngine, envelope};
use zeroize::Zeroizing;

/// Where committed state goes (the state disk plus the manager, in the image).
pub trait Persist {
    /// Why a save failed.
    type Error: fmt::Display;

    /// Stores `snapshot` durably; returns Ok only once it is committed (the manager
    /// acknowledged the key). On error the previously committed state must still be
    /// the one a restart would load.
    fn save(&mut self, snapshot: &[u8]) -> Result<(), Self::Error>;
}

/// Counters for operators and the latency benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Commands executed.
    pub commands: u64,
    /// States saved and committed.
    pub saves: u64,
    /// Commands answered with the failure code because their save failed.
    pub failed_saves: u64,
}

/// Where one command's time went inside the vTPM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Executing the command in the engine.
    pub engine_ns: u64,
    /// Saving the state it changed (capture, encrypt, write, flush, manager), if it
    /// changed any.
    pub save_ns: Option<u64>,
}

/// The TPM 1.2 response tag of a command without authorization data; every error
/// response carries it (TPM 1.2 Part 1 §10, "return codes").
const TPM12_RSP_COMMAND: u16 = 0x00C4;
/// TPM_FAIL: the TPM is in a state where it cannot complete the command.
const TPM12_FAIL: u32 = 0x09;
/// TPM 2.0 TPM_ST_NO_SESSIONS, the tag of every error response.
const TPM2_ST_NO_SESSIONS: u16 = 0x8001;
/// TPM_RC_FAILURE: the TPM is in failure mode / could not complete the command.
const TPM2_RC_FAILURE: u32 = 0x101;

/// The response a command gets when its state could not be committed.
pub fn failure_response(family: Family) -> Vec<u8> {
    match family {
        Family::Tpm12 => Header::error_response(TPM12_RSP_COMMAND, TPM12_FAIL),
        Family::Tpm20 => Header::error_response(TPM2_ST_NO_SESSIONS, TPM2_RC_FAILURE),
    }
}

/// One vTPM: its engine, where its state goes, and the last committed snapshot.
pub struct Vtpm<P: Persist> {
    engine: Box<dyn TpmEngine>,
    persist: P,
    committed: Zeroizing<Vec<u8>>,
    stats: Stats,
}

impl<P: Persist> fmt::Debug for Vtpm<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vtpm")
            .field("family", &self.engine.family())
            .field("stats", &self.stats)
            .finish()
    }
}

/// Why a vTPM could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// The engine's state could not be serialised (an engine bug).
    Capture(tpm_engine::StateError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Capture(e) => write!(f, "cannot capture the engine's state: {e}"),
        }
    }
}

impl<P: Persist> Vtpm<P> {
    /// Wraps an engine whose current state is already committed (just loaded from
    /// the disk, or fresh and then saved by the caller with [`Vtpm::commit`]).
    pub fn new(engine: Box<dyn TpmEngine>, persist: P) -> Result<Self, SetupError> {
        let committed = envelope::capture(&*engine).map_err(SetupError::Capture)?;
        let mut vtpm = Self { engine, persist, committed, stats: Stats::default() };
        vtpm.engine.clear_dirty();
        Ok(vtpm)
    }

    /// The engine's family.
    pub fn family(&self) -> Family {
        self.engine.family()
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The persistence back end.
    pub fn persist(&self) -> &P {
        &self.persist
    }

    /// The persistence back end, mutably.
    pub fn persist_mut(&mut self) -> &mut P {
        &mut self.persist
    }

    /// Saves the engine's current state unconditionally (first start, orderly
    /// shutdown). On failure the engine is rolled back like a failed command.
    pub fn commit(&mut self) -> Result<(), P::Error> {
        let snapshot = match envelope::capture(&*self.engine) {
            Ok(snapshot) => snapshot,
            Err(e) => {
                kernel::error!("cannot capture the TPM state: {e}");
                self.rollback();
                return Ok(());
            }
        };
        match self.persist.save(&snapshot) {
            Ok(()) => {
                self.committed = snapshot;
                self.engine.clear_dirty();
                self.stats.saves += 1;
                Ok(())
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// Executes one command and returns the response to publish. The response is
    /// the engine's only if the state it leaves behind is committed.
    pub fn execute(&mut self, locality: u8, now_ms: u64, command: &[u8]) -> Vec<u8> {
        self.execute_timed(locality, now_ms, command, &|| 0).0
    }

    /// [`execute`](Self::execute), also saying how long the engine and the save took
    /// by `clock` (nanoseconds).
    pub fn execute_timed(
        &mut self,
        locality: u8,
        now_ms: u64,
        command: &[u8],
        clock: &dyn Fn() -> u64,
    ) -> (Vec<u8>, Timing) {
        self.stats.commands += 1;
        let start = clock();
        let response = self.engine.execute(ExecContext { locality, now_ms }, command);
        let executed = clock();
        let mut timing = Timing { engine_ns: executed.saturating_sub(start), save_ns: None };
        if !self.engine.dirty().any() {
            return (response, timing);
        }
        let saved = self.commit();
        timing.save_ns = Some(clock().saturating_sub(executed));
        match saved {
            Ok(()) => (response, timing),
            Err(e) => {
                kernel::error!("state save failed, command answered with the failure code: {e}");
                self.stats.failed_saves += 1;
                (failure_response(self.engine.family()), timing)
            }
        }
    }

    /// Puts the engine back to the last committed state.
    fn rollback(&mut self) {
        if let Err(e) = envelope::restore(&mut *self.engine, &self.committed) {
            // The snapshot was produced by this very engine: failing to load it
            // means memory no longer matches anything committed. Stop rather than
            // answer from a state that would vanish on restart.
            panic!("cannot roll the TPM back to its committed state: {e}");
        }
        self.engine.clear_dirty();
    }
}

#[cfg(test)]
mod tests;
