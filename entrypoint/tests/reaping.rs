//! As PID 1: zombies are reaped, coalesced SIGCHLDs never hang, and when
//! the main process exits the rest get SIGTERM, a grace period, then SIGKILL.

mod support;

use std::time::Duration;
use support::*;

#[test]
fn background_sleepers_are_terminated_when_the_main_process_exits_needs_root() {
    require_root();
    let run = run(as_pid1().args(["sh", "-c", "sleep 100 & sleep 100 & exec sleep 0.1"]));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    // Right: 100 ms; broken (no drain): the 5 s grace period, or the sleepers' 100 s.
    assert!(run.elapsed < Duration::from_millis(2500), "took {:?}", run.elapsed);
}

#[test]
fn fifty_orphaned_grandchildren_leave_no_zombie_needs_root() {
    require_root();
    let script = "for i in $(seq 50); do (sleep 0.05 &); done; sleep 0.5; ps -eo stat= | grep -c '^Z' || true";
    let run = run(as_pid1().args(["sh", "-c", script]));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "0", "zombies left: {}", run.stdout);
}

#[test]
fn coalesced_sigchld_never_hangs_in_1000_runs_needs_root() {
    require_root();
    // catatonit#4: the inner bash dies by SIGKILL while its child is still
    // running, and the outer one exits right after; the SIGCHLDs coalesce.
    let reproduction = "bash -c 'sleep 0.01 & kill -9 $BASHPID'; sleep 0.0087";
    let slowest = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(move || {
                    (0..500)
                        .map(|_| {
                            let run = run(as_pid1().args(["bash", "-c", reproduction]));
                            assert_eq!(run.code(), 0, "{}", run.stderr);
                            run.elapsed
                        })
                        .max()
                        .unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().unwrap()).max().unwrap()
    });
    assert!(slowest < Duration::from_secs(1), "slowest of 1000 runs took {slowest:?}");
}

#[test]
fn a_worker_finishes_its_cleanup_before_entrypoint_exits_with_the_main_code_needs_root() {
    require_root();
    let scratch = Scratch::new("drain");
    let marker = scratch.path("cleaned");
    let script = format!(
        "(trap 'sleep 0.5; echo done > {}; exit 0' TERM; sleep 100 & wait) & sleep 0.2; exit 3",
        marker.display()
    );
    let run = run(as_pid1().args(["sh", "-c", &script]));
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert!(marker.exists(), "the worker was killed before finishing its cleanup");
    assert!(run.elapsed >= Duration::from_millis(700), "{:?}", run.elapsed);
    // Right: 0.7 s; broken: the 5 s grace period.
    assert!(
        run.elapsed < Duration::from_millis(3000),
        "waited for the grace period instead of the worker: {:?}",
        run.elapsed
    );
}

#[test]
fn a_worker_slower_than_the_grace_period_is_killed_needs_root() {
    require_root();
    let scratch = Scratch::new("grace");
    let marker = scratch.path("cleaned");
    let script = format!(
        "(trap 'sleep 10; echo done > {}; exit 0' TERM; sleep 100 & wait) & sleep 0.2; exit 3",
        marker.display()
    );
    let run = run(as_pid1().env("ENTRYPOINT_GRACE", "500ms").args(["sh", "-c", &script]));
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert!(!marker.exists());
    // Right: 0.7 s; broken (no SIGKILL after the grace): the 10 s cleanup.
    assert!(run.elapsed < Duration::from_millis(5000), "{:?}", run.elapsed);
}

#[test]
fn a_stopped_worker_is_continued_so_that_it_can_clean_up_needs_root() {
    require_root();
    let scratch = Scratch::new("stopped");
    let marker = scratch.path("cleaned");
    let script = format!(
        "(trap 'echo done > {}; exit 0' TERM; sleep 100 & wait) & worker=$!; sleep 0.2; kill -STOP $worker; exit 3",
        marker.display()
    );
    let run = run(as_pid1().env("ENTRYPOINT_GRACE", "3s").args(["sh", "-c", &script]));
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert!(marker.exists(), "the stopped worker never ran its cleanup");
    // Right: 0.2 s; broken (not continued): killed after the 3 s grace.
    assert!(run.elapsed < Duration::from_millis(1700), "{:?}", run.elapsed);
}

#[test]
fn without_other_processes_entrypoint_exits_as_soon_as_the_main_one_does_needs_root() {
    require_root();
    let run = run(as_pid1().env("ENTRYPOINT_GRACE", "10s").args(["sh", "-c", "exit 0"]));
    assert_eq!(run.code(), 0);
    // Right: milliseconds; broken: the 10 s grace period.
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}
