//! Where the suites find what `make build` produced, and what every crate's
//! tests and benchmarks share: [`fixtures`] (scratch directories, polling,
//! running a command) and [`rootfs`] (Debian root filesystems).

pub mod fixtures;
pub mod rootfs;

use std::path::PathBuf;

/// venvkit.conf: the facts several parts of venvkit share, written once.
const CONF: &str = include_str!("../../venvkit.conf");

/// The values of every `key` line of venvkit.conf, comments removed.
pub fn conf(key: &str) -> Vec<Vec<&'static str>> {
    CONF.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|words| words.first() == Some(&key))
        .map(|words| words[1..].to_vec())
        .collect()
}

/// The tools `make build` ships.
pub fn tools() -> Vec<&'static str> {
    conf("tools").concat()
}

/// Each Debian suite with the Python it ships.
pub fn suites() -> Vec<(&'static str, &'static str)> {
    conf("suite").into_iter().map(|words| (words[0], words[1])).collect()
}

/// The size budget of `image` in MB (10^6 bytes): the first `budget` line
/// whose glob (`*` only) matches.
pub fn image_budget(image: &str) -> Option<u64> {
    conf("budget").into_iter().find(|words| glob(words[0], image)).map(|words| words[1].parse().unwrap())
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head) && (0..=text.len() - head.len()).any(|skip| glob(rest, &text[head.len() + skip..]))
        }
    }
}

/// `VENVKIT_BIN_DIR` (set by make), else the workspace's `target/bin`.
pub fn bin_dir() -> PathBuf {
    match std::env::var_os("VENVKIT_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bin"),
    }
}

/// A shipped binary; its absence means `make build` did not run.
pub fn release_binary(tool: &str) -> PathBuf {
    let path = bin_dir().join(tool);
    assert!(path.is_file(), "{} is missing: run `make build` (or `make test`, which builds first)", path.display());
    path
}

/// The arm64 build of `tool`, cross-built by `make build` into
/// `target/bin/aarch64/`.
pub fn aarch64_binary(tool: &str) -> PathBuf {
    let path = bin_dir().join("aarch64").join(tool);
    assert!(path.is_file(), "{} is missing: run `make build` (or `make test`, which builds first)", path.display());
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venvkit_conf_is_read() {
        assert!(tools().contains(&"entrypoint"));
        assert!(suites().contains(&("bookworm", "3.11")));
        assert_eq!(image_budget("venvkit/python:3.11-bookworm"), Some(120));
        assert_eq!(image_budget("venvkit/base:trixie"), Some(85));
        assert_eq!(image_budget("venvkit/build:trixie"), None);
    }
}
