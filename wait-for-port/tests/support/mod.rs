//! Fixtures shared by the integration tests: real sockets on loopback, the
//! real binary, private mount namespaces for /etc/hosts, and PID 1.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: `WAIT_FOR_PORT_BIN` (make test points it at the
/// static release build that ships), else cargo's debug build.
pub fn binary() -> PathBuf {
    match std::env::var_os("WAIT_FOR_PORT_BIN") {
        Some(path) => PathBuf::from(path),
        None => assert_cmd::cargo::cargo_bin("wait-for-port"),
    }
}

pub fn command() -> Command {
    let mut command = Command::new(binary());
    // Keep the user's environment from changing defaults under test.
    for var in ["WAIT_HOSTS", "WAIT_FOR_PORT_TIMEOUT", "WAIT_FOR_PORT_INTERVAL", "WAIT_FOR_PORT_CONNECT_TIMEOUT"] {
        command.env_remove(var);
    }
    command
}

/// A finished run: its status, output and wall time.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| 128 + self.status.signal().unwrap_or(0))
    }
}

pub fn run(command: &mut Command) -> Run {
    let started = Instant::now();
    let output: Output = command.stdin(Stdio::null()).output().expect("spawn wait-for-port");
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

pub fn run_args(args: &[&str]) -> Run {
    run(command().args(args))
}

/// A loopback port with nothing listening on it (for now).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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

/// Binds `port` on 127.0.0.1 after `delay`, in a thread, and keeps accepting
/// (and counting) until dropped with the process.
pub fn open_after(port: u16, delay: Duration) -> std::thread::JoinHandle<TcpListener> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        TcpListener::bind(("127.0.0.1", port)).expect("bind the late port")
    })
}

/// Runs `program args` in a private mount namespace where /etc/hosts and
/// /etc/resolv.conf are the given files. The resolver points at 127.0.0.1,
/// where nothing answers, so no test query ever leaves the machine.
pub fn in_private_mounts(hosts: &Path, resolv: &Path) -> Command {
    let mut command = Command::new("unshare");
    command.args(["--mount", "--propagation", "private", "sh", "-c"]);
    command.arg(r#"mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@""#);
    command.arg("sh").arg(hosts).arg(resolv).arg(binary());
    for var in ["WAIT_HOSTS", "WAIT_FOR_PORT_TIMEOUT", "WAIT_FOR_PORT_INTERVAL", "WAIT_FOR_PORT_CONNECT_TIMEOUT"] {
        command.env_remove(var);
    }
    command
}

/// A scratch directory for one test, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("wait-for-port-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A resolv.conf whose only nameserver is loopback port 53, where nothing
/// listens: lookups of unknown names fail without leaving the machine.
pub const LOOPBACK_RESOLV_CONF: &str = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";

/// Starts `command` with piped stderr and returns it with its start time.
pub fn spawn(command: &mut Command) -> (Child, Instant) {
    let started = Instant::now();
    let child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    (child, started)
}

pub fn wait_with_output(child: Child, started: Instant) -> Run {
    let output = child.wait_with_output().unwrap();
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Reads everything a peer sent until it closed, with a limit.
pub fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> std::io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(limit))?;
    let mut received = Vec::new();
    stream.read_to_end(&mut received)?;
    Ok(received)
}

/// The direct children of `pid`, from /proc.
pub fn children_of(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Polls `condition` every 5 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}
