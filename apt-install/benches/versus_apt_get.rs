//! `make bench`: `apt-install P` against the usual one-liner
//! `apt-get update && apt-get install -y --no-install-recommends P &&
//! rm -rf /var/lib/apt/lists/*`, each in fresh layers of the same bookworm
//! rootfs: the time (overhead goal <= 5 %) and the bytes left under
//! /var/lib/apt/lists, /var/cache/apt and /var/log (goal 0 for apt-install).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use venvkit_suites::fixtures::median_of;

const PACKAGE: &str = "tree";
const ONE_LINER: &str = "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -q -y \
    --no-install-recommends tree >/dev/null && rm -rf /var/lib/apt/lists/*";

fn main() {
    let runs = 6;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let (mut ours_left, mut theirs_left) = (0, 0);
    let ours_script = format!("apt-install -q {PACKAGE}");
    for run in 0..runs {
        // Take turns at going first: the second fetch of the same indexes
        // through a caching proxy is faster, and must not favour one side.
        for ours_now in if run % 2 == 0 { [true, false] } else { [false, true] } {
            let (time, left) = measure(if ours_now { &ours_script } else { ONE_LINER });
            if ours_now {
                ours.push(time);
                ours_left = left;
            } else {
                theirs.push(time);
                theirs_left = left;
            }
        }
    }
    let (ours, theirs) = (median_of(ours), median_of(theirs));
    println!("installing {PACKAGE} in a fresh layer, median of {runs}\n");
    println!("{:<44} {:>10} {:>16}", "", "time", "bytes left");
    println!("{:<44} {:>7.0} ms {:>16}", "apt-install", ours.as_secs_f64() * 1000.0, ours_left);
    println!(
        "{:<44} {:>7.0} ms {:>16}",
        "apt-get update && apt-get install && rm lists",
        theirs.as_secs_f64() * 1000.0,
        theirs_left
    );
    println!(
        "\noverhead: {:+.1} % (goal <= 5 %); bytes left under lists, cache and logs: {ours_left} vs {theirs_left} (goal 0)",
        (ours.as_secs_f64() / theirs.as_secs_f64() - 1.0) * 100.0
    );
}

fn measure(script: &str) -> (Duration, u64) {
    let layer = support::Layer::new("bench");
    let started = Instant::now();
    let output = layer.run(script);
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{script}: {}", output.stderr);
    let left = ["var/lib/apt/lists", "var/cache/apt", "var/log"].iter().map(|dir| bytes(&layer.upper(dir))).sum();
    (elapsed, left)
}

/// Bytes of the regular files under `dir` in the layer's own changes.
fn bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}
