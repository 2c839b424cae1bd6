//! docs/tpm2.md lists every command code with its status: the "Implemented" table
//! is exactly the engine's command table (codes and names), and every TPM_CC of
//! Part 2 rev 1.59 (0x11F–0x19A) is either implemented, listed as not implemented,
//! or named as unassigned.

use std::collections::BTreeSet;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/tpm2.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn section<'a>(doc: &'a str, from: &str, to: &str) -> &'a str {
    let start = doc.find(from).unwrap_or_else(|| panic!("docs/tpm2.md lacks {from:?}"));
    let rest = &doc[start..];
    &rest[..rest.find(to).unwrap_or_else(|| panic!("docs/tpm2.md lacks {to:?}"))]
}

fn code(s: &str) -> u32 {
    let s = s.trim();
    u32::from_str_radix(s.strip_prefix("0x").unwrap_or_else(|| panic!("not a code: {s:?}")), 16)
        .unwrap()
}

/// The first cell of every table row that starts with a code.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with("| 0x"))
        .map(|l| l.split('|').skip(1).map(|c| c.trim().to_owned()).collect())
        .collect()
}

#[test]
fn command_status_tables_match_the_engine() {
    let doc = doc();
    let implemented_text = section(&doc, "\nImplemented (", "\nNot implemented");
    let listed: Vec<(u32, String)> =
        rows(implemented_text).iter().map(|r| (code(&r[0]), r[1].clone())).collect();
    let table: Vec<(u32, String)> =
        tpm2::implemented_commands().map(|(c, n)| (c, format!("TPM2_{n}"))).collect();
    assert_eq!(listed, table, "docs/tpm2.md's implemented table differs from commands::TABLE");
    let count = format!("Implemented ({} commands;", table.len());
    assert!(implemented_text.contains(&count), "docs/tpm2.md should say {count:?}");

    let missing_text = section(&doc, "\nNot implemented", "\n## ");
    let mut missing = BTreeSet::new();
    for r in rows(missing_text) {
        for part in r[0].split(',') {
            match part.split_once('–') {
                Some((a, b)) => missing.extend(code(a)..=code(b)),
                None => {
                    missing.insert(code(part));
                }
            }
        }
    }
    let unassigned = [0x123, 0x15A, 0x15F, 0x166, 0x175];
    for c in unassigned {
        assert!(missing_text.contains(&format!("0x{c:03X}")), "0x{c:X} unassigned: say so");
    }
    let implemented: BTreeSet<u32> = table.iter().map(|(c, _)| *c).collect();
    assert!(implemented.is_disjoint(&missing), "a code is both implemented and not");
    for c in 0x11F..=0x19A {
        assert!(
            implemented.contains(&c) || missing.contains(&c) || unassigned.contains(&c),
            "command code {c:#x} has no status in docs/tpm2.md"
        );
    }
    assert!(missing.contains(&0x2000_0000), "TPM2_Vendor_TCG_Test has no status");
}

/// Every implemented command is sent to both TPMs by at least one differential
/// test (its `cc::` constant occurs in one of them, or in the harness helpers
/// they call: FlushContext and StartAuthSession are sent by `flush` and
/// `ClientSession::start`), so "checked against libtpms" holds for each row.
#[test]
fn differential_tests_reach_every_implemented_command() {
    let root = env!("CARGO_MANIFEST_DIR");
    let constants = std::fs::read_to_string(format!("{root}/src/types/constants.rs")).unwrap();
    let block = &constants[constants.find("pub mod cc {").expect("mod cc")..];
    let block = &block[..block.find("\n}").unwrap()];
    let names: Vec<(u32, &str)> = block
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("pub const ")?;
            let (name, value) = rest.split_once(": u32 = ")?;
            Some((code(value.trim_end_matches(';')), name))
        })
        .collect();
    let tests: String =
        ["differential.rs", "diff_objects.rs", "diff_policy.rs", "diff_crypto.rs", "common/mod.rs"]
            .iter()
            .map(|f| std::fs::read_to_string(format!("{root}/tests/{f}")).unwrap())
            .collect();
    let mut missing = vec![];
    for (c, name) in tpm2::implemented_commands() {
        let constant = names
            .iter()
            .find(|(v, _)| *v == c)
            .unwrap_or_else(|| panic!("no cc:: constant for {name}"))
            .1;
        if !tests.contains(&format!("cc::{constant}")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "no differential test sends {missing:?}");
}
