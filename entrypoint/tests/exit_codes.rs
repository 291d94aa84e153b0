//! What entrypoint exits with: the command's code, 128+N for a signal,
//! remapped codes, 126/127 for commands that cannot run, 2 for bad config.

mod support;

use std::process::Command;
use support::*;

fn both_modes() -> [(&'static str, Command); 2] {
    [("plain", plain()), ("pid1", as_pid1())]
}

#[test]
fn the_commands_exit_code_passes_through_needs_root() {
    require_root();
    for (mode, mut command) in both_modes() {
        for code in [0, 1, 2, 7, 126, 255] {
            let run = run(command.args(["sh", "-c", &format!("exit {code}")]));
            assert_eq!(run.code(), code, "{mode}: {}", run.stderr);
            command = if mode == "plain" { plain() } else { as_pid1() };
        }
    }
}

#[test]
fn death_by_signal_is_128_plus_the_signal_needs_root() {
    require_root();
    for (mode, mut command) in both_modes() {
        let run = run(command.args(["sh", "-c", "kill -USR1 $$"]));
        assert_eq!(run.code(), 128 + 10, "{mode}: {}", run.stderr);
    }
}

#[test]
fn remap_exit_turns_the_listed_codes_into_zero_only_needs_root() {
    require_root();
    let remapped = run(as_pid1().env("ENTRYPOINT_REMAP_EXIT", "143").args(["sh", "-c", "kill -TERM $$"]));
    assert_eq!(remapped.code(), 0, "{}", remapped.stderr);
    let other = run(as_pid1().env("ENTRYPOINT_REMAP_EXIT", "143").args(["sh", "-c", "exit 3"]));
    assert_eq!(other.code(), 3);
    let interrupted = run(as_pid1().env("ENTRYPOINT_REMAP_EXIT", "143").args(["sh", "-c", "kill -INT $$"]));
    assert_eq!(interrupted.code(), 130);
}

#[test]
fn a_missing_command_is_127_naming_it_and_the_path_searched_needs_root() {
    require_root();
    for (mode, mut command) in both_modes() {
        let run = run(command.env("PATH", "/nonexistent/a:/usr/bin:/bin").arg("venvkit-no-such-command"));
        assert_eq!(run.code(), 127, "{mode}");
        assert_eq!(run.stderr.lines().count(), 1, "{mode}: {}", run.stderr);
        assert!(run.stderr.starts_with("entrypoint: venvkit-no-such-command: command not found"), "{}", run.stderr);
        assert!(run.stderr.contains("/nonexistent/a:/usr/bin:/bin"), "{}", run.stderr);
    }
}

#[test]
fn a_file_that_is_not_executable_or_a_directory_is_126_needs_root() {
    require_root();
    let scratch = Scratch::new("126");
    let script = scratch.write_mode("script", "#!/bin/sh\necho ran\n", 0o644);
    for (mode, mut command) in both_modes() {
        let run = run(command.arg(&script));
        assert_eq!(run.code(), 126, "{mode}: {}", run.stderr);
        let mut command = if mode == "plain" { plain() } else { as_pid1() };
        let run = run_dir(&mut command, &scratch);
        assert_eq!(run.code(), 126, "{mode}: {}", run.stderr);
        assert!(run.stderr.contains("is a directory"), "{}", run.stderr);
    }
}

fn run_dir(command: &mut Command, scratch: &Scratch) -> Run {
    run(command.arg(&scratch.0))
}

#[test]
fn a_console_script_whose_interpreter_is_gone_is_127_naming_the_interpreter_needs_root() {
    require_root();
    // A venv built against /usr/bin/python3.11, copied into an image without it.
    let scratch = Scratch::new("shebang");
    let venv = scratch.venv("app", None);
    scratch.write_mode("app/bin/gunicorn", "#!/nonexistent/bin/python3.11\nimport gunicorn\n", 0o755);
    for (mode, mut command) in both_modes() {
        let run = run(command.env("ENTRYPOINT_VENV", &venv).arg("gunicorn"));
        assert_eq!(run.code(), 127, "{mode}: {}", run.stderr);
        assert!(run.stderr.contains("/nonexistent/bin/python3.11"), "{}", run.stderr);
        assert!(run.stderr.contains("gunicorn"), "{}", run.stderr);
    }
}

#[test]
fn invalid_configuration_is_exit_2_before_anything_runs_needs_root() {
    require_root();
    let scratch = Scratch::new("config");
    let marker = scratch.path("ran");
    let touch = ["touch", marker.to_str().unwrap()];
    for (variable, value) in [
        ("ENTRYPOINT_GRACE", "5x"),
        ("ENTRYPOINT_KILL_AFTER", "soon"),
        ("ENTRYPOINT_SIGNAL_GROUP", "2"),
        ("ENTRYPOINT_REMAP_EXIT", "143,x"),
        ("ENTRYPOINT_SUBREAPER", "maybe"),
        ("ENTRYPOINT_VERBOSE", "loud"),
        ("ENTRYPOINT_VENV", "/nonexistent/venv"),
        ("VIRTUAL_ENV", "/nonexistent/venv"),
    ] {
        for (mode, mut command) in both_modes() {
            let run = run(command.env(variable, value).args(touch));
            assert_eq!(run.code(), 2, "{mode} {variable}={value}: {}", run.stderr);
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
            assert!(run.stderr.starts_with("entrypoint: "), "{}", run.stderr);
            assert!(run.stderr.contains(variable), "{}", run.stderr);
            assert!(!marker.exists(), "the command ran despite {variable}={value}");
        }
    }
}
