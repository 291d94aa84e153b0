//! apt-install [OPTIONS] [PACKAGE | FILE.deb ...]
//!
//! Maps arguments to one run: check, wait for the lock, update and install
//! with retries of transient failures, undo half-installed packages, clean,
//! and report one summary line or one error line with its exit code.

use std::path::Path;
use std::time::Duration;

use apt_install::apt::{self, Failure};
use apt_install::clean::{self, Keep};
use apt_install::lock;
use apt_install::request::{self, Request};
use apt_install::state::Snapshot;
use clap::Parser;
use venvkit_common::diag::{Diag, Level};
use venvkit_common::{cli, duration, exit};

const TOOL: &str = "apt-install";

const AFTER_HELP: &str = "\
PACKAGE is name, name:arch, name=version (apt's globs allowed) or
name/release; FILE.deb is a local package file (a bare file name means
./FILE.deb). apt-get update runs once, then apt-get install
--no-install-recommends, with DEBIAN_FRONTEND=noninteractive for apt's own
processes only. Afterwards the package lists, apt's caches, the downloaded
.debs and this run's logs (dpkg.log, alternatives.log, apt's history, term and
eipp logs) are removed; /var/lib/dpkg, apt's extended_states and the log
directories packages made stay. A cache directory that is a mount point
(RUN --mount=type=cache) is kept.

Environment:
  APT_INSTALL_RETRIES, APT_INSTALL_LOCK_TIMEOUT, APT_INSTALL_KEEP_CACHE:
  defaults for the options of the same name

Exit status:
  0    installed (or nothing to install)
  1    apt could not do it: unknown package, no such version, a conflict, a
       download or maintainer script failure (named), or not run as root
  2    usage error: a malformed package name, a missing .deb file
  124  dpkg's lock was not released within --lock-timeout

Examples:
  RUN apt-install libpq5 libxml2
  RUN apt-install -f /usr/share/python3/app/pkgdeps.txt";

/// Install Debian packages in an image layer, leaving nothing behind.
#[derive(Parser, Debug)]
#[command(name = TOOL, version, after_help = AFTER_HELP)]
struct Cli {
    /// Packages or .deb files to install
    #[arg(value_name = "PACKAGE")]
    packages: Vec<String>,

    /// Read package names from FILE too (repeatable; - is stdin)
    #[arg(short, long = "file", value_name = "FILE")]
    files: Vec<String>,

    /// Attempts for a transient failure (a mirror's 503, a dropped connection)
    #[arg(long, value_name = "N", env = "APT_INSTALL_RETRIES", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    retries: u32,

    /// How long to wait for dpkg's lock held by another process
    #[arg(long, value_name = "DURATION", env = "APT_INSTALL_LOCK_TIMEOUT", default_value = "120s",
          value_parser = duration::parse)]
    lock_timeout: Duration,

    /// Install recommended packages too
    #[arg(long)]
    install_recommends: bool,

    /// Keep the package lists and apt's cache
    #[arg(long, env = "APT_INSTALL_KEEP_CACHE")]
    keep_cache: bool,

    /// Print apt's plan; install nothing
    #[arg(long)]
    dry_run: bool,

    /// A source that fails during apt-get update is a warning, not an error
    #[arg(long)]
    allow_update_errors: bool,

    /// Repair a system that is already broken (apt-get -f) instead of refusing
    #[arg(long)]
    fix_broken: bool,

    /// Print nothing but an error that ends the run
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,

    /// Show each step and apt's output
    #[arg(short, long)]
    verbose: bool,

    /// Accepted for Dockerfiles that pass it: always on
    #[arg(short = 'y', long = "yes", hide = true)]
    _yes: bool,

    /// Accepted for Dockerfiles that pass it: the default
    #[arg(long = "no-install-recommends", hide = true)]
    _no_install_recommends: bool,
}

fn main() {
    let cli: Cli = cli::parse_or_exit(TOOL);
    let diag = Diag::new(TOOL, Level::from_flags(cli.quiet, cli.verbose));
    std::process::exit(run(&cli, diag));
}

fn run(cli: &Cli, diag: Diag) -> i32 {
    let request = match request::build(&cli.packages, &cli.files) {
        Ok(request) => request,
        Err(message) => {
            diag.error(message);
            return exit::USAGE;
        }
    };
    if request.is_empty() {
        diag.info("nothing to install");
        return exit::SUCCESS;
    }
    if !nix::unistd::geteuid().is_root() {
        diag.error("must be run as root: it installs packages into this system");
        return exit::FAILURE;
    }
    if !cli.fix_broken {
        if let Some(problem) = audit() {
            diag.error(format_args!(
                "the system is already broken ({problem}); run with --fix-broken to repair it first"
            ));
            return exit::FAILURE;
        }
    }
    if let Err(pid) = lock::wait(cli.lock_timeout, diag) {
        diag.error(format_args!("dpkg's lock is still held by PID {pid} after {}s", cli.lock_timeout.as_secs_f64()));
        return exit::TIMEOUT;
    }
    let keep = Keep::decide(cli.keep_cache);
    let before = Snapshot::read();
    let outcome = install(cli, &request, diag);
    if outcome.is_err() {
        undo_unfinished(&before, diag);
    }
    clean::clean(Path::new("/"), keep, diag);
    match outcome {
        Ok(attempts) if !cli.dry_run => {
            diag.info(summary(&before, &Snapshot::read(), attempts));
            exit::SUCCESS
        }
        Ok(_) => exit::SUCCESS,
        Err(failure) => {
            diag.error(failure.message());
            exit::FAILURE
        }
    }
}

