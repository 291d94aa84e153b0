//! What to wait for: `host:port`, `[v6addr%zone]:port`, `tcp://host:port`,
//! `unix:/path/to.sock`, `file:/path`, or a service's URL (`postgres://`,
//! `mysql://`, `redis://`, `http://`) whose protocol is asked. Parsing does
//! no I/O, so a typo is reported before the first connection attempt.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;

use crate::protocol::Protocol;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A name or literal address, resolved again on every attempt.
    Tcp {
        host: String,
        port: u16,
    },
    Unix(PathBuf),
    /// A file that must exist (docker-compose-wait's WAIT_PATHS).
    File(PathBuf),
}

/// A parsed target, displayed as the user wrote it but for a password,
/// which is never printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub text: String,
    pub endpoint: Endpoint,
    pub protocol: Protocol,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Target, String> {
        let shown = redact(text);
        let (endpoint, protocol) = parse_endpoint(text).map_err(|why| match why.contains("write") {
            true => format!("invalid target '{shown}': {why}"),
            false => {
                format!("invalid target '{shown}': {why} (write host:port such as db:5432, [v6addr]:port, unix:/path)")
            }
        })?;
        Ok(Target { text: shown, endpoint, protocol })
    }
}

/// `scheme://user:password@host` with the password replaced by `***`.
pub fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://").filter(|(scheme, _)| !matches!(*scheme, "unix" | "file")) else {
        return text.to_string();
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rsplit_once('@').and_then(|(userinfo, _)| userinfo.split_once(':')) {
        Some((user, _password)) => {
            let after = &rest[authority.rfind('@').map_or(0, |at| at)..];
            format!("{scheme}://{user}:***{after}")
        }
        None => text.to_string(),
    }
}

const SCHEMES: &str = "use host:port, tcp://, postgres://, mysql://, redis://, http://, unix:/path or file:/path";

fn parse_endpoint(text: &str) -> Result<(Endpoint, Protocol), String> {
    if let Some(rest) = text.strip_prefix("unix:") {
        return Ok((Endpoint::Unix(parse_path(rest, "socket", "unix")?), Protocol::Tcp));
    }
    if let Some(rest) = text.strip_prefix("file:") {
        return Ok((Endpoint::File(parse_path(rest, "file", "file")?), Protocol::Tcp));
    }
    if let Some((scheme, rest)) = text.split_once("://") {
        return parse_url(scheme, rest);
    }
    Ok((parse_host_port(text)?, Protocol::Tcp))
}

/// `scheme://[user[:password]@]host[:port][/path][?query]`.
fn parse_url(scheme: &str, rest: &str) -> Result<(Endpoint, Protocol), String> {
    let default_port = match scheme {
        "tcp" => return Ok((parse_host_port(rest)?, Protocol::Tcp)),
        "postgres" | "postgresql" => 5432,
        "mysql" | "mariadb" => 3306,
        "redis" => 6379,
        "http" => 80,
        "https" | "rediss" => {
            return Err(format!(
                "{scheme}:// is not built into wait-for-port (TLS would double its size): wait for its port \
                 as host:port, or for a plain http:// endpoint"
            ))
        }
        _ => return Err(format!("unknown scheme '{scheme}' ({SCHEMES})")),
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let has_port = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').is_some_and(|(_, after)| after.starts_with(':')),
        None => host_port.contains(':'),
    };
    let with_port = if has_port { host_port.to_string() } else { format!("{host_port}:{default_port}") };
    let endpoint = parse_host_port(&with_port)?;
    let path = path.split('#').next().unwrap_or_default();
    let protocol = match scheme {
        "postgres" | "postgresql" => {
            let user = userinfo.map(|info| info.split(':').next().unwrap_or(info)).filter(|user| !user.is_empty());
            let database = path.strip_prefix('/').unwrap_or(path).split('?').next().unwrap_or_default();
            Protocol::Postgres {
                user: percent_decoded(user.unwrap_or("postgres"))?,
                database: (!database.is_empty()).then(|| percent_decoded(database)).transpose()?,
            }
        }
        "mysql" | "mariadb" => Protocol::Mysql,
        "redis" => Protocol::Redis,
        _ => {
            if let Some(bad) = path.chars().find(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("{bad:?} in the path (percent-encode it)"));
            }
            let path = match path {
                "" => "/".to_string(),
                query if query.starts_with('?') => format!("/{query}"),
                path => path.to_string(),
            };
            Protocol::Http { host: host_port.to_string(), path }
        }
    };
    Ok((endpoint, protocol))
}

