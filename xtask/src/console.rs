//! The console protocol: the `BOOTTEST-` lines dom0's init prints for the harness.
//!
//! A marker may be preceded on its line by other output (a kernel or Xen message that
//! was not newline-terminated), so it is searched for, not anchored.

/// One marker line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker<'a> {
    /// The Xen daemons run in dom0; the text names the Xen and Linux versions.
    Ready(&'a str),
    /// A scenario starts.
    Begin(&'a str),
    /// A scenario passed, with dom0's measure of its duration.
    Pass {
        /// The scenario.
        name: &'a str,
        /// How long it took, as dom0 measured it (`12.3s`).
        took: &'a str,
    },
    /// A scenario failed.
    Fail {
        /// The scenario.
        name: &'a str,
        /// Why, in one line.
        reason: &'a str,
    },
    /// The lines up to [`Marker::LogEnd`] are a log (each prefixed `| `).
    LogBegin(&'a str),
    /// The end of a log.
    LogEnd,
    /// dom0 could not set up the host; the machine powers off.
    Fatal(&'a str),
    /// Every scenario has run; the machine powers off.
    Done,
}

const PREFIX: &str = "BOOTTEST-";

/// The marker on `line`, if any.
pub fn parse(line: &str) -> Option<Marker<'_>> {
    let at = line.find(PREFIX)?;
    let rest = &line[at + PREFIX.len()..];
    let (word, arg) = rest.split_once(' ').unwrap_or((rest, ""));
    let arg = arg.trim();
    Some(match word {
        "READY" => Marker::Ready(arg),
        "BEGIN" => Marker::Begin(arg),
        "PASS" => {
            let (name, took) = arg.split_once(' ').unwrap_or((arg, ""));
            Marker::Pass { name, took }
        }
        "FAIL" => {
            let (name, reason) = arg.split_once(": ").unwrap_or((arg, "no reason given"));
            Marker::Fail { name, reason }
        }
        "LOG-BEGIN" => Marker::LogBegin(arg),
        "LOG-END" => Marker::LogEnd,
        "FATAL" => Marker::Fatal(arg),
        "DONE" => Marker::Done,
        _ => return None,
    })
}

/// A line inside a log block, without its `| ` prefix.
pub fn log_line(line: &str) -> &str {
    line.strip_prefix("| ").or_else(|| line.strip_prefix('|')).unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_every_marker() {
        assert_eq!(
            parse("BOOTTEST-READY xen 4.17 linux 6.1"),
            Some(Marker::Ready("xen 4.17 linux 6.1"))
        );
        assert_eq!(parse("BOOTTEST-BEGIN vtpm-stubdom"), Some(Marker::Begin("vtpm-stubdom")));
        assert_eq!(
            parse("BOOTTEST-PASS vtpm-stubdom 12.3s"),
            Some(Marker::Pass { name: "vtpm-stubdom", took: "12.3s" })
        );
        assert_eq!(
            parse("BOOTTEST-FAIL crash: no console line of x matched /a: b/"),
            Some(Marker::Fail { name: "crash", reason: "no console line of x matched /a: b/" })
        );
        assert_eq!(
            parse("BOOTTEST-LOG-BEGIN guest-vtpm0.log"),
            Some(Marker::LogBegin("guest-vtpm0.log"))
        );
        assert_eq!(parse("BOOTTEST-LOG-END guest-vtpm0.log"), Some(Marker::LogEnd));
        assert_eq!(
            parse("BOOTTEST-FATAL xenstored failed"),
            Some(Marker::Fatal("xenstored failed"))
        );
        assert_eq!(parse("BOOTTEST-DONE"), Some(Marker::Done));
    }

    #[test]
    fn parse_finds_a_marker_after_interleaved_output() {
        assert_eq!(parse("(XEN) d1v0 tick BOOTTEST-DONE"), Some(Marker::Done));
    }

    #[test]
    fn parse_ignores_ordinary_lines_and_unknown_words() {
        assert_eq!(parse("[vtpm-stubdom] xl create vtpm0: 812 ms"), None);
        assert_eq!(parse("BOOTTEST-SOMETHING x"), None);
    }

    #[test]
    fn log_line_strips_the_prefix() {
        assert_eq!(log_line("| panic at src/main.rs:1:2: x"), "panic at src/main.rs:1:2: x");
        assert_eq!(log_line("|"), "");
    }
}
