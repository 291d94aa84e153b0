//! Builds every root filesystem fixture the tests and benchmarks use, before
//! they run (`make test` calls it): mmdebstrap and pip builds take minutes
//! the first time, longer than a test may take, and never again after.
//! Two at a time, on two cores; each prints one line when it is ready.

use std::time::Instant;

use venvkit_suites::rootfs::{Fixture, ALL};

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("fixtures: not root, so none are built (the tests that need them are skipped)");
        return;
    }
    let pending: Vec<&Fixture> = ALL.iter().filter(|fixture| !fixture.is_complete()).collect();
    if pending.is_empty() {
        return;
    }
    eprintln!("fixtures: making {} root filesystem(s) under target/venvkit-fixtures (first run only)", pending.len());
    let queue = std::sync::Mutex::new(pending.into_iter());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let Some(fixture) = queue.lock().unwrap().next() else { return };
                let started = Instant::now();
                fixture.get();
                eprintln!("fixtures: {} made in {:.0}s", fixture.name, started.elapsed().as_secs_f64());
            });
        }
    });
}
