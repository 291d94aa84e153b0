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
    let running = Running::start(&mut command);
    std::thread::sleep(Duration::from_millis(1500));
    names.set_hosts("127.0.0.1 localhost\n127.0.0.1 late-db\n");
    let run = running.finish();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stderr.contains("DNS error"), "the early attempts should have failed on DNS: {}", run.stderr);
    // Right: 1.5 s plus one interval; broken (the failure remembered): the 10 s timeout.
    assert!(run.elapsed < Duration::from_millis(5000), "found after {:?}", run.elapsed);
}

#[test]
fn nxdomain_is_retried_until_the_name_appears_in_etc_hosts_needs_root() {
    require_root();
    a_name_that_appears_later_is_found(DnsAnswer::NoSuchName);
}

#[test]
fn temporary_dns_failure_is_retried_until_the_name_appears_needs_root() {
    require_root();
    a_name_that_appears_later_is_found(DnsAnswer::ServerFailure);
}

#[test]
fn a_hung_resolver_cannot_push_past_the_deadline_needs_root() {
    require_root();
    let names = NameFiles::new("hung", "127.0.0.1 localhost\n", DnsAnswer::Silence);
    let run = run(names.command().args(["-t", "1s", "-i", "100ms", "db:5432"]));
    assert_eq!(run.code(), 124, "{}", run.stderr);
    // Right: 1 s; broken (waiting for the attempt's own 1 s limit): 2 s.
    assert!(run.elapsed < Duration::from_millis(1500), "{:?}", run.elapsed);
    assert!(run.stderr.contains("db:5432 (DNS error: lookup timed out)"), "{}", run.stderr);
}

const DUAL_STACK_HOSTS: &str = "::1 localhost\n127.0.0.1 localhost\n";

#[test]
fn localhost_works_when_the_server_listens_on_ipv4_only_needs_root() {
    require_root();
    let (_listener, port) = listener();
    let names = NameFiles::new("v4only", DUAL_STACK_HOSTS, DnsAnswer::NoSuchName);
    let run = run(names.command().args(["-t", "5s", &format!("localhost:{port}")]));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    // Right: milliseconds; broken (one family only): the 5 s timeout.
    assert!(run.elapsed < Duration::from_millis(2500), "{:?}", run.elapsed);
}

#[test]
fn localhost_works_when_the_server_listens_on_ipv6_only_needs_root() {
    require_root();
    let listener = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let names = NameFiles::new("v6only", DUAL_STACK_HOSTS, DnsAnswer::NoSuchName);
    let run = run(names.command().args(["-t", "5s", &format!("localhost:{port}")]));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    // Right: milliseconds; broken (one family only): the 5 s timeout.
    assert!(run.elapsed < Duration::from_millis(2500), "{:?}", run.elapsed);
}

#[test]
fn a_silent_first_address_delays_the_next_by_the_stagger_only_needs_root() {
    require_root();
    // Both resolvers put ::1 first (RFC 6724 precedence), so the silent
    // address is tried first and the open one must start 250 ms later.
    let silent = SynDropper::bind("[::1]:0").unwrap();
    let _open = std::net::TcpListener::bind(("127.0.0.1", silent.port())).unwrap();
    let names = NameFiles::new("stagger", DUAL_STACK_HOSTS, DnsAnswer::NoSuchName);
    let target = format!("localhost:{}", silent.port());
    let run = run(names.command().args(["-t", "10s", "--connect-timeout", "5s", &target]));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(
        // Right: 250 ms; broken: 0 (no stagger) or the 5 s connect timeout.
        run.elapsed >= Duration::from_millis(125) && run.elapsed < Duration::from_millis(2600),
        "connected after {:?}: expected the 250 ms stagger, not the 5 s connect timeout",
        run.elapsed
    );
}
