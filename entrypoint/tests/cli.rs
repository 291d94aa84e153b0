//! The command line: no options of entrypoint's own, so a CMD passes through
//! untouched; `--help` and `--version` only as the sole argument.

mod support;

use support::*;

#[test]
fn help_as_the_sole_argument_lists_the_variables_and_exit_codes() {
    let run = run(plain().arg("--help"));
    assert_eq!(run.code(), 0);
    for expected in [
        "ENTRYPOINT_VENV",
        "ENTRYPOINT_GRACE",
        "ENTRYPOINT_KILL_AFTER",
        "ENTRYPOINT_SIGNAL_GROUP",
        "ENTRYPOINT_REMAP_EXIT",
        "ENTRYPOINT_SUBREAPER",
        "ENTRYPOINT_VERBOSE",
        "126",
        "127",
        "128+N",
    ] {
        assert!(run.stdout.contains(expected), "--help lacks {expected}");
    }
}

#[test]
fn version_as_the_sole_argument() {
    let run = run(plain().arg("--version"));
    assert_eq!(run.stdout.trim(), format!("entrypoint {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn options_after_the_command_belong_to_the_command() {
    let run = run(plain().args(["printf", "%s\\n", "--help", "--version", "-v"]));
    assert_eq!(run.stdout, "--help\n--version\n-v\n");
}

#[test]
fn a_cmd_that_looks_like_an_option_is_run_as_a_command() {
    let scratch = Scratch::new("dash-v");
    scratch.write_mode("-v", "#!/bin/sh\necho ran -v\n", 0o755);
    let run = run(plain().env("PATH", &scratch.0).arg("-v"));
    assert_eq!(run.stdout, "ran -v\n", "{}", run.stderr);
}

#[test]
fn one_leading_double_dash_is_stripped() {
    assert_eq!(run(plain().args(["--", "echo", "x"])).stdout, "x\n");
    assert_eq!(run(plain().args(["--", "echo", "--", "x"])).stdout, "-- x\n");
}

#[test]
fn no_command_is_a_usage_error() {
    let run = run(&mut plain());
    assert_eq!(run.code(), 2);
    assert!(run.stderr.starts_with("entrypoint: no command given"), "{}", run.stderr);
}

#[test]
fn not_pid1_it_execs_keeping_the_pid_and_printing_nothing() {
    let output = plain().args(["sh", "-c", "echo $$"]).output().unwrap();
    let mut child = plain().args(["sh", "-c", "echo $$"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    child.wait().unwrap();
    assert_eq!(stdout.trim(), pid.to_string());
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn an_option_given_as_the_command_is_127_with_a_pointer_to_help() {
    let run = run(plain().arg("-h"));
    assert_eq!(run.code(), 127);
    assert!(run.stderr.contains("entrypoint takes no options; its help is entrypoint --help"), "{}", run.stderr);
}
