//! Readiness asked in each service's protocol, against small fake servers on
//! loopback that show the states a real server shows too briefly to test
//! (PostgreSQL starting up or missing the database, a MySQL error packet,
//! Redis loading, HTTP 503), each ready after a delay. The TCP-only target
//! (`host:port`) on the same fake is released at once: the port was open
//! all along.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 57P03 until ready, then a password request.
    PostgresStarting,
    /// Trust: AuthenticationOk then 3D000 until ready, then ReadyForQuery.
    PostgresNoDatabase,
    MysqlError,
    RedisLoading,
    Http503,
    /// Always 401.
    Http401,
}

/// A fake server; stops when dropped.
struct Fake {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn fake(kind: Kind, ready_after: Duration) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let ready_at = Instant::now() + ready_after;
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            if stopped.load(Ordering::SeqCst) {
                return;
            }
            let Ok(connection) = connection else { continue };
            let ready = Instant::now() >= ready_at;
            std::thread::spawn(move || answer(kind, ready, connection));
        }
    });
    Fake { port, stop }
}

fn pg_message(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut message = vec![kind];
    message.extend(((payload.len() + 4) as u32).to_be_bytes());
    message.extend_from_slice(payload);
    message
}

fn pg_error(sqlstate: &str, text: &str) -> Vec<u8> {
    let fields = format!("SFATAL\0C{sqlstate}\0M{text}\0\0");
    pg_message(b'E', fields.as_bytes())
}

fn answer(kind: Kind, ready: bool, mut connection: TcpStream) {
    connection.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let reply: Vec<u8> = match kind {
        Kind::PostgresStarting | Kind::PostgresNoDatabase => {
            let mut length = [0u8; 4];
            if connection.read_exact(&mut length).is_err() {
                return;
            }
            let mut startup = vec![0u8; u32::from_be_bytes(length) as usize - 4];
            let _ = connection.read_exact(&mut startup);
            match (kind, ready) {
                (Kind::PostgresStarting, false) => pg_error("57P03", "the database system is starting up"),
                (Kind::PostgresStarting, true) => pg_message(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]),
                (_, false) => {
                    [pg_message(b'R', &[0; 4]), pg_error("3D000", "database \"polls\" does not exist")].concat()
                }
                (_, true) => [pg_message(b'R', &[0; 4]), pg_message(b'Z', b"I")].concat(),
            }
        }
        Kind::MysqlError if !ready => {
            let payload = b"\xff\x10\x04#08004Too many connections";
            [&[payload.len() as u8, 0, 0, 0][..], payload].concat()
        }
        Kind::MysqlError => {
            let payload = b"\x0a10.11.6-MariaDB-fake\0\x01\0\0\0abcdefgh\0";
            [&[payload.len() as u8, 0, 0, 0][..], payload].concat()
        }
        Kind::RedisLoading => {
            let mut line = String::new();
            let _ = BufReader::new(&connection).read_line(&mut line);
            let reply = if ready { "+PONG\r\n" } else { "-LOADING Redis is loading the dataset in memory\r\n" };
            reply.as_bytes().to_vec()
        }
        Kind::Http503 | Kind::Http401 => {
            let mut reader = BufReader::new(&connection);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                line.clear();
            }
            let status = match (kind, ready) {
                (Kind::Http401, _) => "401 Unauthorized",
                (_, true) => "200 OK",
                (_, false) => "503 Service Unavailable",
            };
            format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()
        }
    };
    let _ = connection.write_all(&reply);
}

fn url(kind: Kind, port: u16) -> String {
    match kind {
        Kind::PostgresStarting => format!("postgres://127.0.0.1:{port}"),
        Kind::PostgresNoDatabase => format!("postgresql://app@127.0.0.1:{port}/polls"),
        Kind::MysqlError => format!("mysql://127.0.0.1:{port}"),
        Kind::RedisLoading => format!("redis://127.0.0.1:{port}"),
        Kind::Http503 | Kind::Http401 => format!("http://127.0.0.1:{port}/health"),
    }
}

/// What the timeout message says of each fake's unready state.
fn state(kind: Kind) -> &'static str {
    match kind {
        Kind::PostgresStarting => "postgres: the database system is starting up (SQLSTATE 57P03)",
        Kind::PostgresNoDatabase => "postgres: database \"polls\" does not exist (SQLSTATE 3D000)",
        Kind::MysqlError => "mysql: Too many connections (error 1040)",
        Kind::RedisLoading => "redis: LOADING Redis is loading the dataset in memory",
        Kind::Http503 => "http: 503 Service Unavailable",
        Kind::Http401 => "http: 401 Unauthorized",
    }
}

const READY_AFTER: Duration = Duration::from_millis(1500);

/// The protocol target waits until the fake is ready; the TCP-only one on
/// the same port is released long before.
fn waits_for_readiness(kind: Kind) {
    let fake = fake(kind, READY_AFTER);
    let tcp_only = run_args(&["-t", "10s", &format!("127.0.0.1:{}", fake.port)]);
    assert_eq!(tcp_only.code(), 0, "{}", tcp_only.stderr);
    assert!(tcp_only.elapsed < READY_AFTER / 2, "the port was open at once: {:?}", tcp_only.elapsed);
    let asked = run_args(&["-t", "10s", "-i", "100ms", &url(kind, fake.port)]);
    assert_eq!(asked.code(), 0, "{}", asked.stderr);
    // The run started after the TCP-only one, itself after the fake started.
    assert!(asked.elapsed + tcp_only.elapsed >= READY_AFTER, "released before it was ready: {:?}", asked.elapsed);
}

