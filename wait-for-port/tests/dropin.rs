//! The syntaxes of the scripts wait-for-port replaces, one test per row of
//! the README's table: wait-for-it (vishnubob/wait-for-it, Debian's
//! wait-for-it), docker-compose-wait's variables, snakepacker's
//! wait-for-port. Each works, or is exit 2; none prints help and exits 0
//! with arguments that were meant as a target.

mod support;

use std::time::Duration;
use support::*;

/// A started command's marker, printed only if it ran.
const MARK: &[&str] = &["--", "echo", "ran"];

#[test]
fn wait_for_it_host_colon_port_then_command() {
    let (_listener, port) = listener();
    let run = run_args(&[&format!("127.0.0.1:{port}"), "--", "echo", "ran"]);
    assert_eq!((run.code(), run.stdout.as_str()), (0, "ran\n"), "{}", run.stderr);
}

#[test]
fn wait_for_it_dash_h_host_dash_p_port_waits_instead_of_printing_help() {
    let reserved = ReservedPort::new();
    let port = reserved.port.to_string();
    let late = reserved.open_after(Duration::from_millis(500));
    let run = run(command().args(["-h", "127.0.0.1", "-p", &port]).args(MARK));
    let _listener = late.join().unwrap();
    assert_eq!((run.code(), run.stdout.as_str()), (0, "ran\n"), "{}", run.stderr);
    // Right: once the port opened at 0.5 s; broken (help printed): at once.
    assert!(run.elapsed >= Duration::from_millis(400), "did not wait: {:?}", run.elapsed);
}

#[test]
fn wait_for_it_host_and_port_with_equals() {
    let (_listener, port) = listener();
    let run = run(command().args(["--host=127.0.0.1", &format!("--port={port}")]).args(MARK));
    assert_eq!((run.code(), run.stdout.as_str()), (0, "ran\n"), "{}", run.stderr);
}

#[test]
fn a_host_without_a_port_is_exit_2_and_dash_h_alone_is_help() {
    let run = run_args(&["-h", "db"]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("--host db without --port"), "{}", run.stderr);
    let help = run_args(&["-h"]);
    assert_eq!(help.code(), 0);
    assert!(help.stdout.contains("Usage:"), "{}", help.stdout);
}

#[test]
fn wait_for_it_timeout_in_seconds_with_and_without_equals() {
    let closed = ReservedPort::new();
    for timeout in [["-t", "1"].as_slice(), ["--timeout=1"].as_slice()] {
        let run = run(command().args(timeout).arg(closed.target()).args(MARK));
        assert_eq!(run.code(), 124, "{timeout:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "the command ran after a timeout");
    }
}

#[test]
fn wait_for_it_strict_and_quiet_are_accepted_and_the_command_never_runs_on_a_timeout() {
    let closed = ReservedPort::new();
    let run = run(command().args(["-s", "-q", "-t", "0.3", &closed.target()]).args(MARK));
    assert_eq!(run.code(), 124);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "-q keeps only the line that ends the run: {}", run.stderr);
}

#[test]
fn compose_wait_hosts_timeout_the_old_name_is_honoured() {
    let closed = ReservedPort::new();
    let run = run(command().env("WAIT_HOSTS", closed.target()).env("WAIT_HOSTS_TIMEOUT", "1"));
    assert_eq!(run.code(), 124, "{}", run.stderr);
    // Right: 1 s; broken (ignored): the default 600 s, cut by RUN_LIMIT.
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn compose_wait_timeout_zero_is_one_attempt() {
    let closed = ReservedPort::new();
    let run = run(command().env("WAIT_HOSTS", closed.target()).env("WAIT_TIMEOUT", "0"));
    assert_eq!(run.code(), 124, "{}", run.stderr);
    assert!(run.stderr.contains("connection refused"), "{}", run.stderr);
    assert!(run.elapsed < Duration::from_secs(2), "{:?}", run.elapsed);
}

#[test]
fn compose_wait_interval_and_connect_timeout_are_honoured() {
    let dropper = SynDropper::bind("127.0.0.1:0").unwrap();
    let target = format!("127.0.0.1:{}", dropper.port());
    let run = run(command()
        .args(["-v", "-t", "1", &target])
        .env("WAIT_SLEEP_INTERVAL", "0.4")
        .env("WAIT_HOST_CONNECT_TIMEOUT", "0.2"));
    assert_eq!(run.code(), 124);
    // One attempt every 0.4 s over 1 s: 3 (at 0, 0.4, 0.8), each given up at 0.2 s.
    let attempts = run.stderr.lines().filter(|line| line.contains("timed out (attempt")).count();
    assert!((2..=3).contains(&attempts), "{attempts} attempts: {}", run.stderr);
}

#[test]
fn compose_wait_before_and_after_pause() {
    let (_listener, port) = listener();
    let run = run(command()
        .env("WAIT_HOSTS", format!("127.0.0.1:{port}"))
        .env("WAIT_BEFORE", "0.3")
        .env("WAIT_AFTER_HOSTS", "0.3"));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    // Right: both pauses, 0.6 s; broken (ignored): at once.
    assert!(run.elapsed >= Duration::from_millis(550), "{:?}", run.elapsed);
}

#[test]
fn compose_wait_paths_wait_for_files() {
    let scratch = Scratch::new("wait-paths");
    let file = scratch.path("ready");
    let writer = {
        let file = file.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            std::fs::write(file, "").unwrap();
        })
    };
    let run = run(command().env("WAIT_PATHS", &file).args(["-t", "5"]));
    writer.join().unwrap();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.elapsed >= Duration::from_millis(350), "{:?}", run.elapsed);
}

#[test]
fn compose_wait_command_runs_without_a_shell_when_no_command_is_given() {
    let (_listener, port) = listener();
    let run = run(command().arg(format!("127.0.0.1:{port}")).env("WAIT_COMMAND", "printf '[%s]' 'a b' $HOME"));
    assert_eq!((run.code(), run.stdout.as_str()), (0, "[a b][$HOME]"), "{}", run.stderr);
}

#[test]
fn compose_wait_logger_level_sets_the_verbosity() {
    let closed = ReservedPort::new();
    let run = run(command().args(["-t", "0.3", &closed.target()]).env("WAIT_LOGGER_LEVEL", "debug"));
    assert!(run.stderr.contains("(attempt 1)"), "debug logs each attempt: {}", run.stderr);
}

#[test]
fn compose_wait_bad_values_are_exit_2_naming_the_variable() {
    for (name, value) in [("WAIT_TIMEOUT", "10o"), ("WAIT_HOSTS_TIMEOUT", "-32"), ("WAIT_LOGGER_LEVEL", "loud")] {
        let run = run(command().env("WAIT_HOSTS", "127.0.0.1:9").env(name, value));
        assert_eq!(run.code(), 2, "{name}={value}: {}", run.stderr);
        assert!(run.stderr.starts_with(&format!("wait-for-port: {name}: ")), "{}", run.stderr);
    }
}

#[test]
fn snakepacker_several_addresses_timeout_and_period() {
    let (_a, first) = listener();
    let (_b, second) = listener();
    let run =
        run_args(&["-t", "600", "--period", "0.5", &format!("127.0.0.1:{first}"), &format!("127.0.0.1:{second}")]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
}
