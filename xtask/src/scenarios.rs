//! Boot scenarios: the shell scripts in `boot-tests/`, their headers, and the plan dom0 runs.
//!
//! A scenario is `boot-tests/<name>.sh`. Its leading comment block may carry
//! `# timeout: <seconds>` (default [`DEFAULT_TIMEOUT`]), `# needs: images` (the stub
//! domain images), `# tpm: 2.0|1.2` (the family of the machine's TPM, default 2.0) and
//! `# boots: <n>` (the scenario runs in n successive boots of the same machine, default 1).
//! The last two choose the [`Machine`]; [`machines`] groups a selection by machine so that
//! scenarios sharing one boot in one QEMU run. dom0 sources `boot-tests/lib/boottest.sh`, then the scenario, under
//! `set -eux` and the timeout.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Seconds a scenario may take when its header names no timeout.
pub const DEFAULT_TIMEOUT: u32 = 120;

/// Most boots a `# boots:` header may ask for.
pub const MAX_BOOTS: u32 = 4;

/// The TPM family behind the machine's TIS (swtpm with or without `--tpm2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TpmFamily {
    /// TPM 2.0 (`swtpm --tpm2`), the default.
    Tpm20,
    /// TPM 1.2.
    Tpm12,
}

impl std::fmt::Display for TpmFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TpmFamily::Tpm20 => "TPM 2.0",
            TpmFamily::Tpm12 => "TPM 1.2",
        })
    }
}

/// The QEMU machine a scenario needs: scenarios with equal machines share its boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Machine {
    /// The TPM behind the TIS.
    pub tpm: TpmFamily,
    /// Successive boots of the machine (swtpm state kept between them).
    pub boots: u32,
}

impl Machine {
    /// The machine of a scenario without `# tpm:` / `# boots:`.
    pub const DEFAULT: Machine = Machine { tpm: TpmFamily::Tpm20, boots: 1 };
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} machine, {} boot(s)", self.tpm, self.boots)
    }
}

/// One scenario file.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file name without `.sh`.
    pub name: String,
    /// Seconds dom0 gives it before killing it.
    pub timeout: u32,
    /// Whether it needs the stub-domain images.
    pub needs_images: bool,
    /// The header's first paragraph: what it checks.
    pub summary: String,
    /// The machine it runs on.
    pub machine: Machine,
}

/// Every scenario in `dir`, sorted by name.
pub fn discover(dir: &Path) -> Result<Vec<Scenario>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "sh") && path.is_file() {
            found.push(parse(&path)?);
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn parse(path: &Path) -> Result<Scenario> {
    let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("{}: scenario names are [A-Za-z0-9_-]+", path.display());
    }
    let text = fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut scenario = Scenario {
        name,
        timeout: DEFAULT_TIMEOUT,
        needs_images: false,
        summary: String::new(),
        machine: Machine::DEFAULT,
    };
    let mut summary_done = false;
    for line in text.lines().skip_while(|l| l.starts_with("#!")) {
        let Some(comment) = line.strip_prefix('#') else { break };
        let comment = comment.trim();
        if let Some(value) = comment.strip_prefix("timeout:") {
            scenario.timeout = value
                .trim()
                .parse()
                .with_context(|| format!("{}: bad `# timeout:` {value:?}", path.display()))?;
        } else if let Some(value) = comment.strip_prefix("needs:") {
            for need in value.split([',', ' ']).filter(|n| !n.is_empty()) {
                match need {
                    "images" => scenario.needs_images = true,
                    other => bail!("{}: unknown `# needs:` {other:?}", path.display()),
                }
            }
        } else if let Some(value) = comment.strip_prefix("tpm:") {
            scenario.machine.tpm = match value.trim() {
                "2.0" | "2" => TpmFamily::Tpm20,
                "1.2" => TpmFamily::Tpm12,
                other => bail!("{}: `# tpm:` is 2.0 or 1.2, not {other:?}", path.display()),
            };
        } else if let Some(value) = comment.strip_prefix("boots:") {
            let boots: u32 = value
                .trim()
                .parse()
                .with_context(|| format!("{}: bad `# boots:` {value:?}", path.display()))?;
            if !(1..=MAX_BOOTS).contains(&boots) {
                bail!("{}: `# boots:` is 1..={MAX_BOOTS}, not {boots}", path.display());
            }
            scenario.machine.boots = boots;
        } else if !comment.is_empty() && !summary_done {
            // The first paragraph of the header is the summary.
            if !scenario.summary.is_empty() {
                scenario.summary.push(' ');
            }
            scenario.summary.push_str(comment);
            continue;
        }
        summary_done |= !scenario.summary.is_empty();
    }
    Ok(scenario)
}

