//! wait-for-port's command line: the options, their environment
//! variables, and the help text.

use std::ffi::OsString;
use std::time::Duration;

use clap::Parser;
use venvkit_common::duration;
use wait_for_port::protocol::StatusRanges;

pub const TOOL: &str = "wait-for-port";

const AFTER_HELP: &str = "\
Targets:
  host:port              a name (resolved again on every attempt) or IPv4 address
  [v6addr]:port          an IPv6 address, optionally with %zone: [fe80::1%eth0]:22
  tcp://host:port        the same as host:port
  unix:/path/to.sock     a unix stream socket; a stale socket file is not ready
  file:/path             a file that must exist (also file:///path)
Services, asked whether they are ready once connected (no password is sent):
  postgres://[user@]host[:5432][/db]   the server answers the startup (any
                         error but 57P03, starting up; 3D000 when db is named)
  mysql://host[:3306]    a protocol-10 handshake, not an error packet (mariadb://)
  redis://host[:6379]    PING gets +PONG or -NOAUTH, not -LOADING or -BUSY
  http://host[:80]/path  GET answers a status in --http-status
  https:// is not built in (TLS would double the binary's size): wait for the
  port as host:443, or for a plain http:// endpoint.

Health checks: --once makes one attempt at each target, all at once, within
--connect-timeout, and exits 0 if all are ready, 1 if not (the cause on
stderr unless -q), for images without a shell or curl:
  HEALTHCHECK CMD [\"wait-for-port\", \"--once\", \"http://127.0.0.1:8000/health\"]

Environment:
  WAIT_HOSTS             more targets, separated by commas or spaces
  WAIT_FOR_PORT_TIMEOUT, WAIT_FOR_PORT_INTERVAL, WAIT_FOR_PORT_CONNECT_TIMEOUT,
  WAIT_FOR_PORT_HTTP_STATUS
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
  1    --once: a target is not ready; or an internal error (the message says which)
  2    usage error: a bad target, option or environment value
  124  the timeout ran out; the command was not run
  126  the command is not executable
  127  the command was not found
  130  interrupted (SIGINT); 143 terminated (SIGTERM)
  With a command, its own exit status once it runs (128+N if killed by signal N).

Examples:
  wait-for-port --timeout 60s postgres://db:5432/app redis://cache -- python manage.py migrate
  wait-for-port --once http://127.0.0.1:8000/health";

/// Wait until services are ready (they accept connections, or answer in their
/// protocol that they are), then run a command.
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

    /// One attempt at each target: exit 0 if all are ready, else 1 (a health check)
    #[arg(long, conflicts_with_all = ["timeout", "closed"])]
    pub once: bool,

    /// HTTP status codes that mean ready, e.g. 200-299,401 [default: 200-399]
    #[arg(long, value_name = "CODES", env = "WAIT_FOR_PORT_HTTP_STATUS", value_parser = StatusRanges::parse)]
    pub http_status: Option<StatusRanges>,

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
