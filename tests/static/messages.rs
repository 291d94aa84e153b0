//! One voice: every bad input of every option and variable of every tool is
//! exit 2 with one line, prefixed with the tool's name, that names what is
//! wrong and what to write instead, in plain words (no `1..=100`, no
//! `(os error 2)`, no parser's internals).

use std::process::{Command, Stdio};
use venvkit_suites::release_binary;

/// Words that only a program's internals say.
const RUST_ISMS: &[&str] = &[
    "..=",
    "invalid digit",
    "os error",
    "1 attempts",
    "failed (",
    "ParseIntError",
    "Error {",
    "called `",
    "panicked",
    "<DURATION>",
    "<FORMAT>",
    "<N>",
];

/// Words that tell the user what to do.
const FIXES: &[&str] =
    &["write ", "expected", "usage:", "see --help", "give ", "set it to", "build ", "(e.g.", "pass ", "run "];

/// (tool, arguments, environment, the bad part the message must name)
type Case = (&'static str, &'static [&'static str], &'static [(&'static str, &'static str)], &'static str);

const CASES: &[Case] = &[
    ("apt-install", &["--retries", "0", "tree"], &[], "'0'"),
    ("apt-install", &["--retries", "101", "tree"], &[], "'101'"),
    ("apt-install", &["--retries", "abc", "tree"], &[], "'abc'"),
    ("apt-install", &["tree"], &[("APT_INSTALL_RETRIES", "x")], "APT_INSTALL_RETRIES"),
    ("apt-install", &["--lock-timeout", "5x", "tree"], &[], "'5x'"),
    ("apt-install", &["tree"], &[("APT_INSTALL_LOCK_TIMEOUT", "-1")], "APT_INSTALL_LOCK_TIMEOUT"),
    ("apt-install", &["tree"], &[("APT_INSTALL_KEEP_CACHE", "maybe")], "APT_INSTALL_KEEP_CACHE"),
    ("apt-install", &["--keep-cache=maybe", "tree"], &[], "'maybe'"),
    ("apt-install", &["-f", "/nonexistent/pkgdeps.txt"], &[], "/nonexistent/pkgdeps.txt"),
    ("apt-install", &["Tree"], &[], "'Tree'"),
    ("apt-install", &["--bogus", "tree"], &[], "'--bogus'"),
    ("apt-install", &["--over", "/runtime", "tree"], &[], "--root"),
    ("find-libdeps", &[], &[], "<DIR>"),
    ("find-libdeps", &["--format", "xml", "/tmp"], &[], "'xml'"),
    ("find-libdeps", &["/tmp"], &[("FIND_LIBDEPS_FORMAT", "xml")], "FIND_LIBDEPS_FORMAT"),
    ("find-libdeps", &["--root", "/nonexistent/root", "/"], &[], "/nonexistent/root"),
    ("find-libdeps", &["/nonexistent/venv"], &[], "/nonexistent/venv"),
    ("find-libdeps", &["/etc/hostname"], &[], "/etc/hostname"),
    ("find-libdeps", &["--bogus", "/tmp"], &[], "'--bogus'"),
    ("find-libdeps", &["--loaded", "/nonexistent/maps", "/tmp"], &[], "/nonexistent/maps"),
    ("wait-for-port", &[], &[], "no target"),
    ("wait-for-port", &["-t", "5x", "db:1"], &[], "'5x'"),
    ("wait-for-port", &["--interval", "-1", "db:1"], &[], "'-1'"),
    ("wait-for-port", &["--connect-timeout", "", "db:1"], &[], "''"),
    ("wait-for-port", &["db:1"], &[("WAIT_FOR_PORT_TIMEOUT", "abc")], "WAIT_FOR_PORT_TIMEOUT"),
    ("wait-for-port", &["db"], &[], "'db'"),
    ("wait-for-port", &["unix://"], &[], "unix://"),
    ("wait-for-port", &[], &[("WAIT_HOSTS", "db:http")], "WAIT_HOSTS"),
    ("wait-for-port", &["db:1"], &[("WAIT_TIMEOUT", "10o")], "WAIT_TIMEOUT"),
    ("wait-for-port", &["db:1"], &[("WAIT_LOGGER_LEVEL", "loud")], "WAIT_LOGGER_LEVEL"),
    ("wait-for-port", &["--host", "db"], &[], "--host db"),
    ("wait-for-port", &["--bogus", "db:1"], &[], "'--bogus'"),
    ("entrypoint", &["true"], &[("ENTRYPOINT_GRACE", "5x")], "ENTRYPOINT_GRACE"),
    ("entrypoint", &["true"], &[("ENTRYPOINT_KILL_AFTER", "-1")], "ENTRYPOINT_KILL_AFTER"),
    ("entrypoint", &["true"], &[("ENTRYPOINT_SIGNAL_GROUP", "maybe")], "ENTRYPOINT_SIGNAL_GROUP"),
    ("entrypoint", &["true"], &[("ENTRYPOINT_REMAP_EXIT", "TERM")], "ENTRYPOINT_REMAP_EXIT"),
    ("entrypoint", &["true"], &[("ENTRYPOINT_SUBREAPER", "2")], "ENTRYPOINT_SUBREAPER"),
    ("entrypoint", &["true"], &[("ENTRYPOINT_VERBOSE", "y")], "ENTRYPOINT_VERBOSE"),
    ("entrypoint", &["true"], &[("ENTRYPOINT_VENV", "/nonexistent/venv")], "/nonexistent/venv"),
    ("entrypoint", &[], &[], "no command"),
];

#[test]
fn every_bad_input_is_one_plain_line_naming_the_problem_and_the_fix() {
    let mut wrong = Vec::new();
    for (tool, args, env, names) in CASES {
        let mut command = Command::new(release_binary(tool));
        command.args(*args).envs(env.iter().copied()).stdin(Stdio::null());
        // The user's own settings must not answer for the case's.
        for (key, _) in std::env::vars() {
            if key.starts_with("WAIT_") || key.starts_with("ENTRYPOINT_") || key.starts_with("APT_INSTALL_") {
                command.env_remove(&key);
            }
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let case = format!("{tool} {args:?} {env:?}");
        let line = stderr.trim_end();
        let problems: Vec<&str> = [
            (output.status.code() != Some(2)).then_some("not exit 2"),
            (stderr.lines().count() != 1).then_some("not one line"),
            (!line.starts_with(&format!("{tool}: "))).then_some("not prefixed with the tool"),
            (!line.contains(names)).then_some("does not name the bad input"),
            (!FIXES.iter().any(|fix| line.contains(fix))).then_some("does not say what to write instead"),
            RUST_ISMS.iter().any(|ism| line.contains(ism)).then_some("speaks Rust"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !problems.is_empty() {
            wrong.push(format!("{case}: {}: {stderr}", problems.join(", ")));
        }
    }
    assert!(wrong.is_empty(), "{} of {} messages:\n{}", wrong.len(), CASES.len(), wrong.join("\n"));
}

#[test]
fn every_boolean_variable_of_every_tool_takes_one_syntax() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("apt-install", &[], "APT_INSTALL_KEEP_CACHE"),
        ("entrypoint", &["true"], "ENTRYPOINT_VERBOSE"),
        ("entrypoint", &["true"], "ENTRYPOINT_SIGNAL_GROUP"),
        ("entrypoint", &["true"], "ENTRYPOINT_SUBREAPER"),
    ];
    for (tool, args, variable) in cases {
        for value in ["1", "0", "true", "False", "YES", "no", "on", "OFF"] {
            let output = Command::new(release_binary(tool)).args(*args).env(variable, value).output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(0), "{tool} with {variable}={value}: {stderr}");
        }
    }
}
