//! What a check does to the server: one connection per ready target, closed
//! at once with nothing sent, no descriptor growth; unix sockets; --closed.

mod support;

use std::os::unix::net::UnixListener;
use std::time::Duration;
use support::*;

#[test]
fn a_check_sends_no_data_and_closes_at_once() {
    // A second target that never opens keeps wait-for-port running, so the
    // close seen here is its own, not the kernel's at exit.
    let (listener, port) = listener();
    let closed = ReservedPort::new();
    let mut command = command();
    command.args(["-q", "-t", "5s", &format!("127.0.0.1:{port}"), &closed.target()]);
    let mut running = Running::start(&mut command);
    let (mut connection, _) = listener.accept().unwrap();
    let accepted = std::time::Instant::now();
    let received = read_until_closed(&mut connection, Duration::from_secs(2)).expect("the check connection was closed");
    let closed_after = accepted.elapsed();
    let still_running = running.child.try_wait().unwrap().is_none();
    drop(running);
    assert!(received.is_empty(), "the check sent {} bytes", received.len());
    assert!(still_running, "wait-for-port exited before the check: the close proves nothing");
    // Right: at once; broken (kept open while waiting): the 2 s read limit.
    assert!(closed_after < Duration::from_millis(1000), "the check connection stayed open {closed_after:?}");
}

#[test]
fn a_target_that_answered_once_is_not_tried_again() {
    let (ready, ready_port) = listener();
    let late = ReservedPort::new();
    let late_target = late.target();
    let opening = late.open_after(Duration::from_millis(600));
    let run = run_args(&["-q", "-i", "20ms", &format!("127.0.0.1:{ready_port}"), &late_target]);
    let _late = opening.join().unwrap();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    ready.set_nonblocking(true).unwrap();
    let connections = std::iter::from_fn(|| ready.accept().ok()).count();
    assert_eq!(connections, 1, "the ready target was connected to {connections} times in ~30 intervals");
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(Iterator::count).unwrap_or(0)
}

#[test]
fn descriptors_do_not_grow_over_a_thousand_attempts() {
    let closed = ReservedPort::new();
    let target = format!("localhost:{}", closed.port);
    let mut command = command();
    command.args(["-v", "-i", "1ms", "-t", "60s", &target]);
    let mut running = Running::start(&mut command);
    let mut attempt_lines = 0;
    let mut early = 0;
    while attempt_lines < 1000 {
        let line = running.next_stderr_line();
        assert!(line.contains("connection refused"), "{line}");
        attempt_lines += 1;
        if attempt_lines == 10 {
            early = open_descriptors(running.pid());
        }
    }
    let late = open_descriptors(running.pid());
    drop(running);
    assert!(early > 0);
    assert_eq!(late, early, "descriptors grew from {early} to {late} over 1000 attempts");
}

fn scratch_socket(scratch: &Scratch) -> (std::path::PathBuf, String) {
    let path = scratch.path("app.sock");
    let target = format!("unix:{}", path.display());
    (path, target)
}

#[test]
fn a_listening_unix_socket_is_ready() {
    let scratch = Scratch::new("unix-ready");
    let (path, target) = scratch_socket(&scratch);
    let _listener = UnixListener::bind(&path).unwrap();
    assert_eq!(run_args(&["-t", "2s", &target]).code(), 0);
}

#[test]
fn a_stale_unix_socket_file_is_not_ready() {
    let scratch = Scratch::new("unix-stale");
    let (path, target) = scratch_socket(&scratch);
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "the socket file stays behind");
    let run = run_args(&["-t", "300ms", &target]);
    assert_eq!(run.code(), 124, "{}", run.stderr);
    assert!(run.stderr.contains("connection refused"), "{}", run.stderr);
}

#[test]
fn a_unix_socket_that_appears_later_is_ready() {
    let scratch = Scratch::new("unix-late");
    let (path, target) = scratch_socket(&scratch);
    let binding = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        UnixListener::bind(path).unwrap()
    });
    let run = run_args(&["-v", "-t", "5s", "-i", "50ms", &target]);
    let _listener = binding.join().unwrap();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stderr.contains("no such socket"), "{}", run.stderr);
}

#[test]
fn closed_waits_until_the_port_stops_accepting() {
    let (listener, port) = listener();
    let closing = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        drop(listener);
    });
    let run = run_args(&["--closed", "-v", "-t", "5s", "-i", "50ms", &format!("127.0.0.1:{port}")]);
    closing.join().unwrap();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.elapsed >= Duration::from_millis(600), "{:?}", run.elapsed);
    // Right: 600 ms plus one interval; broken: the 5 s timeout.
    assert!(run.elapsed < Duration::from_millis(2800), "{:?}", run.elapsed);
    assert!(run.stderr.contains("still accepting connections"), "{}", run.stderr);
}

#[test]
fn closed_counts_a_silent_port_as_closed() {
    let dropper = SynDropper::bind("127.0.0.1:0").unwrap();
    let run = run_args(&["--closed", "--connect-timeout", "200ms", &format!("127.0.0.1:{}", dropper.port())]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
}

#[test]
fn closed_does_not_count_a_name_that_does_not_resolve_needs_root() {
    require_root();
    let names = NameFiles::new("closed-dns", "127.0.0.1 localhost\n", DnsAnswer::NoSuchName);
    let run = run(names.command().args(["--closed", "-t", "300ms", "typo-host:5432"]));
    assert_eq!(run.code(), 124, "{}", run.stderr);
    assert!(run.stderr.contains("DNS error"), "{}", run.stderr);
}

#[test]
fn closed_times_out_with_124_while_the_port_still_accepts() {
    let (_listener, port) = listener();
    let run = run_args(&["--closed", "-t", "300ms", &format!("127.0.0.1:{port}")]);
    assert_eq!(run.code(), 124);
    assert!(run.stderr.contains("still accepting connections"), "{}", run.stderr);
}

#[test]
fn a_path_that_is_not_a_socket_says_what_it_is() {
    let scratch = Scratch::new("not-a-socket");
    let file = scratch.write("app.sock", "");
    for (path, what) in [(file, "not a socket but a regular file"), (scratch.0.clone(), "not a socket but a directory")]
    {
        let run = run_args(&["-t", "300ms", &format!("unix:{}", path.display())]);
        assert_eq!(run.code(), 124, "{}", run.stderr);
        assert!(run.stderr.contains(what), "{}", run.stderr);
        assert!(!run.stderr.contains("connection refused"), "{}", run.stderr);
    }
}
