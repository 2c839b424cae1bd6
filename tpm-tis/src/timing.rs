//! Timeouts A–D and per-command durations (TIS 1.3 "Timeouts", PTP, Linux's tables).
//!
//! Timeouts bound each handshake step; durations bound command execution and depend on
//! the command. The TPM 1.2 classes follow TPM Main Part 2 §17 ("Ordinals") as Linux's
//! `tpm1-cmd.c` tabulates them; the TPM 2.0 classes follow Linux's `tpm2-cmd.c`.
//! Anything unknown gets [`DEFAULT_DURATION_NS`] (120 s), as in both Linux and mini-os.

use crate::TisError;

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

/// Duration for a command whose class is unknown: 120 s (specs §6.4).
pub const DEFAULT_DURATION_NS: u64 = 120_000 * MS;
/// Upper bound applied to every timeout a TPM reports (a hostile value must not make a
/// single wait last for hours).
pub const MAX_TIMEOUT_NS: u64 = 30_000 * MS;
/// Upper bound applied to every duration a TPM reports.
pub const MAX_DURATION_NS: u64 = 600_000 * MS;

/// The four TIS handshake timeouts, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TIMEOUT_A: locality request.
    pub a_ns: u64,
    /// TIMEOUT_B: reaching commandReady (also the cancel handshake).
    pub b_ns: u64,
    /// TIMEOUT_C: stsValid / dataAvail during a transfer.
    pub c_ns: u64,
    /// TIMEOUT_D: a non-zero burstCount.
    pub d_ns: u64,
}

impl Default for Timeouts {
    /// TIS 1.3 defaults: 750 / 2000 / 750 / 750 ms (specs §6.4).
    fn default() -> Self {
        Self { a_ns: 750 * MS, b_ns: 2000 * MS, c_ns: 750 * MS, d_ns: 750 * MS }
    }
}

/// How long a command may run, by class (TPM Main Part 2 §17; PTP for TPM 2.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DurationClass {
    /// TPM_SHORT.
    Short,
    /// TPM_MEDIUM.
    Medium,
    /// TPM_LONG.
    Long,
    /// Key generation on TPM 2.0 (Linux's TPM_LONG_LONG).
    LongLong,
    /// Not in the tables: [`DEFAULT_DURATION_NS`].
    Undefined,
}

/// Command durations per class, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durations {
    /// Short commands.
    pub short_ns: u64,
    /// Medium commands.
    pub medium_ns: u64,
    /// Long commands.
    pub long_ns: u64,
    /// Key-generation commands (TPM 2.0 only).
    pub long_long_ns: u64,
}

impl Durations {
    /// Before the TPM was asked (TPM 1.2) or the family is known: every class gets the
    /// 120 s default, as mini-os does while its duration table is still zero.
    pub const UNKNOWN: Self = Self {
        short_ns: DEFAULT_DURATION_NS,
        medium_ns: DEFAULT_DURATION_NS,
        long_ns: DEFAULT_DURATION_NS,
        long_long_ns: DEFAULT_DURATION_NS,
    };

    /// TPM 2.0: the PTP values Linux uses (20 ms, 750 ms, 2 s; 300 s for key
    /// generation).
    pub const TPM20: Self = Self {
        short_ns: 20 * MS,
        medium_ns: 750 * MS,
        long_ns: 2000 * MS,
        long_long_ns: 300_000 * MS,
    };

    /// The duration of one class.
    pub fn of(&self, class: DurationClass) -> u64 {
        let d = match class {
            DurationClass::Short => self.short_ns,
            DurationClass::Medium => self.medium_ns,
            DurationClass::Long => self.long_ns,
            DurationClass::LongLong => self.long_long_ns,
            DurationClass::Undefined => DEFAULT_DURATION_NS,
        };
        // A zero duration means "not reported" (Linux and mini-os fall back likewise).
        if d == 0 { DEFAULT_DURATION_NS } else { d }
    }
}

