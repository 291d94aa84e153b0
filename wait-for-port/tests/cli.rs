//! Usage errors, --help, --version, and where options come from.

mod support;

use std::time::Duration;
use support::*;

#[test]
fn each_bad_target_is_exit_2_with_one_line_naming_it() {
    for bad in ["db", "db:", "db:0", "db:65536", "db:pg", "::1:5432", ":5432", "ftp://db:21", "https://db", "[::1]"] {
        let run = run_args(&["-t", "1s", bad]);
        assert_eq!(run.code(), 2, "{bad}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{bad}: {}", run.stderr);
        assert!(run.stderr.starts_with("wait-for-port: invalid target"), "{}", run.stderr);
        assert!(run.stderr.contains(&format!("'{bad}'")), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn a_bad_target_is_rejected_before_any_connection_is_made() {
    let (listener, port) = listener();
    listener.set_nonblocking(true).unwrap();
    let good = format!("127.0.0.1:{port}");
    let run = run_args(&[&good, "db:0"]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(listener.accept().is_err(), "the good target was connected to before the bad one was rejected");
}

#[test]
fn host_names_may_hold_digits_dashes_and_underscores_needs_root() {
    require_root();
    let (_listener, port) = listener();
    let names = NameFiles::new("names", "127.0.0.1 pg-bouncer_2 localhost\n", DnsAnswer::NoSuchName);
    let run = run(names.command().args(["-t", "5s", &format!("pg-bouncer_2:{port}")]));
    assert_eq!(run.code(), 0, "{}", run.stderr);
}

#[test]
fn bad_durations_are_exit_2_naming_the_value() {
    let closed = ReservedPort::new();
    let target = closed.target();
    for (flag, value) in
        [("-t", "-1"), ("-t", "abc"), ("--interval", "10x"), ("--period", "2 s"), ("--connect-timeout", "")]
    {
        let run = run_args(&[flag, value, &target]);
        assert_eq!(run.code(), 2, "{flag} {value}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.starts_with("wait-for-port: "), "{}", run.stderr);
        assert!(run.stderr.contains(&format!("'{value}'")), "{}", run.stderr);
    }
}

#[test]
fn an_invalid_environment_value_is_exit_2_naming_the_variable() {
    let closed = ReservedPort::new();
    let target = closed.target();
    for var in ["WAIT_FOR_PORT_TIMEOUT", "WAIT_FOR_PORT_INTERVAL", "WAIT_FOR_PORT_CONNECT_TIMEOUT"] {
        let run = run(command().env(var, "10x").arg(&target));
        assert_eq!(run.code(), 2, "{var}: {}", run.stderr);
        assert!(run.stderr.contains(var), "{}", run.stderr);
    }
}

#[test]
fn the_command_line_beats_the_environment() {
    let closed = ReservedPort::new();
    let target = closed.target();
    let run = run(command().env("WAIT_FOR_PORT_TIMEOUT", "30s").args(["-q", "-t", "300ms", &target]));
    assert_eq!(run.code(), 124);
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn the_environment_sets_the_timeout() {
    let closed = ReservedPort::new();
    let target = closed.target();
    let run = run(command().env("WAIT_FOR_PORT_TIMEOUT", "0.3").args(["-q", &target]));
    assert_eq!(run.code(), 124);
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn wait_hosts_adds_targets_separated_by_commas_or_spaces() {
    let (_first, first) = listener();
    let (_second, second) = listener();
    let reserved = ReservedPort::new();
    let closed = reserved.port;
    let hosts = format!("127.0.0.1:{first}, 127.0.0.1:{second}");
    assert_eq!(run(command().env("WAIT_HOSTS", &hosts).args(["-t", "2s"])).code(), 0);
    let with_closed = format!("{hosts} 127.0.0.1:{closed}");
    let run = run(command().env("WAIT_HOSTS", &with_closed).args(["-t", "300ms"]));
    assert_eq!(run.code(), 124);
    assert!(run.stderr.contains(&format!("127.0.0.1:{closed}")), "{}", run.stderr);
}

#[test]
fn a_bad_target_in_wait_hosts_names_the_variable() {
    let run = run(command().env("WAIT_HOSTS", "db:5432,cache"));
    assert_eq!(run.code(), 2);
    assert!(run.stderr.contains("'cache'") && run.stderr.contains("WAIT_HOSTS"), "{}", run.stderr);
}

#[test]
fn no_target_at_all_is_a_usage_error() {
    let run = run_args(&["--", "true"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr.contains("no target"), "{}", run.stderr);
}

#[test]
fn strict_is_accepted_and_changes_nothing() {
    let (_listener, port) = listener();
    assert_eq!(run_args(&["-s", &format!("127.0.0.1:{port}")]).code(), 0);
    let closed = ReservedPort::new();
    assert_eq!(run_args(&["--strict", "-q", "-t", "200ms", &closed.target()]).code(), 124);
}

#[test]
fn snakepackers_invocation_works_unchanged() {
    let (_a, a) = listener();
    let (_b, b) = listener();
    let run = run_args(&["--period=0.5", "--timeout=600", &format!("127.0.0.1:{a}"), &format!("127.0.0.1:{b}")]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
}

#[test]
fn help_documents_targets_environment_and_exit_codes() {
    let run = run_args(&["--help"]);
    assert_eq!(run.code(), 0);
    for expected in [
        "unix:/path",
        "[v6addr]:port",
        "WAIT_HOSTS",
        "WAIT_FOR_PORT_TIMEOUT",
        "WAIT_FOR_PORT_INTERVAL",
        "WAIT_FOR_PORT_CONNECT_TIMEOUT",
        "124",
        "126",
        "127",
        "--closed",
        "--period",
    ] {
        assert!(run.stdout.contains(expected), "--help lacks {expected}");
    }
}

#[test]
fn version_prints_the_crate_version() {
    let run = run_args(&["--version"]);
    assert_eq!(run.code(), 0);
    assert_eq!(run.stdout.trim(), format!("wait-for-port {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn an_empty_socket_path_is_exit_2_at_once_not_a_wait_on_the_root_directory() {
    let given = run_args(&["-t", "3s", "unix://"]);
    let from_env = run(command().env("WAIT_HOSTS", "unix://").args(["-t", "3s"]));
    for run in [given, from_env] {
        assert_eq!(run.code(), 2, "{}", run.stderr);
        assert!(run.stderr.contains("empty socket path"), "{}", run.stderr);
        // Right: at once; broken: the 3 s timeout.
        assert!(run.elapsed < Duration::from_millis(1500), "{:?}", run.elapsed);
    }
}
