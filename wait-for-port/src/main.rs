//! wait-for-port: waits until every target is ready (accepts a connection,
//! or answers in its protocol that it is), then exits 0 or execs the command
//! given after `--`.
//!
//! This file maps arguments to a [`Request`] and the run's result to an exit
//! code; the work is in the library.

mod args;

use args::{Cli, TOOL};
use tokio::time::Instant;
use venvkit_common::diag::{Diag, Level};
use venvkit_common::{cli, exit};
use wait_for_port::compat;
use wait_for_port::run::{self, Error, Given, Request};

fn main() {
    let started = Instant::now();
    let cli: Cli = cli::parse_from_or_exit(TOOL, args::arguments());
    let given = Given {
        targets: cli.targets,
        host: cli.host,
        port: cli.port,
        timeout: cli.timeout,
        interval: cli.interval,
        connect_timeout: cli.connect_timeout,
        closed: cli.closed,
        once: cli.once,
        http_status: cli.http_status,
        level: (cli.quiet || cli.verbose).then(|| Level::from_flags(cli.quiet, cli.verbose)),
        command: cli.command,
    };
    let resolved =
        compat::read(|name| std::env::var_os(name)).and_then(|compose| Request::resolve(given, compose, started));
    let (request, level) = match resolved {
        Ok(resolved) => resolved,
        Err(message) => {
            venvkit_common::diag::emit(TOOL, message);
            std::process::exit(exit::USAGE);
        }
    };
    // A health check says nothing when healthy: its log is the engine's.
    let diag = Diag::new(TOOL, if cli.once && level == Level::Normal { Level::Quiet } else { level });
    let code = match run::run(&request, diag) {
        Ok(()) => exit::SUCCESS,
        // A signal while waiting ends the run as the signal would, silently.
        Err(Error::Interrupted { signal }) => exit::for_signal(signal),
        Err(error) => {
            // A health check's verdict is its exit status; -q keeps its cause too.
            if !(matches!(error, Error::NotReady(_)) && level == Level::Quiet) {
                diag.error(&error);
            }
            match error {
                Error::Usage(_) => exit::USAGE,
                Error::TimedOut { .. } => exit::TIMEOUT,
                Error::Exec(failure) => failure.code,
                Error::NotReady(_) | Error::Internal(_) | Error::Interrupted { .. } => exit::FAILURE,
            }
        }
    };
    std::process::exit(code);
}
