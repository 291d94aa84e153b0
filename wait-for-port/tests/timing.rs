//! Deadlines, concurrency and signals, measured on the real binary.

mod support;

use std::time::Duration;
use support::*;

#[test]
fn the_timeout_is_wall_clock_even_with_a_syn_dropping_target() {
    let dropper = SynDropper::bind("127.0.0.1:0").unwrap();
    let (_open, open) = listener();
    let run = run_args(&["-t", "2s", &format!("127.0.0.1:{}", dropper.port()), &format!("127.0.0.1:{open}")]);
    assert_eq!(run.code(), 124, "{}", run.stderr);
    let elapsed = run.elapsed.as_secs_f64();
    // Right: 2.0 s; broken: 1 s (gave up at the first connect timeout) or
    // 3 s (the attempt's 1 s limit allowed past the deadline).
    assert!((1.5..=2.5).contains(&elapsed), "exited after {elapsed:.3}s, not 2.0s");
}

#[test]
fn the_connect_timeout_never_reaches_past_the_deadline() {
    let dropper = SynDropper::bind("127.0.0.1:0").unwrap();
    let target = format!("127.0.0.1:{}", dropper.port());
    let run = run_args(&["-q", "-t", "500ms", "--connect-timeout", "10s", &target]);
    assert_eq!(run.code(), 124);
    // Right: 500 ms; broken: the 10 s connect timeout.
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn fifty_targets_opening_together_are_detected_together() {
    let reserved: Vec<ReservedPort> = (0..50).map(|_| ReservedPort::new()).collect();
    let targets: Vec<String> = reserved.iter().map(ReservedPort::target).collect();
    let opened = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        let started = std::time::Instant::now();
        let listeners: Vec<_> = reserved.into_iter().map(ReservedPort::open).collect();
        (started, listeners)
    });
    let mut command = command();
    command.args(["-q", "-t", "10s", "-i", "100ms"]);
    command.args(&targets);
    let running = Running::start(&mut command);
    let started = running.started;
    let run = running.finish();
    let (opened_at, _listeners) = opened.join().unwrap();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let after_open = started.elapsed() - opened_at.duration_since(started);
    assert!(
        // Right: one 100 ms interval; broken (one target at a time): 50 intervals.
        after_open <= Duration::from_millis(2500),
        "50 targets took {after_open:?} after opening"
    );
}

#[test]
fn fifty_silent_targets_are_all_tried_at_once() {
    // Each first attempt hangs for the whole connect timeout: one after the
    // other, 50 of them would take 15 s; at once, 300 ms.
    let droppers: Vec<SynDropper> = (0..50).map(|_| SynDropper::bind("127.0.0.1:0").unwrap()).collect();
    let targets: Vec<String> = droppers.iter().map(|d| format!("127.0.0.1:{}", d.port())).collect();
    let run = run(command().args(["-v", "-t", "1s", "-i", "10s", "--connect-timeout", "300ms"]).args(&targets));
    assert_eq!(run.code(), 124);
    for target in &targets {
        assert!(
            run.stderr.contains(&format!("{target}: timed out (attempt 1)")),
            "{target} was not tried:\n{}",
            run.stderr
        );
        assert!(run.stderr.contains(&format!("{target} (timed out)")), "{}", run.stderr);
    }
}

#[test]
fn the_first_attempt_is_immediate() {
    let (_listener, port) = listener();
    let run = run_args(&["-i", "10s", &format!("127.0.0.1:{port}")]);
    assert_eq!(run.code(), 0);
    // Right: milliseconds; broken (first attempt after an interval): 10 s.
    assert!(run.elapsed < Duration::from_secs(5), "an open port took {:?}", run.elapsed);
}

#[test]
fn a_port_that_opens_late_is_seen_within_one_interval() {
    let port = ReservedPort::new();
    let target = port.target();
    let late = port.open_after(Duration::from_millis(300));
    let run = run_args(&["-q", "-t", "10s", "-i", "1s", &target]);
    let _listener = late.join().unwrap();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    // Right: the attempt at 1 s; broken (an interval skipped, or backing off): 2 s.
    assert!(run.elapsed < Duration::from_millis(1500), "{:?}", run.elapsed);
}

