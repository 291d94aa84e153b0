//! apt-install [OPTIONS] [PACKAGE | FILE.deb ...]
//!
//! Maps arguments to [`Options`] and the run's result to an exit code; the
//! work is in the library.

use std::time::Duration;

mod args;

use apt_install::install::{self, Error, Options};
use apt_install::retry::RetryPolicy;
use args::{Cli, TOOL};
use venvkit_common::diag::{Diag, Level};
use venvkit_common::{cli, exit};

fn main() {
    let cli: Cli = cli::parse_or_exit(TOOL);
    let diag = Diag::new(TOOL, Level::from_flags(cli.quiet, cli.verbose));
    let options = Options {
        packages: cli.packages,
        files: cli.files,
        retry: RetryPolicy { attempts: cli.retries, first_delay: Duration::from_secs(1) },
        lock_timeout: cli.lock_timeout,
        install_recommends: cli.install_recommends,
        keep_cache: cli.keep_cache,
        dry_run: cli.dry_run,
        allow_update_errors: cli.allow_update_errors,
        fix_broken: cli.fix_broken,
        staging: cli.root.map(|root| apt_install::staging::Staging { root, over: cli.over, leave_out: cli.leave_out }),
    };
    let code = match install::run(&options, diag) {
        Ok(()) => exit::SUCCESS,
        Err(error) => {
            diag.error(&error);
            match error {
                Error::Usage(_) => exit::USAGE,
                Error::LockHeld { .. } => exit::TIMEOUT,
                Error::NotRoot
                | Error::AlreadyBroken(_)
                | Error::Database(_)
                | Error::Failed(_)
                | Error::Staging(_) => exit::FAILURE,
            }
        }
    };
    std::process::exit(code);
}
