//! Boot scenarios: the shell scripts in `boot-tests/`, their headers, and the plan dom0 runs.
//!
//! A scenario is `boot-tests/<name>.sh`. Its leading comment block may carry
//! `# timeout: <seconds>` (default [`DEFAULT_TIMEOUT`]) and `# needs: images` (the stub
//! domain images). dom0 sources `boot-tests/lib/boottest.sh`, then the scenario, under
//! `set -eux` and the timeout.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Seconds a scenario may take when its header names no timeout.
pub const DEFAULT_TIMEOUT: u32 = 120;

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
    let mut scenario =
        Scenario { name, timeout: DEFAULT_TIMEOUT, needs_images: false, summary: String::new() };
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
        }];
        assert_eq!(select(&all, &["boot-tests/linux-guest.sh".into()]).unwrap().len(), 1);
        assert!(select(&all, &["nope".into()]).unwrap_err().to_string().contains("linux-guest"));
    }
}
