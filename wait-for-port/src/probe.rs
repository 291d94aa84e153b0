//! One attempt: resolve (again, every time), connect with Happy Eyeballs
//! staggering across all addresses, then ask the service in its protocol if
//! the target names one ([`crate::protocol`]), and close.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinSet;

use crate::protocol::{self, NotReady, StatusRanges};
use crate::target::{Endpoint, Target};

/// How long one address gets before the next is tried alongside it (RFC 8305's
/// recommended Connection Attempt Delay).
pub const STAGGER: Duration = Duration::from_millis(250);

/// Why an attempt did not connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    Refused,
    TimedOut,
    Unreachable,
    Dns(String),
    NoSocket,
    NoFile,
    /// The path exists but is something else (what, as `ls` would say).
    NotASocket(&'static str),
    Other(String),
    /// Different addresses of one name failed differently.
    PerAddress(Vec<(SocketAddr, Failure)>),
    /// It accepted the connection but says it is not ready.
    NotReady(NotReady),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused => f.write_str("connection refused"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::Unreachable => f.write_str("unreachable"),
            Failure::Dns(why) => write!(f, "DNS error: {why}"),
            Failure::NoSocket => f.write_str("no such socket"),
            Failure::NoFile => f.write_str("no such file"),
            Failure::NotASocket(what) => write!(f, "not a socket but {what}"),
            Failure::Other(why) => f.write_str(why),
            Failure::NotReady(why) => why.fmt(f),
            Failure::PerAddress(failures) => {
                let parts: Vec<String> = failures.iter().map(|(addr, why)| format!("{} {why}", addr.ip())).collect();
                f.write_str(&parts.join(", "))
            }
        }
    }
}

impl Failure {
    fn from_io(err: &io::Error) -> Failure {
        match err.kind() {
            io::ErrorKind::ConnectionRefused => Failure::Refused,
            io::ErrorKind::TimedOut => Failure::TimedOut,
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => Failure::Unreachable,
            io::ErrorKind::NotFound => Failure::NoSocket,
            _ => Failure::Other(venvkit_common::io::plain(err)),
        }
    }

    /// One failure when every address failed alike, else each address's own.
    fn combine(mut failures: Vec<(SocketAddr, Failure)>) -> Failure {
        let all_alike = failures.windows(2).all(|pair| pair[0].1 == pair[1].1);
        match failures.len() {
            0 => Failure::Dns("the name has no addresses".into()),
            _ if all_alike => failures.swap_remove(0).1,
            _ => Failure::PerAddress(failures),
        }
    }
}

/// What an attempt is doing, readable from outside while it runs, so that a
/// deadline that cuts an attempt short can still say what it was waiting on.
#[derive(Clone, Debug, Default)]
pub struct Phase(Arc<AtomicU8>);

const IDLE: u8 = 0;
const RESOLVING: u8 = 1;
const CONNECTING: u8 = 2;
const ASKING: u8 = 3;

impl Phase {
    fn set(&self, phase: u8) {
        self.0.store(phase, Ordering::Relaxed);
    }

    fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }

    /// Why a target whose attempt was cut short is not ready.
    pub fn describe(&self) -> &'static str {
        match self.get() {
            RESOLVING => "DNS error: lookup timed out",
            CONNECTING => "timed out",
            ASKING => "connected, but no answer to the readiness question in time",
            _ => "not tried yet",
        }
    }
}

/// getaddrinfo cannot be cancelled: a lookup stuck in a silent or failing
/// resolver (musl retries SERVFAIL until its timeout, 5 s by default) holds
/// its thread until then. Each attempt still starts a fresh lookup, so that a
/// name added to /etc/hosts meanwhile is seen at once; this many may be stuck
/// per target, beyond it an attempt fails at once instead of adding threads.
const MAX_LOOKUPS_IN_FLIGHT: usize = 32;

/// Makes attempts on one target; clones share the target's state, so
/// overlapping attempts can run as separate tasks.
#[derive(Clone, Default)]
pub struct Prober {
    phase: Phase,
    lookups_in_flight: Arc<AtomicUsize>,
}

