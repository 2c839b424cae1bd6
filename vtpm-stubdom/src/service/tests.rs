//! The command path against a counter engine and a scripted persistence back end.

use super::*;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use core::cell::RefCell;
use proptest::prelude::*;
use tpm_engine::wire::{Reader, Writer};
use tpm_engine::{Dirty, StateError, StateKind};

/// A test engine with one persistent and one volatile counter. Ordinal 1 bumps the
/// persistent one, 2 the volatile one, 3 reads both; anything else is refused.
#[derive(Default)]
struct CounterEngine {
    permanent: u32,
    volatile: u32,
    dirty: Dirty,
}

const BUMP_PERMANENT: u32 = 1;
const BUMP_VOLATILE: u32 = 2;
const READ: u32 = 3;

fn command(ordinal: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.u16(0x00c1).u32(10).u32(ordinal);
    w.into_vec()
}

fn read_counters(response: &[u8]) -> (u32, u32) {
    let mut r = Reader::new(response);
    r.bytes(10).unwrap();
    (r.u32().unwrap(), r.u32().unwrap())
}

fn u32_blob(value: u32) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(value.to_be_bytes().to_vec())
}

fn parse_u32(blob: &[u8]) -> Result<u32, StateError> {
    let mut r = Reader::new(blob);
    let v = r.u32()?;
    r.finish()?;
    Ok(v)
}

impl TpmEngine for CounterEngine {
    fn family(&self) -> Family {
        Family::Tpm12
    }
    fn init(&mut self) {
        self.volatile = 0;
    }
    fn execute(&mut self, _context: ExecContext, command: &[u8]) -> Vec<u8> {
        let Ok(header) = Header::parse(command) else {
            return Header::error_response(0x00c4, 0x1e);
        };
        match header.code {
            BUMP_PERMANENT => {
                self.permanent += 1;
                self.dirty.permanent = true;
            }
            BUMP_VOLATILE => {
                self.volatile += 1;
                self.dirty.volatile = true;
            }
            READ => {
                let mut w = Writer::new();
                w.u16(0x00c4).u32(18).u32(0).u32(self.permanent).u32(self.volatile);
                return w.into_vec();
            }
            _ => return Header::error_response(0x00c4, 0x0a),
        }
        Header::error_response(0x00c4, 0)
    }
    fn dirty(&self) -> Dirty {
        self.dirty
    }
    fn clear_dirty(&mut self) {
        self.dirty = Dirty::default();
    }
    fn save_state(&self, kind: StateKind) -> Result<Zeroizing<Vec<u8>>, StateError> {
        match kind {
            StateKind::Permanent => Ok(u32_blob(self.permanent)),
            StateKind::Volatile => Ok(u32_blob(self.volatile)),
            StateKind::SaveState => Err(StateError::NotAvailable),
        }
    }
    fn load_state(&mut self, kind: StateKind, blob: &[u8]) -> Result<(), StateError> {
        let value = parse_u32(blob)?;
        match kind {
            StateKind::Permanent => {
                self.permanent = value;
                self.volatile = 0;
            }
            StateKind::Volatile => self.volatile = value,
            StateKind::SaveState => return Err(StateError::NotAvailable),
        }
        Ok(())
    }
    fn reseed(&mut self, _entropy: &[u8]) {}
    fn buffer_size(&self) -> usize {
        4096
    }
    fn set_buffer_size(&mut self, requested: usize) -> usize {
        requested.min(4096)
    }
    fn established(&self) -> bool {
        false
    }
    fn reset_established(&mut self, _locality: u8) -> bool {
        false
    }
    fn hash_start(&mut self) {}
    fn hash_data(&mut self, _data: &[u8]) {}
    fn hash_end(&mut self) {}
}

/// Records every save; fails the ones the script says to.
#[derive(Clone, Default)]
struct ScriptedDisk {
    saved: Rc<RefCell<Vec<Vec<u8>>>>,
    fail: Rc<RefCell<Vec<bool>>>,
}

impl Persist for ScriptedDisk {
    type Error = String;
    fn save(&mut self, snapshot: &[u8]) -> Result<(), String> {
        let fail = {
            let mut script = self.fail.borrow_mut();
            if script.is_empty() { false } else { script.remove(0) }
        };
        if fail {
            return Err(String::from("manager did not acknowledge"));
        }
        self.saved.borrow_mut().push(snapshot.to_vec());
        Ok(())
    }
}

