//! The manager's options: the `extra=` words of its xl config (docs/manager.md).
//!
//! The names are the C manager's (protocol spec §5.9) where it had the option:
//! `tpmlocality=`, `tpmiomem=`, `tpm2`/`tpm2=1`, `owner_auth=`, `srk_auth=`,
//! `srk_handle=`, `tpmdriver=`, `tpmirq=`; ours add `seal_pcrs=`, `counter_index=`,
//! `reformat` and `rebind_counter`. `loglevel=` is the runtime's.
//!
//! Unlike the runtime's options, a bad value here is fatal: falling back to a default
//! owner authorisation, PCR selection or locality would seal the root secret to
//! something the administrator did not ask for (and a changed PCR selection is
//! re-sealed at start). Words nobody knows are warned about and ignored, as everywhere.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;
use kernel::cmdline::{Arg, Options};
use tpm_client::{Config, ConfigError, Family};

/// Where the TIS registers are unless `tpmiomem=` says otherwise (PC Client PTP §5.4).
pub const DEFAULT_TIS_BASE: u64 = 0xFED4_0000;

/// A TIS locality page.
const PAGE: u64 = 0x1000;

/// Everything the manager takes from its command line.
#[derive(Clone, Debug)]
pub struct ManagerOptions {
    /// The hardware TPM client's settings (auth values, SRK handle, PCR selection,
    /// counter index, locality).
    pub tpm: Config,
    /// Physical address of locality 0's register page (`tpmiomem=`).
    pub tis_base: u64,
    /// The family the administrator says the TPM is (`tpm2`, `tpm2=1`, `tpm2=0`);
    /// `None`: whatever is detected.
    pub expected_family: Option<Family>,
    /// Format the disk whatever it holds (`reformat`).
    pub reformat: bool,
    /// Accept the newest root whatever the counter says, once (`rebind_counter`).
    pub rebind_counter: bool,
}

impl ManagerOptions {
    /// The locality the manager talks to the TPM from.
    pub fn locality(&self) -> u8 {
        self.tpm.locality
    }

    /// The machine frame of the configured locality's register page: the one page
    /// the image maps (`iomem=["fed40,5"]` grants all five, `["fed42,1"]` only
    /// locality 2's).
    pub fn tis_frame(&self) -> u64 {
        (self.tis_base + PAGE * u64::from(self.tpm.locality)) / PAGE
    }
}

/// An option the manager cannot start with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    /// The option's name.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "option {}: {}", self.key, self.problem)
    }
}

fn bad(key: &str, problem: impl fmt::Display) -> OptionError {
    OptionError { key: key.to_string(), problem: format!("{problem}") }
}

/// The value of `arg`, which needs one.
fn value<'a>(arg: Arg<'a>) -> Result<&'a str, OptionError> {
    arg.value.filter(|v| !v.is_empty()).ok_or_else(|| bad(arg.key, "needs a value"))
}

/// Options handed to [`tpm_client::Config::set_option`]; `true` if the value may be
/// shown in the banner.
const CLIENT_OPTIONS: [(&str, bool); 5] = [
    ("owner_auth", false),
    ("srk_auth", false),
    ("srk_handle", true),
    ("seal_pcrs", true),
    ("counter_index", true),
];

/// Takes the manager's options out of `options`.
pub fn parse(options: &mut Options<'_>) -> Result<ManagerOptions, OptionError> {
    let mut tpm = Config::default();
    for (key, shown) in CLIENT_OPTIONS {
        let Some(arg) = options.raw(key) else { continue };
        let text = value(arg)?;
        tpm.set_option(key, text).map_err(|e: ConfigError| bad(key, e))?;
        options.effective(if shown { arg.to_string() } else { format!("{key}=(hidden)") });
    }
    if let Some(arg) = options.raw("tpmlocality") {
        let text = value(arg)?;
        let locality = text
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= 4)
            .ok_or_else(|| bad("tpmlocality", "expected 0, 1, 2, 3 or 4"))?;
        tpm.set_locality(locality).map_err(|e| bad("tpmlocality", e))?;
        options.effective(arg.to_string());
    }
    let tis_base = match options.raw("tpmiomem") {
        None => DEFAULT_TIS_BASE,
        Some(arg) => {
            let base = parse_address(value(arg)?).ok_or_else(|| {
                bad("tpmiomem", "expected a page-aligned hexadecimal address such as 0xfed40000")
            })?;
            options.effective(format!("tpmiomem={base:#x}"));
            base
        }
    };
    let expected_family = match options.raw("tpm2") {
        None => None,
        Some(Arg { value: None | Some("1"), .. }) => Some(Family::Tpm20),
        Some(Arg { value: Some("0"), .. }) => Some(Family::Tpm12),
        Some(_) => return Err(bad("tpm2", "expected tpm2, tpm2=1 or tpm2=0")),
    };
    if let Some(family) = expected_family {
        options.effective(match family {
            Family::Tpm20 => "tpm2=1",
            Family::Tpm12 => "tpm2=0",
        });
    }
    if let Some(arg) = options.raw("tpmdriver") {
        match arg.value {
            Some("tpm_tis") => options.effective("tpmdriver=tpm_tis"),
            _ => {
                return Err(bad(
                    "tpmdriver",
                    "only tpm_tis is supported (the hardware TPM's TIS registers)",
                ));
            }
        }
    }
    if let Some(arg) = options.raw("tpmirq") {
        // The C manager's default, and the only mode it implemented, is polling.
        kernel::info!("option {arg}: interrupts are not used; the TPM is polled");
    }
    let reformat = options.flag("reformat");
    let rebind_counter = options.flag("rebind_counter");
    Ok(ManagerOptions { tpm, tis_base, expected_family, reformat, rebind_counter })
}

