//! Fixtures shared by the integration tests: real sockets on loopback, the
//! real binary, private mount namespaces for /etc/hosts, and PID 1.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

// Not every test binary uses every shared fixture.
#[allow(unused_imports)]
pub use venvkit_suites::fixtures::{children_of, eventually, run, Run, Running, Scratch};

pub fn require_root() {
    venvkit_suites::fixtures::require_root("namespaces, mounts, port 53")
}

/// The binary under test: `WAIT_FOR_PORT_BIN` (make test points it at the
/// static release build that ships), else cargo's debug build.
pub fn binary() -> PathBuf {
    match std::env::var_os("WAIT_FOR_PORT_BIN") {
        Some(path) => PathBuf::from(path),
        None => assert_cmd::cargo::cargo_bin("wait-for-port"),
    }
}

/// Every variable wait-for-port reads: its own and docker-compose-wait's.
const VARIABLES: &[&str] = &[
    "WAIT_HOSTS",
    "WAIT_FOR_PORT_TIMEOUT",
    "WAIT_FOR_PORT_INTERVAL",
    "WAIT_FOR_PORT_CONNECT_TIMEOUT",
    "WAIT_FOR_PORT_HTTP_STATUS",
    "WAIT_TIMEOUT",
    "WAIT_HOSTS_TIMEOUT",
    "WAIT_SLEEP_INTERVAL",
    "WAIT_HOST_CONNECT_TIMEOUT",
    "WAIT_BEFORE",
    "WAIT_BEFORE_HOSTS",
    "WAIT_AFTER",
    "WAIT_AFTER_HOSTS",
    "WAIT_PATHS",
    "WAIT_COMMAND",
    "WAIT_LOGGER_LEVEL",
];

pub fn command() -> Command {
    let mut command = Command::new(binary());
    // Keep the user's environment from changing defaults under test.
    VARIABLES.iter().for_each(|var| {
        command.env_remove(var);
    });
    command
}

pub fn run_args(args: &[&str]) -> Run {
    run(command().args(args))
}

pub fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A listener whose accept queue is full, so that the kernel drops further
/// SYNs: a connection attempt to it hangs, as to a firewalled host.
pub struct SynDropper {
    pub listener: TcpListener,
    pub addr: SocketAddr,
    _queued: TcpStream,
}

impl SynDropper {
    pub fn bind(addr: &str) -> std::io::Result<SynDropper> {
        let listener = TcpListener::bind(addr)?;
        nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::new(0).unwrap())?;
        let addr = listener.local_addr()?;
        // With a backlog of 0 the queue holds one unaccepted connection.
        let queued = TcpStream::connect(addr)?;
        let dropper = SynDropper { listener, addr, _queued: queued };
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
            "the accept queue should be full and drop SYNs"
        );
        Ok(dropper)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// A loopback port that is bound but not listening: connections to it are
/// refused, and no other socket can take the number until it is dropped or
/// starts listening.
pub struct ReservedPort {
    socket: std::os::fd::OwnedFd,
    pub port: u16,
}

impl ReservedPort {
    pub fn new() -> ReservedPort {
        use nix::sys::socket::*;
        let socket = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
        bind(std::os::fd::AsRawFd::as_raw_fd(&socket), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
        let bound: SockaddrIn = getsockname(std::os::fd::AsRawFd::as_raw_fd(&socket)).unwrap();
        ReservedPort { socket, port: bound.port() }
    }

    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts listening: from now on connections succeed.
    pub fn open(self) -> TcpListener {
        nix::sys::socket::listen(&self.socket, nix::sys::socket::Backlog::new(128).unwrap()).unwrap();
        TcpListener::from(self.socket)
    }

    /// Opens the port after `delay`, from a thread.
    pub fn open_after(self, delay: Duration) -> std::thread::JoinHandle<TcpListener> {
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            self.open()
        })
    }
}