/// `%XX` escapes decoded, as URLs carry user and database names.
fn percent_decoded(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3).and_then(|hex| std::str::from_utf8(hex).ok());
            let byte = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok());
            decoded.push(byte.ok_or_else(|| format!("'{text}' has a bad %-escape (write %XX with two hex digits)"))?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("'{text}' decodes to something that is not UTF-8"))
}

/// `unix:/path`, `unix:relative/path`, or the URL form `unix:///path`
/// (dockerize's); the same for `file:`. A URL's authority must be empty:
/// `unix://run/app.sock` is a typo for an absolute path, not a relative one.
fn parse_path(rest: &str, what: &str, scheme: &str) -> Result<PathBuf, String> {
    let path = match rest.strip_prefix("//") {
        Some(after) if !after.is_empty() && !after.starts_with('/') => {
            return Err(format!("'{after}' after {scheme}:// is not an absolute path (write {scheme}:///{after})"));
        }
        Some(after) => after,
        None => rest,
    };
    if path.is_empty() {
        return Err(format!("empty {what} path (write {scheme}:/path)"));
    }
    if path.bytes().all(|b| b == b'/') {
        return Err(format!("'{path}' is the root directory, not a {what}"));
    }
    Ok(PathBuf::from(path))
}

fn parse_host_port(text: &str) -> Result<Endpoint, String> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']').ok_or("'[' without a closing ']'")?;
        validate_ipv6(address)?;
        let port = after.strip_prefix(':').ok_or("missing port (write [addr]:port)")?;
        return Ok(Endpoint::Tcp { host: address.to_string(), port: parse_port(port)? });
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err("missing port (write host:port)".into());
    };
    if host.contains(':') {
        return Err(explain_extra_colons(text, host));
    }
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if let Some(bad) = host.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))) {
        return Err(format!("'{bad}' is not allowed in a host name"));
    }
    // Digits and dots only is an IPv4 address or a typo, never a name: the
    // resolver would read "1.2.3" as 1.2.0.3 or send "999.1.1.1" to DNS.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') && host.parse::<Ipv4Addr>().is_err() {
        return Err(format!("'{host}' is not an IPv4 address"));
    }
    if host.trim_end_matches('.').split('.').any(str::is_empty) {
        return Err(format!("'{host}' has an empty label"));
    }
    Ok(Endpoint::Tcp { host: host.to_string(), port: parse_port(port)? })
}

fn explain_extra_colons(text: &str, host: &str) -> String {
    let unzoned = |s: &str| s.split('%').next().unwrap_or(s).to_string();
    let is_v6 = |s: &str| unzoned(s).parse::<Ipv6Addr>().is_ok();
    if is_v6(host) {
        let port = &text[host.len() + 1..];
        format!("an IPv6 address needs brackets: [{host}]:{port}")
    } else if is_v6(text) {
        format!("an IPv6 address needs brackets and a port: [{text}]:PORT")
    } else {
        let scheme = text.split(':').next().unwrap_or_default();
        format!("unknown scheme '{scheme}' ({SCHEMES})")
    }
}

fn validate_ipv6(address: &str) -> Result<(), String> {
    let (bare, zone) = match address.split_once('%') {
        Some((bare, zone)) => (bare, Some(zone)),
        None => (address, None),
    };
    if bare.is_empty() {
        return Err("the host is empty".into());
    }
    if bare.parse::<Ipv6Addr>().is_err() {
        return Err(format!("'{bare}' is not an IPv6 address"));
    }
    if zone.is_some_and(str::is_empty) {
        return Err("the zone after '%' is empty".into());
    }
    Ok(())
}

fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() {
        return Err("missing port".into());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port '{text}' is not a number"));
    }
    match text.parse::<u32>() {
        Ok(0) => Err("port 0 cannot be connected to".into()),
        Ok(port) if port <= 65535 => Ok(port as u16),
        _ => Err(format!("port {text} is out of range (1-65535)")),
    }
}

impl Endpoint {
    /// A literal address needs no resolver (everything else goes to
    /// getaddrinfo). A zone is looked up as an interface on every attempt,
    /// since an interface can appear later; an unknown one is an error.
    pub fn literal_address(&self) -> Option<Result<SocketAddr, String>> {
        let Endpoint::Tcp { host, port } = self else { return None };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Ok(SocketAddr::new(ip, *port)));
        }
        let (bare, zone) = host.split_once('%')?;
        let ip = bare.parse::<Ipv6Addr>().ok()?;
        let scope = match zone.parse::<u32>() {
            Ok(index) => index,
            Err(_) => match nix::net::if_::if_nametoindex(zone) {
                Ok(index) => index,
                Err(_) => return Some(Err(format!("no network interface '{zone}'"))),
            },
        };
        Some(Ok(SocketAddr::V6(SocketAddrV6::new(ip, *port, 0, scope))))
    }
}

