//! File descriptors: PID 1 holds only 0-2 and leaks nothing into the child.

mod support;

use support::*;

fn fds(listing: &str) -> Vec<u32> {
    let mut fds: Vec<u32> = listing.split_whitespace().filter_map(|fd| fd.parse().ok()).collect();
    fds.sort();
    fds
}

#[test]
fn pid1_and_its_child_hold_only_the_standard_descriptors_needs_root() {
    require_root();
    // Start from a clean slate whatever the test runner leaked to us; `ls`
    // then opens one descriptor of its own to read the directory.
    let mut command = as_pid1();
    command.args(["sh", "-c", "ls /proc/1/fd; echo --; exec ls /proc/self/fd"]);
    // SAFETY: close_range(2) between fork and exec touches no shared state.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            nix::libc::syscall(nix::libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    let run = run(&mut command);
    let (pid1, child) = run.stdout.split_once("--").unwrap();
    assert_eq!(fds(pid1), [0, 1, 2], "PID 1 holds {pid1}");
    assert_eq!(fds(child), [0, 1, 2, 3], "the child holds {child}");
}
