//! The command after `--`: a real exec (same PID, argv verbatim, stdio and
//! signal dispositions inherited), shell-style 126/127, never run on timeout.

mod support;

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use support::*;

#[test]
fn the_command_replaces_the_process_keeping_its_pid() {
    let (_listener, port) = listener();
    let mut command = command();
    command.args(["-q", &format!("127.0.0.1:{port}"), "--", "sh", "-c", "echo $$"]);
    let running = Running::start(&mut command);
    let pid = running.pid();
    let run = running.finish();
    assert_eq!(run.stdout.trim(), pid.to_string());
}

#[test]
fn arguments_pass_verbatim_without_a_shell() {
    let (_listener, port) = listener();
    let non_utf8 = OsStr::from_bytes(b"caf\xe9");
    let output = command()
        .args(["-q", &format!("127.0.0.1:{port}"), "--", "printf", "[%s]\\n", "a b", "$HOME", "*", "", "-v"])
        .arg(non_utf8)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(output.stdout, b"[a b]\n[$HOME]\n[*]\n[]\n[-v]\n[caf\xe9]\n");
}

#[test]
fn stdin_is_inherited_by_the_command() {
    let (_listener, port) = listener();
    let mut child = command()
        .args(["-q", &format!("127.0.0.1:{port}"), "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"through\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.stdout, b"through\n");
}

#[test]
fn the_commands_exit_status_is_passed_through() {
    let (_listener, port) = listener();
    let run = run_args(&["-q", &format!("127.0.0.1:{port}"), "--", "sh", "-c", "exit 7"]);
    assert_eq!(run.code(), 7);
}

#[test]
fn a_missing_command_is_127_naming_it() {
    let (_listener, port) = listener();
    let run = run_args(&["-q", &format!("127.0.0.1:{port}"), "--", "venvkit-no-such-command"]);
    assert_eq!(run.code(), 127);
    assert!(run.stderr.starts_with("wait-for-port: venvkit-no-such-command: command not found"), "{}", run.stderr);
}

#[test]
fn a_file_without_execute_permission_is_126() {
    let (_listener, port) = listener();
    let scratch = Scratch::new("noexec");
    let script = scratch.write("script", "#!/bin/sh\necho ran\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = run_args(&["-q", &format!("127.0.0.1:{port}"), "--", script.to_str().unwrap()]);
    assert_eq!(run.code(), 126, "{}", run.stderr);
    assert!(run.stderr.contains("permission denied"), "{}", run.stderr);
}

#[test]
fn a_directory_is_126() {
    let (_listener, port) = listener();
    let scratch = Scratch::new("dir");
    let run = run_args(&["-q", &format!("127.0.0.1:{port}"), "--", scratch.0.to_str().unwrap()]);
    assert_eq!(run.code(), 126, "{}", run.stderr);
    assert!(run.stderr.contains("is a directory"), "{}", run.stderr);
}

#[test]
fn on_timeout_the_command_never_runs() {
    let closed = ReservedPort::new();
    let scratch = Scratch::new("never");
    let marker = scratch.path("ran");
    let run = run_args(&["-q", "-t", "200ms", &closed.target(), "--", "touch", marker.to_str().unwrap()]);
    assert_eq!(run.code(), 124);
    assert!(!marker.exists(), "the command ran after a timeout");
}

fn ignored_signals_of_the_command(wrapper: &str) -> u64 {
    let (_listener, port) = listener();
    let inner = format!("exec \"$0\" -q 127.0.0.1:{port} -- sh -c 'grep SigIgn /proc/$$/status'");
    let output =
        std::process::Command::new("sh").arg("-c").arg(format!("{wrapper} {inner}")).arg(binary()).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let mask = text.trim().strip_prefix("SigIgn:").unwrap().trim();
    u64::from_str_radix(mask, 16).unwrap()
}

const SIGPIPE_BIT: u64 = 1 << (13 - 1);

#[test]
fn the_command_does_not_inherit_rusts_sigpipe_ignore() {
    assert_eq!(ignored_signals_of_the_command("") & SIGPIPE_BIT, 0);
}

#[test]
fn a_sigpipe_ignore_from_the_parent_is_kept() {
    assert_ne!(ignored_signals_of_the_command("trap '' PIPE;") & SIGPIPE_BIT, 0);
}
