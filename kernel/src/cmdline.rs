//! The domain's options: the `extra=` string of its xl config, which Xen passes as the
//! PV command line (start_info.cmd_line).
//!
//! Whitespace-separated words, each `key=value` or a bare flag. The runtime and the
//! image each ask for the options they know; a value that does not parse is reported
//! and replaced by the default, and whatever nobody asked for is reported and ignored
//! (never fatal: a typo in `extra=` must not keep a vTPM from starting).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

/// One word of the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arg<'a> {
    /// Text before the first `=` (the whole word for a flag).
    pub key: &'a str,
    /// Text after the first `=`, if there is one.
    pub value: Option<&'a str>,
}

impl fmt::Display for Arg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Some(value) => write!(f, "{}={}", self.key, value),
            None => f.write_str(self.key),
        }
    }
}

/// Splits a command line into words.
pub fn args(line: &str) -> impl Iterator<Item = Arg<'_>> {
    line.split_ascii_whitespace().map(|word| match word.split_once('=') {
        Some((key, value)) => Arg { key, value: Some(value) },
        None => Arg { key: word, value: None },
    })
}

/// The options of one command line, consumed key by key.
#[derive(Debug)]
pub struct Options<'a> {
    args: Vec<(Arg<'a>, bool)>,
    effective: Vec<String>,
    warnings: Vec<String>,
}

impl<'a> Options<'a> {
    /// Parses `line`.
    pub fn parse(line: &'a str) -> Self {
        Self {
            args: args(line).map(|arg| (arg, false)).collect(),
            effective: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The last occurrence of `key` (later words override earlier ones), marking every
    /// occurrence as known.
    fn take(&mut self, key: &str) -> Option<Arg<'a>> {
        let mut found = None;
        for (arg, seen) in &mut self.args {
            if arg.key == key {
                *seen = true;
                found = Some(*arg);
            }
        }
        found
    }

    fn warn(&mut self, arg: Arg<'_>, problem: impl fmt::Display, default: impl fmt::Display) {
        self.warnings.push(format!("option {arg}: {problem}, using {default}"));
    }

    /// A bare flag: true if present. A value given to it is reported and the flag
    /// counts as set.
    pub fn flag(&mut self, key: &str) -> bool {
        let Some(arg) = self.take(key) else { return false };
        if arg.value.is_some() {
            self.warnings.push(format!("option {arg}: {key} takes no value, treating it as set"));
        }
        self.effective.push(key.to_string());
        true
    }

    /// A boolean: `key`, `key=1|yes|on|true` or `key=0|no|off|false`.
    pub fn boolean(&mut self, key: &str, default: bool) -> bool {
        let value = match self.take(key) {
            None => default,
            Some(Arg { value: None, .. }) => true,
            Some(arg @ Arg { value: Some(text), .. }) => match text {
                "1" | "yes" | "on" | "true" => true,
                "0" | "no" | "off" | "false" => false,
                _ => {
                    self.warn(arg, "invalid value (expected 0 or 1)", u8::from(default));
                    default
                }
            },
        };
        self.effective.push(format!("{key}={}", u8::from(value)));
        value
    }

    /// One of `choices`; the default is returned for a missing or unknown value.
    pub fn choice(
        &mut self,
        key: &str,
        choices: &[&'static str],
        default: &'static str,
    ) -> &'static str {
        let value = match self.take(key) {
            None => default,
            Some(arg) => match choices.iter().find(|c| Some(**c) == arg.value) {
                Some(choice) => choice,
                None => {
                    self.warn(
                        arg,
                        format_args!("invalid value (expected {})", choices.join("|")),
                        default,
                    );
                    default
                }
            },
        };
        self.effective.push(format!("{key}={value}"));
        value
    }

    /// A value parsed with `parse`, which explains what it expects on failure.
    pub fn parsed<T: fmt::Display>(
        &mut self,
        key: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, &'static str>,
    ) -> T {
        let value = match self.take(key) {
            None => default,
            Some(arg @ Arg { value: None, .. }) => {
                self.warn(arg, "needs a value", &default);
                default
            }
            Some(arg @ Arg { value: Some(text), .. }) => match parse(text) {
                Ok(value) => value,
                Err(expected) => {
                    self.warn(arg, format_args!("invalid value (expected {expected})"), &default);
                    default
                }
            },
        };
        self.effective.push(format!("{key}={value}"));
        value
    }

    /// A number (or anything `FromStr`).
    pub fn number<T: FromStr + fmt::Display>(
        &mut self,
        key: &str,
        default: T,
        expected: &'static str,
    ) -> T {
        self.parsed(key, default, |text| text.parse().map_err(|_| expected))
    }

    /// The last occurrence of `key`, as written, for an image that validates the value
    /// itself (and refuses to start on a bad one, where a default would be unsafe).
    /// Nothing is added to the [`summary`](Self::summary); the caller adds what it
    /// wants shown with [`effective`](Self::effective) (never a secret).
    pub fn raw(&mut self, key: &str) -> Option<Arg<'a>> {
        self.take(key)
    }

