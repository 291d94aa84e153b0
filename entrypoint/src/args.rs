//! entrypoint's command line: it takes no options, so that any CMD passes
//! through untouched; `--help` and `--version` count only as the sole
//! argument, and one leading `--` is dropped.

use std::ffi::OsString;

pub const HELP: &str = "\
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
Durations: 500ms, 30s, 1m30s, or bare seconds (5, 0.5). Booleans: 1 or 0,
true or false, yes or no, on or off.

Exit status:
  the command's own status; 128+N if it was killed by signal N
  2    bad configuration (an invalid variable, a venv without pyvenv.cfg,
       a venv made with a Python this image does not have)
  126  the command is not executable
  127  the command (or its script's interpreter) was not found
";

/// What the arguments ask for.
pub enum Args {
    Help,
    Version,
    /// The command and its arguments, verbatim.
    Run(Vec<OsString>),
}

pub fn parse(mut args: Vec<OsString>) -> Args {
    if args.len() == 1 && args[0] == "--help" {
        return Args::Help;
    }
    if args.len() == 1 && args[0] == "--version" {
        return Args::Version;
    }
    if args.first().is_some_and(|first| first == "--") {
        args.remove(0);
    }
    Args::Run(args)
}
