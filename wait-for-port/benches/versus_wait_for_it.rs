//! `make bench`: wait-for-port against wait-for-it (Debian's package) in one
//! run, on loopback. Medians of repeated runs, and the ratio of the two.
//!
//! Figures: time to exit for a port that is already open; time from a port
//! opening to exit (each tool at its default interval); overshoot past a 2 s
//! deadline when one target silently drops SYNs; the size of what ships.

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
    println!("goals: already open <= 5 ms; noticing <= interval (250 ms) + 10 ms; overshoot <= 50 ms");
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
