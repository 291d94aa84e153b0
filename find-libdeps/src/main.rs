//! find-libdeps [OPTIONS] DIR...
//!
//! Prints the Debian packages that the ELF files under DIR need at run time.
//! This file maps arguments to a [`Request`] and its outcome to an exit code;
//! the work is in the library.

mod args;

/// musl's malloc maps and unmaps a page group for nearly every file of a
/// walk, and serialises threads on one lock: a third of the run's time.
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

use args::{Cli, TOOL};
use find_libdeps::analysis::{self, Outcome, Request};
use venvkit_common::diag::{Diag, Level};
use venvkit_common::{cli, exit};

fn main() {
    let cli: Cli = cli::parse_or_exit(TOOL);
    let diag = Diag::new(TOOL, Level::from_flags(cli.quiet, cli.verbose));
    let request = Request {
        root: cli.root,
        dirs: cli.dirs,
        format: cli.format,
        ignore_soname: cli.ignore_soname,
        exclude: cli.exclude,
        loaded: cli.loaded,
        check: cli.check,
    };
    let code = match analysis::run(&request, diag) {
        Ok(Outcome::Complete) => exit::SUCCESS,
        Ok(Outcome::Incomplete) => exit::FAILURE,
        Err(error) => {
            diag.error(error);
            exit::USAGE
        }
    };
    std::process::exit(code);
}
