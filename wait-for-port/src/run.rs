//! One run: parse the targets, wait for all of them under one deadline (cut
//! short by SIGTERM or SIGINT), then exec the command if there is one.

use std::ffi::OsString;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;
use venvkit_common::diag::{Diag, Level};
use venvkit_common::exec::{self, ExecError};

use crate::compat::{ComposeWait, Timeout};
use crate::protocol::StatusRanges;
use crate::target::{split_list, Target};
use crate::wait::{wait_all, Outcome, Settings, Want};

/// What the command line (with the `WAIT_FOR_PORT_*` variables) said; None
/// where it said nothing.
#[derive(Clone, Debug, Default)]
pub struct Given {
    pub targets: Vec<String>,
    /// wait-for-it's `-h HOST`/`--host=HOST` and `-p PORT`/`--port=PORT`.
    pub host: Option<String>,
    pub port: Option<String>,
    pub timeout: Option<Duration>,
    pub interval: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub closed: bool,
    /// One attempt at each target, exit 0 or 1 (a health check).
    pub once: bool,
    pub http_status: Option<StatusRanges>,
    pub level: Option<Level>,
    pub command: Vec<OsString>,
}

/// What to wait for and what to do then.
#[derive(Clone, Debug)]
pub struct Request {
    /// Targets as given; `WAIT_HOSTS` adds more when the run starts.
    pub targets: Vec<String>,
    /// When the run started: the timeout counts from here (or from the end
    /// of the pause before).
    pub started: Instant,
    /// Zero waits forever.
    pub timeout: Duration,
    pub interval: Duration,
    pub connect_timeout: Duration,
    pub want: Want,
    /// One attempt at each target (WAIT_TIMEOUT=0, --once).
    pub single_round: bool,
    /// --once: a health check, whose failure is 1, not a timeout.
    pub once: bool,
    /// HTTP status codes that count as ready.
    pub accepted: StatusRanges,
    /// Pauses before the first attempt and once all are ready.
    pub before: Duration,
    pub after: Duration,
    /// Exec'd once every target is ready; empty to just exit 0.
    pub command: Vec<OsString>,
}

impl Request {
    /// The command line wins, then docker-compose-wait's variables, then
    /// the defaults (600 s timeout, 250 ms interval, 1 s per attempt).
    pub fn resolve(given: Given, compose: ComposeWait, started: Instant) -> Result<(Request, Level), String> {
        let mut targets = given.targets;
        match (given.host, given.port) {
            (None, None) => {}
            (Some(host), Some(port)) if host.contains(':') => targets.push(format!("[{host}]:{port}")),
            (Some(host), Some(port)) => targets.push(format!("{host}:{port}")),
            (Some(host), None) => {
                return Err(format!("--host {host} without --port (write -h HOST -p PORT, or HOST:PORT)"))
            }
            (None, Some(port)) => {
                return Err(format!("--port {port} without --host (write -h HOST -p PORT, or HOST:PORT)"))
            }
        }
        targets.extend(compose.paths);
        let (timeout, single_round) = match (given.timeout, compose.timeout) {
            (Some(timeout), _) | (None, Some(Timeout::After(timeout))) => (timeout, false),
            (None, Some(Timeout::FirstAttempt)) => (Duration::ZERO, true),
            (None, None) => (Duration::from_secs(600), false),
        };
        let command = if given.command.is_empty() { compose.command.unwrap_or_default() } else { given.command };
        if given.once && !command.is_empty() {
            return Err("--once is a health check and runs no command (drop -- COMMAND, or drop --once)".into());
        }
        let (timeout, single_round) = if given.once { (Duration::ZERO, true) } else { (timeout, single_round) };
        let request = Request {
            targets,
            started,
            timeout,
            interval: given.interval.or(compose.interval).unwrap_or(Duration::from_millis(250)),
            connect_timeout: given.connect_timeout.or(compose.connect_timeout).unwrap_or(Duration::from_secs(1)),
            want: if given.closed { Want::Closed } else { Want::Open },
            single_round,
            once: given.once,
            accepted: given.http_status.unwrap_or_default(),
            before: compose.before,
            after: compose.after,
            command,
        };
        Ok((request, given.level.or(compose.level).unwrap_or(Level::Normal)))
    }
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
    /// --once: these targets are not ready, each with why.
    NotReady(Vec<(String, String)>),
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
            Error::NotReady(unready) => {
                let list: Vec<String> = unready.iter().map(|(target, why)| format!("{target} ({why})")).collect();
                let verb = if unready.len() == 1 { "is" } else { "are" };
                write!(f, "{} {verb} not ready", list.join(", "))
            }
            Error::Interrupted { signal } => write!(f, "interrupted by signal {signal}"),
            Error::Exec(failure) => failure.fmt(f),
        }
    }
}

/// Waits, then execs the command (returning only if that fails) or returns.
pub fn run(request: &Request, diag: Diag) -> Result<(), Error> {
    let targets = collect_targets(&request.targets).map_err(Error::Usage)?;
    // docker-compose-wait's timer starts after its WAIT_BEFORE pause.
    let started = if request.before.is_zero() {
        request.started
    } else {
        std::thread::sleep(request.before);
        Instant::now()
    };
    let settings = Settings {
        deadline: (!request.timeout.is_zero()).then(|| started + request.timeout),
        interval: request.interval,
        connect_timeout: request.connect_timeout,
        want: request.want,
        single_round: request.single_round,
        accepted: request.accepted.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Error::Internal(format!("cannot start: {err}")))?;
    let outcome = runtime.block_on(wait_or_signal(&targets, settings, diag));
    // A lookup stuck in the resolver must not hold up the exit.
    runtime.shutdown_background();
    let outcome = outcome?;
    if outcome == Outcome::Ready {
        std::thread::sleep(request.after);
    }
    match outcome {
        Outcome::Ready if request.command.is_empty() => Ok(()),
        Outcome::Ready => Err(Error::Exec(exec::exec_inheriting(&request.command))),
        Outcome::Broken(why) => Err(Error::Internal(why)),
        Outcome::TimedOut(unready) if request.once => Err(Error::NotReady(unready)),
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
        return Err("no target given: pass host:port (or set WAIT_HOSTS or WAIT_PATHS); see --help".into());
    }
    Ok(targets)
}