impl Prober {
    pub fn new(phase: Phase) -> Prober {
        Prober { phase, lookups_in_flight: Arc::default() }
    }

    /// Connects to the target and asks its service (if it names a
    /// protocol) within `limit`, then closes the connection.
    pub async fn attempt(&self, target: &Target, accepted: &StatusRanges, limit: Duration) -> Result<(), Failure> {
        let result = match tokio::time::timeout(limit, self.connect_and_ask(target, accepted)).await {
            Ok(result) => result,
            Err(_) if self.phase.get() == RESOLVING => Err(Failure::Dns("lookup timed out".into())),
            Err(_) if self.phase.get() == ASKING => {
                Err(Failure::Other(format!("{}: connected, but no answer in time", target.protocol.name())))
            }
            Err(_) => Err(Failure::TimedOut),
        };
        self.phase.set(IDLE);
        result
    }

    async fn connect_and_ask(&self, target: &Target, accepted: &StatusRanges) -> Result<(), Failure> {
        let Endpoint::Tcp { .. } = &target.endpoint else { return self.connect(&target.endpoint).await.map(drop) };
        let mut stream = self.connect(&target.endpoint).await?.expect("a TCP endpoint gives a stream");
        self.phase.set(ASKING);
        protocol::ask(&mut stream, &target.protocol, accepted).await.map_err(Failure::NotReady)
    }

    /// Connects; a TCP endpoint's stream is returned, to be asked.
    async fn connect(&self, endpoint: &Endpoint) -> Result<Option<TcpStream>, Failure> {
        match endpoint {
            Endpoint::Unix(path) => {
                self.phase.set(CONNECTING);
                connect_unix(path).await.map(|()| None)
            }
            // One stat of a local path: no need to leave the runtime's thread.
            Endpoint::File(path) => std::fs::symlink_metadata(path).map(|_| None).map_err(|_| Failure::NoFile),
            Endpoint::Tcp { host, port } => {
                let addresses = match endpoint.literal_address() {
                    Some(Ok(address)) => vec![address],
                    Some(Err(why)) => return Err(Failure::Other(why)),
                    None => {
                        self.phase.set(RESOLVING);
                        self.resolve(host, *port).await?
                    }
                };
                self.phase.set(CONNECTING);
                connect_any(addresses).await.map(Some)
            }
        }
    }

    /// A fresh getaddrinfo call every time: a name added to /etc/hosts or to
    /// DNS is seen by the next attempt.
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
        if self.lookups_in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_LOOKUPS_IN_FLIGHT {
            self.lookups_in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Failure::Dns("lookup timed out".into()));
        }
        let host = host.to_string();
        let in_flight = Arc::clone(&self.lookups_in_flight);
        let lookup = tokio::task::spawn_blocking(move || {
            let result = (host.as_str(), port).to_socket_addrs().map(Iterator::collect::<Vec<_>>);
            in_flight.fetch_sub(1, Ordering::AcqRel);
            result
        });
        match lookup.await {
            Ok(Ok(addresses)) => Ok(addresses),
            Ok(Err(err)) => Err(Failure::Dns(describe_lookup_error(&err))),
            Err(join) => Err(Failure::Dns(join.to_string())),
        }
    }
}

fn describe_lookup_error(err: &io::Error) -> String {
    let text = err.to_string();
    text.strip_prefix("failed to lookup address information: ").unwrap_or(&text).to_string()
}

async fn connect_unix(path: &Path) -> Result<(), Failure> {
    let Err(err) = UnixStream::connect(path).await.map(drop) else { return Ok(()) };
    // connect(2) says "connection refused" for a regular file or a
    // directory as for a socket nobody listens on: tell them apart.
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::metadata(path).map(|metadata| metadata.file_type());
    Err(match kind {
        Ok(kind) if kind.is_dir() => Failure::NotASocket("a directory"),
        Ok(kind) if kind.is_file() => Failure::NotASocket("a regular file"),
        Ok(kind) if !kind.is_socket() => Failure::NotASocket("another kind of file"),
        _ => Failure::from_io(&err),
    })
}