/// With the delay past the timeout: exit 124, naming the state.
fn times_out_naming_the_state(kind: Kind) {
    let fake = fake(kind, Duration::from_secs(3600));
    let run = run_args(&["-t", "1s", "-i", "100ms", &url(kind, fake.port)]);
    assert_eq!(run.code(), 124, "{}", run.stderr);
    let expected = format!("timed out after 1s waiting for {} ({})", url(kind, fake.port), state(kind));
    assert!(run.stderr.contains(&expected), "{expected:?} not in {}", run.stderr);
}

#[test]
fn postgres_starting_up_is_waited_for() {
    waits_for_readiness(Kind::PostgresStarting);
    times_out_naming_the_state(Kind::PostgresStarting);
}

#[test]
fn postgres_named_database_not_created_yet_is_waited_for() {
    waits_for_readiness(Kind::PostgresNoDatabase);
    times_out_naming_the_state(Kind::PostgresNoDatabase);
}

#[test]
fn mysql_error_packet_is_waited_for() {
    waits_for_readiness(Kind::MysqlError);
    times_out_naming_the_state(Kind::MysqlError);
}

#[test]
fn redis_loading_is_waited_for() {
    waits_for_readiness(Kind::RedisLoading);
    times_out_naming_the_state(Kind::RedisLoading);
}

#[test]
fn http_503_is_waited_for() {
    waits_for_readiness(Kind::Http503);
    times_out_naming_the_state(Kind::Http503);
}

#[test]
fn http_status_codes_accepted_are_configurable() {
    let fake = fake(Kind::Http401, Duration::ZERO);
    let target = url(Kind::Http401, fake.port);
    let refused = run_args(&["-t", "1s", &target]);
    assert_eq!(refused.code(), 124, "{}", refused.stderr);
    assert!(refused.stderr.contains(state(Kind::Http401)), "{}", refused.stderr);
    assert_eq!(run_args(&["-t", "5s", "--http-status", "200-299,401", &target]).code(), 0);
    let from_env = run(command().env("WAIT_FOR_PORT_HTTP_STATUS", "401").args(["-t", "5s", &target]));
    assert_eq!(from_env.code(), 0, "{}", from_env.stderr);
}

#[test]
fn once_is_a_health_check_exit_0_or_1_with_the_cause() {
    let ready = fake(Kind::RedisLoading, Duration::ZERO);
    let loading = fake(Kind::RedisLoading, Duration::from_secs(3600));
    let closed = ReservedPort::new();
    let healthy = run_args(&["--once", &url(Kind::RedisLoading, ready.port)]);
    assert_eq!((healthy.code(), healthy.stdout.as_str(), healthy.stderr.as_str()), (0, "", ""), "quiet when healthy");
    let targets = [url(Kind::RedisLoading, ready.port), url(Kind::RedisLoading, loading.port), closed.target()];
    let unhealthy = run(command().arg("--once").args(&targets));
    assert_eq!((unhealthy.code(), unhealthy.stdout.as_str()), (1, ""), "{}", unhealthy.stderr);
    assert_eq!(unhealthy.stderr.lines().count(), 1, "{}", unhealthy.stderr);
    let line = unhealthy.stderr.trim_end();
    assert!(line.contains(&format!("{} ({})", targets[1], state(Kind::RedisLoading))), "{line}");
    assert!(
        line.contains(&format!("{} (connection refused)", targets[2])) && line.ends_with("are not ready"),
        "{line}"
    );
    assert!(!line.contains(&format!("{} (", targets[0])), "the ready one is not named: {line}");
    let quiet = run(command().args(["--once", "-q"]).args(&targets));
    assert_eq!((quiet.code(), quiet.stderr.as_str()), (1, ""));
    // One attempt, all at once: a SYN-dropping target costs one connect timeout.
    let dropper = SynDropper::bind("127.0.0.1:0").unwrap();
    let silent = format!("127.0.0.1:{}", dropper.port());
    let bounded = run_args(&["--once", "--connect-timeout", "500ms", &silent, &targets[1]]);
    assert_eq!(bounded.code(), 1, "{}", bounded.stderr);
    assert!(bounded.elapsed < Duration::from_secs(3), "{:?}", bounded.elapsed);
    let with_command = run_args(&["--once", &targets[0], "--", "true"]);
    assert_eq!(with_command.code(), 2, "{}", with_command.stderr);
}

#[test]
fn passwords_in_urls_are_never_printed() {
    let fake = fake(Kind::PostgresStarting, Duration::from_secs(3600));
    let target = format!("postgres://app:s3cret@127.0.0.1:{}/polls", fake.port);
    let waited = run_args(&["-v", "-t", "1s", "-i", "200ms", &target]);
    assert_eq!(waited.code(), 124, "{}", waited.stderr);
    let shown = waited.stderr.contains("postgres://app:***@127.0.0.1");
    assert!(!waited.stderr.contains("s3cret") && shown, "{}", waited.stderr);
    let bad = run_args(&["postgres://app:s3cret@127.0.0.1:x/polls"]);
    assert_eq!(bad.code(), 2);
    assert!(!bad.stderr.contains("s3cret"), "{}", bad.stderr);
}