/// A page-aligned physical address, hexadecimal with an optional `0x`.
fn parse_address(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let address = u64::from_str_radix(digits, 16).ok()?;
    (address % PAGE == 0 && address != 0).then_some(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &'static str) -> (Result<ManagerOptions, OptionError>, String, usize) {
        let mut options = Options::parse(line);
        let result = parse(&mut options);
        let warnings = options.finish().len();
        (result, options.summary(), warnings)
    }

    #[test]
    fn defaults_detect_the_family_at_locality_0() {
        let (options, summary, warnings) = parsed("");
        let options = options.unwrap();
        assert_eq!(options.expected_family, None);
        assert_eq!(options.locality(), 0);
        assert_eq!(options.tis_frame(), 0xFED40);
        assert!(!options.reformat && !options.rebind_counter);
        assert_eq!((summary.as_str(), warnings), ("", 0));
    }

    #[test]
    fn c_manager_options_are_understood() {
        let (options, summary, warnings) = parsed(
            "tpm2=1 tpmlocality=2 tpmiomem=0xfed40000 owner_auth=text:secret \
             srk_auth=well-known tpmdriver=tpm_tis tpmirq=0",
        );
        let options = options.unwrap();
        assert_eq!(options.expected_family, Some(Family::Tpm20));
        assert_eq!(options.tis_frame(), 0xFED42);
        assert!(!summary.contains("secret"), "{summary}");
        assert!(summary.contains("owner_auth=(hidden)"), "{summary}");
        assert_eq!(warnings, 0);
    }

    #[test]
    fn bare_tpm2_flag_and_tpm2_0() {
        assert_eq!(parsed("tpm2").0.unwrap().expected_family, Some(Family::Tpm20));
        assert_eq!(parsed("tpm2=0").0.unwrap().expected_family, Some(Family::Tpm12));
        assert_eq!(parsed("tpm2=yes").0.unwrap_err().key, "tpm2");
    }

    #[test]
    fn our_options_are_understood() {
        let (options, summary, _) =
            parsed("seal_pcrs=0,2,4,7,16 reformat rebind_counter counter_index=0x01800100");
        let options = options.unwrap();
        assert!(options.reformat && options.rebind_counter);
        assert_eq!(options.tpm.seal_pcrs, tpm_client::PcrSelection::parse("0,2,4,7,16").unwrap());
        assert_eq!(options.tpm.counter_index, 0x0180_0100);
        assert!(summary.contains("seal_pcrs=0,2,4,7,16"), "{summary}");
    }

    #[test]
    fn bad_values_are_fatal() {
        for (line, key) in [
            ("tpmlocality=5", "tpmlocality"),
            ("tpmlocality", "tpmlocality"),
            ("tpmiomem=0xfed40001", "tpmiomem"),
            ("tpmiomem=fedxx000", "tpmiomem"),
            ("owner_auth=hash:zz", "owner_auth"),
            ("srk_auth=", "srk_auth"),
            ("seal_pcrs=24", "seal_pcrs"),
            ("srk_handle=0x1", "srk_handle"),
            ("tpmdriver=tpmfront", "tpmdriver"),
        ] {
            let error = parsed(line).0.unwrap_err();
            assert_eq!(error.key, key, "{line}");
        }
    }

    #[test]
    fn unknown_words_are_warned_not_fatal() {
        let (options, _, warnings) = parsed("tpm2=1 frobnicate=3");
        assert!(options.is_ok());
        assert_eq!(warnings, 1);
    }

    #[test]
    fn tpmiomem_without_prefix() {
        let options = parsed("tpmiomem=fed40000 tpmlocality=4").0.unwrap();
        assert_eq!(options.tis_frame(), 0xFED44);
    }
}