// TPM 1.2 ordinal classes (TPM Main Part 2 §17), for the protected ordinals 0..243 as
// Linux's tpm1-cmd.c lists them. Anything not named here is Undefined.
const TPM12_SHORT: &[u8] = &[
    10, 11, 16, 17, 20, 21, 25, 26, 28, 29, 33, 34, 35, 43, 44, 45, 46, 47, 48, 63, 64, 70, 71, 84,
    90, 91, 92, 93, 94, 101, 102, 110, 111, 112, 113, 114, 115, 116, 117, 124, 125, 126, 128, 129,
    130, 133, 140, 141, 150, 153, 154, 160, 161, 162, 163, 181, 186, 200, 204, 205, 206, 207, 208,
    209, 219, 220, 221, 222, 223, 224, 230, 240,
];
const TPM12_MEDIUM: &[u8] = &[
    12, 15, 18, 22, 23, 24, 27, 30, 32, 36, 37, 40, 42, 50, 51, 60, 61, 62, 65, 82, 100, 122, 131,
    134, 151, 152, 180, 182, 183, 184, 185, 210, 212, 213, 214, 216, 232, 242,
];
const TPM12_LONG: &[u8] = &[13, 14, 19, 31, 41, 49, 80, 83, 120, 121, 127, 170, 231];

/// The class of a TPM 1.2 ordinal.
pub fn tpm12_class(ordinal: u32) -> DurationClass {
    let Ok(small) = u8::try_from(ordinal) else { return DurationClass::Undefined };
    if TPM12_SHORT.contains(&small) {
        DurationClass::Short
    } else if TPM12_MEDIUM.contains(&small) {
        DurationClass::Medium
    } else if TPM12_LONG.contains(&small) {
        DurationClass::Long
    } else {
        DurationClass::Undefined
    }
}

/// The class of a TPM 2.0 command code (Linux tpm2-cmd.c's table).
pub fn tpm20_class(cc: u32) -> DurationClass {
    match cc {
        0x144 /* Startup */ => DurationClass::Medium,
        0x143 /* SelfTest */ => DurationClass::Long,
        0x17B /* GetRandom */ => DurationClass::Long,
        0x15C /* SequenceUpdate */
        | 0x13E /* SequenceComplete */
        | 0x185 /* EventSequenceComplete */
        | 0x186 /* HashSequenceStart */ => DurationClass::Medium,
        0x177 /* VerifySignature */ => DurationClass::LongLong,
        0x182 /* PCR_Extend */ => DurationClass::Medium,
        0x121 /* HierarchyControl */ | 0x129 /* HierarchyChangeAuth */ => DurationClass::Long,
        0x17A /* GetCapability */ => DurationClass::Medium,
        0x14E /* NV_Read */ => DurationClass::Long,
        0x131 /* CreatePrimary */ | 0x153 /* Create */ | 0x191 /* CreateLoaded */ => {
            DurationClass::LongLong
        }
        _ => DurationClass::Undefined,
    }
}

/// TPM 1.2 TPM_GetCapability(TPM_CAP_PROPERTY, TPM_CAP_PROP_TIS_TIMEOUT)
/// (TPM Main Part 3 §7.1; Part 2 §21.2: capArea 5, subCap 0x115).
pub const TPM12_GETCAP_TIS_TIMEOUT: [u8; 22] = [
    0x00, 0xC1, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x65, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00,
    0x00, 0x04, 0x00, 0x00, 0x01, 0x15,
];
/// TPM 1.2 TPM_GetCapability(TPM_CAP_PROPERTY, TPM_CAP_PROP_DURATION) (subCap 0x120).
pub const TPM12_GETCAP_DURATION: [u8; 22] = [
    0x00, 0xC1, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x65, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00,
    0x00, 0x04, 0x00, 0x00, 0x01, 0x20,
];

