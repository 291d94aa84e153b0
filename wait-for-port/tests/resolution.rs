//! Names: resolved again on every attempt, failures retried, a hung resolver
//! bounded by the deadline, and every address of a name tried.

mod support;

use std::time::Duration;
use support::*;

fn a_name_that_appears_later_is_found(answer: DnsAnswer) {
    let (_listener, port) = listener();
    let names = NameFiles::new("late-name", "127.0.0.1 localhost\n", answer);
    let mut command = names.command();
    command.args(["-v", "-t", "10s", "-i", "200ms", &format!("late-db:{port}")]);
    let (child, started) = spawn(&mut command);
    std::thread::sleep(Duration::from_millis(1500));
    names.set_hosts(&format!("127.0.0.1 localhost\n127.0.0.1 late-db\n"));
    let run = wait_with_output(child, started);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stderr.contains("DNS error"), "the early attempts should have failed on DNS: {}", run.stderr);
    assert!(run.elapsed < Duration::from_millis(1500 + 200 + 100), "found after {:?}", run.elapsed);
}

#[test]
fn nxdomain_is_retried_until_the_name_appears_in_etc_hosts_needs_root() {
    if !root_or_skip() {
        return;
    }
    a_name_that_appears_later_is_found(DnsAnswer::NoSuchName);
}

#[test]
fn temporary_dns_failure_is_retried_until_the_name_appears_needs_root() {
    if !root_or_skip() {
        return;
    }
    a_name_that_appears_later_is_found(DnsAnswer::ServerFailure);
}

#[test]
fn a_hung_resolver_cannot_push_past_the_deadline_needs_root() {
    if !root_or_skip() {
        return;
    }
    let names = NameFiles::new("hung", "127.0.0.1 localhost\n", DnsAnswer::Silence);
    let run = run(names.command().args(["-t", "1s", "-i", "100ms", "db:5432"]));
    assert_eq!(run.code(), 124, "{}", run.stderr);
    assert!(run.elapsed < Duration::from_millis(1300), "{:?}", run.elapsed);
    assert!(run.stderr.contains("db:5432 (DNS error: lookup timed out)"), "{}", run.stderr);
}

const DUAL_STACK_HOSTS: &str = "::1 localhost\n127.0.0.1 localhost\n";

#[test]
fn localhost_works_when_the_server_listens_on_ipv4_only_needs_root() {
    if !root_or_skip() {
        return;
    }
    let (_listener, port) = listener();
    let names = NameFiles::new("v4only", DUAL_STACK_HOSTS, DnsAnswer::NoSuchName);
    let run = run(names.command().args(["-t", "5s", &format!("localhost:{port}")]));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.elapsed < Duration::from_millis(500), "{:?}", run.elapsed);
}

#[test]
fn localhost_works_when_the_server_listens_on_ipv6_only_needs_root() {
    if !root_or_skip() {
        return;
    }
    let listener = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let names = NameFiles::new("v6only", DUAL_STACK_HOSTS, DnsAnswer::NoSuchName);
    let run = run(names.command().args(["-t", "5s", &format!("localhost:{port}")]));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.elapsed < Duration::from_millis(500), "{:?}", run.elapsed);
}

#[test]
fn a_silent_first_address_delays_the_next_by_the_stagger_only_needs_root() {
    if !root_or_skip() {
        return;
    }
    // Both resolvers put ::1 first (RFC 6724 precedence), so the silent
    // address is tried first and the open one must start 250 ms later.
    let silent = SynDropper::bind("[::1]:0").unwrap();
    let _open = std::net::TcpListener::bind(("127.0.0.1", silent.port())).unwrap();
    let names = NameFiles::new("stagger", DUAL_STACK_HOSTS, DnsAnswer::NoSuchName);
    let target = format!("localhost:{}", silent.port());
    let run = run(names.command().args(["-t", "10s", "--connect-timeout", "5s", &target]));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(
        run.elapsed >= Duration::from_millis(240) && run.elapsed < Duration::from_millis(700),
        "connected after {:?}: expected the 250 ms stagger, not the 5 s connect timeout",
        run.elapsed
    );
}