#[test]
fn zero_timeout_waits_beyond_the_default_interval_count() {
    let port = ReservedPort::new();
    let target = port.target();
    let late = port.open_after(Duration::from_millis(1500));
    let run = run_args(&["-q", "-t", "0", "--connect-timeout", "100ms", &target]);
    let _listener = late.join().unwrap();
    assert_eq!(run.code(), 0, "{}", run.stderr);
}

fn signal_while_waiting(signal: nix::sys::signal::Signal, as_pid1: bool) -> (i32, Duration) {
    let closed = ReservedPort::new();
    let target = closed.target();
    let mut command = if as_pid1 {
        let mut unshare = std::process::Command::new("unshare");
        unshare.args(["--pid", "--fork", "--mount-proc", "--kill-child"]).arg(binary());
        unshare
    } else {
        command()
    };
    command.args(["-t", "30s", "-v", &target]);
    let mut running = Running::start(&mut command);
    // Signal once the first attempt was logged: the handlers are in place.
    let first = running.next_stderr_line();
    assert!(first.contains("attempt 1"), "{first}");
    let waiter = if as_pid1 { children_of(running.pid())[0] } else { running.pid() };
    let sent = std::time::Instant::now();
    running.signal(waiter as i32, signal as i32);
    let run = running.finish();
    // An exit status, not death by the signal: the tool handled it.
    (run.status.code().unwrap_or(-1), sent.elapsed())
}

#[test]
fn sigterm_while_waiting_exits_143_at_once() {
    let (code, latency) = signal_while_waiting(nix::sys::signal::Signal::SIGTERM, false);
    assert_eq!(code, 143);
    // Right: milliseconds; broken (no handler): the 30 s timeout.
    assert!(latency < Duration::from_secs(1), "{latency:?}");
}

#[test]
fn sigint_while_waiting_exits_130_at_once() {
    let (code, latency) = signal_while_waiting(nix::sys::signal::Signal::SIGINT, false);
    assert_eq!(code, 130);
    // Right: milliseconds; broken (no handler): the 30 s timeout.
    assert!(latency < Duration::from_secs(1), "{latency:?}");
}

#[test]
fn sigterm_as_pid1_exits_143_at_once_needs_root() {
    require_root();
    let (code, latency) = signal_while_waiting(nix::sys::signal::Signal::SIGTERM, true);
    assert_eq!(code, 143);
    // Right: milliseconds; broken (no handler): the 30 s timeout.
    assert!(latency < Duration::from_secs(1), "{latency:?}");
}

#[test]
fn sigint_as_pid1_exits_130_at_once_needs_root() {
    require_root();
    let (code, latency) = signal_while_waiting(nix::sys::signal::Signal::SIGINT, true);
    assert_eq!(code, 130);
    // Right: milliseconds; broken (no handler): the 30 s timeout.
    assert!(latency < Duration::from_secs(1), "{latency:?}");
}

#[test]
fn a_hanging_attempt_does_not_delay_noticing_that_the_port_opened() {
    let dropper = SynDropper::bind("127.0.0.1:0").unwrap();
    let target = format!("127.0.0.1:{}", dropper.port());
    let SynDropper { listener, .. } = dropper;
    // Draining the accept queue at 500 ms makes the port answer again; the
    // SYNs sent before stay unanswered until their retransmission at ~1 s.
    let draining = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let accepted: Vec<_> = (0..2).filter_map(|_| listener.accept().ok()).collect();
        (listener, accepted)
    });
    let run = run_args(&["-q", "-t", "10s", "-i", "100ms", "--connect-timeout", "10s", &target]);
    let _keep = draining.join().unwrap();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    // Right: 0.5 s plus one interval; broken (waiting on the hung attempt): its
    // SYN's retransmission at about 1 s.
    assert!(run.elapsed < Duration::from_millis(800), "noticed after {:?}", run.elapsed);
}