/// The `count` big-endian u32 values of a successful TPM 1.2 GetCapability response
/// (`tag 0x00C4 | size | returnCode 0 | respSize | resp`), or an error if the response
/// is anything else.
fn tpm12_cap_u32s<const N: usize>(rsp: &[u8]) -> Result<[u32; N], TisError> {
    let be32 = |at: usize| -> Option<u32> {
        rsp.get(at..at.checked_add(4)?).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes)
    };
    let tag = rsp.get(0..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    if tag != Some(0x00C4) || be32(6) != Some(0) {
        return Err(TisError::BadCapability);
    }
    let resp_size = be32(10).ok_or(TisError::BadCapability)?;
    if usize::try_from(resp_size).map_or(true, |n| n < N * 4) {
        return Err(TisError::BadCapability);
    }
    let mut out = [0u32; N];
    for (i, v) in out.iter_mut().enumerate() {
        *v = be32(14 + 4 * i).ok_or(TisError::BadCapability)?;
    }
    Ok(out)
}

/// Applies a TPM_CAP_PROP_TIS_TIMEOUT response: four values in µs; a first value below
/// 1000 means the TPM reported milliseconds; zero keeps the default; every value is
/// raised to at least its default (mini-os, specs §6.4) and capped at
/// [`MAX_TIMEOUT_NS`].
pub fn tpm12_timeouts(rsp: &[u8]) -> Result<Timeouts, TisError> {
    let raw: [u32; 4] = tpm12_cap_u32s(rsp)?;
    let unit = if raw[0] != 0 && raw[0] < 1000 { MS } else { US };
    let d = Timeouts::default();
    let fix = |v: u32, default: u64| {
        let ns = u64::from(v).saturating_mul(unit);
        ns.max(default).min(MAX_TIMEOUT_NS.max(default))
    };
    Ok(Timeouts {
        a_ns: fix(raw[0], d.a_ns),
        b_ns: fix(raw[1], d.b_ns),
        c_ns: fix(raw[2], d.c_ns),
        d_ns: fix(raw[3], d.d_ns),
    })
}

