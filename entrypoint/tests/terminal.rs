//! Under a terminal, as `docker run -it` runs PID 1: the command is the
//! terminal's foreground process group, so Ctrl-C, job control and input
//! work, and a `stty tostop` terminal never stops entrypoint.

mod support;

use std::time::Duration;
use support::*;

#[test]
fn ctrl_c_stops_sleep_with_130_as_pid1_needs_root() {
    require_root();
    let mut pty = OnPty::spawn(as_pid1().args(["sh", "-c", "echo started; exec sleep 30"]));
    pty.expect("started", Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(100));
    let typed = std::time::Instant::now();
    pty.type_bytes(b"\x03");
    let code = pty.exit_code_within(Duration::from_secs(2));
    assert_eq!(code, Some(130), "screen:\n{}", pty.screen());
    // Right: milliseconds; broken (Ctrl-C never reaches sleep): 30 s.
    assert!(typed.elapsed() < Duration::from_secs(1), "{:?}", typed.elapsed());
}

#[test]
fn ctrl_z_then_ctrl_c_ends_the_stopped_command_with_130_as_pid1_needs_root() {
    require_root();
    let mut command = as_pid1();
    command.env("ENTRYPOINT_VERBOSE", "1").args(["sh", "-c", "echo started; exec sleep 30"]);
    let mut pty = OnPty::spawn(&mut command);
    pty.expect("started", Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(100));
    pty.type_bytes(b"\x1a");
    // No shell is there to take the terminal back: entrypoint does, so that
    // the next Ctrl-C reaches it rather than the stopped command's queue.
    pty.expect("the command was stopped by SIGTSTP", Duration::from_secs(2));
    pty.type_bytes(b"\x03");
    // Right: at once; broken (SIGINT pending in a stopped process): never.
    let code = pty.exit_code_within(Duration::from_secs(5));
    assert_eq!(code, Some(130), "screen:\n{}", pty.screen());
    // Waited for: the reader thread may still be catching up with the last
    // output when the exit is seen (a fresh make test once read the screen
    // before this line reached it).
    pty.expect("continuing the stopped command", Duration::from_secs(1));
}

#[test]
fn an_interactive_bash_gets_job_control_without_warnings_needs_root() {
    require_root();
    let mut pty = OnPty::spawn(as_pid1().env("PS1", "$ ").args(["bash", "--norc", "--noprofile", "-i"]));
    pty.type_bytes(b"echo flags=$-; sleep 0.1 & wait; jobs -l; exit 0\n");
    assert_eq!(pty.exit_code_within(Duration::from_secs(5)), Some(0), "screen:\n{}", pty.screen());
    // The reader thread may still be catching up with the last output.
    let printed = || pty.screen().lines().any(|line| line.contains("flags=") && !line.contains("$-"));
    assert!(eventually(Duration::from_secs(2), printed), "screen:\n{}", pty.screen());
    let screen = pty.screen();
    let flags =
        screen.lines().filter(|line| !line.contains("$-")).find_map(|line| line.split_once("flags=")).map(|(_, f)| f);
    assert!(flags.is_some_and(|flags| flags.contains('m')), "no monitor mode:\n{screen}");
    for warning in ["no job control", "cannot set terminal process group", "Inappropriate ioctl"] {
        assert!(!screen.contains(warning), "bash warned {warning:?}:\n{screen}");
    }
}

#[test]
fn python_reads_the_typed_line_needs_root() {
    require_root();
    let mut command = as_pid1();
    command.arg(real_python()).args(["-c", "print('ready', flush=True); print('got', input())"]);
    let mut pty = OnPty::spawn(&mut command);
    pty.expect("ready", Duration::from_secs(5));
    pty.type_bytes(b"hello venvkit\n");
    assert_eq!(pty.exit_code_within(Duration::from_secs(5)), Some(0), "screen:\n{}", pty.screen());
    pty.expect("got hello venvkit", Duration::from_secs(1));
}

fn tostop_does_not_stop_entrypoint(mut command: std::process::Command) {
    // The command takes the foreground and sets tostop; entrypoint, now in
    // the background, still writes its verbose lines to the terminal.
    command.env("ENTRYPOINT_VERBOSE", "1").args(["sh", "-c", "stty tostop; sleep 0.2; exit 4"]);
    let mut pty = OnPty::spawn(&mut command);
    assert_eq!(pty.exit_code_within(Duration::from_secs(5)), Some(4), "screen:\n{}", pty.screen());
    pty.expect("exited: exit code 4", Duration::from_secs(1));
}

#[test]
fn stty_tostop_never_stops_entrypoint_as_pid1_needs_root() {
    require_root();
    tostop_does_not_stop_entrypoint(as_pid1());
}

#[test]
fn stty_tostop_never_stops_entrypoint_as_subreaper() {
    let mut command = plain();
    command.env("ENTRYPOINT_SUBREAPER", "1");
    tostop_does_not_stop_entrypoint(command);
}

#[test]
fn a_backgrounded_entrypoint_leaves_the_terminal_to_the_shell() {
    let mut pty = OnPty::spawn(plain().env("PS1", "$ ").args(["bash", "--norc", "--noprofile", "-i"]));
    let line = format!(
        "ENTRYPOINT_SUBREAPER=1 {} sleep 1 & sleep 0.3; echo report: $(ps -o tpgid= -p $$) $(ps -o pgid= -p $$); exit 0\n",
        binary().display()
    );
    pty.type_bytes(line.as_bytes());
    // The report line is the one with numbers after "report:", not the
    // echoed command; the reader thread may still be catching up after exit.
    let report = || {
        pty.screen().lines().find_map(|l| {
            let numbers: Vec<String> = l.strip_prefix("report: ")?.split_whitespace().map(str::to_string).collect();
            (numbers.len() == 2 && numbers.iter().all(|n| n.parse::<u32>().is_ok())).then_some(numbers)
        })
    };
    assert!(eventually(Duration::from_secs(5), || report().is_some()), "screen:\n{}", pty.screen());
    let numbers = report().unwrap();
    assert_eq!(numbers[0], numbers[1], "the terminal's foreground group moved away from the shell: {numbers:?}");
    assert_eq!(pty.exit_code_within(Duration::from_secs(5)), Some(0), "screen:\n{}", pty.screen());
}
