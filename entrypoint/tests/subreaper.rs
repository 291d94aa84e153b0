//! ENTRYPOINT_SUBREAPER=1 when not PID 1: orphans are reparented to
//! entrypoint, which reaps them and drains them like PID 1 would.

mod support;

use std::time::Duration;
use support::*;

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn an_orphans_parent_is_entrypoint() {
    let mut command = plain();
    command.env("ENTRYPOINT_SUBREAPER", "1").args(["sh", "-c", "(sleep 3 >/dev/null 2>&1 & echo $!); sleep 1"]);
    let mut running = Running::start(&mut command);
    let orphan: u32 = running.next_line().parse().unwrap();
    let entrypoint = running.child.id();
    assert!(
        eventually(Duration::from_secs(1), || parent_of(orphan) == Some(entrypoint)),
        "the orphan's parent is {:?}, not entrypoint ({entrypoint})",
        parent_of(orphan)
    );
    let run = running.finish();
    let (code, elapsed) = (run.code(), run.elapsed);
    assert_eq!(code, 0);
    assert!(elapsed < Duration::from_secs(2), "the orphan was not terminated after the main process: {elapsed:?}");
    assert_eq!(parent_of(orphan), None, "the orphan outlived entrypoint");
}

#[test]
fn without_subreaper_an_orphan_is_not_entrypoints() {
    let mut running = Running::start(plain().args(["sh", "-c", "(sleep 1 >/dev/null 2>&1 & echo $!); sleep 0.3"]));
    let orphan: u32 = running.next_line().parse().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_ne!(parent_of(orphan), Some(running.child.id()));
    let _ = running.finish();
}