fn vtpm(disk: &ScriptedDisk) -> Vtpm<ScriptedDisk> {
    Vtpm::new(Box::new(CounterEngine::default()), disk.clone()).unwrap()
}

#[test]
fn execute_clean_command_does_not_save() {
    let disk = ScriptedDisk::default();
    let mut v = vtpm(&disk);
    let response = v.execute(0, 0, &command(READ));
    assert_eq!(read_counters(&response), (0, 0));
    assert!(disk.saved.borrow().is_empty());
}

#[test]
fn execute_dirty_command_saves_before_answering() {
    let disk = ScriptedDisk::default();
    let mut v = vtpm(&disk);
    let response = v.execute(0, 0, &command(BUMP_PERMANENT));
    assert_eq!(Header::parse(&response).unwrap().code, 0);
    let saved = disk.saved.borrow();
    assert_eq!(saved.len(), 1);
    let mut restored = CounterEngine::default();
    envelope::restore(&mut restored, &saved[0]).unwrap();
    assert_eq!(restored.permanent, 1);
}

#[test]
fn execute_volatile_change_is_saved_too() {
    let disk = ScriptedDisk::default();
    let mut v = vtpm(&disk);
    v.execute(0, 0, &command(BUMP_VOLATILE));
    let mut restored = CounterEngine::default();
    envelope::restore(&mut restored, &disk.saved.borrow()[0]).unwrap();
    assert_eq!(restored.volatile, 1);
}

#[test]
fn execute_failed_save_answers_tpm_fail_and_rolls_back() {
    let disk = ScriptedDisk::default();
    let mut v = vtpm(&disk);
    v.execute(0, 0, &command(BUMP_PERMANENT));
    disk.fail.borrow_mut().push(true);
    let response = v.execute(0, 0, &command(BUMP_PERMANENT));
    assert_eq!(response, failure_response(Family::Tpm12));
    assert_eq!(read_counters(&v.execute(0, 0, &command(READ))), (1, 0));
    assert_eq!(v.stats().failed_saves, 1);
}

#[test]
fn execute_after_failed_save_starts_from_committed_state() {
    let disk = ScriptedDisk::default();
    let mut v = vtpm(&disk);
    disk.fail.borrow_mut().push(true);
    v.execute(0, 0, &command(BUMP_PERMANENT));
    v.execute(0, 0, &command(BUMP_PERMANENT));
    assert_eq!(read_counters(&v.execute(0, 0, &command(READ))), (1, 0));
    assert_eq!(disk.saved.borrow().len(), 1);
}

#[test]
fn failure_response_tpm2_is_rc_failure() {
    assert_eq!(failure_response(Family::Tpm20), vec![0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01]);
}

proptest! {
    /// Whatever saves fail, the engine's state always equals the last committed
    /// snapshot after each command, and a command whose save failed answers TPM_FAIL.
    #[test]
    fn memory_always_matches_committed_state(ops in proptest::collection::vec((1u32..=3, any::<bool>()), 1..40)) {
        let disk = ScriptedDisk::default();
        let mut v = vtpm(&disk);
        let mut model = (0u32, 0u32);
        for (ordinal, fail) in ops {
            disk.fail.borrow_mut().push(fail);
            let response = v.execute(0, 0, &command(ordinal));
            let dirtying = ordinal != READ;
            if dirtying && fail {
                prop_assert_eq!(response, failure_response(Family::Tpm12));
            } else if ordinal == BUMP_PERMANENT {
                model.0 += 1;
            } else if ordinal == BUMP_VOLATILE {
                model.1 += 1;
            }
            // A clean command does not save, so its script entry is unused.
            disk.fail.borrow_mut().clear();
            prop_assert_eq!(read_counters(&v.execute(0, 0, &command(READ))), model);
            if let Some(last) = disk.saved.borrow().last() {
                let mut restored = CounterEngine::default();
                envelope::restore(&mut restored, last).unwrap();
                prop_assert_eq!((restored.permanent, restored.volatile), model);
            }
        }
    }
}
