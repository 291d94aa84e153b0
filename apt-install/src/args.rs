//! apt-install's command line: the options, their environment variables,
//! and the help text.

use std::time::Duration;

use clap::Parser;
use venvkit_common::{duration, flag};

pub const TOOL: &str = "apt-install";

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

--root DIR stages packages for an image without dpkg (a shell-less runtime):
apt resolves against what DIR and each --over ROOT already have (their
status.d metadata) plus the --leave-out packages, downloads and checks
signatures; dpkg-deb unpacks into DIR (merged /usr), and each package's
metadata goes to DIR/var/lib/dpkg/status.d/<package>{,.md5sums}. No
maintainer script runs: the loader cache (for a root of its own), the CA
bundle and the time zone are made here; a package with any other script is
refused before anything is written. On failure DIR is left as it was.

Environment:
  APT_INSTALL_RETRIES, APT_INSTALL_LOCK_TIMEOUT, APT_INSTALL_KEEP_CACHE:
  defaults for the options of the same name; the command line wins.
  Booleans: 1 or 0, true or false, yes or no, on or off.

Exit status:
  0    installed (or nothing to install)
  1    apt could not do it: unknown package, no such version, a conflict, a
       download or maintainer script failure (named), or not run as root;
       with --root, a package whose maintainer scripts it cannot reproduce
  2    usage error: a malformed package name, a missing .deb file
  124  dpkg's lock was not released within --lock-timeout

Examples:
  RUN apt-install libpq5 libxml2
  RUN apt-install -f /usr/share/python3/app/pkgdeps.txt
  RUN --mount=type=bind,from=venvkit/python:3.11-distroless,target=/runtime \\
      apt-install --root /staging --over /runtime -f /pkgdeps.txt";

/// Install Debian packages in an image layer, leaving nothing behind.
#[derive(Parser, Debug)]
#[command(name = TOOL, version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Packages or .deb files to install
    #[arg(value_name = "PACKAGE")]
    pub packages: Vec<String>,

    /// Read package names from FILE too (repeatable; - is stdin)
    #[arg(short, long = "file", value_name = "FILE")]
    pub files: Vec<String>,

    /// Attempts for a transient failure (a mirror's 503, a dropped connection)
    #[arg(long, value_name = "N", env = "APT_INSTALL_RETRIES", default_value = "3", value_parser = attempts)]
    pub retries: u32,

    /// How long to wait for dpkg's lock held by another process
    #[arg(long, value_name = "DURATION", env = "APT_INSTALL_LOCK_TIMEOUT", default_value = "120s",
          value_parser = duration::parse)]
    pub lock_timeout: Duration,

    /// Install recommended packages too
    #[arg(long)]
    pub install_recommends: bool,

    /// Keep the package lists and apt's cache
    #[arg(long, env = "APT_INSTALL_KEEP_CACHE", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = flag::parse)]
    pub keep_cache: bool,

    /// Print apt's plan; install nothing
    #[arg(long)]
    pub dry_run: bool,

    /// A source that fails during apt-get update is a warning, not an error
    #[arg(long)]
    pub allow_update_errors: bool,

    /// Repair a system that is already broken (apt-get -f) instead of refusing
    #[arg(long)]
    pub fix_broken: bool,

    /// Print nothing but an error that ends the run
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Show each step and apt's output
    #[arg(short, long)]
    pub verbose: bool,

    /// Install into DIR, a staging root for an image without dpkg, instead of this system
    #[arg(long, value_name = "DIR")]
    pub root: Option<std::path::PathBuf>,

    /// With --root: the packages of the image at ROOT (mounted) count as installed
    #[arg(long, value_name = "ROOT", requires = "root")]
    pub over: Vec<std::path::PathBuf>,

    /// With --root: never install these, though others depend on them (repeatable, comma separated)
    #[arg(long, value_name = "PACKAGE", requires = "root", value_delimiter = ',')]
    pub leave_out: Vec<String>,

    /// Accepted for Dockerfiles that pass it (apt-get's -y): always on
    #[arg(short = 'y', long = "yes", visible_alias = "assume-yes", hide = true)]
    pub _yes: bool,

    /// Accepted for Dockerfiles that pass it: the default
    #[arg(long = "no-install-recommends", hide = true)]
    pub _no_install_recommends: bool,
}

/// How many attempts: 1 to 100.
fn attempts(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n @ 1..=100) => Ok(n),
        _ => Err(format!("'{text}' is not a number of attempts (write a whole number from 1 to 100)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// snakepacker's apt-install passed its arguments to `apt-get install -y`,
    /// so Dockerfiles written for it carry apt-get's flags.
    #[test]
    fn apt_get_flags_from_snakepacker_dockerfiles_are_accepted_and_are_not_packages() {
        for flags in [
            &["-y"][..],
            &["--yes"],
            &["--assume-yes"],
            &["--no-install-recommends"],
            &["-y", "--no-install-recommends"],
        ] {
            let args = ["apt-install"].iter().chain(flags).chain(&["tree", "libpq5"]);
            let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
            assert_eq!(cli.packages, ["tree", "libpq5"], "{flags:?}");
            assert!(!cli.install_recommends);
        }
    }
}
