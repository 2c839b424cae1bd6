//! The vTPM's `extra=` options (specs §4.4, plus `tpm=` and `reset-on-missing-state`).
//!
//! | option | meaning | default |
//! |---|---|---|
//! | `tpm=1.2\|2.0` | which TPM the guest gets; recorded in the saved state | `1.2` |
//! | `clear` / `save` / `deactivated` | the Startup type sent on a fresh start | `clear` |
//! | `maintcmds=0\|1` | allow the TPM 1.2 maintenance ordinals | `0` |
//! | `hwinitpcr=none\|all\|N\|X-Y[,…]` | hardware PCRs to copy in at start | `none` |
//! | `reset-on-missing-state` | make a fresh TPM when the saved one cannot be loaded | off |
//!
//! `loglevel=` is taken by the runtime before the image sees the line.

use alloc::string::String;
use core::fmt;
use kernel::cmdline::Options as Line;
use tpm_engine::Family;

/// The Startup type the vTPM sends itself on a fresh start (Linux's xen-tpmfront sends
/// none): TPM_ST_CLEAR / TPM_ST_STATE / TPM_ST_DEACTIVATED (TPM 1.2 Part 2 §17.1);
/// TPM 2.0 knows SU_CLEAR and SU_STATE only (Part 2 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupType {
    /// A cold start (the default).
    Clear,
    /// Resume the state an orderly TPM_SaveState / TPM2_Shutdown(STATE) stored.
    Save,
    /// TPM 1.2 only: start deactivated until the next TPM_Startup(ST_CLEAR).
    Deactivated,
}

impl fmt::Display for StartupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Clear => "clear",
            Self::Save => "save",
            Self::Deactivated => "deactivated",
        })
    }
}

/// A set of PCR indices below 24 (`hwinitpcr=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PcrSet(pub u32);

/// PCRs a TPM 1.2 has (and `hwinitpcr` accepts).
pub const PCR_COUNT: u32 = 24;

impl PcrSet {
    /// Parses `none`, `all`, or a comma list of `N` and `X-Y` (inclusive), each < 24.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        const EXPECTED: &str = "none, all, or a list of N and X-Y below 24";
        match text {
            "none" => return Ok(Self(0)),
            "all" => return Ok(Self((1 << PCR_COUNT) - 1)),
            _ => {}
        }
        let mut set = 0u32;
        for part in text.split(',') {
            let (low, high) = match part.split_once('-') {
                Some((low, high)) => (low, high),
                None => (part, part),
            };
            let number = |s: &str| -> Result<u32, &'static str> {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 2 {
                    return Err(EXPECTED);
                }
                let n: u32 = s.parse().map_err(|_| EXPECTED)?;
                if n < PCR_COUNT { Ok(n) } else { Err(EXPECTED) }
            };
            let (low, high) = (number(low)?, number(high)?);
            if low > high {
                return Err(EXPECTED);
            }
            for index in low..=high {
                set |= 1 << index;
            }
        }
        Ok(Self(set))
    }

    /// True if no PCR is selected.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The selected indices, in order.
    pub fn indices(self) -> impl Iterator<Item = u32> {
        (0..PCR_COUNT).filter(move |i| self.0 & (1 << i) != 0)
    }
}

impl fmt::Display for PcrSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        if self.0 == (1 << PCR_COUNT) - 1 {
            return f.write_str("all");
        }
        let mut first = true;
        for index in self.indices() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{index}")?;
        }
        Ok(())
    }
}

/// Everything the vTPM takes from its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The TPM family the guest gets.
    pub family: Family,
    /// The Startup type for a TPM that is not resuming a running state.
    pub startup: StartupType,
    /// Allow the TPM 1.2 maintenance ordinals.
    pub maintenance_commands: bool,
    /// Hardware PCRs to copy in at start.
    pub hw_init_pcrs: PcrSet,
    /// Make a fresh TPM if the saved one cannot be loaded (logged loudly).
    pub reset_on_missing_state: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            family: Family::Tpm12,
            startup: StartupType::Clear,
            maintenance_commands: false,
            hw_init_pcrs: PcrSet(0),
            reset_on_missing_state: false,
        }
    }
}

impl Options {
    /// Takes the vTPM's options from the command line; bad values fall back to the
    /// default with a warning the caller logs (`Line::finish`). Returns an error only
    /// for combinations that cannot be honoured.
    pub fn take(line: &mut Line<'_>) -> Result<Self, String> {
        let family = match line.choice("tpm", &["1.2", "2.0"], "1.2") {
            "2.0" => Family::Tpm20,
            _ => Family::Tpm12,
        };
        // `clear`, `save`, `deactivated` are bare words in the C vTPM; the last given wins.
        let clear = line.flag("clear");
        let save = line.flag("save");
        let deactivated = line.flag("deactivated");
        let startup = match (clear, save, deactivated) {
            (false, false, false) | (true, false, false) => StartupType::Clear,
            (false, true, false) => StartupType::Save,
            (false, false, true) => StartupType::Deactivated,
            _ => return Err("options clear, save and deactivated exclude each other".into()),
        };
        if family == Family::Tpm20 && startup == StartupType::Deactivated {
            return Err("option deactivated exists for tpm=1.2 only".into());
        }
        let maintenance_commands = line.boolean("maintcmds", false);
        let hw_init_pcrs = line.parsed("hwinitpcr", PcrSet(0), PcrSet::parse);
        let reset_on_missing_state = line.flag("reset-on-missing-state");
        Ok(Self { family, startup, maintenance_commands, hw_init_pcrs, reset_on_missing_state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Result<Options, String>, usize) {
        let mut line = Line::parse(text);
        let options = Options::take(&mut line);
        (options, line.finish().len())
    }

    #[test]
    fn defaults_are_tpm12_clear_no_maintenance_stop_on_missing_state() {
        assert_eq!(parse(""), (Ok(Options::default()), 0));
    }

    #[test]
    fn every_option_is_understood() {
        let (options, warnings) =
            parse("tpm=2.0 save maintcmds=1 hwinitpcr=0-3,7 reset-on-missing-state");
        assert_eq!(warnings, 0);
        assert_eq!(
            options,
            Ok(Options {
                family: Family::Tpm20,
                startup: StartupType::Save,
                maintenance_commands: true,
                hw_init_pcrs: PcrSet(0b1000_1111),
                reset_on_missing_state: true,
            })
        );
    }

    #[test]
    fn bad_values_fall_back_with_a_warning() {
        let (options, warnings) = parse("tpm=3 hwinitpcr=24 maintcmds=maybe");
        assert_eq!(options, Ok(Options::default()));
        assert_eq!(warnings, 3);
    }

    #[test]
    fn contradictions_are_refused() {
        assert!(parse("clear save").0.is_err());
        assert!(parse("tpm=2.0 deactivated").0.is_err());
    }

    #[test]
    fn pcr_sets_parse_and_print() {
        assert_eq!(PcrSet::parse("all"), Ok(PcrSet(0xFF_FFFF)));
        assert_eq!(PcrSet::parse("none"), Ok(PcrSet(0)));
        assert_eq!(PcrSet::parse("23"), Ok(PcrSet(1 << 23)));
        for bad in ["", "1,", "3-1", "-1", "+1", "1-24", "007", "a"] {
            assert!(PcrSet::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(alloc::format!("{}", PcrSet(0b101)), "0,2");
    }
}