/// Applies a TPM_CAP_PROP_DURATION response: short, medium, long in µs; a short value
/// under 10 ms means milliseconds were reported, so short becomes 1 s and medium/long
/// are multiplied by 1000 (Linux's and mini-os's fix-up). Zero stays "unknown" (120 s);
/// values are capped at [`MAX_DURATION_NS`].
pub fn tpm12_durations(rsp: &[u8]) -> Result<Durations, TisError> {
    let raw: [u32; 3] = tpm12_cap_u32s(rsp)?;
    let [mut short, mut medium, mut long] = raw.map(|v| u64::from(v).saturating_mul(US));
    if short < 10 * MS {
        short = 1000 * MS;
        medium = medium.saturating_mul(1000);
        long = long.saturating_mul(1000);
    }
    let cap = |v: u64| v.min(MAX_DURATION_NS);
    Ok(Durations {
        short_ns: cap(short),
        medium_ns: cap(medium),
        long_ns: cap(long),
        long_long_ns: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::vec::Vec;

    struct Rsp(Vec<u8>);

    impl Rsp {
        fn as_slice(&self) -> &[u8] {
            &self.0
        }
    }

    fn cap_rsp(values: &[u32]) -> Rsp {
        let mut b = Vec::new();
        let size = 14 + 4 * values.len();
        b.extend_from_slice(&[0x00, 0xC4]);
        b.extend_from_slice(&u32::try_from(size).unwrap().to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&u32::try_from(4 * values.len()).unwrap().to_be_bytes());
        for v in values {
            b.extend_from_slice(&v.to_be_bytes());
        }
        Rsp(b)
    }

    #[test]
    fn tpm12_class_table_matches_spot_checks() {
        assert_eq!(tpm12_class(0x65), DurationClass::Short); // GetCapability
        assert_eq!(tpm12_class(0x53), DurationClass::Long); // ContinueSelfTest
        assert_eq!(tpm12_class(0x17), DurationClass::Medium); // Seal
        assert_eq!(tpm12_class(0x1F), DurationClass::Long); // CreateWrapKey
        assert_eq!(tpm12_class(0), DurationClass::Undefined);
        assert_eq!(tpm12_class(243), DurationClass::Undefined);
        assert_eq!(tpm12_class(0x2000_0016), DurationClass::Undefined);
    }

    #[test]
    fn tpm12_tables_are_disjoint() {
        for o in 0..=255u8 {
            let n =
                [TPM12_SHORT, TPM12_MEDIUM, TPM12_LONG].iter().filter(|t| t.contains(&o)).count();
            assert!(n <= 1, "ordinal {o} in two classes");
        }
        assert_eq!(TPM12_SHORT.len() + TPM12_MEDIUM.len() + TPM12_LONG.len(), 72 + 38 + 13);
    }

    #[test]
    fn tpm20_class_key_generation_is_long_long() {
        assert_eq!(tpm20_class(0x131), DurationClass::LongLong);
        assert_eq!(tpm20_class(0x17A), DurationClass::Medium);
        assert_eq!(tpm20_class(0x176), DurationClass::Undefined);
        assert_eq!(Durations::TPM20.of(DurationClass::Undefined), DEFAULT_DURATION_NS);
    }

    #[test]
    fn tpm12_timeouts_in_microseconds_are_raised_to_defaults() {
        let r = cap_rsp(&[1_000_000, 500_000, 1_000_000, 1_000_000]);
        let t = tpm12_timeouts(r.as_slice()).unwrap();
        assert_eq!(t.a_ns, 1000 * MS);
        assert_eq!(t.b_ns, 2000 * MS, "below default is raised");
        assert_eq!(t.c_ns, 1000 * MS);
    }

    #[test]
    fn tpm12_timeouts_in_milliseconds_are_scaled() {
        let r = cap_rsp(&[800, 3000, 0, 900]);
        let t = tpm12_timeouts(r.as_slice()).unwrap();
        assert_eq!(t.a_ns, 800 * MS);
        assert_eq!(t.b_ns, 3000 * MS);
        assert_eq!(t.c_ns, 750 * MS, "zero keeps the default");
        assert_eq!(t.d_ns, 900 * MS);
    }

    #[test]
    fn tpm12_timeouts_hostile_values_are_capped() {
        let r = cap_rsp(&[999, u32::MAX, u32::MAX, u32::MAX]);
        let t = tpm12_timeouts(r.as_slice()).unwrap();
        assert_eq!(t.b_ns, MAX_TIMEOUT_NS);
    }

    #[test]
    fn tpm12_durations_in_milliseconds_get_linux_fixup() {
        let r = cap_rsp(&[5, 750, 2000]);
        let d = tpm12_durations(r.as_slice()).unwrap();
        assert_eq!(d.short_ns, 1000 * MS);
        assert_eq!(d.medium_ns, 750 * MS);
        assert_eq!(d.long_ns, 2000 * MS);
    }

    #[test]
    fn tpm12_durations_in_microseconds_are_kept() {
        let r = cap_rsp(&[20_000, 750_000, u32::MAX]);
        let d = tpm12_durations(r.as_slice()).unwrap();
        assert_eq!(d.short_ns, 20 * MS);
        assert_eq!(d.medium_ns, 750 * MS);
        assert_eq!(d.long_ns, (u32::MAX as u64 * US).min(MAX_DURATION_NS));
        assert_eq!(d.of(DurationClass::LongLong), DEFAULT_DURATION_NS);
    }

    #[test]
    fn tpm12_cap_error_or_short_response_is_refused() {
        let mut r = cap_rsp(&[1, 2, 3, 4]);
        r.0[9] = 0x0A; // TPM_BAD_ORDINAL
        assert_eq!(tpm12_timeouts(r.as_slice()), Err(TisError::BadCapability));
        let r = cap_rsp(&[1, 2]);
        assert_eq!(tpm12_timeouts(r.as_slice()), Err(TisError::BadCapability));
        assert_eq!(tpm12_durations(&[0x00, 0xC4]), Err(TisError::BadCapability));
    }
}
