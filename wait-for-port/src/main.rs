//! wait-for-port: waits until every target accepts a connection, then exits 0
//! or execs the command given after `--`.
//!
//! This file maps arguments and environment to settings, runs the wait, and
//! turns the outcome into an exit code; the work is in the library.

use std::ffi::OsString;
use std::time::Duration;

use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;
use venvkit_common::diag::{Diag, Level};
use venvkit_common::{cli, duration, exec, exit};
use wait_for_port::target::{split_list, Target};
use wait_for_port::wait::{wait_all, Outcome, Settings, Want};

const TOOL: &str = "wait-for-port";

const AFTER_HELP: &str = "\
Targets:
  host:port              a name (resolved again on every attempt) or IPv4 address
  [v6addr]:port          an IPv6 address, optionally with %zone: [fe80::1%eth0]:22
  tcp://host:port        the same as host:port
  unix:/path/to.sock     a unix stream socket; a stale socket file is not ready

Environment:
  WAIT_HOSTS             more targets, separated by commas or spaces
  WAIT_FOR_PORT_TIMEOUT, WAIT_FOR_PORT_INTERVAL, WAIT_FOR_PORT_CONNECT_TIMEOUT
                         defaults for the options of the same name; the command
                         line wins, and an invalid value is an error

Durations: 500ms, 30s, 1m30s, or a bare number of seconds (10, 0.5).

Exit status:
  0    every target is ready
  1    an internal error (the message says which)
  2    usage error: a bad target, option or environment value
  124  the timeout ran out; the command was not run
  126  the command is not executable
  127  the command was not found
  130  interrupted (SIGINT); 143 terminated (SIGTERM)
  With a command, its own exit status once it runs (128+N if killed by signal N).

Example:
  wait-for-port --timeout 60s db:5432 cache:6379 -- python manage.py migrate";

/// Wait until TCP or unix endpoints accept connections, then run a command.
#[derive(Parser, Debug)]
#[command(name = TOOL, version, after_help = AFTER_HELP)]
struct Cli {
    /// Give up after this long (0 waits forever)
    #[arg(short, long, value_name = "DURATION", env = "WAIT_FOR_PORT_TIMEOUT", default_value = "600s",
          value_parser = duration::parse)]
    timeout: Duration,

    /// Time between the starts of two attempts on one target
    #[arg(short, long, visible_alias = "period", value_name = "DURATION", env = "WAIT_FOR_PORT_INTERVAL",
          default_value = "250ms", value_parser = duration::parse)]
    interval: Duration,

    /// Limit for one attempt (DNS and connect), never beyond the timeout
    #[arg(long, value_name = "DURATION", env = "WAIT_FOR_PORT_CONNECT_TIMEOUT", default_value = "1s",
          value_parser = duration::parse)]
    connect_timeout: Duration,

    /// Wait until every target refuses connections (or times out) instead
    #[arg(long)]
    closed: bool,

    /// Print nothing but an error that ends the run
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,

    /// Log every failed attempt with its cause
    #[arg(short, long)]
    verbose: bool,

    /// Accepted for compatibility with wait-for-it: the command never runs
    /// unless every target is ready
    #[arg(short, long)]
    strict: bool,

    /// What to wait for (see Targets below)
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,

    /// Run this once every target is ready (exec'd: same PID, no shell)
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

fn main() {
    let started = Instant::now();
    let cli: Cli = cli::parse_or_exit(TOOL);
    let diag = Diag::new(TOOL, Level::from_flags(cli.quiet, cli.verbose));
    let targets = match collect_targets(&cli.targets) {
        Ok(targets) => targets,
        Err(message) => {
            diag.error(message);
            std::process::exit(exit::USAGE);
        }
    };
    let settings = Settings {
        deadline: (!cli.timeout.is_zero()).then(|| started + cli.timeout),
        interval: cli.interval,
        connect_timeout: cli.connect_timeout,
        want: if cli.closed { Want::Closed } else { Want::Open },
    };
    let code = run(&targets, settings, diag, &cli);
    std::process::exit(code);
}

fn run(targets: &[Target], settings: Settings, diag: Diag, cli: &Cli) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            diag.error(format_args!("cannot start: {err}"));
            return exit::FAILURE;
        }
    };
    let outcome = runtime.block_on(wait_or_signal(targets, settings, diag));
    // A lookup stuck in the resolver must not hold up the exit.
    runtime.shutdown_background();
    match outcome {
        Ok(Outcome::Ready) if cli.command.is_empty() => exit::SUCCESS,
        Ok(Outcome::Ready) => {
            let failure = exec::exec_inheriting(&cli.command);
            diag.error(&failure);
            failure.code
        }
        Ok(Outcome::Broken(why)) => {
            diag.error(format_args!("internal error: {why}"));
            exit::FAILURE
        }
        Ok(Outcome::TimedOut(unready)) => {
            let list: Vec<String> = unready.iter().map(|(target, why)| format!("{target} ({why})")).collect();
            diag.error(format_args!("timed out after {}s waiting for {}", cli.timeout.as_secs_f64(), list.join(", ")));
            exit::TIMEOUT
        }
        Err(code) => code,
    }
}

/// The wait, cut short by SIGTERM or SIGINT (handlers are needed anyway: as
/// PID 1 a signal without a handler is ignored).
async fn wait_or_signal(targets: &[Target], settings: Settings, diag: Diag) -> Result<Outcome, i32> {
    let (mut terminate, mut interrupt) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
        (Err(err), _) | (_, Err(err)) => {
            diag.error(format_args!("cannot handle signals: {err}"));
            return Err(exit::FAILURE);
        }
    };
    tokio::select! {
        biased;
        _ = terminate.recv() => Err(exit::for_signal(15)),
        _ = interrupt.recv() => Err(exit::for_signal(2)),
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
