//! The README's templates are the files the tests build: each block that a
//! `<!-- the template: PATH ... -->` line introduces is PATH, byte for byte,
//! so that the two cannot drift.

use std::path::Path;

#[test]
fn every_template_in_the_readme_is_the_file_it_names() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let mut found = 0;
    let mut rest = readme.as_str();
    while let Some(at) = rest.find("<!-- the template: ") {
        let after = &rest[at + "<!-- the template: ".len()..];
        let path = after.split_whitespace().next().unwrap();
        let fence = after.find("\n```").expect("a fenced block after the marker");
        let body_start = fence + after[fence + 1..].find('\n').unwrap() + 2;
        let body_end = body_start + after[body_start..].find("\n```\n").unwrap() + 1;
        let expected = std::fs::read_to_string(repo.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(after[body_start..body_end] == expected, "the README's copy of {path} differs from the file");
        found += 1;
        rest = &after[body_end..];
    }
    assert!(found >= 1, "the README includes no template");
}

/// Every test the README names as evidence (in backquotes, in the table of
/// peer syntaxes) exists, so that a renamed or deleted test shows here.
#[test]
fn every_test_the_readme_names_exists() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let table = readme.split("## Replacing the peers").nth(1).expect("a section 'Replacing the peers'");
    let table = table.split("\n## ").next().unwrap();
    let mut sources = String::new();
    collect_rust_sources(&repo, &mut sources);
    let mut named = 0;
    for row in table.lines().filter(|line| line.starts_with("| ")) {
        let quoted = row.split('`').skip(1).step_by(2);
        for name in quoted.filter(|word| {
            word.len() > 20 && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }) {
            assert!(sources.contains(&format!("fn {name}(")), "the README names a test `{name}` that does not exist");
            named += 1;
        }
    }
    assert!(named >= 15, "the table names only {named} tests");
}

/// The text of every .rs file under `dir`, skipping target/ and hidden directories.
fn collect_rust_sources(dir: &Path, into: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let (path, name) = (entry.path(), entry.file_name());
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            collect_rust_sources(&path, into);
        } else if name.ends_with(".rs") {
            into.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}
