//! What the user sees: nothing on stdout, one prefixed line per diagnostic,
//! causes with -v, every unready target in the timeout message, -q quiet.

mod support;

use std::process::Command;
use support::*;

#[test]
fn stdout_stays_empty_whatever_happens() {
    let (_listener, port) = listener();
    let closed = ReservedPort::new();
    for args in [
        vec!["-v".to_string(), format!("127.0.0.1:{port}")],
        vec!["-t".into(), "200ms".into(), closed.target()],
        vec!["bad".into()],
    ] {
        let run = run(command().args(&args));
        assert!(run.stdout.is_empty(), "{args:?} printed {:?}", run.stdout);
        assert!(run.stderr.lines().all(|line| line.starts_with("wait-for-port: ")), "{}", run.stderr);
    }
}

#[test]
fn by_default_each_ready_target_is_reported_on_stderr() {
    let (_listener, port) = listener();
    let run = run_args(&[&format!("127.0.0.1:{port}")]);
    let line = run.stderr.strip_suffix('\n').unwrap_or_else(|| panic!("{:?}", run.stderr));
    let prefix = format!("wait-for-port: 127.0.0.1:{port} is ready after ");
    assert!(line.starts_with(&prefix) && line.ends_with("s (1 attempt)"), "{line}");
    assert!(!line.contains('\n'));
}

#[test]
fn quiet_prints_nothing_when_ready() {
    let (_listener, port) = listener();
    let run = run_args(&["-q", &format!("127.0.0.1:{port}")]);
    assert_eq!(run.code(), 0);
    assert_eq!(run.stderr, "");
}

#[test]
fn quiet_keeps_only_the_error_that_ends_the_run() {
    let closed = ReservedPort::new();
    let run = run_args(&["-q", "-t", "200ms", &closed.target()]);
    assert_eq!(run.code(), 124);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn verbose_names_refused_attempts() {
    let closed = ReservedPort::new();
    let run = run_args(&["-v", "-t", "200ms", "-i", "50ms", &closed.target()]);
    let expected = format!("wait-for-port: {}: connection refused (attempt 2)", closed.target());
    assert!(run.stderr.lines().any(|line| line == expected), "{}", run.stderr);
}

#[test]
fn verbose_names_timed_out_attempts() {
    let dropper = SynDropper::bind("127.0.0.1:0").unwrap();
    let target = format!("127.0.0.1:{}", dropper.port());
    let run = run_args(&["-v", "-t", "500ms", "--connect-timeout", "100ms", &target]);
    assert!(run.stderr.contains(&format!("{target}: timed out (attempt 1)")), "{}", run.stderr);
}

#[test]
fn verbose_names_dns_errors_needs_root() {
    require_root();
    let names = NameFiles::new("dns-error", "127.0.0.1 localhost\n", DnsAnswer::NoSuchName);
    let run = run(names.command().args(["-v", "-t", "300ms", "missing-db:5432"]));
    assert!(run.stderr.contains("missing-db:5432: DNS error: "), "{}", run.stderr);
}

#[test]
fn verbose_names_unreachable_networks_needs_root() {
    require_root();
    // In a fresh network namespace even loopback is down: nothing is reachable.
    let run = run(Command::new("unshare").args(["--net"]).arg(binary()).args(["-v", "-t", "200ms", "127.0.0.1:80"]));
    assert!(run.stderr.contains("127.0.0.1:80: unreachable (attempt 1)"), "{}", run.stderr);
}

#[test]
fn the_timeout_message_lists_every_unready_target_with_its_last_error() {
    let (_ready, ready_port) = listener();
    let refused = ReservedPort::new();
    let dropper = SynDropper::bind("127.0.0.1:0").unwrap();
    let silent = format!("127.0.0.1:{}", dropper.port());
    let ready = format!("127.0.0.1:{ready_port}");
    let run = run_args(&["-t", "600ms", "--connect-timeout", "200ms", &ready, &refused.target(), &silent]);
    assert_eq!(run.code(), 124);
    let last = run.stderr.lines().last().unwrap();
    let expected = format!(
        "wait-for-port: timed out after 0.6s waiting for {} (connection refused), {silent} (timed out)",
        refused.target()
    );
    assert_eq!(last, expected);
}
