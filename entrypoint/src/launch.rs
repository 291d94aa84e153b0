//! One run: read the configuration, find and activate the virtualenv, then
//! supervise the command (as PID 1 or a subreaper) or exec it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use venvkit_common::diag::{Diag, Level};
use venvkit_common::exec::{self, ExecError, DEFAULT_PATH};

use crate::config::Config;
use crate::supervise::{supervise, Launch};
use crate::{venv, TOOL};

/// Why the command did not run to its end.
#[derive(Debug)]
pub enum Error {
    /// Bad configuration, found before anything ran.
    Usage(String),
    /// Supervision could not start (fork, the subreaper flag).
    Supervise(String),
    /// exec failed: the command is missing or cannot run.
    Exec(ExecError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Usage(message) | Error::Supervise(message) => f.write_str(message),
            Error::Exec(failure) => failure.fmt(f),
        }
    }
}

/// Runs `argv`; returns the exit code it ended with (128+N for signal N),
/// or never returns when not supervising and exec succeeds.
pub fn run(argv: Vec<OsString>) -> Result<i32, Error> {
    let config = Config::from_env().map_err(Error::Usage)?;
    let diag = Diag::new(TOOL, if config.verbose { Level::Verbose } else { Level::Normal });
    if argv.is_empty() {
        return Err(Error::Usage("no command given (entrypoint COMMAND [ARG...]; see --help)".into()));
    }
    let venv = venv::find(|name| std::env::var_os(name), venv::DEFAULT_LOCATIONS).map_err(Error::Usage)?;
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
        return supervise(&launch, &config, diag).map_err(Error::Supervise);
    }
    Err(Error::Exec(with_hint(&launch.argv, exec::exec(&launch.argv, &launch.env, &launch.path))))
}

/// `entrypoint -h` runs a command named `-h`: when there is none, say that
/// entrypoint takes no options and where its help is.
pub(crate) fn with_hint(argv: &[OsString], mut failure: ExecError) -> ExecError {
    if failure.code == venvkit_common::exit::NOT_FOUND && argv[0].as_encoded_bytes().starts_with(b"-") {
        failure.message.push_str(" (entrypoint takes no options; its help is entrypoint --help)");
    }
    failure
}

fn join_entry((key, value): (OsString, OsString)) -> OsString {
    let mut entry = key.into_vec();
    entry.push(b'=');
    entry.extend(value.into_vec());
    OsString::from_vec(entry)
}