/// Runs the binary in a private mount namespace where /etc/hosts and
/// /etc/resolv.conf are the given files.
pub fn in_private_mounts(hosts: &Path, resolv: &Path) -> Command {
    let mut command = Command::new("unshare");
    command.args(["--mount", "--propagation", "private", "sh", "-c"]);
    command.arg(r#"mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@""#);
    command.arg("sh").arg(hosts).arg(resolv).arg(binary());
    VARIABLES.iter().for_each(|var| {
        command.env_remove(var);
    });
    command
}

/// How the fake DNS server answers.
#[derive(Clone, Copy, Debug)]
pub enum DnsAnswer {
    /// NXDOMAIN: the name does not exist (yet).
    NoSuchName,
    /// SERVFAIL: a temporary failure.
    ServerFailure,
    /// Nothing at all: a hung resolver.
    Silence,
}

/// A DNS server on a random 127/8 address, port 53, that answers every
/// query the same way. Lookups in the tests go to it (via a private
/// resolv.conf), so no test query ever leaves the machine.
pub struct FakeDns {
    pub address: std::net::Ipv4Addr,
}

impl FakeDns {
    pub fn start(answer: DnsAnswer) -> FakeDns {
        let (socket, address) = (0..100)
            .find_map(|_| {
                let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
                let address = std::net::Ipv4Addr::new(127, 53, (nanos >> 8) as u8, (nanos >> 16) as u8 | 1);
                std::net::UdpSocket::bind((address, 53)).ok().map(|socket| (socket, address))
            })
            .expect("bind a fake DNS server on 127.53.x.y:53 (needs root)");
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1500];
            while let Ok((length, peer)) = socket.recv_from(&mut buffer) {
                if matches!(answer, DnsAnswer::Silence) {
                    continue;
                }
                if let Some(reply) = dns_reply(&buffer[..length], answer) {
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        FakeDns { address }
    }

    pub fn resolv_conf(&self) -> String {
        format!("nameserver {}\noptions timeout:30 attempts:5\n", self.address)
    }
}

/// The query's header and question, turned into an answer-less reply.
fn dns_reply(query: &[u8], answer: DnsAnswer) -> Option<Vec<u8>> {
    let mut end = 12;
    loop {
        let label = *query.get(end)? as usize;
        end += 1 + label;
        if label == 0 {
            break;
        }
    }
    let mut reply = query.get(..end + 4)?.to_vec();
    let rcode = match answer {
        DnsAnswer::ServerFailure => 2,
        _ => 3,
    };
    reply[2] = 0x80 | (query[2] & 0x79);
    reply[3] = 0x80 | rcode;
    reply[6..12].fill(0);
    Some(reply)
}

/// /etc/hosts and /etc/resolv.conf for a private mount namespace.
pub struct NameFiles {
    pub scratch: Scratch,
    pub hosts: PathBuf,
    pub resolv: PathBuf,
    pub dns: FakeDns,
}

impl NameFiles {
    pub fn new(name: &str, hosts: &str, answer: DnsAnswer) -> NameFiles {
        let scratch = Scratch::new(name);
        let dns = FakeDns::start(answer);
        let hosts = scratch.write("hosts", hosts);
        let resolv = scratch.write("resolv.conf", dns.resolv_conf());
        NameFiles { scratch, hosts, resolv, dns }
    }

    pub fn command(&self) -> Command {
        in_private_mounts(&self.hosts, &self.resolv)
    }

    /// Rewrites the hosts file in place: the bind mount follows the inode,
    /// so a rename would not be seen.
    pub fn set_hosts(&self, contents: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(&self.hosts).unwrap();
        file.write_all(contents.as_bytes()).unwrap();
    }
}

/// Reads everything a peer sent until it closed, with a limit.
pub fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> std::io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(limit))?;
    let mut received = Vec::new();
    stream.read_to_end(&mut received)?;
    Ok(received)
}
