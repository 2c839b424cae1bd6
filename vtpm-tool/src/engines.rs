//! The engine table: which TPM engines this build can serve, and how to make one.
//!
//! The server only sees `Box<dyn TpmEngine + Send>`. Wiring an engine crate is one
//! entry in [`builtin`]: a constructor that takes the caller's [`Drbg`], and the
//! identification CMD_GET_INFO reports.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use tpm_engine::{Drbg, Family, TpmEngine};

/// An engine behind the object-safe contract, movable between threads.
pub type BoxedEngine = Box<dyn TpmEngine + Send>;

/// Why an engine could not be constructed, in the engine's own words.
pub type BuildError = Box<dyn StdError + Send + Sync>;

/// Makes a freshly manufactured engine from a seeded DRBG.
pub type Build = Arc<dyn Fn(Drbg) -> Result<BoxedEngine, BuildError> + Send + Sync>;

/// What CMD_GET_INFO says about an engine (libtpms' `TPMLIB_GetInfo` fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineInfo {
    /// Specification level (`TPMSpecification.level`).
    pub level: u32,
    /// Specification revision (`TPMSpecification.revision`).
    pub revision: u32,
    /// Manufacturer, as `id:XXXXXXXX` (the TPM_PT_MANUFACTURER / vendor ID).
    pub manufacturer: String,
    /// Firmware version, as `id:XXXXXXXX`.
    pub version: String,
    /// Model name.
    pub model: String,
}

/// One entry of the engine table.
#[derive(Clone)]
pub struct EngineSpec {
    /// The family the engine implements.
    pub family: Family,
    /// Identification for CMD_GET_INFO.
    pub info: EngineInfo,
    /// The constructor.
    pub build: Build,
}

impl fmt::Debug for EngineSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineSpec")
            .field("family", &self.family)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// The engines compiled into this build. `None` for a family whose engine is not
/// wired in yet; `vtpm-tool serve` then refuses to start for it.
pub fn builtin(family: Family) -> Option<EngineSpec> {
    match family {
        Family::Tpm12 => Some(tpm12_with(tpm12::Config::default())),
        Family::Tpm20 => Some(tpm2_spec()),
    }
}

/// The `tpm12` crate with `config` (by default: vendor `XVTP`, firmware 1.0, no
/// platform physical presence, no endorsement key until
/// TPM_CreateEndorsementKeyPair (as swtpm), TPM 1.2 rev 116).
pub fn tpm12_with(config: tpm12::Config) -> EngineSpec {
    let version = &config.version;
    let info = EngineInfo {
        level: u32::from(version.spec_level),
        revision: 116,
        manufacturer: format!("id:{:08X}", u32::from_be_bytes(version.vendor_id)),
        version: format!("id:{:04X}{:04X}", version.rev_major, version.rev_minor),
        model: String::from(MODEL),
    };
    let build: Build = Arc::new(move |drbg| {
        let engine = tpm12::Tpm12::new(drbg, config.clone())
            .map_err(|e| -> BuildError { e.to_string().into() })?;
        Ok(Box::new(engine) as BoxedEngine)
    });
    EngineSpec { family: Family::Tpm12, info, build }
}

/// The `tpm2` crate. Its identity (TPM_PT_MANUFACTURER "RUST", firmware
/// 0x00010000, specification revision 1.59 level 0) is what its capability table
/// reports (docs/tpm2.md, "Vendor values"); repeated here for CMD_GET_INFO.
fn tpm2_spec() -> EngineSpec {
    let info = EngineInfo {
        level: 0,
        revision: 159,
        manufacturer: format!("id:{:08X}", u32::from_be_bytes(*b"RUST")),
        version: String::from("id:00010000"),
        model: String::from(MODEL),
    };
    let build: Build = Arc::new(|drbg| Ok(Box::new(tpm2::Tpm2::new(drbg)) as BoxedEngine));
    EngineSpec { family: Family::Tpm20, info, build }
}

/// The model name CMD_GET_INFO reports for the engines of this project.
const MODEL: &str = "rust-vtpm";

impl EngineInfo {
    /// The JSON document libtpms' `TPMLIB_GetInfo` returns for `flags`, limited to
    /// the parts this server knows: the specification (`SWTPM_INFO_TPMSPECIFICATION`)
    /// and the attributes (`SWTPM_INFO_TPMATTRIBUTES`). Other flags add nothing, as
    /// libtpms' TPM 1.2 does for flags it does not know.
    pub fn json(&self, family: Family, flags: u64) -> String {
        let mut parts = Vec::new();
        if flags & crate::ctrl::INFO_TPMSPECIFICATION != 0 {
            let name = match family {
                Family::Tpm12 => "1.2",
                Family::Tpm20 => "2.0",
            };
            parts.push(format!(
                "\"TPMSpecification\":{{\"family\":\"{name}\",\"level\":{},\"revision\":{}}}",
                self.level, self.revision
            ));
        }
        if flags & crate::ctrl::INFO_TPMATTRIBUTES != 0 {
            parts.push(format!(
                "\"TPMAttributes\":{{\"manufacturer\":\"{}\",\"version\":\"{}\",\"model\":\"{}\"}}",
                json_escape(&self.manufacturer),
                json_escape(&self.version),
                json_escape(&self.model)
            ));
        }
        format!("{{{}}}", parts.join(","))
    }
}

/// Escapes a string for a JSON string literal.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn libtpms_like() -> EngineInfo {
        EngineInfo {
            level: 0,
            revision: 164,
            manufacturer: "id:00001014".into(),
            version: "id:20191023".into(),
            model: "swtpm".into(),
        }
    }

    #[test]
    fn json_matches_libtpms_layout() {
        let info = libtpms_like();
        assert_eq!(info.json(Family::Tpm20, 0), "{}");
        assert_eq!(
            info.json(Family::Tpm20, 1),
            r#"{"TPMSpecification":{"family":"2.0","level":0,"revision":164}}"#
        );
        assert_eq!(
            info.json(Family::Tpm20, 3),
            r#"{"TPMSpecification":{"family":"2.0","level":0,"revision":164},"TPMAttributes":{"manufacturer":"id:00001014","version":"id:20191023","model":"swtpm"}}"#
        );
        assert_eq!(
            info.json(Family::Tpm20, 2 | 0x80),
            r#"{"TPMAttributes":{"manufacturer":"id:00001014","version":"id:20191023","model":"swtpm"}}"#
        );
    }

    #[test]
    fn json_escapes_strings() {
        let mut info = libtpms_like();
        info.model = "a\"b\\c\n".into();
        assert!(info.json(Family::Tpm12, 2).contains(r#""model":"a\"b\\c\u000a""#));
    }
}
