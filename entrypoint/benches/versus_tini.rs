//! `make bench`: entrypoint against tini and dumb-init (Debian's packages)
//! in one run. Medians of repeated runs and ratios to entrypoint.
//!
//! Figures: `X /bin/true` as PID 1 of a fresh PID namespace and as an
//! ordinary process (the PID 1 figure includes `unshare`, shown alone as the
//! baseline); SIGTERM to PID 1 running `sleep 100` until it has exited; size.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use venvkit_suites::bin_dir;
use venvkit_suites::fixtures::{median, ms};

struct Peer {
    name: &'static str,
    argv: Vec<String>,
    size_of: PathBuf,
}

fn main() {
    let ours = bin_dir().join("entrypoint");
    let peers = [
        Peer { name: "entrypoint", argv: vec![ours.display().to_string()], size_of: ours.clone() },
        Peer { name: "tini", argv: vec![which("tini"), "--".into()], size_of: static_or("tini-static", "tini") },
        Peer { name: "dumb-init", argv: vec![which("dumb-init")], size_of: PathBuf::from(which("dumb-init")) },
    ];
    let unshare = ["unshare", "--pid", "--fork", "--mount-proc"];

    let baseline = median(30, || timed(Command::new(unshare[0]).args(&unshare[1..]).arg("/bin/true")));
    println!("baseline: unshare --pid --fork --mount-proc /bin/true: {:.2} ms\n", ms(baseline));
    println!("{:<36} {:>12} {:>12} {:>12}", "median", "entrypoint", "tini", "dumb-init");

    let pid1: Vec<Duration> = peers
        .iter()
        .map(|peer| {
            median(30, || timed(Command::new(unshare[0]).args(&unshare[1..]).args(&peer.argv).arg("/bin/true")))
        })
        .collect();
    row("PID 1: X /bin/true, minus baseline", &pid1.iter().map(|d| d.saturating_sub(baseline)).collect::<Vec<_>>());

    let plain: Vec<Duration> = peers
        .iter()
        .map(|peer| median(30, || timed(Command::new(&peer.argv[0]).args(&peer.argv[1..]).arg("/bin/true"))))
        .collect();
    row("not PID 1: X /bin/true", &plain);

    let term: Vec<Duration> = peers.iter().map(|peer| median(10, || sigterm_to_exit(&unshare, &peer.argv))).collect();
    row("PID 1: SIGTERM to exit (sleep 100)", &term);

    println!();
    for peer in &peers {
        let size = std::fs::metadata(&peer.size_of).map(|m| m.len()).unwrap_or(0);
        println!("size: {:<10} {:>8} bytes ({})", peer.name, size, peer.size_of.display());
    }
    println!("goal: entrypoint's overhead <= tini's + 1 ms");
}

fn which(name: &str) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed (make bench installs it)"))
        .display()
        .to_string()
}

fn static_or(preferred: &str, fallback: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(preferred))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(which(fallback)))
}

fn timed(command: &mut Command) -> Duration {
    let started = Instant::now();
    let status = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(status.success(), "{command:?} failed: {status}");
    started.elapsed()
}

/// Starts `X sleep 100` as PID 1, waits until sleep runs, sends SIGTERM to
/// X, and measures until the namespace's PID 1 has exited.
fn sigterm_to_exit(unshare: &[&str], argv: &[String]) -> Duration {
    let mut child = Command::new(unshare[0])
        .args(&unshare[1..])
        .args(argv)
        .args(["sleep", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let init = loop {
        if let Some(init) = children(child.id()).first().copied() {
            if !children(init).is_empty() {
                break init;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    std::thread::sleep(Duration::from_millis(20));
    let sent = Instant::now();
    // SAFETY: kill(2) on a process this benchmark started.
    unsafe { nix::libc::kill(init as i32, nix::libc::SIGTERM) };
    child.wait().unwrap();
    sent.elapsed()
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Each tool's figure, with its ratio to entrypoint's.
fn row(what: &str, figures: &[Duration]) {
    let ours = ms(figures[0]).max(0.001);
    let cells: Vec<String> = figures
        .iter()
        .enumerate()
        .map(
            |(i, d)| {
                if i == 0 {
                    format!("{:.2} ms", ms(*d))
                } else {
                    format!("{:.2} ({:.1}x)", ms(*d), ms(*d) / ours)
                }
            },
        )
        .collect();
    println!("{what:<36} {:>12} {:>12} {:>12}", cells[0], cells[1], cells[2]);
}