/// Splits `WAIT_HOSTS` (docker-compose-wait's variable) on commas and spaces.
pub fn split_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(|c: char| c == ',' || c.is_whitespace()).filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp { host: host.into(), port }
    }

    fn parse(text: &str) -> Result<Endpoint, String> {
        text.parse::<Target>().map(|t| t.endpoint)
    }

    #[test]
    fn host_names_with_digits_dashes_and_underscores() {
        assert_eq!(parse("db:5432"), Ok(tcp("db", 5432)));
        assert_eq!(parse("pg-bouncer_2.internal:6432"), Ok(tcp("pg-bouncer_2.internal", 6432)));
        assert_eq!(parse("10.0.0.1:80"), Ok(tcp("10.0.0.1", 80)));
        assert_eq!(parse("tcp://db:5432"), Ok(tcp("db", 5432)));
    }

    #[test]
    fn bracketed_ipv6_with_and_without_zone() {
        assert_eq!(parse("[::1]:8080"), Ok(tcp("::1", 8080)));
        assert_eq!(parse("[fe80::1%eth0]:22"), Ok(tcp("fe80::1%eth0", 22)));
    }

    #[test]
    fn unix_sockets() {
        assert_eq!(parse("unix:/run/app.sock"), Ok(Endpoint::Unix("/run/app.sock".into())));
        assert_eq!(parse("unix:///run/app.sock"), Ok(Endpoint::Unix("/run/app.sock".into())));
        assert_eq!(parse("unix:app.sock"), Ok(Endpoint::Unix("app.sock".into())));
        assert_eq!(parse("file:///run/ready"), Ok(Endpoint::File("/run/ready".into())));
    }

    #[test]
    fn each_kind_of_bad_target_is_named() {
        let cases = [
            ("db", "missing port"),
            ("db:", "missing port"),
            ("[::1]", "missing port"),
            ("db:0", "port 0"),
            ("db:65536", "out of range"),
            ("db:99999999999", "out of range"),
            ("db:http", "not a number"),
            ("db:-1", "not a number"),
            ("::1:80", "needs brackets: [::1]:80"),
            ("fe80::1", "needs brackets"),
            (":5432", "host is empty"),
            ("[]:80", "host is empty"),
            ("ftp://db:21", "unknown scheme 'ftp'"),
            ("https://db/health", "not built into wait-for-port"),
            ("rediss://cache", "not built into wait-for-port"),
            ("postgres://", "host is empty"),
            ("postgres://db:x/polls", "not a number"),
            ("postgres://db/%zz", "bad %-escape"),
            ("http://db/a b", "percent-encode"),
            ("udp:db:53", "unknown scheme 'udp'"),
            ("unix:", "empty socket path"),
            ("unix://", "empty socket path"),
            ("unix://run/app.sock", "write unix:///run/app.sock"),
            ("unix:////", "root directory"),
            ("db/x:80", "'/' is not allowed"),
            ("[::1:80", "closing"),
            ("[zz]:80", "not an IPv6 address"),
            ("[fe80::1%]:80", "zone"),
            ("999.1.1.1:80", "not an IPv4 address"),
            ("1.2.3:80", "not an IPv4 address"),
            ("..:80", "not an IPv4 address"),
            ("a..b:80", "empty label"),
            (".db:80", "empty label"),
        ];
        for (text, expected) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.contains(expected), "{text}: {err}");
            assert!(err.contains(&format!("'{text}'")), "{text}: {err}");
        }
    }

    fn protocol(text: &str) -> (Endpoint, Protocol) {
        let target = text.parse::<Target>().unwrap_or_else(|why| panic!("{why}"));
        (target.endpoint, target.protocol)
    }

    #[test]
    fn service_urls_with_their_default_ports() {
        let postgres = |user: &str, database: Option<&str>| Protocol::Postgres {
            user: user.into(),
            database: database.map(Into::into),
        };
        assert_eq!(protocol("postgres://db/polls"), (tcp("db", 5432), postgres("postgres", Some("polls"))));
        assert_eq!(protocol("postgresql://app:secret@db:6432"), (tcp("db", 6432), postgres("app", None)));
        assert_eq!(
            protocol("postgres://my%20user@[::1]/my%2Fdb?sslmode=require"),
            (tcp("::1", 5432), postgres("my user", Some("my/db")))
        );
        assert_eq!(protocol("mysql://root@db"), (tcp("db", 3306), Protocol::Mysql));
        assert_eq!(protocol("mariadb://db:3307/app"), (tcp("db", 3307), Protocol::Mysql));
        assert_eq!(protocol("redis://cache/0"), (tcp("cache", 6379), Protocol::Redis));
        let http = |host: &str, path: &str| Protocol::Http { host: host.into(), path: path.into() };
        assert_eq!(protocol("http://web"), (tcp("web", 80), http("web", "/")));
        assert_eq!(protocol("http://web:8000/health?full=1#x"), (tcp("web", 8000), http("web:8000", "/health?full=1")));
        assert_eq!(protocol("http://[::1]:8000?q"), (tcp("::1", 8000), http("[::1]:8000", "/?q")));
        assert_eq!(protocol("db:5432").1, Protocol::Tcp);
    }

    #[test]
    fn passwords_are_never_shown() {
        let target: Target = "postgres://app:s3cret@db/polls".parse().unwrap();
        assert_eq!(target.to_string(), "postgres://app:***@db/polls");
        let bad = "postgres://app:s3cret@db:x/polls".parse::<Target>().unwrap_err();
        assert!(!bad.contains("s3cret") && bad.contains("postgres://app:***@db:x/polls"), "{bad}");
        assert_eq!(redact("redis://:pw@cache"), "redis://:***@cache");
        assert_eq!(redact("http://web/a@b:c"), "http://web/a@b:c", "an @ in the path is not user information");
    }

    #[test]
    fn literal_addresses_skip_the_resolver_and_zones_become_scope_ids() {
        assert_eq!(parse("10.1.2.3:80").unwrap().literal_address(), Some(Ok("10.1.2.3:80".parse().unwrap())));
        let zoned = parse("[fe80::1%1]:22").unwrap().literal_address().unwrap().unwrap();
        assert_eq!(zoned, SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 22, 0, 1)));
        let loopback = parse("[fe80::1%lo]:22").unwrap().literal_address().unwrap().unwrap();
        assert!(matches!(loopback, SocketAddr::V6(v6) if v6.scope_id() > 0));
        let missing = parse("[fe80::1%venvkit9]:22").unwrap().literal_address();
        assert_eq!(missing, Some(Err("no network interface 'venvkit9'".into())));
        assert_eq!(parse("db.:5432").unwrap().literal_address(), None);
    }

    #[test]
    fn wait_hosts_splits_on_commas_and_spaces() {
        let items: Vec<_> = split_list(" db:5432,cache:6379  mq:5672,").collect();
        assert_eq!(items, ["db:5432", "cache:6379", "mq:5672"]);
    }

    /// Pieces whose joins are where parsers slip: schemes, brackets,
    /// colons, slashes, zones, ports at and past their limits.
    const PIECES: &[&str] = &[
        "unix:",
        "unix://",
        "tcp://",
        "http://",
        "[",
        "]",
        ":",
        "::",
        "/",
        "//",
        "%",
        "db",
        "localhost",
        "127.0.0.1",
        "::1",
        "fe80::1",
        "0",
        "5432",
        "65535",
        "65536",
        "99999999999",
        "-",
        "_",
        ".",
        " ",
        "eth0",
        "@",
        "?",
        "\u{e9}",
    ];

    fn targets() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(PIECES),
                any::<char>().prop_map(|c| { Box::leak(c.to_string().into_boxed_str()) as &str })
            ],
            0..8,
        )
        .prop_map(|pieces| pieces.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        #[test]
        fn every_accepted_target_is_one_that_can_be_waited_for(text in targets()) {
            match text.parse::<Target>() {
                Err(why) => {
                    let shown = redact(&text);
                    proptest::prop_assert!(why.starts_with(&format!("invalid target '{shown}': ")), "{why}")
                }
                Ok(target) => {
                    proptest::prop_assert_eq!(target.to_string(), redact(&text));
                    match target.endpoint {
                        Endpoint::Unix(path) | Endpoint::File(path) => {
                            let path = path.to_string_lossy().into_owned();
                            proptest::prop_assert!(text.starts_with("unix:") || text.starts_with("file:"));
                            proptest::prop_assert!(!path.is_empty(), "an empty socket path from {text:?}");
                            proptest::prop_assert!(!path.trim_matches('/').is_empty(), "{path:?} from {text:?}");
                        }
                        Endpoint::Tcp { host, port } => {
                            proptest::prop_assert!(port >= 1);
                            proptest::prop_assert!(!host.is_empty(), "an empty host from {text:?}");
                            proptest::prop_assert!(!text.starts_with("unix:"));
                            let bare = host.split('%').next().unwrap_or(&host);
                            if host.contains(':') {
                                proptest::prop_assert!(bare.parse::<std::net::Ipv6Addr>().is_ok(), "{host:?}");
                            }
                            proptest::prop_assert!(!host.contains(['/', '[', ']', ' ', '@', '?']), "{host:?}");
                        }
                    }
                }
            }
        }
    }
}