/// Happy Eyeballs (RFC 8305, simplified): addresses alternate between
/// families; each gets [`STAGGER`] before the next starts alongside it, and a
/// failure starts the next at once. The first connection wins; dropping the
/// set cancels the rest.
pub async fn connect_any(addresses: Vec<SocketAddr>) -> Result<TcpStream, Failure> {
    let mut queue = interleave_families(addresses).into_iter();
    let mut running = JoinSet::new();
    let mut failures = Vec::new();
    let start_next = |queue: &mut std::vec::IntoIter<SocketAddr>, running: &mut JoinSet<_>| {
        queue.next().map(|addr| running.spawn(async move { (addr, TcpStream::connect(addr).await) })).is_some()
    };
    start_next(&mut queue, &mut running);
    let stagger = tokio::time::sleep(STAGGER);
    tokio::pin!(stagger);
    loop {
        tokio::select! {
            finished = running.join_next() => match finished {
                Some(Ok((_, Ok(connection)))) => return Ok(connection),
                Some(Ok((addr, Err(err)))) => {
                    failures.push((addr, Failure::from_io(&err)));
                    if start_next(&mut queue, &mut running) {
                        stagger.as_mut().reset(tokio::time::Instant::now() + STAGGER);
                    }
                }
                Some(Err(join)) => failures.push((SocketAddr::from(([0, 0, 0, 0], 0)), Failure::Other(join.to_string()))),
                None => return Err(Failure::combine(failures)),
            },
            () = &mut stagger, if queue.len() > 0 => {
                start_next(&mut queue, &mut running);
                stagger.as_mut().reset(tokio::time::Instant::now() + STAGGER);
            }
        }
    }
}

/// Keeps the resolver's preference for the first family, then alternates, so
/// a dead first family delays the other by one stagger, not by all its
/// addresses.
fn interleave_families(addresses: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addresses.first() else { return addresses };
    let first_is_v6 = first.is_ipv6();
    let (mut same, mut other): (Vec<_>, Vec<_>) = addresses.into_iter().partition(|a| a.is_ipv6() == first_is_v6);
    same.reverse();
    other.reverse();
    let mut ordered = Vec::with_capacity(same.len() + other.len());
    while let Some(addr) = same.pop() {
        ordered.push(addr);
        ordered.extend(other.pop());
    }
    other.reverse();
    ordered.extend(other);
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn families_alternate_starting_with_the_resolvers_first_choice() {
        let ordered = interleave_families(vec![addr("[::1]:1"), addr("[::2]:1"), addr("[::3]:1"), addr("127.0.0.1:1")]);
        assert_eq!(ordered, [addr("[::1]:1"), addr("127.0.0.1:1"), addr("[::2]:1"), addr("[::3]:1")]);
        let ordered = interleave_families(vec![addr("127.0.0.1:1"), addr("[::1]:1"), addr("[::2]:1")]);
        assert_eq!(ordered, [addr("127.0.0.1:1"), addr("[::1]:1"), addr("[::2]:1")]);
    }

    #[test]
    fn alike_failures_are_reported_once_and_mixed_ones_per_address() {
        let same = Failure::combine(vec![(addr("[::1]:1"), Failure::Refused), (addr("127.0.0.1:1"), Failure::Refused)]);
        assert_eq!(same.to_string(), "connection refused");
        let mixed =
            Failure::combine(vec![(addr("[::1]:1"), Failure::Refused), (addr("127.0.0.1:1"), Failure::TimedOut)]);
        assert_eq!(mixed.to_string(), "::1 connection refused, 127.0.0.1 timed out");
    }

    #[tokio::test]
    async fn a_refused_port_fails_fast_as_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let result = connect_any(vec![SocketAddr::from(([127, 0, 0, 1], port))]).await;
        assert_eq!(result.err(), Some(Failure::Refused));
    }
}
