//! The client's configuration, and the manager options it reads.

use crate::{AuthValue, ConfigError, PcrSelection};

/// PCRs the root secret is sealed to unless `seal_pcrs=` says otherwise: 0 (firmware
/// code), 2 (option ROM code), 4 (boot loader / EFI application code: shim, GRUB,
/// xen.efi) and 7 (Secure Boot policy) of the PC Client profile. Configuration data
/// (1, 3, 5) changes too often to be a default. docs/manager-trust.md "PCR selection".
pub const DEFAULT_SEAL_PCRS: PcrSelection = match PcrSelection::from_mask(0b1001_0101) {
    Some(selection) => selection,
    None => PcrSelection::EMPTY,
};

/// The TPM 2.0 NV index of the rollback counter unless `counter_index=` says otherwise.
/// It lies in the range the TCG handle registry leaves to the platform owner
/// (0x01800000-0x01BFFFFF), away from the subranges the registry delegated (systemd's
/// 0x01800400-0x018005FF); the low half echoes the manager protocol's tag 0x01C1.
pub const DEFAULT_NV_COUNTER_INDEX: u32 = 0x0180_C1C1;

/// First and last owner persistent handle (TPM 2.0 Part 2 §7.5, TCG handle registry:
/// 0x81000000-0x817FFFFF owner, 0x81800000-0x81FFFFFF platform).
const OWNER_PERSISTENT: (u32, u32) = (0x8100_0000, 0x817F_FFFF);

/// First and last NV index handle (TPM_HT_NV_INDEX, TPM 2.0 Part 2 §7.2).
const NV_INDEX_RANGE: (u32, u32) = (0x0100_0000, 0x01FF_FFFF);

/// How the client uses the hardware TPM.
#[derive(Clone, Debug)]
pub struct Config {
    /// The owner's authorisation (`owner_auth=`): TPM 1.2 owner (taken with this value
    /// when the TPM is unowned), TPM 2.0 owner hierarchy.
    pub owner_auth: AuthValue,
    /// The storage root key's authorisation (`srk_auth=`).
    pub srk_auth: AuthValue,
    /// TPM 2.0: keep the storage key at this persistent handle (`srk_handle=`); `None`
    /// re-creates it from the TCG template at every use.
    pub srk_handle: Option<u32>,
    /// The PCRs the manager seals its root secret to (`seal_pcrs=`).
    pub seal_pcrs: PcrSelection,
    /// TPM 2.0: the NV index of the rollback counter (`counter_index=`).
    pub counter_index: u32,
    /// The locality the manager talks to the TPM from (the TIS driver's, `tpmlocality=`
    /// in the image); the root secret is released to this locality only.
    pub locality: u8,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            owner_auth: AuthValue::WellKnown,
            srk_auth: AuthValue::WellKnown,
            srk_handle: None,
            seal_pcrs: DEFAULT_SEAL_PCRS,
            counter_index: DEFAULT_NV_COUNTER_INDEX,
            locality: 0,
        }
    }
}

impl Config {
    /// Applies one `key=value` option of the manager's command line. Keys:
    /// `owner_auth`, `srk_auth` (see [`AuthValue::parse`]), `srk_handle` (hex, or
    /// `none`), `seal_pcrs` (see [`PcrSelection::parse`]), `counter_index` (hex).
    /// Anything else is [`ConfigError::UnknownOption`], so the image can try its own
    /// options first or after.
    pub fn set_option(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "owner_auth" => self.owner_auth = AuthValue::parse(value)?,
            "srk_auth" => self.srk_auth = AuthValue::parse(value)?,
            "srk_handle" => {
                self.srk_handle = match value {
                    "none" => None,
                    _ => Some(parse_handle(value, OWNER_PERSISTENT).ok_or(ConfigError::SrkHandle)?),
                }
            }
            "seal_pcrs" => self.seal_pcrs = PcrSelection::parse(value)?,
            "counter_index" => {
                self.counter_index =
                    parse_handle(value, NV_INDEX_RANGE).ok_or(ConfigError::CounterIndex)?;
            }
            _ => return Err(ConfigError::UnknownOption),
        }
        Ok(())
    }

    /// Sets the locality (0-4).
    pub fn set_locality(&mut self, locality: u8) -> Result<(), ConfigError> {
        if locality > 4 {
            return Err(ConfigError::Locality);
        }
        self.locality = locality;
        Ok(())
    }

    /// Checks the fields a caller may have set directly.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.locality > 4 {
            return Err(ConfigError::Locality);
        }
        if let Some(handle) = self.srk_handle
            && !(OWNER_PERSISTENT.0..=OWNER_PERSISTENT.1).contains(&handle)
        {
            return Err(ConfigError::SrkHandle);
        }
        if !(NV_INDEX_RANGE.0..=NV_INDEX_RANGE.1).contains(&self.counter_index) {
            return Err(ConfigError::CounterIndex);
        }
        Ok(())
    }
}

/// A hexadecimal handle (`0x` optional, 1-8 digits) within `range`.
fn parse_handle(text: &str, range: (u32, u32)) -> Option<u32> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let handle = u32::from_str_radix(digits, 16).ok()?;
    (range.0..=range.1).contains(&handle).then_some(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pcrs_are_0_2_4_7() {
        assert_eq!(DEFAULT_SEAL_PCRS, PcrSelection::parse("0,2,4,7").unwrap());
    }

    #[test]
    fn options_set_their_fields() {
        let mut config = Config::default();
        config.set_option("srk_handle", "0x81000001").unwrap();
        config.set_option("counter_index", "1800123").unwrap();
        config.set_option("seal_pcrs", "0-7").unwrap();
        config.set_option("owner_auth", "text:x").unwrap();
        assert_eq!(config.srk_handle, Some(0x8100_0001));
        assert_eq!(config.counter_index, 0x0180_0123);
        assert_eq!(config.seal_pcrs.mask(), 0xFF);
        assert!(matches!(config.owner_auth, AuthValue::Text(_)));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn handles_outside_their_range_are_refused() {
        let mut config = Config::default();
        assert_eq!(config.set_option("srk_handle", "0x81800000"), Err(ConfigError::SrkHandle));
        assert_eq!(config.set_option("srk_handle", "0x1_000"), Err(ConfigError::SrkHandle));
        assert_eq!(
            config.set_option("counter_index", "0x02000000"),
            Err(ConfigError::CounterIndex)
        );
        assert_eq!(config.set_option("counter_index", "0x"), Err(ConfigError::CounterIndex));
        assert_eq!(config.set_option("tpm2", "1"), Err(ConfigError::UnknownOption));
        assert_eq!(config.set_locality(5), Err(ConfigError::Locality));
    }
}
