//! Asking a connected service whether it is ready, in its own protocol, with
//! as little as each protocol allows: no password is ever sent, no query
//! run, no data read beyond the first answer.
//!
//! - PostgreSQL (frontend/backend protocol 3.0, "Message Flow: Start-up"):
//!   a StartupMessage; an authentication request, or any ErrorResponse but
//!   SQLSTATE 57P03 (cannot_connect_now: starting up, shutting down,
//!   recovering) means up, as libpq's `PQping` (pg_isready) decides; 3D000
//!   (invalid_catalog_name) when a database is named means not yet, and is
//!   only seen where no password is asked (trust).
//! - MySQL and MariaDB ("Connection Phase"): the server speaks first; a
//!   protocol-10 handshake is ready, an ERR packet (0xff) is not.
//! - Redis (RESP): `PING`; `+PONG`, `-NOAUTH` or `-NOPERM` (up, it wants a
//!   password or an ACL) are ready, any other error (`-LOADING`, `-BUSY`,
//!   `-MASTERDOWN`) is not.
//! - HTTP/1.1 (RFC 9112): `GET path`; the status line's code must be in the
//!   accepted ranges.

use std::fmt;
use std::ops::RangeInclusive;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What makes a connected service ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// A connection is enough (`host:port`).
    Tcp,
    Postgres {
        /// Sent in the StartupMessage (`postgres` unless the URL names one);
        /// never a password.
        user: String,
        /// A database that must exist, if the URL names one.
        database: Option<String>,
    },
    Mysql,
    Redis,
    Http {
        /// The Host header: the URL's host, with its port if it gave one.
        host: String,
        /// The path and query to GET.
        path: String,
    },
}

impl Protocol {
    /// The protocol's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Postgres { .. } => "postgres",
            Protocol::Mysql => "mysql",
            Protocol::Redis => "redis",
            Protocol::Http { .. } => "http",
        }
    }
}

/// HTTP status codes that count as ready (`--http-status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRanges(pub Vec<RangeInclusive<u16>>);

impl Default for StatusRanges {
    /// 200-399: success and redirects, as load balancers' health checks take them.
    fn default() -> StatusRanges {
        StatusRanges(vec![200..=399])
    }
}

impl StatusRanges {
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|range| range.contains(&code))
    }

    /// `200`, `200-299`, or several separated by commas.
    pub fn parse(text: &str) -> Result<StatusRanges, String> {
        let bad = || format!("'{text}' is not a list of HTTP status codes (write e.g. 200-399 or 200,204)");
        let code = |part: &str| match part.trim().parse::<u16>() {
            Ok(code @ 100..=599) => Ok(code),
            _ => Err(bad()),
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let range = match part.split_once('-') {
                Some((low, high)) => code(low)?..=code(high)?,
                None => code(part)?..=code(part)?,
            };
            if range.is_empty() {
                return Err(bad());
            }
            ranges.push(range);
        }
        Ok(StatusRanges(ranges))
    }
}

/// Why a service that accepted the connection is not ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotReady {
    pub protocol: &'static str,
    pub state: String,
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.protocol, self.state)
    }
}

/// The longest message read from a service: more is not a greeting.
const MAX_MESSAGE: usize = 64 * 1024;