/// The scenarios named in `wanted` (all when empty), in the order given.
pub fn select(all: &[Scenario], wanted: &[String]) -> Result<Vec<Scenario>> {
    if wanted.is_empty() {
        return Ok(all.to_vec());
    }
    wanted
        .iter()
        .map(|w| {
            let w = w.trim_end_matches(".sh");
            let w = w.rsplit('/').next().unwrap_or(w);
            all.iter().find(|s| s.name == w).cloned().with_context(|| {
                let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                format!("no scenario {w:?}; there are: {}", names.join(", "))
            })
        })
        .collect()
}

/// `selected` grouped by machine, the default machine first, then in order of first
/// appearance; within a group the given order is kept. One group is one QEMU run.
pub fn machines(selected: &[Scenario]) -> Vec<(Machine, Vec<Scenario>)> {
    let mut groups: Vec<(Machine, Vec<Scenario>)> = Vec::new();
    for s in selected {
        match groups.iter_mut().find(|(m, _)| *m == s.machine) {
            Some((_, list)) => list.push(s.clone()),
            None => groups.push((s.machine, vec![s.clone()])),
        }
    }
    groups.sort_by_key(|(m, _)| *m != Machine::DEFAULT);
    groups
}

/// The plan file dom0's init reads: one `<name> <timeout>` line per scenario, in order.
pub fn plan(selected: &[Scenario]) -> String {
    selected.iter().map(|s| format!("{} {}\n", s.name, s.timeout)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn header_gives_summary_timeout_and_needs() {
        let dir = std::env::temp_dir().join(format!("xtask-scn-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = write(
            &dir,
            "crash.sh",
            "#!/bin/sh\n# A panic is\n# reported.\n# timeout: 30\n# needs: images\necho\n# timeout: 1\n",
        );
        let s = parse(&path).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!((s.name.as_str(), s.timeout, s.needs_images), ("crash", 30, true));
        assert_eq!(s.summary, "A panic is reported.");
    }

    #[test]
    fn unknown_need_is_an_error() {
        let dir = std::env::temp_dir().join(format!("xtask-scn2-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = write(&dir, "x.sh", "# needs: gpu\n");
        let err = parse(&path).unwrap_err().to_string();
        fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("gpu"), "{err}");
    }

    #[test]
    fn select_accepts_paths_and_rejects_unknown_names() {
        let all = vec![Scenario {
            name: "linux-guest".into(),
            timeout: 1,
            needs_images: false,
            summary: String::new(),
            machine: Machine::DEFAULT,
        }];
        assert_eq!(select(&all, &["boot-tests/linux-guest.sh".into()]).unwrap().len(), 1);
        assert!(select(&all, &["nope".into()]).unwrap_err().to_string().contains("linux-guest"));
    }

    #[test]
    fn tpm_and_boots_choose_the_machine() {
        let dir = std::env::temp_dir().join(format!("xtask-scn3-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let plain = parse(&write(&dir, "a.sh", "# Plain.\n")).unwrap();
        let v12 = parse(&write(&dir, "b.sh", "# Old.\n# tpm: 1.2\n# boots: 2\n")).unwrap();
        let bad_tpm = parse(&write(&dir, "c.sh", "# tpm: 3\n")).unwrap_err().to_string();
        let zero = parse(&write(&dir, "d.sh", "# boots: 0\n")).unwrap_err().to_string();
        let many = parse(&write(&dir, "e.sh", "# boots: 99\n")).unwrap_err().to_string();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(plain.machine, Machine::DEFAULT);
        assert_eq!(v12.machine, Machine { tpm: TpmFamily::Tpm12, boots: 2 });
        assert!(bad_tpm.contains("1.2"), "{bad_tpm}");
        assert!(zero.contains("boots"), "{zero}");
        assert!(many.contains("99"), "{many}");
    }

    #[test]
    fn machines_groups_with_the_default_first() {
        let s = |name: &str, machine| Scenario {
            name: name.into(),
            timeout: 1,
            needs_images: false,
            summary: String::new(),
            machine,
        };
        let old = Machine { tpm: TpmFamily::Tpm12, boots: 1 };
        let twice = Machine { tpm: TpmFamily::Tpm20, boots: 2 };
        let sel = vec![
            s("x", old),
            s("a", Machine::DEFAULT),
            s("y", twice),
            s("b", Machine::DEFAULT),
            s("z", old),
        ];
        let groups = machines(&sel);
        let names: Vec<(Machine, Vec<&str>)> =
            groups.iter().map(|(m, l)| (*m, l.iter().map(|s| s.name.as_str()).collect())).collect();
        assert_eq!(
            names,
            vec![(Machine::DEFAULT, vec!["a", "b"]), (old, vec!["x", "z"]), (twice, vec!["y"]),]
        );
    }
}
