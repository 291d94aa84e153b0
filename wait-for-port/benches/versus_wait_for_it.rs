//! `make bench`: wait-for-port against wait-for-it (Debian's package) in one
//! run, on loopback. Medians of repeated runs, and the ratio of the two.
//!
//! Figures: time to exit for a port that is already open; time from a port
//! opening to exit (each tool at its default interval); time from an HTTP
//! service turning ready (503, then 200) to exit, against wait-for-it's
//! figure for a port (it cannot ask a service); a --once health check;
//! overshoot past a 2 s deadline when one target silently drops SYNs; the
//! size of what ships.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use venvkit_suites::bin_dir;
use venvkit_suites::fixtures::median;

fn main() {
    let ours = bin_dir().join("wait-for-port");
    let peer = which("wait-for-it").expect("wait-for-it is not installed (make bench installs it)");
    println!("wait-for-port {} vs wait-for-it {}\n", ours.display(), peer.display());
    println!("{:<34} {:>14} {:>14} {:>8}", "median of runs", "wait-for-port", "wait-for-it", "ratio");

    let (listener, port) = listen();
    let open = format!("127.0.0.1:{port}");
    let ours_open = median(30, || timed(Command::new(&ours).args(["-q", &open])));
    let peer_open = median(30, || timed(Command::new(&peer).args(["-q", "-t", "5", &open])));
    row("already open: exit after (ms)", ours_open, peer_open);
    drop(listener);

    let ours_detect = median(10, || time_to_notice_opening(Command::new(&ours).arg("-q")));
    let peer_detect = median(5, || time_to_notice_opening(Command::new(&peer).args(["-q", "-t", "10"])));
    row("opens later: exit after open (ms)", ours_detect, peer_detect);

    let ours_ready = median(10, || time_to_notice_service(Command::new(&ours).arg("-q")));
    row("service ready later: exit after (ms)", ours_ready, peer_detect);
    let service = FakeHttp::start();
    service.ready.store(true, std::sync::atomic::Ordering::SeqCst);
    let url = format!("http://127.0.0.1:{}/health", service.port);
    let ours_once = median(30, || timed(Command::new(&ours).args(["--once", &url])));
    let peer_once =
        median(30, || timed(Command::new(&peer).args(["-q", "-t", "1", &format!("127.0.0.1:{}", service.port)])));
    row("health check, ready (ms)", ours_once, peer_once);

    let dropper = SynDropper::new();
    let silent = format!("127.0.0.1:{}", dropper.port);
    let deadline = Duration::from_secs(2);
    let ours_over = median(5, || timed(Command::new(&ours).args(["-q", "-t", "2s", &silent])).saturating_sub(deadline));
    let peer_over = median(3, || timed(Command::new(&peer).args(["-q", "-t", "2", &silent])).saturating_sub(deadline));
    row("SYN-dropping target: overshoot (ms)", ours_over, peer_over);

    let ours_size = std::fs::metadata(&ours).unwrap().len();
    let peer_size = std::fs::metadata(&peer).unwrap().len();
    let bash_size = std::fs::metadata("/bin/bash").map(|m| m.len()).unwrap_or(0);
    println!(
        "\nsize: wait-for-port {} KiB, static, needs nothing; wait-for-it {} KiB script + bash {} KiB + coreutils",
        ours_size / 1024,
        peer_size / 1024,
        bash_size / 1024
    );
    println!("goals: already open <= 5 ms; noticing <= interval (250 ms) + 10 ms; overshoot <= 50 ms; binary <= 1 MiB");
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()))
}

fn listen() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn timed(command: &mut Command) -> Duration {
    let started = Instant::now();
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    started.elapsed()
}

/// Starts the tool on a closed port, opens the port 300 ms later, and
/// returns how long the tool took to exit after that.
fn time_to_notice_opening(command: &mut Command) -> Duration {
    let (listener, port) = listen();
    drop(listener);
    let mut child = command
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let opened = Instant::now();
    child.wait().unwrap();
    let noticed = opened.elapsed();
    drop(listener);
    noticed
}

/// An HTTP service on loopback answering 503 until `ready`, then 200.
struct FakeHttp {
    port: u16,
    ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FakeHttp {
    fn start() -> FakeHttp {
        use std::io::{BufRead, Write};
        let (listener, port) = listen();
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&ready);
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                let mut reader = std::io::BufReader::new(&connection);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                    line.clear();
                }
                let status = if flag.load(std::sync::atomic::Ordering::SeqCst) { "200 OK" } else { "503 Busy" };
                let _ = (&connection).write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
            }
        });
        FakeHttp { port, ready }
    }
}

/// Starts the tool on a service answering 503, turns it ready 300 ms later,
/// and returns how long the tool took to exit after that.
fn time_to_notice_service(command: &mut Command) -> Duration {
    let service = FakeHttp::start();
    let mut child = command
        .arg(format!("http://127.0.0.1:{}/health", service.port))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    service.ready.store(true, std::sync::atomic::Ordering::SeqCst);
    let ready = Instant::now();
    child.wait().unwrap();
    ready.elapsed()
}

/// A listener whose full accept queue makes the kernel drop further SYNs.
struct SynDropper {
    port: u16,
    _listener: TcpListener,
    _queued: TcpStream,
}

impl SynDropper {
    fn new() -> SynDropper {
        let (listener, port) = listen();
        nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::new(0).unwrap()).unwrap();
        let queued = TcpStream::connect(("127.0.0.1", port)).unwrap();
        SynDropper { port, _listener: listener, _queued: queued }
    }
}

fn row(what: &str, ours: Duration, peer: Duration) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ratio = if ms(ours) > 0.0 { format!("{:.1}x", ms(peer) / ms(ours)) } else { "-".into() };
    println!("{what:<34} {:>14.1} {:>14.1} {ratio:>8}", ms(ours), ms(peer));
}
