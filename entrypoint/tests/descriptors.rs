//! File descriptors: once the command runs, PID 1 (or a subreaper) holds
//! only 0-2; what the runtime passed (socket activation's listeners, a
//! pipe) is the command's alone, and LISTEN_PID names the command.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

fn fds(listing: &str) -> Vec<u32> {
    let mut fds: Vec<u32> = listing.split_whitespace().filter_map(|fd| fd.parse().ok()).collect();
    fds.sort();
    fds
}

/// Opens a descriptor 3 the way a runtime would hand one over, then becomes
/// entrypoint (exec keeps the PID, so as PID 1 inside the namespace no
/// other process holds a copy): a FIFO's write end, or a listening socket
/// whose port it prints.
const STARTER: &str = r#"
import os, socket, sys
kind, target, entrypoint = sys.argv[1:4]
if kind == "listener":
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print(listener.getsockname()[1], flush=True)
    fd = listener.fileno()
else:
    fd = os.open(target, os.O_WRONLY)
os.dup2(fd, 3)
# When fd already was 3, dup2 changed nothing: it would close on exec.
os.set_inheritable(3, True)
os.execv(entrypoint, [entrypoint] + sys.argv[4:])
"#;

/// entrypoint as PID 1, or as a subreaper (not PID 1), started with a
/// descriptor 3 of `kind`, running `script`.
fn supervising_with_fd3(pid1: bool, kind: &str, target: &str, script: &str) -> Command {
    let mut command = if pid1 { as_pid1_running(&real_python()) } else { Command::new(real_python()) };
    command.env("ENTRYPOINT_SUBREAPER", "1").args(["-c", STARTER, kind, target]).arg(binary());
    command.args(["sh", "-c", script]);
    // A clean slate whatever the test runner leaked (a jobserver's pipes):
    // the starter's descriptor 3 is then the only one above 2.
    // SAFETY: close_range(2) between fork and exec touches no shared state.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            nix::libc::syscall(nix::libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    command
}

#[test]
fn pid1_holds_only_the_standard_descriptors_and_the_child_gets_the_passed_one_needs_root() {
    require_root();
    let script = "sleep 0.2; ls /proc/1/fd; echo --; exec ls /proc/self/fd";
    let mut running = Running::start(&mut supervising_with_fd3(true, "listener", "", script));
    let _port = running.next_line();
    let run = running.finish();
    let (pid1, child) = run.stdout.split_once("--").unwrap();
    assert_eq!(fds(pid1), [0, 1, 2], "PID 1 holds {pid1}");
    // The passed descriptor 3, and the one `ls` opens to read the directory.
    assert_eq!(fds(child), [0, 1, 2, 3, 4], "the child holds {child}");
}

/// A FIFO's write end passed as fd 3; the command closes it at once and
/// sleeps 3 s. Returns how long the reader waited for EOF.
fn eof_after_the_command_closes_the_pipe(pid1: bool) -> Duration {
    let scratch = Scratch::new("fd3-fifo");
    let fifo = scratch.path("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let running = Running::start(&mut supervising_with_fd3(pid1, "fifo", fifo.to_str().unwrap(), "exec 3>&-; sleep 3"));
    // Opening blocks until the starter opened the write end.
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let opened = Instant::now();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut rest).unwrap();
    let waited = opened.elapsed();
    drop(running);
    waited
}

#[test]
fn a_pipe_the_command_closed_reaches_eof_at_once_as_pid1_needs_root() {
    require_root();
    // Right: as soon as sh has run (about 0.1 s); broken (PID 1 keeps a
    // copy): when everything exits after the 3 s sleep.
    let waited = eof_after_the_command_closes_the_pipe(true);
    assert!(waited < Duration::from_millis(1500), "EOF after {waited:?}");
}

#[test]
fn a_pipe_the_command_closed_reaches_eof_at_once_as_subreaper() {
    let waited = eof_after_the_command_closes_the_pipe(false);
    assert!(waited < Duration::from_millis(1500), "EOF after {waited:?}");
}

/// A listening socket passed as fd 3 (socket activation); the command
/// closes it, then says so. Connecting afterwards must be refused.
fn connect_after_the_command_closed_the_listener(pid1: bool) -> std::io::Result<std::net::TcpStream> {
    let mut command = supervising_with_fd3(pid1, "listener", "", "exec 3<&-; echo closed; sleep 3");
    let mut running = Running::start(&mut command);
    let port: u16 = running.next_line().parse().unwrap();
    running.wait_for_line("closed");
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))
}

#[test]
fn a_listener_the_command_closed_refuses_connections_as_pid1_needs_root() {
    require_root();
    let connected = connect_after_the_command_closed_the_listener(true);
    assert!(connected.is_err(), "PID 1 still holds the listening socket: a connection was accepted");
}

#[test]
fn a_listener_the_command_closed_refuses_connections_as_subreaper() {
    let connected = connect_after_the_command_closed_the_listener(false);
    assert!(connected.is_err(), "entrypoint still holds the listening socket: a connection was accepted");
}

#[test]
fn socket_activations_listen_pid_names_the_command_as_pid1_needs_root() {
    require_root();
    let run = run(as_pid1().env("LISTEN_PID", "1").env("LISTEN_FDS", "1").args(["sh", "-c", "echo $LISTEN_PID $$"]));
    let (listen_pid, own_pid) = run.stdout.trim().split_once(' ').unwrap();
    assert_eq!(listen_pid, own_pid, "{}", run.stdout);
}

#[test]
fn socket_activations_listen_pid_names_the_command_as_subreaper() {
    // sh passes its own PID, then becomes entrypoint (exec keeps the PID).
    let script = format!("LISTEN_PID=$$ LISTEN_FDS=1 exec {} sh -c 'echo $LISTEN_PID $$'", binary().display());
    let run = run(Command::new("sh").env("ENTRYPOINT_SUBREAPER", "1").args(["-c", &script]));
    let line = run.stdout.lines().last().unwrap_or_default().to_string();
    let (listen_pid, own_pid) = line.split_once(' ').unwrap_or_else(|| panic!("{}{}", run.stdout, run.stderr));
    assert_eq!(listen_pid, own_pid, "{}", run.stdout);
}