    /// Adds a word to the [`summary`](Self::summary).
    pub fn effective(&mut self, word: impl Into<String>) {
        self.effective.push(word.into());
    }

    /// Reports every word nobody asked for; returns the warnings collected so far
    /// (the caller logs them).
    pub fn finish(&mut self) -> Vec<String> {
        let unknown: Vec<String> = self
            .args
            .iter()
            .filter(|(_, seen)| !seen)
            .map(|(arg, _)| format!("option {arg}: unknown, ignored"))
            .collect();
        for (_, seen) in &mut self.args {
            *seen = true;
        }
        self.warnings.extend(unknown);
        core::mem::take(&mut self.warnings)
    }

    /// The effective value of every option asked for, as `key=value` words
    /// (flags that are set appear as their name).
    pub fn summary(&self) -> String {
        self.effective.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_keys_values_and_flags() {
        let words: Vec<_> = args("  loglevel=debug  clear a=b=c ").collect();
        assert_eq!(
            words,
            [
                Arg { key: "loglevel", value: Some("debug") },
                Arg { key: "clear", value: None },
                Arg { key: "a", value: Some("b=c") },
            ]
        );
    }

    #[test]
    fn choice_bad_value_warns_and_defaults() {
        let mut options = Options::parse("loglevel=bogus");
        assert_eq!(options.choice("loglevel", &["error", "warn", "info", "debug"], "info"), "info");
        assert_eq!(
            options.finish(),
            ["option loglevel=bogus: invalid value (expected error|warn|info|debug), using info"]
        );
    }

    #[test]
    fn later_words_override_earlier_ones() {
        let mut options = Options::parse("tpm=1.2 tpm=2.0");
        assert_eq!(options.choice("tpm", &["1.2", "2.0"], "1.2"), "2.0");
        assert!(options.finish().is_empty());
    }

    #[test]
    fn unknown_words_are_reported_once() {
        let mut options = Options::parse("panic-test frobnicate=3");
        assert!(options.flag("panic-test"));
        assert_eq!(options.finish(), ["option frobnicate=3: unknown, ignored"]);
        assert!(options.finish().is_empty());
    }

    #[test]
    fn boolean_accepts_flag_and_numbers() {
        let mut options = Options::parse("tpm2 maintcmds=0 hwinit=maybe");
        assert!(options.boolean("tpm2", false));
        assert!(!options.boolean("maintcmds", true));
        assert!(options.boolean("hwinit", true));
        assert_eq!(
            options.finish(),
            ["option hwinit=maybe: invalid value (expected 0 or 1), using 1"]
        );
    }

    #[test]
    fn number_parses_or_defaults() {
        let mut options = Options::parse("tpmlocality=2 retries=many");
        assert_eq!(options.number("tpmlocality", 0u8, "0..=4"), 2);
        assert_eq!(options.number("retries", 3u32, "a number"), 3);
        assert_eq!(options.summary(), "tpmlocality=2 retries=3");
    }

    #[test]
    fn parsed_without_value_defaults() {
        let mut options = Options::parse("tpmlocality");
        assert_eq!(options.parsed("tpmlocality", 0u8, |_| Ok(1)), 0);
        assert_eq!(options.finish(), ["option tpmlocality: needs a value, using 0"]);
    }
}
