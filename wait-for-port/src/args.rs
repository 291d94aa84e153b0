//! wait-for-port's command line: the options, their environment
//! variables, and the help text.

use std::ffi::OsString;
use std::time::Duration;

use clap::Parser;
use venvkit_common::duration;

pub const TOOL: &str = "wait-for-port";

const AFTER_HELP: &str = "\
Targets:
  host:port              a name (resolved again on every attempt) or IPv4 address
  [v6addr]:port          an IPv6 address, optionally with %zone: [fe80::1%eth0]:22
  tcp://host:port        the same as host:port
  unix:/path/to.sock     a unix stream socket; a stale socket file is not ready

  file:/path             a file that must exist (also file:///path)

Environment:
  WAIT_HOSTS             more targets, separated by commas or spaces
  WAIT_FOR_PORT_TIMEOUT, WAIT_FOR_PORT_INTERVAL, WAIT_FOR_PORT_CONNECT_TIMEOUT
                         defaults for the options of the same name; the command
                         line wins, and an invalid value is an error
  docker-compose-wait's  WAIT_TIMEOUT (WAIT_HOSTS_TIMEOUT; 0: one attempt),
  variables              WAIT_SLEEP_INTERVAL, WAIT_HOST_CONNECT_TIMEOUT,
                         WAIT_BEFORE, WAIT_AFTER (pauses), WAIT_PATHS (files),
                         WAIT_COMMAND (run when no -- COMMAND is given),
                         WAIT_LOGGER_LEVEL (debug, info, error, off); after
                         the options and WAIT_FOR_PORT_* variables

wait-for-it's syntax works too: -h HOST -p PORT, --host=HOST --port=PORT,
-t SECONDS, -s, -q, -- COMMAND (the command never runs on a timeout).

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
pub struct Cli {
    /// Give up after this long (0 waits forever) [default: 600s]
    #[arg(short, long, value_name = "DURATION", env = "WAIT_FOR_PORT_TIMEOUT", value_parser = duration::parse)]
    pub timeout: Option<Duration>,

    /// Time between the starts of two attempts on one target [default: 250ms]
    #[arg(short, long, visible_alias = "period", value_name = "DURATION", env = "WAIT_FOR_PORT_INTERVAL",
          value_parser = duration::parse)]
    pub interval: Option<Duration>,

    /// Limit for one attempt (DNS and connect), never beyond the timeout [default: 1s]
    #[arg(long, value_name = "DURATION", env = "WAIT_FOR_PORT_CONNECT_TIMEOUT", value_parser = duration::parse)]
    pub connect_timeout: Option<Duration>,

    /// With --port, the target HOST:PORT (wait-for-it's -h HOST, --host=HOST)
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// With --host, the target HOST:PORT (wait-for-it's -p PORT, --port=PORT)
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<String>,

    /// Wait until every target refuses connections (or times out) instead
    #[arg(long)]
    pub closed: bool,

    /// Print nothing but an error that ends the run
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log every failed attempt with its cause
    #[arg(short, long)]
    pub verbose: bool,

    /// Accepted for compatibility with wait-for-it: the command never runs
    /// unless every target is ready
    #[arg(short, long)]
    pub strict: bool,

    /// What to wait for (see Targets below)
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Run this once every target is ready (exec'd: same PID, no shell)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// The process's arguments, with wait-for-it's `-h HOST` read as
/// `--host HOST`: `-h` stays help only when no value follows it, so that
/// `wait-for-port -h db -p 5432 && start` never prints help and exits 0.
pub fn arguments() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let mut index = 1;
    while index < args.len() && args[index] != "--" {
        let value_follows = args.get(index + 1).is_some_and(|next| !next.as_encoded_bytes().starts_with(b"-"));
        if args[index] == "-h" && value_follows {
            args[index] = "--host".into();
        }
        index += 1;
    }
    args
}