/// Asks the service on `stream`; the caller bounds the time.
pub async fn ask<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    protocol: &Protocol,
    accepted: &StatusRanges,
) -> Result<(), NotReady> {
    let not_ready = |state: String| NotReady { protocol: protocol.name(), state };
    let closed = |_| not_ready("the connection closed before an answer".into());
    match protocol {
        Protocol::Tcp => Ok(()),
        Protocol::Postgres { user, database } => {
            stream.write_all(&startup_message(user, database.as_deref())).await.map_err(closed)?;
            postgres_answer(stream, database.is_some()).await.map_err(not_ready)
        }
        Protocol::Mysql => {
            let mut header = [0u8; 4];
            stream.read_exact(&mut header).await.map_err(closed)?;
            let length = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
            if length == 0 || length > MAX_MESSAGE {
                return Err(not_ready(format!("a packet of {length} bytes is no greeting")));
            }
            let mut payload = vec![0u8; length];
            stream.read_exact(&mut payload).await.map_err(closed)?;
            mysql_greeting(&payload).map_err(not_ready)
        }
        Protocol::Redis => {
            stream.write_all(b"PING\r\n").await.map_err(closed)?;
            let line = read_line(stream).await.map_err(not_ready)?;
            redis_reply(&line).map_err(not_ready)
        }
        Protocol::Http { host, path } => {
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: wait-for-port\r\nAccept: */*\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.map_err(closed)?;
            let line = read_line(stream).await.map_err(not_ready)?;
            http_status(&line, accepted).map_err(not_ready)
        }
    }
}

/// A StartupMessage: length, protocol 3.0, then name/value pairs.
fn startup_message(user: &str, database: Option<&str>) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    let mut pair = |name: &str, value: &str| {
        for text in [name, value] {
            body.extend_from_slice(text.as_bytes());
            body.push(0);
        }
    };
    pair("user", user);
    if let Some(database) = database {
        pair("database", database);
    }
    pair("application_name", "wait-for-port");
    body.push(0);
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend(body);
    message
}

/// Reads backend messages until one decides.
async fn postgres_answer<S: AsyncRead + Unpin>(stream: &mut S, database_named: bool) -> Result<(), String> {
    loop {
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).await.map_err(|_| "the connection closed before an answer".to_string())?;
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if !(4..=MAX_MESSAGE).contains(&length) {
            return Err(format!("not a PostgreSQL server (a message of {length} bytes)"));
        }
        let mut payload = vec![0u8; length - 4];
        stream.read_exact(&mut payload).await.map_err(|_| "the connection closed in a message".to_string())?;
        match header[0] {
            // AuthenticationOk (trust): the database is checked next, so read on.
            b'R' if payload.starts_with(&[0, 0, 0, 0]) && database_named => continue,
            // Any other authentication request: it is up and wants a password.
            b'R' => return Ok(()),
            b'E' => return postgres_error(&payload, database_named),
            // ReadyForQuery, or a newer server's protocol negotiation: up.
            b'Z' | b'v' => return Ok(()),
            // ParameterStatus, BackendKeyData, NoticeResponse: read on.
            b'S' | b'K' | b'N' => continue,
            other => return Err(format!("not a PostgreSQL server (a message of type {:?})", other as char)),
        }
    }
}

/// An ErrorResponse's verdict: its fields are a code byte and a C string
/// each, ended by a zero byte; `C` is the SQLSTATE, `M` the message.
fn postgres_error(payload: &[u8], database_named: bool) -> Result<(), String> {
    let mut sqlstate = String::new();
    let mut message = String::new();
    let mut rest = payload;
    while let Some((&code, after)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let end = after.iter().position(|&b| b == 0).unwrap_or(after.len());
        let value = String::from_utf8_lossy(&after[..end]).into_owned();
        match code {
            b'C' => sqlstate = value,
            b'M' => message = value,
            _ => {}
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
    match sqlstate.as_str() {
        "57P03" => Err(format!("{message} (SQLSTATE 57P03)")),
        "3D000" if database_named => Err(format!("{message} (SQLSTATE 3D000)")),
        _ => Ok(()),
    }
}

/// The first packet: protocol 10's handshake, or an ERR packet with its
/// code, SQL state and message.
fn mysql_greeting(payload: &[u8]) -> Result<(), String> {
    match payload.first() {
        Some(10) => Ok(()),
        Some(0xff) if payload.len() >= 3 => {
            let code = u16::from_le_bytes([payload[1], payload[2]]);
            let rest = &payload[3..];
            // "#" and a five-character SQL state come first, when sent.
            let message = match rest.first() {
                Some(b'#') if rest.len() >= 6 => &rest[6..],
                _ => rest,
            };
            Err(format!("{} (error {code})", String::from_utf8_lossy(message)))
        }
        Some(other) => Err(format!("protocol version {other}, not 10 (not a MySQL server?)")),
        None => Err("an empty greeting".into()),
    }
}

fn redis_reply(line: &str) -> Result<(), String> {
    let word = |reply: &str| reply.split_whitespace().next().unwrap_or_default().to_string();
    match line.strip_prefix('-') {
        None if line.starts_with('+') => Ok(()),
        None => Err(format!("'{line}' is not a reply to PING (not a Redis server?)")),
        Some(error) if matches!(word(error).as_str(), "NOAUTH" | "NOPERM") => Ok(()),
        Some(error) => Err(error.to_string()),
    }
}

fn http_status(line: &str, accepted: &StatusRanges) -> Result<(), String> {
    let mut words = line.splitn(3, ' ');
    let (version, code, reason) = (words.next(), words.next(), words.next().unwrap_or_default());
    let code = match (version, code.and_then(|code| code.parse::<u16>().ok())) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => code,
        _ => return Err("not an HTTP answer".into()),
    };
    if accepted.contains(code) {
        Ok(())
    } else {
        Err(format!("{code} {reason}").trim_end().to_string())
    }
}

/// One line ended by CRLF (or LF), without its end.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> Result<String, String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 8192 {
        match stream.read(&mut byte).await {
            Ok(1) if byte[0] == b'\n' => {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            Ok(1) => line.push(byte[0]),
            _ => return Err("the connection closed before an answer".into()),
        }
    }
    Err("an answer line over 8 KiB".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_messages_carry_user_database_and_no_password() {
        let message = startup_message("app", Some("polls"));
        assert_eq!(u32::from_be_bytes(message[..4].try_into().unwrap()) as usize, message.len());
        assert_eq!(&message[4..8], &[0, 3, 0, 0]);
        assert_eq!(&message[8..], b"user\0app\0database\0polls\0application_name\0wait-for-port\0\0");
    }

    fn error_fields(fields: &[(u8, &str)]) -> Vec<u8> {
        let mut payload = Vec::new();
        for (code, value) in fields {
            payload.push(*code);
            payload.extend_from_slice(value.as_bytes());
            payload.push(0);
        }
        payload.push(0);
        payload
    }

    #[test]
    fn postgres_errors_are_up_unless_starting_or_a_named_database_is_missing() {
        let starting = error_fields(&[(b'S', "FATAL"), (b'C', "57P03"), (b'M', "the database system is starting up")]);
        assert_eq!(postgres_error(&starting, false), Err("the database system is starting up (SQLSTATE 57P03)".into()));
        let missing = error_fields(&[(b'C', "3D000"), (b'M', "database \"polls\" does not exist")]);
        assert!(postgres_error(&missing, true).is_err());
        assert_eq!(postgres_error(&missing, false), Ok(()));
        let no_role = error_fields(&[(b'C', "28000"), (b'M', "role \"postgres\" does not exist")]);
        assert_eq!(postgres_error(&no_role, true), Ok(()));
        assert_eq!(postgres_error(b"C57P03", false), Err(" (SQLSTATE 57P03)".into()), "an unended field");
    }

    #[test]
    fn mysql_greetings_and_error_packets() {
        assert_eq!(mysql_greeting(b"\x0a5.5.5-10.11.6-MariaDB\0"), Ok(()));
        let error = b"\xff\x10\x04#08004Too many connections";
        assert_eq!(mysql_greeting(error), Err("Too many connections (error 1040)".into()));
        let old = b"\xff\x6a\x04Host '10.0.0.1' is not allowed to connect to this MariaDB server";
        assert_eq!(
            mysql_greeting(old),
            Err("Host '10.0.0.1' is not allowed to connect to this MariaDB server (error 1130)".into())
        );
        assert!(mysql_greeting(b"\x09").is_err());
        assert!(mysql_greeting(b"\xff").is_err());
    }

    #[test]
    fn redis_replies() {
        assert_eq!(redis_reply("+PONG"), Ok(()));
        assert_eq!(redis_reply("-NOAUTH Authentication required."), Ok(()));
        assert_eq!(
            redis_reply("-LOADING Redis is loading the dataset in memory"),
            Err("LOADING Redis is loading the dataset in memory".into())
        );
        assert!(redis_reply("-BUSY Redis is busy running a script").is_err());
        assert!(redis_reply("HTTP/1.1 400 Bad Request").is_err());
    }

    #[test]
    fn http_status_lines_and_ranges() {
        let default = StatusRanges::default();
        assert_eq!(http_status("HTTP/1.1 200 OK", &default), Ok(()));
        assert_eq!(http_status("HTTP/1.0 302 Found", &default), Ok(()));
        assert_eq!(http_status("HTTP/1.1 503 Service Unavailable", &default), Err("503 Service Unavailable".into()));
        assert_eq!(http_status("HTTP/1.1 404", &default), Err("404".into()));
        assert!(http_status("SSH-2.0-OpenSSH_9.2", &default).is_err());
        let ranges = StatusRanges::parse("200, 204-206,401").unwrap();
        assert!(ranges.contains(205) && ranges.contains(401) && !ranges.contains(302));
        for bad in ["", "abc", "99", "600", "300-200", "200-", "2OO"] {
            assert!(StatusRanges::parse(bad).is_err(), "{bad}");
        }
    }
}
