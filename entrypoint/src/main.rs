//! entrypoint [--] COMMAND [ARG...]
//!
//! Takes no options, so that any CMD passes through untouched; configured by
//! the environment only. As PID 1 (or with ENTRYPOINT_SUBREAPER=1) it
//! supervises the command; otherwise it activates the venv and execs.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use entrypoint::config::Config;
use entrypoint::supervise::{supervise, Launch};
use entrypoint::{venv, TOOL};
use venvkit_common::diag::{Diag, Level};
use venvkit_common::exec::{self, DEFAULT_PATH};
use venvkit_common::exit;

const HELP: &str = "\
entrypoint: activate a virtualenv and run a command, as a correct PID 1

Usage: entrypoint [--] COMMAND [ARG...]
       entrypoint --help | --version   (recognised only as the sole argument)

In a Dockerfile:
  ENTRYPOINT [\"entrypoint\"]
  CMD [\"gunicorn\", \"app:wsgi\"]

The virtualenv's bin/ is put first in PATH (once), VIRTUAL_ENV and
VIRTUAL_ENV_PROMPT are set, PYTHONHOME is removed, and COMMAND is looked up
in the new PATH. As PID 1 it forwards signals to the command, reaps zombies,
and when the command exits gives the remaining processes SIGTERM and a grace
period before SIGKILL. Not as PID 1 it simply execs the command.

Environment:
  ENTRYPOINT_VENV          the virtualenv to activate; if unset VIRTUAL_ENV; if
                           unset the first of /usr/share/python3/app and
                           /appenv holding a pyvenv.cfg; if none, no activation
  ENTRYPOINT_GRACE         after the command exits, time the other processes
                           get between SIGTERM and SIGKILL (default 5s)
  ENTRYPOINT_KILL_AFTER    after forwarding SIGTERM/SIGINT, SIGKILL the
                           command's process group after this long (default off)
  ENTRYPOINT_SIGNAL_GROUP  1: forward signals to the command's process group
  ENTRYPOINT_REMAP_EXIT    exit codes reported as 0, e.g. 143 or 143,130
  ENTRYPOINT_SUBREAPER     1: supervise as a child subreaper even when not PID 1
  ENTRYPOINT_VERBOSE       1: log each decision to stderr
Durations: 500ms, 30s, 1m30s, or bare seconds (5, 0.5).

Exit status:
  the command's own status; 128+N if it was killed by signal N
  2    bad configuration (an invalid variable, a venv without pyvenv.cfg,
       a venv made with a Python this image does not have)
  126  the command is not executable
  127  the command (or its script's interpreter) was not found
";

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.len() == 1 && args[0] == "--help" {
        print!("{HELP}");
        return;
    }
    if args.len() == 1 && args[0] == "--version" {
        println!("{TOOL} {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    if args.first().is_some_and(|first| first == "--") {
        args.remove(0);
    }
    std::process::exit(run(args));
}

fn run(argv: Vec<OsString>) -> i32 {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => return usage_error(&message),
    };
    let diag = Diag::new(TOOL, if config.verbose { Level::Verbose } else { Level::Normal });
    if argv.is_empty() {
        return usage_error("no command given (entrypoint COMMAND [ARG...]; see --help)");
    }
    let venv = match venv::find(|name| std::env::var_os(name), venv::DEFAULT_LOCATIONS) {
        Ok(venv) => venv,
        Err(message) => return usage_error(&message),
    };
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    match &venv {
        Some(venv) => {
            diag.verbose(format_args!("activating the virtualenv {}", venv.root.display()));
            env = venv::activate(env, venv);
        }
        None => diag.verbose("no virtualenv to activate"),
    }
    let path = env.iter().find(|(key, _)| key == "PATH").map_or_else(|| DEFAULT_PATH.into(), |(_, v)| v.clone());
    let launch = Launch { argv, env: env.into_iter().map(join_entry).collect(), path };
    if std::process::id() == 1 || config.subreaper {
        return supervise(&launch, &config, diag);
    }
    let failure = exec::exec(&launch.argv, &launch.env, &launch.path);
    diag.error(&failure);
    failure.code
}

fn usage_error(message: &str) -> i32 {
    venvkit_common::diag::emit(TOOL, message);
    exit::USAGE
}

fn join_entry((key, value): (OsString, OsString)) -> OsString {
    let mut entry = key.into_vec();
    entry.push(b'=');
    entry.extend(value.into_vec());
    OsString::from_vec(entry)
}
