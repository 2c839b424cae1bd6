//! A selection of PCRs 0-23, as the root secret's seal binds to.

use core::fmt;

use crate::ConfigError;

/// PCRs on a PC Client TPM (TPM 1.2 and TPM 2.0 PC Client profiles both have 24).
pub(crate) const PCR_COUNT: u8 = 24;

/// Bytes of a TCG PCR selection bitmap for 24 PCRs (TPM 1.2 Part 2 §8.1
/// TPM_PCR_SELECTION.sizeOfSelect, TPM 2.0 Part 2 §10.6.2 sizeofSelect, PCR_SELECT_MIN).
pub(crate) const SELECT_BYTES: usize = 3;

/// A set of PCRs among 0-23.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PcrSelection(u32);

impl PcrSelection {
    /// No PCR.
    pub const EMPTY: Self = Self(0);

    /// The selection whose bit `i` selects PCR `i`; `None` if a bit above 23 is set.
    pub const fn from_mask(mask: u32) -> Option<Self> {
        if mask >> PCR_COUNT == 0 { Some(Self(mask)) } else { None }
    }

    /// The selection as a mask (bit `i` = PCR `i`).
    pub const fn mask(self) -> u32 {
        self.0
    }

    /// This selection plus `pcr`; `None` if `pcr` is above 23.
    pub const fn with(self, pcr: u8) -> Option<Self> {
        if pcr < PCR_COUNT { Some(Self(self.0 | 1 << pcr)) } else { None }
    }

    /// True if `pcr` is selected.
    pub const fn contains(self, pcr: u8) -> bool {
        pcr < PCR_COUNT && self.0 & (1 << pcr) != 0
    }

    /// Number of PCRs selected.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// True if no PCR is selected.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The selected PCRs, ascending.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..PCR_COUNT).filter(move |&pcr| self.contains(pcr))
    }

    /// Parses a list such as `0,2,4-7` (ascending or not, ranges inclusive), or `none`.
    pub fn parse(list: &str) -> Result<Self, ConfigError> {
        if list == "none" {
            return Ok(Self::EMPTY);
        }
        let mut selection = Self::EMPTY;
        for item in list.split(',') {
            let (first, last) = match item.split_once('-') {
                Some((a, b)) => (parse_pcr(a)?, parse_pcr(b)?),
                None => {
                    let pcr = parse_pcr(item)?;
                    (pcr, pcr)
                }
            };
            if first > last {
                return Err(ConfigError::PcrList);
            }
            for pcr in first..=last {
                selection = selection.with(pcr).ok_or(ConfigError::PcrList)?;
            }
        }
        Ok(selection)
    }

    /// The TCG selection bitmap: PCR `i` is bit `i % 8` of byte `i / 8`.
    pub(crate) fn select_bytes(self) -> [u8; SELECT_BYTES] {
        let [a, b, c, _] = self.0.to_le_bytes();
        [a, b, c]
    }

    /// The selection a TCG bitmap describes; `None` if it selects a PCR above 23.
    pub(crate) fn from_select_bytes(bytes: &[u8]) -> Option<Self> {
        let mut mask = 0u32;
        for (index, &byte) in bytes.iter().enumerate() {
            if byte == 0 {
                continue;
            }
            if index >= SELECT_BYTES {
                return None;
            }
            mask |= u32::from(byte) << (8 * index);
        }
        Self::from_mask(mask)
    }
}

fn parse_pcr(text: &str) -> Result<u8, ConfigError> {
    // u8::from_str accepts a leading '+'; a PCR number is digits only.
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConfigError::PcrList);
    }
    let pcr: u8 = text.parse().map_err(|_| ConfigError::PcrList)?;
    if pcr < PCR_COUNT { Ok(pcr) } else { Err(ConfigError::PcrList) }
}

impl fmt::Display for PcrSelection {
    /// Writes the selection in the form [`PcrSelection::parse`] reads, with ranges.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        let mut pcr = 0;
        while pcr < PCR_COUNT {
            if !self.contains(pcr) {
                pcr += 1;
                continue;
            }
            let start = pcr;
            while pcr + 1 < PCR_COUNT && self.contains(pcr + 1) {
                pcr += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == pcr {
                write!(f, "{start}")?
            } else {
                write!(f, "{start}-{pcr}")?
            }
            pcr += 1;
        }
        Ok(())
    }
}

impl fmt::Debug for PcrSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PcrSelection({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    #[test]
    fn parse_reads_numbers_and_ranges() {
        let selection = PcrSelection::parse("0,2,4-7").unwrap();
        assert_eq!(selection.mask(), 0b1111_0101);
        assert_eq!(selection.to_string(), "0,2,4-7");
    }

    #[test]
    fn parse_refuses_out_of_range_and_garbage() {
        for bad in ["", "24", "0,,1", "3-1", "+1", "1-", "a", "0-24", "007"] {
            assert_eq!(PcrSelection::parse(bad), Err(ConfigError::PcrList), "{bad}");
        }
    }

    #[test]
    fn select_bytes_put_pcr_zero_in_the_low_bit_of_the_first_byte() {
        let selection = PcrSelection::parse("0,9,23").unwrap();
        assert_eq!(selection.select_bytes(), [0x01, 0x02, 0x80]);
        assert_eq!(PcrSelection::from_select_bytes(&[0x01, 0x02, 0x80, 0]), Some(selection));
        assert_eq!(PcrSelection::from_select_bytes(&[0, 0, 0, 1]), None);
    }

    proptest! {
        #[test]
        fn display_parses_back(mask in 0u32..1 << 24) {
            let selection = PcrSelection::from_mask(mask).unwrap();
            prop_assert_eq!(PcrSelection::parse(&selection.to_string()), Ok(selection));
        }
    }
}
