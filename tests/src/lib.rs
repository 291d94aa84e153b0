//! Where the suites find what `make build` produced, and ([`fixtures`])
//! what every crate's tests and benchmarks share.

pub mod fixtures;

use std::path::PathBuf;

/// The tools `make build` ships.
pub const TOOLS: &[&str] = &["apt-install", "entrypoint", "find-libdeps", "wait-for-port"];

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