/// Update once, then install (or simulate); each step is retried on
/// transient failures only. Returns the attempts the install took.
fn install(cli: &Cli, request: &Request, diag: Diag) -> Result<u32, Failure> {
    let mut update = vec!["update".to_string()];
    if !cli.allow_update_errors {
        update.push("--error-on=any".into());
    }
    with_retries(cli, diag, "apt-get update", || run_apt(&update, cli, diag, apt::update_failure))?;
    let mut install = vec!["install".to_string()];
    install.push(if cli.install_recommends { "--install-recommends" } else { "--no-install-recommends" }.into());
    if cli.fix_broken {
        install.push("--fix-broken".into());
    }
    if cli.dry_run {
        install.push("--simulate".into());
    }
    install.push("--".into());
    install.extend(request.items.iter().cloned());
    let requested = request.items.clone();
    with_retries(cli, diag, "apt-get install", || {
        let output = apt::apt_get(&install, cli.lock_timeout, diag)
            .map_err(|err| Failure::Permanent(format!("cannot run apt-get: {err}")))?;
        if !output.success {
            return Err(apt::with_available_versions(apt::install_failure(&output.text, &requested)));
        }
        if cli.dry_run {
            let plan: String = output
                .text
                .lines()
                .filter(|l| l.starts_with("Inst ") || l.starts_with("Conf "))
                .map(|l| format!("{l}\n"))
                .collect();
            print!("{plan}");
        }
        Ok(())
    })
}

fn run_apt(arguments: &[String], cli: &Cli, diag: Diag, read_failure: fn(&str) -> Failure) -> Result<(), Failure> {
    let output = apt::apt_get(arguments, cli.lock_timeout, diag)
        .map_err(|err| Failure::Permanent(format!("cannot run apt-get: {err}")))?;
    if output.success {
        Ok(())
    } else {
        Err(read_failure(&output.text))
    }
}

/// Runs `step` up to --retries times while it fails transiently, waiting
/// 1 s, 2 s, 4 s... between attempts. Returns the attempts made.
fn with_retries(
    cli: &Cli,
    diag: Diag,
    what: &str,
    mut step: impl FnMut() -> Result<(), Failure>,
) -> Result<u32, Failure> {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=cli.retries {
        if attempt > 1 {
            diag.info(format_args!("{what}: attempt {attempt}/{}", cli.retries));
        }
        match step() {
            Ok(()) => return Ok(attempt),
            Err(Failure::Transient(why)) if attempt < cli.retries => {
                diag.info(format_args!("{what} failed ({why}); retrying in {}s", delay.as_secs()));
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(Failure::Transient(why)) => {
                return Err(Failure::Transient(format!("{why} (gave up after {} attempts)", cli.retries)));
            }
            Err(permanent) => return Err(permanent),
        }
    }
    unreachable!("retries is at least 1")
}

/// `dpkg --audit`'s first complaint, if the system is already broken.
fn audit() -> Option<String> {
    let output = std::process::Command::new("dpkg").arg("--audit").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().find(|line| !line.trim().is_empty())?;
    let packages: Vec<&str> =
        text.lines().filter(|l| l.starts_with(' ')).filter_map(|l| l.split_whitespace().next()).collect();
    Some(if packages.is_empty() { first.to_string() } else { format!("not fully installed: {}", packages.join(", ")) })
}

/// Purges the packages this run added that dpkg did not finish, so that a
/// failure leaves no half-installed package behind.
fn undo_unfinished(before: &Snapshot, diag: Diag) {
    let unfinished = Snapshot::read().unfinished_since(before);
    if unfinished.is_empty() {
        return;
    }
    diag.info(format_args!("purging what this run left half-installed: {}", unfinished.join(" ")));
    let status = std::process::Command::new("dpkg")
        .args(["--purge", "--force-remove-reinstreq", "--force-depends"])
        .args(&unfinished)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        diag.error(format_args!("could not purge {}: see dpkg --audit", unfinished.join(" ")));
    }
}

fn summary(before: &Snapshot, after: &Snapshot, attempts: u32) -> String {
    let added = after.added_since(before);
    let bytes = after.bytes().saturating_sub(before.bytes());
    let names: Vec<&str> = added.iter().map(|p| p.split(':').next().unwrap_or(p)).collect();
    let packages = match added.len() {
        0 => "nothing new installed".to_string(),
        1 => format!("installed 1 package ({})", names[0]),
        n => format!("installed {n} packages ({})", names.join(" ")),
    };
    let attempts = if attempts == 1 { "1 attempt".into() } else { format!("{attempts} attempts") };
    format!("{packages}, {} added, {attempts}", human_bytes(bytes))
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}
