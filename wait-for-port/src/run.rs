//! One run: parse the targets, wait for all of them under one deadline (cut
//! short by SIGTERM or SIGINT), then exec the command if there is one.

use std::ffi::OsString;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;
use venvkit_common::diag::Diag;
use venvkit_common::exec::{self, ExecError};

use crate::target::{split_list, Target};
use crate::wait::{wait_all, Outcome, Settings, Want};

/// What to wait for and what to do then.
#[derive(Clone, Debug)]
pub struct Request {
    /// Targets as written on the command line; `WAIT_HOSTS` adds more.
    pub targets: Vec<String>,
    /// When the run started: the timeout counts from here.
    pub started: Instant,
    /// Zero waits forever.
    pub timeout: Duration,
    pub interval: Duration,
    pub connect_timeout: Duration,
    pub want: Want,
    /// Exec'd once every target is ready; empty to just exit 0.
    pub command: Vec<OsString>,
}

/// Why the run did not end with every target ready (or the command running).
#[derive(Debug)]
pub enum Error {
    /// A bad target or environment value, before any connection.
    Usage(String),
    /// Something that should not happen (the runtime could not start).
    Internal(String),
    /// The timeout ran out; each unready target with why.
    TimedOut { after: Duration, unready: Vec<(String, String)> },
    /// SIGTERM or SIGINT arrived while waiting.
    Interrupted { signal: i32 },
    /// The command could not be exec'd.
    Exec(ExecError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Usage(message) => f.write_str(message),
            Error::Internal(message) => write!(f, "internal error: {message}"),
            Error::TimedOut { after, unready } => {
                let list: Vec<String> = unready.iter().map(|(target, why)| format!("{target} ({why})")).collect();
                write!(f, "timed out after {}s waiting for {}", after.as_secs_f64(), list.join(", "))
            }
            Error::Interrupted { signal } => write!(f, "interrupted by signal {signal}"),
            Error::Exec(failure) => failure.fmt(f),
        }
    }
}

/// Waits, then execs the command (returning only if that fails) or returns.
pub fn run(request: &Request, diag: Diag) -> Result<(), Error> {
    let targets = collect_targets(&request.targets).map_err(Error::Usage)?;
    let settings = Settings {
        deadline: (!request.timeout.is_zero()).then(|| request.started + request.timeout),
        interval: request.interval,
        connect_timeout: request.connect_timeout,
        want: request.want,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Error::Internal(format!("cannot start: {err}")))?;
    let outcome = runtime.block_on(wait_or_signal(&targets, settings, diag));
    // A lookup stuck in the resolver must not hold up the exit.
    runtime.shutdown_background();
    match outcome? {
        Outcome::Ready if request.command.is_empty() => Ok(()),
        Outcome::Ready => Err(Error::Exec(exec::exec_inheriting(&request.command))),
        Outcome::Broken(why) => Err(Error::Internal(why)),
        Outcome::TimedOut(unready) => Err(Error::TimedOut { after: request.timeout, unready }),
    }
}

/// The wait, cut short by SIGTERM or SIGINT (handlers are needed anyway: as
/// PID 1 a signal without a handler is ignored).
async fn wait_or_signal(targets: &[Target], settings: Settings, diag: Diag) -> Result<Outcome, Error> {
    let (mut terminate, mut interrupt) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
        (Err(err), _) | (_, Err(err)) => return Err(Error::Internal(format!("cannot handle signals: {err}"))),
    };
    tokio::select! {
        biased;
        _ = terminate.recv() => Err(Error::Interrupted { signal: 15 }),
        _ = interrupt.recv() => Err(Error::Interrupted { signal: 2 }),
        outcome = wait_all(targets, settings, diag) => Ok(outcome),
    }
}

/// The command line's targets, then WAIT_HOSTS's; none at all is a usage error.
fn collect_targets(given: &[String]) -> Result<Vec<Target>, String> {
    let mut targets: Vec<Target> = given.iter().map(|text| text.parse()).collect::<Result<_, _>>()?;
    if let Some(list) = std::env::var_os("WAIT_HOSTS") {
        let list = list.into_string().map_err(|_| "WAIT_HOSTS is not valid UTF-8".to_string())?;
        for text in split_list(&list) {
            targets.push(text.parse().map_err(|why| format!("{why} (in WAIT_HOSTS)"))?);
        }
    }
    if targets.is_empty() {
        return Err("no target given: pass host:port (or set WAIT_HOSTS); see --help".into());
    }
    Ok(targets)
}
